//! Login records made by the real `utmpdump -r` (util-linux), read back by
//! the clue reader; and this machine's own wtmp/btmp, if any.

use std::io::Write;
use std::process::{Command, Stdio};

use custody::clues::{ClueReader, Clues};

/// Binary utmp records from `utmpdump` text, by `utmpdump -r`.
fn undump(text: &str) -> Vec<u8> {
    let mut child = Command::new("utmpdump")
        .arg("-r")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("utmpdump (util-linux) is needed: install util-linux");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "utmpdump -r failed");
    out.stdout
}

/// Reads members in chunks of `chunk` bytes; every member proven.
fn read(members: &[(&str, &[u8])], chunk: usize) -> Clues {
    let mut r = ClueReader::new();
    for (i, (path, bytes)) in members.iter().enumerate() {
        assert!(r.begin(i as u64, path.as_bytes(), 0), "{path} not read");
        for part in bytes.chunks(chunk) {
            r.data(part);
        }
        r.end();
    }
    for i in 0..members.len() {
        r.settle(i as u64, true);
    }
    r.finish()
}

const WTMP: &str = "\
[2] [00000] [~~  ] [reboot  ] [~           ] [6.1.0-13-amd64      ] [0.0.0.0        ] [2026-11-29T08:00:00,000000+00:00]
[7] [00612] [tty1] [root    ] [tty1        ] [                    ] [0.0.0.0        ] [2026-11-29T08:05:00,000000+00:00]
[7] [04211] [ts/0] [deploy  ] [pts/0       ] [203.0.113.50        ] [203.0.113.50   ] [2026-11-30T00:01:44,123456+00:00]
[8] [04211] [    ] [        ] [pts/0       ] [                    ] [0.0.0.0        ] [2026-11-30T00:20:00,000000+00:00]
[7] [04300] [ts/1] [sysupd  ] [pts/1       ] [                    ] [2001:db8::23   ] [2026-11-30T00:09:30,000000+00:00]
[7] [04400] [ts/1] [deploy  ] [pts/1       ] [203.0.113.50        ] [203.0.113.50   ] [2026-11-30T02:00:00,000000+00:00]
";

const BTMP: &str = "\
[6] [05000] [    ] [admin   ] [ssh:notty   ] [203.0.113.50        ] [203.0.113.50   ] [2026-11-29T23:58:03,000000+00:00]
[6] [05001] [    ] [root    ] [ssh:notty   ] [203.0.113.50        ] [203.0.113.50   ] [2026-11-29T23:58:09,000000+00:00]
[6] [05002] [    ] [root    ] [ssh:notty   ] [203.0.113.50        ] [203.0.113.50   ] [2026-11-29T23:58:15,000000+00:00]
";

/// A login row: outcome, user, source, method, count, first, last.
type Row<'a> = (&'a str, &'a str, &'a str, &'a str, u64, Option<&'a str>, Option<&'a str>);

fn rows(c: &Clues) -> Vec<Row<'_>> {
    c.logins
        .iter()
        .map(|l| {
            (
                l.outcome,
                l.user.as_str(),
                l.source.as_str(),
                l.method.as_str(),
                l.count,
                l.first.as_deref(),
                l.last.as_deref(),
            )
        })
        .collect()
}

#[test]
fn wtmp_and_btmp_from_utmpdump() {
    let wtmp = undump(WTMP);
    let btmp = undump(BTMP);
    assert_eq!((wtmp.len(), btmp.len()), (6 * 384, 3 * 384));
    // Chunks that cut records anywhere, then whole records, read the same.
    for chunk in [1, 100, 383, 384, 385, 4096] {
        let c = read(&[("var/log/wtmp", &wtmp), ("/var/log/btmp.1", &btmp)], chunk);
        assert_eq!(
            rows(&c),
            [
                (
                    "accepted",
                    "deploy",
                    "203.0.113.50",
                    "wtmp",
                    2,
                    Some("2026-11-30T00:01:44.123456Z"),
                    Some("2026-11-30T02:00:00Z")
                ),
                (
                    "accepted",
                    "sysupd",
                    "2001:db8::23",
                    "wtmp",
                    1,
                    Some("2026-11-30T00:09:30Z"),
                    Some("2026-11-30T00:09:30Z")
                ),
                (
                    "failed",
                    "root",
                    "203.0.113.50",
                    "btmp",
                    2,
                    Some("2026-11-29T23:58:09Z"),
                    Some("2026-11-29T23:58:15Z")
                ),
                (
                    "failed",
                    "admin",
                    "203.0.113.50",
                    "btmp",
                    1,
                    Some("2026-11-29T23:58:03Z"),
                    Some("2026-11-29T23:58:03Z")
                ),
                (
                    "accepted",
                    "root",
                    "local:tty1",
                    "wtmp",
                    1,
                    Some("2026-11-29T08:05:00Z"),
                    Some("2026-11-29T08:05:00Z")
                ),
            ],
            "chunks of {chunk}"
        );
        let logs: Vec<_> = c
            .logs
            .iter()
            .map(|l| (l.kind, l.lines, l.matched, l.skipped, l.note.clone()))
            .collect();
        assert_eq!(logs, [("wtmp", 6, 4, 0, None), ("btmp", 3, 3, 0, None)]);
        assert!(c.logins.iter().all(|l| l.proven));
    }
}

#[test]
fn a_partial_record_is_counted_and_noted() {
    let mut wtmp = undump(WTMP);
    wtmp.truncate(5 * 384 + 100);
    let c = read(&[("var/log/wtmp.1", &wtmp)], 512);
    let log = &c.logs[0];
    assert_eq!((log.lines, log.matched, log.skipped), (5, 3, 1));
    assert_eq!(
        log.note.as_deref(),
        Some("ends with a partial record of 100 bytes (records are 384 bytes), not read")
    );
}

#[test]
fn bytes_of_another_layout_are_skipped_not_read_as_logins() {
    // A text file named wtmp: its "records" have no utmp type.
    let text = "this is not a utmp file\n".repeat(32);
    let c = read(&[("var/log/wtmp", text.as_bytes())], 4096);
    let log = &c.logs[0];
    assert_eq!((log.lines, log.matched, log.skipped), (2, 0, 2));
    assert!(c.logins.is_empty());
    assert!(log.note.as_deref().unwrap().contains("2 records of no utmp type"));
}

/// This machine's own login records, when it has any: every record parses.
#[test]
fn this_machines_wtmp_and_btmp_parse() {
    for path in ["/var/log/wtmp", "/var/log/btmp"] {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        let c = read(&[(path, &bytes)], 64 * 1024);
        let log = &c.logs[0];
        assert_eq!(log.lines, bytes.len() as u64 / 384, "{path}");
        assert_eq!((log.skipped, log.note.as_deref()), (0, None), "{path}");
    }
}
