//! The fuzz targets for the job state file and cron expressions (bolero: `cargo xtask fuzz
//! job_state` runs one under libFuzzer; `cargo test` replays their corpus in `fuzz/__fuzz__/`
//! and random inputs).

use std::fs;

use crate::{Cron, JobName, JobState, Jobs, Ping, PingResult, Schedule, Watch, judge};

/// Any state file: one that parses is judged without panicking and written back as the same
/// state; a change (a ping) keeps every run it did not touch. One that does not parse is a
/// typed corrupt error for reads and changes, and is never overwritten.
#[test]
fn job_state() {
    let scratch = test_support::scratch_dir();
    let watch = Watch {
        schedule: Schedule::cron("*/5 * * * *", "Europe/Berlin").unwrap(),
        grace: std::time::Duration::from_secs(60),
        min_runtime: Some(std::time::Duration::from_secs(1)),
        max_runtime: Some(std::time::Duration::from_secs(60)),
    };
    let name = JobName::new("fuzz").unwrap();
    bolero::check!().with_iterations(1_000).for_each(|bytes: &[u8]| {
        let parsed = serde_json::from_slice::<JobState>(bytes);
        if let Ok(state) = &parsed {
            let now = "2026-10-25T01:30:00Z".parse().unwrap();
            let _ = judge(state, &watch, now, &|r| r.id % 2 == 0);
            let written = serde_json::to_vec_pretty(state).unwrap();
            assert_eq!(&serde_json::from_slice::<JobState>(&written).unwrap(), state);
        }
        let dir = tempfile::tempdir_in(scratch.path()).unwrap();
        let jobs = Jobs::new(dir.path());
        let path = jobs.state_path(&name);
        fs::write(&path, bytes).unwrap();
        let pinged = jobs.ping(
            &name,
            Ping::End(PingResult::Ok),
            Some("fuzz"),
            "2026-11-30T00:00:00Z".parse().unwrap(),
        );
        match (&parsed, pinged) {
            (Ok(before), Ok(_)) => {
                let after = jobs.read(&name).unwrap().unwrap();
                for run in before.runs.iter().rev().take(crate::MAX_RUNS - 1) {
                    assert!(
                        after.runs.contains(run) || run.status == crate::Status::Running,
                        "a run was changed: {run:?}"
                    );
                }
            }
            (Err(_), Err(crate::JobError::State(ops_state::StateError::Corrupt { .. }))) => {
                assert_eq!(fs::read(&path).unwrap(), bytes, "a corrupt file is left as it was");
            }
            (parsed, pinged) => panic!("parsed {parsed:?}, pinged {pinged:?}"),
        }
    });
}

/// Any expression: parses or is refused in words, never panics; one that parses is due after
/// any moment (or never, only past the year 9990), later than that moment.
#[test]
fn cron_expression() {
    let tz = crate::zone("America/New_York").unwrap();
    bolero::check!().with_iterations(5_000).for_each(|bytes: &[u8]| {
        let Ok(text) = std::str::from_utf8(bytes) else { return };
        let Ok(cron) = Cron::parse(text) else { return };
        let t: jiff::Timestamp = "2026-03-08T06:30:00Z".parse().unwrap();
        let next = cron.next_after(t, &tz).expect("a valid expression is due within its horizon");
        assert!(next > t);
        assert!(cron.next_after(next, &tz).is_some_and(|n| n > next));
    });
}
