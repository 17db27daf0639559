//! TagResource, UntagResource, ListResourceTags. A request that fails changes nothing: the whole
//! new tag set is checked before the key record is written once.

use super::authorize::{authorize_key, Conditions, KeyIdForms};
use super::{modify_key, page_limit, require_not_pending, Caller, Ctx};
use crate::store::StoredTag;
use trent_model::*;

/// AWS's limit of tags per KMS key.
const MAX_TAGS: usize = 50;

pub async fn tag_resource(ctx: &Ctx, caller: &Caller, input: TagResourceRequest) -> Result<(), KmsError> {
    let new: Vec<StoredTag> = input.tags.into_iter().map(StoredTag::from).collect();
    if new.iter().any(|t| crate::custody::is_reserved(&t.key)) {
        return Err(custody_tag());
    }
    let conditions = Conditions { request_tags: new.iter().map(|t| (t.key.as_str(), t.value.as_str())).collect(), ..Conditions::default() };
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "TagResource", &conditions).await?;
    let arn = key.arn.clone();
    modify_key(ctx, key, |key| {
        require_not_pending(&arn, key)?;
        check_new_tags(&key.tags, &new)?;
        for tag in &new {
            match key.tags.iter_mut().find(|t| t.key == tag.key) {
                Some(existing) => existing.value.clone_from(&tag.value),
                None => key.tags.push(tag.clone()),
            }
        }
        Ok(())
    })
    .await?;
    Ok(())
}

pub async fn untag_resource(ctx: &Ctx, caller: &Caller, input: UntagResourceRequest) -> Result<(), KmsError> {
    if input.tag_keys.iter().any(|k| is_reserved(k)) {
        return Err(reserved());
    }
    if input.tag_keys.iter().any(|k| crate::custody::is_reserved(k)) {
        return Err(custody_tag());
    }
    let mut conditions = Conditions::default();
    for tag_key in &input.tag_keys {
        conditions = conditions.with("aws:TagKeys", tag_key);
    }
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "UntagResource", &conditions).await?;
    let arn = key.arn.clone();
    modify_key(ctx, key, |key| {
        require_not_pending(&arn, key)?;
        key.tags.retain(|t| !input.tag_keys.contains(&t.key));
        Ok(())
    })
    .await?;
    Ok(())
}

pub async fn list_resource_tags(ctx: &Ctx, caller: &Caller, input: ListResourceTagsRequest) -> Result<ListResourceTagsResponse, KmsError> {
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "ListResourceTags", &Conditions::default()).await?;
    let limit = page_limit(input.limit, MAX_TAGS, MAX_TAGS);
    let start = match input.marker.as_deref() {
        None => 0,
        Some(marker) => marker.parse::<usize>().map_err(|_| kms_error!(InvalidMarkerException, "Invalid marker: {marker}"))?,
    };
    let end = key.tags.len().min(start.saturating_add(limit));
    let truncated = end < key.tags.len();
    Ok(ListResourceTagsResponse {
        tags: Some(key.tags.get(start..end).unwrap_or_default().iter().map(Tag::from).collect()),
        next_marker: truncated.then(|| end.to_string()),
        truncated: Some(truncated),
    })
}

/// The rules AWS applies to tags being added to a key that has `existing` tags.
pub fn check_new_tags(existing: &[StoredTag], new: &[StoredTag]) -> Result<(), KmsError> {
    if new.iter().any(|t| is_reserved(&t.key)) {
        return Err(reserved());
    }
    let mut keys: Vec<&str> = new.iter().map(|t| t.key.as_str()).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return Err(kms_error!(TagException, "Duplicate tag keys"));
    }
    let added = new.iter().filter(|t| !existing.iter().any(|e| e.key == t.key)).count();
    if existing.len() + added > MAX_TAGS {
        return Err(kms_error!(TagException, "Too many tags"));
    }
    Ok(())
}

fn is_reserved(tag_key: &str) -> bool {
    tag_key.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("aws:"))
}

/// The custody tag is given once, by CreateKey, and never changed.
fn custody_tag() -> KmsError {
    kms_error!(TagException, "The tag {} is set only by CreateKey and cannot be added, changed or removed.", crate::custody::TAG)
}

fn reserved() -> KmsError {
    kms_error!(TagException, "Tags beginning with aws: are reserved")
}
