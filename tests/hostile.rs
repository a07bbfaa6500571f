//! Hostile filesystems: trees with every kind of awkward name, file type and
//! metadata are collected, verified, and extracted with GNU tar and bsdtar,
//! and each extraction is compared with the source as the kernel reports it.
//! Cases that need root (owners, device nodes, trusted xattrs, mounts) are
//! skipped with a message when the tests do not run as root; CI runs as root.

mod common;

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use common::tree::{differences, snapshot, Facts};
use common::*;
use rustix::fs::{AtFlags, Timestamps, CWD};

/// Set mtime (and atime) without following a symlink.
fn set_mtime(path: &Path, secs: i64, nanos: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: nanos as _,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

fn sh(cmd: &mut Command) {
    let o = run(cmd);
    assert!(o.status.success(), "{cmd:?}\n{}", text(&o));
}

fn write(path: &Path, data: &[u8]) {
    std::fs::write(path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A tree of awkward names, types and metadata under `root`.
fn build_hostile_tree(root: &Path) {
    let names = root.join("names");
    std::fs::create_dir_all(&names).unwrap();
    let odd: Vec<Vec<u8>> = vec![
        b"bad\xff\xfename".to_vec(),
        b"nl\nname".to_vec(),
        b"ctrl\x01\x1b[31m\x7f".to_vec(),
        b"tab\there".to_vec(),
        b"-dash".to_vec(),
        b"--".to_vec(),
        b" leading and trailing ".to_vec(),
        "caf\u{e9}".as_bytes().to_vec(),
        "cafe\u{301}".as_bytes().to_vec(),
        [vec![b'n'; 251], b".txt".to_vec()].concat(),
        [vec![b'\xe9'; 200], vec![b'x'; 55]].concat(),
    ];
    for n in &odd {
        write(&names.join(std::ffi::OsStr::from_bytes(n)), n);
    }
    let mut long = names.clone();
    for i in 0..10 {
        long.push(format!("{i}{}", "L".repeat(98)));
    }
    std::fs::create_dir_all(&long).unwrap();
    write(&long.join("deep-and-long.txt"), b"a path of about 1100 bytes\n");
    let mut deep = names.join("deep");
    for _ in 0..60 {
        deep.push("d");
    }
    std::fs::create_dir_all(&deep).unwrap();
    write(&deep.join("bottom"), b"sixty levels down\n");

    let types = root.join("types");
    std::fs::create_dir_all(types.join("sub")).unwrap();
    write(&types.join("regular"), b"plain content\n");
    write(&types.join("empty"), b"");
    let sparse = std::fs::File::create(types.join("sparse")).unwrap();
    sparse.set_len(1 << 30).unwrap();
    use std::os::unix::fs::FileExt;
    sparse.write_all_at(b"start", 0).unwrap();
    sparse.write_all_at(b"middle", 300 << 20).unwrap();
    sparse.write_all_at(b"end", (1 << 30) - 3).unwrap();
    let trailing_hole = std::fs::File::create(types.join("sparse-trailing-hole")).unwrap();
    trailing_hole.write_all_at(b"data then a hole", 0).unwrap();
    trailing_hole.set_len(64 << 20).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", types.join("symlink-absolute")).unwrap();
    std::os::unix::fs::symlink("../names/-dash", types.join("symlink-relative")).unwrap();
    std::os::unix::fs::symlink("no/such/target", types.join("symlink-dangling")).unwrap();
    std::os::unix::fs::symlink("symlink-loop", types.join("symlink-loop")).unwrap();
    std::os::unix::fs::symlink("t".repeat(3000), types.join("symlink-long-target")).unwrap();
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(b"bin\xffary"), types.join("symlink-binary-target")).unwrap();
    write(&types.join("hardlink-1"), b"one inode, three names\n");
    std::fs::hard_link(types.join("hardlink-1"), types.join("hardlink-2")).unwrap();
    std::fs::hard_link(types.join("hardlink-1"), types.join("sub/hardlink-3")).unwrap();
    sh(Command::new("mkfifo").arg(types.join("fifo")));
    let _listener = std::os::unix::net::UnixListener::bind(types.join("socket")).unwrap();

    let meta = root.join("meta");
    std::fs::create_dir_all(meta.join("sticky")).unwrap();
    for (name, mode) in [
        ("setuid", 0o4755),
        ("setgid", 0o2755),
        ("no-permissions", 0o000),
        ("group-read", 0o640),
    ] {
        write(&meta.join(name), name.as_bytes());
        std::fs::set_permissions(meta.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::fs::set_permissions(meta.join("sticky"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    for (name, secs, nanos) in [
        ("nanoseconds", 1_700_000_000, 123_456_789),
        ("before-1970", -315_619_200, 0),
        ("before-1970-fraction", -315_619_200, 123_456_789),
        ("after-2038", 4_102_444_800, 500_000_000),
    ] {
        write(&meta.join(name), name.as_bytes());
        set_mtime(&meta.join(name), secs, nanos);
    }
    write(&meta.join("xattrs"), b"with extended attributes\n");
    rustix::fs::lsetxattr(
        meta.join("xattrs"),
        "user.binary",
        b"\x00\xff\n\x80=",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    rustix::fs::lsetxattr(meta.join("xattrs"), "user.text", b"hello", rustix::fs::XattrFlags::empty()).unwrap();
    rustix::fs::lsetxattr(meta.join("sticky"), "user.on-a-directory", b"yes", rustix::fs::XattrFlags::empty()).unwrap();
    write(&meta.join("acl"), b"with an access ACL\n");
    sh(Command::new("setfacl").args(["-m", "u:4242:rw-,g:4343:r--"]).arg(meta.join("acl")));
    std::fs::create_dir(meta.join("acl-default")).unwrap();
    sh(Command::new("setfacl")
        .args(["-d", "-m", "u:4242:rwx"])
        .arg(meta.join("acl-default")));

    if is_root() {
        for (name, spec) in [("char-device", ["c", "1", "3"]), ("block-device", ["b", "7", "200"])] {
            sh(Command::new("mknod").arg(types.join(name)).args(spec));
        }
        // /dev/zero and /dev/urandom as nodes: read, they would never end.
        sh(Command::new("mknod").arg(types.join("zero")).args(["c", "1", "5"]));
        sh(Command::new("mknod").arg(types.join("urandom")).args(["c", "1", "9"]));
        for (name, owner) in [
            ("owner-root", (0, 0)),
            ("owner-nameless", (4242, 4343)),
            ("owner-nobody", (65534, 65534)),
        ] {
            write(&meta.join(name), name.as_bytes());
            std::os::unix::fs::lchown(meta.join(name), Some(owner.0), Some(owner.1)).unwrap();
        }
        std::os::unix::fs::lchown(types.join("symlink-relative"), Some(4242), Some(4343)).unwrap();
        rustix::fs::lsetxattr(
            meta.join("xattrs"),
            "trusted.binary",
            b"\x01\x02\x00\x03",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
    } else {
        eprintln!("SKIPPED (not root): device nodes, owners other than the test's user, trusted.* xattrs");
    }
    // Directory times last: creating entries moved them.
    set_mtime(&types.join("symlink-relative"), 1_600_000_000, 42);
    for d in [&names, &types, &meta, &types.join("sub"), &meta.join("sticky")] {
        set_mtime(d, 1_650_000_000, 987_654_321);
    }
}

/// What an extractor makes of a source entry, when it differs by design.
fn expected(f: &Facts, bsdtar: bool) -> Vec<Facts> {
    let mut want = f.clone();
    if f.kind == "socket" {
        // Sockets are archived as empty regular files with their mode.
        want.kind = "file";
        want.content = Some((0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into()));
    }
    let mut out = vec![want.clone()];
    if bsdtar && f.mtime.0 < 0 && f.mtime.1 != 0 {
        // libarchive 3.6 reads a negative pax time `-A.B` as `-A + 0.B`.
        let mut shifted = want;
        shifted.mtime = (f.mtime.0 + 1, 1_000_000_000 - f.mtime.1);
        out.push(shifted);
    }
    out
}

/// Paths of evidence members in `list --json`, decoded to bytes.
fn listed_paths(archive: &Path, key: &Path) -> Vec<(Vec<u8>, serde_json::Value)> {
    let o = run(custody().arg("list").arg(archive).arg("--json").arg("--key").arg(pub_of(key)));
    assert_eq!(code(&o), 0, "{}", text(&o));
    o.stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "member")
        .map(|v| {
            let path = match v["path"].as_str() {
                Some(p) => p.as_bytes().to_vec(),
                None => base64::engine::general_purpose::STANDARD
                    .decode(v["path_b64"].as_str().unwrap())
                    .unwrap(),
            };
            (path, v)
        })
        .collect()
}

/// The archive path of a host path: its bytes without the leading `/`.
fn archive_path(p: &Path) -> Vec<u8> {
    p.as_os_str().as_bytes()[1..].to_vec()
}

#[test]
fn hostile_tree_round_trips_through_gnu_tar_and_bsdtar() {
    require_tool("bsdtar");
    require_tool("setfacl");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("evidence");
    build_hostile_tree(&root);
    let before = snapshot(&root);
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("a.tar.zst");
    collect(&root, &archive, &key, &[]);
    assert_eq!(snapshot(&root), before, "collection changed the source tree");

    let (report, status) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((status, report["verdict"].as_str()), (0, Some("verified")), "{report:#}");
    let size = std::fs::metadata(&archive).unwrap().len();
    assert!(size < 1 << 20, "sparse files must not inflate the archive: {size} bytes");

    // Every path round-trips byte-exact through list --json.
    let listed = listed_paths(&archive, &key);
    let listed_set: BTreeSet<Vec<u8>> = listed.iter().map(|(p, _)| p.strip_suffix(b"/").unwrap_or(p).to_vec()).collect();
    for rel in before.keys() {
        let mut want = archive_path(&root);
        want.push(b'/');
        want.extend_from_slice(rel);
        assert!(listed_set.contains(&want), "not listed: {:?}", String::from_utf8_lossy(&want));
    }
    let by_name = |suffix: &[u8]| listed.iter().find(|(p, _)| p.ends_with(suffix)).unwrap().1.clone();
    assert_eq!(by_name(b"types/sparse")["size"], 1u64 << 30);
    assert_eq!(by_name(b"types/fifo")["kind"], "fifo");
    assert_eq!(by_name(b"types/socket")["status"], "socket");
    assert_eq!(by_name(b"types/hardlink-2")["kind"], "hardlink");
    if is_root() {
        for node in ["zero", "urandom", "char-device"] {
            let v = by_name(format!("types/{node}").as_bytes());
            assert_eq!((v["kind"].as_str(), v["size"].as_u64()), (Some("char-device"), Some(0)), "{v}");
        }
    }

    let extract_root = |dest: &Path| dest.join(std::ffi::OsStr::from_bytes(&archive_path(&root)));
    let gnu = dir.path().join("gnu");
    std::fs::create_dir(&gnu).unwrap();
    sh(Command::new("tar")
        .args(["--zstd", "-xpf"])
        .arg(&archive)
        .arg("-C")
        .arg(&gnu)
        .args(["--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner"]));
    let diffs = differences(&before, &snapshot(&extract_root(&gnu)), |f| expected(f, false));
    assert!(diffs.is_empty(), "GNU tar extraction differs:\n{}", diffs.join("\n"));

    let bsd = dir.path().join("bsd");
    std::fs::create_dir(&bsd).unwrap();
    sh(Command::new("bsdtar")
        .arg("-xpf")
        .arg(&archive)
        .arg("-C")
        .arg(&bsd)
        .arg("--numeric-owner"));
    let diffs = differences(&before, &snapshot(&extract_root(&bsd)), |f| expected(f, true));
    assert!(diffs.is_empty(), "bsdtar extraction differs:\n{}", diffs.join("\n"));

    let ours = dir.path().join("ours");
    let o = run(custody()
        .arg("extract")
        .arg(&archive)
        .arg("--into")
        .arg(&ours)
        .arg("--key")
        .arg(pub_of(&key)));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let sparse = &before[b"types/sparse".as_slice()];
    assert_eq!(snapshot(&extract_root(&ours))[b"types/sparse".as_slice()].content, sparse.content);
    for dest in [&gnu, &bsd, &ours] {
        let md = std::fs::metadata(extract_root(dest).join("types/sparse")).unwrap();
        assert!(
            md.blocks() * 512 < 1 << 20,
            "the sparse file is extracted sparse ({} blocks)",
            md.blocks()
        );
    }
}

#[test]
fn a_directory_with_tens_of_thousands_of_entries() {
    let dir = tempfile::tempdir().unwrap();
    let wide = dir.path().join("wide");
    std::fs::create_dir(&wide).unwrap();
    for i in 0..30_000 {
        std::fs::File::create(wide.join(format!("f{i:05}"))).unwrap();
    }
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("a.tar.zst");
    collect(&wide, &archive, &key, &[]);
    let (report, status) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((status, report["verdict"].as_str()), (0, Some("verified")));
    assert_eq!(report["proven"]["totals"]["evidence_members"], 30_001);
    let listed = listed_paths(&archive, &key);
    let files: Vec<&Vec<u8>> = listed
        .iter()
        .map(|(p, _)| p)
        .filter(|p| p.starts_with(&archive_path(&wide)) && !p.ends_with(b"/"))
        .collect();
    assert_eq!(files.len(), 30_000);
    assert!(files.windows(2).all(|w| w[0] < w[1]), "members are in byte order of their names");
}

#[test]
fn paths_longer_than_path_max_are_collected() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("deep");
    std::fs::create_dir(&root).unwrap();
    // 45 levels of 100-byte names: about 4.5 KB, past PATH_MAX (4096), so
    // only relative opens reach the bottom.
    let name = "x".repeat(100);
    let mut fd = rustix::fs::open(
        &root,
        rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    for _ in 0..45 {
        rustix::fs::mkdirat(&fd, name.as_str(), rustix::fs::Mode::from_raw_mode(0o755)).unwrap();
        fd = rustix::fs::openat(
            &fd,
            name.as_str(),
            rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::RDONLY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
    }
    let f = rustix::fs::openat(
        &fd,
        "bottom.txt",
        rustix::fs::OFlags::CREATE | rustix::fs::OFlags::WRONLY,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
    rustix::io::write(&f, b"beyond PATH_MAX\n").unwrap();
    rustix::fs::fsetxattr(&f, "user.deep", b"attribute past PATH_MAX", rustix::fs::XattrFlags::empty()).unwrap();
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("a.tar.zst");
    collect(&root, &archive, &key, &[]);
    let (report, status) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((status, report["verdict"].as_str()), (0, Some("verified")), "{report:#}");
    let listed = listed_paths(&archive, &key);
    let (path, v) = listed
        .iter()
        .find(|(p, _)| p.ends_with(b"bottom.txt"))
        .expect("the bottom file is archived");
    assert!(path.len() > 4096, "{}", path.len());
    assert_eq!((v["status"].as_str(), v["size"].as_u64()), (Some("ok"), Some(16)));
    assert!(v["detail"].is_null(), "extended attributes are read past PATH_MAX too: {v}");
    // The attribute is in the member's pax header: bsdtar restores it.
    let bsd = dir.path().join("bsd");
    std::fs::create_dir(&bsd).unwrap();
    let _ = run(Command::new("bsdtar").arg("-xf").arg(&archive).arg("-C").arg(&bsd));
    let dir_flags = rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::RDONLY;
    let top = bsd.join(std::ffi::OsStr::from_bytes(&archive_path(&root)));
    let mut dfd = rustix::fs::open(&top, dir_flags, rustix::fs::Mode::empty()).unwrap();
    for _ in 0..45 {
        dfd = rustix::fs::openat(&dfd, name.as_str(), dir_flags, rustix::fs::Mode::empty()).unwrap();
    }
    let bottom = rustix::fs::openat(&dfd, "bottom.txt", rustix::fs::OFlags::RDONLY, rustix::fs::Mode::empty()).unwrap();
    let mut value = [0u8; 64];
    let n = rustix::fs::fgetxattr(&bottom, "user.deep", &mut value[..]).unwrap();
    assert_eq!(&value[..n], b"attribute past PATH_MAX");
}

#[test]
fn pseudo_files_are_stored_with_their_content_and_io_errors_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("a.tar.zst");
    let o = run(custody()
        .args(["collect", "/proc/version", "/proc/self/status", "/proc/self/mem", "--quiet", "-o"])
        .arg(&archive)
        .arg("--key")
        .arg(&key));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let listed = listed_paths(&archive, &key);
    let get = |p: &[u8]| {
        listed
            .iter()
            .find(|(path, _)| path == p)
            .unwrap_or_else(|| panic!("{p:?} listed"))
            .1
            .clone()
    };
    let version = get(b"proc/version");
    assert_eq!(
        version["size"].as_u64(),
        Some(std::fs::read("/proc/version").unwrap().len() as u64),
        "{version}"
    );
    assert!(get(b"proc/self/status")["size"].as_u64().unwrap() > 100);
    // Reading /proc/self/mem at offset 0 fails with EIO: a real I/O error.
    let mem = get(b"proc/self/mem");
    assert_eq!(mem["status"], "read-error", "{mem}");
    assert!(mem["detail"].as_str().unwrap().contains("Input/output error"), "{mem}");
    let (report, status) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!(
        (status, report["verdict"].as_str()),
        (0, Some("verified")),
        "a recorded failure is a fact, not tampering"
    );
    assert_eq!(report["proven"]["totals"]["failures"], 1);
    assert!(finding_kinds(&report).contains(&"collection-failure".to_string()), "{report:#}");

    let out = dir.path().join("x");
    std::fs::create_dir(&out).unwrap();
    sh(Command::new("tar").args(["--zstd", "-xf"]).arg(&archive).arg("-C").arg(&out));
    assert_eq!(
        std::fs::read(out.join("proc/version")).unwrap(),
        std::fs::read("/proc/version").unwrap()
    );
}

/// A tmpfs mounted at `at` with `options`, unmounted on drop.

#[test]
fn other_filesystems_are_recorded_and_not_crossed_unless_asked() {
    if !needs_root("mounting a filesystem inside the tree") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir(&root).unwrap();
    write(&root.join("here.txt"), b"on the tree's filesystem\n");
    let _m = Mount::tmpfs(&root.join("mnt"), "size=1m");
    write(&root.join("mnt/inside.txt"), b"on another filesystem\n");
    let key = keygen(dir.path(), "key");

    let archive = dir.path().join("one.tar.zst");
    collect(&root, &archive, &key, &[]);
    let listed = listed_paths(&archive, &key);
    let mnt = listed.iter().find(|(p, _)| p.ends_with(b"tree/mnt/")).unwrap();
    assert_eq!(mnt.1["status"], "other-filesystem", "{}", mnt.1);
    assert!(
        !listed.iter().any(|(p, _)| p.ends_with(b"inside.txt")),
        "the walk must stop at the mount point"
    );
    let (report, status) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((status, report["verdict"].as_str()), (0, Some("verified")));

    let archive = dir.path().join("cross.tar.zst");
    collect(&root, &archive, &key, &["--cross-filesystems"]);
    assert!(listed_paths(&archive, &key).iter().any(|(p, _)| p.ends_with(b"mnt/inside.txt")));
}

#[test]
fn the_archive_is_never_written_into_the_tree_nor_collected() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir(&root).unwrap();
    write(&root.join("a.txt"), b"evidence\n");
    let key = keygen(dir.path(), "key");
    let before = snapshot(&root);
    let o = run(collect_cmd(&root, &root.join("out.tar.zst"), &key).arg("--quiet"));
    assert_eq!(code(&o), 1, "an output inside the tree is refused\n{}", text(&o));
    assert!(text(&o).contains("never writes into the evidence"), "{}", text(&o));
    assert_eq!(snapshot(&root), before, "nothing was written into the tree");

    if !needs_root("a bind mount that hides the output inside the tree") {
        return;
    }
    // Through a bind mount, the output path does not look like it is inside
    // the tree; the walk still recognises the file being written.
    let alias = dir.path().join("alias");
    std::fs::create_dir(&alias).unwrap();
    sh(Command::new("mount").arg("--bind").arg(&root).arg(&alias));
    let archive = alias.join("out.tar.zst");
    let o = run(collect_cmd(&root, &archive, &key).arg("--quiet"));
    let _ = Command::new("umount").arg(&alias).status();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let (report, _) = verify_json(&root.join("out.tar.zst"), &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!(report["verdict"], "verified", "{report:#}");
    let skipped: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "collection-skip")
        .collect();
    assert!(
        skipped
            .iter()
            .any(|f| f["message"].as_str().unwrap().contains("the archive being written")),
        "{report:#}"
    );
}

#[test]
fn exclusions_are_recorded_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir_all(root.join("cache/deep")).unwrap();
    write(&root.join("keep.log"), b"kept\n");
    write(&root.join("cache/deep/big.bin"), b"excluded\n");
    write(&root.join("secret.key"), b"excluded\n");
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("a.tar.zst");
    let cache = format!("{}/cache", root.display());
    collect(&root, &archive, &key, &["--exclude", &cache, "--exclude", "*.key"]);
    let listed = listed_paths(&archive, &key);
    assert!(listed.iter().any(|(p, _)| p.ends_with(b"keep.log")));
    assert!(!listed
        .iter()
        .any(|(p, _)| p.ends_with(b"big.bin") || p.ends_with(b"secret.key") || p.ends_with(b"cache/")));
    let (report, status) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((status, report["verdict"].as_str()), (0, Some("verified")));
    let skips: Vec<String> = finding_messages(&report, "collection-skip");
    assert_eq!(skips.len(), 2, "{skips:?}");
    assert!(skips.iter().all(|s| s.contains("excluded by --exclude")), "{skips:?}");
}

#[test]
fn atimes_are_unchanged_on_a_strictatime_mount() {
    if !needs_root("mounting a strictatime filesystem") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("strict");
    let _m = Mount::tmpfs(&root, "size=64m,strictatime");
    std::fs::create_dir_all(root.join("sub/inner")).unwrap();
    write(&root.join("a.log"), &vec![b'a'; 3 << 20]);
    write(&root.join("sub/b.txt"), b"b\n");
    write(&root.join("sub/inner/empty"), b"");
    std::os::unix::fs::symlink("../a.log", root.join("sub/link")).unwrap();
    let old = 978_307_200; // 2001-01-01
    let mut entries: Vec<PathBuf> = ["a.log", "sub", "sub/b.txt", "sub/inner", "sub/inner/empty", "sub/link"]
        .iter()
        .map(|p| root.join(p))
        .collect();
    entries.push(root.clone());
    for p in &entries {
        let md = std::fs::symlink_metadata(p).unwrap();
        let t = |secs, nanos| rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: nanos,
        };
        let times = Timestamps {
            last_access: t(old, 0),
            last_modification: t(md.mtime(), md.mtime_nsec() as _),
        };
        rustix::fs::utimensat(CWD, p, &times, AtFlags::SYMLINK_NOFOLLOW).unwrap();
    }
    let stamp = |p: &Path| {
        let md = std::fs::symlink_metadata(p).unwrap();
        (md.atime(), md.atime_nsec(), md.mtime(), md.ctime(), md.ctime_nsec())
    };
    let before: Vec<_> = entries.iter().map(|p| stamp(p)).collect();
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("a.tar.zst");
    collect(&root, &archive, &key, &[]);
    for (p, b) in entries.iter().zip(&before) {
        let after = stamp(p);
        if p.ends_with("link") {
            // readlink(2) always updates a symlink's atime on such a mount;
            // only the ctime and mtime must stay.
            assert_eq!((after.2, after.3, after.4), (b.2, b.3, b.4), "{}", p.display());
        } else {
            assert_eq!(after, *b, "{} was altered (atime, mtime or ctime moved)", p.display());
        }
    }
    let (report, _) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!(report["verdict"], "verified");
    assert_eq!(report["header"]["parameters"]["noatime"], "all", "{:#}", report["header"]);
    assert_eq!(report["seal"]["opened_without_noatime"], 0);
}

#[test]
fn an_unprivileged_collector_records_what_it_cannot_read() {
    if !needs_root("switching to an unprivileged user") {
        return;
    }
    require_tool("setpriv");
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir_all(root.join("locked")).unwrap();
    write(&root.join("locked/inside.txt"), b"behind a locked directory\n");
    write(&root.join("secret"), b"root only\n");
    write(&root.join("public"), b"anyone may read; the collector does not own it\n");
    std::fs::set_permissions(root.join("locked"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(root.join("secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::chown(&out, Some(65534), Some(65534)).unwrap();
    let key = keygen(dir.path(), "key");
    std::os::unix::fs::chown(&key, Some(65534), Some(65534)).unwrap();
    let archive = out.join("a.tar.zst");
    let o = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        .arg(custody_bin())
        .arg("collect")
        .arg(&root)
        .arg("-o")
        .arg(&archive)
        .arg("--key")
        .arg(&key)
        .arg("--quiet")
        .stdin(std::process::Stdio::null()));
    assert_eq!(code(&o), 0, "{}", text(&o));
    // Said at the start, and named at the end.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("warning: running as uid 65534, not root"), "{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("FAILURES     1:") && out.contains("tree/secret (unreadable: "),
        "{out}"
    );
    let (report, status) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((status, report["verdict"].as_str()), (0, Some("verified")), "{report:#}");
    let listed = listed_paths(&archive, &key);
    let secret = &listed.iter().find(|(p, _)| p.ends_with(b"tree/secret")).unwrap().1;
    assert_eq!(secret["status"], "unreadable", "{secret}");
    assert!(secret["detail"].as_str().unwrap().contains("Permission denied"), "{secret}");
    let messages: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("locked") && m.contains("Permission denied")),
        "the unreadable directory is recorded: {messages:#?}"
    );
    assert_eq!(report["proven"]["totals"]["failures"], 1);
    assert_eq!(report["proven"]["totals"]["skipped"], 1);
    assert_eq!(report["header"]["parameters"]["noatime"], "owned");
    assert!(
        report["seal"]["opened_without_noatime"].as_u64().unwrap() >= 1,
        "{:#}",
        report["seal"]
    );
    assert_eq!(report["header"]["host"]["euid"], 65534);
}

#[test]
fn a_sparse_file_past_the_digest_limit_is_recorded_without_content() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir(&root).unwrap();
    let f = std::fs::File::create(root.join("huge-sparse")).unwrap();
    if f.set_len(2 << 40).is_err() {
        eprintln!("SKIPPED: this filesystem cannot hold a 2 TiB sparse file");
        return;
    }
    use std::os::unix::fs::FileExt;
    f.write_all_at(b"some data far in", 1 << 40).unwrap();
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("a.tar.zst");
    collect(&root, &archive, &key, &[]);
    let listed = listed_paths(&archive, &key);
    let v = &listed.iter().find(|(p, _)| p.ends_with(b"huge-sparse")).unwrap().1;
    assert_eq!((v["status"].as_str(), v["size"].as_u64()), (Some("unreadable"), Some(0)), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("2199023255552 bytes"), "{v}");
    let (report, status) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((status, report["verdict"].as_str()), (0, Some("verified")));
}
