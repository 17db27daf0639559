"""The audit log and the metrics through boto3 and the AWS CLI: each call is one CloudTrail-shaped
line naming the client, no plaintext is written, `trent audit verify` finds the chain intact, and
/metrics, read with prometheus_client's OpenMetrics parser, counts exactly the calls made."""

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import ADMIN_URLS, REGION, REPO, aws_cli, aws_cli_env, make_client, running_server

PLAINTEXT = b"audited plaintext that must never be written"


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    log = tmp_path_factory.mktemp("audit") / "audit.log"
    with running_server(tmp_path_factory, "audited", ["--audit-log", str(log)]) as url:
        yield url, log


def run_cli(url, tmp_path, *args):
    cmd = [str(aws_cli()), "kms", *args, "--endpoint-url", url, "--region", REGION, "--output", "json"]
    done = subprocess.run(cmd, env=aws_cli_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def samples(text, family):
    """The samples of one metric family as {labels tuple: value}."""
    for metric in text_string_to_metric_families(text):
        if metric.name == family:
            return {tuple(sorted(s.labels.items())): s.value for s in metric.samples if s.name == family + "_total" or s.name == family}
    raise AssertionError(f"no {family} in /metrics")


def test_calls_are_audited_and_counted(audited, tmp_path):
    url, log = audited
    kms = make_client(url)
    key = kms.create_key(Description="audited by boto3")["KeyMetadata"]["KeyId"]
    for _ in range(3):
        kms.encrypt(KeyId=key, Plaintext=PLAINTEXT, EncryptionContext={"purpose": "audit"})
    with pytest.raises(ClientError) as missing:
        kms.describe_key(KeyId="1234abcd-12ab-34cd-56ef-1234567890ab")
    assert missing.value.response["Error"]["Code"] == "NotFoundException"
    listed = run_cli(url, tmp_path, "list-keys")
    assert [k["KeyId"] for k in listed["Keys"]] == [key]

    content = log.read_bytes()
    assert PLAINTEXT not in content
    events = [json.loads(line) for line in content.decode().splitlines()]
    encrypts = [e for e in events if e.get("eventName") == "Encrypt"]
    assert len(encrypts) == 3
    for event in encrypts:
        assert event["userAgent"].startswith("Boto3/")
        assert event["requestParameters"] == {"keyId": key, "encryptionContext": {"purpose": "audit"}}
        assert event["resources"][0]["ARN"].endswith(key)
        assert event["readOnly"] is True
    (cli_call,) = [e for e in events if e.get("eventName") == "ListKeys"]
    assert cli_call["userAgent"].startswith("aws-cli/")
    (missing_event,) = [e for e in events if e.get("eventName") == "DescribeKey"]
    assert missing_event["errorCode"] == "NotFoundException"

    binary = Path(os.environ.get("TRENT_BIN", "target/release/trent"))
    if not binary.is_absolute():
        binary = REPO / binary
    verified = subprocess.run([str(binary), "audit", "verify", str(log)], capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stderr
    assert "chain intact" in verified.stdout

    admin = ADMIN_URLS[url]
    with urllib.request.urlopen(admin + "/metrics", timeout=30) as response:
        assert response.status == 200
        text = response.read().decode()
    requests = samples(text, "trent_requests")
    assert requests[(("code", ""), ("operation", "Encrypt"), ("outcome", "success"))] == 3
    assert requests[(("code", ""), ("operation", "CreateKey"), ("outcome", "success"))] == 1
    assert requests[(("code", ""), ("operation", "ListKeys"), ("outcome", "success"))] == 1
    assert requests[(("code", "NotFoundException"), ("operation", "DescribeKey"), ("outcome", "error"))] == 1
    keys = samples(text, "trent_keys")
    assert keys == {(("spec", "SYMMETRIC_DEFAULT"), ("state", "Enabled")): 1}
    lines = samples(text, "trent_audit_lines")
    assert lines[(("result", "written"),)] >= 6
    for path in ("/health/live", "/health/ready"):
        with urllib.request.urlopen(admin + path, timeout=30) as response:
            assert response.status == 200
