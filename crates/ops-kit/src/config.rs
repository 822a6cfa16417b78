//! services.json: every field and default of the Python kit's Configuration Reference, plus the
//! optional fields agent-ops adds, validated so that each problem names its service and field.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ops_health::{
    Auth, Check, CheckKind, CommandCheck, Condition, Credential, DiskCheck, DnsCheck, HealthError, PingCheck,
    PortCheck, Probe, ProcessCheck, Program, Proxy, RecordType, RequestBody, TlsCheck, UrlCheck,
};
use serde_json::{Map, Value};

use crate::maintenance::{Scope, When, Window, parse_time_of_day, parse_weekday};
use crate::schema::{MAX_SECONDS, Min, Obj, Problem, Report, type_name};
use crate::serve::{Http, HttpAuth, parse_listen};
use crate::{ConfigError, ConfigOrigin, Env, Layout, Secret};

/// Keys of a service, by the check kinds that use them (`None`: every kind).
const SERVICE_KEYS: &[(&str, Option<&[CheckKind]>)] = {
    use CheckKind::{Command, Disk, Dns, Job, Ping, Port, Process, Tls, Url};
    &[
        ("name", None),
        ("type", None),
        ("timeout_seconds", Some(&[Url, Port, Process, Tls, Dns, Ping, Command])),
        ("restart_command", None),
        ("restart_cooldown_seconds", None),
        ("max_restart_attempts", None),
        ("restart_timeout_seconds", None),
        ("restart_grace_seconds", None),
        ("depends_on", None),
        ("interval_seconds", None),
        ("severity", None),
        ("notify", None),
        ("escalation", None),
        ("failure_threshold", None),
        ("success_threshold", None),
        ("reminder_interval_seconds", None),
        ("alert_on_recovery", None),
        ("alert_on_warning", None),
        ("target", Some(&[Url])),
        ("expected_status", Some(&[Url])),
        ("max_latency_ms", Some(&[Url])),
        ("warn_latency_ms", Some(&[Url])),
        ("body_contains", Some(&[Url])),
        ("cert_warning_days", Some(&[Url, Tls])),
        ("cert_notice_days", Some(&[Url, Tls])),
        ("proxy", Some(&[Url])),
        ("method", Some(&[Url])),
        ("headers", Some(&[Url])),
        ("body", Some(&[Url])),
        ("basic_auth", Some(&[Url])),
        ("bearer_token", Some(&[Url])),
        ("insecure_tls", Some(&[Url])),
        ("follow_redirects", Some(&[Url])),
        ("conditions", Some(&[Url])),
        ("host", Some(&[Port, Tls, Ping])),
        ("port", Some(&[Port, Tls])),
        ("tls_verify", Some(&[Tls])),
        ("process_name", Some(&[Process])),
        ("path", Some(&[Disk])),
        ("disk_warning_gb", Some(&[Disk])),
        ("query", Some(&[Dns])),
        ("record_type", Some(&[Dns])),
        ("server", Some(&[Dns])),
        ("expected", Some(&[Dns])),
        ("count", Some(&[Ping])),
        ("max_loss_percent", Some(&[Ping])),
        ("max_rtt_ms", Some(&[Ping])),
        ("warn_loss_percent", Some(&[Ping])),
        ("warn_rtt_ms", Some(&[Ping])),
        ("disk_notice_gb", Some(&[Disk])),
        ("command", Some(&[Command])),
        ("env", Some(&[Command])),
        ("cwd", Some(&[Command])),
        ("job", Some(&[Job])),
        ("schedule", Some(&[Job])),
        ("tz", Some(&[Job])),
        ("period_seconds", Some(&[Job])),
        ("grace_seconds", Some(&[Job])),
        ("min_runtime_seconds", Some(&[Job])),
        ("max_runtime_seconds", Some(&[Job])),
        ("ping_token", Some(&[Job])),
    ]
};

/// `check_interval_seconds` when services.json does not set it.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(300);

/// `stalled_task_hours` when services.json does not set it (or does not exist, for `board`).
pub const DEFAULT_STALLED_TASK_AFTER: Duration = Duration::from_secs(24 * 3600);

/// `metrics_retention_days` when services.json does not set it (the Python kit's
/// `cleanup_old_metrics(retention_days=90)`).
pub const DEFAULT_METRICS_RETENTION_DAYS: u32 = 90;

/// `rollup_retention_days` when services.json does not set it: ten years of daily rollups.
pub const DEFAULT_ROLLUP_RETENTION_DAYS: u32 = 3650;

/// The name of the built-in disk check on `/`, as the Python kit calls it.
pub const DISK_CHECK_NAME: &str = "Disk Space";

/// A loaded, valid configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from.
    pub path: PathBuf,
    /// The services, in file order.
    pub services: Vec<Service>,
    /// Telegram settings.
    pub alerting: Alerting,
    /// How often `orchestrator --loop` runs a pass (`check_interval_seconds`, default 300).
    pub check_interval: Duration,
    /// Free space (GiB) at or below which a disk check fails. Default 5.
    pub disk_warning_gb: f64,
    /// Free space (GiB) at or below which a disk check is a warning (`disk_notice_gb`); none by
    /// default.
    pub disk_notice_gb: Option<f64>,
    /// Filesystems the built-in disk check watches. Default `["/"]`; `[]` turns it off.
    pub disk_paths: Vec<PathBuf>,
    /// How long in progress before a task is stalled (`stalled_task_hours`, default 24).
    pub stalled_task_after: Duration,
    /// Days of metrics files to keep. Default 90.
    pub metrics_retention_days: u32,
    /// Days of daily rollups (`metrics/rollups/YYYY-MM-DD.json`) to keep. Default 3650.
    pub rollup_retention_days: u32,
    /// How many checks may run at once. Default 1024 (ops-health's).
    pub max_concurrency: usize,
    /// The proxy of URL checks without one of their own, and of the heartbeat ping (`proxy`);
    /// `None`, the default, connects directly. Proxy environment variables are not read.
    pub proxy: Option<Proxy>,
    /// What the orchestrator does between and around checks.
    pub orchestration: Orchestration,
    /// What `orchestrator --loop` serves over HTTP, and to whom (`http`).
    pub http: Http,
    /// What `agent-ops-mcp` may change (`mcp.allow`); nothing by default.
    pub mcp: Mcp,
}

/// The `mcp` object: the changes an agent may make through `agent-ops-mcp`. Reading is
/// always allowed; each kind of change only once it is listed in `allow`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mcp {
    /// The kinds of change allowed, each once, in file order.
    pub allow: Vec<McpChange>,
}

impl Mcp {
    /// Whether `change` is allowed.
    pub fn allows(&self, change: McpChange) -> bool {
        self.allow.contains(&change)
    }
}

/// A kind of change `agent-ops-mcp` can make, as `mcp.allow` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum McpChange {
    /// Add, move and edit tasks on the board (`board`).
    Board,
    /// Silence and unsilence services (`silence`).
    Silence,
    /// Acknowledge outages (`ack`).
    Ack,
    /// Send alerts, rate-limited by topic as `alert send` is (`alert`).
    Alert,
    /// Run a service's configured `restart_command` under its restart policy (`restart`).
    Restart,
}

impl McpChange {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [McpChange; 5] = [Self::Board, Self::Silence, Self::Ack, Self::Alert, Self::Restart];

    /// Its name in `mcp.allow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Board => "board",
            Self::Silence => "silence",
            Self::Ack => "ack",
            Self::Alert => "alert",
            Self::Restart => "restart",
        }
    }
}

/// The orchestrator's settings (top-level keys of services.json).
#[derive(Debug, Clone, PartialEq)]
pub struct Orchestration {
    /// Failed passes in a row before the failure alert (`failure_threshold`, default 1).
    pub failure_threshold: u32,
    /// Good passes in a row before the recovery notice (`success_threshold`, default 1).
    pub success_threshold: u32,
    /// Time between reminders while a service stays down; `None` (0 in the file) turns them
    /// off (`reminder_interval_seconds`, default 3600).
    pub reminder_interval: Option<Duration>,
    /// Time between restarting services and re-checking them (`restart_grace_seconds`,
    /// default 5).
    pub restart_grace: Duration,
    /// Open an investigation task on the board for each service that goes down
    /// (`create_tasks_for_failures`, default false).
    pub create_tasks_for_failures: bool,
    /// Pinged (GET) at the end of every pass, healthchecks.io style (`heartbeat_url`).
    pub heartbeat_url: Option<String>,
    /// Maintenance windows (`maintenance`).
    pub maintenance: Vec<Window>,
    /// A log past this many bytes is rotated (`log_rotate_mb`, in MiB, default 50).
    pub log_rotate_bytes: u64,
    /// Rotated archives kept per log (`log_keep`, default 5).
    pub log_keep: usize,
}

/// One monitored service.
#[derive(Debug, Clone)]
pub struct Service {
    /// Its unique name.
    pub name: String,
    /// What to check, with every default applied.
    pub check: Check,
    /// Shell command that restarts it.
    pub restart_command: Option<String>,
    /// Minimum time between restart attempts (`restart_cooldown_seconds`, default 300).
    pub restart_cooldown: Duration,
    /// Restarts before giving up. Default 3.
    pub max_restart_attempts: u32,
    /// A restart still running after this long is killed with its whole process group
    /// (`restart_timeout_seconds`, default 30).
    pub restart_timeout: Duration,
    /// The services it depends on (`depends_on`): while one of them is failing, a failure of
    /// this one is theirs (blocked: neither restarted nor alerted on its own).
    pub depends_on: Vec<String>,
    /// The orchestrator's policy for it: the global keys, overridden by its own.
    pub policy: Policy,
    /// How serious its outages are (`severity`, default error): the alerts' level, and a label.
    pub severity: Severity,
    /// The channels its alerts go to (`notify`); `None`: [`Config::default_channels`].
    pub notify: Option<Vec<String>>,
    /// Channels told when an outage lasts, unacknowledged (`escalation`), in file order.
    pub escalation: Vec<Escalation>,
    /// What a `job` service watches; `None` for the other kinds.
    pub job: Option<JobService>,
}

/// What the orchestrator does about one service: each field a global key of services.json
/// (under `alerting` for `alert_on_recovery`), which the service may set for itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Failed checks in a row before the failure alert (`failure_threshold`, default 1).
    pub failure_threshold: u32,
    /// Good checks in a row before the recovery notice (`success_threshold`, default 1).
    pub success_threshold: u32,
    /// Time between reminders while it stays down; `None` (0) turns them off
    /// (`reminder_interval_seconds`, default 3600).
    pub reminder_interval: Option<Duration>,
    /// Send a notice when it recovers (`alert_on_recovery`, default true).
    pub alert_on_recovery: bool,
    /// Alert its warnings too, by the same thresholds and reminders as its outages
    /// (`alert_on_warning`, a service's key only; default false).
    pub alert_on_warning: bool,
    /// Time between restarting it and re-checking (`restart_grace_seconds`, default 5).
    pub restart_grace: Duration,
    /// Time between two checks of it (`interval_seconds`). Without one, `orchestrator --loop`
    /// checks it every `check_interval_seconds`, and a one-shot pass (cron, a timer) every time.
    pub interval: Option<Duration>,
}

/// How serious a service's outages are (`severity`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// `info`
    Info,
    /// `warning`
    Warning,
    /// `error`, the default (the level of the Python kit's failure alert).
    #[default]
    Error,
    /// `critical`
    Critical,
}

impl Severity {
    /// Every severity, in rising order.
    pub const ALL: [Severity; 4] = [Severity::Info, Severity::Warning, Severity::Error, Severity::Critical];

    /// Its name in services.json: `info`, `warning`, `error`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
        }
    }
}

/// One step of a service's `escalation`.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    /// How long the outage must have lasted (`after_minutes`).
    pub after: Duration,
    /// The channels told (`notify`).
    pub notify: Vec<String>,
}

/// What a `job` service watches: the job (its runs in `state/jobs/`), when it is expected and
/// how long it may take, and the secret of its HTTP pings.
#[derive(Debug, Clone)]
pub struct JobService {
    /// The job's name (`job`).
    pub name: ops_jobs::JobName,
    /// Its schedule (`schedule` in `tz`, or `period_seconds`), `grace_seconds` (default 300),
    /// `min_runtime_seconds`, `max_runtime_seconds`.
    pub watch: ops_jobs::Watch,
    /// The secret of `POST /ping/TOKEN` (`ping_token`); never shown.
    pub ping_token: Option<Secret>,
    /// Since when runs are expected, for a job with none recorded: when services.json was last
    /// written (`None` for a configuration parsed from bytes).
    pub expected_since: Option<ops_jobs::jiff::Timestamp>,
}

/// Where `job` checks read the jobs' state files, and since when runs are expected.
#[derive(Debug, Clone, Copy)]
struct JobsAt<'a> {
    dir: Option<&'a Path>,
    since: Option<ops_jobs::jiff::Timestamp>,
}

/// `grace_seconds` of a `job` service when services.json does not set it.
pub const DEFAULT_JOB_GRACE: Duration = Duration::from_secs(300);

impl Service {
    /// The probe that checks this service.
    pub fn probe(&self) -> Probe {
        Probe { name: self.name.clone(), check: self.check.clone() }
    }
}

/// The `alerting` object, with the `TELEGRAM_*` environment overrides applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    /// The bot token; never printed.
    pub telegram_bot_token: Option<Secret>,
    /// The chat to alert (a string; an integer in the file is accepted).
    pub telegram_chat_id: Option<String>,
    /// Minimum time between two alerts of the same topic (`rate_limit_seconds`, default 300).
    pub rate_limit: Duration,
    /// Send a notice when a service recovers. Default true.
    pub alert_on_recovery: bool,
    /// The Bot API base URL (a self-hosted server). Default `https://api.telegram.org`;
    /// `TELEGRAM_API_URL` overrides it.
    pub telegram_api_url: String,
    /// How long one request to Telegram or a webhook may take (`timeout_seconds`, default 10).
    pub timeout: Duration,
    /// Further Telegram chats, by name (`telegram_chats`): the same bot, another chat.
    pub telegram_chats: Vec<TelegramChat>,
    /// Generic JSON webhooks (Slack, Discord, Mattermost, ntfy ...), in file order.
    pub webhooks: Vec<Webhook>,
    /// How alerts reach their destinations (`alerting.proxy`).
    pub proxy: AlertProxy,
    /// An Alertmanager cluster (`alerting.alertmanager`): the channel `alertmanager`.
    pub alertmanager: Option<AlertmanagerChannel>,
}

/// `alerting.alertmanager`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertmanagerChannel {
    /// The base URL of every member of the cluster (`urls`); secrets (they may hold
    /// credentials).
    pub urls: Vec<Secret>,
    /// Labels added to every alert (`labels`).
    pub labels: BTreeMap<String, String>,
    /// The `instance` label (`instance`, default the host's name).
    pub instance: String,
    /// How long an open outage's alert stays firing unless re-sent (`resolve_timeout_seconds`,
    /// default three check intervals, at least 5 minutes): a monitor that stops leaves no alert
    /// firing for ever.
    pub resolve_timeout: Option<Duration>,
    /// The alerts' `generatorURL` (`generator_url`; default the status page when the daemon
    /// serves one on a named address).
    pub generator_url: Option<String>,
    /// The channels told of an outage's opening and end when Alertmanager cannot be reached
    /// (`fallback`); they hear nothing else by default.
    pub fallback: Vec<String>,
}

/// The channel name of `alerting.alertmanager`.
pub const ALERTMANAGER: &str = "alertmanager";

/// One entry of `alerting.telegram_chats`: a chat the bot also writes to, as the channel
/// `name` (an escalation's on-call chat, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramChat {
    /// The channel's name, unique among channels (`telegram` is the main chat's).
    pub name: String,
    /// The chat.
    pub chat_id: String,
}

/// The channel name of the main Telegram chat (`telegram_chat_id`).
pub const TELEGRAM: &str = "telegram";

impl Alerting {
    /// The names of the configured channels: `telegram` (when a token and a chat id are set),
    /// the named Telegram chats, the webhooks, `alertmanager`.
    pub fn channels(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.telegram_bot_token.is_some() && self.telegram_chat_id.is_some() {
            names.push(TELEGRAM.to_owned());
        }
        if self.telegram_bot_token.is_some() {
            names.extend(self.telegram_chats.iter().map(|c| c.name.clone()));
        }
        names.extend(self.webhooks.iter().map(|w| w.name.clone()));
        if self.alertmanager.is_some() {
            names.push(ALERTMANAGER.to_owned());
        }
        names
    }

    /// The alerter's destination of the channel `name` (`telegram`, `telegram:oncall`,
    /// `webhook:slack`); `None` for a name that is not a channel of this configuration.
    pub fn destination(&self, name: &str) -> Option<String> {
        if name == TELEGRAM {
            return Some(TELEGRAM.to_owned());
        }
        if self.telegram_chats.iter().any(|c| c.name == name) {
            return Some(format!("telegram:{name}"));
        }
        if name == ALERTMANAGER && self.alertmanager.is_some() {
            return Some(ALERTMANAGER.to_owned());
        }
        self.webhooks.iter().any(|w| w.name == name).then(|| format!("webhook:{name}"))
    }
}

/// Through which proxy alerts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertProxy {
    /// Directly (`"proxy": null`).
    Direct,
    /// Through this proxy (`"proxy": "http://..."`).
    Url(Secret),
    /// As the environment's proxy variables say, per destination (no `proxy` key).
    Environment(crate::env::Proxies),
}

impl AlertProxy {
    /// The proxy for a destination at `url`; `None` to go directly.
    pub fn for_url(&self, url: &str) -> Option<&Secret> {
        match self {
            Self::Direct => None,
            Self::Url(proxy) => Some(proxy),
            Self::Environment(proxies) => proxies.for_url(url),
        }
    }
}

/// One entry of `alerting.webhooks`.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Its unique name, used in messages and the outbox.
    pub name: String,
    /// Where to POST; a secret (incoming-webhook URLs are credentials), never printed.
    pub url: Secret,
    /// The JSON body template (placeholders `{text}`, `{title}`, `{message}`, `{level}`,
    /// `{prefix}`, `{topic}`, `{text_html}`, `{message_html}`); `None` for the default body.
    pub body: Option<Value>,
    /// Extra headers; the values are secrets.
    pub headers: Vec<(String, Secret)>,
    /// Cut `{text}` and `{message}` to this many characters.
    pub max_chars: Option<usize>,
}

/// A configuration and what was odd about it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Unknown or ignored fields, each naming its place and field, with a suggestion when a
    /// known field is close.
    pub warnings: Vec<Problem>,
}

impl Loaded {
    /// The warnings as `warning: <file>: <problem>` lines, for standard error.
    pub fn warning_lines(&self) -> String {
        self.warnings.iter().fold(String::new(), |mut out, w| {
            let _ = writeln!(out, "warning: {}: {w}", self.config.path.display());
            out
        })
    }
}

impl Config {
    /// [`Config::load`] for commands that work without a services.json: `Ok(None)` when there
    /// is none at the default place. A file missing where `--config` or `AGENT_OPS_CONFIG`
    /// pointed is still an error (a typo must not silently mean the defaults), and so is one
    /// that is broken.
    pub fn load_optional(layout: &Layout, env: &Env) -> Result<Option<Loaded>, ConfigError> {
        match Self::load(layout, env) {
            Ok(loaded) => Ok(Some(loaded)),
            Err(ConfigError::NotFound { origin: ConfigOrigin::Default, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads and validates the configuration at `layout.config`, applying `env`'s Telegram
    /// overrides.
    pub fn load(layout: &Layout, env: &Env) -> Result<Loaded, ConfigError> {
        let path = &layout.config;
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ConfigError::NotFound { path: path.clone(), origin: layout.config_origin });
            }
            Err(source) => return Err(ConfigError::Unreadable { path: path.clone(), source }),
        };
        // Runs of a job are expected from when the file asking for them was written.
        let since = fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| ops_jobs::jiff::Timestamp::try_from(t).ok());
        Self::parse_in(path, &bytes, env, JobsAt { dir: Some(&layout.jobs()), since })
    }

    /// Validates the bytes of a services.json (`path` is only used in messages). `job` checks
    /// read the jobs' state files in the layout `env` gives (`Config::load` uses its layout's).
    pub fn parse(path: &Path, bytes: &[u8], env: &Env) -> Result<Loaded, ConfigError> {
        let dir = Layout::paths(env).ok().map(|l| l.jobs());
        Self::parse_in(path, bytes, env, JobsAt { dir: dir.as_deref(), since: None })
    }

    fn parse_in(path: &Path, bytes: &[u8], env: &Env, jobs: JobsAt<'_>) -> Result<Loaded, ConfigError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: syntax_message(&e),
        })?;
        let mut r = Report::default();
        let config = match &value {
            Value::Object(top) => Some(read_config(path, top, env, jobs, &mut r)),
            Value::Array(_) => {
                r.errors.push(Problem {
                    place: String::new(),
                    field: None,
                    message: "must be an object like {\"services\": [...]}, got an array \
                              (a list of services must go under \"services\")"
                        .into(),
                });
                None
            }
            other => {
                r.errors.push(Problem {
                    place: String::new(),
                    field: None,
                    message: format!("must be an object like {{\"services\": [...]}}, got {other}"),
                });
                None
            }
        };
        match config {
            Some(config) if r.errors.is_empty() => Ok(Loaded { config, warnings: r.warnings }),
            _ => Err(ConfigError::Invalid { path: path.to_path_buf(), problems: r.errors }),
        }
    }

    /// The policy of a check without a service of its own (the built-in disk checks): the
    /// global keys.
    pub fn default_policy(&self) -> Policy {
        let o = &self.orchestration;
        Policy {
            failure_threshold: o.failure_threshold,
            success_threshold: o.success_threshold,
            reminder_interval: o.reminder_interval,
            alert_on_recovery: self.alerting.alert_on_recovery,
            alert_on_warning: false,
            restart_grace: o.restart_grace,
            interval: None,
        }
    }

    /// The channels a service without `notify` alerts (and `alert send` sends to): every
    /// configured channel that no service's `escalation` names and that is not Alertmanager's
    /// fallback (those are kept for escalations, and for when Alertmanager cannot be reached);
    /// every channel when that would leave none.
    pub fn default_channels(&self) -> Vec<String> {
        let fallback = self.alerting.alertmanager.iter().flat_map(|a| a.fallback.iter().map(String::as_str));
        let escalation: Vec<&str> = self
            .services
            .iter()
            .flat_map(|s| s.escalation.iter().flat_map(|e| e.notify.iter().map(String::as_str)))
            .chain(fallback)
            .collect();
        let all = self.alerting.channels();
        let kept: Vec<String> = all.iter().filter(|c| !escalation.contains(&c.as_str())).cloned().collect();
        if kept.is_empty() { all } else { kept }
    }

    /// The service of this name, if it is one (the built-in disk checks are not).
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The dependency graph over `names` (the checks of a pass, in order): each service's
    /// `depends_on` as indices into `names`. Validation refused cycles, so this has none.
    pub fn graph(&self, names: &[&str]) -> crate::deps::Graph {
        let parents = names
            .iter()
            .map(|n| {
                self.service(n)
                    .map(|s| s.depends_on.iter().filter_map(|d| names.iter().position(|m| m == d)).collect())
                    .unwrap_or_default()
            })
            .collect();
        crate::deps::Graph::new(parents).unwrap_or_default()
    }

    /// Every secret of this configuration in every form a text could carry it
    /// ([`ops_state::Redactor`]): the bot token and its key, webhook URLs (their path and
    /// password too) and header values, the alerting proxy, the daemon's basic-auth password,
    /// job ping tokens, and URL checks' credentials (basic passwords and `user:password`, bearer
    /// tokens, header values, a password in the target URL). Alerting pieces shorter than 8
    /// characters are left out, as ops-alert leaves them (they could not be told from ordinary
    /// words); check credentials count from 4, as ops-health redacts them. For whatever keeps or
    /// shows text these could reach: incidents, the MCP server's answers.
    pub fn secrets(&self) -> ops_state::Redactor {
        const MIN: usize = 8;
        /// Check credentials, from this length on (ops-health's own bound).
        const CHECK_MIN: usize = 4;
        /// A URL's user info and password; the whole URL and its path too when it is a
        /// credential itself (a webhook's, a proxy's).
        fn url(r: &mut ops_state::Redactor, u: &str, whole: bool) {
            if whole {
                r.add(u, MIN);
            }
            let rest = u.split_once("://").map_or(u, |(_, rest)| rest);
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            if let Some((userinfo, _)) = rest[..end].rsplit_once('@') {
                r.add(userinfo, MIN);
                r.add(userinfo.split_once(':').map_or("", |(_, password)| password), MIN);
            }
            if whole {
                r.add(&rest[end..], MIN);
            }
        }
        let mut r = ops_state::Redactor::default();
        let a = &self.alerting;
        if let Some(token) = &a.telegram_bot_token {
            r.add(token.expose(), MIN);
            r.add(token.expose().split_once(':').map_or("", |(_, key)| key), MIN);
        }
        for w in &a.webhooks {
            url(&mut r, w.url.expose(), true);
            for (_, value) in &w.headers {
                r.add(value.expose(), MIN);
            }
        }
        if let AlertProxy::Url(proxy) = &a.proxy {
            url(&mut r, proxy.expose(), true);
        }
        if let Some(auth) = &self.http.basic_auth {
            r.add(auth.password.expose(), MIN);
        }
        for s in &self.services {
            if let Some(token) = s.job.as_ref().and_then(|j| j.ping_token.as_ref()) {
                r.add(token.expose(), MIN);
            }
            let Check::Url(u) = &s.check else { continue };
            let rest = u.url.split_once("://").map_or(u.url.as_str(), |(_, rest)| rest);
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            if let Some((info, _)) = authority.rsplit_once('@') {
                r.add(info, CHECK_MIN);
                r.add(info.split_once(':').map_or("", |(_, password)| password), CHECK_MIN);
            }
            for (_, value) in &u.headers {
                r.add(value.expose(), CHECK_MIN);
            }
            match &u.auth {
                Some(ops_health::Auth::Basic { user, password }) => {
                    r.add(password.expose(), CHECK_MIN);
                    r.add(&format!("{user}:{}", password.expose()), CHECK_MIN);
                }
                Some(ops_health::Auth::Bearer(token)) => r.add(token.expose(), CHECK_MIN),
                _ => {}
            }
        }
        r
    }

    /// Every probe of a run: the services in file order, then the built-in disk checks.
    pub fn probes(&self) -> Vec<Probe> {
        self.services.iter().map(Service::probe).chain(self.disk_probes()).collect()
    }

    fn disk_probes(&self) -> impl Iterator<Item = Probe> + '_ {
        self.disk_paths.iter().map(|path| Probe {
            name: disk_check_name(path),
            check: Check::Disk(disk(path.clone(), self.disk_warning_gb, self.disk_notice_gb)),
        })
    }
}

/// `Disk Space` for `/`, `Disk Space /var` for other paths.
pub fn disk_check_name(path: &Path) -> String {
    if path == Path::new("/") {
        DISK_CHECK_NAME.to_owned()
    } else {
        format!("{DISK_CHECK_NAME} {}", path.display())
    }
}

/// serde_json's message without its trailing " at line L column C" (we say it our way).
fn syntax_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn read_config(path: &Path, top: &Map<String, Value>, env: &Env, jobs: JobsAt<'_>, r: &mut Report) -> Config {
    let mut o = Obj::new(top, "", "");
    let disk_warning_gb = o.number(r, "disk_warning_gb", Min::AtLeast(0.0), 5.0);
    let disk_notice_gb = notice(&mut o, r, "disk_notice_gb", ("disk_warning_gb", Some(disk_warning_gb)));
    let disk = Thresholds { warning_gb: disk_warning_gb, notice_gb: disk_notice_gb };
    let proxy = read_proxy(&mut o, r);
    let list = o.array(r, "services").map(Vec::as_slice).unwrap_or_default();
    let read = read_services(list, disk, proxy.as_ref(), jobs, r);
    let alerting = read_alerting(o.object(r, "alerting"), env, r);
    let http = read_http(o.object(r, "http"), r);
    let disk_paths = match o.array(r, "disk_paths") {
        None => vec![PathBuf::from("/")],
        Some(list) => list
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v {
                Value::String(s) if !s.is_empty() => Some(PathBuf::from(s)),
                other => {
                    o.invalid(r, "disk_paths", format!("item {i} must be a path string, got {other}"));
                    None
                }
            })
            .collect(),
    };
    let mut config = Config {
        path: path.to_path_buf(),
        check_interval: o.seconds(r, "check_interval_seconds", Min::Above(0.0), DEFAULT_CHECK_INTERVAL),
        stalled_task_after: hours(&mut o, r, "stalled_task_hours", DEFAULT_STALLED_TASK_AFTER),
        metrics_retention_days: o
            .integer(r, "metrics_retention_days", 1, 36_500)
            .map_or(DEFAULT_METRICS_RETENTION_DAYS, |d| {
                u32::try_from(d).unwrap_or(DEFAULT_METRICS_RETENTION_DAYS)
            }),
        rollup_retention_days: o
            .integer(r, "rollup_retention_days", 1, 36_500)
            .map_or(DEFAULT_ROLLUP_RETENTION_DAYS, |d| {
                u32::try_from(d).unwrap_or(DEFAULT_ROLLUP_RETENTION_DAYS)
            }),
        max_concurrency: o
            .integer(r, "max_concurrency", 1, 4096)
            .map_or(ops_health::RunOptions::default().max_concurrency, |n| {
                usize::try_from(n).unwrap_or(ops_health::RunOptions::default().max_concurrency)
            }),
        orchestration: read_orchestration(&mut o, list, r),
        mcp: read_mcp(o.object(r, "mcp"), r),
        proxy,
        services: Vec::new(),
        alerting,
        disk_warning_gb,
        disk_notice_gb,
        disk_paths,
        http,
    };
    o.finish(r, &[], "");
    let defaults = config.default_policy();
    config.services =
        read.into_iter().map(|(service, overrides)| overrides.apply(service, &defaults)).collect();
    check_unique_names(list, &config.disk_paths, r);
    check_references(list, &config, r);
    check_unique_tokens(&config.services, r);
    config
}

/// A service's own values of the global policy keys.
#[derive(Debug, Default)]
struct Overrides {
    failure_threshold: Option<u32>,
    success_threshold: Option<u32>,
    /// Zero: no reminders.
    reminder_interval: Option<Duration>,
    alert_on_recovery: Option<bool>,
    alert_on_warning: Option<bool>,
    restart_grace: Option<Duration>,
    interval: Option<Duration>,
}

impl Overrides {
    fn read(o: &mut Obj<'_>, r: &mut Report) -> Self {
        let count = |o: &mut Obj<'_>, r: &mut Report, key| {
            o.integer(r, key, 1, 10_000).and_then(|n| u32::try_from(n).ok())
        };
        Self {
            failure_threshold: count(o, r, "failure_threshold"),
            success_threshold: count(o, r, "success_threshold"),
            reminder_interval: o.opt_seconds(r, "reminder_interval_seconds", Min::AtLeast(0.0)),
            alert_on_recovery: o.opt_boolean(r, "alert_on_recovery"),
            alert_on_warning: o.opt_boolean(r, "alert_on_warning"),
            restart_grace: o.opt_seconds(r, "restart_grace_seconds", Min::AtLeast(0.0)),
            interval: o.opt_seconds(r, "interval_seconds", Min::Above(0.0)),
        }
    }

    fn apply(self, mut service: Service, defaults: &Policy) -> Service {
        service.policy = Policy {
            failure_threshold: self.failure_threshold.unwrap_or(defaults.failure_threshold),
            success_threshold: self.success_threshold.unwrap_or(defaults.success_threshold),
            reminder_interval: match self.reminder_interval {
                Some(d) => Some(d).filter(|d| !d.is_zero()),
                None => defaults.reminder_interval,
            },
            alert_on_recovery: self.alert_on_recovery.unwrap_or(defaults.alert_on_recovery),
            alert_on_warning: self.alert_on_warning.unwrap_or(defaults.alert_on_warning),
            restart_grace: self.restart_grace.unwrap_or(defaults.restart_grace),
            interval: self.interval.or(defaults.interval),
        };
        service
    }
}

/// The names services refer to: `depends_on` must name services and make no cycle; `notify`
/// and `escalation` must name channels (`telegram` always may: its token and chat id can come
/// from the environment of another process). Read from the file as written, so that a service
/// with another problem is still checked and still counts.
fn check_references(list: &[Value], config: &Config, r: &mut Report) {
    let name_of = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_owned);
    let names: Vec<String> = list.iter().map(|v| name_of(v).unwrap_or_default()).collect();
    let place = |i: usize| match list.get(i).and_then(name_of) {
        Some(name) => format!("services[{i}] {name:?}"),
        None => format!("services[{i}]"),
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let known: Vec<&str> = names.iter().filter(|n| !n.is_empty()).map(String::as_str).collect();
    let mut parents = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let mut mine = Vec::new();
        for d in strings(v.get("depends_on")) {
            match names.iter().position(|n| *n == d) {
                Some(j) => mine.push(j),
                None => r.errors.push(Problem {
                    place: place(i),
                    field: Some("depends_on".into()),
                    message: format!("no service is named {d:?} (services: {})", known.join(", ")),
                }),
            }
        }
        parents.push(mine);
    }
    if let Err(cycles) = crate::deps::Graph::new(parents) {
        for cycle in cycles {
            let path: Vec<&str> = cycle.iter().map(|&j| names[j].as_str()).collect();
            r.errors.push(Problem {
                place: place(cycle[0]),
                field: Some("depends_on".into()),
                message: format!("is a dependency cycle: {}", path.join(" -> ")),
            });
        }
    }
    let channels = config.alerting.channels();
    let is_channel = |c: &str| c == TELEGRAM || config.alerting.destination(c).is_some();
    let listed = if channels.is_empty() {
        "none is configured".to_owned()
    } else {
        format!("channels: {}", channels.join(", "))
    };
    for (i, v) in list.iter().enumerate() {
        let steps = v.get("escalation").and_then(Value::as_array).into_iter().flatten();
        let lists = std::iter::once(("notify", v.get("notify")))
            .chain(steps.map(|s| ("escalation", s.get("notify"))));
        for (field, names) in lists {
            for c in strings(names).iter().filter(|c| !is_channel(c)) {
                r.errors.push(Problem {
                    place: place(i),
                    field: Some(field.into()),
                    message: format!("no alerting channel is named {c:?} ({listed})"),
                });
            }
        }
    }
}

/// A ping token names one job: two services with the same one are refused (neither quoted).
fn check_unique_tokens(services: &[Service], r: &mut Report) {
    let tokens: Vec<(usize, &Service, &Secret)> = services
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((i, s, s.job.as_ref()?.ping_token.as_ref()?)))
        .collect();
    for (k, (_, service, token)) in tokens.iter().enumerate() {
        if let Some((_, first, _)) = tokens[..k].iter().find(|(_, _, t)| t.expose() == token.expose()) {
            r.errors.push(Problem {
                place: format!("services {:?}", service.name),
                field: Some("ping_token".into()),
                message: format!("is the ping_token of {:?} too: each job needs its own", first.name),
            });
        }
    }
}

fn read_orchestration(o: &mut Obj<'_>, services: &[Value], r: &mut Report) -> Orchestration {
    let count = |o: &mut Obj<'_>, r: &mut Report, key, default: u32| {
        o.integer(r, key, 1, 10_000).map_or(default, |n| u32::try_from(n).unwrap_or(default))
    };
    let heartbeat_url = o.string(r, "heartbeat_url");
    if let Some(url) = &heartbeat_url
        && !is_http_url(url)
    {
        o.invalid(r, "heartbeat_url", format!("must be an http:// or https:// URL with a host, got {url:?}"));
    }
    let names: Vec<&str> = services.iter().filter_map(|s| s.get("name")?.as_str()).collect();
    let maintenance = match o.array(r, "maintenance") {
        Some(list) => list.iter().enumerate().filter_map(|(i, v)| read_window(i, v, &names, r)).collect(),
        None => Vec::new(),
    };
    Orchestration {
        failure_threshold: count(o, r, "failure_threshold", 1),
        success_threshold: count(o, r, "success_threshold", 1),
        reminder_interval: Some(o.seconds(
            r,
            "reminder_interval_seconds",
            Min::AtLeast(0.0),
            Duration::from_secs(3600),
        ))
        .filter(|d| !d.is_zero()),
        restart_grace: o.seconds(r, "restart_grace_seconds", Min::AtLeast(0.0), Duration::from_secs(5)),
        create_tasks_for_failures: o.boolean(r, "create_tasks_for_failures", false),
        heartbeat_url,
        maintenance,
        log_rotate_bytes: (o.number(r, "log_rotate_mb", Min::Above(0.0), 50.0) * 1024.0 * 1024.0) as u64,
        log_keep: o.integer(r, "log_keep", 1, 1000).map_or(5, |n| usize::try_from(n).unwrap_or(5)),
    }
}

/// One `maintenance` entry: `{"services": "*" | [names], "start": ts, "end": ts}` or
/// `{"services": ..., "from": "HH:MM", "to": "HH:MM", "days": ["sun"]}`, with an optional
/// `reason`.
fn read_window(i: usize, entry: &Value, names: &[&str], r: &mut Report) -> Option<Window> {
    let Value::Object(map) = entry else {
        r.errors.push(Problem {
            place: format!("maintenance[{i}]"),
            field: None,
            message: format!("must be an object, got {entry}"),
        });
        return None;
    };
    let mut o = Obj::new(map, "maintenance", format!("maintenance[{i}]"));
    let before = r.errors.len();
    let scope = match o.get("services") {
        Some(Value::String(s)) if s == "*" => Some(Scope::All),
        Some(Value::Array(list)) => {
            let mut picked = Vec::new();
            for item in list {
                match item.as_str() {
                    Some(name) if names.contains(&name) => picked.push(name.to_owned()),
                    Some(name) => o.invalid(r, "services", format!("no service is named {name:?}")),
                    None => o.invalid(r, "services", format!("must list service names, got {item}")),
                }
            }
            Some(Scope::Services(picked))
        }
        Some(other) => {
            o.invalid(r, "services", format!("must be \"*\" or a list of service names, got {other}"));
            None
        }
        None => {
            o.invalid(r, "services", "is required (\"*\" for every service)".into());
            None
        }
    };
    let reason = o.string(r, "reason");
    let once = (o.has("start"), o.has("end"));
    let daily = (o.has("from"), o.has("to"));
    let when = match (once, daily) {
        ((true, true), (false, false)) => {
            let start = o.string(r, "start").and_then(|t| timestamp(&o, r, "start", &t));
            let end = o.string(r, "end").and_then(|t| timestamp(&o, r, "end", &t));
            match (start, end) {
                (Some(start), Some(end)) if end > start => Some(When::Once { start, end }),
                (Some(_), Some(_)) => {
                    o.invalid(r, "end", "must be after `start`".into());
                    None
                }
                _ => None,
            }
        }
        ((false, false), (true, true)) => {
            let time = |o: &mut Obj<'_>, r: &mut Report, key| {
                let text = o.string(r, key)?;
                let t = parse_time_of_day(&text);
                if t.is_none() {
                    o.invalid(r, key, format!("must be a UTC time of day like \"03:30\", got {text:?}"));
                }
                t
            };
            let (from, to) = (time(&mut o, r, "from"), time(&mut o, r, "to"));
            let days = match o.array(r, "days") {
                Some(list) => list
                    .iter()
                    .filter_map(|d| {
                        let day = d.as_str().and_then(parse_weekday);
                        if day.is_none() {
                            o.invalid(r, "days", format!("must list weekdays like \"sun\", got {d}"));
                        }
                        day
                    })
                    .collect(),
                None => Vec::new(),
            };
            Some(When::Daily { from: from?, to: to?, days })
        }
        _ => {
            o.invalid(
                r,
                "start",
                "give either `start` and `end` (timestamps) or `from` and `to` (daily, \"HH:MM\" UTC)".into(),
            );
            None
        }
    };
    let _ = (o.get("start"), o.get("end"), o.get("from"), o.get("to"), o.get("days"));
    o.finish(r, &[], "");
    if r.errors.len() > before {
        return None;
    }
    Some(Window { scope: scope?, when: when?, reason })
}

fn timestamp(o: &Obj<'_>, r: &mut Report, key: &str, text: &str) -> Option<f64> {
    let t = ops_state::timestamp::parse_utc(text);
    if t.is_none() {
        o.invalid(r, key, format!("must be a timestamp like \"2026-12-01T02:00:00Z\", got {text:?}"));
    }
    t.map(|t| t.unix_timestamp() as f64)
}

/// The `mcp` object: `allow`, a list of [`McpChange`] names.
fn read_mcp(map: Option<&Map<String, Value>>, r: &mut Report) -> Mcp {
    let empty = Map::new();
    let mut o = Obj::new(map.unwrap_or(&empty), "mcp", "mcp");
    let mut allow = Vec::new();
    for name in o.names(r, "allow").unwrap_or_default() {
        if let Some(change) = McpChange::ALL.into_iter().find(|c| c.as_str() == name) {
            allow.push(change);
        } else {
            let known: Vec<&str> = McpChange::ALL.iter().map(|c| c.as_str()).collect();
            o.invalid(r, "allow", format!("{name:?} is not one of {}", known.join(", ")));
        }
    }
    o.finish(r, &[], "");
    Mcp { allow }
}

fn read_alerting(map: Option<&Map<String, Value>>, env: &Env, r: &mut Report) -> Alerting {
    let empty = Map::new();
    let mut o = Obj::new(map.unwrap_or(&empty), "alerting", "alerting");
    let webhooks = read_webhooks(o.array(r, "webhooks").map(Vec::as_slice).unwrap_or_default(), r);
    let alerting = Alerting {
        telegram_bot_token: o.string(r, "telegram_bot_token").map(Secret::new),
        telegram_chat_id: o.string_or_integer(r, "telegram_chat_id"),
        rate_limit: o.seconds(r, "rate_limit_seconds", Min::AtLeast(0.0), Duration::from_secs(300)),
        alert_on_recovery: o.boolean(r, "alert_on_recovery", true),
        telegram_api_url: o.string(r, "telegram_api_url").map_or_else(
            || ops_alert::telegram::DEFAULT_API_URL.to_owned(),
            |u| {
                if !is_http_url(&u) {
                    o.invalid(
                        r,
                        "telegram_api_url",
                        format!("must be an http:// or https:// URL with a host, got {u:?}"),
                    );
                }
                u
            },
        ),
        timeout: o.seconds(r, "timeout_seconds", Min::Above(0.0), Duration::from_secs(10)),
        telegram_chats: read_telegram_chats(
            o.array(r, "telegram_chats").map(Vec::as_slice).unwrap_or_default(),
            &webhooks,
            r,
        ),
        webhooks,
        proxy: read_alert_proxy(&mut o, map, env, r),
        alertmanager: o.object(r, "alertmanager").and_then(|m| read_alertmanager(m, r)),
    };
    o.finish(r, &[], "");
    let channels = alerting.channels();
    for name in alerting.alertmanager.iter().flat_map(|a| &a.fallback) {
        // Telegram's main chat may be set by the environment of the process that runs.
        if name != TELEGRAM && !channels.contains(name) {
            r.errors.push(Problem {
                place: "alerting.alertmanager".into(),
                field: Some("fallback".into()),
                message: format!("no alerting channel is named {name:?} (channels: {})", channels.join(", ")),
            });
        }
    }
    for (i, w) in alerting.webhooks.iter().enumerate() {
        let taken = match w.name.as_str() {
            TELEGRAM => "the main Telegram chat's",
            ALERTMANAGER => "alerting.alertmanager's",
            _ => continue,
        };
        r.errors.push(Problem {
            place: format!("alerting.webhooks[{i}] {:?}", w.name),
            field: Some("name".into()),
            message: format!("`{}` is {taken} channel name; choose another", w.name),
        });
    }
    Alerting {
        telegram_bot_token: env.telegram_bot_token.clone().or(alerting.telegram_bot_token),
        telegram_chat_id: env.telegram_chat_id.clone().or(alerting.telegram_chat_id),
        telegram_api_url: env.telegram_api_url.clone().unwrap_or(alerting.telegram_api_url),
        ..alerting
    }
}

/// `alerting.alertmanager`: `urls` (required, at least one `http(s)://` base URL, no query or
/// fragment), `labels` (label names Prometheus accepts, string values), `instance`,
/// `resolve_timeout_seconds`, `generator_url`. A URL is never quoted: it may hold credentials.
fn read_alertmanager(map: &Map<String, Value>, r: &mut Report) -> Option<AlertmanagerChannel> {
    let mut o = Obj::new(map, "alerting.alertmanager", "alerting.alertmanager");
    let before = r.errors.len();
    let urls = if o.required(r, "urls") { o.names(r, "urls") } else { None };
    match &urls {
        Some(list) if list.is_empty() => {
            o.invalid(r, "urls", "must list at least one Alertmanager URL".into());
        }
        Some(list) => {
            if let Some(i) = list.iter().position(|u| !is_http_url(u)) {
                o.invalid(r, "urls", format!("item {i} must be an http:// or https:// URL with a host"));
            } else if let Some(i) = list.iter().position(|u| u.contains(['?', '#'])) {
                o.invalid(
                    r,
                    "urls",
                    format!("item {i} must be a base URL, without a query (?) or fragment (#): /api/v2/alerts is added to it"),
                );
            }
        }
        None => {}
    }
    let labels: BTreeMap<String, String> = o
        .object(r, "labels")
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    if !ops_alert::alertmanager::is_label_name(k) {
                        o.invalid(r, "labels", format!("{k:?} is not a label name (letters, digits and _, not starting with a digit or __)"));
                        return None;
                    }
                    if let Value::String(s) = v {
                        return Some((k.clone(), s.clone()));
                    }
                    o.invalid(r, "labels", format!("the value of {k:?} must be a string"));
                    None
                })
                .collect()
        })
        .unwrap_or_default();
    let instance = o.string(r, "instance");
    if instance.as_deref().is_some_and(|i| i.trim().is_empty()) {
        o.invalid(r, "instance", "must not be empty".into());
    }
    let resolve_timeout = o
        .has("resolve_timeout_seconds")
        .then(|| o.seconds(r, "resolve_timeout_seconds", Min::AtLeast(60.0), Duration::from_secs(300)));
    let generator_url = o.string(r, "generator_url");
    if generator_url.as_deref().is_some_and(|u| !is_http_url(u)) {
        o.invalid(r, "generator_url", "must be an http:// or https:// URL with a host".into());
    }
    let fallback = o.names(r, "fallback").unwrap_or_default();
    if fallback.iter().any(|c| c == ALERTMANAGER) {
        o.invalid(r, "fallback", "cannot name `alertmanager` itself".into());
    }
    o.finish(r, &[], "");
    if r.errors.len() > before {
        return None;
    }
    Some(AlertmanagerChannel {
        urls: urls?.into_iter().map(Secret::new).collect(),
        labels,
        instance: instance.unwrap_or_else(host_name),
        resolve_timeout,
        generator_url,
        fallback,
    })
}

/// This host's name, as `uname -n` gives it (`localhost` when it has none).
fn host_name() -> String {
    let name = rustix::system::uname().nodename().to_string_lossy().into_owned();
    if name.is_empty() { "localhost".to_owned() } else { name }
}

/// `alerting.proxy`: a URL; `null` to go directly whatever the environment says; absent, the
/// environment's proxy variables decide per destination, as the Python kit's urllib did.
fn read_alert_proxy(
    o: &mut Obj<'_>,
    map: Option<&Map<String, Value>>,
    env: &Env,
    r: &mut Report,
) -> AlertProxy {
    if map.and_then(|m| m.get("proxy")).is_some_and(Value::is_null) {
        let _ = o.get("proxy");
        return AlertProxy::Direct;
    }
    match o.string(r, "proxy") {
        Some(url) if is_http_url(&url) => AlertProxy::Url(Secret::new(url)),
        Some(_) => {
            // Never quoted: it may hold a password.
            o.invalid(r, "proxy", "must be an http:// or https:// URL with a host".into());
            AlertProxy::Direct
        }
        None => AlertProxy::Environment(env.proxies.clone()),
    }
}

/// `http`: `listen` (an address, or a port alone for loopback), `basic_auth` (`user`,
/// `password`; the password is a secret, never in a message), `public`. Listening beyond
/// loopback without `basic_auth` is an error unless `public` is true.
fn read_http(map: Option<&Map<String, Value>>, r: &mut Report) -> Http {
    let empty = Map::new();
    let mut o = Obj::new(map.unwrap_or(&empty), "http", "http");
    let listen = match o.get("listen") {
        None => None,
        Some(Value::String(text)) => match parse_listen(text) {
            Ok(addr) => Some(addr),
            Err(e) => {
                o.invalid(r, "listen", e);
                None
            }
        },
        Some(Value::Number(n)) => {
            let port = n.as_u64().and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0);
            if port.is_none() {
                o.invalid(r, "listen", format!("a port alone must be from 1 to 65535, got {n}"));
            }
            port.map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        }
        Some(other) => {
            o.invalid(
                r,
                "listen",
                format!("must be an address like \"127.0.0.1:9797\" or a port, got {}", type_name(other)),
            );
            None
        }
    };
    let basic_auth = o.object(r, "basic_auth").and_then(|map| {
        let mut auth = Obj::new(map, "http.basic_auth", "http basic_auth");
        let user = if auth.required(r, "user") { auth.string(r, "user") } else { None };
        if user.as_deref().is_some_and(|u| u.contains(':') || u.chars().any(char::is_control)) {
            auth.invalid(
                r,
                "user",
                "must not contain a colon or a control character (basic auth cannot carry it)".into(),
            );
        }
        let password = if auth.required(r, "password") { auth.string(r, "password") } else { None };
        auth.finish(r, &[], "");
        Some(HttpAuth { user: user?, password: Secret::new(password?) })
    });
    let http = Http { listen, basic_auth, public: o.boolean(r, "public", false) };
    if let Some(addr) = http.listen
        && let Err(e) = http.exposure(addr)
    {
        o.invalid(r, "listen", e);
    }
    o.finish(r, &[], "");
    http
}

/// `alerting.webhooks`: each an object with a unique `name` and an http(s) `url` (never
/// echoed in messages: it is a credential), optional `body`, `headers`, `max_chars`.
fn read_webhooks(list: &[Value], r: &mut Report) -> Vec<Webhook> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut hooks = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let Value::Object(map) = v else {
            r.errors.push(Problem {
                place: format!("alerting.webhooks[{i}]"),
                field: None,
                message: format!(
                    "must be an object like {{\"name\": ..., \"url\": ...}}, got {}",
                    type_name(v)
                ),
            });
            continue;
        };
        let place = match map.get("name") {
            Some(Value::String(name)) => format!("alerting.webhooks[{i}] {name:?}"),
            _ => format!("alerting.webhooks[{i}]"),
        };
        let mut o = Obj::new(map, "alerting.webhooks", place);
        let errors_before = r.errors.len();
        let name = if o.required(r, "name") { o.string(r, "name") } else { None };
        let url = if o.required(r, "url") { o.string(r, "url") } else { None };
        if url.as_deref().is_some_and(|u| !is_http_url(u)) {
            o.invalid(r, "url", "must be an http:// or https:// URL with a host".into());
        }
        let body = o.get("body").cloned();
        let headers = o
            .object(r, "headers")
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| {
                        if let Value::String(s) = v {
                            return Some((k.clone(), Secret::new(s.clone())));
                        }
                        o.invalid(r, "headers", format!("the value of {k:?} must be a string"));
                        None
                    })
                    .collect()
            })
            .unwrap_or_default();
        let max_chars = o.integer(r, "max_chars", 1, 1_000_000).and_then(|n| usize::try_from(n).ok());
        if let Some(name) = &name
            && let Some(first) = seen.insert(name.clone(), i)
        {
            o.invalid(r, "name", format!("duplicate name, already used by alerting.webhooks[{first}]"));
        }
        o.finish(r, &[], "");
        if r.errors.len() == errors_before
            && let (Some(name), Some(url)) = (name, url)
        {
            hooks.push(Webhook { name, url: Secret::new(url), body, headers, max_chars });
        }
    }
    hooks
}

/// `alerting.telegram_chats`: each `{"name": ..., "chat_id": ...}`, names unique and not
/// `telegram` (the main chat's).
fn read_telegram_chats(list: &[Value], webhooks: &[Webhook], r: &mut Report) -> Vec<TelegramChat> {
    let mut chats: Vec<TelegramChat> = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let Value::Object(map) = v else {
            r.errors.push(Problem {
                place: format!("alerting.telegram_chats[{i}]"),
                field: None,
                message: format!(
                    "must be an object like {{\"name\": ..., \"chat_id\": ...}}, got {}",
                    type_name(v)
                ),
            });
            continue;
        };
        let place = match map.get("name") {
            Some(Value::String(name)) => format!("alerting.telegram_chats[{i}] {name:?}"),
            _ => format!("alerting.telegram_chats[{i}]"),
        };
        let mut o = Obj::new(map, "alerting.telegram_chats", place);
        let before = r.errors.len();
        let name = if o.required(r, "name") { o.string(r, "name") } else { None };
        let chat_id = if o.required(r, "chat_id") { o.string_or_integer(r, "chat_id") } else { None };
        if let Some(n) = &name {
            if n == TELEGRAM {
                o.invalid(
                    r,
                    "name",
                    "`telegram` is the main chat's channel name (telegram_chat_id); choose another".into(),
                );
            } else if n.chars().any(char::is_control) {
                o.invalid(r, "name", "must not contain control characters".into());
            } else if let Some(first) =
                list[..i].iter().position(|v| v.get("name").and_then(Value::as_str) == Some(n.as_str()))
            {
                o.invalid(
                    r,
                    "name",
                    format!("duplicate name, already used by alerting.telegram_chats[{first}]"),
                );
            } else if webhooks.iter().any(|w| w.name == *n) {
                o.invalid(r, "name", "is also the name of a webhook: channel names must be unique".into());
            }
        }
        o.finish(r, &[], "");
        if r.errors.len() == before
            && let (Some(name), Some(chat_id)) = (name, chat_id)
        {
            chats.push(TelegramChat { name, chat_id });
        }
    }
    chats
}

/// An `http://` or `https://` URL with something after the scheme that is not a path.
fn is_http_url(u: &str) -> bool {
    let rest = u.strip_prefix("http://").or_else(|| u.strip_prefix("https://"));
    rest.is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
}

/// `proxy`: an `http://` proxy URL (`https://` too), or null or absent for none. The text is
/// never repeated in a message: it may hold a password.
fn read_proxy(o: &mut Obj<'_>, r: &mut Report) -> Option<Proxy> {
    match Proxy::new(&o.string(r, "proxy")?) {
        Ok(proxy) => Some(proxy),
        Err(HealthError::Proxy { reason }) => {
            o.invalid(r, "proxy", reason);
            None
        }
        Err(e) => {
            o.invalid(r, "proxy", e.to_string());
            None
        }
    }
}

/// The top-level free-space thresholds, which disk services inherit.
#[derive(Debug, Clone, Copy)]
struct Thresholds {
    warning_gb: f64,
    notice_gb: Option<f64>,
}

fn read_services(
    list: &[Value],
    disk: Thresholds,
    proxy: Option<&Proxy>,
    jobs: JobsAt<'_>,
    r: &mut Report,
) -> Vec<(Service, Overrides)> {
    list.iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let Value::Object(map) = v else {
                r.errors.push(Problem {
                    place: format!("services[{i}]"),
                    field: None,
                    message: format!("must be an object, got {v}"),
                });
                return None;
            };
            read_service(i, map, disk, proxy, jobs, r)
        })
        .collect()
}

fn read_service(
    i: usize,
    map: &Map<String, Value>,
    disk: Thresholds,
    proxy: Option<&Proxy>,
    jobs: JobsAt<'_>,
    r: &mut Report,
) -> Option<(Service, Overrides)> {
    let place = match map.get("name") {
        Some(Value::String(name)) => format!("services[{i}] {name:?}"),
        _ => format!("services[{i}]"),
    };
    let mut o = Obj::new(map, "services", place);
    let errors_before = r.errors.len();
    let name = if o.required(r, "name") { o.string(r, "name") } else { None };
    let word = o.string(r, "type");
    let mut job = None;
    let kind = match word.as_deref().map_or(Ok(CheckKind::Url), str::parse::<CheckKind>) {
        Ok(kind) => Some(kind),
        Err(e) => {
            o.invalid(r, "type", e.to_string());
            None
        }
    };
    let check = match kind {
        Some(CheckKind::Url) => {
            // A service's own `proxy` wins over the top-level one; `null` there means direct.
            let direct = map.get("proxy").is_some_and(Value::is_null);
            let own = read_proxy(&mut o, r);
            url_check(&mut o, r, if direct { None } else { own.as_ref().or(proxy) })
        }
        Some(CheckKind::Port) => port_check(&mut o, r),
        Some(CheckKind::Process) => process_check(&mut o, r),
        Some(CheckKind::Disk) => Some(disk_check(&mut o, r, disk)),
        Some(CheckKind::Tls) => tls_check(&mut o, r),
        Some(CheckKind::Dns) => dns_check(&mut o, r),
        Some(CheckKind::Ping) => ping_check(&mut o, r),
        Some(CheckKind::Command) => command_check(&mut o, r),
        Some(CheckKind::Job) => job_check(&mut o, r, jobs).map(|(check, watched)| {
            job = Some(watched);
            check
        }),
        _ => None,
    };
    let restart_command = o.string(r, "restart_command");
    let restart_cooldown =
        o.seconds(r, "restart_cooldown_seconds", Min::AtLeast(0.0), Duration::from_secs(300));
    let max_restart_attempts =
        o.integer(r, "max_restart_attempts", 0, 1000).map_or(3, |n| u32::try_from(n).unwrap_or(3));
    let restart_timeout = o.seconds(r, "restart_timeout_seconds", Min::Above(0.0), Duration::from_secs(30));
    let overrides = Overrides::read(&mut o, r);
    let depends_on = o.names(r, "depends_on").unwrap_or_default();
    let severity = match o.string(r, "severity") {
        None => Severity::default(),
        Some(word) => Severity::ALL.into_iter().find(|s| s.as_str() == word).unwrap_or_else(|| {
            o.invalid(r, "severity", format!("must be one of info, warning, error, critical, got {word:?}"));
            Severity::default()
        }),
    };
    let notify = o.names(r, "notify");
    let escalation = match o.array(r, "escalation") {
        Some(list) => {
            list.iter().enumerate().filter_map(|(j, v)| read_escalation(&o.place, j, v, r)).collect()
        }
        None => Vec::new(),
    };
    let kind = kind.unwrap_or(CheckKind::Url);
    let other_types: Vec<&str> = SERVICE_KEYS
        .iter()
        .filter(|(_, kinds)| kinds.is_some_and(|k| !k.contains(&kind)))
        .map(|(k, _)| *k)
        .collect();
    o.finish(r, &other_types, &format!("by {kind} checks"));
    if r.errors.len() > errors_before {
        return None;
    }
    let service = Service {
        name: name?,
        check: check?,
        restart_command,
        restart_cooldown,
        max_restart_attempts,
        restart_timeout,
        depends_on,
        policy: Policy {
            failure_threshold: 1,
            success_threshold: 1,
            reminder_interval: None,
            alert_on_recovery: true,
            alert_on_warning: false,
            restart_grace: Duration::ZERO,
            interval: None,
        },
        severity,
        notify,
        escalation,
        job,
    };
    Some((service, overrides))
}

/// One step of a service's `escalation`: `{"after_minutes": 30, "notify": ["oncall"]}`.
fn read_escalation(service: &str, j: usize, v: &Value, r: &mut Report) -> Option<Escalation> {
    let place = format!("{service} escalation[{j}]");
    let Value::Object(map) = v else {
        r.errors.push(Problem {
            place,
            field: None,
            message: format!(
                "must be an object like {{\"after_minutes\": 30, \"notify\": [\"oncall\"]}}, got {}",
                type_name(v)
            ),
        });
        return None;
    };
    let mut o = Obj::new(map, "services.escalation", place);
    let before = r.errors.len();
    let minutes = if o.required(r, "after_minutes") {
        Some(o.number(r, "after_minutes", Min::Above(0.0), 1.0))
    } else {
        None
    };
    let notify = if o.required(r, "notify") { o.names(r, "notify") } else { None };
    if notify.as_ref().is_some_and(Vec::is_empty) {
        o.invalid(r, "notify", "must name at least one channel".into());
    }
    if let Some(m) = minutes.filter(|m| m * 60.0 > MAX_SECONDS) {
        o.invalid(r, "after_minutes", format!("must be at most {} (ten years), got {m}", MAX_SECONDS / 60.0));
    }
    o.finish(r, &[], "");
    if r.errors.len() > before {
        return None;
    }
    Some(Escalation { after: Duration::try_from_secs_f64(minutes? * 60.0).ok()?, notify: notify? })
}

/// A `job` service: `job` (a job name), `schedule` (cron) with `tz` (an IANA zone, required:
/// cron's own zone is the host's, which a file copied elsewhere would change), or
/// `period_seconds` (`tz` then only says how times are shown, default UTC); `grace_seconds`,
/// `min_runtime_seconds`, `max_runtime_seconds`, `ping_token`.
fn job_check(o: &mut Obj<'_>, r: &mut Report, jobs: JobsAt<'_>) -> Option<(Check, JobService)> {
    let name = if o.required(r, "job") { o.string(r, "job") } else { None };
    let name = name.and_then(|n| match ops_jobs::JobName::new(&n) {
        Ok(name) => Some(name),
        Err(e) => {
            o.invalid(r, "job", e.to_string());
            None
        }
    });
    let cron = o.string(r, "schedule");
    let zone = o.string(r, "tz");
    let period =
        o.has("period_seconds").then(|| o.seconds(r, "period_seconds", Min::AtLeast(1.0), Duration::ZERO));
    let schedule = match (cron, period) {
        (Some(cron), None) => {
            if let Some(zone) = zone {
                ops_jobs::Schedule::cron(&cron, &zone).map_err(|e| match e {
                    ops_jobs::JobError::Zone { .. } => o.invalid(r, "tz", e.to_string()),
                    e => o.invalid(r, "schedule", e.to_string()),
                })
            } else {
                o.invalid(
                    r,
                    "tz",
                    "is required with `schedule`: the IANA zone the schedule is in, like \"Europe/Berlin\" or \"UTC\""
                        .into(),
                );
                Err(())
            }
        }
        (None, Some(period)) => ops_jobs::Schedule::every(period, zone.as_deref().unwrap_or("UTC"))
            .map_err(|e| o.invalid(r, if period.is_zero() { "period_seconds" } else { "tz" }, e.to_string())),
        (Some(_), Some(_)) => {
            o.invalid(r, "period_seconds", "set either `schedule` or `period_seconds`, not both".into());
            Err(())
        }
        (None, None) => {
            o.invalid(
                r,
                "schedule",
                "is required (a cron expression like \"0 3 * * *\" with `tz`), or `period_seconds`".into(),
            );
            Err(())
        }
    };
    let grace = o.seconds(r, "grace_seconds", Min::AtLeast(0.0), DEFAULT_JOB_GRACE);
    let min_runtime = o
        .has("min_runtime_seconds")
        .then(|| o.seconds(r, "min_runtime_seconds", Min::Above(0.0), Duration::ZERO));
    let max_runtime = o
        .has("max_runtime_seconds")
        .then(|| o.seconds(r, "max_runtime_seconds", Min::Above(0.0), Duration::ZERO));
    if let (Some(min), Some(max)) = (min_runtime, max_runtime)
        && min >= max
    {
        o.invalid(r, "min_runtime_seconds", "must be below `max_runtime_seconds`".into());
    }
    let ping_token = o.string(r, "ping_token").and_then(|token| {
        let ok = (16..=128).contains(&token.len())
            && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            // Never quoted: it is a secret.
            o.invalid(r, "ping_token", "must be 16 to 128 ASCII letters, digits, '-' and '_' (a secret of its own, like `openssl rand -hex 16`)".into());
            return None;
        }
        Some(Secret::new(token))
    });
    let watch = ops_jobs::Watch {
        schedule: schedule.ok()?,
        grace,
        min_runtime: min_runtime.filter(|d| !d.is_zero()),
        max_runtime: max_runtime.filter(|d| !d.is_zero()),
    };
    let watched = JobService { name: name?, watch, ping_token, expected_since: jobs.since };
    Some((Check::External(crate::jobs::external_check(jobs.dir, &watched)), watched))
}

/// `timeout_seconds`, or `default` (ops-health's, for the check kind).
fn timeout(o: &mut Obj<'_>, r: &mut Report, default: Duration) -> Duration {
    o.seconds(r, "timeout_seconds", Min::Above(0.0), default)
}

/// A number of hours (`stalled_task_hours`) as a [`Duration`], above 0 and at most ten years.
fn hours(o: &mut Obj<'_>, r: &mut Report, key: &'static str, default: Duration) -> Duration {
    let Some(v) = o.get(key) else { return default };
    let h = o.number(r, key, Min::Above(0.0), default.as_secs_f64() / 3600.0);
    if h * 3600.0 > MAX_SECONDS {
        o.invalid(r, key, format!("must be at most {} (ten years), got {v}", MAX_SECONDS / 3600.0));
        return default;
    }
    Duration::try_from_secs_f64(h * 3600.0).unwrap_or(default)
}

fn url_check(o: &mut Obj<'_>, r: &mut Report, proxy: Option<&Proxy>) -> Option<Check> {
    let url = if o.required(r, "target") { o.string(r, "target") } else { None };
    if let Some(u) = &url
        && !is_http_url(u)
    {
        o.invalid(r, "target", format!("must be an http:// or https:// URL with a host, got {u:?}"));
    }
    let mut check = UrlCheck::new(url?);
    if let Some(status) = o.integer(r, "expected_status", 100, 599) {
        check.expected_status = u16::try_from(status).unwrap_or(check.expected_status);
    }
    check.timeout = timeout(o, r, check.timeout);
    let millis = |o: &mut Obj<'_>, r: &mut Report, key| o.integer(r, key, 1, 86_400_000);
    let max_latency = millis(o, r, "max_latency_ms");
    let warn_latency = millis(o, r, "warn_latency_ms");
    if let (Some(warn), Some(max)) = (warn_latency, max_latency)
        && warn >= max
    {
        o.invalid(r, "warn_latency_ms", format!("must be below `max_latency_ms` ({max}), got {warn}"));
    }
    check.max_latency = max_latency.map(|ms| Duration::from_millis(ms.unsigned_abs()));
    check.warn_latency = warn_latency.map(|ms| Duration::from_millis(ms.unsigned_abs()));
    check.body_contains = o.string(r, "body_contains");
    check.cert_warning_days = o.opt_number(r, "cert_warning_days", Min::AtLeast(0.0));
    check.cert_notice_days = notice(o, r, "cert_notice_days", ("cert_warning_days", check.cert_warning_days));
    check.proxy = proxy.cloned();
    read_request(o, r, &mut check);
    Some(Check::Url(check))
}

/// The request keys of a url check (`method`, `headers`, `body`, `basic_auth`, `bearer_token`,
/// `insecure_tls`, `follow_redirects`) and its `conditions`. No message repeats a header value,
/// a password or a token.
fn read_request(o: &mut Obj<'_>, r: &mut Report, check: &mut UrlCheck) {
    if let Some(method) = o.string(r, "method") {
        let upper = method.to_ascii_uppercase();
        if ops_health::METHODS.contains(&upper.as_str()) {
            check.method = upper;
        } else {
            o.invalid(r, "method", format!("must be one of {}", ops_health::METHODS.join(", ")));
        }
    }
    for (key, value) in o.object(r, "headers").into_iter().flatten() {
        let is_token = !key.is_empty()
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        match value {
            Value::String(v) if is_token && !v.chars().any(|c| c.is_control() && c != '\t') => {
                check.headers.push((key.clone(), Credential::new(v.clone())));
            }
            Value::String(_) if is_token => {
                o.invalid(r, "headers", format!("the value of {key:?} holds a control character"));
            }
            Value::String(_) => o.invalid(
                r,
                "headers",
                format!("{:?} is not a header name", key.chars().take(40).collect::<String>()),
            ),
            _ => o.invalid(r, "headers", format!("the value of {key:?} must be a string")),
        }
    }
    check.body = match o.get("body") {
        None => None,
        Some(Value::String(s)) => Some(RequestBody::Text(s.clone())),
        Some(v @ (Value::Object(_) | Value::Array(_))) => Some(RequestBody::Json(v.to_string())),
        Some(other) => {
            o.invalid(
                r,
                "body",
                format!("must be a string, or an object or array sent as JSON, got {}", type_name(other)),
            );
            None
        }
    };
    let basic = o.object(r, "basic_auth").map(|map| {
        let mut auth = Obj::new(map, "services.basic_auth", format!("{} basic_auth", o.place));
        let user = if auth.required(r, "user") { auth.string(r, "user") } else { None };
        let password = if auth.required(r, "password") { auth.string(r, "password") } else { None };
        auth.finish(r, &[], "");
        (user, password)
    });
    let bearer = o.string(r, "bearer_token");
    check.auth = match (basic, bearer) {
        (Some(_), Some(_)) => {
            o.invalid(r, "bearer_token", "set either basic_auth or bearer_token, not both".into());
            None
        }
        (Some((Some(user), Some(password))), None) => {
            Some(Auth::Basic { user, password: Credential::new(password) })
        }
        (None, Some(token)) => Some(Auth::Bearer(Credential::new(token))),
        _ => None,
    };
    if check.auth.is_some() && check.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
        o.invalid(
            r,
            "headers",
            "an Authorization header and basic_auth or bearer_token: set it in one place".into(),
        );
    }
    check.insecure_tls = o.boolean(r, "insecure_tls", false);
    if o.has("follow_redirects") {
        check.follow_redirects = Some(o.boolean(r, "follow_redirects", true));
    } else {
        o.get("follow_redirects");
    }
    let explicit_status = o.has("expected_status");
    for (i, v) in o.array(r, "conditions").into_iter().flatten().enumerate() {
        match v {
            Value::String(text) => match Condition::parse(text) {
                Ok(c) => check.conditions.push(c),
                Err(e) => o.invalid(r, "conditions", format!("item {i}: {e}")),
            },
            other => o.invalid(
                r,
                "conditions",
                format!("item {i} must be a string like \"[STATUS] == 200\", got {}", type_name(other)),
            ),
        }
    }
    // With conditions, an expected_status written out is one of them.
    if explicit_status
        && !check.conditions.is_empty()
        && let Ok(c) = Condition::parse(&format!("[STATUS] == {}", check.expected_status))
    {
        check.conditions.insert(0, c);
    }
}

fn dns_check(o: &mut Obj<'_>, r: &mut Report) -> Option<Check> {
    let query = if o.required(r, "query") { o.string(r, "query") } else { None };
    let record_type = match o.string(r, "record_type").map(|t| t.parse::<RecordType>()) {
        None => Some(RecordType::A),
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            invalid_by_field(o, r, "record_type", &e);
            None
        }
    };
    let mut check = DnsCheck::new(query.unwrap_or_default(), record_type.unwrap_or(RecordType::A));
    check.server = o.string(r, "server");
    for (i, v) in o.array(r, "expected").into_iter().flatten().enumerate() {
        match v {
            Value::String(s) => check.expected.push(s.clone()),
            other => o.invalid(r, "expected", format!("item {i} must be a string, got {}", type_name(other))),
        }
    }
    check.timeout = timeout(o, r, check.timeout);
    if !check.query.is_empty()
        && let Err(e) = check.validate()
    {
        invalid_by_field(o, r, "query", &e);
        return None;
    }
    (!check.query.is_empty() && record_type.is_some()).then_some(Check::Dns(check))
}

/// A check's own error, reported on the field it names (or `fallback`).
fn invalid_by_field(o: &Obj<'_>, r: &mut Report, fallback: &'static str, e: &HealthError) {
    match e {
        HealthError::Invalid { field, reason } => o.invalid(r, field, reason.clone()),
        other => o.invalid(r, fallback, other.to_string()),
    }
}

fn ping_check(o: &mut Obj<'_>, r: &mut Report) -> Option<Check> {
    let host = if o.required(r, "host") { o.string(r, "host") } else { None };
    let mut check = PingCheck::new(host.clone().unwrap_or_default());
    if let Some(count) = o.integer(r, "count", 1, 100) {
        check.count = u16::try_from(count).unwrap_or(check.count);
    }
    let loss = o.number(r, "max_loss_percent", Min::AtLeast(0.0), check.max_loss_percent);
    if loss > 100.0 {
        o.invalid(r, "max_loss_percent", format!("must be at most 100, got {loss}"));
    }
    check.max_loss_percent = loss;
    check.max_rtt =
        o.integer(r, "max_rtt_ms", 1, 86_400_000).map(|ms| Duration::from_millis(ms.unsigned_abs()));
    if let Some(warn) = o.opt_number(r, "warn_loss_percent", Min::AtLeast(0.0)) {
        if warn >= check.max_loss_percent {
            let max = check.max_loss_percent;
            o.invalid(
                r,
                "warn_loss_percent",
                format!("must be below `max_loss_percent` ({max}), got {warn}"),
            );
        }
        check.warn_loss_percent = Some(warn);
    }
    check.warn_rtt =
        o.integer(r, "warn_rtt_ms", 1, 86_400_000).map(|ms| Duration::from_millis(ms.unsigned_abs()));
    if let (Some(warn), Some(max)) = (check.warn_rtt, check.max_rtt)
        && warn >= max
    {
        let (warn, max) = (warn.as_millis(), max.as_millis());
        o.invalid(r, "warn_rtt_ms", format!("must be below `max_rtt_ms` ({max}), got {warn}"));
    }
    check.timeout = timeout(o, r, check.timeout);
    host.map(|_| Check::Ping(check))
}

fn port_check(o: &mut Obj<'_>, r: &mut Report) -> Option<Check> {
    let host = o.string(r, "host").unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = if o.required(r, "port") { o.integer(r, "port", 1, 65_535) } else { None };
    let mut check = PortCheck::new(host, u16::try_from(port?).ok()?);
    check.timeout = timeout(o, r, check.timeout);
    Some(Check::Port(check))
}

fn process_check(o: &mut Obj<'_>, r: &mut Report) -> Option<Check> {
    let pattern = if o.required(r, "process_name") { o.string(r, "process_name") } else { None };
    let timeout = timeout(o, r, Duration::from_secs(5));
    match ProcessCheck::new(&pattern?, timeout) {
        Ok(check) => Some(Check::Process(check)),
        Err(HealthError::Pattern { reason, .. }) => {
            o.invalid(r, "process_name", format!("is not a valid pattern: {reason}"));
            None
        }
        Err(e) => {
            o.invalid(r, "process_name", e.to_string());
            None
        }
    }
}

fn disk(path: PathBuf, warning_gb: f64, notice_gb: Option<f64>) -> DiskCheck {
    let mut check = DiskCheck::new(path);
    check.warning_gb = warning_gb;
    check.notice_gb = notice_gb;
    check
}

fn disk_check(o: &mut Obj<'_>, r: &mut Report, default: Thresholds) -> Check {
    let path = o.string(r, "path").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    let warning_gb = o.number(r, "disk_warning_gb", Min::AtLeast(0.0), default.warning_gb);
    let notice_gb =
        notice(o, r, "disk_notice_gb", ("disk_warning_gb", Some(warning_gb))).or(default.notice_gb);
    Check::Disk(disk(path, warning_gb, notice_gb))
}

/// A warning threshold of a measure where less is worse (`cert_notice_days`, `disk_notice_gb`):
/// a number, at least 0, above the failure threshold `failure` (its key and value) when both
/// are given here; else a warning would never come before the failure.
fn notice(o: &mut Obj<'_>, r: &mut Report, key: &'static str, failure: (&str, Option<f64>)) -> Option<f64> {
    let before = r.errors.len();
    let value = o.opt_number(r, key, Min::AtLeast(0.0)).filter(|_| r.errors.len() == before)?;
    if let (name, Some(fail)) = failure
        && value <= fail
    {
        o.invalid(r, key, format!("must be greater than `{name}` ({fail}), got {value}"));
        return None;
    }
    Some(value)
}

fn tls_check(o: &mut Obj<'_>, r: &mut Report) -> Option<Check> {
    let host = if o.required(r, "host") { o.string(r, "host") } else { None };
    let mut check = TlsCheck::new(host?);
    if let Some(port) = o.integer(r, "port", 1, 65_535) {
        check.port = u16::try_from(port).unwrap_or(check.port);
    }
    check.warning_days = o.number(r, "cert_warning_days", Min::AtLeast(0.0), check.warning_days);
    check.notice_days = notice(o, r, "cert_notice_days", ("cert_warning_days", Some(check.warning_days)));
    check.verify = o.boolean(r, "tls_verify", check.verify);
    check.timeout = timeout(o, r, check.timeout);
    Some(Check::Tls(check))
}

/// `command`: an array (argv, run without a shell: the program and its arguments) or a string
/// (run by `/bin/sh -c`, as `restart_command` is); `env`, an object of strings; `cwd`, an
/// absolute path; `timeout_seconds`, default 10.
fn command_check(o: &mut Obj<'_>, r: &mut Report) -> Option<Check> {
    let shape = "must be a non-empty array of strings (the program and its arguments, run without a \
                 shell) or a string (run by /bin/sh -c)";
    let no_nul = |s: &str| !s.contains('\0');
    let program = match o.get("command") {
        None => {
            o.required(r, "command");
            None
        }
        Some(Value::String(line)) if !line.trim().is_empty() && no_nul(line) => {
            Some(Program::Shell(line.clone()))
        }
        Some(Value::Array(words)) if !words.is_empty() => {
            let mut argv = Vec::with_capacity(words.len());
            for (i, word) in words.iter().enumerate() {
                match word.as_str() {
                    Some(w) if i == 0 && w.trim().is_empty() => {
                        o.invalid(r, "command", "item 0, the program, must not be empty".into());
                    }
                    Some(w) if no_nul(w) => argv.push(w.to_owned()),
                    Some(_) => o.invalid(r, "command", format!("item {i} holds a NUL character")),
                    None => {
                        o.invalid(
                            r,
                            "command",
                            format!("item {i} must be a string, got {}", type_name(word)),
                        );
                    }
                }
            }
            (argv.len() == words.len()).then_some(Program::Argv(argv))
        }
        Some(other) => {
            o.invalid(r, "command", format!("{shape}, got {}", describe_command(other)));
            None
        }
    };
    let env = o
        .object(r, "env")
        .map(|vars| {
            vars.iter()
                .filter_map(|(k, v)| {
                    if k.is_empty() || k.contains(['=', '\0']) {
                        o.invalid(
                            r,
                            "env",
                            format!("{k:?} is not a variable name (empty, or with `=` or NUL)"),
                        );
                        return None;
                    }
                    match v {
                        Value::String(s) if no_nul(s) => Some((k.clone(), s.clone())),
                        Value::String(_) => {
                            o.invalid(r, "env", format!("the value of {k:?} holds a NUL character"));
                            None
                        }
                        other => {
                            o.invalid(
                                r,
                                "env",
                                format!("the value of {k:?} must be a string, got {}", type_name(other)),
                            );
                            None
                        }
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let cwd = o.string(r, "cwd").and_then(|dir| {
        if !dir.starts_with('/') || !no_nul(&dir) {
            o.invalid(r, "cwd", format!("must be an absolute path, got {dir:?}"));
            return None;
        }
        Some(PathBuf::from(dir))
    });
    let mut check = CommandCheck::new(program?);
    check.env = env;
    check.env_remove = crate::env::SECRET_VARIABLES.iter().map(|&v| v.to_owned()).collect();
    check.cwd = cwd;
    check.timeout = timeout(o, r, check.timeout);
    Some(Check::Command(check))
}

/// A `command` of the wrong shape, for its message.
fn describe_command(v: &Value) -> String {
    match v {
        Value::String(s) if s.contains('\0') => "a string with a NUL character".into(),
        Value::String(_) => "an empty string".into(),
        Value::Array(_) => "an empty array".into(),
        other => type_name(other).into(),
    }
}

fn check_unique_names(list: &[Value], disk_paths: &[PathBuf], r: &mut Report) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, v) in list.iter().enumerate() {
        let Some(name) = v.get("name").and_then(Value::as_str) else { continue };
        if let Some(first) = seen.insert(name, i) {
            seen.insert(name, first);
            r.errors.push(Problem {
                place: format!("services[{i}] {name:?}"),
                field: Some("name".into()),
                message: format!("duplicate name, already used by services[{first}]"),
            });
        }
    }
    let mut disks: HashMap<String, usize> = HashMap::new();
    for (j, path) in disk_paths.iter().enumerate() {
        let name = disk_check_name(path);
        if let Some(first) = disks.insert(name.clone(), j) {
            disks.insert(name, first);
            r.errors.push(Problem {
                place: String::new(),
                field: Some("disk_paths".into()),
                message: format!("{} is listed twice (items {first} and {j})", path.display()),
            });
            continue;
        }
        if let Some(i) = seen.get(name.as_str()) {
            r.errors.push(Problem {
                place: format!("services[{i}] {name:?}"),
                field: Some("name".into()),
                message: format!(
                    "is the name of the built-in disk check on {}; rename the service or set \"disk_paths\": []",
                    path.display()
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// The keys of a configuration, named as [`Report::asked`] names them.
    fn keys_in(v: &Value) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        let mut add = |section: &str, v: &Value| {
            for k in v.as_object().into_iter().flat_map(Map::keys) {
                keys.insert(if section.is_empty() { k.clone() } else { format!("{section}.{k}") });
            }
        };
        add("", v);
        add("alerting", &v["alerting"]);
        add("alerting.alertmanager", &v["alerting"]["alertmanager"]);
        add("http", &v["http"]);
        add("http.basic_auth", &v["http"]["basic_auth"]);
        add("mcp", &v["mcp"]);
        for service in v["services"].as_array().into_iter().flatten() {
            add("services.basic_auth", &service["basic_auth"]);
        }
        for (section, list) in [
            ("services", &v["services"]),
            ("maintenance", &v["maintenance"]),
            ("alerting.webhooks", &v["alerting"]["webhooks"]),
            ("alerting.telegram_chats", &v["alerting"]["telegram_chats"]),
        ] {
            for item in list.as_array().into_iter().flatten() {
                add(section, item);
            }
        }
        for service in v["services"].as_array().into_iter().flatten() {
            for step in service["escalation"].as_array().into_iter().flatten() {
                add("services.escalation", step);
            }
        }
        keys
    }

    /// What the parser accepts is what docs/configuration.md documents and what
    /// examples/services.full.json shows: a key added to one without the others fails here.
    #[test]
    fn every_accepted_key_is_documented_and_in_the_full_example() {
        let text = fs::read_to_string(repo().join("examples/services.full.json")).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        let mut r = Report::default();
        read_config(
            Path::new("services.full.json"),
            value.as_object().unwrap(),
            &Env::default(),
            JobsAt { dir: None, since: None },
            &mut r,
        );
        assert!(r.errors.is_empty() && r.warnings.is_empty(), "{:?} {:?}", r.errors, r.warnings);
        let present = keys_in(&value);
        let missing: Vec<&String> = r.asked.iter().filter(|k| !present.contains(*k)).collect();
        assert!(missing.is_empty(), "examples/services.full.json lacks {missing:?}");
        let docs = fs::read_to_string(repo().join("docs/configuration.md")).unwrap();
        let undocumented: Vec<&String> = r
            .asked
            .iter()
            .filter(|k| !docs.contains(&format!("`{}`", k.rsplit('.').next().unwrap_or(k))))
            .collect();
        assert!(undocumented.is_empty(), "docs/configuration.md does not document {undocumented:?}");
        // Every check type is shown, so that every type's keys were asked for above.
        for kind in CheckKind::ALL {
            assert!(
                value["services"].as_array().unwrap().iter().any(|s| s["type"] == kind.as_str()),
                "the full example has no {kind} service"
            );
        }
    }

    #[test]
    fn durations_past_ten_years_are_refused_by_name() {
        let err = Config::parse(
            Path::new("s.json"),
            br#"{"check_interval_seconds": 1e300, "stalled_task_hours": 1e9,
                "services": [{"name": "A", "type": "port", "port": 1, "timeout_seconds": 315360001}]}"#,
            &Env::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("field `check_interval_seconds`: must be at most 315360000 (ten years)"),
            "{err}"
        );
        assert!(err.contains("field `stalled_task_hours`: must be at most 87600 (ten years)"), "{err}");
        assert!(err.contains(r#"services[0] "A": field `timeout_seconds`: must be at most"#), "{err}");
    }

    #[test]
    fn secrets_know_every_secret_of_the_configuration() {
        let json = r#"{"services": [
              {"name": "A", "target": "https://probe:s3cret-probe-pw@a.example/x", "headers": {"X-Key": "header-value-1234"}},
              {"name": "B", "target": "https://b.example", "basic_auth": {"user": "bob", "password": "basic-pw-5678"}},
              {"name": "C", "target": "https://c.example", "bearer_token": "bearer-token-9012"}],
            "alerting": {"telegram_bot_token": "123456:TOKEN-KEY-abcdef", "telegram_chat_id": "1",
              "proxy": "http://px:proxy-pw-3456@proxy.example:3128",
              "webhooks": [{"name": "hook", "url": "https://hooks.example/services/T000/B000/hook-path-secret",
                            "headers": {"Authorization": "Bearer hook-header-7890"}}]}}"#;
        let config = Config::parse(Path::new("s.json"), json.as_bytes(), &Env::default()).unwrap().config;
        let secrets = config.secrets();
        for planted in [
            "s3cret-probe-pw",
            "header-value-1234",
            "basic-pw-5678",
            "bearer-token-9012",
            "123456:TOKEN-KEY-abcdef",
            "TOKEN-KEY-abcdef",
            "proxy-pw-3456",
            "/services/T000/B000/hook-path-secret",
            "Bearer hook-header-7890",
        ] {
            let text =
                format!("before {planted} after, and percent-encoded: {}", planted.replace(':', "%3A"));
            let out = secrets.redact(&text);
            assert!(!out.contains(planted) && out.contains("[redacted]"), "{planted}: {out}");
        }
        assert_eq!(secrets.redact("passed 3 of 4 checks"), "passed 3 of 4 checks");
        assert_eq!(
            secrets.redact("https://b.example/health"),
            "https://b.example/health",
            "a target is no secret"
        );
    }

    #[test]
    fn mcp_allow_names_each_change_and_refuses_others_by_name() {
        let parse = |json: &str| Config::parse(Path::new("s.json"), json.as_bytes(), &Env::default());
        assert!(parse("{}").unwrap().config.mcp.allow.is_empty(), "nothing is allowed by default");
        let mcp = parse(r#"{"mcp": {"allow": ["restart", "board", "board"]}}"#).unwrap().config.mcp;
        assert_eq!(mcp.allow, [McpChange::Restart, McpChange::Board]);
        assert!(mcp.allows(McpChange::Board) && !mcp.allows(McpChange::Ack));
        for (bad, says) in [
            (
                r#"{"allow": ["reboot"]}"#,
                r#"field `allow`: "reboot" is not one of board, silence, ack, alert, restart"#,
            ),
            (r#"{"allow": [1]}"#, "field `allow`: item 0 must be a name (a string), got 1"),
            (r#"{"allow": "board"}"#, "field `allow`: must be an array, got a string"),
            ("[]", "field `mcp`: must be an object, got an array"),
        ] {
            let err = parse(&format!(r#"{{"mcp": {bad}}}"#)).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let warned = parse(r#"{"mcp": {"alow": []}}"#).unwrap().warnings;
        assert!(warned[0].to_string().contains("did you mean `allow`?"), "{warned:?}");
    }

    #[test]
    fn rollup_retention_days_defaults_to_ten_years_and_is_checked_by_name() {
        let parse = |json: &str| Config::parse(Path::new("s.json"), json.as_bytes(), &Env::default());
        assert_eq!(parse("{}").unwrap().config.rollup_retention_days, DEFAULT_ROLLUP_RETENTION_DAYS);
        assert_eq!(parse(r#"{"rollup_retention_days": 400}"#).unwrap().config.rollup_retention_days, 400);
        for bad in ["0", "36501", "1.5", "\"400\"", "-3"] {
            let err = parse(&format!(r#"{{"rollup_retention_days": {bad}}}"#)).unwrap_err().to_string();
            assert!(err.contains("field `rollup_retention_days`: must be"), "{bad}: {err}");
        }
    }
}
