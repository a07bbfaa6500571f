//! Watching a started command until it is over: its timeout, the kill
//! sequence, processes it leaves behind, and reaping it.
//!
//! Three threads report to the run on one channel: one per output stream
//! (when the stream ends) and one that waits for the command's process to
//! exit *without reaping it* (`waitid` with `WNOWAIT`). While the process is
//! a zombie its pid, which is also its process group id, cannot be reused,
//! so every signal sent to the group reaches the command's processes and no
//! one else's. The run reaps the process itself once it is done signalling.

use std::process::{Child, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

use super::capture::{self, Stream};
use super::record::{signal_name, Bytes, Leftover, SignalSent, StreamFacts, MAX_LEFTOVERS_LISTED};

/// How long a timed-out command has between SIGTERM and SIGKILL.
pub(super) const TERM_GRACE: Duration = Duration::from_secs(1);
/// How long after SIGKILL the run waits for the command to die (it cannot
/// while in uninterruptible sleep) before it stops waiting.
pub(super) const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long after the command exited the run waits for its output to end.
pub(super) const PIPE_GRACE: Duration = Duration::from_secs(2);

/// What a watcher thread reports.
enum Event {
    /// The command's process exited (and is not reaped yet).
    Exited,
    /// A stream reached its end or failed.
    Ended,
}

impl From<Stream> for Event {
    fn from(_: Stream) -> Self {
        Event::Ended
    }
}

/// How the run ended.
pub(super) struct Ended {
    /// The exit status, when the process was reaped and its status read.
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub reaped: bool,
    pub signals_sent: Vec<SignalSent>,
    pub leftovers: Vec<Leftover>,
    pub stdout: (Vec<u8>, StreamFacts),
    pub stderr: (Vec<u8>, StreamFacts),
    /// The watch could not be set up (no thread); the command was killed.
    pub aborted: Option<String>,
    /// Things an analyst should know, in words.
    pub notes: Vec<String>,
}

/// Where the run is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the timeout.
    Running,
    /// SIGTERM sent.
    Terminating,
    /// SIGKILL sent.
    Killing,
    /// The process exited; waiting for the streams to end.
    Draining,
}

/// The state of one watch.
struct Watch {
    /// The command's process; taken when the run stops waiting for it.
    child: Option<Child>,
    pid: Pid,
    started: Instant,
    timed_out: bool,
    status: Option<ExitStatus>,
    reaped: bool,
    signals_sent: Vec<SignalSent>,
    leftovers: Vec<Leftover>,
    notes: Vec<String>,
}

/// Watch the started `child` (spawned with piped stdout and stderr, in a
/// process group of its own) until it is over.
pub(super) fn watch(mut child: Child, started: Instant, timeout: Duration, max_output: usize) -> Ended {
    let (tx, rx) = mpsc::channel();
    let pid = Pid::from_child(&child);
    let set_up = (|| {
        let missing = || std::io::Error::other("an output pipe is missing");
        let out = capture::start(child.stdout.take().ok_or_else(missing)?, Stream::Stdout, max_output, tx.clone())?;
        let err = capture::start(child.stderr.take().ok_or_else(missing)?, Stream::Stderr, max_output, tx.clone())?;
        start_waiter(pid, tx)?;
        Ok::<_, std::io::Error>((out, err))
    })();
    let mut w = Watch {
        child: Some(child),
        pid,
        started,
        timed_out: false,
        status: None,
        reaped: false,
        signals_sent: Vec::new(),
        leftovers: Vec::new(),
        notes: Vec::new(),
    };
    match set_up {
        Ok((out, err)) => {
            w.follow(&rx, timeout);
            w.ended(out.take(), err.take(), None)
        }
        Err(e) => {
            // Without its watchers the command cannot be given its timeout:
            // stop it now rather than risk waiting on it for ever.
            w.signal(Signal::KILL, "watch-failed");
            w.reap(KILL_GRACE);
            let nothing = (Vec::new(), StreamFacts::empty());
            w.ended(
                nothing.clone(),
                nothing,
                Some(format!("could not watch the command ({e}); it was killed")),
            )
        }
    }
}

/// Start the thread that reports the exit of `pid` without reaping it.
fn start_waiter(pid: Pid, tx: Sender<Event>) -> std::io::Result<()> {
    std::thread::Builder::new().name("custody-cmd-wait".into()).spawn(move || {
        let exited = || rustix::process::waitid(WaitId::Pid(pid), WaitIdOptions::EXITED | WaitIdOptions::NOWAIT);
        while let Err(Errno::INTR) = exited() {}
        let _ = tx.send(Event::Exited);
    })?;
    Ok(())
}

impl Watch {
    /// Wait for the events, sending signals as deadlines pass, until the
    /// process exited and both streams ended, or the run stops waiting.
    fn follow(&mut self, rx: &Receiver<Event>, timeout: Duration) {
        let mut phase = Phase::Running;
        let mut deadline = self.started + timeout;
        let mut streams_open = 2;
        while phase != Phase::Draining || streams_open > 0 {
            let now = Instant::now();
            if now >= deadline {
                match phase {
                    Phase::Running => {
                        self.timed_out = true;
                        self.signal(Signal::TERM, "timeout");
                        // A stopped process only acts on SIGTERM once continued.
                        self.signal(Signal::CONT, "timeout");
                        (phase, deadline) = (Phase::Terminating, now + TERM_GRACE);
                    }
                    Phase::Terminating => {
                        self.signal(Signal::KILL, "grace-expired");
                        (phase, deadline) = (Phase::Killing, now + KILL_GRACE);
                    }
                    Phase::Killing => {
                        self.notes.push(format!(
                            "the command's process had not exited {} s after SIGKILL (uninterruptible sleep?); \
                             the run stopped waiting for it",
                            KILL_GRACE.as_secs()
                        ));
                        return self.abandon_process();
                    }
                    Phase::Draining => return self.note_open_streams(streams_open),
                }
                continue;
            }
            match rx.recv_timeout(deadline - now) {
                Ok(Event::Exited) => {
                    self.kill_leftovers();
                    self.reap(Duration::ZERO);
                    (phase, deadline) = (Phase::Draining, Instant::now() + PIPE_GRACE);
                }
                Ok(Event::Ended) => streams_open -= 1,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // Every watcher is gone without a word: nothing more can come.
                    self.notes.push("the run's watcher threads stopped unexpectedly".into());
                    if phase != Phase::Draining {
                        self.signal(Signal::KILL, "watch-failed");
                        self.abandon_process();
                    }
                    return;
                }
            }
        }
    }

    /// Send `signal` to the command's process group, and to its process too
    /// (it may have moved to another group), while that is not reaped.
    fn signal(&mut self, signal: Signal, reason: &'static str) {
        let mut result = rustix::process::kill_process_group(self.pid, signal);
        if !self.reaped {
            let leader = rustix::process::kill_process(self.pid, signal);
            if result.is_err() {
                result = leader;
            }
        }
        self.signals_sent.push(SignalSent {
            signal: signal_name(signal),
            after_secs: self.started.elapsed().as_secs_f64(),
            reason,
            error: result
                .err()
                .filter(|e| *e != Errno::SRCH)
                .map(|e| std::io::Error::from(e).to_string()),
        });
    }

    /// The process exited: list and kill whatever is left in its group (it
    /// could hold the output pipes open for ever).
    fn kill_leftovers(&mut self) {
        let members = group_members(self.pid);
        let any = members.as_ref().is_none_or(|m| !m.is_empty());
        if let Some(members) = members {
            self.leftovers = members;
        }
        if any {
            self.signal(Signal::KILL, "leftover");
        }
    }

    /// Reap the process and read its status, waiting for it to exit at most
    /// `within` (it has exited already when the waiter said so). One that
    /// is still there then is left to a thread to reap.
    fn reap(&mut self, within: Duration) {
        let Some(child) = self.child.as_mut() else { return };
        let deadline = Instant::now() + within;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => self.status = Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                Ok(None) => {
                    self.notes
                        .push("the command's process was still there when it should have exited; the run stopped waiting for it".into());
                    return self.abandon_process();
                }
                // Already reaped by someone else (SIGCHLD ignored): gone all the same.
                Err(e) => self.notes.push(format!("the command's exit status could not be read: {e}")),
            }
            self.reaped = true;
            return;
        }
    }

    /// Stop waiting for the command's process, and leave a thread to reap
    /// it whenever it exits.
    fn abandon_process(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Should no thread start, the process stays a zombie until this
            // program exits; nothing else is lost.
            let _ = std::thread::Builder::new()
                .name("custody-cmd-reap".into())
                .spawn(move || child.wait());
        }
    }

    fn note_open_streams(&mut self, open: usize) {
        self.notes.push(format!(
            "{open} output stream(s) still open {} s after the command exited, held by a process outside its process group; \
             the run stopped waiting and kept what was read",
            PIPE_GRACE.as_secs()
        ));
    }

    fn ended(self, stdout: (Vec<u8>, StreamFacts), stderr: (Vec<u8>, StreamFacts), aborted: Option<String>) -> Ended {
        Ended {
            status: self.status,
            timed_out: self.timed_out,
            reaped: self.reaped,
            signals_sent: self.signals_sent,
            leftovers: self.leftovers,
            stdout,
            stderr,
            aborted,
            notes: self.notes,
        }
    }
}

/// The processes in process group `pgid` other than `pgid` itself, read from
/// `/proc` (`None` when it cannot be read), at most [`MAX_LEFTOVERS_LISTED`].
fn group_members(pgid: Pid) -> Option<Vec<Leftover>> {
    let leader = pgid.as_raw_nonzero().get() as u32;
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == leader {
            continue;
        }
        let Ok(stat) = std::fs::read(entry.path().join("stat")) else {
            continue;
        };
        if let Some(Stat { comm, state, pgrp }) = parse_stat(&stat) {
            // A zombie holds no pipe and needs no signal.
            let alive = !matches!(state, b'Z' | b'X');
            if pgrp == leader && alive && found.len() < MAX_LEFTOVERS_LISTED {
                found.push(Leftover {
                    pid,
                    comm: Bytes::new(comm),
                });
            }
        }
    }
    found.sort_by_key(|l| l.pid);
    Some(found)
}

/// What `group_members` needs of a `/proc/PID/stat` line.
#[derive(Debug, PartialEq, Eq)]
struct Stat<'a> {
    comm: &'a [u8],
    state: u8,
    pgrp: u32,
}

/// Parse `pid (comm) state ppid pgrp ...`, where comm may hold spaces and `)`.
fn parse_stat(stat: &[u8]) -> Option<Stat<'_>> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let comm = stat.get(open + 1..close)?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    Some(Stat { comm, state, pgrp })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        let stat = |comm: &'static [u8], state, pgrp| Some(Stat { comm, state, pgrp });
        assert_eq!(parse_stat(b"42 (sleep) S 41 40 40 0 -1"), stat(b"sleep", b'S', 40));
        assert_eq!(parse_stat(b"42 (a) b (c) Z 1 77 77 0"), stat(b"a) b (c", b'Z', 77));
        assert_eq!(parse_stat(b"42 sleep S 41 40"), None);
        assert_eq!(parse_stat(b"42 (sleep) S 41"), None);
    }
}
