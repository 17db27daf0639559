//! `--handler`: the cost of Trent's request handler on its own, without sockets or HTTP parsing,
//! one request at a time on one core: what a request costs above the ceiling, split into the
//! stages of the request path (SigV4 verification, parsing and validation, the operation).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use hyper::http::request::Parts;
use hyper::StatusCode;
use serde_json::{json, Value};
use trent::http::Service;
use trent::ops::Ctx;

use crate::{kms_request, BoxError};
use base64::Engine as _;

/// Signs `op` once; the signature stays valid for the 15 minutes of allowed clock skew, longer
/// than the measurement, so the loop measures the server's side alone.
fn signed(op: &str, body: &Value) -> Result<(Parts, Bytes), BoxError> {
    let body = Bytes::from(body.to_string());
    let (mut parts, _) = kms_request("127.0.0.1:4599", op, body.clone())?.into_parts();
    parts.extensions.insert(trent::http::Peer(std::net::Ipv4Addr::LOCALHOST.into()));
    Ok((parts, body))
}

async fn call(service: &Arc<Service>, op: &str, body: Value) -> Result<Value, BoxError> {
    let (parts, body) = signed(op, &body)?;
    let response = trent::http::handle(service.clone(), parts, body).await;
    let status = response.status();
    let body = http_body_util::BodyExt::collect(response.into_body()).await?.to_bytes();
    if status != StatusCode::OK {
        return Err(format!("{op} answered {status}: {}", String::from_utf8_lossy(&body)).into());
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Slices each stage is measured in; the stages take turns slice by slice.
const SLICES: u32 = 30;

/// Mean µs per call of `f` over one slice of about `duration`.
async fn slice<F, Fut>(duration: Duration, f: &mut F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    let mut calls = 0u64;
    while started.elapsed() < duration {
        for _ in 0..20 {
            f().await;
        }
        calls += 20;
    }
    started.elapsed().as_secs_f64() * 1e6 / calls as f64
}

pub async fn bench(seconds: u64, policy: String, wanted: impl Fn(&str) -> bool) -> Result<(), BoxError> {
    let dir = std::env::temp_dir().join(format!("trent-bench-handler-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = measure(&dir, seconds, policy, wanted).await;
    std::fs::remove_dir_all(&dir).ok();
    result
}

async fn measure(dir: &std::path::Path, seconds: u64, policy: String, wanted: impl Fn(&str) -> bool) -> Result<(), BoxError> {
    let root = trent::root_key::load(None, dir, &Default::default()).await?;
    let store = Arc::new(trent::store::CachedStore::new(trent::open_store(None, dir).await?));
    let ctx = Arc::new(Ctx::new(store, Arc::new(trent_crypto::root::RootKeyring::new(root)), trent::config::Identities::loopback_default()));
    let service = Arc::new(Service { ctx: ctx.clone(), audit: None });

    let key_id = call(&service, "CreateKey", json!({"Description": "trent-bench", "Policy": policy})).await?["KeyMetadata"]["KeyId"]
        .as_str()
        .ok_or("CreateKey returned no KeyId")?
        .to_owned();
    let encrypt = json!({"KeyId": key_id, "Plaintext": crate::plaintext()});
    let blob = call(&service, "Encrypt", encrypt.clone()).await?["CiphertextBlob"].as_str().ok_or("Encrypt returned no CiphertextBlob")?.to_owned();
    let create = |spec: &str, usage: &str| call(&service, "CreateKey", json!({"KeySpec": spec, "KeyUsage": usage}));
    let signing_key = create("ECC_NIST_P256", "SIGN_VERIFY").await?["KeyMetadata"]["KeyId"].clone();
    let mac_key = create("HMAC_256", "GENERATE_VERIFY_MAC").await?["KeyMetadata"]["KeyId"].clone();
    let message = crate::BASE64.encode([7u8; 32]);
    let cases = [
        ("Encrypt", "Encrypt", encrypt),
        ("Decrypt", "Decrypt", json!({"CiphertextBlob": blob})),
        ("GenerateDataKey", "GenerateDataKey", json!({"KeyId": key_id, "KeySpec": "AES_256"})),
        ("Sign ECC_NIST_P256", "Sign", json!({"KeyId": signing_key, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256"})),
        ("GenerateMac HMAC_256", "GenerateMac", json!({"KeyId": mac_key, "Message": message, "MacAlgorithm": "HMAC_SHA_256"})),
    ];
    let duration = Duration::from_secs(seconds);
    println!("\nThe request handler alone (no sockets, no HTTP parsing), one request at a time, µs per request (the fastest of {SLICES} slices, the stages measured in turns):\n");
    println!("| operation | SigV4 verify | parse + validate | whole handler | handler − verify − parse |");
    println!("|---|---:|---:|---:|---:|");
    for (name, op, body) in cases.into_iter().filter(|(name, _, _)| wanted(name)) {
        eprintln!("handler: {name} for {}s ...", 3 * seconds);
        let (parts, body) = signed(op, &body)?;
        let identities = &ctx.identities;
        let mut verify = || async {
            std::hint::black_box(trent::sigv4::verify(&parts, &body, identities, std::time::SystemTime::now()).is_ok());
        };
        let mut parse = || async {
            std::hint::black_box(trent_model::Operation::parse(op, &body).is_ok());
        };
        let failed = std::cell::Cell::new(0u64);
        let mut whole = || async {
            let response = trent::http::handle(service.clone(), parts.clone(), body.clone()).await;
            failed.set(failed.get() + u64::from(response.status() != StatusCode::OK));
        };
        for _ in 0..200 {
            whole().await;
        }
        // Each stage's fastest slice: on a shared machine interference only ever adds time. The
        // stages take turns, so that a slow spell of the machine (they last seconds here) reaches
        // all three rather than one.
        let (mut verify_us, mut parse_us, mut whole_us) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
        let each = duration / SLICES;
        for _ in 0..SLICES {
            verify_us = verify_us.min(slice(each, &mut verify).await);
            parse_us = parse_us.min(slice(each, &mut parse).await);
            whole_us = whole_us.min(slice(each, &mut whole).await);
        }
        if failed.get() > 0 {
            return Err(format!("{op}: {} requests failed in the handler benchmark", failed.get()).into());
        }
        println!("| {name} | {verify_us:.1} | {parse_us:.1} | {whole_us:.1} | {:.1} |", whole_us - verify_us - parse_us);
    }
    Ok(())
}
