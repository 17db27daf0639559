//! The configuration file (TOML) and the identities it defines: accounts, their IAM users and roles,
//! and the access keys requests are signed with (see [`crate::sigv4`]).
//!
//! ```toml
//! listen = "0.0.0.0:4599"
//! data_dir = "/var/lib/trent"
//! tls = { cert = "/etc/trent/tls/cert.pem", key = "/etc/trent/tls/key.pem" }
//! audit = { path = "/var/log/trent/audit.log", sync = true }
//!
//! [[accounts]]
//! id = "111122223333"
//!
//! [[accounts.users]]
//! name = "alice"
//! access_keys = [{ id = "AKIAALICE", secret = "…" }]
//! policies = [{ name = "kms-admin", document = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}' }]
//!
//! [[accounts.roles]]
//! name = "app"
//! access_keys = [{ id = "ASIAAPP", secret = "…", session_token = "…" }]
//! ```
//!
//! Every value is checked when the file is loaded ([`Config::parse`]), so a typo stops the server at
//! start instead of surfacing as an authentication failure later.

use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroize as _;

use crate::authz::{self, Policy, PolicyKind, PrincipalInfo};
use crate::sigv4::SigningKeys;
use crate::DEFAULT_ACCOUNT;

/// Access key ID and secret of the loopback default identity (`test` / `test`, as LocalStack uses).
pub const DEFAULT_ACCESS_KEY: &str = "test";
const DEFAULT_USER: &str = "test";
/// The identity policy of the loopback default user: everything is allowed.
const ALLOW_ALL_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// The configuration file. Every field is optional: flags and environment variables override
/// `listen`, `data_dir` and the root key, and without `accounts` only the loopback default
/// identity exists.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:4599`; `--listen` / `TRENT_LISTEN` win over it.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Where the database (and, by default, the root key) live. Default `./trent-data`;
    /// `--data-dir` / `TRENT_DATA_DIR` win over it.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// The root key, as a URI: `file:PATH`, `passphrase:PATH`, `pkcs11:PATH?…` or `kms:PATH?…`
    /// (README, "Production"). Default `file:DATA_DIR/root.key`, created on first start;
    /// `--root-key` / `TRENT_ROOT_KEY` win over it.
    #[serde(default)]
    pub root_key: Option<String>,
    /// Short for `root_key = "file:PATH"`.
    #[serde(default)]
    pub root_key_file: Option<PathBuf>,
    /// Where keys are stored: absent for the embedded store in the data directory, or a
    /// `postgres://user:password@host:port/database` URL for a database several nodes share.
    /// `--store` / `TRENT_STORE` win over it.
    #[serde(default)]
    pub store: Option<String>,
    /// The AWS accounts Trent serves, with their users, roles and access keys.
    #[serde(default = "no_accounts")]
    pub accounts: Vec<AccountConfig>,
    /// Serve the test-only admin endpoints (clock advance, reset). Default off; `--test-admin` /
    /// `TRENT_TEST_ADMIN=1` turn them on too.
    #[serde(default)]
    pub test_admin: bool,
    /// Address of the admin listener (`/metrics`, `/health/live`, `/health/ready`). Default
    /// `127.0.0.1:4598`; `--admin-listen` / `TRENT_ADMIN_LISTEN` win over it.
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    /// The audit log.
    #[serde(default)]
    pub audit: AuditConfig,
    /// TLS for the KMS API.
    #[serde(default)]
    pub tls: TlsConfig,
    /// Serve plain HTTP on an address other than loopback (default false: refused at start).
    #[serde(default)]
    pub insecure_plaintext: bool,
    /// Keys that must exist (`[[seed.keys]]`), made at start: see [`crate::seed`].
    #[serde(default)]
    pub seed: crate::seed::SeedConfig,
    /// Threshold custody: the party listener and the parties approved to connect to it.
    #[serde(default)]
    pub custody: CustodyConfig,
}

/// The `[custody]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustodyConfig {
    /// Where parties dial in (mutual TLS); `--party-listen` wins over it. None: no party listener.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// The parties, each by the fingerprint `trent-party enroll` printed.
    #[serde(default)]
    pub parties: Vec<PartyConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyConfig {
    /// The name a key's `trent:custody` tag gives it: letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// `sha256:` and 64 hex digits.
    pub fingerprint: String,
}

impl CustodyConfig {
    /// The approved parties, by fingerprint, once their names and fingerprints are checked.
    pub fn approved(&self) -> Result<std::collections::HashMap<String, String>, String> {
        let mut approved = std::collections::HashMap::new();
        for party in &self.parties {
            let name_ok = !party.name.is_empty() && party.name.len() <= 64 && party.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !name_ok || party.name == crate::custody::TRENT || self.parties.iter().filter(|p| p.name == party.name).count() > 1 {
                return Err(format!("custody party name {:?}: it must be unique, not \"trent\", and made of letters, digits, '.', '_' and '-'", party.name));
            }
            let hex = party.fingerprint.strip_prefix("sha256:").unwrap_or_default();
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
                return Err(format!("custody party {}: fingerprint {:?} is not sha256: and 64 lowercase hex digits", party.name, party.fingerprint));
            }
            approved.insert(party.fingerprint.clone(), party.name.clone());
        }
        Ok(approved)
    }
}

/// The `[tls]` table: PEM files; `--tls-cert` / `--tls-key` win over them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key: Option<PathBuf>,
}

/// The `[audit]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The log file, `-` for standard output; no audit log when absent. `--audit-log` /
    /// `TRENT_AUDIT_LOG` win over it.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// fsync every batch of lines before the responses are sent (default false).
    #[serde(default)]
    pub sync: bool,
    /// Rotate to `PATH.1`, `PATH.2`, … past this size.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// This node's name in every line (default: the host name).
    #[serde(default)]
    pub node: Option<String>,
}

/// One AWS account.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The 12-digit account ID, as a string (`"111122223333"`): keys and ARNs belong to it.
    pub id: String,
    /// IAM users: `arn:aws:iam::ACCOUNT:user/NAME`.
    #[serde(default = "no_principals")]
    pub users: Vec<PrincipalConfig>,
    /// IAM roles: `arn:aws:iam::ACCOUNT:role/NAME`. Trent has no STS; a role's access keys stand for
    /// credentials of an assumed-role session (usually with a session token).
    #[serde(default = "no_principals")]
    pub roles: Vec<PrincipalConfig>,
}

/// An IAM user or role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalConfig {
    /// The user or role name (IAM rules: 1 to 64 characters of letters, digits and `+=,.@_-`).
    pub name: String,
    /// The access keys that sign requests as this principal. None: the principal can be named in
    /// policies but cannot call Trent.
    #[serde(default = "no_access_keys")]
    pub access_keys: Vec<AccessKeyConfig>,
    /// Identity-based (inline) policies attached to the principal.
    #[serde(default = "no_policies")]
    pub policies: Vec<PolicyConfig>,
}

/// An access key: the ID that appears in each request's credential scope, and its secret.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyConfig {
    /// The access key ID (letters, digits and `_`, at most 128), unique across all accounts.
    pub id: String,
    /// The secret access key. Never logged.
    pub secret: Secret,
    /// When set, requests must carry exactly this `X-Amz-Security-Token` (temporary credentials).
    #[serde(default)]
    pub session_token: Option<Secret>,
}

/// A named IAM policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The policy name, unique per principal (1 to 128 characters of letters, digits and `+=,.@_-`).
    pub name: String,
    /// The policy document, a JSON object as a string (TOML literal strings `'…'` avoid escaping).
    pub document: String,
}

fn no_accounts() -> Vec<AccountConfig> {
    Vec::new()
}
fn no_principals() -> Vec<PrincipalConfig> {
    Vec::new()
}
fn no_access_keys() -> Vec<AccessKeyConfig> {
    Vec::new()
}
fn no_policies() -> Vec<PolicyConfig> {
    Vec::new()
}

impl Config {
    /// Reads, parses and validates the configuration file.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        Config::parse(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }

    /// Parses and validates a configuration. Syntax errors give the line and column but never quote
    /// the file, which holds secrets.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let place = e.span().map(|span| {
                let before = &text.as_bytes()[..span.start.min(text.len())];
                let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
                let column = before.len() - before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {column}: ")
            });
            format!("{}{}", place.unwrap_or_default(), e.message().trim_end())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types cannot: account IDs, names, unique access keys, non-empty secrets and
    /// JSON policy documents. The first problem found is reported.
    pub fn validate(&self) -> Result<(), String> {
        let mut accounts = HashSet::new();
        let mut access_keys = HashSet::new();
        for account in &self.accounts {
            if account.id.len() != 12 || !account.id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("account ID '{}' is not 12 digits", account.id));
            }
            if !accounts.insert(account.id.as_str()) {
                return Err(format!("account {} is listed twice", account.id));
            }
            for (kind, principals) in [(PrincipalKind::User, &account.users), (PrincipalKind::Role, &account.roles)] {
                let mut names = HashSet::new();
                for principal in principals {
                    let what = format!("{} '{}' in account {}", kind.as_str(), principal.name, account.id);
                    if !is_iam_name(&principal.name, 64) {
                        return Err(format!("{what}: a {} name has 1 to 64 letters, digits or +=,.@_-", kind.as_str()));
                    }
                    // IAM names are unique without regard to case.
                    if !names.insert(principal.name.to_ascii_lowercase()) {
                        return Err(format!("{what} is listed twice"));
                    }
                    for key in &principal.access_keys {
                        if key.id.is_empty() || key.id.len() > 128 || !key.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                            return Err(format!("{what}: access key ID '{}' must be 1 to 128 letters, digits or _", key.id));
                        }
                        if !access_keys.insert(key.id.as_str()) {
                            return Err(format!("access key ID '{}' is used twice", key.id));
                        }
                        if key.secret.expose().is_empty() {
                            return Err(format!("{what}: access key '{}' has an empty secret", key.id));
                        }
                        if key.session_token.as_ref().is_some_and(|token| token.expose().is_empty()) {
                            return Err(format!("{what}: access key '{}' has an empty session_token (leave it out instead)", key.id));
                        }
                    }
                    let mut policies = HashSet::new();
                    for policy in &principal.policies {
                        if !is_iam_name(&policy.name, 128) {
                            return Err(format!("{what}: policy name '{}' must be 1 to 128 letters, digits or +=,.@_-", policy.name));
                        }
                        if !policies.insert(policy.name.as_str()) {
                            return Err(format!("{what}: policy '{}' is listed twice", policy.name));
                        }
                        if let Err(e) = authz::parse(&policy.document, PolicyKind::Identity) {
                            return Err(format!("{what}: policy '{}': {e}", policy.name));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the file defines any account, i.e. identities of its own rather than the loopback
    /// default.
    pub fn has_accounts(&self) -> bool {
        !self.accounts.is_empty()
    }
}

/// IAM user, role and policy names: `[\w+=,.@-]+`.
fn is_iam_name(name: &str, max: usize) -> bool {
    !name.is_empty() && name.len() <= max && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// Without a config file Trent knows only the `test`/`test` credentials, which anyone can use, so
/// it must not be reachable from other machines: only loopback addresses are allowed then.
pub fn check_listen_policy(listen: SocketAddr, from_config: bool, tls: bool, insecure_plaintext: bool) -> Result<(), String> {
    if listen.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    if !from_config {
        return Err(format!(
            "refusing to listen on {listen}: without a config file Trent accepts the well-known test/test credentials, \
             so it listens on loopback addresses only (such as 127.0.0.1:4599). To serve other machines, give a config \
             file that defines accounts with real access keys."
        ));
    }
    if !tls && !insecure_plaintext {
        return Err(format!(
            "refusing to serve plain HTTP on {listen}, which is not a loopback address: give --tls-cert and --tls-key \
             (or [tls] cert and key in the config file), or set insecure_plaintext = true in the config file to serve \
             without TLS."
        ));
    }
    Ok(())
}

/// A secret string (secret access key, session token): erased from memory on drop, redacted in
/// `Debug`, compared in constant time. No `Display` and no `PartialEq`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the HMAC key derivation only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time equality (the length is not hidden).
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(other).into()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What kind of IAM principal signs a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    User,
    Role,
    /// The account's root user, `arn:aws:iam::ACCOUNT:root`.
    Root,
}

impl PrincipalKind {
    /// The value of the `aws:PrincipalType` condition key.
    pub fn iam_type(self) -> &'static str {
        match self {
            PrincipalKind::User => "User",
            PrincipalKind::Role => "AssumedRole",
            PrincipalKind::Root => "Account",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Role => "role",
            PrincipalKind::Root => "root",
        }
    }
}

/// An IAM principal: who a verified request comes from, with its identity-based policies.
#[derive(Debug)]
pub struct Principal {
    /// The 12-digit account ID.
    pub account: String,
    /// `arn:aws:iam::ACCOUNT:user/NAME`, `arn:aws:iam::ACCOUNT:role/NAME` or `arn:aws:iam::ACCOUNT:root`.
    pub arn: String,
    pub kind: PrincipalKind,
    /// The user or role name (empty for the root user).
    pub name: String,
    /// Identity-based policies.
    pub policies: Vec<Policy>,
    /// The principal as policies see it, built once rather than per request.
    pub info: PrincipalInfo,
}

impl Principal {
    /// A principal with the given identity policies; a document that does not parse is left out
    /// (and logged), which [`Config::validate`] rules out for configured principals.
    pub fn new(account: &str, kind: PrincipalKind, name: &str, policies: &[PolicyConfig]) -> Principal {
        let policies = policies
            .iter()
            .filter_map(|p| {
                authz::parse(&p.document, PolicyKind::Identity).map_err(|e| tracing::error!(policy = %p.name, "identity policy left out: {e}")).ok()
            })
            .collect();
        let arn = match kind {
            PrincipalKind::User => format!("arn:aws:iam::{account}:user/{name}"),
            PrincipalKind::Role => format!("arn:aws:iam::{account}:role/{name}"),
            PrincipalKind::Root => account_root_arn(account),
        };
        let info = PrincipalInfo { arn: arn.clone(), account: account.to_owned(), role_arn: None };
        Principal { account: account.to_owned(), arn, kind, name: name.to_owned(), policies, info }
    }
}

/// `arn:aws:iam::ACCOUNT:root`: how key policies name the account (and its root user).
pub fn account_root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// An access key's secret material and the principal it signs for.
#[derive(Debug)]
pub struct Credential {
    pub secret: Secret,
    pub session_token: Option<Secret>,
    pub principal: Arc<Principal>,
    /// Signing keys derived from the secret, by credential scope.
    pub signing_keys: SigningKeys,
}

/// The lookup from access key ID to credential that [`crate::sigv4::verify`] uses.
#[derive(Debug, Default)]
pub struct Identities {
    by_access_key: HashMap<String, Credential>,
}

impl Identities {
    /// The identities of a configuration (validated again, so a hand-built `Config` cannot
    /// produce duplicate access keys).
    pub fn from_config(config: &Config) -> Result<Identities, String> {
        config.validate()?;
        let mut identities = Identities::default();
        for account in &config.accounts {
            for (kind, principals) in [(PrincipalKind::User, &account.users), (PrincipalKind::Role, &account.roles)] {
                for p in principals {
                    let principal = Arc::new(Principal::new(&account.id, kind, &p.name, &p.policies));
                    for key in &p.access_keys {
                        identities.insert(&key.id, key.secret.clone(), key.session_token.clone(), principal.clone());
                    }
                }
            }
        }
        Ok(identities)
    }

    /// What Trent knows without a config file: account 111122223333 with the user `test`
    /// (`arn:aws:iam::111122223333:user/test`), access key `test`, secret `test`, and an identity
    /// policy that allows everything. Safe on loopback addresses only ([`check_listen_policy`]).
    pub fn loopback_default() -> Identities {
        let policy = PolicyConfig { name: "AllowEverything".into(), document: ALLOW_ALL_POLICY.into() };
        let principal = Arc::new(Principal::new(DEFAULT_ACCOUNT, PrincipalKind::User, DEFAULT_USER, &[policy]));
        let mut identities = Identities::default();
        identities.insert(DEFAULT_ACCESS_KEY, Secret::new("test"), None, principal);
        identities
    }

    /// Adds an access key (replacing one with the same ID).
    pub fn insert(&mut self, access_key_id: &str, secret: Secret, session_token: Option<Secret>, principal: Arc<Principal>) {
        let credential = Credential { secret, session_token, principal, signing_keys: SigningKeys::default() };
        self.by_access_key.insert(access_key_id.to_owned(), credential);
    }

    pub fn get(&self, access_key_id: &str) -> Option<&Credential> {
        self.by_access_key.get(access_key_id)
    }

    pub fn len(&self) -> usize {
        self.by_access_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_access_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
listen = "0.0.0.0:4599"
data_dir = "/var/lib/trent"
root_key_file = "/etc/trent/root.key"
admin_listen = "127.0.0.1:9000"
insecure_plaintext = true
tls = { cert = "/etc/trent/cert.pem", key = "/etc/trent/key.pem" }
audit = { path = "/var/log/trent/audit.log", sync = true, max_bytes = 1000000, node = "a" }

[[accounts]]
id = "111122223333"

[[accounts.users]]
name = "alice"
access_keys = [{ id = "AKIAALICE0000001", secret = "alice-secret" }]
policies = [{ name = "kms-admin", document = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}' }]

[[accounts.roles]]
name = "app"
access_keys = [{ id = "ASIAAPP000000001", secret = "app-secret", session_token = "app-token" }]

[[accounts]]
id = "444455556666"
users = [{ name = "bob", access_keys = [{ id = "AKIABOB000000001", secret = "bob-secret" }] }]
"#;

    fn with_account(body: &str) -> String {
        format!("[[accounts]]\nid = \"111122223333\"\n{body}")
    }

    fn error_of(text: &str) -> String {
        match Config::parse(text) {
            Ok(config) => panic!("expected an error, parsed {config:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_a_full_file() {
        let config = Config::parse(FULL).expect("valid config");
        assert_eq!(config.listen, Some("0.0.0.0:4599".parse().expect("address")));
        assert_eq!(config.data_dir.as_deref(), Some(Path::new("/var/lib/trent")));
        assert_eq!(config.admin_listen, Some("127.0.0.1:9000".parse().expect("address")));
        assert!(config.insecure_plaintext);
        assert_eq!(config.tls.cert.as_deref(), Some(Path::new("/etc/trent/cert.pem")));
        assert_eq!(config.tls.key.as_deref(), Some(Path::new("/etc/trent/key.pem")));
        assert_eq!(config.audit.path.as_deref(), Some(Path::new("/var/log/trent/audit.log")));
        assert!(config.audit.sync);
        assert_eq!((config.audit.max_bytes, config.audit.node.as_deref()), (Some(1_000_000), Some("a")));
        assert_eq!(config.root_key_file.as_deref(), Some(Path::new("/etc/trent/root.key")));
        assert!(config.has_accounts());
        assert_eq!(config.accounts.len(), 2);
        assert_eq!(config.accounts[0].users[0].policies[0].name, "kms-admin");
        assert_eq!(config.accounts[0].roles[0].access_keys[0].session_token.as_ref().expect("token").expose(), "app-token");

        let identities = Identities::from_config(&config).expect("valid config");
        assert_eq!(identities.len(), 3);
        let alice = identities.get("AKIAALICE0000001").expect("alice");
        assert_eq!(alice.principal.arn, "arn:aws:iam::111122223333:user/alice");
        assert_eq!(alice.principal.kind, PrincipalKind::User);
        assert_eq!(alice.principal.policies.len(), 1);
        assert!(alice.secret.ct_eq(b"alice-secret"));
        assert!(alice.session_token.is_none());
        let app = identities.get("ASIAAPP000000001").expect("app");
        assert_eq!(app.principal.arn, "arn:aws:iam::111122223333:role/app");
        assert_eq!(app.principal.kind, PrincipalKind::Role);
        assert!(app.session_token.as_ref().expect("token").ct_eq(b"app-token"));
        assert_eq!(identities.get("AKIABOB000000001").expect("bob").principal.account, "444455556666");
        assert!(identities.get("nobody").is_none());
    }

    #[test]
    fn everything_is_optional() {
        let config = Config::parse("").expect("empty config");
        assert!(config.listen.is_none() && config.data_dir.is_none() && config.root_key_file.is_none());
        assert!(!config.has_accounts());
        assert!(!config.test_admin, "the test-admin endpoints are off unless asked for");
        assert!(Config::parse("test_admin = true").expect("valid config").test_admin);
        assert!(Identities::from_config(&config).expect("valid config").is_empty());
        let config = Config::parse("listen = \"[::1]:4599\"").expect("valid config");
        assert_eq!(config.listen, Some("[::1]:4599".parse().expect("address")));
    }

    #[test]
    fn loopback_default_is_test_test() {
        let identities = Identities::loopback_default();
        assert_eq!(identities.len(), 1);
        let test = identities.get("test").expect("test key");
        assert!(test.secret.ct_eq(b"test"));
        assert!(test.session_token.is_none());
        assert_eq!(test.principal.account, "111122223333");
        assert_eq!(test.principal.arn, "arn:aws:iam::111122223333:user/test");
        assert_eq!(account_root_arn(&test.principal.account), "arn:aws:iam::111122223333:root");
        assert_eq!(Principal::new("111122223333", PrincipalKind::Root, "", &[]).arn, "arn:aws:iam::111122223333:root");
    }

    #[test]
    fn secrets_are_redacted() {
        let config = Config::parse(FULL).expect("valid config");
        let printed = format!("{config:?} {:?}", Identities::from_config(&config).expect("valid config"));
        for secret in ["alice-secret", "app-secret", "app-token", "bob-secret"] {
            assert!(!printed.contains(secret), "{secret} printed");
        }
        assert!(printed.contains("Secret(<redacted>)"));
    }

    #[test]
    fn syntax_errors_give_the_place_but_not_the_text() {
        let e = error_of("[[accounts]]\nid = \"111122223333\"\nusers = [{ name = \"a\", access_keys = [{ id = \"K\", secret = \"hunter2 }] }]\n");
        assert!(e.starts_with("line 3, column "), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        assert!(error_of("listen = \"nowhere\"").starts_with("line 1, column 10: "));
        assert!(error_of("unknown = 1").contains("unknown field"), "{}", error_of("unknown = 1"));
        // A secret of the wrong type is rejected without quoting the file.
        assert!(error_of(&with_account("users = [{ name = \"a\", access_keys = [{ id = \"K\", secret = 12345 }] }]")).contains("line 3"));
    }

    #[test]
    fn validation_errors() {
        for (body, expected) in [
            ("[[accounts]]\nid = \"12345\"", "account ID '12345' is not 12 digits"),
            ("[[accounts]]\nid = \"11112222333a\"", "account ID '11112222333a' is not 12 digits"),
            ("[[accounts]]\nid = \"111122223333\"\n[[accounts]]\nid = \"111122223333\"", "account 111122223333 is listed twice"),
            (&with_account("users = [{ name = \"a b\" }]"), "user 'a b' in account 111122223333: a user name has 1 to 64"),
            (&with_account("roles = [{ name = \"\" }]"), "role '' in account 111122223333: a role name has 1 to 64"),
            (&with_account("users = [{ name = \"Alice\" }, { name = \"alice\" }]"), "user 'alice' in account 111122223333 is listed twice"),
            (
                &with_account("users = [{ name = \"a\", access_keys = [{ id = \"K/1\", secret = \"s\" }] }]"),
                "user 'a' in account 111122223333: access key ID 'K/1' must be 1 to 128 letters, digits or _",
            ),
            (
                &with_account("users = [{ name = \"a\", access_keys = [{ id = \"K\", secret = \"\" }] }]"),
                "user 'a' in account 111122223333: access key 'K' has an empty secret",
            ),
            (
                &with_account("users = [{ name = \"a\", access_keys = [{ id = \"K\", secret = \"s\", session_token = \"\" }] }]"),
                "access key 'K' has an empty session_token",
            ),
            (
                "[[accounts]]\nid = \"111122223333\"\nusers = [{ name = \"a\", access_keys = [{ id = \"K\", secret = \"s\" }] }]\n\
                 [[accounts]]\nid = \"444455556666\"\nroles = [{ name = \"r\", access_keys = [{ id = \"K\", secret = \"t\" }] }]",
                "access key ID 'K' is used twice",
            ),
            (
                &with_account("users = [{ name = \"a\", policies = [{ name = \"p\", document = '{\"Version\": ' }] }]"),
                "user 'a' in account 111122223333: policy 'p': The policy document is not valid JSON.",
            ),
            (&with_account("users = [{ name = \"a\", policies = [{ name = \"p\", document = '[]' }] }]"), "policy 'p': The policy document is not valid JSON."),
            (
                &with_account("users = [{ name = \"a\", policies = [{ name = \"p\", document = '{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"kms:Encrypt\"}]}' }] }]"),
                "policy 'p': Policy contains a statement with no resource.",
            ),
            (
                &with_account("users = [{ name = \"a\", policies = [{ name = \"p\", document = '{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Resource\": \"*\"}}' }, { name = \"p\", document = '{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Resource\": \"*\"}}' }] }]"),
                "policy 'p' is listed twice",
            ),
            (&with_account("users = [{ name = \"a\", policies = [{ name = \"p q\", document = '{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Resource\": \"*\"}}' }] }]"), "policy name 'p q' must be"),
        ] {
            let e = error_of(body);
            assert!(e.contains(expected), "{body}\n  gave: {e}\n  expected: {expected}");
        }
    }

    #[test]
    fn from_config_validates_too() {
        let mut config = Config::parse(FULL).expect("valid config");
        config.accounts[0].id = "1".into();
        assert!(Identities::from_config(&config).is_err());
    }

    #[test]
    fn listen_policy() {
        let ok = |addr: &str, from_config: bool| check_listen_policy(addr.parse().expect("address"), from_config, true, false);
        assert!(ok("127.0.0.1:4599", false).is_ok());
        assert!(ok("127.1.2.3:80", false).is_ok());
        assert!(ok("[::1]:4599", false).is_ok());
        assert!(ok("[::ffff:127.0.0.1]:4599", false).is_ok());
        let e = ok("0.0.0.0:4599", false).expect_err("refused");
        assert!(e.contains("refusing to listen on 0.0.0.0:4599") && e.contains("config file"), "{e}");
        assert!(ok("[::]:4599", false).is_err());
        assert!(ok("192.168.1.10:4599", false).is_err());
        assert!(ok("0.0.0.0:4599", true).is_ok());
        assert!(ok("[::]:4599", true).is_ok());
        // Plain HTTP beyond loopback only when the config says so.
        let plain = |addr: &str, insecure: bool| check_listen_policy(addr.parse().expect("address"), true, false, insecure);
        assert!(plain("127.0.0.1:4599", false).is_ok());
        let e = plain("0.0.0.0:4599", false).expect_err("refused");
        assert!(e.contains("insecure_plaintext = true") && e.contains("--tls-cert"), "{e}");
        assert!(plain("0.0.0.0:4599", true).is_ok());
    }
}
