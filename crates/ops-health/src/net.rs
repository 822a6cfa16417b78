//! Name resolution and TCP connect, both bounded by a timeout; the port check.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::{CheckResult, FailureKind, PortCheck, millis, secs};

/// A failure before any application bytes were exchanged.
#[derive(Debug)]
pub(crate) struct NetFailure {
    pub kind: FailureKind,
    pub detail: String,
}

/// Resolves `host` within `timeout`. The system resolver cannot be interrupted, so a lookup
/// that hangs is left to finish on its own thread while we report the timeout.
pub(crate) fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, NetFailure> {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = mpsc::channel();
    let query = (host.to_owned(), port);
    thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            let _ = tx.send(query.to_socket_addrs().map(Iterator::collect::<Vec<_>>));
        })
        .map_err(|e| NetFailure { kind: FailureKind::Dns, detail: format!("cannot start resolver: {e}") })?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(_) => Err(NetFailure { kind: FailureKind::Dns, detail: format!("cannot resolve host {host}") }),
        Err(_) => Err(NetFailure {
            kind: FailureKind::Timeout,
            detail: format!("resolving {host} timed out after {}", secs(timeout)),
        }),
    }
}

/// Connects to the first address of `host` that answers, all within `timeout`.
pub(crate) fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, NetFailure> {
    let deadline = Instant::now() + timeout;
    let addrs = resolve(host, port, timeout)?;
    let mut last = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => io_failure(&e, timeout),
        None => {
            NetFailure { kind: FailureKind::Timeout, detail: format!("timed out after {}", secs(timeout)) }
        }
    })
}

/// Words for the socket errors a check meets.
pub(crate) fn io_failure(e: &io::Error, timeout: Duration) -> NetFailure {
    use io::ErrorKind as K;
    let (kind, detail) = match e.kind() {
        K::TimedOut | K::WouldBlock => (FailureKind::Timeout, format!("timed out after {}", secs(timeout))),
        K::ConnectionRefused => (FailureKind::Connect, "connection refused".to_owned()),
        K::ConnectionReset => (FailureKind::Connect, "connection reset by peer".to_owned()),
        K::ConnectionAborted => (FailureKind::Connect, "connection aborted".to_owned()),
        K::UnexpectedEof => (FailureKind::Connect, "connection closed by peer".to_owned()),
        K::HostUnreachable => (FailureKind::Connect, "host unreachable".to_owned()),
        K::NetworkUnreachable => (FailureKind::Connect, "network unreachable".to_owned()),
        K::AddrNotAvailable => (FailureKind::Connect, "address not available".to_owned()),
        K::InvalidData if is_tls_error(e) => (FailureKind::Tls, format!("tls: {e}")),
        _ => (FailureKind::Connect, e.to_string()),
    };
    NetFailure { kind, detail }
}

/// rustls reports through io::Error(InvalidData) wrapping a rustls::Error.
fn is_tls_error(e: &io::Error) -> bool {
    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).is_some()
}

/// The port check: `port 5432 open`, or `port 5432: connection refused`.
pub(crate) fn check_port(name: &str, check: &PortCheck) -> CheckResult {
    let start = Instant::now();
    let outcome = connect(&check.host, check.port, check.timeout);
    let latency_ms = millis(start.elapsed());
    let mut result = match outcome {
        Ok(_) => CheckResult::new(name, "port", None, format!("port {} open", check.port)),
        Err(f) => CheckResult::new(name, "port", Some(f.kind), format!("port {}: {}", check.port, f.detail)),
    };
    result.latency_ms = latency_ms;
    result
}
