//! Facts about the collecting host: user and group names, kernel and
//! machine, whether any file may be opened without updating its access
//! time, and the clock.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;

use crate::format::doc;

/// Name lookups from the collecting host's /etc/passwd and /etc/group.
pub(super) struct Names {
    pub(super) users: HashMap<u32, Vec<u8>>,
    pub(super) groups: HashMap<u32, Vec<u8>>,
}

impl Names {
    pub(super) fn load() -> Self {
        fn read(path: &str) -> HashMap<u32, Vec<u8>> {
            let Ok(data) = std::fs::read(path) else { return HashMap::new() };
            data.split(|&b| b == b'\n')
                .filter_map(|line| {
                    let mut f = line.split(|&b| b == b':');
                    let name = f.next()?;
                    let id = std::str::from_utf8(f.nth(1)?).ok()?.parse().ok()?;
                    (!name.is_empty()).then(|| (id, name.to_vec()))
                })
                .collect()
        }
        Names {
            users: read("/etc/passwd"),
            groups: read("/etc/group"),
        }
    }
}

/// RFC 3339 UTC time with nanoseconds, and its whole seconds.
pub fn now_rfc3339() -> (String, i64) {
    let now = time::OffsetDateTime::now_utc();
    let text = now
        .format(&time::format_description::well_known::Rfc3339)
        .expect("UTC time formats");
    (text, now.unix_timestamp())
}

/// `all` when this process may open any file with `O_NOATIME` (it holds
/// `CAP_FOWNER`), else `owned`.
pub(super) fn noatime_scope() -> &'static str {
    const CAP_FOWNER: u32 = 3;
    let effective = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("CapEff:"))?;
        u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
    });
    match effective {
        Some(caps) if caps & (1 << CAP_FOWNER) != 0 => "all",
        _ => "owned",
    }
}

pub(super) fn host_info() -> doc::HostInfo {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let kernel = match (
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/osrelease"),
        read("/proc/sys/kernel/version"),
    ) {
        (Some(a), Some(b), Some(c)) => Some(format!("{a} {b} {c}")),
        _ => None,
    };
    doc::HostInfo {
        hostname: read("/proc/sys/kernel/hostname").or_else(|| read("/etc/hostname")),
        kernel,
        machine: Some(std::env::consts::ARCH.to_string()),
        machine_id: read("/etc/machine-id"),
        euid: std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX),
    }
}
