//! The server: one thread holds every connection, non-blocking, under poll(2). A connection
//! reads its head (at most [`MAX_HEAD`] bytes, within `head_timeout` of being accepted), is
//! answered from the last snapshot (within `write_timeout`), then lingers: its write side is
//! shut and what the client still sends is read and dropped until it closes or `linger` has
//! passed, so that a close never resets an answer the client has not read yet. A connection
//! costs a slot and its head bytes, never a thread; when every slot is taken, the oldest
//! connection that is only waiting makes room for the new one.
//!
//! A ping (`/ping/REST`, when there is a handler) reads its body too, still within
//! `head_timeout` (at most [`MAX_PING_BODY`] bytes kept, the rest read and dropped), then waits
//! without a thread (`State::Pinging`, within `write_timeout`) while the handler runs on the
//! worker thread; the worker's answer comes back through a channel and the doorbell.

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use time::OffsetDateTime;

use crate::http::{Body, MAX_HEAD, MAX_PING_BODY, Response, head_end, parse};
use crate::ping::{Job, Worker};
use crate::routes::Routed;
use crate::{Pings, ServeError, Snapshot, routes};

/// How the server bounds its clients.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connections held at once; past it, the oldest one still sending its request (or one
    /// already answered) is closed to make room. At least 1.
    pub max_connections: usize,
    /// A request head must have arrived this long after its connection was accepted;
    /// after it the client gets 408 and is closed.
    pub head_timeout: Duration,
    /// The answer must have been taken by the client within this long.
    pub write_timeout: Duration,
    /// How long an answered connection is kept reading (and dropping) what the client still
    /// sends, before it is closed.
    pub linger: Duration,
    /// When set, every request must carry these credentials (`Authorization: Basic`), but a
    /// ping's: its token is its credential.
    pub auth: Option<Credentials>,
    /// The handler of `/ping/REST` (GET, HEAD and POST); without one, `/ping/...` is 404.
    pub pings: Option<Pings>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_connections: 512,
            head_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            linger: Duration::from_secs(2),
            auth: None,
            pings: None,
        }
    }
}

/// A user and password for HTTP basic authentication (RFC 7617). `Debug` never shows the
/// password.
#[derive(Clone)]
pub struct Credentials {
    user: String,
    /// `base64(user:password)`, as a client sends it.
    token: String,
}

impl Credentials {
    /// Credentials for `user` and `password` (UTF-8, as RFC 7617's `charset="UTF-8"` says).
    pub fn new(user: &str, password: &str) -> Result<Self, ServeError> {
        if user.contains(':') || user.chars().any(char::is_control) {
            return Err(ServeError::BadUser);
        }
        Ok(Self { user: user.to_owned(), token: base64(format!("{user}:{password}").as_bytes()) })
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Whether an `Authorization` header value carries these credentials. Compared in a time
    /// that does not depend on where the value differs.
    pub(crate) fn admits(&self, value: &[u8]) -> bool {
        let Some(space) = value.iter().position(|&b| b == b' ') else { return false };
        let (scheme, token) = (&value[..space], value[space..].trim_ascii_start());
        let expected = self.token.as_bytes();
        let mut diff = token.len() ^ expected.len();
        for (i, e) in expected.iter().enumerate() {
            diff |= usize::from(token.get(i).copied().unwrap_or(0) ^ e);
        }
        scheme.eq_ignore_ascii_case(b"basic") && diff == 0
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .finish_non_exhaustive()
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63])
            } else {
                '='
            });
        }
    }
    out
}

/// A running server. Dropping it (or [`Server::stop`]) stops it: the thread ends and every
/// connection is closed.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    waker: UnixStream,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    snapshot: Mutex<Arc<Snapshot>>,
    stop: AtomicBool,
}

impl Server {
    /// Listens on `addr` and starts serving an empty snapshot (every route answers 503 until
    /// the first [`Server::publish`]).
    pub fn bind(addr: SocketAddr, options: Options) -> Result<Self, ServeError> {
        let listener = TcpListener::bind(addr).map_err(|source| ServeError::Listen { addr, source })?;
        Self::start(listener, options)
    }

    /// Serves on a listener the caller bound.
    pub fn start(listener: TcpListener, options: Options) -> Result<Self, ServeError> {
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Start { addr: SocketAddr::from(([0, 0, 0, 0], 0)), source })?;
        let start = |source| ServeError::Start { addr, source };
        listener.set_nonblocking(true).map_err(start)?;
        let (waker, doorbell) = UnixStream::pair().map_err(start)?;
        doorbell.set_nonblocking(true).map_err(start)?;
        waker.set_nonblocking(true).map_err(start)?;
        let shared = Arc::new(Shared {
            snapshot: Mutex::new(Arc::new(Snapshot::default())),
            stop: AtomicBool::new(false),
        });
        let pings = match &options.pings {
            Some(p) => Some(Worker::start(p, waker.try_clone().map_err(start)?).map_err(start)?),
            None => None,
        };
        let mut serving = Loop {
            listener,
            doorbell,
            shared: Arc::clone(&shared),
            options: Options { max_connections: options.max_connections.max(1), ..options },
            conns: Vec::new(),
            next_seq: 0,
            stats: Stats { pings_enabled: pings.is_some(), ..Stats::default() },
            paused_until: None,
            pings,
        };
        let thread =
            thread::Builder::new().name("http".into()).spawn(move || serving.run()).map_err(start)?;
        Ok(Self { addr, shared, waker, thread: Some(thread) })
    }

    /// The address it listens on (with the port chosen when `:0` was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers every request from now on from `snapshot`. Never waits for a request.
    pub fn publish(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        *self.shared.snapshot.lock().unwrap_or_else(PoisonError::into_inner) = snapshot;
    }

    /// Stops serving and closes every connection.
    pub fn stop(self) {}
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = (&self.waker).write(&[1]);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the server counts, for `/metrics`.
#[derive(Debug, Default)]
struct Stats {
    accepted: u64,
    evicted: u64,
    timed_out: u64,
    responses: BTreeMap<u16, u64>,
    /// There is a ping handler: its families are shown.
    pings_enabled: bool,
    /// Pings answered, by result: ok, not_found, error, busy.
    pings: [u64; 4],
}

/// The gauges of an iteration of the loop.
#[derive(Debug, Clone, Copy)]
struct Gauges {
    /// Connections held.
    open: usize,
    /// Connections whose ping is with the worker.
    pinging: usize,
}

/// The `result` label of a ping's answer, by its index in [`Stats::pings`].
const PING_RESULTS: [&str; 4] = ["ok", "not_found", "error", "busy"];

impl Stats {
    /// Counts a ping answered with `status` (whether or not its client was still there).
    fn count_ping(&mut self, status: u16) {
        let i = match status {
            200 => 0,
            404 => 1,
            503 => 3,
            _ => 2,
        };
        self.pings[i] += 1;
    }

    /// The server's own metric families, in the Prometheus text format.
    fn render(&self, gauges: Gauges) -> String {
        let mut s = String::with_capacity(1024);
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(s, "{name}{labels} {value}");
            }
        };
        family(
            "agent_ops_http_connections",
            "gauge",
            "Connections the status server holds open.",
            &[(String::new(), gauges.open as u64)],
        );
        family(
            "agent_ops_http_connections_accepted_total",
            "counter",
            "Connections the status server accepted.",
            &[(String::new(), self.accepted)],
        );
        family(
            "agent_ops_http_connections_dropped_total",
            "counter",
            "Connections closed before they were answered: past a deadline, or to make room when every slot was taken.",
            &[("{reason=\"evicted\"}".into(), self.evicted), ("{reason=\"timeout\"}".into(), self.timed_out)],
        );
        let responses: Vec<(String, u64)> =
            self.responses.iter().map(|(code, n)| (format!("{{code=\"{code}\"}}"), *n)).collect();
        if !responses.is_empty() {
            family("agent_ops_http_responses_total", "counter", "Responses by status code.", &responses);
        }
        if self.pings_enabled {
            let results: Vec<(String, u64)> = PING_RESULTS
                .iter()
                .zip(self.pings)
                .map(|(r, n)| (format!("{{result=\"{r}\"}}"), n))
                .collect();
            family(
                "agent_ops_http_pings_total",
                "counter",
                "Job pings (/ping/...) answered, by result: ok, not_found (no such token or event), error (not recorded), busy (too many waiting).",
                &results,
            );
            family(
                "agent_ops_http_pings_waiting",
                "gauge",
                "Connections whose ping is queued for, or being recorded by, the ping worker.",
                &[(String::new(), gauges.pinging as u64)],
            );
        }
        s
    }
}

/// A connection and where it is.
struct Conn {
    stream: TcpStream,
    /// Order of acceptance: the lowest is the oldest.
    seq: u64,
    deadline: Instant,
    state: State,
}

enum State {
    /// The request head so far.
    Reading(Vec<u8>),
    /// A ping's request body.
    ReadingBody(PendingPing),
    /// Its ping is with the worker; the answer comes back by the connection's `seq`.
    Pinging {
        head_only: bool,
    },
    /// The answer, and how much of it was written.
    Writing {
        head: Vec<u8>,
        body: Body,
        written: usize,
    },
    /// Answered; dropping what the client still sends until it closes.
    Lingering,
    Closed,
}

/// A ping whose body is being read: the first [`MAX_PING_BODY`] bytes kept, `left` still to
/// come (and dropped past those kept).
struct PendingPing {
    rest: String,
    head_only: bool,
    kept: Vec<u8>,
    left: u64,
}

impl Conn {
    fn interest(&self) -> PollFlags {
        match self.state {
            State::Reading(_) | State::ReadingBody(_) | State::Lingering => PollFlags::IN,
            State::Writing { .. } => PollFlags::OUT,
            // Only an error or a hang-up (poll reports them unasked) wakes it.
            State::Pinging { .. } | State::Closed => PollFlags::empty(),
        }
    }

    /// How eagerly it is closed to make room: answered ones first, then those still sending
    /// their request, then those being answered; the oldest first within each.
    fn eviction_rank(&self) -> (u8, u64) {
        let class = match self.state {
            State::Closed | State::Lingering => 0,
            State::Reading(_) | State::ReadingBody(_) => 1,
            State::Writing { .. } | State::Pinging { .. } => 2,
        };
        (class, self.seq)
    }
}

/// Accepted per wake-up at most, so that connections already held are not starved.
const ACCEPT_BATCH: usize = 64;
/// Bytes dropped per wake-up at most while lingering.
const DRAIN_BATCH: usize = 64 * 1024;
/// How long accepting pauses when the process is out of descriptors and nothing can be closed.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// The server's thread.
struct Loop {
    listener: TcpListener,
    /// Readable when [`Server`] wants the loop to look at its stop flag.
    doorbell: UnixStream,
    shared: Arc<Shared>,
    options: Options,
    conns: Vec<Conn>,
    next_seq: u64,
    stats: Stats,
    paused_until: Option<Instant>,
    /// The ping worker, when there is a handler.
    pings: Option<Worker>,
}

impl Loop {
    fn run(&mut self) {
        let mut ready: Vec<PollFlags> = Vec::new();
        while !self.shared.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if self.paused_until.is_some_and(|t| now >= t) {
                self.paused_until = None;
            }
            let wait = self.conns.iter().map(|c| c.deadline).chain(self.paused_until).min();
            let timeout = wait.map(|d| {
                Timespec::try_from(d.saturating_duration_since(now))
                    .unwrap_or(Timespec { tv_sec: 1, tv_nsec: 0 })
            });
            let accepting = if self.paused_until.is_none() { PollFlags::IN } else { PollFlags::empty() };
            {
                let mut fds = Vec::with_capacity(self.conns.len() + 2);
                fds.push(PollFd::new(&self.doorbell, PollFlags::IN));
                fds.push(PollFd::new(&self.listener, accepting));
                fds.extend(self.conns.iter().map(|c| PollFd::new(&c.stream, c.interest())));
                match poll(&mut fds, timeout.as_ref()) {
                    Ok(_) => {}
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => {
                        // Out of memory for the poll set: wait a moment rather than spin.
                        thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                }
                ready.clear();
                ready.extend(fds.iter().map(PollFd::revents));
            }
            if !ready[0].is_empty() {
                let _ = (&self.doorbell).read(&mut [0; 64]);
            }
            let now = Instant::now();
            self.answer_pings(now);
            let pinging = self.conns.iter().filter(|c| matches!(c.state, State::Pinging { .. })).count();
            let gauges = Gauges { open: self.conns.len(), pinging };
            for (conn, events) in self.conns.iter_mut().zip(&ready[2..]) {
                if events.is_empty() {
                    continue;
                }
                if matches!(conn.state, State::Pinging { .. }) {
                    // An error or a hang-up: the client is gone; its answer will be dropped.
                    conn.state = State::Closed;
                    continue;
                }
                step(conn, &self.shared, &self.options, self.pings.as_ref(), &mut self.stats, gauges, now);
            }
            for conn in &mut self.conns {
                if now >= conn.deadline {
                    expire(conn, &self.options, &mut self.stats, now);
                }
            }
            self.conns.retain(|c| !matches!(c.state, State::Closed));
            if !ready[1].is_empty() {
                self.accept(now);
            }
        }
    }

    /// Sends the worker's answers to the connections still waiting for them.
    fn answer_pings(&mut self, now: Instant) {
        let Some(worker) = &self.pings else { return };
        while let Ok((seq, ping)) = worker.answers.try_recv() {
            self.stats.count_ping(ping.status);
            let Some(conn) = self.conns.iter_mut().find(|c| c.seq == seq) else { continue };
            let State::Pinging { head_only } = conn.state else { continue };
            let mut response = Response::text(ping.status, ping.text);
            response.head_only = head_only;
            answer(conn, response, &self.options, &mut self.stats, now);
            write(conn, &self.options, now);
        }
    }

    fn accept(&mut self, now: Instant) {
        for _ in 0..ACCEPT_BATCH {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    if self.conns.len() >= self.options.max_connections {
                        self.evict();
                    }
                    self.stats.accepted += 1;
                    self.next_seq += 1;
                    self.conns.push(Conn {
                        stream,
                        seq: self.next_seq,
                        deadline: now + self.options.head_timeout,
                        state: State::Reading(Vec::new()),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => {}
                Err(_) => {
                    // Out of descriptors (or memory): free one if we hold any, else pause.
                    if !self.evict() {
                        self.paused_until = Some(now + ACCEPT_PAUSE);
                    }
                    return;
                }
            }
        }
    }

    /// Closes the connection most worth closing; false when there is none.
    fn evict(&mut self) -> bool {
        let Some(i) = self.conns.iter().enumerate().min_by_key(|(_, c)| c.eviction_rank()).map(|(i, _)| i)
        else {
            return false;
        };
        if !matches!(self.conns[i].state, State::Lingering | State::Closed) {
            self.stats.evicted += 1;
        }
        self.conns.swap_remove(i);
        true
    }
}

/// Moves a connection on after poll said it is ready.
fn step(
    conn: &mut Conn,
    shared: &Shared,
    options: &Options,
    pings: Option<&Worker>,
    stats: &mut Stats,
    gauges: Gauges,
    now: Instant,
) {
    if let State::Reading(buf) = &mut conn.state {
        match read_head(&mut conn.stream, buf) {
            Head::More => return,
            Head::Gone => {
                conn.state = State::Closed;
                return;
            }
            Head::Complete(end) => {
                let snapshot = Arc::clone(&shared.snapshot.lock().unwrap_or_else(PoisonError::into_inner));
                let own = || stats.render(gauges);
                let auth = options.auth.as_ref();
                match routes::respond(parse(&buf[..end]), &snapshot, auth, pings.is_some(), own, now) {
                    Routed::Answer(response) => answer(conn, response, options, stats, now),
                    Routed::Ping { rest, head_only, body } => {
                        // What came with the head is the body's beginning.
                        let came = &buf[end..];
                        let taken = came.len().min(usize::try_from(body).unwrap_or(usize::MAX));
                        let kept = came[..taken.min(MAX_PING_BODY)].to_vec();
                        let left = body - taken as u64;
                        conn.state = State::ReadingBody(PendingPing { rest, head_only, kept, left });
                    }
                }
            }
            Head::TooLarge => {
                // No line end at all: the request line itself is too long.
                let code = if buf.contains(&b'\n') { 431 } else { 414 };
                answer(conn, routes::error(code), options, stats, now);
            }
        }
    }
    if let State::ReadingBody(_) = conn.state {
        let State::ReadingBody(mut ping) = std::mem::replace(&mut conn.state, State::Closed) else { return };
        match read_body(&mut conn.stream, &mut ping) {
            Some(false) => conn.state = State::ReadingBody(ping),
            Some(true) => dispatch(conn, ping, pings, options, stats, now),
            None => {}
        }
    }
    match conn.state {
        State::Writing { .. } => write(conn, options, now),
        State::Lingering => drain(conn),
        State::Reading(_) | State::ReadingBody(_) | State::Pinging { .. } | State::Closed => {}
    }
}

/// Reads what is left of a ping's body: `Some(true)` once all of it is read, `Some(false)`
/// while more is to come, `None` when the client closed before. At most [`DRAIN_BATCH`] bytes
/// a call, so that one client's body does not starve the others.
fn read_body(stream: &mut TcpStream, ping: &mut PendingPing) -> Option<bool> {
    let mut chunk = [0u8; 4096];
    let mut read = 0;
    while ping.left > 0 {
        if read >= DRAIN_BATCH {
            return Some(false);
        }
        let want = chunk.len().min(usize::try_from(ping.left).unwrap_or(usize::MAX));
        match stream.read(&mut chunk[..want]) {
            Ok(0) => return None,
            Ok(n) => {
                let room = MAX_PING_BODY - ping.kept.len();
                ping.kept.extend_from_slice(&chunk[..n.min(room)]);
                ping.left -= n as u64;
                read += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(true)
}

/// Hands a ping whose request is read to the worker; when its queue is full, answers 503.
fn dispatch(
    conn: &mut Conn,
    ping: PendingPing,
    worker: Option<&Worker>,
    options: &Options,
    stats: &mut Stats,
    now: Instant,
) {
    let PendingPing { rest, head_only, kept, .. } = ping;
    let queued = worker.is_some_and(|w| w.queue(Job { seq: conn.seq, rest, body: kept }));
    if queued {
        conn.state = State::Pinging { head_only };
        conn.deadline = now + options.write_timeout;
        return;
    }
    stats.count_ping(503);
    let mut response = Response::text(503, "busy: too many pings are waiting; try again\n");
    response.headers.push(("Retry-After", "1".into()));
    response.head_only = head_only;
    answer(conn, response, options, stats, now);
}

enum Head {
    /// Not all there yet.
    More,
    /// Complete: the head is the buffer up to here.
    Complete(usize),
    /// [`MAX_HEAD`] bytes without the end of a head.
    TooLarge,
    /// The client closed, or the connection failed.
    Gone,
}

fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Head {
    let mut chunk = [0u8; 4096];
    loop {
        let room = MAX_HEAD - buf.len();
        if room == 0 {
            return Head::TooLarge;
        }
        let want = room.min(chunk.len());
        match stream.read(&mut chunk[..want]) {
            Ok(0) => return Head::Gone,
            Ok(n) => {
                let from = buf.len();
                buf.extend_from_slice(&chunk[..n]);
                if let Some(end) = head_end(buf, from) {
                    return Head::Complete(end);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Head::More,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Head::Gone,
        }
    }
}

/// Starts writing `response` (the head alone for HEAD).
fn answer(conn: &mut Conn, response: Response, options: &Options, stats: &mut Stats, now: Instant) {
    *stats.responses.entry(response.status).or_default() += 1;
    let head = response.head(OffsetDateTime::now_utc());
    let body = if response.head_only { Body::Owned(Vec::new()) } else { response.body };
    conn.state = State::Writing { head, body, written: 0 };
    conn.deadline = now + options.write_timeout;
}

fn write(conn: &mut Conn, options: &Options, now: Instant) {
    let State::Writing { head, body, written } = &mut conn.state else { return };
    let body = body.bytes();
    loop {
        if *written == head.len() + body.len() {
            let _ = conn.stream.shutdown(Shutdown::Write);
            conn.state = State::Lingering;
            conn.deadline = now + options.linger;
            drain(conn);
            return;
        }
        let result = if *written < head.len() {
            conn.stream.write_vectored(&[IoSlice::new(&head[*written..]), IoSlice::new(body)])
        } else {
            conn.stream.write(&body[*written - head.len()..])
        };
        match result {
            Ok(0) => break,
            Ok(n) => *written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    conn.state = State::Closed;
}

/// Reads and drops what the client still sends; closes at its end of stream.
fn drain(conn: &mut Conn) {
    let mut chunk = [0u8; 4096];
    let mut dropped = 0;
    while dropped < DRAIN_BATCH {
        match conn.stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => dropped += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if dropped < DRAIN_BATCH {
        conn.state = State::Closed;
    }
}

/// A deadline passed: a client that has not sent its request gets 408; any other is closed.
fn expire(conn: &mut Conn, options: &Options, stats: &mut Stats, now: Instant) {
    match conn.state {
        State::Reading(_) | State::ReadingBody(_) => {
            stats.timed_out += 1;
            answer(conn, routes::error(408), options, stats, now);
            write(conn, options, now);
        }
        State::Writing { .. } | State::Pinging { .. } => {
            stats.timed_out += 1;
            conn.state = State::Closed;
        }
        State::Lingering | State::Closed => conn.state = State::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        assert_eq!(base64(b"Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        let c = Credentials::new("Aladdin", "open sesame").unwrap();
        assert!(c.admits(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
        assert!(c.admits(b"basic   QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
        for wrong in [
            &b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ="[..],
            b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==x",
            b"Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            b"BasicQWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            b"Basic ",
            b"",
        ] {
            assert!(!c.admits(wrong), "{}", String::from_utf8_lossy(wrong));
        }
        assert!(matches!(Credentials::new("a:b", "c"), Err(ServeError::BadUser)));
        assert!(matches!(Credentials::new("a\nb", "c"), Err(ServeError::BadUser)));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("sesame") && !shown.contains("QWxh") && shown.contains("[redacted]"),
            "{shown}"
        );
    }
}
