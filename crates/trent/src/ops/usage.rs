//! GetKeyLastUsage, and the record of each key's last successful cryptographic use behind it.
//!
//! A use is noted in memory (one map update under a striped lock, no I/O, no allocation once the
//! key has an entry), and the scheduled work writes the uses noted since its last run to the key
//! records as a batch: a store write per request would double the cost of every cryptographic
//! operation. GetKeyLastUsage reads both, so it is exact on this node.

use super::authorize::{authorize_key, Conditions, KeyIdForms, StoredKey};
use super::{modify_key, Caller, Ctx};
use crate::store::{LastUse, Scope};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Mutex;
use trent_model::*;

/// Concurrent requests on different keys rarely wait for each other.
const STRIPES: usize = 16;

pub struct UsageLog {
    /// When this process began noting uses: the tracking start of keys made before Trent tracked
    /// usage, until a use of theirs is written.
    since_ms: i64,
    /// By key ARN (what operations return, so noting needs no parsing): the last use not written yet.
    noted: Vec<Mutex<HashMap<String, LastUse>>>,
}

impl UsageLog {
    pub fn new(since_ms: i64) -> UsageLog {
        UsageLog { since_ms, noted: (0..STRIPES).map(|_| Mutex::new(HashMap::new())).collect() }
    }

    fn stripe(&self, arn: &str) -> &Mutex<HashMap<String, LastUse>> {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(arn);
        &self.noted[(hash % STRIPES as u64) as usize]
    }

    /// Notes a successful use of the key `arn` names.
    pub fn note(&self, arn: &str, operation: KeyLastUsageTrackingOperation, request_id: &str, event_id: uuid::Uuid, at_ms: i64) {
        let Ok(mut noted) = self.stripe(arn).lock() else { return };
        match noted.get_mut(arn) {
            Some(last) => {
                (last.operation, last.at_ms, last.event_id) = (operation, at_ms, Some(event_id));
                last.request_id.clear();
                last.request_id.push_str(request_id);
            }
            None => {
                noted.insert(arn.to_owned(), LastUse { operation, at_ms, request_id: request_id.to_owned(), event_id: Some(event_id) });
            }
        }
    }

    fn noted_for(&self, arn: &str) -> Option<LastUse> {
        self.stripe(arn).lock().ok()?.get(arn).cloned()
    }

    fn take(&self) -> Vec<(String, LastUse)> {
        let taken = self.noted.iter().filter_map(|stripe| stripe.lock().ok().map(|mut noted| std::mem::take(&mut *noted)));
        taken.flatten().collect()
    }
}

/// `arn:aws:kms:<region>:<account>:key/<key-id>` → (scope, key ID).
fn parse_key_arn(arn: &str) -> Option<(Scope, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, _, region, account, resource] = parts[..] else { return None };
    let key_id = resource.strip_prefix("key/")?;
    Some((Scope { account: account.to_owned(), region: region.to_owned() }, key_id))
}

/// Writes the uses noted since the last run to their keys' records. Usage is informational, so a
/// key that cannot be updated now (or was deleted meanwhile) is logged and skipped, not retried.
pub async fn write_noted_uses(ctx: &Ctx) {
    for (arn, last) in ctx.usage.take() {
        let Some((scope, key_id)) = parse_key_arn(&arn) else {
            tracing::error!(arn, "an operation's output named its key by something other than a key ARN");
            continue;
        };
        if let Err(e) = write_use(ctx, &scope, key_id, &last).await {
            tracing::warn!(arn, "recording the key's last use failed: {e:?}");
        }
    }
}

async fn write_use(ctx: &Ctx, scope: &Scope, key_id: &str, last: &LastUse) -> Result<(), KmsError> {
    let Some(record) = ctx.store.get_key(scope, key_id).await? else { return Ok(()) };
    let since_ms = ctx.usage.since_ms;
    modify_key(ctx, StoredKey::new(scope.clone(), record), |key| {
        if key.last_use.as_ref().is_none_or(|stored| stored.at_ms <= last.at_ms) {
            key.last_use = Some(last.clone());
        }
        key.tracking_start_ms.get_or_insert(since_ms);
        Ok(())
    })
    .await?;
    Ok(())
}

pub async fn get_key_last_usage(ctx: &Ctx, caller: &Caller, input: GetKeyLastUsageRequest) -> Result<GetKeyLastUsageResponse, KmsError> {
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "GetKeyLastUsage", &Conditions::default()).await?;
    let noted = ctx.usage.noted_for(&key.arn);
    let last = noted.into_iter().chain(key.last_use.clone()).max_by_key(|last| last.at_ms);
    // As the model says: when tracking began, or the key's creation, whichever is later.
    let tracking_start_ms = key.tracking_start_ms.unwrap_or(ctx.usage.since_ms).max(key.created_ms);
    Ok(GetKeyLastUsageResponse {
        key_id: Some(key.key_id.clone()),
        key_last_usage: last.map(|last| KeyLastUsageData {
            operation: Some(last.operation),
            timestamp: Some(Timestamp(last.at_ms)),
            kms_request_id: Some(last.request_id),
            // The eventID of that request's line in the audit log.
            cloud_trail_event_id: last.event_id.map(|id| id.to_string()),
        }),
        tracking_start_date: Some(Timestamp(tracking_start_ms)),
        key_creation_date: Some(Timestamp(key.created_ms)),
    })
}
