//! The report's figures, gathered while the archive is verified: a
//! [`MemberSink`] that keeps counts, histograms and a bounded table, never
//! the members themselves, so memory stays bounded whatever the archive.

use std::collections::BTreeMap;
use std::io;

use super::model::*;
use super::places::{area_of, PlaceMatcher};
use crate::custody_log::{LogEntry, LogReport, SignatureStatus};
use crate::format::doc::{HeaderDoc, MemberStatus};
use crate::format::tar::EntryKind;
use crate::format::CUSTODY_DIR;
use crate::verify::{Finding, FindingKind, Level, MemberMeta, MemberOutcome, MemberSink, Proof, Report, Verdict};

/// Buckets of the activity histogram.
pub const BUCKETS: usize = 60;
/// Rows kept in the persistence table.
pub const PERSISTENCE_ROWS: usize = 200;
/// Examples kept per reason for not collecting.
pub const EXAMPLES: usize = 10;
/// Distinct areas counted; members of further areas count under the area
/// `""` (shown as "other areas"), so hostile trees cannot grow the report.
pub const MAX_AREAS: usize = 64;
/// Findings rows kept.
pub const FINDING_ROWS: usize = 200;
/// The default window: this long up to the collection's start.
pub const DEFAULT_WINDOW_SECS: i64 = 30 * 86_400;
/// Largest header document read for the collection's start time.
const MAX_HEADER: usize = 1 << 20;

/// The window the activity figures cover, in seconds since the epoch:
/// `from` inclusive, `to` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWindow {
    /// Start.
    pub from: i64,
    /// End.
    pub to: i64,
}

impl TimeWindow {
    fn contains(&self, t: i64) -> bool {
        t >= self.from && t < self.to
    }
    fn bucket_seconds(&self) -> i64 {
        ((self.to - self.from) + BUCKETS as i64 - 1).max(BUCKETS as i64) / BUCKETS as i64
    }
    fn bucket(&self, t: i64) -> usize {
        (((t - self.from) / self.bucket_seconds()) as usize).min(BUCKETS - 1)
    }
}

/// How the report is made, besides the archive.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `en` or `ja`.
    pub language: String,
    /// Offset of the times the HTML shows, in seconds east of UTC.
    pub utc_offset: i32,
    /// When the report is made (seconds since the epoch).
    pub now: i64,
    /// `--window`, if given; else the default window.
    pub window: Option<TimeWindow>,
}

/// Members per bucket, and how many of them are not proven.
type Buckets = (Vec<u64>, Vec<u64>);

/// Gathers the report's figures from the verifier's members.
pub struct ReportBuilder {
    settings: Settings,
    window: Option<TimeWindow>,
    /// The header document's bytes while its member streams by.
    header: Option<Vec<u8>>,
    places: PlaceMatcher,
    members: u64,
    proven: u64,
    altered: u64,
    total: Tally,
    files: Tally,
    areas: BTreeMap<String, (Tally, Tally)>,
    not_collected: BTreeMap<&'static str, NotCollected>,
    series: BTreeMap<(String, &'static str), Buckets>,
    with_birth_time: u64,
    persistence: Persistence,
    /// Rows as found, with the time to sort them by; trimmed to the newest
    /// [`PERSISTENCE_ROWS`] whenever it doubles.
    rows: Vec<((i64, u32), PersistenceRow)>,
    /// Reads the archived logs for the intrusion clues.
    clues: crate::clues::ClueReader,
    /// Whether the clue reader is reading the current member.
    reading_clues: bool,
}

impl ReportBuilder {
    /// A builder for a report made with `settings`.
    pub fn new(settings: Settings) -> Self {
        ReportBuilder {
            window: settings.window,
            settings,
            header: None,
            places: PlaceMatcher::new(),
            members: 0,
            proven: 0,
            altered: 0,
            total: Tally::default(),
            files: Tally::default(),
            areas: BTreeMap::new(),
            not_collected: BTreeMap::new(),
            series: BTreeMap::new(),
            with_birth_time: 0,
            persistence: Persistence {
                limit: PERSISTENCE_ROWS,
                ..Persistence::default()
            },
            rows: Vec::new(),
            clues: crate::clues::ClueReader::new(),
            reading_clues: false,
        }
    }

    /// The member the clue reader was reading has ended.
    fn end_clues(&mut self) {
        if std::mem::take(&mut self.reading_clues) {
            self.clues.end();
        }
    }

    /// The window: as given, else the default once the header is read.
    fn window(&mut self) -> TimeWindow {
        if let Some(w) = self.window {
            return w;
        }
        let end = self.settings.now;
        let w = TimeWindow {
            from: end - DEFAULT_WINDOW_SECS,
            to: end,
        };
        self.window = Some(w);
        w
    }

    /// The header member is over: its start time ends the default window.
    fn header_read(&mut self) {
        let Some(bytes) = self.header.take() else { return };
        if self.window.is_some() {
            return;
        }
        let start = serde_json::from_slice::<HeaderDoc>(&bytes)
            .ok()
            .and_then(|h| crate::format::doc::rfc3339_secs(&h.start_time));
        // The window's end is exclusive: it takes in the second the
        // collection started, whose files were changed before it began.
        if let Some(start) = start {
            self.window = Some(TimeWindow {
                from: start + 1 - DEFAULT_WINDOW_SECS,
                to: start + 1,
            });
        }
    }

    fn member(&mut self, m: &MemberOutcome) {
        let custody = m.meta.path.starts_with(CUSTODY_DIR.as_bytes()) && m.entry.as_ref().is_none_or(|e| e.status == MemberStatus::Custody);
        if custody {
            return;
        }
        let proven = m.proof == Proof::Proven;
        self.members += 1;
        if proven {
            self.proven += 1;
        }
        if matches!(m.proof, Proof::Altered(_)) {
            self.altered += 1;
        }
        let is_file = m.meta.kind == EntryKind::File;
        let size = if is_file { m.meta.size } else { 0 };
        self.total.add(size, proven);
        let mut area = area_of(&m.meta.path);
        if !self.areas.contains_key(&area) && self.areas.len() >= MAX_AREAS {
            area = String::new();
        }
        let slot = self.areas.entry(area.clone()).or_default();
        slot.0.add(size, proven);
        if is_file {
            self.files.add(size, proven);
            slot.1.add(size, proven);
        }
        if let Some(e) = &m.entry {
            if let Some(reason) = status_reason(e.status, e.detail.as_deref()) {
                let detail = match &e.detail {
                    Some(d) => format!("{}: {d}", e.status.name()),
                    None => e.status.name().to_string(),
                };
                self.not_collected(reason, &m.meta.path, detail, proven);
            }
        }
        self.activity(m, &area, proven);
    }

    fn not_collected(&mut self, reason: &'static str, path: &[u8], detail: String, proven: bool) {
        let nc = self.not_collected.entry(reason).or_insert_with(|| NotCollected {
            reason: reason.into(),
            count: 0,
            unproven: 0,
            examples: Vec::new(),
        });
        nc.count += 1;
        if !proven {
            nc.unproven += 1;
        }
        if nc.examples.len() < EXAMPLES {
            nc.examples.push(NotCollectedExample {
                path: String::from_utf8_lossy(path).into_owned(),
                detail,
            });
        }
    }

    fn activity(&mut self, m: &MemberOutcome, area: &str, proven: bool) {
        let w = self.window();
        let btime = m
            .entry
            .as_ref()
            .and_then(|e| e.inode.as_ref())
            .and_then(|i| i.btime.as_deref())
            .and_then(pax_secs);
        if btime.is_some() {
            self.with_birth_time += 1;
        }
        let times = [
            ("mtime", Some((m.meta.mtime.secs, m.meta.mtime.nanos))),
            ("ctime", m.meta.ctime.map(|t| (t.secs, t.nanos))),
            ("btime", btime),
        ];
        let mut newest: Option<((i64, u32), &'static str)> = None;
        for (kind, t) in times {
            let Some(t) = t.filter(|t| w.contains(t.0)) else { continue };
            let (counts, unproven) = self
                .series
                .entry((area.to_string(), kind))
                .or_insert_with(|| (vec![0; BUCKETS], vec![0; BUCKETS]));
            let b = w.bucket(t.0);
            counts[b] += 1;
            if !proven {
                unproven[b] += 1;
            }
            if newest.is_none_or(|(n, _)| t > n) {
                newest = Some((t, kind));
            }
        }
        let (Some((changed, changed_kind)), Some(place)) = (newest, self.places.place_of(&m.meta.path)) else {
            return;
        };
        self.persistence.total += 1;
        self.persistence
            .by_place
            .entry(place.to_string())
            .or_default()
            .add(m.meta.size, proven);
        if !proven {
            self.persistence.unproven += 1;
        }
        let row = PersistenceRow {
            path: String::from_utf8_lossy(&m.meta.path).into_owned(),
            place: place.into(),
            changed: rfc3339(changed.0),
            changed_kind: changed_kind.into(),
            mtime: rfc3339(m.meta.mtime.secs),
            ctime: m.meta.ctime.map(|t| rfc3339(t.secs)),
            btime: btime.map(|t| rfc3339(t.0)),
            kind: m.meta.kind.name().into(),
            size: m.meta.size,
            owner: m.meta.uname.clone().unwrap_or_else(|| m.meta.uid.to_string()),
            mode: format!("{:o}", m.meta.mode & 0o7777),
            proof: proof_name(&m.proof).into(),
            status: m.entry.as_ref().map(|e| e.status.name().to_string()),
        };
        self.rows.push((changed, row));
        if self.rows.len() >= 2 * PERSISTENCE_ROWS {
            self.trim_rows();
        }
    }

    fn trim_rows(&mut self) {
        self.rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        self.rows.truncate(PERSISTENCE_ROWS);
    }

    /// The report, from the figures gathered and the verifier's answer.
    pub fn finish(mut self, report: &Report, log: Option<&LogReport>) -> ReportDoc {
        self.header_read();
        self.end_clues();
        let clues = serde_json::to_value(std::mem::take(&mut self.clues).finish()).ok();
        let window = self.window();
        let trusted = report.signer.as_ref().is_some_and(|s| s.trusted_as.is_some());
        for f in report.findings.iter().filter(|f| f.kind == FindingKind::CollectionSkip) {
            let proven = trusted && f.checkpoint.is_some_and(|c| c <= report.proven.checkpoints);
            let path = f.member.as_ref().map(|p| p.display()).unwrap_or_default();
            self.not_collected(skip_reason(&f.message), path.as_bytes(), f.message.clone(), proven);
        }
        self.trim_rows();
        self.persistence.rows = self.rows.into_iter().map(|(_, r)| r).collect();
        let mut areas: Vec<AreaCoverage> = self
            .areas
            .into_iter()
            .map(|(area, (members, files))| AreaCoverage { area, members, files })
            .collect();
        areas.sort_by(|a, b| b.members.bytes.cmp(&a.members.bytes).then(b.members.count.cmp(&a.members.count)));
        let series = self
            .series
            .into_iter()
            .map(|((area, kind), (counts, unproven))| Series {
                area,
                kind: kind.into(),
                counts,
                unproven,
            })
            .collect();
        let errors = report.findings.iter().filter(|f| f.level == Level::Error).count() as u64;
        let warnings = report.findings.iter().filter(|f| f.level == Level::Warning).count() as u64;
        let archive_findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.line.is_none() && f.level != Level::Info)
            .collect();
        ReportDoc {
            schema: SCHEMA.into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            generated: rfc3339(self.settings.now),
            language: self.settings.language.clone(),
            time_zone: offset_text(self.settings.utc_offset),
            verdict: VerdictSummary {
                verdict: report.verdict.name().into(),
                situation: situation(report).into(),
                exit_code: exit_code(report.verdict),
                sealed: report.sealed,
                checkpoints: report.proven.checkpoints,
                members: self.members,
                proven_members: self.proven,
                altered_members: self.altered,
                errors,
                warnings,
            },
            evidence: evidence(report),
            custody_log: log.map(custody_log),
            archive_timestamps: report
                .timestamps
                .iter()
                .map(|t| ArchiveTimestamp {
                    checkpoint: t.checkpoint,
                    status: t.status.into(),
                    trusted_time: t.gen_time.clone(),
                    tsa: t.tsa.clone(),
                })
                .collect(),
            coverage: Coverage {
                total: self.total,
                files: self.files,
                areas,
                not_collected: self.not_collected.into_values().collect(),
            },
            window: Window {
                from: rfc3339(window.from),
                to: rfc3339(window.to),
                default: self.settings.window.is_none(),
            },
            activity: Activity {
                bucket_seconds: window.bucket_seconds(),
                buckets: BUCKETS,
                series,
                with_birth_time: self.with_birth_time,
            },
            persistence: self.persistence,
            clues,
            findings: Findings {
                total: archive_findings.len() as u64,
                rows: archive_findings.into_iter().take(FINDING_ROWS).map(finding_row).collect(),
                limit: FINDING_ROWS,
            },
        }
    }
}

impl MemberSink for ReportBuilder {
    fn start(&mut self, meta: &MemberMeta) -> io::Result<()> {
        self.header_read();
        self.end_clues();
        if meta.kind == EntryKind::File && !meta.path.starts_with(CUSTODY_DIR.as_bytes()) {
            self.reading_clues = self.clues.begin(meta.index, &meta.path, meta.mtime.secs);
        }
        if meta.index == 0 && meta.path == format!("{CUSTODY_DIR}header.json").as_bytes() {
            self.header = Some(Vec::new());
        }
        Ok(())
    }

    fn data(&mut self, chunk: &[u8]) -> io::Result<()> {
        if self.reading_clues {
            self.clues.data(chunk);
        }
        if let Some(h) = &mut self.header {
            if h.len() + chunk.len() <= MAX_HEADER {
                h.extend_from_slice(chunk);
            }
        }
        Ok(())
    }

    fn segment(&mut self, members: &[MemberOutcome]) -> io::Result<()> {
        self.header_read();
        self.end_clues();
        for m in members {
            self.clues.settle(m.meta.index, m.proof == Proof::Proven);
            self.member(m);
        }
        Ok(())
    }
}

/// Why a member with this status was not collected whole, if it was not.
fn status_reason(status: MemberStatus, detail: Option<&str>) -> Option<&'static str> {
    Some(match status {
        MemberStatus::Unreadable if detail.is_some_and(is_permission) => "permission",
        MemberStatus::Unreadable => "other",
        MemberStatus::Vanished => "vanished",
        MemberStatus::Grew | MemberStatus::Shrank | MemberStatus::Changed => "changed-while-read",
        MemberStatus::ReadError | MemberStatus::Interrupted => "read-error",
        MemberStatus::OtherFilesystem => "other-filesystem",
        MemberStatus::Ok | MemberStatus::Socket | MemberStatus::Custody => return None,
    })
}

/// The reason class of an entry the walk skipped, from the reason the
/// collector signed (FORMAT.md §6: `skipped`).
fn skip_reason(message: &str) -> &'static str {
    if message.contains("excluded by --exclude") {
        "excluded"
    } else if message.contains("vanished") {
        "vanished"
    } else if is_permission(message) {
        "permission"
    } else {
        "other"
    }
}

/// Whether an OS error text is a denied permission (`EACCES`, `EPERM`).
fn is_permission(text: &str) -> bool {
    text.contains("ermission denied") || text.contains("os error 13") || text.contains("not permitted")
}

/// Whole seconds and nanoseconds of a pax decimal time (FORMAT.md §3.6).
pub(crate) fn pax_secs(text: &str) -> Option<(i64, u32)> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: i64 = whole.parse().ok()?;
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nanos: u32 = digits.parse().ok()?;
    if whole.starts_with('-') && nanos > 0 {
        Some((secs - 1, 1_000_000_000 - nanos))
    } else {
        Some((secs, nanos))
    }
}

/// `secs` as RFC 3339 UTC.
pub(crate) fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// `+HH:MM` for an offset in seconds.
pub(crate) fn offset_text(offset: i32) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, a % 3600 / 60)
}

fn proof_name(p: &Proof) -> &'static str {
    match p {
        Proof::Proven => "proven",
        Proof::MatchesListing => "matches-listing",
        Proof::Altered(_) => "altered",
        Proof::Unproven => "unproven",
    }
}

/// The exit code of a verdict (README.md, "Exit codes").
fn exit_code(v: Verdict) -> u8 {
    match v {
        Verdict::Verified => 0,
        Verdict::Incomplete => 10,
        Verdict::Untrusted => 11,
        Verdict::Tampered => 12,
    }
}

/// The finer situation behind a verdict, as `verify`'s headline tells it.
fn situation(r: &Report) -> &'static str {
    let errors = || r.findings.iter().filter(|f| f.level == Level::Error);
    match r.verdict {
        Verdict::Verified => "verified",
        Verdict::Incomplete => "incomplete",
        Verdict::Untrusted => "untrusted",
        Verdict::Tampered if errors().all(|f| f.line.is_some()) => "tampered-log",
        Verdict::Tampered if errors().all(|f| f.line.is_some() || f.kind == FindingKind::ArchiveDigestMismatch) => "tampered-file",
        Verdict::Tampered => "tampered-archive",
    }
}

fn evidence(r: &Report) -> Evidence {
    let mut e = Evidence {
        archive_id: r.archive_id.clone(),
        signer: r.signer.as_ref().map(|s| Signer {
            fingerprint: s.fingerprint.clone(),
            source: s.source.clone(),
            trusted_as: s.trusted_as.clone(),
        }),
        archive_sha256: r.input_sha256.clone().or_else(|| r.archive_file.as_ref().map(|f| f.sha256.clone())),
        archive_sha256_recorded: r.archive_file.as_ref().map(|f| RecordedDigest {
            expected: f.expected.clone(),
            source: serde_json::to_value(f.source)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            matches: f.matches,
        }),
        chain: r.proven.chain.clone(),
        collection_end: r.seal.as_ref().map(|s| s.end_time.clone()).or_else(|| r.proven.until.clone()),
        ..Evidence::default()
    };
    if let Some(h) = &r.header {
        e.case = h.case.case.clone();
        e.evidence_id = h.case.evidence_id.clone();
        e.examiner = h.case.examiner.clone();
        e.note = h.case.note.clone();
        e.hostname = h.host.hostname.clone();
        e.kernel = h.host.kernel.clone();
        e.machine = h.host.machine.clone();
        e.machine_id = h.host.machine_id.clone();
        e.collector_uid = Some(h.host.euid);
        e.sources = h.sources.iter().map(|s| s.display()).collect();
        e.excludes = h.parameters.excludes.clone();
        e.collection_start = Some(h.start_time.clone());
        e.collector_version = Some(h.tool.version.clone());
    }
    e
}

fn finding_row(f: &Finding) -> FindingRow {
    FindingRow {
        level: f.level.name().into(),
        kind: serde_json::to_value(f.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        message: f.message.clone(),
        member: f.member.as_ref().map(|m| m.display()),
        checkpoint: f.checkpoint,
        line: f.line,
    }
}

fn custody_log(log: &LogReport) -> CustodyLog {
    let records = log
        .records
        .iter()
        .map(|r| match r {
            LogEntry::Event(e) => CustodyRecord {
                line: e.line,
                record: "event".into(),
                kind: e.kind.clone(),
                time: e.time.clone(),
                actor: Some(e.actor.name.clone()),
                role: e.actor.role.clone(),
                organization: e.actor.organization.clone(),
                location: e.location.clone(),
                counterpart: e.counterpart.clone(),
                reason: e.reason.clone(),
                note: e.note.clone(),
                signature_valid: Some(e.signature == SignatureStatus::Valid),
                trusted_as: e.trusted_as.clone(),
                recorded_verdict: e.verification.as_ref().map(|v| v.verdict.clone()),
                timestamp_status: None,
                trusted_time: None,
                tsa: None,
            },
            LogEntry::Timestamp(t) => CustodyRecord {
                line: t.line,
                record: "timestamp".into(),
                kind: "timestamp".into(),
                time: t.time.clone(),
                actor: None,
                role: None,
                organization: None,
                location: None,
                counterpart: None,
                reason: None,
                note: None,
                signature_valid: None,
                trusted_as: None,
                recorded_verdict: None,
                timestamp_status: Some(t.status.into()),
                trusted_time: t.gen_time.clone(),
                tsa: t.tsa.clone().or_else(|| Some(t.url.clone())),
            },
        })
        .collect();
    let file = std::path::Path::new(&log.path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| log.path.clone());
    CustodyLog {
        file,
        intact: log.intact,
        head: log.head.clone(),
        records,
        findings: log.findings.iter().filter(|f| f.level != Level::Info).map(finding_row).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tar::Timestamp;
    use crate::verify::Proven;

    const FROM: i64 = 1_790_000_000;

    fn outcome(index: u64, path: &str, mtime: i64, proof: Proof) -> MemberOutcome {
        MemberOutcome {
            meta: MemberMeta {
                index,
                offset: 0,
                path: path.as_bytes().to_vec(),
                kind: EntryKind::File,
                size: 10,
                stored_size: 10,
                sparse: false,
                mode: 0o644,
                mtime: Timestamp { secs: mtime, nanos: 0 },
                linkpath: None,
                uid: 0,
                gid: 0,
                atime: None,
                ctime: None,
                uname: Some("root".into()),
                gname: None,
            },
            sha256: None,
            entry: None,
            proof,
        }
    }

    fn report() -> Report {
        Report {
            verdict: Verdict::Incomplete,
            archive_id: None,
            header: None,
            signer: None,
            sealed: false,
            seal: None,
            proven: Proven::default(),
            unproven_tar_bytes: 0,
            unproven_members: 0,
            archive_file: None,
            input_sha256: None,
            findings: Vec::new(),
            timestamps: Vec::new(),
        }
    }

    #[test]
    fn figures_count_areas_window_places_and_what_is_unproven() {
        let mut b = ReportBuilder::new(Settings {
            language: "en".into(),
            utc_offset: 0,
            now: FROM + 100 * 86_400,
            window: Some(TimeWindow {
                from: FROM,
                to: FROM + 60 * 86_400,
            }),
        });
        let members = [
            outcome(1, "etc/hostname", FROM + 10, Proof::Proven),
            outcome(2, "etc/cron.d/job", FROM + 86_400, Proof::Proven),
            outcome(3, "home/a/.ssh/authorized_keys", FROM + 2 * 86_400, Proof::Unproven),
            // Outside the window: counted in coverage, not in activity or places.
            outcome(4, "etc/passwd", FROM - 1, Proof::Proven),
            outcome(5, "var/log/syslog", FROM + 59 * 86_400, Proof::Altered("x".into())),
            // Custody members are not evidence.
            outcome(6, ".custody/checkpoint-000001.json", FROM, Proof::Proven),
        ];
        b.segment(&members).unwrap();
        let doc = b.finish(&report(), None);
        assert_eq!(doc.verdict.members, 5);
        assert_eq!(doc.verdict.proven_members, 3);
        assert_eq!(doc.verdict.altered_members, 1);
        assert_eq!(
            doc.coverage.total,
            Tally {
                count: 5,
                bytes: 50,
                unproven: 2
            }
        );
        let area = |a: &str| doc.coverage.areas.iter().find(|x| x.area == a).unwrap().members;
        assert_eq!(area("etc").count, 3);
        assert_eq!(area("etc").unproven, 0);
        assert_eq!(area("var/log").unproven, 1);
        assert_eq!(area("home").unproven, 1);
        // 60 buckets of one day: the times fall in buckets 0, 1, 2 and 59.
        assert_eq!(doc.activity.bucket_seconds, 86_400);
        let etc = doc.activity.series.iter().find(|s| s.area == "etc" && s.kind == "mtime").unwrap();
        assert_eq!((etc.counts[0], etc.counts[1], etc.counts.iter().sum::<u64>()), (1, 1, 2));
        let log = doc.activity.series.iter().find(|s| s.area == "var/log").unwrap();
        assert_eq!((log.counts[59], log.unproven[59]), (1, 1));
        // Places: the cron job and the key file, newest first; the key file unproven.
        let rows: Vec<(&str, &str, &str)> = doc
            .persistence
            .rows
            .iter()
            .map(|r| (r.path.as_str(), r.place.as_str(), r.proof.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                ("home/a/.ssh/authorized_keys", "ssh-keys", "unproven"),
                ("etc/cron.d/job", "cron", "proven")
            ]
        );
        assert_eq!((doc.persistence.total, doc.persistence.unproven), (2, 1));
        // The JSON reads back as the same document.
        let again: ReportDoc = serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap();
        assert_eq!(again, doc);
    }

    #[test]
    fn pax_times_round_down() {
        assert_eq!(pax_secs("1700000000.000000005"), Some((1_700_000_000, 5)));
        assert_eq!(pax_secs("-2.750000000"), Some((-3, 250_000_000)));
        assert_eq!(pax_secs("12"), Some((12, 0)));
        assert_eq!(pax_secs("x"), None);
    }
}
