//! The writing side of a collection: the tar stream's running segment
//! digest, the current member's content digests, and the zstd frames.
//!
//! During the walk this runs on a thread of its own, fed by messages in
//! stream order, so that hashing and feeding the compressor overlap with
//! walking and reading ([`serve`]). Before and after the walk the collector
//! drives a [`TarStream`] directly.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, Sender};

use sha2::{Digest, Sha256};

/// Counts and hashes the compressed bytes on their way out.
pub(crate) struct HashingWriter<W: Write> {
    pub(crate) inner: W,
    pub(crate) sha: Sha256,
    pub(crate) bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Content hashes of one member.
pub(crate) struct ContentDigest {
    sha: Sha256,
    b3: blake3::Hasher,
}

impl ContentDigest {
    pub(crate) fn new() -> Self {
        ContentDigest {
            sha: Sha256::new(),
            b3: blake3::Hasher::new(),
        }
    }
    pub(crate) fn update(&mut self, b: &[u8]) {
        self.sha.update(b);
        self.b3.update(b);
    }
    pub(crate) fn zeros(&mut self, n: u64) {
        crate::verify::hash_zeros(&mut self.sha, &mut self.b3, n);
    }
    pub(crate) fn finish(self) -> (String, String) {
        (hex::encode(self.sha.finalize()), self.b3.finalize().to_hex().to_string())
    }
}

/// Zeros to write or hash from.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// The tar stream as written: running segment digest, the open member's
/// digests, and the current zstd frame.
pub(crate) struct TarStream<W: Write> {
    encoder: Option<zstd::stream::write::Encoder<'static, HashingWriter<W>>>,
    level: i32,
    workers: u32,
    segment: Sha256,
    member: Option<ContentDigest>,
}

impl<W: Write> TarStream<W> {
    pub(crate) fn new(out: W, level: i32, workers: u32) -> io::Result<Self> {
        let writer = HashingWriter {
            inner: out,
            sha: Sha256::new(),
            bytes: 0,
        };
        Ok(TarStream {
            encoder: Some(Self::encoder(writer, level, workers)?),
            level,
            workers,
            segment: Sha256::new(),
            member: None,
        })
    }

    fn encoder(w: HashingWriter<W>, level: i32, workers: u32) -> io::Result<zstd::stream::write::Encoder<'static, HashingWriter<W>>> {
        let mut e = zstd::stream::write::Encoder::new(w, level)?;
        e.include_checksum(true)?;
        if workers > 0 {
            e.multithread(workers)?;
        }
        Ok(e)
    }

    /// Bytes of the tar stream that are not member content (headers, padding).
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.encoder.as_mut().expect("encoder present between frames").write_all(bytes)?;
        self.segment.update(bytes);
        Ok(())
    }

    pub(crate) fn raw_zeros(&mut self, mut n: u64) -> io::Result<()> {
        while n > 0 {
            let k = n.min(ZEROS.len() as u64) as usize;
            self.raw(&ZEROS[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    /// A member's content begins.
    pub(crate) fn begin_member(&mut self) {
        self.member = Some(ContentDigest::new());
    }

    /// Member content: into the member's digests and the stream.
    pub(crate) fn content(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(m) = self.member.as_mut() {
            m.update(bytes);
        }
        self.raw(bytes)
    }

    pub(crate) fn content_zeros(&mut self, mut n: u64) -> io::Result<()> {
        while n > 0 {
            let k = n.min(ZEROS.len() as u64) as usize;
            self.content(&ZEROS[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    /// A hole of a sparse file: zeros in the member's logical content that
    /// the stream does not carry.
    pub(crate) fn hole(&mut self, n: u64) {
        if let Some(m) = self.member.as_mut() {
            m.zeros(n);
        }
    }

    /// The member's content ended: its SHA-256 and BLAKE3.
    pub(crate) fn end_member(&mut self) -> (String, String) {
        self.member.take().unwrap_or_else(ContentDigest::new).finish()
    }

    /// Finish the current segment digest and start the next one.
    pub(crate) fn take_segment_digest(&mut self) -> String {
        hex::encode(std::mem::take(&mut self.segment).finalize())
    }

    /// End the current zstd frame and, unless `last`, begin a new one.
    pub(crate) fn end_frame(&mut self, last: bool) -> io::Result<Option<HashingWriter<W>>> {
        let mut w = self.encoder.take().expect("encoder present").finish()?;
        w.flush()?;
        if last {
            return Ok(Some(w));
        }
        self.encoder = Some(Self::encoder(w, self.level, self.workers)?);
        Ok(None)
    }
}

/// What the collector asks of the writer thread, in stream order.
pub(crate) enum Msg {
    /// Header or padding bytes.
    Raw(Vec<u8>),
    RawZeros(u64),
    /// A member's content begins.
    Begin,
    /// Member content: the first `usize` bytes of the buffer.
    Content(Vec<u8>, usize),
    ContentZeros(u64),
    Hole(u64),
    /// The member's content ended: reply with its digests.
    End,
    /// Reply once every earlier message is done.
    Sync,
    /// Reply with the segment digest and start the next segment.
    Segment,
    /// End the zstd frame.
    Frame,
}

/// What the writer thread answers.
pub(crate) enum Reply {
    /// Digests of the next member whose content ended, in order.
    Member(String, String),
    Synced,
    Segment(String),
}

/// Apply messages, which come in batches, to `stream` until the collector
/// hangs up. Content buffers
/// of `chunk` bytes go back to the collector through `pool` for reuse.
pub(crate) fn serve<W: Write>(
    stream: &mut TarStream<W>,
    rx: Receiver<Vec<Msg>>,
    replies: Sender<Reply>,
    pool: Sender<Vec<u8>>,
    chunk: usize,
) -> io::Result<()> {
    for msg in rx.into_iter().flatten() {
        match msg {
            Msg::Raw(b) => stream.raw(&b)?,
            Msg::RawZeros(n) => stream.raw_zeros(n)?,
            Msg::Begin => stream.begin_member(),
            Msg::Content(b, n) => {
                stream.content(&b[..n])?;
                if b.len() == chunk {
                    let _ = pool.send(b);
                }
            }
            Msg::ContentZeros(n) => stream.content_zeros(n)?,
            Msg::Hole(n) => stream.hole(n),
            Msg::End => {
                let (sha, b3) = stream.end_member();
                let _ = replies.send(Reply::Member(sha, b3));
            }
            Msg::Sync => {
                let _ = replies.send(Reply::Synced);
            }
            Msg::Segment => {
                let _ = replies.send(Reply::Segment(stream.take_segment_digest()));
            }
            Msg::Frame => {
                stream.end_frame(false)?;
            }
        }
    }
    Ok(())
}
