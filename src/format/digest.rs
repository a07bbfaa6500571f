//! The digests of format 1, shared by the collector and the verifier: a
//! member's content digest is SHA-256 (the per-file hash of `sha256sum`),
//! a segment's digest is BLAKE3 over its exact tar bytes (what `b3sum`
//! recomputes), and the chain value is SHA-256 over a document's bytes.

use sha2::{Digest, Sha256};

/// Zeros to hash holes from.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// Hash `n` zero bytes (a hole of a sparse file) into a content digest.
pub fn sha256_zeros(sha: &mut Sha256, mut n: u64) {
    while n > 0 {
        let k = n.min(ZEROS.len() as u64) as usize;
        sha.update(&ZEROS[..k]);
        n -= k as u64;
    }
}

/// A finished segment digest as written in a checkpoint: lowercase hex.
pub fn segment_hex(segment: &blake3::Hasher) -> String {
    segment.finalize().to_hex().to_string()
}
