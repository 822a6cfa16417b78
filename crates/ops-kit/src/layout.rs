//! The `~/.agent-ops` directory layout, its environment overrides, and the check that no other
//! user can change the directories agent-ops writes in.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{ConfigError, Env};

/// Why the configuration path is what it is (said in "not found" errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigOrigin {
    /// `--config` on the command line.
    Flag,
    /// `AGENT_OPS_CONFIG`.
    EnvConfig,
    /// `<base>/config/services.json`, with the base from `AGENT_OPS_HOME` or `~/.agent-ops`.
    Default,
}

impl fmt::Display for ConfigOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Flag => "given with --config",
            Self::EnvConfig => "from AGENT_OPS_CONFIG",
            Self::Default => "the default location",
        })
    }
}

/// Where everything lives. Only this crate knows the layout; the leaf crates get paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The base directory: `AGENT_OPS_HOME` or `~/.agent-ops`.
    pub base: PathBuf,
    /// services.json.
    pub config: PathBuf,
    /// How `config` was chosen.
    pub config_origin: ConfigOrigin,
    /// Logs: `AGENT_OPS_LOG_DIR` or `<base>/logs`.
    pub logs: PathBuf,
    /// Metrics day files: `AGENT_OPS_METRICS_DIR` or `<base>/metrics`.
    pub metrics: PathBuf,
    /// State files (board, alert rate, recovery ...): `<base>/state`.
    pub state: PathBuf,
    /// Helper scripts: `<base>/scripts`.
    pub scripts: PathBuf,
}

impl Layout {
    /// The layout for `env` ([`Layout::resolve`] without a `--config`).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Self::resolve(env, None)
    }

    /// The layout for `env`, reading its configuration from `config` when given (a binary's
    /// `--config` flag). Fails when neither `AGENT_OPS_HOME` nor `HOME` is set, and
    /// ([`ConfigError::Insecure`]) when another user could change the state, metrics or logs
    /// directory or services.json, as ssh's StrictModes refuses (see
    /// [`ops_state::check_permissions`]), unless `env` relaxes it
    /// (`AGENT_OPS_STRICT_PERMISSIONS=0`). Every binary starts here, so the check runs once
    /// per run, before anything is written.
    pub fn resolve(env: &Env, config: Option<&Path>) -> Result<Self, ConfigError> {
        let layout = Self::paths(env)?;
        let layout = match config {
            Some(path) => layout.with_config(path),
            None => layout,
        };
        if !env.relaxed_permissions {
            layout.check_permissions()?;
        }
        Ok(layout)
    }

    fn check_permissions(&self) -> Result<(), ConfigError> {
        let places = [
            ("state directory", &self.state),
            ("metrics directory", &self.metrics),
            ("logs directory", &self.logs),
            ("configuration file", &self.config),
        ];
        for (what, path) in places {
            ops_state::check_permissions(path).map_err(|source| ConfigError::Insecure {
                what,
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Where everything is, from `env` alone.
    pub(crate) fn paths(env: &Env) -> Result<Self, ConfigError> {
        let base = match (&env.agent_ops_home, &env.home) {
            (Some(base), _) => PathBuf::from(base),
            (None, Some(home)) => Path::new(home).join(".agent-ops"),
            (None, None) => return Err(ConfigError::NoHome),
        };
        let (config, config_origin) = match &env.config {
            Some(p) => (PathBuf::from(p), ConfigOrigin::EnvConfig),
            None => (base.join("config").join("services.json"), ConfigOrigin::Default),
        };
        Ok(Self {
            config,
            config_origin,
            logs: env.log_dir.as_ref().map_or_else(|| base.join("logs"), PathBuf::from),
            metrics: env.metrics_dir.as_ref().map_or_else(|| base.join("metrics"), PathBuf::from),
            state: base.join("state"),
            scripts: base.join("scripts"),
            base,
        })
    }

    /// The same layout reading its configuration from `path` (the `--config` flag).
    #[must_use]
    pub fn with_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.config = path.into();
        self.config_origin = ConfigOrigin::Flag;
        self
    }

    /// The task board, `state/board.json` (locked through `state/board.lock`, archived to
    /// `state/board-archive.jsonl`: the Python kit's files).
    pub fn board(&self) -> PathBuf {
        self.state.join("board.json")
    }

    /// The Python kit's `{topic: unix_seconds}` of the last alert per topic.
    pub fn alert_rate(&self) -> PathBuf {
        self.state.join("alert-rate.json")
    }

    /// Alerts not yet confirmed by their destination, in order (with `.lock`,
    /// `.delivery.lock` and `.bad` beside it).
    pub fn alert_outbox(&self) -> PathBuf {
        self.state.join("alert-outbox.jsonl")
    }

    /// The lock an orchestrator pass holds from start to end.
    pub fn pass_lock(&self) -> PathBuf {
        self.state.join("orchestrator.lock")
    }

    /// Per-service memory between passes (thresholds, reminders, outage start).
    pub fn outages(&self) -> PathBuf {
        self.state.join("outages.json")
    }

    /// The Python kit's `{service: bool}` of the last pass.
    pub fn last_status(&self) -> PathBuf {
        self.state.join("last-status.json")
    }

    /// The Python kit's restart bookkeeping.
    pub fn recovery(&self) -> PathBuf {
        self.state.join("recovery.json")
    }

    /// Silences set with `orchestrator silence`.
    pub fn silences(&self) -> PathBuf {
        self.state.join("silences.json")
    }

    /// Acknowledged outages (`orchestrator ack`): `{service: {outage, at, by, note}}`.
    pub fn acks(&self) -> PathBuf {
        self.state.join("acks.json")
    }

    /// Incidents that are over, one JSON line each (ops-metrics' incident log).
    pub fn incidents(&self) -> PathBuf {
        self.state.join("incidents.jsonl")
    }

    /// Stalled tasks already alerted: `{task_id: unix_seconds}`.
    pub fn stalled_alerts(&self) -> PathBuf {
        self.state.join("stalled-alerts.json")
    }

    /// When the last pass ran and how it went.
    pub fn heartbeat(&self) -> PathBuf {
        self.state.join("heartbeat.json")
    }

    /// The jobs' state files: `state/jobs/` (ops-jobs names the files in it: `NAME.json`,
    /// its lock and backup, the wrappers' `NAME.run-ID.lock`).
    pub fn jobs(&self) -> PathBuf {
        self.state.join("jobs")
    }

    /// The log of a job's runs (`job run`'s output and a line at each start and end):
    /// `job-NAME.log`, rotated with the other logs. A job name is a file name already.
    pub fn job_log(&self, job: &ops_jobs::JobName) -> PathBuf {
        self.logs.join(format!("job-{job}.log"))
    }

    /// The orchestrator's log.
    pub fn orchestrator_log(&self) -> PathBuf {
        self.logs.join("orchestrator.log")
    }

    /// The log of a service's restart commands: `restart-<name>.log`, the name made safe for a
    /// file name (lowercase ASCII letters, digits, `-` and `_`).
    pub fn restart_log(&self, service: &str) -> PathBuf {
        let slug: String =
            service
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
        self.logs.join(format!("restart-{}.log", slug.trim_matches('-')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_under_home() {
        let env = Env { home: Some("/home/u".into()), ..Env::default() };
        let l = Layout::paths(&env).unwrap();
        assert_eq!(l.base, Path::new("/home/u/.agent-ops"));
        assert_eq!(l.config, Path::new("/home/u/.agent-ops/config/services.json"));
        assert_eq!(l.config_origin, ConfigOrigin::Default);
        assert_eq!(l.logs, Path::new("/home/u/.agent-ops/logs"));
        assert_eq!(l.metrics, Path::new("/home/u/.agent-ops/metrics"));
        assert_eq!(l.state, Path::new("/home/u/.agent-ops/state"));
    }

    #[test]
    fn every_override() {
        let env = Env {
            home: Some("/home/u".into()),
            agent_ops_home: Some("/srv/ops".into()),
            config: Some("/etc/ops/services.json".into()),
            log_dir: Some("/var/log/ops".into()),
            metrics_dir: Some("/var/lib/ops/metrics".into()),
            ..Env::default()
        };
        let l = Layout::paths(&env).unwrap();
        assert_eq!(l.base, Path::new("/srv/ops"));
        assert_eq!(l.config, Path::new("/etc/ops/services.json"));
        assert_eq!(l.config_origin, ConfigOrigin::EnvConfig);
        assert_eq!(l.logs, Path::new("/var/log/ops"));
        assert_eq!(l.metrics, Path::new("/var/lib/ops/metrics"));
        assert_eq!(l.state, Path::new("/srv/ops/state"));
        let l = l.with_config("x.json");
        assert_eq!((l.config.as_path(), l.config_origin), (Path::new("x.json"), ConfigOrigin::Flag));
    }

    #[test]
    fn no_home_is_an_error() {
        assert!(matches!(Layout::from_env(&Env::default()), Err(ConfigError::NoHome)));
    }

    fn sandbox() -> (tempfile::TempDir, Env) {
        let dir = tempfile::tempdir().unwrap();
        let env = Env { agent_ops_home: Some(dir.path().join("ops").into()), ..Env::default() };
        (dir, env)
    }

    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_directory_another_user_could_change_is_refused_unless_relaxed() {
        let (dir, env) = sandbox();
        let base = dir.path().join("ops");
        assert!(Layout::from_env(&env).is_ok(), "nothing exists yet: what we create is ours");
        for sub in ["state", "metrics", "logs"] {
            std::fs::create_dir_all(base.join(sub)).unwrap();
        }
        Layout::from_env(&env).unwrap();
        for (sub, what) in
            [("state", "state directory"), ("metrics", "metrics directory"), ("logs", "logs directory")]
        {
            chmod(&base.join(sub), 0o775);
            let e = Layout::from_env(&env).unwrap_err();
            assert!(matches!(e, ConfigError::Insecure { .. }), "{e}");
            let text = e.to_string();
            let at = base.join(sub);
            assert!(
                text.starts_with(&format!(
                    "refusing the {what} {}: {} is group-writable without the sticky bit (mode 0775)",
                    at.display(),
                    at.display()
                )),
                "{text}"
            );
            assert!(text.contains("AGENT_OPS_STRICT_PERMISSIONS=0"), "{text}");
            let relaxed = Env { relaxed_permissions: true, ..env.clone() };
            assert_eq!(Layout::from_env(&relaxed).unwrap().state, base.join("state"));
            // A shared directory with the sticky bit, like /tmp, is fine.
            chmod(&base.join(sub), 0o1777);
            Layout::from_env(&env).unwrap();
            chmod(&base.join(sub), 0o755);
        }
        // The base, above them all, counts as much.
        chmod(&base, 0o757);
        let e = Layout::from_env(&env).unwrap_err().to_string();
        assert!(e.contains(&format!(": {} is world-writable without the sticky bit", base.display())), "{e}");
    }

    #[test]
    fn a_services_json_another_user_could_change_is_refused() {
        let (dir, env) = sandbox();
        let config = dir.path().join("elsewhere/services.json");
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::write(&config, "{}").unwrap();
        Layout::resolve(&env, Some(&config)).unwrap();
        chmod(&config, 0o666);
        let e = Layout::resolve(&env, Some(&config)).unwrap_err().to_string();
        assert!(e.starts_with(&format!("refusing the configuration file {}: ", config.display())), "{e}");
        assert!(e.contains("is group- and world-writable (mode 0666)"), "{e}");
        chmod(&config, 0o644);
        chmod(config.parent().unwrap(), 0o777);
        assert!(Layout::resolve(&env, Some(&config)).is_err(), "its directory counts too");
    }

    #[test]
    fn a_directory_the_user_symlinked_elsewhere_is_accepted_and_judged_there() {
        let (dir, env) = sandbox();
        let disk = dir.path().join("disk");
        std::fs::create_dir_all(disk.join("metrics")).unwrap();
        std::fs::create_dir_all(dir.path().join("ops")).unwrap();
        std::os::unix::fs::symlink(disk.join("metrics"), dir.path().join("ops/metrics")).unwrap();
        Layout::from_env(&env).unwrap();
        chmod(&disk, 0o770);
        let e = Layout::from_env(&env).unwrap_err().to_string();
        assert!(e.contains(&format!(": {} is group-writable", disk.display())), "{e}");
    }
}
