//! Tidy: the architecture rules of docs/ARCHITECTURE.md that a test can check, so they stay
//! true as the code moves.

use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The crates under crates/, by directory name.
fn crates() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The `ops-*` crates a manifest's `[dependencies]` section names.
fn our_dependencies(manifest: &Path) -> Vec<String> {
    let text = fs::read_to_string(manifest).unwrap();
    let mut in_deps = false;
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some(name) = line.split(['.', ' ', '=']).next().filter(|n| n.starts_with("ops-")) {
            found.push(name.to_owned());
        }
    }
    found
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

#[test]
fn leaf_crates_depend_on_no_other_crate_of_ours_but_ops_state() {
    for leaf in ["ops-health", "ops-metrics", "ops-recovery", "ops-alert", "ops-board", "ops-state"] {
        let deps = our_dependencies(&repo().join("crates").join(leaf).join("Cargo.toml"));
        let allowed: &[&str] = if leaf == "ops-state" { &[] } else { &["ops-state"] };
        for dep in &deps {
            assert!(
                allowed.contains(&dep.as_str()),
                "{leaf} depends on {dep}: leaf crates never depend on each other (ops-state aside); \
                 join them in ops-kit, or change docs/ARCHITECTURE.md first"
            );
        }
    }
    let known = [
        "ops-health",
        "ops-metrics",
        "ops-recovery",
        "ops-alert",
        "ops-board",
        "ops-state",
        "ops-cli",
        "ops-kit",
    ];
    for name in crates().iter().filter(|n| n.starts_with("ops-")) {
        assert!(
            known.contains(&name.as_str()),
            "crates/{name} is new: say here and in ARCHITECTURE.md whether it is a leaf"
        );
    }
}

#[test]
fn ops_cli_is_the_binaries_crate_over_the_engine() {
    let deps = our_dependencies(&repo().join("crates/ops-cli/Cargo.toml"));
    assert_eq!(
        deps,
        ["ops-kit"],
        "ops-cli stands between the binaries and ops-kit, and nothing else of ours"
    );
}

#[test]
fn only_ops_kit_reads_the_environment() {
    for name in crates().iter().filter(|n| *n != "test-support") {
        for file in sources(&repo().join("crates").join(name).join("src")) {
            let text = fs::read_to_string(&file).unwrap();
            let allowed = file.ends_with("ops-kit/src/env.rs");
            for needle in ["env::var(", "env::var_os(", "env::vars("] {
                assert!(
                    allowed || !text.contains(needle),
                    "{} reads the environment ({needle}); only ops_kit::Env::capture does",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn every_crate_and_binary_says_what_it_is_in_its_first_lines() {
    let mut roots: Vec<PathBuf> =
        crates().iter().map(|n| repo().join("crates").join(n).join("src/lib.rs")).collect();
    for entry in fs::read_dir(repo().join("bins")).unwrap() {
        roots.push(entry.unwrap().path().join("src/main.rs"));
    }
    roots.push(repo().join("xtask/src/main.rs"));
    for root in roots {
        let text = fs::read_to_string(&root).unwrap();
        assert!(
            text.starts_with("//! "),
            "{} must open with a `//!` paragraph saying what it owns",
            root.display()
        );
    }
}

#[test]
fn binaries_stay_thin() {
    for entry in fs::read_dir(repo().join("bins")).unwrap() {
        let main = entry.unwrap().path().join("src/main.rs");
        let lines = fs::read_to_string(&main).unwrap().lines().count();
        assert!(lines <= 150, "{} has {lines} lines: logic belongs in a crate (ops-kit)", main.display());
    }
}
