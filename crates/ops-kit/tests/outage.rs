//! Properties of the outage rules over dependency graphs (proptest): for any graph and any
//! sequence of check results, acknowledgements and policies, each outage of a service yields
//! exactly one down alert when its failures reach the threshold while it is not blocked, at
//! most one gave-up (after it), exactly one recovery notice, reminders exactly at their interval until
//! acknowledged, each escalation step once, and no notice at all for a blocked service; with
//! `alert_on_warning`, one warning per warning episode (said with the recovery when an outage
//! recovers into it, never while an outage is alerted), its reminders until acknowledged and
//! one end; and a graph with a cycle is always a configuration error.

use std::path::Path;
use std::time::Duration;

use ops_kit::deps::Graph;
use ops_kit::outage::{Memory, Notice, Observation, Rules, Seen, observe};
use ops_kit::{Config, ConfigError, Env};
use proptest::prelude::*;

/// A random acyclic graph of `n` services: each may depend on any of those before it.
fn dag(n: usize) -> impl Strategy<Value = Vec<Vec<usize>>> {
    prop::collection::vec(any::<u8>(), n).prop_map(|masks| {
        masks.iter().enumerate().map(|(i, m)| (0..i).filter(|j| m & (1 << (j % 8)) != 0).collect()).collect()
    })
}

fn rules() -> impl Strategy<Value = Rules> {
    (1u32..=3, 1u32..=3, prop::option::of(1u64..=6), prop::collection::vec(1u64..=8, 0..3), any::<bool>())
        .prop_map(|(failure_threshold, success_threshold, reminder, steps, warnings)| {
            let mut escalation: Vec<Duration> =
                steps.into_iter().map(|m| Duration::from_secs(m * 60)).collect();
            escalation.sort();
            Rules {
                failure_threshold,
                success_threshold,
                reminder_interval: reminder.map(|m| Duration::from_secs(m * 60)),
                escalation,
                warnings,
            }
        })
}

/// One pass of the world: each service up, in warning or down, acknowledged by someone in this
/// pass, and whether its restarts were given up.
#[derive(Debug, Clone)]
struct Pass {
    down: Vec<bool>,
    warning: Vec<bool>,
    ack: Vec<bool>,
    gave_up: Vec<bool>,
}

fn world() -> impl Strategy<Value = (Vec<Vec<usize>>, Vec<Rules>, Vec<Pass>)> {
    (1usize..=6).prop_flat_map(|n| {
        let pass = (
            prop::collection::vec(0u8..3, n),
            prop::collection::vec(prop::bool::weighted(0.08), n),
            prop::collection::vec(prop::bool::weighted(0.1), n),
        )
            .prop_map(|(level, ack, gave_up)| Pass {
                down: level.iter().map(|l| *l == 2).collect(),
                warning: level.iter().map(|l| *l == 1).collect(),
                ack,
                gave_up,
            });
        (dag(n), prop::collection::vec(rules(), n), prop::collection::vec(pass, 1..60))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn outage_rules_hold_over_any_graph_and_any_results((parents, rules, passes) in world()) {
        let n = parents.len();
        let graph = Graph::new(parents).expect("acyclic by construction");
        let mut memory = vec![Memory::default(); n];
        // The independent model: consecutive failures and successes, whether the outage was
        // alerted, acknowledged, when it was last alerted or reminded, steps taken, gave up.
        let mut fails = vec![0u32; n];
        let mut ups = vec![0u32; n];
        let mut open = vec![false; n];
        let mut start = vec![0.0f64; n];
        let mut alerted = vec![false; n];
        let mut acked = vec![false; n];
        let mut last = vec![0.0f64; n];
        let mut steps = vec![0usize; n];
        let mut gave_up = vec![false; n];
        // The warning episode: open, start, checks not ok in a row, ok ones, said, last said,
        // acknowledged.
        let mut w_open = vec![false; n];
        let mut w_start = vec![0.0f64; n];
        let mut not_ok = vec![0u32; n];
        let mut oks = vec![0u32; n];
        let mut w_said = vec![false; n];
        let mut w_last = vec![0.0f64; n];
        let mut w_acked = vec![false; n];
        for (t, pass) in passes.iter().enumerate() {
            let now = 60.0 * t as f64;
            let blocked = graph.blocked(&pass.down);
            for s in 0..n {
                let down = pass.down[s];
                let is_blocked = blocked[s].is_some();
                prop_assert!(!is_blocked || down, "only a failing service is blocked");
                let warning = pass.warning[s];
                // An acknowledgement is of the outage, else of the warning episode.
                if pass.ack[s] && open[s] {
                    acked[s] = true;
                } else if pass.ack[s] && w_open[s] && rules[s].warnings {
                    w_acked[s] = true;
                }
                let seen = if down { Seen::Down } else { Seen::Up };
                let observation = Observation {
                    seen,
                    warning,
                    gave_up: pass.gave_up[s] && down,
                    silenced: false,
                    blocked: is_blocked,
                    acked: acked[s],
                    warning_acked: w_acked[s],
                };
                let notices = observe(&mut memory[s], observation, &rules[s], now).notices;
                let r = &rules[s];
                let mut expected: Vec<Notice> = Vec::new();
                if down {
                    ups[s] = 0;
                    fails[s] += 1;
                    if !open[s] {
                        open[s] = true;
                        start[s] = now;
                    }
                    if !is_blocked {
                        let down_for = Duration::from_secs_f64(now - start[s]);
                        if !alerted[s] && fails[s] >= r.failure_threshold {
                            alerted[s] = true;
                            last[s] = now;
                            expected.push(Notice::Down);
                        } else if alerted[s] && !acked[s] && r.reminder_interval.is_some_and(|i| now - last[s] >= i.as_secs_f64()) {
                            last[s] = now;
                            expected.push(Notice::StillDown { down_for });
                        }
                        while alerted[s] && !acked[s] && steps[s] < r.escalation.len() && down_for >= r.escalation[steps[s]] {
                            steps[s] += 1;
                            expected.push(Notice::Escalated { step: steps[s] as u32, down_for });
                        }
                        if pass.gave_up[s] && alerted[s] && !gave_up[s] {
                            gave_up[s] = true;
                            expected.push(Notice::GaveUp);
                        }
                    }
                } else {
                    fails[s] = 0;
                    ups[s] += 1;
                    if open[s] && ups[s] >= r.success_threshold {
                        if alerted[s] {
                            expected.push(Notice::Recovered { down_for: Duration::from_secs_f64(now - start[s]), at_recheck: false });
                        }
                        open[s] = false;
                        alerted[s] = false;
                        acked[s] = false;
                        steps[s] = 0;
                        gave_up[s] = false;
                    }
                }
                let recovered = expected.iter().any(|n| matches!(n, Notice::Recovered { .. }));
                if !r.warnings {
                    w_open[s] = false;
                } else if down || warning {
                    if !w_open[s] {
                        w_open[s] = true;
                        w_start[s] = now;
                        w_said[s] = false;
                        w_acked[s] = false;
                    }
                    not_ok[s] += 1;
                    oks[s] = 0;
                    if warning && !alerted[s] {
                        if recovered || (!w_said[s] && not_ok[s] >= r.failure_threshold) {
                            w_said[s] = true;
                            w_last[s] = now;
                            expected.push(Notice::Warning);
                        } else if w_said[s] && !w_acked[s] && r.reminder_interval.is_some_and(|i| now - w_last[s] >= i.as_secs_f64()) {
                            w_last[s] = now;
                            expected.push(Notice::StillWarning { warning_for: Duration::from_secs_f64(now - w_start[s]) });
                        }
                    }
                } else if w_open[s] {
                    not_ok[s] = 0;
                    oks[s] += 1;
                    if oks[s] >= r.success_threshold {
                        if w_said[s] {
                            expected.push(Notice::WarningCleared { lasted: Duration::from_secs_f64(now - w_start[s]), with_recovery: recovered });
                        }
                        w_open[s] = false;
                    }
                }
                prop_assert_eq!(&notices, &expected, "service {} at pass {}: {:?}", s, t, pass);
                prop_assert!(
                    !(notices.contains(&Notice::Warning) && notices.contains(&Notice::Down)),
                    "a warning is never said with a failure alert"
                );
                if is_blocked {
                    prop_assert!(notices.is_empty(), "a blocked service has no notice of its own");
                }
            }
        }
        // Every outage alerted is, in the end, either still open or said to have recovered:
        // counted per service, downs and recoveries alternate, starting with a down.
        // (Checked above notice by notice; here, that no memory is left inconsistent.)
        for (s, m) in memory.iter().enumerate() {
            prop_assert_eq!(m.down_since.is_some(), open[s]);
            prop_assert_eq!(m.alerted, alerted[s]);
            prop_assert_eq!(m.warning.is_some(), w_open[s]);
        }
    }

    /// A graph with a cycle anywhere is refused, naming a cycle; services.json with it is a
    /// configuration error naming the cycle's services.
    #[test]
    fn a_graph_with_a_cycle_is_always_a_configuration_error(
        parents in (2usize..=7).prop_flat_map(dag),
        from in any::<prop::sample::Index>(),
        to in any::<prop::sample::Index>(),
    ) {
        let n = parents.len();
        // An edge from an earlier service to a later one (or itself): with the path back, or
        // itself, a cycle.
        let (a, b) = {
            let (x, y) = (from.index(n), to.index(n));
            (x.min(y), x.max(y))
        };
        let mut parents = parents;
        // Make sure b reaches a: add the path b -> a if the graph does not have it.
        if a != b && !Graph::new(parents.clone()).expect("acyclic").ancestors(b).contains(&a) {
            parents[b].push(a);
        }
        parents[a].push(b);
        let cycles = Graph::new(parents.clone()).expect_err("a cycle");
        prop_assert!(!cycles.is_empty());
        for cycle in &cycles {
            prop_assert_eq!(cycle.first(), cycle.last());
            for w in cycle.windows(2) {
                prop_assert!(parents[w[0]].contains(&w[1]), "{:?} is not a path of the graph", cycle);
            }
        }
        let services: Vec<String> = (0..n)
            .map(|i| {
                let deps: Vec<String> = parents[i].iter().map(|j| format!("\"s{j}\"")).collect();
                format!(r#"{{"name": "s{i}", "type": "port", "port": {}, "depends_on": [{}]}}"#, 1000 + i, deps.join(", "))
            })
            .collect();
        let json = format!(r#"{{"disk_paths": [], "services": [{}]}}"#, services.join(", "));
        match Config::parse(Path::new("services.json"), json.as_bytes(), &Env::default()) {
            Err(ConfigError::Invalid { problems, .. }) => {
                prop_assert!(problems.iter().any(|p| p.message.starts_with("is a dependency cycle: s")), "{:?}", problems);
            }
            other => prop_assert!(false, "not refused: {:?}", other.map(|l| l.config.services.len())),
        }
    }
}
