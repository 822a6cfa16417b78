//! An HTTP server on 127.0.0.1 that records every request whole (head and body) and answers
//! with a status and either a fixed body or the request itself, as a server that echoes what
//! it was sent (credentials included) would.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread;

/// What an [`Echo`] answers with.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, headers and body.
    Fixed(u16, Vec<(String, String)>, String),
    /// This status, and the request (head and body) as the body.
    Echo(u16),
    /// This status, and the values of this request header (any case), one per line, as the body.
    EchoHeader(u16, &'static str),
}

/// A recording HTTP server.
pub struct Echo {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Echo {
    /// Starts answering every request with `reply`.
    pub fn start(reply: Reply) -> Self {
        Self::serve(reply, None)
    }

    /// The same over TLS, with a fresh self-signed certificate for `localhost`
    /// ([`crate::tls_server_config`]).
    pub fn start_tls(reply: Reply) -> Self {
        Self::serve(reply, Some(Arc::new(crate::tls_server_config())))
    }

    fn serve(reply: Reply, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let mut stream: Box<dyn ReadWrite> = match &tls {
                    None => Box::new(tcp),
                    Some(config) => match rustls::ServerConnection::new(Arc::clone(config)) {
                        Ok(conn) => Box::new(rustls::StreamOwned::new(conn, tcp)),
                        Err(_) => continue,
                    },
                };
                let Some(request) = read_request(&mut stream) else { continue };
                seen.lock().expect("lock").push(request.clone());
                let (status, headers, body) = match &reply {
                    Reply::Fixed(status, headers, body) => (*status, headers.clone(), body.clone()),
                    Reply::Echo(status) => (*status, Vec::new(), request),
                    Reply::EchoHeader(status, name) => {
                        let values: Vec<&str> = request
                            .lines()
                            .filter_map(|l| l.split_once(':'))
                            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                            .map(|(_, v)| v.trim())
                            .collect();
                        (*status, Vec::new(), values.join("\n"))
                    }
                };
                let mut head =
                    format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
                for (k, v) in headers {
                    let _ = write!(head, "{k}: {v}\r\n");
                }
                let _ = stream.write_all(format!("{head}\r\n{body}").as_bytes());
                let _ = stream.flush();
            }
        });
        Self { addr, requests }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// `https://localhost:PORT/` (the name the certificate of [`Echo::start_tls`] is for).
    pub fn https_url(&self) -> String {
        format!("https://localhost:{}/", self.addr.port())
    }

    /// Every request so far, head and body, as text.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Reads a request head and as much body as its Content-Length says.
fn read_request(stream: &mut impl Read) -> Option<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&seen[..head_end]).to_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while seen.len() < head_end + length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    Some(String::from_utf8_lossy(&seen).into_owned())
}
