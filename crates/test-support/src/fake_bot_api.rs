//! Fake HTTP endpoints for alerting tests, on 127.0.0.1: a Telegram Bot API server that answers
//! with Telegram's real response shapes and parses message text the way Telegram does, and a
//! webhook receiver. Both answer from a script (one reply per request) and log every request.
//!
//! Both can also be hostile after accepting a message ([`Hostile`]: a huge, dripping, endless
//! or non-JSON success answer), echo every secret a request carried ([`Reply::Echo`],
//! [`HookReply::Echo`]), and answer with any status and headers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Rng;

/// What the fake Bot API answers to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Behave like Telegram: check the token and the method, parse the text in its
    /// `parse_mode` (HTML or legacy Markdown, strictly), enforce the 4096-character limit,
    /// honour chat migrations, and answer with the sent message.
    Emulate,
    /// `{"ok":false,"error_code":code,"description":...,"parameters":...}` with HTTP status `code`.
    Error {
        /// The HTTP status and `error_code`.
        code: u16,
        /// Telegram's description.
        description: String,
        /// `parameters` (`retry_after`, `migrate_to_chat_id`), when any.
        parameters: Option<Value>,
    },
    /// Never answer: hold the connection open until the server is dropped.
    Hang,
    /// Read the request, then reset the connection (a TCP RST, as a crashed proxy or a
    /// flaky network gives) without answering or delivering anything.
    Reset,
    /// Any status and body (an HTML 502 page from a proxy, say).
    Raw {
        /// The HTTP status.
        status: u16,
        /// The body.
        body: String,
    },
    /// Deliver the message as [`Reply::Emulate`] does, then answer 200 in a hostile way.
    Accept(Hostile),
    /// Write these bytes as the whole answer, whatever they are (not HTTP, say), and close.
    /// Delivers nothing.
    Garbage(String),
    /// Answer this status with a Telegram error whose description reflects the request: its
    /// path (which holds the token) as received, JSON-escaped and percent-encoded, and every
    /// header. Delivers nothing.
    Echo(u16),
}

/// How a success answer misbehaves after the message was accepted: the client must count the
/// delivery, once, whatever comes after the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// A whole body (with `Content-Length`) of at least this many bytes.
    Huge(usize),
    /// The status and headers at once, then the body one byte every 20 ms, until the client
    /// hangs up.
    Drip,
    /// A chunked body that never ends (until the client hangs up).
    Endless,
    /// A body that is not JSON (an HTML page).
    NotJson,
}

impl Reply {
    /// An error with Telegram's shape.
    pub fn error(code: u16, description: &str) -> Self {
        Self::Error { code, description: description.into(), parameters: None }
    }

    /// 429 with `parameters.retry_after`.
    pub fn retry_after(seconds: u64) -> Self {
        Self::Error {
            code: 429,
            description: format!("Too Many Requests: retry after {seconds}"),
            parameters: Some(json!({"retry_after": seconds})),
        }
    }

    /// 400 with `parameters.migrate_to_chat_id`.
    pub fn migrate(to: i64) -> Self {
        Self::Error {
            code: 400,
            description: "Bad Request: group chat was upgraded to a supergroup chat".into(),
            parameters: Some(json!({"migrate_to_chat_id": to})),
        }
    }

    /// 400 "can't parse entities".
    pub fn parse_error() -> Self {
        Self::error(400, "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0")
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        Self::error(401, "Unauthorized")
    }

    /// 403, the bot was blocked.
    pub fn blocked() -> Self {
        Self::error(403, "Forbidden: bot was blocked by the user")
    }

    /// 400 chat not found.
    pub fn chat_not_found() -> Self {
        Self::error(400, "Bad Request: chat not found")
    }

    /// 500.
    pub fn server_error() -> Self {
        Self::error(500, "Internal Server Error")
    }
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The path: `/bot<token>/sendMessage` (it holds the token).
    pub path: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Value::Null` when it was not JSON).
    pub body: Value,
    /// The HTTP status answered; `None` when the request was held without an answer.
    pub status: Option<u16>,
    /// For a delivered Telegram message: the text as a Telegram client would display it.
    pub displayed: Option<String>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A message the fake Bot API accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// The chat it went to, as sent (a number or an `@username`).
    pub chat_id: Value,
    /// The text as displayed (markup parsed away).
    pub displayed: String,
    /// The `parse_mode` it was sent with.
    pub parse_mode: Option<String>,
    /// The id the fake gave it.
    pub message_id: i64,
}

/// How a request is answered: status, body, extra headers and how the body is sent; or held.
enum Action {
    Answer {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
        shape: Shape,
    },
    Hold,
    /// These bytes, as they are, then close.
    Bytes(String),
    /// Hold without answering until the client gives up (closes its end) or the fake is dropped.
    HoldUntilClosed,
    Reset,
}

/// How an answer's body is sent.
#[derive(Clone, Copy)]
enum Shape {
    /// At once, after `Content-Length`.
    Whole,
    /// After `Content-Length`, one byte at a time.
    Drip,
    /// Chunked: the body, then filler for ever.
    Endless,
}

impl Action {
    fn answer(status: u16, body: impl Into<String>) -> Self {
        Self::Answer { status, body: body.into(), headers: Vec::new(), shape: Shape::Whole }
    }

    /// A 200 made hostile; any other action is left alone.
    fn hostile(self, how: Hostile) -> Self {
        let Self::Answer { status: 200, body, headers, .. } = self else { return self };
        let (body, shape) = match how {
            Hostile::Huge(n) => {
                // Still valid JSON when the sender's answer was: padding inside the object.
                let pad = "x".repeat(n.saturating_sub(body.len()));
                let padded = match body.strip_suffix('}') {
                    Some(open) => format!("{open},\"padding\":\"{pad}\"}}"),
                    None => format!("{body}{pad}"),
                };
                (padded, Shape::Whole)
            }
            Hostile::Drip => (body, Shape::Drip),
            Hostile::Endless => {
                let open = body.strip_suffix('}').map_or(body.clone(), |o| format!("{o},\"padding\":\""));
                (open, Shape::Endless)
            }
            Hostile::NotJson => ("<html><body><h1>OK</h1></body></html>".to_owned(), Shape::Whole),
        };
        Self::Answer { status: 200, body, headers, shape }
    }
}

/// The request as a server that reflects everything would show it: the path (with any token
/// or secret in it) as received, JSON-escaped (`\/`) and percent-encoded, then every header.
fn echo(req: &Received) -> String {
    let mut encoded = String::new();
    for b in req.path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(b));
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    let mut text =
        format!("no route for POST {} (json {}, encoded {encoded})", req.path, req.path.replace('/', "\\/"));
    for (k, v) in &req.headers {
        let _ = write!(text, "; {k}: {v}");
    }
    text
}

/// What the two fakes share: a listener thread, a request log, a way to stop.
struct Core {
    addr: SocketAddr,
    log: Arc<(Mutex<Vec<Received>>, Condvar)>,
    closing: Arc<(Mutex<bool>, Condvar)>,
    stop: Arc<AtomicBool>,
}

impl Core {
    fn start(handle: impl Fn(&Received) -> (Action, Option<String>) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let log = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let closing = Arc::new((Mutex::new(false), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = Arc::new(handle);
        let (log2, closing2, stop2) = (Arc::clone(&log), Arc::clone(&closing), Arc::clone(&stop));
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (log, closing, handle) = (Arc::clone(&log2), Arc::clone(&closing2), Arc::clone(&handle));
                thread::spawn(move || serve(stream, &*handle, &log, &closing));
            }
        });
        Self { addr, log, closing, stop }
    }

    fn requests(&self) -> Vec<Received> {
        self.log.0.lock().expect("log").clone()
    }

    /// Waits until `n` requests arrived (polling a condition, not sleeping blindly).
    fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let mut log = self.log.0.lock().expect("log");
        while log.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "expected {n} requests within {timeout:?}, got {}", log.len());
            log = self.log.1.wait_timeout(log, left).expect("log").0;
        }
        log.clone()
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        *self.closing.0.lock().expect("closing") = true;
        self.closing.1.notify_all();
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads one request, asks `handle` what to do, answers (or holds until the fake is dropped),
/// and logs it.
fn serve(
    mut stream: TcpStream,
    handle: &(dyn Fn(&Received) -> (Action, Option<String>) + Send + Sync),
    log: &(Mutex<Vec<Received>>, Condvar),
    closing: &(Mutex<bool>, Condvar),
) {
    let Some(mut received) = read_request(&mut stream) else { return };
    let (action, displayed) = handle(&received);
    received.displayed = displayed;
    match action {
        Action::Answer { status, body, headers, shape } => {
            received.status = Some(status);
            let framing = match shape {
                Shape::Endless => "Transfer-Encoding: chunked".to_owned(),
                Shape::Whole | Shape::Drip => format!("Content-Length: {}", body.len()),
            };
            let mut head = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\n{framing}\r\nConnection: close\r\n",
                reason(status),
            );
            for (k, v) in headers {
                let _ = write!(head, "{k}: {v}\r\n");
            }
            head.push_str("\r\n");
            push(log, received);
            // A client that stopped reading gives up within this; the server thread then ends.
            let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
            match shape {
                Shape::Whole => {
                    let _ = stream.write_all(format!("{head}{body}").as_bytes());
                }
                Shape::Drip => {
                    let mut ok = stream.write_all(head.as_bytes()).is_ok();
                    for byte in body.bytes() {
                        ok = ok && stream.write_all(&[byte]).is_ok() && !closed_within(closing, DRIP_EVERY);
                        if !ok {
                            break;
                        }
                    }
                }
                Shape::Endless => {
                    let filler = format!("{:x}\r\n{}\r\n", 8192, "x".repeat(8192));
                    let mut ok =
                        stream.write_all(format!("{head}{:x}\r\n{body}\r\n", body.len()).as_bytes()).is_ok();
                    while ok && !*closing.0.lock().expect("closing") {
                        ok = stream.write_all(filler.as_bytes()).is_ok();
                    }
                }
            }
            let _ = stream.flush();
        }
        Action::Bytes(bytes) => {
            push(log, received);
            let _ = stream.write_all(bytes.as_bytes());
        }
        Action::Hold => {
            push(log, received);
            let mut closed = closing.0.lock().expect("closing");
            while !*closed {
                closed = closing.1.wait(closed).expect("closing");
            }
        }
        Action::HoldUntilClosed => {
            push(log, received);
            hold_until_closed(&mut stream, closing);
        }
        Action::Reset => {
            push(log, received);
            // SO_LINGER with a zero timeout: close(2) sends RST instead of FIN.
            let _ = rustix::net::sockopt::set_socket_linger(&stream, Some(Duration::ZERO));
            drop(stream);
        }
    }
}

/// Waits until the peer closes the connection (a client that timed out), or the fake is
/// dropped, so that a long run of held requests does not keep a thread each.
fn hold_until_closed(stream: &mut TcpStream, closing: &(Mutex<bool>, Condvar)) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 512];
    while !*closing.0.lock().expect("closing") {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// How often a dripping answer sends its next byte.
const DRIP_EVERY: Duration = Duration::from_millis(20);

/// Waits up to `d`; whether the fake was dropped meanwhile.
fn closed_within(closing: &(Mutex<bool>, Condvar), d: Duration) -> bool {
    let closed = closing.0.lock().expect("closing");
    *closing.1.wait_timeout_while(closed, d, |c| !*c).expect("closing").0
}

fn push(log: &(Mutex<Vec<Received>>, Condvar), r: Received) {
    log.0.lock().expect("log").push(r);
    log.1.notify_all();
}

fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_lowercase(), v.trim().to_owned()));
    }
    let get = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    let len: usize = get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some(Received { path, headers, body, status: None, displayed: None })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Status",
    }
}

/// The scripted state of a fake Bot API.
struct BotState {
    token: String,
    script: VecDeque<Reply>,
    default: Reply,
    migrations: HashMap<String, i64>,
    delivered: Vec<Delivered>,
    next_id: i64,
    faults: Option<(Faults, Rng)>,
    injected: BTreeMap<Fault, usize>,
}

/// A fault the fake injects in its random fault mode ([`FakeBotApi::set_faults`]). None of
/// them delivers the message: the client must send it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// 429 "Too Many Requests" with `parameters.retry_after`, drawn from [`Faults::retry_after`].
    FloodControl,
    /// 500 "Internal Server Error".
    ServerError,
    /// No answer: the request is held until the client gives up and closes the connection.
    Timeout,
    /// The connection is reset (RST) after the request was read.
    Reset,
}

impl Fault {
    /// Every kind, in a fixed order.
    pub const ALL: [Fault; 4] = [Fault::FloodControl, Fault::ServerError, Fault::Timeout, Fault::Reset];

    /// A short name: `429`, `500`, `timeout`, `reset`.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::FloodControl => "429",
            Fault::ServerError => "500",
            Fault::Timeout => "timeout",
            Fault::Reset => "reset",
        }
    }
}

/// The random fault mode: each request the script does not answer fails with probability
/// `share`, with a kind drawn uniformly from `kinds`, from a generator seeded with `seed`
/// (the same seed gives the same sequence of decisions).
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Seeds the generator.
    pub seed: u64,
    /// The share of requests that fail, 0.0 to 1.0.
    pub share: f64,
    /// The kinds to draw from (all of them by default).
    pub kinds: Vec<Fault>,
    /// The `retry_after` values of a 429, in seconds, drawn uniformly (a short one is waited
    /// out; one longer than the client's bound leaves the alert queued for the next run).
    pub retry_after: Vec<u64>,
}

impl Faults {
    /// `share` of requests fail, every kind equally likely, 429s asking for 1 s.
    pub fn random(seed: u64, share: f64) -> Self {
        Self { seed, share, kinds: Fault::ALL.to_vec(), retry_after: vec![1] }
    }
}

impl BotState {
    /// The next random fault, if the fault mode is on and the draw says so, as the reply to
    /// give (or `None` for a held or reset connection).
    fn draw_fault(&mut self) -> Option<(Fault, Option<Reply>)> {
        let (faults, rng) = self.faults.as_mut()?;
        if faults.kinds.is_empty() {
            return None;
        }
        if !rng.chance(faults.share) {
            return None;
        }
        let kind = faults.kinds[rng.between(0, faults.kinds.len() - 1)];
        *self.injected.entry(kind).or_default() += 1;
        let reply = match kind {
            Fault::FloodControl => {
                let after = match faults.retry_after.len() {
                    0 => 1,
                    n => faults.retry_after[rng.between(0, n - 1)],
                };
                Some(Reply::retry_after(after))
            }
            Fault::ServerError => Some(Reply::server_error()),
            Fault::Timeout | Fault::Reset => None,
        };
        Some((kind, reply))
    }
}

/// A fake Telegram Bot API on 127.0.0.1.
///
/// ```no_run
/// use test_support::{FakeBotApi, Reply};
/// let api = FakeBotApi::start("123456:SECRET");
/// api.push([Reply::server_error()]); // the first request fails, later ones are emulated
/// // ... point the code under test at api.url() ...
/// assert_eq!(api.delivered().len(), 1);
/// ```
pub struct FakeBotApi {
    core: Core,
    state: Arc<Mutex<BotState>>,
}

impl FakeBotApi {
    /// Starts a fake that accepts `token` only.
    pub fn start(token: &str) -> Self {
        let state = Arc::new(Mutex::new(BotState {
            token: token.into(),
            script: VecDeque::new(),
            default: Reply::Emulate,
            migrations: HashMap::new(),
            delivered: Vec::new(),
            next_id: 1,
            faults: None,
            injected: BTreeMap::new(),
        }));
        let shared = Arc::clone(&state);
        let core = Core::start(move |req| {
            let mut st = shared.lock().expect("state");
            if let Some(reply) = st.script.pop_front() {
                return bot_answer(&mut st, req, reply);
            }
            match st.draw_fault() {
                Some((_, Some(reply))) => bot_answer(&mut st, req, reply),
                Some((Fault::Timeout, None)) => (Action::HoldUntilClosed, None),
                Some((_, None)) => (Action::Reset, None),
                None => {
                    let reply = st.default.clone();
                    bot_answer(&mut st, req, reply)
                }
            }
        });
        Self { core, state }
    }

    /// The base URL, `http://127.0.0.1:PORT` (what `api.telegram.org` would be).
    pub fn url(&self) -> String {
        format!("http://{}", self.core.addr)
    }

    /// Queues replies, one per request, before falling back to the default.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().expect("state").script.extend(replies);
    }

    /// The reply once the script is used up (initially [`Reply::Emulate`]).
    pub fn set_default(&self, reply: Reply) {
        self.state.lock().expect("state").default = reply;
    }

    /// Turns the random fault mode on (or off with `None`). Scripted replies ([`FakeBotApi::push`])
    /// still come first; a request they do not answer fails as `faults` draws, or gets the
    /// default reply. Turning it on again restarts the generator from the Python kit.
    pub fn set_faults(&self, faults: Option<Faults>) {
        self.state.lock().expect("state").faults = faults.map(|f| {
            let rng = Rng::new(f.seed);
            (f, rng)
        });
    }

    /// How many faults of each kind the random fault mode injected so far.
    pub fn injected(&self) -> BTreeMap<Fault, usize> {
        self.state.lock().expect("state").injected.clone()
    }

    /// Emulates a group that became a supergroup: messages to `from` get a 400 with
    /// `migrate_to_chat_id: to`.
    pub fn migrate_chat(&self, from: &str, to: i64) {
        self.state.lock().expect("state").migrations.insert(from.into(), to);
    }

    /// Every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<Received> {
        self.core.requests()
    }

    /// Every message accepted so far.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.state.lock().expect("state").delivered.clone()
    }

    /// The first line (the title) of every message accepted so far.
    pub fn titles(&self) -> Vec<String> {
        self.delivered().iter().map(|d| d.displayed.lines().next().unwrap_or_default().to_owned()).collect()
    }

    /// Waits (up to `timeout`, then panics) until `n` requests arrived; returns them.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Received> {
        self.core.wait_for(n, timeout)
    }
}

fn bot_answer(st: &mut BotState, req: &Received, reply: Reply) -> (Action, Option<String>) {
    match reply {
        Reply::Hang => (Action::Hold, None),
        Reply::Reset => (Action::Reset, None),
        Reply::Raw { status, body } => (Action::answer(status, body), None),
        Reply::Error { code, description, parameters } => error(code, &description, parameters),
        Reply::Echo(code) => error(code, &echo(req), None),
        Reply::Garbage(bytes) => (Action::Bytes(bytes), None),
        Reply::Emulate => emulate(st, req),
        Reply::Accept(how) => {
            let (action, displayed) = emulate(st, req);
            (action.hostile(how), displayed)
        }
    }
}

/// `{"ok":false,"error_code":code,"description":...,"parameters":...}` with HTTP status `code`.
fn error(code: u16, description: &str, parameters: Option<Value>) -> (Action, Option<String>) {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (Action::answer(code, body.to_string()), None)
}

/// Behaves like Telegram's sendMessage (see [`Reply::Emulate`]).
fn emulate(st: &mut BotState, req: &Received) -> (Action, Option<String>) {
    let Some((token, method)) = req.path.strip_prefix("/bot").and_then(|p| p.split_once('/')) else {
        return error(404, "Not Found", None);
    };
    if token != st.token {
        return error(401, "Unauthorized", None);
    }
    if method != "sendMessage" {
        return error(404, "Not Found", None);
    }
    let chat_id = req.body.get("chat_id").cloned().unwrap_or(Value::Null);
    let chat_key = match &chat_id {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return error(400, "Bad Request: chat_id is empty", None),
    };
    if let Some(to) = st.migrations.get(&chat_key) {
        let to = *to;
        return error(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            Some(json!({"migrate_to_chat_id": to})),
        );
    }
    let text = req.body.get("text").and_then(Value::as_str).unwrap_or("");
    let parse_mode = req.body.get("parse_mode").and_then(Value::as_str).map(str::to_owned);
    let displayed = match parse_mode.as_deref() {
        None => Ok(text.to_owned()),
        Some(m) if m.eq_ignore_ascii_case("html") => html_to_text(text),
        Some(m) if m.eq_ignore_ascii_case("markdown") => markdown_to_text(text),
        Some(_) => return error(400, "Bad Request: unsupported parse_mode", None),
    };
    let displayed = match displayed {
        Ok(d) => d,
        Err(e) => return error(400, &format!("Bad Request: can't parse entities: {e}"), None),
    };
    if displayed.trim().is_empty() {
        return error(400, "Bad Request: message text is empty", None);
    }
    if displayed.encode_utf16().count() > 4096 {
        return error(400, "Bad Request: message is too long", None);
    }
    let message_id = st.next_id;
    st.next_id += 1;
    st.delivered.push(Delivered {
        chat_id: chat_id.clone(),
        displayed: displayed.clone(),
        parse_mode,
        message_id,
    });
    let bot_id: i64 = st.token.split(':').next().and_then(|id| id.parse().ok()).unwrap_or(1);
    let body = json!({
        "ok": true,
        "result": {
            "message_id": message_id,
            "from": {"id": bot_id, "is_bot": true, "first_name": "Agent Ops", "username": "agent_ops_bot"},
            "chat": {"id": chat_id, "title": "Ops", "type": "supergroup"},
            "date": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            "text": displayed,
        }
    });
    (Action::answer(200, body.to_string()), Some(displayed))
}

/// The tags Telegram's HTML mode supports.
const HTML_TAGS: [&str; 15] = [
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
];

/// Telegram's HTML parse mode, strictly: only the supported tags, properly nested; `&` only in
/// `&lt;` `&gt;` `&amp;` `&quot;` and numeric references; no bare `<` or `>`. Returns the text
/// as displayed, or Telegram's kind of error message.
pub fn html_to_text(html: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        let c = rest.chars().next().unwrap_or_default();
        match c {
            '<' => {
                let end = rest.find('>').ok_or_else(|| format!("Unclosed start tag at byte offset {i}"))?;
                let tag = &rest[1..end];
                if let Some(name) = tag.strip_prefix('/') {
                    let name = name.trim().to_lowercase();
                    match open.pop() {
                        Some(top) if top == name => {}
                        Some(top) => {
                            return Err(format!(
                                "Unmatched end tag at byte offset {i}, expected \"</{top}>\", found \"</{name}>\""
                            ));
                        }
                        None => return Err(format!("Unexpected end tag at byte offset {i}")),
                    }
                } else {
                    let name = tag.split_whitespace().next().unwrap_or("").to_lowercase();
                    if !HTML_TAGS.contains(&name.as_str()) {
                        return Err(format!("Unsupported start tag \"{name}\" at byte offset {i}"));
                    }
                    open.push(name);
                }
                i += end + 1;
            }
            '>' => return Err(format!("Unexpected \">\" at byte offset {i}")),
            '&' => {
                let end = rest
                    .find(';')
                    .filter(|e| *e <= 10)
                    .ok_or_else(|| format!("Character \"&\" is not part of an entity at byte offset {i}"))?;
                let name = &rest[1..end];
                let decoded = match name {
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "amp" => Some('&'),
                    "quot" => Some('"'),
                    n => n
                        .strip_prefix("#x")
                        .map(|h| u32::from_str_radix(h, 16))
                        .or_else(|| n.strip_prefix('#').map(str::parse::<u32>))
                        .and_then(Result::ok)
                        .and_then(char::from_u32),
                };
                out.push(
                    decoded
                        .ok_or_else(|| format!("Unsupported HTML entity \"&{name};\" at byte offset {i}"))?,
                );
                i += end + 1;
            }
            c => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    if let Some(tag) = open.pop() {
        return Err(format!("Can't find end tag corresponding to start tag \"{tag}\""));
    }
    Ok(out)
}

/// Telegram's legacy Markdown parse mode: `*bold*`, `_italic_`, `` `code` ``, ```` ```pre``` ````,
/// `[text](url)` (a `[` needs its `]`); `\` escapes `_ * ` [`. An entity that is not closed is an error, which is how
/// the Python kit's `my_service down` was lost.
pub fn markdown_to_text(md: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut i = 0;
    let not_closed = |i: usize| format!("Can't find end of the entity starting at byte offset {i}");
    while i < md.len() {
        let rest = &md[i..];
        let c = rest.chars().next().unwrap_or_default();
        match c {
            '\\' if rest[1..].starts_with(['_', '*', '`', '[']) => {
                out.push_str(&rest[1..2]);
                i += 2;
            }
            '`' if rest.starts_with("```") => {
                let end = rest[3..].find("```").ok_or_else(|| not_closed(i))?;
                out.push_str(&rest[3..3 + end]);
                i += end + 6;
            }
            '*' | '_' | '`' => {
                let end = rest[1..].find(c).ok_or_else(|| not_closed(i))?;
                out.push_str(&rest[1..=end]);
                i += end + 2;
            }
            '[' => {
                // The text up to `]` (an error without one), then an optional `(url)`; the
                // brackets are consumed, as Telegram does.
                let close = rest.find(']').ok_or_else(|| not_closed(i))?;
                out.push_str(&rest[1..close]);
                i += close + 1;
                if md[i..].starts_with('(') {
                    i += md[i..].find(')').ok_or_else(|| not_closed(i))? + 1;
                }
            }
            c => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    Ok(out)
}

/// What the fake webhook answers to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum HookReply {
    /// This status and body, with `Retry-After` when given.
    Status {
        /// The HTTP status.
        status: u16,
        /// The body.
        body: String,
        /// A `Retry-After` header, in seconds.
        retry_after: Option<u64>,
    },
    /// Never answer.
    Hang,
    /// Any status, headers (`Retry-After: soon`, `Location: ...`) and body.
    Raw {
        /// The HTTP status.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: String,
    },
    /// Accept (200) in a hostile way.
    Accept(Hostile),
    /// Write these bytes as the whole answer, whatever they are, and close.
    Garbage(String),
    /// Answer this status with a body that reflects the request: the path and query (which
    /// hold the URL's secrets) as received, JSON-escaped and percent-encoded, and every header.
    Echo(u16),
}

impl HookReply {
    /// `status` with a short body.
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            body: if status < 300 { "ok".into() } else { "error".into() },
            retry_after: None,
        }
    }
}

/// A fake incoming-webhook endpoint (Slack, Discord ...) on 127.0.0.1 that logs every request
/// and answers 200 unless scripted otherwise.
pub struct FakeWebhook {
    core: Core,
    script: Arc<Mutex<VecDeque<HookReply>>>,
}

impl FakeWebhook {
    /// Starts it.
    pub fn start() -> Self {
        let script: Arc<Mutex<VecDeque<HookReply>>> = Arc::default();
        let shared = Arc::clone(&script);
        let core = Core::start(move |req| {
            let reply = shared.lock().expect("script").pop_front().unwrap_or_else(|| HookReply::status(200));
            let action = match reply {
                HookReply::Hang => Action::Hold,
                HookReply::Status { status, body, retry_after } => {
                    let headers = retry_after
                        .map(|s| vec![("Retry-After".to_owned(), s.to_string())])
                        .unwrap_or_default();
                    Action::Answer { status, body, headers, shape: Shape::Whole }
                }
                HookReply::Raw { status, headers, body } => {
                    Action::Answer { status, body, headers, shape: Shape::Whole }
                }
                // A body long enough to drip past any client's deadline.
                HookReply::Accept(how) => Action::answer(200, "ok ".repeat(2000)).hostile(how),
                HookReply::Echo(status) => Action::answer(status, echo(req)),
                HookReply::Garbage(bytes) => Action::Bytes(bytes),
            };
            (action, None)
        });
        Self { core, script }
    }

    /// The URL to post to: `http://127.0.0.1:PORT/hooks/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/hooks/{path}", self.core.addr)
    }

    /// Queues replies, one per request.
    pub fn push(&self, replies: impl IntoIterator<Item = HookReply>) {
        self.script.lock().expect("script").extend(replies);
    }

    /// Forgets the replies queued and not yet given: every request is answered 200 again.
    pub fn clear(&self) {
        self.script.lock().expect("script").clear();
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Received> {
        self.core.requests()
    }

    /// Waits (up to `timeout`, then panics) until `n` requests arrived; returns them.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Received> {
        self.core.wait_for(n, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// POSTs a sendMessage to `api` over a raw socket; the status line, or the I/O error kind
    /// when the connection failed before one came back.
    fn post(api: &FakeBotApi, timeout: Duration) -> Result<String, std::io::ErrorKind> {
        post_whole(api, timeout).map(|answer| answer.lines().next().unwrap_or_default().to_owned())
    }

    /// The same, with the whole answer.
    fn post_whole(api: &FakeBotApi, timeout: Duration) -> Result<String, std::io::ErrorKind> {
        let mut s = TcpStream::connect(api.core.addr).map_err(|e| e.kind())?;
        s.set_read_timeout(Some(timeout)).map_err(|e| e.kind())?;
        let body = r#"{"chat_id": 42, "text": "hi"}"#;
        let head = format!(
            "POST /bot1:a/sendMessage HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(head.as_bytes()).map_err(|e| e.kind())?;
        let mut answer = String::new();
        match s.read_to_string(&mut answer) {
            Ok(_) if answer.is_empty() => Err(std::io::ErrorKind::UnexpectedEof),
            Ok(_) => Ok(answer),
            Err(e) => Err(e.kind()),
        }
    }

    #[test]
    fn random_faults_follow_the_seed_and_deliver_nothing() {
        let kinds = |seed| {
            let api = FakeBotApi::start("1:a");
            api.set_faults(Some(Faults {
                kinds: vec![Fault::FloodControl, Fault::ServerError],
                ..Faults::random(seed, 0.5)
            }));
            let statuses: Vec<String> =
                (0..40).map(|_| post(&api, Duration::from_secs(5)).unwrap()).collect();
            let injected = api.injected();
            let failed = statuses.iter().filter(|s| !s.contains(" 200 ")).count();
            assert_eq!(injected.values().sum::<usize>(), failed, "{statuses:?}");
            assert_eq!(api.delivered().len(), 40 - failed, "a fault delivers nothing");
            assert!(failed > 5 && failed < 35, "about half fail: {failed}");
            statuses
        };
        assert_eq!(kinds(7), kinds(7), "the same seed, the same faults");
        assert_ne!(kinds(7), kinds(8));
    }

    #[test]
    fn a_reset_and_a_held_request_end_without_an_answer_and_are_counted() {
        let api = FakeBotApi::start("1:a");
        api.push([Reply::Reset]);
        let reset = post(&api, Duration::from_secs(5)).unwrap_err();
        assert!(
            matches!(reset, std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof),
            "{reset:?}"
        );
        api.set_faults(Some(Faults { kinds: vec![Fault::Timeout], ..Faults::random(1, 1.0) }));
        let held = post(&api, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(held, std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{held:?}");
        api.set_faults(Some(Faults { kinds: vec![Fault::Reset], ..Faults::random(1, 1.0) }));
        assert!(post(&api, Duration::from_secs(5)).is_err());
        assert_eq!(api.injected(), BTreeMap::from([(Fault::Timeout, 1), (Fault::Reset, 1)]));
        api.set_faults(None);
        assert!(post(&api, Duration::from_secs(5)).unwrap().contains(" 200 "));
        assert_eq!(api.delivered().len(), 1);
        assert_eq!(api.requests().iter().filter(|r| r.status.is_none()).count(), 3);
    }

    #[test]
    fn hostile_successes_deliver_and_echoes_reflect_the_request() {
        let api = FakeBotApi::start("1:a");
        api.push([Reply::Accept(Hostile::Huge(1 << 20)), Reply::Accept(Hostile::NotJson), Reply::Echo(404)]);
        let huge = post_whole(&api, Duration::from_secs(5)).unwrap();
        assert!(huge.starts_with("HTTP/1.1 200 ") && huge.len() > 1 << 20, "{}", &huge[..200]);
        let body = &huge[huge.find("\r\n\r\n").unwrap() + 4..];
        assert_eq!(serde_json::from_str::<Value>(body).unwrap()["result"]["message_id"], 1);
        assert!(
            post_whole(&api, Duration::from_secs(5))
                .unwrap()
                .ends_with("<html><body><h1>OK</h1></body></html>")
        );
        assert_eq!(api.delivered().len(), 2);
        let echo = post_whole(&api, Duration::from_secs(5)).unwrap();
        for form in
            ["/bot1:a/sendMessage", r"\\/bot1:a\\/sendMessage", "%2Fbot1%3Aa%2FsendMessage", "; host: x"]
        {
            assert!(echo.contains(form), "{form}: {echo}");
        }
        assert_eq!(api.delivered().len(), 2, "an echo delivers nothing");
    }

    #[test]
    fn html_mode_is_strict_and_decodes_what_telegram_decodes() {
        assert_eq!(
            html_to_text("[ERROR] <b>Alert</b>\n\na_b *c* &lt;d&gt; &amp; &quot;e&quot; &#65;&#x42;")
                .unwrap(),
            "[ERROR] Alert\n\na_b *c* <d> & \"e\" AB"
        );
        assert_eq!(html_to_text("a < b").unwrap_err(), "Unclosed start tag at byte offset 2");
        assert_eq!(html_to_text("<x>").unwrap_err(), "Unsupported start tag \"x\" at byte offset 0");
        assert!(html_to_text("a & b").is_err());
        assert!(html_to_text("a > b").is_err());
        assert!(html_to_text("<b>x").is_err());
        assert!(html_to_text("<b>x</i>").is_err());
    }

    #[test]
    fn legacy_markdown_loses_unbalanced_underscores_as_telegram_does() {
        assert_eq!(
            markdown_to_text("[ERROR] *Agent Ops Alert*\n\nall good").unwrap(),
            "ERROR Agent Ops Alert\n\nall good"
        );
        assert!(markdown_to_text("a [b").is_err());
        assert_eq!(
            markdown_to_text("my_service down").unwrap_err(),
            "Can't find end of the entity starting at byte offset 2"
        );
        assert_eq!(markdown_to_text("a \\_ b [x](http://y) `c`").unwrap(), "a _ b x c");
    }
}
