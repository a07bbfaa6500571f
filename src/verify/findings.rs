//! Findings: what the verifier noticed, each of a kind with a level, and
//! how a stream that stopped early becomes one.

use serde::Serialize;

use super::members::ReadEnd;
use super::Verifier;
use crate::format::doc::PathText;

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

impl Level {
    /// The level's name, as `--json` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
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
    /// A custody log line that is not a record (docs/CUSTODY-LOG.md).
    LogMalformed,
    /// The custody log's last line is cut short (no final newline).
    LogTruncated,
    /// A custody log record does not follow the one before it: records
    /// were edited, removed, inserted or reordered.
    LogLinkBroken,
    /// A custody log event's signature does not verify.
    LogBadSignature,
    /// A custody log event names another archive.
    LogOtherArchive,
    /// A custody log event names a chain value this copy does not prove
    /// (the archive is incomplete or damaged).
    LogChainNotProven,
    /// A custody log event is signed by a key the user did not name.
    LogUntrustedSigner,
    /// The archive file's SHA-256 differs from the one an event recorded.
    LogArchiveDigestDiffers,
    /// A trusted-time token is for other data than the checkpoint signature
    /// it names (§15).
    TimestampMismatch,
    /// A trusted-time token does not parse, or its signature or message
    /// digest is wrong (§15).
    TimestampInvalid,
    /// A valid trusted-time token whose TSA does not chain to a root given
    /// with `--tsa-ca` (§15).
    TimestampUntrusted,
    /// The collector recorded that it got no token for a checkpoint (§15).
    TimestampFailed,
    /// A checkpoint's time and its token's genTime differ by more than the
    /// clock tolerance (§15).
    ClockDisagrees,
    /// A part of a split archive is missing between two parts given (§18).
    PartMissing,
    /// A part of a split archive is given twice, or out of order, or does
    /// not continue the part before it (§18).
    PartOutOfPlace,
    /// A part of another archive among the parts given (§18).
    PartForeign,
    /// A part document that does not parse or does not check out (§18).
    BadPartDocument,
    /// The parts given are not the whole set: they begin after part 1, or
    /// end before the part with the seal (§18).
    SetIncomplete,
}

impl FindingKind {
    /// The level of this kind of finding.
    pub fn level(self) -> Level {
        match self {
            FindingKind::Truncated
            | FindingKind::MissingEndMarker
            | FindingKind::UntrustedSigner
            | FindingKind::LogTruncated
            | FindingKind::LogChainNotProven
            | FindingKind::LogUntrustedSigner
            | FindingKind::LogArchiveDigestDiffers
            | FindingKind::TimestampUntrusted
            | FindingKind::TimestampFailed
            | FindingKind::ClockDisagrees
            | FindingKind::SetIncomplete => Level::Warning,
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
    /// Line of the custody log, for the log's findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The part of a split archive it is about (docs/FORMAT.md §18).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<u64>,
}

impl Finding {
    /// A finding about line `line` of the custody log.
    pub fn log(kind: FindingKind, line: Option<u64>, message: String) -> Finding {
        Finding {
            level: kind.level(),
            kind,
            message,
            member: None,
            offset: None,
            checkpoint: None,
            line,
            part: None,
        }
    }
}

impl Verifier<'_> {
    pub(super) fn find(&mut self, kind: FindingKind, message: String, member: Option<&[u8]>, offset: Option<u64>, checkpoint: Option<u64>) {
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
            line: None,
            part: None,
        });
    }

    pub(super) fn stopped(&mut self, end: ReadEnd, offset: u64, what: &str) {
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
}
