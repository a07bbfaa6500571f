//! `custody report`: verify an archive (and its custody log) and write what
//! it proves as one self-contained HTML page, and as JSON (docs/REPORT.md).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use clap::Args;

use custody::report::{self, i18n, Catalog, Lang, ReportBuilder, Settings, TimeWindow};
use custody::verify::{self, VerifyOptions};

use crate::{custody_log_of, expected_digest, open_input, trust_anchors, verdict_code, TimeArgs, TrustArgs};

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// The archive, `-` for standard input, or s3://BUCKET/KEY.
    archive: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    time: TimeArgs,
    /// Write the report as one self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    html: PathBuf,
    /// Also write the same content as JSON (schema custody-report/1) to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// The activity window, FROM..TO, each a date (YYYY-MM-DD, TO included)
    /// or an RFC 3339 time. Default: the 30 days up to the collection's start.
    #[arg(long, value_name = "FROM..TO")]
    window: Option<String>,
    /// Language of the HTML: en or ja (default: from the locale, else en).
    #[arg(long, value_name = "LANG", value_parser = parse_lang)]
    lang: Option<Lang>,
    /// Show times at this offset from UTC, e.g. +09:00 (default: +09:00,
    /// shown as JST, for Japanese; UTC otherwise).
    #[arg(long, value_name = "OFFSET", value_parser = parse_tz)]
    tz: Option<i32>,
    /// The SHA-256 recorded for the archive file (from the custody form).
    /// Without it, ARCHIVE.sha256 beside a file (or object) input is checked if it exists.
    #[arg(long, value_name = "HEX", value_parser = verify::parse_sha256_hex)]
    archive_sha256: Option<String>,
    /// The custody log to check with the archive. Without it,
    /// ARCHIVE.custody beside a file (or object) input is checked if it exists.
    #[arg(long, value_name = "FILE")]
    custody_log: Option<PathBuf>,
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    Lang::parse(s).ok_or_else(|| format!("{s:?} is not a report language; use en or ja"))
}

fn parse_tz(s: &str) -> Result<i32, String> {
    i18n::parse_offset(s).ok_or_else(|| format!("{s:?} is not an offset from UTC; write it as +09:00, -05:00 or UTC"))
}

/// `FROM..TO`: dates are whole days in zone `offset`, TO included.
fn parse_window(text: &str, offset: i32) -> anyhow::Result<TimeWindow> {
    let bad = || anyhow!("--window {text:?} is not FROM..TO; write it as 2026-11-01..2026-11-30 or with RFC 3339 times");
    let (from, to) = text.split_once("..").ok_or_else(bad)?;
    let at = |s: &str, end: bool| -> Option<i64> {
        if let Some(secs) = custody::format::doc::rfc3339_secs(s) {
            return Some(secs);
        }
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let day = time::Date::parse(s, &fmt).ok()?;
        let secs = day.midnight().assume_utc().unix_timestamp() - offset as i64;
        Some(if end { secs + 86_400 } else { secs })
    };
    let (from, to) = (at(from.trim(), false).ok_or_else(bad)?, at(to.trim(), true).ok_or_else(bad)?);
    if to <= from {
        return Err(anyhow!("--window {text:?} ends before it starts"));
    }
    Ok(TimeWindow { from, to })
}

pub(crate) fn run(args: ReportArgs) -> anyhow::Result<u8> {
    let lang = args.lang.unwrap_or_else(Lang::from_environment);
    let offset = args.tz.unwrap_or_else(|| lang.default_utc_offset());
    let window = args.window.as_deref().map(|w| parse_window(w, offset)).transpose()?;
    let anchors = trust_anchors(&args.trust)?;
    let log_trust = super::log::log_anchors(&args.trust)?;
    let tsa_roots = super::log::tsa_roots(&args.time)?;
    let archive = &args.archive;
    let opts = VerifyOptions {
        trust: anchors,
        archive_sha256: expected_digest(archive, args.archive_sha256.clone())?,
        // The archive file's SHA-256 goes on the custody form: always hash it.
        hash_input: true,
        tsa_roots,
        clock_tolerance: Some(args.time.clock_tolerance),
        part_files: Vec::new(),
    };
    let log = custody_log_of(archive, args.custody_log.clone())?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut builder = ReportBuilder::new(Settings {
        language: lang.code().into(),
        utc_offset: offset,
        now,
        window,
    });
    let mut report = verify::verify(open_input(archive)?, &opts, &mut builder)?;
    let log = log.map(|(path, bytes)| super::log::fold_in(&path, &bytes, &mut report, &log_trust, &opts));
    let doc = builder.finish(&report, log.as_ref());
    let page = report::html::render(&doc, &Catalog::new(lang), offset);
    write_file(&args.html, page.as_bytes())?;
    if let Some(json) = &args.json {
        let mut text = serde_json::to_vec_pretty(&doc)?;
        text.push(b'\n');
        write_file(json, &text)?;
    }
    let mut out = io::stdout().lock();
    writeln!(out, "verdict: {}", report.verdict.name())?;
    writeln!(out, "report  {}", args.html.display())?;
    if let Some(json) = &args.json {
        writeln!(out, "json    {}", json.display())?;
    }
    Ok(verdict_code(report.verdict))
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| {
        format!(
            "cannot write the report {}; check the directory exists and is writable",
            path.display()
        )
    })
}
