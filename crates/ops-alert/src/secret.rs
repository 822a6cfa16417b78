//! Secrets (the bot token, webhook URLs and header values) and their redaction from any text
//! that could reach a user.

use std::fmt::{self, Write as _};

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// A secret value. Its `Debug` and `Display` never show it; [`Secret::redact`] removes it from
/// text that came from elsewhere (an HTTP library's error, a server's answer).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the secret, as written or percent-encoded (as it would
    /// appear in a URL), replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_owned();
        }
        let mut out = text.replace(&self.0, REDACTED);
        for encoded in [percent_encode(&self.0, true), percent_encode(&self.0, false)] {
            if encoded != self.0 {
                out = out.replace(&encoded, REDACTED);
            }
        }
        out
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// `text` with every secret in `secrets` redacted.
pub(crate) fn redact_all<'a>(text: &str, secrets: impl IntoIterator<Item = &'a Secret>) -> String {
    secrets.into_iter().fold(text.to_owned(), |t, s| s.redact(&t))
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn percent_encode(s: &str, upper: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else if upper {
            let _ = write!(out, "%{b:02X}");
        } else {
            let _ = write!(out, "%{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shown_and_redacted_in_every_form() {
        let s = Secret::new("123456:ABC-def_ghi");
        assert_eq!(format!("{s} {s:?}"), "[redacted] Secret([redacted])");
        assert_eq!(s.expose(), "123456:ABC-def_ghi");
        let text = "https://x/bot123456:ABC-def_ghi/sendMessage and bot123456%3AABC-def_ghi, bot123456%3aABC-def_ghi";
        assert_eq!(s.redact(text), "https://x/bot[redacted]/sendMessage and bot[redacted], bot[redacted]");
        assert_eq!(Secret::new("").redact("abc"), "abc");
    }

    #[test]
    fn redact_all_applies_each() {
        let a = Secret::new("alpha");
        let b = Secret::new("https://hooks.example/T0/B1/xyz");
        assert_eq!(
            redact_all("alpha at https://hooks.example/T0/B1/xyz", [&a, &b]),
            "[redacted] at [redacted]"
        );
    }
}
