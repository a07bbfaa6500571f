//! Where the tar stream goes: written directly before and after the walk,
//! and during it sent in batches of messages to the writer thread, which
//! hashes, frames and compresses it and reports the digests back.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender};

use super::writer::{Msg, Reply, TarStream};
use super::{CollectError, Collector, READ_CHUNK};

impl<W: Write + Send + 'static> Collector<'_, W> {
    /// Send, or write, bytes of the tar stream.
    pub(super) fn emit(
        &mut self,
        bytes: u64,
        direct: impl FnOnce(&mut TarStream<W>) -> io::Result<()>,
        piped: impl FnOnce() -> Msg,
    ) -> Result<(), CollectError> {
        let r = match &mut self.out {
            Out::Direct(s) => direct(s),
            Out::Piped(p) => {
                let msg = piped();
                // A read buffer goes at once: buffers are few (`MAX_BUFFERS`).
                let now = matches!(msg, Msg::Sync | Msg::Segment) || matches!(&msg, Msg::Content(b, _) if b.len() == READ_CHUNK);
                p.push(msg, now)
            }
            Out::Moving => unreachable!("no output while the stream moves"),
        };
        r.map_err(|e| self.output_err(e))?;
        self.pos += bytes;
        Ok(())
    }

    pub(super) fn raw(&mut self, bytes: &[u8]) -> Result<(), CollectError> {
        self.emit(bytes.len() as u64, |s| s.raw(bytes), || Msg::Raw(bytes.to_vec()))
    }

    pub(super) fn raw_zeros(&mut self, n: u64) -> Result<(), CollectError> {
        self.emit(n, |s| s.raw_zeros(n), || Msg::RawZeros(n))
    }

    pub(super) fn begin_content(&mut self) -> Result<(), CollectError> {
        let begin = |s: &mut TarStream<W>| {
            s.begin_member();
            Ok(())
        };
        self.emit(0, begin, || Msg::Begin)
    }

    pub(super) fn content(&mut self, bytes: &[u8]) -> Result<(), CollectError> {
        self.emit(
            bytes.len() as u64,
            |s| s.content(bytes),
            || Msg::Content(bytes.to_vec(), bytes.len()),
        )
    }

    pub(super) fn content_zeros(&mut self, n: u64) -> Result<(), CollectError> {
        self.emit(n, |s| s.content_zeros(n), || Msg::ContentZeros(n))
    }

    pub(super) fn hole(&mut self, n: u64) -> Result<(), CollectError> {
        let hole = |s: &mut TarStream<W>| {
            s.hole(n);
            Ok(())
        };
        self.emit(0, hole, || Msg::Hole(n))
    }

    /// A buffer of `READ_CHUNK` bytes to read content into.
    pub(super) fn chunk(&mut self) -> Vec<u8> {
        match &mut self.out {
            Out::Piped(p) => {
                if let Some(b) = p.spare.pop() {
                    return b;
                }
                if let Ok(b) = p.pool.try_recv() {
                    return b;
                }
                if p.buffers < MAX_BUFFERS {
                    p.buffers += 1;
                    return vec![0u8; READ_CHUNK];
                }
                p.pool.recv().unwrap_or_else(|_| vec![0u8; READ_CHUNK])
            }
            _ => {
                let b = std::mem::take(&mut self.buf);
                if b.len() == READ_CHUNK {
                    b
                } else {
                    vec![0u8; READ_CHUNK]
                }
            }
        }
    }

    /// A buffer from [`Self::chunk`] that is not sent.
    pub(super) fn keep_chunk(&mut self, buf: Vec<u8>) {
        match &mut self.out {
            Out::Piped(p) => p.spare.push(buf),
            _ => self.buf = buf,
        }
    }

    /// The first `n` bytes of a buffer from [`Self::chunk`] as content.
    pub(super) fn content_chunk(&mut self, buf: Vec<u8>, n: usize) -> Result<(), CollectError> {
        if let Out::Direct(s) = &mut self.out {
            let r = s.content(&buf[..n]);
            self.buf = buf;
            r.map_err(|e| self.output_err(e))?;
            self.pos += n as u64;
            return Ok(());
        }
        if n < SMALL_CONTENT {
            // Copy a small read out, so that read buffers never wait in a batch.
            let small = buf[..n].to_vec();
            self.keep_chunk(buf);
            return self.emit(n as u64, |_| Ok(()), move || Msg::Content(small, n));
        }
        self.emit(n as u64, |_| Ok(()), move || Msg::Content(buf, n))
    }

    /// The member's content ended: its SHA-256 now, or later from the
    /// writer thread (`None`).
    pub(super) fn end_content(&mut self) -> Result<Option<String>, CollectError> {
        if let Out::Direct(s) = &mut self.out {
            return Ok(Some(s.end_member()));
        }
        self.emit(0, |_| Ok(()), || Msg::End)?;
        Ok(None)
    }

    pub(super) fn fill_header_digest(&mut self, digest: String) {
        let i = self.pending_headers.pop_front().expect("a member awaits this header digest");
        self.segment_members[i].header_digest = digest;
    }

    pub(super) fn fill_digest(&mut self, sha: String) {
        let i = self.pending.pop_front().expect("a member awaits this digest");
        self.segment_members[i].sha256 = Some(sha);
    }

    /// Wait for the writer thread to report every member digest so far; with
    /// `segment`, also take the segment digest.
    pub(super) fn catch_up(&mut self, segment: bool) -> Result<Option<String>, CollectError> {
        if let Out::Direct(s) = &mut self.out {
            return Ok(segment.then(|| s.take_segment_digest()));
        }
        self.emit(0, |_| Ok(()), || if segment { Msg::Segment } else { Msg::Sync })?;
        loop {
            let reply = match &self.out {
                Out::Piped(p) => p.replies.recv().map_err(|_| writer_gone()),
                _ => unreachable!("piped"),
            };
            match reply.map_err(|e| self.output_err(e))? {
                Reply::Member(sha) => self.fill_digest(sha),
                Reply::Header(d) => self.fill_header_digest(d),
                Reply::Synced => return Ok(None),
                Reply::Segment(d) => return Ok(Some(d)),
            }
        }
    }

    pub(super) fn end_frame(&mut self) -> Result<(), CollectError> {
        self.emit(0, |s| s.end_frame(), || Msg::Frame)
    }
}

/// Where the tar stream goes: written here (before and after the walk), or
/// sent to the writer thread (during the walk).
pub(super) enum Out<W: Write + Send + 'static> {
    Direct(Box<TarStream<W>>),
    Piped(Pipe),
    /// While the stream moves to or from the writer thread.
    Moving,
}

/// The collector's end of the channels to the writer thread.
pub(super) struct Pipe {
    pub(super) tx: SyncSender<Vec<Msg>>,
    /// Messages not sent yet: a file's few messages travel together.
    pub(super) batch: Vec<Msg>,
    /// Content bytes in `batch`.
    pub(super) batch_bytes: usize,
    pub(super) replies: Receiver<Reply>,
    /// Content buffers coming back for reuse.
    pub(super) pool: Receiver<Vec<u8>>,
    /// Content buffers made so far (at most `MAX_BUFFERS`).
    pub(super) buffers: usize,
    /// Buffers taken and not sent.
    pub(super) spare: Vec<Vec<u8>>,
}

/// Batches queued to the writer thread.
pub(super) const PIPE_DEPTH: usize = 8;
/// A batch is sent once it holds this many messages or content bytes.
const BATCH_MESSAGES: usize = 256;
const BATCH_BYTES: usize = 256 * 1024;
/// Reads shorter than this are copied into a message of their own size.
const SMALL_CONTENT: usize = 64 * 1024;
/// Content buffers in flight, each `READ_CHUNK` bytes: with the batches,
/// bounds the memory the pipeline adds.
const MAX_BUFFERS: usize = 16;

impl Pipe {
    /// Queue a message; send the batch when it is full or when `now`.
    fn push(&mut self, msg: Msg, now: bool) -> io::Result<()> {
        self.batch_bytes += match &msg {
            Msg::Content(_, n) => *n,
            Msg::Raw(b) | Msg::Header(b) => b.len(),
            _ => 0,
        };
        self.batch.push(msg);
        if now || self.batch.len() >= BATCH_MESSAGES || self.batch_bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    pub(super) fn flush(&mut self) -> io::Result<()> {
        self.batch_bytes = 0;
        let batch = std::mem::take(&mut self.batch);
        if batch.is_empty() {
            return Ok(());
        }
        self.tx.send(batch).map_err(|_| writer_gone())
    }
}

/// What a send to the writer thread returns once that thread has stopped
/// (its own error is reported instead when the walk ends).
fn writer_gone() -> io::Error {
    io::Error::other("the archive writer stopped")
}
