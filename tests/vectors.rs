//! Test vectors: small archives, each with the verdict and the finding kinds
//! every version of custody must report for it (tests/vectors/NAME.expect).
//! They are part of docs/FORMAT.md. `cargo test --test vectors -- --ignored`
//! regenerates them (only when the format version changes).

mod common;
use common::*;

use std::path::{Path, PathBuf};

fn vectors_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors"))
}

struct Expect {
    verdict: String,
    trust: String,
    findings: Vec<String>,
    /// `tsa-ca FILE`: verify with `--tsa-ca tests/vectors/FILE` (FORMAT.md §15).
    tsa_ca: Option<String>,
    /// `timestamp STATUS`: the status of each token, in order.
    timestamps: Vec<String>,
}

fn parse_expect(text: &str) -> Expect {
    let mut e = Expect {
        verdict: String::new(),
        trust: String::new(),
        findings: Vec::new(),
        tsa_ca: None,
        timestamps: Vec::new(),
    };
    for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let (k, v) = line.split_once(' ').unwrap_or_else(|| panic!("bad expect line {line:?}"));
        match k {
            "verdict" => e.verdict = v.to_string(),
            "trust" => e.trust = v.to_string(),
            "finding" => e.findings.push(v.to_string()),
            "tsa-ca" => e.tsa_ca = Some(v.to_string()),
            "timestamp" => e.timestamps.push(v.to_string()),
            _ => panic!("unknown expect key {k:?}"),
        }
    }
    e
}

/// The `.expect` files of a vector directory, sorted.
fn expect_files(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "expect"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_vector_gets_its_verdict_and_findings() {
    let dir = vectors_dir();
    let names = expect_files(&dir);
    assert!(names.len() >= 10, "vectors missing in {}", dir.display());
    for expect_path in names {
        let e = parse_expect(&std::fs::read_to_string(&expect_path).unwrap());
        let archive = expect_path.with_extension("tar.zst");
        let trust_file = dir.join(format!("{}.pub", e.trust));
        let mut args: Vec<&str> = if e.trust == "none" {
            vec![]
        } else {
            vec!["--key", trust_file.to_str().unwrap()]
        };
        let tsa_ca = e.tsa_ca.as_ref().map(|f| dir.join(f));
        if let Some(f) = &tsa_ca {
            args.extend(["--tsa-ca", f.to_str().unwrap()]);
        }
        let (r, rc) = verify_json(&archive, &args);
        let name = expect_path.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(r["verdict"], e.verdict.as_str(), "{name}: {r:#}");
        let want_code = match e.verdict.as_str() {
            "verified" => 0,
            "incomplete" => 10,
            "untrusted" => 11,
            _ => 12,
        };
        assert_eq!(rc, want_code, "{name}");
        let statuses: Vec<String> = r["timestamps"]
            .as_array()
            .map(|a| a.iter().map(|t| t["status"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        assert_eq!(statuses, e.timestamps, "{name}: timestamps");
        let kinds = finding_kinds(&r);
        for f in &e.findings {
            assert!(kinds.contains(f), "{name}: expected finding {f}, got {kinds:?}");
        }
        // Tamper findings must name a checkpoint or an offset: the report says where.
        for f in r["findings"].as_array().unwrap() {
            if f["level"] == "error" {
                assert!(
                    f.get("checkpoint").is_some() || f.get("offset").is_some(),
                    "{name}: finding without a location: {f}"
                );
            }
        }
    }
}

/// Members of an archive: (offset, path) from `list --json`.
fn members(archive: &Path) -> Vec<(usize, String)> {
    let o = run(custody().args(["list", "--json"]).arg(archive));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "member")
        .map(|v| (v["offset"].as_u64().unwrap() as usize, v["path"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// Byte range of the member whose path ends with `suffix`.
fn span(list: &[(usize, String)], suffix: &str) -> (usize, usize) {
    let i = list
        .iter()
        .position(|(_, p)| p.ends_with(suffix))
        .unwrap_or_else(|| panic!("no member {suffix}"));
    (list[i].0, list[i + 1].0)
}

fn write_vector(dir: &Path, name: &str, archive: &[u8], trust: &str, verdict: &str, findings: &[&str], why: &str) {
    write_vector_with(dir, name, archive, trust, verdict, findings, why, "");
}

#[allow(clippy::too_many_arguments)]
fn write_vector_with(dir: &Path, name: &str, archive: &[u8], trust: &str, verdict: &str, findings: &[&str], why: &str, more: &str) {
    std::fs::write(dir.join(format!("{name}.tar.zst")), archive).unwrap();
    let mut t = format!("# {why}\nverdict {verdict}\ntrust {trust}\n");
    for f in findings {
        t.push_str(&format!("finding {f}\n"));
    }
    t.push_str(more);
    std::fs::write(dir.join(format!("{name}.expect")), t).unwrap();
}

/// The trusted-time vectors (FORMAT.md §15): an archive stamped by the
/// loopback TSA, whose root (valid for a century) is committed beside it,
/// and the same archive with the seal's token replaced by one for other data.
fn timestamped_vectors(out: &Path, src: &Path, tmp: &Path) {
    use common::tsa::{Mode, Tsa};
    use sha2::Digest;
    let tsa = Tsa::start(Mode::Good);
    let stamped = tmp.join("stamped.tar.zst");
    collect(
        src,
        &stamped,
        &out.join("signer"),
        &["--checkpoint-members", "2", "--tsa", tsa.url()],
    );
    std::fs::copy(tsa.root_pem_path(), out.join("timestamped-tsa-root.pem")).unwrap();
    let bytes = std::fs::read(&stamped).unwrap();
    let (r, _) = verify_json(&stamped, &[]);
    let n = r["timestamps"].as_array().unwrap().len();
    let more = |status: &str| format!("tsa-ca timestamped-tsa-root.pem\n{}", format!("timestamp {status}\n").repeat(n));
    write_vector_with(
        out,
        "timestamped",
        &bytes,
        "signer",
        "verified",
        &[],
        "collected with --tsa: a token per checkpoint, the seal's in a skippable frame",
        &more("trusted"),
    );
    let tag = custody::format::timestamp::SEAL_TOKEN_TAG;
    let at = bytes.windows(tag.len()).rposition(|w| w == tag).unwrap() - 8;
    let mut swapped = bytes[..at].to_vec();
    let token = tsa.token_for(&sha2::Sha256::digest(b"other data").into());
    swapped.extend(custody::format::timestamp::seal_frame(tag, &token));
    let mut statuses = more("trusted");
    statuses.truncate(statuses.len() - "timestamp trusted\n".len());
    statuses.push_str("timestamp mismatch\n");
    write_vector_with(
        out,
        "timestamped-seal-swapped",
        &swapped,
        "signer",
        "tampered",
        &["timestamp-mismatch"],
        "the seal's token replaced by a valid token of the same TSA for other data",
        &statuses,
    );
}

/// The small tree every archive vector collects: six log files.
fn vector_evidence(dir: &Path) -> PathBuf {
    let src = dir.join("evidence");
    std::fs::create_dir_all(src.join("logs")).unwrap();
    for i in 0..6 {
        std::fs::write(src.join(format!("logs/app-{i}.log")), format!("line {i}\n").repeat(50 + i * 40)).unwrap();
    }
    src
}

#[test]
#[ignore = "regenerates the committed trusted-time vectors only"]
fn regenerate_timestamped() {
    let out = vectors_dir();
    let tmp = tempfile::tempdir().unwrap();
    let src = vector_evidence(tmp.path());
    timestamped_vectors(&out, &src, tmp.path());
}

#[test]
#[ignore = "regenerates the committed vectors"]
fn regenerate() {
    let out = vectors_dir();
    let tmp = tempfile::tempdir().unwrap();
    let src = vector_evidence(tmp.path());
    for name in ["signer", "other"] {
        let k = out.join(name);
        if !k.exists() {
            keygen(&out, name);
        }
    }
    let good = tmp.path().join("good.tar.zst");
    collect(&src, &good, &out.join("signer"), &["--checkpoint-members", "2"]);
    let bytes = std::fs::read(&good).unwrap();
    let tar = tar_stream(&good);
    let list = members(&good);
    let z = |t: &[u8]| zstd::stream::encode_all(t, 3).unwrap();
    let w = |name: &str, a: &[u8], trust: &str, verdict: &str, f: &[&str], why: &str| write_vector(&out, name, a, trust, verdict, f, why);

    w("verified", &bytes, "signer", "verified", &[], "an untouched archive");
    w(
        "recompressed",
        &zstd::stream::encode_all(&tar[..], 19).unwrap(),
        "signer",
        "verified",
        &[],
        "honest recompression as one zstd -19 frame",
    );
    w(
        "untrusted",
        &bytes,
        "other",
        "untrusted",
        &["untrusted-signer"],
        "intact, but the verifier trusts another key",
    );
    w(
        "no-trust-given",
        &bytes,
        "none",
        "untrusted",
        &["untrusted-signer"],
        "intact, no trusted key named",
    );
    w(
        "truncated",
        &bytes[..bytes.len() / 2],
        "signer",
        "incomplete",
        &["truncated"],
        "compressed file cut in half",
    );
    w(
        "truncated-after-seal",
        &z(&tar[..tar.len() - 512]),
        "signer",
        "incomplete",
        &["missing-end-marker"],
        "end-of-archive marker cut short",
    );

    let (a, _) = span(&list, "logs/app-3.log");
    let mut t = tar.clone();
    let c = a + 1536 + 5;
    t[c] ^= 0x01;
    w(
        "content-changed",
        &z(&t),
        "signer",
        "tampered",
        &["content-altered", "segment-digest-mismatch"],
        "one bit of a log file's content flipped",
    );

    let mut t = tar.clone();
    let rec = t[a..a + 1024].windows(6).position(|x| x == b"mtime=").unwrap() + a + 6;
    t[rec] = if t[rec] == b'9' { b'8' } else { t[rec] + 1 };
    w(
        "header-changed",
        &z(&t),
        "signer",
        "tampered",
        &["header-altered"],
        "a digit of a member's pax mtime changed",
    );

    let (a1, b1) = span(&list, "logs/app-2.log");
    let (a2, b2) = span(&list, "logs/app-3.log");
    assert_eq!(b1, a2, "app-2 and app-3 are adjacent");
    let mut t = tar[..a1].to_vec();
    t.extend_from_slice(&tar[a2..b2]);
    t.extend_from_slice(&tar[a1..b1]);
    t.extend_from_slice(&tar[b2..]);
    w(
        "members-reordered",
        &z(&t),
        "signer",
        "tampered",
        &["members-reordered"],
        "two adjacent members swapped",
    );

    let mut t = tar[..a1].to_vec();
    t.extend_from_slice(&tar[b1..]);
    w(
        "member-deleted",
        &z(&t),
        "signer",
        "tampered",
        &["member-missing"],
        "one member removed",
    );

    let mut t = tar[..b1].to_vec();
    t.extend_from_slice(&tar[a1..b1]);
    t.extend_from_slice(&tar[b1..]);
    w(
        "member-duplicated",
        &z(&t),
        "signer",
        "tampered",
        &["member-unlisted"],
        "one member stored twice",
    );

    let mut t = tar.clone();
    let n = t.len();
    t[n - 700] = b'X';
    w(
        "data-after-seal",
        &z(&t),
        "signer",
        "tampered",
        &["data-after-seal"],
        "a byte of the end-of-archive marker changed",
    );

    let (c1, _) = span(&list, "checkpoint-000001.json");
    let (_, s1) = span(&list, "checkpoint-000001.json.sig");
    let mut t = tar[..c1].to_vec();
    t.extend_from_slice(&tar[s1..]);
    w(
        "checkpoint-removed",
        &z(&t),
        "signer",
        "tampered",
        &["chain-broken"],
        "checkpoint 1 and its signature removed",
    );

    let mut d = bytes.clone();
    let mid = d.len() / 2;
    d[mid] ^= 0xff;
    d[mid + 1] ^= 0xff;
    w(
        "compressed-damaged",
        &d,
        "signer",
        "tampered",
        &[],
        "two compressed bytes inverted mid-archive",
    );

    // The manifest states each file's content SHA-256 (the listing does not
    // repeat it): a changed line is caught, and so is a file changed
    // together with its line, though only the manifest is named then.
    let (m1, _) = span(&list, "checkpoint-000002.sha256");
    let mut t = tar.clone();
    let d = m1 + 1536;
    t[d] = if t[d] == b'0' { b'1' } else { b'0' };
    w(
        "manifest-line-changed",
        &z(&t),
        "signer",
        "tampered",
        &["content-altered", "segment-digest-mismatch"],
        "the first hex digit of a line of checkpoint 2's manifest changed",
    );

    let (a3, _) = span(&list, "logs/app-3.log");
    let mut t = tar.clone();
    t[a3 + 1536 + 5] ^= 0x01;
    let size = String::from_utf8_lossy(&t[a3..a3 + 1024])
        .split('\n')
        .find_map(|r| r.split_once(" size=").map(|(_, v)| v.parse::<usize>().unwrap()))
        .unwrap();
    let new = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&t[a3 + 1536..a3 + 1536 + size]));
    let (mf, mf_end) = span(&list, "checkpoint-000002.sha256");
    let body_at = mf + 1536;
    let line = t[body_at..mf_end]
        .windows(9)
        .position(|w| w == b"app-3.log")
        .expect("app-3.log is in segment 2")
        + body_at;
    let line_start = t[..line]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(body_at, |i| (i + 1).max(body_at));
    t[line_start..line_start + 64].copy_from_slice(new.as_bytes());
    w(
        "content-and-manifest-changed",
        &z(&t),
        "signer",
        "tampered",
        &["content-altered", "segment-digest-mismatch"],
        "a log file's content and its manifest line changed together",
    );

    // The seal re-signed by the signer's own key after an edit: the cases a
    // second implementation had to guess (FORMAT.md §10.7).
    let (seal, json_path, _) = seal_document(&tar);
    let seal_text = String::from_utf8(seal.clone()).unwrap();
    let secs = {
        let members = tar_members(&tar);
        let (start, _, _) = members[members.len() - 2];
        // The ustar block follows the `x` block and its one block of records.
        let block: &[u8; 512] = tar[start + 1024..start + 1536].try_into().unwrap();
        custody::format::tar::parse_ustar(block).unwrap().mtime as i64
    };
    let key = out.join("signer");
    let reseal = |doc: &str, secs: i64| z(&resealed(&tar, tmp.path(), &key, doc.as_bytes(), secs));
    let edit = |from: &str, to: &str| {
        assert!(seal_text.contains(from), "{from} in {seal_text}");
        seal_text.replacen(from, to, 1)
    };
    w(
        "seal-resigned",
        &reseal(&seal_text, secs),
        "signer",
        "verified",
        &[],
        "the seal signed again, unchanged, by the same key: the signature bytes differ, the verdict does not",
    );
    let seq = format!(
        "\"seq\":{}",
        json_path
            .trim_end_matches(".json")
            .rsplit('-')
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    );
    w(
        "seal-duplicate-key",
        &reseal(&edit(&seq, &format!("{seq},{seq}")), secs),
        "signer",
        "tampered",
        &["bad-checkpoint", "bad-padding"],
        "the seal re-signed with its seq key twice: duplicate keys make a document unparsable, so it is no seal and the end marker comes too early",
    );
    w(
        "seal-unknown-status",
        &reseal(&edit("\"status\":\"custody\"", "\"status\":\"fine\""), secs),
        "signer",
        "tampered",
        &["bad-checkpoint", "bad-padding"],
        "the seal re-signed with a member status no version defines",
    );
    w(
        "seal-float-integer",
        &reseal(&edit(&seq, &format!("{seq}.0")), secs),
        "signer",
        "tampered",
        &["bad-checkpoint", "bad-padding"],
        "the seal re-signed with its seq written 5.0: integers must be plain JSON integers",
    );
    w(
        "seal-time-unparsable",
        &reseal(&edit("\"time\":\"", "\"time\":\"junk"), i64::MIN),
        "signer",
        "tampered",
        &["non-canonical-custody-member"],
        "the seal re-signed with a time that does not parse, its headers made for the least time",
    );

    // The seal's signature with its SSHSIG version set to 0, armored again:
    // the version is not signed, so only the rule catches it.
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let (begin, end) = (&b"-----BEGIN SSH SIGNATURE-----\n"[..], &b"-----END SSH SIGNATURE-----\n"[..]);
        let mut t = tar.clone();
        let at = t.windows(begin.len()).rposition(|x| x == begin).unwrap();
        let stop = at + t[at..].windows(end.len()).position(|x| x == end).unwrap() + end.len();
        let body: String = std::str::from_utf8(&t[at..stop])
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let mut blob = b64.decode(body).unwrap();
        assert_eq!(&blob[..10], b"SSHSIG\0\0\0\x01");
        blob[9] = 0;
        let mut armored = begin.to_vec();
        for line in b64.encode(&blob).as_bytes().chunks(70) {
            armored.extend_from_slice(line);
            armored.push(b'\n');
        }
        armored.extend_from_slice(end);
        assert_eq!(armored.len(), stop - at);
        t[at..stop].copy_from_slice(&armored);
        w(
            "seal-sshsig-version-0",
            &z(&t),
            "signer",
            "tampered",
            &["bad-signature"],
            "the seal's signature with its SSHSIG version field set to 0",
        );
    }

    // Splice: checkpoint 2 of another archive signed by the same key.
    let other_archive = tmp.path().join("other.tar.zst");
    collect(&src, &other_archive, &out.join("signer"), &["--checkpoint-members", "2"]);
    let otar = tar_stream(&other_archive);
    let olist = members(&other_archive);
    let (oc, _) = span(&olist, "checkpoint-000002.json");
    let (_, os) = span(&olist, "checkpoint-000002.json.sig");
    let (c2, _) = span(&list, "checkpoint-000002.json");
    let (_, s2) = span(&list, "checkpoint-000002.json.sig");
    let mut t = tar[..c2].to_vec();
    t.extend_from_slice(&otar[oc..os]);
    t.extend_from_slice(&tar[s2..]);
    w(
        "checkpoint-spliced",
        &z(&t),
        "signer",
        "tampered",
        &["chain-broken"],
        "checkpoint 2 replaced by another archive's checkpoint 2, same key",
    );
    timestamped_vectors(&out, &src, tmp.path());
}

/// The custody log vectors (docs/CUSTODY-LOG.md): logs of
/// `tests/vectors/verified.tar.zst`, each with the verdict and finding
/// kinds `verify --custody-log` must give, trusting the keys its `trust`
/// line names.
fn log_vectors_dir() -> PathBuf {
    vectors_dir().join("custody-log")
}

#[test]
fn every_custody_log_vector_gets_its_verdict_and_findings() {
    let dir = log_vectors_dir();
    let archive = vectors_dir().join("verified.tar.zst");
    let names = expect_files(&dir);
    assert!(names.len() >= 8, "custody log vectors missing in {}", dir.display());
    for expect_path in names {
        let e = parse_expect(&std::fs::read_to_string(&expect_path).unwrap());
        let log = expect_path.with_extension("custody");
        let keys: Vec<PathBuf> = e.trust.split_whitespace().map(|k| vectors_dir().join(format!("{k}.pub"))).collect();
        let mut args = vec!["--custody-log", log.to_str().unwrap()];
        for k in &keys {
            args.extend(["--key", k.to_str().unwrap()]);
        }
        let roots = e.tsa_ca.as_ref().map(|f| vectors_dir().join(f));
        if let Some(r) = &roots {
            args.extend(["--tsa-ca", r.to_str().unwrap()]);
        }
        let (r, rc) = verify_json(&archive, &args);
        let name = expect_path.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(r["verdict"], e.verdict.as_str(), "{name}: {r:#}");
        assert_eq!(rc, if e.verdict == "verified" { 0 } else { 12 }, "{name}");
        let kinds = finding_kinds(&r);
        for f in &e.findings {
            assert!(kinds.contains(f), "{name}: expected finding {f}, got {kinds:?}");
        }
        // Every finding about the log names its line.
        for f in r["findings"].as_array().unwrap() {
            if f["kind"].as_str().unwrap().starts_with("log-") {
                assert!(f.get("line").is_some(), "{name}: log finding without a line: {f}");
            }
        }
        if e.findings.is_empty() {
            assert!(kinds.is_empty(), "{name}: unexpected findings {kinds:?}");
        }
        let stamps: Vec<&str> = r["custody_log"]["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["record"] == "timestamp")
            .map(|x| x["status"].as_str().unwrap())
            .collect();
        assert_eq!(stamps, e.timestamps, "{name}: timestamp statuses");
    }
}

#[test]
#[ignore = "regenerates the committed custody log vectors"]
fn regenerate_custody_logs() {
    use custody::custody_log::{self, Record};
    use sha2::Digest;
    let out = log_vectors_dir();
    std::fs::create_dir_all(&out).unwrap();
    let keys = vectors_dir();
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("verified.tar.zst");
    std::fs::copy(vectors_dir().join("verified.tar.zst"), &archive).unwrap();
    let log = custody_log::log_path(&archive);
    let add = |key: &str, args: &[&str]| {
        let o = run(custody()
            .args(["log", "add"])
            .arg(&archive)
            .arg("--key")
            .arg(keys.join(key))
            .arg("--trust-key")
            .arg(keys.join("signer.pub"))
            .args(args));
        assert_eq!(code(&o), 0, "{}", text(&o));
    };
    add(
        "signer",
        &[
            "--event",
            "acquired",
            "--actor",
            "A. Responder",
            "--organization",
            "CSIRT",
            "--location",
            "server room 2",
        ],
    );
    add(
        "signer",
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
    add(
        "other",
        &["--event", "received", "--actor", "B. Reviewer", "--counterpart", "A. Responder"],
    );
    let good = std::fs::read(&log).unwrap();
    let lines: Vec<Vec<u8>> = good.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let w = |name: &str, bytes: &[u8], trust: &str, verdict: &str, findings: &[&str], why: &str| {
        std::fs::write(out.join(format!("{name}.custody")), bytes).unwrap();
        let mut t = format!("# {why}\nverdict {verdict}\ntrust {trust}\n");
        for f in findings {
            t.push_str(&format!("finding {f}\n"));
        }
        std::fs::write(out.join(format!("{name}.expect")), t).unwrap();
    };
    // Trusted time: the good log stamped by a real TSA (its root beside the
    // vectors; the certificates outlive them), and the same line holding a
    // token for other data.
    let tsa = common::tsa::Tsa::start(common::tsa::Mode::Good);
    std::fs::copy(tsa.root_pem_path(), out.join("tsa-root.pem")).unwrap();
    let o = run(custody().arg("timestamp").arg(&archive).args(["--tsa", tsa.url()]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let stamped = std::fs::read(&log).unwrap();
    std::fs::write(&log, &good).unwrap();
    let with_roots = |name: &str, bytes: &[u8], verdict: &str, findings: &[&str], stamp: &str, why: &str| {
        w(name, bytes, "signer other", verdict, findings, why);
        let expect = out.join(format!("{name}.expect"));
        let mut t = std::fs::read_to_string(&expect).unwrap();
        t.push_str(&format!("tsa-ca custody-log/tsa-root.pem\ntimestamp {stamp}\n"));
        std::fs::write(expect, t).unwrap();
    };
    with_roots(
        "timestamped",
        &stamped,
        "verified",
        &[],
        "trusted",
        "the good log, its head stamped by a TSA whose root is named",
    );
    let ts_line = &stamped[good.len()..];
    let parsed = custody_log::parse_line(&ts_line[..ts_line.len() - 1]).unwrap();
    let Record::Timestamp(record) = parsed.record else {
        panic!("a timestamp")
    };
    let other = tsa.token_for(&sha2::Sha256::digest(b"other data").into());
    with_roots(
        "timestamp-other-data",
        &[good.clone(), custody_log::encode_timestamp_line(&record, &other)].concat(),
        "tampered",
        &["timestamp-mismatch"],
        "mismatch",
        "the timestamp line holds a real token of the same TSA, for other data",
    );
    w(
        "good",
        &good,
        "signer other",
        "verified",
        &[],
        "acquired, transferred, received; every signer trusted",
    );
    w(
        "untrusted-signer",
        &good,
        "signer",
        "verified",
        &["log-untrusted-signer"],
        "the received event's key is not trusted: a warning, the verdict stands",
    );

    let mut edited = good.clone();
    let at = lines[0].len() + lines[1].windows(9).position(|x| x == b"Responder").unwrap();
    edited[at] = b'r';
    w(
        "event-edited",
        &edited,
        "signer other",
        "tampered",
        &["log-bad-signature", "log-link-broken"],
        "one letter of the transferred event's actor changed",
    );
    w(
        "event-removed",
        &[lines[0].clone(), lines[2].clone()].concat(),
        "signer other",
        "tampered",
        &["log-link-broken"],
        "the transferred event removed from the middle",
    );
    w(
        "events-reordered",
        &[lines[0].clone(), lines[2].clone(), lines[1].clone()].concat(),
        "signer other",
        "tampered",
        &["log-link-broken"],
        "the transferred and received events swapped",
    );
    w(
        "not-a-record",
        &[good.clone(), b"Received the disk from A. Responder at 10:00\n".to_vec()].concat(),
        "signer other",
        "tampered",
        &["log-malformed"],
        "a line that is not a record appended",
    );
    w(
        "truncated",
        &good[..good.len() - 40],
        "signer other",
        "verified",
        &["log-truncated"],
        "the last line cut short: a warning, the records before it stand",
    );

    // Events signed properly, but saying what the rules forbid.
    let resign = |mutate: &dyn Fn(&mut custody_log::Event)| {
        let last = lines.last().unwrap();
        let parsed = custody_log::parse_line(&last[..last.len() - 1]).unwrap();
        let Record::Event(mut e) = parsed.record else { panic!("an event") };
        e.seq += 1;
        e.prev = Some(custody_log::line_digest(last));
        e.actor.name = "B. Reviewer".into();
        mutate(&mut e);
        let mut signer = custody::signer::Signer::from_file(&keys.join("other"), || None).unwrap();
        let sig = signer.sign_in(custody_log::LOG_NAMESPACE, &custody_log::event_message(&e)).unwrap();
        let mut blob = Vec::new();
        ssh_encoding::Encode::encode(&sig, &mut blob).unwrap();
        [good.clone(), custody_log::encode_event_line(&e, &blob)].concat()
    };
    w(
        "unknown-kind",
        &resign(&|e| e.kind = "stolen".into()),
        "signer other",
        "tampered",
        &["log-malformed"],
        "a signed event of a kind the format does not define",
    );
    w(
        "other-archive",
        &resign(&|e| e.archive.id = "0123456789abcdef0123456789abcdef".into()),
        "signer other",
        "tampered",
        &["log-other-archive"],
        "a signed, linked event about another archive spliced in",
    );
}
