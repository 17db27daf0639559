//! The messages between Trent and a party, over the party's mutually authenticated TLS
//! connection: JSON frames, each preceded by its length (4 bytes, big-endian). The party says
//! [`Hello`] once; then Trent sends [`Envelope`]s of [`Request`]s and the party answers each with an
//! envelope of the same ID holding a [`Reply`].

use crate::{Quorum, Scheme};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A frame larger than this is refused: no message of the protocol comes near it.
const MAX_FRAME: usize = 1 << 20;

/// Bytes, as base64 in JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64_simd::STANDARD.encode_to_string(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let text = String::deserialize(d)?;
        base64_simd::STANDARD.decode_to_vec(text).map(Bytes).map_err(serde::de::Error::custom)
    }
}

/// A party's first frame: its name, and the keys it holds shares of (Trent answers with a
/// [`Request::Forget`] naming those deleted meanwhile).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hello {
    pub party: String,
    pub held: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub id: u64,
    pub body: T,
}

/// What one run of the DKG or of a signature is about; each party recomputes the session ID from
/// it ([`crate::session_id`]) and refuses a request naming another.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    pub id: Bytes,
    pub key_arn: String,
    pub scheme: Scheme,
    pub quorum: Quorum,
    pub nonce: [u8; 16],
}

/// The authenticated request a signature is for: what each party's signing policy decides on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignatureRequest {
    /// The caller's principal ARN, as Trent authenticated it.
    pub caller: String,
    pub algorithm: String,
    pub message: Bytes,
    /// The parties that sign this time (a quorum of the key's), in the key's order.
    pub signers: Vec<String>,
}

/// A party's FROST round-1 broadcast: its commitment and its X25519 key for this session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round1 {
    pub package: Bytes,
    pub session_key: Bytes,
}

/// What a party receives at one step of a protocol of several rounds (DKLs23's): every party's
/// broadcast of the step before, the messages sealed for this party then, and every party's echo
/// of the broadcasts it received then.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Inbox {
    pub broadcasts: BTreeMap<u16, Bytes>,
    pub sealed: BTreeMap<u16, Bytes>,
    pub echoes: BTreeMap<u16, Bytes>,
}

impl Inbox {
    /// What the coordinator relays to party `to` from every party's outbox of the last step.
    pub fn for_party(outboxes: &BTreeMap<u16, Outbox>, to: u16) -> Inbox {
        let present = |bytes: &Bytes| !bytes.0.is_empty();
        Inbox {
            broadcasts: outboxes.iter().filter(|(_, o)| present(&o.broadcast)).map(|(from, o)| (*from, o.broadcast.clone())).collect(),
            sealed: outboxes.iter().filter_map(|(from, o)| o.sealed.get(&to).map(|m| (*from, m.clone()))).collect(),
            echoes: outboxes.iter().filter(|(_, o)| present(&o.echo)).map(|(from, o)| (*from, o.echo.clone())).collect(),
        }
    }
}

/// What a party sends at one step: its broadcast, a sealed message for each other party, and the
/// digest of the broadcasts it received at this step (empty when there were none).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Outbox {
    pub broadcast: Bytes,
    pub sealed: BTreeMap<u16, Bytes>,
    pub echo: Bytes,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Request {
    DkgStart {
        session: Session,
    },
    /// Every party's round-1 broadcast, this one's included.
    DkgShares {
        session: Bytes,
        round1: BTreeMap<u16, Round1>,
    },
    /// Every party's echo of the broadcast it received, and the round-2 packages sealed for this party.
    DkgFinish {
        session: Bytes,
        echoes: BTreeMap<u16, Bytes>,
        sealed: BTreeMap<u16, Bytes>,
    },
    SignCommit {
        session: Session,
        request: SignatureRequest,
    },
    SignShare {
        session: Bytes,
        package: Bytes,
    },
    /// The next step of a DKLs23 key generation or signature (begun by `DkgStart` or `SignCommit`).
    Step {
        session: Bytes,
        inbox: Inbox,
    },
    /// Keys deleted: their shares go.
    Forget {
        key_arns: Vec<String>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Reply {
    DkgStarted(Round1),
    /// `echo` is the digest of the round-1 broadcast as this party received it.
    DkgShared {
        echo: Bytes,
        sealed: BTreeMap<u16, Bytes>,
    },
    DkgFinished {
        public_key_package: Bytes,
    },
    Committed {
        commitments: Bytes,
    },
    Shared {
        share: Bytes,
    },
    /// A DKLs23 step done; its first carries the party's X25519 key for the session as broadcast.
    Stepped(Outbox),
    Forgotten,
    /// The party's own policy said no.
    Refused {
        reason: String,
    },
    Failed {
        reason: String,
    },
}

pub async fn write_frame<T: Serialize>(writer: &mut (impl AsyncWrite + Unpin), value: &T) -> std::io::Result<()> {
    // One write per frame: a frame split in two would wait on Nagle's algorithm.
    let mut frame = vec![0u8; 4];
    serde_json::to_writer(&mut frame, value).map_err(std::io::Error::other)?;
    let len = u32::try_from(frame.len() - 4).map_err(std::io::Error::other)?;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    writer.write_all(&frame).await?;
    writer.flush().await
}

pub async fn read_frame<T: DeserializeOwned>(reader: &mut (impl AsyncRead + Unpin)) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    reader.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!("a frame of {len} bytes")));
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    serde_json::from_slice(&body).map_err(std::io::Error::other)
}
