//! The job state file, `<dir>/NAME.json`: the runs of a job (the last [`MAX_RUNS`]), and since
//! when it has been watched; each change one read-modify-write under its lock (ops-state).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use ops_state::StateFile;
use rustix::fs::{FlockOperation, flock};
use serde::{Deserialize, Serialize};

use crate::{JobError, JobName};

/// Runs kept per job, the newest; older ones are dropped as new ones start.
pub const MAX_RUNS: usize = 100;

/// The output kept with a run: its last lines, at most this many bytes.
pub const OUTPUT_KEPT: usize = 2048;

/// A job's state file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobState {
    /// When the first run or ping of this job was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watched_since: Option<Timestamp>,
    /// The id the next run gets.
    #[serde(default)]
    pub next_id: u64,
    /// The last runs, oldest first.
    #[serde(default)]
    pub runs: Vec<RunRecord>,
}

/// Where a run's record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `job run`: the wrapper records its start and its end, and holds a lock while it lives.
    Run,
    /// `job ping` (or an HTTP ping): the events a script reports.
    Ping,
}

/// How a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Started, no end recorded yet.
    Running,
    /// Ended well: exit 0, or a success ping.
    Ok,
    /// Ended badly: a non-zero exit, a signal, its timeout, a fail ping, or a command that could
    /// not be started.
    Failed,
    /// No end will come: its wrapper died, or a script started another run without reporting
    /// the end of this one.
    Lost,
}

impl Status {
    /// The word of the state file and of `job status --json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Lost => "lost",
        }
    }
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// Its number, unique in the job.
    pub id: u64,
    /// Wrapper or ping.
    pub source: Source,
    /// When it started (for a ping without a start: when it ended).
    pub started: Timestamp,
    /// How it stands.
    pub status: Status,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Timestamp>,
    /// How long it took; unknown for a ping that had no start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Its exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The signal that ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// It was stopped at its timeout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    /// The wrapper's process id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The last lines of its output (or a ping's message), at most [`OUTPUT_KEPT`] bytes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
    /// Why it failed without an exit (the command could not start), or why it was lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl RunRecord {
    /// A run that started at `started`, running.
    pub fn new(id: u64, source: Source, started: Timestamp) -> Self {
        Self {
            id,
            source,
            started,
            status: Status::Running,
            ended: None,
            duration_seconds: None,
            exit_code: None,
            signal: None,
            timed_out: false,
            pid: None,
            output: String::new(),
            note: None,
        }
    }

    /// How long it took, when known.
    pub fn duration(&self) -> Option<std::time::Duration> {
        self.duration_seconds.and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
    }

    /// `exit 3`, `killed by signal 9`, `timed out`, `exit 0`, or the note.
    pub fn result_words(&self) -> String {
        if self.timed_out {
            return "stopped at its timeout".into();
        }
        if let Some(signal) = self.signal {
            return format!(
                "killed by signal {signal}{}",
                signal_name(signal).map(|n| format!(" ({n})")).unwrap_or_default()
            );
        }
        match (self.exit_code, &self.note, self.status) {
            (Some(code), _, _) => format!("exit {code}"),
            (None, Some(note), _) => note.clone(),
            (None, None, Status::Failed) => "reported failed".into(),
            (None, None, Status::Lost) => "no end recorded".into(),
            (None, None, Status::Ok) => "reported ok".into(),
            (None, None, Status::Running) => "running".into(),
        }
    }
}

/// A signal's name, for the common ones.
pub fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// The directory of job state files (`state/jobs/`, which the caller chooses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jobs {
    dir: PathBuf,
    lock_timeout: Duration,
}

impl Jobs {
    /// The job state files in `dir` (created when first written). A change waits for a state
    /// file's lock up to [`ops_state::DEFAULT_LOCK_TIMEOUT`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), lock_timeout: ops_state::DEFAULT_LOCK_TIMEOUT }
    }

    /// The same files, a change waiting for a state file's lock up to `timeout` (a caller
    /// that must answer within a deadline waits less).
    #[must_use]
    pub fn with_lock_timeout(self, timeout: Duration) -> Self {
        Self { lock_timeout: timeout, ..self }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `NAME.json`, the job's state file.
    pub fn state_path(&self, name: &JobName) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// `NAME.run-ID.lock`, held by a wrapper for as long as it lives.
    pub(crate) fn run_lock(&self, name: &JobName, id: u64) -> PathBuf {
        self.dir.join(format!("{name}.run-{id}.lock"))
    }

    pub(crate) fn file(&self, name: &JobName) -> StateFile {
        StateFile { lock_timeout: self.lock_timeout, ..StateFile::new(self.state_path(name)) }
    }

    /// The job's state; `None` when nothing was recorded yet. Never locks (a state file is
    /// replaced atomically, so it is always whole).
    pub fn read(&self, name: &JobName) -> Result<Option<JobState>, JobError> {
        Ok(self.file(name).read()?)
    }

    /// The jobs that have a state file, by name.
    pub fn list(&self) -> Result<Vec<JobName>, JobError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(JobError::State(ops_state::StateError::io("read", &self.dir, e))),
        };
        let mut names: Vec<JobName> = entries
            .flatten()
            .filter_map(|e| JobName::new(e.file_name().to_str()?.strip_suffix(".json")?).ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// One change of the job's state under its lock. A file that does not parse is refused
    /// ([`JobError::State`], corrupt) and left as it is.
    pub(crate) fn update<R>(
        &self,
        name: &JobName,
        change: impl FnOnce(&mut JobState) -> Result<R, JobError>,
    ) -> Result<R, JobError> {
        self.file(name).update(|state: &mut JobState| {
            let result = change(state)?;
            state.trim();
            Ok(result)
        })
    }

    /// Whether the wrapper of run `id` is gone: its lock is free (or its lock file is missing).
    /// A lock that cannot be looked at counts as held (nothing is declared lost on a doubt).
    pub(crate) fn wrapper_gone(&self, name: &JobName, id: u64) -> bool {
        match ops_state::open_existing(&self.run_lock(name, id), false) {
            Ok(None) => true,
            Ok(Some(file)) => flock(&file, FlockOperation::NonBlockingLockShared).is_ok(),
            Err(_) => false,
        }
    }

    /// Under the state lock: the wrapper runs whose wrapper is gone become lost (their lock
    /// files removed), and lock files of runs no longer recorded are removed when free.
    pub(crate) fn sweep(&self, name: &JobName, state: &mut JobState) {
        for run in &mut state.runs {
            if run.source == Source::Run && run.status == Status::Running && self.wrapper_gone(name, run.id) {
                run.status = Status::Lost;
                run.note = Some("no end recorded: its wrapper is gone (killed, or the host stopped)".into());
                let _ = fs::remove_file(self.run_lock(name, run.id));
            }
        }
        let prefix = format!("{name}.run-");
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let file = entry.file_name();
            let Some(id) = file
                .to_str()
                .and_then(|f| f.strip_prefix(&prefix)?.strip_suffix(".lock")?.parse::<u64>().ok())
            else {
                continue;
            };
            let recorded = state.runs.iter().any(|r| r.id == id && r.status == Status::Running);
            if !recorded && self.wrapper_gone(name, id) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

impl JobState {
    /// Keeps the newest [`MAX_RUNS`] runs.
    fn trim(&mut self) {
        let over = self.runs.len().saturating_sub(MAX_RUNS);
        self.runs.drain(..over);
    }

    /// A new run id.
    pub(crate) fn take_id(&mut self) -> u64 {
        let newest = self.runs.iter().map(|r| r.id).max().map_or(0, |m| m.saturating_add(1));
        let id = self.next_id.max(newest);
        self.next_id = id.saturating_add(1);
        id
    }

    /// Records `run`, replacing the one of the same id (or added, in start order, when it was
    /// dropped meanwhile).
    pub(crate) fn put(&mut self, run: RunRecord) {
        if let Some(slot) = self.runs.iter_mut().find(|r| r.id == run.id) {
            *slot = run;
        } else {
            let at = self.runs.partition_point(|r| r.started <= run.started);
            self.runs.insert(at, run);
        }
    }

    /// The runs by start, newest last (the file keeps them in start order; a hand-edited one
    /// may not).
    pub fn by_start(&self) -> Vec<&RunRecord> {
        let mut runs: Vec<&RunRecord> = self.runs.iter().collect();
        runs.sort_by_key(|r| (r.started, r.id));
        runs
    }
}

/// The last lines of `bytes` (output), at most [`OUTPUT_KEPT`] bytes, as text: a first line
/// cut by the limit is left out, and invalid UTF-8 is replaced.
pub fn last_lines(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(OUTPUT_KEPT);
    let mut tail = &bytes[start..];
    if start > 0
        && let Some(nl) = tail.iter().position(|&b| b == b'\n')
    {
        tail = &tail[nl + 1..];
    }
    let text = String::from_utf8_lossy(tail);
    text.trim_end_matches('\n').to_owned()
}
