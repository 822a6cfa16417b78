//! One deadline per check: every wait of a check (name lookup, connect, each read and write,
//! the certificate probe of a URL check) gets what is left of it, so no peer can keep a
//! check alive past its timeout by answering slowly.

#[cfg(feature = "tls")]
use std::io::{self, Read, Write};
#[cfg(feature = "tls")]
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Timeouts longer than this are this long: far enough to mean "no timeout", near enough
/// that `Instant + Duration` never overflows, here or inside ureq.
pub(crate) const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// The instant a check must end by, and the timeout it was made from (for details).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    timeout: Duration,
}

impl Deadline {
    /// `timeout` from now (any `Duration`, `Duration::MAX` included).
    pub(crate) fn after(timeout: Duration) -> Self {
        let now = Instant::now();
        Self { at: now.checked_add(timeout.min(FOREVER)).unwrap_or(now), timeout }
    }

    /// The timeout it was made from.
    pub(crate) fn timeout(self) -> Duration {
        self.timeout
    }

    /// What is left, zero once passed.
    pub(crate) fn left(self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether it has passed.
    pub(crate) fn passed(self) -> bool {
        self.left().is_zero()
    }
}

/// A socket whose every read and write ends by the deadline: each gets what is left of it
/// as its socket timeout, and once it has passed they fail with `TimedOut` at once. A peer
/// dripping one byte at a time cannot stretch the check.
#[cfg(feature = "tls")]
pub(crate) struct Deadlined<'a> {
    pub sock: &'a TcpStream,
    pub deadline: Deadline,
}

#[cfg(feature = "tls")]
impl Deadlined<'_> {
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.left();
        if left.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        Ok(left)
    }
}

#[cfg(feature = "tls")]
impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.set_read_timeout(Some(self.left()?))?;
        let mut sock = self.sock;
        sock.read(buf).map_err(timed_out)
    }
}

#[cfg(feature = "tls")]
impl Write for Deadlined<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.set_write_timeout(Some(self.left()?))?;
        let mut sock = self.sock;
        sock.write(buf).map_err(timed_out)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A socket timeout shows as `WouldBlock` (EAGAIN) on Linux: say what it is.
#[cfg(feature = "tls")]
fn timed_out(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock { io::Error::from(io::ErrorKind::TimedOut) } else { e }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_timeout_makes_a_deadline() {
        for timeout in [Duration::ZERO, Duration::from_millis(1), FOREVER, Duration::MAX] {
            let d = Deadline::after(timeout);
            assert!(d.left() <= FOREVER);
        }
        assert!(Deadline::after(Duration::ZERO).passed());
        assert!(!Deadline::after(Duration::MAX).passed());
    }
}
