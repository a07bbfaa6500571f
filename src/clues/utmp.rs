//! The binary login records of `wtmp` and `btmp`: glibc's `struct utmp` as
//! written on x86-64 (and, identically, on aarch64 and other 64-bit
//! little-endian Linux targets with the 32-bit `ut_tv` compatibility layout).
//!
//! The struct is 384 fixed bytes with no variable part, so it is read here
//! by offsets rather than through a crate: the few named constants below are
//! the whole format, and the code stays pure (no I/O, no libc at run time,
//! so an archive from one machine reads the same on any other).
//!
//! ```text
//! offset size field
//!      0    2 ut_type      i16 (then 2 bytes of padding)
//!      4    4 ut_pid       i32
//!      8   32 ut_line      device, NUL-padded ("pts/0", "ssh:notty")
//!     40    4 ut_id        inittab id
//!     44   32 ut_user      user name, NUL-padded
//!     76  256 ut_host      remote host or address, NUL-padded
//!    332    4 ut_exit      e_termination i16, e_exit i16
//!    336    4 ut_session   i32
//!    340    4 ut_tv.tv_sec  i32
//!    344    4 ut_tv.tv_usec i32
//!    348   16 ut_addr_v6   4 × i32, network byte order; IPv4 in the first word
//!    364   20 reserved
//!    384      end
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Size of one record.
pub const RECORD_LEN: usize = 384;
const TYPE_AT: usize = 0;
const PID_AT: usize = 4;
const LINE_AT: usize = 8;
const LINE_LEN: usize = 32;
const USER_AT: usize = 44;
const USER_LEN: usize = 32;
const HOST_AT: usize = 76;
const HOST_LEN: usize = 256;
const TV_SEC_AT: usize = 340;
const TV_USEC_AT: usize = 344;
const ADDR_AT: usize = 348;
const ADDR_LEN: usize = 16;

/// `ut_type` of a user's login session.
pub const USER_PROCESS: i16 = 7;
/// The highest `ut_type` glibc defines (`ACCOUNTING`); anything above is
/// not a utmp record.
const MAX_TYPE: i16 = 9;

/// One record, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `ut_type`.
    pub kind: i16,
    /// `ut_pid`: the login process (0 in records of no process).
    pub pid: i32,
    /// `ut_line`.
    pub line: String,
    /// `ut_user`.
    pub user: String,
    /// `ut_host`.
    pub host: String,
    /// `ut_addr_v6`, when not all zero.
    pub addr: Option<IpAddr>,
    /// `ut_tv`: seconds, microseconds.
    pub seconds: i64,
    /// Microseconds within the second.
    pub micros: u32,
}

impl Record {
    /// Decodes one record; `None` when its type is not a utmp type (the
    /// bytes are not a record of this layout).
    pub fn parse(bytes: &[u8; RECORD_LEN]) -> Option<Record> {
        let kind = i16::from_le_bytes([bytes[TYPE_AT], bytes[TYPE_AT + 1]]);
        if !(0..=MAX_TYPE).contains(&kind) {
            return None;
        }
        Some(Record {
            kind,
            pid: i32::from_le_bytes([bytes[PID_AT], bytes[PID_AT + 1], bytes[PID_AT + 2], bytes[PID_AT + 3]]),
            line: text(&bytes[LINE_AT..LINE_AT + LINE_LEN]),
            user: text(&bytes[USER_AT..USER_AT + USER_LEN]),
            host: text(&bytes[HOST_AT..HOST_AT + HOST_LEN]),
            addr: address(&bytes[ADDR_AT..ADDR_AT + ADDR_LEN]),
            // The field is a signed 32-bit count, but no login predates
            // 1970: read it unsigned so records after 2038 keep their date.
            seconds: i64::from(u32_at(bytes, TV_SEC_AT)),
            micros: u32_at(bytes, TV_USEC_AT).min(999_999),
        })
    }

    /// Where the login came from: the host field, else the address, else
    /// the terminal line of a local login (`local:tty1`).
    pub fn source(&self) -> String {
        if !self.host.is_empty() {
            self.host.clone()
        } else if let Some(addr) = self.addr {
            addr.to_string()
        } else {
            format!("local:{}", self.line)
        }
    }
}

/// The text fields as the bytes they hold, up to the first NUL, for a
/// reader that keeps names that are not UTF-8 (the `Record` fields are
/// decoded lossily).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawText<'a> {
    /// `ut_line`.
    pub line: &'a [u8],
    /// `ut_user`.
    pub user: &'a [u8],
    /// `ut_host`.
    pub host: &'a [u8],
}

impl<'a> RawText<'a> {
    /// The text fields of one record.
    pub fn of(bytes: &'a [u8; RECORD_LEN]) -> RawText<'a> {
        RawText {
            line: until_nul(&bytes[LINE_AT..LINE_AT + LINE_LEN]),
            user: until_nul(&bytes[USER_AT..USER_AT + USER_LEN]),
            host: until_nul(&bytes[HOST_AT..HOST_AT + HOST_LEN]),
        }
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// A NUL-padded field as text (it need not end with a NUL when full).
fn text(field: &[u8]) -> String {
    String::from_utf8_lossy(until_nul(field)).into_owned()
}

fn until_nul(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

fn address(field: &[u8]) -> Option<IpAddr> {
    if field.iter().all(|&b| b == 0) {
        return None;
    }
    if field[4..].iter().all(|&b| b == 0) {
        return Some(IpAddr::V4(Ipv4Addr::new(field[0], field[1], field[2], field[3])));
    }
    let mut octets = [0u8; 16];
    octets.copy_from_slice(field);
    Some(IpAddr::V6(Ipv6Addr::from(octets)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: i16, user: &str, host: &str, addr: [u8; 16], sec: u32) -> [u8; RECORD_LEN] {
        let mut r = [0u8; RECORD_LEN];
        r[..2].copy_from_slice(&kind.to_le_bytes());
        r[LINE_AT..LINE_AT + 5].copy_from_slice(b"pts/0");
        r[USER_AT..USER_AT + user.len()].copy_from_slice(user.as_bytes());
        r[HOST_AT..HOST_AT + host.len()].copy_from_slice(host.as_bytes());
        r[TV_SEC_AT..TV_SEC_AT + 4].copy_from_slice(&sec.to_le_bytes());
        r[ADDR_AT..ADDR_AT + 16].copy_from_slice(&addr);
        r
    }

    #[test]
    fn decodes_fields_and_addresses() {
        let mut v4 = [0u8; 16];
        v4[..4].copy_from_slice(&[203, 0, 113, 9]);
        let r = Record::parse(&record(USER_PROCESS, "alice", "", v4, 1_800_000_000)).unwrap();
        assert_eq!((r.kind, r.user.as_str(), r.line.as_str()), (7, "alice", "pts/0"));
        assert_eq!(r.source(), "203.0.113.9");
        assert_eq!(r.seconds, 1_800_000_000);

        let v6: [u8; 16] = "2001:db8::7".parse::<Ipv6Addr>().unwrap().octets();
        let r = Record::parse(&record(6, "root", "", v6, 5)).unwrap();
        assert_eq!(r.source(), "2001:db8::7");

        let r = Record::parse(&record(7, "bob", "gw.example", v4, 5)).unwrap();
        assert_eq!(r.source(), "gw.example");

        let r = Record::parse(&record(7, "carol", "", [0; 16], 5)).unwrap();
        assert_eq!(r.source(), "local:pts/0");
    }

    #[test]
    fn full_width_fields_and_bad_types() {
        let long = "u".repeat(USER_LEN);
        let r = Record::parse(&record(7, &long, "", [0; 16], 0)).unwrap();
        assert_eq!(r.user, long);
        assert!(Record::parse(&record(10, "x", "", [0; 16], 0)).is_none());
        assert!(Record::parse(&record(-1, "x", "", [0; 16], 0)).is_none());
    }

    #[test]
    fn pid_and_raw_text() {
        let mut bytes = record(USER_PROCESS, "dave", "h\u{e9}", [0; 16], 5);
        bytes[PID_AT..PID_AT + 4].copy_from_slice(&4242i32.to_le_bytes());
        bytes[USER_AT + 4] = 0xff;
        assert_eq!(Record::parse(&bytes).unwrap().pid, 4242);
        let raw = RawText::of(&bytes);
        assert_eq!(
            (raw.line, raw.user, raw.host),
            (&b"pts/0"[..], &b"dave\xff"[..], "h\u{e9}".as_bytes())
        );
    }

    #[test]
    fn seconds_after_2038_stay_in_the_future() {
        let r = Record::parse(&record(7, "a", "", [0; 16], 3_000_000_000)).unwrap();
        assert_eq!(r.seconds, 3_000_000_000);
    }
}
