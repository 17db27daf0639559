//! `--custody`: threshold custody through Trent, with its parties as separate `trent-party`
//! processes on loopback: Sign per scheme at 2-of-2 (trent/alice) and 2-of-3 (trent/alice/bob,
//! all three connected, so a quorum is Trent and alice), and CreateKey (the distributed key
//! generation), each a handful of times.

use crate::{call, measure, percentile, print_report, BoxError, Kind, Options, Server, Target};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The schemes: key spec, signing algorithm, and what the rows are called.
const SCHEMES: [(&str, &str, &str); 4] = [
    ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512", "FROST Ed25519"),
    ("ECC_ED448", "ED448", "FROST Ed448"),
    ("ECC_SECG_P256K1", "ECDSA_SHA_256", "DKLs23 secp256k1"),
    ("ECC_NIST_P256", "ECDSA_SHA_256", "DKLs23 P-256"),
];

const QUORUMS: [&str; 2] = ["threshold:2-of-2:trent/alice", "threshold:2-of-3:trent/alice/bob"];

/// A threshold signature is a few round trips between processes: 1 and 4 connections suffice.
const CONNECTIONS: [usize; 2] = [1, 4];

/// A `trent-party run` process, killed on drop.
struct Party(Child);

impl Drop for Party {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn bench(options: &Options) -> Result<(), BoxError> {
    let party_bin = options.trent.with_file_name("trent-party");
    let dir = std::env::temp_dir().join(format!("trent-bench-custody-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut config = String::from("[custody]\nlisten = \"127.0.0.1:0\"\n");
    for name in ["alice", "bob"] {
        let fingerprint = enroll(&party_bin, &dir.join(name), name)?;
        config.push_str(&format!("[[custody.parties]]\nname = \"{name}\"\nfingerprint = \"{fingerprint}\"\n"));
    }
    let config_file = dir.join("trent.toml");
    std::fs::write(&config_file, config)?;
    let mut trent = Server::start(Kind::Trent(options.trent.clone()), &["--config".to_owned(), config_file.display().to_string()]).await?;
    let line = trent.printed.iter().find(|l| l.starts_with("custody parties dial in at ")).ok_or("Trent printed no party listener")?;
    let address = line.split_whitespace().nth(5).ok_or("no address")?.to_owned();
    let fingerprint = line.rsplit("identity ").next().and_then(|rest| rest.strip_suffix(')')).ok_or("no fingerprint")?.to_owned();
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, "[[rules]]\nkeys = [\"*\"]\ncallers = [\"*\"]\n")?;
    let mut parties = Vec::new();
    for (connected, name) in ["alice", "bob"].into_iter().enumerate() {
        let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
        let child = Command::new(&party_bin)
            .args(["run", "--name", name, "--trent", &address, "--trent-fingerprint", &fingerprint, "--data-dir"])
            .arg(dir.join(name))
            .arg("--policy")
            .arg(&policy)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        parties.push(Party(child));
        await_log(&trent.dir.join("server.log"), "custody party connected", connected + 1).await?;
    }

    let message = BASE64.encode((0..32u8).collect::<Vec<u8>>());
    let mut targets = Vec::new();
    let mut created = Vec::new();
    for (spec, algorithm, scheme) in SCHEMES {
        for quorum in QUORUMS {
            let parties = if quorum.contains("2-of-2") { "2-of-2" } else { "2-of-3" };
            let name = crate::key_specs::leak(format!("Sign {scheme} {parties}"));
            let mut latencies = Vec::new();
            let mut key_id = String::new();
            for _ in 0..options.rounds {
                let started = Instant::now();
                let body = json!({"KeySpec": spec, "KeyUsage": "SIGN_VERIFY", "Tags": [{"TagKey": "trent:custody", "TagValue": quorum}]});
                let response = call(&trent.addr, "CreateKey", body).await?;
                latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
                key_id = response["KeyMetadata"]["KeyId"].as_str().ok_or("CreateKey returned no KeyId")?.to_owned();
            }
            latencies.sort_unstable();
            created.push((format!("CreateKey {scheme} {parties}"), latencies));
            let sign = json!({"KeyId": key_id, "Message": message, "MessageType": "RAW", "SigningAlgorithm": algorithm});
            call(&trent.addr, "Sign", sign.clone()).await?;
            targets.push(Target::fixed(name, &[&trent], "Sign", &sign));
        }
    }
    let measured = measure(&targets, &CONNECTIONS, options.seconds, options.rounds).await;
    print_report(&measured, options.seconds);
    println!("\nCreateKey (the distributed key generation), {} keys each, one at a time:\n", options.rounds);
    println!("| operation | p50 | max |");
    println!("|---|---:|---:|");
    for (name, latencies) in created {
        println!("| {name} | {} | {} |", crate::latency(percentile(&latencies, 0.5)), crate::latency(latencies.last().copied()));
    }
    drop(parties);
    trent.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Enrolls a party in `dir`: its fingerprint.
fn enroll(binary: &Path, dir: &Path, name: &str) -> Result<String, BoxError> {
    let output = Command::new(binary)
        .args(["enroll", "--name", name, "--data-dir"])
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run {}: {e} (build it first: cargo build --release -p trent)", binary.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let fingerprint =
        stdout.split_whitespace().last().filter(|f| f.starts_with("sha256:")).ok_or_else(|| format!("enroll printed no fingerprint: {stdout}"))?;
    Ok(fingerprint.to_owned())
}

/// Waits until `log` has `count` lines containing `text`.
async fn await_log(log: &Path, text: &str, count: usize) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(log).unwrap_or_default().matches(text).count() < count {
        if Instant::now() > deadline {
            return Err(format!("no {text:?} in {} within 30s", log.display()).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
