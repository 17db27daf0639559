//! Threshold custody: a signing key generated jointly by parties (FROST's distributed key
//! generation, RFC 9591, or DKLs23's for ECDSA), each keeping only its share, and signatures made
//! by a quorum of them. The private key never exists in one place, not even while it is generated.
//!
//! - [`frost`]: the Schnorr schemes (FROST over Ed25519 and Ed448) as byte-in, byte-out steps;
//! - [`dkls23`]: threshold ECDSA (DKLs23 over secp256k1 and P-256), the same way — experimental:
//!   the crate under it is unaudited, and the module's functions are all an audited replacement
//!   would have to offer;
//! - [`wire`]: the messages between Trent (the coordinator) and a party, and their framing;
//! - [`participant`]: what a party does with each message — `trent-party`, and Trent itself when it
//!   is one of the parties;
//! - [`identity`]: each side's TLS identity, pinned by fingerprint on the other side;
//! - [`seal`]: the end-to-end encryption of the secret DKG messages, which Trent relays but cannot read.

#![forbid(unsafe_code)]

pub mod dkls23;
pub mod frost;
pub mod identity;
pub mod participant;
pub mod seal;
pub mod wire;

use serde::{Deserialize, Serialize};
use std::any::Any;

/// A threshold signature scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scheme {
    /// FROST(Ed25519, SHA-512): signatures that verify as Ed25519 (RFC 8032).
    FrostEd25519,
    /// FROST(Ed448, SHAKE256): signatures that verify as Ed448 (RFC 8032).
    FrostEd448,
    /// DKLs23 over secp256k1: ECDSA signatures (experimental).
    Dkls23Secp256k1,
    /// DKLs23 over NIST P-256: ECDSA signatures (experimental).
    Dkls23P256,
}

impl Scheme {
    /// Threshold ECDSA rests on an unaudited implementation (DKLs23 0.6), so it is marked so.
    pub fn is_experimental(self) -> bool {
        matches!(self, Scheme::Dkls23Secp256k1 | Scheme::Dkls23P256)
    }
}

/// A party's secret between two steps of a scheme (DKG round state, signing nonces), typed by its
/// scheme and step, never serialized.
pub struct Secret(Box<dyn Any + Send>);

impl Secret {
    fn new<T: Any + Send>(state: T) -> Secret {
        Secret(Box::new(state))
    }

    fn take<T: 'static>(self) -> Result<T, String> {
        self.0.downcast::<T>().map(|b| *b).map_err(|_| "secret state of another scheme or step".to_owned())
    }

    fn peek<T: 'static>(&self) -> Result<&T, String> {
        self.0.downcast_ref::<T>().ok_or_else(|| "secret state of another scheme or step".to_owned())
    }
}

/// Who holds a key: `threshold` of `parties` must take part in a signature. A party's FROST
/// identifier is its position in `parties`, from 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quorum {
    pub threshold: u16,
    pub parties: Vec<String>,
}

impl Quorum {
    /// The reserved tag's value: `threshold:T-of-N:PARTY/PARTY/…`.
    pub fn parse_tag(value: &str) -> Result<Quorum, String> {
        let bad = || format!("the trent:custody tag must be threshold:T-of-N:PARTY/PARTY/… with 2 <= T <= N <= 16 and N distinct parties, not {value:?}");
        let rest = value.strip_prefix("threshold:").ok_or_else(bad)?;
        let (counts, parties) = rest.split_once(':').ok_or_else(bad)?;
        let (t, n) = counts.split_once("-of-").ok_or_else(bad)?;
        let (threshold, total): (u16, u16) = (t.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        let parties: Vec<String> = parties.split('/').map(str::to_owned).collect();
        let distinct = parties.iter().enumerate().all(|(i, p)| !p.is_empty() && !parties[..i].contains(p));
        if !(2..=total).contains(&threshold) || total > 16 || usize::from(total) != parties.len() || !distinct {
            return Err(bad());
        }
        Ok(Quorum { threshold, parties })
    }

    pub fn tag(&self) -> String {
        format!("threshold:{}-of-{}:{}", self.threshold, self.parties.len(), self.parties.join("/"))
    }

    /// The FROST identifier of `party` (1-based position), if it is one.
    pub fn index_of(&self, party: &str) -> Option<u16> {
        self.parties.iter().position(|p| p == party).and_then(|i| u16::try_from(i + 1).ok())
    }
}

/// Binds every message of one DKG or signing run to what it is about: the key, the operation, the
/// signers, the message's digest and a fresh nonce. Each party computes it itself from the request
/// and refuses a request whose session ID differs.
pub fn session_id(operation: &str, key_arn: &str, signers: &[String], message: &[u8], nonce: &[u8; 16]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in [b"trent/custody/session/v1".as_slice(), operation.as_bytes(), key_arn.as_bytes(), signers.join("/").as_bytes(), digest.as_ref(), nonce] {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    let mut id = [0u8; 32];
    id.copy_from_slice(context.finish().as_ref());
    id
}

/// A fresh random nonce for a session.
pub fn nonce() -> Result<[u8; 16], String> {
    let mut nonce = [0u8; 16];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| "no randomness".to_owned())?;
    Ok(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_tags_parse_and_print() {
        let quorum = Quorum::parse_tag("threshold:2-of-3:trent/alice/bob").unwrap();
        assert_eq!(quorum.threshold, 2);
        assert_eq!(quorum.index_of("alice"), Some(2));
        assert_eq!(quorum.tag(), "threshold:2-of-3:trent/alice/bob");
        for bad in ["threshold:1-of-2:a/b", "threshold:3-of-2:a/b", "threshold:2-of-2:a/a", "threshold:2-of-3:a/b", "2-of-2:a/b", "threshold:2-of-2:a/"] {
            assert!(Quorum::parse_tag(bad).is_err(), "{bad}");
        }
    }
}
