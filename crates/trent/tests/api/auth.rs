//! Authentication: every `POST /` must carry a valid SigV4 signature (service `kms`) by a known
//! access key; `GET /health` needs none. Codes and messages are those of `src/sigv4.rs`, which
//! follow AWS. Each rejection is checked through raw HTTP (exact headers, so also tampering after
//! signing) and, where a client can make the mistake, through `aws-sdk-kms`. `Server::post` checks
//! `x-amzn-RequestId` on every answer and `Reply::error` the HTTP 400.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_kms::primitives::{DateTime, DateTimeFormat};
use aws_sdk_kms::Client;
use serde_json::json;

use crate::common::*;

const MISSING_TOKEN: &str = "Request is missing Authentication Token";
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
     Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

const ENCRYPT: &str = "TrentService.Encrypt";

/// Asserts the rejection `code` with exactly `message`.
#[track_caller]
fn assert_rejected(reply: &Reply, code: &str, message: &str) {
    assert_eq!(reply.error(&[code]), message, "{reply:?}");
}

/// A rejected request leaves the server serving signed calls.
async fn assert_still_serves(server: &Server) {
    server.call(REGION, "ListKeys", &json!({})).await.ok();
}

/// A client of the default identity's access key with another secret.
fn client_with(server: &Server, access_key: &str, secret: &str) -> Client {
    Client::from_conf(server.sdk_config(REGION, access_key, secret).build())
}

/// An Encrypt request body for a key that exists, so that only authentication can refuse it.
async fn encrypt_body(server: &Server, plaintext: &str) -> Vec<u8> {
    let key =
        server.call(REGION, "CreateKey", &json!({})).await.ok()["KeyMetadata"]["KeyId"].clone();
    serde_json::to_vec(&json!({"KeyId": key, "Plaintext": plaintext})).expect("JSON")
}

/// The value of header `name` in a list of signed headers.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
}

/// `headers` with the value of `name` replaced.
fn with_header(headers: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut changed = headers.to_vec();
    for (n, v) in &mut changed {
        if n.eq_ignore_ascii_case(name) {
            value.clone_into(v);
        }
    }
    changed
}

#[tokio::test]
async fn health_needs_no_signature() {
    let server = Server::start();
    assert_eq!(server.http("GET", "/health", &[], b"").await.status, 200);
}

#[tokio::test]
async fn unsigned_requests_are_rejected() {
    let server = Server::start();
    let reply = server
        .unsigned(Some("TrentService.ListKeys"), JSON_1_1, b"{}")
        .await;
    assert_rejected(&reply, "MissingAuthenticationTokenException", MISSING_TOKEN);
    // Authentication comes before the operation is even looked up.
    let reply = server.unsigned(None, JSON_1_1, b"{}").await;
    assert_rejected(&reply, "MissingAuthenticationTokenException", MISSING_TOKEN);
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn a_wrong_secret_is_a_signature_mismatch() {
    let server = Server::start();
    let signer = Signer {
        secret: "not-the-secret",
        ..Signer::test(REGION)
    };
    let headers = kms_headers(Some("TrentService.ListKeys"), JSON_1_1);
    let reply = server
        .post(&signer.sign(server.url(), &headers, b"{}"), b"{}")
        .await;
    assert_rejected(&reply, "InvalidSignatureException", SIGNATURE_MISMATCH);

    let kms = client_with(&server, ACCESS_KEY, "not-the-secret");
    let message = assert_code(kms.list_keys().send().await, "InvalidSignatureException");
    assert_eq!(message, SIGNATURE_MISMATCH);
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn an_unknown_access_key_is_unrecognized() {
    let server = Server::start();
    let signer = Signer {
        access_key: "AKIAUNKNOWN",
        ..Signer::test(REGION)
    };
    let headers = kms_headers(Some("TrentService.ListKeys"), JSON_1_1);
    let reply = server
        .post(&signer.sign(server.url(), &headers, b"{}"), b"{}")
        .await;
    assert_rejected(&reply, "UnrecognizedClientException", INVALID_TOKEN);

    let kms = client_with(&server, "AKIAUNKNOWN", SECRET_KEY);
    let message = assert_code(kms.list_keys().send().await, "UnrecognizedClientException");
    assert_eq!(message, INVALID_TOKEN);
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn a_body_changed_after_signing_is_a_signature_mismatch() {
    let server = Server::start();
    let signed_body = encrypt_body(&server, "aGVsbG8=").await;
    let sent_body = encrypt_body(&server, "Ynll").await;
    let headers = Signer::test(REGION).sign(
        server.url(),
        &kms_headers(Some(ENCRYPT), JSON_1_1),
        &signed_body,
    );
    assert_rejected(
        &server.post(&headers, &sent_body).await,
        "InvalidSignatureException",
        SIGNATURE_MISMATCH,
    );
    // The body it was signed for goes through.
    assert!(server.post(&headers, &signed_body).await.ok()["CiphertextBlob"].is_string());
}

#[tokio::test]
async fn a_replay_with_another_signed_header_is_a_signature_mismatch() {
    let server = Server::start();
    let body = encrypt_body(&server, "aGVsbG8=").await;
    // Signed one second into the current minute, so that the date one second earlier is still the
    // same day (the credential scope's date must match it, or the error would be another one).
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let time = UNIX_EPOCH + Duration::from_secs(since_epoch / 60 * 60 + 1);
    let signed = Signer {
        time,
        ..Signer::test(REGION)
    }
    .sign(server.url(), &kms_headers(Some(ENCRYPT), JSON_1_1), &body);
    // SigV4 does not prevent replays within the allowed clock skew: the same request goes through.
    assert!(server.post(&signed, &body).await.ok()["CiphertextBlob"].is_string());

    let decrypt = with_header(&signed, "X-Amz-Target", "TrentService.Decrypt");
    assert_rejected(
        &server.post(&decrypt, &body).await,
        "InvalidSignatureException",
        SIGNATURE_MISMATCH,
    );

    let date = header(&signed, "X-Amz-Date");
    let earlier = format!(
        "{}00Z",
        date.strip_suffix("01Z").expect("signed at second 01")
    );
    let redated = with_header(&signed, "X-Amz-Date", &earlier);
    assert_rejected(
        &server.post(&redated, &body).await,
        "InvalidSignatureException",
        SIGNATURE_MISMATCH,
    );

    // The same through the SDK: the target is changed after the client signed the request.
    let kms = Client::from_conf(
        server
            .sdk_config(REGION, ACCESS_KEY, SECRET_KEY)
            .interceptor(RetargetToDecrypt)
            .build(),
    );
    let key = server.call(REGION, "CreateKey", &json!({})).await.ok()["KeyMetadata"]["KeyId"]
        .as_str()
        .expect("KeyId")
        .to_owned();
    let encrypt = kms
        .encrypt()
        .key_id(key)
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"hello"))
        .send()
        .await;
    assert_eq!(
        assert_code(encrypt, "InvalidSignatureException"),
        SIGNATURE_MISMATCH
    );
    assert_still_serves(&server).await;
}

/// A client that leaves an `x-amz-*` header out of its signature is refused, whatever the header:
/// an unsigned `X-Amz-Target` would let a request signed as DescribeKey be resent as DisableKey.
#[tokio::test]
async fn every_x_amz_header_must_be_signed() {
    let server = Server::start();
    let key = server.call(REGION, "CreateKey", &json!({})).await.ok()["KeyMetadata"]["KeyId"]
        .as_str()
        .expect("KeyId")
        .to_owned();
    let body = serde_json::to_vec(&json!({"KeyId": key})).expect("JSON");
    let describe = kms_headers(Some("TrentService.DescribeKey"), JSON_1_1);
    let must_be_signed =
        |name: &str| format!("'{name}' must be a 'SignedHeader' in the AWS Authorization.");

    let target_unsigned = Signer {
        unsigned: &["x-amz-target"],
        ..Signer::test(REGION)
    }
    .sign(server.url(), &describe, &body);
    let disable = with_header(&target_unsigned, "X-Amz-Target", "TrentService.DisableKey");
    for headers in [&disable, &target_unsigned] {
        let reply = server.post(headers, &body).await;
        assert_rejected(
            &reply,
            "IncompleteSignatureException",
            &must_be_signed("x-amz-target"),
        );
    }
    let state = server
        .call(REGION, "DescribeKey", &json!({"KeyId": key}))
        .await
        .ok();
    assert_eq!(state["KeyMetadata"]["KeyState"], "Enabled");

    let date_unsigned = Signer {
        unsigned: &["x-amz-date"],
        ..Signer::test(REGION)
    }
    .sign(server.url(), &describe, &body);
    let reply = server.post(&date_unsigned, &body).await;
    assert_rejected(
        &reply,
        "IncompleteSignatureException",
        &must_be_signed("x-amz-date"),
    );

    for (name, value) in [
        ("x-amz-security-token", "a token"),
        ("x-amz-user-agent", "a client"),
    ] {
        let mut headers = describe.clone();
        headers.push((name.to_owned(), value.to_owned()));
        let unsigned = [name];
        let signer = Signer {
            unsigned: &unsigned,
            ..Signer::test(REGION)
        };
        let reply = server
            .post(&signer.sign(server.url(), &headers, &body), &body)
            .await;
        assert_rejected(
            &reply,
            "IncompleteSignatureException",
            &must_be_signed(name),
        );
    }
    // Signed, an extra x-amz-* header is no problem.
    let mut headers = describe.clone();
    headers.push(("x-amz-user-agent".to_owned(), "a client".to_owned()));
    let signed = Signer::test(REGION).sign(server.url(), &headers, &body);
    assert_eq!(
        server.post(&signed, &body).await.ok()["KeyMetadata"]["KeyId"],
        key.as_str()
    );
}

/// Changes `X-Amz-Target` of a request once it is signed, as a man in the middle would.
#[derive(Debug)]
struct RetargetToDecrypt;

impl Intercept for RetargetToDecrypt {
    fn name(&self) -> &'static str {
        "RetargetToDecrypt"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_kms::error::BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-amz-target", "TrentService.Decrypt");
        Ok(())
    }
}

#[tokio::test]
async fn a_request_signed_20_minutes_ago_has_expired() {
    let server = Server::start();
    let signed_at = SystemTime::now() - Duration::from_secs(20 * 60);
    let headers = Signer {
        time: signed_at,
        ..Signer::test(REGION)
    }
    .sign(
        server.url(),
        &kms_headers(Some("TrentService.ListKeys"), JSON_1_1),
        b"{}",
    );
    let before = now();
    let reply = server.post(&headers, b"{}").await;
    let after = now();
    let message = reply.error(&["InvalidSignatureException"]);
    // The message names the server's clock, which is known only to the second it read it in.
    let signed = header(&headers, "X-Amz-Date");
    let expected: Vec<String> = (before..=after)
        .map(|now| {
            format!(
                "Signature expired: {signed} is now earlier than {} ({} - 15 min.)",
                amz_date(now - 15 * 60),
                amz_date(now)
            )
        })
        .collect();
    assert!(
        expected.contains(&message),
        "{message:?} is none of {expected:?}"
    );
    assert_still_serves(&server).await;
}

/// Epoch seconds in the `X-Amz-Date` form, `YYYYMMDDTHHMMSSZ`.
fn amz_date(secs: i64) -> String {
    let iso = DateTime::from_secs(secs)
        .fmt(DateTimeFormat::DateTime)
        .expect("format date");
    iso.replace(['-', ':'], "")
}

#[tokio::test]
async fn an_authorization_without_signature_is_incomplete() {
    let server = Server::start();
    let headers = Signer::test(REGION).sign(
        server.url(),
        &kms_headers(Some("TrentService.ListKeys"), JSON_1_1),
        b"{}",
    );
    let authorization = header(&headers, "Authorization");
    let (without_signature, _) = authorization
        .split_once(", Signature=")
        .expect("a signature");
    let reply = server
        .post(
            &with_header(&headers, "Authorization", without_signature),
            b"{}",
        )
        .await;
    let expected = format!(
        "Authorization header requires 'Signature' parameter. Authorization={without_signature}"
    );
    assert_rejected(&reply, "IncompleteSignatureException", &expected);
    assert_still_serves(&server).await;
}

/// Without a config file only the well-known test/test credentials exist, so Trent refuses any
/// address but loopback, and says why.
#[test]
fn without_a_config_trent_listens_on_loopback_only() {
    for address in ["0.0.0.0:0", "[::]:0"] {
        let (status, stderr) = refused_start(&["--listen", address]);
        assert!(!status.success(), "{address}: {status}");
        assert!(
            stderr.contains("refusing to listen on") && stderr.contains("config file"),
            "{address}: {stderr}"
        );
    }
}
