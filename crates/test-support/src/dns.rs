//! DNS servers on 127.0.0.1 for the `dns` check's tests: dnsmasq, a real server with records
//! of the test's own ([`Dnsmasq`]), and servers that misbehave on purpose ([`FakeDns`]): one that
//! never answers, one that answers with another id, one that truncates (the whole answer over
//! TCP), one that answers bytes that are not DNS, one that answers with an error code, and one
//! that sends a stray answer before the real one. The fakes build their messages by hand, not
//! with the crate the check uses.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::Rng;

/// How a [`FakeDns`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Reads nothing, answers nothing.
    Silent,
    /// Answers A 10.1.2.3 with the query's id plus one.
    WrongId,
    /// First an answer with another id (A 10.6.6.6), then the right one (A 10.1.2.3).
    StrayFirst,
    /// Over UDP: the question with the truncation bit and no record; over TCP (same port):
    /// A 10.1.2.3 and A 10.1.2.4.
    Truncating,
    /// Answers random bytes (seeded), of random lengths.
    Garbage,
    /// Answers with this response code and no record (2 SERVFAIL, 5 REFUSED ...).
    Rcode(u8),
}

/// A misbehaving DNS server on 127.0.0.1.
pub struct FakeDns {
    /// Where it listens (UDP, and TCP for [`Behaviour::Truncating`]).
    pub addr: SocketAddr,
    queries: Arc<Mutex<Vec<(u16, SocketAddr)>>>,
    tcp_queries: Arc<Mutex<usize>>,
    _udp: Arc<UdpSocket>,
}

impl FakeDns {
    /// Starts serving on a free port.
    pub fn start(behaviour: Behaviour) -> Self {
        let (udp, tcp) = bind_pair();
        let udp = Arc::new(udp);
        let addr = udp.local_addr().expect("local addr");
        let queries = Arc::new(Mutex::new(Vec::new()));
        let tcp_queries = Arc::new(Mutex::new(0));
        if behaviour != Behaviour::Silent {
            let (sock, seen) = (Arc::clone(&udp), Arc::clone(&queries));
            thread::spawn(move || serve_udp(&sock, behaviour, &seen));
        }
        if behaviour == Behaviour::Truncating {
            let count = Arc::clone(&tcp_queries);
            thread::spawn(move || serve_tcp(&tcp, &count));
        }
        Self { addr, queries, tcp_queries, _udp: udp }
    }

    /// `127.0.0.1:PORT`.
    pub fn server(&self) -> String {
        self.addr.to_string()
    }

    /// The id and source of every UDP query received so far.
    pub fn queries(&self) -> Vec<(u16, SocketAddr)> {
        self.queries.lock().expect("lock").clone()
    }

    /// Queries received over TCP so far.
    pub fn tcp_queries(&self) -> usize {
        *self.tcp_queries.lock().expect("lock")
    }
}

/// A UDP socket and a TCP listener on the same free port of 127.0.0.1.
fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp 127.0.0.1:0");
        let port = udp.local_addr().expect("local addr").port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)) {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// The id of a query and the bytes of its question section (name, type, class).
fn question(query: &[u8]) -> Option<(u16, &[u8])> {
    let id = u16::from_be_bytes([*query.first()?, *query.get(1)?]);
    let mut i = 12;
    loop {
        let len = usize::from(*query.get(i)?);
        i += 1 + len;
        if len == 0 {
            break;
        }
    }
    Some((id, query.get(12..i + 4)?))
}

/// An answer to question `q` with `id`, flags, and A records.
fn answer(id: u16, flags: u16, q: &[u8], addresses: &[Ipv4Addr]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    for count in [1, addresses.len(), 0, 0] {
        m.extend_from_slice(&u16::try_from(count).expect("count").to_be_bytes());
    }
    m.extend_from_slice(q);
    for a in addresses {
        // A pointer to the question's name, type A, class IN, TTL 60, 4 bytes.
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        m.extend_from_slice(&a.octets());
    }
    m
}

const RESPONSE: u16 = 0x8180; // QR, RD, RA
const TRUNCATED: u16 = 0x0200;

fn serve_udp(sock: &UdpSocket, behaviour: Behaviour, seen: &Mutex<Vec<(u16, SocketAddr)>>) {
    let mut rng = Rng::new(0x5eed);
    let mut buf = [0u8; 4096];
    let a = [Ipv4Addr::new(10, 1, 2, 3)];
    while let Ok((n, from)) = sock.recv_from(&mut buf) {
        let Some((id, q)) = question(&buf[..n]) else { continue };
        seen.lock().expect("lock").push((id, from));
        let replies = match behaviour {
            Behaviour::Silent => Vec::new(),
            Behaviour::WrongId => vec![answer(id.wrapping_add(1), RESPONSE, q, &a)],
            Behaviour::StrayFirst => {
                vec![
                    answer(id.wrapping_add(7), RESPONSE, q, &[Ipv4Addr::new(10, 6, 6, 6)]),
                    answer(id, RESPONSE, q, &a),
                ]
            }
            Behaviour::Truncating => vec![answer(id, RESPONSE | TRUNCATED, q, &[])],
            Behaviour::Garbage => {
                let len = rng.between(0, 600);
                vec![(0..len).map(|_| rng.next_u64() as u8).collect()]
            }
            Behaviour::Rcode(code) => vec![answer(id, RESPONSE | u16::from(code & 0x0f), q, &[])],
        };
        for reply in replies {
            let _ = sock.send_to(&reply, from);
        }
    }
}

fn serve_tcp(listener: &TcpListener, count: &Mutex<usize>) {
    for mut stream in listener.incoming().flatten() {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            continue;
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut query).is_err() {
            continue;
        }
        let Some((id, q)) = question(&query) else { continue };
        *count.lock().expect("lock") += 1;
        let reply = answer(id, RESPONSE, q, &[Ipv4Addr::new(10, 1, 2, 3), Ipv4Addr::new(10, 1, 2, 4)]);
        let len = u16::try_from(reply.len()).expect("short").to_be_bytes();
        let _ = stream.write_all(&[&len[..], &reply].concat());
    }
}

/// A dnsmasq (Debian's `dnsmasq-base`) on 127.0.0.1 and a free port, answering only from the
/// records its arguments give (`--address=/name/ip`, `--txt-record=...`, `--mx-host=...`,
/// `--cname=...`); names under `.test` it does not know are NXDOMAIN. Stopped when dropped.
pub struct Dnsmasq {
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    child: Child,
}

impl Dnsmasq {
    /// Starts dnsmasq with these record arguments on a free port; `None`, after
    /// [`crate::missing`], when dnsmasq is not installed.
    pub fn start(records: &[&str]) -> Option<Self> {
        Self::start_on(records, None)
    }

    /// As [`Dnsmasq::start`], on `port` (53 inside a test's own network namespace).
    pub fn start_on(records: &[&str], port: Option<u16>) -> Option<Self> {
        let binary = find_dnsmasq()?;
        for _ in 0..10 {
            let port = port.unwrap_or_else(|| {
                let (udp, tcp) = bind_pair();
                let port = udp.local_addr().expect("addr").port();
                drop((udp, tcp));
                port
            });
            let mut child = Command::new(&binary)
                .args([
                    "--keep-in-foreground",
                    "--no-resolv",
                    "--no-hosts",
                    "--conf-file=/dev/null",
                    "--pid-file=",
                    "--user=root",
                    // No group change: a user namespace denies setgroups(2).
                    "--group=",
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    "--local=/test/",
                    "--cache-size=0",
                    &format!("--port={port}"),
                ])
                .args(records)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start dnsmasq");
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            if answers(addr, &mut child) {
                return Some(Self { addr, child });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("dnsmasq did not start (10 tries)");
    }

    /// `127.0.0.1:PORT`.
    pub fn server(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_dnsmasq() -> Option<PathBuf> {
    let sbin = PathBuf::from("/usr/sbin/dnsmasq");
    if sbin.is_file() {
        return Some(sbin);
    }
    crate::require_tool("dnsmasq")
}

/// Polls until dnsmasq answers a query (true), or has exited or stayed silent for 20 s.
fn answers(addr: SocketAddr, child: &mut Child) -> bool {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    // A query for "ready.test", type A.
    let query = [
        0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, b'r', b'e', b'a', b'd', b'y', 4, b't', b'e', b's', b't',
        0, 0, 1, 0, 1,
    ];
    let started = Instant::now();
    let mut buf = [0u8; 512];
    while started.elapsed() < Duration::from_secs(20) {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        let _ = sock.send_to(&query, addr);
        if let Ok((n, _)) = sock.recv_from(&mut buf)
            && n >= 2
            && buf[..2] == [0x12, 0x34]
        {
            return true;
        }
    }
    false
}
