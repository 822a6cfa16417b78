//! The `ping` check: ICMP echo requests (IPv4 and IPv6) by the check's deadline.
//!
//! The socket is Linux's unprivileged ICMP datagram socket (`SOCK_DGRAM`/`IPPROTO_ICMP`,
//! allowed to the groups in `net.ipv4.ping_group_range`), else a raw socket (root or
//! `CAP_NET_RAW`); where the system allows neither, the check is unknown and says so in one
//! sentence, never down. Requests go `interval` apart (1 s, as ping(8), or less so that all
//! are sent in the timeout's first part), each carrying a random cookie; a reply counts only
//! with our cookie and a sequence number we sent and have not seen answered (a raw socket
//! sees every ICMP packet of the host, other checks' included). [`judge`] is the one place a
//! result's loss and round trips become a verdict.

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType, ipproto, recv, sendto, socket};

use crate::deadline::Deadline;
use crate::net::resource_words;
use crate::{CheckKind, CheckResult, Failure, FailureKind, Level, Outcome, Unchecked, dns, millis};

/// The longest gap between two requests.
const MAX_INTERVAL: Duration = Duration::from_secs(1);

/// Bytes after the 8-byte ICMP header: the cookie.
const PAYLOAD: usize = 8;

/// A ping check.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PingCheck {
    /// Host name or address (IPv4 or IPv6).
    pub host: String,
    /// Echo requests to send (1 or more). Default 3.
    pub count: u16,
    /// More lost than this percentage fails, of kind `packet_loss`. Default 0. No reply at all
    /// always fails.
    pub max_loss_percent: f64,
    /// An average round trip above this fails, of kind `latency`.
    pub max_rtt: Option<Duration>,
    /// More lost than this percentage (and no more than `max_loss_percent`) is a warning.
    pub warn_loss_percent: Option<f64>,
    /// An average round trip above this (and not above `max_rtt`) is a warning.
    pub warn_rtt: Option<Duration>,
    /// Every request is sent, and every reply waited for, within this. Default 5 s.
    pub timeout: Duration,
}

impl PingCheck {
    /// Three requests to `host` within 5 s, failing at the first loss.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            count: 3,
            max_loss_percent: 0.0,
            max_rtt: None,
            warn_loss_percent: None,
            warn_rtt: None,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Which kind of socket a ping went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingSocket {
    /// The unprivileged ICMP datagram socket (`net.ipv4.ping_group_range`).
    Datagram,
    /// A raw socket (root or `CAP_NET_RAW`).
    Raw,
}

impl PingSocket {
    /// `datagram` or `raw`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Datagram => "datagram",
            Self::Raw => "raw",
        }
    }
}

/// What a ping check measured.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PingStats {
    /// The address pinged.
    pub address: IpAddr,
    /// Requests sent.
    pub sent: u16,
    /// Replies received.
    pub received: u16,
    /// The shortest, average and longest round trip; `None` without a reply.
    pub rtt: Option<Rtt>,
    /// The socket used.
    pub socket: PingSocket,
}

/// Round trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtt {
    /// The shortest.
    pub min: Duration,
    /// The average.
    pub avg: Duration,
    /// The longest.
    pub max: Duration,
}

impl PingStats {
    /// The share of requests without a reply, in percent (100 when none was sent).
    pub fn loss_percent(&self) -> f64 {
        if self.sent == 0 {
            return 100.0;
        }
        f64::from(self.sent - self.received) * 100.0 / f64::from(self.sent)
    }
}

/// The ping check.
pub(crate) fn check_ping(name: &str, check: &PingCheck) -> CheckResult {
    let deadline = Deadline::after(check.timeout);
    match ping(check, deadline) {
        Err(f) => CheckResult::failed(name, CheckKind::Ping, f),
        Ok((stats, why_lost)) => {
            let (outcome, detail) = judge(check, &stats, why_lost.as_deref());
            let mut r = CheckResult::new(name, CheckKind::Ping, outcome, detail);
            r.latency_ms = stats.rtt.map_or(0, |rtt| millis(rtt.avg));
            r.ping = Some(stats);
            r
        }
    }
}

/// The verdict: no reply fails (kind `connect` when the network said why, `packet_loss`
/// otherwise); more loss than allowed fails (`packet_loss`); a slower average round trip than
/// allowed fails (`latency`); past a warning threshold below those, it is a warning.
pub(crate) fn judge(check: &PingCheck, stats: &PingStats, why_lost: Option<&str>) -> (Outcome, String) {
    let loss = stats.loss_percent();
    let loss_text = if loss.fract() == 0.0 { format!("{loss:.0}%") } else { format!("{loss:.1}%") };
    let mut detail =
        format!("{}: {}/{} replies, {loss_text} packet loss", stats.address, stats.received, stats.sent);
    if let Some(rtt) = stats.rtt {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let _ =
            write!(detail, ", rtt min/avg/max {:.3}/{:.3}/{:.3} ms", ms(rtt.min), ms(rtt.avg), ms(rtt.max));
    }
    if stats.received == 0 {
        return match why_lost {
            Some(why) => (Outcome::Down(FailureKind::Connect), format!("{detail} ({why})")),
            None => (Outcome::Down(FailureKind::PacketLoss), detail),
        };
    }
    let more = |v: f64, t: f64| v > t;
    match Level::of(loss, check.warn_loss_percent, Some(check.max_loss_percent), more) {
        Level::Failed => {
            let why = format!("{detail}, more than max_loss_percent {}", check.max_loss_percent);
            return (Outcome::Down(FailureKind::PacketLoss), why);
        }
        Level::Warning => {
            let why =
                format!("{detail}, more than warn_loss_percent {}", check.warn_loss_percent.unwrap_or(0.0));
            return (Outcome::Warning(FailureKind::PacketLoss), why);
        }
        Level::Ok => {}
    }
    if let Some(rtt) = stats.rtt {
        match Level::of(rtt.avg, check.warn_rtt, check.max_rtt, |v, t| v > t) {
            Level::Failed => {
                let max = check.max_rtt.unwrap_or_default().as_millis();
                return (
                    Outcome::Down(FailureKind::Latency),
                    format!("{detail}, average above max_rtt_ms {max}"),
                );
            }
            Level::Warning => {
                let warn = check.warn_rtt.unwrap_or_default().as_millis();
                return (
                    Outcome::Warning(FailureKind::Latency),
                    format!("{detail}, average above warn_rtt_ms {warn}"),
                );
            }
            Level::Ok => {}
        }
    }
    (Outcome::Up, detail)
}

/// The system's refusal to give a socket: agent-ops' trouble, never the host's.
fn refused(e: Errno) -> Option<Failure> {
    let io = std::io::Error::from_raw_os_error(e.raw_os_error());
    resource_words(&io).map(|words| Failure::unchecked(Unchecked::Resources, words))
}

/// An ICMP socket for `ip`: the datagram kind if allowed, else raw.
fn open(ip: IpAddr) -> Result<(OwnedFd, PingSocket), Failure> {
    let (family, protocol) = match ip {
        IpAddr::V4(_) => (AddressFamily::INET, ipproto::ICMP),
        IpAddr::V6(_) => (AddressFamily::INET6, ipproto::ICMPV6),
    };
    let datagram = match socket(family, SocketType::DGRAM, Some(protocol)) {
        Ok(fd) => return Ok((fd, PingSocket::Datagram)),
        Err(e) => refused(e).map_or(Ok(e), Err)?,
    };
    match socket(family, SocketType::RAW, Some(protocol)) {
        Ok(fd) => Ok((fd, PingSocket::Raw)),
        Err(e) => Err(refused(e).unwrap_or_else(|| {
            Failure::unchecked(
                Unchecked::Forbidden,
                format_args!(
                    "cannot ping here: the system allows neither an ICMP datagram socket ({}; \
                     net.ipv4.ping_group_range must include one of this process's groups) nor a \
                     raw socket ({}; needs root or CAP_NET_RAW)",
                    words(datagram),
                    words(e)
                ),
            )
        })),
    }
}

fn words(e: Errno) -> String {
    crate::net::os_words(&std::io::Error::from_raw_os_error(e.raw_os_error()))
}

/// The echo request `seq` (ICMP or ICMPv6 by `v6`) with `id` and the cookie; the checksum is
/// computed for IPv4 (the kernel computes ICMPv6's, and a datagram socket's).
fn request(v6: bool, id: u16, seq: u16, cookie: u64) -> [u8; 8 + PAYLOAD] {
    let mut m = [0u8; 8 + PAYLOAD];
    m[0] = if v6 { 128 } else { 8 };
    m[4..6].copy_from_slice(&id.to_be_bytes());
    m[6..8].copy_from_slice(&seq.to_be_bytes());
    m[8..].copy_from_slice(&cookie.to_be_bytes());
    if !v6 {
        let sum = checksum(&m);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    m
}

/// The Internet checksum (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 =
        bytes.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What a received packet is to us.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// An echo reply to our request `seq`.
    Echo(u16),
    /// The network says our request cannot arrive.
    Unreachable(&'static str),
    /// Anything else: another check's, our own request seen on the loopback, noise.
    Other,
}

/// Reads a received packet. A raw IPv4 socket gives the IP header first; `id` is checked on
/// raw sockets only (the kernel sets and filters it on datagram sockets).
pub(crate) fn read_reply(packet: &[u8], v6: bool, raw: bool, id: u16, cookie: u64) -> Reply {
    let icmp = if raw && !v6 {
        let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
        if ihl < 20 {
            return Reply::Other;
        }
        packet.get(ihl..).unwrap_or_default()
    } else {
        packet
    };
    let Some(header) = icmp.get(..8) else { return Reply::Other };
    let (kind, code) = (header[0], header[1]);
    let ours = |h: &[u8]| !raw || u16::from_be_bytes([h[4], h[5]]) == id;
    let echo_reply = if v6 { 129 } else { 0 };
    if kind == echo_reply {
        let cookie_ok = icmp.get(8..16).is_some_and(|c| c == cookie.to_be_bytes());
        return if cookie_ok && ours(header) {
            Reply::Echo(u16::from_be_bytes([header[6], header[7]]))
        } else {
            Reply::Other
        };
    }
    // Destination unreachable quotes our packet: the IP header, then our ICMP header.
    let unreachable = if v6 { 1 } else { 3 };
    if raw && kind == unreachable {
        let quoted = if v6 {
            icmp.get(8 + 40..8 + 48)
        } else {
            let ihl = usize::from(icmp.get(8).map_or(0, |b| b & 0x0f)) * 4;
            icmp.get(8 + ihl..8 + ihl + 8).filter(|_| ihl >= 20)
        };
        let request = if v6 { 128 } else { 8 };
        if quoted.is_some_and(|q| q[0] == request && ours(q)) {
            return Reply::Unreachable(match (v6, code) {
                (false | true, 0) => "network unreachable",
                (false, 1) | (true, 3) => "host unreachable",
                (false, 9 | 10 | 13) | (true, 1) => "administratively prohibited",
                _ => "destination unreachable",
            });
        }
    }
    Reply::Other
}

/// Sends the requests and collects the replies by the deadline.
fn ping(check: &PingCheck, deadline: Deadline) -> Result<(PingStats, Option<String>), Failure> {
    let ip = dns::resolve(&check.host, 0, deadline)?
        .first()
        .map(std::net::SocketAddr::ip)
        .ok_or_else(|| Failure::down(FailureKind::Dns, format!("cannot resolve host {}", check.host)))?;
    let (fd, kind) = open(ip)?;
    let (v6, raw) = (ip.is_ipv6(), kind == PingSocket::Raw);
    let mut random = std::hash::RandomState::new().build_hasher();
    random.write(check.host.as_bytes());
    let bits = random.finish();
    let (id, cookie) = (bits as u16, bits.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15);
    let count = check.count.max(1);
    let interval = (deadline.timeout() / (u32::from(count) + 1)).min(MAX_INTERVAL);
    let mut sent_at: Vec<Option<Instant>> = Vec::with_capacity(usize::from(count));
    let mut rtts: Vec<Duration> = Vec::new();
    let mut answered = vec![false; usize::from(count)];
    let mut why_lost: Option<String> = None;
    let mut next_send = Instant::now();
    let mut buf = [0u8; 2048];
    while rtts.len() < usize::from(count) {
        let now = Instant::now();
        if sent_at.len() < usize::from(count) && now >= next_send {
            let seq = sent_at.len() as u16;
            let message = request(v6, id, seq, cookie);
            let sent = match ip {
                IpAddr::V4(a) => sendto(&fd, &message, SendFlags::empty(), &SocketAddrV4::new(a, 0)),
                IpAddr::V6(a) => sendto(&fd, &message, SendFlags::empty(), &SocketAddrV6::new(a, 0, 0, 0)),
            };
            match sent {
                Ok(_) => sent_at.push(Some(Instant::now())),
                Err(e) => {
                    if let Some(f) = refused(e) {
                        return Err(f);
                    }
                    why_lost.get_or_insert_with(|| words(e));
                    sent_at.push(None);
                }
            }
            next_send += interval;
            continue;
        }
        let left = deadline.left();
        if left.is_zero() {
            break;
        }
        let wait = if sent_at.len() < usize::from(count) { left.min(next_send - now) } else { left };
        if rustix::net::sockopt::set_socket_timeout(
            &fd,
            rustix::net::sockopt::Timeout::Recv,
            Some(wait.max(Duration::from_millis(1))),
        )
        .is_err()
        {
            return Err(Failure::unchecked(Unchecked::Resources, "cannot set a socket timeout"));
        }
        match recv(&fd, &mut buf[..], RecvFlags::empty()) {
            Ok((n, _)) => match read_reply(&buf[..n], v6, raw, id, cookie) {
                Reply::Echo(seq) => {
                    let i = usize::from(seq);
                    if let (Some(Some(at)), Some(false)) = (sent_at.get(i), answered.get(i)) {
                        answered[i] = true;
                        rtts.push(at.elapsed());
                    }
                }
                Reply::Unreachable(why) => {
                    why_lost.get_or_insert_with(|| why.to_owned());
                }
                Reply::Other => {}
            },
            Err(Errno::AGAIN | Errno::INTR) => {}
            Err(e) => {
                if let Some(f) = refused(e) {
                    return Err(f);
                }
                why_lost.get_or_insert_with(|| words(e));
            }
        }
    }
    let rtt = (!rtts.is_empty()).then(|| Rtt {
        min: rtts.iter().copied().min().unwrap_or_default(),
        max: rtts.iter().copied().max().unwrap_or_default(),
        avg: rtts.iter().sum::<Duration>() / rtts.len() as u32,
    });
    let stats =
        PingStats { address: ip, sent: sent_at.len() as u16, received: rtts.len() as u16, rtt, socket: kind };
    Ok((stats, why_lost))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(sent: u16, received: u16, avg_ms: u64) -> PingStats {
        let d = Duration::from_millis(avg_ms);
        PingStats {
            address: "127.0.0.1".parse().unwrap(),
            sent,
            received,
            rtt: (received > 0).then_some(Rtt { min: d, avg: d, max: d }),
            socket: PingSocket::Raw,
        }
    }

    #[test]
    fn the_verdict_by_loss_and_round_trip() {
        let mut check = PingCheck::new("127.0.0.1");
        let (o, d) = judge(&check, &stats(3, 3, 2), None);
        assert_eq!(
            (o, d.as_str()),
            (Outcome::Up, "127.0.0.1: 3/3 replies, 0% packet loss, rtt min/avg/max 2.000/2.000/2.000 ms")
        );
        let (o, d) = judge(&check, &stats(3, 2, 2), None);
        assert_eq!(o, Outcome::Down(FailureKind::PacketLoss));
        assert!(
            d.contains("2/3 replies, 33.3% packet loss") && d.ends_with("more than max_loss_percent 0"),
            "{d}"
        );
        check.max_loss_percent = 50.0;
        assert_eq!(judge(&check, &stats(3, 2, 2), None).0, Outcome::Up);
        check.max_loss_percent = 100.0;
        let (o, d) = judge(&check, &stats(3, 0, 0), None);
        assert_eq!(
            (o, d.as_str()),
            (Outcome::Down(FailureKind::PacketLoss), "127.0.0.1: 0/3 replies, 100% packet loss")
        );
        let (o, d) = judge(&check, &stats(3, 0, 0), Some("network unreachable"));
        assert_eq!(o, Outcome::Down(FailureKind::Connect));
        assert!(d.ends_with("(network unreachable)"));
        check.max_rtt = Some(Duration::from_millis(100));
        assert_eq!(judge(&check, &stats(3, 3, 100), None).0, Outcome::Up);
        let (o, d) = judge(&check, &stats(3, 3, 101), None);
        assert_eq!(o, Outcome::Down(FailureKind::Latency));
        assert!(d.ends_with("average above max_rtt_ms 100"), "{d}");
    }

    #[test]
    fn warnings_sit_between_up_and_failed() {
        let mut check = PingCheck::new("127.0.0.1");
        check.max_loss_percent = 50.0;
        check.warn_loss_percent = Some(10.0);
        check.max_rtt = Some(Duration::from_millis(100));
        check.warn_rtt = Some(Duration::from_millis(20));
        assert_eq!(judge(&check, &stats(10, 10, 20), None).0, Outcome::Up);
        let (o, d) = judge(&check, &stats(10, 8, 5), None);
        assert_eq!(o, Outcome::Warning(FailureKind::PacketLoss));
        assert!(d.ends_with("more than warn_loss_percent 10"), "{d}");
        assert_eq!(judge(&check, &stats(10, 4, 5), None).0, Outcome::Down(FailureKind::PacketLoss));
        let (o, d) = judge(&check, &stats(10, 10, 21), None);
        assert_eq!(o, Outcome::Warning(FailureKind::Latency));
        assert!(d.ends_with("average above warn_rtt_ms 20"), "{d}");
        assert_eq!(judge(&check, &stats(10, 10, 101), None).0, Outcome::Down(FailureKind::Latency));
        // Loss decides before the round trip.
        assert_eq!(judge(&check, &stats(10, 4, 101), None).0, Outcome::Down(FailureKind::PacketLoss));
    }

    #[test]
    fn requests_carry_a_valid_checksum() {
        let m = request(false, 0x1234, 7, 42);
        assert_eq!(checksum(&m), 0, "a message with its checksum sums to zero");
        assert_eq!(&m[..2], &[8, 0]);
        assert_eq!(request(true, 1, 2, 3)[0], 128);
    }

    #[test]
    fn only_our_replies_count() {
        let cookie = 0xdead_beef_u64;
        let mut reply = request(false, 9, 2, cookie);
        reply[0] = 0;
        assert_eq!(read_reply(&reply, false, false, 0, cookie), Reply::Echo(2));
        assert_eq!(read_reply(&reply, false, false, 0, cookie + 1), Reply::Other, "another cookie");
        let mut ip = vec![0x45u8; 1];
        ip.resize(20, 0);
        let raw: Vec<u8> = ip.iter().chain(reply.iter()).copied().collect();
        assert_eq!(read_reply(&raw, false, true, 9, cookie), Reply::Echo(2));
        assert_eq!(read_reply(&raw, false, true, 10, cookie), Reply::Other, "another id");
        let own_request: Vec<u8> = ip.iter().chain(request(false, 9, 2, cookie).iter()).copied().collect();
        assert_eq!(read_reply(&own_request, false, true, 9, cookie), Reply::Other);
        let mut unreachable = vec![3u8, 1, 0, 0, 0, 0, 0, 0];
        unreachable.extend_from_slice(&ip);
        unreachable.extend_from_slice(&request(false, 9, 2, cookie)[..8]);
        let raw: Vec<u8> = ip.iter().chain(unreachable.iter()).copied().collect();
        assert_eq!(read_reply(&raw, false, true, 9, cookie), Reply::Unreachable("host unreachable"));
        for junk in [&[][..], &[0x45], &[0x41, 0, 0], &[0; 7]] {
            assert_eq!(read_reply(junk, false, true, 9, cookie), Reply::Other);
            assert_eq!(read_reply(junk, true, false, 9, cookie), Reply::Other);
        }
    }
}
