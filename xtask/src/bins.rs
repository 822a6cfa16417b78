//! The binaries of this checkout: found in `bins/` (package name = directory name = binary
//! name), so tasks keep working as binaries are added; built with cargo.

use std::path::PathBuf;
use std::process::Command;

use crate::bench::repo;

/// The binaries in `bins/`, sorted: every directory there with a Cargo.toml.
pub fn binaries() -> Result<Vec<String>, String> {
    let dir = repo().join("bins");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// Cargo's target directory: `CARGO_TARGET_DIR` or `target/` in the repository.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { repo().join(dir) }
        }
        _ => repo().join("target"),
    }
}

/// Which cargo profile a build uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `target/debug`: quick to build (man pages, completions).
    Dev,
    /// `target/release`: what is installed.
    Release,
}

/// The cargo command line that builds `names` with `profile`.
pub fn build_command(names: &[String], profile: Profile) -> Vec<String> {
    let mut argv = vec!["cargo".to_owned(), "build".to_owned(), "--quiet".to_owned()];
    if profile == Profile::Release {
        argv.push("--release".into());
    }
    for n in names {
        argv.push("-p".into());
        argv.push(n.clone());
    }
    argv
}

/// Builds `names` and returns the directory holding the executables.
pub fn build(names: &[String], profile: Profile) -> Result<PathBuf, String> {
    let argv = build_command(names, profile);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(repo())
        .args(&argv[1..])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("`{}` failed", argv.join(" ")));
    }
    Ok(target_dir().join(match profile {
        Profile::Dev => "debug",
        Profile::Release => "release",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_health_check_and_only_packages() {
        let names = binaries().unwrap();
        assert!(names.contains(&"health-check".to_owned()), "{names:?}");
        for n in &names {
            let manifest = std::fs::read_to_string(repo().join("bins").join(n).join("Cargo.toml")).unwrap();
            assert!(manifest.contains(&format!("name = \"{n}\"")), "bins/{n}: package name = directory name");
        }
    }
}
