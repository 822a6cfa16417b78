//! `cargo xtask man` and `cargo xtask completions`: man pages and shell completions for every
//! binary in `bins/`. Each binary writes its own from its clap definition when started as
//! `<binary> --generate-docs DIR` (crates/ops-cli), so xtask links none of the binaries' crates
//! and a binary added to `bins/` is picked up without touching xtask.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bins;

/// What each binary's `main` is, so that it answers `--generate-docs` (and starts and stops
/// like the others): `fn main() -> ExitCode { ops_cli::main(run) }`.
pub const HOOK: &str = "ops_cli::main(run)";

fn parse_out(args: &[String], task: &str, default: PathBuf) -> Result<PathBuf, String> {
    match args {
        [] => Ok(default),
        [flag, dir] if flag == "--out" => Ok(PathBuf::from(dir)),
        [one] if one.starts_with("--out=") => Ok(PathBuf::from(&one["--out=".len()..])),
        _ => Err(format!("usage: cargo xtask {task} [--out DIR]")),
    }
}

/// Builds every binary, asks each for its docs, and copies the `kind` part (`man` or
/// `completions`) into `out`. Returns the files written.
fn generate(kind: &str, out: &Path) -> Result<Vec<PathBuf>, String> {
    let names = bins::binaries()?;
    let exe_dir = bins::build(&names, bins::Profile::Dev)?;
    let scratch = bins::target_dir().join("generate-docs");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut written = Vec::new();
    let mut failed = Vec::new();
    for name in &names {
        let dir = scratch.join(name);
        let result = Command::new(exe_dir.join(name)).arg("--generate-docs").arg(&dir).output();
        match result {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                failed.push(format!(
                    "{name} does not answer --generate-docs ({}): start main in bins/{name}/src/main.rs with \
                     `if let Some(code) = {HOOK} {{ return code; }}`",
                    String::from_utf8_lossy(&o.stderr).lines().next().unwrap_or("no message")
                ));
                continue;
            }
            Err(e) => {
                failed.push(format!("cannot run {}: {e}", exe_dir.join(name).display()));
                continue;
            }
        }
        let from = dir.join(kind);
        let entries = std::fs::read_dir(&from).map_err(|e| format!("{}: {e}", from.display()))?;
        let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let to = out.join(f.file_name().unwrap_or_default());
            std::fs::copy(&f, &to)
                .map_err(|e| format!("cannot copy {} to {}: {e}", f.display(), to.display()))?;
            written.push(to);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if failed.is_empty() { Ok(written) } else { Err(failed.join("\n")) }
}

pub fn man(args: &[String]) -> Result<(), String> {
    let out = parse_out(args, "man", bins::target_dir().join("man"))?;
    for f in generate("man", &out)? {
        println!("wrote {}", f.display());
    }
    println!("read one with `man -l {}`", out.join("health-check.1").display());
    Ok(())
}

pub fn completions(args: &[String]) -> Result<(), String> {
    let out = parse_out(args, "completions", bins::target_dir().join("completions"))?;
    for f in generate("completions", &out)? {
        println!("wrote {}", f.display());
    }
    println!(
        "bash: copy NAME.bash to ~/.local/share/bash-completion/completions/NAME; zsh: _NAME into a directory \
         of your $fpath; fish: NAME.fish to ~/.config/fish/completions/"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::repo;

    #[test]
    fn every_binary_answers_generate_docs() {
        for name in bins::binaries().unwrap() {
            let main = repo().join("bins").join(&name).join("src/main.rs");
            let text = std::fs::read_to_string(&main).unwrap();
            assert!(
                text.contains(HOOK),
                "bins/{name} does not answer --generate-docs, so `cargo xtask man` and `cargo xtask completions` \
                 cannot document it: make its main `fn main() -> ExitCode {{ {HOOK} }}` \
                 and add `ops-cli.workspace = true` to its [dependencies]"
            );
        }
    }

    #[test]
    fn out_option() {
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(parse_out(&s(&[]), "man", "d".into()).unwrap(), PathBuf::from("d"));
        assert_eq!(parse_out(&s(&["--out", "x"]), "man", "d".into()).unwrap(), PathBuf::from("x"));
        assert_eq!(parse_out(&s(&["--out=y"]), "man", "d".into()).unwrap(), PathBuf::from("y"));
        assert!(parse_out(&s(&["x"]), "man", "d".into()).unwrap_err().contains("[--out DIR]"));
    }
}
