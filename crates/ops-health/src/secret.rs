//! Values a check sends that must never be shown (a password, a bearer token, header values),
//! and their removal from everything a check reports.
//!
//! A [`Credential`] never shows itself (`Debug` and `Display` print `[redacted]`). A URL check
//! knows its credentials in every form a server could send them back in (as written, the
//! Basic `user:password` and its base64, percent-encoded, JSON-escaped), and its result's
//! detail, condition displays included, passes [`Redactor::redact`] before the check returns:
//! details reach the report, the metrics files, the orchestrator's log and alerts, and this is
//! the one place they are cleaned. (ops-alert's `Secrets` does the same for notifiers; a leaf
//! crate cannot share it.)

use std::fmt::{self, Write as _};

/// What a redacted credential is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Credentials shorter than this are not redacted: they protect nothing, and would blank
/// ordinary words out of every detail.
const MIN_WHOLE: usize = 4;

/// The words of a header value (`Bearer abc...`, `token=...`) are redacted alone from this
/// length on, as ops-alert does for webhook headers.
const MIN_WORD: usize = 8;

/// A value sent to the service that must never be shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential([redacted])")
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Every form of a check's credentials.
#[derive(Debug, Default)]
pub(crate) struct Redactor {
    forms: Vec<String>,
}

impl Redactor {
    /// A secret value: whole, and each of its long words.
    pub(crate) fn add_value(&mut self, value: &str) {
        self.add(value, MIN_WHOLE);
        for word in value.split(|c: char| c.is_whitespace() || c == '=' || c == ',' || c == ';') {
            self.add(word, MIN_WORD);
        }
    }

    /// HTTP Basic credentials: the password, `user:password` and its base64.
    pub(crate) fn add_basic(&mut self, user: &str, password: &str) {
        self.add(password, MIN_WHOLE);
        let pair = format!("{user}:{password}");
        self.add(&pair, MIN_WHOLE);
        self.add(&base64(pair.as_bytes()), MIN_WHOLE);
    }

    /// The user info of a URL (`https://user:password@host/`).
    pub(crate) fn add_url(&mut self, url: &str) {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            match userinfo.split_once(':') {
                Some((user, password)) => self.add_basic(user, password),
                None => self.add(userinfo, MIN_WHOLE),
            }
        }
    }

    /// `piece` as written, percent-encoded (either case) and percent-decoded, JSON-escaped.
    fn add(&mut self, piece: &str, min: usize) {
        if piece.chars().count() < min {
            return;
        }
        let json = serde_json::to_string(piece).unwrap_or_default();
        let json = json.get(1..json.len().saturating_sub(1)).unwrap_or_default().to_owned();
        for form in [
            piece.to_owned(),
            percent_encode(piece, true),
            percent_encode(piece, false),
            percent_decode(piece).unwrap_or_default(),
            json.replace('/', "\\/"),
            json,
        ] {
            if form.chars().count() >= min && !self.forms.contains(&form) {
                self.forms.push(form);
            }
        }
    }

    /// Whether there is nothing to redact.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// `text` with every occurrence of every form replaced by `[redacted]`; overlapping
    /// occurrences are one redaction, so no part of a credential survives between two.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut covered = vec![false; text.len()];
        for form in &self.forms {
            let mut from = 0;
            while let Some(i) = text[from..].find(form.as_str()) {
                let start = from + i;
                covered[start..start + form.len()].fill(true);
                from = start + text[start..].chars().next().map_or(1, char::len_utf8);
            }
        }
        if !covered.contains(&true) {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut in_secret = false;
        for (i, c) in text.char_indices() {
            if !covered[i] {
                out.push(c);
            } else if !in_secret {
                out.push_str(REDACTED);
            }
            in_secret = covered[i];
        }
        out
    }
}

/// Standard base64 with padding (RFC 4648), as HTTP Basic uses it.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn percent_encode(s: &str, upper: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else if upper {
            let _ = write!(out, "%{b:02X}");
        } else {
            let _ = write!(out, "%{b:02x}");
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_rfc_4648() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(base64(input.as_bytes()), output);
        }
    }

    #[test]
    fn every_form_is_redacted() {
        let mut r = Redactor::default();
        r.add_basic("alice", "s3cr/et pw");
        r.add_value("Bearer tok_0123456789abcdef");
        let text = format!(
            "a s3cr/et pw b alice:s3cr/et pw c {} d s3cr%2Fet%20pw e s3cr\\/et pw f tok_0123456789abcdef g",
            base64(b"alice:s3cr/et pw")
        );
        let out = r.redact(&text);
        assert_eq!(out, "a [redacted] b [redacted] c [redacted] d [redacted] e [redacted] f [redacted] g");
        assert_eq!(r.redact("nothing here"), "nothing here");
        assert_eq!(
            format!("{:?} {}", Credential::new("x"), Credential::new("x")),
            "Credential([redacted]) [redacted]"
        );
    }

    #[test]
    fn short_values_are_left_alone() {
        let mut r = Redactor::default();
        r.add_value("abc");
        assert!(r.is_empty());
        assert_eq!(r.redact("abc"), "abc");
    }

    proptest::proptest! {
        /// Whatever the secret and the text around it, no form of it survives, and text
        /// without one is left alone.
        #[test]
        fn no_form_of_a_secret_survives(secret in "[ -~]{4,24}", user in "[a-z]{1,8}", before in "\\PC{0,20}", after in "\\PC{0,20}") {
            let mut r = Redactor::default();
            r.add_basic(&user, &secret);
            r.add_value(&secret);
            let pair = format!("{user}:{secret}");
            let json = serde_json::to_string(&secret).unwrap();
            for form in [secret.clone(), percent_encode(&secret, true), percent_encode(&secret, false), json[1..json.len() - 1].to_owned(), base64(pair.as_bytes())] {
                let out = r.redact(&format!("{before}{form}{after}"));
                proptest::prop_assert!(!out.contains(&form), "{:?} survived in {:?}", form, out);
                proptest::prop_assert!(out.contains(REDACTED));
            }
            if !before.contains(&secret) && r.forms.iter().all(|f| !before.contains(f.as_str())) {
                proptest::prop_assert_eq!(r.redact(&before), before.clone());
            }
        }
    }
}
