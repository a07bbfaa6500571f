//! The walk driver: the writer thread is started, the sources are walked,
//! and each item is archived in walk order, small files after the
//! read-ahead thread has read them.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use super::pipe::{Out, Pipe, PIPE_DEPTH};
use super::readahead::{read_ahead, reads_ahead, Ahead, Slot, AHEAD_BYTES, AHEAD_ENTRIES};
use super::writer::{self, Reply};
use super::xattrs::{read_xattrs, XattrSource};
use super::{signal_name, CollectError, CollectSummary, Collector, READ_CHUNK};
use crate::format::doc::{PathText, SkippedEntry};
use crate::format::tar::EntryKind;
use crate::source::{self, SourceEntry, WalkItem};

impl<W: Write + Send + 'static> Collector<'_, W> {
    /// Walk the sources and archive everything, then seal. The tar stream
    /// is hashed and compressed on a thread of its own meanwhile.
    pub fn run(mut self) -> Result<(CollectSummary, W), CollectError>
    where
        W: Send,
    {
        let Out::Direct(stream) = std::mem::replace(&mut self.out, Out::Moving) else {
            unreachable!("the stream is written here between collection steps")
        };
        let (tx, rx) = mpsc::sync_channel(PIPE_DEPTH);
        let (reply_tx, replies) = mpsc::channel();
        let (pool_tx, pool) = mpsc::channel();
        let (walked, stream, served, replies) = std::thread::scope(|scope| {
            let writer = scope.spawn(move || {
                let mut stream = stream;
                let served = writer::serve(&mut stream, rx, reply_tx, pool_tx, READ_CHUNK);
                (stream, served)
            });
            self.out = Out::Piped(Pipe {
                tx,
                batch: Vec::new(),
                batch_bytes: 0,
                replies,
                pool,
                buffers: 0,
                spare: Vec::new(),
            });
            // A panic in the walk must still hang up on the writer thread, or
            // the scope would wait for it forever.
            let walked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.walk_sources()));
            let Out::Piped(mut pipe) = std::mem::replace(&mut self.out, Out::Moving) else {
                unreachable!("piped during the walk")
            };
            let flushed = if walked.is_ok() { pipe.flush() } else { Ok(()) };
            let Pipe { tx, replies, .. } = pipe;
            drop(tx);
            let (stream, served) = writer.join().expect("the writer thread does not panic");
            let walked = walked.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let walked = walked.and_then(|()| flushed.map_err(|source| CollectError::Output { bytes: self.pos, source }));
            (walked, stream, served, replies)
        });
        self.out = Out::Direct(stream);
        served.map_err(|e| self.output_err(e))?;
        for r in replies.try_iter() {
            match r {
                Reply::Member(sha) => self.fill_digest(sha),
                Reply::Header(d) => self.fill_header_digest(d),
                _ => {}
            }
        }
        walked?;
        if let Some(signal) = self.stop_signal() {
            return self.stop(signal);
        }
        self.seal("completed")
    }

    fn walk_sources(&mut self) -> Result<(), CollectError> {
        let sources = self.opts.sources.clone();
        let walk_opts = self.opts.walk.clone();
        let mut failure: Option<CollectError> = None;
        let stop = self.opts.stop.clone();
        let stopped = || stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst) != 0);
        let (jobs, job_rx) = mpsc::sync_channel::<SourceEntry>(AHEAD_ENTRIES);
        let (done_tx, done) = mpsc::channel();
        let walked = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("custody-read".into())
                .spawn_scoped(scope, move || {
                    for e in job_rx {
                        let read = read_ahead(&e);
                        if done_tx.send((e, read)).is_err() {
                            return;
                        }
                    }
                })
                .expect("the read-ahead thread starts");
            let mut ahead = Ahead {
                jobs,
                done,
                window: VecDeque::new(),
                bytes: 0,
            };
            // A stop ends the walk before its next entry; the directories it
            // was still walking then come here, cheaply (no file is read), so
            // that none is missing from the archive.
            let walked = source::walk(&sources, &walk_opts, stopped, |item| {
                self.walked(&mut ahead, item).map_err(|e| {
                    failure = Some(e);
                    io::Error::other("collection stopped")
                })
            });
            // What the walk ran ahead with is archived too, unless the
            // output failed: files already read are written whole, and a
            // file still to be read after a stop is cut short like the one
            // being read when it came.
            while failure.is_none() && !ahead.window.is_empty() {
                if let Err(e) = self.next_in_order(&mut ahead) {
                    failure = Some(e);
                }
            }
            walked
        });
        if let Some(e) = failure {
            return Err(e);
        }
        match walked {
            Ok(stats) => {
                self.without_noatime += stats.dirs_without_noatime;
                Ok(())
            }
            // `run` signs a final checkpoint for a stop, whatever the walk met.
            Err(_) if self.stop_signal().is_some() => Ok(()),
            Err(e) => Err(self.output_err(e)),
        }
    }

    /// An item from the walk: small regular files go to the read-ahead
    /// thread; everything waits its turn in the window, and the oldest items
    /// are archived once the window is full.
    fn walked(&mut self, ahead: &mut Ahead, item: WalkItem) -> Result<(), CollectError> {
        let slot = match item {
            WalkItem::Entry(e) if reads_ahead(&e.metadata) => {
                ahead.bytes += e.metadata.size;
                ahead.jobs.send(e).expect("the read-ahead thread runs until the walk ends");
                Slot::ReadAhead
            }
            other => Slot::Now(Box::new(other)),
        };
        ahead.window.push_back(slot);
        while ahead.window.len() > AHEAD_ENTRIES || ahead.bytes > AHEAD_BYTES {
            self.next_in_order(ahead)?;
        }
        Ok(())
    }

    /// Archive the oldest item of the window.
    fn next_in_order(&mut self, ahead: &mut Ahead) -> Result<(), CollectError> {
        match ahead.window.pop_front() {
            Some(Slot::Now(item)) => {
                if let WalkItem::Entry(e) = &*item {
                    self.maybe_end_part(e.metadata.size)?;
                }
                self.archive_item(*item)?
            }
            Some(Slot::ReadAhead) => {
                // The read-ahead thread takes files in order, so its next
                // answer is this one.
                let (e, read) = ahead.done.recv().expect("the read-ahead thread answers every file");
                ahead.bytes -= e.metadata.size;
                self.maybe_end_part(e.metadata.size)?;
                self.archive_file(&e, Some(read))?;
            }
            None => return Ok(()),
        }
        self.maybe_checkpoint()
    }

    fn archive_item(&mut self, item: WalkItem) -> Result<(), CollectError> {
        match item {
            WalkItem::Entry(e) => self.archive_entry(&e),
            WalkItem::Unfinished(e) => self.archive_unfinished_dir(&e),
            WalkItem::Skipped { archive_path, reason, .. } => {
                self.totals.skipped += 1;
                self.segment_doc_bytes += 2 * archive_path.len() as u64 + reason.len() as u64 + 64;
                self.segment_skipped.push(SkippedEntry {
                    path: PathText::from_bytes(&archive_path),
                    reason,
                });
                Ok(())
            }
        }
    }

    /// A directory the walk was still listing when the collection stopped:
    /// its member, from the metadata the walk took, with a detail saying
    /// that the entries not walked yet are not in the archive. Its own
    /// metadata is whole, so its status is `ok` (FORMAT.md §7, "Stopping").
    fn archive_unfinished_dir(&mut self, e: &SourceEntry) -> Result<(), CollectError> {
        let xattrs = read_xattrs(XattrSource::Path(&e.xattr_path()));
        let mut m = self.evidence_member(e, &e.metadata, EntryKind::Directory, 0, xattrs);
        let by = self.stop_signal().map_or_else(String::new, |s| format!(" by {}", signal_name(s)));
        m.note(format!(
            "collection stopped{by} before all its entries were walked; those not walked are not in the archive"
        ));
        self.write_member(m, None)
    }
}
