//! `s3://BUCKET/KEY` on the command line: collecting into an object store
//! (the upload, how it ended, the sidecar objects beside the archive) and
//! reading an archive and its sidecars back from one.

use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, Context};
use clap::Args;

use custody::s3::{self, Ending, ObjectUrl, Store, Upload, UploadHandle};

/// Object storage options of `collect`.
#[derive(Args)]
pub(crate) struct S3Args {
    /// With an s3:// output: the first parts' size (then doubling every
    /// 1000 parts). Below S3's 5 MiB only for test servers.
    #[arg(long, value_name = "SIZE", hide = true, default_value_t = s3::FIRST_PART, value_parser = crate::cli::units::parse_size)]
    s3_part_size: u64,
}

/// The object `arg` names, if it is an s3:// URL.
pub(crate) fn object(arg: &Path) -> anyhow::Result<Option<ObjectUrl>> {
    Ok(ObjectUrl::parse_arg(arg)?)
}

fn store(object: &ObjectUrl) -> anyhow::Result<Store> {
    Ok(Store::from_env(&object.bucket)?)
}

/// An upload collection can stream into: refused, before anything is
/// collected, when the archive or its custody log already exists there
/// (as for a file output).
pub(crate) fn start_upload(object: &ObjectUrl, args: &S3Args) -> anyhow::Result<(Store, Upload, UploadHandle)> {
    let store = store(object)?;
    for o in [object.clone(), object.with_suffix(".custody")] {
        if store.exists(&o)? {
            return Err(anyhow!(
                "{o} already exists; nothing was collected. An archive is never overwritten, and a new archive starts a new custody log: choose another key"
            ));
        }
    }
    if args.s3_part_size < s3::MIN_PART {
        eprintln!(
            "custody: warning: parts of {} bytes are under S3's 5 MiB minimum: only test servers accept them",
            args.s3_part_size
        );
    }
    let (upload, handle) = Upload::start(store.clone(), object.clone(), args.s3_part_size)?;
    Ok((store, upload, handle))
}

/// Finish the upload after a collection that ended without error: the
/// object's size, or an error saying what the store holds.
pub(crate) fn finish(handle: &UploadHandle, store: &Store, object: &ObjectUrl) -> anyhow::Result<u64> {
    match handle.finish() {
        Ending::Complete { bytes, .. } => Ok(bytes),
        other => Err(UploadIncomplete(describe(&other, store, object, handle, true).1).into()),
    }
}

/// The collection ended, but its end did not reach the store: exit code 3,
/// as for an output that failed.
#[derive(Debug, thiserror::Error)]
#[error("the archive was collected to its end, but {0}")]
pub(crate) struct UploadIncomplete(String);

/// Finish the upload after a collection that stopped with an error: what
/// the store now holds, to add to that error (which says why a part
/// failed, if one did).
pub(crate) fn finish_after_error(handle: &UploadHandle, store: &Store, object: &ObjectUrl) -> String {
    describe(&handle.finish(), store, object, handle, false).1
}

/// What an ending left at the store, and what to do: the bytes stored and
/// the text; with `why`, the failure of a part too.
fn describe(ending: &Ending, store: &Store, object: &ObjectUrl, handle: &UploadHandle, why: bool) -> (u64, String) {
    let part_failed = |f: &custody::s3::S3Error| if why { format!(" ({f})") } else { String::new() };
    let endpoint = if store.custom_endpoint() {
        format!(" --endpoint-url {}", store.endpoint())
    } else {
        String::new()
    };
    let list = format!("aws s3api list-multipart-uploads --bucket {}{endpoint}", object.bucket);
    match ending {
        Ending::Complete { bytes, parts } => (
            *bytes,
            format!(
                "the upload was completed with everything written: {object} holds {bytes} bytes ({parts} parts) and verifies as incomplete up to its last checkpoint (`custody verify {object}`)"
            ),
        ),
        Ending::Truncated { bytes, parts, written, failure } => (
            *bytes,
            format!(
                "uploading failed{}; the upload was completed with the {parts} parts stored: {object} holds the first {bytes} of the {written} bytes written, and verifies as incomplete up to the last checkpoint inside them (`custody verify {object}`)",
                part_failed(failure)
            ),
        ),
        Ending::Nothing { failure, abort } => {
            let why = failure.as_ref().map(part_failed).unwrap_or_default();
            let aborted = match abort {
                Ok(()) => "the upload was aborted, so nothing is left at the store".to_string(),
                Err(e) => format!(
                    "aborting the upload {} failed too ({e}): its parts may stay pending. List them with `{list}` and abort it with `aws s3api abort-multipart-upload --bucket {} --key {} --upload-id {}{endpoint}`",
                    handle.upload_id(),
                    object.bucket,
                    object.key,
                    handle.upload_id()
                ),
            };
            (0, format!("no part reached the store{why}; there is no object {object}: {aborted}"))
        }
        Ending::Pending { upload_id, bytes, parts, failure, complete } => {
            let before = failure.as_ref().map(|f| format!("uploading failed{}, then ", part_failed(f))).unwrap_or_default();
            (
                0,
                format!(
                    "{before}completing the upload failed ({complete}). There is no object {object}: the upload {upload_id} stays pending at the store with {parts} parts ({bytes} bytes), invisible as an object but stored. List pending uploads with `{list}`; abort this one with `aws s3api abort-multipart-upload --bucket {} --key {} --upload-id {upload_id}{endpoint}`",
                    object.bucket, object.key
                ),
            )
        }
    }
}

/// Store the checksum, the custody log and the receipt beside the archive:
/// `KEY.sha256`, `KEY.custody`, `KEY.receipt`. The objects' URLs.
pub(crate) fn put_sidecars(store: &Store, object: &ObjectUrl, sha256: &str, log: &[u8], receipt: &str) -> anyhow::Result<[ObjectUrl; 3]> {
    let sidecar = object.with_suffix(".sha256");
    store
        .put(&sidecar, format!("{sha256}  {}\n", object.name()).as_bytes())
        .context("the archive is stored, but its checksum object could not be written")?;
    let log_object = object.with_suffix(".custody");
    store.put(&log_object, log).context(
        "the archive is stored, but its custody log could not be written; record the acquisition with `custody log add` on a downloaded copy",
    )?;
    let receipt_object = object.with_suffix(".receipt");
    store
        .put(&receipt_object, receipt.as_bytes())
        .context("the archive is stored, but its receipt could not be written")?;
    Ok([sidecar, log_object, receipt_object])
}

/// The archive at `object`, as a stream.
pub(crate) fn open(object: &ObjectUrl) -> anyhow::Result<Box<dyn Read + Send>> {
    let reader = store(object)?
        .get(object)?
        .ok_or_else(|| anyhow!("there is no object {object}; check the bucket and key"))?;
    Ok(Box::new(reader))
}

/// The object beside `object` with `suffix` (`.sha256`, `.custody`), read
/// whole up to `limit` bytes, or `None` if there is none.
pub(crate) fn sidecar(object: &ObjectUrl, suffix: &str, limit: u64) -> anyhow::Result<Option<(ObjectUrl, Vec<u8>)>> {
    let beside = object.with_suffix(suffix);
    let Some(reader) = store(object)?.get(&beside)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {beside}"))?;
    if bytes.len() as u64 > limit {
        return Err(anyhow!("{beside} is larger than {limit} bytes, more than such a file holds"));
    }
    Ok(Some((beside, bytes)))
}
