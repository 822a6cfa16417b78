//! The `board` commands: where the board is, which `stalled_task_hours` applies, and how
//! tasks are shown (tables for people, JSON for programs). The board itself is ops-board's.

use std::fmt::Write as _;
use std::path::Path;

use ops_board::{Board, BoardError, BoardFile, Edit, Filter, NewTask, StalledQuery, StalledTask, Task};
use ops_state::timestamp::parse_utc;
use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::config::DEFAULT_STALLED_TASK_HOURS;
use crate::{Config, ConfigError, Env, Layout, exit};

/// The board of this layout: `<base>/state/board.json`, locked through `state/board.lock`
/// (the seed's files), archiving to `state/board-archive.jsonl`.
pub fn board_file(layout: &Layout) -> BoardFile {
    BoardFile::new(layout.state.join("board.json"))
}

/// One `board` command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Add a task to the first column.
    Add(NewTask),
    /// Move a task (id or unique id prefix) to a column.
    Move {
        /// Id or unique id prefix.
        id: String,
        /// One of the board's columns.
        column: String,
    },
    /// Change a task's fields.
    Edit {
        /// Id or unique id prefix.
        id: String,
        /// What to change.
        edit: Edit,
    },
    /// List tasks.
    List(Filter),
    /// Show one task in full.
    Show {
        /// Id or unique id prefix.
        id: String,
    },
    /// Tasks without a change for too long.
    Stalled {
        /// Hours; `None` takes `stalled_task_hours` from services.json (24 without one).
        hours: Option<f64>,
        /// Columns to watch; empty means `in-progress`, as the seed.
        columns: Vec<String>,
    },
    /// Move a corrupt board.json aside and continue from its backup.
    Recover,
    /// Take a task off the board into the archive file.
    Archive {
        /// Id or unique id prefix.
        id: String,
    },
    /// Delete a task.
    Delete {
        /// Id or unique id prefix.
        id: String,
    },
}

/// How a command runs and prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Print JSON instead of text.
    pub json: bool,
    /// Before a change, move a corrupt board.json aside and continue from its backup.
    pub recover: bool,
}

/// What a command printed and how it ended; the binary prints it and exits with `code`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// For stdout.
    pub stdout: String,
    /// For stderr, each after `warning: `.
    pub warnings: Vec<String>,
    /// For stderr after `error: `, when the command failed.
    pub error: Option<String>,
    /// The exit code ([`exit`]).
    pub code: u8,
}

/// Runs `command` on the board of `layout`. `env` is only used to read services.json (for
/// `stalled` without `--hours`).
pub fn run(layout: &Layout, env: &Env, command: &Command, options: Options) -> Report {
    let mut report = Report::default();
    let file = board_file(layout);
    let warnings = &mut report.warnings;
    let outcome = match command {
        Command::Stalled { hours, columns } => match stalled_hours(layout, env, *hours, warnings) {
            Ok(hours) => stalled(&file, hours, columns, options, warnings),
            Err(e) => {
                report.error = Some(e.to_string());
                report.code = exit::USAGE;
                return report;
            }
        },
        Command::List(filter) => read(&file, warnings).and_then(|board| {
            let tasks = board.list(filter)?;
            Ok(if options.json { json_lines(&tasks) } else { task_table(&tasks) })
        }),
        Command::Show { id } => read(&file, warnings).and_then(|board| {
            let task = board.find(id)?;
            Ok(if options.json { json_lines(task) } else { show(task) })
        }),
        Command::Recover => recover(&file, options),
        Command::Add(new) => change(&file, options, warnings, "Created:", |f| f.add(new)),
        Command::Move { id, column } => {
            let verb = format!("Moved to {column}:");
            change(&file, options, warnings, &verb, |f| f.move_task(id, column))
        }
        Command::Edit { id, edit } => change(&file, options, warnings, "Updated:", |f| f.edit(id, edit)),
        Command::Archive { id } => change(&file, options, warnings, "Archived:", |f| f.archive(id)),
        Command::Delete { id } => change(&file, options, warnings, "Deleted:", |f| f.delete(id)),
    };
    match outcome {
        Ok(out) => report.stdout = out,
        Err(e) => {
            report.code = exit_code(&e);
            report.error = Some(match &e {
                BoardError::State(_) if e.is_corrupt() => format!(
                    "{e}\nhint: `board recover` moves it aside and continues from the backup (or add --recover to the change)"
                ),
                BoardError::Unreadable { .. } => {
                    format!(
                        "{e}\nhint: `board recover` moves it aside; the next change starts an empty board"
                    )
                }
                _ => e.to_string(),
            });
        }
    }
    report
}

/// The exit code for a board error: 2 for what the user typed (an unknown id, column or
/// priority, a blank title), 1 for everything else (corrupt file, lock timeout, I/O).
pub fn exit_code(e: &BoardError) -> u8 {
    match e {
        BoardError::NoSuchTask { .. }
        | BoardError::AmbiguousId { .. }
        | BoardError::UnknownColumn { .. }
        | BoardError::EmptyTitle
        | BoardError::InvalidPriority { .. } => exit::USAGE,
        _ => exit::FAILED,
    }
}

/// The hours for `board stalled`: the flag, else `stalled_task_hours` from services.json.
/// A services.json missing from its default place means the default (24), silently; one
/// that is broken, or missing where `--config` or `AGENT_OPS_CONFIG` pointed, is an error.
pub fn stalled_hours(
    layout: &Layout,
    env: &Env,
    flag: Option<f64>,
    warnings: &mut Vec<String>,
) -> Result<f64, ConfigError> {
    if let Some(hours) = flag {
        return Ok(hours);
    }
    Ok(match Config::load_optional(layout, env)? {
        Some(loaded) => {
            warnings.extend(loaded.warnings.iter().map(|w| format!("{}: {w}", layout.config.display())));
            loaded.config.stalled_task_hours
        }
        None => DEFAULT_STALLED_TASK_HOURS,
    })
}

fn read(file: &BoardFile, warnings: &mut Vec<String>) -> Result<Board, BoardError> {
    let snapshot = file.read()?;
    warnings.extend(snapshot.fallback.map(|f| f.to_string()));
    Ok(snapshot.board)
}

/// Runs one change (after recovering a corrupt board when asked) and says what it did.
fn change(
    file: &BoardFile,
    options: Options,
    warnings: &mut Vec<String>,
    verb: &str,
    f: impl FnOnce(&BoardFile) -> Result<Task, BoardError>,
) -> Result<String, BoardError> {
    if options.recover {
        warnings.extend(recover_before_change(file)?);
    }
    let task = f(file)?;
    Ok(if options.json {
        json_lines(&task)
    } else {
        format!("{verb} {} — {}\n", clean(&task.id), clean(&task.title))
    })
}

fn recover_before_change(file: &BoardFile) -> Result<Option<String>, BoardError> {
    Ok(file.recover()?.map(|aside| {
        let from = if aside.restored_from_backup {
            format!("continuing from its backup {}", file.backup_path().display())
        } else {
            "it had no usable backup: starting an empty board".to_owned()
        };
        format!("{} was corrupt; moved it to {}; {from}", file.path().display(), aside.moved_to.display())
    }))
}

fn recover(file: &BoardFile, options: Options) -> Result<String, BoardError> {
    let aside = file.recover()?;
    let tasks = match &aside {
        Some(a) if a.restored_from_backup => Some(file.read()?.board.tasks.len()),
        _ => None,
    };
    if options.json {
        #[derive(Serialize)]
        struct Recovered<'a> {
            path: &'a Path,
            was_corrupt: bool,
            moved_to: Option<&'a Path>,
            restored_from_backup: bool,
            tasks: Option<usize>,
        }
        return Ok(json_lines(&Recovered {
            path: file.path(),
            was_corrupt: aside.is_some(),
            moved_to: aside.as_ref().map(|a| a.moved_to.as_path()),
            restored_from_backup: aside.as_ref().is_some_and(|a| a.restored_from_backup),
            tasks,
        }));
    }
    let path = file.path().display();
    Ok(match (aside, tasks) {
        (None, _) => format!("{path} is readable (or absent): nothing to recover\n"),
        (Some(a), Some(n)) => format!(
            "Moved the corrupt {path} to {}\nRestored {} ({n} task(s))\n",
            a.moved_to.display(),
            file.backup_path().display()
        ),
        (Some(a), None) => format!(
            "Moved the corrupt {path} to {}\nThere was no usable backup: the next change starts an empty board\n",
            a.moved_to.display()
        ),
    })
}

fn stalled(
    file: &BoardFile,
    hours: f64,
    columns: &[String],
    options: Options,
    warnings: &mut Vec<String>,
) -> Result<String, BoardError> {
    let board = read(file, warnings)?;
    let query = if columns.is_empty() {
        StalledQuery::in_progress(hours)
    } else {
        StalledQuery { hours, columns: columns.to_vec() }
    };
    for column in &query.columns {
        if !board.columns.contains(column) {
            return Err(BoardError::UnknownColumn { column: column.clone(), columns: board.columns.clone() });
        }
    }
    let found = board.stalled(&query, OffsetDateTime::now_utc());
    warnings.extend(found.unreadable.iter().map(|t| {
        format!("{} has no readable timestamp (updatedAt {:?}); it cannot be checked", t.id, t.updated_at)
    }));
    if options.json {
        #[derive(Serialize)]
        struct Entry<'a> {
            task: &'a Task,
            hours_since_update: f64,
        }
        #[derive(Serialize)]
        struct Answer<'a> {
            hours: f64,
            columns: &'a [String],
            stalled: Vec<Entry<'a>>,
            unreadable_timestamps: Vec<&'a str>,
        }
        return Ok(json_lines(&Answer {
            hours,
            columns: &query.columns,
            stalled: found
                .tasks
                .iter()
                .map(|s| Entry { task: s.task, hours_since_update: s.age.as_secs_f64() / 3600.0 })
                .collect(),
            unreadable_timestamps: found.unreadable.iter().map(|t| t.id.as_str()).collect(),
        }));
    }
    let watched = query.columns.join(", ");
    if found.tasks.is_empty() {
        return Ok(format!("No stalled tasks (none in {watched} for more than {hours}h)\n"));
    }
    Ok(format!(
        "{}{} stalled task(s) found (in {watched} for more than {hours}h)\n",
        stalled_table(&found.tasks),
        found.tasks.len()
    ))
}

/// Pretty JSON and a newline; keys in the order they are serialized (a task's as in the file).
fn json_lines<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    out
}

/// `text` with control characters (newlines, escapes) replaced by spaces, for one table cell.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn or_dash(text: String) -> String {
    if text.is_empty() { "-".to_owned() } else { text }
}

/// `2025-01-15 10:30` (UTC) for a readable timestamp, the text itself otherwise.
fn short_time(stamp: &str) -> String {
    parse_utc(stamp)
        .and_then(|t| t.format(format_description!("[year]-[month]-[day] [hour]:[minute]")).ok())
        .unwrap_or_else(|| clean(stamp))
}

/// Rows padded to the widest cell of each column; the last column is not padded.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|&h| h.to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len() - 1;
        for (i, cell) in row.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push('\n');
    }
    out
}

/// The `board list` table, or `No tasks.`.
pub fn task_table(tasks: &[&Task]) -> String {
    if tasks.is_empty() {
        return "No tasks.\n".to_owned();
    }
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            vec![
                clean(&t.id),
                clean(&t.column),
                or_dash(clean(&t.priority)),
                or_dash(clean(&t.owner)),
                or_dash(clean(&t.tags.join(","))),
                short_time(&t.updated_at),
                clean(&t.title),
            ]
        })
        .collect();
    table(&["ID", "COLUMN", "PRIORITY", "OWNER", "TAGS", "UPDATED (UTC)", "TITLE"], &rows)
}

fn stalled_table(stalled: &[StalledTask<'_>]) -> String {
    let rows: Vec<Vec<String>> = stalled
        .iter()
        .map(|s| {
            let hours = s.age.as_secs() / 3600;
            let age =
                if hours < 48 { format!("{hours}h") } else { format!("{}d {}h", hours / 24, hours % 24) };
            vec![
                clean(&s.task.id),
                clean(&s.task.column),
                or_dash(clean(&s.task.owner)),
                age,
                short_time(if s.task.updated_at.is_empty() {
                    &s.task.created_at
                } else {
                    &s.task.updated_at
                }),
                clean(&s.task.title),
            ]
        })
        .collect();
    table(&["ID", "COLUMN", "OWNER", "STALLED FOR", "SINCE (UTC)", "TITLE"], &rows)
}

/// `board show`: one field a line, then the description, then fields we do not know.
pub fn show(task: &Task) -> String {
    let mut out = String::new();
    let fields = [
        ("id", clean(&task.id)),
        ("title", clean(&task.title)),
        ("column", clean(&task.column)),
        ("owner", or_dash(clean(&task.owner))),
        ("priority", or_dash(clean(&task.priority))),
        ("tags", or_dash(clean(&task.tags.join(", ")))),
        ("created", clean(&task.created_at)),
        ("updated", clean(&task.updated_at)),
    ];
    for (name, value) in fields {
        let _ = writeln!(out, "{name:<12} {value}");
    }
    for (key, value) in &task.extra {
        let _ = writeln!(out, "{:<12} {}", clean(key), clean(&value.to_string()));
    }
    if !task.description.is_empty() {
        out.push_str("description\n");
        for line in task.description.lines() {
            let _ = writeln!(out, "  {}", clean(line));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ops_board::{Board, NewTask};

    fn layout(dir: &std::path::Path) -> Layout {
        Layout::from_env(&Env { agent_ops_home: Some(dir.into()), ..Env::default() }).unwrap()
    }

    #[test]
    fn stalled_hours_come_from_the_flag_then_services_json_then_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let l = layout(dir.path());
        let mut warnings = Vec::new();
        let hours = |l: &Layout, flag, w: &mut Vec<String>| stalled_hours(l, &Env::default(), flag, w);
        assert_eq!(hours(&l, None, &mut warnings).unwrap().to_bits(), 24f64.to_bits(), "no services.json");
        assert_eq!(hours(&l, Some(2.5), &mut warnings).unwrap().to_bits(), 2.5f64.to_bits());
        assert!(warnings.is_empty(), "{warnings:?}");
        std::fs::create_dir_all(l.config.parent().unwrap()).unwrap();
        std::fs::write(&l.config, r#"{"stalled_task_hours": 6, "stalled_task_hour": 1}"#).unwrap();
        assert_eq!(hours(&l, None, &mut warnings).unwrap().to_bits(), 6f64.to_bits());
        assert_eq!(warnings.len(), 1, "the unknown key is a warning");
        assert!(
            warnings[0].contains("services.json") && warnings[0].contains("stalled_task_hours"),
            "{warnings:?}"
        );
        let elsewhere = l.clone().with_config(dir.path().join("missing.json"));
        assert!(matches!(hours(&elsewhere, None, &mut warnings), Err(ConfigError::NotFound { .. })));
    }

    #[test]
    fn exit_codes_separate_what_the_user_typed_from_what_failed() {
        assert_eq!(exit_code(&BoardError::NoSuchTask { query: "x".into() }), exit::USAGE);
        assert_eq!(exit_code(&BoardError::EmptyTitle), exit::USAGE);
        let timeout = ops_state::StateError::LockTimeout {
            path: "board.lock".into(),
            waited: std::time::Duration::from_secs(30),
        };
        assert_eq!(exit_code(&BoardError::State(timeout)), exit::FAILED);
    }

    #[test]
    fn tables_align_and_never_carry_control_characters() {
        let mut board = Board::default();
        let now = OffsetDateTime::now_utc();
        board.add(&NewTask { owner: "zoë".into(), ..NewTask::new("two\nlines \u{1b}[31mred") }, now).unwrap();
        board.add(&NewTask::new("short"), now).unwrap();
        let tasks: Vec<&Task> = board.tasks.iter().collect();
        let text = task_table(&tasks);
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let at = |line: &str, word: &str| line[..line.find(word).unwrap()].chars().count();
        assert_eq!(at(lines[0], "TITLE"), at(lines[1], "two lines"), "{text}");
        assert_eq!(at(lines[0], "TITLE"), at(lines[2], "short"), "{text}");
        assert_eq!(at(lines[0], "PRIORITY"), at(lines[1], "medium"), "{text}");
        assert!(lines[1].ends_with("two lines  [31mred"), "{text}");
        let shown = show(tasks[0]);
        assert!(shown.contains("owner        zoë\n"), "{shown}");
    }
}
