//! Trusted time during a collection (docs/FORMAT.md §15): each checkpoint's
//! signature is sent to a TSA on a thread of its own, so the stream never
//! waits on the network; the answers are written as custody members of a
//! later segment, and the seal's in a skippable frame after the archive.
//! A TSA that fails never stops the collection: the failure is recorded.

use std::io::Write;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{CollectError, Collector};
use crate::format::timestamp::{self, SEAL_FAILED_TAG, SEAL_TOKEN_TAG};
use crate::tsa::Client;

/// Requests queued at most: a TSA slower than the checkpoints falls
/// behind by no more than this; further checkpoints are recorded as not
/// stamped.
const MAX_OUTSTANDING: usize = 16;
/// Time given, beyond the client's own limit, for the last answers.
const GRACE: Duration = Duration::from_secs(5);

/// How the collection fared with its TSA.
#[derive(Clone, Debug, Default)]
pub struct TimestampSummary {
    /// The TSA's URL, when one was given.
    pub url: Option<String>,
    /// Tokens written (the seal's included).
    pub obtained: u64,
    /// Checkpoints recorded as not stamped, each with why.
    pub failed: Vec<(u64, String)>,
}

/// The thread that asks the TSA, and the answers not written yet.
pub(super) struct Stamper {
    requests: Option<Sender<(u64, [u8; 32])>>,
    answers: Receiver<(u64, Result<Vec<u8>, String>)>,
    /// Requests sent and not answered yet, with their checkpoint's time.
    outstanding: Vec<(u64, i64)>,
    timeout: Duration,
    pub(super) summary: TimestampSummary,
}

impl Stamper {
    pub(super) fn start(client: Client) -> Stamper {
        let timeout = client.timeout();
        let (requests, rx) = mpsc::channel::<(u64, [u8; 32])>();
        let (tx, answers) = mpsc::channel();
        let url = client.url().to_string();
        std::thread::Builder::new()
            .name("custody-tsa".into())
            .spawn(move || {
                for (seq, digest) in rx {
                    let answer = client.stamp(&digest).map_err(|e| e.to_string());
                    if tx.send((seq, answer)).is_err() {
                        return;
                    }
                }
            })
            .expect("the TSA thread starts");
        Stamper {
            requests: Some(requests),
            answers,
            outstanding: Vec::new(),
            timeout,
            summary: TimestampSummary {
                url: Some(url),
                ..TimestampSummary::default()
            },
        }
    }
}

/// An answer to write: a token, or why there is none.
type Answer = (u64, i64, Result<Vec<u8>, String>);

impl<W: Write + Send + 'static> Collector<'_, W> {
    /// After checkpoint `seq` (signed at `secs`) was written with signature
    /// bytes `sig`: ask for a token over them.
    pub(super) fn request_stamp(&mut self, seq: u64, secs: i64, sig: &[u8]) {
        let Some(s) = &mut self.stamps else { return };
        let digest: [u8; 32] = Sha256::digest(sig).into();
        if s.outstanding.len() >= MAX_OUTSTANDING {
            let why = format!("{MAX_OUTSTANDING} earlier requests were still unanswered: the TSA is too slow for the checkpoint interval");
            self.pending_answers.push((seq, secs, Err(why)));
            return;
        }
        s.outstanding.push((seq, secs));
        if let Some(tx) = &s.requests {
            let _ = tx.send((seq, digest));
        }
    }

    /// Take the answers that came, without waiting; with `until`, wait for
    /// every outstanding one until then, and record the rest as failed.
    fn take_answers(&mut self, until: Option<Instant>) {
        let Some(s) = &mut self.stamps else { return };
        loop {
            let answer = match until {
                None => s.answers.try_recv().map_err(|_| RecvTimeoutError::Timeout),
                Some(_) if s.outstanding.is_empty() => break,
                Some(t) => s.answers.recv_timeout(t.saturating_duration_since(Instant::now())),
            };
            match answer {
                Ok((seq, result)) => {
                    if let Some(i) = s.outstanding.iter().position(|(q, _)| *q == seq) {
                        let (_, secs) = s.outstanding.remove(i);
                        self.pending_answers.push((seq, secs, result));
                    }
                }
                Err(_) => break,
            }
        }
        if until.is_some() {
            let why = format!("the TSA did not answer before the seal (waited {} s)", s.timeout.as_secs());
            for (seq, secs) in s.outstanding.drain(..) {
                self.pending_answers.push((seq, secs, Err(why.clone())));
            }
        }
    }

    /// Write the answers that came as custody members (between members,
    /// so they join the current segment); with `until`, wait for all.
    pub(super) fn write_stamps(&mut self, until: Option<Instant>) -> Result<(), CollectError> {
        if self.stamps.is_none() {
            return Ok(());
        }
        self.take_answers(until);
        let answers: Vec<Answer> = std::mem::take(&mut self.pending_answers);
        for (seq, secs, result) in answers {
            match result {
                Ok(token) => {
                    self.write_custody_member(&timestamp::token_path(seq), &token, secs)?;
                    self.stamps.as_mut().expect("stamping").summary.obtained += 1;
                    self.progress.timestamp(seq, None);
                }
                Err(why) => {
                    self.write_custody_member(&timestamp::failed_path(seq), why.as_bytes(), secs)?;
                    self.progress.timestamp(seq, Some(&why));
                    self.stamps.as_mut().expect("stamping").summary.failed.push((seq, why));
                }
            }
        }
        Ok(())
    }

    /// Before the seal: wait, within the client's limit, for the tokens of
    /// the checkpoints so far, and write them into the seal's segment.
    pub(super) fn write_last_stamps(&mut self) -> Result<(), CollectError> {
        let Some(s) = &self.stamps else { return Ok(()) };
        let until = Instant::now() + s.timeout + GRACE;
        self.write_stamps(Some(until))
    }

    /// After the archive's last frame: the seal's token (or why there is
    /// none) as a skippable frame, to be appended to the output.
    pub(super) fn seal_stamp_frame(&mut self) -> Option<Vec<u8>> {
        let s = self.stamps.as_mut()?;
        let until = Instant::now() + s.timeout + GRACE;
        let seq = s.outstanding.first().map(|o| o.0)?;
        let mut result = Err(format!("the TSA did not answer within {} s", s.timeout.as_secs()));
        while let Ok((q, r)) = s.answers.recv_timeout(until.saturating_duration_since(Instant::now())) {
            if q == seq {
                result = r;
                break;
            }
        }
        s.outstanding.clear();
        s.requests = None;
        let frame = match result {
            Ok(token) => {
                s.summary.obtained += 1;
                self.progress.timestamp(seq, None);
                timestamp::seal_frame(SEAL_TOKEN_TAG, &token)
            }
            Err(why) => {
                let frame = timestamp::seal_frame(SEAL_FAILED_TAG, why.as_bytes());
                self.progress.timestamp(seq, Some(&why));
                s.summary.failed.push((seq, why));
                frame
            }
        };
        Some(frame)
    }

    /// The summary of stamping, for the collection's summary.
    pub(super) fn timestamp_summary(&self) -> TimestampSummary {
        self.stamps.as_ref().map(|s| s.summary.clone()).unwrap_or_default()
    }
}
