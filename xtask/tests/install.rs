//! `cargo xtask install-service` and `uninstall-service` as a user runs them, in a temporary
//! HOME: the dry run file by file, a real install with `--files-only` (no systemctl or
//! launchctl is ever run here), the starter config that never overwrites, and the generated
//! units and plists checked by `systemd-analyze verify` and Python's plistlib.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The binaries in bins/, as install-service finds them.
fn binaries() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo().join("bins"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// A temporary HOME (user `alice`) and cargo target directory.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("home")).unwrap();
        Self { dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn target(&self) -> PathBuf {
        self.dir.path().join("target")
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// `--path` as the files under dist/ record it (units::documented_path), for this HOME.
    fn documented_path(&self) -> String {
        format!("{}/.local/bin:/usr/local/bin:/usr/bin:/bin", self.home().display())
    }

    fn xtask(&self, args: &[&str]) -> Output {
        self.xtask_with(args, &[])
    }

    /// xtask in this sandbox, with `env` set too (PATH is the test's unless `env` sets it).
    fn xtask_with(&self, args: &[&str], env: &[(&str, &OsStr)]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("USER", "alice")
            .env("CARGO_TARGET_DIR", self.target())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "xtask {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Placeholder release binaries, as `cargo build --release` would leave them.
    fn fake_release(&self) {
        let release = self.target().join("release");
        fs::create_dir_all(&release).unwrap();
        for name in binaries() {
            fs::write(release.join(&name), format!("#!/bin/sh\necho {name}\n")).unwrap();
        }
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A committed dist/ file as it reads for a user whose home is `home` (dist/ is rendered for
/// /home/alice and /Users/alice).
fn dist(rel: &str, home: &Path) -> String {
    let text = fs::read_to_string(repo().join("dist").join(rel)).unwrap();
    text.replace("/home/alice", &home.display().to_string())
        .replace("/Users/alice", &home.display().to_string())
}

const COMBINATIONS: [(&str, &str, &str, &[&str]); 8] = [
    ("systemd", "user", "timer", &["agent-ops.service", "agent-ops.timer"]),
    ("systemd", "user", "daemon", &["agent-ops.service"]),
    ("systemd", "system", "timer", &["agent-ops.service", "agent-ops.timer"]),
    ("systemd", "system", "daemon", &["agent-ops.service"]),
    ("launchd", "user", "timer", &["com.agent-ops.orchestrator.plist"]),
    ("launchd", "user", "daemon", &["com.agent-ops.orchestrator.plist"]),
    ("launchd", "system", "timer", &["com.agent-ops.orchestrator.plist"]),
    ("launchd", "system", "daemon", &["com.agent-ops.orchestrator.plist"]),
];

#[test]
fn dry_run_writes_the_documented_files_to_out_and_nothing_else() {
    for (init, scope, mode, files) in COMBINATIONS {
        let s = Sandbox::new();
        let out_dir = s.out();
        let o = s.xtask(&[
            "install-service",
            "--init",
            init,
            "--scope",
            scope,
            "--mode",
            mode,
            "--path",
            &s.documented_path(),
            "--dry-run",
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        let printed = stdout(&o);
        let mut expected: Vec<String> = files.iter().map(|f| (*f).to_owned()).collect();
        expected.push("services.json".into());
        expected.sort();
        assert_eq!(tree(&out_dir), expected, "{init} {scope} {mode}:\n{printed}");
        for f in files {
            let committed = dist(&format!("{init}/{scope}-{mode}/{f}"), &s.home());
            assert_eq!(fs::read_to_string(out_dir.join(f)).unwrap(), committed, "{init} {scope} {mode} {f}");
        }
        let starter = fs::read_to_string(out_dir.join("services.json")).unwrap();
        assert_eq!(starter, fs::read_to_string(repo().join("examples/services.starter.json")).unwrap());
        assert!(
            tree(&s.home()).is_empty() && fs::read_dir(s.home()).unwrap().next().is_none(),
            "HOME untouched"
        );
        assert!(!s.target().exists(), "nothing built");
        let bin = s.home().join(".agent-ops/bin");
        for name in binaries() {
            let line = format!(
                "  would install {} -> {}\n",
                s.target().join("release").join(&name).display(),
                bin.join(&name).display()
            );
            assert!(printed.contains(&line), "{line:?} not in\n{printed}");
        }
        let runs: Vec<&str> = printed.lines().filter(|l| l.starts_with("  would run ")).collect();
        let expected_runs = expected_runs(&s, init, scope, mode, files);
        assert_eq!(runs.len(), expected_runs.len(), "{init} {scope} {mode}:\n{printed}");
        for (run, want) in runs.iter().zip(&expected_runs) {
            assert!(
                run.starts_with(&format!("  would run {want}")),
                "{run:?} does not start with {want:?}\n{printed}"
            );
        }
        assert!(printed.contains("dry run: nothing was installed"), "{printed}");
    }
}

/// The commands a dry run announces, in order, for one combination.
fn expected_runs(s: &Sandbox, init: &str, scope: &str, mode: &str, files: &[&str]) -> Vec<String> {
    let sudo = if scope == "system" && !is_root() { "sudo " } else { "" };
    match (init, scope, mode) {
        ("systemd", "user", m) => vec![
            "cargo build --quiet --release".into(),
            "systemctl --user daemon-reload".into(),
            format!(
                "systemctl --user enable --now agent-ops.{}",
                if m == "timer" { "timer" } else { "service" }
            ),
        ],
        ("systemd", "system", m) => {
            let mut v = vec!["cargo build --quiet --release".to_owned()];
            if !sudo.is_empty() {
                v.extend(files.iter().map(|f| {
                    format!("sudo install -m 0644 {}", s.target().join("install-service").join(f).display())
                }));
            }
            v.push(format!("{sudo}systemctl daemon-reload"));
            v.push(format!(
                "{sudo}systemctl enable --now agent-ops.{}",
                if m == "timer" { "timer" } else { "service" }
            ));
            v
        }
        ("launchd", "user", _) => vec![
            "cargo build --quiet --release".into(),
            format!("launchctl enable gui/{}/com.agent-ops.orchestrator", uid()),
            format!(
                "launchctl bootstrap gui/{} {}",
                uid(),
                s.home().join("Library/LaunchAgents/com.agent-ops.orchestrator.plist").display()
            ),
        ],
        _ => {
            let mut v = vec!["cargo build --quiet --release".to_owned()];
            if !sudo.is_empty() {
                v.push(format!(
                    "sudo install -m 0644 {}",
                    s.target().join("install-service/com.agent-ops.orchestrator.plist").display()
                ));
            }
            v.push(format!("{sudo}launchctl enable system/com.agent-ops.orchestrator"));
            v.push(format!(
                "{sudo}launchctl bootstrap system /Library/LaunchDaemons/com.agent-ops.orchestrator.plist"
            ));
            v
        }
    }
}

fn uid() -> String {
    String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap().trim().to_owned()
}

fn is_root() -> bool {
    uid() == "0"
}

#[test]
fn dry_run_without_out_prints_the_files() {
    let s = Sandbox::new();
    let printed =
        stdout(&s.xtask(&["install-service", "--init", "systemd", "--interval", "60", "--dry-run"]));
    assert!(printed.contains("      | OnUnitActiveSec=60\n"), "{printed}");
    assert!(printed.contains("      |   \"check_interval_seconds\": 60,\n"), "{printed}");
    assert!(fs::read_dir(s.home()).unwrap().next().is_none(), "HOME untouched");
}

#[test]
fn an_existing_services_json_is_never_overwritten() {
    let s = Sandbox::new();
    let config = s.home().join(".agent-ops/config/services.json");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    fs::write(&config, "{\"services\": []} mine").unwrap();
    let out_dir = s.out();
    let printed = stdout(&s.xtask(&[
        "install-service",
        "--init",
        "systemd",
        "--dry-run",
        "--out",
        out_dir.to_str().unwrap(),
    ]));
    assert_eq!(tree(&out_dir), ["agent-ops.service", "agent-ops.timer"]);
    assert!(printed.contains(&format!("note: kept your {}", config.display())), "{printed}");

    s.fake_release();
    s.xtask(&["install-service", "--init", "systemd", "--no-build", "--files-only"]);
    assert_eq!(fs::read_to_string(&config).unwrap(), "{\"services\": []} mine");
}

#[test]
fn files_only_install_reinstall_and_uninstall() {
    let s = Sandbox::new();
    s.fake_release();
    let printed = stdout(&s.xtask(&[
        "install-service",
        "--init",
        "systemd",
        "--path",
        &s.documented_path(),
        "--no-build",
        "--files-only",
    ]));
    let data = s.home().join(".agent-ops");
    for sub in ["bin", "config", "logs", "metrics", "scripts", "state"] {
        assert!(data.join(sub).is_dir(), "{sub} missing:\n{printed}");
    }
    for name in binaries() {
        let installed = data.join("bin").join(&name);
        assert_eq!(fs::read_to_string(&installed).unwrap(), format!("#!/bin/sh\necho {name}\n"));
        assert_eq!(fs::metadata(&installed).unwrap().permissions().mode() & 0o777, 0o755);
    }
    let config = data.join("config/services.json");
    assert_eq!(
        fs::read_to_string(&config).unwrap(),
        fs::read_to_string(repo().join("examples/services.starter.json")).unwrap()
    );
    let units = s.home().join(".config/systemd/user");
    assert_eq!(tree(&units), ["agent-ops.service", "agent-ops.timer"]);
    assert_eq!(
        fs::read_to_string(units.join("agent-ops.timer")).unwrap(),
        dist("systemd/user-timer/agent-ops.timer", &s.home())
    );
    assert!(!printed.contains("  run systemctl"), "--files-only runs no systemctl:\n{printed}");
    assert!(
        printed.ends_with(
            "files written; start the service with:\n  systemctl --user daemon-reload\n  \
             systemctl --user enable --now agent-ops.timer\n"
        ),
        "{printed}"
    );

    // The user edits the config, then reinstalls in daemon mode.
    fs::write(&config, "{\"services\": [], \"check_interval_seconds\": 60}\n").unwrap();
    s.xtask(&[
        "install-service",
        "--init",
        "systemd",
        "--mode",
        "daemon",
        "--path",
        &s.documented_path(),
        "--no-build",
        "--files-only",
    ]);
    assert_eq!(fs::read_to_string(&config).unwrap(), "{\"services\": [], \"check_interval_seconds\": 60}\n");
    assert_eq!(tree(&units), ["agent-ops.service"], "the timer of timer mode is gone");
    assert_eq!(
        fs::read_to_string(units.join("agent-ops.service")).unwrap(),
        dist("systemd/user-daemon/agent-ops.service", &s.home())
    );

    fs::write(data.join("logs/orchestrator.log"), "[2025-01-01 00:00:00] a line\n").unwrap();
    let printed = stdout(&s.xtask(&["uninstall-service", "--init", "systemd", "--files-only"]));
    assert!(tree(&units).is_empty(), "{printed}");
    assert!(!data.join("bin").exists(), "{printed}");
    assert_eq!(tree(&data), ["config/services.json", "logs/orchestrator.log"], "the data is kept");
    assert!(printed.contains(&format!("note: kept {}", data.display())), "{printed}");
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let Some(analyze) = test_support::require_tool("systemd-analyze") else { return };
    for (scope, mode) in [("user", "timer"), ("user", "daemon"), ("system", "timer"), ("system", "daemon")] {
        let s = Sandbox::new();
        // Spaces, '%' and '$' in the prefix: verify finds the executable only if the unit quotes
        // and escapes them right.
        let prefix = s.dir.path().join("agent ops 100% $HOME");
        fs::create_dir_all(&prefix).unwrap();
        let exe = prefix.join("orchestrator");
        fs::write(&exe, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
        let out_dir = s.out();
        let path = format!("{}:/usr/bin", s.dir.path().join("my tools 50% $PATH \"x\"").display());
        s.xtask(&[
            "install-service",
            "--init",
            "systemd",
            "--scope",
            scope,
            "--mode",
            mode,
            "--prefix",
            prefix.to_str().unwrap(),
            "--path",
            &path,
            "--dry-run",
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        let verify = || {
            let runtime = s.dir.path().join("runtime");
            fs::create_dir_all(&runtime).unwrap();
            fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
            let mut cmd = Command::new(&analyze);
            if scope == "user" {
                cmd.arg("--user").env("XDG_RUNTIME_DIR", &runtime);
            }
            cmd.arg("verify");
            for f in ["agent-ops.service", "agent-ops.timer"] {
                if out_dir.join(f).exists() {
                    cmd.arg(out_dir.join(f));
                }
            }
            cmd.output().unwrap()
        };
        let o = verify();
        let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(
            o.status.success() && said.trim().is_empty(),
            "{scope} {mode}: systemd-analyze verify says:\n{said}"
        );
        // The same check sees a unit whose executable is missing: it would see a bad path.
        fs::remove_file(&exe).unwrap();
        let o = verify();
        let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(said.contains("is not executable"), "{scope} {mode}: {said}");
    }
}

/// Loads a plist with plistlib and checks what launchd needs; exits 1 naming the problem.
const PLIST_CHECK: &str = r#"
import plistlib, sys
path, mode, scope, exe, data, env_path = sys.argv[1:7]
with open(path, "rb") as f:
    p = plistlib.load(f)
def need(cond, what):
    if not cond:
        sys.exit(f"{path}: {what}: {p!r}")
need(p.get("Label") == "com.agent-ops.orchestrator", "Label")
args = p.get("ProgramArguments")
need(args == ([exe] if mode == "timer" else [exe, "--loop"]), "ProgramArguments")
if mode == "timer":
    need(type(p.get("StartInterval")) is int and p["StartInterval"] > 0 and "KeepAlive" not in p, "StartInterval")
else:
    need(p.get("KeepAlive") is True and "StartInterval" not in p, "KeepAlive")
need(p.get("RunAtLoad") is True, "RunAtLoad")
for key in ("StandardOutPath", "StandardErrorPath"):
    need(p.get(key, "").startswith(data + "/logs/"), key)
env = p.get("EnvironmentVariables", {})
need(env.get("AGENT_OPS_HOME") == data, "EnvironmentVariables AGENT_OPS_HOME")
need(env.get("PATH") == env_path, "EnvironmentVariables PATH")
need(("UserName" in p) == (scope == "system"), "UserName only in system scope")
strings = [args[0], p["StandardOutPath"], p["StandardErrorPath"], env["AGENT_OPS_HOME"]]
need(all(s.startswith("/") for s in strings), "absolute paths")
"#;

#[test]
fn plists_parse_as_property_lists_with_what_launchd_needs() {
    let Some(python) = test_support::require_tool("python3") else { return };
    let check = |path: &Path, mode: &str, scope: &str, exe: &str, data: &str, env_path: &str| {
        let o = Command::new(&python)
            .args(["-c", PLIST_CHECK])
            .arg(path)
            .args([mode, scope, exe, data, env_path])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    for (scope, mode) in [("user", "timer"), ("user", "daemon"), ("system", "timer"), ("system", "daemon")] {
        let committed = repo().join(format!("dist/launchd/{scope}-{mode}/com.agent-ops.orchestrator.plist"));
        check(
            &committed,
            mode,
            scope,
            "/Users/alice/.agent-ops/bin/orchestrator",
            "/Users/alice/.agent-ops",
            "/Users/alice/.agent-ops/bin:/Users/alice/.local/bin:/usr/local/bin:/usr/bin:/bin:/opt/homebrew/bin:\
             /usr/sbin:/sbin",
        );
        // XML's special characters in the paths come back as written.
        let s = Sandbox::new();
        let prefix = s.dir.path().join("R&D <ops>/bin");
        let tools = s.dir.path().join("a&b <\"tools\">");
        let out_dir = s.out();
        s.xtask(&[
            "install-service",
            "--init",
            "launchd",
            "--scope",
            scope,
            "--mode",
            mode,
            "--prefix",
            prefix.to_str().unwrap(),
            "--path",
            tools.to_str().unwrap(),
            "--dry-run",
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        let data = s.home().join(".agent-ops");
        check(
            &out_dir.join("com.agent-ops.orchestrator.plist"),
            mode,
            scope,
            prefix.join("orchestrator").to_str().unwrap(),
            data.to_str().unwrap(),
            &format!(
                "{}:{}:/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                prefix.display(),
                tools.display()
            ),
        );
    }
}

#[test]
fn without_path_the_service_gets_the_installing_users_path() {
    let s = Sandbox::new();
    let tools = s.dir.path().join("my tools 100%");
    let rustup = s.dir.path().join("rustup");
    let toolchain = rustup.join("toolchains/stable-x86_64-unknown-linux-gnu/bin");
    for d in [&tools, &toolchain] {
        fs::create_dir_all(d).unwrap();
    }
    // xtask asks `id` for the uid: its directory stays in the PATH.
    let system = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .find(|d| d.join("id").is_file())
        .expect("id in PATH");
    let path = std::env::join_paths([
        tools.clone(),
        "relative/bin".into(),
        s.dir.path().join("missing"),
        toolchain,
        tools.clone(),
        system.clone(),
    ])
    .unwrap();
    let out_dir = s.out();
    let args = ["install-service", "--init", "systemd", "--dry-run", "--out", out_dir.to_str().unwrap()];
    let printed = stdout(&s.xtask_with(&args, &[("PATH", &path), ("RUSTUP_HOME", rustup.as_os_str())]));

    let mut dirs = vec![s.home().join(".agent-ops/bin"), tools, system];
    for d in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin"] {
        if !dirs.iter().any(|x| x == Path::new(d)) {
            dirs.push(d.into());
        }
    }
    let expected = std::env::join_paths(&dirs).unwrap().into_string().unwrap();
    assert!(printed.contains(&format!("note: the service runs with PATH={expected} (")), "{printed}");
    let unit = fs::read_to_string(out_dir.join("agent-ops.service")).unwrap();
    let line = format!("Environment=\"PATH={}\"\n", expected.replace('%', "%%"));
    assert!(unit.contains(&line), "{line:?} not in\n{unit}");
}

/// The action lines of a run ("  create ...", "  write ...": the indented lines after the first
/// line), without a dry run's "would " and what it adds after a generated file's line.
fn actions(printed: &str) -> Vec<String> {
    printed
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            let l = l.replacen("  would ", "  ", 1);
            l.split(" (written to ").next().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn a_dry_run_announces_exactly_the_actions_a_real_run_carries_out() {
    let s = Sandbox::new();
    s.fake_release();
    let out_dir = s.out();
    let install =
        ["install-service", "--init", "systemd", "--path", "/usr/bin", "--no-build", "--files-only"];
    let dry = stdout(&s.xtask(&[&install[..], &["--dry-run", "--out", out_dir.to_str().unwrap()]].concat()));
    let real = stdout(&s.xtask(&install));
    assert_eq!(actions(&dry), actions(&real), "dry run:\n{dry}\nreal run:\n{real}");
    assert!(actions(&real).len() > 10, "{real}");

    let uninstall = ["uninstall-service", "--init", "systemd", "--files-only"];
    let dry = stdout(&s.xtask(&[&uninstall[..], &["--dry-run"]].concat()));
    let real = stdout(&s.xtask(&uninstall));
    assert_eq!(actions(&dry), actions(&real), "dry run:\n{dry}\nreal run:\n{real}");
    assert!(actions(&real).iter().any(|a| a.starts_with("  remove ")), "{real}");
}
