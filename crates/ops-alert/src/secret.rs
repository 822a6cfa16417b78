//! Secrets (the bot token, webhook URLs and header values) and their redaction from any text
//! that could reach a user.
//!
//! A [`Secret`] never shows itself. A notifier knows its secrets as [`Secrets`]: every form in
//! which they could come back in text (whole, in parts a server might echo alone, percent-
//! encoded, percent-decoded, JSON-escaped). Every string a notifier gives out passes through
//! [`Secrets::redact`] in one place, [`crate::Notifier::deliver`] and
//! [`crate::Notifier::preview`].

use std::fmt;

use ops_state::Redactor;
use serde_json::Value;

pub use ops_state::{REDACTED, Secret};

/// Nothing shorter than this is redacted (see [`Redactor::add`]); parts of a secret (a URL's
/// path segments and query values, a header value's words) must also be [`credential_like`].
const MIN_PART: usize = 8;

/// Every form of one notifier's secrets, and [`Secrets::redact`], which removes them from text.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    forms: Redactor,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({:?})", self.forms)
    }
}

impl Secrets {
    /// A secret value (a header value, a webhook URL): whole, and each of its words that is
    /// [`credential_like`] (`Bearer tk_...` echoed as the token alone).
    pub(crate) fn add_value(&mut self, value: &str) {
        self.add(value);
        for word in value.split_whitespace().filter(|w| credential_like(w)) {
            self.add(word);
        }
    }

    /// A bot token: whole, and its key after the colon (the bot id before it is public).
    pub(crate) fn add_token(&mut self, token: &str) {
        self.add(token);
        if let Some((_, key)) = token.split_once(':') {
            self.add(key);
        }
    }

    /// The secret parts of a URL: its user info (its password alone too), its query and fragment
    /// and their [`credential_like`] values, and any bot token in its path (with or without
    /// `bot` before it). With `path_is_secret` (a webhook's URL, where the path is the
    /// credential, as Slack's and Discord's are), also its path and every [`credential_like`]
    /// segment of it (Slack's `T0123ABCD` and key, not its `services`).
    pub(crate) fn add_url_parts(&mut self, url: &str, path_is_secret: bool) {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(end);
        if let Some((userinfo, _host)) = authority.rsplit_once('@') {
            self.add(userinfo);
            if let Some((_user, password)) = userinfo.split_once(':') {
                self.add(password);
            }
        }
        let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        for part in [query, fragment] {
            self.add(part);
            for pair in part.split('&') {
                let value = pair.split_once('=').map_or(pair, |(_, v)| v);
                if credential_like(value) {
                    self.add(value);
                }
            }
        }
        if path_is_secret && path.len() > 1 {
            self.add(path);
        }
        for segment in path.split('/') {
            let token = segment.strip_prefix("bot").filter(|t| is_token(t)).unwrap_or(segment);
            if is_token(token) {
                self.add_token(token);
            } else if path_is_secret && credential_like(segment) {
                self.add(segment);
            }
        }
    }

    /// `piece` in every form it could come back in ([`Redactor::add`]), from [`MIN_PART`]
    /// characters on: a shorter piece cannot be told from ordinary text (an ntfy header
    /// `Priority: 5` would blank every 5 out of every alert and every reason).
    fn add(&mut self, piece: &str) {
        self.forms.add(piece, MIN_PART);
    }

    /// Adds every form of `other`'s secrets.
    pub(crate) fn extend(&mut self, other: &Secrets) {
        self.forms.extend(&other.forms);
    }

    /// `text` with every occurrence of any form of any secret replaced by `[redacted]`.
    /// Overlapping occurrences are one redaction, so no part of a secret survives between two.
    pub fn redact(&self, text: &str) -> String {
        self.forms.redact(text)
    }

    /// Text from outside (a server's answer) fit to quote in a reason: redacted *before* it is
    /// cut (so no half of a secret survives the cut), on one line, at most `max` characters.
    pub(crate) fn quote(&self, text: &str, max: usize) -> String {
        let one_line: String =
            self.redact(text).chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let one_line = one_line.trim();
        if one_line.chars().count() <= max {
            one_line.to_owned()
        } else {
            format!("{}...", one_line.chars().take(max).collect::<String>())
        }
    }

    /// `value` with every string in it (keys too) redacted.
    pub(crate) fn redact_json(&self, value: Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.redact(&s)),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.redact_json(v)).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (self.redact(&k), self.redact_json(v))).collect())
            }
            other => other,
        }
    }
}

/// Whether a part of a secret looks like a credential rather than a word, so that redacting
/// it alone cannot blank common words out of every alert (`services` in a Slack URL, `webhooks`
/// in Discord's): [`MIN_PART`] characters or more that mix two of lowercase letters, capitals
/// and digits, or 20 characters or more of anything.
fn credential_like(s: &str) -> bool {
    let classes = [u8::is_ascii_lowercase, u8::is_ascii_uppercase, u8::is_ascii_digit]
        .iter()
        .filter(|class| s.bytes().any(|b| class(&b)))
        .count();
    s.len() >= 20 || (s.len() >= MIN_PART && classes >= 2)
}

/// Whether `s` has a bot token's shape: digits, a colon, then letters, digits, `_` or `-`.
pub(crate) fn is_token(s: &str) -> bool {
    let (id, key) = s.split_once(':').unwrap_or(("", ""));
    !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shown() {
        let s = Secret::new("123456:ABC-def_ghi");
        assert_eq!(format!("{s} {s:?}"), "[redacted] Secret([redacted])");
        assert_eq!(s.expose(), "123456:ABC-def_ghi");
        let mut all = Secrets::default();
        all.add_token("123456:ABC-def_ghi");
        assert!(!format!("{all:?}").contains("ABC"));
    }

    #[test]
    fn a_token_is_redacted_in_every_form_and_alone() {
        let mut s = Secrets::default();
        s.add_token("123456:ABC-def_ghi");
        let text = "https://x/bot123456:ABC-def_ghi/sendMessage and bot123456%3AABC-def_ghi, \
                    bot123456%3aABC-def_ghi, key ABC-def_ghi";
        assert_eq!(
            s.redact(text),
            "https://x/bot[redacted]/sendMessage and bot[redacted], bot[redacted], key [redacted]"
        );
        assert_eq!(Secrets::default().redact("abc"), "abc");
    }

    #[test]
    fn a_webhook_url_is_redacted_whole_and_by_its_parts() {
        let mut s = Secrets::default();
        let url = "https://user:pass%20word@hooks.example/services/T0ABCDEF1/B0ABCDEF2/xyzSECRETxyz?token=tk_0123456789";
        s.add_value(url);
        s.add_url_parts(url, true);
        assert_eq!(s.redact(&format!("at {url}.")), "at [redacted].");
        for (echo, want) in [
            ("no hook /services/T0ABCDEF1/B0ABCDEF2/xyzSECRETxyz", "no hook [redacted]"),
            (r#"{"path":"\/services\/T0ABCDEF1\/B0ABCDEF2\/xyzSECRETxyz"}"#, r#"{"path":"[redacted]"}"#),
            ("bad token xyzSECRETxyz!", "bad token [redacted]!"),
            ("user user, password pass word", "user user, password [redacted]"),
            ("query token=tk_0123456789", "query [redacted]"),
            ("value tk_0123456789", "value [redacted]"),
            ("encoded %2Fservices%2FT0ABCDEF1", "encoded %2Fservices%2F[redacted]"),
        ] {
            assert_eq!(s.redact(echo), want, "{echo}");
        }
        // Words in the path are not credentials: alerts that use them are left alone.
        let mut discord = Secrets::default();
        let url = "https://discord.com/api/webhooks/123456789012345678/AbCdEf-0123456789_xyz";
        discord.add_value(url);
        discord.add_url_parts(url, true);
        for words in ["3 services down", "see the webhooks page", "api"] {
            assert_eq!(s.redact(words), words);
            assert_eq!(discord.redact(words), words);
        }
        assert_eq!(discord.redact("bad token AbCdEf-0123456789_xyz"), "bad token [redacted]");
    }

    #[test]
    fn an_api_url_keeps_its_host_and_path_but_not_a_token_or_credentials_in_it() {
        let mut s = Secrets::default();
        s.add_url_parts("https://u:p4ssw0rd@tg.example/api/bot99:KEYkey_-1/x?key=abcdefgh12", false);
        assert_eq!(
            s.redact("https://tg.example/api/bot99:KEYkey_-1/x?key=abcdefgh12 p4ssw0rd"),
            "https://tg.example/api/bot[redacted]/x?[redacted] [redacted]"
        );
    }

    proptest::proptest! {
        /// Whatever the text and the secrets (of characters `[redacted]` does not hold), no
        /// secret is left in the text, in any form, and text without one is left alone.
        #[test]
        fn nothing_of_a_secret_survives(
            secrets in proptest::collection::vec("[xyz0-9:/%é ]{8,14}", 1..4),
            text in "[xyz0-9:/%é \\\\\n]{0,80}",
        ) {
            let mut all = Secrets::default();
            for s in &secrets {
                all.add_value(s);
            }
            let out = all.redact(&text);
            for form in all.forms.forms() {
                proptest::prop_assert!(!out.contains(form.as_str()), "{form:?} in {out:?}");
            }
            if !all.forms.forms().iter().any(|f| text.contains(f.as_str())) {
                proptest::prop_assert_eq!(out, text);
            }
        }
    }

    #[test]
    fn overlapping_secrets_leave_nothing_between_them() {
        let mut s = Secrets::default();
        s.add_value("abcdefgh");
        s.add_value("efghijkl");
        assert_eq!(s.redact("xabcdefghijkly abab"), "x[redacted]y abab");
        assert_eq!(s.quote("é\nabcdefgh\tz", 20), "é [redacted] z");
        assert_eq!(s.quote(&format!("{}abcdefgh", "y".repeat(18)), 20), format!("{}[r...", "y".repeat(18)));
        // Too short to tell from ordinary text: a header `Priority: 5` blanks nothing.
        s.add_value("5");
        assert_eq!(s.redact("HTTP 503"), "HTTP 503");
    }
}
