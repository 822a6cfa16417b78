//! Embedding ops-kit: load a services.json (with the environment's overrides), print its
//! warnings, check every service once and print the results; exit 0 when all passed, 1 when
//! one failed, 2 when the configuration is unusable. Nothing is recorded and nobody is alerted.
//!
//! `cargo run -p ops-kit --example check -- SERVICES_JSON`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;

use ops_kit::{Config, ConfigError, Env, Layout, health};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config] = args.as_slice() else {
        eprintln!("usage: check SERVICES_JSON");
        return ExitCode::from(2);
    };
    match check(Path::new(config)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn check(config: &Path) -> Result<u8, ConfigError> {
    let env = Env::capture();
    let loaded = Config::load(&Layout::resolve(&env, Some(config))?, &env)?;
    eprint!("{}", loaded.warning_lines());
    let probes = health::select(&loaded.config, &[])?;
    let results = health::run(&loaded.config, &probes);
    for r in &results {
        println!("{r}");
    }
    Ok(u8::from(!results.iter().all(|r| r.outcome.is_up())))
}
