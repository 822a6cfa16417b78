//! The JSON in the documentation is real: every ```json block of docs/*.md is accepted by
//! `Config::parse` with no error and no warning (a service or a list of services is checked
//! inside a whole file). The starter services.json that `cargo xtask install-service` writes is checked the same way.

use std::path::{Path, PathBuf};

use ops_kit::{Config, Env};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fenced blocks of a markdown file: (info string, first line number, text).
fn blocks(markdown: &str) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), i + 2, String::new())),
            (Some(_), Some("")) => out.extend(open.take()),
            (Some((_, _, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed code fence");
    out
}

/// A whole configuration for a block: a service or a list of services goes under "services".
fn as_config(v: Value) -> Value {
    match v {
        Value::Array(list) => serde_json::json!({ "services": list }),
        Value::Object(ref o) if o.contains_key("name") => serde_json::json!({ "services": [v] }),
        other => other,
    }
}

fn check(path: &Path, line: usize, text: &str) -> Result<(), String> {
    let place = format!("{}:{line}", path.display());
    let value: Value = serde_json::from_str(text).map_err(|e| format!("{place}: not JSON: {e}"))?;
    let bytes = serde_json::to_vec(&as_config(value)).unwrap();
    let loaded = Config::parse(path, &bytes, &Env::default()).map_err(|e| format!("{place}: {e}"))?;
    if loaded.warnings.is_empty() {
        Ok(())
    } else {
        let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
        Err(format!("{place}: warnings: {}", warnings.join("; ")))
    }
}

#[test]
fn every_json_block_in_the_docs_is_a_configuration_agent_ops_accepts() {
    let mut problems = Vec::new();
    let mut reference_blocks = 0;
    for entry in std::fs::read_dir(repo().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (info, line, block) in blocks(&text) {
            if info != "json" {
                continue;
            }
            if path.ends_with("configuration.md") {
                reference_blocks += 1;
            }
            if let Err(e) = check(&path, line, &block) {
                problems.push(e);
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        reference_blocks >= 9,
        "docs/configuration.md has an example per section ({reference_blocks} found)"
    );
}

#[test]
fn the_install_starter_is_accepted_without_warnings() {
    let path = repo().join("examples/services.starter.json");
    check(&path, 1, &std::fs::read_to_string(&path).unwrap()).unwrap();
}

#[test]
fn a_block_with_an_unknown_key_or_a_bad_value_is_caught() {
    let p = Path::new("x.md");
    assert!(
        check(p, 1, r#"{"name": "A", "target": "http://a", "timout": 1}"#).unwrap_err().contains("warnings")
    );
    assert!(check(p, 1, r#"[{"name": "A", "type": "port", "port": 0}]"#).unwrap_err().contains("port"));
    assert!(check(p, 1, "{").unwrap_err().contains("not JSON"));
    check(p, 1, r#"{"alerting": {"webhooks": []}}"#).unwrap();
    let md = "a\n```json\n{}\n```\n```text\nx\n```\n";
    assert_eq!(blocks(md), [("json".into(), 3, "{}\n".into()), ("text".into(), 6, "x\n".into())]);
}
