//! The resources: the configuration with every secret masked, `last-status`, and the board,
//! each as JSON text.

use ops_board::BoardFile;
use ops_kit::{Config, Layout};
use ops_state::{REDACTED, StateFile};
use serde_json::{Value, json};

/// Keys whose values are secrets, or may hold one (a command line with a password), wherever
/// they are in services.json.
const SECRET_KEYS: &[&str] = &[
    "telegram_bot_token",
    "bearer_token",
    "password",
    "restart_command",
    "command",
    "heartbeat_url",
    "url",
    "proxy",
];

/// Keys whose object holds a secret in each value (header values, a command's environment).
const SECRET_MAPS: &[&str] = &["headers", "env"];

/// The resources, as `resources/list` gives them.
pub fn list() -> Vec<Value> {
    let entry = |uri: &str, name: &str, title: &str, description: &str| json!({"uri": uri, "name": name, "title": title, "description": description, "mimeType": "application/json"});
    vec![
        entry(
            "agent-ops://config",
            "config",
            "services.json",
            "The configuration as read now, with every secret (token, webhook URLs, headers, passwords, commands) masked.",
        ),
        entry(
            "agent-ops://last-status",
            "last-status",
            "Last status",
            "state/last-status.json: each check's verdict at the last orchestrator pass (true: up).",
        ),
        entry(
            "agent-ops://board",
            "board",
            "Task board",
            "state/board.json: the ops task board (its backup when it is corrupt).",
        ),
    ]
}

/// The text of the resource at `uri`; `None` when there is none.
pub fn read(layout: &Layout, config: &Result<Config, String>, uri: &str) -> Option<Result<String, String>> {
    Some(match uri {
        "agent-ops://config" => config.as_ref().map_err(Clone::clone).and_then(masked_config),
        "agent-ops://last-status" => match StateFile::new(layout.last_status()).read::<Value>() {
            Ok(v) => Ok(pretty(&v.unwrap_or_else(|| json!({})))),
            Err(e) => Err(e.to_string()),
        },
        "agent-ops://board" => BoardFile::new(layout.board())
            .and_then(|f| f.read())
            .map(|s| serde_json::to_string_pretty(&s.board).unwrap_or_default())
            .map_err(|e| e.to_string()),
        _ => return None,
    })
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// services.json (which `config` was read from) with the values of [`SECRET_KEYS`] and
/// [`SECRET_MAPS`] replaced by `[redacted]`, then every other secret the configuration knows
/// removed from what is left (a password in a check's target URL).
fn masked_config(config: &Config) -> Result<String, String> {
    let bytes =
        std::fs::read(&config.path).map_err(|e| format!("cannot read {}: {e}", config.path.display()))?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{} is not JSON: {e}", config.path.display()))?;
    let secrets = config.secrets();
    Ok(pretty(&mask(value, &secrets)))
}

fn mask(value: Value, secrets: &ops_state::Redactor) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if SECRET_KEYS.contains(&k.as_str()) && !v.is_null() && !v.is_boolean() {
                        json!(REDACTED)
                    } else if SECRET_MAPS.contains(&k.as_str()) && v.is_object() {
                        Value::Object(
                            v.as_object()
                                .into_iter()
                                .flatten()
                                .map(|(h, _)| (h.clone(), json!(REDACTED)))
                                .collect(),
                        )
                    } else {
                        mask(v, secrets)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| mask(v, secrets)).collect()),
        Value::String(s) => Value::String(secrets.redact(&s)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_masked_wherever_they_are_and_the_rest_is_kept() {
        let config = json!({"services": [
            {"name": "API", "target": "https://u:hunter2-long-pw@api/", "headers": {"X-Key": "k"}, "restart_command": "systemctl restart api",
             "basic_auth": {"user": "bob", "password": "pw"}},
            {"name": "Plugin", "type": "command", "command": ["check", "--pass", "x"], "env": {"TOKEN": "t"}}],
            "alerting": {"telegram_bot_token": "1:abc", "webhooks": [{"name": "hook", "url": "https://hooks/x", "headers": {"A": "b"}}],
                         "proxy": null, "alert_on_recovery": true},
            "heartbeat_url": "https://hc/uuid", "check_interval_seconds": 60});
        let mut secrets = ops_state::Redactor::default();
        secrets.add("hunter2-long-pw", 8);
        let masked = mask(config, &secrets);
        let text = masked.to_string();
        for gone in [
            "systemctl",
            "hunter2",
            "\"k\"",
            "\"pw\"",
            "--pass",
            "\"t\"",
            "1:abc",
            "hooks/x",
            "\"b\"",
            "hc/uuid",
        ] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
        assert_eq!(masked["services"][0]["headers"]["X-Key"], REDACTED);
        assert_eq!(masked["services"][0]["basic_auth"]["user"], "bob");
        assert_eq!(masked["check_interval_seconds"], 60);
        assert_eq!(masked["alerting"]["alert_on_recovery"], true);
        assert!(masked["alerting"]["proxy"].is_null());
        assert_eq!(masked["services"][0]["target"], "https://u:[redacted]@api/");
    }
}
