//! `cargo xtask install-service` and `cargo xtask uninstall-service`: build the release
//! binaries, install them under the prefix, create `~/.agent-ops`, write a starter
//! services.json when there is none, write the systemd units or the launchd plist (rendered by
//! `units`), and enable them. `--dry-run` writes only to `--out` and prints what it would do.
//!
//! Everything to be done is first collected into a [`Plan`]; carrying it out and printing it
//! are the same walk over the plan, so the dry run shows exactly what a real run does.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bins::{self, Profile};
use crate::units::{self, Init, Mode, Scope, Spec};

const USAGE_INSTALL: &str = "\
usage: cargo xtask install-service [--init systemd|launchd|auto] [--scope user|system]
                                   [--mode timer|daemon] [--interval SECS] [--prefix DIR]
                                   [--user NAME] [--path PATH] [--no-build] [--files-only]
                                   [--dry-run [--out DIR]]

  --init        service manager; auto (default): launchd on macOS, systemd elsewhere
  --scope       user (default): your own manager, no root; system: runs as --user, needs sudo
  --mode        timer (default): one pass every --interval; daemon: `orchestrator --loop`
  --interval    seconds between passes in timer mode (default 300; also written to a new
                services.json as check_interval_seconds, which daemon mode uses)
  --prefix      where the binaries go (default $AGENT_OPS_HOME/bin, i.e. ~/.agent-ops/bin)
  --user        system scope: the account the service runs as (default: you)
  --path        the service's PATH between the prefix and the system directories, so that
                restart commands find the tools of your shell (default: your PATH now,
                without entries that are not absolute or do not exist)
  --no-build    install the binaries already in target/release instead of building them
  --files-only  write the files but run no systemctl or launchctl (images, config management)
  --dry-run     change nothing; print every step; with --out DIR, write the generated
                files (units or plist, starter services.json) into DIR to read them
";

const USAGE_UNINSTALL: &str = "\
usage: cargo xtask uninstall-service [--init systemd|launchd|auto] [--scope user|system]
                                     [--prefix DIR] [--files-only] [--dry-run]

Stops and removes the service and the installed binaries; keeps services.json, logs, metrics
and state.
";

/// The starter configuration (`examples/services.starter.json`, parsed by ops-kit's tests),
/// with `check_interval_seconds` set to the chosen interval.
const STARTER: &str = include_str!("../../examples/services.starter.json");
const STARTER_INTERVAL: &str = "\"check_interval_seconds\": 300";

/// The sub-directories of `AGENT_OPS_HOME`.
const DATA_DIRS: [&str; 5] = ["config", "logs", "metrics", "scripts", "state"];

#[derive(Debug, Clone)]
struct Opts {
    init: Init,
    scope: Scope,
    mode: Mode,
    interval: Option<u32>,
    prefix: Option<PathBuf>,
    user: Option<String>,
    path: Option<Vec<PathBuf>>,
    build: bool,
    files_only: bool,
    dry_run: bool,
    out: Option<PathBuf>,
}

/// Which of the two tasks a command line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    Install,
    Uninstall,
}

fn parse(args: &[String], task: Task) -> Result<Option<Opts>, String> {
    let mut o = Opts {
        init: auto_init(),
        scope: Scope::User,
        mode: Mode::Timer,
        interval: None,
        prefix: None,
        user: None,
        path: None,
        build: true,
        files_only: false,
        dry_run: false,
        out: None,
    };
    let usage = match task {
        Task::Install => USAGE_INSTALL,
        Task::Uninstall => USAGE_UNINSTALL,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let takes_value =
            ["--init", "--scope", "--mode", "--interval", "--prefix", "--user", "--path", "--out"];
        let value = if takes_value.contains(&flag) {
            match inline.or_else(|| it.next().cloned()) {
                Some(v) => v,
                None => return Err(format!("{flag} needs a value\n\n{usage}")),
            }
        } else if inline.is_some() {
            return Err(format!("{flag} takes no value\n\n{usage}"));
        } else {
            String::new()
        };
        let install_only = ["--mode", "--interval", "--user", "--path", "--no-build", "--out"];
        if task == Task::Uninstall && install_only.contains(&flag) {
            return Err(format!("{flag} is an install-service option\n\n{usage}"));
        }
        match flag {
            "-h" | "--help" => {
                print!("{usage}");
                return Ok(None);
            }
            "--init" if value == "auto" => o.init = auto_init(),
            "--init" => {
                o.init =
                    Init::parse(&value).ok_or_else(|| bad("--init", &value, "systemd, launchd, auto"))?;
            }
            "--scope" => {
                o.scope = Scope::parse(&value).ok_or_else(|| bad("--scope", &value, "user, system"))?;
            }
            "--mode" => o.mode = Mode::parse(&value).ok_or_else(|| bad("--mode", &value, "timer, daemon"))?,
            "--interval" => {
                let secs = value.parse::<u32>().ok().filter(|s| *s > 0);
                o.interval = Some(
                    secs.ok_or_else(|| bad("--interval", &value, "a whole number of seconds, 1 or more"))?,
                );
            }
            "--prefix" => o.prefix = Some(PathBuf::from(value)),
            "--user" => o.user = Some(value),
            "--path" => o.path = Some(parse_path(&value)?),
            "--out" => o.out = Some(PathBuf::from(value)),
            "--no-build" => o.build = false,
            "--files-only" => o.files_only = true,
            "--dry-run" => o.dry_run = true,
            other => return Err(format!("unknown option {other:?}\n\n{usage}")),
        }
    }
    if o.out.is_some() && !o.dry_run {
        return Err("--out is where --dry-run writes the generated files: add --dry-run".into());
    }
    if o.mode == Mode::Daemon && o.interval.is_some() {
        return Err("--interval is for timer mode; in daemon mode the orchestrator runs a pass every \
                    check_interval_seconds of services.json"
            .into());
    }
    Ok(Some(o))
}

/// `--path`: absolute directories separated by `:` (empty entries skipped). They need not exist
/// yet: the service may run where the installer does not.
fn parse_path(value: &str) -> Result<Vec<PathBuf>, String> {
    let entries = value.split(':').filter(|e| !e.is_empty());
    entries
        .map(|e| {
            let dir = PathBuf::from(e);
            if dir.is_absolute() { Ok(dir) } else { Err(bad("--path", e, "absolute directories")) }
        })
        .collect()
}

/// The installing user's PATH as the service gets it: the absolute directories that exist, in
/// order, each once, without rustup's toolchain directories (rustup's cargo proxy can add them
/// for the processes it starts; a shell has `~/.cargo/bin` instead) and without entries a unit
/// cannot hold (not UTF-8, control characters).
fn user_path(path: &std::ffi::OsStr, rustup_home: Option<&Path>) -> Vec<PathBuf> {
    let toolchains = rustup_home.map(|h| h.join("toolchains"));
    let mut dirs: Vec<PathBuf> = Vec::new();
    for dir in std::env::split_paths(path) {
        let keep = dir.is_absolute()
            && dir.is_dir()
            && dir.to_str().is_some_and(|s| !s.chars().any(char::is_control))
            && !toolchains.as_ref().is_some_and(|t| dir.starts_with(t))
            && !dirs.contains(&dir);
        if keep {
            dirs.push(dir);
        }
    }
    dirs
}

fn bad(flag: &str, value: &str, expected: &str) -> String {
    format!("{flag} {value:?}: expected {expected}")
}

fn auto_init() -> Init {
    if cfg!(target_os = "macos") { Init::Launchd } else { Init::Systemd }
}

/// What the installer needs to know about the machine and the user.
#[derive(Debug, Clone)]
struct Host {
    home: PathBuf,
    data: PathBuf,
    user: String,
    uid: u32,
    /// The PATH install-service runs with, as [`user_path`] keeps it.
    path: Vec<PathBuf>,
    binaries: Vec<String>,
    release: PathBuf,
}

impl Host {
    fn detect(user: Option<&str>) -> Result<Self, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let home = PathBuf::from(var("HOME").ok_or("HOME is not set")?);
        let data = var("AGENT_OPS_HOME").map_or_else(|| home.join(".agent-ops"), PathBuf::from);
        if !data.is_absolute() || !home.is_absolute() {
            return Err(format!("HOME and AGENT_OPS_HOME must be absolute paths ({})", data.display()));
        }
        let uid = command_output(&["id", "-u"])?.parse::<u32>().map_err(|e| format!("`id -u`: {e}"))?;
        if uid == 0 && var("SUDO_USER").is_some() {
            return Err("run install-service as yourself, not with sudo: it asks sudo for the steps \
                        that need root (system scope) and keeps your files yours"
                .into());
        }
        let user = match user {
            Some(u) => u.to_owned(),
            None => match var("USER").or_else(|| var("LOGNAME")) {
                Some(u) => u,
                None => command_output(&["id", "-un"])?,
            },
        };
        let path = user_path(
            &std::env::var_os("PATH").unwrap_or_default(),
            std::env::var_os("RUSTUP_HOME").map(PathBuf::from).as_deref(),
        );
        Ok(Self {
            home,
            data,
            user,
            uid,
            path,
            binaries: bins::binaries()?,
            release: bins::target_dir().join("release"),
        })
    }
}

fn command_output(argv: &[&str]) -> Result<String, String> {
    let out =
        Command::new(argv[0]).args(&argv[1..]).output().map_err(|e| format!("`{}`: {e}", argv.join(" ")))?;
    if !out.status.success() {
        return Err(format!("`{}` failed", argv.join(" ")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// One step of a plan, in the order it is carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Build these binaries with the release profile.
    Build(Vec<String>),
    /// Create a directory (and its parents).
    Dir(PathBuf),
    /// Copy a built binary into the prefix, replacing the old one atomically.
    Binary { from: PathBuf, to: PathBuf },
    /// Write the starter services.json (only planned when there is none).
    Starter { path: PathBuf, text: String },
    /// Write a unit or plist; `staged` when sudo installs it from a staging copy.
    File { path: PathBuf, text: String, staged: Option<PathBuf> },
    /// Remove a file we own (`sudo` in system scope when not root).
    Remove { path: PathBuf, sudo: bool },
    /// Run a command; `tolerate`: its failure is reported and the plan goes on.
    Run { argv: Vec<String>, tolerate: bool },
    /// Remove the prefix directory if nothing is left in it.
    RemoveDirIfEmpty(PathBuf),
}

#[derive(Debug, Default)]
struct Plan {
    steps: Vec<Step>,
    /// `--files-only`: the commands that would enable the service, for the user to run.
    later: Vec<Vec<String>>,
    warnings: Vec<String>,
    notes: Vec<String>,
}

/// The service manager's command line, with sudo when the system scope needs it.
fn manager(init: Init, scope: Scope, sudo: bool, rest: &[&str]) -> Vec<String> {
    let mut v = Vec::new();
    if sudo {
        v.push("sudo".to_owned());
    }
    match init {
        Init::Systemd => {
            v.push("systemctl".into());
            if scope == Scope::User {
                v.push("--user".into());
            }
        }
        Init::Launchd => v.push("launchctl".into()),
    }
    v.extend(rest.iter().map(|s| (*s).to_owned()));
    v
}

fn launchd_domain(scope: Scope, uid: u32) -> String {
    match scope {
        Scope::User => format!("gui/{uid}"),
        Scope::System => "system".into(),
    }
}

fn install_plan(o: &Opts, host: &Host, staging: &Path) -> Result<(Plan, Spec), String> {
    let mut plan = Plan::default();
    let interval = o.interval.unwrap_or(300);
    let prefix = o.prefix.clone().unwrap_or_else(|| host.data.join("bin"));
    if !prefix.is_absolute() {
        return Err(format!("--prefix must be an absolute path, got {}", prefix.display()));
    }
    let spec = Spec {
        init: o.init,
        scope: o.scope,
        mode: o.mode,
        interval,
        prefix: prefix.clone(),
        data: host.data.clone(),
        user: host.user.clone(),
        path: o.path.clone().unwrap_or_else(|| host.path.clone()),
    };
    let files = spec.render()?;
    if o.path.is_none() {
        plan.notes.push(format!(
            "the service runs with PATH={} (the prefix, your PATH as it is now, the usual system \
             directories); to choose another, install again with --path",
            spec.path_env()
        ));
    }
    let sudo = o.scope == Scope::System && host.uid != 0;
    let unit_dir = units::unit_dir(o.init, o.scope, &host.home);

    if !host.binaries.iter().any(|b| b == "orchestrator") {
        let msg = format!(
            "this checkout has no bins/orchestrator yet, so nothing builds {}: the service will fail \
             until an orchestrator is installed there",
            spec.orchestrator().display()
        );
        if o.dry_run || o.files_only {
            plan.warnings.push(msg);
        } else {
            return Err(format!("{msg}; use --dry-run or --files-only to write the files anyway"));
        }
    }
    if o.build {
        plan.steps.push(Step::Build(host.binaries.clone()));
    }
    plan.steps.push(Step::Dir(prefix.clone()));
    for sub in DATA_DIRS {
        plan.steps.push(Step::Dir(host.data.join(sub)));
    }
    if o.scope == Scope::User {
        plan.steps.push(Step::Dir(unit_dir.clone()));
    }
    for b in &host.binaries {
        plan.steps.push(Step::Binary { from: host.release.join(b), to: prefix.join(b) });
    }
    let config = host.data.join("config/services.json");
    if config.exists() {
        plan.notes
            .push(format!("kept your {} (a starter is written only when none exists)", config.display()));
    } else {
        let text = STARTER.replacen(STARTER_INTERVAL, &format!("\"check_interval_seconds\": {interval}"), 1);
        plan.steps.push(Step::Starter { path: config.clone(), text });
    }

    // Stop what an earlier install left running, so the new files take over cleanly.
    let previous: Vec<&str> = match o.init {
        Init::Systemd => {
            [units::SERVICE, units::TIMER].into_iter().filter(|n| unit_dir.join(n).exists()).collect()
        }
        Init::Launchd => [units::plist_name()].into_iter().filter(|n| unit_dir.join(n).exists()).collect(),
    };
    let domain = launchd_domain(o.scope, host.uid);
    let target = format!("{domain}/{}", units::LABEL);
    if !previous.is_empty() && !o.files_only {
        let argv = match o.init {
            Init::Systemd => {
                manager(o.init, o.scope, sudo, &[&["disable", "--now"], previous.as_slice()].concat())
            }
            Init::Launchd => manager(o.init, o.scope, sudo, &["bootout", &target]),
        };
        plan.steps.push(Step::Run { argv, tolerate: true });
    }
    if o.init == Init::Systemd && o.mode == Mode::Daemon && previous.contains(&units::TIMER) {
        plan.steps.push(Step::Remove { path: unit_dir.join(units::TIMER), sudo });
    }
    for f in &files {
        let staged = sudo.then(|| staging.join(f.name));
        plan.steps.push(Step::File { path: unit_dir.join(f.name), text: f.text.clone(), staged });
    }
    let commands = enable_commands(o, sudo, &unit_dir, &domain, &target);
    if o.files_only {
        plan.later = commands;
    } else {
        plan.steps.extend(commands.into_iter().map(|argv| Step::Run { argv, tolerate: false }));
    }
    if o.init == Init::Systemd && o.scope == Scope::User {
        plan.notes.push(format!(
            "user services stop when {u} logs out unless lingering is on: `sudo loginctl enable-linger {u}` \
             (or install with --scope system)",
            u = host.user
        ));
    }
    Ok((plan, spec))
}

/// The commands that load and start the service once its files are in place.
fn enable_commands(o: &Opts, sudo: bool, unit_dir: &Path, domain: &str, target: &str) -> Vec<Vec<String>> {
    match o.init {
        Init::Systemd => {
            let unit = if o.mode == Mode::Timer { units::TIMER } else { units::SERVICE };
            vec![
                manager(o.init, o.scope, sudo, &["daemon-reload"]),
                manager(o.init, o.scope, sudo, &["enable", "--now", unit]),
            ]
        }
        Init::Launchd => {
            let plist = unit_dir.join(units::plist_name()).display().to_string();
            vec![
                manager(o.init, o.scope, sudo, &["enable", target]),
                manager(o.init, o.scope, sudo, &["bootstrap", domain, &plist]),
            ]
        }
    }
}

fn uninstall_plan(o: &Opts, host: &Host) -> Plan {
    let mut plan = Plan::default();
    let prefix = o.prefix.clone().unwrap_or_else(|| host.data.join("bin"));
    let sudo = o.scope == Scope::System && host.uid != 0;
    let unit_dir = units::unit_dir(o.init, o.scope, &host.home);
    let present: Vec<&str> = match o.init {
        Init::Systemd => {
            [units::TIMER, units::SERVICE].into_iter().filter(|n| unit_dir.join(n).exists()).collect()
        }
        Init::Launchd => [units::plist_name()].into_iter().filter(|n| unit_dir.join(n).exists()).collect(),
    };
    if !present.is_empty() && !o.files_only {
        let target = format!("{}/{}", launchd_domain(o.scope, host.uid), units::LABEL);
        let argv = match o.init {
            Init::Systemd => {
                manager(o.init, o.scope, sudo, &[&["disable", "--now"], present.as_slice()].concat())
            }
            Init::Launchd => manager(o.init, o.scope, sudo, &["bootout", &target]),
        };
        plan.steps.push(Step::Run { argv, tolerate: true });
    }
    for n in &present {
        plan.steps.push(Step::Remove { path: unit_dir.join(n), sudo });
    }
    if !present.is_empty() && o.init == Init::Systemd && !o.files_only {
        plan.steps
            .push(Step::Run { argv: manager(o.init, o.scope, sudo, &["daemon-reload"]), tolerate: false });
    }
    for b in &host.binaries {
        let path = prefix.join(b);
        if path.exists() {
            plan.steps.push(Step::Remove { path, sudo: false });
        }
    }
    if prefix.is_dir() {
        plan.steps.push(Step::RemoveDirIfEmpty(prefix));
    }
    if plan.steps.is_empty() {
        plan.notes.push(format!(
            "nothing to uninstall: no {} service files in {}",
            o.init,
            unit_dir.display()
        ));
    }
    plan.notes.push(format!("kept {} (services.json, logs, metrics, state)", host.data.display()));
    plan
}

impl Step {
    /// What carrying out this step does to the machine, one effect at a time.
    fn actions(&self) -> Vec<Action<'_>> {
        match self {
            Step::Build(names) => vec![Action::Build(names)],
            Step::Dir(dir) if dir.is_dir() => vec![],
            Step::Dir(dir) => vec![Action::CreateDir(dir)],
            Step::Binary { from, to } => vec![Action::InstallBinary { from, to }],
            Step::Starter { path, text } => {
                vec![Action::Write { path, text, name: "services.json", existing: Existing::Keep }]
            }
            Step::File { path, text, staged } => {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("unit");
                match staged {
                    None => vec![Action::Write { path, text, name, existing: Existing::Replace }],
                    Some(staged) => vec![
                        Action::Write { path: staged, text, name, existing: Existing::Replace },
                        Action::Run { argv: install_argv(staged, path), tolerate: false },
                    ],
                }
            }
            Step::Remove { path, sudo: true } => vec![Action::Run {
                argv: vec!["sudo".into(), "rm".into(), "-f".into(), path.display().to_string()],
                tolerate: false,
            }],
            Step::Remove { path, sudo: false } => vec![Action::RemoveFile(path)],
            Step::Run { argv, tolerate } => vec![Action::Run { argv: argv.clone(), tolerate: *tolerate }],
            Step::RemoveDirIfEmpty(dir) => vec![Action::RemoveDirIfEmpty(dir)],
        }
    }
}

/// What a write does to a file that is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existing {
    /// Replace it (units and plists: they are ours).
    Replace,
    /// Keep it: the file is only created (the starter services.json, checked by the create).
    Keep,
}

/// One effect on the machine. A real run says it and performs it; a dry run says it and
/// previews it: the same list, so the dry run shows exactly what a real run does.
#[derive(Debug)]
enum Action<'a> {
    Build(&'a [String]),
    CreateDir(&'a Path),
    InstallBinary {
        from: &'a Path,
        to: &'a Path,
    },
    /// Write a generated file; `name` is its name in a dry run's `--out`.
    Write {
        path: &'a Path,
        text: &'a str,
        name: &'a str,
        existing: Existing,
    },
    /// Run a command; `tolerate`: its failure is reported and the walk goes on.
    Run {
        argv: Vec<String>,
        tolerate: bool,
    },
    RemoveFile(&'a Path),
    RemoveDirIfEmpty(&'a Path),
}

impl std::fmt::Display for Action<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Build(names) => {
                write!(f, "run {}", shell_line(&bins::build_command(names, Profile::Release)))
            }
            Action::CreateDir(dir) => write!(f, "create {}/", dir.display()),
            Action::InstallBinary { from, to } => write!(f, "install {} -> {}", from.display(), to.display()),
            Action::Write { path, existing: Existing::Replace, .. } => write!(f, "write {}", path.display()),
            Action::Write { path, existing: Existing::Keep, .. } => {
                write!(f, "write {} (a starter: add your services)", path.display())
            }
            Action::Run { argv, .. } => write!(f, "run {}", shell_line(argv)),
            Action::RemoveFile(path) => write!(f, "remove {}", path.display()),
            Action::RemoveDirIfEmpty(dir) => write!(f, "remove {}/ if nothing is left in it", dir.display()),
        }
    }
}

impl Action<'_> {
    fn perform(&self) -> Result<(), String> {
        use std::io::ErrorKind;
        match self {
            Action::Build(names) => bins::build(names, Profile::Release).map(drop),
            Action::CreateDir(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
            }
            Action::InstallBinary { from, to } => install_binary(from, to),
            Action::Write { path, text, existing: Existing::Replace, .. } => write(path, text),
            Action::Write { path, text, existing: Existing::Keep, .. } => write_new(path, text),
            Action::Run { argv, tolerate } => match run(argv) {
                Err(e) if *tolerate => {
                    println!("  ({e}; going on)");
                    Ok(())
                }
                result => result,
            },
            Action::RemoveFile(path) => {
                std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))
            }
            Action::RemoveDirIfEmpty(dir) => match std::fs::remove_dir(dir) {
                Err(e) if matches!(e.kind(), ErrorKind::DirectoryNotEmpty | ErrorKind::NotFound) => Ok(()),
                result => result.map_err(|e| format!("{}: {e}", dir.display())),
            },
        }
    }

    /// What a dry run shows after the action's line: for a generated file, where its copy went
    /// (`--out`), or else its text.
    fn preview(&self, out: Option<&Path>) -> Result<String, String> {
        let Action::Write { text, name, .. } = self else { return Ok(String::new()) };
        match out {
            Some(out) => {
                let copy = out.join(name);
                write(&copy, text)?;
                Ok(format!(" (written to {})", copy.display()))
            }
            None => Ok(text.lines().fold(":".to_owned(), |mut s, line| {
                let _ = write!(s, "\n      | {line}");
                s
            })),
        }
    }
}

/// How a plan is walked: carried out, or (`--dry-run`) shown, with the generated files
/// written into `out` when given.
enum Runner {
    Real,
    Dry { out: Option<PathBuf> },
}

impl Runner {
    fn carry_out(&self, plan: &Plan) -> Result<(), String> {
        if let Runner::Dry { out: Some(out) } = self {
            std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
        }
        for w in &plan.warnings {
            println!("warning: {w}");
        }
        for action in plan.steps.iter().flat_map(Step::actions) {
            match self {
                Runner::Real => {
                    println!("  {action}");
                    action.perform()?;
                }
                Runner::Dry { out } => println!("  would {action}{}", action.preview(out.as_deref())?),
            }
        }
        Ok(())
    }
}

fn install_argv(staged: &Path, dest: &Path) -> Vec<String> {
    vec![
        "sudo".into(),
        "install".into(),
        "-m".into(),
        "0644".into(),
        staged.display().to_string(),
        dest.display().to_string(),
    ]
}

/// A command line as a person would type it (arguments with spaces quoted).
fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| if a.contains(char::is_whitespace) || a.is_empty() { format!("'{a}'") } else { a.clone() })
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(argv: &[String]) -> Result<(), String> {
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .status()
        .map_err(|e| format!("cannot run `{}`: {e}", shell_line(argv)))?;
    if status.success() { Ok(()) } else { Err(format!("`{}` failed ({status})", shell_line(argv))) }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes `path` only if it does not exist (checked by the create itself, so a file that
/// appeared meanwhile is still never overwritten).
fn write_new(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    let mut f = match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            println!("  kept {} (it appeared meanwhile)", path.display());
            return Ok(());
        }
        Err(e) => return Err(format!("cannot write {}: {e}", path.display())),
    };
    f.write_all(text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Copies a binary next to its destination and renames it over the old one: a running
/// orchestrator keeps its old file and the next start gets the new one ("text file busy"
/// never happens).
fn install_binary(from: &Path, to: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if !from.is_file() {
        return Err(format!("{} does not exist: build it first, or drop --no-build", from.display()));
    }
    let name = to.file_name().and_then(|n| n.to_str()).unwrap_or("binary");
    let tmp = to.with_file_name(format!(".{name}.install-{}", std::process::id()));
    std::fs::copy(from, &tmp)
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, to).map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), to.display()))
}

fn describe(spec: &Spec) -> String {
    let what = match (spec.init, spec.mode) {
        (Init::Systemd, Mode::Timer) => {
            format!("a pass every {} s (systemd timer {})", spec.interval, units::TIMER)
        }
        (Init::Launchd, Mode::Timer) => format!("a pass every {} s (launchd StartInterval)", spec.interval),
        (_, Mode::Daemon) => "`orchestrator --loop`, a pass every check_interval_seconds".into(),
    };
    format!("{} {} scope: {what}", spec.init, spec.scope)
}

fn next_steps(spec: &Spec, host: &Host) -> String {
    let mut s = String::new();
    let config = host.data.join("config/services.json");
    let _ = writeln!(
        s,
        "next: put your services and your Telegram bot token and chat id in {} (see docs/configuration.md), then watch it work:",
        config.display()
    );
    let user = if spec.scope == Scope::User { " --user" } else { "" };
    match spec.init {
        Init::Systemd => {
            let _ = writeln!(
                s,
                "  systemctl{user} status {}",
                if spec.mode == Mode::Timer { units::TIMER } else { units::SERVICE }
            );
            let _ = writeln!(s, "  journalctl{user} -u {} -n 50", units::SERVICE);
        }
        Init::Launchd => {
            let _ =
                writeln!(s, "  launchctl print {}/{}", launchd_domain(spec.scope, host.uid), units::LABEL);
            let _ = writeln!(s, "  tail {}", host.data.join("logs/launchd-stderr.log").display());
        }
    }
    let _ = writeln!(s, "  tail -f {}", host.data.join("logs/orchestrator.log").display());
    s
}

pub fn install(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args, Task::Install)? else { return Ok(()) };
    let host = Host::detect(o.user.as_deref())?;
    let staging = bins::target_dir().join("install-service");
    let (plan, spec) = install_plan(&o, &host, &staging)?;
    let runner = if o.dry_run { Runner::Dry { out: o.out.clone() } } else { Runner::Real };
    match &o.out {
        Some(out) => println!(
            "install-service, dry run: {} (nothing is changed; generated files go to {})",
            describe(&spec),
            out.display()
        ),
        None if o.dry_run => println!("install-service, dry run: {} (nothing is changed)", describe(&spec)),
        None => println!("install-service: {}", describe(&spec)),
    }
    runner.carry_out(&plan)?;
    let mut notes = plan.notes.clone();
    if o.init == Init::Systemd && o.scope == Scope::User && !o.dry_run && !o.files_only {
        let linger = command_output(&["loginctl", "show-user", &host.user, "--property=Linger", "--value"]);
        if linger.as_deref() == Ok("yes") {
            notes.retain(|n| !n.starts_with("user services stop"));
        }
    }
    for n in notes {
        println!("note: {n}");
    }
    if o.dry_run {
        println!("dry run: nothing was installed; run again without --dry-run to install.");
    } else if o.files_only {
        println!("files written; start the service with:");
        for argv in &plan.later {
            println!("  {}", shell_line(argv));
        }
    } else {
        print!("installed.\n{}", next_steps(&spec, &host));
    }
    Ok(())
}

pub fn uninstall(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args, Task::Uninstall)? else { return Ok(()) };
    let host = Host::detect(None)?;
    let plan = uninstall_plan(&o, &host);
    let runner = if o.dry_run { Runner::Dry { out: None } } else { Runner::Real };
    println!("uninstall-service{}: {} {} scope", if o.dry_run { ", dry run" } else { "" }, o.init, o.scope);
    runner.carry_out(&plan)?;
    for n in &plan.notes {
        println!("note: {n}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> Opts {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        parse(&args, Task::Install).unwrap().unwrap()
    }

    fn host(home: &Path) -> Host {
        Host {
            home: home.to_path_buf(),
            data: home.join(".agent-ops"),
            user: "alice".into(),
            uid: 1000,
            path: vec!["/home/alice/.local/bin".into(), "/usr/bin".into()],
            binaries: vec!["health-check".into(), "orchestrator".into()],
            release: "/repo/target/release".into(),
        }
    }

    fn runs(plan: &Plan) -> Vec<String> {
        plan.steps
            .iter()
            .filter_map(|s| match s {
                Step::Run { argv, .. } => Some(shell_line(argv)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn options_and_their_errors() {
        let o = opts(&["--init", "launchd", "--scope=system", "--interval", "60", "--dry-run", "--out", "d"]);
        assert_eq!(
            (o.init, o.scope, o.mode, o.interval),
            (Init::Launchd, Scope::System, Mode::Timer, Some(60))
        );
        assert_eq!(o.out.as_deref(), Some(Path::new("d")));
        let err = |args: &[&str], task: Task| {
            let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
            parse(&args, task).unwrap_err()
        };
        assert!(
            err(&["--init", "upstart"], Task::Install)
                .starts_with("--init \"upstart\": expected systemd, launchd, auto")
        );
        assert!(err(&["--interval", "0"], Task::Install).contains("1 or more"));
        assert!(err(&["--interval"], Task::Install).starts_with("--interval needs a value"));
        assert!(err(&["--out", "d"], Task::Install).contains("add --dry-run"));
        assert!(
            err(&["--mode", "daemon", "--interval", "60"], Task::Install).contains("check_interval_seconds")
        );
        assert!(err(&["--mode", "timer"], Task::Uninstall).contains("is an install-service option"));
        assert!(err(&["--dry-run=yes"], Task::Install).contains("takes no value"));
        assert!(err(&["--frobnicate"], Task::Install).starts_with("unknown option \"--frobnicate\""));
        assert_eq!(
            opts(&["--path", "/a b:/c%::/d/"]).path.unwrap(),
            [Path::new("/a b"), "/c%".as_ref(), "/d/".as_ref()]
        );
        assert_eq!(opts(&["--path="]).path, Some(vec![]));
        assert!(
            err(&["--path", "/a:bin"], Task::Install)
                .starts_with("--path \"bin\": expected absolute directories")
        );
        assert!(err(&["--path", "/a"], Task::Uninstall).contains("is an install-service option"));
    }

    #[test]
    fn the_users_path_keeps_existing_absolute_directories_once_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = |name: &str| {
            let d = tmp.path().join(name);
            std::fs::create_dir_all(&d).unwrap();
            d
        };
        let (tools, node, rustup) = (dir("100% my tools"), dir("nvm/bin"), tmp.path().join("rustup"));
        let toolchain = dir("rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin");
        let control = dir("ctl\u{1}bin");
        std::fs::write(tmp.path().join("file"), "").unwrap();
        let path = std::env::join_paths([
            tools.clone(),
            "relative/bin".into(),
            PathBuf::new(),
            tmp.path().join("missing"),
            tmp.path().join("file"),
            toolchain,
            control,
            node.clone(),
            tools.join(""),
        ])
        .unwrap();
        assert_eq!(user_path(&path, Some(&rustup)), [tools.clone(), node.clone()]);
        // Without RUSTUP_HOME nothing is taken for rustup's.
        assert_eq!(user_path(&path, None).len(), 3);
    }

    #[test]
    fn the_service_path_is_the_users_unless_path_is_given() {
        let home = tempfile::tempdir().unwrap();
        let (plan, spec) =
            install_plan(&opts(&["--init", "systemd"]), &host(home.path()), Path::new("/s")).unwrap();
        let prefix = home.path().join(".agent-ops/bin");
        let users = format!("{}:/home/alice/.local/bin:/usr/bin:/usr/local/bin:/bin:", prefix.display());
        assert!(spec.path_env().starts_with(&users), "{}", spec.path_env());
        assert!(
            plan.notes.iter().any(|n| n.contains(&spec.path_env()) && n.contains("--path")),
            "{:?}",
            plan.notes
        );
        let (plan, spec) = install_plan(
            &opts(&["--init", "systemd", "--path", "/opt/x"]),
            &host(home.path()),
            Path::new("/s"),
        )
        .unwrap();
        assert!(spec.path_env().starts_with(&format!("{}:/opt/x:/usr/local/bin:", prefix.display())));
        assert!(!plan.notes.iter().any(|n| n.contains("--path")), "{:?}", plan.notes);
    }

    #[test]
    fn user_timer_plan_reloads_and_enables_the_timer() {
        let home = tempfile::tempdir().unwrap();
        let (plan, spec) =
            install_plan(&opts(&["--init", "systemd"]), &host(home.path()), Path::new("/stage")).unwrap();
        assert_eq!(spec.prefix, home.path().join(".agent-ops/bin"));
        assert_eq!(
            runs(&plan),
            ["systemctl --user daemon-reload", "systemctl --user enable --now agent-ops.timer"]
        );
        assert!(plan.steps.contains(&Step::Build(host(home.path()).binaries)));
        let starter = plan.steps.iter().find_map(|s| match s {
            Step::Starter { text, .. } => Some(text.clone()),
            _ => None,
        });
        assert!(starter.unwrap().contains("\"check_interval_seconds\": 300"));
        assert!(plan.warnings.is_empty());
    }

    #[test]
    fn a_reinstall_stops_the_old_units_first_and_switching_to_daemon_drops_the_timer() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".config/systemd/user");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("agent-ops.service"), "old").unwrap();
        std::fs::write(dir.join("agent-ops.timer"), "old").unwrap();
        let (plan, _) = install_plan(
            &opts(&["--init", "systemd", "--mode", "daemon"]),
            &host(home.path()),
            Path::new("/s"),
        )
        .unwrap();
        assert_eq!(
            runs(&plan),
            [
                "systemctl --user disable --now agent-ops.service agent-ops.timer",
                "systemctl --user daemon-reload",
                "systemctl --user enable --now agent-ops.service",
            ]
        );
        assert!(plan.steps.contains(&Step::Remove { path: dir.join("agent-ops.timer"), sudo: false }));
    }

    #[test]
    fn system_scope_stages_the_units_for_sudo() {
        let home = tempfile::tempdir().unwrap();
        let (plan, spec) = install_plan(
            &opts(&["--init", "systemd", "--scope", "system"]),
            &host(home.path()),
            Path::new("/stage"),
        )
        .unwrap();
        assert_eq!(spec.user, "alice");
        assert!(plan.steps.contains(&Step::File {
            path: "/etc/systemd/system/agent-ops.timer".into(),
            text: spec.render().unwrap()[1].text.clone(),
            staged: Some("/stage/agent-ops.timer".into()),
        }));
        assert_eq!(
            runs(&plan),
            ["sudo systemctl daemon-reload", "sudo systemctl enable --now agent-ops.timer"]
        );
        let mut root = host(home.path());
        root.uid = 0;
        let (plan, _) =
            install_plan(&opts(&["--init", "systemd", "--scope", "system"]), &root, Path::new("/stage"))
                .unwrap();
        assert_eq!(runs(&plan), ["systemctl daemon-reload", "systemctl enable --now agent-ops.timer"]);
    }

    #[test]
    fn launchd_bootstraps_into_the_gui_domain_or_the_system_domain() {
        let home = tempfile::tempdir().unwrap();
        let (plan, _) =
            install_plan(&opts(&["--init", "launchd"]), &host(home.path()), Path::new("/s")).unwrap();
        let plist = home.path().join("Library/LaunchAgents/com.agent-ops.orchestrator.plist");
        assert_eq!(
            runs(&plan),
            [
                "launchctl enable gui/1000/com.agent-ops.orchestrator".to_owned(),
                format!("launchctl bootstrap gui/1000 {}", plist.display()),
            ]
        );
        let (plan, _) = install_plan(
            &opts(&["--init", "launchd", "--scope", "system", "--files-only"]),
            &host(home.path()),
            Path::new("/s"),
        )
        .unwrap();
        assert!(runs(&plan).is_empty(), "--files-only runs no launchctl: {:?}", runs(&plan));
        assert!(
            plan.steps.contains(&Step::File {
                path: "/Library/LaunchDaemons/com.agent-ops.orchestrator.plist".into(),
                text: units::Spec {
                    init: Init::Launchd,
                    scope: Scope::System,
                    mode: Mode::Timer,
                    interval: 300,
                    prefix: home.path().join(".agent-ops/bin"),
                    data: home.path().join(".agent-ops"),
                    user: "alice".into(),
                    path: vec!["/home/alice/.local/bin".into(), "/usr/bin".into()],
                }
                .render()
                .unwrap()[0]
                    .text
                    .clone(),
                staged: Some("/s/com.agent-ops.orchestrator.plist".into()),
            })
        );
    }

    #[test]
    fn without_an_orchestrator_only_dry_runs_and_files_only_go_ahead() {
        let home = tempfile::tempdir().unwrap();
        let mut h = host(home.path());
        h.binaries = vec!["health-check".into()];
        let err = install_plan(&opts(&["--init", "systemd"]), &h, Path::new("/s")).unwrap_err();
        assert!(err.contains("no bins/orchestrator") && err.contains("--dry-run"), "{err}");
        let (plan, _) =
            install_plan(&opts(&["--init", "systemd", "--dry-run"]), &h, Path::new("/s")).unwrap();
        assert_eq!(plan.warnings.len(), 1);
    }

    #[test]
    fn write_new_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("services.json");
        write_new(&path, "first").unwrap();
        write_new(&path, "second").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first");
    }

    #[test]
    fn the_starter_interval_is_substituted() {
        assert!(
            STARTER.contains(STARTER_INTERVAL),
            "examples/services.starter.json sets check_interval_seconds 300"
        );
    }
}
