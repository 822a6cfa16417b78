//! `--prometheus-url`: the fleet's report, asked of Prometheus by ops-kit's `fleet`, and what
//! its errors exit with.

use std::time::Duration;

use ops_cli::Failure;
use ops_kit::fleet::{self, FleetError, Request};
use ops_kit::uptime::Found;
use ops_metrics::Window;
use time::OffsetDateTime;

use crate::cli::{Args, Format};

/// The fleet's figures for `window`. A format Prometheus has no use for, or a URL that is not
/// a Prometheus base URL, is a usage error (2); a query without a usable answer, a report that
/// could not be made (1).
pub fn read(args: &Args, url: &str, window: Window, now: OffsetDateTime) -> Result<Found, Failure> {
    if args.format == Format::Prometheus {
        return Err(Failure::usage("--prometheus-url reports as text, json or html"));
    }
    let timeout = Duration::from_secs(args.timeout);
    let request = Request { url, window, now, service: args.service.as_deref(), timeout };
    fleet::read(&request).map_err(|e| match e {
        FleetError::Url { .. } => Failure::usage(e),
        FleetError::Query { .. } => Failure::failed(e),
    })
}
