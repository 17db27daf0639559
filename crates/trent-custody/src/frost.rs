//! FROST's steps as functions of bytes, for either scheme: the parties and the coordinator pass
//! the packages as bytes anyway. Secret state between two steps of one party stays a typed value
//! in memory ([`Secret`]), never serialized.

use crate::{Scheme, Secret};
use frost_core::keys::{dkg, KeyPackage, PublicKeyPackage};
use frost_core::{round1, round2, Ciphersuite, Identifier, SigningPackage};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// Round-2 packages by recipient: secret until sealed for it.
pub type Outgoing = BTreeMap<u16, Zeroizing<Vec<u8>>>;

/// Runs the generic function `$f` for the scheme's ciphersuite.
macro_rules! for_scheme {
    ($scheme:expr, $f:ident($($arg:expr),*)) => {
        match $scheme {
            Scheme::FrostEd25519 => $f::<frost_ed25519::Ed25519Sha512>($($arg),*),
            Scheme::FrostEd448 => $f::<frost_ed448::Ed448Shake256>($($arg),*),
            Scheme::Dkls23Secp256k1 | Scheme::Dkls23P256 => Err(format!("{:?} is not a FROST scheme", $scheme)),
        }
    };
}

fn fail(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn id<C: Ciphersuite>(index: u16) -> Result<Identifier<C>, String> {
    Identifier::try_from(index).map_err(fail)
}

fn packages<C: Ciphersuite, T>(
    bytes: &BTreeMap<u16, Vec<u8>>,
    parse: impl Fn(&[u8]) -> Result<T, frost_core::Error<C>>,
) -> Result<BTreeMap<Identifier<C>, T>, String> {
    bytes.iter().map(|(index, bytes)| Ok((id::<C>(*index)?, parse(bytes).map_err(fail)?))).collect()
}

/// DKG round 1: this party's secret polynomial and its public commitment (broadcast).
pub fn dkg_part1(scheme: Scheme, me: u16, parties: u16, threshold: u16) -> Result<(Secret, Vec<u8>), String> {
    for_scheme!(scheme, dkg_part1_of(me, parties, threshold))
}

fn dkg_part1_of<C: Ciphersuite + 'static>(me: u16, parties: u16, threshold: u16) -> Result<(Secret, Vec<u8>), String> {
    let (secret, package) = dkg::part1::<C, _>(id(me)?, parties, threshold, rand_core::OsRng).map_err(fail)?;
    Ok((Secret::new(secret), package.serialize().map_err(fail)?))
}

/// DKG round 2: from the others' round-1 packages, one secret package for each other party.
pub fn dkg_part2(scheme: Scheme, secret: Secret, round1: &BTreeMap<u16, Vec<u8>>) -> Result<(Secret, Outgoing), String> {
    for_scheme!(scheme, dkg_part2_of(secret, round1))
}

fn dkg_part2_of<C: Ciphersuite + 'static>(secret: Secret, round1: &BTreeMap<u16, Vec<u8>>) -> Result<(Secret, Outgoing), String> {
    let index_of: BTreeMap<Identifier<C>, u16> = round1.keys().map(|i| Ok((id::<C>(*i)?, *i))).collect::<Result<_, String>>()?;
    let round1 = packages::<C, _>(round1, dkg::round1::Package::deserialize)?;
    let (secret, outgoing) = dkg::part2(secret.take::<dkg::round1::SecretPackage<C>>()?, &round1).map_err(fail)?;
    let mut packages = BTreeMap::new();
    for (to, package) in outgoing {
        let index = *index_of.get(&to).ok_or("a package for an unknown party")?;
        packages.insert(index, Zeroizing::new(package.serialize().map_err(fail)?));
    }
    Ok((Secret::new(secret), packages))
}

/// DKG round 3: this party's key share and the group's public key package.
pub fn dkg_part3(
    scheme: Scheme,
    secret: &Secret,
    round1: &BTreeMap<u16, Vec<u8>>,
    round2: &BTreeMap<u16, Vec<u8>>,
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), String> {
    for_scheme!(scheme, dkg_part3_of(secret, round1, round2))
}

fn dkg_part3_of<C: Ciphersuite + 'static>(
    secret: &Secret,
    round1: &BTreeMap<u16, Vec<u8>>,
    round2: &BTreeMap<u16, Vec<u8>>,
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), String> {
    let round1 = packages::<C, _>(round1, dkg::round1::Package::deserialize)?;
    let round2 = packages::<C, _>(round2, dkg::round2::Package::deserialize)?;
    let (key_package, public) = dkg::part3(secret.peek::<dkg::round2::SecretPackage<C>>()?, &round1, &round2).map_err(fail)?;
    Ok((Zeroizing::new(key_package.serialize().map_err(fail)?), public.serialize().map_err(fail)?))
}

/// Signing round 1: nonces (kept) and their commitments (sent).
pub fn commit(scheme: Scheme, key_package: &[u8]) -> Result<(Secret, Vec<u8>), String> {
    for_scheme!(scheme, commit_of(key_package))
}

fn commit_of<C: Ciphersuite + 'static>(key_package: &[u8]) -> Result<(Secret, Vec<u8>), String> {
    let key_package = KeyPackage::<C>::deserialize(key_package).map_err(fail)?;
    let (nonces, commitments) = round1::commit(key_package.signing_share(), &mut rand_core::OsRng);
    Ok((Secret::new(nonces), commitments.serialize().map_err(fail)?))
}

/// The coordinator's signing package: every signer's commitments and the message.
pub fn signing_package(scheme: Scheme, commitments: &BTreeMap<u16, Vec<u8>>, message: &[u8]) -> Result<Vec<u8>, String> {
    for_scheme!(scheme, signing_package_of(commitments, message))
}

fn signing_package_of<C: Ciphersuite + 'static>(commitments: &BTreeMap<u16, Vec<u8>>, message: &[u8]) -> Result<Vec<u8>, String> {
    let commitments = packages::<C, _>(commitments, round1::SigningCommitments::deserialize)?;
    SigningPackage::new(commitments, message).serialize().map_err(fail)
}

/// Signing round 2: this party's signature share, if the package is for `message` and carries
/// `commitments` as this party's. The nonces are consumed: they sign once.
pub fn sign(scheme: Scheme, package: &[u8], message: &[u8], me: u16, commitments: &[u8], nonces: Secret, key_package: &[u8]) -> Result<Vec<u8>, String> {
    for_scheme!(scheme, sign_of(package, message, me, commitments, nonces, key_package))
}

fn sign_of<C: Ciphersuite + 'static>(
    package: &[u8],
    message: &[u8],
    me: u16,
    commitments: &[u8],
    nonces: Secret,
    key_package: &[u8],
) -> Result<Vec<u8>, String> {
    let package = SigningPackage::<C>::deserialize(package).map_err(fail)?;
    if package.message().as_slice() != message {
        return Err("the signing package is for another message".into());
    }
    let mine = round1::SigningCommitments::<C>::deserialize(commitments).map_err(fail)?;
    if package.signing_commitment(&id::<C>(me)?) != Some(mine) {
        return Err("the signing package does not carry this party's commitments".into());
    }
    let key_package = KeyPackage::<C>::deserialize(key_package).map_err(fail)?;
    let share = round2::sign(&package, &nonces.take::<round1::SigningNonces<C>>()?, &key_package).map_err(fail)?;
    Ok(share.serialize())
}

/// The signature from the signers' shares, checked against the group's key.
pub fn aggregate(scheme: Scheme, package: &[u8], shares: &BTreeMap<u16, Vec<u8>>, public_key_package: &[u8]) -> Result<Vec<u8>, String> {
    for_scheme!(scheme, aggregate_of(package, shares, public_key_package))
}

fn aggregate_of<C: Ciphersuite + 'static>(package: &[u8], shares: &BTreeMap<u16, Vec<u8>>, public_key_package: &[u8]) -> Result<Vec<u8>, String> {
    let package = SigningPackage::<C>::deserialize(package).map_err(fail)?;
    let shares = packages::<C, _>(shares, round2::SignatureShare::deserialize)?;
    let public = PublicKeyPackage::<C>::deserialize(public_key_package).map_err(fail)?;
    let signature = frost_core::aggregate(&package, &shares, &public).map_err(fail)?;
    signature.serialize().map_err(fail)
}

/// The group's public key, as RFC 8032 encodes it (32 bytes for Ed25519, 57 for Ed448).
pub fn group_key(scheme: Scheme, public_key_package: &[u8]) -> Result<Vec<u8>, String> {
    for_scheme!(scheme, group_key_of(public_key_package))
}

fn group_key_of<C: Ciphersuite + 'static>(public_key_package: &[u8]) -> Result<Vec<u8>, String> {
    PublicKeyPackage::<C>::deserialize(public_key_package).map_err(fail)?.verifying_key().serialize().map_err(fail)
}

/// A party's share as a key package says: its identifier, its share's public image (share·G) and
/// the group key. For checks that a share is what it claims, never for signing.
pub fn describe_share(scheme: Scheme, key_package: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    for_scheme!(scheme, describe_share_of(key_package))
}

fn describe_share_of<C: Ciphersuite + 'static>(key_package: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let key_package = KeyPackage::<C>::deserialize(key_package).map_err(fail)?;
    Ok((key_package.verifying_share().serialize().map_err(fail)?, key_package.verifying_key().serialize().map_err(fail)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three parties run the DKG in memory, then two of them sign; the signature verifies as a
    /// plain Ed25519 signature under the group key.
    #[test]
    fn two_of_three_generate_and_sign() {
        for scheme in [Scheme::FrostEd25519, Scheme::FrostEd448] {
            let mut secrets = BTreeMap::new();
            let mut round1 = BTreeMap::new();
            for me in 1..=3u16 {
                let (secret, package) = dkg_part1(scheme, me, 3, 2).unwrap();
                secrets.insert(me, secret);
                round1.insert(me, package);
            }
            let others = |me: u16| round1.iter().filter(|(i, _)| **i != me).map(|(i, p)| (*i, p.clone())).collect::<BTreeMap<_, _>>();
            let mut round2_secrets = BTreeMap::new();
            let mut inbox: BTreeMap<u16, BTreeMap<u16, Vec<u8>>> = BTreeMap::new();
            for me in 1..=3u16 {
                let (secret, outgoing) = dkg_part2(scheme, secrets.remove(&me).unwrap(), &others(me)).unwrap();
                round2_secrets.insert(me, secret);
                for (to, package) in outgoing {
                    inbox.entry(to).or_default().insert(me, package.to_vec());
                }
            }
            let mut key_packages = BTreeMap::new();
            let mut public = Vec::new();
            for me in 1..=3u16 {
                let (key_package, public_package) = dkg_part3(scheme, &round2_secrets[&me], &others(me), &inbox[&me]).unwrap();
                key_packages.insert(me, key_package);
                public = public_package;
            }
            let message = b"threshold";
            let mut nonces = BTreeMap::new();
            let mut commitments = BTreeMap::new();
            for me in [1u16, 3] {
                let (n, c) = commit(scheme, &key_packages[&me]).unwrap();
                nonces.insert(me, n);
                commitments.insert(me, c);
            }
            let package = signing_package(scheme, &commitments, message).unwrap();
            let mut shares = BTreeMap::new();
            for me in [1u16, 3] {
                let share = sign(scheme, &package, message, me, &commitments[&me], nonces.remove(&me).unwrap(), &key_packages[&me]).unwrap();
                shares.insert(me, share);
            }
            let signature = aggregate(scheme, &package, &shares, &public).unwrap();
            let group = group_key(scheme, &public).unwrap();
            if scheme == Scheme::FrostEd25519 {
                let key = aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, &group);
                key.verify(message, &signature).expect("a plain Ed25519 signature");
            }
            assert_eq!(signature.len(), if scheme == Scheme::FrostEd25519 { 64 } else { 114 });
            assert!(sign(scheme, &package, b"other", 1, &commitments[&1], commit(scheme, &key_packages[&1]).unwrap().0, &key_packages[&1]).is_err());
        }
    }
}
