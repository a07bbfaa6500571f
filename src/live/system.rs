//! The `system` step: what host and kernel this is, how long it has run,
//! and who the collector runs as, which decides what the other steps can
//! see.

use procfs::prelude::*;
use procfs::process::Process;
use procfs::{KernelStats, LoadAverage, Uptime};
use serde::Serialize;

use super::document::{rfc3339_secs, text, Envelope};
use super::processes::{status_of, Ids};
use super::read::{io_reason, proc_reason, value};

#[derive(Serialize, Default)]
pub(super) struct System {
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname_b64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domainname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domainname_b64: Option<String>,
    kernel: Kernel,
    #[serde(skip_serializing_if = "Option::is_none")]
    boot_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    boot_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    boot_time_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uptime_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    load_average: Option<Load>,
    collector: Collector,
}

#[derive(Serialize, Default)]
struct Kernel {
    #[serde(skip_serializing_if = "Option::is_none")]
    ostype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    osrelease: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cmdline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cmdline_b64: Option<String>,
}

#[derive(Serialize)]
struct Load {
    one: f32,
    five: f32,
    fifteen: f32,
    /// Runnable scheduling entities (threads) now.
    runnable: u32,
    /// All scheduling entities.
    entities: u32,
    /// The pid most recently handed out.
    last_pid: u32,
}

#[derive(Serialize, Default)]
struct Collector {
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<Ids>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<Ids>,
    /// The effective uid is 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    root: Option<bool>,
    /// `CapEff`, as the kernel prints it (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    cap_eff: Option<String>,
    /// The effective capabilities by name (`cap_sys_ptrace`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    capabilities: Option<Vec<String>>,
}

pub(super) fn capture(doc: &mut Envelope) -> System {
    let mut system = System::default();
    let mut read_any = false;

    let mut sysctl = |name: &str, doc: &mut Envelope| {
        let path = format!("/proc/sys/kernel/{name}");
        match value(&path) {
            Ok(bytes) => {
                read_any = true;
                Some(bytes)
            }
            Err(e) => {
                doc.unavailable(path, io_reason(&e));
                None
            }
        }
    };
    if let Some(bytes) = sysctl("hostname", doc) {
        (system.hostname, system.hostname_b64) = text(&bytes);
    }
    if let Some(bytes) = sysctl("domainname", doc) {
        (system.domainname, system.domainname_b64) = text(&bytes);
    }
    let lossy = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    system.kernel.ostype = sysctl("ostype", doc).map(lossy);
    system.kernel.osrelease = sysctl("osrelease", doc).map(lossy);
    system.kernel.version = sysctl("version", doc).map(lossy);
    system.boot_id = sysctl("random/boot_id", doc).map(lossy);
    match value("/proc/cmdline") {
        Ok(bytes) => (system.kernel.cmdline, system.kernel.cmdline_b64) = text(&bytes),
        Err(e) => doc.unavailable("/proc/cmdline", io_reason(&e)),
    }

    match KernelStats::current() {
        Ok(stats) => {
            system.boot_time = i64::try_from(stats.btime).ok().and_then(rfc3339_secs);
            system.boot_time_secs = Some(stats.btime);
        }
        Err(e) => doc.unavailable("boot time (/proc/stat)", proc_reason(&e)),
    }
    match Uptime::current() {
        Ok(uptime) => (system.uptime_secs, system.idle_secs) = (Some(uptime.uptime), Some(uptime.idle)),
        Err(e) => doc.unavailable("/proc/uptime", proc_reason(&e)),
    }
    match LoadAverage::current() {
        Ok(load) => {
            system.load_average = Some(Load {
                one: load.one,
                five: load.five,
                fifteen: load.fifteen,
                runnable: load.cur,
                entities: load.max,
                last_pid: load.latest_pid,
            })
        }
        Err(e) => doc.unavailable("/proc/loadavg", proc_reason(&e)),
    }

    system.collector.pid = std::process::id();
    match Process::myself().and_then(|me| status_of(&me)) {
        Ok(status) => {
            system.collector.uid = Some(Ids::of(status.ruid, status.euid, status.suid, status.fuid));
            system.collector.gid = Some(Ids::of(status.rgid, status.egid, status.sgid, status.fgid));
            system.collector.root = Some(status.euid == 0);
            system.collector.cap_eff = Some(format!("{:016x}", status.capeff));
            system.collector.capabilities = Some(capability_names(status.capeff));
        }
        Err(e) => doc.unavailable("the collector's identity (/proc/self/status)", proc_reason(&e)),
    }

    if !read_any && system.boot_time.is_none() && system.collector.uid.is_none() {
        doc.nothing_read();
    }
    system
}

/// `CAP_*` names by bit, as in `linux/capability.h`.
const CAPABILITIES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// The names of the bits set in a capability mask; a bit newer than this
/// table is named by its number (`cap_41`).
fn capability_names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| match CAPABILITIES.get(bit) {
            Some(name) => name.to_string(),
            None => format!("cap_{bit}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_by_name() {
        assert_eq!(capability_names(0), Vec::<String>::new());
        assert_eq!(capability_names(1 << 19 | 1), vec!["cap_chown", "cap_sys_ptrace"]);
        assert_eq!(capability_names(1 << 41), vec!["cap_41"]);
        assert_eq!(capability_names(0x1ff_ffff_ffff).len(), 41);
    }
}
