//! Changes and queries on a board in memory. [`crate::BoardFile`] runs the changes under the
//! lock; these functions never touch a file, and take "now" as an argument so tests can choose it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ops_state::timestamp::{format_utc, parse_utc};
use time::OffsetDateTime;

use crate::{Board, BoardError, Priority, Task};

/// What [`Board::add`] needs: a title and, optionally, the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewTask {
    /// What to do; must not be blank.
    pub title: String,
    /// Who does it ("" for nobody, the Python kit's default).
    pub owner: String,
    /// Medium unless said otherwise, as in the Python kit.
    pub priority: Priority,
    /// Free text.
    pub description: String,
    /// Labels; duplicates are dropped, order kept.
    pub tags: Vec<String>,
}

impl NewTask {
    /// A task with this title and the Python kit's defaults for everything else.
    pub fn new(title: impl Into<String>) -> Self {
        Self { title: title.into(), ..Self::default() }
    }
}

/// A change to a task's fields; `None` (or empty lists) leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edit {
    /// New title (must not be blank).
    pub title: Option<String>,
    /// New owner ("" for nobody).
    pub owner: Option<String>,
    /// New priority.
    pub priority: Option<Priority>,
    /// New description.
    pub description: Option<String>,
    /// Replace every tag with these (applied before `add_tags` and `remove_tags`).
    pub set_tags: Option<Vec<String>>,
    /// Tags to add when missing.
    pub add_tags: Vec<String>,
    /// Tags to remove.
    pub remove_tags: Vec<String>,
}

impl Edit {
    /// Whether the edit changes nothing at all.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// Which tasks [`Board::list`] returns; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this column.
    pub column: Option<String>,
    /// Only this owner (exactly; "" for unowned tasks).
    pub owner: Option<String>,
    /// Only tasks with every one of these tags.
    pub tags: Vec<String>,
    /// Only this priority.
    pub priority: Option<Priority>,
}

/// What [`Board::stalled`] looks for: tasks in one of `columns` whose last change is more than
/// `older_than` ago.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StalledQuery {
    /// The age past which a task is stalled (the Python kit's default is 24 hours).
    pub older_than: Duration,
    /// The columns watched; the Python kit watches `in-progress` only.
    pub columns: Vec<String>,
}

impl StalledQuery {
    /// Tasks in `in-progress` for more than `older_than`, as the Python kit's
    /// `get_stalled_tasks`.
    pub fn in_progress(older_than: Duration) -> Self {
        Self { older_than, columns: vec!["in-progress".to_owned()] }
    }
}

/// A stalled task and since when.
#[derive(Debug, Clone, PartialEq)]
pub struct StalledTask<'a> {
    /// The task.
    pub task: &'a Task,
    /// Its last change (`updatedAt`, or `createdAt` when that is empty), in UTC.
    pub since: OffsetDateTime,
    /// How long ago that was.
    pub age: Duration,
}

/// The answer of [`Board::stalled`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stalled<'a> {
    /// Stalled tasks, oldest first.
    pub tasks: Vec<StalledTask<'a>>,
    /// Watched tasks whose timestamps could not be read (the Python kit skipped these silently).
    pub unreadable: Vec<&'a Task>,
}

impl<'a> Stalled<'a> {
    /// The answer as `board stalled --json` prints it (and `agent-ops-mcp` serves it): the
    /// hours and columns asked about, each stalled task with the hours since its last change,
    /// and the ids of watched tasks whose timestamps could not be read.
    pub fn report(&self, query: &'a StalledQuery) -> StalledReport<'a> {
        StalledReport {
            hours: query.older_than.as_secs_f64() / 3600.0,
            columns: &query.columns,
            stalled: self
                .tasks
                .iter()
                .map(|s| StalledEntry { task: s.task, hours_since_update: s.age.as_secs_f64() / 3600.0 })
                .collect(),
            unreadable_timestamps: self.unreadable.iter().map(|t| t.id.as_str()).collect(),
        }
    }
}

/// [`Stalled::report`]: serializes as `{"hours", "columns", "stalled": [{"task",
/// "hours_since_update"}], "unreadable_timestamps"}`, a task's keys in the file's order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StalledReport<'a> {
    /// The age past which a task is stalled, in hours.
    pub hours: f64,
    /// The columns watched.
    pub columns: &'a [String],
    /// The stalled tasks, oldest first.
    pub stalled: Vec<StalledEntry<'a>>,
    /// Watched tasks whose timestamps could not be read.
    pub unreadable_timestamps: Vec<&'a str>,
}

/// One stalled task of a [`StalledReport`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StalledEntry<'a> {
    /// The task.
    pub task: &'a Task,
    /// Hours since its last change.
    pub hours_since_update: f64,
}

impl Board {
    /// The task whose id is `query`, or else the only one whose id starts with `query` or
    /// with `task-` + `query` (a short id, as git accepts short hashes).
    pub fn find(&self, query: &str) -> Result<&Task, BoardError> {
        self.index_of(query).map(|i| &self.tasks[i])
    }

    fn index_of(&self, query: &str) -> Result<usize, BoardError> {
        if let Some(i) = self.tasks.iter().position(|t| t.id == query) {
            return Ok(i);
        }
        let long = format!("task-{query}");
        let matches: Vec<usize> = (0..self.tasks.len())
            .filter(|&i| {
                let id = &self.tasks[i].id;
                !query.is_empty() && (id.starts_with(query) || id.starts_with(&long))
            })
            .collect();
        match matches.as_slice() {
            [i] => Ok(*i),
            [] => Err(BoardError::NoSuchTask { query: query.to_owned() }),
            many => Err(BoardError::AmbiguousId {
                query: query.to_owned(),
                matches: many.iter().map(|&i| self.tasks[i].id.clone()).collect(),
            }),
        }
    }

    /// Adds a task in the first column (`open` on the Python kit's board; `open` too on a board
    /// without columns, as the Python kit does) with a new id, unique on this board: `task-` and 8
    /// hex digits.
    pub fn add(&mut self, new: &NewTask, now: OffsetDateTime) -> Result<&Task, BoardError> {
        check_title(&new.title)?;
        let now_text = format_utc(now);
        let task = Task {
            id: self.new_id(&new.title, now),
            title: new.title.clone(),
            column: self.columns.first().map_or("open", String::as_str).to_owned(),
            owner: new.owner.clone(),
            priority: new.priority.as_str().to_owned(),
            description: new.description.clone(),
            tags: dedup(new.tags.iter().cloned()),
            created_at: now_text.clone(),
            updated_at: now_text,
            extra: serde_json::Map::new(),
        };
        self.tasks.push(task);
        Ok(&self.tasks[self.tasks.len() - 1])
    }

    fn new_id(&self, title: &str, now: OffsetDateTime) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        loop {
            // RandomState is seeded from the operating system's randomness, once per thread
            // and then stepped: different in every process and on every call.
            let mut h = RandomState::new().build_hasher();
            h.write(title.as_bytes());
            h.write_i128(now.unix_timestamp_nanos());
            h.write_u32(std::process::id());
            h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
            let id = format!("task-{:08x}", h.finish() & 0xffff_ffff);
            if !self.tasks.iter().any(|t| t.id == id) {
                return id;
            }
        }
    }

    /// Moves a task to `column`, which must be one of the board's columns.
    pub fn move_task(&mut self, query: &str, column: &str, now: OffsetDateTime) -> Result<&Task, BoardError> {
        let i = self.index_of(query)?;
        if !self.columns.iter().any(|c| c == column) {
            return Err(BoardError::UnknownColumn {
                column: column.to_owned(),
                columns: self.columns.clone(),
            });
        }
        let task = &mut self.tasks[i];
        column.clone_into(&mut task.column);
        task.updated_at = format_utc(now);
        Ok(task)
    }

    /// Applies `edit` to a task. `updatedAt` changes only when a field really changed.
    pub fn edit(&mut self, query: &str, edit: &Edit, now: OffsetDateTime) -> Result<&Task, BoardError> {
        let i = self.index_of(query)?;
        if let Some(title) = &edit.title {
            check_title(title)?;
        }
        let task = &mut self.tasks[i];
        let before = task.clone();
        if let Some(title) = &edit.title {
            task.title.clone_from(title);
        }
        if let Some(owner) = &edit.owner {
            task.owner.clone_from(owner);
        }
        if let Some(priority) = edit.priority {
            priority.as_str().clone_into(&mut task.priority);
        }
        if let Some(description) = &edit.description {
            task.description.clone_from(description);
        }
        let mut tags = edit.set_tags.clone().unwrap_or_else(|| task.tags.clone());
        tags.extend(edit.add_tags.iter().cloned());
        tags.retain(|t| !edit.remove_tags.contains(t));
        task.tags = dedup(tags.into_iter());
        if *task != before {
            task.updated_at = format_utc(now);
        }
        Ok(task)
    }

    /// Takes a task off the board and returns it.
    pub fn remove(&mut self, query: &str) -> Result<Task, BoardError> {
        let i = self.index_of(query)?;
        Ok(self.tasks.remove(i))
    }

    /// The tasks matching `filter`, in file order. A column filter that names neither a column
    /// of the board nor the column of any task is an error (a typo would otherwise show
    /// nothing).
    pub fn list(&self, filter: &Filter) -> Result<Vec<&Task>, BoardError> {
        if let Some(column) = &filter.column
            && !self.columns.contains(column)
            && !self.tasks.iter().any(|t| &t.column == column)
        {
            return Err(BoardError::UnknownColumn { column: column.clone(), columns: self.columns.clone() });
        }
        Ok(self
            .tasks
            .iter()
            .filter(|t| filter.column.as_ref().is_none_or(|c| &t.column == c))
            .filter(|t| filter.owner.as_ref().is_none_or(|o| &t.owner == o))
            .filter(|t| filter.priority.is_none_or(|p| t.priority == p.as_str()))
            .filter(|t| filter.tags.iter().all(|tag| t.tags.contains(tag)))
            .collect())
    }

    /// Tasks in one of the watched columns whose last change (`updatedAt`, else `createdAt`)
    /// is more than `query.older_than` before `now`. Timestamps ending in `Z`, carrying an offset
    /// such as `+00:00`, or naive (taken as UTC) are all read.
    pub fn stalled(&self, query: &StalledQuery, now: OffsetDateTime) -> Stalled<'_> {
        let mut out = Stalled::default();
        for task in self.tasks.iter().filter(|t| query.columns.contains(&t.column)) {
            let stamp = if task.updated_at.is_empty() { &task.created_at } else { &task.updated_at };
            let Some(since) = parse_utc(stamp) else {
                out.unreadable.push(task);
                continue;
            };
            let age = now - since;
            if age > query.older_than {
                out.tasks.push(StalledTask { task, since, age: age.try_into().unwrap_or_default() });
            }
        }
        out.tasks.sort_by_key(|s| s.since);
        out
    }
}

fn check_title(title: &str) -> Result<(), BoardError> {
    if title.trim().is_empty() { Err(BoardError::EmptyTitle) } else { Ok(()) }
}

fn dedup(tags: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn hours(n: u64) -> Duration {
        Duration::from_secs(n * 3600)
    }

    const NOW: OffsetDateTime = datetime!(2025-01-15 10:30:00 UTC);

    fn board_with(ids: &[&str]) -> Board {
        let mut board = Board::default();
        for id in ids {
            board.add(&NewTask::new(*id), NOW).unwrap();
            board.tasks.last_mut().unwrap().id = (*id).to_owned();
        }
        board
    }

    #[test]
    fn add_uses_the_seed_defaults_and_a_fresh_id() {
        let mut board = Board::default();
        let new = NewTask { tags: vec!["ops".into(), "ops".into(), "x".into()], ..NewTask::new("Fix it") };
        let t = board.add(&new, NOW).unwrap().clone();
        assert!(t.id.starts_with("task-") && t.id.len() == 13, "{}", t.id);
        assert!(t.id[5..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{}", t.id);
        assert_eq!((t.column.as_str(), t.priority.as_str(), t.owner.as_str()), ("open", "medium", ""));
        assert_eq!(t.tags, ["ops", "x"]);
        assert_eq!(
            (t.created_at.as_str(), t.updated_at.as_str()),
            ("2025-01-15T10:30:00Z", "2025-01-15T10:30:00Z")
        );
        let ids: std::collections::HashSet<_> =
            (0..2000).map(|_| board.add(&NewTask::new("Fix it"), NOW).unwrap().id.clone()).collect();
        assert_eq!(ids.len(), 2000, "same title, same instant: still unique ids");
    }

    #[test]
    fn blank_titles_are_refused() {
        let mut board = Board::default();
        assert!(matches!(board.add(&NewTask::new("  "), NOW), Err(BoardError::EmptyTitle)));
        board.add(&NewTask::new("ok"), NOW).unwrap();
        let id = board.tasks[0].id.clone();
        let edit = Edit { title: Some(String::new()), ..Edit::default() };
        assert!(matches!(board.edit(&id, &edit, NOW), Err(BoardError::EmptyTitle)));
        assert_eq!(board.tasks[0].title, "ok");
    }

    #[test]
    fn short_ids_resolve_like_git_hashes() {
        let board = board_with(&["task-1a2b3c4d", "task-1a2bffff", "task-99999999", "task-1a"]);
        assert_eq!(board.find("task-99999999").unwrap().id, "task-99999999");
        assert_eq!(board.find("999").unwrap().id, "task-99999999");
        assert_eq!(board.find("task-9").unwrap().id, "task-99999999");
        assert_eq!(board.find("1a2b3").unwrap().id, "task-1a2b3c4d");
        assert_eq!(board.find("task-1a").unwrap().id, "task-1a", "an exact id wins over prefixes");
        match board.find("1a2b") {
            Err(BoardError::AmbiguousId { matches, .. }) => {
                assert_eq!(matches, ["task-1a2b3c4d", "task-1a2bffff"]);
            }
            other => panic!("{other:?}"),
        }
        for missing in ["", "1a2c", "task-x"] {
            assert!(matches!(board.find(missing), Err(BoardError::NoSuchTask { .. })), "{missing:?}");
        }
    }

    #[test]
    fn move_refuses_unknown_ids_and_columns_and_changes_nothing() {
        let mut board = board_with(&["task-00000001"]);
        let before = board.clone();
        let later = datetime!(2025-01-16 00:00:00 UTC);
        let err = board.move_task("task-00000001", "doing", later).unwrap_err();
        assert!(matches!(err, BoardError::UnknownColumn { .. }));
        assert!(err.to_string().contains("\"doing\"") && err.to_string().contains("in-progress"), "{err}");
        assert!(matches!(
            board.move_task("task-0000000f", "done", later),
            Err(BoardError::NoSuchTask { .. })
        ));
        assert_eq!(board, before);
        let t = board.move_task("00000001", "done", later).unwrap();
        assert_eq!((t.column.as_str(), t.updated_at.as_str()), ("done", "2025-01-16T00:00:00Z"));
    }

    #[test]
    fn edit_changes_fields_and_updated_at_only_when_something_changed() {
        let mut board = board_with(&["task-00000001"]);
        board.tasks[0].tags = vec!["a".into(), "b".into()];
        let later = datetime!(2025-01-16 00:00:00 UTC);
        let same = Edit { owner: Some(String::new()), ..Edit::default() };
        assert_eq!(board.edit("00000001", &same, later).unwrap().updated_at, "2025-01-15T10:30:00Z");
        let edit = Edit {
            title: Some("New".into()),
            owner: Some("me".into()),
            priority: Some(Priority::Critical),
            description: Some("line 1\nline 2".into()),
            set_tags: None,
            add_tags: vec!["c".into(), "a".into()],
            remove_tags: vec!["b".into()],
        };
        let t = board.edit("00000001", &edit, later).unwrap();
        assert_eq!((t.title.as_str(), t.owner.as_str(), t.priority.as_str()), ("New", "me", "critical"));
        assert_eq!(
            (t.description.as_str(), t.tags.clone()),
            ("line 1\nline 2", vec!["a".into(), "c".into()])
        );
        assert_eq!(t.updated_at, "2025-01-16T00:00:00Z");
        let replace = Edit { set_tags: Some(vec!["z".into()]), ..Edit::default() };
        assert_eq!(board.edit("00000001", &replace, later).unwrap().tags, ["z"]);
        assert!(matches!(board.edit("00000002", &replace, later), Err(BoardError::NoSuchTask { .. })));
    }

    #[test]
    fn list_filters_and_rejects_unknown_columns() {
        let mut board = board_with(&["task-00000001", "task-00000002", "task-00000003"]);
        board.tasks[0].owner = "ann".into();
        board.tasks[0].tags = vec!["ops".into(), "db".into()];
        board.tasks[1].tags = vec!["ops".into()];
        board.tasks[2].column = "legacy".into(); // a column the board does not list
        let ids = |f: &Filter| board.list(f).unwrap().iter().map(|t| t.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&Filter::default()).len(), 3);
        assert_eq!(ids(&Filter { tags: vec!["ops".into()], ..Filter::default() }).len(), 2);
        assert_eq!(
            ids(&Filter { tags: vec!["ops".into(), "db".into()], ..Filter::default() }),
            ["task-00000001"]
        );
        assert_eq!(ids(&Filter { owner: Some("ann".into()), ..Filter::default() }), ["task-00000001"]);
        assert_eq!(ids(&Filter { column: Some("legacy".into()), ..Filter::default() }), ["task-00000003"]);
        assert!(ids(&Filter { column: Some("done".into()), ..Filter::default() }).is_empty());
        let typo = Filter { column: Some("dnoe".into()), ..Filter::default() };
        assert!(matches!(board.list(&typo), Err(BoardError::UnknownColumn { .. })));
    }

    #[test]
    fn stalled_reads_every_timestamp_form_as_utc() {
        let now = datetime!(2025-01-16 12:00:00 UTC);
        let mut board = board_with(&["z", "plus", "naive", "offset", "fresh", "open", "bad", "created"]);
        let stamps = [
            ("z", "2025-01-15T11:00:00.5Z"),              // 25 h
            ("plus", "2025-01-15T11:00:00.000001+00:00"), // 25 h: the Python kit crashed on this one
            ("naive", "2025-01-15T11:00:00"),             // 25 h
            ("offset", "2025-01-15T13:00:00+02:00"),      // 11:00 UTC: 25 h
            ("fresh", "2025-01-15T13:00:00Z"),            // 23 h
            ("open", "2025-01-01T00:00:00Z"),             // old but not in progress
            ("bad", "last tuesday"),
        ];
        for task in &mut board.tasks {
            task.column = if task.id == "open" { "open".into() } else { "in-progress".into() };
            task.updated_at = stamps.iter().find(|(id, _)| *id == task.id).map_or("", |(_, s)| *s).to_owned();
            if task.id == "created" {
                task.created_at = "2025-01-14T12:00:00Z".into(); // 48 h, updatedAt empty
            }
        }
        let stalled = board.stalled(&StalledQuery::in_progress(hours(24)), now);
        let ids: Vec<_> = stalled.tasks.iter().map(|s| s.task.id.as_str()).collect();
        assert_eq!(ids, ["created", "naive", "offset", "plus", "z"], "oldest first");
        assert_eq!(stalled.tasks[0].age, Duration::from_secs(48 * 3600));
        assert_eq!(stalled.tasks[3].since, datetime!(2025-01-15 11:00:00.000001 UTC));
        assert_eq!(stalled.tasks[4].since, datetime!(2025-01-15 11:00:00.5 UTC));
        assert_eq!(stalled.unreadable.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["bad"]);
        // Exactly at the limit is not "longer than".
        assert_eq!(board.stalled(&StalledQuery::in_progress(hours(48)), now).tasks.len(), 0);
        let all = StalledQuery { older_than: hours(24), columns: vec!["in-progress".into(), "open".into()] };
        assert_eq!(board.stalled(&all, now).tasks.len(), 6);
    }
}
