//! The restart policy and `recovery.json`.

use std::collections::BTreeMap;
use std::time::Duration;

use ops_state::StateFile;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::RecoveryError;

/// Attempts are forgotten after this long without one (the Python kit's rule).
pub const FORGET_AFTER_SECONDS: f64 = 3600.0;

/// When a service may be restarted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Minimum time between two attempts (`restart_cooldown_seconds`, default 300).
    pub cooldown: Duration,
    /// Attempts before giving up (`max_restart_attempts`, default 3).
    pub max_attempts: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self { cooldown: Duration::from_secs(300), max_attempts: 3 }
    }
}

/// One service's entry in `recovery.json`, in the Python kit's format; keys we do not know (and
/// richer state added later) are kept as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceState {
    /// Restart attempts since the last verified recovery (or the last hour without attempts).
    #[serde(default)]
    pub attempts: u32,
    /// Unix time of the last attempt; 0 when there was none.
    #[serde(default)]
    pub last_attempt: f64,
    /// Unix time of the last successful recovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<f64>,
    /// Other keys, preserved on rewrite.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The whole `recovery.json`: service name to its state.
pub type RecoveryState = BTreeMap<String, ServiceState>;

/// What the policy allows now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Restart; this is attempt number `attempt` (1-based). The attempt is already recorded.
    Restart {
        /// Which attempt this is.
        attempt: u32,
    },
    /// The last attempt was too recent.
    Cooldown {
        /// Time until the next attempt is allowed.
        remaining: Duration,
    },
    /// Every allowed attempt was used within the last hour: manual intervention required.
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
    },
}

impl Policy {
    /// The Python kit's decision, in the Python kit's order: cooldown first, then the attempt limit
    /// (attempts are forgotten after an hour without one).
    pub fn decide(&self, state: &ServiceState, now: f64) -> Decision {
        let since = now - state.last_attempt;
        let cooldown = self.cooldown.as_secs_f64();
        if since < cooldown {
            // `since` is negative when the clock went back: the wait is never longer than the cooldown.
            let left = (cooldown - since).min(cooldown);
            let remaining = Duration::try_from_secs_f64(left).unwrap_or(self.cooldown);
            return Decision::Cooldown { remaining };
        }
        let attempts = if since > FORGET_AFTER_SECONDS { 0 } else { state.attempts };
        if attempts >= self.max_attempts {
            return Decision::GaveUp { attempts };
        }
        Decision::Restart { attempt: attempts + 1 }
    }
}

/// Decides for `service` under the state file's lock and, when the decision is to restart,
/// records the attempt before returning, so a crash during the restart still counts it.
pub fn begin(file: &StateFile, service: &str, policy: &Policy, now: f64) -> Result<Decision, RecoveryError> {
    file.update(|state: &mut RecoveryState| {
        let entry = state.entry(service.to_owned()).or_default();
        if entry.last_attempt > now {
            // The clock went back: count the cooldown from now rather than wait for the clock to
            // reach a time that may be days away.
            entry.last_attempt = now;
        }
        let decision = policy.decide(entry, now);
        if let Decision::Restart { attempt } = decision {
            entry.attempts = attempt;
            entry.last_attempt = now;
        }
        Ok(decision)
    })
}

/// Takes back attempt number `attempt` that [`begin`] recorded, when its command could not
/// even be started (no process could be made: the system's refusal, not the service's): it
/// must not bring the service closer to "gave up". The cooldown still counts from it. Nothing
/// changes when another attempt was recorded since.
pub fn uncount(file: &StateFile, service: &str, attempt: u32) -> Result<(), RecoveryError> {
    file.update(|state: &mut RecoveryState| {
        if let Some(entry) = state.get_mut(service).filter(|e| e.attempts == attempt) {
            entry.attempts = attempt.saturating_sub(1);
        }
        Ok(())
    })
}

/// Records a recovery verified by the re-check after a restart: it resets the attempt count
/// (the Python kit never did, so three recoveries in an hour meant giving up on the fourth
/// outage). A restart that did not help needs no record: [`begin`] counted its attempt.
pub fn record_recovery(file: &StateFile, service: &str, now: f64) -> Result<(), RecoveryError> {
    file.update(|state: &mut RecoveryState| {
        let entry = state.entry(service.to_owned()).or_default();
        entry.attempts = 0;
        entry.last_success = Some(now);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(attempts: u32, last_attempt: f64) -> ServiceState {
        ServiceState { attempts, last_attempt, ..ServiceState::default() }
    }

    #[test]
    fn the_seed_policy() {
        let p = Policy::default();
        let now = 10_000.0;
        assert_eq!(p.decide(&ServiceState::default(), now), Decision::Restart { attempt: 1 });
        assert_eq!(
            p.decide(&state(1, now - 100.0), now),
            Decision::Cooldown { remaining: Duration::from_secs(200) }
        );
        assert_eq!(p.decide(&state(1, now - 300.0), now), Decision::Restart { attempt: 2 });
        assert_eq!(p.decide(&state(3, now - 300.0), now), Decision::GaveUp { attempts: 3 });
        assert_eq!(
            p.decide(&state(3, now - 100.0), now),
            Decision::Cooldown { remaining: Duration::from_secs(200) }
        );
        assert_eq!(
            p.decide(&state(3, now - 3601.0), now),
            Decision::Restart { attempt: 1 },
            "forgotten after an hour"
        );
        assert_eq!(p.decide(&state(3, now - 3600.0), now), Decision::GaveUp { attempts: 3 });
    }

    #[test]
    fn a_clock_that_went_back_delays_a_restart_by_one_cooldown_at_most() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("recovery.json"));
        let policy = Policy::default();
        assert_eq!(begin(&file, "API", &policy, 100_000.0).unwrap(), Decision::Restart { attempt: 1 });
        // A day earlier: one cooldown from now, not a day and a cooldown.
        let back = 100_000.0 - 86_400.0;
        let remaining = Duration::from_secs(300);
        assert_eq!(begin(&file, "API", &policy, back).unwrap(), Decision::Cooldown { remaining });
        assert_eq!(begin(&file, "API", &policy, back + 300.0).unwrap(), Decision::Restart { attempt: 2 });
    }

    #[test]
    fn an_attempt_whose_command_never_started_is_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("recovery.json"));
        let policy = Policy { cooldown: Duration::ZERO, max_attempts: 2 };
        assert_eq!(begin(&file, "API", &policy, 10.0).unwrap(), Decision::Restart { attempt: 1 });
        uncount(&file, "API", 1).unwrap();
        assert_eq!(begin(&file, "API", &policy, 20.0).unwrap(), Decision::Restart { attempt: 1 });
        assert_eq!(begin(&file, "API", &policy, 30.0).unwrap(), Decision::Restart { attempt: 2 });
        uncount(&file, "API", 1).unwrap(); // a later attempt was recorded since: no change
        assert_eq!(begin(&file, "API", &policy, 40.0).unwrap(), Decision::GaveUp { attempts: 2 });
        uncount(&file, "Other", 1).unwrap(); // nothing to take back
        assert!(!file.read::<RecoveryState>().unwrap().unwrap().contains_key("Other"));
    }

    #[test]
    fn zero_attempts_allowed_means_never_restart() {
        let p = Policy { cooldown: Duration::ZERO, max_attempts: 0 };
        assert_eq!(p.decide(&ServiceState::default(), 5.0), Decision::GaveUp { attempts: 0 });
    }

    #[test]
    fn reads_and_keeps_the_seed_format() {
        let json = r#"{"API": {"attempts": 2, "last_attempt": 1700000000.25, "last_success": 1699990000.5, "note": "x"},
                       "Worker": {"attempts": 1, "last_attempt": 0}}"#;
        let s: RecoveryState = serde_json::from_str(json).unwrap();
        assert_eq!(s["API"].attempts, 2);
        assert_eq!(s["API"].last_success, Some(1_699_990_000.5));
        assert_eq!(s["Worker"].last_success, None);
        let back = serde_json::to_value(&s).unwrap();
        assert_eq!(back["API"]["note"], "x");
        assert_eq!(back["Worker"], serde_json::json!({"attempts": 1, "last_attempt": 0.0}));
    }
}
