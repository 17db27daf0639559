"""Authentication through the real clients: boto3 and the AWS CLI sign every request (SigV4,
service `kms`), and Trent refuses a request whose signature is wrong, stale or by an unknown key.

Codes and messages are those of crates/trent/src/sigv4.rs, which follow AWS.
"""

import base64
import datetime
import json
import re
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.httpsession import URLLib3Session

from conftest import REGION, make_client

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."


def rejection(excinfo):
    """(code, message, HTTP status) of a ClientError."""
    response = excinfo.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_wrong_secret_is_a_signature_mismatch(server, kms):
    with pytest.raises(ClientError) as excinfo:
        make_client(server, secret_key="not-the-secret").list_keys()
    assert rejection(excinfo) == ("InvalidSignatureException", SIGNATURE_MISMATCH, 400)
    kms.list_keys()  # the server keeps serving


def test_unknown_access_key_is_unrecognized(server, kms):
    with pytest.raises(ClientError) as excinfo:
        make_client(server, access_key="AKIAUNKNOWN").list_keys()
    assert rejection(excinfo) == ("UnrecognizedClientException", INVALID_TOKEN, 400)
    kms.list_keys()


def tampering_client(server, change):
    """A client whose requests are changed by `change(request)` after they were signed."""
    client = make_client(server)
    # before-send sees the prepared request, which is already signed.
    client.meta.events.register("before-send.kms.Encrypt", lambda request, **_: change(request))
    return client


def test_body_changed_after_signing_is_a_signature_mismatch(server, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]

    def change_plaintext(request):
        # Same length, so that Content-Length still holds: only the signature can tell.
        body = request.body.replace(base64.b64encode(b"hello"), base64.b64encode(b"HELLO"))
        assert body != request.body
        request.body = body

    with pytest.raises(ClientError) as excinfo:
        tampering_client(server, change_plaintext).encrypt(KeyId=key_id, Plaintext=b"hello")
    assert rejection(excinfo) == ("InvalidSignatureException", SIGNATURE_MISMATCH, 400)
    kms.encrypt(KeyId=key_id, Plaintext=b"hello")


def test_replay_with_another_target_is_a_signature_mismatch(server, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]

    def retarget(request):
        request.headers["X-Amz-Target"] = "TrentService.Decrypt"

    with pytest.raises(ClientError) as excinfo:
        tampering_client(server, retarget).encrypt(KeyId=key_id, Plaintext=b"hello")
    assert rejection(excinfo) == ("InvalidSignatureException", SIGNATURE_MISMATCH, 400)
    kms.encrypt(KeyId=key_id, Plaintext=b"hello")


def send_signed_at(server, when, target="TrentService.ListKeys", body=b"{}"):
    """Signs a KMS call with the default identity as if the clock said `when` (naive UTC), sends
    it and returns (status, headers, JSON body, the X-Amz-Date it was signed with)."""
    request = AWSRequest(
        method="POST",
        url=server + "/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target},
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        SigV4Auth(Credentials("test", "test"), "kms", REGION).add_auth(request)
    response = URLLib3Session().send(request.prepare())
    return response.status_code, response.headers, json.loads(response.content), request.headers["X-Amz-Date"]


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)


def test_old_signature_has_expired(server):
    status, _, body, _ = send_signed_at(server, utc_now())
    assert status == 200, body  # the same request signed now goes through

    before = utc_now()
    status, headers, body, signed = send_signed_at(server, before - datetime.timedelta(minutes=20))
    after = utc_now() + datetime.timedelta(seconds=1)
    assert status == 400, body
    assert headers.get("x-amzn-RequestId")
    assert body["__type"] == "InvalidSignatureException", body
    # "Signature expired: <signed> is now earlier than <now - 15 min> (<now> - 15 min.)", with
    # the server's clock read somewhere between `before` and `after`.
    match = re.fullmatch(r"Signature expired: (\w+) is now earlier than (\w+) \((\w+) - 15 min\.\)", body["message"])
    assert match, body["message"]
    parse = lambda text: datetime.datetime.strptime(text, "%Y%m%dT%H%M%SZ")  # noqa: E731
    assert match[1] == signed
    assert parse(match[3]) - parse(match[2]) == datetime.timedelta(minutes=15)
    assert before <= parse(match[3]) <= after, body["message"]


def test_cli_with_a_wrong_secret_fails(aws):
    stderr = aws.failing("list-keys", AWS_SECRET_ACCESS_KEY="not-the-secret")
    assert "An error occurred (InvalidSignatureException) when calling the ListKeys operation: " + SIGNATURE_MISMATCH in stderr, stderr
    assert aws("list-keys") is not None  # the right secret still works
