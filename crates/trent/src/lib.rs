//! Trent: a self-hosted key management service that speaks the AWS KMS API.
//!
//! The request path: [`http`] (connections, body limit) → [`sigv4::verify`] (who is calling) →
//! [`trent_model::Operation::parse`] (protocol, validation from the AWS model) → [`ops::dispatch`]
//! (one function per operation, each authorizing through [`ops::authorize`] and [`authz`]) →
//! [`trent_crypto`] and [`store`] → a JSON response or an AWS error.

#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod authz;
pub mod backup;
pub mod check_config;
pub mod clock;
pub mod config;
pub mod custody;
pub mod data_dir;
pub mod http;
pub mod metrics;
pub mod ops;
pub mod party;
pub mod record;
pub mod root_key;
pub mod seed;
pub mod sigv4;
pub mod store;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The version, as `trent --version` prints it: the crate's version and the commit built.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("TRENT_COMMIT"), ")");
pub const VERSION_NUMBER: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("TRENT_COMMIT");

/// The account of the test/test credentials that exist when there is no config file.
pub const DEFAULT_ACCOUNT: &str = "111122223333";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4599";
pub const DEFAULT_DATA_DIR: &str = "trent-data";

/// How the server is started, from flags and environment variables; what they leave out comes from
/// the config file, then from the defaults.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub config: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    /// The root key (`--root-key`, or `--root-key-file` for a plain file); by default `root.key`
    /// in the data directory, created on first start.
    pub root_key: Option<root_key::RootKeyUri>,
    /// Where the root key's passphrase comes from, if it has one.
    pub passphrases: root_key::Passphrases,
    /// Serve the test-only admin endpoints (`--test-admin`); the config's `test_admin` also can.
    pub test_admin: bool,
    /// A PostgreSQL URL (`--store`); by default the embedded store in the data directory.
    pub store: Option<String>,
    /// The admin listener's address (`--admin-listen`).
    pub admin_listen: Option<SocketAddr>,
    /// The audit log (`--audit-log`); `-` for standard output.
    pub audit_log: Option<PathBuf>,
    /// Where custody parties dial in (`--party-listen`).
    pub party_listen: Option<SocketAddr>,
    /// TLS for the KMS API (`--tls-cert`, `--tls-key`): PEM files.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Settings {
    /// The config file's settings, or the defaults without one.
    pub fn load_config(&self) -> Result<config::Config, String> {
        match &self.config {
            Some(path) => config::Config::load(path),
            None => Ok(config::Config::default()),
        }
    }

    /// The data directory, and the PostgreSQL URL if the store is there: from the flags, else the
    /// config file, else the defaults.
    pub fn store_location(&self, config: &config::Config) -> (PathBuf, Option<String>) {
        let data_dir = self.data_dir.clone().or(config.data_dir.clone()).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        (data_dir, self.store.clone().or(config.store.clone()))
    }
}

/// The embedded store's database file in `data_dir`.
pub fn embedded_database(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("trent.db")
}

/// Opens the store the settings name: PostgreSQL for a `postgres://` URL (migrating its schema),
/// else the embedded store in `data_dir`.
pub async fn open_store(url: Option<&str>, data_dir: &std::path::Path) -> Result<Arc<dyn store::Store>, String> {
    match url {
        Some(url) => {
            let store = store::PostgresStore::open(url).await.map_err(|e| format!("cannot open the PostgreSQL store: {e:?}"))?;
            Ok(Arc::new(store))
        }
        None => {
            let path = embedded_database(data_dir);
            data_dir::create_private_file(&path).map_err(|e| format!("cannot create database {}: {e}", path.display()))?;
            let store = store::SqliteStore::open(&path).map_err(|e| format!("cannot open database {}: {e:?}", path.display()))?;
            Ok(Arc::new(store))
        }
    }
}

/// Runs the server until `shutdown` completes. Prints where it listens once it accepts requests.
pub async fn run(settings: Settings, shutdown: impl std::future::Future<Output = ()>) -> Result<(), String> {
    let config = settings.load_config()?;
    let listen = match settings.listen.or(config.listen) {
        Some(listen) => listen,
        None => DEFAULT_LISTEN.parse().map_err(|e| format!("{e}"))?,
    };
    let tls = match (settings.tls_cert.clone().or(config.tls.cert.clone()), settings.tls_key.clone().or(config.tls.key.clone())) {
        (Some(cert), Some(key)) => Some(Arc::new(tls::Tls::load(cert, key)?)),
        (None, None) => None,
        _ => return Err("TLS needs both a certificate and a key: --tls-cert and --tls-key (or [tls] cert and key)".into()),
    };
    config::check_listen_policy(listen, config.has_accounts(), tls.is_some(), config.insecure_plaintext)?;
    let identities = match config.has_accounts() {
        true => config::Identities::from_config(&config)?,
        false => config::Identities::loopback_default(),
    };
    let (data_dir, store_url) = settings.store_location(&config);
    data_dir::prepare(&data_dir)?;
    let root_key_uri = root_key::configured(settings.root_key.as_ref(), &config)?;
    if store_url.is_some() && root_key_uri.is_none() {
        // A root key made up in one node's data directory would wrap keys no other node can read.
        return Err("a shared store needs the root key every node uses: give --root-key URI (or root_key in the config)".into());
    }
    let root = root_key::load(root_key_uri.as_ref(), &data_dir, &settings.passphrases).await?;
    let database = open_store(store_url.as_deref(), &data_dir).await?;
    let root = root_key::keyring_for(database.as_ref(), root).await?;
    let follower = tokio::spawn(root_key::rotate::follow_forever(database.clone(), root.clone()));
    let store = Arc::new(store::CachedStore::new(database));
    let test_admin = settings.test_admin || config.test_admin;
    let ctx = Arc::new(ops::Ctx::new(store, root, identities).with_test_admin(test_admin));
    seed::plant_at_start(&ctx, &config, settings.config.as_deref()).await?;
    let audit_path = settings.audit_log.or(config.audit.path.clone());
    let audit = match audit_path.clone() {
        Some(path) => {
            let node = audit::node_name(config.audit.node.as_deref());
            Some(audit::AuditLog::open(audit::AuditSettings { path, sync: config.audit.sync, max_bytes: config.audit.max_bytes, node })?)
        }
        None => None,
    };
    let service = Arc::new(http::Service { ctx: ctx.clone(), audit });
    let custody = match settings.party_listen.or(config.custody.listen) {
        Some(party_listen) => Some(custody::listener::start(party_listen, &data_dir, &config.custody, ctx.clone()).await?),
        None => None,
    };
    if let Some((_, address, fingerprint)) = &custody {
        // Before the KMS API's line: whoever waits for that one finds this one printed.
        println!("custody parties dial in at {address} (mutual TLS; Trent's identity {fingerprint})");
    }

    let admin_listen = match settings.admin_listen.or(config.admin_listen) {
        Some(admin_listen) => admin_listen,
        None => admin::DEFAULT_ADMIN_LISTEN.parse().map_err(|e| format!("{e}"))?,
    };
    if admin_listen == listen && listen.port() != 0 {
        return Err(format!("the admin listener cannot share the KMS API's address {listen}"));
    }
    let admin_listener = http::listen(admin_listen).map_err(|e| format!("cannot listen on {admin_listen} (admin): {e}"))?;
    let listener = http::listen(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("trent {VERSION} listening on {scheme}://{addr}");
    println!("admin (metrics, health) listening on http://{}", admin_listener.local_addr().map_err(|e| e.to_string())?);
    match &service.audit {
        Some(audit) => println!("audit log: {} (node {})", audit_path.unwrap_or_default().display(), audit.node()),
        None => println!("audit log: off (--audit-log PATH to keep one)"),
    }
    println!("data directory: {}", std::fs::canonicalize(&data_dir).unwrap_or(data_dir.clone()).display());
    if store_url.is_some() {
        println!("store: PostgreSQL (schema version {})", store::POSTGRES_SCHEMA_VERSION);
    }
    match config.has_accounts() {
        true => println!("accounts: {}", config.accounts.iter().map(|a| a.id.as_str()).collect::<Vec<_>>().join(", ")),
        false => println!("account: {DEFAULT_ACCOUNT}, credentials test/test (no config file: loopback only)"),
    }
    println!("region: the one each request is signed for");
    if test_admin {
        println!("WARNING: test admin endpoints are on (POST /_trent/clock/advance, POST /_trent/reset): anyone who can reach this port can empty the store. Never use this in production.");
    }
    use std::io::Write as _;
    std::io::stdout().flush().ok();

    let scheduler = tokio::spawn(run_due_work_forever(service.clone()));
    let reloader = tokio::spawn(reload_on_sighup(service.clone(), tls.clone()));
    let admin_service = service.clone();
    let admin_handler = move |parts, _body| admin::handle(admin_service.clone(), parts);
    let admin = tokio::spawn(http::serve(admin_listener, admin_handler, None, std::future::pending()));
    let serving = service.clone();
    let handler = move |parts, body| http::handle(serving.clone(), parts, body);
    http::serve(listener, handler, tls, shutdown).await;
    scheduler.abort();
    reloader.abort();
    follower.abort();
    if let Some((party_listener, ..)) = custody {
        party_listener.abort();
    }
    admin.abort();
    ops::write_noted_uses(&ctx).await;
    tracing::info!("trent stopped");
    Ok(())
}

/// Destroys keys whose deletion window has passed and rotates keys whose rotation date has come,
/// once a minute.
async fn run_due_work_forever(service: Arc<http::Service>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = service.run_due_work().await {
            tracing::error!("scheduled work failed: {e:?}");
        }
    }
}

/// SIGHUP reads the TLS certificate and key again (a pair that does not load is refused and the
/// one in use kept) and opens the audit log file anew, after an external log rotation moved it.
async fn reload_on_sighup(service: Arc<http::Service>, tls: Option<Arc<tls::Tls>>) {
    let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
    while hangup.recv().await.is_some() {
        if let Some(tls) = &tls {
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificate and key reloaded"),
                Err(e) => tracing::error!("SIGHUP: new TLS certificate and key refused, the previous ones kept: {e}"),
            }
        }
        if let Some(audit) = &service.audit {
            tracing::info!("SIGHUP: opening the audit log anew");
            audit.reopen();
        }
    }
}
