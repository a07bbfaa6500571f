//! The `network` step: the collector's network namespace as `/proc/net` and
//! `/sys/class/net` show it: interfaces (with their IPv6 addresses and
//! counters), the IPv4 addresses the host answers for, IPv4 and IPv6 routes,
//! the ARP table and whether the host forwards packets.
//!
//! What Linux offers only over netlink (an IPv4 address's interface and
//! prefix length, IPv6 neighbours) is listed as unavailable: custody takes
//! no netlink dependency for it. The tables are parsed here, not by the
//! procfs crate, because they hold interface names, which may be any bytes
//! but `/`, `:` and blanks; the crate reads them as UTF-8 lines and would
//! lose the whole table to one such name.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::os::unix::ffi::OsStrExt;

use serde::Serialize;

use super::document::{Envelope, Field};
use super::fields::{self, dec, hex_u32, hex_u64, ipv4_native, ipv6, lines};
use super::read::{io_reason, table, value, value_text};

#[derive(Serialize, Default)]
pub(super) struct Network {
    interfaces: Vec<Interface>,
    /// Local entries of `/proc/net/fib_trie`: the addresses (or, for a
    /// prefix shorter than 32, whole ranges) the host accepts as its own.
    ipv4_local: Vec<LocalRange>,
    routes: Vec<Route>,
    ipv6_routes: Vec<Route6>,
    arp: Vec<Neighbour>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv4_forwarding: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv6_forwarding: Option<bool>,
}

#[derive(Serialize)]
struct Interface {
    #[serde(flatten)]
    name: Field,
    #[serde(skip_serializing_if = "Option::is_none")]
    ifindex: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operstate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtu: Option<u32>,
    /// `flags` as sysfs prints it (hex), and by name (`PROMISC`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    flags: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flag_names: Option<Vec<&'static str>>,
    /// The ARPHRD link type (1 Ethernet, 772 loopback…).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<u32>,
    ipv6: Vec<Address6>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counters: Option<Counters>,
}

#[derive(Serialize, Debug, PartialEq, Eq, Clone)]
struct Address6 {
    address: String,
    prefix_len: u8,
    /// `global`, `host`, `link`, `site`, or the kernel's number.
    scope: String,
    /// `IFA_F_*` flags, as printed (hex).
    flags: String,
}

#[derive(Serialize, Debug, PartialEq, Eq, Clone, PartialOrd, Ord)]
struct LocalRange {
    address: Ipv4Addr,
    prefix_len: u8,
}

/// `/proc/net/dev`, in its order.
#[derive(Serialize, Debug, PartialEq, Eq, Clone, Default)]
struct Counters {
    rx_bytes: u64,
    rx_packets: u64,
    rx_errs: u64,
    rx_drop: u64,
    rx_fifo: u64,
    rx_frame: u64,
    rx_compressed: u64,
    rx_multicast: u64,
    tx_bytes: u64,
    tx_packets: u64,
    tx_errs: u64,
    tx_drop: u64,
    tx_fifo: u64,
    tx_colls: u64,
    tx_carrier: u64,
    tx_compressed: u64,
}

#[derive(Serialize)]
struct Route {
    #[serde(flatten)]
    interface: Field,
    destination: Ipv4Addr,
    gateway: Ipv4Addr,
    mask: Ipv4Addr,
    /// `RTF_*` flags as `route -n` prints them (`UG`).
    flags: String,
    metric: u32,
    mtu: u32,
    window: u32,
    irtt: u32,
    refcnt: u32,
    #[serde(rename = "use")]
    uses: u32,
}

#[derive(Serialize)]
struct Route6 {
    #[serde(flatten)]
    interface: Field,
    destination: String,
    prefix_len: u8,
    source: String,
    source_prefix_len: u8,
    next_hop: String,
    metric: u32,
    flags: String,
    refcnt: u32,
    #[serde(rename = "use")]
    uses: u32,
}

#[derive(Serialize)]
struct Neighbour {
    #[serde(flatten)]
    interface: Field,
    address: Ipv4Addr,
    mac: String,
    /// `ATF_*` flags (2 complete, 4 permanent, 8 published).
    flags: u32,
    hw_type: u32,
}

pub(super) fn capture(doc: &mut Envelope) -> Network {
    let mut net = Network::default();
    let mut read_any = false;
    let mut interfaces: BTreeMap<Vec<u8>, Interface> = BTreeMap::new();

    match sysfs_interfaces(doc) {
        Ok(list) => {
            read_any = true;
            interfaces.extend(list.into_iter().map(|i| (i.name.bytes().to_vec(), i)));
        }
        Err(e) => doc.unavailable("/sys/class/net", io_reason(&e)),
    }
    let mut table_of = |path: &str, doc: &mut Envelope| match table(path) {
        Ok(whole) => {
            read_any = true;
            if whole.cut {
                doc.unavailable(format!("{path} past its bound"), "the table is cut there");
            }
            Some(whole.bytes)
        }
        Err(e) => {
            doc.unavailable(path, io_reason(&e));
            None
        }
    };
    let unparsed = |doc: &mut Envelope, path: &str, count: u64| {
        if count > 0 {
            doc.unavailable_for(format!("lines of {path}"), "not in the expected format", count);
        }
    };

    if let Some(bytes) = table_of("/proc/net/dev", doc) {
        let (counters, bad) = parse_dev(&bytes);
        unparsed(doc, "/proc/net/dev", bad);
        for (name, counters) in counters {
            interfaces.entry(name.clone()).or_insert_with(|| Interface::named(name)).counters = Some(counters);
        }
    }
    // No if_inet6 means IPv6 is disabled: no addresses, nothing missing.
    if std::path::Path::new("/proc/net/if_inet6").exists() {
        if let Some(bytes) = table_of("/proc/net/if_inet6", doc) {
            let (addresses, bad) = parse_if_inet6(&bytes);
            unparsed(doc, "/proc/net/if_inet6", bad);
            for (name, address) in addresses {
                interfaces
                    .entry(name.clone())
                    .or_insert_with(|| Interface::named(name))
                    .ipv6
                    .push(address);
            }
        }
    }
    net.interfaces = interfaces.into_values().collect();
    net.interfaces.sort_by_key(|i| i.ifindex.unwrap_or(u32::MAX));

    if let Some(bytes) = table_of("/proc/net/fib_trie", doc) {
        net.ipv4_local = parse_fib_trie_local(&bytes);
    }
    doc.unavailable(
        "the interface and prefix length of each IPv4 address",
        "Linux offers them only over netlink (RTM_GETADDR) or ioctl, which custody does not use; \
         ipv4_local lists the addresses, and the routes their networks",
    );
    if let Some(bytes) = table_of("/proc/net/route", doc) {
        let (routes, bad) = parse_route(&bytes);
        unparsed(doc, "/proc/net/route", bad);
        net.routes = routes;
    }
    if std::path::Path::new("/proc/net/ipv6_route").exists() {
        if let Some(bytes) = table_of("/proc/net/ipv6_route", doc) {
            let (routes, bad) = parse_ipv6_route(&bytes);
            unparsed(doc, "/proc/net/ipv6_route", bad);
            net.ipv6_routes = routes;
        }
    }
    if let Some(bytes) = table_of("/proc/net/arp", doc) {
        let (arp, bad) = parse_arp(&bytes);
        unparsed(doc, "/proc/net/arp", bad);
        net.arp = arp;
    }
    doc.unavailable(
        "IPv6 neighbours (the NDP cache)",
        "Linux offers them only over netlink (RTM_GETNEIGH), which custody does not use",
    );
    net.ipv4_forwarding = value_text("/proc/sys/net/ipv4/ip_forward").ok().map(|v| v.trim() != "0");
    net.ipv6_forwarding = value_text("/proc/sys/net/ipv6/conf/all/forwarding").ok().map(|v| v.trim() != "0");

    if !read_any {
        doc.nothing_read();
    }
    net
}

impl Interface {
    fn named(name: Vec<u8>) -> Interface {
        Interface {
            name: Field::new("name", name),
            ifindex: None,
            mac: None,
            operstate: None,
            mtu: None,
            flags: None,
            flag_names: None,
            kind: None,
            ipv6: Vec::new(),
            counters: None,
        }
    }
}

/// The interfaces of `/sys/class/net`, with their attributes.
fn sysfs_interfaces(doc: &mut Envelope) -> std::io::Result<Vec<Interface>> {
    let mut list = Vec::new();
    for entry in std::fs::read_dir("/sys/class/net")? {
        let entry = entry?;
        let dir = entry.path();
        let mut interface = Interface::named(entry.file_name().as_bytes().to_vec());
        let mut attribute = |name: &str| match value(dir.join(name)) {
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) => {
                let what = format!("{} of interface {}", name, String::from_utf8_lossy(entry.file_name().as_bytes()));
                doc.unavailable(what, io_reason(&e));
                None
            }
        };
        interface.ifindex = attribute("ifindex").and_then(|v| v.parse().ok());
        interface.mac = attribute("address");
        interface.operstate = attribute("operstate");
        interface.mtu = attribute("mtu").and_then(|v| v.parse().ok());
        interface.kind = attribute("type").and_then(|v| v.parse().ok());
        if let Some(flags) = attribute("flags") {
            interface.flag_names = hex_u32(flags.as_bytes()).map(iff_names);
            interface.flags = Some(flags);
        }
        list.push(interface);
    }
    Ok(list)
}

/// `IFF_*` names (`linux/if.h`) of the bits set.
fn iff_names(flags: u32) -> Vec<&'static str> {
    const NAMES: [&str; 16] = [
        "UP",
        "BROADCAST",
        "DEBUG",
        "LOOPBACK",
        "POINTOPOINT",
        "NOTRAILERS",
        "RUNNING",
        "NOARP",
        "PROMISC",
        "ALLMULTI",
        "MASTER",
        "SLAVE",
        "MULTICAST",
        "PORTSEL",
        "AUTOMEDIA",
        "DYNAMIC",
    ];
    NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| flags & (1 << bit) != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// `/proc/net/dev`: two header lines, then `NAME: rx… tx…`.
///
/// ```text
/// Inter-|   Receive                                                |  Transmit
///  face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
///     lo:    1234      12    0    0    0     0          0         0     1234      12    0    0    0     0       0          0
/// ```
fn parse_dev(table: &[u8]) -> (Vec<(Vec<u8>, Counters)>, u64) {
    let mut out = Vec::new();
    let mut unparsed = 0;
    for line in lines(table) {
        if line.contains(&b'|') {
            continue;
        }
        let parsed = line.iter().position(|&b| b == b':').and_then(|colon| {
            let name = fields::all(&line[..colon]).first()?.to_vec();
            let n: Vec<u64> = fields::all(&line[colon + 1..]).into_iter().map(dec).collect::<Option<_>>()?;
            let n: [u64; 16] = n.try_into().ok()?;
            let counters = Counters {
                rx_bytes: n[0],
                rx_packets: n[1],
                rx_errs: n[2],
                rx_drop: n[3],
                rx_fifo: n[4],
                rx_frame: n[5],
                rx_compressed: n[6],
                rx_multicast: n[7],
                tx_bytes: n[8],
                tx_packets: n[9],
                tx_errs: n[10],
                tx_drop: n[11],
                tx_fifo: n[12],
                tx_colls: n[13],
                tx_carrier: n[14],
                tx_compressed: n[15],
            };
            Some((name, counters))
        });
        match parsed {
            Some(entry) => out.push(entry),
            None => unparsed += 1,
        }
    }
    (out, unparsed)
}

/// `/proc/net/if_inet6`: address, ifindex, prefix length, scope, flags
/// (hex), name.
///
/// ```text
/// fe800000000000000a0027fffe8a1b2c 02 40 20 80     eth0
/// ```
fn parse_if_inet6(table: &[u8]) -> (Vec<(Vec<u8>, Address6)>, u64) {
    let mut out = Vec::new();
    let mut unparsed = 0;
    for line in lines(table) {
        let parsed = (|| {
            let f = fields::all(line);
            if f.len() != 6 {
                return None;
            }
            let scope = match hex_u32(f[3])? {
                0x00 => "global".to_string(),
                0x10 => "host".to_string(),
                0x20 => "link".to_string(),
                0x40 => "site".to_string(),
                other => format!("{other:#04x}"),
            };
            let address = Address6 {
                address: ipv6(f[0])?.to_string(),
                prefix_len: u8::try_from(hex_u32(f[2])?).ok()?,
                scope,
                flags: format!("0x{}", String::from_utf8_lossy(f[4])),
            };
            hex_u32(f[4])?;
            Some((f[5].to_vec(), address))
        })();
        match parsed {
            Some(entry) => out.push(entry),
            None => unparsed += 1,
        }
    }
    (out, unparsed)
}

/// The `LOCAL` entries of `/proc/net/fib_trie`: each leaf's address is on a
/// `|-- ADDRESS` line, its routes on the lines after it (`/32 host LOCAL`).
/// The main and local tables may list the same entry: each is kept once.
///
/// ```text
/// Local:
///   +-- 0.0.0.0/0 3 0 5
///      |-- 127.0.0.0
///         /8 host LOCAL
///      |-- 127.0.0.1
///         /32 host LOCAL
///      |-- 127.255.255.255
///         /32 link BROADCAST
/// ```
fn parse_fib_trie_local(table: &[u8]) -> Vec<LocalRange> {
    let mut local = BTreeSet::new();
    let mut leaf: Option<Ipv4Addr> = None;
    for line in lines(table) {
        let f = fields::all(line);
        match f.as_slice() {
            [b"|--", address] => leaf = std::str::from_utf8(address).ok().and_then(|a| a.parse().ok()),
            [prefix, _scope, b"LOCAL", ..] if prefix.starts_with(b"/") => {
                if let (Some(address), Some(prefix_len)) = (leaf, dec::<u8>(&prefix[1..]).filter(|p| *p <= 32)) {
                    local.insert(LocalRange { address, prefix_len });
                }
            }
            [prefix, ..] if prefix.starts_with(b"/") => {}
            _ => leaf = None,
        }
    }
    local.into_iter().collect()
}

/// `/proc/net/route`: a header, then tab-separated fields (shown here
/// with spaces); addresses are the network-order word printed as a
/// host-order hex number.
///
/// ```text
/// Iface  Destination  Gateway   Flags  RefCnt  Use  Metric  Mask      MTU  Window  IRTT
/// eth0   00000000     0101A8C0  0003   0       0    100     00000000  0    0       0
/// ```
fn parse_route(table: &[u8]) -> (Vec<Route>, u64) {
    let mut out = Vec::new();
    let mut unparsed = 0;
    for (i, line) in lines(table).enumerate() {
        if i == 0 && line.starts_with(b"Iface") {
            continue;
        }
        let parsed = (|| {
            let f = fields::all(line);
            if f.len() != 11 {
                return None;
            }
            Some(Route {
                interface: Field::new("interface", f[0].to_vec()),
                destination: ipv4_native(f[1])?,
                gateway: ipv4_native(f[2])?,
                flags: route_flags(hex_u32(f[3])?),
                refcnt: dec(f[4])?,
                uses: dec(f[5])?,
                metric: dec(f[6])?,
                mask: ipv4_native(f[7])?,
                mtu: dec(f[8])?,
                window: dec(f[9])?,
                irtt: dec(f[10])?,
            })
        })();
        match parsed {
            Some(route) => out.push(route),
            None => unparsed += 1,
        }
    }
    (out, unparsed)
}

/// `RTF_*` flags as the letters of `route -n`.
fn route_flags(flags: u32) -> String {
    const LETTERS: [(u32, char); 9] = [
        (0x0001, 'U'),
        (0x0004, 'H'),
        (0x0002, 'G'),
        (0x0008, 'R'),
        (0x0010, 'D'),
        (0x0020, 'M'),
        (0x4_0000, 'A'),
        (0x100_0000, 'C'),
        (0x0200, '!'),
    ];
    LETTERS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, letter)| *letter)
        .collect()
}

/// `/proc/net/ipv6_route`: destination, its prefix length, source, its
/// prefix length, next hop, metric, reference count, use, flags (hex), and
/// the interface.
///
/// ```text
/// fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
/// ```
fn parse_ipv6_route(table: &[u8]) -> (Vec<Route6>, u64) {
    let mut out = Vec::new();
    let mut unparsed = 0;
    for line in lines(table) {
        let parsed = (|| {
            let f = fields::all(line);
            if f.len() != 10 {
                return None;
            }
            Some(Route6 {
                destination: ipv6(f[0])?.to_string(),
                prefix_len: u8::try_from(hex_u32(f[1])?).ok()?,
                source: ipv6(f[2])?.to_string(),
                source_prefix_len: u8::try_from(hex_u32(f[3])?).ok()?,
                next_hop: ipv6(f[4])?.to_string(),
                metric: hex_u32(f[5])?,
                refcnt: hex_u32(f[6])?,
                uses: hex_u32(f[7])?,
                flags: route_flags(hex_u32(f[8])?),
                interface: Field::new("interface", f[9].to_vec()),
            })
        })();
        match parsed {
            Some(route) => out.push(route),
            None => unparsed += 1,
        }
    }
    (out, unparsed)
}

/// `/proc/net/arp`:
///
/// ```text
/// IP address       HW type     Flags       HW address            Mask     Device
/// 192.168.1.1      0x1         0x2         52:54:00:12:34:56     *        eth0
/// ```
fn parse_arp(table: &[u8]) -> (Vec<Neighbour>, u64) {
    let mut out = Vec::new();
    let mut unparsed = 0;
    for (i, line) in lines(table).enumerate() {
        if i == 0 && line.starts_with(b"IP address") {
            continue;
        }
        let parsed = (|| {
            let f = fields::all(line);
            if f.len() != 6 {
                return None;
            }
            Some(Neighbour {
                address: std::str::from_utf8(f[0]).ok()?.parse().ok()?,
                hw_type: u32::try_from(hex_u64(f[1])?).ok()?,
                flags: u32::try_from(hex_u64(f[2])?).ok()?,
                mac: String::from_utf8(f[3].to_vec()).ok()?,
                interface: Field::new("interface", f[5].to_vec()),
            })
        })();
        match parsed {
            Some(neighbour) => out.push(neighbour),
            None => unparsed += 1,
        }
    }
    (out, unparsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIB_TRIE: &[u8] = b"Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.0.2.0/24 2 0 2
        +-- 10.0.2.0/28 2 0 2
           |-- 10.0.2.0
              /24 link UNICAST
           |-- 10.0.2.15
              /32 host LOCAL
        |-- 10.0.2.255
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     |-- 192.0.2.7
        /32 host LOCAL
        /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 10.0.2.15
        /32 host LOCAL
";

    #[test]
    fn fib_trie_local_entries_once_each() {
        let local = parse_fib_trie_local(FIB_TRIE);
        let shown: Vec<String> = local.iter().map(|l| format!("{}/{}", l.address, l.prefix_len)).collect();
        assert_eq!(shown, vec!["10.0.2.15/32", "127.0.0.0/8", "127.0.0.1/32", "192.0.2.7/32"]);
    }

    #[test]
    fn dev_counters() {
        let table = b"Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1234      12    0    0    0     0          0         0     1234      12    0    0    0     0       0          0
  eth0: 98765432 54321    1    2    3     4          5         6 12345678  4321    7    8    9    10      11         12
  bad: 1 2 3
";
        let (counters, unparsed) = parse_dev(table);
        assert_eq!(unparsed, 1);
        assert_eq!(counters[0].0, b"lo");
        assert_eq!(
            (counters[1].1.rx_bytes, counters[1].1.rx_multicast, counters[1].1.tx_compressed),
            (98765432, 6, 12)
        );
    }

    #[test]
    fn ipv6_addresses() {
        let table = b"00000000000000000000000000000001 01 80 10 80       lo
fe800000000000000a0027fffe8a1b2c 02 40 20 80     eth0
20010db8000000000000000000000007 02 40 00 00     eth0
";
        let (addresses, unparsed) = parse_if_inet6(table);
        assert_eq!(unparsed, 0);
        assert_eq!(
            addresses[0],
            (
                b"lo".to_vec(),
                Address6 {
                    address: "::1".into(),
                    prefix_len: 128,
                    scope: "host".into(),
                    flags: "0x80".into()
                }
            )
        );
        assert_eq!(
            (addresses[1].1.address.as_str(), addresses[1].1.scope.as_str()),
            ("fe80::a00:27ff:fe8a:1b2c", "link")
        );
        assert_eq!((addresses[2].1.address.as_str(), addresses[2].1.prefix_len), ("2001:db8::7", 64));
    }

    #[test]
    fn ipv4_routes() {
        let gateway = format!("{:08X}", u32::from_ne_bytes([192, 168, 1, 1]));
        let net = format!("{:08X}", u32::from_ne_bytes([192, 168, 1, 0]));
        let mask = format!("{:08X}", u32::from_ne_bytes([255, 255, 255, 0]));
        let table = format!(
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\t\n\
             eth0\t00000000\t{gateway}\t0003\t0\t0\t100\t00000000\t0\t0\t0\t\n\
             eth0\t{net}\t00000000\t0001\t0\t0\t100\t{mask}\t0\t0\t0\t\n"
        );
        let (routes, unparsed) = parse_route(table.as_bytes());
        assert_eq!(unparsed, 0);
        assert_eq!(
            (routes[0].gateway.to_string(), routes[0].flags.as_str(), routes[0].metric),
            ("192.168.1.1".into(), "UG", 100)
        );
        assert_eq!(
            (routes[1].destination.to_string(), routes[1].mask.to_string()),
            ("192.168.1.0".into(), "255.255.255.0".into())
        );
        let json = serde_json::to_value(&routes[1]).unwrap();
        assert_eq!(json["interface"], "eth0");
        assert_eq!(json["use"], 0);
    }

    #[test]
    fn ipv6_routes() {
        let table = b"fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000002 0000001f 00040003     eth0
";
        let (routes, unparsed) = parse_ipv6_route(table);
        assert_eq!(unparsed, 0);
        assert_eq!(
            (routes[0].destination.as_str(), routes[0].prefix_len, routes[0].metric),
            ("fe80::", 64, 256)
        );
        assert_eq!(
            (routes[1].next_hop.as_str(), routes[1].flags.as_str(), routes[1].uses),
            ("fe80::1", "UGA", 31)
        );
    }

    #[test]
    fn arp_entries() {
        let table = b"IP address       HW type     Flags       HW address            Mask     Device
192.168.1.1      0x1         0x2         52:54:00:12:34:56     *        eth0
192.168.1.9      0x1         0x0         00:00:00:00:00:00     *        eth\xff
";
        let (arp, unparsed) = parse_arp(table);
        assert_eq!(unparsed, 0);
        assert_eq!(
            (arp[0].address.to_string(), arp[0].mac.as_str(), arp[0].flags),
            ("192.168.1.1".into(), "52:54:00:12:34:56", 2)
        );
        let json = serde_json::to_value(&arp[1]).unwrap();
        assert_eq!(json["interface_b64"], "ZXRo/w==");
    }

    #[test]
    fn interface_flags_by_name() {
        assert_eq!(iff_names(0x1103), vec!["UP", "BROADCAST", "PROMISC", "MULTICAST"]);
        assert_eq!(route_flags(0x0007), "UHG");
    }
}
