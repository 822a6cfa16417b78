//! The board as a state machine (proptest): any sequence of add, move, edit and delete applied
//! through [`BoardFile`] (real files, the lock, the backup) gives the same successes, the same
//! errors and the same tasks as the sequence applied to a plain in-memory model, and board.json
//! parses after every step.

use ops_board::{Board, BoardError, BoardFile, DEFAULT_COLUMNS, Edit, NewTask, Priority, Task};
use proptest::prelude::*;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A task as the model knows it (ids come from the board; timestamps are not modelled).
#[derive(Debug, Clone, PartialEq)]
struct Modelled {
    id: String,
    title: String,
    column: String,
    owner: String,
    priority: String,
    description: String,
    tags: Vec<String>,
}

impl From<&Task> for Modelled {
    fn from(t: &Task) -> Self {
        Self {
            id: t.id.clone(),
            title: t.title.clone(),
            column: t.column.clone(),
            owner: t.owner.clone(),
            priority: t.priority.clone(),
            description: t.description.clone(),
            tags: t.tags.clone(),
        }
    }
}

/// Which task an operation is about: one of the board's (by position, whatever the count), or
/// an id no task has.
#[derive(Debug, Clone, Copy)]
enum Which {
    Existing(usize),
    Missing,
}

#[derive(Debug, Clone)]
enum Op {
    Add(NewTask),
    Move(Which, String),
    Edit(Which, Edit),
    Delete(Which),
}

/// How an operation ended, in terms both sides can give.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Done(Option<Modelled>),
    NoSuchTask,
    UnknownColumn,
    EmptyTitle,
}

fn outcome(result: Result<Task, BoardError>) -> Outcome {
    match result {
        Ok(task) => Outcome::Done(Some(Modelled::from(&task))),
        Err(BoardError::NoSuchTask { .. }) => Outcome::NoSuchTask,
        Err(BoardError::UnknownColumn { .. }) => Outcome::UnknownColumn,
        Err(BoardError::EmptyTitle) => Outcome::EmptyTitle,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-zA-Z0-9 <>&\"'é🚀\n]{1,16}", 1 => "[ \t]{0,3}"]
}

fn tags() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop::sample::select(vec!["ops", "db", "p1", "é"]).prop_map(str::to_owned), 0..4)
}

fn which() -> impl Strategy<Value = Which> {
    prop_oneof![5 => any::<usize>().prop_map(Which::Existing), 1 => Just(Which::Missing)]
}

fn op() -> impl Strategy<Value = Op> {
    let priority = prop::sample::select(Priority::ALL.to_vec());
    let column = prop::sample::select(vec!["open", "in-progress", "in-review", "done", "blocked", ""])
        .prop_map(str::to_owned);
    let new = (text(), text(), priority.clone(), text(), tags()).prop_map(
        |(title, owner, priority, description, tags)| NewTask { title, owner, priority, description, tags },
    );
    let edit =
        (
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(priority),
            prop::option::of(text()),
            prop::option::of(tags()),
            tags(),
            tags(),
        )
            .prop_map(|(title, owner, priority, description, set_tags, add_tags, remove_tags)| {
                Edit { title, owner, priority, description, set_tags, add_tags, remove_tags }
            });
    prop_oneof![
        3 => new.prop_map(Op::Add),
        2 => (which(), column).prop_map(|(w, c)| Op::Move(w, c)),
        2 => (which(), edit).prop_map(|(w, e)| Op::Edit(w, e)),
        1 => which().prop_map(Op::Delete),
    ]
}

fn dedup(tags: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The model: a list of tasks and the Python kit's columns.
#[derive(Debug, Default)]
struct Model {
    tasks: Vec<Modelled>,
}

impl Model {
    fn id(&self, which: Which) -> String {
        match which {
            Which::Existing(i) if !self.tasks.is_empty() => self.tasks[i % self.tasks.len()].id.clone(),
            _ => "task-zzzzzzzz".to_owned(), // not hex: no board makes it
        }
    }

    /// Applies `op`; an added task's id is the board's (`added`).
    fn apply(&mut self, op: &Op, id: &str, added: Option<&Modelled>) -> Outcome {
        let blank = |s: &str| s.trim().is_empty();
        let i = self.tasks.iter().position(|t| t.id == id);
        match op {
            Op::Add(new) if blank(&new.title) => Outcome::EmptyTitle,
            Op::Add(new) => {
                let Some(added) = added else { return Outcome::Done(None) };
                let task = Modelled {
                    id: added.id.clone(),
                    title: new.title.clone(),
                    column: DEFAULT_COLUMNS[0].to_owned(),
                    owner: new.owner.clone(),
                    priority: new.priority.as_str().to_owned(),
                    description: new.description.clone(),
                    tags: dedup(new.tags.clone()),
                };
                self.tasks.push(task.clone());
                Outcome::Done(Some(task))
            }
            _ if i.is_none() => Outcome::NoSuchTask,
            Op::Move(_, column) if !DEFAULT_COLUMNS.contains(&column.as_str()) => Outcome::UnknownColumn,
            Op::Move(_, column) => {
                let t = &mut self.tasks[i.unwrap_or_default()];
                t.column.clone_from(column);
                Outcome::Done(Some(t.clone()))
            }
            Op::Edit(_, edit) if edit.title.as_deref().is_some_and(blank) => Outcome::EmptyTitle,
            Op::Edit(_, edit) => {
                let t = &mut self.tasks[i.unwrap_or_default()];
                if let Some(v) = &edit.title {
                    t.title.clone_from(v);
                }
                if let Some(v) = &edit.owner {
                    t.owner.clone_from(v);
                }
                if let Some(p) = edit.priority {
                    p.as_str().clone_into(&mut t.priority);
                }
                if let Some(v) = &edit.description {
                    t.description.clone_from(v);
                }
                let mut tags = edit.set_tags.clone().unwrap_or_else(|| t.tags.clone());
                tags.extend(edit.add_tags.iter().cloned());
                tags.retain(|tag| !edit.remove_tags.contains(tag));
                t.tags = dedup(tags);
                Outcome::Done(Some(t.clone()))
            }
            Op::Delete(_) => Outcome::Done(Some(self.tasks.remove(i.unwrap_or_default()))),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_sequence_through_the_file_matches_the_model(ops in prop::collection::vec(op(), 1..30)) {
        let dir = test_support::scratch_dir();
        let file = BoardFile::new(dir.path().join("board.json")).unwrap();
        let mut model = Model::default();
        for op in &ops {
            let id = model.id(match op {
                Op::Add(_) => Which::Missing,
                Op::Move(w, _) | Op::Edit(w, _) | Op::Delete(w) => *w,
            });
            let got = outcome(match op {
                Op::Add(new) => file.add(new),
                Op::Move(_, column) => file.move_task(&id, column),
                Op::Edit(_, edit) => file.edit(&id, edit),
                Op::Delete(_) => file.delete(&id),
            });
            let added = match &got {
                Outcome::Done(task) if matches!(op, Op::Add(_)) => task.as_ref(),
                _ => None,
            };
            let want = model.apply(op, &id, added);
            prop_assert_eq!(&got, &want, "{:?}", op);

            let bytes = std::fs::read(file.path()).unwrap_or_default();
            let on_disk = serde_json::from_slice::<Board>(&bytes);
            prop_assert!(bytes.is_empty() || on_disk.is_ok(), "board.json does not parse: {:?}", on_disk);
            let board = file.read().unwrap().board;
            prop_assert_eq!(&board.columns, &DEFAULT_COLUMNS.map(str::to_owned).to_vec());
            prop_assert_eq!(board.tasks.iter().map(Modelled::from).collect::<Vec<_>>(), model.tasks.clone());
            let at = |s: &str| OffsetDateTime::parse(s, &Rfc3339).unwrap();
            prop_assert!(board.tasks.iter().all(|t| at(&t.created_at) <= at(&t.updated_at)), "{:?}", board.tasks);
        }
    }
}
