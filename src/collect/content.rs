//! Writing members' content: exactly the size the header states, whatever
//! the file does meanwhile (what it did goes in the member's status), and
//! files with holes in the sparse format.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;

use super::member::Member;
use super::readahead::ReadContent;
use super::writer::Msg;
use super::{signal_name, CollectError, Collector, READ_CHUNK, ZERO_SIZE_READ_LIMIT};
use crate::format::doc::{self, MemberEntry, MemberStatus, PathText};
use crate::format::sparse;
use crate::format::tar::{self, MemberHeader};
use crate::source::{Meta, SourceEntry};

impl<W: Write + Send + 'static> Collector<'_, W> {
    /// Files that report size 0 are read first (bounded), so that pseudo-files
    /// with content are stored whole and the header states the true size.
    pub(super) fn archive_small_file(&mut self, mut m: Member, file: File) -> Result<(), CollectError> {
        let mut data = Vec::new();
        match file.take(ZERO_SIZE_READ_LIMIT as u64 + 1).read_to_end(&mut data) {
            Err(err) => m.fail(MemberStatus::ReadError, format!("read failed: {err}")),
            Ok(_) if data.len() > ZERO_SIZE_READ_LIMIT => {
                data.truncate(ZERO_SIZE_READ_LIMIT);
                m.fail(
                    MemberStatus::Grew,
                    format!("reported size 0; the first {ZERO_SIZE_READ_LIMIT} bytes are archived"),
                );
            }
            Ok(0) => {}
            Ok(n) => m.note(format!("reported size 0; {n} bytes of content read")),
        }
        m.header.size = data.len() as u64;
        self.progress.read(m.header.size);
        self.write_member_bytes(m, &data)
    }

    /// A file read ahead: exactly `size` bytes, as [`Self::stream_content`]
    /// writes them, with what the read found.
    pub(super) fn write_read_ahead(&mut self, mut m: Member, read: ReadContent) -> Result<(), CollectError> {
        let (offset, header_digest) = self.write_header(&m.header)?;
        self.begin_content()?;
        self.content(&read.data)?;
        self.progress.read(read.data.len() as u64);
        self.content_zeros(m.header.size - read.data.len() as u64)?;
        if let Some((status, detail)) = read.outcome {
            m.fail(status, detail);
        }
        self.finish_member(m, offset, header_digest, true)
    }

    pub(super) fn write_member_bytes(&mut self, m: Member, data: &[u8]) -> Result<(), CollectError> {
        let (offset, header_digest) = self.write_header(&m.header)?;
        self.begin_content()?;
        self.content(data)?;
        self.finish_member(m, offset, header_digest, true)
    }

    /// Write a member's header; its header digest now, or later from the
    /// writer thread (`None`), which hashes it off the walking thread.
    fn write_header(&mut self, h: &MemberHeader) -> Result<(u64, Option<String>), CollectError> {
        let offset = self.pos;
        let bytes = h.encode();
        let len = bytes.len() as u64;
        let mut now = None;
        self.emit(
            len,
            |s| {
                now = Some(doc::header_digest(&bytes));
                s.raw(&bytes)
            },
            || Msg::Header(bytes.clone()),
        )?;
        Ok((offset, now))
    }

    /// Pad the member's content and list it; `content` when it has some
    /// (its digests come from the stream).
    fn finish_member(&mut self, m: Member, offset: u64, header_digest: Option<String>, content: bool) -> Result<(), CollectError> {
        let h = m.header;
        let sha256 = if content { self.end_content()? } else { None };
        self.raw_zeros(tar::padding(h.size) as u64)?;
        let awaiting = content && sha256.is_none();
        let logical_size = h.sparse_real_size.unwrap_or(h.size);
        self.progress.member(&h.path, logical_size);
        let entry = MemberEntry {
            offset,
            path: PathText::from_bytes(&h.path),
            kind: h.kind.name().into(),
            size: logical_size,
            header_digest: header_digest.clone().unwrap_or_default(),
            sha256,
            status: m.status,
            detail: m.detail,
            inode: m.inode,
        };
        self.record(entry, m.evidence);
        if header_digest.is_none() {
            self.pending_headers.push_back(self.segment_members.len() - 1);
        }
        if awaiting {
            self.pending.push_back(self.segment_members.len() - 1);
        }
        Ok(())
    }

    /// Write a member; for regular files, stream exactly `size` bytes from the
    /// open file whatever happens to it meanwhile, and note what did.
    pub(super) fn write_member(&mut self, mut m: Member, file: Option<Reading<'_>>) -> Result<(), CollectError> {
        let (offset, header_digest) = self.write_header(&m.header)?;
        if !m.header.kind.has_content() {
            return self.finish_member(m, offset, header_digest, false);
        }
        self.begin_content()?;
        if let Some(reading) = file {
            if let Some((status, detail)) = self.stream_content(reading, m.header.size)? {
                m.fail(status, detail);
            }
        }
        self.finish_member(m, offset, header_digest, true)
    }

    /// Write a sparse file: the map, then each data region read at its
    /// offset; the digests cover the logical content, holes included.
    pub(super) fn write_sparse(&mut self, mut m: Member, reading: Reading<'_>, regions: &[sparse::Region]) -> Result<(), CollectError> {
        let (file, before, entry) = reading;
        let (offset, header_digest) = self.write_header(&m.header)?;
        self.raw(&sparse::encode_map(regions))?;
        self.begin_content()?;
        let mut logical = 0u64;
        let mut short: Option<String> = None;
        for r in regions {
            self.hole(r.offset - logical)?;
            self.progress.read(r.offset - logical);
            let mut done = 0u64;
            while done < r.len {
                let want = (r.len - done).min(READ_CHUNK as u64) as usize;
                if short.is_none() {
                    if let Some(signal) = self.stop_signal() {
                        short = Some(format!(
                            "collection interrupted by {} at byte {}",
                            signal_name(signal),
                            r.offset + done
                        ));
                    }
                }
                let mut buf = self.chunk();
                let n = if short.is_some() {
                    0
                } else {
                    match file.read_at(&mut buf[..want], r.offset + done) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                            self.keep_chunk(buf);
                            continue;
                        }
                        Err(e) => {
                            short = Some(format!("read failed at byte {}: {e}", r.offset + done));
                            0
                        }
                    }
                };
                let k = if n == 0 {
                    short.get_or_insert_with(|| format!("shrank while read: ended at byte {}", r.offset + done));
                    self.keep_chunk(buf);
                    self.content_zeros(want as u64)?;
                    want
                } else {
                    self.content_chunk(buf, n)?;
                    n
                };
                done += k as u64;
                self.progress.read(k as u64);
            }
            logical = r.offset + r.len;
        }
        self.hole(m.header.sparse_real_size.unwrap_or(logical) - logical)?;
        if let Some(why) = short {
            let status = if why.starts_with("read failed") {
                MemberStatus::ReadError
            } else if why.starts_with("collection interrupted") {
                MemberStatus::Interrupted
            } else {
                MemberStatus::Shrank
            };
            m.fail(status, format!("{why}; the rest is zero-filled"));
        } else if let Some((status, detail)) = changed_while_read(&file, &before, entry) {
            m.fail(status, detail);
        } else {
            let stored = m.header.size;
            let data_regions = regions.iter().filter(|r| r.len > 0).count();
            m.note(format!("sparse: {data_regions} data regions, {stored} bytes stored"));
        }
        self.finish_member(m, offset, header_digest, true)
    }

    /// Returns the status and detail when the file did not stay still.
    fn stream_content(&mut self, reading: Reading<'_>, size: u64) -> Result<Option<(MemberStatus, String)>, CollectError> {
        let (mut f, before, entry) = reading;
        let mut done: u64 = 0;
        let mut failure = None;
        let mut stopped = None;
        while done < size {
            if let Some(signal) = self.stop_signal() {
                stopped = Some(signal);
                break;
            }
            let want = (size - done).min(READ_CHUNK as u64) as usize;
            let mut buf = self.chunk();
            match f.read(&mut buf[..want]) {
                Ok(0) => {
                    self.keep_chunk(buf);
                    break;
                }
                Ok(n) => {
                    self.content_chunk(buf, n)?;
                    done += n as u64;
                    self.progress.read(n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.keep_chunk(buf),
                Err(e) => {
                    self.keep_chunk(buf);
                    failure = Some(e);
                    break;
                }
            }
        }
        if done < size {
            // Keep the stream valid: the header promised `size` bytes.
            self.content_zeros(size - done)?;
            if let Some(signal) = stopped {
                return Ok(Some((
                    MemberStatus::Interrupted,
                    format!(
                        "collection interrupted by {} after {done} of {size} bytes; the rest is zero-filled",
                        signal_name(signal)
                    ),
                )));
            }
            return Ok(Some(short_read(done, size, failure)));
        }
        Ok(after_full_read(&f, &before, entry))
    }
}

/// A file that gave fewer bytes than its size said.
pub(super) fn short_read(done: u64, size: u64, failure: Option<io::Error>) -> (MemberStatus, String) {
    match failure {
        Some(e) => (
            MemberStatus::ReadError,
            format!("read failed after {done} of {size} bytes: {e}; the rest is zero-filled"),
        ),
        None => (
            MemberStatus::Shrank,
            format!("shrank while read: {done} of {size} bytes read; the rest is zero-filled"),
        ),
    }
}

/// After `size` bytes were read: whether the file has more, or changed.
pub(super) fn after_full_read(mut f: &File, before: &Meta, entry: &SourceEntry) -> Option<(MemberStatus, String)> {
    let mut probe = [0u8; 1];
    if matches!(f.read(&mut probe), Ok(1)) {
        return Some((
            MemberStatus::Grew,
            format!("grew while read; the first {} bytes are archived", before.size),
        ));
    }
    changed_while_read(f, before, entry)
}

/// Whether an open file changed while it was read: its size, mtime or ctime
/// differs from `before`.
fn changed_while_read(f: &File, before: &Meta, entry: &SourceEntry) -> Option<(MemberStatus, String)> {
    match Meta::of_file(f) {
        Ok(after) if after.size > before.size => Some((
            MemberStatus::Grew,
            format!("grew from {} to {} bytes while read; the first {} are archived", before.size, after.size, before.size),
        )),
        Ok(after) if after.size != before.size => Some((
            MemberStatus::Changed,
            format!("size changed from {} to {} while read", before.size, after.size),
        )),
        Ok(after) if after.mtime != before.mtime || after.ctime != before.ctime => {
            Some((MemberStatus::Changed, "modified while read (mtime or ctime changed)".into()))
        }
        _ => match entry.stat() {
            Ok(now) if (now.dev, now.ino) == (before.dev, before.ino) => None,
            Ok(now) => Some((
                MemberStatus::Changed,
                format!(
                    "replaced (e.g. rotated) while read: the path now leads to inode {}; the content archived is that of inode {}, as opened",
                    now.ino, before.ino
                ),
            )),
            Err(_) => Some((
                MemberStatus::Changed,
                format!("renamed or deleted while read; the content archived is that of inode {}, as opened", before.ino),
            )),
        },
    }
}

/// A regular file being read: the open file, its metadata when opened, and
/// the walk's entry for it.
pub(super) type Reading<'e> = (File, Meta, &'e SourceEntry);

/// A file with holes is stored in the sparse format when it has at most
/// this many data regions; beyond that it is stored whole.
const MAX_SPARSE_REGIONS: usize = 65_536;

/// The data regions of a file that has holes, or `None` to store it whole
/// (no holes, too many regions, or a filesystem that cannot say).
pub(super) fn sparse_regions(file: &File, md: &Meta) -> Option<Vec<sparse::Region>> {
    use rustix::fs::SeekFrom;
    let size = md.size;
    if md.blocks.saturating_mul(512) >= size {
        return None;
    }
    let mut regions = Vec::new();
    let mut pos = 0u64;
    while pos < size {
        let data = match rustix::fs::seek(file, SeekFrom::Data(pos)) {
            Ok(d) => d,
            Err(rustix::io::Errno::NXIO) => break,
            Err(_) => return None,
        };
        if data >= size {
            break;
        }
        let hole = rustix::fs::seek(file, SeekFrom::Hole(data)).ok()?.min(size);
        if hole <= data {
            return None;
        }
        regions.push(sparse::Region {
            offset: data,
            len: hole - data,
        });
        if regions.len() > MAX_SPARSE_REGIONS {
            return None;
        }
        pos = hole;
    }
    let stored: u64 = regions.iter().map(|r| r.len).sum();
    if stored == size {
        return None;
    }
    if regions.last().is_none_or(|r| r.offset + r.len < size) {
        regions.push(sparse::Region { offset: size, len: 0 });
    }
    Some(regions)
}
