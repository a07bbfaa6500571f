//! Trusted time in the custody log (docs/CUSTODY-LOG.md §6), against a real
//! RFC 3161 TSA on loopback: `collect --tsa` stamps the `acquired` event,
//! `log add --tsa` each event, `custody timestamp` the head of a log made
//! offline; verify checks each token against `--tsa-ca`. A TSA that fails
//! never costs an event.

mod common;
use common::tsa::{other_root_pem, unreachable_url, Mode, Tsa};
use common::*;

use std::path::{Path, PathBuf};

use custody::custody_log;
use sha2::{Digest, Sha256};

fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

fn records(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["custody_log"]["records"].as_array().unwrap().clone()
}

fn log_findings(report: &serde_json::Value) -> Vec<(String, u64)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f.get("line").is_some())
        .map(|f| (f["kind"].as_str().unwrap().to_string(), f["line"].as_u64().unwrap()))
        .collect()
}

struct Stamped {
    _dir: tempfile::TempDir,
    archive: PathBuf,
    log: PathBuf,
    reviewer: PathBuf,
    keys: Vec<String>,
    tsa: Tsa,
}

/// Collected with `--tsa`, then received by a reviewer with `--tsa`.
fn stamped() -> Stamped {
    let tsa = Tsa::start(Mode::Good);
    let (dir, src, responder) = setup();
    let reviewer = keygen(dir.path(), "reviewer");
    let archive = dir.path().join("case.tar.zst");
    let o = collect(&src, &archive, &responder, &["--examiner", "A. Responder", "--tsa", tsa.url()]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("custody log"), "{}", text(&o));
    let o = run(custody()
        .args(["log", "add"])
        .arg(&archive)
        .args(["--event", "received", "--actor", "B. Reviewer", "--tsa", tsa.url(), "--key"])
        .arg(&reviewer)
        .arg("--trust-key")
        .arg(pub_of(&responder)));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("timestamp   "), "{}", text(&o));
    let keys = vec![pub_of(&responder).display().to_string(), pub_of(&reviewer).display().to_string()];
    let log = custody_log::log_path(&archive);
    Stamped {
        _dir: dir,
        archive,
        log,
        reviewer,
        keys,
        tsa,
    }
}

fn verify_with(s: &Stamped, roots: Option<&Path>, extra: &[&str]) -> (serde_json::Value, i32) {
    let mut args: Vec<String> = Vec::new();
    for k in &s.keys {
        args.extend(["--key".into(), k.clone()]);
    }
    if let Some(r) = roots {
        args.extend(["--tsa-ca".into(), r.display().to_string()]);
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    verify_json(&s.archive, &args)
}

#[test]
fn events_stamped_by_a_trusted_tsa_show_their_trusted_time() {
    let s = stamped();
    let (report, rc) = verify_with(&s, Some(&s.tsa.root_pem_path()), &[]);
    assert_eq!(rc, 0, "{report}");
    let recs = records(&report);
    let shape: Vec<&str> = recs.iter().map(|r| r["kind"].as_str().or(r["record"].as_str()).unwrap()).collect();
    assert_eq!(shape, ["acquired", "timestamp", "received", "timestamp"], "{report}");
    for t in recs.iter().filter(|r| r["record"] == "timestamp") {
        assert_eq!(t["status"], "trusted", "{t}");
        assert!(t["gen_time"].as_str().is_some_and(|g| g.starts_with("20")), "{t}");
        assert_eq!(t["stamps_line"].as_u64().unwrap() + 1, t["line"].as_u64().unwrap());
    }
    assert!(log_findings(&report).is_empty(), "{report}");

    // Without roots the tokens are checked but not trusted, and no finding
    // is made of it; the table says so.
    let o = run(custody()
        .args(["log", "show"])
        .arg(&s.archive)
        .args(["--key", &s.keys[0], "--key", &s.keys[1]]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("TSA not checked (no --tsa-ca)"),
        "{}",
        text(&o)
    );
    let root = s.tsa.root_pem_path();
    let o = run(custody()
        .args(["log", "show"])
        .arg(&s.archive)
        .args(["--key", &s.keys[0], "--key", &s.keys[1], "--tsa-ca"])
        .arg(&root));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("trusted (chains to"), "{}", text(&o));
}

#[test]
fn a_tsa_whose_root_is_not_named_is_a_warning() {
    let s = stamped();
    let (report, rc) = verify_with(&s, Some(&other_root_pem()), &[]);
    assert_eq!(rc, 0, "untrusted time does not change the verdict: {report}");
    let found = log_findings(&report);
    assert_eq!(
        found,
        [("timestamp-untrusted".to_string(), 2), ("timestamp-untrusted".to_string(), 4)],
        "{report}"
    );
}

#[test]
fn an_offline_collection_is_timestamped_later_with_custody_timestamp() {
    let tsa = Tsa::start(Mode::Good);
    let (dir, src, responder) = setup();
    let archive = dir.path().join("offline.tar.zst");
    collect(&src, &archive, &responder, &[]);
    let log = custody_log::log_path(&archive);
    let before = std::fs::read(&log).unwrap();
    let o = run(custody().arg("timestamp").arg(&archive).args(["--tsa", tsa.url()]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let after = std::fs::read(&log).unwrap();
    assert!(after.starts_with(&before), "custody timestamp rewrote the log");
    let added = &lines(&after)[1];
    // The token stamps the SHA-256 of the line before it: the acquired event.
    let parsed = custody_log::parse_line(&added[..added.len() - 1]).unwrap();
    let imprint: [u8; 32] = Sha256::digest(&before).into();
    let r = custody::tsa::check(&parsed.proof, &imprint, None);
    assert_eq!(r.status, custody::tsa::TokenStatus::NotChecked, "{r:?}");
    let head = String::from_utf8_lossy(&o.stdout);
    assert!(head.contains(&custody_log::line_digest(added)), "{head}");

    let (report, rc) = verify_json(
        &archive,
        &[
            "--key",
            pub_of(&responder).to_str().unwrap(),
            "--tsa-ca",
            tsa.root_pem_path().to_str().unwrap(),
        ],
    );
    assert_eq!(rc, 0, "{report}");
    // Stamped later than the event: that is expected, and no clock is
    // compared with the event's time, only with the requester's.
    assert!(log_findings(&report).is_empty(), "{report}");

    // No log: the command says what to do first.
    let none = dir.path().join("none.tar.zst");
    let o = run(custody().arg("timestamp").arg(&none).args(["--tsa", tsa.url()]));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("record an event first"), "{}", text(&o));
}

#[test]
fn a_failing_tsa_never_costs_an_event_and_says_why() {
    let s = stamped();
    let cases: Vec<(Option<Tsa>, &str)> = vec![
        (Some(Tsa::start(Mode::Garbage)), "not"),
        (Some(Tsa::start(Mode::Html)), "text/html"),
        (Some(Tsa::start(Mode::ServerError)), "500"),
        (None, "reach"),
    ];
    for (bad, says) in cases {
        let url = bad.as_ref().map_or_else(unreachable_url, |t| t.url().to_string());
        let before = std::fs::read(&s.log).unwrap();
        let o = run(custody()
            .args(["log", "add"])
            .arg(&s.archive)
            .args(["--event", "accessed", "--actor", "B. Reviewer", "--tsa", &url, "--key"])
            .arg(&s.reviewer));
        assert_eq!(code(&o), 0, "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("the event is recorded, but it has no trusted timestamp") && err.contains(says),
            "{url}: {err}"
        );
        assert!(err.contains("custody timestamp"), "{err}");
        let after = std::fs::read(&s.log).unwrap();
        assert!(after.starts_with(&before));
        assert_eq!(lines(&after).len(), lines(&before).len() + 1, "the event, and no timestamp line");

        // custody timestamp fails outright, and writes nothing.
        let o = run(custody().arg("timestamp").arg(&s.archive).args(["--tsa", &url]));
        assert_eq!(code(&o), 1, "{}", text(&o));
        assert!(
            text(&o).contains("no timestamp was added") && text(&o).contains(says),
            "{}",
            text(&o)
        );
        assert_eq!(std::fs::read(&s.log).unwrap(), after);
    }
    let (report, rc) = verify_with(&s, Some(&s.tsa.root_pem_path()), &[]);
    assert_eq!(rc, 0, "{report}");
}

#[test]
fn a_timestamp_line_edited_swapped_or_from_a_wrong_clock_is_reported() {
    let s = stamped();
    let good = std::fs::read(&s.log).unwrap();
    let ls = lines(&good);
    let root = s.tsa.root_pem_path();
    let rewrite = |ls: &[Vec<u8>]| std::fs::write(&s.log, ls.concat()).unwrap();
    let timestamp_line = |prev: &[u8], time: &str, token: &[u8]| {
        let record = custody_log::TimestampRecord {
            log: custody_log::LOG_FORMAT.into(),
            record: "timestamp".into(),
            seq: 0,
            prev: custody_log::line_digest(prev),
            time: time.into(),
            tsa: s.tsa.url().into(),
        };
        (record, token.to_vec())
    };

    // A token for other data, in a line that still links.
    let (mut rec, _) = timestamp_line(&ls[2], "", b"");
    let last = custody_log::parse_line(&ls[3][..ls[3].len() - 1]).unwrap();
    let custody_log::Record::Timestamp(t) = last.record else {
        panic!("line 4 is a timestamp")
    };
    rec.seq = t.seq;
    rec.time = t.time.clone();
    let other = s.tsa.token_for(&Sha256::digest(b"other data").into());
    let mut bad = ls.clone();
    bad[3] = custody_log::encode_timestamp_line(&rec, &other);
    rewrite(&bad);
    let (report, rc) = verify_with(&s, Some(&root), &[]);
    assert_eq!(rc, 12, "{report}");
    assert!(log_findings(&report).contains(&("timestamp-mismatch".to_string(), 4)), "{report}");
    // The archive itself is intact, and the headline says so.
    let o = run(custody()
        .arg("verify")
        .arg(&s.archive)
        .args(["--key", &s.keys[0], "--key", &s.keys[1]]));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with("TAMPERED: the archive is intact, but its custody log was altered"),
        "{out}"
    );

    // A real token for the line, but a requester's time an hour off.
    let real = s.tsa.token_for(&Sha256::digest(&ls[2]).into());
    let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    rec.time = hour_ago.format(&time::format_description::well_known::Rfc3339).unwrap();
    let mut bad = ls.clone();
    bad[3] = custody_log::encode_timestamp_line(&rec, &real);
    rewrite(&bad);
    let (report, rc) = verify_with(&s, Some(&root), &[]);
    assert_eq!(rc, 0, "a wrong clock is a warning: {report}");
    assert!(log_findings(&report).contains(&("clock-disagrees".to_string(), 4)), "{report}");
    let msg = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "clock-disagrees")
        .unwrap();
    assert!(msg["message"].as_str().unwrap().contains("tolerance 300 s"), "{msg}");

    // A token whose signature byte was changed.
    let mut broken = real.clone();
    let n = broken.len();
    broken[n - 10] ^= 0x01;
    let mut bad = ls.clone();
    rec.time = t.time.clone();
    bad[3] = custody_log::encode_timestamp_line(&rec, &broken);
    rewrite(&bad);
    let (report, rc) = verify_with(&s, Some(&root), &[]);
    assert_eq!(rc, 12, "{report}");
    assert!(log_findings(&report).contains(&("timestamp-invalid".to_string(), 4)), "{report}");

    // A timestamp removed from the middle breaks the link.
    rewrite(&[ls[0].clone(), ls[2].clone(), ls[3].clone()]);
    let (report, rc) = verify_with(&s, Some(&root), &[]);
    assert_eq!(rc, 12, "{report}");
    assert!(log_findings(&report).iter().any(|(k, _)| k == "log-link-broken"), "{report}");

    // Every single-byte change of a timestamp line that another line
    // follows is caught, by the token or by the link.
    let report = archive_facts(&s);
    for i in 0..ls[1].len() {
        let mut bad = ls.clone();
        bad[1][i] ^= 0x01;
        let r = custody_log::check("log", &bad.concat(), &against(&report));
        assert!(!r.intact, "byte {i} of the timestamp line went unnoticed");
    }
}

/// What the verification of the archive proves, for checking the log alone.
fn archive_facts(s: &Stamped) -> custody::verify::Report {
    let opts = custody::verify::VerifyOptions {
        hash_input: true,
        ..Default::default()
    };
    custody::verify::verify(std::fs::File::open(&s.archive).unwrap(), &opts, &mut custody::verify::NullSink).unwrap()
}

fn against(report: &custody::verify::Report) -> custody_log::LogCheck<'_> {
    custody_log::LogCheck {
        archive_id: report.archive_id.as_deref(),
        chain: report.proven.chain.as_deref(),
        archive_complete: report.sealed,
        archive_sha256: report.input_sha256.as_deref(),
        ..Default::default()
    }
}
