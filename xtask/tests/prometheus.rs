//! `dist/prometheus/` through the real promtool: the rules pass `promtool check rules`, their
//! unit tests (`agent-ops.rules.test.yml`: every alert firing and not, the recording rules'
//! values) pass `promtool test rules`, and the example configuration, which loads the rules,
//! passes `promtool check config`. (That the series the rules name are the ones agent-ops
//! exports is bins/health-check/tests/prometheus_rules.rs, which runs health-check.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/prometheus")
}

/// Runs `promtool ARGS FILE` in `dist/prometheus/` (the files name each other relative to it),
/// and returns what it said; panics when it fails.
fn promtool(promtool: &Path, args: &[&str], file: &str) -> String {
    let o = Command::new(promtool).args(args).arg(file).current_dir(dist()).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "promtool {} {file} failed:\n{said}", args.join(" "));
    said
}

#[test]
fn the_rules_pass_promtool_check_rules() {
    let Some(tool) = test_support::require_tool("promtool") else { return };
    let said = promtool(&tool, &["check", "rules"], "agent-ops.rules.yml");
    assert!(said.contains("SUCCESS: 17 rules found"), "{said}");
}

#[test]
fn the_rules_pass_their_unit_tests() {
    let Some(tool) = test_support::require_tool("promtool") else { return };
    let said = promtool(&tool, &["test", "rules"], "agent-ops.rules.test.yml");
    assert!(said.contains("SUCCESS"), "{said}");
}

#[test]
fn the_example_config_and_its_rules_pass_promtool_check_config() {
    let Some(tool) = test_support::require_tool("promtool") else { return };
    let said = promtool(&tool, &["check", "config"], "prometheus.yml");
    assert!(said.contains("SUCCESS: 1 rule files found"), "{said}");
}

/// Each alerting rule of the rules file has a firing and a not-firing case in the unit tests: an
/// `alert_rule_test` with `exp_alerts: []` and one with alerts.
#[test]
fn every_alert_is_tested_firing_and_not_firing() {
    let rules = std::fs::read_to_string(dist().join("agent-ops.rules.yml")).unwrap();
    let tests = std::fs::read_to_string(dist().join("agent-ops.rules.test.yml")).unwrap();
    let alerts: Vec<&str> =
        rules.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")).map(str::trim).collect();
    assert!(alerts.len() >= 8, "{alerts:?}");
    // The cases, as (alertname, fires).
    let mut cases = Vec::new();
    let mut current: Option<&str> = None;
    for line in tests.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("alertname: ") {
            current = Some(name.trim());
        } else if let (Some(name), Some(rest)) = (current, line.strip_prefix("exp_alerts:")) {
            cases.push((name, rest.trim() != "[]"));
            current = None;
        }
    }
    for alert in alerts {
        for fires in [true, false] {
            assert!(
                cases.contains(&(alert, fires)),
                "agent-ops.rules.test.yml has no case where {alert} {}",
                if fires { "fires" } else { "does not fire" }
            );
        }
    }
}

/// docs/fleet.md quotes the example configuration: each line of its ```yaml block is a line of
/// `prometheus.yml`, so the page cannot drift from the file promtool checks.
#[test]
fn the_configuration_quoted_in_fleet_md_is_the_example_s() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/fleet.md")).unwrap();
    let config = std::fs::read_to_string(dist().join("prometheus.yml")).unwrap();
    let config: Vec<&str> = config.lines().map(str::trim).collect();
    let block = page.split("```yaml\n").nth(1).expect("docs/fleet.md has a ```yaml block");
    let block = &block[..block.find("```").unwrap()];
    assert!(block.contains("scrape_configs:"), "{block}");
    for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
        assert!(config.contains(&line), "docs/fleet.md quotes `{line}`, which prometheus.yml does not have");
    }
}
