//! The key-spec part of the benchmark: Sign and Verify per spec, GenerateMac and
//! GenerateDataKeyPair through Trent, each next to the raw cost of the same primitive measured
//! here, in-process, on one core.

use crate::{call, BoxError, Server, Target};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::json;
use std::time::{Duration, Instant};
use trent_crypto::asymmetric;
use trent_model::{DataKeyPairSpec, KeySpec, MacAlgorithmSpec, MessageType, SigningAlgorithmSpec};

/// One operation measured through Trent, and the primitive it spends its time in.
pub struct Case {
    pub target: Target,
    pub primitive: Primitive,
}

#[derive(Clone, Copy)]
pub enum Primitive {
    Sign(KeySpec, SigningAlgorithmSpec),
    Verify(KeySpec, SigningAlgorithmSpec),
    Mac(MacAlgorithmSpec),
    KeyPair(DataKeyPairSpec),
}

const SIGNING: [(KeySpec, SigningAlgorithmSpec); 5] = [
    (KeySpec::Rsa2048, SigningAlgorithmSpec::RsassaPssSha256),
    (KeySpec::EccNistP256, SigningAlgorithmSpec::EcdsaSha256),
    (KeySpec::EccSecgP256k1, SigningAlgorithmSpec::EcdsaSha256),
    (KeySpec::EccNistEdwards25519, SigningAlgorithmSpec::Ed25519Sha512),
    (KeySpec::MlDsa65, SigningAlgorithmSpec::MlDsaShake256),
];

/// 32 bytes, as a typical message digest or small payload.
fn message() -> Vec<u8> {
    (0..32u8).collect()
}

/// Creates the keys the cases use and returns the cases.
pub async fn cases(server: &Server, symmetric_key_id: &str) -> Result<Vec<Case>, BoxError> {
    let addr = server.addr.as_str();
    let message = BASE64.encode(message());
    let mut cases = Vec::new();
    for (spec, algorithm) in SIGNING {
        let key_id = create_key(addr, spec.as_str(), "SIGN_VERIFY").await?;
        let sign = json!({"KeyId": key_id, "Message": message, "MessageType": "RAW", "SigningAlgorithm": algorithm.as_str()});
        let signature = call(addr, "Sign", sign.clone()).await?["Signature"].as_str().ok_or("Sign returned no Signature")?.to_owned();
        let mut verify = sign.clone();
        verify["Signature"] = json!(signature);
        cases.push(Case { target: Target::fixed(leak(format!("Sign {spec}")), &[server], "Sign", &sign), primitive: Primitive::Sign(spec, algorithm) });
        cases.push(Case { target: Target::fixed(leak(format!("Verify {spec}")), &[server], "Verify", &verify), primitive: Primitive::Verify(spec, algorithm) });
    }
    let mac_key = create_key(addr, "HMAC_256", "GENERATE_VERIFY_MAC").await?;
    let mac = json!({"KeyId": mac_key, "Message": message, "MacAlgorithm": "HMAC_SHA_256"});
    cases.push(Case { target: Target::fixed("GenerateMac HMAC_256", &[server], "GenerateMac", &mac), primitive: Primitive::Mac(MacAlgorithmSpec::HmacSha256) });
    for spec in [DataKeyPairSpec::Rsa2048, DataKeyPairSpec::EccNistP256] {
        let body = json!({"KeyId": symmetric_key_id, "KeyPairSpec": spec.as_str()});
        let name = leak(format!("GenerateDataKeyPair {spec}"));
        cases.push(Case { target: Target::fixed(name, &[server], "GenerateDataKeyPair", &body), primitive: Primitive::KeyPair(spec) });
    }
    Ok(cases)
}

async fn create_key(addr: &str, spec: &str, usage: &str) -> Result<String, BoxError> {
    let created = call(addr, "CreateKey", json!({"KeySpec": spec, "KeyUsage": usage})).await?;
    Ok(created["KeyMetadata"]["KeyId"].as_str().ok_or("CreateKey returned no KeyId")?.to_owned())
}

/// Row names live for the whole run; leaking a dozen short strings keeps `Target` simple.
pub fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

type Step = Box<dyn FnMut() -> Result<(), BoxError> + Send>;

/// One call of the primitive, on a key of its own.
fn step(primitive: Primitive) -> Result<Step, BoxError> {
    let message = message();
    Ok(match primitive {
        Primitive::Sign(spec, algorithm) => {
            let key = asymmetric::generate(spec).map_err(|e| format!("generate {spec}: {e:?}"))?;
            Box::new(move || {
                asymmetric::sign(spec, &key, algorithm, MessageType::Raw, &message).map_err(|e| format!("{e:?}"))?;
                Ok(())
            })
        }
        Primitive::Verify(spec, algorithm) => {
            let key = asymmetric::generate(spec).map_err(|e| format!("generate {spec}: {e:?}"))?;
            let signature = asymmetric::sign(spec, &key, algorithm, MessageType::Raw, &message).map_err(|e| format!("{e:?}"))?;
            Box::new(move || {
                asymmetric::verify(spec, &key, algorithm, MessageType::Raw, &message, &signature).map_err(|e| format!("{e:?}"))?;
                Ok(())
            })
        }
        Primitive::Mac(algorithm) => {
            let key = asymmetric::generate(KeySpec::Hmac256).map_err(|e| format!("generate HMAC: {e:?}"))?;
            Box::new(move || {
                asymmetric::generate_mac(&key, algorithm, &message).map_err(|e| format!("{e:?}"))?;
                Ok(())
            })
        }
        Primitive::KeyPair(spec) => Box::new(move || {
            asymmetric::generate_data_key_pair(spec).map_err(|e| format!("{e:?}"))?;
            Ok(())
        }),
    })
}

/// Microseconds of one core per call of the primitive, measured for about `budget` on `threads`
/// cores at once (each on a key of its own): with one, the primitive alone on an idle machine;
/// with every core, what a core pays when the others are busy too, as the server's are under
/// load (`openssl speed -multi` measures the same way).
pub fn raw_cost_us(primitive: Primitive, budget: Duration, threads: usize) -> Result<f64, BoxError> {
    let steps = (0..threads).map(|_| step(primitive)).collect::<Result<Vec<Step>, BoxError>>()?;
    let per_thread: Vec<Result<f64, BoxError>> = std::thread::scope(|scope| {
        let running: Vec<_> = steps.into_iter().map(|mut step| scope.spawn(move || time_calls(&mut step, budget))).collect();
        running.into_iter().map(|thread| thread.join().unwrap_or_else(|_| Err("a measuring thread panicked".into()))).collect()
    });
    let per_thread = per_thread.into_iter().collect::<Result<Vec<f64>, BoxError>>()?;
    Ok(per_thread.iter().sum::<f64>() / per_thread.len().max(1) as f64)
}

fn time_calls(step: &mut Step, budget: Duration) -> Result<f64, BoxError> {
    let started = Instant::now();
    let mut calls = 0u32;
    while started.elapsed() < budget || calls < 3 {
        step()?;
        calls += 1;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(calls))
}
