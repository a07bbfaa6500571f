//! Shared helpers for the end-to-end tests: run the real binary and the real
//! third-party tools, build source trees in temporary directories.
#![allow(dead_code)]

pub mod tree;
pub mod tsa;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Path of the built `custody` binary.
pub fn custody_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_custody"))
}

/// A `custody` command with a clean environment for keys and agents.
pub fn custody() -> Command {
    let mut c = Command::new(custody_bin());
    c.env_remove("SSH_AUTH_SOCK")
        .env_remove("CUSTODY_KEY_PASSPHRASE")
        .stdin(Stdio::null());
    c
}

/// Run and capture; panics if the program cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Text of stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Exit code, asserting the process was not killed by a signal.
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or_else(|| panic!("killed by a signal\n{}", text(o)))
}

/// Fail loudly when a required external tool is missing (CI installs them).
pub fn require_tool(name: &str) {
    let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()));
    assert!(found, "the test needs `{name}` on PATH; .ci/run installs it (apt-get)");
}

/// A small but varied source tree: nested dirs, text and binary files, an
/// empty file, a symlink, a hard link, a long name.
pub fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("etc/app/conf.d")).unwrap();
    std::fs::create_dir_all(root.join("var/log/nginx")).unwrap();
    std::fs::write(root.join("etc/app/app.conf"), "listen 8080\nuser www-data\n").unwrap();
    std::fs::write(root.join("etc/app/conf.d/empty.conf"), "").unwrap();
    let mut blob = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..200_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        blob.push((x >> 16) as u8);
    }
    std::fs::write(root.join("var/log/nginx/blob.bin"), &blob).unwrap();
    let log: String = (0..3000)
        .map(|i| {
            format!(
                "10.0.0.{} - - [24/Nov/2026:03:{:02}:00 +0000] \"GET /api/{i} HTTP/1.1\" 200\n",
                i % 250,
                i % 60
            )
        })
        .collect();
    std::fs::write(root.join("var/log/nginx/access.log"), log).unwrap();
    std::os::unix::fs::symlink("../app/app.conf", root.join("etc/app/conf.d/link.conf")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", root.join("etc/app/dangling")).unwrap();
    std::fs::hard_link(root.join("etc/app/app.conf"), root.join("etc/app/app.conf.hardlink")).unwrap();
    let long = format!("{}.txt", "n".repeat(150));
    std::fs::write(root.join("etc/app").join(long), "long name\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("etc/app/app.conf"), std::fs::Permissions::from_mode(0o640)).unwrap();
}

/// Make a key pair with `custody keygen` at `dir/name`.
pub fn keygen(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let o = run(custody().arg("keygen").arg("--output").arg(&key));
    assert_eq!(code(&o), 0, "{}", text(&o));
    key
}

/// Public key path for a private key path.
pub fn pub_of(key: &Path) -> PathBuf {
    PathBuf::from(format!("{}.pub", key.display()))
}

/// `custody collect SRC -o OUT --key KEY`, to add arguments to and run.
pub fn collect_cmd(src: &Path, out: &Path, key: &Path) -> Command {
    let mut c = custody();
    c.arg("collect").arg(src).arg("-o").arg(out).arg("--key").arg(key);
    c
}

/// Collect `src` into `out` signed by `key`, with extra args; asserts success.
pub fn collect(src: &Path, out: &Path, key: &Path, extra: &[&str]) -> Output {
    let o = run(custody()
        .arg("collect")
        .arg(src)
        .arg("--output")
        .arg(out)
        .arg("--key")
        .arg(key)
        .arg("--quiet")
        .args(extra));
    assert_eq!(code(&o), 0, "{}", text(&o));
    o
}

/// `custody verify --json` output parsed, and the exit code.
pub fn verify_json(archive: &Path, trust: &[&str]) -> (serde_json::Value, i32) {
    let o = run(custody().arg("verify").arg(archive).arg("--json").args(trust));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("verify --json is not JSON ({e})\n{}", text(&o)));
    (v, code(&o))
}

/// Decompress an archive into its tar stream.
pub fn tar_stream(archive: &Path) -> Vec<u8> {
    zstd::stream::decode_all(std::fs::File::open(archive).unwrap()).unwrap()
}

/// Compress a tar stream as one zstd frame.
pub fn compress(tar: &[u8], out: &Path) {
    std::fs::write(out, zstd::stream::encode_all(tar, 3).unwrap()).unwrap();
}

/// Finding kinds in a verify report.
pub fn finding_kinds(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect()
}

/// The messages of a report's findings of one kind, in order.
pub fn finding_messages(report: &serde_json::Value, kind: &str) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect()
}

/// A temporary directory holding a source tree (`src`) and a key pair (`key`).
pub fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src);
    let key = keygen(dir.path(), "key");
    (dir, src, key)
}

/// The bytes of the first member (the header document) of a real archive
/// collected here, for building hostile archives around it.
pub fn header_member(dir: &Path) -> Vec<u8> {
    use custody::format::tar::{padding, parse_pax_records, parse_ustar, BLOCK};
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    let key = keygen(dir, "key");
    let archive = dir.join("real.tar.zst");
    collect(&src, &archive, &key, &[]);
    let t = tar_stream(&archive);
    let pax = parse_ustar(t[..BLOCK].try_into().unwrap()).unwrap();
    let after_pax = BLOCK + pax.size as usize + padding(pax.size);
    let ustar = parse_ustar(t[after_pax..after_pax + BLOCK].try_into().unwrap()).unwrap();
    let records = parse_pax_records(&t[BLOCK..BLOCK + pax.size as usize]).unwrap();
    let size: usize = records
        .iter()
        .find(|(k, _)| k == b"size")
        .map(|(_, v)| String::from_utf8_lossy(v).parse().unwrap())
        .unwrap_or(ustar.size as usize);
    let end = after_pax + BLOCK + size + padding(size as u64);
    t[..end].to_vec()
}

/// Every non-directory under `root` (symlinks included, never followed),
/// for checking what an extraction wrote.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Members of a tar stream: (start, end) of each, padding included, and the
/// path (pax `path`, else the ustar name).
pub fn tar_members(t: &[u8]) -> Vec<(usize, usize, String)> {
    use custody::format::tar::{padding, parse_pax_records, parse_ustar, EntryKind, BLOCK};
    let mut out = Vec::new();
    let mut pos = 0;
    while !t[pos..pos + BLOCK].iter().all(|&b| b == 0) {
        let start = pos;
        let mut h = parse_ustar(t[pos..pos + BLOCK].try_into().unwrap()).unwrap();
        let mut records = Vec::new();
        pos += BLOCK;
        if h.kind == EntryKind::PaxExtended {
            records = parse_pax_records(&t[pos..pos + h.size as usize]).unwrap();
            pos += h.size as usize + padding(h.size);
            h = parse_ustar(t[pos..pos + BLOCK].try_into().unwrap()).unwrap();
            pos += BLOCK;
        }
        let get = |k: &[u8]| records.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let size = get(b"size").map_or(h.size, |v| String::from_utf8(v).unwrap().parse().unwrap());
        let size = if h.kind.has_content() { size } else { 0 };
        pos += size as usize + padding(size);
        let path = String::from_utf8_lossy(&get(b"path").unwrap_or(h.name)).into_owned();
        out.push((start, pos, path));
    }
    out
}

/// A custody member as custody writes it: canonical header for `secs`, the
/// content, zero padding.
pub fn custody_member(path: &str, content: &[u8], secs: i64) -> Vec<u8> {
    let mut m = custody::format::doc::custody_member_header(path, content.len() as u64, secs).encode();
    m.extend_from_slice(content);
    m.resize(m.len() + custody::format::tar::padding(content.len() as u64), 0);
    m
}

/// The tar stream with the seal's `.json` and `.json.sig` replaced by these
/// members.
pub fn with_seal_members(tar: &[u8], json: &[u8], sig: &[u8]) -> Vec<u8> {
    let members = tar_members(tar);
    let n = members.len();
    let (start, _, ref json_path) = members[n - 2];
    let (_, end, ref sig_path) = members[n - 1];
    assert!(
        json_path.ends_with(".json") && sig_path.ends_with(".json.sig"),
        "{json_path} {sig_path}"
    );
    [&tar[..start], json, sig, &tar[end..]].concat()
}

/// The seal document of a tar stream: its bytes, and the path of its
/// `.json` and `.json.sig` members.
pub fn seal_document(tar: &[u8]) -> (Vec<u8>, String, String) {
    let members = tar_members(tar);
    let n = members.len();
    let (start, end, ref json_path) = members[n - 2];
    let member = &tar[start..end];
    let doc_start = member.windows(2).position(|w| w == b"{\"").unwrap();
    let doc_end = member.iter().rposition(|&b| b != 0).unwrap() + 1;
    (member[doc_start..doc_end].to_vec(), json_path.clone(), members[n - 1].2.clone())
}

/// The tar stream with its seal replaced by `doc`, signed with `key` by
/// `ssh-keygen -Y sign` (as custody signs), its two members' headers built
/// for `secs` as custody builds them.
pub fn resealed(tar: &[u8], work: &Path, key: &Path, doc: &[u8], secs: i64) -> Vec<u8> {
    require_tool("ssh-keygen");
    let (_, json_path, sig_path) = seal_document(tar);
    let file = work.join("reseal.json");
    let _ = std::fs::remove_file(work.join("reseal.json.sig"));
    std::fs::write(&file, doc).unwrap();
    // ssh-keygen refuses a key file others may read, as a checkout leaves
    // the vectors' key: sign with a private copy.
    let own = work.join("reseal.key");
    std::fs::copy(key, &own).unwrap();
    std::fs::set_permissions(&own, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let o = run(Command::new("ssh-keygen")
        .args(["-Y", "sign", "-f"])
        .arg(&own)
        .args(["-n", "custody-checkpoint-v1@custody"])
        .arg(&file));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let sig = std::fs::read(work.join("reseal.json.sig")).unwrap();
    with_seal_members(tar, &custody_member(&json_path, doc, secs), &custody_member(&sig_path, &sig, secs))
}

/// `custody extract ARCHIVE --into OUT`, trusting `key`'s public half; it
/// must succeed.
pub fn extract_trusted(archive: &Path, out: &Path, key: &Path) -> Output {
    let o = run(custody()
        .arg("extract")
        .arg(archive)
        .arg("--into")
        .arg(out)
        .arg("--key")
        .arg(pub_of(key)));
    assert_eq!(code(&o), 0, "{}", text(&o));
    o
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// Print a visible note and say whether to go on.
pub fn needs_root(what: &str) -> bool {
    if !is_root() {
        eprintln!("SKIPPED (not root): {what}");
    }
    is_root()
}

/// A filesystem mounted for a test, unmounted when dropped.
pub struct Mount(PathBuf);
impl Mount {
    /// A tmpfs at `at` (created) with these mount options.
    pub fn tmpfs(at: &Path, options: &str) -> Mount {
        std::fs::create_dir_all(at).unwrap();
        let o = run(Command::new("mount").args(["-t", "tmpfs", "-o", options, "tmpfs"]).arg(at));
        assert!(o.status.success(), "mount: {}", text(&o));
        Mount(at.to_path_buf())
    }
}
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
