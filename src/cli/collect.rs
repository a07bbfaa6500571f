//! `custody collect`: the profile or paths to collect, `--plan`, the
//! collection itself with its live response, and what it tells the
//! responder at the end (summary, sidecar, custody log, receipt).

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use clap::Args;

use custody::collect::{self, CollectOptions, Collector};
use custody::custody_log::Actor;
use custody::format::doc::CaseInfo;
use custody::profile::{self, Profile};
use custody::signer::{self, Signer};
use custody::source::{self, WalkOptions};

use crate::{cli, exit, load_signer, sidecar_path, SigningArgs};

#[derive(Args)]
pub(crate) struct CollectArgs {
    /// Files or directories to collect (default: the devserver profile's).
    /// With --profile, collected as one more area of it.
    paths: Vec<PathBuf>,
    /// Archive to write (must not exist), `-` for standard output, or
    /// s3://BUCKET/KEY to stream it to an S3-compatible store (endpoint,
    /// region and keys as the AWS tools take them: see the README).
    #[arg(long, short, required_unless_present = "plan")]
    output: Option<PathBuf>,
    #[command(flatten)]
    s3: cli::s3::S3Args,
    /// The collection profile: a built-in name (`custody profiles` lists
    /// them) or a TOML file. Default, when no PATH is given: devserver.
    #[arg(long, value_name = "NAME|FILE")]
    profile: Option<String>,
    /// Print what would be collected, by area, and what caps and exclusions
    /// leave out, without reading any file's content or writing anything.
    #[arg(long)]
    plan: bool,
    /// Skip the profile's live response and commands (collect files only).
    #[arg(long)]
    no_live: bool,
    #[command(flatten)]
    signing: SigningArgs,
    /// Case reference.
    #[arg(long)]
    case: Option<String>,
    /// Examiner name.
    #[arg(long)]
    examiner: Option<String>,
    /// Evidence item identifier.
    #[arg(long)]
    evidence_id: Option<String>,
    /// Free-form note.
    #[arg(long)]
    note: Option<String>,
    /// Your organisation, for the custody log's `acquired` event.
    #[arg(long)]
    organization: Option<String>,
    /// Where the evidence is (site, room, rack), for the custody log's `acquired` event.
    #[arg(long)]
    location: Option<String>,
    /// Leave out paths matching this glob (matched against absolute paths; repeatable).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Write a checkpoint after this many tar bytes.
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = cli::units::parse_size)]
    checkpoint_bytes: u64,
    /// Write a checkpoint after this many members.
    #[arg(long, default_value_t = collect::DEFAULT_CHECKPOINT_MEMBERS, value_parser = clap::value_parser!(u64).range(1..=collect::MAX_CHECKPOINT_MEMBERS))]
    checkpoint_members: u64,
    /// Write a checkpoint after this many seconds.
    #[arg(long, default_value_t = collect::DEFAULT_CHECKPOINT_SECONDS, value_parser = clap::value_parser!(u64).range(1..))]
    checkpoint_seconds: u64,
    /// Descend into other mounted filesystems below the sources.
    #[arg(long)]
    cross_filesystems: bool,
    /// zstd compression level (1-19).
    #[arg(long, default_value_t = collect::DEFAULT_ZSTD_LEVEL, value_parser = clap::value_parser!(i32).range(1..=19))]
    level: i32,
    /// Compression threads, 1-4 (default: one per CPU, at most 4).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=collect::MAX_THREADS as i64))]
    threads: Option<u32>,
    /// No progress on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Countersign each checkpoint's signature with this RFC 3161
    /// time-stamping authority (http:// or https://). Its tokens go into the
    /// archive; if it fails, the failure is recorded and collection goes on.
    #[arg(long, value_name = "URL")]
    tsa: Option<String>,
    /// Write the archive as parts of at most about SIZE (K, M, G, T):
    /// ARCHIVE.part-0001, ARCHIVE.part-0002, ..., each ending at a
    /// checkpoint (a segment larger than SIZE makes a larger part).
    #[arg(long, value_name = "SIZE", value_parser = cli::units::parse_size, conflicts_with = "plan")]
    split: Option<u64>,
}

/// What a collection takes: its profile (none when only PATHs are given),
/// the sources on this host, and the walk's rules.
struct Selection {
    profile: Option<Profile>,
    resolution: profile::Resolution,
    area_names: Vec<String>,
    walk: WalkOptions,
    exclude_patterns: Vec<String>,
}

/// The profile and sources `args` ask for. PATHs alone are collected as
/// given, without a profile; otherwise the profile (devserver by default)
/// with PATHs as one more area.
fn select(args: &CollectArgs) -> anyhow::Result<Selection> {
    for s in &args.paths {
        std::fs::symlink_metadata(s)
            .with_context(|| format!("source {} cannot be examined; check the path (nothing was written)", s.display()))?;
    }
    let name = args
        .profile
        .clone()
        .or_else(|| args.paths.is_empty().then(|| profile::DEFAULT.to_string()));
    let Some(name) = name else {
        let mut walk = profile::command_line_walk(&args.exclude)?;
        walk.one_file_system = !args.cross_filesystems;
        return Ok(Selection {
            profile: None,
            resolution: profile::Resolution {
                sources: args.paths.clone(),
                area_of: vec![0; args.paths.len()],
                ..Default::default()
            },
            area_names: vec!["command line".into()],
            walk,
            exclude_patterns: args.exclude.clone(),
        });
    };
    let mut p = profile::load(&name)?;
    if let Some(odd) = args.paths.iter().find(|p| p.to_str().is_none()) {
        return Err(anyhow!(
            "the path {} is not UTF-8: profiles hold text; collect it without --profile",
            odd.display()
        ));
    }
    p.add_paths(&args.paths);
    let resolution = p.resolve();
    let mut walk = p.walk_options(&resolution, &args.exclude)?;
    walk.one_file_system = !args.cross_filesystems;
    Ok(Selection {
        area_names: p.areas.iter().map(|a| a.name.clone()).collect(),
        exclude_patterns: p.exclude_patterns(&args.exclude),
        resolution,
        walk,
        profile: Some(p),
    })
}

/// Refuse an output inside a collected tree: custody never writes into the evidence.
fn check_output_outside(output: &Path, sources: &[PathBuf]) -> anyhow::Result<()> {
    let abs = source::absolute(output)?;
    let parent = abs.parent().unwrap_or(Path::new("/"));
    let parent = std::fs::canonicalize(parent).with_context(|| {
        format!(
            "the output directory {} does not exist; create it or choose another --output",
            parent.display()
        )
    })?;
    for s in sources {
        let src = std::fs::canonicalize(s).unwrap_or_else(|_| s.clone());
        if parent.starts_with(&src) {
            return Err(anyhow!(
                "the output {} lies inside the collected tree {}: custody never writes into the evidence. Write the archive to another disk, or stream it off the host with `--output -`.",
                output.display(),
                s.display()
            ));
        }
    }
    Ok(())
}

/// `custody collect`.
pub(crate) fn run(args: CollectArgs) -> anyhow::Result<u8> {
    let selection = select(&args)?;
    if args.plan {
        return plan(&args, &selection);
    }
    let output = args.output.clone().context("--output is required")?;
    let sources = selection.resolution.sources.clone();
    let to_stdout = output.as_os_str() == "-";
    if to_stdout && args.split.is_some() {
        return Err(anyhow!(
            "--split writes part files ARCHIVE.part-0001, ...: give a file name with --output, not `-`"
        ));
    }
    if to_stdout && io::stdout().is_terminal() {
        return Err(anyhow!("refusing to write a binary archive to a terminal; redirect it (`> case.tar.zst`) or pipe it (`| ssh host 'cat > case.tar.zst'`)"));
    }
    let object = cli::s3::object(&output)?;
    if !to_stdout && object.is_none() {
        check_output_outside(&output, &sources)?;
        // Refused now rather than after a whole collection: a new archive
        // starts a new custody log, and never takes over another's.
        let log = custody::custody_log::log_path(&output);
        let written = if args.split.is_some() {
            cli::split::part_path(&output, 1)
        } else {
            output.clone()
        };
        if std::fs::symlink_metadata(&written).is_err() && std::fs::symlink_metadata(&log).is_ok() {
            return Err(anyhow!(
                "the custody log {} already exists, left by another archive of that name; nothing was collected. Move it away (it may be evidence of that archive's history) or choose another --output",
                log.display()
            ));
        }
    }
    let tsa = args.tsa.as_deref().map(custody::tsa::Client::new).transpose()?;
    let mut signer = load_signer(&args.signing)?.unwrap_or_else(Signer::ephemeral);
    let uid = rustix::process::geteuid();
    if !uid.is_root() {
        eprintln!(
            "custody: warning: running as uid {}, not root: files only root may read (/etc/shadow, /var/log/btmp, private keys, other users' homes) will be recorded as failures, not collected. Run as root for a complete capture.",
            uid.as_raw()
        );
    }
    let mut never_collect = Vec::new();
    let mut upload = None;
    let mut split = None;
    let out: Box<dyn Write + Send> = if let Some(object) = object {
        if args.split.is_some() {
            return Err(anyhow!(
                "--split writes files; an object store takes the archive as one object. Drop --split for s3:// outputs"
            ));
        }
        let (store, writer, handle) = cli::s3::start_upload(&object, &args.s3)?;
        upload = Some((object, store, handle));
        Box::new(writer)
    } else if let Some(size) = args.split {
        let (parts, writer, first) = cli::split::open_parts(&output, size)?;
        never_collect.push(first);
        split = Some(parts);
        Box::new(writer)
    } else if to_stdout {
        // `-o - > FILE` inside a collected tree: the walk must not read the
        // archive it is writing.
        if let Ok(st) = rustix::fs::fstat(io::stdout()) {
            if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile {
                never_collect.push((st.st_dev, st.st_ino));
            }
        }
        Box::new(io::BufWriter::with_capacity(1 << 20, io::stdout()))
    } else {
        let f = cli::create_new(&output, "archive")?;
        use std::os::unix::fs::MetadataExt;
        let m = f.metadata()?;
        never_collect.push((m.dev(), m.ino()));
        Box::new(io::BufWriter::with_capacity(1 << 20, f))
    };
    let opts = CollectOptions {
        sources: sources.clone(),
        walk: WalkOptions {
            never_collect,
            ..selection.walk.clone()
        },
        exclude_patterns: selection.exclude_patterns.clone(),
        case: CaseInfo {
            case: args.case.clone(),
            examiner: args.examiner.clone(),
            evidence_id: args.evidence_id.clone(),
            note: args.note.clone(),
        },
        checkpoint_bytes: args.checkpoint_bytes,
        checkpoint_members: args.checkpoint_members,
        checkpoint_seconds: args.checkpoint_seconds,
        zstd_level: args.level,
        threads: args.threads.map_or_else(collect::default_threads, |n| n as usize),
        stop: Some(stop_on_signals()?),
        tsa: tsa.clone(),
        split: split.clone(),
    };
    let fingerprint = signer::fingerprint(&signer.public_key());
    if signer.source_name() == "ephemeral" && !args.quiet {
        eprintln!("custody: no --key or --agent given: signing with an ephemeral key made for this collection.");
        eprintln!("custody: write its fingerprint on the custody form: {fingerprint}");
    }
    let mut progress = cli::progress::CollectProgress::new(!args.quiet && io::stderr().is_terminal(), &sources, &opts.walk);
    let started = std::time::Instant::now();
    let started_at = collect::now_rfc3339().0;
    let live = !args.no_live;
    let mut live_summary = None;
    let result = Collector::start(out, &mut signer, opts, &mut progress).and_then(|mut c| {
        if let Some(p) = &selection.profile {
            let statement = p.statement(&selection.resolution, &args.exclude, live);
            c.write_live("profile.json", &statement, collect::now_rfc3339().1)?;
            if live {
                let specs: Vec<_> = p.commands.iter().map(|c| c.spec()).collect();
                live_summary = Some(c.live_response(&p.live_steps, &specs)?);
            }
        }
        c.run()
    });
    progress.done();
    let stored = match (&result, &upload) {
        (Err(_), Some((object, store, handle))) => Some(cli::s3::finish_after_error(handle, store, object)),
        _ => None,
    };
    let (summary, mut out) = result.map_err(|e| match stored {
        Some(stored) => anyhow!(e).context(format!("the collection stopped before its seal; {stored}")),
        None => anyhow!(e).context("the collection stopped before its seal. The partial archive is evidence: `custody verify` proves it up to its last checkpoint. Check free space or the receiving end of the pipe, then collect again"),
    })?;
    out.flush()?;
    drop(out);
    if let Some((object, store, handle)) = &upload {
        cli::s3::finish(handle, store, object)?;
    }
    let parts = split.as_ref().map(custody::collect::PartFiles::finish);
    let mut report = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        report,
        "archive      {}",
        if to_stdout {
            "(standard output)".to_string()
        } else {
            output.display().to_string()
        }
    );
    if let Some(parts) = &parts {
        let _ = writeln!(report, "parts        {}", cli::split::parts_line(&output, parts));
    }
    if let Some(why) = &summary.stopped {
        let _ = writeln!(
            report,
            "STOPPED      {why}: a final signed checkpoint covers everything written; the archive verifies as incomplete"
        );
    }
    let _ = writeln!(report, "archive sha256 {}", summary.archive_sha256);
    let _ = writeln!(report, "chain        {}", summary.chain);
    let _ = writeln!(report, "signer       {fingerprint} ({})", signer.source_name());
    let _ = writeln!(report, "archive id   {}", summary.archive_id);
    let _ = writeln!(
        report,
        "members      {} ({} of content), {}, {}, {} skipped",
        summary.totals.evidence_members,
        cli::units::human_bytes(summary.totals.content_bytes),
        cli::units::count(summary.checkpoints, "checkpoint", "checkpoints"),
        cli::units::count(summary.totals.failures, "recorded failure", "recorded failures"),
        summary.totals.skipped
    );
    if let Some(l) = &live_summary {
        let _ = writeln!(report, "{}", live_line(l));
    }
    if summary.totals.failures > 0 {
        let _ = writeln!(
            report,
            "FAILURES     {}: recorded in the archive with the reason, but not collected whole:",
            summary.totals.failures
        );
        for (path, status, detail) in &summary.failures {
            let detail = detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
            let line: String = format!("{path} ({status}{detail})")
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            let _ = writeln!(report, "  {line}");
        }
        let named = summary.failures.len() as u64;
        if summary.totals.failures > named {
            let _ = writeln!(
                report,
                "  ... and {} more: `custody verify ARCHIVE --all` lists every one",
                summary.totals.failures - named
            );
        }
    }
    let elapsed = started.elapsed();
    let rate = (summary.totals.content_bytes as f64 / elapsed.as_secs_f64().max(1e-3)) as u64;
    let _ = writeln!(
        report,
        "elapsed      {} ({}/s of content; archive {})",
        cli::units::human_duration(elapsed),
        cli::units::human_bytes(rate),
        cli::units::human_bytes(summary.archive_bytes)
    );
    if let Some(url) = &summary.timestamps.url {
        let failed = summary.timestamps.failed.len();
        let _ = writeln!(
            report,
            "timestamps   {} tokens from {url}{}",
            summary.timestamps.obtained,
            if failed == 0 {
                String::new()
            } else {
                format!(", {failed} checkpoints NOT stamped (recorded in the archive; see the warnings above)")
            }
        );
    }
    let signer_source = signer.source_name().to_string();
    let receipt_text = |log_head: &str, parts: Option<&[collect::PartRecord]>| {
        CustodyForm {
            args: &args,
            summary: &summary,
            fingerprint: &fingerprint,
            signer_source: &signer_source,
            started_at: &started_at,
            log_head,
            live: live_summary.as_ref(),
            parts,
        }
        .text()
    };
    if to_stdout {
        eprint!("{report}");
    } else if let Some((object, store, _)) = &upload {
        let mut log = custody::custody_log::LogFile::in_memory(&custody::custody_log::log_path(&output));
        let head = cli::log::record_acquired(&mut log, &output, &mut signer, &summary, acquired_by(&args), args.location.clone(), tsa.as_ref())
            .context("the archive is stored, but its custody log could not be made; record the acquisition with `custody log add` on a downloaded copy")?;
        let [sidecar, log, receipt] =
            cli::s3::put_sidecars(store, object, &summary.archive_sha256, log.bytes(), &receipt_text(&head, None))?;
        let mut o = io::stdout().lock();
        write!(o, "{report}")?;
        writeln!(o, "sidecar      {sidecar}")?;
        writeln!(o, "custody log  {log} (acquired; head {head})")?;
        writeln!(o, "receipt      {receipt} (the values for the custody form)")?;
    } else {
        let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let sidecar = sidecar_path(&output);
        if let Some(parts) = &parts {
            cli::split::write_sidecar(&sidecar, &output, parts)?;
        } else {
            std::fs::write(&sidecar, format!("{}  {name}\n", summary.archive_sha256)).with_context(|| {
                format!(
                    "the archive is complete, but its checksum file {} could not be written",
                    sidecar.display()
                )
            })?;
        }
        let (log, head) = cli::log::write_acquired(&output, &mut signer, &summary, acquired_by(&args), args.location.clone(), tsa.as_ref())
            .context("the archive is complete, but its custody log could not be written; record the acquisition with `custody log add ARCHIVE --event acquired`")?;
        let mut o = io::stdout().lock();
        write!(o, "{report}")?;
        writeln!(o, "sidecar      {}", sidecar.display())?;
        writeln!(o, "custody log  {} (acquired; head {head})", log.display())?;
        let receipt = receipt_path(&output);
        std::fs::write(&receipt, receipt_text(&head, parts.as_deref())).with_context(|| {
            format!(
                "the archive is complete, but its receipt {} could not be written",
                receipt.display()
            )
        })?;
        writeln!(o, "receipt      {} (the values for the custody form)", receipt.display())?;
    }
    Ok(if summary.stopped.is_some() {
        exit::COLLECTION_STOPPED
    } else {
        exit::OK
    })
}

/// `live         7 steps (5 ok, 2 partial), 15 commands (12 ok, 3 not-found) in .custody/live/`
fn live_line(l: &collect::LiveSummary) -> String {
    let part = |items: &[(String, String)], one: &str, many: &str| {
        let n = cli::units::count(items.len() as u64, one, many);
        if items.is_empty() {
            n
        } else {
            format!("{n} ({})", collect::LiveSummary::tally(items))
        }
    };
    format!(
        "live         {}, {} in .custody/live/{}",
        part(&l.steps, "step", "steps"),
        part(&l.commands, "command", "commands"),
        if l.stopped { "; STOPPED before the rest by a signal" } else { "" }
    )
}

/// `ARCHIVE.receipt`, beside a file output.
fn receipt_path(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".receipt");
    PathBuf::from(name)
}

/// What the responder copies onto the custody form, as collect knows it.
struct CustodyForm<'a> {
    args: &'a CollectArgs,
    summary: &'a collect::CollectSummary,
    fingerprint: &'a str,
    signer_source: &'a str,
    started_at: &'a str,
    log_head: &'a str,
    live: Option<&'a collect::LiveSummary>,
    /// The part files of a split archive.
    parts: Option<&'a [collect::PartRecord]>,
}

impl CustodyForm<'_> {
    fn text(&self) -> String {
        use std::fmt::Write as _;
        let (a, s) = (self.args, self.summary);
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let name = a
            .output
            .as_deref()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut t = String::from("custody collection receipt: the values for the chain-of-custody form\n\n");
        for (label, value) in [
            ("archive", name.clone()),
            ("archive sha256", s.archive_sha256.clone()),
            ("final chain", s.chain.clone()),
            ("archive id", s.archive_id.clone()),
            ("signer", format!("{} ({} key)", self.fingerprint, self.signer_source)),
            ("case", or_dash(&a.case)),
            ("evidence id", or_dash(&a.evidence_id)),
            ("examiner", or_dash(&a.examiner)),
            ("organization", or_dash(&a.organization)),
            ("location", or_dash(&a.location)),
            ("started", format!("{} (this host's clock)", self.started_at)),
            ("ended", format!("{} (this host's clock)", collect::now_rfc3339().0)),
            ("evidence members", s.totals.evidence_members.to_string()),
            ("content bytes", s.totals.content_bytes.to_string()),
            ("recorded failures", s.totals.failures.to_string()),
            ("skipped entries", s.totals.skipped.to_string()),
            ("stopped early", s.stopped.clone().unwrap_or_else(|| "no (sealed)".into())),
            (
                "live response",
                self.live
                    .map_or_else(|| "none".into(), |l| live_line(l).trim_start_matches("live").trim().to_string()),
            ),
            ("custody log head", self.log_head.to_owned()),
        ] {
            let _ = writeln!(t, "{label:<18} {value}");
        }
        if let Some(parts) = self.parts {
            // A split archive: its SHA-256 above is that of the parts
            // concatenated in order; each part's own is here.
            let _ = writeln!(t, "{:<18} {} (their SHA-256 in {name}.sha256)", "parts", parts.len());
            for p in parts {
                let file = custody::format::part::part_file_name(&name, p.part);
                let _ = writeln!(t, "{:<18} {}  {file} ({} bytes)", format!("part {}", p.part), p.sha256, p.bytes);
            }
        }
        t
    }
}

/// Who the `acquired` event names: the examiner, else who runs this process.
fn acquired_by(args: &CollectArgs) -> Actor {
    Actor {
        name: args.examiner.clone().unwrap_or_else(login_name),
        role: Some("collector".into()),
        organization: args.organization.clone(),
    }
}

/// Who runs this process, for the `acquired` event when no --examiner is given.
fn login_name() -> String {
    ["LOGNAME", "USER"]
        .into_iter()
        .find_map(|v| std::env::var(v).ok().filter(|n| !n.is_empty()))
        .unwrap_or_else(|| format!("uid {}", rustix::process::getuid().as_raw()))
}

/// A flag that SIGINT, SIGTERM and SIGHUP set to their number, so that the
/// collector stops with a final signed checkpoint. A second such signal
/// more than [`SAME_STOP`] after the first exits at once (code 130),
/// without that checkpoint, and says so; copies that arrive together (as
/// `timeout` and some supervisors send one to the process and one to its
/// group) count as one.
fn stop_on_signals() -> anyhow::Result<Arc<AtomicUsize>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let stop = Arc::new(AtomicUsize::new(0));
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let flag = Arc::clone(&stop);
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        let mut first: Option<std::time::Instant> = None;
        for signal in signals.forever() {
            match first {
                None => {
                    first = Some(std::time::Instant::now());
                    flag.store(signal as usize, std::sync::atomic::Ordering::SeqCst);
                }
                Some(at) if at.elapsed() < SAME_STOP => {}
                Some(_) => {
                    eprintln!(
                        "custody: a second stop signal ({signal}): aborting at once, WITHOUT the final signed checkpoint. The archive verifies as incomplete up to its last checkpoint."
                    );
                    std::process::exit(130);
                }
            }
        }
    })?;
    Ok(stop)
}

/// Stop signals closer together than this are one request to stop.
const SAME_STOP: std::time::Duration = std::time::Duration::from_millis(500);

/// `custody profiles`: the built-in profiles, or one profile's TOML.
pub(crate) fn profiles(show: Option<&str>) -> anyhow::Result<u8> {
    let mut o = io::stdout().lock();
    if let Some(name) = show {
        let p = profile::load(name)?;
        write!(o, "{}", p.text)?;
        return Ok(exit::OK);
    }
    for (name, text) in profile::BUILTIN {
        let p = profile::parse(text, "built in")?;
        let default = if *name == profile::DEFAULT { " (default)" } else { "" };
        writeln!(o, "{name}{default}")?;
        writeln!(o, "    {}", p.description)?;
        let areas: Vec<&str> = p.areas.iter().map(|a| a.name.as_str()).collect();
        writeln!(
            o,
            "    {} areas ({}), {} live-response steps, {} commands",
            areas.len(),
            areas.join(", "),
            p.live_steps.len(),
            p.commands.len()
        )?;
    }
    writeln!(
        o,
        "\n`custody profiles --show NAME` prints one; `custody collect --profile NAME|FILE --plan` shows what it takes here."
    )?;
    Ok(exit::OK)
}

/// `--plan`: the profile, then the walk counted by area, then what it
/// leaves out, then the live response and commands it would run.
fn plan(args: &CollectArgs, sel: &Selection) -> anyhow::Result<u8> {
    use cli::units::{grouped, human_bytes};
    let stop = stop_on_signals()?;
    let stopped = || stop.load(std::sync::atomic::Ordering::SeqCst) != 0;
    let started = std::time::Instant::now();
    let plan = profile::plan::plan(
        &sel.resolution.sources,
        &sel.resolution.area_of,
        &sel.area_names,
        &sel.walk,
        stopped,
    )
    .context("the plan's walk failed")?;
    let mut o = io::stdout().lock();
    match &sel.profile {
        Some(p) => writeln!(o, "profile      {} ({}): {}", p.name, p.origin, p.description)?,
        None => writeln!(o, "profile      none: the PATHs given, no live response")?,
    }
    writeln!(
        o,
        "plan         nothing was read: entries were examined and directories listed, as the collection will ({})",
        cli::units::human_duration(started.elapsed())
    )?;
    if plan.stopped {
        writeln!(o, "STOPPED      by a signal: the counts below are partial")?;
    }
    writeln!(o)?;
    let row = |a: &profile::plan::AreaPlan| {
        format!(
            "{:<13} {:>9} {:>11} {:>8} {:>7} {:>7} {:>11} {:>8} {:>10}",
            a.name,
            grouped(a.files),
            human_bytes(a.bytes),
            grouped(a.dirs),
            grouped(a.other),
            grouped(a.capped),
            human_bytes(a.capped_bytes),
            grouped(a.excluded),
            grouped(a.unreadable)
        )
    };
    writeln!(
        o,
        "{:<13} {:>9} {:>11} {:>8} {:>7} {:>7} {:>11} {:>8} {:>10}",
        "area", "files", "to read", "dirs", "other", "capped", "(bytes)", "excluded", "unreadable"
    )?;
    for a in &plan.areas {
        writeln!(o, "{}", row(a))?;
    }
    writeln!(o, "{}", row(&plan.total()))?;
    writeln!(o)?;
    for (a, area) in plan.areas.iter().zip(&sel.area_names) {
        let cap = sel
            .profile
            .as_ref()
            .and_then(|p| p.areas.iter().find(|x| &x.name == area))
            .map(|x| match x.max_file_size {
                Some(m) => format!("cap {}", human_bytes(m)),
                None => "no cap".into(),
            })
            .unwrap_or_else(|| "no cap".into());
        let sources = if a.sources.is_empty() {
            "(nothing on this host)".to_string()
        } else {
            a.sources.join(" ")
        };
        writeln!(o, "{area:<13} {cap:<12} {sources}")?;
    }
    if !sel.resolution.absent.is_empty() {
        let absent: Vec<String> = sel
            .resolution
            .absent
            .iter()
            .map(|(i, p)| format!("{p} ({})", sel.area_names[*i]))
            .collect();
        writeln!(o, "\nabsent on this host: {}", absent.join(", "))?;
    }
    for (inner, outer) in &sel.resolution.nested {
        writeln!(o, "inside another source: {} (collected with {})", inner.display(), outer.display())?;
    }
    let total = plan.total();
    let examples = |o: &mut io::StdoutLock, title: &str, n: u64, list: &[profile::plan::Example]| -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let shown = if (list.len() as u64) < n {
            format!(" (the first {} of {})", list.len(), grouped(n))
        } else {
            String::new()
        };
        writeln!(o, "\n{title}{shown}:")?;
        for e in list {
            let size = e.size.map(|s| format!("{:>10}  ", human_bytes(s))).unwrap_or_default();
            writeln!(o, "  {size}{}  ({})", clean(&e.path), clean(&e.reason))?;
        }
        Ok(())
    };
    let capped_title = if (plan.largest_capped.len() as u64) < total.capped {
        "largest files over a cap, recorded as skipped and not read".to_string()
    } else {
        "files over a cap, recorded as skipped and not read".to_string()
    };
    if total.capped > 0 {
        writeln!(
            o,
            "\n{capped_title} ({} files, {}):",
            grouped(total.capped),
            human_bytes(total.capped_bytes)
        )?;
        for e in &plan.largest_capped {
            writeln!(o, "  {:>10}  {}", human_bytes(e.size.unwrap_or(0)), clean(&e.path))?;
        }
    }
    examples(&mut o, "excluded, recorded as skipped", total.excluded, &plan.excluded)?;
    examples(
        &mut o,
        "could not be examined or listed, recorded as skipped",
        total.unreadable,
        &plan.unreadable,
    )?;
    if total.unreadable > 0 && !rustix::process::geteuid().is_root() {
        writeln!(o, "  (not running as root: run the collection as root to read these)")?;
    }
    if let Some(p) = sel.profile.as_ref().filter(|_| !args.no_live) {
        if !p.live_steps.is_empty() {
            let steps: Vec<&str> = p.live_steps.iter().map(|s| s.name()).collect();
            writeln!(o, "\nlive response, first, read from /proc and /sys: {}", steps.join(", "))?;
        }
        if !p.commands.is_empty() {
            writeln!(o, "\ncommands, then, each killed at its timeout:")?;
            for c in &p.commands {
                let found = c
                    .program()
                    .map_or_else(|| "not found: recorded as such".to_string(), |p| p.display().to_string());
                writeln!(
                    o,
                    "  {:<18} {:>5}  {:<40} {found}",
                    c.name,
                    format!("{:.0} s", c.timeout_secs),
                    c.argv.join(" ")
                )?;
            }
        }
    }
    Ok(exit::OK)
}

/// A host path or reason on one line: control characters shown as `?`.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}
