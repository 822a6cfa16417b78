//! `cargo xtask bench-health`: whole-process timings of `health-check` and the seed's
//! `agent_ops_health.py`, in the same hyperfine invocation, on loopback services.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use crate::bench::{self, hyperfine};

enum Svc {
    Port(SocketAddr),
    Url(SocketAddr),
}

fn config(services: &[Svc]) -> String {
    let mut out = String::from("{\"services\": [\n");
    for (i, s) in services.iter().enumerate() {
        let sep = if i + 1 == services.len() { "" } else { "," };
        let _ = match s {
            Svc::Port(a) => writeln!(
                out,
                "  {{\"name\": \"port-{i}\", \"type\": \"port\", \"host\": \"127.0.0.1\", \"port\": {}}}{sep}",
                a.port()
            ),
            Svc::Url(a) => writeln!(
                out,
                "  {{\"name\": \"url-{i}\", \"type\": \"url\", \"target\": \"http://{a}/\", \"timeout_seconds\": 2}}{sep}"
            ),
        };
    }
    out.push_str("], \"disk_warning_gb\": 0}\n");
    out
}

fn scenario(
    name: &str,
    title: &str,
    services: &[Svc],
    runs: u32,
    release: &Path,
    seed: &Path,
) -> Result<(), String> {
    let home = bench::sandbox_home(name)?;
    let path = home.join(".agent-ops/config/services.json");
    std::fs::write(&path, config(services)).map_err(|e| format!("{}: {e}", path.display()))?;
    let commands = [
        ("seed agent_ops_health.py", format!("python3 {}", seed.join("agent_ops_health.py").display())),
        ("agent-ops health-check", release.join("health-check").display().to_string()),
    ];
    let result = hyperfine(title, runs, &[("HOME", &home)], &commands);
    let _ = std::fs::remove_dir_all(&home);
    result
}

pub fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let only: Vec<&str> = args.iter().filter(|a| !a.starts_with("--")).map(String::as_str).collect();
    let wanted = |s: &str| only.is_empty() || only.contains(&s);
    let seed = bench::seed_dir()?;
    let release = bench::build_release(&["health-check"])?;
    let (open, hanging, healthy) = (bench::open_port(), bench::hanging_http(), bench::healthy_http());

    if wanted("a") {
        let a: Vec<Svc> =
            (0..40).map(|_| Svc::Port(open)).chain((0..10).map(|_| Svc::Url(hanging))).collect();
        let title = "a. 50 services: 40 open ports + 10 URLs that never answer (timeout 2 s)";
        scenario("a", title, &a, if quick { 1 } else { 3 }, &release, &seed)?;
    }
    if wanted("b") {
        let b: Vec<Svc> =
            (0..25).map(|_| Svc::Port(open)).chain((0..25).map(|_| Svc::Url(healthy))).collect();
        let title = "b. 50 healthy local services: 25 open ports + 25 HTTP 200 URLs";
        scenario("b", title, &b, if quick { 3 } else { 30 }, &release, &seed)?;
    }
    if wanted("c") && !quick {
        let c: Vec<Svc> = (0..200)
            .map(|_| Svc::Port(open))
            .chain((0..200).map(|_| Svc::Url(healthy)))
            .chain((0..100).map(|_| Svc::Url(hanging)))
            .collect();
        let title =
            "c. 500 services: 200 open ports + 200 HTTP 200 URLs + 100 URLs that never answer (timeout 2 s)";
        scenario("c", title, &c, 2, &release, &seed)?;
    } else if wanted("c") {
        println!("\n(--quick leaves out scenario c: the seed needs ~200 s per run there)");
    }
    Ok(())
}
