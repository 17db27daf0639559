//! Trent's cryptography, free of I/O: key material, the symmetric ciphertext blob, and wrapping of
//! key material under the root key. One module per key family.

#![forbid(unsafe_code)]

pub mod asymmetric;
mod ec;
pub mod ed448;
mod edwards;
mod error;
mod hmac;
pub mod import;
mod material;
mod pq;
pub mod root;
mod rsa;
#[cfg(test)]
mod scratch;
pub mod sm2;
pub mod symmetric;

pub use error::CryptoError;
pub use material::KeyMaterial;

/// Fills a fresh buffer of `len` random bytes from the system's CSPRNG (through AWS-LC).
pub fn random_bytes(len: usize) -> Result<KeyMaterial, CryptoError> {
    let mut bytes = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| CryptoError::Random)?;
    Ok(KeyMaterial::new(bytes))
}
