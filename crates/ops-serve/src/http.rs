//! HTTP/1.1 on the wire: finding the end of a request head, reading the little of it the
//! routes need (and the length of a body), percent-decoding a path, and writing a response
//! head.

use std::fmt::Write as _;
use std::sync::Arc;

use time::OffsetDateTime;

/// The largest request head (request line and headers) read; nginx's default for one buffer.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// The part of a ping's request body that is kept (the run's message, as ops-jobs keeps 2 KiB
/// of a run's output); the rest is read and dropped.
pub(crate) const MAX_PING_BODY: usize = 2 * 1024;

/// The parts of a request the routes look at.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request<'a> {
    pub method: &'a [u8],
    /// The path, still percent-encoded, without the query.
    pub path: &'a [u8],
    /// The `Authorization` header's value, if one was sent.
    pub authorization: Option<&'a [u8]>,
    /// The `Content-Length` header's value, if one was sent.
    pub content_length: Option<u64>,
    /// A `Transfer-Encoding` header was sent: the body's length is not known in advance.
    pub chunked: bool,
}

/// Where the head in `buf` ends (just past its blank line), looking only at bytes from
/// `from` on (less 3, for a line end split across reads).
pub(crate) fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    let mut i = start;
    while let Some(at) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + at;
        let rest = &buf[nl + 1..];
        if rest.starts_with(b"\n") {
            return Some(nl + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

/// A token character (RFC 9110): methods and header names are made of these.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Reads a complete head; `Err` is the status to answer with.
pub(crate) fn parse(head: &[u8]) -> Result<Request<'_>, u16> {
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if method.is_empty() || !method.iter().copied().all(is_tchar) {
        return Err(400);
    }
    match version {
        b"HTTP/1.1" | b"HTTP/1.0" => {}
        v if v.starts_with(b"HTTP/") => return Err(505),
        _ => return Err(400),
    }
    // Origin form only; no control characters (raw bytes past ASCII are decoded later).
    if !target.starts_with(b"/") || target.iter().any(|&b| b < 0x21 || b == 0x7f) {
        return Err(400);
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let (mut authorization, mut content_length, mut chunked) = (None, None, false);
    for line in lines.take_while(|l| !l.is_empty()) {
        // A folded line (obsolete) or a name with space before the colon is refused, as RFC 9112 asks.
        let colon = line.iter().position(|&b| b == b':').ok_or(400u16)?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().copied().all(is_tchar) {
            return Err(400);
        }
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"authorization") && authorization.replace(value).is_some() {
            return Err(400);
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            // Digits only (no sign, no list): a length read two ways is how requests are smuggled.
            let length = std::str::from_utf8(value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(400u16)?;
            if content_length.replace(length).is_some() {
                return Err(400);
            }
        }
        chunked |= name.eq_ignore_ascii_case(b"transfer-encoding");
    }
    Ok(Request { method, path, authorization, content_length, chunked })
}

/// The path's segments (between slashes, the leading one dropped), each percent-decoded:
/// `%2F` stays inside its segment. `None` when an escape is malformed or a segment is not
/// UTF-8.
pub(crate) fn segments(path: &[u8]) -> Option<Vec<String>> {
    let path = path.strip_prefix(b"/").unwrap_or(path);
    path.split(|&b| b == b'/').map(decode).collect()
}

fn decode(raw: &[u8]) -> Option<String> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let (hi, lo) = (raw.get(i + 1).copied().and_then(hex)?, raw.get(i + 2).copied().and_then(hex)?);
            out.push(u8::try_from(hi * 16 + lo).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The reason phrase of the statuses we answer with.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Internal Server Error",
    }
}

/// A response body: borrowed from a snapshot, or made for this request.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Shared(Arc<str>),
    Owned(Vec<u8>),
}

impl Body {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::Shared(s) => s.as_bytes(),
            Self::Owned(v) => v,
        }
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
    /// A HEAD request: the head only (with the body's length).
    pub head_only: bool,
}

/// What every answer carries: no caching of a state that changes, no type sniffing, and a
/// policy under which a page or SVG can run no script and load nothing.
const COMMON: &str = "Cache-Control: no-cache\r\n\
X-Content-Type-Options: nosniff\r\n\
Referrer-Policy: no-referrer\r\n\
Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'\r\n\
Connection: close\r\n";

impl Response {
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: Body::Owned(text.into().into_bytes()),
            head_only: false,
        }
    }

    /// The status line and headers, ending with the blank line.
    pub fn head(&self, now: OffsetDateTime) -> Vec<u8> {
        let mut h = String::with_capacity(512);
        let _ = write!(
            h,
            "HTTP/1.1 {} {}\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{COMMON}",
            self.status,
            reason(self.status),
            http_date(now),
            self.content_type,
            self.body.bytes().len()
        );
        for (name, value) in &self.headers {
            let _ = write!(h, "{name}: {value}\r\n");
        }
        h.push_str("\r\n");
        h.into_bytes()
    }
}

/// An IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(t: OffsetDateTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[usize::from(t.weekday().number_days_from_monday())],
        t.day(),
        MONTHS[usize::from(u8::from(t.month()) - 1)],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_end_at_the_blank_line_even_across_reads() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\n", 0), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nrest", 0), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 0), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 26), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r", 10), None);
    }

    #[test]
    fn requests_are_read_strictly() {
        let r = parse(
            b"GET /badge/a%20b/status.svg?x=1 HTTP/1.1\r\nHost: h\r\nauthorization:  Basic eA== \r\n\r\n",
        );
        assert_eq!(
            r,
            Ok(Request {
                method: b"GET",
                path: b"/badge/a%20b/status.svg",
                authorization: Some(b"Basic eA=="),
                content_length: None,
                chunked: false,
            })
        );
        let post = parse(b"POST /ping/x HTTP/1.1\r\nContent-Length: 0042\r\n\r\n").unwrap();
        assert_eq!((post.content_length, post.chunked), (Some(42), false));
        let chunked = parse(b"POST /ping/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert_eq!((chunked.content_length, chunked.chunked), (None, true));
        assert_eq!(parse(b"GET / HTTP/1.0\n\n").unwrap().path, b"/");
        for (bad, status) in [
            (&b"GET /\r\n\r\n"[..], 400),
            (b"GET  / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\n\r\n", 505),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
            (b"GET / SPDY/3\r\n\r\n", 400),
            (b"GET http://x/ HTTP/1.1\r\n\r\n", 400),
            (b"G(T / HTTP/1.1\r\n\r\n", 400),
            (b"GET /a\x01b HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
            (b"\r\n\r\n", 400),
        ] {
            assert_eq!(parse(bad), Err(status), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn paths_decode_per_segment() {
        assert_eq!(segments(b"/"), Some(vec![String::new()]));
        assert_eq!(segments(b"/a/b%2Fc/d"), Some(vec!["a".into(), "b/c".into(), "d".into()]));
        assert_eq!(segments(b"/%E6%97%A5%00"), Some(vec!["日\u{0}".into()]));
        assert_eq!(segments("/日".as_bytes()), Some(vec!["日".into()]));
        assert_eq!(segments(b"/%zz"), None);
        assert_eq!(segments(b"/%4"), None);
        assert_eq!(segments(b"/%FF"), None, "not UTF-8");
    }

    #[test]
    fn dates() {
        let t = time::macros::datetime!(1994-11-06 08:49:37 UTC);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
