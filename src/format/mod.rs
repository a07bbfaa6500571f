//! The archive format, version 1: pure functions and types over bytes.
//! No I/O happens here; docs/FORMAT.md is the normative description.

pub mod digest;
pub mod doc;
pub mod part;
pub mod sparse;
pub mod tar;
pub mod timestamp;

/// Format identifier carried by every custody document.
pub const FORMAT_ID: &str = "custody/1";
/// Directory inside the archive that holds custody's own members.
pub const CUSTODY_DIR: &str = ".custody/";
/// Where the collector's statements about the live host go (the profile it
/// followed, live-response documents, command runs): custody members, an
/// addition to version 1 (docs/FORMAT.md §17).
pub const LIVE_DIR: &str = ".custody/live/";
/// SSHSIG namespace of checkpoint signatures (`ssh-keygen -Y verify -n`).
pub const SIGNATURE_NAMESPACE: &str = "custody-checkpoint-v1@custody";
/// Upper bound on a custody document a verifier will read into memory.
pub const MAX_DOCUMENT_LEN: u64 = 64 * 1024 * 1024;
/// Upper bound on a pax extended header a verifier will read into memory.
pub const MAX_PAX_LEN: u64 = 16 * 1024 * 1024;
/// Upper bound on the records of one pax extended header (a member has a
/// few dozen; extended attributes add one each), so that a header of tiny
/// records cannot multiply its size in memory.
pub const MAX_PAX_RECORDS: usize = 65_536;
/// Largest `--checkpoint-members` accepted, which bounds a checkpoint's size.
pub const MAX_CHECKPOINT_MEMBERS: u64 = 100_000;
/// A frame never holds more tar bytes than this: inside a large member it is
/// cut before, at a tar offset of [`CUT_PHASE`] modulo 512.
pub const FRAME_LIMIT: usize = 4 * 1024 * 1024;
/// Where, within a 512-byte tar block, a frame cut inside a member falls. A
/// frame that starts inside a member therefore never starts where a block
/// of a file's content does: a tar file among the evidence cannot pass for
/// archive members when a verifier resynchronises there after damage.
pub const CUT_PHASE: u64 = 256;
