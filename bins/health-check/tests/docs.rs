//! `health-check --generate-docs DIR`: the hidden flag `cargo xtask man` and `cargo xtask
//! completions` use to get the man page and shell completions from the binary itself.

use std::fs;

use assert_cmd::Command;

const OPTIONS: [&str; 6] =
    ["--config", "--json", "--only", "--prometheus-textfile", "--no-metrics", "--fail-on-warning"];

#[test]
fn generate_docs_writes_the_man_page_and_completions_for_every_option() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("health-check")
        .unwrap()
        .env_clear()
        .arg("--generate-docs")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = fs::read_to_string(dir.path().join("man/health-check.1")).unwrap();
    assert!(page.contains(".TH health-check 1"), "{page}");
    assert!(page.contains("Check every service in services.json at once"), "{page}");
    for option in OPTIONS {
        assert!(page.contains(&option.replace('-', "\\-")), "the man page lacks {option}");
    }
    let bash = dir.path().join("completions/health-check.bash");
    let text = fs::read_to_string(&bash).unwrap();
    for option in OPTIONS {
        assert!(text.contains(option), "the bash completion lacks {option}");
    }
    assert!(std::process::Command::new("bash").arg("-n").arg(&bash).status().unwrap().success());
    for other in ["_health-check", "health-check.fish"] {
        let text = fs::read_to_string(dir.path().join("completions").join(other)).unwrap();
        assert!(text.contains("prometheus-textfile"), "{other}");
    }
    assert!(!page.contains("generate"), "the hidden flag is not documented");
}

#[test]
fn the_flag_is_hidden_and_needs_exactly_one_directory() {
    let help = Command::cargo_bin("health-check").unwrap().arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(!String::from_utf8_lossy(&help.stdout).contains("generate"));
    let bare = Command::cargo_bin("health-check").unwrap().arg("--generate-docs").output().unwrap();
    assert_eq!(bare.status.code(), Some(2), "without a directory it is an unknown argument");
}

/// The README's first command, run as it is written (with HOME pointing at an empty temp dir):
/// it works, and it leaves the user's home untouched.
#[test]
fn the_readme_demo_writes_nothing_to_the_users_home() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = fs::read_to_string(repo.join("README.md")).unwrap();
    let demo = readme.lines().find(|l| l.starts_with("cargo run -q -p health-check -- ")).unwrap();
    let args: Vec<&str> =
        demo.split('#').next().unwrap().split_whitespace().skip_while(|w| *w != "--").skip(1).collect();
    assert!(args.contains(&"--no-metrics"), "{demo}");
    let home = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("health-check")
        .unwrap()
        .current_dir(&repo)
        .env("HOME", home.path())
        .env_remove("AGENT_OPS_HOME")
        .env_remove("AGENT_OPS_CONFIG")
        .env_remove("AGENT_OPS_METRICS_DIR")
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("[OK] Agent Ops repository - "), "{stdout}");
    assert_eq!(fs::read_dir(home.path()).unwrap().count(), 0, "the demo wrote to HOME");
}
