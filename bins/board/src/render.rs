//! What `board` prints: tables and one-task views for people (control characters never reach
//! the terminal), pretty JSON for programs.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use ops_board::{BoardError, BoardFile, SetAside, Stalled, StalledQuery, StalledTask, Task};
use ops_cli::{Failure, exit};
use ops_state::timestamp::parse_utc;
use serde::Serialize;
use time::macros::format_description;

/// Pretty JSON and a newline; keys in the order they are serialized (a task's as in the file).
pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    out
}

/// `Created: task-1a2b3c4d — Fix the API`, after a change.
pub fn changed(verb: &str, task: &Task) -> String {
    format!("{verb} {} — {}\n", clean(&task.id), clean(&task.title))
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

/// Hours for people: `24h`, `1.5h`.
fn hours(d: Duration) -> String {
    format!("{}h", d.as_secs_f64() / 3600.0)
}

/// `board stalled`: the table and a count, or that there are none.
pub fn stalled(found: &Stalled<'_>, query: &StalledQuery) -> String {
    let watched = query.columns.join(", ");
    let limit = hours(query.older_than);
    if found.tasks.is_empty() {
        return format!("No stalled tasks (none in {watched} for more than {limit})\n");
    }
    format!(
        "{}{} stalled task(s) found (in {watched} for more than {limit})\n",
        stalled_table(&found.tasks),
        found.tasks.len()
    )
}

/// `board stalled --json`.
pub fn stalled_json(found: &Stalled<'_>, query: &StalledQuery) -> String {
    json(&found.report(query))
}

/// The warning for a watched task whose timestamps cannot be read.
pub fn unreadable(task: &Task) -> String {
    format!("{} has no readable timestamp (updatedAt {:?}); it cannot be checked", task.id, task.updated_at)
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

/// The warning when `--recover` set a corrupt board aside before a change.
pub fn recovered_before_change(file: &BoardFile, aside: &SetAside) -> String {
    let from = if aside.restored_from_backup {
        format!("continuing from its backup {}", file.backup_path().display())
    } else {
        "it had no usable backup: starting an empty board".to_owned()
    };
    format!("{} was corrupt; moved it to {}; {from}", file.path().display(), aside.moved_to.display())
}

/// `board recover`: what was done, and how many tasks the restored board holds.
pub fn recover(file: &BoardFile, aside: Option<&SetAside>, tasks: Option<usize>) -> String {
    let path = file.path().display();
    match (aside, tasks) {
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
    }
}

/// `board recover --json`.
pub fn recover_json(file: &BoardFile, aside: Option<&SetAside>, tasks: Option<usize>) -> String {
    #[derive(Serialize)]
    struct Recovered<'a> {
        path: &'a Path,
        was_corrupt: bool,
        moved_to: Option<&'a Path>,
        restored_from_backup: bool,
        tasks: Option<usize>,
    }
    json(&Recovered {
        path: file.path(),
        was_corrupt: aside.is_some(),
        moved_to: aside.map(|a| a.moved_to.as_path()),
        restored_from_backup: aside.is_some_and(|a| a.restored_from_backup),
        tasks,
    })
}

/// A board error as the binary reports it: exit 2 for what the user typed (an unknown id,
/// column or priority, a blank title), 1 for everything else (a corrupt file, a lock timeout,
/// I/O), with a hint where the user can fix it.
#[allow(clippy::needless_pass_by_value)] // by value, for `.map_err(render::failure)`
pub fn failure(e: BoardError) -> Failure {
    let message = match &e {
        BoardError::State(_) if e.is_corrupt() => format!(
            "{e}\nhint: `board recover` moves it aside and continues from the backup (or add --recover to the change)"
        ),
        BoardError::Unreadable { .. } => {
            format!("{e}\nhint: `board recover` moves it aside; the next change starts an empty board")
        }
        _ => e.to_string(),
    };
    let code = match e {
        BoardError::NoSuchTask { .. }
        | BoardError::AmbiguousId { .. }
        | BoardError::UnknownColumn { .. }
        | BoardError::EmptyTitle
        | BoardError::InvalidPriority { .. } => exit::USAGE,
        _ => exit::FAILED,
    };
    Failure { message, code }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ops_board::{Board, NewTask};
    use time::OffsetDateTime;

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

    #[test]
    fn hours_read_as_written() {
        assert_eq!(hours(Duration::from_secs(24 * 3600)), "24h");
        assert_eq!(hours(Duration::from_secs(5400)), "1.5h");
    }
}
