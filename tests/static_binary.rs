//! The static binary (scripts/build-static, README "A static binary") runs
//! where there is nothing but itself and the kernel: in a root directory
//! holding only the binary, a small tree, /etc/hosts and a fresh /proc, it
//! makes a key, collects the tree with a trusted timestamp from a TSA it
//! reaches by host name, and verifies the archive.
//!
//! The binary is the one `CUSTODY_STATIC_BIN` names; `.ci/run` builds it
//! and sets it, so in CI this test never skips.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The static binary to test, or None (skipped, loudly) outside CI.
fn static_binary() -> Option<PathBuf> {
    let in_ci = std::env::var_os("CI").is_some();
    let Some(bin) = std::env::var_os("CUSTODY_STATIC_BIN").map(PathBuf::from) else {
        assert!(
            !in_ci,
            "CUSTODY_STATIC_BIN is not set: .ci/run builds the static binary with scripts/build-static and names it there"
        );
        eprintln!("SKIPPED: the static binary (build it with scripts/build-static, then set CUSTODY_STATIC_BIN)");
        return None;
    };
    assert!(bin.is_file(), "CUSTODY_STATIC_BIN names {}, which is not a file", bin.display());
    if !needs_root("chroot into an empty root for the static binary") {
        assert!(!in_ci, "CI runs as root");
        return None;
    }
    require_tool("unshare");
    require_tool("chroot");
    Some(bin)
}

/// Run `/custody ARGS` chrooted into `root`, in its own mount and PID
/// namespaces with a fresh /proc mounted there (custody reopens files
/// through /proc/self/fd and reads its capabilities there).
fn in_root(root: &Path, args: &[&str]) -> std::process::Output {
    run(Command::new("unshare")
        .args(["--mount", "--pid", "--fork"])
        .arg(format!("--mount-proc={}", root.join("proc").display()))
        .arg("chroot")
        .arg(root)
        .arg("/custody")
        .args(args)
        // Nothing of this environment reaches custody but a PATH that
        // names no directory inside the root.
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(std::process::Stdio::null()))
}

#[test]
fn the_static_binary_collects_and_verifies_in_an_empty_root() {
    let Some(bin) = static_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for d in ["proc", "etc", "out"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(&bin, root.join("custody")).unwrap();
    make_tree(&root.join("tree"));
    // The TSA is reached by name: the static libc resolves it from
    // /etc/hosts, with no NSS module to load.
    let tsa = tsa::Tsa::start(tsa::Mode::Good);
    let url = tsa.url().replace("127.0.0.1", "tsa.test");
    std::fs::write(root.join("etc/hosts"), "127.0.0.1 tsa.test\n").unwrap();
    std::fs::copy(tsa.root_pem_path(), root.join("out/tsa-root.pem")).unwrap();
    let mut top: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["custody", "etc", "out", "proc", "tree"], "nothing else in the root");

    let o = in_root(&root, &["keygen", "--output", "/out/key"]);
    assert_eq!(code(&o), 0, "keygen in the empty root: {}", text(&o));
    let o = in_root(
        &root,
        &[
            "collect",
            "/tree",
            "--output",
            "/out/tree.tar.zst",
            "--key",
            "/out/key",
            "--tsa",
            &url,
            "--quiet",
        ],
    );
    assert_eq!(code(&o), 0, "collect in the empty root: {}", text(&o));
    assert!(tsa.served() > 0, "the TSA was reached by name: {}", text(&o));
    let o = in_root(
        &root,
        &[
            "verify",
            "/out/tree.tar.zst",
            "--key",
            "/out/key.pub",
            "--tsa-ca",
            "/out/tsa-root.pem",
        ],
    );
    assert_eq!(code(&o), 0, "verify in the empty root: {}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("VERIFIED: sealed"), "{}", text(&o));

    // The same archive, checked by the ordinary build outside.
    let archive = root.join("out/tree.tar.zst");
    let tsa_ca = root.join("out/tsa-root.pem");
    let (report, rc) = verify_json(
        &archive,
        &[
            "--key",
            root.join("out/key.pub").to_str().unwrap(),
            "--tsa-ca",
            tsa_ca.to_str().unwrap(),
        ],
    );
    assert_eq!(rc, 0, "{report}");
    assert_eq!(report["verdict"], "verified");
    let o = run(custody().arg("list").arg(&archive).arg("--key").arg(root.join("out/key.pub")));
    assert!(String::from_utf8_lossy(&o.stdout).contains("tree/etc/app/app.conf"), "{}", text(&o));
}
