//! A real RFC 3161 time-stamping authority on loopback, for tests: a
//! throw-away CA and TSA certificate made with the `openssl` CLI, and a
//! small HTTP/1.1 server that answers each POSTed query with the output of
//! `openssl ts -reply`, or, by mode, with something a broken TSA sends.
//!
//! ```ignore
//! let tsa = common::tsa::Tsa::start(Mode::Good);
//! collect(..., &["--tsa", tsa.url()]);
//! verify(..., &["--tsa-ca", tsa.root_pem_path().to_str().unwrap()]);
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A real token from `openssl ts -reply`.
    Good,
    /// 200, `application/timestamp-reply`, bytes that are not DER.
    Garbage,
    /// 200, an HTML page (as a captive portal or a web server's index).
    Html,
    /// HTTP 500.
    ServerError,
}

/// Most requests one server answers before it stops by itself.
pub const MAX_REQUESTS: usize = 256;
/// Validity of the test certificates: tokens in test vectors stay valid
/// for as long as the vectors (genTime is checked against the certificate,
/// not against today).
const DAYS: &str = "36500";

/// The test CA and TSA, made once per test process.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// Directory holding root.pem, tsa.pem, tsa.key and other-root.pem.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the tests need `openssl` on PATH; .ci/run installs it (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An ECDSA P-256 self-signed CA named `cn`, as `name.key` and `name.pem`.
fn make_root(dir: &Path, name: &str, cn: &str) {
    let key = format!("{name}.key");
    let pem = format!("{name}.pem");
    openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &key]);
    let subj = format!("/O=custody tests/CN={cn}");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-subj",
            &subj,
            "-days",
            DAYS,
            "-sha256",
            "-out",
            &pem,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// The process's test PKI: a root, a TSA certificate it issued (ECDSA
/// P-256, extended key usage timeStamping, critical), and an unrelated root.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make_root(d, "root", "custody test TSA root");
        make_root(d, "other-root", "custody unrelated root");
        openssl(d, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "tsa.key"]);
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                "tsa.key",
                "-subj",
                "/O=custody tests/CN=custody test TSA",
                "-out",
                "tsa.csr",
            ],
        );
        std::fs::write(
            d.join("tsa-ext.cnf"),
            "[tsa]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n\
             extendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "root.pem",
                "-CAkey",
                "root.key",
                "-set_serial",
                "2",
                "-days",
                DAYS,
                "-sha256",
                "-extfile",
                "tsa-ext.cnf",
                "-extensions",
                "tsa",
                "-out",
                "tsa.pem",
            ],
        );
        Pki { dir }
    })
}

/// The PEM file of a root that issued no TSA certificate of these tests.
pub fn other_root_pem() -> PathBuf {
    pki().dir().join("other-root.pem")
}

/// A URL where nothing listens: a loopback port bound, then closed.
pub fn unreachable_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/tsa")
}

/// A running test TSA; it stops when dropped.
pub struct Tsa {
    url: String,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    addr: std::net::SocketAddr,
    thread: Option<JoinHandle<()>>,
    /// Its own `openssl ts` configuration and serial file.
    work: tempfile::TempDir,
}

impl Tsa {
    /// Start a server on 127.0.0.1 that answers as `mode` says.
    pub fn start(mode: Mode) -> Tsa {
        let pki = pki();
        let work = tempfile::tempdir().unwrap();
        let conf = work.path().join("ts.cnf");
        std::fs::write(work.path().join("serial"), "01\n").unwrap();
        std::fs::write(
            &conf,
            format!(
                "[tsa]\ndefault_tsa = tsa1\n[tsa1]\nserial = {serial}\ncrypto_device = builtin\n\
                 signer_cert = {pki}/tsa.pem\nsigner_key = {pki}/tsa.key\nsigner_digest = sha256\n\
                 default_policy = 1.3.6.1.4.1.99999.1\ndigests = sha256, sha384, sha512\naccuracy = secs:1\n\
                 ordering = no\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                serial = work.path().join("serial").display(),
                pki = pki.dir().display()
            ),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let (stop2, served2, dir) = (Arc::clone(&stop), Arc::clone(&served), work.path().to_path_buf());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) || served2.load(Ordering::SeqCst) >= MAX_REQUESTS {
                    return;
                }
                let Ok(conn) = conn else { continue };
                served2.fetch_add(1, Ordering::SeqCst);
                let _ = serve(conn, mode, &dir);
            }
        });
        Tsa {
            url: format!("http://{addr}/tsa"),
            stop,
            served,
            addr,
            thread: Some(thread),
            work,
        }
    }

    /// The URL to POST queries to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The PEM file of the root that issued this TSA's certificate.
    pub fn root_pem_path(&self) -> PathBuf {
        pki().dir().join("root.pem")
    }

    /// The PEM file of this TSA's own certificate (for `openssl ts -verify -untrusted`).
    pub fn tsa_pem_path(&self) -> PathBuf {
        pki().dir().join("tsa.pem")
    }

    /// Requests answered so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    /// A token over `sha256` from `openssl ts` directly (no HTTP), e.g. to
    /// put one for other data where a test wants it.
    pub fn token_for(&self, sha256: &[u8; 32]) -> Vec<u8> {
        let dir = self.work.path();
        let hex: String = sha256.iter().map(|b| format!("{b:02x}")).collect();
        let q = dir.join(format!("direct-{hex}.tsq"));
        let t = dir.join(format!("direct-{hex}.tsr"));
        openssl(
            dir,
            &["ts", "-query", "-digest", &hex, "-sha256", "-cert", "-out", q.to_str().unwrap()],
        );
        openssl(
            dir,
            &[
                "ts",
                "-reply",
                "-queryfile",
                q.to_str().unwrap(),
                "-config",
                "ts.cnf",
                "-token_out",
                "-out",
                t.to_str().unwrap(),
            ],
        );
        std::fs::read(t).unwrap()
    }
}

impl Drop for Tsa {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accepting thread so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answer one connection: read a request with its body, reply as `mode`
/// says, close.
fn serve(conn: TcpStream, mode: Mode, dir: &Path) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut length = 0usize;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut query = vec![0u8; length.min(1 << 20)];
    reader.read_exact(&mut query)?;
    let (status, content_type, body): (&str, &str, Vec<u8>) = match mode {
        Mode::Good => ("200 OK", "application/timestamp-reply", reply(&query, dir)),
        Mode::Garbage => (
            "200 OK",
            "application/timestamp-reply",
            b"\x00\x01garbage\xff not DER at all".to_vec(),
        ),
        Mode::Html => (
            "200 OK",
            "text/html; charset=utf-8",
            b"<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body>It works!</body></html>\n".to_vec(),
        ),
        Mode::ServerError => ("500 Internal Server Error", "text/plain", b"internal error\n".to_vec()),
    };
    let mut out = conn;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    out.write_all(&body)?;
    out.flush()
}

/// `openssl ts -reply` for one query.
fn reply(query: &[u8], dir: &Path) -> Vec<u8> {
    let n: u64 = rand_suffix();
    let q = dir.join(format!("q{n}.tsq"));
    let r = dir.join(format!("r{n}.tsr"));
    std::fs::write(&q, query).unwrap();
    let out = Command::new("openssl")
        .args(["ts", "-reply", "-config", "ts.cnf", "-queryfile"])
        .arg(&q)
        .arg("-out")
        .arg(&r)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    let body = std::fs::read(&r).unwrap_or_default();
    assert!(out.status.success() || !body.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_file(q);
    let _ = std::fs::remove_file(r);
    body
}

fn rand_suffix() -> u64 {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst) as u64
}
