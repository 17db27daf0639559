//! Threshold custody (issue 19): Trent and `trent-party` processes with their own data
//! directories and root keys; keys made and used through aws-sdk-kms; what each party stores
//! checked, the shares combined by the test alone to show that the whole key is nowhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use aws_sdk_kms::Client;

use k256::elliptic_curve::sec1::ToSec1Point as _;

use crate::asymmetric::Scratch;
use crate::common::*;

const POLICY_ALLOW_ALL: &str = "[[rules]]\nkeys = [\"*\"]\ncallers = [\"*\"]\n";

/// A `trent-party run` process, killed on drop.
struct Party {
    name: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl Party {
    /// Enrolls a party in a directory of its own: its name and fingerprint.
    fn enroll(root: &Path, name: &str) -> (Party, String) {
        let dir = root.join(name);
        let output = Command::new(env!("CARGO_BIN_EXE_trent-party"))
            .args(["enroll", "--name", name, "--data-dir"])
            .arg(&dir)
            .output()
            .expect("run trent-party enroll");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "enroll: {stdout}");
        let fingerprint = stdout
            .split_whitespace()
            .last()
            .expect("a fingerprint")
            .to_owned();
        assert!(fingerprint.starts_with("sha256:"), "{stdout}");
        (
            Party {
                name: name.to_owned(),
                dir,
                child: None,
            },
            fingerprint,
        )
    }

    fn run(&mut self, server: &Server, policy: &str) {
        let line = server.printed("custody parties dial in at ");
        let address = line.split_whitespace().nth(5).expect("address");
        let fingerprint = line
            .rsplit("identity ")
            .next()
            .and_then(|rest| rest.strip_suffix(')'))
            .expect("Trent's fingerprint");
        let policy_file = self.dir.join("policy.toml");
        std::fs::write(&policy_file, policy).unwrap();
        let connected = format!("custody party connected party=\"{}\"", self.name);
        let before = server.log_count(&connected);
        let log = std::fs::File::create(self.dir.join("party.log")).unwrap();
        self.child = Some(
            Command::new(env!("CARGO_BIN_EXE_trent-party"))
                .args(["run", "--name", &self.name, "--trent", address])
                .args(["--trent-fingerprint", fingerprint, "--data-dir"])
                .arg(&self.dir)
                .arg("--policy")
                .arg(&policy_file)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start trent-party"),
        );
        server.await_log(&connected, before);
    }

    /// SIGKILL, as when its machine is lost.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn shares(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.dir.join("shares"))
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// This party's share of `key_arn`, opened with its own root key file.
    fn share(&self, key_arn: &str, root_key_of: &Party) -> Result<Vec<u8>, String> {
        let key = trent_crypto::KeyMaterial::new(
            std::fs::read(root_key_of.dir.join("root.key")).unwrap(),
        );
        let ring = trent_crypto::root::RootKeyring::new(
            trent_crypto::root::RootKey::from_bytes(key).unwrap(),
        );
        let files = trent::party::ShareFiles::open(&self.dir, &self.name, ring)?;
        use trent_custody::participant::Shares as _;
        files
            .load(key_arn)?
            .map(|s| s.to_vec())
            .ok_or_else(|| "no share".to_owned())
    }
}

impl Drop for Party {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Trent with `names` approved as parties, and those parties (not yet running).
fn deployment(names: &[&str]) -> (Server, Vec<Party>) {
    let root = Server::new_root();
    std::fs::create_dir_all(&root).unwrap();
    let mut config = String::from("[custody]\nlisten = \"127.0.0.1:0\"\n");
    let mut parties = Vec::new();
    for name in names {
        let (party, fingerprint) = Party::enroll(&root, name);
        config.push_str(&format!(
            "[[custody.parties]]\nname = \"{name}\"\nfingerprint = \"{fingerprint}\"\n"
        ));
        parties.push(party);
    }
    let config_file = root.join("trent.toml");
    std::fs::write(&config_file, config).unwrap();
    let audit_log = root.join("audit.log").display().to_string();
    let server = Server::start_on_with(
        root,
        &[
            "--config",
            &config_file.display().to_string(),
            "--test-admin",
            "--audit-log",
            &audit_log,
        ],
    );
    (server, parties)
}

async fn create_threshold_key(kms: &Client, spec: KeySpec, custody: &str) -> String {
    kms.create_key()
        .key_spec(spec)
        .key_usage(KeyUsageType::SignVerify)
        .tags(tag("trent:custody", custody))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateKey {custody}: {e:?}"))
        .key_metadata
        .expect("metadata")
        .key_id
}

async fn sign(
    kms: &Client,
    key_id: &str,
    algorithm: SigningAlgorithmSpec,
    message: &[u8],
) -> Result<Vec<u8>, String> {
    sign_as(kms, key_id, algorithm, MessageType::Raw, message).await
}

async fn sign_as(
    kms: &Client,
    key_id: &str,
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>, String> {
    kms.sign()
        .key_id(key_id)
        .message(Blob::new(message))
        .message_type(message_type)
        .signing_algorithm(algorithm)
        .send()
        .await
        .map(|out| out.signature.expect("Signature").into_inner())
        .map_err(|e| {
            format!(
                "{}: {}",
                e.code().unwrap_or_default(),
                e.message().unwrap_or_default()
            )
        })
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

/// OpenSSL, independently, verifies `signature` over `message` with the key's public key.
async fn openssl_verifies(kms: &Client, key_id: &str, message: &[u8], signature: &[u8]) -> bool {
    let public = public_key(kms, key_id).await;
    let scratch = Scratch::new();
    let (public, message, signature) = (
        scratch.write("pub.der", &public),
        scratch.write("msg", message),
        scratch.write("sig", signature),
    );
    let (ok, stdout, _) = scratch.openssl(&[
        "pkeyutl", "-verify", "-pubin", "-inkey", &public, "-keyform", "DER", "-rawin", "-in",
        &message, "-sigfile", &signature,
    ]);
    ok && String::from_utf8_lossy(&stdout).contains("Verified Successfully")
}

/// OpenSSL, independently, verifies an ECDSA `signature` over SHA-256 of `message` with the
/// key's public key.
async fn openssl_verifies_ecdsa(
    kms: &Client,
    key_id: &str,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let public = public_key(kms, key_id).await;
    let scratch = Scratch::new();
    let (public, message, signature) = (
        scratch.write("pub.der", &public),
        scratch.write("msg", message),
        scratch.write("sig", signature),
    );
    let (ok, stdout, _) = scratch.openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        &public,
        "-keyform",
        "DER",
        "-signature",
        &signature,
        &message,
    ]);
    ok && String::from_utf8_lossy(&stdout).contains("Verified OK")
}

use aws_sdk_kms::error::ProvideErrorMetadata as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_key_signs_with_a_quorum_and_its_whole_key_is_nowhere() {
    let (server, mut parties) = deployment(&["alice", "bob"]);
    for party in &mut parties {
        party.run(&server, POLICY_ALLOW_ALL);
    }
    let kms = server.client(REGION);
    let key_id = create_threshold_key(
        &kms,
        KeySpec::EccNistEdwards25519,
        "threshold:2-of-3:trent/alice/bob",
    )
    .await;
    let arn = key_arn(REGION, &key_id);
    let metadata = describe(&kms, &key_id).await;
    assert_eq!(
        metadata.origin.as_ref().map(|o| o.as_str()),
        Some("AWS_KMS")
    );
    let raw = server
        .call(REGION, "DescribeKey", &serde_json::json!({"KeyId": key_id}))
        .await
        .ok();
    assert_eq!(
        raw["KeyMetadata"]["Custody"],
        serde_json::json!({"Scheme": "FROST_ED25519", "Threshold": 2, "Parties": ["trent", "alice", "bob"]}),
        "DescribeKey's Custody member"
    );
    let message = b"signed by two of three";
    let signature = sign(&kms, &key_id, SigningAlgorithmSpec::Ed25519Sha512, message)
        .await
        .expect("Sign");
    assert!(
        openssl_verifies(&kms, &key_id, message, &signature).await,
        "OpenSSL verifies the threshold signature"
    );
    let verified = kms
        .verify()
        .key_id(&key_id)
        .message(Blob::new(message.as_slice()))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::Ed25519Sha512)
        .signature(Blob::new(signature))
        .send()
        .await
        .expect("Verify");
    assert!(verified.signature_valid);

    // Each party holds exactly one share, its own, which opens only under its own root key.
    let public = kms
        .get_public_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .public_key
        .unwrap()
        .into_inner();
    let group_key = &public[public.len() - 32..];
    let mut packages = Vec::new();
    for (party, other) in [(&parties[0], &parties[1]), (&parties[1], &parties[0])] {
        assert_eq!(party.shares().len(), 1, "{} holds one share", party.name);
        let share = party
            .share(&arn, party)
            .expect("the share opens under its party's root key");
        assert!(
            party.share(&arn, other).is_err(),
            "{}'s share opens under another party's root key",
            party.name
        );
        let package =
            frost_ed25519::keys::KeyPackage::deserialize(&share).expect("a FROST key package");
        let index: u16 = if party.name == "alice" { 2 } else { 3 };
        assert_eq!(
            *package.identifier(),
            frost_ed25519::Identifier::try_from(index).unwrap()
        );
        let image = frost_ed25519::keys::VerifyingShare::from(*package.signing_share());
        assert_eq!(
            image,
            *package.verifying_share(),
            "share·G is the party's verifying share"
        );
        assert_ne!(
            image.serialize().unwrap(),
            group_key,
            "a share is not the group key"
        );
        assert_eq!(package.verifying_key().serialize().unwrap(), group_key);
        packages.push(package);
    }

    // The test alone combines two shares into the group's secret, then looks for it everywhere.
    let secret = frost_ed25519::keys::reconstruct(&packages)
        .expect("combine")
        .serialize();
    let group = frost_ed25519::SigningKey::deserialize(&secret).unwrap();
    assert_eq!(
        frost_ed25519::VerifyingKey::from(&group)
            .serialize()
            .unwrap(),
        group_key,
        "the combined shares are the key"
    );
    let mut reversed = secret.clone();
    reversed.reverse();
    for form in [secret.clone(), reversed] {
        for dir in [
            server.data_dir(),
            parties[0].dir.clone(),
            parties[1].dir.clone(),
        ] {
            assert_not_under(&dir, &form);
        }
        assert_not_in_file(&server.log_file(), &form);
    }
}

/// No file under `dir` holds `secret`, raw, in hex or in base64.
fn assert_not_under(dir: &Path, secret: &[u8]) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            assert_not_under(&path, secret);
        } else {
            assert_not_in_file(&path, secret);
        }
    }
}

fn assert_not_in_file(path: &Path, secret: &[u8]) {
    let bytes = std::fs::read(path).unwrap_or_default();
    let forms = [
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        base64_simd::STANDARD.encode_to_string(secret).into_bytes(),
    ];
    for form in forms {
        assert!(
            find(&bytes, &form).is_none(),
            "the whole key is in {}",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_three_signs_with_one_party_down_and_fails_fast_without_a_quorum() {
    let (server, mut parties) = deployment(&["alice", "bob"]);
    for party in &mut parties {
        party.run(&server, POLICY_ALLOW_ALL);
    }
    let kms = server.client(REGION);
    let ed448 = create_threshold_key(
        &kms,
        KeySpec::from("ECC_ED448"),
        "threshold:2-of-2:alice/bob",
    )
    .await;
    let ed25519 = create_threshold_key(
        &kms,
        KeySpec::EccNistEdwards25519,
        "threshold:2-of-3:alice/bob/trent",
    )
    .await;
    let signature = sign(&kms, &ed448, SigningAlgorithmSpec::from("ED448"), b"ed448")
        .await
        .expect("Ed448 Sign");
    assert!(openssl_verifies(&kms, &ed448, b"ed448", &signature).await);

    parties[1].kill();
    let signature = sign(
        &kms,
        &ed25519,
        SigningAlgorithmSpec::Ed25519Sha512,
        b"bob is down",
    )
    .await
    .expect("2-of-3 with one down");
    assert!(openssl_verifies(&kms, &ed25519, b"bob is down", &signature).await);
    let started = Instant::now();
    let refused = sign(
        &kms,
        &ed448,
        SigningAlgorithmSpec::from("ED448"),
        b"no quorum",
    )
    .await
    .expect_err("no quorum");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        refused.starts_with("DependencyTimeoutException") && refused.contains("quorum"),
        "{refused}"
    );
    parties[0].kill();
    let refused = sign(
        &kms,
        &ed25519,
        SigningAlgorithmSpec::Ed25519Sha512,
        b"trent alone",
    )
    .await
    .expect_err("trent alone");
    assert!(
        refused.starts_with("DependencyTimeoutException"),
        "{refused}"
    );
    let refused = create_threshold_key_error(&kms, "threshold:2-of-2:trent/alice").await;
    assert!(
        refused.starts_with("DependencyTimeoutException"),
        "{refused}"
    );
}

async fn create_threshold_key_error(kms: &Client, custody: &str) -> String {
    let error = kms
        .create_key()
        .key_spec(KeySpec::EccNistEdwards25519)
        .key_usage(KeyUsageType::SignVerify)
        .tags(tag("trent:custody", custody))
        .send()
        .await
        .expect_err("CreateKey should fail");
    format!(
        "{}: {}",
        error.code().unwrap_or_default(),
        error.message().unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_party_decides_by_its_own_policy_and_forgets_deleted_keys() {
    let (server, mut parties) = deployment(&["alice"]);
    let only_someone_else =
        "[[rules]]\nkeys = [\"*\"]\ncallers = [\"arn:aws:iam::111122223333:user/someone-else\"]\n";
    parties[0].run(&server, only_someone_else);
    let kms = server.client(REGION);
    let key_id = create_threshold_key(
        &kms,
        KeySpec::EccNistEdwards25519,
        "threshold:2-of-2:trent/alice",
    )
    .await;
    let refused = sign(
        &kms,
        &key_id,
        SigningAlgorithmSpec::Ed25519Sha512,
        b"not allowed",
    )
    .await
    .expect_err("alice refuses");
    assert!(
        refused.starts_with("AccessDeniedException") && refused.contains("alice"),
        "{refused}"
    );
    assert!(
        std::fs::read_to_string(parties[0].dir.join("signed.log"))
            .unwrap_or_default()
            .is_empty(),
        "nothing signed"
    );

    // The tag is CreateKey's alone; keys the scheme cannot hold are refused.
    let retag = kms
        .tag_resource()
        .key_id(&key_id)
        .tags(tag("trent:custody", "threshold:2-of-2:trent/bob"))
        .send()
        .await;
    assert_code(retag, "TagException");
    let untag = kms
        .untag_resource()
        .key_id(&key_id)
        .tag_keys("trent:custody")
        .send()
        .await;
    assert_code(untag, "TagException");
    let p384 = kms
        .create_key()
        .key_spec(KeySpec::EccNistP384)
        .key_usage(KeyUsageType::SignVerify)
        .tags(tag("trent:custody", "threshold:2-of-2:trent/alice"))
        .send()
        .await;
    assert_code(p384, "UnsupportedOperationException");
    // Threshold ECDSA asks alice's policy too.
    let ecdsa =
        create_threshold_key(&kms, KeySpec::EccSecgP256K1, "threshold:2-of-2:trent/alice").await;
    let refused = sign(&kms, &ecdsa, SigningAlgorithmSpec::EcdsaSha256, b"no")
        .await
        .expect_err("alice refuses");
    assert!(
        refused.starts_with("AccessDeniedException") && refused.contains("alice"),
        "{refused}"
    );
    let digest = kms
        .sign()
        .key_id(&key_id)
        .message(Blob::new(vec![0u8; 64]))
        .message_type(MessageType::Digest)
        .signing_algorithm(SigningAlgorithmSpec::Ed25519PhSha512)
        .send()
        .await;
    assert!(digest.is_err(), "a prehashed signature is refused");

    // Allowed now (the policy is read at start): signed, and in the party's own log.
    parties[0].kill();
    parties[0].run(&server, POLICY_ALLOW_ALL);
    sign(
        &kms,
        &key_id,
        SigningAlgorithmSpec::Ed25519Sha512,
        b"allowed",
    )
    .await
    .expect("Sign");
    let log = std::fs::read_to_string(parties[0].dir.join("signed.log")).unwrap();
    assert!(
        log.contains(&key_arn(REGION, &key_id)) && log.contains("user/test"),
        "{log}"
    );
    let audit =
        std::fs::read_to_string(server.data_dir().parent().unwrap().join("audit.log")).unwrap();
    let signed = audit
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|event| event["eventName"] == "Sign" && event["errorCode"].is_null())
        .expect("the signature is in Trent's audit log");
    assert_eq!(
        signed["trent"]["custodySigners"],
        serde_json::json!(["trent", "alice"])
    );

    // Deletion carried out while alice is offline: she deletes her share when she connects.
    parties[0].kill();
    for key_id in [&key_id, &ecdsa] {
        kms.schedule_key_deletion()
            .key_id(key_id)
            .pending_window_in_days(7)
            .send()
            .await
            .unwrap();
    }
    server.advance_clock(8 * 86_400).await;
    let gone = Instant::now() + Duration::from_secs(90);
    for key_id in [&key_id, &ecdsa] {
        while kms.describe_key().key_id(key_id).send().await.is_ok() {
            assert!(Instant::now() < gone, "the key was never deleted");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(parties[0].shares().len(), 2);
    parties[0].run(&server, POLICY_ALLOW_ALL);
    let forgotten = Instant::now() + Duration::from_secs(10);
    while !parties[0].shares().is_empty() {
        assert!(
            Instant::now() < forgotten,
            "alice kept the share of a deleted key"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_lost_mid_protocol_leaves_nothing_half_made_and_a_retry_works() {
    let (mut server, mut parties) = deployment(&["alice"]);
    parties[0].run(&server, POLICY_ALLOW_ALL);
    let kms = server.client(REGION);
    let signer = create_threshold_key(
        &kms,
        KeySpec::EccNistEdwards25519,
        "threshold:2-of-2:trent/alice",
    )
    .await;

    // Alice frozen (SIGSTOP) while connected: the key generation and the signature wait on her
    // and fail within the step's deadline; then she is killed (-9) and comes back.
    let pid = parties[0].child.as_ref().unwrap().id().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let keys_before = list_key_ids(&kms, None).await.len();
    let refused = create_threshold_key_error(&kms, "threshold:2-of-2:trent/alice").await;
    assert!(
        refused.starts_with("DependencyTimeoutException"),
        "{refused}"
    );
    let refused = sign(
        &kms,
        &signer,
        SigningAlgorithmSpec::Ed25519Sha512,
        b"frozen",
    )
    .await
    .expect_err("alice is frozen");
    assert!(
        refused.starts_with("DependencyTimeoutException"),
        "{refused}"
    );
    assert_eq!(
        list_key_ids(&kms, None).await.len(),
        keys_before,
        "no key from the failed generation"
    );
    parties[0].kill();
    parties[0].run(&server, POLICY_ALLOW_ALL);
    // Whatever alice kept of the failed generation names no key that exists, and is never used.
    let retried = create_threshold_key(
        &kms,
        KeySpec::EccNistEdwards25519,
        "threshold:2-of-2:trent/alice",
    )
    .await;
    for key_id in [&signer, &retried] {
        let signature = sign(&kms, key_id, SigningAlgorithmSpec::Ed25519Sha512, b"after")
            .await
            .expect("Sign after the retry");
        assert!(openssl_verifies(&kms, key_id, b"after", &signature).await);
    }

    // Trent killed (-9) and started again: alice dials again and the keys still sign.
    server.crash_and_restart();
    let kms = server.client(REGION);
    parties[0].kill();
    parties[0].run(&server, POLICY_ALLOW_ALL);
    let signature = sign(
        &kms,
        &signer,
        SigningAlgorithmSpec::Ed25519Sha512,
        b"after a crash",
    )
    .await
    .expect("Sign after Trent's crash");
    assert!(openssl_verifies(&kms, &signer, b"after a crash", &signature).await);
}

/// Threshold ECDSA (DKLs23, experimental): a 2-of-2 key of each curve signs RAW and DIGEST
/// messages, OpenSSL verifies, and so does Verify; a 2-of-3 secp256k1 key signs with a party
/// down, and its parties' shares combined by the test alone are a key found nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_ecdsa_keys_sign_raw_and_digest_and_their_whole_key_is_nowhere() {
    let (server, mut parties) = deployment(&["alice", "bob"]);
    for party in &mut parties {
        party.run(&server, POLICY_ALLOW_ALL);
    }
    let kms = server.client(REGION);
    let message = b"signed by trent and alice";
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
    for (spec, scheme) in [
        (KeySpec::EccSecgP256K1, "DKLS23_SECP256K1"),
        (KeySpec::EccNistP256, "DKLS23_P256"),
    ] {
        let key_id = create_threshold_key(&kms, spec.clone(), "threshold:2-of-2:trent/alice").await;
        let raw = server
            .call(REGION, "DescribeKey", &serde_json::json!({"KeyId": key_id}))
            .await
            .ok();
        assert_eq!(
            raw["KeyMetadata"]["Custody"],
            serde_json::json!({"Scheme": scheme, "Threshold": 2, "Parties": ["trent", "alice"], "Experimental": true}),
        );
        let algorithm = SigningAlgorithmSpec::EcdsaSha256;
        let signatures = [
            sign(&kms, &key_id, algorithm.clone(), message)
                .await
                .expect("Sign RAW"),
            sign_as(
                &kms,
                &key_id,
                algorithm.clone(),
                MessageType::Digest,
                digest.as_ref(),
            )
            .await
            .expect("Sign DIGEST"),
        ];
        for signature in signatures {
            assert!(
                openssl_verifies_ecdsa(&kms, &key_id, message, &signature).await,
                "OpenSSL verifies the {spec:?} threshold signature"
            );
            let verified = kms
                .verify()
                .key_id(&key_id)
                .message(Blob::new(message.as_slice()))
                .message_type(MessageType::Raw)
                .signing_algorithm(algorithm.clone())
                .signature(Blob::new(signature))
                .send()
                .await
                .expect("Verify");
            assert!(verified.signature_valid);
        }
        let sha384 = sign(&kms, &key_id, SigningAlgorithmSpec::EcdsaSha384, message).await;
        assert!(
            sha384
                .as_ref()
                .is_err_and(|e| e.starts_with("InvalidKeyUsageException")),
            "{sha384:?}"
        );
    }

    let key_id = create_threshold_key(
        &kms,
        KeySpec::EccSecgP256K1,
        "threshold:2-of-3:trent/alice/bob",
    )
    .await;
    let arn = key_arn(REGION, &key_id);
    let spki = public_key(&kms, &key_id).await;
    let group_key = &spki[spki.len() - 65..];
    let mut shares = Vec::new();
    for party in &parties {
        let share = party
            .share(&arn, party)
            .expect("the share opens under its party's root key");
        let share: dkls23::secp256k1::Party = postcard::from_bytes(&share).expect("a DKLs23 party");
        let image = (k256::ProjectivePoint::GENERATOR * share.poly_point).to_affine();
        assert_ne!(
            image.to_sec1_point(false).as_bytes(),
            group_key,
            "a share is not the group key"
        );
        assert_eq!(share.pk.to_sec1_point(false).as_bytes(), group_key);
        shares.push(share);
    }
    // The test alone combines alice's (index 2) and bob's (index 3) shares: Lagrange at 0.
    let (alice, bob) = (shares[0].poly_point, shares[1].poly_point);
    let secret = alice * k256::Scalar::from(3u64) - bob * k256::Scalar::from(2u64);
    let combined = (k256::ProjectivePoint::GENERATOR * secret).to_affine();
    assert_eq!(
        combined.to_sec1_point(false).as_bytes(),
        group_key,
        "the combined shares are the key"
    );
    let secret = secret.to_bytes().to_vec();
    let mut reversed = secret.clone();
    reversed.reverse();
    for form in [secret, reversed] {
        for dir in [
            server.data_dir(),
            parties[0].dir.clone(),
            parties[1].dir.clone(),
        ] {
            assert_not_under(&dir, &form);
        }
        assert_not_in_file(&server.log_file(), &form);
    }

    parties[1].kill();
    let signature = sign(
        &kms,
        &key_id,
        SigningAlgorithmSpec::EcdsaSha256,
        b"bob is down",
    )
    .await
    .expect("2-of-3 with one down");
    assert!(openssl_verifies_ecdsa(&kms, &key_id, b"bob is down", &signature).await);
}
