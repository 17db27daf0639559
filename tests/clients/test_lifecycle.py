"""The key lifecycle through boto3 and the AWS CLI: rotation, deletion, imported key material,
multi-Region keys, last usage, dry runs, custom key stores, grants and key policies.

Tests that move time use `admin` (a `trent serve --test-admin`): POST /_trent/clock/advance moves
its clock forward and runs the deletions, rotations and expiries then due. Its clock only ever
moves forward, so those tests read it (`Admin.now`) instead of the wall clock. The other tests
use the session's ordinary server. Material for import is wrapped with `cryptography` as the AWS
developer guide describes ("Encrypt key material"), so Trent's unwrapping meets an independent
implementation.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import time
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from conftest import ACCOUNT, REGION, admin_post, key_arn, make_client

DAY = 86_400
OTHER_REGION = "us-east-1"
MATERIAL_ID_RE = re.compile(r"^[0-9a-f]{64}$")
GRANT_ID_RE = re.compile(r"^[0-9a-f]{64}$")
DRY_RUN = "The request would have succeeded, but the DryRun option is set."
TEST_USER = f"arn:aws:iam::{ACCOUNT}:user/test"
OTHER_USER = f"arn:aws:iam::{ACCOUNT}:user/other"


# --- helpers -------------------------------------------------------------------------------------


def arn_in(region, key_id):
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"


def refusal(call, **kwargs):
    """Calls `call(**kwargs)`, which must fail; returns (code, message)."""
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    error = excinfo.value.response["Error"]
    return error["Code"], error.get("Message", "")


def code_of(call, **kwargs):
    return refusal(call, **kwargs)[0]


def describe(kms, key_id):
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]


def material_id(kms, key_id):
    return describe(kms, key_id)["CurrentKeyMaterialId"]


def encrypt(kms, key_id, plaintext):
    return kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]


def decrypt(kms, blob, **kwargs):
    """(Plaintext, KeyMaterialId) of a symmetric ciphertext."""
    out = kms.decrypt(CiphertextBlob=blob, **kwargs)
    return out["Plaintext"], out["KeyMaterialId"]


def all_rotations(kms, key_id, **kwargs):
    """Every ListKeyRotations entry, following NextMarker."""
    rotations, marker = [], {}
    while True:
        page = kms.list_key_rotations(KeyId=key_id, **marker, **kwargs)
        rotations += page["Rotations"]
        if not page["Truncated"]:
            assert "NextMarker" not in page, page
            return rotations
        marker = {"Marker": page["NextMarker"]}


def alias_names(kms):
    names, marker = [], {}
    while True:
        page = kms.list_aliases(**marker)
        names += [a["AliasName"] for a in page["Aliases"]]
        if not page["Truncated"]:
            return names
        marker = {"Marker": page["NextMarker"]}


def assert_near(when, expected, slack=10):
    """`when` (a datetime from boto3) is within `slack` seconds of the epoch time `expected`."""
    assert abs(when.timestamp() - expected) <= slack, f"{when} is not about {datetime.fromtimestamp(expected, timezone.utc)}"


class Admin:
    """The `--test-admin` server: boto3 clients per region and its clock."""

    def __init__(self, url):
        self.url = url
        self.kms = make_client(url)
        self.other = make_client(url, region=OTHER_REGION)

    def advance(self, seconds):
        """Moves the clock `seconds` forward; returns the total offset in seconds."""
        answer = admin_post(self.url, "/_trent/clock/advance", {"seconds": seconds})
        assert set(answer) == {"offset_seconds"}, answer
        return answer["offset_seconds"]

    def now(self):
        """The server's time, in epoch seconds."""
        return time.time() + self.advance(0)


@pytest.fixture(scope="module")
def admin(admin_server):
    return Admin(admin_server)


@pytest.fixture(scope="module")
def other_kms(server):
    """A client of the session's server signing for another region."""
    return make_client(server, region=OTHER_REGION)


# --- imported material ---------------------------------------------------------------------------


def oaep(hash_class):
    return padding.OAEP(mgf=padding.MGF1(algorithm=hash_class()), algorithm=hash_class(), label=None)


def wrap(public_der, algorithm, material):
    """`material` encrypted for ImportKeyMaterial under the wrapping key (DER SPKI), as AWS documents:
    RSAES_* encrypt it with the RSA key; RSA_AES_KEY_WRAP_* wrap it with a fresh AES-256 key (AES key
    wrap with padding, RFC 5649) and append that to the AES key encrypted with RSA-OAEP."""
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, rsa.RSAPublicKey)
    if algorithm == "RSAES_PKCS1_V1_5":
        return public.encrypt(material, padding.PKCS1v15())
    if algorithm == "RSAES_OAEP_SHA_1":
        return public.encrypt(material, oaep(hashes.SHA1))
    if algorithm == "RSAES_OAEP_SHA_256":
        return public.encrypt(material, oaep(hashes.SHA256))
    if algorithm in ("RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"):
        hash_class = hashes.SHA1 if algorithm.endswith("SHA_1") else hashes.SHA256
        aes_key = os.urandom(32)
        return public.encrypt(aes_key, oaep(hash_class)) + aes_key_wrap_with_padding(aes_key, material)
    raise AssertionError(f"no wrapping for {algorithm}")


def create_external(kms, spec="SYMMETRIC_DEFAULT", usage="ENCRYPT_DECRYPT"):
    meta = kms.create_key(Origin="EXTERNAL", KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    assert meta["Origin"] == "EXTERNAL"
    assert meta["KeyState"] == "PendingImport"
    assert meta["Enabled"] is False
    assert "ExpirationModel" not in meta and "CurrentKeyMaterialId" not in meta, meta
    return meta["KeyId"]


def parameters(kms, key_id, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048"):
    """(ImportToken, PublicKey DER, ParametersValidTo) for the key."""
    out = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)
    assert out["KeyId"] == key_arn(key_id)
    return out["ImportToken"], out["PublicKey"], out["ParametersValidTo"]


def import_material(kms, key_id, token, wrapped, **kwargs):
    kwargs.setdefault("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    return kms.import_key_material(KeyId=key_id, ImportToken=token, EncryptedKeyMaterial=wrapped, **kwargs)


def import_new(kms, key_id, material, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048"):
    """Gets fresh parameters, wraps and imports `material` (not expiring); returns its KeyMaterialId."""
    token, public, _ = parameters(kms, key_id, algorithm, spec)
    out = import_material(kms, key_id, token, wrap(public, algorithm, material))
    assert out["KeyId"] == key_arn(key_id)
    assert MATERIAL_ID_RE.match(out["KeyMaterialId"]), out
    return out["KeyMaterialId"]


@pytest.mark.parametrize(
    "algorithm, spec",
    [
        ("RSAES_OAEP_SHA_1", "RSA_2048"),
        ("RSAES_OAEP_SHA_256", "RSA_4096"),
        ("RSA_AES_KEY_WRAP_SHA_1", "RSA_3072"),
        ("RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"),
        ("RSA_AES_KEY_WRAP_SHA_256", "RSA_4096"),
    ],
)
def test_imported_symmetric_material_encrypts_and_decrypts(kms, algorithm, spec):
    key_id = create_external(kms)
    before = time.time()
    token, public, valid_to = parameters(kms, key_id, algorithm, spec)
    assert_near(valid_to, before + DAY)
    wrapping_key = serialization.load_der_public_key(public)
    assert wrapping_key.key_size == int(spec.removeprefix("RSA_"))
    assert wrapping_key.public_numbers().e == 65537

    material = os.urandom(32)
    out = import_material(kms, key_id, token, wrap(public, algorithm, material))
    assert MATERIAL_ID_RE.match(out["KeyMaterialId"]), out
    meta = describe(kms, key_id)
    assert meta["KeyState"] == "Enabled"
    assert meta["Enabled"] is True
    assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert "ValidTo" not in meta
    assert meta["CurrentKeyMaterialId"] == out["KeyMaterialId"]
    blob = encrypt(kms, key_id, b"under imported material")
    assert decrypt(kms, blob) == (b"under imported material", out["KeyMaterialId"])


def test_deleted_material_comes_back_only_when_the_same_material_is_imported(kms):
    key_id = create_external(kms)
    arn = key_arn(key_id)
    material = os.urandom(32)
    first = import_new(kms, key_id, material)
    blob = encrypt(kms, key_id, b"kept across re-imports")

    deleted = kms.delete_imported_key_material(KeyId=key_id)
    assert deleted["KeyId"] == arn
    meta = describe(kms, key_id)
    assert (meta["KeyState"], meta["Enabled"]) == ("PendingImport", False)
    pending = ("KMSInvalidStateException", f"{arn} is pending import.")
    assert refusal(kms.decrypt, CiphertextBlob=blob) == pending
    assert refusal(kms.encrypt, KeyId=key_id, Plaintext=b"x") == pending

    # Other material, or material of the wrong length, is not this key's.
    token, public, _ = parameters(kms, key_id, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048")
    for other in (os.urandom(32), os.urandom(16)):
        wrapped = wrap(public, "RSA_AES_KEY_WRAP_SHA_256", other)
        assert code_of(import_material, kms=kms, key_id=key_id, token=token, wrapped=wrapped) == "IncorrectKeyMaterialException"
    assert describe(kms, key_id)["KeyState"] == "PendingImport"

    # The same material, wrapped another way: the key is back, with the same material ID.
    out = import_material(kms, key_id, token, wrap(public, "RSA_AES_KEY_WRAP_SHA_256", material))
    assert out["KeyMaterialId"] == first
    assert describe(kms, key_id)["KeyState"] == "Enabled"
    assert decrypt(kms, blob) == (b"kept across re-imports", first)


def test_an_import_token_belongs_to_its_key(kms):
    key_id, other_key = create_external(kms), create_external(kms)
    material = os.urandom(32)
    token, public, _ = parameters(kms, key_id)
    other_token, other_public, _ = parameters(kms, other_key)
    wrapped = wrap(public, "RSAES_OAEP_SHA_256", material)
    assert code_of(import_material, kms=kms, key_id=key_id, token=other_token, wrapped=wrapped) == "InvalidImportTokenException"
    assert code_of(import_material, kms=kms, key_id=other_key, token=token, wrapped=wrapped) == "InvalidImportTokenException"
    # With its own token, material wrapped for the other key's wrapping key does not unwrap.
    wrapped_for_other = wrap(other_public, "RSAES_OAEP_SHA_256", material)
    assert code_of(import_material, kms=kms, key_id=key_id, token=token, wrapped=wrapped_for_other) == "InvalidCiphertextException"
    for key in (key_id, other_key):
        assert describe(kms, key)["KeyState"] == "PendingImport"
    import_material(kms, key_id, token, wrapped)
    assert describe(kms, key_id)["KeyState"] == "Enabled"


def test_import_token_expires_after_24_hours(admin):
    kms = admin.kms
    key_id = create_external(kms)
    now = admin.now()
    token, public, valid_to = parameters(kms, key_id)
    assert_near(valid_to, now + DAY)
    wrapped = wrap(public, "RSAES_OAEP_SHA_256", os.urandom(32))
    admin.advance(25 * 3600)
    code, message = refusal(import_material, kms=kms, key_id=key_id, token=token, wrapped=wrapped)
    assert code == "ExpiredImportTokenException", message
    assert describe(kms, key_id)["KeyState"] == "PendingImport"


def test_material_that_expires_leaves_the_key_pending_import(admin):
    kms = admin.kms
    key_id = create_external(kms)
    arn = key_arn(key_id)
    material = os.urandom(32)
    token, public, _ = parameters(kms, key_id)
    wrapped = wrap(public, "RSAES_OAEP_SHA_256", material)

    # KEY_MATERIAL_EXPIRES needs a ValidTo.
    assert refusal(import_material, kms=kms, key_id=key_id, token=token, wrapped=wrapped, ExpirationModel="KEY_MATERIAL_EXPIRES") == (
        "ValidationException",
        "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
    )
    valid_to = int(admin.now()) + 2 * DAY
    import_material(kms, key_id, token, wrapped, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    meta = describe(kms, key_id)
    assert meta["KeyState"] == "Enabled"
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert meta["ValidTo"].timestamp() == valid_to
    blob = encrypt(kms, key_id, b"before expiry")

    admin.advance(DAY)
    assert describe(kms, key_id)["KeyState"] == "Enabled", "not expired yet"
    admin.advance(DAY + 60)
    meta = describe(kms, key_id)
    assert (meta["KeyState"], meta["Enabled"]) == ("PendingImport", False)
    assert "ExpirationModel" not in meta and "ValidTo" not in meta, meta
    assert refusal(kms.decrypt, CiphertextBlob=blob) == ("KMSInvalidStateException", f"{arn} is pending import.")

    # The same material again, now without expiry: the old ciphertext decrypts.
    import_new(kms, key_id, material)
    assert decrypt(kms, blob)[0] == b"before expiry"


def test_imported_hmac_material_macs_like_python_hmac(kms):
    key_id = create_external(kms, "HMAC_256", "GENERATE_VERIFY_MAC")
    material = os.urandom(32)
    import_new(kms, key_id, material, "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")
    message = b"message for the imported HMAC key"
    mac = kms.generate_mac(KeyId=key_id, MacAlgorithm="HMAC_SHA_256", Message=message)["Mac"]
    assert mac == hmac.new(material, message, hashlib.sha256).digest()
    local = hmac.new(material, b"computed outside", hashlib.sha256).digest()
    verified = kms.verify_mac(KeyId=key_id, MacAlgorithm="HMAC_SHA_256", Message=b"computed outside", Mac=local)
    assert verified["MacValid"] is True


def test_new_material_is_pending_until_rotated_in_on_demand(kms):
    key_id = create_external(kms)
    first = os.urandom(32)
    first_id = import_new(kms, key_id, first)
    old_blob = encrypt(kms, key_id, b"first")
    assert refusal(kms.rotate_key_on_demand, KeyId=key_id) == (
        "KMSInvalidStateException",
        f"No available key material pending rotation for the key: {key_arn(key_id)}.",
    )

    token, public, _ = parameters(kms, key_id)
    second = os.urandom(32)
    second_id = import_material(
        kms, key_id, token, wrap(public, "RSAES_OAEP_SHA_256", second), ImportType="NEW_KEY_MATERIAL", KeyMaterialDescription="next"
    )["KeyMaterialId"]
    assert second_id != first_id
    assert describe(kms, key_id)["CurrentKeyMaterialId"] == first_id
    listed = all_rotations(kms, key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    assert [(r["KeyMaterialId"], r["KeyMaterialState"], r["ImportState"]) for r in listed] == [
        (first_id, "CURRENT", "IMPORTED"),
        (second_id, "PENDING_ROTATION", "IMPORTED"),
    ]
    assert listed[1]["KeyMaterialDescription"] == "next" and "RotationDate" not in listed[1]

    kms.rotate_key_on_demand(KeyId=key_id)
    assert describe(kms, key_id)["CurrentKeyMaterialId"] == second_id
    [rotation] = all_rotations(kms, key_id)
    assert (rotation["KeyMaterialId"], rotation["RotationType"], rotation["KeyMaterialState"]) == (second_id, "ON_DEMAND", "CURRENT")
    new_blob = encrypt(kms, key_id, b"second")
    assert decrypt(kms, old_blob) == (b"first", first_id)
    assert decrypt(kms, new_blob) == (b"second", second_id), "new ciphertexts use the rotated-in material"


def test_import_operations_refuse_keys_whose_material_kms_generated(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    expected = ("UnsupportedOperationException", f"{key_arn(key_id)} origin is AWS_KMS which is not valid for this operation.")
    assert refusal(kms.get_parameters_for_import, KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048") == expected
    assert refusal(kms.delete_imported_key_material, KeyId=key_id) == expected


# --- rotation ------------------------------------------------------------------------------------


def test_scheduled_rotation_adds_material_and_old_ciphertexts_still_decrypt(admin):
    kms = admin.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is False
    assert "NextRotationDate" not in status and "RotationPeriodInDays" not in status, status

    now = admin.now()
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyId"] == key_arn(key_id)
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == 90
    assert_near(status["NextRotationDate"], now + 90 * DAY)
    # On-demand rotations complete within their request: none is ever in progress.
    assert "OnDemandRotationStartDate" not in status, status
    first = material_id(kms, key_id)
    old = encrypt(kms, key_id, b"old")

    admin.advance(89 * DAY)
    assert material_id(kms, key_id) == first, "not due yet"
    assert all_rotations(kms, key_id) == []
    admin.advance(2 * DAY)
    second = material_id(kms, key_id)
    assert MATERIAL_ID_RE.match(second) and second != first
    [rotation] = all_rotations(kms, key_id)
    assert rotation["KeyId"] == key_arn(key_id)
    assert rotation["KeyMaterialId"] == second
    assert rotation["KeyMaterialState"] == "CURRENT"
    assert rotation["RotationType"] == "AUTOMATIC"
    assert rotation["RotationDate"] >= status["NextRotationDate"]
    after = kms.get_key_rotation_status(KeyId=key_id)
    assert_near(after["NextRotationDate"], rotation["RotationDate"].timestamp() + 90 * DAY)

    assert decrypt(kms, old) == (b"old", first)
    new = encrypt(kms, key_id, b"new")
    assert decrypt(kms, new) == (b"new", second)

    kms.disable_key_rotation(KeyId=key_id)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is False and "NextRotationDate" not in status
    admin.advance(100 * DAY)
    assert material_id(kms, key_id) == second, "no rotation once disabled"


def test_on_demand_rotation_and_listed_key_material(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    first = material_id(kms, key_id)
    old = encrypt(kms, key_id, b"before")
    began = time.time()
    assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"] == key_arn(key_id)
    second = material_id(kms, key_id)
    assert MATERIAL_ID_RE.match(second) and second != first
    assert decrypt(kms, old) == (b"before", first)
    assert decrypt(kms, encrypt(kms, key_id, b"after")) == (b"after", second)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is False, "on-demand rotation leaves automatic rotation off"
    assert "OnDemandRotationStartDate" not in status, status

    [rotation] = all_rotations(kms, key_id)
    assert (rotation["KeyMaterialId"], rotation["KeyMaterialState"], rotation["RotationType"]) == (second, "CURRENT", "ON_DEMAND")
    assert_near(rotation["RotationDate"], began)
    everything = all_rotations(kms, key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")
    assert [(r["KeyMaterialId"], r["KeyMaterialState"], r.get("RotationType")) for r in everything] == [
        (first, "NON_CURRENT", None),
        (second, "CURRENT", "ON_DEMAND"),
    ]

    kms.rotate_key_on_demand(KeyId=key_id)
    kms.rotate_key_on_demand(KeyId=key_id)
    paged = all_rotations(kms, key_id, Limit=1)
    assert len(paged) == 3
    assert paged == all_rotations(kms, key_id)
    assert code_of(kms.list_key_rotations, KeyId=key_id, Marker="not-a-marker") == "InvalidMarkerException"


def test_on_demand_rotations_are_limited_to_25_per_key(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(25):
        kms.rotate_key_on_demand(KeyId=key_id)
    assert refusal(kms.rotate_key_on_demand, KeyId=key_id) == (
        "LimitExceededException",
        "The on-demand rotations limit has been reached for the given keyId. "
        f"No more on-demand rotations can be performed for this key: {key_arn(key_id)}",
    )
    assert len(all_rotations(kms, key_id)) == 25


@pytest.mark.parametrize(
    "spec, usage",
    [("RSA_2048", "ENCRYPT_DECRYPT"), ("ECC_NIST_P256", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC")],
)
def test_rotation_is_refused_for_keys_aws_does_not_rotate(kms, spec, usage):
    key_id = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
    expected = ("UnsupportedOperationException", f"{key_arn(key_id)} is not a symmetric encryption KMS key.")
    assert refusal(kms.enable_key_rotation, KeyId=key_id) == expected
    assert refusal(kms.enable_key_rotation, KeyId=key_id, RotationPeriodInDays=90) == expected
    assert refusal(kms.get_key_rotation_status, KeyId=key_id) == expected
    assert refusal(kms.list_key_rotations, KeyId=key_id) == expected
    # AWS gives no message here (shared/aws-kms-facts.md).
    assert refusal(kms.rotate_key_on_demand, KeyId=key_id) == ("UnsupportedOperationException", "")


def test_rotation_period_must_be_90_to_2560_days(server, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    unchecked = make_client(server, validate=False)
    for days in (89, 2561):
        code, message = refusal(unchecked.enable_key_rotation, KeyId=key_id, RotationPeriodInDays=days)
        assert code == "ValidationException" and "rotationPeriodInDays" in message, (code, message)
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=2560)
    assert kms.get_key_rotation_status(KeyId=key_id)["RotationPeriodInDays"] == 2560


# --- deletion ------------------------------------------------------------------------------------


def test_deletion_can_be_cancelled_and_happens_when_the_window_passes(admin):
    kms = admin.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    arn = key_arn(key_id)
    alias = f"alias/doomed-{key_id[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    kms.create_grant(KeyId=key_id, GranteePrincipal=OTHER_USER, Operations=["Decrypt"])
    blob = encrypt(kms, key_id, b"secret")

    now = admin.now()
    scheduled = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert scheduled["KeyId"] == arn
    assert scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["PendingWindowInDays"] == 7
    assert_near(scheduled["DeletionDate"], now + 7 * DAY)
    assert refusal(kms.decrypt, CiphertextBlob=blob) == ("KMSInvalidStateException", f"{arn} is pending deletion.")
    assert kms.cancel_key_deletion(KeyId=key_id)["KeyId"] == arn
    meta = describe(kms, key_id)
    assert meta["KeyState"] == "Disabled" and "DeletionDate" not in meta, meta
    kms.enable_key(KeyId=key_id)
    assert decrypt(kms, blob)[0] == b"secret"

    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    admin.advance(6 * DAY)
    assert describe(kms, key_id)["KeyState"] == "PendingDeletion"
    assert alias in alias_names(kms)
    admin.advance(2 * DAY)

    assert refusal(kms.describe_key, KeyId=key_id) == ("NotFoundException", f"Key '{arn}' does not exist")
    assert alias not in alias_names(kms)
    assert code_of(kms.describe_key, KeyId=alias) == "NotFoundException"
    assert code_of(kms.list_grants, KeyId=key_id) == "NotFoundException"
    assert key_id not in [k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]]
    # The ciphertext names a key that no longer exists: undecryptable, whether or not the
    # request names the key.
    assert refusal(kms.decrypt, CiphertextBlob=blob) == ("InvalidCiphertextException", "")
    assert code_of(kms.decrypt, CiphertextBlob=blob, KeyId=key_id) == "NotFoundException"


def test_schedule_key_deletion_takes_7_to_30_days(server, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    unchecked = make_client(server, validate=False)
    for days in (6, 31):
        assert code_of(unchecked.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=days) == "ValidationException"
    assert describe(kms, key_id)["KeyState"] == "Enabled"
    scheduled = kms.schedule_key_deletion(KeyId=key_id)
    assert scheduled["PendingWindowInDays"] == 30
    assert_near(scheduled["DeletionDate"], time.time() + 30 * DAY)
    assert code_of(kms.schedule_key_deletion, KeyId=key_id) == "KMSInvalidStateException"


# --- multi-Region keys ---------------------------------------------------------------------------


def assert_set(meta, role, primary, replicas):
    """The key's multi-Region role, its primary's region and its replicas' regions."""
    key_id = meta["KeyId"]
    assert meta["MultiRegion"] is True
    config = meta["MultiRegionConfiguration"]
    assert config["MultiRegionKeyType"] == role
    assert config["PrimaryKey"] == {"Arn": arn_in(primary, key_id), "Region": primary}
    assert config.get("ReplicaKeys", []) == [{"Arn": arn_in(r, key_id), "Region": r} for r in replicas]


def test_multi_region_key_replicates_and_ciphertexts_cross_regions(kms, other_kms):
    meta = kms.create_key(MultiRegion=True, Description="primary")["KeyMetadata"]
    key_id = meta["KeyId"]
    assert re.fullmatch(r"mrk-[0-9a-f]{32}", key_id), key_id
    assert_set(meta, "PRIMARY", REGION, [])
    single = kms.create_key()["KeyMetadata"]
    assert single["MultiRegion"] is False and "MultiRegionConfiguration" not in single

    before = encrypt(kms, key_id, b"made before replication")
    replicated = kms.replicate_key(
        KeyId=key_id, ReplicaRegion=OTHER_REGION, Description="replica", Tags=[{"TagKey": "site", "TagValue": "us"}]
    )
    replica = replicated["ReplicaKeyMetadata"]
    assert replica["KeyId"] == key_id
    assert replica["Arn"] == arn_in(OTHER_REGION, key_id)
    assert replica["KeyState"] == "Enabled"
    assert replica["Description"] == "replica"
    assert replicated["ReplicaTags"] == [{"TagKey": "site", "TagValue": "us"}]
    assert json.loads(replicated["ReplicaPolicy"])["Statement"], replicated["ReplicaPolicy"]
    assert_set(replica, "REPLICA", REGION, [OTHER_REGION])
    assert_set(describe(kms, key_id), "PRIMARY", REGION, [OTHER_REGION])
    assert_set(describe(other_kms, key_id), "REPLICA", REGION, [OTHER_REGION])
    assert describe(kms, key_id)["Description"] == "primary"
    assert describe(other_kms, key_id)["CurrentKeyMaterialId"] == describe(kms, key_id)["CurrentKeyMaterialId"]

    # Encrypted in one region, decrypted with the replica in the other, both ways.
    out = other_kms.decrypt(CiphertextBlob=before)
    assert out["Plaintext"] == b"made before replication"
    assert out["KeyId"] == arn_in(OTHER_REGION, key_id)
    assert kms.decrypt(CiphertextBlob=encrypt(other_kms, key_id, b"from us-east-1"))["Plaintext"] == b"from us-east-1"

    assert code_of(kms.replicate_key, KeyId=key_id, ReplicaRegion=OTHER_REGION) == "AlreadyExistsException"
    assert refusal(other_kms.replicate_key, KeyId=key_id, ReplicaRegion="ap-south-1") == (
        "UnsupportedOperationException",
        f"{arn_in(OTHER_REGION, key_id)} is not a multi-region primary key.",
    )
    assert code_of(kms.replicate_key, KeyId=single["KeyId"], ReplicaRegion=OTHER_REGION) == "UnsupportedOperationException"


def test_update_primary_region_swaps_the_roles(kms, other_kms):
    key_id = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=key_id, ReplicaRegion=OTHER_REGION)
    kms.update_primary_region(KeyId=key_id, PrimaryRegion=OTHER_REGION)
    assert_set(describe(other_kms, key_id), "PRIMARY", OTHER_REGION, [REGION])
    assert_set(describe(kms, key_id), "REPLICA", OTHER_REGION, [REGION])
    # Only the primary rotates; the replica follows.
    assert code_of(kms.rotate_key_on_demand, KeyId=key_id) == "UnsupportedOperationException"
    other_kms.rotate_key_on_demand(KeyId=key_id)
    assert describe(kms, key_id)["CurrentKeyMaterialId"] == describe(other_kms, key_id)["CurrentKeyMaterialId"]
    assert kms.decrypt(CiphertextBlob=encrypt(other_kms, key_id, b"after the swap"))["Plaintext"] == b"after the swap"


def test_a_primary_with_a_replica_waits_for_the_replica_deletion(admin):
    eu, us = admin.kms, admin.other
    key_id = eu.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    eu.replicate_key(KeyId=key_id, ReplicaRegion=OTHER_REGION)

    scheduled = eu.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert scheduled["KeyState"] == "PendingReplicaDeletion"
    assert "DeletionDate" not in scheduled, "the window starts when the replicas are gone"
    assert describe(eu, key_id)["KeyState"] == "PendingReplicaDeletion"
    assert code_of(eu.encrypt, KeyId=key_id, Plaintext=b"x") == "KMSInvalidStateException"
    assert us.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)["KeyState"] == "PendingDeletion"

    admin.advance(8 * DAY)
    assert code_of(us.describe_key, KeyId=key_id) == "NotFoundException"
    primary = describe(eu, key_id)
    assert primary["KeyState"] == "PendingDeletion" and "DeletionDate" in primary, primary
    assert_set(primary, "PRIMARY", REGION, [])
    admin.advance(8 * DAY)
    assert code_of(eu.describe_key, KeyId=key_id) == "NotFoundException"


# --- the rest: last usage, dry runs, custom key stores, grants, policies, reset ------------------


def test_get_key_last_usage_reports_the_last_cryptographic_use(admin):
    kms = admin.kms
    now = admin.now()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    unused = kms.get_key_last_usage(KeyId=key_id)
    assert unused["KeyId"] == key_id
    assert "KeyLastUsage" not in unused, unused
    assert unused["TrackingStartDate"] == unused["KeyCreationDate"]
    assert_near(unused["TrackingStartDate"], now)

    encrypted = kms.encrypt(KeyId=key_id, Plaintext=b"x")
    request_id = encrypted["ResponseMetadata"]["RequestId"]
    # A failed use is no use.
    assert code_of(kms.decrypt, CiphertextBlob=os.urandom(64), KeyId=key_id) == "InvalidCiphertextException"
    for moment in ("noted in memory", "written by the due work the clock advance runs"):
        last = kms.get_key_last_usage(KeyId=key_id)["KeyLastUsage"]
        assert last["Operation"] == "Encrypt", moment
        assert last["KmsRequestId"] == request_id, moment
        assert_near(last["Timestamp"], now)
        admin.advance(0)


def test_dry_run_checks_everything_and_does_nothing(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = encrypt(kms, key_id, b"dry")
    calls = [
        (kms.encrypt, {"KeyId": key_id, "Plaintext": b"x"}),
        (kms.decrypt, {"CiphertextBlob": blob}),
        (kms.generate_data_key, {"KeyId": key_id, "KeySpec": "AES_256"}),
        (kms.re_encrypt, {"CiphertextBlob": blob, "DestinationKeyId": key_id}),
        (kms.create_grant, {"KeyId": key_id, "GranteePrincipal": OTHER_USER, "Operations": ["Encrypt"]}),
    ]
    for call, kwargs in calls:
        assert refusal(call, DryRun=True, **kwargs) == ("DryRunOperationException", DRY_RUN), call
    assert kms.list_grants(KeyId=key_id)["Grants"] == [], "the dry run created no grant"

    grant = kms.create_grant(KeyId=key_id, GranteePrincipal=OTHER_USER, Operations=["Encrypt"], RetiringPrincipal=TEST_USER)
    assert refusal(kms.revoke_grant, KeyId=key_id, GrantId=grant["GrantId"], DryRun=True) == ("DryRunOperationException", DRY_RUN)
    assert refusal(kms.retire_grant, GrantToken=grant["GrantToken"], DryRun=True) == ("DryRunOperationException", DRY_RUN)
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_id)["Grants"]] == [grant["GrantId"]]

    # Every other check comes first: a disabled key says so.
    kms.disable_key(KeyId=key_id)
    assert refusal(kms.encrypt, KeyId=key_id, Plaintext=b"x", DryRun=True) == ("DisabledException", f"{key_arn(key_id)} is disabled.")


def test_custom_key_stores_are_answered_as_for_an_account_with_none(kms):
    listed = kms.describe_custom_key_stores()
    assert listed["CustomKeyStores"] == []
    assert listed["Truncated"] is False
    store_id = "cks-1234567890abcdef0"
    not_found = "CustomKeyStoreNotFoundException"
    assert code_of(kms.describe_custom_key_stores, CustomKeyStoreId=store_id) == not_found
    assert code_of(kms.describe_custom_key_stores, CustomKeyStoreName="mine") == not_found
    assert refusal(kms.connect_custom_key_store, CustomKeyStoreId=store_id) == (not_found, f"Custom key store with id {store_id} does not exist.")
    assert code_of(kms.disconnect_custom_key_store, CustomKeyStoreId=store_id) == not_found
    assert code_of(kms.update_custom_key_store, CustomKeyStoreId=store_id, NewCustomKeyStoreName="other") == not_found
    assert code_of(kms.delete_custom_key_store, CustomKeyStoreId=store_id) == not_found
    code, message = refusal(kms.create_custom_key_store, CustomKeyStoreName="mine")
    assert code == "UnsupportedOperationException" and "no custom key stores" in message, message


def test_grants_are_listed_retired_and_revoked(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    began = time.time()
    grant = kms.create_grant(
        KeyId=key_id, GranteePrincipal=OTHER_USER, RetiringPrincipal=TEST_USER, Operations=["Encrypt", "Decrypt"], Name="app"
    )
    assert GRANT_ID_RE.match(grant["GrantId"]), grant
    assert grant["GrantToken"]
    [listed] = kms.list_grants(KeyId=key_id)["Grants"]
    assert listed["GrantId"] == grant["GrantId"]
    assert listed["KeyId"] == key_arn(key_id)
    assert listed["Name"] == "app"
    assert listed["GranteePrincipal"] == OTHER_USER
    assert listed["RetiringPrincipal"] == TEST_USER
    assert listed["IssuingAccount"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert listed["Operations"] == ["Encrypt", "Decrypt"]
    assert_near(listed["CreationDate"], began)
    retirable = kms.list_retirable_grants(RetiringPrincipal=TEST_USER)["Grants"]
    assert grant["GrantId"] in [g["GrantId"] for g in retirable]

    kms.retire_grant(GrantToken=grant["GrantToken"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []

    revoked = kms.create_grant(KeyId=key_id, GranteePrincipal=OTHER_USER, Operations=["Encrypt"])
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_id)["Grants"]] == [revoked["GrantId"]]
    kms.revoke_grant(KeyId=key_id, GrantId=revoked["GrantId"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []
    assert code_of(kms.revoke_grant, KeyId=key_id, GrantId=revoked["GrantId"]) == "NotFoundException"


def test_key_policy_round_trip_and_malformed_policies(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    out = kms.get_key_policy(KeyId=key_id, PolicyName="default")
    assert out["PolicyName"] == "default"
    default = json.loads(out["Policy"])
    assert default["Version"] == "2012-10-17"
    [statement] = default["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"], statement["Resource"]) == (
        "Allow",
        {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "kms:*",
        "*",
    )
    assert kms.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]

    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
                {"Sid": "other", "Effect": "Allow", "Principal": {"AWS": OTHER_USER}, "Action": "kms:Encrypt", "Resource": "*"},
            ],
        }
    )
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy)
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == policy

    bad_principal = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "not-a-principal"}, "Action": "kms:*", "Resource": "*"}]}
    )
    assert refusal(kms.put_key_policy, KeyId=key_id, Policy=bad_principal) == (
        "MalformedPolicyDocumentException",
        "Policy contains a statement with one or more invalid principals.",
    )
    for malformed in ('{"Version": "2012-10-17", "Statement": [', policy.replace("kms:Encrypt", "kms:Foo")):
        assert code_of(kms.put_key_policy, KeyId=key_id, Policy=malformed) == "MalformedPolicyDocumentException"
        assert code_of(kms.create_key, Policy=malformed) == "MalformedPolicyDocumentException"
    assert kms.get_key_policy(KeyId=key_id)["Policy"] == policy, "refused policies change nothing"


def test_reset_empties_the_store(admin):
    for kms in (admin.kms, admin.other):
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/before-reset", TargetKeyId=key_id)
    assert admin_post(admin.url, "/_trent/reset", {}) == {}
    for kms in (admin.kms, admin.other):
        assert kms.list_keys()["Keys"] == []
        assert "alias/before-reset" not in alias_names(kms)
        # The store works on after a reset.
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        assert describe(kms, key_id)["KeyState"] == "Enabled"


# --- the AWS CLI ---------------------------------------------------------------------------------


def test_cli_schedule_key_deletion(aws, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    scheduled = aws("schedule-key-deletion", "--key-id", key_id, "--pending-window-in-days", "7")
    assert scheduled["KeyId"] == key_arn(key_id)
    assert scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["PendingWindowInDays"] == 7
    assert_near(datetime.fromtimestamp(scheduled["DeletionDate"], timezone.utc), time.time() + 7 * DAY)
    assert describe(kms, key_id)["KeyState"] == "PendingDeletion"
    stderr = aws.failing("schedule-key-deletion", "--key-id", key_id)
    assert "(KMSInvalidStateException)" in stderr and f"{key_arn(key_id)} is pending deletion." in stderr, stderr


def test_cli_imports_key_material_from_files(aws, kms):
    key_id = create_external(kms)
    params = aws(
        "get-parameters-for-import", "--key-id", key_id,
        "--wrapping-algorithm", "RSA_AES_KEY_WRAP_SHA_256", "--wrapping-key-spec", "RSA_3072",
    )
    assert params["KeyId"] == key_arn(key_id)
    public = base64.b64decode(params["PublicKey"])
    assert serialization.load_der_public_key(public).key_size == 3072
    material = os.urandom(32)
    token_file, material_file = aws.dir / f"{key_id}.token", aws.dir / f"{key_id}.material"
    token_file.write_bytes(base64.b64decode(params["ImportToken"]))
    material_file.write_bytes(wrap(public, "RSA_AES_KEY_WRAP_SHA_256", material))
    imported = aws(
        "import-key-material", "--key-id", key_id,
        "--encrypted-key-material", f"fileb://{material_file}", "--import-token", f"fileb://{token_file}",
        "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    assert MATERIAL_ID_RE.match(imported["KeyMaterialId"]), imported
    assert describe(kms, key_id)["KeyState"] == "Enabled"
    assert decrypt(kms, encrypt(kms, key_id, b"via the CLI")) == (b"via the CLI", imported["KeyMaterialId"])


def test_cli_replicate_key(aws, kms, other_kms):
    key_id = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    replica = aws("replicate-key", "--key-id", key_id, "--replica-region", OTHER_REGION, "--description", "from the CLI")
    meta = replica["ReplicaKeyMetadata"]
    assert meta["Arn"] == arn_in(OTHER_REGION, key_id)
    assert meta["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    assert describe(other_kms, key_id)["Description"] == "from the CLI"
    assert other_kms.decrypt(CiphertextBlob=encrypt(kms, key_id, b"cli"))["Plaintext"] == b"cli"
