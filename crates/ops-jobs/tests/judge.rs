//! The verdict at a moment given by the test (no clock, no sleeping for hours): each finding,
//! the order they are told in, the schedule's zone changing its clocks both ways, and runs
//! recorded through the state file by pings.

use std::time::Duration;

use ops_jobs::jiff::Timestamp;
use ops_jobs::{
    Finding, JobName, JobState, Jobs, Ping, PingResult, RunRecord, Schedule, Source, Status, Watch, judge,
};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn watch(schedule: Schedule) -> Watch {
    Watch { schedule, grace: Duration::from_secs(1800), min_runtime: None, max_runtime: None }
}

fn berlin_nightly() -> Watch {
    watch(Schedule::cron("0 3 * * *", "Europe/Berlin").unwrap())
}

/// A run that started at `start` and ended `took` seconds later with `status` (running when
/// `took` is `None`).
fn run(id: u64, start: &str, took: Option<u64>, status: Status) -> RunRecord {
    let mut r = RunRecord::new(id, Source::Run, at(start));
    r.status = status;
    if let Some(s) = took {
        r.duration_seconds = Some(s as f64);
        r.ended =
            Some(at(start).checked_add(ops_jobs::jiff::SignedDuration::from_secs(s.cast_signed())).unwrap());
        r.exit_code = Some(i32::from(status != Status::Ok));
    }
    r
}

fn state(runs: Vec<RunRecord>) -> JobState {
    JobState { watched_since: Some(at("2026-11-01T00:00:00Z")), next_id: runs.len() as u64, runs }
}

fn verdict(s: &JobState, w: &Watch, now: &str) -> (Option<Finding>, String) {
    let v = judge(s, w, at(now), &|_| false);
    (v.finding, v.detail)
}

#[test]
fn on_time_and_fine_says_when_the_next_is_due() {
    let s = state(vec![run(0, "2026-11-30T02:00:04Z", Some(725), Status::Ok)]);
    let (finding, detail) = verdict(&s, &berlin_nightly(), "2026-11-30T12:00:00Z");
    assert_eq!(finding, None);
    assert_eq!(
        detail,
        "last run 03:00 Europe/Berlin: exit 0 in 12m5s; next due 2026-12-01 03:00 Europe/Berlin"
    );
}

#[test]
fn late_when_no_start_comes_within_the_grace_and_says_by_how_much() {
    let s = state(vec![run(0, "2026-11-29T02:00:04Z", Some(60), Status::Ok)]);
    let w = berlin_nightly();
    // 03:29 Berlin: within the grace of 30 minutes.
    assert_eq!(verdict(&s, &w, "2026-11-30T02:29:00Z").0, None);
    let (finding, detail) = verdict(&s, &w, "2026-11-30T02:42:00Z");
    assert_eq!(finding, Some(Finding::Late));
    assert_eq!(detail, "late by 42m: expected 03:00 Europe/Berlin");
    // A day later, still late, and the date is said.
    let (_, detail) = verdict(&s, &w, "2026-12-01T10:00:00Z");
    assert_eq!(detail, "late by 1d8h: expected 2026-11-30 03:00 Europe/Berlin");
}

#[test]
fn a_job_that_never_ran_is_late_from_when_watching_began() {
    let s = JobState { watched_since: Some(at("2026-11-30T10:00:00Z")), ..JobState::default() };
    let w = berlin_nightly();
    assert_eq!(
        verdict(&s, &w, "2026-11-30T22:00:00Z").1,
        "no run recorded yet; next due 2026-12-01 03:00 Europe/Berlin"
    );
    let (finding, detail) = verdict(&s, &w, "2026-12-01T03:00:00Z");
    assert_eq!(finding, Some(Finding::Late));
    assert_eq!(detail, "late by 1h: expected 03:00 Europe/Berlin; no run recorded yet");
}

#[test]
fn failed_runs_say_how_and_a_run_in_progress_leaves_the_verdict_standing() {
    let mut failed = run(0, "2026-11-30T02:00:00Z", Some(12), Status::Failed);
    failed.exit_code = Some(3);
    let w = berlin_nightly();
    let (finding, detail) = verdict(&state(vec![failed.clone()]), &w, "2026-11-30T08:00:00Z");
    assert_eq!(finding, Some(Finding::Failed));
    assert_eq!(detail, "the run of 03:00 Europe/Berlin failed: exit 3 after 12s");
    // A retry is running: the failure stands until a run succeeds.
    let retry = run(1, "2026-11-30T08:00:00Z", None, Status::Running);
    let s = state(vec![failed.clone(), retry.clone()]);
    assert_eq!(verdict(&s, &w, "2026-11-30T08:05:00Z").0, Some(Finding::Failed));
    let mut ok = retry;
    ok.status = Status::Ok;
    ok.duration_seconds = Some(100.0);
    let s = state(vec![failed.clone(), ok]);
    assert_eq!(verdict(&s, &w, "2026-11-30T08:05:00Z").0, Some(Finding::TooOften), "a retry is an extra run");

    let mut killed = failed.clone();
    (killed.exit_code, killed.signal) = (None, Some(9));
    assert_eq!(
        verdict(&state(vec![killed]), &w, "2026-11-30T08:00:00Z").1,
        "the run of 03:00 Europe/Berlin failed: killed by signal 9 (SIGKILL) after 12s"
    );
    let mut timed_out = failed;
    (timed_out.exit_code, timed_out.timed_out) = (None, true);
    assert_eq!(
        verdict(&state(vec![timed_out]), &w, "2026-11-30T08:00:00Z").1,
        "the run of 03:00 Europe/Berlin failed: stopped at its timeout after 12s"
    );
}

#[test]
fn a_run_whose_wrapper_is_gone_failed_and_is_never_running_for_ever() {
    let s = state(vec![run(0, "2026-11-30T02:00:00Z", None, Status::Running)]);
    let w = berlin_nightly();
    assert_eq!(judge(&s, &w, at("2026-11-30T02:10:00Z"), &|_| false).finding, None, "its wrapper lives");
    let v = judge(&s, &w, at("2026-11-30T02:10:00Z"), &|_| true);
    assert_eq!(v.finding, Some(Finding::Failed));
    assert_eq!(
        v.detail,
        "the run of 03:00 Europe/Berlin failed: no end recorded: its wrapper is gone (killed, or the host stopped)"
    );
    // And the next night without a run, late comes first, the failure after it.
    let v = judge(&s, &w, at("2026-12-01T03:00:00Z"), &|_| true);
    assert_eq!(v.finding, Some(Finding::Late));
    assert!(v.detail.ends_with("; also the run of 2026-11-30 03:00 Europe/Berlin failed: no end recorded: its wrapper is gone (killed, or the host stopped)"), "{}", v.detail);
}

#[test]
fn too_long_while_running_and_after() {
    let mut w = berlin_nightly();
    w.max_runtime = Some(Duration::from_secs(7200));
    let running = state(vec![run(0, "2026-11-30T02:00:00Z", None, Status::Running)]);
    assert_eq!(verdict(&running, &w, "2026-11-30T03:59:00Z").0, None);
    let (finding, detail) = verdict(&running, &w, "2026-11-30T04:10:00Z");
    assert_eq!(finding, Some(Finding::TooLong));
    assert_eq!(detail, "running for 2h10m since 03:00 Europe/Berlin, longer than the 2h allowed");
    let done = state(vec![run(0, "2026-11-30T02:00:00Z", Some(7800), Status::Ok)]);
    assert_eq!(
        verdict(&done, &w, "2026-11-30T12:00:00Z").1,
        "the run of 03:00 Europe/Berlin took 2h10m, longer than the 2h allowed"
    );
}

#[test]
fn too_short_only_for_a_success() {
    let mut w = berlin_nightly();
    w.min_runtime = Some(Duration::from_secs(60));
    let quick = state(vec![run(0, "2026-11-30T02:00:00Z", Some(4), Status::Ok)]);
    let (finding, detail) = verdict(&quick, &w, "2026-11-30T12:00:00Z");
    assert_eq!(finding, Some(Finding::TooShort));
    assert_eq!(detail, "the run of 03:00 Europe/Berlin succeeded in 4s, less than the 1m expected");
    // A quick failure is a failure, not too short; a ping without a start has no length.
    let mut failed = run(0, "2026-11-30T02:00:00Z", Some(4), Status::Failed);
    failed.exit_code = Some(1);
    assert_eq!(verdict(&state(vec![failed]), &w, "2026-11-30T12:00:00Z").0, Some(Finding::Failed));
    let mut unknown = run(0, "2026-11-30T02:00:00Z", None, Status::Ok);
    unknown.ended = Some(at("2026-11-30T02:00:00Z"));
    assert_eq!(verdict(&state(vec![unknown]), &w, "2026-11-30T12:00:00Z").0, None);
}

#[test]
fn too_often_by_the_schedule_and_its_tolerance() {
    let w = berlin_nightly();
    let first = run(0, "2026-11-30T02:00:02Z", Some(60), Status::Ok);
    let again = run(1, "2026-11-30T02:10:00Z", Some(60), Status::Ok);
    let (finding, detail) = verdict(&state(vec![first.clone(), again]), &w, "2026-11-30T12:00:00Z");
    assert_eq!(finding, Some(Finding::TooOften));
    assert_eq!(
        detail,
        "started 03:10 Europe/Berlin, 9m58s after the run of 03:00 Europe/Berlin: the schedule (0 3 * * * in Europe/Berlin) allows the next from 2026-12-01 02:59 Europe/Berlin"
    );
    // The next night's run, up to a minute early (clocks disagree), is on time.
    let next = run(1, "2026-12-01T01:59:30Z", Some(60), Status::Ok);
    assert_eq!(verdict(&state(vec![first.clone(), next]), &w, "2026-12-01T12:00:00Z").0, None);
    // Concurrent runs of one slot: both recorded, too often.
    let overlapping = run(1, "2026-11-30T02:00:03Z", None, Status::Running);
    assert_eq!(
        verdict(&state(vec![first, overlapping]), &w, "2026-11-30T02:01:00Z").0,
        Some(Finding::TooOften)
    );
    // A period: a tenth of it is the tolerance.
    let hourly = watch(Schedule::every(Duration::from_secs(3600), "UTC").unwrap());
    let a = run(0, "2026-11-30T10:00:00Z", Some(1), Status::Ok);
    let on_time = run(1, "2026-11-30T10:55:00Z", Some(1), Status::Ok);
    let early = run(1, "2026-11-30T10:50:00Z", Some(1), Status::Ok);
    assert_eq!(verdict(&state(vec![a.clone(), on_time]), &hourly, "2026-11-30T11:00:00Z").0, None);
    assert_eq!(verdict(&state(vec![a, early]), &hourly, "2026-11-30T11:00:00Z").0, Some(Finding::TooOften));
}

#[test]
fn spring_forward_the_skipped_slot_is_due_at_the_change_neither_late_nor_too_often() {
    // Europe/Berlin skips 02:00-03:00 on 29 March 2026; cron runs a 02:30 job at the change,
    // 03:00 CEST (01:00 UTC).
    let w = watch(Schedule::cron("30 2 * * *", "Europe/Berlin").unwrap());
    let before = run(0, "2026-03-28T01:30:00Z", Some(60), Status::Ok);
    let s = state(vec![before.clone()]);
    assert_eq!(verdict(&s, &w, "2026-03-29T01:29:00Z").0, None, "within the grace of the change");
    let (finding, detail) = verdict(&s, &w, "2026-03-29T01:31:00Z");
    assert_eq!(finding, Some(Finding::Late));
    assert_eq!(detail, "late by 31m: expected 03:00 Europe/Berlin");
    let at_change = run(1, "2026-03-29T01:00:01Z", Some(60), Status::Ok);
    let s = state(vec![before, at_change]);
    assert_eq!(
        verdict(&s, &w, "2026-03-29T12:00:00Z"),
        (None, "last run 03:00 Europe/Berlin: exit 0 in 1m; next due 2026-03-30 02:30 Europe/Berlin".into())
    );
    // An hourly job has one run fewer that night, and none of them is late.
    let w = watch(Schedule::cron("30 * * * *", "Europe/Berlin").unwrap());
    let one_thirty = state(vec![run(0, "2026-03-29T00:30:00Z", Some(5), Status::Ok)]);
    assert_eq!(
        judge(&one_thirty, &w, at("2026-03-29T01:20:00Z"), &|_| false).next_due,
        Some(at("2026-03-29T01:00:00Z"))
    );
}

#[test]
fn fall_back_a_fixed_time_runs_once_and_a_repeating_one_twice() {
    // Europe/Berlin repeats 02:00-03:00 on 25 October 2026 (CEST, then CET).
    let w = watch(Schedule::cron("30 2 * * *", "Europe/Berlin").unwrap());
    let first = run(0, "2026-10-25T00:30:00Z", Some(60), Status::Ok);
    let s = state(vec![first.clone()]);
    // Not expected again at the second 02:30 (01:30 UTC): not late then.
    assert_eq!(verdict(&s, &w, "2026-10-25T03:00:00Z").0, None);
    assert_eq!(
        judge(&s, &w, at("2026-10-25T03:00:00Z"), &|_| false).next_due,
        Some(at("2026-10-26T01:30:00Z"))
    );
    // And a run at the second 02:30 is one too many.
    let second = run(1, "2026-10-25T01:30:00Z", Some(60), Status::Ok);
    assert_eq!(verdict(&state(vec![first, second]), &w, "2026-10-25T03:00:00Z").0, Some(Finding::TooOften));
    // An hourly job runs at both 02:30s: neither is too often, and the second is expected.
    let w = watch(Schedule::cron("30 * * * *", "Europe/Berlin").unwrap());
    let a = run(0, "2026-10-25T00:30:00Z", Some(60), Status::Ok);
    let b = run(1, "2026-10-25T01:30:00Z", Some(60), Status::Ok);
    assert_eq!(
        judge(&state(vec![a.clone()]), &w, at("2026-10-25T01:00:00Z"), &|_| false).next_due,
        Some(at("2026-10-25T01:30:00Z"))
    );
    assert_eq!(verdict(&state(vec![a, b]), &w, "2026-10-25T01:40:00Z").0, None);
}

#[test]
fn pings_record_runs_in_the_state_file_and_a_start_without_end_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = Jobs::new(dir.path());
    let name = JobName::new("report").unwrap();
    let w = watch(Schedule::every(Duration::from_secs(3600), "UTC").unwrap());
    // Judging only reads: with no run, runs are due from when the caller began to expect them.
    let since = Some(at("2026-11-30T09:00:00Z"));
    assert_eq!(
        jobs.judge(&name, &w, at("2026-11-30T09:30:00Z"), since).unwrap().detail,
        "no run recorded yet; next due 10:00 UTC"
    );
    assert_eq!(
        jobs.judge(&name, &w, at("2026-11-30T10:31:00Z"), since).unwrap().finding,
        Some(Finding::Late)
    );
    assert_eq!(
        jobs.judge(&name, &w, at("2026-11-30T10:31:00Z"), None).unwrap().finding,
        None,
        "never expected"
    );
    assert!(jobs.read(&name).unwrap().is_none(), "nothing was written");
    jobs.ping(&name, Ping::Start, None, at("2026-11-30T10:00:00Z")).unwrap();
    let done = jobs
        .ping(&name, Ping::End(PingResult::Ok), Some("sent 4 mails"), at("2026-11-30T10:00:30Z"))
        .unwrap();
    assert_eq!(
        (done.status, done.duration_seconds, done.output.as_str()),
        (Status::Ok, Some(30.0), "sent 4 mails")
    );
    // A start, then another start: the first never reported its end.
    jobs.ping(&name, Ping::Start, None, at("2026-11-30T11:00:00Z")).unwrap();
    jobs.ping(&name, Ping::Start, None, at("2026-11-30T12:00:00Z")).unwrap();
    let v = jobs.judge(&name, &w, at("2026-11-30T12:01:00Z"), since).unwrap();
    assert_eq!(v.finding, Some(Finding::Failed));
    assert_eq!(v.detail, "the run of 11:00 UTC failed: no end reported before the next start");
    let failed = jobs.ping(&name, Ping::End(PingResult::Exit(2)), None, at("2026-11-30T12:05:00Z")).unwrap();
    assert_eq!((failed.status, failed.exit_code), (Status::Failed, Some(2)));
    let s = jobs.read(&name).unwrap().unwrap();
    assert_eq!(
        s.runs.iter().map(|r| r.status).collect::<Vec<_>>(),
        [Status::Ok, Status::Lost, Status::Failed]
    );
    assert_eq!(jobs.list().unwrap(), [name]);
}

#[test]
fn history_is_bounded_and_ids_stay_unique() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = Jobs::new(dir.path());
    let name = JobName::new("busy").unwrap();
    let mut t = at("2026-11-30T00:00:00Z");
    for _ in 0..(ops_jobs::MAX_RUNS + 20) {
        jobs.ping(&name, Ping::End(PingResult::Ok), None, t).unwrap();
        t = t.checked_add(ops_jobs::jiff::SignedDuration::from_secs(60)).unwrap();
    }
    let s = jobs.read(&name).unwrap().unwrap();
    assert_eq!(s.runs.len(), ops_jobs::MAX_RUNS);
    assert_eq!(s.runs.first().unwrap().id, 20);
    assert_eq!(s.runs.last().unwrap().id, ops_jobs::MAX_RUNS as u64 + 19);
}

#[test]
fn a_state_file_planted_as_a_symlink_is_refused_and_nothing_is_written_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = Jobs::new(dir.path());
    let name = JobName::new("backup").unwrap();
    let elsewhere = dir.path().join("elsewhere.json");
    std::fs::write(&elsewhere, "{}").unwrap();
    std::os::unix::fs::symlink(&elsewhere, jobs.state_path(&name)).unwrap();
    let e = jobs.ping(&name, Ping::Start, None, at("2026-11-30T00:00:00Z")).unwrap_err();
    assert!(e.to_string().starts_with("refusing to follow the symlink"), "{e}");
    let e = jobs.judge(&name, &berlin_nightly(), at("2026-11-30T00:00:00Z"), None).unwrap_err();
    assert!(e.to_string().starts_with("refusing to follow the symlink"), "{e}");
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "{}");
}
