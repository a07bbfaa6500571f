//! After the seal: only the end-of-archive marker may follow, and the seal's
//! own members are proven by its signature.

use super::findings::FindingKind;
use super::members::ReadEnd;
use super::segment::outcome;
use super::{MemberOutcome, Proof, Verifier, VerifyError};
use crate::format::tar;

impl Verifier<'_> {
    /// After the seal only the end-of-archive marker may follow.
    pub(super) fn after_seal(&mut self) -> Result<(), VerifyError> {
        let start = self.stream.pos;
        let mut buf = vec![0u8; 64 * 1024];
        let mut zeros: u64 = 0;
        loop {
            match self.stream.fill(&mut buf) {
                Ok(()) => {
                    if let Some(i) = buf.iter().position(|&b| b != 0) {
                        self.data_after_seal(start + zeros + i as u64);
                        return self.flush_seal_members();
                    }
                    zeros += buf.len() as u64;
                }
                Err((got, end)) => {
                    if let Some(i) = buf[..got].iter().position(|&b| b != 0) {
                        self.data_after_seal(start + zeros + i as u64);
                        return self.flush_seal_members();
                    }
                    zeros += got as u64;
                    match end {
                        ReadEnd::Eof if zeros >= tar::END_OF_ARCHIVE_LEN as u64 => {}
                        ReadEnd::Damaged(e) | ReadEnd::Malformed { reason: e, .. } => {
                            let msg = format!("compressed data after the seal is damaged ({e})");
                            self.find(FindingKind::CompressedDamage, msg, None, Some(start + zeros), None);
                        }
                        _ => {
                            let msg = format!(
                                "the end-of-archive marker after the seal is {zeros} bytes, not {}: the archive was cut off after its seal",
                                tar::END_OF_ARCHIVE_LEN
                            );
                            self.find(FindingKind::MissingEndMarker, msg, None, Some(start + zeros), None);
                        }
                    }
                    return self.flush_seal_members();
                }
            }
        }
    }

    /// The seal document and its signature are proven by the signature and
    /// the canonical-header rule, not by a later segment digest.
    fn flush_seal_members(&mut self) -> Result<(), VerifyError> {
        let proof = if self.seal_proven && self.all_good_so_far && self.trusted {
            Proof::Proven
        } else if self.seal_proven && self.all_good_so_far {
            Proof::MatchesListing
        } else {
            Proof::Altered("the seal did not verify".into())
        };
        self.settle();
        let members = std::mem::take(&mut self.segment_members);
        let outcomes: Vec<MemberOutcome> = members.into_iter().map(|o| outcome(o, None, proof.clone())).collect();
        self.deliver(outcomes, false)
    }

    fn data_after_seal(&mut self, offset: u64) {
        self.find(
            FindingKind::DataAfterSeal,
            format!("non-zero data at tar offset {offset}, after the seal"),
            None,
            Some(offset),
            None,
        );
    }
}
