//! Servers on 127.0.0.1 that accept the connection and then answer too slowly to ever finish,
//! one byte at a time: the peers a check must end by its deadline against, whatever socket
//! timeouts it sets per read. ([`crate::Silent`] is the one that accepts and says nothing.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

/// A TLS server that drips.
pub struct TlsDripper {
    /// Where it listens.
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl TlsDripper {
    /// A real TLS server (rustls, a self-signed rcgen certificate for `localhost`) that sends
    /// its side of the handshake one byte every `interval`: each read of the client gets a
    /// byte, the handshake makes progress, and takes about 1,500 intervals to finish.
    pub fn handshake(interval: Duration) -> Self {
        let config = Arc::new(tls_server_config());
        Self::serve(move |sock| drip_handshake(&config, sock, interval))
    }

    /// Sends the header of a TLS record announcing 16 KiB, then one byte of it every
    /// `interval`: a client that waits for the whole record waits 16,384 intervals.
    pub fn endless_record(interval: Duration) -> Self {
        Self::serve(move |mut sock| {
            if sock.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]).is_ok() {
                drip(&mut sock, std::iter::repeat(0u8), interval);
            }
        })
    }

    fn serve(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> Self {
        let (addr, accepted) = serve(handle);
        Self { addr, accepted }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// What an [`HttpDripper`] drips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drip {
    /// The status line, then header lines without end, one byte at a time.
    Head,
    /// A whole head announcing a 1 GB body, then the body one byte at a time.
    Body,
}

/// An HTTP server that reads the request and drips its answer.
pub struct HttpDripper {
    /// Where it listens.
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl HttpDripper {
    /// Starts dripping `what`, one byte every `interval`, to every request.
    pub fn start(what: Drip, interval: Duration) -> Self {
        let (addr, accepted) = serve(move |mut sock| {
            if !read_head(&mut sock) {
                return;
            }
            match what {
                Drip::Head => {
                    let head = b"HTTP/1.1 200 OK\r\nX-Drip: ".iter().copied();
                    drip(&mut sock, head.chain(std::iter::repeat(b'a')), interval);
                }
                Drip::Body => {
                    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n";
                    if sock.write_all(head).is_ok() {
                        drip(&mut sock, std::iter::repeat(b'a'), interval);
                    }
                }
            }
        });
        Self { addr, accepted }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Accepts on a free port, one thread per connection.
fn serve(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    let handle = Arc::new(handle);
    thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let handle = Arc::clone(&handle);
            thread::spawn(move || handle(sock));
        }
    });
    (addr, accepted)
}

/// Writes `bytes` one at a time, `interval` apart, until they end (true) or the peer
/// leaves (false).
fn drip(sock: &mut TcpStream, bytes: impl Iterator<Item = u8>, interval: Duration) -> bool {
    let _ = sock.set_nodelay(true);
    for b in bytes {
        if sock.write_all(&[b]).is_err() {
            return false;
        }
        thread::sleep(interval);
    }
    true
}

/// Reads an HTTP request head; false when the peer left first.
fn read_head(sock: &mut TcpStream) -> bool {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// A rustls server configuration with a fresh self-signed certificate for `localhost`.
pub fn tls_server_config() -> rustls::ServerConfig {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = rcgen::KeyPair::generate().expect("a key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    let cert = params.self_signed(&key).expect("a certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .expect("server config")
}

/// Reads what the client sends, and drips what the server answers.
fn drip_handshake(config: &Arc<rustls::ServerConfig>, mut sock: TcpStream, interval: Duration) {
    let Ok(mut conn) = rustls::ServerConnection::new(Arc::clone(config)) else { return };
    loop {
        if conn.wants_write() {
            let mut out = Vec::new();
            while conn.wants_write() {
                if conn.write_tls(&mut out).is_err() {
                    return;
                }
            }
            if !drip(&mut sock, out.into_iter(), interval) {
                return;
            }
        } else {
            match conn.read_tls(&mut sock) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if conn.process_new_packets().is_err() {
                        return;
                    }
                }
            }
        }
    }
}
