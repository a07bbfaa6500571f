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

/// What extraction did.
#[derive(Debug, Default)]
pub struct ExtractSummary {
    /// Members written.
    pub extracted: u64,
    /// Members extracted only because `salvage` was asked for.
    pub salvaged: u64,
    /// Members not written.
    pub skipped: u64,
    /// Which, and why: records in a file of the staging area, which keeps
    /// no name once the staging area is removed (memory does not grow with
    /// the number of members refused). Read with
    /// [`ExtractSummary::each_skipped`].
    skipped_list: Option<File>,
}

impl ExtractSummary {
    /// Each member not written, with the reason, in the order met.
    pub fn each_skipped(&self, mut f: impl FnMut(&[u8], &str) -> io::Result<()>) -> io::Result<()> {
        let Some(file) = &self.skipped_list else {
            return Ok(());
        };
        let mut r = BufReader::new(file);
        r.rewind()?;
        while read_tag(&mut r)?.is_some() {
            let (path, why) = (read_field(&mut r)?, read_field(&mut r)?);
            f(&path, &String::from_utf8_lossy(&why))?;
        }
        Ok(())
    }
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
        let (deferred, skipped) = (scratch("deferred")?, scratch("skipped")?);
        Ok(Extractor {
            root,
            staging,
            salvage,
            current: None,
            staged: BTreeMap::new(),
            deferred,
            skipped,
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
            while let Some(tag) = read_tag(&mut r)? {
                let (first, second, third) = (read_field(&mut r)?, read_field(&mut r)?, read_field(&mut r)?);
                if tag != pass {
                    continue;
                }
                if tag == DEFER_SYMLINK {
                    let target = PathBuf::from(std::ffi::OsString::from_vec(first));
                    match self.safe_parent(&target) {
                        Ok(()) if fs::symlink_metadata(&target).is_err() => {
                            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&second), &target)?
                        }
                        Ok(()) => self.skip(&third, "a member already exists at this path")?,
                        Err(why) => self.skip(&third, &why)?,
                    }
                } else {
                    let dir = PathBuf::from(std::ffi::OsString::from_vec(first));
                    let secs = i64::from_le_bytes(second.try_into().map_err(|_| bad_deferred())?);
                    let nanos = u32::from_le_bytes(third.try_into().map_err(|_| bad_deferred())?);
                    let _ = set_mtime(&dir, Timestamp { secs, nanos });
                }
            }
        }
        drop(file);
        self.summary.skipped_list = Some(self.skipped.into_inner().map_err(|e| e.into_error())?);
        fs::remove_dir_all(&self.staging)?;
        Ok(self.summary)
    }

    /// Record a member not written.
    fn skip(&mut self, path: &[u8], why: &str) -> io::Result<()> {
        write_record(&mut self.skipped, SKIPPED, &[path, why.as_bytes()])?;
        self.summary.skipped += 1;
        Ok(())
    }

    /// Keep a record for [`Extractor::finish`].
    fn defer(&mut self, tag: u8, fields: [&[u8]; 3]) -> Result<(), String> {
        write_record(&mut self.deferred, tag, &fields).map_err(|e| format!("cannot keep it for the end of the extraction: {e}"))
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
                let _ = fs::set_permissions(&target, fs::Permissions::from_mode((m.mode & 0o777) | 0o700));
                let (secs, nanos) = (m.mtime.secs.to_le_bytes(), m.mtime.nanos.to_le_bytes());
                self.defer(DEFER_DIR_TIME, [target.as_os_str().as_bytes(), &secs, &nanos])?;
            }
            EntryKind::File => {
                let staged = staged.ok_or("no staged content")?;
                if fs::symlink_metadata(&target).is_ok_and(|md| md.is_dir()) {
                    return Err("a directory is in the way".into());
                }
                fs::set_permissions(&staged, fs::Permissions::from_mode(m.mode & 0o777)).map_err(|e| e.to_string())?;
                fs::rename(&staged, &target).map_err(|e| e.to_string())?;
                let _ = set_mtime(&target, m.mtime);
            }
            EntryKind::Symlink => {
                let link = m.linkpath.clone().unwrap_or_default();
                self.defer(DEFER_SYMLINK, [target.as_os_str().as_bytes(), &link, &m.path])?;
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

/// A record of the staging area's own files: a tag, then fields, each
/// preceded by its length.
fn write_record(w: &mut impl Write, tag: u8, fields: &[&[u8]]) -> io::Result<()> {
    w.write_all(&[tag])?;
    for f in fields {
        w.write_all(&(f.len() as u64).to_le_bytes())?;
        w.write_all(f)?;
    }
    Ok(())
}

fn read_tag(r: &mut impl BufRead) -> io::Result<Option<u8>> {
    let mut tag = [0u8; 1];
    match r.read(&mut tag)? {
        0 => Ok(None),
        _ => Ok(Some(tag[0])),
    }
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
                Proof::MatchesListing => Err("its checkpoint did not verify (use --salvage to recover it unproven)".to_string()),
                Proof::Unproven => Err("no signed checkpoint covers it (use --salvage to recover it unproven)".to_string()),
                Proof::Altered(why) => Err(format!("failed verification: {why}")),
            };
            let result = accept.and_then(|salvaged| self.place(o, file.clone()).map(|()| salvaged));
            match result {
                Ok(salvaged) => {
                    self.summary.extracted += 1;
                    self.summary.salvaged += u64::from(salvaged);
                }
                Err(why) => self.skip(&o.meta.path, &why)?,
            }
            if let Some(f) = file {
                let _ = fs::remove_file(f);
            }
        }
        Ok(())
    }
}
