//! The tools: each with its input schema (the one [`crate::schema::validate`] holds arguments
//! to), its output schema, whether it changes anything (and which `mcp.allow` entry lets it),
//! and what it runs. The engine calls are the ones the other binaries make (ops-kit's status,
//! health and uptime, ops-board, ops-kit's silences, acks, alerter and `restart_now`); the
//! words are [`crate::render`]'s.

use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use ops_board::{BoardError, BoardFile, Edit, Filter, NewTask, Priority, StalledQuery};
use ops_kit::maintenance::{self, parse_duration};
use ops_kit::pass::{RestartStep, restart_now};
use ops_kit::{
    Config, DEFAULT_STALLED_TASK_AFTER, Env, Layout, McpChange, ack, health, incident, status, uptime,
};
use ops_metrics::Window;
use ops_metrics::render::Context;
use ops_recovery::RunOutcome;
use ops_state::StateFile;
use ops_state::timestamp::{format_unix, unix_seconds};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::render;

/// What a tool runs against: the installation, and its configuration read for this call
/// (services.json is read on every call, as every command reads it when it starts, so an
/// edit needs no restart of the server).
pub struct Ctx<'a> {
    /// The directories.
    pub layout: &'a Layout,
    /// The environment, captured at start.
    pub env: &'a Env,
    /// services.json as this call found it, or why it could not be read.
    pub config: &'a Result<Config, String>,
}

impl Ctx<'_> {
    fn config(&self) -> Result<&Config, Answer> {
        self.config.as_ref().map_err(|e| Answer::fail(format!("cannot read the configuration: {e}")))
    }
}

/// What a tool call gives back.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// `structuredContent`, matching the tool's output schema when the call succeeded.
    pub structured: Option<Value>,
    /// The short text rendering.
    pub text: String,
    /// `isError`: the tool failed, or refused, and `text` says what to do.
    pub error: bool,
}

impl Answer {
    fn ok(structured: Value, text: String) -> Self {
        Self { structured: Some(structured), text, error: false }
    }

    /// A failure with nothing structured: `text` says why and what to do.
    pub fn fail(text: impl Into<String>) -> Self {
        Self { structured: None, text: text.into(), error: true }
    }
}

/// A tool.
pub struct Tool {
    /// Its name in `tools/call`.
    pub name: &'static str,
    /// A title for people.
    pub title: &'static str,
    /// What it does, for the model.
    pub description: &'static str,
    /// The `mcp.allow` entry that enables it; `None`: it only reads, and is always on.
    pub change: Option<McpChange>,
    /// It only reads (`readOnlyHint`); a change is destructive unless it only adds
    /// (`destructiveHint`), and idempotent when repeating it changes nothing more.
    pub destructive: bool,
    /// Repeating the call with the same arguments changes nothing more (`idempotentHint`).
    pub idempotent: bool,
    /// It reaches outside this host's files and processes (`openWorldHint`): checks, alerts.
    pub open_world: bool,
    /// The JSON Schema of its arguments.
    pub input: fn() -> Value,
    /// The JSON Schema of its `structuredContent`.
    pub output: fn() -> Value,
    /// What it does, with arguments already valid against `input`.
    pub run: fn(&Ctx<'_>, &Map<String, Value>) -> Answer,
}

/// Every tool, in the order `tools/list` gives them.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "status",
        title: "Status of every service",
        description: "Every check's state (up, down, blocked, unknown), since when, restarts used and cooldown left, silence or maintenance, acknowledgement and next check, as `orchestrator status --json` has them. Reads the state files only; runs no check.",
        change: None,
        destructive: false,
        idempotent: true,
        open_world: false,
        input: no_arguments,
        output: status_output,
        run: status_tool,
    },
    Tool {
        name: "check",
        title: "Run checks now",
        description: "Runs the checks now (all, or those named) and returns `health-check --json`'s document: each check's state (ok, warning, failed), detail and latency. Records nothing, restarts nothing, alerts nobody.",
        change: None,
        destructive: false,
        idempotent: true,
        open_world: true,
        input: check_input,
        output: check_output,
        run: check_tool,
    },
    Tool {
        name: "uptime",
        title: "Uptime report",
        description: "Uptime per service over the last days (today, UTC, included) from the metrics files, as `uptime-report --format json` reports it, with `warnings` added (what uptime-report says on standard error).",
        change: None,
        destructive: false,
        idempotent: true,
        open_world: false,
        input: uptime_input,
        output: uptime_output,
        run: uptime_tool,
    },
    Tool {
        name: "incidents",
        title: "Incidents",
        description: "Outages over the last days (today, UTC, included), newest first, open ones included: when each started and ended, the first failure, restarts tried, acknowledgement, what it blocked; and per service the count, MTTR and time down. As `uptime-report --incidents --format json`, with `warnings` added.",
        change: None,
        destructive: false,
        idempotent: true,
        open_world: false,
        input: incidents_input,
        output: incidents_output,
        run: incidents_tool,
    },
    Tool {
        name: "board_list",
        title: "List board tasks",
        description: "Tasks of the ops board, in the order they were added, filtered by column, owner, tags and priority (all that are given must match).",
        change: None,
        destructive: false,
        idempotent: true,
        open_world: false,
        input: board_list_input,
        output: tasks_output,
        run: board_list_tool,
    },
    Tool {
        name: "board_show",
        title: "Show a board task",
        description: "One task of the ops board in full, by its id or a unique prefix of it.",
        change: None,
        destructive: false,
        idempotent: true,
        open_world: false,
        input: id_input,
        output: task_output,
        run: board_show_tool,
    },
    Tool {
        name: "board_stalled",
        title: "Stalled board tasks",
        description: "Tasks in progress (or in the columns given) without a change for more than `hours` (default: stalled_task_hours of services.json, else 24), oldest first.",
        change: None,
        destructive: false,
        idempotent: true,
        open_world: false,
        input: board_stalled_input,
        output: stalled_output,
        run: board_stalled_tool,
    },
    Tool {
        name: "logs_tail",
        title: "Tail a log",
        description: "The last lines of the orchestrator's log, or of a service's restart log (`log` = the service's name): at most 1000 lines of at most 2000 characters from the last 256 KiB, secrets redacted, control characters escaped.",
        change: None,
        destructive: false,
        idempotent: true,
        open_world: false,
        input: logs_input,
        output: logs_output,
        run: logs_tool,
    },
    Tool {
        name: "board_add",
        title: "Add a board task",
        description: "Adds a task to the board's first column (open). Off unless services.json's mcp.allow lists \"board\".",
        change: Some(McpChange::Board),
        destructive: false,
        idempotent: false,
        open_world: false,
        input: board_add_input,
        output: task_output,
        run: board_add_tool,
    },
    Tool {
        name: "board_move",
        title: "Move a board task",
        description: "Moves a task to another column of the board. Off unless services.json's mcp.allow lists \"board\".",
        change: Some(McpChange::Board),
        destructive: true,
        idempotent: true,
        open_world: false,
        input: board_move_input,
        output: task_output,
        run: board_move_tool,
    },
    Tool {
        name: "board_edit",
        title: "Edit a board task",
        description: "Changes a task's title, owner, priority, description or tags (give at least one). Off unless services.json's mcp.allow lists \"board\".",
        change: Some(McpChange::Board),
        destructive: true,
        idempotent: false,
        open_world: false,
        input: board_edit_input,
        output: task_output,
        run: board_edit_tool,
    },
    Tool {
        name: "silence",
        title: "Silence a service",
        description: "Keeps checking and recording a service but neither restarts nor alerts it for a while (do this before maintenance). Off unless services.json's mcp.allow lists \"silence\".",
        change: Some(McpChange::Silence),
        destructive: false,
        idempotent: true,
        open_world: false,
        input: silence_input,
        output: silence_output,
        run: silence_tool,
    },
    Tool {
        name: "unsilence",
        title: "Lift a silence",
        description: "Lifts the silence on a service. Off unless services.json's mcp.allow lists \"silence\".",
        change: Some(McpChange::Silence),
        destructive: true,
        idempotent: true,
        open_world: false,
        input: service_input,
        output: silence_output,
        run: unsilence_tool,
    },
    Tool {
        name: "ack",
        title: "Acknowledge an outage",
        description: "Acknowledges a service's current outage with a note saying what is being done: no more reminders or escalations for it (its recovery is still said). Off unless services.json's mcp.allow lists \"ack\".",
        change: Some(McpChange::Ack),
        destructive: false,
        idempotent: true,
        open_world: false,
        input: ack_input,
        output: ack_output,
        run: ack_tool,
    },
    Tool {
        name: "alert_send",
        title: "Send an alert",
        description: "Sends an alert to the configured channels as `alert send` does, rate-limited by its topic (alerting.rate_limit_seconds); an alert that cannot be delivered waits in the outbox. Off unless services.json's mcp.allow lists \"alert\".",
        change: Some(McpChange::Alert),
        destructive: false,
        idempotent: false,
        open_world: true,
        input: alert_input,
        output: alert_output,
        run: alert_tool,
    },
    Tool {
        name: "restart",
        title: "Restart a service",
        description: "Runs the service's own restart_command from services.json (never any other command) under the orchestrator's cooldown and attempt limit, waits its restart_grace_seconds and checks it again. Off unless services.json's mcp.allow lists \"restart\".",
        change: Some(McpChange::Restart),
        destructive: true,
        idempotent: false,
        open_world: true,
        input: service_input,
        output: restart_output,
        run: restart_tool,
    },
];

/// The tool named `name`.
pub fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

// Schemas.

fn object(properties: Value, required: &[&str]) -> Value {
    let mut schema = json!({"type": "object", "required": required, "additionalProperties": false});
    schema["properties"] = properties;
    schema
}

fn string(description: &str, max: u64) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max, "description": description})
}

fn strings(description: &str, max_items: u64) -> Value {
    json!({"type": "array", "maxItems": max_items, "items": {"type": "string", "minLength": 1, "maxLength": 100}, "description": description})
}

fn priority() -> Value {
    json!({"type": "string", "enum": Priority::ALL.map(Priority::as_str), "description": "How urgent it is."})
}

fn no_arguments() -> Value {
    object(json!({}), &[])
}

fn id_input() -> Value {
    object(json!({"id": string("The task's id or a unique prefix of it.", 200)}), &["id"])
}

fn service_input() -> Value {
    object(json!({"service": string("The service's name, as services.json has it.", 200)}), &["service"])
}

fn check_input() -> Value {
    object(
        json!({"names": strings("Only these checks (services, or built-in checks such as \"Disk Space\"); all when absent.", 100)}),
        &[],
    )
}

fn uptime_input() -> Value {
    object(
        json!({
            "days": {"type": "integer", "minimum": 1, "maximum": 36500, "default": 7, "description": "Days to report, today (UTC) included."},
            "service": string("Only this service.", 200),
            "sla": {"type": "number", "minimum": 0, "maximum": 100, "description": "A target in percent: the report says which services are below it."},
        }),
        &[],
    )
}

fn incidents_input() -> Value {
    object(
        json!({
            "days": {"type": "integer", "minimum": 1, "maximum": 36500, "default": 7, "description": "Days to look back, today (UTC) included."},
            "service": string("Only this service.", 200),
        }),
        &[],
    )
}

fn board_list_input() -> Value {
    object(
        json!({
            "column": string("Only this column.", 100),
            "owner": {"type": "string", "maxLength": 100, "description": "Only this owner (\"\" for unowned tasks)."},
            "tags": strings("Only tasks with every one of these tags.", 20),
            "priority": priority(),
        }),
        &[],
    )
}

fn board_stalled_input() -> Value {
    object(
        json!({
            "hours": {"type": "number", "minimum": 0, "maximum": 87600, "description": "Hours without a change [default: stalled_task_hours, else 24]."},
            "columns": strings("Watch these columns instead of in-progress.", 20),
        }),
        &[],
    )
}

fn logs_input() -> Value {
    object(
        json!({
            "log": string("\"orchestrator\" (the default), or a service's name for its restart log.", 200),
            "lines": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100, "description": "How many lines, from the end."},
        }),
        &[],
    )
}

fn board_add_input() -> Value {
    object(
        json!({
            "title": string("What to do.", 500),
            "owner": {"type": "string", "maxLength": 100, "description": "Who does it."},
            "priority": priority(),
            "description": {"type": "string", "maxLength": 10000, "description": "Details."},
            "tags": strings("Labels.", 20),
        }),
        &["title"],
    )
}

fn board_move_input() -> Value {
    object(
        json!({
            "id": string("The task's id or a unique prefix of it.", 200),
            "column": string("One of the board's columns (open, in-progress, in-review, done on the default board).", 100),
        }),
        &["id", "column"],
    )
}

fn board_edit_input() -> Value {
    object(
        json!({
            "id": string("The task's id or a unique prefix of it.", 200),
            "title": string("New title.", 500),
            "owner": {"type": "string", "maxLength": 100, "description": "New owner (\"\" for nobody)."},
            "priority": priority(),
            "description": {"type": "string", "maxLength": 10000, "description": "New description."},
            "tags": {"type": "array", "maxItems": 20, "items": {"type": "string", "minLength": 1, "maxLength": 100}, "description": "Replace every tag with these ([] removes them all)."},
            "add_tags": strings("Tags to add.", 20),
            "remove_tags": strings("Tags to remove.", 20),
        }),
        &["id"],
    )
}

fn silence_input() -> Value {
    object(
        json!({
            "service": string("The service's name (or a built-in check's).", 200),
            "duration": string("How long: 90s, 15m, 2h, 1d, 1w, 1h30m (at most ten years).", 40),
            "reason": {"type": "string", "maxLength": 500, "description": "Why, for the log and `orchestrator silences`."},
        }),
        &["service", "duration"],
    )
}

fn ack_input() -> Value {
    object(
        json!({
            "service": string("The service whose current outage to acknowledge.", 200),
            "note": string("What is being done about it, shown by `orchestrator status`.", 500),
        }),
        &["service", "note"],
    )
}

fn alert_input() -> Value {
    object(
        json!({
            "message": string("The text, as written (it is escaped for each channel).", 4000),
            "topic": string("Alerts of one topic are sent at most once per alerting.rate_limit_seconds.", 100),
            "level": {"type": "string", "enum": ops_alert::Level::ALL.map(ops_alert::Level::as_str), "default": "info", "description": "The prefix: [INFO], [WARNING], [ERROR], [RECOVERED], [CRITICAL]."},
        }),
        &["message", "topic"],
    )
}

fn strings_out() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn status_output() -> Value {
    let state = json!({"type": "string", "enum": ["up", "down", "blocked", "unknown"]});
    let service = json!({"type": "object", "required": ["name", "state", "blocked_by"], "properties": {
        "name": {"type": "string"}, "state": state, "blocked_by": strings_out()}});
    json!({"type": "object", "required": ["services", "warnings"], "properties": {
        "services": {"type": "array", "items": service}, "warnings": strings_out()}})
}

fn check_output() -> Value {
    let check = json!({"type": "object", "required": ["name", "type", "ok", "state", "detail", "latency_ms"], "properties": {
        "name": {"type": "string"}, "type": {"type": "string"}, "ok": {"type": "boolean"},
        "state": {"type": "string", "enum": ["ok", "warning", "failed"]}, "detail": {"type": "string"},
        "latency_ms": {"type": "integer"}}});
    json!({"type": "object", "required": ["checks", "total", "passed", "failed", "warnings"], "properties": {
        "checks": {"type": "array", "items": check}, "total": {"type": "integer"}, "passed": {"type": "integer"},
        "failed": {"type": "integer"}, "warnings": {"type": "integer"}}})
}

fn uptime_output() -> Value {
    let service = json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}});
    json!({"type": "object", "required": ["window", "services", "warnings"], "properties": {
        "window": {"type": "object"}, "services": {"type": "array", "items": service}, "warnings": strings_out()}})
}

fn incidents_output() -> Value {
    let incident = json!({"type": "object", "required": ["service", "started", "end"], "properties": {
        "service": {"type": "string"}, "started": {"type": "string"}, "end": {"type": "string"}}});
    json!({"type": "object", "required": ["window", "incidents", "services", "warnings"], "properties": {
        "window": {"type": "object"}, "incidents": {"type": "array", "items": incident},
        "services": {"type": "array"}, "warnings": strings_out()}})
}

fn task_schema() -> Value {
    json!({"type": "object", "required": ["id", "title", "column"], "properties": {
        "id": {"type": "string"}, "title": {"type": "string"}, "column": {"type": "string"}}})
}

fn tasks_output() -> Value {
    json!({"type": "object", "required": ["tasks", "warnings"], "properties": {
        "tasks": {"type": "array", "items": task_schema()}, "warnings": strings_out()}})
}

fn task_output() -> Value {
    json!({"type": "object", "required": ["task", "warnings"], "properties": {"task": task_schema(), "warnings": strings_out()}})
}

fn stalled_output() -> Value {
    let entry = json!({"type": "object", "required": ["task", "hours_since_update"], "properties": {
        "task": task_schema(), "hours_since_update": {"type": "number"}}});
    json!({"type": "object", "required": ["hours", "columns", "stalled", "unreadable_timestamps", "warnings"], "properties": {
        "hours": {"type": "number"}, "columns": strings_out(), "stalled": {"type": "array", "items": entry},
        "unreadable_timestamps": strings_out(), "warnings": strings_out()}})
}

fn logs_output() -> Value {
    json!({"type": "object", "required": ["log", "path", "lines", "truncated"], "properties": {
        "log": {"type": "string"}, "path": {"type": "string"}, "lines": strings_out(),
        "truncated": {"type": "boolean", "description": "Older lines exist that were not read."}}})
}

fn silence_output() -> Value {
    json!({"type": "object", "required": ["service", "silenced"], "properties": {
        "service": {"type": "string"}, "silenced": {"type": "boolean"},
        "until": {"type": "string"}, "reason": {"type": "string"}}})
}

fn ack_output() -> Value {
    json!({"type": "object", "required": ["service", "outage_since", "at", "note"], "properties": {
        "service": {"type": "string"}, "outage_since": {"type": "string"}, "at": {"type": "string"},
        "by": {"type": "string"}, "note": {"type": "string"}}})
}

fn alert_output() -> Value {
    let delivery = json!({"type": "object", "required": ["destination", "sent"], "properties": {
        "destination": {"type": "string"}, "sent": {"type": "boolean"}, "queued": {"type": "boolean"}, "reason": {"type": "string"}}});
    json!({"type": "object", "required": ["verdict", "deliveries", "warnings"], "properties": {
        "verdict": {"type": "string", "enum": ["sent", "rate limited", "queued", "failed"]},
        "deliveries": {"type": "array", "items": delivery}, "warnings": strings_out()}})
}

fn restart_output() -> Value {
    json!({"type": "object", "required": ["service", "step", "warnings"], "properties": {
        "service": {"type": "string"},
        "step": {"type": "string", "enum": ["ran", "cooldown", "attempt limit", "skipped"]},
        "attempt": {"type": "integer"}, "outcome": {"type": "string"}, "recovered": {"type": "boolean"},
        "cooldown_left_seconds": {"type": "number"}, "attempts": {"type": "integer"},
        "recheck": {"type": "object", "properties": {"state": {"type": "string"}, "detail": {"type": "string"}}},
        "output_tail": {"type": "string"}, "warnings": strings_out()}})
}

// Arguments (already valid against the tool's schema).

fn text<'a>(args: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

fn texts(args: &Map<String, Value>, key: &str) -> Option<Vec<String>> {
    args.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
}

fn priority_arg(args: &Map<String, Value>) -> Option<Priority> {
    text(args, "priority").and_then(|p| p.parse().ok())
}

fn now() -> f64 {
    unix_seconds(OffsetDateTime::now_utc())
}

// The read-only tools.

fn status_tool(ctx: &Ctx<'_>, _: &Map<String, Value>) -> Answer {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(a) => return a,
    };
    let (services, warnings) = status::status(ctx.layout, config, now());
    Answer::ok(
        json!({"services": status::json(&services), "warnings": warnings}),
        render::status(&services, &warnings),
    )
}

fn check_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(a) => return a,
    };
    let names = texts(args, "names").unwrap_or_default();
    let probes = match health::select(config, &names) {
        Ok(p) => p,
        Err(e) => return Answer::fail(format!("field `names`: {e}")),
    };
    if probes.is_empty() {
        return Answer::fail(format!(
            "nothing to check: {} has no services and disk_paths is []",
            config.path.display()
        ));
    }
    let results = health::run(config, &probes);
    Answer::ok(health::json_report(&results, &health::blocked(config, &results)), render::check(&results))
}

fn uptime_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let days = args.get("days").and_then(Value::as_f64).map_or(7, |d| d as u32);
    let sla = args.get("sla").and_then(Value::as_f64);
    let now = OffsetDateTime::now_utc();
    let window = Window::last_days(now.date(), days);
    match uptime::read(&ctx.layout.metrics, &window, text(args, "service")) {
        Ok(found) => {
            // Stale services need services.json; without a valid one the report still stands.
            let stale = uptime::stale(ctx.config().ok(), &found.report, now);
            let context = Context { sla, stale: &stale, ..Context::new(now) };
            let mut doc = ops_metrics::render::json(&found.report, &context);
            doc["warnings"] = json!(found.warnings);
            let text = render::uptime(&found, sla);
            Answer::ok(doc, text)
        }
        Err(e) => Answer::fail(format!("cannot read the metrics: {e}")),
    }
}

fn incidents_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let days = args.get("days").and_then(Value::as_f64).map_or(7, |d| d as u32);
    let now = OffsetDateTime::now_utc();
    let window = Window::last_days(now.date(), days);
    match incident::read(ctx.layout, &window, text(args, "service")) {
        Ok(found) => {
            let mut doc = ops_metrics::render::incidents_json(&found.log, now);
            doc["warnings"] = json!(found.warnings);
            let text = render::incidents(&found.log, now);
            Answer::ok(doc, text)
        }
        Err(e) => Answer::fail(format!("cannot read the incidents: {e}")),
    }
}

fn board(ctx: &Ctx<'_>) -> Result<BoardFile, Answer> {
    BoardFile::new(ctx.layout.board()).map_err(|e| board_failure(&e))
}

/// A board error, with the way out where the agent has one.
fn board_failure(e: &BoardError) -> Answer {
    if e.is_corrupt() || matches!(e, BoardError::Unreadable { .. }) {
        return Answer::fail(format!(
            "{e}; a person should run `board recover` (never edit the state files by hand)"
        ));
    }
    Answer::fail(e.to_string())
}

fn read_board(ctx: &Ctx<'_>) -> Result<(ops_board::Board, Vec<String>), Answer> {
    let snapshot = board(ctx)?.read().map_err(|e| board_failure(&e))?;
    Ok((snapshot.board, snapshot.fallback.iter().map(ToString::to_string).collect()))
}

fn board_list_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let (board, warnings) = match read_board(ctx) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let filter = Filter {
        column: text(args, "column").map(str::to_owned),
        owner: text(args, "owner").map(str::to_owned),
        tags: texts(args, "tags").unwrap_or_default(),
        priority: priority_arg(args),
    };
    match board.list(&filter) {
        Ok(tasks) => Answer::ok(json!({"tasks": tasks, "warnings": warnings}), render::tasks(&tasks)),
        Err(e) => board_failure(&e),
    }
}

fn board_show_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let (board, warnings) = match read_board(ctx) {
        Ok(b) => b,
        Err(a) => return a,
    };
    match board.find(text(args, "id").unwrap_or_default()) {
        Ok(task) => Answer::ok(json!({"task": task, "warnings": warnings}), render::task("", task)),
        Err(e) => board_failure(&e),
    }
}

fn board_stalled_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let older_than = match args.get("hours").and_then(Value::as_f64) {
        Some(h) => Duration::from_secs_f64(h * 3600.0),
        None => ctx.config.as_ref().map_or(DEFAULT_STALLED_TASK_AFTER, |c| c.stalled_task_after),
    };
    let query = match texts(args, "columns") {
        Some(columns) if !columns.is_empty() => StalledQuery { older_than, columns },
        _ => StalledQuery::in_progress(older_than),
    };
    let (board, mut warnings) = match read_board(ctx) {
        Ok(b) => b,
        Err(a) => return a,
    };
    if let Some(column) = query.columns.iter().find(|c| !board.columns.contains(c)) {
        let e = BoardError::UnknownColumn { column: column.clone(), columns: board.columns.clone() };
        return Answer::fail(format!("field `columns`: {e}"));
    }
    let found = board.stalled(&query, OffsetDateTime::now_utc());
    warnings.extend(
        found.unreadable.iter().map(|t| format!("{} has no readable timestamp; it cannot be checked", t.id)),
    );
    let mut doc = serde_json::to_value(found.report(&query)).unwrap_or_default();
    doc["warnings"] = json!(warnings);
    Answer::ok(doc, render::stalled(&found, &query))
}

/// How much of the end of a log is read.
const LOG_TAIL_BYTES: u64 = 256 * 1024;
/// The longest line given back, in characters; the rest is cut.
const LOG_LINE_CHARS: usize = 2000;

fn logs_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let lines = args.get("lines").and_then(Value::as_f64).map_or(100, |n| n as usize);
    let log = text(args, "log").unwrap_or("orchestrator");
    let path = if log == "orchestrator" {
        ctx.layout.orchestrator_log()
    } else {
        let config = match ctx.config() {
            Ok(c) => c,
            Err(a) => return a,
        };
        if config.service(log).is_none() {
            let names: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
            return Answer::fail(format!(
                "field `log`: {log:?} is neither \"orchestrator\" nor a service (services: {})",
                names.join(", ")
            ));
        }
        ctx.layout.restart_log(log)
    };
    let file = match ops_state::open_existing(&path, false) {
        Ok(Some(f)) => f,
        Ok(None) => {
            let doc =
                json!({"log": log, "path": path.display().to_string(), "lines": [], "truncated": false});
            return Answer::ok(doc, format!("{} does not exist yet: nothing was logged", path.display()));
        }
        Err(e) => return Answer::fail(format!("cannot read the log: {e}")),
    };
    match tail(file, lines) {
        Ok((kept, truncated)) => {
            let text = render::log_lines(&path, &kept);
            let doc = json!({"log": log, "path": path.display().to_string(), "lines": kept, "truncated": truncated});
            Answer::ok(doc, text)
        }
        Err(e) => Answer::fail(format!("cannot read {}: {e}", path.display())),
    }
}

/// The last `n` lines of the last [`LOG_TAIL_BYTES`] of `file`, control characters escaped and
/// each cut to [`LOG_LINE_CHARS`]; and whether older lines were left unread.
fn tail(mut file: std::fs::File, n: usize) -> std::io::Result<(Vec<String>, bool)> {
    let size = file.metadata()?.len();
    let start = size.saturating_sub(LOG_TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(LOG_TAIL_BYTES).read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut all: Vec<&str> = text.lines().collect();
    if start > 0 && !all.is_empty() {
        all.remove(0); // cut in the middle
    }
    let truncated = start > 0 || all.len() > n;
    let kept = all[all.len().saturating_sub(n)..]
        .iter()
        .map(|l| {
            let shown = ops_state::printable(l);
            if shown.chars().count() > LOG_LINE_CHARS {
                format!("{}... [cut]", shown.chars().take(LOG_LINE_CHARS).collect::<String>())
            } else {
                shown.into_owned()
            }
        })
        .collect();
    Ok((kept, truncated))
}

// The changes.

fn changed(task: &ops_board::Task, verb: &str) -> Answer {
    Answer::ok(json!({"task": task, "warnings": []}), render::task(verb, task))
}

fn board_add_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let new = NewTask {
        title: text(args, "title").unwrap_or_default().to_owned(),
        owner: text(args, "owner").unwrap_or_default().to_owned(),
        priority: priority_arg(args).unwrap_or_default(),
        description: text(args, "description").unwrap_or_default().to_owned(),
        tags: texts(args, "tags").unwrap_or_default(),
    };
    match board(ctx).and_then(|b| b.add(&new).map_err(|e| board_failure(&e))) {
        Ok(task) => changed(&task, "Created"),
        Err(a) => a,
    }
}

fn board_move_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let (id, column) = (text(args, "id").unwrap_or_default(), text(args, "column").unwrap_or_default());
    match board(ctx).and_then(|b| b.move_task(id, column).map_err(|e| board_failure(&e))) {
        Ok(task) => changed(&task, &format!("Moved to {column}")),
        Err(a) => a,
    }
}

fn board_edit_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let edit = Edit {
        title: text(args, "title").map(str::to_owned),
        owner: text(args, "owner").map(str::to_owned),
        priority: priority_arg(args),
        description: text(args, "description").map(str::to_owned),
        set_tags: texts(args, "tags"),
        add_tags: texts(args, "add_tags").unwrap_or_default(),
        remove_tags: texts(args, "remove_tags").unwrap_or_default(),
    };
    if edit.is_empty() {
        return Answer::fail(
            "nothing to change: give at least one of title, owner, priority, description, tags, add_tags, remove_tags",
        );
    }
    let id = text(args, "id").unwrap_or_default();
    match board(ctx).and_then(|b| b.edit(id, &edit).map_err(|e| board_failure(&e))) {
        Ok(task) => changed(&task, "Updated"),
        Err(a) => a,
    }
}

/// The configuration's check named `name`, or why not (naming the field and the checks).
fn known_check(config: &Config, name: &str) -> Result<(), Answer> {
    health::select(config, &[name.to_owned()])
        .map(drop)
        .map_err(|e| Answer::fail(format!("field `service`: {e}")))
}

fn silence_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(a) => return a,
    };
    let service = text(args, "service").unwrap_or_default();
    if let Err(a) = known_check(config, service) {
        return a;
    }
    let given = text(args, "duration").unwrap_or_default();
    let Some(length) = parse_duration(given) else {
        return Answer::fail(format!(
            "field `duration`: {given:?} is not a duration like 90s, 15m, 2h, 1d or 1h30m (at most ten years)"
        ));
    };
    let reason = text(args, "reason").filter(|r| !r.trim().is_empty()).map(str::to_owned);
    let file = StateFile::new(ctx.layout.silences());
    match maintenance::silence(&file, service, length, reason, now()) {
        Ok(s) => Answer::ok(
            json!({"service": service, "silenced": true, "until": format_unix(s.until), "reason": s.reason}),
            render::silenced(service, &s),
        ),
        Err(e) => Answer::fail(format!("the silence was not set: {e}")),
    }
}

fn unsilence_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let service = text(args, "service").unwrap_or_default();
    match maintenance::unsilence(&StateFile::new(ctx.layout.silences()), service, now()) {
        Ok(true) => {
            Answer::ok(json!({"service": service, "silenced": false}), format!("{service}: silence lifted"))
        }
        Ok(false) => Answer::fail(format!("{service:?} is not silenced (the status tool shows what is)")),
        Err(e) => Answer::fail(format!("the silence was not lifted: {e}")),
    }
}

fn ack_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(a) => return a,
    };
    let service = text(args, "service").unwrap_or_default();
    if let Err(a) = known_check(config, service) {
        return a;
    }
    let note = text(args, "note").map(str::to_owned);
    let by = Some(match &ctx.env.user {
        Some(user) => format!("{user} (agent-ops-mcp)"),
        None => "agent-ops-mcp".to_owned(),
    });
    let (acks, outages) = (StateFile::new(ctx.layout.acks()), StateFile::new(ctx.layout.outages()));
    match ack::acknowledge(&acks, &outages, service, note, by, now()) {
        Ok(Some(a)) => Answer::ok(
            json!({"service": service, "outage_since": format_unix(a.outage), "at": format_unix(a.at), "by": a.by, "note": a.note}),
            format!(
                "{service}: outage since {} acknowledged; no more reminders or escalations for it (its recovery is still said)",
                format_unix(a.outage)
            ),
        ),
        Ok(None) => Answer::fail(format!(
            "{service:?} has no outage to acknowledge (the status tool shows which are down)"
        )),
        Err(e) => Answer::fail(format!("the acknowledgement was not kept: {e}")),
    }
}

fn alert_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(a) => return a,
    };
    let alerter = match ops_kit::alert::alerter(config, ctx.layout) {
        Ok(a) => a,
        Err(e) => return Answer::fail(format!("alerts cannot be sent: {e}")),
    };
    let alert = ops_alert::Alert {
        level: text(args, "level").and_then(|l| l.parse().ok()).unwrap_or_default(),
        topic: text(args, "topic").map(str::to_owned),
        message: text(args, "message").unwrap_or_default().to_owned(),
    };
    match alerter.send(&alert) {
        Ok(outcome) => {
            let (doc, text, failed) = render::alert_outcome(&outcome);
            Answer { structured: Some(doc), text, error: failed }
        }
        Err(e) => Answer::fail(format!("the alert was not sent: {e}")),
    }
}

fn restart_tool(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Answer {
    let config = match ctx.config() {
        Ok(c) => c,
        Err(a) => return a,
    };
    let name = text(args, "service").unwrap_or_default();
    let restartable: Vec<&str> =
        config.services.iter().filter(|s| s.restart_command.is_some()).map(|s| s.name.as_str()).collect();
    let Some(service) = config.service(name) else {
        return Answer::fail(format!(
            "field `service`: {name:?} is not a service of {} (services with a restart_command: {})",
            config.path.display(),
            if restartable.is_empty() { "none".to_owned() } else { restartable.join(", ") }
        ));
    };
    if service.restart_command.is_none() {
        return Answer::fail(format!(
            "{name:?} has no restart_command in {}; a person must configure one (only a service's own restart_command is ever run)",
            config.path.display()
        ));
    }
    let done = restart_now(ctx.layout, ctx.env, config, service, "agent-ops-mcp");
    let mut doc = json!({"service": name, "warnings": done.warnings});
    let error = match &done.step {
        RestartStep::Ran { attempt, run, recovered } => {
            doc["step"] = json!("ran");
            doc["attempt"] = json!(attempt);
            doc["recovered"] = json!(recovered);
            doc["outcome"] = json!(match &run.outcome {
                RunOutcome::Exited(code) => format!("exited {code}"),
                RunOutcome::Signaled(sig) => format!("killed by signal {sig}"),
                RunOutcome::TimedOut => "timed out".to_owned(),
                RunOutcome::NotStarted(why) => format!("not started: {why}"),
            });
            doc["output_tail"] = json!(ops_state::printable(run.output_tail.trim()));
            if let Some(r) = &done.recheck {
                doc["recheck"] = json!({"state": r.outcome.level().as_str(), "detail": r.detail});
            }
            !recovered
        }
        RestartStep::Cooldown { remaining } => {
            doc["step"] = json!("cooldown");
            doc["cooldown_left_seconds"] = json!(remaining.as_secs_f64());
            true
        }
        RestartStep::GaveUp { attempts } => {
            doc["step"] = json!("attempt limit");
            doc["attempts"] = json!(attempts);
            true
        }
        RestartStep::WouldRestart | RestartStep::Skipped(_) => {
            doc["step"] = json!("skipped");
            true
        }
    };
    Answer { structured: Some(doc), text: render::restarted(name, &done), error }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema;

    #[test]
    fn every_schema_keeps_to_the_subset_the_validator_knows() {
        for t in TOOLS {
            for (which, s) in [("input", (t.input)()), ("output", (t.output)())] {
                let unknown = schema::unknown_keywords(&s, &format!("{}.{which}", t.name));
                assert!(unknown.is_empty(), "{unknown:?}");
                assert_eq!(s["type"], "object", "{} {which}", t.name);
            }
            assert_eq!(
                (t.input)()["additionalProperties"],
                false,
                "{}: unknown arguments are refused",
                t.name
            );
        }
    }

    #[test]
    fn every_change_says_which_entry_enables_it_and_names_are_unique() {
        let mut names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TOOLS.len());
        for t in TOOLS {
            if let Some(change) = t.change {
                assert!(
                    t.description.contains(&format!("mcp.allow lists \"{}\"", change.as_str())),
                    "{}",
                    t.name
                );
            }
        }
        for change in McpChange::ALL {
            assert!(TOOLS.iter().any(|t| t.change == Some(change)), "no tool for {change:?}");
        }
    }
}
