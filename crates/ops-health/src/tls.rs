//! TLS certificate expiry: a handshake with a verifier that records the server certificate
//! and the verdict of the real WebPKI verification, then lets the handshake finish, so an
//! expired or self-signed certificate still reports its expiry date.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
use time::OffsetDateTime;
use x509_cert::der::Decode as _;

use crate::deadline::{Deadline, Deadlined};
use crate::{CertInfo, CheckKind, CheckResult, Failure, FailureKind, Outcome, TlsCheck, millis, net};

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// The public web roots, parsed once per process.
fn web_verifier() -> Result<Arc<WebPkiServerVerifier>, String> {
    static VERIFIER: OnceLock<Result<Arc<WebPkiServerVerifier>, String>> = OnceLock::new();
    VERIFIER
        .get_or_init(|| {
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| format!("cannot build certificate verifier: {e}"))
        })
        .clone()
}

/// Accepts any certificate but remembers it and what the real verifier said.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<(CertificateDer<'static>, Result<(), rustls::Error>)>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ());
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((end_entity.clone().into_owned(), verdict));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What a handshake taught us: the certificate if one was presented, and the failure if the
/// handshake did not complete.
struct Probed {
    cert: Option<CertInfo>,
    failure: Option<Failure>,
}

/// Connects and shakes hands by `deadline`: every read and write gets what is left of it, so
/// a server that drips its handshake cannot hold the check past its timeout.
fn probe(host: &str, port: u16, deadline: Deadline) -> Probed {
    let fail = |failure| Probed { cert: None, failure: Some(failure) };
    let verifier = match web_verifier() {
        Ok(v) => v,
        Err(e) => return fail(Failure::down(FailureKind::Tls, e)),
    };
    let recorder = Arc::new(Recorder { inner: verifier, seen: Mutex::new(None) });
    let config = match ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions() {
        Ok(b) => b.dangerous().with_custom_certificate_verifier(recorder.clone()).with_no_client_auth(),
        Err(e) => return fail(Failure::down(FailureKind::Tls, format!("tls setup: {e}"))),
    };
    let Ok(server_name) = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_owned())
    else {
        return fail(Failure::down(FailureKind::Dns, format!("{host} is not a valid host name")));
    };
    let sock = match net::connect(host, port, deadline) {
        Ok(s) => s,
        Err(f) => return fail(f),
    };
    let mut io = Deadlined { sock: &sock, deadline };
    let mut failure = None;
    match ClientConnection::new(Arc::new(config), server_name) {
        Ok(mut conn) => {
            while conn.is_handshaking() {
                if let Err(e) = conn.complete_io(&mut io) {
                    let mut f = net::io_failure(&e, deadline);
                    if f.outcome == Outcome::Down(FailureKind::Tls) {
                        f.detail = format!("tls handshake failed: {e}");
                    }
                    failure = Some(f);
                    break;
                }
            }
            if failure.is_none() {
                conn.send_close_notify();
                let _ = conn.write_tls(&mut io);
            }
        }
        Err(e) => failure = Some(Failure::down(FailureKind::Tls, format!("tls setup: {e}"))),
    }
    let seen = recorder.seen.lock().unwrap_or_else(PoisonError::into_inner).take();
    let cert = match seen {
        Some((der, verdict)) => match cert_info(&der, verdict) {
            Ok(info) => Some(info),
            Err(e) => {
                failure.get_or_insert(Failure::down(FailureKind::Tls, e));
                None
            }
        },
        None => None,
    };
    if cert.is_none() && failure.is_none() {
        failure = Some(Failure::down(FailureKind::Tls, "server presented no certificate"));
    }
    Probed { cert, failure }
}

fn cert_info(der: &[u8], verdict: Result<(), rustls::Error>) -> Result<CertInfo, String> {
    let cert =
        x509_cert::Certificate::from_der(der).map_err(|e| format!("cannot parse the certificate: {e}"))?;
    let not_after = cert.tbs_certificate().validity().not_after.to_unix_duration();
    let not_after =
        OffsetDateTime::from_unix_timestamp(i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX))
            .map_err(|e| format!("certificate expiry out of range: {e}"))?;
    let days_left = (not_after - OffsetDateTime::now_utc()).whole_seconds().div_euclid(86_400);
    Ok(CertInfo { not_after, days_left, untrusted: verdict.err().map(|e| describe(&e)) })
}

fn describe(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => "unknown issuer, self-signed?".into(),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired".into(),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "not valid yet".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "not valid for this host name".into()
            }
            CertificateError::Revoked => "revoked".into(),
            other => format!("{other:?}"),
        },
        other => other.to_string(),
    }
}

fn date(t: OffsetDateTime) -> String {
    format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Judges a certificate: its outcome and detail.
fn judge(cert: &CertInfo, warning_days: f64, verify: bool) -> (Outcome, String) {
    let when = date(cert.not_after);
    let n = cert.days_left;
    let now = OffsetDateTime::now_utc();
    let tls = Outcome::Down(FailureKind::Tls);
    if cert.not_after <= now {
        let detail = match (now - cert.not_after).whole_days() {
            0 => format!("certificate expired today ({when})"),
            ago => format!("certificate expired {ago} day(s) ago ({when})"),
        };
        return (tls, detail);
    }
    if verify && let Some(why) = &cert.untrusted {
        return (tls, format!("certificate not trusted ({why}), expires {when} ({n} days)"));
    }
    if (n as f64) < warning_days {
        return (tls, format!("certificate expires in {n} days ({when})"));
    }
    (Outcome::Up, format!("certificate valid for {n} days (expires {when})"))
}

/// The tls check.
pub(crate) fn check_tls(name: &str, check: &TlsCheck) -> CheckResult {
    let start = Instant::now();
    let probed = probe(&check.host, check.port, Deadline::after(check.timeout));
    let latency_ms = millis(start.elapsed());
    let mut result = match (&probed.cert, probed.failure) {
        (Some(cert), _) => {
            let (outcome, detail) = judge(cert, check.warning_days, check.verify);
            CheckResult::new(name, CheckKind::Tls, outcome, detail)
        }
        (None, failure) => CheckResult::failed(
            name,
            CheckKind::Tls,
            failure.unwrap_or_else(|| Failure::down(FailureKind::Tls, "server presented no certificate")),
        ),
    };
    result.cert = probed.cert;
    result.latency_ms = latency_ms;
    result
}

/// Adds a certificate verdict to an https URL check's result, by the URL check's deadline.
pub(crate) fn add_cert_check(
    result: &mut CheckResult,
    host: &str,
    port: u16,
    warning_days: f64,
    deadline: Deadline,
) {
    let probed = probe(host, port, deadline);
    match (&probed.cert, probed.failure) {
        (Some(cert), _) => {
            let (outcome, detail) = judge(cert, warning_days, true);
            result.worsen(outcome);
            result.detail = format!("{}, {detail}", result.detail);
        }
        (None, Some(f)) => {
            result.worsen(f.outcome);
            result.detail = format!("{}, certificate check failed: {}", result.detail, f.detail);
        }
        (None, None) => {}
    }
    result.cert = probed.cert;
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration as Span;

    fn cert(days: i64, untrusted: Option<&str>) -> CertInfo {
        let not_after = OffsetDateTime::now_utc() + Span::days(days) + Span::hours(1);
        CertInfo { not_after, days_left: days, untrusted: untrusted.map(Into::into) }
    }

    #[test]
    fn judgement() {
        let tls = Outcome::Down(FailureKind::Tls);
        assert_eq!(judge(&cert(30, None), 14.0, true).0, Outcome::Up);
        assert!(judge(&cert(30, None), 14.0, true).1.starts_with("certificate valid for 30 days (expires "));
        let (f, d) = judge(&cert(5, None), 14.0, true);
        assert_eq!(f, tls);
        assert!(d.starts_with("certificate expires in 5 days ("), "{d}");
        let (f, d) = judge(&cert(30, Some("unknown issuer, self-signed?")), 14.0, true);
        assert_eq!(f, tls);
        assert!(d.contains("not trusted (unknown issuer, self-signed?)") && d.contains("30 days"), "{d}");
        assert_eq!(judge(&cert(30, Some("x")), 14.0, false).0, Outcome::Up, "verify off: only expiry counts");
        let (f, d) = judge(&cert(-3, Some("expired")), 14.0, false);
        assert_eq!(f, tls);
        assert!(d.starts_with("certificate expired 2 day(s) ago ("), "{d}");
    }
}
