//! `custody export`: the archive's members as a body file, a Timesketch
//! timeline or CASE/UCO JSON-LD (docs/EXPORT.md), written segment by
//! segment as verification proves them. The exit code is the verdict's,
//! as for `list`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};

use custody::export::{ArchiveFacts, Exporter, Format};
use custody::verify::{self, VerifyOptions};

use crate::{open_input, trust_anchors, verdict_code, TrustArgs};

/// The formats `--format` names.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum FormatArg {
    /// Sleuth Kit body file 3.x (for `mactime -b`); SHA-256 in the MD5 column.
    Bodyfile,
    /// Timesketch CSV: one row per member and timestamp.
    Csv,
    /// Timesketch JSON Lines: one object per member and timestamp.
    Jsonl,
    /// CASE/UCO JSON-LD: one uco-observable:File per member.
    Case,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Bodyfile => Format::Bodyfile,
            FormatArg::Csv => Format::Csv,
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Case => Format::Case,
        }
    }
}

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// The archive, `-` for standard input, or s3://BUCKET/KEY.
    archive: PathBuf,
    /// What to write.
    #[arg(long, value_enum)]
    format: FormatArg,
    /// Write here (must not exist) instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
}

pub(crate) fn run(args: ExportArgs) -> anyhow::Result<u8> {
    let format = Format::from(args.format);
    let opts = VerifyOptions {
        trust: trust_anchors(&args.trust)?,
        hash_input: format.wants_input_sha256(),
        ..Default::default()
    };
    let facts = ArchiveFacts {
        file_name: file_name(&args.archive),
    };
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(io::BufWriter::new(super::create_new(path, "export")?)),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    };
    let mut exporter = Exporter::new(out, format, facts);
    let report = verify::verify(open_input(&args.archive)?, &opts, &mut exporter)?;
    let members = exporter.members();
    exporter
        .finish(&report)
        .context("cannot write the export; check free space and the output's permissions")?;
    if args.output.is_some() {
        eprintln!("exported {members} evidence members; verdict: {}", report.verdict.name());
    }
    Ok(verdict_code(report.verdict))
}

/// The archive's own file name, for the CASE export.
fn file_name(archive: &Path) -> Option<String> {
    if archive.as_os_str() == "-" {
        return None;
    }
    archive.file_name().map(|n| n.to_string_lossy().into_owned())
}
