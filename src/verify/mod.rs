//! The verifier: reads an archive as a stream, recomputes every digest over
//! the bytes as read, checks each signed checkpoint and the chain, and
//! returns every finding, leveled, with a verdict.
//!
//! [`verify`] reads the header document, then member after member until a
//! checkpoint, which is checked against the segment before it. One module
//! per stage:
//! - `frames`, `decoded`: decoding zstd frames that survive damage, and the
//!   threads that hash what they decode;
//! - `members`: member headers and content from the decoded stream;
//! - `header`: the header document;
//! - `segment`: a segment's members, kept until their checkpoint and then
//!   handed to the sink (`sink`: what callers receive);
//! - `checkpoint`: signature, fields, chain, custody headers, manifest;
//! - `listing`: the segment compared with the checkpoint's listing;
//! - `damage`: resynchronisation after damage;
//! - `seal`: what may follow the seal;
//! - `archive_file`: the archive file's SHA-256;
//! - `timestamps`: trusted-time tokens over checkpoint signatures;
//! - `findings`, `report`: what was noticed, and the verdict.

use std::io::{self, BufRead, BufReader, Read};

use sha2::{Digest, Sha256};
use ssh_key::PublicKey;

use crate::format::doc::{self, HeaderDoc, Seal, Totals};
use crate::signer::TrustAnchors;

mod archive_file;
mod checkpoint;
mod damage;
mod decoded;
mod findings;
pub mod frames;
mod header;
mod listing;
mod members;
mod parts;
mod report;
mod seal;
mod segment;
mod sink;
mod timestamps;

pub use archive_file::{parse_sha256_hex, parse_sidecar, ArchiveFile, DigestSource, ExpectedDigest};
pub use findings::{Finding, FindingKind, Level};
pub use parts::PartFile;
pub use report::{Proven, Report, SignerReport, Verdict};
pub use sink::{MemberMeta, MemberOutcome, MemberSink, NullSink, Proof};
pub use timestamps::{TimestampReport, DEFAULT_CLOCK_TOLERANCE};

use archive_file::Hashed;
use decoded::{ContentHasher, Decoded, SegmentHasher};
use frames::FrameReader;
use members::{Next, Observed, ReadEnd, Stream};

/// Operational failures: the input could not be examined at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The input is not a custody archive.
    #[error("not a custody archive: {0}")]
    NotAnArchive(String),
    /// Reading the input failed.
    #[error("cannot read the archive: {0}. Check the file or the pipe feeding it, then run again.")]
    Io(#[from] io::Error),
    /// The member sink failed (e.g. extraction could not write).
    #[error(
        "writing the output failed: {0}. Check free space and permissions of the target (or the reading end of the pipe), then run again."
    )]
    Sink(#[source] io::Error),
}

/// Trust and behaviour of a verification.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// The only keys trusted.
    pub trust: TrustAnchors,
    /// The SHA-256 the archive file should have. When set, every byte of
    /// the input is hashed as it is read, the input is read to its end, and
    /// a difference is an `archive-digest-mismatch` finding.
    pub archive_sha256: Option<ExpectedDigest>,
    /// Hash the input as it is read even without a recorded digest, for
    /// [`Report::input_sha256`] (the custody log's events are compared with it).
    pub hash_input: bool,
    /// Roots of the time-stamping authorities trusted (`--tsa-ca`); without
    /// them, tokens are checked for imprint and signature only.
    pub tsa_roots: Option<crate::tsa::Roots>,
    /// Seconds a checkpoint's time and its token's genTime may differ
    /// (default [`DEFAULT_CLOCK_TOLERANCE`]).
    pub clock_tolerance: Option<u64>,
    /// The files of a split archive's parts, when the input is several
    /// read one after the other: findings name them (docs/FORMAT.md §18).
    pub part_files: Vec<PartFile>,
}

struct Verifier<'s> {
    stream: Stream,
    sink: &'s mut dyn MemberSink,
    findings: Vec<Finding>,
    segment: SegmentHasher,
    content: ContentHasher,
    segment_members: Vec<Observed>,
    segment_overflow: u64,
    checkpoint_seq: u64,
    header: Option<HeaderDoc>,
    key: Option<PublicKey>,
    chain: String,
    prev_end: u64,
    proven: Proven,
    all_good_so_far: bool,
    sealed: Option<Seal>,
    pending_segment_digest: Option<String>,
    /// Members passed on that no verified checkpoint proves.
    unproven_members: u64,
    /// Member indices of the `.json` and `.json.sig` of the last proven
    /// checkpoint, which its signature proves wherever they are passed on.
    proven_documents: [Option<u64>; 2],
    seal_proven: bool,
    /// Set after damage was skipped: the index in `segment_members` from
    /// which members' tar offsets are relative to an unknown loss.
    lost_from: Option<usize>,
    /// Where reading stopped while a checkpoint was handled, and whether
    /// because of damage (which `run` may skip).
    stopped_at: Option<(bool, u64)>,
    /// Members whose header was read so far.
    members_read: u64,
    /// The last resynchronisation: index of its finding, where the lost
    /// range began, and `members_read` then.
    last_resync: Option<(usize, u64, u64)>,
    /// Totals of the last checkpoint read.
    last_totals: Option<Totals>,
    /// Evidence members read before damage destroyed their checkpoint.
    evidence_seen_before_loss: u64,
    /// The keys the user trusts.
    trust: TrustAnchors,
    /// Whether the header's signer is among them: only then is a member
    /// `Proven` (otherwise at best `MatchesListing`).
    trusted: bool,
    /// Nothing more can be read (damage with no later frame).
    exhausted: bool,
    /// Where the signature of the last checkpoint ends, when that
    /// checkpoint is proven and says the collector stopped there.
    stopped_end: Option<u64>,
    /// Each checkpoint's signature digest and time, for its token.
    signed: std::collections::HashMap<u64, timestamps::Signed>,
    /// Tokens checked so far.
    timestamps: Vec<TimestampReport>,
    tsa_roots: Option<crate::tsa::Roots>,
    clock_tolerance: u64,
    /// The parts of a split archive read so far, and the files given.
    parts: parts::Parts,
    part_files: Vec<PartFile>,
}

/// Most bytes hashed and passed on at a time.
const READ_PIECE: usize = 256 * 1024;
/// Most members a segment may hold before the verifier stops keeping them.
const MAX_SEGMENT_MEMBERS: usize = 2 * crate::format::MAX_CHECKPOINT_MEMBERS as usize;
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Verify an archive read from `input`, passing members to `sink`. The input
/// is decoded, and the segment digests computed, on threads of their own.
pub fn verify<R: Read + Send>(input: R, opts: &VerifyOptions, sink: &mut dyn MemberSink) -> Result<Report, VerifyError> {
    let input = Hashed {
        inner: input,
        sha: (opts.archive_sha256.is_some() || opts.hash_input).then(Sha256::new),
    };
    let mut buffered = BufReader::with_capacity(256 * 1024, input);
    let head = buffered.fill_buf()?;
    let skippable = head.len() >= 4 && head[1..4] == [0x2A, 0x4D, 0x18] && head[0] & 0xF0 == 0x50;
    if head.len() < 4 || (head[..4] != ZSTD_MAGIC && !skippable) {
        return Err(VerifyError::NotAnArchive("the input does not start with a zstd frame".into()));
    }
    let mut decoder = FrameReader::new(buffered)?;
    decoder.keep_skippable(crate::format::timestamp::MAX_SEAL_FRAME);
    let skippable = std::sync::Mutex::new(Vec::new());
    let skippable_ref = &skippable;
    std::thread::scope(|scope| {
        let mut v = Verifier {
            stream: Stream {
                // Once decoding stops, the input is read to its end for its
                // digest, beside the verifier's last checks.
                inner: Decoded::start(scope, decoder, move |mut reader| {
                    *skippable_ref.lock().unwrap_or_else(|e| e.into_inner()) = reader.take_skippable();
                    reader.into_inner().into_inner().finish()
                }),
                pos: 0,
            },
            sink,
            findings: Vec::new(),
            segment: SegmentHasher::start(scope),
            content: ContentHasher::start(scope),
            segment_members: Vec::new(),
            segment_overflow: 0,
            checkpoint_seq: 0,
            header: None,
            key: None,
            chain: String::new(),
            prev_end: 0,
            proven: Proven::default(),
            all_good_so_far: true,
            sealed: None,
            pending_segment_digest: None,
            unproven_members: 0,
            proven_documents: [None; 2],
            seal_proven: false,
            lost_from: None,
            stopped_at: None,
            members_read: 0,
            last_resync: None,
            last_totals: None,
            evidence_seen_before_loss: 0,
            trust: opts.trust.clone(),
            trusted: false,
            exhausted: false,
            stopped_end: None,
            signed: Default::default(),
            timestamps: Vec::new(),
            tsa_roots: opts.tsa_roots.clone(),
            clock_tolerance: opts.clock_tolerance.unwrap_or(DEFAULT_CLOCK_TOLERANCE),
            parts: parts::Parts::default(),
            part_files: opts.part_files.clone(),
        };
        v.read_header_document()?;
        v.run()?;
        let file_sha256 = v.stream.inner.finish()?;
        let frames = std::mem::take(&mut *skippable.lock().unwrap_or_else(|e| e.into_inner()));
        v.seal_timestamps(&frames);
        Ok(v.report(opts, file_sha256))
    })
}

impl Verifier<'_> {
    fn run(&mut self) -> Result<(), VerifyError> {
        if self.exhausted || self.findings.iter().any(|f| f.kind == FindingKind::Truncated) {
            return self.flush_unproven();
        }
        loop {
            match self.next_member()? {
                Next::Member(m) => {
                    if let Some(part) = crate::format::part::parse_part_path(&m.meta.path) {
                        self.part_document(part, m, false)?;
                    } else if self.parts.foreign {
                        self.pass_over(*m, self.parts.last + 1)?;
                    } else if let Some((seq, false)) = doc::parse_checkpoint_path(&m.meta.path) {
                        if self.checkpoint(seq, m)? {
                            return self.after_seal();
                        }
                        self.parts.after_signature = Some(self.stream.pos);
                        if let Some((damaged, off)) = self.stopped_at.take() {
                            if damaged && self.resync(off)? {
                                continue;
                            }
                            return Ok(());
                        }
                    } else {
                        self.timestamp_member(&m.meta.path, m.meta.offset, m.content.as_deref());
                        self.push_observed(*m);
                    }
                }
                Next::EndMarker(off) => {
                    let msg = "an end-of-archive marker appears before the seal".to_string();
                    self.find(FindingKind::BadPadding, msg, None, Some(off), Some(self.checkpoint_seq + 1));
                    return self.flush_unproven();
                }
                Next::Stopped(ReadEnd::Eof, off) if self.stopped_end == Some(off) => {
                    // The end the stopped collection signed: not a cut.
                    return self.flush_unproven();
                }
                Next::Stopped(ReadEnd::Eof, off) if self.ended_at_part_end(off) => {
                    // Where a part ends: the parts after it were not given.
                    return self.flush_unproven();
                }
                Next::Stopped(end, off) => {
                    let damaged = matches!(end, ReadEnd::Damaged(_) | ReadEnd::Malformed { .. });
                    // Damage right after a resynchronisation, with no member
                    // between, widens the lost range instead of adding findings.
                    if !(damaged && self.resync_without_members()) {
                        self.stopped(end, off, "inside a member or between members");
                    }
                    if damaged && self.resync(off)? {
                        continue;
                    }
                    return self.flush_unproven();
                }
            }
        }
    }
}
