//! Split archives (docs/FORMAT.md §18, an addition to version 1): the part
//! document that begins every part but the first, its path, and the names
//! of the part files.
//!
//! Part k > 1 begins right after the signature of the checkpoint that ends
//! part k − 1. The bytes of that checkpoint's `.json` and `.json.sig`
//! belong to the segment that part k goes on with, so the part document
//! carries a copy of both: with it, part k alone rebuilds the start of its
//! first segment and proves every segment it holds.

use serde::{Deserialize, Serialize};

use super::doc::{self, HexDigest};
use super::tar::{self, BLOCK};
use super::{CUSTODY_DIR, FORMAT_ID};

/// `type` of a part document.
pub const PART_TYPE: &str = "part";
/// Suffix of a part file's name: `ARCHIVE.part-0001`, `ARCHIVE.part-0002`, ...
pub const PART_SUFFIX: &str = ".part-";
/// Digits of the part number in a part file's name (more when needed).
pub const PART_NAME_DIGITS: usize = 4;

/// What begins part `part` of a split archive (every part but the first).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PartDoc {
    /// `custody/1`.
    pub format: String,
    /// `part`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The archive's id, as in its header.
    pub archive_id: String,
    /// This part's number, from 2.
    pub part: u64,
    /// Tar offset of this document's first header byte: where the part begins.
    pub offset: u64,
    /// The checkpoint whose signature ends the part before: its `seq`.
    pub after: u64,
    /// Chain value after that checkpoint: SHA-256 of `checkpoint`.
    pub chain: HexDigest,
    /// The signer's OpenSSH public key line, as in the header.
    pub signer: String,
    /// A copy of that checkpoint's document, byte for byte.
    pub checkpoint: String,
    /// A copy of its signature member's content (the armored SSHSIG).
    pub signature: String,
}

/// Path of the part document of part `part`.
pub fn part_path(part: u64) -> String {
    format!("{CUSTODY_DIR}part-{part:06}.json")
}

/// Parse a part document's path back into its part number (only the
/// spelling [`part_path`] writes counts).
pub fn parse_part_path(path: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(path).ok()?;
    let num = s.strip_prefix(CUSTODY_DIR)?.strip_prefix("part-")?.strip_suffix(".json")?;
    let part: u64 = num.parse().ok()?;
    (part_path(part) == s).then_some(part)
}

/// The file name of part `part` of the archive named `archive`.
pub fn part_file_name(archive: &str, part: u64) -> String {
    format!("{archive}{PART_SUFFIX}{part:0width$}", width = PART_NAME_DIGITS)
}

/// The archive name and part number a part file's name gives
/// (`case.tar.zst.part-0002` gives `case.tar.zst` and 2), if it has that form.
pub fn parse_part_file_name(name: &str) -> Option<(&str, u64)> {
    let at = name.rfind(PART_SUFFIX)?;
    let digits = &name[at + PART_SUFFIX.len()..];
    if digits.len() < PART_NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((&name[..at], digits.parse().ok()?))
}

impl PartDoc {
    /// The part document for part `part`, which begins at tar offset
    /// `offset` right after checkpoint `after`'s document `checkpoint` and
    /// its signature `signature`.
    pub fn new(archive_id: &str, part: u64, offset: u64, after: u64, signer: &str, checkpoint: &[u8], signature: &[u8]) -> PartDoc {
        PartDoc {
            format: FORMAT_ID.into(),
            doc_type: PART_TYPE.into(),
            archive_id: archive_id.into(),
            part,
            offset,
            after,
            chain: doc::chain_value(checkpoint),
            signer: signer.into(),
            checkpoint: String::from_utf8_lossy(checkpoint).into_owned(),
            signature: String::from_utf8_lossy(signature).into_owned(),
        }
    }
}

/// The tar bytes of a custody member as custody writes it (§4.1): its
/// canonical header, its content and the zero padding.
pub fn custody_member_bytes(path: &str, content: &[u8], secs: i64) -> Vec<u8> {
    let mut bytes = doc::custody_member_header(path, content.len() as u64, secs).encode();
    bytes.extend_from_slice(content);
    bytes.resize(bytes.len() + tar::padding(content.len() as u64), 0);
    debug_assert_eq!(bytes.len() % BLOCK, 0);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_names_round_trip() {
        assert_eq!(part_path(2), ".custody/part-000002.json");
        assert_eq!(parse_part_path(b".custody/part-000002.json"), Some(2));
        assert_eq!(parse_part_path(b".custody/part-02.json"), None);
        assert_eq!(parse_part_path(b".custody/part-0000002.json"), None);
        assert_eq!(part_file_name("a.tar.zst", 3), "a.tar.zst.part-0003");
        assert_eq!(part_file_name("a", 12345), "a.part-12345");
        assert_eq!(parse_part_file_name("a.tar.zst.part-0003"), Some(("a.tar.zst", 3)));
        assert_eq!(parse_part_file_name("a.part-12345"), Some(("a", 12345)));
        assert_eq!(parse_part_file_name("a.part-003"), None);
        assert_eq!(parse_part_file_name("a.tar.zst"), None);
    }

    #[test]
    fn member_bytes_are_canonical_and_padded() {
        let b = custody_member_bytes(".custody/checkpoint-000001.json", b"{}\n", 7);
        let header = doc::custody_member_header(".custody/checkpoint-000001.json", 3, 7).encode();
        assert_eq!(&b[..header.len()], &header[..]);
        assert_eq!(&b[header.len()..header.len() + 3], b"{}\n");
        assert_eq!(b.len(), header.len() + BLOCK);
    }
}
