//! The custody log (docs/CUSTODY-LOG.md): the walkthrough a responder and a
//! reviewer go through, every single-record edit, removal, reorder and
//! splice caught, and each bad input with a message that says what to do.

mod common;
use common::*;

use std::path::{Path, PathBuf};

use custody::custody_log::{self, LogCheck, LogReport};
use custody::signer::{Signer, TrustAnchors};
use custody::verify::{self, FindingKind, Level, VerifyOptions};

struct Case {
    dir: tempfile::TempDir,
    archive: PathBuf,
    log: PathBuf,
    responder: PathBuf,
    reviewer: PathBuf,
    allowed: PathBuf,
}

fn add(archive: &Path, key: &Path, args: &[&str]) -> std::process::Output {
    run(custody().args(["log", "add"]).arg(archive).arg("--key").arg(key).args(args))
}

/// A collection with the walkthrough's history: acquired (by collect),
/// transferred, received, verified.
fn walkthrough() -> Case {
    let (dir, src, responder) = setup();
    let reviewer = keygen(dir.path(), "reviewer");
    let archive = dir.path().join("case.tar.zst");
    collect(
        &src,
        &archive,
        &responder,
        &[
            "--examiner",
            "A. Responder",
            "--organization",
            "CSIRT",
            "--location",
            "server room 2",
        ],
    );
    let resp_pub = pub_of(&responder);
    let o = add(
        &archive,
        &responder,
        &[
            "--event",
            "transferred",
            "--actor",
            "A. Responder",
            "--counterpart",
            "B. Reviewer",
            "--reason",
            "legal review",
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    for kind in ["received", "verified"] {
        let o = add(
            &archive,
            &reviewer,
            &[
                "--event",
                kind,
                "--actor",
                "B. Reviewer",
                "--role",
                "counsel",
                "--trust-key",
                resp_pub.to_str().unwrap(),
            ],
        );
        assert_eq!(code(&o), 0, "{}", text(&o));
    }
    let allowed = dir.path().join("allowed_signers");
    let line = |k: &Path| {
        std::fs::read_to_string(pub_of(k))
            .unwrap()
            .split(' ')
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    std::fs::write(
        &allowed,
        format!(
            "responder {}\nreviewer namespaces=\"custody-log-v1@custody\" {}\n",
            line(&responder),
            line(&reviewer)
        ),
    )
    .unwrap();
    let log = custody_log::log_path(&archive);
    Case {
        dir,
        archive,
        log,
        responder,
        reviewer,
        allowed,
    }
}

fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

#[test]
fn the_walkthrough_shows_who_held_the_evidence() {
    let c = walkthrough();
    let allowed = c.allowed.to_str().unwrap();
    let (report, rc) = verify_json(&c.archive, &["--allowed-signers", allowed]);
    assert_eq!(rc, 0, "{report}");
    assert_eq!(report["verdict"], "verified");
    let log = &report["custody_log"];
    assert_eq!(log["intact"], true, "{log}");
    let records = log["records"].as_array().unwrap();
    let kinds: Vec<&str> = records.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["acquired", "transferred", "received", "verified"]);
    let trusted: Vec<&str> = records.iter().map(|r| r["trusted_as"].as_str().unwrap()).collect();
    assert_eq!(trusted, ["responder", "responder", "reviewer", "reviewer"]);
    assert_eq!(records[0]["actor"]["organization"], "CSIRT");
    assert_eq!(records[0]["location"], "server room 2");
    assert_eq!(records[1]["counterpart"], "B. Reviewer");
    assert_eq!(records[2]["verification"]["verdict"], "verified");
    assert_eq!(records[2]["verification"]["sealed"], true);
    for r in records {
        assert_eq!(r["signature"], "valid");
        assert_eq!(r["archive_sha256_matches"], true);
        assert_eq!(r["archive_sha256"], report["input_sha256"]);
    }
    // The head is the last line's SHA-256, which sha256sum gives.
    let bytes = std::fs::read(&c.log).unwrap();
    let last = lines(&bytes).pop().unwrap();
    assert_eq!(log["head"].as_str().unwrap(), custody_log::line_digest(&last));
    assert!(log["findings"].as_array().unwrap().is_empty(), "{log}");

    let o = run(custody().args(["log", "show"]).arg(&c.archive).args(["--allowed-signers", allowed]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(!shown.contains("warning") && !shown.contains("error"), "{shown}");
    for want in [
        "acquired",
        "transferred",
        "received",
        "verified",
        "A. Responder, collector, CSIRT",
        "B. Reviewer, counsel",
        "trusted as reviewer",
        "intact",
    ] {
        assert!(shown.contains(want), "log show lacks {want:?}\n{shown}");
    }
    // With no trust given, the events are shown as untrusted, and said so.
    let o = run(custody().args(["log", "show"]).arg(&c.archive));
    assert_eq!(code(&o), 11, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("no trusted key was given for the log"),
        "{}",
        text(&o)
    );
    // The human report shows the history after the archive's verdict.
    let o = run(custody().arg("verify").arg(&c.archive).args(["--allowed-signers", allowed]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("VERIFIED"), "{out}");
    assert!(
        out.contains("custody log") && out.contains("4 events") && out.contains("intact"),
        "{out}"
    );
}

/// What the archive's verification proved, and the anchors for the log.
fn facts(c: &Case) -> (verify::Report, TrustAnchors) {
    let file = std::fs::File::open(&c.archive).unwrap();
    let opts = VerifyOptions {
        hash_input: true,
        ..Default::default()
    };
    let report = verify::verify(file, &opts, &mut verify::NullSink).unwrap();
    let mut trust = TrustAnchors::default();
    trust.add_allowed_signers_for(&c.allowed, custody_log::LOG_NAMESPACE).unwrap();
    (report, trust)
}

fn check(bytes: &[u8], report: &verify::Report, trust: &TrustAnchors) -> LogReport {
    let against = LogCheck {
        archive_id: report.archive_id.as_deref(),
        chain: report.proven.chain.as_deref(),
        archive_complete: report.sealed,
        archive_sha256: report.input_sha256.as_deref(),
        trust: Some(trust),
        ..LogCheck::default()
    };
    custody_log::check("log", bytes, &against)
}

fn error_kinds(r: &LogReport) -> Vec<FindingKind> {
    r.findings.iter().filter(|f| f.level == Level::Error).map(|f| f.kind).collect()
}

#[test]
fn every_single_byte_edit_of_every_record_is_caught() {
    let c = walkthrough();
    let (report, trust) = facts(&c);
    let bytes = std::fs::read(&c.log).unwrap();
    let good = check(&bytes, &report, &trust);
    assert!(good.intact && good.findings.is_empty(), "{:?}", good.findings);
    let mut tried = 0;
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x20] {
            let mut bad = bytes.clone();
            bad[i] ^= flip;
            let r = check(&bad, &report, &trust);
            // A newline turned into another byte in the last line leaves a
            // partial line: a warning, and the head no longer matches.
            let last_newline = i == bytes.len() - 1;
            if last_newline {
                assert!(r.findings.iter().any(|f| f.kind == FindingKind::LogTruncated));
                assert_ne!(r.head, good.head);
            } else {
                assert!(!r.intact, "byte {i} ^ {flip:#x} ({:?}) went unnoticed", bytes[i] as char);
            }
            tried += 1;
        }
    }
    assert_eq!(tried, 2 * bytes.len());
}

#[test]
fn removed_reordered_duplicated_and_spliced_records_are_caught() {
    let c = walkthrough();
    let (report, trust) = facts(&c);
    let original = lines(&std::fs::read(&c.log).unwrap());
    let n = original.len();
    let join = |ls: &[Vec<u8>]| ls.concat();
    let good_head = check(&join(&original), &report, &trust).head;

    for i in 0..n {
        let mut ls = original.clone();
        ls.remove(i);
        let r = check(&join(&ls), &report, &trust);
        if i == n - 1 {
            // The documented limit: a cut at the end leaves a shorter log
            // that verifies; only the head written on the form tells.
            assert!(r.intact);
            assert_ne!(r.head, good_head);
        } else {
            assert!(
                error_kinds(&r).contains(&FindingKind::LogLinkBroken),
                "removing line {} went unnoticed",
                i + 1
            );
        }
        let mut ls = original.clone();
        ls.insert(i, original[i].clone());
        let r = check(&join(&ls), &report, &trust);
        assert!(
            error_kinds(&r).contains(&FindingKind::LogLinkBroken),
            "duplicating line {} went unnoticed",
            i + 1
        );
    }
    for i in 0..n - 1 {
        let mut ls = original.clone();
        ls.swap(i, i + 1);
        let r = check(&join(&ls), &report, &trust);
        assert!(
            error_kinds(&r).contains(&FindingKind::LogLinkBroken),
            "swapping lines {} and {} went unnoticed",
            i + 1,
            i + 2
        );
    }

    // Another collection by the same responder, with the same history.
    let src2 = c.dir.path().join("src2");
    make_tree(&src2);
    let other = c.dir.path().join("other.tar.zst");
    collect(&src2, &other, &c.responder, &["--examiner", "A. Responder"]);
    let o = add(&other, &c.responder, &["--event", "transferred", "--actor", "A. Responder"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = add(&other, &c.reviewer, &["--event", "received", "--actor", "B. Reviewer"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let foreign = lines(&std::fs::read(custody_log::log_path(&other)).unwrap());
    for i in 0..foreign.len() {
        let mut ls = original.clone();
        ls[i] = foreign[i].clone();
        let r = check(&join(&ls), &report, &trust);
        let kinds = error_kinds(&r);
        assert!(
            kinds.contains(&FindingKind::LogOtherArchive),
            "splicing line {} went unnoticed: {kinds:?}",
            i + 1
        );
    }
    // The other archive's whole log beside this archive.
    let r = check(&join(&foreign), &report, &trust);
    assert_eq!(error_kinds(&r), [FindingKind::LogOtherArchive]);
    assert!(
        r.findings[0].message.contains("belongs to another archive"),
        "{}",
        r.findings[0].message
    );
}

#[test]
fn bad_logs_get_clear_messages_and_log_add_never_rewrites_them() {
    let c = walkthrough();
    let allowed = c.allowed.to_str().unwrap();
    let good = std::fs::read(&c.log).unwrap();

    // A line that is not an event.
    let mut bad = good.clone();
    bad.extend_from_slice(b"Received the disk from A. Responder, 10:00\n");
    std::fs::write(&c.log, &bad).unwrap();
    let (report, rc) = verify_json(&c.archive, &["--allowed-signers", allowed]);
    assert_eq!(rc, 12, "{report}");
    assert!(finding_kinds(&report).contains(&"log-malformed".to_string()), "{report}");
    let msg = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "log-malformed")
        .unwrap();
    assert_eq!(msg["line"], 5);
    assert!(
        msg["message"]
            .as_str()
            .unwrap()
            .contains("line 5 is not a custody log record: it has no tab"),
        "{msg}"
    );
    let o = run(custody().arg("verify").arg(&c.archive).args(["--allowed-signers", allowed]));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("TAMPERED: the archive is intact, but its custody log was altered"),
        "{}",
        text(&o)
    );
    // log add refuses, and leaves the file as it was.
    let o = add(&c.archive, &c.reviewer, &["--event", "note", "--actor", "B. Reviewer"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("does not verify, so nothing was added"), "{}", text(&o));
    assert_eq!(std::fs::read(&c.log).unwrap(), bad);

    // A truncated log: the records before the cut stand, and log add refuses.
    let cut = &good[..good.len() - 100];
    std::fs::write(&c.log, cut).unwrap();
    let (report, rc) = verify_json(&c.archive, &["--allowed-signers", allowed]);
    assert_eq!(rc, 0, "a cut-off last line is a warning: {report}");
    assert!(finding_kinds(&report).contains(&"log-truncated".to_string()), "{report}");
    assert_eq!(report["custody_log"]["records"].as_array().unwrap().len(), 3);
    let o = add(&c.archive, &c.reviewer, &["--event", "note", "--actor", "B. Reviewer"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("ends in a partial line"), "{}", text(&o));
    assert_eq!(std::fs::read(&c.log).unwrap(), cut);

    // An event kind this custody does not know, properly signed.
    std::fs::write(&c.log, &good).unwrap();
    let mut signer = Signer::from_file(&c.reviewer, || None).unwrap();
    let last = lines(&good).pop().unwrap();
    let parsed = custody_log::parse_line(&last[..last.len() - 1]).unwrap();
    let custody_log::Record::Event(mut e) = parsed.record else {
        panic!("the last record is an event")
    };
    e.seq += 1;
    e.prev = Some(custody_log::line_digest(&last));
    e.kind = "stolen".into();
    let sig = signer.sign_in(custody_log::LOG_NAMESPACE, &custody_log::event_message(&e)).unwrap();
    let mut blob = Vec::new();
    ssh_encoding::Encode::encode(&sig, &mut blob).unwrap();
    let mut bad = good.clone();
    bad.extend_from_slice(&custody_log::encode_event_line(&e, &blob));
    std::fs::write(&c.log, &bad).unwrap();
    let (report, rc) = verify_json(&c.archive, &["--allowed-signers", allowed]);
    assert_eq!(rc, 12, "{report}");
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "log-malformed")
        .unwrap();
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("event kind \"stolen\" is not one this custody knows"),
        "{f}"
    );

    // On the command line, an unknown kind is a usage error naming the kinds.
    std::fs::write(&c.log, &good).unwrap();
    let o = add(&c.archive, &c.reviewer, &["--event", "stolen", "--actor", "B. Reviewer"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("acquired, transferred, received"), "{}", text(&o));
    // An event is signed by whoever records it: no ephemeral key.
    let o = run(custody()
        .args(["log", "add"])
        .arg(&c.archive)
        .args(["--event", "note", "--actor", "X"]));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("needs --key or --agent"), "{}", text(&o));
    assert_eq!(std::fs::read(&c.log).unwrap(), good);

    // A log add that fails leaves no empty log behind (one would read as a
    // log cut to nothing).
    let cut = c.dir.path().join("cut.tar.zst");
    std::fs::write(&cut, &std::fs::read(&c.archive).unwrap()[..300]).unwrap();
    let missing = c.dir.path().join("missing.tar.zst");
    for archive in [&cut, &missing] {
        let o = add(archive, &c.reviewer, &["--event", "received", "--actor", "B. Reviewer"]);
        assert_eq!(code(&o), 1, "{}", text(&o));
        assert!(!custody_log::log_path(archive).exists(), "{} left a log behind", archive.display());
    }
}

#[test]
fn a_log_beside_another_archive_is_reported() {
    let c = walkthrough();
    let src2 = c.dir.path().join("src2");
    make_tree(&src2);
    let other = c.dir.path().join("other.tar.zst");
    collect(&src2, &other, &c.responder, &[]);
    std::fs::copy(&c.log, custody_log::log_path(&other)).unwrap();
    let (report, rc) = verify_json(&other, &["--allowed-signers", c.allowed.to_str().unwrap()]);
    assert_eq!(rc, 12, "{report}");
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "log-other-archive")
        .unwrap();
    assert!(f["message"].as_str().unwrap().contains("belongs to another archive"), "{f}");
    // --custody-log names the right one.
    let (report, rc) = verify_json(
        &c.archive,
        &[
            "--allowed-signers",
            c.allowed.to_str().unwrap(),
            "--custody-log",
            c.log.to_str().unwrap(),
        ],
    );
    assert_eq!(rc, 0, "{report}");
}

#[test]
fn an_archive_streamed_off_the_host_gets_its_log_from_the_receiver() {
    let (dir, src, responder) = setup();
    let reviewer = keygen(dir.path(), "reviewer");
    let archive = dir.path().join("streamed.tar.zst");
    let out = std::fs::File::create(&archive).unwrap();
    let o = run(collect_cmd(&src, Path::new("-"), &responder).arg("--quiet").stdout(out));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let log = custody_log::log_path(&archive);
    assert!(!log.exists(), "collect to standard output writes no log");
    let o = add(
        &archive,
        &reviewer,
        &[
            "--event",
            "received",
            "--actor",
            "B. Reviewer",
            "--trust-key",
            pub_of(&responder).to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let (report, rc) = verify_json(
        &archive,
        &[
            "--key",
            pub_of(&responder).to_str().unwrap(),
            "--key",
            pub_of(&reviewer).to_str().unwrap(),
        ],
    );
    assert_eq!(rc, 0, "{report}");
    let first = &report["custody_log"]["records"][0];
    assert_eq!(first["kind"], "received");
    assert_eq!(first["verification"]["verdict"], "verified");
    assert_eq!(report["custody_log"]["archive"]["chain"], report["proven"]["chain"]);
}

#[test]
fn events_verify_by_hand_with_ssh_keygen() {
    require_tool("ssh-keygen");
    let c = walkthrough();
    let bytes = std::fs::read(&c.log).unwrap();
    for (n, line) in lines(&bytes).iter().enumerate() {
        let tab = line.iter().position(|&b| b == b'\t').unwrap();
        let mut message = line[..tab].to_vec();
        message.push(b'\n');
        let b64 = std::str::from_utf8(&line[tab + 1..line.len() - 1]).unwrap();
        let mut armor = String::from("-----BEGIN SSH SIGNATURE-----\n");
        for chunk in b64.as_bytes().chunks(70) {
            armor.push_str(std::str::from_utf8(chunk).unwrap());
            armor.push('\n');
        }
        armor.push_str("-----END SSH SIGNATURE-----\n");
        let sig = c.dir.path().join(format!("event.{n}.sig"));
        std::fs::write(&sig, armor).unwrap();
        let principal = if n < 2 { "responder" } else { "reviewer" };
        let mut child = std::process::Command::new("ssh-keygen")
            .args(["-Y", "verify", "-n", custody_log::LOG_NAMESPACE, "-I", principal, "-f"])
            .arg(&c.allowed)
            .arg("-s")
            .arg(&sig)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&message).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "line {}: {}", n + 1, text(&o));
    }
}

#[test]
fn collect_refuses_to_start_beside_another_archives_log() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &[]);
    let log = custody_log::log_path(&archive);
    let before = std::fs::read(&log).unwrap();
    std::fs::remove_file(&archive).unwrap();
    let o = run(collect_cmd(&src, &archive, &key).arg("--quiet"));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains("already exists, left by another archive of that name; nothing was collected"),
        "{}",
        text(&o)
    );
    assert!(!archive.exists(), "nothing was collected");
    assert_eq!(std::fs::read(&log).unwrap(), before);
}
