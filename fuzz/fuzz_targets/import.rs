//! ImportKeyMaterial's reading of the caller's bytes (`trent::ops::imported_material`): the import
//! token (its header, and the wrapping key sealed under the root key) and the encrypted key
//! material (RSA-OAEP, PKCS#1 v1.5, or RSA-OAEP with AES key wrap), then the material as the key
//! spec needs it — the check a seeded key's material file goes through too.
//!
//! Input: the key spec (one byte: its index in the model's list), the token's length (two bytes,
//! big-endian), the import token, then the encrypted material. The seeds' tokens were issued by a
//! Trent whose root key was [`ROOT_KEY`], for the key [`KEY_ID`] of [`ACCOUNT`] in [`REGION`].

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use trent::ops::{imported_material, seeding::check_material};
use trent::store::Scope;
use trent_crypto::root::{RootKey, RootKeyring};
use trent_crypto::KeyMaterial;
use trent_model::{KeySpec, Timestamp};

const ROOT_KEY: &[u8; 32] = b"trent fuzz targets root key 0001";
const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";
const KEY_ID: &str = "0b7e1b6a-3f6e-4c4e-9a0e-6a3d2f1c9b11";

static ROOT: LazyLock<RootKeyring> = LazyLock::new(|| RootKeyring::new(RootKey::from_bytes(KeyMaterial::new(ROOT_KEY.to_vec())).expect("a 32-byte root key")));

fuzz_target!(|data: &[u8]| {
    let Some((&spec, rest)) = data.split_first() else { return };
    let Some((length, rest)) = rest.split_first_chunk::<2>() else { return };
    let spec = KeySpec::ALL[usize::from(spec) % KeySpec::ALL.len()];
    let (token, encrypted) = rest.split_at(usize::from(u16::from_be_bytes(*length)).min(rest.len()));
    if let Err(error) = check_material(spec, &KeyMaterial::new(encrypted.to_vec())) {
        assert_eq!(error.code().status(), 400, "{:?}: {}", error.code(), error.message());
    }
    let scope = Scope { account: ACCOUNT.into(), region: REGION.into() };
    // At the epoch: the seeds' tokens never expire.
    if let Err(error) = imported_material(&ROOT, &scope, KEY_ID, spec, token, encrypted, Timestamp(0)) {
        assert_eq!(error.code().status(), 400, "{:?}: {}", error.code(), error.message());
    }
});
