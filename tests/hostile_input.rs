//! Hostile input to verify, list and extract: random bytes into every
//! parser (no panics), and crafted archives that claim absurd sizes or
//! expand enormously (bounded memory, an answer in bounded time). Peak
//! memory is read with GNU time; a run that does not finish within a
//! generous limit counts as a hang.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use custody::format::sparse::{self, Piece};
use custody::format::tar::{self, EntryKind, MemberHeader, Timestamp, BLOCK};
use custody::verify::{verify, NullSink, VerifyOptions};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn parsers_never_panic_on_random_input() {
    let mut rng = Rng(0xdead_beef);
    for i in 0..3000 {
        let len = (rng.next() % 1500) as usize;
        let mut data = rng.bytes(len);
        // Bias some inputs towards the formats' own syntax.
        if i % 3 == 0 && len >= BLOCK {
            data[257..265].copy_from_slice(b"ustar\x0000");
        }
        if i % 5 == 0 {
            data = format!("{} path={}\n{}", len % 50, String::from_utf8_lossy(&data[..len.min(20)]), len).into_bytes();
        }
        if data.len() >= BLOCK {
            let _ = tar::parse_ustar(data[..BLOCK].try_into().unwrap());
        }
        let _ = tar::parse_pax_records(&data);
        let _ = tar::Timestamp::from_pax(&String::from_utf8_lossy(&data[..data.len().min(30)]));
        let mut emit = |_: Piece<'_>| -> Result<(), sparse::SparseError> { Ok(()) };
        let mut x = sparse::Expander::new(rng.next() % (1 << 20), &mut emit);
        if x.feed(&data).is_ok() {
            let _ = x.finish();
        }
        let mut framed = vec![0x28, 0xB5, 0x2F, 0xFD];
        framed.extend_from_slice(&data);
        let _ = std::io::Read::read_to_end(&mut custody::frames::FrameReader::new(&framed[..]).unwrap(), &mut Vec::new());
        let _ = verify(&framed[..], &VerifyOptions::default(), &mut NullSink);
        // Well-formed zstd around random tar-like bytes.
        let compressed = zstd::stream::encode_all(&data[..], 1).unwrap();
        let _ = verify(&compressed[..], &VerifyOptions::default(), &mut NullSink);
    }
}

/// Run `custody ARGS` under GNU time: exit code, peak RSS in KiB, elapsed.
fn measured(args: &[&std::ffi::OsStr]) -> (i32, u64, Duration, String) {
    require_tool("time");
    let started = Instant::now();
    let mut child = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("maxrss=%M")
        .arg(custody_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A hang detector, not a speed target.
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("custody {args:?} did not finish within 300 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let rss = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no maxrss in {err}"));
    (
        out.status.code().unwrap_or(-1),
        rss,
        started.elapsed(),
        format!("{}\n{err}", String::from_utf8_lossy(&out.stdout)),
    )
}

fn member(path: &[u8], size: u64, records: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<u8> {
    let h = MemberHeader::new(
        path.to_vec(),
        EntryKind::File,
        size,
        Timestamp {
            secs: 1_700_000_000,
            nanos: 0,
        },
    );
    let mut pax = h.pax_records();
    pax.extend(records);
    let body = tar::encode_pax_records(&pax);
    let mut out = h.encode();
    // Replace the pax block with one carrying the extra records.
    let pax_len = tar::parse_ustar(out[..BLOCK].try_into().unwrap()).unwrap().size as usize;
    let ustar = out[BLOCK + pax_len + tar::padding(pax_len as u64)..].to_vec();
    let mut head = out[..BLOCK].to_vec();
    let size_field = format!("{:011o}\0", body.len());
    head[124..136].copy_from_slice(size_field.as_bytes());
    head[148..156].copy_from_slice(b"        ");
    let sum: u32 = head.iter().map(|&b| u32::from(b)).sum();
    head[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out = head;
    out.extend_from_slice(&body);
    out.resize(out.len() + tar::padding(body.len() as u64), 0);
    out.extend_from_slice(&ustar);
    out
}

/// Write `prefix`, then `zeros` zero bytes, compressed, to `path`.
fn write_bomb(path: &Path, prefix: &[u8], zeros: u64) {
    let mut e = zstd::stream::write::Encoder::new(std::fs::File::create(path).unwrap(), 3).unwrap();
    e.write_all(prefix).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let k = left.min(chunk.len() as u64) as usize;
        e.write_all(&chunk[..k]).unwrap();
        left -= k as u64;
    }
    e.finish().unwrap();
}

#[test]
fn bombs_and_absurd_sizes_get_an_answer_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let header = header_member(&dir.path().join("h"));
    let limit_kib = 128 * 1024;
    let mut cases: Vec<(&str, Vec<u8>, u64)> = Vec::new();
    // 1 GiB of zeros as one member.s content.
    let mut t = header.clone();
    t.extend_from_slice(&member(b"tmp/bomb", 1 << 30, Vec::new()));
    cases.push(("1 GiB member of zeros", t, 1 << 30));
    // A custody document far past the size a verifier keeps in memory.
    let mut t = header.clone();
    t.extend_from_slice(&member(b".custody/checkpoint-000001.json", 200 << 20, Vec::new()));
    cases.push(("200 MiB checkpoint document", t, 200 << 20));
    // A pax header past MAX_PAX_LEN.
    let mut t = header.clone();
    let big = vec![b'a'; custody::format::MAX_PAX_LEN as usize + 1];
    t.extend_from_slice(&member(b"tmp/pax", 0, vec![(b"comment".to_vec(), big)]));
    cases.push(("pax header past its limit", t, 0));
    // A pax header of 15 MiB of tiny records.
    let mut t = header.clone();
    let tiny: Vec<(Vec<u8>, Vec<u8>)> = (0..2_000_000).map(|_| (b"c".to_vec(), Vec::new())).collect();
    t.extend_from_slice(&member(b"tmp/records", 0, tiny));
    cases.push(("two million pax records", t, 0));
    // Sizes no input can back: the stream just ends.
    let mut t = header.clone();
    t.extend_from_slice(&member(b"tmp/huge", u64::MAX, Vec::new()));
    cases.push(("size 2^64-1", t, 0));
    // A sparse member claiming an absurd real size.
    let mut t = header.clone();
    let map = sparse::encode_map(&[sparse::Region { offset: 1 << 62, len: 1 }]);
    let mut records = vec![
        (b"GNU.sparse.major".to_vec(), b"1".to_vec()),
        (b"GNU.sparse.minor".to_vec(), b"0".to_vec()),
        (b"GNU.sparse.realsize".to_vec(), (1u64 << 62).to_string().into_bytes()),
    ];
    records.push((b"GNU.sparse.name".to_vec(), b"tmp/sparse-bomb".to_vec()));
    let mut m = member(b"tmp/sparse-bomb", map.len() as u64 + 1, records);
    m.extend_from_slice(&map);
    m.push(b'x');
    m.resize(m.len() + tar::padding(map.len() as u64 + 1), 0);
    t.extend_from_slice(&m);
    cases.push(("sparse real size 2^62", t, 0));

    for (name, prefix, zeros) in cases {
        let archive = dir.path().join("bomb.tar.zst");
        write_bomb(&archive, &prefix, zeros);
        for cmd in ["verify", "list"] {
            let (code, rss, took, out) = measured(&[cmd.as_ref(), archive.as_os_str(), "--json".as_ref()]);
            eprintln!(
                "{name:<28} {cmd:<7} exit {code:>2}  peak {rss:>7} KiB  {:>6.2} s",
                took.as_secs_f64()
            );
            assert!(matches!(code, 4 | 10 | 11 | 12), "{name}: {cmd} exit {code}\n{out}");
            assert!(rss < limit_kib, "{name}: {cmd} peaked at {rss} KiB");
        }
        let into = dir.path().join("x");
        let (code, rss, _, out) = measured(&[
            "extract".as_ref(),
            archive.as_os_str(),
            "--into".as_ref(),
            into.as_os_str(),
            "--salvage".as_ref(),
        ]);
        assert!(matches!(code, 1 | 4 | 10..=12), "{name}: extract exit {code}\n{out}");
        assert!(rss < limit_kib, "{name}: extract peaked at {rss} KiB");
        let _ = std::fs::remove_dir_all(&into);
    }
}

#[test]
fn a_run_of_false_frames_is_one_finding_not_millions() {
    // Every "frame" fails at once and resynchronisation moves on four bytes:
    // the lost ranges must merge, so findings (and memory) stay small.
    let data: Vec<u8> = [0x28u8, 0xB5, 0x2F, 0xFD].repeat(250_000);
    let report = verify(&data[..], &VerifyOptions::default(), &mut NullSink).expect("a damaged zstd stream gets a report");
    assert!(report.findings.len() < 10, "{} findings", report.findings.len());
    assert_eq!(report.verdict, custody::verify::Verdict::Tampered);
}
