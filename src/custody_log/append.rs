//! Adding records to a custody log: the file is locked, read and checked
//! whole, and the new line is appended and synced. Nothing already in the
//! log is ever rewritten.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::record::{
    encode_event_line, encode_timestamp_line, event_message, line_digest, parse_line, Actor, ArchiveRef, Event, EventKind, TimestampRecord,
    Verification, LOG_FORMAT,
};
use super::LOG_NAMESPACE;
use crate::signer::{self, KeyError, Signer};

/// Why a record could not be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The log file could not be opened, read or written.
    #[error("cannot {what} the custody log {path}: {cause}. Check the path and its permissions.")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The log.
        path: PathBuf,
        /// Cause.
        cause: io::Error,
    },
    /// The log exists but its end is not a whole record.
    #[error(
        "the custody log {path} ends in a partial line ({bytes} bytes after the last newline): an earlier append was interrupted or the file was cut. Nothing was added. Keep a copy of the file, restore the log from a good copy (or remove only that partial line), then add the event again"
    )]
    PartialLine {
        /// The log.
        path: PathBuf,
        /// Bytes after the last newline.
        bytes: usize,
    },
    /// The last line is not a record, so the next one cannot name it.
    #[error("the custody log {path} does not end in a record ({why}). Nothing was added. Run `custody log show` to see what is wrong")]
    BadLastLine {
        /// The log.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// Signing failed.
    #[error("cannot sign the event: {0}")]
    Sign(#[from] KeyError),
}

/// A custody log opened for appending, locked against other writers until
/// it is dropped; or a new log kept in memory, to be stored elsewhere (an
/// object store) once written.
pub struct LogFile {
    path: PathBuf,
    file: Option<File>,
    bytes: Vec<u8>,
}

impl LogFile {
    /// Open (or, with `create`, make) the log at `path` and lock it.
    pub fn open(path: &Path, create: bool) -> Result<LogFile, AppendError> {
        let io_err = |what, cause| AppendError::Io {
            what,
            path: path.to_owned(),
            cause,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(create)
            .mode(0o644)
            .open(path)
            .map_err(|e| io_err("open", e))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(|e| io_err("lock", e.into()))?;
        file.seek(SeekFrom::Start(0)).map_err(|e| io_err("read", e))?;
        let bytes = super::read_from(&mut file).map_err(|e| io_err("read", e))?;
        Ok(LogFile {
            path: path.to_owned(),
            file: Some(file),
            bytes,
        })
    }

    /// A new, empty log held in memory; `name` is how messages name it.
    pub fn in_memory(name: &Path) -> LogFile {
        LogFile {
            path: name.to_owned(),
            file: None,
            bytes: Vec::new(),
        }
    }

    /// The log's bytes as read when it was opened and locked.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sequence number and `prev` of the next record.
    pub fn next_link(&self) -> Result<(u64, Option<String>), AppendError> {
        if self.bytes.is_empty() {
            return Ok((1, None));
        }
        let Some(body) = self.bytes.strip_suffix(b"\n") else {
            let last_newline = memchr::memrchr(b'\n', &self.bytes).map_or(0, |i| i + 1);
            return Err(AppendError::PartialLine {
                path: self.path.clone(),
                bytes: self.bytes.len() - last_newline,
            });
        };
        let start = memchr::memrchr(b'\n', body).map_or(0, |i| i + 1);
        let last = parse_line(&body[start..]).map_err(|why| AppendError::BadLastLine {
            path: self.path.clone(),
            why,
        })?;
        Ok((last.record.seq() + 1, Some(line_digest(&self.bytes[start..]))))
    }

    /// Append `line` (a whole record with its newline) and sync it to disk
    /// (for a file).
    pub fn append(&mut self, line: &[u8]) -> Result<(), AppendError> {
        let io_err = |cause| AppendError::Io {
            what: "write",
            path: self.path.clone(),
            cause,
        };
        if let Some(file) = &mut self.file {
            file.write_all(line).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
        }
        self.bytes.extend_from_slice(line);
        Ok(())
    }
}

/// What an actor says about an event; the rest is filled in when it is signed.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// Kind.
    pub kind: EventKind,
    /// Who.
    pub actor: Actor,
    /// Where the evidence is.
    pub location: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The other party of a transfer or receipt.
    pub counterpart: Option<String>,
    /// Free text.
    pub note: Option<String>,
    /// What the verifier said, for `received` and `verified`.
    pub verification: Option<Verification>,
}

/// Sign `new` as the next event of `log` and append it. `time` is the
/// recorder's clock (RFC 3339, UTC). Returns the line written.
pub fn add_event(
    log: &mut LogFile,
    signer: &mut Signer,
    archive: ArchiveRef,
    archive_sha256: String,
    new: NewEvent,
    time: String,
) -> Result<Vec<u8>, AppendError> {
    let (seq, prev) = log.next_link()?;
    let event = Event {
        log: LOG_FORMAT.into(),
        record: "event".into(),
        seq,
        prev,
        archive,
        kind: new.kind.name().into(),
        time,
        actor: new.actor,
        key: signer::fingerprint(&signer.public_key()),
        location: new.location,
        reason: new.reason,
        counterpart: new.counterpart,
        archive_sha256,
        verification: new.verification,
        note: new.note,
    };
    let sig = signer.sign_in(LOG_NAMESPACE, &event_message(&event))?;
    let mut blob = Vec::new();
    ssh_encoding::Encode::encode(&sig, &mut blob).map_err(|e| KeyError::Sign(e.to_string()))?;
    let line = encode_event_line(&event, &blob);
    log.append(&line)?;
    Ok(line)
}

/// Have the TSA of `client` stamp the log's last line and append the
/// timestamp record. `time` is the requester's clock when it asks. Nothing
/// is written when the TSA gives no token.
pub fn add_timestamp(log: &mut LogFile, client: &crate::tsa::Client, time: String) -> Result<Vec<u8>, TimestampError> {
    let (seq, prev) = log.next_link()?;
    let prev = prev.ok_or(TimestampError::Empty)?;
    let imprint: [u8; 32] = hex::decode(&prev)
        .ok()
        .and_then(|b| b.try_into().ok())
        .expect("line digests are 32 bytes of hex");
    let token = client.stamp(&imprint)?;
    let record = TimestampRecord {
        log: LOG_FORMAT.into(),
        record: "timestamp".into(),
        seq,
        prev,
        time,
        tsa: client.url().to_owned(),
    };
    let line = encode_timestamp_line(&record, &token);
    log.append(&line)?;
    Ok(line)
}

/// Why no timestamp record was added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The log could not be read or written.
    #[error(transparent)]
    Log(#[from] AppendError),
    /// The log holds no record to stamp.
    #[error("the custody log holds no record to timestamp; record an event first (`custody log add`)")]
    Empty,
    /// The TSA gave no token.
    #[error(transparent)]
    Tsa(#[from] crate::tsa::TsaError),
}
