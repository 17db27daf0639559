//! Several Trent nodes on one PostgreSQL database (issue 6): conflicting requests through
//! different nodes keep every invariant, a change made through one node reaches the others within
//! the cache's bound, losing a node loses no acknowledged write, and a database outage gives
//! `DependencyTimeoutException` without a hang, then heals by itself.
//!
//! These tests always run on PostgreSQL (`TRENT_TEST_POSTGRES`, or a server of their own for the
//! outage tests), whatever `TRENT_TEST_STORE` says; `scripts/test` runs them once.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantOperation, KeyState};
use aws_sdk_kms::Client;

use crate::common::*;

const NODES: usize = 3;
const DAY: u64 = 86_400;
/// How long a node may serve a key record it read before another node changed it
/// (`store/cache.rs`); the README documents it.
const CACHE_TTL: Duration = Duration::from_secs(1);
/// What the tests allow for that bound: the TTL plus a request's own time on a loaded machine.
const COHERENCE_BOUND: Duration = Duration::from_millis(1500);

/// Runs the futures at once, on this task, and returns their outputs in order.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// Waits until no node can still serve a key record cached before the last change: reads through
/// any node are then exact.
async fn settle() {
    tokio::time::sleep(CACHE_TTL + Duration::from_millis(200)).await;
}

/// Lines of the nodes' logs that contain every one of `needles`, over all nodes.
fn log_lines(cluster: &Cluster, needles: &[&str]) -> Vec<String> {
    cluster
        .nodes
        .iter()
        .flat_map(|node| {
            std::fs::read_to_string(node.log_file())
                .expect("read server.log")
                .lines()
                .filter(|line| needles.iter().all(|n| line.contains(n)))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Conflicting requests through several nodes

#[tokio::test]
async fn an_alias_name_raced_from_every_node_is_created_once() {
    let Some(cluster) = Cluster::start(NODES, false) else {
        return;
    };
    let clients = cluster.clients();
    // Each node aims the alias at a key of its own, so the alias shows whose request won.
    let mut keys = Vec::new();
    for kms in &clients {
        keys.push(create_key(kms).await.key_id);
    }
    for round in 0..5 {
        let name = format!("alias/race-{round}");
        let results = join_all(clients.iter().zip(&keys).map(|(kms, key)| {
            kms.create_alias()
                .alias_name(&name)
                .target_key_id(key)
                .send()
        }))
        .await;
        let winners: Vec<usize> = (0..NODES).filter(|&i| results[i].is_ok()).collect();
        assert_eq!(
            winners.len(),
            1,
            "{name}: exactly one CreateAlias succeeds: {results:?}"
        );
        let winner = winners[0];
        for (node, result) in results.into_iter().enumerate() {
            if node != winner {
                assert_code(result, "AlreadyExistsException");
            }
        }
        for kms in &clients {
            let aliases = list_aliases(kms, None, None).await;
            let entry = aliases
                .iter()
                .find(|a| a.alias_name() == Some(name.as_str()))
                .expect("the alias exists");
            assert_eq!(entry.target_key_id(), Some(keys[winner].as_str()));
        }
    }
    for kms in &clients {
        assert_eq!(
            custom_alias_names(&list_aliases(kms, None, None).await).len(),
            5
        );
    }
}

#[tokio::test]
async fn tags_raced_past_the_limit_from_every_node_stop_at_50() {
    const PER_NODE: usize = 4;
    let Some(cluster) = Cluster::start(NODES, false) else {
        return;
    };
    let clients = cluster.clients();
    for round in 0..2 {
        let key = create_key(&clients[0]).await.key_id;
        let base: Vec<_> = (0..44).map(|i| tag(&format!("base-{i:02}"), "x")).collect();
        clients[0]
            .tag_resource()
            .key_id(&key)
            .set_tags(Some(base))
            .send()
            .await
            .expect("44 tags");
        // 12 requests from 3 nodes at once, each adding one tag, for 6 free places.
        let attempts: Vec<(usize, String)> = (0..NODES)
            .flat_map(|node| (0..PER_NODE).map(move |j| (node, format!("n{node}-{j}"))))
            .collect();
        let results = join_all(attempts.iter().map(|(node, name)| {
            clients[*node]
                .tag_resource()
                .key_id(&key)
                .tags(tag(name, "v"))
                .send()
        }))
        .await;
        let mut acknowledged = Vec::new();
        let mut refused = Vec::new();
        for ((_, name), result) in attempts.iter().zip(results) {
            match result {
                Ok(_) => acknowledged.push(name.clone()),
                // AWS's answer to more than 50 tags (shared/aws-kms-facts.md); never a
                // ConflictException: nodes retry their compare-and-swap among themselves.
                Err(e) => {
                    let message = assert_code(Err::<(), _>(e), "TagException");
                    assert!(message.contains("Too many tags"), "{message}");
                    refused.push(name.clone());
                }
            }
        }
        assert_eq!(
            acknowledged.len(),
            6,
            "round {round}: the 6 free places are all taken, no more"
        );
        settle().await;
        for kms in &clients {
            let stored = tags_of(kms, &key).await;
            assert_eq!(stored.len(), 50, "round {round}: {stored:?}");
            for name in &acknowledged {
                assert!(
                    stored.iter().any(|(k, _)| k == name),
                    "acknowledged tag {name} is missing"
                );
            }
            for name in &refused {
                assert!(
                    !stored.iter().any(|(k, _)| k == name),
                    "refused tag {name} is stored"
                );
            }
        }
    }
}

#[tokio::test]
async fn concurrent_updates_of_one_key_from_every_node_are_all_kept() {
    const PER_NODE: usize = 16;
    let Some(cluster) = Cluster::start(NODES, false) else {
        return;
    };
    let clients = &cluster.clients();
    let key = &create_key(&clients[0]).await.key_id;
    let jobs: Vec<(usize, usize)> = (0..NODES)
        .flat_map(|node| (0..PER_NODE).map(move |j| (node, j)))
        .collect();
    let results = join_all(jobs.iter().map(|&(node, j)| async move {
        let kms = &clients[node];
        let name = format!("n{node}-{j}");
        let tagged = kms
            .tag_resource()
            .key_id(key)
            .tags(tag(&name, &j.to_string()))
            .send()
            .await
            .map(|_| ());
        let described = kms
            .update_key_description()
            .key_id(key)
            .description(&name)
            .send()
            .await
            .map(|_| ());
        (tagged, described)
    }))
    .await;
    for ((node, j), (tagged, described)) in jobs.iter().zip(results) {
        // Every one must succeed: a ConflictException here would be a lost compare-and-swap
        // leaking to the client.
        tagged.unwrap_or_else(|e| panic!("TagResource n{node}-{j}: {e:?}"));
        described.unwrap_or_else(|e| panic!("UpdateKeyDescription n{node}-{j}: {e:?}"));
    }
    settle().await;
    let names: Vec<String> = jobs
        .iter()
        .map(|(node, j)| format!("n{node}-{j}"))
        .collect();
    for kms in clients {
        let stored = tags_of(kms, key).await;
        let expected: Vec<(String, String)> = jobs
            .iter()
            .map(|(node, j)| (format!("n{node}-{j}"), j.to_string()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(stored, expected, "no acknowledged tag is lost");
        let description = describe(kms, key)
            .await
            .description()
            .unwrap_or_default()
            .to_owned();
        assert!(
            names.contains(&description),
            "description {description:?} is one that was written"
        );
    }
}

#[tokio::test]
async fn the_same_named_grant_from_every_node_is_created_once() {
    let Some(cluster) = Cluster::start(NODES, false) else {
        return;
    };
    let clients = cluster.clients();
    let key = create_key(&clients[0]).await.key_id;
    let grantee = format!("arn:aws:iam::{ACCOUNT}:role/worker");
    for round in 0..5 {
        let name = format!("race-{round}");
        let results = join_all(clients.iter().map(|kms| {
            kms.create_grant()
                .key_id(&key)
                .name(&name)
                .grantee_principal(&grantee)
                .operations(GrantOperation::Encrypt)
                .operations(GrantOperation::Decrypt)
                .send()
        }))
        .await;
        let ids: Vec<String> = results
            .into_iter()
            .map(|r| r.expect("CreateGrant").grant_id.expect("GrantId"))
            .collect();
        assert!(
            ids.iter().all(|id| *id == ids[0]),
            "{name}: one grant, one GrantId: {ids:?}"
        );
    }
    for kms in &clients {
        let grants = kms
            .list_grants()
            .key_id(&key)
            .send()
            .await
            .expect("ListGrants");
        let mut names: Vec<&str> = grants.grants().iter().filter_map(|g| g.name()).collect();
        names.sort_unstable();
        assert_eq!(names, ["race-0", "race-1", "race-2", "race-3", "race-4"]);
    }
}

#[tokio::test]
async fn a_deletion_due_on_every_node_at_once_happens_once() {
    let Some(cluster) = Cluster::start(NODES, true) else {
        return;
    };
    let clients = cluster.clients();
    let mut doomed = Vec::new();
    for (node, kms) in clients.iter().enumerate() {
        let key = create_key(kms).await.key_id;
        create_alias(kms, &format!("alias/doomed-{node}"), &key).await;
        let blob = encrypt(kms, &key, b"secret").await;
        kms.schedule_key_deletion()
            .key_id(&key)
            .pending_window_in_days(7)
            .send()
            .await
            .expect("ScheduleKeyDeletion");
        doomed.push((key, blob));
    }
    let offsets = join_all(cluster.nodes.iter().map(|n| n.advance_clock(8 * DAY))).await;
    assert!(offsets.iter().all(|&o| o == 8 * DAY), "{offsets:?}");

    settle().await;
    for (key, blob) in &doomed {
        for kms in &clients {
            assert_code(
                kms.describe_key().key_id(key).send().await,
                "NotFoundException",
            );
            assert_code_in(
                kms.decrypt().ciphertext_blob(blob.clone()).send().await,
                &["NotFoundException", "InvalidCiphertextException"],
            );
        }
        let reports = log_lines(&cluster, &["key deleted after its waiting period", key]);
        assert_eq!(
            reports.len(),
            1,
            "exactly one node deletes {key}: {reports:?}"
        );
    }
    for kms in &clients {
        assert!(custom_alias_names(&list_aliases(kms, None, None).await).is_empty());
    }
}

#[tokio::test]
async fn a_rotation_due_on_every_node_at_once_happens_once() {
    let Some(cluster) = Cluster::start(NODES, true) else {
        return;
    };
    let clients = cluster.clients();
    let mut keys = Vec::new();
    for kms in &clients {
        let key = create_key(kms).await.key_id;
        kms.enable_key_rotation()
            .key_id(&key)
            .rotation_period_in_days(90)
            .send()
            .await
            .expect("EnableKeyRotation");
        let blob = encrypt(kms, &key, b"before").await;
        keys.push((key, blob));
    }
    join_all(cluster.nodes.iter().map(|n| n.advance_clock(91 * DAY))).await;

    settle().await;
    for (key, blob) in &keys {
        for kms in &clients {
            let rotations = kms
                .list_key_rotations()
                .key_id(key)
                .send()
                .await
                .expect("ListKeyRotations");
            assert_eq!(
                rotations.rotations().len(),
                1,
                "{key}: one rotation: {rotations:?}"
            );
            assert_eq!(decrypt(kms, blob).await, b"before");
        }
        let reports = log_lines(&cluster, &["key rotated on schedule", key]);
        assert_eq!(
            reports.len(),
            1,
            "exactly one node rotates {key}: {reports:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Cache coherence

/// Encrypts through `kms` every few milliseconds until it is refused with `code`; the time that
/// took.
async fn time_until_refused(kms: &Client, key: &str, code: &str, since: Instant) -> Duration {
    let deadline = since + Duration::from_secs(5);
    loop {
        let result = kms
            .encrypt()
            .key_id(key)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await;
        match result {
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "still encrypting 5 s after the change"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => {
                let elapsed = since.elapsed();
                assert_code(Err::<(), _>(e), code);
                return elapsed;
            }
        }
    }
}

#[tokio::test]
async fn disabling_or_deleting_through_one_node_reaches_another_within_1_s() {
    let Some(cluster) = Cluster::start(2, false) else {
        return;
    };
    let [a, b] = <[Client; 2]>::try_from(cluster.clients()).expect("two clients");
    let key = create_key(&a).await.key_id;

    let mut delays = Vec::new();
    for _ in 0..2 {
        // B has just read the key: its cached record is as fresh, and will stay as long, as it
        // can be.
        encrypt(&b, &key, b"x").await;
        a.disable_key()
            .key_id(&key)
            .send()
            .await
            .expect("DisableKey");
        let disabled = Instant::now();
        delays.push(time_until_refused(&b, &key, "DisabledException", disabled).await);
        a.enable_key().key_id(&key).send().await.expect("EnableKey");
        settle().await;
    }

    encrypt(&b, &key, b"x").await;
    a.schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    let scheduled = Instant::now();
    let deletion_delay = time_until_refused(&b, &key, "KMSInvalidStateException", scheduled).await;

    eprintln!("coherence: DisableKey on A → refused on B after {delays:?}; ScheduleKeyDeletion → {deletion_delay:?}");
    for delay in delays.iter().chain([&deletion_delay]) {
        assert!(
            *delay <= COHERENCE_BOUND,
            "B still used the key {delay:?} after the change on A"
        );
    }
    assert_eq!(
        describe(&b, &key).await.key_state(),
        Some(&KeyState::PendingDeletion)
    );
}

// ---------------------------------------------------------------------------------------------
// Failover

/// Whether a request failed for want of a server (connection refused, reset, or closed before an
/// answer) rather than by the server's answer.
fn is_connection_error<E, R>(error: &SdkError<E, R>) -> bool {
    matches!(
        error,
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) | SdkError::TimeoutError(_)
    )
}

#[derive(Default, Debug)]
struct Tally {
    sent: usize,
    succeeded: usize,
    /// Requests to the killed node that failed with a connection error.
    lost_with_the_node: usize,
    /// Anything else that failed: must stay empty.
    failures: Vec<String>,
    keys: Vec<String>,
    tags: Vec<(String, String)>,
}

impl Tally {
    /// Counts a result from `node`; a failure is allowed only from the killed node, and only for
    /// want of a connection.
    fn count<T, E: std::fmt::Debug, R: std::fmt::Debug>(
        &mut self,
        node: usize,
        killed: &AtomicBool,
        result: Result<T, SdkError<E, R>>,
    ) -> Option<T> {
        self.sent += 1;
        match result {
            Ok(value) => {
                self.succeeded += 1;
                Some(value)
            }
            Err(e)
                if node == VICTIM && killed.load(Ordering::SeqCst) && is_connection_error(&e) =>
            {
                self.lost_with_the_node += 1;
                None
            }
            Err(e) => {
                self.failures.push(format!("node {node}: {e:?}"));
                None
            }
        }
    }
}

const VICTIM: usize = 2;

/// CreateKey, Encrypt with it, TagResource on it, each request to the next node in turn, until
/// `until`.
async fn load(
    worker: usize,
    clients: Arc<Vec<Client>>,
    killed: Arc<AtomicBool>,
    until: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut turn = worker;
    let mut next_node = || {
        turn += 1;
        turn % clients.len()
    };
    let mut round = 0;
    while Instant::now() < until {
        round += 1;
        let node = next_node();
        let created = clients[node].create_key().send().await;
        let Some(created) = tally.count(node, &killed, created) else {
            continue;
        };
        let key = created.key_metadata.expect("KeyMetadata").key_id;
        tally.keys.push(key.clone());

        let node = next_node();
        let encrypted = clients[node]
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(b"payload".to_vec()))
            .send()
            .await;
        tally.count(node, &killed, encrypted);

        let node = next_node();
        let name = format!("w{worker}-{round}");
        let tagged = clients[node]
            .tag_resource()
            .key_id(&key)
            .tags(tag(&name, "v"))
            .send()
            .await;
        if tally.count(node, &killed, tagged).is_some() {
            tally.tags.push((key, name));
        }
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_node_under_load_fails_no_request_to_a_live_node_and_loses_no_write() {
    const WORKERS: usize = 4;
    let Some(mut cluster) = Cluster::start(NODES, false) else {
        return;
    };
    let clients = Arc::new(cluster.clients());
    let killed = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let until = started + Duration::from_secs(3);
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| tokio::spawn(load(w, clients.clone(), killed.clone(), until)))
        .collect();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Marked first, so that a request failing because of the kill is counted as such.
    killed.store(true, Ordering::SeqCst);
    cluster.nodes[VICTIM].kill();

    let mut total = Tally::default();
    for worker in workers {
        let tally = worker.await.expect("load task");
        total.sent += tally.sent;
        total.succeeded += tally.succeeded;
        total.lost_with_the_node += tally.lost_with_the_node;
        total.failures.extend(tally.failures);
        total.keys.extend(tally.keys);
        total.tags.extend(tally.tags);
    }
    eprintln!(
        "failover: {} requests in {:?}, {} succeeded, {} to the killed node failed to connect, {} keys and {} tags acknowledged",
        total.sent,
        started.elapsed(),
        total.succeeded,
        total.lost_with_the_node,
        total.keys.len(),
        total.tags.len()
    );
    assert!(
        total.failures.is_empty(),
        "requests to live nodes failed: {:#?}",
        total.failures
    );
    assert!(
        total.lost_with_the_node > 0,
        "the load went on after the kill"
    );

    settle().await;
    for survivor in [0, 1] {
        let kms = &clients[survivor];
        let listed: std::collections::HashSet<String> =
            list_key_ids(kms, Some(1000)).await.into_iter().collect();
        for key in &total.keys {
            assert!(
                listed.contains(key),
                "acknowledged key {key} is missing on node {survivor}"
            );
        }
    }
    for (i, (key, name)) in total.tags.iter().enumerate() {
        let stored = tags_of(&clients[i % 2], key).await;
        assert!(
            stored.iter().any(|(k, _)| k == name),
            "acknowledged tag {name} of {key} is missing"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Database outage

/// A PostgreSQL server of the test's own (`scripts/postgres`), to stop and start again; stopped
/// when dropped.
struct OwnPostgres {
    dir: PathBuf,
    /// `postgres://trent@127.0.0.1:PORT`, the same after every start.
    base: String,
}

impl OwnPostgres {
    fn start() -> OwnPostgres {
        let dir = std::env::temp_dir().join(format!(
            "trent-test-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).expect("create the PostgreSQL dir");
        // As root the server runs as the `postgres` user, which must reach DIR/pg.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod the PostgreSQL dir");
        let mut pg = OwnPostgres {
            dir,
            base: String::new(),
        };
        pg.base = pg.script("start");
        pg
    }

    /// Runs `scripts/postgres COMMAND DIR/pg`; its output.
    fn script(&self, command: &str) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres");
        let output = Command::new(script)
            .arg(command)
            .arg(self.dir.join("pg"))
            .output()
            .expect("run scripts/postgres");
        assert!(
            output.status.success(),
            "scripts/postgres {command} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn stop(&self) {
        self.script("stop");
    }

    /// Starts the stopped server again, on the same port with the same data.
    fn restart(&self) {
        let base = self.script("start");
        assert_eq!(base, self.base, "PostgreSQL came back on another port");
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres");
        let _ = Command::new(script)
            .arg("stop")
            .arg(self.dir.join("pg"))
            .output();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Sends each request that needs the database while it is down: each must fail with
/// `DependencyTimeoutException` within `within`. The slowest answer.
async fn refused_while_down(kms: &Client, key: &str, within: Duration) -> Duration {
    let mut slowest = Duration::ZERO;
    macro_rules! refused {
        ($what:expr, $call:expr) => {{
            let sent = Instant::now();
            let result = $call.await;
            let took = sent.elapsed();
            assert_code(result, "DependencyTimeoutException");
            assert!(took < within, "{} took {took:?} to fail", $what);
            slowest = slowest.max(took);
        }};
    }
    refused!("CreateKey", kms.create_key().send());
    refused!("DescribeKey", kms.describe_key().key_id(key).send());
    refused!(
        "Encrypt",
        kms.encrypt()
            .key_id(key)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
    );
    refused!("ListKeys", kms.list_keys().send());
    refused!("ListAliases", kms.list_aliases().send());
    slowest
}

/// Sends CreateKey until it succeeds; the time that took.
async fn time_until_served(kms: &Client, within: Duration) -> Duration {
    let since = Instant::now();
    loop {
        match kms.create_key().send().await {
            Ok(_) => return since.elapsed(),
            Err(e) => {
                assert!(
                    since.elapsed() < within,
                    "still failing {within:?} after PostgreSQL came back: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What a prober saw: requests answered, and the error codes of the others.
#[derive(Default, Debug)]
struct Probes {
    keys: Vec<String>,
    errors: std::collections::BTreeMap<String, usize>,
}

/// Sends CreateKey every few milliseconds until `stop` is set, so that some requests arrive while
/// the database shuts down and starts up.
async fn probe(kms: Client, stop: Arc<AtomicBool>) -> Probes {
    let mut probes = Probes::default();
    while !stop.load(Ordering::SeqCst) {
        match kms.create_key().send().await {
            Ok(created) => probes
                .keys
                .push(created.key_metadata.expect("KeyMetadata").key_id),
            Err(e) => *probes.errors.entry(format!("{:?}", e.code())).or_default() += 1,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    probes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_gives_dependency_timeout_and_trent_recovers_by_itself() {
    let pg = OwnPostgres::start();
    let cluster = Cluster::start_on(&format!("{}/postgres", pg.base), 1, false);
    let node = &cluster.nodes[0];
    let kms = node.client(REGION);
    let key = create_key(&kms).await.key_id;
    let blob = encrypt(&kms, &key, b"before the outage").await;
    let stop_probing = Arc::new(AtomicBool::new(false));
    let prober = tokio::spawn(probe(kms.clone(), stop_probing.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;

    tokio::task::block_in_place(|| pg.stop());
    // Past the cache's TTL, every request below needs the database.
    tokio::time::sleep(CACHE_TTL + Duration::from_millis(100)).await;
    let slowest = refused_while_down(&kms, &key, Duration::from_secs(6)).await;
    // A server error, as the model marks DependencyTimeoutException (a fault).
    let reply = node
        .call(REGION, "DescribeKey", &serde_json::json!({ "KeyId": key }))
        .await;
    assert_eq!(
        reply.status,
        500,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["__type"], "DependencyTimeoutException");
    assert_eq!(
        node.http("GET", "/health", &[], b"").await.status,
        200,
        "Trent stays up"
    );
    // The admin listener: alive, but not ready, and says why.
    assert_eq!(node.admin_get("/health/live").await.status, 200);
    let ready = node.admin_get("/health/ready").await;
    assert_eq!(ready.status, 503, "{ready:?}");
    assert!(
        ready.json()["reason"]
            .as_str()
            .is_some_and(|r| r.contains("store")),
        "{ready:?}"
    );

    tokio::task::block_in_place(|| pg.restart());
    let recovery = time_until_served(&kms, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop_probing.store(true, Ordering::SeqCst);
    let probes = prober.await.expect("prober");
    eprintln!(
        "outage (stopped): slowest refusal {slowest:?}; served again {recovery:?} after PostgreSQL returned; probes: {} served, refused {:?}",
        probes.keys.len(),
        probes.errors
    );
    // Shutting down and starting up included: the database is unavailable, not Trent broken.
    assert!(
        probes
            .errors
            .keys()
            .all(|code| code == r#"Some("DependencyTimeoutException")"#),
        "{:?}",
        probes.errors
    );
    assert!(!probes.errors.is_empty(), "the prober saw the outage");
    assert_eq!(decrypt(&kms, &blob).await, b"before the outage");
    assert_eq!(node.admin_get("/health/ready").await.status, 200);
    assert_eq!(
        describe(&kms, &key).await.key_state(),
        Some(&KeyState::Enabled)
    );
    let keys: std::collections::HashSet<String> =
        list_key_ids(&kms, None).await.into_iter().collect();
    assert!(keys.contains(&key));
    for key in &probes.keys {
        assert!(keys.contains(key), "acknowledged key {key} is missing");
    }
}

/// The postmaster and its children (the backends): every process of the server.
fn postgres_pids(pg: &OwnPostgres) -> Vec<String> {
    let pid_file =
        std::fs::read_to_string(pg.dir.join("pg/data/postmaster.pid")).expect("postmaster.pid");
    let postmaster = pid_file
        .lines()
        .next()
        .expect("the postmaster's PID")
        .trim()
        .to_owned();
    let children = Command::new("pgrep")
        .args(["-P", &postmaster])
        .output()
        .expect("run pgrep");
    let mut pids = vec![postmaster];
    pids.extend(
        String::from_utf8_lossy(&children.stdout)
            .split_whitespace()
            .map(str::to_owned),
    );
    pids
}

fn signal_all(pids: &[String], signal: &str) {
    let status = Command::new("kill")
        .arg(signal)
        .args(pids)
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pids:?}");
}

#[tokio::test]
async fn a_database_that_stops_answering_gives_dependency_timeout_not_a_hang() {
    let pg = OwnPostgres::start();
    let cluster = Cluster::start_on(&format!("{}/postgres", pg.base), 1, false);
    let node = &cluster.nodes[0];
    let kms = node.client(REGION);
    let key = create_key(&kms).await.key_id;
    let blob = encrypt(&kms, &key, b"before the outage").await;

    // Frozen, not stopped: connections stay open and connecting still succeeds, but nothing
    // answers — a hung database or a network that drops packets.
    let pids = postgres_pids(&pg);
    signal_all(&pids, "-STOP");
    tokio::time::sleep(CACHE_TTL + Duration::from_millis(100)).await;
    // Two at once: the one waiting for a connection must not wait behind the other's deadline.
    let (created, described) = tokio::join!(
        async {
            let sent = Instant::now();
            (
                kms.create_key()
                    .send()
                    .await
                    .map_err(|e| e.code().map(str::to_owned)),
                sent.elapsed(),
            )
        },
        async {
            let sent = Instant::now();
            (
                kms.describe_key()
                    .key_id(&key)
                    .send()
                    .await
                    .map_err(|e| e.code().map(str::to_owned)),
                sent.elapsed(),
            )
        },
    );
    signal_all(&pids, "-CONT");
    let mut slowest = Duration::ZERO;
    for (code, took) in [
        (created.0.err(), created.1),
        (described.0.err(), described.1),
    ] {
        assert_eq!(code, Some(Some("DependencyTimeoutException".to_owned())));
        assert!(took < Duration::from_secs(6), "a refusal took {took:?}");
        slowest = slowest.max(took);
    }

    let recovery = time_until_served(&kms, Duration::from_secs(10)).await;
    eprintln!("outage (frozen): refused after {slowest:?}; served again {recovery:?} after PostgreSQL resumed");
    assert_eq!(decrypt(&kms, &blob).await, b"before the outage");
}
