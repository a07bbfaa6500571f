//! Extraction that verifies as it goes: member content is staged inside the
//! target directory and only moved into place once the signed checkpoint
//! covering it has verified. Nothing is ever written outside the target, and
//! no symlink is followed: symlinks are created last, and every parent
//! directory is checked to be a real directory before anything is written.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use crate::format::tar::{EntryKind, Timestamp};
use crate::verify::{MemberMeta, MemberOutcome, MemberSink, Proof};

/// Name of the file, in the target directory, that lists the members whose
/// owner or special mode bits were not restored.
pub const NOT_RESTORED_FILE: &str = ".custody-extract-not-restored.txt";

/// What extraction did.
#[derive(Debug, Default)]
pub struct ExtractSummary {
    /// Members written.
    pub extracted: u64,
    /// Members extracted only because `salvage` was asked for.
    pub salvaged: u64,
    /// Members not written.
    pub skipped: u64,
    /// Of those, the members that match a signed listing but that no
    /// verified checkpoint of a trusted signer proves (proof
    /// `matches-listing`): with an untrusted signer, every member.
    pub skipped_matching: u64,
    /// Members written whose owner or setuid/setgid/sticky bits were not
    /// restored (owners are restored only when running as root).
    pub not_restored: u64,
    /// Where they are listed: [`NOT_RESTORED_FILE`] in the target, or
    /// `None` when that name was taken by a member (then read them with
    /// [`ExtractSummary::each_not_restored`]).
    pub not_restored_file: Option<PathBuf>,
    not_restored_list: Option<File>,
    /// Which, and why: records in a file of the staging area, which keeps
    /// no name once the staging area is removed (memory does not grow with
    /// the number of members refused). Read with
    /// [`ExtractSummary::each_skipped`].
    skipped_list: Option<File>,
}

impl ExtractSummary {
    /// Each member not written, with the reason and whether it matches a
    /// signed listing (see [`ExtractSummary::skipped_matching`]), in the
    /// order met.
    pub fn each_skipped(&self, f: impl FnMut(&[u8], &str, bool) -> io::Result<()>) -> io::Result<()> {
        each_record(self.skipped_list.as_ref(), f)
    }

    /// Each member whose owner or special mode bits were not restored, with
    /// what was not, when [`ExtractSummary::not_restored_file`] is `None`.
    pub fn each_not_restored(&self, mut f: impl FnMut(&[u8], &str) -> io::Result<()>) -> io::Result<()> {
        each_record(self.not_restored_list.as_ref(), |path, what, _| f(path, what))
    }
}

/// Read back the (path, text) records of a staging file.
fn each_record(file: Option<&File>, mut f: impl FnMut(&[u8], &str, bool) -> io::Result<()>) -> io::Result<()> {
    let Some(file) = file else {
        return Ok(());
    };
    let mut r = BufReader::new(file);
    r.rewind()?;
    while let Some((tag, fields)) = read_record(&mut r)? {
        let [path, text] = <[Vec<u8>; 2]>::try_from(fields).map_err(|_| bad_deferred())?;
        f(&path, &String::from_utf8_lossy(&text), tag == SKIPPED_MATCHING)?;
    }
    Ok(())
}

/// A line of the not-restored list: the path as `list` shows it, then what
/// was not restored.
fn not_restored_line(path: &[u8], what: &str) -> String {
    format!("{}\t{what}\n", crate::format::doc::display(path).escape_debug())
}

/// Extracts into a directory as a [`MemberSink`] of the verifier.
pub struct Extractor {
    root: PathBuf,
    staging: PathBuf,
    salvage: bool,
    current: Option<(PathBuf, File)>,
    /// Staged content of regular-file members not yet placed, by member index.
    staged: BTreeMap<u64, PathBuf>,
    /// Symlinks and directory times wait for the end, in a file of the
    /// staging area: memory does not grow with their number.
    deferred: BufWriter<File>,
    /// The members not written, with the reason (see [`ExtractSummary`]).
    skipped: BufWriter<File>,
    /// The members whose owner or special mode bits were not restored.
    not_restored: BufWriter<File>,
    /// Running as root: owners and all mode bits are restored, as GNU tar
    /// does for root.
    as_root: bool,
    /// The last parent directory checked (with its ancestors) to be a real
    /// directory, or made so. Nothing this extraction does can turn one into
    /// anything else: symlinks come last, and no file replaces a directory.
    /// Members come directory by directory, so one is enough.
    checked_parent: Option<PathBuf>,
    /// What happened so far.
    pub summary: ExtractSummary,
    counter: u64,
}

impl Extractor {
    /// Prepare to extract into `root`, which must not exist or be empty.
    pub fn new(root: &Path, salvage: bool) -> io::Result<Self> {
        match fs::read_dir(root) {
            Ok(mut it) => {
                if it.next().is_some() {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!(
                            "{} is not empty; extract into a new or empty directory so nothing is overwritten",
                            root.display()
                        ),
                    ));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(root)?,
            Err(e) => return Err(e),
        }
        let root = fs::canonicalize(root)?;
        let staging = root.join(format!(".custody-staging-{}", std::process::id()));
        fs::create_dir(&staging)?;
        let scratch = |name: &str| -> io::Result<BufWriter<File>> {
            let file = File::options().read(true).write(true).create_new(true).open(staging.join(name))?;
            Ok(BufWriter::new(file))
        };
        let (deferred, skipped, not_restored) = (scratch("deferred")?, scratch("skipped")?, scratch("not-restored")?);
        Ok(Extractor {
            root,
            staging,
            salvage,
            current: None,
            staged: BTreeMap::new(),
            deferred,
            skipped,
            not_restored,
            as_root: rustix::process::geteuid().is_root(),
            checked_parent: None,
            summary: ExtractSummary::default(),
            counter: 0,
        })
    }

    /// Create the deferred symlinks, then set directory times (setting a
    /// directory's times does not change its parent's), and remove the
    /// staging area.
    pub fn finish(mut self) -> io::Result<ExtractSummary> {
        // Symlinks' parents are checked anew.
        self.checked_parent = None;
        self.deferred.flush()?;
        let mut file = self.deferred.get_ref().try_clone()?;
        for pass in [DEFER_SYMLINK, DEFER_DIR_TIME] {
            file.rewind()?;
            let mut r = BufReader::new(&file);
            while let Some((tag, fields)) = read_record(&mut r)? {
                if tag != pass {
                    continue;
                }
                if tag == DEFER_SYMLINK {
                    let [target, link, path, mtime, owner] = <[Vec<u8>; 5]>::try_from(fields).map_err(|_| bad_deferred())?;
                    let target = PathBuf::from(std::ffi::OsString::from_vec(target));
                    match self.safe_parent(&target) {
                        Ok(()) if fs::symlink_metadata(&target).is_err() => {
                            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&link), &target)?;
                            let (uid, gid) = decode_owner(&owner)?;
                            self.restore(&path, &target, uid, gid, None)?;
                            // utimensat with AT_SYMLINK_NOFOLLOW: the link's own time.
                            let _ = set_mtime(&target, decode_time(&mtime)?);
                        }
                        Ok(()) => self.skip(&path, "a member already exists at this path", SKIPPED)?,
                        Err(why) => self.skip(&path, &why, SKIPPED)?,
                    }
                } else {
                    let [dir, mtime] = <[Vec<u8>; 2]>::try_from(fields).map_err(|_| bad_deferred())?;
                    let dir = PathBuf::from(std::ffi::OsString::from_vec(dir));
                    let _ = set_mtime(&dir, decode_time(&mtime)?);
                }
            }
        }
        drop(file);
        self.summary.skipped_list = Some(self.skipped.into_inner().map_err(|e| e.into_error())?);
        let list = self.not_restored.into_inner().map_err(|e| e.into_error())?;
        if self.summary.not_restored > 0 {
            let path = self.root.join(NOT_RESTORED_FILE);
            // Never over a member: a name taken leaves the list to be printed.
            match File::options().write(true).create_new(true).open(&path) {
                Ok(out) => {
                    let mut out = BufWriter::new(out);
                    each_record(Some(&list), |p, what, _| out.write_all(not_restored_line(p, what).as_bytes()))?;
                    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                    self.summary.not_restored_file = Some(path);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => self.summary.not_restored_list = Some(list),
                Err(e) => return Err(e),
            }
        }
        fs::remove_dir_all(&self.staging)?;
        Ok(self.summary)
    }

    /// Restore the owner and mode of `target`, which this extraction just
    /// made. As root, as GNU tar does: the owner first (`lchown`, which
    /// would clear setuid and setgid bits set before it), then every mode
    /// bit (`mode`: `None` for a symlink, whose mode Linux ignores).
    /// Otherwise the owner stays the extracting user's and special bits are
    /// dropped: each such member is recorded by `path`. Custody's own
    /// documents carry owner 0 by rule (docs/FORMAT.md §4.1) and are not
    /// recorded.
    fn restore(&mut self, path: &[u8], target: &Path, uid: u64, gid: u64, mode: Option<u32>) -> io::Result<()> {
        let mut lost = Vec::new();
        if self.as_root {
            match (u32::try_from(uid), u32::try_from(gid)) {
                (Ok(u), Ok(g)) => {
                    if let Err(e) = std::os::unix::fs::lchown(target, Some(u), Some(g)) {
                        lost.push(format!("owner {uid}:{gid} not restored ({e})"));
                    }
                }
                _ => lost.push(format!("owner {uid}:{gid} not restored (beyond 32 bits)")),
            }
            if let Some(mode) = mode {
                if let Err(e) = fs::set_permissions(target, fs::Permissions::from_mode(mode & 0o7777)) {
                    lost.push(format!("mode {:04o} not restored ({e})", mode & 0o7777));
                }
            }
        } else {
            use std::os::unix::fs::MetadataExt;
            let md = fs::symlink_metadata(target)?;
            let custody = path.starts_with(crate::format::CUSTODY_DIR.as_bytes());
            if !custody && (u64::from(md.uid()), u64::from(md.gid())) != (uid, gid) {
                lost.push(format!(
                    "owner {uid}:{gid} not restored (not run as root; owned by {}:{})",
                    md.uid(),
                    md.gid()
                ));
            }
            if let Some(special) = mode.map(|m| m & 0o7000).filter(|&b| b != 0) {
                let names: Vec<&str> = [(0o4000, "setuid"), (0o2000, "setgid"), (0o1000, "sticky")]
                    .iter()
                    .filter(|(bit, _)| special & bit != 0)
                    .map(|(_, name)| *name)
                    .collect();
                lost.push(format!("mode bits {special:04o} ({}) not set (not run as root)", names.join(", ")));
            }
        }
        if !lost.is_empty() {
            write_record(&mut self.not_restored, SKIPPED, &[path, lost.join("; ").as_bytes()])?;
            self.summary.not_restored += 1;
        }
        Ok(())
    }

    /// Record a member not written; `tag` [`SKIPPED_MATCHING`] for one
    /// that matches a signed listing but is not proven.
    fn skip(&mut self, path: &[u8], why: &str, tag: u8) -> io::Result<()> {
        write_record(&mut self.skipped, tag, &[path, why.as_bytes()])?;
        self.summary.skipped += 1;
        self.summary.skipped_matching += u64::from(tag == SKIPPED_MATCHING);
        Ok(())
    }

    /// Keep a record for [`Extractor::finish`].
    fn defer(&mut self, tag: u8, fields: &[&[u8]]) -> Result<(), String> {
        write_record(&mut self.deferred, tag, fields).map_err(|e| format!("cannot keep it for the end of the extraction: {e}"))
    }

    /// Map an archive path to a path under the root, or say why not.
    fn target(&self, raw: &[u8]) -> Result<PathBuf, String> {
        let p = Path::new(std::ffi::OsStr::from_bytes(raw));
        if raw.is_empty() || raw.contains(&0) {
            return Err("empty or NUL-containing path".into());
        }
        let mut out = self.root.clone();
        for c in p.components() {
            match c {
                Component::Normal(n) => out.push(n),
                Component::CurDir => {}
                Component::RootDir | Component::Prefix(_) => return Err("absolute path refused".into()),
                Component::ParentDir => return Err("path with `..` refused".into()),
            }
        }
        if out == self.root || out.starts_with(&self.staging) {
            return Err("path refers to the extraction root itself".into());
        }
        Ok(out)
    }

    /// Every existing ancestor of `target` below the root must be a real
    /// directory (not a symlink); missing ones are created.
    fn safe_parent(&mut self, target: &Path) -> Result<(), String> {
        let parent = target.parent().ok_or("no parent")?;
        if self.checked_parent.as_deref() == Some(parent) {
            return Ok(());
        }
        let rel = parent.strip_prefix(&self.root).map_err(|_| "outside the target")?;
        let mut cur = self.root.clone();
        for c in rel.components() {
            cur.push(c);
            if self.checked_parent.as_ref().is_some_and(|p| p.starts_with(&cur)) {
                continue;
            }
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(format!(
                        "{} is not a directory (a symlink or file is in the way); refused",
                        cur.display()
                    ))
                }
                Err(_) => fs::create_dir(&cur).map_err(|e| format!("cannot create {}: {e}", cur.display()))?,
            }
        }
        self.checked_parent = Some(parent.to_path_buf());
        Ok(())
    }

    fn place(&mut self, o: &MemberOutcome, staged: Option<PathBuf>) -> Result<(), String> {
        let m = &o.meta;
        let target = self.target(&m.path)?;
        self.safe_parent(&target)?;
        match m.kind {
            EntryKind::Directory => {
                match fs::symlink_metadata(&target) {
                    Ok(md) if md.is_dir() => {}
                    Ok(_) => return Err("a non-directory is in the way".into()),
                    Err(_) => fs::create_dir(&target).map_err(|e| e.to_string())?,
                }
                if !self.as_root {
                    // Kept writable by its owner, so that members can go in.
                    let _ = fs::set_permissions(&target, fs::Permissions::from_mode((m.mode & 0o777) | 0o700));
                }
                self.restore(&m.path, &target, m.uid, m.gid, Some(m.mode))
                    .map_err(|e| e.to_string())?;
                self.defer(DEFER_DIR_TIME, &[target.as_os_str().as_bytes(), &encode_time(m.mtime)])?;
            }
            EntryKind::File => {
                let staged = staged.ok_or("no staged content")?;
                if fs::symlink_metadata(&target).is_ok_and(|md| md.is_dir()) {
                    return Err("a directory is in the way".into());
                }
                fs::set_permissions(&staged, fs::Permissions::from_mode(m.mode & 0o777)).map_err(|e| e.to_string())?;
                // On the staged file, which is this extraction's own.
                self.restore(&m.path, &staged, m.uid, m.gid, Some(m.mode))
                    .map_err(|e| e.to_string())?;
                fs::rename(&staged, &target).map_err(|e| e.to_string())?;
                let _ = set_mtime(&target, m.mtime);
            }
            EntryKind::Symlink => {
                let link = m.linkpath.clone().unwrap_or_default();
                let owner = [m.uid.to_le_bytes(), m.gid.to_le_bytes()].concat();
                self.defer(
                    DEFER_SYMLINK,
                    &[target.as_os_str().as_bytes(), &link, &m.path, &encode_time(m.mtime), &owner],
                )?;
            }
            EntryKind::HardLink => {
                let link = m.linkpath.clone().unwrap_or_default();
                let source = self.target(&link)?;
                match fs::symlink_metadata(&source) {
                    Ok(md) if md.is_file() => fs::hard_link(&source, &target).map_err(|e| e.to_string())?,
                    _ => return Err("hard link to a member that was not extracted as a regular file".into()),
                }
            }
            other => return Err(format!("{} members are recorded, not recreated", other.name())),
        }
        Ok(())
    }
}

/// Tags of the records kept for the end of the extraction.
const DEFER_SYMLINK: u8 = b'L';
const DEFER_DIR_TIME: u8 = b'D';
const SKIPPED: u8 = b'S';
const SKIPPED_MATCHING: u8 = b'M';

/// A record of the staging area's own files: a tag, the number of fields,
/// then the fields, each preceded by its length.
fn write_record(w: &mut impl Write, tag: u8, fields: &[&[u8]]) -> io::Result<()> {
    w.write_all(&[tag, fields.len() as u8])?;
    for f in fields {
        w.write_all(&(f.len() as u64).to_le_bytes())?;
        w.write_all(f)?;
    }
    Ok(())
}

/// The next record: its tag and fields.
fn read_record(r: &mut impl BufRead) -> io::Result<Option<(u8, Vec<Vec<u8>>)>> {
    let mut head = [0u8; 2];
    match r.read(&mut head[..1])? {
        0 => return Ok(None),
        _ => r.read_exact(&mut head[1..])?,
    }
    let fields = (0..head[1]).map(|_| read_field(r)).collect::<io::Result<_>>()?;
    Ok(Some((head[0], fields)))
}

/// A time as 12 bytes: seconds, then nanoseconds.
fn encode_time(t: Timestamp) -> Vec<u8> {
    [&t.secs.to_le_bytes()[..], &t.nanos.to_le_bytes()].concat()
}

fn decode_time(b: &[u8]) -> io::Result<Timestamp> {
    let (secs, nanos) = (b.get(..8).ok_or_else(bad_deferred)?, b.get(8..12).ok_or_else(bad_deferred)?);
    Ok(Timestamp {
        secs: i64::from_le_bytes(secs.try_into().map_err(|_| bad_deferred())?),
        nanos: u32::from_le_bytes(nanos.try_into().map_err(|_| bad_deferred())?),
    })
}

/// An owner as 16 bytes: uid, then gid.
fn decode_owner(b: &[u8]) -> io::Result<(u64, u64)> {
    let (uid, gid) = (b.get(..8).ok_or_else(bad_deferred)?, b.get(8..16).ok_or_else(bad_deferred)?);
    Ok((
        u64::from_le_bytes(uid.try_into().map_err(|_| bad_deferred())?),
        u64::from_le_bytes(gid.try_into().map_err(|_| bad_deferred())?),
    ))
}

fn read_field(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 8];
    r.read_exact(&mut len)?;
    let mut field = vec![0u8; u64::from_le_bytes(len) as usize];
    r.read_exact(&mut field)?;
    Ok(field)
}

fn bad_deferred() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the extraction's own record of deferred work is damaged",
    )
}

/// Set a file's modification time by path, without following a symlink (one
/// call, where opening the file to set it took three).
fn set_mtime(path: &Path, t: Timestamp) -> io::Result<()> {
    let times = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: t.secs,
            tv_nsec: t.nanos.into(),
        },
    };
    rustix::fs::utimensat(rustix::fs::CWD, path, &times, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

impl MemberSink for Extractor {
    fn start(&mut self, meta: &MemberMeta) -> io::Result<()> {
        self.current = None;
        if meta.kind == EntryKind::File {
            self.counter += 1;
            let p = self.staging.join(self.counter.to_string());
            let f = File::create(&p)?;
            self.current = Some((p.clone(), f));
            self.staged.insert(meta.index, p);
        }
        Ok(())
    }

    fn data(&mut self, chunk: &[u8]) -> io::Result<()> {
        if let Some((_, f)) = self.current.as_mut() {
            f.write_all(chunk)?;
        }
        Ok(())
    }

    /// Holes stay holes: seek past them and extend the file to the new end.
    fn hole(&mut self, len: u64) -> io::Result<()> {
        if let Some((_, f)) = self.current.as_mut() {
            let end = f.stream_position()? + len;
            f.set_len(end)?;
            f.seek(io::SeekFrom::Start(end))?;
        }
        Ok(())
    }

    fn segment(&mut self, members: &[MemberOutcome]) -> io::Result<()> {
        self.current = None;
        // Content is matched to its member by the member's index, never by
        // position: a member cut short by damage is started but never
        // reported, and its staged bytes must not be given to another (they
        // go when the staging area is removed at the end).
        for o in members.iter() {
            let file = self.staged.remove(&o.meta.index);
            let accept = match &o.proof {
                Proof::Proven => Ok(false),
                Proof::MatchesListing | Proof::Unproven if self.salvage => Ok(true),
                Proof::MatchesListing => Err(
                    "it matches its signed listing, but no verified checkpoint of a trusted signer proves it (use --salvage to recover it unproven)"
                        .to_string(),
                ),
                Proof::Unproven => Err("no signed checkpoint covers it (use --salvage to recover it unproven)".to_string()),
                Proof::Altered(why) => Err(format!("failed verification: {why}")),
            };
            let result = accept.and_then(|salvaged| self.place(o, file.clone()).map(|()| salvaged));
            match result {
                Ok(salvaged) => {
                    self.summary.extracted += 1;
                    self.summary.salvaged += u64::from(salvaged);
                }
                // A member refused for where it would go is named whatever its proof.
                Err(why) if o.proof == Proof::MatchesListing && !self.salvage => self.skip(&o.meta.path, &why, SKIPPED_MATCHING)?,
                Err(why) => self.skip(&o.meta.path, &why, SKIPPED)?,
            }
            if let Some(f) = file {
                let _ = fs::remove_file(f);
            }
        }
        Ok(())
    }
}
