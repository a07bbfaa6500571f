//! `collect --split SIZE`: the part files `ARCHIVE.part-0001`, ... and what
//! collect writes beside them (docs/FORMAT.md §18); `verify PART...`: the
//! parts given, read one after the other as one archive.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};

use custody::collect::{PartFiles, PartRecord, PartWriter};
use custody::format::part;
use custody::verify::{Finding, FindingKind, PartFile};

/// The path of part `n` of `archive`.
pub(crate) fn part_path(archive: &Path, n: u64) -> PathBuf {
    let name = archive.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    archive.with_file_name(part::part_file_name(&name, n))
}

/// Create part 1 of `archive` and the way to open the next ones. Returns
/// the parts, their writer, and part 1's device and inode (never collected).
pub(crate) fn open_parts(archive: &Path, size: u64) -> anyhow::Result<(PartFiles, PartWriter, (u64, u64))> {
    let first = super::create_new(&part_path(archive, 1), "part")?;
    use std::os::unix::fs::MetadataExt;
    let m = first.metadata()?;
    let archive = archive.to_path_buf();
    let open: custody::collect::OpenPart = Box::new(move |n| {
        let path = part_path(&archive, n);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot create the part {}: {e}", path.display())))?;
        Ok(Box::new(io::BufWriter::with_capacity(1 << 20, f)) as Box<dyn Write + Send>)
    });
    let (parts, writer) = PartFiles::new(size, Box::new(io::BufWriter::with_capacity(1 << 20, first)), open);
    Ok((parts, writer, (m.dev(), m.ino())))
}

/// `ARCHIVE.sha256` of a split archive: one `sha256sum` line per part, so
/// that `sha256sum -c ARCHIVE.sha256` checks them all.
pub(crate) fn write_sidecar(sidecar: &Path, archive: &Path, parts: &[PartRecord]) -> anyhow::Result<()> {
    let mut text = String::new();
    for p in parts {
        let path = part_path(archive, p.part);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        text.push_str(&format!("{}  {name}\n", p.sha256));
    }
    std::fs::write(sidecar, text).with_context(|| {
        format!(
            "the archive is complete, but its checksum file {} could not be written",
            sidecar.display()
        )
    })
}

/// The summary line naming the parts.
pub(crate) fn parts_line(archive: &Path, parts: &[PartRecord]) -> String {
    let first = part_path(archive, 1);
    let last = part_path(archive, parts.len() as u64);
    let largest = parts.iter().map(|p| p.bytes).max().unwrap_or(0);
    format!(
        "{} parts, {} .. {} (largest {})",
        parts.len(),
        first.display(),
        last.display(),
        custody::units::human_bytes(largest)
    )
}

/// Inputs of `verify` that are parts of a split archive: several files, or
/// one named as a part.
pub(crate) struct Set {
    /// The archive they belong to by their names (else the first input):
    /// its checksum file and custody log are found beside it.
    pub(crate) archive: PathBuf,
    /// More than one part was given (a single part cannot match the custody
    /// log, which names the whole archive).
    pub(crate) whole: bool,
}

impl Set {
    pub(crate) fn of(inputs: &[PathBuf]) -> Option<Set> {
        let named = |p: &PathBuf| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(part::parse_part_file_name)
                .is_some()
        };
        if inputs.len() == 1 && !named(&inputs[0]) {
            return None;
        }
        Some(Set {
            archive: archive_of(inputs).unwrap_or_else(|| inputs[0].clone()),
            whole: inputs.len() > 1,
        })
    }

    /// Each part read against its line in `ARCHIVE.sha256`, when there is
    /// one: a part whose SHA-256 differs gives `archive-digest-mismatch`.
    pub(crate) fn check_sums(&self, digests: &Digests) -> anyhow::Result<Vec<Finding>> {
        let sidecar = crate::sidecar_path(&self.archive);
        let Some(sums) = read_part_sums(&sidecar)? else {
            return Ok(Vec::new());
        };
        let mut findings = Vec::new();
        for (path, sha256) in digests.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let Some((_, expected)) = sums.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            if expected != sha256 {
                findings.push(Finding {
                    level: FindingKind::ArchiveDigestMismatch.level(),
                    kind: FindingKind::ArchiveDigestMismatch,
                    message: format!(
                        "the part {} has SHA-256 {sha256}, but {} gives {expected}: it is not the file the collector wrote",
                        path.display(),
                        sidecar.display()
                    ),
                    member: None,
                    offset: None,
                    checkpoint: None,
                    line: None,
                    part: part::parse_part_file_name(&name).map(|(_, n)| n),
                });
            }
        }
        Ok(findings)
    }
}

/// The SHA-256 of each part read, in the order read.
pub(crate) type Digests = std::sync::Arc<std::sync::Mutex<Vec<(PathBuf, String)>>>;

/// The archive a set of part files belongs to by their names
/// (`case.tar.zst` for `case.tar.zst.part-0001` ...), when they all name
/// the same one: its checksum file and custody log are found beside it.
pub(crate) fn archive_of(parts: &[PathBuf]) -> Option<PathBuf> {
    let mut archive: Option<PathBuf> = None;
    for p in parts {
        let name = p.file_name()?.to_str()?;
        let (base, _) = part::parse_part_file_name(name)?;
        let a = p.with_file_name(base);
        match &archive {
            Some(x) if *x != a => return None,
            _ => archive = Some(a),
        }
    }
    archive
}

/// The expected SHA-256 of each part, by file name, from a split archive's
/// `ARCHIVE.sha256` (one `sha256sum` line per part).
pub(crate) fn read_part_sums(sidecar: &Path) -> anyhow::Result<Option<Vec<(String, String)>>> {
    let text = match std::fs::read_to_string(sidecar) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow!(e).context(format!("cannot read the checksum file {}", sidecar.display()))),
    };
    let mut sums = Vec::new();
    for line in text.lines() {
        let (hex, name) = line
            .split_once("  ")
            .or_else(|| line.split_once(" *"))
            .filter(|(h, _)| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                anyhow!(
                    "the checksum file {} is not in the form sha256sum writes (line {line:?}); restore it or remove it",
                    sidecar.display()
                )
            })?;
        sums.push((name.to_string(), hex.to_ascii_lowercase()));
    }
    Ok(Some(sums))
}

/// The parts given, read one after the other as one stream, each hashed on
/// its own as it is read.
pub(crate) struct Concatenated {
    files: std::vec::IntoIter<(PathBuf, std::fs::File)>,
    current: Option<(PathBuf, std::fs::File, sha2::Sha256)>,
    digests: Digests,
}

impl Concatenated {
    /// Open every part now, so that a missing file is an error before
    /// anything is read. Returns where each begins in the stream, and the
    /// digests of the parts, which appear as they are read.
    pub(crate) fn open(parts: &[PathBuf]) -> anyhow::Result<(Concatenated, Vec<PartFile>, Digests)> {
        let mut files = Vec::new();
        let mut starts = Vec::new();
        let mut at = 0;
        for p in parts {
            let f = std::fs::File::open(p).with_context(|| format!("cannot open the part {}; check the path", p.display()))?;
            starts.push(PartFile {
                name: p.display().to_string(),
                start: at,
            });
            at += f
                .metadata()
                .with_context(|| format!("cannot examine the part {}", p.display()))?
                .len();
            files.push((p.clone(), f));
        }
        let digests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let c = Concatenated {
            files: files.into_iter(),
            current: None,
            digests: std::sync::Arc::clone(&digests),
        };
        Ok((c, starts, digests))
    }
}

impl Read for Concatenated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use sha2::Digest;
        loop {
            if self.current.is_none() {
                match self.files.next() {
                    Some((p, f)) => self.current = Some((p, f, sha2::Sha256::new())),
                    None => return Ok(0),
                }
            }
            let (_, f, sha) = self.current.as_mut().expect("a part is open");
            let n = f.read(buf)?;
            if n > 0 {
                sha.update(&buf[..n]);
                return Ok(n);
            }
            let (p, _, sha) = self.current.take().expect("a part is open");
            self.digests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((p, hex::encode(sha.finalize())));
        }
    }
}
