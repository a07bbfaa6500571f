//! Live files: a file that grows, shrinks, is rotated or vanishes while it
//! is collected. The collector's progress hooks run at exact moments (just
//! before a file is opened, after each chunk is read), so each case happens
//! deterministically. The archive must stay valid and verify, and each
//! member's status must say what happened.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use custody::collect::{CollectOptions, Collector, Progress};
use custody::format::doc::{MemberEntry, MemberStatus};
use custody::signer::{fingerprint, Signer, TrustAnchors};
use custody::verify::{verify, MemberOutcome, MemberSink, Verdict, VerifyOptions};

/// What the hook does to a file, and when.
#[derive(Clone, Copy)]
enum Act {
    /// Before opening: delete the file.
    Delete,
    /// Before opening: rename it aside and write a new file in its place.
    Rotate,
    /// After the first chunk: append this many bytes.
    Append(usize),
    /// After the first chunk: truncate to this many bytes.
    Truncate(u64),
    /// After the first chunk: rename it aside and write a new file in its place.
    RotateWhileRead,
}

struct Hooks {
    acts: HashMap<PathBuf, Act>,
    current: Option<(PathBuf, Act)>,
    chunks: u64,
}

fn rotate(path: &Path) {
    let aside = path.with_extension("1");
    std::fs::rename(path, &aside).unwrap();
    std::fs::write(path, b"new file after rotation\n").unwrap();
}

impl Progress for Hooks {
    fn reading(&mut self, path: &Path, _size: u64) {
        self.chunks = 0;
        self.current = self.acts.get(path).map(|a| (path.to_path_buf(), *a));
        match self.current {
            Some((ref p, Act::Delete)) => std::fs::remove_file(p).unwrap(),
            Some((ref p, Act::Rotate)) => rotate(p),
            _ => {}
        }
    }
    fn read(&mut self, _bytes: u64) {
        self.chunks += 1;
        if self.chunks != 1 {
            return;
        }
        match self.current {
            Some((ref p, Act::Append(n))) => OpenOptions::new().append(true).open(p).unwrap().write_all(&vec![b'+'; n]).unwrap(),
            Some((ref p, Act::Truncate(n))) => OpenOptions::new().write(true).open(p).unwrap().set_len(n).unwrap(),
            Some((ref p, Act::RotateWhileRead)) => rotate(p),
            _ => {}
        }
    }
    fn member(&mut self, _: &[u8], _: u64) {}
    fn checkpoint(&mut self, _: u64, _: u64) {}
}

/// Keeps every member outcome the verifier reports.
#[derive(Default)]
struct Outcomes(Vec<MemberOutcome>);
impl MemberSink for Outcomes {
    fn segment(&mut self, members: &[MemberOutcome]) -> std::io::Result<()> {
        self.0.extend_from_slice(members);
        Ok(())
    }
}

fn collect_with(root: &Path, acts: HashMap<PathBuf, Act>) -> (Vec<u8>, String) {
    let mut signer = Signer::ephemeral();
    let fp = fingerprint(&signer.public_key());
    let opts = CollectOptions {
        checkpoint_bytes: 1 << 30,
        checkpoint_members: 2,
        checkpoint_seconds: 3600,
        zstd_level: 1,
        ..CollectOptions::new(vec![root.to_path_buf()])
    };
    let mut hooks = Hooks {
        acts,
        current: None,
        chunks: 0,
    };
    let (_, archive) = Collector::start(Vec::new(), &mut signer, opts, &mut hooks).unwrap().run().unwrap();
    (archive, fp)
}

/// The listing entry of the member whose path ends with `name`.
fn entry<'a>(outcomes: &'a [MemberOutcome], name: &str) -> &'a MemberEntry {
    outcomes
        .iter()
        .filter_map(|o| o.entry.as_ref())
        .find(|e| e.path.to_bytes().is_some_and(|p| p.ends_with(name.as_bytes())))
        .unwrap_or_else(|| panic!("{name} is listed"))
}

#[test]
fn live_files_keep_the_stream_valid_and_say_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("logs");
    std::fs::create_dir(&root).unwrap();
    // Several read chunks (1 MiB each) so that the hooks fire mid-read.
    let big = |c: u8| vec![c; 3 * 1024 * 1024 + 17];
    for name in ["grows.log", "shrinks.log", "rotated-while-read.log"] {
        std::fs::write(root.join(name), big(b'a')).unwrap();
    }
    // Larger than what the collector reads ahead (64 KiB), so that these
    // files are opened when the hook says, not before.
    std::fs::write(root.join("rotated.log"), "old content\n".repeat(10_000)).unwrap();
    std::fs::write(root.join("vanishes.log"), "here at the walk\n".repeat(10_000)).unwrap();
    std::fs::write(root.join("steady.log"), "stays put\n").unwrap();
    let acts = HashMap::from([
        (root.join("grows.log"), Act::Append(5000)),
        (root.join("shrinks.log"), Act::Truncate(1024 * 1024 + 100)),
        (root.join("rotated-while-read.log"), Act::RotateWhileRead),
        (root.join("rotated.log"), Act::Rotate),
        (root.join("vanishes.log"), Act::Delete),
    ]);
    let (archive, fp) = collect_with(&root, acts);

    let mut outcomes = Outcomes::default();
    let trust = TrustAnchors {
        keys: Vec::new(),
        fingerprints: vec![fp],
    };
    let report = verify(
        &archive[..],
        &VerifyOptions {
            trust,
            ..Default::default()
        },
        &mut outcomes,
    )
    .unwrap();
    assert_eq!(report.verdict, Verdict::Verified, "{:#?}", report.findings);
    let outcomes = outcomes.0;
    let size = 3 * 1024 * 1024 + 17;

    let e = entry(&outcomes, "grows.log");
    assert_eq!((e.status, e.size), (MemberStatus::Grew, size), "{e:?}");

    let e = entry(&outcomes, "shrinks.log");
    assert_eq!((e.status, e.size), (MemberStatus::Shrank, size), "{e:?}");
    assert!(e.detail.as_deref().unwrap().contains("zero-filled"), "{e:?}");

    let e = entry(&outcomes, "rotated-while-read.log");
    assert_eq!((e.status, e.size), (MemberStatus::Changed, size), "{e:?}");
    assert!(e.detail.as_deref().unwrap().contains("while read"), "{e:?}");
    let whole = outcomes.iter().find(|o| o.meta.path.ends_with(b"rotated-while-read.log")).unwrap();
    let want = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(big(b'a')));
    assert_eq!(
        whole.sha256.as_deref(),
        Some(want.as_str()),
        "the opened file's content is archived whole"
    );

    let e = entry(&outcomes, "/rotated.log");
    assert_eq!(e.status, MemberStatus::Changed, "{e:?}");
    assert!(e.detail.as_deref().unwrap().contains("between the walk and the read"), "{e:?}");
    assert_eq!(
        e.size,
        "new file after rotation\n".len() as u64,
        "the file now at the path is archived"
    );

    let e = entry(&outcomes, "vanishes.log");
    assert_eq!((e.status, e.size, e.sha256.is_some()), (MemberStatus::Vanished, 0, true), "{e:?}");

    let e = entry(&outcomes, "steady.log");
    assert_eq!(e.status, MemberStatus::Ok, "{e:?}");

    let seal = report.seal.expect("sealed");
    assert_eq!(seal.statuses.get("grew"), Some(&1));
    assert_eq!(seal.statuses.get("shrank"), Some(&1));
    assert_eq!(seal.statuses.get("changed"), Some(&2));
    assert_eq!(seal.statuses.get("vanished"), Some(&1));
    assert_eq!(
        report.proven.totals.failures, 5,
        "every live-file event counts as a recorded failure"
    );
}
