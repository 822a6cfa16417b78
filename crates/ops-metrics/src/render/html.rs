//! A self-contained status page for a wall screen: inline CSS and SVG, no script, no request
//! to anywhere. Every name (and every word of an incident) reaches the page through maud,
//! which escapes it.

use std::fmt::Write as _;
use std::time::Duration;

use maud::{DOCTYPE, Markup, PreEscaped, html as page};
use time::{Date, OffsetDateTime};

use super::{Context, StaleWhy, human_duration, ms};
use crate::{DayCounts, End, Incident, ServiceStats, Span, State, UptimeReport, python};

const CSS: &str = r"
:root{color-scheme:dark;--bg:#0b0f14;--card:#131a22;--line:#243041;--text:#e8eef5;--muted:#8d9aab;
--ok:#2fbf5b;--warn:#e3a21a;--bad:#ff5a52;--none:#263140}
*{box-sizing:border-box}
html,body{margin:0;background:var(--bg);color:var(--text)}
body{font:16px/1.35 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;min-height:100vh}
.banner{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:8px 32px;
padding:26px 40px;border-bottom:1px solid var(--line)}
.banner.ok{background:linear-gradient(90deg,rgba(47,191,91,.28),rgba(47,191,91,0) 70%)}
.banner.bad{background:linear-gradient(90deg,rgba(255,90,82,.42),rgba(255,90,82,.05) 80%)}
.banner.none{background:linear-gradient(90deg,rgba(141,154,171,.2),rgba(141,154,171,0) 70%)}
.headline{display:flex;align-items:center;gap:18px;font-size:36px;font-weight:750;letter-spacing:-.01em}
.headline .dot{width:22px;height:22px}
.meta{color:var(--muted);font-size:17px;text-align:right}
.meta b{color:var(--text);font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:18px;padding:22px 40px 28px}
.card{background:var(--card);border:1px solid var(--line);border-left:6px solid var(--ok);border-radius:12px;
padding:16px 20px 14px;min-width:0}
.card.down{border-left-color:var(--bad);background:linear-gradient(180deg,#2a1417,#1a1418 60%);border-color:#5a2326}
.card.stale,.card.unknown{border-left-color:var(--muted)}
.top{display:flex;align-items:baseline;gap:12px;min-width:0}
.dot{flex:none;display:inline-block;width:14px;height:14px;border-radius:50%;background:var(--ok);
box-shadow:0 0 0 4px rgba(47,191,91,.18)}
.down .dot,.dot.bad{background:var(--bad);box-shadow:0 0 0 5px rgba(255,90,82,.25)}
.stale .dot,.unknown .dot,.dot.none{background:var(--muted);box-shadow:none}
h2{margin:0;font-size:22px;font-weight:650;flex:1;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.pct{font-size:30px;font-weight:750;font-variant-numeric:tabular-nums;letter-spacing:-.02em}
.pct small{font-size:18px;font-weight:600;color:var(--muted);margin-left:1px}
.pct.ok{color:var(--ok)}.pct.warn{color:var(--warn)}.pct.bad{color:var(--bad)}.pct.none{color:var(--muted)}
.state{margin:2px 0 10px 26px;color:var(--muted);font-size:15px}
.down .state{color:#ffb4ae;font-weight:600}
.days{display:block;width:100%;height:34px}
.days rect.ok{fill:var(--ok)}.days rect.warn{fill:var(--warn)}.days rect.bad{fill:var(--bad)}.days rect.none{fill:var(--none)}
.axis{display:flex;justify-content:space-between;color:var(--muted);font-size:12px;margin:3px 0 10px}
.axis+.incidents{margin:-4px 0 10px}
.lat{display:flex;align-items:center;gap:14px}
.spark{flex:1;min-width:0;height:40px;display:block}
.spark path.area{fill:rgba(110,168,254,.16)}.spark path.line{fill:none;stroke:#6ea8fe;stroke-width:2}
.figs{flex:none;text-align:right;font-size:13px;color:var(--muted);font-variant-numeric:tabular-nums;line-height:1.3}
.figs b{color:var(--text);font-size:16px;font-weight:650}
.facts{margin-top:8px;color:var(--muted);font-size:13px}
.badge{flex:none;align-self:center;font-size:11px;font-weight:700;letter-spacing:.04em;text-transform:uppercase;
color:var(--warn);border:1px solid var(--warn);border-radius:4px;padding:1px 5px}
.empty{padding:60px 40px;color:var(--muted);font-size:22px}
footer{padding:0 40px 26px;color:var(--muted);font-size:13px}
.dense .grid{grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:12px;padding:16px 28px 20px}
.dense .card{padding:10px 14px 9px;border-left-width:5px;border-radius:10px}
.dense h2{font-size:17px}.dense .pct{font-size:22px}.dense .pct small{font-size:14px}
.dense .dot{width:11px;height:11px}
.dense .state{margin:0 0 6px 21px;font-size:13px}
.dense .days{height:20px}.dense .axis{display:none}
.dense .lat{margin-top:6px}.dense .spark{height:26px}
.dense .figs{font-size:12px}.dense .figs b{font-size:13px}
.dense .facts{margin-top:4px;font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.timeline{display:block;width:100%;height:10px;margin-top:3px}
.timeline rect.track{fill:var(--none)}.timeline rect.inc{fill:var(--bad)}.timeline rect.inc.open{fill:#ff8a84}
.incidents{list-style:none;margin:6px 0 0;padding:0;color:var(--muted);font-size:13px}
.incidents li{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.incidents time{color:var(--text)}
.dense .badge{font-size:10px;padding:0 4px}
.dense .timeline{height:7px}.dense .incidents{font-size:12px;margin-top:3px}.dense .incidents li+li{display:none}
.dense .banner{padding:18px 28px}.dense .headline{font-size:30px}
";

/// Past this many services the cards shrink so that a wall screen holds more of them.
const DENSE_FROM: usize = 12;

/// Shade of a day or a window: the Python kit's thresholds (99.5 OK, 95 WARN).
fn shade(percent: Option<f64>) -> &'static str {
    match percent {
        None => "none",
        Some(p) if p >= 99.5 => "ok",
        Some(p) if p >= 95.0 => "warn",
        Some(_) => "bad",
    }
}

fn utc_minute(t: OffsetDateTime) -> String {
    format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute())
}

/// How long ago `then` was, or `None` under a minute (or in the future).
fn elapsed(now: OffsetDateTime, then: OffsetDateTime) -> Option<String> {
    let secs = (now - then).whole_seconds();
    (secs >= 60).then(|| human_duration(Duration::from_secs(secs.unsigned_abs())))
}

fn ago(now: OffsetDateTime, then: OffsetDateTime) -> String {
    elapsed(now, then).map_or_else(|| "just now".into(), |e| format!("{e} ago"))
}

/// A service's condition on the page.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Condition {
    Down,
    Stale,
    Unknown,
    Up,
}

fn condition(s: &ServiceStats, context: &Context<'_>) -> Condition {
    if context.stale_of(&s.name).is_some() {
        return Condition::Stale;
    }
    match s.state {
        Some(State::Down) => Condition::Down,
        Some(State::Up) => Condition::Up,
        None => Condition::Unknown,
    }
}

/// The first instant of `dates` and the instant after the last.
fn span_of(dates: &[Date]) -> Option<(OffsetDateTime, OffsetDateTime)> {
    let from = dates.first()?.midnight().assume_utc();
    let until = dates.last()?.next_day()?.midnight().assume_utc();
    Some((from, until))
}

/// An incident's tooltip: when, how long, the failure, the restarts, whether it was
/// acknowledged, what it blocked.
fn incident_title(i: &Incident, now: OffsetDateTime) -> String {
    let mut words = format!("{}, {}", utc_minute(i.started), human_duration(i.duration(now)));
    match i.end {
        End::Open => words.push_str(", still down"),
        End::Removed => words.push_str(", then removed from the configuration"),
        End::Recovered => {}
    }
    words.push_str(": ");
    words.push_str(&i.detail);
    if i.restarts_tried > 0 {
        let _ = write!(words, "; restarted {} time(s)", i.restarts_tried);
        if i.restarts.last().is_some_and(|r| r.recovered) {
            words.push_str(", recovered");
        }
    }
    if i.gave_up {
        words.push_str("; restarts given up");
    }
    // Who acknowledged it and their note stay off a page that may be public.
    if i.ack.is_some() {
        words.push_str("; acknowledged");
    }
    if !i.blocked.is_empty() {
        let _ = write!(words, "; blocked {}", i.blocked.join(", "));
    }
    words
}

/// A service's incidents under its bars, on the same time axis: a red mark per incident
/// (lighter while open) with its tooltip.
fn timeline(incidents: &[&Incident], dates: &[Date], now: OffsetDateTime) -> Markup {
    let Some((from, until)) = span_of(dates) else { return page! {} };
    let width = dates.len() * 10;
    let total = (until - from).as_seconds_f64().max(1.0);
    let x = |t: OffsetDateTime| ((t - from).as_seconds_f64() / total * width as f64).clamp(0.0, width as f64);
    page! {
        svg class="timeline" viewBox={"0 0 " (width) " 10"} preserveAspectRatio="none" role="img"
            aria-label="incidents" {
            rect class="track" x="0" y="4" width=(width) height="2" {}
            @for i in incidents {
                @let (a, b) = (x(i.started), x(i.ended.unwrap_or(now).min(until)));
                rect class=(if i.end == End::Open { "inc open" } else { "inc" })
                    x=(format!("{a:.2}")) y="0" width=(format!("{:.2}", (b - a).max(0.6))) height="10" {
                    title { (incident_title(i, now)) }
                }
            }
        }
    }
}

/// The latest three incidents in words.
fn latest(incidents: &[&Incident], now: OffsetDateTime) -> Markup {
    page! {
        @if !incidents.is_empty() {
            ol class="incidents" {
                @for i in incidents.iter().take(3) {
                    li title=(incident_title(i, now)) {
                        time { (utc_minute(i.started)) } " · " (human_duration(i.duration(now)))
                        @if i.end == End::Open { " so far" } " · " (i.detail)
                    }
                }
            }
        }
    }
}

fn day_bars(s: &ServiceStats, dates: &[Date]) -> Markup {
    let width = dates.len() * 10;
    page! {
        svg class="days" viewBox={"0 0 " (width) " 34"} preserveAspectRatio="none" role="img"
            aria-label="uptime per day" {
            @for (i, date) in dates.iter().enumerate() {
                @let day = s.daily.iter().find(|d| d.date == *date);
                @let pct = day.and_then(DayCounts::uptime_percent);
                rect class=(shade(pct)) x=(i * 10 + 1) y="0" width="8" height="34" rx="1.5" {
                    title {
                        (date) ": "
                        @match (day, pct) {
                            (Some(d), Some(p)) => { (python::repr(python::round(p, 2))) "% up, " (d.down) " of " (d.up + d.down) " checks failed" },
                            _ => "no checks",
                        }
                    }
                }
            }
        }
    }
}

/// The SVG path data of the latency series, scaled into 0..100 x 0..40 (higher = slower);
/// gaps split the line.
fn spark_paths(series: &[Option<f64>]) -> Option<(String, String)> {
    let max = series.iter().flatten().copied().fold(f64::NAN, f64::max);
    if max.is_nan() || series.is_empty() {
        return None;
    }
    let max = if max <= 0.0 { 1.0 } else { max };
    let step = 100.0 / series.len().max(2).saturating_sub(1) as f64;
    let (mut line, mut area) = (String::new(), String::new());
    let mut run: Vec<(f64, f64)> = Vec::new();
    let mut flush = |run: &mut Vec<(f64, f64)>| {
        if let (Some(first), Some(last)) = (run.first().copied(), run.last().copied()) {
            let points: Vec<String> = run.iter().map(|(x, y)| format!("{x:.2},{y:.2}")).collect();
            // A lone point becomes a short flat segment, so that it shows.
            let (stub, end) = if run.len() == 1 {
                (format!(" L{:.2},{:.2}", first.0 + step / 2.0, first.1), first.0 + step / 2.0)
            } else {
                (String::new(), last.0)
            };
            let _ = write!(line, "M{}{stub} ", points.join(" L"));
            let _ = write!(area, "M{:.2},40 L{}{stub} L{end:.2},40 Z ", first.0, points.join(" L"));
        }
        run.clear();
    };
    for (i, v) in series.iter().enumerate() {
        match v {
            Some(v) => run.push((i as f64 * step, 38.0 - (v / max).clamp(0.0, 1.0) * 34.0)),
            None => flush(&mut run),
        }
    }
    flush(&mut run);
    Some((line, area))
}

fn card(s: &ServiceStats, dates: &[Date], context: &Context<'_>) -> Markup {
    let (now, sla) = (context.now, context.sla);
    let cond = condition(s, context);
    let incidents: Vec<&Incident> = context
        .incidents
        .map(|log| log.incidents.iter().filter(|i| i.service == s.name).collect())
        .unwrap_or_default();
    let class = match cond {
        Condition::Down => "card down",
        Condition::Stale => "card stale",
        Condition::Unknown => "card unknown",
        Condition::Up => "card up",
    };
    let pct_shade = shade(s.uptime_percent.filter(|_| s.total_checks() > 0 && cond != Condition::Stale));
    page! {
        section class=(class) data-service=(s.name) {
            div class="top" {
                span class="dot" {}
                h2 title=(s.name) { (s.name) }
                @if let Some(t) = sla.filter(|t| s.below(*t)) { span class="badge" title={"below the " (t) "% SLA"} { "SLA" } }
                div class={"pct " (pct_shade)} {
                    @if s.total_checks() > 0 { (s.uptime_text()) small { "%" } } @else { "–" }
                }
            }
            div class="state" {
                @match (cond, s.down_since, s.last_seen) {
                    (Condition::Down, Some(since), _) => {
                        "Down since " (utc_minute(since))
                        @if let Some(e) = elapsed(now, since) { " (" (e) ")" }
                    },
                    (Condition::Stale, _, last) => {
                        "Stale · "
                        @match last { Some(last) => { "last seen " (ago(now, last)) }, None => "never seen" }
                        @match context.stale_of(&s.name).map(|st| st.why) {
                            Some(StaleWhy::NotConfigured) => " · no longer in the configuration",
                            Some(StaleWhy::NotSeen { interval }) => { " · expected every " (human_duration(interval)) },
                            None => "",
                        }
                        @if s.state == Some(State::Down) { " · it was down then" }
                    },
                    (Condition::Up, _, Some(last)) => { "Up · last check " (ago(now, last)) },
                    _ => "No dated checks",
                }
            }
            (day_bars(s, dates))
            (timeline(&incidents, dates, now))
            div class="axis" {
                span { (dates.first().map(ToString::to_string).unwrap_or_default()) }
                span { (dates.len()) " days" }
                span { (dates.last().map(ToString::to_string).unwrap_or_default()) }
            }
            (latest(&incidents, now))
            div class="lat" {
                @if let Some((line, area)) = spark_paths(&s.latency_series) {
                    svg class="spark" viewBox="0 0 100 40" preserveAspectRatio="none" role="img" aria-label="latency of successful checks" {
                        path class="area" d=(area) {}
                        path class="line" d=(line) vector-effect="non-scaling-stroke" {}
                    }
                } @else {
                    div class="spark" {}
                }
                div class="figs" {
                    @if let Some(p) = s.latency {
                        @let about = if p.approximate { "≈" } else { "" };
                        "p50 " (about) b { (ms(p.p50)) } " ms" br;
                        "p95 " (about) b { (ms(p.p95)) } " ms"
                    } @else {
                        "no latency"
                    }
                }
            }
            div class="facts" {
                (s.down) " of " (s.total_checks()) " checks failed · "
                (s.incidents) @if s.incidents == 1 { " incident" } @else { " incidents" }
                @if let Some(d) = s.longest_outage { " · longest " (human_duration(d)) }
            }
        }
    }
}

/// The status page: a banner (all up, or how many are down; stale services are in neither),
/// then one card per service (those down first, the stale ones last, then by name) with its
/// state, uptime, a bar per day of the window coloured by that day's uptime, its incidents on
/// a timeline under the bars, and a sparkline of the latency of successful checks. A stale
/// service is grey: "last seen 3d 4h ago". Reloads itself every minute.
pub fn html(r: &UptimeReport, context: &Context<'_>) -> String {
    let (now, sla) = (context.now, context.sla);
    let dates: Vec<Date> = r.window.dates().collect();
    let mut services: Vec<(Condition, &ServiceStats)> =
        r.services.iter().map(|s| (condition(s, context), s)).collect();
    let rank = |c: Condition| match c {
        Condition::Down => 0,
        Condition::Up | Condition::Unknown => 1,
        Condition::Stale => 2,
    };
    services.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then(a.1.name.cmp(&b.1.name)));
    let down = services.iter().filter(|s| s.0 == Condition::Down).count();
    let stale = services.iter().filter(|s| s.0 == Condition::Stale).count();
    let below = sla.map_or(0, |t| r.services.iter().filter(|s| s.below(t)).count());
    let (banner, headline) = match (r.services.len() - stale, down) {
        (0, _) if stale > 0 => ("banner none", format!("No recent checks ({stale} stale)")),
        (0, _) => ("banner none", "No checks recorded in this window".to_owned()),
        (n, 0) => ("banner ok", format!("All {n} services operational")),
        (n, d) => ("banner bad", format!("{d} of {n} services down")),
    };
    let dot = match banner {
        "banner ok" => "dot",
        "banner bad" => "dot bad",
        _ => "dot none",
    };
    page! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content="60";
                title { (headline) " · agent-ops status" }
                style { (PreEscaped(CSS)) }
            }
            body class=[(r.services.len() > DENSE_FROM).then_some("dense")] {
                header class=(banner) {
                    div class="headline" { span class=(dot) {} (headline) }
                    div class="meta" {
                        @match r.window.span {
                            Span::Days => { "Last " b { (r.window.days) } " days" },
                            Span::Month => { b { (r.window.label()) } " UTC" },
                            Span::Range => { b { (r.window.days) } " days" },
                        }
                        " · " (r.window.from()) " to " (r.window.until) br;
                        (r.services.len()) " services · " (down) " down"
                        @if stale > 0 { " · " (stale) " stale" }
                        @if let Some(t) = sla { " · " (below) " below " (t) "% SLA" }
                        " · updated " b { (utc_minute(now)) }
                    }
                }
                @if r.services.is_empty() {
                    div class="empty" { "No metrics lines were found for these days." }
                } @else {
                    main class="grid" {
                        @for (_, s) in &services { (card(s, &dates, context)) }
                    }
                }
                footer {
                    "agent-ops uptime-report · " (r.lines) " lines in " (r.files) " days"
                    @if r.rollups > 0 { " (" (r.rollups) " from rollups)" }
                    @if r.bad.total() > 0 { " · " (r.bad.total()) " bad lines skipped" }
                }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::render::{Stale, StaleWhy};
    use crate::{IncidentLog, MetricRecord, Status, Window};

    /// A stale service is grey, says when it was last seen and why, and is neither up nor in
    /// the banner; incidents are drawn under the bars with their words escaped.
    #[test]
    fn stale_services_are_grey_and_incidents_sit_under_the_bars() {
        let dir = tempfile::tempdir().unwrap();
        let now = datetime!(2026-11-30 12:00 UTC);
        let record = |name: &str, status, at| MetricRecord {
            name: name.into(),
            status,
            detail: String::new(),
            latency_ms: 5,
            timestamp: at,
            warning: false,
            perfdata: Vec::new(),
        };
        crate::append(
            dir.path(),
            &[
                record("API", Status::Up, now - time::Duration::minutes(1)),
                record("Gone <b>", Status::Down, now - time::Duration::days(3)),
            ],
        )
        .unwrap();
        let window = Window::last_days(now.date(), 7);
        let report = crate::read_window(dir.path(), &window).unwrap();
        let incident = Incident {
            service: "API".into(),
            started: now - time::Duration::hours(5),
            ended: Some(now - time::Duration::hours(4)),
            end: End::Recovered,
            last_failed: None,
            kind: "http_status".into(),
            detail: "<script>alert(1)</script>".into(),
            alerted: true,
            restarts_tried: 0,
            restarts: Vec::new(),
            gave_up: false,
            quiet: Vec::new(),
            ack: None,
            blocked: Vec::new(),
            blocked_by: Vec::new(),
        };
        let mut log = IncidentLog::empty(window);
        log.add([incident]);
        let stale = [Stale { service: "Gone <b>".into(), why: StaleWhy::NotConfigured }];
        let page = html(&report, &Context { stale: &stale, incidents: Some(&log), ..Context::new(now) });
        assert!(page.contains("All 1 services operational"), "the stale one is not counted: {page}");
        assert!(page.contains("2 services · 0 down · 1 stale"), "{page}");
        assert!(page.contains(r#"<section class="card stale" data-service="Gone &lt;b&gt;">"#), "{page}");
        assert!(
            page.contains("Stale · last seen 3d 0h ago · no longer in the configuration · it was down then")
        );
        assert!(!page.contains("<script") && page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(page.matches(r#"<rect class="inc""#).count(), 1, "{page}");
        let without = html(&report, &Context::new(now));
        assert!(
            without.contains("1 of 2 services down"),
            "without a judge of staleness, its last check counts"
        );
        assert!(!without.contains(r#"class="inc""#));
    }
}
