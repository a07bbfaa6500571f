//! Collection profiles: which paths to collect, what to leave out, the size
//! caps on content that is not a log, and the live-response steps and
//! commands to run before the files. A profile is a TOML file, specified in
//! docs/COLLECTION.md ("Profiles"); the built-in ones ship inside the
//! binary, from `profiles/`.
//!
//! A profile is data only. [`Profile::resolve`] turns its path patterns into
//! the sources of this host, and [`Profile::walk_options`] its exclusions and
//! caps into the walk's rules, so that a collection, its progress pre-scan
//! and `--plan` all pass over exactly the same entries for the same reasons.

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobSetBuilder};
use serde::Deserialize;

use crate::source::{self, SizeCap, WalkOptions};
use crate::units::{parse_duration, parse_size};

pub mod plan;

/// The built-in profiles: name and TOML text, in the order `custody
/// profiles` lists them.
pub const BUILTIN: &[(&str, &str)] = &[
    ("devserver", include_str!("../../profiles/devserver.toml")),
    ("minimal", include_str!("../../profiles/minimal.toml")),
];

/// The profile `custody collect` uses when given no path.
pub const DEFAULT: &str = "devserver";

/// The timeout of a command whose profile gives none.
pub const DEFAULT_COMMAND_TIMEOUT_SECS: f64 = 30.0;

/// A profile that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProfileError(pub String);

/// A collection profile, checked.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Its name.
    pub name: String,
    /// What it is for, in a sentence.
    pub description: String,
    /// `built in`, or the file it was read from.
    pub origin: String,
    /// The TOML text, exactly as read (the archive keeps it).
    pub text: String,
    /// Areas, in collection order.
    pub areas: Vec<Area>,
    /// Exclusions, matched against absolute paths.
    pub excludes: Vec<Exclude>,
    /// Live-response steps, by name, in the order they run.
    pub live_steps: Vec<crate::live::Step>,
    /// Commands, in the order they run, after the live-response steps.
    pub commands: Vec<Command>,
}

/// A named group of paths with one size cap.
#[derive(Debug, Clone)]
pub struct Area {
    /// Its name (`logs`, `homes`).
    pub name: String,
    /// Why it is collected.
    pub why: String,
    /// Absolute paths; a component may be a glob (`/home/*`).
    pub paths: Vec<String>,
    /// Largest regular file collected, unless `keep` matches it; `None`:
    /// no cap.
    pub max_file_size: Option<u64>,
    /// Files collected whatever their size: the profile's own `keep` globs
    /// and the area's.
    pub keep: Vec<String>,
}

/// Paths a profile leaves out.
#[derive(Debug, Clone)]
pub struct Exclude {
    /// Glob over absolute paths (`**/.cache`).
    pub glob: String,
    /// Why they are left out.
    pub why: String,
}

/// A command to run, with its timeout.
#[derive(Debug, Clone)]
pub struct Command {
    /// Short name, used in member names.
    pub name: String,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Seconds before it is killed.
    pub timeout_secs: f64,
    /// Why it is run.
    pub why: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileToml {
    name: String,
    description: String,
    max_file_size: Option<String>,
    #[serde(default)]
    keep: Vec<String>,
    #[serde(default, rename = "area")]
    areas: Vec<AreaToml>,
    #[serde(default, rename = "exclude")]
    excludes: Vec<ExcludeToml>,
    #[serde(default)]
    live: LiveToml,
    #[serde(default, rename = "command")]
    commands: Vec<CommandToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AreaToml {
    name: String,
    why: String,
    paths: Vec<String>,
    max_file_size: Option<String>,
    #[serde(default)]
    keep: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExcludeToml {
    glob: String,
    why: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LiveToml {
    #[serde(default)]
    steps: Vec<String>,
    command_timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandToml {
    name: String,
    argv: Vec<String>,
    timeout: Option<String>,
    why: Option<String>,
}

/// The profile called `name`, or read from the file `name`. A name that is
/// both a built-in profile and a file in the current directory means the
/// built-in one; write `./NAME` for the file.
pub fn load(name: &str) -> Result<Profile, ProfileError> {
    if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name) {
        return parse(text, "built in");
    }
    let path = Path::new(name);
    if !name.contains('/') && !path.exists() {
        return Err(ProfileError(format!(
            "no profile is called {name:?}; the built-in profiles are {} (`custody profiles` lists them), or give a profile file's path",
            builtin_names().join(", ")
        )));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| ProfileError(format!("the profile file {} cannot be read: {e}", path.display())))?;
    parse(&text, &path.display().to_string())
}

/// The names of the built-in profiles.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// Read and check a profile's TOML; `origin` says where it came from, in
/// messages and in the archive.
pub fn parse(text: &str, origin: &str) -> Result<Profile, ProfileError> {
    let bad = |what: String| ProfileError(format!("profile {origin}: {what}"));
    let raw: ProfileToml = toml::from_str(text).map_err(|e| bad(e.to_string().trim_end().to_string()))?;
    let size = |text: &Option<String>, default: Option<u64>, whose: &str| -> Result<Option<u64>, ProfileError> {
        match text.as_deref() {
            None => Ok(default),
            Some("unlimited") => Ok(None),
            Some(t) => parse_size(t)
                .map(Some)
                .map_err(|e| bad(format!("{whose} max_file_size: {e} (or \"unlimited\")"))),
        }
    };
    let default_cap = size(&raw.max_file_size, None, "the profile's")?;
    if raw.name.trim().is_empty() {
        return Err(bad("its name is empty".into()));
    }
    for g in &raw.keep {
        glob(g).map_err(|e| bad(format!("keep {g:?}: {e}")))?;
    }
    let mut areas = Vec::new();
    for a in raw.areas {
        if a.paths.is_empty() {
            return Err(bad(format!("area {:?} names no path", a.name)));
        }
        if let Some(p) = a.paths.iter().find(|p| !p.starts_with('/')) {
            return Err(bad(format!("area {:?}: the path {p:?} is not absolute", a.name)));
        }
        for g in &a.keep {
            glob(g).map_err(|e| bad(format!("area {:?} keep {g:?}: {e}", a.name)))?;
        }
        if areas.iter().any(|b: &Area| b.name == a.name) {
            return Err(bad(format!("two areas are called {:?}", a.name)));
        }
        let max_file_size = size(&a.max_file_size, default_cap, &format!("area {:?}", a.name))?;
        let mut keep = raw.keep.clone();
        keep.extend(a.keep);
        areas.push(Area {
            name: a.name,
            why: a.why,
            paths: a.paths,
            max_file_size,
            keep,
        });
    }
    let mut excludes = Vec::new();
    for e in raw.excludes {
        glob(&e.glob).map_err(|err| bad(format!("exclude {:?}: {err}", e.glob)))?;
        excludes.push(Exclude { glob: e.glob, why: e.why });
    }
    let default_timeout = match &raw.live.command_timeout {
        Some(t) => parse_duration(t)
            .map_err(|e| bad(format!("live.command_timeout: {e}")))?
            .as_secs_f64(),
        None => DEFAULT_COMMAND_TIMEOUT_SECS,
    };
    let mut commands: Vec<Command> = Vec::new();
    for c in raw.commands {
        if c.name.is_empty() || !c.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) || c.name.starts_with('.') {
            return Err(bad(format!(
                "command name {:?}: use letters, digits, '.', '_' and '-' (it names archive members)",
                c.name
            )));
        }
        if commands.iter().any(|d| d.name == c.name) {
            return Err(bad(format!("two commands are called {:?}", c.name)));
        }
        if c.argv.first().is_none_or(|p| p.is_empty()) {
            return Err(bad(format!("command {:?} has no program", c.name)));
        }
        let timeout_secs = match &c.timeout {
            Some(t) => parse_duration(t)
                .map_err(|e| bad(format!("command {:?} timeout: {e}", c.name)))?
                .as_secs_f64(),
            None => default_timeout,
        };
        let command = Command {
            name: c.name,
            argv: c.argv,
            timeout_secs,
            why: c.why,
        };
        command
            .spec()
            .check()
            .map_err(|e| bad(format!("command {:?}: {e}", command.name)))?;
        commands.push(command);
    }
    let mut live_steps = Vec::new();
    for name in &raw.live.steps {
        let step: crate::live::Step = name.parse().map_err(|e| bad(format!("live.steps: {e}")))?;
        if live_steps.contains(&step) {
            return Err(bad(format!("live.steps names {name:?} twice")));
        }
        live_steps.push(step);
    }
    if areas.is_empty() && live_steps.is_empty() && commands.is_empty() {
        return Err(bad(
            "it names no area, live-response step or command: there is nothing to collect".into()
        ));
    }
    Ok(Profile {
        name: raw.name,
        description: raw.description,
        origin: origin.into(),
        text: text.into(),
        areas,
        excludes,
        live_steps,
        commands,
    })
}

/// A glob as profiles and `--exclude` write them: over absolute paths, `*`
/// crossing `/` as `**` does (globset's default).
fn glob(text: &str) -> Result<Glob, globset::Error> {
    Glob::new(text)
}

/// What a profile's paths are on this host.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// Sources to walk, in the profile's order.
    pub sources: Vec<PathBuf>,
    /// The area of each source, by index into the profile's areas.
    pub area_of: Vec<usize>,
    /// Paths, or patterns that matched nothing, absent on this host: area
    /// index and the path as the profile writes it.
    pub absent: Vec<(usize, String)>,
    /// Sources left out because another source already holds them: the
    /// path and the source that holds it.
    pub nested: Vec<(PathBuf, PathBuf)>,
}

impl Command {
    /// What the runner takes.
    pub fn spec(&self) -> crate::live::command::CommandSpec {
        crate::live::command::CommandSpec {
            name: self.name.clone(),
            argv: self.argv.clone(),
            timeout_secs: self.timeout_secs,
        }
    }

    /// Where the fixed search path finds the program now, if it does.
    pub fn program(&self) -> Option<PathBuf> {
        let program = Path::new(self.argv.first()?);
        if program.is_absolute() {
            return std::fs::symlink_metadata(program).is_ok().then(|| program.to_path_buf());
        }
        crate::live::command::SEARCH_PATH
            .iter()
            .map(|d| Path::new(d).join(program))
            .find(|p| std::fs::symlink_metadata(p).is_ok())
    }
}

/// The walk's rules for PATHs collected without a profile: `--exclude`'s
/// globs only.
pub fn command_line_walk(excludes: &[String]) -> Result<WalkOptions, ProfileError> {
    let none = Profile {
        name: String::new(),
        description: String::new(),
        origin: String::new(),
        text: String::new(),
        areas: Vec::new(),
        excludes: Vec::new(),
        live_steps: Vec::new(),
        commands: Vec::new(),
    };
    none.walk_options(&Resolution::default(), excludes)
}

impl Profile {
    /// Add the command line's PATHs as one more area, without a cap.
    pub fn add_paths(&mut self, paths: &[PathBuf]) {
        if paths.is_empty() {
            return;
        }
        self.areas.push(Area {
            name: "command line".into(),
            why: "named on the command line".into(),
            paths: paths
                .iter()
                .map(|p| source::absolute(p).unwrap_or_else(|_| p.clone()).to_string_lossy().into_owned())
                .collect(),
            max_file_size: None,
            keep: Vec::new(),
        });
    }

    /// The sources this profile names on this host. A pattern component
    /// (`*`, `?`, `[...]`) is matched against the names in its directory,
    /// sorted by their bytes; a symlink it matches is a source like any
    /// other (archived as a symlink, never followed). A source inside
    /// another one is dropped and listed in [`Resolution::nested`]: the
    /// walk of the outer one collects it.
    pub fn resolve(&self) -> Resolution {
        let mut r = Resolution::default();
        for (i, area) in self.areas.iter().enumerate() {
            for pattern in &area.paths {
                let found = expand(pattern);
                if found.is_empty() {
                    r.absent.push((i, pattern.clone()));
                }
                for path in found {
                    let Ok(path) = source::absolute(&path) else { continue };
                    if let Some(outer) = r.sources.iter().find(|s| path.starts_with(s)) {
                        r.nested.push((path, outer.clone()));
                        continue;
                    }
                    // A later path may hold earlier ones: it takes their place.
                    let inner: Vec<usize> = (0..r.sources.len()).filter(|&k| r.sources[k].starts_with(&path)).collect();
                    for &k in inner.iter().rev() {
                        let dropped = r.sources.remove(k);
                        r.area_of.remove(k);
                        r.nested.push((dropped, path.clone()));
                    }
                    r.sources.push(path);
                    r.area_of.push(i);
                }
            }
        }
        r
    }

    /// The walk's rules for `resolution`: the profile's exclusions (each
    /// with its reason) after `extra_excludes` (`--exclude`), and each
    /// source's cap.
    pub fn walk_options(&self, resolution: &Resolution, extra_excludes: &[String]) -> Result<WalkOptions, ProfileError> {
        let mut set = GlobSetBuilder::new();
        let mut reasons = Vec::new();
        for g in extra_excludes {
            set.add(glob(g).map_err(|e| ProfileError(format!("--exclude {g:?} is not a valid glob: {e}")))?);
            reasons.push("excluded by --exclude".to_string());
        }
        for e in &self.excludes {
            set.add(glob(&e.glob).map_err(|err| ProfileError(err.to_string()))?);
            reasons.push(format!("excluded by profile {} ({}): {}", self.name, e.glob, e.why));
        }
        let mut opts = WalkOptions::new();
        opts.excludes = set.build().map_err(|e| ProfileError(e.to_string()))?;
        opts.exclude_reasons = reasons;
        for (source, &i) in resolution.sources.iter().zip(&resolution.area_of) {
            let area = &self.areas[i];
            let Some(max) = area.max_file_size else { continue };
            let mut keep = GlobSetBuilder::new();
            for g in &area.keep {
                keep.add(glob(g).map_err(|e| ProfileError(e.to_string()))?);
            }
            opts.caps.push(SizeCap {
                root: source.clone(),
                max,
                keep: keep.build().map_err(|e| ProfileError(e.to_string()))?,
                origin: format!("area {:?} of profile {}", area.name, self.name),
            });
        }
        Ok(opts)
    }

    /// The statement a collection records as `.custody/live/profile.json`:
    /// the profile's TOML as read and its SHA-256, and what it resolved to
    /// on this host (docs/COLLECTION.md, "The profile in the archive").
    pub fn statement(&self, r: &Resolution, extra_excludes: &[String], live: bool) -> Vec<u8> {
        use sha2::Digest;
        let text = |p: &Path| p.to_string_lossy().into_owned();
        let areas: Vec<serde_json::Value> = self
            .areas
            .iter()
            .enumerate()
            .map(|(i, a)| {
                serde_json::json!({
                    "name": a.name,
                    "paths": a.paths,
                    "max_file_size": a.max_file_size,
                    "keep": a.keep,
                    "sources": r.sources.iter().zip(&r.area_of).filter(|(_, &k)| k == i).map(|(s, _)| text(s)).collect::<Vec<_>>(),
                    "absent": r.absent.iter().filter(|(k, _)| *k == i).map(|(_, p)| p).collect::<Vec<_>>(),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "schema": "custody-profile/1",
            "name": self.name,
            "origin": self.origin,
            "toml_sha256": hex::encode(sha2::Sha256::digest(self.text.as_bytes())),
            "toml": self.text,
            "areas": areas,
            "nested": r.nested.iter().map(|(p, o)| serde_json::json!({"path": text(p), "inside": text(o)})).collect::<Vec<_>>(),
            "excludes": self.excludes.iter().map(|e| serde_json::json!({"glob": e.glob, "why": e.why})).collect::<Vec<_>>(),
            "command_line_excludes": extra_excludes,
            "live_steps": self.live_steps.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "commands": self.commands.iter().map(|c| serde_json::json!({"name": c.name, "argv": c.argv, "timeout_secs": c.timeout_secs})).collect::<Vec<_>>(),
            "live_response": if live { "run" } else { "skipped (--no-live)" },
        });
        let mut bytes = serde_json::to_vec_pretty(&doc).expect("JSON values serialize");
        bytes.push(b'\n');
        bytes
    }

    /// Every exclusion glob, `--exclude`'s first, as the header records them.
    pub fn exclude_patterns(&self, extra_excludes: &[String]) -> Vec<String> {
        extra_excludes
            .iter()
            .cloned()
            .chain(self.excludes.iter().map(|e| e.glob.clone()))
            .collect()
    }
}

/// The paths a profile path names: itself if it has no pattern component
/// and exists (a dangling symlink exists), else every match, sorted.
fn expand(pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/")];
    for part in Path::new(pattern).components().skip(1) {
        let name = part.as_os_str();
        let is_pattern = name.as_bytes().iter().any(|b| b"*?[".contains(b));
        let mut next = Vec::new();
        for dir in &found {
            if !is_pattern {
                next.push(dir.join(name));
                continue;
            }
            let Ok(matcher) = GlobBuilder::new(&name.to_string_lossy()).literal_separator(true).build() else {
                continue;
            };
            let matcher = matcher.compile_matcher();
            let Ok(names) = source::list_names(dir) else { continue };
            next.extend(
                names
                    .into_iter()
                    .map(std::ffi::OsString::from_vec)
                    .filter(|n| matcher.is_match(n))
                    .map(|n| dir.join(n)),
            );
        }
        found = next;
    }
    found.retain(|p| std::fs::symlink_metadata(p).is_ok());
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_profiles_parse() {
        for (name, text) in BUILTIN {
            let p = parse(text, "built in").unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&p.name, name);
            assert!(!p.areas.is_empty(), "{name}");
        }
        let dev = load(DEFAULT).unwrap();
        let logs = dev.areas.iter().find(|a| a.paths.iter().any(|p| p == "/var/log")).unwrap();
        assert_eq!(logs.max_file_size, None, "logs are never capped");
        assert!(dev.commands.iter().all(|c| c.timeout_secs > 0.0));
    }

    #[test]
    fn bad_profiles_are_refused_with_the_reason() {
        let cases = [
            ("name = \"x\"\ndescription = \"d\"\n", "nothing to collect"),
            (
                "name = \"x\"\ndescription = \"d\"\n[[area]]\nname = \"a\"\nwhy = \"w\"\npaths = [\"etc\"]\n",
                "not absolute",
            ),
            (
                "name = \"x\"\ndescription = \"d\"\n[[area]]\nname = \"a\"\nwhy = \"w\"\npaths = [\"/etc\"]\nmax_file_size = \"1.5G\"\n",
                "whole number",
            ),
            ("name = \"x\"\ndescription = \"d\"\npathz = 1\n", "unknown field"),
            (
                "name = \"x\"\ndescription = \"d\"\n[[command]]\nname = \"../x\"\nargv = [\"ls\"]\n",
                "command name",
            ),
            (
                "name = \"x\"\ndescription = \"d\"\n[[command]]\nname = \"ls\"\nargv = [\"ls\"]\ntimeout = \"0s\"\n",
                "out of range",
            ),
            (
                "name = \"x\"\ndescription = \"d\"\n[[exclude]]\nglob = \"[\"\nwhy = \"w\"\n[live]\nsteps = [\"system\"]\n",
                "exclude",
            ),
            ("name = \"x\"\ndescription = \"d\"\n[live]\nsteps = [\"procs\"]\n", "processes"),
            (
                "name = \"x\"\ndescription = \"d\"\n[live]\nsteps = [\"system\", \"system\"]\n",
                "twice",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text, "test").unwrap_err().to_string();
            assert!(err.contains(want), "{text:?} gave {err:?}, not {want:?}");
        }
        let err = load("no-such-profile").unwrap_err().to_string();
        assert!(err.contains("devserver") && err.contains("custody profiles"), "{err}");
    }

    #[test]
    fn paths_resolve_with_globs_absences_and_nesting() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["home/bob", "home/alice", "home/.hidden", "srv/app/conf"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::os::unix::fs::symlink("/nonexistent", d.join("home/dangling")).unwrap();
        let text = format!(
            "name = \"t\"\ndescription = \"d\"\nmax_file_size = \"1M\"\n\
             [[area]]\nname = \"homes\"\nwhy = \"w\"\npaths = [\"{0}/home/*\", \"{0}/none/*\"]\n\
             [[area]]\nname = \"app\"\nwhy = \"w\"\npaths = [\"{0}/srv/app/conf\", \"{0}/srv\", \"{0}/home/alice/x\", \"{0}/gone\"]\nmax_file_size = \"unlimited\"\n",
            d.display()
        );
        let p = parse(&text, "test").unwrap();
        let r = p.resolve();
        let names: Vec<String> = r.sources.iter().map(|s| s.strip_prefix(d).unwrap().display().to_string()).collect();
        assert_eq!(names, ["home/.hidden", "home/alice", "home/bob", "home/dangling", "srv"]);
        assert_eq!(r.area_of, [0, 0, 0, 0, 1]);
        let absent: Vec<&str> = r.absent.iter().map(|(_, p)| p.rsplit('/').next().unwrap()).collect();
        assert_eq!(absent, ["*", "x", "gone"]);
        assert_eq!(r.nested.len(), 1, "srv/app/conf is inside srv: {:?}", r.nested);
        let opts = p.walk_options(&r, &["/x/**".into()]).unwrap();
        assert_eq!(opts.caps.len(), 4, "only the homes are capped");
        assert_eq!(opts.excluded(Path::new("/x/y")).as_deref(), Some("excluded by --exclude"));
    }

    #[test]
    fn a_cap_spares_what_keep_names() {
        let text = "name = \"t\"\ndescription = \"d\"\nmax_file_size = \"1K\"\nkeep = [\"**/*.log\"]\n\
                    [[area]]\nname = \"a\"\nwhy = \"w\"\npaths = [\"/tmp\"]\nkeep = [\"**/.bash_history\"]\n\
                    [[exclude]]\nglob = \"**/.cache\"\nwhy = \"caches\"\n";
        let p = parse(text, "test").unwrap();
        let r = Resolution {
            sources: vec!["/tmp".into()],
            area_of: vec![0],
            ..Default::default()
        };
        let opts = p.walk_options(&r, &[]).unwrap();
        let cap = &opts.caps[0];
        assert!(cap
            .refuses(Path::new("/tmp/a.bin"), 1025)
            .unwrap()
            .contains("area \"a\" of profile t"));
        assert_eq!(cap.refuses(Path::new("/tmp/a.bin"), 1024), None);
        assert_eq!(cap.refuses(Path::new("/tmp/x/app.log"), 1 << 30), None);
        assert_eq!(cap.refuses(Path::new("/tmp/u/.bash_history"), 1 << 30), None);
        let why = opts.excluded(Path::new("/home/u/.cache")).unwrap();
        assert!(why.contains("profile t") && why.contains("caches"), "{why}");
    }
}
