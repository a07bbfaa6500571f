//! Trusted time (docs/FORMAT.md §15): each RFC 3161 token is checked
//! against the checkpoint signature it names, as read, and its genTime
//! against the checkpoint's own time. Tokens add findings and a
//! `timestamps` list; an archive without them verifies as before.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::findings::FindingKind;
use super::Verifier;
use crate::format::timestamp::{self, TimestampMember};
use crate::tsa::{self, TokenStatus};

/// Seconds a checkpoint's time and its token's genTime may differ without
/// a `clock-disagrees` warning, unless `--clock-tolerance` says otherwise.
pub const DEFAULT_CLOCK_TOLERANCE: u64 = 300;
/// Most bytes of a `.failed` record quoted in a finding.
const FAILED_QUOTED: usize = 500;

/// One token, or one record that a token could not be obtained.
#[derive(Clone, Debug, Serialize)]
pub struct TimestampReport {
    /// The checkpoint whose signature the token stamps.
    pub checkpoint: u64,
    /// Where it was read: `member` (`.custody/timestamp-NNNNNN.*`) or
    /// `frame` (the skippable frame after the archive, for the seal).
    pub source: &'static str,
    /// Tar offset of the member, for `member`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// `trusted`, `not-checked`, `untrusted`, `mismatch`, `invalid`, or
    /// `failed` (the collector recorded that it got no token).
    pub status: &'static str,
    /// The root it chains to, or why it is not trusted, or the recorded failure.
    pub detail: Option<String>,
    /// The TSA's time (genTime), RFC 3339.
    pub gen_time: Option<String>,
    /// The checkpoint's own `time`.
    pub checkpoint_time: Option<String>,
    /// The TSA: its certificate's subject.
    pub tsa: Option<String>,
    /// TSTInfo serial number, hex.
    pub serial: Option<String>,
    /// TSA policy OID.
    pub policy: Option<String>,
}

/// What the verifier keeps of each checkpoint for its token: the SHA-256
/// of its signature member as read, and its time.
#[derive(Clone, Debug, Default)]
pub(super) struct Signed {
    pub(super) sig_sha256: [u8; 32],
    pub(super) time: Option<String>,
}

impl Verifier<'_> {
    /// Remember checkpoint `seq`'s signature bytes (as read) for its token.
    pub(super) fn remember_signature(&mut self, seq: u64, sig: &[u8]) {
        self.signed.insert(
            seq,
            Signed {
                sig_sha256: Sha256::digest(sig).into(),
                time: None,
            },
        );
    }

    pub(super) fn remember_time(&mut self, seq: u64, time: &str) {
        if let Some(s) = self.signed.get_mut(&seq) {
            s.time = Some(time.to_string());
        }
    }

    /// A member at a timestamp path (§15), with its content when kept.
    pub(super) fn timestamp_member(&mut self, path: &[u8], offset: u64, content: Option<&[u8]>) {
        let Some((seq, kind)) = timestamp::parse_timestamp_path(path) else {
            return;
        };
        let content = content.unwrap_or_default();
        self.timestamp(seq, kind, content, "member", Some(offset), Some(path));
    }

    /// The skippable frames after the archive: the seal's token, if one is
    /// there and the seal was reached.
    pub(super) fn seal_timestamps(&mut self, payloads: &[Vec<u8>]) {
        if self.sealed.is_none() {
            return;
        }
        let seq = self.checkpoint_seq;
        for p in payloads {
            if let Some((kind, body)) = timestamp::parse_seal_payload(p) {
                self.timestamp(seq, kind, body, "frame", None, None);
            }
        }
    }

    fn timestamp(
        &mut self,
        seq: u64,
        kind: TimestampMember,
        body: &[u8],
        source: &'static str,
        offset: Option<u64>,
        member: Option<&[u8]>,
    ) {
        let signed = self.signed.get(&seq).cloned();
        let mut r = TimestampReport {
            checkpoint: seq,
            source,
            offset,
            status: "failed",
            detail: None,
            gen_time: None,
            checkpoint_time: signed.as_ref().and_then(|s| s.time.clone()),
            tsa: None,
            serial: None,
            policy: None,
        };
        let place = match offset {
            Some(o) => format!("the timestamp member at tar offset {o}"),
            None => "the seal's timestamp frame after the archive".to_string(),
        };
        if kind == TimestampMember::Failed {
            let text: String = String::from_utf8_lossy(body).chars().take(FAILED_QUOTED).collect();
            let msg = format!("checkpoint {seq} has no trusted timestamp: the collector recorded that the TSA failed ({text})");
            r.detail = Some(text);
            self.find(FindingKind::TimestampFailed, msg, member, offset, Some(seq));
            self.timestamps.push(r);
            return;
        }
        let Some(signed) = signed else {
            r.status = "mismatch";
            let msg = format!("{place} names checkpoint {seq}, whose signature was not read before it");
            r.detail = Some(msg.clone());
            self.find(FindingKind::TimestampMismatch, msg, member, offset, Some(seq));
            self.timestamps.push(r);
            return;
        };
        let report = tsa::check(body, &signed.sig_sha256, self.tsa_roots.as_ref());
        r.status = report.status.name();
        r.detail = report.status.detail().map(str::to_string);
        r.gen_time = report
            .gen_time
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
        r.tsa = report.tsa_name.clone();
        r.serial = report.serial.clone();
        r.policy = report.policy.clone();
        match &report.status {
            TokenStatus::Trusted { .. } | TokenStatus::NotChecked => {}
            TokenStatus::Untrusted { reason } => {
                let msg = format!("the timestamp of checkpoint {seq} is valid, but its TSA is not trusted: {reason}");
                self.find(FindingKind::TimestampUntrusted, msg, member, offset, Some(seq));
            }
            TokenStatus::Mismatch { reason } => {
                let msg = format!("{place} is not a timestamp of checkpoint {seq}'s signature: {reason}");
                self.find(FindingKind::TimestampMismatch, msg, member, offset, Some(seq));
            }
            TokenStatus::Invalid { reason } => {
                let msg = format!("{place} is not a valid timestamp: {reason}");
                self.find(FindingKind::TimestampInvalid, msg, member, offset, Some(seq));
            }
        }
        if matches!(
            report.status,
            TokenStatus::Trusted { .. } | TokenStatus::NotChecked | TokenStatus::Untrusted { .. }
        ) {
            self.compare_clocks(seq, signed.time.as_deref(), report.gen_time, member, offset);
        }
        self.timestamps.push(r);
    }

    /// The checkpoint's time against the TSA's, within the tolerance.
    fn compare_clocks(
        &mut self,
        seq: u64,
        time: Option<&str>,
        gen: Option<time::OffsetDateTime>,
        member: Option<&[u8]>,
        offset: Option<u64>,
    ) {
        let (Some(text), Some(gen)) = (time, gen) else { return };
        let Ok(cp) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) else {
            return;
        };
        let diff = (gen - cp).whole_seconds();
        if diff.unsigned_abs() <= self.clock_tolerance {
            return;
        }
        let gen_text = gen.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let how = if diff < 0 {
            format!(
                "the TSA stamped its signature {} s BEFORE the time the checkpoint states: the collector's clock ran ahead, or the checkpoint's time is false",
                -diff
            )
        } else {
            format!("the TSA stamped its signature {diff} s after the time the checkpoint states: the collector's clock ran behind, or the token was obtained late")
        };
        let msg = format!(
            "checkpoint {seq} states {text}, its timestamp says {gen_text}: {how} (tolerance {} s)",
            self.clock_tolerance
        );
        self.find(FindingKind::ClockDisagrees, msg, member, offset, Some(seq));
    }
}
