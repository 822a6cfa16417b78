//! The fuzz target for `services.json` (bolero: `cargo xtask fuzz services_json` runs it
//! under libFuzzer; `cargo test` replays its corpus in `fuzz/__fuzz__/` and random inputs).

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

use crate::{Config, ConfigError, Env};

/// The secrets of a configuration: the bot token, webhook URLs and header values.
fn secrets(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let alerting = value.get("alerting");
    out.extend(alerting.and_then(|a| a.get("telegram_bot_token")).and_then(Value::as_str).map(str::to_owned));
    for hook in alerting.and_then(|a| a.get("webhooks")).and_then(Value::as_array).into_iter().flatten() {
        out.extend(hook.get("url").and_then(Value::as_str).map(str::to_owned));
        let headers = hook.get("headers").and_then(Value::as_object).into_iter().flatten();
        out.extend(headers.filter_map(|(_, v)| v.as_str().map(str::to_owned)));
    }
    out
}

/// Any services.json: invalid JSON is a syntax error with a position, valid JSON that is not a
/// usable configuration is a list of problems (never empty, each naming what is wrong), and a
/// usable one gives a probe for every service and disk path, each under its own name. No
/// message, error or warning, shows a secret.
#[test]
fn services_json() {
    let env = Env::default();
    let path = Path::new("services.json");
    bolero::check!().with_iterations(5_000).for_each(|bytes: &[u8]| {
        let value = serde_json::from_slice::<Value>(bytes);
        let shown = match Config::parse(path, bytes, &env) {
            Ok(loaded) => {
                let config = &loaded.config;
                let probes = config.probes();
                assert_eq!(probes.len(), config.services.len() + config.disk_paths.len());
                let mut names = HashSet::new();
                assert!(
                    probes.iter().all(|p| names.insert(p.name.as_str())),
                    "duplicate probe names: {probes:?}"
                );
                loaded.warnings.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
            }
            Err(e @ ConfigError::Syntax { line, .. }) => {
                assert!(value.is_err(), "{e}");
                assert!(line >= 1, "{e}");
                e.to_string()
            }
            Err(e @ ConfigError::Invalid { .. }) => {
                let ConfigError::Invalid { problems, .. } = &e else { unreachable!() };
                assert!(!problems.is_empty());
                assert!(problems.iter().all(|p| !p.message.is_empty()), "{e}");
                e.to_string()
            }
            Err(e) => panic!("parse never gives {e:?}"),
        };
        let text = String::from_utf8_lossy(bytes);
        for secret in value.iter().flat_map(secrets) {
            // A secret also written elsewhere in the file may be shown as that other value.
            if secret.chars().count() >= 8 && text.matches(secret.as_str()).count() == 1 {
                assert!(!shown.contains(&secret), "{secret:?} shown in: {shown}");
            }
        }
    });
}
