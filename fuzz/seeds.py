"""Writes the fuzz targets' seed corpora, fuzz/seeds/<target>/, from real requests.

boto3 drives a Trent through the operations; what goes over the wire (request bodies, whole signed
requests, the policies sent) and what comes back (ciphertext blobs, import tokens) become the
seeds, with a backup of the store. The Trent runs with the identities, root key and key ID the fuzz
targets know (fuzz_targets/sigv4.rs and import.rs), so that the seeds' signatures verify and their
import tokens open there.

From the repository root, with the Python clients' environment (scripts/python-env.sh):
    .venv/bin/python fuzz/seeds.py [TRENT_BIN]    (default target/test-release/trent)
"""

import calendar
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "fuzz" / "seeds"
REGION = "eu-west-1"
ACCOUNT = "111122223333"
# As in fuzz_targets/import.rs.
ROOT_KEY = b"trent fuzz targets root key 0001"
KEY_ID = "0b7e1b6a-3f6e-4c4e-9a0e-6a3d2f1c9b11"
# As in fuzz_targets/sigv4.rs (and a server without a config file).
ROLE_KEY, ROLE_SECRET, ROLE_TOKEN = "ASIAFUZZROLE", "fuzz-role-secret", "fuzz-session-token"
ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}'
KEY_SPECS = json.loads((REPO / "crates/trent-model/model/service-2.json").read_text())["shapes"]["KeySpec"]["enum"]

CONFIG = f"""
[[accounts]]
id = "{ACCOUNT}"

[[accounts.users]]
name = "test"
access_keys = [{{ id = "test", secret = "test" }}]
policies = [{{ name = "all", document = '{ALLOW_ALL}' }}]

[[accounts.roles]]
name = "app"
access_keys = [{{ id = "{ROLE_KEY}", secret = "{ROLE_SECRET}", session_token = "{ROLE_TOKEN}" }}]
policies = [{{ name = "all", document = '{ALLOW_ALL}' }}]

[[seed.keys]]
account = "{ACCOUNT}"
region = "{REGION}"
id = "{KEY_ID}"
material_file = "material.bin"
"""

# A key policy with a condition of every operator family, and the request values they read.
CONDITIONS_POLICY = {
    "Version": "2012-10-17",
    "Id": "conditions",
    "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {
            "Sid": "Conditions",
            "Effect": "Allow",
            "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:role/app", "444455556666"]},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:EncryptionContext:tenant": ["t-1", "t-2"], "kms:CallerAccount": ACCOUNT},
                "ForAllValues:StringLike": {"kms:EncryptionContextKeys": ["tenant", "purpose*"]},
                "StringEqualsIgnoreCase": {"aws:PrincipalType": "assumedrole"},
                "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/*"},
                "Bool": {"aws:SecureTransport": "false"},
                "IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]},
                "DateLessThan": {"aws:CurrentTime": "2999-12-31T23:59:59Z"},
                "NumericLessThanEquals": {"kms:RecipientAttestation:ImageSha384": 1},
                "Null": {"kms:GrantIsForAWSResource": "true"},
            },
        },
        {"Sid": "NoDeletion", "Effect": "Deny", "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": ["kms:ScheduleKeyDeletion", "kms:Disable*"], "NotResource": "arn:aws:kms:*:*:alias/*",
         "Condition": {"ForAnyValue:StringNotEqualsIfExists": {"kms:GrantOperations": "Decrypt"}, "DateGreaterThan": {"aws:EpochTime": "1700000000"}}},
    ],
}
CONDITIONS_REQUEST = "\n".join([
    "kms:Encrypt",
    "kms:EncryptionContext:tenant=t-1",
    "kms:EncryptionContextKeys=tenant",
    "kms:EncryptionContextKeys=purpose",
    f"kms:CallerAccount={ACCOUNT}",
    "aws:PrincipalType=AssumedRole",
    f"aws:PrincipalArn=arn:aws:iam::{ACCOUNT}:role/app",
    "aws:SecureTransport=false",
    "aws:SourceIp=127.0.0.1",
    "aws:CurrentTime=2026-12-04T20:47:46Z",
    "aws:EpochTime=1796417266",
    "kms:GrantOperations=Decrypt",
])


def main():
    binary = Path(sys.argv[1] if len(sys.argv) > 1 else "target/test-release/trent").resolve()
    work = Path(tempfile.mkdtemp(prefix="trent-fuzz-seeds-"))
    try:
        (work / "root.key").write_bytes(ROOT_KEY)
        (work / "root.key").chmod(0o600)
        seeded_material = os.urandom(32)
        (work / "material.bin").write_bytes(seeded_material)
        (work / "trent.toml").write_text(CONFIG)
        server = subprocess.Popen(
            [str(binary), "serve", "--listen", "127.0.0.1:0", "--config", str(work / "trent.toml"), "--data-dir", str(work / "data"),
             "--root-key-file", str(work / "root.key")],
            stdout=subprocess.PIPE, stderr=open(work / "server.log", "wb"), env={**os.environ, "TRENT_ADMIN_LISTEN": "127.0.0.1:0"},
        )
        try:
            url = next(line.decode().split("listening on ")[1].split()[0] for line in server.stdout if b"listening on " in line)
            seeds = drive(url, seeded_material)
            seeds["backup"] = [("store", subprocess.run([str(binary), "backup", "--data-dir", str(work / "data"), "--output", "-"], check=True, capture_output=True).stdout)]
        finally:
            server.terminate()
            server.wait()
        shutil.rmtree(SEEDS, ignore_errors=True)
        for target, files in seeds.items():
            (SEEDS / target).mkdir(parents=True)
            for name, data in files:
                (SEEDS / target / name).write_bytes(data)
            print(f"{target}: {len(files)} seeds")
    finally:
        shutil.rmtree(work)


def drive(url, seeded_material):
    """Runs the operations through boto3; the seeds, by target. `seeded_material` is the material
    of the key KEY_ID."""
    requests = []

    def capture(request, **_):
        requests.append((request.method, request.url, dict(request.headers), request.body or b""))

    def client(**credentials):
        kms = boto3.client("kms", endpoint_url=url, region_name=REGION, config=Config(retries={"max_attempts": 1}),
                           **(credentials or {"aws_access_key_id": "test", "aws_secret_access_key": "test"}))
        kms.meta.events.register("before-send.kms", capture)
        return kms

    kms = client()
    role = client(aws_access_key_id=ROLE_KEY, aws_secret_access_key=ROLE_SECRET, aws_session_token=ROLE_TOKEN)
    ciphertexts = []

    key = kms.create_key(Description="fuzz seeds", Tags=[{"TagKey": "team", "TagValue": "core"}])["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/fuzz", TargetKeyId=key)
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "env", "TagValue": "test"}])
    kms.list_resource_tags(KeyId=key)
    kms.describe_key(KeyId="alias/fuzz")
    kms.list_keys(Limit=5)
    kms.list_aliases(KeyId=key)
    context = {"tenant": "t-1", "purpose": "fuzzing"}
    blob = role.encrypt(KeyId=key, Plaintext=b"a plaintext", EncryptionContext=context)["CiphertextBlob"]
    ciphertexts.append(blob)
    role.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    ciphertexts.append(kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=context, DestinationKeyId="alias/fuzz")["CiphertextBlob"])
    ciphertexts.append(kms.generate_data_key(KeyId=key, KeySpec="AES_256")["CiphertextBlob"])
    ciphertexts.append(kms.generate_data_key_without_plaintext(KeyId=key, NumberOfBytes=64)["CiphertextBlob"])
    pair = kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256")
    ciphertexts.append(pair["PrivateKeyCiphertextBlob"])
    kms.generate_random(NumberOfBytes=16)
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    kms.get_key_rotation_status(KeyId=key)
    grant = kms.create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/app", Operations=["Decrypt"],
                             Constraints={"EncryptionContextSubset": {"tenant": "t-1"}})
    kms.list_grants(KeyId=key)
    kms.revoke_grant(KeyId=key, GrantId=grant["GrantId"])
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(CONDITIONS_POLICY))

    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signature = kms.sign(KeyId=signing, Message=b"a message", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    kms.verify(KeyId=signing, Message=b"a message", Signature=signature, SigningAlgorithm="ECDSA_SHA_256")
    kms.get_public_key(KeyId=signing)
    default_policy = kms.get_key_policy(KeyId=signing, PolicyName="default")["Policy"]
    hmac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    mac = kms.generate_mac(KeyId=hmac, Message=b"a message", MacAlgorithm="HMAC_SHA_256")["Mac"]
    kms.verify_mac(KeyId=hmac, Message=b"a message", Mac=mac, MacAlgorithm="HMAC_SHA_256")
    agreement = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    peer = kms.get_public_key(KeyId=agreement)["PublicKey"]
    kms.derive_shared_secret(KeyId=agreement, KeyAgreementAlgorithm="ECDH", PublicKey=peer)
    kms.schedule_key_deletion(KeyId=hmac, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=hmac)

    imports = []
    for algorithm, spec, material, key_spec in import_cases(seeded_material, pair["PrivateKeyPlaintext"]):
        params = kms.get_parameters_for_import(KeyId=KEY_ID, WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_2048")
        encrypted = wrap(params["PublicKey"], algorithm, material)
        try:
            kms.import_key_material(KeyId=KEY_ID, ImportToken=params["ImportToken"], EncryptedKeyMaterial=encrypted,
                                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        except kms.exceptions.IncorrectKeyMaterialException:
            pass  # material of another key spec than the seeded key's: a seed all the same
        token = params["ImportToken"]
        header = bytes([KEY_SPECS.index(key_spec)]) + len(token).to_bytes(2, "big") + token
        imports.append((f"{algorithm}-{key_spec}", header + encrypted))
        if spec == "raw":
            imports.append((f"material-file-{key_spec}", header + material))

    seeds = {"operation": [], "sigv4": [], "policy": [], "ciphertext": [], "import": imports}
    seen = set()
    for n, (method, request_url, headers, body) in enumerate(requests):
        operation = text(headers["X-Amz-Target"]).split(".", 1)[1]
        if operation in seen:
            continue
        seen.add(operation)
        body = body if isinstance(body, bytes) else body.encode()
        seeds["operation"].append((operation, operation.encode() + b"\n" + body))
        seeds["sigv4"].append((operation, raw_request(method, request_url, headers, body)))
    seeds["policy"] = [
        ("default", default_policy.encode() + b"\0kms:Encrypt"),
        ("conditions", json.dumps(CONDITIONS_POLICY).encode() + b"\0" + CONDITIONS_REQUEST.encode()),
        ("identity", ALLOW_ALL.encode() + b"\0kms:CreateKey"),
    ]
    seeds["ciphertext"] = [(f"blob-{n}", blob) for n, blob in enumerate(ciphertexts)]
    return seeds


def import_cases(symmetric, pkcs8):
    """(wrapping algorithm, how the material goes, material, key spec) of each import seed: the
    seeded key's own material, a PKCS#8 private key and HMAC material. "raw": a second seed carries
    the material as a seeded key's material file holds it."""
    return [
        ("RSAES_OAEP_SHA_256", "raw", symmetric, "SYMMETRIC_DEFAULT"),
        ("RSAES_OAEP_SHA_1", "wrapped", symmetric, "SYMMETRIC_DEFAULT"),
        ("RSAES_PKCS1_V1_5", "wrapped", symmetric, "SYMMETRIC_DEFAULT"),
        ("RSA_AES_KEY_WRAP_SHA_256", "raw", pkcs8, "ECC_NIST_P256"),
        ("RSA_AES_KEY_WRAP_SHA_1", "wrapped", os.urandom(64), "HMAC_256"),
    ]


def wrap(public_der, algorithm, material):
    """`material` encrypted for ImportKeyMaterial, as the AWS developer guide shows it."""
    public = serialization.load_der_public_key(public_der)
    oaep = lambda digest: padding.OAEP(mgf=padding.MGF1(digest), algorithm=digest, label=None)
    if algorithm == "RSAES_PKCS1_V1_5":
        return public.encrypt(material, padding.PKCS1v15())
    if algorithm.startswith("RSAES_OAEP"):
        return public.encrypt(material, oaep(hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()))
    aes_key = os.urandom(32)
    digest = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
    return public.encrypt(aes_key, oaep(digest)) + aes_key_wrap_with_padding(aes_key, material)


def raw_request(method, request_url, headers, body):
    """The request as sent, after a line with the server clock it was signed at (see sigv4.rs)."""
    signed_at = time.strptime(text(headers["X-Amz-Date"]), "%Y%m%dT%H%M%SZ")
    parts = urlsplit(request_url)
    lines = [f"{method} {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1", f"Host: {parts.netloc}"]
    for name, value in headers.items():
        lines.append(f"{name}: {text(value)}")
    lines.append(f"Content-Length: {len(body)}")
    return f"{calendar.timegm(signed_at)}\n".encode() + "\r\n".join(lines).encode() + b"\r\n\r\n" + body


def text(value):
    """A header value, which botocore keeps as str or bytes."""
    return value.decode() if isinstance(value, bytes) else value


if __name__ == "__main__":
    main()
