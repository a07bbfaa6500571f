//! What `custody extract` restores besides content: modification times (a
//! symlink's own included), and, run as root, owners and every mode bit as
//! GNU tar does for root. Run as another user it names every member whose
//! owner or setuid/setgid/sticky bits it did not restore.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;

/// Set a path's own mtime, without following a symlink.
fn set_own_mtime(path: &Path, secs: i64, nanos: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: nanos,
    };
    let times = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(rustix::fs::CWD, path, &times, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

/// Collect `src` and extract it into `dir/name`; returns the extracted
/// copy of `src` and the extraction's standard output.
fn collect_and_extract(dir: &Path, src: &Path, name: &str) -> (std::path::PathBuf, String) {
    let key = keygen(dir, &format!("{name}-key"));
    let archive = dir.join(format!("{name}.tar.zst"));
    collect(src, &archive, &key, &[]);
    let out = dir.join(name);
    let o = extract_trusted(&archive, &out, &key);
    (
        out.join(src.strip_prefix("/").unwrap()),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
fn symlinks_get_their_own_modification_time() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("target"), "x").unwrap();
    std::os::unix::fs::symlink("target", src.join("link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", src.join("dangling")).unwrap();
    set_own_mtime(&src.join("target"), 1_500_000_000, 0);
    set_own_mtime(&src.join("link"), 1_600_000_000, 123_456_789);
    set_own_mtime(&src.join("dangling"), 1_400_000_000, 5);
    let (got, _) = collect_and_extract(dir.path(), &src, "x");
    for (name, secs, nanos) in [("link", 1_600_000_000, 123_456_789), ("dangling", 1_400_000_000, 5)] {
        let m = std::fs::symlink_metadata(got.join(name)).unwrap();
        assert!(m.file_type().is_symlink(), "{name}");
        assert_eq!((m.mtime(), m.mtime_nsec()), (secs, nanos), "{name}'s own mtime");
    }
    // The target's time is its own, not the link's.
    assert_eq!(std::fs::metadata(got.join("target")).unwrap().mtime(), 1_500_000_000);
}

/// A tree with other owners and special mode bits (needs root to make).
fn tree_with_owners(src: &Path) {
    use std::os::unix::fs::lchown;
    std::fs::create_dir_all(src.join("shared")).unwrap();
    std::fs::create_dir_all(src.join("tmp")).unwrap();
    std::fs::write(src.join("tool"), "#!/bin/sh\n").unwrap();
    std::fs::write(src.join("plain"), "plain\n").unwrap();
    std::os::unix::fs::symlink("tool", src.join("tool-link")).unwrap();
    lchown(src.join("tool"), Some(1234), Some(5678)).unwrap();
    lchown(src.join("shared"), Some(1234), Some(5678)).unwrap();
    lchown(src.join("tool-link"), Some(4321), Some(8765)).unwrap();
    // chmod after chown, which clears setuid.
    std::fs::set_permissions(src.join("tool"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::fs::set_permissions(src.join("shared"), std::fs::Permissions::from_mode(0o2775)).unwrap();
    std::fs::set_permissions(src.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
}

#[test]
fn root_restores_owners_and_all_mode_bits_and_others_name_what_they_did_not() {
    if !is_root() {
        eprintln!("SKIPPED (not root): owners and setuid/setgid/sticky bits on extraction");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    tree_with_owners(&src);
    let (got, stdout) = collect_and_extract(dir.path(), &src, "as-root");
    assert!(!stdout.contains("not restored"), "{stdout}");
    let facts = |p: &Path| {
        let m = std::fs::symlink_metadata(p).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o7777)
    };
    assert_eq!(facts(&got.join("tool")), (1234, 5678, 0o4755));
    assert_eq!(facts(&got.join("shared")), (1234, 5678, 0o2775));
    assert_eq!(facts(&got.join("tmp")).2, 0o1777);
    assert_eq!(facts(&got.join("plain")), (0, 0, facts(&src.join("plain")).2));
    let link = facts(&got.join("tool-link"));
    assert_eq!((link.0, link.1), (4321, 8765), "symlink owner (lchown)");
    assert!(!got.parent().unwrap().join(custody::extract::NOT_RESTORED_FILE).exists());

    // The same archive extracted by another user: every member whose owner
    // or special bits were not restored is counted and listed.
    require_tool("setpriv");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let out = theirs.join("x");
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(custody_bin())
        .arg("extract")
        .arg(dir.path().join("as-root.tar.zst"))
        .arg("--into")
        .arg(&out)
        .arg("--key")
        .arg(pub_of(&dir.path().join("as-root-key")))
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null());
    let o = run(&mut cmd);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let n: u64 = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("not restored: the owner or setuid/setgid/sticky bits of ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no count of members not restored\n{stdout}"));
    assert!(
        stdout.contains("only when run as root") && stdout.contains(custody::extract::NOT_RESTORED_FILE),
        "{stdout}"
    );
    let list = std::fs::read_to_string(out.join(custody::extract::NOT_RESTORED_FILE)).unwrap();
    assert_eq!(list.lines().count() as u64, n, "{list}");
    let line_of = |end: &str| {
        list.lines()
            .find(|l| l.split('\t').next().is_some_and(|p| p.trim_end_matches('/').ends_with(end)))
            .unwrap_or_else(|| panic!("{end} not listed\n{list}"))
            .to_string()
    };
    let tool = line_of("src/tool");
    assert!(
        tool.contains("owner 1234:5678 not restored") && tool.contains("4000 (setuid)"),
        "{tool}"
    );
    assert!(line_of("src/shared").contains("2000 (setgid)"));
    assert!(line_of("src/tmp").contains("1000 (sticky)"));
    assert!(line_of("src/tool-link").contains("owner 4321:8765"));
    assert!(line_of("src/plain").contains("owner 0:0 not restored"));
    assert!(
        !list.contains(".custody/"),
        "custody's own documents are not evidence owners\n{list}"
    );
    // What it could restore, it did.
    let m = std::fs::metadata(out.join(src.strip_prefix("/").unwrap()).join("tool")).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (65534, 0o755));
}
