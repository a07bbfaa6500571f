//! The `sockets` step: the kernel's socket tables (TCP, UDP, raw, UNIX and
//! packet, IPv4 and IPv6) of every network namespace a process is in, each
//! socket with the processes that hold it open.
//!
//! `/proc/net` is the collector's own namespace. A process in another one
//! (a container) shows its namespace's tables in `/proc/PID/net`, so the
//! step reads the tables once per namespace, through one of its processes.
//! Owners are found by the socket inodes that `/proc/PID/fd` links name.
//!
//! TCP, UDP and raw tables are hex numbers and go through the procfs crate.
//! `/proc/net/unix` ends with a path that may hold spaces or any bytes and
//! `/proc/net/packet` is not covered by the crate: both are parsed here.

use std::collections::{BTreeMap, HashMap};

use procfs::net::{TcpNetEntry, TcpState, UdpNetEntries, UdpNetEntry, UdpState};
use procfs::process::Process;
use procfs::ProcError;
use serde::Serialize;

use super::document::{text, Envelope};
use super::fields::{self, dec, hex_u32, leading, lines};
use super::processes::{netns_of, process_reason, socket_fds, FdSocket};
use super::read::{bounded, is_gone, proc_reason, Privilege, MAX_TABLE};

/// `__SO_ACCEPTCON` in the `Flags` of `/proc/net/unix`: a listening socket.
const SO_ACCEPTCON: u32 = 0x0001_0000;

/// Network namespaces (by inode) and the processes in each, in pid order.
#[derive(Default)]
pub(super) struct NetNamespaces {
    pids: BTreeMap<u64, Vec<i32>>,
}

impl NetNamespaces {
    pub(super) fn add(&mut self, netns: u64, pid: i32) {
        self.pids.entry(netns).or_default().push(pid);
    }
}

/// The tables of every namespace read.
pub(super) struct Tables {
    pub namespaces: Vec<Namespace>,
    pub sockets: Vec<Socket>,
}

/// A network namespace whose tables were read.
#[derive(Serialize)]
pub(super) struct Namespace {
    /// The namespace's inode, when its `ns/net` link could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    netns: Option<u64>,
    /// The collector's own namespace, read through `/proc/self/net`.
    collector: bool,
    /// The process whose `/proc/PID/net` was read, for another namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    read_via_pid: Option<i32>,
    /// Tables the kernel does not offer in it (the protocol is not built
    /// or loaded, so it has no such sockets).
    absent: Vec<&'static str>,
}

/// One socket of a table.
#[derive(Serialize)]
pub(super) struct Socket {
    /// `protocol:inode`, the key the processes document refers to; absent
    /// for inode 0 (a TCP socket in TIME_WAIT belongs to no file).
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    pub protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    netns: Option<u64>,
    pub inode: u64,
    #[serde(flatten)]
    detail: Detail,
    owners: Vec<Owner>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Detail {
    Inet(Inet),
    Unix(Unix),
    Packet(Packet),
}

/// TCP, UDP and raw sockets; for raw sockets the local "port" is the IP
/// protocol number.
#[derive(Serialize)]
struct Inet {
    state: &'static str,
    local_address: String,
    local_port: u16,
    remote_address: String,
    remote_port: u16,
    uid: u32,
    tx_queue: u32,
    rx_queue: u32,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
struct Unix {
    #[serde(rename = "type")]
    kind: String,
    state: String,
    listening: bool,
    refcount: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_b64: Option<String>,
    #[serde(rename = "abstract", skip_serializing_if = "Option::is_none")]
    abstract_name: Option<String>,
    #[serde(rename = "abstract_b64", skip_serializing_if = "Option::is_none")]
    abstract_b64: Option<String>,
}

/// An `AF_PACKET` socket: it sees whole frames of one or all interfaces.
#[derive(Serialize, Debug, PartialEq, Eq)]
struct Packet {
    #[serde(rename = "type")]
    kind: String,
    /// The EtherType it receives, as the kernel prints it (0003 is every
    /// protocol, ETH_P_ALL).
    ethertype: String,
    /// 0 for every interface.
    ifindex: i32,
    running: bool,
    uid: u32,
    refcount: u32,
    rmem: u64,
}

/// A process holding a socket open.
#[derive(Serialize, Clone)]
struct Owner {
    pid: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    comm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comm_b64: Option<String>,
    fds: Vec<i32>,
}

#[derive(Serialize)]
pub(super) struct SocketsDoc {
    namespaces: Vec<Namespace>,
    count: usize,
    sockets: Vec<Socket>,
}

pub(super) fn capture(doc: &mut Envelope) -> SocketsDoc {
    let (namespaces, owners) = walk_owners(doc);
    let mut tables = read_tables(&namespaces, doc);
    for socket in &mut tables.sockets {
        if let Some(owners) = owners.get(&socket.inode) {
            socket.owners = owners.clone();
        }
    }
    if tables.namespaces.is_empty() {
        doc.nothing_read();
    }
    SocketsDoc {
        count: tables.sockets.len(),
        namespaces: tables.namespaces,
        sockets: tables.sockets,
    }
}

/// Every process's namespace and socket descriptors: the owners of each
/// socket inode.
fn walk_owners(doc: &mut Envelope) -> (NetNamespaces, HashMap<u64, Vec<Owner>>) {
    let mut namespaces = NetNamespaces::default();
    let mut owners: HashMap<u64, Vec<Owner>> = HashMap::new();
    let all = match procfs::process::all_processes() {
        Ok(all) => all,
        Err(e) => {
            doc.unavailable("socket owners (the process list, /proc)", proc_reason(&e));
            return (namespaces, owners);
        }
    };
    let privilege = Privilege::of_collector();
    let mut failed: BTreeMap<String, u64> = BTreeMap::new();
    for process in all.flatten() {
        let pid = process.pid();
        if let Ok(Some(netns)) = netns_of(&process) {
            namespaces.add(netns, pid);
        }
        let sockets = match socket_fds(&process) {
            Ok((sockets, _)) => sockets,
            Err(e) if is_gone(&e) => continue,
            Err(e) => {
                *failed.entry(process_reason(&e, privilege)).or_default() += 1;
                continue;
            }
        };
        if sockets.is_empty() {
            continue;
        }
        let comm = process
            .open_relative("comm")
            .ok()
            .and_then(|f| bounded(f, 4096).ok())
            .map(|whole| whole.bytes.strip_suffix(b"\n").map(<[u8]>::to_vec).unwrap_or(whole.bytes))
            .unwrap_or_default();
        let (comm, comm_b64) = text(&comm);
        let mut fds_by_inode: BTreeMap<u64, Vec<i32>> = BTreeMap::new();
        for FdSocket { fd, inode, .. } in sockets {
            fds_by_inode.entry(inode).or_default().push(fd);
        }
        for (inode, fds) in fds_by_inode {
            owners.entry(inode).or_default().push(Owner {
                pid,
                comm: comm.clone(),
                comm_b64: comm_b64.clone(),
                fds,
            });
        }
    }
    for (reason, count) in failed {
        doc.unavailable_for(
            "the sockets a process holds (/proc/PID/fd), so owners are incomplete",
            reason,
            count,
        );
    }
    (namespaces, owners)
}

/// Reads the tables of the collector's namespace and of every other one
/// listed, each through the first of its processes that is still there.
pub(super) fn read_tables(namespaces: &NetNamespaces, doc: &mut Envelope) -> Tables {
    let mut tables = Tables {
        namespaces: Vec::new(),
        sockets: Vec::new(),
    };
    let own = Process::myself().ok().and_then(|me| netns_of(&me).ok().flatten());
    match Process::myself() {
        Ok(me) => {
            if let Some(read) = read_namespace(&me, own, doc) {
                tables.namespaces.push(Namespace {
                    netns: own,
                    collector: true,
                    read_via_pid: None,
                    absent: read.absent,
                });
                tables.sockets.extend(read.sockets);
            }
        }
        Err(e) => doc.unavailable("the collector's socket tables (/proc/self/net)", proc_reason(&e)),
    }
    for (&netns, pids) in &namespaces.pids {
        if Some(netns) == own {
            continue;
        }
        let read = pids.iter().find_map(|&pid| {
            let process = Process::new(pid).ok()?;
            read_namespace(&process, Some(netns), doc).map(|read| (pid, read))
        });
        match read {
            Some((pid, read)) => {
                tables.namespaces.push(Namespace {
                    netns: Some(netns),
                    collector: false,
                    read_via_pid: Some(pid),
                    absent: read.absent,
                });
                tables.sockets.extend(read.sockets);
            }
            None => doc.unavailable(
                format!("the socket tables of network namespace {netns}"),
                "every process in it exited before its /proc/PID/net could be read",
            ),
        }
    }
    tables
}

struct NamespaceRead {
    sockets: Vec<Socket>,
    absent: Vec<&'static str>,
}

/// The tables, in the order they are listed.
const TABLES: [&str; 8] = ["tcp", "tcp6", "udp", "udp6", "raw", "raw6", "unix", "packet"];

/// Reads one namespace's tables through `process`; `None` when the process
/// is gone (its tables then say nothing of the namespace).
fn read_namespace(process: &Process, netns: Option<u64>, doc: &mut Envelope) -> Option<NamespaceRead> {
    let mut read = NamespaceRead {
        sockets: Vec::new(),
        absent: Vec::new(),
    };
    let mut failures = Vec::new();
    for table in TABLES {
        match read_table(process, table, netns, &mut read.sockets) {
            Ok(Problems { unparsed, cut }) => {
                if unparsed > 0 {
                    failures.push((
                        format!("lines of /proc/net/{table}"),
                        "not in the expected format".to_string(),
                        Some(unparsed),
                    ));
                }
                if cut {
                    failures.push((
                        format!("/proc/net/{table} past {MAX_TABLE} bytes"),
                        "the table is cut there".to_string(),
                        None,
                    ));
                }
            }
            Err(e) if is_gone(&e) => read.absent.push(table),
            Err(e) => failures.push((format!("/proc/net/{table}"), proc_reason(&e), None)),
        }
    }
    // IPv4 TCP and UNIX tables always exist: their absence means the
    // process went away while it was read.
    if read.absent.iter().any(|t| *t == "tcp" || *t == "unix") && !process.is_alive() {
        return None;
    }
    let ns = netns.map(|n| format!(" (network namespace {n})")).unwrap_or_default();
    for (what, reason, count) in failures {
        match count {
            Some(count) => doc.unavailable_for(format!("{what}{ns}"), reason, count),
            None => doc.unavailable(format!("{what}{ns}"), reason),
        }
    }
    Some(read)
}

/// What went wrong in a table that could be read.
struct Problems {
    unparsed: u64,
    cut: bool,
}

fn read_table(process: &Process, table: &'static str, netns: Option<u64>, out: &mut Vec<Socket>) -> Result<Problems, ProcError> {
    let path = format!("net/{table}");
    let socket = |inode: u64, detail: Detail| Socket {
        id: (inode != 0).then(|| format!("{table}:{inode}")),
        protocol: table,
        netns,
        inode,
        detail,
        owners: Vec::new(),
    };
    let clean = Problems { unparsed: 0, cut: false };
    match table {
        "tcp" | "tcp6" => {
            let entries = if table == "tcp" { process.tcp()? } else { process.tcp6()? };
            out.extend(entries.iter().map(|e| socket(e.inode, Detail::Inet(Inet::tcp(e)))));
            Ok(clean)
        }
        "udp" | "udp6" | "raw" | "raw6" => {
            // Raw tables have the UDP layout (the port is the protocol).
            let UdpNetEntries(entries) = process.read_si(&path)?;
            out.extend(entries.iter().map(|e| socket(e.inode, Detail::Inet(Inet::udp(e)))));
            Ok(clean)
        }
        _ => {
            let whole = bounded(process.open_relative(&path)?, MAX_TABLE)?;
            let unparsed = if table == "unix" {
                let (entries, unparsed) = parse_unix(&whole.bytes);
                out.extend(entries.into_iter().map(|(inode, unix)| socket(inode, Detail::Unix(unix))));
                unparsed
            } else {
                let (entries, unparsed) = parse_packet(&whole.bytes);
                out.extend(entries.into_iter().map(|(inode, packet)| socket(inode, Detail::Packet(packet))));
                unparsed
            };
            Ok(Problems { unparsed, cut: whole.cut })
        }
    }
}

impl Inet {
    fn tcp(e: &TcpNetEntry) -> Inet {
        Inet {
            state: tcp_state(&e.state),
            local_address: e.local_address.ip().to_string(),
            local_port: e.local_address.port(),
            remote_address: e.remote_address.ip().to_string(),
            remote_port: e.remote_address.port(),
            uid: e.uid,
            tx_queue: e.tx_queue,
            rx_queue: e.rx_queue,
        }
    }

    fn udp(e: &UdpNetEntry) -> Inet {
        Inet {
            state: match e.state {
                UdpState::Established => "ESTABLISHED",
                UdpState::Close => "CLOSE",
            },
            local_address: e.local_address.ip().to_string(),
            local_port: e.local_address.port(),
            remote_address: e.remote_address.ip().to_string(),
            remote_port: e.remote_address.port(),
            uid: e.uid,
            tx_queue: e.tx_queue,
            rx_queue: e.rx_queue,
        }
    }
}

/// The kernel's names of the TCP states (`include/net/tcp_states.h`).
fn tcp_state(state: &TcpState) -> &'static str {
    match state {
        TcpState::Established => "ESTABLISHED",
        TcpState::SynSent => "SYN_SENT",
        TcpState::SynRecv => "SYN_RECV",
        TcpState::FinWait1 => "FIN_WAIT1",
        TcpState::FinWait2 => "FIN_WAIT2",
        TcpState::TimeWait => "TIME_WAIT",
        TcpState::Close => "CLOSE",
        TcpState::CloseWait => "CLOSE_WAIT",
        TcpState::LastAck => "LAST_ACK",
        TcpState::Listen => "LISTEN",
        TcpState::Closing => "CLOSING",
        TcpState::NewSynRecv => "NEW_SYN_RECV",
    }
}

/// Socket type names (`SOCK_*`).
fn socket_type(kind: u32) -> String {
    match kind {
        1 => "stream".to_string(),
        2 => "dgram".to_string(),
        3 => "raw".to_string(),
        5 => "seqpacket".to_string(),
        other => other.to_string(),
    }
}

/// `/proc/net/unix`: inode and socket of each line that parses, and how
/// many other lines there were (the header excepted).
///
/// ```text
/// Num       RefCount Protocol Flags    Type St Inode Path
/// 0000000000000000: 00000002 00000000 00010000 0001 01 20863 /run/systemd/private
/// 0000000000000000: 00000003 00000000 00000000 0001 03 24570 @/tmp/.X11-unix/X0
/// ```
///
/// The path is the rest of the line after one space, printed raw: it may
/// hold spaces. An abstract name is printed after `@`, with each NUL byte
/// as `@` too.
fn parse_unix(table: &[u8]) -> (Vec<(u64, Unix)>, u64) {
    parse_lines(table, b"Num ", |line| {
        let (f, rest) = leading(line, 7)?;
        let (refcount, flags, kind, state, inode) = (hex_u32(f[1])?, hex_u32(f[3])?, hex_u32(f[4])?, hex_u32(f[5])?, dec(f[6])?);
        let name = match rest {
            b"" => None,
            _ => Some(rest.strip_prefix(b" ")?),
        };
        let (mut path, mut path_b64, mut abstract_name, mut abstract_b64) = (None, None, None, None);
        match name {
            Some(name) if name.first() == Some(&b'@') => (abstract_name, abstract_b64) = text(&name[1..]),
            Some(name) => (path, path_b64) = text(name),
            None => {}
        }
        let state = match state {
            1 => "unconnected".to_string(),
            2 => "connecting".to_string(),
            3 => "connected".to_string(),
            4 => "disconnecting".to_string(),
            other => other.to_string(),
        };
        let unix = Unix {
            kind: socket_type(kind),
            state,
            listening: flags & SO_ACCEPTCON != 0,
            refcount,
            path,
            path_b64,
            abstract_name,
            abstract_b64,
        };
        Some((inode, unix))
    })
}

/// `/proc/net/packet`:
///
/// ```text
/// sk               RefCnt Type Proto  Iface R Rmem   User   Inode
/// 0000000000000000 3      3    0003   2     1 0      0      21398
/// ```
fn parse_packet(table: &[u8]) -> (Vec<(u64, Packet)>, u64) {
    parse_lines(table, b"sk ", |line| {
        let f = fields::all(line);
        if f.len() != 9 {
            return None;
        }
        let packet = Packet {
            kind: socket_type(dec(f[2])?),
            ethertype: String::from_utf8(f[3].to_vec()).ok()?,
            ifindex: dec(f[4])?,
            running: dec::<u8>(f[5])? != 0,
            rmem: dec(f[6])?,
            uid: dec(f[7])?,
            refcount: dec(f[1])?,
        };
        hex_u32(f[3])?;
        Some((dec(f[8])?, packet))
    })
}

/// The parsed lines of a table whose first line is a header starting with
/// `header`, and the count of other lines that did not parse.
fn parse_lines<T>(table: &[u8], header: &[u8], parse: impl Fn(&[u8]) -> Option<T>) -> (Vec<T>, u64) {
    let mut parsed = Vec::new();
    let mut unparsed = 0;
    for (i, line) in lines(table).enumerate() {
        if i == 0 && line.starts_with(header) {
            continue;
        }
        match parse(line) {
            Some(item) => parsed.push(item),
            None => unparsed += 1,
        }
    }
    (parsed, unparsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIX: &[u8] = b"Num       RefCount Protocol Flags    Type St Inode Path\n\
0000000000000000: 00000002 00000000 00010000 0001 01 20863 /run/systemd/private\n\
0000000000000000: 00000003 00000000 00000000 0001 03 24570 @/tmp/.X11-unix/X0\n\
0000000000000000: 00000003 00000000 00000000 0002 03  9999\n\
0000000000000000: 00000002 00000000 00010000 0005 01 31337 /tmp/a path with spaces\n\
0000000000000000: 00000002 00000000 00000000 0001 01 31338 /tmp/\xff\n\
0000000000000000: 00000002 00000000 00000000 0001 01 31339 @@name@\n\
not a socket line\n";

    #[test]
    fn unix_paths_abstract_names_and_listeners() {
        let (sockets, unparsed) = parse_unix(UNIX);
        assert_eq!(unparsed, 1);
        assert_eq!(sockets.len(), 6);
        let (inode, listener) = &sockets[0];
        assert_eq!(*inode, 20863);
        assert_eq!(
            (listener.kind.as_str(), listener.state.as_str(), listener.listening),
            ("stream", "unconnected", true)
        );
        assert_eq!(listener.path.as_deref(), Some("/run/systemd/private"));
        assert_eq!(sockets[1].1.abstract_name.as_deref(), Some("/tmp/.X11-unix/X0"));
        assert_eq!((sockets[1].1.state.as_str(), sockets[1].1.listening), ("connected", false));
        assert_eq!(
            sockets[2],
            (
                9999,
                Unix {
                    kind: "dgram".into(),
                    state: "connected".into(),
                    listening: false,
                    refcount: 3,
                    path: None,
                    path_b64: None,
                    abstract_name: None,
                    abstract_b64: None
                }
            )
        );
        assert_eq!(sockets[3].1.path.as_deref(), Some("/tmp/a path with spaces"));
        assert_eq!(sockets[3].1.kind, "seqpacket");
        assert_eq!(sockets[4].1.path_b64.as_deref(), Some("L3RtcC//"));
        assert_eq!(sockets[5].1.abstract_name.as_deref(), Some("@name@"));
        let json = serde_json::to_value(&sockets[1].1).unwrap();
        assert_eq!(json["abstract"], "/tmp/.X11-unix/X0");
        assert_eq!(json["type"], "stream");
    }

    #[test]
    fn packet_sockets() {
        let table = b"sk               RefCnt Type Proto  Iface R Rmem   User   Inode\n\
0000000000000000 3      3    0003   2     1 0      0      21398\n\
0000000000000000 3      2    0800   0     0 4352   101    21399\n\
0000000000000000 3      2    08zz   0     0 4352   101    21400\n";
        let (sockets, unparsed) = parse_packet(table);
        assert_eq!(unparsed, 1);
        assert_eq!(
            sockets[0],
            (
                21398,
                Packet {
                    kind: "raw".into(),
                    ethertype: "0003".into(),
                    ifindex: 2,
                    running: true,
                    uid: 0,
                    refcount: 3,
                    rmem: 0
                }
            )
        );
        assert_eq!((sockets[1].0, sockets[1].1.kind.as_str(), sockets[1].1.uid), (21399, "dgram", 101));
    }

    #[test]
    fn raw_tables_read_as_udp_layout() {
        use procfs::FromReadSI;
        let raw = b"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
   1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 52731 2 0000000000000000 0\n";
        let UdpNetEntries(entries) = UdpNetEntries::from_read(&raw[..], procfs::current_system_info()).unwrap();
        let inet = Inet::udp(&entries[0]);
        assert_eq!((entries[0].inode, inet.local_port, inet.state), (52731, 1, "CLOSE"));
    }
}
