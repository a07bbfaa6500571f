//! Trusted time in the archive (docs/FORMAT.md §15, an addition of custody
//! 0.3): where RFC 3161 tokens over checkpoint signatures live. A token for
//! checkpoint N is a custody member of a later segment; the seal's token
//! follows the archive's last zstd frame in a skippable frame.

use super::CUSTODY_DIR;

/// Magic of the skippable frame that carries the seal's token, as it
/// appears in the stream (0x184D2A5C, little-endian): one of the sixteen
/// skippable-frame magics of RFC 8878 §3.1.2.
pub const SEAL_FRAME_MAGIC: [u8; 4] = [0x5C, 0x2A, 0x4D, 0x18];
/// The payload of a seal token frame begins with this tag, then the DER
/// TimeStampToken.
pub const SEAL_TOKEN_TAG: &[u8] = b"custody-timestamp/1 token\n";
/// The payload of a frame recording that the seal's token could not be
/// obtained begins with this tag, then the error as UTF-8 text.
pub const SEAL_FAILED_TAG: &[u8] = b"custody-timestamp/1 failed\n";
/// A verifier keeps skippable frames up to this payload size; larger ones
/// are skipped unread.
pub const MAX_SEAL_FRAME: usize = 1024 * 1024;

/// What a timestamp member holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampMember {
    /// `.tsr`: a DER TimeStampToken over checkpoint N's signature member.
    Token,
    /// `.failed`: why no token was obtained for checkpoint N (UTF-8 text).
    Failed,
}

/// Path of the token over checkpoint `seq`'s signature.
pub fn token_path(seq: u64) -> String {
    format!("{CUSTODY_DIR}timestamp-{seq:06}.tsr")
}

/// Path of the record that checkpoint `seq`'s token could not be obtained.
pub fn failed_path(seq: u64) -> String {
    format!("{CUSTODY_DIR}timestamp-{seq:06}.failed")
}

/// Parse a timestamp member's path (only the spelling [`token_path`] and
/// [`failed_path`] write counts).
pub fn parse_timestamp_path(path: &[u8]) -> Option<(u64, TimestampMember)> {
    let s = std::str::from_utf8(path).ok()?;
    let rest = s.strip_prefix(CUSTODY_DIR)?.strip_prefix("timestamp-")?;
    let (num, kind) = if let Some(n) = rest.strip_suffix(".tsr") {
        (n, TimestampMember::Token)
    } else {
        (rest.strip_suffix(".failed")?, TimestampMember::Failed)
    };
    let seq: u64 = num.parse().ok()?;
    let canonical = match kind {
        TimestampMember::Token => token_path(seq),
        TimestampMember::Failed => failed_path(seq),
    };
    (canonical == s).then_some((seq, kind))
}

/// A skippable frame holding `tag` then `body`.
pub fn seal_frame(tag: &[u8], body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(tag.len() + body.len()).expect("a token is far smaller than 4 GiB");
    let mut f = Vec::with_capacity(8 + len as usize);
    f.extend_from_slice(&SEAL_FRAME_MAGIC);
    f.extend_from_slice(&len.to_le_bytes());
    f.extend_from_slice(tag);
    f.extend_from_slice(body);
    f
}

/// What a skippable frame's payload says about the seal's token, if it is
/// one of custody's.
pub fn parse_seal_payload(payload: &[u8]) -> Option<(TimestampMember, &[u8])> {
    if let Some(der) = payload.strip_prefix(SEAL_TOKEN_TAG) {
        Some((TimestampMember::Token, der))
    } else {
        payload.strip_prefix(SEAL_FAILED_TAG).map(|t| (TimestampMember::Failed, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_canonical_spelling_is_a_timestamp_member() {
        assert_eq!(
            parse_timestamp_path(b".custody/timestamp-000007.tsr"),
            Some((7, TimestampMember::Token))
        );
        assert_eq!(
            parse_timestamp_path(b".custody/timestamp-1234567.failed"),
            Some((1234567, TimestampMember::Failed))
        );
        for other in [
            ".custody/timestamp-7.tsr",
            ".custody/timestamp-000007.tsq",
            "x/.custody/timestamp-000007.tsr",
        ] {
            assert_eq!(parse_timestamp_path(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn a_seal_frame_is_a_skippable_frame_with_its_length() {
        let f = seal_frame(SEAL_TOKEN_TAG, b"DER");
        assert_eq!(&f[..4], &SEAL_FRAME_MAGIC);
        assert_eq!(u32::from_le_bytes(f[4..8].try_into().unwrap()) as usize, f.len() - 8);
        assert_eq!(parse_seal_payload(&f[8..]), Some((TimestampMember::Token, &b"DER"[..])));
        assert_eq!(parse_seal_payload(b"something else"), None);
    }
}
