//! The fuzz targets for `services.json` and a Prometheus server's answer (bolero: `cargo xtask
//! fuzz services_json` runs one under libFuzzer; `cargo test` replays its corpus in `fuzz/__fuzz__/` and random inputs).

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

use crate::{Config, ConfigError, Env};

/// A value no message of ours contains.
const MARKER: &str = "zqxSECRETzqx";

/// The configuration with a marker planted in every secret that is a string: the bot token,
/// webhook URLs (keeping an `http(s)://` prefix, so valid URLs stay valid) and header values,
/// a url service's header values, `bearer_token` and `basic_auth` password, and a job's
/// `ping_token` (as a valid token, so that a valid configuration stays valid).
/// `None` when there is no secret to plant.
fn planted(value: &Value) -> Option<Value> {
    let mut value = value.clone();
    let mut planted = false;
    for service in value.get_mut("services").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(token @ Value::String(_)) = service.get_mut("ping_token") {
            *token = Value::String(format!("{MARKER}-0123456789"));
            planted = true;
        }
    }
    let mut plant = |v: &mut Value, keep_scheme: bool| {
        let Value::String(s) = v else { return };
        let scheme = ["https://", "http://"].into_iter().find(|p| keep_scheme && s.starts_with(p));
        *s = scheme.map_or_else(|| format!("1:{MARKER}"), |p| format!("{p}{MARKER}.example/hook"));
        planted = true;
    };
    for service in value.get_mut("services").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(token) = service.get_mut("bearer_token") {
            plant(token, false);
        }
        if let Some(password) = service.get_mut("basic_auth").and_then(|a| a.get_mut("password")) {
            plant(password, false);
        }
        for (_, v) in service.get_mut("headers").and_then(Value::as_object_mut).into_iter().flatten() {
            plant(v, false);
        }
    }
    if let Some(alerting) = value.get_mut("alerting").and_then(Value::as_object_mut) {
        if let Some(token) = alerting.get_mut("telegram_bot_token") {
            plant(token, false);
        }
        for hook in alerting.get_mut("webhooks").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(url) = hook.get_mut("url") {
                plant(url, true);
            }
            for (_, v) in hook.get_mut("headers").and_then(Value::as_object_mut).into_iter().flatten() {
                plant(v, false);
            }
        }
    }
    planted.then_some(value)
}

/// What parsing shows a person: the error, or the warnings (and the configuration's `Debug`).
fn shown(bytes: &[u8]) -> String {
    match Config::parse(Path::new("services.json"), bytes, &Env::default()) {
        Ok(loaded) => format!(
            "{loaded:?} {}",
            loaded.warnings.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
        ),
        Err(e) => e.to_string(),
    }
}

/// Any services.json: invalid JSON is a syntax error with a position, valid JSON that is not a
/// usable configuration is a list of problems (never empty, each naming what is wrong), and a
/// usable one gives a probe for every service and disk path, each under its own name. No
/// message, error, warning or `Debug`, shows a secret.
#[test]
fn services_json() {
    let env = Env::default();
    let path = Path::new("services.json");
    bolero::check!().with_iterations(5_000).for_each(|bytes: &[u8]| {
        let value = serde_json::from_slice::<Value>(bytes);
        match Config::parse(path, bytes, &env) {
            Ok(loaded) => {
                let config = &loaded.config;
                let probes = config.probes();
                assert_eq!(probes.len(), config.services.len() + config.disk_paths.len());
                let mut names = HashSet::new();
                assert!(
                    probes.iter().all(|p| names.insert(p.name.as_str())),
                    "duplicate probe names: {probes:?}"
                );
                assert!(loaded.warnings.iter().all(|w| !w.message.is_empty()));
            }
            Err(e @ ConfigError::Syntax { line, .. }) => {
                assert!(value.is_err(), "{e}");
                assert!(line >= 1, "{e}");
            }
            Err(e @ ConfigError::Invalid { .. }) => {
                let ConfigError::Invalid { problems, .. } = &e else { unreachable!() };
                assert!(!problems.is_empty());
                assert!(problems.iter().all(|p| !p.message.is_empty()), "{e}");
            }
            Err(e) => panic!("parse never gives {e:?}"),
        }
        // Whatever else is wrong, a secret's value is never shown, not even in `Debug`.
        if let Some(planted) = value.ok().as_ref().and_then(planted) {
            let bytes = serde_json::to_vec(&planted).unwrap();
            let shown = shown(&bytes);
            assert!(!shown.contains(MARKER), "a secret is shown: {shown}");
        }
    });
}

/// Any answer of a Prometheus server (`uptime-report --prometheus-url`): read as a vector and as
/// a matrix, it gives at most `MAX_SERIES` series of finite values, or an error in words; no
/// word of the server reaches us with a control character (but a tab) or past 300 characters.
#[test]
fn prometheus_answer() {
    bolero::check!().with_iterations(5_000).for_each(|bytes: &[u8]| {
        for kind in ["vector", "matrix"] {
            // Two pieces of a server's words at most, each of 300 characters, each escaped in
            // at most 10 (`\u{e0001}`); a tab is left as it is.
            let clean = |w: &str| {
                !w.chars().any(|c| c.is_control() && c != '\t') && w.chars().count() <= 2 * 3010 + 100
            };
            match crate::fleet::parse(bytes, kind) {
                Ok(parsed) => {
                    assert!(parsed.series.len() <= crate::fleet::MAX_SERIES);
                    for s in &parsed.series {
                        assert!(s.points.iter().all(|(t, v)| t.is_finite() && v.is_finite()), "{s:?}");
                    }
                    assert!(parsed.warnings.iter().all(|w| clean(w)), "{:?}", parsed.warnings);
                }
                Err(e) => assert!(!e.is_empty() && clean(&e), "{e:?}"),
            }
        }
    });
}
