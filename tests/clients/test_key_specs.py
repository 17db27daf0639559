"""Every key spec through boto3 (and the AWS CLI), cross-checked with an independent implementation.

Trent signs, encrypts, derives and authenticates; Python `cryptography` (OpenSSL 4 underneath, not
Trent's aws-lc-rs / RustCrypto) checks every result it can: RSA PSS (salt = digest length) and
PKCS#1 v1.5, ECDSA on P-256/384/521 and secp256k1, Ed25519, ML-DSA (RAW and external mu), Ed448
(Trent extension), RSA OAEP ciphertexts made outside, ECDH, GenerateDataKeyPair private keys.
`cryptography` has no Ed25519ph and no SM2: those are checked with small pure-Python reference
implementations below (RFC 8032 verification equation; SM2 curve arithmetic), each of which first
checks itself against a known answer.

One server for the module, started from $TRENT_BIN (default target/release/trent).
"""

import base64
import hashlib
import os
import secrets
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa, padding, rsa, utils

from conftest import ACCOUNT, REGION, key_arn



def create(kms, spec, usage):
    return kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]


def public_key(kms, key_id):
    return serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])


def sign(kms, key_id, alg, message, message_type="RAW"):
    out = kms.sign(KeyId=key_id, Message=message, MessageType=message_type, SigningAlgorithm=alg)
    assert out["KeyId"] == key_arn(key_id)
    assert out["SigningAlgorithm"] == alg
    return out["Signature"]


def trent_verify(kms, key_id, alg, message, signature, message_type="RAW"):
    """True if Trent accepts the signature; False on KMSInvalidSignatureException."""
    try:
        out = kms.verify(
            KeyId=key_id, Message=message, MessageType=message_type, Signature=signature, SigningAlgorithm=alg
        )
    except ClientError as e:
        assert e.response["Error"]["Code"] == "KMSInvalidSignatureException", e.response
        return False
    assert out["SignatureValid"] is True
    assert out["SigningAlgorithm"] == alg
    return True


def error(excinfo):
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"].get("Message", "")


def flip(data, index=-1):
    b = bytearray(data)
    b[index] ^= 0x01
    return bytes(b)


# --- Metadata: the algorithm lists AWS documents per key spec and usage ------------------------

RSA_SIGNING = sorted(
    [
        "RSASSA_PKCS1_V1_5_SHA_256",
        "RSASSA_PKCS1_V1_5_SHA_384",
        "RSASSA_PKCS1_V1_5_SHA_512",
        "RSASSA_PSS_SHA_256",
        "RSASSA_PSS_SHA_384",
        "RSASSA_PSS_SHA_512",
    ]
)
PAIRS = [
    # (KeySpec, KeyUsage, list member, algorithms)
    ("RSA_2048", "ENCRYPT_DECRYPT", "EncryptionAlgorithms", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
    ("RSA_4096", "ENCRYPT_DECRYPT", "EncryptionAlgorithms", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
    ("RSA_3072", "SIGN_VERIFY", "SigningAlgorithms", RSA_SIGNING),
    ("ECC_NIST_P256", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
    ("ECC_NIST_P384", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_384"]),
    ("ECC_NIST_P521", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_512"]),
    ("ECC_NIST_P256", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"]),
    ("ECC_NIST_P521", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"]),
    ("ECC_SECG_P256K1", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
    ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "SigningAlgorithms", ["ED25519_PH_SHA_512", "ED25519_SHA_512"]),
    ("SM2", "SIGN_VERIFY", "SigningAlgorithms", ["SM2DSA"]),
    ("SM2", "ENCRYPT_DECRYPT", "EncryptionAlgorithms", ["SM2PKE"]),
    ("SM2", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"]),
    ("ML_DSA_44", "SIGN_VERIFY", "SigningAlgorithms", ["ML_DSA_SHAKE_256"]),
    ("ML_DSA_65", "SIGN_VERIFY", "SigningAlgorithms", ["ML_DSA_SHAKE_256"]),
    ("ML_DSA_87", "SIGN_VERIFY", "SigningAlgorithms", ["ML_DSA_SHAKE_256"]),
    ("HMAC_224", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_224"]),
    ("HMAC_256", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_256"]),
    ("HMAC_384", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_384"]),
    ("HMAC_512", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_512"]),
]
LISTS = ["EncryptionAlgorithms", "SigningAlgorithms", "MacAlgorithms", "KeyAgreementAlgorithms"]


@pytest.mark.parametrize("spec,usage,member,algorithms", PAIRS, ids=[f"{p[0]}-{p[1]}" for p in PAIRS])
def test_metadata_lists_exactly_the_aws_algorithms(kms, spec, usage, member, algorithms):
    meta = create(kms, spec, usage)
    described = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    for source, m in [("CreateKey", meta), ("DescribeKey", described)]:
        assert m["KeySpec"] == spec, source
        assert m["KeyUsage"] == usage, source
        assert sorted(m[member]) == sorted(algorithms), f"{source} {member}"
        for other in LISTS:
            if other != member:
                assert not m.get(other), f"{source}: {other} should be absent for {spec}/{usage}: {m.get(other)}"
    if usage != "GENERATE_VERIFY_MAC":
        got = kms.get_public_key(KeyId=meta["KeyId"])
        assert got["KeyId"] == key_arn(meta["KeyId"])
        assert got["KeySpec"] == spec and got["KeyUsage"] == usage
        assert sorted(got[member]) == sorted(algorithms)
        for other in ["EncryptionAlgorithms", "SigningAlgorithms", "KeyAgreementAlgorithms"]:
            if other != member:
                assert not got.get(other), f"GetPublicKey: {other} should be absent: {got.get(other)}"
        if not spec.startswith("SM2"):  # cryptography does not parse SM2 keys; Rust checks them with OpenSSL
            serialization.load_der_public_key(got["PublicKey"])


@pytest.mark.parametrize(
    "spec,usage",
    [("RSA_2048", "KEY_AGREEMENT"), ("ECC_SECG_P256K1", "KEY_AGREEMENT"), ("ECC_NIST_EDWARDS25519", "ENCRYPT_DECRYPT")],
)
def test_incompatible_usage_is_rejected(kms, spec, usage):
    with pytest.raises(ClientError) as excinfo:
        kms.create_key(KeySpec=spec, KeyUsage=usage)
    assert error(excinfo) == ("ValidationException", f"KeyUsage {usage} is not compatible with KeySpec {spec}")


def test_asymmetric_key_without_usage_is_rejected(kms):
    with pytest.raises(ClientError) as excinfo:
        kms.create_key(KeySpec="ECC_NIST_P256")
    assert error(excinfo) == (
        "ValidationException",
        "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
    )


# --- Signatures verified with cryptography ------------------------------------------------------

HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}

SIGNING = [
    ("RSA_2048", "RSASSA_PSS_SHA_256"),
    ("RSA_2048", "RSASSA_PSS_SHA_384"),
    ("RSA_2048", "RSASSA_PSS_SHA_512"),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256"),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384"),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512"),
    ("RSA_3072", "RSASSA_PSS_SHA_256"),
    ("RSA_3072", "RSASSA_PKCS1_V1_5_SHA_384"),
    ("RSA_4096", "RSASSA_PSS_SHA_512"),
    ("RSA_4096", "RSASSA_PKCS1_V1_5_SHA_256"),
    ("ECC_NIST_P256", "ECDSA_SHA_256"),
    ("ECC_NIST_P384", "ECDSA_SHA_384"),
    ("ECC_NIST_P521", "ECDSA_SHA_512"),
    ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
]


def independent_verify(pub, alg, message, signature, prehashed=False):
    """Raises InvalidSignature unless `signature` is valid; `message` is a digest if prehashed."""
    h = HASHES[alg[-3:]]()
    data_alg = utils.Prehashed(h) if prehashed else h
    if alg.startswith("RSASSA_PSS"):
        assert isinstance(pub, rsa.RSAPublicKey)
        pub.verify(signature, message, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), data_alg)
    elif alg.startswith("RSASSA_PKCS1"):
        assert isinstance(pub, rsa.RSAPublicKey)
        pub.verify(signature, message, padding.PKCS1v15(), data_alg)
    else:
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        pub.verify(signature, message, ec.ECDSA(data_alg))


@pytest.fixture(scope="module")
def signing_keys(kms):
    cache = {}

    def get(spec):
        if spec not in cache:
            key_id = create(kms, spec, "SIGN_VERIFY")["KeyId"]
            cache[spec] = (key_id, public_key(kms, key_id))
        return cache[spec]

    return get


CURVES = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}


@pytest.mark.parametrize("spec,alg", SIGNING, ids=[f"{s}-{a}" for s, a in SIGNING])
def test_signatures_verify_with_cryptography(kms, signing_keys, spec, alg):
    key_id, pub = signing_keys(spec)
    if spec in CURVES:
        assert isinstance(pub.curve, CURVES[spec]), pub.curve.name
    else:
        assert pub.key_size == int(spec[4:])
    message = b"independently verified " + spec.encode() + alg.encode()
    h = hashlib.new("sha" + alg[-3:])
    h.update(message)
    digest = h.digest()

    raw = sign(kms, key_id, alg, message)
    from_digest = sign(kms, key_id, alg, digest, "DIGEST")
    for sig in (raw, from_digest):
        independent_verify(pub, alg, message, sig)
        independent_verify(pub, alg, digest, sig, prehashed=True)
        assert trent_verify(kms, key_id, alg, message, sig)
        assert trent_verify(kms, key_id, alg, digest, sig, "DIGEST")

    # Tampered: cryptography and Trent both reject.
    bad = flip(raw, len(raw) // 2)
    with pytest.raises(InvalidSignature):
        independent_verify(pub, alg, message, bad)
    assert not trent_verify(kms, key_id, alg, message, bad)
    assert not trent_verify(kms, key_id, alg, message + b"!", raw)

    # A digest of the wrong length.
    with pytest.raises(ClientError) as excinfo:
        kms.sign(KeyId=key_id, Message=digest[:-1], MessageType="DIGEST", SigningAlgorithm=alg)
    assert error(excinfo) == ("ValidationException", f"Digest is invalid length for algorithm {alg}.")


def test_rsa_pss_salt_is_the_digest_length(kms, signing_keys):
    key_id, pub = signing_keys("RSA_2048")
    sig = sign(kms, key_id, "RSASSA_PSS_SHA_256", b"salt")
    pub.verify(sig, b"salt", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        pub.verify(sig, b"salt", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=20), hashes.SHA256())
    # PSS is randomized: two signatures differ, both verify.
    assert sign(kms, key_id, "RSASSA_PSS_SHA_256", b"salt") != sig


def test_message_limit_is_4096_bytes(kms, signing_keys):
    key_id, pub = signing_keys("ECC_NIST_P256")
    big = os.urandom(4096)
    pub.verify(sign(kms, key_id, "ECDSA_SHA_256", big), big, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(ClientError) as excinfo:
        kms.sign(KeyId=key_id, Message=big + b"x", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    assert error(excinfo)[0] == "ValidationException"


def test_wrong_algorithm_and_wrong_usage(kms, signing_keys):
    key_id, _ = signing_keys("ECC_NIST_P256")
    with pytest.raises(ClientError) as excinfo:
        kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_384")
    assert error(excinfo) == (
        "InvalidKeyUsageException",
        "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256.",
    )
    enc = create(kms, "RSA_2048", "ENCRYPT_DECRYPT")["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        kms.sign(KeyId=enc, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
    assert error(excinfo) == (
        "InvalidKeyUsageException",
        f"{key_arn(enc)} key usage is ENCRYPT_DECRYPT which is not valid for Sign.",
    )


# Ed25519 and Ed25519ph ---------------------------------------------------------------------------
# A reference Ed25519 verifier (RFC 8032 section 5.1.7, cofactorless) for Ed25519ph, which
# `cryptography` does not offer. It checks itself against `cryptography` (pure Ed25519) and the
# RFC 8032 Ed25519ph test vector before it is trusted.

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _recover_x(y, sign_bit):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign_bit else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if (x & 1) != sign_bit:
        x = _P - x
    return x


def _add(p, q):
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s, p):
    q = (0, 1, 1, 0)
    while s:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _decompress(b):
    y = int.from_bytes(b, "little")
    sign_bit = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign_bit)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
_G = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public, message, signature, prehash=False, context=b""):
    """RFC 8032 verification: pure Ed25519, or Ed25519ph (dom2(1, context), PH = SHA-512)."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    if prehash:
        dom = b"SigEd25519 no Ed25519 collisions" + bytes([1, len(context)]) + context
        message = hashlib.sha512(message).digest()
    else:
        dom = b""
    k = int.from_bytes(hashlib.sha512(dom + signature[:32] + public + message).digest(), "little") % _L
    lhs = _mul(s, _G)
    rhs = _add(r, _mul(k, a))
    return (lhs[0] * rhs[2] - rhs[0] * lhs[2]) % _P == 0 and (lhs[1] * rhs[2] - rhs[1] * lhs[2]) % _P == 0


def test_reference_ed25519_verifier_is_sound():
    key = ed25519.Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes_raw()
    sig = key.sign(b"check the checker")
    assert ed25519_verify(pub, b"check the checker", sig)
    assert not ed25519_verify(pub, b"check the checker!", sig)
    assert not ed25519_verify(pub, b"check the checker", flip(sig, 3))
    # RFC 8032 section 7.3, Ed25519ph, message "abc".
    rfc_pub = bytes.fromhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
    rfc_sig = bytes.fromhex(
        "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
        "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
    )
    assert ed25519_verify(rfc_pub, b"abc", rfc_sig, prehash=True)
    assert not ed25519_verify(rfc_pub, b"abc", rfc_sig)
    assert not ed25519_verify(rfc_pub, b"abd", rfc_sig, prehash=True)


def test_ed25519_pure_signature(kms):
    key_id = create(kms, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")["KeyId"]
    pub = public_key(kms, key_id)
    assert isinstance(pub, ed25519.Ed25519PublicKey)
    message = b"pure Ed25519"
    sig = sign(kms, key_id, "ED25519_SHA_512", message)
    assert len(sig) == 64
    pub.verify(sig, message)
    assert ed25519_verify(pub.public_bytes_raw(), message, sig)
    with pytest.raises(InvalidSignature):
        pub.verify(flip(sig), message)
    assert not trent_verify(kms, key_id, "ED25519_SHA_512", message, flip(sig))
    # ED25519_SHA_512 takes RAW only.
    with pytest.raises(ClientError) as excinfo:
        kms.sign(
            KeyId=key_id,
            Message=hashlib.sha512(message).digest(),
            MessageType="DIGEST",
            SigningAlgorithm="ED25519_SHA_512",
        )
    assert error(excinfo)[0] == "ValidationException"


def test_ed25519ph_signature_over_a_digest(kms):
    key_id = create(kms, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")["KeyId"]
    pub = public_key(kms, key_id).public_bytes_raw()
    document = b"a long document"
    digest = hashlib.sha512(document).digest()
    sig = sign(kms, key_id, "ED25519_PH_SHA_512", digest, "DIGEST")
    assert len(sig) == 64
    # The AWS model (SignRequest.MessageType): with ED25519_PH_SHA_512 and DIGEST, KMS "still performs
    # the SHA-512 prehash ... the input is hashed twice", so the signature is RFC 8032 Ed25519ph
    # (empty context) over the submitted 64 bytes, not over the document.
    assert ed25519_verify(pub, digest, sig, prehash=True), "not an Ed25519ph signature over the submitted digest"
    assert not ed25519_verify(pub, document, sig, prehash=True), "KMS hashes the submitted digest again"
    assert not ed25519_verify(pub, digest, sig), "Ed25519ph must not be pure Ed25519"
    assert trent_verify(kms, key_id, "ED25519_PH_SHA_512", digest, sig, "DIGEST")
    assert not trent_verify(kms, key_id, "ED25519_PH_SHA_512", flip(digest), sig, "DIGEST")
    # ED25519_PH_SHA_512 takes DIGEST only.
    with pytest.raises(ClientError) as excinfo:
        kms.sign(KeyId=key_id, Message=b"raw message", MessageType="RAW", SigningAlgorithm="ED25519_PH_SHA_512")
    code, message = error(excinfo)
    assert code == "ValidationException"
    assert message.startswith("Message type RAW is incompatible"), message


# ML-DSA ------------------------------------------------------------------------------------------

ML_DSA = [("ML_DSA_44", mldsa.MLDSA44PublicKey, 2420), ("ML_DSA_65", mldsa.MLDSA65PublicKey, 3309), ("ML_DSA_87", mldsa.MLDSA87PublicKey, 4627)]


@pytest.mark.parametrize("spec,cls,sig_len", ML_DSA, ids=[m[0] for m in ML_DSA])
def test_ml_dsa_raw_signature_verifies_with_cryptography(kms, spec, cls, sig_len):
    key_id = create(kms, spec, "SIGN_VERIFY")["KeyId"]
    pub = public_key(kms, key_id)
    assert isinstance(pub, cls)
    message = b"ML-DSA, FIPS 204"
    sig = sign(kms, key_id, "ML_DSA_SHAKE_256", message)
    assert len(sig) == sig_len
    pub.verify(sig, message)  # pure ML-DSA, empty context
    with pytest.raises(InvalidSignature):
        pub.verify(flip(sig, 10), message)
    assert not trent_verify(kms, key_id, "ML_DSA_SHAKE_256", message, flip(sig, 10))
    with pytest.raises(ClientError) as excinfo:
        kms.sign(KeyId=key_id, Message=os.urandom(64), MessageType="DIGEST", SigningAlgorithm="ML_DSA_SHAKE_256")
    assert error(excinfo) == ("ValidationException", f"Message type DIGEST is incompatible with key spec {spec}.")


@pytest.mark.parametrize("spec,cls,sig_len", ML_DSA, ids=[m[0] for m in ML_DSA])
def test_ml_dsa_external_mu(kms, spec, cls, sig_len):
    key_id = create(kms, spec, "SIGN_VERIFY")["KeyId"]
    pub = public_key(kms, key_id)
    message = b"signed through its mu"
    hasher = mldsa.MLDSAMuHasher(pub)
    hasher.update(message)
    mu = hasher.finalize()
    assert len(mu) == 64
    sig = sign(kms, key_id, "ML_DSA_SHAKE_256", mu, "EXTERNAL_MU")
    assert len(sig) == sig_len
    pub.verify_mu(sig, mu)
    pub.verify(sig, message)  # external mu gives an ordinary ML-DSA signature
    assert trent_verify(kms, key_id, "ML_DSA_SHAKE_256", message, sig)
    raw = sign(kms, key_id, "ML_DSA_SHAKE_256", message)
    assert trent_verify(kms, key_id, "ML_DSA_SHAKE_256", mu, raw, "EXTERNAL_MU")
    with pytest.raises(ClientError) as excinfo:
        kms.sign(KeyId=key_id, Message=mu[:32], MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256")
    assert error(excinfo)[0] == "ValidationException"


# Ed448 (Trent extension: KeySpec ECC_ED448, SigningAlgorithm ED448) ------------------------------


def test_ed448_extension(kms):
    meta = create(kms, "ECC_ED448", "SIGN_VERIFY")
    assert meta["KeySpec"] == "ECC_ED448"
    assert meta["SigningAlgorithms"] == ["ED448"]
    key_id = meta["KeyId"]
    got = kms.get_public_key(KeyId=key_id)
    assert got["KeySpec"] == "ECC_ED448" and got["SigningAlgorithms"] == ["ED448"]
    assert len(got["PublicKey"]) == 69  # 12-byte SPKI header + 57-byte key
    pub = serialization.load_der_public_key(got["PublicKey"])
    assert isinstance(pub, ed448.Ed448PublicKey)
    message = b"Ed448 from Trent"
    sig = sign(kms, key_id, "ED448", message)
    assert len(sig) == 114
    pub.verify(sig, message)
    assert sign(kms, key_id, "ED448", message) == sig  # deterministic (RFC 8032)
    with pytest.raises(InvalidSignature):
        pub.verify(flip(sig), message)
    assert trent_verify(kms, key_id, "ED448", message, sig)
    assert not trent_verify(kms, key_id, "ED448", message, flip(sig))
    # A signature made outside with another Ed448 key does not verify.
    outsider = ed448.Ed448PrivateKey.generate().sign(message)
    assert not trent_verify(kms, key_id, "ED448", message, outsider)
    with pytest.raises(ClientError) as excinfo:
        kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="ED25519_SHA_512")
    assert error(excinfo)[0] == "InvalidKeyUsageException"


# --- RSA encryption from outside ----------------------------------------------------------------

RSA_ENC = [
    ("RSA_2048", "RSAES_OAEP_SHA_1", hashes.SHA1, 214),
    ("RSA_2048", "RSAES_OAEP_SHA_256", hashes.SHA256, 190),
    ("RSA_3072", "RSAES_OAEP_SHA_1", hashes.SHA1, 342),
    ("RSA_3072", "RSAES_OAEP_SHA_256", hashes.SHA256, 318),
    ("RSA_4096", "RSAES_OAEP_SHA_1", hashes.SHA1, 470),
    ("RSA_4096", "RSAES_OAEP_SHA_256", hashes.SHA256, 446),
]


@pytest.fixture(scope="module")
def rsa_enc_keys(kms):
    cache = {}

    def get(spec):
        if spec not in cache:
            key_id = create(kms, spec, "ENCRYPT_DECRYPT")["KeyId"]
            cache[spec] = (key_id, public_key(kms, key_id))
        return cache[spec]

    return get


@pytest.mark.parametrize("spec,alg,h,limit", RSA_ENC, ids=[f"{e[0]}-{e[1]}" for e in RSA_ENC])
def test_oaep_ciphertext_from_cryptography_decrypts_in_trent(kms, rsa_enc_keys, spec, alg, h, limit):
    key_id, pub = rsa_enc_keys(spec)
    plaintext = os.urandom(limit)
    oaep = padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=None)
    ciphertext = pub.encrypt(plaintext, oaep)
    out = kms.decrypt(KeyId=key_id, CiphertextBlob=ciphertext, EncryptionAlgorithm=alg)
    assert out["Plaintext"] == plaintext
    assert out["EncryptionAlgorithm"] == alg
    assert out["KeyId"] == key_arn(key_id)
    # Trent's own ciphertext at the limit round-trips; one byte more is refused with AWS's message.
    blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionAlgorithm=alg)["CiphertextBlob"]
    assert len(blob) == pub.key_size // 8
    assert kms.decrypt(KeyId=key_id, CiphertextBlob=blob, EncryptionAlgorithm=alg)["Plaintext"] == plaintext
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(KeyId=key_id, Plaintext=plaintext + b"x", EncryptionAlgorithm=alg)
    assert error(excinfo) == (
        "ValidationException",
        f"Algorithm {alg} and key spec {spec} cannot encrypt data larger than {limit} bytes.",
    )
    # A corrupted ciphertext does not decrypt.
    with pytest.raises(ClientError) as excinfo:
        kms.decrypt(KeyId=key_id, CiphertextBlob=flip(ciphertext, 7), EncryptionAlgorithm=alg)
    assert error(excinfo)[0] == "InvalidCiphertextException"


def test_re_encrypt_rsa_ciphertext_from_outside_to_a_symmetric_key(kms, rsa_enc_keys):
    key_id, pub = rsa_enc_keys("RSA_2048")
    target = kms.create_key()["KeyMetadata"]["KeyId"]
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    out = kms.re_encrypt(
        CiphertextBlob=pub.encrypt(b"re-wrapped", oaep),
        SourceKeyId=key_id,
        SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256",
        DestinationKeyId=target,
    )
    assert out["SourceKeyId"] == key_arn(key_id) and out["KeyId"] == key_arn(target)
    assert out["SourceEncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    assert out["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"] == b"re-wrapped"


def test_sm2_encryption_limit(kms):
    key_id = create(kms, "SM2", "ENCRYPT_DECRYPT")["KeyId"]
    data = os.urandom(1024)
    blob = kms.encrypt(KeyId=key_id, Plaintext=data, EncryptionAlgorithm="SM2PKE")["CiphertextBlob"]
    assert kms.decrypt(KeyId=key_id, CiphertextBlob=blob, EncryptionAlgorithm="SM2PKE")["Plaintext"] == data
    with pytest.raises(ClientError) as excinfo:
        kms.encrypt(KeyId=key_id, Plaintext=data + b"x", EncryptionAlgorithm="SM2PKE")
    assert error(excinfo) == (
        "ValidationException",
        "Algorithm SM2PKE and key spec SM2 cannot encrypt data larger than 1024 bytes.",
    )


# --- ECDH ---------------------------------------------------------------------------------------

ECDH = [("ECC_NIST_P256", ec.SECP256R1, 32), ("ECC_NIST_P384", ec.SECP384R1, 48), ("ECC_NIST_P521", ec.SECP521R1, 66)]


def spki(public):
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("spec,curve,size", ECDH, ids=[e[0] for e in ECDH])
def test_derive_shared_secret_equals_cryptography_ecdh(kms, spec, curve, size):
    key_id = create(kms, spec, "KEY_AGREEMENT")["KeyId"]
    trent_pub = public_key(kms, key_id)
    assert isinstance(trent_pub.curve, curve)
    peer = ec.generate_private_key(curve())
    out = kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=spki(peer.public_key()))
    assert out["KeyId"] == key_arn(key_id)
    assert out["KeyAgreementAlgorithm"] == "ECDH"
    assert out["KeyOrigin"] == "AWS_KMS"
    assert len(out["SharedSecret"]) == size
    assert out["SharedSecret"] == peer.exchange(ec.ECDH(), trent_pub)
    # A peer on another curve, or no key at all, is refused.
    other_curve = ec.SECP384R1 if curve is not ec.SECP384R1 else ec.SECP256R1
    for bad in (spki(ec.generate_private_key(other_curve()).public_key()), b"\x30\x03\x02\x01\x00"):
        with pytest.raises(ClientError) as excinfo:
            kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=bad)
        assert error(excinfo)[0] in ("ValidationException", "InvalidKeyUsageException")


# SM2 curve arithmetic (GB/T 32918.5 parameters) for an independent SM2 ECDH.
_SM2_P = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF", 16)
_SM2_A = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC", 16)
_SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
_SM2_G = (
    int("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7", 16),
    int("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0", 16),
)
_SM2_SPKI_HEADER = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")


def _wadd(p1, p2, p=_SM2_P, a=_SM2_A):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    if p1[0] == p2[0] and (p1[1] + p2[1]) % p == 0:
        return None
    if p1 == p2:
        lam = (3 * p1[0] * p1[0] + a) * pow(2 * p1[1], -1, p) % p
    else:
        lam = (p2[1] - p1[1]) * pow(p2[0] - p1[0], -1, p) % p
    x = (lam * lam - p1[0] - p2[0]) % p
    return (x, (lam * (p1[0] - x) - p1[1]) % p)


def _wmul(k, point, **curve):
    result = None
    while k:
        if k & 1:
            result = _wadd(result, point, **curve)
        point = _wadd(point, point, **curve)
        k >>= 1
    return result


def test_reference_weierstrass_arithmetic_matches_cryptography_on_p256():
    p256 = dict(p=2**256 - 2**224 + 2**192 + 2**96 - 1, a=-3)
    mine = ec.generate_private_key(ec.SECP256R1())
    theirs = ec.generate_private_key(ec.SECP256R1())
    nums = theirs.public_key().public_numbers()
    shared = _wmul(mine.private_numbers().private_value, (nums.x, nums.y), **p256)
    assert shared[0].to_bytes(32, "big") == mine.exchange(ec.ECDH(), theirs.public_key())


def test_sm2_derive_shared_secret_matches_reference_ecdh(kms):
    key_id = create(kms, "SM2", "KEY_AGREEMENT")["KeyId"]
    trent_spki = kms.get_public_key(KeyId=key_id)["PublicKey"]
    assert trent_spki[: len(_SM2_SPKI_HEADER)] == _SM2_SPKI_HEADER and len(trent_spki) == 91
    qx = int.from_bytes(trent_spki[-64:-32], "big")
    qy = int.from_bytes(trent_spki[-32:], "big")
    d = secrets.randbelow(_SM2_N - 1) + 1
    peer = _wmul(d, _SM2_G)
    peer_spki = _SM2_SPKI_HEADER + b"\x04" + peer[0].to_bytes(32, "big") + peer[1].to_bytes(32, "big")
    out = kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=peer_spki)
    assert out["SharedSecret"] == _wmul(d, (qx, qy))[0].to_bytes(32, "big")


# --- GenerateDataKeyPair ------------------------------------------------------------------------

PAIR_SPECS = [
    ("RSA_2048", rsa.RSAPrivateKey),
    ("RSA_3072", rsa.RSAPrivateKey),
    ("RSA_4096", rsa.RSAPrivateKey),
    ("ECC_NIST_P256", ec.EllipticCurvePrivateKey),
    ("ECC_NIST_P384", ec.EllipticCurvePrivateKey),
    ("ECC_NIST_P521", ec.EllipticCurvePrivateKey),
    ("ECC_SECG_P256K1", ec.EllipticCurvePrivateKey),
    ("ECC_NIST_EDWARDS25519", ed25519.Ed25519PrivateKey),
]


@pytest.fixture(scope="module")
def wrapping_key(kms):
    return kms.create_key(Description="wraps data key pairs")["KeyMetadata"]["KeyId"]


@pytest.mark.parametrize("spec,cls", PAIR_SPECS, ids=[p[0] for p in PAIR_SPECS])
def test_generate_data_key_pair_private_key_is_pkcs8(kms, wrapping_key, spec, cls):
    ctx = {"pair": spec}
    out = kms.generate_data_key_pair(KeyId=wrapping_key, KeyPairSpec=spec, EncryptionContext=ctx)
    assert out["KeyId"] == key_arn(wrapping_key)
    assert out["KeyPairSpec"] == spec
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], password=None)
    assert isinstance(private, cls)
    if spec in CURVES:
        assert isinstance(private.curve, CURVES[spec])
    elif spec.startswith("RSA"):
        assert private.key_size == int(spec[4:])
    # PKCS#8 exactly: re-encoding as PKCS#8 DER gives the same bytes.
    assert (
        private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        == out["PrivateKeyPlaintext"]
    )
    assert spki(private.public_key()) == out["PublicKey"]
    # The wrapped private key decrypts, with the context, to the same PKCS#8.
    plain = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext=ctx)["Plaintext"]
    assert plain == out["PrivateKeyPlaintext"]
    # The pair works: sign outside, verify with the public key.
    public = serialization.load_der_public_key(out["PublicKey"])
    if spec.startswith("RSA"):
        sig = private.sign(b"pair", padding.PKCS1v15(), hashes.SHA256())
        public.verify(sig, b"pair", padding.PKCS1v15(), hashes.SHA256())
    elif spec in CURVES:
        public.verify(private.sign(b"pair", ec.ECDSA(hashes.SHA256())), b"pair", ec.ECDSA(hashes.SHA256()))
    else:
        public.verify(private.sign(b"pair"), b"pair")


@pytest.mark.parametrize("spec", ["RSA_2048", "ECC_NIST_P384", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "SM2"])
def test_generate_data_key_pair_without_plaintext(kms, wrapping_key, spec):
    out = kms.generate_data_key_pair_without_plaintext(KeyId=wrapping_key, KeyPairSpec=spec)
    assert "PrivateKeyPlaintext" not in out
    assert out["KeyPairSpec"] == spec and out["KeyId"] == key_arn(wrapping_key)
    plain = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])["Plaintext"]
    if spec == "SM2":
        # cryptography has no SM2: check the PKCS#8 shape (version 0, id-ecPublicKey, SM2 curve OID).
        assert plain[0] == 0x30 and b"\x06\x08\x2a\x81\x1c\xcf\x55\x01\x82\x2d" in plain
        assert out["PublicKey"].startswith(_SM2_SPKI_HEADER)
        return
    private = serialization.load_der_private_key(plain, password=None)
    assert spki(private.public_key()) == out["PublicKey"]


def test_generate_data_key_pair_needs_a_symmetric_key(kms):
    signer = create(kms, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        kms.generate_data_key_pair(KeyId=signer, KeyPairSpec="ECC_NIST_P256")
    assert error(excinfo)[0] == "InvalidKeyUsageException"


# --- HMAC ---------------------------------------------------------------------------------------

HMAC = [("HMAC_224", "HMAC_SHA_224", 28), ("HMAC_256", "HMAC_SHA_256", 32), ("HMAC_384", "HMAC_SHA_384", 48), ("HMAC_512", "HMAC_SHA_512", 64)]


@pytest.mark.parametrize("spec,alg,size", HMAC, ids=[h[0] for h in HMAC])
def test_generate_and_verify_mac(kms, spec, alg, size):
    key_id = create(kms, spec, "GENERATE_VERIFY_MAC")["KeyId"]
    out = kms.generate_mac(KeyId=key_id, Message=b"mac me", MacAlgorithm=alg)
    assert out["KeyId"] == key_arn(key_id) and out["MacAlgorithm"] == alg
    mac = out["Mac"]
    assert len(mac) == size
    assert kms.generate_mac(KeyId=key_id, Message=b"mac me", MacAlgorithm=alg)["Mac"] == mac
    verified = kms.verify_mac(KeyId=key_id, Message=b"mac me", Mac=mac, MacAlgorithm=alg)
    assert verified["MacValid"] is True and verified["KeyId"] == key_arn(key_id)
    for bad_mac, message in [(flip(mac), b"mac me"), (mac, b"mac me!")]:
        with pytest.raises(ClientError) as excinfo:
            kms.verify_mac(KeyId=key_id, Message=message, Mac=bad_mac, MacAlgorithm=alg)
        assert error(excinfo)[0] == "KMSInvalidMacException"
    wrong = "HMAC_SHA_256" if alg != "HMAC_SHA_256" else "HMAC_SHA_512"
    with pytest.raises(ClientError) as excinfo:
        kms.generate_mac(KeyId=key_id, Message=b"mac me", MacAlgorithm=wrong)
    assert error(excinfo) == ("InvalidKeyUsageException", f"Algorithm {wrong} is incompatible with key spec {spec}.")


def test_generate_mac_with_a_symmetric_key(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as excinfo:
        kms.generate_mac(KeyId=key_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")
    assert error(excinfo) == (
        "InvalidKeyUsageException",
        f"{key_arn(key_id)} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.",
    )


# --- AWS CLI ------------------------------------------------------------------------------------


def test_cli_sign_and_get_public_key(aws):
    meta = aws("create-key", "--key-spec", "ECC_SECG_P256K1", "--key-usage", "SIGN_VERIFY")["KeyMetadata"]
    assert meta["SigningAlgorithms"] == ["ECDSA_SHA_256"]
    key_id = meta["KeyId"]
    (aws.dir / "msg.bin").write_bytes(b"signed via the AWS CLI")
    out = aws(
        "sign", "--key-id", key_id, "--message", "fileb://msg.bin", "--message-type", "RAW",
        "--signing-algorithm", "ECDSA_SHA_256",
    )
    signature = base64.b64decode(out["Signature"])
    pub = serialization.load_der_public_key(base64.b64decode(aws("get-public-key", "--key-id", key_id)["PublicKey"]))
    assert isinstance(pub.curve, ec.SECP256K1)
    pub.verify(signature, b"signed via the AWS CLI", ec.ECDSA(hashes.SHA256()))
    (aws.dir / "sig.bin").write_bytes(signature)
    verified = aws(
        "verify", "--key-id", key_id, "--message", "fileb://msg.bin", "--signature", "fileb://sig.bin",
        "--signing-algorithm", "ECDSA_SHA_256",
    )
    assert verified["SignatureValid"] is True
