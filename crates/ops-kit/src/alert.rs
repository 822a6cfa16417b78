//! The alerter of an installation: [`alerter`] builds ops-alert's [`Alerter`] from
//! `services.json`, the environment and the layout (Telegram, webhooks, the rate limit in
//! `state/alert-rate.json`, shared with the Python kit, and the outbox
//! `state/alert-outbox.jsonl`), and maps its setting errors to config keys and environment
//! variables. What `alert` prints of its outcomes is the binary's.

use std::time::Duration;

use ops_alert::alertmanager::{Alertmanager, AlertmanagerConfig};
use ops_alert::telegram::{Telegram, TelegramConfig};
use ops_alert::webhook::{Webhook, WebhookConfig};
use ops_alert::{AlertError, Alerter, Notifier, Outbox, RateLimit, RetryPolicy, Setting};

use crate::config::{ALERTMANAGER, AlertmanagerChannel};
use crate::{Config, ConfigError, Env, Layout, Loaded};

/// The notifier of `alerting.alertmanager`: Alertmanager resolves what it is not told again,
/// and the daemon tells it at every pass, so an open outage's alert ends three check intervals
/// (at least 5 minutes) after each sending unless `resolve_timeout_seconds` says otherwise.
fn alertmanager(
    config: &Config,
    am: &AlertmanagerChannel,
    retry: RetryPolicy,
) -> Result<Alertmanager, String> {
    let a = &config.alerting;
    let resolve_after = am
        .resolve_timeout
        .unwrap_or_else(|| config.check_interval.saturating_mul(3).max(Duration::from_secs(300)));
    let generator_url = am
        .generator_url
        .clone()
        .or_else(|| config.http.listen.filter(|l| !l.ip().is_unspecified()).map(|l| format!("http://{l}/")));
    let manager = Alertmanager::new(AlertmanagerConfig {
        urls: am.urls.clone(),
        labels: am.labels.clone(),
        instance: am.instance.clone(),
        generator_url,
        resolve_after,
        retry,
    })
    .map_err(|e| format!("alerting.alertmanager: {e}"))?;
    match am.urls.first().and_then(|u| a.proxy.for_url(u.expose())) {
        Some(proxy) => manager.with_proxy(proxy).map_err(|e| format!("alerting.proxy: {e}")),
        None => Ok(manager),
    }
}

/// Loads the configuration for alerting: as [`Config::load`], except that no services.json at
/// the default place is fine when `TELEGRAM_BOT_TOKEN` and `TELEGRAM_CHAT_ID` are both set
/// (and when they are not, the error says that either way works). A file missing where
/// `--config` or `AGENT_OPS_CONFIG` pointed is always an error.
pub fn load(layout: &Layout, env: &Env) -> Result<Loaded, ConfigError> {
    match Config::load_optional(layout, env)? {
        Some(loaded) => Ok(loaded),
        None if env.telegram_bot_token.is_some() && env.telegram_chat_id.is_some() => {
            Config::parse(&layout.config, b"{}", env)
        }
        None => Err(ConfigError::Alerting {
            message: format!(
                "there is no configuration file ({}) and TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are not \
                 both set: create it with alerting.telegram_bot_token and alerting.telegram_chat_id (see \
                 examples/services.full.json), or set the two environment variables",
                layout.config_origin
            ),
            path: layout.config.clone(),
        }),
    }
}

/// The alerter of this installation: Telegram when a token and a chat id are configured (and
/// each named chat of `telegram_chats`), every webhook, the rate limit and the outbox in the
/// state directory.
///
/// Fails when there is no destination at all, when Telegram is half configured, or when the
/// token does not look like one; each message names the config keys and the environment
/// variables (and never the token).
pub fn alerter(config: &Config, layout: &Layout) -> Result<Alerter, ConfigError> {
    let a = &config.alerting;
    let err = |message: String| ConfigError::Alerting { path: config.path.clone(), message };
    let retry = RetryPolicy { request_timeout: a.timeout, ..RetryPolicy::default() };
    let mut notifiers: Vec<Box<dyn Notifier>> = Vec::new();
    match (&a.telegram_bot_token, &a.telegram_chat_id) {
        (Some(token), Some(chat_id)) => {
            let config = TelegramConfig {
                api_url: a.telegram_api_url.clone(),
                token: token.clone(),
                chat_id: chat_id.clone(),
                retry,
            };
            let url = config.api_url.clone();
            let mut telegram = Telegram::new(config.clone()).map_err(|e| err(telegram_problem(&e)))?;
            if let Some(proxy) = a.proxy.for_url(&url) {
                telegram = telegram.with_proxy(proxy).map_err(|e| err(format!("alerting.proxy: {e}")))?;
            }
            notifiers.push(Box::new(telegram));
            for chat in &a.telegram_chats {
                let config = TelegramConfig { chat_id: chat.chat_id.clone(), ..config.clone() };
                let mut named = Telegram::new(config)
                    .and_then(|t| t.named(&chat.name))
                    .map_err(|e| err(format!("alerting.telegram_chats {:?}: {e}", chat.name)))?;
                if let Some(proxy) = a.proxy.for_url(&url) {
                    named = named.with_proxy(proxy).map_err(|e| err(format!("alerting.proxy: {e}")))?;
                }
                notifiers.push(Box::new(named));
            }
        }
        (Some(_), None) => {
            return Err(err("a Telegram bot token is set but no chat id: set alerting.telegram_chat_id in \
                            services.json or the TELEGRAM_CHAT_ID environment variable"
                .into()));
        }
        (None, _) if !a.telegram_chats.is_empty() => {
            return Err(err(
                "alerting.telegram_chats are set but no bot token: set alerting.telegram_bot_token in \
                            services.json or the TELEGRAM_BOT_TOKEN environment variable"
                    .into(),
            ));
        }
        (None, Some(_)) => {
            return Err(err(
                "a Telegram chat id is set but no bot token: set alerting.telegram_bot_token in \
                            services.json or the TELEGRAM_BOT_TOKEN environment variable"
                    .into(),
            ));
        }
        (None, None) => {}
    }
    for w in &a.webhooks {
        let hook = Webhook::new(WebhookConfig {
            name: w.name.clone(),
            url: w.url.clone(),
            body: w.body.clone(),
            headers: w.headers.clone(),
            max_chars: w.max_chars,
            retry,
        })
        .map_err(|e| err(format!("alerting.webhooks {:?}: {e}", w.name)))?;
        let hook = match a.proxy.for_url(w.url.expose()) {
            Some(proxy) => hook.with_proxy(proxy).map_err(|e| err(format!("alerting.proxy: {e}")))?,
            None => hook,
        };
        notifiers.push(Box::new(hook));
    }
    if let Some(am) = &a.alertmanager {
        notifiers.push(Box::new(alertmanager(config, am, retry).map_err(err)?));
    }
    if notifiers.is_empty() {
        return Err(err("no Telegram bot token and chat id: set alerting.telegram_bot_token and \
                        alerting.telegram_chat_id in services.json, or the TELEGRAM_BOT_TOKEN and \
                        TELEGRAM_CHAT_ID environment variables (or add alerting.webhooks or alerting.alertmanager)"
            .into()));
    }
    let rate = RateLimit::new(layout.alert_rate(), a.rate_limit);
    let outbox = Outbox::new(layout.alert_outbox());
    // `alert send` and the like go where a service's alerts go by default: channels kept for
    // escalations (a pager) only hear of escalations.
    let defaults = config.default_channels().iter().filter_map(|c| a.destination(c)).collect();
    let mut alerter =
        Alerter::new(notifiers, rate, outbox).map_err(|e| err(e.to_string()))?.sending_to(defaults);
    if let Some(am) = a.alertmanager.as_ref().filter(|am| !am.fallback.is_empty()) {
        let to = am.fallback.iter().filter_map(|c| a.destination(c)).collect();
        alerter = alerter.falling_back(ALERTMANAGER, to);
    }
    Ok(alerter)
}

/// A Telegram setting problem, named by its config key and environment variable.
fn telegram_problem(e: &AlertError) -> String {
    match e {
        AlertError::Invalid { field: Setting::Token, message } => {
            format!("alerting.telegram_bot_token (or TELEGRAM_BOT_TOKEN) {message}")
        }
        AlertError::Invalid { field: Setting::ChatId, message } => {
            format!("alerting.telegram_chat_id (or TELEGRAM_CHAT_ID) {message}")
        }
        AlertError::Invalid { field: Setting::ApiUrl, message } => {
            format!("alerting.telegram_api_url (or TELEGRAM_API_URL) {message}")
        }
        other => other.to_string(),
    }
}
