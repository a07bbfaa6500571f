//! Timesketch timelines: one row per member and timestamp, as CSV or JSON
//! Lines, with the columns Timesketch requires (`message`, `datetime`,
//! `timestamp_desc`, and `timestamp` in microseconds) and the member's
//! facts and proof beside them. The same [`TimelineRow`] is written both ways.

use std::io::{self, Write};

use serde::Serialize;

use super::{to_datetime, FormatWriter, Row, TimeKind};
use crate::format::doc::HeaderDoc;
use crate::format::tar::Timestamp;
use crate::verify::Report;

/// `datetime`: ISO 8601 in UTC with microseconds, as Timesketch shows it.
const DATETIME: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00");

/// One line of a timeline; the field order is the CSV's column order.
#[derive(Serialize)]
pub(crate) struct TimelineRow {
    message: String,
    datetime: String,
    timestamp: i64,
    timestamp_desc: &'static str,
    path: String,
    path_b64: Option<String>,
    link_target: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    mode: String,
    size: u64,
    owner: String,
    group: String,
    uid: u64,
    gid: u64,
    inode: Option<u64>,
    sha256: Option<String>,
    status: &'static str,
    detail: Option<String>,
    proof: &'static str,
    proof_detail: Option<String>,
    archive_id: Option<String>,
}

/// What Timesketch's `timestamp_desc` says for each kind of time.
fn describe(kind: TimeKind) -> &'static str {
    match kind {
        TimeKind::Modified => "Modification time",
        TimeKind::Accessed => "Access time",
        TimeKind::Changed => "Change time",
        TimeKind::Born => "Creation time",
    }
}

/// Microseconds since the epoch, rounded down.
fn micros(t: Timestamp) -> i64 {
    t.secs.saturating_mul(1_000_000).saturating_add(i64::from(t.nanos / 1000))
}

/// The rows of one member: one per time it has that can be written as a
/// date (a time beyond year 9999 has none, and no row).
pub(crate) fn rows(row: &Row<'_>) -> Vec<TimelineRow> {
    let meta = row.meta();
    let path = row.path_text();
    let link_target = match row.symlink_target() {
        Some(t) => Some(String::from_utf8_lossy(t).into_owned()),
        None => row.hardlink_target().map(|t| String::from_utf8_lossy(&t).into_owned()),
    };
    let arrow = match (&link_target, row.symlink_target().is_some()) {
        (Some(t), true) => format!(" -> {t}"),
        (Some(t), false) => format!(" link to {t}"),
        (None, _) => String::new(),
    };
    let message = format!("{path}{arrow} [{}, {}, {}]", meta.kind.name(), row.status(), row.proof());
    let owner = meta.uname.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| meta.uid.to_string());
    let group = meta.gname.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| meta.gid.to_string());
    row.times()
        .into_iter()
        .filter_map(|(kind, t)| {
            let datetime = to_datetime(t)?.format(DATETIME).ok()?;
            Some(TimelineRow {
                message: message.clone(),
                datetime,
                timestamp: micros(t),
                timestamp_desc: describe(kind),
                path: path.clone(),
                path_b64: row.path_b64(),
                link_target: link_target.clone(),
                kind: meta.kind.name(),
                mode: row.mode_string(),
                size: meta.size,
                owner: owner.clone(),
                group: group.clone(),
                uid: meta.uid,
                gid: meta.gid,
                inode: row.inode(),
                sha256: row.sha256().map(str::to_owned),
                status: row.status(),
                detail: row.detail().map(str::to_owned),
                proof: row.proof(),
                proof_detail: row.proof_detail().map(str::to_owned),
                archive_id: row.archive_id.map(str::to_owned),
            })
        })
        .collect()
}

/// A timeline in one of its two encodings.
pub(super) enum Timeline {
    /// CSV with a header row.
    Csv,
    /// JSON Lines.
    Jsonl,
}

impl Timeline {
    pub(super) fn csv() -> Self {
        Timeline::Csv
    }

    pub(super) fn jsonl() -> Self {
        Timeline::Jsonl
    }
}

/// A CSV writer over the output for one member's rows: it holds nothing
/// between members.
fn csv_writer(out: &mut dyn Write) -> csv::Writer<&mut dyn Write> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .buffer_capacity(CSV_BUFFER)
        .from_writer(out)
}

/// The CSV writer's buffer: a few rows.
const CSV_BUFFER: usize = 4096;

impl FormatWriter for Timeline {
    fn begin(&mut self, out: &mut dyn Write, _header: Option<&HeaderDoc>) -> io::Result<()> {
        if let Timeline::Csv = self {
            // csv writes its header row from the first record it
            // serialises; a timeline without rows gets one too, so it is
            // written from the same names here.
            let mut w = csv_writer(out);
            w.write_record(COLUMNS)?;
            w.flush()?;
        }
        Ok(())
    }

    fn member(&mut self, out: &mut dyn Write, row: &Row<'_>) -> io::Result<()> {
        match self {
            Timeline::Csv => {
                let mut w = csv_writer(out);
                for r in rows(row) {
                    w.serialize(&r)?;
                }
                w.flush()
            }
            Timeline::Jsonl => {
                for r in rows(row) {
                    serde_json::to_writer(&mut *out, &r)?;
                    out.write_all(b"\n")?;
                }
                Ok(())
            }
        }
    }

    fn finish(&mut self, _out: &mut dyn Write, _report: &Report) -> io::Result<()> {
        Ok(())
    }
}

/// The CSV header row: [`TimelineRow`]'s field names, in order.
pub(crate) const COLUMNS: [&str; 21] = [
    "message",
    "datetime",
    "timestamp",
    "timestamp_desc",
    "path",
    "path_b64",
    "link_target",
    "type",
    "mode",
    "size",
    "owner",
    "group",
    "uid",
    "gid",
    "inode",
    "sha256",
    "status",
    "detail",
    "proof",
    "proof_detail",
    "archive_id",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_round_down() {
        assert_eq!(micros(Timestamp { secs: 1, nanos: 999_999 }), 1_000_999);
        assert_eq!(
            micros(Timestamp {
                secs: -1,
                nanos: 500_000_000
            }),
            -500_000
        );
    }

    #[test]
    fn columns_are_the_row_fields() {
        let header = {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.serialize(TimelineRow {
                message: String::new(),
                datetime: String::new(),
                timestamp: 0,
                timestamp_desc: "",
                path: String::new(),
                path_b64: None,
                link_target: None,
                kind: "",
                mode: String::new(),
                size: 0,
                owner: String::new(),
                group: String::new(),
                uid: 0,
                gid: 0,
                inode: None,
                sha256: None,
                status: "",
                detail: None,
                proof: "",
                proof_detail: None,
                archive_id: None,
            })
            .unwrap();
            String::from_utf8(w.into_inner().unwrap()).unwrap()
        };
        assert_eq!(header.lines().next().unwrap(), COLUMNS.join(","));
    }
}
