//! Where a member lies: its area (for coverage and the timeline) and,
//! when it is one, the persistence or hiding place an intruder uses
//! (docs/REPORT.md, "Areas" and "Persistence places").

use globset::{Glob, GlobSet, GlobSetBuilder};

/// Top-level directories whose second component is the area (`var/log`,
/// `usr/share`): one level says too little there.
const TWO_LEVEL: &[&str] = &["var", "usr", "srv", "opt", "run"];

/// The area of an archive path (no leading `/`): its first component, or
/// its first two under [`TWO_LEVEL`] directories; `.` for the root.
pub fn area_of(path: &[u8]) -> String {
    let path = path.strip_suffix(b"/").unwrap_or(path);
    let mut parts = path.split(|&b| b == b'/').filter(|p| !p.is_empty());
    let Some(first) = parts.next() else {
        return ".".into();
    };
    let first = String::from_utf8_lossy(first).into_owned();
    if TWO_LEVEL.contains(&first.as_str()) {
        if let Some(second) = parts.next() {
            return format!("{first}/{}", String::from_utf8_lossy(second));
        }
    }
    first
}

/// Persistence and hiding places: an id (its name in the catalogs is
/// `place-ID`) and the globs of archive paths that belong to it. The first
/// place whose globs match names the member.
pub const PLACES: &[(&str, &[&str])] = &[
    (
        "ssh-keys",
        &[
            "**/.ssh/authorized_keys*",
            "etc/ssh/authorized_keys/**",
            "**/.ssh/rc",
            "etc/ssh/sshrc",
        ],
    ),
    ("ssh-config", &["etc/ssh/sshd_config", "etc/ssh/sshd_config.d/**", "**/.ssh/config"]),
    (
        "accounts",
        &["etc/passwd", "etc/shadow", "etc/group", "etc/gshadow", "etc/subuid", "etc/subgid"],
    ),
    ("sudoers", &["etc/sudoers", "etc/sudoers.d/**"]),
    ("preload", &["etc/ld.so.preload", "etc/ld.so.conf", "etc/ld.so.conf.d/**"]),
    (
        "cron",
        &[
            "etc/crontab",
            "etc/anacrontab",
            "etc/cron.d/**",
            "etc/cron.hourly/**",
            "etc/cron.daily/**",
            "etc/cron.weekly/**",
            "etc/cron.monthly/**",
            "var/spool/cron/**",
            "var/spool/anacron/**",
            "var/spool/at/**",
            "var/spool/atjobs/**",
        ],
    ),
    (
        "services",
        &[
            "etc/systemd/system/**",
            "etc/systemd/user/**",
            "usr/lib/systemd/system/**",
            "lib/systemd/system/**",
            "**/.config/systemd/user/**",
            "etc/init.d/**",
            "etc/rc.local",
            "etc/xdg/autostart/**",
            "**/.config/autostart/**",
        ],
    ),
    (
        "pam",
        &["etc/pam.d/**", "etc/security/**", "lib/security/**", "usr/lib/*/security/**"],
    ),
    (
        "shell-startup",
        &[
            "**/.bashrc",
            "**/.bash_profile",
            "**/.bash_login",
            "**/.bash_logout",
            "**/.profile",
            "**/.zshrc",
            "**/.zprofile",
            "**/.zshenv",
            "**/.zlogin",
            "etc/profile",
            "etc/profile.d/**",
            "etc/bash.bashrc",
            "etc/bashrc",
            "etc/environment",
            "etc/zsh/**",
        ],
    ),
    (
        "shell-history",
        &["**/.*_history", "**/.histfile", "**/.local/share/fish/fish_history"],
    ),
    (
        "web-root",
        &[
            "var/www/**",
            "srv/www/**",
            "srv/http/**",
            "usr/share/nginx/html/**",
            "var/lib/tomcat*/webapps/**",
        ],
    ),
    ("temp", &["tmp/**", "var/tmp/**", "dev/shm/**"]),
];

/// Matches archive paths against [`PLACES`].
pub struct PlaceMatcher {
    set: GlobSet,
    /// The place of each glob of `set`, by glob index.
    place_of: Vec<&'static str>,
}

impl PlaceMatcher {
    /// The matcher of [`PLACES`].
    pub fn new() -> Self {
        let mut builder = GlobSetBuilder::new();
        let mut place_of = Vec::new();
        for (place, globs) in PLACES {
            for g in *globs {
                // The globs are constants: a bad one is a bug the unit tests catch.
                let glob = Glob::new(g).unwrap_or_else(|e| panic!("bad place glob {g}: {e}"));
                builder.add(glob);
                place_of.push(*place);
            }
        }
        let set = builder.build().unwrap_or_else(|e| panic!("place globs: {e}"));
        PlaceMatcher { set, place_of }
    }

    /// The place of archive path `path` (no leading `/`), if it is one.
    pub fn place_of(&self, path: &[u8]) -> Option<&'static str> {
        let path = path.strip_suffix(b"/").unwrap_or(path);
        let text = String::from_utf8_lossy(path);
        self.set.matches(text.as_ref()).into_iter().min().map(|i| self.place_of[i])
    }
}

impl Default for PlaceMatcher {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_group_by_first_or_second_component() {
        assert_eq!(area_of(b"etc/ssh/sshd_config"), "etc");
        assert_eq!(area_of(b"etc/"), "etc");
        assert_eq!(area_of(b"var/log/auth.log"), "var/log");
        assert_eq!(area_of(b"var/"), "var");
        assert_eq!(area_of(b"usr/share/doc/x/README"), "usr/share");
        assert_eq!(area_of(b"home/alice/.bashrc"), "home");
        assert_eq!(area_of(b"./"), ".");
    }

    #[test]
    fn places_match_what_intruders_touch() {
        let m = PlaceMatcher::new();
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"home/alice/.ssh/authorized_keys", Some("ssh-keys")),
            (b"root/.ssh/authorized_keys2", Some("ssh-keys")),
            (b"root/.bashrc", Some("shell-startup")),
            (b"home/bob/.bash_history", Some("shell-history")),
            (b"etc/cron.d/evil", Some("cron")),
            (b"var/spool/cron/crontabs/root", Some("cron")),
            (b"etc/systemd/system/backdoor.service", Some("services")),
            (b"etc/sudoers.d/90-x", Some("sudoers")),
            (b"etc/shadow", Some("accounts")),
            (b"etc/ld.so.preload", Some("preload")),
            (b"var/www/html/shell.php", Some("web-root")),
            (b"tmp/.x/payload", Some("temp")),
            (b"dev/shm/a", Some("temp")),
            (b"var/tmp/x", Some("temp")),
            (b"etc/hostname", None),
            (b"usr/share/doc/bash/README", None),
            (b"etc/passwd-", None),
        ];
        for (path, want) in cases {
            assert_eq!(m.place_of(path), *want, "{}", String::from_utf8_lossy(path));
        }
    }
}
