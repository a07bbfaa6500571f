//! Sizes and durations as people write and read them.

/// A size as given on the command line: a number of bytes, or a number
/// with a binary suffix, `K`/`KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB` (`KB`,
/// `MB`, ... are read as the same binary units, which is what `ls -h` and
/// `du -h` show), with or without a space. `256M`, `256 MiB` and
/// `268435456` are the same size.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size: write a whole number of bytes, or one with K, M, G or T (256M = 256 MiB)"))?;
    if unit.starts_with(['.', ',']) {
        return Err(format!("{text:?}: give a whole number with its unit (1536M, not 1.5G)"));
    }
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        other => {
            return Err(format!(
                "{text:?}: unknown size unit {other:?}; use K, M, G or T (binary: 1K = 1024 bytes)"
            ))
        }
    };
    n.checked_mul(1u64 << shift)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("{text:?} is out of range: give at least 1 byte and at most 16 EiB"))
}

/// A duration as a profile or the command line gives it: seconds, with an
/// optional fraction, and an optional unit `ms`, `s`, `m`/`min` or `h`.
/// `30`, `30s`, `1.5 s`, `2m` and `500ms` are all durations.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: write seconds (30, 30s, 1.5s) or minutes (2m)"))?;
    let scale = match unit.trim() {
        "" | "s" | "sec" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("{text:?}: unknown duration unit {other:?}; use ms, s, m or h")),
    };
    let secs = n * scale;
    if !(secs > 0.0 && secs <= 7.0 * 86_400.0) {
        return Err(format!("{text:?} is out of range: give more than 0 and at most a week"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// `1.5 GiB`, `512 B`: binary units with three significant digits.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{n} B"),
        _ if v < 10.0 => format!("{v:.2} {}", UNITS[unit]),
        _ if v < 100.0 => format!("{v:.1} {}", UNITS[unit]),
        _ => format!("{v:.0} {}", UNITS[unit]),
    }
}

/// `0.42 s`, `3 min 07 s`, `2 h 05 min`.
pub fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{:.2} s", d.as_secs_f64()),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

/// `12,345`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 checkpoint`, `3 checkpoints`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        for (text, want) in [
            ("268435456", 268_435_456),
            ("256M", 256 << 20),
            ("256 MiB", 256 << 20),
            ("256mb", 256 << 20),
            ("1G", 1 << 30),
            ("64k", 64 << 10),
            ("2T", 2u64 << 40),
            ("7B", 7),
        ] {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for bad in ["", "M", "1.5G", "-1", "0", "12X", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn durations_read_as_people_write_them() {
        use std::time::Duration;
        for (text, want) in [
            ("30", Duration::from_secs(30)),
            ("30s", Duration::from_secs(30)),
            ("1.5 s", Duration::from_millis(1500)),
            ("2m", Duration::from_secs(120)),
            ("2 min", Duration::from_secs(120)),
            ("500ms", Duration::from_millis(500)),
            ("1h", Duration::from_secs(3600)),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for bad in ["", "s", "0", "-1s", "1.2.3", "5 days", "20000m"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(12_345), "12,345");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn sizes_and_durations_print_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(300 << 20), "300 MiB");
        assert_eq!(human_bytes(25 << 30), "25.0 GiB");
        assert_eq!(human_duration(std::time::Duration::from_millis(420)), "0.42 s");
        assert_eq!(human_duration(std::time::Duration::from_secs(187)), "3 min 07 s");
        assert_eq!(human_duration(std::time::Duration::from_secs(7500)), "2 h 05 min");
        assert_eq!(count(1, "checkpoint", "checkpoints"), "1 checkpoint");
        assert_eq!(count(3, "checkpoint", "checkpoints"), "3 checkpoints");
    }
}
