//! End-to-end encryption of the secret DKG messages (one party's share of another's polynomial),
//! which Trent relays between parties: HPKE's base mode in substance — an ephemeral X25519 key
//! agreement with the recipient's key for this session, HKDF-SHA256, AES-256-GCM — bound to the
//! session, the sender and the recipient, so Trent can neither read nor redirect nor replay one.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::hkdf::{Salt, HKDF_SHA256};
use zeroize::Zeroizing;

/// A party's X25519 key for one DKG session; its public half travels with its round-1 package.
pub struct SessionKey(PrivateKey);

impl SessionKey {
    pub fn generate() -> Result<SessionKey, String> {
        PrivateKey::generate(&X25519).map(SessionKey).map_err(|_| "cannot generate an X25519 key".to_owned())
    }

    pub fn public(&self) -> Result<Vec<u8>, String> {
        Ok(self.0.compute_public_key().map_err(|_| "X25519 public key")?.as_ref().to_vec())
    }

    /// Opens what [`seal`] sealed for this key.
    pub fn open(&self, sealed: &[u8], binding: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        let (ephemeral, ciphertext) = sealed.split_at_checked(32).ok_or("a sealed message too short")?;
        let recipient = self.public()?;
        let key =
            agreement::agree(&self.0, UnparsedPublicKey::new(&X25519, ephemeral), "key agreement failed", |shared| derive(shared, ephemeral, &recipient))?;
        let mut plaintext = Zeroizing::new(ciphertext.to_vec());
        let opened = key
            .open_in_place(Nonce::assume_unique_for_key([0; 12]), Aad::from(binding), &mut plaintext)
            .map_err(|_| "a sealed message does not open: tampered, replayed or not for this party")?;
        Ok(Zeroizing::new(opened.to_vec()))
    }
}

/// Seals `plaintext` for the holder of `recipient` (an X25519 public key), bound to `binding`.
pub fn seal(recipient: &[u8], plaintext: &[u8], binding: &[u8]) -> Result<Vec<u8>, String> {
    // A key of its own for every message: the zero nonce below is used once per key.
    let ephemeral = PrivateKey::generate(&X25519).map_err(|_| "cannot generate an X25519 key")?;
    let ephemeral_public = ephemeral.compute_public_key().map_err(|_| "X25519 public key")?.as_ref().to_vec();
    let key = agreement::agree(&ephemeral, UnparsedPublicKey::new(&X25519, recipient), "key agreement failed", |shared| {
        derive(shared, &ephemeral_public, recipient)
    })?;
    let mut body = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key([0; 12]), Aad::from(binding), &mut body).map_err(|_| "seal failed")?;
    Ok([ephemeral_public, body].concat())
}

fn derive(shared: &[u8], ephemeral: &[u8], recipient: &[u8]) -> Result<LessSafeKey, &'static str> {
    let salt = Salt::new(HKDF_SHA256, &[ephemeral, recipient].concat());
    let mut key = Zeroizing::new([0u8; 32]);
    salt.extract(shared).expand(&[b"trent/custody/seal/v1"], &AES_256_GCM).and_then(|okm| okm.fill(key.as_mut())).map_err(|_| "key derivation failed")?;
    UnboundKey::new(&AES_256_GCM, key.as_ref()).map(LessSafeKey::new).map_err(|_| "key derivation failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_for_one_key_and_binding_only() {
        let bob = SessionKey::generate().unwrap();
        let eve = SessionKey::generate().unwrap();
        let sealed = seal(&bob.public().unwrap(), b"share", b"session|1|2").unwrap();
        assert_eq!(bob.open(&sealed, b"session|1|2").unwrap().as_slice(), b"share");
        assert!(bob.open(&sealed, b"session|3|2").is_err(), "bound to the sender");
        assert!(eve.open(&sealed, b"session|1|2").is_err(), "for bob only");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(bob.open(&tampered, b"session|1|2").is_err());
    }
}
