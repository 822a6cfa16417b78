//! Built without the `tls` feature (`cargo test -p ops-health --no-default-features`), a tls
//! check and an https URL say plainly that they could not be checked, and nothing else
//! changes.

#![cfg(not(feature = "tls"))]

use ops_health::{Check, Outcome, Probe, TlsCheck, Unchecked, UrlCheck, run};

#[test]
fn tls_checks_and_https_urls_are_unsupported_not_down() {
    let tls = run(&Probe::new("Cert", Check::Tls(TlsCheck::new("localhost"))));
    assert_eq!(tls.outcome, Outcome::Unknown(Unchecked::Unsupported));
    assert_eq!(
        tls.to_string(),
        "[FAIL] Cert - agent-ops could not run this check: tls checks need agent-ops built with the `tls` feature"
    );
    let https = run(&Probe::new("Web", Check::Url(UrlCheck::new("HTTPS://localhost:1/"))));
    assert_eq!(https.outcome, Outcome::Unknown(Unchecked::Unsupported));
    assert_eq!(
        https.detail,
        "agent-ops could not run this check: https needs agent-ops built with the `tls` feature"
    );
    let proxy = ops_health::Proxy::new("https://proxy.example:3128").unwrap_err();
    assert!(proxy.to_string().contains("https:// needs the tls feature"), "{proxy}");
}
