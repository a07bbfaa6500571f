//! `custody export` read by the consumers it is for: `mactime -b` (The
//! Sleuth Kit) reads the body file, the `csv` crate and serde_json read the
//! Timesketch timelines back, and `case_validate` (case-utils) validates the
//! CASE/UCO graph. The tree's names are hostile; a tampered copy of the
//! archive shows that the rows of an altered member say so.

mod common;

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use common::*;

/// The hostile regular files: name and content. The content of the first
/// is unique in the archive, so that a test can alter it.
const FILES: &[(&[u8], &[u8])] = &[
    (b"pipe|name", b"content to tamper with 0123456789"),
    (b"new\nline", b"x"),
    (b"<script>alert(1)<", b"<b>bold</b>"),
    (b"bad\xff\xfe", b"z"),
    (b"pct%41", b"%41"),
    (b"back\\slash", b"b"),
    (b"comma,\"quote\"", b"q"),
    (b"empty", b""),
    (b"dir/inner", b"in"),
];

/// Members other than regular files: the directories and a symlink.
const DIRS: &[&[u8]] = &[b"", b"/dir"];
const SYMLINK: (&[u8], &[u8]) = (b"link", b"pipe|name");

struct Case {
    dir: tempfile::TempDir,
    src: PathBuf,
    key: PathBuf,
    archive: PathBuf,
}

/// Collect the hostile tree in segments of three members.
fn collected() -> Case {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("dir")).unwrap();
    for (name, content) in FILES {
        std::fs::write(src.join(std::ffi::OsStr::from_bytes(name)), content).unwrap();
    }
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(SYMLINK.1), src.join("link")).unwrap();
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &["--checkpoint-members", "3"]);
    Case { dir, src, key, archive }
}

impl Case {
    /// The host path of a name under the source.
    fn host(&self, name: &[u8]) -> Vec<u8> {
        let mut p = self.src.as_os_str().as_bytes().to_vec();
        if !name.is_empty() && !name.starts_with(b"/") {
            p.push(b'/');
        }
        p.extend_from_slice(name);
        p
    }

    /// Every evidence member's host path.
    fn evidence(&self) -> BTreeSet<Vec<u8>> {
        let mut all: BTreeSet<Vec<u8>> = FILES.iter().map(|(n, _)| self.host(n)).collect();
        all.extend(DIRS.iter().map(|d| self.host(d)));
        all.insert(self.host(SYMLINK.0));
        all
    }

    fn trust(&self) -> Vec<String> {
        vec!["--key".into(), pub_of(&self.key).display().to_string()]
    }

    /// A copy with one content byte of `pipe|name` changed.
    fn tampered(&self) -> PathBuf {
        let mut tar = tar_stream(&self.archive);
        let at = tar.windows(FILES[0].1.len()).position(|w| w == FILES[0].1).unwrap();
        tar[at] ^= 0x20;
        let bad = self.dir.path().join("bad.tar.zst");
        compress(&tar, &bad);
        bad
    }
}

/// `custody export ARCHIVE --format FORMAT TRUST…`: standard output and exit code.
fn export(archive: &Path, format: &str, trust: &[String]) -> (Vec<u8>, i32) {
    let o = run(custody().arg("export").arg(archive).args(["--format", format]).args(trust));
    assert!(o.stderr.is_empty() || code(&o) != 0, "{}", text(&o));
    (o.stdout.clone(), code(&o))
}

/// How mactime shows a name read from custody's body file: `%XX` decoded
/// by mactime, control characters and `\` left as custody's `\xNN`.
fn as_mactime_shows(host: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    for &b in host {
        match b {
            b'\n' => s.extend_from_slice(b"\\x0a"),
            b'\\' => s.extend_from_slice(b"\\x5c"),
            _ => s.push(b),
        }
    }
    s
}

/// The names `mactime -b BODY -d` shows: its output is comma-separated,
/// the name last, quoted, with `"` doubled; the quoting is undone on bytes,
/// since names need not be UTF-8.
fn mactime_names(body: &[u8], dir: &Path) -> BTreeSet<Vec<u8>> {
    require_tool("mactime");
    let file = dir.join("body-raw.txt");
    std::fs::write(&file, body).unwrap();
    let o = run(Command::new("mactime").arg("-b").arg(&file).arg("-d"));
    assert_eq!(code(&o), 0, "mactime failed\n{}", text(&o));
    o.stdout
        .split(|&b| b == b'\n')
        .skip_while(|l| *l == b"Date,Size,Type,Mode,UID,GID,Meta,File Name")
        .filter(|l| !l.is_empty())
        .map(|l| {
            let at = l.iter().position(|&b| b == b'"').unwrap();
            let mut name = Vec::new();
            let mut quoted = l[at + 1..l.len() - 1].iter().peekable();
            while let Some(&b) = quoted.next() {
                if b == b'"' && quoted.peek() == Some(&&b'"') {
                    quoted.next();
                }
                name.push(b);
            }
            name
        })
        .collect()
}

#[test]
fn mactime_reads_the_body_file_and_lists_every_member_with_its_proof() {
    let c = collected();
    let (body, rc) = export(&c.archive, "bodyfile", &c.trust());
    assert_eq!(rc, 0, "{}", String::from_utf8_lossy(&body));
    assert!(!body.windows(9).any(|w| w == b".custody/"), "custody members are not evidence rows");
    let lines = body.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    assert_eq!(lines, c.evidence().len(), "one line per evidence member");
    let shown = mactime_names(&body, c.dir.path());
    let mut expected: BTreeSet<Vec<u8>> = c.evidence().iter().map(|p| as_mactime_shows(p)).collect();
    let link = c.host(SYMLINK.0);
    expected.remove(&as_mactime_shows(&link));
    expected.insert([as_mactime_shows(&link), b" -> ".to_vec(), SYMLINK.1.to_vec()].concat());
    assert_eq!(shown, expected, "mactime shows every evidence member, and no other");
    // A line's columns, for the file mactime showed with its SHA-256.
    let pipe = body
        .split(|&b| b == b'\n')
        .find(|l| l.windows(13).any(|w| w == b"/pipe%7Cname|"))
        .expect("pipe|name's line");
    let cols: Vec<&[u8]> = pipe.split(|&b| b == b'|').collect();
    assert_eq!(cols.len(), 11, "{}", String::from_utf8_lossy(pipe));
    assert_eq!(cols[0].len(), 64, "SHA-256 in the MD5 column");
    assert_eq!(cols[3], b"-rw-r--r--");
    assert_eq!(cols[6], FILES[0].1.len().to_string().as_bytes());

    // The tampered copy: the altered member says so, and only it.
    let (body, rc) = export(&c.tampered(), "bodyfile", &c.trust());
    assert_eq!(rc, 12);
    let names = mactime_names(&body, c.dir.path());
    let altered: Vec<&Vec<u8>> = names.iter().filter(|n| n.ends_with(b" (ALTERED)")).collect();
    assert_eq!(altered, vec![&[c.host(FILES[0].0), b" (ALTERED)".to_vec()].concat()], "{names:?}");
    assert_eq!(names.len(), c.evidence().len());
}

/// The host path of a timeline row: `path`, or `path_b64` when not UTF-8.
fn row_path(path: &str, path_b64: &str) -> Vec<u8> {
    if path_b64.is_empty() {
        return path.as_bytes().to_vec();
    }
    base64::engine::general_purpose::STANDARD.decode(path_b64).unwrap()
}

const TIME_KINDS: [&str; 4] = ["Modification time", "Access time", "Change time", "Creation time"];

#[test]
fn timelines_read_back_as_csv_and_json_lines_with_every_member_and_its_proof() {
    let c = collected();
    let (csv_bytes, rc) = export(&c.archive, "csv", &c.trust());
    assert_eq!(rc, 0);
    let mut reader = csv::Reader::from_reader(&csv_bytes[..]);
    let headers = reader.headers().unwrap().clone();
    for required in [
        "message",
        "datetime",
        "timestamp",
        "timestamp_desc",
        "path",
        "sha256",
        "status",
        "proof",
        "archive_id",
    ] {
        assert!(headers.iter().any(|h| h == required), "no {required} column in {headers:?}");
    }
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV record")).collect();
    let mut paths = BTreeSet::new();
    for r in &rows {
        paths.insert(row_path(&r[col("path")], &r[col("path_b64")]));
        assert_eq!(&r[col("proof")], "proven", "{r:?}");
        assert!(TIME_KINDS.contains(&&r[col("timestamp_desc")]), "{r:?}");
        assert!(r[col("datetime")].ends_with("+00:00"), "{r:?}");
        assert!(r[col("message")].contains("proven"), "{r:?}");
        assert_eq!(r[col("archive_id")].len(), 32, "{r:?}");
        let micros: i64 = r[col("timestamp")].parse().unwrap();
        let dt = time::OffsetDateTime::parse(&r[col("datetime")], &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(micros, (dt.unix_timestamp_nanos() / 1000) as i64, "{r:?}");
    }
    assert_eq!(
        paths,
        c.evidence(),
        "every evidence member, by its exact bytes, and no custody member"
    );
    let quoted = rows
        .iter()
        .find(|r| r[col("path")].ends_with("comma,\"quote\""))
        .expect("the quoted name");
    assert_eq!(&quoted[col("status")], "ok");

    let (jsonl, rc) = export(&c.archive, "jsonl", &c.trust());
    assert_eq!(rc, 0);
    let objects: Vec<serde_json::Value> = jsonl
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(objects.len(), rows.len(), "the same rows as the CSV");
    let json_paths: BTreeSet<Vec<u8>> = objects
        .iter()
        .map(|o| row_path(o["path"].as_str().unwrap(), o["path_b64"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(json_paths, c.evidence());
    assert!(objects
        .iter()
        .all(|o| o["proof"] == "proven" && o["message"].is_string() && o["timestamp"].is_i64()));

    // Tampered: the altered member's rows say so, and no other's (the rest
    // of its segment matches its listing, but that checkpoint is not proven).
    let pipe = c.host(FILES[0].0);
    let (jsonl, rc) = export(&c.tampered(), "jsonl", &c.trust());
    assert_eq!(rc, 12);
    for line in jsonl.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let o: serde_json::Value = serde_json::from_slice(line).unwrap();
        let path = row_path(o["path"].as_str().unwrap(), o["path_b64"].as_str().unwrap_or(""));
        assert_eq!(path == pipe, o["proof"] == "altered", "{o}");
    }
    // Without a trusted key: nothing is proven, and the exit code says untrusted.
    let (csv_bytes, rc) = export(&c.archive, "csv", &[]);
    assert_eq!(rc, 11);
    let mut reader = csv::Reader::from_reader(&csv_bytes[..]);
    assert!(reader.records().all(|r| &r.unwrap()[col("proof")] == "matches-listing"));
}

#[test]
fn case_validate_accepts_the_case_export_of_an_intact_and_a_tampered_archive() {
    // CASE_VALIDATE, else the virtualenv .ci/run makes, else PATH.
    let made = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/ci-case-utils/bin/case_validate"));
    let on_path = std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("case_validate")).find(|f| f.is_file()));
    let validator = std::env::var_os("CASE_VALIDATE")
        .map(PathBuf::from)
        .or_else(|| made.is_file().then_some(made))
        .or(on_path)
        .expect(
            "case_validate from case-utils (PyPI) is needed: run .ci/run once (it makes a virtualenv under target/), or set CASE_VALIDATE",
        );
    assert!(validator.is_file(), "CASE_VALIDATE={} does not exist", validator.display());
    let c = collected();
    let good = c.dir.path().join("good.jsonld");
    let bad = c.dir.path().join("bad.jsonld");
    for (archive, out, want) in [(c.archive.clone(), &good, 0), (c.tampered(), &bad, 12)] {
        let o = run(custody()
            .arg("export")
            .arg(&archive)
            .args(["--format", "case", "--output"])
            .arg(out)
            .args(c.trust()));
        assert_eq!(code(&o), want, "{}", text(&o));
    }
    // Both graphs in one run: case_validate loads the ontology for seconds.
    let o = run(Command::new(&validator).arg(&good).arg(&bad));
    assert_eq!(code(&o), 0, "case_validate rejects the export\n{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Conforms: True"), "{}", text(&o));

    let graph: serde_json::Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    let files: Vec<&serde_json::Value> = graph["@graph"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["@type"] == "uco-observable:File" && n["uco-core:description"].as_str().unwrap().starts_with("custody proof"))
        .collect();
    assert_eq!(files.len(), c.evidence().len(), "one File per evidence member");
    assert!(files
        .iter()
        .all(|f| f["uco-core:description"].as_str().unwrap().starts_with("custody proof: proven;")));
    let pipe = String::from_utf8(c.host(FILES[0].0)).unwrap();
    let with_hash = files
        .iter()
        .find(|f| f["uco-core:hasFacet"][0]["uco-observable:filePath"] == pipe.as_str())
        .expect("pipe|name's File");
    let hash = &with_hash["uco-core:hasFacet"][1]["uco-observable:hash"][0];
    assert_eq!(hash["uco-types:hashMethod"], "SHA256");
    assert_eq!(hash["uco-types:hashValue"]["@type"], "xsd:hexBinary");

    let graph: serde_json::Value = serde_json::from_slice(&std::fs::read(&bad).unwrap()).unwrap();
    let altered: Vec<&serde_json::Value> = graph["@graph"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| {
            n["uco-core:description"]
                .as_str()
                .is_some_and(|d| d.starts_with("custody proof: altered"))
        })
        .collect();
    assert_eq!(altered.len(), 1, "{altered:?}");
    assert_eq!(altered[0]["uco-core:hasFacet"][0]["uco-observable:filePath"], pipe.as_str());
}
