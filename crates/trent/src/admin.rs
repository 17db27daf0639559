//! The admin listener, on its own address (default `127.0.0.1:4598`, never the KMS port):
//! `GET /metrics` (Prometheus text format), `GET /health/live` (the process answers) and
//! `GET /health/ready` (the store answers within a deadline and the audit log can be written;
//! 503 with the reason otherwise). Unauthenticated, like `/health` on the KMS port: keep it on a
//! trusted network.

use crate::http::Service;
use crate::store::{Exported, Scope};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:4598";

/// How long `/health/ready` waits for the store.
const READY_DEADLINE: Duration = Duration::from_secs(2);

pub async fn handle(service: Arc<Service>, parts: Parts) -> Response<Full<Bytes>> {
    if parts.method != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n".into());
    }
    match parts.uri.path() {
        "/metrics" => match key_counts(&service).await {
            Ok(counts) => {
                let mut response = text(StatusCode::OK, crate::metrics::get().encode(&counts));
                response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"));
                response
            }
            Err(reason) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
        },
        "/health/live" => json(StatusCode::OK, serde_json::json!({ "status": "live" })),
        "/health/ready" => match ready(&service).await {
            Ok(()) => json(StatusCode::OK, serde_json::json!({ "status": "ready" })),
            Err(reason) => json(StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({ "status": "not ready", "reason": reason })),
        },
        _ => text(StatusCode::NOT_FOUND, "not found: /metrics, /health/live, /health/ready\n".into()),
    }
}

/// Whether this node can serve: its store answers, its audit log can be written.
async fn ready(service: &Service) -> Result<(), String> {
    // A key that cannot exist: the read goes past the key cache to the store.
    let probe = Scope { account: "000000000000".into(), region: "health-check-1".into() };
    match tokio::time::timeout(READY_DEADLINE, service.ctx.store.get_key(&probe, "ready")).await {
        Err(_) => return Err(format!("the store did not answer within {READY_DEADLINE:?}")),
        Ok(Err(e)) => return Err(format!("the store failed: {e:?}")),
        Ok(Ok(_)) => {}
    }
    if let Some(audit) = &service.audit {
        if audit.writable().await.is_err() {
            return Err("the audit log cannot be written".into());
        }
    }
    Ok(())
}

/// Keys by (state, spec), read from the store.
async fn key_counts(service: &Service) -> Result<Vec<(String, String, i64)>, String> {
    let exported = service.ctx.store.export().await.map_err(|e| format!("the store failed: {e:?}"))?;
    let mut counts = BTreeMap::new();
    for record in exported {
        if let Exported::Key { record, .. } = record {
            *counts.entry((record.state.as_str().to_owned(), record.key_spec.as_str().to_owned())).or_insert(0) += 1;
        }
    }
    Ok(counts.into_iter().map(|((state, spec), count)| (state, spec, count)).collect())
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

fn json(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = text(status, body.to_string());
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
