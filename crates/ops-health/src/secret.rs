//! Values a check sends that must never be shown (a password, a bearer token, header values),
//! and their removal from everything a check reports.
//!
//! A [`Credential`] (ops-state's `Secret`) never shows itself. A URL check knows its
//! credentials in every form a server could send them back in (as written, the Basic
//! `user:password` and its base64, percent-encoded, JSON-escaped: ops-state's `Redactor` does
//! the forms), and its result's detail, condition displays included, is redacted before the
//! check returns: details reach the report, the metrics files, the orchestrator's log and
//! alerts, and this is the one place they are cleaned.

pub use ops_state::REDACTED;

/// Credentials shorter than this are not redacted: they protect nothing, and would blank
/// ordinary words out of every detail.
const MIN_WHOLE: usize = 4;

/// The words of a header value (`Bearer abc...`, `token=...`) are redacted alone from this
/// length on, as ops-alert does for webhook headers.
const MIN_WORD: usize = 8;

/// A value sent to the service that must never be shown: ops-state's [`ops_state::Secret`].
pub use ops_state::Secret as Credential;

/// Every form of a check's credentials.
#[derive(Debug, Default)]
pub(crate) struct Redactor {
    forms: ops_state::Redactor,
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

    /// `piece` in every form ([`ops_state::Redactor::add`]), from `min` characters on.
    fn add(&mut self, piece: &str, min: usize) {
        self.forms.add(piece, min);
    }

    /// Whether there is nothing to redact.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// `text` with every occurrence of every form replaced by `[redacted]`; overlapping
    /// occurrences are one redaction, so no part of a credential survives between two.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.forms.redact(text)
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
            "Secret([redacted]) [redacted]"
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
            let forms = r.forms.forms().to_vec();
            proptest::prop_assert!(forms.contains(&secret) && forms.contains(&base64(pair.as_bytes())));
            // Every form (ops-state makes the percent-encoded and JSON-escaped ones).
            for form in forms {
                let out = r.redact(&format!("{before}{form}{after}"));
                proptest::prop_assert!(!out.contains(&form), "{:?} survived in {:?}", form, out);
                proptest::prop_assert!(out.contains(REDACTED));
            }
            if !before.contains(&secret) && r.forms.forms().iter().all(|f| !before.contains(f.as_str())) {
                proptest::prop_assert_eq!(r.redact(&before), before.clone());
            }
        }
    }
}
