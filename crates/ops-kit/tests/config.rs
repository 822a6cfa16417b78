//! services.json: defaults, every validation error class, warnings, overrides, and the
//! shipped examples.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ops_health::{Check, Program};
use ops_kit::{Config, ConfigError, ConfigOrigin, Env, Layout, Secret};

fn parse(json: &str) -> Result<ops_kit::Loaded, ConfigError> {
    Config::parse(Path::new("services.json"), json.as_bytes(), &Env::default())
}

/// The validation problems of an invalid config, as displayed.
fn problems(json: &str) -> Vec<String> {
    match parse(json) {
        Err(ConfigError::Invalid { problems, .. }) => problems.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("expected validation problems, got {other}"),
        Ok(_) => panic!("expected validation problems, got a valid config"),
    }
}

fn one_problem(json: &str) -> String {
    let p = problems(json);
    assert_eq!(p.len(), 1, "{p:#?}");
    p[0].clone()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn the_seed_quick_start_config_loads_with_its_defaults() {
    let seed = r#"{
      "services": [
        {"name": "My Web App", "type": "url", "target": "https://example.com", "expected_status": 200, "timeout_seconds": 10},
        {"name": "API Server", "type": "url", "target": "https://api.example.com/health", "expected_status": 200, "timeout_seconds": 5},
        {"name": "Local Dev Server", "type": "port", "host": "127.0.0.1", "port": 3000},
        {"name": "Background Worker", "type": "process", "process_name": "celery", "restart_command": "systemctl restart celery"}
      ],
      "alerting": {"telegram_bot_token": "YOUR_BOT_TOKEN", "telegram_chat_id": "YOUR_CHAT_ID", "rate_limit_seconds": 300, "alert_on_recovery": true},
      "check_interval_seconds": 300, "disk_warning_gb": 5, "stalled_task_hours": 24, "metrics_retention_days": 90
    }"#;
    let loaded = parse(seed).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(c.services.len(), 4);
    let Check::Port(port) = &c.services[2].check else { panic!("port") };
    assert_eq!((port.host.as_str(), port.port, port.timeout), ("127.0.0.1", 3000, Duration::from_secs(3)));
    let Check::Process(p) = &c.services[3].check else { panic!("process") };
    assert_eq!(p.pattern(), "celery");
    assert_eq!(c.services[3].restart_command.as_deref(), Some("systemctl restart celery"));
    assert_eq!((c.services[3].restart_cooldown, c.services[3].max_restart_attempts), (secs(300), 3));
    let names: Vec<_> = c.probes().iter().map(|p| p.name.clone()).collect();
    assert_eq!(names.last().map(String::as_str), Some("Disk Space"), "the built-in disk check comes last");
}

#[test]
fn an_empty_object_gets_every_default() {
    let c = parse("{}").unwrap().config;
    assert!(c.services.is_empty());
    assert_eq!(c.check_interval, secs(300));
    assert_eq!(c.disk_warning_gb, 5.0);
    assert_eq!(c.disk_paths, [PathBuf::from("/")]);
    assert_eq!(c.stalled_task_after, secs(24 * 3600));
    assert_eq!(c.metrics_retention_days, 90);
    assert_eq!(c.max_concurrency, 1024);
    assert_eq!(c.alerting.rate_limit, secs(300));
    assert!(c.alerting.alert_on_recovery, "documented default: true");
    assert_eq!(c.alerting.telegram_bot_token, None);
}

#[test]
fn type_defaults_to_url_as_in_the_seed_code() {
    let c = parse(r#"{"services": [{"name": "A", "target": "http://127.0.0.1/"}]}"#).unwrap().config;
    let Check::Url(u) = &c.services[0].check else { panic!("url") };
    assert_eq!((u.expected_status, u.timeout), (200, Duration::from_secs(10)));
}

#[test]
fn missing_required_fields_name_the_service_and_field() {
    assert_eq!(
        one_problem(r#"{"services": [{"type": "url", "target": "http://x/"}]}"#),
        "services[0]: field `name`: is required"
    );
    assert_eq!(
        one_problem(r#"{"services": [{"name": "Web", "type": "url"}]}"#),
        "services[0] \"Web\": field `target`: is required"
    );
    assert_eq!(
        one_problem(r#"{"services": [{"name": "a"}, {"name": "DB", "type": "port"}]}"#.replace(r#"{"name": "a"}"#, r#"{"name": "a", "target": "http://x/"}"#).as_str()),
        "services[1] \"DB\": field `port`: is required"
    );
    assert_eq!(
        one_problem(r#"{"services": [{"name": "W", "type": "process"}]}"#),
        "services[0] \"W\": field `process_name`: is required"
    );
    assert_eq!(
        one_problem(r#"{"services": [{"name": "C", "type": "tls"}]}"#),
        "services[0] \"C\": field `host`: is required"
    );
}

#[test]
fn wrong_types_and_ranges() {
    assert_eq!(
        one_problem(r#"{"services": [{"name": "DB", "type": "port", "port": "5432"}]}"#),
        "services[0] \"DB\": field `port`: must be an integer from 1 to 65535, got \"5432\""
    );
    assert_eq!(
        one_problem(r#"{"services": [{"name": "DB", "type": "port", "port": 70000}]}"#),
        "services[0] \"DB\": field `port`: must be an integer from 1 to 65535, got 70000"
    );
    assert_eq!(
        one_problem(r#"{"services": [{"name": "DB", "type": "port", "port": 0}]}"#),
        "services[0] \"DB\": field `port`: must be an integer from 1 to 65535, got 0"
    );
    assert_eq!(
        one_problem(r#"{"services": [{"name": "W", "target": "http://x/", "timeout_seconds": "10"}]}"#),
        "services[0] \"W\": field `timeout_seconds`: must be a number, got \"10\""
    );
    assert_eq!(
        one_problem(r#"{"services": [{"name": "W", "target": "http://x/", "timeout_seconds": 0}]}"#),
        "services[0] \"W\": field `timeout_seconds`: must be greater than 0, got 0"
    );
    assert_eq!(
        one_problem(r#"{"services": [{"name": "W", "target": "http://x/", "expected_status": 99}]}"#),
        "services[0] \"W\": field `expected_status`: must be an integer from 100 to 599, got 99"
    );
    assert_eq!(
        one_problem(r#"{"services": [{"name": "W", "target": "ftp://x/"}]}"#),
        "services[0] \"W\": field `target`: must be an http:// or https:// URL with a host, got \"ftp://x/\""
    );
    assert_eq!(
        one_problem(r#"{"services": [{"name": 7, "target": "http://x/"}]}"#),
        "services[0]: field `name`: must be a string, got a number"
    );
    assert_eq!(
        one_problem(r#"{"services": {"name": "A"}}"#),
        "top level: field `services`: must be an array, got an object"
    );
    assert_eq!(
        one_problem(r#"{"alerting": {"alert_on_recovery": "yes"}}"#),
        "alerting: field `alert_on_recovery`: must be true or false, got \"yes\""
    );
    assert_eq!(
        one_problem(r#"{"disk_warning_gb": -1}"#),
        "top level: field `disk_warning_gb`: must be at least 0, got -1"
    );
    assert_eq!(one_problem(r#"{"services": [3]}"#), "services[0]: must be an object, got 3");
}

#[test]
fn unknown_type_is_an_error_not_a_silent_skip() {
    assert_eq!(
        one_problem(r#"{"services": [{"name": "PG", "type": "postgres", "port": 5432}]}"#),
        "services[0] \"PG\": field `type`: unknown check type \"postgres\" (known: url, port, process, disk, tls, dns, ping, command, job)"
    );
}

#[test]
fn invalid_process_pattern() {
    let p = one_problem(r#"{"services": [{"name": "W", "type": "process", "process_name": "celery["}]}"#);
    assert!(p.starts_with("services[0] \"W\": field `process_name`: is not a valid pattern: "), "{p}");
}

#[test]
fn process_patterns_too_long_or_too_complex_name_the_field() {
    let problem = |pattern: &str| {
        let json =
            serde_json::json!({"services": [{"name": "W", "type": "process", "process_name": pattern}]});
        one_problem(&json.to_string())
    };
    assert_eq!(
        problem(&"x".repeat(201)),
        "services[0] \"W\": field `process_name`: is not a valid pattern: longer than 200 bytes"
    );
    assert_eq!(
        problem(".{0,1000}X"),
        "services[0] \"W\": field `process_name`: is not a valid pattern: too complex (it compiles to more than 8 KiB)"
    );
    assert_eq!(
        problem(&format!("{}a{}", "(".repeat(40), ")".repeat(40))),
        "services[0] \"W\": field `process_name`: is not a valid pattern: nested more than 32 levels deep"
    );
}

#[test]
fn duplicate_names() {
    let json = r#"{"services": [
        {"name": "API", "target": "http://a/"}, {"name": "B", "target": "http://b/"}, {"name": "API", "target": "http://c/"}
    ]}"#;
    assert_eq!(
        one_problem(json),
        "services[2] \"API\": field `name`: duplicate name, already used by services[0]"
    );
    let json = r#"{"services": [{"name": "Disk Space", "type": "disk"}]}"#;
    assert!(one_problem(json).contains("is the name of the built-in disk check on /"));
    assert!(parse(r#"{"services": [{"name": "Disk Space", "type": "disk"}], "disk_paths": []}"#).is_ok());
}

/// Found by the `services_json` fuzz target: a disk path listed twice gave two checks of the
/// same name (their metrics lines and alert state would be mixed up).
#[test]
fn a_disk_path_listed_twice_is_an_error() {
    assert_eq!(
        one_problem(r#"{"disk_paths": ["/", "/var", "/var"]}"#),
        "top level: field `disk_paths`: /var is listed twice (items 1 and 2)"
    );
    assert!(parse(r#"{"disk_paths": ["/var", "/var/"]}"#).is_ok(), "other names, reported apart");
}

#[test]
fn every_problem_is_reported_at_once() {
    let json = r#"{"services": [
        {"name": "A"},
        {"name": "B", "type": "port", "port": 99999},
        {"type": "process", "process_name": "x"},
        {"name": "D", "type": "ldap"}
    ]}"#;
    let p = problems(json);
    assert_eq!(p.len(), 4, "{p:#?}");
    assert!(p[0].starts_with("services[0] \"A\": field `target`"));
    assert!(p[1].starts_with("services[1] \"B\": field `port`"));
    assert!(p[2].starts_with("services[2]: field `name`"));
    assert!(p[3].starts_with("services[3] \"D\": field `type`"));
}

#[test]
fn unknown_keys_are_warnings_with_suggestions() {
    let json = r#"{
        "services": [{"name": "W", "target": "http://x/", "timeout_secnds": 5, "port": 80, "colour": "red"}],
        "alerting": {"rate_limit_secs": 60},
        "disk_warnin_gb": 3
    }"#;
    let loaded = parse(json).unwrap();
    let w: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert!(w.contains(&"services[0] \"W\": field `timeout_secnds`: is not a known field (did you mean `timeout_seconds`?); it is ignored".to_owned()), "{w:#?}");
    assert!(
        w.contains(&"services[0] \"W\": field `port`: is not used by url checks; it is ignored".to_owned()),
        "{w:#?}"
    );
    assert!(
        w.contains(&"services[0] \"W\": field `colour`: is not a known field; it is ignored".to_owned()),
        "{w:#?}"
    );
    assert!(w.contains(&"alerting: field `rate_limit_secs`: is not a known field (did you mean `rate_limit_seconds`?); it is ignored".to_owned()), "{w:#?}");
    assert!(w.contains(&"top level: field `disk_warnin_gb`: is not a known field (did you mean `disk_warning_gb`?); it is ignored".to_owned()), "{w:#?}");
    assert_eq!(w.len(), 5);
    let Check::Url(u) = &loaded.config.services[0].check else { panic!() };
    assert_eq!(u.timeout, Duration::from_secs(10), "the misspelt key did not take effect");
}

#[test]
fn syntax_errors_give_line_and_column() {
    let err = parse("{\n  \"services\": [\n    {\"name\": \"A\",}\n  ]\n}").unwrap_err();
    let ConfigError::Syntax { line, column, .. } = &err else { panic!("{err}") };
    assert_eq!((*line, *column), (3, 18));
    assert_eq!(err.to_string(), "services.json:3:18: invalid JSON: trailing comma");
    let err = parse("").unwrap_err();
    assert!(err.to_string().starts_with("services.json:1:0: invalid JSON: EOF while parsing"), "{err}");
}

#[test]
fn a_bare_services_list_is_explained() {
    let p = one_problem(r#"[{"name": "A", "target": "http://a/"}]"#);
    assert!(p.contains("got an array") && p.contains("\"services\""), "{p}");
}

#[test]
fn missing_file_says_where_it_looked_and_how_to_create_one() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env { agent_ops_home: Some(dir.path().into()), ..Env::default() };
    let layout = Layout::from_env(&env).unwrap();
    let err = Config::load(&layout, &env).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::NotFound { origin: ConfigOrigin::Default, .. }));
    assert!(msg.contains(&layout.config.display().to_string()), "{msg}");
    assert!(
        msg.contains("the default location")
            && msg.contains("cp examples/services.starter.json")
            && msg.contains("--config"),
        "{msg}"
    );

    let env = Env { config: Some(dir.path().join("x.json").into()), ..env };
    let msg = Config::load(&Layout::from_env(&env).unwrap(), &env).unwrap_err().to_string();
    assert!(msg.contains("from AGENT_OPS_CONFIG"), "{msg}");
}

#[test]
fn chat_id_may_be_an_integer_and_env_overrides_telegram() {
    let json = r#"{"alerting": {"telegram_bot_token": "111:file", "telegram_chat_id": -1001234567890}}"#;
    let c = parse(json).unwrap().config;
    assert_eq!(c.alerting.telegram_chat_id.as_deref(), Some("-1001234567890"));
    assert_eq!(c.alerting.telegram_bot_token.as_ref().map(Secret::expose), Some("111:file"));

    let env = Env {
        telegram_bot_token: Some(Secret::new("222:env")),
        telegram_chat_id: Some("42".into()),
        ..Env::default()
    };
    let c = Config::parse(Path::new("s.json"), json.as_bytes(), &env).unwrap().config;
    assert_eq!(c.alerting.telegram_bot_token.as_ref().map(Secret::expose), Some("222:env"));
    assert_eq!(c.alerting.telegram_chat_id.as_deref(), Some("42"));
    assert!(!format!("{c:?}").contains("222:env"), "the token never shows in Debug");
}

#[test]
fn new_check_types_and_fields() {
    let json = r#"{
        "services": [
            {"name": "Cert", "type": "tls", "host": "example.com"},
            {"name": "Data", "type": "disk", "path": "/var", "disk_warning_gb": 20},
            {"name": "Slow", "target": "https://x/", "max_latency_ms": 500, "body_contains": "ok", "cert_warning_days": 7}
        ],
        "disk_paths": ["/", "/srv"], "disk_warning_gb": 2
    }"#;
    let c = parse(json).unwrap().config;
    let Check::Tls(t) = &c.services[0].check else { panic!() };
    assert_eq!((t.port, t.warning_days, t.verify), (443, 14.0, true));
    let Check::Disk(d) = &c.services[1].check else { panic!() };
    assert_eq!((d.path.as_path(), d.warning_gb), (Path::new("/var"), 20.0));
    let Check::Url(u) = &c.services[2].check else { panic!() };
    assert_eq!(u.max_latency, Some(Duration::from_millis(500)));
    assert_eq!((u.body_contains.as_deref(), u.cert_warning_days), (Some("ok"), Some(7.0)));
    let names: Vec<_> = c.probes().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["Cert", "Data", "Slow", "Disk Space", "Disk Space /srv"]);
}

#[test]
fn command_checks_take_an_argv_or_a_shell_line() {
    let json = r#"{"services": [
        {"name": "Postgres", "type": "command",
         "command": ["/usr/lib/nagios/plugins/check_tcp", "-H", "127.0.0.1", "-p", "5432", ""],
         "env": {"PGPASSFILE": "/etc/agent-ops/pgpass"}, "cwd": "/var/lib/agent-ops", "timeout_seconds": 20},
        {"name": "Queue", "type": "command", "command": "check_queue | head -1"}
    ], "disk_paths": []}"#;
    let c = parse(json).unwrap().config;
    let Check::Command(pg) = &c.services[0].check else { panic!("{:?}", c.services[0].check) };
    let argv = ["/usr/lib/nagios/plugins/check_tcp", "-H", "127.0.0.1", "-p", "5432", ""];
    assert_eq!(pg.program, Program::Argv(argv.map(String::from).to_vec()));
    assert_eq!(pg.env, [("PGPASSFILE".to_owned(), "/etc/agent-ops/pgpass".to_owned())]);
    assert_eq!((pg.cwd.as_deref(), pg.timeout), (Some(Path::new("/var/lib/agent-ops")), secs(20)));
    let Check::Command(q) = &c.services[1].check else { panic!() };
    assert_eq!(
        (&q.program, q.env.is_empty(), q.cwd.is_none()),
        (&Program::Shell("check_queue | head -1".into()), true, true)
    );
    assert_eq!(q.timeout, secs(10), "the default timeout");
}

#[test]
fn a_bad_command_check_names_the_service_and_field() {
    let service = |fields: &str| {
        format!(r#"{{"services": [{{"name": "P", "type": "command", {fields}}}], "disk_paths": []}}"#)
    };
    let shape = "must be a non-empty array of strings (the program and its arguments, run without a shell) \
                 or a string (run by /bin/sh -c)";
    for (fields, problem) in [
        (r#""timeout_seconds": 5"#, "field `command`: is required".to_owned()),
        (r#""command": []"#, format!("field `command`: {shape}, got an empty array")),
        (r#""command": "  ""#, format!("field `command`: {shape}, got an empty string")),
        (r#""command": 5"#, format!("field `command`: {shape}, got a number")),
        (r#""command": {"a": 1}"#, format!("field `command`: {shape}, got an object")),
        (r#""command": "a\u0000b""#, format!("field `command`: {shape}, got a string with a NUL character")),
        (r#""command": ["", "-v"]"#, "field `command`: item 0, the program, must not be empty".to_owned()),
        (r#""command": ["check", 5]"#, "field `command`: item 1 must be a string, got a number".to_owned()),
        (r#""command": ["check", "a\u0000"]"#, "field `command`: item 1 holds a NUL character".to_owned()),
        (r#""command": "x", "env": ["A=1"]"#, "field `env`: must be an object, got an array".to_owned()),
        (
            r#""command": "x", "env": {"A": 1}"#,
            "field `env`: the value of \"A\" must be a string, got a number".to_owned(),
        ),
        (
            r#""command": "x", "env": {"A=B": "1"}"#,
            "field `env`: \"A=B\" is not a variable name (empty, or with `=` or NUL)".to_owned(),
        ),
        (
            r#""command": "x", "env": {"": "1"}"#,
            "field `env`: \"\" is not a variable name (empty, or with `=` or NUL)".to_owned(),
        ),
        (
            r#""command": "x", "env": {"A": "\u0000"}"#,
            "field `env`: the value of \"A\" holds a NUL character".to_owned(),
        ),
        (
            r#""command": "x", "cwd": "relative/dir""#,
            "field `cwd`: must be an absolute path, got \"relative/dir\"".to_owned(),
        ),
        (r#""command": "x", "cwd": 7"#, "field `cwd`: must be a string, got a number".to_owned()),
        (
            r#""command": "x", "timeout_seconds": 0"#,
            "field `timeout_seconds`: must be greater than 0, got 0".to_owned(),
        ),
    ] {
        assert_eq!(one_problem(&service(fields)), format!("services[0] \"P\": {problem}"), "{fields}");
    }
    // Keys of other kinds are warnings, as everywhere.
    let w = parse(&service(r#""command": "x", "target": "http://x/""#)).unwrap().warnings;
    assert_eq!(w.len(), 1);
    assert_eq!(
        w[0].to_string(),
        "services[0] \"P\": field `target`: is not used by command checks; it is ignored"
    );
}

#[test]
fn warning_thresholds_come_before_the_failure_ones() {
    let json = r#"{"services": [
        {"name": "API", "target": "https://x/", "warn_latency_ms": 300, "max_latency_ms": 1000,
         "cert_warning_days": 7, "cert_notice_days": 30},
        {"name": "Cert", "type": "tls", "host": "x", "cert_notice_days": 30},
        {"name": "Data", "type": "disk", "path": "/var", "disk_warning_gb": 20, "disk_notice_gb": 50},
        {"name": "Tmp", "type": "disk", "path": "/tmp"}
    ], "disk_warning_gb": 2, "disk_notice_gb": 10}"#;
    let c = parse(json).unwrap().config;
    let Check::Url(u) = &c.services[0].check else { panic!() };
    assert_eq!(
        (u.warn_latency, u.max_latency),
        (Some(Duration::from_millis(300)), Some(Duration::from_secs(1)))
    );
    assert_eq!((u.cert_warning_days, u.cert_notice_days), (Some(7.0), Some(30.0)));
    let Check::Tls(t) = &c.services[1].check else { panic!() };
    assert_eq!((t.warning_days, t.notice_days), (14.0, Some(30.0)));
    let Check::Disk(d) = &c.services[2].check else { panic!() };
    assert_eq!((d.warning_gb, d.notice_gb), (20.0, Some(50.0)));
    let Check::Disk(d) = &c.services[3].check else { panic!() };
    assert_eq!((d.warning_gb, d.notice_gb), (2.0, Some(10.0)), "inherited from the top level");
    let builtin = c.probes().pop().unwrap();
    let Check::Disk(d) = builtin.check else { panic!() };
    assert_eq!((d.warning_gb, d.notice_gb), (2.0, Some(10.0)), "the built-in disk check too");

    let service = |fields: &str| format!(r#"{{"services": [{{"name": "S", {fields}}}], "disk_paths": []}}"#);
    for (fields, problem) in [
        (
            r#""target": "http://x/", "warn_latency_ms": 500, "max_latency_ms": 500"#,
            "field `warn_latency_ms`: must be below `max_latency_ms` (500), got 500",
        ),
        (
            r#""target": "http://x/", "warn_latency_ms": 0"#,
            "field `warn_latency_ms`: must be an integer from 1 to 86400000, got 0",
        ),
        (
            r#""target": "https://x/", "cert_warning_days": 30, "cert_notice_days": 14"#,
            "field `cert_notice_days`: must be greater than `cert_warning_days` (30), got 14",
        ),
        (
            r#""type": "tls", "host": "x", "cert_notice_days": 10"#,
            "field `cert_notice_days`: must be greater than `cert_warning_days` (14), got 10",
        ),
        (
            r#""type": "disk", "disk_warning_gb": 5, "disk_notice_gb": 5"#,
            "field `disk_notice_gb`: must be greater than `disk_warning_gb` (5), got 5",
        ),
        (r#""type": "disk", "disk_notice_gb": -1"#, "field `disk_notice_gb`: must be at least 0, got -1"),
    ] {
        assert_eq!(one_problem(&service(fields)), format!("services[0] \"S\": {problem}"), "{fields}");
    }
    assert_eq!(
        one_problem(r#"{"disk_warning_gb": 10, "disk_notice_gb": 3}"#),
        "top level: field `disk_notice_gb`: must be greater than `disk_warning_gb` (10), got 3"
    );
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

#[test]
fn shipped_examples_parse_without_warnings() {
    for name in ["services.json", "services.full.json"] {
        let path = example(name);
        let env =
            Env { config: Some(path.clone().into()), home: Some("/nonexistent".into()), ..Env::default() };
        let loaded = Config::load(&Layout::from_env(&env).unwrap(), &env).unwrap_or_else(|e| panic!("{e}"));
        assert!(loaded.warnings.is_empty(), "{name}: {:?}", loaded.warnings);
    }
    let full = std::fs::read_to_string(example("services.full.json")).unwrap();
    let keys: Vec<&str> = [
        "\"type\": \"url\"",
        "\"type\": \"port\"",
        "\"type\": \"process\"",
        "\"type\": \"disk\"",
        "\"type\": \"tls\"",
        "\"type\": \"command\"",
        "\"type\": \"job\"",
    ]
    .into();
    for k in keys {
        assert!(full.contains(k), "the full example shows every check type: {k}");
    }
}

#[test]
fn orchestrator_keys_and_their_defaults() {
    let c = parse("{}").unwrap().config;
    let o = &c.orchestration;
    assert_eq!((o.failure_threshold, o.success_threshold), (1, 1), "the seed alerts on the first failure");
    assert_eq!((o.reminder_interval, o.restart_grace), (Some(secs(3600)), secs(5)));
    assert!(!o.create_tasks_for_failures);
    assert_eq!((o.heartbeat_url.as_deref(), o.maintenance.len()), (None, 0));
    assert_eq!((o.log_rotate_bytes, o.log_keep), (50 * 1024 * 1024, 5));

    let json = r#"{"services": [{"name": "API", "target": "http://a/", "restart_timeout_seconds": 90}],
        "failure_threshold": 3, "success_threshold": 2, "reminder_interval_seconds": 0, "restart_grace_seconds": 1,
        "create_tasks_for_failures": true, "heartbeat_url": "https://hc-ping.com/x", "log_rotate_mb": 1, "log_keep": 2,
        "maintenance": [{"services": ["API"], "from": "03:00", "to": "04:00", "days": ["sun", "Saturday"]}]}"#;
    let loaded = parse(json).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(c.services[0].restart_timeout, secs(90));
    assert_eq!(c.services[0].restart_cooldown, secs(300));
    assert_eq!(c.orchestration.reminder_interval, None, "0 turns reminders off");
    assert_eq!((c.orchestration.failure_threshold, c.orchestration.success_threshold), (3, 2));
    assert_eq!(c.orchestration.heartbeat_url.as_deref(), Some("https://hc-ping.com/x"));
    assert_eq!(c.orchestration.maintenance.len(), 1);
}

#[test]
fn maintenance_windows_are_validated() {
    let svc = r#""services": [{"name": "API", "target": "http://a/"}]"#;
    let window = |w: &str| format!(r#"{{{svc}, "maintenance": [{w}]}}"#);
    assert_eq!(
        one_problem(&window(r#"{"services": ["APi"], "from": "03:00", "to": "04:00"}"#)),
        "maintenance[0]: field `services`: no service is named \"APi\""
    );
    assert_eq!(
        one_problem(&window(r#"{"services": "*", "from": "3am", "to": "04:00"}"#)),
        "maintenance[0]: field `from`: must be a UTC time of day like \"03:30\", got \"3am\""
    );
    assert_eq!(
        one_problem(&window(
            r#"{"services": "*", "start": "2026-12-01T04:00:00Z", "end": "2026-12-01T02:00:00Z"}"#
        )),
        "maintenance[0]: field `end`: must be after `start`"
    );
    assert!(
        one_problem(&window(
            r#"{"services": "*", "start": "2026-12-01T04:00:00Z", "from": "03:00", "to": "04:00"}"#
        ))
        .contains("give either `start` and `end`")
    );
    assert_eq!(
        one_problem(&window(r#"{"from": "03:00", "to": "04:00"}"#)),
        "maintenance[0]: field `services`: is required (\"*\" for every service)"
    );
    assert_eq!(
        one_problem(&window(r#"{"services": "*", "from": "03:00", "to": "04:00", "days": ["someday"]}"#)),
        "maintenance[0]: field `days`: must list weekdays like \"sun\", got \"someday\""
    );
    assert_eq!(
        one_problem(r#"{"heartbeat_url": "hc-ping.com/x"}"#),
        "top level: field `heartbeat_url`: must be an http:// or https:// URL with a host, got \"hc-ping.com/x\""
    );
    assert_eq!(
        one_problem(r#"{"failure_threshold": 0}"#),
        "top level: field `failure_threshold`: must be an integer from 1 to 10000, got 0"
    );
}

#[test]
fn only_a_file_missing_from_its_default_place_is_optional() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env { agent_ops_home: Some(dir.path().into()), ..Env::default() };
    assert!(Config::load_optional(&Layout::from_env(&env).unwrap(), &env).unwrap().is_none());
    let typo = Env { config: Some(dir.path().join("servcies.json").into()), ..env.clone() };
    let err = Config::load_optional(&Layout::from_env(&typo).unwrap(), &typo).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { origin: ConfigOrigin::EnvConfig, .. }), "{err}");
    let flag = Layout::from_env(&env).unwrap().with_config(dir.path().join("x.json"));
    assert!(matches!(
        Config::load_optional(&flag, &env),
        Err(ConfigError::NotFound { origin: ConfigOrigin::Flag, .. })
    ));
}

#[test]
fn proxy_is_explicit_global_or_per_url_service() {
    let json = r#"{"proxy": "http://proxy.internal:3128", "services": [
        {"name": "Via global", "target": "http://a/"},
        {"name": "Own", "target": "http://b/", "proxy": "http://other.internal:8080"},
        {"name": "Direct", "target": "http://c/", "proxy": null},
        {"name": "DB", "type": "port", "port": 5432, "proxy": "http://x:1"}
    ]}"#;
    let loaded = parse(json).unwrap();
    let proxy = |i: usize| {
        let Check::Url(u) = &loaded.config.services[i].check else { panic!() };
        u.proxy.clone()
    };
    let p = |u: &str| Some(ops_health::Proxy::new(u).unwrap());
    assert_eq!(loaded.config.proxy, p("http://proxy.internal:3128"));
    assert_eq!(proxy(0), p("http://proxy.internal:3128"));
    assert_eq!(proxy(1), p("http://other.internal:8080"));
    assert_eq!(proxy(2), None);
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings, ["services[3] \"DB\": field `proxy`: is not used by port checks; it is ignored"]);

    let direct = parse(r#"{"services": [{"name": "A", "target": "http://a/"}]}"#).unwrap();
    let Check::Url(u) = &direct.config.services[0].check else { panic!() };
    assert_eq!((&direct.config.proxy, &u.proxy), (&None, &None), "no proxy unless one is set");
}

#[test]
fn a_bad_proxy_names_the_field_and_never_echoes_it() {
    let p = one_problem(r#"{"proxy": "socks5://user:s3cret@proxy:1080"}"#);
    assert_eq!(
        p,
        "top level: field `proxy`: must be an http:// or https:// URL (socks proxies are not supported)"
    );
    let p =
        one_problem(r#"{"services": [{"name": "A", "target": "http://a/", "proxy": "user:s3cret@proxy"}]}"#);
    assert!(p.starts_with("services[0] \"A\": field `proxy`: must be an http:// or https:// URL"), "{p}");
    assert!(!p.contains("s3cret"), "{p}");
}

/// Dependencies name services and make no cycle; every cycle is named along its path.
#[test]
fn depends_on_names_services_and_a_cycle_is_an_error_naming_it() {
    let p = problems(
        r#"{"disk_paths": [], "services": [
            {"name": "DB", "type": "port", "port": 1, "depends_on": ["API"]},
            {"name": "API", "type": "port", "port": 2, "depends_on": ["Web"]},
            {"name": "Web", "type": "port", "port": 3, "depends_on": ["DB", "Cache", 7]},
            {"name": "Self", "type": "port", "port": 4, "depends_on": ["Self"]}
        ]}"#,
    );
    assert_eq!(
        p,
        [
            r#"services[2] "Web": field `depends_on`: item 2 must be a name (a string), got 7"#,
            r#"services[2] "Web": field `depends_on`: no service is named "Cache" (services: DB, API, Web, Self)"#,
            r#"services[0] "DB": field `depends_on`: is a dependency cycle: DB -> API -> Web -> DB"#,
            r#"services[3] "Self": field `depends_on`: is a dependency cycle: Self -> Self"#,
        ]
    );
    let config = parse(
        r#"{"services": [{"name": "DB", "type": "port", "port": 1}, {"name": "API", "type": "port", "port": 2, "depends_on": ["DB", "DB"]}]}"#,
    )
    .unwrap()
    .config;
    assert_eq!(config.services[1].depends_on, ["DB"], "each once");
}

/// Every global policy key can be set per service; the rest come from the global values.
#[test]
fn policy_keys_are_global_and_per_service() {
    let config = parse(
        r#"{"failure_threshold": 3, "reminder_interval_seconds": 600, "restart_grace_seconds": 2, "check_interval_seconds": 60,
            "alerting": {"alert_on_recovery": false},
            "services": [
              {"name": "A", "type": "port", "port": 1},
              {"name": "B", "type": "port", "port": 2, "failure_threshold": 1, "success_threshold": 4,
               "reminder_interval_seconds": 0, "restart_grace_seconds": 0.5, "alert_on_recovery": true,
               "interval_seconds": 3600, "severity": "critical"}
            ]}"#,
    )
    .unwrap()
    .config;
    let (a, b) = (&config.services[0].policy, &config.services[1].policy);
    assert_eq!((a.failure_threshold, a.success_threshold, a.reminder_interval), (3, 1, Some(secs(600))));
    assert_eq!((a.alert_on_recovery, a.restart_grace, a.interval), (false, secs(2), None));
    assert_eq!((b.failure_threshold, b.success_threshold, b.reminder_interval), (1, 4, None));
    assert_eq!(
        (b.alert_on_recovery, b.restart_grace, b.interval),
        (true, Duration::from_millis(500), Some(secs(3600)))
    );
    assert_eq!(
        (config.services[0].severity, config.services[1].severity),
        (ops_kit::Severity::Error, ops_kit::Severity::Critical)
    );
    assert_eq!(config.default_policy().failure_threshold, 3);
    let p = problems(
        r#"{"services": [{"name": "A", "type": "port", "port": 1, "severity": "fatal", "interval_seconds": 0, "failure_threshold": 0}]}"#,
    );
    assert_eq!(
        p,
        [
            r#"services[0] "A": field `failure_threshold`: must be an integer from 1 to 10000, got 0"#,
            r#"services[0] "A": field `interval_seconds`: must be greater than 0, got 0"#,
            r#"services[0] "A": field `severity`: must be one of info, warning, error, critical, got "fatal""#,
        ]
    );
}

/// Channels: `telegram`, the named Telegram chats, the webhooks; unique names; `notify` and
/// escalation steps must name them; by default a service alerts every channel no escalation
/// names.
#[test]
fn channels_are_named_and_notify_and_escalation_must_name_them() {
    let json = r#"{"alerting": {"telegram_bot_token": "1:a", "telegram_chat_id": 1,
                     "telegram_chats": [{"name": "oncall", "chat_id": -100}],
                     "webhooks": [{"name": "slack", "url": "https://a/"}, {"name": "pager", "url": "https://b/"}]},
                   "services": [
                     {"name": "A", "type": "port", "port": 1, "escalation": [{"after_minutes": 30, "notify": ["oncall"]}, {"after_minutes": 60.5, "notify": ["pager"]}]},
                     {"name": "B", "type": "port", "port": 2, "notify": ["pager"]}
                   ]}"#;
    let config = parse(json).unwrap().config;
    assert_eq!(config.alerting.channels(), ["telegram", "oncall", "slack", "pager"]);
    assert_eq!(config.default_channels(), ["telegram", "slack"]);
    assert_eq!(config.alerting.destination("oncall").as_deref(), Some("telegram:oncall"));
    assert_eq!(config.alerting.destination("pager").as_deref(), Some("webhook:pager"));
    assert_eq!(config.services[0].escalation[1].after, Duration::from_secs(3630));
    assert_eq!(config.services[1].notify.as_deref(), Some(&["pager".to_owned()][..]));

    let p = problems(
        r#"{"alerting": {"telegram_chats": [{"name": "telegram", "chat_id": 1}, {"name": "x", "chat_id": 1}, {"name": "x", "chat_id": 2}, {"chat_id": 3}],
                         "webhooks": [{"name": "x", "url": "https://a/"}, {"name": "telegram", "url": "https://b/"}]},
            "services": [{"name": "A", "type": "port", "port": 1, "notify": ["nope", "telegram"],
                          "escalation": [{"after_minutes": 0, "notify": []}, {"notify": ["gone"]}, 5]}]}"#,
    );
    assert_eq!(
        p,
        [
            r#"services[0] "A" escalation[0]: field `after_minutes`: must be greater than 0, got 0"#,
            r#"services[0] "A" escalation[0]: field `notify`: must name at least one channel"#,
            r#"services[0] "A" escalation[1]: field `after_minutes`: is required"#,
            r#"services[0] "A" escalation[2]: must be an object like {"after_minutes": 30, "notify": ["oncall"]}, got a number"#,
            r#"alerting.telegram_chats[0] "telegram": field `name`: `telegram` is the main chat's channel name (telegram_chat_id); choose another"#,
            r#"alerting.telegram_chats[1] "x": field `name`: is also the name of a webhook: channel names must be unique"#,
            r#"alerting.telegram_chats[2] "x": field `name`: duplicate name, already used by alerting.telegram_chats[1]"#,
            "alerting.telegram_chats[3]: field `name`: is required",
            r#"alerting.webhooks[1] "telegram": field `name`: `telegram` is the main Telegram chat's channel name; choose another"#,
            r#"services[0] "A": field `notify`: no alerting channel is named "nope" (channels: x, telegram)"#,
            r#"services[0] "A": field `escalation`: no alerting channel is named "gone" (channels: x, telegram)"#,
        ]
    );
}

#[test]
fn dns_ping_and_url_request_keys_load_with_their_defaults() {
    let loaded = parse(
        r#"{"services": [
            {"name": "R", "type": "dns", "query": "api.example.com"},
            {"name": "R2", "type": "dns", "query": "example.com", "record_type": "mx", "server": "[2001:db8::53]:5353",
             "expected": ["10 mail.example.com"], "timeout_seconds": 2},
            {"name": "G", "type": "ping", "host": "gw.example.com"},
            {"name": "G2", "type": "ping", "host": "::1", "count": 10, "max_loss_percent": 20, "max_rtt_ms": 50},
            {"name": "U", "target": "https://a.example.com", "method": "post", "headers": {"X-K": "v1"},
             "body": {"a": [1]}, "bearer_token": "tok", "insecure_tls": true, "follow_redirects": false,
             "expected_status": 201, "conditions": ["[BODY].ok == true"]}
        ], "disk_paths": []}"#,
    )
    .unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let s = &loaded.config.services;
    let Check::Dns(d) = &s[0].check else { panic!() };
    assert_eq!((d.record_type, d.server.as_deref(), d.timeout), (ops_health::RecordType::A, None, secs(5)));
    let Check::Dns(d) = &s[1].check else { panic!() };
    assert_eq!(
        (d.record_type, d.server.as_deref(), d.expected.len()),
        (ops_health::RecordType::Mx, Some("[2001:db8::53]:5353"), 1)
    );
    let Check::Ping(p) = &s[2].check else { panic!() };
    assert_eq!((p.count, p.max_loss_percent, p.max_rtt, p.timeout), (3, 0.0, None, secs(5)));
    let Check::Ping(p) = &s[3].check else { panic!() };
    assert_eq!((p.count, p.max_loss_percent, p.max_rtt), (10, 20.0, Some(Duration::from_millis(50))));
    let Check::Url(u) = &s[4].check else { panic!() };
    assert_eq!((u.method.as_str(), u.insecure_tls, u.follow_redirects), ("POST", true, Some(false)));
    assert_eq!(u.body, Some(ops_health::RequestBody::Json(r#"{"a":[1]}"#.into())));
    // An expected_status written out is a condition among the others.
    let conditions: Vec<&str> = u.conditions.iter().map(ops_health::Condition::text).collect();
    assert_eq!(conditions, ["[STATUS] == 201", "[BODY].ok == true"]);
}

#[test]
fn bad_dns_ping_and_request_values_name_the_service_and_field() {
    let p = problems(
        r#"{"services": [
            {"name": "R", "type": "dns", "query": "a..b", "record_type": "ANY"},
            {"name": "R2", "type": "dns", "query": "ok.example", "server": "x:0", "expected": ["nope"]},
            {"name": "G", "type": "ping", "count": 0, "max_loss_percent": 101},
            {"name": "U", "target": "http://a.example", "method": "BREW", "conditions": ["[STATUS] == 200", "[STATUS] == [STATSU]", 7]},
            {"name": "U2", "target": "http://a.example", "body": 5, "headers": {"Bad Name": "v", "X": 1}}
        ], "disk_paths": []}"#,
    );
    let expected = [
        r#"services[0] "R": field `record_type`: "ANY" is not a record type agent-ops asks for (known: A, AAAA, CNAME, MX, TXT, NS, PTR, SRV)"#,
        r#"services[1] "R2": field `server`: "0" is not a port (1 to 65535)"#,
        r#"services[2] "G": field `host`: is required"#,
        r#"services[2] "G": field `count`: must be an integer from 1 to 100, got 0"#,
        r#"services[2] "G": field `max_loss_percent`: must be at most 100, got 101"#,
        r#"services[3] "U": field `method`: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"#,
        r#"services[3] "U": field `conditions`: item 1: invalid condition at character 13: unknown placeholder [STATSU] (known: [STATUS], [RESPONSE_TIME], [BODY], [CERTIFICATE_EXPIRATION], [CONNECTED])"#,
        r#"services[3] "U": field `conditions`: item 2 must be a string like "[STATUS] == 200", got a number"#,
        r#"services[4] "U2": field `headers`: "Bad Name" is not a header name"#,
        r#"services[4] "U2": field `headers`: the value of "X" must be a string"#,
        r#"services[4] "U2": field `body`: must be a string, or an object or array sent as JSON, got a number"#,
    ];
    for e in expected {
        assert!(p.iter().any(|x| x == e), "missing {e}\n{p:#?}");
    }
    assert!(
        p.iter()
            .any(|x| x.starts_with(r#"services[0] "R": field `query`: "a..b" has a label of 0 characters"#)),
        "{p:#?}"
    );
}

#[test]
fn url_credentials_never_appear_in_errors_warnings_or_debug() {
    const SECRET: &str = "zqxCREDENTIALzqx";
    for json in [
        format!(
            r#"{{"name": "U", "target": "http://a.example", "basic_auth": {{"user": "u", "password": "{SECRET}"}}, "bearer_token": "{SECRET}"}}"#
        ),
        format!(
            r#"{{"name": "U", "target": "http://a.example", "bearer_token": "{SECRET}", "headers": {{"Authorization": "Bearer {SECRET}"}}}}"#
        ),
        format!(
            r#"{{"name": "U", "target": "http://a.example", "basic_auth": {{"user": "u", "pasword": "{SECRET}"}}}}"#
        ),
        format!(r#"{{"name": "U", "target": "http://a.example", "headers": {{"X-Key": "{SECRET}"}}}}"#),
        format!(r#"{{"name": "U", "target": "http://a.example", "bearer_token": "{SECRET}", "timout": 1}}"#),
    ] {
        let shown = match parse(&format!(r#"{{"services": [{json}]}}"#)) {
            Ok(loaded) => format!("{loaded:?} {}", loaded.warning_lines()),
            Err(e) => e.to_string(),
        };
        assert!(!shown.contains(SECRET), "{shown}");
    }
    let p = problems(
        r#"{"services": [{"name": "U", "target": "http://a.example", "basic_auth": {"user": "u", "password": "p"}, "bearer_token": "t"}]}"#,
    );
    assert_eq!(
        p,
        [r#"services[0] "U": field `bearer_token`: set either basic_auth or bearer_token, not both"#]
    );
}

/// `http`: where the daemon listens, loopback by default, and never beyond it without
/// credentials unless asked; the password appears in no message.
#[test]
fn http_settings_keep_the_server_on_loopback_unless_guarded_or_public() {
    let http = |v: &str| parse(&format!(r#"{{"services": [], "http": {v}}}"#));
    let c = http(r#"{"listen": 9797}"#).unwrap().config.http;
    assert_eq!(c.listen, Some("127.0.0.1:9797".parse().unwrap()));
    assert_eq!((c.basic_auth, c.public), (None, false));
    assert_eq!(
        http(r#"{"listen": "9797"}"#).unwrap().config.http.listen,
        Some("127.0.0.1:9797".parse().unwrap())
    );
    assert_eq!(
        http(r#"{"listen": "[::1]:9797"}"#).unwrap().config.http.listen,
        Some("[::1]:9797".parse().unwrap())
    );
    assert_eq!(
        parse(r#"{"services": []}"#).unwrap().config.http,
        ops_kit::serve::Http::default(),
        "not served"
    );

    let password = "pa:ss word-never-shown";
    let guarded = http(&format!(
        r#"{{"listen": "0.0.0.0:9797", "basic_auth": {{"user": "ops", "password": "{password}"}}}}"#
    ))
    .unwrap()
    .config
    .http;
    let auth = guarded.basic_auth.as_ref().unwrap();
    assert_eq!((auth.user.as_str(), auth.password.expose()), ("ops", password));
    assert!(!format!("{guarded:?}").contains("never-shown"));
    assert!(http(r#"{"listen": "0.0.0.0:9797", "public": true}"#).is_ok());

    let p = one_problem(r#"{"services": [], "http": {"listen": "0.0.0.0:9797"}}"#);
    assert!(
        p.starts_with("http: field `listen`: 0.0.0.0:9797 is beyond loopback and no basic_auth is set")
            && p.contains("http.public: true"),
        "{p}"
    );
    assert!(
        one_problem(r#"{"services": [], "http": {"listen": "[::]:80", "public": false}}"#)
            .contains("beyond loopback")
    );
    for (bad, field, says) in [
        (r#"{"listen": ":9797"}"#, "listen", "is not an address like"),
        (r#"{"listen": "example.com:80"}"#, "listen", "is not an address like"),
        (r#"{"listen": 0}"#, "listen", "from 1 to 65535"),
        (r#"{"listen": 70000}"#, "listen", "from 1 to 65535"),
        (r#"{"listen": true}"#, "listen", "must be an address"),
        (r#"{"public": "yes"}"#, "public", "true or false"),
        (r#"{"basic_auth": {"user": "ops"}}"#, "password", "is required"),
        (r#"{"basic_auth": {"password": "x"}}"#, "user", "is required"),
        (r#"{"basic_auth": {"user": "a:b", "password": "x"}}"#, "user", "colon"),
        (r#"{"basic_auth": "ops:pw"}"#, "basic_auth", "must be an object"),
    ] {
        let p = one_problem(&format!(r#"{{"services": [], "http": {bad}}}"#));
        assert!(p.contains(&format!("field `{field}`: ")) && p.contains(says), "{bad}: {p}");
        assert!(!p.contains("ops:pw"), "{p}");
    }
    let warned = http(r#"{"listen": 9797, "listne": 1}"#).unwrap();
    assert_eq!(
        warned.warnings[0].to_string(),
        "http: field `listne`: is not a known field (did you mean `listen`?); it is ignored"
    );
}

#[test]
fn job_services_read_their_schedule_and_refuse_what_cannot_work() {
    let c = parse(
        r#"{"services": [
            {"name": "Nightly backup", "type": "job", "job": "backup", "schedule": "0 3 * * *",
             "tz": "Europe/Berlin", "grace_seconds": 1800, "min_runtime_seconds": 60,
             "max_runtime_seconds": 7200},
            {"name": "Agent", "type": "job", "job": "agent-run", "period_seconds": 900,
             "ping_token": "0123456789abcdef0123"}]}"#,
    )
    .unwrap()
    .config;
    let job = c.services[0].job.as_ref().unwrap();
    assert_eq!(job.name.as_str(), "backup");
    assert_eq!(job.watch.schedule.describe(), "0 3 * * * in Europe/Berlin");
    assert_eq!(
        (job.watch.grace, job.watch.min_runtime, job.watch.max_runtime),
        (secs(1800), Some(secs(60)), Some(secs(7200)))
    );
    assert_eq!(c.services[0].check.kind(), ops_health::CheckKind::Job);
    let agent = c.services[1].job.as_ref().unwrap();
    assert_eq!(
        (agent.watch.schedule.describe(), agent.watch.grace),
        ("every 15m".to_owned(), ops_kit::DEFAULT_JOB_GRACE)
    );
    // The token is a secret: not in Debug, not in any message.
    assert!(!format!("{c:?}").contains("0123456789abcdef0123"));

    let bad = |service: &str| problems(&format!(r#"{{"services": [{service}]}}"#)).join("\n");
    let e = bad(r#"{"name": "J", "type": "job", "job": "Back/up", "period_seconds": 60}"#);
    assert!(
        e.contains("field `job`: invalid job name \"Back/up\": it holds the uppercase letter 'B'"),
        "{e}"
    );
    let e = bad(r#"{"name": "J", "type": "job", "job": "x", "schedule": "0 3 * * *"}"#);
    assert!(e.contains("field `tz`: is required with `schedule`"), "{e}");
    let e = bad(r#"{"name": "J", "type": "job", "job": "x", "schedule": "0 3 * *", "tz": "UTC"}"#);
    assert!(e.contains("field `schedule`: invalid schedule: must have 5 fields"), "{e}");
    let e = bad(r#"{"name": "J", "type": "job", "job": "x", "schedule": "0 3 * * *", "tz": "Mars/Base"}"#);
    assert!(e.contains("field `tz`: unknown time zone \"Mars/Base\""), "{e}");
    let e = bad(r#"{"name": "J", "type": "job", "job": "x"}"#);
    assert!(e.contains("field `schedule`: is required"), "{e}");
    let e = bad(
        r#"{"name": "J", "type": "job", "job": "x", "schedule": "@daily", "tz": "UTC", "period_seconds": 5}"#,
    );
    assert!(e.contains("not both"), "{e}");
    let e = bad(
        r#"{"name": "J", "type": "job", "job": "x", "period_seconds": 60, "min_runtime_seconds": 60, "max_runtime_seconds": 60}"#,
    );
    assert!(e.contains("field `min_runtime_seconds`: must be below"), "{e}");
    let e = bad(
        r#"{"name": "J", "type": "job", "job": "x", "period_seconds": 60, "ping_token": "short secret!"}"#,
    );
    assert!(e.contains("field `ping_token`: must be 16 to 128") && !e.contains("short secret"), "{e}");
    let e = problems(
        r#"{"services": [{"name": "A", "type": "job", "job": "a", "period_seconds": 60, "ping_token": "same-secret-0123456"},
                         {"name": "B", "type": "job", "job": "b", "period_seconds": 60, "ping_token": "same-secret-0123456"}]}"#,
    )
    .join("\n");
    assert!(
        e.contains("field `ping_token`: is the ping_token of \"A\" too") && !e.contains("same-secret"),
        "{e}"
    );
    // A key of a job on another type, and of another type on a job, is a warning.
    let w = parse(r#"{"services": [{"name": "J", "type": "job", "job": "x", "period_seconds": 60, "timeout_seconds": 5}]}"#).unwrap();
    assert_eq!(w.warnings.len(), 1, "{:?}", w.warnings);
}

/// `alerting.alertmanager`: the channel `alertmanager`, its URLs secrets (never quoted), its
/// label names as Prometheus takes them, the host's name as `instance` by default.
#[test]
fn alertmanager_is_a_channel_and_its_settings_are_checked() {
    let am = |v: &str| format!(r#"{{"services": [], "alerting": {{"alertmanager": {v}}}}}"#);
    let c =
        parse(&am(r#"{"urls": ["http://ops:pw-never-shown@127.0.0.1:9093"], "labels": {"team": "ops"}}"#))
            .unwrap()
            .config;
    let a = c.alerting.alertmanager.as_ref().unwrap();
    assert_eq!(a.labels.get("team").map(String::as_str), Some("ops"));
    assert!(!a.instance.is_empty(), "the host's name");
    assert_eq!(a.resolve_timeout, None);
    assert_eq!(c.alerting.channels(), ["alertmanager"]);
    assert_eq!(c.alerting.destination("alertmanager").as_deref(), Some("alertmanager"));
    assert!(!format!("{c:?}").contains("pw-never-shown"));
    for (bad, says) in [
        ("{}", "field `urls`: is required"),
        (r#"{"urls": []}"#, "field `urls`: must list at least one Alertmanager URL"),
        (
            r#"{"urls": ["ftp://ops:pw-never-shown@x"]}"#,
            "field `urls`: item 0 must be an http:// or https:// URL",
        ),
        (
            r#"{"urls": ["http://a:9093", "http://a:9093/?key=pw-never-shown"]}"#,
            "field `urls`: item 1 must be a base URL, without a query (?) or fragment (#)",
        ),
        (
            r#"{"urls": ["http://a:9093"], "labels": {"1st": "x"}}"#,
            "field `labels`: \"1st\" is not a label name",
        ),
        (
            r#"{"urls": ["http://a:9093"], "labels": {"team": 1}}"#,
            "field `labels`: the value of \"team\" must be a string",
        ),
        (r#"{"urls": ["http://a:9093"], "instance": " "}"#, "field `instance`: must not be empty"),
        (r#"{"urls": ["http://a:9093"], "resolve_timeout_seconds": 5}"#, "field `resolve_timeout_seconds`"),
        (r#"{"urls": ["http://a:9093"], "generator_url": "status"}"#, "field `generator_url`"),
    ] {
        let p = one_problem(&am(bad));
        assert!(p.starts_with("alerting.alertmanager: ") && p.contains(says), "{bad}: {p}");
        assert!(!p.contains("pw-never-shown"), "{p}");
    }
    let p = one_problem(
        r#"{"services": [], "alerting": {"webhooks": [{"name": "alertmanager", "url": "http://x"}]}}"#,
    );
    assert!(p.contains("`alertmanager` is alerting.alertmanager's channel name"), "{p}");
}

/// `alerting.alertmanager.fallback` names channels, which then hear only what falls back.
#[test]
fn alertmanager_fallback_channels_are_kept_for_it() {
    let with = |fallback: &str| {
        format!(
            r#"{{"services": [], "alerting": {{"telegram_bot_token": "1:a", "telegram_chat_id": "42",
                "webhooks": [{{"name": "slack", "url": "http://127.0.0.1:1/x"}}],
                "alertmanager": {{"urls": ["http://127.0.0.1:9093"], "fallback": {fallback}}}}}}}"#
        )
    };
    let c = parse(&with(r#"["telegram"]"#)).unwrap().config;
    assert_eq!(c.default_channels(), ["slack", "alertmanager"]);
    let c = parse(&with("[]")).unwrap().config;
    assert_eq!(c.default_channels(), ["telegram", "slack", "alertmanager"]);
    let p = one_problem(&with(r#"["pager"]"#));
    assert!(
        p.starts_with("alerting.alertmanager: field `fallback`: no alerting channel is named \"pager\""),
        "{p}"
    );
    let p = one_problem(&with(r#"["alertmanager"]"#));
    assert!(p.contains("field `fallback`: cannot name `alertmanager` itself"), "{p}");
}
