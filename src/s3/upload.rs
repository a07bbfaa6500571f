//! A multipart upload as a `Write`: bytes fill a part; a full part goes to
//! an uploading thread while the next one fills, so at most two parts are
//! in memory. Parts start at [`FIRST_PART`] and double every
//! [`PARTS_PER_STEP`] parts, so that S3's 10,000 parts reach
//! [`largest_archive`] while a small archive uses small parts.
//!
//! Nothing completes the upload but [`UploadHandle::finish`], which the
//! caller runs however the collection ended: the store then holds the
//! bytes uploaded, or the upload is aborted or left pending, and
//! [`Ending`] says which.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::{ObjectUrl, S3Error, Store};

/// S3's smallest part but the last.
pub const MIN_PART: u64 = 5 << 20;
/// S3's largest part.
pub const MAX_PART: u64 = 5 << 30;
/// S3's most parts in one upload.
pub const MAX_PARTS: u32 = 10_000;
/// The first parts' size.
pub const FIRST_PART: u64 = 8 << 20;
/// Parts of one size before the size doubles.
pub const PARTS_PER_STEP: u32 = 1_000;

/// The size of part `number` (from 1) when the first parts are `first` bytes.
pub fn part_size(first: u64, number: u32) -> u64 {
    let doublings = (number.max(1) - 1) / PARTS_PER_STEP;
    first.checked_shl(doublings).unwrap_or(MAX_PART).min(MAX_PART)
}

/// The largest archive [`MAX_PARTS`] parts hold when the first are `first`
/// bytes: with [`FIRST_PART`], 8 MiB × 1000 × (2¹⁰ − 1) = 8,581,545,984,000
/// bytes (7.8 TiB), in parts of at most 4 GiB.
pub fn largest_archive(first: u64) -> u64 {
    (1..=MAX_PARTS).map(|n| part_size(first, n)).sum()
}

/// How an upload ended.
#[derive(Debug)]
pub enum Ending {
    /// The object holds every byte written.
    Complete {
        /// Its size.
        bytes: u64,
        /// Parts.
        parts: u32,
    },
    /// The object holds the first `bytes` of the `written`: the parts
    /// uploaded before `failure`.
    Truncated {
        /// Its size.
        bytes: u64,
        /// Parts.
        parts: u32,
        /// Bytes the collector wrote.
        written: u64,
        /// Why the rest is not there.
        failure: S3Error,
    },
    /// No part reached the store; the upload was aborted (`abort` says
    /// whether that worked), and there is no object.
    Nothing {
        /// Why no part reached the store, if one was written.
        failure: Option<S3Error>,
        /// The abort's result.
        abort: Result<(), S3Error>,
    },
    /// Completing failed: the upload is still pending, its parts are
    /// stored (and billed) but there is no object.
    Pending {
        /// The upload id, to complete or abort it.
        upload_id: String,
        /// Bytes in the uploaded parts.
        bytes: u64,
        /// Parts uploaded.
        parts: u32,
        /// Why a part failed before, if one did.
        failure: Option<S3Error>,
        /// Why completing failed.
        complete: S3Error,
    },
}

/// The `Write` that uploads.
pub struct Upload {
    shared: Arc<Mutex<Uploading>>,
}

/// What finishes an [`Upload`] after the writer is gone.
pub struct UploadHandle {
    shared: Arc<Mutex<Uploading>>,
}

struct Uploading {
    store: Store,
    object: ObjectUrl,
    upload_id: String,
    first_part: u64,
    /// The part being filled.
    part: Vec<u8>,
    /// Its number.
    number: u32,
    /// Bytes written so far.
    written: u64,
    to_uploader: Option<SyncSender<(u32, Vec<u8>)>>,
    uploader: Option<JoinHandle<Result<(), S3Error>>>,
    /// Parts stored: number, ETag, size.
    stored: Arc<Mutex<Vec<(u32, String, u64)>>>,
    /// Why the upload can take no more bytes.
    failure: Option<S3Error>,
    /// The failure's text, for writes after it.
    failure_text: Option<String>,
}

impl Upload {
    /// Start a multipart upload to `object`, with first parts of
    /// `first_part` bytes (at least [`MIN_PART`] for S3 itself).
    pub fn start(store: Store, object: ObjectUrl, first_part: u64) -> Result<(Upload, UploadHandle), S3Error> {
        let upload_id = store.create_multipart(&object)?;
        let (tx, rx) = sync_channel::<(u32, Vec<u8>)>(0);
        let stored = Arc::new(Mutex::new(Vec::new()));
        let uploader = {
            let (store, object, id, stored) = (store.clone(), object.clone(), upload_id.clone(), Arc::clone(&stored));
            std::thread::Builder::new()
                .name("custody-s3".into())
                .spawn(move || {
                    for (number, bytes) in rx {
                        let etag = store.upload_part(&object, &id, number, &bytes)?;
                        stored
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push((number, etag, bytes.len() as u64));
                    }
                    Ok(())
                })
                .map_err(|e| S3Error::Config(format!("cannot start the uploading thread: {e}")))?
        };
        let shared = Arc::new(Mutex::new(Uploading {
            store,
            object,
            upload_id,
            first_part: first_part.max(1),
            part: Vec::new(),
            number: 1,
            written: 0,
            to_uploader: Some(tx),
            uploader: Some(uploader),
            stored,
            failure: None,
            failure_text: None,
        }));
        Ok((
            Upload {
                shared: Arc::clone(&shared),
            },
            UploadHandle { shared },
        ))
    }
}

impl Uploading {
    /// Hand the full part to the uploading thread (waiting while it uploads
    /// the one before).
    fn send_part(&mut self) -> Result<(), ()> {
        let next = if self.number < MAX_PARTS {
            part_size(self.first_part, self.number + 1)
        } else {
            0
        };
        let part = std::mem::replace(&mut self.part, Vec::with_capacity(next as usize));
        let sent = self.to_uploader.as_ref().map(|tx| tx.send((self.number, part)));
        if let Some(Ok(())) = sent {
            self.number += 1;
            return Ok(());
        }
        self.stop_uploader();
        Err(())
    }

    /// Close the uploading thread's queue and wait for it; keep its failure.
    fn stop_uploader(&mut self) {
        self.to_uploader = None;
        if let Some(t) = self.uploader.take() {
            let result = t
                .join()
                .unwrap_or_else(|_| Err(S3Error::Config("the uploading thread panicked".into())));
            if let Err(e) = result {
                self.fail(e);
            }
        }
    }

    fn fail(&mut self, e: S3Error) {
        if self.failure.is_none() {
            self.failure_text = Some(e.to_string());
            self.failure = Some(e);
        }
    }

    fn broken(&self) -> io::Error {
        io::Error::other(self.failure_text.clone().unwrap_or_else(|| "the upload failed".into()))
    }
}

impl Write for Upload {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let mut u = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if u.failure_text.is_some() {
            return Err(u.broken());
        }
        let given = data.len();
        while !data.is_empty() {
            if u.number > MAX_PARTS {
                let largest = largest_archive(u.first_part);
                let object = u.object.to_string();
                u.fail(S3Error::Config(format!(
                    "the archive outgrew the largest object one upload makes ({largest} bytes in {MAX_PARTS} parts) at {object}"
                )));
                return Err(u.broken());
            }
            let size = part_size(u.first_part, u.number) as usize;
            let take = (size - u.part.len()).min(data.len());
            u.part.extend_from_slice(&data[..take]);
            u.written += take as u64;
            data = &data[take..];
            if u.part.len() == size && u.send_part().is_err() {
                return Err(u.broken());
            }
        }
        Ok(given)
    }

    /// Bytes reach the store a whole part at a time: nothing to do here.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl UploadHandle {
    /// The upload's id.
    pub fn upload_id(&self) -> String {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner).upload_id.clone()
    }

    /// Upload what is left (if nothing failed), then complete the upload
    /// with every part stored, or abort it if none is.
    pub fn finish(&self) -> Ending {
        let mut u = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if u.failure.is_none() && !u.part.is_empty() {
            let last = std::mem::take(&mut u.part);
            let number = u.number;
            if let Some(tx) = &u.to_uploader {
                // A refusal means the thread stopped on a failure, kept below.
                let _ = tx.send((number, last));
            }
        }
        u.stop_uploader();
        let mut parts: Vec<(u32, String, u64)> = std::mem::take(&mut *u.stored.lock().unwrap_or_else(PoisonError::into_inner));
        parts.sort_by_key(|p| p.0);
        let bytes: u64 = parts.iter().map(|p| p.2).sum();
        let count = parts.len() as u32;
        let failure = u.failure.take();
        let (store, object, id) = (u.store.clone(), u.object.clone(), u.upload_id.clone());
        if parts.is_empty() {
            return Ending::Nothing {
                failure,
                abort: store.abort(&object, &id),
            };
        }
        let list: Vec<(u32, String)> = parts.into_iter().map(|(n, etag, _)| (n, etag)).collect();
        match (store.complete(&object, &id, &list), failure) {
            (Ok(()), None) => Ending::Complete { bytes, parts: count },
            (Ok(()), Some(failure)) => Ending::Truncated {
                bytes,
                parts: count,
                written: u.written,
                failure,
            },
            (Err(complete), failure) => Ending::Pending {
                upload_id: id,
                bytes,
                parts: count,
                failure,
                complete,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_fit_s3_limits_and_reach_terabytes() {
        assert_eq!(part_size(FIRST_PART, 1), 8 << 20);
        assert_eq!(part_size(FIRST_PART, 1000), 8 << 20);
        assert_eq!(part_size(FIRST_PART, 1001), 16 << 20);
        assert_eq!(part_size(FIRST_PART, MAX_PARTS), 4 << 30);
        assert!((1..=MAX_PARTS).all(|n| (MIN_PART..=MAX_PART).contains(&part_size(FIRST_PART, n))));
        assert_eq!(largest_archive(FIRST_PART), 8_581_545_984_000);
        assert_eq!(largest_archive(FIRST_PART), FIRST_PART * u64::from(PARTS_PER_STEP) * 1023);
        assert_eq!(part_size(1 << 40, 5000), MAX_PART);
    }
}
