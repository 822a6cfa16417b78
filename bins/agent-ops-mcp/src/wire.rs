//! The stdio transport: one JSON-RPC message per line, read with a bound (a line past
//! [`MAX_LINE`] is read to its end and dropped, never held whole), and written one line at a
//! time to standard output, which carries nothing else.

use std::io::{self, BufRead, Write};

use serde_json::{Value, json};

/// The longest message read, in bytes: a line past it is answered with an error and skipped.
pub const MAX_LINE: usize = 1024 * 1024;

/// One line of standard input.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A whole line (without its newline), at most [`MAX_LINE`] bytes.
    Message(Vec<u8>),
    /// A line longer than [`MAX_LINE`]: read to its end and dropped; how long it was.
    TooLong(usize),
    /// Standard input is closed.
    End,
}

/// Reads lines of at most `max` bytes from `input`.
pub struct Lines<R> {
    input: R,
    max: usize,
}

impl<R: BufRead> Lines<R> {
    /// Lines of at most [`MAX_LINE`] bytes.
    pub fn new(input: R) -> Self {
        Self::with_max(input, MAX_LINE)
    }

    /// Lines of at most `max` bytes.
    pub fn with_max(input: R, max: usize) -> Self {
        Self { input, max }
    }

    /// The next line. A last line without a newline is a line; a read error ends the input.
    pub fn next_line(&mut self) -> Line {
        let mut line = Vec::new();
        let mut length = 0usize;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => &[][..],
            };
            if chunk.is_empty() {
                return match length {
                    0 => Line::End,
                    n if n > self.max => Line::TooLong(n),
                    _ => Line::Message(line),
                };
            }
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if length + take <= self.max {
                line.extend_from_slice(&chunk[..take]);
            } else if !line.is_empty() {
                line = Vec::new(); // past the bound: count the rest, keep nothing
            }
            length = length.saturating_add(take);
            self.input.consume(take + usize::from(done));
            if done {
                return if length > self.max { Line::TooLong(length) } else { Line::Message(line) };
            }
        }
    }
}

/// JSON-RPC's error codes, and MCP's.
pub mod code {
    /// The line is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a JSON-RPC request (or a batch, which MCP no longer has).
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The parameters do not fit the method (an unknown tool or resource, a missing field).
    pub const INVALID_PARAMS: i64 = -32602;
    /// A bug of ours, caught.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// A resource that does not exist, in the handshake revisions (2025-11-25 and before).
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// A protocol version this server does not speak (2026-07-28).
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
}

/// A JSON-RPC error answer; `id` is null when the request's could not be read.
pub fn error(id: &Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

/// A JSON-RPC result answer.
pub fn result(id: &Value, result: Value) -> Value {
    let mut message = json!({"jsonrpc": "2.0", "id": id});
    message["result"] = result;
    message
}

/// Writes `message` as one line and flushes it. serde_json escapes every control character
/// in strings, so a message is always one line.
pub fn send(out: &mut impl Write, message: &Value) -> io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize, buffer: usize) -> Vec<Line> {
        let mut reader = Lines::with_max(io::BufReader::with_capacity(buffer, input), max);
        let mut out = Vec::new();
        loop {
            match reader.next_line() {
                Line::End => return out,
                line => out.push(line),
            }
        }
    }

    #[test]
    fn lines_are_bounded_whatever_the_read_size() {
        let input = b"{\"a\":1}\n0123456789abcdef\n\nlast";
        for buffer in [1, 2, 3, 7, 64] {
            assert_eq!(
                lines(input, 8, buffer),
                [
                    Line::Message(b"{\"a\":1}".to_vec()),
                    Line::TooLong(16),
                    Line::Message(Vec::new()),
                    Line::Message(b"last".to_vec())
                ],
                "buffer {buffer}"
            );
        }
        assert_eq!(lines(b"123456789", 8, 4), [Line::TooLong(9)], "an over-long last line");
        assert_eq!(lines(b"12345678\n", 8, 4), [Line::Message(b"12345678".to_vec())]);
    }

    #[test]
    fn a_message_is_one_line_whatever_its_strings_hold() {
        let mut out = Vec::new();
        send(&mut out, &json!({"text": "two\nlines\r\u{1b}[31m\u{2028}"})).unwrap();
        assert_eq!(out.split(|&b| b == b'\n').count(), 2, "one line, then nothing");
        assert!(out.ends_with(b"\n") && !out.contains(&0x1b), "{}", String::from_utf8_lossy(&out));
    }
}
