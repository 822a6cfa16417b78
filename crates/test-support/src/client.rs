//! A raw HTTP/1.1 client for tests of our own servers: write the request bytes as given (a
//! hostile or unusual request included), read the answer to its end.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// An answer: status, head (as sent), body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The status line and headers, with their line ends.
    pub head: String,
    /// The body, as it came.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value, by name in any case.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// Reads an answer to the end of the connection.
pub fn read(stream: &mut TcpStream) -> Response {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("read the answer");
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a whole head") + 4;
    let head = String::from_utf8(bytes[..split].to_vec()).expect("a UTF-8 head");
    let status = head[9..12].parse().expect("a status code");
    Response { status, head, body: bytes[split..].to_vec() }
}

/// Sends `request` as it is on a new connection and reads the answer.
pub fn send(addr: SocketAddr, request: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(request).expect("send the request");
    read(&mut stream)
}

/// `GET path`.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    send(addr, format!("GET {path} HTTP/1.1\r\nHost: status\r\n\r\n").as_bytes())
}
