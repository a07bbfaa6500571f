//! The intrusion path's first clues, read from the logs inside an archive:
//! SSH logins accepted and failed (by user, source and method), sudo use,
//! accounts and groups added or changed, and the public keys that logged
//! in. These are leads for a reader of the report, not conclusions.
//!
//! [`ClueReader`] is fed members as a verifier sink sees them (`begin`,
//! `data`…, `end`), and learns at the end of each segment whether a signed
//! checkpoint proved them (`settle`). Until then a member's clues are held
//! apart, in bounded form; on `settle` they are folded into the totals,
//! marked proven or not. Memory stays bounded whatever the logs hold: lines
//! longer than [`MAX_LINE`] are counted and skipped, and the totals are
//! capped ([`MAX_LOGINS`], [`MAX_SUDO`], [`MAX_ACCOUNTS`], [`MAX_KEYS`]), with [`Clues::truncated`] and a note when a cap
//! drops something.

mod logs;
mod syslog;
mod tally;
pub(crate) mod utmp;

use std::collections::HashMap;

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{Month, OffsetDateTime};

use logs::LogKind;
use syslog::Stamp;
use tally::{Cap, Tally};
pub use tally::{MAX_ACCOUNTS, MAX_KEYS, MAX_LOGINS, MAX_SUDO};

/// Longest log line read, in bytes; longer lines are counted in
/// [`LogRead::skipped`] and not read.
pub const MAX_LINE: usize = 16 * 1024;
/// Most logs listed in [`Clues::logs`]; later ones are not read.
pub const MAX_LOGS: usize = 10_000;
/// Most rows the members awaiting their checkpoint may hold together.
pub const MAX_PENDING_ROWS: usize = 50_000;

/// Reads the logs that show who got in: auth.log / secure (text, also
/// rotated `auth.log.1`, not compressed `.gz`: those are listed as not read,
/// with the reason), wtmp / btmp (binary utmp records, also rotated `.1`).
pub struct ClueReader {
    logs: Vec<LogRead>,
    current: Option<Member>,
    /// Members read, awaiting `settle`: their position in `logs` and clues.
    pending: HashMap<u64, (usize, Tally)>,
    pending_rows: usize,
    totals: Tally,
    truncated: bool,
    /// Logs past [`MAX_LOGS`].
    unlisted: u64,
}

/// The member being read.
struct Member {
    index: u64,
    log: usize,
    kind: LogKind,
    path: String,
    /// Year and month of the member's mtime, for year-less timestamps.
    year: i32,
    month: Month,
    /// The unfinished line, or record.
    buf: Vec<u8>,
    /// Within a line longer than [`MAX_LINE`].
    overlong: bool,
    lines: u64,
    matched: u64,
    skipped: u64,
    /// Records of no utmp type.
    unknown: u64,
    untimed: u64,
    stamps: [bool; 3],
    dropped: Vec<Cap>,
    tally: Tally,
}

impl Default for ClueReader {
    fn default() -> Self {
        ClueReader::new()
    }
}

impl ClueReader {
    /// A reader that has seen nothing.
    pub fn new() -> ClueReader {
        ClueReader {
            logs: Vec::new(),
            current: None,
            pending: HashMap::new(),
            pending_rows: 0,
            totals: Tally::default(),
            truncated: false,
            unlisted: 0,
        }
    }

    /// Start member `index` at archive path `path` (as stored, e.g.
    /// `var/log/auth.log` or `/var/log/auth.log` or
    /// `src/var/log/secure-20261101`, match on the final path components),
    /// whose mtime (Unix seconds) helps date year-less syslog lines. Returns
    /// whether it reads this member.
    pub fn begin(&mut self, index: u64, path: &[u8], mtime_secs: i64) -> bool {
        self.end();
        let Some(found) = logs::classify(path) else {
            return false;
        };
        let path_text = String::from_utf8_lossy(path).into_owned();
        if self.logs.len() >= MAX_LOGS {
            self.unlisted += 1;
            self.truncated = true;
            return false;
        }
        let read = found.compressed.is_none();
        self.logs.push(LogRead {
            path: path_text.clone(),
            kind: found.kind.name(),
            read,
            proven: None,
            lines: 0,
            matched: 0,
            skipped: 0,
            note: found
                .compressed
                .map(|ext| format!("compressed ({ext}): not read; decompress it to read it")),
        });
        if !read {
            return false;
        }
        let mtime = OffsetDateTime::from_unix_timestamp(mtime_secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        self.current = Some(Member {
            index,
            log: self.logs.len() - 1,
            kind: found.kind,
            path: path_text,
            year: mtime.year(),
            month: mtime.month(),
            buf: Vec::new(),
            overlong: false,
            lines: 0,
            matched: 0,
            skipped: 0,
            unknown: 0,
            untimed: 0,
            stamps: [false; 3],
            dropped: Vec::new(),
            tally: Tally::default(),
        });
        true
    }

    /// The next chunk of the member begun last (chunks split lines and
    /// records anywhere).
    pub fn data(&mut self, chunk: &[u8]) {
        let Some(m) = self.current.as_mut() else {
            return;
        };
        let mut budget = MAX_PENDING_ROWS.saturating_sub(self.pending_rows + m.tally.rows());
        match m.kind {
            LogKind::Auth => m.text(chunk, &mut budget),
            LogKind::Wtmp | LogKind::Btmp => m.records(chunk, &mut budget),
        }
    }

    /// The member begun last has ended.
    pub fn end(&mut self) {
        let Some(mut m) = self.current.take() else {
            return;
        };
        let mut budget = MAX_PENDING_ROWS.saturating_sub(self.pending_rows + m.tally.rows());
        let mut notes = Vec::new();
        match m.kind {
            LogKind::Auth => {
                if m.overlong || !m.buf.is_empty() {
                    m.line_end(&mut budget);
                }
            }
            LogKind::Wtmp | LogKind::Btmp => {
                if !m.buf.is_empty() {
                    m.skipped += 1;
                    notes.push(format!(
                        "ends with a partial record of {} bytes (records are {} bytes), not read",
                        m.buf.len(),
                        utmp::RECORD_LEN
                    ));
                }
            }
        }
        notes.extend(m.notes());
        self.truncated |= !m.dropped.is_empty();
        let log = &mut self.logs[m.log];
        log.lines = m.lines;
        log.matched = m.matched;
        log.skipped = m.skipped;
        for n in notes {
            add_note(log, n);
        }
        self.pending_rows += m.tally.rows();
        self.pending.insert(m.index, (m.log, m.tally));
    }

    /// Member `index` is proven (true) or not (false) by a signed
    /// checkpoint: its clues count as proven or not.
    pub fn settle(&mut self, index: u64, proven: bool) {
        if self.current.as_ref().is_some_and(|m| m.index == index) {
            self.end();
        }
        let Some((log, tally)) = self.pending.remove(&index) else {
            return;
        };
        self.logs[log].proven = Some(proven);
        self.fold(log, tally, proven);
    }

    fn fold(&mut self, log: usize, tally: Tally, proven: bool) {
        self.pending_rows -= tally.rows();
        let dropped = self.totals.merge(tally, proven);
        if !dropped.is_empty() {
            self.truncated = true;
            add_note(&mut self.logs[log], capped_note(&dropped, "totals"));
        }
    }

    /// What was found. Members never settled count as not proven (their
    /// [`LogRead::proven`] stays `None`).
    pub fn finish(mut self) -> Clues {
        self.end();
        let mut left: Vec<_> = self.pending.drain().collect();
        left.sort_by_key(|(index, _)| *index);
        for (_, (log, tally)) in left {
            self.fold(log, tally, false);
        }
        let mut clues = Clues {
            logs: self.logs,
            truncated: self.truncated,
            ..Clues::default()
        };
        if self.unlisted > 0 {
            clues.notes.push(format!(
                "more than {MAX_LOGS} logs: {} more were not read nor listed",
                self.unlisted
            ));
        }
        let t = self.totals;
        let mut logins: Vec<_> = t.logins.into_iter().collect();
        logins.sort_by(|(ka, a), (kb, b)| b.last.cmp(&a.last).then(b.count.cmp(&a.count)).then(ka.cmp(kb)));
        clues.logins = logins
            .into_iter()
            .map(|((outcome, user, source, method), s)| Login {
                outcome,
                user,
                source,
                method,
                count: s.count,
                first: rfc3339(s.first),
                last: rfc3339(s.last),
                proven: s.proven,
            })
            .collect();
        let mut sudo: Vec<_> = t.sudo.into_iter().collect();
        sudo.sort_by(|(ka, a), (kb, b)| a.first.cmp(&b.first).then(ka.cmp(kb)));
        clues.sudo = sudo
            .into_iter()
            .map(|((user, run_as, command, outcome), s)| SudoUse {
                user,
                run_as,
                command,
                outcome,
                count: s.count,
                first: rfc3339(s.first),
                last: rfc3339(s.last),
                proven: s.proven,
            })
            .collect();
        let mut accounts = t.accounts;
        // Stable: changes without a time keep their order, after the rest.
        accounts.sort_by_key(|c| (c.time.is_none(), c.time));
        clues.accounts = accounts
            .into_iter()
            .map(|c| AccountChange {
                action: c.action,
                user: c.user,
                detail: c.detail,
                time: rfc3339(c.time),
                log: c.log,
                proven: c.proven,
            })
            .collect();
        let mut keys: Vec<_> = t.keys.into_iter().collect();
        keys.sort_by(|(ka, a), (kb, b)| (a.time.is_none(), a.time).cmp(&(b.time.is_none(), b.time)).then(ka.cmp(kb)));
        clues.keys = keys
            .into_iter()
            .map(|((user, key), f)| KeyUse {
                user,
                key,
                source: f.source,
                first: rfc3339(f.time),
                log: f.log,
                proven: f.proven,
            })
            .collect();
        clues
    }
}

impl Member {
    /// Text lines: split at newlines, overlong ones skipped.
    fn text(&mut self, chunk: &[u8], budget: &mut usize) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let (part, done) = match memchr::memchr(b'\n', rest) {
                Some(at) => (&rest[..at], Some(at + 1)),
                None => (rest, None),
            };
            if !self.overlong {
                if self.buf.len() + part.len() > MAX_LINE {
                    self.overlong = true;
                    self.buf = Vec::new();
                } else {
                    self.buf.extend_from_slice(part);
                }
            }
            match done {
                Some(at) => {
                    self.line_end(budget);
                    rest = &rest[at..];
                }
                None => break,
            }
        }
    }

    fn line_end(&mut self, budget: &mut usize) {
        self.lines += 1;
        if std::mem::take(&mut self.overlong) {
            self.skipped += 1;
            return;
        }
        let bytes = std::mem::take(&mut self.buf);
        let text = String::from_utf8_lossy(&bytes);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        let (year, month) = (self.year, self.month);
        let year_of = move |m: Month| if (m as u8) > (month as u8) { year - 1 } else { year };
        let line = syslog::read_line(text, &year_of);
        self.buf = bytes;
        self.buf.clear();
        if let Some(stamp) = line.stamp {
            self.stamps[stamp as usize] = true;
        }
        if let Some(clue) = line.clue {
            if line.time.is_none() {
                self.untimed += 1;
            }
            self.clue(clue, line.time, budget);
        }
    }

    /// Whole utmp records.
    fn records(&mut self, mut chunk: &[u8], budget: &mut usize) {
        while !chunk.is_empty() {
            let take = (utmp::RECORD_LEN - self.buf.len()).min(chunk.len());
            self.buf.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.buf.len() < utmp::RECORD_LEN {
                break;
            }
            let mut record = [0u8; utmp::RECORD_LEN];
            record.copy_from_slice(&self.buf);
            self.buf.clear();
            self.record(&record, budget);
        }
    }

    fn record(&mut self, bytes: &[u8; utmp::RECORD_LEN], budget: &mut usize) {
        self.lines += 1;
        let Some(r) = utmp::Record::parse(bytes) else {
            self.skipped += 1;
            self.unknown += 1;
            return;
        };
        let (outcome, method) = match self.kind {
            LogKind::Btmp => ("failed", "btmp"),
            _ if r.kind == utmp::USER_PROCESS => ("accepted", "wtmp"),
            _ => return,
        };
        let time = OffsetDateTime::from_unix_timestamp(r.seconds)
            .ok()
            .map(|t| t + time::Duration::microseconds(i64::from(r.micros)));
        let clue = syslog::Clue::Login {
            outcome,
            user: syslog::field(&r.user, syslog::MAX_FIELD),
            source: syslog::field(&r.source(), syslog::MAX_FIELD),
            method: method.to_string(),
            key: None,
        };
        self.clue(clue, time, budget);
    }

    fn clue(&mut self, clue: syslog::Clue, time: Option<OffsetDateTime>, budget: &mut usize) {
        self.matched += 1;
        let before = self.tally.rows();
        if let Err(cap) = self.tally.add(clue, time, &self.path, *budget > 0) {
            if !self.dropped.contains(&cap) {
                self.dropped.push(cap);
            }
        }
        *budget = budget.saturating_sub(self.tally.rows() - before);
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.kind == LogKind::Auth && self.skipped > 0 {
            notes.push(format!("{} lines longer than {MAX_LINE} bytes were skipped", self.skipped));
        }
        if self.unknown > 0 {
            notes.push(format!(
                "{} records of no utmp type were skipped (not glibc's 64-bit layout?)",
                self.unknown
            ));
        }
        if self.stamps[Stamp::Classic as usize] {
            notes.push(format!(
                "timestamps without year or zone: year from the file's mtime ({}; the year before for later months), read as UTC",
                self.year
            ));
        }
        if self.stamps[Stamp::Unzoned as usize] {
            notes.push("timestamps without zone read as UTC".to_string());
        }
        if self.untimed > 0 {
            notes.push(format!("{} matched lines had no valid time", self.untimed));
        }
        if !self.dropped.is_empty() {
            notes.push(capped_note(&self.dropped, "this log"));
        }
        notes
    }
}

fn capped_note(dropped: &[Cap], where_: &str) -> String {
    let caps: Vec<String> = dropped.iter().map(|c| c.describe()).collect();
    format!("cap reached in {where_} ({}): some clues were dropped", caps.join(", "))
}

fn add_note(log: &mut LogRead, note: String) {
    match &mut log.note {
        Some(n) => {
            n.push_str("; ");
            n.push_str(&note);
        }
        None => log.note = Some(note),
    }
}

fn rfc3339(t: Option<OffsetDateTime>) -> Option<String> {
    t.and_then(|t| t.format(&Rfc3339).ok())
}

/// What the logs show: leads for a reader, not conclusions.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Clues {
    /// Every log considered, read or not.
    pub logs: Vec<LogRead>,
    /// Aggregated by (outcome, user, source, method), newest last-seen
    /// first.
    pub logins: Vec<Login>,
    /// Aggregated by (user, run_as, command, outcome), earliest first.
    pub sudo: Vec<SudoUse>,
    /// useradd/adduser/groupadd/usermod/passwd/chpasswd/userdel…, in time
    /// order (those without a time last).
    pub accounts: Vec<AccountChange>,
    /// Public keys that logged in: the first use of each (user, key).
    pub keys: Vec<KeyUse>,
    /// A cap was reached (which one is said in [`LogRead::note`] or
    /// [`Clues::notes`]).
    pub truncated: bool,
    /// Notes about the whole reading (such as too many logs).
    pub notes: Vec<String>,
}

/// A log considered.
#[derive(Clone, Debug, Serialize)]
pub struct LogRead {
    /// Archive path as stored.
    pub path: String,
    /// `auth`, `wtmp` or `btmp`.
    pub kind: &'static str,
    /// Whether it was read.
    pub read: bool,
    /// Whether a signed checkpoint proved it; `None` when the archive ended
    /// before one said.
    pub proven: Option<bool>,
    /// Lines (or utmp records) read.
    pub lines: u64,
    /// Lines (or records) that gave a clue.
    pub matched: u64,
    /// Lines too long, or records not of the utmp layout or cut short, that
    /// were not read.
    pub skipped: u64,
    /// Why it was not read, caps reached, how times were read.
    pub note: Option<String>,
}

/// Logins aggregated by (outcome, user, source, method).
#[derive(Clone, Debug, Serialize)]
pub struct Login {
    /// `accepted` or `failed`.
    pub outcome: &'static str,
    /// User name as logged.
    pub user: String,
    /// Source address or host as logged.
    pub source: String,
    /// `password`, `publickey`, `keyboard-interactive/pam`, `invalid-user`,
    /// `closed-before-auth`, `not-allowed (…)`, `wtmp`, `btmp`…
    pub method: String,
    /// Lines or records.
    pub count: u64,
    /// First seen, RFC 3339 UTC.
    pub first: Option<String>,
    /// Last seen, RFC 3339 UTC.
    pub last: Option<String>,
    /// Every contributing member proven.
    pub proven: bool,
}

/// sudo uses aggregated by (user, run_as, command, outcome).
#[derive(Clone, Debug, Serialize)]
pub struct SudoUse {
    /// Who ran sudo.
    pub user: String,
    /// As whom.
    pub run_as: String,
    /// The command line as logged.
    pub command: String,
    /// `ran`, or what sudo refused: `incorrect password`, `user NOT in
    /// sudoers`…
    pub outcome: String,
    /// Lines.
    pub count: u64,
    /// First seen, RFC 3339 UTC.
    pub first: Option<String>,
    /// Last seen, RFC 3339 UTC.
    pub last: Option<String>,
    /// Every contributing member proven.
    pub proven: bool,
}

/// An account or group added, changed or removed.
#[derive(Clone, Debug, Serialize)]
pub struct AccountChange {
    /// The program that logged it: `useradd`, `usermod`, `passwd`…
    pub action: String,
    /// The account or group it names.
    pub user: String,
    /// The message as logged.
    pub detail: String,
    /// RFC 3339 UTC.
    pub time: Option<String>,
    /// The log's archive path.
    pub log: String,
    /// Its member proven.
    pub proven: bool,
}

/// A public key's first login for a user.
#[derive(Clone, Debug, Serialize)]
pub struct KeyUse {
    /// The user.
    pub user: String,
    /// Key type and fingerprint as logged (`ED25519 SHA256:…`).
    pub key: String,
    /// Where the first login came from.
    pub source: String,
    /// RFC 3339 UTC.
    pub first: Option<String>,
    /// The log's archive path.
    pub log: String,
    /// Every member that logged this key's use proven.
    pub proven: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Debian-style auth.log from a break-in: a password spray, an
    /// accepted password, a key installed and used, sudo, a new account.
    const AUTH_LOG: &str = "\
Nov 29 23:58:01 web1 sshd[1201]: Invalid user admin from 203.0.113.50 port 51002
Nov 29 23:58:03 web1 sshd[1201]: Failed password for invalid user admin from 203.0.113.50 port 51002 ssh2
Nov 29 23:58:09 web1 sshd[1203]: Failed password for root from 203.0.113.50 port 51010 ssh2
Nov 29 23:58:10 web1 sshd[1203]: Connection closed by authenticating user root 203.0.113.50 port 51010 [preauth]
Nov 30 00:01:44 web1 sshd[1290]: Accepted password for deploy from 203.0.113.50 port 51100 ssh2
Nov 30 00:01:44 web1 sshd[1290]: pam_unix(sshd:session): session opened for user deploy(uid=1001) by (uid=0)
Nov 30 00:03:12 web1 sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/bash
Nov 30 00:03:12 web1 sudo: pam_unix(sudo:session): session opened for user root(uid=0) by deploy(uid=1001)
Nov 30 00:04:00 web1 useradd[1333]: new group: name=sysupd, GID=998
Nov 30 00:04:00 web1 useradd[1333]: new user: name=sysupd, UID=998, GID=998, home=/var/lib/sysupd, shell=/bin/bash, from=/dev/pts/0
Nov 30 00:04:05 web1 usermod[1340]: add 'sysupd' to group 'sudo'
Nov 30 00:04:09 web1 chpasswd[1342]: pam_unix(chpasswd:chauthtok): password changed for sysupd
Nov 30 00:09:30 web1 sshd-session[1400]: Accepted publickey for sysupd from 198.51.100.23 port 40022 ssh2: ED25519 SHA256:Jq3c9Yp0mQe6a1VvQk2Vb3Zq9d0Zr0Jq8xkU6bQ3x0M
Nov 30 00:12:30 web1 sshd-session[1410]: Accepted publickey for sysupd from 198.51.100.24 port 40100 ssh2: ED25519 SHA256:Jq3c9Yp0mQe6a1VvQk2Vb3Zq9d0Zr0Jq8xkU6bQ3x0M
Nov 30 00:13:01 web1 sudo:   sysupd : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/usr/bin/id
Nov 30 00:14:00 web1 CRON[1500]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)
";

    /// Reads members `(path, mtime, content)` whole, then settles them.
    fn read(members: &[(&str, i64, &[u8])], proven: bool) -> Clues {
        let mut r = ClueReader::new();
        for (i, (path, mtime, content)) in members.iter().enumerate() {
            if r.begin(i as u64, path.as_bytes(), *mtime) {
                r.data(content);
                r.end();
            }
        }
        for i in 0..members.len() {
            r.settle(i as u64, proven);
        }
        r.finish()
    }

    /// 2026-12-01T00:00:00Z.
    const DEC_2026: i64 = 1_795_996_800;

    #[test]
    fn reads_a_break_in() {
        let c = read(&[("var/log/auth.log", DEC_2026, AUTH_LOG.as_bytes())], true);
        assert_eq!(c.logs.len(), 1);
        let log = &c.logs[0];
        assert_eq!(
            (log.kind, log.read, log.proven, log.lines, log.matched),
            ("auth", true, Some(true), 16, 13)
        );
        assert!(log.note.as_deref().unwrap().contains("year from the file's mtime (2026"));
        let rows: Vec<_> = c
            .logins
            .iter()
            .map(|l| (l.outcome, l.user.as_str(), l.source.as_str(), l.method.as_str(), l.count))
            .collect();
        assert_eq!(
            rows,
            [
                ("accepted", "sysupd", "198.51.100.24", "publickey", 1),
                ("accepted", "sysupd", "198.51.100.23", "publickey", 1),
                ("accepted", "deploy", "203.0.113.50", "password", 1),
                ("failed", "root", "203.0.113.50", "closed-before-auth", 1),
                ("failed", "root", "203.0.113.50", "password", 1),
                ("failed", "admin", "203.0.113.50", "password", 1),
                ("failed", "admin", "203.0.113.50", "invalid-user", 1),
            ]
        );
        assert_eq!(c.logins[2].first.as_deref(), Some("2026-11-30T00:01:44Z"));
        assert_eq!(c.logins[6].first.as_deref(), Some("2026-11-29T23:58:01Z"));
        assert!(c.logins.iter().all(|l| l.proven));
        assert_eq!(c.keys.len(), 1);
        assert_eq!(c.keys[0].key, "ED25519 SHA256:Jq3c9Yp0mQe6a1VvQk2Vb3Zq9d0Zr0Jq8xkU6bQ3x0M");
        assert_eq!(
            (c.keys[0].source.as_str(), c.keys[0].first.as_deref()),
            ("198.51.100.23", Some("2026-11-30T00:09:30Z"))
        );
        let sudo: Vec<_> = c
            .sudo
            .iter()
            .map(|s| (s.user.as_str(), s.command.as_str(), s.outcome.as_str()))
            .collect();
        assert_eq!(
            sudo,
            [("deploy", "/usr/bin/bash", "ran"), ("sysupd", "/usr/bin/id", "incorrect password")]
        );
        let accounts: Vec<_> = c.accounts.iter().map(|a| (a.action.as_str(), a.user.as_str())).collect();
        assert_eq!(
            accounts,
            [
                ("useradd", "sysupd"),
                ("useradd", "sysupd"),
                ("usermod", "sysupd"),
                ("chpasswd", "sysupd")
            ]
        );
        assert_eq!(c.accounts[0].log, "var/log/auth.log");
        assert!(!c.truncated);
    }

    #[test]
    fn any_chunking_reads_the_same() {
        let whole = serde_json::to_string(&read(&[("var/log/auth.log", DEC_2026, AUTH_LOG.as_bytes())], true)).unwrap();
        let bytes = AUTH_LOG.as_bytes();
        for at in 0..=bytes.len() {
            let mut r = ClueReader::new();
            assert!(r.begin(0, b"var/log/auth.log", DEC_2026));
            r.data(&bytes[..at]);
            r.data(&[]);
            r.data(&bytes[at..]);
            r.end();
            r.settle(0, true);
            assert_eq!(serde_json::to_string(&r.finish()).unwrap(), whole, "split at {at}");
        }
        // And byte by byte.
        let mut r = ClueReader::new();
        r.begin(0, b"var/log/auth.log", DEC_2026);
        for b in bytes {
            r.data(std::slice::from_ref(b));
        }
        r.settle(0, true);
        assert_eq!(serde_json::to_string(&r.finish()).unwrap(), whole);
    }

    /// A Red Hat-style `secure` in rsyslog's high-precision format.
    const SECURE: &str = "\
2026-11-30T09:00:01.104522+09:00 db2 sshd[2210]: User guest from 192.0.2.77 not allowed because not listed in AllowUsers
2026-11-30T09:00:03.000001+09:00 db2 sshd[2210]: Disconnected from authenticating user guest 192.0.2.77 port 60122 [preauth]
2026-11-30T09:01:00.5+09:00 db2 sshd[2230]: Accepted keyboard-interactive/pam for ops from 192.0.2.78 port 60200 ssh2
2026-11-30T09:02:00+09:00 db2 sudo[2240]:      ops : user NOT in sudoers ; TTY=pts/2 ; PWD=/home/ops ; USER=root ; COMMAND=/bin/cat /etc/shadow
2026-11-30T09:03:00+09:00 db2 groupadd[2250]: group added to /etc/gshadow: name=wheel2
2026-11-30T09:03:01+09:00 db2 gpasswd[2251]: user ops added by root to group wheel2
2026-11-30T09:04:00+09:00 db2 userdel[2260]: delete user 'olduser'
2026-11-30T09:04:00+09:00 db2 systemd[1]: Started Session 12 of User ops.
";

    #[test]
    fn reads_a_red_hat_secure_log() {
        let c = read(&[("src/var/log/secure-20261201", DEC_2026, SECURE.as_bytes())], false);
        let log = &c.logs[0];
        assert_eq!((log.kind, log.lines, log.matched, log.proven), ("auth", 8, 7, Some(false)));
        assert_eq!(log.note, None);
        let rows: Vec<_> = c
            .logins
            .iter()
            .map(|l| (l.outcome, l.user.as_str(), l.method.as_str(), l.last.as_deref()))
            .collect();
        assert_eq!(
            rows,
            [
                ("accepted", "ops", "keyboard-interactive/pam", Some("2026-11-30T00:01:00.5Z")),
                ("failed", "guest", "closed-before-auth", Some("2026-11-30T00:00:03.000001Z")),
                (
                    "failed",
                    "guest",
                    "not-allowed (not listed in AllowUsers)",
                    Some("2026-11-30T00:00:01.104522Z")
                ),
            ]
        );
        assert!(c.logins.iter().all(|l| !l.proven));
        assert_eq!(c.sudo[0].outcome, "user NOT in sudoers");
        assert_eq!(c.sudo[0].command, "/bin/cat /etc/shadow");
        let accounts: Vec<_> = c.accounts.iter().map(|a| (a.action.as_str(), a.user.as_str(), a.proven)).collect();
        assert_eq!(
            accounts,
            [
                ("groupadd", "wheel2", false),
                ("gpasswd", "ops", false),
                ("userdel", "olduser", false)
            ]
        );
    }

    #[test]
    fn year_comes_from_the_mtime() {
        let line = b"Dec 31 23:59:59 h sshd[1]: Accepted password for a from 192.0.2.1 port 1 ssh2\n\
Jan  1 00:00:01 h sshd[1]: Accepted password for b from 192.0.2.1 port 1 ssh2\n";
        // mtime 2027-01-01T12:00:00Z: December is after January, so 2026.
        let c = read(&[("var/log/auth.log.1", 1_798_804_800, line)], true);
        let first: Vec<_> = c.logins.iter().map(|l| l.first.clone().unwrap()).collect();
        assert_eq!(first, ["2027-01-01T00:00:01Z", "2026-12-31T23:59:59Z"]);
    }

    #[test]
    fn proof_follows_each_member() {
        let a = b"2026-11-30T10:00:00+00:00 h sshd[1]: Failed password for root from 192.0.2.9 port 1 ssh2\n";
        let b = b"2026-11-30T11:00:00+00:00 h sshd[1]: Failed password for root from 192.0.2.9 port 2 ssh2\n";
        let mut r = ClueReader::new();
        assert!(r.begin(4, b"var/log/secure", 0));
        r.data(a);
        r.end();
        assert!(!r.begin(5, b"etc/passwd", 0));
        r.data(b"root:x:0:0::/root:/bin/bash\n");
        assert!(r.begin(6, b"var/log/secure-20261130", 0));
        r.data(b);
        r.settle(4, true);
        r.settle(6, false);
        let c = r.finish();
        assert_eq!(c.logs.iter().map(|l| l.proven).collect::<Vec<_>>(), [Some(true), Some(false)]);
        assert_eq!((c.logins.len(), c.logins[0].count, c.logins[0].proven), (1, 2, false));
        assert_eq!(c.logins[0].first.as_deref(), Some("2026-11-30T10:00:00Z"));
        assert_eq!(c.logins[0].last.as_deref(), Some("2026-11-30T11:00:00Z"));

        // Never settled: unproven, and the log says the archive did not say.
        let c = {
            let mut r = ClueReader::new();
            r.begin(0, b"var/log/secure", 0);
            r.data(a);
            r.finish()
        };
        assert_eq!((c.logs[0].proven, c.logins[0].proven), (None, false));
    }

    #[test]
    fn compressed_logs_are_listed_not_read() {
        let mut r = ClueReader::new();
        assert!(!r.begin(0, b"var/log/auth.log.2.gz", 0));
        r.data(b"\x1f\x8b\x08\x00");
        r.end();
        let c = r.finish();
        assert_eq!((c.logs.len(), c.logs[0].read, c.logs[0].lines), (1, false, 0));
        assert!(c.logs[0].note.as_deref().unwrap().starts_with("compressed (.gz): not read"));
    }

    #[test]
    fn overlong_lines_are_counted_and_skipped() {
        let mut text = vec![b'x'; MAX_LINE + 1];
        text.extend_from_slice(b"\nNov 30 10:00:01 h sshd[1]: Invalid user z from 192.0.2.2 port 9\n");
        text.extend_from_slice(&vec![b'y'; 3 * MAX_LINE]);
        let c = read(&[("var/log/auth.log", DEC_2026, &text)], true);
        let log = &c.logs[0];
        assert_eq!((log.lines, log.matched, log.skipped), (3, 1, 2));
        assert!(log.note.as_deref().unwrap().contains("2 lines longer than"));
        // Exactly the maximum is read.
        let mut line = b"Nov 30 10:00:01 h sshd[1]: Invalid user ".to_vec();
        let rest = b" from 192.0.2.2 port 9";
        line.resize(MAX_LINE - rest.len(), b'u');
        line.extend_from_slice(rest);
        let c = read(&[("var/log/auth.log", DEC_2026, &line)], true);
        assert_eq!((c.logs[0].matched, c.logs[0].skipped), (1, 0));
    }

    #[test]
    fn the_login_cap_truncates_with_a_note() {
        let mut r = ClueReader::new();
        r.begin(0, b"var/log/auth.log", DEC_2026);
        for n in 0..=MAX_LOGINS {
            let line = format!("Nov 30 10:00:01 h sshd[1]: Invalid user u{n} from 192.0.2.3 port 1\n");
            r.data(line.as_bytes());
        }
        r.settle(0, true);
        let c = r.finish();
        assert!(c.truncated);
        assert_eq!(c.logins.len(), MAX_LOGINS);
        assert_eq!(c.logs[0].matched, MAX_LOGINS as u64 + 1);
        assert!(c.logs[0]
            .note
            .as_deref()
            .unwrap()
            .contains("cap reached in this log (10000 distinct logins)"));
    }

    #[test]
    fn pending_members_share_a_row_budget() {
        let mut r = ClueReader::new();
        let per = MAX_LOGINS;
        let members = MAX_PENDING_ROWS / per + 1;
        for m in 0..members {
            r.begin(m as u64, format!("var/log/auth.log.{m}").as_bytes(), DEC_2026);
            for n in 0..per {
                let line = format!("Nov 30 10:00:01 h sshd[1]: Invalid user m{m}u{n} from 192.0.2.3 port 1\n");
                r.data(line.as_bytes());
            }
            r.end();
        }
        assert!(r.pending_rows <= MAX_PENDING_ROWS);
        let c = r.finish();
        assert!(c.truncated);
        let last = c.logs.last().unwrap().note.as_deref().unwrap();
        assert!(last.contains("awaiting their checkpoint"), "{last}");
    }

    #[test]
    fn too_many_logs_are_noted() {
        let mut r = ClueReader::new();
        for i in 0..=MAX_LOGS as u64 {
            r.begin(i, b"var/log/auth.log", 0);
        }
        let c = r.finish();
        assert_eq!(c.logs.len(), MAX_LOGS);
        assert!(c.truncated);
        assert_eq!(c.notes, [format!("more than {MAX_LOGS} logs: 1 more were not read nor listed")]);
    }
}
