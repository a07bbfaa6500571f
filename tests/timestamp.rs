//! Trusted time (docs/FORMAT.md §15) against a real RFC 3161 TSA on
//! loopback (`openssl ts` behind a small HTTP server): the client's
//! answers and errors, `tsa::check`'s verdicts, and collect/verify with
//! `--tsa` and `--tsa-ca`.

mod common;

use std::path::Path;

use common::tsa::{other_root_pem, unreachable_url, Mode, Tsa};
use common::*;
use custody::tsa::{check, Client, Roots, TokenStatus, TsaError};
use sha2::{Digest, Sha256};

fn digest(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

#[test]
fn a_token_from_the_tsa_checks_as_trusted_and_only_for_its_own_data() {
    let tsa = Tsa::start(Mode::Good);
    let d = digest(b"checkpoint signature");
    let token = Client::new(tsa.url()).unwrap().stamp(&d).unwrap();
    let roots = Roots::from_pem_file(&tsa.root_pem_path()).unwrap();

    let r = check(&token, &d, Some(&roots));
    assert!(
        matches!(&r.status, TokenStatus::Trusted { root } if root.contains("custody test TSA root")),
        "{r:?}"
    );
    assert!(r.tsa_name.as_deref().unwrap().contains("custody test TSA"), "{r:?}");
    assert_eq!(r.policy.as_deref(), Some("1.3.6.1.4.1.99999.1"));
    let age = time::OffsetDateTime::now_utc() - r.gen_time.unwrap();
    assert!(age.whole_seconds().abs() < 120, "genTime {:?}", r.gen_time);

    assert_eq!(check(&token, &d, None).status, TokenStatus::NotChecked);
    let other = check(&token, &digest(b"other data"), Some(&roots));
    assert!(matches!(other.status, TokenStatus::Mismatch { .. }), "{other:?}");
    let stranger = Roots::from_pem_file(&other_root_pem()).unwrap();
    let untrusted = check(&token, &d, Some(&stranger));
    assert!(
        matches!(&untrusted.status, TokenStatus::Untrusted { reason } if reason.contains("does not chain")),
        "{untrusted:?}"
    );

    // The signature's last byte changed: still DER, no longer signed.
    let mut forged = token.clone();
    *forged.last_mut().unwrap() ^= 1;
    let r = check(&forged, &d, Some(&roots));
    assert!(
        matches!(&r.status, TokenStatus::Invalid { reason } if reason.contains("signature")),
        "{r:?}"
    );
    let r = check(b"not a token", &d, None);
    assert!(matches!(r.status, TokenStatus::Invalid { .. }), "{r:?}");
}

#[test]
fn broken_tsas_give_errors_that_say_what_came_back() {
    let d = digest(b"x");
    let err = |mode| Client::new(Tsa::start(mode).url()).unwrap().stamp(&d).unwrap_err();

    let garbage = err(Mode::Garbage);
    assert!(matches!(garbage, TsaError::NotAReply { .. }), "{garbage:?}");
    assert!(garbage.to_string().contains("did not send a time-stamp reply"), "{garbage}");

    let html = err(Mode::Html);
    let text = html.to_string();
    assert!(
        matches!(&html, TsaError::NotAReply { content_type, .. } if content_type.starts_with("text/html")),
        "{html:?}"
    );
    assert!(text.contains("<!DOCTYPE html>") && text.contains("\\x0a"), "{text}");

    let e500 = err(Mode::ServerError);
    assert!(matches!(e500, TsaError::HttpStatus { status: 500, .. }), "{e500:?}");
    assert!(e500.to_string().contains("HTTP 500"), "{e500}");

    let gone = Client::new(&unreachable_url()).unwrap().stamp(&d).unwrap_err();
    assert!(matches!(gone, TsaError::Unreachable { .. }), "{gone:?}");
    assert!(gone.to_string().contains("cannot be reached"), "{gone}");
}

/// Collect `src` with `--tsa URL` and small segments, so that several
/// checkpoints are stamped.
fn collect_stamped(src: &Path, out: &Path, key: &Path, url: &str) -> std::process::Output {
    collect(src, out, key, &["--tsa", url, "--checkpoint-members", "3"])
}

fn timestamps(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["timestamps"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_stamped_archive_verifies_with_every_token_trusted_and_untrusted_under_another_root() {
    let (dir, src, key) = setup();
    let tsa = Tsa::start(Mode::Good);
    let out = dir.path().join("a.tar.zst");
    let o = collect_stamped(&src, &out, &key, tsa.url());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("tokens from"), "{}", text(&o));
    assert!(!stdout.contains("NOT stamped"), "{}", text(&o));
    let pubkey = pub_of(&key);
    let root = tsa.root_pem_path();
    let (v, code) = verify_json(&out, &["--key", pubkey.to_str().unwrap(), "--tsa-ca", root.to_str().unwrap()]);
    assert_eq!((v["verdict"].as_str(), code), (Some("verified"), 0), "{v}");
    let ts = timestamps(&v);
    let checkpoints = v["proven"]["checkpoints"].as_u64().unwrap();
    assert!(checkpoints >= 3, "{v}");
    assert_eq!(ts.len() as u64, checkpoints, "one token per checkpoint, the seal's included: {v}");
    assert!(ts.iter().all(|t| t["status"] == "trusted"), "{v}");
    assert_eq!(ts.last().unwrap()["source"], "frame");
    assert_eq!(ts.last().unwrap()["checkpoint"].as_u64(), Some(checkpoints));
    assert!(finding_kinds(&v).is_empty(), "{v}");
    assert_eq!(o.stdout.windows(9).filter(|w| w == b"NOT stamp").count(), 0);

    // Without roots: checked, reported, not trusted, and no finding.
    let (v, code) = verify_json(&out, &["--key", pubkey.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}");
    assert!(timestamps(&v).iter().all(|t| t["status"] == "not-checked"), "{v}");

    // A TSA whose root is not named: a warning each, the verdict unchanged.
    let other = other_root_pem();
    let (v, code) = verify_json(&out, &["--key", pubkey.to_str().unwrap(), "--tsa-ca", other.to_str().unwrap()]);
    assert_eq!((v["verdict"].as_str(), code), (Some("verified"), 0), "{v}");
    let kinds = finding_kinds(&v);
    // One per checkpoint, and one for the custody log's stamp of the
    // acquired event (a finding of the log names its line).
    let log_findings = v["findings"].as_array().unwrap().iter().filter(|f| f.get("line").is_some()).count();
    assert_eq!((kinds.len() as u64, log_findings), (checkpoints + 1, 1), "{v}");
    assert!(kinds.iter().all(|k| k == "timestamp-untrusted"), "{v}");

    // The human report names each token.
    let o = run(custody()
        .arg("verify")
        .arg(&out)
        .arg("--key")
        .arg(&pubkey)
        .arg("--tsa-ca")
        .arg(&root));
    let human = String::from_utf8_lossy(&o.stdout);
    assert!(
        human.contains("timestamp    checkpoint 1 at ") && human.contains("trusted (root"),
        "{human}"
    );

    // Plain tools read past the seal's frame: zstd and tar list the tokens.
    let listing = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("zstd -dc '{}' | tar -tf -", out.display()))
        .output()
        .unwrap();
    assert!(listing.status.success(), "{}", String::from_utf8_lossy(&listing.stderr));
    assert!(String::from_utf8_lossy(&listing.stdout).contains(".custody/timestamp-000001.tsr"));
}

#[test]
fn an_unreachable_tsa_never_stops_the_collection_and_its_failure_is_recorded() {
    let (dir, src, key) = setup();
    let out = dir.path().join("a.tar.zst");
    let o = collect_stamped(&src, &out, &key, &unreachable_url());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("no trusted timestamp for checkpoint 1") && stderr.contains("cannot be reached"),
        "{}",
        text(&o)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("NOT stamped"), "{}", text(&o));
    let pubkey = pub_of(&key);
    let (v, code) = verify_json(&out, &["--key", pubkey.to_str().unwrap()]);
    assert_eq!((v["verdict"].as_str(), code), (Some("verified"), 0), "{v}");
    let kinds = finding_kinds(&v);
    assert!(!kinds.is_empty() && kinds.iter().all(|k| k == "timestamp-failed"), "{v}");
    assert!(timestamps(&v).iter().all(|t| t["status"] == "failed"), "{v}");
    let listing = String::from_utf8_lossy(&tar_stream(&out)).into_owned();
    assert!(listing.contains(".custody/timestamp-000001.failed"));
}

/// Where the seal's token frame begins in an archive file.
fn seal_frame_at(archive: &[u8]) -> usize {
    let tag = custody::format::timestamp::SEAL_TOKEN_TAG;
    archive
        .windows(tag.len())
        .rposition(|w| w == tag)
        .expect("the archive ends with the seal's token")
        - 8
}

/// The SHA-256 of the signature member of checkpoint `seq`, read with zstd and tar.
fn signature_digest(archive: &Path, seq: u64) -> [u8; 32] {
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zstd -dc '{}' | tar -xOf - .custody/checkpoint-{seq:06}.json.sig",
            archive.display()
        ))
        .output()
        .unwrap();
    assert!(
        o.status.success() && o.stdout.starts_with(b"-----BEGIN SSH SIGNATURE"),
        "{}",
        text(&o)
    );
    digest(&o.stdout)
}

#[test]
fn a_seal_token_for_other_data_is_tampering_and_a_late_one_disagrees_with_the_clock() {
    let (dir, src, key) = setup();
    let tsa = Tsa::start(Mode::Good);
    let out = dir.path().join("a.tar.zst");
    collect_stamped(&src, &out, &key, tsa.url());
    let pubkey = pub_of(&key);
    let (v, _) = verify_json(&out, &["--key", pubkey.to_str().unwrap()]);
    let seal = v["proven"]["checkpoints"].as_u64().unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let at = seal_frame_at(&bytes);
    let root = tsa.root_pem_path();
    let trust = ["--key", pubkey.to_str().unwrap(), "--tsa-ca", root.to_str().unwrap()];
    let with_seal_token = |token: &[u8], name: &str| {
        let mut b = bytes[..at].to_vec();
        b.extend(custody::format::timestamp::seal_frame(
            custody::format::timestamp::SEAL_TOKEN_TAG,
            token,
        ));
        let p = dir.path().join(name);
        std::fs::write(&p, b).unwrap();
        p
    };

    let other = with_seal_token(&tsa.token_for(&digest(b"some other data")), "other.tar.zst");
    let (v, code) = verify_json(&other, &trust);
    assert_eq!((v["verdict"].as_str(), code), (Some("tampered"), 12), "{v}");
    assert_eq!(finding_kinds(&v), vec!["timestamp-mismatch"], "{v}");

    std::thread::sleep(std::time::Duration::from_secs(3));
    let late = with_seal_token(&tsa.token_for(&signature_digest(&out, seal)), "late.tar.zst");
    let (v, code) = verify_json(&late, &trust);
    assert_eq!((v["verdict"].as_str(), code), (Some("verified"), 0), "{v}");
    let (v, code) = verify_json(&late, &[&trust[..], &["--clock-tolerance", "1"]].concat());
    assert_eq!(code, 0, "{v}");
    assert!(finding_kinds(&v).contains(&"clock-disagrees".to_string()), "{v}");
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "clock-disagrees")
        .unwrap();
    assert!(
        f["message"].as_str().unwrap().contains("s after the time the checkpoint states"),
        "{f}"
    );
}
