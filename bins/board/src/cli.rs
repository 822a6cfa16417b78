//! The command line: clap definitions.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgGroup, Args as ClapArgs, Parser, Subcommand};
use ops_board::{Edit, Filter, NewTask, Priority};

/// The ops task board: ~/.agent-ops/state/board.json, shared with the Python kit's agent_ops_board.py.
///
/// Every change is one locked, atomic, fsynced rewrite; the previous version stays as
/// board.json.bak. IDs may be shortened to any unique prefix (`board show 1a2b`). Exit status:
/// 0 done, 1 failed (corrupt board, lock held for 30 s, I/O error) or `stalled` found stalled
/// tasks, 2 usage error (unknown id, column or option; nothing was changed).
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

/// Hours as a duration: a number, 0 or more (`--hours -1` is refused with this message, not
/// taken for an option).
fn hours(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|h| *h >= 0.0)
        .and_then(|h| Duration::try_from_secs_f64(h * 3600.0).ok())
        .ok_or_else(|| format!("{s:?} is not a number of hours (0 or more)"))
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Cmd {
    /// Add a task to the first column ("open").
    Add(AddArgs),
    /// Move a task to another column.
    Move {
        /// The task's id or a unique prefix of it.
        id: String,
        /// One of the board's columns (open, in-progress, in-review, done on the default board).
        column: String,
    },
    /// Change a task's title, owner, priority, description or tags.
    Edit(EditArgs),
    /// List tasks in the order they were added.
    List(ListArgs),
    /// Show one task in full.
    Show {
        /// The task's id or a unique prefix of it.
        id: String,
    },
    /// Tasks in progress without a change for more than N hours; exit 1 when there are any.
    Stalled {
        /// Hours [default: stalled_task_hours from services.json, else 24].
        #[arg(long, value_parser = hours, allow_negative_numbers = true)]
        hours: Option<Duration>,
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

/// `board add`.
#[derive(ClapArgs)]
pub struct AddArgs {
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
}

impl From<AddArgs> for NewTask {
    fn from(a: AddArgs) -> Self {
        NewTask {
            title: a.title,
            owner: a.owner,
            priority: a.priority,
            description: a.description,
            tags: a.tags,
        }
    }
}

/// `board edit`.
#[derive(ClapArgs)]
#[command(group(ArgGroup::new("change").required(true).multiple(true)))]
pub struct EditArgs {
    /// The task's id or a unique prefix of it.
    pub id: String,
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
}

impl From<EditArgs> for Edit {
    fn from(a: EditArgs) -> Self {
        let set_tags = if a.clear_tags { Some(Vec::new()) } else { Some(a.tags).filter(|t| !t.is_empty()) };
        Edit {
            title: a.title,
            owner: a.owner,
            priority: a.priority,
            description: a.description,
            set_tags,
            add_tags: a.add_tag,
            remove_tags: a.remove_tag,
        }
    }
}

/// `board list`.
#[derive(ClapArgs)]
pub struct ListArgs {
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
}

impl From<ListArgs> for Filter {
    fn from(a: ListArgs) -> Self {
        Filter { column: a.column, owner: a.owner, tags: a.tags, priority: a.priority }
    }
}

impl Cmd {
    /// The services.json given with `stalled --config`.
    pub fn config(&self) -> Option<&std::path::Path> {
        match self {
            Self::Stalled { config, .. } => config.as_deref(),
            _ => None,
        }
    }
}
