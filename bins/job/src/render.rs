//! What `job` prints: the list, a job's status, a ping's record, as text and as JSON.

use std::fmt::Write as _;

use ops_cli::{Failure, Printed, Started, exit};
use ops_jobs::jiff::Timestamp;
use ops_jobs::jiff::tz::TimeZone;
use ops_jobs::{JobName, JobState, Jobs, RunRecord, Verdict, human, show};
use ops_kit::JobService;
use serde_json::{Value, json};

/// Runs shown by `job status`.
const SHOWN_RUNS: usize = 10;

/// What is known of one job: its state, the service watching it and its verdict.
struct Row {
    name: JobName,
    state: Option<JobState>,
    service: Option<(String, JobService)>,
    verdict: Option<Verdict>,
    problem: Option<String>,
}

impl Row {
    fn tz(&self) -> TimeZone {
        self.service.as_ref().map_or(TimeZone::UTC, |(_, s)| s.watch.schedule.tz().clone())
    }

    fn failing(&self) -> bool {
        self.problem.is_some() || self.verdict.as_ref().is_some_and(|v| v.finding.is_some())
    }

    fn verdict_word(&self) -> &'static str {
        match (&self.problem, &self.verdict) {
            (Some(_), _) => "unknown",
            (None, Some(v)) => v.finding.map_or("ok", |f| f.as_str()),
            (None, None) => "-",
        }
    }

    fn last(&self) -> Option<&RunRecord> {
        self.state.as_ref().and_then(|s| s.by_start().last().copied())
    }
}

/// The `job` services of services.json (none without one), by job.
fn services(started: &Started) -> Result<Vec<(String, JobService)>, Failure> {
    let config = started.config_optional()?;
    Ok(config.map_or_else(Vec::new, |c| {
        ops_kit::jobs::services(&c).map(|(name, job)| (name.to_owned(), job.clone())).collect()
    }))
}

fn row(jobs: &Jobs, name: JobName, services: &[(String, JobService)], now: Timestamp) -> Row {
    let service = services.iter().find(|(_, s)| s.name == name).cloned();
    let mut problem = None;
    let verdict =
        service.as_ref().and_then(|(_, s)| match jobs.judge(&name, &s.watch, now, s.expected_since) {
            Ok(v) => Some(v),
            Err(e) => {
                problem = Some(e.to_string());
                None
            }
        });
    let state = match jobs.read(&name) {
        Ok(s) => s,
        Err(e) => {
            problem.get_or_insert(e.to_string());
            None
        }
    };
    Row { name, state, service, verdict, problem }
}

/// `job list`: every job recorded or watched.
pub fn list(started: &Started, jobs: &Jobs, json: bool) -> Result<Printed, Failure> {
    let services = services(started)?;
    let mut names = jobs.list().map_err(Failure::failed)?;
    names.extend(services.iter().map(|(_, s)| s.name.clone()));
    names.sort();
    names.dedup();
    let now = Timestamp::now();
    let rows: Vec<Row> = names.into_iter().map(|n| row(jobs, n, &services, now)).collect();
    let code = if rows.iter().any(Row::failing) { exit::FAILED } else { exit::OK };
    if json {
        let list: Vec<Value> = rows.iter().map(|r| row_json(r, 1)).collect();
        return Ok(Printed {
            stdout: format!("{:#}\n", json!({ "jobs": list })),
            stderr: String::new(),
            code,
        });
    }
    if rows.is_empty() {
        let stdout = format!("No jobs: none recorded in {} and no `job` service.\n", jobs.dir().display());
        return Ok(Printed { stdout, stderr: String::new(), code });
    }
    let mut table = vec![["JOB", "LAST RUN", "RESULT", "TOOK", "NEXT DUE", "VERDICT"].map(String::from)];
    for r in &rows {
        let tz = r.tz();
        let last = r.last();
        table.push([
            r.name.to_string(),
            last.map_or_else(|| "-".into(), |run| show(run.started, &tz, now)),
            last.map_or_else(|| "-".into(), |run| run.status.as_str().to_owned()),
            last.and_then(RunRecord::duration).map_or_else(|| "-".into(), human),
            r.verdict.as_ref().and_then(|v| v.next_due).map_or_else(|| "-".into(), |t| show(t, &tz, now)),
            r.verdict_word().to_owned(),
        ]);
    }
    let mut stdout = columns(&table);
    for r in rows.iter().filter(|r| r.failing()) {
        let detail =
            r.problem.clone().or_else(|| r.verdict.as_ref().map(|v| v.detail.clone())).unwrap_or_default();
        let _ = writeln!(stdout, "{}: {detail}", r.name);
    }
    Ok(Printed { stdout, stderr: String::new(), code })
}

/// `job status NAME`.
pub fn status(started: &Started, jobs: &Jobs, name: &JobName, json: bool) -> Result<Printed, Failure> {
    let services = services(started)?;
    let now = Timestamp::now();
    let r = row(jobs, name.clone(), &services, now);
    if r.state.is_none() && r.service.is_none() && r.problem.is_none() {
        return Err(Failure::failed(format!(
            "no job named {name}: nothing recorded in {}, and no `job` service watches it",
            jobs.dir().display()
        )));
    }
    let code = if r.failing() { exit::FAILED } else { exit::OK };
    if json {
        return Ok(Printed {
            stdout: format!("{:#}\n", row_json(&r, SHOWN_RUNS)),
            stderr: String::new(),
            code,
        });
    }
    let tz = r.tz();
    let mut out = format!("Job {name}\n");
    match &r.service {
        Some((service, s)) => {
            let w = &s.watch;
            let _ = writeln!(out, "  service:  {service}");
            let _ = writeln!(out, "  schedule: {}, grace {}", w.schedule.describe(), human(w.grace));
            if let Some(min) = w.min_runtime {
                let _ = writeln!(out, "  min run:  {}", human(min));
            }
            if let Some(max) = w.max_runtime {
                let _ = writeln!(out, "  max run:  {}", human(max));
            }
        }
        None => out.push_str("  service:  none (no `job` service watches it: no verdict)\n"),
    }
    if let Some(problem) = &r.problem {
        let _ = writeln!(out, "  verdict:  unknown: {problem}");
    }
    if let Some(v) = &r.verdict {
        let _ = writeln!(out, "  verdict:  {}: {}", v.finding.map_or("ok", |f| f.as_str()), v.detail);
        if let Some(t) = v.next_due {
            let _ = writeln!(out, "  next due: {}", show(t, &tz, now));
        }
    }
    let runs: Vec<&RunRecord> = r.state.as_ref().map(JobState::by_start).unwrap_or_default();
    if runs.is_empty() {
        out.push_str("\nNo runs recorded.\n");
    } else {
        let mut table = vec![["RUN", "STARTED", "BY", "RESULT", "TOOK", "DETAIL"].map(String::from)];
        for run in runs.iter().rev().take(SHOWN_RUNS) {
            table.push([
                run.id.to_string(),
                show(run.started, &tz, now),
                format!("{:?}", run.source).to_lowercase(),
                run.status.as_str().to_owned(),
                run.duration().map_or_else(|| "-".into(), human),
                run.result_words(),
            ]);
        }
        out.push('\n');
        out.push_str(&columns(&table));
        if let Some(last) = runs.last().filter(|run| !run.output.is_empty()) {
            let _ = writeln!(out, "\nOutput of run {} (last lines):", last.id);
            for line in last.output.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    Ok(Printed { stdout: out, stderr: String::new(), code })
}

/// A job as JSON, with at most `runs` of its runs (the newest first).
fn row_json(r: &Row, runs: usize) -> Value {
    let list: Vec<Value> = r
        .state
        .as_ref()
        .map(|s| s.by_start().into_iter().rev().take(runs).map(run_json).collect())
        .unwrap_or_default();
    json!({
        "job": r.name.as_str(),
        "service": r.service.as_ref().map(|(name, _)| name),
        "schedule": r.service.as_ref().map(|(_, s)| s.watch.schedule.describe()),
        "verdict": r.verdict_word(),
        "detail": r.problem.clone().or_else(|| r.verdict.as_ref().map(|v| v.detail.clone())),
        "next_due": r.verdict.as_ref().and_then(|v| v.next_due).map(|t| t.to_string()),
        "watched_since": r.state.as_ref().and_then(|s| s.watched_since).map(|t| t.to_string()),
        "runs": list,
    })
}

/// A run as JSON: the state file's record.
pub fn run_json(run: &RunRecord) -> Value {
    serde_json::to_value(run).unwrap_or(Value::Null)
}

/// What `job ping` says it recorded.
pub fn pinged(name: &JobName, run: &RunRecord) -> String {
    let took = run.duration().map(|d| format!(" after {}", human(d))).unwrap_or_default();
    match run.status {
        ops_jobs::Status::Running => format!("job {name}: run {} started\n", run.id),
        _ => format!("job {name}: run {} {}: {}{took}\n", run.id, run.status.as_str(), run.result_words()),
    }
}

/// Rows as left-aligned columns, two spaces apart.
fn columns<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
