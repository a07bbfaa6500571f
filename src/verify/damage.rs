//! Resynchronisation after damage: members read from a damaged zstd frame
//! are discarded, and reading resumes at the next intact frame.

use super::findings::FindingKind;
use super::members::Observed;
use super::segment::outcome;
use super::{MemberOutcome, Proof, Verifier, VerifyError};

impl Verifier<'_> {
    /// After damage at tar offset `off`: skip to the next zstd frame, if
    /// any. The members read from there on are checked against the next
    /// checkpoint's listing one by one; their tar offsets are known again
    /// once that checkpoint says where its segment ends.
    pub(super) fn resync(&mut self, off: u64) -> Result<bool, VerifyError> {
        self.settle();
        let seq = self.checkpoint_seq + 1;
        // A frame's checksum is checked at its end, so bytes it gave before
        // the error may be corrupt: members with any byte from it are not
        // kept (a frame may begin inside a large member).
        let frame_tar_start = self
            .stream
            .pos
            .saturating_sub(self.stream.inner.produced() - self.stream.inner.frame_begin_produced());
        let keep = self
            .segment_members
            .iter()
            .position(|o| o.end > frame_tar_start)
            .unwrap_or(self.segment_members.len());
        if keep < self.segment_members.len() {
            let suspect: Vec<Observed> = self.segment_members.drain(keep..).collect();
            let msg = format!(
                "{} members were read from the damaged zstd frame (from tar offset {frame_tar_start}) and are discarded: their bytes cannot be trusted",
                suspect.len()
            );
            self.find(FindingKind::CompressedDamage, msg, None, Some(frame_tar_start), Some(seq));
            let why = "it was read from a damaged zstd frame".to_string();
            let outcomes: Vec<MemberOutcome> = suspect.into_iter().map(|o| outcome(o, None, Proof::Altered(why.clone()))).collect();
            self.deliver(outcomes, false)?;
        }
        match self.stream.inner.resync()? {
            None => {
                let msg = "no intact zstd frame follows the damage: nothing after it can be read".to_string();
                self.find(FindingKind::CompressedDamage, msg, None, Some(off), Some(seq));
                Ok(false)
            }
            Some((from, to)) => {
                let from = match self.last_resync {
                    Some((i, first, _)) if self.resync_without_members() => {
                        self.findings.remove(i);
                        first
                    }
                    _ => from,
                };
                let msg = format!(
                    "compressed bytes {from}..{to} are lost (the damaged zstd frame); reading resumes at the next frame, and the members it holds are checked one by one against the next signed checkpoint"
                );
                self.find(FindingKind::CompressedDamage, msg, None, Some(off), Some(seq));
                self.last_resync = Some((self.findings.len() - 1, from, self.members_read));
                if self.lost_from.is_none() {
                    self.lost_from = Some(self.segment_members.len());
                }
                self.segment.reset();
                self.pending_segment_digest = None;
                Ok(true)
            }
        }
    }

    /// Whether no member was read since the last resynchronisation.
    pub(super) fn resync_without_members(&self) -> bool {
        self.last_resync.is_some_and(|(_, _, at)| at == self.members_read)
    }
}
