//! The command line: clap definitions and their translation into `ops_kit::board::Command`.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgGroup, Parser, Subcommand};
use ops_board::{Edit, Filter, NewTask, Priority};
use ops_kit::board::Command;

/// The ops task board: ~/.agent-ops/state/board.json, shared with the seed's agent_ops_board.py.
///
/// Every change is one locked, atomic, fsynced rewrite; the previous version stays as
/// board.json.bak. IDs may be shortened to any unique prefix (`board show 1a2b`). Exit status:
/// 0 done, 1 failed (corrupt board, lock held for 30 s, I/O error), 2 usage error (unknown id,
/// column or option; nothing was changed).
#[derive(Parser)]
#[command(
    name = "board",
    version,
    after_help = "Environment: AGENT_OPS_HOME (default ~/.agent-ops), AGENT_OPS_CONFIG (for `stalled`)."
)]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// If board.json is corrupt, move it aside and continue from its backup before changing it.
    #[arg(long, global = true)]
    pub recover: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

fn priority() -> impl TypedValueParser<Value = Priority> {
    PossibleValuesParser::new(Priority::ALL.map(Priority::as_str)).try_map(|s| s.parse::<Priority>())
}

fn hours(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(h) if h.is_finite() && h >= 0.0 => Ok(h),
        _ => Err(format!("{s:?} is not a number of hours (0 or more)")),
    }
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Cmd {
    /// Add a task to the first column ("open").
    Add {
        /// What to do.
        title: String,
        /// Who does it.
        #[arg(long, default_value = "")]
        owner: String,
        /// How urgent it is.
        #[arg(long, value_parser = priority(), default_value = "medium")]
        priority: Priority,
        /// Details.
        #[arg(long, default_value = "")]
        description: String,
        /// A label (repeatable).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// Move a task to another column.
    Move {
        /// The task's id or a unique prefix of it.
        id: String,
        /// One of the board's columns (open, in-progress, in-review, done on the seed's board).
        column: String,
    },
    /// Change a task's title, owner, priority, description or tags.
    #[command(group(ArgGroup::new("change").required(true).multiple(true)))]
    Edit {
        /// The task's id or a unique prefix of it.
        id: String,
        /// New title.
        #[arg(long, group = "change")]
        title: Option<String>,
        /// New owner ("" for nobody).
        #[arg(long, group = "change")]
        owner: Option<String>,
        /// New priority.
        #[arg(long, value_parser = priority(), group = "change")]
        priority: Option<Priority>,
        /// New description.
        #[arg(long, group = "change")]
        description: Option<String>,
        /// Replace all tags with these (repeatable).
        #[arg(long = "tag", value_name = "TAG", group = "change")]
        tags: Vec<String>,
        /// Remove every tag.
        #[arg(long, group = "change", conflicts_with = "tags")]
        clear_tags: bool,
        /// Add a tag (repeatable).
        #[arg(long, value_name = "TAG", group = "change")]
        add_tag: Vec<String>,
        /// Remove a tag (repeatable).
        #[arg(long, value_name = "TAG", group = "change")]
        remove_tag: Vec<String>,
    },
    /// List tasks in the order they were added.
    List {
        /// Only this column.
        #[arg(long)]
        column: Option<String>,
        /// Only this owner.
        #[arg(long)]
        owner: Option<String>,
        /// Only tasks with this tag (repeatable: all of them).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Only this priority.
        #[arg(long, value_parser = priority())]
        priority: Option<Priority>,
    },
    /// Show one task in full.
    Show {
        /// The task's id or a unique prefix of it.
        id: String,
    },
    /// Tasks in progress without a change for more than N hours.
    Stalled {
        /// Hours [default: stalled_task_hours from services.json, else 24].
        #[arg(long, value_parser = hours)]
        hours: Option<f64>,
        /// Watch this column instead of in-progress (repeatable).
        #[arg(long = "column", value_name = "COLUMN")]
        columns: Vec<String>,
        /// The services.json to read [default: $AGENT_OPS_CONFIG or ~/.agent-ops/config/services.json].
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Move a corrupt board.json aside (board.json.corrupt-TIME) and continue from its backup.
    Recover,
    /// Take a task off the board into state/board-archive.jsonl.
    Archive {
        /// The task's id or a unique prefix of it.
        id: String,
    },
    /// Delete a task (it stays in board.json.bak until the next change).
    Delete {
        /// The task's id or a unique prefix of it.
        id: String,
    },
}

impl Cmd {
    /// The services.json given with `stalled --config`.
    pub fn config(&self) -> Option<&std::path::Path> {
        match self {
            Self::Stalled { config, .. } => config.as_deref(),
            _ => None,
        }
    }

    /// The command for ops-kit.
    pub fn into_command(self) -> Command {
        match self {
            Self::Add { title, owner, priority, description, tags } => {
                Command::Add(NewTask { title, owner, priority, description, tags })
            }
            Self::Move { id, column } => Command::Move { id, column },
            Self::Edit { id, title, owner, priority, description, tags, clear_tags, add_tag, remove_tag } => {
                let set_tags =
                    if clear_tags { Some(Vec::new()) } else { Some(tags).filter(|t| !t.is_empty()) };
                let edit = Edit {
                    title,
                    owner,
                    priority,
                    description,
                    set_tags,
                    add_tags: add_tag,
                    remove_tags: remove_tag,
                };
                Command::Edit { id, edit }
            }
            Self::List { column, owner, tags, priority } => Command::List(Filter {
                column,
                owner,
                tags,
                priority: priority.map(|p| p.as_str().to_owned()),
            }),
            Self::Show { id } => Command::Show { id },
            Self::Stalled { hours, columns, .. } => Command::Stalled { hours, columns },
            Self::Recover => Command::Recover,
            Self::Archive { id } => Command::Archive { id },
            Self::Delete { id } => Command::Delete { id },
        }
    }
}
