//! `cargo xtask dist`: writes `dist/<init>/<scope>-<mode>/`, the units and plists that
//! `install-service` generates for the documented options (user `alice`, default paths,
//! interval 300), so they can be read and reviewed without running anything. A test fails
//! when they drift from the generator.

use std::path::{Path, PathBuf};

use crate::bench::repo;
use crate::units;

/// The generated files under `dist/`: relative path and contents.
pub fn expected() -> Result<Vec<(PathBuf, String)>, String> {
    let mut files = Vec::new();
    for (dir, spec) in units::documented() {
        for f in spec.render()? {
            files.push((dir.join(f.name), f.text));
        }
    }
    Ok(files)
}

/// The directories of `dist/` the generator owns (everything else there is hand-written).
fn owned_dirs(dist: &Path) -> Vec<PathBuf> {
    units::Init::ALL.iter().map(|init| dist.join(init.name())).collect()
}

/// The differences between `dist` and the generator, one line each (empty when current).
pub fn differences(dist: &Path) -> Result<Vec<String>, String> {
    let expected = expected()?;
    let mut out = Vec::new();
    for (rel, text) in &expected {
        match std::fs::read_to_string(dist.join(rel)) {
            Ok(actual) if actual == *text => {}
            Ok(_) => out.push(format!("dist/{} differs from the generator", rel.display())),
            Err(e) => out.push(format!("dist/{}: {e}", rel.display())),
        }
    }
    for dir in owned_dirs(dist) {
        for file in files_under(&dir) {
            let rel = file.strip_prefix(dist).unwrap_or(&file).to_path_buf();
            if !expected.iter().any(|(r, _)| *r == rel) {
                out.push(format!("dist/{} is not generated any more", rel.display()));
            }
        }
    }
    Ok(out)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() { files.extend(files_under(&p)) } else { files.push(p) }
    }
    files
}

pub fn run(args: &[String]) -> Result<(), String> {
    let dist = repo().join("dist");
    match args {
        [] => {}
        [check] if check == "--check" => {
            let diffs = differences(&dist)?;
            if diffs.is_empty() {
                println!("dist/ is up to date");
                return Ok(());
            }
            return Err(format!("{}\nregenerate with `cargo xtask dist`", diffs.join("\n")));
        }
        _ => return Err("usage: cargo xtask dist [--check]".into()),
    }
    for dir in owned_dirs(&dist) {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
    }
    for (rel, text) in expected()? {
        let path = dist.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote dist/{}", rel.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_dist_files_match_the_generator() {
        let diffs = differences(&repo().join("dist")).unwrap();
        assert!(
            diffs.is_empty(),
            "dist/ is out of date with xtask/src/units.rs:\n  {}\nregenerate it with `cargo xtask dist` and commit the result",
            diffs.join("\n  ")
        );
    }

    #[test]
    fn a_changed_or_extra_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in expected().unwrap() {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        assert!(differences(dir.path()).unwrap().is_empty());
        std::fs::write(dir.path().join("systemd/user-timer/agent-ops.timer"), "edited").unwrap();
        std::fs::write(dir.path().join("launchd/old.plist"), "stale").unwrap();
        std::fs::write(dir.path().join("README.md"), "hand-written, not owned").unwrap();
        let diffs = differences(dir.path()).unwrap();
        assert_eq!(
            diffs,
            [
                "dist/systemd/user-timer/agent-ops.timer differs from the generator",
                "dist/launchd/old.plist is not generated any more",
            ]
        );
    }
}
