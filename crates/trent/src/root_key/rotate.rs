//! Root-key rotation: a new root key, and every wrapped value in the store wrapped again under it,
//! while the nodes keep serving.
//!
//! 1. The rotation is noted in the store (`Setting::RootKeyRotation`) with the new key wrapped
//!    under the old and the old under the new, so that a node holding either learns the other
//!    ([`follow`]: at start and every [`POLL`]); the store's root key becomes the new one, and
//!    nodes wrap under it from then on.
//! 2. After two polls, every key record is wrapped again under the new key, in batches, in key
//!    order. The position is noted after each batch: a rotation killed part-way resumes there.
//! 3. A pass that finds nothing left to rewrap (one that catches what a node wrote under the old
//!    key meanwhile) ends it: the note goes, and with it the store's last copy of the old key.
//!
//! Import tokens are sealed under the root key of their day and not stored: one issued before a
//! rotation stops working once its node has restarted without the old key.

use super::{keyring_for, store_error, Passphrases, RootKeyUri};
use crate::store::{base64_bytes, Scope, Setting, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use trent_crypto::root::{RootKey, RootKeyId, RootKeyring};

/// How often a node looks for a rotation under way.
pub const POLL: Duration = Duration::from_secs(2);

/// A rotation under way, as noted in the store.
#[derive(Clone, Serialize, Deserialize)]
struct Rotation {
    from: String,
    to: String,
    #[serde(with = "base64_bytes")]
    to_under_from: Vec<u8>,
    #[serde(with = "base64_bytes")]
    from_under_to: Vec<u8>,
    /// Where the current pass is: the last key it rewrapped.
    after: Option<(Scope, String)>,
    pass: u32,
    /// Keys the current pass found wrapped otherwise and rewrapped.
    rewrapped: u64,
}

impl Rotation {
    fn new(from: &RootKey, to: &RootKey) -> Result<Rotation, String> {
        let (from_id, to_id) = (from.id().to_string(), to.id().to_string());
        let context = pair_context(&from_id, &to_id);
        Ok(Rotation {
            to_under_from: from.wrap(to.bytes(), &context).map_err(|e| format!("{e:?}"))?,
            from_under_to: to.wrap(from.bytes(), &context).map_err(|e| format!("{e:?}"))?,
            from: from_id,
            to: to_id,
            after: None,
            pass: 1,
            rewrapped: 0,
        })
    }

    fn ids(&self) -> Result<(RootKeyId, RootKeyId), String> {
        let parse = |id: &str| RootKeyId::parse(id).ok_or_else(|| format!("the store's rotation note names a root key {id:?} that is no root key ID"));
        Ok((parse(&self.from)?, parse(&self.to)?))
    }

    fn to_json(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| e.to_string())
    }
}

fn pair_context(from: &str, to: &str) -> Vec<u8> {
    format!("trent/root-key-rotation/v1/{from}/{to}").into_bytes()
}

async fn noted(store: &dyn Store) -> Result<Option<(String, Rotation)>, String> {
    let Some(text) = store.setting(Setting::RootKeyRotation).await.map_err(store_error)? else { return Ok(None) };
    let rotation = serde_json::from_str(&text).map_err(|e| format!("the store's rotation note does not parse: {e}"))?;
    Ok(Some((text, rotation)))
}

/// Learns from the store the other root key of a rotation under way, and wraps under the new one
/// from then on. Nothing to learn if there is no rotation, or if the ring holds neither key (then
/// the node's start is refused).
pub async fn follow(store: &dyn Store, ring: &RootKeyring) -> Result<(), String> {
    let Some((_, rotation)) = noted(store).await? else { return Ok(()) };
    let (from_id, to_id) = rotation.ids()?;
    let context = pair_context(&rotation.from, &rotation.to);
    let unwrap = |key: &RootKey, wrapped: &[u8]| {
        let bytes = key.unwrap(wrapped, &context).map_err(|_| "the store's rotation note does not open under the root key it names".to_owned())?;
        RootKey::from_bytes(bytes).map(Arc::new).map_err(|e| format!("{e:?}"))
    };
    if let Some(to) = ring.get(to_id) {
        if ring.current().id() != to_id {
            ring.add(to, true);
        }
        if ring.get(from_id).is_none() {
            ring.add(unwrap(&ring.current(), &rotation.from_under_to)?, false);
        }
    } else if let Some(from) = ring.get(from_id) {
        ring.add(unwrap(&from, &rotation.to_under_from)?, true);
        tracing::info!("root key rotation under way: wrapping under root key {to_id} from now on, still unwrapping under {from_id}");
    }
    Ok(())
}

/// Follows rotations for as long as the node runs.
pub async fn follow_forever(store: Arc<dyn Store>, ring: Arc<RootKeyring>) {
    let mut tick = tokio::time::interval(POLL);
    loop {
        tick.tick().await;
        if let Err(e) = follow(store.as_ref(), &ring).await {
            tracing::error!("root key rotation: {e}");
        }
    }
}

/// `trent root-key rotate`: rotates `store` from root key `from` to the key at `to` (made there if
/// absent, else opened: the way to resume), `batch` keys at a time, telling `progress` how far it got.
pub async fn rotate(
    store: &dyn Store,
    from: RootKey,
    to: &RootKeyUri,
    passphrases: &Passphrases,
    batch: usize,
    progress: &mut dyn FnMut(String),
) -> Result<(), String> {
    let ring = keyring_for(store, from).await?;
    let new_key = if to.path().exists() {
        to.open(passphrases).await?
    } else {
        let key = RootKey::generate().map_err(|e| format!("cannot generate a root key: {e:?}"))?;
        to.seal(&key, passphrases).await?;
        progress(format!("new root key {} written to {}", key.id(), to.path().display()));
        key
    };
    let new_key = Arc::new(new_key);
    let (mut text, mut rotation) = match noted(store).await? {
        Some((text, rotation)) if rotation.to == new_key.id().to_string() => {
            progress(format!("resuming the rotation to root key {} (pass {})", rotation.to, rotation.pass));
            (text, rotation)
        }
        Some((_, rotation)) => {
            return Err(format!("a rotation to root key {} is under way: finish it first (--to naming the file that holds that key)", rotation.to))
        }
        None => begin(store, &ring, &new_key, progress).await?,
    };
    ring.add(new_key.clone(), true);

    loop {
        let page = store.scan_keys(rotation.after.as_ref(), batch).await.map_err(store_error)?;
        let Some((last_scope, last)) = page.last() else {
            if rotation.rewrapped == 0 {
                break;
            }
            // Another pass, to catch what nodes wrote under the old key meanwhile.
            rotation = Rotation { after: None, pass: rotation.pass + 1, rewrapped: 0, ..rotation };
            text = save(store, &text, &rotation).await?;
            continue;
        };
        let after = Some((last_scope.clone(), last.key_id.clone()));
        for (scope, key) in &page {
            if rewrap(store, &ring, &new_key, scope, &key.key_id).await? {
                rotation.rewrapped += 1;
            }
        }
        rotation.after = after;
        text = save(store, &text, &rotation).await?;
        progress(format!("pass {}: rewrapped {} keys so far, up to key {} in {}", rotation.pass, rotation.rewrapped, last.key_id, last_scope.region));
    }
    if !store.swap_setting(Setting::RootKeyRotation, Some(&text), None).await.map_err(store_error)? {
        return Err(concurrent());
    }
    progress(format!(
        "done: every key is wrapped under root key {new} ({path}); start every node with it. The old root key {old} may now be destroyed.",
        new = rotation.to,
        old = rotation.from,
        path = to.path().display()
    ));
    Ok(())
}

/// Notes the rotation and makes the new key the store's, then gives the nodes time to learn it.
async fn begin(store: &dyn Store, ring: &RootKeyring, new_key: &RootKey, progress: &mut dyn FnMut(String)) -> Result<(String, Rotation), String> {
    let old = ring.current();
    if old.id() == new_key.id() {
        return Err(format!("the new root key is the one in use ({})", old.id()));
    }
    let rotation = Rotation::new(&old, new_key)?;
    let text = rotation.to_json()?;
    let (old_id, new_id) = (old.id().to_string(), new_key.id().to_string());
    if !store.swap_setting(Setting::RootKeyRotation, None, Some(&text)).await.map_err(store_error)?
        || !store.swap_setting(Setting::RootKey, Some(&old_id), Some(&new_id)).await.map_err(store_error)?
    {
        return Err(concurrent());
    }
    let wait = POLL * 2 + Duration::from_secs(1);
    progress(format!("rotation from root key {old_id} to {new_id} noted in the store; waiting {}s for running nodes to take the new key", wait.as_secs()));
    tokio::time::sleep(wait).await;
    Ok((text, rotation))
}

async fn save(store: &dyn Store, previous: &str, rotation: &Rotation) -> Result<String, String> {
    let text = rotation.to_json()?;
    match store.swap_setting(Setting::RootKeyRotation, Some(previous), Some(&text)).await.map_err(store_error)? {
        true => Ok(text),
        false => Err(concurrent()),
    }
}

fn concurrent() -> String {
    "the store's rotation note changed meanwhile: is another `trent root-key rotate` running?".into()
}

/// Rewraps one key under `to`, retrying when a node updates it meanwhile; true if it was not
/// wrapped under `to` yet.
async fn rewrap(store: &dyn Store, ring: &RootKeyring, to: &RootKey, scope: &Scope, key_id: &str) -> Result<bool, String> {
    const ATTEMPTS: usize = 20;
    for _ in 0..ATTEMPTS {
        let mut outcome = Ok(false);
        let mut change = |key: &mut crate::store::KeyRecord| {
            outcome = crate::ops::rewrap_key(ring, to, scope, key);
            matches!(outcome, Ok(true))
        };
        match store.update_key_exclusively(scope, key_id, &mut change).await {
            Ok(_) => {
                return outcome.map_err(|_| {
                    format!(
                        "key {key_id} in {} holds material that opens under neither root key: the rotation stops here (run it again to resume)",
                        scope.region
                    )
                })
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(format!("key {key_id} in {} kept changing; run the rotation again to resume", scope.region))
}
