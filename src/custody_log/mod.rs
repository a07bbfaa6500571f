//! The custody log: who held the evidence since it was collected.
//!
//! A sidecar file `ARCHIVE.custody` beside the archive, one record per
//! line: the record's JSON, a tab, and its proof in base64. An *event*
//! (acquired, transferred, received, ...) is proven by an SSHSIG of its
//! JSON in the namespace [`LOG_NAMESPACE`]; a *timestamp* record by an
//! RFC 3161 token over the SHA-256 of the line before it. Every record
//! names the SHA-256 of the line before it (`prev`), and every event names
//! the archive (its id and final chain value), so a record edited, removed
//! from the middle, reordered or taken from another archive's log is seen.
//! The layout is specified in docs/CUSTODY-LOG.md.

mod append;
mod check;
mod record;

pub use append::{add_event, add_timestamp, AppendError, LogFile, NewEvent, TimestampError};

pub use check::{check, EventReport, LogCheck, LogEntry, LogReport, SignatureStatus, TimestampReport};
pub use record::{
    encode_event_line, encode_timestamp_line, event_message, line_digest, parse_line, Actor, ArchiveRef, Event, EventKind, ParsedLine,
    Record, TimestampRecord, Verification, LOG_FORMAT,
};

use std::path::{Path, PathBuf};

/// SSHSIG namespace of custody log events: distinct from the checkpoints'
/// so that neither signature can stand for the other.
pub const LOG_NAMESPACE: &str = "custody-log-v1@custody";

/// Longest line a reader accepts: an event with long free text and its
/// signature, or a timestamp token with its certificates.
pub const MAX_LINE: usize = 256 * 1024;

/// Largest log a reader accepts: some hundred thousand events. A larger
/// file is not a custody log, and is not read into memory.
pub const MAX_LOG_BYTES: u64 = 64 << 20;

/// Read a whole log, refusing one larger than [`MAX_LOG_BYTES`].
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    read_from(std::fs::File::open(path)?)
}

pub(crate) fn read_from(file: impl std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_LOG_BYTES + 1), &mut bytes)?;
    if bytes.len() as u64 > MAX_LOG_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} MiB, more than any custody log holds",
            MAX_LOG_BYTES >> 20
        )));
    }
    Ok(bytes)
}

/// `ARCHIVE.custody`, beside the archive.
pub fn log_path(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".custody");
    PathBuf::from(name)
}
