//! Running the commands a collection profile names (`ss -tanp`, `ps auxwwf`,
//! `last -F`, ...) on the host being collected, each with a timeout, and
//! recording what happened in a `custody-command/1` document.
//!
//! [`run`] looks the program up in a fixed [`SEARCH_PATH`], pins and hashes
//! the executable, runs exactly that file with a fixed environment in a
//! process group of its own, and keeps at most `max_output` bytes of each
//! output stream. It never fails: a program that is missing or cannot be
//! started is an outcome, recorded like any other. docs/LIVE-RESPONSE.md ("Commands")
//! explains the choices and the record's fields.
//!
//! The parts:
//! - `executable`: the lookup, pinning and hashing of the program;
//! - `capture`: the output readers;
//! - `watch`: the timeout, the kill sequence and reaping;
//! - `record`: the document's types.

mod capture;
mod executable;
mod record;
mod watch;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use executable::{Lookup, PinError, Pinned};
use record::{Bytes, CommandRecord, StreamFacts};
use watch::Ended;

/// A command a profile names.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct CommandSpec {
    /// Short name, used in member names: [A-Za-z0-9._-]+ (validate in `CommandSpec::check`).
    pub name: String,
    /// Program and arguments. The program is looked up in `SEARCH_PATH` unless it is absolute.
    pub argv: Vec<String>,
    /// Timeout in seconds (fractions allowed).
    pub timeout_secs: f64,
}

/// The fixed search path commands are looked up in (the caller's PATH is not trusted on a compromised host).
pub const SEARCH_PATH: &[&str] = &["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// Largest stdout or stderr kept per command; the rest is drained and counted, not kept.
pub const MAX_OUTPUT: usize = 32 * 1024 * 1024;

/// Longest name accepted, in bytes (it becomes part of archive member names).
const MAX_NAME_LEN: usize = 128;

/// Longest timeout accepted, in seconds (a day).
const MAX_TIMEOUT_SECS: f64 = 86_400.0;

impl CommandSpec {
    /// Check the spec before anything runs: the name is 1 to 128 of
    /// `A-Z a-z 0-9 . _ -`; the program is a bare name or an absolute path;
    /// no argument holds a NUL byte; the timeout is above 0 and at most a
    /// day. The message says what is wrong and how to fix it.
    pub fn check(&self) -> Result<(), String> {
        let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if self.name.is_empty() || self.name.len() > MAX_NAME_LEN || !self.name.chars().all(name_ok) {
            return Err(format!(
                "command name {:?} is not usable in member names: use 1 to {MAX_NAME_LEN} of the characters A-Z a-z 0-9 . _ -",
                self.name
            ));
        }
        let Some(program) = self.argv.first() else {
            return Err(format!("command {:?} has no program: give argv at least one element", self.name));
        };
        if program.is_empty() || (program.contains('/') && !program.starts_with('/')) {
            return Err(format!(
                "command {:?}: program {program:?} must be a bare name (looked up in the fixed search path) or an absolute path",
                self.name
            ));
        }
        if self.argv.iter().any(|a| a.contains('\0')) {
            return Err(format!(
                "command {:?}: an argument holds a NUL byte, which cannot be passed to a program",
                self.name
            ));
        }
        if !(self.timeout_secs > 0.0 && self.timeout_secs <= MAX_TIMEOUT_SECS) {
            return Err(format!(
                "command {:?}: timeout {} s is out of range: give a number of seconds above 0 and at most {MAX_TIMEOUT_SECS}",
                self.name, self.timeout_secs
            ));
        }
        Ok(())
    }
}

/// What one run produced.
#[derive(Debug)]
pub struct CommandRun {
    /// The result document (JSON bytes, ending in "\n").
    pub record: Vec<u8>,
    /// Standard output as kept (at most `max_output` bytes).
    pub stdout: Vec<u8>,
    /// Standard error as kept (at most `max_output` bytes).
    pub stderr: Vec<u8>,
    /// "ok" (exit 0), "failed" (nonzero exit or killed by a signal other than ours), "timed-out", "not-found", "not-run" (could not be started: permission, exec format...)
    pub outcome: &'static str,
    /// Unix seconds when it started (for the members' mtime).
    pub started_secs: i64,
}

/// Run `spec` once and record what happened. It never fails and never
/// blocks much longer than the timeout: at most the timeout plus 5 s (1 s
/// from SIGTERM to SIGKILL, 2 s for the process to die, 2 s for its output
/// to end), plus the time hashing the executable takes.
pub fn run(spec: &CommandSpec, max_output: usize) -> CommandRun {
    let (started, started_secs) = crate::collect::now_rfc3339();
    let env = environment();
    let mut rec = new_record(spec, max_output, started, &env);
    if let Err(e) = spec.check() {
        return finish(rec, "not-run", Some(e), started_secs, Vec::new(), Vec::new());
    }
    let (found, searched) = executable::lookup(&spec.argv[0]);
    rec.searched = searched;
    let Lookup::Found(path) = found else {
        let e = not_found_message(spec, &rec.searched);
        return finish(rec, "not-found", Some(e), started_secs, Vec::new(), Vec::new());
    };
    let pinned = match executable::pin(&path) {
        Ok(p) => p,
        Err(PinError::Gone(e)) => {
            let e = format!("{path} went away before it could be opened: {e}");
            return finish(rec, "not-found", Some(e), started_secs, Vec::new(), Vec::new());
        }
        Err(PinError::Unusable(e)) => return finish(rec, "not-run", Some(e), started_secs, Vec::new(), Vec::new()),
    };
    start_and_watch(spec, max_output, &env, rec, pinned)
}

/// Start the pinned executable and watch it to the end.
fn start_and_watch(
    spec: &CommandSpec,
    max_output: usize,
    env: &[(String, OsString)],
    mut rec: CommandRecord,
    mut pinned: Pinned,
) -> CommandRun {
    let timeout = Duration::from_secs_f64(spec.timeout_secs);
    let (started, started_secs) = crate::collect::now_rfc3339();
    rec.started = started;
    let clock = Instant::now();
    let child = pinned.prepare_exec().and_then(|()| command(spec, &pinned, env).spawn());
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            let e = format!("could not start {}: {e}", pinned.facts.path);
            rec.executable = Some(pinned.into_facts());
            return finish(rec, "not-run", Some(e), started_secs, Vec::new(), Vec::new());
        }
    };
    rec.pid = Some(child.id());
    pinned.check_after_start();
    if pinned.facts.unchanged_at_exec == Some(false) {
        rec.notes
            .push("the executable's size, mtime or ctime changed between hashing and the start".into());
    }
    // Closes the descriptor now: left open for a script, a command started
    // by another thread meanwhile would inherit it.
    rec.executable = Some(pinned.into_facts());
    let ended = watch::watch(child, clock, timeout, max_output);
    rec.duration_secs = clock.elapsed().as_secs_f64();
    let outcome = outcome(&ended);
    let (stdout, stderr, error) = fill_from(&mut rec, ended);
    finish(rec, outcome, error, started_secs, stdout, stderr)
}

/// The process to start: the pinned file, with the name as given as
/// `argv[0]`, the fixed environment, `/` as working directory, stdin from
/// `/dev/null`, and a process group of its own.
fn command(spec: &CommandSpec, pinned: &Pinned, env: &[(String, OsString)]) -> Command {
    let mut cmd = Command::new(pinned.exec_path());
    cmd.arg0(&spec.argv[0])
        .args(&spec.argv[1..])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(record::WORKING_DIRECTORY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    cmd
}

/// The environment commands get: `PATH` (the search path), `LC_ALL=C` and
/// `TZ=UTC` so output is in a known form, and `HOME` and `USER` from this
/// process when set (some tools want them).
fn environment() -> Vec<(String, OsString)> {
    let mut env = vec![
        ("PATH".to_owned(), OsString::from(SEARCH_PATH.join(":"))),
        ("LC_ALL".to_owned(), OsString::from("C")),
        ("TZ".to_owned(), OsString::from("UTC")),
    ];
    for name in ["HOME", "USER"] {
        if let Some(value) = std::env::var_os(name) {
            env.push((name.to_owned(), value));
        }
    }
    env
}

fn new_record(spec: &CommandSpec, max_output: usize, started: String, env: &[(String, OsString)]) -> CommandRecord {
    CommandRecord {
        schema: record::SCHEMA,
        name: spec.name.clone(),
        argv: spec.argv.clone(),
        search_path: SEARCH_PATH,
        searched: Vec::new(),
        executable: None,
        cwd: record::WORKING_DIRECTORY,
        stdin: record::STDIN,
        environment: env.iter().map(|(k, v)| (k.clone(), Bytes::new(v.as_bytes()))).collect(),
        ended: started.clone(),
        started,
        duration_secs: 0.0,
        timeout_secs: spec.timeout_secs,
        max_output: max_output as u64,
        outcome: "",
        pid: None,
        exit_code: None,
        signal: None,
        core_dumped: false,
        timed_out: false,
        reaped: false,
        signals_sent: Vec::new(),
        leftover_processes: Vec::new(),
        stdout: StreamFacts::empty(),
        stderr: StreamFacts::empty(),
        error: None,
        notes: Vec::new(),
    }
}

fn not_found_message(spec: &CommandSpec, searched: &[String]) -> String {
    if searched.is_empty() {
        format!("{} does not exist", spec.argv[0])
    } else {
        format!("{} is not in the search path (looked for {})", spec.argv[0], searched.join(", "))
    }
}

/// `timed-out` when the timeout passed, whatever the exit; else `ok` for
/// exit 0 and `failed` for anything else.
fn outcome(ended: &Ended) -> &'static str {
    if ended.aborted.is_some() {
        "not-run"
    } else if ended.timed_out {
        "timed-out"
    } else if ended.status.is_some_and(|s| s.success()) {
        "ok"
    } else {
        "failed"
    }
}

/// Move what the watch found into the record; returns the kept output and
/// the error, if any.
fn fill_from(rec: &mut CommandRecord, ended: Ended) -> (Vec<u8>, Vec<u8>, Option<String>) {
    if let Some(status) = ended.status {
        rec.exit_code = status.code();
        rec.signal = status.signal();
        rec.core_dumped = status.core_dumped();
    }
    rec.timed_out = ended.timed_out;
    rec.reaped = ended.reaped;
    rec.signals_sent = ended.signals_sent;
    rec.leftover_processes = ended.leftovers;
    rec.notes.extend(ended.notes);
    rec.stdout = ended.stdout.1;
    rec.stderr = ended.stderr.1;
    (ended.stdout.0, ended.stderr.0, ended.aborted)
}

fn finish(
    mut rec: CommandRecord,
    outcome: &'static str,
    error: Option<String>,
    started_secs: i64,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
) -> CommandRun {
    rec.ended = crate::collect::now_rfc3339().0;
    rec.outcome = outcome;
    rec.error = error;
    CommandRun {
        record: crate::format::doc::to_document_bytes(&rec),
        stdout,
        stderr,
        outcome,
        started_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn spec(name: &str, argv: &[&str], timeout_secs: f64) -> CommandSpec {
        CommandSpec {
            name: name.into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            timeout_secs,
        }
    }

    #[test]
    fn names_are_checked() {
        for good in ["ss", "ps-auxwwf", "docker_ps.all", "A9", &"x".repeat(MAX_NAME_LEN)] {
            assert_eq!(spec(good, &["true"], 1.0).check(), Ok(()), "{good}");
        }
        for bad in ["", "a/b", "../x", "a b", "é", "a\0", "a\n", &"x".repeat(MAX_NAME_LEN + 1)] {
            let e = spec(bad, &["true"], 1.0).check().unwrap_err();
            assert!(e.contains("A-Z a-z 0-9 . _ -"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn programs_arguments_and_timeouts_are_checked() {
        assert!(spec("x", &[], 1.0).check().unwrap_err().contains("no program"));
        assert!(spec("x", &[""], 1.0).check().is_err());
        assert!(spec("x", &["./ss"], 1.0).check().unwrap_err().contains("bare name"));
        assert!(spec("x", &["bin/ss"], 1.0).check().is_err());
        assert_eq!(spec("x", &["/usr/bin/ss"], 1.0).check(), Ok(()));
        assert!(spec("x", &["ss", "a\0b"], 1.0).check().unwrap_err().contains("NUL"));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_TIMEOUT_SECS + 1.0] {
            assert!(spec("x", &["ss"], bad).check().unwrap_err().contains("timeout"), "{bad}");
        }
        assert_eq!(spec("x", &["ss"], 0.25).check(), Ok(()));
    }

    #[test]
    fn an_invalid_spec_is_recorded_not_run() {
        let run = run(&spec("a/b", &["true"], 1.0), 100);
        assert_eq!(run.outcome, "not-run");
        let doc: serde_json::Value = serde_json::from_slice(&run.record).unwrap();
        assert_eq!(doc["outcome"], "not-run");
        assert!(doc["error"].as_str().unwrap().contains("member names"));
        assert!(doc["pid"].is_null());
    }

    #[test]
    fn the_environment_is_fixed() {
        let env: BTreeMap<String, OsString> = environment().into_iter().collect();
        assert_eq!(env["PATH"], "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        assert_eq!(env["LC_ALL"], "C");
        assert_eq!(env["TZ"], "UTC");
        assert!(env.keys().all(|k| ["PATH", "LC_ALL", "TZ", "HOME", "USER"].contains(&k.as_str())));
    }
}
