//! Splitting the kernel's text tables into fields, as bytes.
//!
//! The tables custody parses itself are those holding names that someone
//! on the host chooses (mount points, socket paths, interface and module
//! names). Such a name may be any bytes, and one that is not UTF-8 must
//! cost neither the line nor, as with a reader of UTF-8 lines, the whole
//! table.

/// The lines of a table, without their newlines (and without the empty
/// piece after the last newline).
pub(super) fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    (!bytes.is_empty())
        .then_some(body)
        .into_iter()
        .flat_map(|body| body.split(|&b| b == b'\n'))
}

/// The first `n` fields separated by spaces or tabs, and the rest of the
/// line after the last of them (with its separator), for a last field
/// that may hold spaces.
pub(super) fn leading(line: &[u8], n: usize) -> Option<(Vec<&[u8]>, &[u8])> {
    let mut rest = line;
    let mut fields = Vec::with_capacity(n);
    for _ in 0..n {
        let start = rest.iter().position(|&b| !is_blank(b))?;
        rest = &rest[start..];
        let end = rest.iter().position(|&b| is_blank(b)).unwrap_or(rest.len());
        fields.push(&rest[..end]);
        rest = &rest[end..];
    }
    Some((fields, rest))
}

/// All fields separated by spaces or tabs.
pub(super) fn all(line: &[u8]) -> Vec<&[u8]> {
    line.split(|&b| is_blank(b)).filter(|f| !f.is_empty()).collect()
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A decimal field.
pub(super) fn dec<T: std::str::FromStr>(field: &[u8]) -> Option<T> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// A hexadecimal field, with or without `0x`.
pub(super) fn hex_u64(field: &[u8]) -> Option<u64> {
    let digits = field.strip_prefix(b"0x").unwrap_or(field);
    u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// A hexadecimal field that fits in 32 bits.
pub(super) fn hex_u32(field: &[u8]) -> Option<u32> {
    hex_u64(field).and_then(|v| u32::try_from(v).ok())
}

/// 32 hex digits: an IPv6 address in network order, as `/proc/net/if_inet6`
/// and `/proc/net/ipv6_route` print it.
pub(super) fn ipv6(field: &[u8]) -> Option<std::net::Ipv6Addr> {
    if field.len() != 32 {
        return None;
    }
    let value = u128::from_str_radix(std::str::from_utf8(field).ok()?, 16).ok()?;
    Some(std::net::Ipv6Addr::from(value))
}

/// 8 hex digits: an IPv4 address as `/proc/net/route` prints it, the
/// network-order word read as a host-order number.
pub(super) fn ipv4_native(field: &[u8]) -> Option<std::net::Ipv4Addr> {
    if field.len() != 8 {
        return None;
    }
    Some(std::net::Ipv4Addr::from(hex_u32(field)?.to_ne_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_fields() {
        assert_eq!(lines(b"a\nb c\n").collect::<Vec<_>>(), vec![&b"a"[..], &b"b c"[..]]);
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"\n").collect::<Vec<_>>(), vec![&b""[..]]);
        let (f, rest) = leading(b"  1 02  3 /a path", 3).unwrap();
        assert_eq!((f, rest), (vec![&b"1"[..], &b"02"[..], &b"3"[..]], &b" /a path"[..]));
        assert!(leading(b"1 2", 3).is_none());
        assert_eq!(all(b" a\tb  c "), vec![&b"a"[..], &b"b"[..], &b"c"[..]]);
    }

    #[test]
    fn numbers_and_addresses() {
        assert_eq!(dec::<u32>(b"42"), Some(42));
        assert_eq!(dec::<u32>(b"-"), None);
        assert_eq!(hex_u64(b"0x1f"), Some(31));
        assert_eq!(hex_u32(b"1ffffffff"), None);
        assert_eq!(ipv6(b"fe800000000000000000000000000001").unwrap().to_string(), "fe80::1");
        assert_eq!(ipv6(b"01"), None);
        let loopback = ipv4_native(format!("{:08X}", u32::from_ne_bytes([127, 0, 0, 1])).as_bytes());
        assert_eq!(loopback.unwrap().to_string(), "127.0.0.1");
    }
}
