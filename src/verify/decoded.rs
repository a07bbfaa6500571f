//! The verifier's pipeline: zstd frames are decoded on one thread, the
//! running segment digest is computed on a second and the digests of
//! members' content on a third, while the verifier's own thread parses
//! members and hands their content to its sink. Decoded bytes travel in
//! shared chunks, so no thread copies content to hand it on.
//!
//! Damage handling is that of [`FrameReader`]: a decoding error is returned
//! once, in stream order, and [`Decoded::resync`] resumes at the next frame.

use std::io::{self, Read};
use std::ops::{Deref, Range};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::Scope;

use sha2::{Digest, Sha256};

use super::frames::FrameReader;

/// Decoded bytes per chunk when a frame is streamed rather than decoded
/// whole (a chunk never holds bytes of two frames).
const CHUNK: usize = 256 * 1024;
/// Chunks queued from the decoding thread.
const QUEUE: usize = 4;
/// Chunk buffers in existence at once, wherever they are (queued, being
/// parsed, waiting to be hashed): the decoding thread waits for one to come
/// back before it decodes more. A whole frame holds at most
/// [`super::frames::WHOLE_FRAME_MAX`] bytes (4 MiB), so the pipeline holds
/// at most 32 MiB of decoded bytes. Eight let the threads run ahead of
/// each other while a checkpoint is checked (fewer cost time: the
/// benchmark's verify took 8 % longer with six).
const BUFFERS: usize = 8;

/// The chunk buffers: a fixed number, reused.
#[derive(Default)]
struct Pool {
    state: Mutex<PoolState>,
    returned: Condvar,
}

#[derive(Default)]
struct PoolState {
    spare: Vec<Vec<u8>>,
    /// Buffers handed out and not yet returned.
    out: usize,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // The state stays consistent whatever thread panicked.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A buffer, once fewer than [`BUFFERS`] are out.
    fn take(&self) -> Vec<u8> {
        let mut s = self.lock();
        loop {
            if let Some(b) = s.spare.pop() {
                s.out += 1;
                return b;
            }
            if s.out < BUFFERS {
                s.out += 1;
                return Vec::new();
            }
            s = self.returned.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn give_back(&self, buf: Vec<u8>) {
        let mut s = self.lock();
        s.out -= 1;
        s.spare.push(buf);
        self.returned.notify_one();
    }
}

/// Decoded bytes of one frame; the buffer goes back to the pool when the
/// last reference is dropped.
pub(super) struct Chunk {
    data: Vec<u8>,
    /// Bytes of `data` that hold decoded bytes (the buffer may be longer).
    len: usize,
    pool: Arc<Pool>,
}

impl Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.data));
    }
}

/// What the decoding thread sends, in stream order.
enum Piece {
    /// Bytes of the frame that begins at this compressed offset.
    Data { chunk: Arc<Chunk>, frame_begin: u64 },
    /// Decoding failed in the frame that begins at this compressed offset.
    Error {
        kind: io::ErrorKind,
        message: String,
        frame_begin: u64,
    },
    /// After an error (other than a cut-off frame): where decoding resumed,
    /// as [`FrameReader::resync`] answered.
    Resynced(Result<Option<(u64, u64)>, (io::ErrorKind, String)>),
    /// The input ended cleanly.
    End,
}

/// The decoded stream, read on the verifier's thread.
pub(super) struct Decoded {
    rx: Receiver<Piece>,
    /// The chunk being read and the position in it.
    current: Option<(Arc<Chunk>, usize)>,
    /// A piece taken while looking ahead.
    ahead: Option<Piece>,
    /// Compressed offset where the frame of the last bytes read begins.
    frame_begin: u64,
    /// Decoded bytes read so far, and when the current frame began.
    produced: u64,
    frame_begin_produced: u64,
    /// An error was returned and no resynchronisation followed yet.
    failed: bool,
    ended: bool,
    /// What the decoding thread's `tail` gave, once decoding stopped.
    tail: Receiver<io::Result<Option<String>>>,
}

impl Decoded {
    /// Decode `reader` on a thread of `scope`. Once decoding stops (the input
    /// ended, or this side hung up), the same thread passes the reader to
    /// `tail`, whose answer [`Decoded::finish`] returns: it may read what is
    /// left of the input.
    pub(super) fn start<'s, R, F>(scope: &'s Scope<'s, '_>, mut reader: FrameReader<R>, tail: F) -> Decoded
    where
        R: Read + Send + 's,
        F: FnOnce(FrameReader<R>) -> io::Result<Option<String>> + Send + 's,
    {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let (tail_tx, tail_rx) = mpsc::sync_channel(1);
        scope.spawn(move || {
            decode(&mut reader, &tx);
            drop(tx);
            let _ = tail_tx.send(tail(reader));
        });
        Decoded {
            tail: tail_rx,
            rx,
            current: None,
            ahead: None,
            frame_begin: u64::MAX,
            produced: 0,
            frame_begin_produced: 0,
            failed: false,
            ended: false,
        }
    }

    /// Compressed offset where the frame of the last bytes read begins.
    pub(super) fn frame_begin(&self) -> u64 {
        self.frame_begin
    }

    /// Decoded bytes read so far.
    pub(super) fn produced(&self) -> u64 {
        self.produced
    }

    /// Decoded bytes read before the current (or failed) frame began.
    pub(super) fn frame_begin_produced(&self) -> u64 {
        self.frame_begin_produced
    }

    fn next_piece(&mut self) -> Piece {
        self.ahead.take().unwrap_or_else(|| self.rx.recv().unwrap_or(Piece::End))
    }

    fn enter_frame(&mut self, frame_begin: u64) {
        if frame_begin != self.frame_begin {
            self.frame_begin = frame_begin;
            self.frame_begin_produced = self.produced;
        }
    }

    /// Up to `max` bytes, shared, without copying; `None` at the clean end.
    pub(super) fn view(&mut self, max: usize) -> io::Result<Option<(Arc<Chunk>, Range<usize>)>> {
        if self.failed {
            return Err(io::Error::other("the compressed data is damaged here; resynchronise first"));
        }
        loop {
            if let Some((chunk, at)) = &mut self.current {
                if *at < chunk.len() {
                    let n = max.min(chunk.len() - *at);
                    let range = *at..*at + n;
                    *at += n;
                    self.produced += n as u64;
                    return Ok(Some((Arc::clone(chunk), range)));
                }
                self.current = None;
            }
            if self.ended {
                return Ok(None);
            }
            match self.next_piece() {
                Piece::Data { chunk, frame_begin } => {
                    self.enter_frame(frame_begin);
                    self.current = Some((chunk, 0));
                }
                Piece::Error {
                    kind,
                    message,
                    frame_begin,
                } => {
                    self.enter_frame(frame_begin);
                    self.failed = true;
                    return Err(io::Error::new(kind, message));
                }
                // Only follows an error, which `resync` consumes.
                Piece::Resynced(_) => {}
                Piece::End => self.ended = true,
            }
        }
    }

    /// After an error, or bytes that are not a well-formed member: skip to
    /// the next zstd frame. Returns the compressed range lost (from the
    /// start of the frame in trouble to the next frame), or `None` when no
    /// further frame follows.
    pub(super) fn resync(&mut self) -> io::Result<Option<(u64, u64)>> {
        self.current = None;
        let from = self.frame_begin;
        if std::mem::take(&mut self.failed) {
            // The decoding thread resynchronised right after the error.
            return self.resynced();
        }
        loop {
            match self.next_piece() {
                Piece::Data { frame_begin, .. } if frame_begin == from => {}
                Piece::Data { chunk, frame_begin } => {
                    self.ahead = Some(Piece::Data { chunk, frame_begin });
                    return Ok(Some((from, frame_begin)));
                }
                // The next frame is damaged too: the range runs on to
                // where decoding resumed after it.
                Piece::Error { .. } => return Ok(self.resynced()?.map(|(_, to)| (from, to))),
                Piece::Resynced(_) => {}
                Piece::End => {
                    self.ended = true;
                    return Ok(None);
                }
            }
        }
    }

    /// Stop decoding (nothing more is read from here on) and return what the
    /// `tail` given to [`Decoded::start`] answered.
    pub(super) fn finish(&mut self) -> io::Result<Option<String>> {
        self.current = None;
        self.ahead = None;
        self.ended = true;
        // Hanging up drops the queued chunks, so that a decoding thread
        // waiting for a buffer gets one, finds nobody listening and stops.
        let (_, hung_up) = mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.rx, hung_up));
        self.tail
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("the decoding thread stopped without an answer")))
    }

    fn resynced(&mut self) -> io::Result<Option<(u64, u64)>> {
        match self.next_piece() {
            Piece::Resynced(Ok(r)) => Ok(r),
            Piece::Resynced(Err((kind, message))) => Err(io::Error::new(kind, message)),
            _ => {
                self.ended = true;
                Ok(None)
            }
        }
    }
}

impl Read for Decoded {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self.view(out.len())? {
            Some((chunk, range)) => {
                out[..range.len()].copy_from_slice(&chunk[range.clone()]);
                Ok(range.len())
            }
            None => Ok(0),
        }
    }
}

/// The decoding thread: each frame whole, or in chunks when it must be
/// streamed, in order, until the input ends or the verifier hangs up.
fn decode<R: Read>(reader: &mut FrameReader<R>, tx: &SyncSender<Piece>) {
    let pool = Arc::new(Pool::default());
    loop {
        let mut buf = pool.take();
        let (data, stop) = match reader.read_whole_frame(&mut buf) {
            Ok(true) => (Some((reader.frame_begin(), buf.len())), None),
            Ok(false) => stream(reader, &mut buf),
            Err(e) => (
                None,
                Some(Piece::Error {
                    kind: e.kind(),
                    message: e.to_string(),
                    frame_begin: reader.frame_begin(),
                }),
            ),
        };
        match data {
            // A frame of nothing (or a skippable frame) sends nothing.
            Some((frame_begin, len)) if len > 0 => {
                let chunk = Arc::new(Chunk {
                    data: buf,
                    len,
                    pool: Arc::clone(&pool),
                });
                if tx.send(Piece::Data { chunk, frame_begin }).is_err() {
                    return;
                }
            }
            _ => pool.give_back(buf),
        }
        if let Some(stop) = stop {
            if !after_stop(reader, tx, stop) {
                return;
            }
        }
    }
}

/// Stream up to one chunk of the current frame into the front of `buf`.
/// Returns where the frame of the bytes read begins and how many were read
/// (`None` when none were), and why reading stopped short, if it did.
fn stream<R: Read>(reader: &mut FrameReader<R>, buf: &mut Vec<u8>) -> (Option<(u64, usize)>, Option<Piece>) {
    if buf.capacity() < CHUNK {
        *buf = vec![0; CHUNK];
    } else if buf.len() < CHUNK {
        buf.resize(CHUNK, 0);
    }
    let mut n = 0;
    let mut frame_begin = None;
    let stop = loop {
        if n == CHUNK {
            break None;
        }
        match reader.read(&mut buf[n..CHUNK]) {
            Ok(0) => break Some(Piece::End),
            Ok(k) => {
                frame_begin.get_or_insert(reader.frame_begin());
                n += k;
                if reader.frame_ended() {
                    break None;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                break Some(Piece::Error {
                    kind: e.kind(),
                    message: e.to_string(),
                    frame_begin: reader.frame_begin(),
                })
            }
        }
    };
    (frame_begin.map(|f| (f, n)), stop)
}

/// Send why decoding stopped; after an error other than a cut-off frame,
/// resynchronise and say where. Returns whether decoding goes on.
fn after_stop<R: Read>(reader: &mut FrameReader<R>, tx: &SyncSender<Piece>, stop: Piece) -> bool {
    let Piece::Error {
        kind,
        message,
        frame_begin,
    } = stop
    else {
        let _ = tx.send(stop);
        return false;
    };
    if tx
        .send(Piece::Error {
            kind,
            message,
            frame_begin,
        })
        .is_err()
        || kind == io::ErrorKind::UnexpectedEof
    {
        return false;
    }
    let r = reader.resync();
    let go_on = matches!(r, Ok(Some(_)));
    tx.send(Piece::Resynced(r.map_err(|e| (e.kind(), e.to_string())))).is_ok() && go_on
}

/// What the segment hasher is asked, in stream order.
enum SegmentMsg {
    /// Gathered bytes; each range in the list is a member's header bytes,
    /// whose own digest is also wanted.
    Bytes(Vec<u8>, Vec<Range<usize>>),
    Shared(Arc<Chunk>, Range<usize>),
    /// Reply with the digest so far and start anew.
    Take,
    /// Start anew.
    Reset,
}

/// The running BLAKE3 of the segment, computed on a thread of its own,
/// and the header digests of members (which would otherwise take a tenth
/// of the parsing thread's time on a tree of small files). Small updates
/// are gathered before they are sent.
pub(super) struct SegmentHasher {
    tx: SyncSender<SegmentMsg>,
    digests: Receiver<String>,
    small: Vec<u8>,
    /// Header ranges within `small`.
    headers: Vec<Range<usize>>,
    header_digests: Receiver<String>,
    /// Headers sent so far, and header digests received so far.
    headers_sent: u64,
    headers_received: u64,
}

/// Messages queued for the segment hasher, each at least 16 KiB of work.
const HASHER_QUEUE: usize = 64;
/// Small updates are sent once this many bytes are gathered.
const GATHER: usize = 64 * 1024;

impl SegmentHasher {
    pub(super) fn start<'s>(scope: &'s Scope<'s, '_>) -> SegmentHasher {
        let (tx, rx) = mpsc::sync_channel::<SegmentMsg>(HASHER_QUEUE);
        let (digest_tx, digests) = mpsc::channel();
        let (header_tx, header_digests) = mpsc::channel();
        scope.spawn(move || {
            let mut b3 = blake3::Hasher::new();
            for msg in rx {
                match msg {
                    SegmentMsg::Bytes(b, headers) => {
                        b3.update(&b);
                        for h in headers {
                            if header_tx.send(crate::format::doc::header_digest(&b[h])).is_err() {
                                return;
                            }
                        }
                    }
                    SegmentMsg::Shared(chunk, range) => {
                        b3.update(&chunk[range]);
                    }
                    SegmentMsg::Take => {
                        if digest_tx.send(crate::format::digest::segment_hex(&b3)).is_err() {
                            return;
                        }
                        b3.reset();
                    }
                    SegmentMsg::Reset => {
                        b3.reset();
                    }
                }
            }
        });
        SegmentHasher {
            tx,
            digests,
            small: Vec::with_capacity(GATHER),
            headers: Vec::new(),
            header_digests,
            headers_sent: 0,
            headers_received: 0,
        }
    }

    fn send(&mut self, msg: SegmentMsg) {
        // The thread only stops once this side hangs up.
        let _ = self.tx.send(msg);
    }

    fn flush(&mut self) {
        if !self.small.is_empty() {
            let b = std::mem::replace(&mut self.small, Vec::with_capacity(GATHER));
            let headers = std::mem::take(&mut self.headers);
            self.send(SegmentMsg::Bytes(b, headers));
        }
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        if self.small.len() + bytes.len() > GATHER {
            self.flush();
        }
        if bytes.len() >= GATHER {
            self.send(SegmentMsg::Bytes(bytes.to_vec(), Vec::new()));
        } else {
            self.small.extend_from_slice(bytes);
        }
    }

    /// A member's header bytes: into the segment, and their header digest
    /// computed too. Returns the number to ask for it by.
    pub(super) fn update_header(&mut self, bytes: &[u8]) -> u64 {
        if self.small.len() + bytes.len() > GATHER {
            self.flush();
        }
        if bytes.len() >= GATHER {
            let whole = std::iter::once(0..bytes.len()).collect();
            self.send(SegmentMsg::Bytes(bytes.to_vec(), whole));
        } else {
            let at = self.small.len();
            self.small.extend_from_slice(bytes);
            self.headers.push(at..self.small.len());
        }
        self.headers_sent += 1;
        self.headers_sent - 1
    }

    /// The header digest of header `number`; the digests of headers before
    /// it that were not asked for are dropped.
    pub(super) fn header_digest(&mut self, number: u64) -> String {
        assert!(
            number >= self.headers_received && number < self.headers_sent,
            "header digests are asked for in order"
        );
        self.flush();
        nth_result(&self.header_digests, &mut self.headers_received, number, "segment hasher")
    }

    /// Bytes of a shared chunk: small pieces are gathered like other
    /// updates, so that each message carries enough work to be worth a
    /// place in the queue.
    pub(super) fn update_shared(&mut self, chunk: &Arc<Chunk>, range: Range<usize>) {
        if range.len() < GATHER / 4 {
            self.update(&chunk[range]);
            return;
        }
        self.flush();
        self.send(SegmentMsg::Shared(Arc::clone(chunk), range));
    }

    /// The digest of everything since the last take or reset, as hex; the
    /// next segment starts.
    pub(super) fn take(&mut self) -> String {
        self.flush();
        self.send(SegmentMsg::Take);
        self.digests.recv().expect("the segment hasher runs until the verifier hangs up")
    }

    pub(super) fn reset(&mut self) {
        // Gathered headers still get their digests; their bytes' place in
        // the segment digest no longer matters, as it starts anew.
        self.flush();
        self.send(SegmentMsg::Reset);
    }
}

/// What the content hasher is asked, in stream order.
enum ContentMsg {
    /// Gathered bytes of small pieces of content; a member ends at each
    /// position in `ends` (its bytes may begin in earlier messages).
    Batch { bytes: Vec<u8>, ends: Vec<usize> },
    /// Bytes of the current member, shared.
    Shared(Arc<Chunk>, Range<usize>),
}

/// SHA-256 of members' content, computed on a thread of its own. Members
/// are numbered in the order they end; their digests are asked for later,
/// by number, in increasing order.
pub(super) struct ContentHasher {
    tx: SyncSender<ContentMsg>,
    results: Receiver<String>,
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// Members ended so far, and digests received so far.
    ended: u64,
    received: u64,
}

/// Member ends gathered in one message at most.
const MAX_ENDS: usize = 1024;

impl ContentHasher {
    pub(super) fn start<'s>(scope: &'s Scope<'s, '_>) -> ContentHasher {
        let (tx, rx) = mpsc::sync_channel::<ContentMsg>(HASHER_QUEUE);
        let (results_tx, results) = mpsc::channel();
        scope.spawn(move || {
            let mut sha = Sha256::new();
            let finish = |sha: &mut Sha256| results_tx.send(hex::encode(std::mem::take(sha).finalize())).is_ok();
            for msg in rx {
                match msg {
                    ContentMsg::Batch { bytes, ends } => {
                        let mut at = 0;
                        for end in ends {
                            sha.update(&bytes[at..end]);
                            if !finish(&mut sha) {
                                return;
                            }
                            at = end;
                        }
                        sha.update(&bytes[at..]);
                    }
                    ContentMsg::Shared(chunk, range) => {
                        sha.update(&chunk[range]);
                    }
                }
            }
        });
        ContentHasher {
            tx,
            results,
            bytes: Vec::with_capacity(GATHER),
            ends: Vec::new(),
            ended: 0,
            received: 0,
        }
    }

    fn flush(&mut self) {
        if !self.bytes.is_empty() || !self.ends.is_empty() {
            let msg = ContentMsg::Batch {
                bytes: std::mem::replace(&mut self.bytes, Vec::with_capacity(GATHER)),
                ends: std::mem::take(&mut self.ends),
            };
            // The thread only stops once this side hangs up.
            let _ = self.tx.send(msg);
        }
    }

    /// Bytes of the current member.
    pub(super) fn update_shared(&mut self, chunk: &Arc<Chunk>, range: Range<usize>) {
        if range.len() < GATHER / 4 {
            self.bytes.extend_from_slice(&chunk[range]);
            if self.bytes.len() >= GATHER {
                self.flush();
            }
            return;
        }
        self.flush();
        let _ = self.tx.send(ContentMsg::Shared(Arc::clone(chunk), range));
    }

    /// The current member ends (whether or not all its bytes were read);
    /// returns its number.
    pub(super) fn end_member(&mut self) -> u64 {
        self.ends.push(self.bytes.len());
        if self.ends.len() >= MAX_ENDS {
            self.flush();
        }
        self.ended += 1;
        self.ended - 1
    }

    /// SHA-256 (hex) of member `number`; the digests of members before it
    /// that were not asked for are dropped.
    pub(super) fn digest(&mut self, number: u64) -> String {
        assert!(
            number >= self.received && number < self.ended,
            "content digests are asked for in order"
        );
        self.flush();
        nth_result(&self.results, &mut self.received, number, "content hasher")
    }
}

/// Result `number` of a hasher thread that answers in order, `received`
/// answers having been taken already; the ones before it are dropped.
fn nth_result(answers: &Receiver<String>, received: &mut u64, number: u64, hasher: &str) -> String {
    loop {
        let d = answers
            .recv()
            .unwrap_or_else(|_| panic!("the {hasher} runs until the verifier hangs up"));
        *received += 1;
        if *received > number {
            return d;
        }
    }
}
