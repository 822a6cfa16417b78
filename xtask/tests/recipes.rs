//! The recipes' Prometheus rules and systemd units are checked by the real tools:
//! `promtool check rules` on each ```yaml block with `groups:`, `promtool check config` on each
//! with `scrape_configs:`, and `systemd-analyze --user verify` on the ```ini blocks whose first
//! line names the unit file (`# weekly-digest.service`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn recipes() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/recipes.md")).unwrap()
}

/// The fenced blocks with info string `lang`.
fn blocks(markdown: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) if info.trim() == lang => current = Some(String::new()),
            (None, Some(_)) => current = Some(String::from("\u{0}")),
            (Some(_), Some("")) => out.extend(current.take().filter(|b| !b.starts_with('\u{0}'))),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

fn said(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn prometheus_rules_and_scrape_config_pass_promtool() {
    let Some(promtool) = test_support::require_tool("promtool") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (i, block) in blocks(&recipes(), "yaml").iter().enumerate() {
        let path = dir.path().join(format!("block{i}.yml"));
        fs::write(&path, block).unwrap();
        let what = if block.starts_with("groups:") {
            "rules"
        } else if block.starts_with("scrape_configs:") {
            "config"
        } else {
            continue;
        };
        let o = Command::new(&promtool).args(["check", what]).arg(&path).output().unwrap();
        assert!(
            o.status.success(),
            "promtool check {what} rejects the recipe's block:\n{block}\n{}",
            said(&o)
        );
        checked += 1;
    }
    assert_eq!(checked, 2, "the rules and the scrape config");
}

#[test]
fn recipe_units_pass_systemd_analyze_verify() {
    let Some(analyze) = test_support::require_tool("systemd-analyze") else { return };
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("runtime");
    fs::create_dir(&runtime).unwrap();
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
    let mut units = Vec::new();
    for block in blocks(&recipes(), "ini") {
        let Some(name) = block.lines().next().and_then(|l| l.strip_prefix("# ")) else { continue };
        let kind = Path::new(name).extension().and_then(|e| e.to_str());
        if matches!(kind, Some("service" | "timer")) {
            fs::write(dir.path().join(name), &block).unwrap();
            units.push(dir.path().join(name));
        }
    }
    assert_eq!(units.len(), 4, "weekly-digest and backup, each a .service and a .timer");
    let o = Command::new(analyze)
        .arg("--user")
        .arg("verify")
        .args(&units)
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .unwrap();
    assert!(o.status.success() && said(&o).trim().is_empty(), "systemd-analyze verify says:\n{}", said(&o));
}
