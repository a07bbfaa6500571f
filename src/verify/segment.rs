//! A segment's members on their way out: their digests settled, kept until
//! their checkpoint, then delivered to the sink with their proof state,
//! counting those no verified checkpoint proves.

use super::decoded::{ContentHasher, SegmentHasher};
use super::members::Observed;
use super::{MemberOutcome, Proof, Verifier, VerifyError, MAX_SEGMENT_MEMBERS};
use crate::format::doc::{self, MemberEntry};

impl Verifier<'_> {
    /// Fill in the content digests of the members kept, once the content
    /// hasher has computed them. Called before members leave the segment.
    pub(super) fn settle(&mut self) {
        for o in &mut self.segment_members {
            settle(&mut self.content, &mut self.segment, o);
        }
    }

    /// A checkpoint document starts here: the bytes of its segment are complete.
    pub(super) fn end_segment_bytes(&mut self) {
        self.pending_segment_digest = Some(self.segment.take());
    }

    pub(super) fn push_observed(&mut self, mut m: Observed) {
        if self.segment_members.len() >= MAX_SEGMENT_MEMBERS {
            self.segment_overflow += 1;
            return;
        }
        // A document out of place is not read: only its digests count. A
        // manifest is read at its checkpoint; only the segment's last one
        // is kept, so that inserted manifests cannot pile up in memory.
        if doc::parse_manifest_path(&m.meta.path).is_some() {
            for earlier in self.segment_members.iter_mut().filter(|o| o.content.is_some()) {
                earlier.content = None;
            }
        } else {
            m.content = None;
        }
        self.segment_members.push(m);
    }

    /// Members after the last checkpoint: unproven.
    pub(super) fn flush_unproven(&mut self) -> Result<(), VerifyError> {
        self.settle();
        self.lost_from = None;
        let members = std::mem::take(&mut self.segment_members);
        let outcomes: Vec<MemberOutcome> = members.into_iter().map(|o| outcome(o, None, Proof::Unproven)).collect();
        self.deliver(outcomes, false)
    }

    /// Pass a segment's outcomes to the sink, counting the members no
    /// verified checkpoint proves. `proven_segment`: they are the segment of
    /// the checkpoint just proven. The last proven checkpoint's own
    /// document and signature, which its signature proves, are proven
    /// wherever they are passed on, unless found altered.
    pub(super) fn deliver(&mut self, mut outcomes: Vec<MemberOutcome>, proven_segment: bool) -> Result<(), VerifyError> {
        for o in &mut outcomes {
            let proven_document = self.proven_documents.contains(&Some(o.meta.index));
            if proven_document && !matches!(o.proof, Proof::Altered(_)) {
                o.proof = if self.trusted { Proof::Proven } else { Proof::MatchesListing };
            } else if !proven_segment {
                self.unproven_members += 1;
            }
        }
        self.sink.segment(&outcomes).map_err(VerifyError::Sink)
    }
}

/// Fill in a member's content digests from the content hasher.
pub(super) fn settle(content: &mut ContentHasher, segment: &mut SegmentHasher, o: &mut Observed) {
    if let Some(number) = o.pending_header.take() {
        o.header_digest = segment.header_digest(number);
    }
    if let Some(number) = o.pending.take() {
        o.sha256 = Some(content.digest(number));
    }
}

pub(super) fn outcome(o: Observed, entry: Option<MemberEntry>, proof: Proof) -> MemberOutcome {
    debug_assert!(
        o.pending.is_none() && o.pending_header.is_none(),
        "digests are settled before members leave the segment"
    );
    MemberOutcome {
        sha256: o.sha256,
        meta: o.meta,
        entry,
        proof,
    }
}
