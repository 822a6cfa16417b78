//! The hidden `--generate-docs DIR` flag: man pages and shell completions from a binary's own
//! clap definition.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Command, CommandFactory};
use clap_complete::Shell;

use crate::err;

/// The hidden flag: `<binary> --generate-docs DIR`. It is read before clap parses anything, so
/// it works for binaries whose subcommands are required, and it is in no `--help`.
pub const GENERATE_DOCS: &str = "--generate-docs";

/// The shells completions are written for, with the file each gets in `completions/`:
/// bash `<bin>.bash`, zsh `_<bin>`, fish `<bin>.fish`.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Why the documentation could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    /// A directory or file under the output directory could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The directory or file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// `Some(DIR)` when the command line (program name first) is exactly
/// `<binary> --generate-docs DIR`; `None` for every other command line.
pub fn docs_request(args: impl IntoIterator<Item = OsString>) -> Option<PathBuf> {
    let mut args = args.into_iter().skip(1);
    let (Some(flag), Some(dir), None) = (args.next(), args.next(), args.next()) else {
        return None;
    };
    (flag == GENERATE_DOCS && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// Writes `dir/man/<name>.1` (and one page per visible subcommand, `<name>-<sub>.1`) and
/// `dir/completions/` for every shell in [`SHELLS`]. Returns the files written, sorted.
pub fn write_docs(cmd: Command, dir: &Path) -> Result<Vec<PathBuf>, DocsError> {
    let man_dir = dir.join("man");
    let completions_dir = dir.join("completions");
    for d in [&man_dir, &completions_dir] {
        fs::create_dir_all(d).map_err(|source| DocsError::Write { path: d.clone(), source })?;
    }
    let name = cmd.get_name().to_owned();
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write_man_pages(&cmd, &man_dir, &mut written)?;
    for shell in SHELLS {
        let path = completions_dir.join(clap_complete::Generator::file_name(&shell, &name));
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut cmd, &name, &mut text);
        fs::write(&path, text).map_err(|source| DocsError::Write { path: path.clone(), source })?;
        written.push(path);
    }
    written.sort();
    Ok(written)
}

fn write_man_pages(cmd: &Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<(), DocsError> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_man_pages(sub, dir, written)?;
    }
    let source = format!("agent-ops {}", cmd.get_version().unwrap_or(env!("CARGO_PKG_VERSION")));
    let man = clap_mangen::Man::new(cmd.clone()).manual("agent-ops manual").source(source);
    let path = dir.join(man.get_filename());
    let mut text = Vec::new();
    man.render(&mut text).map_err(|source| DocsError::Write { path: path.clone(), source })?;
    fs::write(&path, text).map_err(|source| DocsError::Write { path: path.clone(), source })?;
    written.push(path);
    Ok(())
}

/// When the process was started as `<binary> --generate-docs DIR`, writes the docs and returns
/// the exit code (0, or 1 after printing `error: ...` on stderr); otherwise `None`.
pub(crate) fn docs_if_asked<C: CommandFactory>() -> Option<ExitCode> {
    let dir = docs_request(std::env::args_os())?;
    Some(match write_docs(C::command(), &dir) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            err(&format!("error: {e}\n"));
            ExitCode::FAILURE
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Parser, Subcommand};

    /// A tool with subcommands, like `board`.
    #[derive(Parser)]
    #[command(name = "tool", version, about = "Manage things.")]
    struct Tool {
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: Cmd,
    }

    #[derive(Subcommand)]
    enum Cmd {
        /// Add a thing.
        Add {
            /// Its title.
            title: String,
            /// How urgent it is.
            #[arg(long, value_parser = ["low", "high"])]
            priority: Option<String>,
        },
        /// Not for people.
        #[command(hide = true)]
        Internal,
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn only_the_exact_flag_and_one_directory_ask_for_docs() {
        assert_eq!(docs_request(os(&["tool", "--generate-docs", "d"])), Some(PathBuf::from("d")));
        assert_eq!(docs_request(os(&["tool", "--generate-docs"])), None);
        assert_eq!(docs_request(os(&["tool", "--generate-docs", ""])), None);
        assert_eq!(docs_request(os(&["tool", "--generate-docs", "d", "x"])), None);
        assert_eq!(docs_request(os(&["tool", "add", "--generate-docs", "d"])), None);
        assert_eq!(docs_request(os(&["tool"])), None);
    }

    #[test]
    fn pages_for_the_command_and_visible_subcommands_and_three_shells() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_docs(Tool::command(), dir.path()).unwrap();
        let names: Vec<String> =
            written.iter().map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string()).collect();
        assert_eq!(
            names,
            [
                "completions/_tool",
                "completions/tool.bash",
                "completions/tool.fish",
                "man/tool-add.1",
                "man/tool.1"
            ]
        );
        let page = fs::read_to_string(dir.path().join("man/tool.1")).unwrap();
        assert!(page.contains("\n.TH tool 1 "), "{page}");
        assert!(page.contains("Manage things") && page.contains("add") && !page.contains("Internal"));
        let add = fs::read_to_string(dir.path().join("man/tool-add.1")).unwrap();
        assert!(add.contains("priority") && add.contains("Its title"), "{add}");
        let bash = fs::read_to_string(dir.path().join("completions/tool.bash")).unwrap();
        assert!(bash.contains("--priority") && bash.contains("low high"), "{bash}");
        let status = std::process::Command::new("bash")
            .arg("-n")
            .arg(dir.path().join("completions/tool.bash"))
            .status()
            .unwrap();
        assert!(status.success(), "bash -n rejects the bash completion");
    }

    #[test]
    fn an_unwritable_directory_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        let err = write_docs(Tool::command(), &file).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!("cannot write {}", file.join("man").display())),
            "{err}"
        );
    }
}
