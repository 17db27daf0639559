//! What a party does with each request: `trent-party` runs one, and so does Trent when it is one
//! of a key's parties. Secret state between rounds stays in memory, one entry per session, used
//! once: a replayed, reordered or foreign message finds no session and fails.

use crate::frost;
use crate::seal::{seal, SessionKey};
use crate::session_id;
use crate::wire::{Bytes, Reply, Request, Round1, Session, SignatureRequest};
use crate::Secret;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// A session not finished within this is dropped.
const SESSION_LIFETIME: Duration = Duration::from_secs(60);

/// Where a party keeps its shares.
pub trait Shares: Send + Sync {
    fn store(&self, key_arn: &str, key_package: &[u8]) -> Result<(), String>;
    fn load(&self, key_arn: &str) -> Result<Option<Zeroizing<Vec<u8>>>, String>;
    fn forget(&self, key_arn: &str) -> Result<(), String>;
}

/// A party's own say over each signature, and its own record of what it signed.
pub trait Policy: Send + Sync {
    fn decide(&self, key_arn: &str, request: &SignatureRequest) -> Result<(), String>;
    fn signed(&self, key_arn: &str, request: &SignatureRequest, session: &[u8]);
}

enum State {
    KeyGeneration { session: Session, me: u16, secret: Secret, key: SessionKey, own: Round1 },
    KeyGenerationShared { session: Session, me: u16, secret: Secret, key: SessionKey, echo: Vec<u8>, others: BTreeMap<u16, Vec<u8>> },
    Signing { session: Session, me: u16, nonces: Secret, commitments: Vec<u8>, request: SignatureRequest },
}

pub struct Participant<S, P> {
    pub name: String,
    pub shares: S,
    policy: P,
    sessions: Mutex<HashMap<Vec<u8>, (Instant, State)>>,
}

/// A reply that says why not.
type Refusal = Reply;

fn failed(reason: impl Into<String>) -> Refusal {
    Reply::Failed { reason: reason.into() }
}

/// The associated data of a sealed round-2 package: the session, its sender and its recipient.
fn binding(session: &[u8], from: u16, to: u16) -> Vec<u8> {
    [session, &from.to_be_bytes(), &to.to_be_bytes()].concat()
}

/// The digest every party echoes: of the whole round-1 broadcast as it received it.
fn echo_of(round1: &BTreeMap<u16, Round1>) -> Result<Vec<u8>, Refusal> {
    let bytes = serde_json::to_vec(round1).map_err(|e| failed(e.to_string()))?;
    Ok(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes).as_ref().to_vec())
}

impl<S: Shares, P: Policy> Participant<S, P> {
    pub fn new(name: String, shares: S, policy: P) -> Participant<S, P> {
        Participant { name, shares, policy, sessions: Mutex::new(HashMap::new()) }
    }

    pub fn handle(&self, request: Request) -> Reply {
        let result = match request {
            Request::DkgStart { session } => self.dkg_start(session),
            Request::DkgShares { session, round1 } => self.dkg_shares(&session.0, round1),
            Request::DkgFinish { session, echoes, sealed } => self.dkg_finish(&session.0, echoes, sealed),
            Request::SignCommit { session, request } => self.sign_commit(session, request),
            Request::SignShare { session, package } => self.sign_share(&session.0, &package.0),
            Request::Forget { key_arns } => key_arns.iter().try_for_each(|arn| self.shares.forget(arn)).map(|()| Reply::Forgotten).map_err(failed),
        };
        result.unwrap_or_else(|refusal| refusal)
    }

    /// This party's index in the session's quorum, once the session ID is the one its contents give.
    fn check(&self, session: &Session, operation: &str, signers: &[String], message: &[u8]) -> Result<u16, Refusal> {
        if session_id(operation, &session.key_arn, signers, message, &session.nonce).as_slice() != session.id.0 {
            return Err(failed("the session ID does not match the request"));
        }
        if !signers.contains(&self.name) {
            return Err(failed(format!("party {} is not among the signers", self.name)));
        }
        session.quorum.index_of(&self.name).ok_or_else(|| failed(format!("party {} is not one of the key's parties", self.name)))
    }

    fn put(&self, id: Vec<u8>, state: State) -> Result<(), Refusal> {
        let mut sessions = self.sessions.lock().map_err(|_| failed("session table poisoned"))?;
        sessions.retain(|_, (started, _)| started.elapsed() < SESSION_LIFETIME);
        if sessions.contains_key(&id) {
            return Err(failed("a session of this ID exists already"));
        }
        sessions.insert(id, (Instant::now(), state));
        Ok(())
    }

    fn take(&self, id: &[u8]) -> Result<State, Refusal> {
        let mut sessions = self.sessions.lock().map_err(|_| failed("session table poisoned"))?;
        sessions.remove(id).map(|(_, state)| state).ok_or_else(|| failed("no such session (finished, expired or never begun)"))
    }

    fn dkg_start(&self, session: Session) -> Result<Reply, Refusal> {
        let me = self.check(&session, "CreateKey", &session.quorum.parties, b"")?;
        let parties = u16::try_from(session.quorum.parties.len()).map_err(|_| failed("too many parties"))?;
        let (secret, package) = frost::dkg_part1(session.scheme, me, parties, session.quorum.threshold).map_err(failed)?;
        let key = SessionKey::generate().map_err(failed)?;
        let own = Round1 { package: Bytes(package), session_key: Bytes(key.public().map_err(failed)?) };
        self.put(session.id.0.clone(), State::KeyGeneration { session, me, secret, key, own: own.clone() })?;
        Ok(Reply::DkgStarted(own))
    }

    fn dkg_shares(&self, id: &[u8], round1: BTreeMap<u16, Round1>) -> Result<Reply, Refusal> {
        let State::KeyGeneration { session, me, secret, key, own } = self.take(id)? else { return Err(failed("not at this step")) };
        if round1.get(&me) != Some(&own) || round1.len() != session.quorum.parties.len() {
            return Err(failed("the round-1 broadcast does not carry this party's own package, or not every party's"));
        }
        let echo = echo_of(&round1)?;
        let others: BTreeMap<u16, Vec<u8>> = round1.iter().filter(|(i, _)| **i != me).map(|(i, r)| (*i, r.package.0.clone())).collect();
        let (secret, outgoing) = frost::dkg_part2(session.scheme, secret, &others).map_err(failed)?;
        let mut sealed = BTreeMap::new();
        for (to, package) in outgoing {
            let recipient = round1.get(&to).ok_or_else(|| failed("a package for an unknown party"))?;
            sealed.insert(to, Bytes(seal(&recipient.session_key.0, &package, &binding(id, me, to)).map_err(failed)?));
        }
        self.put(id.to_vec(), State::KeyGenerationShared { session, me, secret, key, echo: echo.clone(), others })?;
        Ok(Reply::DkgShared { echo: Bytes(echo), sealed })
    }

    fn dkg_finish(&self, id: &[u8], echoes: BTreeMap<u16, Bytes>, sealed: BTreeMap<u16, Bytes>) -> Result<Reply, Refusal> {
        let State::KeyGenerationShared { session, me, secret, key, echo, others } = self.take(id)? else { return Err(failed("not at this step")) };
        // The broadcast echo check: every party saw the same round-1 broadcast.
        if echoes.len() != session.quorum.parties.len() || echoes.values().any(|e| e.0 != echo) {
            return Err(failed("the parties received different round-1 broadcasts: key generation aborted"));
        }
        let mut round2 = BTreeMap::new();
        for from in others.keys() {
            let package = sealed.get(from).ok_or_else(|| failed("a round-2 package is missing"))?;
            round2.insert(*from, key.open(&package.0, &binding(id, *from, me)).map_err(failed)?.to_vec());
        }
        let (key_package, public) = frost::dkg_part3(session.scheme, &secret, &others, &round2).map_err(failed)?;
        self.shares.store(&session.key_arn, &key_package).map_err(failed)?;
        Ok(Reply::DkgFinished { public_key_package: Bytes(public) })
    }

    fn sign_commit(&self, session: Session, request: SignatureRequest) -> Result<Reply, Refusal> {
        let me = self.check(&session, "Sign", &request.signers, &request.message.0)?;
        if let Err(reason) = self.policy.decide(&session.key_arn, &request) {
            return Err(Reply::Refused { reason });
        }
        let key_package =
            self.shares.load(&session.key_arn).map_err(failed)?.ok_or_else(|| failed(format!("party {} holds no share of {}", self.name, session.key_arn)))?;
        let (nonces, commitments) = frost::commit(session.scheme, &key_package).map_err(failed)?;
        self.put(session.id.0.clone(), State::Signing { session, me, nonces, commitments: commitments.clone(), request })?;
        Ok(Reply::Committed { commitments: Bytes(commitments) })
    }

    fn sign_share(&self, id: &[u8], package: &[u8]) -> Result<Reply, Refusal> {
        let State::Signing { session, me, nonces, commitments, request } = self.take(id)? else { return Err(failed("not at this step")) };
        let key_package = self.shares.load(&session.key_arn).map_err(failed)?.ok_or_else(|| failed("the share is gone"))?;
        let share = frost::sign(session.scheme, package, &request.message.0, me, &commitments, nonces, &key_package).map_err(failed)?;
        self.policy.signed(&session.key_arn, &request, id);
        Ok(Reply::Shared { share: Bytes(share) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SignatureRequest;
    use crate::{Quorum, Scheme};

    #[derive(Default)]
    struct Memory(Mutex<HashMap<String, Vec<u8>>>);

    impl Shares for Memory {
        fn store(&self, key_arn: &str, key_package: &[u8]) -> Result<(), String> {
            self.0.lock().unwrap().insert(key_arn.to_owned(), key_package.to_vec());
            Ok(())
        }
        fn load(&self, key_arn: &str) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
            Ok(self.0.lock().unwrap().get(key_arn).cloned().map(Zeroizing::new))
        }
        fn forget(&self, key_arn: &str) -> Result<(), String> {
            self.0.lock().unwrap().remove(key_arn);
            Ok(())
        }
    }

    struct Allow;

    impl Policy for Allow {
        fn decide(&self, _: &str, _: &SignatureRequest) -> Result<(), String> {
            Ok(())
        }
        fn signed(&self, _: &str, _: &SignatureRequest, _: &[u8]) {}
    }

    const ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/k";

    fn parties() -> (Quorum, Vec<Participant<Memory, Allow>>) {
        let quorum = Quorum::parse_tag("threshold:2-of-2:a/b").unwrap();
        (quorum, ["a", "b"].map(|n| Participant::new(n.to_owned(), Memory::default(), Allow)).into())
    }

    fn session(operation: &str, quorum: &Quorum, signers: &[String], message: &[u8]) -> Session {
        let nonce = crate::nonce().unwrap();
        let id = session_id(operation, ARN, signers, message, &nonce);
        Session { id: Bytes(id.to_vec()), key_arn: ARN.into(), scheme: Scheme::FrostEd25519, quorum: quorum.clone(), nonce }
    }

    fn failure(reply: Reply) -> String {
        match reply {
            Reply::Failed { reason } => reason,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    /// A DKG between the two, as Trent would run it.
    fn generate(quorum: &Quorum, parties: &[Participant<Memory, Allow>]) {
        let dkg = session("CreateKey", quorum, &quorum.parties, b"");
        let mut round1 = BTreeMap::new();
        for (i, p) in parties.iter().enumerate() {
            let Reply::DkgStarted(r) = p.handle(Request::DkgStart { session: dkg.clone() }) else { panic!() };
            round1.insert(i as u16 + 1, r);
        }
        let (mut echoes, mut sealed) = (BTreeMap::new(), BTreeMap::new());
        for (i, p) in parties.iter().enumerate() {
            let Reply::DkgShared { echo, sealed: s } = p.handle(Request::DkgShares { session: dkg.id.clone(), round1: round1.clone() }) else { panic!() };
            echoes.insert(i as u16 + 1, echo);
            sealed.insert(i as u16 + 1, s);
        }
        for (i, p) in parties.iter().enumerate() {
            let to = i as u16 + 1;
            let mine = sealed.iter().filter_map(|(from, s)| s.get(&to).map(|b| (*from, b.clone()))).collect();
            assert!(matches!(p.handle(Request::DkgFinish { session: dkg.id.clone(), echoes: echoes.clone(), sealed: mine }), Reply::DkgFinished { .. }));
        }
    }

    #[test]
    fn a_session_id_that_does_not_match_its_request_is_refused() {
        let (quorum, parties) = parties();
        let mut forged = session("CreateKey", &quorum, &quorum.parties, b"");
        forged.key_arn = "arn:aws:kms:eu-west-1:111122223333:key/other".into();
        assert!(failure(parties[0].handle(Request::DkgStart { session: forged })).contains("session ID"));
        let for_signing = session("Sign", &quorum, &quorum.parties, b"");
        assert!(failure(parties[0].handle(Request::DkgStart { session: for_signing })).contains("session ID"), "bound to the operation");
    }

    #[test]
    fn a_broadcast_that_differs_between_parties_aborts_the_key_generation() {
        let (quorum, parties) = parties();
        let dkg = session("CreateKey", &quorum, &quorum.parties, b"");
        let mut round1 = BTreeMap::new();
        for (i, p) in parties.iter().enumerate() {
            let Reply::DkgStarted(r) = p.handle(Request::DkgStart { session: dkg.clone() }) else { panic!() };
            round1.insert(i as u16 + 1, r);
        }
        let mut echoes = BTreeMap::new();
        let mut sealed_for_b = BTreeMap::new();
        for (i, p) in parties.iter().enumerate() {
            let Reply::DkgShared { echo, sealed } = p.handle(Request::DkgShares { session: dkg.id.clone(), round1: round1.clone() }) else { panic!() };
            echoes.insert(i as u16 + 1, echo);
            if let Some(s) = sealed.get(&2) {
                sealed_for_b.insert(i as u16 + 1, s.clone());
            }
        }
        echoes.insert(1, Bytes(vec![0; 32]));
        let reason = failure(parties[1].handle(Request::DkgFinish { session: dkg.id.clone(), echoes, sealed: sealed_for_b }));
        assert!(reason.contains("different round-1 broadcasts"), "{reason}");
        assert!(parties[1].shares.load(ARN).unwrap().is_none(), "nothing half-made is kept");
    }

    #[test]
    fn signing_messages_replayed_reordered_or_for_another_message_sign_nothing() {
        let (quorum, parties) = parties();
        generate(&quorum, &parties);
        let request =
            SignatureRequest { caller: "c".into(), algorithm: "ED25519_SHA_512".into(), message: Bytes(b"m".to_vec()), signers: quorum.parties.clone() };
        let signing = session("Sign", &quorum, &quorum.parties, b"m");
        // A share before the commitment: out of order.
        assert!(failure(parties[0].handle(Request::SignShare { session: signing.id.clone(), package: Bytes(vec![]) })).contains("no such session"));
        let mut commitments = BTreeMap::new();
        for (i, p) in parties.iter().enumerate() {
            let Reply::Committed { commitments: c } = p.handle(Request::SignCommit { session: signing.clone(), request: request.clone() }) else { panic!() };
            commitments.insert(i as u16 + 1, c.0);
        }
        let other = frost::signing_package(Scheme::FrostEd25519, &commitments, b"another message").unwrap();
        assert!(failure(parties[0].handle(Request::SignShare { session: signing.id.clone(), package: Bytes(other) })).contains("another message"));
        // The refusal consumed a's session: its nonces never sign.
        let package = frost::signing_package(Scheme::FrostEd25519, &commitments, b"m").unwrap();
        assert!(failure(parties[0].handle(Request::SignShare { session: signing.id.clone(), package: Bytes(package.clone()) })).contains("no such session"));
        assert!(matches!(parties[1].handle(Request::SignShare { session: signing.id.clone(), package: Bytes(package.clone()) }), Reply::Shared { .. }));
        assert!(
            failure(parties[1].handle(Request::SignShare { session: signing.id.clone(), package: Bytes(package) })).contains("no such session"),
            "a replay signs nothing"
        );
    }
}
