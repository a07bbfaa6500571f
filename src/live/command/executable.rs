//! Finding the program a command names, pinning the very file that will be
//! run, and hashing it.
//!
//! The file is opened once with `O_PATH`, which reads nothing and pins its
//! inode. It is hashed by reopening that descriptor through `/proc/self/fd`
//! and executed through `/proc/self/fd` as well, so a file swapped in at the
//! same path afterwards is neither hashed nor run. Only an in-place rewrite
//! of the same inode could slip in between hashing and exec; its size, mtime
//! and ctime are compared before hashing and just after the start to show it.
//! Without `/proc`, the path is hashed and executed by name, and a swap in
//! the window between the two (the hash time plus the fork) would only be
//! seen by the same comparison.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fs::{Access, AtFlags, Mode, OFlags, CWD};
use rustix::io::{Errno, FdFlags};
use sha2::{Digest, Sha256};

use super::record::{mode_text, rfc3339, Bytes, ExecutableFacts};
use super::SEARCH_PATH;

/// Largest `#!` line recorded (the kernel reads no more than this either).
const SHEBANG_MAX: usize = 256;

/// Where a program name led.
pub(super) enum Lookup {
    /// The file to run.
    Found(String),
    /// Nothing runnable there.
    NotFound,
}

/// Look `program` up: an absolute path as is; a bare name in [`SEARCH_PATH`],
/// the first regular file this process may execute, else the first regular
/// file at all (whose exec will then fail and say why). Returns the
/// candidates tried too.
pub(super) fn lookup(program: &str) -> (Lookup, Vec<String>) {
    if program.starts_with('/') {
        // Anything but "no such file" is left for opening it to report.
        let missing = std::fs::metadata(program).is_err_and(|e| e.kind() == io::ErrorKind::NotFound);
        let found = if missing {
            Lookup::NotFound
        } else {
            Lookup::Found(program.to_owned())
        };
        return (found, Vec::new());
    }
    let searched: Vec<String> = SEARCH_PATH.iter().map(|dir| format!("{dir}/{program}")).collect();
    let is_file = |p: &String| std::fs::metadata(p).is_ok_and(|m| m.is_file());
    let may_exec = |p: &String| rustix::fs::accessat(CWD, p.as_str(), Access::EXEC_OK, AtFlags::EACCESS).is_ok();
    let chosen = searched
        .iter()
        .find(|p| is_file(p) && may_exec(p))
        .or_else(|| searched.iter().find(|p| is_file(p)));
    match chosen {
        Some(p) => (Lookup::Found(p.clone()), searched),
        None => (Lookup::NotFound, searched),
    }
}

/// Metadata that changes when a file's content or identity changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Fingerprint {
    fn of(m: &std::fs::Metadata) -> Self {
        Fingerprint {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// The file to run, held open, with its facts.
pub(super) struct Pinned {
    /// The `O_PATH` descriptor of the file (a plain path when `/proc` is missing).
    handle: File,
    /// What to give `execve`.
    exec_path: String,
    /// The path as looked up, for the no-`/proc` comparison.
    path: String,
    before: Fingerprint,
    /// For the record.
    pub facts: ExecutableFacts,
}

/// Why a found file cannot be run.
pub(super) enum PinError {
    /// It vanished since the lookup.
    Gone(io::Error),
    /// It is not a regular file, or could not be opened at all.
    Unusable(String),
}

/// Open `path` (following symlinks), check it is a regular file, and hash it.
pub(super) fn pin(path: &str) -> Result<Pinned, PinError> {
    let opened = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty());
    let fd = match opened {
        Ok(fd) => above_stdio(fd).map_err(|e| PinError::Unusable(format!("could not open {path}: {e}")))?,
        Err(Errno::NOENT) => return Err(PinError::Gone(Errno::NOENT.into())),
        Err(e) => return Err(PinError::Unusable(format!("could not open {path}: {}", io::Error::from(e)))),
    };
    let handle = File::from(fd);
    let meta = handle
        .metadata()
        .map_err(|e| PinError::Unusable(format!("could not stat {path}: {e}")))?;
    if !meta.is_file() {
        return Err(PinError::Unusable(format!("{path} is not a regular file")));
    }
    let proc_link = format!("/proc/self/fd/{}", handle.as_raw_fd());
    let canonical = std::fs::read_link(&proc_link).ok();
    let via_fd = canonical.is_some();
    let canonical = canonical.or_else(|| std::fs::canonicalize(path).ok());
    let read_from = if via_fd { proc_link.as_str() } else { path };
    let digest = hash(read_from);
    let symlink = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let facts = ExecutableFacts {
        path: path.to_owned(),
        canonical: canonical.map(|c| Bytes::new(c.as_os_str().as_bytes())),
        symlink,
        sha256: digest.as_ref().ok().map(|d| d.sha256.clone()),
        hash_error: digest.as_ref().err().map(|e| format!("could not read {path} to hash it: {e}")),
        size: meta.size(),
        mode: mode_text(meta.mode()),
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: rfc3339(meta.mtime(), meta.mtime_nsec()),
        ctime: rfc3339(meta.ctime(), meta.ctime_nsec()),
        inode: meta.ino(),
        device: meta.dev(),
        read_noatime: digest.as_ref().is_ok_and(|d| d.noatime),
        interpreter: digest.as_ref().ok().and_then(|d| d.interpreter.clone()),
        executed_via: if via_fd { "fd" } else { "path" },
        unchanged_at_exec: None,
    };
    Ok(Pinned {
        exec_path: if via_fd { proc_link } else { path.to_owned() },
        handle,
        path: path.to_owned(),
        before: Fingerprint::of(&meta),
        facts,
    })
}

impl Pinned {
    /// What to give `execve`: `/proc/self/fd/N`, which the child inherits
    /// (the kernel resolves it before it closes close-on-exec descriptors),
    /// or the path when `/proc` is missing.
    pub(super) fn exec_path(&self) -> &str {
        &self.exec_path
    }

    /// Make the descriptor survive exec when the file is a script: the
    /// interpreter opens the script by the name it is given, which is the
    /// descriptor's `/proc/self/fd` path. A binary needs no such thing, so its
    /// descriptor stays close-on-exec and never reaches the command.
    pub(super) fn prepare_exec(&self) -> io::Result<()> {
        if self.facts.interpreter.is_some() && self.facts.executed_via == "fd" {
            rustix::io::fcntl_setfd(&self.handle, FdFlags::empty())?;
        }
        Ok(())
    }

    /// Record whether the file looks as it did before hashing, now that the
    /// command has started.
    pub(super) fn check_after_start(&mut self) {
        let now = if self.facts.executed_via == "fd" {
            self.handle.metadata()
        } else {
            std::fs::metadata(Path::new(&self.path))
        };
        self.facts.unchanged_at_exec = Some(now.is_ok_and(|m| Fingerprint::of(&m) == self.before));
    }

    /// The facts, closing the file.
    pub(super) fn into_facts(self) -> ExecutableFacts {
        self.facts
    }
}

/// Keep the descriptor off 0, 1 and 2, which the child's standard streams
/// replace (they are free only when this process runs with one closed).
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, 3)?)
}

/// What reading the file found.
struct Digest256 {
    sha256: String,
    noatime: bool,
    interpreter: Option<Bytes>,
}

/// Hash the file at `path` (a `/proc/self/fd` link to the pinned file when
/// possible), read with `O_NOATIME` where the kernel allows it.
fn hash(path: &str) -> io::Result<Digest256> {
    let base = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let (fd, noatime) = match rustix::fs::open(path, base | OFlags::NOATIME, Mode::empty()) {
        Ok(fd) => (fd, true),
        Err(Errno::PERM) => (rustix::fs::open(path, base, Mode::empty())?, false),
        Err(e) => return Err(e.into()),
    };
    let mut file = File::from(fd);
    let mut hasher = Sha256::new();
    let mut head = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if head.len() < SHEBANG_MAX {
            let take = n.min(SHEBANG_MAX - head.len());
            head.extend_from_slice(&buf[..take]);
        }
        hasher.update(&buf[..n]);
    }
    Ok(Digest256 {
        sha256: hex::encode(hasher.finalize()),
        noatime,
        interpreter: shebang(&head),
    })
}

/// The `#!` line at the start of `head`, if any.
fn shebang(head: &[u8]) -> Option<Bytes> {
    let line = head.strip_prefix(b"#!")?;
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    Some(Bytes::new(&head[..end + 2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_lines() {
        assert_eq!(shebang(b"#!/bin/sh -e\necho hi\n"), Some(Bytes::new(b"#!/bin/sh -e")));
        assert_eq!(shebang(b"#!/bin/sh"), Some(Bytes::new(b"#!/bin/sh")));
        assert_eq!(shebang(b"\x7fELF\x02"), None);
        assert_eq!(shebang(b""), None);
    }

    #[test]
    fn a_bare_name_is_looked_up_in_the_search_path_only() {
        let (found, searched) = lookup("sh");
        assert_eq!(searched.len(), SEARCH_PATH.len());
        assert!(searched[0].starts_with("/usr/local/sbin/"));
        match found {
            Lookup::Found(p) => assert!(SEARCH_PATH.iter().any(|d| p == format!("{d}/sh")), "{p}"),
            Lookup::NotFound => panic!("sh not found in the search path"),
        }
        assert!(matches!(lookup("custody-no-such-program-7f3a").0, Lookup::NotFound));
    }
}
