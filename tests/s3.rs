//! Collecting into an S3-compatible store and verifying from it, against a
//! real server on loopback: moto's (`moto[server]` from PyPI), which
//! `.ci/run` installs in a virtualenv under target/ (or name its
//! `moto_server` with CUSTODY_MOTO_SERVER). A small TCP relay between the
//! collector and the server holds or cuts the connection, to stop a
//! collection mid-upload.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest, Sha256};

const BUCKET: &str = "evidence";

/// Creates the bucket and a user allowed everything, prints the user's
/// keys, then has the server check every request's signature.
const SETUP: &str = r#"
import sys, json, boto3, urllib.request
url = sys.argv[1]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **kw)
iam.create_user(UserName="collector")
key = iam.create_access_key(UserName="collector")["AccessKey"]
iam.put_user_policy(UserName="collector", PolicyName="all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
boto3.client("s3", **kw).create_bucket(Bucket="evidence")
urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"})).read()
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;

/// The `moto_server` to run, or `None` (outside CI) to skip.
fn moto_server() -> Option<PathBuf> {
    let made = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/ci-moto/bin/moto_server"));
    let found = std::env::var_os("CUSTODY_MOTO_SERVER")
        .map(PathBuf::from)
        .or_else(|| made.is_file().then_some(made));
    match found {
        Some(p) => {
            assert!(p.is_file(), "CUSTODY_MOTO_SERVER={} does not exist", p.display());
            Some(p)
        }
        None if std::env::var_os("CI").is_some() => {
            panic!("moto_server is needed in CI: .ci/run installs moto[server] in target/ci-moto")
        }
        None => {
            eprintln!("SKIPPED: the object storage tests need moto_server: run .ci/run once (it makes target/ci-moto), or set CUSTODY_MOTO_SERVER");
            None
        }
    }
}

/// A moto server on loopback with the bucket and a user; stopped when dropped.
struct Moto {
    child: Child,
    url: String,
    key_id: String,
    secret: String,
    python: PathBuf,
}

impl Moto {
    fn start() -> Option<Moto> {
        let server = moto_server()?;
        let port = free_port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
        let url = format!("http://127.0.0.1:{port}");
        let mut moto = Moto {
            child,
            url,
            key_id: String::new(),
            secret: String::new(),
            python: server.with_file_name("python"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen on port {port} within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        let o = run(Command::new(&moto.python).args(["-c", SETUP, &moto.url]));
        assert_eq!(code(&o), 0, "setting up moto: {}", text(&o));
        let keys = String::from_utf8(o.stdout).unwrap();
        let mut keys = keys.split_whitespace();
        moto.key_id = keys.next().unwrap().to_string();
        moto.secret = keys.next().unwrap().to_string();
        Some(moto)
    }

    /// `custody` with the user's keys and this server as the endpoint.
    fn custody(&self) -> Command {
        self.custody_at(&self.url)
    }

    /// `custody` with the user's keys and `endpoint`.
    fn custody_at(&self, endpoint: &str) -> Command {
        let mut c = custody();
        clean_aws_env(&mut c);
        c.env("AWS_ACCESS_KEY_ID", &self.key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_ENDPOINT_URL", endpoint);
        c
    }

    /// The object's bytes, downloaded with boto3.
    fn download(&self, key: &str) -> Vec<u8> {
        let script = "import sys, boto3\ns3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])\nsys.stdout.buffer.write(s3.get_object(Bucket=sys.argv[4], Key=sys.argv[5])['Body'].read())";
        let o = run(Command::new(&self.python).args(["-c", script, &self.url, &self.key_id, &self.secret, BUCKET, key]));
        assert_eq!(code(&o), 0, "downloading {key}: {}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    }

    /// Multipart uploads still pending in the bucket: (key, upload id).
    fn pending_uploads(&self) -> Vec<(String, String)> {
        let script = "import sys, boto3\ns3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])\nfor u in s3.list_multipart_uploads(Bucket=sys.argv[4]).get('Uploads', []): print(u['Key'], u['UploadId'])";
        let o = run(Command::new(&self.python).args(["-c", script, &self.url, &self.key_id, &self.secret, BUCKET]));
        assert_eq!(code(&o), 0, "{}", text(&o));
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (k, id) = l.split_once(' ').unwrap();
                (k.to_string(), id.to_string())
            })
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// No AWS setting of the test's own environment reaches the command.
fn clean_aws_env(c: &mut Command) {
    for v in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
    ] {
        c.env_remove(v);
    }
    c.env("HOME", "/nonexistent");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Files of incompressible bytes, `count` of `size` bytes each.
fn random_tree(root: &Path, count: usize, size: usize) {
    std::fs::create_dir_all(root).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..count {
        let mut bytes = Vec::with_capacity(size);
        while bytes.len() < size {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(root.join(format!("f{i:03}.bin")), &bytes).unwrap();
    }
}

fn stdout_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_collection_streamed_to_the_store_verifies_from_it() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    random_tree(&src, 34, 512 * 1024);
    let key = keygen(dir.path(), "key");
    let url = format!("s3://{BUCKET}/cases/017/host.tar.zst");
    // Parts of S3's smallest size (moto enforces it too): four of them
    // for the 17 MiB tree.
    let o = run(moto
        .custody()
        .args(["collect", "--quiet", "--s3-part-size", "5M", "--key"])
        .arg(&key)
        .arg(&src)
        .args(["--output", &url]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let said = stdout_of(&o);
    assert!(said.contains(&format!("sidecar      {url}.sha256")), "{said}");
    assert!(said.contains(&format!("custody log  {url}.custody (acquired")), "{said}");

    let archive = moto.download("cases/017/host.tar.zst");
    assert!(archive.len() > 15 << 20, "four parts: {} bytes", archive.len());
    let sidecar = String::from_utf8(moto.download("cases/017/host.tar.zst.sha256")).unwrap();
    assert_eq!(sidecar, format!("{}  host.tar.zst\n", hex::encode(Sha256::digest(&archive))));
    assert!(
        said.contains(&format!("archive sha256 {}", hex::encode(Sha256::digest(&archive)))),
        "{said}"
    );
    assert!(!moto.download("cases/017/host.tar.zst.receipt").is_empty());
    assert!(moto.pending_uploads().is_empty(), "the upload was completed");

    let o = run(moto.custody().args(["verify", &url, "--key"]).arg(pub_of(&key)));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let said = stdout_of(&o);
    assert!(said.starts_with("VERIFIED"), "{said}");
    assert!(
        said.contains(&format!("(matches {url}.sha256)")),
        "the checksum object was found: {said}"
    );
    let o = run(moto.custody().args(["verify", "--json", &url, "--key"]).arg(pub_of(&key)));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["verdict"], "verified", "{report:#}");
    let log = &report["custody_log"];
    assert_eq!(log["path"], format!("{url}.custody"), "{log:#}");
    assert_eq!(log["intact"], true, "{log:#}");
    assert_eq!(log["records"].as_array().map(Vec::len), Some(1), "{log:#}");
    assert_eq!(log["records"][0]["kind"], "acquired", "{log:#}");

    // The downloaded copy is the same archive, with the same log.
    let copy = dir.path().join("host.tar.zst");
    std::fs::write(&copy, &archive).unwrap();
    std::fs::write(
        dir.path().join("host.tar.zst.custody"),
        moto.download("cases/017/host.tar.zst.custody"),
    )
    .unwrap();
    let o = run(custody().arg("verify").arg(&copy).arg("--key").arg(pub_of(&key)));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = run(moto.custody().args(["list", &url, "--key"]).arg(pub_of(&key)));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(stdout_of(&o).contains("f033.bin"), "{}", text(&o));

    // An archive is never overwritten.
    let o = run(moto.custody().args(["collect", "--quiet"]).arg(&src).args(["--output", &url]));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("already exists"), "{}", text(&o));
}

#[test]
fn credentials_come_from_a_profile_and_wrong_ones_are_refused() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src);
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &credentials,
        format!("[default]\naws_access_key_id = AKIAWRONGWRONGWRONG1\naws_secret_access_key = wrong\n\n[case]\naws_access_key_id = {}\naws_secret_access_key = {}\n", moto.key_id, moto.secret),
    )
    .unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!("[profile case]\nregion = eu-west-1\nendpoint_url = {}\n", moto.url),
    )
    .unwrap();
    let profiled = |profile: &str| {
        let mut c = custody();
        clean_aws_env(&mut c);
        c.env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_PROFILE", profile)
            .env("AWS_ENDPOINT_URL", &moto.url);
        c
    };
    let url = format!("s3://{BUCKET}/profiled.tar.zst");
    let o = run(profiled("case").args(["collect", "--quiet"]).arg(&src).args(["--output", &url]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = run(profiled("case").args(["verify", &url]));
    assert_eq!(code(&o), 11, "verified but not trusted (no key named): {}", text(&o));

    // The default profile's keys are not the server's.
    let o = run(profiled("default")
        .args(["collect", "--quiet"])
        .arg(&src)
        .args(["--output", &format!("s3://{BUCKET}/wrong.tar.zst")]));
    assert_eq!(code(&o), 1, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("does not accept the credentials from profile default"), "{err}");
    assert!(
        !err.contains("wrong\n") && !err.contains(&moto.secret),
        "no secret is printed: {err}"
    );
    // A wrong secret with a known key id, from the environment.
    let o = run(moto.custody().env("AWS_SECRET_ACCESS_KEY", "not-the-secret").args(["verify", &url]));
    assert_eq!(code(&o), 1, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("SignatureDoesNotMatch") && err.contains("from the environment"),
        "{err}"
    );
    assert!(!err.contains("not-the-secret"), "no secret is printed: {err}");
    let o = run(profiled("nosuch").args(["verify", &url]));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("profile \"nosuch\""), "{}", text(&o));
}

#[test]
fn an_unreachable_endpoint_fails_fast_and_clearly() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src);
    let closed = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let o = run(moto
        .custody_at(&closed)
        .args(["collect", "--quiet"])
        .arg(&src)
        .args(["--output", &format!("s3://{BUCKET}/x.tar.zst")]));
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(code(&o), 1, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("cannot reach the object store at {closed}")), "{err}");
    assert!(err.contains("nothing was collected") || !err.contains("archive sha256"), "{err}");
    let o = run(moto.custody_at(&closed).args(["verify", &format!("s3://{BUCKET}/x.tar.zst")]));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot reach the object store"),
        "{}",
        text(&o)
    );
}

/// A TCP relay to the server that counts the bytes sent to it and can
/// hold them back, or cut every connection.
struct Relay {
    url: String,
    sent: Arc<AtomicU64>,
    hold: Arc<AtomicBool>,
    cut: Arc<AtomicBool>,
}

impl Relay {
    fn to(upstream: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let target = upstream.trim_start_matches("http://").to_string();
        let (sent, hold, cut) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let relay = Relay {
            url,
            sent: Arc::clone(&sent),
            hold: Arc::clone(&hold),
            cut: Arc::clone(&cut),
        };
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if cut.load(Ordering::SeqCst) {
                    continue;
                }
                let server = TcpStream::connect(&target).unwrap();
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (sent, hold, cut1, cut2) = (Arc::clone(&sent), Arc::clone(&hold), Arc::clone(&cut), Arc::clone(&cut));
                std::thread::spawn(move || pump(client, server, Some((sent, hold)), cut1));
                std::thread::spawn(move || pump(s2, c2, None, cut2));
            }
        });
        relay
    }
}

/// Copy `from` to `to` until either end closes or the relay is cut;
/// count and hold back the bytes going to the server.
fn pump(mut from: TcpStream, mut to: TcpStream, upstream: Option<(Arc<AtomicU64>, Arc<AtomicBool>)>, cut: Arc<AtomicBool>) {
    from.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if cut.load(Ordering::SeqCst) {
            break;
        }
        if let Some((_, hold)) = &upstream {
            if hold.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                if let Some((sent, _)) = &upstream {
                    sent.fetch_add(n as u64, Ordering::SeqCst);
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// Wait until the relay has passed `bytes` to the server.
fn wait_for(relay: &Relay, bytes: u64, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while relay.sent.load(Ordering::SeqCst) < bytes {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the collection ended before {bytes} bytes were uploaded"
        );
        assert!(Instant::now() < deadline, "{bytes} bytes were not uploaded within 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_collection_stopped_by_sigterm_mid_upload_leaves_an_incomplete_object() {
    let Some(moto) = Moto::start() else { return };
    let relay = Relay::to(&moto.url);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    random_tree(&src, 48, 512 * 1024);
    let key = keygen(dir.path(), "key");
    let url = format!("s3://{BUCKET}/stopped.tar.zst");
    let mut child = moto
        .custody_at(&relay.url)
        .args(["collect", "--quiet", "--s3-part-size", "5M", "--checkpoint-members", "2", "--key"])
        .arg(&key)
        .arg(&src)
        .args(["--output", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Two parts stored, then the store stalls: the collector is blocked
    // mid-collection when the signal comes.
    wait_for(&relay, 10 << 20, &mut child);
    relay.hold.store(true, Ordering::SeqCst);
    let s = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(s.success());
    std::thread::sleep(Duration::from_millis(300));
    relay.hold.store(false, Ordering::SeqCst);
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 5, "{}", text(&o));
    assert!(stdout_of(&o).contains("STOPPED"), "{}", text(&o));

    let o = run(moto.custody().args(["verify", &url, "--key"]).arg(pub_of(&key)));
    assert_eq!(code(&o), 10, "{}", text(&o));
    let said = stdout_of(&o);
    assert!(said.starts_with("INCOMPLETE: the collection was stopped before its end"), "{said}");
    assert!(
        said.contains("(matches s3://"),
        "the checksum object matches the stopped archive: {said}"
    );
    assert!(moto.pending_uploads().is_empty(), "the upload was completed");
    let archive = moto.download("stopped.tar.zst");
    assert!(archive.len() < 24 << 20, "stopped before the end: {} bytes", archive.len());
}

#[test]
fn a_network_failure_mid_upload_says_what_the_store_holds() {
    let Some(moto) = Moto::start() else { return };
    let relay = Relay::to(&moto.url);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    random_tree(&src, 48, 512 * 1024);
    let url = format!("s3://{BUCKET}/cut.tar.zst");
    let mut child = moto
        .custody_at(&relay.url)
        .args(["collect", "--quiet", "--s3-part-size", "5M"])
        .arg(&src)
        .args(["--output", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&relay, 10 << 20, &mut child);
    relay.cut.store(true, Ordering::SeqCst);
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 3, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    eprintln!("{err}");
    let pending = moto.pending_uploads();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let (key, id) = &pending[0];
    assert_eq!(key, "cut.tar.zst");
    assert!(err.contains("cannot reach the object store"), "{err}");
    assert!(err.contains(&format!("the upload {id} stays pending")), "{err}");
    assert!(
        err.contains(&format!(
            "aws s3api abort-multipart-upload --bucket {BUCKET} --key cut.tar.zst --upload-id {id} --endpoint-url {}",
            relay.url
        )),
        "{err}"
    );
}

/// Upload throughput against boto3's upload of the same archive to the same
/// server (`cargo test --release --test s3 -- --ignored --nocapture`).
#[test]
#[ignore]
fn throughput_against_a_plain_upload() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    random_tree(&src, 64, 4 << 20);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut to_store, mut to_file, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    let mut size = 0;
    for round in 0..3 {
        let file = dir.path().join(format!("a{round}.tar.zst"));
        let t = Instant::now();
        let o = run(moto.custody().args(["collect", "--quiet", "--output"]).arg(&file).arg(&src));
        assert_eq!(code(&o), 0, "{}", text(&o));
        to_file.push(t.elapsed().as_secs_f64());
        size = std::fs::metadata(&file).unwrap().len();
        let t = Instant::now();
        let o = run(moto
            .custody()
            .args(["collect", "--quiet", "--output", &format!("s3://{BUCKET}/c{round}.tar.zst")])
            .arg(&src));
        assert_eq!(code(&o), 0, "{}", text(&o));
        to_store.push(t.elapsed().as_secs_f64());
        let script = "import sys, time, boto3\ns3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])\nt = time.monotonic()\ns3.upload_file(sys.argv[4], 'evidence', sys.argv[5])\nprint(time.monotonic() - t)";
        let o = run(Command::new(&moto.python)
            .args(["-c", script, &moto.url, &moto.key_id, &moto.secret])
            .arg(&file)
            .arg(format!("plain{round}")));
        assert_eq!(code(&o), 0, "{}", text(&o));
        plain.push(stdout_of(&o).trim().parse().unwrap());
    }
    let mb = size as f64 / 1e6;
    let (f, s, p) = (median(to_file), median(to_store), median(plain));
    println!("archive {mb:.1} MB; medians of 3: collect to a file {f:.2} s, collect to the store {s:.2} s ({:.1} MB/s), boto3 upload_file of the archive {p:.2} s ({:.1} MB/s)", mb / s, mb / p);
}
