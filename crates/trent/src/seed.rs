//! Seeded keys: keys the config file says must exist, made at start when absent, so that a
//! development, CI or production setup has the same key IDs, aliases and policies every time.
//!
//! ```toml
//! [[seed.keys]]
//! account = "111122223333"
//! region = "eu-west-1"
//! id = "0b7e1b6a-3f6e-4c4e-9a0e-6a3d2f1c9b11"   # or mrk- and 32 hex digits: a multi-Region primary
//! aliases = ["alias/app"]
//! key_spec = "SYMMETRIC_DEFAULT"                 # absent: CreateKey's defaults
//! key_usage = "ENCRYPT_DECRYPT"
//! description = "app data"
//! tags = { team = "core" }
//! policy_file = "policies/app.json"              # absent: the default key policy
//! material_file = "keys/app.bin"                 # imported material, origin EXTERNAL
//! ```
//!
//! A seed is a CreateKey request made by the account's root user and checked as AWS checks one —
//! the model's constraints, key spec and usage, key policy, tags, alias names — but with the key ID
//! and material the seed gives, and without the lockout check (the config file is the authority
//! here, as `BypassPolicyLockoutSafetyCheck`). Relative paths start at the config file's directory.
//!
//! A key that exists is compared, never changed: a different key spec, usage, origin,
//! multi-Region setting or material stops Trent at start, naming the key. Its description, policy
//! and tags are left as they are (they may have been changed through the API since). Missing aliases
//! are made; an alias that names another key stops Trent. Nodes starting together on one database
//! race harmlessly: a node whose insert loses reads the key the other made, and compares it.
//!
//! Material files are read into buffers erased on drop and imported as ImportKeyMaterial imports
//! (wrapped under the root key, with the same `KeyMaterialId`), never copied anywhere else.

use crate::config::{Config, Principal, PrincipalKind};
use crate::ops::authorize::{self, StoredKey};
use crate::ops::seeding::{self, Seeded};
use crate::ops::{Caller, Ctx};
use crate::record::Trail;
use crate::store::{AliasRecord, KeyRecord, Scope, StoreError};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trent_crypto::KeyMaterial;
use trent_model::{parse_input, CreateAliasRequest, CreateKeyRequest, KeySpec, KeyUsageType, KmsError, OriginType};
use zeroize::Zeroizing;

/// The `[seed]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedConfig {
    /// `[[seed.keys]]`
    #[serde(default)]
    pub keys: Vec<SeedKey>,
}

/// One `[[seed.keys]]` entry: what must exist.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedKey {
    /// One of the config file's accounts (`111122223333` when it has none).
    pub account: String,
    pub region: String,
    /// A lowercase UUID, or `mrk-` and 32 lowercase hex digits for a multi-Region primary key.
    pub id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// CreateKey's `KeySpec` (default `SYMMETRIC_DEFAULT`) and `KeyUsage`.
    #[serde(default)]
    pub key_spec: Option<String>,
    #[serde(default)]
    pub key_usage: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// A key policy (JSON); the default key policy when absent.
    #[serde(default)]
    pub policy_file: Option<PathBuf>,
    /// Material to import: raw bytes for symmetric and HMAC keys, a PKCS#8 private key (DER or PEM)
    /// for asymmetric ones. The key's origin is then EXTERNAL.
    #[serde(default)]
    pub material_file: Option<PathBuf>,
}

/// What became of a seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Planted {
    Created,
    /// It existed, as the seed says.
    Present,
}

/// At start: [`plant_all`], saying in the log what became of each seed.
pub async fn plant_at_start(ctx: &Ctx, config: &Config, config_file: Option<&Path>) -> Result<(), String> {
    for (arn, planted) in plant_all(ctx, config, config_file).await? {
        match planted {
            Planted::Created => tracing::info!(key = %arn, "seed key created"),
            Planted::Present => tracing::info!(key = %arn, "seed key present, left as it is"),
        }
    }
    Ok(())
}

/// Makes the seeded keys of `config` that do not exist, and checks those that do (see the module's
/// documentation); `config_file` is where its relative paths start. What became of each key, by
/// ARN; the first problem stops it, named.
pub async fn plant_all(ctx: &Ctx, config: &Config, config_file: Option<&Path>) -> Result<Vec<(String, Planted)>, String> {
    let base = config_file.and_then(Path::parent).unwrap_or(Path::new(""));
    let accounts: Vec<&str> = match config.has_accounts() {
        true => config.accounts.iter().map(|a| a.id.as_str()).collect(),
        false => vec![crate::DEFAULT_ACCOUNT],
    };
    let mut keys = HashSet::new();
    let mut aliases = HashSet::new();
    let mut planted = Vec::new();
    for entry in &config.seed.keys {
        let seed = Seed::read(entry, base, &accounts).map_err(|e| format!("seed key {} ({}, {}): {e}", entry.id, entry.account, entry.region))?;
        if !keys.insert((seed.scope.clone(), seed.key_id.clone())) {
            return Err(format!("seed key {} is listed twice", seed.arn));
        }
        for alias in &seed.aliases {
            if !aliases.insert((seed.scope.clone(), alias.clone())) {
                return Err(format!("seed key {}: alias {alias} is given to another seed key too", seed.arn));
            }
        }
        let arn = seed.arn.clone();
        let outcome = seed.plant(ctx).await.map_err(|e| format!("seed key {arn}: {e}"))?;
        planted.push((arn, outcome));
    }
    Ok(planted)
}

/// A seed read and checked: where its key lives, the CreateKey request it makes, the spec and
/// usage that request resolves to, its aliases, and the material to import.
struct Seed {
    scope: Scope,
    key_id: String,
    arn: String,
    request: CreateKeyRequest,
    key_spec: KeySpec,
    key_usage: KeyUsageType,
    aliases: Vec<String>,
    material: Option<KeyMaterial>,
}

impl Seed {
    fn read(entry: &SeedKey, base: &Path, accounts: &[&str]) -> Result<Seed, String> {
        if !accounts.contains(&entry.account.as_str()) {
            return Err(format!("account {} is not one of the config file's ({})", entry.account, accounts.join(", ")));
        }
        if !crate::sigv4::is_region(&entry.region) {
            return Err(format!("'{}' is not a region name (such as eu-west-1)", entry.region));
        }
        let lowercase = !entry.id.bytes().any(|b| b.is_ascii_uppercase());
        if !authorize::is_key_id(&entry.id) || !lowercase {
            return Err("a key ID is a lowercase UUID, or mrk- and 32 lowercase hex digits for a multi-Region key".into());
        }
        let policy = match &entry.policy_file {
            Some(file) => {
                let path = base.join(file);
                Some(std::fs::read_to_string(&path).map_err(|e| format!("policy_file {}: {e}", path.display()))?)
            }
            None => None,
        };
        let material_path = entry.material_file.as_ref().map(|file| base.join(file));
        let tags: Vec<_> = entry.tags.iter().map(|(key, value)| serde_json::json!({ "TagKey": key, "TagValue": value })).collect();
        let request = serde_json::json!({
            "KeySpec": entry.key_spec,
            "KeyUsage": entry.key_usage,
            "Description": entry.description,
            "Tags": (!tags.is_empty()).then_some(tags),
            "Policy": policy,
            "BypassPolicyLockoutSafetyCheck": true,
            "Origin": material_path.as_ref().map(|_| OriginType::External.as_str()),
            "MultiRegion": entry.id.starts_with("mrk-"),
        });
        let request: CreateKeyRequest = parse_input(request.to_string().as_bytes()).map_err(|e| e.to_string())?;
        let (key_spec, key_usage) = seeding::requested_spec_and_usage(&request).map_err(|e| e.to_string())?;
        let material = match material_path {
            Some(path) => Some(read_material(&path, key_spec)?),
            None => None,
        };
        for alias in &entry.aliases {
            let request = serde_json::json!({ "AliasName": alias, "TargetKeyId": entry.id });
            parse_input::<CreateAliasRequest>(request.to_string().as_bytes()).map_err(|e| format!("alias {alias}: {e}"))?;
            seeding::check_alias_name(alias).map_err(|e| format!("alias {alias}: {e}"))?;
        }
        let scope = Scope { account: entry.account.clone(), region: entry.region.clone() };
        let arn = authorize::key_arn(&scope, &entry.id);
        Ok(Seed { scope, key_id: entry.id.clone(), arn, request, key_spec, key_usage, aliases: entry.aliases.clone(), material })
    }

    /// Makes the key, or checks the one there; then its aliases.
    async fn plant(self, ctx: &Ctx) -> Result<Planted, String> {
        let planted = match ctx.store.get_key(&self.scope, &self.key_id).await.map_err(store_error)? {
            Some(existing) => {
                self.compare(ctx, existing)?;
                Planted::Present
            }
            None => {
                let seeded = Seeded { key_id: self.key_id.clone(), material: self.material.as_ref() };
                let record = seeding::new_key_record(ctx, &self.caller(), self.request.clone(), Some(seeded)).await.map_err(|e| e.to_string())?;
                match ctx.store.insert_key(&self.scope, &record).await {
                    Ok(()) => Planted::Created,
                    // Another node seeded it meanwhile.
                    Err(StoreError::Conflict) => {
                        let existing = ctx.store.get_key(&self.scope, &self.key_id).await.map_err(store_error)?;
                        self.compare(ctx, existing.ok_or("deleted while being seeded: start again")?)?;
                        Planted::Present
                    }
                    Err(e) => return Err(store_error(e)),
                }
            }
        };
        for alias in &self.aliases {
            self.plant_alias(ctx, alias).await?;
        }
        Ok(planted)
    }

    /// The account's root user, as whom the seed's CreateKey is made.
    fn caller(&self) -> Caller {
        Caller {
            scope: self.scope.clone(),
            principal: Arc::new(Principal::new(&self.scope.account, PrincipalKind::Root, "", &[])),
            source_ip: None,
            secure: false,
            request_id: uuid::Uuid::nil(),
            event_id: uuid::Uuid::nil(),
            received: std::time::SystemTime::now(),
            trail: Arc::new(Trail::default()),
        }
    }

    /// Refuses a stored key that is not what the seed makes.
    fn compare(&self, ctx: &Ctx, existing: Arc<KeyRecord>) -> Result<(), String> {
        let key = StoredKey::new(self.scope.clone(), existing);
        let origin = if self.material.is_some() { OriginType::External } else { OriginType::AwsKms };
        let multi_region = self.request.multi_region == Some(true);
        let mut differences = Vec::new();
        let mut differ = |what: &str, seeded: &dyn std::fmt::Display, stored: &dyn std::fmt::Display| {
            differences.push(format!("{what} {seeded} in the seed, {stored} in the store"));
        };
        if key.key_spec != self.key_spec {
            differ("key spec", &self.key_spec, &key.key_spec);
        }
        if key.key_usage != self.key_usage {
            differ("key usage", &self.key_usage, &key.key_usage);
        }
        if key.origin != origin {
            differ("origin", &origin, &key.origin);
        }
        if key.multi_region.is_some() != multi_region {
            differ("multi-Region", &multi_region, &key.multi_region.is_some());
        }
        if let Some(material) = self.material.as_ref().filter(|_| differences.is_empty()) {
            if !self.holds(ctx, &key, material).map_err(|e| e.to_string())? {
                differences.push("the key material differs from the material file's".into());
            }
        }
        match differences.is_empty() {
            true => Ok(()),
            false => Err(format!(
                "the key in the store is not the seed's: {}. A seed never changes a key: restore the seed, or remove the key from the store",
                differences.join("; ")
            )),
        }
    }

    /// Whether `key` holds `material`: imported into it before (the same `KeyMaterialId`), or, for
    /// an asymmetric key, the same key pair in another encoding (the public keys match).
    fn holds(&self, ctx: &Ctx, key: &StoredKey, material: &KeyMaterial) -> Result<bool, KmsError> {
        if seeding::was_imported(ctx, key, material)? {
            return Ok(true);
        }
        if !seeding::is_asymmetric(key.key_spec) {
            return Ok(false);
        }
        let seeded = trent_crypto::asymmetric::public_key(key.key_spec, material)?;
        // No current material (deleted since): nothing to compare with.
        Ok(crate::ops::public_key(ctx, key).is_ok_and(|stored| *stored == *seeded))
    }

    /// Makes `alias` name the seed's key, unless it does already; one naming another key is refused.
    async fn plant_alias(&self, ctx: &Ctx, alias: &str) -> Result<(), String> {
        let now_ms = ctx.clock.now_ms();
        let record = AliasRecord { name: alias.to_owned(), key_id: self.key_id.clone(), created_ms: now_ms, updated_ms: now_ms };
        match ctx.store.insert_alias(&self.scope, &record).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict) => match ctx.store.get_alias(&self.scope, alias).await.map_err(store_error)? {
                Some(existing) if existing.key_id == self.key_id => Ok(()),
                Some(existing) => Err(format!(
                    "alias {alias} exists and names another key, {}: delete or retarget that alias, or give the seed another",
                    authorize::key_arn(&self.scope, &existing.key_id)
                )),
                None => Err(format!("alias {alias} was deleted while being seeded: start again")),
            },
            Err(e) => Err(store_error(e)),
        }
    }
}

fn store_error(error: StoreError) -> String {
    format!("the store failed: {error:?}")
}

/// The material in `path`, for a key of `spec`: raw bytes for symmetric and HMAC keys; for
/// asymmetric keys a PKCS#8 private key, DER or PEM. Every buffer that held it is erased.
fn read_material(path: &Path, spec: KeySpec) -> Result<KeyMaterial, String> {
    let content = KeyMaterial::new(std::fs::read(path).map_err(|e| format!("material_file {}: {e}", path.display()))?);
    let material = match seeding::is_asymmetric(spec) && content.as_bytes().starts_with(b"-----BEGIN") {
        true => pkcs8_from_pem(content.as_bytes()).ok_or_else(|| {
            format!(
                "material_file {}: not a PKCS#8 private key in PEM (-----BEGIN PRIVATE KEY-----); openssl pkcs8 -topk8 -nocrypt converts others",
                path.display()
            )
        })?,
        false => content,
    };
    seeding::check_material(spec, &material).map_err(|e| {
        let form = match seeding::is_asymmetric(spec) {
            true => " It must be a PKCS#8 private key of that spec, DER or PEM.",
            false => "",
        };
        format!("material_file {} ({} bytes): {}{form}", path.display(), material.as_bytes().len(), e.message())
    })?;
    Ok(material)
}

/// The DER of the first unencrypted PKCS#8 private key in a PEM text, decoded in an erased buffer.
fn pkcs8_from_pem(text: &[u8]) -> Option<KeyMaterial> {
    const BEGIN: &[u8] = b"-----BEGIN PRIVATE KEY-----";
    const END: &[u8] = b"-----END PRIVATE KEY-----";
    let start = text.windows(BEGIN.len()).position(|w| w == BEGIN)? + BEGIN.len();
    let length = text[start..].windows(END.len()).position(|w| w == END)?;
    let mut body = Zeroizing::new(text[start..start + length].to_vec());
    let der = base64_simd::forgiving_decode_inplace(&mut body).ok()?;
    Some(KeyMaterial::new(der.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_is_decoded_and_anything_else_refused() {
        let der = [0x30, 0x03, 0x02, 0x01, 0x00];
        let pem = b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n";
        assert!(pkcs8_from_pem(pem).is_some_and(|m| m.ct_eq(&der)));
        assert!(pkcs8_from_pem(b"-----BEGIN EC PRIVATE KEY-----\nMAMCAQA=\n-----END EC PRIVATE KEY-----\n").is_none());
        assert!(pkcs8_from_pem(b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n").is_none());
        assert!(pkcs8_from_pem(b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n").is_none());
    }
}
