//! TCP connect by the check's deadline, the words for socket errors (the system's refusals
//! are agent-ops' trouble, never the service's), and the port check.

use std::io;
use std::net::TcpStream;
use std::time::Instant;

use rustix::io::Errno;

use crate::deadline::Deadline;
use crate::{CheckKind, CheckResult, Failure, FailureKind, Outcome, PortCheck, Unchecked, dns, millis, secs};

/// Connects to the first address of `host` that answers, by `deadline`.
pub(crate) fn connect(host: &str, port: u16, deadline: Deadline) -> Result<TcpStream, Failure> {
    if deadline.passed() {
        return Err(timed_out(deadline));
    }
    let addrs = dns::resolve(host, port, deadline)?;
    let mut last = None;
    for addr in addrs {
        let left = deadline.left();
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            // The system's refusal is not this address's: no other address will do better.
            Err(e) if resource_words(&e).is_some() => return Err(io_failure(&e, deadline)),
            // connect(2) says EAGAIN when the system is out of local ports or routes.
            Err(e) if e.raw_os_error() == Some(Errno::AGAIN.raw_os_error()) => {
                return Err(Failure::unchecked(Unchecked::Resources, "no free local port or route"));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => io_failure(&e, deadline),
        None => timed_out(deadline),
    })
}

/// `timed out after 2s`, by the check's whole timeout.
pub(crate) fn timed_out(deadline: Deadline) -> Failure {
    Failure::down(FailureKind::Timeout, format!("timed out after {}", secs(deadline.timeout())))
}

/// Words for the socket errors a check meets.
pub(crate) fn io_failure(e: &io::Error, deadline: Deadline) -> Failure {
    use io::ErrorKind as K;
    if let Some(words) = resource_words(e) {
        return Failure::unchecked(Unchecked::Resources, words);
    }
    if let Some(f) = e.get_ref().and_then(|inner| inner.downcast_ref::<Failure>()) {
        return f.clone();
    }
    let (kind, detail) = match e.kind() {
        K::TimedOut | K::WouldBlock => return timed_out(deadline),
        K::ConnectionRefused => (FailureKind::Connect, "connection refused".to_owned()),
        K::ConnectionReset => (FailureKind::Connect, "connection reset by peer".to_owned()),
        K::ConnectionAborted => (FailureKind::Connect, "connection aborted".to_owned()),
        K::UnexpectedEof => (FailureKind::Connect, "connection closed by peer".to_owned()),
        K::HostUnreachable => (FailureKind::Connect, "host unreachable".to_owned()),
        K::NetworkUnreachable => (FailureKind::Connect, "network unreachable".to_owned()),
        K::InvalidData if is_tls_error(e) => (FailureKind::Tls, format!("tls: {e}")),
        _ => (FailureKind::Connect, e.to_string()),
    };
    Failure::down(kind, detail)
}

/// What the system refused us, when `e` is the system refusing agent-ops a resource rather
/// than anything the peer did: descriptors, memory, socket buffers, a local port.
pub(crate) fn resource_words(e: &io::Error) -> Option<&'static str> {
    let errno = Errno::from_raw_os_error(e.raw_os_error()?);
    Some(match errno {
        Errno::MFILE => "too many open files",
        Errno::NFILE => "too many open files in the system",
        Errno::NOMEM => "out of memory",
        Errno::NOBUFS => "no buffer space available",
        // connect(2): every local port is taken.
        Errno::ADDRNOTAVAIL => "no free local port",
        _ => return None,
    })
}

/// An OS error in lowercase words, without Rust's `(os error N)` suffix.
pub(crate) fn os_words(e: &io::Error) -> String {
    if let Some(words) = resource_words(e) {
        return words.to_owned();
    }
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// rustls reports through io::Error(InvalidData) wrapping a rustls::Error.
#[cfg(feature = "tls")]
fn is_tls_error(e: &io::Error) -> bool {
    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).is_some()
}

#[cfg(not(feature = "tls"))]
fn is_tls_error(_: &io::Error) -> bool {
    false
}

/// The port check: `port 5432 open`, or `port 5432: connection refused`.
pub(crate) fn check_port(name: &str, check: &PortCheck) -> CheckResult {
    let start = Instant::now();
    let outcome = connect(&check.host, check.port, Deadline::after(check.timeout));
    let latency_ms = millis(start.elapsed());
    let mut result = match outcome {
        Ok(_) => CheckResult::new(name, CheckKind::Port, Outcome::Up, format!("port {} open", check.port)),
        Err(f) if f.outcome.is_unknown() => CheckResult::failed(name, CheckKind::Port, f),
        Err(f) => {
            CheckResult::new(name, CheckKind::Port, f.outcome, format!("port {}: {}", check.port, f.detail))
        }
    };
    result.latency_ms = latency_ms;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_systems_refusals_are_ours() {
        for errno in [Errno::MFILE, Errno::NFILE, Errno::NOMEM, Errno::NOBUFS, Errno::ADDRNOTAVAIL] {
            let e = io::Error::from_raw_os_error(errno.raw_os_error());
            let f = io_failure(&e, Deadline::after(std::time::Duration::from_secs(1)));
            assert_eq!(f.outcome, Outcome::Unknown(Unchecked::Resources), "{errno:?}");
            assert!(f.detail.starts_with("agent-ops could not run this check: "), "{}", f.detail);
        }
        let f = io_failure(
            &io::Error::from_raw_os_error(Errno::MFILE.raw_os_error()),
            Deadline::after(std::time::Duration::from_secs(1)),
        );
        assert_eq!(f.detail, "agent-ops could not run this check: too many open files");
        let refused = io::Error::from_raw_os_error(Errno::CONNREFUSED.raw_os_error());
        let f = io_failure(&refused, Deadline::after(std::time::Duration::from_secs(1)));
        assert_eq!(f.outcome, Outcome::Down(FailureKind::Connect));
    }

    #[test]
    fn os_words_are_lowercase_without_the_number() {
        let e = io::Error::from_raw_os_error(Errno::AGAIN.raw_os_error());
        assert_eq!(os_words(&e), "resource temporarily unavailable");
    }
}
