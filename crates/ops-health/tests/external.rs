//! Checks whose verdict the caller computes run like any other: on the pool, in order, a panic
//! caught, the caller's own trouble an unknown outcome, never down.

use ops_health::{
    Check, CheckKind, ExternalCheck, FailureKind, Outcome, Probe, RunOptions, Unchecked, run_all,
};

#[test]
fn external_verdicts_come_back_in_order_and_a_panic_or_an_error_is_unknown() {
    let mut probes: Vec<Probe> = (0..40u32)
        .map(|i| {
            let check = ExternalCheck::new(CheckKind::Job, move || {
                Ok(if i % 2 == 0 {
                    (Outcome::Up, format!("fine {i}"))
                } else {
                    (Outcome::Down(FailureKind::Late), format!("late {i}"))
                })
            });
            Probe::new(format!("job {i}"), Check::External(check))
        })
        .collect();
    probes.push(Probe::new(
        "broken",
        Check::External(ExternalCheck::new(CheckKind::Job, || Err("cannot read jobs/x.json".into()))),
    ));
    probes.push(Probe::new("bug", Check::External(ExternalCheck::new(CheckKind::Job, || panic!("a bug")))));
    let results = run_all(&probes, &RunOptions::default());
    for (i, r) in results.iter().take(40).enumerate() {
        assert_eq!(r.name, format!("job {i}"));
        assert_eq!(r.check_type, CheckKind::Job);
        let late = i % 2 == 1;
        assert_eq!(r.outcome, if late { Outcome::Down(FailureKind::Late) } else { Outcome::Up });
        assert_eq!(r.detail, format!("{} {i}", if late { "late" } else { "fine" }));
    }
    assert_eq!(results[40].outcome, Outcome::Unknown(Unchecked::State));
    assert_eq!(results[40].detail, "agent-ops could not run this check: cannot read jobs/x.json");
    assert_eq!(results[41].outcome, Outcome::Unknown(Unchecked::Panic));
    assert_eq!(probes[0].check.kind().as_str(), "job");
    assert!(format!("{:?}", probes[0].check).starts_with("External(ExternalCheck { kind: Job"));
}
