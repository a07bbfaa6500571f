//! The `modules` step: the loaded kernel modules of `/proc/modules`, the
//! kernel's taint flags, and the loadable modules `/sys/module` and
//! `/proc/modules` do not agree on.
//!
//! A module that unlinks itself from the kernel's module list (a common
//! rootkit trick) leaves `/proc/modules` but may stay in `/sys/module`, and
//! the reverse; only loadable modules have `/sys/module/NAME/initstate`, so
//! built-in ones are not compared. Parsed here because the procfs crate
//! drops the taint flags and the address.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;

use serde::Serialize;

use super::document::{Envelope, Field};
use super::fields::{self, dec, lines};
use super::read::{io_reason, table, value_text};

/// The kernel's taint letters by bit (`kernel/panic.c`, `taint_flags`).
const TAINT_LETTERS: [char; 19] = [
    'P', 'F', 'S', 'R', 'M', 'B', 'U', 'D', 'A', 'W', 'C', 'I', 'O', 'E', 'L', 'K', 'X', 'T', 'N',
];

#[derive(Serialize, Default)]
pub(super) struct Modules {
    /// Whether the kernel can load modules: `/proc/modules` exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    loadable_modules: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tainted: Option<Tainted>,
    count: usize,
    modules: Vec<ModuleEntry>,
    /// Loadable modules with a `/sys/module/NAME/initstate` that
    /// `/proc/modules` does not list.
    #[serde(skip_serializing_if = "Option::is_none")]
    in_sysfs_only: Option<Vec<String>>,
    /// Modules `/proc/modules` lists that have no `/sys/module/NAME/initstate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    in_proc_only: Option<Vec<String>>,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
struct Tainted {
    /// `/proc/sys/kernel/tainted`.
    value: u64,
    /// Its set bits as the kernel's letters (`O` out-of-tree, `E` unsigned…).
    flags: String,
}

#[derive(Serialize)]
struct ModuleEntry {
    #[serde(flatten)]
    name: Field,
    size: u64,
    /// Absent when the kernel cannot unload modules (it prints `-`).
    #[serde(skip_serializing_if = "Option::is_none")]
    refcount: Option<i64>,
    used_by: Vec<String>,
    state: String,
    /// The load address; all zeros unless the reader may see kernel
    /// addresses (root, and `kptr_restrict` allowing it).
    address: String,
    /// The module's taint letters, as printed after it (`OE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    taint: Option<String>,
}

/// One line of `/proc/modules`.
#[derive(Debug, PartialEq, Eq)]
struct Module {
    name: Vec<u8>,
    size: u64,
    refcount: Option<i64>,
    used_by: Vec<String>,
    state: String,
    address: String,
    taint: Option<String>,
}

pub(super) fn capture(doc: &mut Envelope) -> Modules {
    let mut out = Modules::default();
    match value_text("/proc/sys/kernel/tainted") {
        Ok(value) => match value.trim().parse::<u64>() {
            Ok(value) => out.tainted = Some(tainted(value)),
            Err(_) => doc.unavailable("/proc/sys/kernel/tainted", format!("not a number: {value:?}")),
        },
        Err(e) => doc.unavailable("/proc/sys/kernel/tainted", io_reason(&e)),
    }
    let listed = match table("/proc/modules") {
        Ok(whole) => {
            out.loadable_modules = Some(true);
            let (modules, unparsed) = parse(&whole.bytes);
            if unparsed > 0 {
                doc.unavailable_for("lines of /proc/modules", "not in the expected format", unparsed);
            }
            Some(modules)
        }
        // A kernel built without module support has no /proc/modules:
        // nothing is missing, no module can be loaded.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            out.loadable_modules = Some(false);
            Some(Vec::new())
        }
        Err(e) => {
            doc.unavailable("/proc/modules", io_reason(&e));
            None
        }
    };
    let Some(listed) = listed else {
        if out.tainted.is_none() {
            doc.nothing_read();
        }
        return out;
    };
    match loadable_in_sysfs() {
        Ok(in_sysfs) => {
            let in_proc: BTreeSet<Vec<u8>> = listed.iter().map(|m| m.name.clone()).collect();
            let lossy = |names: Vec<&Vec<u8>>| names.into_iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
            out.in_sysfs_only = Some(lossy(in_sysfs.difference(&in_proc).collect()));
            out.in_proc_only = Some(lossy(in_proc.difference(&in_sysfs).collect()));
        }
        Err(e) => doc.unavailable("/sys/module (to compare with /proc/modules)", io_reason(&e)),
    }
    out.modules = listed
        .into_iter()
        .map(|m| ModuleEntry {
            name: Field::new("name", m.name),
            size: m.size,
            refcount: m.refcount,
            used_by: m.used_by,
            state: m.state,
            address: m.address,
            taint: m.taint,
        })
        .collect();
    out.count = out.modules.len();
    out
}

fn tainted(value: u64) -> Tainted {
    let mut flags = String::new();
    for bit in 0..64 {
        if value & (1u64 << bit) != 0 {
            match TAINT_LETTERS.get(bit) {
                Some(letter) => flags.push(*letter),
                None => flags.push_str(&format!("({bit})")),
            }
        }
    }
    Tainted { value, flags }
}

/// Names of `/sys/module` entries that are loadable modules.
fn loadable_in_sysfs() -> std::io::Result<BTreeSet<Vec<u8>>> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir("/sys/module")? {
        let entry = entry?;
        if entry.path().join("initstate").exists() {
            names.insert(entry.file_name().as_bytes().to_vec());
        }
    }
    Ok(names)
}

/// `/proc/modules`:
///
/// ```text
/// nf_tables 352256 3 nft_chain_nat,nft_compat, Live 0xffffffffc0a1d000
/// vboxdrv 696320 2 vboxnetadp,vboxnetflt, Live 0x0000000000000000 (OE)
/// ```
///
/// The reference count and users are `-` when the kernel cannot unload
/// modules; a module that cannot be unloaded lists `[permanent]`.
fn parse(table: &[u8]) -> (Vec<Module>, u64) {
    let mut modules = Vec::new();
    let mut unparsed = 0;
    for line in lines(table) {
        match parse_line(line) {
            Some(module) => modules.push(module),
            None => unparsed += 1,
        }
    }
    (modules, unparsed)
}

fn parse_line(line: &[u8]) -> Option<Module> {
    let f = fields::all(line);
    if !(6..=7).contains(&f.len()) {
        return None;
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let refcount = match f[2] {
        b"-" => None,
        n => Some(dec(n)?),
    };
    let used_by = match f[3] {
        b"-" => Vec::new(),
        users => users.split(|&b| b == b',').filter(|u| !u.is_empty()).map(text).collect(),
    };
    let taint = match f.get(6) {
        Some(t) => Some(text(t.strip_prefix(b"(")?.strip_suffix(b")")?)),
        None => None,
    };
    Some(Module {
        name: f[0].to_vec(),
        size: dec(f[1])?,
        refcount,
        used_by,
        state: text(f[4]),
        address: text(f[5]),
        taint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_lines() {
        let table = b"nf_tables 352256 3 nft_chain_nat,nft_compat, Live 0xffffffffc0a1d000\n\
vboxdrv 696320 2 vboxnetadp,vboxnetflt, Live 0x0000000000000000 (OE)\n\
fixed 4096 - - Live 0x0000000000000000\n\
ghost 8192 0 [permanent], Unloading 0x0000000000000000\n\
broken line\n";
        let (modules, unparsed) = parse(table);
        assert_eq!((modules.len(), unparsed), (4, 1));
        assert_eq!(
            modules[0],
            Module {
                name: b"nf_tables".to_vec(),
                size: 352256,
                refcount: Some(3),
                used_by: vec!["nft_chain_nat".into(), "nft_compat".into()],
                state: "Live".into(),
                address: "0xffffffffc0a1d000".into(),
                taint: None,
            }
        );
        assert_eq!(modules[1].taint.as_deref(), Some("OE"));
        assert_eq!((modules[2].refcount, modules[2].used_by.len()), (None, 0));
        assert_eq!(
            (modules[3].used_by[0].as_str(), modules[3].state.as_str()),
            ("[permanent]", "Unloading")
        );
    }

    #[test]
    fn taint_letters() {
        assert_eq!(tainted(0).flags, "");
        assert_eq!(
            tainted(12288),
            Tainted {
                value: 12288,
                flags: "OE".into()
            }
        );
        assert_eq!(tainted(1 | 1 << 9).flags, "PW");
        assert_eq!(tainted(1 << 30).flags, "(30)");
    }
}
