//! Collection profiles end to end: `--plan` counts what a collection takes
//! and reads nothing; a profile's caps and exclusions are recorded with
//! their reasons; the built-in profile collects this machine and verifies.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::*;
use rustix::fs::inotify;
use rustix::fs::{AtFlags, Timestamps, CWD};

/// A small tree: files, a file over the cap, a log over the cap (kept), an
/// excluded directory, a FIFO and a symlink.
fn make_profile_tree(root: &Path) {
    std::fs::create_dir_all(root.join("app/conf")).unwrap();
    std::fs::create_dir_all(root.join("app/skipme/deep")).unwrap();
    std::fs::write(root.join("app/conf/a.conf"), b"key = value\n").unwrap();
    std::fs::write(root.join("app/conf/b.conf"), vec![b'b'; 900]).unwrap();
    std::fs::write(root.join("app/big.bin"), vec![7u8; 5000]).unwrap();
    std::fs::write(root.join("app/server.log"), vec![b'l'; 5000]).unwrap();
    std::fs::write(root.join("app/skipme/deep/x"), b"never examined\n").unwrap();
    rustix::fs::mknodat(CWD, root.join("app/fifo"), rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap();
    std::os::unix::fs::symlink("conf/a.conf", root.join("app/link")).unwrap();
}

/// A profile over `root` with a 1 KiB cap that keeps `*.log`, excluding `skipme`.
fn write_profile(dir: &Path, root: &Path, extra: &str) -> PathBuf {
    let text = format!(
        "name = \"test\"\ndescription = \"a test profile\"\nmax_file_size = \"1K\"\nkeep = [\"**/*.log\"]\n\
         [[area]]\nname = \"app\"\nwhy = \"the application\"\npaths = [\"{0}/app\", \"{0}/absent\"]\n\
         [[exclude]]\nglob = \"**/skipme\"\nwhy = \"not wanted\"\n{extra}",
        root.display()
    );
    let path = dir.join("test.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every entry under `root` (itself included), depth first.
fn entries(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let p = out[i].clone();
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            let mut names: Vec<PathBuf> = std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()).collect();
            names.sort();
            out.extend(names);
        }
        i += 1;
    }
    out
}

/// Watches every directory of a tree for opens and reads.
struct Watch {
    fd: std::os::fd::OwnedFd,
    dirs: BTreeMap<i32, PathBuf>,
}

impl Watch {
    fn tree(root: &Path) -> Watch {
        let fd = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC).unwrap();
        let mut dirs = BTreeMap::new();
        for p in entries(root).into_iter().filter(|p| p.is_dir() && !p.is_symlink()) {
            let wd = inotify::add_watch(&fd, &p, inotify::WatchFlags::OPEN | inotify::WatchFlags::ACCESS).unwrap();
            dirs.insert(wd, p);
        }
        Watch { fd, dirs }
    }

    /// Regular files opened or read since the last call (directories' own
    /// events, from listing them, are left out).
    fn files_touched(&self) -> Vec<String> {
        let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 64 * 1024];
        let mut reader = inotify::Reader::new(&self.fd, &mut buf);
        let mut seen = Vec::new();
        loop {
            match reader.next() {
                Ok(e) => {
                    if e.events().contains(inotify::ReadFlags::ISDIR) {
                        continue;
                    }
                    let name = e.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let dir = self.dirs.get(&e.wd()).map(|d| d.display().to_string()).unwrap_or_default();
                    seen.push(format!("{dir}/{name} {:?}", e.events()));
                }
                Err(rustix::io::Errno::AGAIN) => return seen,
                Err(e) => panic!("reading inotify events: {e}"),
            }
        }
    }
}

type Stamp = (i64, i64, i64, i64, i64, i64);

fn stamp(p: &Path) -> Stamp {
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.atime(), m.atime_nsec(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec())
}

#[test]
fn plan_reads_no_content_and_counts_what_collect_takes() {
    let dir = tempfile::tempdir().unwrap();
    // On a strictatime mount (as root) any read moves an access time; as
    // another user, an access time older than the mtime does it under the
    // default relatime.
    let root = dir.path().join("strict");
    let _mount = is_root().then(|| Mount::tmpfs(&root, "size=16m,strictatime"));
    std::fs::create_dir_all(&root).unwrap();
    make_profile_tree(&root);
    // The watch lists the tree (moving directories' access times), so it
    // comes before the times are set.
    let watch = Watch::tree(&root);
    let all = entries(&root);
    for p in &all {
        let m = std::fs::symlink_metadata(p).unwrap();
        let t = |s, n| rustix::fs::Timespec { tv_sec: s, tv_nsec: n };
        let times = Timestamps {
            last_access: t(978_307_200, 0),
            last_modification: t(m.mtime(), m.mtime_nsec() as _),
        };
        rustix::fs::utimensat(CWD, p, &times, AtFlags::SYMLINK_NOFOLLOW).unwrap();
    }
    let before: Vec<Stamp> = all.iter().map(|p| stamp(p)).collect();
    let profile = write_profile(dir.path(), &root, "");
    let set_up = watch.files_touched();
    assert!(set_up.is_empty(), "the set-up opened files: {set_up:?}");

    let o = run(custody().args(["collect", "--plan", "--profile"]).arg(&profile));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let touched = watch.files_touched();
    assert!(touched.is_empty(), "--plan opened or read files: {touched:?}");
    for (p, b) in all.iter().zip(&before) {
        assert_eq!(stamp(p), *b, "--plan changed the times of {}", p.display());
    }
    // Files a.conf, b.conf and server.log (kept over the cap): 5,912 bytes;
    // directories app and conf; other: the FIFO and the symlink; big.bin
    // capped; skipme excluded.
    let app = out.lines().find(|l| l.starts_with("app ")).unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = app.split_whitespace().collect();
    assert_eq!(cols, ["app", "3", "5.77", "KiB", "2", "2", "1", "4.88", "KiB", "1", "0"], "{out}");
    assert!(out.contains("absent on this host:") && out.contains("/absent (app)"), "{out}");
    assert!(out.contains("big.bin") && out.contains("skipme"), "{out}");
    assert!(out.contains("profile      test ("), "{out}");

    // The same walk, collecting: the watch sees the files opened (so its
    // silence above means something), and the archive records every skip
    // with the rule that made it.
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("a.tar.zst");
    let o = run(custody()
        .args(["collect", "-q", "--no-live", "--profile"])
        .arg(&profile)
        .arg("--output")
        .arg(&archive)
        .arg("--key")
        .arg(&key));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let touched = watch.files_touched();
    assert!(touched.iter().any(|t| t.contains("a.conf") && t.contains("OPEN")), "{touched:?}");
    assert!(
        !touched.iter().any(|t| t.contains("big.bin")),
        "the capped file was opened: {touched:?}"
    );
    let (report, status) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((status, report["verdict"].as_str()), (0, Some("verified")), "{report:#}");
    let skips: Vec<String> = finding_messages(&report, "collection-skip");
    assert_eq!(skips.len(), 2, "{skips:?}");
    assert!(
        skips
            .iter()
            .any(|s| s.contains("big.bin") && s.contains("cap of area \"app\" of profile test")),
        "{skips:?}"
    );
    assert!(
        skips
            .iter()
            .any(|s| s.contains("skipme") && s.contains("excluded by profile test (**/skipme): not wanted")),
        "{skips:?}"
    );
    let listed = list_paths(&archive, &key);
    assert!(
        listed.iter().any(|p| p.ends_with("app/server.log")),
        "the log over the cap is kept: {listed:?}"
    );
    let statement = listed.iter().find(|p| p.as_str() == ".custody/live/profile.json");
    assert!(statement.is_some(), "{listed:?}");
}

/// Paths `custody list --json` gives for `archive`.
fn list_paths(archive: &Path, key: &Path) -> Vec<String> {
    let o = run(custody().arg("list").arg(archive).arg("--json").arg("--key").arg(pub_of(key)));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["path"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn profiles_are_listed_shown_and_refused_with_reasons() {
    let o = run(custody().arg("profiles"));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("devserver (default)") && out.contains("minimal"), "{out}");
    let o = run(custody().args(["profiles", "--show", "devserver"]));
    assert_eq!(code(&o), 0);
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("# The first capture"),
        "{}",
        text(&o)
    );
    let o = run(custody().args(["collect", "--plan", "--profile", "nope"]));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("no profile is called \"nope\""), "{}", text(&o));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\ndescription = \"d\"\nmax_file_sise = \"1M\"\n").unwrap();
    let o = run(custody().args(["collect", "--plan", "--profile"]).arg(&bad));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("max_file_sise"), "{}", text(&o));
}

/// `tar --zstd -xf ARCHIVE -C DIR .custody/live`, then the JSON at `name`
/// under it.
fn live_json(out: &Path, name: &str) -> serde_json::Value {
    let text = std::fs::read(out.join(".custody/live").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn extract_live(archive: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let o = run(std::process::Command::new("tar")
        .arg("--zstd")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(into)
        .arg(".custody/live"));
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_profile_collection_records_the_live_state_and_its_commands_before_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    make_profile_tree(&root);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let profile = write_profile(
        dir.path(),
        &root,
        "[live]\nsteps = [\"sockets\", \"processes\", \"system\"]\n\
         [[command]]\nname = \"hang\"\nargv = [\"sleep\", \"600\"]\ntimeout = \"2s\"\n\
         [[command]]\nname = \"hello\"\nargv = [\"sh\", \"-c\", \"echo hello; echo oops >&2\"]\n\
         [[command]]\nname = \"absent\"\nargv = [\"no-such-program-for-custody\"]\n",
    );
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("live.tar.zst");
    let started = std::time::Instant::now();
    let o = run(custody()
        .args(["collect", "-q", "--profile"])
        .arg(&profile)
        .arg("--output")
        .arg(&archive)
        .arg("--key")
        .arg(&key));
    let took = started.elapsed();
    assert_eq!(code(&o), 0, "{}", text(&o));
    // The hanging command is killed at its 2 s timeout: the whole
    // collection ends well before its 600 s.
    assert!(took < std::time::Duration::from_secs(60), "the collection took {took:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("timed out") || out.contains("timed-out"), "{out}");

    let (report, status) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((status, report["verdict"].as_str()), (0, Some("verified")), "{report:#}");
    // The live members, then a checkpoint of their own, then the files.
    let listed = list_paths(&archive, &key);
    let at = |p: &str| {
        listed
            .iter()
            .position(|l| l == p)
            .unwrap_or_else(|| panic!("{p} not in {listed:?}"))
    };
    let first_file = listed.iter().position(|l| l.ends_with("app/conf/a.conf")).unwrap();
    assert!(at(".custody/live/profile.json") < at(".custody/live/sockets.json"));
    assert!(at(".custody/live/commands/absent.stderr") < at(".custody/checkpoint-000001.json.sig"));
    assert!(at(".custody/checkpoint-000001.json.sig") < first_file, "{listed:?}");

    let live = dir.path().join("extracted");
    extract_live(&archive, &live);
    let sockets = live_json(&live, "sockets.json");
    assert_eq!(sockets["schema"], "custody-live/1");
    let mine = sockets["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["protocol"] == "tcp" && s["local_port"] == port && s["state"] == "LISTEN")
        .unwrap_or_else(|| panic!("no listener on port {port}: {sockets:#}"));
    let owners: Vec<u64> = mine["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["pid"].as_u64().unwrap())
        .collect();
    assert!(owners.contains(&u64::from(std::process::id())), "the test holds it: {mine:#}");
    let processes = live_json(&live, "processes.json");
    let me = processes["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == std::process::id())
        .unwrap_or_else(|| panic!("the test process is not listed"));
    let id = mine["id"].as_str().unwrap();
    assert!(me["sockets"].as_array().unwrap().iter().any(|s| s["id"] == id), "{me:#}");
    assert_eq!(live_json(&live, "system.json")["step"], "system");

    let hang = live_json(&live, "commands/hang.json");
    assert_eq!(
        (hang["outcome"].as_str(), hang["timed_out"].as_bool()),
        (Some("timed-out"), Some(true)),
        "{hang:#}"
    );
    assert!(hang["duration_secs"].as_f64().unwrap() < 10.0, "{hang:#}");
    let hello = live_json(&live, "commands/hello.json");
    assert_eq!(hello["outcome"], "ok", "{hello:#}");
    assert_eq!(std::fs::read(live.join(".custody/live/commands/hello.stdout")).unwrap(), b"hello\n");
    assert_eq!(std::fs::read(live.join(".custody/live/commands/hello.stderr")).unwrap(), b"oops\n");
    let sh = hello["executable"]["canonical"].as_str().unwrap();
    let o = run(std::process::Command::new("sha256sum").arg(sh));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with(hello["executable"]["sha256"].as_str().unwrap()),
        "{hello:#}"
    );
    assert_eq!(live_json(&live, "commands/absent.json")["outcome"], "not-found");
    drop(listener);
}

#[test]
fn the_built_in_profile_collects_this_machine_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("host.tar.zst");
    // Other tests write and delete files in the staging areas all the time,
    // and the checkout holds build outputs: leave them out. The archive goes
    // to standard output, a file in a collected tree that the walk must skip.
    let mut cmd = custody();
    cmd.args(["collect", "-q", "--output", "-", "--key"]).arg(&key);
    for skip in ["/tmp", "/var/tmp", "/dev/shm", env!("CARGO_MANIFEST_DIR")] {
        cmd.arg("--exclude").arg(skip);
    }
    if let Ok(target) = std::env::var("CARGO_TARGET_DIR") {
        cmd.arg("--exclude").arg(target);
    }
    cmd.stdout(std::fs::File::create(&archive).unwrap());
    let o = run(&mut cmd);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let (report, status) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((status, report["verdict"].as_str()), (0, Some("verified")), "{report:#}");
    let listed = list_paths(&archive, &key);
    let devserver = custody::profile::load("devserver").unwrap();
    for step in &devserver.live_steps {
        let member = format!(".custody/live/{}.json", step.name());
        assert!(listed.contains(&member), "{member} missing");
    }
    for c in &devserver.commands {
        for ext in ["json", "stdout", "stderr"] {
            let member = format!(".custody/live/commands/{}.{ext}", c.name);
            assert!(listed.contains(&member), "{member} missing");
        }
    }
    assert!(listed.iter().any(|p| p.starts_with("etc/")), "no /etc");
    assert!(listed.iter().any(|p| p.starts_with("var/log/")), "no /var/log");
    let live = dir.path().join("extracted");
    extract_live(&archive, &live);
    let statement = live_json(&live, "profile.json");
    assert_eq!(statement["name"], "devserver");
    assert_eq!(statement["origin"], "built in");
    let processes = live_json(&live, "processes.json");
    assert!(processes["count"].as_u64().unwrap() > 1, "{processes:#}");
}

#[test]
fn a_stop_during_the_live_response_records_what_did_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    make_profile_tree(&root);
    let profile = write_profile(
        dir.path(),
        &root,
        "[live]\nsteps = [\"system\"]\n\
         [[command]]\nname = \"slow\"\nargv = [\"sleep\", \"600\"]\ntimeout = \"3s\"\n\
         [[command]]\nname = \"later\"\nargv = [\"true\"]\n",
    );
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("stopped.tar.zst");
    let child = custody()
        .args(["collect", "-q", "--profile"])
        .arg(&profile)
        .arg("--output")
        .arg(&archive)
        .arg("--key")
        .arg(&key)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While `slow` runs: the stop waits for it (its timeout), then `later`
    // is not run and the walk does not begin.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 5, "{}", text(&o));
    let (report, status) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((status, report["verdict"].as_str()), (10, Some("incomplete")), "{report:#}");
    let live = dir.path().join("extracted");
    extract_live(&archive, &live);
    let not_run = live_json(&live, "not-run.json");
    assert_eq!(not_run["commands"], serde_json::json!(["later"]), "{not_run:#}");
    assert_eq!(not_run["steps"], serde_json::json!([]), "{not_run:#}");
    assert!(not_run["reason"].as_str().unwrap().contains("SIGTERM"), "{not_run:#}");
    assert_eq!(live_json(&live, "commands/slow.json")["outcome"], "timed-out");
    assert!(!live.join(".custody/live/commands/later.json").exists());
    let listed = list_paths(&archive, &key);
    assert!(!listed.iter().any(|p| p.ends_with("app/conf/a.conf")), "the walk ran: {listed:?}");
}
