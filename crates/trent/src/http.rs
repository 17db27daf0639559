//! The HTTP layer: connections, body limits, and turning a KMS request into a JSON response or an
//! AWS error. `serve` is generic over the handler so the benchmark can measure the same stack with a
//! trivial handler.

use crate::audit::{self, AuditLog};
use crate::ops::{self, Caller, Ctx};
use crate::record::RequestRecord;
use crate::sigv4;
use crate::tls::Tls;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, USER_AGENT};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use trent_model::{kms_error, KmsError, Operation, OperationName};
use uuid::Uuid;

/// Largest request body accepted. The largest legal KMS request is a 131,072-character key policy,
/// which JSON escaping can grow to about 786 KiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// A client that sends headers or a body slower than this is dropped, so it cannot hold a
/// connection forever.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections the kernel queues while the server is busy accepting. Tokio's default, the standard
/// library's 128, overflowed when 5,000 clients connected at once: the ones refused retried their
/// SYN a second later. Linux caps it at `net.core.somaxconn` (4096 by default).
pub const LISTEN_BACKLOG: u32 = 1024;
/// How long in-flight requests may take to finish after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The header that carries the request ID in every response, as AWS's.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
/// The header that names the operation (`TrentService.<Operation>`).
const TARGET: HeaderName = HeaderName::from_static("x-amz-target");

/// The address a request came from (for `aws:SourceIp`), in the request's extensions.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::IpAddr);

/// In a request's extensions when it came over TLS (for `aws:SecureTransport`).
#[derive(Clone, Copy, Debug)]
pub struct Secure;

/// Listens on `addr` with a backlog of [`LISTEN_BACKLOG`].
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As `TcpListener::bind` does: a restarted server may bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accepts connections until `shutdown` completes, then lets in-flight requests finish. With `tls`,
/// every connection is TLS (its handshake bounded by the read timeout) and its requests carry
/// [`Secure`].
pub async fn serve<H, Fut>(listener: TcpListener, handler: H, tls: Option<Arc<Tls>>, shutdown: impl Future<Output = ()>)
where
    H: Fn(Parts, Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = stream;
        stream.set_nodelay(true).ok();
        let handler = handler.clone();
        let secure = tls.is_some();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let handler = handler.clone();
            request.extensions_mut().insert(Peer(peer.ip()));
            if secure {
                request.extensions_mut().insert(Secure);
            }
            async move { Ok::<_, Infallible>(read_and_handle(request, handler).await) }
        });
        let watcher = graceful.watcher();
        match tls.as_deref().map(Tls::acceptor) {
            None => {
                tokio::spawn(serve_connection(TokioIo::new(stream), service, watcher));
            }
            Some(None) => tracing::error!(%peer, "the TLS configuration is unavailable: connection dropped"),
            Some(Some(acceptor)) => {
                tokio::spawn(async move {
                    match tokio::time::timeout(READ_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(TokioIo::new(stream), service, watcher).await,
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("shutdown: in-flight requests did not finish within {SHUTDOWN_GRACE:?}");
    }
}

/// Serves HTTP/1.1 on one connection (plain or TLS) until it ends or shutdown drains it.
async fn serve_connection<I, S>(io: I, service: S, watcher: hyper_util::server::graceful::Watcher)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Full<Bytes>> + Send + 'static,
    S::Future: Send,
{
    let connection = hyper::server::conn::http1::Builder::new().timer(TokioTimer::new()).header_read_timeout(READ_TIMEOUT).serve_connection(io, service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!("connection ended: {e}");
    }
}

async fn read_and_handle<H, Fut>(request: Request<Incoming>, handler: H) -> Response<Full<Bytes>>
where
    H: Fn(Parts, Bytes) -> Fut,
    Fut: Future<Output = Response<Full<Bytes>>>,
{
    let (parts, body) = request.into_parts();
    // A body declared too large is refused before any of it is read, rather than when the limit is
    // reached (or the read timeout, if the client sends nothing more). The connection is then closed.
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return error_response(&too_large(), new_request_id());
    }
    let collected = tokio::time::timeout(READ_TIMEOUT, Limited::new(body, MAX_BODY_BYTES).collect()).await;
    match collected {
        Ok(Ok(body)) => handler(parts, body.to_bytes()).await,
        Ok(Err(_)) => error_response(&too_large(), new_request_id()),
        Err(_) => error_response(&kms_error!(SerializationException, "Request body was not received in time"), new_request_id()),
    }
}

fn too_large() -> KmsError {
    kms_error!(SerializationException, "Request body is larger than {MAX_BODY_BYTES} bytes or was cut short")
}

/// What the KMS endpoint serves with: the operations' context, and the audit log if there is one.
pub struct Service {
    pub ctx: Arc<Ctx>,
    pub audit: Option<AuditLog>,
}

impl Service {
    /// Runs the scheduled work now due and writes an audit line for each thing it did.
    pub async fn run_due_work(&self) -> Result<(), KmsError> {
        let (events, result) = ops::run_due_work(&self.ctx).await;
        crate::metrics::get().scheduler_run(result.is_ok());
        if let Some(audit) = &self.audit {
            for event in &events {
                if audit.write(audit::background_event(event, audit.node())).await.is_err() {
                    tracing::error!(key = %event.key_arn, work = ?event.work, "the audit line of scheduled work could not be written");
                }
            }
        }
        result
    }
}

/// The KMS endpoint: `POST /` with `X-Amz-Target: TrentService.<Operation>`; `GET /health` too.
/// A request is authenticated before its body is parsed, as AWS does. Every request gets a record,
/// which the metrics count and the audit log writes before the response is sent.
pub async fn handle(service: Arc<Service>, parts: Parts, body: Bytes) -> Response<Full<Bytes>> {
    let request_id = new_request_id();
    if parts.method == Method::GET && parts.uri.path() == "/health" {
        return json_response(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#), request_id);
    }
    if service.ctx.test_admin && parts.method == Method::POST {
        if let Some(result) = test_admin(&service, parts.uri.path(), &body).await {
            return match result {
                Ok(body) => json_response(StatusCode::OK, Bytes::from(body.to_string()), request_id),
                Err(error) => error_response(&error, request_id),
            };
        }
    }
    let peer = parts.extensions.get::<Peer>().map(|peer| peer.0);
    // What only the audit log reads is kept only when there is one.
    let audited = service.audit.is_some();
    let user_agent = audited.then(|| parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned)).flatten();
    let mut record = RequestRecord::new(request_id, peer, user_agent, audited);
    record.secure = parts.extensions.get::<Secure>().is_some();
    let target = parts.headers.get(TARGET).and_then(|v| v.to_str().ok()).unwrap_or("");
    let operation = target.strip_prefix("TrentService.").unwrap_or(target);
    record.operation = OperationName::parse(operation);
    // Fail closed: while the audit log cannot be written, nothing is served unaudited.
    if let Some(audit) = &service.audit {
        if audit.writable().await.is_err() {
            return error_response(&audit_unavailable(), request_id);
        }
    }
    let result = authenticate_and_dispatch(&service.ctx, &parts, &body, operation, &mut record).await;
    record.finish(result.as_ref().err().cloned());
    crate::metrics::get().request(&record);
    // The latency is read inside the log macros, which evaluate their fields only for an event
    // that is logged: the debug event of a successful request usually is not.
    let principal = record.principal.as_ref().map_or("", |p| p.arn.as_str());
    let region = record.region.as_deref().unwrap_or("");
    match &result {
        Ok(_) => tracing::debug!(%request_id, operation, principal, region, latency_us = record.latency.as_micros(), "ok"),
        Err(error) => {
            tracing::info!(%request_id, operation, principal, region, latency_us = record.latency.as_micros(), code = error.code().as_str(), "{}", error.message())
        }
    }
    if let Some(audit) = &service.audit {
        let line = audit::request_event(&record, &body, result.as_deref().ok(), audit.node());
        if audit.write(line).await.is_err() {
            tracing::error!(%request_id, operation, "served, but its audit line could not be written: answering KMSInternalException");
            return error_response(&audit_unavailable(), request_id);
        }
    }
    match result {
        Ok(body) => json_response(StatusCode::OK, Bytes::from(body), request_id),
        Err(error) => error_response(&error, request_id),
    }
}

/// Authenticates, parses and dispatches one request, noting in `record` what it learns on the way.
async fn authenticate_and_dispatch(ctx: &Ctx, parts: &Parts, body: &[u8], operation: &str, record: &mut RequestRecord) -> Result<Vec<u8>, KmsError> {
    if record.trail.is_detailed() {
        record.access_key_id = sigv4::claimed_access_key(&parts.headers);
    }
    let authenticated = sigv4::verify(parts, body, &ctx.identities, record.received)?;
    record.principal = Some(authenticated.principal.clone());
    record.region = Some(authenticated.region.clone());
    let caller = Caller::new(authenticated, record);
    if parts.method != Method::POST {
        return Err(kms_error!(UnknownOperationException, "Only POST requests are served"));
    }
    ops::dispatch(ctx, &caller, Operation::parse(operation, body)?).await
}

fn audit_unavailable() -> KmsError {
    kms_error!(KMSInternalException, "The request could not be completed: the audit log cannot be written.")
}

/// The test-only admin endpoints (`--test-admin`), `None` for any other path. Unauthenticated, like
/// `/health`; when off, these paths are answered like any other unsigned request.
async fn test_admin(service: &Service, path: &str, body: &[u8]) -> Option<Result<serde_json::Value, KmsError>> {
    match path {
        "/_trent/clock/advance" => Some(advance_clock(service, body).await),
        "/_trent/reset" => Some(reset(&service.ctx).await),
        _ => None,
    }
}

/// `{"seconds": N}` moves the clock N ≥ 0 seconds forward, then runs the deletions and rotations
/// now due, so a test sees their effect without waiting for the scheduler's next tick.
async fn advance_clock(service: &Service, body: &[u8]) -> Result<serde_json::Value, KmsError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Advance {
        seconds: u32,
    }
    let advance: Advance = serde_json::from_slice(body)
        .map_err(|e| kms_error!(ValidationException, "Expected {{\"seconds\": N}} with N a whole number from 0 to 4294967295: {e}"))?;
    let offset_ms = service.ctx.clock.advance(i64::from(advance.seconds) * 1000);
    service.run_due_work().await?;
    tracing::warn!(offset_seconds = offset_ms / 1000, "test admin: clock advanced");
    Ok(serde_json::json!({ "offset_seconds": offset_ms / 1000 }))
}

/// Empties the store: every key, alias and grant in every account and region.
async fn reset(ctx: &Ctx) -> Result<serde_json::Value, KmsError> {
    ctx.store.reset().await?;
    tracing::warn!("test admin: store reset");
    Ok(serde_json::json!({}))
}

pub fn error_response(error: &KmsError, request_id: Uuid) -> Response<Full<Bytes>> {
    // Where AWS sends no message (a bad signature, a ciphertext that does not decrypt), the body
    // has none: `{"__type":"KMSInvalidSignatureException"}`, not an empty one.
    let body = match error.message() {
        "" => serde_json::json!({ "__type": error.code().as_str() }),
        message => serde_json::json!({ "__type": error.code().as_str(), "message": message }),
    };
    let status = StatusCode::from_u16(error.code().status()).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(status, Bytes::from(body.to_string()), request_id)
}

fn json_response(status: StatusCode, body: Bytes, request_id: Uuid) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.1"));
    if let Ok(id) = HeaderValue::from_str(request_id.hyphenated().encode_lower(&mut Uuid::encode_buffer())) {
        headers.insert(REQUEST_ID, id);
    }
    response
}

/// A UUID-shaped request ID: a random per-process prefix and a counter. Request IDs need to be
/// unique, not unpredictable, so this costs no call into the CSPRNG per request. Kept as a `Uuid`
/// (16 bytes, copied freely) and written out only where it is sent or recorded.
fn new_request_id() -> Uuid {
    static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let random = trent_crypto::random_bytes(8).map(|r| r.as_bytes().to_vec()).unwrap_or_default();
        random.iter().fold(u64::from(std::process::id()), |acc, b| acc.rotate_left(8) ^ u64::from(*b))
    });
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Uuid::from_u64_pair(prefix, n)
}
