//! The fuzz target for what ops-serve reads from the network: a request head, arriving in
//! pieces (bolero: `cargo xtask fuzz http_request` runs it under libFuzzer; `cargo test`
//! replays its corpus in `fuzz/__fuzz__/` and random inputs).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::http::{MAX_HEAD, head_end, parse, segments};
use crate::routes::{Routed, respond};
use crate::{Badge, Color, Credentials, ServiceBadges, Snapshot};

/// The credentials the target's server wants; `base64("ops:pw")`.
const TOKEN: &[u8] = b"b3BzOnB3";

/// Any bytes as a request head: the end of the head is found the same wherever the reads split
/// it; reading it never panics; the answer is one of ours, with a well-formed head that repeats
/// nothing of the request; a request without the credentials gets 401, whatever else it says,
/// but a ping when there is a ping handler (and only then, and only for `/ping/...`); a ping
/// reads a body only for POST with a Content-Length and without Transfer-Encoding.
#[test]
fn http_request() {
    let badge = |label: &str| Badge { label: label.into(), message: "up".into(), color: Color::Red };
    let names = ["API", "a/b", "<x>", "日本"];
    let snapshot = Snapshot {
        finished: Some(Instant::now()),
        fresh_for: Duration::MAX,
        page: "page".into(),
        services_json: "{}".into(),
        metrics: String::new().into(),
        badges: names
            .iter()
            .map(|n| {
                (
                    (*n).to_owned(),
                    ServiceBadges { status: badge(n), uptime: BTreeMap::from([(7, badge("7d"))]) },
                )
            })
            .collect::<HashMap<_, _>>()
            .into(),
    };
    let auth = Credentials::new("ops", "pw").unwrap();
    bolero::check!().with_iterations(20_000).for_each(|bytes: &[u8]| {
        let bytes = &bytes[..bytes.len().min(MAX_HEAD)];
        let whole = head_end(bytes, 0);
        // The same bytes read in pieces of every size from 1 to 7.
        for piece in 1..=7 {
            let mut found = None;
            for at in (piece..=bytes.len()).step_by(piece).chain([bytes.len()]) {
                if let Some(end) = head_end(&bytes[..at], at.saturating_sub(piece)) {
                    found = Some(end);
                    break;
                }
            }
            assert_eq!(found, whole, "pieces of {piece}");
        }
        let head = &bytes[..whole.unwrap_or(bytes.len())];
        let request = parse(head);
        if let Ok(r) = &request {
            assert!(r.path.starts_with(b"/"));
        }
        let authorized = request.as_ref().is_ok_and(|r| {
            r.authorization.is_some_and(|a| {
                a.len() > 6 && a[..6].eq_ignore_ascii_case(b"basic ") && a[6..].trim_ascii() == TOKEN
            })
        });
        // `/ping/...` once decoded (`/%70ing/x` too).
        let is_ping =
            request.as_ref().is_ok_and(|r| segments(r.path).is_some_and(|s| s.len() > 1 && s[0] == "ping"));
        for (auth, pings) in [(None, false), (Some(&auth), false), (None, true), (Some(&auth), true)] {
            let response = match respond(parse(head), &snapshot, auth, pings, String::new, Instant::now()) {
                Routed::Answer(response) => response,
                Routed::Ping { rest, head_only, body } => {
                    let r = request.as_ref().unwrap();
                    assert!(pings && is_ping, "{:?}", String::from_utf8_lossy(head));
                    assert_eq!(head_only, r.method == b"HEAD");
                    let read = r.method == b"POST" && !r.chunked;
                    assert_eq!(body, if read { r.content_length.unwrap_or(0) } else { 0 });
                    assert!(rest.len() <= r.path.len());
                    continue;
                }
            };
            assert!([200, 400, 401, 404, 405, 503, 505].contains(&response.status), "{}", response.status);
            if auth.is_some() && request.is_ok() {
                let exempt = pings && is_ping;
                assert_eq!(
                    response.status == 401,
                    !authorized && !exempt,
                    "{:?}",
                    String::from_utf8_lossy(head)
                );
            }
            let text = String::from_utf8(response.head(time::OffsetDateTime::UNIX_EPOCH)).unwrap();
            let lines: Vec<&str> = text.strip_suffix("\r\n\r\n").unwrap().split("\r\n").collect();
            assert!(lines[0].starts_with("HTTP/1.1 "));
            for line in &lines[1..] {
                let (name, value) = line.split_once(": ").unwrap();
                assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "{line:?}");
                assert!(!value.contains(['\r', '\n']), "{line:?}");
            }
            if response.status != 200 {
                // An error says its own words, never the request's.
                let body = String::from_utf8(response.body.bytes().to_vec()).unwrap();
                assert!(body.len() < 64 && body.is_ascii(), "{body:?}");
            }
        }
    });
}
