//! Embedding ops-state: bump a counter in a JSON state file, TIMES times, each as one locked,
//! atomic read-modify-write, and print the final value. Start it from two shells at once on
//! the same file: the final count is the sum, no update is lost.
//!
//! `cargo run -p ops-state --example bump -- FILE KEY [TIMES]`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::process::ExitCode;

use ops_state::{StateError, StateFile};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let times = args.get(2).map_or(Ok(1), |t| t.parse::<u32>());
    let (Some(path), Some(key), Ok(times)) = (args.first(), args.get(1), times) else {
        eprintln!("usage: bump FILE KEY [TIMES]");
        return ExitCode::from(2);
    };
    let file = StateFile::new(path);
    let mut value = 0;
    for _ in 0..times {
        let bumped = file.update(|counts: &mut BTreeMap<String, u64>| {
            let n = counts.entry(key.clone()).or_default();
            *n += 1;
            Ok::<_, StateError>(*n)
        });
        match bumped {
            Ok(n) => value = n,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("{key} = {value}");
    ExitCode::SUCCESS
}
