//! Restart persistence, and what reaches the disk.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;

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

#[tokio::test]
async fn a_hard_kill_loses_no_acknowledged_write() {
    let mut server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    create_alias(&kms, "alias/durable", &id).await;
    let blob = encrypt(&kms, "alias/durable", b"durable").await;

    server.crash_and_restart();
    let kms = server.client(REGION);
    assert_eq!(describe(&kms, "alias/durable").await.key_id(), id);
    assert_eq!(decrypt(&kms, &blob).await, b"durable");
}

#[tokio::test]
async fn no_secret_is_written_outside_root_key() {
    let mut server = Server::start();
    let kms = server.client(REGION);
    let mut secrets = Vec::new();
    for _ in 0..3 {
        let id = create_key(&kms).await.key_id;
        for _ in 0..3 {
            let data_key = kms
                .generate_data_key()
                .key_id(&id)
                .key_spec(DataKeySpec::Aes256)
                .send()
                .await;
            let plaintext = data_key
                .expect("GenerateDataKey")
                .plaintext
                .expect("Plaintext")
                .into_inner();
            assert_eq!(plaintext.len(), 32);
            secrets.push(plaintext);
        }
        let plaintext = format!("plaintext of {id}, never to be stored").into_bytes();
        encrypt(&kms, &id, &plaintext).await;
        secrets.push(plaintext);
    }
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

    let mut files = server.stored_files();
    files.push(server.log_file());

    for file in &files {
        assert_holds_no_secret(file, &secrets);
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
    bytes
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect()
}

fn base64(bytes: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}
