//! CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use super::authorize::{authorize_account, authorize_alias, authorize_key, AuthorizedKey, Conditions, KeyIdForms};
use super::{managed_keys, page_limit, require_not_pending, Caller, Ctx, Page};
use crate::store::{AliasRecord, StoreError};
use trent_model::*;

pub async fn create_alias(ctx: &Ctx, caller: &Caller, input: CreateAliasRequest) -> Result<(), KmsError> {
    check_alias_name(&input.alias_name)?;
    authorize_alias(caller, "CreateAlias", &input.alias_name)?;
    let key = alias_target(ctx, caller, &input.target_key_id, "CreateAlias").await?;
    let now = ctx.clock.now_ms();
    let alias = AliasRecord { name: input.alias_name, key_id: key.record.key_id.clone(), created_ms: now, updated_ms: now };
    match ctx.store.insert_alias(&caller.scope, &alias).await {
        Err(StoreError::Conflict) => Err(kms_error!(AlreadyExistsException, "An alias with the name {} already exists", caller.alias_arn(&alias.name))),
        other => Ok(other?),
    }
}

pub async fn update_alias(ctx: &Ctx, caller: &Caller, input: UpdateAliasRequest) -> Result<(), KmsError> {
    check_alias_name(&input.alias_name)?;
    authorize_alias(caller, "UpdateAlias", &input.alias_name)?;
    let alias = existing_alias(ctx, caller, &input.alias_name).await?;
    // As AWS: the caller needs UpdateAlias on the key the alias leaves and on the one it gets.
    let current = authorize_key(ctx, caller, &alias.key_id, KeyIdForms::KeyOnly, "UpdateAlias", &Conditions::default()).await;
    let key = alias_target(ctx, caller, &input.target_key_id, "UpdateAlias").await?;
    let current = match current {
        Ok(current) => Some(current),
        Err(e) if e.code() == ErrorCode::NotFoundException => None,
        Err(e) => return Err(e),
    };
    // AWS allows only a key of the same type and usage, so that users of the alias keep working.
    if let Some(current) = current {
        if (current.key_spec, current.key_usage) != (key.key_spec, key.key_usage) {
            return Err(kms_error!(
                ValidationException,
                "Alias {} cannot be changed from a {} {} key to a {} {} key.",
                caller.alias_arn(&alias.name),
                current.key_spec,
                current.key_usage,
                key.key_spec,
                key.key_usage
            ));
        }
    }
    if !ctx.store.retarget_alias(&caller.scope, &alias.name, &key.key_id, ctx.clock.now_ms()).await? {
        return Err(alias_not_found(caller, &alias.name));
    }
    Ok(())
}

pub async fn delete_alias(ctx: &Ctx, caller: &Caller, input: DeleteAliasRequest) -> Result<(), KmsError> {
    check_alias_name(&input.alias_name)?;
    authorize_alias(caller, "DeleteAlias", &input.alias_name)?;
    let alias = existing_alias(ctx, caller, &input.alias_name).await?;
    match authorize_key(ctx, caller, &alias.key_id, KeyIdForms::KeyOnly, "DeleteAlias", &Conditions::default()).await {
        Err(e) if e.code() != ErrorCode::NotFoundException => return Err(e),
        _ => {}
    }
    if !ctx.store.delete_alias(&caller.scope, &input.alias_name).await? {
        return Err(alias_not_found(caller, &input.alias_name));
    }
    Ok(())
}

pub async fn list_aliases(ctx: &Ctx, caller: &Caller, input: ListAliasesRequest) -> Result<ListAliasesResponse, KmsError> {
    authorize_account(caller, "ListAliases", &Conditions::default())?;
    let limit = page_limit(input.limit, 50, 100);
    let key_id = match input.key_id.as_deref() {
        Some(key_id) => Some(authorize_key(ctx, caller, key_id, KeyIdForms::KeyOnly, "ListAliases", &Conditions::default()).await?.record.key_id.clone()),
        None => None,
    };
    let fetched = ctx.store.list_aliases(&caller.scope, key_id.as_deref(), input.marker.as_deref(), limit + 1).await?;
    let mut entries: Vec<AliasListEntry> = fetched
        .iter()
        .map(|a| AliasListEntry {
            alias_arn: Some(caller.alias_arn(&a.name)),
            alias_name: Some(a.name.clone()),
            target_key_id: Some(a.key_id.clone()),
            creation_date: Some(Timestamp(a.created_ms)),
            last_updated_date: Some(Timestamp(a.updated_ms)),
        })
        .collect();
    if key_id.is_none() {
        entries = with_predefined(caller, entries, input.marker.as_deref(), fetched.len() > limit);
    }
    let page = Page::from_fetched(entries, limit, |a| a.alias_name.clone().unwrap_or_default());
    Ok(ListAliasesResponse { truncated: Some(page.truncated()), aliases: Some(page.items), next_marker: page.next_marker })
}

/// The page of stored aliases after `marker` with the predefined AWS aliases that have no key yet
/// merged in, in name order. When the stored page is full, a predefined name past its last entry
/// belongs to a later page (and may be stored there), so it is left for that page.
fn with_predefined(caller: &Caller, stored: Vec<AliasListEntry>, marker: Option<&str>, full: bool) -> Vec<AliasListEntry> {
    let last = stored.last().and_then(|a| a.alias_name.clone());
    let unassigned: Vec<AliasListEntry> = managed_keys::PREDEFINED_ALIASES
        .iter()
        .filter(|name| marker.is_none_or(|m| **name > m) && !(full && last.as_deref().is_some_and(|l| **name > l)))
        .filter(|name| !stored.iter().any(|a| a.alias_name.as_deref() == Some(**name)))
        .map(|name| AliasListEntry { alias_name: Some((*name).to_owned()), alias_arn: Some(caller.alias_arn(name)), ..AliasListEntry::default() })
        .collect();
    let mut merged = stored;
    merged.extend(unassigned);
    merged.sort_by(|a, b| a.alias_name.cmp(&b.alias_name));
    merged
}

/// The key an alias is to point to: authorized for `operation` and not pending deletion. It is in
/// the caller's own account and region, as an alias's key always is: CreateAlias and UpdateAlias do
/// not cross accounts, and no operation crosses regions.
async fn alias_target(ctx: &Ctx, caller: &Caller, key_id: &str, operation: &str) -> Result<AuthorizedKey, KmsError> {
    // AWS: "You cannot use another alias" as the target.
    if key_id.starts_with("alias/") || key_id.contains(":alias/") {
        return Err(kms_error!(ValidationException, "Aliases must refer to keys. Not aliases"));
    }
    let key = authorize_key(ctx, caller, key_id, KeyIdForms::KeyOnly, operation, &Conditions::default()).await?;
    require_not_pending(&key.arn, &key)?;
    Ok(key)
}

async fn existing_alias(ctx: &Ctx, caller: &Caller, name: &str) -> Result<AliasRecord, KmsError> {
    ctx.store.get_alias(&caller.scope, name).await?.ok_or_else(|| alias_not_found(caller, name))
}

fn alias_not_found(caller: &Caller, name: &str) -> KmsError {
    kms_error!(NotFoundException, "Alias {} is not found.", caller.alias_arn(name))
}

/// AWS's rules for an alias name a caller creates, updates or deletes: `alias/` then letters,
/// digits, `/`, `_` and `-` — the model's pattern admits `:` too, which AWS refuses with a message
/// of its own — and nothing under `alias/aws/`, which is AWS's (NotAuthorizedException, without a
/// message, as AWS answers).
pub fn check_alias_name(name: &str) -> Result<(), KmsError> {
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(kms_error!(
            ValidationException,
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
        ));
    };
    if rest.is_empty() {
        return Err(kms_error!(ValidationException, "Alias name must not be empty after the prefix \"alias/\"."));
    }
    if rest.starts_with("aws/") {
        return Err(kms_error!(NotAuthorizedException));
    }
    if rest.contains(':') {
        return Err(kms_error!(ValidationException, "{name} contains invalid characters for an alias"));
    }
    Ok(())
}
