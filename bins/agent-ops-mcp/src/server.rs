//! The protocol: which revision a request speaks, the lifecycle, and the methods.
//!
//! The server is dual-era, as MCP 2026-07-28 describes it: a request whose `_meta` carries
//! `io.modelcontextprotocol/protocolVersion` is served statelessly by that revision (results
//! carry `resultType`, the server's identity in `_meta`, and caching hints); any other request
//! speaks the revision an `initialize` handshake chose (2025-11-25 or 2025-06-18, the first
//! with structured tool output). One request at a time, in order: a tool runs to its end even
//! when the client has gone (a restart is never left half-recorded).
//!
//! Every answer passes through one place on its way out ([`Server::answer`]): its strings are
//! redacted of every secret of every configuration this process has read.

use std::io::{self, BufRead, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use ops_kit::{Config, Env, Layout};
use serde_json::{Map, Value, json};

use crate::tools::{self, Answer, Ctx, TOOLS};
use crate::wire::{self, Line, code};
use crate::{render, resources, schema};

/// The revisions served statelessly, per request.
pub const MODERN: &[&str] = &["2026-07-28"];
/// The revisions an `initialize` handshake can choose, newest first.
pub const LEGACY: &[&str] = &["2025-11-25", "2025-06-18"];

const VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
const CAPABILITIES_KEY: &str = "io.modelcontextprotocol/clientCapabilities";
const SERVER_INFO_KEY: &str = "io.modelcontextprotocol/serverInfo";

/// The largest answer, serialized: past it a tool says to narrow the request.
pub const MAX_ANSWER: usize = 1024 * 1024;

/// How long a client may keep a list of tools or resources, or what `server/discover` said
/// (they change only with a new version of the server).
const LIST_TTL_MS: u64 = 3_600_000;

/// What the model is told about this server.
const INSTRUCTIONS: &str = "agent-ops monitors the services of this host (services.json) and keeps an ops task board. \
Read with status (the state files), check (run checks now), uptime, board_list, board_show, board_stalled and logs_tail. \
Changes (board_*, silence, unsilence, ack, alert_send, restart) are off until a person lists them in services.json's mcp.allow. \
Silence a service before maintenance, acknowledge an outage with a note saying what you do, and never edit the state files by hand.";

/// Which revision a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Era {
    /// A revision with per-request metadata (2026-07-28).
    Modern,
    /// The revision an `initialize` chose.
    Legacy,
}

/// Why a request gets a JSON-RPC error.
struct Refusal {
    code: i64,
    message: String,
    data: Option<Value>,
}

fn refuse(code: i64, message: impl Into<String>) -> Refusal {
    Refusal { code, message: message.into(), data: None }
}

/// The server: where the installation is, the revision the handshake chose, and every secret
/// seen.
pub struct Server {
    layout: Layout,
    env: Env,
    /// The revision `initialize` chose, once it was called.
    legacy: Option<&'static str>,
    /// Every secret of every configuration read so far, to redact from every answer.
    secrets: ops_state::Redactor,
}

impl Server {
    /// A server for the installation at `layout`.
    pub fn new(layout: Layout, env: Env) -> Self {
        let mut server = Self { layout, env, legacy: None, secrets: ops_state::Redactor::default() };
        drop(server.config());
        server
    }

    /// Serves requests from `input` until it ends (or `output` is gone): one answer line per
    /// request, nothing for notifications. A write error (the client went away) ends it.
    pub fn serve(&mut self, input: impl BufRead, mut output: impl Write) -> io::Result<()> {
        let mut lines = wire::Lines::new(input);
        loop {
            let answer = match lines.next_line() {
                Line::End => return Ok(()),
                Line::TooLong(n) => Some(wire::error(
                    &Value::Null,
                    code::INVALID_REQUEST,
                    &format!("message of {n} bytes refused: at most {} bytes a line", wire::MAX_LINE),
                    None,
                )),
                Line::Message(bytes) => self.handle(&bytes),
            };
            if let Some(answer) = answer {
                wire::send(&mut output, &self.answer(answer))?;
            }
        }
    }

    /// services.json as it is now (read for every call, as every command reads it when it
    /// starts), its secrets added to those redacted.
    fn config(&mut self) -> Result<Config, String> {
        match Config::load(&self.layout, &self.env) {
            Ok(loaded) => {
                self.secrets.extend(&loaded.config.secrets());
                Ok(loaded.config)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// The one way out: every string value of `message` redacted of every secret known.
    fn answer(&self, message: Value) -> Value {
        redact(&self.secrets, message)
    }

    /// The answer to one line, if it needs one.
    fn handle(&mut self, bytes: &[u8]) -> Option<Value> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let message: Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => {
                let why = format!(
                    "parse error: the line is not JSON ({})",
                    e.to_string().split(" at line").next().unwrap_or("")
                );
                return Some(wire::error(&Value::Null, code::PARSE_ERROR, &why, None));
            }
        };
        let Value::Object(message) = message else {
            let why = if message.is_array() {
                "batches are not supported: send one JSON-RPC message per line"
            } else {
                "not a JSON-RPC message: expected an object"
            };
            return Some(wire::error(&Value::Null, code::INVALID_REQUEST, why, None));
        };
        let id = message.get("id").cloned();
        let id_ok = id.as_ref().is_some_and(|id| id.is_string() || id.is_i64() || id.is_u64());
        let shown_id = if id_ok { id.clone().unwrap_or_default() } else { Value::Null };
        if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Some(wire::error(
                &shown_id,
                code::INVALID_REQUEST,
                "not JSON-RPC 2.0: \"jsonrpc\" must be \"2.0\"",
                None,
            ));
        }
        let Some(method) = message.get("method") else {
            // A response: we never ask the client anything, so there is nothing to match it to.
            return None;
        };
        let Some(method) = method.as_str() else {
            return Some(wire::error(&shown_id, code::INVALID_REQUEST, "\"method\" must be a string", None));
        };
        id.as_ref()?; // a notification (initialized, cancelled ...): nothing to answer
        if !id_ok {
            return Some(wire::error(
                &Value::Null,
                code::INVALID_REQUEST,
                "\"id\" must be a string or an integer",
                None,
            ));
        }
        let id = shown_id;
        let outcome = catch_unwind(AssertUnwindSafe(|| self.request(method, message.get("params"))));
        Some(match outcome {
            Ok(Ok(result)) => wire::result(&id, result),
            Ok(Err(r)) => wire::error(&id, r.code, &r.message, r.data),
            Err(_) => wire::error(
                &id,
                code::INTERNAL_ERROR,
                "internal error (a bug in agent-ops-mcp); the server goes on",
                None,
            ),
        })
    }

    /// A request's result, shaped for its revision.
    fn request(&mut self, method: &str, params: Option<&Value>) -> Result<Value, Refusal> {
        let empty = Map::new();
        let params = match params {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(p)) => p,
            Some(_) => return Err(refuse(code::INVALID_PARAMS, "\"params\" must be an object")),
        };
        let meta = params.get("_meta").and_then(Value::as_object);
        if method == "initialize" {
            return Ok(self.initialize(params));
        }
        let era = match meta.and_then(|m| m.get(VERSION_KEY)) {
            Some(version) => {
                let requested = version.as_str().unwrap_or_default();
                if !MODERN.contains(&requested) {
                    let supported: Vec<&str> = MODERN.iter().chain(LEGACY).copied().collect();
                    return Err(Refusal {
                        code: code::UNSUPPORTED_PROTOCOL_VERSION,
                        message: "Unsupported protocol version".into(),
                        data: Some(json!({"supported": supported, "requested": version})),
                    });
                }
                if !meta.is_some_and(|m| m.get(CAPABILITIES_KEY).is_some_and(Value::is_object)) {
                    return Err(refuse(
                        code::INVALID_PARAMS,
                        format!("_meta must carry \"{CAPABILITIES_KEY}\" (an object) with \"{VERSION_KEY}\""),
                    ));
                }
                Era::Modern
            }
            None if method == "ping" => Era::Legacy,
            None if method == "server/discover" => {
                return Err(refuse(
                    code::INVALID_PARAMS,
                    format!("server/discover needs \"{VERSION_KEY}\" in _meta ({})", MODERN.join(", ")),
                ));
            }
            None if self.legacy.is_none() => {
                return Err(refuse(
                    code::INVALID_REQUEST,
                    format!(
                        "not initialized: send initialize first, or carry \"{VERSION_KEY}\" ({}) in every request's _meta",
                        MODERN.join(", ")
                    ),
                ));
            }
            None => Era::Legacy,
        };
        let (mut result, cache) = match method {
            "ping" => (json!({}), None),
            "server/discover" => (
                json!({"supportedVersions": MODERN.iter().chain(LEGACY).collect::<Vec<_>>(),
                       "capabilities": capabilities(), "instructions": INSTRUCTIONS}),
                Some("public"),
            ),
            "tools/list" => {
                no_cursor(params)?;
                (json!({"tools": TOOLS.iter().map(tool_entry).collect::<Vec<_>>()}), Some("public"))
            }
            "tools/call" => (self.call(params)?, None),
            "resources/list" => {
                no_cursor(params)?;
                (json!({"resources": resources::list()}), Some("public"))
            }
            "resources/templates/list" => {
                no_cursor(params)?;
                (json!({"resourceTemplates": []}), Some("public"))
            }
            "resources/read" => (self.read(params, era)?, Some("private")),
            other => return Err(refuse(code::METHOD_NOT_FOUND, format!("method not found: {other}"))),
        };
        if era == Era::Modern {
            result["resultType"] = json!("complete");
            result["_meta"] = json!({SERVER_INFO_KEY: server_info()});
            if let Some(scope) = cache {
                // What resources/read gives is the state of now: never fresh for long.
                result["ttlMs"] = json!(if scope == "public" { LIST_TTL_MS } else { 0 });
                result["cacheScope"] = json!(scope);
            }
        }
        Ok(result)
    }

    /// The handshake: the client's revision when it is one we speak, else our newest.
    fn initialize(&mut self, params: &Map<String, Value>) -> Value {
        let asked = params.get("protocolVersion").and_then(Value::as_str).unwrap_or_default();
        let version = LEGACY.iter().copied().find(|v| *v == asked).unwrap_or(LEGACY[0]);
        self.legacy = Some(version);
        json!({"protocolVersion": version, "capabilities": capabilities(), "serverInfo": server_info(),
               "instructions": INSTRUCTIONS})
    }

    /// `tools/call`: an unknown tool or arguments that are not an object are protocol errors;
    /// everything else, refusals included, is a tool result.
    fn call(&mut self, params: &Map<String, Value>) -> Result<Value, Refusal> {
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Err(refuse(code::INVALID_PARAMS, "tools/call needs \"name\", a string"));
        };
        let Some(tool) = tools::find(name) else {
            let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
            return Err(refuse(
                code::INVALID_PARAMS,
                format!("unknown tool: {name} (tools: {})", names.join(", ")),
            ));
        };
        let empty = Map::new();
        let args = match params.get("arguments") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(a)) => a,
            Some(_) => return Err(refuse(code::INVALID_PARAMS, "\"arguments\" must be an object")),
        };
        let config = self.config();
        let answer = match schema::validate(&(tool.input)(), &Value::Object(args.clone()), "") {
            Err(e) => Answer::fail(format!("{}: {e}", tool.name)),
            Ok(()) => match (tool.change, &config) {
                (Some(change), Err(e)) => Answer::fail(format!(
                    "{} is off: the configuration cannot be read, so nothing says that \"{}\" changes are allowed ({e})",
                    tool.name,
                    change.as_str()
                )),
                (Some(change), Ok(c)) if !c.mcp.allows(change) => Answer::fail(format!(
                    "{} is off: {} does not list \"{}\" in mcp.allow; a person who wants agents to make {} changes adds it there (\"mcp\": {{\"allow\": [\"{}\"]}})",
                    tool.name,
                    c.path.display(),
                    change.as_str(),
                    change.as_str(),
                    change.as_str()
                )),
                _ => {
                    let ctx = Ctx { layout: &self.layout, env: &self.env, config: &config };
                    catch_unwind(AssertUnwindSafe(|| (tool.run)(&ctx, args))).unwrap_or_else(|_| {
                        Answer::fail(format!(
                            "{} stopped on an internal error (a bug in agent-ops-mcp)",
                            tool.name
                        ))
                    })
                }
            },
        };
        Ok(tool_result(tool.name, answer))
    }

    fn read(&mut self, params: &Map<String, Value>, era: Era) -> Result<Value, Refusal> {
        let Some(uri) = params.get("uri").and_then(Value::as_str) else {
            return Err(refuse(code::INVALID_PARAMS, "resources/read needs \"uri\", a string"));
        };
        let config = self.config();
        match resources::read(&self.layout, &config, uri) {
            Some(Ok(text)) if text.len() > MAX_ANSWER => Err(refuse(
                code::INTERNAL_ERROR,
                format!("{uri} is {} bytes, more than the {MAX_ANSWER} an answer may hold", text.len()),
            )),
            Some(Ok(text)) => {
                Ok(json!({"contents": [{"uri": uri, "mimeType": "application/json", "text": text}]}))
            }
            Some(Err(why)) => Err(refuse(code::INTERNAL_ERROR, format!("{uri} cannot be read: {why}"))),
            None => {
                let known: Vec<String> =
                    resources::list().iter().filter_map(|r| r["uri"].as_str().map(str::to_owned)).collect();
                let code = if era == Era::Modern { code::INVALID_PARAMS } else { code::RESOURCE_NOT_FOUND };
                Err(Refusal {
                    code,
                    message: format!("resource not found: {uri} (resources: {})", known.join(", ")),
                    data: Some(json!({"uri": uri})),
                })
            }
        }
    }
}

fn no_cursor(params: &Map<String, Value>) -> Result<(), Refusal> {
    match params.get("cursor") {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(refuse(
            code::INVALID_PARAMS,
            "invalid cursor: every list is given whole, with no next cursor",
        )),
    }
}

fn capabilities() -> Value {
    json!({"tools": {}, "resources": {}})
}

fn server_info() -> Value {
    json!({"name": "agent-ops-mcp", "title": "agent-ops", "version": env!("CARGO_PKG_VERSION")})
}

/// A tool as `tools/list` gives it.
fn tool_entry(t: &tools::Tool) -> Value {
    let read_only = t.change.is_none();
    let mut annotations = json!({"title": t.title, "readOnlyHint": read_only, "openWorldHint": t.open_world});
    if !read_only {
        annotations["destructiveHint"] = json!(t.destructive);
        annotations["idempotentHint"] = json!(t.idempotent);
    }
    json!({"name": t.name, "title": t.title, "description": t.description, "inputSchema": (t.input)(),
           "outputSchema": (t.output)(), "annotations": annotations})
}

/// A `CallToolResult`: the text (control characters escaped), the structure, `isError`; an
/// answer past [`MAX_ANSWER`] is replaced by an error saying to narrow the request.
fn tool_result(name: &str, answer: Answer) -> Value {
    let mut result = json!({"content": [{"type": "text", "text": ops_state::printable_lines(&answer.text)}],
                            "isError": answer.error});
    if let Some(doc) = answer.structured {
        result["structuredContent"] = doc;
    }
    let size = serde_json::to_vec(&result).map_or(usize::MAX, |v| v.len());
    if size > MAX_ANSWER {
        return tool_result(name, Answer::fail(render::too_large(name, size, MAX_ANSWER)));
    }
    result
}

/// `value` with every string value redacted (keys are ours and stay).
fn redact(secrets: &ops_state::Redactor, value: Value) -> Value {
    if secrets.is_empty() {
        return value;
    }
    match value {
        Value::String(s) => Value::String(secrets.redact(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| redact(secrets, v)).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, redact(secrets, v))).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn server(dir: &std::path::Path) -> Server {
        let env = Env { agent_ops_home: Some(dir.into()), ..Env::default() };
        let layout = Layout::from_env(&env).unwrap();
        std::fs::create_dir_all(dir.join("config")).unwrap();
        std::fs::write(
            &layout.config,
            br#"{"services": [{"name": "DB", "type": "port", "port": 9}], "disk_paths": []}"#,
        )
        .unwrap();
        Server::new(layout, env)
    }

    /// What any line gets: nothing (a notification, a response, a blank line) or one JSON-RPC
    /// answer with a result or an error, whose id is the request's when it had a valid one.
    fn well_formed(line: &[u8], answer: Option<&Value>) -> Result<(), TestCaseError> {
        let Some(answer) = answer else { return Ok(()) };
        prop_assert_eq!(&answer["jsonrpc"], "2.0");
        prop_assert!(answer.get("result").is_some() != answer.get("error").is_some(), "{}", answer);
        if let Some(error) = answer.get("error") {
            prop_assert!(error["code"].is_i64() && error["message"].is_string(), "{}", answer);
        }
        let sent: Option<Value> = serde_json::from_slice(line).ok();
        let id =
            sent.as_ref().and_then(|m| m.get("id")).filter(|id| id.is_string() || id.is_i64() || id.is_u64());
        if let Some(id) = id
            && sent.as_ref().is_some_and(|m| m["jsonrpc"] == "2.0" && m.get("method").is_some())
        {
            prop_assert_eq!(&answer["id"], id);
        }
        Ok(())
    }

    fn request() -> impl Strategy<Value = Value> {
        let method = prop::sample::select(vec![
            "initialize",
            "ping",
            "tools/list",
            "tools/call",
            "resources/list",
            "resources/read",
            "server/discover",
            "nope",
            "",
        ]);
        let tool = prop::sample::select(TOOLS.iter().map(|t| t.name).chain(["nope"]).collect::<Vec<_>>());
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            "[a-z0-9 .:/-]{0,12}".prop_map(Value::from),
        ];
        let value = leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4).prop_map(|m| json!(m)),
            ]
        });
        let modern = prop_oneof![
            Just(Value::Null),
            Just(json!({VERSION_KEY: "2026-07-28", CAPABILITIES_KEY: {}})),
            Just(json!({VERSION_KEY: "1999-01-01"})),
        ];
        (method, tool, value.clone(), value, modern, prop::option::of(any::<i64>())).prop_map(
            |(method, tool, arguments, extra, meta, id)| {
                let mut params = json!({"name": tool, "arguments": arguments, "uri": "agent-ops://board",
                                        "protocolVersion": "2025-11-25", "extra": extra});
                if !meta.is_null() {
                    params["_meta"] = meta;
                }
                let mut m = json!({"jsonrpc": "2.0", "method": method, "params": params});
                if let Some(id) = id {
                    m["id"] = json!(id);
                }
                m
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Any bytes: no panic, and at most one well-formed answer.
        #[test]
        fn any_line_gets_nothing_or_one_well_formed_answer(line in prop::collection::vec(any::<u8>(), 0..200)) {
            let dir = tempfile::tempdir().unwrap();
            let mut s = server(dir.path());
            let answer = s.handle(&line);
            well_formed(&line, answer.as_ref())?;
        }

        /// Requests shaped like the real ones, with random parameters and arguments (no change
        /// is allowed, so none is made): each gets its answer, tool errors as results.
        #[test]
        fn any_request_gets_a_well_formed_answer(requests in prop::collection::vec(request(), 1..6)) {
            let dir = tempfile::tempdir().unwrap();
            let mut s = server(dir.path());
            for r in requests {
                let line = serde_json::to_vec(&r).unwrap();
                let answer = s.handle(&line);
                prop_assert_eq!(answer.is_some(), r.get("id").is_some(), "{} -> {:?}", r, answer);
                well_formed(&line, answer.as_ref())?;
                if let Some(a) = &answer {
                    prop_assert!(a.get("error").is_none_or(|e| e["code"] != code::INTERNAL_ERROR), "{} -> {}", r, a);
                }
            }
        }
    }
}
