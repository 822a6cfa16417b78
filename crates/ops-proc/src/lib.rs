//! ops-proc runs one command so that it cannot hang or flood its caller: an argv (no shell) or
//! a `/bin/sh -c` line, with extra environment and a working directory, in a process group of
//! its own with stdin from /dev/null; stdout and stderr appended to a file or captured into
//! bounded buffers; and a deadline after which the whole group gets SIGTERM, then SIGKILL after
//! a grace, and the command is reaped.
//!
//! It is agent-ops' one process runner, below ops-health (command checks) and ops-recovery
//! (restart commands). It never reads the environment, never prints and knows nothing of
//! services: the caller says what to run and gets a [`Run`] back.
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

use std::fs::File;
use std::io::{self, Read as _};
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError};
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
    let limit = match spec.output {
        Output::Capture { limit } => Some(limit),
        Output::Append(_) => None,
    };
    let mut streams = Streams::new(child.stdout.take(), child.stderr.take(), limit.unwrap_or(0));
    let end = wait(&mut child, &mut streams, deadline);
    // At the deadline the group is stopped; when a command whose output is captured exits, so
    // are its leftovers (a command that must finish), and no pipe stays open behind it.
    if end.is_none() || limit.is_some() {
        stop_group(&mut child, group, spec.kill_grace, &mut streams);
    }
    let end = end.unwrap_or(End::TimedOut);
    streams.drain(DRAIN);
    reap(child);
    let [stdout, stderr] = streams.0.map(|s| s.got);
    Ok(Run { end, pid, duration: start.elapsed(), stdout, stderr })
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
        Output::Capture { .. } => {
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
    }
    Ok(c)
}

/// Waits for the command to exit, reading its output meanwhile; `None` at the deadline.
fn wait(child: &mut Child, streams: &mut Streams, deadline: Instant) -> Option<End> {
    let mut nap = FIRST_NAP;
    loop {
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
        if streams.open() {
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
}

impl Stream {
    fn new(pipe: Option<OwnedFd>, limit: usize) -> Self {
        if let Some(fd) = &pipe {
            // Read only when poll says so, but never block on a spurious wakeup either.
            let _ = rustix::io::ioctl_fionbio(fd, true);
        }
        Self { pipe: pipe.map(File::from), got: Captured::default(), limit }
    }

    /// One read: keeps what fits under the limit, counts the rest; closes at the end.
    fn read(&mut self, buf: &mut [u8]) {
        let Some(pipe) = &mut self.pipe else { return };
        match pipe.read(buf) {
            Ok(0) => self.pipe = None,
            Ok(n) => {
                let keep = n.min(self.limit.saturating_sub(self.got.bytes.len()));
                self.got.bytes.extend_from_slice(&buf[..keep]);
                self.got.dropped = self.got.dropped.saturating_add((n - keep) as u64);
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) => {}
            Err(_) => self.pipe = None,
        }
    }
}

/// stdout and stderr.
struct Streams([Stream; 2]);

impl Streams {
    fn new(stdout: Option<impl Into<OwnedFd>>, stderr: Option<impl Into<OwnedFd>>, limit: usize) -> Self {
        Self([Stream::new(stdout.map(Into::into), limit), Stream::new(stderr.map(Into::into), limit)])
    }

    fn open(&self) -> bool {
        self.0.iter().any(|s| s.pipe.is_some())
    }

    /// Waits up to `wait` for output and reads what came; with nothing open, just waits.
    fn pump(&mut self, wait: Duration) {
        let mut ready = [false; 2];
        {
            let mut which = Vec::with_capacity(2);
            let mut fds = Vec::with_capacity(2);
            for (i, s) in self.0.iter().enumerate() {
                if let Some(pipe) = &s.pipe {
                    which.push(i);
                    fds.push(PollFd::new(pipe, PollFlags::IN));
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
            for (fd, i) in fds.iter().zip(which) {
                ready[i] = !fd.revents().is_empty();
            }
        }
        let mut buf = [0u8; 16 * 1024];
        for (stream, _) in self.0.iter_mut().zip(ready).filter(|(_, r)| *r) {
            stream.read(&mut buf);
        }
    }

    /// Reads until both pipes are closed or `most` has passed.
    fn drain(&mut self, most: Duration) {
        let until = Instant::now() + most;
        while self.open() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.pump(left);
        }
    }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
