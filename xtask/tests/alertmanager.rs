//! `dist/alertmanager/alertmanager.yml` through the real amtool (Debian's
//! prometheus-alertmanager, which `.ci/run` unpacks): it passes `amtool check-config`, and its
//! route sends agent-ops' alerts and the rules' alike to the receiver. (That a real Alertmanager
//! groups, inhibits and silences with it is bins/orchestrator/tests/fleet.rs.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/alertmanager/alertmanager.yml")
}

/// Runs `amtool ARGS`; its standard output, or a panic when it fails. (Its standard error has
/// warnings such as "--config.file flag overrides the --alertmanager.url".)
fn amtool(amtool: &Path, args: &[&str]) -> String {
    let o = Command::new(amtool).args(args).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "amtool {} failed:\n{out}{err}", args.join(" "));
    out
}

#[test]
fn the_example_config_passes_amtool_check_config() {
    let Some(tool) = test_support::require_tool("amtool") else { return };
    let said = amtool(&tool, &["check-config", config().to_str().unwrap()]);
    assert!(said.contains("SUCCESS"), "{said}");
    assert!(said.contains("3 inhibit rules"), "{said}");
}

#[test]
fn every_alert_is_routed_to_the_receiver() {
    let Some(tool) = test_support::require_tool("amtool") else { return };
    let file = format!("--config.file={}", config().display());
    for alert in ["AgentOpsServiceDown", "AgentOpsJobDown", "AgentOpsProbeDown", "AgentOpsDaemonUnreachable"]
    {
        let said = amtool(
            &tool,
            &["config", "routes", "test", &file, &format!("alertname={alert}"), "instance=web-1"],
        );
        assert_eq!(said.trim(), "oncall", "{alert}");
    }
}

/// docs/fleet.md quotes the configuration: each line of its Alertmanager ```yaml block is a line
/// of `alertmanager.yml`, so the page cannot drift from the file amtool checks.
#[test]
fn the_configuration_quoted_in_fleet_md_is_the_example_s() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/fleet.md")).unwrap();
    let config = std::fs::read_to_string(config()).unwrap();
    let config: Vec<&str> = config.lines().map(str::trim).collect();
    let block = page
        .split("```yaml\n")
        .skip(1)
        .map(|b| &b[..b.find("```").unwrap()])
        .find(|b| b.contains("inhibit_rules:"))
        .expect("docs/fleet.md quotes alertmanager.yml's inhibit_rules in a ```yaml block");
    for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
        assert!(
            config.contains(&line),
            "docs/fleet.md quotes `{line}`, which alertmanager.yml does not have"
        );
    }
}
