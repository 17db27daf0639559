//! `trent backup` and `trent restore` between the two store types: a server on the restored store
//! (with the root key file of the one backed up) serves the same keys, aliases, tags and grants and
//! decrypts what the original encrypted; the backup file holds no secret in clear.
//!
//! Both directions run whatever `TRENT_TEST_STORE` says, so they need `TRENT_TEST_POSTGRES`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AliasListEntry, DataKeySpec, GrantListEntry, GrantOperation, KeyMetadata, KeySpec,
    KeyUsageType, MessageType, SigningAlgorithmSpec,
};
use aws_sdk_kms::Client;

use crate::common::*;
use crate::persistence::assert_holds_no_secret;

const PLAINTEXT: &[u8] = b"encrypted before the backup";
const SIGNED: &[u8] = b"signed before the backup";

/// What the store held when it was backed up.
struct Before {
    symmetric: KeyMetadata,
    asymmetric: KeyMetadata,
    /// The key in the other region.
    american: String,
    aliases: Vec<AliasListEntry>,
    tags: Vec<(String, String)>,
    grants: Vec<GrantListEntry>,
    ciphertext: Blob,
    data_key: Vec<u8>,
    wrapped_data_key: Blob,
    public_key: Vec<u8>,
    signature: Blob,
}

#[tokio::test]
async fn an_embedded_store_restores_into_postgres() {
    round_trip(false).await;
}

#[tokio::test]
async fn a_postgres_store_restores_into_an_embedded_one() {
    round_trip(true).await;
}

/// A malformed backup is refused with a message (exit status 1, not a panic), before anything is
/// created; so is a backup of a data directory holding no store.
#[test]
fn restore_refuses_a_malformed_backup() {
    let root = Server::new_root();
    std::fs::create_dir_all(&root).expect("create the test dir");
    let data_dir = root.join("data");
    let header = r#"{"trent_backup":1,"created_ms":0,"schema":"sqlite"}"#;
    let bad_record = format!("{header}\n{{\"kind\":\"key\",\"account\":\"1\"}}\n");
    let cases = [
        ("not-json", "hello\n", "not a Trent backup"),
        (
            "version-2",
            r#"{"trent_backup":2,"created_ms":0,"schema":"sqlite"}"#,
            "version 2 is not supported",
        ),
        ("cut-short", header, "cut short"),
        ("bad-record", bad_record.as_str(), "line 2 is not"),
    ];
    for (name, content, expected) in cases {
        let file = root.join(name);
        std::fs::write(&file, content).expect("write the file");
        let output = trent(&[
            "restore".as_ref(),
            "--data-dir".as_ref(),
            data_dir.as_os_str(),
            "--input".as_ref(),
            file.as_os_str(),
        ]);
        assert_refused(&output, expected);
        assert!(
            !data_dir.exists(),
            "a refused restore created {}",
            data_dir.display()
        );
    }
    let missing = root.join("missing");
    let output = trent(&["restore".as_ref(), "--input".as_ref(), missing.as_os_str()]);
    assert_refused(&output, "cannot open");
    let output = trent(&[
        "backup".as_ref(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
        "--output".as_ref(),
        root.join("b").as_os_str(),
    ]);
    assert_refused(&output, "no store to back up");
    assert!(!data_dir.exists() && !root.join("b").exists());
    std::fs::remove_dir_all(&root).expect("remove the test dir");
}

/// Fills a store of one type, backs it up while its server runs, restores the backup into a new
/// store of the other type, and checks a server on it.
async fn round_trip(from_postgres: bool) {
    // One of the two stores is PostgreSQL: without one, skipped.
    let Some(database) = new_database() else {
        return;
    };
    let (source_database, target_database) = match from_postgres {
        true => (Some(database), None),
        false => (None, Some(database)),
    };
    let source = Server::start_on(Server::new_root(), source_database.as_deref());
    let before = fill(&source).await;

    let root = Server::new_root();
    std::fs::create_dir_all(root.join("data")).expect("create the data dir");
    let file = root.join("backup.jsonl");
    let source_data = source.data_dir();
    let source_location = location(source_database.as_deref(), &source_data);
    let output = trent(
        &[
            &["backup".as_ref()],
            &source_location[..],
            &["--output".as_ref(), file.as_os_str()],
        ]
        .concat(),
    );
    assert_success(&output);
    let mode = std::fs::metadata(&file)
        .expect("stat the backup")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the backup's mode is {:o}",
        mode & 0o777
    );
    let text = std::fs::read_to_string(&file).expect("read the backup");
    assert!(text.starts_with(r#"{"trent_backup":1,"#), "{text}");

    let target_data = root.join("data");
    let target_location = location(target_database.as_deref(), &target_data);
    let restore = [
        &["restore".as_ref()],
        &target_location[..],
        &["--input".as_ref(), file.as_os_str()],
    ]
    .concat();
    assert_success(&trent(&restore));
    // As an operator would: the root key file goes where the new server looks for it.
    let root_key = std::fs::read(source.root_key_file()).expect("read the root key");
    let root_key_file = match target_database {
        Some(_) => root.join("root.key"),
        None => root.join("data").join("root.key"),
    };
    std::fs::write(&root_key_file, &root_key).expect("copy the root key");
    std::fs::set_permissions(&root_key_file, PermissionsExt::from_mode(0o600))
        .expect("chmod the root key");
    drop(source);

    let restored = Server::start_on(root, target_database.as_deref());
    check(&restored, &before).await;
    assert_refused(&trent(&restore), "not empty");
    assert_holds_no_secret(
        &file,
        &[before.data_key.clone(), PLAINTEXT.to_vec(), root_key],
    );
}

/// Keys of both kinds in two regions, an alias, a tag, a grant, and a ciphertext of each kind.
async fn fill(server: &Server) -> Before {
    let kms = server.client(REGION);
    let created = kms
        .create_key()
        .description("backed up")
        .tags(tag("team", "core"))
        .send()
        .await
        .expect("CreateKey");
    let id = created.key_metadata.expect("KeyMetadata").key_id;
    create_alias(&kms, "alias/backed-up", &id).await;
    kms.create_grant()
        .key_id(&id)
        .name("restored")
        .grantee_principal(format!("arn:aws:iam::{ACCOUNT}:user/test"))
        .operations(GrantOperation::Decrypt)
        .send()
        .await
        .expect("CreateGrant");
    let created = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .expect("CreateKey");
    let signing = created.key_metadata.expect("KeyMetadata").key_id;
    let data_key = kms
        .generate_data_key()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKey");
    Before {
        symmetric: describe(&kms, &id).await,
        asymmetric: describe(&kms, &signing).await,
        american: create_key(&server.client("us-east-1")).await.key_id,
        aliases: list_aliases(&kms, None, None).await,
        tags: tags_of(&kms, &id).await,
        grants: grants_of(&kms, &id).await,
        ciphertext: encrypt(&kms, "alias/backed-up", PLAINTEXT).await,
        data_key: data_key.plaintext.expect("Plaintext").into_inner(),
        wrapped_data_key: data_key.ciphertext_blob.expect("CiphertextBlob"),
        public_key: public_key(&kms, &signing).await,
        signature: sign(&kms, &signing).await,
    }
}

async fn check(server: &Server, before: &Before) {
    let kms = server.client(REGION);
    let id = &before.symmetric.key_id;
    let signing = &before.asymmetric.key_id;
    assert_eq!(describe(&kms, id).await, before.symmetric);
    assert_eq!(describe(&kms, signing).await, before.asymmetric);
    assert_eq!(
        list_key_ids(&server.client("us-east-1"), None).await,
        std::slice::from_ref(&before.american)
    );
    assert_eq!(list_aliases(&kms, None, None).await, before.aliases);
    assert_eq!(tags_of(&kms, id).await, before.tags);
    assert_eq!(grants_of(&kms, id).await, before.grants);
    assert_eq!(decrypt(&kms, &before.ciphertext).await, PLAINTEXT);
    assert_eq!(
        decrypt(&kms, &before.wrapped_data_key).await,
        before.data_key
    );
    assert_eq!(public_key(&kms, signing).await, before.public_key);
    let verified = kms
        .verify()
        .key_id(signing)
        .message(Blob::new(SIGNED))
        .message_type(MessageType::Raw)
        .signature(before.signature.clone())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .expect("Verify");
    assert!(verified.signature_valid);
    // The private key is back too, and the restored keys take updates.
    sign(&kms, signing).await;
    kms.tag_resource()
        .key_id(id)
        .tags(tag("restored", "yes"))
        .send()
        .await
        .expect("TagResource");
    let again = encrypt(&kms, id, b"after the restore").await;
    assert_eq!(decrypt(&kms, &again).await, b"after the restore");
}

async fn grants_of(kms: &Client, key_id: &str) -> Vec<GrantListEntry> {
    let listed = kms
        .list_grants()
        .key_id(key_id)
        .send()
        .await
        .expect("ListGrants");
    assert!(!listed.truncated());
    listed.grants.unwrap_or_default()
}

async fn public_key(kms: &Client, key_id: &str) -> Vec<u8> {
    let out = kms
        .get_public_key()
        .key_id(key_id)
        .send()
        .await
        .expect("GetPublicKey");
    out.public_key.expect("PublicKey").into_inner()
}

async fn sign(kms: &Client, key_id: &str) -> Blob {
    kms.sign()
        .key_id(key_id)
        .message(Blob::new(SIGNED))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .expect("Sign")
        .signature
        .expect("Signature")
}

/// `--store URL` for a database, else `--data-dir DIR`.
fn location<'a>(database: Option<&'a str>, data_dir: &'a Path) -> Vec<&'a std::ffi::OsStr> {
    match database {
        Some(url) => vec!["--store".as_ref(), url.as_ref()],
        None => vec!["--data-dir".as_ref(), data_dir.as_os_str()],
    }
}

/// Runs the `trent` binary with `args`, whatever store the environment names.
fn trent(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(args)
        .env_remove("TRENT_STORE")
        .env_remove("TRENT_DATA_DIR")
        .env_remove("TRENT_CONFIG")
        .output()
        .expect("run the trent binary")
}

#[track_caller]
fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "trent failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts that trent refused with exit status 1 and `expected` in its message.
#[track_caller]
fn assert_refused(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in: {stderr}"
    );
}
