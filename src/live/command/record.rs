//! The result document of one command run (`custody-command/1`): plain
//! serde types, no I/O. docs/LIVE-RESPONSE.md ("Commands") describes every field.

use serde::Serialize;

/// The `schema` value of a command record.
pub(super) const SCHEMA: &str = "custody-command/1";

/// The working directory commands run in.
pub(super) const WORKING_DIRECTORY: &str = "/";

/// What commands read on standard input.
pub(super) const STDIN: &str = "/dev/null";

/// Most leftover processes listed in one record (all of them are killed).
pub(super) const MAX_LEFTOVERS_LISTED: usize = 64;

/// Bytes shown as text when they are UTF-8, else as standard base64.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub(super) enum Bytes {
    /// Valid UTF-8.
    Text(String),
    /// Anything else.
    Base64 {
        /// Standard base64 of the bytes.
        base64: String,
    },
}

impl Bytes {
    pub(super) fn new(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Bytes::Text(text.to_owned()),
            Err(_) => {
                use base64::Engine as _;
                Bytes::Base64 {
                    base64: base64::engine::general_purpose::STANDARD.encode(bytes),
                }
            }
        }
    }
}

/// The whole record.
#[derive(Debug, Serialize)]
pub(super) struct CommandRecord {
    pub schema: &'static str,
    pub name: String,
    pub argv: Vec<String>,
    /// The directories a bare program name is looked up in.
    pub search_path: &'static [&'static str],
    /// The candidates tried, in order (empty for an absolute program).
    pub searched: Vec<String>,
    /// The file that was (or would have been) run; `None` when not found.
    pub executable: Option<ExecutableFacts>,
    pub cwd: &'static str,
    pub stdin: &'static str,
    /// The complete environment given to the command, by name.
    pub environment: std::collections::BTreeMap<String, Bytes>,
    pub started: String,
    pub ended: String,
    pub duration_secs: f64,
    pub timeout_secs: f64,
    pub max_output: u64,
    pub outcome: &'static str,
    /// The process id of the command (also its process group id).
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub core_dumped: bool,
    pub timed_out: bool,
    /// Whether the command's process was reaped; false only when it did not
    /// die even after SIGKILL (it is then reaped in the background).
    pub reaped: bool,
    pub signals_sent: Vec<SignalSent>,
    pub leftover_processes: Vec<Leftover>,
    pub stdout: StreamFacts,
    pub stderr: StreamFacts,
    /// Why the command could not be found or started.
    pub error: Option<String>,
    /// Anything else an analyst should know, in words (output abandoned,
    /// the executable changed, a process that would not die).
    pub notes: Vec<String>,
}

/// The executable as hashed, which is the very file run.
#[derive(Debug, Serialize)]
pub(super) struct ExecutableFacts {
    /// As looked up in the search path, or as given when absolute.
    pub path: String,
    /// The file actually opened, every symlink resolved (from the open file
    /// itself through `/proc/self/fd` when it can be).
    pub canonical: Option<Bytes>,
    /// Whether `path` itself is a symlink.
    pub symlink: bool,
    pub sha256: Option<String>,
    /// Why the file could not be read for hashing.
    pub hash_error: Option<String>,
    pub size: u64,
    /// Permission bits (with set-id and sticky), four octal digits.
    pub mode: String,
    pub uid: u32,
    pub gid: u32,
    pub mtime: String,
    pub ctime: String,
    pub inode: u64,
    pub device: u64,
    /// Whether it was read with `O_NOATIME`.
    pub read_noatime: bool,
    /// The `#!` line of a script (the interpreter is not hashed).
    pub interpreter: Option<Bytes>,
    /// `fd` (through `/proc/self/fd`, the hashed inode itself) or `path`.
    pub executed_via: &'static str,
    /// Whether size, mtime and ctime were the same just after the start as
    /// before hashing; `None` when not started.
    pub unchanged_at_exec: Option<bool>,
}

/// A signal sent to the command's process group.
#[derive(Debug, Clone, Serialize)]
pub(super) struct SignalSent {
    pub signal: &'static str,
    /// Seconds after the start.
    pub after_secs: f64,
    /// `timeout`, `grace-expired`, `leftover` or `watch-failed`.
    pub reason: &'static str,
    /// Why it could not be sent (a process that has exited is not an error).
    pub error: Option<String>,
}

/// A process still in the command's process group after it exited.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(super) struct Leftover {
    pub pid: u32,
    pub comm: Bytes,
}

/// What became of standard output or standard error.
#[derive(Debug, Clone, Serialize, Default)]
pub(super) struct StreamFacts {
    /// Bytes kept (the size of the stored member).
    pub bytes: u64,
    /// SHA-256 of the bytes kept.
    pub sha256: String,
    /// Bytes the command wrote (read before the run ended).
    pub written: u64,
    /// Whether `written` exceeds what was kept.
    pub truncated: bool,
    /// Whether the end of the stream was reached; false when the run
    /// stopped waiting for a process that kept it open.
    pub complete: bool,
    pub read_error: Option<String>,
}

impl StreamFacts {
    /// A stream with nothing in it, complete: a command that did not run.
    pub(super) fn empty() -> Self {
        StreamFacts {
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest([])),
            complete: true,
            ..StreamFacts::default()
        }
    }
}

/// `mode & 0o7777` as four octal digits.
pub(super) fn mode_text(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// Unix time with nanoseconds as RFC 3339 UTC.
pub(super) fn rfc3339(secs: i64, nanos: i64) -> String {
    let nanos = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("@{secs}"))
}

/// The name of a signal this module sends.
pub(super) fn signal_name(signal: rustix::process::Signal) -> &'static str {
    use rustix::process::Signal;
    match signal {
        Signal::TERM => "SIGTERM",
        Signal::KILL => "SIGKILL",
        Signal::CONT => "SIGCONT",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_text_or_base64() {
        assert_eq!(serde_json::to_string(&Bytes::new(b"/usr/bin/ss")).unwrap(), "\"/usr/bin/ss\"");
        assert_eq!(serde_json::to_string(&Bytes::new(b"a\xff")).unwrap(), "{\"base64\":\"Yf8=\"}");
    }

    #[test]
    fn modes_and_times() {
        assert_eq!(mode_text(0o100755), "0755");
        assert_eq!(mode_text(0o104755), "4755");
        assert_eq!(rfc3339(0, 5), "1970-01-01T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_700_000_000, 0), "2023-11-14T22:13:20Z");
    }
}
