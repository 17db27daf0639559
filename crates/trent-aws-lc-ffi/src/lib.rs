//! The only `unsafe` code in Trent: two AWS-LC operations called through its raw C bindings
//! (aws-lc-sys, the very copy of AWS-LC that aws-lc-rs links), because aws-lc-rs 1.19 exposes
//! neither through a safe API (https://github.com/aws/aws-lc-rs/issues/1196):
//!
//! - Ed25519ph (RFC 8032 §5.1, HashEdDSA, empty context) over a caller's SHA-512 digest:
//!   `ED25519ph_sign_digest` / `ED25519ph_verify_digest`.
//! - ML-DSA over a caller's 64-byte μ (FIPS 204 §6.2 "external μ"): `EVP_PKEY_sign` /
//!   `EVP_PKEY_verify` on an ML-DSA `EVP_PKEY`, which AWS-LC defines as signing μ (whereas
//!   `EVP_DigestSign`, which aws-lc-rs uses, signs the message).
//!
//! Rules kept here: every `unsafe` block has a `// SAFETY:` comment; every buffer handed to C is
//! sized from AWS-LC's own constants (or its length query) and fixed-size inputs are typed as
//! arrays; every return code is checked; every C-side object is owned by an RAII guard, so it
//! is freed on every path. Secret copies on the Rust side (the Ed25519 seed and expanded key)
//! are zeroized. A failure may leave entries on AWS-LC's thread-local error queue, which is a
//! bounded ring that aws-lc-rs does not read either.
//!
//! The functions are safe; trent-crypto's edwards.rs and pq.rs route to them. This crate is the
//! one place `unsafe` is allowed: every other crate of the workspace forbids it.

#![allow(unsafe_code)]

use aws_lc_sys as sys;
use std::os::raw::c_int;
use std::ptr;
use zeroize::Zeroizing;

/// The SHA-512 digest Ed25519ph signs (PH(M) of RFC 8032 §5.1).
pub const ED25519PH_DIGEST_LEN: usize = sys::SHA512_DIGEST_LENGTH as usize;
pub const ED25519_PUBLIC_KEY_LEN: usize = sys::ED25519_PUBLIC_KEY_LEN as usize;
pub const ED25519_SIGNATURE_LEN: usize = sys::ED25519_SIGNATURE_LEN as usize;
/// The raw private key `EVP_PKEY_get_raw_private_key` gives for Ed25519, which is the seed
/// `ED25519_keypair_from_seed` takes.
const ED25519_SEED_LEN: usize = sys::ED25519_PRIVATE_KEY_SEED_LEN as usize;
const _: () = assert!(ED25519_SEED_LEN == sys::ED25519_SEED_LEN as usize);
/// Seed ‖ public key, the form `ED25519ph_sign_digest` takes.
const ED25519_PRIVATE_KEY_LEN: usize = sys::ED25519_PRIVATE_KEY_LEN as usize;
/// μ is 64 bytes for every ML-DSA parameter set (FIPS 204 §6.2, Algorithm 7 line 6). AWS-LC's
/// constant for it (`MLDSA*_EXTMU_BYTES`) is internal, not in aws-lc-sys; AWS-LC rejects any
/// other length itself (`EVP_R_INVALID_BUFFER_SIZE`).
pub const ML_DSA_MU_LEN: usize = 64;

/// What every failure is: AWS-LC refused the key (or the input given with it).
#[derive(Debug)]
pub struct InvalidKey;

/// AWS-LC's success return value.
const OK: c_int = 1;

/// An owned `EVP_PKEY`, freed on drop.
struct Pkey(ptr::NonNull<sys::EVP_PKEY>);

impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: the pointer came from EVP_parse_{private,public}_key, is owned by this guard
        // alone (never copied out) and is freed exactly once, here.
        unsafe { sys::EVP_PKEY_free(self.0.as_ptr()) }
    }
}

/// An owned `EVP_PKEY_CTX`, freed on drop. It holds its own reference to its key.
struct PkeyCtx(ptr::NonNull<sys::EVP_PKEY_CTX>);

impl Drop for PkeyCtx {
    fn drop(&mut self) {
        // SAFETY: the pointer came from EVP_PKEY_CTX_new, is owned by this guard alone and is
        // freed exactly once, here.
        unsafe { sys::EVP_PKEY_CTX_free(self.0.as_ptr()) }
    }
}

impl PkeyCtx {
    fn new(pkey: &Pkey) -> Result<PkeyCtx, InvalidKey> {
        // SAFETY: `pkey` is a live EVP_PKEY; EVP_PKEY_CTX_new takes its own reference to it
        // (so the context stays valid whatever the drop order), and a null engine is allowed.
        let ctx = unsafe { sys::EVP_PKEY_CTX_new(pkey.0.as_ptr(), ptr::null_mut()) };
        ptr::NonNull::new(ctx).map(PkeyCtx).ok_or(InvalidKey)
    }
}

enum Der {
    /// PKCS#8 PrivateKeyInfo.
    Private,
    /// SubjectPublicKeyInfo.
    Public,
}

/// Parses a whole DER key (no trailing bytes) and checks its AWS-LC key type.
fn parse(der: &[u8], form: Der, expected_type: c_int) -> Result<Pkey, InvalidKey> {
    // SAFETY: CBS is a plain {pointer, length} struct, for which all-zero bytes are a valid
    // value; CBS_init then points it at `der`, which outlives every use of `cbs` in this
    // function. EVP_parse_* only reads through it and returns a new, caller-owned EVP_PKEY or
    // null.
    let (pkey, rest) = unsafe {
        let mut cbs: sys::CBS = std::mem::zeroed();
        sys::CBS_init(&mut cbs, der.as_ptr(), der.len());
        let pkey = match form {
            Der::Private => sys::EVP_parse_private_key(&mut cbs),
            Der::Public => sys::EVP_parse_public_key(&mut cbs),
        };
        (pkey, sys::CBS_len(&cbs))
    };
    // Owned from here, so freed on every path below.
    let pkey = Pkey(ptr::NonNull::new(pkey).ok_or(InvalidKey)?);
    // SAFETY: `pkey` is a live EVP_PKEY.
    let key_type = unsafe { sys::EVP_PKEY_id(pkey.0.as_ptr()) };
    if rest != 0 || key_type != expected_type {
        return Err(InvalidKey);
    }
    Ok(pkey)
}

/// Ed25519ph signature, with an empty context, of `digest` = SHA-512(M); the key is the PKCS#8
/// Ed25519 private key. Deterministic, as Ed25519 is.
pub fn ed25519ph_sign_digest(pkcs8: &[u8], digest: &[u8; ED25519PH_DIGEST_LEN]) -> Result<[u8; ED25519_SIGNATURE_LEN], InvalidKey> {
    let pkey = parse(pkcs8, Der::Private, sys::EVP_PKEY_ED25519)?;
    let mut seed = Zeroizing::new([0u8; ED25519_SEED_LEN]);
    let mut seed_len = seed.len();
    // SAFETY: `seed` is writable for `seed_len` bytes, which AWS-LC checks before writing and
    // then sets to the number written; `pkey` is a live EVP_PKEY.
    let rc = unsafe { sys::EVP_PKEY_get_raw_private_key(pkey.0.as_ptr(), seed.as_mut_ptr(), &mut seed_len) };
    if rc != OK || seed_len != ED25519_SEED_LEN {
        return Err(InvalidKey);
    }
    // Expand the seed to seed ‖ public key ourselves rather than trust a stored public key.
    let mut public = [0u8; ED25519_PUBLIC_KEY_LEN];
    let mut private = Zeroizing::new([0u8; ED25519_PRIVATE_KEY_LEN]);
    // SAFETY: the three buffers have exactly the lengths the C prototype declares
    // (ED25519_PUBLIC_KEY_LEN, ED25519_PRIVATE_KEY_LEN, ED25519_SEED_LEN); it cannot fail.
    unsafe { sys::ED25519_keypair_from_seed(public.as_mut_ptr(), private.as_mut_ptr(), seed.as_ptr()) };
    let mut signature = [0u8; ED25519_SIGNATURE_LEN];
    // SAFETY: signature, digest and private key have exactly the lengths the C prototype
    // declares (ED25519_SIGNATURE_LEN, SHA512_DIGEST_LENGTH, ED25519_PRIVATE_KEY_LEN); a null
    // context of length 0 is the empty context, which AWS-LC accepts.
    let rc = unsafe { sys::ED25519ph_sign_digest(signature.as_mut_ptr(), digest.as_ptr(), private.as_ptr(), ptr::null(), 0) };
    if rc != OK {
        return Err(InvalidKey);
    }
    Ok(signature)
}

/// Whether `signature` is a valid Ed25519ph signature (empty context) by `public_key` of
/// `digest` = SHA-512(M).
pub fn ed25519ph_verify_digest(
    public_key: &[u8; ED25519_PUBLIC_KEY_LEN],
    digest: &[u8; ED25519PH_DIGEST_LEN],
    signature: &[u8; ED25519_SIGNATURE_LEN],
) -> bool {
    // SAFETY: digest, signature and public key have exactly the lengths the C prototype declares
    // (SHA512_DIGEST_LENGTH, ED25519_SIGNATURE_LEN, ED25519_PUBLIC_KEY_LEN) and are only read;
    // a null context of length 0 is the empty context.
    let rc = unsafe { sys::ED25519ph_verify_digest(digest.as_ptr(), signature.as_ptr(), public_key.as_ptr(), ptr::null(), 0) };
    rc == OK
}

/// ML-DSA signature of a caller's μ (FIPS 204 Algorithm 7 from line 7 on; hedged, as AWS-LC
/// signs); the key is the PKCS#8 ML-DSA private key. `signature_len` is the parameter set's
/// signature length: material of another parameter set answers `InvalidKey`.
pub fn ml_dsa_sign_mu(pkcs8: &[u8], signature_len: usize, mu: &[u8; ML_DSA_MU_LEN]) -> Result<Vec<u8>, InvalidKey> {
    let pkey = parse(pkcs8, Der::Private, sys::EVP_PKEY_PQDSA)?;
    let ctx = PkeyCtx::new(&pkey)?;
    // SAFETY: `ctx` is a live context.
    if unsafe { sys::EVP_PKEY_sign_init(ctx.0.as_ptr()) } != OK {
        return Err(InvalidKey);
    }
    // Length query: with a null output AWS-LC only writes the key's signature length to `len`.
    let mut len = 0usize;
    // SAFETY: `ctx` is live and sign-initialised, `len` is writable, `mu` is readable for
    // `mu.len()` bytes; the output pointer is null, which asks for the length only.
    if unsafe { sys::EVP_PKEY_sign(ctx.0.as_ptr(), ptr::null_mut(), &mut len, mu.as_ptr(), mu.len()) } != OK || len != signature_len {
        return Err(InvalidKey);
    }
    let mut signature = vec![0u8; len];
    // SAFETY: `signature` is writable for `len` bytes, the length AWS-LC just asked for, and
    // AWS-LC checks `len` against it before writing; `mu` is readable for `mu.len()` bytes.
    if unsafe { sys::EVP_PKEY_sign(ctx.0.as_ptr(), signature.as_mut_ptr(), &mut len, mu.as_ptr(), mu.len()) } != OK || len != signature_len {
        return Err(InvalidKey);
    }
    Ok(signature)
}

/// Whether `signature` is a valid ML-DSA signature of μ by the key in `spki` (DER
/// SubjectPublicKeyInfo). A malformed key is `InvalidKey`; a malformed signature is `false`.
pub fn ml_dsa_verify_mu(spki: &[u8], mu: &[u8; ML_DSA_MU_LEN], signature: &[u8]) -> Result<bool, InvalidKey> {
    let pkey = parse(spki, Der::Public, sys::EVP_PKEY_PQDSA)?;
    let ctx = PkeyCtx::new(&pkey)?;
    // SAFETY: `ctx` is a live context.
    if unsafe { sys::EVP_PKEY_verify_init(ctx.0.as_ptr()) } != OK {
        return Err(InvalidKey);
    }
    // SAFETY: `ctx` is live and verify-initialised; `signature` and `mu` are readable for their
    // lengths (AWS-LC rejects a signature of the wrong length without reading past it).
    let rc = unsafe { sys::EVP_PKEY_verify(ctx.0.as_ptr(), signature.as_ptr(), signature.len(), mu.as_ptr(), mu.len()) };
    Ok(rc == OK)
}
