//! The verifier's answer: the verdict rule over the findings, who signed,
//! what the verified checkpoints prove, and what is left unproven.

use serde::Serialize;

use super::archive_file::ArchiveFile;
use super::findings::{FindingKind, Level};
use super::{Finding, Verifier, VerifyOptions};
use crate::format::doc::{HeaderDoc, Seal, Totals};
use crate::signer;

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
    /// For a part of a split archive verified without the parts before it
    /// (docs/FORMAT.md §18): the checkpoint it continues from. Checkpoints
    /// `after + 1 ..= checkpoints` are proven, not those up to `after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
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
    /// SHA-256 (hex) of every byte of the input, when it was hashed
    /// ([`VerifyOptions::hash_input`] or a recorded digest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_sha256: Option<String>,
    /// Every finding, in stream order.
    pub findings: Vec<Finding>,
    /// Trusted-time tokens and records (docs/FORMAT.md §15), in stream
    /// order; absent from the JSON when the archive has none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timestamps: Vec<super::TimestampReport>,
}

impl Verifier<'_> {
    pub(super) fn report(mut self, opts: &VerifyOptions, file_sha256: Option<String>) -> Report {
        let input_sha256 = file_sha256.clone();
        let archive_file = self.check_archive_file(opts, file_sha256);
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
        // A part verified without part 1 names its signer in its part document.
        let signer = signer.or_else(|| {
            let (line, key) = (self.parts.signer.clone()?, self.key.as_ref()?);
            Some(SignerReport {
                public_key: line,
                fingerprint: signer::fingerprint(key),
                source: "part document".into(),
                trusted_as: opts.trust.principal_for(key),
            })
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
        // A part ends right after a checkpoint's signature, which that
        // checkpoint proves as a stopped collection's last one does.
        let part_end = self.parts.ended_at == Some(self.stream.pos) && self.proven.checkpoints == self.checkpoint_seq;
        let stopped_cleanly = !tampered && (self.stopped_end == Some(self.stream.pos) || part_end);
        let unproven_tar_bytes = if sealed || stopped_cleanly {
            0
        } else {
            self.stream.pos.saturating_sub(self.proven.tar_bytes)
        };
        // Members kept out of a segment that no checkpoint closed.
        let unproven_members = if sealed { 0 } else { self.unproven_members + self.segment_overflow };
        Report {
            verdict,
            archive_id: self.expected_archive_id(),
            header: self.header,
            signer,
            sealed,
            seal: self.sealed,
            proven: self.proven,
            unproven_tar_bytes,
            unproven_members,
            archive_file,
            input_sha256,
            findings: self.findings,
            timestamps: self.timestamps,
        }
    }
}

impl Report {
    /// Whether the archive ends where a stopped collection signed its last
    /// checkpoint, intact, with nothing after it unproven: a known end, as
    /// a seal is, but without one.
    pub fn stopped_cleanly(&self) -> bool {
        !self.sealed
            && self.unproven_tar_bytes == 0
            && self.unproven_members == 0
            && self.proven.checkpoints > 0
            && self.findings.iter().any(|f| f.kind == FindingKind::CollectionStopped)
            && !self
                .findings
                .iter()
                .any(|f| f.level == Level::Error || f.kind == FindingKind::Truncated)
    }

    /// Add findings made outside the archive (the custody log's): an error
    /// among them makes the verdict `tampered`, as any error does.
    pub fn add_findings(&mut self, findings: Vec<Finding>) {
        if findings.iter().any(|f| f.level == Level::Error) {
            self.verdict = Verdict::Tampered;
        }
        self.findings.extend(findings);
    }
}
