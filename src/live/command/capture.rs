//! Reading a command's standard output or standard error on a thread of its
//! own: the first `max` bytes are kept and hashed, the rest is read and
//! counted but dropped, so the command never blocks on a full pipe and memory
//! stays bounded.
//!
//! The run may stop waiting before the end of the stream (a process that left
//! the command's process group still holds the pipe). It then takes what was
//! kept so far; the thread goes on draining the pipe, keeping nothing, until
//! that process closes it.

use std::io::{self, Read};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use super::record::StreamFacts;

/// Bytes read from a pipe at a time.
const CHUNK: usize = 64 * 1024;

/// Which stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What a reader thread has so far, shared with the run.
#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    hasher: Sha256,
    written: u64,
    complete: bool,
    error: Option<String>,
    /// Set once the run took the result: keep nothing more.
    taken: bool,
}

impl Captured {
    /// Keep what fits under `max`, growing the buffer no further than `max`.
    fn add(&mut self, data: &[u8], max: usize) {
        self.written += data.len() as u64;
        if self.taken {
            return;
        }
        let take = data.len().min(max - self.kept.len());
        if take == 0 {
            return;
        }
        let needed = self.kept.len() + take;
        if needed > self.kept.capacity() {
            let grown = (self.kept.capacity() * 2).max(needed).min(max);
            self.kept.reserve_exact(grown - self.kept.len());
        }
        self.kept.extend_from_slice(&data[..take]);
        self.hasher.update(&data[..take]);
    }
}

/// A stream being read.
pub(super) struct Capture {
    shared: Arc<Mutex<Captured>>,
}

fn lock(m: &Mutex<Captured>) -> MutexGuard<'_, Captured> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Start reading `pipe` on a thread; it sends `stream` to `done` when the
/// stream ends (or fails).
pub(super) fn start<R, E>(pipe: R, stream: Stream, max: usize, done: Sender<E>) -> io::Result<Capture>
where
    R: Read + Send + 'static,
    E: From<Stream> + Send + 'static,
{
    let shared = Arc::new(Mutex::new(Captured::default()));
    let theirs = Arc::clone(&shared);
    let name = match stream {
        Stream::Stdout => "custody-cmd-stdout",
        Stream::Stderr => "custody-cmd-stderr",
    };
    std::thread::Builder::new().name(name.into()).spawn(move || {
        drain(pipe, &theirs, max);
        let _ = done.send(E::from(stream));
    })?;
    Ok(Capture { shared })
}

fn drain(mut pipe: impl Read, shared: &Mutex<Captured>, max: usize) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => {
                lock(shared).complete = true;
                return;
            }
            Ok(n) => lock(shared).add(&buf[..n], max),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                lock(shared).error = Some(format!("reading the command's output failed: {e}"));
                return;
            }
        }
    }
}

impl Capture {
    /// Take the bytes kept so far and their facts. Whatever the thread reads
    /// afterwards is counted by nobody and kept nowhere.
    pub(super) fn take(self) -> (Vec<u8>, StreamFacts) {
        let mut c = lock(&self.shared);
        c.taken = true;
        let kept = std::mem::take(&mut c.kept);
        let facts = StreamFacts {
            bytes: kept.len() as u64,
            sha256: hex::encode(std::mem::take(&mut c.hasher).finalize()),
            written: c.written,
            truncated: c.written > kept.len() as u64,
            complete: c.complete,
            read_error: c.error.clone(),
        };
        (kept, facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_up_to_max_and_counts_the_rest() {
        let mut c = Captured::default();
        for _ in 0..10 {
            c.add(&[7u8; 300], 1000);
        }
        assert_eq!(c.kept.len(), 1000);
        assert!(c.kept.capacity() <= 1000, "capacity {}", c.kept.capacity());
        assert_eq!(c.written, 3000);
        assert_eq!(hex::encode(c.hasher.finalize()), hex::encode(Sha256::digest([7u8; 1000])));
    }

    #[test]
    fn nothing_is_kept_once_taken() {
        let mut c = Captured {
            taken: true,
            ..Captured::default()
        };
        c.add(b"late", 1000);
        assert!(c.kept.is_empty());
    }
}
