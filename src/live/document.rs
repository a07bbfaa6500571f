//! The envelope every live-response document shares (schema, step, status,
//! start time, source, and the list of what could not be read), and the
//! encodings of its fields: bytes that may not be UTF-8, and times.

use base64::Engine;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{Snapshot, Step};

/// The `schema` of every document; a change of meaning changes the number.
pub(super) const SCHEMA: &str = "custody-live/1";

/// The document's `status` when everything was read.
pub(super) const OK: &str = "ok";
/// … when some parts were read and some are listed as unavailable.
pub(super) const PARTIAL: &str = "partial";
/// … when nothing could be read.
pub(super) const UNAVAILABLE: &str = "unavailable";

/// Something that could not be read, and why.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub(super) struct Unavailable {
    /// What is missing: a file, a field, a table.
    pub what: String,
    /// Why: the error, and what would have allowed it.
    pub reason: String,
    /// How many items (processes, sockets…) miss it, when more than one may.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// A document being written: its header fields and unavailable list. A
/// step adds to it and returns its body; [`Envelope::finish_with`] writes
/// the whole.
#[derive(Clone, Debug)]
pub(super) struct Envelope {
    step: Step,
    started: String,
    time_secs: i64,
    source: String,
    unavailable: Vec<Unavailable>,
    nothing_read: bool,
}

/// The serialized form: header, the step's own fields, unavailable list.
#[derive(Serialize)]
struct Document<'a, B: Serialize> {
    schema: &'static str,
    step: Step,
    status: &'static str,
    started: &'a str,
    source: &'a str,
    #[serde(flatten)]
    body: B,
    unavailable: &'a [Unavailable],
}

impl Envelope {
    /// Starts a step's document now.
    pub(super) fn start(step: Step) -> Envelope {
        let now = OffsetDateTime::now_utc();
        let source = match step {
            Step::System | Step::Processes | Step::Sockets => "/proc",
            Step::Users => "utmp",
            Step::Network => "/proc/net, /sys/class/net",
            Step::Mounts => "/proc/self/mountinfo",
            Step::Modules => "/proc/modules, /sys/module",
        };
        Envelope {
            step,
            started: now.format(&Rfc3339).unwrap_or_default(),
            time_secs: now.unix_timestamp(),
            source: source.to_string(),
            unavailable: Vec::new(),
            nothing_read: false,
        }
    }

    /// Names the source actually read, when the step chose among several.
    pub(super) fn set_source(&mut self, source: impl Into<String>) {
        self.source = source.into();
    }

    /// Records something that could not be read.
    pub(super) fn unavailable(&mut self, what: impl Into<String>, reason: impl Into<String>) {
        self.unavailable.push(Unavailable {
            what: what.into(),
            reason: reason.into(),
            count: None,
        });
    }

    /// Records something that could not be read for `count` items.
    pub(super) fn unavailable_for(&mut self, what: impl Into<String>, reason: impl Into<String>, count: u64) {
        self.unavailable.push(Unavailable {
            what: what.into(),
            reason: reason.into(),
            count: Some(count),
        });
    }

    /// Says that the step could read nothing at all: the status becomes
    /// `unavailable` (its reasons are in the list).
    pub(super) fn nothing_read(&mut self) {
        self.nothing_read = true;
    }

    /// Runs the step and writes its document.
    pub(super) fn finish_with<B: Serialize>(mut self, step: impl FnOnce(&mut Envelope) -> B) -> Snapshot {
        let body = step(&mut self);
        self.write(&body)
    }

    /// The document of a step that failed inside custody.
    pub(super) fn failed(mut self, reason: &str) -> Snapshot {
        self.unavailable("the step", reason);
        self.nothing_read();
        self.write(&serde_json::Map::new())
    }

    fn status(&self) -> &'static str {
        if self.nothing_read {
            UNAVAILABLE
        } else if self.unavailable.is_empty() {
            OK
        } else {
            PARTIAL
        }
    }

    fn write<B: Serialize>(&self, body: &B) -> Snapshot {
        let status = self.status();
        let document = Document {
            schema: SCHEMA,
            step: self.step,
            status,
            started: &self.started,
            source: &self.source,
            body,
            unavailable: &self.unavailable,
        };
        let mut bytes = match serde_json::to_vec_pretty(&document) {
            Ok(bytes) => bytes,
            // Only a map with non-text keys fails to serialize; the bodies
            // have none, but the document must exist whatever happens.
            Err(e) => {
                let fallback = Document {
                    schema: SCHEMA,
                    step: self.step,
                    status: UNAVAILABLE,
                    started: &self.started,
                    source: &self.source,
                    body: serde_json::Map::new(),
                    unavailable: &[Unavailable {
                        what: "the document".to_string(),
                        reason: format!("could not be serialized (a bug, please report it): {e}"),
                        count: None,
                    }],
                };
                serde_json::to_vec_pretty(&fallback).unwrap_or_default()
            }
        };
        bytes.push(b'\n');
        Snapshot {
            step: self.step,
            document: bytes,
            status,
            time_secs: self.time_secs,
        }
    }
}

/// Bytes serialized as `NAME` when UTF-8, else `NAME_b64`.
pub(super) struct Field {
    name: &'static str,
    bytes: Vec<u8>,
}

impl Field {
    pub(super) fn new(name: &'static str, bytes: Vec<u8>) -> Field {
        Field { name, bytes }
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        match text(&self.bytes) {
            (Some(utf8), _) => map.serialize_entry(self.name, &utf8)?,
            (None, b64) => map.serialize_entry(&format!("{}_b64", self.name), &b64)?,
        }
        map.end()
    }
}

/// Bytes that are text when they are valid UTF-8, else standard base64 for
/// the sibling `…_b64` field, as `path` and `path_b64` elsewhere in custody.
pub(super) fn text(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Some(text.to_string()), None),
        Err(_) => (None, Some(b64(bytes))),
    }
}

/// A list of byte strings: all as text when every one is UTF-8, else all as
/// base64, so that the list stays one array of one kind.
pub(super) fn text_list(items: &[Vec<u8>]) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let texts: Option<Vec<String>> = items
        .iter()
        .map(|item| std::str::from_utf8(item).ok().map(str::to_string))
        .collect();
    match texts {
        Some(texts) => (Some(texts), None),
        None => (None, Some(items.iter().map(|item| b64(item)).collect())),
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// RFC 3339 UTC time of nanoseconds since the epoch.
pub(super) fn rfc3339_nanos(nanos: i128) -> Option<String> {
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?.format(&Rfc3339).ok()
}

/// RFC 3339 UTC time of seconds since the epoch.
pub(super) fn rfc3339_secs(secs: i64) -> Option<String> {
    rfc3339_nanos(i128::from(secs) * 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_utf8_or_base64() {
        assert_eq!(text(b"sshd"), (Some("sshd".to_string()), None));
        assert_eq!(text(b"\xff\x00a"), (None, Some("/wBh".to_string())));
        let (all, none) = text_list(&[b"a b".to_vec(), b"".to_vec()]);
        assert_eq!((all.unwrap(), none), (vec!["a b".to_string(), String::new()], None));
        let (none, b64) = text_list(&[b"sleep".to_vec(), b"\xfe".to_vec()]);
        assert_eq!((none, b64.unwrap()), (None, vec!["c2xlZXA=".to_string(), "/g==".to_string()]));
    }

    #[test]
    fn times_are_utc_rfc3339() {
        assert_eq!(rfc3339_secs(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_nanos(1_700_000_000_250_000_000).unwrap(), "2023-11-14T22:13:20.25Z");
    }

    #[test]
    fn status_follows_what_was_read() {
        let mut doc = Envelope::start(Step::Mounts);
        assert_eq!(doc.status(), OK);
        doc.unavailable("a table", "a reason");
        assert_eq!(doc.status(), PARTIAL);
        doc.nothing_read();
        assert_eq!(doc.status(), UNAVAILABLE);
        let snapshot = doc.write(&serde_json::json!({"mounts": []}));
        let value: serde_json::Value = serde_json::from_slice(&snapshot.document).unwrap();
        assert_eq!(value["schema"], SCHEMA);
        assert_eq!(value["status"], UNAVAILABLE);
        assert_eq!(value["unavailable"][0]["what"], "a table");
        assert!(snapshot.document.ends_with(b"}\n"));
    }
}
