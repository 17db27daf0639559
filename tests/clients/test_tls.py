"""TLS (`--tls-cert`, `--tls-key`) through boto3 (`verify=`) and the AWS CLI (`--ca-bundle`), against a
test CA made with the openssl CLI: a client that trusts the CA is served; one that trusts another CA
is refused before it sends anything."""

import json
import subprocess

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import SSLError

from conftest import REGION, aws_cli, aws_cli_env, running_server


def openssl(*args):
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def make_ca(directory, name):
    key, pem = directory / f"{name}-ca.key", directory / f"{name}-ca.pem"
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
        "-subj", f"/CN=Trent test CA {name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", str(key), "-out", str(pem),
    )
    return key, pem


def server_pair(directory, ca_key, ca_pem):
    cert, key, request, ext = (directory / f"server.{s}" for s in ("pem", "key", "csr", "ext"))
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
        "-keyout", str(key), "-out", str(request),
    )
    openssl(
        "x509", "-req", "-in", str(request), "-days", "2", "-CA", str(ca_pem), "-CAkey", str(ca_key),
        "-CAcreateserial", "-extfile", str(ext), "-out", str(cert),
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    ca_key, ca_pem = make_ca(directory, "one")
    _, other_pem = make_ca(directory, "two")
    cert, key = server_pair(directory, ca_key, ca_pem)
    with running_server(tmp_path_factory, "tls", ["--tls-cert", str(cert), "--tls-key", str(key)]) as url:
        yield url, ca_pem, other_pem


def client(url, ca_bundle):
    return boto3.session.Session().client(
        "kms",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        verify=str(ca_bundle),
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_boto3_is_served_over_tls_only_when_it_trusts_the_ca(tls_server):
    url, ca, other = tls_server
    assert url.startswith("https://127.0.0.1:")
    kms = client(url, ca)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"over TLS")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"over TLS"
    with pytest.raises(SSLError):
        client(url, other).list_keys()


def test_aws_cli_with_a_ca_bundle(tls_server, tmp_path):
    url, ca, other = tls_server
    env, cli = aws_cli_env(tmp_path), aws_cli()

    def run(bundle):
        cmd = [str(cli), "kms", "list-keys", "--endpoint-url", url, "--region", REGION, "--ca-bundle", str(bundle)]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)

    trusted = run(ca)
    assert trusted.returncode == 0, trusted.stderr
    assert "Keys" in json.loads(trusted.stdout)
    refused = run(other)
    assert refused.returncode != 0
    assert "SSL" in refused.stderr or "certificate" in refused.stderr, refused.stderr
