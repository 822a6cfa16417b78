//! Embedding ops-metrics: print the uptime report of a metrics directory for the last DAYS
//! UTC days (default 7), in the Python kit's words, and say how many lines were skipped.
//!
//! `cargo run -p ops-metrics --example report -- METRICS_DIR [DAYS]`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;

use ops_metrics::{Window, read_window, render};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let days = args.get(1).map_or(Ok(7), |d| d.parse::<u32>());
    let (Some(dir), Ok(days @ 1..=3650)) = (args.first(), days) else {
        eprintln!("usage: report METRICS_DIR [DAYS (1 to 3650)]");
        return ExitCode::from(2);
    };
    let window = Window::last_days(time::OffsetDateTime::now_utc().date(), days);
    match read_window(Path::new(dir), &window) {
        Ok(report) => {
            print!("{}", render::text(&report));
            if report.bad.total() > 0 {
                eprintln!("note: {} line(s) skipped: {}", report.bad.total(), report.bad);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
