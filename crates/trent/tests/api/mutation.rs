//! Robustness over HTTP: ten thousand properly signed requests whose bodies are valid requests of
//! every operation, mutated — bytes flipped, inserted, deleted; members of the wrong type, removed,
//! repeated or unknown; huge numbers, deep nesting, invalid UTF-8 and odd escapes in strings, enum
//! values outside the model, another operation's body. Each must be answered within a deadline,
//! with a 200 or an AWS-shaped error (`{"__type", "message"}`) whose code is one of the model's and
//! whose status is the model's for that code — never a 5xx — and the server must serve as before.
//!
//! The mutations are drawn from a seeded generator: a failure names its seed, and
//! `TRENT_MUTATION_SEED=<seed>` replays the run.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::asymmetric::Scratch;
use crate::common::*;

const REQUESTS: usize = 10_000;
/// Requests go out on this many kept-alive connections at once.
const CONNECTIONS: usize = 4;
/// Longer than any request takes (RSA key generation for GetParametersForImport is the slowest),
/// far shorter than the server's 30-second read timeout: a request waiting for more body than it
/// declared would show as a hang.
const DEADLINE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_mutated_signed_requests_get_aws_errors_never_a_5xx() {
    let seed = std::env::var("TRENT_MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now() as u64);
    let mut server = Server::start();
    let corpus = Arc::new(valid_requests(&server).await);
    let statuses = Arc::new(model_statuses());

    let mut connections = Vec::new();
    for n in 0..CONNECTIONS {
        let mut connection = server.connect().await;
        let (corpus, statuses, url) = (corpus.clone(), statuses.clone(), server.url().to_owned());
        connections.push(tokio::spawn(async move {
            let mut rng = Rng(seed ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut tally = BTreeMap::<String, usize>::new();
            for i in 0..REQUESTS / CONNECTIONS {
                let (operation, valid) = &corpus.requests[rng.below(corpus.requests.len())];
                let (target, body) = mutate(&mut rng, operation, valid, &corpus);
                let headers =
                    Signer::test(REGION).sign(&url, &kms_headers(Some(&target), JSON_1_1), &body);
                let shown = || {
                    format!(
                        "seed {seed}, connection {n}, request {i}: {target} {:?}",
                        String::from_utf8_lossy(&body[..body.len().min(400)])
                    )
                };
                let Ok(reply) =
                    tokio::time::timeout(DEADLINE, connection.post(&headers, &body)).await
                else {
                    panic!("no answer within {DEADLINE:?}: {}", shown())
                };
                *tally.entry(outcome(&reply, &statuses, &shown)).or_default() += 1;
            }
            tally
        }));
    }
    let mut tally = BTreeMap::<String, usize>::new();
    for connection in connections {
        for (outcome, count) in connection.await.expect("a connection's requests") {
            *tally.entry(outcome).or_default() += count;
        }
    }
    println!(
        "seed {seed}: {} requests, answered {tally:?}",
        REQUESTS / CONNECTIONS * CONNECTIONS
    );
    assert!(
        tally.get("200").is_some_and(|&ok| ok > 100),
        "too few mutations stayed valid: {tally:?}"
    );
    assert!(tally.len() > 10, "too few kinds of errors: {tally:?}");

    // Alive and unharmed: it serves, and stops cleanly (it would not, had it crashed).
    let kms = server.client(REGION);
    let key = create_key(&kms).await.key_id;
    assert_eq!(
        decrypt(&kms, &encrypt(&kms, &key, b"still serving").await).await,
        b"still serving"
    );
    server.stop();
    let log = std::fs::read_to_string(server.log_file()).expect("read the log");
    assert!(!log.contains("panicked"), "the server panicked: {log}");
}

/// What a reply was, for the tally (`200` or the error code), having checked that it is AWS's shape.
#[track_caller]
fn outcome(reply: &Reply, statuses: &HashMap<String, u16>, shown: &dyn Fn() -> String) -> String {
    let text = || {
        format!(
            "{}: HTTP {} {}",
            shown(),
            reply.status,
            String::from_utf8_lossy(&reply.body)
        )
    };
    assert!(reply.status < 500, "a 5xx: {}", text());
    let body: Value = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text()));
    if reply.status == 200 {
        // `null` from the operations that return nothing (DisableKey, TagResource, …).
        assert!(
            body.is_object() || body.is_null(),
            "not a JSON object: {}",
            text()
        );
        return "200".to_owned();
    }
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {}", text()));
    let code = object
        .get("__type")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no __type: {}", text()));
    assert_eq!(
        statuses.get(code),
        Some(&reply.status),
        "not a code of the model, or not its status: {}",
        text()
    );
    assert!(
        object
            .iter()
            .all(|(name, value)| name == "__type" || (name == "message" && value.is_string())),
        "members other than __type and a string message: {}",
        text()
    );
    code.to_owned()
}

/// Every error code a KMS client may see, with its HTTP status: the model's exceptions (a fault is
/// a 500) and the JSON protocol's common errors.
fn model_statuses() -> HashMap<String, u16> {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../trent-model/model");
    let read = |name: &str| -> Value {
        let text = std::fs::read_to_string(model.join(name)).expect("read the model");
        serde_json::from_str(&text).expect("the model is JSON")
    };
    let service = read("service-2.json");
    let mut statuses: HashMap<String, u16> = service["shapes"]
        .as_object()
        .expect("shapes")
        .iter()
        .filter(|(_, shape)| shape["exception"] == true)
        .map(|(name, shape)| (name.clone(), if shape["fault"] == true { 500 } else { 400 }))
        .collect();
    for (name, status) in read("common-errors.json")
        .as_object()
        .expect("common errors")
    {
        if let Some(status) = status.as_u64() {
            statuses.insert(name.clone(), u16::try_from(status).expect("an HTTP status"));
        }
    }
    statuses
}

/// What the mutations start from.
struct Corpus {
    /// Operations and their valid requests.
    requests: Vec<(&'static str, Value)>,
    /// Names of keys and aliases in every form, of the keys the requests use and of others.
    names: Vec<String>,
}

/// A valid request of nearly every operation, on keys of every kind made for them; each is sent
/// once as it is and succeeds (the custom key store ones get their documented errors), so that the
/// mutations start from requests that reach deep into the operations.
async fn valid_requests(server: &Server) -> Corpus {
    let call =
        |op: &'static str, body: Value| async move { server.call(REGION, op, &body).await.ok() };
    let key = |spec: &'static str, usage: &'static str| async move {
        call("CreateKey", json!({"KeySpec": spec, "KeyUsage": usage})).await["KeyMetadata"]["KeyId"]
            .as_str()
            .expect("KeyId")
            .to_owned()
    };
    let b64 = |bytes: &[u8]| base64_simd::STANDARD.encode_to_string(bytes);
    let user = format!("arn:aws:iam::{ACCOUNT}:user/test");
    let symmetric = key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let victim = key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let rsa = key("RSA_2048", "ENCRYPT_DECRYPT").await;
    let signing = key("ECC_NIST_P256", "SIGN_VERIFY").await;
    let hmac = key("HMAC_256", "GENERATE_VERIFY_MAC").await;
    let agreement = key("ECC_NIST_P256", "KEY_AGREEMENT").await;
    let multi_region =
        call("CreateKey", json!({"MultiRegion": true})).await["KeyMetadata"]["KeyId"].clone();
    let kms = server.client(REGION);
    let external =
        crate::import::create_external(&kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let (token, public_key) =
        crate::import::parameters(&kms, &external, "RSAES_OAEP_SHA_256", "RSA_2048").await;
    let material = crate::import::wrap(
        &Scratch::new(),
        &public_key,
        "RSAES_OAEP_SHA_256",
        &random_bytes(32),
    );
    for (alias, target) in [
        ("alias/mutation", &symmetric),
        ("alias/mutation-victim", &victim),
        ("alias/mutation-gone", &victim),
    ] {
        call(
            "CreateAlias",
            json!({"AliasName": alias, "TargetKeyId": target}),
        )
        .await;
    }
    let context = json!({"purpose": "mutation", "tenant": "t-1"});
    let ciphertext = call(
        "Encrypt",
        json!({"KeyId": symmetric, "Plaintext": b64(b"secret"), "EncryptionContext": context}),
    )
    .await["CiphertextBlob"]
        .clone();
    let message = b64(b"a message");
    let signature = call(
        "Sign",
        json!({"KeyId": signing, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256"}),
    )
    .await["Signature"]
        .clone();
    let mac = call(
        "GenerateMac",
        json!({"KeyId": hmac, "Message": message, "MacAlgorithm": "HMAC_SHA_256"}),
    )
    .await["Mac"]
        .clone();
    let peer = call("GetPublicKey", json!({"KeyId": agreement})).await["PublicKey"].clone();
    let grant = |retiring: Option<&str>| {
        let body = json!({"KeyId": symmetric, "GranteePrincipal": user, "RetiringPrincipal": retiring, "Operations": ["Decrypt", "Encrypt"]});
        async move { call("CreateGrant", body).await }
    };
    let granted = grant(None).await;
    let (retired, revoked) = (
        grant(Some(&user)).await["GrantId"].clone(),
        grant(None).await["GrantId"].clone(),
    );
    let policy = call(
        "GetKeyPolicy",
        json!({"KeyId": victim, "PolicyName": "default"}),
    )
    .await["Policy"]
        .clone();
    let store = json!({"CustomKeyStoreId": "cks-1234567890abcdef0"});

    let requests: Vec<(&str, Value)> = vec![
        (
            "CreateKey",
            json!({"Description": "made by a mutation", "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT", "Tags": [{"TagKey": "k", "TagValue": "v"}]}),
        ),
        (
            "DescribeKey",
            json!({"KeyId": "alias/mutation", "GrantTokens": [granted["GrantToken"]]}),
        ),
        ("ListKeys", json!({"Limit": 10})),
        (
            "Encrypt",
            json!({"KeyId": "alias/mutation", "Plaintext": b64(b"plaintext"), "EncryptionContext": context, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
        ),
        (
            "Encrypt",
            json!({"KeyId": rsa, "Plaintext": b64(b"plaintext"), "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
        ),
        (
            "Decrypt",
            json!({"CiphertextBlob": ciphertext, "EncryptionContext": context, "KeyId": symmetric}),
        ),
        (
            "ReEncrypt",
            json!({"CiphertextBlob": ciphertext, "SourceEncryptionContext": context, "DestinationKeyId": symmetric, "DestinationEncryptionContext": {"to": "there"}}),
        ),
        (
            "GenerateDataKey",
            json!({"KeyId": symmetric, "KeySpec": "AES_256", "EncryptionContext": context}),
        ),
        (
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": symmetric, "NumberOfBytes": 64}),
        ),
        (
            "GenerateDataKeyPair",
            json!({"KeyId": symmetric, "KeyPairSpec": "ECC_NIST_P256", "EncryptionContext": context}),
        ),
        (
            "GenerateDataKeyPairWithoutPlaintext",
            json!({"KeyId": symmetric, "KeyPairSpec": "ECC_NIST_P384"}),
        ),
        ("GenerateRandom", json!({"NumberOfBytes": 32})),
        (
            "Sign",
            json!({"KeyId": signing, "Message": message, "MessageType": "RAW", "SigningAlgorithm": "ECDSA_SHA_256"}),
        ),
        (
            "Verify",
            json!({"KeyId": signing, "Message": message, "Signature": signature, "SigningAlgorithm": "ECDSA_SHA_256"}),
        ),
        ("GetPublicKey", json!({"KeyId": signing})),
        (
            "GenerateMac",
            json!({"KeyId": hmac, "Message": message, "MacAlgorithm": "HMAC_SHA_256"}),
        ),
        (
            "VerifyMac",
            json!({"KeyId": hmac, "Message": message, "Mac": mac, "MacAlgorithm": "HMAC_SHA_256"}),
        ),
        (
            "DeriveSharedSecret",
            json!({"KeyId": agreement, "KeyAgreementAlgorithm": "ECDH", "PublicKey": peer}),
        ),
        (
            "CreateAlias",
            json!({"AliasName": "alias/mutation-new", "TargetKeyId": symmetric}),
        ),
        (
            "UpdateAlias",
            json!({"AliasName": "alias/mutation-victim", "TargetKeyId": victim}),
        ),
        ("DeleteAlias", json!({"AliasName": "alias/mutation-gone"})),
        ("ListAliases", json!({"KeyId": symmetric, "Limit": 5})),
        (
            "TagResource",
            json!({"KeyId": symmetric, "Tags": [{"TagKey": "team", "TagValue": "core"}]}),
        ),
        (
            "UntagResource",
            json!({"KeyId": symmetric, "TagKeys": ["team"]}),
        ),
        ("ListResourceTags", json!({"KeyId": symmetric, "Limit": 10})),
        (
            "UpdateKeyDescription",
            json!({"KeyId": victim, "Description": "a victim"}),
        ),
        ("DisableKey", json!({"KeyId": victim})),
        ("EnableKey", json!({"KeyId": victim})),
        (
            "ScheduleKeyDeletion",
            json!({"KeyId": victim, "PendingWindowInDays": 7}),
        ),
        ("CancelKeyDeletion", json!({"KeyId": victim})),
        (
            "EnableKeyRotation",
            json!({"KeyId": symmetric, "RotationPeriodInDays": 90}),
        ),
        ("DisableKeyRotation", json!({"KeyId": symmetric})),
        ("GetKeyRotationStatus", json!({"KeyId": symmetric})),
        ("RotateKeyOnDemand", json!({"KeyId": symmetric})),
        ("ListKeyRotations", json!({"KeyId": symmetric, "Limit": 5})),
        (
            "GetKeyPolicy",
            json!({"KeyId": symmetric, "PolicyName": "default"}),
        ),
        ("ListKeyPolicies", json!({"KeyId": symmetric})),
        (
            "PutKeyPolicy",
            json!({"KeyId": victim, "PolicyName": "default", "Policy": policy, "BypassPolicyLockoutSafetyCheck": false}),
        ),
        (
            "CreateGrant",
            json!({"KeyId": symmetric, "GranteePrincipal": user, "Operations": ["Decrypt"], "Constraints": {"EncryptionContextSubset": context}, "Name": "g"}),
        ),
        ("ListGrants", json!({"KeyId": symmetric, "Limit": 10})),
        ("ListRetirableGrants", json!({"RetiringPrincipal": user})),
        (
            "RetireGrant",
            json!({"KeyId": symmetric, "GrantId": retired}),
        ),
        (
            "RevokeGrant",
            json!({"KeyId": symmetric, "GrantId": revoked}),
        ),
        (
            "GetParametersForImport",
            json!({"KeyId": external, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}),
        ),
        (
            "ImportKeyMaterial",
            json!({"KeyId": external, "ImportToken": b64(&token), "EncryptedKeyMaterial": b64(&material), "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
        ),
        ("DeleteImportedKeyMaterial", json!({"KeyId": external})),
        ("GetKeyLastUsage", json!({"KeyId": symmetric})),
        (
            "ReplicateKey",
            json!({"KeyId": multi_region, "ReplicaRegion": "us-west-2", "Description": "replica"}),
        ),
        (
            "UpdatePrimaryRegion",
            json!({"KeyId": multi_region, "PrimaryRegion": "us-west-2"}),
        ),
        ("DescribeCustomKeyStores", json!({"Limit": 5})),
        (
            "CreateCustomKeyStore",
            json!({"CustomKeyStoreName": "store", "CloudHsmClusterId": "cluster-234567abcdef", "TrustAnchorCertificate": "cert", "KeyStorePassword": "password"}),
        ),
        ("ConnectCustomKeyStore", store.clone()),
        ("DisconnectCustomKeyStore", store.clone()),
        (
            "UpdateCustomKeyStore",
            json!({"CustomKeyStoreId": "cks-1234567890abcdef0", "NewCustomKeyStoreName": "renamed"}),
        ),
        ("DeleteCustomKeyStore", store),
    ];
    for (operation, body) in &requests {
        let reply = server.call(REGION, operation, body).await;
        match operation.contains("CustomKeyStore") && *operation != "DescribeCustomKeyStores" {
            true => {
                reply.error(&[
                    "UnsupportedOperationException",
                    "CustomKeyStoreNotFoundException",
                ]);
            }
            false => assert_eq!(
                reply.status,
                200,
                "{operation} {body}: {}",
                String::from_utf8_lossy(&reply.body)
            ),
        }
    }
    let mut names = vec![
        "alias/mutation".to_owned(),
        "alias/aws/kms".to_owned(),
        alias_arn(REGION, "alias/mutation-victim"),
        key_arn("us-east-1", &symmetric),
        format!("arn:aws:kms:{REGION}:444455556666:key/{symmetric}"),
        MISSING_KEY.to_owned(),
    ];
    for key in [
        &symmetric, &victim, &rsa, &signing, &hmac, &agreement, &external,
    ] {
        names.extend([key.clone(), key_arn(REGION, key)]);
    }
    Corpus { requests, names }
}

/// SplitMix64: small and seedable, so that a run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

/// Raw JSON text that no `Value` can hold: numbers past f64 and i64, nesting past any limit.
const HUGE_NUMBERS: &[&str] = &[
    "1e400",
    "-1e400",
    "99999999999999999999999999",
    "-9223372036854775809",
    "18446744073709551616",
    "1.5",
    "-1",
    "0",
    "2147483648",
    "1e-400",
    "-0",
];
/// Strings that are not valid UTF-8 (inside quotes), and escapes JSON refuses or AWS might not expect.
const ODD_STRINGS: &[&[u8]] = &[
    b"\"\xff\xfe\"",
    b"\"a\xc3\x28b\"",
    b"\"\xed\xa0\x80\"",
    b"\"\xf4\x90\x80\x80\"",
    b"\"\\ud800\"",
    b"\"\\u0000\"",
    b"\"\\uZZZZ\"",
    b"\"\\x41\"",
    b"\"tab\tinside\"",
];
/// Enum values the model does not have, and values of the wrong enum.
const WRONG_ENUMS: &[&str] = &[
    "",
    "symmetric_default",
    "SYMMETRIC_DEFAULT ",
    "AES_512",
    "RSAES_OAEP_SHA_512",
    "ECC_NIST_P256",
    "HMAC_SHA_256",
    "RAW",
    "DIGEST",
    "ENCRYPT_DECRYPT",
    "KEY_MATERIAL_EXPIRES",
    "default",
    "alias/aws/kms",
    "🔑",
];

/// The target and body of one mutated request: `valid` (a request of `operation`) changed one to
/// three times, now and then sent as another operation.
fn mutate(rng: &mut Rng, operation: &str, valid: &Value, corpus: &Corpus) -> (String, Vec<u8>) {
    let requests = &corpus.requests;
    let target = match rng.below(50) {
        0 => rng
            .pick(&[
                "TrentService.Nope",
                "",
                "TrentService.",
                "trentservice.encrypt",
                "KMS.Encrypt",
                "TrentService.Encrypt.Extra",
            ])
            .to_owned(),
        1..=4 => format!("TrentService.{}", requests[rng.below(requests.len())].0),
        _ => format!("TrentService.{operation}"),
    };
    let mut value = valid.clone();
    let mut raw: Vec<Vec<u8>> = Vec::new();
    for _ in 0..1 + rng.below(3) {
        match rng.below(12) {
            0 | 1 => replace_somewhere(rng, &mut value, wrong_type),
            9 => replace_somewhere(rng, &mut value, |rng| {
                Value::String(rng.pick(&corpus.names))
            }),
            2 => replace_somewhere(rng, &mut value, |rng| {
                Value::String(rng.pick(WRONG_ENUMS).to_owned())
            }),
            3 => replace_somewhere(rng, &mut value, |rng| {
                Value::String("k".repeat(rng.pick(&[129, 2049, 8193, 200_000])))
            }),
            4 => raw_somewhere(rng, &mut value, &mut raw, |rng| {
                rng.pick(HUGE_NUMBERS).as_bytes().to_vec()
            }),
            5 => raw_somewhere(rng, &mut value, &mut raw, |rng| {
                let depth = rng.pick(&[33, 129, 5000]);
                [vec![b'['; depth], vec![b']'; depth]].concat()
            }),
            6 => raw_somewhere(rng, &mut value, &mut raw, |rng| {
                rng.pick(ODD_STRINGS).to_vec()
            }),
            7 => remove_somewhere(rng, &mut value),
            8 => {
                if let Some(object) = value.as_object_mut() {
                    object.insert(
                        rng.pick(&["Unknown", "keyId", "KEYID", "__type", ""])
                            .to_owned(),
                        json!("extra"),
                    );
                }
            }
            _ => {} // byte-level, below
        }
    }
    let mut body = serde_json::to_vec(&value).expect("serialize");
    for (n, text) in raw.iter().enumerate() {
        let marker = format!("\"@@raw{n}@@\"").into_bytes();
        if let Some(at) = find(&body, &marker) {
            body.splice(at..at + marker.len(), text.iter().copied());
        }
    }
    if rng.below(3) == 0 {
        // A member repeated with another value: the last one counts, as in serde_json.
        if let Some((name, _)) = valid.as_object().and_then(|o| o.iter().next()) {
            let repeated = format!("\"{name}\":{},", wrong_type(rng));
            body.splice(1..1, repeated.into_bytes());
        }
    }
    // Most such bodies are no longer JSON: only a third of the requests, so that the rest reach
    // the operations.
    if rng.below(3) == 0 {
        for _ in 0..1 + rng.below(2) {
            mutate_bytes(rng, &mut body);
        }
    }
    if rng.below(100) == 0 {
        body = rng
            .pick(&[
                &b""[..],
                b"null",
                b"[]",
                b"\"body\"",
                b"1",
                b"{",
                b"}",
                b" ",
                b"{}{}",
                b"\xef\xbb\xbf{}",
            ])
            .to_vec();
    }
    (target, body)
}

/// A value of some JSON type, usually not the one expected.
fn wrong_type(rng: &mut Rng) -> Value {
    match rng.below(8) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-7),
        3 => json!(1.25),
        4 => json!(["a", 1]),
        5 => json!({"a": {"b": []}}),
        6 => json!("not base64!"),
        _ => json!(""),
    }
}

/// Picks a node of `value`: the whole value, or (more often) one inside its objects and arrays.
fn node<'v>(rng: &mut Rng, value: &'v mut Value) -> &'v mut Value {
    let children = match value {
        Value::Object(object) => object.len(),
        Value::Array(items) => items.len(),
        _ => 0,
    };
    if children == 0 || rng.below(4) == 0 {
        return value;
    }
    let child = rng.below(children);
    match value {
        Value::Object(object) => node(rng, object.values_mut().nth(child).expect("a member")),
        Value::Array(items) => node(rng, &mut items[child]),
        _ => unreachable!("a node with children"),
    }
}

fn replace_somewhere(rng: &mut Rng, value: &mut Value, make: impl FnOnce(&mut Rng) -> Value) {
    let replacement = make(rng);
    *node(rng, value) = replacement;
}

/// Replaces a node with a marker that `mutate` swaps for `make`'s raw JSON text once serialized.
fn raw_somewhere(
    rng: &mut Rng,
    value: &mut Value,
    raw: &mut Vec<Vec<u8>>,
    make: impl FnOnce(&mut Rng) -> Vec<u8>,
) {
    let text = make(rng);
    *node(rng, value) = Value::String(format!("@@raw{}@@", raw.len()));
    raw.push(text);
}

fn remove_somewhere(rng: &mut Rng, value: &mut Value) {
    match node(rng, value) {
        Value::Object(object) if !object.is_empty() => {
            let name = object
                .keys()
                .nth(rng.below(object.len()))
                .expect("a member")
                .clone();
            object.remove(&name);
        }
        Value::Array(items) if !items.is_empty() => {
            items.remove(rng.below(items.len()));
        }
        _ => {}
    }
}

/// A byte flipped, inserted, deleted or repeated, or the body cut short.
fn mutate_bytes(rng: &mut Rng, body: &mut Vec<u8>) {
    if body.is_empty() {
        body.push(b'{');
        return;
    }
    let at = rng.below(body.len());
    match rng.below(5) {
        0 => body[at] ^= 1 << rng.below(8),
        1 => body.insert(at, rng.pick(b"\"\\{}[]:,0-e\xff\x80 \n")),
        2 => {
            let end = (at + 1 + rng.below(8)).min(body.len());
            body.drain(at..end);
        }
        3 => {
            let end = (at + 1 + rng.below(16)).min(body.len());
            let copy = body[at..end].to_vec();
            body.splice(at..at, copy);
        }
        _ => body.truncate(at),
    }
}

/// A NUL character, which PostgreSQL's text cannot hold, in values the store looks up or pages by:
/// an AWS answer on either store, never a 500 (the mutation test found RevokeGrant's, with seed
/// 1796446356 on PostgreSQL).
#[tokio::test]
async fn nul_characters_in_looked_up_values_never_get_a_500() {
    let server = Server::start();
    let key =
        server.call(REGION, "CreateKey", &json!({})).await.ok()["KeyMetadata"]["KeyId"].clone();
    let requests = [
        ("RevokeGrant", json!({"KeyId": key, "GrantId": "\u{0}"})),
        ("RetireGrant", json!({"KeyId": key, "GrantId": "a\u{0}"})),
        ("ListGrants", json!({"KeyId": key, "GrantId": "\u{0}"})),
        ("DescribeKey", json!({"KeyId": "alias/a\u{0}"})),
        ("ListAliases", json!({"Marker": "alias/\u{0}"})),
        ("ListKeys", json!({"Marker": "\u{0}"})),
    ];
    for (operation, body) in requests {
        let reply = server.call(REGION, operation, &body).await;
        assert!(
            reply.status < 500,
            "{operation}: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        if reply.status != 200 {
            assert!(
                reply.json()["__type"].is_string(),
                "{operation}: AWS-shaped"
            );
        }
    }
    server
        .call(REGION, "DescribeKey", &json!({"KeyId": key}))
        .await
        .ok();
}
