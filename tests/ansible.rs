//! Fleet collection with Ansible (examples/ansible/, README "Many hosts"):
//! the real `ansible-playbook` against a real sshd on 127.0.0.1, started
//! here, with a real ssh-agent holding the signing key. Two hosts are
//! collected and verify; an unreachable one and one whose collection is cut
//! midway fail alone, each as the README says.
//!
//! ansible-core comes from the virtualenv `.ci/run` makes under `target/`
//! (or `CUSTODY_ANSIBLE_PLAYBOOK`); the binary copied to the hosts is
//! `CUSTODY_STATIC_BIN` when set (CI builds it), else the test build.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The longest a playbook run may take before the test kills it.
const PLAYBOOK_LIMIT: Duration = Duration::from_secs(300);

/// What the test needs, or why it cannot run. Outside CI a missing piece is
/// a loud SKIPPED line; in CI it is a failure.
fn requirements() -> Option<PathBuf> {
    let in_ci = std::env::var_os("CI").is_some();
    let missing = |what: &str| {
        assert!(!in_ci, "{what}; .ci/run installs it, so in CI this is a failure");
        eprintln!("SKIPPED: {what}");
        None
    };
    if !needs_root("sshd for the fleet collection with Ansible") {
        assert!(!in_ci, "CI runs as root; the Ansible test needs root for sshd");
        return None;
    }
    if !Path::new("/usr/sbin/sshd").is_file() {
        return missing("no /usr/sbin/sshd (apt-get install openssh-server)");
    }
    let playbook = std::env::var_os("CUSTODY_ANSIBLE_PLAYBOOK")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-ansible/bin/ansible-playbook"));
    if !playbook.is_file() {
        return missing(&format!(
            "no ansible-playbook at {} (set CUSTODY_ANSIBLE_PLAYBOOK, or run .ci/run once)",
            playbook.display()
        ));
    }
    for tool in ["ssh", "ssh-keygen", "ssh-agent", "ssh-add", "timeout"] {
        require_tool(tool);
    }
    Some(playbook)
}

/// A child process killed and reaped when dropped: sshd, ssh-agent.
struct Service(Child, &'static str);
impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port on 127.0.0.1 nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Wait until something accepts connections on `port`, or panic.
fn wait_for_port(port: u16, service: &mut Service) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = service.0.try_wait().unwrap() {
            panic!("{} exited ({status}) before listening on port {port}", service.1);
        }
        assert!(Instant::now() < deadline, "{} did not listen on port {port}", service.1);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The loopback "fleet": sshd on a free port that lets root in with a key
/// made here, and an ssh-agent holding the responder's signing key.
struct Fleet {
    dir: PathBuf,
    port: u16,
    login_key: PathBuf,
    known_hosts: PathBuf,
    signer_pub: PathBuf,
    agent_sock: PathBuf,
    _sshd: Service,
    _agent: Service,
}

fn ssh_keygen(path: &Path) {
    let o = run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "custody-test", "-f"])
        .arg(path));
    assert!(o.status.success(), "ssh-keygen: {}", text(&o));
}

impl Fleet {
    fn start(dir: &Path) -> Fleet {
        let host_key = dir.join("host_key");
        let login_key = dir.join("login_key");
        ssh_keygen(&host_key);
        ssh_keygen(&login_key);
        std::fs::copy(pub_of(&login_key), dir.join("authorized_keys")).unwrap();
        // sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\nHostKey {dir}/host_key\nAuthorizedKeysFile {dir}/authorized_keys\n\
                 PidFile {dir}/sshd.pid\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nAllowAgentForwarding yes\n\
                 PrintMotd no\nPrintLastLog no\nLogLevel ERROR\n",
                dir = dir.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let mut sshd = Service(
            Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .args(["-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
                .spawn()
                .expect("start sshd"),
            "sshd",
        );
        wait_for_port(port, &mut sshd);
        let known_hosts = dir.join("known_hosts");
        let host_pub = std::fs::read_to_string(pub_of(&host_key)).unwrap();
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}")).unwrap();

        let agent_sock = dir.join("agent.sock");
        let mut agent = Service(
            Command::new("ssh-agent")
                .arg("-D")
                .arg("-a")
                .arg(&agent_sock)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("start ssh-agent"),
            "ssh-agent",
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while !agent_sock.exists() {
            assert!(agent.0.try_wait().unwrap().is_none(), "ssh-agent exited");
            assert!(Instant::now() < deadline, "ssh-agent made no socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        let signer = keygen(dir, "responder");
        let o = run(Command::new("ssh-add").arg("-q").arg(&signer).env("SSH_AUTH_SOCK", &agent_sock));
        assert!(o.status.success(), "ssh-add: {}", text(&o));
        Fleet {
            dir: dir.to_path_buf(),
            port,
            login_key,
            known_hosts,
            signer_pub: pub_of(&signer),
            agent_sock,
            _sshd: sshd,
            _agent: agent,
        }
    }

    /// An inventory (JSON, which Ansible reads as YAML) of these hosts, each
    /// with its own variables, all reached through this sshd unless they
    /// set `ansible_port`.
    /// `vars` are the group's: a host's own variables override them (extra
    /// variables given with -e would override the hosts').
    fn inventory(&self, name: &str, hosts: serde_json::Value, vars: serde_json::Value) -> PathBuf {
        let mut group_vars = serde_json::json!({
            "ansible_port": self.port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": self.login_key,
            "ansible_ssh_common_args": format!(
                "-F /dev/null -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ConnectTimeout=10",
                self.known_hosts.display()
            ),
        });
        group_vars.as_object_mut().unwrap().extend(vars.as_object().unwrap().clone());
        let inventory = serde_json::json!({"evidence": {"hosts": hosts, "vars": group_vars}});
        let path = self.dir.join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(&inventory).unwrap()).unwrap();
        path
    }

    /// Run the playbook with these extra variables; its exit code and output.
    fn play(&self, playbook: &Path, inventory: &Path, vars: serde_json::Value) -> (i32, String) {
        let home = self.dir.join("ansible-home");
        std::fs::create_dir_all(&home).unwrap();
        let config = self.dir.join("ansible.cfg");
        std::fs::write(&config, "").unwrap();
        let vars_file = self
            .dir
            .join(format!("{}.vars.json", inventory.file_name().unwrap().to_string_lossy()));
        std::fs::write(&vars_file, serde_json::to_vec(&vars).unwrap()).unwrap();
        let log = self.dir.join(format!("{}.out", inventory.file_name().unwrap().to_string_lossy()));
        let mut child = Command::new(playbook)
            .arg("-i")
            .arg(inventory)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ansible/collect.yml"))
            .arg("-e")
            .arg(format!("@{}", vars_file.display()))
            .env("SSH_AUTH_SOCK", &self.agent_sock)
            // Everything Ansible writes on the controller stays in the
            // test's directory; no ssh master outlives the play.
            .env("ANSIBLE_CONFIG", &config)
            .env("ANSIBLE_HOME", &home)
            .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
            .env("ANSIBLE_REMOTE_TMP", home.join("remote-tmp"))
            .env("ANSIBLE_SSH_ARGS", "")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env_remove("ANSIBLE_INVENTORY")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .spawn()
            .expect("start ansible-playbook");
        let deadline = Instant::now() + PLAYBOOK_LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "ansible-playbook ran over {PLAYBOOK_LIMIT:?}; its output so far:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let out = format!(
            "{}\n--- stderr\n{}",
            std::fs::read_to_string(&log).unwrap(),
            std::fs::read_to_string(log.with_extension("err")).unwrap()
        );
        (status.code().expect("ansible-playbook killed by a signal"), out)
    }
}

/// The binary the play copies to the hosts.
fn host_binary() -> PathBuf {
    match std::env::var_os("CUSTODY_STATIC_BIN") {
        Some(p) => PathBuf::from(p),
        None => custody_bin(),
    }
}

/// The play's recap line for `host`: `ok=N changed=N unreachable=N failed=N ...`.
fn recap<'a>(out: &'a str, host: &str) -> &'a str {
    let recap = out.split("PLAY RECAP").nth(1).unwrap_or_else(|| panic!("no PLAY RECAP:\n{out}"));
    recap
        .lines()
        .find(|l| l.split_whitespace().next() == Some(host))
        .unwrap_or_else(|| panic!("no recap line for {host}:\n{out}"))
}

fn recap_count(out: &str, host: &str, what: &str) -> u32 {
    recap(out, host)
        .split_whitespace()
        .find_map(|f| f.strip_prefix(&format!("{what}=")))
        .unwrap_or_else(|| panic!("no {what}= for {host}:\n{out}"))
        .parse()
        .unwrap()
}

/// The custody log's event kinds of a verify --json report, in order.
fn events(report: &serde_json::Value) -> Vec<String> {
    report["custody_log"]["records"]
        .as_array()
        .map(|r| r.iter().filter_map(|e| e["kind"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Entries under `dir` whose names start with `custody.`: staging
/// directories the play left behind.
fn staging_left(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("custody."))
                .collect()
        })
        .unwrap_or_default()
}

/// A profile that collects `tree`, with one live step; `command` adds a
/// profile command.
fn write_profile(path: &Path, tree: &Path, command: &str) {
    std::fs::write(
        path,
        format!(
            "name = \"fleet-test\"\ndescription = \"The test's tree.\"\n\n[live]\nsteps = [\"system\"]\n\n\
             [[area]]\nname = \"evidence\"\nwhy = \"The test's tree.\"\npaths = [\"{}\"]\n{command}",
            tree.display()
        ),
    )
    .unwrap();
}

#[test]
fn a_fleet_is_collected_streamed_recorded_and_verified_and_failures_stay_per_host() {
    let Some(playbook) = requirements() else { return };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(dir.path());
    let tree = dir.path().join("tree");
    make_tree(&tree);
    let profile = dir.path().join("fleet.toml");
    write_profile(&profile, &tree, "");
    // The cut host's profile runs a command long enough for `timeout` (the
    // remote prefix, as sudo would be) to stop collect midway with SIGTERM:
    // collect signs a final checkpoint and exits 5, as on any stop.
    let slow = dir.path().join("slow.toml");
    write_profile(
        &slow,
        &tree,
        "\n[[command]]\nname = \"wait\"\nargv = [\"sleep\", \"20\"]\ntimeout = \"4s\"\n",
    );
    // The staging parent is a tmpfs of the test's own, so that the play's
    // in-memory check passes whatever /run is on this machine.
    let stage = dir.path().join("stage");
    let _tmpfs = Mount::tmpfs(&stage, "mode=0755,size=1g");
    let archives = dir.path().join("archives");
    let inventory = fleet.inventory(
        "fleet.json",
        serde_json::json!({
            "alpha": {"ansible_host": "127.0.0.1"},
            "bravo": {"ansible_host": "127.0.0.1"},
            // A built-in profile by name, with its live response: /etc and
            // /var/log are small here (the default, devserver, would read
            // every staging area of this machine: gigabytes of benchmark
            // corpora under /tmp, minutes, not seconds).
            "named": {"ansible_host": "127.0.0.1", "custody_profile": "minimal", "custody_profile_file": ""},
            "offline": {"ansible_host": "127.0.0.1", "ansible_port": free_port()},
            "cut": {
                "ansible_host": "127.0.0.1",
                "custody_profile_file": slow,
                "custody_remote_prefix": ["timeout", "--preserve-status", "-s", "TERM", "1"],
            },
        }),
        serde_json::json!({"custody_profile_file": profile}),
    );
    let (rc, out) = fleet.play(
        &playbook,
        &inventory,
        serde_json::json!({
            "custody_bin": host_binary(),
            "custody_agent_key": fleet.signer_pub,
            "custody_archive_dir": archives,
            "custody_case": "CASE-FLEET-1",
            "custody_examiner": "R. Esponder",
            "custody_staging_parent": stage,
        }),
    );
    assert_eq!(rc, 4, "ansible-playbook exits 4 when a host was unreachable:\n{out}");

    let key = fleet.signer_pub.to_str().unwrap();
    for host in ["alpha", "bravo", "named"] {
        assert_eq!(recap_count(&out, host, "failed"), 0, "{host}:\n{out}");
        assert_eq!(recap_count(&out, host, "unreachable"), 0, "{host}:\n{out}");
        let archive = archives.join(format!("{host}.tar.zst"));
        assert!(archive.is_file(), "{host}'s archive is on the controller:\n{out}");
        let (report, rc) = verify_json(&archive, &["--key", key]);
        assert_eq!(rc, 0, "{host}: {report}");
        assert_eq!(report["verdict"], "verified", "{host}");
        assert_eq!(report["header"]["case"]["evidence_id"], host, "{host}");
        assert_eq!(report["header"]["case"]["case"], "CASE-FLEET-1", "{host}");
        assert_eq!(events(&report), ["acquired", "received"], "{host}: {report}");
        let received = &report["custody_log"]["records"][1];
        assert_eq!(received["verification"]["verdict"], "verified", "{host}");
        // The checksum file written from collect's own summary matches the
        // file as it arrived.
        let sidecar = std::fs::read_to_string(archive.with_extension("zst.sha256")).unwrap();
        assert_eq!(
            sidecar.split_whitespace().next(),
            report["input_sha256"].as_str(),
            "{host}: {report}"
        );
        let o = run(custody().args(["list", "--key", key]).arg(&archive));
        assert_eq!(code(&o), 0, "{}", text(&o));
        let listing = String::from_utf8_lossy(&o.stdout);
        if host == "named" {
            assert!(listing.contains(".custody/live/"), "{host} holds the live response:\n{listing}");
            assert!(listing.contains(" etc/"), "{host} holds /etc:\n{listing}");
        } else {
            assert!(listing.contains("etc/app/app.conf"), "{host} holds the tree:\n{listing}");
        }
    }

    assert_eq!(recap_count(&out, "offline", "unreachable"), 1, "{out}");
    assert!(
        !archives.join("offline.tar.zst").exists(),
        "an unreachable host leaves nothing on the controller"
    );

    assert_eq!(recap_count(&out, "cut", "failed"), 1, "{out}");
    assert!(out.contains("custody collect on cut ended with exit code 5 "), "{out}");
    let cut = archives.join("cut.tar.zst");
    let (report, rc) = verify_json(&cut, &["--key", key]);
    assert_eq!(rc, 10, "a collection stopped midway verifies as incomplete: {report}");
    assert_eq!(events(&report), ["acquired", "received"], "{report}");
    assert!(
        report["custody_log"]["records"][0]["note"]
            .as_str()
            .is_some_and(|n| n.contains("partial")),
        "{report}"
    );
    assert_eq!(
        report["custody_log"]["records"][1]["verification"]["verdict"], "incomplete",
        "{report}"
    );
    assert!(!cut.with_extension("zst.sha256").exists(), "no checksum file for a cut collection");

    assert_eq!(
        staging_left(&stage),
        Vec::<PathBuf>::new(),
        "the play removes custody from every host it reached"
    );
    eprintln!("fleet play with 5 hosts: {:.1} s", started.elapsed().as_secs_f64());
}
