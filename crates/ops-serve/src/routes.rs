//! The routes: which part of the snapshot answers which request.

use std::time::Instant;

use crate::Snapshot;
use crate::http::{Body, Request, Response, reason, segments};
use crate::server::Credentials;

/// What a path names.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Page,
    Services,
    Metrics,
    Healthz,
    /// `/badge/NAME/status.svg`.
    Status(String),
    /// `/badge/NAME/uptime/<days>d.svg`.
    Uptime(String, u32),
    /// `/ping/REST`: REST's segments joined by `/`.
    Ping(String),
}

/// The route of a raw path; `Err` is the status to answer with (404, or 400 for a path that
/// does not decode). A badge's name is every segment between `badge` and its file, joined by
/// `/`, so a name with a slash works written as `/` or as `%2F`.
fn route(path: &[u8]) -> Result<Route, u16> {
    let segments = segments(path).ok_or(400u16)?;
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    Ok(match s.as_slice() {
        [""] => Route::Page,
        ["api", "v1", "services"] => Route::Services,
        ["metrics"] => Route::Metrics,
        ["healthz"] => Route::Healthz,
        ["badge", name @ .., "status.svg"] => Route::Status(badge_name(name)?),
        ["badge", name @ .., "uptime", file] => Route::Uptime(badge_name(name)?, days(file).ok_or(404u16)?),
        ["ping", rest @ ..] if !rest.is_empty() => Route::Ping(rest.join("/")),
        _ => return Err(404),
    })
}

/// The name of a badge route from its segments; none is 404.
fn badge_name(segments: &[&str]) -> Result<String, u16> {
    let name = segments.join("/");
    if name.is_empty() { Err(404) } else { Ok(name) }
}

/// `7d.svg` → 7 (no sign, no leading zero).
fn days(file: &str) -> Option<u32> {
    let digits = file.strip_suffix("d.svg")?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The answer of an error status: its reason, in lower case.
pub(crate) fn error(status: u16) -> Response {
    Response::text(status, format!("{}\n", reason(status).to_lowercase()))
}

/// What the server does with a request.
#[derive(Debug)]
pub(crate) enum Routed {
    /// Answers it.
    Answer(Response),
    /// Hands `/ping/REST` to the ping handler, with the first [`crate::http::MAX_PING_BODY`] bytes of a body
    /// of `body` bytes (read and dropped past them).
    Ping { rest: String, head_only: bool, body: u64 },
}

/// What to do with a request (or with a head that could not be read: `Err(status)`): answer
/// it from `snapshot`, or hand it to the ping handler when there is one (`pings`; without it
/// `/ping/...` is 404). `own_metrics` is appended to the snapshot's metrics. Basic auth guards
/// every route but `/ping/`, whose token is its credential.
pub(crate) fn respond(
    request: Result<Request<'_>, u16>,
    snapshot: &Snapshot,
    auth: Option<&Credentials>,
    pings: bool,
    own_metrics: impl FnOnce() -> String,
    now: Instant,
) -> Routed {
    let text = |status| Routed::Answer(error(status));
    let request = match request {
        Ok(r) => r,
        Err(status) => return text(status),
    };
    let route = route(request.path);
    let ping = pings && matches!(route, Ok(Route::Ping(_)));
    if let Some(auth) = auth
        && !ping
        && !request.authorization.is_some_and(|a| auth.admits(a))
    {
        let mut r = Response::text(401, "unauthorized\n");
        r.headers.push(("WWW-Authenticate", "Basic realm=\"agent-ops\", charset=\"UTF-8\"".into()));
        return Routed::Answer(r);
    }
    let route = match route {
        Ok(Route::Ping(_)) if !pings => return text(404),
        Ok(r) => r,
        Err(status) => return text(status),
    };
    let (allowed, only) = if ping {
        ("GET, HEAD, POST", "method not allowed: only POST, GET and HEAD\n")
    } else {
        ("GET, HEAD", "method not allowed: only GET and HEAD\n")
    };
    let head_only = match request.method {
        b"GET" => false,
        b"HEAD" => true,
        b"POST" if ping => false,
        _ => {
            let mut r = Response::text(405, only);
            r.headers.push(("Allow", allowed.into()));
            return Routed::Answer(r);
        }
    };
    if let Route::Ping(rest) = route {
        // A chunked body is not read (its length is not known); a GET's or HEAD's never.
        let body = match request.method {
            b"POST" if !request.chunked => request.content_length.unwrap_or(0),
            _ => 0,
        };
        return Routed::Ping { rest, head_only, body };
    }
    let mut response = answer(route, snapshot, own_metrics, now);
    response.head_only = head_only;
    Routed::Answer(response)
}

fn answer(route: Route, snapshot: &Snapshot, own_metrics: impl FnOnce() -> String, now: Instant) -> Response {
    let Some(finished) = snapshot.finished else {
        let mut r = Response::text(503, "starting: no pass has finished yet\n");
        r.headers.push(("Retry-After", "5".into()));
        return r;
    };
    let shared = |content_type, body: &std::sync::Arc<str>| Response {
        status: 200,
        content_type,
        headers: Vec::new(),
        body: Body::Shared(body.clone()),
        head_only: false,
    };
    let svg = |badge: Option<&crate::Badge>| match badge {
        Some(b) => Response {
            status: 200,
            content_type: "image/svg+xml",
            headers: Vec::new(),
            body: Body::Owned(b.svg().into_bytes()),
            head_only: false,
        },
        None => Response::text(404, "not found\n"),
    };
    match route {
        Route::Page => shared("text/html; charset=utf-8", &snapshot.page),
        Route::Services => shared("application/json", &snapshot.services_json),
        Route::Metrics => {
            let mut text = String::with_capacity(snapshot.metrics.len() + 1024);
            text.push_str(&snapshot.metrics);
            text.push_str(&own_metrics());
            Response {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                headers: Vec::new(),
                body: Body::Owned(text.into_bytes()),
                head_only: false,
            }
        }
        Route::Healthz => {
            let age = now.saturating_duration_since(finished).as_secs();
            if now.saturating_duration_since(finished) <= snapshot.fresh_for {
                Response::text(200, format!("ok: the last pass finished {age}s ago\n"))
            } else {
                Response::text(
                    503,
                    format!(
                        "stale: the last pass finished {age}s ago, more than {}s\n",
                        snapshot.fresh_for.as_secs()
                    ),
                )
            }
        }
        Route::Status(name) => svg(snapshot.badges.get(&name).map(|b| &b.status)),
        Route::Uptime(name, days) => svg(snapshot.badges.get(&name).and_then(|b| b.uptime.get(&days))),
        Route::Ping(_) => Response::text(404, "not found\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = |p: &str| route(p.as_bytes());
        assert_eq!(r("/"), Ok(Route::Page));
        assert_eq!(r("/api/v1/services"), Ok(Route::Services));
        assert_eq!(r("/%6Detrics"), Ok(Route::Metrics), "an escaped letter is the letter");
        assert_eq!(r("/healthz"), Ok(Route::Healthz));
        assert_eq!(r("/badge/API/status.svg"), Ok(Route::Status("API".into())));
        assert_eq!(r("/badge/Disk%20Space%20/var/status.svg"), Ok(Route::Status("Disk Space /var".into())));
        assert_eq!(r("/badge/Disk%20Space%20%2Fvar/status.svg"), Ok(Route::Status("Disk Space /var".into())));
        assert_eq!(r("/badge/a/uptime/7d.svg"), Ok(Route::Uptime("a".into(), 7)));
        assert_eq!(r("/badge/a/uptime/7d.svg/status.svg"), Ok(Route::Status("a/uptime/7d.svg".into())));
        assert_eq!(r("/badge/a%2Fstatus.svg/uptime/90d.svg"), Ok(Route::Uptime("a/status.svg".into(), 90)));
        assert_eq!(r("/badge/%3Cscript%3E/status.svg"), Ok(Route::Status("<script>".into())));
        assert_eq!(r("/ping/abc"), Ok(Route::Ping("abc".into())));
        assert_eq!(r("/ping/abc/start"), Ok(Route::Ping("abc/start".into())));
        assert_eq!(r("/ping/a%62c/"), Ok(Route::Ping("abc/".into())));
        assert_eq!(r("/ping/"), Ok(Route::Ping(String::new())), "an empty token is the handler's 404");
        for missing in [
            "/index.html",
            "/metrics/",
            "//",
            "/api/v1/services/x",
            "/badge/status.svg",
            "/badge//status.svg",
            "/badge/a/uptime/07d.svg",
            "/badge/a/uptime/d.svg",
            "/badge/a/uptime/-7d.svg",
            "/badge/a/uptime/99999999999d.svg",
            "/badge/a/%73tatus.svgx",
            "/ping",
        ] {
            assert_eq!(r(missing), Err(404), "{missing}");
        }
        assert_eq!(r("/badge/%E0%80/status.svg"), Err(400));
    }
}
