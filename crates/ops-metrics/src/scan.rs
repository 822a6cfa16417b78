//! Reading one day file: in chunks (never all lines at once), each line through `parse.rs`,
//! into a [`Day`]: every service's figures for that day, and the lines skipped.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};

use time::Date;

use crate::MetricsError;
use crate::day::{Acc, Day, HOUR_US, Latencies, Source, midnight_us};
use crate::parse::{self, Kind, Parsed};
use crate::timeline::Timeline;

/// Why a line was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadKind {
    /// The bytes are not UTF-8 (the Python kit's reader crashes on them).
    InvalidUtf8,
    /// Not JSON (the Python kit skips these silently).
    InvalidJson,
    /// The file's last line has no newline and does not parse: a write cut short.
    TornLastLine,
    /// JSON, but not an object (the Python kit crashes on them).
    NotAnObject,
    /// `name` or `status` not a string, `latency_ms` not a number (null included).
    WrongType,
    /// Longer than 16 MiB: skipped without being held in memory (no writer produces one).
    TooLong,
}

impl BadKind {
    pub(crate) const ALL: [Self; 6] = [
        Self::InvalidUtf8,
        Self::InvalidJson,
        Self::TornLastLine,
        Self::NotAnObject,
        Self::WrongType,
        Self::TooLong,
    ];

    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// Its name in JSON (the report's `bad_lines`, a rollup's first bad line).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidJson => "invalid_json",
            Self::TornLastLine => "torn_last_line",
            Self::NotAnObject => "not_an_object",
            Self::WrongType => "wrong_type",
            Self::TooLong => "too_long",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::InvalidUtf8 => "invalid UTF-8",
            Self::InvalidJson => "invalid JSON",
            Self::TornLastLine => "torn last line",
            Self::NotAnObject => "not an object",
            Self::WrongType => "wrong field type",
            Self::TooLong => "over 16 MiB",
        }
    }
}

/// The first skipped line, to point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// The day file.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// What was wrong.
    pub kind: BadKind,
    /// In words (`latency_ms is null`).
    pub reason: &'static str,
}

/// Lines skipped, by kind. Its `Display` is the one warning line a binary prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BadLines {
    counts: [u64; 6],
    /// How many files had at least one.
    pub files: usize,
    /// The first one in date and line order.
    pub first: Option<BadLine>,
}

impl BadLines {
    /// All skipped lines.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Skipped lines of one kind.
    pub fn count(&self, kind: BadKind) -> u64 {
        self.counts[kind.index()]
    }

    /// Skipped lines per kind, in the order of [`BadKind::ALL`].
    pub(crate) fn counts(&self) -> [u64; 6] {
        self.counts
    }

    /// Lines skipped in one file: `counts` per kind and the first of them.
    pub(crate) fn of_file(counts: [u64; 6], first: Option<BadLine>) -> Self {
        let files = usize::from(counts.iter().any(|n| *n > 0));
        Self { counts, files, first }
    }

    fn add(&mut self, kind: BadKind) {
        self.counts[kind.index()] += 1;
    }

    pub(crate) fn merge(&mut self, other: Self) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a = a.saturating_add(b);
        }
        self.files += other.files;
        if self.first.is_none() {
            self.first = other.first;
        }
    }
}

impl fmt::Display for BadLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        write!(
            f,
            "skipped {total} bad line{} in {} file{} (",
            plural(total),
            self.files,
            plural(self.files as u64)
        )?;
        let kinds: Vec<String> = BadKind::ALL
            .iter()
            .filter(|k| self.count(**k) > 0)
            .map(|k| format!("{} {}", self.count(*k), k.describe()))
            .collect();
        write!(f, "{})", kinds.join(", "))?;
        if let Some(first) = &self.first {
            write!(f, "; first at {}:{}: {}", first.path.display(), first.line, first.reason)?;
        }
        Ok(())
    }
}

/// FxHash: the service-name map is hit once per line, and the names are ours, not an attacker's.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fx(u64);

impl Fx {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.add(u64::from_le_bytes(last));
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<V> = HashMap<String, V, BuildHasherDefault<Fx>>;

/// Why a line is skipped, in words: every reason a [`BadLine`] can give.
pub(crate) const REASONS: [&str; 12] = [
    "invalid UTF-8",
    "no newline and invalid UTF-8",
    "no newline and not valid JSON",
    "line longer than 16 MiB",
    "not valid JSON",
    "not a JSON object",
    "name is null",
    "name is not a string",
    "status is null",
    "status is not a string",
    "latency_ms is null",
    "latency_ms is not a number",
];

struct FileReader<'p> {
    path: &'p Path,
    /// The day file's date's midnight (µs), where its hour cells start counting.
    midnight: i64,
    index: FxMap<usize>,
    day: Day,
}

impl FileReader<'_> {
    fn bad(&mut self, kind: BadKind, reason: &'static str) {
        let bad = &mut self.day.bad;
        bad.add(kind);
        if bad.first.is_none() {
            bad.first = Some(BadLine { path: self.path.to_path_buf(), line: self.day.lines, kind, reason });
        }
    }

    /// One `\n`-separated line; `last` when it is the file's unterminated end.
    fn line(&mut self, bytes: &[u8], text: Option<&str>, last: bool) {
        self.day.lines += 1;
        let text = match text {
            Some(t) => t,
            None => match std::str::from_utf8(bytes) {
                Ok(t) => t,
                Err(_) if last => return self.bad(BadKind::TornLastLine, "no newline and invalid UTF-8"),
                Err(_) => return self.bad(BadKind::InvalidUtf8, "invalid UTF-8"),
            },
        };
        if memchr::memchr(b'\r', bytes).is_some() {
            // Python's text mode ends a line at "\r\n" and at a lone "\r" alike.
            let mut pieces = text.split('\r').peekable();
            while let Some(piece) = pieces.next() {
                self.piece(piece, last && pieces.peek().is_none());
            }
        } else {
            self.piece(text, last);
        }
    }

    fn piece(&mut self, text: &str, last: bool) {
        match parse::parse(text) {
            Parsed::Blank => {}
            Parsed::Bad(BadKind::InvalidJson, _) if last => {
                self.bad(BadKind::TornLastLine, "no newline and not valid JSON");
            }
            Parsed::Bad(kind, reason) => self.bad(kind, reason),
            Parsed::Record(f) => {
                let services = &mut self.day.services;
                let i = if let Some(&i) = self.index.get(f.name.as_ref()) {
                    i
                } else {
                    let i = services.len();
                    self.index.insert(f.name.clone().into_owned(), i);
                    services.push((f.name.into_owned(), Acc::new(self.day.lines)));
                    i
                };
                let acc = &mut services[i].1;
                let counts = &mut acc.counts;
                match f.kind {
                    Kind::Up => counts.up += 1,
                    Kind::Down => counts.down += 1,
                    Kind::Recovered | Kind::Other => counts.other += 1,
                }
                counts.add_latency(f.latency);
                if f.kind == Kind::Up
                    && let Latencies::Exact(hist) = &mut acc.latency
                {
                    hist.add(f.latency);
                }
                let Some(at) = f.timestamp else {
                    self.day.undated += 1;
                    return;
                };
                acc.min_ts = Some(acc.min_ts.map_or(at, |m| m.min(at)));
                acc.max_ts = Some(acc.max_ts.map_or(at, |m| m.max(at)));
                if f.kind == Kind::Other {
                    return;
                }
                let down = f.kind == Kind::Down;
                match &mut acc.timeline {
                    Some(t) => t.push(at, down),
                    None => acc.timeline = Some(Timeline::single(at, down)),
                }
                if f.kind == Kind::Up {
                    acc.cells.add(at.saturating_sub(self.midnight).div_euclid(HOUR_US), f.latency);
                }
            }
        }
    }

    /// The complete lines in `chunk` (which ends with `\n` unless `eof`).
    fn chunk(&mut self, chunk: &[u8], eof: bool) {
        let text = std::str::from_utf8(chunk).ok();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            self.line(&chunk[start..end], text.map(|t| &t[start..end]), false);
            start = end + 1;
        }
        if eof && start < chunk.len() {
            self.line(&chunk[start..], text.map(|t| &t[start..]), true);
        }
    }
}

/// The first read size.
pub(crate) const CHUNK: usize = 1 << 20;
/// A line longer than this is skipped as [`BadKind::TooLong`] rather than held in memory.
const MAX_LINE: usize = 16 << 20;

/// Reads one line into `line` (without its `\n`), keeping at most `max` bytes of it (a longer
/// one is read to its end and dropped, never held); returns whether it ended with `\n`, and
/// whether it was longer than `max`.
pub(crate) fn read_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(bool, bool)> {
    let mut too_long = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok((false, too_long));
        }
        let (part, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if line.len() + part.len() > max {
            too_long = true;
            line.clear();
        } else if !too_long {
            line.extend_from_slice(part);
        }
        let used = done.unwrap_or(buf.len());
        reader.consume(used);
        if done.is_some() {
            return Ok((true, too_long));
        }
    }
}

/// Reads the day file of `date` at `path`, `chunk` bytes at a time at first (the buffer grows
/// for longer lines). With the summary comes what the file was while it was read, or `None`
/// when it changed meanwhile (a writer appended): such a summary is not rolled up.
pub(crate) fn scan_file(
    path: &Path,
    date: Date,
    chunk: usize,
) -> Result<(Day, Option<Source>), MetricsError> {
    let read_error = |source: io::Error| MetricsError::Read { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(read_error)?;
    let before = file.metadata().map(|m| Source::of(&m)).ok();
    let mut reader =
        FileReader { path, midnight: midnight_us(date), index: FxMap::default(), day: Day::default() };
    let mut buf = vec![0u8; chunk.max(1)];
    let (mut filled, mut bytes) = (0usize, 0u64);
    // Inside a line longer than MAX_LINE, already counted: drop bytes up to its newline.
    let mut skipping = false;
    loop {
        if filled == buf.len() {
            if buf.len() >= MAX_LINE {
                if !skipping {
                    reader.day.lines += 1;
                    reader.bad(BadKind::TooLong, "line longer than 16 MiB");
                    skipping = true;
                }
                filled = 0;
            } else {
                buf.resize(buf.len() * 2, 0);
            }
        }
        let n = match file.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        bytes += n as u64;
        filled += n;
        if n == 0 {
            if !skipping {
                reader.chunk(&buf[..filled], true);
            }
            break;
        }
        if skipping {
            let Some(newline) = memchr::memchr(b'\n', &buf[..filled]) else {
                filled = 0;
                continue;
            };
            buf.copy_within(newline + 1..filled, 0);
            filled -= newline + 1;
            skipping = false;
        }
        if filled < buf.len() / 2 {
            continue; // fewer, larger chunks
        }
        if let Some(end) = memchr::memrchr(b'\n', &buf[..filled]) {
            reader.chunk(&buf[..=end], false);
            buf.copy_within(end + 1..filled, 0);
            filled -= end + 1;
        }
    }
    let after = file.metadata().map(|m| Source::of(&m)).ok();
    let mut day = reader.day;
    if day.bad.total() > 0 {
        day.bad.files = 1;
    }
    day.bytes = bytes;
    let source = after.filter(|a| before == after && a.size == bytes);
    Ok((day, source))
}
