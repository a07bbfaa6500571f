//! Subcommands of the `custody` binary that have grown a module of their own.

pub(crate) mod collect;
pub(crate) mod completions;
pub(crate) mod export;
pub(crate) mod list;
pub(crate) mod log;
pub(crate) mod progress;
pub(crate) mod report;
pub(crate) mod s3;
pub(crate) mod split;
pub(crate) use custody::units;

/// Create the output file `path` (a `what`: "archive", "part", "export"),
/// refusing one that exists: custody never overwrites what it wrote before.
pub(crate) fn create_new(path: &std::path::Path, what: &str) -> anyhow::Result<std::fs::File> {
    use anyhow::Context;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create the {what} {}; it must not exist already and its directory must be writable",
                path.display()
            )
        })
}
