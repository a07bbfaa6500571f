//! Extraction takes hostile input: an archive may name paths with `..`,
//! absolute paths, files to be written through a symlink it also holds, and
//! hard links to files outside the target. `extract --salvage` (which places
//! unproven members) must never write outside its target, and must never
//! follow a symlink it created.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use custody::format::tar::{self, EntryKind, MemberHeader, Timestamp};

fn member(path: &[u8], kind: EntryKind, content: &[u8], link: Option<&[u8]>) -> Vec<u8> {
    let mut h = MemberHeader::new(
        path.to_vec(),
        kind,
        content.len() as u64,
        Timestamp {
            secs: 1_700_000_000,
            nanos: 0,
        },
    );
    h.linkpath = link.map(<[u8]>::to_vec);
    h.mode = if kind == EntryKind::Directory { 0o755 } else { 0o644 };
    let mut out = h.encode();
    out.extend_from_slice(content);
    out.resize(out.len() + tar::padding(content.len() as u64), 0);
    out
}

/// Every path under `root`, relative, not following symlinks.
fn tree(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries {
            let p = e.unwrap().path();
            out.insert(p.strip_prefix(root).unwrap().to_path_buf());
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

#[test]
fn hostile_paths_and_links_never_write_outside_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    let outside = base.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("sentinel"), "untouched\n").unwrap();
    let target = base.join("target").join("deep");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();

    let out = outside.to_str().unwrap().as_bytes();
    let abs_file = [out, b"/abs-escape"].concat();
    let sentinel = [out, b"/sentinel"].concat();
    let evil: Vec<Vec<u8>> = vec![
        member(b"../escape-1", EntryKind::File, b"dot-dot\n", None),
        member(b"a/../../escape-2", EntryKind::File, b"dot-dot inside\n", None),
        member(&abs_file, EntryKind::File, b"absolute\n", None),
        member(b"", EntryKind::File, b"empty name\n", None),
        // A symlink to outside, then a file through it.
        member(b"link-out", EntryKind::Symlink, b"", Some(out)),
        member(b"link-out/through.txt", EntryKind::File, b"through a symlink\n", None),
        member(b"up", EntryKind::Symlink, b"", Some(b"..")),
        member(b"up/escape-3", EntryKind::File, b"through ..\n", None),
        // A directory, a symlink inside it, and a file through that.
        member(b"dir/", EntryKind::Directory, b"", None),
        member(b"dir/sub", EntryKind::Symlink, b"", Some(out)),
        member(b"dir/sub/x", EntryKind::File, b"through a nested symlink\n", None),
        // Hard links to files outside, absolute and relative.
        member(b"hl-abs", EntryKind::HardLink, b"", Some(&sentinel)),
        member(b"hl-rel", EntryKind::HardLink, b"", Some(b"../../outside/sentinel")),
        // Then content written to those names, in case a link was made.
        member(b"hl-abs", EntryKind::File, b"overwrite via hard link\n", None),
        // A symlink and a regular file with the same name, symlink first.
        member(b"same", EntryKind::Symlink, b"", Some(&sentinel)),
        member(b"same", EntryKind::File, b"must not go through the symlink\n", None),
        // A harmless file, which must be extracted.
        member(b"fine.txt", EntryKind::File, b"fine\n", None),
    ];
    let mut t = header_member(dir.path());
    for m in &evil {
        t.extend_from_slice(m);
    }
    let archive = dir.path().join("evil.tar.zst");
    compress(&t, &archive);

    let before_base: BTreeSet<PathBuf> = tree(&base);
    let o = run(custody().arg("extract").arg(&archive).arg("--into").arg(&target).arg("--salvage"));
    assert!(matches!(code(&o), 10..=12), "{}", text(&o));

    assert_eq!(std::fs::read_to_string(outside.join("sentinel")).unwrap(), "untouched\n");
    let after_base: BTreeSet<PathBuf> = tree(&base).into_iter().filter(|p| !p.starts_with("target/deep")).collect();
    assert_eq!(after_base, before_base, "nothing appeared outside the target:\n{}", text(&o));
    let inside = tree(&target);
    assert!(inside.contains(Path::new("fine.txt")), "{inside:?}\n{}", text(&o));
    for p in &inside {
        let full = target.join(p);
        let md = std::fs::symlink_metadata(&full).unwrap();
        if md.is_file() {
            // Every regular file is inside the target and not a link to the sentinel.
            use std::os::unix::fs::MetadataExt;
            let s = std::fs::metadata(outside.join("sentinel")).unwrap();
            assert_ne!(
                (md.dev(), md.ino()),
                (s.dev(), s.ino()),
                "{} is a hard link to the sentinel",
                p.display()
            );
        }
    }
    // The file named like the symlink is content, not a write through it.
    let same = std::fs::symlink_metadata(target.join("same"));
    assert!(same.map(|m| !m.file_type().is_symlink() || m.is_file()).unwrap_or(true));
}

#[test]
fn random_damage_never_makes_extraction_escape_or_panic() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src);
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &["--checkpoint-members", "3"]);
    let t = tar_stream(&archive);
    let mut x: u64 = 0x1234_5678;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let base = dir.path().join("runs");
    std::fs::create_dir(&base).unwrap();
    for i in 0..40 {
        let mut m = t.clone();
        for _ in 0..1 + next(4) {
            let at = next(m.len());
            m[at] ^= 1 << next(8);
        }
        let mutated = dir.path().join(format!("m{i}.tar.zst"));
        compress(&m, &mutated);
        let into = base.join(format!("x{i}"));
        for args in [vec!["verify"], vec!["list"]] {
            let o = run(custody().args(&args).arg(&mutated).arg("--key").arg(pub_of(&key)));
            assert!(matches!(code(&o), 4 | 10 | 12), "{args:?} on mutation {i}: {}", text(&o));
        }
        let o = run(custody()
            .arg("extract")
            .arg(&mutated)
            .arg("--into")
            .arg(&into)
            .arg("--salvage")
            .arg("--key")
            .arg(pub_of(&key)));
        assert!(matches!(code(&o), 1 | 4 | 10 | 12), "extract on mutation {i}: {}", text(&o));
        assert!(!text(&o).contains("panicked"), "{}", text(&o));
    }
    // Nothing was written beside the per-run targets.
    let names: Vec<String> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| n.starts_with('x')), "{names:?}");
}
