//! Checkpoints: when one is due, the listing and manifest of a segment,
//! the signed document that closes it, the seal, and a stop before the seal.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sha2::Digest;

use super::host::now_rfc3339;
use super::member::Member;
use super::pipe::Out;
use super::writer::{HashingWriter, Msg};
use super::{CollectError, CollectSummary, Collector};
use crate::format::doc::{self, CheckpointDoc, MemberEntry, MemberStatus, Seal};
use crate::format::tar;
use crate::format::FORMAT_ID;

/// A checkpoint is written before its document could approach the
/// verifier's limit on documents ([`crate::format::MAX_DOCUMENT_LEN`]).
const MAX_CHECKPOINT_DOC_ESTIMATE: u64 = crate::format::MAX_DOCUMENT_LEN / 4;
/// Upper bound on the JSON bytes of one listed member besides its path and detail.
const ENTRY_OVERHEAD: u64 = 512;

impl<W: Write + Send + 'static> Collector<'_, W> {
    /// The signal that asked the collection to stop, if one did.
    pub(super) fn stop_signal(&self) -> Option<usize> {
        self.opts.stop.as_ref().map(|s| s.load(Ordering::SeqCst)).filter(|&s| s != 0)
    }

    /// Stop before the seal: sign what was written so far in a final
    /// checkpoint that says why, and end the zstd frame.
    pub(super) fn stop(mut self, signal: usize) -> Result<(CollectSummary, W), CollectError> {
        let why = format!("interrupted by {}", signal_name(signal));
        self.checkpoint(None, Some(why.clone()))?;
        let w = self.finish_stream()?;
        Ok(self.summary(w, Some(why)))
    }

    pub(super) fn maybe_checkpoint(&mut self) -> Result<(), CollectError> {
        let due = self.pos - self.segment_start >= self.opts.checkpoint_bytes
            || self.segment_evidence + self.segment_skipped.len() as u64 >= self.opts.checkpoint_members
            || self.segment_doc_bytes >= MAX_CHECKPOINT_DOC_ESTIMATE
            || self.last_checkpoint.elapsed() >= Duration::from_secs(self.opts.checkpoint_seconds);
        // Tokens that came join the segment between members.
        self.write_stamps(None)?;
        if due && (self.segment_evidence > 0 || !self.segment_skipped.is_empty()) {
            self.checkpoint(None, None)?;
        } else {
            // Damage to a frame loses only that frame: end one between members
            // every few MiB, not only at checkpoints.
            self.emit(0, |s| s.boundary(), || Msg::Boundary)?;
        }
        Ok(())
    }

    pub(super) fn record(&mut self, entry: MemberEntry, evidence: bool) {
        self.totals.members += 1;
        if evidence {
            self.totals.evidence_members += 1;
            self.totals.content_bytes += entry.size;
            self.segment_evidence += 1;
            self.part_has_evidence = true;
            if entry.status.is_failure() {
                self.totals.failures += 1;
                if self.failures.len() < super::MAX_FAILURES_NAMED {
                    self.failures
                        .push((entry.path.display(), entry.status.name().to_string(), entry.detail.clone()));
                }
            }
            *self.statuses.entry(entry.status.name().to_string()).or_default() += 1;
        }
        self.segment_doc_bytes +=
            2 * entry.path.display().len() as u64 + ENTRY_OVERHEAD + entry.detail.as_ref().map_or(0, |d| d.len() as u64);
        self.segment_members.push(entry);
    }

    /// Write `data` as the custody member `.custody/live/NAME`
    /// ([`crate::format::LIVE_DIR`]): a statement of the collector about the
    /// live host (the profile it followed, a live-response document, a
    /// command's record or output). Call it between [`Collector::start`] and
    /// [`Collector::run`]; `secs` is the member's mtime (when the statement
    /// was made). The member is listed, digested and signed like every
    /// custody member.
    ///
    /// # Panics
    /// If NAME is not one or more `/`-separated parts of ASCII letters,
    /// digits, `.`, `_` and `-`, none empty or starting with `.`.
    pub fn write_live(&mut self, name: &str, data: &[u8], secs: i64) -> Result<(), CollectError> {
        let fine = !name.is_empty()
            && name.split('/').all(|part| {
                !part.is_empty() && !part.starts_with('.') && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            });
        assert!(fine, "{name:?} is not a live member name");
        self.write_custody_member(&format!("{}{name}", crate::format::LIVE_DIR), data, secs)
    }

    /// Sign everything written so far in a checkpoint now: after the live
    /// response, so that the most volatile evidence is proven even if the
    /// walk that follows is cut short.
    pub fn checkpoint_now(&mut self) -> Result<(), CollectError> {
        self.checkpoint(None, None)
    }

    pub(super) fn write_custody_member(&mut self, path: &str, data: &[u8], secs: i64) -> Result<(), CollectError> {
        let header = doc::custody_member_header(path, data.len() as u64, secs);
        let m = Member {
            header,
            inode: None,
            status: MemberStatus::Custody,
            detail: None,
            evidence: false,
        };
        self.write_member_bytes(m, data)
    }

    pub(super) fn checkpoint(&mut self, seal: Option<Seal>, stopped: Option<String>) -> Result<(), CollectError> {
        self.seq += 1;
        let is_seal = seal.is_some();
        let stopped_here = stopped.clone();
        let (time_text, secs) = now_rfc3339();
        // Every member's digests are needed for the manifest and the listing.
        self.catch_up(false)?;
        let manifest: Vec<u8> = self
            .segment_members
            .iter()
            .filter(|m| doc::digest_in_manifest(m))
            .filter_map(|m| Some(doc::manifest_line(m.sha256.as_deref()?, &m.path.to_bytes()?)))
            .flatten()
            .collect();
        if !manifest.is_empty() {
            self.write_custody_member(&doc::manifest_path(self.seq), &manifest, secs)?;
        }
        let end = self.pos;
        let segment_blake3 = self.catch_up(true)?.expect("asked for the segment digest");
        // Their digests are in the manifest: the listing does not repeat them.
        for m in self.segment_members.iter_mut().filter(|m| doc::digest_in_manifest(m)) {
            m.sha256 = None;
        }
        let cp = CheckpointDoc {
            format: FORMAT_ID.into(),
            doc_type: doc::CHECKPOINT_TYPE.into(),
            archive_id: self.archive_id.clone(),
            seq: self.seq,
            prev_chain: self.chain.clone(),
            range: doc::ByteRange {
                start: self.segment_start,
                end,
            },
            segment_blake3,
            members: std::mem::take(&mut self.segment_members),
            skipped: std::mem::take(&mut self.segment_skipped),
            time: time_text,
            totals: self.totals.clone(),
            seal,
            stopped,
        };
        let bytes = doc::to_document_bytes(&cp);
        let sig = self.signer.sign(&bytes)?;
        self.segment_start = end;
        self.segment_evidence = 0;
        self.segment_doc_bytes = 0;
        self.chain = doc::chain_value(&bytes);
        self.write_custody_member(&doc::checkpoint_path(self.seq), &bytes, secs)?;
        self.write_custody_member(&doc::signature_path(self.seq), &sig, secs)?;
        if !is_seal && stopped_here.is_none() {
            self.end_frame()?;
            if self.opts.split.is_some() {
                // The next part, if one begins here, copies them (§18).
                self.last_signed = Some((bytes.clone(), sig.clone(), secs));
                self.last_signed_end = self.pos;
            }
        }
        // A stopped collection ends here: no token could be written after it.
        if stopped_here.is_none() {
            self.request_stamp(self.seq, secs, &sig);
        }
        self.last_checkpoint = Instant::now();
        self.progress.checkpoint(self.seq, end);
        Ok(())
    }

    /// Write the final checkpoint and the end-of-archive marker.
    pub fn seal(mut self, reason: &str) -> Result<(CollectSummary, W), CollectError> {
        let seal = Seal {
            end_time: now_rfc3339().0,
            statuses: self.statuses.clone(),
            opened_without_noatime: self.without_noatime,
            reason: reason.into(),
        };
        // The tokens of the checkpoints so far go into the seal's segment.
        self.write_last_stamps()?;
        self.checkpoint(Some(seal), None)?;
        self.raw_zeros(tar::END_OF_ARCHIVE_LEN as u64)?;
        let mut w = self.finish_stream()?;
        // The seal's own token cannot be inside the tar after the seal: it
        // follows the last zstd frame, in a skippable frame (§15).
        if let Some(frame) = self.seal_stamp_frame() {
            w.write_all(&frame).map_err(|e| self.output_err(e))?;
        }
        Ok(self.summary(w, None))
    }

    /// End the last zstd frame and hand back the output.
    fn finish_stream(&mut self) -> Result<HashingWriter<W>, CollectError> {
        let Out::Direct(s) = &mut self.out else {
            unreachable!("the last frame ends after the walk")
        };
        s.finish().map_err(|e| CollectError::Output {
            bytes: self.pos,
            source: e,
        })
    }

    fn summary(&self, w: HashingWriter<W>, stopped: Option<String>) -> (CollectSummary, W) {
        let summary = CollectSummary {
            archive_id: self.archive_id.clone(),
            chain: self.chain.clone(),
            fingerprint: crate::signer::fingerprint(&self.signer.public_key()),
            checkpoints: self.seq,
            totals: self.totals.clone(),
            statuses: self.statuses.clone(),
            stopped,
            archive_sha256: hex::encode(w.sha.finalize()),
            archive_bytes: w.bytes,
            timestamps: self.timestamp_summary(),
            failures: self.failures.clone(),
        };
        (summary, w.inner)
    }
}

/// A signal's conventional name, for records and messages.
pub fn signal_name(signal: usize) -> String {
    match signal as i32 {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        other => format!("signal {other}"),
    }
}
