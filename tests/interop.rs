//! Interoperability with the real tools a third party would use: GNU tar,
//! bsdtar, zstd, sha256sum, ssh-keygen and ssh-agent.

mod common;
use common::*;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

fn tool(name: &str) -> Command {
    require_tool(name);
    Command::new(name)
}

fn ok(o: std::process::Output) -> std::process::Output {
    assert!(o.status.success(), "{}", text(&o));
    o
}

/// Compare an extracted tree with the source: content, mode, mtime, symlinks.
fn assert_same_tree(src: &Path, got: &Path, check_hardlink: bool) {
    for e in walkdir::WalkDir::new(src).follow_links(false) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(src).unwrap();
        let g = got.join(rel);
        let (a, b) = (
            std::fs::symlink_metadata(e.path()).unwrap(),
            std::fs::symlink_metadata(&g).unwrap_or_else(|_| panic!("missing {}", g.display())),
        );
        assert_eq!(a.file_type().is_symlink(), b.file_type().is_symlink(), "{}", rel.display());
        if a.file_type().is_symlink() {
            assert_eq!(
                std::fs::read_link(e.path()).unwrap(),
                std::fs::read_link(&g).unwrap(),
                "{}",
                rel.display()
            );
            continue;
        }
        assert_eq!(a.mode() & 0o777, b.mode() & 0o777, "mode of {}", rel.display());
        if a.is_file() {
            assert_eq!(
                std::fs::read(e.path()).unwrap(),
                std::fs::read(&g).unwrap(),
                "content of {}",
                rel.display()
            );
            assert_eq!(
                (a.mtime(), a.mtime_nsec()),
                (b.mtime(), b.mtime_nsec()),
                "mtime of {}",
                rel.display()
            );
        }
    }
    if check_hardlink {
        let x = std::fs::metadata(got.join("etc/app/app.conf")).unwrap();
        let y = std::fs::metadata(got.join("etc/app/app.conf.hardlink")).unwrap();
        assert_eq!(x.ino(), y.ino(), "hard link");
    }
}

#[test]
fn gnu_tar_bsdtar_zstd_and_sha256sum_accept_the_archive() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &["--checkpoint-members", "4"]);
    ok(tool("zstd").arg("-q").arg("-t").arg(&archive).output().unwrap());
    ok(tool("sha256sum")
        .arg("-c")
        .arg("a.tar.zst.sha256")
        .current_dir(dir.path())
        .output()
        .unwrap());
    let rel = src.strip_prefix("/").unwrap();

    let gnu = dir.path().join("gnu");
    std::fs::create_dir(&gnu).unwrap();
    let o = ok(tool("tar")
        .arg("--zstd")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&gnu)
        .output()
        .unwrap());
    assert!(o.stderr.is_empty(), "GNU tar warned: {}", text(&o));
    assert_same_tree(&src, &gnu.join(rel), true);
    ok(tool("sha256sum")
        .args(["--quiet", "-c"])
        .args(glob_manifests(&gnu))
        .current_dir(&gnu)
        .output()
        .unwrap());

    let bsd = dir.path().join("bsd");
    std::fs::create_dir(&bsd).unwrap();
    ok(tool("bsdtar").arg("-xf").arg(&archive).arg("-C").arg(&bsd).output().unwrap());
    assert_same_tree(&src, &bsd.join(rel), true);

    // The plain pipeline works too.
    let o = ok(Command::new("sh")
        .arg("-c")
        .arg(format!("zstd -dc '{}' | tar -tf - | grep -c app.conf", archive.display()))
        .output()
        .unwrap());
    assert!(String::from_utf8_lossy(&o.stdout).trim().parse::<u32>().unwrap() >= 2);
}

fn glob_manifests(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join(".custody"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sha256"))
        .map(|n| format!(".custody/{n}"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no manifests");
    v
}

#[test]
fn ssh_keygen_verifies_every_checkpoint_signature() {
    let (dir, src, key) = setup();
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &["--checkpoint-members", "3"]);
    let x = dir.path().join("x");
    std::fs::create_dir(&x).unwrap();
    ok(tool("tar")
        .arg("--zstd")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&x)
        .output()
        .unwrap());
    let allowed = dir.path().join("allowed_signers");
    std::fs::write(&allowed, format!("responder {}", std::fs::read_to_string(pub_of(&key)).unwrap())).unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(x.join(".custody")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|e| e == "sig") {
            let doc = p.with_extension("");
            let o = tool("ssh-keygen")
                .args(["-Y", "verify", "-I", "responder", "-n", "custody-checkpoint-v1@custody", "-f"])
                .arg(&allowed)
                .arg("-s")
                .arg(&p)
                .stdin(std::fs::File::open(&doc).unwrap())
                .output()
                .unwrap();
            assert!(o.status.success(), "{}: {}", p.display(), text(&o));
            n += 1;
        }
    }
    assert!(n >= 3, "expected several checkpoints, saw {n}");
}

#[test]
fn keys_made_by_ssh_keygen_work_for_collect() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src);
    for (name, pass) in [("plain", ""), ("enc", "s3cret pass")] {
        let key = dir.path().join(name);
        ok(tool("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", pass, "-C", "test", "-f"])
            .arg(&key)
            .output()
            .unwrap());
        let archive = dir.path().join(format!("{name}.tar.zst"));
        let o = run(custody()
            .arg("collect")
            .arg(&src)
            .arg("-o")
            .arg(&archive)
            .arg("--quiet")
            .arg("--key")
            .arg(&key)
            .env("CUSTODY_KEY_PASSPHRASE", pass));
        assert_eq!(code(&o), 0, "{}", text(&o));
        let (r, rc) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
        assert_eq!(rc, 0, "{r}");
        assert_eq!(r["signer"]["source"], "file");
    }
}

#[test]
fn ssh_agent_signs_without_the_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src);
    let key = dir.path().join("agentkey");
    ok(tool("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "agent", "-f"])
        .arg(&key)
        .output()
        .unwrap());
    let sock = dir.path().join("agent.sock");
    let mut agent = tool("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let add = tool("ssh-add").arg(&key).env("SSH_AUTH_SOCK", &sock).output().unwrap();
    // The private key file is removed: only the agent holds it now.
    std::fs::remove_file(&key).unwrap();
    let archive = dir.path().join("a.tar.zst");
    let o = run(custody()
        .arg("collect")
        .arg(&src)
        .arg("-o")
        .arg(&archive)
        .arg("--quiet")
        .arg("--agent")
        .env("SSH_AUTH_SOCK", &sock));
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(add.status.success(), "{}", text(&add));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let (r, rc) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(r["signer"]["source"], "agent");
}

/// Every directory's mtime and mode, the source root's included, survive
/// extraction by GNU tar and bsdtar with their default flags, although
/// checkpoint members (in `.custody/`, outside every source directory) fall
/// between the members of each directory. GNU tar applies a directory's
/// delayed metadata as soon as it extracts a member outside that directory,
/// so a directory member must come after everything inside it. As root the
/// extractions are run a second time as an unprivileged user (umask 022).
#[test]
fn every_directory_keeps_its_mtime_and_mode_with_checkpoints_inside_directories() {
    use common::tree::{dated_dirs, dir_stamps, unlock, DATED_DIRS};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("dated");
    dated_dirs(&src);
    let want = dir_stamps(&src);
    assert_eq!(want.len(), DATED_DIRS.len(), "{want:?}");
    let key = keygen(dir.path(), "key");
    let archive = dir.path().join("a.tar.zst");
    collect(&src, &archive, &key, &["--checkpoint-members", "2"]);
    let (report, status) = verify_json(&archive, &["--key", pub_of(&key).to_str().unwrap()]);
    assert_eq!((status, report["verdict"].as_str()), (0, Some("verified")), "{report:#}");
    let checkpoints = report["proven"]["checkpoints"].as_u64().unwrap();
    assert!(checkpoints >= 10, "checkpoints must fall inside directories: {checkpoints}");
    let rel = src.strip_prefix("/").unwrap();

    // Each directory after its contents, siblings in byte order.
    let order = [
        "0-first",
        "a/0",
        "a/b/0",
        "a/b/c/f1",
        "a/b/c/f2",
        "a/b/c/f3",
        "a/b/c/",
        "a/b/c0",
        "a/b/d/f1",
        "a/b/d/f2",
        "a/b/d/",
        "a/b/e",
        "a/b/z1",
        "a/b/z2",
        "a/b/",
        "a/c-between",
        "a/f1",
        "a/f2",
        "a/g/",
        "a/z",
        "a/",
        "b-middle",
        "h/a",
        "h/m/f1",
        "h/m/f2",
        "h/m/f3",
        "h/m/",
        "h/n1",
        "h/n2",
        "h/n3",
        "h/",
        "zz-last",
        "",
    ];
    let o = ok(tool("sh")
        .arg("-c")
        .arg("zstd -dc \"$1\" | tar -tf -")
        .arg("sh")
        .arg(&archive)
        .output()
        .unwrap());
    let listed: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with(".custody/"))
        .map(String::from)
        .collect();
    let base = format!("{}/", rel.display());
    let expected: Vec<String> = order.iter().map(|p| format!("{base}{p}")).collect();
    assert_eq!(listed, expected);

    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    if root {
        require_tool("setpriv");
        // The unprivileged user must reach the archive and its own targets.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o644)).unwrap();
    } else {
        eprintln!("SKIPPED (not root): extraction as another, unprivileged user");
    }
    // Non-empty directories, which an extractor creates before it meets their
    // members now that those come after their contents.
    let filled: Vec<Vec<u8>> = ["", "a", "a/b", "a/b/c", "a/b/d", "h", "h/m"]
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
    let show = |s: Option<&(u32, (i64, i64))>| s.map_or("missing".into(), |(mode, (secs, nanos))| format!("{mode:04o} {secs}.{nanos:09}"));
    let mut wrong = Vec::new();
    let mut n = 0;
    for unprivileged in [false, true] {
        if unprivileged && !root {
            continue;
        }
        let tools: [(&str, &str); 4] = [
            ("GNU tar", "tar --zstd -xf \"$1\" -C \"$2\""),
            ("zstd -dc | GNU tar", "zstd -dc \"$1\" | tar -xf - -C \"$2\""),
            ("bsdtar", "bsdtar -xf \"$1\" -C \"$2\""),
            ("bsdtar -p", "bsdtar -xpf \"$1\" -C \"$2\""),
        ];
        for (name, script) in tools {
            n += 1;
            let out = dir.path().join(format!("out{n}"));
            std::fs::create_dir(&out).unwrap();
            let mut c = if unprivileged {
                std::os::unix::fs::chown(&out, Some(65534), Some(65534)).unwrap();
                let mut c = tool("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c"]);
                c.arg(format!("umask 022; {script}"));
                c
            } else {
                let mut c = tool("sh");
                c.arg("-c").arg(script);
                c
            };
            let o = ok(c.arg("sh").arg(&archive).arg(&out).output().unwrap());
            assert!(o.stderr.is_empty(), "{name} warned: {}", text(&o));
            let got = dir_stamps(&out.join(rel));
            for (path, &(mode, mtime)) in &want {
                // libarchive changes the mode of a directory that already
                // exists only with -p, which is the default only for root.
                let mode = if unprivileged && name == "bsdtar" && filled.contains(path) {
                    0o755
                } else {
                    mode
                };
                let g = got.get(path);
                if g != Some(&(mode, mtime)) {
                    let who = if unprivileged { " (unprivileged)" } else { "" };
                    let path = String::from_utf8_lossy(path);
                    wrong.push(format!(
                        "{name}{who}: {path:?}: expected {}, extracted {}",
                        show(Some(&(mode, mtime))),
                        show(g)
                    ));
                }
            }
            assert_eq!(got.len(), want.len(), "{name}: {got:?}");
            unlock(&out);
        }
    }
    // custody extract sets the directories' times at the end.
    let out = dir.path().join("custody");
    extract_trusted(&archive, &out, &key);
    let got = dir_stamps(&out.join(rel));
    // Run as root, custody extract restores every mode bit, as GNU tar does
    // for root; otherwise it keeps the owner's rwx so it can write inside.
    let root = rustix::process::geteuid().is_root();
    for (path, (mode, mtime)) in &want {
        let w = (if root { *mode } else { mode | 0o700 }, *mtime);
        let g = got.get(path);
        if g != Some(&w) {
            let path = String::from_utf8_lossy(path);
            wrong.push(format!(
                "custody extract: {path:?}: expected {}, extracted {}",
                show(Some(&w)),
                show(g)
            ));
        }
    }
    assert_eq!(got.len(), want.len(), "custody extract: {got:?}");
    unlock(&src);
    assert!(wrong.is_empty(), "directories restored wrongly:\n{}", wrong.join("\n"));
}
