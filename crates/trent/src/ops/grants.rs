//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant, and what
//! authorization needs of them (constraints, tokens).

use super::authorize::{authorize_account, authorize_grant_retirement, authorize_key, Conditions, KeyIdForms, StoredKey};
use super::{dry_run, page_limit, require_not_pending, Caller, Ctx, Page};
use crate::store::{GrantConstraintsRecord, GrantFilter, GrantInsert, GrantRecord, Scope};
use std::collections::BTreeMap;
use trent_model::*;

/// AWS's quota of grants per key.
pub const MAX_GRANTS_PER_KEY: usize = 50_000;

/// Operations whose requests carry an encryption context, the only ones a constrained grant may
/// allow (AWS: "CreateGrant", "Grant constraints").
const CONTEXT_OPERATIONS: [GrantOperation; 9] = [
    GrantOperation::Decrypt,
    GrantOperation::Encrypt,
    GrantOperation::GenerateDataKey,
    GrantOperation::GenerateDataKeyWithoutPlaintext,
    GrantOperation::ReEncryptFrom,
    GrantOperation::ReEncryptTo,
    GrantOperation::CreateGrant,
    GrantOperation::RetireGrant,
    GrantOperation::DescribeKey,
];

pub async fn create_grant(ctx: &Ctx, caller: &Caller, input: CreateGrantRequest) -> Result<CreateGrantResponse, KmsError> {
    check_principal("granteePrincipal", &input.grantee_principal)?;
    if let Some(retiring) = &input.retiring_principal {
        check_principal("retiringPrincipal", retiring)?;
    }
    let constraints = input
        .constraints
        .map(|c| GrantConstraintsRecord { encryption_context_equals: c.encryption_context_equals, encryption_context_subset: c.encryption_context_subset });
    let mut conditions = Conditions::context(None, input.grant_tokens.as_deref())
        .with("kms:GranteePrincipal", &input.grantee_principal)
        .with("kms:GrantIsForAWSResource", "false");
    for op in &input.operations {
        conditions = conditions.with("kms:GrantOperations", op);
    }
    if let Some(retiring) = &input.retiring_principal {
        conditions = conditions.with("kms:RetiringPrincipal", retiring);
    }
    if let Some(c) = &constraints {
        let kinds = [("EncryptionContextEquals", &c.encryption_context_equals), ("EncryptionContextSubset", &c.encryption_context_subset)];
        for (kind, _) in kinds.iter().filter(|(_, map)| map.is_some()) {
            conditions = conditions.with("kms:GrantConstraintType", kind);
        }
    }
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "CreateGrant", &conditions).await?;
    require_not_pending(&key.arn, &key)?;
    if constraints.is_some() {
        if let Some(op) = input.operations.iter().find(|op| !CONTEXT_OPERATIONS.contains(op)) {
            return Err(kms_error!(ValidationException, "Grant constraints are not supported for the {op} operation, which takes no encryption context."));
        }
    }
    if constraints.is_some() && key.key_spec != KeySpec::SymmetricDefault {
        return Err(kms_error!(ValidationException, "Grant constraints are not supported for {} keys, which take no encryption context.", key.key_spec));
    }
    dry_run(input.dry_run)?;

    let operations: Vec<String> = input.operations.iter().map(|op| op.as_str().to_owned()).collect();
    let grant = GrantRecord {
        grant_id: hex::encode(trent_crypto::random_bytes(32)?.as_bytes()),
        key_id: key.key_id.clone(),
        name: input.name,
        grantee_principal: input.grantee_principal,
        retiring_principal: input.retiring_principal,
        issuing_account: crate::config::account_root_arn(&caller.scope.account),
        operations,
        constraints,
        created_ms: ctx.clock.now_ms(),
    };
    let grant = match ctx.store.insert_grant(&key.scope, &grant, MAX_GRANTS_PER_KEY).await? {
        GrantInsert::Inserted => grant,
        // The same name and parameters: the grant exists already (a retried request).
        GrantInsert::Existing(existing) => *existing,
        GrantInsert::LimitReached => {
            return Err(kms_error!(LimitExceededException, "The grants limit of {MAX_GRANTS_PER_KEY} for {} has been reached.", key.arn));
        }
    };
    Ok(CreateGrantResponse { grant_token: Some(new_token(&key.scope, &key.key_id, &grant.grant_id)?), grant_id: Some(grant.grant_id) })
}

pub async fn list_grants(ctx: &Ctx, caller: &Caller, input: ListGrantsRequest) -> Result<ListGrantsResponse, KmsError> {
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "ListGrants", &Conditions::default()).await?;
    let limit = page_limit(input.limit, 50, 100);
    let filter = GrantFilter { grant_id: input.grant_id.as_deref(), grantee_principal: input.grantee_principal.as_deref() };
    let fetched = ctx.store.list_grants(&key.scope, &key.key_id, &filter, input.marker.as_deref(), limit + 1).await?;
    let page = Page::from_fetched(fetched, limit, |g| g.grant_id.clone());
    Ok(ListGrantsResponse {
        truncated: Some(page.truncated()),
        grants: Some(page.items.into_iter().map(|g| list_entry(&key.scope, g)).collect()),
        next_marker: page.next_marker,
    })
}

pub async fn list_retirable_grants(ctx: &Ctx, caller: &Caller, input: ListRetirableGrantsRequest) -> Result<ListGrantsResponse, KmsError> {
    authorize_account(caller, "ListRetirableGrants", &Conditions::default())?;
    check_principal("retiringPrincipal", &input.retiring_principal)?;
    let limit = page_limit(input.limit, 50, 100);
    let after = input.marker.as_deref().and_then(|m| m.split_once('/'));
    let fetched = ctx.store.list_retirable_grants(&caller.scope, &input.retiring_principal, after, limit + 1).await?;
    let page = Page::from_fetched(fetched, limit, |g| format!("{}/{}", g.key_id, g.grant_id));
    Ok(ListGrantsResponse {
        truncated: Some(page.truncated()),
        grants: Some(page.items.into_iter().map(|g| list_entry(&caller.scope, g)).collect()),
        next_marker: page.next_marker,
    })
}

pub async fn retire_grant(ctx: &Ctx, caller: &Caller, input: RetireGrantRequest) -> Result<(), KmsError> {
    let (key, grant) = match (&input.grant_token, &input.key_id, &input.grant_id) {
        (Some(token), _, _) => {
            let (scope, key_id, grant_id) = parse_token(token).ok_or_else(|| kms_error!(InvalidGrantTokenException, "The grant token is invalid."))?;
            let key_arn = super::authorize::key_arn(&scope, &key_id);
            authorize_grant_retirement(ctx, caller, &key_arn, &grant_id).await?
        }
        (None, Some(key_id), Some(grant_id)) => authorize_grant_retirement(ctx, caller, key_id, grant_id).await?,
        _ => return Err(kms_error!(ValidationException, "Either GrantToken, or both KeyId and GrantId, must be specified.")),
    };
    dry_run(input.dry_run)?;
    delete(ctx, &key, &grant.grant_id).await
}

pub async fn revoke_grant(ctx: &Ctx, caller: &Caller, input: RevokeGrantRequest) -> Result<(), KmsError> {
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "RevokeGrant", &Conditions::default()).await?;
    dry_run(input.dry_run)?;
    delete(ctx, &key, &input.grant_id).await
}

async fn delete(ctx: &Ctx, key: &StoredKey, grant_id: &str) -> Result<(), KmsError> {
    match ctx.store.delete_grant(&key.scope, &key.key_id, grant_id).await? {
        true => Ok(()),
        false => Err(grant_not_found(grant_id)),
    }
}

pub fn grant_not_found(grant_id: &str) -> KmsError {
    kms_error!(NotFoundException, "Grant ID {grant_id} not found")
}

fn list_entry(scope: &Scope, grant: GrantRecord) -> GrantListEntry {
    GrantListEntry {
        key_id: Some(super::authorize::key_arn(scope, &grant.key_id)),
        grant_id: Some(grant.grant_id),
        name: grant.name,
        creation_date: Some(Timestamp(grant.created_ms)),
        grantee_principal: Some(grant.grantee_principal),
        retiring_principal: grant.retiring_principal,
        issuing_account: Some(grant.issuing_account),
        operations: Some(grant.operations.iter().filter_map(|op| GrantOperation::parse(op)).collect()),
        constraints: grant
            .constraints
            .map(|c| GrantConstraints { encryption_context_equals: c.encryption_context_equals, encryption_context_subset: c.encryption_context_subset }),
    }
}

/// Whether the grant's encryption-context constraints hold for a request's context.
pub fn constraints_hold(grant: &GrantRecord, context: Option<&BTreeMap<String, String>>) -> bool {
    let Some(constraints) = &grant.constraints else { return true };
    let empty = BTreeMap::new();
    let context = context.unwrap_or(&empty);
    let equals = constraints.encryption_context_equals.as_ref().is_none_or(|wanted| wanted == context);
    let subset = constraints.encryption_context_subset.as_ref().is_none_or(|wanted| wanted.iter().all(|(k, v)| context.get(k) == Some(v)));
    equals && subset
}

/// Principals a grant may name: IAM users, roles and account roots, assumed-role sessions, and
/// AWS service principals. AWS answers anything else with a ValidationException.
fn check_principal(member: &str, principal: &str) -> Result<(), KmsError> {
    let iam = principal.strip_prefix("arn:aws:iam::").and_then(|rest| rest.split_once(':')).is_some_and(|(account, resource)| {
        account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && (resource == "root" || resource.strip_prefix("user/").or_else(|| resource.strip_prefix("role/")).is_some_and(|name| !name.is_empty()))
    });
    let session = principal.strip_prefix("arn:aws:sts::").is_some_and(|rest| rest.contains(":assumed-role/"));
    let service = principal.ends_with(".amazonaws.com") && !principal.contains(':');
    if iam || session || service {
        return Ok(());
    }
    Err(kms_error!(ValidationException, "Value '{principal}' at '{member}' failed to satisfy constraint: Member must be a valid principal ARN"))
}

/// A grant token names its grant, so RetireGrant can find it. It proves nothing by itself:
/// retiring still needs the caller to be a party to the grant.
const TOKEN_PREFIX: &str = "trent-grant-v1";

fn new_token(scope: &Scope, key_id: &str, grant_id: &str) -> Result<String, KmsError> {
    // A fresh nonce per token, as AWS returns a distinct token for every CreateGrant.
    let nonce = hex::encode(trent_crypto::random_bytes(16)?.as_bytes());
    let text = format!("{TOKEN_PREFIX}/{}/{}/{key_id}/{grant_id}/{nonce}", scope.account, scope.region);
    Ok(base64_simd::URL_SAFE_NO_PAD.encode_to_string(text))
}

/// The grant a token names: its key's scope, the key ID and the grant ID.
pub fn parse_token(token: &str) -> Option<(Scope, String, String)> {
    let text = String::from_utf8(base64_simd::URL_SAFE_NO_PAD.decode_to_vec(token).ok()?).ok()?;
    let parts: Vec<&str> = text.split('/').collect();
    let [TOKEN_PREFIX, account, region, key_id, grant_id, nonce] = parts[..] else { return None };
    let hex_of = |text: &str, len: usize| text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_of(grant_id, 64) && hex_of(nonce, 32))
        .then(|| (Scope { account: account.to_owned(), region: region.to_owned() }, key_id.to_owned(), grant_id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(constraints: Option<GrantConstraintsRecord>) -> GrantRecord {
        GrantRecord {
            grant_id: "ab".repeat(32),
            key_id: "k".into(),
            name: None,
            grantee_principal: "arn:aws:iam::111122223333:user/bob".into(),
            retiring_principal: None,
            issuing_account: "arn:aws:iam::111122223333:root".into(),
            operations: vec!["Decrypt".into()],
            constraints,
            created_ms: 0,
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn encryption_context_constraints() {
        let equals = grant(Some(GrantConstraintsRecord { encryption_context_equals: Some(map(&[("app", "x")])), encryption_context_subset: None }));
        let subset = grant(Some(GrantConstraintsRecord { encryption_context_equals: None, encryption_context_subset: Some(map(&[("app", "x")])) }));
        assert!(constraints_hold(&grant(None), None));
        assert!(constraints_hold(&equals, Some(&map(&[("app", "x")]))));
        assert!(!constraints_hold(&equals, Some(&map(&[("app", "x"), ("more", "y")]))));
        assert!(!constraints_hold(&equals, None));
        assert!(constraints_hold(&subset, Some(&map(&[("app", "x"), ("more", "y")]))));
        assert!(!constraints_hold(&subset, Some(&map(&[("app", "X")]))));
        assert!(!constraints_hold(&subset, None));
    }

    #[test]
    fn tokens_name_their_grant() {
        let scope = Scope { account: "111122223333".into(), region: "eu-west-1".into() };
        let grant_id = "0f".repeat(32);
        let token = new_token(&scope, "key-1", &grant_id).unwrap();
        assert_ne!(token, new_token(&scope, "key-1", &grant_id).unwrap(), "every token is distinct");
        assert_eq!(parse_token(&token), Some((scope, "key-1".to_owned(), grant_id)));
        for bad in ["", "not base64 !", "dHJlbnQ", &token[..token.len() - 4]] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn grant_principals() {
        for ok in [
            "arn:aws:iam::111122223333:user/bob",
            "arn:aws:iam::111122223333:role/app",
            "arn:aws:iam::111122223333:root",
            "arn:aws:sts::111122223333:assumed-role/app/s",
            "dynamodb.amazonaws.com",
        ] {
            assert!(check_principal("granteePrincipal", ok).is_ok(), "{ok}");
        }
        for bad in ["bob", "arn:aws:iam::1111:user/bob", "arn:aws:iam::111122223333:user/", "arn:aws:iam::111122223333:group/g", "*"] {
            assert!(check_principal("granteePrincipal", bad).is_err(), "{bad}");
        }
    }
}
