//! Authentication: every `POST /` must carry a valid SigV4 signature (service `kms`) by a known
//! access key; `GET /health` needs none. Codes and messages are those of `src/sigv4.rs`, which
//! follow AWS. Every way of forging or breaking a signature is one row of one table, sent through
//! raw HTTP (exact headers, so also tampering after signing) and, where a client can make the
//! mistake, through `aws-sdk-kms`. `Server::post` checks `x-amzn-RequestId` on every answer and
//! `Reply::error` the HTTP 400.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_kms::primitives::{DateTime, DateTimeFormat};
use aws_sdk_kms::types::KeyState;
use aws_sdk_kms::Client;
use serde_json::json;

use crate::common::*;

const MISSING_TOKEN: &str = "Request is missing Authentication Token";
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
     Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

const ADMIN_KEY: &str = "AKIDAUTHADMIN";
const ADMIN_SECRET: &str = "auth-admin-secret";
/// Temporary credentials: a role's access key, which is valid only with its session token.
const ROLE_KEY: &str = "ASIAAUTHROLE";
const ROLE_SECRET: &str = "auth-role-secret";
const ROLE_TOKEN: &str = "auth-role-session-token";

const DISABLE_KEY: &str = "TrentService.DisableKey";
const DESCRIBE_KEY: &str = "TrentService.DescribeKey";

fn config_toml() -> String {
    format!(
        r#"
[[accounts]]
id = "{ACCOUNT}"

[[accounts.users]]
name = "admin"
access_keys = [{{ id = "{ADMIN_KEY}", secret = "{ADMIN_SECRET}" }}]
policies = [{{ name = "all", document = '{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}' }}]

[[accounts.roles]]
name = "app"
access_keys = [{{ id = "{ROLE_KEY}", secret = "{ROLE_SECRET}", session_token = "{ROLE_TOKEN}" }}]
policies = [{{ name = "describe", document = '{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*"}}]}}' }}]
"#
    )
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

/// `headers` without `name`.
fn without_header(headers: &[(String, String)], name: &str) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
        .cloned()
        .collect()
}

/// `headers` with `(name, value)` added.
fn plus_header(headers: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut added = headers.to_vec();
    added.push((name.to_owned(), value.to_owned()));
    added
}

/// `headers` with the `Authorization` header's `from` replaced by `to`.
fn edit_authorization(headers: &[(String, String)], from: &str, to: &str) -> Vec<(String, String)> {
    let authorization = header(headers, "Authorization");
    assert!(
        authorization.contains(from),
        "{from} not in {authorization}"
    );
    with_header(
        headers,
        "Authorization",
        &authorization.replacen(from, to, 1),
    )
}

fn must_be_signed(name: &str) -> String {
    format!("'{name}' must be a 'SignedHeader' in the AWS Authorization.")
}

/// What the message of a refusal must be.
enum Says {
    Exactly(String),
    /// A request signed at `X-Amz-Date` `signed`, 15 minutes or more before the server's clock.
    Expired {
        signed: String,
    },
    /// … or after it.
    NotYetCurrent {
        signed: String,
    },
}

impl Says {
    /// Asserts `message`, of an answer the server gave between epoch seconds `from` and `to` (its
    /// clock, which the skew messages name, is known only to the second it read it in).
    #[track_caller]
    fn check(&self, what: &str, message: &str, from: i64, to: i64) {
        let expected: Vec<String> = match self {
            Says::Exactly(text) => vec![text.clone()],
            Says::Expired { signed } => (from..=to)
                .map(|now| {
                    format!(
                        "Signature expired: {signed} is now earlier than {} ({} - 15 min.)",
                        amz_date(now - 15 * 60),
                        amz_date(now)
                    )
                })
                .collect(),
            Says::NotYetCurrent { signed } => (from..=to)
                .map(|now| {
                    format!(
                        "Signature not yet current: {signed} is still later than {} ({} + 15 min.)",
                        amz_date(now + 15 * 60),
                        amz_date(now)
                    )
                })
                .collect(),
        };
        assert!(
            expected.iter().any(|e| e == message),
            "{what}: {message:?} is none of {expected:?}"
        );
    }
}

/// Epoch seconds in the `X-Amz-Date` form, `YYYYMMDDTHHMMSSZ`.
fn amz_date(secs: i64) -> String {
    let iso = DateTime::from_secs(secs)
        .fmt(DateTimeFormat::DateTime)
        .expect("format date");
    iso.replace(['-', ':'], "")
}

#[tokio::test]
async fn health_needs_no_signature() {
    let server = Server::start();
    assert_eq!(server.http("GET", "/health", &[], b"").await.status, 200);
}

/// Every way of forging or breaking a SigV4 signature, each a DisableKey of one key: each is
/// refused with AWS's code and message, the key stays enabled, and the genuine request, sent
/// afterwards, disables it — so that each row would have changed something, had it been accepted.
#[tokio::test]
async fn every_forged_or_broken_signature_is_refused_and_changes_nothing() {
    let server = Server::start_with_config(&config_toml());
    let admin = server.client_as(REGION, ADMIN_KEY, ADMIN_SECRET);
    let key = create_key(&admin).await.key_id;
    let other_key = create_key(&admin).await.key_id;
    let url = server.url();
    let body = serde_json::to_vec(&json!({ "KeyId": key })).expect("JSON");
    let other_body = serde_json::to_vec(&json!({ "KeyId": other_key })).expect("JSON");
    let disable = kms_headers(Some(DISABLE_KEY), JSON_1_1);
    let describe_headers = kms_headers(Some(DESCRIBE_KEY), JSON_1_1);
    let admin_signer = Signer {
        access_key: ADMIN_KEY,
        secret: ADMIN_SECRET,
        ..Signer::test(REGION)
    };
    let role_signer = Signer {
        access_key: ROLE_KEY,
        secret: ROLE_SECRET,
        ..admin_signer
    };
    let genuine = admin_signer.sign(url, &disable, &body);
    let exactly = |text: &str| Says::Exactly(text.to_owned());

    let signed_at = |time: SystemTime| {
        Signer {
            time,
            ..admin_signer
        }
        .sign(url, &disable, &body)
    };
    // Signed at second 1 of the current minute, so that the date one second earlier is the same
    // day (the credential scope's date must match it, or the error would be another one).
    let at_second_1 = signed_at(UNIX_EPOCH + Duration::from_secs((now() / 60 * 60 + 1) as u64));
    let at_second_0 = format!(
        "{}00Z",
        header(&at_second_1, "X-Amz-Date")
            .strip_suffix("01Z")
            .expect("signed at second 01")
    );
    let sixteen_minutes = Duration::from_secs(16 * 60);
    let past = signed_at(SystemTime::now() - sixteen_minutes);
    let future = signed_at(SystemTime::now() + sixteen_minutes);
    let date = &header(&genuine, "X-Amz-Date")[..8];
    let other_day = "20150830";
    let with_token = plus_header(&disable, "X-Amz-Security-Token", ROLE_TOKEN);
    let without_signature = header(&genuine, "Authorization")
        .split_once(", Signature=")
        .expect("a signature")
        .0
        .to_owned();

    let forgeries = vec![
        (
            "no signature at all",
            disable.clone(),
            "MissingAuthenticationTokenException",
            exactly(MISSING_TOKEN),
        ),
        // Authentication comes before the operation is even looked up.
        (
            "no signature, no X-Amz-Target",
            kms_headers(None, JSON_1_1),
            "MissingAuthenticationTokenException",
            exactly(MISSING_TOKEN),
        ),
        (
            "a wrong secret",
            Signer {
                secret: "not-the-secret",
                ..admin_signer
            }
            .sign(url, &disable, &body),
            "InvalidSignatureException",
            exactly(SIGNATURE_MISMATCH),
        ),
        (
            "an unknown access key",
            Signer {
                access_key: "AKIDUNKNOWN",
                ..admin_signer
            }
            .sign(url, &disable, &body),
            "UnrecognizedClientException",
            exactly(INVALID_TOKEN),
        ),
        (
            "a body changed after signing",
            admin_signer.sign(url, &disable, &other_body),
            "InvalidSignatureException",
            exactly(SIGNATURE_MISMATCH),
        ),
        (
            "X-Amz-Target changed after signing (DescribeKey sent as DisableKey)",
            with_header(&admin_signer.sign(url, &describe_headers, &body), "X-Amz-Target", DISABLE_KEY),
            "InvalidSignatureException",
            exactly(SIGNATURE_MISMATCH),
        ),
        (
            "X-Amz-Date changed after signing",
            with_header(&at_second_1, "X-Amz-Date", &at_second_0),
            "InvalidSignatureException",
            exactly(SIGNATURE_MISMATCH),
        ),
        (
            "signed for another host",
            admin_signer.sign("http://kms.eu-west-1.amazonaws.com", &disable, &body),
            "InvalidSignatureException",
            exactly(SIGNATURE_MISMATCH),
        ),
        (
            "signed 16 minutes ago",
            past.clone(),
            "InvalidSignatureException",
            Says::Expired {
                signed: header(&past, "X-Amz-Date").to_owned(),
            },
        ),
        (
            "signed 16 minutes ahead",
            future.clone(),
            "InvalidSignatureException",
            Says::NotYetCurrent {
                signed: header(&future, "X-Amz-Date").to_owned(),
            },
        ),
        (
            "a credential scope of another service",
            edit_authorization(&genuine, "/kms/aws4_request", "/s3/aws4_request"),
            "InvalidSignatureException",
            exactly("Credential should be scoped to correct service: 'kms'."),
        ),
        (
            "a credential scope of another region than signed for",
            edit_authorization(&genuine, "/eu-west-1/", "/us-east-1/"),
            "InvalidSignatureException",
            exactly(SIGNATURE_MISMATCH),
        ),
        (
            "a credential scope of no region",
            Signer {
                region: "moon",
                ..admin_signer
            }
            .sign(url, &disable, &body),
            "InvalidSignatureException",
            exactly("Credential should be scoped to a valid region, not 'moon'."),
        ),
        (
            "a credential scope of another day",
            edit_authorization(&genuine, &format!("/{date}/"), &format!("/{other_day}/")),
            "InvalidSignatureException",
            Says::Exactly(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
                 '{other_day}' != '{date}', from '{}'.",
                header(&genuine, "X-Amz-Date")
            )),
        ),
        (
            "a session token for an access key that has none",
            admin_signer.sign(url, &with_token, &body),
            "UnrecognizedClientException",
            exactly(INVALID_TOKEN),
        ),
        (
            "temporary credentials with a wrong session token",
            role_signer.sign(
                url,
                &plus_header(&disable, "X-Amz-Security-Token", "another token"),
                &body,
            ),
            "UnrecognizedClientException",
            exactly(INVALID_TOKEN),
        ),
        (
            "temporary credentials without their session token",
            role_signer.sign(url, &disable, &body),
            "UnrecognizedClientException",
            exactly(INVALID_TOKEN),
        ),
        (
            "an unsigned session token",
            Signer {
                unsigned: &["x-amz-security-token"],
                ..role_signer
            }
            .sign(url, &with_token, &body),
            "IncompleteSignatureException",
            Says::Exactly(must_be_signed("x-amz-security-token")),
        ),
        // Unsigned, X-Amz-Target would let a request signed as DescribeKey be resent as DisableKey.
        (
            "an unsigned X-Amz-Target",
            Signer {
                unsigned: &["x-amz-target"],
                ..admin_signer
            }
            .sign(url, &disable, &body),
            "IncompleteSignatureException",
            Says::Exactly(must_be_signed("x-amz-target")),
        ),
        (
            "an unsigned X-Amz-Date",
            Signer {
                unsigned: &["x-amz-date"],
                ..admin_signer
            }
            .sign(url, &disable, &body),
            "IncompleteSignatureException",
            Says::Exactly(must_be_signed("x-amz-date")),
        ),
        (
            "an unsigned x-amz-* header of no meaning",
            Signer {
                unsigned: &["x-amz-user-agent"],
                ..admin_signer
            }
            .sign(url, &plus_header(&disable, "x-amz-user-agent", "a client"), &body),
            "IncompleteSignatureException",
            Says::Exactly(must_be_signed("x-amz-user-agent")),
        ),
        (
            "an unsigned Host",
            edit_authorization(&genuine, "SignedHeaders=content-type;host;", "SignedHeaders=content-type;"),
            "InvalidSignatureException",
            exactly("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."),
        ),
        (
            "no date",
            without_header(&genuine, "X-Amz-Date"),
            "IncompleteSignatureException",
            Says::Exactly(format!(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={}",
                header(&genuine, "Authorization")
            )),
        ),
        (
            "an Authorization without its signature",
            with_header(&genuine, "Authorization", &without_signature),
            "IncompleteSignatureException",
            Says::Exactly(format!(
                "Authorization header requires 'Signature' parameter. Authorization={without_signature}"
            )),
        ),
        (
            "an x-amz-content-sha256 that is not the body's",
            admin_signer.sign(url, &plus_header(&disable, "x-amz-content-sha256", &"0".repeat(64)), &body),
            "InvalidSignatureException",
            exactly("The provided 'x-amz-content-sha256' header does not match what was computed."),
        ),
    ];
    for (what, headers, code, says) in &forgeries {
        let before = now();
        let reply = server.post(headers, &body).await;
        let message = reply.error(&[code]);
        says.check(what, &message, before, now());
    }

    // The mistakes a client can make itself, through the SDK.
    let sdk_forgeries: [(&str, Client, &str, &str); 4] = [
        (
            "a wrong secret",
            server.client_as(REGION, ADMIN_KEY, "not-the-secret"),
            "InvalidSignatureException",
            SIGNATURE_MISMATCH,
        ),
        (
            "an unknown access key",
            server.client_as(REGION, "AKIDUNKNOWN", ADMIN_SECRET),
            "UnrecognizedClientException",
            INVALID_TOKEN,
        ),
        (
            "temporary credentials with a wrong session token",
            server.client_with_token(REGION, ROLE_KEY, ROLE_SECRET, "another token"),
            "UnrecognizedClientException",
            INVALID_TOKEN,
        ),
        (
            "X-Amz-Target changed after the SDK signed (a man in the middle)",
            Client::from_conf(
                server
                    .sdk_config(REGION, ADMIN_KEY, ADMIN_SECRET)
                    .interceptor(Retarget(DISABLE_KEY))
                    .build(),
            ),
            "InvalidSignatureException",
            SIGNATURE_MISMATCH,
        ),
    ];
    for (what, kms, code, expected) in sdk_forgeries {
        let message = match what.starts_with("X-Amz-Target") {
            true => assert_code(kms.describe_key().key_id(&key).send().await, code),
            false => assert_code(kms.disable_key().key_id(&key).send().await, code),
        };
        assert_eq!(message, expected, "{what}");
    }

    assert_eq!(
        describe(&admin, &key).await.key_state(),
        Some(&KeyState::Enabled)
    );
    assert_eq!(
        describe(&admin, &other_key).await.key_state(),
        Some(&KeyState::Enabled)
    );
    // The genuine requests the rows were made from: accepted, the DisableKey even when replayed
    // (SigV4 does not prevent replays within the allowed clock skew).
    let role = server.client_with_token(REGION, ROLE_KEY, ROLE_SECRET, ROLE_TOKEN);
    assert_eq!(describe(&role, &key).await.key_id(), key);
    server.post(&at_second_1, &body).await.ok();
    server.post(&genuine, &body).await.ok();
    assert_eq!(
        describe(&admin, &key).await.key_state(),
        Some(&KeyState::Disabled)
    );
}

/// Changes `X-Amz-Target` of a request once it is signed, as a man in the middle would.
#[derive(Debug)]
struct Retarget(&'static str);

impl Intercept for Retarget {
    fn name(&self) -> &'static str {
        "Retarget"
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
            .insert("x-amz-target", self.0);
        Ok(())
    }
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
