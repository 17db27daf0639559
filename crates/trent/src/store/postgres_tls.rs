//! TLS to PostgreSQL as libpq's URL parameters ask for it: `sslmode` and `sslrootcert` (the CAs to
//! trust, PEM), with rustls and the aws-lc-rs provider.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`, has no `sslrootcert` and checks no
//! certificate itself: both parameters are taken out of the URL here, and the server's certificate
//! is checked as libpq checks it:
//!
//! | sslmode | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (absent: libpq's default) | when the server offers it | not checked; with `sslrootcert`, its chain is |
//! | `require` | always | not checked; with `sslrootcert`, its chain is (libpq: then as `verify-ca`) |
//! | `verify-ca` | always | its chain, to a CA of `sslrootcert` |
//! | `verify-full` | always | its chain, and that it names the URL's host (name or IP address) |

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// What a PostgreSQL URL asks of TLS.
pub struct PostgresTls {
    /// The URL without `sslmode` and `sslrootcert`, for tokio-postgres.
    pub url: String,
    /// The `sslmode` to give tokio-postgres; None leaves its default, `prefer`, as libpq's.
    pub ssl_mode: Option<SslMode>,
    /// What makes each connection's TLS session, checking the certificate as `sslmode` says.
    pub connector: MakeRustlsConnect,
}

/// libpq's `sslmode` values, but `allow` (tokio-postgres cannot try plain first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(value: &str) -> Result<Mode, String> {
        Ok(match value {
            "disable" => Mode::Disable,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            other => return Err(format!("sslmode '{other}' is not one of disable, prefer, require, verify-ca, verify-full")),
        })
    }

    fn tokio_postgres(self) -> SslMode {
        match self {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }
}

impl PostgresTls {
    /// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL's query and reads the CA file.
    /// The errors name the parameter, never the URL (which may hold a password). A connection
    /// string of `key=value` pairs is passed on as it is: tokio-postgres reads its `sslmode`.
    pub fn from_url(url: &str) -> Result<PostgresTls, String> {
        let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
        let (base, query) = match url.split_once('?') {
            Some((base, query)) if is_url => (base, query),
            _ => (url, ""),
        };
        let mut kept = Vec::new();
        let (mut mode, mut root_cert) = (None, None);
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            let decoded = || percent_encoding::percent_decode_str(value).decode_utf8().map_err(|_| format!("{name} is not UTF-8 once percent-decoded"));
            match name {
                "sslmode" => mode = Some(Mode::parse(&decoded()?)?),
                "sslrootcert" => root_cert = Some(PathBuf::from(decoded()?.into_owned())),
                _ => kept.push(param),
            }
        }
        let verification = match (mode, root_cert) {
            (Some(Mode::Disable), _) | (None | Some(Mode::Prefer | Mode::Require), None) => ServerCertificateCheck::none(),
            (Some(Mode::VerifyCa | Mode::VerifyFull), None) => {
                return Err("sslmode=verify-ca and sslmode=verify-full need sslrootcert=FILE: the CA certificates to trust, in PEM".into())
            }
            (Some(mode), Some(file)) => ServerCertificateCheck::against(&file, mode == Mode::VerifyFull)?,
            (None, Some(file)) => ServerCertificateCheck::against(&file, false)?,
        };
        let url = match kept.is_empty() {
            true => base.to_owned(),
            false => format!("{base}?{}", kept.join("&")),
        };
        Ok(PostgresTls { url, ssl_mode: mode.map(Mode::tokio_postgres), connector: verification.connector()? })
    }
}

/// Checks the server's certificate as the `sslmode` asks (see the module's table). The handshake's
/// signatures are verified in every mode, with the provider's algorithms.
#[derive(Debug)]
struct ServerCertificateCheck {
    /// The CAs of `sslrootcert`, and that file; None: any certificate is accepted.
    trusted: Option<(RootCertStore, PathBuf)>,
    /// `verify-full`: the certificate must name the host the URL connects to.
    check_host: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertificateCheck {
    fn none() -> ServerCertificateCheck {
        ServerCertificateCheck { trusted: None, check_host: false, algorithms: provider().signature_verification_algorithms }
    }

    fn against(file: &Path, check_host: bool) -> Result<ServerCertificateCheck, String> {
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
            .and_then(|certificates| certificates.collect::<Result<_, _>>())
            .map_err(|e| format!("sslrootcert {}: {e}", file.display()))?;
        let mut roots = RootCertStore::empty();
        for certificate in certificates {
            roots.add(certificate).map_err(|e| format!("sslrootcert {}: {e}", file.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("sslrootcert {} holds no certificate (PEM)", file.display()));
        }
        Ok(ServerCertificateCheck { trusted: Some((roots, file.to_owned())), check_host, ..ServerCertificateCheck::none() })
    }

    fn connector(self) -> Result<MakeRustlsConnect, String> {
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(self))
            .with_no_client_auth();
        // PostgreSQL 17 refuses a TLS connection that names another application protocol; older
        // servers ignore it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(MakeRustlsConnect::new(config))
    }
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

impl ServerCertVerifier for ServerCertificateCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some((roots, file)) = &self.trusted else { return Ok(ServerCertVerified::assertion()) };
        // The messages reach the operator through the connection error at start.
        let certificate = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(&certificate, roots, intermediates, now, self.algorithms.all)
            .map_err(|e| rustls::Error::General(format!("the PostgreSQL server's certificate is not signed by a CA of sslrootcert {}: {e}", file.display())))?;
        if self.check_host {
            verify_server_name(&certificate, server_name).map_err(|e| {
                rustls::Error::General(format!("the PostgreSQL server's certificate is not for {} (sslmode=verify-full): {e}", server_name.to_str()))
            })?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed CA certificate (openssl req -x509, P-256, valid for a century).
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBkjCCATegAwIBAgIUDIys4Hbn4BvbLdhGauUWbi6DyMcwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSVHJlbnQgdW5pdCB0ZXN0IENBMCAXDTI2MTIwNDIyNTQ1N1oY
DzIxMjYxMTEwMjI1NDU3WjAdMRswGQYDVQQDDBJUcmVudCB1bml0IHRlc3QgQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASCpIzQ5TpfO+cSPH/TnABfqwhclxV8
q5Sp+MfjS+iF0WEvnQygOFmvEV7qUrPW63O9uulFaDyV5Db/A6MihCgRo1MwUTAd
BgNVHQ4EFgQUFr2ZCLVWuOLjB8GVYPZ16t5/FWIwHwYDVR0jBBgwFoAUFr2ZCLVW
uOLjB8GVYPZ16t5/FWIwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBG
AiEAvNOLCj8Eg48aruFoIVclV4fhewB6O/BeIOfDHNtTiOsCIQDPqYutaBRDal8u
MsoD6e1ZVHq/IsK7lf8sEFJ4weZOIQ==
-----END CERTIFICATE-----
";

    fn error_of(url: &str) -> String {
        match PostgresTls::from_url(url) {
            Ok(tls) => panic!("{url} accepted as {}", tls.url),
            Err(e) => e,
        }
    }

    #[test]
    fn sslmode_and_sslrootcert_leave_the_url_and_the_rest_stays() {
        let tls = PostgresTls::from_url("postgres://u:pw@db:5432/trent?application_name=x&sslmode=require&connect_timeout=3").expect("valid");
        assert_eq!(tls.url, "postgres://u:pw@db:5432/trent?application_name=x&connect_timeout=3");
        assert_eq!(tls.ssl_mode, Some(SslMode::Require));
        let tls = PostgresTls::from_url("postgresql://db/trent?sslmode=disable").expect("valid");
        assert_eq!((tls.url.as_str(), tls.ssl_mode), ("postgresql://db/trent", Some(SslMode::Disable)));
        // Absent: tokio-postgres's default, prefer, as libpq's.
        let tls = PostgresTls::from_url("postgres://db/trent").expect("valid");
        assert_eq!((tls.url.as_str(), tls.ssl_mode), ("postgres://db/trent", None));
        // A key=value connection string is tokio-postgres's to read.
        let tls = PostgresTls::from_url("host=db sslmode=require password=a?b").expect("valid");
        assert_eq!((tls.url.as_str(), tls.ssl_mode), ("host=db sslmode=require password=a?b", None));
    }

    #[test]
    fn verify_modes_read_the_ca_file_percent_decoded() {
        let dir = std::env::temp_dir().join(format!("trent-pg-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a dir");
        let ca = dir.join("the ca.pem");
        std::fs::write(&ca, CA).expect("write the CA");
        let encoded = ca.display().to_string().replace(' ', "%20");
        for mode in ["verify-ca", "verify-full", "require", "prefer"] {
            let tls = PostgresTls::from_url(&format!("postgres://db/trent?sslrootcert={encoded}&sslmode={mode}")).expect(mode);
            assert_eq!(tls.url, "postgres://db/trent");
        }
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let e = error_of(&format!("postgres://db/t?sslmode=verify-full&sslrootcert={}", empty.display()));
        assert!(e.contains("holds no certificate") && e.contains("empty.pem"), "{e}");
        let e = error_of("postgres://db/t?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem");
        assert!(e.starts_with("sslrootcert /nonexistent/ca.pem: "), "{e}");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn bad_parameters_are_named_and_the_password_never_is() {
        for (url, expected) in [
            ("postgres://trent:hunter2@db/t?sslmode=verify_full", "sslmode 'verify_full' is not one of disable, prefer, require, verify-ca, verify-full"),
            ("postgres://trent:hunter2@db/t?sslmode=allow", "sslmode 'allow' is not one of"),
            ("postgres://trent:hunter2@db/t?sslmode=verify-full", "need sslrootcert=FILE"),
            ("postgres://trent:hunter2@db/t?sslmode=verify-ca", "need sslrootcert=FILE"),
            ("postgres://trent:hunter2@db/t?sslmode=%ff", "sslmode is not UTF-8"),
        ] {
            let e = error_of(url);
            assert!(e.contains(expected), "{url}: {e}");
            assert!(!e.contains("hunter2"), "{url}: {e}");
        }
    }
}
