//! Interrupted collections are still evidence: killed with SIGKILL at many
//! points (file and pipe output), stopped with SIGINT/SIGTERM (a final signed
//! checkpoint, exit 5), cut off by a pipe closed early, or run out of disk
//! space. Every resulting archive verifies as `incomplete`, says what is
//! proven, and `extract --salvage` recovers members identical to the source.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// A tree of compressible text files, `files` of about 40 KB each.
fn make_text_tree(root: &Path, files: usize) {
    let words = [
        "alpha",
        "kernel",
        "login",
        "session",
        "GET",
        "/api/v1/users",
        "200",
        "404",
        "sshd",
        "accepted",
        "failed",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..files {
        let dir = root.join(format!("d{:02}", i % 16));
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        while text.len() < 40_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text.push_str(words[(x % words.len() as u64) as usize]);
            text.push(if x % 9 == 0 { '\n' } else { ' ' });
        }
        std::fs::write(dir.join(format!("f{i:04}.log")), text).unwrap();
    }
}

fn trust(key: &Path) -> Vec<String> {
    vec!["--key".into(), pub_of(key).to_string_lossy().into_owned()]
}

/// Verify an interrupted archive: `incomplete`, exit 10, and what it proves.
fn assert_incomplete(archive: &Path, key: &Path) -> serde_json::Value {
    let t = trust(key);
    let (report, status) = verify_json(archive, &t.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        (status, report["verdict"].as_str()),
        (10, Some("incomplete")),
        "{} bytes: {report:#}",
        std::fs::metadata(archive).map(|m| m.len()).unwrap_or(0)
    );
    report
}

/// Salvage an interrupted archive and check every file it wrote against the source.
fn assert_salvage_matches(archive: &Path, key: &Path, dir: &Path) -> usize {
    let into = dir.join(format!("salvage-{}", archive.file_name().unwrap().to_string_lossy()));
    let o = run(custody()
        .arg("extract")
        .arg(archive)
        .arg("--into")
        .arg(&into)
        .arg("--salvage")
        .args(trust(key)));
    assert!(matches!(code(&o), 0 | 10), "{}", text(&o));
    // A member cut short by the stop is recorded `interrupted` and
    // zero-filled: it is compared with what its listing says, not the source.
    let listed = run(custody().arg("list").arg(archive).arg("--json").args(trust(key)));
    let interrupted: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["status"] == "interrupted")
        .map(|v| v["path"].as_str().unwrap_or_default().to_string())
        .collect();
    let mut checked = 0;
    for p in files_under(&into).into_iter().filter(|p| p.extension().is_some_and(|x| x == "log")) {
        // The extracted path is the source's absolute path under `into`.
        let rel = p.strip_prefix(&into).unwrap();
        let source = Path::new("/").join(rel);
        let data = std::fs::read(&p).unwrap();
        if interrupted.iter().any(|i| Path::new(i) == rel) {
            let whole = std::fs::read(&source).unwrap();
            let kept = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            assert!(whole.starts_with(&data[..kept]), "{} holds what was read, then zeros", p.display());
            continue;
        }
        assert_eq!(data, std::fs::read(&source).unwrap(), "{}", p.display());
        checked += 1;
    }
    checked
}

fn spawn_collect(src: &Path, key: &Path, out: &str, extra: &[&str]) -> Child {
    custody()
        .args(["collect", "--quiet", "--checkpoint-members", "25", "--threads", "1", "-o", out])
        .arg(src)
        .arg("--key")
        .arg(key)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Small deterministic pseudo-random numbers for the kill points.
fn points(seed: u64, n: usize, below: u64) -> Vec<u64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % below
        })
        .collect()
}

/// The most a pipe holds as created: 16 pages (Linux `PIPE_DEF_BUFFERS`),
/// whatever the page size; a user over `pipe-user-pages-soft` gets less.
fn pipe_capacity() -> u64 {
    let page_kib = std::fs::read_to_string("/proc/self/smaps")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("KernelPageSize:")?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .unwrap_or(64);
    16 * page_kib * 1024
}

#[test]
fn sigkill_at_many_points_with_pipe_output_leaves_incomplete_evidence() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_text_tree(&src, 400);
    let key = keygen(dir.path(), "key");
    // Complete size first, to spread the kill points over it.
    let full = dir.path().join("full.tar.zst");
    collect(&src, &full, &key, &["--checkpoint-members", "25", "--threads", "1"]);
    let total = std::fs::metadata(&full).unwrap().len();
    // Once the test has read `at` bytes, the collector can put at most a
    // pipe's capacity more into the pipe before the kill: with `at` closer
    // to the end than that, the whole archive could get through, sealed and
    // verified. Kill points stay below the end by the capacity and by 64 KiB
    // for runs whose archives differ in size (random archive ids and times
    // compress differently, a slow run has a checkpoint by time more). Then
    // the collector is always still blocked on the pipe when it is killed.
    let first = 64 * 1024;
    let last = total.saturating_sub(pipe_capacity() + 64 * 1024);
    assert!(last > first + 256 * 1024, "the archive ({total} bytes) leaves room for kill points");
    let mut salvaged = 0;
    for (i, at) in points(7, 6, last - first).into_iter().enumerate() {
        let at = first + at;
        let mut child = spawn_collect(&src, &key, "-", &[]);
        let mut stdout = child.stdout.take().unwrap();
        let mut got = vec![0u8; at as usize];
        let n = read_up_to(&mut stdout, &mut got);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "the collection was killed at byte {at} of {total}, not ended on its own: {status:?}"
        );
        // Whatever the pipe still holds was written before the kill.
        let mut rest = Vec::new();
        let _ = stdout.read_to_end(&mut rest);
        got.truncate(n);
        got.extend_from_slice(&rest);
        let archive = dir.path().join(format!("pipe-{i}.tar.zst"));
        std::fs::write(&archive, &got).unwrap();
        let report = assert_incomplete(&archive, &key);
        assert!(
            report["findings"].as_array().unwrap().iter().any(|f| f["kind"] == "truncated"),
            "{report:#}"
        );
        salvaged += assert_salvage_matches(&archive, &key, dir.path());
    }
    assert!(salvaged > 0, "salvage recovered files");
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

#[test]
fn sigkill_at_many_points_with_file_output_leaves_incomplete_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_text_tree(&src, 400);
    let key = keygen(dir.path(), "key");
    // Level 19 takes several seconds here; the collector flushes the file at
    // every checkpoint, so a kill after the first second finds some signed.
    for (i, ms) in points(11, 4, 3000).into_iter().enumerate() {
        let archive: PathBuf = dir.path().join(format!("file-{i}.tar.zst"));
        let mut child = spawn_collect(&src, &key, archive.to_str().unwrap(), &["--level", "19"]);
        std::thread::sleep(Duration::from_millis(1000 + ms));
        assert!(child.try_wait().unwrap().is_none(), "the collection ended before the kill point");
        child.kill().unwrap();
        let _ = child.wait();
        assert_incomplete(&archive, &key);
        assert_salvage_matches(&archive, &key, dir.path());
    }
}

#[test]
fn sigint_and_sigterm_write_a_final_signed_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_text_tree(&src, 400);
    let key = keygen(dir.path(), "key");
    for (name, signal) in [("SIGINT", "INT"), ("SIGTERM", "TERM"), ("SIGHUP", "HUP")] {
        // The collector blocks on the full pipe until the test reads, so the
        // signal always arrives mid-collection.
        let mut child = spawn_collect(&src, &key, "-", &[]);
        let mut stdout = child.stdout.take().unwrap();
        let mut first = vec![0u8; 256 * 1024];
        let n = read_up_to(&mut stdout, &mut first);
        first.truncate(n);
        let s = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(s.success());
        let mut rest = Vec::new();
        stdout.read_to_end(&mut rest).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("interrupted by {name}")));
        first.extend_from_slice(&rest);
        let archive = dir.path().join(format!("{signal}.tar.zst"));
        std::fs::write(&archive, &first).unwrap();
        let report = assert_incomplete(&archive, &key);
        let stopped: Vec<&serde_json::Value> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "collection-stopped")
            .collect();
        assert_eq!(stopped.len(), 1, "{report:#}");
        assert!(stopped[0]["message"].as_str().unwrap().contains(name));
        assert_eq!(
            report["unproven_members"], 0,
            "the final checkpoint covers every member written: {report:#}"
        );
        // A signed stopped checkpoint is a known end, like a seal: not a
        // cut, and nothing after it is left unproven.
        assert_eq!(report["unproven_tar_bytes"], 0, "{report:#}");
        assert!(
            !report["findings"].as_array().unwrap().iter().any(|f| f["kind"] == "truncated"),
            "a stopped collection read as cut off: {report:#}"
        );
        let o = run(custody().arg("verify").arg(&archive).arg("--key").arg(pub_of(&key)));
        let said = String::from_utf8_lossy(&o.stdout);
        assert!(said.starts_with("INCOMPLETE: the collection was stopped before its end"), "{said}");
        assert!(said.contains("not proven   nothing"), "{said}");
        assert!(report["proven"]["checkpoints"].as_u64().unwrap() >= 1);
        assert!(assert_salvage_matches(&archive, &key, dir.path()) > 0);
    }
}

#[test]
fn a_pipe_closed_early_stops_the_collector_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_text_tree(&src, 200);
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("head.tar.zst");
    let script = format!(
        "'{}' collect --quiet --checkpoint-members 25 -o - '{}' --key '{}' | head -c 300000 > '{}'; echo ${{PIPESTATUS[0]}}",
        custody_bin().display(),
        src.display(),
        key.display(),
        archive.display()
    );
    let o = run(Command::new("bash").arg("-c").arg(&script));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "3", "{}", text(&o));
    let report = assert_incomplete(&archive, &key);
    assert!(report["proven"]["checkpoints"].as_u64().unwrap() >= 1, "{report:#}");
    assert!(assert_salvage_matches(&archive, &key, dir.path()) > 0);
}

#[test]
fn a_full_disk_stops_the_collector_with_exit_3() {
    if !std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
    {
        eprintln!("SKIPPED (not root): mounting a small filesystem to fill");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_text_tree(&src, 400);
    let key = keygen(dir.path(), "key");
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let m = run(Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"]).arg(&small));
    assert!(m.status.success(), "{}", text(&m));
    let archive = small.join("a.tar.zst");
    let o = run(collect_cmd(&src, &archive, &key).args(["--quiet", "--checkpoint-members", "25"]));
    let copy = dir.path().join("full-disk.tar.zst");
    std::fs::copy(&archive, &copy).unwrap();
    let _ = Command::new("umount").arg(&small).status();
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("No space left on device"), "{}", text(&o));
    let report = assert_incomplete(&copy, &key);
    assert!(report["proven"]["checkpoints"].as_u64().unwrap() >= 1, "{report:#}");
    assert!(assert_salvage_matches(&copy, &key, dir.path()) > 0);
}

/// Incompressible bytes, so that the pipe and the collector's buffers hold
/// only a little of a file made of them.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `custody list --json` lines of the members, by path.
fn listing(archive: &Path, key: &Path) -> Vec<serde_json::Value> {
    let o = run(custody().arg("list").arg(archive).arg("--json").args(trust(key)));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "member")
        .collect()
}

/// Directory members come after their contents, so when a stop comes deep in
/// a tree the directories being walked have no member yet: they are written
/// before the final checkpoint, innermost first, each saying that its listing
/// was cut short, and GNU tar restores their modes and times.
#[test]
fn a_stop_deep_in_a_tree_keeps_every_directory_being_walked() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let levels = ["", "a", "a/b", "a/b/c", "a/b/c/d"];
    std::fs::create_dir_all(src.join("a/b/c/d")).unwrap();
    std::fs::create_dir_all(src.join("a/b/c/y")).unwrap();
    std::fs::write(src.join("0-first.log"), "walked before the stop\n").unwrap();
    // The first file read below the root, and too big to get through the
    // pipe and the collector's buffers before the test reads more.
    std::fs::write(src.join("a/b/c/d/big.bin"), noise(32 << 20)).unwrap();
    // Entries after it at every level: the walk never reaches them. The
    // walk runs ahead of the writing by a window of entries (the read-ahead
    // of small files), so the directory being read holds more than that:
    // the walk is still inside it when the stop comes.
    for level in levels {
        std::fs::write(src.join(level).join("z-after.log"), "never walked\n").unwrap();
    }
    for i in 0..300 {
        std::fs::write(src.join(format!("a/b/c/d/y-{i:03}.log")), "walked ahead\n").unwrap();
    }
    std::fs::write(src.join("a/b/c/y/f.log"), "never walked\n").unwrap();
    // Modes and times last, innermost first: creating entries moves a
    // directory's mtime.
    let mut want = Vec::new();
    for (i, level) in levels.iter().enumerate().rev() {
        let path = src.join(level);
        let mode = [0o755, 0o750, 0o745, 0o715, 0o701][i];
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let (secs, nanos) = (1_400_000_000 + 86_400 * i as i64, 123_456_789 + i as i64);
        let t = rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: nanos as _,
        };
        let times = rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        };
        rustix::fs::utimensat(rustix::fs::CWD, &path, &times, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).unwrap();
        want.push((level.to_string(), mode, (secs, nanos)));
    }
    let key = keygen(dir.path(), "key");

    // The collector blocks on the full pipe inside big.bin until the test
    // reads more, so SIGTERM comes while it is being read.
    let mut child = spawn_collect(&src, &key, "-", &[]);
    let mut stdout = child.stdout.take().unwrap();
    let mut got = vec![0u8; 1 << 20];
    let n = read_up_to(&mut stdout, &mut got);
    got.truncate(n);
    let s = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(s.success());
    stdout.read_to_end(&mut got).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    let archive = dir.path().join("stopped.tar.zst");
    std::fs::write(&archive, &got).unwrap();

    let report = assert_incomplete(&archive, &key);
    let stopped = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "collection-stopped")
        .count();
    assert_eq!(stopped, 1, "{report:#}");
    assert_eq!(
        report["unproven_members"], 0,
        "the final checkpoint covers every member: {report:#}"
    );

    let rel = src.strip_prefix("/").unwrap().to_str().unwrap().to_string();
    let members = listing(&archive, &key);
    let evidence: Vec<(String, String, String)> = members
        .iter()
        .filter(|m| m["status"] != "custody")
        .map(|m| {
            let path = m["path"].as_str().unwrap().to_string();
            let status = m["status"].as_str().unwrap().to_string();
            let detail = m["detail"].as_str().unwrap_or_default().to_string();
            (path, status, detail)
        })
        .collect();
    let cut = "collection stopped by SIGTERM before all its entries were walked";
    // The files the walk had already passed to the read-ahead when the stop
    // came are archived whole, in walk order.
    let ahead = evidence.iter().filter(|(p, _, _)| p.contains("/y-")).count();
    assert!(ahead < 100, "{ahead} files walked ahead: the window is 64");
    let expected: Vec<(String, &str, bool)> = [
        ("0-first.log".to_string(), "ok", false),
        ("a/b/c/d/big.bin".to_string(), "interrupted", false),
    ]
    .into_iter()
    .chain((0..ahead).map(|i| (format!("a/b/c/d/y-{i:03}.log"), "ok", false)))
    .chain(
        levels
            .iter()
            .rev()
            .map(|l| (format!("{l}/").trim_start_matches('/').to_string(), "ok", true)),
    )
    .map(|(p, status, detail)| (format!("{rel}/{p}"), status, detail))
    .collect();
    assert_eq!(evidence.len(), expected.len(), "{evidence:#?}");
    for ((path, status, detail), (want_path, want_status, cut_short)) in evidence.iter().zip(&expected) {
        assert_eq!((path, status.as_str()), (want_path, *want_status), "{evidence:#?}");
        assert_eq!(detail.starts_with(cut), *cut_short, "{path}: {detail:?}");
    }
    // The directory members come before the final checkpoint, which they are
    // listed in.
    let last_dir = members.iter().position(|m| m["path"] == format!("{rel}/")).unwrap();
    assert!(members[last_dir + 1..].iter().all(|m| m["status"] == "custody"));

    // GNU tar reads the stream to its end and restores every directory.
    let into = dir.path().join("gnu");
    std::fs::create_dir(&into).unwrap();
    require_tool("tar");
    require_tool("zstd");
    let o = run(Command::new("sh")
        .arg("-c")
        .arg("zstd -dc \"$1\" | tar -xf - -C \"$2\"")
        .arg("sh")
        .arg(&archive)
        .arg(&into));
    assert!(o.status.success() && o.stderr.is_empty(), "{}", text(&o));
    for (level, mode, mtime) in &want {
        let md = std::fs::symlink_metadata(into.join(&rel).join(level)).unwrap();
        assert_eq!(
            (md.mode() & 0o7777, (md.mtime(), md.mtime_nsec())),
            (*mode, *mtime),
            "{level:?} as GNU tar restored it"
        );
    }
    assert!(!into.join(&rel).join("a/b/c/d/z-after.log").exists());
    assert!(!into.join(&rel).join("a/b/c/y").exists());
}
