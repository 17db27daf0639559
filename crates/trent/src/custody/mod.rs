//! Threshold custody, Trent's side: the listener parties dial into ([`listener`]), and the
//! coordinator that runs a key's distributed key generation and its signatures among them.
//!
//! A threshold key is made by CreateKey with the tag `trent:custody` = `threshold:T-of-N:P/P/…`.
//! The party `trent` is this node: its share is wrapped under the root key like any material, so
//! any node of a cluster acts for it. Trent relays the other parties' messages; the secret ones
//! are sealed end to end between the parties ([`trent_custody::seal`]).

pub mod listener;

use crate::store::StoredTag;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use trent_custody::participant::{Participant, Policy, Shares, DKLS23_KEY_GENERATION_STEPS, DKLS23_SIGNING_STEPS};
use trent_custody::wire::{Bytes, Inbox, Reply, Request, Round1, Session, SignatureRequest};
use trent_custody::{dkls23, frost, session_id, Quorum, Scheme};
use trent_model::{kms_error, KeySpec, KeyUsageType, KmsError, OriginType};
use zeroize::Zeroizing;

/// The reserved tag that makes a threshold key.
pub const TAG: &str = "trent:custody";
/// The party that is Trent itself.
pub const TRENT: &str = "trent";
/// How long a party has to answer one step: a quorum that is not there fails fast.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// A threshold key's custody, as its key record keeps it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct KeyCustody {
    pub scheme: Scheme,
    pub quorum: Quorum,
    /// The group's public key package (public: the group key and each party's share·G).
    #[serde(with = "crate::store::base64_bytes")]
    pub public_key_package: Vec<u8>,
}

impl KeyCustody {
    /// DescribeKey's `Custody` member (a Trent extension).
    pub fn metadata(&self) -> trent_model::CustodyType {
        trent_model::CustodyType {
            scheme: Some(match self.scheme {
                Scheme::FrostEd25519 => trent_model::CustodySchemeType::FrostEd25519,
                Scheme::FrostEd448 => trent_model::CustodySchemeType::FrostEd448,
                Scheme::Dkls23Secp256k1 => trent_model::CustodySchemeType::Dkls23Secp256k1,
                Scheme::Dkls23P256 => trent_model::CustodySchemeType::Dkls23P256,
            }),
            threshold: Some(i32::from(self.quorum.threshold)),
            parties: Some(self.quorum.parties.clone()),
            experimental: self.scheme.is_experimental().then_some(true),
        }
    }
}

/// The scheme and quorum a CreateKey request's `trent:custody` tag asks for, if it has one; AWS
/// errors for what threshold custody cannot do.
pub fn requested(
    tags: &[StoredTag],
    key_spec: KeySpec,
    key_usage: KeyUsageType,
    origin: OriginType,
    multi_region: bool,
) -> Result<Option<(Scheme, Quorum)>, KmsError> {
    let Some(tag) = tags.iter().find(|t| t.key == TAG) else { return Ok(None) };
    let quorum = Quorum::parse_tag(&tag.value).map_err(|e| kms_error!(TagException, "{e}"))?;
    let scheme = match key_spec {
        KeySpec::EccNistEdwards25519 => Scheme::FrostEd25519,
        KeySpec::EccEd448 => Scheme::FrostEd448,
        KeySpec::EccSecgP256k1 => Scheme::Dkls23Secp256k1,
        KeySpec::EccNistP256 => Scheme::Dkls23P256,
        other => return Err(kms_error!(UnsupportedOperationException, "Threshold custody is not available for {other} keys.")),
    };
    if key_usage != KeyUsageType::SignVerify || origin != OriginType::AwsKms || multi_region {
        return Err(kms_error!(UnsupportedOperationException, "A threshold key must be a single-Region SIGN_VERIFY key of origin AWS_KMS."));
    }
    Ok(Some((scheme, quorum)))
}

/// Whether a tag change touches the reserved tag (TagResource and UntagResource refuse it).
pub fn is_reserved(tag_key: &str) -> bool {
    tag_key == TAG
}

/// Trent's share while DKGs or signatures use it: put in before, taken out after (counted, for
/// concurrent signatures with one key). At rest it is in the key record, wrapped.
#[derive(Default)]
struct TrentShares(Mutex<HashMap<String, HeldShare>>);

/// A share and how many runs use it now.
type HeldShare = (Zeroizing<Vec<u8>>, usize);

impl Shares for TrentShares {
    fn store(&self, key_arn: &str, key_package: &[u8]) -> Result<(), String> {
        let mut shares = self.0.lock().map_err(|_| "poisoned")?;
        let entry = shares.entry(key_arn.to_owned()).or_insert_with(|| (Zeroizing::new(key_package.to_vec()), 0));
        entry.1 += 1;
        Ok(())
    }

    fn load(&self, key_arn: &str) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
        Ok(self.0.lock().map_err(|_| "poisoned")?.get(key_arn).map(|(share, _)| share.clone()))
    }

    fn forget(&self, key_arn: &str) -> Result<(), String> {
        let mut shares = self.0.lock().map_err(|_| "poisoned")?;
        if let Some(entry) = shares.get_mut(key_arn) {
            entry.1 -= 1;
            if entry.1 == 0 {
                shares.remove(key_arn);
            }
        }
        Ok(())
    }
}

/// Trent signs whatever its own authorization let through.
struct TrentPolicy;

impl Policy for TrentPolicy {
    fn decide(&self, _: &str, _: &SignatureRequest) -> Result<(), String> {
        Ok(())
    }

    fn signed(&self, _: &str, _: &SignatureRequest, _: &[u8]) {}
}

/// A connected party: requests go to its connection's task, replies come back.
#[derive(Clone)]
pub struct PartyLink {
    connection: u64,
    requests: mpsc::Sender<(Request, oneshot::Sender<Reply>)>,
}

/// The coordinator: the parties connected to this node, and Trent's own participant.
pub struct Custody {
    parties: Mutex<HashMap<String, PartyLink>>,
    trent: Participant<TrentShares, TrentPolicy>,
}

impl Default for Custody {
    fn default() -> Custody {
        Custody { parties: Mutex::new(HashMap::new()), trent: Participant::new(TRENT.to_owned(), TrentShares::default(), TrentPolicy) }
    }
}

/// What a DKG gives Trent: its own share if it is a party, and the group's public key package.
pub struct Generated {
    pub trent_share: Option<Zeroizing<Vec<u8>>>,
    pub public_key_package: Vec<u8>,
}

impl Custody {
    pub fn connected(&self, party: &str, link: PartyLink) {
        if let Ok(mut parties) = self.parties.lock() {
            parties.insert(party.to_owned(), link);
        }
    }

    /// Forgets the party's link if it is still this connection's.
    pub fn disconnected(&self, party: &str, connection: u64) {
        if let Ok(mut parties) = self.parties.lock() {
            if parties.get(party).is_some_and(|link| link.connection == connection) {
                parties.remove(party);
            }
        }
    }

    /// The parties connected now, `trent` always among them.
    pub fn connected_parties(&self) -> Vec<String> {
        let mut names: Vec<String> = self.parties.lock().map(|p| p.keys().cloned().collect()).unwrap_or_default();
        names.push(TRENT.to_owned());
        names.sort();
        names
    }

    async fn call(&self, party: &str, request: Request) -> Result<Reply, KmsError> {
        if party == TRENT {
            return Ok(self.trent.handle(request));
        }
        let link = self.parties.lock().ok().and_then(|p| p.get(party).cloned()).ok_or_else(|| unavailable(&format!("party {party} is not connected")))?;
        let (reply_to, reply) = oneshot::channel();
        link.requests.send((request, reply_to)).await.map_err(|_| unavailable(&format!("party {party} disconnected")))?;
        match tokio::time::timeout(STEP_TIMEOUT, reply).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(unavailable(&format!("party {party} disconnected"))),
            Err(_) => Err(unavailable(&format!("party {party} did not answer within {}s", STEP_TIMEOUT.as_secs()))),
        }
    }

    /// Sends each party its request at once; each reply, in party order.
    async fn round(&self, parties: &[String], request: impl Fn(&str) -> Request) -> Result<Vec<Reply>, KmsError> {
        let calls = parties.iter().map(|party| self.call(party, request(party)));
        let replies = futures_util::future::join_all(calls).await;
        parties
            .iter()
            .zip(replies)
            .map(|(party, reply)| match reply? {
                Reply::Refused { reason } => Err(kms_error!(AccessDeniedException, "Custody party {party} refused: {reason}")),
                Reply::Failed { reason } => {
                    tracing::warn!(party, "custody step failed: {reason}");
                    Err(kms_error!(KMSInternalException, "Custody party {party} could not complete the request: {reason}"))
                }
                reply => Ok(reply),
            })
            .collect()
    }

    /// The distributed key generation of a new key among all its parties.
    pub async fn generate(&self, key_arn: &str, scheme: Scheme, quorum: &Quorum) -> Result<Generated, KmsError> {
        let missing: Vec<&String> = quorum.parties.iter().filter(|p| !self.connected_parties().contains(p)).collect();
        if !missing.is_empty() {
            return Err(unavailable(&format!("key generation needs every party; not connected: {}", join(&missing))));
        }
        let nonce = trent_custody::nonce().map_err(internal)?;
        let id = session_id("CreateKey", key_arn, &quorum.parties, b"", &nonce);
        let session = Session { id: Bytes(id.to_vec()), key_arn: key_arn.to_owned(), scheme, quorum: quorum.clone(), nonce };
        let parties = &quorum.parties;
        let finished = match scheme {
            Scheme::FrostEd25519 | Scheme::FrostEd448 => self.generate_frost(&session).await?,
            Scheme::Dkls23Secp256k1 | Scheme::Dkls23P256 => {
                let started = self.round(parties, |_| Request::DkgStart { session: session.clone() }).await?;
                self.steps(&session, parties, started, DKLS23_KEY_GENERATION_STEPS).await?
            }
        };
        let mut public = None;
        for (party, reply) in parties.iter().zip(finished) {
            let Reply::DkgFinished { public_key_package } = reply else { return Err(unexpected(party)) };
            match &public {
                None => public = Some(public_key_package.0),
                Some(agreed) if *agreed == public_key_package.0 => {}
                Some(_) => return Err(internal("the parties disagree on the group key")),
            }
        }
        let public_key_package = public.ok_or_else(|| internal("no party"))?;
        let trent_share = self.trent.shares.load(key_arn).map_err(internal)?;
        self.trent.shares.forget(key_arn).map_err(internal)?;
        Ok(Generated { trent_share, public_key_package })
    }

    /// FROST's key generation: its three rounds, the last one's replies.
    async fn generate_frost(&self, session: &Session) -> Result<Vec<Reply>, KmsError> {
        let parties = &session.quorum.parties;
        let index = |party: &str| session.quorum.index_of(party).unwrap_or_default();
        let mut round1 = BTreeMap::<u16, Round1>::new();
        for (party, reply) in parties.iter().zip(self.round(parties, |_| Request::DkgStart { session: session.clone() }).await?) {
            let Reply::DkgStarted(package) = reply else { return Err(unexpected(party)) };
            round1.insert(index(party), package);
        }
        let mut echoes = BTreeMap::new();
        let mut sealed_from = BTreeMap::new();
        for (party, reply) in parties.iter().zip(self.round(parties, |_| Request::DkgShares { session: session.id.clone(), round1: round1.clone() }).await?) {
            let Reply::DkgShared { echo, sealed } = reply else { return Err(unexpected(party)) };
            echoes.insert(index(party), echo);
            sealed_from.insert(index(party), sealed);
        }
        let for_party = |party: &str| -> BTreeMap<u16, Bytes> {
            let to = index(party);
            sealed_from.iter().filter_map(|(from, sealed)| sealed.get(&to).map(|package| (*from, package.clone()))).collect()
        };
        let finish = |party: &str| Request::DkgFinish { session: session.id.clone(), echoes: echoes.clone(), sealed: for_party(party) };
        self.round(parties, finish).await
    }

    /// DKLs23's steps after its first request: the replies of the last.
    async fn steps(&self, session: &Session, parties: &[String], first: Vec<Reply>, count: usize) -> Result<Vec<Reply>, KmsError> {
        let index = |party: &str| session.quorum.index_of(party).unwrap_or_default();
        let mut replies = first;
        for _ in 0..count {
            let mut outboxes = BTreeMap::new();
            for (party, reply) in parties.iter().zip(replies) {
                let Reply::Stepped(outbox) = reply else { return Err(unexpected(party)) };
                outboxes.insert(index(party), outbox);
            }
            replies = self.round(parties, |party| Request::Step { session: session.id.clone(), inbox: Inbox::for_party(&outboxes, index(party)) }).await?;
        }
        Ok(replies)
    }

    /// A signature by a quorum of the key's parties (Trent first when it is one, then the others
    /// connected, in the key's order); fails fast without one.
    pub async fn sign(
        &self,
        key_arn: &str,
        custody: &KeyCustody,
        trent_share: Option<&[u8]>,
        request: SignatureRequest,
    ) -> Result<(Vec<u8>, Vec<String>), KmsError> {
        let quorum = &custody.quorum;
        let connected = self.connected_parties();
        let signers: Vec<String> = quorum
            .parties
            .iter()
            .filter(|p| connected.contains(p) && (p.as_str() != TRENT || trent_share.is_some()))
            .take(usize::from(quorum.threshold))
            .cloned()
            .collect();
        if signers.len() < usize::from(quorum.threshold) {
            return Err(unavailable(&format!("{} of the {} parties needed are connected", signers.len(), quorum.threshold)));
        }
        let request = SignatureRequest { signers: signers.clone(), ..request };
        let nonce = trent_custody::nonce().map_err(internal)?;
        let id = session_id("Sign", key_arn, &signers, &request.message.0, &nonce);
        let session = Session { id: Bytes(id.to_vec()), key_arn: key_arn.to_owned(), scheme: custody.scheme, quorum: quorum.clone(), nonce };
        if let Some(share) = trent_share {
            self.trent.shares.store(key_arn, share).map_err(internal)?;
        }
        let result = self.sign_with(&session, &signers, request, &custody.public_key_package).await;
        self.trent.shares.forget(key_arn).map_err(internal)?;
        result.map(|signature| (signature, signers))
    }

    async fn sign_with(&self, session: &Session, signers: &[String], request: SignatureRequest, public_key_package: &[u8]) -> Result<Vec<u8>, KmsError> {
        let message = request.message.0.clone();
        let commit = |_: &str| Request::SignCommit { session: session.clone(), request: request.clone() };
        if let Scheme::Dkls23Secp256k1 | Scheme::Dkls23P256 = session.scheme {
            let started = self.round(signers, commit).await?;
            let mut reveals = BTreeMap::new();
            for (party, reply) in signers.iter().zip(self.steps(session, signers, started, DKLS23_SIGNING_STEPS).await?) {
                let Reply::Stepped(outbox) = reply else { return Err(unexpected(party)) };
                reveals.insert(session.quorum.index_of(party).unwrap_or_default(), outbox.broadcast.0);
            }
            return dkls23::signature(session.scheme, &reveals, &message, public_key_package).map_err(internal);
        }
        let mut commitments = BTreeMap::new();
        for (party, reply) in signers.iter().zip(self.round(signers, commit).await?) {
            let Reply::Committed { commitments: c } = reply else { return Err(unexpected(party)) };
            commitments.insert(session.quorum.index_of(party).unwrap_or_default(), c.0);
        }
        let package = frost::signing_package(session.scheme, &commitments, &message).map_err(internal)?;
        let mut shares = BTreeMap::new();
        let share = |_: &str| Request::SignShare { session: session.id.clone(), package: Bytes(package.clone()) };
        for (party, reply) in signers.iter().zip(self.round(signers, share).await?) {
            let Reply::Shared { share } = reply else { return Err(unexpected(party)) };
            shares.insert(session.quorum.index_of(party).unwrap_or_default(), share.0);
        }
        frost::aggregate(session.scheme, &package, &shares, public_key_package).map_err(internal)
    }

    /// Tells every connected party to delete its shares of `key_arns`; a party offline now is
    /// told when it next connects (its hello lists the keys it holds).
    pub async fn forget(&self, key_arns: Vec<String>) {
        let parties: Vec<String> = self.connected_parties().into_iter().filter(|p| p != TRENT).collect();
        for party in parties {
            if let Err(e) = self.call(&party, Request::Forget { key_arns: key_arns.clone() }).await {
                tracing::warn!(party, "could not tell the party to delete its shares now (it will be told when it connects): {e:?}");
            }
        }
    }
}

fn join(parties: &[&String]) -> String {
    parties.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
}

/// The model's error for a dependency that cannot be reached.
fn unavailable(why: &str) -> KmsError {
    kms_error!(DependencyTimeoutException, "The custody quorum is unavailable: {why}.")
}

fn unexpected(party: &str) -> KmsError {
    internal(format!("party {party} answered out of turn"))
}

fn internal(why: impl std::fmt::Display) -> KmsError {
    tracing::error!("custody: {why}");
    kms_error!(KMSInternalException, "The request could not be completed due to an internal error.")
}

/// The SubjectPublicKeyInfo (DER) of a group key, as GetPublicKey returns it.
pub fn public_key_der(custody: &KeyCustody) -> Result<Vec<u8>, KmsError> {
    let raw = match custody.scheme {
        Scheme::FrostEd25519 | Scheme::FrostEd448 => frost::group_key(custody.scheme, &custody.public_key_package),
        Scheme::Dkls23Secp256k1 | Scheme::Dkls23P256 => dkls23::group_key(custody.scheme, &custody.public_key_package),
    }
    .map_err(internal)?;
    // The fixed DER prefix of a SubjectPublicKeyInfo for each curve: RFC 8410's for Edwards
    // curves, RFC 5480's (id-ecPublicKey, the curve's OID, an uncompressed point) for ECDSA.
    let prefix: &[u8] = match custody.scheme {
        Scheme::FrostEd25519 => &[0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00],
        Scheme::FrostEd448 => &[0x30, 0x43, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71, 0x03, 0x3a, 0x00],
        Scheme::Dkls23Secp256k1 => {
            &[0x30, 0x56, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a, 0x03, 0x42, 0x00]
        }
        Scheme::Dkls23P256 => &[
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03,
            0x42, 0x00,
        ],
    };
    Ok([prefix, &raw].concat())
}

/// For a party's link: the next connection's number.
pub fn next_connection() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl PartyLink {
    pub fn new(connection: u64, requests: mpsc::Sender<(Request, oneshot::Sender<Reply>)>) -> PartyLink {
        PartyLink { connection, requests }
    }
}
