//! ops-serve is a small HTTP/1.1 server for a daemon's state: it knows its routes (`/`, the
//! status page; `/api/v1/services`; `/badge/NAME/status.svg` and `/badge/NAME/uptime/7d.svg`;
//! `/metrics`; `/healthz`), its bounds, and a read-only [`Snapshot`] of what to answer, and
//! nothing of what the daemon does. The daemon publishes a new snapshot whenever it has one
//! ([`Server::publish`]); every request is answered from the last one and never waits for the
//! daemon. One more route, `/ping/REST`, is the caller's: when [`Options::pings`] holds a
//! handler ([`Pings`]), it is called on a worker thread of its own with REST and the first
//! 2 KiB of the body, and what it answers ([`PingAnswer`]) is sent back.
//!
//! One thread holds every connection, non-blocking, under poll(2): a client that sends
//! nothing, or drips its request, or never reads the answer costs a slot and a few bytes, never
//! a thread, and is dropped at its deadline (or earlier, when the slots are full and a new
//! client needs one). A request head is at most 8 KiB; bodies are read only for a ping (2 KiB
//! kept). One request per connection. It never prints, never reads the environment and knows
//! no file.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::{Duration, Instant};
//!
//! use ops_serve::{Options, Server, Snapshot};
//!
//! let server = Server::bind("127.0.0.1:0".parse()?, Options::default())?;
//! server.publish(Snapshot {
//!     finished: Some(Instant::now()),
//!     fresh_for: Duration::from_secs(600),
//!     page: "<!DOCTYPE html><title>up</title>".into(),
//!     ..Snapshot::default()
//! });
//! let mut client = std::net::TcpStream::connect(server.local_addr())?;
//! client.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")?;
//! let mut answer = String::new();
//! client.read_to_string(&mut answer)?;
//! assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
//! server.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod badge;
mod http;
mod ping;
mod routes;
mod server;

/// The fuzz target lives beside `src/`, with its corpus in `fuzz/__fuzz__/`.
#[cfg(test)]
#[path = "../fuzz/targets.rs"]
mod fuzz;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use badge::{Badge, Color};
pub use ping::{PingAnswer, Pings};
pub use server::{Credentials, Options, Server};

/// What the server answers, as of the daemon's last pass: the bodies it serves as they are,
/// and the data of the routes that are computed per request (badges, `/healthz`). Read-only
/// once published.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// When the pass this snapshot shows finished (a monotonic instant, so a clock that jumps
    /// changes nothing). `None` until one has: every route then answers 503.
    pub finished: Option<Instant>,
    /// `/healthz` answers 200 while `finished` is at most this old, 503 after.
    pub fresh_for: Duration,
    /// `/`: a complete HTML document (`text/html`).
    pub page: Arc<str>,
    /// `/api/v1/services`: a JSON document.
    pub services_json: Arc<str>,
    /// `/metrics`: Prometheus text exposition (0.0.4) families; the server adds its own
    /// (`agent_ops_http_*`) after them.
    pub metrics: Arc<str>,
    /// `/badge/NAME/...`, by the name as it is after URL decoding; a name not here is 404.
    pub badges: Arc<HashMap<String, ServiceBadges>>,
}

/// The badges of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceBadges {
    /// `/badge/NAME/status.svg`.
    pub status: Badge,
    /// `/badge/NAME/uptime/<days>d.svg`, by the number of days; other numbers are 404.
    pub uptime: BTreeMap<u32, Badge>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address cannot be listened on (in use, not ours, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The listening socket or the server's thread could not be set up.
    #[error("cannot start the http server on {addr}: {source}")]
    Start {
        /// The address it listens on.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A user name for basic authentication holds a colon or a control character (RFC 7617
    /// cannot carry it).
    #[error("the basic auth user name must not contain a colon or a control character")]
    BadUser,
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
