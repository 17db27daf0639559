//! The TLS identities of Trent's party listener and of each party: a self-signed certificate
//! (ECDSA P-256) whose SHA-256 fingerprint the other side pins — the operator approves a party's
//! fingerprint in Trent's config, and gives each party Trent's. No CA is involved.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

const CERT_FILE: &str = "identity.crt";
const KEY_FILE: &str = "identity.key";

/// A certificate and its private key.
pub struct Identity {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl Identity {
    /// The identity kept in `dir` (`identity.crt`, `identity.key`), made there (key mode 0600) if
    /// absent.
    pub fn load_or_create(dir: &Path, name: &str) -> Result<Identity, String> {
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        if !key_path.exists() {
            let key = rcgen::KeyPair::generate().map_err(|e| format!("cannot generate a TLS key: {e}"))?;
            let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
                .and_then(|params| params.self_signed(&key))
                .map_err(|e| format!("cannot make a certificate: {e}"))?;
            write_private(&key_path, key.serialize_pem().as_bytes())?;
            std::fs::write(&cert_path, cert.pem()).map_err(|e| format!("cannot write {}: {e}", cert_path.display()))?;
        }
        let cert = CertificateDer::from_pem_file(&cert_path).map_err(|e| format!("cannot read {}: {e}", cert_path.display()))?;
        let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| format!("cannot read {}: {e}", key_path.display()))?;
        Ok(Identity { cert, key })
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert)
    }

    /// A server that asks every client for a certificate and accepts those whose fingerprints are `approved`.
    pub fn server_config(&self, approved: Vec<String>) -> Result<Arc<rustls::ServerConfig>, String> {
        let verifier = Arc::new(Pinned { fingerprints: approved, algorithms: provider().signature_verification_algorithms });
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.cert.clone()], self.key.clone_key())
            .map_err(|e| format!("TLS identity: {e}"))?;
        Ok(Arc::new(config))
    }

    /// A client that presents this identity and accepts only a server of fingerprint `server`.
    pub fn client_config(&self, server: String) -> Result<Arc<rustls::ClientConfig>, String> {
        let verifier = Arc::new(Pinned { fingerprints: vec![server], algorithms: provider().signature_verification_algorithms });
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(vec![self.cert.clone()], self.key.clone_key())
            .map_err(|e| format!("TLS identity: {e}"))?;
        Ok(Arc::new(config))
    }
}

/// `sha256:` and the certificate's SHA-256 in hex.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.as_ref());
    format!("sha256:{}", digest.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// Trusts exactly the certificates of the given fingerprints; the handshake's signatures are
/// checked as usual.
#[derive(Debug)]
struct Pinned {
    fingerprints: Vec<String>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Pinned {
    fn check(&self, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        match self.fingerprints.contains(&fingerprint(cert)) {
            true => Ok(()),
            false => Err(rustls::Error::General(format!("certificate {} is not an approved identity", fingerprint(cert)))),
        }
    }
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity).map(|()| ServerCertVerified::assertion())
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

impl ClientCertVerifier for Pinned {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(&self, end_entity: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: UnixTime) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity).map(|()| ClientCertVerified::assertion())
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
