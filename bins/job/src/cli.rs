//! The command line: clap definitions.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args as ClapArgs, Parser, Subcommand};

/// Watch cron jobs and agent runs: `job run` wraps a command and records its runs in
/// ~/.agent-ops/state/jobs/NAME.json; `job ping` records what a script reports; `job list` and
/// `job status` show the runs and, for a `job` service of services.json, the verdict.
///
/// Exit status: `job run` passes the command's on (128+N when signal N killed it, 124 when it
/// was stopped at --timeout, 127 when it was not found, 126 when it could not be started; 2 for
/// a bad job name, before anything runs). The others: 0 done (and every job fine), 1 failed (or
/// a job is late, failed, too long, too short or too often), 2 usage error.
#[derive(Parser)]
#[command(
    name = "job",
    version,
    after_help = "Environment: AGENT_OPS_HOME (default ~/.agent-ops), AGENT_OPS_CONFIG (for the verdicts of list and status)."
)]
pub struct Args {
    /// Print JSON instead of text (list, status, ping).
    #[arg(long, global = true)]
    pub json: bool,
    /// services.json, for the schedules of list and status (default: the one of the layout).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Cmd {
    /// Run COMMAND as a run of job NAME: its start and end recorded, its output passed on and
    /// appended to logs/job-NAME.log, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2
    /// passed on to its process group, its exit status passed on.
    Run(RunArgs),
    /// Record what a script reports: a success (no flag), a start, a failure or an exit status.
    Ping(PingArgs),
    /// Every job: the last run, its result and length, the verdict and the next due time.
    List,
    /// One job: its schedule, verdict, next due time and its last runs.
    Status {
        /// The job's name.
        name: String,
    },
}

/// `job run`.
#[derive(ClapArgs)]
pub struct RunArgs {
    /// The job's name: lowercase letters, digits, '-' and '_'.
    pub name: String,
    /// Stop the command's whole process group after this long (SIGTERM, SIGKILL after
    /// --kill-grace): 90, 90s, 15m, 2h, 1h30m.
    #[arg(long, value_parser = duration)]
    pub timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL at the timeout.
    #[arg(long, value_parser = duration, default_value = "10s")]
    pub kill_grace: Duration,
    /// The command and its arguments, after `--` (no shell: use `sh -c '...'` for one).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `job ping`.
#[derive(ClapArgs)]
#[command(group(ArgGroup::new("event").args(["start", "fail", "exit"])))]
pub struct PingArgs {
    /// The job's name.
    pub name: String,
    /// The job started (its end comes with a later ping).
    #[arg(long)]
    pub start: bool,
    /// The job failed.
    #[arg(long)]
    pub fail: bool,
    /// The job ended with this exit status (0 is a success).
    #[arg(long, value_name = "CODE", allow_negative_numbers = true)]
    pub exit: Option<i32>,
    /// A message kept with the run (its last 2 KiB).
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
}

/// A duration: seconds (`90`), or numbers with units `d`, `h`, `m`, `s`, `ms` (`1h30m`, `15m`,
/// `2.5s`, `300ms`).
pub fn duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration like 90, 90s, 15m, 2h, 1h30m or 300ms");
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok().filter(|d| !d.is_zero()).ok_or_else(bad);
    }
    let (mut total, mut rest) = (0f64, text);
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "d" => 86_400.0,
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(bad()),
        };
        total += number * unit;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).ok().filter(|d| !d.is_zero()).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_words_people_write() {
        assert_eq!(duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
        for bad in ["", "0", "-5", "5x", "h", "1h30", "1e400", "NaN", "5 m", "1..5s"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }
}
