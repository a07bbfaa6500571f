//! Snapshots of a directory tree as the kernel reports it, for comparing a
//! source tree with its extraction by GNU tar or bsdtar.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use sha2::{Digest, Sha256};

/// What is compared about one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// `file`, `dir`, `symlink`, `fifo`, `char`, `block` or `socket`.
    pub kind: &'static str,
    /// Permission and special bits.
    pub mode: u32,
    /// Owner and group.
    pub owner: (u32, u32),
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, i64),
    /// Size and SHA-256 of a regular file's content.
    pub content: Option<(u64, String)>,
    /// Symlink target.
    pub target: Option<Vec<u8>>,
    /// Device numbers of device nodes.
    pub rdev: Option<u64>,
    /// Extended attributes (ACLs included), sorted.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Paths of the other names of the same inode (hard links), sorted.
    pub links: Vec<Vec<u8>>,
}

/// Every entry under `root` (not `root` itself), by path relative to it.
pub fn snapshot(root: &Path) -> BTreeMap<Vec<u8>, Facts> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), Vec<Vec<u8>>> = BTreeMap::new();
    walk(root, b"", &mut out, &mut inodes);
    for names in inodes.values().filter(|n| n.len() > 1) {
        for n in names {
            let others: Vec<Vec<u8>> = names.iter().filter(|o| *o != n).cloned().collect();
            out.get_mut(n).unwrap().links = others;
        }
    }
    out
}

fn walk(dir: &Path, rel: &[u8], out: &mut BTreeMap<Vec<u8>, Facts>, inodes: &mut BTreeMap<(u64, u64), Vec<Vec<u8>>>) {
    // A relative path through the directory fd would be needed past PATH_MAX;
    // the trees compared here stay below it.
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.unwrap();
        let path = entry.path();
        let mut name = rel.to_vec();
        if !name.is_empty() {
            name.push(b'/');
        }
        name.extend_from_slice(entry.file_name().as_bytes());
        let md = std::fs::symlink_metadata(&path).unwrap();
        let ft = md.file_type();
        let kind = if ft.is_file() {
            "file"
        } else if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_fifo() {
            "fifo"
        } else if ft.is_char_device() {
            "char"
        } else if ft.is_block_device() {
            "block"
        } else {
            "socket"
        };
        let content = ft.is_file().then(|| {
            let data = std::fs::read(&path).unwrap();
            (md.len(), hex::encode(Sha256::digest(&data)))
        });
        if ft.is_file() && md.nlink() > 1 {
            inodes.entry((md.dev(), md.ino())).or_default().push(name.clone());
        }
        out.insert(
            name.clone(),
            Facts {
                kind,
                mode: md.mode() & 0o7777,
                owner: (md.uid(), md.gid()),
                mtime: (md.mtime(), md.mtime_nsec()),
                content,
                target: ft
                    .is_symlink()
                    .then(|| std::fs::read_link(&path).unwrap().as_os_str().as_bytes().to_vec()),
                rdev: (ft.is_char_device() || ft.is_block_device()).then(|| md.rdev()),
                xattrs: xattrs(&path),
                links: Vec::new(),
            },
        );
        if ft.is_dir() {
            walk(&path, &name, out, inodes);
        }
    }
}

/// Extended attributes of `path`, not following a symlink.
pub fn xattrs(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut names = vec![0u8; 65536];
    let n = match rustix::fs::llistxattr(path, &mut names[..]) {
        Ok(n) => n,
        Err(_) => return Vec::new(),
    };
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = names[..n]
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|name| {
            let mut value = vec![0u8; 65536];
            let len = rustix::fs::lgetxattr(path, name, &mut value[..]).unwrap();
            value.truncate(len);
            (name.to_vec(), value)
        })
        .collect();
    out.sort();
    out
}

/// Compare a source snapshot with an extraction; `adjust` maps a source
/// entry's facts to what the extractor is known to produce from them.
/// Returns one line per difference.
pub fn differences(
    source: &BTreeMap<Vec<u8>, Facts>,
    extracted: &BTreeMap<Vec<u8>, Facts>,
    adjust: impl Fn(&Facts) -> Vec<Facts>,
) -> Vec<String> {
    let show = |p: &[u8]| OsStr::from_bytes(p).to_string_lossy().into_owned();
    let mut diffs = Vec::new();
    for (path, want) in source {
        match extracted.get(path) {
            None => diffs.push(format!("missing after extraction: {}", show(path))),
            Some(got) if !adjust(want).contains(got) => diffs.push(format!("{}:\n  source    {want:?}\n  extracted {got:?}", show(path))),
            Some(_) => {}
        }
    }
    for path in extracted.keys().filter(|p| !source.contains_key(*p)) {
        diffs.push(format!("not in the source: {}", show(path)));
    }
    diffs
}

/// Directories of [`dated_dirs`], with their mode, in creation order (the
/// root, `""`, first).
pub const DATED_DIRS: &[(&str, u32)] = &[
    ("", 0o755),
    ("a", 0o755),
    ("a/b", 0o750),
    ("a/b/c", 0o555),
    ("a/b/d", 0o711),
    ("a/g", 0o700),
    ("h", 0o555),
    ("h/m", 0o755),
];

/// Nested directories under `root`, each with a distinct mode and a distinct
/// mtime (nanoseconds included), with files sorting both before and after
/// the subdirectories. `h` and `a/b/c` have no write permission and hold
/// files; `a/g` is empty. No mode has a group or other write bit, so an
/// extractor's umask does not change them.
pub fn dated_dirs(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for (dir, _) in DATED_DIRS {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let files: &[(&str, &[&str])] = &[
        ("", &["0-first", "b-middle", "zz-last"]),
        ("a", &["0", "c-between", "f1", "f2", "z"]),
        ("a/b", &["0", "c0", "e", "z1", "z2"]),
        ("a/b/c", &["f1", "f2", "f3"]),
        ("a/b/d", &["f1", "f2"]),
        ("h", &["a", "n1", "n2", "n3"]),
        ("h/m", &["f1", "f2", "f3"]),
    ];
    for (dir, names) in files {
        for name in names.iter() {
            std::fs::write(root.join(dir).join(name), format!("{dir}/{name}\n")).unwrap();
        }
    }
    // Modes and times last: creating entries moves a directory's mtime.
    for (i, (dir, mode)) in DATED_DIRS.iter().enumerate().rev() {
        let path = root.join(dir);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
        let i = i as i64;
        let t = rustix::fs::Timespec {
            tv_sec: 1_500_000_000 + 86_400 * i,
            tv_nsec: (100_000_007 * (i + 1)) as _,
        };
        let times = rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        };
        rustix::fs::utimensat(rustix::fs::CWD, &path, &times, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).unwrap();
    }
}

/// Mode (`0o7777`) and mtime of `root` and of every directory under it, by
/// path relative to `root` (`""` for `root` itself).
pub fn dir_stamps(root: &Path) -> BTreeMap<Vec<u8>, (u32, (i64, i64))> {
    let mut out = BTreeMap::new();
    let stamp = |p: &Path| {
        let md = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        (md.mode() & 0o7777, (md.mtime(), md.mtime_nsec()))
    };
    out.insert(Vec::new(), stamp(root));
    for (rel, facts) in snapshot(root) {
        if facts.kind == "dir" {
            out.insert(rel.clone(), stamp(&root.join(OsStr::from_bytes(&rel))));
        }
    }
    out
}

/// Give the owner every permission on `root` and the directories under it,
/// so that a temporary directory holding read-only directories can be
/// removed when the tests do not run as root.
pub fn unlock(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(md) = std::fs::symlink_metadata(root) else { return };
    if !md.is_dir() {
        return;
    }
    let _ = std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700));
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            unlock(&e.path());
        }
    }
}
