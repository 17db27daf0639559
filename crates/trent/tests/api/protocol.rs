//! The AWS JSON 1.1 protocol as seen on the wire, through raw HTTP. Requests are signed by the
//! default identity for `REGION`, the region they act in (authentication itself is `auth.rs`'s
//! subject). `Server::raw` itself checks `x-amzn-RequestId` on every answer.

use std::collections::BTreeSet;

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn health_answers_200() {
    let server = Server::start();
    assert_eq!(server.http("GET", "/health", &[], b"").await.status, 200);
}

#[tokio::test]
async fn responses_carry_request_ids_and_aws_json() {
    let server = Server::start();
    let success = server.call(REGION, "ListKeys", &json!({})).await;
    assert_eq!(success.ok()["Keys"], json!([]));
    let failure = server
        .call(REGION, "DescribeKey", &json!({"KeyId": MISSING_KEY}))
        .await;
    let message = failure.error(&["NotFoundException"]);
    assert_eq!(
        message,
        format!("Key '{}' does not exist", key_arn(REGION, MISSING_KEY))
    );

    for reply in [&success, &failure] {
        assert_eq!(reply.header("Content-Type"), Some(JSON_1_1));
    }
    assert_ne!(
        success.header("x-amzn-RequestId"),
        failure.header("x-amzn-RequestId"),
        "request IDs are unique"
    );
}

#[tokio::test]
async fn unknown_operations_are_rejected() {
    let server = Server::start();
    for target in ["TrentService.Nope", "KMS.ListKeys"] {
        let reply = server.raw(REGION, Some(target), JSON_1_1, b"{}").await;
        reply.error(&["UnknownOperationException"]);
    }
    let reply = server.raw(REGION, None, JSON_1_1, b"{}").await;
    assert_eq!(reply.status, 400, "no X-Amz-Target: {reply:?}");
}

#[tokio::test]
async fn every_operation_of_the_model_is_served() {
    let server = Server::start();
    for op in trent_model::OperationName::ALL.map(trent_model::OperationName::as_str) {
        // An empty request gets what AWS gives it: a result, or a validation or lookup error —
        // never an unknown operation, a refusal to implement, or a server error.
        let reply = server.call(REGION, op, &json!({})).await;
        if reply.status == 200 {
            continue;
        }
        let body = reply.json();
        let code = body["__type"].as_str().unwrap_or_default();
        assert_eq!(reply.status, 400, "{op}: {body}");
        assert_ne!(code, "UnknownOperationException", "{op}: {body}");
        assert!(
            code != "UnsupportedOperationException" || op == "CreateCustomKeyStore",
            "{op}: {body}"
        );
    }
}

#[tokio::test]
async fn malformed_bodies_are_client_errors() {
    let server = Server::start();
    let deep = format!(
        "{{\"KeyId\": {}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let serialization: &[&str] = &["SerializationException"];
    let number: &[&str] = &["SerializationException", "ValidationException"];
    let cases: [(&str, &[u8], &[&str]); 10] = [
        ("DescribeKey", b"not json", serialization),
        ("DescribeKey", b"{\"KeyId\": ", serialization),
        ("DescribeKey", b"{\"KeyId\": \"\xff\xfe\"}", serialization),
        ("DescribeKey", deep.as_bytes(), serialization),
        ("DescribeKey", b"{\"KeyId\": 5}", serialization),
        ("DescribeKey", b"[]", serialization),
        (
            "GenerateRandom",
            b"{\"NumberOfBytes\": \"32\"}",
            serialization,
        ),
        ("GenerateRandom", b"{\"NumberOfBytes\": 1e400}", number),
        (
            "GenerateRandom",
            b"{\"NumberOfBytes\": 99999999999999999999999}",
            number,
        ),
        ("ListKeys", b"{\"Limit\": -99999999999999999999999}", number),
    ];
    for (op, body, codes) in cases {
        let reply = server
            .raw(REGION, Some(&format!("TrentService.{op}")), JSON_1_1, body)
            .await;
        assert!(
            reply.status < 500,
            "{op} {:?} → {reply:?}",
            String::from_utf8_lossy(body)
        );
        reply.error(codes);
    }
    assert_eq!(
        server.http("GET", "/health", &[], b"").await.status,
        200,
        "the server survived"
    );
}

#[tokio::test]
async fn unknown_members_are_ignored() {
    let server = Server::start();
    server
        .call(REGION, "ListKeys", &json!({"SomeFutureField": {"x": 1}}))
        .await
        .ok();
}

#[tokio::test]
async fn an_invalid_enum_value_lists_aws_values_in_aws_order() {
    let server = Server::start();
    let message = server
        .call(REGION, "CreateKey", &json!({"KeySpec": "NOPE"}))
        .await
        .error(&["ValidationException"]);
    let prefix =
        "1 validation error detected: Value 'NOPE' at 'keySpec' failed to satisfy constraint: \
                  Member must satisfy enum value set: [";
    let values = message
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or_else(|| panic!("unexpected message: {message}"));
    let listed: Vec<&str> = values.split(", ").collect();
    // AWS's order, recorded from AWS (LocalStack's snapshot, test_hmac_create_key_invalid_operations),
    // before the values AWS added since.
    let recorded = [
        "RSA_2048",
        "ECC_NIST_P384",
        "ECC_NIST_P256",
        "ECC_NIST_P521",
        "HMAC_384",
        "RSA_3072",
        "ECC_SECG_P256K1",
        "RSA_4096",
        "SYMMETRIC_DEFAULT",
        "HMAC_256",
        "HMAC_224",
        "HMAC_512",
    ];
    assert_eq!(listed[..recorded.len()], recorded);
    // Exactly the AWS model's values: Trent's own (ECC_ED448) are accepted but not listed.
    let model: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../trent-model/model/service-2.json"
        ))
        .expect("read the vendored model"),
    )
    .expect("model is JSON");
    let expected: BTreeSet<&str> = model["shapes"]["KeySpec"]["enum"]
        .as_array()
        .expect("KeySpec values")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(listed.iter().copied().collect::<BTreeSet<_>>(), expected);
    assert_eq!(listed.len(), expected.len());
    assert!(!listed.contains(&"ECC_ED448"));
    assert!(
        server.call(REGION, "ListKeys", &json!({})).await.ok()["Keys"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused_without_harm() {
    let server = Server::start();
    let key =
        server.call(REGION, "CreateKey", &json!({})).await.ok()["KeyMetadata"]["KeyId"].clone();
    let huge = json!({"KeyId": key, "Plaintext": "A".repeat(2 * 1024 * 1024)});
    let reply = server.call(REGION, "Encrypt", &huge).await;
    assert!(
        (400..500).contains(&reply.status),
        "2 MiB body → {}",
        reply.status
    );

    assert_eq!(server.http("GET", "/health", &[], b"").await.status, 200);
    let encrypted = server
        .call(
            REGION,
            "Encrypt",
            &json!({"KeyId": key, "Plaintext": "aGVsbG8="}),
        )
        .await;
    assert!(encrypted.ok()["CiphertextBlob"].is_string());
}

/// A request that declares a body over the limit is answered at once, without waiting for a body
/// that may never come (before, it waited for the 30-second read timeout).
#[tokio::test]
async fn a_declared_oversized_body_is_refused_at_once() {
    let server = Server::start();
    let host = server.url().trim_start_matches("http://");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: {JSON_1_1}\r\n\
         X-Amz-Target: TrentService.ListKeys\r\nContent-Length: {}\r\n\r\n",
        2 * 1024 * 1024
    );
    let started = std::time::Instant::now();
    let reply = server.send_bytes(head.into_bytes()).await;
    let waited = started.elapsed();
    assert!(
        reply
            .error(&["SerializationException"])
            .starts_with("Request body is larger than 1048576 bytes"),
        "{reply:?}"
    );
    assert!(
        waited < std::time::Duration::from_secs(5),
        "answered after {waited:?}"
    );
    assert_eq!(server.http("GET", "/health", &[], b"").await.status, 200);
}

/// The listening socket queues 1,024 connections (`ss` shows a listening socket's backlog as its
/// Send-Q): with the default 128, 5,000 clients connecting at once saw SYNs dropped and retried.
#[tokio::test]
async fn the_listen_backlog_is_1024() {
    let server = Server::start();
    let port = server.url().rsplit(':').next().expect("a port");
    let output = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("run ss (iproute2)");
    let listing = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = listing.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"LISTEN"), "{listing}");
    assert_eq!(fields.get(2), Some(&"1024"), "{listing}");
}

#[tokio::test]
async fn timestamps_are_epoch_seconds_and_the_signed_scope_names_the_region() {
    let server = Server::start();
    let start = now();
    let created = server.call(REGION, "CreateKey", &json!({})).await.ok();
    let meta = &created["KeyMetadata"];
    let id = meta["KeyId"].as_str().expect("KeyId");
    assert_eq!(meta["Arn"], json!(key_arn(REGION, id)));
    assert_epoch(&meta["CreationDate"], start, now());
    // The same request signed for another region addresses that region's keys.
    let elsewhere = server
        .call("us-east-1", "DescribeKey", &json!({"KeyId": id}))
        .await
        .error(&["NotFoundException"]);
    assert_eq!(
        elsewhere,
        format!("Key '{}' does not exist", key_arn("us-east-1", id))
    );

    server
        .call(
            REGION,
            "CreateAlias",
            &json!({"AliasName": "alias/raw", "TargetKeyId": id}),
        )
        .await
        .ok();
    let aliases = server
        .call(REGION, "ListAliases", &json!({"KeyId": id}))
        .await
        .ok();
    assert_epoch(&aliases["Aliases"][0]["CreationDate"], start, now());

    let scheduled = server
        .call(
            REGION,
            "ScheduleKeyDeletion",
            &json!({"KeyId": id, "PendingWindowInDays": 7}),
        )
        .await
        .ok();
    let (day, week) = (86_400, 7 * 86_400);
    assert_epoch(&scheduled["DeletionDate"], start + week, now() + week + day);
}

/// A JSON number of epoch seconds within `[earliest, latest]` (with a few seconds of slack).
#[track_caller]
fn assert_epoch(value: &serde_json::Value, earliest: i64, latest: i64) {
    let secs = value
        .as_f64()
        .unwrap_or_else(|| panic!("timestamp is not a JSON number: {value}"));
    #[allow(clippy::cast_precision_loss)]
    let (earliest, latest) = ((earliest - 5) as f64, (latest + 5) as f64);
    assert!(
        secs >= earliest && secs <= latest,
        "timestamp {secs} not in [{earliest}, {latest}]"
    );
}

/// The command line: `--version` names the version and commit, every subcommand has its own
/// `--help` naming its flags and their environment variables, and a wrong flag is a usage error.
#[test]
fn the_command_line_has_help_and_a_version() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_trent"))
            .args(args)
            .output()
            .expect("run trent")
    };
    let version = run(&["--version"]);
    let printed = String::from_utf8_lossy(&version.stdout);
    assert!(version.status.success(), "{printed}");
    assert!(
        printed.starts_with(&format!("trent {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{printed}"
    );
    for command in [
        "serve",
        "migrate",
        "backup",
        "restore",
        "check-config",
        "audit",
        "audit verify",
    ] {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--help");
        let help = run(&args);
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(help.status.success(), "{command} --help: {text}");
        assert!(text.contains(&format!("Usage: trent {command}")), "{text}");
    }
    let serve = String::from_utf8_lossy(&run(&["serve", "--help"]).stdout).into_owned();
    for flag in [
        "--audit-log <AUDIT_LOG>",
        "[env: TRENT_AUDIT_LOG=]",
        "--admin-listen",
        "[env: TRENT_ADMIN_LISTEN=]",
        "--listen",
        "--store",
        "--config",
    ] {
        assert!(serve.contains(flag), "serve --help lacks {flag}:\n{serve}");
    }
    let wrong = run(&["serve", "--no-such-flag"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--no-such-flag"));
}

/// AWS sends no message with some errors (a signature that does not verify, a ciphertext that
/// does not decrypt): the body is `{"__type": …}` alone, not an empty message. And a
/// `KeyMaterialId` belongs to symmetric encryption keys only, as the model documents.
#[tokio::test]
async fn messageless_errors_and_material_ids_are_as_aws_sends_them() {
    let server = Server::start();
    let signer = server
        .call(
            REGION,
            "CreateKey",
            &serde_json::json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}),
        )
        .await
        .ok();
    let signer_id = signer["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    assert!(
        signer["KeyMetadata"].get("CurrentKeyMaterialId").is_none(),
        "{signer}"
    );
    let zeros = base64_simd::STANDARD.encode_to_string([0u8; 64]);
    let reply = server
        .call(REGION, "Verify", &serde_json::json!({"KeyId": signer_id, "Message": "bQ==", "SigningAlgorithm": "ECDSA_SHA_256", "Signature": zeros}))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        serde_json::json!({"__type": "KMSInvalidSignatureException"})
    );

    let symmetric = server
        .call(REGION, "CreateKey", &serde_json::json!({}))
        .await
        .ok();
    assert!(
        symmetric["KeyMetadata"]["CurrentKeyMaterialId"].is_string(),
        "{symmetric}"
    );
    let rsa = server
        .call(
            REGION,
            "CreateKey",
            &serde_json::json!({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}),
        )
        .await
        .ok();
    let rsa_id = rsa["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    assert!(
        rsa["KeyMetadata"].get("CurrentKeyMaterialId").is_none(),
        "{rsa}"
    );
    let encrypted = server
        .call(REGION, "Encrypt", &serde_json::json!({"KeyId": rsa_id, "Plaintext": "bQ==", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}))
        .await
        .ok();
    let decrypted = server
        .call(
            REGION,
            "Decrypt",
            &serde_json::json!({"KeyId": rsa_id, "CiphertextBlob": encrypted["CiphertextBlob"], "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
        )
        .await
        .ok();
    assert_eq!(decrypted["Plaintext"], "bQ==");
    assert!(decrypted.get("KeyMaterialId").is_none(), "{decrypted}");
}
