//! Sources of evidence: a walk over filesystem trees that yields entries in a
//! deterministic order, never follows symlinks, stays on one filesystem
//! unless asked, and reports everything it passes over with the reason.
//!
//! The walk opens each directory relative to its parent (`openat`) with
//! `O_NOATIME` and `O_NOFOLLOW`, so listing a directory does not update its
//! access time, no symlink is ever followed, and paths longer than
//! `PATH_MAX` are still reached.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::GlobSet;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, StatxFlags, CWD};
use rustix::io::Errno;

use crate::format::tar::Timestamp;

pub use crate::format::doc::display;

/// What `statx` said about an entry, not following symlinks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// File type.
    pub file_type: FileType,
    /// Permission and special bits (`0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// Hard link count.
    pub nlink: u64,
    /// Device of the filesystem, encoded as `st_dev`.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Device numbers of a device node.
    pub rdev: (u32, u32),
    /// Modification time.
    pub mtime: Timestamp,
    /// Access time.
    pub atime: Timestamp,
    /// Status change time.
    pub ctime: Timestamp,
    /// Birth time, when the filesystem records it.
    pub btime: Option<Timestamp>,
}

impl Meta {
    fn from_statx(s: &rustix::fs::Statx) -> Self {
        let t = |t: &rustix::fs::StatxTimestamp| Timestamp {
            secs: t.tv_sec,
            nanos: t.tv_nsec.min(999_999_999),
        };
        Meta {
            file_type: FileType::from_raw_mode(u32::from(s.stx_mode)),
            mode: u32::from(s.stx_mode) & 0o7777,
            uid: s.stx_uid,
            gid: s.stx_gid,
            size: s.stx_size,
            blocks: s.stx_blocks,
            nlink: u64::from(s.stx_nlink),
            dev: makedev(s.stx_dev_major, s.stx_dev_minor),
            ino: s.stx_ino,
            rdev: (s.stx_rdev_major, s.stx_rdev_minor),
            mtime: t(&s.stx_mtime),
            atime: t(&s.stx_atime),
            ctime: t(&s.stx_ctime),
            btime: (s.stx_mask & StatxFlags::BTIME.bits() != 0).then(|| t(&s.stx_btime)),
        }
    }

    /// `statx` of an open file.
    pub fn of_file(f: &File) -> std::io::Result<Self> {
        let s = rustix::fs::statx(f, "", AtFlags::EMPTY_PATH, StatxFlags::BASIC_STATS | StatxFlags::BTIME)?;
        Ok(Meta::from_statx(&s))
    }

    /// Whether a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type == FileType::RegularFile
    }

    /// Whether a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Directory
    }
}

/// `st_dev` from major and minor numbers, as glibc's `makedev` encodes them.
fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (u64::from(major), u64::from(minor));
    ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
}

fn statx_at(dir: Option<&OwnedFd>, name: &[u8]) -> std::io::Result<Meta> {
    let flags = AtFlags::SYMLINK_NOFOLLOW;
    let mask = StatxFlags::BASIC_STATS | StatxFlags::BTIME;
    let s = match dir {
        Some(d) => rustix::fs::statx(d, name, flags, mask)?,
        None => rustix::fs::statx(CWD, name, flags, mask)?,
    };
    Ok(Meta::from_statx(&s))
}

/// Open `name` in `dir` (or the absolute `name` when `dir` is `None`) for
/// reading with `O_NOATIME`, never following a symlink and never blocking on
/// a FIFO or device. Where the kernel refuses `O_NOATIME` (a file the
/// collector does not own, without `CAP_FOWNER`), opens without it and says
/// so in the second value.
pub fn open_noatime(dir: Option<&OwnedFd>, name: &[u8], extra: OFlags) -> std::io::Result<(OwnedFd, bool)> {
    let base = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | extra;
    let open = |flags: OFlags| match dir {
        Some(d) => rustix::fs::openat(d, name, flags, Mode::empty()),
        None => rustix::fs::openat(CWD, name, flags, Mode::empty()),
    };
    match open(base | OFlags::NOATIME) {
        Ok(fd) => Ok((fd, true)),
        Err(Errno::PERM) => Ok((open(base)?, false)),
        Err(e) => Err(e.into()),
    }
}

/// What opening a walked entry as a regular file found.
#[derive(Debug)]
pub enum Opened {
    /// A regular file, open for reading.
    File {
        /// The open file.
        file: File,
        /// Its metadata, taken from the open file.
        meta: Meta,
        /// Whether it was opened with `O_NOATIME`.
        noatime: bool,
    },
    /// The path now leads to something else, which was not opened for reading.
    NotRegular(Meta),
}

/// Whether `/proc/self/fd` can reopen descriptors; checked once.
fn proc_fd_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| Path::new("/proc/self/fd").is_dir())
}

/// Something the walk met.
#[derive(Debug)]
pub enum WalkItem {
    /// An entry to archive, with its `statx` metadata.
    Entry(SourceEntry),
    /// A directory the walk was still in when it was asked to stop: not
    /// everything in it was visited, and what was not is not reported at
    /// all. Its metadata is that taken when the walk reached it.
    Unfinished(SourceEntry),
    /// An entry passed over, and why.
    Skipped {
        /// Archive path it would have had.
        archive_path: Vec<u8>,
        /// Reason, in words.
        reason: String,
        /// Which rule passed it over.
        why: Skip,
    },
}

/// Why the walk passed an entry over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Its archive path is under `.custody/`.
    Reserved,
    /// An exclusion glob matched it (nothing under it was examined).
    Excluded,
    /// A regular file of `size` bytes over its source's size cap.
    Capped {
        /// Its size when examined.
        size: u64,
    },
    /// `statx` failed (vanished, no permission).
    Unexaminable,
    /// It is the archive being written.
    Archive,
    /// A directory that could not be listed: its contents are not collected
    /// (its own member follows).
    Unlistable,
}

/// A filesystem entry to archive.
#[derive(Debug)]
pub struct SourceEntry {
    /// Where it is on this host (for messages and path-based calls).
    pub fs_path: PathBuf,
    /// The open directory that holds it (`None` for a source root, which is
    /// reached by its absolute path).
    pub parent: Option<Arc<OwnedFd>>,
    /// Its name in `parent` (the absolute path for a source root).
    pub name: Vec<u8>,
    /// Path inside the archive (the absolute path without its leading `/`).
    pub archive_path: Vec<u8>,
    /// Metadata from the walk.
    pub metadata: Meta,
    /// A directory on another filesystem, recorded but not descended into.
    pub other_filesystem: bool,
}

impl SourceEntry {
    /// Open this entry for reading only if it is a regular file. The path is
    /// first opened with `O_PATH` (which reads nothing), checked, and then that
    /// very inode is reopened for reading through `/proc/self/fd`, so a FIFO
    /// or device node swapped in after the walk is never opened for reading.
    pub fn open_regular(&self) -> std::io::Result<Opened> {
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let handle = match &self.parent {
            Some(d) => rustix::fs::openat(d, self.name.as_slice(), flags, Mode::empty())?,
            None => rustix::fs::openat(CWD, self.name.as_slice(), flags, Mode::empty())?,
        };
        let s = rustix::fs::statx(&handle, "", AtFlags::EMPTY_PATH, StatxFlags::BASIC_STATS | StatxFlags::BTIME)?;
        let checked = Meta::from_statx(&s);
        if !checked.is_file() {
            return Ok(Opened::NotRegular(checked));
        }
        if proc_fd_available() {
            // Reopening the handle through /proc opens the very inode just
            // checked, so its metadata stands.
            let link = format!("/proc/self/fd/{}", handle.as_raw_fd());
            let base = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let (fd, noatime) = match rustix::fs::openat(CWD, link.as_str(), base | OFlags::NOATIME, Mode::empty()) {
                Ok(fd) => (fd, true),
                Err(Errno::PERM) => (rustix::fs::openat(CWD, link.as_str(), base, Mode::empty())?, false),
                Err(e) => return Err(e.into()),
            };
            return Ok(Opened::File {
                file: File::from(fd),
                meta: checked,
                noatime,
            });
        }
        let (fd, noatime) = open_noatime(self.parent.as_deref(), &self.name, OFlags::empty())?;
        let file = File::from(fd);
        let meta = Meta::of_file(&file)?;
        if !meta.is_file() {
            return Ok(Opened::NotRegular(meta));
        }
        Ok(Opened::File { file, meta, noatime })
    }

    /// A path for calls that take one (extended attributes): relative to the
    /// open parent directory through `/proc/self/fd` when possible, so it
    /// stays short past `PATH_MAX` and names the entry in the directory the
    /// walk opened.
    pub fn xattr_path(&self) -> PathBuf {
        match &self.parent {
            Some(d) if proc_fd_available() => {
                let mut p = PathBuf::from(format!("/proc/self/fd/{}", d.as_raw_fd()));
                p.push(OsStr::from_bytes(&self.name));
                p
            }
            _ => self.fs_path.clone(),
        }
    }

    /// `statx` of the path now, not following a symlink.
    pub fn stat(&self) -> std::io::Result<Meta> {
        statx_at(self.parent.as_deref(), &self.name)
    }

    /// The target of this symlink.
    pub fn read_link(&self) -> std::io::Result<Vec<u8>> {
        let target = match &self.parent {
            Some(d) => rustix::fs::readlinkat(d, self.name.as_slice(), Vec::new())?,
            None => rustix::fs::readlinkat(CWD, self.name.as_slice(), Vec::new())?,
        };
        Ok(target.into_bytes())
    }
}

/// What to walk and what to leave out.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    /// Exclusion globs, matched against absolute paths.
    pub excludes: GlobSet,
    /// Why each glob of `excludes` leaves its matches out, by the glob's
    /// index; a glob without one is `--exclude`'s.
    pub exclude_reasons: Vec<String>,
    /// Size caps: regular files larger than a cap are recorded as skipped,
    /// with the reason, and not read.
    pub caps: Vec<SizeCap>,
    /// Stay on the filesystem of each source.
    pub one_file_system: bool,
    /// `(dev, ino)` of files never to collect (the archive being written).
    pub never_collect: Vec<(u64, u64)>,
}

/// A size cap on the regular files under one source root, as a profile
/// sets it for content that is not a log.
#[derive(Debug, Clone)]
pub struct SizeCap {
    /// The source root it applies to, absolute, exactly as walked.
    pub root: PathBuf,
    /// Largest size collected, in bytes.
    pub max: u64,
    /// Files collected whatever their size (logs, shell histories),
    /// matched against absolute paths.
    pub keep: GlobSet,
    /// Who set the cap, for the skip's reason: `area "homes" of profile devserver`.
    pub origin: String,
}

impl SizeCap {
    /// Why `size` bytes at `path` are not collected, if they are not.
    pub fn refuses(&self, path: &Path, size: u64) -> Option<String> {
        (size > self.max && !self.keep.is_match(path)).then(|| {
            format!(
                "larger ({}) than the {} cap of {}; not read",
                crate::units::human_bytes(size),
                crate::units::human_bytes(self.max),
                self.origin
            )
        })
    }
}

impl WalkOptions {
    /// Walk everything under the sources, staying on each source's
    /// filesystem.
    pub fn new() -> Self {
        WalkOptions {
            excludes: GlobSet::empty(),
            exclude_reasons: Vec::new(),
            caps: Vec::new(),
            one_file_system: true,
            never_collect: Vec::new(),
        }
    }

    /// Why `path` is excluded, if it is.
    pub fn excluded(&self, path: &Path) -> Option<String> {
        // Every entry of the walk asks: the common answer, no, without
        // collecting the matches.
        if !self.excludes.is_match(path) {
            return None;
        }
        let first = self.excludes.matches(path).into_iter().min()?;
        Some(
            self.exclude_reasons
                .get(first)
                .cloned()
                .unwrap_or_else(|| "excluded by --exclude".into()),
        )
    }
}

impl Default for WalkOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// What the walk counted on its way.
#[derive(Debug, Default, Clone, Copy)]
pub struct WalkStats {
    /// Directories listed without `O_NOATIME` because the kernel refused it.
    pub dirs_without_noatime: u64,
    /// Whether `stop` ended the walk before it was through.
    pub stopped: bool,
}

/// Archive path of the directory that holds custody's own members.
const CUSTODY_DIR_NAME: &[u8] = b".custody";

/// The archive path for an absolute host path: its bytes without the leading `/`.
pub fn archive_path_for(abs: &Path) -> Vec<u8> {
    let bytes = abs.as_os_str().as_bytes();
    let trimmed = bytes.strip_prefix(b"/").unwrap_or(bytes);
    if trimmed.is_empty() {
        b".".to_vec()
    } else {
        trimmed.to_vec()
    }
}

/// Make a path absolute without resolving symlinks, and drop `.` and `..`
/// lexically.
pub fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    Ok(out)
}

/// A directory being walked: its open descriptor, path, the names in it
/// still to visit, in byte order, and its own entry, reported once
/// everything in it has been.
struct Level {
    fd: Arc<OwnedFd>,
    path: PathBuf,
    names: std::vec::IntoIter<Vec<u8>>,
    entry: SourceEntry,
}

/// Open a directory and list its names, sorted by their bytes.
fn list_dir(dir: Option<&OwnedFd>, name: &[u8], stats: &mut WalkStats) -> std::io::Result<(OwnedFd, Vec<Vec<u8>>)> {
    let (fd, noatime) = open_noatime(dir, name, OFlags::DIRECTORY)?;
    if !noatime {
        stats.dirs_without_noatime += 1;
    }
    let mut reader = rustix::fs::Dir::new(rustix::io::fcntl_dupfd_cloexec(&fd, 0)?)?;
    let mut names = Vec::new();
    while let Some(entry) = reader.read() {
        let entry = entry?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    names.sort_unstable();
    Ok((fd, names))
}

/// The names in the directory at `path` (absolute), sorted by their bytes,
/// listed as the walk lists directories: `O_NOATIME` where the kernel
/// allows it, and never through a symlink at `path` itself.
pub fn list_names(path: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    list_dir(None, path.as_os_str().as_bytes(), &mut WalkStats::default()).map(|(_, names)| names)
}

/// Walk `sources` in order, calling `visit` for every item. Sources must exist
/// (checked by the caller before the archive is started). An error from
/// `visit` ends the walk at once and is returned.
///
/// The walk is depth first, siblings in the byte order of their names, and
/// each directory it descends into is reported after everything in it
/// (post-order), with the metadata taken when the walk reached it, before
/// listing it. An extractor that defers a directory's metadata until it
/// meets a member outside that directory (GNU tar) then sets it only once
/// nothing more is written inside. Memory grows with the depth of the tree:
/// one listing and one entry per directory being walked.
///
/// `stop` is asked before each step. Once it says yes, the walk examines
/// nothing more: it reports the directories it is still walking, innermost
/// first (so still after their contents), each whose names were all visited
/// as an [`WalkItem::Entry`] and the others as [`WalkItem::Unfinished`],
/// and returns with [`WalkStats::stopped`] set. That costs no reads, only
/// the `visit` of at most one entry per level of the tree.
pub fn walk(
    sources: &[PathBuf],
    opts: &WalkOptions,
    mut stop: impl FnMut() -> bool,
    mut visit: impl FnMut(WalkItem) -> std::io::Result<()>,
) -> std::io::Result<WalkStats> {
    let mut stats = WalkStats::default();
    for src in sources {
        if stop() {
            stats.stopped = true;
            break;
        }
        let root = absolute(src)?;
        let root_name = root.as_os_str().as_bytes().to_vec();
        let root_dev = statx_at(None, &root_name).map(|m| m.dev).ok();
        let cap = opts.caps.iter().find(|c| c.root == root);
        let mut stack: Vec<Level> = Vec::new();
        let mut next: Option<(Option<Arc<OwnedFd>>, PathBuf, Vec<u8>)> = Some((None, root.clone(), root_name));
        loop {
            if stop() {
                stats.stopped = true;
                return unwind(stack, visit).map(|()| stats);
            }
            let (parent, path, name) = match next.take() {
                Some(n) => n,
                None => {
                    let Some(top) = stack.last_mut() else { break };
                    match top.names.next() {
                        Some(name) => (Some(top.fd.clone()), top.path.join(OsStr::from_bytes(&name)), name),
                        None => {
                            if let Some(done) = stack.pop() {
                                visit(WalkItem::Entry(done.entry))?;
                            }
                            continue;
                        }
                    }
                }
            };
            let archive_path = archive_path_for(&path);
            if archive_path == CUSTODY_DIR_NAME || archive_path.starts_with(crate::format::CUSTODY_DIR.as_bytes()) {
                let reason = "its archive path is reserved for custody's own members; collect /.custody as a separate source root";
                visit(WalkItem::Skipped {
                    archive_path,
                    reason: reason.into(),
                    why: Skip::Reserved,
                })?;
                continue;
            }
            if let Some(reason) = opts.excluded(&path) {
                visit(WalkItem::Skipped {
                    archive_path,
                    reason,
                    why: Skip::Excluded,
                })?;
                continue;
            }
            let metadata = match statx_at(parent.as_deref(), &name) {
                Ok(m) => m,
                Err(e) => {
                    let reason = match e.raw_os_error() {
                        Some(libc::ENOENT) => format!("vanished before it could be examined: {e}"),
                        _ => format!("could not be examined: {e}"),
                    };
                    visit(WalkItem::Skipped {
                        archive_path,
                        reason,
                        why: Skip::Unexaminable,
                    })?;
                    continue;
                }
            };
            if opts.never_collect.contains(&(metadata.dev, metadata.ino)) {
                visit(WalkItem::Skipped {
                    archive_path,
                    reason: "the archive being written".into(),
                    why: Skip::Archive,
                })?;
                continue;
            }
            if let Some(reason) = cap.filter(|_| metadata.is_file()).and_then(|c| c.refuses(&path, metadata.size)) {
                visit(WalkItem::Skipped {
                    archive_path,
                    reason,
                    why: Skip::Capped { size: metadata.size },
                })?;
                continue;
            }
            let is_dir = metadata.is_dir();
            let other_filesystem = opts.one_file_system && is_dir && parent.is_some() && root_dev.is_some_and(|d| d != metadata.dev);
            let descend = is_dir && !other_filesystem;
            let listing = descend.then(|| list_dir(parent.as_deref(), &name, &mut stats));
            let entry = SourceEntry {
                fs_path: path.clone(),
                parent,
                name,
                archive_path: archive_path.clone(),
                metadata,
                other_filesystem,
            };
            match listing {
                Some(Ok((fd, names))) => stack.push(Level {
                    fd: Arc::new(fd),
                    path,
                    names: names.into_iter(),
                    entry,
                }),
                Some(Err(e)) => {
                    // What stands for its contents comes first, as contents do.
                    visit(WalkItem::Skipped {
                        archive_path,
                        reason: format!("cannot be read by the walk (its contents are not collected): {e}"),
                        why: Skip::Unlistable,
                    })?;
                    visit(WalkItem::Entry(entry))?;
                }
                None => visit(WalkItem::Entry(entry))?,
            }
        }
    }
    Ok(stats)
}

/// Report the directories of a stopped walk, innermost first: those whose
/// names have all been visited (each inner one too) are finished, the rest
/// are not.
fn unwind(mut stack: Vec<Level>, mut visit: impl FnMut(WalkItem) -> std::io::Result<()>) -> std::io::Result<()> {
    let mut finished = true;
    while let Some(mut level) = stack.pop() {
        finished = finished && level.names.next().is_none();
        visit(if finished {
            WalkItem::Entry(level.entry)
        } else {
            WalkItem::Unfinished(level.entry)
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> WalkOptions {
        WalkOptions::new()
    }

    /// What a walk reports, as `E`ntry, `U`nfinished or `S`kipped and the
    /// path below `root`, stopping once `stop_after` has been visited.
    fn walked(root: &Path, stop_after: Option<&str>) -> (Vec<String>, bool) {
        let stop = std::cell::Cell::new(false);
        let mut seen = Vec::new();
        let base = archive_path_for(root);
        let rel = |p: &[u8]| display(p.strip_prefix(base.as_slice()).unwrap_or(p));
        let stats = walk(
            &[root.to_path_buf()],
            &opts(),
            || stop.get(),
            |item| {
                let (kind, path) = match &item {
                    WalkItem::Entry(e) => ("E", rel(&e.archive_path)),
                    WalkItem::Unfinished(e) => ("U", rel(&e.archive_path)),
                    WalkItem::Skipped { archive_path, .. } => ("S", rel(archive_path)),
                };
                if stop_after == Some(path.as_str()) {
                    stop.set(true);
                }
                seen.push(format!("{kind} {path}"));
                Ok(())
            },
        )
        .unwrap();
        (seen, stats.stopped)
    }

    #[test]
    fn a_stopped_walk_reports_the_directories_it_is_in_innermost_first() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("r");
        for d in ["a/b", "a/c", "z"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in ["a/b/f", "a/b/g", "a/c/f", "a/h", "z/f"] {
            std::fs::write(root.join(f), f).unwrap();
        }
        let (all, stopped) = walked(&root, None);
        assert!(!stopped);
        let want = [
            "E /a/b/f", "E /a/b/g", "E /a/b", "E /a/c/f", "E /a/c", "E /a/h", "E /a", "E /z/f", "E /z", "E ",
        ];
        assert_eq!(all, want);

        // Inside a/b with g still to walk: every level is unfinished.
        let (seen, stopped) = walked(&root, Some("/a/b/f"));
        assert!(stopped);
        assert_eq!(seen, ["E /a/b/f", "U /a/b", "U /a", "U "]);

        // After a/b's last name: a/b is finished, a and the root are not.
        let (seen, _) = walked(&root, Some("/a/b/g"));
        assert_eq!(seen, ["E /a/b/f", "E /a/b/g", "E /a/b", "U /a", "U "]);

        // After a/b itself: nothing is reported twice.
        let (seen, _) = walked(&root, Some("/a/b"));
        assert_eq!(seen, ["E /a/b/f", "E /a/b/g", "E /a/b", "U /a", "U "]);

        // After the last entry below the root, only the root is left, finished.
        let (seen, stopped) = walked(&root, Some("/z"));
        assert!(stopped);
        assert_eq!(seen, all);
    }
}
