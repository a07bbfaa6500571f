//! The read-ahead window: small regular files are opened and read on a
//! thread of their own, ahead of the walking thread, which then only writes
//! them, in walk order.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender};

use super::content::{after_full_read, short_read};
use super::xattrs::{read_xattrs, XattrList, XattrSource};
use crate::format::doc::MemberStatus;
use crate::source::{Meta, Opened, SourceEntry, WalkItem};

/// Regular files up to this size are opened and read by the read-ahead
/// thread, ahead of the walking thread, which then only writes them: on a
/// tree of small files the system calls per file, not the bytes, are the
/// work, and this spreads them over two cores.
const AHEAD_MAX_FILE: u64 = 64 * 1024;
/// Walk items the window holds at most...
pub(super) const AHEAD_ENTRIES: usize = 64;
/// ...and bytes of files read ahead.
pub(super) const AHEAD_BYTES: u64 = 4 * 1024 * 1024;

/// Walk items waiting to be archived, in walk order.
pub(super) struct Ahead {
    pub(super) jobs: SyncSender<SourceEntry>,
    pub(super) done: Receiver<(SourceEntry, ReadAhead)>,
    pub(super) window: VecDeque<Slot>,
    /// Sizes of the files read ahead in the window.
    pub(super) bytes: u64,
}

pub(super) enum Slot {
    /// Archived when its turn comes.
    Now(Box<WalkItem>),
    /// With the read-ahead thread: its next answer.
    ReadAhead,
}

/// Whether the read-ahead thread takes this entry: a small regular file
/// with no other links (the first path of a hard link is decided in walk
/// order) and no room for holes (sparse files are mapped when written).
pub(super) fn reads_ahead(md: &Meta) -> bool {
    md.is_file() && md.nlink == 1 && md.size > 0 && md.size <= AHEAD_MAX_FILE && md.blocks.saturating_mul(512) >= md.size
}

/// What the read-ahead thread found for a file.
pub(super) struct ReadAhead {
    pub(super) opened: io::Result<Opened>,
    /// Extended attributes of the open file.
    pub(super) xattrs: Option<XattrList>,
    /// Its content, when it was read whole here.
    pub(super) content: Option<ReadContent>,
}

pub(super) struct ReadContent {
    /// At most the size stated by the open file; fewer bytes if it shrank
    /// or a read failed (the rest is zero-filled when written).
    pub(super) data: Vec<u8>,
    /// What the read found, as for a file read by the walking thread.
    pub(super) outcome: Option<(MemberStatus, String)>,
}

/// Open and read a small file as [`Collector::archive_file`](super::Collector::archive_file) and
/// [`Collector::stream_content`](super::Collector::stream_content) would, without writing anything.
pub(super) fn read_ahead(e: &SourceEntry) -> ReadAhead {
    let opened = e.open_regular();
    let (xattrs, content) = match &opened {
        Ok(Opened::File { file, meta, .. }) => {
            let xattrs = read_xattrs(XattrSource::File(file));
            // Only what the walk saw as small and whole is read here: the
            // open file may say otherwise.
            let content = reads_ahead(meta).then(|| read_small(file, meta, e));
            (Some(xattrs), content)
        }
        _ => (None, None),
    };
    ReadAhead { opened, xattrs, content }
}

fn read_small(mut f: &File, meta: &Meta, entry: &SourceEntry) -> ReadContent {
    let size = meta.size;
    let mut data = vec![0u8; size as usize];
    let mut done = 0;
    let mut failure = None;
    while done < data.len() {
        match f.read(&mut data[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    data.truncate(done);
    let outcome = if (done as u64) < size {
        Some(short_read(done as u64, size, failure))
    } else {
        after_full_read(f, meta, entry)
    };
    ReadContent { data, outcome }
}
