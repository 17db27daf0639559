//! Restart persistence, and what reaches the disk.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeyPairSpec, DataKeySpec, EncryptionAlgorithmSpec, GrantOperation,
    KeyAgreementAlgorithmSpec, KeySpec, KeyUsageType, MacAlgorithmSpec, SigningAlgorithmSpec,
};
use aws_sdk_kms::Client;

use crate::asymmetric::Scratch;
use crate::common::*;

#[tokio::test]
async fn a_graceful_restart_keeps_keys_aliases_tags_and_ciphertexts() {
    let mut server = Server::start();
    let (eu, us) = (server.client(REGION), server.client("us-east-1"));
    let created = eu
        .create_key()
        .description("kept")
        .tags(tag("team", "core"))
        .send()
        .await
        .expect("CreateKey");
    let tagged = created.key_metadata.expect("KeyMetadata").key_id;
    create_alias(&eu, "alias/kept", &tagged).await;
    let disabled = create_key(&eu).await.key_id;
    eu.disable_key()
        .key_id(&disabled)
        .send()
        .await
        .expect("DisableKey");
    let doomed = create_key(&eu).await.key_id;
    eu.schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    let american = create_key(&us).await.key_id;
    let bound = [("purpose", "restart")];
    let blob = eu
        .encrypt()
        .key_id("alias/kept")
        .plaintext(Blob::new("survives"))
        .set_encryption_context(context(&bound))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob
        .expect("CiphertextBlob");

    let eu_ids = [tagged.as_str(), disabled.as_str(), doomed.as_str()];
    let mut before = Vec::new();
    for id in eu_ids {
        before.push(describe(&eu, id).await);
    }
    let aliases_before = list_aliases(&eu, None, None).await;

    server.restart();
    let (eu, us) = (server.client(REGION), server.client("us-east-1"));

    for (id, metadata) in eu_ids.iter().zip(&before) {
        assert_eq!(
            &describe(&eu, id).await,
            metadata,
            "metadata of {id} after restart"
        );
    }
    let mut listed = list_key_ids(&eu, None).await;
    listed.sort();
    let mut expected = eu_ids.map(str::to_owned).to_vec();
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(list_key_ids(&us, None).await, [american]);
    assert_eq!(list_aliases(&eu, None, None).await, aliases_before);
    assert_eq!(tags_of(&eu, &tagged).await, pairs(&[("team", "core")]));

    let decrypted = eu
        .decrypt()
        .ciphertext_blob(blob)
        .set_encryption_context(context(&bound))
        .send()
        .await;
    assert_eq!(
        decrypted
            .expect("Decrypt after restart")
            .plaintext
            .expect("Plaintext")
            .as_ref(),
        b"survives"
    );
}

/// Kill cycles of [`a_hard_kill_during_writes_loses_no_acknowledged_write`], and its writers.
const KILL_CYCLES: usize = 20;
const WRITERS: usize = 4;

/// A write the server acknowledged, to look for after a crash.
#[derive(Debug)]
enum Acknowledged {
    Key(String),
    Tag { key: String, tag: (String, String) },
    Alias { name: String, key: String },
    Ciphertext { blob: Blob, plaintext: Vec<u8> },
}

/// SIGKILL while clients write — CreateKey, TagResource, CreateAlias, Encrypt — twenty times
/// over: after every restart each acknowledged write is there and each acknowledged ciphertext
/// decrypts. On the store the suite runs on: the embedded one, then PostgreSQL in its second run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_kill_during_writes_loses_no_acknowledged_write() {
    let mut server = Server::start();
    let (mut keys, mut aliases) = (Vec::new(), Vec::new());
    for cycle in 0..KILL_CYCLES {
        let progress = Arc::new(Progress::default());
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (kms, progress) = (server.client(REGION), progress.clone());
                let name = format!("c{cycle}-w{writer}");
                tokio::spawn(async move { write_until_stopped(kms, &name, &progress).await })
            })
            .collect();
        // Killed once every writer is under way, at a different point of their work each cycle.
        let started = Instant::now();
        while progress.acknowledged.load(Ordering::Relaxed) < 4 * WRITERS {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "cycle {cycle}: the writers got nothing done"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(cycle as u64 * 7 % 50)).await;
        server.kill();
        progress.stop.store(true, Ordering::Relaxed);
        let mut acknowledged = Vec::new();
        for writer in writers {
            acknowledged.extend(writer.await.expect("a writer"));
        }
        server.respawn();
        let kms = server.client(REGION);
        for write in acknowledged {
            match write {
                Acknowledged::Key(key) => {
                    assert_eq!(describe(&kms, &key).await.key_id(), key);
                    keys.push(key);
                }
                Acknowledged::Tag { key, tag } => {
                    assert!(
                        tags_of(&kms, &key).await.contains(&tag),
                        "cycle {cycle}: tag {tag:?} of {key} lost"
                    );
                }
                Acknowledged::Alias { name, key } => {
                    assert_eq!(
                        describe(&kms, &name).await.key_id(),
                        key,
                        "cycle {cycle}: {name}"
                    );
                    aliases.push(name);
                }
                Acknowledged::Ciphertext { blob, plaintext } => {
                    assert_eq!(decrypt(&kms, &blob).await, plaintext, "cycle {cycle}");
                }
            }
        }
    }
    // And the writes of the earlier cycles are all still there.
    let kms = server.client(REGION);
    let listed = list_key_ids(&kms, None).await;
    assert!(
        keys.iter().all(|key| listed.contains(key)),
        "keys of earlier cycles lost"
    );
    let listed = custom_alias_names(&list_aliases(&kms, None, None).await);
    assert!(
        aliases.iter().all(|alias| listed.contains(alias)),
        "aliases of earlier cycles lost"
    );
}

/// What the writers of a kill cycle share: how many writes the server acknowledged so far, and
/// when to stop.
#[derive(Default)]
struct Progress {
    acknowledged: AtomicUsize,
    stop: AtomicBool,
}

/// Makes keys, each tagged, aliased and used to encrypt, until told to stop or the first failure
/// (the server killed under it): what the server acknowledged.
async fn write_until_stopped(kms: Client, name: &str, progress: &Progress) -> Vec<Acknowledged> {
    let mut acknowledged = Vec::new();
    let mut note = |write| {
        acknowledged.push(write);
        progress.acknowledged.fetch_add(1, Ordering::Relaxed);
    };
    for n in 0.. {
        if progress.stop.load(Ordering::Relaxed) {
            break;
        }
        let Ok(created) = kms.create_key().send().await else {
            break;
        };
        let key = created.key_metadata.expect("KeyMetadata").key_id;
        note(Acknowledged::Key(key.clone()));
        let tag = (format!("writer-{name}"), format!("write-{n}"));
        let tagging = kms
            .tag_resource()
            .key_id(&key)
            .tags(crate::common::tag(&tag.0, &tag.1));
        if tagging.send().await.is_err() {
            break;
        }
        note(Acknowledged::Tag {
            key: key.clone(),
            tag,
        });
        let alias = format!("alias/{name}-{n}");
        if kms
            .create_alias()
            .alias_name(&alias)
            .target_key_id(&key)
            .send()
            .await
            .is_err()
        {
            break;
        }
        note(Acknowledged::Alias {
            name: alias,
            key: key.clone(),
        });
        let plaintext = format!("{name}: write {n}").into_bytes();
        let encrypting = kms
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(plaintext.clone()));
        let Ok(encrypted) = encrypting.send().await else {
            break;
        };
        let blob = encrypted.ciphertext_blob.expect("CiphertextBlob");
        note(Acknowledged::Ciphertext { blob, plaintext });
    }
    acknowledged
}

/// Every secret an operation carries, and every secret of the configuration, rests nowhere: not in
/// the database files (SQLite's WAL included; on PostgreSQL a dump of the database), the server's
/// log or the audit log — raw, in base64 or in hex — scanned while the server runs and again once a
/// restart has checkpointed the WAL. The secrets: plaintexts of Encrypt, Decrypt and ReEncrypt
/// (symmetric and RSA), data keys and the private keys of data key pairs (decrypted here when the
/// response leaves them out), GenerateRandom's bytes, messages signed and MACed, MACs, signatures,
/// ciphertexts, grant tokens, DeriveSharedSecret's output, imported material (deleted and imported
/// again) and the import's wrapping private key, the access keys' secrets and the session token of
/// the config file, and the root key.
#[tokio::test]
async fn no_secret_rests_in_the_store_the_log_or_the_audit_log() {
    let (mut server, audit_log) = crate::audit::start(&[]);
    let kms = crate::audit::role_client(&server);
    let scratch = Scratch::new();
    let mut secrets: Vec<Vec<u8>> = crate::audit::CONFIG_SECRETS
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    let blob = |b: Option<&Blob>| b.expect("a blob").as_ref().to_vec();

    let symmetric = create_key(&kms).await.key_id;
    let plaintext = b"plaintext that must never be stored".to_vec();
    let ciphertext = encrypt(&kms, &symmetric, &plaintext).await;
    secrets.extend([
        plaintext,
        ciphertext.as_ref().to_vec(),
        decrypt(&kms, &ciphertext).await,
    ]);
    let reencrypted = kms
        .re_encrypt()
        .ciphertext_blob(ciphertext)
        .destination_key_id(&symmetric)
        .send()
        .await
        .expect("ReEncrypt");
    secrets.push(blob(reencrypted.ciphertext_blob()));
    let data_key = kms
        .generate_data_key()
        .key_id(&symmetric)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKey");
    secrets.extend([blob(data_key.plaintext()), blob(data_key.ciphertext_blob())]);
    let without = kms
        .generate_data_key_without_plaintext()
        .key_id(&symmetric)
        .number_of_bytes(48)
        .send()
        .await
        .expect("GenerateDataKeyWithoutPlaintext");
    let hidden_data_key = without.ciphertext_blob.expect("CiphertextBlob");
    secrets.extend([
        decrypt(&kms, &hidden_data_key).await,
        hidden_data_key.into_inner(),
    ]);
    let pair = kms
        .generate_data_key_pair()
        .key_id(&symmetric)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .send()
        .await
        .expect("GenerateDataKeyPair");
    secrets.extend([
        blob(pair.private_key_plaintext()),
        blob(pair.private_key_ciphertext_blob()),
    ]);
    let pair = kms
        .generate_data_key_pair_without_plaintext()
        .key_id(&symmetric)
        .key_pair_spec(DataKeyPairSpec::EccNistP384)
        .send()
        .await
        .expect("GenerateDataKeyPairWithoutPlaintext");
    let hidden_private_key = pair
        .private_key_ciphertext_blob
        .expect("PrivateKeyCiphertextBlob");
    secrets.extend([
        decrypt(&kms, &hidden_private_key).await,
        hidden_private_key.into_inner(),
    ]);
    let random = kms
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateRandom");
    secrets.push(blob(random.plaintext()));
    let grant = kms
        .create_grant()
        .key_id(&symmetric)
        .grantee_principal(format!("arn:aws:iam::{ACCOUNT}:user/admin"))
        .operations(GrantOperation::Decrypt)
        .send()
        .await
        .expect("CreateGrant");
    secrets.push(grant.grant_token().expect("GrantToken").as_bytes().to_vec());

    let rsa = key_of(&kms, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let rsa_plaintext = b"a plaintext for RSA, never to be stored".to_vec();
    let rsa_ciphertext = kms
        .encrypt()
        .key_id(&rsa)
        .plaintext(Blob::new(rsa_plaintext.clone()))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .expect("Encrypt with RSA")
        .ciphertext_blob
        .expect("CiphertextBlob");
    let decrypted = kms
        .decrypt()
        .key_id(&rsa)
        .ciphertext_blob(rsa_ciphertext)
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .expect("Decrypt with RSA");
    assert_eq!(blob(decrypted.plaintext()), rsa_plaintext);
    secrets.push(rsa_plaintext);

    let signing = key_of(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let message = b"a message to sign, never to be stored".to_vec();
    let algorithm = SigningAlgorithmSpec::EcdsaSha256;
    let signed = kms
        .sign()
        .key_id(&signing)
        .message(Blob::new(message.clone()))
        .signing_algorithm(algorithm.clone())
        .send()
        .await
        .expect("Sign");
    let signature = signed.signature.expect("Signature");
    let verify = kms
        .verify()
        .key_id(&signing)
        .message(Blob::new(message.clone()))
        .signature(signature.clone())
        .signing_algorithm(algorithm);
    verify.send().await.expect("Verify");
    secrets.extend([message, signature.into_inner()]);

    let hmac = key_of(&kms, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    let mac_message = b"a message to MAC, never to be stored".to_vec();
    let algorithm = MacAlgorithmSpec::HmacSha256;
    let mac = kms
        .generate_mac()
        .key_id(&hmac)
        .message(Blob::new(mac_message.clone()))
        .mac_algorithm(algorithm.clone())
        .send()
        .await
        .expect("GenerateMac");
    let mac = mac.mac.expect("Mac");
    kms.verify_mac()
        .key_id(&hmac)
        .message(Blob::new(mac_message.clone()))
        .mac(mac.clone())
        .mac_algorithm(algorithm)
        .send()
        .await
        .expect("VerifyMac");
    secrets.extend([mac_message, mac.into_inner()]);

    let agreement = key_of(&kms, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let peer = kms
        .get_public_key()
        .key_id(&agreement)
        .send()
        .await
        .expect("GetPublicKey")
        .public_key
        .expect("PublicKey");
    let shared = kms
        .derive_shared_secret()
        .key_id(&agreement)
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(peer)
        .send()
        .await
        .expect("DeriveSharedSecret");
    secrets.push(blob(shared.shared_secret()));

    for (spec, usage, length, algorithm) in [
        (
            "SYMMETRIC_DEFAULT",
            "ENCRYPT_DECRYPT",
            32,
            "RSAES_OAEP_SHA_256",
        ),
        (
            "HMAC_512",
            "GENERATE_VERIFY_MAC",
            100,
            "RSA_AES_KEY_WRAP_SHA_256",
        ),
    ] {
        let external = crate::import::create_external(&kms, spec, usage).await;
        let material = scratch.openssl_ok(&["rand", &length.to_string()]);
        let (token, public) =
            crate::import::parameters(&kms, &external, algorithm, "RSA_2048").await;
        let import = || {
            crate::import::import_request(
                &kms,
                &external,
                &token,
                &crate::import::wrap(&scratch, &public, algorithm, &material),
            )
        };
        import().send().await.expect("ImportKeyMaterial");
        // Deleted and imported again, so that every path that writes the key has run.
        kms.delete_imported_key_material()
            .key_id(&external)
            .send()
            .await
            .expect("DeleteImportedKeyMaterial");
        import().send().await.expect("ImportKeyMaterial again");
        secrets.push(material);
        // The wrapping private key holds the public modulus: stored in the clear (in any encoding
        // of the key), these modulus bytes would be too. (The SPKI ends with the modulus and then
        // the exponent 65537, `02 03 01 00 01`.)
        secrets.push(public[public.len() - 5 - 64..public.len() - 5].to_vec());
    }

    // Not a vacuous scan: the audit log holds every call above (without their secrets).
    let events = crate::audit::events(&audit_log);
    for operation in [
        "Encrypt",
        "GenerateDataKeyPairWithoutPlaintext",
        "DeriveSharedSecret",
        "ImportKeyMaterial",
        "VerifyMac",
    ] {
        assert!(
            !crate::audit::named(&events, operation).is_empty(),
            "no {operation} in the audit log"
        );
    }
    assert_server_keeps_no_secret(&server, &secrets);
    assert_holds_no_secret(&audit_log, &secrets);

    // A restart checkpoints the database, so the scan also sees what moved out of the WAL.
    server.restart();
    let root_key_file = server.root_key_file();
    let root_key = std::fs::read(&root_key_file).expect("read the root key file");
    assert!(
        root_key.len() >= 16,
        "root.key holds {} bytes",
        root_key.len()
    );
    let mode = std::fs::metadata(&root_key_file)
        .expect("stat root.key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "root.key mode is {:o}", mode & 0o777);
    // If the root key is stored as text (hex, base64), its trimmed text is a secret too.
    if let Ok(text) = std::str::from_utf8(&root_key) {
        if text.trim().len() >= 16 {
            secrets.push(text.trim().as_bytes().to_vec());
        }
    }
    secrets.push(root_key);
    assert_server_keeps_no_secret(&server, &secrets);
    assert_holds_no_secret(&audit_log, &secrets);
}

/// A key of `spec` for `usage`.
async fn key_of(kms: &Client, spec: KeySpec, usage: KeyUsageType) -> String {
    let created = kms
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .send()
        .await
        .expect("CreateKey");
    created.key_metadata.expect("KeyMetadata").key_id
}

/// Asserts that nothing the server stored (see [`Server::stored_files`]) nor its log holds any of
/// `secrets`, raw, in base64 or in hex.
#[track_caller]
pub fn assert_server_keeps_no_secret(server: &Server, secrets: &[Vec<u8>]) {
    let mut files = server.stored_files();
    files.push(server.log_file());
    for file in &files {
        assert_holds_no_secret(file, secrets);
    }
}

/// Under umask 022 (as every test server runs) the data directory is 0700 and every file in it
/// 0600, SQLite's `-wal` and `-shm` files included; a looser directory and file made before the
/// server started are tightened at start, with a log line.
#[tokio::test]
async fn the_data_directory_is_private_whatever_the_umask() {
    let root = Server::new_root();
    let data = root.join("data");
    std::fs::create_dir_all(&data).expect("create the data dir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let stray = data.join("notes.txt");
    std::fs::write(&stray, "left by an operator").expect("write a file");
    std::fs::set_permissions(&stray, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let database = test_database();
    let mut server = Server::start_on(root, database.as_deref());
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    encrypt(&kms, &id, b"written to the store").await;

    let mode = |path: &Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let assert_private = |server: &Server| {
        assert_eq!(mode(&server.data_dir()), 0o700, "the data directory");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(server.data_dir()).expect("read the data dir") {
            let path = entry.expect("directory entry").path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            names.push(
                path.file_name()
                    .expect("a name")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        names.sort();
        if database.is_none() {
            let expected = [
                "notes.txt",
                "root.key",
                "trent.db",
                "trent.db-shm",
                "trent.db-wal",
            ];
            assert_eq!(names, expected);
        }
    };
    assert_private(&server);
    let log = std::fs::read_to_string(server.log_file()).expect("read the log");
    for path in [server.data_dir(), stray] {
        assert!(
            log.contains(&format!("{} had mode ", path.display())),
            "no log line for {}:\n{log}",
            path.display()
        );
    }
    // And so they stay across a restart, and the database is still readable.
    server.restart();
    assert_private(&server);
    assert_eq!(describe(&server.client(REGION), &id).await.key_id(), id);
}

/// Asserts that `file` holds none of `secrets`, raw, in base64 or in hex.
#[track_caller]
pub fn assert_holds_no_secret(file: &Path, secrets: &[Vec<u8>]) {
    let content = std::fs::read(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    for (n, secret) in secrets.iter().enumerate() {
        for (encoding, needle) in [
            ("raw", secret.clone()),
            ("base64", base64(secret)),
            ("hex", hex(secret)),
        ] {
            let found = find(&content, &needle);
            assert!(
                found.is_none(),
                "{} holds secret #{n} ({encoding}) at offset {found:?}",
                file.display()
            );
        }
    }
}

fn hex(bytes: &[u8]) -> Vec<u8> {
    hex::encode(bytes).into_bytes()
}

fn base64(bytes: &[u8]) -> Vec<u8> {
    base64_simd::STANDARD.encode_to_string(bytes).into_bytes()
}
