//! `cargo xtask bench-mcp`: the latency of the MCP server's `status` tool over 100 services,
//! one round trip at a time through the pipes (a request written, its answer line read), the
//! state files left by one real orchestrator pass; and what `tools/list` weighs, tool by tool.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench;

/// `{"name":"...","inputSchema":{...},"outputSchema":{...}}`: the bytes of each tool's entry in
/// the `tools/list` line, and of its two schemas, found by matching braces (xtask parses no JSON).
fn tool_sizes(line: &str) -> Vec<(String, usize, usize, usize)> {
    let mut out = Vec::new();
    let Some(start) = line.find("\"tools\":[") else { return out };
    let bytes = line.as_bytes();
    let mut i = start + 9;
    while i < bytes.len() && bytes[i] == b'{' {
        let end = matching(bytes, i);
        let entry = &line[i..=end];
        let field = |key: &str| {
            entry.find(&format!("\"{key}\":{{")).map_or(0, |at| {
                let from = at + key.len() + 3;
                matching(entry.as_bytes(), from) + 1 - from
            })
        };
        let name = entry.split("\"name\":\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("?");
        out.push((name.to_owned(), entry.len(), field("inputSchema"), field("outputSchema")));
        i = end + 2; // past `},`
    }
    out
}

/// The index of the brace closing the one at `open` (strings skipped).
fn matching(bytes: &[u8], open: usize) -> usize {
    let (mut depth, mut in_string, mut escaped) = (0i32, false, false);
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b'{') => depth += 1,
            (false, _, b'}') => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    bytes.len() - 1
}

pub fn run(args: &[String]) -> Result<(), String> {
    let calls = if args.iter().any(|a| a == "--quick") { 100 } else { 1000 };
    let release = bench::build_release(&["agent-ops-mcp", "orchestrator"])?;
    let home = bench::sandbox_home("mcp")?;
    let (open, closed) = (bench::open_port(), bench::closed_port());
    let services: Vec<String> = (0..100)
        .map(|i| {
            let port = if i % 10 == 9 { closed } else { open.port() };
            format!(
                r#"{{"name": "svc-{i:03}", "type": "port", "host": "127.0.0.1", "port": {port}, "restart_command": "true", "restart_cooldown_seconds": 3600}}"#
            )
        })
        .collect();
    let config = format!(
        r#"{{"services": [{}], "disk_paths": [], "restart_grace_seconds": 0, "mcp": {{"allow": ["board", "silence", "ack", "alert", "restart"]}}}}"#,
        services.join(",\n")
    );
    let base = home.join(".agent-ops");
    std::fs::write(base.join("config/services.json"), config).map_err(|e| e.to_string())?;
    // One real pass: outages, restarts used and cooldowns for status to read.
    Command::new(release.join("orchestrator"))
        .env("HOME", &home)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("orchestrator: {e}"))?;

    let mut child = Command::new(release.join("agent-ops-mcp"))
        .env("HOME", &home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("agent-ops-mcp: {e}"))?;
    let mut input = child.stdin.take().ok_or("no stdin")?;
    let mut output = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let meta = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
    let mut ask = |id: usize, method: &str, params: &str| -> Result<(String, Duration), String> {
        let started = Instant::now();
        writeln!(input, r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{params}{meta}}}}}"#)
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        output.read_line(&mut line).map_err(|e| e.to_string())?;
        Ok((line, started.elapsed()))
    };
    let (tools, _) = ask(0, "tools/list", "")?;
    let mut took = Vec::with_capacity(calls);
    let mut answer_bytes = 0;
    for id in 1..=calls {
        let (line, elapsed) = ask(id, "tools/call", r#""name":"status","arguments":{},"#)?;
        if !line.contains(r#""isError":false"#) || line.matches(r#""name":"svc-"#).count() != 100 {
            return Err(format!("status did not answer with 100 services: {}", &line[..line.len().min(300)]));
        }
        answer_bytes = line.len();
        took.push(elapsed);
    }
    // End of input: the server stops (the writer is `input`; the child's handle was taken).
    drop(input);
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&home);

    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "status over 100 services, {calls} calls one after another (release build, answer {answer_bytes} bytes):"
    );
    println!(
        "  min {:.2} ms, median {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(took[0]),
        ms(at(0.5)),
        ms(at(0.95)),
        ms(at(0.99)),
        ms(took[took.len() - 1])
    );
    println!("\ntools/list: {} bytes", tools.trim_end().len());
    println!("| tool | entry bytes | inputSchema bytes | outputSchema bytes |\n|---|---|---|---|");
    for (name, entry, input, output) in tool_sizes(&tools) {
        println!("| {name} | {entry} | {input} | {output} |");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_sizes_match_braces_and_skip_strings() {
        let line = r#"{"result":{"tools":[{"name":"a","inputSchema":{"x":"}{"},"outputSchema":{"y":{}}},{"name":"b","inputSchema":{},"outputSchema":{}}]}}"#;
        let sizes = tool_sizes(line);
        assert_eq!(sizes.len(), 2);
        assert_eq!(sizes[0], ("a".to_owned(), 61, 10, 8));
        assert_eq!(sizes[1], ("b".to_owned(), 47, 2, 2));
    }
}
