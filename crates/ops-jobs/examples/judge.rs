//! Judges a job now: `cargo run -p ops-jobs --example judge -- DIR NAME 'CRON' ZONE`.

use std::time::Duration;

use ops_jobs::{JobName, Jobs, Schedule, Watch};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, name, cron, zone] = args.as_slice() else {
        return Err("usage: judge DIR NAME 'CRON' ZONE".into());
    };
    let watch = Watch {
        schedule: Schedule::cron(cron, zone)?,
        grace: Duration::from_secs(300),
        min_runtime: None,
        max_runtime: None,
    };
    let verdict =
        Jobs::new(dir).judge(&JobName::new(name)?, &watch, ops_jobs::jiff::Timestamp::now(), None)?;
    #[allow(clippy::print_stdout)]
    {
        println!("{}: {}", verdict.finding.map_or("ok", |f| f.as_str()), verdict.detail);
    }
    Ok(())
}
