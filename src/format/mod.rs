//! The archive format, version 1: pure functions and types over bytes.
//! No I/O happens here; docs/FORMAT.md is the normative description.

pub mod digest;
pub mod doc;
pub mod sparse;
pub mod tar;

/// Format identifier carried by every custody document.
pub const FORMAT_ID: &str = "custody/1";
/// Directory inside the archive that holds custody's own members.
pub const CUSTODY_DIR: &str = ".custody/";
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
