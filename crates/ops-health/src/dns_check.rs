//! The `dns` check: one query to one server over a std UDP socket by the check's deadline,
//! again over TCP when the answer is truncated, and the answer judged.
//!
//! The query goes from a random source port (the system's choice) with a random id, on a
//! socket connected to the server (the system drops datagrams from anyone else); an answer
//! counts only when its id, its response flag and its question are ours, so a stray or
//! spoofed datagram, or bytes that are not DNS, are counted and ignored, never believed. The
//! query is sent again a third and two thirds into the timeout, as resolvers do, so one lost
//! datagram is not an outage. Messages are read and written by simple-dns (no I/O of its own);
//! a message whose counts promise more records than its bytes could hold is refused before it
//! is parsed. Without a server, the first `nameserver` of /etc/resolv.conf is asked (127.0.0.1
//! when there is none, as glibc does).

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, TcpStream, UdpSocket};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use simple_dns::rdata::RData;
use simple_dns::{CLASS, Name, OPCODE, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, TYPE};

use crate::deadline::{Deadline, Deadlined};
use crate::net::{io_failure, resource_words};
use crate::{CheckKind, CheckResult, Failure, FailureKind, HealthError, Outcome, dns, millis, secs};

/// The file the system resolver is configured by.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// At most this much of /etc/resolv.conf is read.
const RESOLV_CONF_LIMIT: u64 = 64 * 1024;

/// Values shown in a detail before `and N more`.
const SHOWN_VALUES: usize = 5;

/// A DNS check: the records of one type for one name, from one server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DnsCheck {
    /// The name to look up (`api.example.com`; for PTR, `4.3.2.1.in-addr.arpa`).
    pub query: String,
    /// The record type asked for. Default A.
    pub record_type: RecordType,
    /// The server: `host:port`, `address`, `[v6 address]:port` (port 53 when left out);
    /// `None` asks the first nameserver of /etc/resolv.conf.
    pub server: Option<String>,
    /// Every one of these must be in the answer (addresses compared as addresses, names
    /// without case or the final dot, MX as `host` or `preference host`, SRV as `target` or
    /// `priority weight port target`, TXT exactly).
    pub expected: Vec<String>,
    /// The whole check, retries and TCP included, ends within this. Default 5 s.
    pub timeout: Duration,
}

impl DnsCheck {
    /// A query for `record_type` records of `query`, from the system's nameserver, within 5 s.
    pub fn new(query: impl Into<String>, record_type: RecordType) -> Self {
        Self {
            query: query.into(),
            record_type,
            server: None,
            expected: Vec::new(),
            timeout: Duration::from_secs(5),
        }
    }

    /// The first problem with the check's values (`query`, `server` or `expected`), if any: a
    /// check built from them would fail every time.
    pub fn validate(&self) -> Result<(), HealthError> {
        let invalid = |field, reason: String| HealthError::Invalid { field, reason };
        check_name(&self.query).map_err(|r| invalid("query", r))?;
        if let Some(server) = &self.server {
            parse_server(server).map_err(|r| invalid("server", r))?;
        }
        for (i, value) in self.expected.iter().enumerate() {
            self.record_type
                .check_expected(value)
                .map_err(|r| invalid("expected", format!("item {i}: {r}")))?;
        }
        Ok(())
    }
}

/// The record types a DNS check asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordType {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
    /// An alias.
    Cname,
    /// Mail exchangers.
    Mx,
    /// Text.
    Txt,
    /// Name servers.
    Ns,
    /// A pointer (reverse lookups).
    Ptr,
    /// Services.
    Srv,
}

impl RecordType {
    /// Every type, as the documentation lists them.
    pub const ALL: &'static [RecordType] =
        &[Self::A, Self::Aaaa, Self::Cname, Self::Mx, Self::Txt, Self::Ns, Self::Ptr, Self::Srv];

    /// The type's name: `A`, `AAAA` ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Cname => "CNAME",
            Self::Mx => "MX",
            Self::Txt => "TXT",
            Self::Ns => "NS",
            Self::Ptr => "PTR",
            Self::Srv => "SRV",
        }
    }

    fn wire(self) -> TYPE {
        match self {
            Self::A => TYPE::A,
            Self::Aaaa => TYPE::AAAA,
            Self::Cname => TYPE::CNAME,
            Self::Mx => TYPE::MX,
            Self::Txt => TYPE::TXT,
            Self::Ns => TYPE::NS,
            Self::Ptr => TYPE::PTR,
            Self::Srv => TYPE::SRV,
        }
    }

    /// Why `value` can never be in an answer of this type, if it cannot.
    fn check_expected(self, value: &str) -> Result<(), String> {
        let words: Vec<&str> = value.split_whitespace().collect();
        match self {
            Self::A => {
                value.parse::<Ipv4Addr>().map(drop).map_err(|_| format!("{value:?} is not an IPv4 address"))
            }
            Self::Aaaa => {
                value.parse::<Ipv6Addr>().map(drop).map_err(|_| format!("{value:?} is not an IPv6 address"))
            }
            Self::Txt => Ok(()),
            Self::Cname | Self::Ns | Self::Ptr => check_name(value),
            Self::Mx => match words.as_slice() {
                [host] => check_name(host),
                [preference, host] if preference.parse::<u16>().is_ok() => check_name(host),
                _ => Err(format!("{value:?} is not `host` or `preference host`")),
            },
            Self::Srv => match words.as_slice() {
                [target] => check_name(target),
                [a, b, c, target] if [a, b, c].iter().all(|n| n.parse::<u16>().is_ok()) => check_name(target),
                _ => Err(format!("{value:?} is not `target` or `priority weight port target`")),
            },
        }
    }
}

impl std::fmt::Display for RecordType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordType {
    type Err = HealthError;

    /// A type by its name, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.iter().copied().find(|t| t.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            HealthError::Invalid {
                field: "record_type",
                reason: format!(
                    "{:?} is not a record type agent-ops asks for (known: {})",
                    s.chars().take(20).collect::<String>(),
                    Self::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
                ),
            }
        })
    }
}

/// What a DNS server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DnsAnswer {
    /// The server asked.
    pub server: SocketAddr,
    /// The response code: `NOERROR`, `NXDOMAIN`, `SERVFAIL`, `REFUSED` ...
    pub rcode: String,
    /// The records of the type asked for, as text (`10.1.2.3`, `10 mail.example.com`).
    pub records: Vec<String>,
    /// Whether the answer came over TCP (the UDP one was truncated).
    pub tcp: bool,
}

/// Why `name` cannot be asked for: an ASCII name of labels of 1 to 63 characters, at most 253
/// in all (a final dot allowed).
fn check_name(name: &str) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err("must not be empty".into());
    }
    if !bare.is_ascii() {
        return Err(format!("{name:?} is not ASCII (write an internationalized name in its xn-- form)"));
    }
    if bare.len() > 253 {
        return Err(format!("is {} characters long, more than a DNS name may be (253)", bare.len()));
    }
    if let Some(bad) = bare.chars().find(|c| c.is_ascii_whitespace() || c.is_ascii_control() || *c == '\\') {
        return Err(format!("{name:?} holds {bad:?}, which no DNS name does"));
    }
    if let Some(label) = bare.split('.').find(|l| l.is_empty() || l.len() > 63) {
        return Err(format!("{name:?} has a label of {} characters (1 to 63 allowed)", label.len()));
    }
    Ok(())
}

/// `host:port`, `[v6]:port`, `[v6]`, a bare IPv6 address or `host` (port 53).
pub(crate) fn parse_server(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("{s:?} is not `host:port` or an address (like 192.0.2.53:53 or [2001:db8::53]:53)");
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else if s.matches(':').count() > 1 {
        (s, None)
    } else {
        match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    let port = match port {
        None => 53,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("{p:?} is not a port (1 to 65535)"))?,
    };
    if s.starts_with('[') || s.matches(':').count() > 1 {
        host.parse::<Ipv6Addr>().map_err(|_| format!("{host:?} is not an IPv6 address"))?;
    } else {
        check_name(host).map_err(|_| bad())?;
    }
    Ok((host.to_owned(), port))
}

/// The first usable `nameserver` of a resolv.conf, as glibc reads it: the keyword at the start
/// of a line, then blanks, then an address (IPv6 with an optional `%scope`); comment lines
/// start with `#` or `;`. The scope is returned as written.
pub(crate) fn first_nameserver(text: &str) -> Option<(IpAddr, Option<&str>)> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix("nameserver")?;
        if !rest.starts_with([' ', '\t']) {
            return None;
        }
        let word = rest.trim_start_matches([' ', '\t']).split([' ', '\t', '#', ';']).next()?;
        let (address, scope) = match word.split_once('%') {
            Some((a, scope)) if !scope.is_empty() => (a, Some(scope)),
            Some(_) => return None,
            None => (word, None),
        };
        match address.parse::<IpAddr>().ok()? {
            IpAddr::V4(_) if scope.is_some() => None,
            ip => Some((ip, scope)),
        }
    })
}

/// The system's nameserver: /etc/resolv.conf's first, on port 53; 127.0.0.1 when the file
/// names none or cannot be read (glibc's default). A link-local IPv6 address's `%scope` is
/// an interface name or index.
fn system_server() -> SocketAddr {
    let text = std::fs::File::open(RESOLV_CONF)
        .and_then(|f| {
            let mut text = String::new();
            f.take(RESOLV_CONF_LIMIT).read_to_string(&mut text).map(|_| text)
        })
        .unwrap_or_default();
    match first_nameserver(&text) {
        Some((IpAddr::V6(ip), Some(scope))) => {
            let index = scope.parse::<u32>().ok().or_else(|| interface_index(scope)).unwrap_or(0);
            SocketAddr::V6(SocketAddrV6::new(ip, 53, 0, index))
        }
        Some((ip, _)) => SocketAddr::new(ip, 53),
        None => SocketAddr::from((Ipv4Addr::LOCALHOST, 53)),
    }
}

/// An interface's index by its name, from /sys (Linux).
fn interface_index(name: &str) -> Option<u32> {
    if name.is_empty() || name.contains(['/', '.']) {
        return None;
    }
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex")).ok()?.trim().parse().ok()
}

/// A 16-bit number no one off the path can guess: SipHash keyed by the process's random
/// hasher keys, over a counter.
fn random_u16() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish() as u16
}

/// One record of an answer, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub kind: TYPE,
    pub value: Value,
}

/// A record's data, as compared and shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Ip(IpAddr),
    Name(String),
    Mx(u16, String),
    Srv(u16, u16, u16, String),
    Text(String),
    Other,
}

impl Value {
    fn shown(&self) -> String {
        match self {
            Self::Ip(ip) => ip.to_string(),
            Self::Name(n) | Self::Text(n) => n.clone(),
            Self::Mx(p, host) => format!("{p} {host}"),
            Self::Srv(p, w, port, target) => format!("{p} {w} {port} {target}"),
            Self::Other => String::new(),
        }
    }

    /// Whether an `expected` value is this one.
    fn is(&self, expected: &str) -> bool {
        let name_eq =
            |a: &str, b: &str| a.trim_end_matches('.').eq_ignore_ascii_case(b.trim_end_matches('.'));
        let words: Vec<&str> = expected.split_whitespace().collect();
        match self {
            Self::Ip(ip) => expected.parse::<IpAddr>().is_ok_and(|e| e == *ip),
            Self::Name(n) => name_eq(n, expected),
            Self::Text(t) => t == expected,
            Self::Mx(p, host) => match words.as_slice() {
                [h] => name_eq(host, h),
                [pref, h] => pref.parse() == Ok(*p) && name_eq(host, h),
                _ => false,
            },
            Self::Srv(priority, weight, port, target) => match words.as_slice() {
                [name] => name_eq(target, name),
                [p, w, n, name] => {
                    p.parse() == Ok(*priority)
                        && w.parse() == Ok(*weight)
                        && n.parse() == Ok(*port)
                        && name_eq(target, name)
                }
                _ => false,
            },
            Self::Other => false,
        }
    }
}

/// A response that answers our query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub rcode: RCODE,
    pub truncated: bool,
    pub answers: Vec<Record>,
}

/// Why a message was not taken as the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// Not a DNS message.
    Malformed,
    /// A DNS message, but not the answer to this query.
    Stray,
}

/// The query: `id`, recursion desired, one question.
fn query(id: u16, name: &str, kind: RecordType) -> Result<Vec<u8>, String> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    let qname =
        Name::new(name.strip_suffix('.').unwrap_or(name)).map_err(|e| format!("invalid name: {e}"))?;
    packet.questions.push(Question::new(qname, QTYPE::TYPE(kind.wire()), QCLASS::CLASS(CLASS::IN), false));
    packet.build_bytes_vec().map_err(|e| format!("cannot build the query: {e}"))
}

/// Reads `bytes` as the answer to query `id` for `name`/`kind`: the message must parse, be a
/// response to a standard query with our id, and carry our question (names compared without
/// case). Counts that promise more than the bytes can hold are refused before parsing (a
/// 12-byte message could otherwise have the parser reserve room for 65,535 records).
pub(crate) fn read_response(
    bytes: &[u8],
    id: u16,
    name: &str,
    kind: RecordType,
) -> Result<Response, Rejected> {
    let Some(header) = bytes.get(..12) else { return Err(Rejected::Malformed) };
    let count = |i: usize| usize::from(u16::from_be_bytes([header[i], header[i + 1]]));
    // A question takes at least 5 bytes (a root name, type, class), a record at least 11.
    if count(4) * 5 + (count(6) + count(8) + count(10)) * 11 > bytes.len() - 12 {
        return Err(Rejected::Malformed);
    }
    let truncated_header =
        || u16::from_be_bytes([header[0], header[1]]) == id && header[2] & 0x80 != 0 && header[2] & 0x02 != 0;
    let packet = match Packet::parse(bytes) {
        Ok(p) => p,
        // A truncated answer may be cut inside a record: its header is all we need.
        Err(_) if truncated_header() => {
            return Ok(Response {
                rcode: RCODE::from(u16::from(header[3] & 0x0f)),
                truncated: true,
                answers: Vec::new(),
            });
        }
        Err(_) => return Err(Rejected::Malformed),
    };
    let ours = packet.id() == id
        && packet.has_flags(PacketFlag::RESPONSE)
        && packet.opcode() == OPCODE::StandardQuery
        && packet.questions.len() == 1
        && packet.questions[0].qtype == QTYPE::TYPE(kind.wire())
        && packet.questions[0].qclass == QCLASS::CLASS(CLASS::IN)
        && packet.questions[0]
            .qname
            .to_string()
            .trim_end_matches('.')
            .eq_ignore_ascii_case(name.trim_end_matches('.'));
    if !ours {
        return Err(Rejected::Stray);
    }
    let answers = packet
        .answers
        .iter()
        .map(|rr| Record {
            kind: rr.rdata.type_code(),
            value: match &rr.rdata {
                RData::A(a) => Value::Ip(IpAddr::V4(Ipv4Addr::from(a.address))),
                RData::AAAA(a) => Value::Ip(IpAddr::V6(Ipv6Addr::from(a.address))),
                RData::CNAME(n) => Value::Name(name_text(&n.0)),
                RData::NS(n) => Value::Name(name_text(&n.0)),
                RData::PTR(n) => Value::Name(name_text(&n.0)),
                RData::MX(mx) => Value::Mx(mx.preference, name_text(&mx.exchange)),
                RData::SRV(srv) => Value::Srv(srv.priority, srv.weight, srv.port, name_text(&srv.target)),
                RData::TXT(txt) => Value::Text(match String::try_from(txt.clone()) {
                    Ok(s) => printable(&s),
                    Err(e) => printable(&String::from_utf8_lossy(e.as_bytes())),
                }),
                _ => Value::Other,
            },
        })
        .collect();
    Ok(Response { rcode: packet.rcode(), truncated: packet.has_flags(PacketFlag::TRUNCATION), answers })
}

fn name_text(name: &Name<'_>) -> String {
    printable(&name.to_string())
}

/// A server's text fit for a one-line detail: control characters escaped.
fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

fn rcode_word(rcode: RCODE) -> &'static str {
    match rcode {
        RCODE::NoError => "NOERROR",
        RCODE::FormatError => "FORMERR",
        RCODE::ServerFailure => "SERVFAIL",
        RCODE::NameError => "NXDOMAIN",
        RCODE::NotImplemented => "NOTIMP",
        RCODE::Refused => "REFUSED",
        RCODE::YXDOMAIN => "YXDOMAIN",
        RCODE::YXRRSET => "YXRRSET",
        RCODE::NXRRSET => "NXRRSET",
        RCODE::NOTAUTH => "NOTAUTH",
        RCODE::NOTZONE => "NOTZONE",
        RCODE::BADVERS => "BADVERS",
        RCODE::Reserved => "an unknown code",
    }
}

/// Messages seen and not taken, for the detail of a check that then timed out.
#[derive(Debug, Default)]
struct Ignored {
    stray: usize,
    malformed: usize,
}

impl Ignored {
    fn note(&mut self, r: Rejected) {
        match r {
            Rejected::Stray => self.stray += 1,
            Rejected::Malformed => self.malformed += 1,
        }
    }

    fn words(&self) -> String {
        let mut parts = Vec::new();
        if self.stray > 0 {
            parts.push(format!("{} answer(s) to another query", self.stray));
        }
        if self.malformed > 0 {
            parts.push(format!("{} message(s) that were not DNS", self.malformed));
        }
        if parts.is_empty() { String::new() } else { format!(" (ignored {})", parts.join(" and ")) }
    }
}

/// The dns check.
pub(crate) fn check_dns(name: &str, check: &DnsCheck) -> CheckResult {
    let start = Instant::now();
    let deadline = Deadline::after(check.timeout);
    let outcome = ask(check, deadline);
    let latency_ms = millis(start.elapsed());
    let mut result = match outcome {
        Err(f) => CheckResult::failed(name, CheckKind::Dns, f),
        Ok((server, response, tcp)) => {
            let (outcome, detail) = judge(check, server, &response);
            let mut r = CheckResult::new(name, CheckKind::Dns, outcome, detail);
            let wanted = check.record_type.wire();
            r.dns = Some(DnsAnswer {
                server,
                rcode: rcode_word(response.rcode).to_owned(),
                records: response
                    .answers
                    .iter()
                    .filter(|a| a.kind == wanted)
                    .map(|a| a.value.shown())
                    .collect(),
                tcp,
            });
            r
        }
    };
    result.latency_ms = latency_ms;
    result
}

/// The server, its answer, and whether it came over TCP.
fn ask(check: &DnsCheck, deadline: Deadline) -> Result<(SocketAddr, Response, bool), Failure> {
    let server = match &check.server {
        None => system_server(),
        Some(s) => {
            let (host, port) = parse_server(s)
                .map_err(|r| Failure::down(FailureKind::Dns, format!("invalid server: {r}")))?;
            *dns::resolve(&host, port, deadline)?
                .first()
                .ok_or_else(|| Failure::down(FailureKind::Dns, format!("cannot resolve the server {host}")))?
        }
    };
    let id = random_u16();
    let message = query(id, &check.query, check.record_type)
        .map_err(|r| Failure::down(FailureKind::Dns, format!("cannot ask for {:?}: {r}", check.query)))?;
    let response = over_udp(server, &message, id, check, deadline)?;
    if !response.truncated {
        return Ok((server, response, false));
    }
    let response = over_tcp(server, &message, id, check, deadline)?;
    Ok((server, response, true))
}

fn over_udp(
    server: SocketAddr,
    message: &[u8],
    id: u16,
    check: &DnsCheck,
    deadline: Deadline,
) -> Result<Response, Failure> {
    let local: SocketAddr =
        if server.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
    let fail = |e: &io::Error| io_failure(e, deadline);
    let sock = UdpSocket::bind(local).map_err(|e| fail(&e))?;
    sock.connect(server).map_err(|e| refused_or(server, &e, deadline))?;
    let resend_every = (deadline.timeout() / 3).max(Duration::from_millis(100));
    let mut sent = 0;
    let mut next_send = Instant::now();
    let mut ignored = Ignored::default();
    let mut buf = vec![0u8; 65_535];
    loop {
        if sent < 3 && Instant::now() >= next_send {
            sock.send(message).map_err(|e| refused_or(server, &e, deadline))?;
            sent += 1;
            next_send += resend_every;
        }
        let left = deadline.left();
        if left.is_zero() {
            return Err(Failure::down(
                FailureKind::Timeout,
                format!("no answer from {server} within {}{}", secs(deadline.timeout()), ignored.words()),
            ));
        }
        let wait =
            if sent < 3 { left.min(next_send.saturating_duration_since(Instant::now())) } else { left };
        sock.set_read_timeout(Some(wait.max(Duration::from_millis(1)))).map_err(|e| fail(&e))?;
        match sock.recv(&mut buf) {
            Ok(n) => match read_response(&buf[..n], id, &check.query, check.record_type) {
                Ok(response) => return Ok(response),
                Err(why) => ignored.note(why),
            },
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(refused_or(server, &e, deadline)),
        }
    }
}

/// ICMP port unreachable comes back as a refused connection: no DNS server at that port.
fn refused_or(server: SocketAddr, e: &io::Error, deadline: Deadline) -> Failure {
    if resource_words(e).is_none() && e.kind() == io::ErrorKind::ConnectionRefused {
        return Failure::down(
            FailureKind::Connect,
            format!("no DNS server at {server} (connection refused)"),
        );
    }
    let f = io_failure(e, deadline);
    if f.outcome.is_unknown() {
        return f;
    }
    Failure { detail: format!("{server}: {}", f.detail), ..f }
}

fn over_tcp(
    server: SocketAddr,
    message: &[u8],
    id: u16,
    check: &DnsCheck,
    deadline: Deadline,
) -> Result<Response, Failure> {
    let tcp_failure = |e: &io::Error| {
        let f = refused_or(server, e, deadline);
        if f.outcome.is_unknown() {
            f
        } else {
            Failure { detail: format!("answer truncated, over TCP: {}", f.detail), ..f }
        }
    };
    if deadline.passed() {
        return Err(tcp_failure(&io::Error::from(io::ErrorKind::TimedOut)));
    }
    let sock = TcpStream::connect_timeout(&server, deadline.left()).map_err(|e| tcp_failure(&e))?;
    let mut io = Deadlined { sock: &sock, deadline };
    let length = u16::try_from(message.len()).unwrap_or(u16::MAX).to_be_bytes();
    io.write_all(&[&length[..], message].concat()).map_err(|e| tcp_failure(&e))?;
    let mut length = [0u8; 2];
    io.read_exact(&mut length).map_err(|e| tcp_failure(&e))?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(length))];
    io.read_exact(&mut answer).map_err(|e| tcp_failure(&e))?;
    match read_response(&answer, id, &check.query, check.record_type) {
        Ok(r) => Ok(Response { truncated: false, ..r }),
        Err(_) => Err(Failure::down(
            FailureKind::Dns,
            format!("answer truncated, and {server}'s answer over TCP was not an answer to the query"),
        )),
    }
}

/// The verdict on an answer: every failure is of kind `dns`, and says which.
fn judge(check: &DnsCheck, server: SocketAddr, response: &Response) -> (Outcome, String) {
    let dns = Outcome::Down(FailureKind::Dns);
    let (query, kind) = (&check.query, check.record_type);
    match response.rcode {
        RCODE::NoError => {}
        RCODE::NameError => return (dns, format!("NXDOMAIN: {query} does not exist (asked {server})")),
        other => return (dns, format!("{} from {server} for {kind} {query}", rcode_word(other))),
    }
    let values: Vec<&Value> =
        response.answers.iter().filter(|a| a.kind == kind.wire()).map(|a| &a.value).collect();
    if values.is_empty() {
        return (dns, format!("no {kind} record for {query} (empty answer from {server})"));
    }
    let shown: Vec<String> = values.iter().map(|v| v.shown()).collect();
    let mut list = shown.iter().take(SHOWN_VALUES).map(String::as_str).collect::<Vec<_>>().join(", ");
    if shown.len() > SHOWN_VALUES {
        let _ = write!(list, " and {} more", shown.len() - SHOWN_VALUES);
    }
    let missing: Vec<&String> = check.expected.iter().filter(|e| !values.iter().any(|v| v.is(e))).collect();
    if !missing.is_empty() {
        let missing = missing.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ");
        return (dns, format!("{missing} not in the {kind} answer for {query} (got {list})"));
    }
    (Outcome::Up, format!("{kind} {query}: {list}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_as_glibc_reads_it() {
        let text = "# comment\n; nameserver 10.0.0.9\n nameserver 10.0.0.8\nnameserverx 1.1.1.1\n\
                    nameserver not-an-address\nnameserver\t127.0.0.53 # stub\nnameserver 10.0.0.1\n";
        assert_eq!(first_nameserver(text), Some(("127.0.0.53".parse().unwrap(), None)));
        assert_eq!(
            first_nameserver("nameserver fe80::1%eth0\n"),
            Some(("fe80::1".parse().unwrap(), Some("eth0")))
        );
        assert_eq!(first_nameserver("nameserver ::1;x\n"), Some(("::1".parse().unwrap(), None)));
        assert_eq!(
            first_nameserver("nameserver 127.0.0.1%eth0\nnameserver 127.0.0.2\n"),
            Some(("127.0.0.2".parse().unwrap(), None))
        );
        assert_eq!(first_nameserver("search example.com\n"), None);
        assert_eq!(first_nameserver(""), None);
    }

    #[test]
    fn servers_are_host_and_port() {
        assert_eq!(parse_server("127.0.0.1:5353"), Ok(("127.0.0.1".into(), 5353)));
        assert_eq!(parse_server("127.0.0.1"), Ok(("127.0.0.1".into(), 53)));
        assert_eq!(parse_server("[::1]:53"), Ok(("::1".into(), 53)));
        assert_eq!(parse_server("[::1]"), Ok(("::1".into(), 53)));
        assert_eq!(parse_server("::1"), Ok(("::1".into(), 53)));
        assert_eq!(parse_server("ns1.example.com:53"), Ok(("ns1.example.com".into(), 53)));
        for bad in [
            "",
            ":53",
            "127.0.0.1:0",
            "127.0.0.1:99999",
            "[::1",
            "[::1]x",
            "a b:53",
            "[nope]:53",
            "host:port",
        ] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_expected_values_are_checked_when_the_check_is_built() {
        let mut c = DnsCheck::new("api.example.com", RecordType::A);
        c.expected = vec!["10.1.2.3".into()];
        assert_eq!(c.validate(), Ok(()));
        c.expected.push("::1".into());
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid expected: item 1: \"::1\" is not an IPv4 address"
        );
        for bad in ["", ".", "a..b", "bücher.example", "a b", &"x".repeat(64)] {
            assert!(DnsCheck::new(bad, RecordType::A).validate().is_err(), "{bad}");
        }
        assert!(RecordType::Mx.check_expected("10 mail.example.com").is_ok());
        assert!(RecordType::Mx.check_expected("ten mail.example.com").is_err());
        assert!(RecordType::Srv.check_expected("0 5 5060 sip.example.com").is_ok());
        assert_eq!("aaaa".parse::<RecordType>(), Ok(RecordType::Aaaa));
        assert!(
            "ANY"
                .parse::<RecordType>()
                .unwrap_err()
                .to_string()
                .contains("known: A, AAAA, CNAME, MX, TXT, NS, PTR, SRV")
        );
    }

    fn answer(id: u16, name: &str, rdata: RData<'static>) -> Vec<u8> {
        let mut p = Packet::new_reply(id);
        let qname = Name::new_unchecked(name);
        p.questions.push(Question::new(
            qname.clone(),
            QTYPE::TYPE(rdata.type_code()),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        p.answers.push(simple_dns::ResourceRecord::new(qname, CLASS::IN, 60, rdata));
        p.build_bytes_vec().unwrap()
    }

    #[test]
    fn only_the_answer_to_our_question_is_believed() {
        let a = || RData::A(simple_dns::rdata::A { address: 0x0a01_0203 });
        let ok =
            read_response(&answer(7, "api.example.com", a()), 7, "API.example.com.", RecordType::A).unwrap();
        assert_eq!(ok.answers[0].value, Value::Ip("10.1.2.3".parse().unwrap()));
        assert_eq!(
            read_response(&answer(8, "api.example.com", a()), 7, "api.example.com", RecordType::A),
            Err(Rejected::Stray)
        );
        assert_eq!(
            read_response(&answer(7, "evil.example.com", a()), 7, "api.example.com", RecordType::A),
            Err(Rejected::Stray)
        );
        assert_eq!(
            read_response(&answer(7, "api.example.com", a()), 7, "api.example.com", RecordType::Aaaa),
            Err(Rejected::Stray)
        );
        let mut query_not_answer = answer(7, "api.example.com", a());
        query_not_answer[2] &= 0x7f;
        assert_eq!(
            read_response(&query_not_answer, 7, "api.example.com", RecordType::A),
            Err(Rejected::Stray)
        );
        assert_eq!(read_response(b"garbage", 7, "a", RecordType::A), Err(Rejected::Malformed));
        // 12 bytes that promise 65,535 records of every section.
        let greedy = [0, 7, 0x81, 0x80, 255, 255, 255, 255, 255, 255, 255, 255];
        assert_eq!(read_response(&greedy, 7, "a", RecordType::A), Err(Rejected::Malformed));
    }

    #[test]
    fn ids_are_not_a_sequence() {
        let ids: std::collections::HashSet<u16> = (0..16).map(|_| random_u16()).collect();
        assert!(ids.len() > 8, "{ids:?}");
    }
}
