//! Sources of evidence: a walk over filesystem trees that yields entries in a
//! deterministic order, never follows symlinks, stays on one filesystem
//! unless asked, and reports everything it passes over with the reason.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use globset::GlobSet;

/// Something the walk met.
#[derive(Debug)]
pub enum WalkItem {
    /// An entry to archive, with its `lstat` metadata.
    Entry(SourceEntry),
    /// An entry passed over, and why.
    Skipped {
        /// Archive path it would have had.
        archive_path: Vec<u8>,
        /// Reason.
        reason: String,
    },
}

/// A filesystem entry to archive.
#[derive(Debug)]
pub struct SourceEntry {
    /// Where it is on this host.
    pub fs_path: PathBuf,
    /// Path inside the archive (the absolute path without its leading `/`).
    pub archive_path: Vec<u8>,
    /// `lstat` metadata from the walk.
    pub metadata: std::fs::Metadata,
    /// A directory on another filesystem, recorded but not descended into.
    pub other_filesystem: bool,
}

/// What to walk and what to leave out.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    /// Exclusion globs, matched against absolute paths.
    pub excludes: GlobSet,
    /// Stay on the filesystem of each source.
    pub one_file_system: bool,
    /// `(dev, ino)` of files never to collect (the archive being written).
    pub never_collect: Vec<(u64, u64)>,
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

/// Walk `sources` in order, calling `visit` for every item. Sources must exist
/// (checked by the caller before the archive is started).
pub fn walk(sources: &[PathBuf], opts: &WalkOptions, mut visit: impl FnMut(WalkItem) -> std::io::Result<()>) -> std::io::Result<()> {
    for src in sources {
        let root = absolute(src)?;
        let root_dev = std::fs::symlink_metadata(&root).map(|m| m.dev()).ok();
        let mut it = walkdir::WalkDir::new(&root)
            .follow_links(false)
            .sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()))
            .into_iter();
        while let Some(next) = it.next() {
            let entry = match next {
                Ok(e) => e,
                Err(err) => {
                    let path = err.path().map(Path::to_path_buf).unwrap_or_else(|| root.clone());
                    let reason = match err.io_error() {
                        Some(io) => format!("cannot be read by the walk (its contents are not collected): {io}"),
                        None => err.to_string(),
                    };
                    visit(WalkItem::Skipped {
                        archive_path: archive_path_for(&path),
                        reason,
                    })?;
                    continue;
                }
            };
            let path = entry.path().to_path_buf();
            let archive_path = archive_path_for(&path);
            if archive_path == CUSTODY_DIR_NAME || archive_path.starts_with(crate::format::CUSTODY_DIR.as_bytes()) {
                if entry.file_type().is_dir() {
                    it.skip_current_dir();
                }
                let reason = "its archive path is reserved for custody's own members; collect /.custody as a separate source root";
                visit(WalkItem::Skipped {
                    archive_path,
                    reason: reason.into(),
                })?;
                continue;
            }
            if opts.excludes.is_match(&path) {
                if entry.file_type().is_dir() {
                    it.skip_current_dir();
                }
                visit(WalkItem::Skipped {
                    archive_path,
                    reason: "excluded by --exclude".into(),
                })?;
                continue;
            }
            let metadata = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    visit(WalkItem::Skipped {
                        archive_path,
                        reason: format!("vanished before it could be examined: {e}"),
                    })?;
                    continue;
                }
            };
            if opts.never_collect.contains(&(metadata.dev(), metadata.ino())) {
                visit(WalkItem::Skipped {
                    archive_path,
                    reason: "the archive being written".into(),
                })?;
                continue;
            }
            let other_filesystem =
                opts.one_file_system && metadata.is_dir() && entry.depth() > 0 && root_dev.is_some_and(|d| d != metadata.dev());
            if other_filesystem {
                it.skip_current_dir();
            }
            visit(WalkItem::Entry(SourceEntry {
                fs_path: path,
                archive_path,
                metadata,
                other_filesystem,
            }))?;
        }
    }
    Ok(())
}

/// The text of a path for messages.
pub fn display(path: &[u8]) -> String {
    OsStr::from_bytes(path).to_string_lossy().into_owned()
}
