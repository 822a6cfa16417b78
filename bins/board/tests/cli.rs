//! The `board` binary as a user runs it: output, exit codes, short ids, services.json,
//! stalled tasks with every timestamp form, corruption and recovery.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    fn state(&self) -> PathBuf {
        self.0.path().join("state")
    }

    fn board(&self) -> PathBuf {
        self.state().join("board.json")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_board"));
        cmd.args(args)
            .env("AGENT_OPS_HOME", self.0.path())
            .env("HOME", self.0.path())
            .env_remove("AGENT_OPS_CONFIG");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and expects exit 0 and no stderr; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// `board --json stalled ...`: exit 1 when it finds stalled tasks, 0 when none; the JSON.
    fn stalled(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json", "stalled"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let found = !v["stalled"].as_array().unwrap().is_empty();
        assert_eq!(
            out.status.code(),
            Some(i32::from(found)),
            "{all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        v
    }

    /// Runs and expects `code`; returns stderr.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8(out.stderr).unwrap()
    }

    fn write_board(&self, board: &Value) {
        fs::create_dir_all(self.state()).unwrap();
        fs::write(self.board(), serde_json::to_vec_pretty(board).unwrap()).unwrap();
    }

    fn write_config(&self, text: &str) -> PathBuf {
        let path = self.0.path().join("config/services.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[test]
fn add_show_move_edit_list_with_short_ids() {
    let h = Home::new();
    let out =
        h.ok(&["add", "Fix API timeout issue", "--owner", "ops-agent", "--priority", "high", "--tag", "ops"]);
    let (created, rest) = out.split_once(' ').unwrap();
    assert_eq!(created, "Created:");
    let id = rest.split_whitespace().next().unwrap().to_owned();
    assert!(id.starts_with("task-") && id.len() == 13, "{out}");
    assert_eq!(out, format!("Created: {id} — Fix API timeout issue\n"));

    let t = h.json(&["add", "Second", "--description", "two\nlines", "--tag", "db", "--tag", "ops"]);
    assert_eq!((t["column"].as_str(), t["priority"].as_str()), (Some("open"), Some("medium")));
    assert_eq!(t["tags"], json!(["db", "ops"]));
    let second = id_of(&t);

    let short = &id[5..10];
    assert_eq!(
        h.ok(&["move", short, "in-progress"]),
        format!("Moved to in-progress: {id} — Fix API timeout issue\n")
    );
    let shown = h.ok(&["show", &id[..9]]);
    assert!(
        shown.starts_with(&format!(
            "id           {id}\ntitle        Fix API timeout issue\ncolumn       in-progress\n"
        )),
        "{shown}"
    );
    assert!(shown.contains("owner        ops-agent\npriority     high\ntags         ops\n"), "{shown}");
    let shown = h.ok(&["show", &second]);
    assert!(shown.ends_with("description\n  two\n  lines\n"), "{shown}");

    let edited = h.json(&[
        "edit",
        short,
        "--title",
        "Fixed",
        "--owner",
        "",
        "--priority",
        "critical",
        "--add-tag",
        "x",
    ]);
    assert_eq!((edited["title"].as_str(), edited["owner"].as_str()), (Some("Fixed"), Some("")));
    assert_eq!(
        (edited["priority"].as_str(), edited["tags"].clone()),
        (Some("critical"), json!(["ops", "x"]))
    );
    assert_ne!(edited["updatedAt"], edited["createdAt"]);
    assert_eq!(h.json(&["edit", &second, "--clear-tags"])["tags"], json!([]));

    let list = h.ok(&["list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(
        lines[0] == "ID             COLUMN       PRIORITY  OWNER  TAGS   UPDATED (UTC)     TITLE",
        "{list}"
    );
    assert!(lines[1].starts_with(&format!("{id}  in-progress  critical  -      ops,x  ")), "{list}");
    assert!(lines[1].ends_with("  Fixed"), "{list}");
    let ids = |args: &[&str]| -> Vec<String> {
        h.json(&[&["list"], args].concat()).as_array().unwrap().iter().map(id_of).collect()
    };
    assert_eq!(ids(&[]), [id.clone(), second.clone()]);
    assert_eq!(ids(&["--column", "open"]), [second.as_str()]);
    assert_eq!(ids(&["--tag", "x"]), [id.as_str()]);
    assert_eq!(ids(&["--priority", "medium"]), [second.as_str()]);
    assert!(ids(&["--owner", "nobody"]).is_empty());
    assert_eq!(h.ok(&["list", "--owner", "nobody"]), "No tasks.\n");

    // Task keys keep the Python kit's order in --json output.
    let raw = h.ok(&["--json", "show", &id]);
    let keys: Vec<usize> =
        ["\"id\"", "\"title\"", "\"column\"", "\"owner\"", "\"priority\"", "\"createdAt\""]
            .iter()
            .map(|k| raw.find(k).unwrap())
            .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{raw}");

    let archived = h.ok(&["archive", &second[..8]]);
    assert_eq!(archived, format!("Archived: {second} — Second\n"));
    assert_eq!(fs::read_to_string(h.state().join("board-archive.jsonl")).unwrap().lines().count(), 1);
    assert_eq!(h.ok(&["delete", &id]), format!("Deleted: {id} — Fixed\n"));
    assert_eq!(h.ok(&["list"]), "No tasks.\n");
}

#[test]
fn unknown_ids_columns_and_values_are_usage_errors_that_change_nothing() {
    let h = Home::new();
    h.write_board(&json!({"columns": ["open", "done"], "tasks": [
        {"id": "task-1a2b0001", "title": "a", "column": "open"},
        {"id": "task-1a2b0002", "title": "b", "column": "open"},
    ]}));
    let before = fs::read(h.board()).unwrap();
    let err = h.fails(2, &["move", "task-99", "done"]);
    assert_eq!(err, "error: no task has the id \"task-99\" or an id starting with it\n");
    let err = h.fails(2, &["move", "1a2b", "done"]);
    assert!(err.contains("\"1a2b\" is the start of 2 task ids (task-1a2b0001, task-1a2b0002)"), "{err}");
    let err = h.fails(2, &["move", "1a2b0001", "in-progress"]);
    assert_eq!(err, "error: the board has no column \"in-progress\" (columns: open, done)\n");
    h.fails(2, &["edit", "ffff", "--title", "x"]);
    assert!(h.fails(2, &["edit", "1a2b0001", "--title", " "]).contains("must not be blank"));
    assert!(h.fails(2, &["add", ""]).contains("must not be blank"));
    assert!(h.fails(2, &["edit", "1a2b0001"]).contains("required"), "an edit must change something");
    assert!(
        h.fails(2, &["add", "x", "--priority", "urgent"])
            .contains("possible values: low, medium, high, critical")
    );
    h.fails(2, &["show", "nope"]);
    h.fails(2, &["list", "--column", "dnoe"]);
    h.fails(2, &["stalled", "--hours", "-3"]);
    h.fails(2, &["stalled", "--column", "doing"]);
    h.fails(2, &["frobnicate"]);
    assert_eq!(fs::read(h.board()).unwrap(), before, "nothing changed");
    assert!(h.ok(&["--help"]).contains("stalled"));
    let moved = h.json(&["move", "1a2b0002", "done"]);
    assert_eq!(moved["column"], "done");
    assert_eq!(moved["owner"], "", "missing seed fields are filled in with the seed's defaults");
}

/// `now - hours` in the three timestamp forms found in boards: `Z`, `+00:00` and naive.
fn stamps(hours: i64) -> [String; 3] {
    let t = OffsetDateTime::now_utc() - time::Duration::hours(hours);
    let base = t
        .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]"))
        .unwrap();
    [format!("{base}Z"), format!("{base}+00:00"), base]
}

#[test]
fn stalled_reads_every_timestamp_form_and_takes_its_hours_from_services_json() {
    let h = Home::new();
    let mut tasks = Vec::new();
    for (hours, name) in [(30, "old"), (10, "recent")] {
        for (stamp, form) in stamps(hours).into_iter().zip(["z", "offset", "naive"]) {
            tasks.push(json!({"id": format!("task-{name}-{form}"), "title": format!("{name} {form}"),
                "column": "in-progress", "owner": "ann", "createdAt": stamp, "updatedAt": stamp}));
        }
    }
    tasks.push(json!({"id": "task-open", "title": "waiting", "column": "open", "updatedAt": stamps(100)[0]}));
    tasks.push(json!({"id": "task-bad", "title": "bad", "column": "in-progress", "updatedAt": "yesterday"}));
    h.write_board(&json!({"columns": ["open", "in-progress", "done"], "tasks": tasks}));

    let ids = |v: &Value| -> Vec<String> {
        v["stalled"].as_array().unwrap().iter().map(|s| id_of(&s["task"])).collect::<Vec<_>>()
    };
    // No services.json: the default 24 h, and not a word about the missing file. Stalled tasks
    // found: exit 1, so that a script can gate on it.
    let out = h.run(&["--json", "stalled"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["hours"], 24.0);
    assert_eq!(ids(&v), ["task-old-z", "task-old-offset", "task-old-naive"]);
    assert_eq!(v["unreadable_timestamps"], json!(["task-bad"]));
    let hours = v["stalled"][0]["hours_since_update"].as_f64().unwrap();
    assert!((29.9..30.1).contains(&hours), "{hours}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr,
        "warning: task-bad has no readable timestamp (updatedAt \"yesterday\"); it cannot be checked\n"
    );

    let text = h.run(&["stalled"]);
    assert_eq!(text.status.code(), Some(1));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.starts_with("ID               COLUMN       OWNER  STALLED FOR  SINCE (UTC)       TITLE\n"),
        "{text}"
    );
    assert!(text.contains("  ann    30h          "), "{text}");
    assert!(text.ends_with("3 stalled task(s) found (in in-progress for more than 24h)\n"), "{text}");

    h.ok(&["delete", "task-bad"]);
    // services.json decides the default; --hours and --column override.
    h.write_config(r#"{"services": [], "stalled_task_hours": 8}"#);
    assert_eq!(ids(&h.stalled(&[])).len(), 6);
    assert_eq!(ids(&h.stalled(&["--hours", "48"])).len(), 0);
    assert_eq!(ids(&h.stalled(&["--hours", "48", "--column", "open"])), ["task-open"]);
    assert!(
        h.fails(2, &["stalled", "--hours", "-1"]).contains("\"-1\" is not a number of hours (0 or more)")
    );
    let none = h.run(&["stalled", "--hours", "1000"]);
    assert_eq!(none.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(none.stdout).unwrap(),
        "No stalled tasks (none in in-progress for more than 1000h)\n"
    );

    // A broken services.json is reported (and --hours does not need it).
    let path = h.write_config(r#"{"services": [], "stalled_task_hours": "soon"}"#);
    let err = h.fails(2, &["stalled"]);
    assert!(err.contains(&path.display().to_string()) && err.contains("stalled_task_hours"), "{err}");
    h.write_config("{not json");
    assert!(h.fails(2, &["stalled"]).contains("invalid JSON"));
    assert_eq!(ids(&h.stalled(&["--hours", "24"])).len(), 3);
    // A services.json named explicitly must exist.
    let missing = h.0.path().join("nowhere.json");
    assert!(
        h.fails(2, &["stalled", "--config", missing.to_str().unwrap()]).contains("no configuration file")
    );
}

#[test]
fn a_corrupt_board_is_read_from_its_backup_refused_for_changes_and_recovered() {
    let h = Home::new();
    let first = id_of(&h.json(&["add", "first"]));
    let second = id_of(&h.json(&["add", "second"]));
    fs::write(h.board(), b"{\"columns\": [\"open\"], \"tasks\": [{\"id\": ").unwrap();
    let board = h.board().display().to_string();

    let out = h.run(&["list"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout).unwrap().contains(&first));
    let warning = String::from_utf8(out.stderr).unwrap();
    assert!(warning.starts_with(&format!("warning: {board} is corrupt (")), "{warning}");
    assert!(warning.contains(&format!("showing its backup {board}.bak instead")), "{warning}");

    let err = h.fails(1, &["add", "third"]);
    assert!(err.contains(&board) && err.contains("left untouched"), "{err}");
    assert!(err.contains("hint: `board recover`"), "{err}");
    h.fails(1, &["move", &second, "done"]);

    let out = h.run(&["--recover", "add", "third"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let warning = String::from_utf8(out.stderr).unwrap();
    assert!(warning.contains(&format!("{board} was corrupt; moved it to {board}.corrupt-")), "{warning}");
    assert!(warning.contains(&format!("continuing from its backup {board}.bak")), "{warning}");
    let titles: Vec<Value> =
        h.json(&["list"]).as_array().unwrap().iter().map(|t| t["title"].clone()).collect();
    assert_eq!(titles, ["first", "third"]);
    let aside: Vec<_> = fs::read_dir(h.state())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("board.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "the corrupt file is kept");

    // Without a usable backup: reading fails, `board recover` moves it aside, we start over.
    fs::write(h.board(), b"").unwrap();
    fs::write(h.state().join("board.json.bak"), b"[]").unwrap();
    let err = h.fails(1, &["list"]);
    assert!(err.contains("board.json.bak is corrupt too") && err.contains("hint: `board recover`"), "{err}");
    let out = h.ok(&["recover"]);
    assert!(out.starts_with(&format!("Moved the corrupt {board} to {board}.corrupt-")), "{out}");
    assert!(out.ends_with("There was no usable backup: the next change starts an empty board\n"), "{out}");
    assert_eq!(h.ok(&["list"]), "No tasks.\n");
    assert_eq!(h.ok(&["recover"]), format!("{board} is readable (or absent): nothing to recover\n"));
    let v = h.json(&["recover"]);
    assert_eq!((v["was_corrupt"].as_bool(), v["moved_to"].is_null()), (Some(false), true));
}

#[test]
fn recover_restores_the_backup_and_says_how_many_tasks_it_holds() {
    let h = Home::new();
    h.ok(&["add", "one"]);
    h.ok(&["add", "two"]);
    h.ok(&["add", "three"]);
    fs::write(h.board(), b"garbage").unwrap();
    let v = h.json(&["recover"]);
    assert_eq!((v["was_corrupt"].as_bool(), v["restored_from_backup"].as_bool()), (Some(true), Some(true)));
    assert_eq!(v["tasks"], 2);
    let moved = Path::new(v["moved_to"].as_str().unwrap());
    assert_eq!(fs::read(moved).unwrap(), b"garbage");
    assert_eq!(h.json(&["list"]).as_array().unwrap().len(), 2);
}

/// Control characters in a task (C0, C1) never reach the terminal from a table, and `--json`
/// stays valid JSON with the title exactly as written.
#[test]
fn control_characters_in_tasks_stay_inert_and_json_stays_exact() {
    let h = Home::new();
    let title = "evil\u{1b}]0;owned\u{7}\u{9b}2J title";
    let task = h.json(&["add", title]);
    assert_eq!(task["title"], title);
    let listed = h.json(&["list"]);
    assert_eq!(listed[0]["title"], title);
    let table = h.ok(&["list"]);
    assert!(
        !table.chars().any(|c| c != '\n' && (c.is_control() || ('\u{80}'..='\u{9f}').contains(&c))),
        "{table:?}"
    );
}
