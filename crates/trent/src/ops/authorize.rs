//! Authorization of every request, the one way operations obtain a key: [`authorize_key`] finds the
//! key a `KeyId` names (in the caller's account or, for the operations that cross accounts, another
//! account's by ARN), evaluates its key policy with the caller's identity policies and its grants,
//! and returns an [`AuthorizedKey`].
//! Operations on no key (CreateKey, ListKeys, …) go through [`authorize_account`], which asks the
//! identity policies only. The decisions themselves are [`crate::authz`]'s; this module gathers
//! their inputs: the policies, the grants and the condition-key values of the request.

use super::{managed_keys, Caller, Ctx};
use crate::authz::{self, PrincipalInfo, RequestContext};
use crate::record::Decision;
use crate::store::{GrantFilter, GrantRecord, KeyRecord, Scope};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use trent_model::{kms_error, KmsError, Timestamp};

/// A key as stored, with where it lives: what operations and the scheduled work read and change.
pub struct StoredKey {
    pub record: Arc<KeyRecord>,
    /// Where the key lives: the caller's account and region, or the account its ARN named.
    pub scope: Scope,
    pub arn: String,
}

impl std::ops::Deref for StoredKey {
    type Target = KeyRecord;
    fn deref(&self) -> &KeyRecord {
        &self.record
    }
}

impl StoredKey {
    pub fn new(scope: Scope, record: impl Into<Arc<KeyRecord>>) -> StoredKey {
        let record = record.into();
        let arn = key_arn(&scope, &record.key_id);
        StoredKey { record, scope, arn }
    }
}

/// A key the caller may use for the action it was authorized for. Only authorization makes one
/// ([`authorize_key`], [`authorize_grant_retirement`]): its field is private to this module.
pub struct AuthorizedKey(StoredKey);

impl std::ops::Deref for AuthorizedKey {
    type Target = StoredKey;
    fn deref(&self) -> &StoredKey {
        &self.0
    }
}

impl From<AuthorizedKey> for StoredKey {
    fn from(key: AuthorizedKey) -> StoredKey {
        key.0
    }
}

// Built with `concat`, which allocates once for the exact length: `format!` grew its buffer while
// writing, and key ARNs are built on every request.
pub fn key_arn(scope: &Scope, key_id: &str) -> String {
    ["arn:aws:kms:", &scope.region, ":", &scope.account, ":key/", key_id].concat()
}

/// Which identifier forms an operation's `KeyId` accepts, as its AWS documentation says.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyIdForms {
    /// Key ID, key ARN, alias name or alias ARN (cryptographic operations, DescribeKey).
    AnyForm,
    /// Key ID or key ARN only (management operations).
    KeyOnly,
}

/// What a request adds to the condition keys every request has: its encryption context,
/// algorithm, grant tokens and the like (`kms:` and `aws:` keys, spelled as in policies).
#[derive(Default)]
pub struct Conditions<'a> {
    pub encryption_context: Option<&'a BTreeMap<String, String>>,
    pub values: Vec<(&'static str, String)>,
    pub grant_tokens: Option<&'a [String]>,
    /// `aws:RequestTag/<key>` and `aws:TagKeys` (TagResource, CreateKey).
    pub request_tags: Vec<(&'a str, &'a str)>,
}

impl<'a> Conditions<'a> {
    pub fn context(encryption_context: Option<&'a BTreeMap<String, String>>, grant_tokens: Option<&'a [String]>) -> Conditions<'a> {
        Conditions { encryption_context, grant_tokens, ..Conditions::default() }
    }

    pub fn with(mut self, key: &'static str, value: impl ToString) -> Conditions<'a> {
        self.values.push((key, value.to_string()));
        self
    }
}

/// Finds the key `key_id` names and authorizes `operation` (an operation name such as `Encrypt`,
/// or `ReEncryptFrom` / `ReEncryptTo`) on it for the caller.
pub async fn authorize_key(
    ctx: &Ctx,
    caller: &Caller,
    key_id: &str,
    forms: KeyIdForms,
    operation: &str,
    conditions: &Conditions<'_>,
) -> Result<AuthorizedKey, KmsError> {
    let (key, alias) = locate(ctx, caller, key_id, forms, operation).await?;
    decide(ctx, caller, &key, alias, operation, conditions).await?;
    Ok(key)
}

/// RetireGrant: the grant's retiring principal may retire it, and so may its grantee when the
/// grant allows RetireGrant; anyone else needs `kms:RetireGrant` on the key from its policies.
pub async fn authorize_grant_retirement(ctx: &Ctx, caller: &Caller, key_id: &str, grant_id: &str) -> Result<(AuthorizedKey, GrantRecord), KmsError> {
    let (key, _) = locate(ctx, caller, key_id, KeyIdForms::KeyOnly, "RetireGrant").await?;
    let filter = GrantFilter { grant_id: Some(grant_id), grantee_principal: None };
    let found = ctx.store.list_grants(&key.scope, &key.key_id, &filter, None, 1).await?.into_iter().next();
    let grant = found.ok_or_else(|| super::grants::grant_not_found(grant_id))?;
    let me = caller.principal.arn.as_str();
    let party = grant.retiring_principal.as_deref() == Some(me) || (grant.grantee_principal == me && grant.operations.iter().any(|op| op == "RetireGrant"));
    match party {
        true => caller.trail.decided(|| "kms:RetireGrant".to_owned(), &key.arn, Decision::AllowedAsGrantParty),
        false => decide(ctx, caller, &key, None, "RetireGrant", &Conditions::default()).await?,
    }
    Ok((key, grant))
}

/// The key `key_id` names for `action`, and the alias it was named by, if any. A key of another
/// account is looked for only when the action's operation crosses accounts
/// ([`CROSS_ACCOUNT_USE`]); for any other, AWS KMS looks in the caller's account alone, where a key
/// of another account does not exist. Refused before anything is read, so the answer does not tell
/// whether that key exists.
async fn locate<'a>(ctx: &Ctx, caller: &Caller, key_id: &'a str, forms: KeyIdForms, action: &str) -> Result<(AuthorizedKey, Option<&'a str>), KmsError> {
    let (scope, name) = parse_key_id(caller, key_id, forms)?;
    if scope.account != caller.scope.account && !crosses_accounts(action) {
        return Err(match name {
            KeyName::Id(id) => kms_error!(NotFoundException, "Key '{}' does not exist", key_arn(&scope, id)),
            KeyName::Alias(alias) => kms_error!(NotFoundException, "Alias {} is not found.", alias_arn(&scope, alias)),
        });
    }
    let (id, alias) = match name {
        KeyName::Id(id) => (Cow::Borrowed(id), None),
        KeyName::Alias(alias) => {
            let record = match ctx.store.get_alias(&scope, alias).await? {
                Some(record) => record,
                None if managed_keys::is_predefined(alias) && scope == caller.scope => managed_keys::alias_on_first_use(ctx, &scope, alias).await?,
                None => return Err(kms_error!(NotFoundException, "Alias {} is not found.", alias_arn(&scope, alias))),
            };
            (Cow::Owned(record.key_id), Some(alias))
        }
    };
    let record = ctx.store.get_key(&scope, &id).await?;
    let record = record.ok_or_else(|| kms_error!(NotFoundException, "Key '{}' does not exist", key_arn(&scope, &id)))?;
    let key = AuthorizedKey(StoredKey::new(scope, record));
    caller.trail.key(&key.arn);
    Ok((key, alias))
}

/// The decision on one key: its key policy with the caller's identity policies, then, unless a
/// policy denied explicitly, the key's grants for the caller.
async fn decide(ctx: &Ctx, caller: &Caller, key: &StoredKey, alias: Option<&str>, operation: &str, conditions: &Conditions<'_>) -> Result<(), KmsError> {
    let action = ["kms:", operation].concat();
    let policy = ctx.key_policy(key);
    let mut values = Values::wanted_by(policy.as_deref().into_iter().chain(&caller.principal.policies));
    values.of_request(caller, conditions);
    values.put("kms:keyspec", || vec![key.key_spec.as_str().to_owned()]);
    values.put("kms:keyusage", || vec![key.key_usage.as_str().to_owned()]);
    values.put("kms:keyorigin", || vec![key.origin.as_str().to_owned()]);
    values.put("kms:multiregion", || vec![key.multi_region.is_some().to_string()]);
    if let Some(role) = key.multi_region_role(&key.scope.region) {
        values.put("kms:multiregionkeytype", || vec![role.as_str().to_owned()]);
    }
    if values.wants_prefix("aws:resourcetag/") {
        for tag in &key.tags {
            values.put(&authz::condition_key(&format!("aws:ResourceTag/{}", tag.key)), || vec![tag.value.clone()]);
        }
    }
    if let Some(alias) = alias {
        values.put("kms:requestalias", || vec![alias.to_owned()]);
    }
    if values.wants("kms:resourcealiases") {
        let aliases = ctx.store.list_aliases(&key.scope, Some(&key.key_id), None, 1000).await?;
        values.put("kms:resourcealiases", || aliases.into_iter().map(|a| a.name).collect());
    }
    let values = values.map;
    let principal = &caller.principal.info;
    let request = RequestContext { action: &action, principal, resource: &key.arn, values: &values };
    let Some(policy) = policy else {
        tracing::error!(key = %key.arn, "the stored key policy does not parse; denying");
        return Err(denied(caller, &request, authz::Denial { reason: authz::DenialReason::NoResourcePolicyAllows, sid: None }));
    };
    let denial = match authz::authorize(&policy, &caller.principal.policies, &request) {
        Ok(allowed) => {
            let decision = Decision::AllowedByPolicies { key_policy_sid: allowed.key_policy_sid, identity_policy_sid: allowed.identity_policy_sid };
            caller.trail.decided(|| action.clone(), &key.arn, decision);
            return Ok(());
        }
        Err(denial) => denial,
    };
    let explicit = matches!(denial.reason, authz::DenialReason::ExplicitDenyInResourcePolicy | authz::DenialReason::ExplicitDenyInIdentityPolicy);
    if !explicit {
        check_grant_tokens(conditions.grant_tokens)?;
        if let Some(grant) = allowing_grant(ctx, key, principal, operation, conditions.encryption_context).await? {
            caller.trail.decided(|| action.clone(), &key.arn, Decision::AllowedByGrant { grant_id: grant.grant_id });
            return Ok(());
        }
    }
    Err(denied(caller, &request, denial))
}

/// Authorizes an operation that acts on no particular key (CreateKey, ListKeys, ListAliases,
/// GenerateRandom, …): the caller's identity policies decide, the root user may do anything.
pub fn authorize_account(caller: &Caller, operation: &str, conditions: &Conditions<'_>) -> Result<(), KmsError> {
    authorize_by_identity(caller, operation, "*", conditions)
}

/// CreateAlias, UpdateAlias and DeleteAlias need their action on the alias as well as on the key;
/// an alias has no policy of its own, so only identity policies can allow that part.
pub fn authorize_alias(caller: &Caller, operation: &str, alias_name: &str) -> Result<(), KmsError> {
    let alias_arn = alias_arn(&caller.scope, alias_name);
    authorize_by_identity(caller, operation, &alias_arn, &Conditions::default())
}

fn authorize_by_identity(caller: &Caller, operation: &str, resource: &str, conditions: &Conditions<'_>) -> Result<(), KmsError> {
    let action = ["kms:", operation].concat();
    let mut values = Values::wanted_by(&caller.principal.policies);
    values.of_request(caller, conditions);
    let values = values.map;
    let principal = &caller.principal.info;
    let request = RequestContext { action: &action, principal, resource, values: &values };
    match authz::authorize_identity(&caller.principal.policies, &request) {
        Ok(sid) => {
            caller.trail.decided(|| action.clone(), resource, Decision::AllowedByIdentityPolicy { sid });
            Ok(())
        }
        Err(denial) => Err(denied(caller, &request, denial)),
    }
}

/// Whether `policy`, as a new key policy, still lets the caller change it later: AWS's lockout
/// safety check, skipped with `BypassPolicyLockoutSafetyCheck`.
pub fn check_lockout(caller: &Caller, policy: &authz::Policy, key_arn: &str) -> Result<(), KmsError> {
    let mut values = Values::wanted_by(std::iter::once(policy).chain(&caller.principal.policies));
    values.of_request(caller, &Conditions::default());
    let values = values.map;
    let principal = &caller.principal.info;
    let request = RequestContext { action: "kms:PutKeyPolicy", principal, resource: key_arn, values: &values };
    match authz::authorize(policy, &caller.principal.policies, &request) {
        Ok(_) => Ok(()),
        Err(_) => Err(kms_error!(MalformedPolicyDocumentException, "The new key policy will not allow you to update the key policy in the future.")),
    }
}

/// The refusal of `request`, noted in the request's record.
fn denied(caller: &Caller, request: &RequestContext, denial: authz::Denial) -> KmsError {
    tracing::info!(principal = %request.principal.arn, action = request.action, resource = request.resource, reason = ?denial.reason, statement = ?denial.sid, "access denied");
    let error = kms_error!(AccessDeniedException, "{}", denial.message(request));
    caller.trail.decided(|| request.action.to_owned(), request.resource, Decision::Denied { reason: denial.reason, sid: denial.sid });
    error
}

/// The condition-key values of a request, gathered only for the keys its policies' conditions
/// name: most policies have few conditions or none, and every value costs an allocation per request.
struct Values<'p> {
    /// Condition keys as [`authz::condition_key`] normalizes them.
    wanted: Vec<&'p str>,
    map: HashMap<String, Vec<String>>,
}

impl<'p> Values<'p> {
    fn wanted_by(policies: impl IntoIterator<Item = &'p authz::Policy>) -> Values<'p> {
        Values { wanted: policies.into_iter().flat_map(authz::Policy::condition_keys).collect(), map: HashMap::new() }
    }

    fn wants(&self, key: &str) -> bool {
        self.wanted.contains(&key)
    }

    fn wants_prefix(&self, prefix: &str) -> bool {
        self.wanted.iter().any(|key| key.starts_with(prefix))
    }

    /// Adds `key` (normalized) if a policy asks for it.
    fn put(&mut self, key: &str, values: impl FnOnce() -> Vec<String>) {
        if self.wants(key) {
            self.map.entry(key.to_owned()).or_default().extend(values());
        }
    }

    /// The values of the request itself, not of a key.
    fn of_request(&mut self, caller: &Caller, conditions: &Conditions<'_>) {
        if self.wanted.is_empty() {
            return;
        }
        let one = |value: &str| vec![value.to_owned()];
        let principal = &caller.principal;
        self.put("kms:calleraccount", || one(&principal.account));
        self.put("aws:principalarn", || one(&principal.arn));
        self.put("aws:principalaccount", || one(&principal.account));
        self.put("aws:principaltype", || one(principal.kind.iam_type()));
        self.put("aws:requestedregion", || one(&caller.scope.region));
        self.put("aws:securetransport", || one(if caller.secure { "true" } else { "false" }));
        self.put("aws:multifactorauthpresent", || one("false"));
        // Date conditions read epoch seconds as well as ISO 8601.
        let now = || one(&(Timestamp::now().0 / 1000).to_string());
        self.put("aws:currenttime", now);
        self.put("aws:epochtime", now);
        if let Some(ip) = caller.source_ip {
            self.put("aws:sourceip", || one(&ip.to_canonical().to_string()));
        }
        if let Some(context) = conditions.encryption_context {
            if self.wants_prefix("kms:encryptioncontext:") {
                for (k, v) in context {
                    self.put(&authz::condition_key(&format!("kms:EncryptionContext:{k}")), || one(v));
                }
            }
            self.put("kms:encryptioncontextkeys", || context.keys().cloned().collect());
        }
        // Their names hold no encryption-context key, so comparing without case is normalizing.
        for (key, value) in &conditions.values {
            if let Some(wanted) = self.wanted.iter().copied().find(|wanted| wanted.eq_ignore_ascii_case(key)) {
                self.put(wanted, || one(value));
            }
        }
        if self.wants_prefix("aws:requesttag/") {
            for (key, value) in &conditions.request_tags {
                self.put(&authz::condition_key(&format!("aws:RequestTag/{key}")), || one(value));
            }
        }
        self.put("aws:tagkeys", || conditions.request_tags.iter().map(|(k, _)| (*k).to_owned()).collect());
    }
}

/// A grant on the key for the caller that allows `operation` under the request's encryption
/// context, if there is one.
async fn allowing_grant(
    ctx: &Ctx,
    key: &StoredKey,
    principal: &PrincipalInfo,
    operation: &str,
    context: Option<&BTreeMap<String, String>>,
) -> Result<Option<GrantRecord>, KmsError> {
    let filter = GrantFilter { grant_id: None, grantee_principal: Some(&principal.arn) };
    let grants = ctx.store.list_grants(&key.scope, &key.key_id, &filter, None, super::grants::MAX_GRANTS_PER_KEY).await?;
    Ok(grants.into_iter().find(|grant| grant.operations.iter().any(|op| op == operation) && super::grants::constraints_hold(grant, context)))
}

/// Grant tokens are opaque to callers but must be Trent's: a malformed one is refused, as AWS does.
fn check_grant_tokens(tokens: Option<&[String]>) -> Result<(), KmsError> {
    for token in tokens.unwrap_or_default() {
        if super::grants::parse_token(token).is_none() {
            return Err(kms_error!(InvalidGrantTokenException, "The grant token is invalid."));
        }
    }
    Ok(())
}

/// Whether each operation may act on a key of another account, named by its key ARN (or alias ARN
/// where the operation takes one): the "Cross-account use" line of the operation's page in the AWS
/// KMS API reference (`https://docs.aws.amazon.com/kms/latest/APIReference/API_<Operation>.html`),
/// which the vendored model's documentation repeats (`tests::cross_account_use_is_the_models`
/// compares the two). Operations on no key ("Not applicable") are listed as `false`.
const CROSS_ACCOUNT_USE: [(&str, bool); 54] = [
    ("CancelKeyDeletion", false),
    ("ConnectCustomKeyStore", false),
    ("CreateAlias", false),
    ("CreateCustomKeyStore", false),
    ("CreateGrant", true),
    ("CreateKey", false),
    ("Decrypt", true),
    ("DeleteAlias", false),
    ("DeleteCustomKeyStore", false),
    ("DeleteImportedKeyMaterial", false),
    ("DeriveSharedSecret", true),
    ("DescribeCustomKeyStores", false),
    ("DescribeKey", true),
    ("DisableKey", false),
    ("DisableKeyRotation", false),
    ("DisconnectCustomKeyStore", false),
    ("EnableKey", false),
    ("EnableKeyRotation", false),
    ("Encrypt", true),
    ("GenerateDataKey", true),
    ("GenerateDataKeyPair", true),
    ("GenerateDataKeyPairWithoutPlaintext", true),
    ("GenerateDataKeyWithoutPlaintext", true),
    ("GenerateMac", true),
    ("GenerateRandom", false),
    ("GetKeyLastUsage", false),
    ("GetKeyPolicy", false),
    ("GetKeyRotationStatus", true),
    ("GetParametersForImport", false),
    ("GetPublicKey", true),
    ("ImportKeyMaterial", false),
    ("ListAliases", false),
    ("ListGrants", true),
    ("ListKeyPolicies", false),
    ("ListKeyRotations", false),
    ("ListKeys", false),
    ("ListResourceTags", false),
    ("ListRetirableGrants", false),
    ("PutKeyPolicy", false),
    ("ReEncrypt", true),
    ("ReplicateKey", false),
    ("RetireGrant", true),
    ("RevokeGrant", true),
    ("RotateKeyOnDemand", false),
    ("ScheduleKeyDeletion", false),
    ("Sign", true),
    ("TagResource", false),
    ("UntagResource", false),
    ("UpdateAlias", false),
    ("UpdateCustomKeyStore", false),
    ("UpdateKeyDescription", false),
    ("UpdatePrimaryRegion", false),
    ("Verify", true),
    ("VerifyMac", true),
];

/// Whether the operation `action` belongs to crosses accounts. Read only for a key of another
/// account, so the scan costs the same-account path nothing.
fn crosses_accounts(action: &str) -> bool {
    // ReEncrypt is authorized as two actions, one on each key.
    let operation = match action {
        "ReEncryptFrom" | "ReEncryptTo" => "ReEncrypt",
        other => other,
    };
    CROSS_ACCOUNT_USE.iter().any(|&(name, crosses)| name == operation && crosses)
}

enum KeyName<'a> {
    Id(&'a str),
    Alias(&'a str),
}

/// Where a `KeyId` points: the scope (the caller's, or the account and region of an ARN) and the
/// key ID or alias name within it.
fn parse_key_id<'a>(caller: &Caller, input: &'a str, forms: KeyIdForms) -> Result<(Scope, KeyName<'a>), KmsError> {
    let (scope, resource) = match input.strip_prefix("arn:") {
        Some(_) => {
            let parts: Vec<&str> = input.splitn(6, ':').collect();
            let [_, partition, service, region, account, resource] = parts[..] else {
                return Err(kms_error!(InvalidArnException, "Invalid arn {input}"));
            };
            if !partition.starts_with("aws") || service != "kms" || !(resource.starts_with("key/") || resource.starts_with("alias/")) {
                return Err(kms_error!(InvalidArnException, "Invalid arn {input}"));
            }
            if region != caller.scope.region {
                return Err(kms_error!(NotFoundException, "Invalid arn {region}"));
            }
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(kms_error!(InvalidArnException, "Invalid arn {input}"));
            }
            if resource.starts_with("alias/") && forms == KeyIdForms::KeyOnly {
                return Err(kms_error!(InvalidArnException, "Invalid arn {input}: an alias ARN is not valid for this operation"));
            }
            let scope = Scope { account: account.to_owned(), region: region.to_owned() };
            (scope, resource.strip_prefix("key/").unwrap_or(resource))
        }
        None => (caller.scope.clone(), input),
    };
    if resource.starts_with("alias/") {
        return match forms {
            KeyIdForms::AnyForm => Ok((scope, KeyName::Alias(resource))),
            KeyIdForms::KeyOnly => Err(kms_error!(NotFoundException, "Invalid keyId '{input}'")),
        };
    }
    if !is_key_id(resource) {
        return Err(kms_error!(NotFoundException, "Invalid keyId '{input}'"));
    }
    Ok((scope, KeyName::Id(resource)))
}

pub fn alias_arn(scope: &Scope, alias_name: &str) -> String {
    ["arn:aws:kms:", &scope.region, ":", &scope.account, ":", alias_name].concat()
}

/// A UUID, or a multi-Region key ID (`mrk-` and 32 hex digits).
pub fn is_key_id(id: &str) -> bool {
    if let Some(rest) = id.strip_prefix("mrk-") {
        return rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit());
    }
    // 8-4-4-4-12 hex digits, checked byte by byte: this runs on every request that names a key.
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::{crosses_accounts, is_key_id, CROSS_ACCOUNT_USE};

    /// The table says what each operation's documentation in the vendored AWS model says
    /// ("<b>Cross-account use</b>: Yes." or "No."), for every operation of the model, once.
    #[test]
    fn cross_account_use_is_the_models() {
        let model: serde_json::Value = serde_json::from_str(include_str!("../../../trent-model/model/service-2.json")).unwrap();
        let names: Vec<&str> = CROSS_ACCOUNT_USE.iter().map(|(name, _)| *name).collect();
        let mut model_names: Vec<&str> = trent_model::OperationName::ALL.map(trent_model::OperationName::as_str).to_vec();
        model_names.sort_unstable();
        assert_eq!(names, model_names, "one line per operation, in order");
        for (name, crosses) in CROSS_ACCOUNT_USE {
            let doc = model["operations"][name]["documentation"].as_str().unwrap();
            let line = doc.split("<b>Cross-account use</b>:").nth(1).map(str::trim_start).unwrap_or_else(|| panic!("{name}: no cross-account line"));
            assert_eq!(line.starts_with("Yes"), crosses, "{name}: {}", &line[..line.len().min(80)]);
            assert_eq!(crosses_accounts(name), crosses, "{name}");
        }
        assert!(crosses_accounts("ReEncryptFrom") && crosses_accounts("ReEncryptTo"));
        assert!(!crosses_accounts("NoSuchOperation"));
    }

    #[test]
    fn key_ids() {
        assert!(is_key_id("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(is_key_id("1234ABCD-12AB-34CD-56EF-1234567890AB"));
        assert!(is_key_id("mrk-1234abcd12ab34cd56ef1234567890ab"));
        for not_one in [
            "",
            "1234abcd-12ab-34cd-56ef-1234567890a",
            "1234abcd-12ab-34cd-56ef-1234567890abc",
            "1234abcd112ab-34cd-56ef-1234567890ab",
            "1234abcd-12ab-34cd-56ef-1234567890ag",
            "1234abcd-12ab-34cd-56ef1-234567890ab",
            "1234abcd-12ab-34cd-56ef-1234567890é",
            "mrk-1234abcd12ab34cd56ef1234567890a",
            "mrk-1234abcd-12ab-34cd-56ef-1234567890ab",
            "alias/1234abcd-12ab-34cd-56ef-12345678",
        ] {
            assert!(!is_key_id(not_one), "{not_one}");
        }
    }
}
