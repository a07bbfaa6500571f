//! Reading members from the decoded stream: the tar header and its pax
//! records, then the content, hashed into the segment digest and the
//! member's content digest and passed to the sink as it goes.

use std::io::{self, Read};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::decoded::{Chunk, Decoded};
use super::findings::FindingKind;
use super::{MemberMeta, Verifier, VerifyError, READ_PIECE};
use crate::format::doc;
use crate::format::tar::{self, EntryKind, Timestamp, BLOCK};
use crate::format::{digest, sparse};
use crate::format::{MAX_DOCUMENT_LEN, MAX_PAX_LEN};

/// Byte source: decompressed stream with position and truncation tracking.
pub(super) struct Stream {
    pub(super) inner: Decoded,
    pub(super) pos: u64,
}

pub(super) enum ReadEnd {
    /// Clean end of input.
    Eof,
    /// Input ended inside a zstd frame.
    TruncatedFrame,
    /// zstd refused the data.
    Damaged(String),
    /// The bytes decompress but are not a well-formed tar member header;
    /// `not_tar` when the block is not even a ustar header.
    Malformed { reason: String, not_tar: bool },
}

impl Stream {
    /// Fill `buf` completely; on a short read returns how much was read and why.
    pub(super) fn fill(&mut self, buf: &mut [u8]) -> Result<(), (usize, ReadEnd)> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => return Err((got, ReadEnd::Eof)),
                Ok(n) => {
                    got += n;
                    self.pos += n as u64;
                }
                Err(e) => return Err((got, read_end(e))),
            }
        }
        Ok(())
    }

    /// Up to `max` bytes, shared without copying.
    fn view(&mut self, max: usize) -> Result<(Arc<Chunk>, std::ops::Range<usize>), ReadEnd> {
        match self.inner.view(max) {
            Ok(Some((chunk, range))) => {
                self.pos += range.len() as u64;
                Ok((chunk, range))
            }
            Ok(None) => Err(ReadEnd::Eof),
            Err(e) => Err(read_end(e)),
        }
    }
}

fn read_end(e: io::Error) -> ReadEnd {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        ReadEnd::TruncatedFrame
    } else {
        ReadEnd::Damaged(e.to_string())
    }
}

/// A member as observed in the stream.
pub(super) struct Observed {
    pub(super) meta: MemberMeta,
    pub(super) header_digest: String,
    pub(super) sha256: Option<String>,
    /// The number under which the content hasher computes `sha256`, until
    /// [`Verifier::settle`] fills it in.
    pub(super) pending: Option<u64>,
    /// The number under which the segment hasher computes `header_digest`,
    /// until it is settled likewise.
    pub(super) pending_header: Option<u64>,
    /// Content, kept only for custody documents.
    pub(super) content: Option<Vec<u8>>,
    /// Raw header bytes (for canonical checks of custody members).
    pub(super) header_bytes: Vec<u8>,
    /// Stream position after the member's content and padding.
    pub(super) end: u64,
}

pub(super) enum Next {
    Member(Box<Observed>),
    /// A zero block at this offset.
    EndMarker(u64),
    /// The stream stopped.
    Stopped(ReadEnd, u64),
}

impl Verifier<'_> {
    /// Read the next member, hashing every byte into the segment digest.
    pub(super) fn next_member(&mut self) -> Result<Next, VerifyError> {
        let offset = self.stream.pos;
        let mut block = [0u8; BLOCK];
        if let Err((_, end)) = self.stream.fill(&mut block) {
            return Ok(Next::Stopped(end, offset));
        }
        if tar::is_zero_block(&block) {
            return Ok(Next::EndMarker(offset));
        }
        let mut header_bytes = block.to_vec();
        let mut ustar = match tar::parse_ustar(&block) {
            Ok(h) => h,
            Err(e) => {
                let not_tar = matches!(e, tar::HeaderError::Magic(_));
                return Ok(Next::Stopped(
                    ReadEnd::Malformed {
                        reason: format!("malformed tar header: {e}"),
                        not_tar,
                    },
                    offset,
                ));
            }
        };
        let mut pax = Vec::new();
        if ustar.kind == EntryKind::PaxExtended {
            if ustar.size > MAX_PAX_LEN {
                let msg = format!("pax extended header of {} bytes exceeds the {MAX_PAX_LEN}-byte limit", ustar.size);
                return Ok(Next::Stopped(
                    ReadEnd::Malformed {
                        reason: msg,
                        not_tar: false,
                    },
                    offset,
                ));
            }
            let mut recs = vec![0u8; ustar.size as usize + tar::padding(ustar.size)];
            if let Err((_, end)) = self.stream.fill(&mut recs) {
                return Ok(Next::Stopped(end, offset));
            }
            header_bytes.extend_from_slice(&recs);
            pax = match tar::parse_pax_records(&recs[..ustar.size as usize]) {
                Ok(p) => p,
                Err(e) => {
                    return Ok(Next::Stopped(
                        ReadEnd::Malformed {
                            reason: e.to_string(),
                            not_tar: false,
                        },
                        offset,
                    ))
                }
            };
            if let Err((_, end)) = self.stream.fill(&mut block) {
                return Ok(Next::Stopped(end, offset));
            }
            header_bytes.extend_from_slice(&block);
            ustar = match tar::parse_ustar(&block) {
                Ok(h) if h.kind != EntryKind::PaxExtended => h,
                Ok(_) => {
                    return Ok(Next::Stopped(
                        ReadEnd::Malformed {
                            reason: "two pax headers in a row".into(),
                            not_tar: false,
                        },
                        offset,
                    ))
                }
                Err(e) => {
                    return Ok(Next::Stopped(
                        ReadEnd::Malformed {
                            reason: format!("malformed tar header: {e}"),
                            not_tar: false,
                        },
                        offset,
                    ))
                }
            };
        }
        let meta = member_meta(self.members_read, offset, &ustar, &pax);
        self.members_read += 1;
        if let Some((_, false)) = doc::parse_checkpoint_path(&meta.path) {
            self.end_segment_bytes();
        }
        let header_number = self.segment.update_header(&header_bytes);
        self.sink.start(&meta).map_err(VerifyError::Sink)?;
        // Only the documents the verifier reads are kept: the header, the
        // checkpoints with their signatures, the manifests, which hold
        // the content digests of their segment's files, and trusted-time
        // tokens (§15).
        let stored_size = meta.stored_size;
        let keep = (meta.path == doc::HEADER_PATH.as_bytes()
            || doc::parse_checkpoint_path(&meta.path).is_some()
            || doc::parse_manifest_path(&meta.path).is_some()
            || crate::format::timestamp::parse_timestamp_path(&meta.path).is_some()
            || crate::format::part::parse_part_path(&meta.path).is_some())
            && !meta.sparse
            && meta.stored_size <= MAX_DOCUMENT_LEN;
        let mut observed = Observed {
            meta,
            header_digest: String::new(),
            sha256: None,
            pending: None,
            pending_header: Some(header_number),
            content: keep.then(|| Vec::with_capacity(stored_size as usize)),
            // Only custody members' headers are compared byte for byte; an
            // evidence member's header is known by its digest, which keeps
            // a segment's memory small.
            header_bytes: if keep { header_bytes } else { Vec::new() },
            end: 0,
        };
        if observed.meta.kind.has_content() {
            if let Some(end) = self.read_content(&mut observed)? {
                return Ok(Next::Stopped(end, offset));
            }
        }
        observed.end = self.stream.pos;
        Ok(Next::Member(Box::new(observed)))
    }

    /// Read a member's content from the decoded chunks themselves (no copy),
    /// into its digests, the segment digest and the sink.
    fn read_content(&mut self, o: &mut Observed) -> Result<Option<ReadEnd>, VerifyError> {
        let invalid = if o.meta.sparse {
            match self.read_sparse(o)? {
                Ok(invalid) => invalid,
                Err(end) => return Ok(Some(end)),
            }
        } else {
            if let Some(end) = self.read_plain(o)? {
                return Ok(Some(end));
            }
            None
        };
        let pad = tar::padding(o.meta.stored_size);
        let mut padding = [0u8; BLOCK];
        if let Err((got, end)) = self.stream.fill(&mut padding[..pad]) {
            self.segment.update(&padding[..got]);
            return Ok(Some(end));
        }
        self.segment.update(&padding[..pad]);
        if padding.iter().any(|&b| b != 0) {
            let msg = "non-zero bytes in the padding after the member's content".to_string();
            self.find(
                FindingKind::BadPadding,
                msg,
                Some(&o.meta.path),
                Some(o.meta.offset),
                Some(self.checkpoint_seq + 1),
            );
        }
        if let Some(e) = invalid {
            // No digest: the member cannot match what a checkpoint signed.
            let msg = format!("the stored content of a sparse file cannot be expanded: {e}");
            self.find(
                FindingKind::MalformedHeader,
                msg,
                Some(&o.meta.path),
                Some(o.meta.offset),
                Some(self.checkpoint_seq + 1),
            );
        }
        Ok(None)
    }

    /// Content stored as is: its digests are computed on the content
    /// hasher's thread, and filled in by [`Verifier::settle`].
    fn read_plain(&mut self, o: &mut Observed) -> Result<Option<ReadEnd>, VerifyError> {
        let mut left = o.meta.stored_size;
        let mut stopped = None;
        while left > 0 {
            let (chunk, range) = match self.stream.view(left.min(READ_PIECE as u64) as usize) {
                Ok(v) => v,
                Err(end) => {
                    stopped = Some(end);
                    break;
                }
            };
            self.segment.update_shared(&chunk, range.clone());
            self.content.update_shared(&chunk, range.clone());
            let bytes = &chunk[range];
            left -= bytes.len() as u64;
            if let Some(c) = o.content.as_mut() {
                c.extend_from_slice(bytes);
            }
            if let Err(e) = self.sink.data(bytes) {
                self.content.end_member();
                return Err(VerifyError::Sink(e));
            }
        }
        // Every member started on the content hasher ends there, so the
        // next begins afresh.
        let number = self.content.end_member();
        if stopped.is_none() {
            o.pending = Some(number);
        }
        Ok(stopped)
    }

    /// Content in the sparse format, expanded and hashed here. Returns why
    /// it cannot be expanded, if so (and then leaves it without digests).
    fn read_sparse(&mut self, o: &mut Observed) -> Result<Result<Option<sparse::SparseError>, ReadEnd>, VerifyError> {
        let mut sha = Sha256::new();
        let mut content = o.content.take();
        let sink = &mut *self.sink;
        let mut emit = |p: sparse::Piece<'_>| -> Result<(), DigestError> {
            match p {
                sparse::Piece::Data(d) => {
                    sha.update(d);
                    if let Some(c) = content.as_mut() {
                        c.extend_from_slice(d);
                    }
                    sink.data(d).map_err(DigestError::Sink)
                }
                sparse::Piece::Hole(n) => {
                    digest::sha256_zeros(&mut sha, n);
                    sink.hole(n).map_err(DigestError::Sink)
                }
            }
        };
        let mut expander = sparse::Expander::new(o.meta.size, &mut emit);
        let mut left = o.meta.stored_size;
        let mut invalid: Option<sparse::SparseError> = None;
        while left > 0 {
            let (chunk, range) = match self.stream.view(left.min(READ_PIECE as u64) as usize) {
                Ok(v) => v,
                Err(end) => return Ok(Err(end)),
            };
            let n = range.len();
            self.segment.update_shared(&chunk, range.clone());
            if invalid.is_none() {
                match expander.feed(&chunk[range]) {
                    Ok(()) => {}
                    Err(DigestError::Sparse(e)) => invalid = Some(e),
                    Err(DigestError::Sink(e)) => return Err(VerifyError::Sink(e)),
                }
            }
            left -= n as u64;
        }
        if invalid.is_none() {
            match expander.finish() {
                Ok(()) => {}
                Err(DigestError::Sparse(e)) => invalid = Some(e),
                Err(DigestError::Sink(e)) => return Err(VerifyError::Sink(e)),
            }
        }
        o.content = content;
        if invalid.is_none() {
            o.sha256 = Some(hex::encode(sha.finalize()));
        }
        Ok(Ok(invalid))
    }
}

impl Verifier<'_> {
    /// A custody member that is not in this stream but whose bytes are
    /// known exactly (`bytes`: canonical header, then `content` and its
    /// padding), at tar offset `offset`: read as if it were, into the
    /// segment digest and the sink. A part's first segment begins with two
    /// such members, copied in its part document (FORMAT.md §18).
    pub(super) fn rebuilt_member(&mut self, offset: u64, bytes: &[u8], content: &[u8]) -> Result<Observed, VerifyError> {
        let header_len = bytes.len() - content.len() - tar::padding(content.len() as u64);
        let header_bytes = &bytes[..header_len];
        let block = |at: usize| -> [u8; BLOCK] { header_bytes[at..at + BLOCK].try_into().expect("a whole block") };
        let mut ustar = tar::parse_ustar(&block(0)).map_err(|e| io::Error::other(e.to_string()))?;
        let mut pax = Vec::new();
        if ustar.kind == EntryKind::PaxExtended {
            pax = tar::parse_pax_records(&header_bytes[BLOCK..BLOCK + ustar.size as usize]).map_err(|e| io::Error::other(e.to_string()))?;
            ustar = tar::parse_ustar(&block(header_len - BLOCK)).map_err(|e| io::Error::other(e.to_string()))?;
        }
        let meta = member_meta(self.members_read, offset, &ustar, &pax);
        self.members_read += 1;
        let header_number = self.segment.update_header(header_bytes);
        self.segment.update(&bytes[header_len..]);
        self.sink.start(&meta).map_err(VerifyError::Sink)?;
        self.sink.data(content).map_err(VerifyError::Sink)?;
        Ok(Observed {
            meta,
            header_digest: String::new(),
            sha256: Some(hex::encode(Sha256::digest(content))),
            pending: None,
            pending_header: Some(header_number),
            content: None,
            header_bytes: header_bytes.to_vec(),
            end: offset + bytes.len() as u64,
        })
    }
}

fn member_meta(index: u64, offset: u64, ustar: &tar::UstarHeader, pax: &[(Vec<u8>, Vec<u8>)]) -> MemberMeta {
    let get = |k: &[u8]| pax.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let text = |k: &[u8]| get(k).and_then(|v| String::from_utf8(v).ok());
    let stored_size = text(b"size").and_then(|s| s.parse().ok()).unwrap_or(ustar.size);
    let real_size = (text(b"GNU.sparse.major").as_deref() == Some("1") && text(b"GNU.sparse.minor").as_deref() == Some("0"))
        .then(|| text(b"GNU.sparse.realsize").and_then(|s| s.parse::<u64>().ok()))
        .flatten()
        .filter(|_| ustar.kind == EntryKind::File);
    let path = match real_size {
        Some(_) => get(b"GNU.sparse.name"),
        None => None,
    };
    MemberMeta {
        index,
        offset,
        path: path.or_else(|| get(b"path")).unwrap_or_else(|| ustar.name.clone()),
        kind: ustar.kind,
        size: real_size.unwrap_or(stored_size),
        stored_size,
        sparse: real_size.is_some(),
        mode: ustar.mode,
        mtime: text(b"mtime").and_then(|s| Timestamp::from_pax(&s)).unwrap_or(Timestamp {
            secs: ustar.mtime as i64,
            nanos: 0,
        }),
        linkpath: get(b"linkpath").or_else(|| (!ustar.linkname.is_empty()).then(|| ustar.linkname.clone())),
        uid: text(b"uid").and_then(|s| s.parse().ok()).unwrap_or(ustar.uid),
        gid: text(b"gid").and_then(|s| s.parse().ok()).unwrap_or(ustar.gid),
        atime: text(b"atime").and_then(|s| Timestamp::from_pax(&s)),
        ctime: text(b"ctime").and_then(|s| Timestamp::from_pax(&s)),
        uname: text(b"uname").or_else(|| (!ustar.uname.is_empty()).then(|| String::from_utf8_lossy(&ustar.uname).into_owned())),
        gname: text(b"gname").or_else(|| (!ustar.gname.is_empty()).then(|| String::from_utf8_lossy(&ustar.gname).into_owned())),
    }
}

/// Why logical content could not be delivered.
enum DigestError {
    Sparse(sparse::SparseError),
    Sink(io::Error),
}

impl From<sparse::SparseError> for DigestError {
    fn from(e: sparse::SparseError) -> Self {
        DigestError::Sparse(e)
    }
}
