//! `orchestrator status`: every check's state as the state files have it, read only: up, down
//! or blocked and since when, the restarts used and the cooldown left, silences and
//! maintenance windows, acknowledgements, escalation steps taken, and when it is checked next.

use std::collections::BTreeMap;
use std::time::Duration;

use ops_recovery::{Decision, RecoveryState};
use ops_state::StateFile;
use ops_state::timestamp::format_unix;
use serde_json::{Value, json};

use crate::ack::{self, Ack};
use crate::maintenance::{Quiet, active_silences, quiet};
use crate::outage::Memory;
use crate::{Config, Layout};

/// What is known of a check.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Its last check passed.
    Up,
    /// Its last check failed.
    Down,
    /// Its last check failed, and so did a dependency's: the failure is theirs.
    Blocked {
        /// The failing dependencies (roots) blocking it.
        by: Vec<String>,
    },
    /// It has not been checked yet (or only checks that could not be made).
    Unknown,
}

impl State {
    /// `up`, `down`, `blocked`, `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Blocked { .. } => "blocked",
            Self::Unknown => "unknown",
        }
    }
}

/// A service's restarts, as `recovery.json` and its policy have them.
#[derive(Debug, Clone, PartialEq)]
pub struct Restarts {
    /// Attempts counted against the limit (forgotten after an hour without one).
    pub used: u32,
    /// `max_restart_attempts`.
    pub max: u32,
    /// Time until the next attempt is allowed, when it is in its cooldown.
    pub cooldown_left: Option<Duration>,
}

/// One check's status.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceStatus {
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: State,
    /// Since when (unix seconds): the outage's start, or the first good check after it.
    pub since: Option<f64>,
    /// The failure alert went out for the current outage.
    pub alerted: bool,
    /// Escalation steps taken in the current outage, of how many.
    pub escalated: (u32, usize),
    /// Its restarts, when it has a `restart_command`.
    pub restarts: Option<Restarts>,
    /// Why it is neither restarted nor alerted now, if it is quiet.
    pub quiet: Option<Quiet>,
    /// The acknowledgement of its current outage.
    pub ack: Option<Ack>,
    /// When it was last checked (unix seconds).
    pub last_check: Option<f64>,
    /// Its own `interval_seconds`; `None`: every `check_interval_seconds` in `--loop`, every
    /// pass otherwise.
    pub interval: Option<Duration>,
}

impl ServiceStatus {
    /// When it is checked next (unix seconds), when it has an interval of its own.
    pub fn next_check(&self) -> Option<f64> {
        Some(self.last_check.unwrap_or_default() + self.interval?.as_secs_f64())
    }
}

/// The status of every check of `config` at `now`, and the state files that could not be read
/// (each a warning; what they hold is then left out).
pub fn status(layout: &Layout, config: &Config, now: f64) -> (Vec<ServiceStatus>, Vec<String>) {
    fn read<T: Default>(
        warnings: &mut Vec<String>,
        what: &str,
        r: Result<Option<T>, ops_state::StateError>,
    ) -> T {
        r.unwrap_or_else(|e| {
            warnings.push(format!("{what} left out: {e}"));
            None
        })
        .unwrap_or_default()
    }
    let mut warnings = Vec::new();
    let w = &mut warnings;
    let memory: BTreeMap<String, Memory> =
        read(w, "the outage memory", StateFile::new(layout.outages()).read());
    let recovery: RecoveryState = read(w, "the restart state", StateFile::new(layout.recovery()).read());
    let silences = read(w, "silences", active_silences(&StateFile::new(layout.silences()), now).map(Some));
    let acks =
        read(w, "acknowledgements", ack::read_current(&StateFile::new(layout.acks()), &memory).map(Some));
    let names: Vec<String> = config.probes().into_iter().map(|p| p.name).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let failing: Vec<bool> = names.iter().map(|n| memory.get(n).is_some_and(Memory::failing)).collect();
    let blocked = config.graph(&refs).blocked(&failing);
    let out = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let m = memory.get(name);
            let service = config.service(name);
            let state = match (m, &blocked[i]) {
                (_, Some(roots)) => State::Blocked { by: roots.iter().map(|&r| names[r].clone()).collect() },
                (Some(m), None) if m.failing() => State::Down,
                (Some(m), None) if m.successes > 0 || m.last_check.is_some() => State::Up,
                _ => State::Unknown,
            };
            let since = m.and_then(|m| if m.failing() { m.down_since } else { m.up_since });
            let restarts = service.filter(|s| s.restart_command.is_some()).map(|s| {
                let policy = ops_recovery::Policy {
                    cooldown: s.restart_cooldown,
                    max_attempts: s.max_restart_attempts,
                };
                let entry = recovery.get(name).cloned().unwrap_or_default();
                let (used, cooldown_left) = match policy.decide(&entry, now) {
                    Decision::Restart { attempt } => (attempt - 1, None),
                    Decision::GaveUp { attempts } => (attempts, None),
                    Decision::Cooldown { remaining } => (entry.attempts, Some(remaining)),
                };
                Restarts { used, max: s.max_restart_attempts, cooldown_left }
            });
            ServiceStatus {
                name: name.clone(),
                state,
                since,
                alerted: m.is_some_and(|m| m.alerted),
                escalated: (m.map_or(0, |m| m.escalated), service.map_or(0, |s| s.escalation.len())),
                restarts,
                quiet: quiet(name, &config.orchestration.maintenance, &silences, now),
                ack: acks.get(name).cloned(),
                last_check: m.and_then(|m| m.last_check),
                interval: service.and_then(|s| s.policy.interval),
            }
        })
        .collect();
    (out, warnings)
}

/// The status of every check as one JSON array (`orchestrator status --json`, and the MCP
/// server's `status` tool): each check's name, state, blocking roots, since when, alerts and
/// escalation, restarts and cooldown, quiet reason, acknowledgement and next check.
pub fn json(services: &[ServiceStatus]) -> Value {
    let list: Vec<Value> = services
        .iter()
        .map(|s| {
            let blocked_by = match &s.state {
                State::Blocked { by } => by.clone(),
                _ => Vec::new(),
            };
            json!({
                "name": s.name,
                "state": s.state.as_str(),
                "blocked_by": blocked_by,
                "since": s.since.map(format_unix),
                "alerted": s.alerted,
                "escalated": s.escalated.0,
                "escalation_steps": s.escalated.1,
                "restarts": s.restarts.as_ref().map(|r| json!({
                    "used": r.used, "max": r.max,
                    "cooldown_left_seconds": r.cooldown_left.map(|d| d.as_secs_f64()),
                })),
                "quiet": s.quiet.as_ref().map(ToString::to_string),
                "ack": s.ack.as_ref().map(|a| json!({"at": format_unix(a.at), "by": a.by, "note": a.note, "outage": format_unix(a.outage)})),
                "last_check": s.last_check.map(format_unix),
                "interval_seconds": s.interval.map(|d| d.as_secs_f64()),
                "next_check": s.next_check().map(format_unix),
            })
        })
        .collect();
    Value::Array(list)
}
