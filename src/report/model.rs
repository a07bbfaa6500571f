//! The report's data: what `custody report --json` writes, and what the
//! HTML shows. The JSON schema is this module (docs/REPORT.md, "Schema").
//!
//! Every figure that counts members carries `unproven`: how many of them no
//! verified checkpoint signed by a trusted key proves. A reader can rely on
//! a figure whose `unproven` is 0; the HTML marks the others.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The value of [`ReportDoc::schema`].
pub const SCHEMA: &str = "custody-report/1";

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportDoc {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The custody version that wrote it.
    pub tool_version: String,
    /// When the report was made (RFC 3339, UTC).
    pub generated: String,
    /// Language of the HTML: `en` or `ja`.
    pub language: String,
    /// The offset the HTML shows times in, `+HH:MM` (JSON times are UTC).
    pub time_zone: String,
    /// The verdict and what it means.
    pub verdict: VerdictSummary,
    /// What goes on the custody form.
    pub evidence: Evidence,
    /// The custody log, when the archive has one.
    pub custody_log: Option<CustodyLog>,
    /// The archive's own trusted-time tokens (FORMAT.md §15).
    pub archive_timestamps: Vec<ArchiveTimestamp>,
    /// What was collected and what was not.
    pub coverage: Coverage,
    /// The time window of the activity figures.
    pub window: Window,
    /// File times over the window, by area.
    pub activity: Activity,
    /// Files changed in the window where intruders persist or hide.
    pub persistence: Persistence,
    /// The intrusion path's first clues read from the archived logs
    /// (docs/REPORT.md, "Intrusion clues"): leads, not conclusions.
    pub clues: Option<serde_json::Value>,
    /// The verifier's errors and warnings (informational findings are in
    /// `coverage`).
    pub findings: Findings,
}

/// The verdict, as `verify` gives it, and the finer situation the report
/// explains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerdictSummary {
    /// `verified`, `incomplete`, `untrusted` or `tampered`.
    pub verdict: String,
    /// `verified`, `incomplete`, `untrusted`, `tampered-archive`,
    /// `tampered-file` (the archive file is not the one recorded) or
    /// `tampered-log` (the archive is intact, its custody log is not).
    pub situation: String,
    /// The exit code `verify` and `report` give for it.
    pub exit_code: u8,
    /// Whether the seal was reached and verified.
    pub sealed: bool,
    /// Checkpoints verified, in sequence from 1.
    pub checkpoints: u64,
    /// Evidence members read.
    pub members: u64,
    /// Of them, proven by a verified checkpoint signed by a trusted key.
    pub proven_members: u64,
    /// Of them, differing from what was signed or never listed.
    pub altered_members: u64,
    /// Errors among the findings.
    pub errors: u64,
    /// Warnings among the findings.
    pub warnings: u64,
}

/// What goes on the custody form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Archive id.
    pub archive_id: Option<String>,
    /// Case reference.
    pub case: Option<String>,
    /// Evidence item id.
    pub evidence_id: Option<String>,
    /// Examiner.
    pub examiner: Option<String>,
    /// Free-form note.
    pub note: Option<String>,
    /// Host name.
    pub hostname: Option<String>,
    /// Kernel.
    pub kernel: Option<String>,
    /// Machine architecture.
    pub machine: Option<String>,
    /// `/etc/machine-id`.
    pub machine_id: Option<String>,
    /// Effective uid of the collector.
    pub collector_uid: Option<u32>,
    /// Sources collected (display form).
    pub sources: Vec<String>,
    /// `--exclude` patterns.
    pub excludes: Vec<String>,
    /// When the collection started (RFC 3339).
    pub collection_start: Option<String>,
    /// When it ended: the seal's time, else the last verified checkpoint's.
    pub collection_end: Option<String>,
    /// The custody version that collected it.
    pub collector_version: Option<String>,
    /// Who signed.
    pub signer: Option<Signer>,
    /// SHA-256 of the archive file as read.
    pub archive_sha256: Option<String>,
    /// The SHA-256 recorded for it (sidecar or option) and whether it matches.
    pub archive_sha256_recorded: Option<RecordedDigest>,
    /// The chain's final value (after the last verified checkpoint).
    pub chain: Option<String>,
}

/// The signer and how it is trusted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signer {
    /// `SHA256:` fingerprint.
    pub fingerprint: String,
    /// `file`, `agent` or `ephemeral`.
    pub source: String,
    /// The trust anchor that names it, if one does.
    pub trusted_as: Option<String>,
}

/// The archive file's digest as recorded elsewhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedDigest {
    /// The recorded SHA-256.
    pub expected: String,
    /// `sidecar` or `option`.
    pub source: String,
    /// Whether the file's digest equals it.
    pub matches: bool,
}

/// The custody log as checked against the archive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustodyLog {
    /// Its file name (not the full path).
    pub file: String,
    /// Whether no error was found in it.
    pub intact: bool,
    /// SHA-256 of its last line (the "last event digest" of the custody form).
    pub head: Option<String>,
    /// Its records in log order.
    pub records: Vec<CustodyRecord>,
    /// Its findings (errors and warnings).
    pub findings: Vec<FindingRow>,
}

/// One record of the custody log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustodyRecord {
    /// Line in the log, from 1.
    pub line: u64,
    /// `event` or `timestamp`.
    pub record: String,
    /// The event kind (`acquired`, `transferred`, ...); `timestamp` for a
    /// timestamp record.
    pub kind: String,
    /// The time the record states (RFC 3339).
    pub time: String,
    /// Who recorded the event.
    pub actor: Option<String>,
    /// Their role.
    pub role: Option<String>,
    /// Their organisation.
    pub organization: Option<String>,
    /// Where the evidence was.
    pub location: Option<String>,
    /// The other party.
    pub counterpart: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Free text.
    pub note: Option<String>,
    /// For an event: whether its signature verifies.
    pub signature_valid: Option<bool>,
    /// For an event: the trust anchor naming its key, if one does.
    pub trusted_as: Option<String>,
    /// For a `verified` event: the verdict it recorded.
    pub recorded_verdict: Option<String>,
    /// For a timestamp: `trusted`, `not-checked`, `untrusted`, ... (as the
    /// custody log's check names it).
    pub timestamp_status: Option<String>,
    /// For a timestamp: the TSA's time (RFC 3339).
    pub trusted_time: Option<String>,
    /// For a timestamp: the TSA.
    pub tsa: Option<String>,
}

/// One of the archive's own trusted-time tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchiveTimestamp {
    /// The checkpoint it stamps.
    pub checkpoint: u64,
    /// `trusted`, `not-checked`, `untrusted`, `mismatch`, `invalid` or `failed`.
    pub status: String,
    /// The TSA's time (RFC 3339).
    pub trusted_time: Option<String>,
    /// The TSA.
    pub tsa: Option<String>,
}

/// A count of members with the number of them that are not proven.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Members counted.
    pub count: u64,
    /// Content bytes of them.
    pub bytes: u64,
    /// Of them, not proven (the figure rests on them).
    pub unproven: u64,
}

impl Tally {
    /// Count one member of `bytes` bytes.
    pub fn add(&mut self, bytes: u64, proven: bool) {
        self.count += 1;
        self.bytes += bytes;
        if !proven {
            self.unproven += 1;
        }
    }
}

/// What was collected and what was not.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Every evidence member.
    pub total: Tally,
    /// Regular files among them.
    pub files: Tally,
    /// By area (docs/REPORT.md, "Areas"), largest first.
    pub areas: Vec<AreaCoverage>,
    /// What was not collected, or not whole, by reason.
    pub not_collected: Vec<NotCollected>,
}

/// One area's members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AreaCoverage {
    /// The area, e.g. `etc` or `var/log`.
    pub area: String,
    /// Its members.
    pub members: Tally,
    /// Regular files among them.
    pub files: Tally,
}

/// Members or entries of one reason for not being collected whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotCollected {
    /// `permission`, `vanished`, `excluded`, `other-filesystem`,
    /// `changed-while-read`, `read-error` or `other`.
    pub reason: String,
    /// How many.
    pub count: u64,
    /// Of them, not proven.
    pub unproven: u64,
    /// The first few, in stream order.
    pub examples: Vec<NotCollectedExample>,
}

/// One example of [`NotCollected`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotCollectedExample {
    /// The archive path (lossy UTF-8 for non-UTF-8 names).
    pub path: String,
    /// The recorded status or skip reason, as the collector wrote it.
    pub detail: String,
}

/// The window of the activity figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Start (RFC 3339, UTC), inclusive.
    pub from: String,
    /// End (RFC 3339, UTC), exclusive.
    pub to: String,
    /// Whether it is the default: the 30 days up to the collection's start.
    pub default: bool,
}

/// File times over the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// Length of one bucket in seconds; bucket `i` starts at
    /// `window.from + i * bucket_seconds`.
    pub bucket_seconds: i64,
    /// Number of buckets.
    pub buckets: usize,
    /// One series per area and time kind that has a time in the window.
    pub series: Vec<Series>,
    /// Members whose birth time the kernel reported.
    pub with_birth_time: u64,
}

/// Counts of one time kind of one area's members, per bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The area.
    pub area: String,
    /// `mtime` (content modified), `ctime` (inode changed) or `btime` (born).
    pub kind: String,
    /// Members per bucket.
    pub counts: Vec<u64>,
    /// Of them, not proven, per bucket.
    pub unproven: Vec<u64>,
}

/// Files changed in the window in persistence and hiding places.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Persistence {
    /// How many members matched (the table holds at most [`Persistence::limit`]).
    pub total: u64,
    /// Of them, not proven.
    pub unproven: u64,
    /// Most rows kept.
    pub limit: usize,
    /// Matches by place.
    pub by_place: BTreeMap<String, Tally>,
    /// The newest `limit` of them, newest first.
    pub rows: Vec<PersistenceRow>,
}

/// One file in a persistence or hiding place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersistenceRow {
    /// The archive path (lossy UTF-8 for non-UTF-8 names).
    pub path: String,
    /// The place (docs/REPORT.md, "Persistence places").
    pub place: String,
    /// The newest of its times in the window (RFC 3339, UTC).
    pub changed: String,
    /// Which time that is: `mtime`, `ctime` or `btime`.
    pub changed_kind: String,
    /// Modification time (RFC 3339, UTC).
    pub mtime: String,
    /// Change time, when recorded.
    pub ctime: Option<String>,
    /// Birth time, when recorded.
    pub btime: Option<String>,
    /// Member type (`file`, `dir`, `symlink`, ...).
    pub kind: String,
    /// Content size.
    pub size: u64,
    /// Owner name (or uid).
    pub owner: String,
    /// Mode bits, octal.
    pub mode: String,
    /// `proven`, `matches-listing`, `altered` or `unproven`.
    pub proof: String,
    /// The collection status (`ok`, `changed`, ...), when listed.
    pub status: Option<String>,
}

/// The verifier's errors and warnings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Findings {
    /// Errors and warnings, in stream order (at most [`Findings::limit`]).
    pub rows: Vec<FindingRow>,
    /// How many there were in all.
    pub total: u64,
    /// Most rows kept.
    pub limit: usize,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FindingRow {
    /// `error` or `warning`.
    pub level: String,
    /// The finding kind (FORMAT.md §10.3).
    pub kind: String,
    /// The verifier's message (English).
    pub message: String,
    /// The member involved.
    pub member: Option<String>,
    /// The checkpoint whose segment holds it.
    pub checkpoint: Option<u64>,
    /// The custody log's line.
    pub line: Option<u64>,
}
