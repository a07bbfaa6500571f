//! Members from source entries: the tar header from the entry's metadata,
//! what kind of member each file type becomes, and how a regular file is
//! opened (or why it could not be) before its content is written.

use std::io::{self, Write};

use rustix::fs::FileType;

use super::content::sparse_regions;
use super::readahead::ReadAhead;
use super::xattrs::{acl_text_of, read_xattrs, XattrList, XattrSource, ACL_ACCESS_XATTR, ACL_DEFAULT_XATTR};
use super::{CollectError, Collector};
use crate::format::doc::{InodeFacts, MemberStatus};
use crate::format::sparse;
use crate::format::tar::{EntryKind, MemberHeader, Timestamp};
use crate::source::{Meta, Opened, SourceEntry};

/// A member about to be written, with what is known about it so far.
pub(super) struct Member {
    pub(super) header: MemberHeader,
    pub(super) inode: Option<InodeFacts>,
    pub(super) status: MemberStatus,
    pub(super) detail: Option<String>,
    pub(super) evidence: bool,
}

impl Member {
    pub(super) fn fail(&mut self, status: MemberStatus, detail: String) {
        self.status = status;
        self.note(detail);
    }

    /// Add to the detail, keeping what was noted before.
    pub(super) fn note(&mut self, detail: String) {
        self.detail = Some(match self.detail.take() {
            Some(earlier) => format!("{detail}; {earlier}"),
            None => detail,
        });
    }
}

impl<W: Write + Send + 'static> Collector<'_, W> {
    /// The member for a source entry, from its metadata.
    pub(super) fn evidence_member(&self, e: &SourceEntry, m: &Meta, kind: EntryKind, size: u64, xattrs: XattrList) -> Member {
        let mut path = e.archive_path.clone();
        if kind == EntryKind::Directory && !path.ends_with(b"/") {
            path.push(b'/');
        }
        let mut h = MemberHeader::new(path, kind, size, m.mtime);
        h.mode = m.mode;
        h.uid = u64::from(m.uid);
        h.gid = u64::from(m.gid);
        h.uname = self.names.users.get(&m.uid).cloned();
        h.gname = self.names.groups.get(&m.gid).cloned();
        h.atime = Some(m.atime);
        h.ctime = Some(m.ctime);
        let mut detail = None;
        match xattrs {
            Ok(xattrs) => {
                h.acl_access = acl_text_of(&xattrs, ACL_ACCESS_XATTR);
                h.acl_default = acl_text_of(&xattrs, ACL_DEFAULT_XATTR);
                h.xattrs = xattrs;
            }
            Err(err) => detail = Some(format!("extended attributes could not be read: {err}")),
        }
        let inode = InodeFacts {
            dev: m.dev,
            ino: m.ino,
            nlink: m.nlink,
            btime: m.btime.map(Timestamp::to_pax),
        };
        Member {
            header: h,
            inode: Some(inode),
            status: MemberStatus::Ok,
            detail,
            evidence: true,
        }
    }

    pub(super) fn archive_entry(&mut self, e: &SourceEntry) -> Result<(), CollectError> {
        let ft = e.metadata.file_type;
        let kind = match ft {
            FileType::RegularFile => return self.archive_file(e, None),
            FileType::Directory => EntryKind::Directory,
            FileType::Symlink => EntryKind::Symlink,
            FileType::Fifo => EntryKind::Fifo,
            FileType::CharacterDevice => EntryKind::CharDevice,
            FileType::BlockDevice => EntryKind::BlockDevice,
            _ => EntryKind::File,
        };
        let mut m = self.evidence_member(e, &e.metadata, kind, 0, read_xattrs(XattrSource::Path(&e.xattr_path())));
        if ft == FileType::Socket {
            m.fail(MemberStatus::Socket, "socket: recorded as an empty file, never opened".into());
        } else if kind == EntryKind::File {
            m.fail(
                MemberStatus::Unreadable,
                "unknown file type: recorded as an empty file, never opened".into(),
            );
        }
        if e.other_filesystem {
            m.fail(
                MemberStatus::OtherFilesystem,
                "mount point of another filesystem: recorded, not descended into".into(),
            );
        }
        if kind == EntryKind::Symlink {
            match e.read_link() {
                Ok(t) => m.header.linkpath = Some(t),
                Err(err) => {
                    m.fail(MemberStatus::Vanished, format!("symlink target could not be read: {err}"));
                    m.header.linkpath = Some(Vec::new());
                }
            }
        }
        if matches!(kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            (m.header.devmajor, m.header.devminor) = e.metadata.rdev;
        }
        self.write_member(m, None)
    }

    /// A regular file; `ahead` is what the read-ahead thread already found
    /// and read for it, if it took it.
    pub(super) fn archive_file(&mut self, e: &SourceEntry, ahead: Option<ReadAhead>) -> Result<(), CollectError> {
        let md = &e.metadata;
        let by_path = |e: &SourceEntry| read_xattrs(XattrSource::Path(&e.xattr_path()));
        if md.nlink > 1 {
            if let Some(first) = self.hardlinks.get(&(md.dev, md.ino)).cloned() {
                let mut m = self.evidence_member(e, md, EntryKind::HardLink, 0, by_path(e));
                m.header.linkpath = Some(first);
                return self.write_member(m, None);
            }
            self.hardlinks.insert((md.dev, md.ino), e.archive_path.clone());
        }
        self.progress.reading(&e.fs_path, md.size);
        let (opened, ahead_xattrs, ahead_content) = match ahead {
            Some(a) => (a.opened, a.xattrs, a.content),
            None => (e.open_regular(), None, None),
        };
        let (file, now) = match opened {
            Ok(Opened::File { file, meta, noatime }) => {
                self.without_noatime += u64::from(!noatime);
                (file, meta)
            }
            Ok(Opened::NotRegular(meta)) => {
                let mut m = self.evidence_member(e, md, EntryKind::File, 0, by_path(e));
                let what = format!("{:?}", meta.file_type).to_lowercase();
                m.fail(
                    MemberStatus::Vanished,
                    format!("replaced by a {what} between the walk and the read; not opened"),
                );
                return self.write_member(m, None);
            }
            Err(err) => {
                let mut m = self.evidence_member(e, md, EntryKind::File, 0, by_path(e));
                let status = if err.kind() == io::ErrorKind::NotFound {
                    MemberStatus::Vanished
                } else {
                    MemberStatus::Unreadable
                };
                m.fail(status, format!("could not open: {err}"));
                return self.write_member(m, None);
            }
        };
        // Attributes, like the header's size, are those of the open file.
        let xattrs = ahead_xattrs.unwrap_or_else(|| read_xattrs(XattrSource::File(&file)));
        let replaced = (now.dev, now.ino) != (md.dev, md.ino);
        if now.size == 0 {
            let mut m = self.evidence_member(e, &now, EntryKind::File, 0, xattrs);
            if replaced {
                m.fail(MemberStatus::Changed, replaced_detail(md, &now));
            }
            return self.archive_small_file(m, file);
        }
        let mut m = self.evidence_member(e, &now, EntryKind::File, now.size, xattrs.clone());
        if replaced {
            m.fail(MemberStatus::Changed, replaced_detail(md, &now));
        }
        if let Some(read) = ahead_content {
            return self.write_read_ahead(m, read);
        }
        if let Some(regions) = sparse_regions(&file, &now) {
            if now.size > sparse::MAX_REAL_SIZE {
                let data: u64 = regions.iter().map(|r| r.len).sum();
                let mut m = self.evidence_member(e, &now, EntryKind::File, 0, xattrs);
                m.fail(
                    MemberStatus::Unreadable,
                    format!(
                        "sparse file of {} bytes ({data} bytes of data): larger than the {} bytes custody digests; recorded without content",
                        now.size,
                        sparse::MAX_REAL_SIZE
                    ),
                );
                return self.write_member(m, None);
            }
            m.header.sparse_real_size = Some(now.size);
            m.header.size = sparse::stored_size(&regions);
            return self.write_sparse(m, (file, now, e), &regions);
        }
        self.write_member(m, Some((file, now, e)))
    }
}

/// Detail for a file whose path led to another inode when it was opened.
fn replaced_detail(walked: &Meta, opened: &Meta) -> String {
    format!(
        "replaced (e.g. rotated) between the walk and the read: inode {} became {}; the file now at this path is archived",
        walked.ino, opened.ino
    )
}
