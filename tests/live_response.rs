//! Live response on this very host: the test makes the state it then looks
//! for (a listening socket, a process running a deleted executable, an
//! argument that is not UTF-8) and reads it back from the documents, parsed
//! as JSON. Facts that need root are asserted as their unavailable reasons
//! when the tests run as another user.

use std::ffi::OsStr;
use std::net::TcpListener;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::Engine;
use custody::live::{capture, Step};
use serde_json::Value;

fn document(step: Step) -> Value {
    let snapshot = capture(step);
    serde_json::from_slice(&snapshot.document).unwrap_or_else(|e| panic!("{step} is not JSON: {e}"))
}

fn processes_by_pid(doc: &Value) -> std::collections::HashMap<i64, &Value> {
    doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["pid"].as_i64().unwrap(), p))
        .collect()
}

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

/// A child process killed when the test ends, whatever happens.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A mount point unmounted when the test ends.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A copy of `sleep` in a fresh directory (the copy can be deleted while
/// it runs without touching the system's).
fn sleep_copy(dir: &Path) -> PathBuf {
    let system = ["/usr/bin/sleep", "/bin/sleep"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("sleep (coreutils) is needed");
    let copy = dir.join("custody-sleep");
    std::fs::copy(system, &copy).unwrap();
    copy
}

#[test]
fn a_listening_socket_is_found_with_its_owner() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let me = i64::from(std::process::id());

    let sockets = document(Step::Sockets);
    let found = sockets["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["protocol"] == "tcp" && s["local_address"] == "127.0.0.1" && s["local_port"] == port)
        .unwrap_or_else(|| panic!("no socket on 127.0.0.1:{port} in {sockets:#}"));
    assert_eq!(found["state"], "LISTEN");
    assert_eq!(found["remote_port"], 0);
    let inode = found["inode"].as_u64().unwrap();
    assert_eq!(found["id"], format!("tcp:{inode}"));
    let owners = found["owners"].as_array().unwrap();
    let owner = owners
        .iter()
        .find(|o| o["pid"] == me)
        .unwrap_or_else(|| panic!("pid {me} not among the owners: {found:#}"));
    assert!(!owner["fds"].as_array().unwrap().is_empty());
    let own_namespace = sockets["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["collector"] == true)
        .unwrap();
    assert_eq!(found["netns"], own_namespace["netns"]);

    // The processes document names the same socket by its id.
    let processes = document(Step::Processes);
    let mine = processes_by_pid(&processes)[&me];
    let held = mine["sockets"].as_array().unwrap();
    assert!(
        held.iter().any(|s| s["inode"] == inode && s["id"] == format!("tcp:{inode}")),
        "the listener's inode {inode} is not among pid {me}'s sockets: {held:#?}"
    );
    drop(listener);
}

#[test]
fn a_deleted_executable_is_flagged_with_its_path_arguments_and_parent() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().canonicalize().unwrap();
    let copy = sleep_copy(&dir);
    let child = Reaped(Command::new(&copy).arg("300").stdin(Stdio::null()).spawn().unwrap());
    std::fs::remove_file(&copy).unwrap();
    let pid = i64::from(child.0.id());

    let processes = document(Step::Processes);
    let entry = processes_by_pid(&processes)
        .get(&pid)
        .copied()
        .unwrap_or_else(|| panic!("pid {pid} not in the processes document"));
    assert_eq!(entry["exe_deleted"], true, "{entry:#}");
    assert_eq!(entry["exe"], copy.to_str().unwrap(), "the path without ' (deleted)'");
    assert_eq!(entry["cmdline"], serde_json::json!([copy.to_str().unwrap(), "300"]));
    assert_eq!(entry["ppid"], i64::from(std::process::id()));
    assert_eq!(entry["comm"], "custody-sleep");
    assert_eq!(entry["cwd"], std::env::current_dir().unwrap().to_str().unwrap());
    assert_eq!(entry["cwd_deleted"], false);
    assert!(entry.get("root").is_none(), "root is listed only when it is not /");
    assert!(entry["start_time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(entry["threads"], 1);
    assert!(entry["rss_bytes"].as_u64().unwrap() > 0);
    assert!(
        entry.get("unavailable").is_none(),
        "the test's own child is fully readable: {entry:#}"
    );

    // Started within the last minutes, by the clock and the boot time.
    let started = time::OffsetDateTime::parse(
        entry["start_time"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let age = time::OffsetDateTime::now_utc() - started;
    assert!(
        age > time::Duration::seconds(-2) && age < time::Duration::minutes(5),
        "start time {started} is {age} ago"
    );
}

#[test]
fn arguments_that_are_not_utf8_are_kept_in_base64() {
    let dir = tempfile::tempdir().unwrap();
    let copy = sleep_copy(dir.path());
    let arg0 = b"custody-\xff-sleep";
    let child = Reaped(
        Command::new(&copy)
            .arg0(OsStr::from_bytes(arg0))
            .arg("300")
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = i64::from(child.0.id());

    let processes = document(Step::Processes);
    let entry = processes_by_pid(&processes)[&pid];
    assert!(entry.get("cmdline").is_none());
    let args: Vec<Vec<u8>> = entry["cmdline_b64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| b64(a.as_str().unwrap()))
        .collect();
    assert_eq!(args, vec![arg0.to_vec(), b"300".to_vec()]);
}

#[test]
fn every_document_has_the_envelope() {
    let names: Vec<&str> = Step::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["system", "processes", "sockets", "users", "network", "mounts", "modules"]);
    for step in Step::ALL {
        assert_eq!(step.name().parse::<Step>().unwrap(), step);
        let snapshot = capture(step);
        assert_eq!(snapshot.step, step);
        assert!(snapshot.document.ends_with(b"\n"));
        let doc: Value = serde_json::from_slice(&snapshot.document).unwrap();
        assert_eq!(doc["schema"], "custody-live/1", "{step}");
        assert_eq!(doc["step"], step.name());
        assert_eq!(doc["status"], snapshot.status, "{step}");
        assert!(
            ["ok", "partial", "unavailable"].contains(&snapshot.status),
            "{step}: {}",
            snapshot.status
        );
        let started =
            time::OffsetDateTime::parse(doc["started"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(started.offset(), time::UtcOffset::UTC);
        assert_eq!(started.unix_timestamp(), snapshot.time_secs, "{step}");
        assert!(!doc["source"].as_str().unwrap().is_empty());
        let unavailable = doc["unavailable"].as_array().unwrap();
        for gap in unavailable {
            assert!(
                !gap["what"].as_str().unwrap().is_empty() && !gap["reason"].as_str().unwrap().is_empty(),
                "{gap}"
            );
        }
        assert_eq!(
            snapshot.status == "ok",
            unavailable.is_empty(),
            "{step}: status {} with {unavailable:?}",
            snapshot.status
        );
    }
    let unknown = "procs".parse::<Step>().unwrap_err().to_string();
    assert!(
        unknown.contains("'procs'") && unknown.contains("processes") && unknown.contains("modules"),
        "{unknown}"
    );
}

#[test]
fn users_lists_utmp_or_says_why_not() {
    let users = document(Step::Users);
    let utmp = ["/run/utmp", "/var/run/utmp"]
        .into_iter()
        .find_map(|p| std::fs::read(p).ok().map(|bytes| (p, bytes)));
    match utmp {
        Some((path, bytes)) => {
            assert_eq!(users["source"], path);
            let records = users["records"].as_array().unwrap();
            let expected: Vec<(i64, i64, Vec<u8>)> = bytes
                .chunks_exact(384)
                .map(|r| {
                    let kind = i16::from_le_bytes([r[0], r[1]]);
                    let pid = i32::from_le_bytes([r[4], r[5], r[6], r[7]]);
                    let user = r[44..76].split(|&b| b == 0).next().unwrap().to_vec();
                    (i64::from(kind), i64::from(pid), user)
                })
                .filter(|(kind, _, _)| (0..=9).contains(kind))
                .collect();
            assert_eq!(records.len(), expected.len());
            for (record, (_, pid, user)) in records.iter().zip(&expected) {
                assert_eq!(record["pid"], *pid);
                let listed = match (record.get("user"), record.get("user_b64")) {
                    (Some(u), _) => u.as_str().unwrap().as_bytes().to_vec(),
                    (None, Some(b)) => b64(b.as_str().unwrap()),
                    (None, None) => Vec::new(),
                };
                assert_eq!(&listed, user);
            }
            assert_ne!(users["status"], "unavailable");
        }
        None => {
            assert_eq!(users["status"], "unavailable");
            assert_eq!(users["count"], 0);
            let reason = users["unavailable"][0]["reason"].as_str().unwrap();
            assert!(reason.contains("/run/utmp") && reason.contains("/var/run/utmp"), "{reason}");
        }
    }
}

#[test]
fn another_users_process_is_read_as_root_or_its_gap_explained() {
    let system = document(Step::System);
    let processes = document(Step::Processes);
    let root = system["collector"]["root"].as_bool().unwrap();
    assert_eq!(root, rustix::process::geteuid().is_root());
    let caps = system["collector"]["capabilities"].as_array().unwrap();
    let cap_eff = u64::from_str_radix(system["collector"]["cap_eff"].as_str().unwrap(), 16).unwrap();
    assert_eq!(caps.len() as u32, cap_eff.count_ones(), "{caps:?}");

    let hidden_by_hidepid = processes["unavailable"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["what"] == "processes of other users");
    let Some(init) = processes_by_pid(&processes).get(&1).copied() else {
        assert!(!root && hidden_by_hidepid, "pid 1 missing, and not for hidepid: {processes:#}");
        return;
    };
    let ptrace = caps.iter().any(|c| c == "cap_sys_ptrace");
    let mine = init["uid"]["real"] == rustix::process::getuid().as_raw();
    if init.get("exe").is_some() || init.get("exe_b64").is_some() {
        return;
    }
    // Unreadable: the process says why in short, the document explains
    // it by who the collector is.
    assert!(!mine || root, "pid 1 runs as this user, its exe must be readable: {init:#}");
    let gaps = init["unavailable"]
        .as_array()
        .unwrap_or_else(|| panic!("no exe and no reason: {init:#}"));
    let exe = gaps.iter().find(|g| g["what"] == "exe").unwrap_or_else(|| panic!("{init:#}"));
    assert_eq!(exe["reason"], "permission denied (EACCES)");
    let listed = processes["unavailable"].as_array().unwrap();
    let exe = listed
        .iter()
        .find(|g| g["what"] == "exe (/proc/PID/exe)" && g["reason"].as_str().unwrap().starts_with("permission denied"))
        .unwrap_or_else(|| panic!("{listed:#?}"));
    assert!(exe["count"].as_u64().unwrap() >= 1);
    let reason = exe["reason"].as_str().unwrap();
    let expected = match (root, ptrace) {
        (false, _) => "needs root",
        (true, false) => "lacks CAP_SYS_PTRACE",
        (true, true) => "refused even to root",
    };
    assert!(
        reason.starts_with("permission denied (EACCES): ") && reason.contains(expected),
        "root {root}, CAP_SYS_PTRACE {ptrace}: {reason}"
    );
    assert_eq!(processes["status"], "partial");
}

#[test]
fn system_mounts_modules_and_network_describe_this_host() {
    let system = document(Step::System);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(system["hostname"], hostname.trim_end_matches('\n'));
    assert_eq!(system["collector"]["pid"], std::process::id());
    assert!(system["uptime_secs"].as_f64().unwrap() > 0.0);

    let mounts = document(Step::Mounts);
    let list = mounts["mounts"].as_array().unwrap();
    assert!(list.iter().any(|m| m["mount_point"] == "/"), "no root mount");
    assert!(list.iter().any(|m| m["mount_point"] == "/proc" && m["fs_type"] == "proc"));
    assert_eq!(mounts["count"], list.len());

    let modules = document(Step::Modules);
    if Path::new("/proc/modules").exists() {
        let text = std::fs::read_to_string("/proc/modules").unwrap();
        assert_eq!(modules["count"], text.lines().count());
        assert_eq!(modules["loadable_modules"], true);
    } else {
        // A kernel without module support: nothing is missing.
        assert_eq!(
            (modules["loadable_modules"].as_bool(), modules["count"].as_u64()),
            (Some(false), Some(0))
        );
    }
    let tainted = std::fs::read_to_string("/proc/sys/kernel/tainted").unwrap();
    assert_eq!(modules["tainted"]["value"], tainted.trim().parse::<u64>().unwrap());

    let network = document(Step::Network);
    let interfaces = network["interfaces"].as_array().unwrap();
    let lo = interfaces.iter().find(|i| i["name"] == "lo").expect("the loopback interface");
    assert!(lo["flag_names"].as_array().unwrap().iter().any(|f| f == "LOOPBACK"));
    assert!(lo["counters"]["rx_packets"].is_u64());
    assert!(network["ipv4_local"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["address"] == "127.0.0.1"));
    assert_eq!(network["status"], "partial", "IPv6 neighbours are netlink-only");
    let gaps = network["unavailable"].as_array().unwrap();
    assert!(gaps
        .iter()
        .any(|g| g["what"].as_str().unwrap().starts_with("IPv6 neighbours") && g["reason"].as_str().unwrap().contains("netlink")));
}

#[test]
fn a_unix_socket_with_an_odd_path_is_kept_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(OsStr::from_bytes(b"a socket \xff"));
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let me = i64::from(std::process::id());

    let sockets = document(Step::Sockets);
    let found = sockets["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["protocol"] == "unix"
                && s.get("path_b64")
                    .is_some_and(|p| b64(p.as_str().unwrap()) == path.as_os_str().as_bytes())
        })
        .unwrap_or_else(|| panic!("no UNIX socket at {path:?}"));
    assert_eq!((found["type"].as_str(), found["listening"].as_bool()), (Some("stream"), Some(true)));
    assert!(found["owners"].as_array().unwrap().iter().any(|o| o["pid"] == me), "{found:#}");
    drop(listener);
}

#[test]
fn a_mount_point_with_blanks_and_bytes_that_are_not_utf8_is_decoded() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED (not root): mounting a tmpfs");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let at = dir
        .path()
        .canonicalize()
        .unwrap()
        .join(OsStr::from_bytes(b"with space\tand\\ \xff"));
    std::fs::create_dir(&at).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "custody-live"])
        .arg(&at)
        .status()
        .unwrap();
    assert!(status.success(), "mount failed");
    let mounted = Unmount(at.clone());
    let mounts = document(Step::Mounts);
    drop(mounted);
    let found = mounts["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m.get("mount_point_b64")
                .is_some_and(|p| b64(p.as_str().unwrap()) == at.as_os_str().as_bytes())
        })
        .unwrap_or_else(|| panic!("no mount at {at:?} in {mounts:#}"));
    assert_eq!(
        (found["fs_type"].as_str(), found["source"].as_str()),
        (Some("tmpfs"), Some("custody-live"))
    );
    assert!(found["super_options"].as_str().unwrap().contains("size=1024k"), "{found:#}");
}

#[test]
fn a_listener_in_another_network_namespace_is_read_through_its_process() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED (not root): a process in a new network namespace");
        return;
    }
    // unshare execs python3 in the new namespace: the child's pid is the listener's.
    let listen = "import socket, time\n\
                  s = socket.socket(); s.bind(('0.0.0.0', 0)); s.listen()\n\
                  print(s.getsockname()[1], flush=True); time.sleep(300)";
    let mut child = Reaped(
        Command::new("unshare")
            .args(["--net", "python3", "-c", listen])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) and python3 are needed"),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.0.stdout.take().unwrap()), &mut line).unwrap();
    let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("the listener said {line:?}"));
    let pid = i64::from(child.0.id());

    let sockets = document(Step::Sockets);
    let found = sockets["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["protocol"] == "tcp" && s["local_port"] == port && s["owners"].as_array().unwrap().iter().any(|o| o["pid"] == pid))
        .unwrap_or_else(|| panic!("no listener of pid {pid} on port {port}: {sockets:#}"));
    assert_eq!(found["state"], "LISTEN");
    let namespaces = sockets["namespaces"].as_array().unwrap();
    let theirs = namespaces.iter().find(|n| n["netns"] == found["netns"]).unwrap();
    assert_eq!(
        (theirs["collector"].as_bool(), theirs["read_via_pid"].as_i64()),
        (Some(false), Some(pid)),
        "{namespaces:#?}"
    );
    let ours = namespaces.iter().find(|n| n["collector"] == true).unwrap();
    assert_ne!(ours["netns"], found["netns"]);

    // The processes document names the socket and the namespace too.
    let processes = document(Step::Processes);
    let entry = processes_by_pid(&processes)[&pid];
    assert_eq!(entry["netns"], found["netns"]);
    assert!(
        entry["sockets"].as_array().unwrap().iter().any(|s| s["id"] == found["id"]),
        "{entry:#}"
    );
}
