//! Trent: a self-hosted key management service that speaks the AWS KMS API.
//!
//! The request path: [`http`] (connections, body limit) → [`trent_model::Operation::parse`]
//! (protocol, validation from the AWS model) → [`ops::dispatch`] (one function per operation) →
//! [`trent_crypto`] and [`store`] → a JSON response or an AWS error.

pub mod authz;
pub mod config;
pub mod http;
pub mod ops;
pub mod root_key;
pub mod sigv4;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The account every request belongs to until accounts come from configuration.
pub const DEFAULT_ACCOUNT: &str = "111122223333";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4599";
pub const DEFAULT_DATA_DIR: &str = "trent-data";

/// How the server is started: from flags, environment variables or defaults.
#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// A root key file given by the operator; by default `root.key` in the data directory,
    /// created on first start.
    pub root_key_file: Option<PathBuf>,
}

/// Runs the server until `shutdown` completes. Prints where it listens once it accepts requests.
pub async fn run(settings: Settings, shutdown: impl std::future::Future<Output = ()>) -> Result<(), String> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| format!("cannot create data directory {}: {e}", settings.data_dir.display()))?;
    let root = root_key::load(&settings.data_dir, settings.root_key_file.as_deref())?;
    let db_path = settings.data_dir.join("trent.db");
    let store = store::SqliteStore::open(&db_path).map_err(|e| format!("cannot open database {}: {e:?}", db_path.display()))?;
    let store = Arc::new(store::CachedStore::new(Arc::new(store)));
    let ctx = Arc::new(ops::Ctx::new(store, Arc::new(root)));

    let listener = tokio::net::TcpListener::bind(settings.listen).await.map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("trent listening on http://{addr}");
    println!("data directory: {}", std::fs::canonicalize(&settings.data_dir).unwrap_or(settings.data_dir.clone()).display());
    println!("default account: {DEFAULT_ACCOUNT}, default region: {} (a signed request's region is used)", http::DEFAULT_REGION);
    use std::io::Write as _;
    std::io::stdout().flush().ok();

    let deleter = tokio::spawn(delete_due_keys_forever(ctx.clone()));
    let account: Arc<str> = Arc::from(DEFAULT_ACCOUNT);
    let handler = move |parts, body| http::handle(ctx.clone(), account.clone(), parts, body);
    http::serve(listener, handler, shutdown).await;
    deleter.abort();
    tracing::info!("trent stopped");
    Ok(())
}

/// Destroys keys whose deletion window has passed, once a minute.
async fn delete_due_keys_forever(ctx: Arc<ops::Ctx>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = ops::delete_due_keys(&ctx).await {
            tracing::error!("scheduled key deletion failed: {e:?}");
        }
    }
}
