//! Threshold ECDSA: DKLs23 (Doerner, Kondi, Lee, shelat 2023) over secp256k1 and P-256, by the
//! `dkls23` crate — **experimental**: that crate is unaudited. These functions are the whole
//! interface the rest of Trent sees (bytes in, bytes out, a party's state between steps a typed
//! [`Secret`] in memory), so an audited implementation can replace this module alone.
//!
//! Every step of a party takes what the others broadcast and what they sent it alone, and gives
//! its own broadcast and one message per other party. Those messages carry secrets (polynomial
//! fragments, zero-share seeds, oblivious-transfer and multiplication data): the caller seals
//! each for its recipient.
//!
//! Key generation: [`dkg_start`], [`dkg_fragments`] (phase 1), [`dkg_commit`] (phases 2 and 3),
//! [`dkg_finish`] (phase 4). Signing: [`sign_start`] (phase 1), [`sign_multiply`] (phase 2),
//! [`sign_reveal`] (phase 3); the coordinator makes the signature from the reveals ([`signature`]).

use crate::{Scheme, Secret};
use dkls23::protocols::dkg::{
    BroadcastDerivationPhase2to4, BroadcastDerivationPhase3to4, ProofCommitment, TransmitInitMulPhase3to4, TransmitInitZeroSharePhase2to4,
    TransmitInitZeroSharePhase3to4,
};
use dkls23::protocols::signing::{
    verify_ecdsa_signature, Broadcast3to4, KeepPhase1to2, KeepPhase2to3, SignData, TransmitPhase1to2, TransmitPhase2to3, UniqueKeep1to2, UniqueKeep2to3,
};
use dkls23::protocols::{Abort, Parameters, PartiesMessage, Party, PartyIndex, PublicKeyPackage};
use dkls23::DkgSession;
use k256::elliptic_curve::ff::{Field, PrimeField};
use k256::elliptic_curve::scalar::IsHigh;
use k256::elliptic_curve::sec1::ToSec1Point;
use k256::elliptic_curve::CurveArithmetic;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use zeroize::{Zeroize, Zeroizing};

/// Messages by recipient: secret until sealed for it.
pub type Outgoing = BTreeMap<u16, Zeroizing<Vec<u8>>>;

/// What the steps need of a curve beyond DKLs23's own bounds: serializable points and scalars,
/// and SEC1 encoding of the group key.
trait Curve: dkls23::curve::DklsCurve + CurveArithmetic<Scalar: Serialize + DeserializeOwned + Zeroize, AffinePoint: Serialize + DeserializeOwned> {
    /// SEC1, uncompressed.
    fn sec1(point: &Self::AffinePoint) -> Vec<u8>;
}

impl Curve for k256::Secp256k1 {
    fn sec1(point: &k256::AffinePoint) -> Vec<u8> {
        point.to_sec1_point(false).as_bytes().to_vec()
    }
}

impl Curve for p256::NistP256 {
    fn sec1(point: &p256::AffinePoint) -> Vec<u8> {
        point.to_sec1_point(false).as_bytes().to_vec()
    }
}

/// Runs the generic function `$f` for the scheme's curve.
macro_rules! for_curve {
    ($scheme:expr, $f:ident($($arg:expr),*)) => {
        match $scheme {
            Scheme::Dkls23Secp256k1 => $f::<k256::Secp256k1>($($arg),*),
            Scheme::Dkls23P256 => $f::<p256::NistP256>($($arg),*),
            Scheme::FrostEd25519 | Scheme::FrostEd448 => Err(format!("{:?} is not a DKLs23 scheme", $scheme)),
        }
    };
}

fn aborted(abort: Abort) -> String {
    format!("DKLs23 aborted: {}", abort.description())
}

fn encode(value: &impl Serialize) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(value).map_err(|e| e.to_string())
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("a malformed DKLs23 message: {e}"))
}

fn index(party: u16) -> Result<PartyIndex, String> {
    u8::try_from(party).ok().and_then(|i| PartyIndex::new(i).ok()).ok_or_else(|| format!("no party index {party}"))
}

/// A point-to-point message must say it is from the party it came from, to this one.
fn routed(parties: &PartiesMessage, from: u16, me: u16) -> Result<(), String> {
    if parties.sender != index(from)? || parties.receiver != index(me)? {
        return Err(format!("a message from party {from} names another sender or recipient"));
    }
    Ok(())
}

/// Messages received, decoded, each checked to be from its sender to this party.
fn received<T: DeserializeOwned>(messages: &BTreeMap<u16, Vec<u8>>, me: u16, parties: fn(&T) -> &PartiesMessage) -> Result<Vec<T>, String> {
    messages
        .iter()
        .map(|(from, bytes)| {
            let message: T = decode(bytes)?;
            routed(parties(&message), *from, me)?;
            Ok(message)
        })
        .collect()
}

/// Outgoing messages by recipient, encoded.
fn outgoing<T: Serialize>(messages: impl IntoIterator<Item = (PartyIndex, T)>) -> Result<Outgoing, String> {
    messages.into_iter().map(|(to, message)| Ok((u16::from(to.as_u8()), Zeroizing::new(encode(&message)?)))).collect()
}

struct DkgStarted<C: Curve> {
    me: u16,
    session: DkgSession<C>,
}

struct DkgFragmented<C: Curve> {
    me: u16,
    session: DkgSession<C>,
    own_fragment: Zeroizing<C::Scalar>,
}

struct DkgCommitted<C: Curve> {
    me: u16,
    session: DkgSession<C>,
}

/// Key generation begins: this party's session, bound to `session_id` (which every party computed).
pub fn dkg_start(scheme: Scheme, me: u16, parties: u16, threshold: u16, session_id: &[u8]) -> Result<Secret, String> {
    for_curve!(scheme, dkg_start_of(me, parties, threshold, session_id))
}

fn dkg_start_of<C: Curve>(me: u16, parties: u16, threshold: u16, session_id: &[u8]) -> Result<Secret, String> {
    let count = |n: u16| u8::try_from(n).map_err(|_| "too many parties".to_owned());
    let parameters = Parameters::new(count(threshold)?, count(parties)?).map_err(|e| e.to_string())?;
    Ok(Secret::new(DkgStarted { me, session: DkgSession::<C>::new(parameters, index(me)?, session_id.to_vec()) }))
}

/// Phase 1: this party's secret polynomial, one fragment for each other party.
pub fn dkg_fragments(scheme: Scheme, secret: Secret) -> Result<(Secret, Outgoing), String> {
    for_curve!(scheme, dkg_fragments_of(secret))
}

fn dkg_fragments_of<C: Curve>(secret: Secret) -> Result<(Secret, Outgoing), String> {
    let DkgStarted { me, session } = secret.take::<DkgStarted<C>>()?;
    let mut fragments = Zeroizing::new(session.phase1());
    let own_index = usize::from(me).checked_sub(1).ok_or("no party 0")?;
    let own_fragment = Zeroizing::new(*fragments.get(own_index).ok_or("no fragment for this party")?);
    let mut others = Outgoing::new();
    for (i, fragment) in fragments.iter_mut().enumerate() {
        let to = u16::try_from(i + 1).map_err(|_| "too many parties")?;
        if to != me {
            others.insert(to, Zeroizing::new(encode(&*fragment)?));
        }
    }
    Ok((Secret::new(DkgFragmented { me, session, own_fragment }), others))
}

/// Phases 2 and 3: from the others' fragments, this party's broadcast (its proof commitment and
/// chain-code commitments) and its zero-share and multiplication set-up for each other party.
pub fn dkg_commit(scheme: Scheme, secret: Secret, fragments: &BTreeMap<u16, Vec<u8>>) -> Result<(Secret, Vec<u8>, Outgoing), String> {
    for_curve!(scheme, dkg_commit_of(secret, fragments))
}

fn dkg_commit_of<C: Curve>(secret: Secret, fragments: &BTreeMap<u16, Vec<u8>>) -> Result<(Secret, Vec<u8>, Outgoing), String> {
    let DkgFragmented { me, mut session, own_fragment } = secret.take::<DkgFragmented<C>>()?;
    let mut received = Zeroizing::new(vec![*own_fragment]);
    for bytes in fragments.values() {
        received.push(decode::<C::Scalar>(bytes)?);
    }
    let (proof, zero2, chain2) = session.phase2(&received).map_err(aborted)?;
    let (zero3, mul3, chain3) = session.phase3().map_err(aborted)?;
    let broadcast = encode(&(proof, chain2, chain3))?;
    let mut messages = BTreeMap::new();
    for zero2 in zero2 {
        let zero3 = zero3.iter().find(|z| z.parties.receiver == zero2.parties.receiver).ok_or("a phase-3 message missing")?;
        let mul3 = mul3.iter().find(|m| m.parties.receiver == zero2.parties.receiver).ok_or("a phase-3 message missing")?;
        messages.insert(zero2.parties.receiver, (zero2.clone(), zero3.clone(), mul3.clone()));
    }
    Ok((Secret::new(DkgCommitted { me, session }), broadcast, outgoing(messages)?))
}

type DkgBroadcast<C> = (ProofCommitment<C>, BroadcastDerivationPhase2to4, BroadcastDerivationPhase3to4);
type DkgMessage<C> = (TransmitInitZeroSharePhase2to4, TransmitInitZeroSharePhase3to4, TransmitInitMulPhase3to4<C>);

/// Phase 4: from every party's broadcast (this one's included) and the messages sent to this
/// party, its key share and the group's public key package.
pub fn dkg_finish(
    scheme: Scheme,
    secret: Secret,
    broadcasts: &BTreeMap<u16, Vec<u8>>,
    messages: &BTreeMap<u16, Vec<u8>>,
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), String> {
    for_curve!(scheme, dkg_finish_of(secret, broadcasts, messages))
}

fn dkg_finish_of<C: Curve>(
    secret: Secret,
    broadcasts: &BTreeMap<u16, Vec<u8>>,
    messages: &BTreeMap<u16, Vec<u8>>,
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), String> {
    let DkgCommitted { me, session } = secret.take::<DkgCommitted<C>>()?;
    let (mut proofs, mut chain2, mut chain3) = (Vec::new(), BTreeMap::new(), BTreeMap::new());
    for (from, bytes) in broadcasts {
        let (proof, c2, c3): DkgBroadcast<C> = decode(bytes)?;
        if proof.index != index(*from)? || c2.sender_index != proof.index || c3.sender_index != proof.index {
            return Err(format!("the broadcast of party {from} names another party"));
        }
        proofs.push(proof);
        chain2.insert(c2.sender_index, c2);
        chain3.insert(c3.sender_index, c3);
    }
    let (mut zero2, mut zero3, mut mul3) = (Vec::new(), Vec::new(), Vec::new());
    for (from, bytes) in messages {
        let (z2, z3, m3): DkgMessage<C> = decode(bytes)?;
        for parties in [&z2.parties, &z3.parties, &m3.parties] {
            routed(parties, *from, me)?;
        }
        zero2.push(z2);
        zero3.push(z3);
        mul3.push(m3);
    }
    let (party, public) = session.phase4(&proofs, &zero2, &zero3, &mul3, &chain2, &chain3, |_| String::new()).map_err(aborted)?;
    Ok((Zeroizing::new(encode(&party)?), encode(&public)?))
}

struct Signing<C: Curve> {
    me: u16,
    party: Party<C>,
    data: SignData,
    unique: UniqueKeep1to2<C>,
    kept: BTreeMap<PartyIndex, KeepPhase1to2<C>>,
}

struct SigningMultiplied<C: Curve> {
    me: u16,
    party: Party<C>,
    data: SignData,
    unique: UniqueKeep2to3<C>,
    kept: BTreeMap<PartyIndex, KeepPhase2to3<C>>,
}

/// Signing phase 1, with this party's share, for the 32-byte hash `message_hash` among `signers`
/// (this party's index among them), bound to `sign_id`: a message for each other signer.
pub fn sign_start(scheme: Scheme, share: &[u8], sign_id: &[u8], signers: &[u16], message_hash: &[u8]) -> Result<(Secret, Outgoing), String> {
    for_curve!(scheme, sign_start_of(share, sign_id, signers, message_hash))
}

fn sign_start_of<C: Curve>(share: &[u8], sign_id: &[u8], signers: &[u16], message_hash: &[u8]) -> Result<(Secret, Outgoing), String> {
    let party: Party<C> = decode(share)?;
    let me = u16::from(party.party_index.as_u8());
    let message_hash = message_hash.try_into().map_err(|_| "DKLs23 signs a 32-byte hash")?;
    let counterparties = signers.iter().filter(|i| **i != me).map(|i| index(*i)).collect::<Result<_, _>>()?;
    let data = SignData { sign_id: sign_id.to_vec(), counterparties, message_hash };
    let (unique, kept, transmit) = party.sign_phase1(&data).map_err(aborted)?;
    let messages = outgoing(transmit.into_iter().map(|m| (m.parties.receiver, m)))?;
    Ok((Secret::new(Signing { me, party, data, unique, kept }), messages))
}

/// Signing phase 2: the multiplications with each other signer.
pub fn sign_multiply(scheme: Scheme, secret: Secret, messages: &BTreeMap<u16, Vec<u8>>) -> Result<(Secret, Outgoing), String> {
    for_curve!(scheme, sign_multiply_of(secret, messages))
}

fn sign_multiply_of<C: Curve>(secret: Secret, messages: &BTreeMap<u16, Vec<u8>>) -> Result<(Secret, Outgoing), String> {
    let Signing { me, party, data, unique, kept } = secret.take::<Signing<C>>()?;
    let received = received(messages, me, |m: &TransmitPhase1to2| &m.parties)?;
    let (unique, kept, transmit) = party.sign_phase2(&data, unique, kept, &received).map_err(aborted)?;
    let messages = outgoing(transmit.into_iter().map(|m| (m.parties.receiver, m)))?;
    Ok((Secret::new(SigningMultiplied { me, party, data, unique, kept }), messages))
}

/// Signing phase 3: this party's part of the signature (the signature's `r`, and its shares of
/// `s`'s numerator and denominator), a broadcast.
pub fn sign_reveal(scheme: Scheme, secret: Secret, messages: &BTreeMap<u16, Vec<u8>>) -> Result<Vec<u8>, String> {
    for_curve!(scheme, sign_reveal_of(secret, messages))
}

fn sign_reveal_of<C: Curve>(secret: Secret, messages: &BTreeMap<u16, Vec<u8>>) -> Result<Vec<u8>, String> {
    let SigningMultiplied { me, party, data, unique, kept } = secret.take::<SigningMultiplied<C>>()?;
    let received = received(messages, me, |m: &TransmitPhase2to3<C>| &m.parties)?;
    let (x_coordinate, reveal) = party.sign_phase3(&data, unique, kept, &received).map_err(aborted)?;
    encode(&(x_coordinate, reveal))
}

/// The coordinator's last step: the ECDSA signature (DER, low S) from every signer's reveal,
/// checked against the group key for `message_hash`.
pub fn signature(scheme: Scheme, reveals: &BTreeMap<u16, Vec<u8>>, message_hash: &[u8], public_key_package: &[u8]) -> Result<Vec<u8>, String> {
    for_curve!(scheme, signature_of(reveals, message_hash, public_key_package))
}

fn signature_of<C: Curve>(reveals: &BTreeMap<u16, Vec<u8>>, message_hash: &[u8], public_key_package: &[u8]) -> Result<Vec<u8>, String> {
    let public: PublicKeyPackage<C> = decode(public_key_package)?;
    let message_hash: [u8; 32] = message_hash.try_into().map_err(|_| "DKLs23 signs a 32-byte hash")?;
    let (mut r, mut numerator, mut denominator) = (None, C::Scalar::ZERO, C::Scalar::ZERO);
    for bytes in reveals.values() {
        let (x_coordinate, reveal): (String, Broadcast3to4<C>) = decode(bytes)?;
        if *r.get_or_insert_with(|| x_coordinate.clone()) != x_coordinate {
            return Err("the signers disagree on the signature's r".into());
        }
        numerator += reveal.w;
        denominator += reveal.u;
    }
    let r = r.ok_or("no signer")?;
    let s = numerator * Option::<C::Scalar>::from(denominator.invert()).ok_or("a zero denominator")?;
    let s = if bool::from(s.is_high()) { -s } else { s };
    let s = hex::encode(s.to_repr());
    if !verify_ecdsa_signature::<C>(&message_hash, public.verifying_key(), &r, &s) {
        return Err("the signature does not verify under the group key".into());
    }
    let (r, s) = (hex::decode(&r).map_err(|e| e.to_string())?, hex::decode(&s).map_err(|e| e.to_string())?);
    Ok(der_sequence(&[der_integer(&r), der_integer(&s)].concat()))
}

/// DER of an unsigned big-endian integer.
fn der_integer(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
    let digits = &bytes[first..];
    let pad = digits.first().is_some_and(|b| b & 0x80 != 0);
    // At most 33 bytes: a short-form length.
    let len = digits.len() as u8 + u8::from(pad);
    [&[0x02, len][..], if pad { &[0] } else { &[] }, digits].concat()
}

fn der_sequence(body: &[u8]) -> Vec<u8> {
    // Two integers of at most 35 bytes each: a short-form length.
    [&[0x30, body.len() as u8][..], body].concat()
}

/// The group's public key, SEC1 uncompressed (65 bytes).
pub fn group_key(scheme: Scheme, public_key_package: &[u8]) -> Result<Vec<u8>, String> {
    for_curve!(scheme, group_key_of(public_key_package))
}

fn group_key_of<C: Curve>(public_key_package: &[u8]) -> Result<Vec<u8>, String> {
    let public: PublicKeyPackage<C> = decode(public_key_package)?;
    Ok(C::sec1(public.verifying_key()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages by recipient, then by sender.
    type Inboxes = BTreeMap<u16, BTreeMap<u16, Vec<u8>>>;

    /// Runs the DKG among `n` parties in memory: their shares and the public key package.
    pub(crate) fn generate(scheme: Scheme, n: u16, t: u16) -> (BTreeMap<u16, Zeroizing<Vec<u8>>>, Vec<u8>) {
        let id = [7u8; 32];
        let mut secrets: BTreeMap<u16, Secret> = (1..=n).map(|me| (me, dkg_start(scheme, me, n, t, &id).unwrap())).collect();
        let mut inbox = Inboxes::new();
        for me in 1..=n {
            let (secret, out) = dkg_fragments(scheme, secrets.remove(&me).unwrap()).unwrap();
            secrets.insert(me, secret);
            for (to, m) in out {
                inbox.entry(to).or_default().insert(me, m.to_vec());
            }
        }
        let (mut broadcasts, mut inbox2) = (BTreeMap::new(), Inboxes::new());
        for me in 1..=n {
            let (secret, broadcast, out) = dkg_commit(scheme, secrets.remove(&me).unwrap(), &inbox[&me]).unwrap();
            secrets.insert(me, secret);
            broadcasts.insert(me, broadcast);
            for (to, m) in out {
                inbox2.entry(to).or_default().insert(me, m.to_vec());
            }
        }
        let mut shares = BTreeMap::new();
        let mut public = Vec::new();
        for me in 1..=n {
            let (share, p) = dkg_finish(scheme, secrets.remove(&me).unwrap(), &broadcasts, &inbox2[&me]).unwrap();
            shares.insert(me, share);
            public = p;
        }
        (shares, public)
    }

    /// Signs among `signers`: the DER signature.
    pub(crate) fn sign(scheme: Scheme, shares: &BTreeMap<u16, Zeroizing<Vec<u8>>>, signers: &[u16], hash: &[u8], public: &[u8]) -> Result<Vec<u8>, String> {
        let mut secrets = BTreeMap::new();
        let mut inbox = Inboxes::new();
        for me in signers {
            let (secret, out) = sign_start(scheme, &shares[me], b"sign", signers, hash)?;
            secrets.insert(*me, secret);
            for (to, m) in out {
                inbox.entry(to).or_default().insert(*me, m.to_vec());
            }
        }
        let mut inbox2 = Inboxes::new();
        for me in signers {
            let (secret, out) = sign_multiply(scheme, secrets.remove(me).unwrap(), &inbox[me])?;
            secrets.insert(*me, secret);
            for (to, m) in out {
                inbox2.entry(to).or_default().insert(*me, m.to_vec());
            }
        }
        let mut reveals = BTreeMap::new();
        for me in signers {
            reveals.insert(*me, sign_reveal(scheme, secrets.remove(me).unwrap(), &inbox2[me])?);
        }
        signature(scheme, &reveals, hash, public)
    }

    /// Three parties generate a key, two of them sign: an ECDSA signature that aws-lc verifies
    /// under the group key (P-256; secp256k1 is checked by OpenSSL in the API tests).
    #[test]
    fn two_of_three_generate_and_sign() {
        let (shares, public) = generate(Scheme::Dkls23P256, 3, 2);
        let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"threshold");
        let signature = sign(Scheme::Dkls23P256, &shares, &[1, 3], hash.as_ref(), &public).unwrap();
        let key = group_key(Scheme::Dkls23P256, &public).unwrap();
        let verifier = aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1, &key);
        verifier.verify(b"threshold", &signature).expect("an ECDSA P-256 signature");
        assert!(sign(Scheme::Dkls23P256, &shares, &[1, 2, 3], hash.as_ref(), &public).is_err(), "threshold signers, no more");
    }

    #[test]
    fn der_integers_are_minimal_and_positive() {
        assert_eq!(der_integer(&[0, 0, 0x7f]), [2, 1, 0x7f]);
        assert_eq!(der_integer(&[0, 0x80]), [2, 2, 0, 0x80]);
        assert_eq!(der_integer(&[0, 0]), [2, 1, 0]);
    }
}
