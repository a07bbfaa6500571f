//! Progress on standard error, drawn only on a terminal. `collect` shows the
//! content bytes it has read against a total that a metadata pre-scan
//! counts; `verify`, `list` and `extract` show the archive bytes consumed
//! against the file's size. The library never prints: collect reports
//! through [`Progress`], and the readers' input is counted here.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use custody::collect::Progress;
use custody::source::{self, WalkOptions};
use indicatif::{ProgressBar, ProgressState, ProgressStyle};

use super::units::{grouped, human_bytes, human_duration};

/// How often the bars redraw on their own, so rate and spinner move while
/// one large file or frame is read.
const TICK: Duration = Duration::from_millis(120);

/// The pre-scan says how far it got every this many entries.
const SCAN_REPORT_EVERY: u64 = 256;

/// Collect's line while the pre-scan runs: no total and no ETA, since
/// neither is known yet.
const SCANNING: &str = "{spinner} {binary_bytes:>11} {binary_bytes_per_sec:>13}  scanning… {prefix:<22} {wide_msg}";
/// Columns of [`SCANNING`] besides the path (the prefix at its width).
const SCANNING_COLS: usize = 1 + 1 + 11 + 1 + 13 + 2 + 10 + 22 + 1;

/// Collect's line once the pre-scan has the total.
const COUNTED: &str =
    "{spinner} {binary_bytes:>11} of {binary_total_bytes:<11} {percent:>3}% {binary_bytes_per_sec:>13} eta {known_eta:<4} {wide_msg}";
/// Columns of [`COUNTED`] besides the path.
const COUNTED_COLS: usize = 1 + 1 + 11 + 4 + 11 + 1 + 3 + 2 + 13 + 5 + 4 + 1;

/// What the pre-scan found: the entries collect will archive as evidence
/// members, and the content bytes of the regular files among them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanCount {
    pub(crate) entries: u64,
    pub(crate) content_bytes: u64,
}

/// Walk `sources` as collect walks them (the same exclusions, the same
/// one-filesystem rule, the same files never collected), taking metadata
/// only: no file is opened for reading. `found` hears the count so far every
/// [`SCAN_REPORT_EVERY`] entries. Returns `None` when `stop` ended it first.
pub(crate) fn pre_scan(
    sources: &[PathBuf],
    walk: &WalkOptions,
    stop: &AtomicBool,
    mut found: impl FnMut(ScanCount),
) -> io::Result<Option<ScanCount>> {
    let mut count = ScanCount::default();
    let stats = source::walk(
        sources,
        walk,
        || stop.load(Ordering::Relaxed),
        |item| {
            if let source::WalkItem::Entry(e) = item {
                count.entries += 1;
                if e.metadata.is_file() {
                    count.content_bytes += e.metadata.size;
                }
                if count.entries % SCAN_REPORT_EVERY == 0 {
                    found(count);
                }
            }
            Ok(())
        },
    )?;
    Ok((!stats.stopped).then_some(count))
}

/// Collect's progress: content bytes read, the file being read, and, once
/// the pre-scan is through, the total and an ETA.
pub(crate) struct CollectProgress {
    bar: Option<ProgressBar>,
    counted: Arc<AtomicBool>,
    stop_scan: Arc<AtomicBool>,
}

impl CollectProgress {
    /// A bar when `show`, with its pre-scan of `sources` under `walk`
    /// running on a thread of its own.
    pub(crate) fn new(show: bool, sources: &[PathBuf], walk: &WalkOptions) -> Self {
        let counted = Arc::new(AtomicBool::new(false));
        let stop_scan = Arc::new(AtomicBool::new(false));
        if !show {
            return CollectProgress {
                bar: None,
                counted,
                stop_scan,
            };
        }
        let bar = ProgressBar::new(0);
        bar.set_style(style(SCANNING));
        bar.set_prefix("0 entries so far");
        bar.enable_steady_tick(TICK);
        let (scan_bar, sources, walk) = (bar.clone(), sources.to_vec(), walk.clone());
        let (done, stop) = (Arc::clone(&counted), Arc::clone(&stop_scan));
        std::thread::spawn(move || {
            let so_far = |c: ScanCount| scan_bar.set_prefix(format!("{} entries so far", grouped(c.entries)));
            // A walk that fails leaves the line as it is: no total, no ETA.
            if let Ok(Some(total)) = pre_scan(&sources, &walk, &stop, so_far) {
                // The length first: the scanning line does not show it, and
                // the counted one must never show a total of zero.
                scan_bar.set_length(total.content_bytes);
                scan_bar.set_style(style(COUNTED));
                scan_bar.set_prefix("");
                done.store(true, Ordering::Relaxed);
            }
        });
        CollectProgress {
            bar: Some(bar),
            counted,
            stop_scan,
        }
    }

    /// Clear the line and stop the pre-scan if it still runs.
    pub(crate) fn done(&self) {
        self.stop_scan.store(true, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for CollectProgress {
    fn drop(&mut self) {
        self.done();
    }
}

impl Progress for CollectProgress {
    fn reading(&mut self, path: &Path, _size: u64) {
        if let Some(b) = &self.bar {
            let cols = if self.counted.load(Ordering::Relaxed) {
                COUNTED_COLS
            } else {
                SCANNING_COLS
            };
            let width = terminal_width().saturating_sub(cols);
            b.set_message(shorten(&path.to_string_lossy(), width));
        }
    }
    fn read(&mut self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }
    fn member(&mut self, _path: &[u8], _content_bytes: u64) {}
    fn checkpoint(&mut self, _seq: u64, _tar_bytes: u64) {}
    fn live(&mut self, what: &str) {
        if let Some(b) = &self.bar {
            b.set_message(shorten(what, terminal_width().saturating_sub(SCANNING_COLS)));
        }
    }
    fn timestamp(&mut self, seq: u64, failed: Option<&str>) {
        // A warning, shown even with --quiet: the archive lacks trusted time there.
        if let Some(why) = failed {
            let msg = format!(
                "custody: warning: no trusted timestamp for checkpoint {seq}: {why}. The collection goes on; the failure is recorded in the archive."
            );
            match &self.bar {
                Some(b) => b.suspend(|| eprintln!("{msg}")),
                None => eprintln!("{msg}"),
            }
        }
    }
}

/// The archive bytes `verify`, `list` and `extract` have consumed, against
/// the file's size. Dropping it clears the line.
pub(crate) struct InputProgress {
    bar: Option<ProgressBar>,
}

impl InputProgress {
    /// `input` counted, and a bar over it when it is the file `archive`,
    /// standard error is a terminal and `quiet` is not set.
    pub(crate) fn over(archive: &Path, input: Box<dyn Read + Send>, quiet: bool) -> (Box<dyn Read + Send>, InputProgress) {
        let size = (archive.as_os_str() != "-")
            .then(|| std::fs::metadata(archive).ok())
            .flatten()
            .filter(|m| m.is_file() && m.len() > 0)
            .map(|m| m.len());
        let size = match size {
            Some(s) if !quiet && io::stderr().is_terminal() => s,
            _ => return (input, InputProgress { bar: None }),
        };
        let consumed = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&consumed);
        let line = move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&input_line(seen.load(Ordering::Relaxed), size, state.elapsed()));
        };
        let style = ProgressStyle::with_template("{spinner} {input}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key("input", line);
        let bar = ProgressBar::new(size).with_style(style);
        bar.enable_steady_tick(TICK);
        let counted = CountedRead { inner: input, consumed };
        (Box::new(counted), InputProgress { bar: Some(bar) })
    }
}

impl Drop for InputProgress {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A reader that adds what it reads to a counter another thread draws from.
struct CountedRead<R> {
    inner: R,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> Read for CountedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// `[#####-----]  1.20 GiB of 4.00 GiB  30%  210 MiB/s  eta 14 s`: the rate
/// is the average since the start.
fn input_line(consumed: u64, size: u64, elapsed: Duration) -> String {
    const BAR: usize = 20;
    let done = consumed.min(size);
    let filled = (done as u128 * BAR as u128 / size.max(1) as u128) as usize;
    let mut s = format!("[{}{}]", "#".repeat(filled), "-".repeat(BAR - filled));
    let percent = done as u128 * 100 / size.max(1) as u128;
    let _ = write!(s, " {} of {} {percent:>3}%", human_bytes(done), human_bytes(size));
    let secs = elapsed.as_secs_f64();
    if secs >= 0.5 && done > 0 {
        let rate = done as f64 / secs;
        let left = Duration::from_secs_f64((size - done) as f64 / rate);
        let _ = write!(s, "  {}/s  eta {}", human_bytes(rate as u64), human_duration(left));
    }
    s
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("known_eta", known_eta)
}

/// The ETA once there is a rate to reckon it from, `?` before: indicatif's
/// own says `0s` until then.
fn known_eta(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = if state.pos() > 0 && state.per_sec() > 0.0 {
        write!(w, "{:#}", indicatif::HumanDuration(state.eta()))
    } else {
        w.write_str("?")
    };
}

/// Columns of standard error's terminal, as indicatif measures them.
fn terminal_width() -> usize {
    console::Term::stderr().size().1 as usize
}

/// `path` in at most `width` characters: control characters (a newline or
/// an escape in a file name would break the line or drive the terminal)
/// become `?`, and a path too long loses its middle to `…`, keeping the
/// file name, or as much of its end as fits.
pub(crate) fn shorten(path: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let chars: Vec<char> = path.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    let cols = |c: &char| c.width().unwrap_or(0);
    if chars.iter().map(cols).sum::<usize>() <= width {
        return chars.into_iter().collect();
    }
    if width == 0 {
        return String::new();
    }
    let keep = width - 1;
    let name: usize = chars.iter().rev().take_while(|&&c| c != '/').map(cols).sum::<usize>() + 1;
    let tail = name.min(keep).max(keep - keep / 3);
    let head = keep - tail;
    // Whole characters only: a wide one that does not fit leaves a column free.
    let take = |it: &mut dyn Iterator<Item = &char>, budget: usize| {
        let mut used = 0;
        let mut out = Vec::new();
        for c in it {
            if used + cols(c) > budget {
                break;
            }
            used += cols(c);
            out.push(*c);
        }
        out
    };
    let front = take(&mut chars.iter(), head);
    let mut back = take(&mut chars.iter().rev(), tail);
    back.reverse();
    let mut out: String = front.into_iter().collect();
    out.push('…');
    out.extend(back);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_count_as_two_columns() {
        use unicode_width::UnicodeWidthStr;
        let path = "/home/山田/プロジェクト/顧客データ/エクスポート結果.csv";
        assert_eq!(shorten(path, 200), path);
        for width in [10, 21, 30, 41] {
            let s = shorten(path, width);
            assert!(
                s.width() <= width && s.width() >= width - 1,
                "{width}: {s} is {} columns",
                s.width()
            );
            assert_eq!(s.matches('…').count(), 1, "{s}");
            assert!(path.ends_with(s.split('…').nth(1).unwrap()), "{s}");
        }
    }

    #[test]
    fn a_short_path_is_left_whole() {
        assert_eq!(shorten("/etc/passwd", 11), "/etc/passwd");
        assert_eq!(shorten("/etc/passwd", 80), "/etc/passwd");
    }

    #[test]
    fn a_long_path_loses_its_middle_and_keeps_the_file_name() {
        let path = "/var/lib/containers/storage/overlay/3f9a/diff/usr/share/doc/README.Debian";
        for width in [20, 30, 41, 60] {
            let s = shorten(path, width);
            assert_eq!(s.chars().count(), width, "{s}");
            assert_eq!(s.matches('…').count(), 1, "{s}");
            assert!(s.ends_with("/README.Debian"), "{s}");
            assert!(path.starts_with(s.split('…').next().unwrap()), "{s}");
        }
    }

    #[test]
    fn a_file_name_longer_than_the_line_keeps_its_end() {
        let s = shorten("/d/a-very-long-file-name-indeed.log", 12);
        assert_eq!(s, "…-indeed.log");
        assert_eq!(shorten("/d/abc", 1), "…");
        assert_eq!(shorten("/d/abc", 0), "");
    }

    #[test]
    fn control_characters_become_question_marks() {
        assert_eq!(shorten("/tmp/a\nb\x1b[2Jc\t", 80), "/tmp/a?b?[2Jc?");
        let s = shorten("/tmp/\x07\x07\x07/dir/evil\rname", 12);
        assert!(!s.chars().any(char::is_control), "{s:?}");
        assert!(s.ends_with("evil?name"), "{s:?}");
    }

    #[test]
    fn wide_paths_are_counted_in_characters_not_bytes() {
        let s = shorten("/home/zoë/documents/année-2024/relevé.pdf", 20);
        assert_eq!(s.chars().count(), 20);
        assert!(s.ends_with("/relevé.pdf"), "{s}");
    }

    /// A tree with a subtree left out by `--exclude`: the pre-scan counts
    /// exactly the evidence members and content bytes collect archives.
    #[test]
    fn the_pre_scan_counts_what_collect_archives_under_an_exclusion() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("evidence");
        for d in ["keep/a", "keep/b", "skip/deep"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for (f, len) in [
            ("keep/a/one", 1000),
            ("keep/b/two", 70_000),
            ("top", 3),
            ("skip/big", 500_000),
            ("skip/deep/x", 9),
        ] {
            std::fs::write(root.join(f), vec![b'x'; len]).unwrap();
        }
        std::os::unix::fs::symlink("keep/a/one", root.join("link")).unwrap();
        let mut excludes = globset::GlobSetBuilder::new();
        excludes.add(globset::Glob::new("**/skip").unwrap());
        let mut opts = custody::collect::CollectOptions::new(vec![root.clone()]);
        opts.walk.excludes = excludes.build().unwrap();
        opts.threads = 1;

        let mut reports = 0;
        let scanned = pre_scan(&opts.sources, &opts.walk, &AtomicBool::new(false), |_| reports += 1)
            .unwrap()
            .expect("nothing stopped the pre-scan");
        // root, keep, keep/a, keep/a/one, keep/b, keep/b/two, link, top.
        assert_eq!(
            scanned,
            ScanCount {
                entries: 8,
                content_bytes: 71_003
            }
        );
        assert_eq!(reports, 0, "fewer entries than one report's worth");

        let mut signer = custody::signer::Signer::ephemeral();
        let (summary, _) = custody::collect::Collector::start(Vec::new(), &mut signer, opts, &mut custody::collect::NoProgress)
            .and_then(|c| c.run())
            .unwrap();
        assert_eq!(summary.totals.evidence_members, scanned.entries);
        assert_eq!(summary.totals.content_bytes, scanned.content_bytes);
        assert_eq!(summary.totals.skipped, 1, "the excluded subtree is one skipped entry");
    }

    #[test]
    fn a_stopped_pre_scan_gives_no_total() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let opts = custody::collect::CollectOptions::new(vec![dir.path().to_path_buf()]);
        let got = pre_scan(&opts.sources, &opts.walk, &AtomicBool::new(true), |_| {}).unwrap();
        assert_eq!(got, None);
    }

    #[test]
    fn the_input_line_has_no_rate_before_it_can_know_one() {
        let early = input_line(0, 1 << 30, Duration::from_millis(10));
        assert!(early.contains("0 B of 1.00 GiB   0%") && !early.contains("eta"), "{early}");
        let later = input_line(1 << 29, 1 << 30, Duration::from_secs(2));
        assert!(
            later.contains(" 50%") && later.contains("256 MiB/s") && later.contains("eta 2.00 s"),
            "{later}"
        );
        assert!(later.starts_with("[##########----------]"), "{later}");
    }
}
