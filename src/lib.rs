//! custody: evidence-preservation imaging.
//!
//! [`collect`] walks sources and streams a hash-chained, signed pax tar inside
//! zstd frames; [`verify`] proves the chain of custody of such an archive and
//! reports every finding; [`custody_log`] records and checks who held it since; [`format`](mod@format) holds the pure byte-level format;
//! [`live`] snapshots a running host's volatile state from `/proc` and `/sys`.
//! The library never prints: progress and results flow through traits.

pub mod clues;
pub mod collect;
pub mod custody_log;
pub mod export;
pub mod extract;
pub mod format;
pub mod live;
pub mod profile;
pub mod report;
pub mod s3;
pub mod signer;
pub mod source;
pub mod tsa;
pub mod units;
pub mod verify;

// The damage-surviving zstd frame reader is the verifier's; it keeps its
// old path for the tools and tests that decode frames with it.
pub use verify::frames;
