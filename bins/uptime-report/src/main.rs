//! `uptime-report`: uptime per service over the last days, from the metrics day files, and the
//! orchestrator's incidents (`--incidents`), or the fleet's from Prometheus (`--prometheus-url`,
//! `fleet.rs`). With no arguments it prints the Python kit's
//! 7-day report byte for byte. Exit status: 0 ok, 1 a service is below `--sla`, or there is no
//! data to judge (`--sla` over an empty window, `--service` without metrics), or a file cannot
//! be read; 2 usage or configuration error.

mod cli;
mod fleet;

use std::path::PathBuf;
use std::process::ExitCode;

use cli::{Args, Format};
use ops_cli::{Failure, exit};
use ops_kit::uptime::{self, Sla};
use ops_kit::{Config, incident};
use ops_metrics::render::Context;
use ops_metrics::{Retention, RollupIssue, clean_up, render, roll_up};
use time::OffsetDateTime;

fn main() -> ExitCode {
    ops_cli::main(run)
}

fn run(args: Args) -> Result<ExitCode, Failure> {
    let started = ops_cli::start(args.config.as_deref())?;
    let metrics = &started.layout.metrics;
    let now = OffsetDateTime::now_utc();
    if args.cleanup {
        // Read even with --retention-days: a broken services.json deletes nothing.
        let config = started.config_optional()?;
        let keep = Retention {
            day_files: args.retention_days.unwrap_or(
                config.as_ref().map_or(ops_kit::DEFAULT_METRICS_RETENTION_DAYS, |c| c.metrics_retention_days),
            ),
            rollups: config.map_or(ops_kit::DEFAULT_ROLLUP_RETENTION_DAYS, |c| c.rollup_retention_days),
        };
        let done = clean_up(metrics, now.date(), &keep).map_err(Failure::failed)?;
        let (files, rollups) = (done.removed_day_files.len(), done.removed_rollups.len());
        let mut said = format!("Cleaned up {files} old metrics file(s) (keeping {} days)\n", keep.day_files);
        if rollups > 0 {
            said = format!("{said}Cleaned up {rollups} old rollup(s) (keeping {} days)\n", keep.rollups);
        }
        let code = if done.issues.is_empty() { exit::OK } else { exit::FAILED };
        return Ok(ops_cli::finish(&said, &ops_cli::warning_lines(&done.issues), code));
    }
    let window = args.window(now.date()).map_err(Failure::usage)?;
    if args.incidents {
        let found =
            incident::read(&started.layout, &window, args.service.as_deref()).map_err(Failure::failed)?;
        let body = match args.format {
            Format::Text => render::incidents_text(&found.log, now),
            Format::Json => format!("{:#}\n", render::incidents_json(&found.log, now)),
            Format::Prometheus | Format::Html => {
                return Err(Failure::usage("--incidents is shown as text or json"));
            }
        };
        return Ok(write(
            args.output,
            args.format,
            &body,
            &ops_cli::warning_lines(&found.warnings),
            exit::OK,
        ));
    }
    let service = args.service.as_deref();
    let (found, rolled) = if let Some(url) = args.prometheus_url.as_deref() {
        (fleet::read(&args, url, window, now)?, Vec::new())
    } else {
        // Finished days are rolled up by whoever reads first; the read reports files not ours.
        let rolled = roll_up(metrics, now.date()).map(|r| r.issues).unwrap_or_default();
        (uptime::read(metrics, &window, service).map_err(Failure::failed)?, rolled)
    };
    let mut warnings: Vec<String> = rolled
        .iter()
        .filter(|i| !matches!(i, RollupIssue::LeftAlone { .. }))
        .map(ToString::to_string)
        .chain(found.warnings.iter().cloned())
        .collect();
    if found.report.undated > 0 && (args.detailed || args.format != Format::Text) {
        warnings.push(format!(
            "{} line(s) without a usable timestamp: counted, but left out of incidents, time-based uptime and the latency series",
            found.report.undated
        ));
    }
    let sla = args.sla.map(|target| (target, found.sla(target)));
    if let Some((target, Sla::NoData)) = &sla {
        warnings.push(format!(
            "no checks were recorded in the window: nothing shows that any service met the {target}% SLA"
        ));
    }
    // A day that cannot be read is no evidence that the target was met.
    let unreadable = found.report.issues.iter().any(|i| matches!(i, RollupIssue::Unreadable { .. }));
    let failed = found.service_missing || sla.as_ref().is_some_and(|(_, v)| *v != Sla::Met || unreadable);
    let code = if failed { exit::FAILED } else { exit::OK };
    let report = &found.report;
    // Which services are stale, and the incidents, for the documents (never the text report).
    let stale = match args.format {
        Format::Json | Format::Html if args.prometheus_url.is_none() => {
            let config = Config::load_optional(&started.layout, &started.env).unwrap_or_else(|e| {
                warnings.push(format!("stale services judged without services.json: {e}"));
                None
            });
            uptime::stale(config.as_ref().map(|l| &l.config), report, now)
        }
        _ => Vec::new(),
    };
    let incidents = match args.format {
        Format::Html if args.prometheus_url.is_none() => incident::read(&started.layout, &window, service)
            .map(|i| i.log)
            .map_err(|e| warnings.push(format!("incidents left out: {e}")))
            .ok(),
        _ => None,
    };
    let context =
        Context { sla: args.sla, stale: &stale, incidents: incidents.as_ref(), ..Context::new(now) };
    let body = match args.format {
        Format::Text => {
            let mut text = if args.detailed { render::text_detailed(report) } else { render::text(report) };
            if let Some((target, Sla::Met | Sla::Below(_))) = sla {
                text.push_str(&render::sla_text(report, target));
            }
            text
        }
        Format::Json => format!("{:#}\n", render::json(report, &context)),
        Format::Prometheus => uptime::prometheus(metrics, report, &mut warnings),
        Format::Html => render::html(report, &context),
    };
    Ok(write(args.output, args.format, &body, &ops_cli::warning_lines(&warnings), code))
}

/// Writes `body` to `--output` (readable by all, 0644 before the umask: node_exporter or a web
/// server reads it) or prints it: the text report for people, the other formats exactly.
fn write(output: Option<PathBuf>, format: Format, body: &str, warnings: &str, code: u8) -> ExitCode {
    match output {
        Some(path) => match ops_state::write_atomic(&path, body.as_bytes(), ops_state::PUBLIC_MODE) {
            Ok(()) => ops_cli::finish("", warnings, code),
            Err(e) => ops_cli::finish("", &format!("{warnings}error: {e}\n"), exit::FAILED),
        },
        None if format == Format::Text => ops_cli::finish(body, warnings, code),
        None => ops_cli::finish_document(body, warnings, code),
    }
}
