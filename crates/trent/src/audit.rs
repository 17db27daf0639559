//! The audit log: one JSON line per request — refused and unauthenticated ones included — and per
//! background event (a scheduled deletion carried out, an automatic rotation, imported material
//! expired), shaped like a CloudTrail event of KMS, plus a `trent` object with the authorization
//! decisions and the latency. It never holds a secret: the members that carry plaintext, key
//! material, ciphertext, signatures, MACs or tokens are left out of `requestParameters` and
//! `responseElements` ([`SECRET_MEMBERS`]).
//!
//! **Tamper-evident**: every line ends with its `sequence` number and `previousLineSha256`, the
//! SHA-256 of the line before it (in the same file or, for the header line that starts each file,
//! the last line of the file before); [`verify_files`] (`trent audit verify`) checks the chain.
//!
//! **Durable and fail-closed**: a request's line is written (and with `sync`, fsynced) before its
//! response is sent; one fsync covers every line written when it starts, so concurrent requests
//! share it. When a write fails, requests are refused
//! (`KMSInternalException`) until a write works again; each refused request tries once, so the log
//! recovers by itself (a `resumed` header line marks the gap).

use crate::config::PrincipalKind;
use crate::record::{Decision, RequestRecord};
use aws_lc_rs::digest;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{BufRead as _, Read as _, Seek as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How often the log's path is compared with the file open, to notice it was removed or replaced.
const CHECK_PATH_EVERY: Duration = Duration::from_millis(100);
use trent_model::OperationName;

/// Request and response members never written to the audit log, at any depth: what carries
/// plaintext, key material, ciphertext, signatures, MACs, public keys of a key agreement,
/// attestation documents and grant or import tokens. `tests::every_blob_member_is_secret` checks
/// that every blob of the model is here.
pub const SECRET_MEMBERS: [&str; 16] = [
    "AttestationDocument",
    "CiphertextBlob",
    "CiphertextForRecipient",
    "EncryptedKeyMaterial",
    "GrantToken",
    "GrantTokens",
    "ImportToken",
    "Mac",
    "Message",
    "Plaintext",
    "PrivateKeyCiphertextBlob",
    "PrivateKeyPlaintext",
    "PublicKey",
    "SharedSecret",
    "Signature",
    "KeyMaterial",
];

/// Members whose value is a map of the caller's own keys (the encryption context): their keys are
/// kept as sent, not turned into camelCase.
const MAP_MEMBERS: [&str; 3] = ["EncryptionContext", "EncryptionContextEquals", "EncryptionContextSubset"];

/// Where and how the log is written (the `[audit]` table of the config file, `--audit-log`).
#[derive(Clone, Debug)]
pub struct AuditSettings {
    /// A file, or `-` for standard output.
    pub path: PathBuf,
    /// fsync each batch of lines before the responses are sent.
    pub sync: bool,
    /// Past this size the file is renamed `PATH.1` (older ones `PATH.2`, …) and a new one begun.
    pub max_bytes: Option<u64>,
    /// This node's name, in every line (several nodes on one PostgreSQL store write a file each).
    pub node: String,
}

/// The handle requests write through; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    writer: Arc<Mutex<Writer>>,
    /// With `sync`: how many lines (by sequence number) are known to be on disk. Whoever holds it
    /// fsyncs for every line written so far, so requests waiting meanwhile share that fsync.
    synced: Arc<tokio::sync::Mutex<u64>>,
    sync: bool,
    healthy: Arc<AtomicBool>,
    node: Arc<str>,
}

/// The log could not be written: the request must be refused.
#[derive(Debug)]
pub struct Unavailable;

impl AuditLog {
    /// Opens (or creates, mode 0600) the log. An existing file's chain goes on from its last line.
    pub fn open(settings: AuditSettings) -> Result<AuditLog, String> {
        let healthy = Arc::new(AtomicBool::new(true));
        let mut writer = Writer::new(settings.clone(), healthy.clone());
        writer.open("start").map_err(|e| format!("cannot write the audit log {}: {e}", settings.path.display()))?;
        let synced = Arc::new(tokio::sync::Mutex::new(writer.sequence));
        Ok(AuditLog { writer: Arc::new(Mutex::new(writer)), synced, sync: settings.sync, healthy, node: settings.node.into() })
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether the log can be written: yes while the last write worked; after a failure, a
    /// `resumed` header line is written to find out (so the log recovers by itself).
    pub async fn writable(&self) -> Result<(), Unavailable> {
        match self.healthy.load(Ordering::Relaxed) {
            true => Ok(()),
            false => self.append(None).await,
        }
    }

    /// Writes one event (a JSON object), and returns once it is written (and synced, with `sync`).
    /// The write is one `write(2)` to the page cache under a lock, in place: handing each line to
    /// a writer thread cost more than the write (two thread wake-ups per request).
    pub async fn write(&self, event: Vec<u8>) -> Result<(), Unavailable> {
        self.append(Some(event)).await
    }

    async fn append(&self, event: Option<Vec<u8>>) -> Result<(), Unavailable> {
        let written = {
            let mut writer = self.writer.lock().map_err(|_| Unavailable)?;
            let header = event.is_none().then_some("resumed");
            let lines: Vec<Vec<u8>> = event.into_iter().collect();
            let count = lines.len();
            let ok = writer.write_batch(header, lines);
            crate::metrics::get().audit_written(ok, count);
            ok.then(|| (writer.sequence, writer.file.clone()))
        };
        let Some((sequence, file)) = written else { return Err(Unavailable) };
        match (self.sync, file) {
            (true, Some(file)) => self.sync_through(sequence, file).await,
            _ => Ok(()),
        }
    }

    /// Makes sure the lines before `sequence` are on disk: one fsync covers every line written
    /// when it starts, so the requests that queue behind it find their lines synced already.
    async fn sync_through(&self, sequence: u64, file: Arc<File>) -> Result<(), Unavailable> {
        let mut synced = self.synced.lock().await;
        if *synced >= sequence {
            return Ok(());
        }
        let target = self.writer.lock().map(|writer| writer.sequence).map_err(|_| Unavailable)?;
        match tokio::task::spawn_blocking(move || file.sync_data()).await {
            Ok(Ok(())) => {
                *synced = target;
                Ok(())
            }
            _ => {
                if let Ok(mut writer) = self.writer.lock() {
                    writer.fail("fsync failed");
                }
                Err(Unavailable)
            }
        }
    }

    /// Opens the file anew before the next line (SIGHUP).
    pub fn reopen(&self) {
        if let Ok(mut writer) = self.writer.lock() {
            writer.file = None;
        }
    }
}

struct Writer {
    settings: AuditSettings,
    healthy: Arc<AtomicBool>,
    file: Option<Arc<File>>,
    /// The (device, inode) of the open file, to notice it was removed or replaced, and when the
    /// path was last compared with it.
    identity: (u64, u64),
    path_checked: Instant,
    size: u64,
    /// The next line's sequence number and the SHA-256 of the last line written.
    sequence: u64,
    previous: [u8; 32],
}

impl Writer {
    fn new(settings: AuditSettings, healthy: Arc<AtomicBool>) -> Writer {
        Writer { settings, healthy, file: None, identity: (0, 0), path_checked: Instant::now(), size: 0, sequence: 0, previous: [0; 32] }
    }

    fn to_stdout(&self) -> bool {
        self.settings.path.as_os_str() == "-"
    }

    /// Notes that writing failed: requests are refused until a write works.
    fn fail(&mut self, why: &str) {
        tracing::error!("audit log {}: {why}", self.settings.path.display());
        self.file = None;
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::error!(path = %self.settings.path.display(), "audit log cannot be written: refusing requests until it can");
        }
    }

    /// Writes `lines` (after a header line saying why, when one is due: the file was opened anew, or
    /// writing failed before) in one write, synced if configured.
    fn write_batch(&mut self, mut header: Option<&'static str>, lines: Vec<Vec<u8>>) -> bool {
        if !self.to_stdout() && !self.still_open() {
            if let Err(e) = self.open_file() {
                self.fail(&e.to_string());
                return false;
            }
            header.get_or_insert("reopened");
        }
        if !self.healthy.load(Ordering::Relaxed) {
            header = Some("resumed");
        }
        let (sequence, previous) = (self.sequence, self.previous);
        let mut buffer = Vec::with_capacity(lines.iter().map(|l| l.len() + 120).sum::<usize>() + 200);
        if let Some(reason) = header {
            let line = self.header_line(reason);
            self.chain(&mut buffer, line);
        }
        for line in lines {
            self.chain(&mut buffer, line);
        }
        match self.write_out(&buffer) {
            Ok(()) => {
                self.size += buffer.len() as u64;
                if self.settings.max_bytes.is_some_and(|max| self.size >= max) {
                    if let Err(e) = self.rotate() {
                        tracing::error!("audit log {}: cannot rotate: {e}", self.settings.path.display());
                    }
                }
                if !self.healthy.swap(true, Ordering::Relaxed) {
                    tracing::warn!(path = %self.settings.path.display(), "audit log writable again: serving requests");
                }
                true
            }
            Err(e) => {
                (self.sequence, self.previous) = (sequence, previous);
                // A line cut short would break the chain: the file goes back to where it was, and
                // is opened anew for the next write.
                if let Some(file) = &self.file {
                    let _ = file.set_len(self.size);
                }
                self.fail(&e.to_string());
                false
            }
        }
    }

    fn write_out(&mut self, buffer: &[u8]) -> std::io::Result<()> {
        if self.to_stdout() {
            let mut stdout = std::io::stdout().lock();
            return stdout.write_all(buffer).and_then(|()| stdout.flush());
        }
        let file = self.file.as_deref().ok_or_else(|| std::io::Error::other("not open"))?;
        (&*file).write_all(buffer)
    }

    /// Appends `line` (a JSON object) to `buffer` with its sequence number and the hash of the line
    /// before it, and makes it the previous line.
    fn chain(&mut self, buffer: &mut Vec<u8>, mut line: Vec<u8>) {
        if line.last() == Some(&b'}') {
            line.pop();
            if line.len() > 1 {
                line.push(b',');
            }
        }
        let previous = hex::encode(self.previous);
        line.extend_from_slice(format!("\"sequence\":{},\"previousLineSha256\":\"{previous}\"}}", self.sequence).as_bytes());
        self.previous = sha256(&line);
        self.sequence += 1;
        buffer.extend_from_slice(&line);
        buffer.push(b'\n');
    }

    fn header_line(&self, reason: &str) -> Vec<u8> {
        let header = serde_json::json!({
            "trentAuditLog": { "version": 1, "node": self.settings.node, "reason": reason, "eventTime": event_time(SystemTime::now()) }
        });
        header.to_string().into_bytes()
    }

    /// Opens the log at start: an existing file's chain goes on from its last line.
    fn open(&mut self, reason: &'static str) -> std::io::Result<()> {
        if !self.to_stdout() {
            self.open_file()?;
            if let Some(last) = self.file.as_deref().map(last_line).transpose()?.flatten() {
                self.previous = sha256(&last);
                self.sequence = sequence_of(&last).map_or(0, |s| s + 1);
            }
        }
        let mut buffer = Vec::new();
        let line = self.header_line(reason);
        self.chain(&mut buffer, line);
        self.write_out(&buffer)?;
        self.size += buffer.len() as u64;
        Ok(())
    }

    fn open_file(&mut self) -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new().create(true).append(true).read(true).mode(crate::data_dir::FILE_MODE).open(&self.settings.path)?;
        let metadata = file.metadata()?;
        self.identity = (metadata.dev(), metadata.ino());
        self.size = metadata.len();
        self.file = Some(Arc::new(file));
        Ok(())
    }

    /// Whether the path still names the file open (not removed, nor moved away and replaced),
    /// looked at most every [`CHECK_PATH_EVERY`]: a `stat` per line cost a tenth of a request.
    fn still_open(&mut self) -> bool {
        if self.file.is_none() {
            return false;
        }
        if self.path_checked.elapsed() < CHECK_PATH_EVERY {
            return true;
        }
        self.path_checked = Instant::now();
        std::fs::metadata(&self.settings.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity)
    }

    /// Renames the file `PATH.1` (and older ones one number up) and begins a new one.
    fn rotate(&mut self) -> std::io::Result<()> {
        let path = &self.settings.path;
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
        let mut oldest = 1;
        while numbered(oldest).exists() {
            oldest += 1;
        }
        for n in (1..oldest).rev() {
            std::fs::rename(numbered(n), numbered(n + 1))?;
        }
        std::fs::rename(path, numbered(1))?;
        self.file = None;
        self.open_file()?;
        let mut buffer = Vec::new();
        let line = self.header_line("rotated");
        self.chain(&mut buffer, line);
        self.write_out(&buffer)?;
        self.size += buffer.len() as u64;
        Ok(())
    }
}

/// The last line of `file`, if it has one.
fn last_line(mut file: &File) -> std::io::Result<Option<Vec<u8>>> {
    const TAIL: u64 = 1 << 20;
    let length = file.metadata()?.len();
    file.seek(std::io::SeekFrom::Start(length.saturating_sub(TAIL)))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    Ok(tail.split(|&b| b == b'\n').rfind(|line| !line.is_empty()).map(<[u8]>::to_vec))
}

fn sequence_of(line: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Value>(line).ok()?.get("sequence")?.as_u64()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// CloudTrail's `eventTime`: UTC to the second, `2026-12-04T20:31:45Z`.
pub fn event_time(at: SystemTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from(at).format(&format).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Events

/// A CloudTrail-shaped KMS event.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    event_version: &'static str,
    user_identity: Option<UserIdentity<'a>>,
    event_time: String,
    event_source: &'static str,
    event_name: &'a str,
    aws_region: Option<&'a str>,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: Option<String>,
    user_agent: Option<&'a str>,
    request_parameters: Option<Value>,
    response_elements: Option<Value>,
    #[serde(rename = "requestID")]
    request_id: String,
    #[serde(rename = "eventID")]
    event_id: String,
    read_only: bool,
    resources: Vec<Resource>,
    event_type: &'static str,
    recipient_account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    trent: Trent<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
}

#[derive(Serialize)]
struct Resource {
    #[serde(rename = "accountId")]
    account_id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "ARN")]
    arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Trent<'a> {
    node: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    decisions: Vec<DecisionEntry<'a>>,
    /// The custody parties that made a threshold signature.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    custody_signers: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_micros: Option<u128>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DecisionEntry<'a> {
    action: &'a str,
    resource: &'a str,
    effect: &'static str,
    /// What decided: `keyPolicy`, `identityPolicy`, `grant`, `grantParty` (the grant's retiring
    /// principal or grantee), or for a denial its reason.
    by: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_policy_sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity_policy_sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    statement_sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant_id: Option<&'a str>,
}

/// Whether CloudTrail marks the operation read-only: it reads keys, or uses them without changing
/// anything Trent stores.
pub fn read_only(operation: OperationName) -> bool {
    use OperationName as Op;
    let name = operation.as_str();
    name.starts_with("Describe")
        || name.starts_with("Get")
        || name.starts_with("List")
        || matches!(
            operation,
            Op::Encrypt
                | Op::Decrypt
                | Op::ReEncrypt
                | Op::GenerateDataKey
                | Op::GenerateDataKeyWithoutPlaintext
                | Op::GenerateDataKeyPair
                | Op::GenerateDataKeyPairWithoutPlaintext
                | Op::GenerateMac
                | Op::VerifyMac
                | Op::Sign
                | Op::Verify
                | Op::GenerateRandom
                | Op::DeriveSharedSecret
        )
}

/// The event of one request: `request_body` gives its `requestParameters` and, for an operation that
/// changes something and succeeded, `response_body` its `responseElements`; both without secrets.
pub fn request_event(record: &RequestRecord, request_body: &[u8], response_body: Option<&[u8]>, node: &str) -> Vec<u8> {
    let trail = record.trail.snapshot();
    let principal = record.principal.as_deref();
    let user_identity = match principal {
        Some(p) => UserIdentity {
            kind: match p.kind {
                PrincipalKind::User => "IAMUser",
                PrincipalKind::Role => "AssumedRole",
                PrincipalKind::Root => "Root",
            },
            arn: Some(&p.arn),
            account_id: Some(&p.account),
            access_key_id: record.access_key_id.as_deref(),
            user_name: (!p.name.is_empty()).then_some(p.name.as_str()),
        },
        None => UserIdentity { kind: "Unknown", arn: None, account_id: None, access_key_id: record.access_key_id.as_deref(), user_name: None },
    };
    let read_only = record.operation.is_some_and(read_only);
    let mut resources: Vec<&str> = trail.keys.iter().map(String::as_str).collect();
    for decided in &trail.decisions {
        if decided.resource.contains(":key/") && !resources.contains(&decided.resource.as_str()) {
            resources.push(&decided.resource);
        }
    }
    let event = Event {
        event_version: "1.08",
        user_identity: Some(user_identity),
        event_time: event_time(record.received),
        event_source: "kms.amazonaws.com",
        event_name: record.operation.map_or("Unknown", OperationName::as_str),
        aws_region: record.region.as_deref(),
        source_ip_address: record.source_ip.map(|ip| ip.to_canonical().to_string()),
        user_agent: record.user_agent.as_deref(),
        request_parameters: parameters(request_body),
        response_elements: response_body.filter(|_| !read_only && record.error.is_none()).and_then(parameters),
        request_id: record.request_id.to_string(),
        event_id: record.event_id.to_string(),
        read_only,
        resources: resources.into_iter().map(key_resource).collect(),
        event_type: "AwsApiCall",
        recipient_account_id: principal.map(|p| p.account.as_str()),
        error_code: record.error.as_ref().map(|e| e.code().as_str()),
        error_message: record.error.as_ref().map(|e| e.message()),
        trent: Trent {
            node,
            decisions: trail.decisions.iter().map(decision_entry).collect(),
            custody_signers: &trail.custody_signers,
            latency_micros: Some(record.latency.as_micros()),
        },
    };
    serde_json::to_vec(&event).unwrap_or_default()
}

/// Work Trent did by itself, on the key `arn` (in `account` and `region`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackgroundWork {
    /// A key whose waiting period ended was deleted (CloudTrail's `DeleteKey`).
    KeyDeleted,
    /// Automatic rotation (CloudTrail's `RotateKey`).
    KeyRotated,
    /// Imported key material reached its expiry (CloudTrail's `DeleteExpiredKeyMaterial`).
    MaterialExpired,
}

#[derive(Clone, Debug)]
pub struct BackgroundEvent {
    pub work: BackgroundWork,
    pub account: String,
    pub region: String,
    pub key_arn: String,
    pub at: SystemTime,
}

pub fn background_event(event: &BackgroundEvent, node: &str) -> Vec<u8> {
    let name = match event.work {
        BackgroundWork::KeyDeleted => "DeleteKey",
        BackgroundWork::KeyRotated => "RotateKey",
        BackgroundWork::MaterialExpired => "DeleteExpiredKeyMaterial",
    };
    let line = Event {
        event_version: "1.08",
        user_identity: Some(UserIdentity { kind: "AWSService", arn: None, account_id: None, access_key_id: None, user_name: None }),
        event_time: event_time(event.at),
        event_source: "kms.amazonaws.com",
        event_name: name,
        aws_region: Some(&event.region),
        source_ip_address: None,
        user_agent: None,
        request_parameters: None,
        response_elements: None,
        request_id: String::new(),
        event_id: crate::record::random_uuid().to_string(),
        read_only: false,
        resources: vec![key_resource(&event.key_arn)],
        event_type: "AwsServiceEvent",
        recipient_account_id: Some(&event.account),
        error_code: None,
        error_message: None,
        trent: Trent { node, decisions: Vec::new(), custody_signers: &[], latency_micros: None },
    };
    serde_json::to_vec(&line).unwrap_or_default()
}

fn key_resource(arn: &str) -> Resource {
    let account = arn.split(':').nth(4).unwrap_or_default().to_owned();
    Resource { account_id: account, kind: "AWS::KMS::Key", arn: arn.to_owned() }
}

fn decision_entry(decided: &crate::record::Decided) -> DecisionEntry<'_> {
    let mut entry = DecisionEntry {
        action: &decided.action,
        resource: &decided.resource,
        effect: "Allow",
        by: "keyPolicy",
        key_policy_sid: None,
        identity_policy_sid: None,
        statement_sid: None,
        grant_id: None,
    };
    match &decided.decision {
        Decision::AllowedByPolicies { key_policy_sid, identity_policy_sid } => {
            entry.key_policy_sid = key_policy_sid.as_deref();
            entry.identity_policy_sid = identity_policy_sid.as_deref();
        }
        Decision::AllowedByIdentityPolicy { sid } => {
            (entry.by, entry.identity_policy_sid) = ("identityPolicy", sid.as_deref());
        }
        Decision::AllowedByGrant { grant_id } => (entry.by, entry.grant_id) = ("grant", Some(grant_id.as_str())),
        Decision::AllowedAsGrantParty => entry.by = "grantParty",
        Decision::Denied { reason, sid } => {
            entry.effect = "Deny";
            entry.by = match reason {
                crate::authz::DenialReason::ExplicitDenyInResourcePolicy => "explicitDenyInKeyPolicy",
                crate::authz::DenialReason::ExplicitDenyInIdentityPolicy => "explicitDenyInIdentityPolicy",
                crate::authz::DenialReason::NoResourcePolicyAllows => "noKeyPolicyAllows",
                crate::authz::DenialReason::NoIdentityPolicyAllows => "noIdentityPolicyAllows",
            };
            entry.statement_sid = sid.as_deref();
        }
    }
    entry
}

/// A request or response body as audit parameters: its members in camelCase, without the secret
/// ones. `None` for an empty body, or one that is not a JSON object.
fn parameters(body: &[u8]) -> Option<Value> {
    let Ok(Value::Object(members)) = serde_json::from_slice::<Value>(body) else { return None };
    let cleaned = clean(members);
    (!cleaned.is_empty()).then_some(Value::Object(cleaned))
}

fn clean(members: Map<String, Value>) -> Map<String, Value> {
    members
        .into_iter()
        .filter(|(name, _)| !SECRET_MEMBERS.contains(&name.as_str()))
        .map(|(name, value)| {
            let value = match value {
                Value::Object(inner) if !MAP_MEMBERS.contains(&name.as_str()) => Value::Object(clean(inner)),
                Value::Array(items) => Value::Array(
                    items
                        .into_iter()
                        .map(|item| match item {
                            Value::Object(inner) => Value::Object(clean(inner)),
                            other => other,
                        })
                        .collect(),
                ),
                other => other,
            };
            (camel_case(&name), value)
        })
        .collect()
}

fn camel_case(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|first| first.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Verification

/// `trent audit verify FILE…` (oldest first): checks every line's sequence number and the hash of
/// the line before it, across the files. Only the last line of the last file cannot be checked
/// this way (nothing follows it).
pub fn verify_files(files: &[PathBuf]) -> Result<(), String> {
    let mut previous: Option<(Vec<u8>, u64)> = None;
    let mut lines = 0u64;
    for path in files {
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for (index, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
            let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
            let at = || format!("{}:{}", path.display(), index + 1);
            let (sequence, hash) = chain_fields(&line).ok_or_else(|| format!("{}: not an audit log line", at()))?;
            if let Some((before, before_sequence)) = &previous {
                if sequence <= *before_sequence {
                    return Err(format!("{}: out of order or repeated (sequence {sequence} after {before_sequence})", at()));
                }
                if sequence > before_sequence + 1 {
                    let missing = sequence - before_sequence - 1;
                    return Err(format!("{}: {missing} line(s) missing before it, removed or moved (sequence {sequence} after {before_sequence})", at()));
                }
                if hash != hex::encode(sha256(before)) {
                    return Err(format!("{}: the line before it was changed (its hash does not match)", at()));
                }
            }
            previous = Some((line, sequence));
            lines += 1;
        }
    }
    println!("ok: {lines} lines in {} file(s), chain intact", files.len());
    Ok(())
}

fn chain_fields(line: &[u8]) -> Option<(u64, String)> {
    let value: Value = serde_json::from_slice(line).ok()?;
    Some((value.get("sequence")?.as_u64()?, value.get("previousLineSha256")?.as_str()?.to_owned()))
}

/// This node's name: as configured, else the host name.
pub fn node_name(configured: Option<&str>) -> String {
    configured.map(str::to_owned).unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "trent".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every blob member of every request and response in the AWS model, and every grant token,
    /// is left out of the audit log.
    #[test]
    fn every_blob_member_is_secret() {
        let model: Value = serde_json::from_str(include_str!("../../trent-model/model/service-2.json")).unwrap();
        let shapes = model["shapes"].as_object().unwrap();
        let mut blobs = Vec::new();
        for shape in shapes.values() {
            for (member, definition) in shape.get("members").and_then(Value::as_object).into_iter().flatten() {
                let target = &shapes[definition["shape"].as_str().unwrap()];
                let is_blob = target["type"] == "blob" || (target["type"] == "list" && shapes[target["member"]["shape"].as_str().unwrap()]["type"] == "blob");
                if is_blob || member.starts_with("GrantToken") || member == "ImportToken" {
                    blobs.push(member.clone());
                }
            }
        }
        blobs.sort();
        blobs.dedup();
        assert!(blobs.len() > 10, "{blobs:?}");
        for member in blobs {
            assert!(SECRET_MEMBERS.contains(&member.as_str()), "{member} is not left out of the audit log");
        }
    }

    #[test]
    fn parameters_leave_secrets_out_and_keep_context_keys() {
        let body = br#"{"KeyId":"alias/a","Plaintext":"c2VjcmV0","EncryptionContext":{"Dept":"IT"},"GrantTokens":["t"],"Constraints":{"EncryptionContextSubset":{"K":"v"}},"Tags":[{"TagKey":"k","TagValue":"v"}]}"#;
        let cleaned = parameters(body).unwrap();
        assert_eq!(
            cleaned,
            serde_json::json!({"keyId":"alias/a","encryptionContext":{"Dept":"IT"},"constraints":{"encryptionContextSubset":{"K":"v"}},"tags":[{"tagKey":"k","tagValue":"v"}]})
        );
        assert_eq!(parameters(b""), None);
    }

    fn settings(path: &Path) -> AuditSettings {
        AuditSettings { path: path.to_owned(), sync: false, max_bytes: None, node: "node-1".into() }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("trent-audit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("audit.log")
    }

    fn write_lines(log: &AuditLog, n: usize) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for i in 0..n {
            runtime.block_on(log.write(format!("{{\"n\":{i}}}").into_bytes())).unwrap();
        }
    }

    #[test]
    fn the_chain_goes_on_across_restarts_and_rotations_and_verify_finds_tampering() {
        let path = temp("chain");
        let log = AuditLog::open(settings(&path)).unwrap();
        write_lines(&log, 3);
        drop(log);
        let log = AuditLog::open(AuditSettings { max_bytes: Some(600), ..settings(&path) }).unwrap();
        write_lines(&log, 10);
        drop(log);
        std::thread::sleep(std::time::Duration::from_millis(100));
        let rotated: Vec<PathBuf> = (1..10).map(|n| PathBuf::from(format!("{}.{n}", path.display()))).filter(|p| p.exists()).rev().collect();
        assert!(!rotated.is_empty(), "no rotation");
        let mut files = rotated.clone();
        files.push(path.clone());
        verify_files(&files).unwrap();

        // Change, remove and swap lines of a copy (all files in one): each is found, at the line
        // that shows it.
        let text: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() >= 4, "{text}");
        let copy = path.with_extension("copy");
        let check = |lines: Vec<String>, expected: &str| {
            std::fs::write(&copy, lines.join("\n") + "\n").unwrap();
            let error = verify_files(std::slice::from_ref(&copy)).unwrap_err();
            assert!(error.contains(expected), "{error}");
        };
        let owned = || lines.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
        let mut changed = owned();
        changed[1] = changed[1].replacen("\"n\":", "\"n\":1", 1);
        check(changed, ":3: the line before it was changed");
        let mut removed = owned();
        removed.remove(1);
        check(removed, ":2: 1 line(s) missing");
        let mut swapped = owned();
        swapped.swap(1, 2);
        check(swapped, ":2: 1 line(s) missing before it, removed or moved");
        let mut repeated = owned();
        repeated.insert(3, repeated[1].clone());
        check(repeated, ":4: out of order or repeated");
        // The first file's header goes on from the second's last line: out of order, they fail.
        let mut reversed = files.clone();
        reversed.reverse();
        assert!(verify_files(&reversed).is_err());
    }
}
