//! Incidents: the pass decides them, the reports read them. An incident is an outage of a
//! service as the outage memory has it, from its first failed check (`down_since`) to the
//! check that finds it back. While it lasts, the pass keeps what it learns of it in the
//! service's memory (`state/outages.json`): the first failure's kind and detail, the restarts
//! tried and how they ended, maintenance and silences, the acknowledgement, the services it
//! blocked and those that blocked it. When it is over, the pass appends it to
//! `state/incidents.jsonl` (ops-metrics' incident log), then forgets it; an append that fails
//! leaves it in the memory for the next pass. A service that leaves the configuration while
//! failing ends its incident as `removed`; one found back after the monitor was stopped
//! (a killed daemon) ends it then, with its last failed check, so nothing open is lost.
//!
//! [`read`] gives the incidents of a window: the log's and the open ones of the memory.
//!
//! Every word of an incident that does not come from the configuration's names is cleaned of
//! the configuration's secrets before it is kept ([`crate::Config::secrets`]); a restart is
//! kept as how it ended (`exited 0`, `timed out`), never its command or output.

use std::collections::BTreeMap;

use ops_metrics::{End, Incident, IncidentAck, IncidentLog, MAX_RESTARTS, MetricsError, Restart, Window};
use ops_state::{Redactor, StateFile};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Layout;
use crate::ack::{self, Ack};
use crate::outage::Memory;

/// Incidents over but not yet in the log (appends that failed) kept per service; past this,
/// the oldest are dropped (and said).
pub const MAX_PENDING: usize = 20;

/// An ack note or detail longer than this is cut when kept.
const MAX_TEXT: usize = 1000;

/// What the pass keeps of an incident in its service's memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tracked {
    /// Unix time of its first failed check (the memory's `down_since`).
    pub started: f64,
    /// When it ended (unix seconds): set once it is over and waits to be logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<f64>,
    /// It ended because the service left the configuration.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    /// Unix time of its last failed check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed: Option<f64>,
    /// The first failure's kind.
    #[serde(default)]
    pub kind: String,
    /// The first failure's detail.
    #[serde(default)]
    pub detail: String,
    /// A failure alert went out.
    #[serde(default)]
    pub alerted: bool,
    /// Restarts tried.
    #[serde(default)]
    pub restarts_tried: u32,
    /// The first restarts, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<TrackedRestart>,
    /// The restart policy gave up.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gave_up: bool,
    /// `maintenance`, `silenced`, each once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quiet: Vec<String>,
    /// Its acknowledgement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<TrackedAck>,
    /// The services it blocked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<String>,
    /// The dependencies that blocked it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<String>,
}

/// A restart of an incident.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackedRestart {
    /// When (unix seconds).
    pub at: f64,
    /// Which attempt.
    pub attempt: u32,
    /// How it ended.
    pub result: String,
    /// The re-check passed.
    pub recovered: bool,
}

/// An incident's acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackedAck {
    /// When (unix seconds).
    pub at: f64,
    /// Who.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// What they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What one pass learned of a service, for its incident.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// Its check failed in this pass: the failure's kind and detail, and when.
    pub failed: Option<(String, String, f64)>,
    /// Its last result of the pass passed: when.
    pub back_at: Option<f64>,
    /// A restart ran.
    pub restart: Option<TrackedRestart>,
    /// The restart policy gave up.
    pub gave_up: bool,
    /// `maintenance` or `silenced`.
    pub quiet: Option<&'static str>,
    /// The services it blocks now.
    pub blocks: Vec<String>,
    /// The dependencies blocking it now.
    pub blocked_by: Vec<String>,
}

fn cut(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

fn add_once(list: &mut Vec<String>, names: impl IntoIterator<Item = String>) {
    for n in names {
        if !list.contains(&n) {
            list.push(n);
        }
    }
}

/// Keeps what this pass learned in `m` (already judged by the outage rules): the incident of
/// the outage `since` (the judgement's) begins, goes on or ends. `before_detail` is what the
/// memory said of the outage before (for an outage older than its tracking).
pub(crate) fn track(
    m: &mut Memory,
    since: Option<f64>,
    facts: Facts,
    current_ack: Option<&Ack>,
    secrets: &Redactor,
    now: f64,
) {
    let Some(started) = since else { return };
    let open = m.incidents.iter().position(|t| t.ended.is_none() && t.started == started);
    let k = open.unwrap_or_else(|| {
        // An outage without its incident: it begins now, or it began before its tracking (an
        // older version's memory); what is known of it is kept.
        let (kind, detail) = match &facts.failed {
            Some((kind, detail, _)) => (kind.clone(), detail.clone()),
            None => (String::new(), m.detail.clone().unwrap_or_default()),
        };
        m.incidents.push(Tracked {
            started,
            kind,
            detail: cut(&secrets.redact(&detail)),
            ..Tracked::default()
        });
        m.incidents.len() - 1
    });
    let t = &mut m.incidents[k];
    if let Some((_, _, at)) = facts.failed {
        t.last_failed = Some(at);
    }
    if let Some(mut r) = facts.restart {
        t.restarts_tried = t.restarts_tried.saturating_add(1);
        if t.restarts.len() < MAX_RESTARTS {
            r.result = secrets.redact(&r.result);
            t.restarts.push(r);
        }
    }
    t.gave_up |= facts.gave_up;
    add_once(&mut t.quiet, facts.quiet.map(str::to_owned));
    add_once(&mut t.blocked, facts.blocks);
    add_once(&mut t.blocked_by, facts.blocked_by);
    t.alerted |= m.alerted;
    if let Some(a) = current_ack.filter(|a| a.outage == started) {
        t.ack = Some(TrackedAck {
            at: a.at,
            by: a.by.as_deref().map(|b| cut(&secrets.redact(b))),
            note: a.note.as_deref().map(|n| cut(&secrets.redact(n))),
        });
    }
    if m.down_since.is_none() {
        t.ended = Some(facts.back_at.unwrap_or(now).max(t.started));
    }
}

/// Ends the open incident of a service that left the configuration (at `now`).
pub(crate) fn removed(m: &mut Memory, now: f64) {
    for t in m.incidents.iter_mut().filter(|t| t.ended.is_none()) {
        t.ended = Some(now.max(t.started));
        t.removed = true;
    }
}

/// The incidents of `memory` that are over, as the log keeps them, with their service.
pub(crate) fn over(memory: &BTreeMap<String, Memory>) -> Vec<Incident> {
    memory
        .iter()
        .flat_map(|(name, m)| m.incidents.iter().filter(|t| t.ended.is_some()).map(move |t| t.incident(name)))
        .collect()
}

/// Forgets the incidents that are over (once logged), and the oldest of those waiting past
/// [`MAX_PENDING`]; returns how many of those were dropped unlogged.
pub(crate) fn forget(memory: &mut BTreeMap<String, Memory>, logged: bool) -> usize {
    let mut dropped = 0;
    for m in memory.values_mut() {
        if logged {
            m.incidents.retain(|t| t.ended.is_none());
        }
        let waiting = m.incidents.iter().filter(|t| t.ended.is_some()).count();
        let mut excess = waiting.saturating_sub(MAX_PENDING);
        dropped += excess;
        m.incidents.retain(|t| {
            let drop = excess > 0 && t.ended.is_some();
            excess -= usize::from(drop);
            !drop
        });
    }
    dropped
}

/// Unix seconds as a time; the epoch when out of range.
fn at(seconds: f64) -> OffsetDateTime {
    let micros = (seconds * 1e6).round();
    OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Tracked {
    /// The incident of `service` as the log (and the reports) have it.
    pub fn incident(&self, service: &str) -> Incident {
        let end = match (self.ended, self.removed) {
            (None, _) => End::Open,
            (Some(_), false) => End::Recovered,
            (Some(_), true) => End::Removed,
        };
        Incident {
            service: service.to_owned(),
            started: at(self.started),
            ended: self.ended.map(at),
            end,
            last_failed: self.last_failed.map(at),
            kind: self.kind.clone(),
            detail: self.detail.clone(),
            alerted: self.alerted,
            restarts_tried: self.restarts_tried,
            restarts: self
                .restarts
                .iter()
                .map(|r| Restart {
                    at: at(r.at),
                    attempt: r.attempt,
                    result: r.result.clone(),
                    recovered: r.recovered,
                })
                .collect(),
            gave_up: self.gave_up,
            quiet: self.quiet.clone(),
            ack: self.ack.as_ref().map(|a| IncidentAck {
                at: at(a.at),
                by: a.by.clone(),
                note: a.note.clone(),
            }),
            blocked: self.blocked.clone(),
            blocked_by: self.blocked_by.clone(),
        }
    }
}

/// The incidents of a window and what was odd on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Incidents {
    /// The log's incidents and the open ones, newest first.
    pub log: IncidentLog,
    /// One line each: skipped lines of the log, a memory that could not be read.
    pub warnings: Vec<String>,
}

/// The incidents of `window` (only `service`'s when given): those of `state/incidents.jsonl`,
/// and those the outage memory still holds (open, or over and waiting to be logged), with the
/// acknowledgement of an open one given since the last pass. An unreadable log is an error
/// naming it; an unreadable memory or acknowledgements file is a warning (the log's incidents
/// are still given).
pub fn read(layout: &Layout, window: &Window, service: Option<&str>) -> Result<Incidents, MetricsError> {
    let path = layout.incidents();
    let mut log = ops_metrics::read_incidents(&path, window)?;
    let mut warnings = Vec::new();
    if log.bad_lines > 0 {
        warnings.push(format!(
            "{}: {} line(s) that are not incidents skipped (the first is line {})",
            path.display(),
            log.bad_lines,
            log.first_bad.unwrap_or_default()
        ));
    }
    if log.newer_lines > 0 {
        warnings.push(format!(
            "{}: {} line(s) written by a newer agent-ops skipped",
            path.display(),
            log.newer_lines
        ));
    }
    match StateFile::new(layout.outages()).read::<BTreeMap<String, Memory>>() {
        Ok(memory) => {
            let memory = memory.unwrap_or_default();
            let acks = ack::read_current(&StateFile::new(layout.acks()), &memory).unwrap_or_else(|e| {
                warnings.push(format!("acknowledgements left out: {e}"));
                ack::Acks::new()
            });
            let held = memory.iter().flat_map(|(name, m)| {
                let acks = &acks;
                m.incidents.iter().map(move |t| {
                    let mut i = t.incident(name);
                    if let Some(a) = acks.get(name).filter(|a| i.ack.is_none() && a.outage == t.started) {
                        i.ack = Some(IncidentAck { at: at(a.at), by: a.by.clone(), note: a.note.clone() });
                    }
                    i
                })
            });
            log.add(held.collect::<Vec<_>>());
        }
        Err(e) => warnings.push(format!("open incidents left out: {e}")),
    }
    if let Some(name) = service {
        log.retain_service(name);
    }
    Ok(Incidents { log, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts_failed(at: f64) -> Facts {
        Facts {
            failed: Some(("connect".into(), "port 5432: connection refused".into(), at)),
            ..Facts::default()
        }
    }

    #[test]
    fn an_incident_begins_goes_on_and_ends_with_its_outage() {
        let secrets = {
            let mut r = Redactor::default();
            r.add("s3cr3t-token", 8);
            r
        };
        let mut m = Memory { failures: 1, down_since: Some(100.0), alerted: true, ..Memory::default() };
        let mut f = facts_failed(100.0);
        f.failed.as_mut().unwrap().1 = "refused by s3cr3t-token".into();
        f.restart =
            Some(TrackedRestart { at: 100.0, attempt: 1, result: "exited 1".into(), recovered: false });
        f.blocks = vec!["Web".into()];
        track(&mut m, Some(100.0), f, None, &secrets, 100.0);
        let ack = Ack {
            outage: 100.0,
            at: 150.0,
            by: Some("alice".into()),
            note: Some("token s3cr3t-token".into()),
            warning: false,
            extra: serde_json::Map::new(),
        };
        let mut f = facts_failed(160.0);
        f.quiet = Some("silenced");
        f.blocks = vec!["Web".into(), "Worker".into()];
        track(&mut m, Some(100.0), f, Some(&ack), &secrets, 160.0);
        assert_eq!(m.incidents.len(), 1);
        m.down_since = None;
        track(&mut m, Some(100.0), Facts { back_at: Some(220.5), ..Facts::default() }, None, &secrets, 220.0);
        let i = m.incidents[0].incident("DB");
        assert_eq!(i.end, End::Recovered);
        assert_eq!(i.duration(at(0.0)), std::time::Duration::from_secs_f64(120.5));
        assert_eq!(i.detail, "refused by [redacted]");
        assert_eq!(i.ack.as_ref().and_then(|a| a.note.as_deref()), Some("token [redacted]"));
        assert_eq!(
            (i.restarts_tried, i.quiet.as_slice(), i.blocked.len()),
            (1, &["silenced".to_owned()][..], 2)
        );
        assert_eq!(i.last_failed, Some(at(160.0)));
        assert!(i.alerted);
        let mut memory = BTreeMap::from([("DB".to_owned(), m)]);
        assert_eq!(over(&memory).len(), 1);
        assert_eq!(forget(&mut memory, false), 0, "kept until logged");
        assert_eq!(over(&memory).len(), 1);
        forget(&mut memory, true);
        assert!(memory["DB"].incidents.is_empty());
    }

    #[test]
    fn an_outage_older_than_its_tracking_and_a_removed_service_keep_what_is_known() {
        let mut m = Memory {
            failures: 3,
            down_since: Some(100.0),
            detail: Some("HTTP 503".into()),
            ..Memory::default()
        };
        m.down_since = None;
        track(
            &mut m,
            Some(100.0),
            Facts { back_at: Some(400.0), ..Facts::default() },
            None,
            &Redactor::default(),
            400.0,
        );
        let i = m.incidents[0].incident("API");
        assert_eq!((i.detail.as_str(), i.kind.as_str(), i.end), ("HTTP 503", "", End::Recovered));
        let mut m = Memory { failures: 1, down_since: Some(100.0), ..Memory::default() };
        track(&mut m, Some(100.0), facts_failed(100.0), None, &Redactor::default(), 100.0);
        removed(&mut m, 500.0);
        assert_eq!(m.incidents[0].incident("Gone").end, End::Removed);
        let mut memory = BTreeMap::from([("Gone".to_owned(), m)]);
        for k in 0..MAX_PENDING + 3 {
            memory.get_mut("Gone").unwrap().incidents.push(Tracked {
                started: 600.0 + k as f64,
                ended: Some(700.0),
                ..Tracked::default()
            });
        }
        assert_eq!(forget(&mut memory, false), 4, "the oldest past the bound");
        assert_eq!(memory["Gone"].incidents.len(), MAX_PENDING);
        assert_eq!(memory["Gone"].incidents[0].started, 603.0);
    }
}
