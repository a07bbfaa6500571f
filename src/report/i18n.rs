//! The report's languages: every sentence comes from a Fluent catalog
//! (`locales/LANG/report.ftl`, built in), and dates and numbers are written
//! in the reader's convention with the time zone stated.

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

const EN: &str = include_str!("locales/en/report.ftl");
const JA: &str = include_str!("locales/ja/report.ftl");

/// A language the report is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Japanese.
    Ja,
}

impl Lang {
    /// Its code: `en` or `ja`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    /// The language a code names (`en`, `ja`, `ja_JP.UTF-8`, ...), if one
    /// the report is written in.
    pub fn parse(code: &str) -> Option<Lang> {
        let base = code.split(['_', '-', '.', '@']).next()?.to_ascii_lowercase();
        match base.as_str() {
            "en" => Some(Lang::En),
            "ja" => Some(Lang::Ja),
            _ => None,
        }
    }

    /// The language of the locale (`LC_ALL`, `LC_MESSAGES`, `LANG`, the first
    /// one set), else English.
    pub fn from_environment() -> Lang {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .and_then(|s| Lang::parse(&s))
            .unwrap_or(Lang::En)
    }

    /// The offset a reader of this language expects when none is given:
    /// Japan Standard Time for Japanese, UTC otherwise.
    pub fn default_utc_offset(self) -> i32 {
        match self {
            Lang::En => 0,
            Lang::Ja => 9 * 3600,
        }
    }
}

/// An argument of a message.
pub enum Arg<'a> {
    /// Text (names, dates, formatted figures).
    Text(&'a str),
    /// A count, for plural rules; written with digit grouping.
    Count(u64),
}

/// A language's messages.
pub struct Catalog {
    lang: Lang,
    bundle: FluentBundle<FluentResource>,
}

impl Catalog {
    /// The built-in catalog of `lang`.
    pub fn new(lang: Lang) -> Catalog {
        let (id, text): (LanguageIdentifier, &str) = match lang {
            Lang::En => ("en".parse().expect("en is a language id"), EN),
            Lang::Ja => ("ja".parse().expect("ja is a language id"), JA),
        };
        // The catalogs are built in: a syntax error is a bug the unit tests catch.
        let resource = FluentResource::try_new(text.to_string()).unwrap_or_else(|(_, e)| panic!("{} catalog: {e:?}", lang.code()));
        let mut bundle = FluentBundle::new(vec![id]);
        // No Unicode isolation marks around arguments: the report is
        // left-to-right, and marks would show in copied text.
        bundle.set_use_isolating(false);
        bundle
            .add_resource(resource)
            .unwrap_or_else(|e| panic!("{} catalog: {e:?}", lang.code()));
        Catalog { lang, bundle }
    }

    /// Its language.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// Message `id` without arguments.
    pub fn t(&self, id: &str) -> String {
        self.f(id, &[])
    }

    /// Message `id` with `args`. A message missing from the catalog shows
    /// as its id (the unit tests check that none is missing).
    pub fn f(&self, id: &str, args: &[(&str, Arg)]) -> String {
        let Some(pattern) = self.bundle.get_message(id).and_then(|m| m.value()) else {
            return format!("[{id}]");
        };
        let mut fargs = FluentArgs::new();
        for (name, arg) in args {
            match arg {
                Arg::Text(s) => fargs.set(*name, FluentValue::from(*s)),
                Arg::Count(n) => {
                    // The number selects the plural form; `NAME-text` is it written out.
                    fargs.set(*name, FluentValue::from(*n as f64));
                    fargs.set(format!("{name}-text"), FluentValue::from(group_digits(*n)));
                }
            }
        }
        let mut errors = Vec::new();
        let text = self.bundle.format_pattern(pattern, Some(&fargs), &mut errors);
        text.into_owned()
    }

    /// A time (seconds since the epoch) in the reader's convention, in the
    /// zone `offset` seconds east of UTC, with the zone stated:
    /// `30 Nov 2026 10:00 UTC`, `2026年11月30日 19:00 JST`.
    pub fn datetime(&self, secs: i64, offset: i32) -> String {
        let Some(t) = local(secs, offset) else {
            return secs.to_string();
        };
        let zone = zone_name(self.lang, offset);
        match self.lang {
            Lang::En => format!(
                "{} {} {} {:02}:{:02} {zone}",
                t.day(),
                MONTHS[t.month() as usize - 1],
                t.year(),
                t.hour(),
                t.minute()
            ),
            Lang::Ja => format!(
                "{}年{}月{}日 {:02}:{:02} {zone}",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute()
            ),
        }
    }

    /// A date without time, for axis labels: `30 Nov`, `11月30日`.
    pub fn short_date(&self, secs: i64, offset: i32) -> String {
        let Some(t) = local(secs, offset) else {
            return secs.to_string();
        };
        match self.lang {
            Lang::En => format!("{} {}", t.day(), MONTHS[t.month() as usize - 1]),
            Lang::Ja => format!("{}月{}日", t.month() as u8, t.day()),
        }
    }

    /// An RFC 3339 time as [`Catalog::datetime`] writes it; text that is
    /// not one is shown as it is.
    pub fn datetime_text(&self, rfc3339: &str, offset: i32) -> String {
        match crate::format::doc::rfc3339_secs(rfc3339) {
            Some(secs) => self.datetime(secs, offset),
            None => rfc3339.to_string(),
        }
    }

    /// A byte count: `1.5 MB` (decimal units, as the reader's disks say).
    pub fn bytes(&self, n: u64) -> String {
        const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
        if n < 1000 {
            return self.f("bytes", &[("n", Arg::Count(n))]);
        }
        let mut v = n as f64 / 1000.0;
        let mut unit = 0;
        while v >= 1000.0 && unit < UNITS.len() - 1 {
            v /= 1000.0;
            unit += 1;
        }
        format!("{v:.1} {}", UNITS[unit])
    }

    /// A count with digit grouping: `12,345`.
    pub fn count(&self, n: u64) -> String {
        group_digits(n)
    }
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

fn local(secs: i64, offset: i32) -> Option<time::OffsetDateTime> {
    let off = time::UtcOffset::from_whole_seconds(offset).ok()?;
    Some(time::OffsetDateTime::from_unix_timestamp(secs).ok()?.to_offset(off))
}

/// The zone's name: `UTC`, `JST` for Japanese readers at +09:00, else
/// `UTC+HH:MM`.
pub fn zone_name(lang: Lang, offset: i32) -> String {
    match (lang, offset) {
        (_, 0) => "UTC".into(),
        (Lang::Ja, 32_400) => "JST".into(),
        _ => format!("UTC{}", super::build::offset_text(offset)),
    }
}

fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Parse `+HH:MM`, `-HH:MM`, `Z` or `UTC` into seconds east of UTC.
pub fn parse_offset(text: &str) -> Option<i32> {
    if text.eq_ignore_ascii_case("z") || text.eq_ignore_ascii_case("utc") {
        return Some(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 23 && m <= 59 && h >= 0 && m >= 0).then_some(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids a catalog defines.
    fn ids(text: &str) -> Vec<String> {
        text.lines()
            .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .filter_map(|l| l.split_once(" =").map(|(id, _)| id.trim().to_string()))
            .collect()
    }

    #[test]
    fn both_catalogs_define_the_same_messages() {
        let (mut en, mut ja) = (ids(EN), ids(JA));
        en.sort();
        ja.sort();
        assert!(en.len() > 50, "the English catalog has {} messages", en.len());
        assert_eq!(en, ja);
        for lang in [Lang::En, Lang::Ja] {
            let c = Catalog::new(lang);
            for id in &en {
                assert!(!c.t(id).starts_with('['), "{} lacks {id}", lang.code());
            }
        }
    }

    #[test]
    fn dates_follow_the_readers_convention_and_name_the_zone() {
        // 2026-11-30T10:00:00Z
        let t = 1_796_032_800;
        assert_eq!(Catalog::new(Lang::En).datetime(t, 0), "30 Nov 2026 10:00 UTC");
        assert_eq!(Catalog::new(Lang::Ja).datetime(t, 9 * 3600), "2026年11月30日 19:00 JST");
        assert_eq!(Catalog::new(Lang::En).datetime(t, 9 * 3600), "30 Nov 2026 19:00 UTC+09:00");
        assert_eq!(Catalog::new(Lang::Ja).datetime(t, 0), "2026年11月30日 10:00 UTC");
    }

    #[test]
    fn plurals_and_grouping() {
        let en = Catalog::new(Lang::En);
        assert_eq!(en.f("bytes", &[("n", Arg::Count(1))]), "1 byte");
        assert_eq!(en.f("bytes", &[("n", Arg::Count(2))]), "2 bytes");
        assert_eq!(en.count(1_234_567), "1,234,567");
        assert_eq!(en.bytes(1_500_000), "1.5 MB");
    }

    #[test]
    fn locales_and_offsets_parse() {
        assert_eq!(Lang::parse("ja_JP.UTF-8"), Some(Lang::Ja));
        assert_eq!(Lang::parse("en_GB"), Some(Lang::En));
        assert_eq!(Lang::parse("C"), None);
        assert_eq!(parse_offset("+09:00"), Some(32_400));
        assert_eq!(parse_offset("-05:30"), Some(-19_800));
        assert_eq!(parse_offset("UTC"), Some(0));
        assert_eq!(parse_offset("9"), None);
    }
}
