//! The environment variables agent-ops reads, captured in one place.

pub use ops_state::Secret;
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
    /// The proxy variables, for alerts only (checks never read them): `https_proxy` (or
    /// `HTTPS_PROXY`), `http_proxy` (`HTTP_PROXY`), `all_proxy` (`ALL_PROXY`), `no_proxy`
    /// (`NO_PROXY`); lowercase first, as curl and Python read them.
    pub proxies: Proxies,
    /// `PATH`: restart commands get it, followed by the usual system directories (cron's PATH
    /// often lacks /usr/sbin, where systemctl and service live on some systems).
    pub path: Option<OsString>,
    /// `USER` (or `LOGNAME`): who acknowledges an outage with `orchestrator ack`.
    pub user: Option<String>,
}

/// Variables that hold secrets: restart commands and check plugins never inherit them (what
/// a plugin prints becomes a detail, and details are recorded and logged without redaction).
pub const SECRET_VARIABLES: [&str; 1] = ["TELEGRAM_BOT_TOKEN"];

/// The environment's proxy variables (proxy URLs can hold a password: they are secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    /// For `https://` destinations.
    pub https: Option<Secret>,
    /// For `http://` destinations.
    pub http: Option<Secret>,
    /// For either, when the one of its scheme is not set.
    pub all: Option<Secret>,
    /// Hosts reached directly: a comma-separated list of names (a name covers its subdomains;
    /// a leading dot is allowed) or `*` for all.
    pub no_proxy: Option<String>,
}

impl Proxies {
    /// The proxy for `url`, as curl and Python's urllib choose it; `None` to go directly.
    pub fn for_url(&self, url: &str) -> Option<&Secret> {
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if let Some(v6) = host_port.strip_prefix('[') {
            v6.split(']').next().unwrap_or_default()
        } else {
            host_port.split(':').next().unwrap_or_default()
        }
        .to_ascii_lowercase();
        let bypass = self.no_proxy.as_deref().unwrap_or_default().split(',').map(str::trim).any(|entry| {
            let entry = entry.trim_start_matches('.').trim_matches(['[', ']']).to_ascii_lowercase();
            entry == "*" || (!entry.is_empty() && (host == entry || host.ends_with(&format!(".{entry}"))))
        });
        if bypass {
            return None;
        }
        match scheme.to_ascii_lowercase().as_str() {
            "https" => self.https.as_ref().or(self.all.as_ref()),
            "http" => self.http.as_ref().or(self.all.as_ref()),
            _ => None,
        }
    }
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
            proxies: Proxies {
                https: text("https_proxy").or_else(|| text("HTTPS_PROXY")).map(Secret::new),
                http: text("http_proxy").or_else(|| text("HTTP_PROXY")).map(Secret::new),
                all: text("all_proxy").or_else(|| text("ALL_PROXY")).map(Secret::new),
                no_proxy: text("no_proxy").or_else(|| text("NO_PROXY")),
            },
            relaxed_permissions: text("AGENT_OPS_STRICT_PERMISSIONS").is_some_and(|v| {
                ["0", "false", "no", "off"].contains(&v.trim().to_ascii_lowercase().as_str())
            }),
            path: get("PATH"),
            user: text("USER").or_else(|| text("LOGNAME")),
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
    fn the_proxy_of_a_url_is_chosen_as_curl_chooses_it() {
        let p = Proxies {
            https: Some(Secret::new("http://tls-proxy:3128")),
            http: None,
            all: Some(Secret::new("http://all-proxy:3128")),
            no_proxy: Some(" .internal, localhost,[::1] ,10.0.0.5".into()),
        };
        let chosen = |url: &str| p.for_url(url).map(|s| s.expose().to_owned());
        assert_eq!(
            chosen("https://api.telegram.org/bot1:x/sendMessage").as_deref(),
            Some("http://tls-proxy:3128")
        );
        assert_eq!(chosen("http://hooks.example/x").as_deref(), Some("http://all-proxy:3128"));
        for direct in [
            "https://hooks.internal/x",
            "https://a.b.internal:8443/x",
            "http://LOCALHOST:9/x",
            "http://user:pw@localhost/x",
            "http://10.0.0.5/x",
            "ftp://anything/x",
            "not a url",
        ] {
            assert_eq!(chosen(direct), None, "{direct}");
        }
        assert!(chosen("https://notinternal/x").is_some(), "a suffix is a domain, not a string suffix");
        let all = Proxies { no_proxy: Some("*".into()), ..p.clone() };
        assert_eq!(all.for_url("https://api.telegram.org/x"), None);
        let env = Env::from_lookup(|k| match k {
            "HTTPS_PROXY" => Some("http://upper".into()),
            "https_proxy" => Some("http://lower".into()),
            "NO_PROXY" => Some("a".into()),
            _ => None,
        });
        assert_eq!(env.proxies.https.as_ref().map(Secret::expose), Some("http://lower"), "lowercase first");
        assert_eq!(env.proxies.no_proxy.as_deref(), Some("a"));
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
