//! Serves a demonstration snapshot (two services, one down) until stopped, to look at the
//! routes with a browser or curl.
//!
//! `cargo run -p ops-serve --example serve -- [ADDR]` (default `127.0.0.1:8080`)
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ops_serve::{Badge, Color, Options, Server, ServiceBadges, Snapshot};

fn main() -> ExitCode {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".into());
    let Ok(addr) = addr.parse() else {
        eprintln!("usage: serve [ADDR] (like 127.0.0.1:8080)");
        return ExitCode::from(2);
    };
    let server = match Server::bind(addr, Options::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let badges = |name: &str, up: bool, uptime: &str| ServiceBadges {
        status: Badge {
            label: name.into(),
            message: if up { "up" } else { "down" }.into(),
            color: if up { Color::BrightGreen } else { Color::Red },
        },
        uptime: BTreeMap::from([(
            7,
            Badge { label: "uptime 7d".into(), message: uptime.into(), color: Color::Yellow },
        )]),
    };
    server.publish(Snapshot {
        finished: Some(Instant::now()),
        fresh_for: Duration::from_secs(3600),
        page: "<!DOCTYPE html><meta charset=utf-8><title>demo</title><h1>API up, DB down</h1>".into(),
        services_json: r#"{"services": [{"name": "API", "state": "up"}, {"name": "DB", "state": "down"}]}"#
            .into(),
        metrics: "# HELP demo_up Whether the demo service is up.\n# TYPE demo_up gauge\ndemo_up 1\n".into(),
        badges: std::sync::Arc::new(
            [("API".to_owned(), badges("API", true, "99.2%")), ("DB".to_owned(), badges("DB", false, "91%"))]
                .into(),
        ),
    });
    println!(
        "serving on http://{}/ (try /badge/API/status.svg, /metrics, /healthz); Ctrl-C stops",
        server.local_addr()
    );
    loop {
        std::thread::park();
    }
}
