//! Fuzz targets for the metrics reader (bolero: `cargo xtask fuzz metrics_line day_file
//! rollup_file incident_line` runs them under libFuzzer; `cargo test` replays their corpus in
//! `fuzz/__fuzz__/` and random inputs).
//!
//! The properties: no line can make the reader panic or hang, and no line is lost without
//! being counted: every line of a day file is a record of its service, blank, or a counted
//! bad line, whatever surrounds it. No rollup file can make the reader panic, and one is
//! either used whole or reported unusable. No line of the incident log can make its reader
//! panic, and what it reads as an incident is written back as the same incident.

use std::collections::BTreeMap;

use time::macros::date;

use crate::incident::{self, MAX_RESTARTS};
use crate::parse::{self, Kind, Parsed};
use crate::rollup::{fast, format};
use crate::window::read_window_in_chunks;
use crate::{BadKind, UptimeReport, Window};

/// One line (as the reader hands it to the parser): the fast path, when it answers, answers
/// exactly as serde_json does, and serde_json's answer never panics.
#[test]
fn metrics_line() {
    bolero::check!().with_iterations(20_000).for_each(|bytes: &[u8]| {
        let Ok(line) = std::str::from_utf8(bytes) else { return };
        let slow = parse::slow(line);
        if let Some(fast) = parse::fast(line) {
            assert_eq!(Parsed::Record(fast), slow, "{line:?}");
        }
        assert_eq!(parse::parse(line), slow, "{line:?}");
    });
}

/// What each service's lines added up to: (up, down, other).
type Counts = BTreeMap<String, (u64, u64, u64)>;

/// The reader's contract, written out line by line with serde_json alone: lines end at `\n`,
/// a line that is not UTF-8 is bad, a lone `\r` also ends a line (Python's text mode), and an
/// unterminated last line that is not JSON is torn. Returns the counts per service and the bad
/// lines per kind.
fn expected(bytes: &[u8]) -> (Counts, BTreeMap<&'static str, u64>, u64) {
    let mut counts = Counts::new();
    let mut bad: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if bytes.ends_with(b"\n") || bytes.is_empty() {
        lines.pop();
    }
    let n = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        let last = i + 1 == n && !bytes.ends_with(b"\n");
        let Ok(text) = std::str::from_utf8(line) else {
            *bad.entry(kind_name(if last { BadKind::TornLastLine } else { BadKind::InvalidUtf8 }))
                .or_default() += 1;
            continue;
        };
        let pieces: Vec<&str> = text.split('\r').collect();
        for (j, piece) in pieces.iter().enumerate() {
            match parse::slow(piece) {
                Parsed::Blank => {}
                Parsed::Bad(BadKind::InvalidJson, _) if last && j + 1 == pieces.len() => {
                    *bad.entry(kind_name(BadKind::TornLastLine)).or_default() += 1;
                }
                Parsed::Bad(kind, _) => *bad.entry(kind_name(kind)).or_default() += 1,
                Parsed::Record(f) => {
                    let c = counts.entry(f.name.into_owned()).or_default();
                    match f.kind {
                        Kind::Up => c.0 += 1,
                        Kind::Down => c.1 += 1,
                        Kind::Recovered | Kind::Other => c.2 += 1,
                    }
                }
            }
        }
    }
    (counts, bad, n as u64)
}

fn kind_name(kind: BadKind) -> &'static str {
    match kind {
        BadKind::InvalidUtf8 => "invalid utf-8",
        BadKind::InvalidJson => "invalid json",
        BadKind::TornLastLine => "torn last line",
        BadKind::NotAnObject => "not an object",
        BadKind::WrongType => "wrong type",
        BadKind::TooLong => "too long",
    }
}

fn observed(report: &UptimeReport) -> (Counts, BTreeMap<&'static str, u64>, u64) {
    let counts = report.services.iter().map(|s| (s.name.clone(), (s.up, s.down, s.other))).collect();
    let bad = [
        BadKind::InvalidUtf8,
        BadKind::InvalidJson,
        BadKind::TornLastLine,
        BadKind::NotAnObject,
        BadKind::WrongType,
        BadKind::TooLong,
    ]
    .into_iter()
    .filter(|k| report.bad.count(*k) > 0)
    .map(|k| (kind_name(k), report.bad.count(k)))
    .collect();
    (counts, bad, report.lines)
}

/// A whole day file, read from disk with the real buffer and with a tiny one (so that lines
/// are cut at every possible place between reads): both give exactly what the line-by-line
/// contract gives. Good lines among garbage are all counted; every bad line is counted.
#[test]
fn day_file() {
    let dir = test_support::scratch_dir();
    let day = date!(2025 - 01 - 15);
    let path = crate::day_file(dir.path(), day);
    let window = Window::last_days(day, 1);
    bolero::check!().with_iterations(2_000).for_each(|bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        let want = expected(bytes);
        for chunk in [1 << 20, 1 + bytes.len() % 13] {
            let report = read_window_in_chunks(dir.path(), window, chunk).unwrap();
            assert_eq!(observed(&report), want, "chunk {chunk}: {:?}", String::from_utf8_lossy(bytes));
            assert_eq!(report.bytes, bytes.len() as u64);
            assert_eq!(report.bad.files, usize::from(report.bad.total() > 0));
        }
    });
}

/// A rollup file (`rollups/YYYY-MM-DD.json`). The fast path, when it answers, answers exactly
/// as serde_json does; a file that parses as ours re-encodes into bytes that the fast path
/// reads and that parse to the same figures (encoding is idempotent); and a window over the
/// day, with its day file gone, either uses the rollup or says the day is unreadable.
#[test]
fn rollup_file() {
    let dir = test_support::scratch_dir();
    let day = date!(2025 - 01 - 15);
    let path = crate::rollup_file(dir.path(), day);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let day_file = crate::day_file(dir.path(), day);
    bolero::check!().with_iterations(5_000).for_each(|bytes: &[u8]| {
        if let Some(fast) = fast::file(bytes) {
            assert_eq!(Some(fast), serde_json::from_slice::<format::FileV1<'_>>(bytes).ok());
        }
        match format::parse(bytes, day, &day_file) {
            Ok((read, source)) => {
                let again = format::encode(day, &read, source).expect("what parses encodes");
                assert!(fast::file(&again).is_some(), "the fast path reads what encode writes");
                let (read_again, source_again) = format::parse(&again, day, &day_file).expect("re-encoded");
                assert_eq!(format::encode(day, &read_again, source_again).unwrap(), again);
            }
            Err(why) => assert!(!why.is_empty()),
        }
        std::fs::write(&path, bytes).unwrap();
        let report = read_window_in_chunks(dir.path(), Window::last_days(day, 1), 1 << 20).unwrap();
        assert_eq!(report.rollups + report.issues.len(), 1, "{:?}", String::from_utf8_lossy(bytes));
    });
}

/// One line of the incident log: a line that is not JSON is never an incident; one that reads
/// as an incident is written back on one line that reads as the same incident (so writing is
/// idempotent), within the bounds the reader holds; and the reader, over a log of the line
/// between two good ones, counts it as an incident, a skipped line or nothing (blank), never
/// losing the good ones.
#[test]
fn incident_line() {
    let dir = test_support::scratch_dir();
    let path = dir.path().join("incidents.jsonl");
    let good = r#"{"v":1,"service":"API","started":"2025-01-15T10:00:00Z","ended":"2025-01-15T10:05:00Z","duration_seconds":300.0,"end":"recovered","kind":"connect","detail":"connection refused","alerted":true,"restarts_tried":0,"restarts":[],"gave_up":false,"quiet":[],"blocked":[],"blocked_by":[]}"#;
    let window = Window::last_days(date!(2025 - 01 - 15), 1);
    bolero::check!().with_iterations(20_000).for_each(|bytes: &[u8]| {
        let Ok(line) = std::str::from_utf8(bytes) else { return };
        let parsed = incident::parse_line(line);
        match &parsed {
            incident::Parsed::Incident(i) => {
                assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "{line:?}");
                assert!(i.restarts.len() <= MAX_RESTARTS && i.restarts.len() <= i.restarts_tried as usize);
                let again = i.to_line();
                assert!(!again.contains('\n'));
                assert_eq!(incident::parse_line(&again), parsed, "{line:?}");
            }
            incident::Parsed::Blank => assert!(line.trim().is_empty()),
            incident::Parsed::Newer | incident::Parsed::Bad => {}
        }
        if line.contains('\n') {
            return;
        }
        let other = good.replace("API", "Other");
        std::fs::write(&path, format!("{good}\n{line}\n{other}\n")).unwrap();
        let log = crate::read_incidents(&path, &window).unwrap();
        let services: Vec<&str> = log.incidents.iter().map(|i| i.service.as_str()).collect();
        assert!(services.contains(&"API") && services.contains(&"Other"), "{line:?}");
        let started = time::macros::datetime!(2025-01-15 10:00 UTC);
        let new = matches!(&parsed, incident::Parsed::Incident(i)
            if log.covers(i) && !(i.started == started && (i.service == "API" || i.service == "Other")));
        assert_eq!(log.incidents.len(), 2 + usize::from(new), "{line:?}");
        assert_eq!(log.bad_lines, u64::from(parsed == incident::Parsed::Bad), "{line:?}");
        assert_eq!(log.newer_lines, u64::from(parsed == incident::Parsed::Newer), "{line:?}");
    });
}
