//! Split archives (FORMAT.md §18): the part documents in the stream.
//!
//! A set of parts is verified as the stream they make one after the other,
//! in the order given, exactly as `cat PART... | custody verify -` would be:
//! each part document must continue the chain where the part before it
//! ended. One that does not is named (a missing, repeated, misplaced or
//! foreign part), and the verifier goes on from it as from the start of a
//! part verified alone: it rebuilds the start of the part's first segment
//! from the copies the part document holds, so that every later segment is
//! still checked, though nothing after the break counts as proven.

use ssh_key::PublicKey;

use super::findings::{Finding, FindingKind};
use super::members::Observed;
use super::segment::outcome;
use super::{Proof, Proven, Verifier, VerifyError};
use crate::format::doc::{self, CheckpointDoc};
use crate::format::part::{self, PartDoc};
use crate::signer;

/// One file of a set, for naming it in findings: its name and the
/// compressed offset at which its bytes begin in the stream.
#[derive(Clone, Debug)]
pub struct PartFile {
    /// How to name it (its path as given).
    pub name: String,
    /// Offset of its first byte in the concatenated input.
    pub start: u64,
}

/// What the verifier knows about the parts read so far.
#[derive(Default)]
pub(super) struct Parts {
    /// The stream is a split archive (its header says so, or a part
    /// document was read).
    pub(super) split: bool,
    /// The last part read in place (1 after the header), and its file.
    pub(super) last: u64,
    pub(super) last_file: Option<String>,
    /// Parts read so far, by number, and the file of each.
    pub(super) seen: Vec<(u64, String)>,
    /// The archive id and signer a set that began with a later part took
    /// from its part document (the header is in part 1).
    pub(super) archive_id: Option<String>,
    pub(super) signer: Option<String>,
    /// Reading a part of another archive: its members are passed over.
    pub(super) foreign: bool,
    /// Stream position right after the last checkpoint's signature: a part
    /// may end there.
    pub(super) after_signature: Option<u64>,
    /// The stream ended there, where a part ends.
    pub(super) ended_at: Option<u64>,
}

/// A part document that checks out on its own.
struct Valid {
    doc: PartDoc,
    key: PublicKey,
    checkpoint: CheckpointDoc,
    secs: i64,
}

impl Verifier<'_> {
    /// The archive id checkpoints must carry: the header's, or for a set
    /// that began with a later part, that part's.
    pub(super) fn expected_archive_id(&self) -> Option<String> {
        self.header
            .as_ref()
            .map(|h| h.archive_id.clone())
            .or_else(|| self.parts.archive_id.clone())
    }

    /// The file being read (for a set), by the compressed offset of the
    /// current frame, or else the part's number.
    fn part_name(&self, part: u64) -> String {
        let at = self.stream.inner.frame_begin();
        match self.part_files.iter().rev().find(|f| f.start <= at) {
            Some(f) => format!("{} (part {part})", f.name),
            None => format!("part {part}"),
        }
    }

    fn find_part(&mut self, kind: FindingKind, message: String, part: u64, o: &Observed) {
        self.find(
            kind,
            message,
            Some(&o.meta.path),
            Some(o.meta.offset),
            Some(self.checkpoint_seq + 1),
        );
        if let Some(f) = self.findings.last_mut() {
            f.part = Some(part);
        }
    }

    /// A part document met in the stream: the first member of the input
    /// (`first`), or one after the part before it.
    pub(super) fn part_document(&mut self, number: u64, mut m: Box<Observed>, first: bool) -> Result<(), VerifyError> {
        self.parts.split = true;
        let name = self.part_name(number);
        let content = m.content.take().unwrap_or_default();
        let valid = match self.check_part_document(number, &content) {
            Ok(v) => v,
            Err(why) => {
                let msg = format!("{name} begins with a part document that is not valid: {why}");
                self.find_part(FindingKind::BadPartDocument, msg, number, &m);
                if first {
                    return Err(VerifyError::NotAnArchive(format!(
                        "{name} begins with a part document that is not valid ({why}); no archive can be read from it"
                    )));
                }
                self.push_observed(*m);
                return Ok(());
            }
        };
        if first {
            let msg = format!(
                "{name} of archive {} begins after checkpoint {}: it proves its own checkpoints, not what came before it (the header document and checkpoints 1..{}, in the parts before it). Verify the whole set, part 1 first, to prove the archive",
                valid.doc.archive_id, valid.doc.after, valid.doc.after
            );
            self.find_part(FindingKind::SetIncomplete, msg, number, &m);
            self.parts.archive_id = Some(valid.doc.archive_id.clone());
            self.parts.signer = Some(valid.doc.signer.clone());
            self.anchor(valid, m, content, true)?;
            self.parts.last = number;
            self.parts.last_file = Some(name.clone());
            self.parts.seen.push((number, name));
            return Ok(());
        }
        let expected_id = self.expected_archive_id();
        if expected_id.as_deref() != Some(valid.doc.archive_id.as_str()) {
            let msg = format!(
                "{name} belongs to archive {}, not to archive {}: it is a part of another collection and cannot continue this one; its members are not read",
                valid.doc.archive_id,
                expected_id.unwrap_or_else(|| "(unknown)".into())
            );
            self.find_part(FindingKind::PartForeign, msg, number, &m);
            self.flush_unproven()?;
            self.parts.foreign = true;
            self.pass_over(*m, number)?;
            return Ok(());
        }
        self.parts.foreign = false;
        let header_key = self.key.clone();
        if header_key.as_ref().is_some_and(|k| k.key_data() != valid.key.key_data()) {
            let msg = format!("{name} names another signer than the archive's header");
            self.find_part(FindingKind::BadPartDocument, msg, number, &m);
        }
        let in_place = valid.doc.after == self.checkpoint_seq
            && valid.doc.chain == self.chain
            && valid.doc.offset == m.meta.offset
            && self.parts.after_signature == Some(m.meta.offset)
            && number == self.parts.last + 1;
        let previous = self.parts.last_file.clone().unwrap_or_else(|| format!("part {}", self.parts.last));
        let repeated = self.parts.seen.iter().find(|(n, _)| *n == number).map(|(_, f)| f.clone());
        if in_place {
            m.content = Some(content);
            self.push_observed(*m);
        } else {
            let (kind, msg) = if let Some(earlier) = repeated {
                (
                    FindingKind::PartOutOfPlace,
                    format!("{name} is part {number} again: {earlier} was read as part {number} already. Give each part once"),
                )
            } else if number > self.parts.last + 1 && self.parts.seen.iter().any(|(n, _)| *n == number - 1) {
                (
                    FindingKind::PartOutOfPlace,
                    format!(
                        "{name} comes after {previous}, but part {} came earlier: the parts are out of order. Give them in order (ARCHIVE.part-* does)",
                        number - 1
                    ),
                )
            } else if number > self.parts.last + 1 {
                let missing = if number == self.parts.last + 2 {
                    format!("part {}", self.parts.last + 1)
                } else {
                    format!("parts {}..{}", self.parts.last + 1, number - 1)
                };
                (
                    FindingKind::PartMissing,
                    format!(
                        "{missing} of archive {} {} missing: {name} continues the chain after checkpoint {}, which {previous} does not end (it ends after checkpoint {})",
                        valid.doc.archive_id,
                        if number == self.parts.last + 2 { "is" } else { "are" },
                        valid.doc.after,
                        self.checkpoint_seq
                    ),
                )
            } else if number <= self.parts.last {
                (
                    FindingKind::PartOutOfPlace,
                    format!("{name} comes after {previous}: the parts are out of order. Give them in order (ARCHIVE.part-* does)"),
                )
            } else {
                (
                    FindingKind::PartOutOfPlace,
                    format!(
                        "{name} continues the chain after checkpoint {} at tar offset {}, but {previous} ends after checkpoint {} at tar offset {}: one of them is not the part the collector wrote",
                        valid.doc.after,
                        valid.doc.offset,
                        self.checkpoint_seq,
                        m.meta.offset
                    ),
                )
            };
            self.find_part(kind, msg, number, &m);
            self.anchor(valid, m, content, false)?;
        }
        self.parts.last = number;
        self.parts.last_file = Some(name.clone());
        self.parts.seen.push((number, name));
        Ok(())
    }

    /// A member of a part of another archive: delivered as altered, read
    /// no further.
    pub(super) fn pass_over(&mut self, mut m: Observed, part: u64) -> Result<(), VerifyError> {
        super::segment::settle(&mut self.content, &mut self.segment, &mut m);
        let why = format!("it is in part {part} of another archive");
        self.deliver(vec![outcome(m, None, Proof::Altered(why))], false)
    }

    /// Whether a part document is well formed and consistent in itself:
    /// its copy of the checkpoint is the one its chain value names, of the
    /// archive and sequence number it names, and signed by its signer.
    fn check_part_document(&self, number: u64, content: &[u8]) -> Result<Valid, String> {
        let doc: PartDoc = serde_json::from_slice(content).map_err(|e| e.to_string())?;
        if !doc::check_format(&doc.format) || doc.doc_type != part::PART_TYPE {
            return Err(format!("format {:?}, type {:?}", doc.format, doc.doc_type));
        }
        if doc.part != number || number < 2 {
            return Err(format!("it says part {}, its path part {number}", doc.part));
        }
        if doc::chain_value(doc.checkpoint.as_bytes()) != doc.chain {
            return Err("its copy of the checkpoint is not the one its chain value names".into());
        }
        let checkpoint: CheckpointDoc =
            serde_json::from_slice(doc.checkpoint.as_bytes()).map_err(|e| format!("its copy of the checkpoint does not parse: {e}"))?;
        if checkpoint.seq != doc.after || checkpoint.archive_id != doc.archive_id || checkpoint.seal.is_some() {
            return Err(format!(
                "its copy of the checkpoint is checkpoint {} of archive {}",
                checkpoint.seq, checkpoint.archive_id
            ));
        }
        let key = PublicKey::from_openssh(&doc.signer).map_err(|e| format!("its signer is not an OpenSSH public key: {e}"))?;
        signer::verify_signature(&key, doc.checkpoint.as_bytes(), doc.signature.as_bytes())
            .map_err(|e| format!("its copy of checkpoint {}'s signature does not verify: {e}", doc.after))?;
        let secs = doc::rfc3339_secs(&checkpoint.time).ok_or("its copy of the checkpoint has a time that does not parse")?;
        Ok(Valid {
            doc,
            key,
            checkpoint,
            secs,
        })
    }

    /// Go on from part document `m` as from the start of a part: the chain
    /// value, sequence number and segment start of the checkpoint before it,
    /// and that segment's first bytes, rebuilt from the copies it holds.
    fn anchor(&mut self, v: Valid, mut m: Box<Observed>, content: Vec<u8>, first: bool) -> Result<(), VerifyError> {
        self.flush_unproven()?;
        self.segment.reset();
        self.pending_segment_digest = None;
        let n = v.doc.after;
        let json_at = v.checkpoint.range.end;
        let json = part::custody_member_bytes(&doc::checkpoint_path(n), v.doc.checkpoint.as_bytes(), v.secs);
        let sig_at = json_at + json.len() as u64;
        let sig = part::custody_member_bytes(&doc::signature_path(n), v.doc.signature.as_bytes(), v.secs);
        let json_member = self.rebuilt_member(json_at, &json, v.doc.checkpoint.as_bytes())?;
        let sig_member = self.rebuilt_member(sig_at, &sig, v.doc.signature.as_bytes())?;
        if sig_at + sig.len() as u64 != v.doc.offset {
            let msg = format!(
                "part document {} says its part begins at tar offset {}, but the checkpoint it copies ends at {}",
                v.doc.part,
                v.doc.offset,
                sig_at + sig.len() as u64
            );
            self.find_part(FindingKind::BadPartDocument, msg, v.doc.part, &m);
        }
        // The part document's own bytes come after the rebuilt ones.
        m.pending_header = Some(self.segment.update_header(&m.header_bytes));
        self.segment.update(&content);
        self.segment.update(&vec![0u8; crate::format::tar::padding(content.len() as u64)]);
        let delta = v.doc.offset.wrapping_sub(m.meta.offset);
        m.meta.offset = v.doc.offset;
        m.end = m.end.wrapping_add(delta);
        self.stream.pos = self.stream.pos.wrapping_add(delta);
        self.parts.after_signature = None;
        self.lost_from = None;
        if self.key.is_none() {
            self.trusted = self.trust.principal_for(&v.key).is_some();
            self.key = Some(v.key.clone());
        }
        self.remember_signature(n, v.doc.signature.as_bytes());
        self.remember_time(n, &v.checkpoint.time);
        self.chain = v.doc.chain.clone();
        self.checkpoint_seq = n;
        self.prev_end = json_at;
        self.last_totals = Some(v.checkpoint.totals.clone());
        if first {
            self.proven = Proven {
                checkpoints: n,
                tar_bytes: json_at,
                totals: v.checkpoint.totals.clone(),
                until: Some(v.checkpoint.time.clone()),
                chain: Some(v.doc.chain.clone()),
                after: Some(n),
            };
            self.proven_documents = [Some(json_member.meta.index), Some(sig_member.meta.index)];
        }
        self.segment_members.push(json_member);
        self.segment_members.push(sig_member);
        m.content = Some(content);
        self.push_observed(*m);
        Ok(())
    }

    /// The stream ended at `offset`: if a split archive ends there after a
    /// checkpoint's signature, that is where a part ends, and the parts
    /// after it were not given. Returns whether it said so.
    pub(super) fn ended_at_part_end(&mut self, offset: u64) -> bool {
        if !(self.parts.split && self.parts.after_signature == Some(offset)) || self.parts.foreign {
            return false;
        }
        let name = self.parts.last_file.clone().unwrap_or_else(|| "part 1".into());
        let msg = format!(
            "the parts given end with {name}, after checkpoint {}, before the seal: part {} and any after it are missing or were not given, and what they hold is not proven",
            self.checkpoint_seq,
            self.parts.last.max(1) + 1
        );
        self.findings.push(Finding {
            level: FindingKind::SetIncomplete.level(),
            kind: FindingKind::SetIncomplete,
            message: msg,
            member: None,
            offset: Some(offset),
            checkpoint: Some(self.checkpoint_seq),
            line: None,
            part: Some(self.parts.last.max(1)),
        });
        self.parts.ended_at = Some(offset);
        true
    }
}
