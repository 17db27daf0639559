//! TLS for the KMS API: rustls with the aws-lc-rs provider, TLS 1.2 and 1.3. The certificate chain
//! and key are read from PEM files at start and again on SIGHUP; a new pair that does not load is
//! refused (logged) and the one in use kept. Connections already open keep the pair they began with.

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use tokio_rustls::TlsAcceptor;

pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    config: RwLock<Arc<ServerConfig>>,
}

impl Tls {
    /// Loads the certificate chain (`cert`, PEM, leaf first) and its private key (`key`, PEM).
    pub fn load(cert: PathBuf, key: PathBuf) -> Result<Tls, String> {
        let config = server_config(&cert, &key)?;
        Ok(Tls { cert, key, config: RwLock::new(config) })
    }

    /// Reads the files again; on failure the pair in use stays.
    pub fn reload(&self) -> Result<(), String> {
        let config = server_config(&self.cert, &self.key)?;
        if let Ok(mut current) = self.config.write() {
            *current = config;
        }
        Ok(())
    }

    /// What accepts the next connection, with the pair in use now.
    pub fn acceptor(&self) -> Option<TlsAcceptor> {
        self.config.read().ok().map(|config| TlsAcceptor::from(config.clone()))
    }
}

fn server_config(cert: &std::path::Path, key: &std::path::Path) -> Result<Arc<ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read the TLS certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("cannot read the TLS private key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| format!("the TLS certificate {} and key {} do not make a pair: {e}", cert.display(), key.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
