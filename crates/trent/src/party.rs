//! A threshold-custody party (the `trent-party` binary): its own data directory and root key, one
//! share of each key it helps keep (wrapped under that root key), its own signing policy and its
//! own log of everything it signed. It dials out to Trent's party listener over mutual TLS and
//! keeps the connection open for work.

use crate::root_key::{self, Passphrases, RootKeyUri};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_rustls::TlsConnector;
use trent_crypto::root::RootKeyring;
use trent_crypto::KeyMaterial;
use trent_custody::identity::Identity;
use trent_custody::participant::{Participant, Policy, Shares};
use trent_custody::wire::{read_frame, write_frame, Envelope, Hello, Request, SignatureRequest};
use zeroize::Zeroizing;

/// How long a party waits before dialling Trent again.
const REDIAL: Duration = Duration::from_secs(1);

/// `trent-party enroll`: the party's identity, made in `data_dir` if absent; its fingerprint, for
/// the operator to approve in Trent's config.
pub fn enroll(data_dir: &Path, name: &str) -> Result<String, String> {
    crate::data_dir::prepare(data_dir)?;
    Ok(Identity::load_or_create(data_dir, name)?.fingerprint())
}

/// How `trent-party run` is set up.
pub struct PartySettings {
    pub data_dir: PathBuf,
    pub name: String,
    /// Trent's party listener, `HOST:PORT`.
    pub trent: String,
    /// Trent's identity, as Trent printed it at start.
    pub trent_fingerprint: String,
    pub policy: PathBuf,
    pub root_key: Option<RootKeyUri>,
    pub passphrases: Passphrases,
}

/// Serves Trent until `shutdown`, dialling again whenever the connection drops.
pub async fn run(settings: PartySettings, shutdown: impl std::future::Future<Output = ()>) -> Result<(), String> {
    crate::data_dir::prepare(&settings.data_dir)?;
    let policy = SigningPolicy::load(&settings.policy, &settings.data_dir)?;
    let root = root_key::load(settings.root_key.as_ref(), &settings.data_dir, &settings.passphrases).await?;
    let shares = ShareFiles::open(&settings.data_dir, &settings.name, RootKeyring::new(root))?;
    let identity = Identity::load_or_create(&settings.data_dir, &settings.name)?;
    let connector = TlsConnector::from(identity.client_config(settings.trent_fingerprint.clone())?);
    let participant = Arc::new(Participant::new(settings.name.clone(), shares, policy));
    println!("trent-party {} (identity {}) dialling {}", settings.name, identity.fingerprint(), settings.trent);
    std::io::stdout().flush().ok();
    let serving = async {
        loop {
            match serve_once(&settings.trent, &connector, participant.clone()).await {
                Ok(()) => tracing::info!("Trent closed the connection; dialling again"),
                Err(e) => tracing::warn!("connection to Trent: {e}; dialling again"),
            }
            tokio::time::sleep(REDIAL).await;
        }
    };
    tokio::select! {
        () = serving => {}
        () = shutdown => {}
    }
    Ok(())
}

async fn serve_once(trent: &str, connector: &TlsConnector, participant: Arc<Participant<ShareFiles, SigningPolicy>>) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect(trent).await.map_err(|e| e.to_string())?;
    // Each step is a small request and a small reply: no waiting to fill packets.
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("trent").map_err(|e| e.to_string())?;
    let mut tls = connector.connect(name, stream).await.map_err(|e| format!("TLS: {e}"))?;
    let held = participant.shares.held()?;
    write_frame(&mut tls, &Hello { party: participant.name.clone(), held }).await.map_err(|e| e.to_string())?;
    tracing::info!("connected to Trent at {trent}");
    loop {
        let Envelope { id, body } = match read_frame::<Envelope<Request>>(&mut tls).await {
            Ok(envelope) => envelope,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        let participant = participant.clone();
        // FROST's steps take well under a millisecond; the share store's disk I/O is what blocks.
        let reply = tokio::task::spawn_blocking(move || participant.handle(body)).await.map_err(|e| e.to_string())?;
        write_frame(&mut tls, &Envelope { id, body: reply }).await.map_err(|e| e.to_string())?;
    }
}

/// Shares as files in `DATA_DIR/shares/`, one per key (named by the key ARN's SHA-256), each
/// holding the key ARN and the share wrapped under the party's root key, bound to the party and
/// the key.
pub struct ShareFiles {
    dir: PathBuf,
    party: String,
    root: RootKeyring,
}

#[derive(Serialize, Deserialize)]
struct ShareFile {
    key_arn: String,
    #[serde(with = "crate::store::base64_bytes")]
    wrapped: Vec<u8>,
}

impl ShareFiles {
    pub fn open(data_dir: &Path, party: &str, root: RootKeyring) -> Result<ShareFiles, String> {
        let dir = data_dir.join("shares");
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(ShareFiles { dir, party: party.to_owned(), root })
    }

    fn path(&self, key_arn: &str) -> PathBuf {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_arn.as_bytes());
        self.dir.join(format!("{}.share", hex::encode(digest.as_ref())))
    }

    fn context(&self, key_arn: &str) -> Vec<u8> {
        format!("trent-party/share/v1/{}/{key_arn}", self.party).into_bytes()
    }

    /// The key ARNs this party holds shares of.
    pub fn held(&self) -> Result<Vec<String>, String> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| e.to_string())?;
        let mut held = Vec::new();
        for entry in entries.flatten() {
            let text = std::fs::read(entry.path()).map_err(|e| e.to_string())?;
            if let Ok(file) = serde_json::from_slice::<ShareFile>(&text) {
                held.push(file.key_arn);
            }
        }
        Ok(held)
    }
}

impl Shares for ShareFiles {
    fn store(&self, key_arn: &str, key_package: &[u8]) -> Result<(), String> {
        let wrapped = self.root.wrap(&KeyMaterial::new(key_package.to_vec()), &self.context(key_arn)).map_err(|e| format!("{e:?}"))?;
        let text = serde_json::to_vec(&ShareFile { key_arn: key_arn.to_owned(), wrapped }).map_err(|e| e.to_string())?;
        let (path, partial) = (self.path(key_arn), self.path(key_arn).with_extension("partial"));
        crate::data_dir::create_private_file(&partial).map_err(|e| e.to_string())?;
        let mut file = std::fs::OpenOptions::new().write(true).truncate(true).open(&partial).map_err(|e| e.to_string())?;
        file.write_all(&text).and_then(|()| file.sync_all()).map_err(|e| e.to_string())?;
        std::fs::rename(&partial, &path).map_err(|e| e.to_string())
    }

    fn load(&self, key_arn: &str) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
        let text = match std::fs::read(self.path(key_arn)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let file: ShareFile = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
        let share = self.root.unwrap(&file.wrapped, &self.context(key_arn)).map_err(|_| "the share does not open under this party's root key".to_owned())?;
        Ok(Some(Zeroizing::new(share.as_bytes().to_vec())))
    }

    fn forget(&self, key_arn: &str) -> Result<(), String> {
        match std::fs::remove_file(self.path(key_arn)) {
            Ok(()) => {
                tracing::info!(key_arn, "share deleted: the key was deleted");
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The party's signing policy (a TOML file of `[[rules]]`): a signature is made only if a rule
/// names its key and caller, within that rule's rate. No rule, no signature.
pub struct SigningPolicy {
    rules: Vec<Rule>,
    /// When each rule last allowed signatures, for its rate.
    recent: Mutex<HashMap<usize, Vec<Instant>>>,
    log: Mutex<std::fs::File>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    /// Key ARNs, or `*` for any.
    keys: Vec<String>,
    /// Callers' principal ARNs, or `*` for any.
    callers: Vec<String>,
    /// At most this many signatures a minute under this rule.
    #[serde(default)]
    max_per_minute: Option<usize>,
}

impl SigningPolicy {
    pub fn load(path: &Path, data_dir: &Path) -> Result<SigningPolicy, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the signing policy {}: {e}", path.display()))?;
        let file: PolicyFile = toml::from_str(&text).map_err(|e| format!("signing policy {}: {e}", path.display()))?;
        let log_path = data_dir.join("signed.log");
        crate::data_dir::create_private_file(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let log = std::fs::OpenOptions::new().append(true).open(&log_path).map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
        Ok(SigningPolicy { rules: file.rules, recent: Mutex::new(HashMap::new()), log: Mutex::new(log) })
    }
}

fn names(list: &[String], value: &str) -> bool {
    list.iter().any(|entry| entry == "*" || entry == value)
}

impl Policy for SigningPolicy {
    fn decide(&self, key_arn: &str, request: &SignatureRequest) -> Result<(), String> {
        let mut recent = self.recent.lock().map_err(|_| "poisoned")?;
        let mut limited = false;
        for (index, rule) in self.rules.iter().enumerate() {
            if !names(&rule.keys, key_arn) || !names(&rule.callers, &request.caller) {
                continue;
            }
            let times = recent.entry(index).or_default();
            times.retain(|t| t.elapsed() < Duration::from_secs(60));
            if rule.max_per_minute.is_some_and(|max| times.len() >= max) {
                limited = true;
                continue;
            }
            times.push(Instant::now());
            return Ok(());
        }
        match limited {
            true => Err(format!("the rate of signatures for {} with {key_arn} is spent for this minute", request.caller)),
            false => Err(format!("no rule allows {} to sign with {key_arn}", request.caller)),
        }
    }

    fn signed(&self, key_arn: &str, request: &SignatureRequest, session: &[u8]) {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &request.message.0);
        let line = serde_json::json!({
            "time": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "keyArn": key_arn,
            "caller": request.caller,
            "algorithm": request.algorithm,
            "messageSha256": hex::encode(digest.as_ref()),
            "signers": request.signers,
            "session": hex::encode(session),
        });
        if let Ok(mut log) = self.log.lock() {
            if let Err(e) = writeln!(log, "{line}").and_then(|()| log.sync_data()) {
                tracing::error!("cannot write the signing log: {e}");
            }
        }
    }
}
