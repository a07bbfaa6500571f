//! Reading pseudo-files whole but bounded, and saying in words why a read
//! failed.

use std::io::{self, Read};
use std::path::Path;

use procfs::ProcError;

/// Most bytes read from one table (`/proc/net/tcp` of a busy server holds
/// 150 bytes a connection); a longer file is cut and said to be.
pub(super) const MAX_TABLE: u64 = 256 * 1024 * 1024;

/// A file read whole, or as much as [`MAX_TABLE`] allows.
pub(super) struct Whole {
    pub bytes: Vec<u8>,
    /// The file went on past the bound.
    pub cut: bool,
}

/// Reads at most `limit` bytes, and says whether there were more.
pub(super) fn bounded(reader: impl Read, limit: u64) -> io::Result<Whole> {
    // Pseudo-files report size 0: read until the end, one byte past the
    // bound to learn whether it was reached. A page to start with: most
    // files fit (a growing buffer would read them 32 bytes at first).
    let mut bytes = Vec::with_capacity(limit.min(4096) as usize);
    reader.take(limit + 1).read_to_end(&mut bytes)?;
    let cut = bytes.len() as u64 > limit;
    bytes.truncate(limit as usize);
    Ok(Whole { bytes, cut })
}

/// Reads a table file, bounded by [`MAX_TABLE`].
pub(super) fn table(path: impl AsRef<Path>) -> io::Result<Whole> {
    bounded(std::fs::File::open(path)?, MAX_TABLE)
}

/// Reads a one-line value (a sysctl, a sysfs attribute) without its
/// trailing newline.
pub(super) fn value(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let mut bytes = bounded(std::fs::File::open(path)?, 64 * 1024)?.bytes;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    Ok(bytes)
}

/// A one-line value as text (lossy: for values the kernel writes in ASCII).
pub(super) fn value_text(path: impl AsRef<Path>) -> io::Result<String> {
    value(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Why an I/O operation failed, with the errno's name, which is what one
/// searches for.
pub(super) fn io_reason(e: &io::Error) -> String {
    let named = match e.raw_os_error() {
        Some(libc::EPERM) => Some(("EPERM", "operation not permitted")),
        Some(libc::ENOENT) => Some(("ENOENT", "no such file or directory")),
        Some(libc::ESRCH) => Some(("ESRCH", "no such process")),
        Some(libc::EIO) => Some(("EIO", "input/output error")),
        Some(libc::EACCES) => Some(("EACCES", "permission denied")),
        Some(libc::ENOTDIR) => Some(("ENOTDIR", "not a directory")),
        Some(libc::EINVAL) => Some(("EINVAL", "invalid argument")),
        Some(libc::ELOOP) => Some(("ELOOP", "too many levels of symbolic links")),
        Some(libc::ENAMETOOLONG) => Some(("ENAMETOOLONG", "name too long")),
        _ => None,
    };
    match named {
        Some((name, text)) => format!("{text} ({name})"),
        None => e.to_string(),
    }
}

/// Why a read through the procfs crate failed.
pub(super) fn proc_reason(e: &ProcError) -> String {
    match e {
        ProcError::PermissionDenied(_) => "permission denied (EACCES)".to_string(),
        ProcError::NotFound(_) => "no such file or directory (ENOENT)".to_string(),
        ProcError::Incomplete(_) => "the file ended before its last field".to_string(),
        ProcError::Io(e, _) => io_reason(e),
        ProcError::Other(text) => format!("unreadable: {text}"),
        ProcError::InternalError(e) => format!("not in the expected format: {e}"),
    }
}

/// The process is gone (or its `/proc` entry no longer answers).
pub(super) fn is_gone(e: &ProcError) -> bool {
    match e {
        ProcError::NotFound(_) => true,
        ProcError::Io(e, _) => matches!(e.raw_os_error(), Some(libc::ESRCH | libc::ENOENT)),
        _ => false,
    }
}

/// The read was refused for lack of privilege.
pub(super) fn is_denied(e: &ProcError) -> bool {
    match e {
        ProcError::PermissionDenied(_) => true,
        ProcError::Io(e, _) => e.kind() == io::ErrorKind::PermissionDenied,
        _ => false,
    }
}

/// What the collector may read of other processes, for the reason given
/// when a read is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Privilege {
    root: bool,
    ptrace: bool,
}

impl Privilege {
    /// The collector's, from `/proc/self/status`; unknown counts as none.
    pub(super) fn of_collector() -> Privilege {
        const CAP_SYS_PTRACE: u32 = 19;
        let status = value_text("/proc/self/status").unwrap_or_default();
        let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::split_whitespace);
        let euid = field("Uid:").and_then(|mut ids| ids.nth(1)?.parse::<u32>().ok());
        let caps = field("CapEff:").and_then(|mut caps| u64::from_str_radix(caps.next()?, 16).ok());
        Privilege {
            root: euid == Some(0),
            ptrace: caps.is_some_and(|caps| caps & (1 << CAP_SYS_PTRACE) != 0),
        }
    }

    /// Why reading another process was refused, and what would allow it.
    pub(super) fn refused(self) -> &'static str {
        match (self.root, self.ptrace) {
            (false, _) => "another user's process (or one that made itself undumpable); reading it needs root",
            (true, false) => {
                "the collector is root but lacks CAP_SYS_PTRACE (dropped, as in a container), which reading another process needs"
            }
            (true, true) => {
                "refused even to root with CAP_SYS_PTRACE: the kernel's ptrace access check forbids it \
                 (a security module, or a process in another user namespace or holding capabilities the collector lacks)"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads_say_when_they_cut() {
        let whole = bounded(&b"abcdef"[..], 6).unwrap();
        assert_eq!((whole.bytes.as_slice(), whole.cut), (&b"abcdef"[..], false));
        let cut = bounded(&b"abcdefg"[..], 6).unwrap();
        assert_eq!((cut.bytes.as_slice(), cut.cut), (&b"abcdef"[..], true));
    }

    #[test]
    fn reasons_name_the_errno() {
        let denied = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(io_reason(&denied), "permission denied (EACCES)");
        let gone = ProcError::Io(io::Error::from_raw_os_error(libc::ESRCH), None);
        assert!(is_gone(&gone) && !is_denied(&gone));
        assert!(is_denied(&ProcError::PermissionDenied(None)));
    }

    #[test]
    fn refusals_are_explained_by_the_collector_s_privilege() {
        let user = Privilege {
            root: false,
            ptrace: false,
        };
        assert!(user.refused().contains("needs root"));
        let contained = Privilege { root: true, ptrace: false };
        assert!(contained.refused().contains("lacks CAP_SYS_PTRACE"));
        let full = Privilege { root: true, ptrace: true };
        assert!(full.refused().starts_with("refused even to root"));
        let me = Privilege::of_collector();
        assert_eq!(me.root, rustix::process::geteuid().is_root());
    }
}
