"""Trent against the real AWS clients: boto3 and the AWS CLI (v1).

One server for the whole session, started from $TRENT_BIN (default target/release/trent) on a
temporary data dir and stopped with SIGTERM at the end. Run through ./scripts/test.
"""

import base64
import os
import re
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from conftest import ACCOUNT, REGION, key_arn
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")



def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def new_key(kms, **kwargs):
    return kms.create_key(**kwargs)["KeyMetadata"]["KeyId"]


def tags_of(kms, key_id):
    tags = kms.list_resource_tags(KeyId=key_id)["Tags"]
    return {t["TagKey"]: t["TagValue"] for t in tags}


# --- boto3 -------------------------------------------------------------------------------------


def test_create_key_with_description_and_tags_then_describe(kms):
    created = kms.create_key(Description="payments", Tags=[{"TagKey": "team", "TagValue": "core"}])
    meta = created["KeyMetadata"]
    key_id = meta["KeyId"]
    assert UUID_RE.match(key_id), key_id
    assert meta["Arn"] == key_arn(key_id)
    assert meta["AWSAccountId"] == ACCOUNT
    assert meta["Description"] == "payments"
    assert meta["Enabled"] is True
    assert meta["KeyState"] == "Enabled"
    assert meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert meta["Origin"] == "AWS_KMS"
    assert meta["KeyManager"] == "CUSTOMER"
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]

    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["Arn"] == key_arn(key_id)
    assert ":eu-west-1:" in described["Arn"] and ":111122223333:" in described["Arn"]
    assert described["Description"] == "payments"
    assert described["CreationDate"] == meta["CreationDate"]
    assert kms.describe_key(KeyId=key_arn(key_id))["KeyMetadata"]["KeyId"] == key_id
    assert tags_of(kms, key_id) == {"team": "core"}


def test_tag_untag_and_list_resource_tags(kms):
    key_id = new_key(kms, Tags=[{"TagKey": "team", "TagValue": "core"}])
    kms.tag_resource(
        KeyId=key_id,
        Tags=[{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": "platform"}],
    )
    assert tags_of(kms, key_id) == {"env": "prod", "team": "platform"}
    kms.untag_resource(KeyId=key_id, TagKeys=["team"])
    assert tags_of(kms, key_id) == {"env": "prod"}
    listed = kms.list_resource_tags(KeyId=key_id)
    assert listed["Truncated"] is False


def test_alias_names_the_key_for_describe_and_encrypt(kms):
    key_id = new_key(kms, Description="aliased")
    alias = f"alias/{unique('orders')}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)

    described = kms.describe_key(KeyId=alias)["KeyMetadata"]
    assert described["KeyId"] == key_id
    assert described["Description"] == "aliased"

    aliases = kms.list_aliases(KeyId=key_id)["Aliases"]
    assert [(a["AliasName"], a["TargetKeyId"]) for a in aliases] == [(alias, key_id)]
    assert aliases[0]["AliasArn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:{alias}"

    blob = kms.encrypt(KeyId=alias, Plaintext=b"via alias")["CiphertextBlob"]
    decrypted = kms.decrypt(CiphertextBlob=blob)
    assert decrypted["Plaintext"] == b"via alias"
    assert decrypted["KeyId"] == key_arn(key_id)


def test_encrypt_decrypt_with_encryption_context(kms):
    key_id = new_key(kms)
    context = {"tenant": "acme", "purpose": "test"}
    encrypted = kms.encrypt(KeyId=key_id, Plaintext=b"secret bytes \x00\xff", EncryptionContext=context)
    assert encrypted["KeyId"] == key_arn(key_id)
    assert encrypted["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = encrypted["CiphertextBlob"]
    assert b"secret bytes" not in blob

    decrypted = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert decrypted["Plaintext"] == b"secret bytes \x00\xff"
    assert decrypted["KeyId"] == key_arn(key_id)
    assert decrypted["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"

    for wrong in ({"tenant": "other", "purpose": "test"}, {"tenant": "acme"}, {}):
        with pytest.raises(ClientError) as excinfo:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)
        assert error_code(excinfo) == "InvalidCiphertextException", wrong


def test_generate_data_key_gives_a_working_aes_256_key(kms):
    key_id = new_key(kms)
    generated = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext={"file": "a.txt"})
    assert generated["KeyId"] == key_arn(key_id)
    data_key = generated["Plaintext"]
    assert len(data_key) == 32

    aead = AESGCM(data_key)
    nonce = os.urandom(12)
    sealed = aead.encrypt(nonce, b"envelope payload", b"header")
    assert aead.decrypt(nonce, sealed, b"header") == b"envelope payload"

    decrypted = kms.decrypt(CiphertextBlob=generated["CiphertextBlob"], EncryptionContext={"file": "a.txt"})
    assert decrypted["Plaintext"] == data_key
    assert AESGCM(decrypted["Plaintext"]).decrypt(nonce, sealed, b"header") == b"envelope payload"

    without = kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=16)
    assert "Plaintext" not in without
    assert len(kms.decrypt(CiphertextBlob=without["CiphertextBlob"])["Plaintext"]) == 16

    assert len(kms.generate_random(NumberOfBytes=48)["Plaintext"]) == 48


def test_paginators_walk_every_key_and_alias(kms):
    page_size = 3
    created = {new_key(kms) for _ in range(2 * page_size + 1)}
    aliases = set()
    for i, key_id in enumerate(sorted(created)):
        name = f"alias/{unique(f'page{i}')}"
        kms.create_alias(AliasName=name, TargetKeyId=key_id)
        aliases.add((name, key_id))

    pages = list(kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": page_size}))
    assert len(pages) >= 3
    assert all(len(p["Keys"]) <= page_size for p in pages)
    listed = [k["KeyId"] for p in pages for k in p["Keys"]]
    assert len(listed) == len(set(listed)), "ListKeys returned a key twice"
    assert created <= set(listed)
    assert all(k["KeyArn"] == key_arn(k["KeyId"]) for p in pages for k in p["Keys"])

    pages = list(kms.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": page_size}))
    assert len(pages) >= 3
    listed = [(a["AliasName"], a.get("TargetKeyId")) for p in pages for a in p["Aliases"]]
    assert len(listed) == len(set(listed)), "ListAliases returned an alias twice"
    assert aliases <= set(listed)


def test_bad_enum_value_is_a_validation_exception(kms):
    with pytest.raises(ClientError) as excinfo:
        kms.create_key(KeySpec="NOPE")
    assert error_code(excinfo) == "ValidationException"
    message = excinfo.value.response["Error"]["Message"]
    assert "Value 'NOPE' at 'keySpec'" in message, message

    key_id = new_key(kms)
    with pytest.raises(ClientError) as excinfo:
        kms.generate_data_key(KeyId=key_id, KeySpec="AES_512")
    assert error_code(excinfo) == "ValidationException"


def test_rotation_on_demand_keeps_old_ciphertexts_decryptable(kms):
    key_id = new_key(kms)
    first = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    old = kms.encrypt(KeyId=key_id, Plaintext=b"before rotation")["CiphertextBlob"]

    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == 90
    assert status["KeyId"] == key_arn(key_id)
    assert "NextRotationDate" in status

    assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"] == key_arn(key_id)
    second = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert second != first

    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [(r["KeyMaterialId"], r["RotationType"], r["KeyMaterialState"]) for r in rotations] == [
        (second, "ON_DEMAND", "CURRENT")
    ]
    everything = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in everything] == [
        (first, "NON_CURRENT"),
        (second, "CURRENT"),
    ]

    decrypted = kms.decrypt(CiphertextBlob=old)
    assert decrypted["Plaintext"] == b"before rotation"
    assert decrypted["KeyMaterialId"] == first
    new = kms.encrypt(KeyId=key_id, Plaintext=b"after rotation")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new)["KeyMaterialId"] == second


# --- AWS CLI -----------------------------------------------------------------------------------


def test_cli_create_key_tag_and_alias(aws):
    meta = aws("create-key", "--description", "from the cli", "--tags", "TagKey=origin,TagValue=cli")["KeyMetadata"]
    key_id = meta["KeyId"]
    assert meta["Arn"] == key_arn(key_id)
    assert meta["Description"] == "from the cli"
    assert meta["KeyState"] == "Enabled"

    assert aws("tag-resource", "--key-id", key_id, "--tags", "TagKey=env,TagValue=dev") is None
    tags = aws("list-resource-tags", "--key-id", key_id)["Tags"]
    assert {t["TagKey"]: t["TagValue"] for t in tags} == {"origin": "cli", "env": "dev"}

    alias = f"alias/{unique('cli')}"
    assert aws("create-alias", "--alias-name", alias, "--target-key-id", key_id) is None
    assert aws("describe-key", "--key-id", alias)["KeyMetadata"]["KeyId"] == key_id
    listed = aws("list-aliases", "--key-id", key_id)["Aliases"]
    assert [a["AliasName"] for a in listed] == [alias]


def test_cli_encrypt_fileb_and_decrypt_to_text(aws):
    key_id = aws("create-key")["KeyMetadata"]["KeyId"]
    plaintext = b"binary \x00\x01\x02 from a file\n"
    (aws.dir / "plain.bin").write_bytes(plaintext)

    encrypted = aws(
        "encrypt", "--key-id", key_id, "--plaintext", "fileb://plain.bin", "--encryption-context", "app=cli"
    )
    assert encrypted["KeyId"] == key_arn(key_id)
    (aws.dir / "cipher.bin").write_bytes(base64.b64decode(encrypted["CiphertextBlob"]))

    decrypted = aws(
        "decrypt",
        "--ciphertext-blob",
        "fileb://cipher.bin",
        "--encryption-context",
        "app=cli",
        "--query",
        "Plaintext",
        output="text",
    )
    assert base64.b64decode(decrypted) == plaintext
