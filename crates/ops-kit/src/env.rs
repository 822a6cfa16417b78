//! The environment variables agent-ops reads, captured in one place.

pub use ops_alert::Secret;
use std::ffi::OsString;

/// The variables that change where agent-ops looks and what it sends. Capture them once with
/// [`Env::capture`]; tests build one by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    /// `HOME`.
    pub home: Option<OsString>,
    /// `AGENT_OPS_HOME`: the base directory instead of `~/.agent-ops`.
    pub agent_ops_home: Option<OsString>,
    /// `AGENT_OPS_CONFIG`: the services.json path.
    pub config: Option<OsString>,
    /// `AGENT_OPS_LOG_DIR`.
    pub log_dir: Option<OsString>,
    /// `AGENT_OPS_METRICS_DIR`.
    pub metrics_dir: Option<OsString>,
    /// `TELEGRAM_BOT_TOKEN`: overrides `alerting.telegram_bot_token`.
    pub telegram_bot_token: Option<Secret>,
    /// `TELEGRAM_CHAT_ID`: overrides `alerting.telegram_chat_id`.
    pub telegram_chat_id: Option<String>,
    /// `TELEGRAM_API_URL`: overrides `alerting.telegram_api_url` (a self-hosted Bot API server).
    pub telegram_api_url: Option<String>,
    /// `AGENT_OPS_STRICT_PERMISSIONS=0` (or `false`, `no`, `off`): accept state, metrics and
    /// logs directories (and a services.json) that other users could change, which are
    /// refused otherwise (see [`crate::Layout::resolve`]). Any other value keeps the check.
    pub relaxed_permissions: bool,
    /// `PATH`: restart commands get it, followed by the usual system directories (cron's PATH
    /// often lacks /usr/sbin, where systemctl and service live on some systems).
    pub path: Option<OsString>,
}

impl Env {
    /// Reads the process environment. Empty values count as unset.
    pub fn capture() -> Self {
        Self::from_lookup(|key| std::env::var_os(key))
    }

    /// Builds an `Env` from any lookup function (for tests and embedding).
    pub fn from_lookup(get: impl Fn(&str) -> Option<OsString>) -> Self {
        let get = |key: &str| get(key).filter(|v| !v.is_empty());
        let text = |key: &str| get(key).map(|v| v.to_string_lossy().into_owned());
        Self {
            home: get("HOME"),
            agent_ops_home: get("AGENT_OPS_HOME"),
            config: get("AGENT_OPS_CONFIG"),
            log_dir: get("AGENT_OPS_LOG_DIR"),
            metrics_dir: get("AGENT_OPS_METRICS_DIR"),
            telegram_bot_token: text("TELEGRAM_BOT_TOKEN").map(Secret::new),
            telegram_chat_id: text("TELEGRAM_CHAT_ID"),
            telegram_api_url: text("TELEGRAM_API_URL"),
            relaxed_permissions: text("AGENT_OPS_STRICT_PERMISSIONS").is_some_and(|v| {
                ["0", "false", "no", "off"].contains(&v.trim().to_ascii_lowercase().as_str())
            }),
            path: get("PATH"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_shows() {
        let s = Secret::new("123456:ABC-DEF");
        assert!(!format!("{s} {s:?}").contains("ABC"));
        assert_eq!(s.expose(), "123456:ABC-DEF");
        let env = Env { telegram_bot_token: Some(s), ..Env::default() };
        assert!(!format!("{env:?}").contains("ABC"));
    }

    #[test]
    fn empty_values_are_unset() {
        let env = Env::from_lookup(|k| match k {
            "HOME" => Some("/home/u".into()),
            "AGENT_OPS_CONFIG" => Some("".into()),
            _ => None,
        });
        assert_eq!(env.home.as_deref(), Some("/home/u".as_ref()));
        assert_eq!(env.config, None);
    }

    #[test]
    fn only_a_clear_no_relaxes_the_permission_check() {
        let relaxed = |v: &str| {
            let v = std::ffi::OsString::from(v);
            Env::from_lookup(|k| (k == "AGENT_OPS_STRICT_PERMISSIONS").then(|| v.clone())).relaxed_permissions
        };
        for no in ["0", "false", "No", "OFF", " off "] {
            assert!(relaxed(no), "{no:?}");
        }
        for strict in ["", "1", "true", "yes", "o", "disable", "0 please"] {
            assert!(!relaxed(strict), "{strict:?}");
        }
        assert!(!Env::default().relaxed_permissions, "strict unless asked");
    }
}
