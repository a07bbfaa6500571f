//! `custody list`: the archive's members as they are verified, one row per
//! member. The human rows read like GNU `tar -tv` with a proof marker in
//! front; `--json` is the wire format of docs/FORMAT.md §11.2.

use std::io::{self, IsTerminal, Write};
use std::path::Path;

use custody::format::doc::{MemberStatus, PathText};
use custody::format::tar::{EntryKind, Timestamp};
use custody::verify::{self, MemberOutcome, MemberSink, Proof, VerifyOptions};

use crate::{open_input, trust_anchors, verdict_code, TrustArgs};

/// GNU tar's starting width for `owner/group size`; it widens (and so do
/// we) when a longer pair comes by, so columns stay aligned below it.
const OWNER_SIZE_MIN_WIDTH: usize = 19;

/// Starting width of the proof marker column: `ok custody` fits. Like the
/// `owner/group size` field it widens for a longer marker (`matches-listing
/// custody`, in an archive whose signer is not trusted).
const MARKER_MIN_WIDTH: usize = 10;

/// How many rows had each proof, for the closing summary.
#[derive(Default)]
struct ProofCounts {
    proven: u64,
    matches_listing: u64,
    altered: u64,
    unproven: u64,
}

/// Prints members as their segments are verified.
struct ListSink<W: Write> {
    out: W,
    json: bool,
    /// Current width of the proof marker column of human rows.
    marker_width: usize,
    /// Current width of the `owner/group size` field of human rows.
    owner_size_width: usize,
    counts: ProofCounts,
}

impl<W: Write> MemberSink for ListSink<W> {
    fn segment(&mut self, members: &[MemberOutcome]) -> io::Result<()> {
        for m in members {
            if self.json {
                self.json_row(m)?;
            } else {
                self.human_row(m)?;
            }
        }
        Ok(())
    }
}

impl<W: Write> ListSink<W> {
    fn json_row(&mut self, m: &MemberOutcome) -> io::Result<()> {
        let proof = match &m.proof {
            Proof::Proven => "proven".to_string(),
            Proof::MatchesListing => "matches-listing".to_string(),
            Proof::Altered(_) => "altered".to_string(),
            Proof::Unproven => "unproven".to_string(),
        };
        let status = match &m.entry {
            Some(e) => e.status.name(),
            // The last checkpoint's document and signature, which no
            // listing names, are custody members all the same.
            None if is_custody_path(m) => "custody",
            None => "unknown",
        };
        let path = PathText::from_bytes(&m.meta.path);
        let link = link_target(m).map(PathText::from_bytes);
        let obj = serde_json::json!({
            "type": "member",
            "offset": m.meta.offset,
            "path": path.path,
            "path_b64": path.path_b64,
            "linkpath": link.as_ref().and_then(|l| l.path.clone()),
            "linkpath_b64": link.as_ref().and_then(|l| l.path_b64.clone()),
            "kind": m.meta.kind.name(),
            "size": m.meta.size,
            "status": status,
            "detail": m.entry.as_ref().and_then(|e| e.detail.clone()),
            "sha256": m.sha256,
            "proof": proof,
        });
        serde_json::to_writer(&mut self.out, &obj)?;
        writeln!(self.out)
    }

    /// `PROOF MODE OWNER/GROUP SIZE YYYY-MM-DD HH:MM PATH[ -> TARGET][  [STATUS]]`.
    fn human_row(&mut self, m: &MemberOutcome) -> io::Result<()> {
        let meta = &m.meta;
        let status = m.entry.as_ref().map(|e| e.status);
        let custody = status == Some(MemberStatus::Custody) || (status.is_none() && is_custody_path(m));
        let mut marker = match m.proof {
            Proof::Proven => {
                self.counts.proven += 1;
                "ok"
            }
            Proof::MatchesListing => {
                self.counts.matches_listing += 1;
                "matches-listing"
            }
            Proof::Altered(_) => {
                self.counts.altered += 1;
                "ALTERED"
            }
            Proof::Unproven => {
                self.counts.unproven += 1;
                "UNPROVEN"
            }
        }
        .to_string();
        // Custody's own members are not evidence: say so where the eye
        // starts, so they are not mistaken for collected files.
        if custody {
            marker += " custody";
        }
        self.marker_width = self.marker_width.max(marker.len());
        let marker_width = self.marker_width;

        let type_char = match meta.kind {
            EntryKind::File if status == Some(MemberStatus::Socket) => 's',
            EntryKind::File => '-',
            EntryKind::HardLink => 'h',
            EntryKind::Symlink => 'l',
            EntryKind::CharDevice => 'c',
            EntryKind::BlockDevice => 'b',
            EntryKind::Directory => 'd',
            EntryKind::Fifo => 'p',
            EntryKind::PaxExtended | EntryKind::PaxGlobal | EntryKind::Other(_) => '?',
        };
        let mode = custody::export::mode_string(type_char, meta.mode);
        let owner = name_or_id(meta.uname.as_deref(), meta.uid);
        let group = name_or_id(meta.gname.as_deref(), meta.gid);
        let owner_group = format!("{owner}/{group}");
        let size = meta.size.to_string();
        let taken = owner_group.chars().count() + 1;
        self.owner_size_width = self.owner_size_width.max(taken + size.len());
        let size_width = self.owner_size_width - taken;

        let mut path = escaped(&meta.path);
        match (meta.kind, link_target(m)) {
            (EntryKind::Symlink, Some(l)) => path += &format!(" -> {}", escaped(l)),
            (EntryKind::HardLink, Some(l)) => path += &format!(" link to {}", escaped(l)),
            _ => {}
        }
        let failure = match (&m.entry, custody) {
            (Some(e), false) if e.status != MemberStatus::Ok => match &e.detail {
                Some(d) => format!("  [{}: {}]", e.status.name(), escaped(d.as_bytes())),
                None => format!("  [{}]", e.status.name()),
            },
            _ => String::new(),
        };
        writeln!(
            self.out,
            "{marker:<marker_width$} {mode} {owner_group} {size:>size_width$} {} {path}{failure}",
            minutes_utc(meta.mtime)
        )
    }

    /// The lines after the rows: how many rows had each proof, that times
    /// are UTC, and the verdict.
    fn human_summary(&mut self, verdict: &str) -> io::Result<()> {
        let c = &self.counts;
        let total = c.proven + c.matches_listing + c.altered + c.unproven;
        let mut proofs = format!("{} ok", c.proven);
        for (n, name) in [
            (c.altered, "ALTERED"),
            (c.unproven, "UNPROVEN"),
            (c.matches_listing, "matches-listing"),
        ] {
            if n > 0 {
                proofs += &format!(", {n} {name}");
            }
        }
        writeln!(self.out, "{total} members ({proofs}); modification times in UTC")?;
        writeln!(self.out, "verdict: {verdict}")
    }
}

/// The custody directory's members, named or not by a listing.
fn is_custody_path(m: &MemberOutcome) -> bool {
    m.meta.path.starts_with(custody::format::CUSTODY_DIR.as_bytes())
}

/// The link target of a symlink or hard link; other kinds have none.
fn link_target(m: &MemberOutcome) -> Option<&[u8]> {
    m.meta
        .linkpath
        .as_deref()
        .filter(|_| matches!(m.meta.kind, EntryKind::Symlink | EntryKind::HardLink))
}

/// The recorded user or group name, else the numeric id as tar shows it.
fn name_or_id(name: Option<&str>, id: u64) -> String {
    match name {
        Some(n) if !n.is_empty() => escaped(n.as_bytes()),
        _ => id.to_string(),
    }
}

/// `YYYY-MM-DD HH:MM` in UTC; a time outside the calendar's range (only a
/// damaged header gives one) as `@SECONDS`, padded to the same width.
fn minutes_utc(t: Timestamp) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp(t.secs)
        .ok()
        .and_then(|d| d.format(&format).ok())
        .unwrap_or_else(|| format!("{:<16}", format!("@{}", t.secs)))
}

/// Archive bytes as one line of terminal text. A name may hold any byte but
/// `/` and NUL: control characters (which could forge rows or move the
/// cursor), bidirectional overrides (which could reorder what is read) and
/// bytes that are not UTF-8 are written as escapes, and `\` as `\\` so that
/// an escape cannot be forged either.
fn escaped(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => s += "\\\\",
                '\n' => s += "\\n",
                '\t' => s += "\\t",
                '\r' => s += "\\r",
                c if (c as u32) < 0x80 && c.is_control() => s += &format!("\\x{:02x}", c as u32),
                c if c.is_control() || is_bidi_control(c) => s += &format!("\\u{{{:04x}}}", c as u32),
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s += &format!("\\x{b:02x}");
        }
    }
    s
}

/// Unicode's explicit bidirectional formatting characters.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

pub(crate) fn run(archive: &Path, trust: &TrustArgs, json: bool, quiet: bool) -> anyhow::Result<u8> {
    let opts = VerifyOptions {
        trust: trust_anchors(trust)?,
        ..Default::default()
    };
    let mut sink = ListSink {
        out: io::BufWriter::new(io::stdout().lock()),
        json,
        marker_width: MARKER_MIN_WIDTH,
        owner_size_width: OWNER_SIZE_MIN_WIDTH,
        counts: ProofCounts::default(),
    };
    // On a terminal the listing is its own progress; a bar would garble it.
    let quiet = quiet || io::stdout().is_terminal();
    let (input, progress) = super::progress::InputProgress::over(archive, open_input(archive)?, quiet);
    let verified = verify::verify(input, &opts, &mut sink);
    drop(progress);
    let report = verified?;
    if json {
        let obj = serde_json::json!({"type": "summary", "verdict": report.verdict, "findings": report.findings});
        serde_json::to_writer(&mut sink.out, &obj)?;
        writeln!(sink.out)?;
    } else {
        sink.human_summary(report.verdict.name())?;
    }
    sink.out.flush()?;
    Ok(verdict_code(report.verdict))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_never_raw() {
        assert_eq!(escaped(b"plain name.txt"), "plain name.txt");
        assert_eq!(escaped(b"two\nlines"), "two\\nlines");
        assert_eq!(escaped(b"esc\x1b[2Jclear"), "esc\\x1b[2Jclear");
        assert_eq!(escaped(b"back\\slash"), "back\\\\slash");
        assert_eq!(escaped(b"caf\xe9"), "caf\\xe9");
        assert_eq!(escaped("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(escaped("txt.\u{202e}exe".as_bytes()), "txt.\\u{202e}exe");
        assert_eq!(escaped("c1\u{9b}".as_bytes()), "c1\\u{009b}");
    }

    #[test]
    fn times_are_utc_minutes_and_never_panic() {
        assert_eq!(minutes_utc(Timestamp { secs: 0, nanos: 0 }), "1970-01-01 00:00");
        assert_eq!(
            minutes_utc(Timestamp {
                secs: 1_700_000_059,
                nanos: 999_999_999
            }),
            "2023-11-14 22:14"
        );
        assert_eq!(
            minutes_utc(Timestamp { secs: i64::MAX, nanos: 0 }).trim_end(),
            format!("@{}", i64::MAX)
        );
    }
}
