//! CASE/UCO JSON-LD (CASE 1.5.0, UCO 1.4.0): an `@graph` with one
//! `uco-observable:File` per evidence member, each with a FileFacet and,
//! when it has content, a ContentDataFacet holding its SHA-256, tied to the
//! archive by an ObservableRelationship `Contained_Within`; then the archive
//! as a File, custody as a Tool, and two InvestigativeActions: the
//! acquisition (from the header and seal) and this verification (its
//! verdict). The graph is written object by object, so a member is written
//! once its segment is proven and never kept.
//!
//! Every node's IRI ends in a UUID (UCO's advisory shape asks for one),
//! derived from 16 random bytes drawn once per export and the node's kind
//! and member index: two exports, even of the same archive, never name
//! their nodes alike, so their graphs can be merged without mixing the
//! facts of an intact and an altered copy.

use std::io::{self, Write};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{to_datetime, ArchiveFacts, FormatWriter, Row, TimeKind};
use crate::format::doc::HeaderDoc;
use crate::verify::Report;

/// The prefixes the graph uses: CASE 1.x and UCO 1.x namespaces.
fn context() -> Value {
    json!({
        "case-investigation": "https://ontology.caseontology.org/case/investigation/",
        "kb": KB_NAMESPACE,
        "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
        "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
        "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
        "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
        "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
        "xsd": "http://www.w3.org/2001/XMLSchema#"
    })
}

/// Where the graph's own nodes are named.
const KB_NAMESPACE: &str = "urn:custody:kb:";

/// Names the archive when its header could not be read.
const NO_ARCHIVE_ID: &str = "unknown";

pub(super) struct Case {
    facts: ArchiveFacts,
    header: Option<HeaderDoc>,
    archive_id: String,
    /// Random bytes of this export, from which node IRIs are derived.
    seed: [u8; 16],
    objects: u64,
}

impl Case {
    pub(super) fn new(facts: ArchiveFacts) -> Self {
        Case {
            facts,
            header: None,
            archive_id: NO_ARCHIVE_ID.into(),
            seed: {
                use rand_core::RngCore as _;
                let mut seed = [0; 16];
                rand_core::OsRng.fill_bytes(&mut seed);
                seed
            },
            objects: 0,
        }
    }

    /// The IRI of a node: `kb:KIND-UUID`, the UUID derived from this
    /// export's seed, the kind and `n` (a member's index, or 0).
    fn iri(&self, kind: &str, n: u64) -> String {
        format!("kb:{kind}-{}", derived_uuid(&self.seed, kind, n))
    }

    fn write(&mut self, out: &mut dyn Write, node: &Value) -> io::Result<()> {
        if self.objects > 0 {
            out.write_all(b",\n")?;
        }
        self.objects += 1;
        serde_json::to_writer(&mut *out, node)?;
        Ok(())
    }

    fn file_node(&self, row: &Row<'_>) -> Value {
        let n = row.meta().index;
        let path = row.path_text();
        let name = path.rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or("/");
        let mut facet = Map::new();
        facet.insert("@id".into(), self.iri("file-facet", n).into());
        facet.insert("@type".into(), "uco-observable:FileFacet".into());
        facet.insert("uco-observable:fileName".into(), name.into());
        facet.insert("uco-observable:filePath".into(), path.as_str().into());
        facet.insert("uco-observable:isDirectory".into(), (row.type_char() == 'd').into());
        facet.insert("uco-observable:sizeInBytes".into(), integer(row.meta().size));
        for (kind, t) in row.times() {
            let Some(when) = to_datetime(t).and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok()) else {
                continue;
            };
            let property = match kind {
                TimeKind::Modified => "uco-observable:modifiedTime",
                TimeKind::Accessed => "uco-observable:accessedTime",
                TimeKind::Changed => "uco-observable:metadataChangeTime",
                TimeKind::Born => "uco-observable:observableCreatedTime",
            };
            facet.insert(property.into(), json!({"@type": "xsd:dateTime", "@value": when}));
        }
        let mut facets = vec![Value::Object(facet)];
        if let Some(sha) = row.sha256() {
            facets.push(json!({
                "@id": self.iri("content-data-facet", n),
                "@type": "uco-observable:ContentDataFacet",
                "uco-observable:sizeInBytes": integer(row.meta().size),
                "uco-observable:hash": [sha256_node(self.iri("hash", n), sha)]
            }));
        }
        json!({
            "@id": self.iri("file", n),
            "@type": "uco-observable:File",
            "uco-core:description": describe(row),
            "uco-core:hasFacet": facets
        })
    }
}

impl FormatWriter for Case {
    fn begin(&mut self, out: &mut dyn Write, header: Option<&HeaderDoc>) -> io::Result<()> {
        if let Some(h) = header {
            self.archive_id = h.archive_id.clone();
            self.header = Some(h.clone());
        }
        out.write_all(b"{\"@context\":")?;
        serde_json::to_writer(&mut *out, &context())?;
        out.write_all(b",\n\"@graph\":[\n")
    }

    fn member(&mut self, out: &mut dyn Write, row: &Row<'_>) -> io::Result<()> {
        let n = row.meta().index;
        let file = self.file_node(row);
        self.write(out, &file)?;
        let relationship = json!({
            "@id": self.iri("relationship", n),
            "@type": "uco-observable:ObservableRelationship",
            "uco-core:source": {"@id": self.iri("file", n)},
            "uco-core:target": {"@id": self.iri("archive", 0)},
            "uco-core:kindOfRelationship": "Contained_Within",
            "uco-core:isDirectional": true
        });
        self.write(out, &relationship)
    }

    fn finish(&mut self, out: &mut dyn Write, report: &Report) -> io::Result<()> {
        let archive = self.iri("archive", 0);
        let tool = self.iri("tool", 0);
        let mut facets = Vec::new();
        if let Some(name) = &self.facts.file_name {
            facets.push(json!({
                "@id": self.iri("archive-file-facet", 0),
                "@type": "uco-observable:FileFacet",
                "uco-observable:fileName": name
            }));
        }
        if let Some(sha) = &report.input_sha256 {
            facets.push(json!({
                "@id": self.iri("archive-content-data-facet", 0),
                "@type": "uco-observable:ContentDataFacet",
                "uco-observable:hash": [sha256_node(self.iri("archive-hash", 0), sha)]
            }));
        }
        let mut node = json!({
            "@id": archive,
            "@type": "uco-observable:File",
            "uco-core:description": format!("custody archive {}: verdict {}", self.archive_id, report.verdict.name()),
        });
        if !facets.is_empty() {
            node["uco-core:hasFacet"] = facets.into();
        }
        self.write(out, &node)?;
        let tool_node = json!({
            "@id": tool,
            "@type": "uco-tool:Tool",
            "uco-core:name": "custody",
            "uco-tool:version": env!("CARGO_PKG_VERSION")
        });
        self.write(out, &tool_node)?;
        if let Some(h) = self.header.clone() {
            let acquisition = self.acquisition(&h, report, &archive);
            self.write(out, &acquisition)?;
        }
        let verification = json!({
            "@id": self.iri("verification", 0),
            "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": "verification",
            "uco-core:description": verification_text(report),
            "uco-action:instrument": {"@id": tool},
            "uco-action:object": [{"@id": archive}]
        });
        self.write(out, &verification)?;
        out.write_all(b"\n]}\n")
    }
}

impl Case {
    /// The acquisition, as the archive's header and seal state it.
    fn acquisition(&self, h: &HeaderDoc, report: &Report, archive: &str) -> Value {
        let mut said = vec![format!(
            "collected by {} {} from host {}",
            h.tool.name,
            h.tool.version,
            h.host.hostname.as_deref().unwrap_or("?")
        )];
        for (what, v) in [
            ("case", &h.case.case),
            ("examiner", &h.case.examiner),
            ("evidence", &h.case.evidence_id),
            ("note", &h.case.note),
        ] {
            if let Some(v) = v {
                said.push(format!("{what} {v}"));
            }
        }
        let sources: Vec<String> = h.sources.iter().map(|s| s.display()).collect();
        said.push(format!("sources {}", sources.join(" ")));
        said.push(format!("signer {}", h.signer.fingerprint));
        let mut node = json!({
            "@id": self.iri("acquisition", 0),
            "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": "acquisition",
            "uco-core:description": said.join("; "),
            "uco-action:instrument": {"@id": self.iri("tool", 0)},
            "uco-action:result": [{"@id": archive}]
        });
        if let Some(start) = normalised_time(&h.start_time) {
            node["uco-action:startTime"] = json!({"@type": "xsd:dateTime", "@value": start});
        }
        if let Some(end) = report.seal.as_ref().and_then(|s| normalised_time(&s.end_time)) {
            node["uco-action:endTime"] = json!({"@type": "xsd:dateTime", "@value": end});
        }
        node
    }
}

/// An RFC 3339 time from a document, if it is one (the documents are
/// attacker-controlled; an invalid `xsd:dateTime` would fail validation).
fn normalised_time(s: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(s, &Rfc3339).ok()?.format(&Rfc3339).ok()
}

/// What the verification found, in words.
fn verification_text(report: &Report) -> String {
    let t = &report.proven.totals;
    format!(
        "custody {} verified the archive: verdict {}; {} checkpoints proven{}, {} evidence members and {} content bytes proven, {} members not proven",
        env!("CARGO_PKG_VERSION"),
        report.verdict.name(),
        report.proven.checkpoints,
        if report.sealed { " (sealed)" } else { "" },
        t.evidence_members,
        t.content_bytes,
        report.unproven_members
    )
}

/// A member's facts that have no UCO property here, and its proof.
fn describe(row: &Row<'_>) -> String {
    let meta = row.meta();
    let mut s = format!("custody proof: {}", row.proof());
    if let Some(why) = row.proof_detail() {
        s += &format!(" ({why})");
    }
    s += &format!("; collection status: {}", row.status());
    if let Some(d) = row.detail() {
        s += &format!(" ({d})");
    }
    s += &format!(
        "; type {}; mode {}; uid {}; gid {}",
        meta.kind.name(),
        row.mode_string(),
        meta.uid,
        meta.gid
    );
    if let Some(u) = &meta.uname {
        s += &format!("; owner {u}");
    }
    if let Some(g) = &meta.gname {
        s += &format!("; group {g}");
    }
    if let Some(t) = row.symlink_target() {
        s += &format!("; symlink to {}", String::from_utf8_lossy(t));
    }
    if let Some(t) = row.hardlink_target() {
        s += &format!("; hard link to {}", String::from_utf8_lossy(&t));
    }
    if let Some(b64) = row.path_b64() {
        s += &format!("; path bytes (base64) {b64}");
    }
    if let Some(id) = row.archive_id {
        s += &format!("; archive {id}");
    }
    s
}

fn integer(n: u64) -> Value {
    json!({"@type": "xsd:integer", "@value": n.to_string()})
}

fn sha256_node(id: String, hex: &str) -> Value {
    json!({
        "@id": id,
        "@type": "uco-types:Hash",
        "uco-types:hashMethod": "SHA256",
        "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": hex}
    })
}

/// A UUID in version 4 form whose bits are the first of SHA-256 over a
/// random seed, a node kind and a number: random, as version 4 says.
fn derived_uuid(seed: &[u8; 16], kind: &str, n: u64) -> String {
    let mut h = Sha256::new();
    for part in [&seed[..], kind.as_bytes(), &n.to_be_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    let mut b: [u8; 16] = h.finalize()[..16].try_into().expect("16 of 32 bytes");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_have_the_version_4_form_and_differ() {
        let seed = [7; 16];
        let a = derived_uuid(&seed, "file", 1);
        let b = derived_uuid(&seed, "file", 2);
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(a, derived_uuid(&seed, "hash", 1));
        assert_ne!(a, derived_uuid(&[8; 16], "file", 1));
    }
}
