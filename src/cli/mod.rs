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
