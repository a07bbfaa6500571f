//! The verifier: reads an archive as a stream, recomputes every digest over
//! the bytes as read, checks each signed checkpoint and the chain, and
//! returns every finding, leveled, with a verdict.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};
use ssh_key::PublicKey;

use crate::decoded::{Chunk, ContentHasher, Decoded, SegmentHasher};
use crate::format::doc::{self, CheckpointDoc, HeaderDoc, MemberEntry, PathText, Seal, Totals};
use crate::format::tar::{self, EntryKind, Timestamp, BLOCK};
use crate::format::{digest, sparse};
use crate::format::{MAX_DOCUMENT_LEN, MAX_PAX_LEN};
use crate::frames::FrameReader;
use crate::signer::{self, TrustAnchors};

/// The four-word answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Sealed, every byte checked, every signature valid, signer trusted.
    Verified,
    /// Intact as far as it goes, but the archive ends before its seal.
    Incomplete,
    /// Intact, but signed by a key the user did not name as trusted.
    Untrusted,
    /// Some byte does not match what was signed, or the structure was altered.
    Tampered,
}

impl Verdict {
    /// The verdict's name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Verified => "verified",
            Verdict::Incomplete => "incomplete",
            Verdict::Untrusted => "untrusted",
            Verdict::Tampered => "tampered",
        }
    }
}

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Informational: facts about the evidence (e.g. recorded collection failures).
    Info,
    /// Limits what is proven (truncation, untrusted signer).
    Warning,
    /// Tamper evidence.
    Error,
}

/// Kinds of finding, each mapped to a verdict class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FindingKind {
    /// The archive ends before its seal.
    Truncated,
    /// The end-of-archive marker after the seal is missing or short.
    MissingEndMarker,
    /// The signer is not among the trust anchors.
    UntrustedSigner,
    /// A member was recorded with a collection failure (a fact, not tampering).
    CollectionFailure,
    /// An entry was skipped during collection (a fact, not tampering).
    CollectionSkip,
    /// The collector was stopped (by a signal) and signed a last checkpoint
    /// saying so (a fact, not tampering).
    CollectionStopped,
    /// Compressed bytes are damaged.
    CompressedDamage,
    /// A tar header is malformed.
    MalformedHeader,
    /// The header document is missing or malformed.
    BadHeaderDocument,
    /// A checkpoint signature does not verify.
    BadSignature,
    /// A checkpoint document is malformed or inconsistent.
    BadCheckpoint,
    /// Checkpoints out of sequence, or bound to another archive or chain.
    ChainBroken,
    /// The bytes of a segment do not match its signed digest.
    SegmentDigestMismatch,
    /// A member's content differs from its signed digest.
    ContentAltered,
    /// A member's header (metadata) differs from its signed digest.
    HeaderAltered,
    /// A listed member is absent.
    MemberMissing,
    /// A member is present that no checkpoint lists.
    MemberUnlisted,
    /// Members appear in another order than signed.
    MembersReordered,
    /// Bytes after the seal that are not the end-of-archive marker.
    DataAfterSeal,
    /// Non-zero padding or an end marker before the seal.
    BadPadding,
    /// A custody member's tar header is not the canonical one.
    NonCanonicalCustodyMember,
    /// The SHA-256 of the archive file differs from the one recorded for it
    /// (`--archive-sha256` or the `ARCHIVE.sha256` sidecar).
    ArchiveDigestMismatch,
}

impl FindingKind {
    /// The level of this kind of finding.
    pub fn level(self) -> Level {
        match self {
            FindingKind::Truncated | FindingKind::MissingEndMarker | FindingKind::UntrustedSigner => Level::Warning,
            FindingKind::CollectionFailure | FindingKind::CollectionSkip | FindingKind::CollectionStopped => Level::Info,
            _ => Level::Error,
        }
    }
}

/// One thing the verifier noticed.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Seriousness.
    pub level: Level,
    /// What kind of finding.
    pub kind: FindingKind,
    /// Human-readable explanation.
    pub message: String,
    /// The member involved, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<PathText>,
    /// Offset in the tar stream, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The checkpoint whose segment holds it, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<u64>,
}

/// Who signed, and whether the user trusts them.
#[derive(Clone, Debug, Serialize)]
pub struct SignerReport {
    /// OpenSSH public key line from the header.
    pub public_key: String,
    /// `SHA256:` fingerprint.
    pub fingerprint: String,
    /// `file`, `agent` or `ephemeral`.
    pub source: String,
    /// Principal under which the key is trusted, if it is.
    pub trusted_as: Option<String>,
}

/// What the verified checkpoints prove.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Proven {
    /// Checkpoints whose signature and digests verified, in sequence from 1.
    pub checkpoints: u64,
    /// Tar bytes covered by those checkpoints.
    pub tar_bytes: u64,
    /// Totals recorded in the last of them.
    pub totals: Totals,
    /// Time of the last of them.
    pub until: Option<String>,
    /// Chain value after the last of them (after the seal: the archive's final value).
    pub chain: Option<String>,
}

/// The verifier's full answer.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The verdict.
    pub verdict: Verdict,
    /// Archive id from the header.
    pub archive_id: Option<String>,
    /// The header document.
    pub header: Option<HeaderDoc>,
    /// The signer.
    pub signer: Option<SignerReport>,
    /// Whether the seal was reached and verified.
    pub sealed: bool,
    /// The seal, when reached.
    pub seal: Option<Seal>,
    /// What is proven.
    pub proven: Proven,
    /// Tar bytes read after the last verified checkpoint (not proven).
    pub unproven_tar_bytes: u64,
    /// Members read that no verified checkpoint proves (docs/FORMAT.md §10.4).
    pub unproven_members: u64,
    /// The archive file's SHA-256 against the one recorded for it, when one
    /// was given ([`VerifyOptions::archive_sha256`]).
    pub archive_file: Option<ArchiveFile>,
    /// Every finding, in stream order.
    pub findings: Vec<Finding>,
}

/// Where the SHA-256 recorded for the archive file came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestSource {
    /// `verify --archive-sha256 HEX`, as read from the custody form.
    Option,
    /// The `ARCHIVE.sha256` file that `collect` writes beside a file output.
    Sidecar,
}

/// The SHA-256 the archive file should have.
#[derive(Clone, Debug)]
pub struct ExpectedDigest {
    /// 64 lowercase hexadecimal digits.
    pub sha256: String,
    /// Where it came from.
    pub source: DigestSource,
    /// How to name that place to people: `--archive-sha256` or the sidecar's path.
    pub origin: String,
}

/// The archive file's SHA-256 as read, against the one recorded for it.
#[derive(Clone, Debug, Serialize)]
pub struct ArchiveFile {
    /// SHA-256 (hex) of every byte of the input, as read.
    pub sha256: String,
    /// The SHA-256 recorded for it.
    pub expected: String,
    /// Where `expected` came from.
    pub source: DigestSource,
    /// Whether they are equal.
    pub matches: bool,
    /// `--archive-sha256` or the sidecar's path, for people.
    #[serde(skip)]
    pub origin: String,
}

/// Read a SHA-256 written as 64 hexadecimal digits (either case), as
/// `sha256sum` prints it; lowercase hex.
pub fn parse_sha256_hex(text: &str) -> Result<String, String> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!(
            "{text:?} is not a SHA-256: it must be 64 hexadecimal digits, as sha256sum prints them ({} characters given)",
            text.chars().count()
        ))
    }
}

/// Read the digest of an `ARCHIVE.sha256` sidecar: one line in the form
/// `sha256sum` writes, `HEX  NAME` (or `HEX *NAME`, or with a leading `\`
/// when the name is escaped), with or without a final newline. The name
/// is not compared with the archive's: the two files may have been
/// renamed together.
pub fn parse_sidecar(bytes: &[u8]) -> Result<String, String> {
    let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let line = line.strip_prefix(b"\\").unwrap_or(line);
    let form = "one line `<64 hexadecimal digits>  <archive name>`, as collect and sha256sum write it";
    if line.contains(&b'\n') {
        return Err(format!("it holds more than one line; expected {form}"));
    }
    if line.len() < 67 || !matches!(&line[64..66], b"  " | b" *") {
        return Err(format!("expected {form}"));
    }
    let hex = std::str::from_utf8(&line[..64]).map_err(|_| format!("expected {form}"))?;
    parse_sha256_hex(hex).map_err(|e| format!("{e}; expected {form}"))
}

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
}

/// Metadata of a member as read from the stream, for sinks.
#[derive(Clone, Debug)]
pub struct MemberMeta {
    /// Position of this member among all members read, from 0: a stable
    /// identity for sinks (offsets can be corrected after damage).
    pub index: u64,
    /// Offset of its first header byte.
    pub offset: u64,
    /// Path (pax `path`, else ustar name).
    pub path: Vec<u8>,
    /// Type.
    pub kind: EntryKind,
    /// Logical content size (for a sparse file, its real size).
    pub size: u64,
    /// Content bytes stored in the tar stream (differs from `size` only for
    /// sparse files).
    pub stored_size: u64,
    /// Stored in the pax 1.0 sparse format.
    pub sparse: bool,
    /// Mode bits.
    pub mode: u32,
    /// Modification time.
    pub mtime: Timestamp,
    /// Link target.
    pub linkpath: Option<Vec<u8>>,
    /// Owner (pax `uid`, else ustar).
    pub uid: u64,
    /// Group (pax `gid`, else ustar).
    pub gid: u64,
}

/// Whether a member is proven by a signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Proof {
    /// Listed in a verified checkpoint, signed by a trusted key, with
    /// matching digests.
    Proven,
    /// Its own digests match a signed listing, but that checkpoint failed
    /// elsewhere or its signer is not trusted.
    MatchesListing,
    /// Differs from what was signed, or was never listed.
    Altered(String),
    /// The archive ended before the checkpoint that would prove it.
    Unproven,
}

/// One member's outcome, given to sinks at the end of each segment.
#[derive(Clone, Debug)]
pub struct MemberOutcome {
    /// The member as read.
    pub meta: MemberMeta,
    /// SHA-256 of its content as read.
    pub sha256: Option<String>,
    /// What the signed checkpoint said about it, if it listed it.
    pub entry: Option<MemberEntry>,
    /// Proof state.
    pub proof: Proof,
}

/// Receives members as they stream by; extraction and listing implement it.
pub trait MemberSink {
    /// A member's header was read.
    fn start(&mut self, _meta: &MemberMeta) -> io::Result<()> {
        Ok(())
    }
    /// A chunk of the current member's logical content.
    fn data(&mut self, _chunk: &[u8]) -> io::Result<()> {
        Ok(())
    }
    /// A run of zeros in the current member's logical content that the
    /// archive does not store (a hole of a sparse file).
    fn hole(&mut self, mut len: u64) -> io::Result<()> {
        while len > 0 {
            let k = len.min(ZEROS.len() as u64) as usize;
            self.data(&ZEROS[..k])?;
            len -= k as u64;
        }
        Ok(())
    }
    /// The members since the previous call, with their proof state.
    fn segment(&mut self, _members: &[MemberOutcome]) -> io::Result<()> {
        Ok(())
    }
}

/// Zeros that stand for the holes of sparse files.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// A sink that keeps nothing.
pub struct NullSink;
impl MemberSink for NullSink {}

/// Byte source: decompressed stream with position and truncation tracking.
struct Stream {
    inner: Decoded,
    pos: u64,
}

enum ReadEnd {
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
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), (usize, ReadEnd)> {
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
struct Observed {
    meta: MemberMeta,
    header_digest: String,
    sha256: Option<String>,
    /// The number under which the content hasher computes `sha256`, until
    /// [`Verifier::settle`] fills it in.
    pending: Option<u64>,
    /// The number under which the segment hasher computes `header_digest`,
    /// until it is settled likewise.
    pending_header: Option<u64>,
    /// Content, kept only for custody documents.
    content: Option<Vec<u8>>,
    /// Raw header bytes (for canonical checks of custody members).
    header_bytes: Vec<u8>,
    /// Stream position after the member's content and padding.
    end: u64,
}

enum Next {
    Member(Box<Observed>),
    /// A zero block at this offset.
    EndMarker(u64),
    /// The stream stopped.
    Stopped(ReadEnd, u64),
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
        sha: opts.archive_sha256.is_some().then(Sha256::new),
    };
    let mut buffered = BufReader::with_capacity(256 * 1024, input);
    let head = buffered.fill_buf()?;
    let skippable = head.len() >= 4 && head[1..4] == [0x2A, 0x4D, 0x18] && head[0] & 0xF0 == 0x50;
    if head.len() < 4 || (head[..4] != ZSTD_MAGIC && !skippable) {
        return Err(VerifyError::NotAnArchive("the input does not start with a zstd frame".into()));
    }
    let decoder = FrameReader::new(buffered)?;
    std::thread::scope(|scope| {
        let mut v = Verifier {
            stream: Stream {
                // Once decoding stops, the input is read to its end for its
                // digest, beside the verifier's last checks.
                inner: Decoded::start(scope, decoder, |reader| reader.into_inner().into_inner().finish()),
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
        };
        v.read_header_document()?;
        v.run()?;
        let file_sha256 = v.stream.inner.finish()?;
        Ok(v.report(opts, file_sha256))
    })
}

/// The input, hashed as it is read when the file's digest is wanted: each
/// byte is read once, by the decoder or, after it stops, by [`Hashed::finish`].
struct Hashed<R> {
    inner: R,
    sha: Option<Sha256>,
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(sha) = &mut self.sha {
            sha.update(&buf[..n]);
        }
        Ok(n)
    }
}

impl<R: Read> Hashed<R> {
    /// Read and hash what is left of the input (the decoder stops early
    /// after data following the seal, for one); the digest of it all, if
    /// it was wanted.
    fn finish(mut self) -> io::Result<Option<String>> {
        let Some(mut sha) = self.sha.take() else {
            return Ok(None);
        };
        let mut buf = vec![0u8; READ_PIECE];
        loop {
            match self.inner.read(&mut buf) {
                Ok(0) => return Ok(Some(hex::encode(sha.finalize()))),
                Ok(n) => sha.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Verifier<'_> {
    fn find(&mut self, kind: FindingKind, message: String, member: Option<&[u8]>, offset: Option<u64>, checkpoint: Option<u64>) {
        if kind.level() == Level::Error {
            self.all_good_so_far = false;
        }
        self.findings.push(Finding {
            level: kind.level(),
            kind,
            message,
            member: member.map(PathText::from_bytes),
            offset,
            checkpoint,
        });
    }

    fn stopped(&mut self, end: ReadEnd, offset: u64, what: &str) {
        match end {
            ReadEnd::Eof | ReadEnd::TruncatedFrame => {
                let msg = format!("the archive ends {what} at tar offset {offset}, before its seal: it was cut off (interrupted collection or truncated copy)");
                self.find(FindingKind::Truncated, msg, None, Some(offset), None)
            }
            ReadEnd::Damaged(e) => {
                let msg = format!("compressed data is damaged near tar offset {offset} ({e})");
                self.find(FindingKind::CompressedDamage, msg, None, Some(offset), None)
            }
            ReadEnd::Malformed { reason, .. } => {
                let msg = format!("{reason} at tar offset {offset}");
                self.find(FindingKind::MalformedHeader, msg, None, Some(offset), None)
            }
        }
    }

    /// Read the next member, hashing every byte into the segment digest.
    fn next_member(&mut self) -> Result<Next, VerifyError> {
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
        // checkpoints with their signatures, and the manifests, which hold
        // the content digests of their segment's files.
        let stored_size = meta.stored_size;
        let keep = (meta.path == doc::HEADER_PATH.as_bytes()
            || doc::parse_checkpoint_path(&meta.path).is_some()
            || doc::parse_manifest_path(&meta.path).is_some())
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

    /// Fill in the content digests of the members kept, once the content
    /// hasher has computed them. Called before members leave the segment.
    fn settle(&mut self) {
        for o in &mut self.segment_members {
            settle(&mut self.content, &mut self.segment, o);
        }
    }

    /// A checkpoint document starts here: the bytes of its segment are complete.
    fn end_segment_bytes(&mut self) {
        self.pending_segment_digest = Some(self.segment.take());
    }

    fn read_header_document(&mut self) -> Result<(), VerifyError> {
        let first = match self.next_member()? {
            Next::Member(m) => m,
            Next::EndMarker(_) => return Err(VerifyError::NotAnArchive("the tar stream is empty".into())),
            Next::Stopped(ReadEnd::Damaged(e), 0) => {
                // It begins with a zstd frame, so it is compressed data that
                // is damaged from the start, not some other kind of file.
                let msg = format!("the first zstd frame is damaged ({e}): the header document, and with it the signer's key, is lost");
                self.find(FindingKind::CompressedDamage, msg, None, Some(0), Some(1));
                if !self.resync(0)? {
                    self.exhausted = true;
                }
                return Ok(());
            }
            Next::Stopped(ReadEnd::Malformed { reason, not_tar: true }, 0) => return Err(VerifyError::NotAnArchive(reason)),
            Next::Stopped(ReadEnd::Eof, 0) if self.stream.pos < BLOCK as u64 => {
                return Err(VerifyError::NotAnArchive(format!(
                    "it decompresses to {} bytes, less than one tar header",
                    self.stream.pos
                )))
            }
            Next::Stopped(end, off) => {
                self.stopped(end, off, "inside its header document");
                return Ok(());
            }
        };
        if first.meta.path != doc::HEADER_PATH.as_bytes() {
            return Err(VerifyError::NotAnArchive(format!(
                "its first member is {:?}, not {}",
                doc::display(&first.meta.path),
                doc::HEADER_PATH
            )));
        }
        let mut first = first;
        let bytes = first.content.take().unwrap_or_default();
        match serde_json::from_slice::<HeaderDoc>(&bytes) {
            Ok(h) if doc::check_format(&h.format) && h.doc_type == doc::HEADER_TYPE => {
                match PublicKey::from_openssh(&h.signer.public_key) {
                    Ok(k) => {
                        self.trusted = self.trust.principal_for(&k).is_some();
                        self.key = Some(k);
                    }
                    Err(e) => self.find(
                        FindingKind::BadHeaderDocument,
                        format!("the signer's public key in the header is malformed: {e}"),
                        Some(&first.meta.path),
                        Some(0),
                        Some(1),
                    ),
                }
                // A time that does not parse gives no header to compare
                // with: whatever header the member has, it is not canonical.
                let problem = match doc::rfc3339_secs(&h.start_time) {
                    None => Some(format!(
                        "the header document's start_time {:?} is not an RFC 3339 time, so its tar header cannot be the one custody writes",
                        h.start_time
                    )),
                    Some(secs) => (doc::custody_member_header(doc::HEADER_PATH, bytes.len() as u64, secs).encode() != first.header_bytes)
                        .then(|| "the tar header of the header document is not the one custody writes".to_string()),
                };
                if let Some(msg) = problem {
                    self.find(
                        FindingKind::NonCanonicalCustodyMember,
                        msg,
                        Some(&first.meta.path),
                        Some(0),
                        Some(1),
                    );
                }
                self.header = Some(h);
            }
            Ok(h) => self.find(
                FindingKind::BadHeaderDocument,
                format!(
                    "the header document has format {:?} and type {:?}; this verifier reads {}",
                    h.format,
                    h.doc_type,
                    crate::format::FORMAT_ID
                ),
                Some(&first.meta.path),
                Some(0),
                Some(1),
            ),
            Err(e) => self.find(
                FindingKind::BadHeaderDocument,
                format!("the header document is not valid: {e}"),
                Some(&first.meta.path),
                Some(0),
                Some(1),
            ),
        }
        self.chain = doc::chain_value(&bytes);
        self.segment_members.push(*first);
        Ok(())
    }

    fn run(&mut self) -> Result<(), VerifyError> {
        if self.exhausted || self.findings.iter().any(|f| f.kind == FindingKind::Truncated) {
            return self.flush_unproven();
        }
        loop {
            match self.next_member()? {
                Next::Member(m) => {
                    if let Some((seq, false)) = doc::parse_checkpoint_path(&m.meta.path) {
                        if self.checkpoint(seq, m)? {
                            return self.after_seal();
                        }
                        if let Some((damaged, off)) = self.stopped_at.take() {
                            if damaged && self.resync(off)? {
                                continue;
                            }
                            return Ok(());
                        }
                    } else {
                        self.push_observed(*m);
                    }
                }
                Next::EndMarker(off) => {
                    let msg = "an end-of-archive marker appears before the seal".to_string();
                    self.find(FindingKind::BadPadding, msg, None, Some(off), Some(self.checkpoint_seq + 1));
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

    /// After damage at tar offset `off`: skip to the next zstd frame, if
    /// any. The members read from there on are checked against the next
    /// checkpoint's listing one by one; their tar offsets are known again
    /// once that checkpoint says where its segment ends.
    fn resync(&mut self, off: u64) -> Result<bool, VerifyError> {
        self.settle();
        let seq = self.checkpoint_seq + 1;
        // A frame's checksum is checked at its end, so bytes it gave before
        // the error may be corrupt: members with any byte from it are not
        // kept (a frame may begin inside a large member).
        let frame_tar_start = self
            .stream
            .pos
            .saturating_sub(self.stream.inner.produced() - self.stream.inner.frame_begin_produced());
        let keep = self
            .segment_members
            .iter()
            .position(|o| o.end > frame_tar_start)
            .unwrap_or(self.segment_members.len());
        if keep < self.segment_members.len() {
            let suspect: Vec<Observed> = self.segment_members.drain(keep..).collect();
            let msg = format!(
                "{} members were read from the damaged zstd frame (from tar offset {frame_tar_start}) and are discarded: their bytes cannot be trusted",
                suspect.len()
            );
            self.find(FindingKind::CompressedDamage, msg, None, Some(frame_tar_start), Some(seq));
            let why = "it was read from a damaged zstd frame".to_string();
            let outcomes: Vec<MemberOutcome> = suspect.into_iter().map(|o| outcome(o, None, Proof::Altered(why.clone()))).collect();
            self.deliver(outcomes, false)?;
        }
        match self.stream.inner.resync()? {
            None => {
                let msg = "no intact zstd frame follows the damage: nothing after it can be read".to_string();
                self.find(FindingKind::CompressedDamage, msg, None, Some(off), Some(seq));
                Ok(false)
            }
            Some((from, to)) => {
                let from = match self.last_resync {
                    Some((i, first, _)) if self.resync_without_members() => {
                        self.findings.remove(i);
                        first
                    }
                    _ => from,
                };
                let msg = format!(
                    "compressed bytes {from}..{to} are lost (the damaged zstd frame); reading resumes at the next frame, and the members it holds are checked one by one against the next signed checkpoint"
                );
                self.find(FindingKind::CompressedDamage, msg, None, Some(off), Some(seq));
                self.last_resync = Some((self.findings.len() - 1, from, self.members_read));
                if self.lost_from.is_none() {
                    self.lost_from = Some(self.segment_members.len());
                }
                self.segment.reset();
                self.pending_segment_digest = None;
                Ok(true)
            }
        }
    }

    /// Whether no member was read since the last resynchronisation.
    fn resync_without_members(&self) -> bool {
        self.last_resync.is_some_and(|(_, _, at)| at == self.members_read)
    }

    fn push_observed(&mut self, mut m: Observed) {
        if self.segment_members.len() >= MAX_SEGMENT_MEMBERS {
            self.segment_overflow += 1;
            return;
        }
        // A document out of place is not read: only its digests count. A
        // manifest is read at its checkpoint; only the segment's last one
        // is kept, so that inserted manifests cannot pile up in memory.
        if doc::parse_manifest_path(&m.meta.path).is_some() {
            for earlier in self.segment_members.iter_mut().filter(|o| o.content.is_some()) {
                earlier.content = None;
            }
        } else {
            m.content = None;
        }
        self.segment_members.push(m);
    }

    /// Members after the last checkpoint: unproven.
    fn flush_unproven(&mut self) -> Result<(), VerifyError> {
        self.settle();
        self.lost_from = None;
        let members = std::mem::take(&mut self.segment_members);
        let outcomes: Vec<MemberOutcome> = members.into_iter().map(|o| outcome(o, None, Proof::Unproven)).collect();
        self.deliver(outcomes, false)
    }

    /// Pass a segment's outcomes to the sink, counting the members no
    /// verified checkpoint proves. `proven_segment`: they are the segment of
    /// the checkpoint just proven. The last proven checkpoint's own
    /// document and signature, which its signature proves, are proven
    /// wherever they are passed on, unless found altered.
    fn deliver(&mut self, mut outcomes: Vec<MemberOutcome>, proven_segment: bool) -> Result<(), VerifyError> {
        for o in &mut outcomes {
            let proven_document = self.proven_documents.contains(&Some(o.meta.index));
            if proven_document && !matches!(o.proof, Proof::Altered(_)) {
                o.proof = if self.trusted { Proof::Proven } else { Proof::MatchesListing };
            } else if !proven_segment {
                self.unproven_members += 1;
            }
        }
        self.sink.segment(&outcomes).map_err(VerifyError::Sink)
    }

    /// Handle checkpoint `seq`, whose document member is `m`. Returns whether it was the seal.
    fn checkpoint(&mut self, seq: u64, mut m: Box<Observed>) -> Result<bool, VerifyError> {
        // Digests are settled in stream order: the segment's, then the
        // document's and its signature's, before anything else is read.
        self.settle();
        settle(&mut self.content, &mut self.segment, &mut m);
        let segment_digest = self.pending_segment_digest.take().unwrap_or_default();
        let json_offset = m.meta.offset;
        let mut sig = match self.next_member()? {
            Next::Member(mut s) if doc::parse_checkpoint_path(&s.meta.path) == Some((seq, true)) => {
                settle(&mut self.content, &mut self.segment, &mut s);
                s
            }
            Next::Member(s) => {
                let msg = format!("checkpoint {seq} is not followed by its signature");
                self.find(FindingKind::BadSignature, msg, Some(&s.meta.path), Some(s.meta.offset), Some(seq));
                self.push_observed(*s);
                let chain = doc::chain_value(m.content.as_deref().unwrap_or_default());
                return self.reject_segment(seq, *m, None, chain, "its checkpoint has no signature");
            }
            Next::EndMarker(off) => {
                self.find(
                    FindingKind::BadSignature,
                    format!("checkpoint {seq} is not followed by its signature"),
                    None,
                    Some(off),
                    Some(seq),
                );
                let chain = doc::chain_value(m.content.as_deref().unwrap_or_default());
                return self
                    .reject_segment(seq, *m, None, chain, "its checkpoint has no signature")
                    .map(|_| false);
            }
            Next::Stopped(end, off) => {
                let damaged = matches!(end, ReadEnd::Damaged(_) | ReadEnd::Malformed { .. });
                self.stopped(end, off, &format!("inside the signature of checkpoint {seq}"));
                if !damaged {
                    self.flush_unproven()?;
                }
                // After damage the members stay for `resync`, which discards
                // those read from the damaged frame (this checkpoint too).
                self.stopped_at = Some((damaged, off));
                return Ok(false);
            }
        };
        // The documents are needed no longer than this checkpoint.
        let bytes = m.content.take().unwrap_or_default();
        let sig_bytes = sig.content.take().unwrap_or_default();
        // The signature check and the chain value both hash the whole
        // document: they run on a thread of their own while it is parsed.
        let key = self.key.as_ref();
        let (signature, chain, parsed) = std::thread::scope(|scope| {
            let hashing = scope.spawn(|| {
                let signature = key.map(|k| signer::verify_signature(k, &bytes, &sig_bytes));
                (signature, doc::chain_value(&bytes))
            });
            let parsed = serde_json::from_slice::<CheckpointDoc>(&bytes);
            let (signature, chain) = hashing.join().expect("checking a signature does not panic");
            (signature, chain, parsed)
        });
        let mut ok = true;
        match signature {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                self.find(
                    FindingKind::BadSignature,
                    format!("checkpoint {seq}: {e}"),
                    Some(&m.meta.path),
                    Some(json_offset),
                    Some(seq),
                );
                ok = false;
            }
            None => ok = false,
        }
        let cp: Option<CheckpointDoc> = match parsed {
            Ok(cp) => Some(cp),
            Err(e) => {
                self.find(
                    FindingKind::BadCheckpoint,
                    format!("checkpoint {seq} is not a valid document: {e}"),
                    Some(&m.meta.path),
                    Some(json_offset),
                    Some(seq),
                );
                None
            }
        };
        let Some(mut cp) = cp else {
            return self.reject_segment(seq, *m, Some(*sig), chain, "its checkpoint is unreadable");
        };
        let (mut m, mut sig) = (m, sig);
        let json_offset = match self.lost_from.take() {
            // Bytes can only have been lost, never gained: a range that ends
            // before this document means bytes were inserted, which the full
            // checks below report.
            Some(from) if cp.range.end >= json_offset && cp.range.end >= self.prev_end => {
                let from = from.min(self.segment_members.len());
                if seq > self.checkpoint_seq + 1 && from > 0 {
                    // The checkpoint that would prove the members read before
                    // the damage was itself lost.
                    let before: Vec<Observed> = self.segment_members.drain(..from).collect();
                    self.evidence_seen_before_loss = before
                        .iter()
                        .filter(|o| !o.meta.path.starts_with(crate::format::CUSTODY_DIR.as_bytes()))
                        .count() as u64;
                    let msg = format!(
                        "{} members read before the damage belonged to checkpoint {}, which the damage destroyed: they are unproven",
                        before.len(),
                        self.checkpoint_seq + 1
                    );
                    self.find(FindingKind::CompressedDamage, msg, None, None, Some(self.checkpoint_seq + 1));
                    let outcomes: Vec<MemberOutcome> = before.into_iter().map(|o| outcome(o, None, Proof::Unproven)).collect();
                    self.deliver(outcomes, false)?;
                }
                if seq > self.checkpoint_seq + 1 {
                    let evidence = |o: &Observed| !o.meta.path.starts_with(crate::format::CUSTODY_DIR.as_bytes());
                    let seen = self.segment_members.iter().filter(|o| evidence(o)).count() as u64 + self.evidence_seen_before_loss;
                    let before = self.last_totals.as_ref().map_or(0, |t| t.evidence_members);
                    let lost = cp.totals.evidence_members.saturating_sub(before).saturating_sub(seen);
                    let msg = format!(
                        "checkpoint{} {} destroyed by the damage, with the members listed there: by checkpoint {seq}'s running totals, {lost} evidence members collected before it are missing from the stream",
                        if seq - self.checkpoint_seq > 2 { "s" } else { "" },
                        if seq - self.checkpoint_seq > 2 {
                            format!("{}..{} were", self.checkpoint_seq + 1, seq - 1)
                        } else {
                            format!("{} was", self.checkpoint_seq + 1)
                        }
                    );
                    self.find(FindingKind::MemberMissing, msg, None, None, Some(seq));
                }
                self.evidence_seen_before_loss = 0;
                let from = if seq > self.checkpoint_seq + 1 { 0 } else { from };
                // Bytes were lost before this checkpoint: its own range says
                // where its document begins, which calibrates the offsets of
                // the members read since the damage.
                let delta = cp.range.end.wrapping_sub(json_offset);
                for o in self.segment_members[from..].iter_mut().chain([&mut *m, &mut *sig]) {
                    o.meta.offset = o.meta.offset.wrapping_add(delta);
                }
                self.stream.pos = self.stream.pos.wrapping_add(delta);
                let msg = format!(
                    "checkpoint {seq} covers bytes {}..{} that the damage above cut short: its chain link and segment digest cannot be checked, only its signature and, one by one, the members that survive",
                    cp.range.start, cp.range.end
                );
                self.find(
                    FindingKind::CompressedDamage,
                    msg,
                    Some(&m.meta.path),
                    Some(cp.range.end),
                    Some(seq),
                );
                ok &= self.check_checkpoint_identity(seq, &cp, cp.range.end);
                cp.range.end
            }
            _ => {
                ok &= self.check_checkpoint_fields(seq, &cp, json_offset, &segment_digest);
                json_offset
            }
        };
        ok &= self.check_custody_headers(seq, &cp, &m, &sig);
        let digests_known = self.digests_from_manifest(seq, &mut cp, json_offset);
        ok &= digests_known;
        let in_order = self.compare_members(seq, &cp, digests_known);
        let members = std::mem::take(&mut self.segment_members);
        let proven_segment = ok && in_order && self.all_good_so_far;
        self.report_collection_facts(&cp);
        let listed = std::mem::take(&mut cp.members);
        let outcomes = self.outcomes(members, listed, in_order, proven_segment, digests_known);
        let proves = proven_segment && self.proven.checkpoints + 1 == seq;
        self.deliver(outcomes, proves)?;
        if proves {
            self.proven_documents = [Some(m.meta.index), Some(sig.meta.index)];
            self.proven = Proven {
                checkpoints: seq,
                tar_bytes: cp.range.end,
                totals: cp.totals.clone(),
                until: Some(cp.time.clone()),
                chain: Some(chain.clone()),
            };
        }
        self.chain = chain;
        self.checkpoint_seq = seq;
        self.prev_end = json_offset;
        self.last_totals = Some(cp.totals.clone());
        let is_seal = cp.seal.is_some();
        if is_seal {
            self.sealed = cp.seal.clone();
            self.seal_proven = ok;
        }
        self.segment_members.push(*m);
        self.segment_members.push(*sig);
        Ok(is_seal)
    }

    /// A checkpoint that proves nothing: its segment's members are altered.
    /// `chain` is the chain value of its document.
    fn reject_segment(&mut self, seq: u64, mut m: Observed, sig: Option<Observed>, chain: String, why: &str) -> Result<bool, VerifyError> {
        self.settle();
        self.lost_from = None;
        let members = std::mem::take(&mut self.segment_members);
        let outcomes: Vec<MemberOutcome> = members
            .into_iter()
            .map(|o| outcome(o, None, Proof::Altered(why.to_string())))
            .collect();
        self.deliver(outcomes, false)?;
        self.checkpoint_seq = seq;
        self.prev_end = m.meta.offset;
        self.chain = chain;
        m.content = None;
        self.segment_members.push(m);
        if let Some(s) = sig {
            self.segment_members.push(s);
        }
        Ok(false)
    }

    /// After damage: only what does not depend on the lost bytes: format,
    /// type, sequence number and archive id.
    fn check_checkpoint_identity(&mut self, seq: u64, cp: &CheckpointDoc, offset: u64) -> bool {
        let path = doc::checkpoint_path(seq).into_bytes();
        let same_archive = self.header.as_ref().is_none_or(|h| h.archive_id == cp.archive_id);
        let ok = doc::check_format(&cp.format)
            && cp.doc_type == doc::CHECKPOINT_TYPE
            && cp.seq == seq
            && seq > self.checkpoint_seq
            && same_archive;
        if !ok {
            let msg = format!("checkpoint {seq} does not belong here (format, type, sequence number or archive id)");
            self.find(FindingKind::ChainBroken, msg, Some(&path), Some(offset), Some(seq));
        }
        ok
    }

    fn check_checkpoint_fields(&mut self, seq: u64, cp: &CheckpointDoc, offset: u64, segment_digest: &str) -> bool {
        let path = doc::checkpoint_path(seq).into_bytes();
        let mut problems: Vec<(FindingKind, String)> = Vec::new();
        if !doc::check_format(&cp.format) || cp.doc_type != doc::CHECKPOINT_TYPE || cp.seq != seq {
            problems.push((
                FindingKind::BadCheckpoint,
                format!(
                    "checkpoint {seq} has format {:?}, type {:?}, seq {}",
                    cp.format, cp.doc_type, cp.seq
                ),
            ));
        }
        if let Some(h) = &self.header {
            if cp.archive_id != h.archive_id {
                problems.push((
                    FindingKind::ChainBroken,
                    format!("checkpoint {seq} belongs to archive {}, not {}", cp.archive_id, h.archive_id),
                ));
            }
        }
        if seq != self.checkpoint_seq + 1 {
            problems.push((
                FindingKind::ChainBroken,
                format!(
                    "checkpoint {seq} follows checkpoint {}: checkpoints are missing, duplicated or reordered",
                    self.checkpoint_seq
                ),
            ));
        }
        if cp.prev_chain != self.chain {
            problems.push((
                FindingKind::ChainBroken,
                format!(
                    "checkpoint {seq} does not continue the chain (it names {}, the stream gives {})",
                    cp.prev_chain, self.chain
                ),
            ));
        }
        if cp.range.start != self.prev_end || cp.range.end != offset {
            problems.push((
                FindingKind::ChainBroken,
                format!(
                    "checkpoint {seq} covers bytes {}..{}, but its segment is {}..{offset} in this stream",
                    cp.range.start, cp.range.end, self.prev_end
                ),
            ));
        }
        if cp.segment_blake3 != segment_digest {
            problems.push((
                FindingKind::SegmentDigestMismatch,
                format!(
                    "the bytes of segment {seq} ({}..{offset}) do not match its signed BLAKE3",
                    self.prev_end
                ),
            ));
        }
        let ok = problems.is_empty();
        for (kind, msg) in problems {
            self.find(kind, msg, Some(&path), Some(offset), Some(seq));
        }
        ok
    }

    fn check_custody_headers(&mut self, seq: u64, cp: &CheckpointDoc, m: &Observed, sig: &Observed) -> bool {
        // A time that does not parse gives no header to compare with:
        // whatever headers the members have, they are not canonical.
        let secs = doc::rfc3339_secs(&cp.time);
        let mut ok = true;
        for (o, path) in [(m, doc::checkpoint_path(seq)), (sig, doc::signature_path(seq))] {
            let problem = match secs {
                None => Some(format!(
                    "checkpoint {seq}'s time {:?} is not an RFC 3339 time, so the tar header of {path} cannot be the one custody writes for it",
                    cp.time
                )),
                Some(secs) => (doc::custody_member_header(&path, o.meta.size, secs).encode() != o.header_bytes)
                    .then(|| format!("the tar header of {path} is not the one custody writes for it")),
            };
            if let Some(msg) = problem {
                self.find(
                    FindingKind::NonCanonicalCustodyMember,
                    msg,
                    Some(path.as_bytes()),
                    Some(o.meta.offset),
                    Some(seq),
                );
                ok = false;
            }
        }
        ok
    }

    /// Compare what the checkpoint lists with what the stream holds; report
    /// each difference against the member it concerns. Returns whether the
    /// stream holds exactly the members listed, in order, at their offsets.
    /// Fill in the content digests that checkpoint `seq` keeps in its
    /// manifest rather than its listing (FORMAT.md §4). `false`, with a
    /// `bad-checkpoint` finding, when the manifest is missing or does not
    /// match the listing: those members' content cannot then be checked.
    fn digests_from_manifest(&mut self, seq: u64, cp: &mut CheckpointDoc, json_offset: u64) -> bool {
        let wanted: Vec<usize> = (0..cp.members.len()).filter(|&i| doc::digest_in_manifest(&cp.members[i])).collect();
        if wanted.is_empty() {
            return true;
        }
        let path = doc::manifest_path(seq);
        let manifest = self
            .segment_members
            .iter()
            .rev()
            .find(|o| o.meta.path == path.as_bytes() && o.meta.kind == EntryKind::File)
            .and_then(|o| o.content.as_deref());
        let problem = match manifest.map(doc::parse_manifest) {
            None => Some("its manifest is missing from the stream".to_string()),
            Some(None) => Some("its manifest is not in the sha256sum form custody writes".to_string()),
            Some(Some(lines)) if lines.len() != wanted.len() => {
                Some(format!("its manifest has {} lines for {} listed files", lines.len(), wanted.len()))
            }
            Some(Some(lines)) => {
                let mut problem = None;
                for (&i, (digest, line_path)) in wanted.iter().zip(lines) {
                    let e = &mut cp.members[i];
                    if e.sha256.is_some() || !e.path.is(&line_path) {
                        problem = Some(format!("its manifest does not match its listing at {}", e.path.display()));
                        break;
                    }
                    e.sha256 = Some(digest);
                }
                problem
            }
        };
        let Some(problem) = problem else {
            return true;
        };
        for &i in &wanted {
            cp.members[i].sha256 = None;
        }
        let msg = format!(
            "checkpoint {seq}: {problem}, so the content of the {} files it lists cannot be checked",
            wanted.len()
        );
        self.find(FindingKind::BadCheckpoint, msg, Some(path.as_bytes()), Some(json_offset), Some(seq));
        false
    }

    /// Compare the segment's members with the listing of checkpoint `seq`.
    /// Without `digests_known` (its manifest failed, already reported), the
    /// content of the files listed there is not compared.
    fn compare_members(&mut self, seq: u64, cp: &CheckpointDoc, digests_known: bool) -> bool {
        if self.segment_overflow > 0 {
            let msg = format!(
                "segment {seq} holds {} more members than any checkpoint may list",
                self.segment_overflow
            );
            self.find(FindingKind::MemberUnlisted, msg, None, None, Some(seq));
            self.unproven_members += self.segment_overflow;
            self.segment_overflow = 0;
        }
        if self.segment_members.len() == cp.members.len() && self.segment_members.iter().zip(&cp.members).all(|(o, l)| is_listed_as(o, l)) {
            return true;
        }
        let observed: Vec<MemberEntry> = self.segment_members.iter().map(as_entry).collect();
        let mut used = vec![false; observed.len()];
        let mut unused = Unmatched::new(observed.iter().map(|o| &o.path));
        let mut order = Vec::new();
        for listed in &cp.members {
            let lpath = listed.path.to_bytes().unwrap_or_default();
            let found = unused.take(&listed.path);
            let Some(i) = found else {
                let msg = format!(
                    "{} ({}, {} bytes) is listed by checkpoint {seq} but absent from the stream",
                    listed.path.display(),
                    listed.kind,
                    listed.size
                );
                self.find(FindingKind::MemberMissing, msg, Some(&lpath), Some(listed.offset), Some(seq));
                continue;
            };
            used[i] = true;
            order.push(i);
            let o = &observed[i];
            let unknown = !digests_known && doc::digest_in_manifest(listed);
            if (o.sha256 != listed.sha256 && !unknown) || o.size != listed.size {
                let msg = format!("the content of {} differs from what checkpoint {seq} signed", listed.path.display());
                self.find(FindingKind::ContentAltered, msg, Some(&lpath), Some(o.offset), Some(seq));
            }
            if o.header_digest != listed.header_digest || o.kind != listed.kind {
                let msg = format!(
                    "the tar header (metadata) of {} differs from what checkpoint {seq} signed",
                    listed.path.display()
                );
                self.find(FindingKind::HeaderAltered, msg, Some(&lpath), Some(o.offset), Some(seq));
            }
        }
        for (i, o) in observed.iter().enumerate() {
            if !used[i] {
                let msg = format!(
                    "{} at offset {} is not listed by checkpoint {seq}: it was inserted",
                    o.path.display(),
                    o.offset
                );
                self.find(
                    FindingKind::MemberUnlisted,
                    msg,
                    o.path.to_bytes().as_deref(),
                    Some(o.offset),
                    Some(seq),
                );
            }
        }
        if order.windows(2).any(|w| w[0] > w[1]) {
            self.find(
                FindingKind::MembersReordered,
                format!("members of segment {seq} appear in another order than checkpoint {seq} signed"),
                None,
                None,
                Some(seq),
            );
        } else if self.findings.iter().all(|f| f.checkpoint != Some(seq) || f.level != Level::Error) {
            // Same members, same digests, only offsets moved: something before them changed size.
            self.find(
                FindingKind::MembersReordered,
                format!("members of segment {seq} sit at other offsets than checkpoint {seq} signed"),
                None,
                None,
                Some(seq),
            );
        }
        false
    }

    /// Each member's proof against the listing of its checkpoint.
    /// `in_order`: the members are exactly those listed, in order.
    fn outcomes(
        &self,
        members: Vec<Observed>,
        listed: Vec<MemberEntry>,
        in_order: bool,
        proven_segment: bool,
        digests_known: bool,
    ) -> Vec<MemberOutcome> {
        let matching = || {
            if proven_segment && self.trusted {
                Proof::Proven
            } else {
                Proof::MatchesListing
            }
        };
        if in_order {
            return members
                .into_iter()
                .zip(listed)
                .map(|(o, l)| outcome(o, Some(l), matching()))
                .collect();
        }
        let mut unused = Unmatched::new(listed.iter().map(|l| &l.path));
        members
            .into_iter()
            .map(|o| {
                let entry = as_entry(&o);
                let listed = unused.take(&entry.path).map(|i| listed[i].clone());
                let proof = match &listed {
                    Some(l) if !digests_known && doc::digest_in_manifest(l) => Proof::Unproven,
                    Some(l) if !same_content(&entry, l) => Proof::Altered("differs from its signed listing".into()),
                    Some(_) => matching(),
                    None => Proof::Altered("not listed by any checkpoint".into()),
                };
                outcome(o, listed, proof)
            })
            .collect()
    }

    fn report_collection_facts(&mut self, cp: &CheckpointDoc) {
        for m in &cp.members {
            if m.status.is_failure() {
                let msg = format!(
                    "{}: recorded as {} during collection{}",
                    m.path.display(),
                    m.status.name(),
                    m.detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
                );
                self.find(
                    FindingKind::CollectionFailure,
                    msg,
                    m.path.to_bytes().as_deref(),
                    Some(m.offset),
                    Some(cp.seq),
                );
            }
        }
        for s in &cp.skipped {
            let msg = format!("{}: not collected ({})", s.path.display(), s.reason);
            self.find(FindingKind::CollectionSkip, msg, s.path.to_bytes().as_deref(), None, Some(cp.seq));
        }
        if let Some(why) = &cp.stopped {
            let msg = format!(
                "the collector stopped after checkpoint {} ({why}) and signed it as its last",
                cp.seq
            );
            self.find(FindingKind::CollectionStopped, msg, None, None, Some(cp.seq));
        }
    }

    /// After the seal only the end-of-archive marker may follow.
    fn after_seal(&mut self) -> Result<(), VerifyError> {
        let start = self.stream.pos;
        let mut buf = vec![0u8; 64 * 1024];
        let mut zeros: u64 = 0;
        loop {
            match self.stream.fill(&mut buf) {
                Ok(()) => {
                    if let Some(i) = buf.iter().position(|&b| b != 0) {
                        self.data_after_seal(start + zeros + i as u64);
                        return self.flush_seal_members();
                    }
                    zeros += buf.len() as u64;
                }
                Err((got, end)) => {
                    if let Some(i) = buf[..got].iter().position(|&b| b != 0) {
                        self.data_after_seal(start + zeros + i as u64);
                        return self.flush_seal_members();
                    }
                    zeros += got as u64;
                    match end {
                        ReadEnd::Eof if zeros >= tar::END_OF_ARCHIVE_LEN as u64 => {}
                        ReadEnd::Damaged(e) | ReadEnd::Malformed { reason: e, .. } => {
                            let msg = format!("compressed data after the seal is damaged ({e})");
                            self.find(FindingKind::CompressedDamage, msg, None, Some(start + zeros), None);
                        }
                        _ => {
                            let msg = format!(
                                "the end-of-archive marker after the seal is {zeros} bytes, not {}: the archive was cut off after its seal",
                                tar::END_OF_ARCHIVE_LEN
                            );
                            self.find(FindingKind::MissingEndMarker, msg, None, Some(start + zeros), None);
                        }
                    }
                    return self.flush_seal_members();
                }
            }
        }
    }

    /// The seal document and its signature are proven by the signature and
    /// the canonical-header rule, not by a later segment digest.
    fn flush_seal_members(&mut self) -> Result<(), VerifyError> {
        let proof = if self.seal_proven && self.all_good_so_far && self.trusted {
            Proof::Proven
        } else if self.seal_proven && self.all_good_so_far {
            Proof::MatchesListing
        } else {
            Proof::Altered("the seal did not verify".into())
        };
        self.settle();
        let members = std::mem::take(&mut self.segment_members);
        let outcomes: Vec<MemberOutcome> = members.into_iter().map(|o| outcome(o, None, proof.clone())).collect();
        self.deliver(outcomes, false)
    }

    fn data_after_seal(&mut self, offset: u64) {
        self.find(
            FindingKind::DataAfterSeal,
            format!("non-zero data at tar offset {offset}, after the seal"),
            None,
            Some(offset),
            None,
        );
    }

    fn report(mut self, opts: &VerifyOptions, file_sha256: Option<String>) -> Report {
        let archive_file = opts.archive_sha256.as_ref().zip(file_sha256).map(|(expected, sha256)| ArchiveFile {
            matches: sha256 == expected.sha256,
            sha256,
            expected: expected.sha256.clone(),
            source: expected.source,
            origin: expected.origin.clone(),
        });
        if let Some(f) = archive_file.as_ref().filter(|f| !f.matches) {
            let msg = format!(
                "the archive file's SHA-256 is {}, but {} gives {}: this file is not the one recorded. \
                 An honest recompression also changes it while the chain still verifies: then the final chain value \
                 must equal the one collect printed and the custody form records",
                f.sha256, f.origin, f.expected
            );
            self.find(FindingKind::ArchiveDigestMismatch, msg, None, None, None);
        }
        let signer = self.header.as_ref().map(|h| SignerReport {
            public_key: h.signer.public_key.clone(),
            fingerprint: self
                .key
                .as_ref()
                .map(signer::fingerprint)
                .unwrap_or_else(|| h.signer.fingerprint.clone()),
            source: h.signer.source.clone(),
            trusted_as: self.key.as_ref().and_then(|k| opts.trust.principal_for(k)),
        });
        if let Some(s) = &signer {
            if s.trusted_as.is_none() {
                let msg = if opts.trust.is_empty() {
                    format!(
                        "signed by {}, but no trusted key was given: pass --key, --allowed-signers or --fingerprint",
                        s.fingerprint
                    )
                } else {
                    format!("signed by {}, which is not among the trusted keys", s.fingerprint)
                };
                self.find(FindingKind::UntrustedSigner, msg, None, None, None);
            }
        }
        let tampered = self.findings.iter().any(|f| f.level == Level::Error);
        let truncated = self
            .findings
            .iter()
            .any(|f| matches!(f.kind, FindingKind::Truncated | FindingKind::MissingEndMarker));
        let sealed = self.sealed.is_some() && !tampered;
        let verdict = if tampered {
            Verdict::Tampered
        } else if signer.as_ref().is_some_and(|s| s.trusted_as.is_none()) {
            Verdict::Untrusted
        } else if truncated || !sealed {
            Verdict::Incomplete
        } else {
            Verdict::Verified
        };
        let unproven_tar_bytes = if sealed {
            0
        } else {
            self.stream.pos.saturating_sub(self.proven.tar_bytes)
        };
        // Members kept out of a segment that no checkpoint closed.
        let unproven_members = if sealed { 0 } else { self.unproven_members + self.segment_overflow };
        Report {
            verdict,
            archive_id: self.header.as_ref().map(|h| h.archive_id.clone()),
            header: self.header,
            signer,
            sealed,
            seal: self.sealed,
            proven: self.proven,
            unproven_tar_bytes,
            unproven_members,
            archive_file,
            findings: self.findings,
        }
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
    }
}

/// Indices of members by path, taken in order: matching a listing to the
/// stream in time linear in their length, whatever a hostile archive holds.
struct Unmatched<'a> {
    by_path: std::collections::HashMap<&'a PathText, std::collections::VecDeque<usize>>,
}

impl<'a> Unmatched<'a> {
    fn new(paths: impl Iterator<Item = &'a PathText>) -> Self {
        let mut by_path: std::collections::HashMap<&PathText, std::collections::VecDeque<usize>> = std::collections::HashMap::new();
        for (i, p) in paths.enumerate() {
            by_path.entry(p).or_default().push_back(i);
        }
        Unmatched { by_path }
    }

    /// The first index not yet taken with this path.
    fn take(&mut self, path: &PathText) -> Option<usize> {
        self.by_path.get_mut(path)?.pop_front()
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

/// Fill in a member's content digests from the content hasher.
fn settle(content: &mut ContentHasher, segment: &mut SegmentHasher, o: &mut Observed) {
    if let Some(number) = o.pending_header.take() {
        o.header_digest = segment.header_digest(number);
    }
    if let Some(number) = o.pending.take() {
        o.sha256 = Some(content.digest(number));
    }
}

fn outcome(o: Observed, entry: Option<MemberEntry>, proof: Proof) -> MemberOutcome {
    debug_assert!(
        o.pending.is_none() && o.pending_header.is_none(),
        "digests are settled before members leave the segment"
    );
    MemberOutcome {
        sha256: o.sha256,
        meta: o.meta,
        entry,
        proof,
    }
}

fn as_entry(o: &Observed) -> MemberEntry {
    debug_assert!(
        o.pending.is_none() && o.pending_header.is_none(),
        "digests are settled before members are compared"
    );
    MemberEntry {
        offset: o.meta.offset,
        path: PathText::from_bytes(&o.meta.path),
        kind: o.meta.kind.name().into(),
        size: o.meta.size,
        header_digest: o.header_digest.clone(),
        sha256: o.sha256.clone(),
        status: doc::MemberStatus::Ok,
        detail: None,
        inode: None,
    }
}

/// Whether the observed member is the one listed as `l`, at its offset
/// (the same as comparing [`as_entry`] with `l`, without building it).
fn is_listed_as(o: &Observed, l: &MemberEntry) -> bool {
    debug_assert!(
        o.pending.is_none() && o.pending_header.is_none(),
        "digests are settled before members are compared"
    );
    o.meta.offset == l.offset
        && l.path.is(&o.meta.path)
        && o.meta.kind.name() == l.kind
        && o.meta.size == l.size
        && o.header_digest == l.header_digest
        && o.sha256 == l.sha256
}

fn same_content(o: &MemberEntry, l: &MemberEntry) -> bool {
    o.path == l.path && o.kind == l.kind && o.size == l.size && o.header_digest == l.header_digest && o.sha256 == l.sha256
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn sha256_hex_is_64_hex_digits_in_either_case() {
        assert_eq!(parse_sha256_hex(HEX).unwrap(), HEX);
        assert_eq!(parse_sha256_hex(&HEX.to_uppercase()).unwrap(), HEX);
        for bad in [
            "",
            &HEX[1..],
            &format!("{HEX}0"),
            &HEX.replace('9', "g"),
            &format!(" {}", &HEX[1..]),
        ] {
            let e = parse_sha256_hex(bad).unwrap_err();
            assert!(e.contains("64 hexadecimal digits"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn sidecars_are_read_in_the_form_sha256sum_writes() {
        for good in [
            format!("{HEX}  a.tar.zst\n"),
            format!("{HEX}  a.tar.zst"),
            format!("{HEX} *a.tar.zst\n"),
            format!("\\{HEX}  a\\nb.tar.zst\n"),
            format!("{}  renamed.tar.zst\n", HEX.to_uppercase()),
        ] {
            assert_eq!(parse_sidecar(good.as_bytes()).unwrap(), HEX, "{good:?}");
        }
        for bad in [
            String::new(),
            format!("{HEX}\n"),
            format!("{HEX}  \n"),
            format!("{HEX} a.tar.zst\n"),
            format!("{HEX}  a.tar.zst\n{HEX}  b.tar.zst\n"),
            format!("{}  a.tar.zst\n", &HEX[2..]),
            format!("SHA256 (a.tar.zst) = {HEX}\n"),
        ] {
            let e = parse_sidecar(bad.as_bytes()).unwrap_err();
            assert!(e.contains("as collect and sha256sum write it"), "{bad:?}: {e}");
        }
    }
}
