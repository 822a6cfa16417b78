//! `uptime-report --prometheus-url` against a fake Prometheus on 127.0.0.1: a thread answering
//! `/api/v1/query` and `/api/v1/query_range` in Prometheus's answer format for two instances,
//! recording what it was asked; and against servers that fail in every way a report must
//! survive (500, an error answer, garbage, silence, an answer too large).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use time::{Date, OffsetDateTime};

/// How the fake answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// As Prometheus answers, from the canned fleet below.
    Fleet,
    /// 500 with a body that is not JSON.
    Status500,
    /// 400 with Prometheus's error answer.
    BadData,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with 17 MiB of white space (valid JSON's start, never its end).
    Huge,
    /// As [`Mode::Fleet`], but an average duration of 1e307 s: finite, and past what an f64
    /// holds in milliseconds.
    HugeLatency,
}

/// One request: the path, the query parameters decoded, the Authorization header.
#[derive(Debug, Clone)]
struct Asked {
    path: String,
    params: Vec<(String, String)>,
    authorization: Option<String>,
}

impl Asked {
    fn param(&self, name: &str) -> &str {
        self.params.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }
}

/// The fake Prometheus.
struct FakePrometheus {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<Asked>>>,
}

impl FakePrometheus {
    fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&asked);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = Arc::clone(&seen);
                thread::spawn(move || serve(stream, mode, &seen));
            }
        });
        Self { addr, asked }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, mode: Mode, seen: &Mutex<Vec<Asked>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let params: Vec<(String, String)> =
        query.split('&').filter_map(|p| p.split_once('=')).map(|(n, v)| (decode(n), decode(v))).collect();
    let authorization = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("authorization")))
        .map(|(_, v)| v.trim().to_owned());
    let asked = Asked { path: path.to_owned(), params, authorization };
    seen.lock().unwrap().push(asked.clone());
    let (status, body) = match mode {
        Mode::Fleet => (200, fleet_answer(&asked)),
        Mode::HugeLatency => (200, fleet_answer(&asked).replace(r#""0.0143""#, r#""1e307""#)),
        Mode::Status500 => (500, "upstream exploded".to_owned()),
        Mode::BadData => (
            400,
            r#"{"status":"error","errorType":"bad_data","error":"1:1: parse error: unexpected character"}"#
                .to_owned(),
        ),
        Mode::Garbage => (200, "<html>this is not Prometheus</html>".to_owned()),
        Mode::Huge => {
            let size = 17 * 1024 * 1024;
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n");
            let chunk = vec![b' '; 64 * 1024];
            for _ in 0..size / chunk.len() {
                if stream.write_all(&chunk).is_err() {
                    return;
                }
            }
            return;
        }
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// The canned fleet: web1 runs API (2 of 2016 samples down) and DB (all up), web2 runs API
/// (100 of 2000 down, down now). Each answer keeps only the series the query's `service`
/// matcher selects, as Prometheus would.
const FLEET: &[(&str, &str, u64, u64, f64, u8)] = &[
    // instance, service, samples, up, average seconds, last value
    ("web1:9100", "API", 2016, 2014, 0.0143, 1),
    ("web1:9100", "DB", 2016, 2016, 0.002, 1),
    ("web2:9100", "API", 2000, 1900, 0.5, 0),
];

fn fleet_answer(asked: &Asked) -> String {
    let query = asked.param("query");
    let only = query.split("service=\"").nth(1).and_then(|r| r.split('"').next());
    let rows = FLEET.iter().filter(|r| only.is_none_or(|s| s == r.1));
    let metric =
        |r: &(&str, &str, u64, u64, f64, u8)| format!(r#"{{"instance":"{}","service":"{}"}}"#, r.0, r.1);
    let result: Vec<String> = if asked.path == "/api/v1/query_range" {
        // The last two days of the window: yesterday's bar and today's.
        let end: i64 = asked.param("end").parse().unwrap();
        let up = query.contains("sum_over_time");
        rows.map(|r| {
            let (n, u) = (r.2 / 7, r.3 / 7);
            let today = if up { u } else { n };
            let yesterday = n;
            format!(
                r#"{{"metric":{},"values":[[{},"{yesterday}"],[{end},"{today}"]]}}"#,
                metric(r),
                end - 86_400
            )
        })
        .collect()
    } else {
        let time: i64 = asked.param("time").parse().unwrap();
        rows.map(|r| {
            let value = if query.contains("count_over_time(agent_ops_probe_success") {
                r.2.to_string()
            } else if query.contains("sum_over_time(agent_ops_probe_success") {
                r.3.to_string()
            } else if query.contains("agent_ops_probe_duration_seconds") {
                r.4.to_string()
            } else if query.contains("last_over_time") {
                r.5.to_string()
            } else if query.contains("timestamp(") {
                (time - 30).to_string()
            } else {
                panic!("unexpected query {query}")
            };
            format!(r#"{{"metric":{},"value":[{time},"{value}"]}}"#, metric(r))
        })
        .collect()
    };
    let kind = if asked.path == "/api/v1/query_range" { "matrix" } else { "vector" };
    format!(r#"{{"status":"success","data":{{"resultType":"{kind}","result":[{}]}}}}"#, result.join(","))
}

fn run(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::cargo_bin("uptime-report")
        .unwrap()
        .args(args)
        .env("HOME", home.path())
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("http_proxy", "http://127.0.0.1:9")
        .env_remove("AGENT_OPS_HOME")
        .env_remove("AGENT_OPS_METRICS_DIR")
        .env_remove("AGENT_OPS_CONFIG")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

fn midnight(d: Date) -> i64 {
    d.midnight().assume_utc().unix_timestamp()
}

#[test]
fn the_fleet_report_is_the_text_report_with_a_line_per_instance_and_service() {
    let prom = FakePrometheus::start(Mode::Fleet);
    let out = run(&["--prometheus-url", &prom.url()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "=== Uptime Report (last 7 days) ===\n\n\
         [OK] web1:9100/API: 99.9% uptime (2 failures in 2016 checks, avg 14.3ms)\n\
         [OK] web1:9100/DB: 100.0% uptime (0 failures in 2016 checks, avg 2.0ms)\n\
         [WARN] web2:9100/API: 95.0% uptime (100 failures in 2000 checks, avg 500.0ms)\n"
    );
    assert_eq!(stderr(&out), "");
}

/// A latency Prometheus gives as a finite number of seconds but too large for milliseconds is
/// unknown, as a NaN is: never `inf` in the text report (nor `null` in the JSON one).
#[test]
fn a_latency_too_large_for_milliseconds_is_unknown() {
    let prom = FakePrometheus::start(Mode::HugeLatency);
    let out = run(&["--prometheus-url", &prom.url()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("\n[OK] web1:9100/API: 99.9% uptime (2 failures in 2016 checks, avg 0ms)\n"),
        "{}",
        stdout(&out)
    );
    let out = run(&["--prometheus-url", &prom.url(), "--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["services"][0]["name"], "web1:9100/API");
    assert_eq!(report["services"][0]["avg_latency_ms"], 0.0, "as the report shows an unknown average");
}

#[test]
fn the_queries_cover_the_window_and_end_with_it() {
    let prom = FakePrometheus::start(Mode::Fleet);
    let before = OffsetDateTime::now_utc().unix_timestamp();
    let out = run(&["--prometheus-url", &format!("{}/", prom.url()), "--days", "3"]);
    let after = OffsetDateTime::now_utc().unix_timestamp();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let asked = prom.asked();
    let paths: Vec<&str> = asked.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(paths, [["/api/v1/query"; 5].as_slice(), &["/api/v1/query_range"; 2]].concat());
    let start = midnight(today() - time::Duration::days(2));
    let time: i64 = asked[0].param("time").parse().unwrap();
    assert!((before..=after).contains(&time), "{time} not between {before} and {after}");
    let r = format!("[{}s]", time - start);
    let queries: Vec<&str> = asked.iter().map(|a| a.param("query")).collect();
    assert_eq!(
        queries,
        [
            format!("sum by (instance, service) (count_over_time(agent_ops_probe_success{r}))"),
            format!("sum by (instance, service) (sum_over_time(agent_ops_probe_success{r}))"),
            format!(
                "sum by (instance, service) (sum_over_time(agent_ops_probe_duration_seconds{r})) / \
                 sum by (instance, service) (count_over_time(agent_ops_probe_duration_seconds{r}))"
            ),
            format!("min by (instance, service) (last_over_time(agent_ops_probe_success{r}))"),
            "max by (instance, service) (timestamp(agent_ops_probe_success))".to_owned(),
            "sum by (instance, service) (count_over_time(agent_ops_probe_success[1d]))".to_owned(),
            "sum by (instance, service) (sum_over_time(agent_ops_probe_success[1d]))".to_owned(),
        ]
    );
    assert!(asked[..5].iter().all(|a| a.param("time") == time.to_string()));
    for a in &asked[5..] {
        let (s, e, step) = (a.param("start"), a.param("end"), a.param("step"));
        assert_eq!(
            (s, e, step),
            (
                (start + 86_400).to_string().as_str(),
                midnight(today() + time::Duration::days(1)).to_string().as_str(),
                "86400"
            )
        );
    }
    assert!(asked.iter().all(|a| a.authorization.is_none()));
}

#[test]
fn service_keeps_that_service_of_every_instance() {
    let prom = FakePrometheus::start(Mode::Fleet);
    let out = run(&["--prometheus-url", &prom.url(), "--service", "API", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        prom.asked().iter().all(|a| a.param("query").contains(r#"{service="API"}"#)),
        "{:?}",
        prom.asked()
    );
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> =
        doc["services"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["web1:9100/API", "web2:9100/API"]);

    let out = run(&["--prometheus-url", &prom.url(), "--service", "Nope"]);
    assert_eq!(out.status.code(), Some(1), "no data for the service asked for");
    assert!(
        stderr(&out).contains("no agent_ops_probe_success samples of service \"Nope\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_and_html_show_the_fleet_as_one_host_is_shown() {
    let prom = FakePrometheus::start(Mode::Fleet);
    let out = run(&["--prometheus-url", &prom.url(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let web2 = &doc["services"][2];
    assert_eq!(web2["name"], "web2:9100/API");
    assert_eq!((web2["total_checks"].as_u64(), web2["failures"].as_u64()), (Some(2000), Some(100)));
    assert_eq!((web2["uptime_percent"].as_f64(), web2["avg_latency_ms"].as_f64()), (Some(95.0), Some(500.0)));
    assert_eq!(web2["state"], "down");
    assert_eq!(doc["services"][0]["state"], "up");
    let yesterday = (today() - time::Duration::days(1)).to_string();
    assert_eq!(
        web2["daily"],
        serde_json::json!([
            {"date": yesterday, "up": 285, "down": 0, "other": 0, "uptime_percent": 100.0},
            {"date": today().to_string(), "up": 271, "down": 14, "other": 0, "uptime_percent": 271.0 / 285.0 * 100.0},
        ])
    );
    assert!(web2["last_seen"].is_string());
    assert_eq!(doc["lines_read"], 6032, "samples");

    let out = run(&["--prometheus-url", &prom.url(), "--format", "html", "--sla", "99"]);
    assert_eq!(out.status.code(), Some(1), "web2's API is below 99 %");
    let page = stdout(&out);
    for name in ["web1:9100/API", "web1:9100/DB", "web2:9100/API"] {
        assert!(page.contains(&format!("data-service=\"{name}\"")), "{name}");
    }
    assert!(page.contains("Up · last check"), "last seen comes from the samples' timestamps");
}

#[test]
fn the_sla_of_the_fleet_is_judged_as_one_hosts() {
    let prom = FakePrometheus::start(Mode::Fleet);
    let out = run(&["--prometheus-url", &prom.url(), "--sla", "99.9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).ends_with("\nServices below 99.9% SLA:\n web2:9100/API: 95.0% (100 failures)\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn credentials_in_the_url_are_sent_and_never_shown() {
    let prom = FakePrometheus::start(Mode::Fleet);
    let url = prom.url().replace("http://", "http://alice:s3cret-pw@");
    let out = run(&["--prometheus-url", &url, "--days", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // base64("alice:s3cret-pw")
    assert!(prom.asked().iter().all(|a| a.authorization.as_deref() == Some("Basic YWxpY2U6czNjcmV0LXB3")));

    let failing = FakePrometheus::start(Mode::Status500);
    let url = failing.url().replace("http://", "http://alice:s3cret-pw@");
    let out = run(&["--prometheus-url", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), format!("error: prometheus at {}: HTTP 500\n", failing.url()));
    assert!(!stderr(&out).contains("s3cret") && !stderr(&out).contains("alice"));
}

#[test]
fn a_report_that_cannot_be_made_says_why_and_exits_1() {
    let error = |mode| {
        let prom = FakePrometheus::start(mode);
        let out = run(&["--prometheus-url", &prom.url(), "--format", "json"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(stdout(&out), "");
        stderr(&out).replace(&prom.url(), "URL")
    };
    assert_eq!(
        error(Mode::BadData),
        "error: prometheus at URL: HTTP 400, query failed: bad_data: 1:1: parse error: unexpected character\n"
    );
    assert_eq!(
        error(Mode::Garbage),
        "error: prometheus at URL: the answer is not Prometheus's JSON (expected value)\n"
    );
    assert_eq!(error(Mode::Huge), "error: prometheus at URL: the answer is larger than 16 MiB\n");

    let silent = test_support::Silent::start();
    let url = format!("http://{}", silent.addr);
    let out = run(&["--prometheus-url", &url, "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), format!("error: prometheus at {url}: no answer within 1 s\n"));

    let url = format!("http://127.0.0.1:{}", test_support::closed_port());
    let out = run(&["--prometheus-url", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), format!("error: prometheus at {url}: connection refused\n"));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--prometheus-url", "http://127.0.0.1:9", "--incidents"][..],
        &["--prometheus-url", "http://127.0.0.1:9", "--cleanup"],
        &["--prometheus-url", "http://127.0.0.1:9", "--detailed"],
        &["--prometheus-url", "http://127.0.0.1:9", "--format", "prometheus"],
        &["--prometheus-url", "ftp://127.0.0.1:9"],
        &["--prometheus-url", "http://127.0.0.1:9/?x=1"],
        &["--prometheus-url", "http://127.0.0.1:9", "--timeout", "0"],
        &["--timeout", "5"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = run(&["--prometheus-url", "ftp://bob:pw@prom:9090"]);
    assert_eq!(
        stderr(&out),
        "error: ftp://prom:9090 is not a Prometheus server's base URL: it must begin with http:// or https://\n"
    );
}
