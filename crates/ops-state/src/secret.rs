//! Secrets (a bot token, a password, a webhook URL) and their removal from any text that could
//! reach a person, a file or a log: the one implementation every crate shares.
//!
//! A [`Secret`] never shows itself (`Debug` and `Display` print `[redacted]`). A [`Redactor`]
//! knows secrets in every form they could come back in text (as written, percent-encoded in
//! either case, percent-decoded, escaped in a JSON string), and [`Redactor::redact`] removes
//! every occurrence; overlapping occurrences are one redaction, so no part survives between two.
//! What counts as a secret's parts (a URL's password, a header's words) is each caller's.

use std::fmt::{self, Write as _};

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// A secret value. Its `Debug` and `Display` never show it.
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

/// Every form of some secrets, and [`Redactor::redact`], which removes them from text.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    forms: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} forms)", self.forms.len())
    }
}

impl Redactor {
    /// `piece` in every form it could come back in: as written, percent-encoded (either case,
    /// as in a URL), percent-decoded, and escaped in a JSON string (`/` as `\/` too). Nothing
    /// shorter than `min_chars` characters is added, piece or form: it could not be told from
    /// ordinary text (a password `5` would blank every 5 out of every message) and guards
    /// nothing.
    pub fn add(&mut self, piece: &str, min_chars: usize) {
        if piece.chars().count() < min_chars.max(1) {
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
            if form.chars().count() >= min_chars.max(1) && !self.forms.contains(&form) {
                self.forms.push(form);
            }
        }
    }

    /// Adds every form of `other`'s secrets.
    pub fn extend(&mut self, other: &Redactor) {
        for form in &other.forms {
            if !self.forms.contains(form) {
                self.forms.push(form.clone());
            }
        }
    }

    /// Every form known, for tests that prove none survives.
    pub fn forms(&self) -> &[String] {
        &self.forms
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// `text` with every occurrence of any form of any secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
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
    fn a_secret_never_shows_itself() {
        let s = Secret::new("hunter2-hunter2");
        assert_eq!(format!("{s} {s:?}"), "[redacted] Secret([redacted])");
        assert_eq!(s.expose(), "hunter2-hunter2");
    }

    #[test]
    fn every_form_is_redacted_and_overlaps_are_one() {
        let mut r = Redactor::default();
        r.add("pa ss/w%rd\"x", 4);
        r.add("abc", 4); // too short: nothing
        for text in [
            "pa ss/w%rd\"x",
            "pa%20ss%2Fw%25rd%22x",
            "pa%20ss%2fw%25rd%22x",
            "pa ss\\/w%rd\\\"x",
            "pa ss/w%rd\\\"x",
        ] {
            assert_eq!(r.redact(&format!("<{text}>")), "<[redacted]>", "{text}");
        }
        assert_eq!(r.redact("abc"), "abc");
        let mut both = Redactor::default();
        both.add("aaaabbbb", 4);
        both.add("bbbbcccc", 4);
        assert_eq!(both.redact("xaaaabbbbccccx"), "x[redacted]x");
        assert!(Redactor::default().is_empty());
    }
}
