//! The shared store: PostgreSQL, for several stateless Trent nodes on one database.
//!
//! Nodes coordinate only through the database: key updates are compare-and-swap on the revision,
//! names are primary keys, and per-key limits are counted under the key row's lock. Every call
//! has a deadline, so an unreachable database answers `Unavailable` instead of hanging, and the
//! pool replaces broken connections by itself once the database is back.

use super::postgres_tls::PostgresTls;
use super::{AliasRecord, ChangeKey, Due, Exported, GrantFilter, GrantInsert, GrantRecord, KeyRecord, Scope, Setting, Store, StoreError, HOLDS_ANYTHING};
use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::{IsolationLevel, Row};

/// How long one store call may take, connection included, before the request gets
/// `DependencyTimeoutException`.
const DEADLINE: Duration = Duration::from_secs(5);
/// Connections per node; the database's `max_connections` bounds nodes × this.
const POOL_SIZE: usize = 16;

/// The schema, one step per version; a database records the steps applied. Steps are never edited
/// once released: a change is a new step. Names and IDs compare bytewise (`COLLATE "C"`), as in
/// the embedded store, whatever the database's locale: listings page in the same order.
const MIGRATIONS: &[&str] = &[
    // 1: keys and aliases.
    r#"CREATE TABLE keys (
        account TEXT COLLATE "C" NOT NULL,
        region TEXT COLLATE "C" NOT NULL,
        key_id TEXT COLLATE "C" NOT NULL,
        revision BIGINT NOT NULL,
        deletion_ms BIGINT,
        record TEXT NOT NULL,
        PRIMARY KEY (account, region, key_id)
    );
    CREATE INDEX keys_deletion ON keys (deletion_ms) WHERE deletion_ms IS NOT NULL;
    CREATE TABLE aliases (
        account TEXT COLLATE "C" NOT NULL,
        region TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        key_id TEXT COLLATE "C" NOT NULL,
        created_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL,
        PRIMARY KEY (account, region, name)
    );
    CREATE INDEX aliases_key ON aliases (account, region, key_id);"#,
    // 2: the dates of automatic rotation and of imported material's expiry.
    r#"ALTER TABLE keys ADD COLUMN rotation_ms BIGINT, ADD COLUMN expiry_ms BIGINT;
    CREATE INDEX keys_rotation ON keys (rotation_ms) WHERE rotation_ms IS NOT NULL;
    CREATE INDEX keys_expiry ON keys (expiry_ms) WHERE expiry_ms IS NOT NULL;"#,
    // 3: grants.
    r#"CREATE TABLE grants (
        account TEXT COLLATE "C" NOT NULL,
        region TEXT COLLATE "C" NOT NULL,
        key_id TEXT COLLATE "C" NOT NULL,
        grant_id TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C",
        grantee_principal TEXT NOT NULL,
        retiring_principal TEXT,
        record TEXT NOT NULL,
        PRIMARY KEY (account, region, key_id, grant_id)
    );
    CREATE INDEX grants_retiring ON grants (account, region, retiring_principal, key_id, grant_id)
        WHERE retiring_principal IS NOT NULL;"#,
    // 4: the store's own settings (its root key, a root-key rotation under way).
    r#"CREATE TABLE settings (
        name TEXT COLLATE "C" PRIMARY KEY,
        value TEXT NOT NULL
    );"#,
];

/// The schema version this Trent writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Any number; it names the advisory lock that serialises migrations of nodes starting together.
const MIGRATION_LOCK: i64 = 0x7472_656e_7400;
/// Another, serialising changes of the store's settings.
const SETTINGS_LOCK: i64 = 0x7472_656e_7401;

pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and brings the schema up
    /// to date.
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let store = PostgresStore::connect(url)?;
        store.migrate(SCHEMA_VERSION).await?;
        Ok(store)
    }

    /// A pool for `url`, without touching the database yet. Its `sslmode` and `sslrootcert` say
    /// how connections use TLS (see `postgres_tls.rs`).
    pub fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let invalid = |e: String| StoreError::Backend(format!("invalid PostgreSQL URL: {e}"));
        let tls = PostgresTls::from_url(url).map_err(invalid)?;
        let mut config: tokio_postgres::Config = tls.url.parse().map_err(|e: tokio_postgres::Error| invalid(e.to_string()))?;
        if let Some(mode) = tls.ssl_mode {
            config.ssl_mode(mode);
        }
        config.connect_timeout(DEADLINE).application_name("trent");
        let manager = Manager::from_config(config, tls.connector, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(DEADLINE))
            .create_timeout(Some(DEADLINE))
            .recycle_timeout(Some(DEADLINE))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the connection pool: {e}")))?;
        Ok(PostgresStore { pool })
    }

    /// Applies the schema steps up to `version` that the database lacks; returns the version it
    /// had before. Safe when several nodes start at once: they take turns under an advisory lock.
    pub async fn migrate(&self, version: usize) -> Result<usize, StoreError> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(backend)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(backend)?;
            tx.batch_execute("CREATE TABLE IF NOT EXISTS trent_schema (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
                .await
                .map_err(backend)?;
            let row = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM trent_schema", &[]).await.map_err(backend)?;
            let current = usize::try_from(row.get::<_, i32>(0)).map_err(|e| StoreError::Backend(e.to_string()))?;
            if current > SCHEMA_VERSION {
                return Err(StoreError::Backend(format!("the database has schema version {current}, newer than this Trent's {SCHEMA_VERSION}: upgrade Trent")));
            }
            for (step, sql) in MIGRATIONS.iter().enumerate().take(version).skip(current) {
                tx.batch_execute(sql).await.map_err(backend)?;
                let applied = i32::try_from(step + 1).map_err(|e| StoreError::Backend(e.to_string()))?;
                tx.execute("INSERT INTO trent_schema (version) VALUES ($1)", &[&applied]).await.map_err(backend)?;
            }
            tx.commit().await.map_err(backend)?;
            Ok(current)
        })
        .await
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => backend(e),
            other => StoreError::Unavailable(other.to_string()),
        })
    }

    /// Runs one query returning the `record` column of each row, decoded.
    async fn records<T: DeserializeOwned>(&self, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Result<Vec<T>, StoreError> {
        timed(async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(sql).await.map_err(backend)?;
            let rows = client.query(&stmt, params).await.map_err(backend)?;
            rows.iter().map(|row| decode(row.get(0))).collect()
        })
        .await
    }

    /// Runs one statement; returns the number of rows it changed.
    async fn execute(&self, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Result<u64, StoreError> {
        timed(async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(sql).await.map_err(backend)?;
            client.execute(&stmt, params).await.map_err(backend)
        })
        .await
    }
}

/// Bounds a store call by `DEADLINE`.
async fn timed<T>(call: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    let started = std::time::Instant::now();
    let result =
        tokio::time::timeout(DEADLINE, call).await.unwrap_or_else(|_| Err(StoreError::Unavailable(format!("no answer from PostgreSQL within {DEADLINE:?}"))));
    crate::metrics::get().store_call("postgres", started.elapsed(), &result);
    result
}

/// An error the database reported about a statement is a failure; any other (connection refused,
/// closed, reset) means the database cannot be reached — and so do the errors a database gives
/// while it shuts down, starts up or has no connection to spare, which pass by themselves.
fn backend(error: tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState;
    match error.as_db_error() {
        // Only a NUL can be "not in the repertoire" of UTF-8 text, as Rust strings are UTF-8.
        Some(db) if db.code() == &SqlState::CHARACTER_NOT_IN_REPERTOIRE => StoreError::Unrepresentable,
        Some(db) => {
            let code = db.code();
            let message = format!("{}: {}", code.code(), db.message());
            let passing = [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW, SqlState::TOO_MANY_CONNECTIONS];
            // Class 08: connection exceptions.
            if passing.contains(code) || code.code().starts_with("08") {
                StoreError::Unavailable(message)
            } else {
                StoreError::Backend(message)
            }
        }
        // The causes too: "error performing TLS handshake" alone would not say that the
        // certificate was refused, nor why.
        None => {
            let mut message = error.to_string();
            let mut cause = std::error::Error::source(&error);
            while let Some(inner) = cause {
                message = format!("{message}: {inner}");
                cause = inner.source();
            }
            StoreError::Unavailable(message)
        }
    }
}

fn encode<T: Serialize>(record: &T) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Backend(format!("encode {}: {e}", std::any::type_name::<T>())))
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(format!("decode {}: {e}", std::any::type_name::<T>())))
}

fn key_row(row: &Row) -> Result<KeyRecord, StoreError> {
    let mut key: KeyRecord = decode(row.get(0))?;
    key.revision = u64::try_from(row.get::<_, i64>(1)).map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(key)
}

fn alias_row(row: &Row) -> AliasRecord {
    AliasRecord { name: row.get(0), key_id: row.get(1), created_ms: row.get(2), updated_ms: row.get(3) }
}

/// The scope in a row's columns `at` and `at + 1`.
fn scope_at(row: &Row, at: usize) -> Scope {
    Scope { account: row.get(at), region: row.get(at + 1) }
}

/// Inserts a key at revision 0; false if its ID is taken.
async fn insert_key_row(client: &impl GenericClient, scope: &Scope, key: &KeyRecord) -> Result<bool, StoreError> {
    let (deletion, rotation, expiry) = super::due_dates(key);
    let stmt = client
        .prepare_cached(
            "INSERT INTO keys (account, region, key_id, revision, deletion_ms, rotation_ms, expiry_ms, record)
             VALUES ($1, $2, $3, 0, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .await
        .map_err(backend)?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [&scope.account, &scope.region, &key.key_id, &deletion, &rotation, &expiry, &encode(key)?];
    Ok(client.execute(&stmt, &params).await.map_err(backend)? > 0)
}

/// False if the alias name is taken.
async fn insert_alias_row(client: &impl GenericClient, scope: &Scope, alias: &AliasRecord) -> Result<bool, StoreError> {
    let stmt = client
        .prepare_cached("INSERT INTO aliases (account, region, name, key_id, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING")
        .await
        .map_err(backend)?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
        [&scope.account, &scope.region, &alias.name, &alias.key_id, &alias.created_ms, &alias.updated_ms];
    Ok(client.execute(&stmt, &params).await.map_err(backend)? > 0)
}

/// Inserts a grant without any check; false if its ID is taken.
async fn insert_grant_row(client: &impl GenericClient, scope: &Scope, grant: &GrantRecord) -> Result<bool, StoreError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO grants (account, region, key_id, grant_id, name, grantee_principal, retiring_principal, record)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .await
        .map_err(backend)?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] =
        [&scope.account, &scope.region, &grant.key_id, &grant.grant_id, &grant.name, &grant.grantee_principal, &grant.retiring_principal, &encode(grant)?];
    Ok(client.execute(&stmt, &params).await.map_err(backend)? > 0)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for PostgresStore {
    async fn get_key(&self, scope: &Scope, key_id: &str) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        timed(async {
            let client = self.client().await?;
            let stmt = client.prepare_cached("SELECT record, revision FROM keys WHERE account = $1 AND region = $2 AND key_id = $3").await.map_err(backend)?;
            let row = client.query_opt(&stmt, &[&scope.account, &scope.region, &key_id]).await.map_err(backend)?;
            Ok(row.as_ref().map(key_row).transpose()?.map(Arc::new))
        })
        .await
    }

    async fn insert_key(&self, scope: &Scope, key: &KeyRecord) -> Result<(), StoreError> {
        timed(async {
            if insert_key_row(&self.client().await?, scope, key).await? {
                Ok(())
            } else {
                Err(StoreError::Conflict)
            }
        })
        .await
    }

    async fn update_key(&self, scope: &Scope, key: &KeyRecord) -> Result<(), StoreError> {
        let (deletion, rotation, expiry) = super::due_dates(key);
        let revision = i64::try_from(key.revision).map_err(|e| StoreError::Backend(e.to_string()))?;
        let updated = self
            .execute(
                "UPDATE keys SET record = $1, deletion_ms = $2, rotation_ms = $3, expiry_ms = $4, revision = revision + 1
                 WHERE account = $5 AND region = $6 AND key_id = $7 AND revision = $8",
                &[&encode(key)?, &deletion, &rotation, &expiry, &scope.account, &scope.region, &key.key_id, &revision],
            )
            .await?;
        if updated == 0 {
            Err(StoreError::Conflict)
        } else {
            Ok(())
        }
    }

    async fn update_key_exclusively(&self, scope: &Scope, key_id: &str, change: ChangeKey<'_>) -> Result<Option<KeyRecord>, StoreError> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(backend)?;
            // The row lock queues the other nodes' updates of this key until the commit.
            let row = tx
                .query_opt(
                    "SELECT record, revision FROM keys WHERE account = $1 AND region = $2 AND key_id = $3 FOR UPDATE",
                    &[&scope.account, &scope.region, &key_id],
                )
                .await
                .map_err(backend)?;
            let Some(row) = row else { return Ok(None) };
            let stored = key_row(&row)?;
            let mut changed = stored.clone();
            if !change(&mut changed) {
                return Ok(Some(stored));
            }
            let (deletion, rotation, expiry) = super::due_dates(&changed);
            tx.execute(
                "UPDATE keys SET record = $1, deletion_ms = $2, rotation_ms = $3, expiry_ms = $4, revision = revision + 1
                 WHERE account = $5 AND region = $6 AND key_id = $7",
                &[&encode(&changed)?, &deletion, &rotation, &expiry, &scope.account, &scope.region, &key_id],
            )
            .await
            .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            changed.revision += 1;
            Ok(Some(changed))
        })
        .await
    }

    async fn list_keys(&self, scope: &Scope, after: Option<&str>, n: usize) -> Result<Vec<KeyRecord>, StoreError> {
        timed(async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached("SELECT record, revision FROM keys WHERE account = $1 AND region = $2 AND key_id > $3 ORDER BY key_id LIMIT $4")
                .await
                .map_err(backend)?;
            let rows = client.query(&stmt, &[&scope.account, &scope.region, &after.unwrap_or(""), &limit(n)]).await.map_err(backend)?;
            rows.iter().map(key_row).collect()
        })
        .await
    }

    async fn delete_key(&self, scope: &Scope, key_id: &str) -> Result<bool, StoreError> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(backend)?;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&scope.account, &scope.region, &key_id];
            tx.execute("DELETE FROM aliases WHERE account = $1 AND region = $2 AND key_id = $3", &params).await.map_err(backend)?;
            tx.execute("DELETE FROM grants WHERE account = $1 AND region = $2 AND key_id = $3", &params).await.map_err(backend)?;
            let deleted = tx.execute("DELETE FROM keys WHERE account = $1 AND region = $2 AND key_id = $3", &params).await.map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn keys_due(&self, what: Due, now_ms: i64) -> Result<Vec<(Scope, String)>, StoreError> {
        let sql = format!("SELECT account, region, key_id FROM keys WHERE {column} IS NOT NULL AND {column} <= $1", column = what.column());
        timed(async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(&sql).await.map_err(backend)?;
            let rows = client.query(&stmt, &[&now_ms]).await.map_err(backend)?;
            Ok(rows.iter().map(|r| (Scope { account: r.get(0), region: r.get(1) }, r.get(2))).collect())
        })
        .await
    }

    async fn scan_keys(&self, after: Option<&(Scope, String)>, count: usize) -> Result<Vec<(Scope, KeyRecord)>, StoreError> {
        let (scope, key_id) = after.cloned().unwrap_or_else(|| (Scope { account: String::new(), region: String::new() }, String::new()));
        timed(async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT record, revision, account, region FROM keys WHERE (account, region, key_id) > ($1, $2, $3)
                     ORDER BY account, region, key_id LIMIT $4",
                )
                .await
                .map_err(backend)?;
            let rows = client.query(&stmt, &[&scope.account, &scope.region, &key_id, &limit(count)]).await.map_err(backend)?;
            rows.iter().map(|row| Ok((scope_at(row, 2), key_row(row)?))).collect()
        })
        .await
    }

    async fn reset(&self) -> Result<(), StoreError> {
        timed(async {
            let client = self.client().await?;
            client.batch_execute("TRUNCATE grants, aliases, keys").await.map_err(backend)
        })
        .await
    }

    async fn get_alias(&self, scope: &Scope, name: &str) -> Result<Option<AliasRecord>, StoreError> {
        timed(async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached("SELECT name, key_id, created_ms, updated_ms FROM aliases WHERE account = $1 AND region = $2 AND name = $3")
                .await
                .map_err(backend)?;
            let row = client.query_opt(&stmt, &[&scope.account, &scope.region, &name]).await.map_err(backend)?;
            Ok(row.as_ref().map(alias_row))
        })
        .await
    }

    async fn insert_alias(&self, scope: &Scope, alias: &AliasRecord) -> Result<(), StoreError> {
        timed(async {
            if insert_alias_row(&self.client().await?, scope, alias).await? {
                Ok(())
            } else {
                Err(StoreError::Conflict)
            }
        })
        .await
    }

    async fn retarget_alias(&self, scope: &Scope, name: &str, key_id: &str, updated_ms: i64) -> Result<bool, StoreError> {
        let sql = "UPDATE aliases SET key_id = $1, updated_ms = $2 WHERE account = $3 AND region = $4 AND name = $5";
        Ok(self.execute(sql, &[&key_id, &updated_ms, &scope.account, &scope.region, &name]).await? > 0)
    }

    async fn delete_alias(&self, scope: &Scope, name: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM aliases WHERE account = $1 AND region = $2 AND name = $3";
        Ok(self.execute(sql, &[&scope.account, &scope.region, &name]).await? > 0)
    }

    async fn list_aliases(&self, scope: &Scope, key_id: Option<&str>, after: Option<&str>, n: usize) -> Result<Vec<AliasRecord>, StoreError> {
        timed(async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT name, key_id, created_ms, updated_ms FROM aliases
                     WHERE account = $1 AND region = $2 AND ($3::TEXT IS NULL OR key_id = $3) AND name > $4 ORDER BY name LIMIT $5",
                )
                .await
                .map_err(backend)?;
            let rows = client.query(&stmt, &[&scope.account, &scope.region, &key_id, &after.unwrap_or(""), &limit(n)]).await.map_err(backend)?;
            Ok(rows.iter().map(alias_row).collect())
        })
        .await
    }

    async fn insert_grant(&self, scope: &Scope, grant: &GrantRecord, max_per_key: usize) -> Result<GrantInsert, StoreError> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(backend)?;
            // The key row's lock makes counting, the name check and inserting one step for all nodes.
            let key: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&scope.account, &scope.region, &grant.key_id];
            tx.query_opt("SELECT 1 FROM keys WHERE account = $1 AND region = $2 AND key_id = $3 FOR UPDATE", &key).await.map_err(backend)?;
            if let Some(name) = &grant.name {
                let rows = tx
                    .query(
                        "SELECT record FROM grants WHERE account = $1 AND region = $2 AND key_id = $3 AND name = $4",
                        &[&scope.account, &scope.region, &grant.key_id, name],
                    )
                    .await
                    .map_err(backend)?;
                for row in &rows {
                    let existing: GrantRecord = decode(row.get(0))?;
                    if existing.same_request(grant) {
                        return Ok(GrantInsert::Existing(Box::new(existing)));
                    }
                }
            }
            let count: i64 =
                tx.query_one("SELECT COUNT(*) FROM grants WHERE account = $1 AND region = $2 AND key_id = $3", &key).await.map_err(backend)?.get(0);
            if usize::try_from(count).map_or(true, |count| count >= max_per_key) {
                return Ok(GrantInsert::LimitReached);
            }
            if !insert_grant_row(&tx, scope, grant).await? {
                return Err(StoreError::Conflict);
            }
            tx.commit().await.map_err(backend)?;
            Ok(GrantInsert::Inserted)
        })
        .await
    }

    async fn list_grants(&self, scope: &Scope, key_id: &str, filter: &GrantFilter<'_>, after: Option<&str>, n: usize) -> Result<Vec<GrantRecord>, StoreError> {
        self.records(
            "SELECT record FROM grants
             WHERE account = $1 AND region = $2 AND key_id = $3 AND ($4::TEXT IS NULL OR grant_id = $4)
               AND ($5::TEXT IS NULL OR grantee_principal = $5) AND grant_id > $6
             ORDER BY grant_id LIMIT $7",
            &[&scope.account, &scope.region, &key_id, &filter.grant_id, &filter.grantee_principal, &after.unwrap_or(""), &limit(n)],
        )
        .await
    }

    async fn list_retirable_grants(
        &self,
        scope: &Scope,
        retiring_principal: &str,
        after: Option<(&str, &str)>,
        n: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let (after_key, after_grant) = after.unwrap_or(("", ""));
        self.records(
            "SELECT record FROM grants
             WHERE account = $1 AND region = $2 AND retiring_principal = $3 AND (key_id, grant_id) > ($4, $5)
             ORDER BY key_id, grant_id LIMIT $6",
            &[&scope.account, &scope.region, &retiring_principal, &after_key, &after_grant, &limit(n)],
        )
        .await
    }

    async fn delete_grant(&self, scope: &Scope, key_id: &str, grant_id: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM grants WHERE account = $1 AND region = $2 AND key_id = $3 AND grant_id = $4";
        Ok(self.execute(sql, &[&scope.account, &scope.region, &key_id, &grant_id]).await? > 0)
    }

    // Export and load have no deadline: they take as long as the store is large, and only
    // `trent backup` and `trent restore` call them.

    async fn setting(&self, setting: Setting) -> Result<Option<String>, StoreError> {
        timed(async {
            let client = self.client().await?;
            let row = client.query_opt("SELECT value FROM settings WHERE name = $1", &[&setting.name()]).await.map_err(backend)?;
            Ok(row.map(|row| row.get(0)))
        })
        .await
    }

    async fn swap_setting(&self, setting: Setting, expected: Option<&str>, value: Option<&str>) -> Result<bool, StoreError> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(backend)?;
            // The row may not exist yet: a transaction-scoped advisory lock orders the swaps instead.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETTINGS_LOCK]).await.map_err(backend)?;
            let current: Option<String> =
                tx.query_opt("SELECT value FROM settings WHERE name = $1", &[&setting.name()]).await.map_err(backend)?.map(|row| row.get(0));
            if current.as_deref() != expected {
                return Ok(false);
            }
            match value {
                Some(value) => {
                    tx.execute(
                        "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                        &[&setting.name(), &value],
                    )
                    .await
                }
                None => tx.execute("DELETE FROM settings WHERE name = $1", &[&setting.name()]).await,
            }
            .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn export(&self) -> Result<Vec<Exported>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await.map_err(backend)?;
        // Each query selects the record's columns, then the scope's.
        let mut records = Vec::new();
        for row in tx.query("SELECT record, revision, account, region FROM keys ORDER BY account, region, key_id", &[]).await.map_err(backend)? {
            records.push(Exported::Key { scope: scope_at(&row, 2), record: Box::new(key_row(&row)?) });
        }
        let aliases = "SELECT name, key_id, created_ms, updated_ms, account, region FROM aliases ORDER BY account, region, name";
        for row in tx.query(aliases, &[]).await.map_err(backend)? {
            records.push(Exported::Alias { scope: scope_at(&row, 4), record: alias_row(&row) });
        }
        for row in tx.query("SELECT record, account, region FROM grants ORDER BY account, region, key_id, grant_id", &[]).await.map_err(backend)? {
            records.push(Exported::Grant { scope: scope_at(&row, 1), record: decode(row.get(0))? });
        }
        tx.commit().await.map_err(backend)?;
        Ok(records)
    }

    async fn load(&self, records: Vec<Exported>) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Keeps the store empty between the check and the commit: writers (nodes already running
        // on this database) wait until the restore is complete.
        tx.batch_execute("LOCK TABLE keys, aliases, grants IN EXCLUSIVE MODE").await.map_err(backend)?;
        if tx.query_one(HOLDS_ANYTHING, &[]).await.map_err(backend)?.get::<_, bool>(0) {
            return Err(StoreError::NotEmpty);
        }
        for record in &records {
            let inserted = match record {
                Exported::Key { scope, record } => insert_key_row(&tx, scope, record).await?,
                Exported::Alias { scope, record } => insert_alias_row(&tx, scope, record).await?,
                Exported::Grant { scope, record } => insert_grant_row(&tx, scope, record).await?,
            };
            if !inserted {
                return Err(StoreError::Conflict);
            }
        }
        tx.commit().await.map_err(backend)
    }
}
