//! TLS for the KMS API (`--tls-cert`, `--tls-key`), against a test CA made with the `openssl` CLI:
//! `aws-sdk-kms` trusting that CA works and one trusting another CA is refused; `aws:SecureTransport`
//! is true over TLS only; SIGHUP loads a new pair and keeps the old one when the new does not load;
//! plain HTTP beyond loopback needs `insecure_plaintext = true`.

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
use aws_smithy_http_client::tls;

use crate::common::*;

/// A certificate authority of the test's own, and what it signs.
pub struct TestCa {
    dir: PathBuf,
    name: String,
}

impl TestCa {
    pub fn new(dir: &Path, name: &str) -> TestCa {
        let ca = TestCa {
            dir: dir.to_owned(),
            name: name.to_owned(),
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=Trent test CA {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            ca.path("ca.key").to_str().unwrap(),
            "-out",
            ca.path("ca.pem").to_str().unwrap(),
        ]);
        ca
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(format!("{}-{file}", self.name))
    }

    fn pem(&self) -> Vec<u8> {
        std::fs::read(self.path("ca.pem")).expect("read the CA")
    }

    /// A server certificate for 127.0.0.1 and localhost, and its key: (cert, key).
    fn server_pair(&self) -> (PathBuf, PathBuf) {
        let (cert, key, request) = (
            self.path("server.pem"),
            self.path("server.key"),
            self.path("server.csr"),
        );
        let extensions = self.path("server.ext");
        std::fs::write(
            &extensions,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write the extensions");
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            request.to_str().unwrap(),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            request.to_str().unwrap(),
            "-days",
            "2",
            "-CA",
            self.path("ca.pem").to_str().unwrap(),
            "-CAkey",
            self.path("ca.key").to_str().unwrap(),
            "-CAcreateserial",
            "-extfile",
            extensions.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ]);
        (cert, key)
    }
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An `aws-sdk-kms` client of `server` that trusts only `ca_pem`.
fn client_trusting(server: &Server, ca_pem: Vec<u8>) -> Client {
    let trust = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(ca_pem);
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("TLS context");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https();
    Client::from_conf(
        server
            .sdk_config(REGION, ACCESS_KEY, SECRET_KEY)
            .http_client(http)
            .build(),
    )
}

/// A key whose policy lets the account do anything, except over plain HTTP.
const TLS_ONLY_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
  {"Sid":"TLS only","Effect":"Deny","Principal":"*","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;

async fn encrypt_tls_only(kms: &Client) -> Result<(), String> {
    let key = kms
        .create_key()
        .policy(TLS_ONLY_POLICY)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?
        .key_metadata
        .expect("KeyMetadata")
        .key_id;
    let result = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("over TLS?"))
        .send()
        .await;
    result.map(drop).map_err(|e| {
        aws_sdk_kms::error::ProvideErrorMetadata::code(&e)
            .unwrap_or("no code")
            .to_owned()
    })
}

#[tokio::test]
async fn the_kms_api_over_tls_with_secure_transport_and_reload() {
    let dir = Server::new_root();
    std::fs::create_dir_all(&dir).expect("create the test dir");
    let (ca, other) = (TestCa::new(&dir, "one"), TestCa::new(&dir, "two"));
    let (cert, key) = ca.server_pair();
    let server = Server::start_with_args(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(
        server.url().starts_with("https://127.0.0.1:"),
        "{}",
        server.url()
    );

    let trusting = client_trusting(&server, ca.pem());
    let key_id = create_key(&trusting).await.key_id;
    let blob = encrypt(&trusting, &key_id, b"over TLS").await;
    assert_eq!(decrypt(&trusting, &blob).await, b"over TLS");
    // aws:SecureTransport is true here: the TLS-only key works.
    encrypt_tls_only(&trusting).await.expect("Encrypt over TLS");

    // A client that does not trust the server's CA never gets to send its request.
    let wary = client_trusting(&server, other.pem());
    let refused = wary
        .list_keys()
        .send()
        .await
        .expect_err("another CA's client connected");
    assert!(
        matches!(refused, aws_sdk_kms::error::SdkError::DispatchFailure(_)),
        "{refused:?}"
    );

    // SIGHUP with a pair that does not load: refused, the old one kept.
    std::fs::write(&cert, "not a certificate").expect("spoil the certificate");
    server.sighup().await;
    let fresh = client_trusting(&server, ca.pem());
    fresh
        .list_keys()
        .send()
        .await
        .expect("the old pair is kept");
    // SIGHUP with a pair from the other CA: new connections get it.
    let (other_cert, other_key) = other.server_pair();
    std::fs::copy(&other_cert, &cert).expect("install the new certificate");
    std::fs::copy(&other_key, &key).expect("install the new key");
    server.sighup().await;
    client_trusting(&server, other.pem())
        .list_keys()
        .send()
        .await
        .expect("the new pair");
    let stale = client_trusting(&server, ca.pem()).list_keys().send().await;
    assert!(stale.is_err(), "a client of the first CA still connects");
    let log = std::fs::read_to_string(server.log_file()).expect("read the log");
    assert!(log.contains("new TLS certificate and key refused"), "{log}");
    assert!(log.contains("TLS certificate and key reloaded"), "{log}");
}

/// Over plain HTTP `aws:SecureTransport` is false: the TLS-only key refuses Encrypt.
#[tokio::test]
async fn plain_http_is_not_secure_transport() {
    let server = Server::start();
    let refused = encrypt_tls_only(&server.client(REGION)).await;
    assert_eq!(refused, Err("AccessDeniedException".to_owned()));
}

/// Secure by default: with a config file, plain HTTP on an address beyond loopback is refused at
/// start, saying how to serve TLS or to accept plain HTTP; `insecure_plaintext = true` allows it.
#[test]
fn plain_http_beyond_loopback_needs_insecure_plaintext() {
    let dir = Server::new_root();
    std::fs::create_dir_all(&dir).expect("create the test dir");
    let accounts = "[[accounts]]\nid = \"111122223333\"\n\n[[accounts.users]]\nname = \"u\"\naccess_keys = [{ id = \"AKIDU\", secret = \"s\" }]\n";
    let refused = dir.join("refused.toml");
    std::fs::write(&refused, accounts).expect("write the config");
    let (status, stderr) = refused_start(&[
        "--config",
        refused.to_str().unwrap(),
        "--listen",
        "0.0.0.0:0",
    ]);
    assert!(!status.success());
    assert!(
        stderr.contains("refusing to serve plain HTTP on 0.0.0.0:0")
            && stderr.contains("insecure_plaintext = true")
            && stderr.contains("--tls-cert"),
        "{stderr}"
    );
    let allowed = dir.join("allowed.toml");
    std::fs::write(&allowed, format!("insecure_plaintext = true\n{accounts}"))
        .expect("write the config");
    let server = Server::start_with_args(&[
        "--config",
        allowed.to_str().unwrap(),
        "--listen",
        "0.0.0.0:0",
    ]);
    assert!(
        server.url().starts_with("http://0.0.0.0:"),
        "{}",
        server.url()
    );
}
