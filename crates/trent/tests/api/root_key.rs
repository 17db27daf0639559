//! The root key's providers (file, passphrase, PKCS#11 through SoftHSMv2, another KMS) and its
//! rotation while nodes serve (issue 18): what was encrypted, signed or MACed before still works
//! after, a wrong passphrase, PIN or key is refused at start touching nothing, and no secret
//! reaches a log.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeySpec, KeySpec, KeyUsageType, MacAlgorithmSpec, MessageType, OriginType,
    SigningAlgorithmSpec,
};
use aws_sdk_kms::Client;

use crate::asymmetric::Scratch;
use crate::common::*;

const PASSPHRASE: &str = "correct horse battery staple";
const PIN: &str = "735109";

/// Runs `trent ARGS` with `env`: (success, stdout, stderr).
fn trent(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run trent");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[track_caller]
fn trent_ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let (ok, stdout, stderr) = trent(args, env);
    assert!(ok, "trent {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

fn path_str(path: &Path) -> String {
    path.display().to_string()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// What a test made before changing the root key, to check after.
struct Made {
    key_id: String,
    blob: Blob,
    data_key: (Vec<u8>, Blob),
    mac: (String, Vec<u8>),
    signature: (String, Vec<u8>),
    imported: (String, Blob),
}

const MESSAGE: &[u8] = b"made before the root key changed";

/// One key of each kind whose material the root key wraps, and something made with each.
async fn make(kms: &Client) -> Made {
    let key_id = create_key(kms).await.key_id;
    let blob = encrypt(kms, &key_id, MESSAGE).await;
    let data_key = kms
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKey");
    let data_key = (
        data_key.plaintext.expect("Plaintext").into_inner(),
        data_key.ciphertext_blob.expect("CiphertextBlob"),
    );
    let hmac = kms
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .expect("CreateKey HMAC")
        .key_metadata
        .expect("metadata")
        .key_id;
    let mac = kms
        .generate_mac()
        .key_id(&hmac)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(MESSAGE))
        .send()
        .await
        .expect("GenerateMac")
        .mac
        .expect("Mac")
        .into_inner();
    let signer = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .expect("CreateKey ECC")
        .key_metadata
        .expect("metadata")
        .key_id;
    let signature = kms
        .sign()
        .key_id(&signer)
        .message(Blob::new(MESSAGE))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .expect("Sign")
        .signature
        .expect("Signature")
        .into_inner();
    let external = kms
        .create_key()
        .origin(OriginType::External)
        .send()
        .await
        .expect("CreateKey EXTERNAL")
        .key_metadata
        .expect("metadata")
        .key_id;
    crate::import::import_material(
        kms,
        &Scratch::new(),
        &external,
        "RSAES_OAEP_SHA_256",
        "RSA_2048",
        &[7u8; 32],
    )
    .await;
    let imported = encrypt(kms, &external, MESSAGE).await;
    Made {
        key_id,
        blob,
        data_key,
        mac: (hmac, mac),
        signature: (signer, signature),
        imported: (external, imported),
    }
}

/// Everything `make` made still decrypts and verifies.
async fn check(kms: &Client, made: &Made) {
    assert_eq!(decrypt(kms, &made.blob).await, MESSAGE);
    assert_eq!(decrypt(kms, &made.data_key.1).await, made.data_key.0);
    assert_eq!(decrypt(kms, &made.imported.1).await, MESSAGE);
    let valid = kms
        .verify_mac()
        .key_id(&made.mac.0)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(MESSAGE))
        .mac(Blob::new(made.mac.1.clone()))
        .send()
        .await
        .expect("VerifyMac");
    assert!(valid.mac_valid);
    let verified = kms
        .verify()
        .key_id(&made.signature.0)
        .message(Blob::new(MESSAGE))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .signature(Blob::new(made.signature.1.clone()))
        .send()
        .await
        .expect("Verify");
    assert!(verified.signature_valid);
    // And new work under the same keys.
    let again = encrypt(kms, &made.key_id, b"after").await;
    assert_eq!(decrypt(kms, &again).await, b"after");
}

/// A server on the embedded store in a directory of its own, with the default root key file.
fn embedded_server() -> Server {
    Server::start_on(Server::new_root(), None)
}

/// Every file under `dir`, and the server's log, must not hold `secret` (as it is, or in hex).
fn assert_nowhere(dir: &Path, secret: &[u8], what: &str) {
    let hex_form = hex::encode(secret);
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).expect("read file");
            assert!(
                find(&bytes, secret).is_none() && find(&bytes, hex_form.as_bytes()).is_none(),
                "{what} found in {}",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn a_root_key_file_others_can_read_is_refused() {
    let dir = Server::new_root();
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("root.key");
    std::fs::write(&key, [5u8; 32]).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let uri = format!("file:{}", path_str(&key));
    let (status, stderr) = refused_start(&["--root-key", &uri]);
    assert!(!status.success());
    assert!(
        stderr.contains("readable by others") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    for bad in [
        "nowhere:/x",
        "file:",
        "file:/x?module=y",
        "pkcs11:/x?token=t&key=k",
        "kms:/x",
    ] {
        let (status, stderr) = refused_start(&["--root-key", bad]);
        assert!(
            !status.success() && stderr.contains("invalid value"),
            "{bad}: {stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_passphrase_sealed_root_key_opens_with_its_passphrase_only() {
    let mut server = embedded_server();
    let made = make(&server.client(REGION)).await;
    server.stop();
    let plain = server.data_dir().join("root.key");
    let root_key = std::fs::read(&plain).unwrap();
    let sealed = server.root().join("root.sealed");
    let sealed_uri = format!("passphrase:{}", path_str(&sealed));
    let out = trent_ok(
        &[
            "root-key",
            "convert",
            "--from",
            &format!("file:{}", path_str(&plain)),
            "--to",
            &sealed_uri,
        ],
        &[("TRENT_NEW_ROOT_KEY_PASSPHRASE", PASSPHRASE)],
    );
    assert!(out.contains("left as it was"), "{out}");
    // The operator destroys the plain form; the sealed one is all there is.
    std::fs::remove_file(&plain).unwrap();
    let database = std::fs::read(server.data_dir().join("trent.db")).unwrap();

    let args = strings(&["--root-key", &sealed_uri]);
    let refused = server
        .start_again(
            &args,
            &[("TRENT_ROOT_KEY_PASSPHRASE", "not the passphrase")],
        )
        .expect_err("a wrong passphrase must be refused");
    assert!(
        refused.contains("wrong passphrase for root key"),
        "{refused}"
    );
    let refused = server
        .start_again(&args, &[])
        .expect_err("no passphrase at all");
    assert!(refused.contains("a passphrase is needed"), "{refused}");
    assert_eq!(
        std::fs::read(server.data_dir().join("trent.db")).unwrap(),
        database,
        "a refused start touches nothing"
    );

    let passphrase_file = server.root().join("passphrase");
    std::fs::write(&passphrase_file, format!("{PASSPHRASE}\n")).unwrap();
    let mut args = args.clone();
    args.extend(strings(&[
        "--root-key-passphrase-file",
        &path_str(&passphrase_file),
    ]));
    server
        .start_again(&args, &[])
        .expect("the right passphrase opens it");
    check(&server.client(REGION), &made).await;
    server.stop();
    std::fs::remove_file(&passphrase_file).unwrap();
    assert_nowhere(server.root(), PASSPHRASE.as_bytes(), "the passphrase");
    assert_nowhere(server.root(), &root_key, "the root key");
}

/// A SoftHSMv2 token of its own (`scripts/softhsm`): the environment the module needs, and the
/// module's path.
fn softhsm(dir: &Path) -> ((String, String), String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/softhsm");
    let output = Command::new(script)
        .args(["init", &path_str(dir), "trent", PIN])
        .output()
        .expect("run scripts/softhsm");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "scripts/softhsm failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .to_owned()
    };
    (
        ("SOFTHSM2_CONF".to_owned(), value("SOFTHSM2_CONF=")),
        value("MODULE="),
    )
}

#[tokio::test]
async fn a_root_key_sealed_by_an_hsm_opens_with_its_pin_and_key() {
    let mut server = embedded_server();
    let made = make(&server.client(REGION)).await;
    server.stop();
    let root = server.root().to_path_buf();
    let (conf, module) = softhsm(&root.join("hsm"));
    let env = [(conf.0.as_str(), conf.1.as_str())];
    let pin_file = root.join("pin");
    std::fs::write(&pin_file, PIN).unwrap();
    let uri = |file: &str, key: &str, pin_file: &Path| {
        format!(
            "pkcs11:{}?module={module}&token=trent&key={key}&pin-file={}",
            path_str(&root.join(file)),
            path_str(pin_file)
        )
    };

    // A new root key under a new HSM key: the form `init` makes.
    let other = uri("other.p11", "trent-root", &pin_file);
    let out = trent_ok(
        &["root-key", "init", "--create-hsm-key", "--to", &other],
        &env,
    );
    assert!(out.contains("written to"), "{out}");
    let (ok, _, stderr) = trent(
        &[
            "root-key",
            "init",
            "--create-hsm-key",
            "--to",
            &uri("third.p11", "trent-root", &pin_file),
        ],
        &env,
    );
    assert!(!ok && stderr.contains("already holds a key"), "{stderr}");
    // The store's own root key moved into the HSM.
    let plain = server.data_dir().join("root.key");
    let root_key = std::fs::read(&plain).unwrap();
    let sealed = uri("root.p11", "trent-root", &pin_file);
    trent_ok(
        &[
            "root-key",
            "convert",
            "--from",
            &format!("file:{}", path_str(&plain)),
            "--to",
            &sealed,
        ],
        &env,
    );
    std::fs::remove_file(&plain).unwrap();

    server
        .start_again(&strings(&["--root-key", &sealed]), &env)
        .expect("start on the HSM");
    check(&server.client(REGION), &made).await;

    let wrong_pin = root.join("wrong-pin");
    std::fs::write(&wrong_pin, "000000").unwrap();
    let refused = server
        .start_again(
            &strings(&["--root-key", &uri("root.p11", "trent-root", &wrong_pin)]),
            &env,
        )
        .expect_err("a wrong PIN must be refused");
    assert!(refused.contains("wrong PIN"), "{refused}");
    let refused = server
        .start_again(
            &strings(&["--root-key", &uri("root.p11", "no-such-key", &pin_file)]),
            &env,
        )
        .expect_err("a missing HSM key must be refused");
    assert!(refused.contains("holds no key labelled"), "{refused}");
    let refused = server
        .start_again(&strings(&["--root-key", &other]), &env)
        .expect_err("another root key must be refused");
    assert!(refused.contains("wrapped under root key"), "{refused}");

    server
        .start_again(&strings(&["--root-key", &sealed]), &env)
        .expect("start on the HSM again");
    check(&server.client(REGION), &made).await;
    server.stop();
    std::fs::remove_file(&pin_file).unwrap();
    std::fs::remove_file(&wrong_pin).unwrap();
    assert_nowhere(&root, PIN.as_bytes(), "the PIN");
    assert_nowhere(&root, &root_key, "the root key");
}

#[tokio::test]
async fn a_root_key_sealed_by_another_trent_opens_while_that_key_works() {
    let sealer = Server::start();
    let sealer_kms = sealer.client(REGION);
    let sealing_key = create_key(&sealer_kms).await.key_id;
    let mut server = embedded_server();
    let made = make(&server.client(REGION)).await;
    server.stop();
    let plain = server.data_dir().join("root.key");
    let sealed = server.root().join("root.kms");
    let uri = format!(
        "kms:{}?key={sealing_key}&region={REGION}&endpoint={}",
        path_str(&sealed),
        sealer.url()
    );
    let credentials = [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    trent_ok(
        &[
            "root-key",
            "convert",
            "--from",
            &format!("file:{}", path_str(&plain)),
            "--to",
            &uri,
        ],
        &credentials,
    );
    std::fs::remove_file(&plain).unwrap();
    let args = strings(&["--root-key", &uri]);
    server
        .start_again(&args, &credentials)
        .expect("auto-unseal");
    check(&server.client(REGION), &made).await;

    // The sealing key disabled: the root key no longer opens.
    sealer_kms
        .disable_key()
        .key_id(&sealing_key)
        .send()
        .await
        .expect("DisableKey");
    let refused = server
        .start_again(&args, &credentials)
        .expect_err("a disabled sealing key");
    assert!(refused.contains("DisabledException"), "{refused}");
    sealer_kms
        .enable_key()
        .key_id(&sealing_key)
        .send()
        .await
        .expect("EnableKey");
    server
        .start_again(&args, &credentials)
        .expect("auto-unseal again");
    server.stop();
    // The sealing service gone: refused fast, not hung.
    drop(sealer);
    let started = Instant::now();
    let refused = server
        .start_again(&args, &credentials)
        .expect_err("no sealing service");
    assert!(refused.contains("did not open"), "{refused}");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "took {:?}",
        started.elapsed()
    );
}

/// The nodes of a rotation test, the flags naming their store (for `trent` commands, and for a
/// node beside its own data dir), and the root key they start with.
struct Deployment {
    nodes: Vec<Server>,
    tool_args: Vec<String>,
    node_args: Vec<String>,
    old_key: PathBuf,
    dir: PathBuf,
}

/// Rotates the root key while the nodes serve, kills the rotation part-way and resumes it; then
/// the store opens with the new key alone, and every wrapped value names it.
async fn rotate_while_serving(deployment: Deployment) {
    let Deployment {
        mut nodes,
        tool_args,
        node_args,
        old_key,
        dir,
    } = deployment;
    let with_key = |key: &Path| {
        let mut args = node_args.clone();
        args.extend(strings(&["--root-key-file", &path_str(key)]));
        args
    };
    let kms = nodes[0].client(REGION);
    let made = make(&kms).await;
    for _ in 0..120 {
        create_key(&kms).await;
    }

    // Traffic on every node for as long as the rotation runs.
    let done = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let traffic: Vec<_> = nodes
        .iter()
        .map(|node| {
            let (kms, key_id, done, served) = (
                node.client(REGION),
                made.key_id.clone(),
                done.clone(),
                served.clone(),
            );
            tokio::spawn(async move {
                let mut n = 0;
                while !done.load(Ordering::Relaxed) {
                    let blob = encrypt(&kms, &key_id, b"during").await;
                    assert_eq!(decrypt(&kms, &blob).await, b"during");
                    if n % 10 == 0 {
                        create_key(&kms).await;
                    }
                    n += 1;
                    served.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let new_key = dir.join("new.key");
    let mut rotate_args = strings(&["root-key", "rotate", "--batch", "10", "--to"]);
    rotate_args.push(format!("file:{}", path_str(&new_key)));
    rotate_args.extend(tool_args.clone());
    rotate_args.extend(strings(&["--root-key-file", &path_str(&old_key)]));
    let mut first = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(&rotate_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the rotation");
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    loop {
        let line = lines
            .next()
            .expect("the rotation ended before rewrapping")
            .unwrap();
        seen.push(line.clone());
        if line.contains("pass 1: rewrapped") {
            break;
        }
    }
    first.kill().expect("kill -9 the rotation");
    first.wait().unwrap();
    let new_id = seen
        .iter()
        .find_map(|l| l.strip_prefix("new root key "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the new key's ID")
        .to_owned();

    let args: Vec<&str> = rotate_args.iter().map(String::as_str).collect();
    let out = trent_ok(&args, &[]);
    assert!(out.contains("resuming the rotation"), "{out}");
    assert!(out.contains("may now be destroyed"), "{out}");
    done.store(true, Ordering::Relaxed);
    for task in traffic {
        task.await
            .expect("every request during the rotation succeeded");
    }
    assert!(
        served.load(Ordering::Relaxed) > 20,
        "traffic ran during the rotation"
    );
    check(&kms, &made).await;

    // The store opens with the new key alone; the old one is refused.
    let old_key_kept = dir.join("old.key");
    std::fs::rename(&old_key, &old_key_kept).unwrap();
    for node in &mut nodes {
        node.start_again(&with_key(&new_key), &[])
            .expect("start with the new key");
        check(&node.client(REGION), &made).await;
    }
    let refused = nodes[0]
        .start_again(&with_key(&old_key_kept), &[])
        .expect_err("the old key alone must be refused");
    assert!(
        refused.contains(&format!("wrapped under root key {new_id}")),
        "{refused}"
    );

    // Every wrapped value in a backup of the store names the new key.
    let backup = dir.join("backup.jsonl");
    let mut backup_args = strings(&["backup", "--output", &path_str(&backup)]);
    backup_args.extend(tool_args);
    let backup_args: Vec<&str> = backup_args.iter().map(String::as_str).collect();
    trent_ok(&backup_args, &[]);
    let prefix = [b"TRK\x01".to_vec(), hex::decode(&new_id).unwrap()].concat();
    let mut wrapped = 0;
    for line in std::fs::read_to_string(&backup).unwrap().lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        if record["kind"] != "key" {
            continue;
        }
        let mut values: Vec<&serde_json::Value> = record["record"]["materials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["wrapped"])
            .collect();
        values.extend(record["record"]["import"].get("id_key"));
        for value in values {
            let bytes = base64_simd::STANDARD
                .decode_to_vec(value.as_str().unwrap())
                .unwrap();
            assert!(
                bytes.is_empty() || bytes.starts_with(&prefix),
                "a value not under the new key: {value}"
            );
            wrapped += 1;
        }
    }
    assert!(wrapped > 125, "{wrapped} wrapped values");
}

// Multi-threaded: the traffic tasks run while the test waits on the rotation's process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_key_rotates_while_a_node_serves_and_resumes_after_a_kill() {
    let node = embedded_server();
    let dir = node.root().to_path_buf();
    let data_dir = node.data_dir();
    rotate_while_serving(Deployment {
        tool_args: strings(&["--data-dir", &path_str(&data_dir)]),
        node_args: Vec::new(),
        old_key: data_dir.join("root.key"),
        nodes: vec![node],
        dir,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_key_rotates_while_two_postgresql_nodes_serve() {
    let Some(url) = new_database() else {
        return;
    };
    let dir = Server::new_root();
    std::fs::create_dir_all(&dir).unwrap();
    let nodes = (0..2)
        .map(|_| Server::start_node(&dir, &url, &[]))
        .collect();
    rotate_while_serving(Deployment {
        tool_args: strings(&["--store", &url]),
        node_args: strings(&["--store", &url]),
        old_key: dir.join("root.key"),
        nodes,
        dir,
    })
    .await;
}
