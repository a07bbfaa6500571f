//! The collector: walks sources and streams them into a custody archive,
//! writing a signed checkpoint at a bounded interval and a zstd frame
//! boundary after each one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::Digest;

use crate::format::doc::{self, CheckpointDoc, HeaderDoc, InodeFacts, MemberEntry, MemberStatus, PathText, Seal, SkippedEntry, Totals};
use crate::format::sparse;
use crate::format::tar::{self, EntryKind, MemberHeader, Timestamp};
use crate::format::FORMAT_ID;
use crate::signer::Signer;
use crate::source::{self, Meta, Opened, SourceEntry, WalkItem, WalkOptions};
use crate::writer::{self, HashingWriter, Msg, Reply, TarStream};
use rustix::fs::FileType;

/// Default interval: tar bytes between checkpoints.
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 256 * 1024 * 1024;
/// Default interval: members between checkpoints.
pub const DEFAULT_CHECKPOINT_MEMBERS: u64 = 20_000;
/// Default interval: seconds between checkpoints.
pub const DEFAULT_CHECKPOINT_SECONDS: u64 = 60;
pub use crate::format::{FRAME_LIMIT, MAX_CHECKPOINT_MEMBERS};
pub use crate::writer::{FRAME_TARGET, MAX_THREADS};
/// Default zstd level.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// A file that reports size 0 is read up to this many bytes (procfs and
/// sysfs report 0 for files with content).
pub const ZERO_SIZE_READ_LIMIT: usize = 16 * 1024 * 1024;
const READ_CHUNK: usize = 256 * 1024;
/// A checkpoint is written before its document could approach the
/// verifier's limit on documents ([`crate::format::MAX_DOCUMENT_LEN`]).
const MAX_CHECKPOINT_DOC_ESTIMATE: u64 = crate::format::MAX_DOCUMENT_LEN / 4;
/// Upper bound on the JSON bytes of one listed member besides its path and detail.
const ENTRY_OVERHEAD: u64 = 512;

/// Errors that stop a collection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// Writing the archive failed (disk full, pipe closed, ...).
    #[error("writing the archive failed after {bytes} tar bytes: {source}")]
    Output {
        /// Tar bytes written before the failure.
        bytes: u64,
        /// Cause.
        source: io::Error,
    },
    /// Signing a checkpoint failed.
    #[error(transparent)]
    Sign(#[from] crate::signer::KeyError),
}

/// Receives progress; the CLI draws it, the library never prints.
pub trait Progress {
    /// A regular file of `size` bytes is about to be opened and read, or,
    /// for a small file the read-ahead thread already read (at most 64 KiB,
    /// one link), about to be written.
    fn reading(&mut self, _path: &std::path::Path, _size: u64) {}
    /// `bytes` more of the current file's logical content were read (holes of
    /// sparse files included).
    fn read(&mut self, _bytes: u64) {}
    /// A member was written; `content_bytes` is its content length.
    fn member(&mut self, path: &[u8], content_bytes: u64);
    /// A checkpoint was signed.
    fn checkpoint(&mut self, seq: u64, tar_bytes: u64);
}

/// Progress that goes nowhere.
pub struct NoProgress;
impl Progress for NoProgress {
    fn member(&mut self, _: &[u8], _: u64) {}
    fn checkpoint(&mut self, _: u64, _: u64) {}
}

/// How to collect.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// Sources, as given.
    pub sources: Vec<PathBuf>,
    /// Walk options.
    pub walk: WalkOptions,
    /// Exclusion globs as text, for the header.
    pub exclude_patterns: Vec<String>,
    /// Case metadata.
    pub case: doc::CaseInfo,
    /// Checkpoint interval in tar bytes.
    pub checkpoint_bytes: u64,
    /// Checkpoint interval in members.
    pub checkpoint_members: u64,
    /// Checkpoint interval in seconds.
    pub checkpoint_seconds: u64,
    /// zstd level.
    pub zstd_level: i32,
    /// Compression threads (1 to [`MAX_THREADS`]; more are taken as that).
    pub threads: usize,
    /// Set to a signal number to stop the collection: the member being read
    /// is cut short (zero-filled, status `interrupted`), the directories
    /// still being walked are written (innermost first, each with a detail
    /// saying so), then a final signed checkpoint, and no seal.
    pub stop: Option<Arc<AtomicUsize>>,
}

impl CollectOptions {
    /// Collect `sources` with the defaults: the documented checkpoint
    /// intervals and level, one filesystem, no exclusions, and
    /// [`default_threads`] compression threads.
    pub fn new(sources: Vec<PathBuf>) -> Self {
        CollectOptions {
            sources,
            walk: WalkOptions {
                excludes: globset::GlobSet::empty(),
                one_file_system: true,
                never_collect: Vec::new(),
            },
            exclude_patterns: Vec::new(),
            case: doc::CaseInfo::default(),
            checkpoint_bytes: DEFAULT_CHECKPOINT_BYTES,
            checkpoint_members: DEFAULT_CHECKPOINT_MEMBERS,
            checkpoint_seconds: DEFAULT_CHECKPOINT_SECONDS,
            zstd_level: DEFAULT_ZSTD_LEVEL,
            threads: default_threads(),
            stop: None,
        }
    }
}

/// Compression threads when none are asked for: one per CPU, at most
/// [`MAX_THREADS`].
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS)
}

/// What a finished collection produced.
#[derive(Debug, Clone)]
pub struct CollectSummary {
    /// Archive id.
    pub archive_id: String,
    /// Final chain value (SHA-256 of the seal document).
    pub chain: String,
    /// Signer fingerprint.
    pub fingerprint: String,
    /// Number of checkpoints, the seal included.
    pub checkpoints: u64,
    /// Totals at the seal.
    pub totals: Totals,
    /// Statuses at the seal.
    pub statuses: BTreeMap<String, u64>,
    /// Why the collection stopped before its seal, when it did (the archive
    /// then ends with a signed checkpoint and verifies as incomplete).
    pub stopped: Option<String>,
    /// SHA-256 of the compressed bytes written.
    pub archive_sha256: String,
    /// Compressed bytes written.
    pub archive_bytes: u64,
}

/// Name lookups from the collecting host's /etc/passwd and /etc/group.
struct Names {
    users: HashMap<u32, Vec<u8>>,
    groups: HashMap<u32, Vec<u8>>,
}

impl Names {
    fn load() -> Self {
        fn read(path: &str) -> HashMap<u32, Vec<u8>> {
            let Ok(data) = std::fs::read(path) else { return HashMap::new() };
            data.split(|&b| b == b'\n')
                .filter_map(|line| {
                    let mut f = line.split(|&b| b == b':');
                    let name = f.next()?;
                    let id = std::str::from_utf8(f.nth(1)?).ok()?.parse().ok()?;
                    (!name.is_empty()).then(|| (id, name.to_vec()))
                })
                .collect()
        }
        Names {
            users: read("/etc/passwd"),
            groups: read("/etc/group"),
        }
    }
}

/// RFC 3339 UTC time with nanoseconds, and its whole seconds.
pub fn now_rfc3339() -> (String, i64) {
    let now = time::OffsetDateTime::now_utc();
    let text = now
        .format(&time::format_description::well_known::Rfc3339)
        .expect("UTC time formats");
    (text, now.unix_timestamp())
}

pub use crate::format::doc::rfc3339_secs;

/// A member about to be written, with what is known about it so far.
struct Member {
    header: MemberHeader,
    inode: Option<InodeFacts>,
    status: MemberStatus,
    detail: Option<String>,
    evidence: bool,
}

impl Member {
    fn fail(&mut self, status: MemberStatus, detail: String) {
        self.status = status;
        self.note(detail);
    }

    /// Add to the detail, keeping what was noted before.
    fn note(&mut self, detail: String) {
        self.detail = Some(match self.detail.take() {
            Some(earlier) => format!("{detail}; {earlier}"),
            None => detail,
        });
    }
}

/// A collection in progress.
pub struct Collector<'a, W: Write + Send + 'static> {
    out: Out<W>,
    /// Tar bytes written (or sent to the writer thread) so far.
    pos: u64,
    /// Indices in `segment_members` of members whose digests the writer
    /// thread has not reported yet, in stream order.
    pending: VecDeque<usize>,
    /// Likewise for header digests.
    pending_headers: VecDeque<usize>,
    signer: &'a mut Signer,
    opts: CollectOptions,
    archive_id: String,
    chain: String,
    seq: u64,
    segment_start: u64,
    segment_members: Vec<MemberEntry>,
    segment_skipped: Vec<SkippedEntry>,
    segment_evidence: u64,
    /// Estimated size of the current checkpoint document.
    segment_doc_bytes: u64,
    last_checkpoint: Instant,
    totals: Totals,
    statuses: BTreeMap<String, u64>,
    without_noatime: u64,
    names: Names,
    hardlinks: HashMap<(u64, u64), Vec<u8>>,
    progress: &'a mut dyn Progress,
    /// The read buffer, allocated once (zeroing a fresh one per file cost
    /// more than hashing small files).
    buf: Vec<u8>,
}

impl<'a, W: Write + Send + 'static> Collector<'a, W> {
    /// Start an archive on `out`: writes the header document.
    pub fn start(out: W, signer: &'a mut Signer, opts: CollectOptions, progress: &'a mut dyn Progress) -> Result<Self, CollectError> {
        let mut id = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
        let out = TarStream::new(out, opts.zstd_level, opts.threads).map_err(|source| CollectError::Output { bytes: 0, source })?;
        let mut c = Collector {
            out: Out::Direct(Box::new(out)),
            pos: 0,
            pending: VecDeque::new(),
            pending_headers: VecDeque::new(),
            signer,
            archive_id: hex::encode(id),
            chain: String::new(),
            seq: 0,
            segment_start: 0,
            segment_members: Vec::new(),
            segment_skipped: Vec::new(),
            segment_evidence: 0,
            segment_doc_bytes: 0,
            last_checkpoint: Instant::now(),
            totals: Totals::default(),
            statuses: BTreeMap::new(),
            without_noatime: 0,
            names: Names::load(),
            hardlinks: HashMap::new(),
            progress,
            buf: vec![0u8; READ_CHUNK],
            opts,
        };
        let header = c.header_doc();
        let bytes = doc::to_document_bytes(&header);
        c.chain = doc::chain_value(&bytes);
        let secs = rfc3339_secs(&header.start_time).unwrap_or(0);
        c.write_custody_member(doc::HEADER_PATH, &bytes, secs)?;
        // The header document goes out at once, in a frame of its own: even
        // an archive killed right away names its signer.
        c.end_frame()?;
        Ok(c)
    }

    fn header_doc(&self) -> HeaderDoc {
        let public = self.signer.public_key();
        HeaderDoc {
            format: FORMAT_ID.into(),
            doc_type: doc::HEADER_TYPE.into(),
            archive_id: self.archive_id.clone(),
            tool: doc::ToolInfo {
                name: "custody".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            case: self.opts.case.clone(),
            host: host_info(),
            sources: self
                .opts
                .sources
                .iter()
                .map(|p| PathText::from_bytes(p.as_os_str().as_bytes()))
                .collect(),
            parameters: doc::Parameters {
                checkpoint_bytes: self.opts.checkpoint_bytes,
                checkpoint_members: self.opts.checkpoint_members,
                checkpoint_seconds: self.opts.checkpoint_seconds,
                excludes: self.opts.exclude_patterns.clone(),
                one_file_system: self.opts.walk.one_file_system,
                zstd_level: self.opts.zstd_level,
                noatime: Some(noatime_scope().into()),
            },
            signer: doc::SignerInfo {
                public_key: crate::signer::public_key_line(&public),
                fingerprint: crate::signer::fingerprint(&public),
                source: self.signer.source_name().into(),
            },
            start_time: now_rfc3339().0,
        }
    }

    fn output_err(&self, source: io::Error) -> CollectError {
        CollectError::Output { bytes: self.pos, source }
    }

    /// Walk the sources and archive everything, then seal. The tar stream
    /// is hashed and compressed on a thread of its own meanwhile.
    pub fn run(mut self) -> Result<(CollectSummary, W), CollectError>
    where
        W: Send,
    {
        let Out::Direct(stream) = std::mem::replace(&mut self.out, Out::Moving) else {
            unreachable!("the stream is written here between collection steps")
        };
        let (tx, rx) = mpsc::sync_channel(PIPE_DEPTH);
        let (reply_tx, replies) = mpsc::channel();
        let (pool_tx, pool) = mpsc::channel();
        let (walked, stream, served, replies) = std::thread::scope(|scope| {
            let writer = scope.spawn(move || {
                let mut stream = stream;
                let served = writer::serve(&mut stream, rx, reply_tx, pool_tx, READ_CHUNK);
                (stream, served)
            });
            self.out = Out::Piped(Pipe {
                tx,
                batch: Vec::new(),
                batch_bytes: 0,
                replies,
                pool,
                buffers: 0,
                spare: Vec::new(),
            });
            // A panic in the walk must still hang up on the writer thread, or
            // the scope would wait for it forever.
            let walked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.walk_sources()));
            let Out::Piped(mut pipe) = std::mem::replace(&mut self.out, Out::Moving) else {
                unreachable!("piped during the walk")
            };
            let flushed = if walked.is_ok() { pipe.flush() } else { Ok(()) };
            let Pipe { tx, replies, .. } = pipe;
            drop(tx);
            let (stream, served) = writer.join().expect("the writer thread does not panic");
            let walked = walked.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let walked = walked.and_then(|()| flushed.map_err(|source| CollectError::Output { bytes: self.pos, source }));
            (walked, stream, served, replies)
        });
        self.out = Out::Direct(stream);
        served.map_err(|e| self.output_err(e))?;
        for r in replies.try_iter() {
            match r {
                Reply::Member(sha) => self.fill_digest(sha),
                Reply::Header(d) => self.fill_header_digest(d),
                _ => {}
            }
        }
        walked?;
        if let Some(signal) = self.stop_signal() {
            return self.stop(signal);
        }
        self.seal("completed")
    }

    fn walk_sources(&mut self) -> Result<(), CollectError> {
        let sources = self.opts.sources.clone();
        let walk_opts = self.opts.walk.clone();
        let mut failure: Option<CollectError> = None;
        let stop = self.opts.stop.clone();
        let stopped = || stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst) != 0);
        let (jobs, job_rx) = mpsc::sync_channel::<SourceEntry>(AHEAD_ENTRIES);
        let (done_tx, done) = mpsc::channel();
        let walked = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("custody-read".into())
                .spawn_scoped(scope, move || {
                    for e in job_rx {
                        let read = read_ahead(&e);
                        if done_tx.send((e, read)).is_err() {
                            return;
                        }
                    }
                })
                .expect("the read-ahead thread starts");
            let mut ahead = Ahead {
                jobs,
                done,
                window: VecDeque::new(),
                bytes: 0,
            };
            // A stop ends the walk before its next entry; the directories it
            // was still walking then come here, cheaply (no file is read), so
            // that none is missing from the archive.
            let walked = source::walk(&sources, &walk_opts, stopped, |item| {
                self.walked(&mut ahead, item).map_err(|e| {
                    failure = Some(e);
                    io::Error::other("collection stopped")
                })
            });
            // What the walk ran ahead with is archived too, unless the
            // output failed: files already read are written whole, and a
            // file still to be read after a stop is cut short like the one
            // being read when it came.
            while failure.is_none() && !ahead.window.is_empty() {
                if let Err(e) = self.next_in_order(&mut ahead) {
                    failure = Some(e);
                }
            }
            walked
        });
        if let Some(e) = failure {
            return Err(e);
        }
        match walked {
            Ok(stats) => {
                self.without_noatime += stats.dirs_without_noatime;
                Ok(())
            }
            // `run` signs a final checkpoint for a stop, whatever the walk met.
            Err(_) if self.stop_signal().is_some() => Ok(()),
            Err(e) => Err(self.output_err(e)),
        }
    }

    /// An item from the walk: small regular files go to the read-ahead
    /// thread; everything waits its turn in the window, and the oldest items
    /// are archived once the window is full.
    fn walked(&mut self, ahead: &mut Ahead, item: WalkItem) -> Result<(), CollectError> {
        let slot = match item {
            WalkItem::Entry(e) if reads_ahead(&e.metadata) => {
                ahead.bytes += e.metadata.size;
                ahead.jobs.send(e).expect("the read-ahead thread runs until the walk ends");
                Slot::ReadAhead
            }
            other => Slot::Now(Box::new(other)),
        };
        ahead.window.push_back(slot);
        while ahead.window.len() > AHEAD_ENTRIES || ahead.bytes > AHEAD_BYTES {
            self.next_in_order(ahead)?;
        }
        Ok(())
    }

    /// Archive the oldest item of the window.
    fn next_in_order(&mut self, ahead: &mut Ahead) -> Result<(), CollectError> {
        match ahead.window.pop_front() {
            Some(Slot::Now(item)) => self.archive_item(*item)?,
            Some(Slot::ReadAhead) => {
                // The read-ahead thread takes files in order, so its next
                // answer is this one.
                let (e, read) = ahead.done.recv().expect("the read-ahead thread answers every file");
                ahead.bytes -= e.metadata.size;
                self.archive_file(&e, Some(read))?;
            }
            None => return Ok(()),
        }
        self.maybe_checkpoint()
    }

    fn archive_item(&mut self, item: WalkItem) -> Result<(), CollectError> {
        match item {
            WalkItem::Entry(e) => self.archive_entry(&e),
            WalkItem::Unfinished(e) => self.archive_unfinished_dir(&e),
            WalkItem::Skipped { archive_path, reason } => {
                self.totals.skipped += 1;
                self.segment_doc_bytes += 2 * archive_path.len() as u64 + reason.len() as u64 + 64;
                self.segment_skipped.push(SkippedEntry {
                    path: PathText::from_bytes(&archive_path),
                    reason,
                });
                Ok(())
            }
        }
    }

    /// A directory the walk was still listing when the collection stopped:
    /// its member, from the metadata the walk took, with a detail saying
    /// that the entries not walked yet are not in the archive. Its own
    /// metadata is whole, so its status is `ok` (FORMAT.md §7, "Stopping").
    fn archive_unfinished_dir(&mut self, e: &SourceEntry) -> Result<(), CollectError> {
        let xattrs = read_xattrs(XattrSource::Path(&e.xattr_path()));
        let mut m = self.evidence_member(e, &e.metadata, EntryKind::Directory, 0, xattrs);
        let by = self.stop_signal().map_or_else(String::new, |s| format!(" by {}", signal_name(s)));
        m.note(format!(
            "collection stopped{by} before all its entries were walked; those not walked are not in the archive"
        ));
        self.write_member(m, None)
    }

    /// Send, or write, bytes of the tar stream.
    fn emit(
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

    fn raw(&mut self, bytes: &[u8]) -> Result<(), CollectError> {
        self.emit(bytes.len() as u64, |s| s.raw(bytes), || Msg::Raw(bytes.to_vec()))
    }

    fn raw_zeros(&mut self, n: u64) -> Result<(), CollectError> {
        self.emit(n, |s| s.raw_zeros(n), || Msg::RawZeros(n))
    }

    fn begin_content(&mut self) -> Result<(), CollectError> {
        let begin = |s: &mut TarStream<W>| {
            s.begin_member();
            Ok(())
        };
        self.emit(0, begin, || Msg::Begin)
    }

    fn content(&mut self, bytes: &[u8]) -> Result<(), CollectError> {
        self.emit(
            bytes.len() as u64,
            |s| s.content(bytes),
            || Msg::Content(bytes.to_vec(), bytes.len()),
        )
    }

    fn content_zeros(&mut self, n: u64) -> Result<(), CollectError> {
        self.emit(n, |s| s.content_zeros(n), || Msg::ContentZeros(n))
    }

    fn hole(&mut self, n: u64) -> Result<(), CollectError> {
        let hole = |s: &mut TarStream<W>| {
            s.hole(n);
            Ok(())
        };
        self.emit(0, hole, || Msg::Hole(n))
    }

    /// A buffer of `READ_CHUNK` bytes to read content into.
    fn chunk(&mut self) -> Vec<u8> {
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
    fn keep_chunk(&mut self, buf: Vec<u8>) {
        match &mut self.out {
            Out::Piped(p) => p.spare.push(buf),
            _ => self.buf = buf,
        }
    }

    /// The first `n` bytes of a buffer from [`Self::chunk`] as content.
    fn content_chunk(&mut self, buf: Vec<u8>, n: usize) -> Result<(), CollectError> {
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
    fn end_content(&mut self) -> Result<Option<String>, CollectError> {
        if let Out::Direct(s) = &mut self.out {
            return Ok(Some(s.end_member()));
        }
        self.emit(0, |_| Ok(()), || Msg::End)?;
        Ok(None)
    }

    fn fill_header_digest(&mut self, digest: String) {
        let i = self.pending_headers.pop_front().expect("a member awaits this header digest");
        self.segment_members[i].header_digest = digest;
    }

    fn fill_digest(&mut self, sha: String) {
        let i = self.pending.pop_front().expect("a member awaits this digest");
        self.segment_members[i].sha256 = Some(sha);
    }

    /// Wait for the writer thread to report every member digest so far; with
    /// `segment`, also take the segment digest.
    fn catch_up(&mut self, segment: bool) -> Result<Option<String>, CollectError> {
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

    fn end_frame(&mut self) -> Result<(), CollectError> {
        self.emit(0, |s| s.end_frame(), || Msg::Frame)
    }

    /// The signal that asked the collection to stop, if one did.
    fn stop_signal(&self) -> Option<usize> {
        self.opts.stop.as_ref().map(|s| s.load(Ordering::SeqCst)).filter(|&s| s != 0)
    }

    /// Stop before the seal: sign what was written so far in a final
    /// checkpoint that says why, and end the zstd frame.
    fn stop(mut self, signal: usize) -> Result<(CollectSummary, W), CollectError> {
        let why = format!("interrupted by {}", signal_name(signal));
        self.checkpoint(None, Some(why.clone()))?;
        let w = self.finish_stream()?;
        Ok(self.summary(w, Some(why)))
    }

    fn maybe_checkpoint(&mut self) -> Result<(), CollectError> {
        let due = self.pos - self.segment_start >= self.opts.checkpoint_bytes
            || self.segment_evidence + self.segment_skipped.len() as u64 >= self.opts.checkpoint_members
            || self.segment_doc_bytes >= MAX_CHECKPOINT_DOC_ESTIMATE
            || self.last_checkpoint.elapsed() >= Duration::from_secs(self.opts.checkpoint_seconds);
        if due && (self.segment_evidence > 0 || !self.segment_skipped.is_empty()) {
            self.checkpoint(None, None)?;
        } else {
            // Damage to a frame loses only that frame: end one between members
            // every few MiB, not only at checkpoints.
            self.emit(0, |s| s.boundary(), || Msg::Boundary)?;
        }
        Ok(())
    }

    fn record(&mut self, entry: MemberEntry, evidence: bool) {
        self.totals.members += 1;
        if evidence {
            self.totals.evidence_members += 1;
            self.totals.content_bytes += entry.size;
            self.segment_evidence += 1;
            if entry.status.is_failure() {
                self.totals.failures += 1;
            }
            *self.statuses.entry(entry.status.name().to_string()).or_default() += 1;
        }
        self.segment_doc_bytes +=
            2 * entry.path.display().len() as u64 + ENTRY_OVERHEAD + entry.detail.as_ref().map_or(0, |d| d.len() as u64);
        self.segment_members.push(entry);
    }

    /// The member for a source entry, from its metadata.
    fn evidence_member(&self, e: &SourceEntry, m: &Meta, kind: EntryKind, size: u64, xattrs: XattrList) -> Member {
        let mut path = e.archive_path.clone();
        if kind == EntryKind::Directory && !path.ends_with(b"/") {
            path.push(b'/');
        }
        let mut h = MemberHeader::new(path, kind, size, m.mtime);
        h.mode = m.mode;
        h.uid = u64::from(m.uid);
        h.gid = u64::from(m.gid);
        h.uname = self.names.users.get(&m.uid).cloned();
        h.gname = self.names.groups.get(&m.gid).cloned();
        h.atime = Some(m.atime);
        h.ctime = Some(m.ctime);
        let mut detail = None;
        match xattrs {
            Ok(xattrs) => {
                h.acl_access = acl_text_of(&xattrs, ACL_ACCESS_XATTR);
                h.acl_default = acl_text_of(&xattrs, ACL_DEFAULT_XATTR);
                h.xattrs = xattrs;
            }
            Err(err) => detail = Some(format!("extended attributes could not be read: {err}")),
        }
        let inode = InodeFacts {
            dev: m.dev,
            ino: m.ino,
            nlink: m.nlink,
            btime: m.btime.map(Timestamp::to_pax),
        };
        Member {
            header: h,
            inode: Some(inode),
            status: MemberStatus::Ok,
            detail,
            evidence: true,
        }
    }

    fn archive_entry(&mut self, e: &SourceEntry) -> Result<(), CollectError> {
        let ft = e.metadata.file_type;
        let kind = match ft {
            FileType::RegularFile => return self.archive_file(e, None),
            FileType::Directory => EntryKind::Directory,
            FileType::Symlink => EntryKind::Symlink,
            FileType::Fifo => EntryKind::Fifo,
            FileType::CharacterDevice => EntryKind::CharDevice,
            FileType::BlockDevice => EntryKind::BlockDevice,
            _ => EntryKind::File,
        };
        let mut m = self.evidence_member(e, &e.metadata, kind, 0, read_xattrs(XattrSource::Path(&e.xattr_path())));
        if ft == FileType::Socket {
            m.fail(MemberStatus::Socket, "socket: recorded as an empty file, never opened".into());
        } else if kind == EntryKind::File {
            m.fail(
                MemberStatus::Unreadable,
                "unknown file type: recorded as an empty file, never opened".into(),
            );
        }
        if e.other_filesystem {
            m.fail(
                MemberStatus::OtherFilesystem,
                "mount point of another filesystem: recorded, not descended into".into(),
            );
        }
        if kind == EntryKind::Symlink {
            match e.read_link() {
                Ok(t) => m.header.linkpath = Some(t),
                Err(err) => {
                    m.fail(MemberStatus::Vanished, format!("symlink target could not be read: {err}"));
                    m.header.linkpath = Some(Vec::new());
                }
            }
        }
        if matches!(kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            (m.header.devmajor, m.header.devminor) = e.metadata.rdev;
        }
        self.write_member(m, None)
    }

    /// A regular file; `ahead` is what the read-ahead thread already found
    /// and read for it, if it took it.
    fn archive_file(&mut self, e: &SourceEntry, ahead: Option<ReadAhead>) -> Result<(), CollectError> {
        let md = &e.metadata;
        let by_path = |e: &SourceEntry| read_xattrs(XattrSource::Path(&e.xattr_path()));
        if md.nlink > 1 {
            if let Some(first) = self.hardlinks.get(&(md.dev, md.ino)).cloned() {
                let mut m = self.evidence_member(e, md, EntryKind::HardLink, 0, by_path(e));
                m.header.linkpath = Some(first);
                return self.write_member(m, None);
            }
            self.hardlinks.insert((md.dev, md.ino), e.archive_path.clone());
        }
        self.progress.reading(&e.fs_path, md.size);
        let (opened, ahead_xattrs, ahead_content) = match ahead {
            Some(a) => (a.opened, a.xattrs, a.content),
            None => (e.open_regular(), None, None),
        };
        let (file, now) = match opened {
            Ok(Opened::File { file, meta, noatime }) => {
                self.without_noatime += u64::from(!noatime);
                (file, meta)
            }
            Ok(Opened::NotRegular(meta)) => {
                let mut m = self.evidence_member(e, md, EntryKind::File, 0, by_path(e));
                let what = format!("{:?}", meta.file_type).to_lowercase();
                m.fail(
                    MemberStatus::Vanished,
                    format!("replaced by a {what} between the walk and the read; not opened"),
                );
                return self.write_member(m, None);
            }
            Err(err) => {
                let mut m = self.evidence_member(e, md, EntryKind::File, 0, by_path(e));
                let status = if err.kind() == io::ErrorKind::NotFound {
                    MemberStatus::Vanished
                } else {
                    MemberStatus::Unreadable
                };
                m.fail(status, format!("could not open: {err}"));
                return self.write_member(m, None);
            }
        };
        // Attributes, like the header's size, are those of the open file.
        let xattrs = ahead_xattrs.unwrap_or_else(|| read_xattrs(XattrSource::File(&file)));
        let replaced = (now.dev, now.ino) != (md.dev, md.ino);
        if now.size == 0 {
            let mut m = self.evidence_member(e, &now, EntryKind::File, 0, xattrs);
            if replaced {
                m.fail(MemberStatus::Changed, replaced_detail(md, &now));
            }
            return self.archive_small_file(m, file);
        }
        let mut m = self.evidence_member(e, &now, EntryKind::File, now.size, xattrs.clone());
        if replaced {
            m.fail(MemberStatus::Changed, replaced_detail(md, &now));
        }
        if let Some(read) = ahead_content {
            return self.write_read_ahead(m, read);
        }
        if let Some(regions) = sparse_regions(&file, &now) {
            if now.size > sparse::MAX_REAL_SIZE {
                let data: u64 = regions.iter().map(|r| r.len).sum();
                let mut m = self.evidence_member(e, &now, EntryKind::File, 0, xattrs);
                m.fail(
                    MemberStatus::Unreadable,
                    format!(
                        "sparse file of {} bytes ({data} bytes of data): larger than the {} bytes custody digests; recorded without content",
                        now.size,
                        sparse::MAX_REAL_SIZE
                    ),
                );
                return self.write_member(m, None);
            }
            m.header.sparse_real_size = Some(now.size);
            m.header.size = sparse::stored_size(&regions);
            return self.write_sparse(m, (file, now, e), &regions);
        }
        self.write_member(m, Some((file, now, e)))
    }

    /// Files that report size 0 are read first (bounded), so that pseudo-files
    /// with content are stored whole and the header states the true size.
    fn archive_small_file(&mut self, mut m: Member, file: File) -> Result<(), CollectError> {
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
    fn write_read_ahead(&mut self, mut m: Member, read: ReadContent) -> Result<(), CollectError> {
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

    fn write_member_bytes(&mut self, m: Member, data: &[u8]) -> Result<(), CollectError> {
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
    fn write_member(&mut self, mut m: Member, file: Option<Reading<'_>>) -> Result<(), CollectError> {
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
    fn write_sparse(&mut self, mut m: Member, reading: Reading<'_>, regions: &[sparse::Region]) -> Result<(), CollectError> {
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

    fn write_custody_member(&mut self, path: &str, data: &[u8], secs: i64) -> Result<(), CollectError> {
        let header = doc::custody_member_header(path, data.len() as u64, secs);
        let m = Member {
            header,
            inode: None,
            status: MemberStatus::Custody,
            detail: None,
            evidence: false,
        };
        self.write_member_bytes(m, data)
    }

    fn checkpoint(&mut self, seal: Option<Seal>, stopped: Option<String>) -> Result<(), CollectError> {
        self.seq += 1;
        let is_seal = seal.is_some();
        let stopped_here = stopped.clone();
        let (time_text, secs) = now_rfc3339();
        // Every member's digests are needed for the manifest and the listing.
        self.catch_up(false)?;
        let manifest: Vec<u8> = self
            .segment_members
            .iter()
            .filter(|m| doc::digest_in_manifest(m))
            .filter_map(|m| Some(doc::manifest_line(m.sha256.as_deref()?, &m.path.to_bytes()?)))
            .flatten()
            .collect();
        if !manifest.is_empty() {
            self.write_custody_member(&doc::manifest_path(self.seq), &manifest, secs)?;
        }
        let end = self.pos;
        let segment_blake3 = self.catch_up(true)?.expect("asked for the segment digest");
        // Their digests are in the manifest: the listing does not repeat them.
        for m in self.segment_members.iter_mut().filter(|m| doc::digest_in_manifest(m)) {
            m.sha256 = None;
        }
        let cp = CheckpointDoc {
            format: FORMAT_ID.into(),
            doc_type: doc::CHECKPOINT_TYPE.into(),
            archive_id: self.archive_id.clone(),
            seq: self.seq,
            prev_chain: self.chain.clone(),
            range: doc::ByteRange {
                start: self.segment_start,
                end,
            },
            segment_blake3,
            members: std::mem::take(&mut self.segment_members),
            skipped: std::mem::take(&mut self.segment_skipped),
            time: time_text,
            totals: self.totals.clone(),
            seal,
            stopped,
        };
        let bytes = doc::to_document_bytes(&cp);
        let sig = self.signer.sign(&bytes)?;
        self.segment_start = end;
        self.segment_evidence = 0;
        self.segment_doc_bytes = 0;
        self.chain = doc::chain_value(&bytes);
        self.write_custody_member(&doc::checkpoint_path(self.seq), &bytes, secs)?;
        self.write_custody_member(&doc::signature_path(self.seq), &sig, secs)?;
        if !is_seal && stopped_here.is_none() {
            self.end_frame()?;
        }
        self.last_checkpoint = Instant::now();
        self.progress.checkpoint(self.seq, end);
        Ok(())
    }

    /// Write the final checkpoint and the end-of-archive marker.
    pub fn seal(mut self, reason: &str) -> Result<(CollectSummary, W), CollectError> {
        let seal = Seal {
            end_time: now_rfc3339().0,
            statuses: self.statuses.clone(),
            opened_without_noatime: self.without_noatime,
            reason: reason.into(),
        };
        self.checkpoint(Some(seal), None)?;
        self.raw_zeros(tar::END_OF_ARCHIVE_LEN as u64)?;
        let w = self.finish_stream()?;
        Ok(self.summary(w, None))
    }

    /// End the last zstd frame and hand back the output.
    fn finish_stream(&mut self) -> Result<HashingWriter<W>, CollectError> {
        let Out::Direct(s) = &mut self.out else {
            unreachable!("the last frame ends after the walk")
        };
        s.finish().map_err(|e| CollectError::Output {
            bytes: self.pos,
            source: e,
        })
    }

    fn summary(&self, w: HashingWriter<W>, stopped: Option<String>) -> (CollectSummary, W) {
        let summary = CollectSummary {
            archive_id: self.archive_id.clone(),
            chain: self.chain.clone(),
            fingerprint: crate::signer::fingerprint(&self.signer.public_key()),
            checkpoints: self.seq,
            totals: self.totals.clone(),
            statuses: self.statuses.clone(),
            stopped,
            archive_sha256: hex::encode(w.sha.finalize()),
            archive_bytes: w.bytes,
        };
        (summary, w.inner)
    }
}

/// Whether an open file changed while it was read: its size, mtime or ctime
/// differs from `before`.
/// Regular files up to this size are opened and read by the read-ahead
/// thread, ahead of the walking thread, which then only writes them: on a
/// tree of small files the system calls per file, not the bytes, are the
/// work, and this spreads them over two cores.
const AHEAD_MAX_FILE: u64 = 64 * 1024;
/// Walk items the window holds at most...
const AHEAD_ENTRIES: usize = 64;
/// ...and bytes of files read ahead.
const AHEAD_BYTES: u64 = 4 * 1024 * 1024;

/// Walk items waiting to be archived, in walk order.
struct Ahead {
    jobs: SyncSender<SourceEntry>,
    done: Receiver<(SourceEntry, ReadAhead)>,
    window: VecDeque<Slot>,
    /// Sizes of the files read ahead in the window.
    bytes: u64,
}

enum Slot {
    /// Archived when its turn comes.
    Now(Box<WalkItem>),
    /// With the read-ahead thread: its next answer.
    ReadAhead,
}

/// Whether the read-ahead thread takes this entry: a small regular file
/// with no other links (the first path of a hard link is decided in walk
/// order) and no room for holes (sparse files are mapped when written).
fn reads_ahead(md: &Meta) -> bool {
    md.is_file() && md.nlink == 1 && md.size > 0 && md.size <= AHEAD_MAX_FILE && md.blocks.saturating_mul(512) >= md.size
}

/// What the read-ahead thread found for a file.
struct ReadAhead {
    opened: io::Result<Opened>,
    /// Extended attributes of the open file.
    xattrs: Option<XattrList>,
    /// Its content, when it was read whole here.
    content: Option<ReadContent>,
}

struct ReadContent {
    /// At most the size stated by the open file; fewer bytes if it shrank
    /// or a read failed (the rest is zero-filled when written).
    data: Vec<u8>,
    /// What the read found, as for a file read by the walking thread.
    outcome: Option<(MemberStatus, String)>,
}

/// Open and read a small file as [`Collector::archive_file`] and
/// [`Collector::stream_content`] would, without writing anything.
fn read_ahead(e: &SourceEntry) -> ReadAhead {
    let opened = e.open_regular();
    let (xattrs, content) = match &opened {
        Ok(Opened::File { file, meta, .. }) => {
            let xattrs = read_xattrs(XattrSource::File(file));
            // Only what the walk saw as small and whole is read here: the
            // open file may say otherwise.
            let content = reads_ahead(meta).then(|| read_small(file, meta, e));
            (Some(xattrs), content)
        }
        _ => (None, None),
    };
    ReadAhead { opened, xattrs, content }
}

fn read_small(mut f: &File, meta: &Meta, entry: &SourceEntry) -> ReadContent {
    let size = meta.size;
    let mut data = vec![0u8; size as usize];
    let mut done = 0;
    let mut failure = None;
    while done < data.len() {
        match f.read(&mut data[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    data.truncate(done);
    let outcome = if (done as u64) < size {
        Some(short_read(done as u64, size, failure))
    } else {
        after_full_read(f, meta, entry)
    };
    ReadContent { data, outcome }
}

/// A file that gave fewer bytes than its size said.
fn short_read(done: u64, size: u64, failure: Option<io::Error>) -> (MemberStatus, String) {
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
fn after_full_read(mut f: &File, before: &Meta, entry: &SourceEntry) -> Option<(MemberStatus, String)> {
    let mut probe = [0u8; 1];
    if matches!(f.read(&mut probe), Ok(1)) {
        return Some((
            MemberStatus::Grew,
            format!("grew while read; the first {} bytes are archived", before.size),
        ));
    }
    changed_while_read(f, before, entry)
}

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

/// Where the tar stream goes: written here (before and after the walk), or
/// sent to the writer thread (during the walk).
enum Out<W: Write + Send + 'static> {
    Direct(Box<TarStream<W>>),
    Piped(Pipe),
    /// While the stream moves to or from the writer thread.
    Moving,
}

/// The collector's end of the channels to the writer thread.
struct Pipe {
    tx: SyncSender<Vec<Msg>>,
    /// Messages not sent yet: a file's few messages travel together.
    batch: Vec<Msg>,
    /// Content bytes in `batch`.
    batch_bytes: usize,
    replies: Receiver<Reply>,
    /// Content buffers coming back for reuse.
    pool: Receiver<Vec<u8>>,
    /// Content buffers made so far (at most `MAX_BUFFERS`).
    buffers: usize,
    /// Buffers taken and not sent.
    spare: Vec<Vec<u8>>,
}

/// Batches queued to the writer thread.
const PIPE_DEPTH: usize = 8;
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

    fn flush(&mut self) -> io::Result<()> {
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

/// A regular file being read: the open file, its metadata when opened, and
/// the walk's entry for it.
type Reading<'e> = (File, Meta, &'e SourceEntry);

/// Detail for a file whose path led to another inode when it was opened.
fn replaced_detail(walked: &Meta, opened: &Meta) -> String {
    format!(
        "replaced (e.g. rotated) between the walk and the read: inode {} became {}; the file now at this path is archived",
        walked.ino, opened.ino
    )
}

/// A file with holes is stored in the sparse format when it has at most
/// this many data regions; beyond that it is stored whole.
const MAX_SPARSE_REGIONS: usize = 65_536;

/// The data regions of a file that has holes, or `None` to store it whole
/// (no holes, too many regions, or a filesystem that cannot say).
fn sparse_regions(file: &File, md: &Meta) -> Option<Vec<sparse::Region>> {
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

/// Name of the extended attribute that holds a POSIX access ACL.
const ACL_ACCESS_XATTR: &[u8] = b"system.posix_acl_access";
/// Name of the extended attribute that holds a POSIX default ACL.
const ACL_DEFAULT_XATTR: &[u8] = b"system.posix_acl_default";

/// Extended attributes as read, or why they could not be.
type XattrList = Result<Vec<(Vec<u8>, Vec<u8>)>, String>;

/// Where to read extended attributes from.
enum XattrSource<'a> {
    /// A path, not following a final symlink.
    Path(&'a std::path::Path),
    /// An open file.
    File(&'a File),
}

/// Every extended attribute, sorted by name. A filesystem without extended
/// attributes has none.
fn read_xattrs(from: XattrSource<'_>) -> XattrList {
    let list = |buf: &mut [u8]| match &from {
        XattrSource::Path(p) => rustix::fs::llistxattr(*p, buf),
        XattrSource::File(f) => rustix::fs::flistxattr(*f, buf),
    };
    let get = |name: &[u8], buf: &mut [u8]| match &from {
        XattrSource::Path(p) => rustix::fs::lgetxattr(*p, name, buf),
        XattrSource::File(f) => rustix::fs::fgetxattr(*f, name, buf),
    };
    let unsupported = |e: &rustix::io::Errno| matches!(*e, rustix::io::Errno::NOTSUP | rustix::io::Errno::NOSYS);
    let mut names = vec![0u8; 1024];
    let len = loop {
        match list(&mut names[..]) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) if names.len() < 1 << 20 => names.resize(names.len() * 4, 0),
            Err(e) if unsupported(&e) => return Ok(Vec::new()),
            Err(e) => return Err(io::Error::from(e).to_string()),
        }
    };
    let mut out = Vec::new();
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut value = vec![0u8; 4096];
        let n = loop {
            match get(name, &mut value[..]) {
                Ok(n) => break Some(n),
                Err(rustix::io::Errno::RANGE) if value.len() < 1 << 20 => value.resize(value.len() * 4, 0),
                Err(rustix::io::Errno::NODATA) => break None,
                Err(e) => return Err(io::Error::from(e).to_string()),
            }
        };
        if let Some(n) = n {
            value.truncate(n);
            out.push((name.to_vec(), value));
        }
    }
    out.sort();
    Ok(out)
}

/// The `SCHILY.acl.*` text of a POSIX ACL held in the extended attribute
/// `name`: one entry per line, with numeric user and group ids, as
/// `acl_to_text` and `setfacl` write and read it.
fn acl_text_of(xattrs: &[(Vec<u8>, Vec<u8>)], name: &[u8]) -> Option<Vec<u8>> {
    let value = &xattrs.iter().find(|(n, _)| n == name)?.1;
    let (version, entries) = value.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*version) != 2 || entries.len() % 8 != 0 {
        return None;
    }
    let mut text = String::new();
    for e in entries.chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u16::from_le_bytes([e[2], e[3]]);
        let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        let (kind, qualifier) = match tag {
            0x01 => ("user", String::new()),
            0x02 => ("user", id.to_string()),
            0x04 => ("group", String::new()),
            0x08 => ("group", id.to_string()),
            0x10 => ("mask", String::new()),
            0x20 => ("other", String::new()),
            _ => return None,
        };
        let bit = |b: u16, c: char| if perm & b != 0 { c } else { '-' };
        text.push_str(&format!("{kind}:{qualifier}:{}{}{}\n", bit(4, 'r'), bit(2, 'w'), bit(1, 'x')));
    }
    Some(text.into_bytes())
}

/// `all` when this process may open any file with `O_NOATIME` (it holds
/// `CAP_FOWNER`), else `owned`.
fn noatime_scope() -> &'static str {
    const CAP_FOWNER: u32 = 3;
    let effective = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("CapEff:"))?;
        u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
    });
    match effective {
        Some(caps) if caps & (1 << CAP_FOWNER) != 0 => "all",
        _ => "owned",
    }
}

/// A signal's conventional name, for records and messages.
pub fn signal_name(signal: usize) -> String {
    match signal as i32 {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        other => format!("signal {other}"),
    }
}

fn host_info() -> doc::HostInfo {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let kernel = match (
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/osrelease"),
        read("/proc/sys/kernel/version"),
    ) {
        (Some(a), Some(b), Some(c)) => Some(format!("{a} {b} {c}")),
        _ => None,
    };
    doc::HostInfo {
        hostname: read("/proc/sys/kernel/hostname").or_else(|| read("/etc/hostname")),
        kernel,
        machine: Some(std::env::consts::ARCH.to_string()),
        machine_id: read("/etc/machine-id"),
        euid: std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX),
    }
}
