//! Records of the custody log and their line encoding:
//! `JSON TAB BASE64(proof) LF`.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Value of every record's `log` field.
pub const LOG_FORMAT: &str = "custody-log/1";

/// What happened to the evidence. The kinds follow the chain-of-custody
/// forms investigators fill in (NIST's sample form, ISO/IEC 27037).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Collected (written by `custody collect` for a file output).
    Acquired,
    /// Handed to someone else (`counterpart` names them).
    Transferred,
    /// Taken over from someone (`counterpart` names them).
    Received,
    /// Checked with `custody verify`; the verdict is recorded.
    Verified,
    /// A working or backup copy was made.
    Copied,
    /// Put into storage (`location` says where).
    Stored,
    /// Opened or examined.
    Accessed,
    /// Given back to its owner.
    Returned,
    /// Destroyed or released at the end of the case.
    Disposed,
    /// Anything else worth recording.
    Note,
}

impl EventKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [EventKind; 10] = [
        EventKind::Acquired,
        EventKind::Transferred,
        EventKind::Received,
        EventKind::Verified,
        EventKind::Copied,
        EventKind::Stored,
        EventKind::Accessed,
        EventKind::Returned,
        EventKind::Disposed,
        EventKind::Note,
    ];

    /// The kind's name in the log.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Acquired => "acquired",
            EventKind::Transferred => "transferred",
            EventKind::Received => "received",
            EventKind::Verified => "verified",
            EventKind::Copied => "copied",
            EventKind::Stored => "stored",
            EventKind::Accessed => "accessed",
            EventKind::Returned => "returned",
            EventKind::Disposed => "disposed",
            EventKind::Note => "note",
        }
    }

    /// The kind named `name`, if it is one.
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The names of all kinds, for messages.
    pub fn names() -> String {
        EventKind::ALL.map(EventKind::name).join(", ")
    }
}

/// Which archive a record belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveRef {
    /// The header's `archive_id`.
    pub id: String,
    /// The archive's final chain value: the chain value of its last
    /// checkpoint (the seal, when it has one).
    pub chain: String,
}

/// Who recorded an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Name of the person.
    pub name: String,
    /// Their role (responder, examiner, custodian, counsel, ...).
    pub role: Option<String>,
    /// Their organisation.
    pub organization: Option<String>,
}

/// What `custody verify` said when the event's actor ran it
/// (`received` and `verified` events).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// verified, incomplete, untrusted or tampered.
    pub verdict: String,
    /// The archive's signer, as a `SHA256:` fingerprint.
    pub signer: Option<String>,
    /// Whether the actor named that signer as trusted (the verdict is then
    /// not `untrusted`). The name they trust it under is theirs, and stays
    /// out of the log.
    pub trusted: bool,
    /// Checkpoints proven.
    pub checkpoints: u64,
    /// Whether the seal was reached and verified.
    pub sealed: bool,
}

/// One event of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Always [`LOG_FORMAT`].
    pub log: String,
    /// Always `event`.
    pub record: String,
    /// 1 for the first record of the log, then one more per record.
    pub seq: u64,
    /// SHA-256 (hex) of the previous line, `null` for the first.
    pub prev: Option<String>,
    /// The archive this event is about.
    pub archive: ArchiveRef,
    /// An [`EventKind`] name.
    pub kind: String,
    /// When, by the recorder's clock (RFC 3339, UTC).
    pub time: String,
    /// Who.
    pub actor: Actor,
    /// `SHA256:` fingerprint of the key that signs this event.
    pub key: String,
    /// Where the evidence was.
    pub location: Option<String>,
    /// Why (the purpose of an access, the reason for a transfer).
    pub reason: Option<String>,
    /// The other party of a transfer or receipt.
    pub counterpart: Option<String>,
    /// SHA-256 (hex) of the archive file as the actor held it.
    pub archive_sha256: String,
    /// What the verifier said, for `received` and `verified`.
    pub verification: Option<Verification>,
    /// Free text.
    pub note: Option<String>,
}

/// A trusted timestamp over the line before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimestampRecord {
    /// Always [`LOG_FORMAT`].
    pub log: String,
    /// Always `timestamp`.
    pub record: String,
    /// As for events.
    pub seq: u64,
    /// SHA-256 (hex) of the previous line: the token's message imprint.
    pub prev: String,
    /// The requester's clock when it asked (RFC 3339, UTC): compared with
    /// the token's time. Not signed by anyone (docs/CUSTODY-LOG.md).
    pub time: String,
    /// The time-stamping authority's URL, for people.
    pub tsa: String,
}

/// A record of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// An event, proven by an SSHSIG.
    Event(Box<Event>),
    /// A timestamp, proven by an RFC 3161 token.
    Timestamp(TimestampRecord),
}

impl Record {
    /// The record's sequence number.
    pub fn seq(&self) -> u64 {
        match self {
            Record::Event(e) => e.seq,
            Record::Timestamp(t) => t.seq,
        }
    }

    /// The digest of the previous line it names.
    pub fn prev(&self) -> Option<&str> {
        match self {
            Record::Event(e) => e.prev.as_deref(),
            Record::Timestamp(t) => Some(&t.prev),
        }
    }
}

/// A line taken apart.
#[derive(Clone, Debug)]
pub struct ParsedLine {
    /// The record's JSON followed by `\n`: what an event's signature signs
    /// (what `cut -f1` prints for the line).
    pub message: Vec<u8>,
    /// The decoded proof: an SSHSIG blob or a DER time-stamp token.
    pub proof: Vec<u8>,
    /// The record.
    pub record: Record,
}

/// SHA-256 (hex) of a whole line, final `\n` included: what the next
/// record's `prev` names.
pub fn line_digest(line: &[u8]) -> String {
    hex::encode(Sha256::digest(line))
}

fn encode_line(json: &[u8], proof: &[u8]) -> Vec<u8> {
    let mut line = json.to_vec();
    line.push(b'\t');
    line.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(proof).as_bytes());
    line.push(b'\n');
    line
}

/// The JSON of an event, as signed (with its final `\n`).
pub fn event_message(event: &Event) -> Vec<u8> {
    let mut v = serde_json::to_vec(event).expect("events serialise");
    v.push(b'\n');
    v
}

/// A whole event line, given the SSHSIG blob over [`event_message`].
pub fn encode_event_line(event: &Event, signature_blob: &[u8]) -> Vec<u8> {
    encode_line(&serde_json::to_vec(event).expect("events serialise"), signature_blob)
}

/// A whole timestamp line, given the DER token.
pub fn encode_timestamp_line(record: &TimestampRecord, token: &[u8]) -> Vec<u8> {
    encode_line(&serde_json::to_vec(record).expect("records serialise"), token)
}

/// Take one line apart (without its final `\n`). The error says what is
/// wrong with it, for a person.
pub fn parse_line(line: &[u8]) -> Result<ParsedLine, String> {
    let tab = memchr::memchr(b'\t', line).ok_or("it has no tab between the record and its proof")?;
    let (json, proof) = (&line[..tab], &line[tab + 1..]);
    if proof.contains(&b'\t') {
        return Err("it has more than one tab; a record is `JSON<tab>BASE64`".into());
    }
    let proof = base64::engine::general_purpose::STANDARD
        .decode(proof)
        .map_err(|e| format!("its proof is not base64 ({e})"))?;
    #[derive(Deserialize)]
    struct Head {
        log: Option<serde_json::Value>,
        record: Option<serde_json::Value>,
    }
    let head: Head = serde_json::from_slice(json).map_err(|e| format!("its record is not a JSON object ({e})"))?;
    match head.log.as_ref().and_then(|v| v.as_str()) {
        Some(LOG_FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "its `log` is {other:?}, a format this custody does not know (it reads {LOG_FORMAT:?})"
            ))
        }
        None => return Err(format!("it has no `log` field naming {LOG_FORMAT:?}")),
    }
    let record = match head.record.as_ref().and_then(|v| v.as_str()) {
        Some("event") => {
            let e: Event = serde_json::from_slice(json).map_err(|e| format!("its event is malformed ({e})"))?;
            Record::Event(Box::new(e))
        }
        Some("timestamp") => {
            let t: TimestampRecord = serde_json::from_slice(json).map_err(|e| format!("its timestamp record is malformed ({e})"))?;
            Record::Timestamp(t)
        }
        Some(other) => return Err(format!("its `record` is {other:?}; this custody knows `event` and `timestamp`")),
        None => return Err("it has no `record` field (`event` or `timestamp`)".into()),
    };
    let mut message = json.to_vec();
    message.push(b'\n');
    Ok(ParsedLine { message, proof, record })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event {
            log: LOG_FORMAT.into(),
            record: "event".into(),
            seq: 1,
            prev: None,
            archive: ArchiveRef {
                id: "00".repeat(16),
                chain: "11".repeat(32),
            },
            kind: "acquired".into(),
            time: "2026-11-30T10:00:00Z".into(),
            actor: Actor {
                name: "A. Responder\t\"x\"".into(),
                role: None,
                organization: Some("CSIRT".into()),
            },
            key: "SHA256:abc".into(),
            location: None,
            reason: None,
            counterpart: None,
            archive_sha256: "22".repeat(32),
            verification: None,
            note: Some("line\nbreak".into()),
        }
    }

    #[test]
    fn a_line_round_trips_and_its_json_has_no_tab_or_newline() {
        let e = event();
        let line = encode_event_line(&e, b"sig");
        assert_eq!(line.iter().filter(|&&b| b == b'\t').count(), 1);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let parsed = parse_line(&line[..line.len() - 1]).unwrap();
        assert_eq!(parsed.record, Record::Event(Box::new(e.clone())));
        assert_eq!(parsed.proof, b"sig");
        assert_eq!(parsed.message, event_message(&e));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let cases: [(&[u8], &str); 6] = [
            (b"hello", "no tab"),
            (b"{}\tAAAA\tAAAA", "more than one tab"),
            (b"{}\t!!", "not base64"),
            (b"[1]\tAAAA", "not a JSON object"),
            (b"{\"log\":\"custody-log/9\",\"record\":\"event\"}\tAAAA", "does not know"),
            (b"{\"log\":\"custody-log/1\",\"record\":\"gossip\"}\tAAAA", "`gossip`"),
        ];
        for (line, want) in cases {
            let err = parse_line(line).unwrap_err();
            assert!(err.contains(want.trim_matches('`')), "{err}");
        }
        let dup = br#"{"log":"custody-log/1","record":"timestamp","seq":1,"seq":2,"prev":"","time":"","tsa":""}	AAAA"#;
        assert!(parse_line(dup).unwrap_err().contains("duplicate"));
    }

    #[test]
    fn kinds_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.name()), Some(k));
        }
        assert_eq!(EventKind::parse("stolen"), None);
    }
}
