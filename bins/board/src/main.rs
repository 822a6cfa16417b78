//! `board`: the ops task board from the command line. Adds, moves, edits, lists and shows
//! tasks in `~/.agent-ops/state/board.json` under the Python kit's lock, finds stalled tasks
//! and recovers a corrupt board. Exit 0 done, 1 failed (or stalled tasks found), 2 usage error
//! (nothing changed).

mod cli;
mod render;

use std::process::ExitCode;
use std::time::Duration;

use cli::{Args, Cmd};
use ops_board::{BoardError, BoardFile, StalledQuery, Task};
use ops_cli::{Failure, exit};
use time::OffsetDateTime;

/// `stalled_task_hours` without a services.json.
const DEFAULT_STALLED: Duration = Duration::from_secs(24 * 3600);

fn main() -> ExitCode {
    ops_cli::main(run)
}

fn run(args: Args) -> Result<ExitCode, Failure> {
    let started = ops_cli::start(args.command.config())?;
    let json = args.json;
    let mut warnings = Vec::new();
    // Warnings (a board read from its backup ...) are printed whether the command worked or not.
    let outcome = command(args, &started, &mut warnings);
    let warnings = ops_cli::warning_lines(&warnings);
    Ok(match outcome {
        // JSON is a document for programs, written exactly; tables are text for people.
        Ok((stdout, code)) if json => ops_cli::finish_document(&stdout, &warnings, code),
        Ok((stdout, code)) => ops_cli::finish(&stdout, &warnings, code),
        Err(f) => ops_cli::finish("", &format!("{warnings}error: {}\n", f.message), f.code),
    })
}

/// Runs the command: what to print on stdout and the exit code.
fn command(
    args: Args,
    started: &ops_cli::Started,
    warnings: &mut Vec<String>,
) -> Result<(String, u8), Failure> {
    let file = BoardFile::new(started.layout.board()).map_err(render::failure)?;
    let json = args.json;
    let change =
        |verb: &str, warnings: &mut Vec<String>, f: &dyn Fn(&BoardFile) -> Result<Task, BoardError>| {
            if args.recover
                && let Some(aside) = file.recover().map_err(render::failure)?
            {
                warnings.push(render::recovered_before_change(&file, &aside));
            }
            let task = f(&file).map_err(render::failure)?;
            Ok::<_, Failure>(if json { render::json(&task) } else { render::changed(verb, &task) })
        };
    let (stdout, code) = match args.command {
        Cmd::Add(new) => {
            let new = new.into();
            (change("Created:", warnings, &|f| f.add(&new))?, exit::OK)
        }
        Cmd::Move { id, column } => {
            let verb = format!("Moved to {column}:");
            (change(&verb, warnings, &|f| f.move_task(&id, &column))?, exit::OK)
        }
        Cmd::Edit(edit) => {
            let id = edit.id.clone();
            let edit = edit.into();
            (change("Updated:", warnings, &|f| f.edit(&id, &edit))?, exit::OK)
        }
        Cmd::Archive { id } => (change("Archived:", warnings, &|f| f.archive(&id))?, exit::OK),
        Cmd::Delete { id } => (change("Deleted:", warnings, &|f| f.delete(&id))?, exit::OK),
        Cmd::List(filter) => {
            let board = read(&file, warnings)?;
            let tasks = board.list(&filter.into()).map_err(render::failure)?;
            (if json { render::json(&tasks) } else { render::task_table(&tasks) }, exit::OK)
        }
        Cmd::Show { id } => {
            let board = read(&file, warnings)?;
            let task = board.find(&id).map_err(render::failure)?;
            (if json { render::json(task) } else { render::show(task) }, exit::OK)
        }
        Cmd::Recover => {
            let aside = file.recover().map_err(render::failure)?;
            let tasks = match &aside {
                Some(a) if a.restored_from_backup => {
                    Some(file.read().map_err(render::failure)?.board.tasks.len())
                }
                _ => None,
            };
            let text = if json {
                render::recover_json(&file, aside.as_ref(), tasks)
            } else {
                render::recover(&file, aside.as_ref(), tasks)
            };
            (text, exit::OK)
        }
        Cmd::Stalled { hours, columns, .. } => {
            let older_than = match hours {
                Some(h) => h,
                None => started.config_optional()?.map_or(DEFAULT_STALLED, |c| c.stalled_task_after),
            };
            let query = if columns.is_empty() {
                StalledQuery::in_progress(older_than)
            } else {
                StalledQuery { older_than, columns }
            };
            let board = read(&file, warnings)?;
            if let Some(column) = query.columns.iter().find(|c| !board.columns.contains(c)) {
                let columns = board.columns.clone();
                return Err(render::failure(BoardError::UnknownColumn { column: column.clone(), columns }));
            }
            let found = board.stalled(&query, OffsetDateTime::now_utc());
            warnings.extend(found.unreadable.iter().map(|t| render::unreadable(t)));
            let text =
                if json { render::stalled_json(&found, &query) } else { render::stalled(&found, &query) };
            (text, if found.tasks.is_empty() { exit::OK } else { exit::FAILED })
        }
    };
    Ok((stdout, code))
}

fn read(file: &BoardFile, warnings: &mut Vec<String>) -> Result<ops_board::Board, Failure> {
    let snapshot = file.read().map_err(render::failure)?;
    warnings.extend(snapshot.fallback.map(|f| f.to_string()));
    Ok(snapshot.board)
}
