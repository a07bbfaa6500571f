//! What the verifier hands on as members stream by: each member's metadata
//! and content, then, at the end of its segment, whether a signed
//! checkpoint proves it. Extraction and listing are such sinks.

use std::io;

use crate::format::doc::MemberEntry;
use crate::format::tar::{EntryKind, Timestamp};

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
    /// Access time (pax `atime`), when recorded.
    pub atime: Option<Timestamp>,
    /// Status change time (pax `ctime`), when recorded.
    pub ctime: Option<Timestamp>,
    /// Owner name (pax `uname`, else ustar), when recorded.
    pub uname: Option<String>,
    /// Group name (pax `gname`, else ustar), when recorded.
    pub gname: Option<String>,
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
