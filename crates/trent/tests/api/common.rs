//! The server under test, SDK clients for it, raw HTTP, and assertion helpers shared by all modules.

use std::collections::HashMap;
use std::fmt::Debug;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{AliasListEntry, KeyMetadata, Tag};
use aws_sdk_kms::Client;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const ACCOUNT: &str = "111122223333";
/// The region most tests use; `us-east-1` is the other one.
pub const REGION: &str = "eu-west-1";
/// The access key and secret of the default identity, the only one a server without a config
/// file knows (user `test` of account `ACCOUNT`, allowed everything).
pub const ACCESS_KEY: &str = "test";
pub const SECRET_KEY: &str = "test";
/// A well-formed key ID that no test ever creates.
pub const MISSING_KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `trent serve` with its own temporary directory: `data/` (the data dir) and
/// `server.log` (its stderr). Dropping it kills the process; the directory is removed unless the
/// test panicked, in which case the log is printed and the directory kept for inspection.
pub struct Server {
    root: PathBuf,
    child: Child,
    url: String,
    /// The admin listener (`/metrics`, `/health/live`, `/health/ready`).
    admin_url: String,
    /// Flags beyond the listen address and data dir (`--config FILE`, `--test-admin`), kept for
    /// restarts.
    extra_args: Vec<String>,
    /// Environment variables set for the process, beyond the test runner's own.
    env: Vec<(String, String)>,
}

impl Server {
    pub fn start() -> Server {
        Server::start_in(unique_temp_dir(), Vec::new())
    }

    /// A server with the test-only admin endpoints (`--test-admin`): see [`Server::advance_clock`].
    pub fn start_with_test_admin() -> Server {
        Server::start_in(unique_temp_dir(), vec!["--test-admin".to_owned()])
    }

    /// Moves the server's clock `seconds` forward (`POST /_trent/clock/advance`), which also runs
    /// the deletions and rotations then due; returns the total offset in seconds.
    pub async fn advance_clock(&self, seconds: u64) -> u64 {
        let body = serde_json::json!({ "seconds": seconds }).to_string();
        let reply = self
            .http(
                "POST",
                "/_trent/clock/advance",
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            )
            .await;
        reply.ok()["offset_seconds"]
            .as_u64()
            .expect("offset_seconds")
    }

    /// A server started with `--config` on a file holding `config_toml` (accounts, users, roles,
    /// access keys and identity policies; see `crates/trent/src/config.rs`).
    pub fn start_with_config(config_toml: &str) -> Server {
        Server::start_with_config_in(unique_temp_dir(), config_toml)
    }

    /// Like [`Server::start_with_config`], in `root` (from [`Server::new_root`]), where the files
    /// the config names by relative path may be put first: the config file is `root/trent.toml`.
    pub fn start_with_config_in(root: PathBuf, config_toml: &str) -> Server {
        std::fs::create_dir_all(&root).expect("create the test dir");
        let config = root.join("trent.toml");
        std::fs::write(&config, config_toml).expect("write the config file");
        let extra_args = vec!["--config".to_owned(), config.display().to_string()];
        Server::start_in(root, extra_args)
    }

    fn start_in(root: PathBuf, mut extra_args: Vec<String>) -> Server {
        if let Some(url) = test_database() {
            std::fs::create_dir_all(&root).expect("create the test dir");
            extra_args.extend(shared_store_args(&root, &url));
        }
        Server::spawn_in(root, extra_args)
    }

    /// Starts `trent serve` with `extra_args` in `root` (data dir `root/data`).
    fn spawn_in(root: PathBuf, extra_args: Vec<String>) -> Server {
        std::fs::create_dir_all(root.join("data")).expect("create the data dir");
        match spawn(&root, &extra_args, &[]) {
            Ok((child, url, admin_url)) => Server {
                root,
                child,
                url,
                admin_url,
                extra_args,
                env: Vec::new(),
            },
            Err(failure) => {
                let _ = std::fs::remove_dir_all(&root);
                panic!("{failure}");
            }
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The PostgreSQL database this server stores in, when the suite runs on PostgreSQL.
    pub fn database_url(&self) -> Option<&str> {
        let at = self.extra_args.iter().position(|a| a == "--store")?;
        self.extra_args.get(at + 1).map(String::as_str)
    }

    /// The root key file: given to the server on PostgreSQL, made by it in the data dir otherwise.
    pub fn root_key_file(&self) -> PathBuf {
        match self.database_url() {
            Some(_) => self.root.join("root.key"),
            None => self.data_dir().join("root.key"),
        }
    }

    /// Every file holding what the server stored: the embedded database's files, or on PostgreSQL
    /// a `pg_dump` of its database (written to `dump.sql`) — for scans that no secret is stored
    /// in clear. The root key file is not among them.
    pub fn stored_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut dirs = vec![self.data_dir()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("read the data dir") {
                let path = entry.expect("directory entry").path();
                if path.is_dir() {
                    dirs.push(path)
                } else if path != self.root_key_file() {
                    files.push(path)
                }
            }
        }
        match self.database_url() {
            Some(url) => {
                let dump = self.root.join("dump.sql");
                let status = Command::new("pg_dump")
                    .args(["--dbname", url, "--file"])
                    .arg(&dump)
                    .status()
                    .expect("run pg_dump");
                assert!(status.success(), "pg_dump failed");
                let text = std::fs::read_to_string(&dump).expect("read the dump");
                assert!(
                    text.contains("CREATE TABLE public.keys"),
                    "the dump has no keys table"
                );
                files.push(dump);
            }
            None => assert!(
                files.iter().any(|f| f.ends_with("trent.db")),
                "no trent.db among {files:?}"
            ),
        }
        files
    }

    pub fn log_file(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// A client for `region` with the default identity's credentials and no retries, so that
    /// every assertion sees the server's first answer.
    pub fn client(&self, region: &str) -> Client {
        self.client_as(region, ACCESS_KEY, SECRET_KEY)
    }

    /// Like `client`, signing with another access key (one that the config file defines).
    pub fn client_as(&self, region: &str, access_key_id: &str, secret: &str) -> Client {
        Client::from_conf(self.sdk_config(region, access_key_id, secret).build())
    }

    /// Like `client_as`, for temporary credentials: an access key that is valid only with its
    /// session token, sent as `session_token`.
    pub fn client_with_token(
        &self,
        region: &str,
        access_key_id: &str,
        secret: &str,
        session_token: &str,
    ) -> Client {
        let credentials = Credentials::new(
            access_key_id,
            secret,
            Some(session_token.to_owned()),
            None,
            "test",
        );
        let config = self.sdk_config(region, access_key_id, secret);
        Client::from_conf(config.credentials_provider(credentials).build())
    }

    /// The configuration behind [`Server::client_as`], for further settings.
    pub fn sdk_config(
        &self,
        region: &str,
        access_key: &str,
        secret: &str,
    ) -> aws_sdk_kms::config::Builder {
        aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new(access_key, secret, None, None, "test"))
            .retry_config(RetryConfig::disabled())
    }

    /// Stops the server with SIGTERM, expects a clean exit, and starts it again on the same data
    /// dir (on a new port: make new clients afterwards).
    pub fn restart(&mut self) {
        self.stop();
        self.respawn();
    }

    /// Stops the server with SIGTERM and starts it again on the same data and flags, expecting it
    /// to refuse to start: its log, which says why. It stays stopped until [`Server::respawn`].
    pub fn restart_refused(&mut self) -> String {
        self.stop();
        match spawn(&self.root, &self.extra_args, &self.env) {
            Ok((mut child, ..)) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("trent started instead of refusing:\n{}", self.log())
            }
            Err(failure) => failure,
        }
    }

    /// Kills the server with SIGKILL (no chance to flush anything) and starts it again.
    pub fn crash_and_restart(&mut self) {
        self.child.kill().expect("SIGKILL trent");
        wait_for_exit(&mut self.child);
        self.respawn();
    }

    /// Starts the stopped server again on the same data and flags (on a new port: make new
    /// clients afterwards).
    pub fn respawn(&mut self) {
        // On failure the panic leaves `self` to Drop, which keeps the directory for inspection.
        self.try_respawn()
            .unwrap_or_else(|failure| panic!("restart: {failure}"));
    }

    fn try_respawn(&mut self) -> Result<(), String> {
        let (child, url, admin_url) = spawn(&self.root, &self.extra_args, &self.env)?;
        self.child = child;
        self.url = url;
        self.admin_url = admin_url;
        Ok(())
    }

    /// Stops the server with SIGTERM, expecting a clean exit; nothing if it is not running.
    pub fn stop(&mut self) {
        if self.child.try_wait().expect("wait for trent").is_none() {
            signal(&self.child, "-TERM");
            let status = wait_for_exit(&mut self.child);
            assert!(
                status.success(),
                "SIGTERM should exit 0, got {status}\n{}",
                self.log()
            );
        }
    }

    /// Stops the server and starts it again on its directory with `extra_args` and `env` instead
    /// of its own; the error is the log when it does not start (and it stays stopped).
    pub fn start_again(
        &mut self,
        extra_args: &[String],
        env: &[(&str, &str)],
    ) -> Result<(), String> {
        self.stop();
        self.extra_args = extra_args.to_vec();
        self.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.try_respawn()
    }

    /// The directory holding the data dir, the log, and what a test puts beside them.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The last line the server printed on stdout (since it was first started) that starts with
    /// `prefix`, waiting for it a few seconds.
    pub fn printed(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(self.root.join("stdout.log")).unwrap_or_default();
            if let Some(line) = text.lines().rev().find(|l| l.starts_with(prefix)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "trent printed no line starting {prefix:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many times the server's log says `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// Waits until the server's log says `needle` more than `before` times.
    pub fn await_log(&self, needle: &str, before: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.log_count(needle) <= before {
            assert!(Instant::now() < deadline, "the log never said {needle:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// One HTTP/1.1 exchange on a fresh connection.
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let addr = self.address();
        let request = http_request(method, path, &addr, headers, body, false);
        tokio::time::timeout(HTTP_TIMEOUT, exchange(&addr, request))
            .await
            .unwrap_or_else(|_| {
                panic!("no HTTP response to {method} {path} within {HTTP_TIMEOUT:?}")
            })
    }

    /// `GET path` on the admin listener.
    pub async fn admin_get(&self, path: &str) -> Reply {
        let addr = self
            .admin_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        tokio::time::timeout(HTTP_TIMEOUT, exchange(&addr, request.into_bytes()))
            .await
            .unwrap_or_else(|_| panic!("no answer to GET {path} on the admin listener"))
    }

    /// `request` as it is (head and body, any or none) on a fresh connection, and the answer.
    pub async fn send_bytes(&self, request: Vec<u8>) -> Reply {
        tokio::time::timeout(HTTP_TIMEOUT, exchange(&self.address(), request))
            .await
            .unwrap_or_else(|_| panic!("no HTTP response within {HTTP_TIMEOUT:?}"))
    }

    /// `POST /` with exactly `headers` (besides the Host and Content-Length that `http` adds).
    /// Every API response, error or not, must carry `x-amzn-RequestId`: that is checked here.
    pub async fn post(&self, headers: &[(String, String)], body: &[u8]) -> Reply {
        let headers = header_refs(headers);
        let reply = self.http("POST", "/", &headers, body).await;
        assert_request_id(&reply, &headers);
        reply
    }

    /// A connection kept open for many requests, one after the other.
    pub async fn connect(&self) -> Connection {
        let addr = self.address();
        let stream = TcpStream::connect(&addr).await.expect("connect to trent");
        Connection { stream, addr }
    }

    /// `host:port` of the KMS API.
    fn address(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    }

    /// A KMS API call (`POST /`) signed by the default identity for `region`, which is the
    /// region it acts in.
    pub async fn raw(
        &self,
        region: &str,
        target: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> Reply {
        let headers = kms_headers(target, content_type);
        let signed = Signer::test(region).sign(&self.url, &headers, body);
        self.post(&signed, body).await
    }

    /// `raw` for `TrentService.<op>` with the JSON 1.1 content type.
    pub async fn call(&self, region: &str, op: &str, body: &serde_json::Value) -> Reply {
        let body = serde_json::to_vec(body).expect("serialize request");
        self.raw(region, Some(&format!("TrentService.{op}")), JSON_1_1, &body)
            .await
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends the server SIGHUP (reload TLS, reopen the audit log) and gives its signal task a
    /// moment to act.
    pub async fn sighup(&self) {
        signal(&self.child, "-HUP");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// A server started with `extra_args` (such as `--audit-log FILE`), on the store the
    /// environment names.
    pub fn start_with_args(extra_args: &[&str]) -> Server {
        Server::start_in(
            unique_temp_dir(),
            extra_args.iter().map(|a| (*a).to_owned()).collect(),
        )
    }

    /// A server in `root` (prepared beforehand) with `extra_args`, on the store the environment names.
    pub fn start_on_with(root: PathBuf, extra_args: &[&str]) -> Server {
        Server::start_in(root, extra_args.iter().map(|a| (*a).to_owned()).collect())
    }

    /// A new directory for [`Server::start_on`], to prepare (a restored store, a root key) before
    /// the server starts.
    pub fn new_root() -> PathBuf {
        unique_temp_dir()
    }

    /// A server in `root` on the embedded store in `root/data` or, given a URL, on that database
    /// with the root key file `root/root.key` (made if missing), whatever `TRENT_TEST_STORE` says.
    /// What `root` holds already is used.
    pub fn start_on(root: PathBuf, database: Option<&str>) -> Server {
        std::fs::create_dir_all(&root).expect("create the test dir");
        let extra_args = database
            .map(|url| shared_store_args(&root, url))
            .unwrap_or_default();
        Server::spawn_in(root, extra_args)
    }
}

/// The headers of a KMS call before signing: its content type and, if any, `X-Amz-Target`.
pub fn kms_headers(target: Option<&str>, content_type: &str) -> Vec<(String, String)> {
    let mut headers = vec![("Content-Type".to_owned(), content_type.to_owned())];
    if let Some(target) = target {
        headers.push(("X-Amz-Target".to_owned(), target.to_owned()));
    }
    headers
}

/// Who signs a request (SigV4, service `kms`), for which region and as of when.
#[derive(Clone, Copy, Debug)]
pub struct Signer<'a> {
    pub access_key: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    pub time: SystemTime,
    /// Headers sent but left out of the signature (lower case), as a careless or tampering client
    /// would.
    pub unsigned: &'a [&'a str],
}

impl Signer<'_> {
    /// The default identity, signing now.
    pub fn test(region: &str) -> Signer<'_> {
        Signer {
            access_key: ACCESS_KEY,
            secret: SECRET_KEY,
            region,
            time: SystemTime::now(),
            unsigned: &[],
        }
    }

    fn settings(&self) -> SigningSettings {
        let mut settings = SigningSettings::default();
        let excluded = settings.excluded_headers.get_or_insert_with(Vec::new);
        excluded.extend(self.unsigned.iter().map(|name| (*name).to_owned().into()));
        settings
    }

    /// `headers` plus the ones SigV4 adds (`X-Amz-Date`, `Authorization`) for `POST /` with
    /// `body` to the server at `url`. The host, taken from `url`, is signed too; it must be the
    /// Host the request is sent with (`Server::http` sends the same one).
    pub fn sign(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        let identity = Credentials::new(self.access_key, self.secret, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name("kms")
            .time(self.time)
            .settings(self.settings())
            .build()
            .expect("signing params")
            .into();
        let url = format!("{}/", url.trim_end_matches('/'));
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .expect("signable request");
        let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
        let mut signed = headers.to_vec();
        signed.extend(
            instructions
                .headers()
                .map(|(n, v)| (n.to_owned(), v.to_owned())),
        );
        signed
    }
}

pub const JSON_1_1: &str = "application/x-amz-json-1.1";

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!(
                "--- trent log, last lines ({}) ---\n{}",
                self.root.display(),
                tail.join("\n")
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// When the suite runs on PostgreSQL (`TRENT_TEST_STORE=postgres`, as `scripts/test` does in its
/// second run), a new empty database for one server on the server at `TRENT_TEST_POSTGRES`.
pub fn test_database() -> Option<String> {
    match std::env::var("TRENT_TEST_STORE").as_deref() {
        Ok("postgres") => {
            Some(new_database().expect("TRENT_TEST_STORE=postgres needs TRENT_TEST_POSTGRES"))
        }
        Ok("embedded") | Err(_) => None,
        Ok(other) => panic!("TRENT_TEST_STORE={other}: expected postgres or embedded"),
    }
}

/// A new empty database on the test PostgreSQL (`TRENT_TEST_POSTGRES`, a base URL
/// `postgres://USER@HOST:PORT` whose user may create databases; `scripts/postgres` starts one).
/// None, after saying so, on a machine without one: the test that asked is skipped there. Under
/// `CI=true` every test runs: no PostgreSQL is an error.
pub fn new_database() -> Option<String> {
    postgres_base("TRENT_TEST_POSTGRES").map(|base| new_database_on(&base, ""))
}

/// The value of `var`, which names a test PostgreSQL (see [`new_database`]).
pub fn postgres_base(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(base) => Some(base),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{var} is not set, and CI=true runs every test: run scripts/test")
        }
        Err(_) => {
            eprintln!("skipped: {var} is not set (scripts/test starts a throwaway PostgreSQL)");
            None
        }
    }
}

/// A new empty database on the PostgreSQL server at `base` (`postgres://USER@HOST:PORT`), made
/// through psql connecting with `options` (such as `?sslmode=require`): `base/NAME`.
pub fn new_database_on(base: &str, options: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "trent_api_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let output = Command::new("psql")
        .args(["--no-psqlrc", "--quiet", "--dbname"])
        .arg(format!("{base}/postgres{options}"))
        .args(["--command", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("run psql");
    assert!(
        output.status.success(),
        "CREATE DATABASE failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    format!("{base}/{name}")
}

/// `--store URL --root-key-file FILE` for a server on a shared database: the root key is made
/// here, as an operator gives every node the same one.
pub fn shared_store_args(root: &Path, url: &str) -> Vec<String> {
    let key_file = root.join("root.key");
    if !key_file.exists() {
        std::fs::write(&key_file, random_bytes(32)).expect("write the root key");
        std::fs::set_permissions(
            &key_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod the root key");
    }
    vec![
        "--store".to_owned(),
        url.to_owned(),
        "--root-key-file".to_owned(),
        key_file.display().to_string(),
    ]
}

/// `n` bytes from /dev/urandom.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| std::io::Read::read_exact(&mut random, &mut bytes))
        .expect("read /dev/urandom");
    bytes
}

fn unique_temp_dir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("trent-test-{}-{n}-{nanos}", std::process::id()))
}

/// Starts the binary and waits for its `listening on http://…` lines on stdout: the URLs of the
/// KMS API and of the admin listener.
fn spawn(
    root: &Path,
    extra_args: &[String],
    env: &[(String, String)],
) -> Result<(Child, String, String), String> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("server.log"))
        .expect("open server.log");
    // Under the usual umask 022, whatever the test runner's, so that the tests see the modes the
    // server sets itself (see `persistence::the_data_directory_is_private_whatever_the_umask`).
    let mut child = Command::new("/bin/sh")
        .args(["-c", "umask 022 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_trent"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .env("TRENT_ADMIN_LISTEN", "127.0.0.1:0")
        .arg("--data-dir")
        .arg(root.join("data"))
        .args(extra_args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn the trent binary");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    // Reads stdout to its end so that the server never blocks on a full pipe, copying it to
    // `stdout.log` ([`Server::printed`]). The KMS API's line comes first, then the admin listener's.
    let mut copy = OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("stdout.log"))
        .expect("open stdout.log");
    std::thread::spawn(move || {
        let mut urls = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = writeln!(copy, "{line}");
            if let Some((_, rest)) = line.split_once("listening on ") {
                urls.push(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
                if urls.len() == 2 {
                    let _ = tx.send(std::mem::take(&mut urls));
                }
            }
        }
    });
    match rx.recv_timeout(STARTUP_TIMEOUT) {
        Ok(urls) => Ok((child, urls[0].clone(), urls[1].clone())),
        Err(_) => {
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            let log = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
            Err(format!(
                "trent printed no `listening on` line (process: {status}); log:\n{log}"
            ))
        }
    }
}

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {} failed", child.id());
}

/// Runs `trent serve ARGS` on a fresh data dir, expecting it to refuse to start: its exit status
/// and what it printed on stderr.
pub fn refused_start(args: &[&str]) -> (std::process::ExitStatus, String) {
    let root = unique_temp_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trent"))
        .arg("serve")
        .env("TRENT_ADMIN_LISTEN", "127.0.0.1:0")
        .arg("--data-dir")
        .arg(root.join("data"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the trent binary");
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for trent") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("trent {args:?} started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(
        &mut child.stderr.take().expect("stderr is piped"),
        &mut stderr,
    )
    .expect("read stderr");
    let _ = std::fs::remove_dir_all(&root);
    (status, stderr)
}

fn wait_for_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("wait for trent") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "trent did not exit within {SHUTDOWN_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts a 200 and returns the JSON body.
    #[track_caller]
    pub fn ok(&self) -> serde_json::Value {
        assert_eq!(self.status, 200, "{}", String::from_utf8_lossy(&self.body));
        self.json()
    }

    /// Asserts an AWS JSON error: HTTP 400, `__type` one of `codes`, a string `message`.
    /// Returns the message.
    #[track_caller]
    pub fn error(&self, codes: &[&str]) -> String {
        let text = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, 400, "expected one of {codes:?}: {text}");
        let body = self.json();
        let code = body["__type"]
            .as_str()
            .unwrap_or_else(|| panic!("no __type: {text}"));
        assert!(
            codes.contains(&code),
            "expected one of {codes:?}, got {code}: {text}"
        );
        body["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no string `message`: {text}"))
            .to_owned()
    }
}

/// An HTTP/1.1 request to `host`, with a Content-Length; `keep_alive` or not.
fn http_request(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) -> Vec<u8> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: {connection}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    [head.as_bytes(), body].concat()
}

fn header_refs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// Every API response, error or not, must carry `x-amzn-RequestId`.
#[track_caller]
fn assert_request_id(reply: &Reply, headers: &[(&str, &str)]) {
    assert!(
        reply
            .header("x-amzn-RequestId")
            .is_some_and(|id| !id.is_empty()),
        "response to {headers:?} has no x-amzn-RequestId: {reply:?}"
    );
}

async fn exchange(addr: &str, request: Vec<u8>) -> Reply {
    let stream = TcpStream::connect(addr).await.expect("connect to trent");
    let (mut reader, mut writer) = stream.into_split();
    // Written while reading: the server may answer (e.g. "too large") before it read the body.
    // The task returns the write half so that the connection is not half-closed too early.
    let write = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        writer
    });
    let reply = read_reply(&mut reader).await;
    write.abort();
    reply
}

/// Reads one response; the connection's end ends a response that has no length.
async fn read_reply(reader: &mut (impl AsyncReadExt + Unpin)) -> Reply {
    let mut buf = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        if let Some(reply) = parse_reply(&buf, false) {
            return reply;
        }
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                return parse_reply(&buf, true).unwrap_or_else(|| {
                    panic!(
                        "incomplete HTTP response: {:?}",
                        String::from_utf8_lossy(&buf)
                    )
                })
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// An HTTP/1.1 connection to the KMS API kept open across requests (see [`Server::connect`]).
pub struct Connection {
    stream: TcpStream,
    addr: String,
}

impl Connection {
    /// Like [`Server::post`], on this connection: the request is written whole, then its answer
    /// read. The server closing the connection instead fails the test.
    pub async fn post(&mut self, headers: &[(String, String)], body: &[u8]) -> Reply {
        let headers = header_refs(headers);
        let request = http_request("POST", "/", &self.addr, &headers, body, true);
        self.stream
            .write_all(&request)
            .await
            .expect("write a request on a kept-alive connection");
        let reply = read_reply(&mut self.stream).await;
        assert_request_id(&reply, &headers);
        reply
    }
}

fn parse_reply(buf: &[u8], eof: bool) -> Option<Reply> {
    let end = find(buf, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let rest = &buf[end + 4..];
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(length) = header("content-length") {
        let length: usize = length.parse().ok()?;
        rest.get(..length)?.to_vec()
    } else if eof {
        rest.to_vec()
    } else {
        return None;
    };
    Some(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = find(data, b"\r\n")?;
        let size = std::str::from_utf8(&data[..line_end])
            .ok()?
            .split(';')
            .next()?
            .trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Assertions on SDK results

/// Asserts that the call failed with the service error `code`; returns the error message.
#[track_caller]
pub fn assert_code<T: Debug, E: ProvideErrorMetadata + Debug>(
    result: Result<T, SdkError<E>>,
    code: &str,
) -> String {
    assert_code_in(result, &[code])
}

/// Like `assert_code`, where the facts allow more than one code.
#[track_caller]
pub fn assert_code_in<T: Debug, E: ProvideErrorMetadata + Debug>(
    result: Result<T, SdkError<E>>,
    codes: &[&str],
) -> String {
    match result {
        Ok(output) => panic!("expected one of {codes:?}, but the call succeeded: {output:?}"),
        Err(err) => {
            let code = err.code();
            assert!(
                code.is_some_and(|c| codes.contains(&c)),
                "expected one of {codes:?}, got {code:?}: {err:?}"
            );
            err.message().unwrap_or_default().to_owned()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values and small SDK helpers

pub fn key_arn(region: &str, key_id: &str) -> String {
    format!("arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}")
}

pub fn alias_arn(region: &str, alias: &str) -> String {
    format!("arn:aws:kms:{region}:{ACCOUNT}:{alias}")
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        .try_into()
        .expect("epoch seconds fit i64")
}

/// Asserts that `date` lies in `[from - slack, now + slack]` (server and test share a clock).
#[track_caller]
pub fn assert_recent(date: Option<&DateTime>, from: i64) {
    let secs = date.expect("a timestamp").secs();
    assert!(
        (from - 5..=now() + 5).contains(&secs),
        "timestamp {secs} is not between {from} and now"
    );
}

pub fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .tag_key(key)
        .tag_value(value)
        .build()
        .expect("tag has key and value")
}

pub fn context(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

pub async fn create_key(kms: &Client) -> KeyMetadata {
    kms.create_key()
        .send()
        .await
        .expect("CreateKey")
        .key_metadata
        .expect("CreateKey returns KeyMetadata")
}

pub async fn describe(kms: &Client, key_id: &str) -> KeyMetadata {
    kms.describe_key()
        .key_id(key_id)
        .send()
        .await
        .expect("DescribeKey")
        .key_metadata
        .expect("DescribeKey returns KeyMetadata")
}

pub async fn create_alias(kms: &Client, alias: &str, key_id: &str) {
    kms.create_alias()
        .alias_name(alias)
        .target_key_id(key_id)
        .send()
        .await
        .expect("CreateAlias");
}

pub async fn encrypt(kms: &Client, key_id: &str, plaintext: &[u8]) -> Blob {
    kms.encrypt()
        .key_id(key_id)
        .plaintext(Blob::new(plaintext))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob
        .expect("Encrypt returns CiphertextBlob")
}

pub async fn decrypt(kms: &Client, blob: &Blob) -> Vec<u8> {
    kms.decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .expect("Decrypt")
        .plaintext
        .expect("Decrypt returns Plaintext")
        .into_inner()
}

/// Every key ID that ListKeys returns, following NextMarker with page size `limit`; asserts the
/// paging contract on the way (page size, Truncated ⇔ NextMarker).
pub async fn list_key_ids(kms: &Client, limit: Option<i32>) -> Vec<String> {
    let mut ids = Vec::new();
    let mut marker = None;
    loop {
        let page = kms
            .list_keys()
            .set_limit(limit)
            .set_marker(marker)
            .send()
            .await
            .expect("ListKeys");
        assert_page(
            page.keys().len(),
            limit,
            page.truncated(),
            page.next_marker(),
        );
        ids.extend(
            page.keys()
                .iter()
                .map(|k| k.key_id().expect("KeyId").to_owned()),
        );
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            return ids;
        }
    }
}

/// All tags of a key as sorted (key, value) pairs, following NextMarker.
pub async fn tags_of(kms: &Client, key_id: &str) -> Vec<(String, String)> {
    let mut tags = Vec::new();
    let mut marker = None;
    loop {
        let page = kms
            .list_resource_tags()
            .key_id(key_id)
            .set_marker(marker)
            .send()
            .await
            .expect("ListResourceTags");
        assert_page(
            page.tags().len(),
            None,
            page.truncated(),
            page.next_marker(),
        );
        tags.extend(
            page.tags()
                .iter()
                .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned())),
        );
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            tags.sort();
            return tags;
        }
    }
}

#[track_caller]
pub fn assert_page(len: usize, limit: Option<i32>, truncated: bool, next_marker: Option<&str>) {
    if let Some(limit) = limit {
        assert!(
            len <= usize::try_from(limit).expect("positive limit"),
            "page of {len} exceeds Limit {limit}"
        );
    }
    assert_eq!(
        truncated,
        next_marker.is_some(),
        "Truncated must be true exactly when NextMarker is present"
    );
    if truncated {
        assert!(len > 0, "a truncated page should not be empty");
    }
}

pub fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    pairs.sort();
    pairs
}

/// Every alias that ListAliases returns (optionally for one key), following NextMarker with page
/// size `limit`. AWS may list predefined `alias/aws/…` aliases too: callers filter what they need.
pub async fn list_aliases(
    kms: &Client,
    key_id: Option<&str>,
    limit: Option<i32>,
) -> Vec<AliasListEntry> {
    let mut aliases = Vec::new();
    let mut marker = None;
    loop {
        let page = kms
            .list_aliases()
            .set_key_id(key_id.map(str::to_owned))
            .set_limit(limit)
            .set_marker(marker)
            .send()
            .await
            .expect("ListAliases");
        assert_page(
            page.aliases().len(),
            limit,
            page.truncated(),
            page.next_marker(),
        );
        aliases.extend(page.aliases().iter().cloned());
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            return aliases;
        }
    }
}

/// The names of the aliases that tests created (not the predefined `alias/aws/…` ones), sorted.
pub fn custom_alias_names(aliases: &[AliasListEntry]) -> Vec<String> {
    let mut names: Vec<String> = aliases
        .iter()
        .filter_map(|a| a.alias_name())
        .filter(|name| !name.starts_with("alias/aws/"))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// Several nodes on one PostgreSQL database

impl Server {
    /// A Trent node on the PostgreSQL database `url`, with the root key file `key_dir/root.key`
    /// (made by the first node), as an operator runs several nodes on one database; whatever
    /// `TRENT_TEST_STORE` says. `extra_args` such as `--test-admin`.
    pub fn start_node(key_dir: &Path, url: &str, extra_args: &[&str]) -> Server {
        let mut extra_args: Vec<String> = extra_args.iter().map(|a| (*a).to_owned()).collect();
        extra_args.extend(shared_store_args(key_dir, url));
        Server::spawn_in(unique_temp_dir(), extra_args)
    }

    /// Kills the server with SIGKILL and leaves it down, as when its machine is lost.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL trent");
        wait_for_exit(&mut self.child);
    }
}

/// `n` Trent nodes on one PostgreSQL database, sharing one root key file.
pub struct Cluster {
    pub nodes: Vec<Server>,
    key_dir: PathBuf,
}

impl Cluster {
    /// `n` nodes on a new database of the test PostgreSQL (`TRENT_TEST_POSTGRES`), with the
    /// test-admin endpoints if `test_admin`.
    /// None (the test is skipped) without a test PostgreSQL, as [`new_database`].
    pub fn start(n: usize, test_admin: bool) -> Option<Cluster> {
        Some(Cluster::start_on(&new_database()?, n, test_admin))
    }

    /// `n` nodes on the database `url`.
    pub fn start_on(url: &str, n: usize, test_admin: bool) -> Cluster {
        let key_dir = unique_temp_dir();
        std::fs::create_dir_all(&key_dir).expect("create the root key dir");
        let args: &[&str] = if test_admin { &["--test-admin"] } else { &[] };
        let nodes = (0..n)
            .map(|_| Server::start_node(&key_dir, url, args))
            .collect();
        Cluster { nodes, key_dir }
    }

    /// A client of each node, in node order.
    pub fn clients(&self) -> Vec<Client> {
        self.nodes.iter().map(|n| n.client(REGION)).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.key_dir);
        }
    }
}
