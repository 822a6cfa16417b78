//! The notifier abstraction: something that delivers an alert somewhere and says, in types,
//! whether it did and why not.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::{Alert, Event, Secrets};

/// A destination for alerts (Telegram, a webhook ...).
///
/// Only ops-alert implements it. Every string it gives out (a failure's reason, a receipt's
/// notices, a preview's URL and body) passes through its [`Secrets`] in one place, the provided
/// [`Notifier::deliver`] and [`Notifier::preview`]; implementations give the unredacted
/// results to those two, through methods no other crate can call.
pub trait Notifier: Send + Sync + fmt::Debug {
    /// A stable name for this destination, used in the outbox and in messages:
    /// `telegram`, `webhook:slack`. Never contains a secret.
    fn destination(&self) -> &str;

    /// Every form of this destination's secrets.
    fn secrets(&self) -> &Secrets;

    /// Delivers `alert`, skipping its first `parts_sent` parts (delivered by an earlier attempt
    /// of a message that had to be split). Does its own bounded retries; a returned [`Failure`]
    /// is final for this attempt.
    fn deliver(&self, alert: &Alert, parts_sent: u32) -> Result<Receipt, Failure> {
        let secrets = self.secrets();
        match self.send(alert, parts_sent, Unredacted) {
            Ok(mut receipt) => {
                receipt.notices = receipt.notices.iter().map(|n| secrets.redact(n)).collect();
                Ok(receipt)
            }
            Err(mut failure) => {
                failure.reason = secrets.redact(&failure.reason);
                Err(failure)
            }
        }
    }

    /// The requests `deliver` would make, with every secret redacted, for `--dry-run`.
    fn preview(&self, alert: &Alert) -> Vec<Request> {
        let secrets = self.secrets();
        let clean = |r: Request| Request { url: secrets.redact(&r.url), body: secrets.redact_json(r.body) };
        self.requests(alert, Unredacted).into_iter().map(clean).collect()
    }

    /// Whether it is sent a message's events rather than its words ([`Notifier::deliver_events`]):
    /// a destination that keeps the state of each episode itself (Alertmanager).
    fn takes_events(&self) -> bool {
        false
    }

    /// Delivers the latest state of some episodes at `now` (unix seconds), for a notifier that
    /// [`Notifier::takes_events`]; redacted as [`Notifier::deliver`].
    fn deliver_events(&self, events: &[Event], now: f64) -> Result<Receipt, Failure> {
        let secrets = self.secrets();
        self.send_events(events, now, Unredacted).map_err(|mut failure| {
            failure.reason = secrets.redact(&failure.reason);
            failure
        })
    }

    /// [`Notifier::deliver`] before redaction.
    #[doc(hidden)]
    fn send(&self, alert: &Alert, parts_sent: u32, _: Unredacted) -> Result<Receipt, Failure>;

    /// [`Notifier::deliver_events`] before redaction; only a notifier that takes events has it.
    #[doc(hidden)]
    fn send_events(&self, _events: &[Event], _now: f64, _: Unredacted) -> Result<Receipt, Failure> {
        Err(Failure::new(
            Problem::Rejected,
            format!("{} is sent messages, not events", self.destination()),
            0,
        ))
    }

    /// [`Notifier::preview`] before redaction.
    #[doc(hidden)]
    fn requests(&self, alert: &Alert, _: Unredacted) -> Vec<Request>;
}

mod sealed {
    /// Taken by the unredacted methods of [`super::Notifier`]: outside ops-alert it cannot be
    /// named, so they cannot be called (or implemented) there.
    #[derive(Debug, Clone, Copy)]
    pub struct Unredacted;
}

pub(crate) use sealed::Unredacted;

/// A request a notifier would make (see [`Notifier::preview`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// The URL, with secrets replaced by `[redacted]`.
    pub url: String,
    /// The JSON body.
    pub body: Value,
}

/// A confirmed delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// How many messages the alert took (Telegram splits long alerts).
    pub parts: u32,
    /// The ids the destination gave the messages (Telegram's `message_id`), when it gives any
    /// and its answer could be read (a delivery whose answer was cut off has none).
    pub message_ids: Vec<i64>,
    /// Things the user should act on although delivery worked (a migrated Telegram group).
    /// All fields are empty when another process delivered it from the outbox while this one
    /// waited for its turn.
    pub notices: Vec<String>,
}

/// Why a delivery did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The credentials were refused (Telegram 401, or 404 for a malformed token or a wrong API
    /// URL; a webhook's 401). Permanent.
    Unauthorized,
    /// Access to the chat or endpoint was refused (bot blocked or removed: 403). Permanent.
    Forbidden,
    /// The request itself was refused (400 chat not found, another 4xx, a redirect). Permanent.
    Rejected,
    /// Flood control (429) asked for a longer wait than allowed, or kept asking, or its wait
    /// has not passed yet.
    FloodControl,
    /// The server failed (5xx) on every attempt.
    ServerError,
    /// No answer within the timeout on every attempt.
    Timeout,
    /// The connection could not be made (refused, DNS, TLS).
    Connection,
    /// The answer made no sense (not the expected JSON).
    Protocol,
    /// Another process kept the outbox busy for longer than we could wait.
    Busy,
    /// The outbox could not be read or written.
    State,
    /// The destination is not configured any more (an outbox entry for a removed webhook).
    NotConfigured,
}

impl Problem {
    /// Whether retrying cannot help until the user changes something.
    pub fn is_permanent(self) -> bool {
        matches!(self, Self::Unauthorized | Self::Forbidden | Self::Rejected | Self::NotConfigured)
    }
}

/// A delivery that did not happen, with a reason fit to show the user (secrets redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The kind of problem.
    pub problem: Problem,
    /// What happened, in words: `telegram answered 401 Unauthorized: ...`.
    pub reason: String,
    /// How many requests were made.
    pub attempts: u32,
    /// How many parts of a split message were delivered before the failure.
    pub parts_sent: u32,
    /// Flood control's wait (at most a day): no request to this destination before it has
    /// passed. The outbox remembers it for later runs.
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure after `attempts` requests, with nothing delivered and no wait asked for.
    pub fn new(problem: Problem, reason: impl Into<String>, attempts: u32) -> Self {
        Self { problem, reason: reason.into(), attempts, parts_sent: 0, retry_after: None }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// What happened to one alert at one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The destination confirmed it.
    Sent {
        /// The notifier's [`Notifier::destination`].
        destination: String,
        /// The confirmation.
        receipt: Receipt,
    },
    /// It was not delivered.
    NotSent {
        /// The notifier's [`Notifier::destination`].
        destination: String,
        /// Why.
        failure: Failure,
        /// Whether the alert waits in the outbox for a later run.
        queued: bool,
    },
}

impl Delivery {
    /// The destination this is about.
    pub fn destination(&self) -> &str {
        match self {
            Self::Sent { destination, .. } | Self::NotSent { destination, .. } => destination,
        }
    }

    /// Whether the destination confirmed it.
    pub fn is_sent(&self) -> bool {
        matches!(self, Self::Sent { .. })
    }
}
