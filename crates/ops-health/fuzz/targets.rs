//! Fuzz targets for every place ops-health turns outside bytes into data: the nameserver line
//! of /etc/resolv.conf, a DNS server's answer, a condition of services.json with the body it is
//! evaluated against, and a plugin's output. Under bolero: `cargo xtask fuzz resolv_conf
//! dns_answer condition plugin_output` runs them under libFuzzer; `cargo test` replays their
//! corpus (`fuzz/__fuzz__/`) and random inputs.

use std::net::IpAddr;

use crate::conditions::{Condition, Facts};
use crate::dns_check::{RecordType, first_nameserver, read_response};
use crate::perfdata::{MAX_VALUES, PerfValue, parse_output, parse_perfdata};

/// Any resolv.conf: the nameserver found is the address on the first line that names one as
/// glibc reads it (an oracle written apart), and nothing panics.
#[test]
fn resolv_conf() {
    bolero::check!().with_iterations(20_000).for_each(|bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        let found = first_nameserver(&text);
        let oracle = text.lines().find_map(|line| {
            let mut words = line.splitn(2, [' ', '\t']);
            if words.next()? != "nameserver" {
                return None;
            }
            let word = words.next()?.trim_start_matches([' ', '\t']).split([' ', '\t', '#', ';']).next()?;
            let (address, scope) = match word.find('%') {
                Some(i) => (&word[..i], Some(&word[i + 1..])),
                None => (word, None),
            };
            let ip = address.parse::<IpAddr>().ok()?;
            match scope {
                None => Some(ip),
                Some(s) if ip.is_ipv6() && !s.is_empty() => Some(ip),
                Some(_) => None,
            }
        });
        assert_eq!(found.map(|(ip, _)| ip), oracle, "{text:?}");
        if let Some((ip, Some(scope))) = found {
            assert!(ip.is_ipv6() && !scope.is_empty());
        }
    });
}

/// The question name of a message, read by hand (so that the target asks the question the
/// message answers); `api.test` when there is none.
fn question_name(bytes: &[u8]) -> String {
    let mut labels = Vec::new();
    let mut i = 12;
    while let Some(&len) = bytes.get(i) {
        if len == 0 || len > 63 {
            break;
        }
        let Some(label) = bytes.get(i + 1..i + 1 + usize::from(len)) else { break };
        labels.push(String::from_utf8_lossy(label).into_owned());
        i += 1 + usize::from(len);
    }
    if labels.is_empty() { "api.test".to_owned() } else { labels.join(".") }
}

/// Any datagram a server (or anyone) sends: it is read or refused without a panic; what is
/// taken as the answer is a response, and a message whose id is not ours is never taken
/// (a truncated one only sends the query again over TCP, where the same rule holds).
#[test]
fn dns_answer() {
    bolero::check!().with_iterations(20_000).for_each(|bytes: &[u8]| {
        let id = bytes.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        let name = question_name(bytes);
        for &kind in RecordType::ALL {
            if read_response(bytes, id, &name, kind).is_ok() {
                assert!(bytes.len() >= 12 && bytes[2] & 0x80 != 0, "not a response: {bytes:?}");
            }
            if let Ok(r) = read_response(bytes, id.wrapping_add(1), &name, kind) {
                panic!("a message with another id was taken: {r:?} from {bytes:?}");
            }
        }
    });
}

/// Any condition (the first line) against any body (the rest): it parses or says where it
/// does not (a position within the text); one that parses evaluates without a panic, with or
/// without a response, and one that held is shown as written.
#[test]
fn condition() {
    bolero::check!().with_iterations(20_000).for_each(|bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        let (condition, body) = text.split_once('\n').unwrap_or((&text, ""));
        match Condition::parse(condition) {
            Ok(c) => {
                assert_eq!(c.text(), condition);
                let mut facts = Facts::new(200, 12, true);
                facts.body = Some(body.as_bytes());
                facts.cert_expiration_ms = 86_400_000;
                for f in [facts, Facts::new(0, 3, false)] {
                    let r = c.evaluate(&f, &|s| s.to_owned());
                    if r.success {
                        assert_eq!(r.condition, condition);
                    }
                }
            }
            Err(crate::HealthError::Condition { position, reason }) => {
                assert!(
                    position >= 1 && position <= condition.chars().count().min(1000) + 1,
                    "{position} {reason}"
                );
                assert!(!reason.is_empty());
            }
            Err(e) => panic!("parse never gives {e:?}"),
        }
    });
}

/// A value written back in the guidelines' syntax, its label quoted with `''` for a quote.
fn write(v: &PerfValue) -> String {
    let num = |n: Option<f64>| n.map(|n| format!("{n}")).unwrap_or_default();
    let value = v.value.map_or_else(|| "U".to_owned(), |n| format!("{n}{}", v.uom));
    format!(
        "'{}'={value};{};{};{};{}",
        v.label.replace('\'', "''"),
        v.warn.as_deref().unwrap_or_default(),
        v.crit.as_deref().unwrap_or_default(),
        num(v.min),
        num(v.max)
    )
}

/// Any stdout: no panic; the text is one line without `|`; at most [`MAX_VALUES`] values, each
/// label once, non-empty, every number finite; blank performance data gives nothing, and
/// anything else gives a value or a problem; and the values, written back, parse to themselves.
#[test]
fn plugin_output() {
    bolero::check!().with_iterations(20_000).for_each(|bytes: &[u8]| {
        let stdout = String::from_utf8_lossy(bytes);
        let out = parse_output(&stdout);
        assert!(!out.text.contains(['|', '\n']), "{:?}", out.text);
        assert!(out.perfdata.len() <= MAX_VALUES);
        for (i, v) in out.perfdata.iter().enumerate() {
            assert!(!v.label.is_empty());
            assert!(out.perfdata[..i].iter().all(|w| w.label != v.label), "{:?} twice", v.label);
            assert!([v.value, v.min, v.max].iter().flatten().all(|n| n.is_finite()), "{v:?}");
        }
        let perf = stdout.split_once('|').map(|(_, p)| p).unwrap_or_default();
        let (values, problems) = parse_perfdata(perf);
        if perf.trim().is_empty() {
            assert!(values.is_empty() && problems.is_empty());
        } else if !perf.contains(['\n', '\r']) {
            assert!(!values.is_empty() || !problems.is_empty(), "{perf:?} vanished");
        }
        let again: Vec<String> = out.perfdata.iter().map(write).collect();
        let (reparsed, problems) = parse_perfdata(&again.join(" "));
        assert!(problems.is_empty(), "{again:?}: {problems:?}");
        assert_eq!(reparsed, out.perfdata, "{again:?}");
    });
}
