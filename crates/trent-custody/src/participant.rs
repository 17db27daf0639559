//! What a party does with each request: `trent-party` runs one, and so does Trent when it is one
//! of a key's parties. Secret state between rounds stays in memory, one entry per session, used
//! once: a replayed, reordered or foreign message finds no session and fails.
//!
//! FROST has its own requests (three for a key, two for a signature). DKLs23 has more rounds, each
//! with broadcasts and messages between two parties: after its first request (`DkgStart` or
//! `SignCommit`, which broadcasts the party's session key) every round is a [`Request::Step`].

use crate::seal::{seal, SessionKey};
use crate::wire::{Bytes, Inbox, Outbox, Reply, Request, Round1, Session, SignatureRequest};
use crate::{dkls23, frost, session_id, Scheme, Secret};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// A session not finished within this is dropped.
const SESSION_LIFETIME: Duration = Duration::from_secs(60);

/// The steps after `DkgStart` of a DKLs23 key generation: its phase 1, phases 2 and 3, phase 4,
/// then the echo check of the broadcasts phase 4 took, before the share is kept.
pub const DKLS23_KEY_GENERATION_STEPS: usize = 4;
/// The steps after `SignCommit` of a DKLs23 signature: its phases 1, 2 and 3 (the coordinator
/// makes the signature from the last step's broadcasts).
pub const DKLS23_SIGNING_STEPS: usize = 3;

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
    Stepping(Box<Run>, Phase),
}

/// A DKLs23 key generation or signature between two steps.
struct Run {
    session: Session,
    me: u16,
    /// The parties taking part, by index: all the key's for a key generation, the signers for a signature.
    parties: Vec<u16>,
    /// The steps done: the sealed messages of each are bound to its number.
    steps: u8,
    /// Whether this party sent the others sealed messages at the last step (they sent it theirs).
    sent: bool,
    key: SessionKey,
    /// The others' session keys, from the first step's broadcast.
    peers: BTreeMap<u16, Vec<u8>>,
    /// This party's broadcast at the last step, which the next must carry unchanged.
    broadcast: Option<Vec<u8>>,
    /// The digest of the broadcasts this party received at the last step: every party must echo the same.
    echo: Option<Vec<u8>>,
}

enum Phase {
    KeyGeneration(Secret),
    /// Held until every party has echoed the same last broadcast.
    KeyGenerated {
        share: Zeroizing<Vec<u8>>,
        public_key_package: Vec<u8>,
    },
    Signing {
        request: SignatureRequest,
        secret: Option<Secret>,
    },
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

/// The associated data of a sealed message: the session, the step it was sent at (FROST's round 2
/// is step 2), its sender and its recipient.
fn binding(session: &[u8], step: u8, from: u16, to: u16) -> Vec<u8> {
    [session, &[step], &from.to_be_bytes(), &to.to_be_bytes()].concat()
}

/// The digest every party echoes: of the whole broadcast as it received it.
fn echo_of(broadcast: &impl serde::Serialize) -> Result<Vec<u8>, Refusal> {
    let bytes = serde_json::to_vec(broadcast).map_err(|e| failed(e.to_string()))?;
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
            Request::Step { session, inbox } => self.step(&session.0, inbox),
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
        if let Scheme::Dkls23Secp256k1 | Scheme::Dkls23P256 = session.scheme {
            let secret = dkls23::dkg_start(session.scheme, me, parties, session.quorum.threshold, &session.id.0).map_err(failed)?;
            return self.begin(session, me, (1..=parties).collect(), Phase::KeyGeneration(secret));
        }
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
            sealed.insert(to, Bytes(seal(&recipient.session_key.0, &package, &binding(id, 2, me, to)).map_err(failed)?));
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
            round2.insert(*from, key.open(&package.0, &binding(id, 2, *from, me)).map_err(failed)?.to_vec());
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
        if let Scheme::Dkls23Secp256k1 | Scheme::Dkls23P256 = session.scheme {
            let signers = request
                .signers
                .iter()
                .map(|s| session.quorum.index_of(s).ok_or_else(|| failed(format!("signer {s} is not one of the key's parties"))))
                .collect::<Result<_, _>>()?;
            return self.begin(session, me, signers, Phase::Signing { request, secret: None });
        }
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

    /// The first DKLs23 step: a session key, broadcast, for the messages the others seal for this party.
    fn begin(&self, session: Session, me: u16, parties: Vec<u16>, phase: Phase) -> Result<Reply, Refusal> {
        let key = SessionKey::generate().map_err(failed)?;
        let public = key.public().map_err(failed)?;
        let id = session.id.0.clone();
        let run = Run { session, me, parties, steps: 0, sent: false, key, peers: BTreeMap::new(), broadcast: Some(public.clone()), echo: None };
        self.put(id, State::Stepping(Box::new(run), phase))?;
        Ok(Reply::Stepped(Outbox { broadcast: Bytes(public), ..Outbox::default() }))
    }

    /// One DKLs23 step: the checks every step makes, then the scheme's own.
    fn step(&self, id: &[u8], inbox: Inbox) -> Result<Reply, Refusal> {
        let State::Stepping(mut run, phase) = self.take(id)? else { return Err(failed("not at this step")) };
        // The broadcast echo check: every party saw the same broadcasts at the last step.
        if let Some(echo) = run.echo.take() {
            if inbox.echoes.len() != run.parties.len() || inbox.echoes.values().any(|e| e.0 != echo) {
                return Err(failed("the parties received different broadcasts: aborted"));
            }
        }
        if let Some(own) = run.broadcast.take() {
            if inbox.broadcasts.get(&run.me).map(|b| &b.0) != Some(&own) || !inbox.broadcasts.keys().eq(run.parties.iter()) {
                return Err(failed("the broadcast does not carry this party's own message unchanged, or not every party's"));
            }
            run.echo = Some(echo_of(&inbox.broadcasts)?);
        }
        if run.steps == 0 {
            run.peers = inbox.broadcasts.iter().filter(|(i, _)| **i != run.me).map(|(i, b)| (*i, b.0.clone())).collect();
        }
        let received = self.open(&run, &inbox.sealed)?;
        let broadcasts: BTreeMap<u16, Vec<u8>> = inbox.broadcasts.into_iter().map(|(i, b)| (i, b.0)).collect();
        run.steps += 1;
        let (step, scheme, key_arn) = (run.steps, run.session.scheme, run.session.key_arn.clone());
        let (phase, broadcast, outgoing) = match phase {
            Phase::KeyGeneration(secret) if step == 1 => {
                let (secret, fragments) = dkls23::dkg_fragments(scheme, secret).map_err(failed)?;
                (Phase::KeyGeneration(secret), Vec::new(), fragments)
            }
            Phase::KeyGeneration(secret) if step == 2 => {
                let (secret, broadcast, messages) = dkls23::dkg_commit(scheme, secret, &received).map_err(failed)?;
                (Phase::KeyGeneration(secret), broadcast, messages)
            }
            Phase::KeyGeneration(secret) => {
                let (share, public_key_package) = dkls23::dkg_finish(scheme, secret, &broadcasts, &received).map_err(failed)?;
                (Phase::KeyGenerated { share, public_key_package }, Vec::new(), BTreeMap::new())
            }
            Phase::KeyGenerated { share, public_key_package } => {
                self.shares.store(&key_arn, &share).map_err(failed)?;
                return Ok(Reply::DkgFinished { public_key_package: Bytes(public_key_package) });
            }
            Phase::Signing { request, secret: None } => {
                let share = self.shares.load(&key_arn).map_err(failed)?.ok_or_else(|| failed("the share is gone"))?;
                let (secret, messages) = dkls23::sign_start(scheme, &share, id, &run.parties, &request.message.0).map_err(failed)?;
                (Phase::Signing { request, secret: Some(secret) }, Vec::new(), messages)
            }
            Phase::Signing { request, secret: Some(secret) } if step == 2 => {
                let (secret, messages) = dkls23::sign_multiply(scheme, secret, &received).map_err(failed)?;
                (Phase::Signing { request, secret: Some(secret) }, Vec::new(), messages)
            }
            Phase::Signing { request, secret: Some(secret) } => {
                let reveal = dkls23::sign_reveal(scheme, secret, &received).map_err(failed)?;
                self.policy.signed(&key_arn, &request, id);
                return Ok(Reply::Stepped(Outbox { broadcast: Bytes(reveal), ..Outbox::default() }));
            }
        };
        let mut sealed = BTreeMap::new();
        for (to, message) in outgoing {
            let recipient = run.peers.get(&to).ok_or_else(|| failed("a message for an unknown party"))?;
            sealed.insert(to, Bytes(seal(recipient, &message, &binding(id, step, run.me, to)).map_err(failed)?));
        }
        let echo = Bytes(run.echo.clone().unwrap_or_default());
        run.sent = !sealed.is_empty();
        run.broadcast = (!broadcast.is_empty()).then(|| broadcast.clone());
        self.put(id.to_vec(), State::Stepping(run, phase))?;
        Ok(Reply::Stepped(Outbox { broadcast: Bytes(broadcast), sealed, echo }))
    }

    /// The messages sealed for this party at the last step: one from each other party when this
    /// one sent each a message then (every party sends at the same steps), else none.
    fn open(&self, run: &Run, sealed: &BTreeMap<u16, Bytes>) -> Result<BTreeMap<u16, Vec<u8>>, Refusal> {
        if !run.sent {
            return if sealed.is_empty() { Ok(BTreeMap::new()) } else { Err(failed("sealed messages at a step that takes none")) };
        }
        let others: Vec<u16> = run.parties.iter().copied().filter(|i| *i != run.me).collect();
        if !sealed.keys().eq(others.iter()) {
            return Err(failed("the sealed messages are not one from each other party"));
        }
        sealed
            .iter()
            .map(|(from, bytes)| Ok((*from, run.key.open(&bytes.0, &binding(&run.session.id.0, run.steps, *from, run.me)).map_err(failed)?.to_vec())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SignatureRequest;
    use crate::Quorum;

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
        session_of(Scheme::FrostEd25519, operation, quorum, signers, message)
    }

    fn session_of(scheme: Scheme, operation: &str, quorum: &Quorum, signers: &[String], message: &[u8]) -> Session {
        let nonce = crate::nonce().unwrap();
        let id = session_id(operation, ARN, signers, message, &nonce);
        Session { id: Bytes(id.to_vec()), key_arn: ARN.into(), scheme, quorum: quorum.clone(), nonce }
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

    fn outboxes(replies: impl IntoIterator<Item = Reply>) -> BTreeMap<u16, Outbox> {
        replies
            .into_iter()
            .enumerate()
            .map(|(i, reply)| match reply {
                Reply::Stepped(outbox) => (i as u16 + 1, outbox),
                other => panic!("expected a step, got {other:?}"),
            })
            .collect()
    }

    /// `count` DKLs23 steps among both parties, as Trent relays them: the last replies.
    fn steps(parties: &[Participant<Memory, Allow>], id: &Bytes, first: Vec<Reply>, count: usize) -> Vec<Reply> {
        let mut replies = first;
        for _ in 0..count {
            let outboxes = outboxes(replies);
            replies = parties
                .iter()
                .enumerate()
                .map(|(i, p)| p.handle(Request::Step { session: id.clone(), inbox: Inbox::for_party(&outboxes, i as u16 + 1) }))
                .collect();
        }
        replies
    }

    const ECDSA: Scheme = Scheme::Dkls23Secp256k1;

    fn ecdsa_request(quorum: &Quorum, hash: &[u8]) -> SignatureRequest {
        SignatureRequest { caller: "c".into(), algorithm: "ECDSA_SHA_256".into(), message: Bytes(hash.to_vec()), signers: quorum.parties.clone() }
    }

    /// A DKLs23 key generation between the two: the public key package.
    fn generate_ecdsa(quorum: &Quorum, parties: &[Participant<Memory, Allow>]) -> Vec<u8> {
        let dkg = session_of(ECDSA, "CreateKey", quorum, &quorum.parties, b"");
        let first = parties.iter().map(|p| p.handle(Request::DkgStart { session: dkg.clone() })).collect();
        let finished = steps(parties, &dkg.id, first, DKLS23_KEY_GENERATION_STEPS);
        let Reply::DkgFinished { public_key_package } = &finished[0] else { panic!("{finished:?}") };
        public_key_package.0.clone()
    }

    #[test]
    fn ecdsa_parties_generate_and_sign_and_each_keeps_only_its_share() {
        let (quorum, parties) = parties();
        let public = generate_ecdsa(&quorum, &parties);
        let shares: Vec<_> = parties.iter().map(|p| p.shares.load(ARN).unwrap().expect("a share each")).collect();
        assert_ne!(shares[0], shares[1]);
        let hash = [9u8; 32];
        let signing = session_of(ECDSA, "Sign", &quorum, &quorum.parties, &hash);
        let first = parties.iter().map(|p| p.handle(Request::SignCommit { session: signing.clone(), request: ecdsa_request(&quorum, &hash) })).collect();
        let reveals = outboxes(steps(&parties, &signing.id, first, DKLS23_SIGNING_STEPS)).into_iter().map(|(i, o)| (i, o.broadcast.0)).collect();
        dkls23::signature(ECDSA, &reveals, &hash, &public).expect("a signature under the group key");
    }

    #[test]
    fn ecdsa_key_generation_with_broadcasts_that_differ_between_parties_keeps_nothing() {
        let (quorum, parties) = parties();
        let dkg = session_of(ECDSA, "CreateKey", &quorum, &quorum.parties, b"");
        let first = parties.iter().map(|p| p.handle(Request::DkgStart { session: dkg.clone() })).collect();
        // Up to phase 4, as Trent relays, but b is given a's broadcast with another byte (which
        // DKLs23's decoding ignores): both finish phase 4, and their echoes differ.
        let outboxes = outboxes(steps(&parties, &dkg.id, first, 2));
        let mut for_b = Inbox::for_party(&outboxes, 2);
        for_b.broadcasts.get_mut(&1).unwrap().0.push(0);
        let finished = [Inbox::for_party(&outboxes, 1), for_b];
        let echoes = self::outboxes(parties.iter().zip(finished).map(|(p, inbox)| p.handle(Request::Step { session: dkg.id.clone(), inbox })));
        for (i, p) in parties.iter().enumerate() {
            let reason = failure(p.handle(Request::Step { session: dkg.id.clone(), inbox: Inbox::for_party(&echoes, i as u16 + 1) }));
            assert!(reason.contains("different broadcasts"), "{reason}");
        }
        assert!(parties.iter().all(|p| p.shares.load(ARN).unwrap().is_none()), "nothing half-made is kept");
    }

    #[test]
    fn ecdsa_steps_replayed_reordered_or_tampered_sign_nothing() {
        let (quorum, parties) = parties();
        let public = generate_ecdsa(&quorum, &parties);
        let hash = [5u8; 32];
        let signing = session_of(ECDSA, "Sign", &quorum, &quorum.parties, &hash);
        let step = |p: &Participant<Memory, Allow>, inbox: Inbox| p.handle(Request::Step { session: signing.id.clone(), inbox });
        // A step before the signature begins: out of order.
        assert!(failure(step(&parties[0], Inbox::default())).contains("no such session"));
        let first: Vec<Reply> =
            parties.iter().map(|p| p.handle(Request::SignCommit { session: signing.clone(), request: ecdsa_request(&quorum, &hash) })).collect();
        let keys = outboxes(first);
        let after_1 = outboxes(parties.iter().enumerate().map(|(i, p)| step(p, Inbox::for_party(&keys, i as u16 + 1))));
        // Step 1's inbox again at step 2: refused.
        failure(step(&parties[0], Inbox::for_party(&keys, 1)));
        let mut tampered = Inbox::for_party(&after_1, 2);
        tampered.sealed.get_mut(&1).unwrap().0[40] ^= 1;
        assert!(failure(step(&parties[1], tampered)).contains("does not open"));
        // A refusal ends the session: neither can go on, no reveal, no signature.
        for (i, p) in parties.iter().enumerate() {
            assert!(failure(step(p, Inbox::for_party(&after_1, i as u16 + 1))).contains("no such session"));
        }
        // A whole run afterwards, with a fresh session, signs.
        let again = session_of(ECDSA, "Sign", &quorum, &quorum.parties, &hash);
        let first = parties.iter().map(|p| p.handle(Request::SignCommit { session: again.clone(), request: ecdsa_request(&quorum, &hash) })).collect();
        let reveals = outboxes(steps(&parties, &again.id, first, DKLS23_SIGNING_STEPS)).into_iter().map(|(i, o)| (i, o.broadcast.0)).collect();
        dkls23::signature(ECDSA, &reveals, &hash, &public).expect("a signature");
    }
}
