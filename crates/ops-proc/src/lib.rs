//! ops-proc runs one command so that it cannot hang or flood its caller: an argv (no shell) or
//! a `/bin/sh -c` line, with extra environment and a working directory, in a process group of
//! its own with stdin from /dev/null; stdout and stderr appended to a file, captured into
//! bounded buffers, or passed through to the caller's own streams and a bounded log (a tee);
//! signals the caller received relayed to the group; and a deadline after which the whole group
//! gets SIGTERM, then SIGKILL after a grace, and the command is reaped.
//!
//! It is agent-ops' one process runner, below ops-health (command checks), ops-recovery
//! (restart commands) and ops-jobs (the `job run` wrapper). It never reads the environment,
//! never prints words of its own (a tee passes the command's own output where the caller says)
//! and knows nothing of services: the caller says what to run and gets a [`Run`] back.
//!
//! ```
//! use std::time::Duration;
//! use ops_proc::{Captured, End, Output, Program, Spec, run};
//!
//! // A command that leaves a child holding its stdout: it is done when it exits.
//! let mut spec = Spec::new(Program::Shell("sleep 600 & echo hello".into()), Output::Capture { limit: 4 });
//! spec.timeout = Duration::from_secs(3600);
//! let done = run(&spec)?;
//! assert_eq!(done.end, End::Exited(0));
//! assert_eq!(done.stdout, Captured { bytes: b"hell".to_vec(), dropped: 2 });
//! # Ok::<(), ops_proc::ProcError>(())
//! ```
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, Signal, kill_process, kill_process_group, test_kill_process_group};

/// How long a wait lasts at most before the command's state is looked at again.
const TICK: Duration = Duration::from_millis(10);

/// The first nap while waiting for a command whose output is closed (it is about to exit).
const FIRST_NAP: Duration = Duration::from_micros(50);

/// After SIGKILL, how long to wait for the group to be gone: SIGKILL cannot be ignored, so only
/// a process stuck in the kernel (or a zombie nobody reaps) outlasts it.
pub const KILL_WAIT: Duration = Duration::from_secs(1);

/// Once the command and its group are gone, how long to wait for the end of the output: only a
/// process that left the group (`setsid`) can still hold it open, and it is not waited for.
pub const DRAIN: Duration = Duration::from_millis(50);

/// Timeouts longer than this are this long (a century: no overflow of `Instant`).
const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Held while a command is being started.
static SPAWN: Mutex<()> = Mutex::new(());

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// A program and its arguments, run without a shell. A name without `/` is looked up in
    /// `PATH` (the one in [`Spec::env`] when it sets one).
    Argv(Vec<String>),
    /// A command line, run by `/bin/sh -c`.
    Shell(String),
}

impl Program {
    /// The program as messages name it: the first word of an argv, `/bin/sh` for a command line.
    pub fn name(&self) -> &str {
        match self {
            Self::Argv(argv) => argv.first().map_or("", String::as_str),
            Self::Shell(_) => "/bin/sh",
        }
    }
}

/// Where the command's stdout and stderr go.
#[derive(Debug)]
pub enum Output {
    /// Both are appended to this file (the caller opens it, `O_APPEND`). Only the command is
    /// waited for: processes it started in the background (the daemon a restart command
    /// starts) go on running, and writing there, after it exits.
    Append(File),
    /// Each is read into memory: the first `limit` bytes kept, the rest read all the same (so
    /// the command never blocks on a full pipe), counted and dropped. The command must finish:
    /// what it leaves running in its group when it exits is terminated as at the deadline, so
    /// no leftover can hold a pipe open and keep us reading.
    Capture {
        /// Bytes kept of each stream.
        limit: usize,
    },
    /// Each is read through a pipe as it comes and passed on: to [`Tee::out`] and [`Tee::err`]
    /// (the caller's own stdout and stderr, say) and, whole lines at a time, to [`Tee::log`].
    /// The command must finish, as with `Capture`.
    Tee(Tee),
}

/// Where a tee sends the command's output. Nothing in it can block the run past its deadline:
/// a reader of `out` or `err` that stops reading holds the command back as it would hold the
/// command run bare (its pipe fills), but never the deadline nor the relay of signals.
#[derive(Debug)]
pub struct Tee {
    /// Where the command's stdout goes on, as it comes (`None`: nowhere).
    pub out: Option<File>,
    /// Where the command's stderr goes on, as it comes (`None`: nowhere).
    pub err: Option<File>,
    /// A log both streams are appended to (the caller opens it, `O_APPEND`): whole lines, each
    /// written in one `write(2)` (a line longer than 8 KiB in parts), so that concurrent writers
    /// never split a line; a last line without a newline gets one.
    pub log: Option<File>,
    /// At most this many bytes of the run go to `log`; from the first line past it, none (they
    /// are counted in [`Run::unlogged`]).
    pub log_limit: u64,
    /// The last bytes of both streams, in the order they were read, kept in [`Run::tail`].
    pub tail: usize,
}

/// A command to run.
#[derive(Debug)]
pub struct Spec {
    /// What to run.
    pub program: Program,
    /// Variables added to (or replaced in) the inherited environment.
    pub env: Vec<(String, String)>,
    /// Variables taken out of the inherited environment (secrets the command must not see).
    pub env_remove: Vec<String>,
    /// The working directory; `None` keeps the caller's.
    pub cwd: Option<PathBuf>,
    /// Where stdout and stderr go.
    pub output: Output,
    /// From the start: after this long the whole process group gets SIGTERM. Any `Duration`
    /// (`Duration::MAX` is a century).
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// Signals to pass on: while the command runs, when a flag is found set it is cleared and
    /// its signal (a number, `SIGTERM` is 15) sent to the whole process group. The caller sets
    /// the flags from its signal handlers (`signal_hook::flag::register`); a signal that
    /// arrives before the command starts is passed on as soon as it has.
    pub relay: Vec<(i32, Arc<AtomicBool>)>,
}

impl Spec {
    /// `program` with its output going to `output`, a 30 s timeout and a 5 s kill grace.
    pub fn new(program: Program, output: Output) -> Self {
        Self {
            program,
            env: Vec::new(),
            env_remove: Vec::new(),
            cwd: None,
            output,
            timeout: Duration::from_secs(30),
            kill_grace: Duration::from_secs(5),
            relay: Vec::new(),
        }
    }
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// It exited with this code (-1 when its status could not be learned: a program that
    /// ignores SIGCHLD has its children reaped by the kernel).
    Exited(i32),
    /// A signal that was not ours ended it.
    Signaled(i32),
    /// It was still running at the deadline: its process group was terminated.
    TimedOut,
}

/// What a captured stream said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The first bytes, up to the limit.
    pub bytes: Vec<u8>,
    /// Bytes read past the limit and dropped.
    pub dropped: u64,
}

/// A command that ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// How it ended.
    pub end: End,
    /// Its process id, which was also its process group's (it has been reaped).
    pub pid: u32,
    /// From the start until it and its group were done with.
    pub duration: Duration,
    /// Its stdout, when captured.
    pub stdout: Captured,
    /// Its stderr, when captured.
    pub stderr: Captured,
    /// With a tee: the last [`Tee::tail`] bytes of its output, both streams in the order read.
    pub tail: Vec<u8>,
    /// With a tee: bytes of output that did not go to the log (past [`Tee::log_limit`], or the
    /// log could not be written).
    pub unlogged: u64,
}

/// Why a command did not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcError {
    /// An argv without a program.
    #[error("the command is empty")]
    Empty,
    /// The program could not be started: not found, not executable, or the system refused a
    /// process, memory or a descriptor (see `source`).
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program, as [`Program::name`] says it.
        program: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The working directory is missing or not a directory.
    #[error("cannot use {} as the working directory: {source}", path.display())]
    Cwd {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The output file could not be shared with the command (no descriptor left).
    #[error("cannot give {program} its output: {source}")]
    Output {
        /// The program, as [`Program::name`] says it.
        program: String,
        /// The operating system's error.
        source: io::Error,
    },
}

impl ProcError {
    /// The operating system's error, when there is one.
    pub fn io(&self) -> Option<&io::Error> {
        match self {
            Self::Empty => None,
            Self::Spawn { source, .. } | Self::Cwd { source, .. } | Self::Output { source, .. } => {
                Some(source)
            }
        }
    }
}

/// Runs `spec` and waits for the command (and, when its output is captured, for everything it
/// started in its group), never past the deadline plus the kill grace, [`KILL_WAIT`] and
/// [`DRAIN`]. The command is always reaped: if a process that SIGKILL did not end yet is the
/// command itself, a thread waits for it.
pub fn run(spec: &Spec) -> Result<Run, ProcError> {
    let start = Instant::now();
    let mut command = command(spec)?;
    let spawned = {
        // One spawn at a time in the process: a spawn holds up to seven descriptors for a moment
        // (two pipes, /dev/null, the pipe that reports a failed exec), a running command two,
        // so many commands started at once cannot run out of descriptors where each alone fits.
        let _one = SPAWN.lock().unwrap_or_else(PoisonError::into_inner);
        command.spawn()
    };
    let mut child =
        spawned.map_err(|source| ProcError::Spawn { program: spec.program.name().to_owned(), source })?;
    let deadline = start.checked_add(spec.timeout.min(FOREVER)).unwrap_or(start);
    let pid = child.id();
    let group = Pid::from_child(&child);
    let (limit, piped) = match &spec.output {
        Output::Capture { limit } => (*limit, true),
        Output::Tee(_) => (0, true),
        Output::Append(_) => (0, false),
    };
    let mut streams = Streams::new(child.stdout.take(), child.stderr.take(), limit, &spec.output);
    let end = wait(&mut child, &mut streams, deadline, group, &spec.relay);
    // At the deadline the group is stopped; when a command whose output is piped exits, so
    // are its leftovers (a command that must finish), and no pipe stays open behind it.
    if end.is_none() || piped {
        stop_group(&mut child, group, spec.kill_grace, &mut streams);
    }
    let end = end.unwrap_or(End::TimedOut);
    streams.drain(DRAIN);
    reap(child);
    let (tail, unlogged) = streams.finish();
    let [stdout, stderr] = streams.streams.map(|s| s.got);
    Ok(Run { end, pid, duration: start.elapsed(), stdout, stderr, tail, unlogged })
}

fn command(spec: &Spec) -> Result<Command, ProcError> {
    let mut c = match &spec.program {
        Program::Argv(argv) => {
            let (first, rest) = argv.split_first().ok_or(ProcError::Empty)?;
            let mut c = Command::new(first);
            c.args(rest);
            c
        }
        Program::Shell(line) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(line);
            c
        }
    };
    for name in &spec.env_remove {
        c.env_remove(name);
    }
    c.stdin(Stdio::null()).process_group(0).envs(spec.env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = &spec.cwd {
        // Checked here so that a missing directory is not reported as a missing program.
        let cwd = |source| ProcError::Cwd { path: dir.clone(), source };
        if !std::fs::metadata(dir).map_err(cwd)?.is_dir() {
            return Err(cwd(io::Error::from(io::ErrorKind::NotADirectory)));
        }
        c.current_dir(dir);
    }
    match &spec.output {
        Output::Append(file) => {
            let dup = || {
                file.try_clone()
                    .map_err(|source| ProcError::Output { program: spec.program.name().to_owned(), source })
            };
            c.stdout(dup()?).stderr(dup()?);
        }
        Output::Capture { .. } | Output::Tee(_) => {
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
    }
    Ok(c)
}

/// Waits for the command to exit, reading its output and relaying signals meanwhile; `None` at
/// the deadline.
fn wait(
    child: &mut Child,
    streams: &mut Streams,
    deadline: Instant,
    group: Pid,
    relay: &[(i32, Arc<AtomicBool>)],
) -> Option<End> {
    let mut nap = FIRST_NAP;
    loop {
        for (signal, flag) in relay {
            if flag.swap(false, Ordering::SeqCst)
                && let Some(signal) = Signal::from_named_raw(*signal)
            {
                let _ = kill_process_group(group, signal);
            }
        }
        match child.try_wait() {
            Ok(Some(status)) => return Some(end_of(status)),
            Ok(None) => {}
            // Reaped by someone else (SIGCHLD ignored): it is gone, its status unknown.
            Err(_) => return Some(End::Exited(-1)),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        if streams.busy() {
            streams.pump(left.min(TICK));
        } else {
            // Its output is closed: it is exiting (or chose to run on silently).
            thread::sleep(left.min(nap));
            nap = (nap * 2).min(TICK);
        }
    }
}

fn end_of(status: ExitStatus) -> End {
    match (status.code(), status.signal()) {
        (Some(code), _) => End::Exited(code),
        (None, Some(signal)) => End::Signaled(signal),
        (None, None) => End::Exited(-1),
    }
}

/// SIGTERM to the whole group, SIGKILL after `grace` to what is left, then a wait of at most
/// [`KILL_WAIT`] until no process of the group is alive; nothing when none is. The command
/// itself is reaped on the way when it ends. Output is read meanwhile.
fn stop_group(child: &mut Child, pgid: Pid, grace: Duration, streams: &mut Streams) {
    let signal = |child: &mut Child, signal| {
        let _ = kill_process_group(pgid, signal);
        // The command itself too, should it have joined another group: while it is not
        // reaped, its pid cannot name another process.
        if let Ok(None) = child.try_wait() {
            let _ = kill_process(pgid, signal);
        }
    };
    if gone_now(child, pgid) {
        return;
    }
    signal(child, Signal::TERM);
    if !gone(child, pgid, Instant::now() + grace.min(FOREVER), streams) {
        signal(child, Signal::KILL);
        gone(child, pgid, Instant::now() + KILL_WAIT, streams);
    }
}

/// Reaps the command and reads output until no process of the group is alive (true) or
/// `until` (false).
fn gone(child: &mut Child, pgid: Pid, until: Instant, streams: &mut Streams) -> bool {
    let mut nap = FIRST_NAP;
    loop {
        if gone_now(child, pgid) {
            return true;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        streams.pump(left.min(nap));
        nap = (nap * 2).min(GONE_NAP);
    }
}

/// Reaps the command if it ended; whether it has, and no process of its group is alive.
fn gone_now(child: &mut Child, pgid: Pid) -> bool {
    let running = matches!(child.try_wait(), Ok(None));
    !running && !alive(pgid)
}

/// The longest wait between two looks at a group being stopped (each look may read `/proc`).
const GONE_NAP: Duration = Duration::from_millis(50);

/// Whether a process of group `pgid` is alive. A zombie is not: orphans of the group wait as
/// zombies for their new parent to reap them, which an init that does not reap (PID 1 of many
/// containers) never does, so on Linux the members are looked up in `/proc` once `kill(2)`
/// says the group still exists. Elsewhere (or without `/proc`) a zombie counts as alive.
fn alive(pgid: Pid) -> bool {
    if test_kill_process_group(pgid).is_err() {
        return false;
    }
    live_member_in_proc(pgid).unwrap_or(true)
}

/// `Some(whether a process of the group that is not a zombie is in /proc)`; `None` without a
/// readable `/proc`.
fn live_member_in_proc(pgid: Pid) -> Option<bool> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let want = pgid.as_raw_nonzero().get();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        if !name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) S ppid pgrp ...`: the command name may hold anything, so split after it.
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let mut fields = rest.split_ascii_whitespace();
        let (state, pgrp) = (fields.next(), fields.nth(1).and_then(|p| p.parse::<i32>().ok()));
        if pgrp == Some(want) && !matches!(state, Some("Z" | "X")) {
            return Some(true);
        }
    }
    Some(false)
}

/// Makes sure the command is reaped: a command still not gone after SIGKILL (stuck in the
/// kernel) gets a thread that waits for it, so it never stays a zombie.
fn reap(mut child: Child) {
    if let Ok(None) = child.try_wait() {
        let _ = thread::Builder::new().name("reap".into()).stack_size(64 * 1024).spawn(move || child.wait());
    }
}

/// A pipe being read: what was kept of it, and the read end until it is closed.
struct Stream {
    pipe: Option<File>,
    got: Captured,
    limit: usize,
    /// With a tee: where the stream goes on, and the bytes read but not passed on yet (while
    /// there are some, the pipe is not read: the command is held back as its reader holds us).
    pass: Option<File>,
    pending: VecDeque<u8>,
    /// With a tee: the start of a line not yet ended, for the log.
    line: Vec<u8>,
}

/// A log line longer than this is written in parts.
const LINE_MAX: usize = 8 * 1024;

/// Bytes passed on in one write: at most `PIPE_BUF` on Linux, so that a write to a pipe that
/// poll(2) said has room does not block.
const PASS_CHUNK: usize = 4096;

impl Stream {
    fn new(pipe: Option<OwnedFd>, limit: usize, pass: Option<File>) -> Self {
        if let Some(fd) = &pipe {
            // Read only when poll says so, but never block on a spurious wakeup either.
            let _ = rustix::io::ioctl_fionbio(fd, true);
        }
        Self {
            pipe: pipe.map(File::from),
            got: Captured::default(),
            limit,
            pass,
            pending: VecDeque::new(),
            line: Vec::new(),
        }
    }

    /// One read: what came (empty at the end or when nothing could be read); closes at the end.
    fn read<'b>(&mut self, buf: &'b mut [u8]) -> &'b [u8] {
        let Some(pipe) = &mut self.pipe else { return &[] };
        match pipe.read(buf) {
            Ok(0) => self.pipe = None,
            Ok(n) => return &buf[..n],
            Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) => {}
            Err(_) => self.pipe = None,
        }
        &[]
    }

    /// Keeps what fits under the limit, counts the rest.
    fn keep(&mut self, bytes: &[u8]) {
        let keep = bytes.len().min(self.limit.saturating_sub(self.got.bytes.len()));
        self.got.bytes.extend_from_slice(&bytes[..keep]);
        self.got.dropped = self.got.dropped.saturating_add((bytes.len() - keep) as u64);
    }

    /// Whether the pipe is to be read now: open, and nothing waiting to be passed on.
    fn readable(&self) -> bool {
        self.pipe.is_some() && self.pending.is_empty()
    }

    /// Passes on what is pending, as much as fits now (the caller polled `pass` writable).
    fn pass_on(&mut self) {
        let Some(out) = &mut self.pass else {
            self.pending.clear();
            return;
        };
        let (front, _) = self.pending.as_slices();
        let chunk = &front[..front.len().min(PASS_CHUNK)];
        match out.write(chunk) {
            Ok(n) => drop(self.pending.drain(..n)),
            Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) => {}
            // A reader that went away (a closed pipe) or a full disk: nothing more goes there.
            Err(_) => {
                self.pass = None;
                self.pending.clear();
            }
        }
    }
}

/// A tee's log and tail, shared by both streams.
struct Log {
    file: Option<File>,
    left: u64,
    unlogged: u64,
    tail: VecDeque<u8>,
    tail_limit: usize,
}

impl Log {
    /// Appends `bytes` in one write, within the budget (whole lines of them, when not all fit);
    /// counts what did not go.
    fn write(&mut self, bytes: &[u8]) {
        let fit = usize::try_from(self.left).unwrap_or(usize::MAX);
        let go = if bytes.len() <= fit {
            bytes.len()
        } else {
            // Past the budget: the lines that fit, then nothing more, so the log has an end but
            // no holes.
            self.left = 0;
            bytes[..fit].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
        };
        if go > 0
            && let Some(file) = &mut self.file
        {
            if file.write_all(&bytes[..go]).is_ok() {
                self.left = self.left.saturating_sub(go as u64);
                self.unlogged = self.unlogged.saturating_add((bytes.len() - go) as u64);
                return;
            }
            self.file = None;
        }
        self.unlogged = self.unlogged.saturating_add(bytes.len() as u64);
    }

    fn remember(&mut self, bytes: &[u8]) {
        let skip = bytes.len().saturating_sub(self.tail_limit);
        self.tail.extend(&bytes[skip..]);
        let over = self.tail.len().saturating_sub(self.tail_limit);
        self.tail.drain(..over);
    }
}

/// stdout and stderr, and a tee's log.
struct Streams {
    streams: [Stream; 2],
    log: Option<Log>,
}

impl Streams {
    fn new(
        stdout: Option<impl Into<OwnedFd>>,
        stderr: Option<impl Into<OwnedFd>>,
        limit: usize,
        output: &Output,
    ) -> Self {
        let (out, err, log) = match output {
            Output::Tee(tee) => {
                let dup = |f: &Option<File>| f.as_ref().and_then(|f| f.try_clone().ok());
                let log = Log {
                    file: dup(&tee.log),
                    left: tee.log_limit,
                    unlogged: 0,
                    tail: VecDeque::new(),
                    tail_limit: tee.tail,
                };
                (dup(&tee.out), dup(&tee.err), Some(log))
            }
            _ => (None, None, None),
        };
        Self {
            streams: [
                Stream::new(stdout.map(Into::into), limit, out),
                Stream::new(stderr.map(Into::into), limit, err),
            ],
            log,
        }
    }

    fn open(&self) -> bool {
        self.streams.iter().any(|s| s.pipe.is_some())
    }

    /// Whether a pipe is open or output is waiting to be passed on.
    fn busy(&self) -> bool {
        self.open() || self.streams.iter().any(|s| s.pass.is_some() && !s.pending.is_empty())
    }

    /// Waits up to `wait` for output (or, with a tee, for room where it is passed on) and deals
    /// with what came; with nothing to wait for, just waits.
    fn pump(&mut self, wait: Duration) {
        // For each stream: 0 its pipe is readable, 1 its pass-on is writable.
        let mut ready = [[false; 2]; 2];
        {
            let mut which = Vec::with_capacity(4);
            let mut fds = Vec::with_capacity(4);
            for (i, s) in self.streams.iter().enumerate() {
                if let Some(pipe) = s.pipe.as_ref().filter(|_| s.readable()) {
                    which.push((i, 0));
                    fds.push(PollFd::new(pipe, PollFlags::IN));
                }
                if let Some(out) = s.pass.as_ref().filter(|_| !s.pending.is_empty()) {
                    which.push((i, 1));
                    fds.push(PollFd::new(out, PollFlags::OUT));
                }
            }
            if fds.is_empty() {
                thread::sleep(wait);
                return;
            }
            let timeout = Timespec::try_from(wait).unwrap_or(Timespec { tv_sec: 0, tv_nsec: 10_000_000 });
            match poll(&mut fds, Some(&timeout)) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => return,
                // Not expected (no memory for the poll set): wait rather than spin.
                Err(_) => {
                    thread::sleep(wait);
                    return;
                }
            }
            for (fd, (i, what)) in fds.iter().zip(which) {
                ready[i][what] = !fd.revents().is_empty();
            }
        }
        let mut buf = [0u8; 16 * 1024];
        for (i, [read, write]) in ready.into_iter().enumerate() {
            if write {
                self.streams[i].pass_on();
            }
            if read {
                let stream = &mut self.streams[i];
                let bytes = stream.read(&mut buf);
                match &mut self.log {
                    None => stream.keep(bytes),
                    Some(log) => {
                        if stream.pass.is_some() {
                            stream.pending.extend(bytes);
                        }
                        log.remember(bytes);
                        log_lines(log, &mut stream.line, bytes);
                    }
                }
            }
        }
    }

    /// Reads until both pipes are closed or `most` has passed, and passes on what is pending
    /// within the same time.
    fn drain(&mut self, most: Duration) {
        let until = Instant::now() + most;
        while self.busy() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.pump(left);
        }
    }

    /// Ends the log's unfinished lines; the tail and the bytes not logged.
    fn finish(&mut self) -> (Vec<u8>, u64) {
        let Some(log) = &mut self.log else { return (Vec::new(), 0) };
        for stream in &mut self.streams {
            if !stream.line.is_empty() {
                stream.line.push(b'\n');
                log.write(&stream.line);
                stream.line.clear();
            }
        }
        (log.tail.iter().copied().collect(), log.unlogged)
    }
}

/// Appends the whole lines that `line` (a line's start) and `bytes` make to the log, each
/// batch in one write, and keeps the unfinished end in `line` (written in parts past
/// [`LINE_MAX`]).
fn log_lines(log: &mut Log, line: &mut Vec<u8>, bytes: &[u8]) {
    match memrchr_newline(bytes) {
        Some(end) => {
            line.extend_from_slice(&bytes[..=end]);
            log.write(line);
            line.clear();
            line.extend_from_slice(&bytes[end + 1..]);
        }
        None => line.extend_from_slice(bytes),
    }
    while line.len() >= LINE_MAX {
        let rest = line.split_off(LINE_MAX);
        log.write(line);
        *line = rest;
    }
}

fn memrchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&b| b == b'\n')
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
