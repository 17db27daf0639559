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

/// Creates the keys the cases use and returns the cases: operations through Trent, each with the
/// primitive it spends its time in.
pub async fn cases(server: &Server, symmetric_key_id: &str) -> Result<Vec<Target>, BoxError> {
    let addr = server.addr.as_str();
    let message = BASE64.encode(message());
    let mut cases = Vec::new();
    for (spec, algorithm) in SIGNING {
        let key_id = create_key(addr, spec.as_str(), "SIGN_VERIFY").await?;
        let sign = json!({"KeyId": key_id, "Message": message, "MessageType": "RAW", "SigningAlgorithm": algorithm.as_str()});
        let signature = call(addr, "Sign", sign.clone()).await?["Signature"].as_str().ok_or("Sign returned no Signature")?.to_owned();
        let mut verify = sign.clone();
        verify["Signature"] = json!(signature);
        cases.push(Target::fixed(leak(format!("Sign {spec}")), &[server], "Sign", &sign).spending_in(Primitive::Sign(spec, algorithm)));
        cases.push(Target::fixed(leak(format!("Verify {spec}")), &[server], "Verify", &verify).spending_in(Primitive::Verify(spec, algorithm)));
    }
    let mac_key = create_key(addr, "HMAC_256", "GENERATE_VERIFY_MAC").await?;
    let mac = json!({"KeyId": mac_key, "Message": message, "MacAlgorithm": "HMAC_SHA_256"});
    cases.push(Target::fixed("GenerateMac HMAC_256", &[server], "GenerateMac", &mac).spending_in(Primitive::Mac(MacAlgorithmSpec::HmacSha256)));
    for spec in [DataKeyPairSpec::Rsa2048, DataKeyPairSpec::EccNistP256] {
        let body = json!({"KeyId": symmetric_key_id, "KeyPairSpec": spec.as_str()});
        let name = leak(format!("GenerateDataKeyPair {spec}"));
        cases.push(Target::fixed(name, &[server], "GenerateDataKeyPair", &body).spending_in(Primitive::KeyPair(spec)));
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

/// Microseconds of one core per call of the primitive, measured for about `budget`.
pub fn raw_cost_us(primitive: Primitive, budget: Duration) -> Result<f64, BoxError> {
    let message = message();
    let mut step: Box<dyn FnMut() -> Result<(), BoxError>> = match primitive {
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
            let public = asymmetric::public_key(spec, &key).map_err(|e| format!("{e:?}"))?;
            Box::new(move || {
                asymmetric::verify(spec, &public, algorithm, MessageType::Raw, &message, &signature).map_err(|e| format!("{e:?}"))?;
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
    };
    let started = Instant::now();
    let mut calls = 0u32;
    while started.elapsed() < budget || calls < 3 {
        step()?;
        calls += 1;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(calls))
}
