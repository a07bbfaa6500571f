//! The writing side of a collection: the tar stream's running segment
//! digest (BLAKE3), the current member's content digest (SHA-256), and the
//! zstd frames.
//!
//! The tar stream is cut into frames of a few MiB ([`FRAME_TARGET`],
//! [`FRAME_LIMIT`]), and each frame is compressed on its own by a pool of
//! threads ([`Frames`]). Frames are written in stream order whatever thread
//! finished first, so the archive is the same byte for byte for any number of
//! threads.
//!
//! During the walk the stream runs on a thread of its own, fed by messages in
//! stream order, so that hashing and framing overlap with walking and reading
//! ([`serve`]). Before and after the walk the collector drives a
//! [`TarStream`] directly.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use crate::format::{CUT_PHASE, FRAME_LIMIT};

/// A frame ends at the first member boundary once it holds this many tar
/// bytes.
pub const FRAME_TARGET: usize = 3 * 1024 * 1024;

/// Counts and hashes the compressed bytes on their way out.
pub(super) struct HashingWriter<W: Write> {
    pub(super) inner: W,
    pub(super) sha: Sha256,
    pub(super) bytes: u64,
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

/// The content digest of one member: SHA-256 of its logical content.
pub(super) struct ContentDigest {
    sha: Sha256,
}

impl ContentDigest {
    pub(super) fn new() -> Self {
        ContentDigest { sha: Sha256::new() }
    }
    pub(super) fn update(&mut self, b: &[u8]) {
        self.sha.update(b);
    }
    pub(super) fn zeros(&mut self, n: u64) {
        crate::format::digest::sha256_zeros(&mut self.sha, n);
    }
    pub(super) fn finish(self) -> String {
        hex::encode(self.sha.finalize())
    }
}

/// What the output thread has written so far: tar bytes (of whole frames)
/// and the compressed bytes they became. A split collection estimates the
/// size of the part it is writing from them (docs/FORMAT.md §18).
#[derive(Default)]
pub(super) struct Written {
    pub(super) tar: AtomicU64,
    pub(super) compressed: AtomicU64,
}

/// Zeros to write or hash from.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// Most compression threads: each adds a frame held at once, and with it
/// up to two buffers of [`FRAME_LIMIT`] bytes (its tar bytes and their
/// compressed form), so this bounds the memory whatever is asked.
pub const MAX_THREADS: usize = 4;

/// A frame to compress: its place in the stream, its tar bytes, and a buffer
/// for the result.
struct Job {
    seq: u64,
    tar: Vec<u8>,
    out: Vec<u8>,
}

/// What the output thread is sent: a compressed frame, with its tar buffer
/// back for reuse; or a request to flush.
enum ToOutput {
    Done { seq: u64, tar: Vec<u8>, out: io::Result<Vec<u8>> },
    Flush,
}

/// What the output thread hands back: a frame's buffers once it is written
/// (or the first error), and acknowledgements of flushes.
enum Back {
    Written(Vec<u8>, Vec<u8>),
    Failed(io::Error),
    Flushed(io::Result<()>),
}

/// Compresses frames on a pool of threads; an output thread writes them in
/// stream order and keeps the archive's own digest. At most
/// `max_in_flight` frames are held (being compressed, or compressed and
/// waiting for an earlier one), which bounds the memory.
pub(super) struct Frames<W: Write + Send + 'static> {
    pool: Pool,
    to_output: Option<Sender<ToOutput>>,
    back: Receiver<Back>,
    output: Option<JoinHandle<HashingWriter<W>>>,
    /// Frames handed to the pool, and frames written.
    sent: u64,
    written: u64,
    max_in_flight: u64,
    spare_tar: Vec<Vec<u8>>,
    spare_out: Vec<Vec<u8>>,
    output_counts: Arc<Written>,
}

impl<W: Write + Send + 'static> Frames<W> {
    fn new(out: W, level: i32, threads: usize) -> io::Result<Self> {
        let threads = threads.clamp(1, MAX_THREADS);
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (to_output, output_rx) = mpsc::channel();
        let (back_tx, back) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = to_output.clone();
            let mut z = zstd::bulk::Compressor::new(level)?;
            z.include_checksum(true)?;
            let handle = std::thread::Builder::new()
                .name(format!("custody-zstd-{i}"))
                .spawn(move || compress_frames(z, &job_rx, &done_tx))?;
            workers.push(handle);
        }
        let writer = HashingWriter {
            inner: out,
            sha: Sha256::new(),
            bytes: 0,
        };
        let written = Arc::new(Written::default());
        let counted = Arc::clone(&written);
        let output = std::thread::Builder::new()
            .name("custody-out".into())
            .spawn(move || write_frames(writer, &output_rx, &back_tx, &counted))?;
        Ok(Frames {
            pool: Pool { jobs: Some(jobs), workers },
            to_output: Some(to_output),
            back,
            output: Some(output),
            sent: 0,
            written: 0,
            max_in_flight: (threads + 1) as u64,
            spare_tar: Vec::new(),
            spare_out: Vec::new(),
            output_counts: written,
        })
    }

    /// An empty buffer for the next frame's tar bytes.
    fn tar_buffer(&mut self) -> Vec<u8> {
        self.spare_tar.pop().unwrap_or_else(|| Vec::with_capacity(FRAME_LIMIT))
    }

    /// Hand a frame to the pool, first waiting, if too many are held, until
    /// the oldest is written.
    fn send(&mut self, tar: Vec<u8>) -> io::Result<()> {
        self.settle(self.max_in_flight - 1)?;
        let out = self.spare_out.pop().unwrap_or_default();
        let job = Job { seq: self.sent, tar, out };
        let jobs = self.pool.jobs.as_ref().expect("the pool runs until finish");
        jobs.send(job).map_err(|_| pool_gone())?;
        self.sent += 1;
        Ok(())
    }

    /// Wait until at most `held` frames remain unwritten.
    fn settle(&mut self, held: u64) -> io::Result<()> {
        while self.sent - self.written > held {
            match self.back.recv().map_err(|_| pool_gone())? {
                Back::Written(mut tar, out) => {
                    tar.clear();
                    self.spare_tar.push(tar);
                    self.spare_out.push(out);
                    self.written += 1;
                }
                Back::Failed(e) => return Err(e),
                Back::Flushed(_) => {}
            }
        }
        Ok(())
    }

    /// Wait until every frame sent is written, then flush the output.
    fn flush(&mut self) -> io::Result<()> {
        self.settle(0)?;
        let to_output = self.to_output.as_ref().expect("the output runs until finish");
        to_output.send(ToOutput::Flush).map_err(|_| pool_gone())?;
        loop {
            match self.back.recv().map_err(|_| pool_gone())? {
                Back::Flushed(r) => return r,
                Back::Failed(e) => return Err(e),
                Back::Written(..) => {}
            }
        }
    }

    /// Hand back the output, once every frame is written; the threads stop.
    fn finish(mut self) -> io::Result<HashingWriter<W>> {
        self.flush()?;
        self.pool.stop();
        self.to_output = None;
        let output = self.output.take().expect("finished once");
        output.join().map_err(|_| io::Error::other("the output thread stopped"))
    }
}

impl<W: Write + Send + 'static> Drop for Frames<W> {
    fn drop(&mut self) {
        self.pool.stop();
        self.to_output = None;
        if let Some(output) = self.output.take() {
            let _ = output.join();
        }
    }
}

/// The compression threads.
struct Pool {
    jobs: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Hang up, which ends each thread's loop once its frame is done, and
    /// wait for them.
    fn stop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// What a compression thread does until the pool closes.
fn compress_frames(mut z: zstd::bulk::Compressor<'static>, jobs: &Mutex<Receiver<Job>>, done: &Sender<ToOutput>) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(Job { seq, tar, mut out }) = job else {
            return;
        };
        out.clear();
        out.reserve(zstd::zstd_safe::compress_bound(tar.len()));
        let out = z.compress_to_buffer(&tar[..], &mut out).map(|_| out);
        if done.send(ToOutput::Done { seq, tar, out }).is_err() {
            return;
        }
    }
}

/// What the output thread does: write compressed frames in stream order and
/// flush when asked, until every sender is gone. After an error nothing more
/// is written; the error is reported once.
fn write_frames<W: Write>(mut w: HashingWriter<W>, rx: &Receiver<ToOutput>, back: &Sender<Back>, written: &Written) -> HashingWriter<W> {
    let mut waiting: BTreeMap<u64, (Vec<u8>, io::Result<Vec<u8>>)> = BTreeMap::new();
    let mut next = 0u64;
    let mut failed = false;
    for msg in rx {
        match msg {
            // Asked for only once every frame sent is written.
            ToOutput::Flush => {
                let flushed = if failed {
                    Err(io::Error::other("an earlier write to the archive failed"))
                } else {
                    w.flush()
                };
                let _ = back.send(Back::Flushed(flushed));
            }
            ToOutput::Done { seq, tar, out } => {
                waiting.insert(seq, (tar, out));
                while let Some((tar, out)) = waiting.remove(&next) {
                    next += 1;
                    match out.and_then(|out| if failed { Ok(out) } else { w.write_all(&out).map(|()| out) }) {
                        Ok(out) => {
                            written.tar.fetch_add(tar.len() as u64, Ordering::SeqCst);
                            written.compressed.fetch_add(out.len() as u64, Ordering::SeqCst);
                            let _ = back.send(Back::Written(tar, out));
                        }
                        Err(e) => {
                            if !std::mem::replace(&mut failed, true) {
                                let _ = back.send(Back::Failed(e));
                            }
                        }
                    }
                }
            }
        }
    }
    w
}

/// A compression or output thread is gone: it panicked, which is a bug to
/// report; the archive so far is incomplete evidence.
fn pool_gone() -> io::Error {
    io::Error::other("the archive's compression or output thread stopped unexpectedly (a bug: please report it); the archive is incomplete")
}

/// The tar stream as written: running segment digest, the open member's
/// digests, and the current zstd frame.
pub(super) struct TarStream<W: Write + Send + 'static> {
    frames: Option<Frames<W>>,
    /// Tar bytes of the current frame.
    frame: Vec<u8>,
    /// Tar offset where the current frame begins.
    frame_start: u64,
    /// The segment's BLAKE3, fed from the frame buffer in large pieces
    /// (BLAKE3 is fast only on long inputs, where it hashes many chunks at
    /// once): the first `hashed` bytes of `frame` are in it.
    segment: blake3::Hasher,
    hashed: usize,
    member: Option<ContentDigest>,
    /// The part files of a split collection, told where each part ends.
    parts: Option<super::split::PartFiles>,
}

impl<W: Write + Send + 'static> TarStream<W> {
    /// A stream compressed at `level` on `threads` threads.
    pub(super) fn new(out: W, level: i32, threads: usize) -> io::Result<Self> {
        let mut frames = Frames::new(out, level, threads)?;
        Ok(TarStream {
            frame: frames.tar_buffer(),
            frames: Some(frames),
            frame_start: 0,
            segment: blake3::Hasher::new(),
            hashed: 0,
            member: None,
            parts: None,
        })
    }

    /// Write into the part files `parts`, which [`Self::end_part`] cuts.
    pub(super) fn split_into(&mut self, parts: super::split::PartFiles) {
        self.parts = Some(parts);
    }

    /// What the output thread has written so far.
    pub(super) fn written(&mut self) -> Arc<Written> {
        Arc::clone(&self.frames().output_counts)
    }

    /// End the frame, write everything, and start a new part file: the
    /// next byte written is the first of the next part.
    pub(super) fn end_part(&mut self) -> io::Result<()> {
        self.end_frame()?;
        if let Some(p) = &self.parts {
            p.cut();
        }
        Ok(())
    }

    fn frames(&mut self) -> &mut Frames<W> {
        self.frames.as_mut().expect("frames are written until the last one")
    }

    /// Bytes of the tar stream that are not member content (headers, padding).
    pub(super) fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.append(bytes)
    }

    /// Bring the segment digest up to the end of the current frame's bytes.
    fn hash_frame(&mut self) {
        self.segment.update(&self.frame[self.hashed..]);
        self.hashed = self.frame.len();
    }

    /// Append to the current frame, cutting it where it would pass
    /// [`FRAME_LIMIT`].
    fn append(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let room = (cut_offset(self.frame_start) - self.frame_start) as usize - self.frame.len();
            let k = bytes.len().min(room);
            self.frame.extend_from_slice(&bytes[..k]);
            bytes = &bytes[k..];
            if !bytes.is_empty() {
                self.send_frame()?;
            }
        }
        Ok(())
    }

    pub(super) fn raw_zeros(&mut self, n: u64) -> io::Result<()> {
        self.zeros(n, Self::raw)
    }

    /// `n` zero bytes through `put`, a piece at a time.
    fn zeros(&mut self, mut n: u64, put: fn(&mut Self, &[u8]) -> io::Result<()>) -> io::Result<()> {
        while n > 0 {
            let k = n.min(ZEROS.len() as u64) as usize;
            put(self, &ZEROS[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    /// A member's content begins.
    pub(super) fn begin_member(&mut self) {
        self.member = Some(ContentDigest::new());
    }

    /// Member content: into the member's digests and the stream.
    pub(super) fn content(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(m) = self.member.as_mut() {
            m.update(bytes);
        }
        self.raw(bytes)
    }

    pub(super) fn content_zeros(&mut self, n: u64) -> io::Result<()> {
        self.zeros(n, Self::content)
    }

    /// A hole of a sparse file: zeros in the member's logical content that
    /// the stream does not carry.
    pub(super) fn hole(&mut self, n: u64) {
        if let Some(m) = self.member.as_mut() {
            m.zeros(n);
        }
    }

    /// The member's content ended: its SHA-256.
    pub(super) fn end_member(&mut self) -> String {
        self.member.take().unwrap_or_else(ContentDigest::new).finish()
    }

    /// Finish the current segment digest (BLAKE3, hex) and start the next one.
    pub(super) fn take_segment_digest(&mut self) -> String {
        self.hash_frame();
        let digest = crate::format::digest::segment_hex(&self.segment);
        self.segment.reset();
        digest
    }

    /// Between members: end the frame if it holds [`FRAME_TARGET`] bytes.
    pub(super) fn boundary(&mut self) -> io::Result<()> {
        if self.frame.len() >= FRAME_TARGET {
            self.send_frame()?;
        }
        Ok(())
    }

    /// End the current frame (if it holds anything) and wait until every
    /// frame so far is written and flushed: what a checkpoint signed is then
    /// in the output, whatever happens to this process next.
    pub(super) fn end_frame(&mut self) -> io::Result<()> {
        if !self.frame.is_empty() {
            self.send_frame()?;
        }
        self.frames().flush()
    }

    fn send_frame(&mut self) -> io::Result<()> {
        self.hash_frame();
        self.hashed = 0;
        let next = self.frames().tar_buffer();
        let tar = std::mem::replace(&mut self.frame, next);
        self.frame_start += tar.len() as u64;
        self.frames().send(tar)
    }

    /// End the last frame, write everything and hand back the output.
    pub(super) fn finish(&mut self) -> io::Result<HashingWriter<W>> {
        if !self.frame.is_empty() {
            self.send_frame()?;
        }
        self.frames.take().expect("finished once").finish()
    }
}

/// Where a frame starting at tar offset `start` is cut at the latest: the
/// last offset of phase [`CUT_PHASE`] within [`FRAME_LIMIT`] bytes.
fn cut_offset(start: u64) -> u64 {
    let limit = start + FRAME_LIMIT as u64;
    limit - (limit + 512 - CUT_PHASE) % 512
}

/// What the collector asks of the writer thread, in stream order.
pub(super) enum Msg {
    /// Header or padding bytes.
    Raw(Vec<u8>),
    /// A member's header bytes: reply with their header digest.
    Header(Vec<u8>),
    RawZeros(u64),
    /// A member's content begins.
    Begin,
    /// Member content: the first `usize` bytes of the buffer.
    Content(Vec<u8>, usize),
    ContentZeros(u64),
    Hole(u64),
    /// The member's content ended: reply with its digest.
    End,
    /// Reply once every earlier message is done.
    Sync,
    /// Reply with the segment digest and start the next segment.
    Segment,
    /// Between members: end the frame if it is full enough.
    Boundary,
    /// End the zstd frame.
    Frame,
    /// End the frame and the part file (a split collection).
    EndPart,
}

/// What the writer thread answers.
pub(super) enum Reply {
    /// Content SHA-256 of the next member whose content ended, in order.
    Member(String),
    /// Header digest of the next member whose header was sent, in order.
    Header(String),
    Synced,
    Segment(String),
}

/// Apply messages, which come in batches, to `stream` until the collector
/// hangs up. Content buffers
/// of `chunk` bytes go back to the collector through `pool` for reuse.
pub(super) fn serve<W: Write + Send + 'static>(
    stream: &mut TarStream<W>,
    rx: Receiver<Vec<Msg>>,
    replies: Sender<Reply>,
    pool: Sender<Vec<u8>>,
    chunk: usize,
) -> io::Result<()> {
    for msg in rx.into_iter().flatten() {
        match msg {
            Msg::Raw(b) => stream.raw(&b)?,
            Msg::Header(b) => {
                stream.raw(&b)?;
                let _ = replies.send(Reply::Header(crate::format::doc::header_digest(&b)));
            }
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
                let _ = replies.send(Reply::Member(stream.end_member()));
            }
            Msg::Sync => {
                let _ = replies.send(Reply::Synced);
            }
            Msg::Segment => {
                let _ = replies.send(Reply::Segment(stream.take_segment_digest()));
            }
            Msg::Boundary => stream.boundary()?,
            Msg::Frame => stream.end_frame()?,
            Msg::EndPart => stream.end_part()?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fall_at_the_phase_within_the_limit() {
        for start in [0u64, 1, 255, 256, 257, 511, 512, FRAME_LIMIT as u64 + 256, 12_345_678] {
            let cut = cut_offset(start);
            assert_eq!(cut % 512, CUT_PHASE, "start {start}");
            assert!(
                cut <= start + FRAME_LIMIT as u64 && cut + 512 > start + FRAME_LIMIT as u64,
                "start {start}"
            );
        }
    }

    /// The archive is the same whatever the thread count, and every frame
    /// holds at most `FRAME_LIMIT` tar bytes, cut at the phase inside content.
    #[test]
    fn frames_are_deterministic_and_bounded() {
        let mut data = Vec::new();
        let mut x = 1u64;
        for _ in 0..((2 * FRAME_LIMIT + FRAME_LIMIT / 2) / 8) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            data.extend_from_slice(&(x >> 60).to_le_bytes());
        }
        let write = |threads: usize| {
            let mut s = TarStream::new(Vec::new(), 3, threads).unwrap();
            s.raw(&[1u8; 512]).unwrap();
            s.begin_member();
            s.content(&data).unwrap();
            s.end_member();
            s.boundary().unwrap();
            s.raw(&[2u8; 512]).unwrap();
            s.boundary().unwrap();
            s.finish().unwrap().inner
        };
        let one = write(1);
        assert_eq!(one, write(3));
        let mut sizes = Vec::new();
        let mut rest = &one[..];
        while !rest.is_empty() {
            let n = zstd::zstd_safe::find_frame_compressed_size(rest).unwrap();
            let tar = zstd::bulk::decompress(&rest[..n], FRAME_LIMIT).unwrap();
            sizes.push(tar.len() as u64);
            rest = &rest[n..];
        }
        let mut at = 0;
        for (i, n) in sizes.iter().enumerate() {
            assert!(*n <= FRAME_LIMIT as u64);
            at += n;
            if i + 1 < sizes.len() {
                assert_eq!(at % 512, CUT_PHASE, "frame {i} ends inside the member at the phase");
            }
        }
        assert_eq!(at, 512 + data.len() as u64 + 512);
        assert_eq!(sizes.len(), 3);
    }
}
