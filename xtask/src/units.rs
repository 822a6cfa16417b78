//! The systemd units and the launchd property list that run the orchestrator: pure functions
//! of a [`Spec`] (the documented options, resolved to paths). Nothing here touches the disk.
//!
//! Timer mode runs one pass per interval (`orchestrator`, exit 0 healthy, 1 failures remain,
//! 2 configuration error); daemon mode runs `orchestrator --loop`, which exits 0 on SIGTERM and
//! non-zero only on a fatal error.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

/// The launchd label, and the plist's file name without `.plist`.
pub const LABEL: &str = "com.agent-ops.orchestrator";
/// The systemd service (both modes).
pub const SERVICE: &str = "agent-ops.service";
/// The systemd timer (timer mode).
pub const TIMER: &str = "agent-ops.timer";
/// The seconds after boot before the first pass (systemd timer mode).
pub const ON_BOOT_SEC: u32 = 60;

/// Which service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// Linux: units under `~/.config/systemd/user` or `/etc/systemd/system`.
    Systemd,
    /// macOS: a plist under `~/Library/LaunchAgents` or `/Library/LaunchDaemons`.
    Launchd,
}

/// Whose service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The user's own manager: no root needed.
    User,
    /// The system manager, running as `User=` / `UserName`.
    System,
}

/// How the orchestrator is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One pass every interval, started by the service manager.
    Timer,
    /// `orchestrator --loop`, kept running by the service manager.
    Daemon,
}

macro_rules! names {
    ($t:ty { $($v:ident = $s:literal),* }) => {
        impl $t {
            /// Every value, in documentation order.
            pub const ALL: &[Self] = &[$(Self::$v),*];
            /// The command-line spelling.
            pub fn name(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            /// Parses the command-line spelling.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == s)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}
names!(Init { Systemd = "systemd", Launchd = "launchd" });
names!(Scope { User = "user", System = "system" });
names!(Mode { Timer = "timer", Daemon = "daemon" });

/// Everything a unit or plist depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// systemd or launchd.
    pub init: Init,
    /// user or system.
    pub scope: Scope,
    /// timer or daemon.
    pub mode: Mode,
    /// Seconds between passes (timer mode; daemon mode reads `check_interval_seconds`).
    pub interval: u32,
    /// The directory holding the binaries.
    pub prefix: PathBuf,
    /// `AGENT_OPS_HOME`: config, logs, metrics, state.
    pub data: PathBuf,
    /// The account the service runs as (written only in system scope).
    pub user: String,
    /// The directories of the service's PATH between the prefix and the system directories:
    /// the installing user's PATH, or `--path`.
    pub path: Vec<PathBuf>,
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Its file name in the unit directory.
    pub name: &'static str,
    /// Its contents.
    pub text: String,
}

impl Spec {
    /// The orchestrator binary the service runs.
    pub fn orchestrator(&self) -> PathBuf {
        self.prefix.join("orchestrator")
    }

    /// The PATH the service runs with: the prefix first (restart commands may call our
    /// binaries), then [`Spec::path`] (the tools a restart command finds in the user's shell),
    /// then the usual system directories it lacks; each directory once.
    pub fn path_env(&self) -> String {
        let system = match self.init {
            Init::Systemd => "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
            Init::Launchd => "/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        };
        let mut dirs: Vec<&Path> = vec![&self.prefix];
        for dir in self.path.iter().map(PathBuf::as_path).chain(system.split(':').map(Path::new)) {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":")
    }

    /// The options of `cargo xtask install-service` that produce this spec's files, paths
    /// aside.
    pub fn flags(&self) -> String {
        let mut s = format!("--init {} --scope {} --mode {}", self.init, self.scope, self.mode);
        if self.mode == Mode::Timer {
            let _ = write!(s, " --interval {}", self.interval);
        }
        s
    }

    /// The generated files, in installation order.
    pub fn render(&self) -> Result<Vec<Rendered>, String> {
        self.validate()?;
        Ok(match self.init {
            Init::Systemd => {
                let mut files = vec![Rendered { name: SERVICE, text: self.systemd_service() }];
                if self.mode == Mode::Timer {
                    files.push(Rendered { name: TIMER, text: self.systemd_timer() });
                }
                files
            }
            Init::Launchd => vec![Rendered { name: plist_name(), text: self.plist() }],
        })
    }

    /// Paths and the user name go into unit files and XML: refuse what cannot be written
    /// there faithfully.
    fn validate(&self) -> Result<(), String> {
        let dirs = [("the prefix", &self.prefix), ("AGENT_OPS_HOME", &self.data)].into_iter();
        for (what, path) in dirs.chain(self.path.iter().map(|p| ("the PATH entry", p))) {
            let Some(s) = path.to_str() else {
                return Err(format!("{what} {} is not valid UTF-8", path.display()));
            };
            if !path.is_absolute() {
                return Err(format!("{what} must be an absolute path, got {s:?}"));
            }
            let in_path = what != "AGENT_OPS_HOME";
            if s.chars().any(|c| c.is_control() || c == ':' && in_path) {
                return Err(format!(
                    "{what} {s:?} holds a control character{}",
                    if in_path { " or a ':' (it goes into PATH)" } else { "" }
                ));
            }
        }
        let user_ok = !self.user.is_empty()
            && self.user.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !self.user.starts_with('-');
        if !user_ok {
            return Err(format!("user name {:?}: use letters, digits, '.', '_' and '-'", self.user));
        }
        if self.mode == Mode::Timer && self.interval == 0 {
            return Err("--interval must be at least 1 second".into());
        }
        Ok(())
    }

    fn header(&self, comment: &str) -> String {
        format!(
            "{comment} agent-ops orchestrator, generated by `cargo xtask install-service {}`.\n\
             {comment} Edits are lost at the next install; see docs/install.md in the agent-ops repository.\n",
            self.flags()
        )
    }

    fn systemd_service(&self) -> String {
        let mut s = self.header("#");
        s.push_str("\n[Unit]\n");
        match self.mode {
            Mode::Timer => s.push_str("Description=agent-ops: one pass of checks, restarts and alerts\n"),
            Mode::Daemon => s.push_str("Description=agent-ops orchestrator: checks, restarts and alerts\n"),
        }
        if self.scope == Scope::System {
            // The user manager has no network-online.target; the system one does.
            s.push_str("Wants=network-online.target\nAfter=network-online.target\n");
        }
        s.push_str("\n[Service]\n");
        let exe = systemd_arg(&self.orchestrator().display().to_string());
        match self.mode {
            Mode::Timer => {
                let _ = writeln!(s, "Type=oneshot\nExecStart={exe}");
                s.push_str(
                    "# 1 means \"monitored services are failing\": the orchestrator has handled and alerted it,\n\
                     # so the unit is not failed. 2 (configuration error) and crashes still fail it.\n\
                     SuccessExitStatus=1\n\
                     # A safety net: a pass bounds its own checks, restarts and alerts far below this.\n\
                     TimeoutStartSec=15min\n",
                );
            }
            Mode::Daemon => {
                let _ = writeln!(s, "Type=exec\nExecStart={exe} --loop\nRestart=on-failure\nRestartSec=10");
                s.push_str(
                    "# Two malloc arenas: a pass's concurrent checks otherwise leave freed memory in up to\n\
                     # eight arenas per core, which the daemon keeps (measured: ~14 MiB instead of ~16-18).\n\
                     Environment=MALLOC_ARENA_MAX=2\n",
                );
            }
        }
        let _ =
            writeln!(s, "Environment={}", systemd_arg(&format!("AGENT_OPS_HOME={}", self.data.display())));
        let _ = writeln!(s, "Environment={}", systemd_arg(&format!("PATH={}", self.path_env())));
        if self.scope == Scope::System {
            let _ = writeln!(s, "User={}", self.user);
        }
        if self.mode == Mode::Daemon {
            let target = match self.scope {
                Scope::User => "default.target",
                Scope::System => "multi-user.target",
            };
            let _ = write!(s, "\n[Install]\nWantedBy={target}\n");
        }
        s
    }

    fn systemd_timer(&self) -> String {
        let mut s = self.header("#");
        let _ = write!(
            s,
            "\n[Unit]\nDescription=agent-ops: a pass every {i} s\n\n\
             [Timer]\n\
             # On a machine that booted over a minute ago OnBootSec= is past, so the first pass runs at once.\n\
             OnBootSec={ON_BOOT_SEC}\nOnUnitActiveSec={i}\nAccuracySec=1s\n\n\
             [Install]\nWantedBy=timers.target\n",
            i = self.interval
        );
        s
    }

    fn plist(&self) -> String {
        let logs = self.data.join("logs");
        let mut s = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n",
        );
        // No option names here: "--" may not appear inside an XML comment.
        s.push_str(
            "<!-- agent-ops orchestrator, generated by cargo xtask install-service.\n     \
             Edits are lost at the next install; see docs/install.md in the agent-ops repository. -->\n",
        );
        s.push_str("<plist version=\"1.0\">\n<dict>\n");
        key_string(&mut s, 1, "Label", LABEL);
        s.push_str("\t<key>ProgramArguments</key>\n\t<array>\n");
        let _ = writeln!(s, "\t\t<string>{}</string>", xml(&self.orchestrator().display().to_string()));
        if self.mode == Mode::Daemon {
            s.push_str("\t\t<string>--loop</string>\n");
        }
        s.push_str("\t</array>\n");
        match self.mode {
            Mode::Timer => {
                let _ = writeln!(s, "\t<key>StartInterval</key>\n\t<integer>{}</integer>", self.interval);
            }
            Mode::Daemon => s.push_str("\t<key>KeepAlive</key>\n\t<true/>\n"),
        }
        s.push_str("\t<key>RunAtLoad</key>\n\t<true/>\n");
        if self.scope == Scope::System {
            key_string(&mut s, 1, "UserName", &self.user);
        }
        key_string(&mut s, 1, "StandardOutPath", &logs.join("launchd-stdout.log").display().to_string());
        key_string(&mut s, 1, "StandardErrorPath", &logs.join("launchd-stderr.log").display().to_string());
        s.push_str("\t<key>EnvironmentVariables</key>\n\t<dict>\n");
        key_string(&mut s, 2, "AGENT_OPS_HOME", &self.data.display().to_string());
        key_string(&mut s, 2, "PATH", &self.path_env());
        s.push_str("\t</dict>\n</dict>\n</plist>\n");
        s
    }
}

/// `com.agent-ops.orchestrator.plist`.
pub fn plist_name() -> &'static str {
    "com.agent-ops.orchestrator.plist"
}

/// Where the files of `init` and `scope` go, for a user whose home is `home`.
pub fn unit_dir(init: Init, scope: Scope, home: &Path) -> PathBuf {
    match (init, scope) {
        (Init::Systemd, Scope::User) => home.join(".config/systemd/user"),
        (Init::Systemd, Scope::System) => PathBuf::from("/etc/systemd/system"),
        (Init::Launchd, Scope::User) => home.join("Library/LaunchAgents"),
        (Init::Launchd, Scope::System) => PathBuf::from("/Library/LaunchDaemons"),
    }
}

/// One word of a systemd command line or assignment: quoted when it must be, with `%`
/// (specifiers) escaped. `$` stays as it is: systemd expands no variables in the program path
/// (the first word of ExecStart=) nor in Environment= values, the only places we write paths.
fn systemd_arg(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('"', "\\\"").replace('%', "%%");
    if escaped.chars().any(|c| c.is_whitespace() || "\"'\\;".contains(c)) {
        format!("\"{escaped}\"")
    } else {
        escaped
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn key_string(s: &mut String, depth: usize, key: &str, value: &str) {
    let tabs = "\t".repeat(depth);
    let _ = writeln!(s, "{tabs}<key>{}</key>\n{tabs}<string>{}</string>", xml(key), xml(value));
}

/// The PATH of the documented example user `alice` (in her home directory `home`), which the
/// files under `dist/` record: what `--path ~/.local/bin:/usr/local/bin:/usr/bin:/bin` gives.
pub fn documented_path(home: &Path) -> Vec<PathBuf> {
    vec![home.join(".local/bin"), "/usr/local/bin".into(), "/usr/bin".into(), "/bin".into()]
}

/// The specs whose files are committed under `dist/`: every init, scope and mode, for the
/// documented example user `alice` with the default paths and interval and
/// [`documented_path`].
pub fn documented() -> Vec<(PathBuf, Spec)> {
    let mut out = Vec::new();
    for &init in Init::ALL {
        let home = match init {
            Init::Systemd => Path::new("/home/alice"),
            Init::Launchd => Path::new("/Users/alice"),
        };
        for &scope in Scope::ALL {
            for &mode in Mode::ALL {
                let spec = Spec {
                    init,
                    scope,
                    mode,
                    interval: 300,
                    prefix: home.join(".agent-ops/bin"),
                    data: home.join(".agent-ops"),
                    user: "alice".into(),
                    path: documented_path(home),
                };
                out.push((PathBuf::from(format!("{init}/{scope}-{mode}")), spec));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(init: Init, scope: Scope, mode: Mode) -> Spec {
        Spec {
            init,
            scope,
            mode,
            interval: 120,
            prefix: "/opt/agent ops/bin".into(),
            data: "/srv/ops".into(),
            user: "ops".into(),
            path: vec!["/home/ops/100% tools/bin".into(), "/usr/bin".into(), "/opt/R&D <x>/bin".into()],
        }
    }

    #[test]
    fn systemd_timer_mode_is_a_oneshot_pass_and_a_timer() {
        let files = spec(Init::Systemd, Scope::User, Mode::Timer).render().unwrap();
        let names: Vec<_> = files.iter().map(|f| f.name).collect();
        assert_eq!(names, [SERVICE, TIMER]);
        let service = &files[0].text;
        for line in [
            "Type=oneshot\n",
            "ExecStart=\"/opt/agent ops/bin/orchestrator\"\n",
            "SuccessExitStatus=1\n",
            "Environment=AGENT_OPS_HOME=/srv/ops\n",
            "Environment=\"PATH=/opt/agent ops/bin:/home/ops/100%% tools/bin:/usr/bin:/opt/R&D <x>/bin:\
             /usr/local/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin\"\n",
        ] {
            assert!(service.contains(line), "{line:?} not in\n{service}");
        }
        assert!(!service.contains("User=") && !service.contains("network-online"), "{service}");
        assert!(!service.contains("[Install]"), "the timer, not the service, is enabled");
        let timer = &files[1].text;
        for line in ["OnBootSec=60\n", "OnUnitActiveSec=120\n", "WantedBy=timers.target\n"] {
            assert!(timer.contains(line), "{line:?} not in\n{timer}");
        }
    }

    #[test]
    fn systemd_daemon_mode_restarts_on_failure_and_system_scope_names_the_user() {
        let files = spec(Init::Systemd, Scope::System, Mode::Daemon).render().unwrap();
        assert_eq!(files.len(), 1);
        let service = &files[0].text;
        for line in [
            "Type=exec\n",
            "ExecStart=\"/opt/agent ops/bin/orchestrator\" --loop\n",
            "Restart=on-failure\n",
            "Environment=MALLOC_ARENA_MAX=2\n",
            "User=ops\n",
            "After=network-online.target\n",
            "WantedBy=multi-user.target\n",
        ] {
            assert!(service.contains(line), "{line:?} not in\n{service}");
        }
        assert!(!service.contains("SuccessExitStatus"), "{service}");
        let user = spec(Init::Systemd, Scope::User, Mode::Daemon).render().unwrap();
        assert!(user[0].text.contains("WantedBy=default.target\n"));
    }

    #[test]
    fn launchd_plists_have_absolute_paths_and_the_mode_key() {
        let timer = &spec(Init::Launchd, Scope::User, Mode::Timer).render().unwrap()[0];
        assert_eq!(timer.name, "com.agent-ops.orchestrator.plist");
        for part in [
            "<key>Label</key>\n\t<string>com.agent-ops.orchestrator</string>",
            "<string>/opt/agent ops/bin/orchestrator</string>\n\t</array>",
            "<key>StartInterval</key>\n\t<integer>120</integer>",
            "<string>/srv/ops/logs/launchd-stdout.log</string>",
            "<key>AGENT_OPS_HOME</key>\n\t\t<string>/srv/ops</string>",
            "<key>PATH</key>\n\t\t<string>/opt/agent ops/bin:/home/ops/100% tools/bin:/usr/bin:\
             /opt/R&amp;D &lt;x&gt;/bin:/opt/homebrew/bin:/usr/local/bin:/bin:/usr/sbin:/sbin</string>",
        ] {
            assert!(timer.text.contains(part), "{part:?} not in\n{}", timer.text);
        }
        assert!(!timer.text.contains('~') && !timer.text.contains("UserName"));
        let daemon = &spec(Init::Launchd, Scope::System, Mode::Daemon).render().unwrap()[0];
        for part in [
            "<string>--loop</string>",
            "<key>KeepAlive</key>\n\t<true/>",
            "<key>UserName</key>\n\t<string>ops</string>",
        ] {
            assert!(daemon.text.contains(part), "{part:?} not in\n{}", daemon.text);
        }
        assert!(!daemon.text.contains("StartInterval"));
    }

    #[test]
    fn special_characters_are_escaped_or_refused() {
        assert_eq!(systemd_arg("/a/b"), "/a/b");
        assert_eq!(systemd_arg("/a b/100%/$x"), "\"/a b/100%%/$x\"");
        assert_eq!(systemd_arg("PATH=/a\"b"), "\"PATH=/a\\\"b\"");
        assert_eq!(xml("a&b<c>"), "a&amp;b&lt;c&gt;");
        let mut s = spec(Init::Systemd, Scope::User, Mode::Timer);
        s.prefix = "relative/bin".into();
        assert!(s.render().unwrap_err().contains("absolute"));
        s.prefix = "/a:b".into();
        assert!(s.render().unwrap_err().contains("PATH"));
        s.prefix = "/a\nb".into();
        assert!(s.render().unwrap_err().contains("control"));
        let mut s = spec(Init::Launchd, Scope::User, Mode::Timer);
        s.path.push("relative/bin".into());
        assert!(s.render().unwrap_err().starts_with("the PATH entry must be an absolute path"));
        s.path = vec!["/a\tb".into()];
        assert!(s.render().unwrap_err().contains("control character"));
        let mut s = spec(Init::Systemd, Scope::System, Mode::Timer);
        s.user = "bad user".into();
        assert!(s.render().unwrap_err().contains("user name"));
        s.user = "ops".into();
        s.interval = 0;
        assert!(s.render().unwrap_err().contains("interval"));
    }

    #[test]
    fn the_path_is_the_prefix_then_the_users_directories_then_the_missing_system_ones() {
        let mut s = spec(Init::Systemd, Scope::User, Mode::Daemon);
        s.path = vec![
            "/opt/agent ops/bin".into(),
            "/sbin/".into(),
            "/home/ops/bin".into(),
            "/home/ops/bin".into(),
        ];
        assert_eq!(
            s.path_env(),
            "/opt/agent ops/bin:/sbin/:/home/ops/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin"
        );
        s.path.clear();
        assert_eq!(
            s.path_env(),
            "/opt/agent ops/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
        );
    }

    #[test]
    fn documented_specs_cover_every_combination_once() {
        let docs = documented();
        assert_eq!(docs.len(), Init::ALL.len() * Scope::ALL.len() * Mode::ALL.len());
        let mut dirs: Vec<_> = docs.iter().map(|(d, _)| d.clone()).collect();
        dirs.dedup();
        assert_eq!(dirs.len(), docs.len());
    }
}
