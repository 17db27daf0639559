//! The symmetric ciphertext blob (`trent_crypto::symmetric`): its header, read to find the key
//! before decrypting, and the whole blob opened.
//!
//! Input: a `CiphertextBlob` as Decrypt and ReEncrypt receive it.

#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use trent_crypto::{symmetric, KeyMaterial};

/// The seeds were made under other keys: what is tested is the reading, which fails closed.
static KEY: LazyLock<KeyMaterial> = LazyLock::new(|| KeyMaterial::new(vec![0x5a; symmetric::KEY_LEN]));

fuzz_target!(|blob: &[u8]| {
    let header = symmetric::parse_header(blob);
    let opened = symmetric::open(&KEY, blob, &BTreeMap::new());
    assert!(header.is_ok() || opened.is_err(), "a blob whose header does not parse opened");
    if let Ok(header) = header {
        assert!(header.key_id.len() < blob.len());
    }
});
