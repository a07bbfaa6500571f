//! Which archive members are logs this module reads, by their final path
//! components.

/// The logs read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    /// `auth.log` (Debian family) or `secure` (Red Hat family): syslog text.
    Auth,
    /// `wtmp`: utmp records of sessions.
    Wtmp,
    /// `btmp`: utmp records of failed logins.
    Btmp,
}

impl LogKind {
    /// As listed in [`super::LogRead::kind`].
    pub fn name(self) -> &'static str {
        match self {
            LogKind::Auth => "auth",
            LogKind::Wtmp => "wtmp",
            LogKind::Btmp => "btmp",
        }
    }
}

/// A member recognised as a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// Which log.
    pub kind: LogKind,
    /// The compression suffix when compressed (then it is not read).
    pub compressed: Option<&'static str>,
}

const NAMES: &[(&str, LogKind)] = &[
    ("auth.log", LogKind::Auth),
    ("secure", LogKind::Auth),
    ("wtmp", LogKind::Wtmp),
    ("btmp", LogKind::Btmp),
];

const COMPRESSED: &[&str] = &[".gz", ".xz", ".bz2", ".zst", ".lz4", ".Z"];

/// Classifies an archive path: a log name, optionally rotated (`.1`,
/// `-20261101`, `.1.gz`), in a directory named `log` (or at the top).
pub fn classify(path: &[u8]) -> Option<Found> {
    let path = std::str::from_utf8(path).ok()?;
    let path = path.trim_end_matches('/');
    let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
    let in_log_dir = dirs.is_empty() || dirs.split('/').any(|d| d == "log");
    if !in_log_dir {
        return None;
    }
    let (name, compressed) = match COMPRESSED.iter().find(|ext| name.ends_with(*ext)) {
        Some(ext) => (&name[..name.len() - ext.len()], Some(*ext)),
        None => (name, None),
    };
    let (_, kind) = NAMES.iter().find(|(base, _)| match name.strip_prefix(base) {
        Some("") => true,
        Some(rotation) => rotated(rotation),
        None => false,
    })?;
    Some(Found { kind: *kind, compressed })
}

/// `.N`, `-YYYYMMDD` or `-YYYY-MM-DD` (logrotate's numbered and dated
/// names).
fn rotated(suffix: &str) -> bool {
    let mut chars = suffix.chars();
    matches!(chars.next(), Some('.' | '-')) && suffix.len() > 1 && chars.all(|c| c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(path: &str) -> Option<(&'static str, Option<&'static str>)> {
        classify(path.as_bytes()).map(|f| (f.kind.name(), f.compressed))
    }

    #[test]
    fn names() {
        assert_eq!(kind("var/log/auth.log"), Some(("auth", None)));
        assert_eq!(kind("/var/log/auth.log.1"), Some(("auth", None)));
        assert_eq!(kind("src/var/log/secure-20261101"), Some(("auth", None)));
        assert_eq!(kind("var/log/auth.log.2.gz"), Some(("auth", Some(".gz"))));
        assert_eq!(kind("var/log/wtmp"), Some(("wtmp", None)));
        assert_eq!(kind("var/log/wtmp.1"), Some(("wtmp", None)));
        assert_eq!(kind("var/log/btmp-20261101.xz"), Some(("btmp", Some(".xz"))));
        assert_eq!(kind("auth.log"), Some(("auth", None)));
        assert_eq!(kind("var/log/auth.log.old"), None);
        assert_eq!(kind("var/log/secure.bak"), None);
        assert_eq!(kind("etc/secure"), None);
        assert_eq!(kind("var/log/nginx/access.log"), None);
        assert_eq!(kind("var/log/wtmpx"), None);
    }
}
