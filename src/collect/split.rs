//! Split output (docs/FORMAT.md §18): the archive written as part files,
//! `ARCHIVE.part-0001`, `ARCHIVE.part-0002`, ..., each ending right after a
//! checkpoint's signature, where a zstd frame ends anyway.
//!
//! The collector decides where a part ends, between members: before a member
//! that could take the part past its size, it signs a checkpoint (or uses
//! the one just signed) and tells the writer thread to end the part there
//! ([`super::writer::Msg::EndPart`]). That thread writes every frame so far
//! and then [`PartFiles::cut`]s, so the next byte goes into a new file. The
//! next part begins with its part document. Nothing is buffered for this:
//! a part is written as it is compressed, like an unsplit archive.

use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use super::{CollectError, Collector};
use crate::format::doc;
use crate::format::part::{self, PartDoc};

/// What is kept free in a part for the checkpoint that ends it: the tar
/// headers of its manifest, document and signature, the signature, and
/// trusted-time tokens written between members (a few KiB each).
const CHECKPOINT_RESERVE: u64 = 16 * 1024;
/// A member's header bytes, counted generously.
const MEMBER_HEADER_RESERVE: u64 = 4 * 1024;

/// One part file as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartRecord {
    /// The part's number, from 1.
    pub part: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
}

/// Opens part N (from 2) for writing: the first part is given open.
pub type OpenPart = Box<dyn FnMut(u64) -> io::Result<Box<dyn Write + Send>> + Send>;

/// The part files of a split collection, as the collector and the caller
/// see them: the part size, where parts end, and what was written.
#[derive(Clone)]
pub struct PartFiles {
    size: u64,
    shared: Arc<Mutex<Shared>>,
}

struct Shared {
    /// The next write begins a new part.
    cut: bool,
    /// The part being written, its digest and size so far.
    part: u64,
    sha: Sha256,
    bytes: u64,
    done: Vec<PartRecord>,
}

/// The output of a split collection: writes into the current part file and
/// opens the next one when told to.
pub struct PartWriter {
    file: Box<dyn Write + Send>,
    open: OpenPart,
    shared: Arc<Mutex<Shared>>,
}

impl PartFiles {
    /// Parts of at most about `size` compressed bytes: `first` is part 1,
    /// `open` opens each later part. Give the [`PartWriter`] to
    /// [`Collector::start`] as its output and these [`PartFiles`] in
    /// [`super::CollectOptions::split`].
    pub fn new(size: u64, first: Box<dyn Write + Send>, open: OpenPart) -> (PartFiles, PartWriter) {
        let shared = Arc::new(Mutex::new(Shared {
            cut: false,
            part: 1,
            sha: Sha256::new(),
            bytes: 0,
            done: Vec::new(),
        }));
        let writer = PartWriter {
            file: first,
            open,
            shared: Arc::clone(&shared),
        };
        (PartFiles { size, shared }, writer)
    }

    /// The part size asked for.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }

    /// Everything written so far goes into the current part; the next byte
    /// begins the next one.
    pub(super) fn cut(&self) {
        self.lock().cut = true;
    }

    /// Every part written, in order, the last one included: call it once
    /// the collection has ended and its output is flushed.
    pub fn finish(&self) -> Vec<PartRecord> {
        let s = self.lock();
        let mut parts = s.done.clone();
        parts.push(PartRecord {
            part: s.part,
            bytes: s.bytes,
            sha256: hex::encode(s.sha.clone().finalize()),
        });
        parts
    }
}

impl std::fmt::Debug for PartFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartFiles").field("size", &self.size).finish_non_exhaustive()
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // The state stays consistent whatever thread panicked.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl Write for PartWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut s = lock(&self.shared);
        if s.cut {
            self.file.flush()?;
            let next = (self.open)(s.part + 1)?;
            // The finished part's file is closed here.
            drop(std::mem::replace(&mut self.file, next));
            let sha = std::mem::take(&mut s.sha);
            let record = PartRecord {
                part: s.part,
                bytes: s.bytes,
                sha256: hex::encode(sha.finalize()),
            };
            s.done.push(record);
            s.part += 1;
            s.bytes = 0;
            s.cut = false;
        }
        let n = self.file.write(buf)?;
        s.sha.update(&buf[..n]);
        s.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Compressed bytes that `n` tar bytes can take at most: zstd adds a few
/// bytes per block to data it cannot compress.
fn compressed_bound(n: u64) -> u64 {
    n + n / 128 + 64
}

impl<W: Write + Send + 'static> Collector<'_, W> {
    /// Before a member of about `upcoming` content bytes: end the part here
    /// if the member could take it past the part size, unless the part holds
    /// no evidence yet (then the member makes it larger, which a segment
    /// larger than the part size must).
    pub(super) fn maybe_end_part(&mut self, upcoming: u64) -> Result<(), CollectError> {
        let Some(size) = self.opts.split.as_ref().map(PartFiles::size) else {
            return Ok(());
        };
        if !self.part_has_evidence {
            return Ok(());
        }
        // Read in this order, a frame written in between is counted twice,
        // never missed.
        let tar_written = self.written.tar.load(Ordering::SeqCst);
        let compressed = self.written.compressed.load(Ordering::SeqCst) - self.part_start_compressed;
        let estimate = compressed
            + compressed_bound(self.pos.saturating_sub(tar_written))
            + compressed_bound(upcoming + MEMBER_HEADER_RESERVE)
            + compressed_bound(self.segment_doc_bytes)
            + CHECKPOINT_RESERVE;
        if estimate <= size {
            return Ok(());
        }
        if self.pos != self.last_signed_end {
            self.checkpoint(None, None)?;
        }
        self.end_part()
    }

    /// End the part after the checkpoint just signed, and begin the next one
    /// with its part document.
    fn end_part(&mut self) -> Result<(), CollectError> {
        let Some((document, signature, secs)) = self.last_signed.clone() else {
            unreachable!("a part ends only after a checkpoint")
        };
        self.emit(0, |s| s.end_part(), || super::writer::Msg::EndPart)?;
        // Once every frame is written, the written counts are exact.
        self.catch_up(false)?;
        self.part += 1;
        self.part_start_compressed = self.written.compressed.load(Ordering::SeqCst);
        self.part_has_evidence = false;
        let signer = crate::signer::public_key_line(&self.signer.public_key());
        let marker = PartDoc::new(&self.archive_id, self.part, self.pos, self.seq, &signer, &document, &signature);
        self.write_custody_member(&part::part_path(self.part), &doc::to_document_bytes(&marker), secs)
    }
}
