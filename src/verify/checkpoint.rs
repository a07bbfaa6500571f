//! The checkpoint step: the signature, the document's fields and its place
//! in the chain, the canonical headers of custody members, the content
//! digests from the manifest, then the listing compared with the segment.

use super::findings::FindingKind;
use super::members::{Next, Observed, ReadEnd};
use super::segment::{outcome, settle};
use super::{MemberOutcome, Proof, Proven, Verifier, VerifyError};
use crate::format::doc::{self, CheckpointDoc};
use crate::format::tar::EntryKind;
use crate::signer;

impl Verifier<'_> {
    /// Handle checkpoint `seq`, whose document member is `m`. Returns whether it was the seal.
    pub(super) fn checkpoint(&mut self, seq: u64, mut m: Box<Observed>) -> Result<bool, VerifyError> {
        // Digests are settled in stream order: the segment's, then the
        // document's and its signature's, before anything else is read.
        self.settle();
        settle(&mut self.content, &mut self.segment, &mut m);
        let segment_digest = self.pending_segment_digest.take().unwrap_or_default();
        let json_offset = m.meta.offset;
        let mut sig = match self.next_member()? {
            Next::Member(mut s) if doc::parse_checkpoint_path(&s.meta.path) == Some((seq, true)) => {
                settle(&mut self.content, &mut self.segment, &mut s);
                s
            }
            Next::Member(s) => {
                let msg = format!("checkpoint {seq} is not followed by its signature");
                self.find(FindingKind::BadSignature, msg, Some(&s.meta.path), Some(s.meta.offset), Some(seq));
                self.push_observed(*s);
                let chain = doc::chain_value(m.content.as_deref().unwrap_or_default());
                return self.reject_segment(seq, *m, None, chain, "its checkpoint has no signature");
            }
            Next::EndMarker(off) => {
                self.find(
                    FindingKind::BadSignature,
                    format!("checkpoint {seq} is not followed by its signature"),
                    None,
                    Some(off),
                    Some(seq),
                );
                let chain = doc::chain_value(m.content.as_deref().unwrap_or_default());
                return self
                    .reject_segment(seq, *m, None, chain, "its checkpoint has no signature")
                    .map(|_| false);
            }
            Next::Stopped(end, off) => {
                let damaged = matches!(end, ReadEnd::Damaged(_) | ReadEnd::Malformed { .. });
                self.stopped(end, off, &format!("inside the signature of checkpoint {seq}"));
                if !damaged {
                    self.flush_unproven()?;
                }
                // After damage the members stay for `resync`, which discards
                // those read from the damaged frame (this checkpoint too).
                self.stopped_at = Some((damaged, off));
                return Ok(false);
            }
        };
        // The documents are needed no longer than this checkpoint.
        let bytes = m.content.take().unwrap_or_default();
        let sig_bytes = sig.content.take().unwrap_or_default();
        self.remember_signature(seq, &sig_bytes);
        // The signature check and the chain value both hash the whole
        // document: they run on a thread of their own while it is parsed.
        let key = self.key.as_ref();
        let (signature, chain, parsed) = std::thread::scope(|scope| {
            let hashing = scope.spawn(|| {
                let signature = key.map(|k| signer::verify_signature(k, &bytes, &sig_bytes));
                (signature, doc::chain_value(&bytes))
            });
            let parsed = serde_json::from_slice::<CheckpointDoc>(&bytes);
            let (signature, chain) = hashing.join().expect("checking a signature does not panic");
            (signature, chain, parsed)
        });
        let mut ok = true;
        match signature {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                self.find(
                    FindingKind::BadSignature,
                    format!("checkpoint {seq}: {e}"),
                    Some(&m.meta.path),
                    Some(json_offset),
                    Some(seq),
                );
                ok = false;
            }
            None => ok = false,
        }
        let cp: Option<CheckpointDoc> = match parsed {
            Ok(cp) => Some(cp),
            Err(e) => {
                self.find(
                    FindingKind::BadCheckpoint,
                    format!("checkpoint {seq} is not a valid document: {e}"),
                    Some(&m.meta.path),
                    Some(json_offset),
                    Some(seq),
                );
                None
            }
        };
        let Some(mut cp) = cp else {
            return self.reject_segment(seq, *m, Some(*sig), chain, "its checkpoint is unreadable");
        };
        self.remember_time(seq, &cp.time);
        let (mut m, mut sig) = (m, sig);
        let json_offset = match self.lost_from.take() {
            // Bytes can only have been lost, never gained: a range that ends
            // before this document means bytes were inserted, which the full
            // checks below report.
            Some(from) if cp.range.end >= json_offset && cp.range.end >= self.prev_end => {
                let from = from.min(self.segment_members.len());
                if seq > self.checkpoint_seq + 1 && from > 0 {
                    // The checkpoint that would prove the members read before
                    // the damage was itself lost.
                    let before: Vec<Observed> = self.segment_members.drain(..from).collect();
                    self.evidence_seen_before_loss = before
                        .iter()
                        .filter(|o| !o.meta.path.starts_with(crate::format::CUSTODY_DIR.as_bytes()))
                        .count() as u64;
                    let msg = format!(
                        "{} members read before the damage belonged to checkpoint {}, which the damage destroyed: they are unproven",
                        before.len(),
                        self.checkpoint_seq + 1
                    );
                    self.find(FindingKind::CompressedDamage, msg, None, None, Some(self.checkpoint_seq + 1));
                    let outcomes: Vec<MemberOutcome> = before.into_iter().map(|o| outcome(o, None, Proof::Unproven)).collect();
                    self.deliver(outcomes, false)?;
                }
                if seq > self.checkpoint_seq + 1 {
                    let evidence = |o: &Observed| !o.meta.path.starts_with(crate::format::CUSTODY_DIR.as_bytes());
                    let seen = self.segment_members.iter().filter(|o| evidence(o)).count() as u64 + self.evidence_seen_before_loss;
                    let before = self.last_totals.as_ref().map_or(0, |t| t.evidence_members);
                    let lost = cp.totals.evidence_members.saturating_sub(before).saturating_sub(seen);
                    let msg = format!(
                        "checkpoint{} {} destroyed by the damage, with the members listed there: by checkpoint {seq}'s running totals, {lost} evidence members collected before it are missing from the stream",
                        if seq - self.checkpoint_seq > 2 { "s" } else { "" },
                        if seq - self.checkpoint_seq > 2 {
                            format!("{}..{} were", self.checkpoint_seq + 1, seq - 1)
                        } else {
                            format!("{} was", self.checkpoint_seq + 1)
                        }
                    );
                    self.find(FindingKind::MemberMissing, msg, None, None, Some(seq));
                }
                self.evidence_seen_before_loss = 0;
                let from = if seq > self.checkpoint_seq + 1 { 0 } else { from };
                // Bytes were lost before this checkpoint: its own range says
                // where its document begins, which calibrates the offsets of
                // the members read since the damage.
                let delta = cp.range.end.wrapping_sub(json_offset);
                for o in self.segment_members[from..].iter_mut().chain([&mut *m, &mut *sig]) {
                    o.meta.offset = o.meta.offset.wrapping_add(delta);
                }
                self.stream.pos = self.stream.pos.wrapping_add(delta);
                let msg = format!(
                    "checkpoint {seq} covers bytes {}..{} that the damage above cut short: its chain link and segment digest cannot be checked, only its signature and, one by one, the members that survive",
                    cp.range.start, cp.range.end
                );
                self.find(
                    FindingKind::CompressedDamage,
                    msg,
                    Some(&m.meta.path),
                    Some(cp.range.end),
                    Some(seq),
                );
                ok &= self.check_checkpoint_identity(seq, &cp, cp.range.end);
                cp.range.end
            }
            _ => {
                ok &= self.check_checkpoint_fields(seq, &cp, json_offset, &segment_digest);
                json_offset
            }
        };
        ok &= self.check_custody_headers(seq, &cp, &m, &sig);
        let digests_known = self.digests_from_manifest(seq, &mut cp, json_offset);
        ok &= digests_known;
        let in_order = self.compare_members(seq, &cp, digests_known);
        let members = std::mem::take(&mut self.segment_members);
        let proven_segment = ok && in_order && self.all_good_so_far;
        self.report_collection_facts(&cp);
        let listed = std::mem::take(&mut cp.members);
        let outcomes = self.outcomes(members, listed, in_order, proven_segment, digests_known);
        let proves = proven_segment && self.proven.checkpoints + 1 == seq;
        self.deliver(outcomes, proves)?;
        if proves {
            self.proven_documents = [Some(m.meta.index), Some(sig.meta.index)];
            self.proven = Proven {
                checkpoints: seq,
                tar_bytes: cp.range.end,
                totals: cp.totals.clone(),
                until: Some(cp.time.clone()),
                chain: Some(chain.clone()),
                after: self.proven.after,
            };
        }
        // A proven checkpoint the collector signed as its last is a known
        // end, as the seal is: the stream may end right after it.
        self.stopped_end = (proves && cp.stopped.is_some()).then_some(self.stream.pos);
        self.chain = chain;
        self.checkpoint_seq = seq;
        self.prev_end = json_offset;
        self.last_totals = Some(cp.totals.clone());
        let is_seal = cp.seal.is_some();
        if is_seal {
            self.sealed = cp.seal.clone();
            self.seal_proven = ok;
        }
        self.segment_members.push(*m);
        self.segment_members.push(*sig);
        Ok(is_seal)
    }

    /// A checkpoint that proves nothing: its segment's members are altered.
    /// `chain` is the chain value of its document.
    fn reject_segment(&mut self, seq: u64, mut m: Observed, sig: Option<Observed>, chain: String, why: &str) -> Result<bool, VerifyError> {
        self.settle();
        self.lost_from = None;
        let members = std::mem::take(&mut self.segment_members);
        let outcomes: Vec<MemberOutcome> = members
            .into_iter()
            .map(|o| outcome(o, None, Proof::Altered(why.to_string())))
            .collect();
        self.deliver(outcomes, false)?;
        self.checkpoint_seq = seq;
        self.prev_end = m.meta.offset;
        self.chain = chain;
        m.content = None;
        self.segment_members.push(m);
        if let Some(s) = sig {
            self.segment_members.push(s);
        }
        Ok(false)
    }

    /// After damage: only what does not depend on the lost bytes: format,
    /// type, sequence number and archive id.
    fn check_checkpoint_identity(&mut self, seq: u64, cp: &CheckpointDoc, offset: u64) -> bool {
        let path = doc::checkpoint_path(seq).into_bytes();
        let same_archive = self.expected_archive_id().is_none_or(|id| id == cp.archive_id);
        let ok = doc::check_format(&cp.format)
            && cp.doc_type == doc::CHECKPOINT_TYPE
            && cp.seq == seq
            && seq > self.checkpoint_seq
            && same_archive;
        if !ok {
            let msg = format!("checkpoint {seq} does not belong here (format, type, sequence number or archive id)");
            self.find(FindingKind::ChainBroken, msg, Some(&path), Some(offset), Some(seq));
        }
        ok
    }

    fn check_checkpoint_fields(&mut self, seq: u64, cp: &CheckpointDoc, offset: u64, segment_digest: &str) -> bool {
        let path = doc::checkpoint_path(seq).into_bytes();
        let mut problems: Vec<(FindingKind, String)> = Vec::new();
        if !doc::check_format(&cp.format) || cp.doc_type != doc::CHECKPOINT_TYPE || cp.seq != seq {
            problems.push((
                FindingKind::BadCheckpoint,
                format!(
                    "checkpoint {seq} has format {:?}, type {:?}, seq {}",
                    cp.format, cp.doc_type, cp.seq
                ),
            ));
        }
        if let Some(id) = self.expected_archive_id() {
            if cp.archive_id != id {
                problems.push((
                    FindingKind::ChainBroken,
                    format!("checkpoint {seq} belongs to archive {}, not {id}", cp.archive_id),
                ));
            }
        }
        if seq != self.checkpoint_seq + 1 {
            problems.push((
                FindingKind::ChainBroken,
                format!(
                    "checkpoint {seq} follows checkpoint {}: checkpoints are missing, duplicated or reordered",
                    self.checkpoint_seq
                ),
            ));
        }
        if cp.prev_chain != self.chain {
            problems.push((
                FindingKind::ChainBroken,
                format!(
                    "checkpoint {seq} does not continue the chain (it names {}, the stream gives {})",
                    cp.prev_chain, self.chain
                ),
            ));
        }
        if cp.range.start != self.prev_end || cp.range.end != offset {
            problems.push((
                FindingKind::ChainBroken,
                format!(
                    "checkpoint {seq} covers bytes {}..{}, but its segment is {}..{offset} in this stream",
                    cp.range.start, cp.range.end, self.prev_end
                ),
            ));
        }
        if cp.segment_blake3 != segment_digest {
            problems.push((
                FindingKind::SegmentDigestMismatch,
                format!(
                    "the bytes of segment {seq} ({}..{offset}) do not match its signed BLAKE3",
                    self.prev_end
                ),
            ));
        }
        let ok = problems.is_empty();
        for (kind, msg) in problems {
            self.find(kind, msg, Some(&path), Some(offset), Some(seq));
        }
        ok
    }

    fn check_custody_headers(&mut self, seq: u64, cp: &CheckpointDoc, m: &Observed, sig: &Observed) -> bool {
        let mut ok = true;
        for (o, path) in [(m, doc::checkpoint_path(seq)), (sig, doc::signature_path(seq))] {
            let what = format!("checkpoint {seq}'s time");
            if let Some(msg) = non_canonical(&path, o, &what, &cp.time) {
                self.find(
                    FindingKind::NonCanonicalCustodyMember,
                    msg,
                    Some(path.as_bytes()),
                    Some(o.meta.offset),
                    Some(seq),
                );
                ok = false;
            }
        }
        ok
    }

    /// Fill in the content digests that checkpoint `seq` keeps in its
    /// manifest rather than its listing (FORMAT.md §4). `false`, with a
    /// `bad-checkpoint` finding, when the manifest is missing or does not
    /// match the listing: those members' content cannot then be checked.
    fn digests_from_manifest(&mut self, seq: u64, cp: &mut CheckpointDoc, json_offset: u64) -> bool {
        let wanted: Vec<usize> = (0..cp.members.len()).filter(|&i| doc::digest_in_manifest(&cp.members[i])).collect();
        if wanted.is_empty() {
            return true;
        }
        let path = doc::manifest_path(seq);
        let manifest = self
            .segment_members
            .iter()
            .rev()
            .find(|o| o.meta.path == path.as_bytes() && o.meta.kind == EntryKind::File)
            .and_then(|o| o.content.as_deref());
        let problem = match manifest.map(doc::parse_manifest) {
            None => Some("its manifest is missing from the stream".to_string()),
            Some(None) => Some("its manifest is not in the sha256sum form custody writes".to_string()),
            Some(Some(lines)) if lines.len() != wanted.len() => {
                Some(format!("its manifest has {} lines for {} listed files", lines.len(), wanted.len()))
            }
            Some(Some(lines)) => {
                let mut problem = None;
                for (&i, (digest, line_path)) in wanted.iter().zip(lines) {
                    let e = &mut cp.members[i];
                    if e.sha256.is_some() || !e.path.is(&line_path) {
                        problem = Some(format!("its manifest does not match its listing at {}", e.path.display()));
                        break;
                    }
                    e.sha256 = Some(digest);
                }
                problem
            }
        };
        let Some(problem) = problem else {
            return true;
        };
        for &i in &wanted {
            cp.members[i].sha256 = None;
        }
        let msg = format!(
            "checkpoint {seq}: {problem}, so the content of the {} files it lists cannot be checked",
            wanted.len()
        );
        self.find(FindingKind::BadCheckpoint, msg, Some(path.as_bytes()), Some(json_offset), Some(seq));
        false
    }

    fn report_collection_facts(&mut self, cp: &CheckpointDoc) {
        for m in &cp.members {
            if m.status.is_failure() {
                let msg = format!(
                    "{}: recorded as {} during collection{}",
                    m.path.display(),
                    m.status.name(),
                    m.detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
                );
                self.find(
                    FindingKind::CollectionFailure,
                    msg,
                    m.path.to_bytes().as_deref(),
                    Some(m.offset),
                    Some(cp.seq),
                );
            }
        }
        for s in &cp.skipped {
            let msg = format!("{}: not collected ({})", s.path.display(), s.reason);
            self.find(FindingKind::CollectionSkip, msg, s.path.to_bytes().as_deref(), None, Some(cp.seq));
        }
        if let Some(why) = &cp.stopped {
            let msg = format!(
                "the collector stopped after checkpoint {} ({why}) and signed it as its last",
                cp.seq
            );
            self.find(FindingKind::CollectionStopped, msg, None, None, Some(cp.seq));
        }
    }
}

/// Why custody member `o`, at `path`, does not carry the canonical tar header
/// custody writes for its document's time `time` (FORMAT.md §4.1), if it
/// does not; `what` names that time in the message. A time that does not
/// parse gives no header to compare with: whatever header the member has, it
/// is not canonical.
pub(super) fn non_canonical(path: &str, o: &Observed, what: &str, time: &str) -> Option<String> {
    match doc::rfc3339_secs(time) {
        None => Some(format!(
            "{what} {time:?} is not an RFC 3339 time, so the tar header of {path} cannot be the one custody writes for it"
        )),
        Some(secs) => (doc::custody_member_header(path, o.meta.size, secs).encode() != o.header_bytes)
            .then(|| format!("the tar header of {path} is not the one custody writes for it")),
    }
}
