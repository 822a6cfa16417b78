//! The board as the Python kit writes it: `{"columns": [...], "tasks": [...]}`, each task with `id,
//! title, column, owner, priority, description, tags, createdAt, updatedAt`, and any other key
//! kept as it was.
//!
//! (De)serialization is written by hand instead of derived with `#[serde(flatten)]`: it writes
//! the Python kit's key order, keeps unknown keys, and does not buffer every task through serde's
//! intermediate `Content` as `flatten` does.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::BoardError;

/// The columns of a board that has none: the Python kit's `DEFAULT_COLUMNS`.
pub const DEFAULT_COLUMNS: [&str; 4] = ["open", "in-progress", "in-review", "done"];

/// The whole board file.
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    /// The column names, in display order. A task may only be moved into one of these.
    pub columns: Vec<String>,
    /// Every task, in file order (the order they were added).
    pub tasks: Vec<Task>,
    /// Top-level keys other than `columns` and `tasks`, kept as they were.
    pub extra: Map<String, Value>,
}

impl Default for Board {
    /// An empty board with [`DEFAULT_COLUMNS`], as the Python kit starts one.
    fn default() -> Self {
        Self { columns: default_columns(), tasks: Vec::new(), extra: Map::new() }
    }
}

fn default_columns() -> Vec<String> {
    DEFAULT_COLUMNS.iter().map(|&c| c.to_owned()).collect()
}

/// One task. Timestamps are kept as the text found in the file (the Python kit writes
/// `2025-01-15T10:30:00.123456Z`; other forms are read by [`ops_state::timestamp::parse_utc`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// `task-` and 8 hex digits (the Python kit's form; any string is read).
    pub id: String,
    /// What to do.
    pub title: String,
    /// The column it is in.
    pub column: String,
    /// Who does it; empty when nobody.
    pub owner: String,
    /// `low`, `medium`, `high` or `critical` when written by us; any string is read.
    pub priority: String,
    /// Free text; may span lines.
    pub description: String,
    /// Labels, in the order given.
    pub tags: Vec<String>,
    /// When it was added (`createdAt`).
    pub created_at: String,
    /// When it last changed (`updatedAt`): added, moved or edited.
    pub updated_at: String,
    /// Keys other than the nine above, kept as they were.
    pub extra: Map<String, Value>,
}

/// Task priorities that `add` and `edit` accept (files may hold any string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    /// `low`
    Low,
    /// `medium`, the Python kit's default.
    #[default]
    Medium,
    /// `high`
    High,
    /// `critical`
    Critical,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Medium, Priority::High, Priority::Critical];

    /// The word written to the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = BoardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| BoardError::InvalidPriority { given: s.to_owned() })
    }
}

impl Serialize for Task {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(9 + self.extra.len()))?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("title", &self.title)?;
        m.serialize_entry("column", &self.column)?;
        m.serialize_entry("owner", &self.owner)?;
        m.serialize_entry("priority", &self.priority)?;
        m.serialize_entry("description", &self.description)?;
        m.serialize_entry("tags", &self.tags)?;
        m.serialize_entry("createdAt", &self.created_at)?;
        m.serialize_entry("updatedAt", &self.updated_at)?;
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A task key: one of the nine known ones (read without allocating), or any other.
enum Key {
    Id,
    Title,
    Column,
    Owner,
    Priority,
    Description,
    Tags,
    CreatedAt,
    UpdatedAt,
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "id" => Key::Id,
                    "title" => Key::Title,
                    "column" => Key::Column,
                    "owner" => Key::Owner,
                    "priority" => Key::Priority,
                    "description" => Key::Description,
                    "tags" => Key::Tags,
                    "createdAt" => Key::CreatedAt,
                    "updatedAt" => Key::UpdatedAt,
                    other => Key::Other(other.to_owned()),
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// A string field that may also be `null` (a Python caller passing `owner=None`): read as "".
fn text<'de, A: MapAccess<'de>>(map: &mut A) -> Result<String, A::Error> {
    Ok(map.next_value::<Option<String>>()?.unwrap_or_default())
}

impl<'de> Deserialize<'de> for Task {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TaskVisitor;
        impl<'de> Visitor<'de> for TaskVisitor {
            type Value = Task;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a task object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Task, A::Error> {
                let (mut id, mut title, mut column) = (None, None, None);
                let mut task = Task {
                    id: String::new(),
                    title: String::new(),
                    column: String::new(),
                    owner: String::new(),
                    priority: String::new(),
                    description: String::new(),
                    tags: Vec::new(),
                    created_at: String::new(),
                    updated_at: String::new(),
                    extra: Map::new(),
                };
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Id => id = Some(map.next_value::<String>()?),
                        Key::Title => title = Some(map.next_value::<String>()?),
                        Key::Column => column = Some(map.next_value::<String>()?),
                        Key::Owner => task.owner = text(&mut map)?,
                        Key::Priority => task.priority = text(&mut map)?,
                        Key::Description => task.description = text(&mut map)?,
                        Key::Tags => task.tags = map.next_value::<Option<Vec<String>>>()?.unwrap_or_default(),
                        Key::CreatedAt => task.created_at = text(&mut map)?,
                        Key::UpdatedAt => task.updated_at = text(&mut map)?,
                        Key::Other(key) => {
                            let value = map.next_value::<Value>()?;
                            task.extra.insert(key, value);
                        }
                    }
                }
                task.id = id.ok_or_else(|| de::Error::missing_field("id"))?;
                task.title = title.ok_or_else(|| de::Error::missing_field("title"))?;
                task.column = column.ok_or_else(|| de::Error::missing_field("column"))?;
                Ok(task)
            }
        }
        d.deserialize_map(TaskVisitor)
    }
}

impl Serialize for Board {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2 + self.extra.len()))?;
        m.serialize_entry("columns", &self.columns)?;
        m.serialize_entry("tasks", &self.tasks)?;
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Board {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BoardVisitor;
        impl<'de> Visitor<'de> for BoardVisitor {
            type Value = Board;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a board object like {\"columns\": [...], \"tasks\": [...]}")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Board, A::Error> {
                // Missing `columns` or `tasks` get the Python kit's defaults, as its board_read does.
                let mut board = Board::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "columns" => board.columns = map.next_value()?,
                        "tasks" => board.tasks = map.next_value()?,
                        _ => {
                            let value = map.next_value::<Value>()?;
                            board.extra.insert(key, value);
                        }
                    }
                }
                Ok(board)
            }
        }
        d.deserialize_map(BoardVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_TASK: &str = r#"{
      "id": "task-abc12345",
      "title": "Investigate high latency on API",
      "column": "open",
      "owner": "agent-1",
      "priority": "high",
      "description": "API response times spiked to 2s+",
      "tags": ["ops", "performance"],
      "createdAt": "2025-01-15T10:30:00Z",
      "updatedAt": "2025-01-15T10:30:00Z"
    }"#;

    #[test]
    fn writes_the_seed_key_order_then_unknown_keys() {
        let mut task: Task = serde_json::from_str(SEED_TASK).unwrap();
        task.extra.insert("estimate".into(), Value::from(3));
        let json = serde_json::to_string(&task).unwrap();
        assert!(
            json.starts_with(r#"{"id":"task-abc12345","title":"Investigate high latency on API","column":"open","owner":"agent-1","priority":"high","description":"API response times spiked to 2s+","tags":["ops","performance"],"createdAt":"2025-01-15T10:30:00Z","updatedAt":"2025-01-15T10:30:00Z","estimate":3}"#),
            "{json}"
        );
    }

    #[test]
    fn unknown_keys_survive_a_round_trip() {
        let text = r#"{"columns": ["a"], "version": 2, "tasks": [
            {"id": "t1", "title": "x", "column": "a", "links": {"pr": 12}, "tags": null, "owner": null}
        ]}"#;
        let board: Board = serde_json::from_str(text).unwrap();
        assert_eq!(board.extra["version"], 2);
        assert_eq!(board.tasks[0].extra["links"]["pr"], 12);
        assert_eq!((board.tasks[0].owner.as_str(), board.tasks[0].tags.len()), ("", 0));
        let again: Board = serde_json::from_slice(&serde_json::to_vec(&board).unwrap()).unwrap();
        assert_eq!(again, board);
    }

    #[test]
    fn missing_columns_and_tasks_get_the_seed_defaults() {
        let board: Board = serde_json::from_str("{}").unwrap();
        assert_eq!(board, Board::default());
        assert_eq!(board.columns, DEFAULT_COLUMNS);
    }

    #[test]
    fn a_task_needs_id_title_and_column() {
        for missing in ["id", "title", "column"] {
            let mut v: Value = serde_json::from_str(SEED_TASK).unwrap();
            v.as_object_mut().unwrap().remove(missing);
            let err = serde_json::from_value::<Task>(v).unwrap_err().to_string();
            assert!(err.contains(&format!("missing field `{missing}`")), "{err}");
        }
        let err = serde_json::from_str::<Board>(r#"{"tasks": [{"id": 1}]}"#).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn wrong_top_level_types_do_not_parse() {
        for text in ["[]", "\"board\"", "3", "null", r#"{"tasks": {}}"#, r#"{"columns": "open"}"#] {
            assert!(serde_json::from_str::<Board>(text).is_err(), "{text}");
        }
    }

    #[test]
    fn priorities_parse_and_print() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>().unwrap(), p);
        }
        let err = "urgent".parse::<Priority>().unwrap_err().to_string();
        assert!(err.contains("urgent") && err.contains("critical"), "{err}");
    }
}
