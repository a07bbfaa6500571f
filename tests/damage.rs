//! Damage containment: one corrupted zstd frame in the middle of an archive
//! loses only that frame. The verifier names the lost compressed range and
//! the members it held, still checks the members after it against their
//! signed listings, and `extract --salvage` recovers them intact.

mod common;

use std::path::Path;

use common::*;

/// Start offsets and lengths of the zstd frames of a compressed file.
fn frames(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let len = zstd::zstd_safe::find_frame_compressed_size(&data[pos..]).expect("well-formed frames");
        out.push((pos, len));
        pos += len;
    }
    out
}

/// `extract --salvage` of a damaged archive, which exits 12 (tampered).
fn salvage(damaged: &Path, key: &Path, into: &Path) {
    let o = run(custody()
        .arg("extract")
        .arg(damaged)
        .arg("--into")
        .arg(into)
        .arg("--salvage")
        .arg("--key")
        .arg(pub_of(key)));
    assert_eq!(code(&o), 12, "{}", text(&o));
}

fn make_logs(root: &Path, files: usize) {
    for i in 0..files {
        let dir = root.join(format!("d{:02}", i % 8));
        std::fs::create_dir_all(&dir).unwrap();
        let text: String = (0..900)
            .map(|l| format!("{i:04} line {l} GET /api/v1/item/{} 200\n", (i * 7919 + l) % 10007))
            .collect();
        std::fs::write(dir.join(format!("f{i:04}.log")), text).unwrap();
    }
}

#[test]
fn a_damaged_frame_loses_only_its_own_members() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_logs(&src, 300);
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &["--checkpoint-members", "30"]);
    let mut data = std::fs::read(&archive).unwrap();
    let f = frames(&data);
    assert!(f.len() >= 8, "checkpoints end frames: {} frames", f.len());
    let (start, len) = f[f.len() / 2];
    data[start + len / 2] ^= 0x20;
    let damaged = dir.path().join("damaged.tar.zst");
    std::fs::write(&damaged, &data).unwrap();

    let (report, status) = verify_json(&damaged, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((status, report["verdict"].as_str()), (12, Some("tampered")), "{report:#}");
    let findings = report["findings"].as_array().unwrap();
    let lost = findings
        .iter()
        .find(|f| {
            f["message"]
                .as_str()
                .unwrap()
                .contains(&format!("compressed bytes {start}..{}", start + len))
        })
        .unwrap_or_else(|| panic!("the lost range {start}..{} is named: {report:#}", start + len));
    assert_eq!(lost["kind"], "compressed-damage");
    // What the damaged frame held is named: listed members one by one, and
    // members whose own checkpoint was lost by count.
    let missing: Vec<&str> = findings
        .iter()
        .filter(|f| f["kind"] == "member-missing")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(!missing.is_empty(), "{report:#}");
    let lost: u64 = missing
        .iter()
        .filter_map(|m| m.split("running totals, ").nth(1))
        .map(|rest| rest.split(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    let named = missing
        .iter()
        .filter(|m| m.contains("is listed by checkpoint"))
        .filter(|m| m.contains(".log"))
        .count() as u64;
    assert!(
        report["seal"].is_object(),
        "the seal after the damage is still read and checked: {report:#}"
    );

    // Salvage: everything but the lost members comes back intact.
    let into = dir.path().join("salvaged");
    salvage(&damaged, &key, &into);
    let mut recovered = 0;
    for e in files_under(&into) {
        if e.extension().is_some_and(|x| x == "log") {
            let source = Path::new("/").join(e.strip_prefix(&into).unwrap());
            if std::fs::read(&e).unwrap() != std::fs::read(&source).unwrap() {
                if let Ok(keep) = std::env::var("CUSTODY_KEEP_DAMAGED") {
                    std::fs::copy(&damaged, &keep).unwrap();
                    std::fs::copy(pub_of(&key), format!("{keep}.pub")).unwrap();
                }
                panic!("salvaged {} differs from the source", e.display());
            }
            recovered += 1;
        }
    }
    // `lost` counts every evidence member (directories too), so the sum may exceed 300.
    assert!(
        recovered as u64 + lost + named >= 300,
        "recovered {recovered}, lost {lost} by count and {named} by name"
    );
    assert!(lost + named <= 31, "a frame of at most one segment is lost: {lost} + {named}");
}

/// Tar bytes each zstd frame decodes to.
fn frame_tar_lengths(data: &[u8]) -> Vec<usize> {
    frames(data)
        .iter()
        .map(|&(start, len)| zstd::decode_all(&data[start..start + len]).unwrap().len())
        .collect()
}

/// A large file spans several frames, cut inside its content. Damage to a
/// frame that begins inside it loses that file and the frames up to the
/// next that begins at a member; everything else is checked and salvaged.
#[test]
fn damage_inside_a_large_member_loses_that_member_and_its_frames() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_logs(&src.join("before"), 40);
    let big: String = (0..260_000)
        .map(|l| format!("{l:08} big line {}\n", (l * 7919) % 100_003))
        .collect();
    std::fs::create_dir_all(src.join("m")).unwrap();
    std::fs::write(src.join("m/big.log"), &big).unwrap();
    make_logs(&src.join("z-after"), 40);
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &[]);
    let mut data = std::fs::read(&archive).unwrap();
    let f = frames(&data);
    let lengths = frame_tar_lengths(&data);
    // Find a frame that begins inside the big file: at a tar offset of phase
    // 256 in a 512-byte block (where the collector cuts inside content).
    let mut at = 0usize;
    let mut inside = None;
    for (i, n) in lengths.iter().enumerate() {
        if at % 512 == 256 {
            inside = Some(i);
            break;
        }
        at += n;
    }
    let i = inside.unwrap_or_else(|| panic!("a frame begins inside the 6 MB file: {lengths:?}"));
    assert!(big.len() > 4 * 1024 * 1024 + 512, "the file is larger than a frame");
    let (start, len) = f[i];
    data[start + len / 2] ^= 0x01;
    let damaged = dir.path().join("damaged.tar.zst");
    std::fs::write(&damaged, &data).unwrap();

    let (report, status) = verify_json(&damaged, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((status, report["verdict"].as_str()), (12, Some("tampered")), "{report:#}");
    let whole = report.to_string();
    assert!(
        whole.contains(&format!("compressed bytes {start}..")),
        "the lost range starts at the damaged frame: {report:#}"
    );
    assert!(whole.contains("big.log"), "the big file is named as lost or altered: {report:#}");

    let into = dir.path().join("salvaged");
    salvage(&damaged, &key, &into);
    let mut recovered = 0;
    for e in files_under(&into) {
        let source = Path::new("/").join(e.strip_prefix(&into).unwrap());
        assert!(!e.ends_with("big.log"), "the damaged big file is not salvaged as intact");
        if e.extension().is_some_and(|x| x == "log") {
            assert_eq!(std::fs::read(&e).unwrap(), std::fs::read(&source).unwrap(), "{}", e.display());
            recovered += 1;
        }
    }
    // Every file before the big one is intact; after it, only those in the
    // frame where the big file ends can be lost.
    assert!(recovered >= 40, "recovered {recovered} of 80 small files");
}
