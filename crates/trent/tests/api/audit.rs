//! The audit log (`--audit-log`), the metrics and health endpoints of the admin listener, through
//! `aws-sdk-kms` and the `trent audit verify` command: every call is written, refused and
//! unauthenticated ones included, shaped like CloudTrail; the chain
//! shows tampering; it fails closed and recovers; rotation and SIGHUP keep the chain.

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::KeyUsageType;
use aws_sdk_kms::Client;
use serde_json::Value;

use crate::asymmetric::Scratch;
use crate::common::*;

const ADMIN_KEY: &str = "AKIDAUDITADMIN";
const ADMIN_SECRET: &str = "audit-admin-secret-never-logged";
const ROLE_KEY: &str = "ASIAAUDITROLE";
const ROLE_SECRET: &str = "audit-role-secret-never-logged";
const ROLE_TOKEN: &str = "audit-role-session-token-never-logged";
const LIMITED_KEY: &str = "AKIDAUDITLIMITED";
/// The secrets of the config file: never logged, never stored.
pub(crate) const CONFIG_SECRETS: [&str; 3] = [ADMIN_SECRET, ROLE_SECRET, ROLE_TOKEN];

fn config_toml() -> String {
    format!(
        r#"
[[accounts]]
id = "{ACCOUNT}"

[[accounts.users]]
name = "admin"
access_keys = [{{ id = "{ADMIN_KEY}", secret = "{ADMIN_SECRET}" }}]
policies = [{{ name = "all", document = '{{"Version":"2012-10-17","Statement":[{{"Sid":"AllKms","Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}' }}]

[[accounts.users]]
name = "limited"
access_keys = [{{ id = "{LIMITED_KEY}", secret = "limited-secret" }}]

[[accounts.roles]]
name = "app"
access_keys = [{{ id = "{ROLE_KEY}", secret = "{ROLE_SECRET}", session_token = "{ROLE_TOKEN}" }}]
policies = [{{ name = "all", document = '{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}' }}]
"#
    )
}

/// A server with the config above and an audit log in a directory of the test's, plus `extra`
/// flags; the log's path.
pub(crate) fn start(extra: &[&str]) -> (Server, PathBuf) {
    let dir = Server::new_root();
    std::fs::create_dir_all(&dir).expect("create the test dir");
    let config = dir.join("trent.toml");
    std::fs::write(&config, config_toml()).expect("write the config");
    let log = dir.join("audit.log");
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "--audit-log",
        log.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (Server::start_with_args(&args), log)
}

fn client(server: &Server, key: &str, secret: &str) -> Client {
    server.client_as(REGION, key, secret)
}

pub(crate) fn role_client(server: &Server) -> Client {
    server.client_with_token(REGION, ROLE_KEY, ROLE_SECRET, ROLE_TOKEN)
}

pub(crate) fn events(log: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(log).expect("read the audit log");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The events named `name` (the header lines excluded).
pub(crate) fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["eventName"] == name).collect()
}

/// `trent audit verify FILES`: its exit status and what it printed.
fn verify(files: &[&Path]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["audit", "verify"])
        .args(files)
        .output()
        .expect("run trent audit verify");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[tokio::test]
async fn every_call_is_written_shaped_like_cloudtrail() {
    let (server, log) = start(&[]);
    let admin = client(&server, ADMIN_KEY, ADMIN_SECRET);
    let key = admin
        .create_key()
        .description("audited")
        .send()
        .await
        .expect("CreateKey")
        .key_metadata
        .expect("KeyMetadata");
    let arn = key.arn().expect("Arn").to_owned();
    for n in 0..2 {
        admin
            .encrypt()
            .key_id(&key.key_id)
            .plaintext(Blob::new(format!("message {n}")))
            .encryption_context("Department", "IT")
            .send()
            .await
            .expect("Encrypt");
    }
    let limited = client(&server, LIMITED_KEY, "limited-secret");
    let denied = limited
        .encrypt()
        .key_id(&arn)
        .plaintext(Blob::new("x"))
        .send()
        .await;
    assert_code(denied, "AccessDeniedException");
    let invalid = admin
        .create_key()
        .key_usage(KeyUsageType::from("BOGUS"))
        .send()
        .await;
    assert_code(invalid, "ValidationException");
    let wrong_secret = client(&server, ADMIN_KEY, "not the secret");
    assert_code(
        wrong_secret.list_keys().send().await,
        "InvalidSignatureException",
    );
    let unknown = client(&server, "AKIAUNKNOWNKEY", "whatever");
    assert_code(
        unknown.list_keys().send().await,
        "UnrecognizedClientException",
    );
    let usage = admin
        .get_key_last_usage()
        .key_id(&key.key_id)
        .send()
        .await
        .expect("GetKeyLastUsage");

    let events = events(&log);
    // The header, then one line per call, each with the node and the chain fields.
    assert!(
        events[0]["trentAuditLog"]["reason"] == "start",
        "{}",
        events[0]
    );
    for (n, event) in events.iter().enumerate() {
        assert_eq!(event["sequence"], n as u64, "{event}");
        assert_eq!(event["previousLineSha256"].as_str().map(str::len), Some(64));
    }
    let calls = &events[1..];
    assert_eq!(calls.len(), 8, "{calls:#?}");
    for event in calls {
        assert_eq!(event["eventVersion"], "1.08");
        assert_eq!(event["eventSource"], "kms.amazonaws.com");
        assert_eq!(event["eventType"], "AwsApiCall");
        assert_eq!(event["sourceIPAddress"], "127.0.0.1");
        assert!(
            event["userAgent"]
                .as_str()
                .is_some_and(|ua| ua.contains("aws-sdk-rust")),
            "{event}"
        );
        assert!(event["trent"]["node"]
            .as_str()
            .is_some_and(|n| !n.is_empty()));
        assert!(event["trent"]["latencyMicros"].is_u64());
        let time = event["eventTime"].as_str().expect("eventTime");
        assert!(
            time.len() == 20 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{time}"
        );
        assert_eq!(event["eventID"].as_str().map(str::len), Some(36));
    }
    let admin_identity = serde_json::json!({
        "type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/admin"), "accountId": ACCOUNT,
        "accessKeyId": ADMIN_KEY, "userName": "admin"
    });

    let created = named(calls, "CreateKey");
    let created = created[0];
    assert_eq!(created["userIdentity"], admin_identity);
    assert_eq!(created["awsRegion"], REGION);
    assert_eq!(created["readOnly"], false);
    assert_eq!(
        created["requestParameters"],
        serde_json::json!({"description": "audited"})
    );
    assert_eq!(
        created["responseElements"]["keyMetadata"]["keyId"],
        key.key_id.as_str()
    );
    assert_eq!(
        created["resources"],
        serde_json::json!([{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": arn}])
    );
    assert_eq!(created["trent"]["decisions"][0]["by"], "identityPolicy");
    assert_eq!(
        created["trent"]["decisions"][0]["identityPolicySid"],
        "AllKms"
    );

    let encrypted = named(calls, "Encrypt");
    let (allowed, refused): (Vec<&Value>, Vec<&Value>) =
        encrypted.iter().partition(|e| e["errorCode"].is_null());
    assert_eq!(allowed.len(), 2);
    let last = allowed[1];
    assert_eq!(last["readOnly"], true);
    assert_eq!(last["responseElements"], Value::Null);
    assert_eq!(
        last["requestParameters"],
        serde_json::json!({"keyId": key.key_id, "encryptionContext": {"Department": "IT"}})
    );
    assert_eq!(last["resources"][0]["ARN"], arn.as_str());
    let decision = &last["trent"]["decisions"][0];
    assert_eq!(decision["action"], "kms:Encrypt");
    assert_eq!(decision["effect"], "Allow");
    assert_eq!(decision["keyPolicySid"], "Enable IAM User Permissions");
    assert_eq!(decision["identityPolicySid"], "AllKms");

    let refused = refused[0];
    assert_eq!(refused["errorCode"], "AccessDeniedException");
    assert!(refused["errorMessage"]
        .as_str()
        .is_some_and(|m| m.contains("is not authorized to perform: kms:Encrypt")));
    assert_eq!(
        refused["userIdentity"]["arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/limited")
    );
    assert_eq!(refused["resources"][0]["ARN"], arn.as_str());
    assert_eq!(refused["trent"]["decisions"][0]["effect"], "Deny");
    assert_eq!(
        refused["trent"]["decisions"][0]["by"],
        "noIdentityPolicyAllows"
    );

    let invalid = named(calls, "CreateKey")
        .into_iter()
        .find(|e| !e["errorCode"].is_null())
        .expect("the invalid CreateKey");
    assert_eq!(invalid["errorCode"], "ValidationException");
    assert_eq!(
        invalid["requestParameters"],
        serde_json::json!({"keyUsage": "BOGUS"})
    );

    let unauthenticated = named(calls, "ListKeys");
    assert_eq!(unauthenticated.len(), 2);
    for (event, code, key_id) in [
        (unauthenticated[0], "InvalidSignatureException", ADMIN_KEY),
        (
            unauthenticated[1],
            "UnrecognizedClientException",
            "AKIAUNKNOWNKEY",
        ),
    ] {
        assert_eq!(event["errorCode"], code);
        assert_eq!(
            event["userIdentity"],
            serde_json::json!({"type": "Unknown", "accessKeyId": key_id})
        );
        assert_eq!(event["recipientAccountId"], Value::Null);
    }

    // GetKeyLastUsage names the last successful cryptographic call, as the log has it.
    let used = usage.key_last_usage().expect("KeyLastUsage");
    assert_eq!(used.kms_request_id(), last["requestID"].as_str());
    assert_eq!(used.cloud_trail_event_id(), last["eventID"].as_str());

    let (ok, printed) = verify(&[&log]);
    assert!(ok, "{printed}");
    assert!(printed.contains("chain intact"), "{printed}");
}

/// While the audit log cannot be written (here: it is a link to /dev/full, which is always full),
/// requests are refused with KMSInternalException and change nothing; once it can, Trent serves
/// again by itself, and the chain is intact.
#[tokio::test]
async fn the_audit_log_fails_closed_and_recovers_by_itself() {
    let dir = Server::new_root();
    std::fs::create_dir_all(&dir).expect("create the test dir");
    let file = dir.join("audit-file.log");
    let link = dir.join("audit.log");
    std::os::unix::fs::symlink(&file, &link).expect("link the audit log");
    let server = Server::start_with_args(&["--audit-log", link.to_str().unwrap()]);
    let kms = server.client(REGION);
    let key = create_key(&kms).await.key_id;

    let repoint = |target: &Path| {
        let next = dir.join("next.link");
        std::os::unix::fs::symlink(target, &next).expect("link");
        std::fs::rename(&next, &link).expect("replace the link");
    };
    repoint(Path::new("/dev/full"));
    // Trent compares the path with the file it has open every 100 ms.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    for _ in 0..2 {
        let result = kms.describe_key().key_id(&key).send().await;
        let message = assert_code(result, "KMSInternalException");
        assert!(message.contains("audit log"), "{message}");
    }
    let refused = kms.disable_key().key_id(&key).send().await;
    assert_code(refused, "KMSInternalException");
    let ready = server.admin_get("/health/ready").await;
    assert_eq!(ready.status, 503, "{ready:?}");

    repoint(&file);
    let described = describe(&kms, &key).await;
    assert_eq!(
        described.key_state(),
        Some(&aws_sdk_kms::types::KeyState::Enabled),
        "the refused DisableKey changed the key"
    );
    assert_eq!(server.admin_get("/health/ready").await.status, 200);
    let events = events(&file);
    assert!(
        events
            .iter()
            .any(|e| e["trentAuditLog"]["reason"] == "resumed"),
        "no `resumed` header"
    );
    assert!(
        named(&events, "DisableKey").is_empty(),
        "a refused request was logged as served"
    );
    let (ok, printed) = verify(&[&file]);
    assert!(ok, "{printed}");
    let metrics = String::from_utf8_lossy(&server.admin_get("/metrics").await.body).into_owned();
    assert!(
        metrics.contains("trent_audit_lines_total{result=\"failed\"}"),
        "{metrics}"
    );
}

/// `max_bytes` rotates to PATH.1, PATH.2, … with the chain going on; SIGHUP opens a new file after
/// an external rotation moved the old one away; `trent audit verify` checks the files together
/// and names the first line changed.
#[tokio::test]
async fn rotation_and_sighup_keep_the_chain_and_verify_finds_tampering() {
    let dir = Server::new_root();
    std::fs::create_dir_all(&dir).expect("create the test dir");
    let log = dir.join("audit.log");
    let config = dir.join("trent.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\npath = \"{}\"\nmax_bytes = 4000\nsync = true\nnode = \"node-a\"\n",
            log.display()
        ),
    )
    .expect("write the config");
    let server = Server::start_with_args(&["--config", config.to_str().unwrap()]);
    let kms = server.client(REGION);
    let key = create_key(&kms).await.key_id;
    for _ in 0..12 {
        encrypt(&kms, &key, b"rotate me").await;
    }
    let numbered = |n: u32| PathBuf::from(format!("{}.{n}", log.display()));
    assert!(numbered(1).exists() && numbered(2).exists(), "no rotation");
    let mut files: Vec<PathBuf> = (1..20).map(numbered).filter(|p| p.exists()).collect();
    files.reverse();
    files.push(log.clone());
    for file in &files {
        assert!(
            std::fs::metadata(file).expect("stat").len() < 6000,
            "{} not rotated at its size",
            file.display()
        );
        let node_named = events(file)
            .iter()
            .all(|e| e["trent"]["node"] == "node-a" || e["trentAuditLog"]["node"] == "node-a");
        assert!(node_named, "{}", file.display());
    }
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (ok, printed) = verify(&refs);
    assert!(ok, "{printed}");

    // An external rotation: the file moved away, SIGHUP, a new file with the chain going on.
    let moved = dir.join("audit.log.moved");
    std::fs::rename(&log, &moved).expect("move the log away");
    server.sighup().await;
    encrypt(&kms, &key, b"after SIGHUP").await;
    let reopened = events(&log);
    assert_eq!(
        reopened[0]["trentAuditLog"]["reason"], "reopened",
        "{:?}",
        reopened[0]
    );
    assert_eq!(named(&reopened, "Encrypt").len(), 1);
    let (ok, printed) = verify(&[&moved, &log]);
    assert!(ok, "{printed}");

    // A line changed in a copy of the oldest file: verify fails (status 1) and names the line
    // after it.
    let text = std::fs::read_to_string(&files[0]).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert!(lines.len() >= 3, "{text}");
    let target = 1;
    lines[target] =
        lines[target].replacen("\"eventVersion\":\"1.08\"", "\"eventVersion\":\"1.09\"", 1);
    let copy = dir.join("tampered.log");
    std::fs::write(&copy, lines.join("\n") + "\n").expect("write");
    let (ok, printed) = verify(&[&copy]);
    assert!(!ok, "{printed}");
    assert!(
        printed.contains(&format!(
            "tampered.log:{}: the line before it was changed",
            target + 2
        )),
        "{printed}"
    );
}

/// Work Trent does by itself is written too: a deletion carried out, an automatic rotation and
/// imported material expired, each with its key.
#[tokio::test]
async fn scheduled_work_is_written() {
    let (server, log) = start(&["--test-admin"]);
    let kms = client(&server, ADMIN_KEY, ADMIN_SECRET);
    let doomed = create_key(&kms).await.key_id;
    kms.schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    let rotating = create_key(&kms).await.key_id;
    kms.enable_key_rotation()
        .key_id(&rotating)
        .rotation_period_in_days(90)
        .send()
        .await
        .expect("EnableKeyRotation");
    let scratch = Scratch::new();
    let external =
        crate::import::create_external(&kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let material = scratch.openssl_ok(&["rand", "32"]);
    let (token, public) =
        crate::import::parameters(&kms, &external, "RSAES_OAEP_SHA_256", "RSA_2048").await;
    let wrapped = crate::import::wrap(&scratch, &public, "RSAES_OAEP_SHA_256", &material);
    crate::import::import_request(&kms, &external, &token, &wrapped)
        .expiration_model(aws_sdk_kms::types::ExpirationModelType::KeyMaterialExpires)
        .valid_to(DateTime::from_secs(now() + 2 * 86_400))
        .send()
        .await
        .expect("ImportKeyMaterial");

    server.advance_clock(91 * 86_400).await;
    let events = events(&log);
    for (name, key) in [
        ("DeleteKey", &doomed),
        ("RotateKey", &rotating),
        ("DeleteExpiredKeyMaterial", &external),
    ] {
        let found = named(&events, name);
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        let event = found[0];
        assert_eq!(event["eventType"], "AwsServiceEvent");
        assert_eq!(event["userIdentity"]["type"], "AWSService");
        assert_eq!(event["resources"][0]["ARN"], key_arn(REGION, key));
        assert_eq!(event["recipientAccountId"], ACCOUNT);
        assert_eq!(event["awsRegion"], REGION);
    }
    let (ok, printed) = verify(&[&log]);
    assert!(ok, "{printed}");
}

/// `/metrics` counts what was served (by operation, outcome and code), keys by state and spec,
/// and names the build; `/health/live` and `/health/ready` answer.
#[tokio::test]
async fn metrics_count_the_calls_and_health_answers() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key = create_key(&kms).await.key_id;
    for _ in 0..3 {
        encrypt(&kms, &key, b"counted").await;
    }
    kms.disable_key()
        .key_id(&key)
        .send()
        .await
        .expect("DisableKey");
    assert_code(
        kms.encrypt()
            .key_id(&key)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "DisabledException",
    );
    assert_code(
        kms.describe_key().key_id(MISSING_KEY).send().await,
        "NotFoundException",
    );

    assert_eq!(server.admin_get("/health/live").await.status, 200);
    let ready = server.admin_get("/health/ready").await;
    assert_eq!(
        (ready.status, ready.json()["status"].clone()),
        (200, Value::from("ready"))
    );
    let reply = server.admin_get("/metrics").await;
    assert_eq!(reply.status, 200);
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    let sample = |line: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(line).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no `{line}` in\n{text}"))
    };
    assert_eq!(
        sample("trent_requests_total{operation=\"Encrypt\",outcome=\"success\",code=\"\"}"),
        "3"
    );
    assert_eq!(sample("trent_requests_total{operation=\"Encrypt\",outcome=\"error\",code=\"DisabledException\"}"), "1");
    assert_eq!(sample("trent_requests_total{operation=\"DescribeKey\",outcome=\"error\",code=\"NotFoundException\"}"), "1");
    assert_eq!(
        sample("trent_request_duration_seconds_count{operation=\"Encrypt\"}"),
        "4"
    );
    assert_eq!(
        sample("trent_keys{state=\"Disabled\",spec=\"SYMMETRIC_DEFAULT\"}"),
        "1"
    );
    assert!(text.contains("trent_build_info{version=\""), "{text}");
    assert!(
        text.contains("trent_store_call_duration_seconds_count"),
        "{text}"
    );
    assert!(
        text.contains("trent_key_cache_lookups_total{result=\"hit\"}"),
        "{text}"
    );
}
