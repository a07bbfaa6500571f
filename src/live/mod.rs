//! Live response: what is collected from the running host besides its files.

pub mod command;
