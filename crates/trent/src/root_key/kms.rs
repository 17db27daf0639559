//! `kms:PATH?key=KEY[&region=REGION][&endpoint=URL]`: "auto-unseal" by another AWS-KMS-compatible
//! service. The file holds a ciphertext of the root key under KEY, of AWS KMS or of another Trent,
//! decrypted once at start; credentials and, unless given, the region come from the usual AWS
//! chain (environment, profile, instance role…).

use super::sealed::{Seal, SealedFile};
use aws_sdk_kms::primitives::Blob;
use std::path::PathBuf;
use std::time::Duration;
use trent_crypto::root::RootKey;
use trent_crypto::KeyMaterial;

/// Binds the ciphertext to its purpose and to the root key's ID.
const CONTEXT_KEY: &str = "trent:root-key";
/// A start that cannot reach the sealing KMS fails within this, instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsUri {
    pub path: PathBuf,
    /// The sealing key: key ID, key ARN, alias name or alias ARN.
    key: String,
    region: Option<String>,
    endpoint: Option<String>,
}

impl KmsUri {
    pub fn new(path: PathBuf, parameters: &[(String, String)]) -> Result<KmsUri, String> {
        let (mut key, mut region, mut endpoint) = (None, None, None);
        for (name, value) in parameters {
            let slot = match name.as_str() {
                "key" => &mut key,
                "region" => &mut region,
                "endpoint" => &mut endpoint,
                other => return Err(format!("kms: unknown parameter {other:?} (key, region, endpoint)")),
            };
            *slot = Some(value.clone());
        }
        Ok(KmsUri { path, key: key.ok_or("kms: the key= parameter is required")?, region, endpoint })
    }

    async fn client(&self) -> aws_sdk_kms::Client {
        let timeouts = aws_config::timeout::TimeoutConfig::builder().operation_timeout(TIMEOUT).connect_timeout(TIMEOUT).build();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts);
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        aws_sdk_kms::Client::new(&loader.load().await)
    }
}

pub async fn seal(uri: &KmsUri, root: &RootKey) -> Result<(), String> {
    let output = uri
        .client()
        .await
        .encrypt()
        .key_id(&uri.key)
        .plaintext(Blob::new(root.bytes().as_bytes()))
        .encryption_context(CONTEXT_KEY, root.id().to_string())
        .send()
        .await
        .map_err(|e| format!("the sealing KMS refused to encrypt under {}: {}", uri.key, explain(&e)))?;
    let ciphertext = output.ciphertext_blob.ok_or("the sealing KMS returned no ciphertext")?.into_inner();
    SealedFile::new(root, Seal::Kms { key: uri.key.clone(), ciphertext }).write(&uri.path)
}

pub async fn open(uri: &KmsUri) -> Result<RootKey, String> {
    let file = SealedFile::read(&uri.path)?;
    let Seal::Kms { ciphertext, .. } = &file.seal else {
        return Err(format!("{} is not sealed by a KMS", uri.path.display()));
    };
    let output = uri
        .client()
        .await
        .decrypt()
        .key_id(&uri.key)
        .ciphertext_blob(Blob::new(ciphertext.clone()))
        .encryption_context(CONTEXT_KEY, file.id.clone())
        .send()
        .await
        .map_err(|e| format!("the sealing KMS did not open {} with {}: {}", uri.path.display(), uri.key, explain(&e)))?;
    let plaintext = output.plaintext.ok_or("the sealing KMS returned no plaintext")?.into_inner();
    file.finish(KeyMaterial::new(plaintext), &uri.path)
}

/// The service's error code and message, or why it could not be reached.
fn explain(error: &(impl std::error::Error + 'static)) -> String {
    aws_sdk_kms::error::DisplayErrorContext(error).to_string()
}
