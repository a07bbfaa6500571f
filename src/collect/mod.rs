//! The collector: walks sources and streams them into a custody archive,
//! writing a signed checkpoint at a bounded interval and a zstd frame
//! boundary after each one.
//!
//! [`Collector::run`] walks the sources (`walk`) and archives each entry
//! in walk order. One module per part:
//! - `walk`: the walk driver, and the threads it starts;
//! - `readahead`: small files opened and read ahead of the walk;
//! - `member`: an entry's member, from its metadata, and opening it;
//! - `content`: exactly the promised content, whatever the file does;
//! - `xattrs`: extended attributes and ACLs;
//! - `checkpoint`: checkpoints, the seal, and stopping;
//! - `pipe`, `writer`: the tar stream's way to the writer thread, which
//!   hashes it, cuts it into frames and compresses them;
//! - `host`: facts about the collecting host;
//! - `stamps`: trusted time, each checkpoint's signature sent to a TSA;
//! - `split`: the archive written as part files, each ending at a checkpoint;
//! - `live`: the live response and a profile's commands, before the walk.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Instant;

use crate::format::doc::{self, HeaderDoc, MemberEntry, PathText, SkippedEntry, Totals};
use crate::format::FORMAT_ID;
use crate::signer::Signer;
use crate::source::WalkOptions;

mod checkpoint;
mod content;
mod host;
mod live;
mod member;
mod pipe;
mod readahead;
mod split;
mod stamps;
mod walk;
mod writer;
mod xattrs;

pub use crate::format::doc::rfc3339_secs;
pub use checkpoint::signal_name;
pub use host::now_rfc3339;
pub use live::LiveSummary;
pub use split::{OpenPart, PartFiles, PartRecord, PartWriter};
pub use stamps::TimestampSummary;

use host::{host_info, noatime_scope, Names};
use pipe::Out;
use writer::TarStream;

/// Default interval: tar bytes between checkpoints.
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 256 * 1024 * 1024;
/// Default interval: members between checkpoints.
pub const DEFAULT_CHECKPOINT_MEMBERS: u64 = 20_000;
/// Default interval: seconds between checkpoints.
pub const DEFAULT_CHECKPOINT_SECONDS: u64 = 60;
pub use crate::format::{FRAME_LIMIT, MAX_CHECKPOINT_MEMBERS};
pub use writer::{FRAME_TARGET, MAX_THREADS};
/// Default zstd level.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// A file that reports size 0 is read up to this many bytes (procfs and
/// sysfs report 0 for files with content).
pub const ZERO_SIZE_READ_LIMIT: usize = 16 * 1024 * 1024;
const READ_CHUNK: usize = 256 * 1024;

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
    /// The live response moved on to `what` (a step or a command), before
    /// the walk; empty when it is over.
    fn live(&mut self, _what: &str) {}
    /// The TSA's answer for checkpoint `seq` was written: a token, or, with
    /// `failed`, why there is none (the collection goes on either way).
    fn timestamp(&mut self, _seq: u64, _failed: Option<&str>) {}
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
    /// A time-stamping authority to countersign each checkpoint's signature
    /// (docs/FORMAT.md §15); its failures are recorded, never fatal.
    pub tsa: Option<crate::tsa::Client>,
    /// Write the archive in parts of at most about this size, each ending at
    /// a checkpoint (docs/FORMAT.md §18); the output given to
    /// [`Collector::start`] must then be their [`PartWriter`].
    pub split: Option<PartFiles>,
}

impl CollectOptions {
    /// Collect `sources` with the defaults: the documented checkpoint
    /// intervals and level, one filesystem, no exclusions, and
    /// [`default_threads`] compression threads.
    pub fn new(sources: Vec<PathBuf>) -> Self {
        CollectOptions {
            sources,
            walk: WalkOptions::new(),
            exclude_patterns: Vec::new(),
            case: doc::CaseInfo::default(),
            checkpoint_bytes: DEFAULT_CHECKPOINT_BYTES,
            checkpoint_members: DEFAULT_CHECKPOINT_MEMBERS,
            checkpoint_seconds: DEFAULT_CHECKPOINT_SECONDS,
            zstd_level: DEFAULT_ZSTD_LEVEL,
            threads: default_threads(),
            stop: None,
            tsa: None,
            split: None,
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
    /// Trusted time: tokens obtained, and checkpoints not stamped.
    pub timestamps: TimestampSummary,
    /// The first [`MAX_FAILURES_NAMED`] evidence members with a failure
    /// status: path, status and detail (all are in the archive).
    pub failures: Vec<(String, String, Option<String>)>,
}

/// Most failures a summary names; the archive records every one.
pub const MAX_FAILURES_NAMED: usize = 50;

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
    /// The TSA's thread, when stamping.
    stamps: Option<stamps::Stamper>,
    /// TSA answers not written yet: checkpoint, its time, token or why not.
    pending_answers: Vec<(u64, i64, Result<Vec<u8>, String>)>,
    /// The failures a summary names.
    failures: Vec<(String, String, Option<String>)>,
    /// What the output thread has written (a split collection's estimate).
    written: Arc<writer::Written>,
    /// The part being written (1 when not split), where it began in
    /// compressed bytes, and whether it holds an evidence member yet.
    part: u64,
    part_start_compressed: u64,
    part_has_evidence: bool,
    /// A split collection's last non-final checkpoint: its document, its
    /// signature and their mtime, which the next part's document copies; and
    /// the tar offset right after that signature.
    last_signed: Option<(Vec<u8>, Vec<u8>, i64)>,
    last_signed_end: u64,
}

impl<'a, W: Write + Send + 'static> Collector<'a, W> {
    /// Start an archive on `out`: writes the header document.
    pub fn start(out: W, signer: &'a mut Signer, opts: CollectOptions, progress: &'a mut dyn Progress) -> Result<Self, CollectError> {
        let mut id = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
        let mut out = TarStream::new(out, opts.zstd_level, opts.threads).map_err(|source| CollectError::Output { bytes: 0, source })?;
        if let Some(parts) = &opts.split {
            out.split_into(parts.clone());
        }
        let written = out.written();
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
            stamps: opts.tsa.clone().map(stamps::Stamper::start),
            pending_answers: Vec::new(),
            failures: Vec::new(),
            written,
            part: 1,
            part_start_compressed: 0,
            part_has_evidence: false,
            last_signed: None,
            last_signed_end: 0,
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
                split_bytes: self.opts.split.as_ref().map(PartFiles::size),
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
}
