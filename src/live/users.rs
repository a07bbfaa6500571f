//! The `users` step: the login records of utmp, the file login programs
//! keep of who is logged in now, each with whether its process still runs.
//!
//! The records are decoded by the same code that reads `wtmp` and `btmp`
//! inside archives (`clues::utmp`), and listed whatever their type: a
//! `dead_process` or `login_process` record is evidence too.

use std::io;

use serde::Serialize;

use crate::clues::utmp::{RawText, Record, RECORD_LEN};

use super::document::{rfc3339_nanos, text, Envelope};
use super::read::{bounded, io_reason};

/// Where utmp lives: `/run/utmp`, and the older path (usually a link to it).
const UTMP_PATHS: [&str; 2] = ["/run/utmp", "/var/run/utmp"];
/// Most bytes read from utmp (it holds one record per terminal line).
const MAX_UTMP: u64 = 64 * 1024 * 1024;

/// `ut_type` names, lowercase, by value.
const TYPES: [&str; 10] = [
    "empty",
    "run_lvl",
    "boot_time",
    "new_time",
    "old_time",
    "init_process",
    "login_process",
    "user_process",
    "dead_process",
    "accounting",
];

#[derive(Serialize, Default)]
pub(super) struct Users {
    count: usize,
    /// Records of type `user_process`: sessions utmp says are open.
    user_processes: usize,
    records: Vec<Login>,
    /// 384-byte blocks of no utmp type (the file is damaged or not utmp).
    #[serde(skip_serializing_if = "is_zero")]
    unparsed: u64,
    /// Bytes after the last whole record.
    #[serde(skip_serializing_if = "is_zero")]
    trailing_bytes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct Login {
    #[serde(rename = "type")]
    kind: &'static str,
    pid: i32,
    /// Whether `/proc/PID` exists now (only for a pid above 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pid_alive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_b64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line_b64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_b64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<String>,
}

pub(super) fn capture(doc: &mut Envelope) -> Users {
    let mut reasons = Vec::new();
    for path in UTMP_PATHS {
        match std::fs::File::open(path).and_then(|file| bounded(file, MAX_UTMP)) {
            Ok(whole) => {
                doc.set_source(path);
                if whole.cut {
                    doc.unavailable(
                        format!("{path} past {MAX_UTMP} bytes"),
                        "the file is longer than any utmp; it is cut there",
                    );
                }
                let users = decode(&whole.bytes, pid_alive);
                if users.unparsed > 0 {
                    doc.unavailable_for("records of no utmp type", "the file is damaged or is not utmp", users.unparsed);
                }
                if users.trailing_bytes > 0 {
                    doc.unavailable(
                        format!("the last {} bytes", users.trailing_bytes),
                        format!("a partial record: utmp is made of {RECORD_LEN}-byte records"),
                    );
                }
                return users;
            }
            Err(e) => reasons.push(format!("{path}: {}", io_reason(&e))),
        }
    }
    doc.set_source(UTMP_PATHS.join(", "));
    doc.unavailable(
        "utmp",
        format!(
            "{}; this host keeps no utmp (systemd-logind alone, or a container)",
            reasons.join("; ")
        ),
    );
    doc.nothing_read();
    Users::default()
}

/// Whether a process with this pid exists now; `None` when `/proc` does not
/// say (an error other than "no such file").
fn pid_alive(pid: i32) -> Option<bool> {
    match std::fs::metadata(format!("/proc/{pid}")) {
        Ok(_) => Some(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

/// Decodes utmp's records.
fn decode(bytes: &[u8], alive: impl Fn(i32) -> Option<bool>) -> Users {
    let mut users = Users::default();
    let mut chunks = bytes.chunks_exact(RECORD_LEN);
    for chunk in &mut chunks {
        let Ok(chunk) = <&[u8; RECORD_LEN]>::try_from(chunk) else {
            continue;
        };
        let Some(record) = Record::parse(chunk) else {
            users.unparsed += 1;
            continue;
        };
        users.records.push(login(&record, RawText::of(chunk), &alive));
    }
    users.trailing_bytes = chunks.remainder().len() as u64;
    users.count = users.records.len();
    users.user_processes = users.records.iter().filter(|r| r.kind == "user_process").count();
    users
}

fn login(record: &Record, raw: RawText<'_>, alive: &impl Fn(i32) -> Option<bool>) -> Login {
    let (user, user_b64) = text(raw.user);
    let (line, line_b64) = text(raw.line);
    let (host, host_b64) = text(raw.host);
    let nanos = i128::from(record.seconds) * 1_000_000_000 + i128::from(record.micros) * 1000;
    Login {
        kind: usize::try_from(record.kind)
            .ok()
            .and_then(|k| TYPES.get(k))
            .copied()
            .unwrap_or("unknown"),
        pid: record.pid,
        pid_alive: (record.pid > 0).then(|| alive(record.pid)).flatten(),
        user: user.filter(|u| !u.is_empty()),
        user_b64,
        line: line.filter(|l| !l.is_empty()),
        line_b64,
        host: host.filter(|h| !h.is_empty()),
        host_b64,
        address: record.addr.map(|a| a.to_string()),
        time: (record.seconds != 0).then(|| rfc3339_nanos(nanos)).flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record laid out as glibc writes it (offsets in `clues::utmp`).
    fn record(kind: i16, pid: i32, line: &[u8], user: &[u8], host: &[u8], addr: [u8; 4], secs: u32) -> Vec<u8> {
        let mut r = vec![0u8; RECORD_LEN];
        r[0..2].copy_from_slice(&kind.to_le_bytes());
        r[4..8].copy_from_slice(&pid.to_le_bytes());
        r[8..8 + line.len()].copy_from_slice(line);
        r[44..44 + user.len()].copy_from_slice(user);
        r[76..76 + host.len()].copy_from_slice(host);
        r[340..344].copy_from_slice(&secs.to_le_bytes());
        r[344..348].copy_from_slice(&250_000u32.to_le_bytes());
        r[348..352].copy_from_slice(&addr);
        r
    }

    #[test]
    fn records_of_every_type_with_their_pids() {
        let mut utmp = record(2, 0, b"~", b"reboot", b"6.1.0-13-amd64", [0; 4], 1_700_000_000);
        utmp.extend(record(7, 4242, b"pts/0", b"alice", b"203.0.113.9", [203, 0, 113, 9], 1_700_000_100));
        utmp.extend(record(8, 99, b"pts/1", b"", b"", [0; 4], 1_700_000_200));
        utmp.extend(record(7, 77, b"pts/2", b"m\xffl", b"", [0; 4], 1_700_000_300));
        let users = decode(&utmp, |pid| Some(pid == 4242));
        assert_eq!(
            (users.count, users.user_processes, users.unparsed, users.trailing_bytes),
            (4, 2, 0, 0)
        );
        let json = serde_json::to_value(&users.records).unwrap();
        assert_eq!(json[0]["type"], "boot_time");
        assert!(json[0].get("pid_alive").is_none());
        assert_eq!(json[1]["user"], "alice");
        assert_eq!(json[1]["line"], "pts/0");
        assert_eq!(json[1]["host"], "203.0.113.9");
        assert_eq!(json[1]["address"], "203.0.113.9");
        assert_eq!(json[1]["pid"], 4242);
        assert_eq!(json[1]["pid_alive"], true);
        assert_eq!(json[1]["time"], "2023-11-14T22:15:00.25Z");
        assert_eq!(json[2]["type"], "dead_process");
        assert_eq!(json[2]["pid_alive"], false);
        assert!(json[2].get("user").is_none());
        assert_eq!(json[3]["user_b64"], "bf9s");
    }

    #[test]
    fn damage_is_counted() {
        let mut utmp = record(7, 1, b"pts/0", b"a", b"", [0; 4], 5);
        utmp.extend(record(42, 1, b"x", b"x", b"", [0; 4], 5));
        utmp.extend([0u8; 10]);
        let users = decode(&utmp, |_| None);
        assert_eq!((users.count, users.unparsed, users.trailing_bytes), (1, 1, 10));
    }
}
