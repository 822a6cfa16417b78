//! The rules of `dist/prometheus/agent-ops.rules.yml` name only series that agent-ops exports:
//! each `agent_ops_*` name in them is in the textfile of a real health-check run (a port, a TLS
//! certificate and a disk, on loopback and a temp dir) or, for the daemon's own series, in the
//! `/metrics` table of docs/api.md; each label their annotations read is one those series have.
//! (xtask/tests/prometheus.rs runs promtool on the same files.)

use std::collections::BTreeSet;
use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;

use assert_cmd::Command;
use test_support::echo::{Echo, Reply};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The names in `text` that start with `prefix` and go on with `[a-z0-9_]` (at least one).
fn names(text: &str, prefix: &str) -> BTreeSet<String> {
    text.match_indices(prefix)
        .filter(|(at, _)| !text[..*at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            let end = rest.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            &rest[..end.unwrap_or(rest.len())]
        })
        .filter(|rest| !rest.is_empty())
        .map(|rest| format!("{prefix}{rest}"))
        .collect()
}

/// The textfile of a health-check run with a port that is up, a TLS check (its certificate's
/// expiry) and the built-in disk check.
fn textfile() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tls = Echo::start_tls(Reply::Fixed(200, Vec::new(), "ok".into()));
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("ops/config")).unwrap();
    let config = serde_json::json!({
        "services": [
            {"name": "Port", "type": "port", "port": listener.local_addr().unwrap().port()},
            {"name": "Certificate", "type": "tls", "host": "localhost", "port": tls.addr.port(),
             "tls_verify": false, "cert_warning_days": 0}
        ],
        "disk_warning_gb": 0,
        "disk_paths": ["/"]
    });
    fs::write(dir.path().join("ops/config/services.json"), config.to_string()).unwrap();
    let prom = dir.path().join("agent_ops.prom");
    let out = Command::cargo_bin("health-check")
        .unwrap()
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("AGENT_OPS_HOME", dir.path().join("ops"))
        .args(["--no-metrics", "--prometheus-textfile", prom.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    fs::read_to_string(prom).unwrap()
}

/// The `## GET /metrics` section of docs/api.md.
fn metrics_section() -> String {
    let api = fs::read_to_string(repo().join("docs/api.md")).unwrap();
    let start = api.find("## GET /metrics").expect("docs/api.md has ## GET /metrics");
    let rest = &api[start + 3..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_owned()
}

#[test]
fn every_series_the_rules_name_is_exported() {
    let rules = fs::read_to_string(repo().join("dist/prometheus/agent-ops.rules.yml")).unwrap();
    let text = textfile();
    let exported: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .map(str::to_owned)
        .collect();
    for series in [
        "agent_ops_probe_success",
        "agent_ops_probe_warning",
        "agent_ops_cert_expiry_timestamp_seconds",
        "agent_ops_disk_free_bytes",
        "agent_ops_last_run_timestamp_seconds",
    ] {
        assert!(exported.contains(series), "the run exports {series}:\n{text}");
    }
    let documented: BTreeSet<String> = metrics_section()
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| l.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect())
        .collect();
    assert!(documented.contains("agent_ops_daemon_passes_total"), "{documented:?}");

    let used = names(&rules, "agent_ops_");
    assert!(used.len() >= 8, "{used:?}");
    for series in &used {
        assert!(
            exported.contains(series) || documented.contains(series),
            "the rules name {series}, which neither health-check's textfile nor docs/api.md's /metrics has"
        );
    }

    // The labels the annotations read: Prometheus' own, or the series' (as the textfile
    // writes them, or in the /metrics table's `{label}`).
    let section = metrics_section();
    for label in names(&rules, "$labels.").iter().map(|l| &l["$labels.".len()..]) {
        assert!(
            ["job", "instance"].contains(&label)
                || text.contains(&format!(",{label}=\""))
                || text.contains(&format!("{{{label}=\""))
                || section.contains(&format!("{{{label}}}")),
            "the rules read the label {label}, which no exported series has"
        );
    }
}
