//! A segment's members against the listing its checkpoint signed: what is
//! missing, inserted, altered or reordered, and each member's proof.

use super::findings::{FindingKind, Level};
use super::members::Observed;
use super::segment::outcome;
use super::{MemberOutcome, Proof, Verifier};
use crate::format::doc::{self, CheckpointDoc, MemberEntry, PathText};

impl Verifier<'_> {
    /// Compare what the checkpoint lists with what the stream holds; report
    /// each difference against the member it concerns. Returns whether the
    /// stream holds exactly the members listed, in order, at their offsets.
    ///
    /// Compare the segment's members with the listing of checkpoint `seq`.
    /// Without `digests_known` (its manifest failed, already reported), the
    /// content of the files listed there is not compared.
    pub(super) fn compare_members(&mut self, seq: u64, cp: &CheckpointDoc, digests_known: bool) -> bool {
        if self.segment_overflow > 0 {
            let msg = format!(
                "segment {seq} holds {} more members than any checkpoint may list",
                self.segment_overflow
            );
            self.find(FindingKind::MemberUnlisted, msg, None, None, Some(seq));
            self.unproven_members += self.segment_overflow;
            self.segment_overflow = 0;
        }
        if self.segment_members.len() == cp.members.len() && self.segment_members.iter().zip(&cp.members).all(|(o, l)| is_listed_as(o, l)) {
            return true;
        }
        let observed: Vec<MemberEntry> = self.segment_members.iter().map(as_entry).collect();
        let mut used = vec![false; observed.len()];
        let mut unused = Unmatched::new(observed.iter().map(|o| &o.path));
        let mut order = Vec::new();
        for listed in &cp.members {
            let lpath = listed.path.to_bytes().unwrap_or_default();
            let found = unused.take(&listed.path);
            let Some(i) = found else {
                let msg = format!(
                    "{} ({}, {} bytes) is listed by checkpoint {seq} but absent from the stream",
                    listed.path.display(),
                    listed.kind,
                    listed.size
                );
                self.find(FindingKind::MemberMissing, msg, Some(&lpath), Some(listed.offset), Some(seq));
                continue;
            };
            used[i] = true;
            order.push(i);
            let o = &observed[i];
            let unknown = !digests_known && doc::digest_in_manifest(listed);
            if (o.sha256 != listed.sha256 && !unknown) || o.size != listed.size {
                let msg = format!("the content of {} differs from what checkpoint {seq} signed", listed.path.display());
                self.find(FindingKind::ContentAltered, msg, Some(&lpath), Some(o.offset), Some(seq));
            }
            if o.header_digest != listed.header_digest || o.kind != listed.kind {
                let msg = format!(
                    "the tar header (metadata) of {} differs from what checkpoint {seq} signed",
                    listed.path.display()
                );
                self.find(FindingKind::HeaderAltered, msg, Some(&lpath), Some(o.offset), Some(seq));
            }
        }
        for (i, o) in observed.iter().enumerate() {
            if !used[i] {
                let msg = format!(
                    "{} at offset {} is not listed by checkpoint {seq}: it was inserted",
                    o.path.display(),
                    o.offset
                );
                self.find(
                    FindingKind::MemberUnlisted,
                    msg,
                    o.path.to_bytes().as_deref(),
                    Some(o.offset),
                    Some(seq),
                );
            }
        }
        if order.windows(2).any(|w| w[0] > w[1]) {
            self.find(
                FindingKind::MembersReordered,
                format!("members of segment {seq} appear in another order than checkpoint {seq} signed"),
                None,
                None,
                Some(seq),
            );
        } else if self.findings.iter().all(|f| f.checkpoint != Some(seq) || f.level != Level::Error) {
            // Same members, same digests, only offsets moved: something before them changed size.
            self.find(
                FindingKind::MembersReordered,
                format!("members of segment {seq} sit at other offsets than checkpoint {seq} signed"),
                None,
                None,
                Some(seq),
            );
        }
        false
    }

    /// Each member's proof against the listing of its checkpoint.
    /// `in_order`: the members are exactly those listed, in order.
    pub(super) fn outcomes(
        &self,
        members: Vec<Observed>,
        listed: Vec<MemberEntry>,
        in_order: bool,
        proven_segment: bool,
        digests_known: bool,
    ) -> Vec<MemberOutcome> {
        let matching = || {
            if proven_segment && self.trusted {
                Proof::Proven
            } else {
                Proof::MatchesListing
            }
        };
        if in_order {
            return members
                .into_iter()
                .zip(listed)
                .map(|(o, l)| outcome(o, Some(l), matching()))
                .collect();
        }
        let mut unused = Unmatched::new(listed.iter().map(|l| &l.path));
        members
            .into_iter()
            .map(|o| {
                let entry = as_entry(&o);
                let listed = unused.take(&entry.path).map(|i| listed[i].clone());
                let proof = match &listed {
                    Some(l) if !digests_known && doc::digest_in_manifest(l) => Proof::Unproven,
                    Some(l) if !same_content(&entry, l) => Proof::Altered("differs from its signed listing".into()),
                    Some(_) => matching(),
                    None => Proof::Altered("not listed by any checkpoint".into()),
                };
                outcome(o, listed, proof)
            })
            .collect()
    }
}

/// Indices of members by path, taken in order: matching a listing to the
/// stream in time linear in their length, whatever a hostile archive holds.
struct Unmatched<'a> {
    by_path: std::collections::HashMap<&'a PathText, std::collections::VecDeque<usize>>,
}

impl<'a> Unmatched<'a> {
    fn new(paths: impl Iterator<Item = &'a PathText>) -> Self {
        let mut by_path: std::collections::HashMap<&PathText, std::collections::VecDeque<usize>> = std::collections::HashMap::new();
        for (i, p) in paths.enumerate() {
            by_path.entry(p).or_default().push_back(i);
        }
        Unmatched { by_path }
    }

    /// The first index not yet taken with this path.
    fn take(&mut self, path: &PathText) -> Option<usize> {
        self.by_path.get_mut(path)?.pop_front()
    }
}

fn as_entry(o: &Observed) -> MemberEntry {
    debug_assert!(
        o.pending.is_none() && o.pending_header.is_none(),
        "digests are settled before members are compared"
    );
    MemberEntry {
        offset: o.meta.offset,
        path: PathText::from_bytes(&o.meta.path),
        kind: o.meta.kind.name().into(),
        size: o.meta.size,
        header_digest: o.header_digest.clone(),
        sha256: o.sha256.clone(),
        status: doc::MemberStatus::Ok,
        detail: None,
        inode: None,
    }
}

/// Whether the observed member is the one listed as `l`, at its offset
/// (the same as comparing [`as_entry`] with `l`, without building it).
fn is_listed_as(o: &Observed, l: &MemberEntry) -> bool {
    debug_assert!(
        o.pending.is_none() && o.pending_header.is_none(),
        "digests are settled before members are compared"
    );
    o.meta.offset == l.offset
        && l.path.is(&o.meta.path)
        && o.meta.kind.name() == l.kind
        && o.meta.size == l.size
        && o.header_digest == l.header_digest
        && o.sha256 == l.sha256
}

fn same_content(o: &MemberEntry, l: &MemberEntry) -> bool {
    o.path == l.path && o.kind == l.kind && o.size == l.size && o.header_digest == l.header_digest && o.sha256 == l.sha256
}
