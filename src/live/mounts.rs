//! The `mounts` step: the collector's mount table, `/proc/self/mountinfo`.
//!
//! Parsed here rather than by the procfs crate, which reads the file as
//! UTF-8 lines (one mount point that is not UTF-8, which anyone allowed to
//! mount can make, would lose the whole table), keeps the kernel's octal
//! escapes (`\040` for a space) in the paths, and folds the options into
//! unordered maps.

use serde::Serialize;

use super::document::{Envelope, Field};
use super::fields::{dec, lines};
use super::read::{io_reason, table};

/// One line of mountinfo, paths unescaped, as bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Mount {
    pub mount_id: u32,
    pub parent_id: u32,
    pub major: u32,
    pub minor: u32,
    pub root: Vec<u8>,
    pub mount_point: Vec<u8>,
    pub options: Vec<u8>,
    pub optional_fields: Vec<Vec<u8>>,
    pub fs_type: Vec<u8>,
    pub source: Vec<u8>,
    pub super_options: Vec<u8>,
}

#[derive(Serialize, Default)]
pub(super) struct Mounts {
    count: usize,
    mounts: Vec<MountEntry>,
}

#[derive(Serialize)]
struct MountEntry {
    mount_id: u32,
    parent_id: u32,
    major: u32,
    minor: u32,
    #[serde(flatten)]
    root: Field,
    #[serde(flatten)]
    mount_point: Field,
    #[serde(flatten)]
    options: Field,
    optional_fields: Vec<String>,
    #[serde(flatten)]
    fs_type: Field,
    #[serde(flatten)]
    source: Field,
    #[serde(flatten)]
    super_options: Field,
}

pub(super) fn capture(doc: &mut Envelope) -> Mounts {
    let whole = match table("/proc/self/mountinfo") {
        Ok(whole) => whole,
        Err(e) => {
            doc.unavailable("/proc/self/mountinfo", io_reason(&e));
            doc.nothing_read();
            return Mounts::default();
        }
    };
    let (mounts, unparsed) = parse(&whole.bytes);
    if unparsed > 0 {
        doc.unavailable_for("lines of /proc/self/mountinfo", "not in the expected format", unparsed);
    }
    let mounts: Vec<MountEntry> = mounts
        .into_iter()
        .map(|m| MountEntry {
            mount_id: m.mount_id,
            parent_id: m.parent_id,
            major: m.major,
            minor: m.minor,
            root: Field::new("root", m.root),
            mount_point: Field::new("mount_point", m.mount_point),
            options: Field::new("options", m.options),
            optional_fields: m.optional_fields.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect(),
            fs_type: Field::new("fs_type", m.fs_type),
            source: Field::new("source", m.source),
            super_options: Field::new("super_options", m.super_options),
        })
        .collect();
    Mounts {
        count: mounts.len(),
        mounts,
    }
}

/// The mounts of a mountinfo table, and the count of lines that did not
/// parse.
///
/// ```text
/// 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
/// (1)(2)(3)   (4)   (5)         (6)       (7)      (8)(9)  (10)      (11)
/// ```
///
/// Fields are separated by single spaces; the kernel writes a space, tab,
/// newline or backslash inside a path as an octal escape (`\040`).
pub(super) fn parse(table: &[u8]) -> (Vec<Mount>, u64) {
    let mut mounts = Vec::new();
    let mut unparsed = 0;
    for line in lines(table) {
        match parse_line(line) {
            Some(mount) => mounts.push(mount),
            None => unparsed += 1,
        }
    }
    (mounts, unparsed)
}

fn parse_line(line: &[u8]) -> Option<Mount> {
    let mut fields = line.split(|&b| b == b' ');
    let mount_id = dec(fields.next()?)?;
    let parent_id = dec(fields.next()?)?;
    let device = fields.next()?;
    let colon = device.iter().position(|&b| b == b':')?;
    let (major, minor) = (dec(&device[..colon])?, dec(&device[colon + 1..])?);
    let root = unescape(fields.next()?);
    let mount_point = unescape(fields.next()?);
    let options = fields.next()?.to_vec();
    let mut optional_fields = Vec::new();
    loop {
        match fields.next()? {
            b"-" => break,
            field => optional_fields.push(field.to_vec()),
        }
    }
    let fs_type = unescape(fields.next()?);
    let source = unescape(fields.next()?);
    let super_options = fields.next()?.to_vec();
    if fields.next().is_some() {
        return None;
    }
    Some(Mount {
        mount_id,
        parent_id,
        major,
        minor,
        root,
        mount_point,
        options,
        optional_fields,
        fs_type,
        source,
        super_options,
    })
}

/// Undoes the kernel's `\ooo` octal escapes; anything else is kept.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .and_then(|d| u8::try_from(d.iter().fold(0u32, |v, b| v * 8 + u32::from(b - b'0'))).ok());
        match (field[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &[u8] = b"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n\
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw,hidepid=invisible\n\
40 22 0:35 / /mnt/with\\040space\\134and\\011tab rw master:3 propagate_from:2 - tmpfs none rw\n\
41 22 0:36 / /mnt/\xff rw - tmpfs tmpfs rw\n\
42 22 0:37 / /mnt/x rw shared:1\n";

    #[test]
    fn mountinfo_lines() {
        let (mounts, unparsed) = parse(MOUNTINFO);
        assert_eq!((mounts.len(), unparsed), (4, 1));
        assert_eq!(
            mounts[0],
            Mount {
                mount_id: 22,
                parent_id: 1,
                major: 8,
                minor: 1,
                root: b"/".to_vec(),
                mount_point: b"/".to_vec(),
                options: b"rw,relatime".to_vec(),
                optional_fields: vec![b"shared:1".to_vec()],
                fs_type: b"ext4".to_vec(),
                source: b"/dev/sda1".to_vec(),
                super_options: b"rw,errors=remount-ro".to_vec(),
            }
        );
        assert_eq!(mounts[1].super_options, b"rw,hidepid=invisible");
        assert_eq!(mounts[2].mount_point, b"/mnt/with space\\and\ttab");
        assert_eq!(mounts[2].optional_fields, vec![b"master:3".to_vec(), b"propagate_from:2".to_vec()]);
        assert_eq!(mounts[2].source, b"none");
        assert_eq!(mounts[3].mount_point, b"/mnt/\xff");
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(b"a\\040b"), b"a b");
        assert_eq!(unescape(b"a\\12"), b"a\\12");
        assert_eq!(unescape(b"a\\9999"), b"a\\9999");
        assert_eq!(unescape(b"\\134\\134"), b"\\\\");
        assert_eq!(unescape(b"\\777"), b"\\777");
    }

    #[test]
    fn non_utf8_paths_go_to_b64_fields() {
        let field = serde_json::to_value(Field::new("mount_point", b"/mnt/\xff".to_vec())).unwrap();
        assert_eq!(field, serde_json::json!({"mount_point_b64": "L21udC//"}));
    }
}
