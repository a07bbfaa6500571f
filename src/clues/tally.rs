//! Clues aggregated with caps: one per member until its segment is settled,
//! and the totals those are folded into.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::syslog::Clue;

/// Most distinct logins (outcome, user, source, method) kept.
pub const MAX_LOGINS: usize = 10_000;
/// Most distinct sudo uses (user, run as, command, outcome) kept.
pub const MAX_SUDO: usize = 2_000;
/// Most account changes kept.
pub const MAX_ACCOUNTS: usize = 2_000;
/// Most distinct (user, key) first uses kept.
pub const MAX_KEYS: usize = 2_000;

/// Which cap dropped a clue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    /// [`MAX_LOGINS`].
    Logins,
    /// [`MAX_SUDO`].
    Sudo,
    /// [`MAX_ACCOUNTS`].
    Accounts,
    /// [`MAX_KEYS`].
    Keys,
    /// The rows all members awaiting their checkpoint may hold together.
    Pending,
}

impl Cap {
    /// For notes.
    pub fn describe(self) -> String {
        match self {
            Cap::Logins => format!("{MAX_LOGINS} distinct logins"),
            Cap::Sudo => format!("{MAX_SUDO} distinct sudo uses"),
            Cap::Accounts => format!("{MAX_ACCOUNTS} account changes"),
            Cap::Keys => format!("{MAX_KEYS} distinct keys"),
            Cap::Pending => "the rows held for members awaiting their checkpoint".to_string(),
        }
    }
}

/// Count and time span of one aggregated row; `proven` while every
/// contributing member is.
#[derive(Clone, Debug)]
pub struct Span {
    pub count: u64,
    pub first: Option<OffsetDateTime>,
    pub last: Option<OffsetDateTime>,
    pub proven: bool,
}

impl Span {
    fn add(&mut self, count: u64, first: Option<OffsetDateTime>, last: Option<OffsetDateTime>, proven: bool) {
        self.count += count;
        self.first = earliest(self.first, first);
        self.last = latest(self.last, last);
        self.proven &= proven;
    }
}

fn earliest(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn latest(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    a.max(b)
}

/// `(outcome, user, source, method)`.
pub type LoginKey = (&'static str, String, String, String);
/// `(user, run as, command, outcome)`.
pub type SudoKey = (String, String, String, String);
/// `(user, key)`.
pub type KeyKey = (String, String);

/// A key's first use.
#[derive(Clone, Debug)]
pub struct FirstUse {
    pub source: String,
    pub time: Option<OffsetDateTime>,
    pub log: String,
    pub proven: bool,
}

/// An account change.
#[derive(Clone, Debug)]
pub struct Change {
    pub action: String,
    pub user: String,
    pub detail: String,
    pub time: Option<OffsetDateTime>,
    pub log: String,
    pub proven: bool,
}

/// Aggregated clues.
#[derive(Debug, Default)]
pub struct Tally {
    pub logins: HashMap<LoginKey, Span>,
    pub sudo: HashMap<SudoKey, Span>,
    pub keys: HashMap<KeyKey, FirstUse>,
    pub accounts: Vec<Change>,
}

impl Tally {
    /// Rows held, for the budget of pending members.
    pub fn rows(&self) -> usize {
        self.logins.len() + self.sudo.len() + self.keys.len() + self.accounts.len()
    }

    /// Adds one clue read from `log`; `Err` names the cap that dropped it
    /// (or part of it). `room` is whether a new row may still be made.
    pub fn add(&mut self, clue: Clue, time: Option<OffsetDateTime>, log: &str, room: bool) -> Result<(), Cap> {
        match clue {
            Clue::Login {
                outcome,
                user,
                source,
                method,
                key,
            } => {
                let key_kept = match key {
                    Some(key) => {
                        let first = FirstUse {
                            source: source.clone(),
                            time,
                            log: log.to_string(),
                            proven: true,
                        };
                        self.first_use((user.clone(), key), first, room)
                    }
                    None => Ok(()),
                };
                let span = Span {
                    count: 1,
                    first: time,
                    last: time,
                    proven: true,
                };
                self.login((outcome, user, source, method), span, room)?;
                key_kept
            }
            Clue::Sudo {
                user,
                run_as,
                command,
                outcome,
            } => {
                let span = Span {
                    count: 1,
                    first: time,
                    last: time,
                    proven: true,
                };
                self.sudo_use((user, run_as, command, outcome), span, room)
            }
            Clue::Account { action, user, detail } => {
                let change = Change {
                    action,
                    user,
                    detail,
                    time,
                    log: log.to_string(),
                    proven: true,
                };
                self.change(change, room)
            }
        }
    }

    /// Folds a member's clues in, proven or not; returns the caps that
    /// dropped some.
    pub fn merge(&mut self, other: Tally, proven: bool) -> Vec<Cap> {
        let mut dropped = Vec::new();
        let mut note = |r: Result<(), Cap>| {
            if let Err(cap) = r {
                if !dropped.contains(&cap) {
                    dropped.push(cap);
                }
            }
        };
        for (k, mut s) in other.logins {
            s.proven &= proven;
            note(self.login(k, s, true));
        }
        for (k, mut s) in other.sudo {
            s.proven &= proven;
            note(self.sudo_use(k, s, true));
        }
        for (k, mut f) in other.keys {
            f.proven &= proven;
            note(self.first_use(k, f, true));
        }
        for mut c in other.accounts {
            c.proven &= proven;
            note(self.change(c, true));
        }
        dropped
    }

    fn login(&mut self, key: LoginKey, s: Span, room: bool) -> Result<(), Cap> {
        let full = self.logins.len() >= MAX_LOGINS;
        spans(&mut self.logins, key, s, room_for(full, room, Cap::Logins))
    }

    fn sudo_use(&mut self, key: SudoKey, s: Span, room: bool) -> Result<(), Cap> {
        let full = self.sudo.len() >= MAX_SUDO;
        spans(&mut self.sudo, key, s, room_for(full, room, Cap::Sudo))
    }

    fn first_use(&mut self, key: KeyKey, f: FirstUse, room: bool) -> Result<(), Cap> {
        let room = room_for(self.keys.len() >= MAX_KEYS, room, Cap::Keys);
        match self.keys.get_mut(&key) {
            Some(old) => {
                let proven = old.proven && f.proven;
                if f.time.is_some() && (old.time.is_none() || f.time < old.time) {
                    *old = f;
                }
                old.proven = proven;
                Ok(())
            }
            None => {
                room?;
                self.keys.insert(key, f);
                Ok(())
            }
        }
    }

    fn change(&mut self, c: Change, room: bool) -> Result<(), Cap> {
        room_for(self.accounts.len() >= MAX_ACCOUNTS, room, Cap::Accounts)?;
        self.accounts.push(c);
        Ok(())
    }
}

/// Whether a new row may be made: not when its kind is full (`cap`), nor
/// when the caller has no room left ([`Cap::Pending`]).
fn room_for(full: bool, room: bool, cap: Cap) -> Result<(), Cap> {
    if full {
        Err(cap)
    } else if !room {
        Err(Cap::Pending)
    } else {
        Ok(())
    }
}

fn spans<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Span>, key: K, s: Span, room: Result<(), Cap>) -> Result<(), Cap> {
    if let Some(old) = map.get_mut(&key) {
        old.add(s.count, s.first, s.last, s.proven);
        return Ok(());
    }
    room?;
    map.insert(key, s);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(user: &str) -> Clue {
        Clue::Login {
            outcome: "failed",
            user: user.into(),
            source: "192.0.2.1".into(),
            method: "password".into(),
            key: None,
        }
    }

    #[test]
    fn counts_and_spans_merge() {
        let t1 = OffsetDateTime::from_unix_timestamp(100).unwrap();
        let t2 = OffsetDateTime::from_unix_timestamp(200).unwrap();
        let mut a = Tally::default();
        a.add(login("root"), Some(t2), "l", true).unwrap();
        let mut b = Tally::default();
        b.add(login("root"), Some(t1), "l", true).unwrap();
        b.add(login("root"), None, "l", true).unwrap();
        let mut total = Tally::default();
        assert!(total.merge(a, true).is_empty());
        assert!(total.merge(b, false).is_empty());
        let s = total.logins.values().next().unwrap();
        assert_eq!((s.count, s.first, s.last, s.proven), (3, Some(t1), Some(t2), false));
    }

    #[test]
    fn caps_hold() {
        let mut t = Tally::default();
        for n in 0..MAX_LOGINS {
            t.add(login(&n.to_string()), None, "l", true).unwrap();
        }
        assert_eq!(t.add(login("one more"), None, "l", true), Err(Cap::Logins));
        // An existing row still counts.
        t.add(login("0"), None, "l", true).unwrap();
        assert_eq!(t.logins.len(), MAX_LOGINS);
        let mut u = Tally::default();
        assert_eq!(u.add(login("x"), None, "l", false), Err(Cap::Pending));
        let mut extra = Tally::default();
        extra.add(login("extra"), None, "l", true).unwrap();
        assert_eq!(t.merge(extra, true), vec![Cap::Logins]);
    }
}
