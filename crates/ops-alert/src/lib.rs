//! ops-alert owns getting an alert to people: the [`Alert`] itself, the [`Notifier`]s that
//! deliver it ([`telegram::Telegram`], [`webhook::Webhook`]), the per-topic [`RateLimit`] in
//! the Python kit's `alert-rate.json`, and the [`Outbox`] that holds every alert on disk until its
//! destination confirmed it. [`Alerter`] joins them: see its module notes for how an alert is
//! never lost, and the one window in which it can be sent twice. An outbox entry may carry an
//! [`Event`] of an episode; [`fold`] holds the rules by which a destination's waiting events
//! become one message (stale reminders dropped, a backlog as a digest).
//!
//! It never reads configuration or the environment, never knows where `~/.agent-ops` is
//! (callers pass paths), knows nothing of services, and never prints. Secrets (the bot token,
//! webhook URLs and headers) are [`Secret`]s, and each notifier knows every form of its own as
//! [`Secrets`]: every string a [`Notifier`] gives out passes [`Secrets::redact`] in one place,
//! so they never appear in a `Debug`, a `Display`, a [`Failure`]'s reason, a notice, a
//! preview, an error or the outbox.
//!
//! ```
//! use ops_alert::{Alert, Level, text};
//!
//! let alert = Alert { level: Level::Error, topic: Some("api".into()), message: "my_service <down>".into() };
//! let parts = text::telegram_parts(&alert);
//! assert_eq!(parts[0].html, "[ERROR] <b>Agent Ops Alert</b>\n\nmy_service &lt;down&gt;");
//! assert_eq!(parts[0].plain, "[ERROR] Agent Ops Alert\n\nmy_service <down>");
//! ```
#![forbid(unsafe_code)]

mod alerter;
pub mod alertmanager;
pub mod fold;
mod http;
mod notifier;
mod outbox;
mod rate;
mod secret;
pub mod telegram;
pub mod text;
pub mod webhook;

/// The fuzz targets live beside `src/`, with their corpus in `fuzz/__fuzz__/`.
#[cfg(test)]
#[path = "../fuzz/targets.rs"]
mod fuzz;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use alerter::{Admission, Alerter, FlushReport, Outcome, Outgoing, Verdict};
pub use fold::{Event, EventKind, Message};
pub use http::RetryPolicy;
pub use notifier::{Delivery, Failure, Notifier, Problem, Receipt, Request};
pub use outbox::{DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, Entry, FloodWait, Outbox};
pub use rate::{RateLimit, RateLimited};
pub use secret::{Secret, Secrets};

/// How serious an alert is. It decides the message's prefix, as in the Python kit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `[INFO]`
    #[default]
    Info,
    /// `[WARNING]`
    Warning,
    /// `[ERROR]`
    Error,
    /// `[RECOVERED]`
    Recovery,
    /// `[CRITICAL]`: agent-ops' own level, for services whose `severity` is critical.
    Critical,
}

impl Level {
    /// Every level: the Python kit's four, in the order of its table, then `critical`.
    pub const ALL: [Level; 5] = [Level::Info, Level::Warning, Level::Error, Level::Recovery, Level::Critical];

    /// The Python kit's prefix: `[INFO]`, `[WARNING]`, `[ERROR]`, `[RECOVERED]`; and
    /// `[CRITICAL]`.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Info => "[INFO]",
            Self::Warning => "[WARNING]",
            Self::Error => "[ERROR]",
            Self::Recovery => "[RECOVERED]",
            Self::Critical => "[CRITICAL]",
        }
    }

    /// The name used on the command line and in files: `info`, `warning`, `error`, `recovery`,
    /// `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Recovery => "recovery",
            Self::Critical => "critical",
        }
    }

    /// How much it asks for attention, for the title of a message that folds several alerts:
    /// recovery, info, warning, error, critical.
    pub fn rank(self) -> u8 {
        match self {
            Self::Recovery => 0,
            Self::Info => 1,
            Self::Warning => 2,
            Self::Error => 3,
            Self::Critical => 4,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|l| l.as_str() == s).ok_or_else(|| {
            format!("unknown level {s:?} (levels: {})", Self::ALL.map(Level::as_str).join(", "))
        })
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// How serious it is.
    pub level: Level,
    /// Alerts of the same topic are rate limited together; `None` (or empty) is never limited,
    /// as in the Python kit.
    pub topic: Option<String>,
    /// The text, as written: it is escaped for whatever format the destination needs.
    pub message: String,
}

/// Everything that can stop ops-alert from doing its job (delivery problems are not errors:
/// they are [`Failure`]s inside an [`Outcome`]).
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The rate file or the outbox could not be read, locked or written (the state error names
    /// the file).
    #[error(transparent)]
    State(#[from] ops_state::StateError),
    /// An outbox entry could not be encoded as JSON (never expected).
    #[error("cannot encode an entry of {}: {source}", path.display())]
    Encode {
        /// The outbox.
        path: PathBuf,
        /// serde_json's reason.
        source: serde_json::Error,
    },
    /// A notifier's setting is unusable.
    #[error("{field}: {message}")]
    Invalid {
        /// The setting.
        field: Setting,
        /// What is wrong with it (never its value when it is a secret).
        message: String,
    },
    /// An [`Alerter`] needs at least one notifier.
    #[error("no notifier: configure Telegram or a webhook")]
    NoNotifier,
}

/// A notifier's setting, named in [`AlertError::Invalid`] so that a caller can map it to its
/// own name for it (a configuration key, an environment variable) without matching text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// Telegram's bot token.
    Token,
    /// Telegram's chat id.
    ChatId,
    /// Telegram's Bot API base URL.
    ApiUrl,
    /// A webhook's URL.
    Url,
    /// A webhook's name (and so its destination).
    Name,
    /// A webhook's headers.
    Headers,
    /// The HTTP proxy alerts go through.
    Proxy,
    /// Alertmanager's extra labels.
    Labels,
    /// Alertmanager's `instance` label.
    Instance,
}

impl Setting {
    /// The notifier's own word for it: `token`, `chat_id`, `api_url`, `url`, `name`, `headers`,
    /// `proxy`, `labels`, `instance`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::ChatId => "chat_id",
            Self::ApiUrl => "api_url",
            Self::Url => "url",
            Self::Name => "name",
            Self::Headers => "headers",
            Self::Proxy => "proxy",
            Self::Labels => "labels",
            Self::Instance => "instance",
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_print_as_the_seed_names_them() {
        for l in Level::ALL {
            assert_eq!(l.as_str().parse::<Level>().unwrap(), l);
        }
        assert_eq!(Level::Recovery.prefix(), "[RECOVERED]");
        assert_eq!(
            "fatal".parse::<Level>().unwrap_err(),
            "unknown level \"fatal\" (levels: info, warning, error, recovery, critical)"
        );
        assert_eq!(serde_json::to_string(&Level::Warning).unwrap(), "\"warning\"");
    }
}
