//! The report as one self-contained HTML page: inline styles and pictures,
//! no scripts, no outside resources, and a Content Security Policy that
//! would stop any script anyway. Written with maud, which escapes every
//! value: archived names are attacker-controlled and render as text.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::i18n::{Arg, Catalog};
use super::model::*;

const CSS: &str = include_str!("report.css");

/// Content Security Policy of the page: nothing but its own inline styles
/// and `data:` images.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// The page of `doc` in `cat`'s language, times in zone `offset`.
pub fn render(doc: &ReportDoc, cat: &Catalog, offset: i32) -> String {
    let page = Page { doc, cat, offset };
    page.page().into_string()
}

struct Page<'a> {
    doc: &'a ReportDoc,
    cat: &'a Catalog,
    offset: i32,
}

impl Page<'_> {
    fn t(&self, id: &str) -> String {
        self.cat.t(id)
    }

    fn f(&self, id: &str, args: &[(&str, Arg)]) -> String {
        self.cat.f(id, args)
    }

    fn when(&self, rfc3339: &str) -> String {
        self.cat.datetime_text(rfc3339, self.offset)
    }

    /// The mark of a figure that rests on `unproven` members that no
    /// verified checkpoint proves.
    fn mark(&self, unproven: u64) -> Markup {
        html! {
            @if unproven > 0 {
                span class="mark" title=(self.f("mark-title", &[("n", Arg::Count(unproven))])) { "†" }
            }
        }
    }

    fn page(&self) -> Markup {
        let d = self.doc;
        let title = match &d.evidence.case {
            Some(c) => self.f("title", &[("case", Arg::Text(c))]),
            None => self.t("title-no-case"),
        };
        html! {
            (DOCTYPE)
            html lang=(d.language) {
                head {
                    meta charset="utf-8";
                    meta http-equiv="Content-Security-Policy" content=(CSP);
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) }
                    style { (PreEscaped(CSS)) }
                }
                body {
                    (self.verdict())
                    (self.findings())
                    (self.form())
                    (self.custody())
                    (self.coverage())
                    (self.activity())
                    (self.persistence())
                    (self.clues())
                    (self.footer())
                }
            }
        }
    }

    fn verdict(&self) -> Markup {
        let v = &self.doc.verdict;
        let unproven = v.members - v.proven_members;
        let fp = self.doc.evidence.signer.as_ref().map(|s| s.fingerprint.as_str()).unwrap_or("?");
        let args = [
            ("members", Arg::Count(v.members)),
            ("proven", Arg::Count(v.proven_members)),
            ("unproven", Arg::Count(unproven)),
            ("altered", Arg::Count(v.altered_members)),
            ("checkpoints", Arg::Count(v.checkpoints)),
            ("fingerprint", Arg::Text(fp)),
        ];
        html! {
            header id="verdict" class=(format!("verdict {}", v.verdict)) data-verdict=(v.verdict) data-situation=(v.situation) {
                p id="reliance" class="reliance" { (self.f(&format!("reliance-{}", v.situation), &args)) }
                h1 { (self.t(&format!("verdict-{}", v.verdict))) span class="code" { " (" (v.verdict) ")" } }
                p { (self.f(&format!("meaning-{}", v.situation), &args)) }
                ul class="facts" {
                    li { (self.f("fact-proven", &args)) }
                    @if unproven > 0 {
                        li { (self.f("fact-unproven", &args)) }
                    }
                    @if v.altered_members > 0 {
                        li { (self.f("fact-altered", &args)) }
                    }
                    li { (self.t(if v.sealed { "fact-sealed" } else { "fact-not-sealed" })) }
                }
            }
        }
    }

    fn findings(&self) -> Markup {
        let f = &self.doc.findings;
        let log_rows = self.doc.custody_log.as_ref().map(|l| l.findings.as_slice()).unwrap_or(&[]);
        html! {
            section id="findings" {
                h2 { (self.t("h-findings")) }
                @if f.rows.is_empty() && log_rows.is_empty() {
                    p { (self.t("findings-none")) }
                } @else {
                    p { (self.t("findings-intro")) }
                    table {
                        thead { tr { th { (self.t("col-level")) } th { (self.t("col-finding")) } th { (self.t("col-where")) } } }
                        tbody {
                            @for r in f.rows.iter().chain(log_rows) {
                                tr class=(r.level) {
                                    td { (self.t(&format!("level-{}", r.level))) }
                                    td { (self.t(&format!("finding-{}", r.kind))) br; span class="code" { (r.kind) } }
                                    td {
                                        @if let Some(m) = &r.member { span class="path" { (m) } br; }
                                        @if let Some(c) = r.checkpoint { (self.f("where-checkpoint", &[("n", Arg::Count(c))])) }
                                        @if let Some(l) = r.line { (self.f("where-log-line", &[("n", Arg::Count(l))])) }
                                    }
                                }
                            }
                        }
                    }
                    @if f.total > f.rows.len() as u64 {
                        p { (self.f("findings-more", &[("n", Arg::Count(f.total - f.rows.len() as u64))])) }
                    }
                }
            }
        }
    }

    fn row(&self, label: &str, value: Option<&str>) -> Markup {
        html! {
            tr {
                th { (self.t(label)) }
                td { @match value { Some(v) => (v), None => span class="none" { (self.t("value-none")) } } }
            }
        }
    }

    fn form(&self) -> Markup {
        let e = &self.doc.evidence;
        let collected = match (&e.collection_start, &e.collection_end) {
            (Some(s), Some(t)) => Some(self.f(
                "collected-range",
                &[("from", Arg::Text(&self.when(s))), ("to", Arg::Text(&self.when(t)))],
            )),
            (Some(s), None) => Some(self.f("collected-open", &[("from", Arg::Text(&self.when(s)))])),
            _ => None,
        };
        let host = e.hostname.as_ref().map(|h| match (&e.kernel, &e.machine) {
            (Some(k), Some(m)) => format!("{h} ({k}, {m})"),
            (Some(k), None) => format!("{h} ({k})"),
            _ => h.clone(),
        });
        html! {
            section id="form" {
                h2 { (self.t("h-form")) }
                p { (self.t("form-intro")) }
                table class="form" {
                    (self.row("form-case", e.case.as_deref()))
                    (self.row("form-evidence-id", e.evidence_id.as_deref()))
                    (self.row("form-examiner", e.examiner.as_deref()))
                    (self.row("form-note", e.note.as_deref()))
                    (self.row("form-host", host.as_deref()))
                    (self.row("form-machine-id", e.machine_id.as_deref()))
                    (self.row("form-sources", (!e.sources.is_empty()).then(|| e.sources.join("  ")).as_deref()))
                    @if !e.excludes.is_empty() {
                        (self.row("form-excludes", Some(&e.excludes.join("  "))))
                    }
                    (self.row("form-collected", collected.as_deref()))
                    tr id="signer" {
                        th { (self.t("form-signer")) }
                        td {
                            @match &e.signer {
                                Some(s) => {
                                    span class="hash" { (s.fingerprint) } br;
                                    (self.t(&format!("key-source-{}", s.source)))
                                    br;
                                    @match &s.trusted_as {
                                        Some(a) => span class="ok" { (self.f("signer-trusted", &[("anchor", Arg::Text(a))])) },
                                        None => span class="bad" { (self.t("signer-untrusted")) },
                                    }
                                }
                                None => span class="none" { (self.t("value-none")) },
                            }
                        }
                    }
                    tr id="archive-sha256" {
                        th { (self.t("form-archive-sha256")) }
                        td {
                            @match &e.archive_sha256 { Some(h) => span class="hash" { (h) }, None => span class="none" { (self.t("value-none")) } }
                            br;
                            @match &e.archive_sha256_recorded {
                                Some(r) if r.matches => span class="ok" { (self.t(&format!("sha256-matches-{}", r.source))) },
                                Some(r) => span class="bad" { (self.f(&format!("sha256-differs-{}", r.source), &[("expected", Arg::Text(&r.expected))])) },
                                None => (self.t("sha256-not-recorded")),
                            }
                        }
                    }
                    tr id="chain" {
                        th { (self.t("form-chain")) }
                        td {
                            @match &e.chain { Some(c) => span class="hash" { (c) }, None => span class="none" { (self.t("value-none")) } }
                            br; (self.t("chain-explained"))
                        }
                    }
                    (self.row("form-archive-id", e.archive_id.as_deref()))
                    (self.row("form-collector", e.collector_version.as_deref()))
                }
                (self.timestamps())
            }
        }
    }

    fn timestamps(&self) -> Markup {
        let ts = &self.doc.archive_timestamps;
        html! {
            h3 { (self.t("h-timestamps")) }
            @if ts.is_empty() {
                p { (self.t("timestamps-none")) }
            } @else {
                p { (self.t("timestamps-intro")) }
                table {
                    thead { tr { th { (self.t("col-checkpoint")) } th { (self.t("col-trusted-time")) } th { (self.t("col-tsa")) } th { (self.t("col-status")) } } }
                    tbody {
                        @for t in ts {
                            tr {
                                td { (t.checkpoint) }
                                td { (t.trusted_time.as_deref().map(|x| self.when(x)).unwrap_or_default()) }
                                td { (t.tsa.as_deref().unwrap_or("")) }
                                td { (self.t(&format!("ts-status-{}", t.status))) }
                            }
                        }
                    }
                }
            }
        }
    }

    fn custody(&self) -> Markup {
        html! {
            section id="custody" {
                h2 { (self.t("h-custody")) }
                @match &self.doc.custody_log {
                    None => p { (self.t("custody-none")) },
                    Some(log) => {
                        p { (self.f("custody-intro", &[("file", Arg::Text(&log.file)), ("n", Arg::Count(log.records.len() as u64))])) }
                        p class=(if log.intact { "ok" } else { "bad" }) { (self.t(if log.intact { "custody-intact" } else { "custody-broken" })) }
                        table {
                            thead { tr { th { (self.t("col-line")) } th { (self.t("col-time")) } th { (self.t("col-event")) } th { (self.t("col-who")) } th { (self.t("col-details")) } th { (self.t("col-signature")) } } }
                            tbody {
                                @for r in &log.records { (self.custody_row(r)) }
                            }
                        }
                        @if let Some(h) = &log.head {
                            p { (self.t("custody-head")) " " span class="hash" { (h) } }
                        }
                    }
                }
            }
        }
    }

    fn custody_row(&self, r: &CustodyRecord) -> Markup {
        let who = [r.actor.as_deref(), r.role.as_deref(), r.organization.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        let details = [
            ("detail-location", &r.location),
            ("detail-counterpart", &r.counterpart),
            ("detail-reason", &r.reason),
            ("detail-note", &r.note),
            ("detail-verdict", &r.recorded_verdict),
        ];
        html! {
            tr {
                td { (r.line) }
                td { (self.when(&r.time)) }
                td { (self.t(&format!("event-{}", r.kind))) }
                td { (who) }
                td {
                    @for (id, v) in details {
                        @if let Some(v) = v { (self.f(id, &[("value", Arg::Text(v))])) br; }
                    }
                    @if r.record == "timestamp" {
                        (self.f("detail-trusted-time", &[
                            ("time", Arg::Text(&r.trusted_time.as_deref().map(|t| self.when(t)).unwrap_or_default())),
                            ("tsa", Arg::Text(r.tsa.as_deref().unwrap_or(""))),
                        ]))
                    }
                }
                td {
                    @if r.record == "timestamp" {
                        (self.t(&format!("ts-status-{}", r.timestamp_status.as_deref().unwrap_or("invalid"))))
                    } @else if r.signature_valid != Some(true) {
                        span class="bad" { (self.t("sig-invalid")) }
                    } @else if let Some(a) = &r.trusted_as {
                        span class="ok" { (self.f("sig-trusted", &[("anchor", Arg::Text(a))])) }
                    } @else {
                        span class="warn" { (self.t("sig-untrusted")) }
                    }
                }
            }
        }
    }

    fn coverage(&self) -> Markup {
        let c = &self.doc.coverage;
        html! {
            section id="coverage" {
                h2 { (self.t("h-coverage")) }
                p {
                    (self.f("coverage-intro", &[
                        ("members", Arg::Count(c.total.count)),
                        ("files", Arg::Count(c.files.count)),
                        ("size", Arg::Text(&self.cat.bytes(c.files.bytes))),
                    ]))
                    (self.mark(c.total.unproven))
                }
                p { (self.t("areas-explained")) }
                table {
                    thead { tr { th { (self.t("col-area")) } th class="num" { (self.t("col-members")) } th class="num" { (self.t("col-files")) } th class="num" { (self.t("col-size")) } } }
                    tbody {
                        @for a in &c.areas {
                            tr {
                                td class="path" { (self.area(&a.area)) }
                                td class="num" { (self.cat.count(a.members.count)) (self.mark(a.members.unproven)) }
                                td class="num" { (self.cat.count(a.files.count)) }
                                td class="num" { (self.cat.bytes(a.files.bytes)) }
                            }
                        }
                    }
                }
                h3 { (self.t("h-not-collected")) }
                @if c.not_collected.is_empty() {
                    p { (self.t("not-collected-none")) }
                } @else {
                    table {
                        thead { tr { th { (self.t("col-reason")) } th class="num" { (self.t("col-count")) } th { (self.t("col-examples")) } } }
                        tbody {
                            @for n in &c.not_collected {
                                tr {
                                    td { (self.t(&format!("reason-{}", n.reason))) }
                                    td class="num" { (self.cat.count(n.count)) (self.mark(n.unproven)) }
                                    td {
                                        @for e in &n.examples { span class="path" { (e.path) } " " span class="detail" { (e.detail) } br; }
                                        @if n.count > n.examples.len() as u64 {
                                            (self.f("examples-more", &[("n", Arg::Count(n.count - n.examples.len() as u64))]))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn area(&self, area: &str) -> String {
        match area {
            "" => self.t("area-other"),
            "." => self.t("area-root"),
            a => format!("/{a}"),
        }
    }

    fn activity(&self) -> Markup {
        let d = self.doc;
        let w = &d.window;
        let range = [("from", Arg::Text(&self.when(&w.from))), ("to", Arg::Text(&self.when(&w.to)))];
        let unproven: u64 = d.activity.series.iter().flat_map(|s| &s.unproven).sum();
        html! {
            section id="activity" {
                h2 { (self.t("h-activity")) }
                p { (self.f(if w.default { "window-default" } else { "window-given" }, &range)) }
                p { (self.t("activity-intro")) }
                @if d.activity.series.is_empty() {
                    p { (self.t("activity-none")) }
                } @else {
                    figure { (super::svg::timeline(d, self.cat, self.offset)) }
                    @if unproven > 0 { p { (self.mark(unproven)) " " (self.f("activity-unproven", &[("n", Arg::Count(unproven))])) } }
                }
                @if d.activity.with_birth_time == 0 {
                    p { (self.t("activity-no-btime")) }
                }
            }
        }
    }

    fn persistence(&self) -> Markup {
        let p = &self.doc.persistence;
        html! {
            section id="persistence" {
                h2 { (self.t("h-persistence")) }
                p { (self.t("persistence-intro")) }
                @if p.rows.is_empty() {
                    p { (self.t("persistence-none")) }
                } @else {
                    p {
                        (self.f("persistence-count", &[("n", Arg::Count(p.total)), ("shown", Arg::Count(p.rows.len() as u64))]))
                        (self.mark(p.unproven))
                    }
                    table class="persistence" {
                        thead { tr { th { (self.t("col-changed")) } th { (self.t("col-path")) } th { (self.t("col-place")) } th { (self.t("col-owner")) } th { (self.t("col-proof")) } } }
                        tbody {
                            @for r in &p.rows {
                                tr {
                                    td { (self.when(&r.changed)) br; span class="detail" { (self.t(&format!("kind-{}", r.changed_kind))) } }
                                    td class="path" { (r.path) }
                                    td { (self.t(&format!("place-{}", r.place))) }
                                    td { (r.owner) " " span class="code" { (r.mode) } }
                                    td class=(if r.proof == "proven" { "ok" } else { "bad" }) { (self.t(&format!("proof-{}", r.proof))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn clues(&self) -> Markup {
        let c: Clues = self
            .doc
            .clues
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let read: Vec<&ClueLog> = c.logs.iter().filter(|l| l.read).collect();
        let mark = |proven: bool| self.mark(u64::from(!proven));
        let time = |t: &Option<String>| t.as_deref().map(|t| self.when(t)).unwrap_or_default();
        html! {
            section id="clues" {
                h2 { (self.t("h-clues")) }
                p { (self.t("clues-intro")) }
                @if read.is_empty() {
                    p { (self.t("clues-no-logs")) }
                } @else {
                    p { (self.f("clues-logs-read", &[("n", Arg::Count(read.len() as u64))])) }
                    ul { @for l in &read { li { span class="path" { (l.path) } " " (self.f("clues-log-lines", &[("n", Arg::Count(l.lines))])) (mark(l.proven == Some(true))) } } }
                    h3 { (self.t("h-clues-logins")) }
                    @if c.logins.is_empty() { p { (self.t("clues-none")) } } @else {
                        table {
                            thead { tr { th { (self.t("col-outcome")) } th { (self.t("col-user")) } th { (self.t("col-source")) } th { (self.t("col-method")) } th class="num" { (self.t("col-count")) } th { (self.t("col-first")) } th { (self.t("col-last")) } } }
                            tbody { @for l in &c.logins {
                                tr class=(if l.outcome == "accepted" { "accepted" } else { "failed" }) {
                                    td { (self.t(if l.outcome == "accepted" { "login-accepted" } else { "login-failed" })) (mark(l.proven)) }
                                    td { (l.user) } td class="path" { (l.source) } td class="code" { (l.method) }
                                    td class="num" { (self.cat.count(l.count)) } td { (time(&l.first)) } td { (time(&l.last)) }
                                }
                            } }
                        }
                    }
                    h3 { (self.t("h-clues-sudo")) }
                    @if c.sudo.is_empty() { p { (self.t("clues-none")) } } @else {
                        table {
                            thead { tr { th { (self.t("col-user")) } th { (self.t("col-run-as")) } th { (self.t("col-command")) } th { (self.t("col-outcome")) } th class="num" { (self.t("col-count")) } th { (self.t("col-first")) } } }
                            tbody { @for u in &c.sudo {
                                tr { td { (u.user) (mark(u.proven)) } td { (u.run_as) } td class="path" { (u.command) } td class="code" { (u.outcome) } td class="num" { (self.cat.count(u.count)) } td { (time(&u.first)) } }
                            } }
                        }
                    }
                    h3 { (self.t("h-clues-accounts")) }
                    @if c.accounts.is_empty() && c.keys.is_empty() { p { (self.t("clues-none")) } } @else {
                        table {
                            thead { tr { th { (self.t("col-time")) } th { (self.t("col-user")) } th { (self.t("col-details")) } } }
                            tbody {
                                @for a in &c.accounts {
                                    tr { td { (time(&a.time)) } td { (a.user) (mark(a.proven)) } td class="path" { (a.detail) } }
                                }
                                @for k in &c.keys {
                                    tr { td { (time(&k.first)) } td { (k.user) (mark(k.proven)) } td class="path" { (self.f("clues-key-used", &[("key", Arg::Text(&k.key)), ("source", Arg::Text(&k.source))])) } }
                                }
                            }
                        }
                    }
                    @if c.truncated { p { (self.t("clues-truncated")) } }
                }
            }
        }
    }

    fn footer(&self) -> Markup {
        let d = self.doc;
        let zone = super::i18n::zone_name(self.cat.lang(), self.offset);
        html! {
            footer {
                p { "† " (self.t("mark-explained")) }
                p { (self.f("footer-times", &[("zone", Arg::Text(&zone))])) }
                p { (self.f("footer-generated", &[("time", Arg::Text(&self.when(&d.generated))), ("version", Arg::Text(&d.tool_version))])) }
            }
        }
    }
}

/// The parts of the intrusion clues (`src/clues`, in the JSON) the page shows.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct Clues {
    logs: Vec<ClueLog>,
    logins: Vec<ClueLogin>,
    sudo: Vec<ClueSudo>,
    accounts: Vec<ClueAccount>,
    keys: Vec<ClueKey>,
    truncated: bool,
}

#[derive(serde::Deserialize)]
struct ClueLog {
    path: String,
    read: bool,
    proven: Option<bool>,
    lines: u64,
}

#[derive(serde::Deserialize)]
struct ClueLogin {
    outcome: String,
    user: String,
    source: String,
    method: String,
    count: u64,
    first: Option<String>,
    last: Option<String>,
    proven: bool,
}

#[derive(serde::Deserialize)]
struct ClueSudo {
    user: String,
    run_as: String,
    command: String,
    outcome: String,
    count: u64,
    first: Option<String>,
    proven: bool,
}

#[derive(serde::Deserialize)]
struct ClueAccount {
    user: String,
    detail: String,
    time: Option<String>,
    proven: bool,
}

#[derive(serde::Deserialize)]
struct ClueKey {
    user: String,
    key: String,
    source: String,
    first: Option<String>,
    proven: bool,
}
