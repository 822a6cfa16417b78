//! The Telegram notifier: `POST {api}/bot{token}/sendMessage`, HTML parse mode with every
//! interpolated value escaped, link previews off, long alerts split into numbered parts.
//!
//! Answers are judged by HTTP status and `parameters`, as the Bot API documents them:
//! - any 2xx: delivered, whatever its body (its `message_id` when it can be read), unless the
//!   body says `"ok": false`; only the first 64 KiB are read; 303 See Other too (the request
//!   was carried out); other redirects are not followed and are permanent errors;
//! - 400 with `parameters.migrate_to_chat_id`: the group became a supergroup; resend to the
//!   new id (and keep using it in this process), and tell the user to update the config;
//! - 400 "can't parse entities": resend once as plain text;
//! - 429: wait `parameters.retry_after` when it is within the policy's bound, then retry;
//! - 5xx, timeouts and connection errors: retry with backoff, within the policy;
//! - 401 and 404 (bad token or API URL), 403 (bot blocked or removed), other 400s (chat not
//!   found ...): permanent, not retried.

use std::sync::Mutex;

use serde_json::{Value, json};
use ureq::Agent;

use crate::http::{self, RetryPolicy, Step, backoff_for, post_json, with_retries};
use crate::notifier::{Failure, Notifier, Problem, Receipt, Request, Unredacted};
use crate::secret::is_token;
use crate::text::{Part, telegram_parts};
use crate::{Alert, AlertError, Secret, Secrets, Setting};

/// The public Bot API.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// Where and how to send.
#[derive(Clone)]
pub struct TelegramConfig {
    /// The Bot API base URL, `https://api.telegram.org` or a self-hosted server.
    pub api_url: String,
    /// The bot token from @BotFather.
    pub token: Secret,
    /// The chat: a numeric id (`-1001234567890`) or a channel's `@username`.
    pub chat_id: String,
    /// Retries and timeouts.
    pub retry: RetryPolicy,
}

impl TelegramConfig {
    /// The token, and whatever in the API URL is secret: credentials, a query, a token pasted
    /// into it (`https://api.telegram.org/bot<token>`).
    fn secrets(&self) -> Secrets {
        let mut secrets = Secrets::default();
        secrets.add_token(self.token.expose());
        secrets.add_url_parts(&self.api_url, false);
        secrets
    }
}

impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("api_url", &self.secrets().redact(&self.api_url))
            .field("token", &self.token)
            .field("chat_id", &self.chat_id)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Sends alerts to one Telegram chat.
pub struct Telegram {
    config: TelegramConfig,
    secrets: Secrets,
    agent: Agent,
    /// The chat id Telegram told us to use instead (`migrate_to_chat_id`), for the rest of
    /// this process.
    migrated_to: Mutex<Option<String>>,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telegram").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Telegram {
    /// The same notifier, its requests going through the HTTP proxy at `url` (whose
    /// credentials join the secrets). Without it, no proxy is used: the environment is not read.
    pub fn with_proxy(mut self, url: &Secret) -> Result<Self, AlertError> {
        self.agent = http::agent(Some(url))?;
        self.secrets.add_url_parts(url.expose(), false);
        Ok(self)
    }

    /// Checks the settings: a token of the characters Telegram uses (digits, `:`, letters,
    /// `_`, `-`; it goes into the URL path), a chat id, an `http(s)://` API URL.
    pub fn new(config: TelegramConfig) -> Result<Self, AlertError> {
        if !is_token(config.token.expose()) {
            return Err(AlertError::Invalid {
                field: Setting::Token,
                message: "does not look like a bot token (digits, a colon, then letters, digits, _ or -, \
                          as @BotFather gives it)"
                    .into(),
            });
        }
        if config.chat_id.trim().is_empty() {
            return Err(AlertError::Invalid { field: Setting::ChatId, message: "must not be empty".into() });
        }
        if config.chat_id.chars().any(char::is_control) {
            return Err(AlertError::Invalid {
                field: Setting::ChatId,
                message: "must not contain control characters".into(),
            });
        }
        check_http_url(Setting::ApiUrl, &config.api_url)?;
        let telegram = Self {
            secrets: config.secrets(),
            config,
            agent: http::agent(None)?,
            migrated_to: Mutex::new(None),
        };
        // What is really requested must be a URL too (the token's characters are URL-safe).
        check_http_url(Setting::ApiUrl, &telegram.endpoint(telegram.config.token.expose()))?;
        Ok(telegram)
    }

    fn endpoint(&self, token: &str) -> String {
        format!("{}/bot{token}/sendMessage", self.config.api_url.trim_end_matches('/'))
    }

    fn chat(&self) -> String {
        self.migrated_to.lock().map_or(None, |m| m.clone()).unwrap_or_else(|| self.config.chat_id.clone())
    }

    /// The JSON body of one message.
    fn body(chat: &str, text: &str, html: bool) -> Value {
        let chat_id = chat.parse::<i64>().map_or_else(|_| Value::from(chat), Value::from);
        let mut body = json!({
            "chat_id": chat_id,
            "text": text,
            "link_preview_options": {"is_disabled": true},
            "disable_web_page_preview": true,
        });
        if html {
            body["parse_mode"] = Value::from("HTML");
        }
        body
    }

    /// Sends one part, retrying as the policy allows. Returns the message id and the number of
    /// requests made.
    fn send_part(&self, part: &Part, notices: &mut Vec<String>) -> Result<(Option<i64>, u32), Failure> {
        let url = self.endpoint(self.config.token.expose());
        let policy = &self.config.retry;
        let mut html = true;
        let mut migrated_here = false;
        with_retries(policy, |attempt| {
            let chat = self.chat();
            let text = if html { &part.html } else { &part.plain };
            let body = Self::body(&chat, text, html);
            let answer = post_json(&self.agent, &url, &[], &body, policy.request_timeout, true);
            match judge(answer, policy, attempt, &self.secrets) {
                Verdict::Sent(id) => Step::Done(id),
                Verdict::ParseEntities(_) if html => {
                    html = false;
                    Step::Again
                }
                Verdict::Migrate(new_chat) if !migrated_here => {
                    migrated_here = true;
                    notices.push(format!(
                        "the Telegram group {chat} became a supergroup with id {new_chat}; alerts now go there, \
                         but the configured chat id should be changed to {new_chat}"
                    ));
                    if let Ok(mut m) = self.migrated_to.lock() {
                        *m = Some(new_chat);
                    }
                    Step::Again
                }
                Verdict::ParseEntities(description) => Step::Fail {
                    problem: Problem::Rejected,
                    reason: format!("telegram refused the message even as plain text: {description}"),
                },
                Verdict::Migrate(new_chat) => Step::Fail {
                    problem: Problem::Rejected,
                    reason: format!("telegram asked to migrate to chat {new_chat} twice"),
                },
                Verdict::Step(step) => step,
            }
        })
    }
}

impl Notifier for Telegram {
    fn destination(&self) -> &'static str {
        "telegram"
    }

    fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    fn send(&self, alert: &Alert, parts_sent: u32, _: Unredacted) -> Result<Receipt, Failure> {
        let parts = telegram_parts(alert);
        let mut receipt = Receipt { parts: count(parts.len()), ..Receipt::default() };
        let mut attempts = 0;
        for (i, part) in parts.iter().enumerate().skip(parts_sent as usize) {
            match self.send_part(part, &mut receipt.notices) {
                Ok((id, made)) => {
                    receipt.message_ids.extend(id);
                    attempts += made;
                }
                Err(mut failure) => {
                    failure.parts_sent = count(i);
                    failure.attempts += attempts;
                    if parts.len() > 1 {
                        failure.reason = format!("part {} of {}: {}", i + 1, parts.len(), failure.reason);
                    }
                    return Err(failure);
                }
            }
        }
        Ok(receipt)
    }

    fn requests(&self, alert: &Alert, _: Unredacted) -> Vec<Request> {
        let url = self.endpoint(self.config.token.expose());
        telegram_parts(alert)
            .iter()
            .map(|part| Request { url: url.clone(), body: Self::body(&self.chat(), &part.html, true) })
            .collect()
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Refuses anything but a valid `http://` or `https://` URL with a host, here rather than at
/// every request (the message never quotes it: it can be a secret).
pub(crate) fn check_http_url(field: Setting, url: &str) -> Result<(), AlertError> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let invalid = |message: &str| Err(AlertError::Invalid { field, message: message.into() });
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {}
        _ => return invalid("must be an http:// or https:// URL with a host"),
    }
    match url.parse::<ureq::http::Uri>() {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(()),
        _ => invalid("is not a valid URL (spaces and control characters must be percent-encoded)"),
    }
}

/// What one answer means.
pub(crate) enum Verdict {
    /// Delivered, with the message id when the answer could be read.
    Sent(Option<i64>),
    ParseEntities(String),
    Migrate(String),
    Step(Step<Option<i64>>),
}

/// Judges a Bot API answer by its status and `parameters`; the description is only quoted
/// (and used to recognise "can't parse entities", which has no parameter of its own).
pub(crate) fn judge(
    answer: Result<http::Answer, http::TransportError>,
    policy: &RetryPolicy,
    attempt: u32,
    secrets: &Secrets,
) -> Verdict {
    let retry = |problem, reason| {
        Verdict::Step(Step::Retry { problem, reason, wait: Some(backoff_for(policy, attempt)) })
    };
    let fail = |problem, reason| Verdict::Step(Step::Fail { problem, reason });
    let answer = match answer {
        Ok(a) => a,
        Err(e) => return Verdict::Step(http::transport_step(&e, policy, attempt, "telegram")),
    };
    let json: Option<Value> = serde_json::from_str(&answer.body).ok();
    let field = |name: &str| json.as_ref().and_then(|j| j.get(name));
    let description =
        field("description").and_then(Value::as_str).map_or_else(String::new, |d| secrets.quote(d, 200));
    let param = |name: &str| field("parameters").and_then(|p| p.get(name));
    let status = answer.status;
    let quoted =
        if description.is_empty() { format!("HTTP {status}") } else { format!("{status} {description}") };
    match status {
        // The request reached a server that took it: sending it again could only duplicate
        // it. Only an answer that says in so many words that it was not done is believed.
        200..=299 if field("ok").and_then(Value::as_bool) == Some(false) => Verdict::Step(Step::Retry {
            problem: Problem::Protocol,
            reason: format!("telegram answered HTTP {status} with \"ok\": false {description}")
                .trim_end()
                .to_owned(),
            wait: None,
        }),
        200..=299 => Verdict::Sent(field("result").and_then(|r| r.get("message_id")).and_then(Value::as_i64)),
        // "See Other": the server did what was asked and points elsewhere for the result.
        303 => Verdict::Sent(None),
        400 => {
            if let Some(new_chat) = param("migrate_to_chat_id").and_then(Value::as_i64) {
                Verdict::Migrate(new_chat.to_string())
            } else if description.to_lowercase().contains("can't parse entities") {
                Verdict::ParseEntities(description)
            } else {
                fail(Problem::Rejected, format!("telegram refused the message: {quoted}"))
            }
        }
        401 => fail(Problem::Unauthorized, format!("telegram rejected the bot token: {quoted}")),
        404 => fail(
            Problem::Unauthorized,
            format!("telegram answered {quoted}: the bot token or the API URL is wrong"),
        ),
        403 => fail(Problem::Forbidden, format!("telegram refused access to the chat: {quoted}")),
        429 => {
            let asked = param("retry_after").and_then(Value::as_f64).or(answer.retry_after);
            let after = http::flood_after(asked);
            Verdict::Step(Step::Flood {
                reason: format!("telegram flood control: retry after {}", http::seconds_up(after)),
                after,
            })
        }
        500..=599 => retry(Problem::ServerError, format!("telegram answered {quoted}")),
        300..=399 => fail(
            Problem::Rejected,
            format!("the Bot API URL answered a redirect (HTTP {status}); set the URL it points to"),
        ),
        _ => fail(Problem::Rejected, format!("telegram answered {quoted}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(token: &str) -> TelegramConfig {
        TelegramConfig {
            api_url: DEFAULT_API_URL.into(),
            token: Secret::new(token),
            chat_id: "-100123".into(),
            retry: RetryPolicy::default(),
        }
    }

    #[test]
    fn token_shape_and_settings_are_checked_without_showing_the_token() {
        assert!(Telegram::new(config("123456:AAE-x_y")).is_ok());
        for bad in
            ["", "YOUR_BOT_TOKEN", "123456:", ":abc", "12a:abc", "123:ab/../c", "123:ab cd", "123:ab?x"]
        {
            let err = Telegram::new(config(bad)).unwrap_err().to_string();
            assert!(err.starts_with("token: does not look like a bot token"), "{bad}: {err}");
            assert!(bad.is_empty() || !err.contains(bad), "{err}");
        }
        let mut c = config("1:a");
        c.chat_id = " ".into();
        assert!(Telegram::new(c).unwrap_err().to_string().starts_with("chat_id:"));
        let mut c = config("1:a");
        c.api_url = "api.telegram.org".into();
        assert!(Telegram::new(c).unwrap_err().to_string().starts_with("api_url:"));
    }

    #[test]
    fn body_has_html_mode_no_previews_and_numeric_chat_ids() {
        let body = Telegram::body("-100123", "<b>x</b>", true);
        assert_eq!(body["chat_id"], json!(-100_123));
        assert_eq!(body["parse_mode"], "HTML");
        assert_eq!(body["link_preview_options"]["is_disabled"], true);
        assert_eq!(body["disable_web_page_preview"], true);
        let body = Telegram::body("@ops_channel", "x", false);
        assert_eq!(body["chat_id"], "@ops_channel");
        assert!(body.get("parse_mode").is_none());
    }

    #[test]
    fn preview_and_debug_redact_the_token_also_where_it_was_pasted_into_the_api_url() {
        let t = Telegram::new(config("123456:SECRETSECRET")).unwrap();
        let alert = Alert { level: crate::Level::Info, topic: None, message: "hi SECRETSECRET".into() };
        let requests = t.preview(&alert);
        assert_eq!(requests[0].url, "https://api.telegram.org/bot[redacted]/sendMessage");
        assert_eq!(requests[0].body["text"], "[INFO] <b>Agent Ops Alert</b>\n\nhi [redacted]");
        assert!(!format!("{t:?} {requests:?}").contains("SECRETSECRET"));
        let mut c = config("123456:SECRETSECRET");
        c.api_url = "https://me:hunter2hunter2@tg.example/bot123456:SECRETSECRET".into();
        let t = Telegram::new(c).unwrap();
        assert_eq!(
            t.preview(&alert)[0].url,
            "https://[redacted]@tg.example/bot[redacted]/bot[redacted]/sendMessage"
        );
        assert!(!format!("{t:?}").contains("SECRETSECRET") && !format!("{t:?}").contains("hunter2"), "{t:?}");
    }
}
