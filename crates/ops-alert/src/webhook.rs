//! A generic JSON webhook: POSTs a body built from a template, so Slack, Discord, Mattermost,
//! ntfy or anything else that takes JSON can receive alerts.
//!
//! The template is any JSON value; in every string inside it, these placeholders are replaced:
//! `{text}` (title, blank line, message), `{title}` (`[ERROR] Agent Ops Alert`), `{message}`,
//! `{level}` (`error`), `{prefix}` (`[ERROR]`), `{topic}` (empty when there is none), and
//! `{text_html}`, `{message_html}`: the same with `&`, `<`, `>` escaped as HTML entities, as
//! Slack wants them. Substitution happens in the parsed value, so the result is always valid
//! JSON.
//!
//! Any 2xx answer is a delivery, and so is 303 See Other (the POST was carried out); its body
//! is not read. Other redirects are not followed: permanent errors. 429 (honouring `Retry-After` within the policy), 5xx,
//! timeouts and connection errors are retried; other answers are permanent. The URL and the
//! header values are secrets (an incoming-webhook URL is a credential): they never appear in
//! messages, only the webhook's name does.

use serde_json::{Value, json};
use ureq::Agent;

use crate::http::{self, RetryPolicy, Step, backoff_for, post_json, with_retries};
use crate::notifier::{Failure, Notifier, Problem, Receipt, Request, Unredacted};
use crate::secret::REDACTED;
use crate::telegram::check_http_url;
use crate::{Alert, AlertError, Secret, Secrets, Setting, text};

/// One webhook.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Its name, used in messages and the outbox (`webhook:<name>`).
    pub name: String,
    /// Where to POST; a secret.
    pub url: Secret,
    /// The body template; `None` for [`default_template`].
    pub body: Option<Value>,
    /// Extra headers (`Authorization` ...); the values are secrets.
    pub headers: Vec<(String, Secret)>,
    /// Cut `{text}` and `{message}` to this many characters (Discord takes 2000).
    pub max_chars: Option<usize>,
    /// Retries and timeouts.
    pub retry: RetryPolicy,
}

/// The body used when none is configured: `{"text": "{text}", "title": ..., "message": ...,
/// "level": ..., "topic": ...}`, which Slack and Mattermost accept as is.
pub fn default_template() -> Value {
    json!({
        "text": "{text}",
        "title": "{title}",
        "message": "{message}",
        "level": "{level}",
        "topic": "{topic}",
    })
}

/// Sends alerts to one webhook.
pub struct Webhook {
    config: WebhookConfig,
    destination: String,
    secrets: Secrets,
    agent: Agent,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("destination", &self.destination).finish_non_exhaustive()
    }
}

impl Webhook {
    /// The same notifier, its requests going through the HTTP proxy at `url` (whose
    /// credentials join the secrets). Without it, no proxy is used: the environment is not read.
    pub fn with_proxy(mut self, url: &Secret) -> Result<Self, AlertError> {
        self.agent = http::agent(Some(url))?;
        self.secrets.add_url_parts(url.expose(), false);
        Ok(self)
    }

    /// Checks the settings: a name without control characters, a valid `http(s)://` URL,
    /// headers that HTTP can carry (never quoting a value: they are secrets).
    pub fn new(config: WebhookConfig) -> Result<Self, AlertError> {
        let invalid = |field, message: String| Err(AlertError::Invalid { field, message });
        if config.name.trim().is_empty() {
            return invalid(Setting::Name, "must not be empty".into());
        }
        if config.name.chars().any(char::is_control) {
            return invalid(Setting::Name, "must not contain control characters".into());
        }
        check_http_url(Setting::Url, config.url.expose())?;
        for (name, value) in &config.headers {
            if ureq::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return invalid(Setting::Headers, format!("{name:?} is not a valid header name"));
            }
            if ureq::http::HeaderValue::from_str(value.expose()).is_err() {
                return invalid(
                    Setting::Headers,
                    format!(
                        "the value of {name:?} has a character a header cannot carry (a line break or another control character)"
                    ),
                );
            }
        }
        let mut secrets = Secrets::default();
        secrets.add_value(config.url.expose());
        secrets.add_url_parts(config.url.expose(), true);
        for (_, value) in &config.headers {
            secrets.add_value(value.expose());
        }
        Ok(Self {
            destination: format!("webhook:{}", config.name),
            config,
            secrets,
            agent: http::agent(None)?,
        })
    }

    /// The body for `alert`.
    pub fn render(&self, alert: &Alert) -> Value {
        let cut = |s: String| match self.config.max_chars {
            Some(max) if s.chars().count() > max => {
                let marker = " [truncated]";
                let keep = max.saturating_sub(marker.len());
                format!("{}{marker}", s.chars().take(keep).collect::<String>().trim_end())
            }
            _ => s,
        };
        let text = cut(text::plain_text(alert));
        let message = cut(alert.message.clone());
        let vars = [
            ("{text_html}", text::escape_html(&text)),
            ("{message_html}", text::escape_html(&message)),
            ("{text}", text),
            ("{title}", text::title(alert)),
            ("{message}", message),
            ("{level}", alert.level.as_str().to_owned()),
            ("{prefix}", alert.level.prefix().to_owned()),
            ("{topic}", alert.topic.clone().unwrap_or_default()),
        ];
        let template = self.config.body.clone().unwrap_or_else(default_template);
        substitute(template, &vars)
    }
}

/// Replaces the placeholders in every string of `value` (keys included).
fn substitute(value: Value, vars: &[(&str, String)]) -> Value {
    let fill = |s: &str| {
        // One pass, so a placeholder inside a substituted value is left alone.
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        'scan: while let Some(i) = rest.find('{') {
            out.push_str(&rest[..i]);
            rest = &rest[i..];
            for (name, v) in vars {
                if let Some(after) = rest.strip_prefix(name) {
                    out.push_str(v);
                    rest = after;
                    continue 'scan;
                }
            }
            out.push('{');
            rest = &rest[1..];
        }
        out.push_str(rest);
        out
    };
    match value {
        Value::String(s) => Value::String(fill(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| substitute(v, vars)).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (fill(&k), substitute(v, vars))).collect())
        }
        other => other,
    }
}

impl Notifier for Webhook {
    fn destination(&self) -> &str {
        &self.destination
    }

    fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    fn send(&self, alert: &Alert, _parts_sent: u32, _: Unredacted) -> Result<Receipt, Failure> {
        let body = self.render(alert);
        let headers: Vec<(&str, &str)> =
            self.config.headers.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
        let policy = &self.config.retry;
        let name = &self.config.name;
        with_retries(policy, |attempt| {
            let url = self.config.url.expose();
            let answer = post_json(&self.agent, url, &headers, &body, policy.request_timeout, false);
            let answer = match answer {
                Ok(a) => a,
                Err(e) => return http::transport_step(&e, policy, attempt, &format!("webhook {name}")),
            };
            let wait = Some(backoff_for(policy, attempt));
            let status = answer.status;
            let said = self.secrets.quote(&answer.body, 200);
            let quoted =
                if said.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {said}") };
            match status {
                // 303 See Other: the POST was carried out, the result is elsewhere.
                200..=299 | 303 => Step::Done(()),
                429 => {
                    let after = http::flood_after(answer.retry_after);
                    let after_words = http::seconds_up(after);
                    Step::Flood {
                        reason: format!("webhook {name} flood control: retry after {after_words} ({quoted})"),
                        after,
                    }
                }
                500..=599 => Step::Retry {
                    problem: Problem::ServerError,
                    reason: format!("webhook {name} answered {quoted}"),
                    wait,
                },
                401 => Step::Fail {
                    problem: Problem::Unauthorized,
                    reason: format!("webhook {name} answered {quoted}"),
                },
                403 => Step::Fail {
                    problem: Problem::Forbidden,
                    reason: format!("webhook {name} answered {quoted}"),
                },
                _ => Step::Fail {
                    problem: Problem::Rejected,
                    reason: format!("webhook {name} answered {quoted}"),
                },
            }
        })
        .map(|((), _)| Receipt { parts: 1, ..Receipt::default() })
    }

    fn requests(&self, alert: &Alert, _: Unredacted) -> Vec<Request> {
        // Not the URL: all of it is secret, so the name stands for it.
        vec![Request {
            url: format!("[webhook {} URL {REDACTED}]", self.config.name),
            body: self.render(alert),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;

    fn hook(body: Option<Value>, max_chars: Option<usize>) -> Webhook {
        Webhook::new(WebhookConfig {
            name: "chat".into(),
            url: Secret::new("https://hooks.example/T000/B000/XXXX"),
            body,
            headers: vec![],
            max_chars,
            retry: RetryPolicy::default(),
        })
        .unwrap()
    }

    fn alert() -> Alert {
        Alert {
            level: Level::Warning,
            topic: Some("disk".into()),
            message: "low \"space\" {text} <b>".into(),
        }
    }

    #[test]
    fn default_template_fills_every_field() {
        assert_eq!(
            hook(None, None).render(&alert()),
            json!({
                "text": "[WARNING] Agent Ops Alert\n\nlow \"space\" {text} <b>",
                "title": "[WARNING] Agent Ops Alert",
                "message": "low \"space\" {text} <b>",
                "level": "warning",
                "topic": "disk",
            })
        );
    }

    #[test]
    fn custom_templates_nest_and_cut() {
        let body = json!({"content": "{prefix} {message}", "tags": ["{level}", 3], "n": null});
        assert_eq!(
            hook(Some(body), Some(16)).render(&alert()),
            json!({"content": "[WARNING] low [truncated]", "tags": ["warning", 3], "n": null})
        );
        let body = json!({"text": "{text_html}", "m": "{message_html} {unknown}"});
        assert_eq!(
            hook(Some(body), None).render(&alert()),
            json!({
                "text": "[WARNING] Agent Ops Alert\n\nlow \"space\" {text} &lt;b&gt;",
                "m": "low \"space\" {text} &lt;b&gt; {unknown}",
            })
        );
    }

    #[test]
    fn settings_are_checked_and_the_url_never_shown() {
        let h = hook(None, None);
        assert_eq!(h.destination(), "webhook:chat");
        assert!(!format!("{h:?} {:?}", h.preview(&alert())).contains("hooks.example"));
        let bad = WebhookConfig { url: Secret::new("ftp://x"), ..h.config.clone() };
        assert_eq!(
            Webhook::new(bad).unwrap_err().to_string(),
            "url: must be an http:// or https:// URL with a host"
        );
    }
}
