//! The live response: a profile's live-response steps and commands, run
//! before the walk and written as custody members under `.custody/live/`
//! (docs/FORMAT.md §17), then signed in a checkpoint of their own.

use std::io::Write;

use super::{CollectError, Collector};
use crate::live::command::{self, CommandSpec};
use crate::live::Step;

/// What the live response did.
#[derive(Debug, Clone, Default)]
pub struct LiveSummary {
    /// Each step run: its name and status (`ok`, `partial`, `unavailable`).
    pub steps: Vec<(String, String)>,
    /// Each command run: its name and outcome (`ok`, `failed`, `timed-out`,
    /// `not-found`, `not-run`).
    pub commands: Vec<(String, String)>,
    /// A stop signal came before every step and command had run; those left
    /// were not run, and `.custody/live/not-run.json` names them.
    pub stopped: bool,
}

impl LiveSummary {
    /// `6 ok, 1 partial`: how many of each status, `ok` first, then the
    /// others by name.
    pub fn tally(items: &[(String, String)]) -> String {
        let mut counts: std::collections::BTreeMap<(bool, &str), usize> = std::collections::BTreeMap::new();
        for (_, status) in items {
            *counts.entry((status != "ok", status.as_str())).or_default() += 1;
        }
        counts.iter().map(|((_, s), n)| format!("{n} {s}")).collect::<Vec<_>>().join(", ")
    }
}

impl<W: Write + Send + 'static> Collector<'_, W> {
    /// Run `steps`, then `commands`, in order, writing each result as it
    /// comes (`.custody/live/STEP.json`; `.custody/live/commands/NAME.json`,
    /// `.stdout` and `.stderr`), then sign them in a checkpoint, so that the
    /// most volatile evidence is proven before the walk begins. Call it
    /// between [`Collector::start`] and [`Collector::run`]. A step or command
    /// that fails is recorded as such, never an error; only writing the
    /// archive can fail. A stop signal ends it after the current step or
    /// command (each command is bounded by its timeout).
    pub fn live_response(&mut self, steps: &[Step], commands: &[CommandSpec]) -> Result<LiveSummary, CollectError> {
        let mut summary = LiveSummary::default();
        for &step in steps {
            if self.stop_signal().is_some() {
                break;
            }
            self.progress.live(&format!("live response: {}", step.name()));
            let snap = crate::live::capture(step);
            self.write_live(&format!("{}.json", step.name()), &snap.document, snap.time_secs)?;
            summary.steps.push((step.name().to_string(), snap.status.to_string()));
        }
        for spec in commands.iter().filter(|_| summary.steps.len() == steps.len()) {
            if self.stop_signal().is_some() {
                break;
            }
            self.progress.live(&format!("command {}: {}", spec.name, spec.argv.join(" ")));
            let run = command::run(spec, command::MAX_OUTPUT);
            let base = format!("commands/{}", spec.name);
            self.write_live(&format!("{base}.json"), &run.record, run.started_secs)?;
            self.write_live(&format!("{base}.stdout"), &run.stdout, run.started_secs)?;
            self.write_live(&format!("{base}.stderr"), &run.stderr, run.started_secs)?;
            summary.commands.push((spec.name.clone(), run.outcome.to_string()));
        }
        let all_ran = summary.steps.len() == steps.len() && summary.commands.len() == commands.len();
        if let Some(signal) = self.stop_signal().filter(|_| !all_ran) {
            // What the profile asked for and a stop signal prevented is
            // recorded, not just left out.
            summary.stopped = true;
            let (time, secs) = super::now_rfc3339();
            let mut doc = serde_json::to_vec_pretty(&serde_json::json!({
                "schema": "custody-live-not-run/1",
                "time": time,
                "reason": format!("stopped by {} before these ran", super::signal_name(signal)),
                "steps": steps[summary.steps.len()..].iter().map(|s| s.name()).collect::<Vec<_>>(),
                "commands": commands[summary.commands.len()..].iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            }))
            .expect("JSON values serialize");
            doc.push(b'\n');
            self.write_live("not-run.json", &doc, secs)?;
        }
        if !summary.steps.is_empty() || !summary.commands.is_empty() || summary.stopped {
            self.checkpoint_now()?;
        }
        self.progress.live("");
        Ok(summary)
    }
}
