//! Extended attributes, read from a path or an open file, and the text of
//! POSIX ACLs found among them.

use std::fs::File;
use std::io;

/// Name of the extended attribute that holds a POSIX access ACL.
pub(super) const ACL_ACCESS_XATTR: &[u8] = b"system.posix_acl_access";
/// Name of the extended attribute that holds a POSIX default ACL.
pub(super) const ACL_DEFAULT_XATTR: &[u8] = b"system.posix_acl_default";

/// Extended attributes as read, or why they could not be.
pub(super) type XattrList = Result<Vec<(Vec<u8>, Vec<u8>)>, String>;

/// Where to read extended attributes from.
pub(super) enum XattrSource<'a> {
    /// A path, not following a final symlink.
    Path(&'a std::path::Path),
    /// An open file.
    File(&'a File),
}

/// Every extended attribute, sorted by name. A filesystem without extended
/// attributes has none.
pub(super) fn read_xattrs(from: XattrSource<'_>) -> XattrList {
    let list = |buf: &mut [u8]| match &from {
        XattrSource::Path(p) => rustix::fs::llistxattr(*p, buf),
        XattrSource::File(f) => rustix::fs::flistxattr(*f, buf),
    };
    let get = |name: &[u8], buf: &mut [u8]| match &from {
        XattrSource::Path(p) => rustix::fs::lgetxattr(*p, name, buf),
        XattrSource::File(f) => rustix::fs::fgetxattr(*f, name, buf),
    };
    let unsupported = |e: &rustix::io::Errno| matches!(*e, rustix::io::Errno::NOTSUP | rustix::io::Errno::NOSYS);
    let mut names = vec![0u8; 1024];
    let len = loop {
        match list(&mut names[..]) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) if names.len() < 1 << 20 => names.resize(names.len() * 4, 0),
            Err(e) if unsupported(&e) => return Ok(Vec::new()),
            Err(e) => return Err(io::Error::from(e).to_string()),
        }
    };
    let mut out = Vec::new();
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut value = vec![0u8; 4096];
        let n = loop {
            match get(name, &mut value[..]) {
                Ok(n) => break Some(n),
                Err(rustix::io::Errno::RANGE) if value.len() < 1 << 20 => value.resize(value.len() * 4, 0),
                Err(rustix::io::Errno::NODATA) => break None,
                Err(e) => return Err(io::Error::from(e).to_string()),
            }
        };
        if let Some(n) = n {
            value.truncate(n);
            out.push((name.to_vec(), value));
        }
    }
    out.sort();
    Ok(out)
}

/// The `SCHILY.acl.*` text of a POSIX ACL held in the extended attribute
/// `name`: one entry per line, with numeric user and group ids, as
/// `acl_to_text` and `setfacl` write and read it.
pub(super) fn acl_text_of(xattrs: &[(Vec<u8>, Vec<u8>)], name: &[u8]) -> Option<Vec<u8>> {
    let value = &xattrs.iter().find(|(n, _)| n == name)?.1;
    let (version, entries) = value.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*version) != 2 || entries.len() % 8 != 0 {
        return None;
    }
    let mut text = String::new();
    for e in entries.chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u16::from_le_bytes([e[2], e[3]]);
        let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        let (kind, qualifier) = match tag {
            0x01 => ("user", String::new()),
            0x02 => ("user", id.to_string()),
            0x04 => ("group", String::new()),
            0x08 => ("group", id.to_string()),
            0x10 => ("mask", String::new()),
            0x20 => ("other", String::new()),
            _ => return None,
        };
        let bit = |b: u16, c: char| if perm & b != 0 { c } else { '-' };
        text.push_str(&format!("{kind}:{qualifier}:{}{}{}\n", bit(4, 'r'), bit(2, 'w'), bit(1, 'x')));
    }
    Some(text.into_bytes())
}
