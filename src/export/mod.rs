//! Exports of a verified archive for the tools examiners already use: a
//! Sleuth Kit body file (`bodyfile`), a Timesketch timeline as CSV or JSON
//! Lines (`timeline`), and CASE/UCO JSON-LD (`case`). docs/EXPORT.md
//! specifies each.
//!
//! [`Exporter`] is a [`MemberSink`]: it writes the rows of a segment's
//! members when the verifier hands them over with their proof, so memory
//! stays bounded by one segment, and every row says whether its member is
//! proven. Custody's own members (`.custody/…`) are not evidence and are
//! left out. The exporter never prints; it writes to the writer it is given.

use std::io::{self, Write};

use base64::Engine as _;

use crate::format::doc::{HeaderDoc, MemberStatus, HEADER_PATH};
use crate::format::tar::{EntryKind, Timestamp};
use crate::format::CUSTODY_DIR;
use crate::verify::{MemberMeta, MemberOutcome, MemberSink, Proof, Report};

mod bodyfile;
mod case;
mod timeline;

/// The largest header document the exporter reads for its archive id and
/// case facts; the verifier itself reads no larger one.
const MAX_HEADER_LEN: usize = 1 << 20;

/// An export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Sleuth Kit body file 3.x, for `mactime -b`.
    Bodyfile,
    /// Timesketch CSV: one row per member and timestamp.
    Csv,
    /// Timesketch JSON Lines: one object per member and timestamp.
    Jsonl,
    /// CASE/UCO JSON-LD: one `uco-observable:File` per member.
    Case,
}

impl Format {
    /// Whether the format records the archive file's own SHA-256, so that
    /// the verifier must hash its input ([`crate::verify::VerifyOptions::hash_input`]).
    pub fn wants_input_sha256(self) -> bool {
        self == Format::Case
    }
}

/// What an export knows of the archive besides its members.
#[derive(Clone, Debug, Default)]
pub struct ArchiveFacts {
    /// The archive's file name, when it was read from a file.
    pub file_name: Option<String>,
}

/// Writes one format; the exporter calls it in stream order.
trait FormatWriter {
    /// Before the first member: the header document, when it could be read.
    fn begin(&mut self, out: &mut dyn Write, header: Option<&HeaderDoc>) -> io::Result<()>;
    /// One evidence member.
    fn member(&mut self, out: &mut dyn Write, row: &Row<'_>) -> io::Result<()>;
    /// After the last member, with the verification's report.
    fn finish(&mut self, out: &mut dyn Write, report: &Report) -> io::Result<()>;
}

/// A [`MemberSink`] that writes an export as the verifier proves segments.
pub struct Exporter<W: Write> {
    out: W,
    writer: Box<dyn FormatWriter>,
    header_bytes: Option<Vec<u8>>,
    /// The member being read is the header document.
    in_header: bool,
    header: Option<HeaderDoc>,
    begun: bool,
    rows: u64,
}

impl<W: Write> Exporter<W> {
    /// An exporter writing `format` to `out`.
    pub fn new(out: W, format: Format, facts: ArchiveFacts) -> Self {
        let writer: Box<dyn FormatWriter> = match format {
            Format::Bodyfile => Box::new(bodyfile::Bodyfile),
            Format::Csv => Box::new(timeline::Timeline::csv()),
            Format::Jsonl => Box::new(timeline::Timeline::jsonl()),
            Format::Case => Box::new(case::Case::new(facts)),
        };
        Exporter {
            out,
            writer,
            header_bytes: None,
            in_header: false,
            header: None,
            begun: false,
            rows: 0,
        }
    }

    /// Evidence members written so far.
    pub fn members(&self) -> u64 {
        self.rows
    }

    /// Write what follows the last member and flush; returns the writer.
    pub fn finish(mut self, report: &Report) -> io::Result<W> {
        self.begin()?;
        self.writer.finish(&mut self.out, report)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn begin(&mut self) -> io::Result<()> {
        if !self.begun {
            self.begun = true;
            if let Some(bytes) = self.header_bytes.take() {
                self.header = serde_json::from_slice(&bytes).ok();
            }
            self.writer.begin(&mut self.out, self.header.as_ref())?;
        }
        Ok(())
    }
}

impl<W: Write> MemberSink for Exporter<W> {
    fn start(&mut self, meta: &MemberMeta) -> io::Result<()> {
        self.in_header = meta.index == 0 && meta.path == HEADER_PATH.as_bytes() && meta.size <= MAX_HEADER_LEN as u64;
        if self.in_header {
            self.header_bytes = Some(Vec::with_capacity(meta.size as usize));
        }
        Ok(())
    }

    fn data(&mut self, chunk: &[u8]) -> io::Result<()> {
        // Only the header document is kept, and only until the first
        // segment is handed over.
        if let (Some(buf), true) = (self.header_bytes.as_mut(), self.in_header) {
            if buf.len() + chunk.len() <= MAX_HEADER_LEN {
                buf.extend_from_slice(chunk);
            }
        }
        Ok(())
    }

    fn segment(&mut self, members: &[MemberOutcome]) -> io::Result<()> {
        self.begin()?;
        let archive_id = self.header.as_ref().map(|h| h.archive_id.as_str());
        for m in members.iter().filter(|m| !is_custody_member(m)) {
            let row = Row::new(m, archive_id);
            self.writer.member(&mut self.out, &row)?;
            self.rows += 1;
        }
        Ok(())
    }
}

/// Custody's own members: listed as such, or unlisted under `.custody/`
/// (the last checkpoint's document and signature, which no listing names).
fn is_custody_member(m: &MemberOutcome) -> bool {
    match &m.entry {
        Some(e) => e.status == MemberStatus::Custody,
        None => m.meta.path.starts_with(CUSTODY_DIR.as_bytes()),
    }
}

/// One evidence member as every format sees it.
pub(crate) struct Row<'a> {
    /// The member as verified.
    pub outcome: &'a MemberOutcome,
    /// The archive the member came from, when its header could be read.
    pub archive_id: Option<&'a str>,
    /// The path on the collected host: `/` and the archive path, without a
    /// directory's trailing `/`. Raw bytes, maybe not UTF-8.
    pub host_path: Vec<u8>,
}

impl<'a> Row<'a> {
    fn new(outcome: &'a MemberOutcome, archive_id: Option<&'a str>) -> Self {
        Row {
            outcome,
            archive_id,
            host_path: host_path(&outcome.meta.path),
        }
    }

    pub fn meta(&self) -> &MemberMeta {
        &self.outcome.meta
    }

    /// The host path as text (invalid UTF-8 replaced by U+FFFD).
    pub fn path_text(&self) -> String {
        String::from_utf8_lossy(&self.host_path).into_owned()
    }

    /// The host path's bytes in standard base64, when they are not UTF-8.
    pub fn path_b64(&self) -> Option<String> {
        std::str::from_utf8(&self.host_path)
            .is_err()
            .then(|| base64::engine::general_purpose::STANDARD.encode(&self.host_path))
    }

    /// A symlink's target, as recorded.
    pub fn symlink_target(&self) -> Option<&[u8]> {
        self.meta().linkpath.as_deref().filter(|_| self.meta().kind == EntryKind::Symlink)
    }

    /// A hard link's earlier member, as a host path.
    pub fn hardlink_target(&self) -> Option<Vec<u8>> {
        let meta = self.meta();
        meta.linkpath.as_deref().filter(|_| meta.kind == EntryKind::HardLink).map(host_path)
    }

    /// The collection status from the signed listing, or `unknown` when no
    /// listing names the member.
    pub fn status(&self) -> &'static str {
        self.outcome.entry.as_ref().map_or("unknown", |e| e.status.name())
    }

    /// The collection status's detail, from the signed listing.
    pub fn detail(&self) -> Option<&str> {
        self.outcome.entry.as_ref().and_then(|e| e.detail.as_deref())
    }

    /// `proven`, `matches-listing`, `altered` or `unproven`.
    pub fn proof(&self) -> &'static str {
        proof_name(&self.outcome.proof)
    }

    /// Why a member is altered.
    pub fn proof_detail(&self) -> Option<&str> {
        match &self.outcome.proof {
            Proof::Altered(why) => Some(why),
            _ => None,
        }
    }

    /// The content's SHA-256 as read (what the proof is about).
    pub fn sha256(&self) -> Option<&str> {
        self.outcome.sha256.as_deref()
    }

    /// Inode number, from the signed listing.
    pub fn inode(&self) -> Option<u64> {
        self.outcome.entry.as_ref().and_then(|e| e.inode.as_ref()).map(|i| i.ino)
    }

    /// Birth time, from the signed listing.
    pub fn btime(&self) -> Option<Timestamp> {
        let facts = self.outcome.entry.as_ref()?.inode.as_ref()?;
        Timestamp::from_pax(facts.btime.as_deref()?)
    }

    /// The type as `ls -l` shows it first: a socket is recorded as an
    /// empty file with status `socket`.
    pub fn type_char(&self) -> char {
        match self.meta().kind {
            EntryKind::Directory => 'd',
            EntryKind::Symlink => 'l',
            EntryKind::CharDevice => 'c',
            EntryKind::BlockDevice => 'b',
            EntryKind::Fifo => 'p',
            EntryKind::File if self.status() == "socket" => 's',
            _ => '-',
        }
    }

    /// The mode as `ls -l` shows it, e.g. `-rw-r--r--` or `drwxrwxrwt`.
    pub fn mode_string(&self) -> String {
        mode_string(self.type_char(), self.meta().mode)
    }

    /// The member's timestamps, in the order mtime, atime, ctime, btime.
    pub fn times(&self) -> Vec<(TimeKind, Timestamp)> {
        let meta = self.meta();
        let mut times = vec![(TimeKind::Modified, meta.mtime)];
        times.extend(meta.atime.map(|t| (TimeKind::Accessed, t)));
        times.extend(meta.ctime.map(|t| (TimeKind::Changed, t)));
        times.extend(self.btime().map(|t| (TimeKind::Born, t)));
        times
    }
}

/// Which of a member's times a timeline row is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeKind {
    /// Content modification (mtime).
    Modified,
    /// Last access (atime).
    Accessed,
    /// Inode change (ctime).
    Changed,
    /// Birth (btime, statx).
    Born,
}

/// The name of a proof state, as `list --json` writes it.
pub fn proof_name(p: &Proof) -> &'static str {
    match p {
        Proof::Proven => "proven",
        Proof::MatchesListing => "matches-listing",
        Proof::Altered(_) => "altered",
        Proof::Unproven => "unproven",
    }
}

/// An archive path as the path it had on the collected host (docs/FORMAT.md
/// §3.5): a leading `/`, no trailing `/`; the root `./` is `/`.
pub fn host_path(archive_path: &[u8]) -> Vec<u8> {
    let trimmed = archive_path.strip_suffix(b"/").unwrap_or(archive_path);
    if trimmed == b"." || trimmed.is_empty() {
        return b"/".to_vec();
    }
    let mut p = Vec::with_capacity(trimmed.len() + 1);
    p.push(b'/');
    p.extend_from_slice(trimmed);
    p
}

/// `ls -l`'s mode string for a type character and mode bits.
pub fn mode_string(type_char: char, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(type_char);
    // (read, write, execute bit, special bit, special letter)
    let triads = [
        (0o400, 0o200, 0o100, 0o4000, 's'),
        (0o040, 0o020, 0o010, 0o2000, 's'),
        (0o004, 0o002, 0o001, 0o1000, 't'),
    ];
    for (r, w, x, special, letter) in triads {
        s.push(if mode & r != 0 { 'r' } else { '-' });
        s.push(if mode & w != 0 { 'w' } else { '-' });
        s.push(match (mode & x != 0, mode & special != 0) {
            (true, true) => letter,
            (false, true) => letter.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// A time as `time` understands it, if it is in its range.
pub(crate) fn to_datetime(t: Timestamp) -> Option<time::OffsetDateTime> {
    let nanos = i128::from(t.secs) * 1_000_000_000 + i128::from(t.nanos);
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths() {
        assert_eq!(host_path(b"etc/passwd"), b"/etc/passwd");
        assert_eq!(host_path(b"etc/"), b"/etc");
        assert_eq!(host_path(b"./"), b"/");
        assert_eq!(host_path(b"."), b"/");
    }

    #[test]
    fn mode_strings() {
        assert_eq!(mode_string('-', 0o644), "-rw-r--r--");
        assert_eq!(mode_string('d', 0o755), "drwxr-xr-x");
        assert_eq!(mode_string('d', 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string('-', 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string('-', 0o2644), "-rw-r-Sr--");
        assert_eq!(mode_string('l', 0o777), "lrwxrwxrwx");
        assert_eq!(mode_string('d', 0o1770), "drwxrwx--T");
    }
}
