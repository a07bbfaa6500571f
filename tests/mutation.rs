//! Mutation testing of the verifier: real archives are altered in every way
//! the threat model names, and no alteration may ever verify.
//!
//! - a truncation is `incomplete` (never `tampered`, never `verified`);
//! - every other alteration is `tampered`, and an error finding says where
//!   (member, checkpoint or offset);
//! - honest recompression at other levels and frame sizes stays `verified`.
//!
//! `MUTATION_ROUNDS` (default 1) multiplies the number of random mutations;
//! `scripts/mutate` runs long sessions. Counts go to stderr (`--nocapture`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use custody::collect::{CollectOptions, Collector, NoProgress};
use custody::format::tar::{self, EntryKind, MemberHeader, Timestamp, BLOCK};
use custody::signer::{fingerprint, Signer, TrustAnchors};
use custody::verify::{verify, Level, NullSink, Report, Verdict, VerifyOptions};

/// A member's place in the tar stream.
#[derive(Clone, Debug)]
struct Span {
    start: usize,
    /// First content byte (after the pax header and ustar block).
    content: usize,
    /// End of the content, before padding.
    content_end: usize,
    /// End of the padding.
    end: usize,
    path: Vec<u8>,
}

impl Span {
    fn is_custody(&self) -> bool {
        self.path.starts_with(b".custody/")
    }
}

/// Members of a tar stream and where the end-of-archive marker begins.
fn spans(t: &[u8]) -> (Vec<Span>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let block: &[u8; BLOCK] = t[pos..pos + BLOCK].try_into().unwrap();
        if tar::is_zero_block(block) {
            return (out, pos);
        }
        let start = pos;
        let mut h = tar::parse_ustar(block).unwrap();
        let mut records = Vec::new();
        pos += BLOCK;
        if h.kind == EntryKind::PaxExtended {
            records = tar::parse_pax_records(&t[pos..pos + h.size as usize]).unwrap();
            pos += h.size as usize + tar::padding(h.size);
            h = tar::parse_ustar(t[pos..pos + BLOCK].try_into().unwrap()).unwrap();
            pos += BLOCK;
        }
        let get = |k: &[u8]| records.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let size: usize = get(b"size").map_or(h.size as usize, |v| String::from_utf8(v).unwrap().parse().unwrap());
        let size = if h.kind.has_content() { size } else { 0 };
        let path = get(b"path").unwrap_or(h.name.clone());
        out.push(Span {
            start,
            content: pos,
            content_end: pos + size,
            end: pos + size + tar::padding(size as u64),
            path,
        });
        pos += size + tar::padding(size as u64);
    }
}

struct Fixture {
    tar: Vec<u8>,
    spans: Vec<Span>,
    end_marker: usize,
    trust: VerifyOptions,
    /// Another archive of another tree, signed by the same key.
    other_tar: Vec<u8>,
    other_spans: Vec<Span>,
}

fn make_tree(root: &Path, salt: &str) {
    std::fs::create_dir_all(root.join("etc/app")).unwrap();
    std::fs::create_dir_all(root.join("var/log")).unwrap();
    for i in 0..14 {
        let body: String = (0..(i * 37 % 300 + 1)).map(|l| format!("{salt} line {l} of file {i}\n")).collect();
        let dir = if i % 2 == 0 { "etc/app" } else { "var/log" };
        std::fs::write(root.join(dir).join(format!("f{i:02}.txt")), body).unwrap();
    }
    std::fs::write(root.join("etc/empty"), "").unwrap();
    std::os::unix::fs::symlink("app/f00.txt", root.join("etc/link")).unwrap();
}

fn collect_tar(root: &Path, signer: &mut Signer) -> Vec<u8> {
    let opts = CollectOptions {
        checkpoint_bytes: 1 << 30,
        checkpoint_members: 4,
        checkpoint_seconds: 3600,
        zstd_level: 1,
        ..CollectOptions::new(vec![root.to_path_buf()])
    };
    let (_, archive) = Collector::start(Vec::new(), signer, opts, &mut NoProgress).unwrap().run().unwrap();
    zstd::stream::decode_all(&archive[..]).unwrap()
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut signer = Signer::ephemeral();
    // The same paths with other content, so members can be spliced by path.
    let root = dir.path().join("evidence");
    make_tree(&root, "alpha");
    let tar = collect_tar(&root, &mut signer);
    std::fs::remove_dir_all(&root).unwrap();
    make_tree(&root, "bravo");
    let other_tar = collect_tar(&root, &mut signer);
    let (spans_a, end_marker) = spans(&tar);
    let (other_spans, _) = spans(&other_tar);
    let trust = VerifyOptions {
        trust: TrustAnchors {
            keys: Vec::new(),
            fingerprints: vec![fingerprint(&signer.public_key())],
        },
        ..Default::default()
    };
    Fixture {
        tar,
        spans: spans_a,
        end_marker,
        trust,
        other_tar,
        other_spans,
    }
}

fn compress(t: &[u8], level: i32) -> Vec<u8> {
    zstd::stream::encode_all(t, level).unwrap()
}

/// Tallies per mutation class, printed at the end.
#[derive(Default)]
struct Tally(BTreeMap<String, (u64, BTreeMap<String, u64>)>);

impl Tally {
    fn add(&mut self, class: &str, verdict: Verdict) {
        let e = self.0.entry(class.to_string()).or_default();
        e.0 += 1;
        *e.1.entry(verdict.name().to_string()).or_default() += 1;
    }
    fn print(&self) {
        let mut err = std::io::stderr().lock();
        // A line of its own: the test harness may have started one.
        let _ = writeln!(err);
        for (class, (n, verdicts)) in &self.0 {
            let _ = writeln!(err, "mutation {class:<28} {n:>6}  {verdicts:?}");
        }
    }
}

impl Fixture {
    fn verify(&self, compressed: &[u8]) -> Report {
        verify(compressed, &self.trust, &mut NullSink).unwrap_or_else(|e| panic!("verify failed to run: {e}"))
    }

    /// A mutation that must be reported as tampered, with a located error.
    fn tampered(&self, tally: &mut Tally, class: &str, t: &[u8]) {
        let r = self.verify(&compress(t, 1));
        tally.add(class, r.verdict);
        assert_eq!(r.verdict, Verdict::Tampered, "{class}: {:#?}", r.findings);
        assert!(
            r.findings
                .iter()
                .any(|f| f.level == Level::Error && (f.member.is_some() || f.checkpoint.is_some() || f.offset.is_some())),
            "{class}: an error finding says where: {:#?}",
            r.findings
        );
    }

    /// A mutation that moves or destroys the header document: the input is
    /// then no longer recognisable as a custody archive (exit 4) or is
    /// `tampered`; never `verified`.
    fn not_verified(&self, tally: &mut Tally, class: &str, compressed: &[u8], truncation: bool) {
        match verify(compressed, &self.trust, &mut NullSink) {
            Ok(r) => {
                tally.add(class, r.verdict);
                let want = if truncation { Verdict::Incomplete } else { Verdict::Tampered };
                assert_eq!(r.verdict, want, "{class}: {:#?}", r.findings);
            }
            Err(custody::verify::VerifyError::NotAnArchive(why)) => {
                let e = tally.0.entry(class.to_string()).or_default();
                e.0 += 1;
                *e.1.entry("not-an-archive".into()).or_default() += 1;
                let _ = why;
            }
            Err(e) => panic!("{class}: verify failed to run: {e}"),
        }
    }

    fn incomplete(&self, tally: &mut Tally, class: &str, compressed: &[u8]) {
        let r = self.verify(compressed);
        tally.add(class, r.verdict);
        assert_eq!(
            r.verdict,
            Verdict::Incomplete,
            "{class} ({} bytes): {:#?}",
            compressed.len(),
            r.findings
        );
    }
}

fn rounds() -> u64 {
    std::env::var("MUTATION_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(1)
}

/// Deterministic pseudo-random numbers (seed from `MUTATION_SEED`).
struct Rng(u64);
impl Rng {
    fn new() -> Self {
        Rng(std::env::var("MUTATION_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed))
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// A well-formed foreign member: a pax header, a ustar block and content.
fn foreign_member(path: &str, content: &[u8]) -> Vec<u8> {
    let h = MemberHeader::new(
        path.as_bytes().to_vec(),
        EntryKind::File,
        content.len() as u64,
        Timestamp {
            secs: 1_700_000_000,
            nanos: 0,
        },
    );
    let mut out = h.encode();
    out.extend_from_slice(content);
    out.resize(out.len() + tar::padding(content.len() as u64), 0);
    out
}

#[test]
fn the_unaltered_archive_verifies_and_honest_recompression_keeps_it_verified() {
    let f = fixture();
    let mut tally = Tally::default();
    for level in [1, 3, 9, 19, -5] {
        let r = f.verify(&compress(&f.tar, level));
        tally.add("recompress-level", r.verdict);
        assert_eq!(r.verdict, Verdict::Verified, "level {level}: {:#?}", r.findings);
    }
    // Frames cut anywhere, not only between members, with and without checksums.
    for frame in [BLOCK, 1000, 4096, 65_537, 1 << 20] {
        for checksum in [true, false] {
            let mut out = Vec::new();
            for chunk in f.tar.chunks(frame) {
                let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
                e.include_checksum(checksum).unwrap();
                e.write_all(chunk).unwrap();
                out.extend_from_slice(&e.finish().unwrap());
            }
            let r = f.verify(&out);
            tally.add("recompress-frames", r.verdict);
            assert_eq!(
                r.verdict,
                Verdict::Verified,
                "frames of {frame}, checksum {checksum}: {:#?}",
                r.findings
            );
        }
    }
    // A skippable frame in front is ignored.
    let mut skip = vec![0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
    skip.extend_from_slice(&compress(&f.tar, 3));
    let r = f.verify(&skip);
    tally.add("recompress-skippable", r.verdict);
    assert_eq!(r.verdict, Verdict::Verified, "{:#?}", r.findings);
    tally.print();
}

#[test]
fn single_bit_flips_anywhere_in_the_tar_stream_are_tampering() {
    let f = fixture();
    let mut rng = Rng::new();
    let mut tally = Tally::default();
    // Positions in each kind of region, so that every kind is hit every run.
    let mut regions: Vec<(&str, usize, usize)> = Vec::new();
    for (i, s) in f.spans.iter().enumerate() {
        let header_class = match i {
            0 => "first-member-header",
            _ if s.is_custody() => "custody-header",
            _ => "evidence-header",
        };
        regions.push((header_class, s.start, s.content));
        if s.content_end > s.content {
            regions.push((
                if s.is_custody() { "custody-content" } else { "evidence-content" },
                s.content,
                s.content_end,
            ));
        }
        if s.end > s.content_end {
            regions.push(("padding", s.content_end, s.end));
        }
    }
    regions.push(("end-of-archive", f.end_marker, f.tar.len()));
    let per_region = 2 * rounds();
    for (class, from, to) in &regions {
        for _ in 0..per_region {
            let mut t = f.tar.clone();
            let at = from + rng.below(to - from);
            t[at] ^= 1 << rng.below(8);
            if *class == "first-member-header" {
                // A broken first header may leave nothing to recognise.
                f.not_verified(&mut tally, &format!("bit-flip {class}"), &compress(&t, 1), false);
            } else {
                f.tampered(&mut tally, &format!("bit-flip {class}"), &t);
            }
        }
    }
    // The pax records of an evidence member specifically (path, size, times).
    for s in f.spans.iter().filter(|s| !s.is_custody()) {
        let ustar = s.content - BLOCK;
        if ustar > s.start + BLOCK {
            let mut t = f.tar.clone();
            let at = s.start + BLOCK + rng.below(ustar - s.start - BLOCK);
            t[at] ^= 1 << rng.below(8);
            f.tampered(&mut tally, "bit-flip pax-records", &t);
        }
    }
    tally.print();
}

#[test]
fn structural_mutations_are_tampering() {
    let f = fixture();
    let mut tally = Tally::default();
    let t = &f.tar;
    let evidence: Vec<&Span> = f.spans.iter().filter(|s| !s.is_custody()).collect();
    for s in &evidence {
        // Delete it.
        let mut m = t[..s.start].to_vec();
        m.extend_from_slice(&t[s.end..]);
        f.tampered(&mut tally, "delete member", &m);
        // Duplicate it in place.
        let mut m = t[..s.end].to_vec();
        m.extend_from_slice(&t[s.start..]);
        f.tampered(&mut tally, "duplicate member", &m);
    }
    // Swap each pair of neighbours (the first pair moves the header document).
    for (i, w) in f.spans.windows(2).enumerate() {
        let (a, b) = (&w[0], &w[1]);
        let mut m = t[..a.start].to_vec();
        m.extend_from_slice(&t[b.start..b.end]);
        m.extend_from_slice(&t[a.start..a.end]);
        m.extend_from_slice(&t[b.end..]);
        if i == 0 {
            f.not_verified(&mut tally, "swap header document", &compress(&m, 1), false);
        } else {
            f.tampered(&mut tally, "swap neighbours", &m);
        }
    }
    // Move a member from the first segment to the last.
    let first = evidence[0];
    let seal = f.spans.iter().rposition(|s| s.path.ends_with(b".json") && s.is_custody()).unwrap();
    let mut m = t[..first.start].to_vec();
    m.extend_from_slice(&t[first.end..f.spans[seal].start]);
    m.extend_from_slice(&t[first.start..first.end]);
    m.extend_from_slice(&t[f.spans[seal].start..]);
    f.tampered(&mut tally, "move member across segments", &m);
    // Insert a well-formed foreign member before every member, after the seal
    // and after the end-of-archive marker.
    let foreign = foreign_member("tmp/planted.txt", b"planted evidence\n");
    let mut points: Vec<usize> = f.spans.iter().skip(1).map(|s| s.start).collect();
    points.push(f.end_marker);
    for at in points {
        let mut m = t[..at].to_vec();
        m.extend_from_slice(&foreign);
        m.extend_from_slice(&t[at..]);
        f.tampered(&mut tally, "insert foreign member", &m);
    }
    let mut m = t.clone();
    m.extend_from_slice(&foreign);
    f.tampered(&mut tally, "append after end marker", &m);
    for junk in [&b"\x01"[..], &b"trailing garbage"[..]] {
        let mut m = t.clone();
        m.extend_from_slice(junk);
        m.resize(m.len() + 2 * BLOCK, 0);
        f.tampered(&mut tally, "data after end marker", &m);
    }
    // More zeros after the marker (tar's record padding) are not data.
    let mut m = t.clone();
    m.resize(m.len() + 20 * BLOCK + 17, 0);
    let r = f.verify(&compress(&m, 1));
    tally.add("zero padding after end marker", r.verdict);
    assert_eq!(r.verdict, Verdict::Verified, "{:#?}", r.findings);
    // Splice from another archive signed by the same key: each custody member
    // (header, manifests, checkpoints, signatures) and each evidence member
    // replaced by its counterpart of the same path.
    for s in &f.spans {
        if let Some(o) = f.other_spans.iter().find(|o| o.path == s.path) {
            if t[s.start..s.end] == f.other_tar[o.start..o.end] {
                continue;
            }
            let mut m = t[..s.start].to_vec();
            m.extend_from_slice(&f.other_tar[o.start..o.end]);
            m.extend_from_slice(&t[s.end..]);
            let class = if s.is_custody() {
                "splice custody member"
            } else {
                "splice evidence member"
            };
            f.tampered(&mut tally, class, &m);
        }
    }
    // Splice a checkpoint with its signature (document + .sig) as a pair.
    let cps: Vec<usize> = f
        .spans
        .iter()
        .enumerate()
        .filter(|(_, s)| s.path.ends_with(b".json") && s.path.starts_with(b".custody/checkpoint-"))
        .map(|(i, _)| i)
        .collect();
    for &i in &cps {
        let (doc, sig) = (&f.spans[i], &f.spans[i + 1]);
        if let Some(j) = f.other_spans.iter().position(|o| o.path == doc.path) {
            let (odoc, osig) = (&f.other_spans[j], &f.other_spans[j + 1]);
            let mut m = t[..doc.start].to_vec();
            m.extend_from_slice(&f.other_tar[odoc.start..osig.end]);
            m.extend_from_slice(&t[sig.end..]);
            f.tampered(&mut tally, "splice signed checkpoint", &m);
        }
    }
    // Remove a whole checkpoint (document and signature).
    for &i in &cps {
        let mut m = t[..f.spans[i].start].to_vec();
        m.extend_from_slice(&t[f.spans[i + 1].end..]);
        let r = f.verify(&compress(&m, 1));
        tally.add("remove checkpoint", r.verdict);
        assert_ne!(r.verdict, Verdict::Verified, "{:#?}", r.findings);
        // Removing the seal is indistinguishable from truncation only if
        // nothing follows; the end marker that follows makes it tampering.
        assert_eq!(r.verdict, Verdict::Tampered, "{:#?}", r.findings);
    }
    tally.print();
}

#[test]
fn damaged_compressed_bytes_are_tampering() {
    let f = fixture();
    let mut rng = Rng::new();
    let mut tally = Tally::default();
    // The collector's own framing: several frames.
    // Framed as the collector frames (a frame per checkpoint, with content
    // checksums).
    let checked = |t: &[u8]| {
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        e.include_checksum(true).unwrap();
        e.write_all(t).unwrap();
        e.finish().unwrap()
    };
    let archive = {
        let mut framed = Vec::new();
        let mut start = 0;
        for s in &f.spans {
            if s.path.ends_with(b".json.sig") {
                framed.extend_from_slice(&checked(&f.tar[start..s.end]));
                start = s.end;
            }
        }
        framed.extend_from_slice(&checked(&f.tar[start..]));
        framed
    };
    assert_eq!(f.verify(&archive).verdict, Verdict::Verified);
    let first_frame = zstd::zstd_safe::find_frame_compressed_size(&archive).unwrap();
    let mut last_frame = 0;
    while last_frame + zstd::zstd_safe::find_frame_compressed_size(&archive[last_frame..]).unwrap() < archive.len() {
        last_frame += zstd::zstd_safe::find_frame_compressed_size(&archive[last_frame..]).unwrap();
    }
    for _ in 0..(60 * rounds()) {
        let mut m = archive.clone();
        let at = rng.below(m.len());
        m[at] ^= 1 << rng.below(8);
        let r = match verify(&m[..], &f.trust, &mut NullSink) {
            Ok(r) => r,
            Err(_) if at < first_frame => {
                f.not_verified(&mut tally, "compressed bit-flip first frame", &m, false);
                continue;
            }
            Err(e) => panic!("flip at {at}: verify failed to run: {e}"),
        };
        // What the flipped bytes decode to, if they decode at all.
        let mut decoded = Vec::new();
        let clean = std::io::Read::read_to_end(&mut custody::frames::FrameReader::new(&m[..]).unwrap(), &mut decoded).is_ok();
        if clean && decoded == f.tar {
            // Only framing that does not affect the output changed (a window
            // size, say): the signed tar stream is intact, as after an
            // honest recompression.
            tally.add("compressed bit-flip, same tar", r.verdict);
            assert_eq!(r.verdict, Verdict::Verified, "{:#?}", r.findings);
        } else if clean && decoded.starts_with(&f.tar) && decoded[f.tar.len()..].iter().all(|&b| b == 0) {
            // More trailing zeros: tar's record padding, not data.
            tally.add("compressed bit-flip, more zeros", r.verdict);
            assert_eq!(r.verdict, Verdict::Verified, "{:#?}", r.findings);
        } else if f.tar.starts_with(&decoded) && r.findings.iter().all(|f| f.level != Level::Error) && at >= last_frame {
            // The last frame's end was altered (its last-block flag or a
            // block length) so that the stream just stops early: exactly
            // what a cut looks like, and only the unsigned end-of-archive
            // zeros or the tail since the last checkpoint are lost.
            tally.add("compressed bit-flip, ends early", r.verdict);
            assert_eq!(r.verdict, Verdict::Incomplete, "{:#?}", r.findings);
        } else if at < first_frame {
            // The first frame holds the header document (see above).
            f.not_verified(&mut tally, "compressed bit-flip first frame", &m, false);
        } else {
            tally.add("compressed bit-flip", r.verdict);
            assert_eq!(
                r.verdict,
                Verdict::Tampered,
                "flip at compressed byte {at} (decodes cleanly: {clean}, {} of {} bytes, prefix: {}): {:#?}",
                decoded.len(),
                f.tar.len(),
                f.tar.starts_with(&decoded),
                r.findings
            );
        }
    }
    tally.print();
}

#[test]
fn truncation_anywhere_is_incomplete() {
    let f = fixture();
    let mut rng = Rng::new();
    let mut tally = Tally::default();
    // At every member boundary and inside every kind of region of the tar
    // stream, recompressed as a clean stream.
    let mut cuts: Vec<(&str, usize)> = Vec::new();
    for s in &f.spans {
        cuts.push(("tar member boundary", s.start));
        cuts.push(("tar inside header", s.start + 1 + rng.below(s.content - s.start - 1)));
        if s.content_end > s.content {
            cuts.push(("tar inside content", s.content + rng.below(s.content_end - s.content)));
        }
    }
    cuts.push(("tar before end marker", f.end_marker));
    cuts.push(("tar inside end marker", f.end_marker + 1 + rng.below(2 * BLOCK - 1)));
    for (class, at) in cuts {
        if at == 0 {
            continue;
        }
        if at < f.spans[0].end {
            // Inside the header document: too little may be left to tell.
            f.not_verified(&mut tally, "tar inside header document", &compress(&f.tar[..at], 1), true);
        } else {
            f.incomplete(&mut tally, class, &compress(&f.tar[..at], 1));
        }
    }
    // Cut compressed bytes: at frame boundaries and inside frames.
    let mut framed = Vec::new();
    let mut frame_ends = Vec::new();
    let mut start = 0;
    for s in &f.spans {
        if s.path.ends_with(b".json.sig") {
            framed.extend_from_slice(&compress(&f.tar[start..s.end], 3));
            frame_ends.push(framed.len());
            start = s.end;
        }
    }
    framed.extend_from_slice(&compress(&f.tar[start..], 3));
    for end in frame_ends {
        f.incomplete(&mut tally, "compressed frame boundary", &framed[..end]);
    }
    let first_frame = zstd::zstd_safe::find_frame_compressed_size(&framed).unwrap();
    for _ in 0..(40 * rounds()) {
        let at = 1 + rng.below(framed.len() - 1);
        if at < first_frame {
            // A frame decodes block by block: cut inside the first one, the
            // header document may not be readable at all.
            f.not_verified(&mut tally, "compressed inside first frame", &framed[..at], true);
        } else {
            f.incomplete(&mut tally, "compressed inside frame", &framed[..at]);
        }
    }
    tally.print();
}
