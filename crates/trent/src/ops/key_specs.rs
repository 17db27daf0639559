//! What AWS allows per key spec: usages, algorithms, plaintext and digest sizes. AWS semantics,
//! kept in one table-like place so CreateKey, DescribeKey and every key operation agree.

use trent_model::{
    EncryptionAlgorithmSpec as Enc, KeyAgreementAlgorithmSpec, KeySpec, KeyUsageType as Usage, MacAlgorithmSpec as Mac, MessageType,
    SigningAlgorithmSpec as Sig,
};

/// The algorithm lists DescribeKey and GetPublicKey return for a key; AWS omits empty ones.
pub struct AlgorithmLists {
    pub encryption: Option<Vec<Enc>>,
    pub signing: Option<Vec<Sig>>,
    pub mac: Option<Vec<Mac>>,
    pub key_agreement: Option<Vec<KeyAgreementAlgorithmSpec>>,
}

pub fn algorithm_lists(spec: KeySpec, usage: Usage) -> AlgorithmLists {
    fn non_empty<T: Clone>(list: &[T]) -> Option<Vec<T>> {
        (!list.is_empty()).then(|| list.to_vec())
    }
    AlgorithmLists {
        encryption: non_empty(encryption_algorithms(spec, usage)),
        signing: non_empty(signing_algorithms(spec, usage)),
        mac: non_empty(mac_algorithms(spec)),
        key_agreement: non_empty(key_agreement_algorithms(usage)),
    }
}

/// Whether key generation and private-key operations of `spec` take milliseconds or more (RSA's
/// do), so that they run apart from the request-serving threads ([`super::run_crypto`]).
pub fn is_slow(spec: KeySpec) -> bool {
    matches!(spec, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096)
}

pub fn allowed_usages(spec: KeySpec) -> &'static [Usage] {
    use KeySpec::*;
    match spec {
        SymmetricDefault => &[Usage::EncryptDecrypt],
        Rsa2048 | Rsa3072 | Rsa4096 => &[Usage::EncryptDecrypt, Usage::SignVerify],
        EccNistP256 | EccNistP384 | EccNistP521 => &[Usage::SignVerify, Usage::KeyAgreement],
        Sm2 => &[Usage::EncryptDecrypt, Usage::SignVerify, Usage::KeyAgreement],
        EccSecgP256k1 | EccNistEdwards25519 | EccEd448 | MlDsa44 | MlDsa65 | MlDsa87 => &[Usage::SignVerify],
        Hmac224 | Hmac256 | Hmac384 | Hmac512 => &[Usage::GenerateVerifyMac],
    }
}

/// Whether a key's material is a private key (PKCS#8) rather than secret bytes (symmetric, HMAC).
pub fn is_asymmetric(spec: KeySpec) -> bool {
    spec != KeySpec::SymmetricDefault && mac_algorithms(spec).is_empty()
}

pub fn encryption_algorithms(spec: KeySpec, usage: Usage) -> &'static [Enc] {
    if usage != Usage::EncryptDecrypt {
        return &[];
    }
    match spec {
        KeySpec::SymmetricDefault => &[Enc::SymmetricDefault],
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[Enc::RsaesOaepSha1, Enc::RsaesOaepSha256],
        KeySpec::Sm2 => &[Enc::Sm2pke],
        _ => &[],
    }
}

pub fn signing_algorithms(spec: KeySpec, usage: Usage) -> &'static [Sig] {
    use KeySpec::*;
    if usage != Usage::SignVerify {
        return &[];
    }
    match spec {
        Rsa2048 | Rsa3072 | Rsa4096 => {
            &[Sig::RsassaPkcs1V15Sha256, Sig::RsassaPkcs1V15Sha384, Sig::RsassaPkcs1V15Sha512, Sig::RsassaPssSha256, Sig::RsassaPssSha384, Sig::RsassaPssSha512]
        }
        EccNistP256 | EccSecgP256k1 => &[Sig::EcdsaSha256],
        EccNistP384 => &[Sig::EcdsaSha384],
        EccNistP521 => &[Sig::EcdsaSha512],
        EccNistEdwards25519 => &[Sig::Ed25519Sha512, Sig::Ed25519PhSha512],
        EccEd448 => &[Sig::Ed448],
        Sm2 => &[Sig::Sm2dsa],
        MlDsa44 | MlDsa65 | MlDsa87 => &[Sig::MlDsaShake256],
        _ => &[],
    }
}

pub fn mac_algorithms(spec: KeySpec) -> &'static [Mac] {
    match spec {
        KeySpec::Hmac224 => &[Mac::HmacSha224],
        KeySpec::Hmac256 => &[Mac::HmacSha256],
        KeySpec::Hmac384 => &[Mac::HmacSha384],
        KeySpec::Hmac512 => &[Mac::HmacSha512],
        _ => &[],
    }
}

pub fn key_agreement_algorithms(usage: Usage) -> &'static [KeyAgreementAlgorithmSpec] {
    if usage == Usage::KeyAgreement {
        &[KeyAgreementAlgorithmSpec::Ecdh]
    } else {
        &[]
    }
}

/// The largest plaintext an asymmetric key can encrypt with `algorithm`, as AWS documents.
pub fn max_plaintext(spec: KeySpec, algorithm: Enc) -> usize {
    let modulus_bytes = match spec {
        KeySpec::Rsa2048 => 256,
        KeySpec::Rsa3072 => 384,
        KeySpec::Rsa4096 => 512,
        KeySpec::Sm2 => return 1024,
        _ => return 4096,
    };
    // OAEP overhead is 2 * hash length + 2.
    let hash_len = if algorithm == Enc::RsaesOaepSha1 { 20 } else { 32 };
    modulus_bytes - 2 * hash_len - 2
}

/// Checks the message type against the algorithm and, for digests and μ, the length.
pub fn check_message(spec: KeySpec, algorithm: Sig, message_type: MessageType, message: &[u8]) -> Result<(), String> {
    use MessageType::*;
    let allowed: &[MessageType] = match algorithm {
        Sig::MlDsaShake256 => &[Raw, ExternalMu],
        Sig::Ed25519PhSha512 => &[Digest],
        Sig::Ed25519Sha512 | Sig::Ed448 => &[Raw],
        _ => &[Raw, Digest],
    };
    if !allowed.contains(&message_type) {
        return Err(if algorithm == Sig::MlDsaShake256 {
            format!("Message type {message_type} is incompatible with key spec {spec}.")
        } else {
            format!("Message type {message_type} is incompatible with signing algorithm {algorithm}.")
        });
    }
    let expected = match algorithm {
        _ if message_type == Raw => return Ok(()),
        Sig::MlDsaShake256 | Sig::Ed25519PhSha512 => 64,
        Sig::RsassaPssSha384 | Sig::RsassaPkcs1V15Sha384 | Sig::EcdsaSha384 => 48,
        Sig::RsassaPssSha512 | Sig::RsassaPkcs1V15Sha512 | Sig::EcdsaSha512 => 64,
        _ => 32,
    };
    if message.len() != expected {
        let what = if message_type == ExternalMu { "External mu" } else { "Digest" };
        return Err(format!("{what} is invalid length for algorithm {algorithm}."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_types() {
        let ok = |spec, alg, mt, len: usize| check_message(spec, alg, mt, &vec![0; len]).is_ok();
        assert!(ok(KeySpec::EccNistP256, Sig::EcdsaSha256, MessageType::Raw, 5000));
        assert!(ok(KeySpec::EccNistP256, Sig::EcdsaSha256, MessageType::Digest, 32));
        assert!(!ok(KeySpec::EccNistP256, Sig::EcdsaSha256, MessageType::Digest, 31));
        assert!(!ok(KeySpec::EccNistP256, Sig::EcdsaSha256, MessageType::ExternalMu, 64));
        assert!(ok(KeySpec::EccNistEdwards25519, Sig::Ed25519Sha512, MessageType::Raw, 3));
        assert!(!ok(KeySpec::EccNistEdwards25519, Sig::Ed25519Sha512, MessageType::Digest, 64));
        assert!(!ok(KeySpec::EccNistEdwards25519, Sig::Ed25519PhSha512, MessageType::Raw, 64));
        assert!(ok(KeySpec::EccNistEdwards25519, Sig::Ed25519PhSha512, MessageType::Digest, 64));
        assert!(ok(KeySpec::MlDsa44, Sig::MlDsaShake256, MessageType::Raw, 10));
        assert!(ok(KeySpec::MlDsa44, Sig::MlDsaShake256, MessageType::ExternalMu, 64));
        assert!(!ok(KeySpec::MlDsa44, Sig::MlDsaShake256, MessageType::ExternalMu, 32));
        assert_eq!(
            check_message(KeySpec::MlDsa44, Sig::MlDsaShake256, MessageType::Digest, &[0; 64]),
            Err("Message type DIGEST is incompatible with key spec ML_DSA_44.".into())
        );
        assert_eq!(max_plaintext(KeySpec::Rsa2048, Enc::RsaesOaepSha256), 190);
        assert_eq!(max_plaintext(KeySpec::Rsa4096, Enc::RsaesOaepSha1), 470);
    }
}
