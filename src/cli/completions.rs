//! `custody completions SHELL` and `custody man`: shell completion scripts
//! and the roff manual page, both derived from the same clap definitions as
//! `--help`, so that neither can drift from the options the binary takes.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::{exit, Cli};

/// Prints the completion script for `shell` on standard output.
pub(crate) fn print_completions(shell: Shell) -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    let mut out = io::BufWriter::new(io::stdout().lock());
    clap_complete::generate(shell, &mut cmd, "custody", &mut out);
    out.flush()?;
    Ok(exit::OK)
}

/// Prints one roff document on standard output: the page of `custody`, then
/// the page of every subcommand (nested ones too), so that the one file
/// installed as custody.1 documents every option.
pub(crate) fn print_man() -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    // Building names the subcommands `custody-collect` and so on, as the
    // SUBCOMMANDS section refers to them.
    cmd.build();
    // Every page's footer names the program and its version, not the
    // subcommand's bare name.
    let source = format!("custody {}", env!("CARGO_PKG_VERSION"));
    let mut page = Vec::new();
    render_pages(&cmd, &source, &mut page)?;
    let mut out = io::stdout().lock();
    out.write_all(&page)?;
    out.flush()?;
    Ok(exit::OK)
}

/// `cmd`'s page, then its subcommands' pages, depth first, in their order
/// in `--help`; clap's own `help` subcommand has no page.
fn render_pages(cmd: &clap::Command, source: &str, out: &mut Vec<u8>) -> io::Result<()> {
    clap_mangen::Man::new(cmd.clone()).source(source).render(out)?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help" && !s.is_hide_set()) {
        render_pages(sub, source, out)?;
    }
    Ok(())
}
