//! The fleet's uptime report: the figures of `uptime-report`, computed by Prometheus from the
//! `agent_ops_probe_success` and `agent_ops_probe_duration_seconds` samples it scraped from every
//! host (each host's textfile or daemon `/metrics`, labelled `instance` by Prometheus), one
//! [`ServiceStats`] per instance and service, named `instance/service`, so that ops-metrics'
//! renderers print the fleet as they print one host, each instance's services together.
//!
//! The counts are samples, not checks: a sample is a scrape, and the uptime is the share of
//! samples up (the share of checks up when the scrape interval is the check interval).
//!
//! Seven queries over Prometheus's HTTP API (`GET /api/v1/query` at the window's end, `GET
//! /api/v1/query_range` with a step of a day for the daily bars), within one deadline for all,
//! each answer at most [`MAX_ANSWER`] bytes and [`MAX_SERIES`] series; no proxy (the
//! environment's `HTTP_PROXY` is not read), no redirect followed, credentials from the URL's
//! user info (HTTP Basic, sent as written: percent escapes are not decoded), never shown:
//! errors name the URL without them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read as _;
use std::time::{Duration, Instant};

use ops_metrics::{Counted, DayCounts, ServiceStats, State, UptimeReport, Window};
use serde::Deserialize;
use time::OffsetDateTime;
use ureq::Agent;

use crate::uptime::Found;

/// The most bytes of one answer that are read; a longer answer is an error.
pub const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// The most series one answer may hold: instances × services.
pub const MAX_SERIES: usize = 10_000;

/// The longest window with daily bars: `query_range` answers at most 11,000 points a series.
const MAX_DAILY_DAYS: u32 = 10_000;

/// The longest error text of a server that is shown.
const MAX_SHOWN: usize = 300;

/// What to ask a Prometheus server for.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The server's base URL (`http://prometheus:9090`, or with a path prefix), with
    /// `user:password@` for HTTP Basic when it needs it.
    pub url: &'a str,
    /// The days to report.
    pub window: Window,
    /// Now: the window ends here when it ends today.
    pub now: OffsetDateTime,
    /// Only this service (of every instance).
    pub service: Option<&'a str>,
    /// The deadline of the whole report: every query gets what is left of it.
    pub timeout: Duration,
}

/// Why the fleet's report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The URL is not a Prometheus base URL (a usage error).
    #[error("{url} is not a Prometheus server's base URL: {why}")]
    Url {
        /// The URL as given, without its credentials.
        url: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A query got no usable answer: no answer by the deadline, a status other than 200, a
    /// Prometheus error, an answer that is not Prometheus's JSON or is too large.
    #[error("prometheus at {url}: {detail}")]
    Query {
        /// The URL, without its credentials.
        url: String,
        /// What happened.
        detail: String,
    },
}

/// `url` without its user info (`https://user:pw@host/` → `https://host/`).
pub fn shown_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = rest[..end].rsplit_once('@').map_or(&rest[..end], |(_, host)| host);
    let scheme = if scheme.is_empty() { String::new() } else { format!("{scheme}://") };
    format!("{scheme}{host}{}", &rest[end..])
}

/// The queries of a report, in the order they are sent: the instant ones at the window's end
/// over the window (`R`), then the daily ones. `SEL` is the `{service="..."}` matcher or empty.
pub fn queries(service: Option<&str>, range_seconds: u64) -> [String; 7] {
    let sel = service.map_or_else(String::new, |s| format!("{{service=\"{}\"}}", promql_string(s)));
    let by = "sum by (instance, service)";
    let r = format!("[{range_seconds}s]");
    let (up, dur) = ("agent_ops_probe_success", "agent_ops_probe_duration_seconds");
    [
        format!("{by} (count_over_time({up}{sel}{r}))"),
        format!("{by} (sum_over_time({up}{sel}{r}))"),
        format!("{by} (sum_over_time({dur}{sel}{r})) / {by} (count_over_time({dur}{sel}{r}))"),
        format!("min by (instance, service) (last_over_time({up}{sel}{r}))"),
        format!("max by (instance, service) (timestamp({up}{sel}))"),
        format!("{by} (count_over_time({up}{sel}[1d]))"),
        format!("{by} (sum_over_time({up}{sel}[1d]))"),
    ]
}

/// A PromQL double-quoted string's content.
fn promql_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// What one service of one instance added up to.
#[derive(Default)]
struct Acc {
    samples: Option<u64>,
    up: u64,
    avg_seconds: Option<f64>,
    state: Option<State>,
    last_seen: Option<OffsetDateTime>,
    daily: BTreeMap<time::Date, (u64, u64)>,
}

/// Asks Prometheus at `req.url` for the report of `req.window`: one service per instance and
/// service with samples in the window, sorted by instance, then service. A window that
/// begins after now has no samples. Prometheus's own warnings become warnings.
pub fn read(req: &Request<'_>) -> Result<Found, FleetError> {
    let client = Client::new(req.url, req.timeout)?;
    let day = 86_400;
    let start = unix(req.window.from());
    let day_after = req.window.until.next_day().map_or(i64::MAX, unix);
    let end = req.now.unix_timestamp().min(day_after);
    let mut accs: BTreeMap<(String, String), Acc> = BTreeMap::new();
    let mut warnings = BTreeSet::new();
    let mut lines = 0u64;
    if end > start {
        let range = u64::try_from(end - start).unwrap_or(u64::MAX);
        let [count, up, latency, last, seen, daily_count, daily_up] = queries(req.service, range);
        let mut ask = |query: &str| client.instant(query, end, &mut warnings);
        for s in ask(&count)? {
            let n = s.value().and_then(whole);
            lines = lines.saturating_add(n.unwrap_or(0));
            accs.entry(s.key).or_default().samples = n;
        }
        for s in ask(&up)? {
            if let Some(a) = accs.get_mut(&s.key) {
                a.up = s.value().and_then(whole).unwrap_or(0).min(a.samples.unwrap_or(0));
            }
        }
        for s in ask(&latency)? {
            if let Some(a) = accs.get_mut(&s.key) {
                // Finite in milliseconds too (1e307 s is not): else unknown, as a NaN is.
                a.avg_seconds = s.value().filter(|v| *v >= 0.0 && (v * 1000.0).is_finite());
            }
        }
        for s in ask(&last)? {
            if let Some(a) = accs.get_mut(&s.key) {
                a.state = s.value().map(|v| if v >= 0.5 { State::Up } else { State::Down });
            }
        }
        for s in ask(&seen)? {
            if let Some(a) = accs.get_mut(&s.key) {
                a.last_seen = s.value().and_then(at);
            }
        }
        if req.window.days <= MAX_DAILY_DAYS {
            let (first, last) = (start.saturating_add(day), day_after);
            for (query, is_up) in [(&daily_count, false), (&daily_up, true)] {
                for s in client.range(query, first, last, day, &mut warnings)? {
                    let Some(a) = accs.get_mut(&s.key) else { continue };
                    for (t, v) in &s.points {
                        let Some(n) = whole(*v) else { continue };
                        let Some(date) = at(*t - 86_400.0).map(OffsetDateTime::date) else { continue };
                        let d = a.daily.entry(date).or_default();
                        if is_up { d.1 = n } else { d.0 = n }
                    }
                }
            }
        } else {
            warnings.insert(format!("no daily figures for more than {MAX_DAILY_DAYS} days"));
        }
    }
    accs.retain(|(_, service), a| {
        a.samples.is_some_and(|n| n > 0) && req.service.is_none_or(|s| s == service)
    });
    let services: Vec<ServiceStats> =
        accs.into_iter().zip(0u32..).map(|(((i, s), a), n)| stats(&i, s, a, n)).collect();
    let mut warnings: Vec<String> = warnings.into_iter().map(|w| format!("prometheus: {w}")).collect();
    let service_missing = req.service.is_some() && services.is_empty();
    if services.is_empty() {
        let what = req.service.map_or_else(String::new, |s| format!(" of service {s:?}"));
        warnings
            .push(format!("no agent_ops_probe_success samples{what} at {} for {}", client.shown, req.window));
    }
    let report = UptimeReport {
        window: req.window,
        services,
        bad: ops_metrics::BadLines::default(),
        undated: 0,
        files: usize::try_from(req.window.days).unwrap_or(usize::MAX),
        rollups: 0,
        issues: Vec::new(),
        lines,
        bytes: 0,
    };
    Ok(Found { report, warnings, service_missing })
}

/// One service of one instance as the report's figures.
fn stats(instance: &str, service: String, a: Acc, order: u32) -> ServiceStats {
    let samples = a.samples.unwrap_or(0);
    let name = if instance.is_empty() { service } else { format!("{instance}/{service}") };
    let daily = a
        .daily
        .into_iter()
        .filter(|(_, (n, _))| *n > 0)
        .map(|(date, (n, up))| DayCounts { date, up: up.min(n), down: n - up.min(n), other: 0 })
        .collect();
    let counted = Counted {
        name,
        up: a.up,
        down: samples - a.up,
        avg_latency_ms: a.avg_seconds.map(|s| s * 1000.0),
        state: a.state,
        last_seen: a.last_seen,
        daily,
    };
    ServiceStats::counted(counted, order)
}

/// A count from a sample value: finite, not negative, rounded.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn whole(v: f64) -> Option<u64> {
    (0.0..1e18).contains(&v).then(|| v.round() as u64)
}

/// The moment of a Unix time in seconds, to the second.
#[allow(clippy::cast_possible_truncation)]
fn at(t: f64) -> Option<OffsetDateTime> {
    t.is_finite().then(|| OffsetDateTime::from_unix_timestamp(t.floor() as i64).ok()).flatten()
}

/// The Unix time of a date's midnight, UTC.
fn unix(date: time::Date) -> i64 {
    date.midnight().assume_utc().unix_timestamp()
}

/// One series of an answer: its instance and service, and its finite values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub key: (String, String),
    /// (Unix time, value) pairs; one for an instant query.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    fn value(&self) -> Option<f64> {
        self.points.last().map(|p| p.1)
    }
}

/// A Prometheus answer (`{"status": "success", "data": {...}, "warnings": [...]}` or `{"status":
/// "error", "errorType": ..., "error": ...}`).
#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    infos: Vec<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<RawSeries>,
}

#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    value: Option<(f64, String)>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// What an answer held.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub series: Vec<Series>,
    pub warnings: Vec<String>,
}

/// Reads an answer of `result_type` (`vector` or `matrix`): its series with a `service` label
/// (`instance` may be missing: it is then empty), values that are not finite numbers left out.
/// An error answer, or one of another shape, is an error in words (a server's words cut and
/// their control characters escaped).
pub(crate) fn parse(bytes: &[u8], result_type: &str) -> Result<Parsed, String> {
    let answer: Answer = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "the answer is not Prometheus's JSON ({})",
            shown(e.to_string().split(" at line").next().unwrap_or(""))
        )
    })?;
    let notes = answer.warnings.into_iter().chain(answer.infos).map(|w| shown(&w)).collect();
    if answer.status != "success" {
        let kind = answer.error_type.as_deref().map_or_else(String::new, |k| format!("{}: ", shown(k)));
        let error =
            answer.error.as_deref().map_or_else(|| format!("status {}", shown(&answer.status)), shown);
        return Err(format!("query failed: {kind}{error}"));
    }
    let data = answer.data.ok_or("the answer has no data")?;
    if data.result_type != result_type {
        return Err(format!("the answer is a {}, not a {result_type}", shown(&data.result_type)));
    }
    if data.result.len() > MAX_SERIES {
        return Err(format!("the answer has {} series, more than {MAX_SERIES}", data.result.len()));
    }
    let series = data
        .result
        .into_iter()
        .filter_map(|mut s| {
            let service = s.metric.remove("service")?;
            let instance = s.metric.remove("instance").unwrap_or_default();
            let points = s
                .value
                .into_iter()
                .chain(s.values)
                .filter_map(|(t, v)| Some((t, v.parse::<f64>().ok().filter(|v| v.is_finite())?)))
                .filter(|(t, _)| t.is_finite())
                .collect();
            Some(Series { key: (instance, service), points })
        })
        .collect();
    Ok(Parsed { series, warnings: notes })
}

/// A server's text as we show it: control characters escaped, at most [`MAX_SHOWN`] characters.
fn shown(text: &str) -> String {
    let cut: String = text.chars().take(MAX_SHOWN).collect();
    let more = if cut.len() < text.len() { " ..." } else { "" };
    format!("{}{more}", ops_state::printable(&cut))
}

/// The queries' HTTP client: one agent, one deadline.
struct Client {
    agent: Agent,
    /// The base URL, credentials included, without a trailing slash.
    base: String,
    /// The base URL as errors show it.
    shown: String,
    /// `None`: later than this process will live.
    deadline: Option<Instant>,
    timeout: Duration,
}

impl Client {
    fn new(url: &str, timeout: Duration) -> Result<Self, FleetError> {
        let shown = shown_url(url);
        let bad = |why| FleetError::Url { url: shown.clone(), why };
        let lower = url.to_ascii_lowercase();
        if !lower.starts_with("http://") && !lower.starts_with("https://") {
            return Err(bad("it must begin with http:// or https://"));
        }
        if url.contains(['?', '#']) {
            return Err(bad("it must have no query or fragment (give http://host:9090)"));
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it must have no spaces or control characters"));
        }
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .proxy(None)
            .user_agent(concat!("agent-ops/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let base = url.trim_end_matches('/').to_owned();
        let deadline = Instant::now().checked_add(timeout);
        Ok(Self { agent, base, shown: shown.trim_end_matches('/').to_owned(), deadline, timeout })
    }

    fn error(&self, detail: impl Into<String>) -> FleetError {
        FleetError::Query { url: self.shown.clone(), detail: detail.into() }
    }

    /// An instant query at `time`.
    fn instant(
        &self,
        query: &str,
        time: i64,
        notes: &mut BTreeSet<String>,
    ) -> Result<Vec<Series>, FleetError> {
        let path = format!("/api/v1/query?query={}&time={time}", form(query));
        self.get(&path, "vector", notes)
    }

    /// A range query from `start` to `end` every `step` seconds.
    fn range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        notes: &mut BTreeSet<String>,
    ) -> Result<Vec<Series>, FleetError> {
        let path = format!("/api/v1/query_range?query={}&start={start}&end={end}&step={step}", form(query));
        self.get(&path, "matrix", notes)
    }

    fn get(
        &self,
        path: &str,
        result_type: &str,
        notes: &mut BTreeSet<String>,
    ) -> Result<Vec<Series>, FleetError> {
        let late = || self.error(format!("no answer within {} s", self.timeout.as_secs_f64()));
        let left = self.deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return Err(late());
        }
        let request = self.agent.get(format!("{}{path}", self.base)).config().timeout_global(left).build();
        let mut response = request.call().map_err(|e| match e {
            ureq::Error::Timeout(_) => late(),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => late(),
            e => self.error(transport_words(&e)),
        })?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        let read = response.body_mut().with_config().reader().take(MAX_ANSWER + 1).read_to_end(&mut bytes);
        if let Err(e) = read {
            return Err(match e.kind() {
                std::io::ErrorKind::TimedOut => late(),
                _ if self.deadline.is_some_and(|d| Instant::now() >= d) => late(),
                _ => self.error("the answer was cut off"),
            });
        }
        if bytes.len() as u64 > MAX_ANSWER {
            return Err(self.error(format!("the answer is larger than {} MiB", MAX_ANSWER / 1024 / 1024)));
        }
        let parsed = parse(&bytes, result_type);
        match (status, parsed) {
            (200, Ok(p)) => {
                notes.extend(p.warnings);
                Ok(p.series)
            }
            (200, Err(e)) => Err(self.error(e)),
            (300..400, _) => {
                Err(self
                    .error(format!("HTTP {status}: redirects are not followed (give the URL it leads to)")))
            }
            (_, Err(e)) if e.starts_with("query failed") => Err(self.error(format!("HTTP {status}, {e}"))),
            (_, _) => Err(self.error(format!("HTTP {status}"))),
        }
    }
}

/// ureq's error in words of our own (its text can hold the URL, and the URL credentials).
fn transport_words(e: &ureq::Error) -> String {
    use std::io::ErrorKind as K;
    use ureq::Error as E;
    match e {
        E::HostNotFound => "cannot resolve the host name".to_owned(),
        E::ConnectionFailed => "connection failed".to_owned(),
        E::Io(io) => match io.kind() {
            K::ConnectionRefused => "connection refused".to_owned(),
            K::ConnectionReset => "connection reset by the server".to_owned(),
            K::UnexpectedEof => "the server closed the connection without answering".to_owned(),
            other => format!("connection error: {other}").to_lowercase(),
        },
        E::Tls(msg) => format!("tls: {msg}"),
        E::Rustls(err) => format!("tls: {err}"),
        E::BadUri(_) | E::Http(_) => "the URL is not valid".to_owned(),
        E::Protocol(_) => "the answer is not valid HTTP".to_owned(),
        E::LargeResponseHeader(..) => "the answer's headers are too large".to_owned(),
        _ => "request failed".to_owned(),
    }
}

/// `application/x-www-form-urlencoded` for a query parameter's value.
fn form(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3 / 2);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            shown_url("https://bob:s3cret@prom.example:9090/prefix"),
            "https://prom.example:9090/prefix"
        );
        assert_eq!(shown_url("http://prom:9090"), "http://prom:9090");
        assert_eq!(shown_url("http://a@b@prom/x@y"), "http://prom/x@y");
    }

    #[test]
    fn a_service_is_quoted_for_promql() {
        let [count, ..] = queries(Some("a \"b\"\\c\n"), 60);
        assert_eq!(
            count,
            r#"sum by (instance, service) (count_over_time(agent_ops_probe_success{service="a \"b\"\\c\n"}[60s]))"#
        );
        assert_eq!(form("a b/{x=\"y\"}"), "a%20b%2F%7Bx%3D%22y%22%7D");
    }

    #[test]
    fn answers_are_read_or_refused_in_words() {
        let ok = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"instance":"web1:9100","service":"API"},"value":[1700000000.5,"42"]},
            {"metric":{"service":"DB"},"value":[1700000000,"NaN"]},
            {"metric":{"instance":"x"},"value":[1700000000,"1"]}]},"warnings":["slow\u001b"]}"#;
        let p = parse(ok, "vector").unwrap();
        assert_eq!(p.series.len(), 2);
        assert_eq!(
            p.series[0],
            Series { key: ("web1:9100".into(), "API".into()), points: vec![(1_700_000_000.5, 42.0)] }
        );
        assert!(p.series[1].points.is_empty());
        assert_eq!(p.warnings, ["slow\\x1b"]);
        let error = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#;
        assert_eq!(parse(error, "vector").unwrap_err(), "query failed: bad_data: parse error at char 3");
        assert!(parse(b"<html>", "vector").unwrap_err().starts_with("the answer is not Prometheus's JSON"));
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(parse(matrix, "vector").unwrap_err(), "the answer is a matrix, not a vector");
    }
}
