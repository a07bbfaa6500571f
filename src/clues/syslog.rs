//! One line of `auth.log` / `secure`: its timestamp, the program that wrote
//! it, and the clue its message gives (an SSH login accepted or failed, a
//! sudo use, an account change), if any.
//!
//! Everything after the program tag is written or influenced by whoever
//! connected (user names, commands, key comments): it is kept as text, cut
//! to a bounded length, with control characters escaped, and never
//! interpreted further.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Longest user name, address, method or other short field kept, in
/// characters; longer ones are cut and end with `…`.
pub const MAX_FIELD: usize = 256;
/// Longest sudo command or account-change detail kept, in characters.
pub const MAX_TEXT: usize = 1024;

/// What a line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clue {
    /// An SSH login accepted or failed.
    Login {
        /// `accepted` or `failed`.
        outcome: &'static str,
        /// User name as logged.
        user: String,
        /// Source address or host as logged.
        source: String,
        /// How: `password`, `publickey`, `invalid-user`, …
        method: String,
        /// Key type and fingerprint of an accepted public key.
        key: Option<String>,
    },
    /// A sudo use or refusal.
    Sudo {
        /// Who ran sudo.
        user: String,
        /// As whom (`USER=`).
        run_as: String,
        /// `COMMAND=`.
        command: String,
        /// `ran`, or what sudo refused (`incorrect password`, …).
        outcome: String,
    },
    /// An account or group added, changed or removed.
    Account {
        /// The program that logged it (`useradd`, `usermod`, …).
        action: String,
        /// The account or group named.
        user: String,
        /// The message.
        detail: String,
    },
}

/// How a line's time was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// `Nov 30 10:00:01`: no year and no zone.
    Classic,
    /// RFC 3339 / ISO 8601 with a zone.
    Zoned,
    /// ISO 8601 without a zone.
    Unzoned,
}

/// A line read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Its time in UTC, if it could be read.
    pub time: Option<OffsetDateTime>,
    /// How the time was written, if at all.
    pub stamp: Option<Stamp>,
    /// The clue, if any.
    pub clue: Option<Clue>,
}

/// Reads a line (without its newline). `year_of` gives the year of a
/// year-less timestamp in the given month.
pub fn read_line(line: &str, year_of: &dyn Fn(Month) -> i32) -> Line {
    let (time, stamp, rest) = match timestamp(line, year_of) {
        Some((t, s, rest)) => (t, Some(s), rest),
        None => (None, None, line),
    };
    let clue = stamp.and_then(|_| tagged(rest)).and_then(|(program, msg)| clue(program, msg));
    Line { time, stamp, clue }
}

/// After the timestamp: `HOST PROGRAM[PID]: MESSAGE`. Returns the program
/// name and the message.
fn tagged(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.trim_start_matches(' ');
    let (_host, rest) = rest.split_once(' ')?;
    let (tag, msg) = rest.split_once(':')?;
    if tag.contains(' ') {
        return None;
    }
    let program = tag.split('[').next().unwrap_or(tag);
    let program = program.rsplit('/').next().unwrap_or(program);
    Some((program, msg.trim_start_matches(' ')))
}

const ACCOUNT_PROGRAMS: &[&str] = &[
    "useradd", "adduser", "userdel", "deluser", "usermod", "groupadd", "addgroup", "groupdel", "delgroup", "groupmod", "gpasswd", "passwd",
    "chpasswd", "chage", "newusers",
];

fn clue(program: &str, msg: &str) -> Option<Clue> {
    match program {
        "sshd" | "sshd-session" | "sshd-auth" => sshd(msg),
        "sudo" => sudo(msg),
        p if ACCOUNT_PROGRAMS.contains(&p) => account(p, msg),
        _ => None,
    }
}

fn login(outcome: &'static str, user: &str, source: &str, method: &str) -> Clue {
    Clue::Login {
        outcome,
        user: field(user, MAX_FIELD),
        source: field(source, MAX_FIELD),
        method: field(method, MAX_FIELD),
        key: None,
    }
}

fn sshd(msg: &str) -> Option<Clue> {
    if let Some(rest) = msg.strip_prefix("Accepted ") {
        let (method, rest) = rest.split_once(" for ")?;
        let (user, addr, tail) = from_port(rest)?;
        let mut clue = login("accepted", user, addr, method);
        if let (Clue::Login { key, .. }, Some(k)) = (&mut clue, tail.strip_prefix(" ssh2: ")) {
            *key = Some(field(k, MAX_FIELD));
        }
        return Some(clue);
    }
    if let Some(rest) = msg.strip_prefix("Failed ") {
        let (method, rest) = rest.split_once(" for ")?;
        let rest = rest.strip_prefix("invalid user ").unwrap_or(rest);
        let (user, addr, _) = from_port(rest)?;
        return Some(login("failed", user, addr, method));
    }
    if let Some(rest) = msg.strip_prefix("Invalid user ") {
        let (user, addr) = match from_port(rest) {
            Some((user, addr, _)) => (user, addr),
            None => rest.rsplit_once(" from ")?,
        };
        return Some(login("failed", user, addr, "invalid-user"));
    }
    for prefix in [
        "Connection closed by authenticating user ",
        "Disconnected from authenticating user ",
    ] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let (user_addr, _) = rest.rsplit_once(" port ")?;
            let (user, addr) = user_addr.rsplit_once(' ')?;
            return Some(login("failed", user, addr, "closed-before-auth"));
        }
    }
    if let Some(rest) = msg.strip_prefix("User ") {
        let (user, rest) = rest.rsplit_once(" from ")?;
        let (addr, why) = rest.split_once(" not allowed because ")?;
        return Some(login("failed", user, addr, &format!("not-allowed ({why})")));
    }
    None
}

/// `USER from ADDR port N…`, where USER may hold anything the connecting
/// side sent: the rightmost ` from ADDR port DIGITS` is sshd's own text.
/// Returns the user, the address and what follows the port.
fn from_port(rest: &str) -> Option<(&str, &str, &str)> {
    let mut end = rest.len();
    while let Some(at) = rest[..end].rfind(" from ") {
        let tail = &rest[at + 6..];
        if let Some((addr, after)) = tail.split_once(" port ") {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if !addr.is_empty() && !addr.contains(' ') && digits > 0 {
                return Some((&rest[..at], addr, &after[digits..]));
            }
        }
        end = at;
    }
    None
}

/// `USER : [PROBLEM ; ]TTY=… ; PWD=… ; USER=root ; COMMAND=…`. The command
/// runs to the end of the line (sudo writes it last), so a `;` inside it is
/// part of it.
fn sudo(msg: &str) -> Option<Clue> {
    let (user, mut rest) = msg.trim_start().split_once(" : ")?;
    if user.is_empty() || user.contains(' ') {
        return None;
    }
    let mut run_as = "";
    let mut problem: Option<&str> = None;
    let command = loop {
        if let Some(command) = rest.strip_prefix("COMMAND=") {
            break command;
        }
        let (item, next) = rest.split_once(" ; ")?;
        if let Some(who) = item.strip_prefix("USER=") {
            run_as = who;
        } else if !item.contains('=') && problem.is_none() {
            problem = Some(item);
        }
        rest = next;
    };
    let outcome = match problem {
        None => "ran".to_string(),
        Some(p) if p.contains("incorrect password attempt") => "incorrect password".to_string(),
        Some(p) => field(p, MAX_FIELD),
    };
    Some(Clue::Sudo {
        user: field(user, MAX_FIELD),
        run_as: field(run_as, MAX_FIELD),
        command: field(command, MAX_TEXT),
        outcome,
    })
}

/// Any message of an account tool, but for PAM's session and error lines;
/// the account is the `name=` value, the first quoted name, or the one a
/// password was changed for.
fn account(program: &str, msg: &str) -> Option<Clue> {
    let changed = msg.split_once("password changed for ").map(|(_, u)| u);
    if msg.starts_with("pam_") && changed.is_none() {
        return None;
    }
    let user = if let Some((_, v)) = msg.split_once("name=") {
        v.split(',').next().unwrap_or(v)
    } else if let Some(u) = changed {
        u.split(' ').next().unwrap_or(u)
    } else if let Some((_, v)) = msg.split_once('\'') {
        v.split('\'').next().unwrap_or(v)
    } else if let Some((_, v)) = msg.split_once("user ") {
        v.split(' ').next().unwrap_or(v)
    } else {
        ""
    };
    Some(Clue::Account {
        action: program.to_string(),
        user: field(user.trim(), MAX_FIELD),
        detail: field(msg.trim_end(), MAX_TEXT),
    })
}

/// Text from the log as kept: control characters escaped, cut to `max`
/// characters.
pub fn field(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The timestamp at the start of a line: its time (when valid), its form
/// and the rest of the line.
fn timestamp<'a>(line: &'a str, year_of: &dyn Fn(Month) -> i32) -> Option<(Option<OffsetDateTime>, Stamp, &'a str)> {
    let b = line.as_bytes();
    if b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
        let end = line.find(' ').unwrap_or(line.len());
        let (time, zoned) = iso(&line[..end])?;
        let stamp = if zoned { Stamp::Zoned } else { Stamp::Unzoned };
        return Some((time, stamp, &line[end..]));
    }
    // `Mmm dd hh:mm:ss[.frac]`, the day space-padded.
    let month = MONTHS.iter().position(|m| line.starts_with(m))?;
    let month = Month::try_from(month as u8 + 1).ok()?;
    let rest = line.get(3..)?.trim_start_matches(' ');
    let (day, rest) = rest.split_once(' ')?;
    let end = rest.find(' ').unwrap_or(rest.len());
    let day: u8 = day.parse().ok()?;
    let clock = clock(&rest[..end])?;
    let time = Date::from_calendar_date(year_of(month), month, day)
        .ok()
        .and_then(|d| clock.map(|c| PrimitiveDateTime::new(d, c).assume_utc()));
    Some((time, Stamp::Classic, &rest[end..]))
}

/// `hh:mm:ss[.frac]`: `Some(None)` when shaped so but out of range.
fn clock(text: &str) -> Option<Option<Time>> {
    let (hms, frac) = match text.split_once('.') {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (text, None),
    };
    let mut parts = hms.split(':');
    let mut next = || -> Option<u8> {
        let p = parts.next()?;
        (p.len() == 2).then(|| p.parse().ok())?
    };
    let (h, m, s) = (next()?, next()?, next()?);
    let nanos = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit()) => {
            let digits = &f[..f.len().min(9)];
            digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32)
        }
        Some(_) => return None,
    };
    Some(Time::from_hms_nano(h, m, s.min(59), nanos).ok())
}

/// `YYYY-MM-DD[T ]hh:mm:ss[.frac][Z|±hh:mm|±hhmm]`, as UTC; whether it
/// had a zone (without one it is read as UTC).
fn iso(text: &str) -> Option<(Option<OffsetDateTime>, bool)> {
    let date = text.get(..10)?;
    let rest = text.get(11..)?;
    let (zone_at, zoned) = match rest.find(['Z', 'z', '+', '-']) {
        Some(at) => (at, true),
        None => (rest.len(), false),
    };
    let clock = clock(&rest[..zone_at])?;
    let offset = match &rest[zone_at..] {
        "" | "Z" | "z" => Some(UtcOffset::UTC),
        z => zone(z),
    };
    let mut d = date.split('-');
    let y: i32 = d.next()?.parse().ok()?;
    let m: u8 = d.next()?.parse().ok()?;
    let day: u8 = d.next()?.parse().ok()?;
    let time = (|| {
        let date = Date::from_calendar_date(y, Month::try_from(m).ok()?, day).ok()?;
        let t = PrimitiveDateTime::new(date, clock?).assume_offset(offset?);
        Some(t.to_offset(UtcOffset::UTC))
    })();
    Some((time, zoned))
}

/// `±hh:mm` or `±hhmm`.
fn zone(z: &str) -> Option<UtcOffset> {
    let sign: i8 = if z.starts_with('-') { -1 } else { 1 };
    let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let h: i8 = digits[..2].parse().ok()?;
    let m: i8 = digits[2..].parse().ok()?;
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;

    fn read(line: &str) -> Line {
        read_line(line, &|_| 2026)
    }

    fn utc(line: &str) -> String {
        read(line).time.unwrap().format(&Rfc3339).unwrap()
    }

    #[test]
    fn timestamps() {
        assert_eq!(utc("Nov 30 10:00:01 h sshd[1]: x"), "2026-11-30T10:00:01Z");
        assert_eq!(utc("Nov  3 07:08:09 h sshd[1]: x"), "2026-11-03T07:08:09Z");
        assert_eq!(utc("2026-11-30T10:00:01.123456+09:00 h sshd[1]: x"), "2026-11-30T01:00:01.123456Z");
        assert_eq!(utc("2026-11-30T10:00:01+0900 h sshd[1]: x"), "2026-11-30T01:00:01Z");
        assert_eq!(utc("2026-11-30T10:00:01-05:30 h x: y"), "2026-11-30T15:30:01Z");
        assert_eq!(utc("2026-11-30T10:00:01Z h x: y"), "2026-11-30T10:00:01Z");
        assert_eq!(read("2026-11-30T10:00:01 h x: y").stamp, Some(Stamp::Unzoned));
        assert_eq!(read("Nov 30 10:00:01 h x: y").stamp, Some(Stamp::Classic));
        // Shaped like a timestamp but not a date: no time, line still read.
        let l = read("Feb 30 10:00:01 h sshd[1]: Invalid user a from 192.0.2.1 port 1");
        assert_eq!((l.time, l.stamp.is_some(), l.clue.is_some()), (None, true, true));
        assert_eq!(read("garbage line").stamp, None);
        assert_eq!(read("").stamp, None);
    }

    #[test]
    fn year_rule_is_the_callers() {
        let l = read_line("Dec 31 23:59:59 h x: y", &|m| if m == Month::December { 2025 } else { 2026 });
        assert_eq!(l.time.unwrap().year(), 2025);
    }

    fn login_of(line: &str) -> (&'static str, String, String, String, Option<String>) {
        match read(line).clue {
            Some(Clue::Login {
                outcome,
                user,
                source,
                method,
                key,
            }) => (outcome, user, source, method, key),
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn sshd_lines() {
        let l = login_of("Nov 30 10:00:01 web1 sshd[811]: Accepted password for alice from 198.51.100.7 port 50122 ssh2");
        assert_eq!(l, ("accepted", "alice".into(), "198.51.100.7".into(), "password".into(), None));
        let l = login_of("Nov 30 10:00:01 web1 sshd-session[9]: Accepted publickey for root from 2001:db8::5 port 40000 ssh2: ED25519 SHA256:9fQ8n3mWq0kS1u3bO1cS2Yc0mK7c5m8Xb2aG3vL0pE4");
        assert_eq!(l.3, "publickey");
        assert_eq!(l.4.as_deref(), Some("ED25519 SHA256:9fQ8n3mWq0kS1u3bO1cS2Yc0mK7c5m8Xb2aG3vL0pE4"));
        let l = login_of("Nov 30 10:00:01 web1 sshd[1]: Accepted keyboard-interactive/pam for bob from 192.0.2.4 port 2 ssh2");
        assert_eq!(l.3, "keyboard-interactive/pam");
        let l = login_of("Nov 30 10:00:01 web1 sshd[1]: Failed password for invalid user admin from 203.0.113.50 port 33 ssh2");
        assert_eq!(l, ("failed", "admin".into(), "203.0.113.50".into(), "password".into(), None));
        let l = login_of("Nov 30 10:00:01 web1 sshd[1]: Failed password for root from 203.0.113.50 port 33 ssh2");
        assert_eq!(l.1, "root");
        let l = login_of("Nov 30 10:00:01 web1 sshd[1]: Invalid user oracle from 203.0.113.51 port 4");
        assert_eq!(l, ("failed", "oracle".into(), "203.0.113.51".into(), "invalid-user".into(), None));
        let l = login_of("Nov 30 10:00:01 web1 sshd[1]: Invalid user test from 203.0.113.52");
        assert_eq!(l.2, "203.0.113.52");
        let l = login_of("Nov 30 10:00:01 web1 sshd[1]: Connection closed by authenticating user root 203.0.113.53 port 5 [preauth]");
        assert_eq!(
            l,
            ("failed", "root".into(), "203.0.113.53".into(), "closed-before-auth".into(), None)
        );
        let l = login_of("Nov 30 10:00:01 web1 sshd[1]: Disconnected from authenticating user git 203.0.113.54 port 6 [preauth]");
        assert_eq!(l.1, "git");
        let l = login_of("Nov 30 10:00:01 web1 sshd[1]: User guest from 203.0.113.55 not allowed because not listed in AllowUsers");
        assert_eq!(l.3, "not-allowed (not listed in AllowUsers)");
        assert_eq!(
            read("Nov 30 10:00:01 web1 sshd[1]: Received disconnect from 203.0.113.5 port 1:11: Bye [preauth]").clue,
            None
        );
        assert_eq!(
            read("Nov 30 10:00:01 web1 cron[1]: Accepted password for x from 1.2.3.4 port 1 ssh2").clue,
            None
        );
    }

    #[test]
    fn attacker_chosen_user_names_stay_text() {
        let l = login_of("Nov 30 10:00:01 h sshd[1]: Invalid user a from 10.0.0.1 port 1 from 203.0.113.9 port 2");
        assert_eq!((l.1.as_str(), l.2.as_str()), ("a from 10.0.0.1 port 1", "203.0.113.9"));
        let l = login_of("Nov 30 10:00:01 h sshd[1]: Failed password for invalid user \u{1b}[31mx from 203.0.113.9 port 2 ssh2");
        assert_eq!(l.1, "\\u{1b}[31mx");
        let long = "x".repeat(5000);
        let l = login_of(&format!("Nov 30 10:00:01 h sshd[1]: Invalid user {long} from 203.0.113.9 port 2"));
        assert_eq!(l.1.chars().count(), MAX_FIELD + 1);
        assert!(l.1.ends_with('…'));
    }

    #[test]
    fn sudo_lines() {
        let c = read(
            "Nov 30 10:05:00 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash -c id; cat /etc/shadow",
        )
        .clue;
        assert_eq!(
            c,
            Some(Clue::Sudo {
                user: "alice".into(),
                run_as: "root".into(),
                command: "/bin/bash -c id; cat /etc/shadow".into(),
                outcome: "ran".into()
            })
        );
        let c = read("2026-11-30T10:05:00.5+00:00 web1 sudo[77]:      bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/usr/bin/su").clue;
        assert!(matches!(c, Some(Clue::Sudo { outcome, .. }) if outcome == "incorrect password"));
        let c = read("Nov 30 10:05:00 web1 sudo: www-data : user NOT in sudoers ; TTY=unknown ; PWD=/ ; USER=root ; COMMAND=/bin/sh").clue;
        assert!(matches!(c, Some(Clue::Sudo { outcome, .. }) if outcome == "user NOT in sudoers"));
        assert_eq!(
            read("Nov 30 10:05:00 web1 sudo: pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)").clue,
            None
        );
    }

    fn account_of(line: &str) -> (String, String) {
        match read(line).clue {
            Some(Clue::Account { action, user, .. }) => (action, user),
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn account_lines() {
        let a = account_of("Nov 30 10:06:00 web1 useradd[900]: new user: name=backup2, UID=1002, GID=1002, home=/home/backup2, shell=/bin/bash, from=/dev/pts/0");
        assert_eq!(a, ("useradd".into(), "backup2".into()));
        let a = account_of("Nov 30 10:06:01 web1 usermod[901]: add 'backup2' to group 'sudo'");
        assert_eq!(a, ("usermod".into(), "backup2".into()));
        let a = account_of("Nov 30 10:06:02 web1 passwd[902]: pam_unix(passwd:chauthtok): password changed for backup2");
        assert_eq!(a, ("passwd".into(), "backup2".into()));
        let a = account_of("Nov 30 10:06:03 web1 groupadd[903]: group added to /etc/group: name=ops, GID=1003");
        assert_eq!(a.1, "ops");
        let a = account_of("Nov 30 10:06:04 web1 userdel[904]: delete user 'olduser'");
        assert_eq!(a.1, "olduser");
        let a = account_of("Nov 30 10:06:05 web1 gpasswd[905]: user mallory added by root to group docker");
        assert_eq!(a.1, "mallory");
        assert_eq!(
            read("Nov 30 10:06:06 web1 passwd[906]: pam_unix(passwd:session): session opened").clue,
            None
        );
    }
}
