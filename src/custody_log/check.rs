//! Checking a custody log: every line a record, every record linked to the
//! line before it, every event signed, about this archive, and trusted or
//! not; every timestamp over the line before it.

use serde::Serialize;
use sha2::{Digest, Sha256};
use ssh_key::{PublicKey, SshSig};
use time::format_description::well_known::Rfc3339;

use super::record::{line_digest, parse_line, Actor, ArchiveRef, Event, EventKind, Record, TimestampRecord, Verification};
use super::{LOG_NAMESPACE, MAX_LINE};
use crate::signer::{self, TrustAnchors};
use crate::tsa::{self, Roots, TokenStatus};
use crate::verify::{Finding, FindingKind, Level, DEFAULT_CLOCK_TOLERANCE};

/// What the log is checked against.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogCheck<'a> {
    /// The archive's id, as its verified header gives it.
    pub archive_id: Option<&'a str>,
    /// The chain value the archive's verification proved last.
    pub chain: Option<&'a str>,
    /// Whether the archive verified to its end: then an event naming
    /// another final chain value is about another archive.
    pub archive_complete: bool,
    /// SHA-256 (hex) of the archive file as read now, when known.
    pub archive_sha256: Option<&'a str>,
    /// The keys trusted to sign log events.
    pub trust: Option<&'a TrustAnchors>,
    /// Roots of the time-stamping authorities trusted (`--tsa-ca`).
    pub tsa_roots: Option<&'a Roots>,
    /// Seconds a timestamp record's stated time and its token's genTime may
    /// differ; `None` for [`DEFAULT_CLOCK_TOLERANCE`].
    pub clock_tolerance: Option<u64>,
}

/// Whether an event's signature verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureStatus {
    /// It verifies, by the key the event names.
    Valid,
    /// It does not (the finding says why).
    Invalid,
}

/// One event as checked.
#[derive(Clone, Debug, Serialize)]
pub struct EventReport {
    /// Line number (from 1).
    pub line: u64,
    /// The record's `seq`.
    pub seq: u64,
    /// Event kind.
    pub kind: String,
    /// The recorder's time.
    pub time: String,
    /// Who.
    pub actor: Actor,
    /// `SHA256:` fingerprint of the key that signed it.
    pub key: String,
    /// Whether the signature verified.
    pub signature: SignatureStatus,
    /// Under which name the key is trusted, if it is.
    pub trusted_as: Option<String>,
    /// Where.
    pub location: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The other party.
    pub counterpart: Option<String>,
    /// The archive file's SHA-256 as the actor computed it.
    pub archive_sha256: String,
    /// Whether that is the SHA-256 of the file checked now (when known).
    pub archive_sha256_matches: Option<bool>,
    /// The verdict the actor saw.
    pub verification: Option<Verification>,
    /// Free text.
    pub note: Option<String>,
    /// SHA-256 of the whole line: what the next record names.
    pub digest: String,
}

/// One timestamp record as checked.
#[derive(Clone, Debug, Serialize)]
pub struct TimestampReport {
    /// Line number (from 1).
    pub line: u64,
    /// The record's `seq`.
    pub seq: u64,
    /// The line whose SHA-256 the token stamps (the one before).
    pub stamps_line: u64,
    /// The requester's clock, as the record states it (not signed).
    pub time: String,
    /// The authority's URL, as the record states it (not signed).
    pub url: String,
    /// `trusted`, `not-checked`, `untrusted`, `mismatch` or `invalid`.
    pub status: &'static str,
    /// The root it chains to, or why it is not trusted or not valid.
    pub detail: Option<String>,
    /// The TSA's time (genTime), RFC 3339: when the line before existed.
    pub gen_time: Option<String>,
    /// The TSA: its certificate's subject.
    pub tsa: Option<String>,
    /// TSTInfo serial number, hex.
    pub serial: Option<String>,
    /// SHA-256 of the whole line.
    pub digest: String,
}

/// One record of the log as checked.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "record", rename_all = "lowercase")]
pub enum LogEntry {
    /// An event.
    Event(Box<EventReport>),
    /// A timestamp over the line before it.
    Timestamp(TimestampReport),
}

/// The log as checked.
#[derive(Clone, Debug, Serialize)]
pub struct LogReport {
    /// The file, for people.
    pub path: String,
    /// Complete lines read.
    pub lines: u64,
    /// The records that could be read, in log order.
    pub records: Vec<LogEntry>,
    /// SHA-256 of the last complete line: the "last event digest" to write
    /// on the custody form, which shows later that nothing was cut from
    /// the log's end.
    pub head: Option<String>,
    /// The archive the log's first event names.
    pub archive: Option<ArchiveRef>,
    /// Whether no error was found.
    pub intact: bool,
    /// What was found, in log order.
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

impl LogReport {
    /// The events, in log order.
    pub fn events(&self) -> impl Iterator<Item = &EventReport> {
        self.records.iter().filter_map(|r| match r {
            LogEntry::Event(e) => Some(&**e),
            LogEntry::Timestamp(_) => None,
        })
    }
}

/// Check the log `bytes` read from `path`.
pub fn check(path: &str, bytes: &[u8], against: &LogCheck) -> LogReport {
    let mut c = Checker {
        against,
        findings: Vec::new(),
        records: Vec::new(),
        first_archive: None,
    };
    let mut prev_line: Option<&[u8]> = None;
    let mut expected_seq = 1;
    let mut lines = 0;
    let mut rest = bytes;
    while !rest.is_empty() {
        let lineno = lines + 1;
        let Some(end) = memchr::memchr(b'\n', rest) else {
            let msg = format!(
                "line {lineno} is cut short ({} bytes with no final newline): an append was interrupted or the file was truncated. It is not read as a record; the records before it stand",
                rest.len()
            );
            c.find(FindingKind::LogTruncated, lineno, msg);
            break;
        };
        let line = &rest[..=end];
        rest = &rest[end + 1..];
        lines = lineno;
        let digest = line_digest(line);
        let body = &line[..end];
        let parsed = if body.len() > MAX_LINE {
            Err(format!(
                "it is {} bytes long, more than the {MAX_LINE} a record may have",
                body.len()
            ))
        } else {
            parse_line(body)
        };
        match parsed {
            Err(why) => {
                let msg = format!("line {lineno} is not a custody log record: {why}");
                c.find(FindingKind::LogMalformed, lineno, msg);
                expected_seq += 1;
            }
            Ok(p) => {
                let seq = p.record.seq();
                c.check_link(lineno, seq, expected_seq, p.record.prev(), prev_line);
                expected_seq = seq.saturating_add(1);
                match p.record {
                    Record::Event(e) => c.check_event(lineno, &e, &p.message, &p.proof, digest.clone()),
                    Record::Timestamp(t) => c.check_timestamp(lineno, &t, &p.proof, prev_line, digest.clone()),
                }
            }
        }
        prev_line = Some(line);
    }
    if lines == 0 && c.findings.is_empty() {
        // As if every line were cut from its end: nothing to check, and
        // nothing that says what was there.
        let msg = "the custody log is empty: it holds no record (a log whose every line was cut looks the same)".into();
        c.find(FindingKind::LogTruncated, 1, msg);
    }
    let intact = !c.findings.iter().any(|f| f.level == Level::Error);
    LogReport {
        path: path.to_owned(),
        lines,
        records: c.records,
        head: prev_line.map(line_digest),
        archive: c.first_archive,
        intact,
        findings: c.findings,
    }
}

struct Checker<'a> {
    against: &'a LogCheck<'a>,
    findings: Vec<Finding>,
    records: Vec<LogEntry>,
    first_archive: Option<ArchiveRef>,
}

impl Checker<'_> {
    fn find(&mut self, kind: FindingKind, line: u64, message: String) {
        self.findings.push(Finding::log(kind, Some(line), message));
    }

    fn check_link(&mut self, line: u64, seq: u64, expected_seq: u64, prev: Option<&str>, prev_line: Option<&[u8]>) {
        if seq != expected_seq {
            let msg =
                format!("line {line} holds record {seq} where record {expected_seq} is due: records were removed, inserted or reordered");
            self.find(FindingKind::LogLinkBroken, line, msg);
        }
        let msg = match (prev, prev_line) {
            (None, None) => return,
            (Some(p), Some(l)) if p == line_digest(l) => return,
            (Some(p), Some(l)) => format!(
                "line {line} does not follow line {}: it names the previous line's SHA-256 as {p}, but that line hashes to {}. A record was edited, removed or reordered",
                line - 1,
                line_digest(l)
            ),
            (None, Some(_)) => format!("line {line} says it is the log's first record, but it follows line {}", line - 1),
            (Some(_), None) => {
                format!("line {line}, the first line, names a record before it: the beginning of the log was removed")
            }
        };
        self.find(FindingKind::LogLinkBroken, line, msg);
    }

    fn check_event(&mut self, line: u64, e: &Event, message: &[u8], proof: &[u8], digest: String) {
        if EventKind::parse(&e.kind).is_none() {
            let msg = format!(
                "line {line}: event kind {:?} is not one this custody knows ({})",
                e.kind,
                EventKind::names()
            );
            self.find(FindingKind::LogMalformed, line, msg);
        }
        if crate::format::doc::rfc3339_secs(&e.time).is_none() {
            self.find(
                FindingKind::LogMalformed,
                line,
                format!("line {line}: the time {:?} is not an RFC 3339 time", e.time),
            );
        }
        if e.actor.name.trim().is_empty() {
            self.find(FindingKind::LogMalformed, line, format!("line {line}: the event names no actor"));
        }
        self.check_archive(line, &e.archive);
        let (signature, key) = match self.check_signature(e, message, proof) {
            Ok(key) => (SignatureStatus::Valid, Some(key)),
            Err(why) => {
                self.find(
                    FindingKind::LogBadSignature,
                    line,
                    format!("line {line}: the {} event's signature is not valid: {why}", e.kind),
                );
                (SignatureStatus::Invalid, None)
            }
        };
        let trust = self.against.trust;
        let trusted_as = key.as_ref().and_then(|k| trust.and_then(|t| t.principal_for(k)));
        if signature == SignatureStatus::Valid && trusted_as.is_none() {
            let msg = if trust.is_none_or(TrustAnchors::is_empty) {
                format!(
                    "line {line}: the {} event by {} is signed by {}, but no trusted key was given for the log: pass --key, --allowed-signers or --fingerprint",
                    e.kind, e.actor.name, e.key
                )
            } else {
                format!(
                    "line {line}: the {} event by {} is signed by {}, which is not among the trusted keys",
                    e.kind, e.actor.name, e.key
                )
            };
            self.find(FindingKind::LogUntrustedSigner, line, msg);
        }
        let archive_sha256_matches = self.against.archive_sha256.map(|now| now == e.archive_sha256);
        if archive_sha256_matches == Some(false) {
            let msg = format!(
                "line {line}: {} recorded the archive file's SHA-256 as {}, but the file checked now has {}: it is not byte for byte the file they held (a recompression or another copy changes it; the chain value still ties both to the same evidence)",
                e.actor.name,
                e.archive_sha256,
                self.against.archive_sha256.unwrap_or_default()
            );
            self.find(FindingKind::LogArchiveDigestDiffers, line, msg);
        }
        self.records.push(LogEntry::Event(Box::new(EventReport {
            line,
            seq: e.seq,
            kind: e.kind.clone(),
            time: e.time.clone(),
            actor: e.actor.clone(),
            key: e.key.clone(),
            signature,
            trusted_as,
            location: e.location.clone(),
            reason: e.reason.clone(),
            counterpart: e.counterpart.clone(),
            archive_sha256: e.archive_sha256.clone(),
            archive_sha256_matches,
            verification: e.verification.clone(),
            note: e.note.clone(),
            digest,
        })));
    }

    /// The event's key, when its signature verifies.
    fn check_signature(&self, e: &Event, message: &[u8], proof: &[u8]) -> Result<PublicKey, String> {
        use ssh_encoding::{Decode, Encode};
        let sig = SshSig::decode(&mut &proof[..]).map_err(|e| format!("it is not an SSHSIG signature ({e})"))?;
        // Nothing may change around a valid signature: the blob must be the
        // one encoding of what was parsed.
        let mut again = Vec::new();
        if sig.encode(&mut again).is_err() || again != proof {
            return Err("it is not in canonical form (bytes altered around a signature)".into());
        }
        let key = PublicKey::from(sig.public_key().clone());
        let fp = signer::fingerprint(&key);
        if fp != e.key {
            return Err(format!("it was made by {fp}, but the event names the key {}", e.key));
        }
        signer::verify_parsed(&sig, LOG_NAMESPACE, &key, message)?;
        Ok(key)
    }

    fn check_archive(&mut self, line: u64, a: &ArchiveRef) {
        if let Some(first) = &self.first_archive {
            if first != a {
                let msg = format!(
                    "line {line} is about archive {} (chain {}), but the log's first event is about archive {} (chain {}): records of two logs were spliced",
                    a.id, a.chain, first.id, first.chain
                );
                self.find(FindingKind::LogOtherArchive, line, msg);
            }
            return;
        }
        // Later events are compared with the first; the first with the
        // archive, when one was verified.
        self.first_archive = Some(a.clone());
        let Some(id) = self.against.archive_id else {
            return;
        };
        {
            if id != a.id {
                let msg = format!(
                    "line {line} is about archive {}, but this archive's id is {id}: the log belongs to another archive",
                    a.id
                );
                self.find(FindingKind::LogOtherArchive, line, msg);
                return;
            }
        }
        match self.against.chain {
            Some(chain) if chain == a.chain => {}
            Some(chain) if self.against.archive_complete => {
                let msg = format!(
                    "line {line} names the final chain value {}, but this archive's is {chain}: the log belongs to another collection",
                    a.chain
                );
                self.find(FindingKind::LogOtherArchive, line, msg);
            }
            _ => {
                let msg = format!(
                    "line {line} names the final chain value {}, which this copy of the archive does not prove (it is incomplete or damaged)",
                    a.chain
                );
                self.find(FindingKind::LogChainNotProven, line, msg);
            }
        }
    }

    fn check_timestamp(&mut self, line: u64, t: &TimestampRecord, token: &[u8], prev_line: Option<&[u8]>, digest: String) {
        let mut r = TimestampReport {
            line,
            seq: t.seq,
            stamps_line: line - 1,
            time: t.time.clone(),
            url: t.tsa.clone(),
            status: "invalid",
            detail: None,
            gen_time: None,
            tsa: None,
            serial: None,
            digest,
        };
        let Some(prev) = prev_line else {
            // The link check has said that the line is out of place.
            r.detail = Some("the first line of a log has no line before it to stamp".into());
            self.records.push(LogEntry::Timestamp(r));
            return;
        };
        let imprint: [u8; 32] = Sha256::digest(prev).into();
        let report = tsa::check(token, &imprint, self.against.tsa_roots);
        r.status = report.status.name();
        r.detail = report.status.detail().map(str::to_string);
        r.gen_time = report.gen_time.and_then(|g| g.format(&Rfc3339).ok());
        r.tsa = report.tsa_name.clone();
        r.serial = report.serial.clone();
        match &report.status {
            TokenStatus::Trusted { .. } | TokenStatus::NotChecked => {}
            TokenStatus::Untrusted { reason } => {
                let msg = format!(
                    "line {line}: the timestamp of line {} is valid, but its TSA is not trusted: {reason}",
                    line - 1
                );
                self.find(FindingKind::TimestampUntrusted, line, msg);
            }
            TokenStatus::Mismatch { reason } => {
                let msg = format!("line {line} is not a timestamp of line {}: {reason}", line - 1);
                self.find(FindingKind::TimestampMismatch, line, msg);
            }
            TokenStatus::Invalid { reason } => {
                let msg = format!("line {line} holds no valid timestamp: {reason}");
                self.find(FindingKind::TimestampInvalid, line, msg);
            }
        }
        if let (Some(gen), Some(stated)) = (report.gen_time, time::OffsetDateTime::parse(&t.time, &Rfc3339).ok()) {
            let tolerance = self.against.clock_tolerance.unwrap_or(DEFAULT_CLOCK_TOLERANCE);
            let diff = (gen - stated).whole_seconds();
            if matches!(
                report.status,
                TokenStatus::Trusted { .. } | TokenStatus::NotChecked | TokenStatus::Untrusted { .. }
            ) && diff.unsigned_abs() > tolerance
            {
                let msg = format!(
                    "line {line}: the requester's clock said {} when it asked for the timestamp, the TSA says {}: {} s apart (tolerance {tolerance} s). The recorder's clock is wrong, or the record's time is false; the TSA's time is the one to rely on",
                    t.time,
                    r.gen_time.as_deref().unwrap_or("?"),
                    diff.unsigned_abs()
                );
                self.find(FindingKind::ClockDisagrees, line, msg);
            }
        }
        self.records.push(LogEntry::Timestamp(r));
    }
}
