//! Seeded keys (`[[seed.keys]]` in the config file) and `trent check-config`: the keys a config
//! declares exist from the first start, with their aliases, tags, policy and material — imported
//! material checked against the files with OpenSSL — and are left alone by later starts; a seed
//! that no longer matches its key, or an alias of another key, stops the server naming it; nodes
//! starting together on one database make each key once; check-config names each problem.

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    KeySpec, KeyUsageType, MacAlgorithmSpec, MessageType, MultiRegionKeyType, OriginType,
    SigningAlgorithmSpec,
};
use aws_sdk_kms::Client;

use crate::asymmetric::Scratch;
use crate::common::*;
use crate::persistence::assert_server_keeps_no_secret;

const APP: &str = "0b7e1b6a-3f6e-4c4e-9a0e-6a3d2f1c9b11";
const GENERATED: &str = "5d1c2a3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const MULTI_REGION: &str = "mrk-0123456789abcdef0123456789abcdef";
const EC: &str = "6a2f0c1e-7b3d-4e5f-9a0b-1c2d3e4f5a6b";
const ED: &str = "9d5c3f4b-0e6a-4182-8d3e-4f5a6b7c8d9e";
const RSA: &str = "7b3a1d2f-8c4e-4f60-8b1c-2d3e4f5a6b7c";
const MAC: &str = "8c4b2e3a-9d5f-4071-9c2d-3e4f5a6b7c8d";

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Seeded policy","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

/// One `[[seed.keys]]` entry in the test account and region, with `more` lines.
fn seed(id: &str, more: &str) -> String {
    format!(
        "[[seed.keys]]\naccount = \"{ACCOUNT}\"\nregion = \"{REGION}\"\nid = \"{id}\"\n{more}\n\n"
    )
}

/// Writes `content` to `root/relative`, making its directory.
fn put(root: &Path, relative: &str, content: &[u8]) -> PathBuf {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create the directory");
    std::fs::write(&path, content).expect("write the file");
    path
}

fn log_lines_with(server: &Server, needle: &str) -> usize {
    std::fs::read_to_string(server.log_file())
        .expect("read the log")
        .lines()
        .filter(|line| line.contains(needle))
        .count()
}

async fn public_key(kms: &Client, key_id: &str) -> Vec<u8> {
    kms.get_public_key()
        .key_id(key_id)
        .send()
        .await
        .expect("GetPublicKey")
        .public_key
        .expect("PublicKey")
        .into_inner()
}

async fn key_policy(kms: &Client, key_id: &str) -> String {
    kms.get_key_policy()
        .key_id(key_id)
        .send()
        .await
        .expect("GetKeyPolicy")
        .policy
        .expect("Policy")
}

/// The app key (imported material, aliases, tags, policy file, all by relative path), a key with
/// every default, and a multi-Region key.
fn app_config() -> String {
    [
        seed(
            APP,
            r#"aliases = ["alias/app", "alias/app-2"]
key_spec = "SYMMETRIC_DEFAULT"
key_usage = "ENCRYPT_DECRYPT"
description = "app data"
tags = { team = "core", env = "ci" }
policy_file = "policies/app.json"
material_file = "keys/app.bin""#,
        ),
        seed(GENERATED, ""),
        seed(MULTI_REGION, r#"description = "everywhere""#),
    ]
    .concat()
}

#[tokio::test]
async fn seeded_keys_exist_as_declared_and_a_restart_leaves_them_alone() {
    let root = Server::new_root();
    let material = random_bytes(32);
    put(&root, "keys/app.bin", &material);
    put(&root, "policies/app.json", POLICY.as_bytes());
    let mut server = Server::start_with_config_in(root.clone(), &app_config());
    let kms = server.client(REGION);

    let app = describe(&kms, APP).await;
    assert_eq!(app.arn(), Some(key_arn(REGION, APP).as_str()));
    assert_eq!(app.origin(), Some(&OriginType::External));
    assert_eq!(app.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(app.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(app.description(), Some("app data"));
    assert!(app.enabled());
    assert_eq!(
        app.expiration_model().map(|m| m.as_str()),
        Some("KEY_MATERIAL_DOES_NOT_EXPIRE")
    );
    for alias in ["alias/app", "alias/app-2"] {
        assert_eq!(describe(&kms, alias).await.key_id(), APP);
    }
    assert_eq!(
        tags_of(&kms, APP).await,
        pairs(&[("env", "ci"), ("team", "core")])
    );
    assert_eq!(key_policy(&kms, APP).await, POLICY);

    let generated = describe(&kms, GENERATED).await;
    assert_eq!(generated.origin(), Some(&OriginType::AwsKms));
    assert_eq!(generated.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(generated.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert!(!generated.multi_region().unwrap_or(true));
    assert!(key_policy(&kms, GENERATED)
        .await
        .contains("Enable IAM User Permissions"));

    let multi = describe(&kms, MULTI_REGION).await;
    assert_eq!(multi.multi_region(), Some(true));
    let configuration = multi
        .multi_region_configuration()
        .expect("MultiRegionConfiguration");
    assert_eq!(
        configuration.multi_region_key_type(),
        Some(&MultiRegionKeyType::Primary)
    );
    assert_eq!(
        configuration.primary_key().and_then(|k| k.region()),
        Some(REGION)
    );
    assert_eq!(multi.description(), Some("everywhere"));

    let mut blobs = Vec::new();
    for id in [APP, GENERATED, MULTI_REGION] {
        blobs.push((id, encrypt(&kms, id, id.as_bytes()).await));
    }
    // Changed through the API: a restart keeps the change (a seed never changes a key).
    kms.update_key_description()
        .key_id(APP)
        .description("changed since")
        .send()
        .await
        .expect("UpdateKeyDescription");
    let mut before = Vec::new();
    for id in [APP, GENERATED, MULTI_REGION] {
        before.push(describe(&kms, id).await);
    }

    server.restart();
    let kms = server.client(REGION);
    for ((id, blob), metadata) in blobs.iter().zip(&before) {
        assert_eq!(
            &describe(&kms, id).await,
            metadata,
            "{id} after the restart"
        );
        assert_eq!(decrypt(&kms, blob).await, id.as_bytes());
    }
    assert_eq!(describe(&kms, "alias/app").await.key_id(), APP);
    assert_eq!(log_lines_with(&server, "seed key created"), 3);
    assert_eq!(
        log_lines_with(&server, "seed key present, left as it is"),
        3
    );

    // The material is the file's, not a copy of the first server's key: another server, with a
    // store and root key of its own, seeded from the same file, decrypts what this one encrypted.
    let (_, app_blob) = &blobs[0];
    let twin_root = Server::new_root();
    put(&twin_root, "keys/app.bin", &material);
    put(&twin_root, "policies/app.json", POLICY.as_bytes());
    let twin = Server::start_with_config_in(twin_root, &app_config());
    assert_eq!(
        decrypt(&twin.client(REGION), app_blob).await,
        APP.as_bytes()
    );

    // Read, imported, and found nowhere else: not in the store, not in the log.
    assert_server_keeps_no_secret(&server, std::slice::from_ref(&material));
}

#[tokio::test]
async fn seeded_asymmetric_and_hmac_material_is_the_files_as_openssl_sees_it() {
    let root = Server::new_root();
    std::fs::create_dir_all(root.join("keys")).expect("create keys/");
    let at = |name: &str| {
        root.join("keys")
            .join(name)
            .to_str()
            .expect("UTF-8")
            .to_owned()
    };
    let scratch = Scratch::new();
    let generate = |algorithm: &[&str], out: &str| {
        let pem = scratch.openssl_ok(&[&["genpkey"], algorithm].concat());
        std::fs::write(at(out), &pem).expect("write the key");
    };
    generate(
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "ec.pem",
    );
    generate(&["-algorithm", "ED25519"], "ed.pem");
    generate(
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "rsa.pem",
    );
    // PKCS#8 DER; every PEM above is PKCS#8 too.
    let der = |file: &str| {
        scratch.openssl_ok(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &at(file),
            "-outform",
            "DER",
        ])
    };
    std::fs::write(at("rsa.der"), der("rsa.pem")).expect("write rsa.der");
    let mac_key = random_bytes(40);
    put(&root, "keys/mac.bin", &mac_key);
    let config = [
        seed(EC, "key_spec = \"ECC_NIST_P256\"\nkey_usage = \"SIGN_VERIFY\"\nmaterial_file = \"keys/ec.pem\""),
        seed(ED, "key_spec = \"ECC_NIST_EDWARDS25519\"\nkey_usage = \"SIGN_VERIFY\"\nmaterial_file = \"keys/ed.pem\""),
        seed(RSA, "key_spec = \"RSA_2048\"\nkey_usage = \"SIGN_VERIFY\"\nmaterial_file = \"keys/rsa.der\""),
        seed(MAC, "key_spec = \"HMAC_256\"\nkey_usage = \"GENERATE_VERIFY_MAC\"\nmaterial_file = \"keys/mac.bin\""),
    ]
    .concat();
    let mut server = Server::start_with_config_in(root.clone(), &config);
    let kms = server.client(REGION);

    let message = b"signed by a seeded key";
    for (id, file, algorithm) in [
        (EC, "ec.pem", SigningAlgorithmSpec::EcdsaSha256),
        (ED, "ed.pem", SigningAlgorithmSpec::Ed25519Sha512),
        (RSA, "rsa.pem", SigningAlgorithmSpec::RsassaPkcs1V15Sha256),
    ] {
        assert_eq!(
            describe(&kms, id).await.origin(),
            Some(&OriginType::External),
            "{id}"
        );
        let public = scratch.openssl_ok(&["pkey", "-in", &at(file), "-pubout", "-outform", "DER"]);
        assert_eq!(public_key(&kms, id).await, public, "{id}");
        let signature = kms
            .sign()
            .key_id(id)
            .message(Blob::new(message.to_vec()))
            .message_type(MessageType::Raw)
            .signing_algorithm(algorithm.clone())
            .send()
            .await
            .expect("Sign")
            .signature
            .expect("Signature");
        assert!(
            scratch.openssl_verifies(&public, algorithm.as_str(), message, signature.as_ref()),
            "OpenSSL refuses the {algorithm} signature of {id}"
        );
    }
    assert_eq!(
        describe(&kms, MAC).await.origin(),
        Some(&OriginType::External)
    );
    let mac = kms
        .generate_mac()
        .key_id(MAC)
        .message(Blob::new(message.to_vec()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .expect("GenerateMac")
        .mac
        .expect("Mac");
    let hex_key: String = mac_key.iter().map(|b| format!("{b:02x}")).collect();
    let message_file = scratch.write("message", message);
    let expected = scratch.openssl_ok(&[
        "dgst",
        "-sha256",
        "-mac",
        "HMAC",
        "-macopt",
        &format!("hexkey:{hex_key}"),
        "-binary",
        &message_file,
    ]);
    assert_eq!(mac.as_ref(), expected.as_slice());
    let secrets = vec![der("ec.pem"), der("ed.pem"), der("rsa.pem"), mac_key];

    // The Ed25519 key re-encoded (PKCS#8 v2, OneAsymmetricKey with its public key, where OpenSSL
    // wrote v1): other bytes, the same key pair, so the key is left alone.
    let v1 = der("ed.pem");
    assert_eq!(v1.len(), 48, "PKCS#8 v1 of Ed25519");
    let public = public_key(&kms, ED).await;
    let v2 = [
        &[0x30, 0x51, 0x02, 0x01, 0x01][..],
        &v1[5..],
        &[0x81, 0x21, 0x00],
        &public[public.len() - 32..],
    ]
    .concat();
    std::fs::write(at("ed.der"), &v2).expect("write ed.der");
    put(
        &root,
        "trent.toml",
        config.replace("keys/ed.pem", "keys/ed.der").as_bytes(),
    );
    server.restart();
    let kms = server.client(REGION);
    assert_eq!(public_key(&kms, ED).await, public);
    assert_eq!(
        log_lines_with(&server, "seed key present, left as it is"),
        4
    );

    // Another key pair: refused, naming the key.
    generate(&["-algorithm", "ED25519"], "ed.pem");
    put(&root, "trent.toml", config.as_bytes());
    let refusal = server.restart_refused();
    assert!(
        refusal.contains(&format!(
            "trent: seed key {}: the key in the store is not the seed's: the key material differs",
            key_arn(REGION, ED)
        )),
        "{refusal}"
    );

    assert_server_keeps_no_secret(&server, &secrets);
}

#[tokio::test]
async fn a_changed_seed_or_a_taken_alias_stops_the_start_naming_it() {
    let root = Server::new_root();
    let material = random_bytes(32);
    put(&root, "keys/app.bin", &material);
    put(&root, "policies/app.json", POLICY.as_bytes());
    let config = app_config();
    let mut server = Server::start_with_config_in(root.clone(), &config);
    let kms = server.client(REGION);
    let blob = encrypt(&kms, APP, b"before").await;
    let other = create_key(&kms).await.key_id;
    create_alias(&kms, "alias/taken", &other).await;
    let app_arn = key_arn(REGION, APP);

    put(&root, "keys/app.bin", &random_bytes(32));
    let refusal = server.restart_refused();
    assert!(
        refusal.contains(&format!("trent: seed key {app_arn}: the key in the store is not the seed's: the key material differs from the material file's")),
        "{refusal}"
    );
    put(&root, "keys/app.bin", &material);

    let as_hmac = config.replace(
        "key_spec = \"SYMMETRIC_DEFAULT\"\nkey_usage = \"ENCRYPT_DECRYPT\"",
        "key_spec = \"HMAC_256\"\nkey_usage = \"GENERATE_VERIFY_MAC\"",
    );
    put(&root, "trent.toml", as_hmac.as_bytes());
    let refusal = server.restart_refused();
    assert!(
        refusal.contains(&format!(
            "trent: seed key {app_arn}: the key in the store is not the seed's: key spec HMAC_256 in the seed, SYMMETRIC_DEFAULT in the store; \
             key usage GENERATE_VERIFY_MAC in the seed, ENCRYPT_DECRYPT in the store"
        )),
        "{refusal}"
    );

    // The generated key seeded with material now: another origin.
    let imported = config.replace(
        &seed(GENERATED, ""),
        &seed(GENERATED, "material_file = \"keys/app.bin\""),
    );
    put(&root, "trent.toml", imported.as_bytes());
    let refusal = server.restart_refused();
    assert!(
        refusal.contains(&format!("seed key {}: the key in the store is not the seed's: origin EXTERNAL in the seed, AWS_KMS in the store", key_arn(REGION, GENERATED))),
        "{refusal}"
    );

    let taken = config.replace(
        r#"aliases = ["alias/app", "alias/app-2"]"#,
        r#"aliases = ["alias/app", "alias/taken"]"#,
    );
    put(&root, "trent.toml", taken.as_bytes());
    let refusal = server.restart_refused();
    assert!(
        refusal.contains(&format!(
            "trent: seed key {app_arn}: alias alias/taken exists and names another key, {}",
            key_arn(REGION, &other)
        )),
        "{refusal}"
    );

    // Refusing changed nothing: with the seed as it was, everything is as before.
    put(&root, "trent.toml", config.as_bytes());
    server.respawn();
    let kms = server.client(REGION);
    assert_eq!(decrypt(&kms, &blob).await, b"before");
    assert_eq!(describe(&kms, "alias/taken").await.key_id(), other);
    assert_eq!(
        describe(&kms, APP).await.key_spec(),
        Some(&KeySpec::SymmetricDefault)
    );
}

#[tokio::test]
async fn nodes_starting_together_on_one_database_make_each_seeded_key_once() {
    const NODES: usize = 3;
    let root = Server::new_root();
    put(&root, "keys/app.bin", &random_bytes(32));
    put(&root, "policies/app.json", POLICY.as_bytes());
    let config = put(&root, "trent.toml", app_config().as_bytes());
    let config = config.to_str().expect("UTF-8");
    let Some(database) = new_database() else {
        return;
    };
    // The root key every node is given, made before they start.
    shared_store_args(&root, &database);
    let nodes: Vec<Server> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..NODES)
            .map(|_| scope.spawn(|| Server::start_node(&root, &database, &["--config", config])))
            .collect();
        starting
            .into_iter()
            .map(|node| node.join().expect("a node started"))
            .collect()
    });

    let created: usize = nodes
        .iter()
        .map(|n| log_lines_with(n, "seed key created"))
        .sum();
    let present: usize = nodes
        .iter()
        .map(|n| log_lines_with(n, "seed key present, left as it is"))
        .sum();
    assert_eq!(
        (created, present),
        (3, 3 * (NODES - 1)),
        "each of the 3 keys made by one node, found by the others"
    );
    let first = nodes[0].client(REGION);
    let blob = encrypt(&first, "alias/app", b"seeded once").await;
    let metadata = describe(&first, APP).await;
    for node in &nodes {
        let kms = node.client(REGION);
        assert_eq!(describe(&kms, APP).await, metadata);
        assert_eq!(decrypt(&kms, &blob).await, b"seeded once");
        assert_eq!(
            custom_alias_names(&list_aliases(&kms, None, None).await),
            ["alias/app", "alias/app-2"]
        );
    }
    drop(nodes);
    std::fs::remove_dir_all(&root).expect("remove the test dir");
}

/// `trent check-config FILE`: its exit status and what it printed (stdout, stderr).
fn check_config(file: &Path) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_trent"))
        .arg("check-config")
        .arg(file)
        .output()
        .expect("run trent check-config");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_config_accepts_a_good_file_and_names_each_problem() {
    let root = Server::new_root();
    put(&root, "keys/app.bin", &random_bytes(32));
    put(&root, "keys/short.bin", &random_bytes(31));
    put(&root, "policies/app.json", POLICY.as_bytes());
    put(
        &root,
        "policies/broken.json",
        br#"{"Version": "2012-10-17", "Statement": ["#,
    );
    let accounts = "[[accounts]]\nid = \"111122223333\"\nusers = [{ name = \"admin\", access_keys = [{ id = \"AKIAADMIN\", secret = \"s\" }] }]\n\n";
    let good = put(
        &root,
        "good.toml",
        [accounts, &app_config()].concat().as_bytes(),
    );
    let (ok, stdout, stderr) = check_config(&good);
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout.trim(),
        format!(
            "config file {} is valid; accounts: 1 (users and roles: 1); seed keys: 3 (aliases: 2)",
            good.display()
        )
    );
    assert!(!root.join("data").exists(), "check-config starts nothing");

    let app = |more: &str| seed(APP, more);
    for (name, body, expected) in [
        ("bad-spec", app("key_spec = \"RSA_1024\""), "Value 'RSA_1024' at 'keySpec' failed to satisfy constraint"),
        ("no-usage", app("key_spec = \"ECC_NIST_P256\""), "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."),
        ("bad-usage", app("key_usage = \"SIGN_VERIFY\""), "KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT"),
        ("missing-material", app("material_file = \"keys/missing.bin\""), "material_file"),
        ("short-material", app("material_file = \"keys/short.bin\""), "keys/short.bin (31 bytes): The key material does not fit key spec SYMMETRIC_DEFAULT."),
        ("not-a-private-key", app("key_spec = \"ECC_NIST_P256\"\nkey_usage = \"SIGN_VERIFY\"\nmaterial_file = \"keys/app.bin\""), "The key material does not fit key spec ECC_NIST_P256."),
        ("missing-policy", app("policy_file = \"policies/missing.json\""), "policy_file"),
        ("broken-policy", app("policy_file = \"policies/broken.json\""), "MalformedPolicyDocumentException"),
        ("no-prefix", app("aliases = [\"app\"]"), "alias app: ValidationException: Alias must start with the prefix \"alias/\""),
        ("reserved-alias", app("aliases = [\"alias/aws/app\"]"), "alias alias/aws/app: NotAuthorizedException"),
        ("alias-pattern", app("aliases = [\"alias/has space\"]"), "alias alias/has space: ValidationException: 1 validation error detected"),
        ("reserved-tag", app("tags = { \"aws:team\" = \"core\" }"), "TagException: Tags beginning with aws: are reserved"),
        ("unknown-field", app("colour = \"blue\""), "unknown field `colour`"),
        ("duplicate", [app(""), app("")].concat(), &format!("seed key {} is listed twice", key_arn(REGION, APP))),
        ("shared-alias", [app("aliases = [\"alias/app\"]"), seed(GENERATED, "aliases = [\"alias/app\"]")].concat(), "alias alias/app is given to another seed key too"),
        ("upper-case-id", seed(&APP.to_uppercase(), ""), "a key ID is a lowercase UUID, or mrk- and 32 lowercase hex digits"),
        ("bad-id", seed("app", ""), "a key ID is a lowercase UUID"),
        ("bad-region", app("").replace(REGION, "europe"), "'europe' is not a region name"),
        ("other-account", app("").replace(ACCOUNT, "444455556666"), "account 444455556666 is not one of the config file's (111122223333)"),
    ] {
        let file = put(&root, &format!("{name}.toml"), [accounts, &body].concat().as_bytes());
        let (ok, stdout, stderr) = check_config(&file);
        assert!(!ok, "{name} accepted: {stdout}");
        let stderr = stderr.trim();
        assert!(stderr.starts_with(&format!("trent: config file {}: ", file.display())), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}\n  expected: {expected}");
    }
    let (ok, _, stderr) = check_config(&root.join("missing.toml"));
    assert!(
        !ok && stderr.contains("cannot read config file"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&root).expect("remove the test dir");
}
