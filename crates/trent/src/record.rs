//! The record of one request, filled as the request goes — who called and from where, which
//! operation, which keys it acted on, what authorization decided and why, how it ended — and read
//! once at its end by the audit log, the metrics and GetKeyLastUsage.

use crate::authz::{DenialReason, Sid};
use crate::config::Principal;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use trent_model::{KmsError, OperationName};
use uuid::Uuid;

pub struct RequestRecord {
    pub request_id: Uuid,
    /// The `eventID` of its audit log line (random, as CloudTrail's), which GetKeyLastUsage reports.
    pub event_id: Uuid,
    /// When the request arrived (its body read), for the audit log's `eventTime` and SigV4.
    pub received: SystemTime,
    started: Instant,
    pub source_ip: Option<IpAddr>,
    /// Whether it came over TLS (`aws:SecureTransport`).
    pub secure: bool,
    pub user_agent: Option<String>,
    /// The access key ID the request was signed with, as claimed: also for a refused signature.
    pub access_key_id: Option<String>,
    /// The verified caller; `None` when the request was not authenticated.
    pub principal: Option<Arc<Principal>>,
    /// The region of the credential scope (the region the request addresses).
    pub region: Option<String>,
    /// `None` for an unknown operation.
    pub operation: Option<OperationName>,
    /// The keys and decisions of authorization, shared with the request's `Caller`.
    pub trail: Arc<Trail>,
    /// How it ended: `None` for success.
    pub error: Option<KmsError>,
    pub latency: Duration,
}

impl RequestRecord {
    /// A record for a request; `detailed` (an audit log is kept) also keeps what only the audit
    /// log reads: each authorization decision (the keys are always kept).
    pub fn new(request_id: Uuid, source_ip: Option<IpAddr>, user_agent: Option<String>, detailed: bool) -> RequestRecord {
        RequestRecord {
            request_id,
            event_id: event_id_of(request_id),
            received: SystemTime::now(),
            started: Instant::now(),
            source_ip,
            secure: false,
            user_agent,
            access_key_id: None,
            principal: None,
            region: None,
            operation: None,
            trail: Arc::new(Trail { detailed, ..Trail::default() }),
            error: None,
            latency: Duration::ZERO,
        }
    }

    /// Notes how the request ended, and its latency.
    pub fn finish(&mut self, error: Option<KmsError>) {
        self.error = error;
        self.latency = self.started.elapsed();
    }
}

/// What authorization found and decided for one request, in order. Filled through the request's
/// `Caller` (operations hold it by reference, across awaits, hence the lock; it is never contended).
#[derive(Default, Debug)]
pub struct Trail {
    inner: Mutex<TrailInner>,
    /// Whether decisions are kept (they cost two allocations each, and only the audit log reads them).
    detailed: bool,
}

#[derive(Default, Clone, Debug)]
pub struct TrailInner {
    /// ARNs of the keys the request named and found (or created), each once.
    pub keys: Vec<String>,
    pub decisions: Vec<Decided>,
    /// The custody parties that took part in a threshold signature.
    pub custody_signers: Vec<String>,
}

/// One authorization decision: an action (`kms:Encrypt`) on a resource (a key ARN, an alias ARN or
/// `*` for the account).
#[derive(Clone, Debug)]
pub struct Decided {
    pub action: String,
    pub resource: String,
    pub decision: Decision,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// By the key policy statement named, and (when it delegates to the account, or the caller is
    /// in another account) the identity policy statement named.
    AllowedByPolicies {
        key_policy_sid: Option<Sid>,
        identity_policy_sid: Option<Sid>,
    },
    /// By an identity policy alone (operations on no key, and the alias part of alias operations).
    AllowedByIdentityPolicy {
        sid: Option<Sid>,
    },
    /// By a grant for the caller.
    AllowedByGrant {
        grant_id: String,
    },
    /// The grant's retiring principal or grantee, which may retire it without any policy.
    AllowedAsGrantParty,
    Denied {
        reason: DenialReason,
        sid: Option<Sid>,
    },
}

impl Trail {
    /// Notes a key the request found (or created).
    pub fn key(&self, arn: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            if !inner.keys.iter().any(|known| known == arn) {
                inner.keys.push(arn.to_owned());
            }
        }
    }

    /// Notes a decision, when decisions are kept; `action` is made only then.
    pub fn decided(&self, action: impl FnOnce() -> String, resource: &str, decision: Decision) {
        if !self.detailed {
            return;
        }
        if let Ok(mut inner) = self.inner.lock() {
            let action = action();
            inner.decisions.push(Decided { action, resource: resource.to_owned(), decision });
        }
    }

    /// Notes the parties that made a threshold signature.
    pub fn signed_by(&self, parties: &[String]) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.custody_signers = parties.to_vec();
        }
    }

    pub fn is_detailed(&self) -> bool {
        self.detailed
    }

    /// What was noted so far.
    pub fn snapshot(&self) -> TrailInner {
        self.inner.lock().map(|inner| inner.clone()).unwrap_or_default()
    }
}

/// The request's `eventID`: its request ID under a per-process random mask, unique as request IDs
/// are without a call into the CSPRNG per request (which cost 2 % of a loaded server's CPU), and not
/// the request ID itself, as CloudTrail's are not.
fn event_id_of(request_id: Uuid) -> Uuid {
    static MASK: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    let mask = *MASK.get_or_init(|| random_uuid().as_u128());
    Uuid::from_u128(request_id.as_u128() ^ mask)
}

/// A random (version 4) UUID.
pub fn random_uuid() -> Uuid {
    let mut bytes = [0u8; 16];
    if let Ok(random) = trent_crypto::random_bytes(16) {
        bytes.copy_from_slice(random.as_bytes());
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}
