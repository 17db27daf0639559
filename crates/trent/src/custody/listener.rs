//! The party listener (`--party-listen`): parties dial in — so a party behind NAT works — over
//! mutual TLS, each side pinning the other's certificate fingerprint, and keep the connection
//! open for work. Each connection has a task that writes Trent's requests and matches the
//! party's replies to them by ID.

use super::{next_connection, PartyLink};
use crate::config::CustodyConfig;
use crate::ops::Ctx;
use crate::store::Scope;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use trent_custody::identity::Identity;
use trent_custody::wire::{read_frame, write_frame, Envelope, Hello, Reply, Request};

/// A party that does not finish its handshake and hello within this is dropped.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the party listener and serves it in a task: the task, the address, and Trent's identity's
/// fingerprint (kept in `DATA_DIR/custody/`, made on first start) for the parties to pin.
pub async fn start(address: SocketAddr, data_dir: &Path, config: &CustodyConfig, ctx: Arc<Ctx>) -> Result<(JoinHandle<()>, SocketAddr, String), String> {
    let approved = config.approved()?;
    let dir = data_dir.join("custody");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let identity = Identity::load_or_create(&dir, "trent")?;
    let tls = identity.server_config(approved.keys().cloned().collect())?;
    let listener = TcpListener::bind(address).await.map_err(|e| format!("cannot listen on {address} (custody parties): {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((tokio::spawn(serve(listener, tls, approved, ctx)), bound, identity.fingerprint()))
}

/// Serves parties forever. `approved` maps each approved fingerprint to its party's name.
async fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, approved: HashMap<String, String>, ctx: Arc<Ctx>) {
    let acceptor = TlsAcceptor::from(tls);
    let approved = Arc::new(approved);
    loop {
        let Ok((stream, peer)) = listener.accept().await else { continue };
        let (acceptor, approved, ctx) = (acceptor.clone(), approved.clone(), ctx.clone());
        tokio::spawn(async move {
            if let Err(e) = connection(stream, acceptor, &approved, ctx).await {
                tracing::warn!(%peer, "custody party connection: {e}");
            }
        });
    }
}

async fn connection(stream: tokio::net::TcpStream, acceptor: TlsAcceptor, approved: &HashMap<String, String>, ctx: Arc<Ctx>) -> Result<(), String> {
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let tls = tokio::time::timeout(HELLO_TIMEOUT, acceptor.accept(stream)).await.map_err(|_| "TLS handshake timed out")?.map_err(|e| format!("TLS: {e}"))?;
    let cert = tls.get_ref().1.peer_certificates().and_then(|certs| certs.first()).ok_or("no client certificate")?;
    let party = approved.get(&trent_custody::identity::fingerprint(cert)).ok_or("an identity no party has")?.clone();
    let (mut reader, mut writer) = tokio::io::split(tls);
    let hello: Hello = tokio::time::timeout(HELLO_TIMEOUT, read_frame(&mut reader)).await.map_err(|_| "no hello")?.map_err(|e| format!("hello: {e}"))?;
    if hello.party != party {
        return Err(format!("identity of party {party} says it is {}", hello.party));
    }
    let (requests, mut to_send) = mpsc::channel::<(Request, oneshot::Sender<Reply>)>(64);
    let connection = next_connection();
    ctx.custody.connected(&party, PartyLink::new(connection, requests.clone()));
    tracing::info!(party, "custody party connected");
    let gone = keys_gone(&ctx, &hello.held).await;
    if !gone.is_empty() {
        // Deleted while the party was away: its shares go now.
        let (reply_to, _) = oneshot::channel();
        let _ = requests.send((Request::Forget { key_arns: gone }, reply_to)).await;
    }

    let (replies, mut received) = mpsc::channel::<Envelope<Reply>>(64);
    let reading = tokio::spawn(async move {
        while let Ok(envelope) = read_frame::<Envelope<Reply>>(&mut reader).await {
            if replies.send(envelope).await.is_err() {
                break;
            }
        }
    });
    let mut waiting: HashMap<u64, oneshot::Sender<Reply>> = HashMap::new();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            Some((request, reply_to)) = to_send.recv() => {
                next_id += 1;
                waiting.insert(next_id, reply_to);
                if write_frame(&mut writer, &Envelope { id: next_id, body: request }).await.is_err() {
                    break;
                }
            }
            envelope = received.recv() => match envelope {
                Some(Envelope { id, body }) => {
                    if let Some(reply_to) = waiting.remove(&id) {
                        let _ = reply_to.send(body);
                    }
                }
                None => break,
            },
        }
    }
    reading.abort();
    ctx.custody.disconnected(&party, connection);
    tracing::info!(party, "custody party disconnected");
    Ok(())
}

/// Of the key ARNs a party holds shares of, those whose keys no longer exist.
async fn keys_gone(ctx: &Ctx, held: &[String]) -> Vec<String> {
    let mut gone = Vec::new();
    for arn in held {
        // arn:aws:kms:REGION:ACCOUNT:key/KEY_ID
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let (Some(region), Some(account), Some(key_id)) = (parts.get(3), parts.get(4), parts.get(5).and_then(|r| r.strip_prefix("key/"))) else { continue };
        let scope = Scope { account: (*account).to_owned(), region: (*region).to_owned() };
        if let Ok(None) = ctx.store.get_key(&scope, key_id).await {
            gone.push(arn.clone());
        }
    }
    gone
}
