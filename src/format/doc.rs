//! The custody documents stored as archive members: the header, the
//! checkpoints and the seal, as serde types, plus the chain construction.
//!
//! The bytes of these documents are hashed and signed exactly as they appear
//! in the stream; a verifier never re-serialises them to check a digest.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::tar::{EntryKind, MemberHeader, Timestamp};
use super::{CUSTODY_DIR, FORMAT_ID};

/// Path of the header document, always the first member.
pub const HEADER_PATH: &str = ".custody/header.json";

/// Value of the `type` field of the header document.
pub const HEADER_TYPE: &str = "header";
/// Value of the `type` field of a checkpoint document.
pub const CHECKPOINT_TYPE: &str = "checkpoint";

/// A 32-byte digest shown as lowercase hex.
pub type HexDigest = String;

/// The first member: what, who, where and how this collection was made.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HeaderDoc {
    /// Always [`FORMAT_ID`].
    pub format: String,
    /// Always [`HEADER_TYPE`].
    #[serde(rename = "type")]
    pub doc_type: String,
    /// 16 random bytes as hex, unique to this archive.
    pub archive_id: String,
    /// Tool that wrote the archive.
    pub tool: ToolInfo,
    /// Case metadata given by the examiner.
    pub case: CaseInfo,
    /// Facts about the collecting host.
    pub host: HostInfo,
    /// Source paths as given on the command line.
    pub sources: Vec<PathText>,
    /// Collection parameters.
    pub parameters: Parameters,
    /// The key that signs every checkpoint.
    pub signer: SignerInfo,
    /// Start of the collection (RFC 3339, UTC, nanoseconds).
    pub start_time: String,
}

/// Name and version of the writing tool.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ToolInfo {
    /// Tool name.
    pub name: String,
    /// Tool version.
    pub version: String,
}

/// Case metadata; every field is optional free text.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CaseInfo {
    /// Case reference.
    pub case: Option<String>,
    /// Examiner name.
    pub examiner: Option<String>,
    /// Evidence item identifier.
    pub evidence_id: Option<String>,
    /// Free-form note.
    pub note: Option<String>,
}

/// Facts about the collecting host.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct HostInfo {
    /// Host name.
    pub hostname: Option<String>,
    /// Kernel name, release and version (`uname -srv`).
    pub kernel: Option<String>,
    /// Machine architecture.
    pub machine: Option<String>,
    /// Contents of /etc/machine-id.
    pub machine_id: Option<String>,
    /// Effective user id of the collector.
    pub euid: u32,
}

/// Collection parameters that affect what the archive holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Parameters {
    /// A checkpoint is written once this many tar bytes follow the last one.
    pub checkpoint_bytes: u64,
    /// A checkpoint is written once this many members follow the last one.
    pub checkpoint_members: u64,
    /// A checkpoint is written once this many seconds passed since the last one.
    pub checkpoint_seconds: u64,
    /// Exclusion globs.
    pub excludes: Vec<String>,
    /// Whether the walk stays on the filesystem of each source.
    pub one_file_system: bool,
    /// zstd compression level.
    pub zstd_level: i32,
    /// Whether files are opened with `O_NOATIME` (so reading them does not
    /// update their access time): `all` when the collector may use it on
    /// every file, `owned` when only on files its user owns (the others are
    /// counted in the seal's `opened_without_noatime`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub noatime: Option<String>,
    /// The size the archive's parts were cut at, when it was written in
    /// parts (`--split`, docs/FORMAT.md §18): an addition, absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub split_bytes: Option<u64>,
}

/// Who signs this archive.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SignerInfo {
    /// OpenSSH public key line (`ssh-ed25519 AAAA...`).
    pub public_key: String,
    /// `SHA256:` fingerprint of the key, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// Where the private key lived: `file`, `agent` or `ephemeral`.
    pub source: String,
}

/// A byte string that is shown as text when it is UTF-8 and as base64 otherwise.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct PathText {
    /// The text, when the bytes are valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path: Option<String>,
    /// Standard base64 of the bytes, when they are not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path_b64: Option<String>,
}

impl PathText {
    /// Whether this is how [`PathText::from_bytes`] represents `bytes`.
    /// Text, the common case, is compared without building a `PathText`.
    pub fn is(&self, bytes: &[u8]) -> bool {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.path.as_deref() == Some(text) && self.path_b64.is_none(),
            Err(_) => *self == PathText::from_bytes(bytes),
        }
    }

    /// Represent raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(s) => PathText {
                path: Some(s.to_owned()),
                path_b64: None,
            },
            Err(_) => {
                use base64::Engine as _;
                PathText {
                    path: None,
                    path_b64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                }
            }
        }
    }

    /// The raw bytes, or `None` when neither field decodes.
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        use base64::Engine as _;
        match (&self.path, &self.path_b64) {
            (Some(p), None) => Some(p.as_bytes().to_vec()),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD.decode(b).ok(),
            _ => None,
        }
    }

    /// A printable form: the text, or the bytes with non-UTF-8 escaped.
    pub fn display(&self) -> String {
        match &self.path {
            Some(p) => p.clone(),
            None => self
                .to_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
        }
    }
}

/// The text of a path for messages.
pub fn display(path: &[u8]) -> String {
    OsStr::from_bytes(path).to_string_lossy().into_owned()
}

/// What happened when a member was collected.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum MemberStatus {
    /// Captured completely and unchanged while read.
    Ok,
    /// The file grew while read; the first `size` bytes are archived.
    Grew,
    /// The file shrank while read; missing bytes are zero-filled to `size`.
    Shrank,
    /// Size unchanged but modification or change time moved while read.
    Changed,
    /// The entry disappeared between the walk and the read.
    Vanished,
    /// The entry could not be opened or read (reason in `detail`); metadata only.
    Unreadable,
    /// A read failed part-way; the rest is zero-filled to `size`.
    ReadError,
    /// The collection was stopped (by a signal) while this file was read;
    /// the rest is zero-filled to `size`.
    Interrupted,
    /// A socket: recorded as an empty regular file, never opened.
    Socket,
    /// A directory on another filesystem: recorded, not descended into.
    OtherFilesystem,
    /// A custody member (header, checkpoint, signature, manifest).
    Custody,
}

impl MemberStatus {
    /// The name used in documents and reports.
    pub fn name(self) -> &'static str {
        match self {
            MemberStatus::Ok => "ok",
            MemberStatus::Grew => "grew",
            MemberStatus::Shrank => "shrank",
            MemberStatus::Changed => "changed",
            MemberStatus::Vanished => "vanished",
            MemberStatus::Unreadable => "unreadable",
            MemberStatus::ReadError => "read-error",
            MemberStatus::Interrupted => "interrupted",
            MemberStatus::Socket => "socket",
            MemberStatus::OtherFilesystem => "other-filesystem",
            MemberStatus::Custody => "custody",
        }
    }

    /// Whether this status records a failure to capture something.
    pub fn is_failure(self) -> bool {
        !matches!(
            self,
            MemberStatus::Ok | MemberStatus::Custody | MemberStatus::OtherFilesystem | MemberStatus::Socket
        )
    }
}

/// One member as listed in a checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberEntry {
    /// Offset of the member's first header byte in the tar stream.
    pub offset: u64,
    /// The member's path.
    #[serde(flatten)]
    pub path: PathText,
    /// Member type name (see [`EntryKind::name`]).
    #[serde(rename = "type")]
    pub kind: String,
    /// Content length.
    pub size: u64,
    /// [`header_digest`] of the header bytes (pax header block(s) and
    /// ustar block).
    pub header_digest: HexDigest,
    /// SHA-256 of the logical content (absent for kinds without content).
    /// In a signed listing it is absent for the members whose digest is on
    /// their line of the segment's manifest ([`digest_in_manifest`]); the
    /// verifier fills it in from there.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<HexDigest>,
    /// Collection status.
    pub status: MemberStatus,
    /// Human-readable detail: why for failures, a note otherwise (e.g. a
    /// pseudo-file that reported size 0 but had content).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    /// Inode facts tar has no standard word for (evidence members only).
    #[serde(flatten, skip_serializing_if = "Option::is_none", default)]
    pub inode: Option<InodeFacts>,
}

/// Facts about the source inode kept in the signed listing rather than in
/// vendor pax records (GNU tar warns on every unknown pax keyword).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InodeFacts {
    /// Device number of the filesystem.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Hard link count.
    pub nlink: u64,
    /// Birth time in pax decimal form, when the kernel reports it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub btime: Option<String>,
}

/// An entry the walk met but did not archive as a member, and why.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SkippedEntry {
    /// Path as it would have appeared in the archive.
    #[serde(flatten)]
    pub path: PathText,
    /// Why it was not archived.
    pub reason: String,
}

/// Byte range `[start, end)` of the tar stream.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// Running totals since the start of the archive, up to this checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Totals {
    /// Members in the tar stream before this checkpoint (custody members included).
    pub members: u64,
    /// Evidence members (custody members excluded).
    pub evidence_members: u64,
    /// Content bytes of evidence members.
    pub content_bytes: u64,
    /// Evidence members whose status is a failure.
    pub failures: u64,
    /// Entries skipped without a member.
    pub skipped: u64,
}

/// The final summary carried by the last checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Seal {
    /// End of the collection (RFC 3339).
    pub end_time: String,
    /// Evidence members by status name.
    pub statuses: std::collections::BTreeMap<String, u64>,
    /// Files opened without `O_NOATIME` (the kernel refused it).
    pub opened_without_noatime: u64,
    /// Why the collection ended: `completed` or `interrupted`.
    pub reason: String,
}

/// A signed checkpoint: everything since the previous one.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CheckpointDoc {
    /// Always [`FORMAT_ID`].
    pub format: String,
    /// Always [`CHECKPOINT_TYPE`].
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The archive id from the header document.
    pub archive_id: String,
    /// 1 for the first checkpoint, then +1 each.
    pub seq: u64,
    /// The chain value before this checkpoint (see [`chain_value`]).
    pub prev_chain: HexDigest,
    /// The tar bytes this checkpoint covers.
    pub range: ByteRange,
    /// BLAKE3 of exactly those bytes (what `b3sum` prints).
    pub segment_blake3: HexDigest,
    /// Every member whose header starts in the range, in stream order.
    pub members: Vec<MemberEntry>,
    /// Entries met by the walk and not archived, since the previous checkpoint.
    pub skipped: Vec<SkippedEntry>,
    /// Time the checkpoint was written (RFC 3339).
    pub time: String,
    /// Running totals.
    pub totals: Totals,
    /// Present on the last checkpoint only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seal: Option<Seal>,
    /// Why the collector stopped after this checkpoint without a seal (for
    /// example "interrupted by SIGTERM"); present on that checkpoint only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stopped: Option<String>,
}

/// Hex digits of a member's header digest: the first 64 bits of the
/// SHA-256 of its header bytes. It only says *which* member's metadata
/// changed; the segment's BLAKE3, which covers every header byte, is what
/// detects the change, so 64 bits are enough and save 24 bytes a member.
pub const HEADER_DIGEST_HEX: usize = 16;

/// The header digest of a member's header bytes (see [`HEADER_DIGEST_HEX`]).
pub fn header_digest(header_bytes: &[u8]) -> HexDigest {
    hex::encode(&Sha256::digest(header_bytes)[..HEADER_DIGEST_HEX / 2])
}

/// Whether a listed member's content SHA-256 is written on its line of the
/// segment's `sha256sum` manifest instead of in the listing: every regular
/// file (type `file`) that is not a custody member, in listing order. The
/// digest is then stored once, where `sha256sum -c` reads it.
pub fn digest_in_manifest(e: &MemberEntry) -> bool {
    e.kind == "file" && e.status != MemberStatus::Custody
}

/// The chain value after a document: SHA-256 of its exact bytes. The value
/// before checkpoint 1 is the chain value of the header document.
pub fn chain_value(document_bytes: &[u8]) -> HexDigest {
    hex::encode(Sha256::digest(document_bytes))
}

/// Path of checkpoint `seq`.
pub fn checkpoint_path(seq: u64) -> String {
    format!("{CUSTODY_DIR}checkpoint-{seq:06}.json")
}

/// Path of the `sha256sum` manifest of checkpoint `seq`.
pub fn manifest_path(seq: u64) -> String {
    format!("{CUSTODY_DIR}checkpoint-{seq:06}.sha256")
}

/// Path of the signature of checkpoint `seq`.
pub fn signature_path(seq: u64) -> String {
    format!("{}.sig", checkpoint_path(seq))
}

/// Parse a manifest path back into its sequence number (only the spelling
/// [`manifest_path`] writes counts).
pub fn parse_manifest_path(path: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(path).ok()?;
    let num = s.strip_prefix(CUSTODY_DIR)?.strip_prefix("checkpoint-")?.strip_suffix(".sha256")?;
    let seq: u64 = num.parse().ok()?;
    (manifest_path(seq) == s).then_some(seq)
}

/// Parse a `sha256sum` manifest as [`manifest_line`] writes it: each line's
/// digest and path bytes, in order. `None` if any line is not in that form.
pub fn parse_manifest(bytes: &[u8]) -> Option<Vec<(HexDigest, Vec<u8>)>> {
    let body = bytes.strip_suffix(b"\n")?;
    let mut lines = Vec::new();
    for line in body.split(|&b| b == b'\n') {
        let (escaped, line) = match line.strip_prefix(b"\\") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        if line.len() < 66 || &line[64..66] != b"  " {
            return None;
        }
        let digest = &line[..64];
        if !digest.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let raw = &line[66..];
        let path = if escaped {
            let mut path = Vec::with_capacity(raw.len());
            let mut it = raw.iter();
            while let Some(&b) = it.next() {
                if b != b'\\' {
                    path.push(b);
                    continue;
                }
                match it.next() {
                    Some(b'n') => path.push(b'\n'),
                    Some(b'r') => path.push(b'\r'),
                    Some(b'\\') => path.push(b'\\'),
                    _ => return None,
                }
            }
            path
        } else {
            raw.to_vec()
        };
        lines.push((String::from_utf8(digest.to_vec()).ok()?, path));
    }
    Some(lines)
}

/// Parse a checkpoint path back into its sequence number.
pub fn parse_checkpoint_path(path: &[u8]) -> Option<(u64, bool)> {
    let s = std::str::from_utf8(path).ok()?;
    let rest = s.strip_prefix(CUSTODY_DIR)?.strip_prefix("checkpoint-")?;
    let (num, is_sig) = if let Some(n) = rest.strip_suffix(".json.sig") {
        (n, true)
    } else {
        (rest.strip_suffix(".json")?, false)
    };
    let seq: u64 = num.parse().ok()?;
    let canonical = if is_sig { signature_path(seq) } else { checkpoint_path(seq) };
    (canonical == s).then_some((seq, is_sig))
}

/// The exact header written for a custody member: every field fixed except
/// path, size and the whole-second time taken from the signed document.
pub fn custody_member_header(path: &str, size: u64, secs: i64) -> MemberHeader {
    let mut h = MemberHeader::new(path.as_bytes().to_vec(), EntryKind::File, size, Timestamp { secs, nanos: 0 });
    h.mode = 0o444;
    h
}

/// Whole seconds of an RFC 3339 time written by [`now_rfc3339`](crate::collect::now_rfc3339).
pub fn rfc3339_secs(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Serialise a document the way custody writes it: compact JSON plus `\n`.
pub fn to_document_bytes<T: Serialize>(doc: &T) -> Vec<u8> {
    let mut v = serde_json::to_vec(doc).expect("documents always serialise");
    v.push(b'\n');
    v
}

/// Check the fixed fields shared by all documents.
pub fn check_format(format: &str) -> bool {
    format == FORMAT_ID
}

/// One line of a `sha256sum`-format manifest for `path`, using GNU
/// coreutils' escaping for names that hold a newline or a backslash.
pub fn manifest_line(sha256_hex: &str, path: &[u8]) -> Vec<u8> {
    let needs_escape = path.iter().any(|&b| b == b'\n' || b == b'\\' || b == b'\r');
    let mut line = Vec::with_capacity(path.len() + 70);
    if needs_escape {
        line.push(b'\\');
    }
    line.extend_from_slice(sha256_hex.as_bytes());
    line.extend_from_slice(b"  ");
    for &b in path {
        match b {
            b'\n' if needs_escape => line.extend_from_slice(b"\\n"),
            b'\r' if needs_escape => line.extend_from_slice(b"\\r"),
            b'\\' if needs_escape => line.extend_from_slice(b"\\\\"),
            _ => line.push(b),
        }
    }
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lines_parse_back_to_their_digests_and_paths() {
        let digest = "ab".repeat(32);
        let paths: [&[u8]; 5] = [b"etc/passwd", b"a\nb", b"back\\slash", b"cr\r", b"\xff\xfe raw"];
        let manifest: Vec<u8> = paths.iter().flat_map(|p| manifest_line(&digest, p)).collect();
        let lines = parse_manifest(&manifest).expect("custody's own manifest parses");
        assert_eq!(lines.len(), paths.len());
        for ((d, p), want) in lines.iter().zip(paths) {
            assert_eq!((d.as_str(), p.as_slice()), (digest.as_str(), want));
        }
    }

    #[test]
    fn manifests_in_another_form_are_refused() {
        let d = "ab".repeat(32);
        for bad in [
            format!("{d}  no-newline"),
            format!("{d} one-space\n"),
            format!("{}  upper\n", d.to_uppercase()),
            format!("\\{d}  bad\\tescape\n"),
            format!("{}  short\n", &d[..62]),
        ] {
            assert!(parse_manifest(bad.as_bytes()).is_none(), "{bad:?}");
        }
        assert_eq!(parse_manifest(b""), None, "an empty manifest is never written");
    }

    #[test]
    fn manifest_paths_are_spelt_one_way() {
        assert_eq!(parse_manifest_path(b".custody/checkpoint-000042.sha256"), Some(42));
        assert_eq!(parse_manifest_path(b".custody/checkpoint-42.sha256"), None);
        assert_eq!(parse_manifest_path(b".custody/checkpoint-000042.json"), None);
    }

    #[test]
    fn header_digests_are_the_first_64_bits_of_sha256() {
        let full = hex::encode(Sha256::digest(b"header"));
        assert_eq!(header_digest(b"header"), full[..HEADER_DIGEST_HEX]);
    }
}
