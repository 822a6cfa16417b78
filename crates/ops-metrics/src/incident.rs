//! The incident log: one JSON line per outage once it is over, appended to a file the caller
//! names (the orchestrator's `state/incidents.jsonl`), and a windowed reader.
//!
//! A line is `{"v":1,"service":...,"started":...,"ended":...,"duration_seconds":...,"end":...,
//! "kind":...,"detail":...,"alerted":...,"restarts_tried":...,"restarts":[...],"gave_up":...,
//! "quiet":[...],"blocked":[...],"blocked_by":[...]}`, with `last_failed` and `ack` when known.
//! What a failure kind, a restart result or a quiet word means is the caller's: here they are
//! words. A line of another version, or one that does not parse, is skipped and counted, never
//! an error; the same outage written twice (a writer stopped between its append and keeping
//! its state writes it again) is read once, as first written.

use std::collections::HashSet;
use std::io::BufReader;
use std::path::Path;
use std::time::Duration;

use ops_state::timestamp::{format_utc, parse_utc};
use ops_state::{AppendOptions, append_lines};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::scan::read_line;
use crate::{MetricsError, Window};

/// The version of the line format this crate writes and reads.
pub const INCIDENT_VERSION: u32 = 1;

/// A line longer than this is skipped (and counted), never held in memory whole.
pub const MAX_INCIDENT_LINE: usize = 1 << 20;

/// How an incident ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// Not yet: the service is still failing (such incidents come from the caller's state,
    /// never from the log).
    Open,
    /// The service was found back.
    Recovered,
    /// The service left the configuration while failing; `ended` is when that was noticed.
    Removed,
}

impl End {
    /// `open`, `recovered`, `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Recovered => "recovered",
            Self::Removed => "removed",
        }
    }
}

/// A restart tried during an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    /// When it ran.
    pub at: OffsetDateTime,
    /// Which attempt of the restart policy it was.
    pub attempt: u32,
    /// How the command ended, in the caller's words (`exited 0`, `timed out` ...).
    pub result: String,
    /// The re-check after it passed.
    pub recovered: bool,
}

/// Who acknowledged an incident, and what they said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentAck {
    /// When.
    pub at: OffsetDateTime,
    /// Who, when known.
    pub by: Option<String>,
    /// What they said.
    pub note: Option<String>,
}

/// One outage of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// The service.
    pub service: String,
    /// Its first failed check.
    pub started: OffsetDateTime,
    /// The check that found it back (or when it left the configuration); `None` while open.
    pub ended: Option<OffsetDateTime>,
    /// How it ended.
    pub end: End,
    /// Its last failed check, when known: the end lies between it and `ended` (far apart when
    /// nobody checked in between, such as a monitor stopped meanwhile).
    pub last_failed: Option<OffsetDateTime>,
    /// The first failure's kind, a word (`http_status`, `connect` ...).
    pub kind: String,
    /// The first failure's detail.
    pub detail: String,
    /// A failure alert went out for it.
    pub alerted: bool,
    /// Restarts tried in all.
    pub restarts_tried: u32,
    /// The first of them ([`MAX_RESTARTS`] at most), in order.
    pub restarts: Vec<Restart>,
    /// The restart policy gave up.
    pub gave_up: bool,
    /// Why it was neither restarted nor alerted at times (`maintenance`, `silenced`), each once.
    pub quiet: Vec<String>,
    /// Its acknowledgement.
    pub ack: Option<IncidentAck>,
    /// The services it blocked (failing because it was), each once.
    pub blocked: Vec<String>,
    /// The failing dependencies it was blocked by at times, each once.
    pub blocked_by: Vec<String>,
}

/// Restarts kept on an incident; more are counted in [`Incident::restarts_tried`] only.
pub const MAX_RESTARTS: usize = 20;

impl Incident {
    /// From its start to its end, or to `now` while open; zero when the clock went back.
    pub fn duration(&self, now: OffsetDateTime) -> Duration {
        let end = self.ended.unwrap_or(now);
        (end - self.started).try_into().unwrap_or(Duration::ZERO)
    }

    /// The incident as one line of the log (without its newline).
    pub fn to_line(&self) -> String {
        let ended = self.ended.unwrap_or(self.started);
        let line = Line {
            v: INCIDENT_VERSION,
            service: self.service.clone(),
            started: format_utc(self.started),
            ended: self.ended.map(format_utc),
            duration_seconds: self.duration(ended).as_secs_f64(),
            end: self.end,
            last_failed: self.last_failed.map(format_utc),
            kind: self.kind.clone(),
            detail: self.detail.clone(),
            alerted: self.alerted,
            restarts_tried: self.restarts_tried,
            restarts: self
                .restarts
                .iter()
                .map(|r| RestartLine {
                    at: format_utc(r.at),
                    attempt: r.attempt,
                    result: r.result.clone(),
                    recovered: r.recovered,
                })
                .collect(),
            gave_up: self.gave_up,
            quiet: self.quiet.clone(),
            ack: self.ack.as_ref().map(|a| AckLine {
                at: format_utc(a.at),
                by: a.by.clone(),
                note: a.note.clone(),
            }),
            blocked: self.blocked.clone(),
            blocked_by: self.blocked_by.clone(),
        };
        serde_json::to_string(&line).unwrap_or_default()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    v: u32,
    service: String,
    started: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ended: Option<String>,
    duration_seconds: f64,
    end: End,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_failed: Option<String>,
    kind: String,
    detail: String,
    alerted: bool,
    restarts_tried: u32,
    restarts: Vec<RestartLine>,
    gave_up: bool,
    quiet: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ack: Option<AckLine>,
    blocked: Vec<String>,
    blocked_by: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestartLine {
    at: String,
    attempt: u32,
    result: String,
    recovered: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckLine {
    at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// Only the version, read first: a line of another version is not judged by this one's rules.
#[derive(Deserialize)]
struct Version {
    v: u64,
}

/// What a line of the log is.
#[derive(Debug, PartialEq)]
pub(crate) enum Parsed {
    /// Empty or white space.
    Blank,
    /// An incident of this version.
    Incident(Box<Incident>),
    /// An object with a `v` above ours (a newer agent-ops wrote it).
    Newer,
    /// Anything else.
    Bad,
}

/// A time of the log, to the microsecond it is written with.
fn time(s: &str) -> Option<OffsetDateTime> {
    let t = parse_utc(s)?;
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000).ok()
}

/// One line (without its newline).
pub(crate) fn parse_line(line: &str) -> Parsed {
    if line.trim().is_empty() {
        return Parsed::Blank;
    }
    match serde_json::from_str::<Version>(line) {
        Ok(Version { v }) if v == u64::from(INCIDENT_VERSION) => {}
        Ok(Version { v }) if v > u64::from(INCIDENT_VERSION) => return Parsed::Newer,
        _ => return Parsed::Bad,
    }
    let Ok(l) = serde_json::from_str::<Line>(line) else { return Parsed::Bad };
    let parsed = (|| {
        let started = time(&l.started)?;
        // The log holds outages that are over.
        let ended = match (&l.ended, l.end) {
            (Some(t), End::Recovered | End::Removed) => Some(time(t)?),
            _ => return None,
        };
        let restarts = l
            .restarts
            .into_iter()
            .map(|r| {
                Some(Restart {
                    at: time(&r.at)?,
                    attempt: r.attempt,
                    result: r.result,
                    recovered: r.recovered,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        if restarts.len() > MAX_RESTARTS || restarts.len() > l.restarts_tried as usize {
            return None;
        }
        let ack = match l.ack {
            Some(a) => Some(IncidentAck { at: time(&a.at)?, by: a.by, note: a.note }),
            None => None,
        };
        let last_failed = match l.last_failed {
            Some(t) => Some(time(&t)?),
            None => None,
        };
        Some(Incident {
            service: l.service,
            started,
            ended,
            end: l.end,
            last_failed,
            kind: l.kind,
            detail: l.detail,
            alerted: l.alerted,
            restarts_tried: l.restarts_tried,
            restarts,
            gave_up: l.gave_up,
            quiet: l.quiet,
            ack,
            blocked: l.blocked,
            blocked_by: l.blocked_by,
        })
    })();
    parsed.map_or(Parsed::Bad, |i| Parsed::Incident(Box::new(i)))
}

/// Appends the incidents that are over to the log at `path` (open ones are the caller's state,
/// never logged), one whole line each, fsynced; a new file is 0600 (before the umask): it
/// holds what the services said and who acknowledged what. Never follows a symlink.
pub fn append_incidents(path: &Path, incidents: &[Incident]) -> Result<(), MetricsError> {
    let lines: Vec<String> =
        incidents.iter().filter(|i| i.end != End::Open && i.ended.is_some()).map(Incident::to_line).collect();
    append_lines(path, &lines, AppendOptions { sync: true, mode: ops_state::DEFAULT_MODE })?;
    Ok(())
}

/// The incidents of a window, newest first, and what was skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentLog {
    /// The days asked for.
    pub window: Window,
    /// The incidents that overlap it (started before its end, and not over before its start),
    /// newest first.
    pub incidents: Vec<Incident>,
    /// Lines that are not incidents of this version (not JSON, not ours, too long); a last line
    /// without its newline that does not parse is not counted (an append in progress).
    pub bad_lines: u64,
    /// The first of them (1-based line number).
    pub first_bad: Option<u64>,
    /// Lines written by a newer version of agent-ops, skipped.
    pub newer_lines: u64,
}

impl IncidentLog {
    /// An empty log of `window`.
    pub fn empty(window: Window) -> Self {
        Self { window, incidents: Vec::new(), bad_lines: 0, first_bad: None, newer_lines: 0 }
    }

    /// Whether `incident` overlaps the window.
    pub fn covers(&self, incident: &Incident) -> bool {
        let (from, until) = bounds(&self.window);
        incident.started < until && incident.ended.is_none_or(|e| e >= from)
    }

    /// Adds `more` (open incidents from the caller's state), each unless the log has it
    /// already (same service and start) or it is outside the window, and sorts newest first.
    pub fn add(&mut self, more: impl IntoIterator<Item = Incident>) {
        for i in more {
            let known = self.incidents.iter().any(|k| k.service == i.service && k.started == i.started);
            if !known && self.covers(&i) {
                self.incidents.push(i);
            }
        }
        sort(&mut self.incidents);
    }

    /// Keeps only `service`'s incidents.
    pub fn retain_service(&mut self, service: &str) {
        self.incidents.retain(|i| i.service == service);
    }

    /// Per service (by name): how many incidents, how many still open, the mean time to
    /// recover (over those that ended) and the time down within the window (open ones up to
    /// `now`).
    pub fn per_service(&self, now: OffsetDateTime) -> Vec<IncidentStats> {
        let (from, until) = bounds(&self.window);
        let mut out: Vec<IncidentStats> = Vec::new();
        for i in &self.incidents {
            let k = match out.binary_search_by(|s| s.service.as_str().cmp(&i.service)) {
                Ok(k) => k,
                Err(k) => {
                    out.insert(k, IncidentStats { service: i.service.clone(), ..IncidentStats::default() });
                    k
                }
            };
            let s = &mut out[k];
            s.incidents += 1;
            if i.ended.is_some() {
                s.recovered += 1;
                s.repair = s.repair.saturating_add(i.duration(now));
            } else {
                s.open += 1;
            }
            let start = i.started.max(from);
            let end = i.ended.unwrap_or(now).min(until).min(now.max(start));
            s.downtime = s.downtime.saturating_add((end - start).try_into().unwrap_or(Duration::ZERO));
        }
        out
    }
}

/// One service's incidents in a window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentStats {
    /// The service.
    pub service: String,
    /// Incidents in the window.
    pub incidents: u64,
    /// Of them, still open.
    pub open: u64,
    /// Of them, over.
    recovered: u64,
    /// Their time to recover, summed.
    repair: Duration,
    /// Time down within the window.
    pub downtime: Duration,
}

impl IncidentStats {
    /// The mean time to recover of the incidents that are over; `None` without one.
    pub fn mttr(&self) -> Option<Duration> {
        u32::try_from(self.recovered).ok().filter(|n| *n > 0).map(|n| self.repair / n)
    }
}

/// The window's first instant and the instant after its last day.
fn bounds(w: &Window) -> (OffsetDateTime, OffsetDateTime) {
    let from = w.from().midnight().assume_utc();
    let until = w
        .until
        .next_day()
        .map_or(OffsetDateTime::new_utc(time::Date::MAX, time::Time::MAX), |d| d.midnight().assume_utc());
    (from, until)
}

fn sort(incidents: &mut [Incident]) {
    incidents.sort_by(|a, b| b.started.cmp(&a.started).then_with(|| a.service.cmp(&b.service)));
}

/// The incidents of `window` in the log at `path` (none when it does not exist), newest first;
/// `service` keeps one service's. The log is read line by line: memory holds the window's
/// incidents and one line (a line past [`MAX_INCIDENT_LINE`] is skipped without being held).
/// Never follows a symlink; an unreadable log is an error naming it.
pub fn read_incidents(path: &Path, window: &Window) -> Result<IncidentLog, MetricsError> {
    let read_err = |source| MetricsError::Read { path: path.to_path_buf(), source };
    let mut log = IncidentLog::empty(*window);
    let file = match ops_state::open_existing(path, false) {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(log),
        Err(ops_state::StateError::Io { source, .. }) => return Err(read_err(source)),
        Err(refused) => return Err(MetricsError::Write(refused)),
    };
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut seen: HashSet<(String, OffsetDateTime)> = HashSet::new();
    let mut line: Vec<u8> = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let (complete, too_long) = read_line(&mut reader, &mut line, MAX_INCIDENT_LINE).map_err(read_err)?;
        if line.is_empty() && !complete && !too_long {
            break;
        }
        number += 1;
        let parsed =
            if too_long { Parsed::Bad } else { std::str::from_utf8(&line).map_or(Parsed::Bad, parse_line) };
        match parsed {
            Parsed::Blank => {}
            Parsed::Incident(i) => {
                if log.covers(&i) && seen.insert((i.service.clone(), i.started)) {
                    log.incidents.push(*i);
                }
            }
            Parsed::Newer => log.newer_lines += 1,
            // A last line without its newline is being appended (or was cut by a crash, and
            // the next append ends it): not yet a line to judge.
            Parsed::Bad if !complete => {}
            Parsed::Bad => {
                log.bad_lines += 1;
                log.first_bad.get_or_insert(number);
            }
        }
        if !complete {
            break;
        }
    }
    sort(&mut log.incidents);
    Ok(log)
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    fn incident(service: &str, started: OffsetDateTime, minutes: i64) -> Incident {
        Incident {
            service: service.into(),
            started,
            ended: Some(started + time::Duration::minutes(minutes)),
            end: End::Recovered,
            last_failed: Some(started + time::Duration::minutes(minutes - 1)),
            kind: "http_status".into(),
            detail: "HTTP 503".into(),
            alerted: true,
            restarts_tried: 1,
            restarts: vec![Restart { at: started, attempt: 1, result: "exited 0".into(), recovered: false }],
            gave_up: false,
            quiet: vec![],
            ack: Some(IncidentAck {
                at: started,
                by: Some("alice".into()),
                note: Some("on it \"now\"\n".into()),
            }),
            blocked: vec!["Web".into()],
            blocked_by: vec![],
        }
    }

    #[test]
    fn a_line_reads_back_as_written() {
        let i = incident("API \u{1b}", datetime!(2026-11-30 08:03:00.123456 UTC), 5);
        let line = i.to_line();
        assert!(line.starts_with(r#"{"v":1,"service":"API \u001b","started":"2026-11-30T08:03:00.123456Z","ended":"2026-11-30T08:08:00.123456Z","duration_seconds":300.0,"end":"recovered","#), "{line}");
        assert!(!line.contains('\n'));
        assert_eq!(parse_line(&line), Parsed::Incident(Box::new(i)));
        assert_eq!(parse_line("  "), Parsed::Blank);
        assert_eq!(parse_line(r#"{"v":2,"anything":true}"#), Parsed::Newer);
        for bad in ["{", "[]", r#"{"v":1}"#, r#"{"v":0}"#, r#"{"v":"1"}"#, "null"] {
            assert_eq!(parse_line(bad), Parsed::Bad, "{bad}");
        }
        let unknown_key = line.replacen("{\"v\":1,", "{\"v\":1,\"extra\":1,", 1);
        assert_eq!(parse_line(&unknown_key), Parsed::Bad, "a key this version does not know");
        let open = line.replace("\"end\":\"recovered\"", "\"end\":\"open\"");
        assert_eq!(parse_line(&open), Parsed::Bad, "an open incident has no end time");
    }

    #[test]
    fn the_window_keeps_what_overlaps_it_newest_first_each_outage_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("incidents.jsonl");
        let old = incident("API", datetime!(2026-11-01 10:00 UTC), 30);
        let across = incident("DB", datetime!(2026-11-23 23:50 UTC), 20);
        let first = incident("API", datetime!(2026-11-28 10:00 UTC), 5);
        let mut again = first.clone();
        again.ended = Some(datetime!(2026-11-28 12:00 UTC));
        let newer = incident("Web", datetime!(2026-11-29 10:00 UTC), 1);
        let mut open = newer.clone();
        open.ended = None;
        open.end = End::Open;
        append_incidents(&path, &[old, across.clone(), first.clone(), again, open]).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"garbage\n{\"v\":7}\n\n"))
            .unwrap();
        append_incidents(&path, std::slice::from_ref(&newer)).unwrap();
        let window = Window::last_days(date!(2026 - 11 - 30), 7);
        let log = read_incidents(&path, &window).unwrap();
        assert_eq!(log.incidents, [newer.clone(), first.clone(), across.clone()]);
        assert_eq!((log.bad_lines, log.first_bad, log.newer_lines), (1, Some(5), 1));
        let stats = log.per_service(datetime!(2026-11-30 12:00 UTC));
        let names: Vec<&str> = stats.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(names, ["API", "DB", "Web"]);
        assert_eq!(stats[0].mttr(), Some(Duration::from_secs(300)));
        assert_eq!(stats[1].downtime, Duration::from_secs(600), "clipped to the window");
        let mut with_open = log.clone();
        let mut open = newer.clone();
        open.started = datetime!(2026-11-30 11:00 UTC);
        open.ended = None;
        open.end = End::Open;
        with_open.add([open.clone(), first]);
        assert_eq!(with_open.incidents.len(), 4, "the known one is not added twice");
        assert_eq!(with_open.incidents[0], open);
        let stats = with_open.per_service(datetime!(2026-11-30 12:00 UTC));
        assert_eq!((stats[2].incidents, stats[2].open), (2, 1));
        assert_eq!(stats[2].mttr(), Some(Duration::from_secs(60)), "the open one is not in the MTTR");
        assert_eq!(stats[2].downtime, Duration::from_secs(3660));
        assert!(read_incidents(&dir.path().join("none.jsonl"), &window).unwrap().incidents.is_empty());
    }

    #[test]
    fn a_huge_line_is_skipped_without_being_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("incidents.jsonl");
        let mut i = incident("API", datetime!(2026-11-29 10:00 UTC), 5);
        let good = i.to_line();
        i.detail = "x".repeat(MAX_INCIDENT_LINE);
        std::fs::write(&path, format!("{}\n{good}\n{good}", i.to_line())).unwrap();
        let window = Window::last_days(date!(2026 - 11 - 30), 7);
        let log = read_incidents(&path, &window).unwrap();
        assert_eq!((log.incidents.len(), log.bad_lines, log.first_bad), (1, 1, Some(1)));
        // A line being appended: neither an incident nor a bad line yet.
        std::fs::write(&path, format!("{good}\n{}", &good[..good.len() / 2])).unwrap();
        let log = read_incidents(&path, &window).unwrap();
        assert_eq!((log.incidents.len(), log.bad_lines), (1, 0));
    }

    #[test]
    fn a_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, incident("API", datetime!(2026-11-29 10:00 UTC), 5).to_line() + "\n")
            .unwrap();
        let path = dir.path().join("incidents.jsonl");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let window = Window::last_days(date!(2026 - 11 - 30), 7);
        let err = read_incidents(&path, &window).unwrap_err().to_string();
        assert!(err.contains("incidents.jsonl"), "{err}");
        assert!(append_incidents(&path, &[incident("API", datetime!(2026-11-29 11:00 UTC), 5)]).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap().lines().count(), 1);
    }

    /// The fuzz target's seeds are what their names say.
    #[test]
    fn the_seed_corpus_is_what_its_names_say() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/__fuzz__/fuzz__incident_line/corpus");
        let read = |name: &str| parse_line(&std::fs::read_to_string(dir.join(name)).unwrap());
        let Parsed::Incident(i) = read("recovered-with-restarts-ack-blocked") else { panic!("not read") };
        assert_eq!((i.restarts_tried, i.restarts.len(), i.blocked.len()), (2, 2, 2));
        let Parsed::Incident(i) = read("removed-escaped-quiet-blocked-by") else { panic!("not read") };
        assert_eq!((i.end, i.service.as_str()), (End::Removed, "Café \u{1b}]0;x\u{7}"));
        assert_eq!(read("newer-version"), Parsed::Newer);
        assert_eq!(read("open-is-not-logged"), Parsed::Bad);
        assert_eq!(read("torn"), Parsed::Bad);
    }
}
