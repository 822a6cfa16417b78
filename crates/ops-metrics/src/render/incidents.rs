//! The incidents of a window: a table for people (newest first, then the count, MTTR and time
//! down per service) and a JSON document.

use std::fmt::Write as _;

use ops_state::printable;
use ops_state::timestamp::format_utc;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::human_duration;
use crate::{Incident, IncidentLog, Span, Window};

/// A detail longer than this is cut in the table (the JSON has it whole).
const DETAIL_CHARS: usize = 80;

fn heading(w: &Window) -> String {
    match w.span {
        Span::Days => format!("=== Incidents (last {} days) ===\n", w.days),
        Span::Month | Span::Range => format!("=== Incidents ({w}) ===\n"),
    }
}

fn minute(t: OffsetDateTime) -> String {
    format!("{} {:02}:{:02}", t.date(), t.hour(), t.minute())
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// How long, and whether it is over: `5m 12s`, `3h 2m (open)`, `1d 2h (removed)`.
fn duration_words(i: &Incident, now: OffsetDateTime) -> String {
    let d = human_duration(i.duration(now));
    match i.end {
        crate::End::Recovered => d,
        crate::End::Open => format!("{d} (open)"),
        crate::End::Removed => format!("{d} (removed)"),
    }
}

/// The restarts: `2, recovered`, `1, still down`, `3, gave up`, or `-`.
fn restart_words(i: &Incident) -> String {
    if i.restarts_tried == 0 {
        return if i.gave_up { "gave up".into() } else { "-".into() };
    }
    let last = if i.gave_up {
        "gave up"
    } else if i.restarts.last().is_some_and(|r| r.recovered) && i.restarts.len() == i.restarts_tried as usize
    {
        "recovered"
    } else {
        "not recovered"
    };
    format!("{}, {last}", i.restarts_tried)
}

/// The rest: acknowledgement, quiet, what it blocked or was blocked by, whether it was alerted.
fn note_words(i: &Incident) -> String {
    let mut notes: Vec<String> = Vec::new();
    if let Some(a) = &i.ack {
        let by = a.by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
        let note = a.note.as_deref().map(|n| format!(": {}", cut(n, DETAIL_CHARS))).unwrap_or_default();
        notes.push(format!("acknowledged{by}{note}"));
    }
    if !i.quiet.is_empty() {
        notes.push(i.quiet.join(", "));
    }
    if !i.blocked.is_empty() {
        notes.push(format!("blocked {}", i.blocked.join(", ")));
    }
    if !i.blocked_by.is_empty() {
        notes.push(format!("blocked by {}", i.blocked_by.join(", ")));
    }
    if !i.alerted {
        notes.push("not alerted".into());
    }
    notes.join("; ")
}

/// Rows of cells as a table: each column as wide as its widest cell (the last one unpadded),
/// two spaces apart; control characters in cells escaped.
fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> =
        rows.iter().map(|r| r.iter().map(|c| printable(c).into_owned()).collect()).collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell}{}  ", " ".repeat(widths[c] - cell.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The incidents as a table, newest first, then per service the count, how many are open,
/// the mean time to recover and the time down in the window.
pub fn incidents_text(log: &IncidentLog, now: OffsetDateTime) -> String {
    let mut out = heading(&log.window);
    out.push('\n');
    if log.incidents.is_empty() {
        let _ = writeln!(out, "No incidents in {}.", log.window);
        return out;
    }
    let mut rows = vec![
        ["STARTED (UTC)", "SERVICE", "DURATION", "FAILURE", "RESTARTS", "NOTES"].map(String::from).to_vec(),
    ];
    for i in &log.incidents {
        let failure = if i.kind.is_empty() {
            cut(&i.detail, DETAIL_CHARS)
        } else {
            format!("{} ({})", cut(&i.detail, DETAIL_CHARS), i.kind)
        };
        rows.push(vec![
            minute(i.started),
            i.service.clone(),
            duration_words(i, now),
            failure,
            restart_words(i),
            note_words(i),
        ]);
    }
    out.push_str(&table(&rows));
    out.push('\n');
    let mut rows = vec![["SERVICE", "INCIDENTS", "OPEN", "MTTR", "DOWN"].map(String::from).to_vec()];
    for s in log.per_service(now) {
        rows.push(vec![
            s.service.clone(),
            s.incidents.to_string(),
            s.open.to_string(),
            s.mttr().map_or_else(|| "-".into(), human_duration),
            human_duration(s.downtime),
        ]);
    }
    out.push_str(&table(&rows));
    out
}

/// One incident as JSON: `service`, `started`, `ended` (null while open), `end` (`open`,
/// `recovered`, `removed`), `duration_seconds` (to `now` while open), `last_failed`, `kind`,
/// `detail`, `alerted`, `restarts_tried`, `restarts` (`at`, `attempt`, `result`, `recovered`),
/// `gave_up`, `quiet`, `ack` (`at`, `by`, `note`, or null), `blocked`, `blocked_by`.
pub fn incident_json(i: &Incident, now: OffsetDateTime) -> Value {
    json!({
        "service": i.service,
        "started": format_utc(i.started),
        "ended": i.ended.map(format_utc),
        "end": i.end.as_str(),
        "duration_seconds": i.duration(now).as_secs_f64(),
        "last_failed": i.last_failed.map(format_utc),
        "kind": i.kind,
        "detail": i.detail,
        "alerted": i.alerted,
        "restarts_tried": i.restarts_tried,
        "restarts": i.restarts.iter().map(|r| json!({
            "at": format_utc(r.at),
            "attempt": r.attempt,
            "result": r.result,
            "recovered": r.recovered,
        })).collect::<Vec<_>>(),
        "gave_up": i.gave_up,
        "quiet": i.quiet,
        "ack": i.ack.as_ref().map(|a| json!({"at": format_utc(a.at), "by": a.by, "note": a.note})),
        "blocked": i.blocked,
        "blocked_by": i.blocked_by,
    })
}

/// The incidents as one JSON document: `window`, `generated_at`, `incidents` (newest first,
/// each as [`incident_json`]), `services` (by name: `name`, `incidents`, `open`,
/// `mttr_seconds`, `downtime_seconds`), `bad_lines` and `newer_lines` (skipped lines of the
/// log).
pub fn incidents_json(log: &IncidentLog, now: OffsetDateTime) -> Value {
    json!({
        "window": super::json::window(&log.window),
        "generated_at": format_utc(now),
        "incidents": log.incidents.iter().map(|i| incident_json(i, now)).collect::<Vec<_>>(),
        "services": log.per_service(now).iter().map(|s| json!({
            "name": s.service,
            "incidents": s.incidents,
            "open": s.open,
            "mttr_seconds": s.mttr().map(|d| d.as_secs_f64()),
            "downtime_seconds": s.downtime.as_secs_f64(),
        })).collect::<Vec<_>>(),
        "bad_lines": log.bad_lines,
        "newer_lines": log.newer_lines,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;
    use crate::{End, IncidentAck, Restart};

    #[test]
    fn a_table_newest_first_and_the_figures_per_service() {
        let t = datetime!(2026-11-30 08:03 UTC);
        let base = Incident {
            service: "API".into(),
            started: t,
            ended: Some(t + time::Duration::seconds(312)),
            end: End::Recovered,
            last_failed: None,
            kind: "http_status".into(),
            detail: "HTTP 503".into(),
            alerted: true,
            restarts_tried: 1,
            restarts: vec![Restart { at: t, attempt: 1, result: "exited 0".into(), recovered: true }],
            gave_up: false,
            quiet: vec![],
            ack: Some(IncidentAck { at: t, by: Some("alice".into()), note: Some("on it".into()) }),
            blocked: vec!["Web".into()],
            blocked_by: vec![],
        };
        let open = Incident {
            service: "DB\u{1b}[2J".into(),
            started: t - time::Duration::hours(3),
            ended: None,
            end: End::Open,
            restarts_tried: 0,
            restarts: vec![],
            ack: None,
            blocked: vec![],
            alerted: false,
            kind: "connect".into(),
            detail: "x".repeat(200),
            ..base.clone()
        };
        let mut log = IncidentLog::empty(Window::last_days(date!(2026 - 11 - 30), 7));
        log.add([base, open]);
        let now = datetime!(2026-11-30 09:03 UTC);
        let text = incidents_text(&log, now);
        // The failure column is as wide as its widest cell: 79 x, an ellipsis and " (connect)".
        let expected = [
            "=== Incidents (last 7 days) ===".to_owned(),
            String::new(),
            format!("STARTED (UTC)     SERVICE    DURATION      {:<90}  RESTARTS      NOTES", "FAILURE"),
            format!(
                "2026-11-30 08:03  API        5m 12s        {:<90}  1, recovered  acknowledged by alice: on it; blocked Web",
                "HTTP 503 (http_status)"
            ),
            format!("2026-11-30 05:03  DB\\x1b[2J  4h 0m (open)  {}… (connect)  -             not alerted", "x".repeat(79)),
            String::new(),
            "SERVICE    INCIDENTS  OPEN  MTTR    DOWN".to_owned(),
            "API        1          0     5m 12s  5m 12s".to_owned(),
            "DB\\x1b[2J  1          1     -       4h 0m".to_owned(),
        ]
        .join("\n")
            + "\n";
        assert_eq!(text, expected);
        let doc = incidents_json(&log, now);
        assert_eq!(doc["incidents"][0]["ack"]["note"], "on it");
        assert_eq!(doc["incidents"][1]["ended"], Value::Null);
        assert_eq!(doc["incidents"][1]["detail"].as_str().unwrap().len(), 200, "whole in JSON");
        assert_eq!(doc["services"][0]["mttr_seconds"], 312.0);
        assert_eq!(doc["services"][1]["mttr_seconds"], Value::Null);
        assert_eq!(doc["window"]["days"], 7);
        let empty = IncidentLog::empty(Window::last_days(date!(2026 - 11 - 30), 7));
        assert_eq!(
            incidents_text(&empty, now),
            "=== Incidents (last 7 days) ===\n\nNo incidents in the last 7 days.\n"
        );
    }
}
