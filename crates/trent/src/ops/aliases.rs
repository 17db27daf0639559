//! CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use super::{find_key, page_limit, require_not_pending, Caller, Ctx, KeyIdForms, Page};
use crate::store::{AliasRecord, StoreError};
use trent_model::*;

pub async fn create_alias(ctx: &Ctx, caller: &Caller, input: CreateAliasRequest) -> Result<(), KmsError> {
    check_alias_name(&input.alias_name)?;
    let key = find_key(ctx, caller, &input.target_key_id, KeyIdForms::KeyOnly).await?;
    require_not_pending(caller, &key)?;
    let now = Timestamp::now().0;
    let alias = AliasRecord { name: input.alias_name, key_id: key.key_id, created_ms: now, updated_ms: now };
    match ctx.store.insert_alias(&caller.scope, &alias).await {
        Err(StoreError::Conflict) => Err(kms_error!(AlreadyExistsException, "An alias with the name {} already exists", caller.alias_arn(&alias.name))),
        other => Ok(other?),
    }
}

pub async fn update_alias(ctx: &Ctx, caller: &Caller, input: UpdateAliasRequest) -> Result<(), KmsError> {
    check_alias_name(&input.alias_name)?;
    let alias = existing_alias(ctx, caller, &input.alias_name).await?;
    let key = find_key(ctx, caller, &input.target_key_id, KeyIdForms::KeyOnly).await?;
    require_not_pending(caller, &key)?;
    // AWS allows only a key of the same type and usage, so that users of the alias keep working.
    if let Some(current) = ctx.store.get_key(&caller.scope, &alias.key_id).await? {
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
    if !ctx.store.retarget_alias(&caller.scope, &alias.name, &key.key_id, Timestamp::now().0).await? {
        return Err(alias_not_found(caller, &alias.name));
    }
    Ok(())
}

pub async fn delete_alias(ctx: &Ctx, caller: &Caller, input: DeleteAliasRequest) -> Result<(), KmsError> {
    check_alias_name(&input.alias_name)?;
    if !ctx.store.delete_alias(&caller.scope, &input.alias_name).await? {
        return Err(alias_not_found(caller, &input.alias_name));
    }
    Ok(())
}

pub async fn list_aliases(ctx: &Ctx, caller: &Caller, input: ListAliasesRequest) -> Result<ListAliasesResponse, KmsError> {
    let limit = page_limit(input.limit, 50, 100);
    let key_id = match input.key_id.as_deref() {
        Some(key_id) => Some(find_key(ctx, caller, key_id, KeyIdForms::KeyOnly).await?.key_id),
        None => None,
    };
    let fetched = ctx.store.list_aliases(&caller.scope, key_id.as_deref(), input.marker.as_deref(), limit + 1).await?;
    let page = Page::from_fetched(fetched, limit, |a| a.name.clone());
    Ok(ListAliasesResponse {
        truncated: Some(page.truncated()),
        aliases: Some(
            page.items
                .iter()
                .map(|a| AliasListEntry {
                    alias_arn: Some(caller.alias_arn(&a.name)),
                    alias_name: Some(a.name.clone()),
                    target_key_id: Some(a.key_id.clone()),
                    creation_date: Some(Timestamp(a.created_ms)),
                    last_updated_date: Some(Timestamp(a.updated_ms)),
                })
                .collect(),
        ),
        next_marker: page.next_marker,
    })
}

async fn existing_alias(ctx: &Ctx, caller: &Caller, name: &str) -> Result<AliasRecord, KmsError> {
    ctx.store.get_alias(&caller.scope, name).await?.ok_or_else(|| alias_not_found(caller, name))
}

fn alias_not_found(caller: &Caller, name: &str) -> KmsError {
    kms_error!(NotFoundException, "Alias {} is not found.", caller.alias_arn(name))
}

fn check_alias_name(name: &str) -> Result<(), KmsError> {
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
        return Err(kms_error!(InvalidAliasNameException, "Alias names beginning with alias/aws/ are reserved."));
    }
    Ok(())
}
