//! The activity timeline picture: one lane per area, and in each bucket of
//! the window three bars, for the files modified, changed and born then.
//! Inline SVG written with maud, so every archived name is escaped.

use maud::{html, Markup};

use super::i18n::Catalog;
use super::model::{ReportDoc, Series};

/// Lanes drawn; further areas share one lane.
const LANES: usize = 10;
const LABEL_W: f64 = 150.0;
const PLOT_W: f64 = 840.0;
const LANE_H: f64 = 46.0;
const BAR_MAX: f64 = 36.0;
const TOP: f64 = 10.0;
/// Colours of mtime, ctime and btime bars (distinguishable in grey print too).
const KINDS: [(&str, &str); 3] = [("mtime", "#1f5fa8"), ("ctime", "#e08a00"), ("btime", "#2e8b57")];

/// One lane: an area (or the other areas, `None`) and its three series.
struct Lane {
    area: Option<String>,
    counts: [Vec<u64>; 3],
    unproven: [Vec<u64>; 3],
}

impl Lane {
    fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }
}

fn lanes(series: &[Series], buckets: usize) -> Vec<Lane> {
    let mut by_area: Vec<Lane> = Vec::new();
    for s in series {
        let Some(k) = KINDS.iter().position(|(kind, _)| *kind == s.kind) else {
            continue;
        };
        let area = (!s.area.is_empty()).then(|| s.area.clone());
        let i = match by_area.iter().position(|l| l.area == area) {
            Some(i) => i,
            None => {
                by_area.push(Lane {
                    area,
                    counts: std::array::from_fn(|_| vec![0; buckets]),
                    unproven: std::array::from_fn(|_| vec![0; buckets]),
                });
                by_area.len() - 1
            }
        };
        add(&mut by_area[i].counts[k], &s.counts);
        add(&mut by_area[i].unproven[k], &s.unproven);
    }
    by_area.sort_by(|a, b| b.total().cmp(&a.total()).then(a.area.cmp(&b.area)));
    if by_area.len() > LANES {
        let rest = by_area.split_off(LANES - 1);
        let mut other = Lane {
            area: None,
            counts: std::array::from_fn(|_| vec![0; buckets]),
            unproven: std::array::from_fn(|_| vec![0; buckets]),
        };
        for l in rest {
            for k in 0..3 {
                add(&mut other.counts[k], &l.counts[k]);
                add(&mut other.unproven[k], &l.unproven[k]);
            }
        }
        by_area.push(other);
    }
    by_area
}

fn add(into: &mut [u64], from: &[u64]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

/// The picture of `doc`'s activity, times labelled in zone `offset`.
pub fn timeline(doc: &ReportDoc, cat: &Catalog, offset: i32) -> Markup {
    let a = &doc.activity;
    let lanes = lanes(&a.series, a.buckets.max(1));
    let max = lanes
        .iter()
        .flat_map(|l| l.counts.iter().flatten())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = |c: u64| BAR_MAX * ((1 + c) as f64).ln() / ((1 + max) as f64).ln();
    let bw = PLOT_W / a.buckets.max(1) as f64;
    let plot_h = TOP + LANE_H * lanes.len() as f64;
    let height = plot_h + 56.0;
    let from = crate::format::doc::rfc3339_secs(&doc.window.from).unwrap_or(0);
    let ticks = 6;
    html! {
        svg class="timeline" role="img" viewBox=(format!("0 0 {} {height}", LABEL_W + PLOT_W + 40.0)) width="100%" {
            title { (cat.t("svg-title")) }
            @for (i, lane) in lanes.iter().enumerate() {
                @let y0 = TOP + LANE_H * i as f64;
                rect x=(LABEL_W) y=(y0) width=(PLOT_W) height=(LANE_H - 4.0) fill=(if i % 2 == 0 { "#f4f6f8" } else { "#ffffff" }) {}
                text x=(LABEL_W - 8.0) y=(y0 + LANE_H / 2.0) text-anchor="end" class="lane" {
                    @match &lane.area {
                        Some(a) if a == "." => (cat.t("area-root")),
                        Some(a) => (format!("/{a}")),
                        None => (cat.t("area-other")),
                    }
                }
                @for b in 0..a.buckets {
                    @for (k, (kind, colour)) in KINDS.iter().enumerate() {
                        @let c = lane.counts[k].get(b).copied().unwrap_or(0);
                        @if c > 0 {
                            @let h = scale(c);
                            @let x = LABEL_W + bw * b as f64 + 1.0 + k as f64 * (bw - 2.0) / 3.0;
                            rect x=(fmt(x)) y=(fmt(y0 + LANE_H - 4.0 - h)) width=(fmt((bw - 2.0) / 3.0)) height=(fmt(h)) fill=(colour) {
                                title { (cat.f("svg-bar", &[("kind", super::i18n::Arg::Text(&cat.t(&format!("kind-{kind}")))), ("n", super::i18n::Arg::Count(c))])) }
                            }
                            @if lane.unproven[k].get(b).copied().unwrap_or(0) > 0 {
                                circle cx=(fmt(x + (bw - 2.0) / 6.0)) cy=(fmt(y0 + LANE_H - 8.0 - h)) r="2" fill="#c00000" class="unproven-dot" {}
                            }
                        }
                    }
                }
            }
            line x1=(LABEL_W) y1=(plot_h) x2=(LABEL_W + PLOT_W) y2=(plot_h) stroke="#333" {}
            @for t in 0..=ticks {
                @let x = LABEL_W + PLOT_W * t as f64 / ticks as f64;
                @let secs = from + (a.bucket_seconds * a.buckets as i64) * t / ticks;
                line x1=(fmt(x)) y1=(plot_h) x2=(fmt(x)) y2=(plot_h + 5.0) stroke="#333" {}
                text x=(fmt(x)) y=(plot_h + 18.0) text-anchor="middle" class="tick" { (cat.short_date(secs, offset)) }
            }
            @for (k, (kind, colour)) in KINDS.iter().enumerate() {
                @let x = LABEL_W + k as f64 * 230.0;
                rect x=(x) y=(plot_h + 32.0) width="12" height="12" fill=(colour) {}
                text x=(x + 18.0) y=(plot_h + 42.0) class="legend" { (cat.t(&format!("kind-{kind}"))) }
            }
            circle cx=(LABEL_W + 3.0 * 230.0 + 6.0) cy=(plot_h + 38.0) r="3" fill="#c00000" {}
            text x=(LABEL_W + 3.0 * 230.0 + 14.0) y=(plot_h + 42.0) class="legend" { (cat.t("svg-unproven")) }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}
