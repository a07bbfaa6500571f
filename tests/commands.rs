//! Live-response commands run as real processes: timeouts and the kill
//! sequence, captured output and its limits, the executable's identity, and
//! programs that are missing or cannot be started.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use custody::live::command::{run, CommandRun, CommandSpec, MAX_OUTPUT, SEARCH_PATH};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn spec(name: &str, argv: &[&str], timeout_secs: f64) -> CommandSpec {
    CommandSpec {
        name: name.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        timeout_secs,
    }
}

/// Run and return the run, its record parsed, and how long it took.
fn run_timed(spec: &CommandSpec, max_output: usize) -> (CommandRun, Value, Duration) {
    let clock = Instant::now();
    let run = run(spec, max_output);
    let took = clock.elapsed();
    assert_eq!(run.record.last(), Some(&b'\n'), "the record ends in a newline");
    let doc: Value = serde_json::from_slice(&run.record).expect("the record is JSON");
    assert_eq!(doc["schema"], "custody-command/1");
    assert_eq!(doc["outcome"], run.outcome);
    (run, doc, took)
}

fn gone(pid: u64) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether `pid` is dead: gone, or a zombie waiting for its new parent
/// (init, for an orphan) to reap it.
fn dead(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn a_command_past_its_timeout_is_terminated_and_reaped() {
    let (run, doc, took) = run_timed(&spec("sleep", &["sleep", "600"], 2.0), MAX_OUTPUT);
    assert_eq!(run.outcome, "timed-out");
    assert!(took >= Duration::from_secs(2), "returned before the timeout: {took:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(doc["timed_out"], true);
    assert_eq!(doc["reaped"], true);
    assert_eq!(doc["signal"], 15, "{doc}");
    assert!(doc["exit_code"].is_null());
    assert_eq!(doc["signals_sent"][0]["signal"], "SIGTERM");
    assert_eq!(doc["signals_sent"][0]["reason"], "timeout");
    assert!(doc["signals_sent"][0]["after_secs"].as_f64().unwrap() >= 2.0);
    assert!(doc["duration_secs"].as_f64().unwrap() >= 2.0);
    let pid = doc["pid"].as_u64().unwrap();
    assert!(gone(pid), "process {pid} is still there (a zombie?)");
}

#[test]
fn a_command_that_ignores_sigterm_is_killed_after_the_grace() {
    let argv = ["sh", "-c", "trap '' TERM; sleep 600"];
    let (run, doc, took) = run_timed(&spec("stubborn", &argv, 1.0), MAX_OUTPUT);
    assert_eq!(run.outcome, "timed-out");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert_eq!(doc["signal"], 9, "{doc}");
    let sent: Vec<&str> = doc["signals_sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signal"].as_str().unwrap())
        .collect();
    // A SIGKILL for leftovers may follow, for a child still dying.
    assert_eq!(sent[..3], ["SIGTERM", "SIGCONT", "SIGKILL"]);
    assert_eq!(doc["signals_sent"][2]["reason"], "grace-expired");
    assert!(gone(doc["pid"].as_u64().unwrap()));
}

#[test]
fn a_stopped_command_is_continued_so_that_sigterm_ends_it() {
    let (run, doc, took) = run_timed(&spec("stopped", &["sh", "-c", "kill -STOP $$"], 1.0), MAX_OUTPUT);
    assert_eq!(run.outcome, "timed-out");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    // Without SIGCONT the SIGTERM would wait, and SIGKILL would end it.
    assert_eq!(doc["signal"], 15, "{doc}");
}

#[test]
fn output_error_output_and_exit_code_are_captured() {
    let argv = ["sh", "-c", "echo out; echo err >&2; exit 3"];
    let (run, doc, _) = run_timed(&spec("three", &argv, 10.0), MAX_OUTPUT);
    assert_eq!(run.outcome, "failed");
    assert_eq!(run.stdout, b"out\n");
    assert_eq!(run.stderr, b"err\n");
    assert_eq!(doc["exit_code"], 3);
    assert!(doc["signal"].is_null());
    assert_eq!(doc["timed_out"], false);
    assert!(doc["signals_sent"].as_array().unwrap().is_empty());
    assert!(doc["error"].is_null());
    for (stream, bytes) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert_eq!(doc[stream]["bytes"], 4);
        assert_eq!(doc[stream]["written"], 4);
        assert_eq!(doc[stream]["truncated"], false);
        assert_eq!(doc[stream]["complete"], true);
        assert_eq!(doc[stream]["sha256"], sha256_hex(bytes));
    }
}

#[test]
fn exit_zero_is_ok_and_times_are_recorded() {
    let before = time::OffsetDateTime::now_utc().unix_timestamp();
    let (run, doc, _) = run_timed(&spec("true", &["true"], 10.0), MAX_OUTPUT);
    assert_eq!(run.outcome, "ok");
    assert_eq!(doc["exit_code"], 0);
    assert!(run.started_secs >= before && run.started_secs <= before + 5);
    let parse = |f: &str| {
        let text = doc[f].as_str().unwrap();
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    };
    assert_eq!(parse("started").unix_timestamp(), run.started_secs);
    assert!(parse("ended") >= parse("started"));
    assert_eq!(doc["timeout_secs"], 10.0);
    assert_eq!(doc["cwd"], "/");
    assert_eq!(doc["stdin"], "/dev/null");
}

#[test]
fn a_killing_signal_not_ours_is_failed() {
    let (run, doc, _) = run_timed(&spec("selfkill", &["sh", "-c", "kill -KILL $$"], 10.0), MAX_OUTPUT);
    assert_eq!(run.outcome, "failed");
    assert_eq!(doc["signal"], 9);
    assert_eq!(doc["timed_out"], false);
}

#[test]
fn the_executable_hash_is_that_of_the_file_run() {
    let (_, doc, _) = run_timed(&spec("sh", &["sh", "-c", "exit 0"], 10.0), MAX_OUTPUT);
    let exe = &doc["executable"];
    let path = exe["path"].as_str().unwrap();
    assert!(SEARCH_PATH.iter().any(|d| path == format!("{d}/sh")), "{path}");
    let canonical = exe["canonical"].as_str().unwrap();
    assert_eq!(Path::new(canonical), std::fs::canonicalize(path).unwrap());
    let out = std::process::Command::new("sha256sum").arg(canonical).output().unwrap();
    assert!(out.status.success());
    let by_tool = String::from_utf8(out.stdout).unwrap();
    assert_eq!(exe["sha256"].as_str().unwrap(), by_tool.split_whitespace().next().unwrap());

    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(canonical).unwrap();
    assert_eq!(exe["size"], meta.size());
    assert_eq!(exe["inode"], meta.ino());
    assert_eq!(exe["uid"], meta.uid());
    assert_eq!(exe["mode"], format!("{:04o}", meta.mode() & 0o7777));
    assert_eq!(exe["executed_via"], "fd");
    assert_eq!(exe["unchanged_at_exec"], true);
    assert!(exe["interpreter"].is_null());
}

#[test]
fn a_symlinked_program_records_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    let link = dir.path().join("my-shell");
    std::os::unix::fs::symlink(&sh, &link).unwrap();
    let link = link.to_str().unwrap();
    let (run, doc, _) = run_timed(&spec("link", &[link, "-c", "echo via-link"], 10.0), MAX_OUTPUT);
    assert_eq!(run.outcome, "ok", "{doc}");
    assert_eq!(run.stdout, b"via-link\n");
    assert_eq!(doc["executable"]["path"], link);
    assert_eq!(doc["executable"]["symlink"], true);
    assert_eq!(doc["executable"]["canonical"], sh.to_str().unwrap());
    assert!(doc["searched"].as_array().unwrap().is_empty());
}

#[test]
fn a_missing_program_is_not_found() {
    let (run, doc, took) = run_timed(&spec("missing", &["custody-no-such-program-5e1d", "-x"], 10.0), MAX_OUTPUT);
    assert_eq!(run.outcome, "not-found");
    assert!(took < Duration::from_secs(2));
    assert!(doc["executable"].is_null());
    assert!(doc["pid"].is_null());
    let searched: Vec<&str> = doc["searched"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let expected: Vec<String> = SEARCH_PATH.iter().map(|d| format!("{d}/custody-no-such-program-5e1d")).collect();
    assert_eq!(searched, expected);
    assert!(doc["error"].as_str().unwrap().contains("/usr/bin/custody-no-such-program-5e1d"));
    assert!(run.stdout.is_empty() && run.stderr.is_empty());

    let (run, doc, _) = run_timed(&spec("missing", &["/nonexistent/custody/prog"], 10.0), MAX_OUTPUT);
    assert_eq!(run.outcome, "not-found");
    assert!(doc["error"].as_str().unwrap().contains("/nonexistent/custody/prog"));
}

#[test]
fn a_file_that_cannot_be_executed_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\necho should-not-run\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = script.to_str().unwrap();
    let (run, doc, _) = run_timed(&spec("noexec", &[path], 10.0), MAX_OUTPUT);
    assert_eq!(run.outcome, "not-run");
    assert!(run.stdout.is_empty());
    assert!(doc["error"].as_str().unwrap().contains("Permission denied"), "{doc}");
    // It is identified all the same.
    let expected = sha256_hex(b"#!/bin/sh\necho should-not-run\n");
    assert_eq!(doc["executable"]["sha256"], expected);
    assert!(doc["pid"].is_null());

    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, [0u8, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (run, doc, _) = run_timed(&spec("garbage", &[garbage.to_str().unwrap()], 10.0), MAX_OUTPUT);
    assert_eq!(run.outcome, "not-run");
    assert!(doc["error"].as_str().unwrap().contains("format"), "{doc}");

    let (run, doc, _) = run_timed(&spec("dir", &["/"], 10.0), MAX_OUTPUT);
    assert_eq!(run.outcome, "not-run");
    assert!(doc["error"].as_str().unwrap().contains("not a regular file"), "{doc}");
}

#[test]
fn a_script_runs_from_its_hashed_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script");
    let text = "#!/bin/sh\necho script-ran \"$1\"\n";
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (run, doc, _) = run_timed(&spec("script", &[script.to_str().unwrap(), "arg"], 10.0), MAX_OUTPUT);
    assert_eq!(run.outcome, "ok", "{doc} {}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(run.stdout, b"script-ran arg\n");
    assert_eq!(doc["executable"]["interpreter"], "#!/bin/sh");
    assert_eq!(doc["executable"]["sha256"], sha256_hex(text.as_bytes()));
}

#[test]
fn a_background_child_holding_the_pipes_does_not_hold_up_the_run() {
    let argv = ["sh", "-c", "sleep 600 & echo hi"];
    let (run, doc, took) = run_timed(&spec("bg", &argv, 30.0), MAX_OUTPUT);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(run.outcome, "ok", "{doc}");
    assert_eq!(run.stdout, b"hi\n");
    let leftovers = doc["leftover_processes"].as_array().unwrap();
    assert_eq!(leftovers.len(), 1, "{doc}");
    assert_eq!(leftovers[0]["comm"], "sleep");
    assert_eq!(doc["signals_sent"][0]["signal"], "SIGKILL");
    assert_eq!(doc["signals_sent"][0]["reason"], "leftover");
    assert_eq!(doc["stdout"]["complete"], true);
    let sleeper = leftovers[0]["pid"].as_u64().unwrap();
    // Killed; its parent (the shell) is gone, so init reaps it: allow a
    // moment for the signal to land.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !dead(sleeper) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(dead(sleeper), "the left-over sleep {sleeper} survived");
}

#[test]
fn a_daemon_that_left_the_group_is_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("daemon.pid");
    // The shell waits for the pid file, written once the daemon has its own
    // session, so the daemon is never in the command's group when it exits.
    let script = format!(
        "setsid sh -c 'echo $$ > {p}; exec sleep 600' & while [ ! -s {p} ]; do sleep 0.05; done; echo hi",
        p = pidfile.display()
    );
    let (run, doc, took) = run_timed(&spec("daemon", &["sh", "-c", &script], 30.0), MAX_OUTPUT);
    let daemon: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let _ = std::process::Command::new("kill").arg(daemon.to_string()).status();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(run.outcome, "ok", "{doc}");
    assert_eq!(run.stdout, b"hi\n");
    assert_eq!(doc["stdout"]["complete"], false, "{doc}");
    assert_eq!(doc["stderr"]["complete"], false);
    let notes = doc["notes"].as_array().unwrap();
    assert!(notes.iter().any(|n| n.as_str().unwrap().contains("still open")), "{doc}");
}

#[test]
fn output_beyond_max_output_is_counted_not_kept() {
    let argv = ["head", "-c", "1000000", "/dev/zero"];
    let (run, doc, _) = run_timed(&spec("zeros", &argv, 30.0), 1000);
    assert_eq!(run.outcome, "ok");
    assert_eq!(run.stdout, vec![0u8; 1000]);
    assert_eq!(doc["max_output"], 1000);
    assert_eq!(doc["stdout"]["bytes"], 1000);
    assert_eq!(doc["stdout"]["written"], 1_000_000);
    assert_eq!(doc["stdout"]["truncated"], true);
    assert_eq!(doc["stdout"]["complete"], true);
    assert_eq!(doc["stdout"]["sha256"], sha256_hex(&[0u8; 1000]));
    assert_eq!(doc["stderr"]["truncated"], false);
}

#[test]
fn the_environment_is_the_fixed_one() {
    let (run, doc, _) = run_timed(&spec("env", &["env"], 10.0), MAX_OUTPUT);
    assert_eq!(run.outcome, "ok");
    let mut printed: Vec<String> = String::from_utf8(run.stdout).unwrap().lines().map(String::from).collect();
    printed.sort();
    let mut recorded: Vec<String> = doc["environment"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
        .collect();
    recorded.sort();
    assert_eq!(printed, recorded);
    assert!(printed.contains(&format!("PATH={}", SEARCH_PATH.join(":"))));
    assert!(printed.contains(&"LC_ALL=C".to_string()));
    assert!(printed.contains(&"TZ=UTC".to_string()));
}

#[test]
fn the_command_sees_its_name_as_given_and_runs_in_the_root_with_empty_input() {
    let argv = ["sh", "-c", "tr '\\0' ' ' < /proc/$$/cmdline; pwd; cat; echo end"];
    let (run, _, took) = run_timed(&spec("argv0", &argv, 10.0), MAX_OUTPUT);
    assert!(took < Duration::from_secs(5));
    let out = String::from_utf8(run.stdout).unwrap();
    assert!(out.starts_with("sh -c "), "{out}");
    // cmdline ends in a NUL, printed as a space.
    assert!(out.ends_with(" /\nend\n"), "{out}");
}
