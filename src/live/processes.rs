//! The `processes` step: every process in `/proc`, with its ids, owner,
//! command line, executable, directories, start time, terminal, memory and
//! open sockets.
//!
//! Each process is read through one open descriptor of its `/proc/PID`
//! directory (the procfs crate's `Process`), so a pid reused while it is
//! read yields "gone" errors, never a mix of two processes. Numbers come
//! from the procfs crate's parsers; names (the command, its arguments, the
//! link targets) are kept as the bytes the kernel gave, because an intruder
//! chooses them and a lossy decoding would hide what they chose.

use std::collections::{BTreeMap, HashMap};

use procfs::process::{Process, Stat, Status};
use procfs::{FromBufRead, FromRead, ProcError};
use rustix::fs::OFlags;
use serde::Serialize;

use super::document::{rfc3339_nanos, text, text_list, Envelope, Unavailable};
use super::read::{bounded, is_denied, is_gone, proc_reason, Privilege};
use super::sockets::{self, NetNamespaces};

/// Longest command line kept (the kernel allows a quarter of the stack
/// limit, 2 MiB by default); a longer one is cut and flagged.
const MAX_CMDLINE: u64 = 256 * 1024;
/// `PF_KTHREAD` in the `flags` field of `/proc/PID/stat`.
const PF_KTHREAD: u32 = 0x0020_0000;
/// What `readlink` appends to the target of an unlinked file or directory.
const DELETED: &[u8] = b" (deleted)";

/// Real, effective, saved and filesystem ids, as `/proc/PID/status` lists them.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ids {
    real: u32,
    effective: u32,
    saved: u32,
    fs: u32,
}

impl Ids {
    pub(super) fn of(real: u32, effective: u32, saved: u32, fs: u32) -> Ids {
        Ids {
            real,
            effective,
            saved,
            fs,
        }
    }
}

#[derive(Serialize)]
pub(super) struct Processes {
    /// `btime` of `/proc/stat`: start times count from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    boot_time_secs: Option<u64>,
    /// Clock ticks a second, the unit of `start_ticks`.
    clock_ticks_per_sec: u64,
    /// Listed in `/proc` but gone before they could be read.
    vanished: u64,
    count: usize,
    processes: Vec<Entry>,
}

#[derive(Serialize)]
struct Entry {
    pid: i32,
    ppid: i32,
    state: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    kernel_thread: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<Ids>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<Ids>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comm_b64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cmdline: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cmdline_b64: Option<Vec<String>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cmdline_cut: bool,
    #[serde(flatten)]
    exe: Link,
    #[serde(flatten)]
    cwd: Link,
    #[serde(flatten)]
    root: Link,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    start_ticks: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tty_name: Option<String>,
    pgrp: i32,
    session: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    tracer_pid: Option<i32>,
    threads: i64,
    rss_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    netns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_fds: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sockets: Option<Vec<FdSocket>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unavailable: Vec<Unavailable>,
    /// The same gaps with the reason explained (what would have allowed
    /// the read), for the document's list: said once there, not per process.
    #[serde(skip)]
    explained: Vec<(&'static str, String)>,
}

/// A symbolic link of `/proc/PID` (`exe`, `cwd`, `root`), serialized as
/// `NAME` or `NAME_b64`, and `NAME_deleted` when the kernel marked the
/// target unlinked.
#[derive(Default)]
struct Link {
    name: &'static str,
    target: Option<Vec<u8>>,
    deleted: bool,
}

impl Link {
    fn new(name: &'static str, target: Vec<u8>) -> Link {
        let (target, deleted) = strip_deleted(target);
        Link {
            name,
            target: Some(target),
            deleted,
        }
    }
}

impl Serialize for Link {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        if let Some(target) = &self.target {
            match text(target) {
                (Some(utf8), _) => map.serialize_entry(self.name, &utf8)?,
                (None, b64) => map.serialize_entry(&format!("{}_b64", self.name), &b64)?,
            }
            map.serialize_entry(&format!("{}_deleted", self.name), &self.deleted)?;
        }
        map.end()
    }
}

/// Splits the kernel's " (deleted)" mark off a link target.
fn strip_deleted(mut target: Vec<u8>) -> (Vec<u8>, bool) {
    if target.ends_with(DELETED) {
        target.truncate(target.len() - DELETED.len());
        (target, true)
    } else {
        (target, false)
    }
}

/// An open descriptor that is a socket.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub(super) struct FdSocket {
    pub fd: i32,
    pub inode: u64,
    /// The socket's `id` in the sockets document (`tcp:48213`), when a
    /// socket table lists its inode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

pub(super) fn capture(doc: &mut Envelope) -> Processes {
    let boot_time_secs = match procfs::boot_time_secs() {
        Ok(secs) => Some(secs),
        Err(e) => {
            doc.unavailable("start_time of every process (boot time from /proc/stat)", proc_reason(&e));
            None
        }
    };
    let ticks = procfs::ticks_per_second();
    let mut out = Processes {
        boot_time_secs,
        clock_ticks_per_sec: ticks,
        vanished: 0,
        count: 0,
        processes: Vec::new(),
    };
    let all = match procfs::process::all_processes() {
        Ok(all) => all,
        Err(e) => {
            doc.unavailable("the process list (/proc)", proc_reason(&e));
            doc.nothing_read();
            return out;
        }
    };
    hidepid_note(doc);
    let context = Context {
        boot_time_secs,
        ticks,
        page: procfs::page_size(),
        privilege: Privilege::of_collector(),
    };
    let mut missing: BTreeMap<(String, String), u64> = BTreeMap::new();
    for process in all {
        let process = match process {
            Ok(process) => process,
            Err(e) if is_gone(&e) => {
                out.vanished += 1;
                continue;
            }
            Err(e) => {
                *missing.entry(("a process".to_string(), proc_reason(&e))).or_default() += 1;
                continue;
            }
        };
        match read_process(&process, &context) {
            Ok(entry) => {
                for (what, reason) in &entry.explained {
                    *missing.entry((part_source(what), reason.clone())).or_default() += 1;
                }
                out.processes.push(entry);
            }
            Err(e) if is_gone(&e) => out.vanished += 1,
            Err(e) => {
                *missing
                    .entry(("a process (/proc/PID/stat)".to_string(), proc_reason(&e)))
                    .or_default() += 1
            }
        }
    }
    out.processes.sort_by_key(|entry| entry.pid);
    out.count = out.processes.len();
    name_sockets(&mut out.processes, doc);
    for ((what, reason), count) in missing {
        doc.unavailable_for(what, reason, count);
    }
    out
}

/// What reading each process needs to know.
struct Context {
    boot_time_secs: Option<u64>,
    ticks: u64,
    page: u64,
    privilege: Privilege,
}

/// Reads one process. Fails only when its `stat` cannot be read (it is
/// gone, or unreadable); every later part that fails is listed in the
/// entry's `unavailable`.
fn read_process(process: &Process, context: &Context) -> Result<Entry, ProcError> {
    let stat_bytes = bounded(process.open_relative("stat")?, 64 * 1024)?.bytes;
    let stat = Stat::from_read(&stat_bytes[..])?;
    let comm = comm_of_stat(&stat_bytes).unwrap_or_default();
    let (comm, comm_b64) = text(comm);
    let kernel_thread = stat.flags & PF_KTHREAD != 0;
    // A zombie has released its memory, files and directories: their
    // absence is its state, not something that could not be read.
    let released = kernel_thread || matches!(stat.state, 'Z' | 'X');
    let (major, minor) = stat.tty_nr();
    let mut entry = Entry {
        pid: stat.pid,
        ppid: stat.ppid,
        state: stat.state.to_string(),
        kernel_thread,
        uid: None,
        gid: None,
        comm,
        comm_b64,
        cmdline: None,
        cmdline_b64: None,
        cmdline_cut: false,
        exe: Link::default(),
        cwd: Link::default(),
        root: Link::default(),
        start_time: context
            .boot_time_secs
            .and_then(|boot| start_time(boot, stat.starttime, context.ticks)),
        start_ticks: stat.starttime,
        tty: (stat.tty_nr != 0).then(|| format!("{major}:{minor}")),
        tty_name: (stat.tty_nr != 0).then(|| tty_name(major, minor)).flatten(),
        pgrp: stat.pgrp,
        session: stat.session,
        tracer_pid: None,
        threads: stat.num_threads,
        rss_bytes: stat.rss.saturating_mul(context.page),
        netns: None,
        open_fds: None,
        sockets: None,
        unavailable: Vec::new(),
        explained: Vec::new(),
    };
    let gap = |what: &'static str, e: &ProcError, entry: &mut Entry| {
        entry.unavailable.push(Unavailable {
            what: what.to_string(),
            reason: proc_reason(e),
            count: None,
        });
        entry.explained.push((what, process_reason(e, context.privilege)));
    };

    match status_of(process) {
        Ok(status) => {
            entry.uid = Some(Ids::of(status.ruid, status.euid, status.suid, status.fuid));
            entry.gid = Some(Ids::of(status.rgid, status.egid, status.sgid, status.fgid));
            entry.tracer_pid = (status.tracerpid != 0).then_some(status.tracerpid);
        }
        Err(e) => gap("uid, gid", &e, &mut entry),
    }
    match cmdline(process) {
        Ok((args, cut)) => {
            (entry.cmdline, entry.cmdline_b64) = text_list(&args);
            entry.cmdline_cut = cut;
        }
        Err(e) => gap("cmdline", &e, &mut entry),
    }
    for name in ["exe", "cwd", "root"] {
        let target = match link(process, name) {
            Ok(target) => Link::new(name, target),
            Err(_) if released => continue,
            Err(e) => {
                gap(name, &e, &mut entry);
                continue;
            }
        };
        match name {
            "exe" => entry.exe = target,
            "cwd" => entry.cwd = target,
            _ => entry.root = target,
        }
    }
    if entry.root.target.as_deref() == Some(b"/") && !entry.root.deleted {
        entry.root = Link::default();
    }
    match netns_of(process) {
        Ok(netns) => entry.netns = netns,
        Err(e) if released && is_gone(&e) => {}
        Err(e) => gap("netns", &e, &mut entry),
    }
    match socket_fds(process) {
        Ok((sockets, open)) => {
            entry.open_fds = Some(open);
            entry.sockets = Some(sockets);
        }
        Err(e) if released && is_gone(&e) => {}
        Err(e) => gap("sockets", &e, &mut entry),
    }
    Ok(entry)
}

/// A part of a process, named in the document's `unavailable` list with the
/// file it comes from (the process's own list names the field alone).
fn part_source(field: &str) -> String {
    let file = match field {
        "uid, gid" => "status",
        "netns" => "ns/net",
        "sockets" => "fd",
        other => other,
    };
    format!("{field} (/proc/PID/{file})")
}

/// Why a part of a process could not be read, with what would have
/// allowed it.
pub(super) fn process_reason(e: &ProcError, privilege: Privilege) -> String {
    let reason = proc_reason(e);
    if is_denied(e) {
        format!("{reason}: {}", privilege.refused())
    } else if is_gone(e) {
        format!("{reason}: the process (or its main thread) exited while it was read")
    } else {
        reason
    }
}

/// The command name between the first `(` and the last `)` of `stat`, as
/// bytes: it may hold anything, parentheses and spaces included.
fn comm_of_stat(stat: &[u8]) -> Option<&[u8]> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    (open < close).then(|| &stat[open + 1..close])
}

/// The absolute start time: boot time plus the start's clock ticks.
fn start_time(boot_secs: u64, start_ticks: u64, ticks_per_sec: u64) -> Option<String> {
    if ticks_per_sec == 0 {
        return None;
    }
    let nanos = i128::from(boot_secs) * 1_000_000_000 + i128::from(start_ticks) * 1_000_000_000 / i128::from(ticks_per_sec);
    rfc3339_nanos(nanos)
}

/// The name of a terminal device of the kernel's fixed numbering
/// (`Documentation/admin-guide/devices.txt`), for matching utmp lines.
fn tty_name(major: i32, minor: i32) -> Option<String> {
    match major {
        136..=143 => Some(format!("pts/{}", (major - 136) * 256 + minor)),
        4 if minor < 64 => Some(format!("tty{minor}")),
        4 => Some(format!("ttyS{}", minor - 64)),
        5 if minor == 0 => Some("tty".to_string()),
        5 if minor == 1 => Some("console".to_string()),
        _ => None,
    }
}

/// `/proc/PID/status` through the procfs crate's parser. Its `Name:` line
/// is raw bytes that need not be UTF-8, and the parser reads UTF-8 lines:
/// the file is decoded lossily first. Only numeric fields are used.
pub(super) fn status_of(process: &Process) -> Result<Status, ProcError> {
    let bytes = bounded(process.open_relative("status")?, 64 * 1024)?.bytes;
    Status::from_buf_read(String::from_utf8_lossy(&bytes).as_bytes())
}

/// The arguments, split at NUL bytes, and whether the command line was cut
/// at [`MAX_CMDLINE`].
fn cmdline(process: &Process) -> Result<(Vec<Vec<u8>>, bool), ProcError> {
    let whole = bounded(process.open_relative("cmdline")?, MAX_CMDLINE)?;
    Ok((split_args(&whole.bytes), whole.cut))
}

/// argv from `/proc/PID/cmdline`: NUL-terminated strings. A process that
/// rewrote its arguments (setproctitle) may leave no final NUL, or spaces
/// instead of NULs: the bytes are kept as they are.
fn split_args(bytes: &[u8]) -> Vec<Vec<u8>> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let body = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    body.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

/// The target of `/proc/PID/<name>`, as bytes.
fn link(process: &Process, name: &str) -> Result<Vec<u8>, ProcError> {
    use std::os::unix::ffi::OsStringExt;
    let path = match name {
        "exe" => process.exe()?,
        "cwd" => process.cwd()?,
        _ => process.root()?,
    };
    Ok(path.into_os_string().into_vec())
}

/// The process's network namespace: the inode in `ns/net` ("net:[4026531840]").
pub(super) fn netns_of(process: &Process) -> Result<Option<u64>, ProcError> {
    let ns = process.open_relative_flags("ns", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC)?;
    let target = rustix::fs::readlinkat(&ns, "net", Vec::new()).map_err(std::io::Error::from)?;
    Ok(bracketed_inode(target.as_bytes(), b"net:["))
}

/// The number in `PREFIX123]`, the form of namespace and socket links.
pub(super) fn bracketed_inode(target: &[u8], prefix: &[u8]) -> Option<u64> {
    let digits = target.strip_prefix(prefix)?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The descriptors that are sockets, and how many descriptors are open.
///
/// One `readlinkat` a descriptor, relative to the open `fd` directory: a
/// host with thousands of processes has hundreds of thousands of
/// descriptors (the procfs crate's iterator opens and stats each as well).
pub(super) fn socket_fds(process: &Process) -> Result<(Vec<FdSocket>, usize), ProcError> {
    let dir = process.open_relative_flags("fd", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC)?;
    let mut entries = rustix::fs::Dir::new(dir).map_err(std::io::Error::from)?;
    let mut sockets = Vec::new();
    let mut open = 0;
    while let Some(entry) = entries.read() {
        let entry = entry.map_err(std::io::Error::from)?;
        // readlinkat leaves the directory's position alone.
        let dir = entries.fd().map_err(std::io::Error::from)?;
        let Some(fd) = std::str::from_utf8(entry.file_name().to_bytes())
            .ok()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue; // "." and ".."
        };
        open += 1;
        let target = match rustix::fs::readlinkat(dir, entry.file_name(), Vec::new()) {
            Ok(target) => target,
            // A descriptor closed since the listing is simply not there.
            Err(rustix::io::Errno::NOENT) => continue,
            // The listing may be allowed where the links are not: then
            // which descriptors are sockets is unknown.
            Err(e) => return Err(std::io::Error::from(e).into()),
        };
        if let Some(inode) = bracketed_inode(target.as_bytes(), b"socket:[") {
            sockets.push(FdSocket { fd, inode, id: None });
        }
    }
    sockets.sort_by_key(|s| s.fd);
    Ok((sockets, open))
}

/// Gives each socket descriptor the id of the table entry with its inode,
/// reading the tables of every network namespace the processes are in.
fn name_sockets(processes: &mut [Entry], doc: &mut Envelope) {
    let mut namespaces = NetNamespaces::default();
    for entry in processes.iter() {
        if let (Some(netns), Some(sockets)) = (entry.netns, &entry.sockets) {
            if !sockets.is_empty() {
                namespaces.add(netns, entry.pid);
            }
        }
    }
    let tables = sockets::read_tables(&namespaces, doc);
    let ids: HashMap<u64, &'static str> = tables.sockets.iter().map(|s| (s.inode, s.protocol)).collect();
    for socket in processes.iter_mut().filter_map(|p| p.sockets.as_mut()).flatten() {
        socket.id = ids.get(&socket.inode).map(|protocol| format!("{protocol}:{}", socket.inode));
    }
}

/// Notes that `/proc` hides other users' processes from this collector.
fn hidepid_note(doc: &mut Envelope) {
    let Ok(mountinfo) = super::read::table("/proc/self/mountinfo") else {
        return;
    };
    let hidden = super::mounts::parse(&mountinfo.bytes).0.into_iter().find_map(|mount| {
        let is_proc = mount.mount_point == b"/proc" && mount.fs_type == b"proc";
        let option = mount.super_options.split(|&b| b == b',').find(|o| o.starts_with(b"hidepid="))?;
        let value = &option[b"hidepid=".len()..];
        (is_proc && value != b"0" && value != b"off").then(|| String::from_utf8_lossy(option).into_owned())
    });
    let euid = procfs::process::Process::myself().and_then(|me| status_of(&me)).map(|s| s.euid);
    if let (Some(option), Ok(euid)) = (hidden, euid) {
        if euid != 0 {
            doc.unavailable(
                "processes of other users",
                format!("/proc is mounted with {option}, which hides them (or what they hold) from a collector that is not root; run it as root"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_may_hold_parentheses_and_any_bytes() {
        assert_eq!(comm_of_stat(b"42 (sshd) S 1 42 42 0 -1"), Some(&b"sshd"[..]));
        assert_eq!(comm_of_stat(b"42 (a) (b) x) R 1"), Some(&b"a) (b) x"[..]));
        assert_eq!(comm_of_stat(b"42 (\xff\n) R 1"), Some(&b"\xff\n"[..]));
        assert_eq!(comm_of_stat(b"42 sshd S"), None);
    }

    #[test]
    fn stat_numbers_parse_whatever_the_comm() {
        let line = b"4242 (a) b\xff) S 1 4242 4242 34816 4242 4194560 95 0 0 0 0 0 0 0 20 0 1 0 12345 \
                     8704000 512 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let stat = Stat::from_read(&line[..]).unwrap();
        assert_eq!(
            (stat.pid, stat.ppid, stat.state, stat.starttime, stat.rss),
            (4242, 1, 'S', 12345, 512)
        );
        assert_eq!(stat.tty_nr(), (136, 0));
        assert_eq!(comm_of_stat(line), Some(&b"a) b\xff"[..]));
    }

    #[test]
    fn deleted_mark_is_split_off() {
        assert_eq!(strip_deleted(b"/tmp/x (deleted)".to_vec()), (b"/tmp/x".to_vec(), true));
        assert_eq!(strip_deleted(b"/usr/bin/sleep".to_vec()), (b"/usr/bin/sleep".to_vec(), false));
        let link = serde_json::to_value(Link::new("exe", b"/tmp/\xff (deleted)".to_vec())).unwrap();
        assert_eq!(link, serde_json::json!({"exe_b64": "L3RtcC//", "exe_deleted": true}));
        assert_eq!(serde_json::to_value(Link::default()).unwrap(), serde_json::json!({}));
    }

    #[test]
    fn args_split_at_nuls() {
        assert_eq!(split_args(b"sleep\x00300\x00"), vec![b"sleep".to_vec(), b"300".to_vec()]);
        assert_eq!(split_args(b"sshd: root@pts/0"), vec![b"sshd: root@pts/0".to_vec()]);
        assert_eq!(split_args(b"a\0\0b\0"), vec![b"a".to_vec(), b"".to_vec(), b"b".to_vec()]);
        assert!(split_args(b"").is_empty());
    }

    #[test]
    fn start_time_counts_ticks_from_boot() {
        assert_eq!(start_time(1_700_000_000, 250, 100).unwrap(), "2023-11-14T22:13:22.5Z");
        assert_eq!(start_time(1_700_000_000, 0, 0), None);
    }

    #[test]
    fn terminals_by_device_number() {
        assert_eq!(tty_name(136, 3).as_deref(), Some("pts/3"));
        assert_eq!(tty_name(137, 1).as_deref(), Some("pts/257"));
        assert_eq!(tty_name(4, 1).as_deref(), Some("tty1"));
        assert_eq!(tty_name(4, 64).as_deref(), Some("ttyS0"));
        assert_eq!(tty_name(8, 1), None);
    }

    #[test]
    fn namespace_and_socket_links() {
        assert_eq!(bracketed_inode(b"net:[4026531840]", b"net:["), Some(4026531840));
        assert_eq!(bracketed_inode(b"socket:[123]", b"socket:["), Some(123));
        assert_eq!(bracketed_inode(b"pipe:[123]", b"socket:["), None);
        assert_eq!(bracketed_inode(b"/tmp/socket:[1]", b"socket:["), None);
    }
}
