//! Split output (docs/FORMAT.md §18): `collect --split SIZE` writes part
//! files that each end at a checkpoint. The set verifies as the archive it
//! makes in order, each part extracts alone with GNU tar, the parts
//! concatenated verify like an unsplit archive, and a missing, misplaced,
//! repeated or foreign part is named.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// 240 files of 3000 bytes that do not compress, in 6 directories: with
/// 64 KiB parts, a few dozen parts.
fn make_many_files(root: &Path) {
    let mut x: u64 = 7;
    for d in 0..6 {
        let dir = root.join(format!("d{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..40 {
            let data: Vec<u8> = (0..3000)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (x >> 56) as u8
                })
                .collect();
            std::fs::write(dir.join(format!("f{i}.bin")), data).unwrap();
        }
    }
}

struct Split {
    dir: tempfile::TempDir,
    src: PathBuf,
    key: PathBuf,
    parts: Vec<PathBuf>,
    stdout: String,
}

/// Collect a tree of many files with `--split 64K` into `NAME.tar.zst`.
fn split_collection(name: &str) -> Split {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_many_files(&src);
    let key = keygen(dir.path(), "key");
    let (_, parts, stdout) = collect_split(dir.path(), &src, &key, name);
    Split {
        dir,
        src,
        key,
        parts,
        stdout,
    }
}

fn collect_split(dir: &Path, src: &Path, key: &Path, name: &str) -> (PathBuf, Vec<PathBuf>, String) {
    let archive = dir.join(format!("{name}.tar.zst"));
    let o = collect(src, &archive, key, &["--split", "64K"]);
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{name}.tar.zst.part-"))
        })
        .collect();
    parts.sort();
    assert!(!archive.exists(), "a split collection writes parts, not {}", archive.display());
    (archive, parts, String::from_utf8_lossy(&o.stdout).into_owned())
}

fn verify_parts(parts: &[PathBuf], key: &Path) -> (serde_json::Value, i32) {
    let o = run(custody().arg("verify").args(parts).arg("--json").arg("--key").arg(pub_of(key)));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("verify --json is not JSON ({e})\n{}", text(&o)));
    (v, code(&o))
}

/// The findings of `kind`, as (part, message).
fn findings_of(report: &serde_json::Value, kind: &str) -> Vec<(Option<u64>, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .map(|f| (f["part"].as_u64(), f["message"].as_str().unwrap().to_string()))
        .collect()
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn a_split_set_verifies_and_each_part_extracts_alone() {
    require_tool("tar");
    require_tool("sha256sum");
    let s = split_collection("case");
    assert!(s.parts.len() >= 4, "{} parts: {:?}", s.parts.len(), s.parts);
    for (i, p) in s.parts.iter().enumerate() {
        assert_eq!(name(p), format!("case.tar.zst.part-{:04}", i + 1));
        // Every part but a last one that holds a segment larger than the
        // part size stays within it; none here is.
        assert!(
            std::fs::metadata(p).unwrap().len() <= 64 * 1024,
            "{} is larger than 64K",
            p.display()
        );
    }

    let (report, code) = verify_parts(&s.parts, &s.key);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["verdict"], "verified", "{report}");
    assert_eq!(report["sealed"], true);

    // Each part alone is a tar+zstd stream GNU tar extracts, and together
    // they give back the tree.
    let x = s.dir.path().join("x");
    std::fs::create_dir(&x).unwrap();
    for p in &s.parts {
        let o = run(Command::new("tar").arg("--zstd").arg("-xf").arg(p).arg("-C").arg(&x));
        assert_eq!(code_of(&o), 0, "tar -x {}: {}", p.display(), text(&o));
    }
    let extracted_src = x.join(s.src.strip_prefix("/").unwrap());
    let mut want: Vec<PathBuf> = files_under(&s.src)
        .iter()
        .map(|f| f.strip_prefix(&s.src).unwrap().to_path_buf())
        .collect();
    let mut got: Vec<PathBuf> = files_under(&extracted_src)
        .iter()
        .map(|f| f.strip_prefix(&extracted_src).unwrap().to_path_buf())
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    for f in &want {
        assert_eq!(
            std::fs::read(extracted_src.join(f)).unwrap(),
            std::fs::read(s.src.join(f)).unwrap(),
            "{}",
            f.display()
        );
    }

    // The parts concatenated in order are the archive: it verifies, and its
    // SHA-256 is the one collect printed.
    let whole = s.dir.path().join("whole.tar.zst");
    let bytes: Vec<u8> = s.parts.iter().flat_map(|p| std::fs::read(p).unwrap()).collect();
    std::fs::write(&whole, &bytes).unwrap();
    let (report, code) = verify_json(&whole, &["--key", pub_of(&s.key).to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["verdict"], "verified");
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    assert!(s.stdout.contains(&format!("archive sha256 {sha}")), "{}", s.stdout);

    // One sha256sum line per part, which `sha256sum -c` checks.
    let sidecar = std::fs::read_to_string(s.dir.path().join("case.tar.zst.sha256")).unwrap();
    assert_eq!(sidecar.lines().count(), s.parts.len(), "{sidecar}");
    let o = run(Command::new("sha256sum")
        .arg("-c")
        .arg("case.tar.zst.sha256")
        .current_dir(s.dir.path()));
    assert_eq!(code_of(&o), 0, "{}", text(&o));
    // The receipt and the custody log name the set.
    let receipt = std::fs::read_to_string(s.dir.path().join("case.tar.zst.receipt")).unwrap();
    assert!(receipt.contains(&format!("parts              {}", s.parts.len())), "{receipt}");
    assert!(s.dir.path().join("case.tar.zst.custody").exists());
}

fn code_of(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn a_missing_middle_part_is_named() {
    let s = split_collection("case");
    let mut given = s.parts.clone();
    given.remove(2);
    let (report, code) = verify_parts(&given, &s.key);
    assert_eq!(code, 12, "{report}");
    let missing = findings_of(&report, "part-missing");
    assert_eq!(missing.len(), 1, "{report}");
    assert_eq!(missing[0].0, Some(4));
    assert!(missing[0].1.starts_with("part 3 of archive"), "{}", missing[0].1);
    assert!(
        missing[0].1.contains("case.tar.zst.part-0002 (part 2) does not end"),
        "{}",
        missing[0].1
    );
}

#[test]
fn missing_last_parts_leave_the_set_incomplete() {
    let s = split_collection("case");
    let given = &s.parts[..s.parts.len() - 2];
    let (report, code) = verify_parts(given, &s.key);
    assert_eq!(code, 10, "{report}");
    assert_eq!(report["verdict"], "incomplete");
    let last = given.len() as u64;
    let found = findings_of(&report, "set-incomplete");
    assert_eq!(found.len(), 1, "{report}");
    assert_eq!(found[0].0, Some(last));
    assert!(
        found[0].1.contains(&format!("part {} and any after it are missing", last + 1)),
        "{}",
        found[0].1
    );
    // Everything given is proven: the last part ends on a signed checkpoint.
    assert_eq!(report["unproven_tar_bytes"], 0, "{report}");
}

#[test]
fn swapped_parts_are_named() {
    let s = split_collection("case");
    // Parts 2 and 3 trade names: the set in name order has them swapped.
    let tmp = s.dir.path().join("tmp");
    std::fs::rename(&s.parts[1], &tmp).unwrap();
    std::fs::rename(&s.parts[2], &s.parts[1]).unwrap();
    std::fs::rename(&tmp, &s.parts[2]).unwrap();
    let (report, code) = verify_parts(&s.parts, &s.key);
    assert_eq!(code, 12, "{report}");
    let out_of_place = findings_of(&report, "part-out-of-place");
    assert!(
        out_of_place
            .iter()
            .any(|(p, m)| *p == Some(2) && m.contains("case.tar.zst.part-0003 (part 2) comes after")),
        "{report}"
    );
    assert!(findings_of(&report, "part-missing").iter().any(|(p, _)| *p == Some(3)), "{report}");
}

#[test]
fn a_part_of_another_collection_is_named() {
    let s = split_collection("case");
    let (_, other, _) = collect_split(s.dir.path(), &s.src, &s.key, "other");
    let mut given = s.parts.clone();
    given[2] = other[2].clone();
    let (report, code) = verify_parts(&given, &s.key);
    assert_eq!(code, 12, "{report}");
    let foreign = findings_of(&report, "part-foreign");
    assert_eq!(foreign.len(), 1, "{report}");
    assert_eq!(foreign[0].0, Some(3));
    assert!(
        foreign[0]
            .1
            .starts_with(&format!("{} (part 3) belongs to archive", other[2].display())),
        "{}",
        foreign[0].1
    );
    // What follows is the real part 4, after a part 3 that is not there.
    assert!(findings_of(&report, "part-missing").iter().any(|(p, _)| *p == Some(4)), "{report}");
}

#[test]
fn a_duplicated_part_is_named() {
    let s = split_collection("case");
    let mut given = s.parts.clone();
    given.insert(2, s.parts[1].clone());
    let (report, code) = verify_parts(&given, &s.key);
    assert_eq!(code, 12, "{report}");
    let found = findings_of(&report, "part-out-of-place");
    assert!(
        found.iter().any(|(p, m)| *p == Some(2) && m.contains("is part 2 again")),
        "{report}"
    );
}

#[test]
fn a_middle_part_alone_proves_its_own_checkpoints() {
    let s = split_collection("case");
    let (report, code) = verify_parts(&s.parts[2..3], &s.key);
    assert_eq!(code, 10, "{report}");
    assert_eq!(report["verdict"], "incomplete");
    assert!(report["header"].is_null());
    assert_eq!(
        report["signer"]["trusted_as"].as_str().map(|t| t.starts_with("key file")),
        Some(true),
        "{report}"
    );
    let after = report["proven"]["after"].as_u64().expect("proven.after for a part alone");
    let proven = report["proven"]["checkpoints"].as_u64().unwrap();
    assert!(proven > after, "{report}");
    assert_eq!(report["unproven_tar_bytes"], 0, "{report}");
    assert!(
        !report["findings"].as_array().unwrap().iter().any(|f| f["level"] == "error"),
        "{report}"
    );
    let found = findings_of(&report, "set-incomplete");
    assert_eq!(found.len(), 2, "{report}");
    assert_eq!(found[0].0, Some(3));
    assert!(found[0].1.contains(&format!("begins after checkpoint {after}")), "{}", found[0].1);

    // An untrusted key is still refused for a part alone.
    let other = keygen(s.dir.path(), "other");
    let (report, code) = verify_parts(&s.parts[2..3], &other);
    assert_eq!(code, 11, "{report}");
}

#[test]
fn an_altered_part_is_caught_by_its_signed_bytes_and_its_checksum() {
    let s = split_collection("case");
    let mut bytes = std::fs::read(&s.parts[1]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&s.parts[1], bytes).unwrap();
    let (report, code) = verify_parts(&s.parts, &s.key);
    assert_eq!(code, 12, "{report}");
    let sums = findings_of(&report, "archive-digest-mismatch");
    assert_eq!(sums.len(), 1, "{report}");
    assert_eq!(sums[0].0, Some(2));
}
