//! `custody report` end to end: real collections, the JSON read back as the
//! schema, and the HTML rendered by a real headless Chromium (its DOM and a
//! screenshot), in English and Japanese, with hostile names and tampering.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use custody::report::ReportDoc;

/// The hostile names: a script, and an attribute break-out with an image.
/// (A name cannot hold `/`, so the script's closing tag spans a directory.)
const SCRIPT_DIR: &str = "authorized_keys<script>window.__pwned=1<";
const SCRIPT_NAME: &str = "script>";
const IMG_NAME: &str = "authorized_keys\"><img src=x onerror=\"window.__pwned=2\">";

/// A collected tree with an authorized_keys file, two hostile names in
/// `.ssh`, and a file of known content; its key, and the archive.
fn collected(dir: &Path) -> (PathBuf, PathBuf) {
    let src = dir.join("src");
    let ssh = src.join("home/alice/.ssh");
    std::fs::create_dir_all(ssh.join(SCRIPT_DIR)).unwrap();
    std::fs::write(ssh.join("authorized_keys"), "ssh-ed25519 AAAA intruder\n").unwrap();
    std::fs::write(ssh.join(SCRIPT_DIR).join(SCRIPT_NAME), "x").unwrap();
    std::fs::write(ssh.join(IMG_NAME), "y").unwrap();
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::write(src.join("etc/motd"), "EVIDENCE-CONTENT-TO-TAMPER\n").unwrap();
    let key = keygen(dir, "key");
    let archive = dir.join("case.tar.zst");
    collect(&src, &archive, &key, &["--case", "CASE-2026-117", "--examiner", "A. Examiner"]);
    (key, archive)
}

/// `custody report` with `args`; the exit code and the JSON report.
fn report(archive: &Path, html: &Path, args: &[&str]) -> (i32, ReportDoc) {
    let json = html.with_extension("json");
    let o = run(custody()
        .arg("report")
        .arg(archive)
        .arg("--html")
        .arg(html)
        .arg("--json")
        .arg(&json)
        .env("LANG", "C")
        .args(args));
    assert!(html.exists(), "no HTML written\n{}", text(&o));
    let bytes = std::fs::read(&json).unwrap();
    let doc: ReportDoc = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("the JSON is not the schema: {e}\n{}", text(&o)));
    (code(&o), doc)
}

/// Run headless Chromium on `html`: the DOM after scripts would have run,
/// and a screenshot written to `png`.
fn chromium(html: &Path, png: &Path) -> String {
    require_tool("chromium");
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", html.display());
    let base = |c: &mut Command| {
        c.args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            .arg(format!("--user-data-dir={}", profile.path().display()));
    };
    let mut shot = Command::new("chromium");
    base(&mut shot);
    let o = run(shot
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,3000")
        .arg(&url));
    assert!(png.exists(), "chromium wrote no screenshot\n{}", text(&o));
    let mut dom = Command::new("chromium");
    base(&mut dom);
    let o = run(dom.args(["--virtual-time-budget=3000", "--dump-dom"]).arg(&url));
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(dom.contains("<body"), "chromium dumped no DOM\n{}", text(&o));
    dom
}

/// A screenshot that is not one colour compresses to far more than a blank page.
fn assert_not_blank(png: &Path) {
    let size = std::fs::metadata(png).unwrap().len();
    assert!(size > 60_000, "{} is {size} bytes: a blank page?", png.display());
}

#[test]
fn a_verified_report_renders_with_verdict_case_and_signer() {
    let dir = tempfile::tempdir().unwrap();
    let (key, archive) = collected(dir.path());
    let html = dir.path().join("en.html");
    let (code, doc) = report(&archive, &html, &["--key", pub_of(&key).to_str().unwrap(), "--lang", "en"]);
    assert_eq!(code, 0);
    assert_eq!(doc.schema, custody::report::SCHEMA);
    assert_eq!(doc.verdict.verdict, "verified");
    assert_eq!(doc.verdict.proven_members, doc.verdict.members);
    let fp = doc.evidence.signer.as_ref().unwrap().fingerprint.clone();
    assert!(fp.starts_with("SHA256:"));
    assert_eq!(doc.evidence.case.as_deref(), Some("CASE-2026-117"));
    assert_eq!(doc.custody_log.as_ref().map(|l| l.records[0].kind.as_str()), Some("acquired"));
    // The schema round trip: what is written reads back to the same value.
    let again: ReportDoc = serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap();
    assert_eq!(again, doc);
    let dom = chromium(&html, &dir.path().join("en.png"));
    assert!(dom.contains("data-verdict=\"verified\""), "{dom}");
    assert!(dom.contains("Everything in this report rests on proven evidence"));
    assert!(dom.contains("CASE-2026-117"));
    assert!(dom.contains(&fp));
    assert!(dom.contains(doc.evidence.archive_sha256.as_deref().unwrap()));
    assert!(!dom.contains("class=\"mark\""), "a verified report marks nothing as unproven");
    assert_not_blank(&dir.path().join("en.png"));
}

#[test]
fn hostile_names_render_as_text_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (key, archive) = collected(dir.path());
    let html = dir.path().join("hostile.html");
    let (_, doc) = report(&archive, &html, &["--key", pub_of(&key).to_str().unwrap(), "--lang", "en"]);
    // Both names are in the persistence table: they are SSH key files.
    let paths: Vec<&str> = doc.persistence.rows.iter().map(|r| r.path.as_str()).collect();
    let script_path = format!("{SCRIPT_DIR}/{SCRIPT_NAME}");
    assert!(paths.iter().any(|p| p.ends_with(&script_path)), "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with(IMG_NAME)), "{paths:?}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(!page.contains("<script"), "the page holds a script element");
    assert!(!page.contains("<img"), "the page holds an img element");
    let dom = chromium(&html, &dir.path().join("hostile.png"));
    assert!(!dom.contains("<script"), "{dom}");
    assert!(!dom.contains("<img"), "{dom}");
    assert!(
        dom.contains("authorized_keys&lt;script&gt;window.__pwned=1&lt;/script&gt;"),
        "{dom}"
    );
    assert!(
        dom.contains("authorized_keys\"&gt;&lt;img src=x onerror=\"window.__pwned=2\"&gt;"),
        "{dom}"
    );
}

#[test]
fn the_japanese_report_is_in_japanese() {
    let dir = tempfile::tempdir().unwrap();
    let (key, archive) = collected(dir.path());
    let html = dir.path().join("ja.html");
    let (code, doc) = report(&archive, &html, &["--key", pub_of(&key).to_str().unwrap(), "--lang", "ja"]);
    assert_eq!(code, 0);
    assert_eq!(doc.language, "ja");
    assert_eq!(doc.time_zone, "+09:00");
    let png = dir.path().join("ja.png");
    let dom = chromium(&html, &png);
    assert!(dom.contains("lang=\"ja\""));
    assert!(dom.contains("検証済み"), "{dom}");
    assert!(dom.contains("この報告書の内容はすべて証明された証拠に基づいています"));
    assert!(dom.contains(" JST"), "times name their zone");
    assert!(!dom.contains("Everything in this report"), "English left in the Japanese report");
    // Archived names are untouched.
    assert!(dom.contains("CASE-2026-117"));
    assert_not_blank(&png);
}

#[test]
fn a_tampered_copy_says_so_first_and_marks_what_is_unproven() {
    let dir = tempfile::tempdir().unwrap();
    let (key, archive) = collected(dir.path());
    let mut tar = tar_stream(&archive);
    let at = tar
        .windows(8)
        .position(|w| w == b"EVIDENCE")
        .expect("the known content is in the stream");
    tar[at] = b'F';
    let copy = dir.path().join("copy.tar.zst");
    compress(&tar, &copy);
    let html = dir.path().join("tampered.html");
    let (code, doc) = report(&copy, &html, &["--key", pub_of(&key).to_str().unwrap(), "--lang", "en"]);
    assert_eq!(code, 12);
    assert_eq!(doc.verdict.verdict, "tampered");
    assert_eq!(doc.verdict.situation, "tampered-archive");
    assert!(doc.verdict.altered_members >= 1);
    assert!(doc.coverage.total.unproven >= 1);
    assert!(
        doc.findings.rows.iter().any(|f| f.kind == "content-altered"),
        "{:?}",
        doc.findings.rows
    );
    // The copy has no custody log beside it.
    assert!(doc.custody_log.is_none());
    let dom = chromium(&html, &dir.path().join("tampered.png"));
    assert!(dom.contains("data-verdict=\"tampered\""));
    let first = dom.split("id=\"reliance\"").nth(1).expect("the reliance line");
    assert!(first.contains("This archive was changed after it was signed"), "{first}");
    assert!(dom.contains("class=\"mark\""), "unproven figures are marked");
    assert!(dom.contains("etc/motd"), "the altered member is named");
}

#[test]
fn an_untrusted_signer_and_a_window_without_activity() {
    let dir = tempfile::tempdir().unwrap();
    let (_, archive) = collected(dir.path());
    let html = dir.path().join("untrusted.html");
    let (code, doc) = report(&archive, &html, &["--lang", "en", "--window", "2001-01-01..2001-01-31"]);
    assert_eq!(code, 11);
    assert_eq!(doc.verdict.situation, "untrusted");
    assert_eq!(doc.verdict.proven_members, 0, "nothing is proven without a trusted key");
    assert_eq!(doc.coverage.total.unproven, doc.coverage.total.count);
    assert!(!doc.window.default);
    assert_eq!(doc.window.from, "2001-01-01T00:00:00Z");
    assert_eq!(doc.window.to, "2001-02-01T00:00:00Z");
    assert!(doc.activity.series.is_empty());
    assert_eq!(doc.persistence.total, 0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("which was not named as trusted"));
    assert!(page.contains("class=\"mark\""));
}

#[test]
fn the_default_window_ends_at_the_collection_and_finds_the_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let (key, archive) = collected(dir.path());
    let html = dir.path().join("w.html");
    let (_, doc) = report(&archive, &html, &["--key", pub_of(&key).to_str().unwrap(), "--tz", "+05:30"]);
    assert!(doc.window.default);
    let start = custody::format::doc::rfc3339_secs(doc.evidence.collection_start.as_deref().unwrap()).unwrap();
    // Up to and including the second the collection started.
    assert_eq!(custody::format::doc::rfc3339_secs(&doc.window.to), Some(start + 1));
    assert_eq!(custody::format::doc::rfc3339_secs(&doc.window.from), Some(start + 1 - 30 * 86_400));
    let row = doc
        .persistence
        .rows
        .iter()
        .find(|r| r.path.ends_with(".ssh/authorized_keys"))
        .expect("the key file");
    assert_eq!(row.place, "ssh-keys");
    assert_eq!(row.proof, "proven");
    assert!(doc
        .activity
        .series
        .iter()
        .any(|s| s.kind == "mtime" && s.counts.iter().sum::<u64>() > 0));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("UTC+05:30"), "the zone asked for is stated");
}

#[test]
fn the_archived_auth_log_gives_login_clues_marked_as_leads() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("var/log")).unwrap();
    std::fs::write(
        src.join("var/log/auth.log"),
        "Nov 29 23:58:09 web1 sshd[1203]: Failed password for root from 203.0.113.50 port 51010 ssh2\n\
         Nov 30 00:01:44 web1 sshd[1290]: Accepted password for deploy from 203.0.113.50 port 51100 ssh2\n",
    )
    .unwrap();
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &[]);
    let html = dir.path().join("clues.html");
    let (_, doc) = report(&archive, &html, &["--key", pub_of(&key).to_str().unwrap(), "--lang", "en"]);
    let clues = doc.clues.expect("clues");
    let logins = clues["logins"].as_array().unwrap();
    assert!(
        logins
            .iter()
            .any(|l| l["outcome"] == "accepted" && l["user"] == "deploy" && l["proven"] == true),
        "{logins:?}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("They are leads for an investigator, not conclusions"));
    assert!(page.contains("203.0.113.50"));
    assert!(page.contains("auth.log"));
}
