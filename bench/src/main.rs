//! Load benchmark: requests/s and p50/p99 latency per KMS operation against a freshly started
//! `trent serve`, at 1, 16 and 64 keep-alive HTTP/1.1 connections, next to a ceiling: the same
//! HTTP stack (`trent::http::serve`) with a handler that answers `200 {}` to everything.
//! Every request is SigV4-signed as the default identity (`test`/`test`), for both servers, so
//! that the ceiling includes the client's signing cost too.
//!
//! `cargo run --release -p trent-bench -- [--seconds N] [--trent PATH]`
//!
//! With `--postgres URL` it compares the stores instead: the embedded store, one node on
//! PostgreSQL and three nodes on one PostgreSQL database, for the read path and for writes.

#![forbid(unsafe_code)]

use std::error::Error;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

mod custody;
mod handler;
mod key_specs;

type BoxError = Box<dyn Error + Send + Sync>;

const USAGE: &str = "\
Usage: trent-bench [--seconds N] [--rounds N] [--only NAMES] [--trent PATH] [--baseline PATH] [--postgres URL | --handler | --audit | --custody]

  --seconds N     measured seconds per operation and concurrency (default 5), after a short warm-up
  --rounds N      how many times the whole matrix is measured, interleaved (default 3); each cell
                  reports its median round, so a noisy neighbour skews one round, not the result
  --only NAMES    measure only the operations whose name starts with one of NAMES, comma-separated
                  (e.g. Encrypt,Decrypt or \"Sign ECC\");
                  the ceiling is always measured, it is what the rest is compared with
  --trent PATH    the Trent binary (default target/release/trent of this workspace)
  --postgres URL  compare the stores instead, on new databases of the PostgreSQL server at URL
                  (postgres://USER@HOST:PORT, a user that may create databases; scripts/postgres
                  start DIR prints one): embedded vs 1 and 3 nodes on PostgreSQL
  --baseline PATH another Trent binary (an older build) whose Encrypt, Decrypt and GenerateDataKey are
                  measured alongside, in the same rounds, and compared with this one's; its key-spec
                  cases too, each right after this build's, as rows of their own
  --handler       measure Trent's request handler in this process instead, without sockets or HTTP:
                  SigV4 verification, parsing and the whole handler, µs per request on one core
  --audit         measure Encrypt with the audit log on (unsynced, and with sync = true) against
                  off instead, three servers of this build in the same rounds
  --custody       measure threshold custody instead: Trent and two trent-party processes (the
                  trent-party binary beside --trent's), Sign for FROST Ed25519/Ed448 and DKLs23
                  secp256k1/P-256 at 2-of-2 and 2-of-3, and CreateKey";

const CONNECTIONS: [usize; 3] = [1, 16, 64];
/// The store comparison's concurrencies: where the embedded store is near its best, and beyond.
const STORE_CONNECTIONS: [usize; 2] = [16, 64];
const WARMUP: Duration = Duration::from_millis(500);
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
const JSON_1_1: &str = "application/x-amz-json-1.1";
const CEILING: &str = "ceiling (200 {})";
/// The default identity of a Trent without a config file, and the region the benchmark's keys live in.
const ACCESS_KEY: &str = "test";
const SECRET_KEY: &str = "test";
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "111122223333";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("--ceiling-server") {
        ceiling_server().await
    } else {
        match parse_args(args) {
            Ok(options) => bench(options).await,
            Err(message) => {
                eprintln!("{message}\n\n{USAGE}");
                return std::process::ExitCode::from(2);
            }
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trent-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

struct Options {
    seconds: u64,
    rounds: usize,
    /// Measure only the operations whose name starts with one of these (comma-separated).
    only: Option<String>,
    trent: PathBuf,
    /// Compare the stores on this PostgreSQL server.
    postgres: Option<String>,
    /// Measure the request handler in-process instead.
    handler: bool,
    /// Another Trent binary whose Encrypt, Decrypt and GenerateDataKey are measured alongside.
    baseline: Option<PathBuf>,
    /// Measure the cost of the audit log instead.
    audit: bool,
    /// Measure threshold custody instead.
    custody: bool,
}

fn parse_args(args: Vec<String>) -> Result<Options, String> {
    let mut seconds = 5;
    let mut rounds = 3;
    let mut trent = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/trent");
    let mut postgres = None;
    let mut only = None;
    let mut handler = false;
    let mut baseline = None;
    let mut audit = false;
    let mut custody = false;
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => {
                let v = value()?;
                seconds = v.parse().ok().filter(|&n| n > 0).ok_or_else(|| format!("invalid --seconds '{v}'"))?;
            }
            "--rounds" => {
                let v = value()?;
                rounds = v.parse().ok().filter(|&n| n > 0).ok_or_else(|| format!("invalid --rounds '{v}'"))?;
            }
            "--only" => only = Some(value()?),
            "--trent" => trent = PathBuf::from(value()?),
            "--postgres" => postgres = Some(value()?),
            "--handler" => handler = true,
            "--audit" => audit = true,
            "--custody" => custody = true,
            "--baseline" => baseline = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err("Trent load benchmark.".into()),
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    Ok(Options { seconds, rounds, only, trent, postgres, handler, baseline, audit, custody })
}

/// The ceiling: Trent's HTTP stack with a handler that does nothing. Runs until stdin closes, so it
/// never outlives the benchmark that started it.
async fn ceiling_server() -> Result<(), BoxError> {
    let listener = trent::http::listen(([127, 0, 0, 1], 0).into())?;
    println!("listening on http://{}", listener.local_addr()?);
    let stdin_closed = async {
        let _ = tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink())).await;
    };
    let handler = |_: Parts, _: Bytes| async {
        let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
        response.headers_mut().insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static(JSON_1_1));
        response
    };
    trent::http::serve(listener, handler, None, stdin_closed).await;
    Ok(())
}

async fn bench(options: Options) -> Result<(), BoxError> {
    if let Some(postgres) = &options.postgres {
        return bench_stores(&options, postgres).await;
    }
    if options.audit {
        return bench_audit(&options).await;
    }
    if options.custody {
        return custody::bench(&options).await;
    }
    let Options { seconds, rounds, only, trent: trent_bin, handler, baseline, .. } = options;
    let wanted = |name: &str| name == CEILING || only.as_deref().is_none_or(|only| only.split(',').any(|prefix| name.starts_with(prefix)));
    if handler {
        return handler::bench(seconds, key_policy(), wanted).await;
    }
    let mut trent = Server::start(Kind::Trent(trent_bin), &[]).await?;
    let mut ceiling = Server::start(Kind::Ceiling, &[]).await?;
    let mut baseline = match baseline {
        Some(binary) => Some(Server::start(Kind::Trent(binary), &[]).await?),
        None => None,
    };

    let (key_id, encrypt, decrypt) = symmetric_setup(&trent).await?;
    let mut cases = key_specs::cases(&trent, &key_id).await;
    let mut targets = vec![
        Target::fixed("Encrypt", &[&trent], "Encrypt", &encrypt),
        Target::fixed("Decrypt", &[&trent], "Decrypt", &decrypt),
        Target::fixed("GenerateDataKey", &[&trent], "GenerateDataKey", &json!({"KeyId": key_id, "KeySpec": "AES_256"})),
        Target::new("TagResource", &[&trent], "TagResource", Body::Tag { key_id }),
        Target::fixed(CEILING, &[&ceiling], "Encrypt", &encrypt),
    ];
    if let Some(baseline) = &baseline {
        let (key_id, encrypt, decrypt) = symmetric_setup(baseline).await?;
        let name = |op: &str| key_specs::leak(baseline_name(op));
        targets.push(Target::fixed(name("Encrypt"), &[baseline], "Encrypt", &encrypt));
        targets.push(Target::fixed(name("Decrypt"), &[baseline], "Decrypt", &decrypt));
        targets.push(Target::fixed(name("GenerateDataKey"), &[baseline], "GenerateDataKey", &json!({"KeyId": key_id, "KeySpec": "AES_256"})));
        // The key-spec cases too, each right after this build's, with its own primitive measured
        // (a baseline from before the key specs has none).
        match (key_specs::cases(baseline, &key_id).await, &mut cases) {
            (Ok(baseline_cases), Ok(ours)) => {
                let baseline_cases = baseline_cases.into_iter().map(|case| Target { name: name(case.name), ..case });
                *ours = std::mem::take(ours).into_iter().zip(baseline_cases).flat_map(|(case, baseline_case)| [case, baseline_case]).collect();
            }
            (Err(e), _) => eprintln!("key-spec cases not measured on the baseline: {e}"),
            (_, Err(_)) => {}
        }
    }
    let targets: Vec<Target> = targets.into_iter().filter(|t| wanted(t.name)).collect();
    let measured = measure(&targets, &CONNECTIONS, seconds, rounds).await;
    let cases: Vec<Target> = match cases {
        Ok(cases) => cases.into_iter().filter(|case| wanted(case.name)).collect(),
        Err(e) => {
            eprintln!("key-spec cases not measured: {e}");
            Vec::new()
        }
    };
    // In rounds with the ceiling, like the matrix; each case's primitive alone right after it.
    let mut case_targets = cases;
    case_targets.extend(targets.iter().find(|t| t.name == CEILING).cloned());
    let key_specs = match case_targets.len() > 1 {
        true => Some(measure(&case_targets, &[KEY_SPEC_CONNECTIONS], seconds, rounds).await),
        false => None,
    };
    trent.stop().await;
    ceiling.stop().await;
    if let Some(baseline) = &mut baseline {
        baseline.stop().await;
    }

    print_report(&measured, seconds);
    if let Some(key_specs) = &key_specs {
        print_key_spec_report(key_specs);
    }
    Ok(())
}

/// What [`measure`] found: each cell's median round, and every round's figures.
struct Measured {
    rows: Vec<Row>,
    /// Per round: each cell's figures.
    rounds: Vec<Vec<RoundCell>>,
}

/// One cell of one round.
struct RoundCell {
    name: &'static str,
    connections: usize,
    /// Requests per second.
    rate: f64,
    /// The server's CPU µs per request, when known.
    server_us: Option<f64>,
    /// For a key-spec case: its primitive's cost on one core, measured in-process right after it.
    raw_us: Option<f64>,
}

impl Measured {
    /// `figure(cell of name, cell of reference)` at `connections` in each round where both were
    /// measured, sorted.
    fn per_round(&self, name: &str, reference: &str, connections: usize, figure: impl Fn(&RoundCell, &RoundCell) -> Option<f64>) -> Vec<f64> {
        fn cell<'r>(round: &'r [RoundCell], name: &str, connections: usize) -> Option<&'r RoundCell> {
            round.iter().find(|c| c.name == name && c.connections == connections)
        }
        let mut figures: Vec<f64> =
            self.rounds.iter().filter_map(|round| figure(cell(round, name, connections)?, cell(round, reference, connections)?)).collect();
        figures.sort_by(f64::total_cmp);
        figures
    }

    /// `name`'s rate over `reference`'s at `connections` in each round, sorted.
    fn ratios(&self, name: &str, reference: &str, connections: usize) -> Vec<f64> {
        self.per_round(name, reference, connections, |cell, reference| (reference.rate > 0.0).then(|| cell.rate / reference.rate))
    }
}

/// The middle of sorted figures.
fn median(sorted: &[f64]) -> Option<f64> {
    sorted.get(sorted.len() / 2).copied()
}

/// Measures every target at every concurrency. For each concurrency there are `rounds` rounds,
/// each measuring every target back to back, so a cell and the one it is compared with (the
/// ceiling, the baseline) are measured seconds apart, not minutes: on a shared machine the noise
/// that moves both cancels in their ratio, and a noisy round skews one round, not the result.
async fn measure(targets: &[Target], connections: &[usize], seconds: u64, rounds: usize) -> Measured {
    let targets: Vec<Arc<Target>> = targets.iter().cloned().map(Arc::new).collect();
    let mut rounds_measured: Vec<Vec<Row>> = (0..rounds).map(|_| Vec::new()).collect();
    let mut cells_by_round: Vec<Vec<RoundCell>> = (0..rounds).map(|_| Vec::new()).collect();
    for &connections in connections {
        for (round, (rows, cells)) in rounds_measured.iter_mut().zip(&mut cells_by_round).enumerate() {
            for target in &targets {
                eprintln!("{connections} connection(s), round {}/{rounds}: {} for {seconds}s ...", round + 1, target.name);
                let stats = load(target, connections, Duration::from_secs(seconds)).await;
                let raw_us = match target.primitive {
                    Some(primitive) => raw_cost_us(primitive).await,
                    None => None,
                };
                cells.push(RoundCell { name: target.name, connections, rate: rate(&stats), server_us: server_cpu_us(&stats), raw_us });
                rows.push(Row { name: target.name, connections, stats });
            }
        }
    }
    let mut rows = median_rows(rounds_measured);
    rows.sort_by_key(|row| (targets.iter().position(|t| t.name == row.name), row.connections));
    Measured { rows, rounds: cells_by_round }
}

/// The primitive's µs per call on one core, measured for half a second while no load runs.
async fn raw_cost_us(primitive: key_specs::Primitive) -> Option<f64> {
    let measured = tokio::task::spawn_blocking(move || key_specs::raw_cost_us(primitive, Duration::from_millis(500))).await;
    match measured {
        Ok(Ok(us)) => Some(us),
        Ok(Err(e)) => {
            eprintln!("primitive not measured: {e}");
            None
        }
        Err(e) => {
            eprintln!("primitive not measured: {e}");
            None
        }
    }
}

const AUDIT_OFF: &str = "Encrypt (audit log off)";
const AUDIT_ON: &str = "Encrypt (audit log)";
const AUDIT_SYNCED: &str = "Encrypt (audit log, sync = true)";

/// The audit log's cost: Encrypt on three servers of this build, without an audit log, with one,
/// and with one whose lines are fsynced before each response, in the same rounds.
async fn bench_audit(options: &Options) -> Result<(), BoxError> {
    let dir = std::env::temp_dir().join(format!("trent-bench-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let synced_config = dir.join("synced.toml");
    std::fs::write(&synced_config, format!("[audit]\npath = \"{}\"\nsync = true\n", dir.join("synced.log").display()))?;
    let trent = || Kind::Trent(options.trent.clone());
    let mut off = Server::start(trent(), &[]).await?;
    let mut on = Server::start(trent(), &["--audit-log".to_owned(), dir.join("unsynced.log").display().to_string()]).await?;
    let mut synced = Server::start(trent(), &["--config".to_owned(), synced_config.display().to_string()]).await?;
    let mut targets = Vec::new();
    for (name, server) in [(AUDIT_OFF, &off), (AUDIT_ON, &on), (AUDIT_SYNCED, &synced)] {
        let (_, encrypt, _) = symmetric_setup(server).await?;
        targets.push(Target::fixed(name, &[server], "Encrypt", &encrypt));
    }
    let measured = measure(&targets, &CONNECTIONS, options.seconds, options.rounds).await;
    for server in [&mut off, &mut on, &mut synced] {
        server.stop().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    print_report(&measured, options.seconds);
    let mut lines = Vec::new();
    for row in measured.rows.iter().filter(|r| r.name != AUDIT_OFF) {
        let ratios = measured.ratios(row.name, AUDIT_OFF, row.connections);
        if let Some(median) = median(&ratios) {
            let each: Vec<String> = ratios.iter().map(|r| format!("{:.0}%", 100.0 * r)).collect();
            lines.push(format!("- {} at {}: {:.0}% ({})", row.name, row.connections, 100.0 * median, each.join(", ")));
        }
    }
    println!("\nAgainst the audit log off: each round's rate over the same round's without one; the median, and every round:\n\n{}", lines.join("\n"));
    Ok(())
}

/// The store comparison: the same operations on the embedded store, on one node on PostgreSQL and
/// on three nodes on one PostgreSQL database (the load spread over the nodes round-robin by
/// connection). Reads should not touch the database per request; writes do.
async fn bench_stores(options: &Options, postgres: &str) -> Result<(), BoxError> {
    let trent = || Kind::Trent(options.trent.clone());
    let embedded = Server::start(trent(), &[]).await?;
    let database = new_database(postgres)?;
    let shared_dir = std::env::temp_dir().join(format!("trent-bench-shared-{}", std::process::id()));
    std::fs::create_dir_all(&shared_dir)?;
    let root_key = shared_dir.join("root.key");
    let mut key = [0u8; 32];
    fill_random(&mut key)?;
    std::fs::write(&root_key, key)?;
    std::fs::set_permissions(&root_key, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let node_args = ["--store".to_owned(), database, "--root-key-file".to_owned(), root_key.display().to_string()];
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Server::start(trent(), &node_args).await?);
    }
    let one: Vec<&Server> = nodes.iter().take(1).collect();
    let three: Vec<&Server> = nodes.iter().collect();
    let mut targets = Vec::new();
    for (label, servers) in [("embedded", vec![&embedded]), ("PostgreSQL, 1 node", one), ("PostgreSQL, 3 nodes", three)] {
        let addr = &servers[0].addr;
        let key_id = call(addr, "CreateKey", json!({"Description": "trent-bench", "Policy": key_policy()})).await?["KeyMetadata"]["KeyId"]
            .as_str()
            .ok_or("CreateKey returned no KeyId")?
            .to_owned();
        let encrypt = json!({"KeyId": key_id, "Plaintext": BASE64.encode([7u8; 1024])});
        let blob = call(addr, "Encrypt", encrypt.clone()).await?["CiphertextBlob"].as_str().ok_or("Encrypt returned no CiphertextBlob")?.to_owned();
        let name = |op: &str| key_specs::leak(format!("{op} ({label})"));
        targets.push(Target::fixed(name("Encrypt"), &servers, "Encrypt", &encrypt));
        targets.push(Target::fixed(name("Decrypt"), &servers, "Decrypt", &json!({"CiphertextBlob": blob})));
        targets.push(Target::fixed(name("GenerateDataKey"), &servers, "GenerateDataKey", &json!({"KeyId": key_id, "KeySpec": "AES_256"})));
        targets.push(Target::fixed(name("CreateKey"), &servers, "CreateKey", &json!({"Description": "trent-bench write"})));
        targets.push(Target::new(name("TagResource"), &servers, "TagResource", Body::Tag { key_id }));
    }
    let measured = measure(&targets, &STORE_CONNECTIONS, options.seconds, options.rounds).await;
    for mut server in nodes.into_iter().chain([embedded]) {
        server.stop().await;
    }
    std::fs::remove_dir_all(&shared_dir).ok();
    print_report(&measured, options.seconds);
    let rows = measured.rows;
    println!("\nEach store's rate as a share of the embedded store's at the same concurrency:\n");
    println!("| operation | connections | PostgreSQL, 1 node | PostgreSQL, 3 nodes |");
    println!("|---|---:|---:|---:|");
    for op in ["Encrypt", "Decrypt", "GenerateDataKey", "CreateKey", "TagResource"] {
        for connections in STORE_CONNECTIONS {
            let rate_of = |label: &str| {
                let name = format!("{op} ({label})");
                rows.iter().find(|r| r.name == name && r.connections == connections).map(|r| rate(&r.stats))
            };
            let Some(base) = rate_of("embedded").filter(|&b| b > 0.0) else { continue };
            let share = |label: &str| rate_of(label).map_or("-".to_owned(), |r| format!("{:.0}%", 100.0 * r / base));
            println!("| {op} | {connections} | {} | {} |", share("PostgreSQL, 1 node"), share("PostgreSQL, 3 nodes"));
        }
    }
    Ok(())
}

/// A new database on the PostgreSQL server at `base`, made with `psql`; its URL.
fn new_database(base: &str) -> Result<String, BoxError> {
    let name = format!("trent_bench_{}", std::process::id());
    let output = std::process::Command::new("psql")
        .args(["--no-psqlrc", "--quiet", "--dbname", &format!("{base}/postgres"), "--command", &format!("CREATE DATABASE {name}")])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if !output.status.success() {
        return Err(format!("CREATE DATABASE failed: {}", String::from_utf8_lossy(&output.stderr)).into());
    }
    Ok(format!("{base}/{name}"))
}

fn fill_random(buf: &mut [u8]) -> Result<(), BoxError> {
    use std::io::Read as _;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)?;
    Ok(())
}

/// A key policy like a real deployment's, since the server evaluates it on every request: the
/// account's default delegation to IAM, the one user the benchmark signs as, allowed the
/// operations it measures under a condition, and a guard rail that denies deletion without MFA.
fn key_policy() -> String {
    let statements = json!([
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
            "Action": "kms:*",
            "Resource": "*"
        },
        {
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/test")},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT}}
        },
        {
            "Sid": "Deny key deletion without MFA",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "kms:ScheduleKeyDeletion",
            "Resource": "*",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}
        }
    ]);
    json!({"Version": "2012-10-17", "Id": "trent-bench", "Statement": statements}).to_string()
}

/// The key-spec cases run at one concurrency, where the ceiling is near its best.
const KEY_SPEC_CONNECTIONS: usize = 16;

/// Each case's cost per request next to the primitive's raw cost on one core plus the ceiling's
/// cost per request, two ways: the server process's own CPU time, and the whole machine's (both
/// cores, load generator included) derived from the request rate. Each ratio is the median of the
/// rounds', each round's case over its primitive (measured right after the case) and the ceiling
/// measured in the same round: on this VM a primitive's own cost moves by a quarter from one minute
/// to the next.
fn print_key_spec_report(measured: &Measured) {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    let machine_us = |rate: f64| cores * 1e6 / rate.max(f64::MIN_POSITIVE);
    let shown = |figure: Option<f64>, digits: usize| figure.map_or("n/a".to_owned(), |f| format!("{f:.digits$}"));
    let ceiling = measured.rows.iter().find(|r| r.name == CEILING);
    let ceiling_server = ceiling.and_then(|r| server_cpu_us(&r.stats));
    let ceiling_machine = ceiling.map(|r| machine_us(rate(&r.stats)));
    println!(
        "\nKey specs at {KEY_SPEC_CONNECTIONS} connections, in rounds with the ceiling ({} rounds). Ceiling per request (median round): server {} µs, machine {} µs ({cores} cores).\n",
        measured.rounds.len(),
        shown(ceiling_server, 1),
        shown(ceiling_machine, 1)
    );
    println!("| operation | req/s | p50 | p99 | errors | raw primitive µs | server µs | server / (raw + ceiling) | machine µs | machine / (raw + ceiling) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in measured.rows.iter().filter(|r| r.name != CEILING) {
        let (name, stats) = (row.name, &row.stats);
        let raw = measured.per_round(name, CEILING, KEY_SPEC_CONNECTIONS, |case, _| case.raw_us);
        let server_ratio = measured.per_round(name, CEILING, KEY_SPEC_CONNECTIONS, |case, ceiling| Some(case.server_us? / (case.raw_us? + ceiling.server_us?)));
        let machine_ratio =
            measured.per_round(name, CEILING, KEY_SPEC_CONNECTIONS, |case, ceiling| Some(machine_us(case.rate) / (case.raw_us? + machine_us(ceiling.rate))));
        println!(
            "| {name} | {:.0} | {} | {} | {} | {} | {} | {} | {:.1} | {} |",
            rate(stats),
            latency(percentile(&stats.latencies_us, 0.50)),
            latency(percentile(&stats.latencies_us, 0.99)),
            stats.errors,
            shown(median(&raw), 1),
            shown(server_cpu_us(stats), 1),
            shown(median(&server_ratio), 2),
            machine_us(rate(stats)),
            shown(median(&machine_ratio), 2),
        );
    }
}

/// What one operation's requests carry.
#[derive(Clone)]
enum Body {
    Fixed(Bytes),
    /// TagResource with one tag whose value changes with every request.
    Tag {
        key_id: String,
    },
}

#[derive(Clone)]
struct Target {
    name: &'static str,
    /// The servers the load goes to, round-robin by connection.
    addrs: Vec<String>,
    /// Their processes, whose CPU time is the server's.
    pids: Vec<u32>,
    op: &'static str,
    body: Body,
    /// For a key-spec case, the primitive it spends its time in.
    primitive: Option<key_specs::Primitive>,
}

impl Target {
    fn new(name: &'static str, servers: &[&Server], op: &'static str, body: Body) -> Target {
        let addrs = servers.iter().map(|s| s.addr.clone()).collect();
        let pids = servers.iter().filter_map(|s| s.pid()).collect();
        Target { name, addrs, pids, op, body, primitive: None }
    }

    fn fixed(name: &'static str, servers: &[&Server], op: &'static str, body: &Value) -> Target {
        Target::new(name, servers, op, Body::Fixed(Bytes::from(body.to_string())))
    }

    fn spending_in(self, primitive: key_specs::Primitive) -> Target {
        Target { primitive: Some(primitive), ..self }
    }

    fn body(&self, worker: usize, n: u64) -> Bytes {
        match &self.body {
            Body::Fixed(bytes) => bytes.clone(),
            Body::Tag { key_id } => {
                let tags = [json!({"TagKey": "bench", "TagValue": format!("w{worker}-{n}")})];
                Bytes::from(json!({"KeyId": key_id, "Tags": tags}).to_string())
            }
        }
    }
}

struct Stats {
    /// Latency of every response that started in the measured window, sorted.
    latencies_us: Vec<u32>,
    /// Non-200 responses plus failed connections or exchanges.
    errors: u64,
    /// What the first error was, to show next to the table.
    first_error: Option<String>,
    window: Duration,
    /// The server process's CPU time during the measured window.
    server_cpu: Option<Duration>,
}

struct Row {
    name: &'static str,
    connections: usize,
    stats: Stats,
}

/// `connections` workers, each with its own keep-alive connection, send requests back to back:
/// for the warm-up (not recorded) and then for `duration`.
async fn load(target: &Arc<Target>, connections: usize, duration: Duration) -> Stats {
    let measure_from = Instant::now() + WARMUP;
    let end = measure_from + duration;
    // The server's own CPU time over the measured window, read from /proc: it separates the
    // server's cost per request from the load generator's, which shares the machine.
    let pids = target.pids.clone();
    let server_cpu = tokio::spawn(async move {
        let cpu = || pids.iter().map(|&pid| process_cpu(pid)).sum::<Option<Duration>>();
        tokio::time::sleep_until(measure_from.into()).await;
        let before = cpu()?;
        tokio::time::sleep_until(end.into()).await;
        Some(cpu()?.saturating_sub(before))
    });
    let workers: Vec<_> = (0..connections).map(|worker| tokio::spawn(run_worker(Arc::clone(target), worker, measure_from, end))).collect();
    let mut stats = Stats { latencies_us: Vec::new(), errors: 0, first_error: None, window: Duration::ZERO, server_cpu: None };
    for worker in workers {
        match worker.await {
            Ok(worker) => {
                stats.latencies_us.extend(worker.latencies_us);
                stats.errors += worker.errors;
                stats.first_error = stats.first_error.or(worker.first_error);
            }
            Err(e) => {
                stats.errors += 1;
                stats.first_error = stats.first_error.or(Some(format!("worker failed: {e}")));
            }
        }
    }
    stats.window = measure_from.elapsed();
    stats.latencies_us.sort_unstable();
    stats.server_cpu = server_cpu.await.ok().flatten();
    stats
}

/// User plus system CPU time of a process, from `/proc/<pid>/stat` (in clock ticks of 10 ms, the
/// Linux default `USER_HZ`).
fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The server's CPU microseconds per measured request, when known.
fn server_cpu_us(stats: &Stats) -> Option<f64> {
    let cpu = stats.server_cpu.filter(|_| !stats.latencies_us.is_empty())?;
    Some(cpu.as_secs_f64() * 1e6 / stats.latencies_us.len() as f64)
}

/// [`server_cpu_us`] for the table.
fn server_us(stats: &Stats) -> String {
    server_cpu_us(stats).map_or("n/a".to_owned(), |us| format!("{us:.1}"))
}

async fn run_worker(target: Arc<Target>, worker: usize, measure_from: Instant, end: Instant) -> Stats {
    let mut stats = Stats { latencies_us: Vec::new(), errors: 0, first_error: None, window: Duration::ZERO, server_cpu: None };
    let mut connection: Option<SendRequest<Full<Bytes>>> = None;
    for n in 0u64.. {
        let started = Instant::now();
        if started >= end {
            break;
        }
        let measured = started >= measure_from;
        let addr = &target.addrs[worker % target.addrs.len()];
        let sender = match connection.as_mut() {
            Some(sender) => sender,
            None => match connect(addr).await {
                Ok(sender) => connection.insert(sender),
                Err(e) => {
                    stats.error(measured, || format!("cannot connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let request = match kms_request(addr, target.op, target.body(worker, n)) {
            Ok(request) => request,
            Err(e) => {
                stats.error(measured, || format!("cannot sign: {e}"));
                continue;
            }
        };
        match exchange(sender, request).await {
            Ok((status, body)) => {
                if measured {
                    stats.latencies_us.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
                if status != StatusCode::OK {
                    stats.error(measured, || format!("{status} {}", String::from_utf8_lossy(&body)));
                }
            }
            Err(e) => {
                stats.error(measured, || format!("exchange failed: {e}"));
                connection = None;
            }
        }
    }
    stats
}

impl Stats {
    /// Counts an error if it happened in the measured window, and keeps the first one's description.
    fn error(&mut self, measured: bool, describe: impl FnOnce() -> String) {
        self.errors += u64::from(measured);
        if measured && self.first_error.is_none() {
            self.first_error = Some(describe());
        }
    }
}

async fn connect(addr: &str) -> Result<SendRequest<Full<Bytes>>, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// A KMS call, signed now: each request pays what a real client pays for its signature.
fn kms_request(addr: &str, op: &str, body: Bytes) -> Result<Request<Full<Bytes>>, BoxError> {
    let target = format!("TrentService.{op}");
    let headers = [(HOST.as_str(), addr), (CONTENT_TYPE.as_str(), JSON_1_1), ("x-amz-target", target.as_str())];
    let identity = Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "trent-bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("kms")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let signable = SignableRequest::new("POST", format!("http://{addr}/"), headers.into_iter(), SignableBody::Bytes(&body))?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    let mut request = Request::post("/");
    for (name, value) in headers.into_iter().chain(instructions.headers()) {
        request = request.header(name, value);
    }
    Ok(request.body(Full::new(body))?)
}

/// One request on an open connection; the whole response body is read so the connection can be reused.
async fn exchange(sender: &mut SendRequest<Full<Bytes>>, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), BoxError> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// A symmetric key with the benchmark's key policy on `server`, an Encrypt request of a 1 KiB
/// plaintext under it, and a Decrypt request of that plaintext's ciphertext.
async fn symmetric_setup(server: &Server) -> Result<(String, Value, Value), BoxError> {
    let created = call(&server.addr, "CreateKey", json!({"Description": "trent-bench", "Policy": key_policy()})).await?;
    let key_id = created["KeyMetadata"]["KeyId"].as_str().ok_or("CreateKey returned no KeyId")?.to_owned();
    let encrypt = json!({"KeyId": key_id, "Plaintext": plaintext()});
    let blob = call(&server.addr, "Encrypt", encrypt.clone()).await?["CiphertextBlob"].as_str().ok_or("Encrypt returned no CiphertextBlob")?.to_owned();
    Ok((key_id, encrypt, json!({"CiphertextBlob": blob})))
}

/// The Encrypt benchmark's plaintext: 1 KiB, base64.
fn plaintext() -> String {
    BASE64.encode((0..1024u32).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>())
}

/// A single setup call that must succeed; returns the response JSON.
async fn call(addr: &str, op: &str, body: Value) -> Result<Value, BoxError> {
    let mut sender = connect(addr).await?;
    let (status, body) = exchange(&mut sender, kms_request(addr, op, Bytes::from(body.to_string()))?).await?;
    if status != StatusCode::OK {
        return Err(format!("{op} answered {status}: {}", String::from_utf8_lossy(&body)).into());
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Which server a [`Server`] runs.
enum Kind {
    /// `trent serve` from this binary path; stops on SIGTERM.
    Trent(PathBuf),
    /// This benchmark as `--ceiling-server`; stops when its stdin closes.
    Ceiling,
}

/// A child process serving HTTP on loopback, found through its `listening on http://…` stdout line.
/// Its stderr goes to `server.log` in its own temporary directory (Trent's data dir is `data/`
/// there). Killed if dropped without `stop`.
struct Server {
    child: Child,
    addr: String,
    dir: PathBuf,
    /// Stop with SIGTERM (Trent) rather than by closing stdin (the ceiling).
    sigterm: bool,
    /// What it printed before its `listening on` line.
    printed: Vec<String>,
}

impl Server {
    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Starts the server; `args` go after Trent's own (`--store …` for a node on PostgreSQL).
    async fn start(kind: Kind, args: &[String]) -> Result<Server, BoxError> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let label = if matches!(kind, Kind::Trent(_)) { "trent" } else { "ceiling" };
        let dir = std::env::temp_dir().join(format!("trent-bench-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let (program, mut command, hint) = match &kind {
            Kind::Trent(binary) => {
                let mut command = Command::new(binary);
                command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir.join("data")).args(args);
                // Any free port for the admin listener (an environment variable, which a baseline
                // build from before it had ignores).
                command.env("TRENT_ADMIN_LISTEN", "127.0.0.1:0");
                command.stdin(Stdio::null());
                (binary.clone(), command, " (build it first: cargo build --release -p trent)")
            }
            Kind::Ceiling => {
                let binary = std::env::current_exe()?;
                let mut command = Command::new(&binary);
                command.arg("--ceiling-server").stdin(Stdio::piped());
                (binary, command, "")
            }
        };
        let log = std::fs::File::create(dir.join("server.log"))?;
        let spawned = command.stdout(Stdio::piped()).stderr(log).kill_on_drop(true).spawn();
        let mut child = spawned.map_err(|e| format!("cannot start {}: {e}{hint}", program.display()))?;
        let stdout = child.stdout.take().ok_or("stdout is not piped")?;
        let sigterm = matches!(kind, Kind::Trent(_));
        let mut server = Server { child, addr: String::new(), dir, sigterm, printed: Vec::new() };
        let mut lines = BufReader::new(stdout).lines();
        let printed = &mut server.printed;
        let found = tokio::time::timeout(STARTUP_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((_, rest)) = line.split_once("listening on http://") {
                    return Some(rest.split_whitespace().next().unwrap_or_default().trim_end_matches('/').to_owned());
                }
                printed.push(line);
            }
            None
        })
        .await;
        match found {
            Ok(Some(addr)) => {
                // Keep draining stdout so the child never blocks on a full pipe.
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                server.addr = addr;
                Ok(server)
            }
            _ => {
                let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
                Err(format!("{} printed no `listening on` line within {STARTUP_TIMEOUT:?}; log:\n{log}", program.display()).into())
            }
        }
    }

    /// Asks the child to stop (SIGTERM, or closing its stdin), waits, and kills it if it lingers.
    async fn stop(&mut self) {
        drop(self.child.stdin.take());
        if let (true, Some(pid)) = (self.sigterm, self.child.id()) {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            Ok(Ok(status)) => eprintln!("warning: server {} exited with {status}", self.addr),
            _ => {
                eprintln!("warning: server {} did not stop within {STOP_TIMEOUT:?}; killing it", self.addr);
                let _ = self.child.kill().await;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// For each cell, the round whose throughput is the median of that cell's rounds.
fn median_rows(mut rounds: Vec<Vec<Row>>) -> Vec<Row> {
    let cells = rounds.first().map_or(0, Vec::len);
    let mut rows = Vec::with_capacity(cells);
    for cell in (0..cells).rev() {
        let mut candidates: Vec<Row> = rounds.iter_mut().filter_map(|round| round.pop()).collect();
        debug_assert_eq!(candidates.len(), rounds.len(), "every round measures cell {cell}");
        candidates.sort_by(|a, b| rate(&a.stats).total_cmp(&rate(&b.stats)));
        let middle = candidates.len() / 2;
        rows.push(candidates.swap_remove(middle));
    }
    rows.reverse();
    rows
}

fn print_report(measured: &Measured, seconds: u64) {
    let rows = &measured.rows;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!(
        "\nTrent load benchmark: {seconds}s per cell after {WARMUP:?} warm-up (median of interleaved rounds), one keep-alive HTTP/1.1 connection \
         per worker, client and server on the same {cores}-core machine.\n"
    );
    println!("| operation | connections | req/s | p50 | p99 | errors | server CPU µs/request |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let s = &row.stats;
        println!(
            "| {} | {} | {:.0} | {} | {} | {} | {} |",
            row.name,
            row.connections,
            rate(s),
            latency(percentile(&s.latencies_us, 0.50)),
            latency(percentile(&s.latencies_us, 0.99)),
            s.errors,
            server_us(s)
        );
    }
    print_ratios(measured, "Share of the ceiling", |_| CEILING.to_owned());
    print_ratios(measured, "Against the baseline binary (--baseline)", baseline_name);
    let errors: u64 = rows.iter().map(|r| r.stats.errors).sum();
    if errors > 0 {
        println!("\nWARNING: {errors} requests failed (non-200 or connection errors); the first of each cell:");
        for row in rows {
            if let Some(error) = &row.stats.first_error {
                println!("- {} at {}: {error}", row.name, row.connections);
            }
        }
    }
}

/// Encrypt, Decrypt and GenerateDataKey at each concurrency over `reference(name)` in the same
/// round: the median, and every round. Nothing when the reference was not measured.
fn print_ratios(measured: &Measured, title: &str, reference: impl Fn(&str) -> String) {
    let mut lines = Vec::new();
    for row in measured.rows.iter().filter(|r| ["Encrypt", "Decrypt", "GenerateDataKey"].contains(&r.name)) {
        let ratios = measured.ratios(row.name, &reference(row.name), row.connections);
        if let Some(median) = median(&ratios) {
            let each: Vec<String> = ratios.iter().map(|r| format!("{:.0}%", 100.0 * r)).collect();
            lines.push(format!("- {} at {}: {:.0}% ({})", row.name, row.connections, 100.0 * median, each.join(", ")));
        }
    }
    if !lines.is_empty() {
        println!("\n{title}: each round's rate over the reference's in the same round; the median, and every round:\n\n{}", lines.join("\n"));
    }
}

/// The name of `name`'s row measured on the baseline binary.
fn baseline_name(name: &str) -> String {
    format!("{name} (baseline)")
}

fn rate(stats: &Stats) -> f64 {
    stats.latencies_us.len() as f64 / stats.window.as_secs_f64().max(f64::EPSILON)
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1)).copied()
}

fn latency(us: Option<u32>) -> String {
    match us {
        None => "-".to_owned(),
        Some(us) if us < 1000 => format!("{us} µs"),
        Some(us) => format!("{:.2} ms", f64::from(us) / 1000.0),
    }
}
