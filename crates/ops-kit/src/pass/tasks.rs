//! Phase 4, the board: tasks stalled in progress (alerted once, then every reminder interval),
//! and an investigation task for each service that just went down, when asked for.

use std::collections::BTreeMap;

use ops_alert::{Alert, Event, EventKind, Level, Outgoing};
use ops_board::{BoardFile, NewTask, Priority, StalledQuery};
use ops_state::StateFile;

use super::alerts::{Judged, Keep};
use super::{Pass, ServiceReport};
use crate::outage::Notice;

impl Pass<'_> {
    /// Tasks stalled in progress for longer than `stalled_task_hours`: each is alerted once
    /// (and again every reminder interval while it stays stalled), not every pass, as a
    /// reminder of its own (a newer one replaces an older one still queued). Returns the
    /// events and the memory of alerted tasks to keep once they are queued.
    pub(super) fn stalled_tasks(&mut self) -> (Vec<Outgoing>, Option<Keep>) {
        let Some(snapshot) = self.board() else { return (Vec::new(), None) };
        let after = self.config.stalled_task_after;
        let stalled = snapshot.board.stalled(&StalledQuery::in_progress(after), self.started);
        self.note(format!("Phase 4: Stalled task check: {} stalled task(s)", stalled.tasks.len()));
        let remind = self.config.orchestration.reminder_interval.map(|d| d.as_secs_f64());
        let now = self.now;
        let mut due = Vec::new();
        // Tasks alerted before and stalled no more: Alertmanager is told they ended.
        let mut gone = Vec::new();
        let mut update = |seen: &mut BTreeMap<String, f64>| {
            let still = |id: &String| stalled.tasks.iter().any(|t| &t.task.id == id);
            gone.extend(seen.keys().filter(|id| !still(id)).cloned());
            seen.retain(|id, _| still(id));
            for t in &stalled.tasks {
                let last = seen.get(&t.task.id).copied();
                if last.is_none_or(|at| remind.is_some_and(|every| now - at >= every)) {
                    seen.insert(t.task.id.clone(), now);
                    due.push(t);
                }
            }
        };
        let file = StateFile::new(self.layout.stalled_alerts());
        let keep = match file.read::<BTreeMap<String, f64>>() {
            Ok(seen) => {
                let mut seen = seen.unwrap_or_default();
                update(&mut seen);
                Keep::new(file, &seen, "stalled-task memory")
            }
            Err(e) => {
                update(&mut BTreeMap::new());
                self.warn(format!("stalled-task memory not kept: {e}"));
                None
            }
        };
        // The Python kit's words: ` - owner: title` (60 characters of it) under one heading.
        let hours = after.as_secs_f64() / 3600.0;
        let section = format!("Stalled tasks (>{hours}h in progress)");
        let destinations = self.destinations(&self.config.default_channels());
        let event = |id: &str, kind, since: Option<f64>, text: String| {
            let alert =
                Alert { level: Level::Warning, topic: None, message: format!("{section}:\n - {text}") };
            let event = Event {
                key: format!("stalled:{id}"),
                kind,
                at: now,
                started: since,
                section: section.clone(),
                text,
                labels: BTreeMap::from([
                    ("alertname".to_owned(), "AgentOpsTaskStalled".to_owned()),
                    ("severity".to_owned(), "warning".to_owned()),
                    ("task".to_owned(), id.to_owned()),
                ]),
            };
            (alert, event)
        };
        let line = |t: &ops_board::StalledTask<'_>| {
            let owner = if t.task.owner.is_empty() { "?" } else { t.task.owner.as_str() };
            let title: String = t.task.title.chars().take(60).collect();
            format!("{owner}: {title}")
        };
        let since = |t: &ops_board::StalledTask<'_>| Some(ops_state::timestamp::unix_seconds(t.since));
        let mut events: Vec<Outgoing> = due
            .iter()
            .map(|t| {
                let (alert, e) = event(&t.task.id, EventKind::Reminder, since(t), line(t));
                Outgoing { alert, event: Some(e), destinations: destinations.clone() }
            })
            .collect();
        // Alertmanager forgets an alert it is not told again: every stalled task is, at every
        // pass, and one stalled no more is told it ended.
        let am = self
            .config
            .alerting
            .destination(crate::config::ALERTMANAGER)
            .filter(|d| destinations.contains(d));
        if let Some(am) = am {
            for t in stalled.tasks.iter().filter(|t| !due.iter().any(|d| d.task.id == t.task.id)) {
                let (alert, e) = event(&t.task.id, EventKind::Reminder, since(t), line(t));
                events.push(Outgoing { alert, event: Some(e), destinations: vec![am.clone()] });
            }
            for id in &gone {
                let (alert, e) =
                    event(id, EventKind::Closed, None, format!("task {id} is no longer stalled"));
                events.push(Outgoing { alert, event: Some(e), destinations: vec![am.clone()] });
            }
        }
        (events, keep)
    }

    /// The board as it is now; `None` when there is none, or (with a warning) when it cannot be
    /// read.
    fn board(&mut self) -> Option<ops_board::Snapshot> {
        let board = match BoardFile::new(self.layout.board()) {
            Ok(board) if board.path().exists() => board,
            Ok(_) => return None,
            Err(e) => {
                self.warn(format!("stalled tasks not checked: {e}"));
                return None;
            }
        };
        let snapshot = match board.read() {
            Ok(s) => s,
            Err(e) => {
                self.warn(format!("stalled tasks not checked: {e}"));
                return None;
            }
        };
        if let Some(fallback) = &snapshot.fallback {
            self.warn(fallback.to_string());
        }
        Some(snapshot)
    }

    /// `create_tasks_for_failures`: an investigation task for each service that just went
    /// down, unless one with the same title is still open (the Python kit's recipe 5, with a
    /// stable title).
    pub(super) fn open_tasks(&mut self, services: &[ServiceReport], judged: &[Judged]) {
        let down: Vec<&ServiceReport> = judged
            .iter()
            .filter(|j| j.judgement.notices.contains(&Notice::Down))
            .filter_map(|j| j.made.map(|k| &services[k]))
            .collect();
        if down.is_empty() || !self.config.orchestration.create_tasks_for_failures {
            return;
        }
        let tasks: Vec<NewTask> = down
            .iter()
            .map(|s| NewTask {
                owner: "ops-agent".into(),
                priority: Priority::High,
                description: format!("{} reported: {}", s.check.name, s.check.detail),
                tags: vec!["auto-generated".into(), "ops".into(), "outage".into()],
                ..NewTask::new(investigate_title(&s.check.name))
            })
            .collect();
        if self.dry() {
            for t in &tasks {
                self.note(format!("DRY RUN: would open the task {:?} (unless it is open already)", t.title));
            }
            return;
        }
        let now = self.started;
        let added = BoardFile::new(self.layout.board()).and_then(|file| {
            file.update(|board| {
                let mut added = Vec::new();
                for t in &tasks {
                    if !board.tasks.iter().any(|open| open.title == t.title && open.column != "done") {
                        added.push(board.add(t, now)?.id.clone());
                    }
                }
                Ok(added)
            })
        });
        match added {
            Ok(ids) => {
                for id in ids {
                    self.note(format!("Opened task {id}"));
                }
            }
            Err(e) => self.warn(format!("investigation tasks not opened: {e}")),
        }
    }
}

/// The stable title of a service's investigation task (the Python kit's recipe put the uptime
/// in it, so every pass opened a new one).
pub fn investigate_title(service: &str) -> String {
    format!("Investigate: {service} is down")
}
