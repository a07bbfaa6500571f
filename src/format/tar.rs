//! POSIX pax/ustar headers: building and parsing, over byte slices only.
//!
//! custody writes its own headers rather than using a general tar library so
//! that every byte of the stream is determined by rules written down in
//! docs/FORMAT.md: no GNU extensions, no symlink following, and a fixed order
//! of pax records.

use std::fmt::Write as _;

/// Size of a tar block; headers and content padding are multiples of it.
pub const BLOCK: usize = 512;
/// Size of the end-of-archive marker: two zero blocks.
pub const END_OF_ARCHIVE_LEN: usize = 2 * BLOCK;
/// `magic` + `version` of a POSIX ustar header.
pub const USTAR_MAGIC: &[u8; 8] = b"ustar\x0000";
/// Name written into the ustar header of every pax extended header block.
pub const PAX_HEADER_NAME: &[u8] = b"PaxHeader";
/// Largest value the 11-digit octal `size` and `mtime` fields hold.
pub const OCTAL11_MAX: u64 = 0o77777777777;
/// Largest value the 7-digit octal id fields hold.
pub const OCTAL7_MAX: u64 = 0o7777777;

/// Type of a tar member, as its ustar typeflag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// `0`: regular file with content.
    File,
    /// `1`: hard link to an earlier member (`linkpath`).
    HardLink,
    /// `2`: symbolic link (`linkpath` is the target, never followed).
    Symlink,
    /// `3`: character device.
    CharDevice,
    /// `4`: block device.
    BlockDevice,
    /// `5`: directory.
    Directory,
    /// `6`: FIFO.
    Fifo,
    /// `x`: pax extended header for the next member.
    PaxExtended,
    /// `g`: pax global header (custody never writes one).
    PaxGlobal,
    /// Any other typeflag.
    Other(u8),
}

impl EntryKind {
    /// The ustar typeflag byte.
    pub fn typeflag(self) -> u8 {
        match self {
            EntryKind::File => b'0',
            EntryKind::HardLink => b'1',
            EntryKind::Symlink => b'2',
            EntryKind::CharDevice => b'3',
            EntryKind::BlockDevice => b'4',
            EntryKind::Directory => b'5',
            EntryKind::Fifo => b'6',
            EntryKind::PaxExtended => b'x',
            EntryKind::PaxGlobal => b'g',
            EntryKind::Other(b) => b,
        }
    }

    /// The kind for a typeflag byte (`\0` is an old spelling of a regular file).
    pub fn from_typeflag(b: u8) -> Self {
        match b {
            b'0' | 0 | b'7' => EntryKind::File,
            b'1' => EntryKind::HardLink,
            b'2' => EntryKind::Symlink,
            b'3' => EntryKind::CharDevice,
            b'4' => EntryKind::BlockDevice,
            b'5' => EntryKind::Directory,
            b'6' => EntryKind::Fifo,
            b'x' => EntryKind::PaxExtended,
            b'g' => EntryKind::PaxGlobal,
            other => EntryKind::Other(other),
        }
    }

    /// Whether members of this kind carry content bytes after the header.
    pub fn has_content(self) -> bool {
        !matches!(
            self,
            EntryKind::HardLink
                | EntryKind::Symlink
                | EntryKind::CharDevice
                | EntryKind::BlockDevice
                | EntryKind::Directory
                | EntryKind::Fifo
        )
    }

    /// The name used for this kind in checkpoint documents and `--json` output.
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::HardLink => "hardlink",
            EntryKind::Symlink => "symlink",
            EntryKind::CharDevice => "char-device",
            EntryKind::BlockDevice => "block-device",
            EntryKind::Directory => "directory",
            EntryKind::Fifo => "fifo",
            EntryKind::PaxExtended => "pax-extended",
            EntryKind::PaxGlobal => "pax-global",
            EntryKind::Other(_) => "other",
        }
    }
}

/// A point in time with nanosecond precision; seconds may be negative.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    /// Whole seconds since the Unix epoch, rounded towards negative infinity.
    pub secs: i64,
    /// Nanoseconds added to `secs`, in `0..1_000_000_000`.
    pub nanos: u32,
}

impl Timestamp {
    /// The pax decimal spelling, always with nine fractional digits.
    pub fn to_pax(self) -> String {
        if self.secs >= 0 || self.nanos == 0 {
            format!("{}.{:09}", self.secs, self.nanos)
        } else {
            // secs + nanos/1e9 is negative with a magnitude below |secs|.
            let whole = -(self.secs + 1);
            format!("-{}.{:09}", whole, 1_000_000_000 - self.nanos)
        }
    }

    /// Parse a pax decimal time such as `1700000000.5` or `-1.25`.
    pub fn from_pax(s: &str) -> Option<Self> {
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: i64 = int.parse().ok()?;
        let mut nanos: u32 = 0;
        for (i, b) in frac.bytes().take(9).enumerate() {
            nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
        }
        if !neg {
            return Some(Timestamp { secs: whole, nanos });
        }
        if nanos == 0 {
            Some(Timestamp { secs: -whole, nanos: 0 })
        } else {
            Some(Timestamp {
                secs: -whole - 1,
                nanos: 1_000_000_000 - nanos,
            })
        }
    }
}

/// Everything custody writes about one member before its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberHeader {
    /// Path inside the archive: relative, `/`-separated, raw bytes.
    pub path: Vec<u8>,
    /// Member type.
    pub kind: EntryKind,
    /// Content length in bytes (0 for kinds without content).
    pub size: u64,
    /// Permission and special bits (`0o7777` mask).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Owner name, when the collecting host had one.
    pub uname: Option<Vec<u8>>,
    /// Group name, when the collecting host had one.
    pub gname: Option<Vec<u8>>,
    /// Modification time.
    pub mtime: Timestamp,
    /// Access time.
    pub atime: Option<Timestamp>,
    /// Status change time.
    pub ctime: Option<Timestamp>,
    /// Link target for symlinks and hard links.
    pub linkpath: Option<Vec<u8>>,
    /// Device major number for device nodes.
    pub devmajor: u32,
    /// Device minor number for device nodes.
    pub devminor: u32,
    /// Extended attributes, name to raw value, in the order to write.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// POSIX access ACL in the text form of `SCHILY.acl.access`.
    pub acl_access: Option<Vec<u8>>,
    /// POSIX default ACL (directories) in the text form of `SCHILY.acl.default`.
    pub acl_default: Option<Vec<u8>>,
    /// For a sparse file stored in the pax 1.0 sparse format: its logical
    /// size. `size` is then the stored size (map block plus data regions).
    pub sparse_real_size: Option<u64>,
}

impl MemberHeader {
    /// A header with every optional field empty.
    pub fn new(path: Vec<u8>, kind: EntryKind, size: u64, mtime: Timestamp) -> Self {
        MemberHeader {
            path,
            kind,
            size,
            mode: 0o644,
            uid: 0,
            gid: 0,
            uname: None,
            gname: None,
            mtime,
            atime: None,
            ctime: None,
            linkpath: None,
            devmajor: 0,
            devminor: 0,
            xattrs: Vec::new(),
            acl_access: None,
            acl_default: None,
            sparse_real_size: None,
        }
    }

    /// The pax records for this header, in the order they are written.
    ///
    /// An ASCII path always has a `path` record. A path with other bytes is
    /// left to the ustar `name`/`prefix` fields when it fits them (both GNU tar
    /// and bsdtar take those bytes as they are, in any locale); otherwise it
    /// gets a `path` record preceded by `hdrcharset=BINARY`. `linkpath`
    /// follows the same rule against the 100-byte `linkname` field. A sparse
    /// file's path is its `GNU.sparse.name` record instead of `path`.
    pub fn pax_records(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut r: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let path_record = self.sparse_real_size.is_some() || self.path.is_ascii() || ustar_split(&self.path).is_none();
        let link_record = self.linkpath.as_deref().is_some_and(|l| l.is_ascii() || l.len() > LINKNAME.1);
        let binary = (path_record && !self.path.is_ascii()) || (link_record && self.linkpath.as_deref().is_some_and(|l| !l.is_ascii()));
        if binary {
            r.push((b"hdrcharset".to_vec(), b"BINARY".to_vec()));
        }
        if let Some(real) = self.sparse_real_size {
            r.push((b"GNU.sparse.major".to_vec(), b"1".to_vec()));
            r.push((b"GNU.sparse.minor".to_vec(), b"0".to_vec()));
            r.push((b"GNU.sparse.name".to_vec(), self.path.clone()));
            r.push((b"GNU.sparse.realsize".to_vec(), real.to_string().into_bytes()));
        } else if path_record {
            r.push((b"path".to_vec(), self.path.clone()));
        }
        if link_record {
            r.push((b"linkpath".to_vec(), self.linkpath.clone().unwrap_or_default()));
        }
        r.push((b"size".to_vec(), self.size.to_string().into_bytes()));
        r.push((b"mtime".to_vec(), self.mtime.to_pax().into_bytes()));
        if let Some(t) = self.atime {
            r.push((b"atime".to_vec(), t.to_pax().into_bytes()));
        }
        if let Some(t) = self.ctime {
            r.push((b"ctime".to_vec(), t.to_pax().into_bytes()));
        }
        r.push((b"uid".to_vec(), self.uid.to_string().into_bytes()));
        r.push((b"gid".to_vec(), self.gid.to_string().into_bytes()));
        if let Some(u) = &self.uname {
            r.push((b"uname".to_vec(), u.clone()));
        }
        if let Some(g) = &self.gname {
            r.push((b"gname".to_vec(), g.clone()));
        }
        if let Some(a) = &self.acl_access {
            r.push((b"SCHILY.acl.access".to_vec(), a.clone()));
        }
        if let Some(a) = &self.acl_default {
            r.push((b"SCHILY.acl.default".to_vec(), a.clone()));
        }
        for (name, value) in &self.xattrs {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(name);
            r.push((key, value.clone()));
        }
        r
    }

    /// Serialise the pax extended header and the ustar header: a multiple of
    /// [`BLOCK`] bytes, to be followed by `size` content bytes and padding.
    pub fn encode(&self) -> Vec<u8> {
        let records = encode_pax_records(&self.pax_records());
        let mut out = Vec::with_capacity(3 * BLOCK + records.len());
        let pax = ustar_block(&UstarFields {
            name: PAX_HEADER_NAME,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: records.len() as u64,
            mtime: clamp_octal11(self.mtime.secs),
            typeflag: b'x',
            linkname: b"",
            uname: b"",
            gname: b"",
            devmajor: 0,
            devminor: 0,
        });
        out.extend_from_slice(&pax);
        out.extend_from_slice(&records);
        out.resize(out.len() + padding(records.len() as u64), 0);
        let sparse_name;
        let name = if self.sparse_real_size.is_some() {
            sparse_name = sparse_placeholder_name(&self.path);
            &sparse_name
        } else {
            &self.path
        };
        let main = ustar_block(&UstarFields {
            name,
            mode: self.mode & 0o7777,
            uid: if self.uid <= OCTAL7_MAX { self.uid } else { 0 },
            gid: if self.gid <= OCTAL7_MAX { self.gid } else { 0 },
            size: if self.size <= OCTAL11_MAX { self.size } else { 0 },
            mtime: clamp_octal11(self.mtime.secs),
            typeflag: self.kind.typeflag(),
            linkname: self.linkpath.as_deref().unwrap_or(b""),
            uname: self.uname.as_deref().unwrap_or(b""),
            gname: self.gname.as_deref().unwrap_or(b""),
            devmajor: self.devmajor,
            devminor: self.devminor,
        });
        out.extend_from_slice(&main);
        out
    }
}

fn clamp_octal11(secs: i64) -> u64 {
    if secs < 0 {
        0
    } else {
        (secs as u64).min(OCTAL11_MAX)
    }
}

/// Number of zero bytes that pad `len` content bytes to a whole block.
pub fn padding(len: u64) -> usize {
    ((BLOCK as u64 - len % BLOCK as u64) % BLOCK as u64) as usize
}

/// Encode pax records as `"<len> <key>=<value>\n"`, where `<len>` counts the
/// whole record including its own digits.
pub fn encode_pax_records(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let body = key.len() + value.len() + 3; // ' ', '=', '\n'
        let mut len = body + 1;
        while body + len.to_string().len() != len {
            len = body + len.to_string().len();
        }
        out.extend_from_slice(len.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(key);
        out.push(b'=');
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

/// One pax record: key and raw value.
pub type PaxRecord = (Vec<u8>, Vec<u8>);

/// Why a pax record block could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed pax record at byte {offset} of the extended header")]
pub struct PaxError {
    /// Byte offset of the bad record within the record block.
    pub offset: usize,
}

/// Parse a block of pax records (without the trailing padding).
pub fn parse_pax_records(data: &[u8]) -> Result<Vec<PaxRecord>, PaxError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let err = PaxError { offset: pos };
        if out.len() >= super::MAX_PAX_RECORDS {
            return Err(err);
        }
        let rest = &data[pos..];
        let space = rest.iter().take(20).position(|&b| b == b' ').ok_or(err.clone())?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or(err.clone())?;
        if len <= space + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(err);
        }
        let record = &rest[space + 1..len - 1];
        let eq = record.iter().position(|&b| b == b'=').ok_or(err.clone())?;
        out.push((record[..eq].to_vec(), record[eq + 1..].to_vec()));
        pos += len;
    }
    Ok(out)
}

struct UstarFields<'a> {
    name: &'a [u8],
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    typeflag: u8,
    linkname: &'a [u8],
    uname: &'a [u8],
    gname: &'a [u8],
    devmajor: u32,
    devminor: u32,
}

// Byte offsets of the ustar header fields (POSIX.1-2001, pax format).
const NAME: (usize, usize) = (0, 100);
const MODE: (usize, usize) = (100, 8);
const UID: (usize, usize) = (108, 8);
const GID: (usize, usize) = (116, 8);
const SIZE: (usize, usize) = (124, 12);
const MTIME: (usize, usize) = (136, 12);
const CHKSUM: (usize, usize) = (148, 8);
const TYPEFLAG: usize = 156;
const LINKNAME: (usize, usize) = (157, 100);
const MAGIC: (usize, usize) = (257, 8);
const UNAME: (usize, usize) = (265, 32);
const GNAME: (usize, usize) = (297, 32);
const DEVMAJOR: (usize, usize) = (329, 8);
const DEVMINOR: (usize, usize) = (337, 8);
const PREFIX: (usize, usize) = (345, 155);

fn put_bytes(block: &mut [u8; BLOCK], field: (usize, usize), value: &[u8]) {
    let n = value.len().min(field.1);
    block[field.0..field.0 + n].copy_from_slice(&value[..n]);
}

fn put_octal(block: &mut [u8; BLOCK], field: (usize, usize), value: u64) {
    let mut s = String::new();
    let _ = write!(s, "{:0width$o}", value, width = field.1 - 1);
    put_bytes(block, field, s.as_bytes());
}

/// Split a path into ustar `prefix` and `name`, if it fits them.
fn ustar_split(path: &[u8]) -> Option<(&[u8], &[u8])> {
    if path.len() <= NAME.1 {
        return Some((b"", path));
    }
    let limit = path.len().min(PREFIX.1 + 1);
    (1..limit)
        .rev()
        .find(|&i| path[i] == b'/' && path.len() - i - 1 <= NAME.1 && path.len() - i > 1)
        .map(|i| (&path[..i], &path[i + 1..]))
}

/// Split a path into ustar `prefix` and `name` when it fits; otherwise the
/// name field holds the first 100 bytes (the pax `path` record is
/// authoritative then).
fn split_name(path: &[u8]) -> (&[u8], &[u8]) {
    ustar_split(path).unwrap_or_else(|| (b"", &path[..NAME.1]))
}

/// The ustar name of a sparse member, which only a reader without sparse
/// support uses: `GNUSparseFile.0/` and the last path component, shortened
/// to fit.
fn sparse_placeholder_name(path: &[u8]) -> Vec<u8> {
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    let base = trimmed.rsplit(|&b| b == b'/').next().unwrap_or(trimmed);
    let mut name = b"GNUSparseFile.0/".to_vec();
    name.extend_from_slice(&base[..base.len().min(NAME.1 - name.len())]);
    name
}

fn ustar_block(f: &UstarFields<'_>) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    let (prefix, name) = split_name(f.name);
    put_bytes(&mut b, NAME, name);
    put_octal(&mut b, MODE, u64::from(f.mode));
    put_octal(&mut b, UID, f.uid);
    put_octal(&mut b, GID, f.gid);
    put_octal(&mut b, SIZE, f.size);
    put_octal(&mut b, MTIME, f.mtime);
    b[TYPEFLAG] = f.typeflag;
    put_bytes(&mut b, LINKNAME, f.linkname);
    b[MAGIC.0..MAGIC.0 + MAGIC.1].copy_from_slice(USTAR_MAGIC);
    if f.uname.len() < UNAME.1 {
        put_bytes(&mut b, UNAME, f.uname);
    }
    if f.gname.len() < GNAME.1 {
        put_bytes(&mut b, GNAME, f.gname);
    }
    put_octal(&mut b, DEVMAJOR, u64::from(f.devmajor).min(OCTAL7_MAX));
    put_octal(&mut b, DEVMINOR, u64::from(f.devminor).min(OCTAL7_MAX));
    put_bytes(&mut b, PREFIX, prefix);
    let sum = checksum(&b);
    let s = format!("{:06o}\0 ", sum);
    b[CHKSUM.0..CHKSUM.0 + CHKSUM.1].copy_from_slice(s.as_bytes());
    b
}

/// The ustar header checksum: byte sum with the checksum field as spaces.
pub fn checksum(block: &[u8; BLOCK]) -> u64 {
    block
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if (CHKSUM.0..CHKSUM.0 + CHKSUM.1).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(v)
            }
        })
        .sum()
}

/// Why a 512-byte block is not a valid ustar header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The stored checksum does not match the block.
    #[error("header checksum mismatch (stored {stored}, computed {computed})")]
    Checksum {
        /// Value in the header.
        stored: u64,
        /// Value computed from the block.
        computed: u64,
    },
    /// A numeric field is not octal.
    #[error("header field `{0}` is not an octal number")]
    Octal(&'static str),
    /// The magic is not POSIX ustar.
    #[error("not a POSIX ustar header (magic {0:?})")]
    Magic(String),
}

/// The fields of a ustar header block that a reader needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UstarHeader {
    /// `prefix/name` joined, NUL-trimmed.
    pub name: Vec<u8>,
    /// Mode bits.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Content size.
    pub size: u64,
    /// Whole-second modification time.
    pub mtime: u64,
    /// Member type.
    pub kind: EntryKind,
    /// Link target field.
    pub linkname: Vec<u8>,
    /// Owner name field.
    pub uname: Vec<u8>,
    /// Group name field.
    pub gname: Vec<u8>,
    /// Device major.
    pub devmajor: u32,
    /// Device minor.
    pub devminor: u32,
}

fn field(b: &[u8; BLOCK], f: (usize, usize)) -> &[u8] {
    let raw = &b[f.0..f.0 + f.1];
    let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
    &raw[..end]
}

fn octal(b: &[u8; BLOCK], f: (usize, usize), what: &'static str) -> Result<u64, HeaderError> {
    let raw = field(b, f);
    let s: Vec<u8> = raw.iter().copied().filter(|c| *c != b' ').collect();
    if s.is_empty() {
        return Ok(0);
    }
    let text = std::str::from_utf8(&s).map_err(|_| HeaderError::Octal(what))?;
    u64::from_str_radix(text, 8).map_err(|_| HeaderError::Octal(what))
}

/// Whether a block is all zeros (part of the end-of-archive marker).
pub fn is_zero_block(block: &[u8; BLOCK]) -> bool {
    block.iter().all(|&b| b == 0)
}

/// Parse one ustar header block.
pub fn parse_ustar(b: &[u8; BLOCK]) -> Result<UstarHeader, HeaderError> {
    let magic = &b[MAGIC.0..MAGIC.0 + MAGIC.1];
    if magic != USTAR_MAGIC {
        return Err(HeaderError::Magic(String::from_utf8_lossy(magic).into_owned()));
    }
    let stored = octal(b, CHKSUM, "chksum")?;
    let computed = checksum(b);
    if stored != computed {
        return Err(HeaderError::Checksum { stored, computed });
    }
    let prefix = field(b, PREFIX);
    let mut name = Vec::new();
    if !prefix.is_empty() {
        name.extend_from_slice(prefix);
        name.push(b'/');
    }
    name.extend_from_slice(field(b, NAME));
    Ok(UstarHeader {
        name,
        mode: octal(b, MODE, "mode")? as u32,
        uid: octal(b, UID, "uid")?,
        gid: octal(b, GID, "gid")?,
        size: octal(b, SIZE, "size")?,
        mtime: octal(b, MTIME, "mtime")?,
        kind: EntryKind::from_typeflag(b[TYPEFLAG]),
        linkname: field(b, LINKNAME).to_vec(),
        uname: field(b, UNAME).to_vec(),
        gname: field(b, GNAME).to_vec(),
        devmajor: octal(b, DEVMAJOR, "devmajor")? as u32,
        devminor: octal(b, DEVMINOR, "devminor")? as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let r = encode_pax_records(&[(b"path".to_vec(), vec![b'a'; 3])]);
        assert_eq!(r, b"12 path=aaa\n");
        // 9-to-10 digit boundary: body of 97 bytes needs a 3-digit length.
        let r = encode_pax_records(&[(b"k".to_vec(), vec![b'v'; 95])]);
        assert_eq!(r.len(), 102);
        assert!(r.starts_with(b"102 k="));
        assert_eq!(parse_pax_records(&r).unwrap()[0].1.len(), 95);
    }

    #[test]
    fn timestamps_round_trip_including_negative() {
        for (secs, nanos, text) in [
            (0, 0, "0.000000000"),
            (1_700_000_000, 5, "1700000000.000000005"),
            (-1, 500_000_000, "-0.500000000"),
            (-2, 0, "-2.000000000"),
            (-3, 250_000_000, "-2.750000000"),
            (4_102_444_800, 999_999_999, "4102444800.999999999"),
        ] {
            let t = Timestamp { secs, nanos };
            assert_eq!(t.to_pax(), text);
            assert_eq!(Timestamp::from_pax(text), Some(t));
        }
        assert_eq!(Timestamp::from_pax("12"), Some(Timestamp { secs: 12, nanos: 0 }));
        assert_eq!(Timestamp::from_pax("1.x"), None);
    }

    #[test]
    fn header_parses_back() {
        let mut h = MemberHeader::new(
            b"etc/passwd".to_vec(),
            EntryKind::File,
            1234,
            Timestamp {
                secs: 1_600_000_000,
                nanos: 7,
            },
        );
        h.mode = 0o4755;
        h.uid = 1000;
        h.uname = Some(b"alice".to_vec());
        let bytes = h.encode();
        assert_eq!(bytes.len() % BLOCK, 0);
        let first: &[u8; BLOCK] = bytes[..BLOCK].try_into().unwrap();
        let pax = parse_ustar(first).unwrap();
        assert_eq!(pax.kind, EntryKind::PaxExtended);
        let recs = parse_pax_records(&bytes[BLOCK..BLOCK + pax.size as usize]).unwrap();
        assert_eq!(recs[0], (b"path".to_vec(), b"etc/passwd".to_vec()));
        let last: &[u8; BLOCK] = bytes[bytes.len() - BLOCK..].try_into().unwrap();
        let main = parse_ustar(last).unwrap();
        assert_eq!(main.name, b"etc/passwd");
        assert_eq!(main.mode, 0o4755);
        assert_eq!(main.size, 1234);
        assert_eq!(main.uname, b"alice");
    }

    #[test]
    fn long_paths_split_or_truncate() {
        let long = [b"d/".repeat(60), b"file".to_vec()].concat();
        let (p, n) = split_name(&long);
        assert!(p.len() <= 155 && n.len() <= 100);
        assert_eq!([p, b"/", n].concat(), long);
        let flat = vec![b'x'; 300];
        assert_eq!(split_name(&flat).1.len(), 100);
    }

    #[test]
    fn corrupt_checksum_is_rejected() {
        let h = MemberHeader::new(b"a".to_vec(), EntryKind::File, 1, Timestamp { secs: 0, nanos: 0 });
        let mut bytes = h.encode();
        let n = bytes.len();
        bytes[n - BLOCK + 3] ^= 1;
        let last: &[u8; BLOCK] = bytes[n - BLOCK..].try_into().unwrap();
        assert!(matches!(parse_ustar(last), Err(HeaderError::Checksum { .. })));
    }
}
