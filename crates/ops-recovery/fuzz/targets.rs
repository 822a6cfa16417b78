//! The fuzz target for `recovery.json` (bolero: `cargo xtask fuzz recovery_json` runs it
//! under libFuzzer; `cargo test` replays its corpus in `fuzz/__fuzz__/` and random inputs).

use std::fs;

use ops_state::{StateError, StateFile};

use crate::{Decision, Policy, RecoveryError, RecoveryState, begin, record_recovery};

const NOW: f64 = 1_800_000_000.0;

/// Any recovery.json (the Python kit writes it in place, unlocked): one that does not parse is a
/// typed `Corrupt` error and left untouched; otherwise the decision is the policy's on the
/// service's entry (a last attempt in the future counts as now), the attempt is recorded, and
/// every other service and every unknown key is kept as it was, through `begin` and
/// `record_recovery` alike.
#[test]
fn recovery_json() {
    let scratch = test_support::scratch_dir();
    let policy = Policy::default();
    bolero::check!().with_iterations(2_000).for_each(|bytes: &[u8]| {
        let dir = tempfile::tempdir_in(scratch.path()).unwrap();
        let file = StateFile::new(dir.path().join("recovery.json"));
        fs::write(&file.path, bytes).unwrap();
        let decision = begin(&file, "API", &policy, NOW);
        let Ok(before) = serde_json::from_slice::<RecoveryState>(bytes) else {
            assert!(
                matches!(decision, Err(RecoveryError::State(StateError::Corrupt { .. }))),
                "{decision:?}"
            );
            let finished = record_recovery(&file, "API", NOW);
            assert!(
                matches!(finished, Err(RecoveryError::State(StateError::Corrupt { .. }))),
                "{finished:?}"
            );
            assert_eq!(fs::read(&file.path).unwrap(), bytes, "a corrupt file is never overwritten");
            return;
        };
        let mut old = before.get("API").cloned().unwrap_or_default();
        if old.last_attempt > NOW {
            // A clock set back: the cooldown counts from now (recorded so by `begin`).
            old.last_attempt = NOW;
        }
        let decision = decision.unwrap();
        assert_eq!(decision, policy.decide(&old, NOW));
        let after: RecoveryState = file.read().unwrap().unwrap();
        let mut want = old.clone();
        if let Decision::Restart { attempt } = decision {
            (want.attempts, want.last_attempt) = (attempt, NOW);
        }
        assert_eq!(after["API"], want);
        assert_eq!(after.len(), before.len() + usize::from(!before.contains_key("API")));
        for (name, state) in before.iter().filter(|(n, _)| *n != "API") {
            assert_eq!(after.get(name), Some(state), "{name:?}");
        }

        record_recovery(&file, "API", NOW + 5.0).unwrap();
        let finished: RecoveryState = file.read().unwrap().unwrap();
        want.attempts = 0;
        want.last_success = Some(NOW + 5.0);
        assert_eq!(finished["API"], want);
        assert_eq!(finished.len(), after.len());
        assert!(before.iter().filter(|(n, _)| *n != "API").all(|(n, s)| finished.get(n) == Some(s)));
    });
}
