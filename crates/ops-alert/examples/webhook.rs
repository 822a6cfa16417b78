//! Embedding ops-alert: send one alert to a JSON webhook through a durable outbox in
//! STATE_DIR (a fresh temporary directory when none is given), print what happened at the
//! destination and exit 0 when it confirmed the alert. An alert the webhook did not take stays
//! queued in STATE_DIR; the next run with the same STATE_DIR delivers it first.
//!
//! `cargo run -p ops-alert --example webhook -- URL MESSAGE [STATE_DIR]`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use ops_alert::webhook::{Webhook, WebhookConfig};
use ops_alert::{Alert, AlertError, Alerter, Delivery, Level, Outbox, RateLimit, RetryPolicy, Secret};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(message)) = (args.first(), args.get(1)) else {
        eprintln!("usage: webhook URL MESSAGE [STATE_DIR]");
        return ExitCode::from(2);
    };
    let temp;
    let dir = match args.get(2) {
        Some(d) => PathBuf::from(d),
        None => match tempfile::tempdir() {
            Ok(t) => {
                temp = t;
                temp.path().to_path_buf()
            }
            Err(e) => {
                eprintln!("error: cannot create a temporary directory: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    match send(url, message, &dir) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn send(url: &str, message: &str, dir: &std::path::Path) -> Result<bool, AlertError> {
    let hook = Webhook::new(WebhookConfig {
        name: "example".into(),
        url: Secret::new(url),
        body: None,
        headers: Vec::new(),
        max_chars: None,
        retry: RetryPolicy::default(),
    })?;
    let alerter = Alerter::new(
        vec![Box::new(hook)],
        RateLimit::new(dir.join("alert-rate.json"), std::time::Duration::ZERO),
        Outbox::new(dir.join("alert-outbox.jsonl")),
    )?;
    let outcome = alerter.send(&Alert { level: Level::Info, topic: None, message: message.into() })?;
    for (entry, delivery) in &outcome.earlier {
        println!("earlier alert {:?}: {}", entry.alert.message, describe(delivery));
    }
    for delivery in &outcome.deliveries {
        println!("{}: {}", delivery.destination(), describe(delivery));
    }
    Ok(outcome.deliveries.iter().all(Delivery::is_sent))
}

fn describe(delivery: &Delivery) -> String {
    match delivery {
        Delivery::Sent { .. } => "sent".into(),
        Delivery::NotSent { failure, queued: true, .. } => format!("not sent, queued ({failure})"),
        Delivery::NotSent { failure, queued: false, .. } => format!("not sent ({failure})"),
    }
}
