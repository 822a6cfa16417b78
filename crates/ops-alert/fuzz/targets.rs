//! Fuzz targets for every place ops-alert turns outside bytes into data: a Bot API answer
//! (any status, any body), the rate file `alert-rate.json`, and the outbox. Under bolero:
//! `cargo xtask fuzz telegram_answer alert_rate outbox` runs them under libFuzzer; `cargo
//! test` replays their corpus (`fuzz/__fuzz__/`) and random inputs.

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

use ops_state::StateError;
use serde_json::Value;

use crate::http::{self, Answer, RetryPolicy, Step};
use crate::telegram::{Verdict, judge};
use crate::{AlertError, Entry, Outbox, Problem, RateLimit, Secrets};

/// The token the corpus plants in descriptions: it must never come out in a reason.
const TOKEN: &str = "123456789:AAHfuzzSecretKey_0123-abcdefghijklmno";

/// `<status>[ <Retry-After header>]` on the first line, the body after it. A first line that
/// is not a status gives the status from the first two bytes, so every status is reachable.
fn answer(bytes: &[u8]) -> Answer {
    let (head, body) = match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut words = head.split(' ');
    let status = words.next().and_then(|w| w.parse::<u16>().ok()).unwrap_or_else(|| {
        u16::from_le_bytes([bytes.first().copied().unwrap_or(0), bytes.get(1).copied().unwrap_or(0)])
    });
    Answer {
        status,
        // The body is read as lossy UTF-8, at most 64 KiB.
        body: String::from_utf8_lossy(body).into_owned(),
        retry_after: words.next().and_then(http::retry_after_seconds),
    }
}

/// A reason shown to people: one line, bounded, without the token in any form.
fn check_reason(reason: &str) {
    assert!(!reason.contains(TOKEN), "the token leaked: {reason:?}");
    assert!(!reason.contains(&TOKEN.replace(':', "%3A")), "the token leaked: {reason:?}");
    assert!(!reason.chars().any(char::is_control), "not one line: {reason:?}");
    assert!(reason.chars().count() <= 512, "{} characters: {reason:?}", reason.chars().count());
}

/// Any answer is judged without panicking, by status first: every 2xx (and 303 See Other) is
/// delivered (the request reached a server that took it) unless its body says `"ok": false`; a reason never
/// shows the token and stays one short line; a flood-control wait is never longer than a day,
/// whatever the answer asked.
#[test]
fn telegram_answer() {
    let mut secrets = Secrets::default();
    secrets.add_token(TOKEN);
    let policy = RetryPolicy::default();
    bolero::check!().with_iterations(20_000).for_each(|bytes: &[u8]| {
        let answer = answer(bytes);
        let status = answer.status;
        let json: Option<Value> = serde_json::from_str(&answer.body).ok();
        let delivered = status == 303
            || (200..300).contains(&status)
                && json.as_ref().and_then(|j| j.get("ok")).and_then(Value::as_bool) != Some(false);
        match judge(Ok(answer), &policy, 1, &secrets) {
            Verdict::Sent(_) => assert!(delivered, "{status}"),
            Verdict::ParseEntities(description) => {
                assert_eq!(status, 400);
                assert!(description.to_lowercase().contains("can't parse entities"));
                check_reason(&description);
            }
            Verdict::Migrate(chat) => {
                assert_eq!(status, 400);
                assert!(chat.parse::<i64>().is_ok(), "{chat:?}");
            }
            Verdict::Step(Step::Retry { problem, reason, .. }) => {
                assert!(!delivered);
                check_reason(&reason);
                assert_ne!(problem, Problem::FloodControl);
                assert!((500..600).contains(&status) || (200..300).contains(&status), "{status}");
            }
            Verdict::Step(Step::Flood { reason, after }) => {
                assert_eq!(status, 429);
                check_reason(&reason);
                assert!(after <= http::MAX_FLOOD_WAIT, "{after:?}");
            }
            Verdict::Step(Step::Fail { problem, reason }) => {
                assert!(!delivered);
                check_reason(&reason);
                match status {
                    401 | 404 => assert_eq!(problem, Problem::Unauthorized),
                    403 => assert_eq!(problem, Problem::Forbidden),
                    _ => assert_eq!(problem, Problem::Rejected),
                }
            }
            Verdict::Step(Step::Done(_) | Step::Again) => panic!("judge never decides these"),
        }
    });
}

type RateState = BTreeMap<String, Value>;

const NOW: f64 = 1_800_000_000.0;

/// Any `alert-rate.json` (the Python kit rewrites it in place, unlocked): one that is not a JSON
/// object is a typed `Corrupt` error and left untouched; otherwise the decision follows the
/// topic's time, a limited alert writes nothing, and an admitted one records its topic and
/// keeps every other entry except numbers older than the retention.
#[test]
fn alert_rate() {
    let scratch = test_support::scratch_dir();
    bolero::check!().with_iterations(2_000).for_each(|bytes: &[u8]| {
        let dir = tempfile::tempdir_in(scratch.path()).unwrap();
        let path = dir.path().join("alert-rate.json");
        fs::write(&path, bytes).unwrap();
        let rate = RateLimit::new(&path, std::time::Duration::from_secs(300));
        let before = serde_json::from_slice::<RateState>(bytes);
        let checked = rate.check("api", NOW);
        let Ok(before) = before else {
            assert!(matches!(checked, Err(AlertError::State(StateError::Corrupt { .. }))), "{checked:?}");
            // Admitting would set the file aside after a 20 ms grace (tested in rate.rs); here
            // it is enough that nothing touched it.
            assert_eq!(fs::read(&path).unwrap(), bytes);
            return;
        };
        let limited = checked.unwrap();
        let last = before.get("api").and_then(Value::as_f64);
        assert_eq!(limited.is_some(), last.is_some_and(|t| (NOW - t).abs() < 300.0), "{last:?}");
        let mut accepted = 0;
        let mut warnings = Vec::new();
        let admitted = rate
            .admit("api", NOW, &mut warnings, || {
                accepted += 1;
                Ok(())
            })
            .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        if limited.is_some() {
            assert_eq!(admitted, limited);
            assert_eq!(accepted, 0);
            assert_eq!(fs::read(&path).unwrap(), bytes, "a limited alert writes nothing");
            return;
        }
        assert_eq!((admitted, accepted), (None, 1));
        let after: RateState = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(after.get("api").and_then(Value::as_f64), Some(NOW));
        for (topic, value) in before.iter().filter(|(t, _)| *t != "api") {
            let expired = value.as_f64().is_some_and(|t| NOW - t >= rate.retention());
            assert_eq!(after.get(topic), (!expired).then_some(value), "{topic:?}");
        }
        assert_eq!(after.len(), 1 + before.keys().filter(|t| *t != "api" && after.contains_key(*t)).count());
    });
}

/// Any outbox file (lines of every version, events that do not parse): reading never fails; a
/// change keeps every entry that parses, in order, and moves every line that does not to
/// `alert-outbox.jsonl.bad` with a warning, so nothing is dropped and the next change finds a
/// clean file; and the flush's plan settles every entry in exactly one message, each note as
/// itself.
#[test]
fn outbox() {
    let scratch = test_support::scratch_dir();
    bolero::check!().with_iterations(2_000).for_each(|bytes: &[u8]| {
        let dir = tempfile::tempdir_in(scratch.path()).unwrap();
        let outbox = Outbox {
            lock_timeout: Duration::from_secs(5),
            ..Outbox::new(dir.path().join("alert-outbox.jsonl"))
        };
        fs::write(&outbox.path, bytes).unwrap();
        let text = String::from_utf8_lossy(bytes);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let parsed: Vec<Option<Entry>> = lines.iter().map(|l| serde_json::from_str(l).ok()).collect();
        // An id already taken is told apart (`~2`, `~3` ...), as the outbox does.
        let mut good: Vec<Entry> = Vec::new();
        for e in parsed.iter().flatten() {
            let taken = |id: &str| good.iter().any(|g: &Entry| g.id == id);
            let id = if taken(&e.id) {
                let n = (2..=good.len() + 2).find(|n| !taken(&format!("{}~{n}", e.id))).unwrap();
                format!("{}~{n}", e.id)
            } else {
                e.id.clone()
            };
            good.push(Entry { id, ..e.clone() });
        }
        let bad: Vec<&str> =
            lines.iter().zip(&parsed).filter(|(_, p)| p.is_none()).map(|(l, _)| *l).collect();

        assert_eq!(outbox.entries().unwrap(), good);
        let mut warnings = Vec::new();
        let seen = outbox.modify(&mut warnings, |entries| entries.clone()).unwrap();
        assert_eq!(seen, good);
        assert_eq!(warnings.len(), usize::from(!bad.is_empty()), "{warnings:?}");
        let set_aside = fs::read_to_string(outbox.bad_lines_path()).unwrap_or_default();
        assert_eq!(set_aside, bad.iter().flat_map(|l| [*l, "\n"]).collect::<String>());
        assert_eq!(outbox.entries().unwrap(), good, "the rewrite keeps every entry, in order");
        let messages = crate::fold::plan(&good);
        assert_eq!(messages.iter().map(|m| m.ids.len()).sum::<usize>(), good.len(), "{messages:?}");
        for m in &messages {
            assert!(!m.ids.is_empty());
            if m.note {
                let e = good.iter().find(|e| e.id == m.ids[0]).unwrap();
                assert_eq!(m.alert.as_ref(), Some(&e.alert));
            }
        }

        // The file is clean now: removing the first entry keeps the rest and sets nothing aside.
        let mut warnings = Vec::new();
        outbox
            .modify(&mut warnings, |entries| {
                if !entries.is_empty() {
                    entries.remove(0);
                }
            })
            .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(outbox.entries().unwrap(), good.iter().skip(1).cloned().collect::<Vec<_>>());
        assert_eq!(fs::read_to_string(outbox.bad_lines_path()).unwrap_or_default(), set_aside);
    });
}
