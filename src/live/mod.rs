//! Live response: snapshots of a running Linux host's volatile state, read
//! from `/proc` and `/sys` by this process rather than by tools an intruder
//! may have replaced, each as one JSON document.
//!
//! A [`Step`] names one snapshot; [`capture`] takes it and never fails:
//! whatever cannot be read is named in the document's `unavailable` list,
//! with the reason, and the document's `status` says whether anything is
//! missing. The documents, their fields and what an intruder can still fake
//! are specified in `docs/LIVE-RESPONSE.md`.
//!
//! # Order
//!
//! [`Step::ALL`] follows the order of volatility of RFC 3227, with one
//! exception: `system` comes first. It takes a few milliseconds, and it
//! records what every later document is read against: the collector's
//! privileges (which decide what it can see), the boot time (process start
//! times are counted from it) and the kernel. Then come the processes, whose
//! table changes by the millisecond, and the sockets, which come and go as
//! fast and are explained by the process list taken just before. Logged-in
//! users follow, then the network configuration (ARP entries expire within
//! minutes, addresses and routes change rarely), and last the mounts and
//! kernel modules, which change only by an administrator's (or intruder's)
//! deliberate act.

mod document;
mod fields;
mod modules;
mod mounts;
mod network;
mod processes;
mod read;
mod sockets;
mod system;
mod users;

/// A profile's commands, each run with a timeout, its executable hashed.
pub mod command;

use std::fmt;
use std::str::FromStr;

/// A live-response step, named in profiles by its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Host name, kernel, uptime, boot time, load, and the collector's own
    /// identity and capabilities.
    System,
    /// Every process: ids, owner, command line, executable, directories,
    /// start time, terminal, memory and open sockets.
    Processes,
    /// TCP, UDP, raw, UNIX and packet sockets of every network namespace a
    /// process is in, each with its owning processes.
    Sockets,
    /// The login records of utmp.
    Users,
    /// Interfaces, addresses, counters, routes and the ARP table.
    Network,
    /// The collector's mount table.
    Mounts,
    /// Loaded kernel modules and the kernel's taint flags.
    Modules,
}

impl Step {
    /// All steps, in order of volatility (the order the default runs them in).
    pub const ALL: [Step; 7] = [
        Step::System,
        Step::Processes,
        Step::Sockets,
        Step::Users,
        Step::Network,
        Step::Mounts,
        Step::Modules,
    ];

    /// The lowercase name, which is also the document's file stem.
    pub fn name(self) -> &'static str {
        match self {
            Step::System => "system",
            Step::Processes => "processes",
            Step::Sockets => "sockets",
            Step::Users => "users",
            Step::Network => "network",
            Step::Mounts => "mounts",
            Step::Modules => "modules",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A step name that is not one of [`Step::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown live-response step '{name}'; the steps are: system, processes, sockets, users, network, mounts, modules")]
pub struct UnknownStep {
    /// The name given.
    pub name: String,
}

impl FromStr for Step {
    type Err = UnknownStep;

    fn from_str(name: &str) -> Result<Step, UnknownStep> {
        Step::ALL
            .into_iter()
            .find(|step| step.name() == name)
            .ok_or_else(|| UnknownStep { name: name.to_string() })
    }
}

/// The document a step produced.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The step that produced it.
    pub step: Step,
    /// The JSON document, serialized (pretty-printed, ending with "\n").
    pub document: Vec<u8>,
    /// "ok", "partial" (some parts unavailable) or "unavailable" (nothing could be read).
    pub status: &'static str,
    /// Unix seconds when the step started (for the member's mtime).
    pub time_secs: i64,
}

/// Run one step. Never panics, never fails: whatever cannot be read is recorded in the document.
pub fn capture(step: Step) -> Snapshot {
    let doc = document::Envelope::start(step);
    let fallback = doc.clone();
    // A step that panics (a bug, not a state of the host) still yields a
    // document that says so, so the collection goes on.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match step {
        Step::System => doc.finish_with(system::capture),
        Step::Processes => doc.finish_with(processes::capture),
        Step::Sockets => doc.finish_with(sockets::capture),
        Step::Users => doc.finish_with(users::capture),
        Step::Network => doc.finish_with(network::capture),
        Step::Mounts => doc.finish_with(mounts::capture),
        Step::Modules => doc.finish_with(modules::capture),
    }));
    match outcome {
        Ok(snapshot) => snapshot,
        Err(panic) => fallback.failed(&panic_text(&panic)),
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    format!("the step failed inside custody (a bug, please report it): {text}")
}
