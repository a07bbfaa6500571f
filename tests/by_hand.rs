//! Runs the `sh` blocks of docs/VERIFY-BY-HAND.md, unchanged and in order,
//! against a fresh archive (they must pass) and against tampered copies
//! (some step must fail).

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

fn run_procedure(archive: &Path, pubkey: &Path, workdir: &Path) -> std::process::Output {
    for t in ["zstd", "tar", "ssh-keygen", "sha256sum", "b3sum"] {
        require_tool(t);
    }
    std::fs::create_dir_all(workdir).unwrap();
    Command::new("bash")
        .arg("-c")
        .arg(procedure())
        .current_dir(workdir)
        .env("ARCHIVE", archive)
        .env("PUBKEY", pubkey)
        .output()
        .unwrap()
}

#[test]
fn the_documented_procedure_passes_on_a_good_archive_and_fails_on_tampered_ones() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    let collected = collect(&src, &archive, &key, &["--checkpoint-members", "3"]);
    let o = run_procedure(&archive, &pub_of(&key), &dir.path().join("good"));
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("by-hand verification passed"), "{out}");
    let chain = out.lines().find_map(|l| l.strip_prefix("final chain value: ")).unwrap();
    assert!(
        String::from_utf8_lossy(&collected.stdout).contains(chain),
        "by-hand chain differs from collect's"
    );

    // Content changed: the segment digest step fails.
    let mut tar = tar_stream(&archive);
    let at = tar.windows(11).position(|w| w == b"listen 8080").unwrap();
    tar[at] = b'X';
    let bad = dir.path().join("bad.tar.zst");
    compress(&tar, &bad);
    let o = run_procedure(&bad, &pub_of(&key), &dir.path().join("bad"));
    assert!(!o.status.success(), "tampered content passed the by-hand check\n{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("BY-HAND CHECK FAILED"), "{}", text(&o));

    // Data appended after the seal: the trailing-zeros step fails.
    let mut tar = tar_stream(&archive);
    let n = tar.len();
    tar[n - 10] = 1;
    let bad = dir.path().join("after.tar.zst");
    compress(&tar, &bad);
    let o = run_procedure(&bad, &pub_of(&key), &dir.path().join("after"));
    assert!(!o.status.success(), "data after the seal passed\n{}", text(&o));

    // Another key: the header check fails.
    let other = keygen(dir.path(), "other");
    let o = run_procedure(&archive, &pub_of(&other), &dir.path().join("wrong-key"));
    assert!(!o.status.success(), "an untrusted key passed\n{}", text(&o));
}
