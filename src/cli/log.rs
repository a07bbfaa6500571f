//! `custody log add|show`, the custody log's part of `verify`, and the
//! `acquired` event `collect` writes.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};

use custody::custody_log::{
    self, Actor, ArchiveRef, EventKind, LogCheck, LogEntry, LogFile, LogReport, NewEvent, SignatureStatus, Verification,
};
use custody::signer::{Signer, TrustAnchors};
use custody::tsa;
use custody::verify::{self, Level, Report, VerifyOptions};

use crate::{exit, load_signer, open_input, trust_anchors_for, SigningArgs, TimeArgs, TrustArgs};

#[derive(Subcommand)]
pub(crate) enum LogCommand {
    /// Sign and append an event to ARCHIVE.custody (made if missing).
    Add(Box<AddArgs>),
    /// Show the custody log's events: who, when, what, signature and trust.
    Show {
        /// The archive whose log (ARCHIVE.custody) to show.
        archive: PathBuf,
        /// The log file, if not ARCHIVE.custody.
        #[arg(long, value_name = "FILE")]
        custody_log: Option<PathBuf>,
        #[command(flatten)]
        trust: TrustArgs,
        #[command(flatten)]
        time: TimeArgs,
        /// Print one JSON object (docs/CUSTODY-LOG.md).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub(crate) struct AddArgs {
    /// The archive (a file: its SHA-256 is recorded).
    archive: PathBuf,
    /// What happened: acquired, transferred, received, verified, copied,
    /// stored, accessed, returned, disposed or note.
    #[arg(long, value_name = "KIND", value_parser = parse_kind)]
    event: EventKind,
    /// Who records it.
    #[arg(long, value_name = "NAME")]
    actor: String,
    /// Their role (responder, examiner, custodian, counsel, ...).
    #[arg(long)]
    role: Option<String>,
    /// Their organisation.
    #[arg(long)]
    organization: Option<String>,
    /// Where the evidence is.
    #[arg(long)]
    location: Option<String>,
    /// The other party of a transfer or receipt.
    #[arg(long, value_name = "NAME")]
    counterpart: Option<String>,
    /// Why (purpose of an access, reason for a transfer).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Free text.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// The log file, if not ARCHIVE.custody.
    #[arg(long, value_name = "FILE")]
    custody_log: Option<PathBuf>,
    /// Then have this RFC 3161 time-stamping authority stamp the event.
    #[arg(long, value_name = "URL")]
    tsa: Option<String>,
    #[command(flatten)]
    signing: SigningArgs,
    /// Trust this OpenSSH public key file (the archive's signer, or a log signer).
    #[arg(long = "trust-key", value_name = "PUBKEY")]
    trust_keys: Vec<PathBuf>,
    /// Trust the keys of this OpenSSH allowed_signers file.
    #[arg(long, value_name = "FILE")]
    allowed_signers: Vec<PathBuf>,
    /// Trust a key by its SHA256: fingerprint.
    #[arg(long = "fingerprint", value_name = "SHA256:...")]
    fingerprints: Vec<String>,
}

fn parse_kind(s: &str) -> Result<EventKind, String> {
    EventKind::parse(s).ok_or_else(|| format!("{s:?} is not an event kind; use one of {}", EventKind::names()))
}

pub(crate) fn run(cmd: LogCommand) -> anyhow::Result<u8> {
    match cmd {
        LogCommand::Add(args) => add(*args),
        LogCommand::Show {
            archive,
            custody_log,
            trust,
            time,
            json,
        } => show(&archive, custody_log, &trust, &time, json),
    }
}

/// The log of `archive`: `--custody-log`, else `ARCHIVE.custody`.
pub(crate) fn path_for(archive: &Path, option: Option<PathBuf>) -> PathBuf {
    option.unwrap_or_else(|| custody_log::log_path(archive))
}

/// The anchors trusted to sign log events.
pub(crate) fn log_anchors(t: &TrustArgs) -> anyhow::Result<TrustAnchors> {
    trust_anchors_for(&t.keys, &t.allowed_signers, &t.fingerprints, custody_log::LOG_NAMESPACE)
}

/// Check `log` against what the verification of its archive proved,
/// with the TSA roots and clock tolerance that verification used.
pub(crate) fn check_against(path: &Path, bytes: &[u8], report: &Report, trust: &TrustAnchors, opts: &VerifyOptions) -> LogReport {
    let against = LogCheck {
        archive_id: Some(report.archive_id.as_deref().unwrap_or("")),
        chain: report.proven.chain.as_deref(),
        archive_complete: report.sealed || report.stopped_cleanly(),
        archive_sha256: report.input_sha256.as_deref(),
        trust: Some(trust),
        tsa_roots: opts.tsa_roots.as_ref(),
        clock_tolerance: opts.clock_tolerance,
    };
    custody_log::check(&path.display().to_string(), bytes, &against)
}

/// Check `log` against its verified archive and add its findings to the
/// archive's report (an error among them makes the verdict `tampered`).
pub(crate) fn fold_in(path: &Path, bytes: &[u8], report: &mut Report, trust: &TrustAnchors, opts: &VerifyOptions) -> LogReport {
    let checked = check_against(path, bytes, report, trust, opts);
    report.add_findings(checked.findings.clone());
    checked
}

/// The TSA roots `--tsa-ca` names, read.
pub(crate) fn tsa_roots(time: &TimeArgs) -> anyhow::Result<Option<tsa::Roots>> {
    Ok(time.tsa_ca.as_deref().map(tsa::Roots::from_pem_file).transpose()?)
}

fn read_log(path: &Path) -> anyhow::Result<Vec<u8>> {
    custody_log::read(path).with_context(|| format!("cannot read the custody log {}; check the path and its permissions", path.display()))
}

fn show(archive: &Path, option: Option<PathBuf>, trust: &TrustArgs, time: &TimeArgs, json: bool) -> anyhow::Result<u8> {
    let roots = tsa_roots(time)?;
    let path = path_for(archive, option);
    let bytes = read_log(&path)?;
    let log = custody_log::check(
        &path.display().to_string(),
        &bytes,
        &LogCheck {
            trust: Some(&log_anchors(trust)?),
            tsa_roots: roots.as_ref(),
            clock_tolerance: Some(time.clock_tolerance),
            ..LogCheck::default()
        },
    );
    let mut out = io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, &LogJson::new(&log))?;
        writeln!(out)?;
    } else {
        write!(out, "{}", table(&log))?;
        writeln!(
            out,
            "  (this checks the log alone: `custody verify {}` also checks it against the archive)",
            archive.display()
        )?;
    }
    Ok(if !log.intact {
        exit::TAMPERED
    } else if log.findings.iter().any(|f| f.kind == verify::FindingKind::LogUntrustedSigner) {
        exit::UNTRUSTED
    } else {
        exit::OK
    })
}

/// The log as `log show --json` and `verify --json` print it.
#[derive(serde::Serialize)]
pub(crate) struct LogJson<'a> {
    #[serde(flatten)]
    log: &'a LogReport,
    findings: &'a [verify::Finding],
}

impl<'a> LogJson<'a> {
    pub(crate) fn new(log: &'a LogReport) -> Self {
        LogJson {
            log,
            findings: &log.findings,
        }
    }
}

fn add(args: AddArgs) -> anyhow::Result<u8> {
    let mut signer = load_signer(&args.signing)?.ok_or_else(|| {
        anyhow!("log add needs --key or --agent: an event is signed by the person who records it, with a key others can trust later")
    })?;
    if args.archive.as_os_str() == "-" {
        return Err(anyhow!("log add needs the archive as a file: it records the file's SHA-256"));
    }
    let path = path_for(&args.archive, args.custody_log.clone());
    let client = args.tsa.as_deref().map(tsa::Client::new).transpose()?;
    let archive_trust = trust_anchors_for(
        &args.trust_keys,
        &args.allowed_signers,
        &args.fingerprints,
        custody::format::SIGNATURE_NAMESPACE,
    )?;
    let log_trust = trust_anchors_for(
        &args.trust_keys,
        &args.allowed_signers,
        &args.fingerprints,
        custody_log::LOG_NAMESPACE,
    )?;
    let opts = VerifyOptions {
        trust: archive_trust,
        hash_input: true,
        ..VerifyOptions::default()
    };
    let report = verify::verify(open_input(&args.archive)?, &opts, &mut verify::NullSink)?;
    // Locked from here until the event is written, so that no other
    // writer's record comes between the log as checked and the new event.
    let created = !path.exists();
    let mut log = LogFile::open(&path, true)?;
    let result = add_locked(&mut log, &args, &report, &log_trust, &opts, &mut signer);
    if result.is_err() && created && log.bytes().is_empty() {
        // Leave no empty log behind: it would read as a log cut to nothing.
        let _ = std::fs::remove_file(&path);
    }
    let (mut line, sha256) = result?;
    let mut out = io::stdout().lock();
    writeln!(out, "recorded    {} by {} in {}", args.event.name(), args.actor, path.display())?;
    writeln!(out, "archive     {} (sha256 {sha256})", args.archive.display())?;
    writeln!(out, "verdict     {} (as verified now)", report.verdict.name())?;
    if let Some(client) = &client {
        if let Some(stamped) = stamp(&mut log, client, &args.archive) {
            writeln!(out, "timestamp   {}", describe_stamp(&stamped))?;
            line = stamped;
        }
    }
    writeln!(
        out,
        "log head    {}  (write it on the custody form)",
        custody_log::line_digest(&line)
    )?;
    Ok(exit::OK)
}

/// Timestamp the log's last line; on failure, say so and leave the log as
/// it is (the event stands). The line written, if one was.
pub(crate) fn stamp(log: &mut LogFile, client: &tsa::Client, archive: &Path) -> Option<Vec<u8>> {
    match custody_log::add_timestamp(log, client, now()) {
        Ok(line) => Some(line),
        Err(e) => {
            eprintln!(
                "custody: warning: the event is recorded, but it has no trusted timestamp: {e}. Timestamp the log later, from a host that reaches a TSA, with `custody timestamp {} --tsa URL`",
                archive.display()
            );
            None
        }
    }
}

/// The TSA's time of a timestamp line just written, for people.
pub(crate) fn describe_stamp(line: &[u8]) -> String {
    let Ok(parsed) = custody_log::parse_line(&line[..line.len() - 1]) else {
        return "?".into();
    };
    let imprint: [u8; 32] = match &parsed.record {
        custody_log::Record::Timestamp(t) => hex::decode(&t.prev).ok().and_then(|b| b.try_into().ok()).unwrap_or_default(),
        custody_log::Record::Event(_) => return "?".into(),
    };
    let report = tsa::check(&parsed.proof, &imprint, None);
    let when = report
        .gen_time
        .and_then(|g| g.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "?".into());
    format!("{when} by {}", report.tsa_name.unwrap_or_else(|| "the TSA".into()))
}

/// Check the locked log against the verified archive and append the
/// event; the line written and the archive file's SHA-256.
fn add_locked(
    log: &mut LogFile,
    args: &AddArgs,
    report: &Report,
    log_trust: &TrustAnchors,
    opts: &VerifyOptions,
    signer: &mut Signer,
) -> anyhow::Result<(Vec<u8>, String)> {
    let path = log.path().to_owned();
    // A partial last line has a message of its own; any other fault is
    // reported with everything the check finds.
    if let Err(e @ custody_log::AppendError::PartialLine { .. }) = log.next_link() {
        return Err(e.into());
    }
    let sha256 = report.input_sha256.clone().expect("the input is hashed when asked");
    let archive = if log.bytes().is_empty() {
        ArchiveRef {
            id: report
                .archive_id
                .clone()
                .ok_or_else(|| anyhow!("{} has no header document to name it; nothing was recorded", args.archive.display()))?,
            chain: report.proven.chain.clone().ok_or_else(|| {
                anyhow!(
                    "no checkpoint of {} verifies, so there is no chain value to bind the log to; nothing was recorded. `custody verify` says why",
                    args.archive.display()
                )
            })?,
        }
    } else {
        let checked = check_against(&path, log.bytes(), report, log_trust, opts);
        refuse_unless_intact(
            &checked,
            "nothing was added to it",
            "\nKeep the file as it is (it is evidence of what happened to it) and record events in a new log with --custody-log",
        )?;
        checked
            .archive
            .ok_or_else(|| anyhow!("the custody log {} holds no event to name its archive", path.display()))?
    };
    let verification = matches!(args.event, EventKind::Received | EventKind::Verified).then(|| Verification {
        verdict: report.verdict.name().into(),
        signer: report.signer.as_ref().map(|s| s.fingerprint.clone()),
        trusted: report.signer.as_ref().is_some_and(|s| s.trusted_as.is_some()),
        checkpoints: report.proven.checkpoints,
        sealed: report.sealed,
    });
    let new = NewEvent {
        kind: args.event,
        actor: Actor {
            name: args.actor.clone(),
            role: args.role.clone(),
            organization: args.organization.clone(),
        },
        location: args.location.clone(),
        reason: args.reason.clone(),
        counterpart: args.counterpart.clone(),
        note: args.note.clone(),
        verification,
    };
    let line = custody_log::add_event(log, signer, archive, sha256.clone(), new, now())?;
    Ok((line, sha256))
}

fn now() -> String {
    custody::collect::now_rfc3339().0
}

/// Write the `acquired` event of a collection to a new log beside its
/// file, and have `tsa` stamp it. The log's path and head.
pub(crate) fn write_acquired(
    archive: &Path,
    signer: &mut Signer,
    summary: &custody::collect::CollectSummary,
    actor: Actor,
    location: Option<String>,
    tsa: Option<&tsa::Client>,
) -> anyhow::Result<(PathBuf, String)> {
    let path = custody_log::log_path(archive);
    let mut log = LogFile::open(&path, true)?;
    if !log.bytes().is_empty() {
        return Err(anyhow!("{} already exists; a new archive starts a new log", path.display()));
    }
    let head = record_acquired(&mut log, archive, signer, summary, actor, location, tsa)?;
    Ok((path, head))
}

/// Sign the `acquired` event into the new `log` (and have `tsa` stamp it);
/// the log's head.
pub(crate) fn record_acquired(
    log: &mut LogFile,
    archive: &Path,
    signer: &mut Signer,
    summary: &custody::collect::CollectSummary,
    actor: Actor,
    location: Option<String>,
    tsa: Option<&tsa::Client>,
) -> anyhow::Result<String> {
    let new = NewEvent {
        kind: EventKind::Acquired,
        actor,
        location,
        reason: None,
        counterpart: None,
        note: summary
            .stopped
            .as_ref()
            .map(|why| format!("collection stopped before its seal: {why}")),
        verification: None,
    };
    let archive_ref = ArchiveRef {
        id: summary.archive_id.clone(),
        chain: summary.chain.clone(),
    };
    let mut line = custody_log::add_event(log, signer, archive_ref, summary.archive_sha256.clone(), new, now())?;
    if let Some(client) = tsa {
        line = stamp(log, client, archive).unwrap_or(line);
    }
    Ok(custody_log::line_digest(&line))
}

/// Refuse to add to a log with an error or a cut-off end: saying what was
/// not done, every problem, and `advice`.
fn refuse_unless_intact(checked: &LogReport, not_done: &str, advice: &str) -> anyhow::Result<()> {
    let errors: Vec<&str> = checked
        .findings
        .iter()
        .filter(|f| f.level == Level::Error || f.kind == verify::FindingKind::LogTruncated)
        .map(|f| f.message.as_str())
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    Err(anyhow!(
        "the custody log {} does not verify, so {not_done}:\n  {}{advice}",
        checked.path,
        errors.join("\n  ")
    ))
}

/// `custody timestamp`: stamp the last record of a log that verifies.
pub(crate) fn timestamp(archive: &Path, url: &str, option: Option<PathBuf>) -> anyhow::Result<u8> {
    let client = tsa::Client::new(url)?;
    let path = path_for(archive, option);
    if !path.exists() {
        return Err(anyhow!(
            "there is no custody log {} to timestamp; record an event first (`custody log add {} --event received ...`)",
            path.display(),
            archive.display()
        ));
    }
    let mut log = LogFile::open(&path, false)?;
    let checked = custody_log::check(&path.display().to_string(), log.bytes(), &LogCheck::default());
    refuse_unless_intact(&checked, "it was not timestamped", "")?;
    let line =
        custody_log::add_timestamp(&mut log, &client, now()).map_err(|e| anyhow!("no timestamp was added to {}: {e}", path.display()))?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "timestamp   {} of record {} in {}",
        describe_stamp(&line),
        checked.lines,
        path.display()
    )?;
    writeln!(
        out,
        "log head    {}  (write it on the custody form)",
        custody_log::line_digest(&line)
    )?;
    Ok(exit::OK)
}

/// The log as a table for people.
pub(crate) fn table(log: &LogReport) -> String {
    let mut s = String::new();
    let events = log.events().count();
    let state = if log.intact { "intact" } else { "ALTERED (see the errors below)" };
    let _ = writeln!(
        s,
        "custody log  {}: {}, {}, {state}",
        log.path,
        super::units::count(events as u64, "event", "events"),
        super::units::count(log.lines, "line", "lines")
    );
    if let Some(a) = &log.archive {
        let _ = writeln!(s, "  about      archive {} with final chain {}", a.id, a.chain);
    }
    if let Some(h) = &log.head {
        let _ = writeln!(s, "  head       {h}  (the last line's SHA-256: compare it with the custody form)");
    }
    for r in &log.records {
        match r {
            LogEntry::Event(e) => {
                let who = [
                    Some(e.actor.name.as_str()),
                    e.actor.role.as_deref(),
                    e.actor.organization.as_deref(),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
                let sig = match (e.signature, &e.trusted_as) {
                    (SignatureStatus::Invalid, _) => "signature INVALID".to_string(),
                    (SignatureStatus::Valid, Some(p)) => format!("signed, trusted as {p}"),
                    (SignatureStatus::Valid, None) => "signed, NOT trusted".to_string(),
                };
                let _ = writeln!(s, "  {:>3}  {}  {:<11} {}", e.seq, clean(&e.time), clean(&e.kind), clean(&who));
                let _ = writeln!(s, "       key {}: {sig}", e.key);
                let mut facts = Vec::new();
                for (label, v) in [
                    ("counterpart", &e.counterpart),
                    ("location", &e.location),
                    ("reason", &e.reason),
                    ("note", &e.note),
                ] {
                    if let Some(v) = v {
                        facts.push(format!("{label}: {v}"));
                    }
                }
                if let Some(v) = &e.verification {
                    let trust = if v.trusted { ", signer trusted" } else { ", signer NOT trusted" };
                    facts.push(format!(
                        "verdict then: {} ({} checkpoints{}{trust})",
                        v.verdict,
                        v.checkpoints,
                        if v.sealed { ", sealed" } else { "" }
                    ));
                }
                let matches = match e.archive_sha256_matches {
                    Some(true) => " (this file)",
                    Some(false) => " (NOT this file)",
                    None => "",
                };
                facts.push(format!("archive sha256 {}{matches}", e.archive_sha256));
                for f in facts {
                    let _ = writeln!(s, "       {}", clean(&f));
                }
            }
            LogEntry::Timestamp(t) => {
                let when = t.gen_time.as_deref().unwrap_or("(no valid time)");
                let _ = writeln!(s, "  {:>3}  {}  timestamp   of line {}", t.seq, clean(when), t.stamps_line);
                let trust = match (t.status, &t.detail) {
                    ("trusted", Some(root)) => format!("trusted (chains to {root})"),
                    ("not-checked", _) => "signature valid, TSA not checked (no --tsa-ca)".to_string(),
                    (status, Some(why)) => format!("{} ({why})", status.to_uppercase()),
                    (status, None) => status.to_uppercase(),
                };
                let by = t.tsa.as_deref().unwrap_or(&t.url);
                let _ = writeln!(s, "       by {}: {}", clean(by), clean(&trust));
                let _ = writeln!(
                    s,
                    "       asked at {} by the requester's clock, from {}",
                    clean(&t.time),
                    clean(&t.url)
                );
            }
        }
    }
    for f in &log.findings {
        let level = f.level.name();
        let _ = writeln!(s, "  {level:7} {}", clean(&f.message));
    }
    s
}

/// Text from the log as one line with no control characters: anyone who
/// can write a log line chooses its bytes, and a terminal obeys escapes.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}
