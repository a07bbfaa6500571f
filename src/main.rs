//! The `custody` command: keygen, collect, verify, list, extract.
//! Exit codes are a contract, documented in README.md and in `--help`.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use clap::{Args, Parser, Subcommand};

use custody::collect;
use custody::format::doc::PathText;
use custody::signer::{self, Signer, TrustAnchors, PASSPHRASE_ENV};
use custody::source;
use custody::verify::{self, Level, Report, Verdict, VerifyOptions};

mod cli;

/// Exit codes (see README.md, "Exit codes").
mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const COLLECTION_INCOMPLETE: u8 = 3;
    pub const NOT_AN_ARCHIVE: u8 = 4;
    pub const COLLECTION_STOPPED: u8 = 5;
    pub const INCOMPLETE: u8 = 10;
    pub const UNTRUSTED: u8 = 11;
    pub const TAMPERED: u8 = 12;
}

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   success; for verify/list/export/extract: verified; for log show: intact, every signer trusted
  1   operational error (unreadable input, bad key, unwritable output, a TSA that gave no token to `timestamp`, ...)
  2   usage error (bad arguments)
  3   collect stopped before its seal (output closed or full); the partial archive verifies as incomplete
  4   the input is not a custody archive
  5   collect stopped by SIGINT/SIGTERM/SIGHUP after signing a final checkpoint; the archive verifies as incomplete
  10  verdict: incomplete (intact up to its last checkpoint, no seal)
  11  verdict: untrusted (intact, signer not among the trusted keys); log show: some event's signer not trusted
  12  verdict: tampered (the archive, or its custody log); log show: the log was altered";

#[derive(Parser)]
#[command(name = "custody", version, about = "Evidence-preservation imaging: collect a tree into a signed, hash-chained archive and prove its chain of custody.", after_help = EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make an OpenSSH ed25519 key pair (PATH, mode 0600, and PATH.pub).
    Keygen {
        /// Where to write the private key; the public key goes to PATH.pub.
        #[arg(long, short)]
        output: PathBuf,
        /// Comment stored in the key.
        #[arg(long, default_value = "custody")]
        comment: String,
        /// Encrypt the private key with a passphrase, read from
        /// CUSTODY_KEY_PASSPHRASE or asked for twice.
        #[arg(long)]
        encrypt: bool,
    },
    /// Collect a profile's live state and files (default: devserver), or
    /// PATHs, into a signed archive.
    Collect(Box<cli::collect::CollectArgs>),
    /// List the built-in collection profiles, or print one (its TOML).
    Profiles {
        /// Print this profile's TOML (a built-in name or a file).
        #[arg(long, value_name = "NAME|FILE")]
        show: Option<String>,
    },
    /// Verify an archive's chain of custody.
    Verify {
        /// The archive, `-` for standard input, or s3://BUCKET/KEY; or the
        /// parts of a split archive in order (ARCHIVE.part-*), verified as the
        /// archive they make one after the other.
        #[arg(required = true, num_args = 1..)]
        archive: Vec<PathBuf>,
        #[command(flatten)]
        trust: TrustArgs,
        /// Print one JSON object (the wire format in docs/FORMAT.md).
        #[arg(long)]
        json: bool,
        /// Print every informational finding, not only the first 20.
        #[arg(long)]
        all: bool,
        /// Also check the archive file's SHA-256 against this one (from the
        /// custody form). Without it, ARCHIVE.sha256 beside a file (or object) input is
        /// checked if it exists.
        #[arg(long, value_name = "HEX", value_parser = verify::parse_sha256_hex)]
        archive_sha256: Option<String>,
        #[command(flatten)]
        time: TimeArgs,
        /// The custody log to check with the archive. Without it,
        /// ARCHIVE.custody beside a file (or object) input is checked if it exists.
        #[arg(long, value_name = "FILE")]
        custody_log: Option<PathBuf>,
        /// No progress on stderr.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Have an RFC 3161 time-stamping authority stamp the custody log's last
    /// record (no key needed): for an archive collected offline.
    Timestamp {
        /// The archive whose log (ARCHIVE.custody) to stamp.
        archive: PathBuf,
        /// The time-stamping authority's URL.
        #[arg(long, value_name = "URL")]
        tsa: String,
        /// The log file, if not ARCHIVE.custody.
        #[arg(long, value_name = "FILE")]
        custody_log: Option<PathBuf>,
    },
    /// Record and show who held the evidence since (the custody log, ARCHIVE.custody).
    Log {
        #[command(subcommand)]
        command: cli::log::LogCommand,
    },
    /// Verify an archive and write what it proves as a self-contained HTML
    /// report (and JSON) for legal teams, insurers and auditors.
    Report(Box<cli::report::ReportArgs>),
    /// List members as `tar -tv` does, each with its proof and any collection
    /// failure (verifies as it goes); --json adds digests.
    List {
        /// The archive, `-` for standard input, or s3://BUCKET/KEY.
        archive: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        /// JSON Lines: one object per member, then one summary object.
        #[arg(long)]
        json: bool,
        /// No progress on stderr.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Export members as a Sleuth Kit body file, a Timesketch timeline (CSV,
    /// JSON Lines) or CASE/UCO JSON-LD, each row with its proof (verifies as it goes).
    Export(cli::export::ExportArgs),
    /// Extract into DIR, verifying as it goes; members that fail verification are not written.
    Extract {
        /// The archive, `-` for standard input, or s3://BUCKET/KEY.
        archive: PathBuf,
        /// Target directory (created; must be empty). Nothing is written outside it.
        #[arg(long)]
        into: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        /// Also write members no verified checkpoint proves (never ones that differ from what was signed).
        #[arg(long)]
        salvage: bool,
        /// No progress on stderr.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print the completion script for SHELL (see the README to install it).
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), with every subcommand's, for custody.1.
    Man,
}

#[derive(Args)]
struct TrustArgs {
    /// Trust this OpenSSH public key file.
    #[arg(long = "key", value_name = "PUBKEY")]
    keys: Vec<PathBuf>,
    /// Trust the keys of this OpenSSH allowed_signers file.
    #[arg(long, value_name = "FILE")]
    allowed_signers: Vec<PathBuf>,
    /// Trust a key by its SHA256: fingerprint (as written on a custody form).
    #[arg(long = "fingerprint", value_name = "SHA256:...")]
    fingerprints: Vec<String>,
}

/// Trusted time: the roots of the time-stamping authorities.
#[derive(Args)]
struct TimeArgs {
    /// Trust time-stamping authorities that chain to a certificate of this
    /// PEM file. Without it, timestamps are checked but not trusted.
    #[arg(long, value_name = "FILE")]
    tsa_ca: Option<PathBuf>,
    /// Warn when a checkpoint's time and its timestamp differ by more than
    /// this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = verify::DEFAULT_CLOCK_TOLERANCE)]
    clock_tolerance: u64,
}

/// The key that signs: a file, ssh-agent, or (for collect) an ephemeral one.
#[derive(Args)]
struct SigningArgs {
    /// OpenSSH ed25519 private key file to sign with. If it is encrypted, the
    /// passphrase is read from the CUSTODY_KEY_PASSPHRASE environment variable or prompted for.
    #[arg(long, value_name = "PATH")]
    key: Option<PathBuf>,
    /// Sign with a key held by ssh-agent (SSH_AUTH_SOCK), so the private key never touches this host.
    #[arg(long, conflicts_with = "key")]
    agent: bool,
    /// With --agent: the public key file of the agent key to use.
    #[arg(long, value_name = "PUBKEY", requires = "agent")]
    agent_key: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    let result = match cli.command {
        Command::Keygen { output, comment, encrypt } => keygen(&output, &comment, encrypt),
        Command::Collect(args) => cli::collect::run(*args),
        Command::Profiles { show } => cli::collect::profiles(show.as_deref()),
        Command::Verify {
            archive,
            trust,
            json,
            all,
            archive_sha256,
            time,
            custody_log,
            quiet,
        } => run_verify(&archive, &trust, &time, archive_sha256, custody_log, Shown { json, all, quiet }),
        Command::Log { command } => cli::log::run(command),
        Command::Timestamp { archive, tsa, custody_log } => cli::log::timestamp(&archive, &tsa, custody_log),
        Command::Report(args) => cli::report::run(*args),
        Command::List {
            archive,
            trust,
            json,
            quiet,
        } => cli::list::run(&archive, &trust, json, quiet),
        Command::Export(args) => cli::export::run(args),
        Command::Extract {
            archive,
            into,
            trust,
            salvage,
            quiet,
        } => run_extract(&archive, &into, &trust, salvage, quiet),
        Command::Completions { shell } => cli::completions::print_completions(shell),
        Command::Man => cli::completions::print_man(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::from(exit::OK);
            }
            eprintln!("custody: error: {e:#}");
            let code = match e.downcast_ref::<verify::VerifyError>() {
                Some(verify::VerifyError::NotAnArchive(_)) => exit::NOT_AN_ARCHIVE,
                _ => match e.downcast_ref::<collect::CollectError>() {
                    Some(collect::CollectError::Output { .. }) => exit::COLLECTION_INCOMPLETE,
                    _ if e.downcast_ref::<cli::s3::UploadIncomplete>().is_some() => exit::COLLECTION_INCOMPLETE,
                    _ => exit::ERROR,
                },
            };
            ExitCode::from(code)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    }) && e.downcast_ref::<collect::CollectError>().is_none()
}

fn keygen(output: &Path, comment: &str, encrypt: bool) -> anyhow::Result<u8> {
    let passphrase = if encrypt { Some(new_passphrase(output)?) } else { None };
    let public = signer::keygen(output, comment, passphrase.as_deref())?;
    let mut o = io::stdout().lock();
    let how = if encrypt {
        "private, encrypted, mode 0600"
    } else {
        "private, mode 0600"
    };
    writeln!(o, "wrote {} ({how}) and {}.pub", output.display(), output.display())?;
    writeln!(o, "fingerprint {}", signer::fingerprint(&public))?;
    Ok(exit::OK)
}

/// The passphrase for a new key: CUSTODY_KEY_PASSPHRASE, else asked for
/// twice on the terminal.
fn new_passphrase(output: &Path) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        if p.is_empty() {
            return Err(anyhow!("{PASSPHRASE_ENV} is empty; an encrypted key needs a passphrase"));
        }
        return Ok(p);
    }
    if !io::stdin().is_terminal() {
        return Err(anyhow!(
            "--encrypt needs a passphrase: set {PASSPHRASE_ENV}, or run keygen on a terminal to be asked for it"
        ));
    }
    let first = rpassword::prompt_password(format!("passphrase for {}: ", output.display()))?;
    let again = rpassword::prompt_password("the same passphrase again: ")?;
    if first.is_empty() || first != again {
        return Err(anyhow!(
            "the passphrases were empty or differed; nothing was written. Run keygen again"
        ));
    }
    Ok(first)
}

/// The signing key `args` name, or `None` when they name none.
fn load_signer(args: &SigningArgs) -> anyhow::Result<Option<Signer>> {
    if let Some(path) = &args.key {
        return Ok(Some(Signer::from_file(path, || {
            std::env::var(PASSPHRASE_ENV).ok().or_else(|| {
                if io::stdin().is_terminal() {
                    rpassword::prompt_password(format!("passphrase for {}: ", path.display())).ok()
                } else {
                    None
                }
            })
        })?));
    }
    if args.agent {
        let sock = std::env::var_os("SSH_AUTH_SOCK")
            .ok_or_else(|| anyhow!("--agent needs a running ssh-agent, but SSH_AUTH_SOCK is not set. Start one (`eval $(ssh-agent)`, `ssh-add KEY`) or forward yours with `ssh -A`."))?;
        let want = args.agent_key.as_deref().map(signer::read_public_key).transpose()?;
        return Ok(Some(Signer::from_agent(Path::new(&sock), want.as_ref())?));
    }
    Ok(None)
}

fn trust_anchors(t: &TrustArgs) -> anyhow::Result<TrustAnchors> {
    trust_anchors_for(&t.keys, &t.allowed_signers, &t.fingerprints, custody::format::SIGNATURE_NAMESPACE)
}

/// The anchors trusted to sign in `namespace`: every key file and
/// fingerprint given, and the allowed_signers entries valid there.
fn trust_anchors_for(
    keys: &[PathBuf],
    allowed_signers: &[PathBuf],
    fingerprints: &[String],
    namespace: &str,
) -> anyhow::Result<TrustAnchors> {
    let mut anchors = TrustAnchors::default();
    for k in keys {
        let key = signer::read_public_key(k)?;
        anchors.keys.push(signer::TrustedKey {
            principal: format!("key file {}", k.display()),
            key,
        });
    }
    for f in allowed_signers {
        anchors.add_allowed_signers_for(f, namespace)?;
    }
    for fp in fingerprints {
        if !fp.starts_with("SHA256:") {
            return Err(anyhow!(
                "--fingerprint {fp:?} is not a SHA256: fingerprint as `ssh-keygen -l` prints it"
            ));
        }
        anchors.fingerprints.push(fp.clone());
    }
    Ok(anchors)
}

fn open_input(path: &Path) -> anyhow::Result<Box<dyn io::Read + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::stdin()));
    }
    if let Some(object) = cli::s3::object(path)? {
        return cli::s3::open(&object);
    }
    let f = std::fs::File::open(path).with_context(|| format!("cannot open the archive {}; check the path", path.display()))?;
    Ok(Box::new(f))
}

fn verdict_code(v: Verdict) -> u8 {
    match v {
        Verdict::Verified => exit::OK,
        Verdict::Incomplete => exit::INCOMPLETE,
        Verdict::Untrusted => exit::UNTRUSTED,
        Verdict::Tampered => exit::TAMPERED,
    }
}

/// What kept `verify` from giving a verdict, as `error.kind` of
/// `verify --json` names it (docs/FORMAT.md §11.1).
fn error_kind(e: &anyhow::Error) -> &'static str {
    if let Some(v) = e.downcast_ref::<verify::VerifyError>() {
        return match v {
            verify::VerifyError::NotAnArchive(_) => "not-an-archive",
            verify::VerifyError::Io(_) => "read",
            _ => "operational",
        };
    }
    "operational"
}

/// `ARCHIVE.sha256`, beside a file input.
fn sidecar_path(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// The SHA-256 the archive file should have: `--archive-sha256`, else the
/// sidecar beside a file input if there is one (docs/FORMAT.md §10.8).
fn expected_digest(archive: &Path, option: Option<String>) -> anyhow::Result<Option<verify::ExpectedDigest>> {
    if let Some(sha256) = option {
        return Ok(Some(verify::ExpectedDigest {
            sha256,
            source: verify::DigestSource::Option,
            origin: "--archive-sha256".into(),
        }));
    }
    if archive.as_os_str() == "-" {
        return Ok(None);
    }
    if let Some(object) = cli::s3::object(archive)? {
        return cli::s3::sidecar(&object, ".sha256", 4096)?
            .map(|(at, bytes)| sidecar_digest(&at.to_string(), &bytes))
            .transpose();
    }
    let path = sidecar_path(archive);
    let mut bytes = Vec::new();
    match std::fs::File::open(&path) {
        Ok(f) => {
            // A sidecar is one line; a larger file is not one.
            io::Read::read_to_end(&mut io::Read::take(f, 4096), &mut bytes)
                .with_context(|| format!("cannot read the checksum file {}; check its permissions", path.display()))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            let what = format!(
                "cannot read the checksum file {} beside the archive; check its permissions, or give the expected digest with --archive-sha256",
                path.display()
            );
            return Err(anyhow!(e).context(what));
        }
    }
    sidecar_digest(&path.display().to_string(), &bytes).map(Some)
}

/// The digest a checksum file (`ARCHIVE.sha256`, at `origin`) gives.
fn sidecar_digest(origin: &str, bytes: &[u8]) -> anyhow::Result<verify::ExpectedDigest> {
    let sha256 = verify::parse_sidecar(bytes).map_err(|why| {
        anyhow!(
            "the checksum file {origin} is malformed: {why}. Restore it from the original, remove it, or give the digest recorded on the custody form with --archive-sha256"
        )
    })?;
    Ok(verify::ExpectedDigest {
        sha256,
        source: verify::DigestSource::Sidecar,
        origin: origin.to_string(),
    })
}

/// How `verify` shows what it finds.
struct Shown {
    /// One JSON object on stdout.
    json: bool,
    /// Every informational finding.
    all: bool,
    /// No progress on stderr.
    quiet: bool,
}

fn run_verify(
    inputs: &[PathBuf],
    trust: &TrustArgs,
    time: &TimeArgs,
    archive_sha256: Option<String>,
    custody_log: Option<PathBuf>,
    shown: Shown,
) -> anyhow::Result<u8> {
    let Shown { json, all, quiet } = shown;
    // Parts of a split archive (several inputs, or one named as a part) are
    // checked against the set's ARCHIVE.sha256 and custody log.
    let set = cli::split::Set::of(inputs);
    let archive = set.as_ref().map_or(inputs[0].as_path(), |s| s.archive.as_path());
    let checked = trust_anchors(trust).map_err(|e| ("trust-anchor", e)).and_then(|anchors| {
        let log_trust = cli::log::log_anchors(trust).map_err(|e| ("trust-anchor", e))?;
        let tsa_roots = cli::log::tsa_roots(time).map_err(|e| ("trust-anchor", e))?;
        let archive_sha256 = match &set {
            Some(_) => archive_sha256.map(|sha256| verify::ExpectedDigest {
                sha256,
                source: verify::DigestSource::Option,
                origin: "--archive-sha256".into(),
            }),
            None => expected_digest(archive, archive_sha256).map_err(|e| ("operational", e))?,
        };
        let log = match &set {
            Some(s) if !s.whole && custody_log.is_none() => None,
            _ => custody_log_of(archive, custody_log).map_err(|e| ("operational", e))?,
        };
        let (input, part_files, digests): (Box<dyn io::Read + Send>, _, _) = match &set {
            Some(_) => {
                let (c, files, digests) = cli::split::Concatenated::open(inputs).map_err(|e| ("read", e))?;
                (Box::new(c), files, Some(digests))
            }
            None => (open_input(archive).map_err(|e| ("read", e))?, Vec::new(), None),
        };
        let opts = VerifyOptions {
            trust: anchors,
            archive_sha256,
            hash_input: log.is_some(),
            tsa_roots,
            clock_tolerance: Some(time.clock_tolerance),
            part_files,
        };
        // A set's total size is not one file's: no percentage for it.
        let shown = if set.is_some() { Path::new("-") } else { archive };
        let (input, progress) = cli::progress::InputProgress::over(shown, input, quiet);
        let verified = verify::verify(input, &opts, &mut verify::NullSink);
        drop(progress);
        let mut report = verified.map_err(|e| {
            let e = anyhow::Error::from(e);
            (error_kind(&e), e)
        })?;
        if let (Some(s), Some(digests)) = (&set, digests) {
            let findings = s.check_sums(&digests).map_err(|e| ("operational", e))?;
            report.add_findings(findings);
        }
        let log = log.map(|(path, bytes)| cli::log::fold_in(&path, &bytes, &mut report, &log_trust, &opts));
        Ok((report, log))
    });
    let (report, log) = match checked {
        Ok(checked) => checked,
        Err((kind, e)) => {
            if json {
                // A program reading standard output gets an answer too; the
                // exit code and standard error stay as for any error.
                #[derive(serde::Serialize)]
                struct Failed<'a> {
                    verdict: Option<Verdict>,
                    error: ErrorObject<'a>,
                }
                #[derive(serde::Serialize)]
                struct ErrorObject<'a> {
                    kind: &'a str,
                    message: String,
                }
                let obj = Failed {
                    verdict: None,
                    error: ErrorObject {
                        kind,
                        message: format!("{e:#}"),
                    },
                };
                let mut out = io::stdout().lock();
                serde_json::to_writer(&mut out, &obj)?;
                writeln!(out)?;
            }
            return Err(e);
        }
    };
    let mut out = io::stdout().lock();
    if json {
        #[derive(serde::Serialize)]
        struct WithLog<'a> {
            #[serde(flatten)]
            report: &'a Report,
            #[serde(skip_serializing_if = "Option::is_none")]
            custody_log: Option<cli::log::LogJson<'a>>,
        }
        let obj = WithLog {
            report: &report,
            custody_log: log.as_ref().map(cli::log::LogJson::new),
        };
        serde_json::to_writer(&mut out, &obj)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", human_report(archive, &report, all))?;
        if let Some(log) = &log {
            write!(out, "{}", cli::log::table(log))?;
        }
    }
    Ok(verdict_code(report.verdict))
}

/// The custody log to check with `archive`, read whole: `--custody-log`,
/// else `ARCHIVE.custody` beside a file input when there is one.
fn custody_log_of(archive: &Path, option: Option<PathBuf>) -> anyhow::Result<Option<(PathBuf, Vec<u8>)>> {
    let path = match option {
        Some(p) => p,
        None if archive.as_os_str() == "-" => return Ok(None),
        None => {
            if let Some(object) = cli::s3::object(archive)? {
                let log = cli::s3::sidecar(&object, ".custody", custody::custody_log::MAX_LOG_BYTES)?;
                return Ok(log.map(|(at, bytes)| (PathBuf::from(at.to_string()), bytes)));
            }
            let p = custody::custody_log::log_path(archive);
            if !p.exists() {
                return Ok(None);
            }
            p
        }
    };
    let bytes = custody::custody_log::read(&path)
        .with_context(|| format!("cannot read the custody log {}; check the path and its permissions", path.display()))?;
    Ok(Some((path, bytes)))
}

fn human_report(archive: &Path, r: &Report, all: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let headline = match r.verdict {
        Verdict::Verified => "VERIFIED: sealed, every byte matches what was signed, and the signer is trusted.",
        Verdict::Incomplete if r.stopped_cleanly() => {
            "INCOMPLETE: the collection was stopped before its end; everything it wrote is intact and proven by the last checkpoint it signed (there is no seal)."
        }
        Verdict::Incomplete if r.findings.iter().any(|f| f.kind == verify::FindingKind::SetIncomplete) => {
            "INCOMPLETE: the parts given are not the whole split archive; what they hold is intact (see the warnings below)."
        }
        Verdict::Incomplete => "INCOMPLETE: intact up to its last checkpoint, but the archive ends before its seal.",
        Verdict::Untrusted => "UNTRUSTED: the signatures check out, but the signing key is not one you named as trusted.",
        Verdict::Tampered if r.sealed && r.findings.iter().all(|f| f.level != Level::Error || f.line.is_some()) => {
            "TAMPERED: the archive is intact, but its custody log was altered (see the errors under \"custody log\")."
        }
        Verdict::Tampered if r.findings.iter().all(|f| f.level != Level::Error || f.line.is_some()) => {
            "TAMPERED: the custody log was altered (see the errors under \"custody log\"), and the archive ends before its seal."
        }
        Verdict::Tampered
            if r.findings
                .iter()
                .all(|f| f.level != Level::Error || f.kind == verify::FindingKind::ArchiveDigestMismatch) =>
        {
            "TAMPERED: the archive file is not the one recorded (see the error below)."
        }
        Verdict::Tampered => "TAMPERED: the archive differs from what was signed (see the errors below).",
    };
    let _ = writeln!(s, "{headline}");
    let _ = writeln!(s, "  archive      {}", archive.display());
    if let (None, Some(id)) = (&r.header, &r.archive_id) {
        let _ = writeln!(s, "  archive id   {id}");
    }
    if let Some(h) = &r.header {
        let _ = writeln!(s, "  archive id   {}", h.archive_id);
        let c = &h.case;
        let field = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "  case         {}  examiner {}  evidence {}",
            field(&c.case),
            field(&c.examiner),
            field(&c.evidence_id)
        );
        if let Some(n) = &c.note {
            let _ = writeln!(s, "  note         {n}");
        }
        let _ = writeln!(s, "  host         {}  ({})", field(&h.host.hostname), field(&h.host.kernel));
        let sources: Vec<String> = h.sources.iter().map(PathText::display).collect();
        let _ = writeln!(s, "  sources      {}", sources.join(" "));
        let end = r
            .seal
            .as_ref()
            .map(|x| x.end_time.clone())
            .or_else(|| r.proven.until.clone())
            .unwrap_or_else(|| "?".into());
        let _ = writeln!(s, "  collected    {} -> {}", h.start_time, end);
    }
    if let Some(sg) = &r.signer {
        let trust = sg
            .trusted_as
            .as_ref()
            .map(|p| format!("trusted as {p}"))
            .unwrap_or_else(|| "NOT trusted".into());
        let _ = writeln!(s, "  signer       {} ({} key), {trust}", sg.fingerprint, sg.source);
    }
    let t = &r.proven.totals;
    let _ = writeln!(
        s,
        "  proven       {}{}, {} tar bytes, {} evidence members ({} content bytes), {} recorded failures, {} skipped",
        cli::units::count(r.proven.checkpoints, "checkpoint", "checkpoints"),
        if r.sealed { " (sealed)" } else { "" },
        r.proven.tar_bytes,
        t.evidence_members,
        t.content_bytes,
        t.failures,
        t.skipped
    );
    if let Some(n) = r.proven.after {
        let _ = writeln!(
            s,
            "  part         begins after checkpoint {n}: checkpoints {}..{} are proven, not the header or checkpoints 1..{n} (in the parts before)",
            n + 1,
            r.proven.checkpoints
        );
    }
    if r.stopped_cleanly() {
        let _ = writeln!(
            s,
            "  not proven   nothing: the collector stopped after checkpoint {} and signed it as its last",
            r.proven.checkpoints
        );
    } else if !r.sealed {
        let after = match r.proven.checkpoints {
            0 => "no checkpoint verified".to_string(),
            n => format!("after checkpoint {n}, the last verified"),
        };
        let _ = writeln!(
            s,
            "  not proven   {} tar bytes and {} members: {after}",
            r.unproven_tar_bytes, r.unproven_members
        );
    }
    if let Some(c) = &r.proven.chain {
        let _ = writeln!(s, "  chain        {c}");
    }
    if let Some(f) = &r.archive_file {
        let how = if f.matches {
            format!("matches {}", f.origin)
        } else {
            format!("does NOT match {}, which gives {}", f.origin, f.expected)
        };
        let _ = writeln!(s, "  archive sha256 {} ({how})", f.sha256);
    }
    for t in &r.timestamps {
        let what = match t.status {
            "trusted" => format!("trusted (root {})", t.detail.as_deref().unwrap_or("?")),
            "not-checked" => "valid, NOT trusted: no --tsa-ca given".to_string(),
            "failed" => "NONE: the collector recorded that the TSA failed".to_string(),
            other => format!("{}: {}", other.to_uppercase(), t.detail.as_deref().unwrap_or("")),
        };
        let _ = writeln!(
            s,
            "  timestamp    checkpoint {} at {} by {}: {what}",
            t.checkpoint,
            t.gen_time.as_deref().unwrap_or("?"),
            t.tsa.as_deref().unwrap_or("?")
        );
    }
    let mut infos = 0;
    // The custody log's findings are listed with the log.
    for f in r.findings.iter().filter(|f| f.line.is_none()) {
        if f.level == Level::Info {
            infos += 1;
            if infos > 20 && !all {
                continue;
            }
        }
        let level = f.level.name();
        let cp = f.checkpoint.map(|c| format!(" [checkpoint {c}]")).unwrap_or_default();
        let _ = writeln!(s, "  {level:7} {}{cp}", f.message);
    }
    if infos > 20 && !all {
        let _ = writeln!(s, "  ... {} more informational findings (use --all or --json)", infos - 20);
    }
    s
}

/// Whether any trust anchor was named on the command line.
fn trust_given(t: &TrustArgs) -> bool {
    !(t.keys.is_empty() && t.allowed_signers.is_empty() && t.fingerprints.is_empty())
}

fn run_extract(archive: &Path, into: &Path, trust: &TrustArgs, salvage: bool, quiet: bool) -> anyhow::Result<u8> {
    let opts = VerifyOptions {
        trust: trust_anchors(trust)?,
        ..Default::default()
    };
    let input = open_input(archive)?;
    let mut ex = custody::extract::Extractor::new(into, salvage).with_context(|| format!("cannot extract into {}", into.display()))?;
    let (input, progress) = cli::progress::InputProgress::over(archive, input, quiet);
    let verified = verify::verify(input, &opts, &mut ex);
    drop(progress);
    let report = verified?;
    let summary = ex.finish()?;
    let mut o = io::BufWriter::new(io::stdout().lock());
    writeln!(o, "verdict: {}", report.verdict.name())?;
    let salvaged = if summary.salvaged > 0 {
        format!(" ({} salvaged without proof)", summary.salvaged)
    } else {
        String::new()
    };
    writeln!(o, "extracted {} members into {}{salvaged}", summary.extracted, into.display())?;
    if summary.skipped > 0 {
        writeln!(o, "not extracted: {} members", summary.skipped)?;
        // With an untrusted signer every member that matches its listing is
        // refused for that one reason: say it once, not once per member.
        let untrusted = report.signer.as_ref().filter(|s| s.trusted_as.is_none());
        if let (Some(signer), n @ 1..) = (untrusted, summary.skipped_matching) {
            let fp = &signer.fingerprint;
            let given = if trust_given(trust) {
                "which is not among the keys given"
            } else {
                "and no trusted key was given"
            };
            writeln!(
                o,
                "  {n} of them match their signed listings, but the signer {fp} is not trusted ({given}).\n  \
                 Name the signer's key to extract them proven: --key FILE.pub, --allowed-signers FILE, or \
                 --fingerprint {fp} once checked against the custody form; or use --salvage to write them unproven."
            )?;
        }
        summary.each_skipped(|p, why, matching| {
            if matching && untrusted.is_some() {
                return Ok(());
            }
            writeln!(o, "  {}: {why}", source::display(p).escape_debug())
        })?;
    }
    if summary.not_restored > 0 {
        let whose = if rustix::process::geteuid().is_root() {
            "could not be restored"
        } else {
            "were not restored (owners and these bits are restored only when run as root)"
        };
        match &summary.not_restored_file {
            Some(file) => writeln!(
                o,
                "not restored: the owner or setuid/setgid/sticky bits of {} members {whose}; {} lists them",
                summary.not_restored,
                file.display()
            )?,
            None => {
                writeln!(
                    o,
                    "not restored: the owner or setuid/setgid/sticky bits of {} members {whose}:",
                    summary.not_restored
                )?;
                summary.each_not_restored(|p, what| writeln!(o, "  {}: {what}", source::display(p).escape_debug()))?;
            }
        }
    }
    o.flush()?;
    Ok(verdict_code(report.verdict))
}
