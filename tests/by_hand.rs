//! Runs the `sh` blocks of docs/VERIFY-BY-HAND.md, unchanged and in order,
//! against a fresh archive and its custody log (they must pass) and against
//! tampered copies of either (some step must fail).

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

fn procedure() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/VERIFY-BY-HAND.md")).unwrap();
    let mut script = String::new();
    let mut inside = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside && line.trim() == "```sh";
            continue;
        }
        if inside {
            script.push_str(line);
            script.push('\n');
        }
    }
    assert!(
        script.contains("ssh-keygen -Y verify") && script.contains("sha256sum"),
        "no procedure found"
    );
    script
}

/// Tools the procedure uses, as it lists them.
const TOOLS: [&str; 14] = [
    "tar",
    "zstd",
    "sha256sum",
    "head",
    "tail",
    "cut",
    "wc",
    "tr",
    "fold",
    "grep",
    "sed",
    "b3sum",
    "ssh-keygen",
    "sh",
];

/// Run the procedure under `sh` in `workdir` with the given inputs.
fn run_with(workdir: &Path, env: &[(&str, &std::ffi::OsStr)]) -> std::process::Output {
    for t in TOOLS {
        require_tool(t);
    }
    std::fs::create_dir_all(workdir).unwrap();
    let mut c = Command::new("sh");
    c.arg("-c").arg(procedure()).current_dir(workdir);
    for v in [
        "ARCHIVE",
        "PUBKEY",
        "FINGERPRINT",
        "ARCHIVE_SHA256",
        "CUSTODY_LOG",
        "LOG_SIGNERS",
        "LOG_HEAD",
        "TSA_ROOT",
    ] {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn run_procedure(archive: &Path, pubkey: &Path, workdir: &Path) -> std::process::Output {
    run_with(workdir, &[("ARCHIVE", archive.as_os_str()), ("PUBKEY", pubkey.as_os_str())])
}

fn passed(o: &std::process::Output) -> bool {
    o.status.success() && String::from_utf8_lossy(&o.stdout).contains("by-hand verification passed")
}

/// The procedure failed with its own message, and did not say "passed".
fn assert_failed(o: &std::process::Output, what: &str, message: &str) {
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && !out.contains("passed"), "{what} passed\n{}", text(o));
    assert!(
        err.contains("BY-HAND CHECK FAILED") && err.contains(message),
        "{what}: expected {message:?}\n{}",
        text(o)
    );
}

/// The second holder's key signs a `transferred` event with `log add`; the
/// log head `log add` prints, as the custody form would record it.
fn add_transfer(archive: &Path, examiner_key: &Path, archive_key: &Path) -> String {
    let o = run(custody()
        .args(["log", "add"])
        .arg(archive)
        .args(["--event", "transferred", "--actor", "B. Examiner", "--counterpart", "A. Responder"])
        .arg("--key")
        .arg(examiner_key)
        .arg("--trust-key")
        .arg(pub_of(archive_key)));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let head = out
        .lines()
        .find_map(|l| l.strip_prefix("log head    "))
        .expect("log add prints the head");
    head[..64].to_string()
}

/// An allowed_signers file trusting `key` for custody log events only.
fn log_signers(dir: &Path, principal: &str, key: &Path) -> std::path::PathBuf {
    let public = std::fs::read_to_string(pub_of(key)).unwrap();
    let key_text: Vec<&str> = public.split_whitespace().take(2).collect();
    let path = dir.join(format!("{principal}.allowed_signers"));
    std::fs::write(
        &path,
        format!("{principal} namespaces=\"custody-log-v1@custody\" {}\n", key_text.join(" ")),
    )
    .unwrap();
    path
}

#[test]
fn the_documented_procedure_passes_on_a_good_archive_and_fails_on_tampered_ones() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    let collected = collect(&src, &archive, &key, &["--checkpoint-members", "3"]);
    // collect wrote the `acquired` event; a second holder adds `transferred`.
    let examiner = keygen(dir.path(), "examiner");
    let head = add_transfer(&archive, &examiner, &key);
    let signers = log_signers(dir.path(), "examiner", &examiner);
    let good_log = |workdir: &str| {
        run_with(
            &dir.path().join(workdir),
            &[
                ("ARCHIVE", archive.as_os_str()),
                ("PUBKEY", pub_of(&key).as_os_str()),
                ("LOG_SIGNERS", signers.as_os_str()),
                ("LOG_HEAD", head.as_ref()),
            ],
        )
    };
    let o = good_log("good");
    assert!(passed(&o), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let chain = out.lines().find_map(|l| l.strip_prefix("final chain value: ")).unwrap();
    assert!(
        String::from_utf8_lossy(&collected.stdout).contains(chain),
        "by-hand chain differs from collect's"
    );
    assert!(out.contains("event 1: acquired by "), "{out}");
    assert!(out.contains("event 2: transferred by B. Examiner"), "{out}");
    assert!(out.contains("trusted as examiner") && !out.contains("warning"), "{out}");
    assert!(out.contains(&format!("custody log head: {head}")), "{out}");
    // Run again in the same directory: it starts afresh and passes again.
    let again = good_log("good");
    assert!(passed(&again), "a second run in the same directory\n{}", text(&again));

    // Without LOG_SIGNERS the examiner's event still verifies, but its key
    // is not trusted: a warning, as custody verify gives, not a failure.
    let o = run_procedure(&archive, &pub_of(&key), &dir.path().join("untrusted-log-key"));
    assert!(passed(&o), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("warning: event 2: transferred by B. Examiner"),
        "{}",
        text(&o)
    );

    // One log line edited (the archive untouched): its signature fails.
    let log = std::fs::read_to_string(dir.path().join("a.tar.zst.custody")).unwrap();
    let edited = log.replacen("\"B. Examiner\"", "\"C. Stranger\"", 1);
    assert_ne!(edited, log);
    let copy = dir.path().join("edited.tar.zst");
    std::fs::copy(&archive, &copy).unwrap();
    std::fs::copy(dir.path().join("a.tar.zst.sha256"), dir.path().join("edited.tar.zst.sha256")).unwrap();
    std::fs::write(dir.path().join("edited.tar.zst.custody"), edited).unwrap();
    let o = run_procedure(&copy, &pub_of(&key), &dir.path().join("edited"));
    assert_failed(
        &o,
        "an edited custody log line",
        "line 2: the signature of the transferred event does not verify",
    );

    // The log's last event cut off: only the head on the form shows it.
    let cut: String = log.lines().take(1).map(|l| format!("{l}\n")).collect();
    let cut_log = dir.path().join("cut.custody");
    std::fs::write(&cut_log, cut).unwrap();
    let o = run_with(
        &dir.path().join("cut"),
        &[
            ("ARCHIVE", archive.as_os_str()),
            ("PUBKEY", pub_of(&key).as_os_str()),
            ("CUSTODY_LOG", cut_log.as_os_str()),
            ("LOG_HEAD", head.as_ref()),
        ],
    );
    assert_failed(&o, "a log cut at its end", "events were cut from the log's end");

    // Content changed: the segment digest step fails.
    let mut tar = tar_stream(&archive);
    let at = tar.windows(11).position(|w| w == b"listen 8080").unwrap();
    tar[at] = b'X';
    let bad = dir.path().join("bad.tar.zst");
    compress(&tar, &bad);
    // The sidecar names the original file; the form's value is the check here.
    let form = |a: &Path| String::from_utf8_lossy(&run(Command::new("sha256sum").arg(a)).stdout)[..64].to_string();
    let bad_sha = form(&bad);
    let o = run_with(
        &dir.path().join("bad"),
        &[
            ("ARCHIVE", bad.as_os_str()),
            ("PUBKEY", pub_of(&key).as_os_str()),
            ("ARCHIVE_SHA256", bad_sha.as_ref()),
        ],
    );
    assert_failed(&o, "tampered content", "do not match");

    // Data appended after the seal: the trailing-zeros step fails.
    let mut tar = tar_stream(&archive);
    let n = tar.len();
    tar[n - 10] = 1;
    let bad = dir.path().join("after.tar.zst");
    compress(&tar, &bad);
    let after_sha = form(&bad);
    let o = run_with(
        &dir.path().join("after"),
        &[
            ("ARCHIVE", bad.as_os_str()),
            ("PUBKEY", pub_of(&key).as_os_str()),
            ("ARCHIVE_SHA256", after_sha.as_ref()),
        ],
    );
    assert_failed(&o, "data after the seal", "after the seal");

    // Another key: the header check fails.
    let other = keygen(dir.path(), "other");
    let o = run_procedure(&archive, &pub_of(&other), &dir.path().join("wrong-key"));
    assert_failed(&o, "an untrusted key", "another signer");

    // The archive file changed after its sidecar was written.
    let copy = dir.path().join("copy.tar.zst");
    std::fs::write(&copy, zstd::stream::encode_all(&tar_stream(&archive)[..], 5).unwrap()).unwrap();
    std::fs::copy(dir.path().join("a.tar.zst.sha256"), dir.path().join("copy.tar.zst.sha256")).unwrap();
    let o = run_procedure(&copy, &pub_of(&key), &dir.path().join("copy"));
    assert_failed(&o, "a file that is not the collected one", "the sidecar says");
}

/// An ephemeral key: the reviewer has only the fingerprint from the custody
/// form, and a streamed collection has no sidecar, only the form's SHA-256.
#[test]
fn the_procedure_works_from_the_custody_form_alone() {
    let (dir, src, _key) = setup();
    let archive = dir.path().join("e.tar.zst");
    let o = run(custody()
        .arg("collect")
        .arg(&src)
        .arg("--output")
        .arg("-")
        .arg("--quiet")
        .stdout(std::fs::File::create(&archive).unwrap()));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let fingerprint = err
        .split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("no fingerprint printed\n{err}"))
        .trim_end_matches([',', '.', ')'])
        .to_string();
    let sha = String::from_utf8_lossy(&run(Command::new("sha256sum").arg(&archive)).stdout)[..64].to_string();
    let inputs = |fp: &str, sha: Option<&str>| {
        let mut v: Vec<(&str, std::ffi::OsString)> = vec![("ARCHIVE", archive.clone().into()), ("FINGERPRINT", fp.into())];
        if let Some(s) = sha {
            v.push(("ARCHIVE_SHA256", s.into()));
        }
        v
    };
    let go = |name: &str, v: Vec<(&str, std::ffi::OsString)>| {
        let env: Vec<(&str, &std::ffi::OsStr)> = v.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
        run_with(&dir.path().join(name), &env)
    };
    let o = go("form", inputs(&fingerprint, Some(&sha)));
    assert!(passed(&o), "{}", text(&o));
    // A streamed collection has no custody log: the step says so and passes.
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("no custody log: skipped, say so on the form"),
        "{}",
        text(&o)
    );

    let o = go("no-sha", inputs(&fingerprint, None));
    assert_failed(&o, "no sidecar and no SHA-256 from the form", "ARCHIVE_SHA256");

    let wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let o = go("wrong-fp", inputs(wrong, Some(&sha)));
    assert_failed(&o, "another fingerprint", "not SHA256:AAAA");
}

/// A missing tool stops the procedure with its name, never a silent skip.
#[test]
fn a_missing_tool_stops_the_procedure() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &[]);
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for t in TOOLS.iter().chain(&["rm", "chmod", "mkdir", "mv", "cat", "dirname", "basename"]) {
        if *t == "b3sum" {
            continue;
        }
        let o = run(Command::new("sh").arg("-c").arg(format!("command -v {t}")));
        let found = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if found.starts_with('/') {
            std::os::unix::fs::symlink(&found, bin.join(t)).unwrap();
        }
    }
    let path = bin.into_os_string();
    let o = run_with(
        &dir.path().join("work"),
        &[
            ("ARCHIVE", archive.as_os_str()),
            ("PUBKEY", pub_of(&key).as_os_str()),
            ("PATH", &path),
        ],
    );
    assert_failed(&o, "a procedure without b3sum", "b3sum is not installed");
}

#[test]
fn the_optional_timestamp_step_checks_the_tokens_with_openssl() {
    let (dir, src, key) = setup();
    let tsa = common::tsa::Tsa::start(common::tsa::Mode::Good);
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &["--checkpoint-members", "3", "--tsa", tsa.url()]);
    let root = tsa.root_pem_path();
    let with_root = |root: &Path, work: &str| {
        run_with(
            &dir.path().join(work),
            &[
                ("ARCHIVE", archive.as_os_str()),
                ("PUBKEY", pub_of(&key).as_os_str()),
                ("TSA_ROOT", root.as_os_str()),
            ],
        )
    };
    let o = with_root(&root, "stamped");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(passed(&o) && out.contains("checkpoint 000001 stamped at "), "{}", text(&o));
    let n: u32 = out
        .lines()
        .find_map(|l| l.strip_suffix(" timestamps verify"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(n >= 2, "{}", text(&o));
    // Another root: the optional step fails, with its own message.
    let o = with_root(&common::tsa::other_root_pem(), "other");
    assert_failed(&o, "a token under another root", "does not verify against");
    // Without TSA_ROOT the step is skipped.
    let o = run_procedure(&archive, &pub_of(&key), &dir.path().join("plain"));
    assert!(
        passed(&o) && !String::from_utf8_lossy(&o.stdout).contains("timestamps verify"),
        "{}",
        text(&o)
    );
}

/// A custody log with timestamp records (`collect --tsa`, `log add --tsa`):
/// with `TSA_ROOT`, step 8 checks each token with `openssl ts -verify
/// -digest` against the SHA-256 of the line before it; under another root,
/// or over other data, it fails naming the line.
#[test]
fn step_8_checks_the_logs_timestamps_with_openssl_when_tsa_root_is_set() {
    let (dir, src, key) = setup();
    let tsa = common::tsa::Tsa::start(common::tsa::Mode::Good);
    let archive = dir.path().join("t.tar.zst");
    collect(&src, &archive, &key, &["--tsa", tsa.url()]);
    let examiner = keygen(dir.path(), "examiner");
    let o = run(custody()
        .args(["log", "add"])
        .arg(&archive)
        .args(["--event", "received", "--actor", "B. Examiner", "--tsa", tsa.url(), "--key"])
        .arg(&examiner)
        .arg("--trust-key")
        .arg(pub_of(&key)));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let signers = log_signers(dir.path(), "examiner", &examiner);
    let log = dir.path().join("t.tar.zst.custody");
    let pubkey = pub_of(&key);
    let go = |root: Option<&Path>, custody_log: &Path, work: &str| {
        let mut env: Vec<(&str, &std::ffi::OsStr)> = vec![
            ("ARCHIVE", archive.as_os_str()),
            ("PUBKEY", pubkey.as_os_str()),
            ("LOG_SIGNERS", signers.as_os_str()),
            ("CUSTODY_LOG", custody_log.as_os_str()),
        ];
        if let Some(r) = root {
            env.push(("TSA_ROOT", r.as_os_str()));
        }
        run_with(&dir.path().join(work), &env)
    };
    let root = tsa.root_pem_path();
    for _ in 0..2 {
        // Twice in the same directory: it starts afresh and passes again.
        let o = go(Some(&root), &log, "trusted");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(passed(&o), "{}", text(&o));
        for (n, of) in [(2, 1), (4, 3)] {
            assert!(
                out.contains(&format!("line {n}: a timestamp of line {of}, at ")) && out.contains("verified against"),
                "{}",
                text(&o)
            );
        }
    }

    // Another root: step 8 fails on the log's first timestamp.
    let other = common::tsa::other_root_pem();
    let o = go(Some(&other), &log, "other-root");
    assert_failed(
        &o,
        "a log timestamp under another root",
        "line 2: the timestamp of line 1 does not verify against",
    );

    // A real token of this TSA, but for another line: line 4 given line 2's
    // token. The links still hold; only the token's digest shows it.
    let text_log = std::fs::read_to_string(&log).unwrap();
    let ls: Vec<&str> = text_log.lines().collect();
    assert_eq!(ls.len(), 4, "acquired, timestamp, received, timestamp");
    let token_2 = ls[1].split('\t').nth(1).unwrap();
    let json_4 = ls[3].split('\t').next().unwrap();
    let swapped = dir.path().join("swapped.custody");
    std::fs::write(&swapped, format!("{}\n{}\n{}\n{json_4}\t{token_2}\n", ls[0], ls[1], ls[2])).unwrap();
    let o = go(Some(&root), &swapped, "swapped");
    assert_failed(
        &o,
        "a token for another line",
        "line 4: the timestamp of line 3 does not verify against",
    );

    // Without TSA_ROOT the tokens are not checked here, and it says so.
    let o = go(None, &swapped, "untimed");
    assert!(passed(&o), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("line 4: a timestamp of line 3; its link is checked here, its token only by custody verify"),
        "{}",
        text(&o)
    );
}

/// A profile collection's live members (live-response documents, command
/// records and outputs) change nothing in the procedure: it passes, and they
/// land in `extracted/.custody/live/` with the digests the listing states.
#[test]
fn the_procedure_passes_on_a_collection_with_live_members() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src);
    let profile = dir.path().join("p.toml");
    std::fs::write(
        &profile,
        format!(
            "name = \"p\"\ndescription = \"d\"\n[live]\nsteps = [\"system\", \"mounts\"]\n\
             [[command]]\nname = \"hello\"\nargv = [\"sh\", \"-c\", \"echo hello\"]\n\
             [[area]]\nname = \"src\"\nwhy = \"w\"\npaths = [\"{}\"]\n",
            src.display()
        ),
    )
    .unwrap();
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("live.tar.zst");
    let o = run(custody()
        .args(["collect", "-q", "--profile"])
        .arg(&profile)
        .arg("--output")
        .arg(&archive)
        .arg("--key")
        .arg(&key));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let work = dir.path().join("work");
    let o = run_procedure(&archive, &pub_of(&key), &work);
    assert!(passed(&o), "{}", text(&o));
    let hello = std::fs::read(work.join("extracted/.custody/live/commands/hello.stdout")).unwrap();
    assert_eq!(hello, b"hello\n");
    assert!(work.join("extracted/.custody/live/system.json").is_file());
}
