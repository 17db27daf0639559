//! Access control through the real SDK: key policies, identity policies (from the config file),
//! conditions, cross-account access, the key policy operations and grants.
//!
//! Every test uses `config()`: account 111122223333 with `admin` (identity policy `kms:*`),
//! `alice` (no KMS permission on keys), and users that hold exactly one permission; account
//! 444455556666 with `bob` (identity policy for a few actions), `dave` (none) and `eve` (`kms:*`).

use std::fmt::Debug;

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, DataKeyPairSpec, DataKeySpec, ExpirationModelType, GrantConstraints,
    GrantListEntry, GrantOperation, KeyAgreementAlgorithmSpec, KeySpec, KeyState, KeyUsageType,
    MacAlgorithmSpec, MessageType, SigningAlgorithmSpec, WrappingKeySpec,
};
use aws_sdk_kms::Client;
use serde_json::{json, Value};

use crate::common::*;

const ACCOUNT_B: &str = "444455556666";
/// A region other than `REGION`, where ReplicateKey and UpdatePrimaryRegion are asked to go.
const OTHER_REGION: &str = "eu-central-1";
const PLAINTEXT: &[u8] = b"top secret";
const MESSAGE: &[u8] = b"message to sign";
const LOCKOUT: &str =
    "The new key policy will not allow you to update the key policy in the future.";
const EXPLICIT_DENY_IN_KEY_POLICY: &str = "with an explicit deny in a resource-based policy";
const EXPLICIT_DENY_IN_IDENTITY_POLICY: &str = "with an explicit deny in an identity-based policy";

/// The account-level operations (no key): decided by identity policies alone.
const ACCOUNT_OPERATIONS: [&str; 5] = [
    "CreateKey",
    "ListKeys",
    "ListAliases",
    "GenerateRandom",
    "ListRetirableGrants",
];

// ---------------------------------------------------------------------------------------------
// Identities and policies

fn user_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:user/{name}")
}

fn alice_arn() -> String {
    user_arn(ACCOUNT, "alice")
}

fn admin_arn() -> String {
    user_arn(ACCOUNT, "admin")
}

fn root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

fn kms_actions(actions: &[&str]) -> Vec<String> {
    actions.iter().map(|a| format!("kms:{a}")).collect()
}

fn policy_document(statements: &[Value]) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// An identity policy statement.
fn identity_statement(effect: &str, actions: &[&str], resource: &str) -> Value {
    json!({"Effect": effect, "Action": kms_actions(actions), "Resource": resource})
}

/// A key policy statement for one AWS principal (an ARN, an account root or `*`).
fn key_statement(effect: &str, principal: &str, actions: &[&str]) -> Value {
    json!({"Effect": effect, "Principal": {"AWS": principal}, "Action": kms_actions(actions), "Resource": "*"})
}

fn allow(principal: &str, actions: &[&str]) -> Value {
    key_statement("Allow", principal, actions)
}

/// `allow` with a `Condition` block.
fn allow_if(principal: &str, actions: &[&str], condition: Value) -> Value {
    let mut statement = allow(principal, actions);
    statement["Condition"] = condition;
    statement
}

/// A key policy that lets the admin do everything, plus `statements`.
fn admin_and(statements: &[Value]) -> String {
    let mut all = vec![allow(&admin_arn(), &["*"])];
    all.extend_from_slice(statements);
    policy_document(&all)
}

/// The default key policy's delegation to the account (its IAM policies), plus `statements`.
fn delegation_and(statements: &[Value]) -> String {
    let mut all = vec![allow(&root_arn(ACCOUNT), &["*"])];
    all.extend_from_slice(statements);
    policy_document(&all)
}

fn user_toml(account: &str, name: &str, identity: &[Value]) -> String {
    let policies = if identity.is_empty() {
        String::new()
    } else {
        format!(
            "policies = [{{ name = \"{name}-policy\", document = '{}' }}]\n",
            policy_document(identity)
        )
    };
    format!(
        "[[accounts.users]]\nname = \"{name}\"\naccess_keys = [{{ id = \"{}\", secret = \"{}\" }}]\n{policies}\n",
        access_key(account, name).0,
        access_key(account, name).1
    )
}

fn access_key(account: &str, name: &str) -> (String, String) {
    (
        format!("AKID_{account}_{}", name.replace('-', "_")),
        format!("{name}-secret"),
    )
}

/// The user that may do exactly one account-level operation.
fn only_user(operation: &str) -> String {
    format!("only-{}", operation.to_ascii_lowercase())
}

fn config() -> String {
    // AWS authorizes alias operations on the alias too, by identity policy only.
    let alias_actions = ["CreateAlias", "UpdateAlias", "DeleteAlias"];
    let aliases_of = |account: &str| format!("arn:aws:kms:*:{account}:alias/*");
    let mut toml = format!("[[accounts]]\nid = \"{ACCOUNT}\"\n\n");
    let users_a = [
        ("admin", vec![identity_statement("Allow", &["*"], "*")]),
        (
            "alice",
            vec![identity_statement(
                "Allow",
                &alias_actions,
                &aliases_of(ACCOUNT),
            )],
        ),
        ("carol", vec![]),
        (
            "encryptor",
            vec![identity_statement("Allow", &["Encrypt"], "*")],
        ),
        (
            "blocked",
            vec![
                identity_statement("Allow", &["*"], "*"),
                identity_statement("Deny", &ACCOUNT_OPERATIONS, "*"),
            ],
        ),
    ];
    for (name, identity) in &users_a {
        toml.push_str(&user_toml(ACCOUNT, name, identity));
    }
    for operation in ACCOUNT_OPERATIONS {
        let identity = [identity_statement("Allow", &[operation], "*")];
        toml.push_str(&user_toml(ACCOUNT, &only_user(operation), &identity));
    }
    toml.push_str(&format!("[[accounts]]\nid = \"{ACCOUNT_B}\"\n\n"));
    let bob = [identity_statement(
        "Allow",
        &[
            "Encrypt",
            "Decrypt",
            "GenerateDataKey",
            "CreateKey",
            "ListKeys",
        ],
        "*",
    )];
    toml.push_str(&user_toml(ACCOUNT_B, "bob", &bob));
    toml.push_str(&user_toml(ACCOUNT_B, "dave", &[]));
    let eve = [identity_statement("Allow", &["*"], "*")];
    toml.push_str(&user_toml(ACCOUNT_B, "eve", &eve));
    toml
}

fn start() -> Server {
    Server::start_with_config(&config())
}

fn client(server: &Server, account: &str, name: &str) -> Client {
    let (id, secret) = access_key(account, name);
    server.client_as(REGION, &id, &secret)
}

// ---------------------------------------------------------------------------------------------
// Outcomes and denials

/// A refused call: the error code and message.
#[derive(Debug)]
struct Refusal {
    code: String,
    message: String,
}

fn refusal<E: ProvideErrorMetadata + Debug>(err: SdkError<E>) -> Refusal {
    Refusal {
        code: err
            .code()
            .unwrap_or_else(|| panic!("no error code: {err:?}"))
            .to_owned(),
        message: err.message().unwrap_or_default().to_owned(),
    }
}

type Outcome = Result<(), Refusal>;

fn denial(principal: &str, action: &str, resource: &str, ending: &str) -> String {
    format!("User: {principal} is not authorized to perform: kms:{action} on resource: {resource} {ending}")
}

fn no_key_policy_allows(action: &str) -> String {
    format!("because no resource-based policy allows the kms:{action} action")
}

fn no_identity_policy_allows(action: &str) -> String {
    format!("because no identity-based policy allows the kms:{action} action")
}

#[track_caller]
fn assert_refused(outcome: Outcome, expected_message: &str) {
    match outcome {
        Ok(()) => {
            panic!("expected AccessDeniedException ({expected_message}), but the call succeeded")
        }
        Err(refusal) => {
            assert_eq!(refusal.code, "AccessDeniedException", "{}", refusal.message);
            assert_eq!(refusal.message, expected_message);
        }
    }
}

/// Asserts an SDK result is AccessDeniedException with exactly `expected_message`.
#[track_caller]
fn assert_denied<T: Debug, E: ProvideErrorMetadata + Debug>(
    result: Result<T, SdkError<E>>,
    expected_message: &str,
) {
    assert_refused(result.map(|_| ()).map_err(refusal), expected_message);
}

// ---------------------------------------------------------------------------------------------
// Keys

#[derive(Clone, Copy, Debug)]
enum Kind {
    Symmetric,
    RsaSign,
    EccSign,
    EccAgreement,
    Hmac,
}

impl Kind {
    fn spec(self) -> (KeySpec, KeyUsageType) {
        match self {
            Kind::Symmetric => (KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt),
            Kind::RsaSign => (KeySpec::Rsa2048, KeyUsageType::SignVerify),
            Kind::EccSign => (KeySpec::EccNistP256, KeyUsageType::SignVerify),
            Kind::EccAgreement => (KeySpec::EccNistP256, KeyUsageType::KeyAgreement),
            Kind::Hmac => (KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac),
        }
    }
}

struct TestKey {
    id: String,
    arn: String,
}

/// CreateKey by `kms` (the default key policy when `policy` is None).
async fn new_key(kms: &Client, kind: Kind, policy: Option<&str>) -> TestKey {
    let (spec, usage) = kind.spec();
    let meta = kms
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .set_policy(policy.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateKey {kind:?}: {e:?}"))
        .key_metadata
        .expect("KeyMetadata");
    TestKey {
        arn: meta.arn().expect("Arn").to_owned(),
        id: meta.key_id,
    }
}

async fn put_policy(kms: &Client, key: &str, policy: &str) {
    kms.put_key_policy()
        .key_id(key)
        .policy(policy)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutKeyPolicy: {e:?}"));
}

async fn get_policy(kms: &Client, key: &str) -> String {
    kms.get_key_policy()
        .key_id(key)
        .send()
        .await
        .expect("GetKeyPolicy")
        .policy
        .expect("Policy")
}

async fn encrypt_with(kms: &Client, key: &str, pairs: &[(&str, &str)]) -> Blob {
    kms.encrypt()
        .key_id(key)
        .plaintext(Blob::new(PLAINTEXT))
        .set_encryption_context(context(pairs))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Encrypt: {e:?}"))
        .ciphertext_blob
        .expect("CiphertextBlob")
}

/// Decrypt by `kms`; on success, asserts the plaintext and the key ARN.
async fn try_decrypt(kms: &Client, key: &TestKey, blob: &Blob, pairs: &[(&str, &str)]) -> Outcome {
    let out = kms
        .decrypt()
        .key_id(&key.arn)
        .ciphertext_blob(blob.clone())
        .set_encryption_context(context(pairs))
        .send()
        .await
        .map_err(refusal)?;
    assert_eq!(out.plaintext().map(Blob::as_ref), Some(PLAINTEXT));
    assert_eq!(out.key_id(), Some(key.arn.as_str()));
    Ok(())
}

/// Encrypt by `kms` with `key_id` (any form); on success, asserts the key ARN it answers.
async fn try_encrypt(kms: &Client, key_id: &str, arn: &str) -> Outcome {
    let out = kms
        .encrypt()
        .key_id(key_id)
        .plaintext(Blob::new(PLAINTEXT))
        .send()
        .await
        .map_err(refusal)?;
    assert_eq!(out.key_id(), Some(arn));
    assert!(out
        .ciphertext_blob()
        .is_some_and(|b| !b.as_ref().is_empty()));
    Ok(())
}

async fn alias_targets(kms: &Client, key: &str) -> Vec<String> {
    custom_alias_names(&list_aliases(kms, Some(key), None).await)
}

// ---------------------------------------------------------------------------------------------
// 1. Every key operation: denied without a key policy statement, allowed with exactly its action

#[derive(Clone, Copy, Debug)]
enum Op {
    DescribeKey,
    Encrypt,
    Decrypt,
    ReEncrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    GenerateDataKeyPair,
    GenerateDataKeyPairWithoutPlaintext,
    GetPublicKey,
    Sign,
    Verify,
    GenerateMac,
    VerifyMac,
    DeriveSharedSecret,
    EnableKey,
    DisableKey,
    UpdateKeyDescription,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    TagResource,
    UntagResource,
    ListResourceTags,
    CreateAlias,
    UpdateAlias,
    DeleteAlias,
    PutKeyPolicy,
    GetKeyPolicy,
    ListKeyPolicies,
    CreateGrant,
    ListGrants,
    RevokeGrant,
    // Not in `ROWS`: the cross-account table alone calls these.
    RetireGrant,
    EnableKeyRotation,
    DisableKeyRotation,
    GetKeyRotationStatus,
    ListKeyRotations,
    RotateKeyOnDemand,
    GetParametersForImport,
    ImportKeyMaterial,
    DeleteImportedKeyMaterial,
    ReplicateKey,
    UpdatePrimaryRegion,
    GetKeyLastUsage,
    ListAliases,
}

/// One operation, the key it needs, and the actions its success needs, in the order the server
/// checks them (the first is the one denied when none is allowed).
struct Row {
    op: Op,
    kind: Kind,
    actions: &'static [&'static str],
}

const fn row(op: Op, kind: Kind, actions: &'static [&'static str]) -> Row {
    Row { op, kind, actions }
}

const ROWS: &[Row] = &[
    row(Op::DescribeKey, Kind::Symmetric, &["DescribeKey"]),
    row(Op::Encrypt, Kind::Symmetric, &["Encrypt"]),
    row(Op::Decrypt, Kind::Symmetric, &["Decrypt"]),
    row(
        Op::ReEncrypt,
        Kind::Symmetric,
        &["ReEncryptFrom", "ReEncryptTo"],
    ),
    row(Op::GenerateDataKey, Kind::Symmetric, &["GenerateDataKey"]),
    row(
        Op::GenerateDataKeyWithoutPlaintext,
        Kind::Symmetric,
        &["GenerateDataKeyWithoutPlaintext"],
    ),
    row(
        Op::GenerateDataKeyPair,
        Kind::Symmetric,
        &["GenerateDataKeyPair"],
    ),
    row(
        Op::GenerateDataKeyPairWithoutPlaintext,
        Kind::Symmetric,
        &["GenerateDataKeyPairWithoutPlaintext"],
    ),
    row(Op::GetPublicKey, Kind::RsaSign, &["GetPublicKey"]),
    row(Op::Sign, Kind::RsaSign, &["Sign"]),
    row(Op::Verify, Kind::RsaSign, &["Verify"]),
    row(Op::GenerateMac, Kind::Hmac, &["GenerateMac"]),
    row(Op::VerifyMac, Kind::Hmac, &["VerifyMac"]),
    row(
        Op::DeriveSharedSecret,
        Kind::EccAgreement,
        &["DeriveSharedSecret"],
    ),
    row(Op::EnableKey, Kind::Symmetric, &["EnableKey"]),
    row(Op::DisableKey, Kind::Symmetric, &["DisableKey"]),
    row(
        Op::UpdateKeyDescription,
        Kind::Symmetric,
        &["UpdateKeyDescription"],
    ),
    row(
        Op::ScheduleKeyDeletion,
        Kind::Symmetric,
        &["ScheduleKeyDeletion"],
    ),
    row(
        Op::CancelKeyDeletion,
        Kind::Symmetric,
        &["CancelKeyDeletion"],
    ),
    row(Op::TagResource, Kind::Symmetric, &["TagResource"]),
    row(Op::UntagResource, Kind::Symmetric, &["UntagResource"]),
    row(Op::ListResourceTags, Kind::Symmetric, &["ListResourceTags"]),
    row(Op::CreateAlias, Kind::Symmetric, &["CreateAlias"]),
    row(Op::UpdateAlias, Kind::Symmetric, &["UpdateAlias"]),
    row(Op::DeleteAlias, Kind::Symmetric, &["DeleteAlias"]),
    row(Op::PutKeyPolicy, Kind::Symmetric, &["PutKeyPolicy"]),
    row(Op::GetKeyPolicy, Kind::Symmetric, &["GetKeyPolicy"]),
    row(Op::ListKeyPolicies, Kind::Symmetric, &["ListKeyPolicies"]),
    row(Op::CreateGrant, Kind::Symmetric, &["CreateGrant"]),
    row(Op::ListGrants, Kind::Symmetric, &["ListGrants"]),
    row(Op::RevokeGrant, Kind::Symmetric, &["RevokeGrant"]),
];

/// What the table shares: the two callers, a peer public key for DeriveSharedSecret, and a key
/// alice may move aliases away from (UpdateAlias needs the action on both keys).
struct Table {
    admin: Client,
    alice: Client,
    peer_public_key: Blob,
    alias_source: TestKey,
}

/// What the admin prepared for one call: a ciphertext, signature or MAC; an alias or grant ID.
enum Prep {
    Nothing,
    Bytes(Blob),
    Name(String),
}

impl Prep {
    fn bytes(&self) -> Blob {
        match self {
            Prep::Bytes(blob) => blob.clone(),
            _ => panic!("no bytes prepared"),
        }
    }

    fn name(&self) -> &str {
        match self {
            Prep::Name(name) => name,
            _ => panic!("no name prepared"),
        }
    }
}

fn alias_for(op: Op, key: &TestKey) -> String {
    format!("alias/{op:?}-{}", key.id)
}

async fn describe_as_admin(t: &Table, key: &TestKey) -> aws_sdk_kms::types::KeyMetadata {
    describe(&t.admin, &key.id).await
}

async fn admin_grant(t: &Table, key: &TestKey) -> String {
    t.admin
        .create_grant()
        .key_id(&key.id)
        .grantee_principal(alice_arn())
        .operations(GrantOperation::Decrypt)
        .send()
        .await
        .expect("CreateGrant")
        .grant_id
        .expect("GrantId")
}

async fn prepare(t: &Table, op: Op, key: &TestKey) -> Prep {
    let admin = &t.admin;
    match op {
        Op::Decrypt | Op::ReEncrypt => Prep::Bytes(encrypt_with(admin, &key.id, &[]).await),
        Op::Verify => Prep::Bytes(
            admin
                .sign()
                .key_id(&key.id)
                .message(Blob::new(MESSAGE))
                .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
                .send()
                .await
                .expect("Sign")
                .signature
                .expect("Signature"),
        ),
        Op::VerifyMac => Prep::Bytes(
            admin
                .generate_mac()
                .key_id(&key.id)
                .message(Blob::new(MESSAGE))
                .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                .send()
                .await
                .expect("GenerateMac")
                .mac
                .expect("Mac"),
        ),
        Op::EnableKey => {
            admin
                .disable_key()
                .key_id(&key.id)
                .send()
                .await
                .expect("DisableKey");
            Prep::Nothing
        }
        Op::CancelKeyDeletion => {
            admin
                .schedule_key_deletion()
                .key_id(&key.id)
                .pending_window_in_days(7)
                .send()
                .await
                .expect("ScheduleKeyDeletion");
            Prep::Nothing
        }
        Op::UntagResource | Op::ListResourceTags => {
            admin
                .tag_resource()
                .key_id(&key.id)
                .tags(tag("team", "blue"))
                .send()
                .await
                .expect("TagResource");
            Prep::Nothing
        }
        Op::UpdateAlias => {
            let alias = alias_for(op, key);
            create_alias(admin, &alias, &t.alias_source.id).await;
            Prep::Name(alias)
        }
        Op::DeleteAlias => {
            let alias = alias_for(op, key);
            create_alias(admin, &alias, &key.id).await;
            Prep::Name(alias)
        }
        Op::ListGrants | Op::RevokeGrant | Op::RetireGrant => Prep::Name(admin_grant(t, key).await),
        _ => Prep::Nothing,
    }
}

/// The call of `op` by `kms` on `key`, which it names `id` (its key ID or ARN); on success, asserts
/// what it answered and what it changed (seen by the admin).
async fn call(t: &Table, kms: &Client, id: &str, op: Op, key: &TestKey, prep: &Prep) -> Outcome {
    let (admin, arn) = (&t.admin, Some(key.arn.as_str()));
    match op {
        Op::DescribeKey => {
            let out = kms
                .describe_key()
                .key_id(id)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.key_metadata().and_then(|m| m.arn()), arn);
        }
        Op::Encrypt => try_encrypt(kms, id, &key.arn).await?,
        Op::Decrypt => try_decrypt(kms, key, &prep.bytes(), &[]).await?,
        Op::ReEncrypt => {
            let out = kms
                .re_encrypt()
                .ciphertext_blob(prep.bytes())
                .source_key_id(id)
                .destination_key_id(id)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.source_key_id(), arn);
            assert_eq!(out.key_id(), arn);
            let blob = out.ciphertext_blob.expect("CiphertextBlob");
            assert_eq!(decrypt(admin, &blob).await, PLAINTEXT);
        }
        Op::GenerateDataKey => {
            let out = kms
                .generate_data_key()
                .key_id(id)
                .key_spec(DataKeySpec::Aes256)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.key_id(), arn);
            assert_eq!(out.plaintext().map(|p| p.as_ref().len()), Some(32));
        }
        Op::GenerateDataKeyWithoutPlaintext => {
            let out = kms
                .generate_data_key_without_plaintext()
                .key_id(id)
                .key_spec(DataKeySpec::Aes256)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.key_id(), arn);
            assert!(out
                .ciphertext_blob()
                .is_some_and(|b| !b.as_ref().is_empty()));
        }
        Op::GenerateDataKeyPair => {
            let out = kms
                .generate_data_key_pair()
                .key_id(id)
                .key_pair_spec(DataKeyPairSpec::EccNistP256)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.key_id(), arn);
            assert_eq!(out.key_pair_spec(), Some(&DataKeyPairSpec::EccNistP256));
            assert!(out
                .private_key_plaintext()
                .is_some_and(|b| !b.as_ref().is_empty()));
        }
        Op::GenerateDataKeyPairWithoutPlaintext => {
            let out = kms
                .generate_data_key_pair_without_plaintext()
                .key_id(id)
                .key_pair_spec(DataKeyPairSpec::EccNistP256)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.key_id(), arn);
            assert!(out.public_key().is_some_and(|b| !b.as_ref().is_empty()));
            assert!(out
                .private_key_ciphertext_blob()
                .is_some_and(|b| !b.as_ref().is_empty()));
        }
        Op::GetPublicKey => {
            let out = kms
                .get_public_key()
                .key_id(id)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.key_id(), arn);
            assert_eq!(out.key_spec(), Some(&KeySpec::Rsa2048));
            assert!(out.public_key().is_some_and(|b| !b.as_ref().is_empty()));
        }
        Op::Sign => {
            let out = kms
                .sign()
                .key_id(id)
                .message(Blob::new(MESSAGE))
                .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.key_id(), arn);
            assert_eq!(out.signature().map(|s| s.as_ref().len()), Some(256));
        }
        Op::Verify => {
            let out = kms
                .verify()
                .key_id(id)
                .message(Blob::new(MESSAGE))
                .signature(prep.bytes())
                .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.key_id(), arn);
            assert!(out.signature_valid());
        }
        Op::GenerateMac => {
            let out = kms
                .generate_mac()
                .key_id(id)
                .message(Blob::new(MESSAGE))
                .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.key_id(), arn);
            assert_eq!(out.mac().map(|m| m.as_ref().len()), Some(32));
        }
        Op::VerifyMac => {
            let out = kms
                .verify_mac()
                .key_id(id)
                .message(Blob::new(MESSAGE))
                .mac(prep.bytes())
                .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.key_id(), arn);
            assert!(out.mac_valid());
        }
        Op::DeriveSharedSecret => {
            let out = kms
                .derive_shared_secret()
                .key_id(id)
                .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
                .public_key(t.peer_public_key.clone())
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.key_id(), arn);
            assert_eq!(out.shared_secret().map(|s| s.as_ref().len()), Some(32));
        }
        Op::EnableKey => {
            kms.enable_key().key_id(id).send().await.map_err(refusal)?;
            assert_eq!(
                describe_as_admin(t, key).await.key_state(),
                Some(&KeyState::Enabled)
            );
        }
        Op::DisableKey => {
            kms.disable_key().key_id(id).send().await.map_err(refusal)?;
            assert_eq!(
                describe_as_admin(t, key).await.key_state(),
                Some(&KeyState::Disabled)
            );
        }
        Op::UpdateKeyDescription => {
            kms.update_key_description()
                .key_id(id)
                .description("by alice")
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(
                describe_as_admin(t, key).await.description(),
                Some("by alice")
            );
        }
        Op::ScheduleKeyDeletion => {
            let out = kms
                .schedule_key_deletion()
                .key_id(id)
                .pending_window_in_days(7)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.key_id(), arn);
            assert_eq!(out.key_state(), Some(&KeyState::PendingDeletion));
            assert_eq!(out.pending_window_in_days(), Some(7));
        }
        Op::CancelKeyDeletion => {
            let out = kms
                .cancel_key_deletion()
                .key_id(id)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.key_id(), arn);
            assert_eq!(
                describe_as_admin(t, key).await.key_state(),
                Some(&KeyState::Disabled)
            );
        }
        Op::TagResource => {
            kms.tag_resource()
                .key_id(id)
                .tags(tag("team", "red"))
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(tags_of(admin, &key.id).await, pairs(&[("team", "red")]));
        }
        Op::UntagResource => {
            kms.untag_resource()
                .key_id(id)
                .tag_keys("team")
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(tags_of(admin, &key.id).await, pairs(&[]));
        }
        Op::ListResourceTags => {
            let out = kms
                .list_resource_tags()
                .key_id(id)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.tags(), [tag("team", "blue")]);
        }
        Op::CreateAlias => {
            let alias = alias_for(op, key);
            kms.create_alias()
                .alias_name(&alias)
                .target_key_id(id)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(alias_targets(admin, &key.id).await, [alias]);
        }
        Op::UpdateAlias => {
            kms.update_alias()
                .alias_name(prep.name())
                .target_key_id(id)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(alias_targets(admin, &key.id).await, [prep.name()]);
        }
        Op::DeleteAlias => {
            kms.delete_alias()
                .alias_name(prep.name())
                .send()
                .await
                .map_err(refusal)?;
            assert!(alias_targets(admin, &key.id).await.is_empty());
        }
        Op::PutKeyPolicy => {
            let policy = admin_and(&[allow(&alice_arn(), &["PutKeyPolicy", "DescribeKey"])]);
            kms.put_key_policy()
                .key_id(id)
                .policy(&policy)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(get_policy(admin, &key.id).await, policy);
        }
        Op::GetKeyPolicy => {
            let out = kms
                .get_key_policy()
                .key_id(id)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.policy_name(), Some("default"));
            assert_eq!(
                out.policy(),
                Some(get_policy(admin, &key.id).await.as_str())
            );
        }
        Op::ListKeyPolicies => {
            let out = kms
                .list_key_policies()
                .key_id(id)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.policy_names(), ["default"]);
        }
        Op::CreateGrant => {
            let out = kms
                .create_grant()
                .key_id(id)
                .grantee_principal(alice_arn())
                .operations(GrantOperation::Encrypt)
                .send()
                .await
                .map_err(refusal)?;
            let grant_id = out.grant_id().expect("GrantId");
            assert_grant_id(grant_id);
            assert_eq!(grant_ids(&list_grants(admin, &key.id).await), [grant_id]);
        }
        Op::ListGrants => {
            let out = kms.list_grants().key_id(id).send().await.map_err(refusal)?;
            assert_eq!(grant_ids(out.grants()), [prep.name()]);
        }
        Op::RevokeGrant => {
            kms.revoke_grant()
                .key_id(id)
                .grant_id(prep.name())
                .send()
                .await
                .map_err(refusal)?;
            assert!(list_grants(admin, &key.id).await.is_empty());
        }
        Op::RetireGrant => {
            kms.retire_grant()
                .key_id(id)
                .grant_id(prep.name())
                .send()
                .await
                .map_err(refusal)?;
            assert!(list_grants(admin, &key.id).await.is_empty());
        }
        Op::EnableKeyRotation => {
            kms.enable_key_rotation()
                .key_id(id)
                .send()
                .await
                .map_err(refusal)?;
            assert!(rotation_enabled(admin, &key.id).await);
        }
        Op::DisableKeyRotation => {
            kms.disable_key_rotation()
                .key_id(id)
                .send()
                .await
                .map_err(refusal)?;
            assert!(!rotation_enabled(admin, &key.id).await);
        }
        Op::GetKeyRotationStatus => {
            let out = kms
                .get_key_rotation_status()
                .key_id(id)
                .send()
                .await
                .map_err(refusal)?;
            assert!(!out.key_rotation_enabled());
        }
        Op::ListKeyRotations => {
            let out = kms
                .list_key_rotations()
                .key_id(id)
                .send()
                .await
                .map_err(refusal)?;
            assert!(out.rotations().is_empty());
        }
        Op::RotateKeyOnDemand => {
            kms.rotate_key_on_demand()
                .key_id(id)
                .send()
                .await
                .map_err(refusal)?;
        }
        Op::GetParametersForImport => {
            let out = kms
                .get_parameters_for_import()
                .key_id(id)
                .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
                .wrapping_key_spec(WrappingKeySpec::Rsa2048)
                .send()
                .await
                .map_err(refusal)?;
            assert!(out.public_key().is_some());
        }
        Op::ImportKeyMaterial => {
            kms.import_key_material()
                .key_id(id)
                .import_token(Blob::new(b"an import token".as_slice()))
                .encrypted_key_material(Blob::new(b"wrapped key material".as_slice()))
                .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
                .send()
                .await
                .map_err(refusal)?;
        }
        Op::DeleteImportedKeyMaterial => {
            kms.delete_imported_key_material()
                .key_id(id)
                .send()
                .await
                .map_err(refusal)?;
        }
        Op::ReplicateKey => {
            kms.replicate_key()
                .key_id(id)
                .replica_region(OTHER_REGION)
                .send()
                .await
                .map_err(refusal)?;
        }
        Op::UpdatePrimaryRegion => {
            kms.update_primary_region()
                .key_id(id)
                .primary_region(OTHER_REGION)
                .send()
                .await
                .map_err(refusal)?;
        }
        Op::GetKeyLastUsage => {
            kms.get_key_last_usage()
                .key_id(id)
                .send()
                .await
                .map_err(refusal)?;
        }
        Op::ListAliases => {
            let out = kms
                .list_aliases()
                .key_id(id)
                .send()
                .await
                .map_err(refusal)?;
            assert!(out.aliases().is_empty());
        }
    }
    Ok(())
}

async fn rotation_enabled(kms: &Client, key: &str) -> bool {
    kms.get_key_rotation_status()
        .key_id(key)
        .send()
        .await
        .expect("GetKeyRotationStatus")
        .key_rotation_enabled()
}

/// The table's shared parts, made by the admin of `server`.
async fn table(server: &Server) -> Table {
    let admin = client(server, ACCOUNT, "admin");
    let peer = new_key(&admin, Kind::EccAgreement, None).await;
    let peer_public_key = admin
        .get_public_key()
        .key_id(&peer.id)
        .send()
        .await
        .expect("GetPublicKey")
        .public_key
        .expect("PublicKey");
    // Alice may move aliases away from this key, never to it.
    let source_policy = admin_and(&[allow(&alice_arn(), &["UpdateAlias"])]);
    let alias_source = new_key(&admin, Kind::Symmetric, Some(&source_policy)).await;
    Table {
        alice: client(server, ACCOUNT, "alice"),
        admin,
        peer_public_key,
        alias_source,
    }
}

#[tokio::test]
async fn every_key_operation_needs_its_action_in_the_key_policy() {
    let server = start();
    let t = table(&server).await;
    let admin_only = admin_and(&[]);

    for Row { op, kind, actions } in ROWS {
        // No statement for alice: she is denied the first action the operation needs.
        let key = new_key(&t.admin, *kind, Some(&admin_only)).await;
        let prep = prepare(&t, *op, &key).await;
        let expected = denial(
            &alice_arn(),
            actions[0],
            &key.arn,
            &no_key_policy_allows(actions[0]),
        );
        assert_refused(
            call(&t, &t.alice, &key.id, *op, &key, &prep).await,
            &expected,
        );

        // Allowed one action after another: denied the next one, until all are allowed.
        let key = new_key(&t.admin, *kind, Some(&admin_only)).await;
        for allowed in 1..=actions.len() {
            put_policy(
                &t.admin,
                &key.id,
                &admin_and(&[allow(&alice_arn(), &actions[..allowed])]),
            )
            .await;
            let prep = prepare(&t, *op, &key).await;
            let outcome = call(&t, &t.alice, &key.id, *op, &key, &prep).await;
            match actions.get(allowed) {
                Some(next) => assert_refused(
                    outcome,
                    &denial(&alice_arn(), next, &key.arn, &no_key_policy_allows(next)),
                ),
                None => outcome.unwrap_or_else(|e| panic!("{op:?} allowed by {actions:?}: {e:?}")),
            }
        }
    }
}

/// AWS authorizes CreateAlias on the alias as well as on the key, and only identity policies can
/// allow it on the alias: a key policy alone is not enough.
#[tokio::test]
async fn create_alias_needs_an_identity_policy_for_the_alias() {
    let server = start();
    let admin = client(&server, ACCOUNT, "admin");
    let carol = client(&server, ACCOUNT, "carol");
    let carol_arn = user_arn(ACCOUNT, "carol");
    let policy = admin_and(&[allow(&carol_arn, &["CreateAlias"])]);
    let key = new_key(&admin, Kind::Symmetric, Some(&policy)).await;
    let result = carol
        .create_alias()
        .alias_name("alias/carol")
        .target_key_id(&key.id)
        .send()
        .await;
    let alias = alias_arn(REGION, "alias/carol");
    assert_denied(
        result,
        &denial(
            &carol_arn,
            "CreateAlias",
            &alias,
            &no_identity_policy_allows("CreateAlias"),
        ),
    );
    assert!(alias_targets(&admin, &key.id).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 2. Account-level operations: identity policies decide

async fn call_account_operation(kms: &Client, operation: &str) -> Outcome {
    match operation {
        "CreateKey" => {
            let out = kms.create_key().send().await.map_err(refusal)?;
            assert_eq!(
                out.key_metadata().and_then(|m| m.aws_account_id()),
                Some(ACCOUNT)
            );
        }
        "ListKeys" => {
            let out = kms.list_keys().send().await.map_err(refusal)?;
            assert!(!out.truncated());
        }
        "ListAliases" => {
            let out = kms.list_aliases().send().await.map_err(refusal)?;
            assert!(!out.truncated());
        }
        "GenerateRandom" => {
            let out = kms
                .generate_random()
                .number_of_bytes(24)
                .send()
                .await
                .map_err(refusal)?;
            assert_eq!(out.plaintext().map(|p| p.as_ref().len()), Some(24));
        }
        "ListRetirableGrants" => {
            let out = kms
                .list_retirable_grants()
                .retiring_principal(alice_arn())
                .send()
                .await
                .map_err(refusal)?;
            assert!(out.grants().is_empty());
        }
        other => panic!("not an account-level operation: {other}"),
    }
    Ok(())
}

#[tokio::test]
async fn account_operations_are_decided_by_identity_policies() {
    let server = start();
    let alice = client(&server, ACCOUNT, "alice");
    let blocked = client(&server, ACCOUNT, "blocked");
    for (i, operation) in ACCOUNT_OPERATIONS.into_iter().enumerate() {
        let no_policy = denial(
            &alice_arn(),
            operation,
            "*",
            &no_identity_policy_allows(operation),
        );
        assert_refused(call_account_operation(&alice, operation).await, &no_policy);

        let name = only_user(operation);
        let only = client(&server, ACCOUNT, &name);
        call_account_operation(&only, operation)
            .await
            .unwrap_or_else(|e| panic!("{name} {operation}: {e:?}"));
        // … and nothing else.
        let other = ACCOUNT_OPERATIONS[(i + 1) % ACCOUNT_OPERATIONS.len()];
        let expected = denial(
            &user_arn(ACCOUNT, &name),
            other,
            "*",
            &no_identity_policy_allows(other),
        );
        assert_refused(call_account_operation(&only, other).await, &expected);

        let expected = denial(
            &user_arn(ACCOUNT, "blocked"),
            operation,
            "*",
            EXPLICIT_DENY_IN_IDENTITY_POLICY,
        );
        assert_refused(call_account_operation(&blocked, operation).await, &expected);
    }
}

// ---------------------------------------------------------------------------------------------
// 3. The default key policy delegates to identity policies

#[tokio::test]
async fn default_key_policy_delegates_to_identity_policies() {
    let server = start();
    let admin = client(&server, ACCOUNT, "admin");
    let encryptor = client(&server, ACCOUNT, "encryptor");
    let encryptor_arn = user_arn(ACCOUNT, "encryptor");

    let key = new_key(&admin, Kind::Symmetric, None).await;
    try_encrypt(&encryptor, &key.id, &key.arn)
        .await
        .expect("Encrypt by identity policy");
    let blob = encrypt_with(&admin, &key.id, &[]).await;
    let expected = denial(
        &encryptor_arn,
        "Decrypt",
        &key.arn,
        &no_identity_policy_allows("Decrypt"),
    );
    assert_refused(try_decrypt(&encryptor, &key, &blob, &[]).await, &expected);

    // An explicit Deny in the key policy beats the identity policy's Allow.
    let deny = key_statement("Deny", &encryptor_arn, &["Encrypt"]);
    let key = new_key(&admin, Kind::Symmetric, Some(&delegation_and(&[deny]))).await;
    let expected = denial(
        &encryptor_arn,
        "Encrypt",
        &key.arn,
        EXPLICIT_DENY_IN_KEY_POLICY,
    );
    assert_refused(try_encrypt(&encryptor, &key.id, &key.arn).await, &expected);
    try_encrypt(&admin, &key.id, &key.arn)
        .await
        .expect("the admin is not denied");
}

// ---------------------------------------------------------------------------------------------
// 4. Conditions

#[tokio::test]
async fn key_policy_conditions_on_encryption_context_and_caller_account() {
    let server = start();
    let admin = client(&server, ACCOUNT, "admin");
    let alice = client(&server, ACCOUNT, "alice");
    let bob = client(&server, ACCOUNT_B, "bob");

    let only_app_x = json!({"StringEquals": {"kms:EncryptionContext:app": "x"}});
    let policy = admin_and(&[allow_if(&alice_arn(), &["Decrypt"], only_app_x)]);
    let key = new_key(&admin, Kind::Symmetric, Some(&policy)).await;
    let denied = denial(
        &alice_arn(),
        "Decrypt",
        &key.arn,
        &no_key_policy_allows("Decrypt"),
    );
    for (pairs, allowed) in [
        (&[("app", "x")][..], true),
        (&[("app", "x"), ("more", "y")][..], true),
        (&[("app", "y")][..], false),
        (&[][..], false),
    ] {
        let blob = encrypt_with(&admin, &key.id, pairs).await;
        let outcome = try_decrypt(&alice, &key, &blob, pairs).await;
        match allowed {
            true => outcome.unwrap_or_else(|e| panic!("context {pairs:?}: {e:?}")),
            false => assert_refused(outcome, &denied),
        }
    }

    // Anyone, as long as they call from the key's account.
    let same_account = json!({"StringEquals": {"kms:CallerAccount": ACCOUNT}});
    let policy = admin_and(&[allow_if("*", &["Encrypt"], same_account)]);
    let key = new_key(&admin, Kind::Symmetric, Some(&policy)).await;
    try_encrypt(&alice, &key.id, &key.arn)
        .await
        .expect("alice is in the account");
    let expected = denial(
        &user_arn(ACCOUNT_B, "bob"),
        "Encrypt",
        &key.arn,
        &no_key_policy_allows("Encrypt"),
    );
    assert_refused(try_encrypt(&bob, &key.arn, &key.arn).await, &expected);
}

#[tokio::test]
async fn key_policy_conditions_on_algorithm_tags_and_alias() {
    let server = start();
    let admin = client(&server, ACCOUNT, "admin");
    let alice = client(&server, ACCOUNT, "alice");

    // kms:SigningAlgorithm
    let pss_only = json!({"StringEquals": {"kms:SigningAlgorithm": "RSASSA_PSS_SHA_256"}});
    let policy = admin_and(&[allow_if(&alice_arn(), &["Sign"], pss_only)]);
    let key = new_key(&admin, Kind::RsaSign, Some(&policy)).await;
    let sign = |algorithm: SigningAlgorithmSpec| {
        alice
            .sign()
            .key_id(&key.id)
            .message(Blob::new(MESSAGE))
            .signing_algorithm(algorithm)
            .send()
    };
    let signed = sign(SigningAlgorithmSpec::RsassaPssSha256)
        .await
        .expect("Sign with PSS");
    assert_eq!(
        signed.signing_algorithm(),
        Some(&SigningAlgorithmSpec::RsassaPssSha256)
    );
    let expected = denial(
        &alice_arn(),
        "Sign",
        &key.arn,
        &no_key_policy_allows("Sign"),
    );
    assert_denied(
        sign(SigningAlgorithmSpec::RsassaPkcs1V15Sha256).await,
        &expected,
    );

    // aws:ResourceTag/<key>
    let blue_only = json!({"StringEquals": {"aws:ResourceTag/team": "blue"}});
    let policy = admin_and(&[allow_if(&alice_arn(), &["DescribeKey"], blue_only)]);
    let key = new_key(&admin, Kind::Symmetric, Some(&policy)).await;
    let expected = denial(
        &alice_arn(),
        "DescribeKey",
        &key.arn,
        &no_key_policy_allows("DescribeKey"),
    );
    assert_denied(alice.describe_key().key_id(&key.id).send().await, &expected);
    for (team, allowed) in [("blue", true), ("red", false)] {
        let tagging = admin.tag_resource().key_id(&key.id).tags(tag("team", team));
        tagging.send().await.expect("TagResource");
        let result = alice.describe_key().key_id(&key.id).send().await;
        match allowed {
            true => assert_eq!(
                result
                    .expect("DescribeKey")
                    .key_metadata()
                    .and_then(|m| m.arn()),
                Some(key.arn.as_str())
            ),
            false => assert_denied(result, &expected),
        }
    }

    // kms:RequestAlias
    let by_alias = json!({"StringEquals": {"kms:RequestAlias": "alias/app"}});
    let policy = admin_and(&[allow_if(&alice_arn(), &["Encrypt"], by_alias)]);
    let key = new_key(&admin, Kind::Symmetric, Some(&policy)).await;
    create_alias(&admin, "alias/app", &key.id).await;
    create_alias(&admin, "alias/other", &key.id).await;
    try_encrypt(&alice, "alias/app", &key.arn)
        .await
        .expect("Encrypt by alias/app");
    try_encrypt(&alice, &alias_arn(REGION, "alias/app"), &key.arn)
        .await
        .expect("Encrypt by the alias ARN");
    let expected = denial(
        &alice_arn(),
        "Encrypt",
        &key.arn,
        &no_key_policy_allows("Encrypt"),
    );
    for key_id in ["alias/other", key.id.as_str(), key.arn.as_str()] {
        assert_refused(try_encrypt(&alice, key_id, &key.arn).await, &expected);
    }
}

/// One call alice makes in the condition-key table.
#[derive(Clone, Debug)]
enum Probe {
    Encrypt(&'static [(&'static str, &'static str)]),
    EncryptWith(&'static str),
    Sign(SigningAlgorithmSpec, MessageType),
    Mac(MacAlgorithmSpec),
    Grant(
        &'static str,
        &'static [GrantOperation],
        Option<&'static str>,
    ),
    ScheduleDeletion(i32),
    EnableRotation(i32),
    Tag(&'static str, &'static str),
    Untag(&'static str),
    Describe,
}

impl Probe {
    fn action(&self) -> &'static str {
        match self {
            Probe::Encrypt(_) | Probe::EncryptWith(_) => "Encrypt",
            Probe::Sign(..) => "Sign",
            Probe::Mac(_) => "GenerateMac",
            Probe::Grant(..) => "CreateGrant",
            Probe::ScheduleDeletion(_) => "ScheduleKeyDeletion",
            Probe::EnableRotation(_) => "EnableKeyRotation",
            Probe::Tag(..) => "TagResource",
            Probe::Untag(_) => "UntagResource",
            Probe::Describe => "DescribeKey",
        }
    }

    async fn run(self, kms: &Client, key: &str) -> Outcome {
        let context = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let digest = [7u8; 32];
        let result = match self {
            Probe::Encrypt(pairs) => kms
                .encrypt()
                .key_id(key)
                .plaintext(Blob::new(PLAINTEXT))
                .set_encryption_context(Some(context(pairs)))
                .send()
                .await
                .map(drop)
                .map_err(refusal),
            Probe::EncryptWith(algorithm) => kms
                .encrypt()
                .key_id(key)
                .plaintext(Blob::new(PLAINTEXT))
                .encryption_algorithm(algorithm.into())
                .send()
                .await
                .map(drop)
                .map_err(refusal),
            Probe::Sign(algorithm, message_type) => {
                let message = if message_type == MessageType::Digest {
                    &digest[..]
                } else {
                    MESSAGE
                };
                kms.sign()
                    .key_id(key)
                    .message(Blob::new(message))
                    .message_type(message_type)
                    .signing_algorithm(algorithm)
                    .send()
                    .await
                    .map(drop)
                    .map_err(refusal)
            }
            Probe::Mac(algorithm) => kms
                .generate_mac()
                .key_id(key)
                .message(Blob::new(MESSAGE))
                .mac_algorithm(algorithm)
                .send()
                .await
                .map(drop)
                .map_err(refusal),
            Probe::Grant(grantee, operations, retiring) => kms
                .create_grant()
                .key_id(key)
                .grantee_principal(user_arn(ACCOUNT, grantee))
                .set_operations(Some(operations.to_vec()))
                .set_retiring_principal(retiring.map(|name| user_arn(ACCOUNT, name)))
                .send()
                .await
                .map(drop)
                .map_err(refusal),
            Probe::ScheduleDeletion(days) => kms
                .schedule_key_deletion()
                .key_id(key)
                .pending_window_in_days(days)
                .send()
                .await
                .map(drop)
                .map_err(refusal),
            Probe::EnableRotation(days) => kms
                .enable_key_rotation()
                .key_id(key)
                .rotation_period_in_days(days)
                .send()
                .await
                .map(drop)
                .map_err(refusal),
            Probe::Tag(k, v) => kms
                .tag_resource()
                .key_id(key)
                .tags(tag(k, v))
                .send()
                .await
                .map(drop)
                .map_err(refusal),
            Probe::Untag(k) => kms
                .untag_resource()
                .key_id(key)
                .tag_keys(k)
                .send()
                .await
                .map(drop)
                .map_err(refusal),
            Probe::Describe => kms
                .describe_key()
                .key_id(key)
                .send()
                .await
                .map(drop)
                .map_err(refusal),
        };
        result
    }
}

/// Each condition key a KMS key policy can test, as Trent gathers it from real requests: alice
/// may do one action only under a condition; one call meets it, the other does not.
#[tokio::test]
async fn condition_keys_each_gate_a_statement() {
    use GrantOperation as G;
    let server = start();
    let admin = client(&server, ACCOUNT, "admin");
    let alice = client(&server, ACCOUNT, "alice");
    let rows: Vec<(Kind, Value, Probe, Probe)> = vec![
        (
            Kind::Symmetric,
            json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["app"]}}),
            Probe::Encrypt(&[("app", "x")]),
            Probe::Encrypt(&[("app", "x"), ("extra", "y")]),
        ),
        (
            Kind::Symmetric,
            json!({"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": "tenant-*"}}),
            Probe::Encrypt(&[("tenant-7", "x")]),
            Probe::Encrypt(&[("app", "x")]),
        ),
        (
            Kind::Symmetric,
            json!({"Null": {"kms:ViaService": "true"}}),
            Probe::Describe,
            Probe::Describe,
        ),
        (
            Kind::Symmetric,
            json!({"StringEquals": {"kms:KeySpec": "SYMMETRIC_DEFAULT", "kms:KeyUsage": "ENCRYPT_DECRYPT", "kms:KeyOrigin": "AWS_KMS"}}),
            Probe::Describe,
            Probe::Describe,
        ),
        (
            Kind::Symmetric,
            json!({"StringEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}),
            Probe::EncryptWith("SYMMETRIC_DEFAULT"),
            Probe::EncryptWith("SYMMETRIC_DEFAULT"),
        ),
        (
            Kind::EccSign,
            json!({"StringEquals": {"kms:MessageType": "DIGEST"}}),
            Probe::Sign(SigningAlgorithmSpec::EcdsaSha256, MessageType::Digest),
            Probe::Sign(SigningAlgorithmSpec::EcdsaSha256, MessageType::Raw),
        ),
        (
            Kind::Hmac,
            json!({"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_256"}}),
            Probe::Mac(MacAlgorithmSpec::HmacSha256),
            Probe::Mac(MacAlgorithmSpec::HmacSha256),
        ),
        (
            Kind::Symmetric,
            json!({"ForAllValues:StringEquals": {"kms:GrantOperations": ["Encrypt", "Decrypt"]}}),
            Probe::Grant("carol", &[G::Decrypt], None),
            Probe::Grant("carol", &[G::Decrypt, G::ReEncryptFrom], None),
        ),
        (
            Kind::Symmetric,
            json!({"StringEquals": {"kms:GranteePrincipal": user_arn(ACCOUNT, "carol")}}),
            Probe::Grant("carol", &[G::Encrypt], None),
            Probe::Grant("admin", &[G::Encrypt], None),
        ),
        (
            Kind::Symmetric,
            json!({"StringEquals": {"kms:RetiringPrincipal": user_arn(ACCOUNT, "admin")}}),
            Probe::Grant("carol", &[G::Encrypt], Some("admin")),
            Probe::Grant("carol", &[G::Encrypt], Some("carol")),
        ),
        (
            Kind::Symmetric,
            json!({"Bool": {"kms:GrantIsForAWSResource": "false"}}),
            Probe::Grant("carol", &[G::Encrypt], None),
            Probe::Grant("carol", &[G::Encrypt], None),
        ),
        (
            Kind::Symmetric,
            json!({"NumericGreaterThanEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": 20}}),
            Probe::ScheduleDeletion(30),
            Probe::ScheduleDeletion(7),
        ),
        (
            Kind::Symmetric,
            json!({"NumericLessThanEquals": {"kms:RotationPeriodInDays": 180}}),
            Probe::EnableRotation(90),
            Probe::EnableRotation(365),
        ),
        (
            Kind::Symmetric,
            json!({"ArnEquals": {"aws:PrincipalArn": alice_arn()}, "StringEquals": {"aws:PrincipalAccount": ACCOUNT}}),
            Probe::Describe,
            Probe::Describe,
        ),
        (
            Kind::Symmetric,
            json!({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}),
            Probe::Describe,
            Probe::Describe,
        ),
        (
            Kind::Symmetric,
            json!({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}),
            Probe::Describe,
            Probe::Describe,
        ),
        (
            Kind::Symmetric,
            json!({"StringEquals": {"aws:RequestTag/team": "blue"}}),
            Probe::Tag("team", "blue"),
            Probe::Tag("team", "red"),
        ),
        (
            Kind::Symmetric,
            json!({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "stage"]}}),
            Probe::Untag("stage"),
            Probe::Untag("owner"),
        ),
    ];
    // Rows whose two probes are the same call: the condition always holds for them, so the
    // negative half uses the same condition with a value that cannot match.
    let never = |condition: &Value| -> Value {
        let text = condition.to_string();
        let flipped = text
            .replace("\"true\"", "\"false\"")
            .replace("SYMMETRIC_DEFAULT", "RSA_2048")
            .replace("HMAC_SHA_256", "HMAC_SHA_512")
            .replace("127.0.0.0/8", "10.0.0.0/8")
            .replace("2020-01-01", "2100-01-01")
            .replace(&alice_arn(), &admin_arn());
        let flipped = if flipped.contains("kms:GrantIsForAWSResource") {
            text.replace("\"false\"", "\"true\"")
        } else {
            flipped
        };
        serde_json::from_str(&flipped).expect("JSON")
    };
    for (i, (kind, condition, allowed, refused)) in rows.into_iter().enumerate() {
        let same_call = format!("{allowed:?}") == format!("{refused:?}");
        let denying = if same_call {
            never(&condition)
        } else {
            condition.clone()
        };
        if same_call {
            assert_ne!(denying, condition, "row {i}: no condition that cannot hold");
        }
        let action = allowed.action();
        for (policy_condition, probe, expect_allowed) in
            [(&condition, allowed, true), (&denying, refused, false)]
        {
            let shown = format!("{probe:?}");
            let policy = admin_and(&[allow_if(&alice_arn(), &[action], policy_condition.clone())]);
            let key = new_key(&admin, kind, Some(&policy)).await;
            if matches!(probe, Probe::Untag(_)) {
                admin
                    .tag_resource()
                    .key_id(&key.id)
                    .tags(tag("stage", "1"))
                    .tags(tag("owner", "x"))
                    .send()
                    .await
                    .expect("TagResource");
            }
            let outcome = probe.run(&alice, &key.id).await;
            match expect_allowed {
                true => outcome.unwrap_or_else(|e| {
                    panic!("row {i} {condition}: {shown} should be allowed: {e:?}")
                }),
                false => assert_refused(
                    outcome,
                    &denial(
                        &alice_arn(),
                        action,
                        &key.arn,
                        &no_key_policy_allows(action),
                    ),
                ),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Cross-account access

#[tokio::test]
async fn another_account_needs_the_key_policy_and_its_identity_policy() {
    let server = start();
    let admin = client(&server, ACCOUNT, "admin");
    let bob = client(&server, ACCOUNT_B, "bob");
    let dave = client(&server, ACCOUNT_B, "dave");
    let (bob_arn, dave_arn) = (user_arn(ACCOUNT_B, "bob"), user_arn(ACCOUNT_B, "dave"));
    let actions = ["Encrypt", "Decrypt", "GenerateDataKey"];

    // Only bob's identity policy allows.
    let private = new_key(&admin, Kind::Symmetric, Some(&admin_and(&[]))).await;
    let expected = denial(
        &bob_arn,
        "Encrypt",
        &private.arn,
        &no_key_policy_allows("Encrypt"),
    );
    assert_refused(
        try_encrypt(&bob, &private.arn, &private.arn).await,
        &expected,
    );

    let shared_policy = admin_and(&[allow(&root_arn(ACCOUNT_B), &actions)]);
    let shared = new_key(&admin, Kind::Symmetric, Some(&shared_policy)).await;
    // Only the key policy allows (dave has no identity policy).
    let expected = denial(
        &dave_arn,
        "Encrypt",
        &shared.arn,
        &no_identity_policy_allows("Encrypt"),
    );
    assert_refused(
        try_encrypt(&dave, &shared.arn, &shared.arn).await,
        &expected,
    );

    // Both allow.
    try_encrypt(&bob, &shared.arn, &shared.arn)
        .await
        .expect("bob encrypts");
    let blob = encrypt_with(&bob, &shared.arn, &[("by", "bob")]).await;
    try_decrypt(&bob, &shared, &blob, &[("by", "bob")])
        .await
        .expect("bob decrypts");
    assert_eq!(
        decrypt_with_context(&admin, &blob, &[("by", "bob")]).await,
        PLAINTEXT
    );
    let data_key = bob
        .generate_data_key()
        .key_id(&shared.arn)
        .key_spec(DataKeySpec::Aes128)
        .send()
        .await
        .expect("GenerateDataKey by bob");
    assert_eq!(data_key.key_id(), Some(shared.arn.as_str()));
    assert_eq!(data_key.plaintext().map(|p| p.as_ref().len()), Some(16));
    // The key policy allows B's account nothing else; and the key ID alone names a key in B.
    let expected = denial(
        &bob_arn,
        "DescribeKey",
        &shared.arn,
        &no_key_policy_allows("DescribeKey"),
    );
    assert_denied(
        bob.describe_key().key_id(&shared.arn).send().await,
        &expected,
    );
    let result = bob
        .encrypt()
        .key_id(&shared.id)
        .plaintext(Blob::new(PLAINTEXT))
        .send()
        .await;
    assert_code(result, "NotFoundException");

    // Each account lists its own keys.
    let own = new_key(&bob, Kind::Symmetric, None).await;
    assert!(
        own.arn.contains(&format!(":{ACCOUNT_B}:key/")),
        "{}",
        own.arn
    );
    assert_eq!(list_key_ids(&bob, None).await, [own.id.as_str()]);
    let mut keys_of_a = list_key_ids(&admin, None).await;
    keys_of_a.sort();
    let mut expected = vec![private.id, shared.id];
    expected.sort();
    assert_eq!(keys_of_a, expected);
}

/// The operations whose page in the AWS KMS API reference says "Cross-account use: Yes" (for
/// instance <https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html>); every other
/// says "No. You cannot perform this operation on a KMS key in a different AWS account."
/// (<https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKey.html>), and the developer
/// guide adds that permissions a key policy gives another account for them "have no effect"
/// (<https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html>).
fn crosses_accounts(op: Op) -> bool {
    matches!(
        op,
        Op::DescribeKey
            | Op::Encrypt
            | Op::Decrypt
            | Op::ReEncrypt
            | Op::GenerateDataKey
            | Op::GenerateDataKeyWithoutPlaintext
            | Op::GenerateDataKeyPair
            | Op::GenerateDataKeyPairWithoutPlaintext
            | Op::GetPublicKey
            | Op::Sign
            | Op::Verify
            | Op::GenerateMac
            | Op::VerifyMac
            | Op::DeriveSharedSecret
            | Op::GetKeyRotationStatus
            | Op::CreateGrant
            | Op::ListGrants
            | Op::RetireGrant
            | Op::RevokeGrant
    )
}

/// Every operation that takes a key identifier (DeleteAlias names only an alias of the caller's),
/// with the kind of key it is tried on.
fn key_operations() -> Vec<(Op, Kind)> {
    let rows = ROWS.iter().map(|row| (row.op, row.kind));
    let others = [
        Op::RetireGrant,
        Op::EnableKeyRotation,
        Op::DisableKeyRotation,
        Op::GetKeyRotationStatus,
        Op::ListKeyRotations,
        Op::RotateKeyOnDemand,
        Op::GetParametersForImport,
        Op::ImportKeyMaterial,
        Op::DeleteImportedKeyMaterial,
        Op::ReplicateKey,
        Op::UpdatePrimaryRegion,
        Op::GetKeyLastUsage,
        Op::ListAliases,
    ];
    rows.chain(others.into_iter().map(|op| (op, Kind::Symmetric)))
        .filter(|(op, _)| !matches!(op, Op::DeleteAlias))
        .collect()
}

/// What the key's owner sees of it: metadata, policy, tags, grants, aliases and rotations (errors
/// by their code, since their messages carry request IDs).
async fn key_state(admin: &Client, key: &str) -> String {
    let metadata = admin
        .describe_key()
        .key_id(key)
        .send()
        .await
        .map(|out| out.key_metadata)
        .map_err(|e| refusal(e).code);
    let rotation = admin
        .get_key_rotation_status()
        .key_id(key)
        .send()
        .await
        .map(|out| out.key_rotation_enabled)
        .map_err(|e| refusal(e).code);
    let rotations = admin
        .list_key_rotations()
        .key_id(key)
        .send()
        .await
        .map(|out| out.rotations)
        .map_err(|e| refusal(e).code);
    let grants = list_grants(admin, key).await;
    format!(
        "{metadata:?}\n{}\n{:?}\n{:?}\n{:?}\n{rotation:?}\n{rotations:?}",
        get_policy(admin, key).await,
        tags_of(admin, key).await,
        grant_ids(&grants),
        alias_targets(admin, key).await,
    )
}

/// Account B's `eve` may do everything by her identity policy, and each key's policy gives her
/// account `kms:*`: the operations that cross accounts work on the key by its ARN, and every
/// other is refused whatever the policies say — the key policy, tags, state and the rest unchanged.
#[tokio::test]
async fn another_account_may_use_a_key_but_never_manage_it() {
    let server = start();
    let t = table(&server).await;
    let eve = client(&server, ACCOUNT_B, "eve");
    let shared = admin_and(&[allow(&root_arn(ACCOUNT_B), &["*"])]);
    let mut crossed = Vec::new();
    for (op, kind) in key_operations() {
        let key = new_key(&t.admin, kind, Some(&shared)).await;
        let prep = match op {
            // An alias of eve's own account, to point at the other account's key.
            Op::UpdateAlias => {
                let own = new_key(&eve, Kind::Symmetric, None).await;
                let alias = alias_for(op, &key);
                create_alias(&eve, &alias, &own.id).await;
                Prep::Name(alias)
            }
            _ => prepare(&t, op, &key).await,
        };
        let before = key_state(&t.admin, &key.id).await;
        let outcome = call(&t, &eve, &key.arn, op, &key, &prep).await;
        if crosses_accounts(op) {
            outcome.unwrap_or_else(|e| panic!("{op:?} on another account's key: {e:?}"));
            crossed.push(op);
            continue;
        }
        // The code and wording of a key that does not exist: AWS resolves the key of an
        // operation that does not cross accounts in the caller's account alone.
        let refused = outcome
            .err()
            .unwrap_or_else(|| panic!("{op:?} crossed accounts"));
        assert_eq!(
            refused.code, "NotFoundException",
            "{op:?}: {}",
            refused.message
        );
        assert_eq!(
            refused.message,
            format!("Key '{}' does not exist", key.arn),
            "{op:?}"
        );
        assert_eq!(
            key_state(&t.admin, &key.id).await,
            before,
            "{op:?} changed the key"
        );
    }
    assert_eq!(crossed.len(), 19, "{crossed:?}");
}

/// Aliases: another account's key can be named by its alias ARN where an operation crosses
/// accounts; an alias name names an alias of the caller's account; an alias never points to
/// another account's key. ReEncrypt crosses accounts at both ends.
#[tokio::test]
async fn aliases_and_re_encrypt_across_accounts() {
    let server = start();
    let admin = client(&server, ACCOUNT, "admin");
    let eve = client(&server, ACCOUNT_B, "eve");
    let shared_policy = admin_and(&[allow(&root_arn(ACCOUNT_B), &["*"])]);
    let shared = new_key(&admin, Kind::Symmetric, Some(&shared_policy)).await;
    create_alias(&admin, "alias/shared", &shared.id).await;
    let shared_alias = format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/shared");

    try_encrypt(&eve, &shared_alias, &shared.arn)
        .await
        .expect("Encrypt by another account's alias ARN");
    let described = eve
        .describe_key()
        .key_id(&shared_alias)
        .send()
        .await
        .expect("DescribeKey by another account's alias ARN");
    assert_eq!(
        described.key_metadata().and_then(|m| m.arn()),
        Some(shared.arn.as_str())
    );
    let result = eve
        .encrypt()
        .key_id("alias/shared")
        .plaintext(Blob::new(PLAINTEXT))
        .send()
        .await;
    assert_eq!(
        assert_code(result, "NotFoundException"),
        format!("Alias arn:aws:kms:{REGION}:{ACCOUNT_B}:alias/shared is not found.")
    );
    // Management operations take no alias, of any account.
    let result = eve.disable_key().key_id(&shared_alias).send().await;
    assert_code(result, "InvalidArnException");
    assert_eq!(
        describe(&admin, &shared.id).await.key_state(),
        Some(&KeyState::Enabled)
    );

    // Eve's aliases point to keys of her account only.
    let own = new_key(&eve, Kind::Symmetric, None).await;
    let not_found = format!("Key '{}' does not exist", shared.arn);
    let result = eve
        .create_alias()
        .alias_name("alias/theirs")
        .target_key_id(&shared.arn)
        .send()
        .await;
    assert_eq!(assert_code(result, "NotFoundException"), not_found);
    create_alias(&eve, "alias/mine", &own.id).await;
    let result = eve
        .update_alias()
        .alias_name("alias/mine")
        .target_key_id(&shared.arn)
        .send()
        .await;
    assert_eq!(assert_code(result, "NotFoundException"), not_found);
    assert_eq!(alias_targets(&eve, &own.id).await, ["alias/mine"]);
    let result = eve.list_aliases().key_id(&shared.arn).send().await;
    assert_eq!(assert_code(result, "NotFoundException"), not_found);
    assert_eq!(alias_targets(&admin, &shared.id).await, ["alias/shared"]);

    // ReEncrypt: from eve's key to the shared one (named by key or alias ARN), and back.
    let blob = encrypt_with(&eve, &own.id, &[]).await;
    for destination in [&shared.arn, &shared_alias] {
        let out = eve
            .re_encrypt()
            .ciphertext_blob(blob.clone())
            .destination_key_id(destination)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ReEncrypt to {destination}: {e:?}"));
        assert_eq!(out.source_key_id(), Some(own.arn.as_str()));
        assert_eq!(out.key_id(), Some(shared.arn.as_str()));
        let theirs = out.ciphertext_blob.expect("CiphertextBlob");
        assert_eq!(decrypt_with_context(&admin, &theirs, &[]).await, PLAINTEXT);
        let back = eve
            .re_encrypt()
            .ciphertext_blob(theirs)
            .source_key_id(&shared.arn)
            .destination_key_id("alias/mine")
            .send()
            .await
            .expect("ReEncrypt back");
        assert_eq!(back.source_key_id(), Some(shared.arn.as_str()));
        assert_eq!(back.key_id(), Some(own.arn.as_str()));
        let mine = back.ciphertext_blob.expect("CiphertextBlob");
        assert_eq!(decrypt_with_context(&eve, &mine, &[]).await, PLAINTEXT);
    }
    // The destination's key policy still decides.
    let encrypt_only = admin_and(&[allow(&root_arn(ACCOUNT_B), &["Encrypt", "Decrypt"])]);
    let private = new_key(&admin, Kind::Symmetric, Some(&encrypt_only)).await;
    let result = eve
        .re_encrypt()
        .ciphertext_blob(blob)
        .destination_key_id(&private.arn)
        .send()
        .await;
    let expected = denial(
        &user_arn(ACCOUNT_B, "eve"),
        "ReEncryptTo",
        &private.arn,
        &no_key_policy_allows("ReEncryptTo"),
    );
    assert_denied(result, &expected);
}

async fn decrypt_with_context(kms: &Client, blob: &Blob, pairs: &[(&str, &str)]) -> Vec<u8> {
    kms.decrypt()
        .ciphertext_blob(blob.clone())
        .set_encryption_context(context(pairs))
        .send()
        .await
        .expect("Decrypt")
        .plaintext
        .expect("Plaintext")
        .into_inner()
}

// ---------------------------------------------------------------------------------------------
// 6. Key policy operations

#[tokio::test]
async fn key_policies_default_round_trip_and_listing() {
    let server = start();
    let admin = client(&server, ACCOUNT, "admin");
    let key = new_key(&admin, Kind::Symmetric, None).await;

    let out = admin
        .get_key_policy()
        .key_id(&key.id)
        .policy_name("default")
        .send()
        .await
        .expect("GetKeyPolicy");
    assert_eq!(out.policy_name(), Some("default"));
    let default: Value =
        serde_json::from_str(out.policy().expect("Policy")).expect("the policy is JSON");
    assert_eq!(default["Version"], "2012-10-17");
    let statements = default["Statement"]
        .as_array()
        .expect("a list of statements");
    assert_eq!(statements.len(), 1, "{default}");
    assert_eq!(statements[0]["Effect"], "Allow");
    assert_eq!(statements[0]["Principal"]["AWS"], root_arn(ACCOUNT));
    assert_eq!(statements[0]["Action"], "kms:*");
    assert_eq!(statements[0]["Resource"], "*");

    let listed = admin
        .list_key_policies()
        .key_id(&key.id)
        .send()
        .await
        .expect("ListKeyPolicies");
    assert_eq!(listed.policy_names(), ["default"]);
    assert!(!listed.truncated());

    let policy = delegation_and(&[allow(&alice_arn(), &["Encrypt"])]);
    put_policy(&admin, &key.id, &policy).await;
    assert_eq!(get_policy(&admin, &key.arn).await, policy);
    let alice = client(&server, ACCOUNT, "alice");
    try_encrypt(&alice, &key.id, &key.arn)
        .await
        .expect("the new policy is in force");
}

#[tokio::test]
async fn malformed_and_oversized_key_policies_are_refused() {
    let server = start();
    let admin = client(&server, ACCOUNT, "admin");
    let key = new_key(&admin, Kind::Symmetric, None).await;
    let before = get_policy(&admin, &key.id).await;

    let bad_principal = policy_document(&[allow("not-a-principal", &["*"])]);
    let malformed = [
        (
            "invalid JSON",
            "{\"Version\": \"2012-10-17\", \"Statement\": [".to_owned(),
            None,
        ),
        (
            "unknown action",
            delegation_and(&[allow(&alice_arn(), &["Foo"])]),
            None,
        ),
        (
            "bad principal",
            bad_principal,
            Some("Policy contains a statement with one or more invalid principals."),
        ),
    ];
    for (what, policy, message) in &malformed {
        let result = admin
            .put_key_policy()
            .key_id(&key.id)
            .policy(policy)
            .send()
            .await;
        let got = assert_code(result, "MalformedPolicyDocumentException");
        if let Some(message) = message {
            assert_eq!(&got, message, "{what}");
        }
        let result = admin.create_key().policy(policy).send().await;
        assert_code(result, "MalformedPolicyDocumentException");
    }

    // 32 KB is the most a key policy may have.
    let sized = |size: usize| {
        let bare = delegation_and(&[
            json!({"Sid": "", "Effect": "Allow", "Principal": {"AWS": alice_arn()}, "Action": "kms:Encrypt", "Resource": "*"}),
        ]);
        bare.replacen(
            "\"Sid\":\"\"",
            &format!("\"Sid\":\"{}\"", "a".repeat(size - bare.len())),
            1,
        )
    };
    let largest = sized(32_768);
    assert_eq!(largest.len(), 32_768);
    put_policy(&admin, &key.id, &largest).await;
    assert_eq!(get_policy(&admin, &key.id).await, largest);
    let too_large = sized(32_769);
    let result = admin
        .put_key_policy()
        .key_id(&key.id)
        .policy(&too_large)
        .send()
        .await;
    assert_code(result, "LimitExceededException");
    assert_code(
        admin.create_key().policy(&too_large).send().await,
        "LimitExceededException",
    );

    assert_eq!(get_policy(&admin, &key.id).await, largest);
    assert_ne!(largest, before);
    assert_eq!(
        list_key_ids(&admin, None).await,
        [key.id],
        "refused CreateKey calls create no key"
    );
}

#[tokio::test]
async fn the_lockout_safety_check_and_its_bypass() {
    let server = start();
    let admin = client(&server, ACCOUNT, "admin");
    let key = new_key(&admin, Kind::Symmetric, None).await;
    let alice_only = policy_document(&[allow(&alice_arn(), &["*"])]);

    let result = admin
        .put_key_policy()
        .key_id(&key.id)
        .policy(&alice_only)
        .send()
        .await;
    assert_eq!(
        assert_code(result, "MalformedPolicyDocumentException"),
        LOCKOUT
    );
    let result = admin.create_key().policy(&alice_only).send().await;
    assert_eq!(
        assert_code(result, "MalformedPolicyDocumentException"),
        LOCKOUT
    );
    assert_eq!(list_key_ids(&admin, None).await, [key.id.as_str()]);

    admin
        .put_key_policy()
        .key_id(&key.id)
        .policy(&alice_only)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await
        .expect("PutKeyPolicy with BypassPolicyLockoutSafetyCheck");
    let expected = denial(
        &admin_arn(),
        "PutKeyPolicy",
        &key.arn,
        &no_key_policy_allows("PutKeyPolicy"),
    );
    let result = admin
        .put_key_policy()
        .key_id(&key.id)
        .policy(delegation_and(&[]))
        .send()
        .await;
    assert_denied(result, &expected);
    let alice = client(&server, ACCOUNT, "alice");
    assert_eq!(get_policy(&alice, &key.id).await, alice_only);

    let created = admin
        .create_key()
        .policy(&alice_only)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await
        .expect("CreateKey with BypassPolicyLockoutSafetyCheck");
    assert_eq!(
        get_policy(
            &alice,
            created.key_metadata().expect("KeyMetadata").key_id()
        )
        .await,
        alice_only
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Grants

fn assert_grant_id(id: &str) {
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "a grant ID is 64 hex digits: {id}"
    );
}

fn grant_ids(grants: &[GrantListEntry]) -> Vec<&str> {
    grants
        .iter()
        .map(|g| g.grant_id().expect("GrantId"))
        .collect()
}

/// All grants of a key, one page (Limit 1) at a time.
async fn list_grants(kms: &Client, key: &str) -> Vec<GrantListEntry> {
    let mut grants = Vec::new();
    let mut marker = None;
    loop {
        let page = kms
            .list_grants()
            .key_id(key)
            .limit(1)
            .set_marker(marker)
            .send()
            .await
            .expect("ListGrants");
        assert_page(
            page.grants().len(),
            Some(1),
            page.truncated(),
            page.next_marker(),
        );
        grants.extend(page.grants().iter().cloned());
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            return grants;
        }
    }
}

struct NewGrant<'a> {
    key: &'a str,
    grantee: String,
    operations: &'a [GrantOperation],
    name: Option<&'a str>,
    retiring: Option<String>,
    constraints: Option<GrantConstraints>,
}

impl<'a> NewGrant<'a> {
    fn for_alice(key: &'a str, operations: &'a [GrantOperation]) -> NewGrant<'a> {
        NewGrant {
            key,
            grantee: alice_arn(),
            operations,
            name: None,
            retiring: None,
            constraints: None,
        }
    }

    async fn send(&self, kms: &Client) -> Result<(String, String), Refusal> {
        let out = kms
            .create_grant()
            .key_id(self.key)
            .grantee_principal(&self.grantee)
            .set_operations(Some(self.operations.to_vec()))
            .set_name(self.name.map(str::to_owned))
            .set_retiring_principal(self.retiring.clone())
            .set_constraints(self.constraints.clone())
            .send()
            .await
            .map_err(refusal)?;
        let id = out.grant_id().expect("GrantId").to_owned();
        assert_grant_id(&id);
        Ok((id, out.grant_token().expect("GrantToken").to_owned()))
    }

    async fn create(&self, kms: &Client) -> (String, String) {
        self.send(kms)
            .await
            .unwrap_or_else(|e| panic!("CreateGrant: {e:?}"))
    }
}

#[tokio::test]
async fn grants_give_their_operations_and_can_be_listed_retired_and_revoked() {
    let server = start();
    let admin = client(&server, ACCOUNT, "admin");
    let alice = client(&server, ACCOUNT, "alice");
    let carol = client(&server, ACCOUNT, "carol");
    let carol_arn = user_arn(ACCOUNT, "carol");
    let key = new_key(&admin, Kind::Symmetric, Some(&admin_and(&[]))).await;
    let denied = |action: &str| {
        denial(
            &alice_arn(),
            action,
            &key.arn,
            &no_key_policy_allows(action),
        )
    };
    let began = now();

    let operations = [GrantOperation::Encrypt, GrantOperation::Decrypt];
    let named = NewGrant {
        name: Some("app"),
        retiring: Some(carol_arn.clone()),
        ..NewGrant::for_alice(&key.id, &operations)
    };
    let (grant_id, token) = named.create(&admin).await;

    try_encrypt(&alice, &key.id, &key.arn)
        .await
        .expect("Encrypt by grant");
    let blob = encrypt_with(&alice, &key.id, &[]).await;
    try_decrypt(&alice, &key, &blob, &[])
        .await
        .expect("Decrypt by grant");
    assert_denied(
        alice.describe_key().key_id(&key.id).send().await,
        &denied("DescribeKey"),
    );
    let sign = alice
        .sign()
        .key_id(&key.id)
        .message(Blob::new(MESSAGE))
        .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256);
    assert_denied(sign.send().await, &denied("Sign"));

    // The same name and parameters: the same grant, a new token.
    let (again, again_token) = named.create(&admin).await;
    assert_eq!(again, grant_id);
    assert_ne!(again_token, token);
    // The same name with other operations: another grant.
    let encrypt_only = [GrantOperation::Encrypt];
    let other = NewGrant {
        name: Some("app"),
        ..NewGrant::for_alice(&key.id, &encrypt_only)
    };
    let (other_id, _) = other.create(&admin).await;
    assert_ne!(other_id, grant_id);

    let grants = list_grants(&admin, &key.id).await;
    let mut ids = grant_ids(&grants);
    ids.sort_unstable();
    let mut expected = vec![grant_id.as_str(), other_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let listed = grants
        .iter()
        .find(|g| g.grant_id() == Some(grant_id.as_str()))
        .expect("the named grant");
    assert_eq!(listed.key_id(), Some(key.arn.as_str()));
    assert_eq!(listed.name(), Some("app"));
    assert_eq!(listed.grantee_principal(), Some(alice_arn().as_str()));
    assert_eq!(listed.retiring_principal(), Some(carol_arn.as_str()));
    assert_eq!(listed.issuing_account(), Some(root_arn(ACCOUNT).as_str()));
    assert_eq!(listed.operations(), operations);
    assert_eq!(listed.constraints(), None);
    assert_recent(listed.creation_date(), began);

    let retirable = admin
        .list_retirable_grants()
        .retiring_principal(&carol_arn)
        .send()
        .await
        .expect("ListRetirableGrants");
    assert_eq!(grant_ids(retirable.grants()), [grant_id.as_str()]);
    assert_eq!(retirable.grants()[0].key_id(), Some(key.arn.as_str()));

    // Retired by its retiring principal, with the token: alice can no longer decrypt.
    carol
        .retire_grant()
        .grant_token(&token)
        .send()
        .await
        .expect("RetireGrant by token");
    assert_eq!(
        grant_ids(&list_grants(&admin, &key.id).await),
        [other_id.as_str()]
    );
    assert_refused(
        try_decrypt(&alice, &key, &blob, &[]).await,
        &denied("Decrypt"),
    );
    // Retired by key and grant ID, by a principal whose key policy allows kms:RetireGrant.
    admin
        .retire_grant()
        .key_id(&key.arn)
        .grant_id(&other_id)
        .send()
        .await
        .expect("RetireGrant by ID");
    assert!(list_grants(&admin, &key.id).await.is_empty());
    assert_refused(
        try_encrypt(&alice, &key.id, &key.arn).await,
        &denied("Encrypt"),
    );

    // Revoked by the admin.
    let (revoked, _) = NewGrant::for_alice(&key.id, &encrypt_only)
        .create(&admin)
        .await;
    try_encrypt(&alice, &key.id, &key.arn)
        .await
        .expect("Encrypt by the new grant");
    admin
        .revoke_grant()
        .key_id(&key.id)
        .grant_id(&revoked)
        .send()
        .await
        .expect("RevokeGrant");
    assert_refused(
        try_encrypt(&alice, &key.id, &key.arn).await,
        &denied("Encrypt"),
    );
    let result = admin
        .revoke_grant()
        .key_id(&key.id)
        .grant_id("0".repeat(64))
        .send()
        .await;
    assert_code(result, "NotFoundException");

    let result = alice
        .encrypt()
        .key_id(&key.id)
        .plaintext(Blob::new(PLAINTEXT))
        .grant_tokens("not-a-grant-token")
        .send()
        .await;
    assert_code(result, "InvalidGrantTokenException");
}

#[tokio::test]
async fn grant_constraints_on_the_encryption_context() {
    let server = start();
    let admin = client(&server, ACCOUNT, "admin");
    let alice = client(&server, ACCOUNT, "alice");
    let app_x = context(&[("app", "x")]);
    let decrypt = [GrantOperation::Decrypt];
    let cases = [
        (
            GrantConstraints::builder()
                .set_encryption_context_subset(app_x.clone())
                .build(),
            true,
        ),
        (
            GrantConstraints::builder()
                .set_encryption_context_equals(app_x)
                .build(),
            false,
        ),
    ];
    for (constraints, subset) in cases {
        let key = new_key(&admin, Kind::Symmetric, Some(&admin_and(&[]))).await;
        let grant = NewGrant {
            constraints: Some(constraints.clone()),
            ..NewGrant::for_alice(&key.id, &decrypt)
        };
        grant.create(&admin).await;
        let listed = list_grants(&admin, &key.id).await;
        assert_eq!(listed[0].constraints(), Some(&constraints));
        let denied = denial(
            &alice_arn(),
            "Decrypt",
            &key.arn,
            &no_key_policy_allows("Decrypt"),
        );
        for (pairs, allowed) in [
            (&[("app", "x")][..], true),
            (&[("app", "x"), ("more", "y")][..], subset),
            (&[("app", "y")][..], false),
            (&[][..], false),
        ] {
            let blob = encrypt_with(&admin, &key.id, pairs).await;
            let outcome = try_decrypt(&alice, &key, &blob, pairs).await;
            match allowed {
                true => outcome.unwrap_or_else(|e| panic!("{constraints:?} with {pairs:?}: {e:?}")),
                false => assert_refused(outcome, &denied),
            }
        }
    }

    // Keys that take no encryption context take no constraints.
    let constraints = GrantConstraints::builder()
        .set_encryption_context_subset(context(&[("app", "x")]))
        .build();
    for (kind, operation) in [
        (Kind::Hmac, GrantOperation::GenerateMac),
        (Kind::EccSign, GrantOperation::DescribeKey),
    ] {
        let key = new_key(&admin, kind, None).await;
        let operations = [operation];
        let grant = NewGrant {
            constraints: Some(constraints.clone()),
            ..NewGrant::for_alice(&key.id, &operations)
        };
        let refused = grant
            .send(&admin)
            .await
            .expect_err("constraints on a key without context");
        assert_eq!(
            refused.code, "ValidationException",
            "{kind:?}: {}",
            refused.message
        );
        assert!(list_grants(&admin, &key.id).await.is_empty());
    }
}
