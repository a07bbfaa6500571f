//! End-to-end tests of the `custody` binary on real trees: the happy path,
//! verdicts and exit codes, extraction safety, and every bad input of the
//! issue's list, each with a message that says what to do.

mod common;
use common::*;

use std::io::{Read, Write};
use std::process::Stdio;

#[test]
fn collect_verify_list_extract_round_trip() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    let o = collect(
        &src,
        &archive,
        &key,
        &["--case", "CASE-1", "--examiner", "J. Doe", "--checkpoint-members", "3"],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("archive sha256"), "{}", text(&o));
    assert!(stdout.contains("chain"), "{}", text(&o));
    let sidecar = std::fs::read_to_string(dir.path().join("a.tar.zst.sha256")).unwrap();
    assert!(sidecar.ends_with("  a.tar.zst\n"), "{sidecar}");

    let pubkey = pub_of(&key);
    let (report, rc) = verify_json(&archive, &["--key", pubkey.to_str().unwrap()]);
    assert_eq!(rc, 0, "{report}");
    assert_eq!(report["verdict"], "verified");
    assert_eq!(report["sealed"], true);
    assert_eq!(report["header"]["case"]["case"], "CASE-1");
    assert!(report["proven"]["checkpoints"].as_u64().unwrap() >= 3, "{report}");
    // The chain printed by collect is the one the verifier proves.
    let chain = report["proven"]["chain"].as_str().unwrap();
    assert!(
        stdout.contains(chain),
        "collect printed another chain value than verify proved\n{stdout}"
    );

    let o = run(custody().args(["list", "--json", "--key"]).arg(&pubkey).arg(&archive));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let conf = lines
        .iter()
        .find(|l| l["path"].as_str().is_some_and(|p| p.ends_with("etc/app/app.conf")))
        .unwrap();
    assert_eq!(conf["status"], "ok");
    assert_eq!(conf["proof"], "proven");
    assert_eq!(lines.last().unwrap()["type"], "summary");
    assert!(lines.iter().any(|l| l["kind"] == "hardlink"));
    assert!(lines.iter().any(|l| l["kind"] == "symlink"));

    let out = dir.path().join("out");
    let o = run(custody()
        .args(["extract", "--key"])
        .arg(&pubkey)
        .arg(&archive)
        .arg("--into")
        .arg(&out));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let rel = src.strip_prefix("/").unwrap();
    let got = out.join(rel);
    for f in [
        "etc/app/app.conf",
        "var/log/nginx/blob.bin",
        "var/log/nginx/access.log",
        "etc/app/conf.d/empty.conf",
    ] {
        assert_eq!(std::fs::read(got.join(f)).unwrap(), std::fs::read(src.join(f)).unwrap(), "{f}");
    }
    assert_eq!(
        std::fs::read_link(got.join("etc/app/conf.d/link.conf")).unwrap().to_str(),
        Some("../app/app.conf")
    );
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (
        std::fs::metadata(got.join("etc/app/app.conf")).unwrap(),
        std::fs::metadata(got.join("etc/app/app.conf.hardlink")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino(), "hard link not recreated");
    assert_eq!(a.mode() & 0o777, 0o640);
    assert_eq!(a.mtime(), std::fs::metadata(src.join("etc/app/app.conf")).unwrap().mtime());
}

#[test]
fn untrusted_and_wrong_key_and_fingerprint() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &[]);
    let (r, rc) = verify_json(&archive, &[]);
    assert_eq!((r["verdict"].as_str(), rc), (Some("untrusted"), 11), "{r}");
    let other = keygen(dir.path(), "other");
    let (r, rc) = verify_json(&archive, &["--key", pub_of(&other).to_str().unwrap()]);
    assert_eq!((r["verdict"].as_str(), rc), (Some("untrusted"), 11), "{r}");
    let fp = r["signer"]["fingerprint"].as_str().unwrap().to_string();
    let (r, rc) = verify_json(&archive, &["--fingerprint", &fp]);
    assert_eq!((r["verdict"].as_str(), rc), (Some("verified"), 0), "{r}");
    // allowed_signers with a namespace restriction that excludes custody: not trusted.
    let line = std::fs::read_to_string(pub_of(&key)).unwrap();
    let allowed = dir.path().join("allowed");
    std::fs::write(&allowed, format!("alice@example.org namespaces=\"git\" {line}")).unwrap();
    let (r, _) = verify_json(&archive, &["--allowed-signers", allowed.to_str().unwrap()]);
    assert_eq!(r["verdict"], "untrusted");
    std::fs::write(&allowed, format!("# responders\nalice@example.org {line}")).unwrap();
    let (r, rc) = verify_json(&archive, &["--allowed-signers", allowed.to_str().unwrap()]);
    assert_eq!((r["verdict"].as_str(), rc), (Some("verified"), 0), "{r}");
    assert_eq!(r["signer"]["trusted_as"], "alice@example.org");
}

#[test]
fn ephemeral_key_prints_fingerprint_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src);
    let archive = dir.path().join("a.tar.zst");
    let o = run(custody().arg("collect").arg(&src).arg("-o").arg(&archive));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let fp = err
        .split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("no fingerprint on stderr\n{}", text(&o)));
    let (r, rc) = verify_json(&archive, &["--fingerprint", fp]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(r["signer"]["source"], "ephemeral");
}

#[test]
fn truncated_copy_is_incomplete_and_salvageable() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &["--checkpoint-members", "2"]);
    let bytes = std::fs::read(&archive).unwrap();
    let pubkey = pub_of(&key);
    for cut in [bytes.len() / 3, bytes.len() / 2, bytes.len() - 100] {
        let t = dir.path().join(format!("t{cut}.tar.zst"));
        std::fs::write(&t, &bytes[..cut]).unwrap();
        let (r, rc) = verify_json(&t, &["--key", pubkey.to_str().unwrap()]);
        assert_eq!((r["verdict"].as_str(), rc), (Some("incomplete"), 10), "cut at {cut}: {r}");
        assert!(
            finding_kinds(&r).iter().any(|k| k == "truncated" || k == "missing-end-marker"),
            "{r}"
        );
    }
    let t = dir.path().join("half.tar.zst");
    std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
    let (r, _) = verify_json(&t, &["--key", pubkey.to_str().unwrap()]);
    let proven = r["proven"]["totals"]["evidence_members"].as_u64().unwrap();
    assert!(proven > 0, "half an archive should prove some members: {r}");
    let out = dir.path().join("x");
    let o = run(custody().arg("extract").arg(&t).arg("--into").arg(&out).arg("--key").arg(&pubkey));
    assert_eq!(code(&o), 10, "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    // Every member not proven is refused and named; the last proven
    // checkpoint's own document, which its signature proves, is written.
    let unproven = r["unproven_members"].as_u64().unwrap();
    let refused = s
        .lines()
        .filter(|l| l.ends_with("no signed checkpoint covers it (use --salvage to recover it unproven)"));
    assert_eq!(refused.count() as u64, unproven, "{s}");
    let last = r["proven"]["checkpoints"].as_u64().unwrap();
    assert!(out.join(format!(".custody/checkpoint-{last:06}.json.sig")).is_file(), "{s}");
}

#[test]
fn changed_content_is_tampered_and_named() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &[]);
    let mut tar = tar_stream(&archive);
    let at = tar.windows(12).position(|w| w == b"listen 8080\n").unwrap();
    tar[at] = b'L';
    let bad = dir.path().join("bad.tar.zst");
    compress(&tar, &bad);
    let (r, rc) = verify_json(&bad, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((r["verdict"].as_str(), rc), (Some("tampered"), 12), "{r}");
    let altered = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "content-altered")
        .expect("content-altered finding");
    assert!(
        altered["member"]["path"].as_str().unwrap().ends_with("etc/app/app.conf"),
        "{altered}"
    );
    assert!(altered["checkpoint"].as_u64().is_some());
    // Extraction refuses the altered member, even with --salvage.
    let out = dir.path().join("x");
    let o = run(custody()
        .arg("extract")
        .arg(&bad)
        .arg("--into")
        .arg(&out)
        .arg("--salvage")
        .arg("--key")
        .arg(pub_of(&key)));
    assert_eq!(code(&o), 12, "{}", text(&o));
    assert!(!out.join(src.strip_prefix("/").unwrap()).join("etc/app/app.conf").exists());
}

#[test]
fn honest_recompression_still_verifies() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    let o = collect(&src, &archive, &key, &[]);
    let tar = tar_stream(&archive);
    let re = dir.path().join("re.tar.zst");
    std::fs::write(&re, zstd::stream::encode_all(&tar[..], 19).unwrap()).unwrap();
    let (r, rc) = verify_json(&re, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!(rc, 0, "{r}");
    assert!(String::from_utf8_lossy(&o.stdout).contains(r["proven"]["chain"].as_str().unwrap()));
}

#[test]
fn stdout_output_and_stdin_verify() {
    let (dir, src, key) = setup();
    let o = run(custody()
        .arg("collect")
        .arg(&src)
        .args(["--output", "-", "--quiet", "--key"])
        .arg(&key));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("chain"),
        "summary goes to stderr with --output -"
    );
    let mut child = custody()
        .args(["verify", "-", "--json", "--key"])
        .arg(pub_of(&key))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&o.stdout).unwrap();
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(child.wait().unwrap().success(), "{out}");
    assert!(out.contains("\"verdict\":\"verified\""));
    drop(dir);
}

#[test]
fn stdout_closed_early_leaves_an_incomplete_archive() {
    let (dir, src, key) = setup();
    // A consumer that reads a little and goes away, like `| head -c N`.
    let mut child = custody()
        .arg("collect")
        .arg(&src)
        .args(["-o", "-", "--quiet", "--checkpoint-members", "2", "--key"])
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = vec![0u8; 40_000];
    child.stdout.as_mut().unwrap().read_exact(&mut head).unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 3, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("before its seal") && err.contains("custody verify"), "{err}");
    let partial = dir.path().join("p.tar.zst");
    std::fs::write(&partial, &head).unwrap();
    let (r, rc) = verify_json(&partial, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((r["verdict"].as_str(), rc), (Some("incomplete"), 10), "{r}");
}

fn assert_fails(args: &mut std::process::Command, want_code: i32, needles: &[&str]) -> String {
    let o = run(args);
    assert_eq!(code(&o), want_code, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}\n{}", text(&o));
    }
    err
}

#[test]
fn bad_inputs_get_clear_errors_and_write_nothing() {
    let (dir, src, key) = setup();
    let d = dir.path();
    let out = d.join("a.tar.zst");
    // Source that does not exist.
    assert_fails(
        custody().arg("collect").arg(d.join("nope")).arg("-o").arg(&out),
        1,
        &["nope", "cannot be examined", "nothing was written"],
    );
    assert!(!out.exists());
    // Malformed key.
    let junk = d.join("junk.key");
    std::fs::write(&junk, "not a key\n").unwrap();
    assert_fails(
        &mut collect_cmd(&src, &out, &junk),
        1,
        &["junk.key", "not an OpenSSH private key", "ssh-keygen -t ed25519"],
    );
    // Unreadable key (missing file).
    assert_fails(
        &mut collect_cmd(&src, &out, &d.join("missing.key")),
        1,
        &["cannot read key file", "missing.key"],
    );
    assert!(!out.exists(), "a failed start must not leave an archive");
    // Output inside the collected tree.
    let inside = src.join("evidence.tar.zst");
    assert_fails(
        custody().arg("collect").arg(&src).arg("-o").arg(&inside).arg("--key").arg(&key),
        1,
        &["inside the collected tree", "--output -"],
    );
    assert!(!inside.exists(), "nothing may be written into the evidence");
    // Unwritable output directory.
    assert_fails(
        custody()
            .arg("collect")
            .arg(&src)
            .arg("-o")
            .arg(d.join("no/such/dir/a.tar.zst"))
            .arg("--key")
            .arg(&key),
        1,
        &["does not exist"],
    );
    // Existing output is never overwritten.
    std::fs::write(&out, "precious").unwrap();
    assert_fails(&mut collect_cmd(&src, &out, &key), 1, &["must not exist already"]);
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    // A file that is not an archive.
    assert_fails(custody().arg("verify").arg(&out), 4, &["not a custody archive"]);
    let plain = d.join("plain.zst");
    std::fs::write(&plain, zstd::stream::encode_all(&b"hello world, this is not tar"[..], 3).unwrap()).unwrap();
    assert_fails(custody().arg("verify").arg(&plain), 4, &["not a custody archive"]);
    // A missing archive.
    assert_fails(
        custody().arg("verify").arg(d.join("missing.tar.zst")),
        1,
        &["cannot open the archive"],
    );
    // Usage errors are exit 2.
    assert_fails(
        custody().args(["collect", "--checkpoint-members", "0", "-o"]).arg(&out),
        2,
        &["checkpoint-members"],
    );
}

#[test]
fn full_output_device_stops_with_exit_3() {
    let (_dir, src, key) = setup();
    // /dev/full fails every write with ENOSPC, like a full disk.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let o = run(custody()
        .arg("collect")
        .arg(&src)
        .args(["-o", "-", "--quiet", "--key"])
        .arg(&key)
        .stdout(full));
    assert_eq!(code(&o), 3, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("No space left on device") && err.contains("free space"), "{err}");
}

#[test]
fn encrypted_key_passphrase_from_env() {
    let (dir, src, _) = setup();
    require_tool("ssh-keygen");
    let key = dir.path().join("enc");
    let o = run(std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "correct horse", "-C", "", "-f"])
        .arg(&key));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = dir.path().join("a.tar.zst");
    assert_fails(
        &mut collect_cmd(&src, &out, &key),
        1,
        &["passphrase-protected", "CUSTODY_KEY_PASSPHRASE"],
    );
    assert_fails(
        collect_cmd(&src, &out, &key).env("CUSTODY_KEY_PASSPHRASE", "wrong"),
        1,
        &["wrong passphrase"],
    );
    assert!(!out.exists());
    let o = run(custody()
        .arg("collect")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .arg("--quiet")
        .arg("--key")
        .arg(&key)
        .env("CUSTODY_KEY_PASSPHRASE", "correct horse"));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let (r, rc) = verify_json(&out, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!(rc, 0, "{r}");
}

#[test]
fn extraction_refuses_nonempty_target() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &[]);
    let target = dir.path().join("busy");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), "x").unwrap();
    assert_fails(custody().arg("extract").arg(&archive).arg("--into").arg(&target), 1, &["not empty"]);
}

#[test]
fn excludes_are_recorded_as_skipped() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &["--exclude", "*.bin"]);
    let (r, _) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!(r["verdict"], "verified");
    assert_eq!(r["proven"]["totals"]["skipped"], 1, "{r}");
    let skip = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "collection-skip")
        .unwrap();
    assert!(skip["message"].as_str().unwrap().contains("excluded"), "{skip}");
}

#[test]
fn extraction_writes_nothing_without_a_trusted_signer_unless_salvaging() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &[]);
    let other = keygen(dir.path(), "other");
    let count_files = |d: &std::path::Path| files_under(d).len();
    for trust in [vec![], vec!["--key".to_string(), pub_of(&other).to_string_lossy().into_owned()]] {
        let target = dir.path().join(format!("untrusted-{}", trust.len()));
        let o = run(custody().arg("extract").arg(&archive).arg("--into").arg(&target).args(&trust));
        assert_eq!(code(&o), 11, "{}", text(&o));
        assert_eq!(count_files(&target), 0, "nothing is written for an untrusted signer\n{}", text(&o));
        assert!(
            text(&o).contains("--salvage"),
            "the report says how to recover anyway\n{}",
            text(&o)
        );
        // The reason is given once, with the signer, the count and how to
        // name the key, not once per member.
        let t = text(&o);
        let n: usize = t
            .lines()
            .find_map(|l| l.strip_prefix("not extracted: ")?.strip_suffix(" members")?.parse().ok())
            .expect("the number of members not extracted");
        let fp = verify_json(&archive, &[]).0["signer"]["fingerprint"].as_str().unwrap().to_string();
        for needle in [
            format!("{n} of them match their signed listings, but the signer {fp} is not trusted"),
            "--key FILE.pub".to_string(),
            "--allowed-signers FILE".to_string(),
            format!("--fingerprint {fp}"),
        ] {
            assert!(t.contains(&needle), "lacks {needle:?}\n{t}");
        }
        assert!(n > 5, "{t}");
        assert!(t.lines().count() < 10, "one line per member again?\n{t}");
        let given = if trust.is_empty() {
            "no trusted key was given"
        } else {
            "not among the keys given"
        };
        assert!(t.contains(given), "{t}");
    }
    let target = dir.path().join("salvaged");
    let o = run(custody().arg("extract").arg(&archive).arg("--into").arg(&target).arg("--salvage"));
    assert_eq!(code(&o), 11, "{}", text(&o));
    assert!(count_files(&target) > 5, "{}", text(&o));
}

/// The `.custody/checkpoint-000001.json` member and its signature, as
/// `custody extract` writes them, for checking with `ssh-keygen -Y verify`.
fn first_checkpoint(dir: &std::path::Path, archive: &std::path::Path, pubkey: &std::path::Path) -> (Vec<u8>, std::path::PathBuf) {
    let out = dir.join("first-checkpoint");
    let o = run(custody()
        .arg("extract")
        .arg(archive)
        .arg("--into")
        .arg(&out)
        .arg("--key")
        .arg(pubkey));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let json = out.join(".custody/checkpoint-000001.json");
    (std::fs::read(&json).unwrap(), out.join(".custody/checkpoint-000001.json.sig"))
}

/// Whether `ssh-keygen -Y verify` accepts the signature with this
/// allowed_signers file for principal `custody`.
fn ssh_keygen_accepts(allowed: &std::path::Path, doc: &[u8], sig: &std::path::Path) -> bool {
    let mut child = std::process::Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(allowed)
        .args(["-I", "custody", "-n", "custody-checkpoint-v1@custody", "-s"])
        .arg(sig)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(doc).unwrap();
    child.wait().unwrap().success()
}

#[test]
fn allowed_signers_options_are_read_as_ssh_keygen_reads_them() {
    require_tool("ssh-keygen");
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &[]);
    let (doc, sig) = first_checkpoint(dir.path(), &archive, &pub_of(&key));
    let line = std::fs::read_to_string(pub_of(&key)).unwrap();
    let line = line.trim_end();
    let allowed = dir.path().join("allowed_signers");
    let ns = "custody-checkpoint-v1@custody";
    // Lines both tools trust the key by: the one FORMAT.md §9 shows, option
    // names in other cases, a quoted value with a comma and a blank, and an
    // option after it.
    for trusted in [
        format!("custody namespaces=\"{ns}\" {line}"),
        format!("custody NAMESPACES=\"{ns}\" {line} responder key"),
        format!("custody Namespaces=\"git files,{ns}\",Valid-After=\"20200101\" {line}"),
        format!("custody namespaces=\"custody-*\",valid-before=\"29991231\" {line}"),
    ] {
        std::fs::write(&allowed, format!("{trusted}\n")).unwrap();
        assert!(ssh_keygen_accepts(&allowed, &doc, &sig), "ssh-keygen refuses {trusted:?}");
        let (r, rc) = verify_json(&archive, &["--allowed-signers", allowed.to_str().unwrap()]);
        assert_eq!((r["verdict"].as_str(), rc), (Some("verified"), 0), "{trusted:?}: {r}");
        assert_eq!(r["signer"]["trusted_as"], "custody", "{r}");
    }
    // Lines neither trusts the key by: another namespace, and a
    // certificate authority (the signature is not made with a certificate).
    for untrusted in [
        format!("custody namespaces=\"git,file\" {line}"),
        format!("custody Cert-Authority {line}"),
    ] {
        std::fs::write(&allowed, format!("{untrusted}\n")).unwrap();
        assert!(!ssh_keygen_accepts(&allowed, &doc, &sig), "ssh-keygen accepts {untrusted:?}");
        let (r, rc) = verify_json(&archive, &["--allowed-signers", allowed.to_str().unwrap()]);
        assert_eq!((r["verdict"].as_str(), rc), (Some("untrusted"), 11), "{untrusted:?}: {r}");
    }
    // A line ssh-keygen refuses is an error that names the line and the option.
    std::fs::write(&allowed, format!("# responders\ncustody no-touch-required {line}\n")).unwrap();
    assert!(!ssh_keygen_accepts(&allowed, &doc, &sig));
    assert_fails(
        custody().arg("verify").arg(&archive).arg("--allowed-signers").arg(&allowed),
        1,
        &["line 2", "unknown option `no-touch-required`", "ssh-keygen(1)"],
    );
}

#[test]
fn key_files_of_the_wrong_kind_say_what_to_pass() {
    let (dir, src, key) = setup();
    let d = dir.path();
    let out = d.join("a.tar.zst");
    let pubkey = pub_of(&key);
    // A public key to sign with: name the private key beside it, or --agent.
    let err = assert_fails(
        &mut collect_cmd(&src, &out, &pubkey),
        1,
        &["is a public key", "private key file", "--agent"],
    );
    assert!(err.contains(&format!("({})", key.display())), "{err}");
    assert!(!out.exists());
    // A private key to trust: pass its .pub.
    collect(&src, &out, &key, &[]);
    assert_fails(
        custody().arg("verify").arg(&out).arg("--key").arg(&key),
        1,
        &["is a private key", &format!("pass {} instead", pubkey.display())],
    );
    assert_fails(
        custody().arg("verify").arg(&out).arg("--allowed-signers").arg(&key),
        1,
        &["it is a private key file", "--allowed-signers takes lines"],
    );
    // Without the .pub beside it: how to make it.
    let lone = d.join("lone");
    std::fs::copy(&key, &lone).unwrap();
    assert_fails(
        custody().arg("verify").arg(&out).arg("--key").arg(&lone),
        1,
        &["is a private key", "ssh-keygen -y -f"],
    );
    // Empty files say they are empty.
    let empty = d.join("empty.key");
    std::fs::write(&empty, "").unwrap();
    assert_fails(&mut collect_cmd(&src, &d.join("b.tar.zst"), &empty), 1, &["empty.key is empty"]);
    std::fs::write(&empty, "\n# nothing\n").unwrap();
    assert_fails(
        custody().arg("verify").arg(&out).arg("--key").arg(&empty),
        1,
        &["empty.key is empty"],
    );
    // A directory is named once.
    let keydir = d.join("keydir");
    std::fs::create_dir(&keydir).unwrap();
    for cmd in [collect_cmd(&src, &d.join("c.tar.zst"), &keydir), {
        let mut c = custody();
        c.arg("verify").arg(&out).arg("--key").arg(&keydir);
        c
    }] {
        let mut cmd = cmd;
        let err = assert_fails(&mut cmd, 1, &["keydir"]);
        assert_eq!(err.matches("keydir").count(), 1, "{err}");
        assert_eq!(err.matches("Is a directory").count(), 1, "{err}");
    }
}

#[test]
fn verify_json_reports_operational_errors_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plain = d.join("plain.txt");
    std::fs::write(&plain, "not an archive").unwrap();
    let junk = d.join("junk.pub");
    std::fs::write(&junk, "not a key\n").unwrap();
    for (args, want_kind, want_code) in [
        (vec![plain.clone()], "not-an-archive", 4),
        (vec![d.join("missing.tar.zst")], "read", 1),
        (vec![plain.clone(), "--key".into(), junk.clone()], "trust-anchor", 1),
    ] {
        let o = run(custody().arg("verify").arg("--json").args(&args));
        assert_eq!(code(&o), want_code, "{}", text(&o));
        let stdout = String::from_utf8(o.stdout.clone()).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{}", text(&o));
        assert!(stdout.starts_with("{\"verdict\":null,\"error\":{\"kind\":"), "{stdout}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}\n{}", text(&o)));
        assert!(v["verdict"].is_null(), "{v}");
        assert_eq!(v["error"]["kind"], want_kind, "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(!msg.is_empty() && String::from_utf8_lossy(&o.stderr).contains(msg), "{}", text(&o));
    }
}

/// `list --json` lines of an archive.
fn list_json(archive: &std::path::Path, trust: &[&str]) -> Vec<serde_json::Value> {
    let o = run(custody().arg("list").arg("--json").arg(archive).args(trust));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The members `list` shows with a proof other than `proven`.
fn not_proven_in_list(archive: &std::path::Path, trust: &[&str]) -> u64 {
    let lines = list_json(archive, trust);
    lines.iter().filter(|l| l["type"] == "member" && l["proof"] != "proven").count() as u64
}

#[test]
fn not_proven_counts_are_right_in_every_verdict() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &["--checkpoint-members", "3"]);
    let pubkey = pub_of(&key);
    let trust = ["--key", pubkey.to_str().unwrap()];
    let (r, _) = verify_json(&archive, &trust);
    assert_eq!(
        (r["verdict"].as_str(), r["unproven_members"].as_u64()),
        (Some("verified"), Some(0)),
        "{r}"
    );
    assert!(r["proven"]["checkpoints"].as_u64().unwrap() >= 4, "{r}");
    assert_eq!(not_proven_in_list(&archive, &trust), 0);

    // One byte flipped in the content of members of several segments: the
    // members of that segment and of every later one are not proven.
    let tar = tar_stream(&archive);
    let mut checked_later_segment = false;
    for needle in [&b"listen 8080\n"[..], b"GET /api/2999 ", b"long name\n"] {
        let mut t = tar.clone();
        let at = t.windows(needle.len()).position(|w| w == needle).unwrap();
        t[at] ^= 0x20;
        let bad = dir.path().join("bad.tar.zst");
        compress(&t, &bad);
        let (r, rc) = verify_json(&bad, &trust);
        assert_eq!((r["verdict"].as_str(), rc), (Some("tampered"), 12), "{r}");
        let unproven = r["unproven_members"].as_u64().unwrap();
        let listed = not_proven_in_list(&bad, &trust);
        assert_eq!(unproven, listed, "unproven_members against list: {r}");
        let members = list_json(&bad, &trust).iter().filter(|l| l["type"] == "member").count() as u64;
        // Altered in segment 1, nothing is proven; after a verified
        // checkpoint, the members it proves are not counted.
        let later = r["proven"]["checkpoints"].as_u64().unwrap() > 0;
        if later {
            assert!(unproven > 2 && unproven < members, "{unproven} of {members}: {r}");
        } else {
            assert_eq!(unproven, members, "{r}");
        }
        checked_later_segment |= later;
        // The human summary says the same.
        let o = run(custody().arg("verify").arg(&bad).args(trust));
        let human = String::from_utf8_lossy(&o.stdout);
        assert!(human.contains(&format!("and {unproven} members: ")), "{human}");
    }
    assert!(checked_later_segment, "no altered member lay after a verified checkpoint");

    // Cut short: incomplete, and an untrusted signer too.
    let bytes = std::fs::read(&archive).unwrap();
    let cut = dir.path().join("cut.tar.zst");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    for (trust, verdict) in [(&trust[..], "incomplete"), (&[][..], "untrusted")] {
        let (r, _) = verify_json(&cut, trust);
        assert_eq!(r["verdict"], verdict, "{r}");
        let unproven = r["unproven_members"].as_u64().unwrap();
        assert!(unproven > 0, "{r}");
        assert_eq!(unproven, not_proven_in_list(&cut, &["--key", pubkey.to_str().unwrap()]), "{r}");
    }
}

#[test]
fn list_names_custody_members_and_link_targets() {
    let (dir, src, key) = setup();
    use std::os::unix::ffi::OsStrExt;
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(b"caf\xe9"), src.join("latin1-link")).unwrap();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &[]);
    let pubkey = pub_of(&key);
    let lines = list_json(&archive, &["--key", pubkey.to_str().unwrap()]);
    let members: Vec<_> = lines.iter().filter(|l| l["type"] == "member").collect();
    for m in &members {
        assert_ne!(m["status"], "unknown", "{m}");
        if m["path"].as_str().is_some_and(|p| p.starts_with(".custody/")) {
            assert_eq!(m["status"], "custody", "{m}");
        }
    }
    let by_end = |end: &str| {
        *members
            .iter()
            .find(|m| m["path"].as_str().is_some_and(|p| p.ends_with(end)))
            .unwrap_or_else(|| panic!("no member ending {end}"))
    };
    assert_eq!(by_end("conf.d/link.conf")["linkpath"], "../app/app.conf");
    assert_eq!(by_end("etc/app/dangling")["linkpath"], "/nonexistent/target");
    let latin = by_end("latin1-link");
    assert!(latin["linkpath"].is_null(), "{latin}");
    assert_eq!(latin["linkpath_b64"], "Y2Fm6Q==");
    let hard = members.iter().find(|m| m["kind"] == "hardlink").unwrap();
    assert!(hard["linkpath"].as_str().unwrap().contains("etc/app/app.conf"), "{hard}");
    assert!(by_end("nginx/access.log")["linkpath"].is_null());
    let o = run(custody().arg("list").arg(&archive).arg("--key").arg(&pubkey));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let human = String::from_utf8_lossy(&o.stdout);
    assert!(human.contains("conf.d/link.conf -> ../app/app.conf\n"), "{human}");
    assert!(
        human
            .lines()
            .any(|l| l.contains(" custody ") && l.ends_with("checkpoint-000001.json")),
        "{human}"
    );
    assert!(!human.contains(" unknown "), "{human}");
}

/// SHA-256 (hex) of a file's bytes.
fn file_sha256(path: &std::path::Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn the_archive_file_digest_is_checked_against_the_option_or_the_sidecar() {
    let (dir, src, key) = setup();
    let d = dir.path();
    let archive = d.join("a.tar.zst");
    let collected = collect(&src, &archive, &key, &["--checkpoint-members", "4"]);
    let pubkey = pub_of(&key);
    let trust = ["--key", pubkey.to_str().unwrap()];
    let sidecar = d.join("a.tar.zst.sha256");
    let digest = file_sha256(&archive);
    assert!(std::fs::read_to_string(&sidecar).unwrap().starts_with(&digest));

    // The sidecar beside a file input is checked without being asked for.
    let (r, rc) = verify_json(&archive, &trust);
    assert_eq!((r["verdict"].as_str(), rc), (Some("verified"), 0), "{r}");
    assert_eq!(
        r["archive_file"],
        serde_json::json!({"sha256": digest, "expected": digest, "source": "sidecar", "matches": true})
    );
    let o = run(custody().arg("verify").arg(&archive).args(trust));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let line = format!("archive sha256 {digest} (matches {})", sidecar.display());
    assert!(String::from_utf8_lossy(&o.stdout).contains(&line), "{}", text(&o));

    // The option, in either case, takes the sidecar's place.
    let upper = digest.to_uppercase();
    let o = run(custody().arg("verify").arg(&archive).args(trust).args(["--archive-sha256", &upper]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let line = format!("archive sha256 {digest} (matches --archive-sha256)");
    assert!(String::from_utf8_lossy(&o.stdout).contains(&line), "{}", text(&o));

    // Another digest: the file is not the one recorded.
    let wrong = format!("{}{}", &digest[..63], if digest.ends_with('0') { '1' } else { '0' });
    let (r, rc) = verify_json(&archive, &[&trust[..], &["--archive-sha256", &wrong]].concat());
    assert_eq!((r["verdict"].as_str(), rc), (Some("tampered"), 12), "{r}");
    assert_eq!(r["archive_file"]["source"], "option");
    assert_eq!(r["archive_file"]["matches"], false);
    let mismatch: Vec<&serde_json::Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "archive-digest-mismatch")
        .collect();
    assert_eq!(mismatch.len(), 1, "{r}");
    assert_eq!(mismatch[0]["level"], "error");
    let msg = mismatch[0]["message"].as_str().unwrap();
    assert!(
        msg.contains(&digest) && msg.contains(&wrong) && msg.contains("--archive-sha256"),
        "{msg}"
    );

    // Honest recompression beside the old sidecar: the file digest no longer
    // matches, while the chain verifies and ends at the value collect printed.
    let re = d.join("re.tar.zst");
    std::fs::write(&re, zstd::stream::encode_all(&tar_stream(&archive)[..], 19).unwrap()).unwrap();
    std::fs::copy(&sidecar, d.join("re.tar.zst.sha256")).unwrap();
    let (r, rc) = verify_json(&re, &trust);
    assert_eq!((r["verdict"].as_str(), rc), (Some("tampered"), 12), "{r}");
    let errors: Vec<&serde_json::Value> = r["findings"].as_array().unwrap().iter().filter(|f| f["level"] == "error").collect();
    assert_eq!(errors.len(), 1, "{r}");
    assert_eq!(errors[0]["kind"], "archive-digest-mismatch");
    assert!(errors[0]["message"].as_str().unwrap().contains("re.tar.zst.sha256"), "{r}");
    assert_eq!(r["archive_file"]["source"], "sidecar");
    assert_eq!(r["archive_file"]["sha256"].as_str(), Some(file_sha256(&re).as_str()));
    let chain = r["proven"]["chain"].as_str().unwrap();
    assert!(String::from_utf8_lossy(&collected.stdout).contains(chain));
    let o = run(custody().arg("verify").arg(&re).args(trust));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("the archive file is not the one recorded") && s.contains("does NOT match"),
        "{s}"
    );

    // Standard input: no sidecar, but the option works.
    let verify_stdin = |extra: &[&str]| {
        let o = run(custody()
            .args(["verify", "-", "--json"])
            .args(trust)
            .args(extra)
            .stdin(std::fs::File::open(&archive).unwrap()));
        (serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(), code(&o))
    };
    let (r, rc) = verify_stdin(&[]);
    assert_eq!(rc, 0, "{r}");
    assert!(r["archive_file"].is_null(), "{r}");
    let (r, rc) = verify_stdin(&["--archive-sha256", &digest]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(r["archive_file"]["matches"], true);

    // Without a sidecar and without the option, nothing is checked.
    let bare = d.join("bare.tar.zst");
    std::fs::copy(&archive, &bare).unwrap();
    let (r, _) = verify_json(&bare, &trust);
    assert!(r["archive_file"].is_null(), "{r}");

    // A malformed sidecar or digest stops verify with a clear message.
    std::fs::write(d.join("bare.tar.zst.sha256"), format!("{}  bare.tar.zst\n", &digest[..60])).unwrap();
    let o = run(custody().arg("verify").arg("--json").arg(&bare).args(trust));
    assert_eq!(code(&o), 1, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bare.tar.zst.sha256") && err.contains("is malformed") && err.contains("--archive-sha256"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "operational", "{v}");
    for bad in [&digest[..63], "not-a-digest"] {
        assert_fails(
            custody().arg("verify").arg(&archive).args(["--archive-sha256", bad]),
            2,
            &["64 hexadecimal digits"],
        );
    }
}

#[test]
fn the_file_digest_covers_bytes_the_verifier_does_not_need() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &[]);
    // Megabytes of incompressible data after the seal, in a frame of their
    // own: the verifier stops at their first byte, the digest goes on.
    let mut bytes = std::fs::read(&archive).unwrap();
    let mut x: u64 = 7;
    let noise: Vec<u8> = (0..6 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8 | 1
        })
        .collect();
    bytes.extend(zstd::stream::encode_all(&noise[..], 1).unwrap());
    let longer = dir.path().join("longer.tar.zst");
    std::fs::write(&longer, &bytes).unwrap();
    let whole = file_sha256(&longer);
    let pubkey = pub_of(&key);
    let (r, rc) = verify_json(&longer, &["--key", pubkey.to_str().unwrap(), "--archive-sha256", &whole]);
    assert_eq!(rc, 12, "{r}");
    assert_eq!(finding_kinds(&r), ["data-after-seal"], "{r}");
    assert_eq!(r["archive_file"]["sha256"].as_str(), Some(whole.as_str()), "{r}");
    assert_eq!(r["archive_file"]["matches"], true);
}

#[test]
fn a_seal_signature_of_sshsig_version_0_is_a_bad_signature() {
    use base64::Engine as _;
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &[]);
    let mut tar = tar_stream(&archive);
    // The seal's signature is the last armored blob of the stream.
    let begin = b"-----BEGIN SSH SIGNATURE-----\n";
    let end = b"-----END SSH SIGNATURE-----\n";
    let at = tar.windows(begin.len()).rposition(|w| w == begin).unwrap();
    let stop = at + tar[at..].windows(end.len()).position(|w| w == end).unwrap() + end.len();
    let armored = std::str::from_utf8(&tar[at..stop]).unwrap().to_string();
    let b64: String = armored.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut blob = base64::engine::general_purpose::STANDARD.decode(&b64).unwrap();
    assert_eq!(&blob[..10], b"SSHSIG\0\0\0\x01");
    blob[9] = 0;
    let mut rearmored = String::from_utf8(begin.to_vec()).unwrap();
    for line in base64::engine::general_purpose::STANDARD.encode(&blob).as_bytes().chunks(70) {
        rearmored += std::str::from_utf8(line).unwrap();
        rearmored.push('\n');
    }
    rearmored += std::str::from_utf8(end).unwrap();
    // Same length, so the member's tar header (size included) stays as it is.
    assert_eq!(rearmored.len(), armored.len());
    assert_ne!(rearmored, armored);
    tar[at..stop].copy_from_slice(rearmored.as_bytes());
    let bad = dir.path().join("v0.tar.zst");
    compress(&tar, &bad);
    let (r, rc) = verify_json(&bad, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((r["verdict"].as_str(), rc), (Some("tampered"), 12), "{r}");
    assert_eq!(finding_kinds(&r), ["bad-signature"], "{r}");
    assert!(r["findings"][0]["message"].as_str().unwrap().contains("version 0"), "{r}");
}

#[test]
fn a_checkpoint_time_that_does_not_parse_is_never_canonical() {
    require_tool("ssh-keygen");
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &[]);
    let tar = tar_stream(&archive);
    let members = tar_members(&tar);
    let n = members.len();
    let (start, end, ref json_path) = members[n - 2];
    let sig_path = members[n - 1].2.clone();
    let old_json = tar[start..end].to_vec();
    let doc_start = old_json.windows(2).position(|w| w == b"{\"").unwrap();
    let doc_end = old_json.iter().rposition(|&b| b != 0).unwrap() + 1;
    let doc = &old_json[doc_start..doc_end];
    let time = serde_json::from_slice::<serde_json::Value>(doc).unwrap()["time"]
        .as_str()
        .unwrap()
        .to_string();
    let field = format!("\"time\":\"{time}\"");
    assert_eq!(String::from_utf8_lossy(doc).matches(&field).count(), 1);

    // The seal re-signed with another time, its members' headers built as
    // custody builds them for that time.
    let resealed = |new_time: &str, secs: i64| {
        let new_doc = String::from_utf8_lossy(doc).replace(&field, &format!("\"time\":\"{new_time}\""));
        let doc_file = dir.path().join(format!("seal-{secs}.json"));
        std::fs::write(&doc_file, &new_doc).unwrap();
        let o = run(std::process::Command::new("ssh-keygen")
            .args(["-Y", "sign", "-f"])
            .arg(&key)
            .args(["-n", "custody-checkpoint-v1@custody"])
            .arg(&doc_file));
        assert_eq!(code(&o), 0, "{}", text(&o));
        let sig = std::fs::read(dir.path().join(format!("seal-{secs}.json.sig"))).unwrap();
        let tar = with_seal_members(
            &tar,
            &custody_member(json_path, new_doc.as_bytes(), secs),
            &custody_member(&sig_path, &sig, secs),
        );
        let out = dir.path().join(format!("seal-{secs}.tar.zst"));
        compress(&tar, &out);
        verify_json(&out, &["--key", pub_of(&key).to_str().unwrap()])
    };
    // The rebuilding itself is sound: a valid time, re-signed, verifies.
    let (r, rc) = resealed("2030-01-01T00:00:00Z", 1_893_456_000);
    assert_eq!((r["verdict"].as_str(), rc), (Some("verified"), 0), "{r}");
    // "junk" has no whole seconds; headers made with the least i64 do not
    // pass for canonical.
    let (r, rc) = resealed("junk", i64::MIN);
    assert_eq!((r["verdict"].as_str(), rc), (Some("tampered"), 12), "{r}");
    let errors: Vec<&serde_json::Value> = r["findings"].as_array().unwrap().iter().filter(|f| f["level"] == "error").collect();
    assert_eq!(errors.len(), 2, "{r}");
    for (f, path) in errors.iter().zip([json_path, &sig_path]) {
        assert_eq!(f["kind"], "non-canonical-custody-member", "{r}");
        assert_eq!(f["member"]["path"].as_str(), Some(path.as_str()), "{r}");
        assert!(f["message"].as_str().unwrap().contains("\"junk\" is not an RFC 3339 time"), "{r}");
    }
}

#[test]
fn sizes_take_suffixes_and_collect_leaves_a_receipt_for_the_custody_form() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("r.tar.zst");
    let o = collect(
        &src,
        &archive,
        &key,
        &["--checkpoint-bytes", "64K", "--case", "CASE-9", "--examiner", "J. Doe"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(" checkpoints,") && out.contains("elapsed"), "{out}");
    let receipt = std::fs::read_to_string(dir.path().join("r.tar.zst.receipt")).unwrap();
    let (report, rc) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!(rc, 0, "{report}");
    // 64 KiB between checkpoints: the 200 KB blob alone spans several.
    assert!(report["proven"]["checkpoints"].as_u64().unwrap() >= 3, "{report}");
    for want in [
        report["input_sha256"].as_str().unwrap(),
        report["proven"]["chain"].as_str().unwrap(),
        report["archive_id"].as_str().unwrap(),
        report["signer"]["fingerprint"].as_str().unwrap(),
        "CASE-9",
        "J. Doe",
    ] {
        assert!(receipt.contains(want), "the receipt lacks {want}\n{receipt}");
    }
    let o = run(collect_cmd(&src, &dir.path().join("x.tar.zst"), &key).args(["--checkpoint-bytes", "1.5G"]));
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("1536M, not 1.5G"), "{}", text(&o));
}

#[test]
fn keygen_never_overwrites_and_can_encrypt_the_key_it_writes() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "k");
    let before = std::fs::read(&key).unwrap();
    let o = run(custody().arg("keygen").arg("--output").arg(&key));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains("already exists, and custody never overwrites a key"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(&key).unwrap(), before);
    // A stray .pub is not overwritten either, and no private key is written.
    std::fs::write(dir.path().join("stray.pub"), "keep me\n").unwrap();
    let o = run(custody().arg("keygen").arg("--output").arg(dir.path().join("stray")));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(!dir.path().join("stray").exists());
    assert_eq!(std::fs::read_to_string(dir.path().join("stray.pub")).unwrap(), "keep me\n");

    // --encrypt: ssh-keygen needs the passphrase, and collect signs with it.
    require_tool("ssh-keygen");
    let enc = dir.path().join("enc");
    let o = run(custody()
        .arg("keygen")
        .arg("--output")
        .arg(&enc)
        .arg("--encrypt")
        .env("CUSTODY_KEY_PASSPHRASE", "correct horse"));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let read = |pass: &str| run(std::process::Command::new("ssh-keygen").args(["-y", "-P", pass, "-f"]).arg(&enc));
    assert!(read("correct horse").status.success());
    assert!(!read("wrong").status.success() && !read("").status.success());
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    let archive = dir.path().join("a.tar.zst");
    let o = run(collect_cmd(&src, &archive, &enc)
        .arg("--quiet")
        .env("CUSTODY_KEY_PASSPHRASE", "correct horse"));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let (report, rc) = verify_json(&archive, &["--key", pub_of(&enc).to_str().unwrap()]);
    assert_eq!(rc, 0, "{report}");
    // Without a terminal or the variable, keygen --encrypt says what it needs.
    let o = run(custody().arg("keygen").arg("--output").arg(dir.path().join("n")).arg("--encrypt"));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("set CUSTODY_KEY_PASSPHRASE"), "{}", text(&o));
}

/// The user and group names of this process, as `id` prints them.
fn own_names() -> (String, String) {
    let id = |flag: &str| {
        let o = run(std::process::Command::new("id").arg(flag));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    (id("-un"), id("-gn"))
}

/// A tree with one of each thing a responder must be able to read in
/// `list`: a file with a known mtime, a directory, a symlink, a hard link,
/// a name with a newline, and a file the collector cannot read. Collected
/// by an unprivileged user when run as root, so that the file is unreadable.
fn collect_listing_tree(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let perms = std::fs::Permissions::from_mode;
    std::fs::set_permissions(dir, perms(0o755)).unwrap();
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::set_permissions(tree.join("sub"), perms(0o750)).unwrap();
    std::fs::write(tree.join("a-notes.txt"), "hello from custody\n").unwrap();
    std::fs::set_permissions(tree.join("a-notes.txt"), perms(0o644)).unwrap();
    std::fs::hard_link(tree.join("a-notes.txt"), tree.join("b-hard")).unwrap();
    std::os::unix::fs::symlink("a-notes.txt", tree.join("c-link")).unwrap();
    std::fs::write(tree.join("two\nlines"), "x").unwrap();
    std::fs::write(tree.join("secret"), "nobody may read this\n").unwrap();
    std::fs::set_permissions(tree.join("secret"), perms(0o000)).unwrap();
    // 2024-05-06 07:08:30 UTC.
    let t = rustix::fs::Timespec {
        tv_sec: 1_714_979_310,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(rustix::fs::CWD, tree.join("a-notes.txt"), &times, rustix::fs::AtFlags::empty()).unwrap();

    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    let key = keygen(dir, "key");
    let archive = out.join("a.tar.zst");
    let mut cmd = if rustix::process::geteuid().is_root() {
        require_tool("setpriv");
        for p in [&out, &key] {
            std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
        }
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
            .arg(custody_bin());
        c
    } else {
        custody()
    };
    let o = run(cmd
        .arg("collect")
        .arg(&tree)
        .arg("-o")
        .arg(&archive)
        .arg("--key")
        .arg(&key)
        .arg("--quiet")
        .stdin(Stdio::null()));
    assert_eq!(code(&o), 0, "{}", text(&o));
    (archive, pub_of(&key))
}

/// The row of `list` whose text after the marker and metadata ends with `end`.
fn row_ending<'a>(human: &'a str, end: &str) -> &'a str {
    human
        .lines()
        .find(|l| l.ends_with(end))
        .unwrap_or_else(|| panic!("no row ending {end:?}\n{human}"))
}

#[test]
fn list_rows_read_like_tar_tv_with_their_proof() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, pubkey) = collect_listing_tree(dir.path());
    let o = run(custody().arg("list").arg(&archive).arg("--key").arg(&pubkey));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let human = String::from_utf8(o.stdout).unwrap();
    let (user, group) = own_names();

    let file = row_ending(&human, "tree/a-notes.txt");
    let cols: Vec<&str> = file.split_whitespace().collect();
    assert_eq!(
        cols[..6],
        ["ok", "-rw-r--r--", &format!("{user}/{group}"), "19", "2024-05-06", "07:08"],
        "{human}"
    );
    let dir_row = human.lines().find(|l| l.contains("tree/sub")).unwrap();
    assert!(dir_row.starts_with("ok ") && dir_row.contains(" drwxr-x--- "), "{human}");
    let link = row_ending(&human, "tree/c-link -> a-notes.txt");
    assert!(link.contains(" lrwxrwxrwx "), "{human}");
    let hard = human.lines().find(|l| l.contains("tree/b-hard link to ")).unwrap();
    assert!(hard.ends_with("tree/a-notes.txt") && hard.contains(" hrw-r--r-- "), "{human}");
    // The newline is shown escaped: the name stays on its row.
    row_ending(&human, "tree/two\\nlines");
    assert!(!human.lines().any(|l| l == "lines" || l.starts_with("lines")), "{human}");
    let secret = human
        .lines()
        .find(|l| l.contains("tree/secret  [unreadable: "))
        .unwrap_or_else(|| panic!("{human}"));
    assert!(secret.starts_with("ok ") && secret.contains("Permission denied"), "{human}");

    // Every row starts with its proof; the columns line up; the summary
    // closes the listing and says the times are UTC.
    let lines: Vec<&str> = human.lines().collect();
    let (rows, summary) = lines.split_at(lines.len() - 2);
    for row in rows {
        assert!(row.starts_with("ok "), "not proven, or not a row: {row:?}\n{human}");
    }
    let tree_rows: Vec<&&str> = rows.iter().filter(|r| r.contains("tree/")).collect();
    assert!(tree_rows.len() >= 6, "{human}");
    let date_at = |r: &str| r.find(" 20").or_else(|| r.find(" 19")).unwrap();
    assert!(
        tree_rows.iter().all(|r| date_at(r) == date_at(file)),
        "columns not aligned\n{human}"
    );
    assert!(
        summary[0].contains(&format!("{} members ({} ok)", rows.len(), rows.len())),
        "{human}"
    );
    assert!(summary[0].contains("UTC"), "{human}");
    assert_eq!(summary[1], "verdict: verified");
}

#[test]
fn list_marks_an_altered_member() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, pubkey) = collect_listing_tree(dir.path());
    let mut tar = tar_stream(&archive);
    let at = tar.windows(19).position(|w| w == b"hello from custody\n").unwrap();
    tar[at] = b'j';
    let bad = dir.path().join("bad.tar.zst");
    compress(&tar, &bad);
    let o = run(custody().arg("list").arg(&bad).arg("--key").arg(&pubkey));
    assert_eq!(code(&o), 12, "{}", text(&o));
    let human = String::from_utf8(o.stdout).unwrap();
    assert!(row_ending(&human, "tree/a-notes.txt").starts_with("ALTERED "), "{human}");
    let altered = human.lines().filter(|l| l.starts_with("ALTERED ")).count();
    assert!(human.contains(&format!(", {altered} ALTERED")), "{human}");
    assert!(human.ends_with("verdict: tampered\n"), "{human}");
    // The JSON says the same of the same member.
    let lines = list_json(&bad, &["--key", pubkey.to_str().unwrap()]);
    let notes = lines
        .iter()
        .find(|l| l["path"].as_str().is_some_and(|p| p.ends_with("tree/a-notes.txt")))
        .unwrap();
    assert_eq!(notes["proof"], "altered", "{notes}");
}

#[test]
fn bash_completion_script_parses_and_names_the_subcommands() {
    let o = run(custody().args(["completions", "bash"]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let script = String::from_utf8(o.stdout).unwrap();
    for sub in ["collect", "verify", "list", "extract", "completions"] {
        assert!(script.contains(sub), "no {sub} in the bash completion\n{script}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custody.bash");
    std::fs::write(&file, &script).unwrap();
    let o = run(std::process::Command::new("bash").arg("-n").arg(&file));
    assert_eq!(code(&o), 0, "bash -n rejects the completion script: {}", text(&o));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let o = run(custody().args(["completions", shell]));
        assert_eq!(code(&o), 0, "{shell}: {}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("collect"), "{shell}");
    }
    let o = run(custody().args(["completions", "tcsh"]));
    assert_eq!(code(&o), 2, "{}", text(&o));
}

#[test]
fn man_page_is_roff_that_man_renders_with_every_subcommand() {
    let o = run(custody().arg("man"));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let page = o.stdout;
    // clap_mangen defines the apostrophe string (`.ie`/`.el`) before the
    // title; the first request after it is the title.
    let first = String::from_utf8_lossy(&page)
        .lines()
        .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
        .map(str::to_owned);
    assert_eq!(first.as_deref().map(|l| l.starts_with(".TH custody 1 ")), Some(true), "{first:?}");
    let titles = page.split(|&b| b == b'\n').filter(|l| l.starts_with(b".TH ")).count();
    assert!(titles >= 10, "one page per subcommand expected, got {titles} titles");
    require_tool("man");
    let mut man = std::process::Command::new("man")
        .args(["-l", "-"])
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    man.stdin.take().unwrap().write_all(&page).unwrap();
    let o = man.wait_with_output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(o.stderr.is_empty(), "man warned: {}", text(&o));
    // man justifies lines with extra spaces: compare words.
    let shown = String::from_utf8_lossy(&o.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "SYNOPSIS",
        "custody collect",
        "--checkpoint-members",
        "custody log show",
        "custody man",
    ] {
        assert!(shown.contains(needle), "no {needle:?} in the rendered page\n{shown}");
    }
}

/// Run `command` (a shell line) under a pseudo-terminal with util-linux
/// `script`, so standard error is a terminal; what the terminal showed.
fn on_a_terminal(command: &str) -> String {
    require_tool("script");
    let o = run(std::process::Command::new("script").args(["-qfec", command, "/dev/null"]));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Issue 15 item 6: verify, list and extract show how much of a file
/// archive they have read, on a terminal only, never with --quiet, and
/// never on standard output.
#[test]
fn reading_commands_show_progress_on_a_terminal_only() {
    let (dir, src, key) = setup();
    // Incompressible, so the archive is large enough to be drawn at least once.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<u8> = (0..24 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(src.join("noise.bin"), noise).unwrap();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &[]);
    let quote = |p: &std::path::Path| format!("'{}'", p.display());
    let (bin, a, k) = (quote(&custody_bin()), quote(&archive), quote(&pub_of(&key)));
    let drawn = |shown: &str| shown.contains("B of ") && shown.contains('%');

    let shown = on_a_terminal(&format!("{bin} verify --key {k} {a}"));
    assert!(drawn(&shown), "no progress line on the terminal:\n{shown}");
    assert!(shown.contains("VERIFIED"), "{shown}");

    let json = dir.path().join("out.json");
    let shown = on_a_terminal(&format!("{bin} verify --json --key {k} {a} > {}", quote(&json)));
    assert!(drawn(&shown), "no progress line on the terminal:\n{shown}");
    let out = std::fs::read_to_string(&json).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("standard output is one JSON object");
    assert_eq!(report["verdict"], "verified");

    let listing = dir.path().join("list.txt");
    let shown = on_a_terminal(&format!("{bin} list --key {k} {a} > {}", quote(&listing)));
    assert!(drawn(&shown), "no progress line on the terminal:\n{shown}");
    let listing = std::fs::read_to_string(&listing).unwrap();
    assert!(!drawn(&listing), "{listing}");
    assert!(listing.ends_with("verdict: verified\n"), "{listing}");

    let into = dir.path().join("x");
    let shown = on_a_terminal(&format!("{bin} extract --key {k} --into {} {a}", quote(&into)));
    assert!(drawn(&shown), "no progress line on the terminal:\n{shown}");
    assert!(shown.contains("verdict: verified"), "{shown}");

    for quiet in ["verify", "list", "extract"] {
        let target = dir.path().join(format!("q-{quiet}"));
        let into = if quiet == "extract" {
            format!("--into {}", quote(&target))
        } else {
            String::new()
        };
        let shown = on_a_terminal(&format!("{bin} {quiet} --quiet --key {k} {into} {a} > /dev/null"));
        assert!(!drawn(&shown), "{quiet} --quiet drew progress:\n{shown}");
    }

    // Standard error not a terminal: nothing but the report.
    let o = run(custody().args(["verify", "--key"]).arg(pub_of(&key)).arg(&archive));
    assert!(!drawn(&text(&o)), "{}", text(&o));
    assert!(o.stderr.is_empty(), "{}", text(&o));
}
