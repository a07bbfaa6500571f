//! Sleuth Kit body file 3.x, the input of `mactime -b`: one line per member,
//! `MD5|name|inode|mode_as_string|UID|GID|size|atime|mtime|ctime|crtime`.
//!
//! custody keeps no MD5: the first column holds the content's SHA-256, and
//! `0` where there is none (TSK's own "no hash"). The name is the host path,
//! a symlink's followed by ` -> TARGET` as `fls -m` writes it, and a member
//! that is not proven gets ` (ALTERED)`, ` (UNPROVEN)` or ` (NOT TRUSTED)`
//! after it. `|`, `%` and invalid UTF-8 are written `%XX`, which mactime
//! decodes in every field; control characters and `\` are written `\xNN`,
//! which it shows as they are (docs/EXPORT.md).

use std::io::{self, Write};

use super::{FormatWriter, Row};
use crate::format::doc::HeaderDoc;
use crate::format::tar::Timestamp;
use crate::verify::{Proof, Report};

/// Column separator.
const SEPARATOR: char = '|';
/// The escape byte mactime decodes (`%` and two hex digits).
const ESCAPE: char = '%';
/// The escape of what mactime must not decode (`\x` and two hex digits).
const BACKSLASH: char = '\\';
/// The MD5 column's value when there is no digest.
const NO_DIGEST: &str = "0";

pub(super) struct Bodyfile;

impl FormatWriter for Bodyfile {
    fn begin(&mut self, _out: &mut dyn Write, _header: Option<&HeaderDoc>) -> io::Result<()> {
        Ok(())
    }

    fn member(&mut self, out: &mut dyn Write, row: &Row<'_>) -> io::Result<()> {
        out.write_all(body_line(row).as_bytes())
    }

    fn finish(&mut self, _out: &mut dyn Write, _report: &Report) -> io::Result<()> {
        Ok(())
    }
}

/// The body file line of one member, with its newline.
fn body_line(row: &Row<'_>) -> String {
    let meta = row.meta();
    let mut name = escape(&row.host_path);
    if let Some(target) = row.symlink_target() {
        name.push_str(" -> ");
        name.push_str(&escape(target));
    }
    name.push_str(proof_mark(&row.outcome.proof));
    let secs = |t: Option<Timestamp>| t.map_or(0, |t| t.secs);
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}\n",
        row.sha256().unwrap_or(NO_DIGEST),
        name,
        row.inode().unwrap_or(0),
        row.mode_string(),
        meta.uid,
        meta.gid,
        meta.size,
        secs(meta.atime),
        meta.mtime.secs,
        secs(meta.ctime),
        secs(row.btime()),
    )
}

/// What follows the name of a member that is not proven.
fn proof_mark(p: &Proof) -> &'static str {
    match p {
        Proof::Proven => "",
        Proof::MatchesListing => " (NOT TRUSTED)",
        Proof::Altered(_) => " (ALTERED)",
        Proof::Unproven => " (UNPROVEN)",
    }
}

/// Name bytes as mactime reads them back. The separator, the escape byte
/// and every byte of an invalid UTF-8 sequence are `%XX`, which mactime
/// decodes to the byte itself. Control characters (C0, DEL, C1) and the
/// backslash are `\xNN` per UTF-8 byte, which mactime leaves alone: it drops
/// an entry whose decoded name holds a newline, and prints names to a
/// terminal.
fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == SEPARATOR || c == ESCAPE {
                s.push_str(&format!("%{:02X}", c as u32));
            } else if c.is_control() || c == BACKSLASH {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    s.push_str(&format!("\\x{b:02x}"));
                }
            } else {
                s.push(c);
            }
        }
        for &b in chunk.invalid() {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_what_mactime_splits_or_decodes() {
        assert_eq!(escape(b"/a|b\nc%41"), "/a%7Cb\\x0ac%2541");
        assert_eq!(escape(b"/caf\xc3\xa9 \xff<x>"), "/caf\u{e9} %FF<x>");
        assert_eq!(escape(b"/tab\there\x7f\\"), "/tab\\x09here\\x7f\\x5c");
        assert_eq!(escape("/\u{9b}[31m".as_bytes()), "/\\xc2\\x9b[31m");
    }
}
