//! The embedded store: SQLite in WAL mode with `synchronous=FULL`, so a write is on disk before the
//! response. One connection writes; one reads, so reads are not queued behind an fsync.

use super::{due_dates, AliasRecord, Due, Exported, GrantFilter, GrantInsert, GrantRecord, KeyRecord, Scope, Setting, Store, StoreError, HOLDS_ANYTHING};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{de::DeserializeOwned, Serialize};
use std::path::Path;
use std::sync::{Arc, Mutex};

pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS keys (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    key_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    deletion_ms INTEGER,
    record TEXT NOT NULL,
    PRIMARY KEY (account, region, key_id)
    -- rotation_ms INTEGER, expiry_ms INTEGER: added by `migrate`, for new and older databases alike.
);
CREATE INDEX IF NOT EXISTS keys_deletion ON keys (deletion_ms) WHERE deletion_ms IS NOT NULL;
CREATE TABLE IF NOT EXISTS aliases (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (account, region, name)
);
CREATE INDEX IF NOT EXISTS aliases_key ON aliases (account, region, key_id);
CREATE TABLE IF NOT EXISTS grants (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    key_id TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    grantee_principal TEXT NOT NULL,
    retiring_principal TEXT,
    record TEXT NOT NULL,
    PRIMARY KEY (account, region, key_id, grant_id)
);
CREATE INDEX IF NOT EXISTS grants_retiring ON grants (account, region, retiring_principal, key_id, grant_id)
    WHERE retiring_principal IS NOT NULL;
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let writer = connect(path)?;
        writer.execute_batch(SCHEMA).map_err(backend)?;
        migrate(&writer)?;
        let reader = connect(path)?;
        Ok(SqliteStore { writer: Arc::new(Mutex::new(writer)), reader: Arc::new(Mutex::new(reader)) })
    }

    async fn read<T: Send + 'static>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static) -> Result<T, StoreError> {
        run(self.reader.clone(), |conn| f(conn)).await
    }

    async fn write<T: Send + 'static>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static) -> Result<T, StoreError> {
        run(self.writer.clone(), f).await
    }
}

/// Brings a database made by an older Trent up to `SCHEMA`; each step is skipped once done.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    // `rotation_ms` (the next automatic rotation) came with key rotation, `expiry_ms` (when
    // imported material expires) with imported key material.
    for column in ["rotation_ms", "expiry_ms"] {
        let exists: bool = conn.query_row("SELECT COUNT(*) > 0 FROM pragma_table_info('keys') WHERE name = ?1", [column], |r| r.get(0)).map_err(backend)?;
        if !exists {
            conn.execute_batch(&format!("ALTER TABLE keys ADD COLUMN {column} INTEGER;")).map_err(backend)?;
        }
        let index = column.trim_end_matches("_ms");
        conn.execute_batch(&format!("CREATE INDEX IF NOT EXISTS keys_{index} ON keys ({column}) WHERE {column} IS NOT NULL;")).map_err(backend)?;
    }
    Ok(())
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;").map_err(backend)?;
    Ok(conn)
}

async fn run<T: Send + 'static, F>(conn: Arc<Mutex<Connection>>, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
{
    let started = std::time::Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        let mut guard = conn.lock().map_err(|_| StoreError::Backend("connection lock poisoned".into()))?;
        f(&mut guard)
    })
    .await
    .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))
    .and_then(|result| result);
    crate::metrics::get().store_call("sqlite", started.elapsed(), &result);
    result
}

fn backend(error: rusqlite::Error) -> StoreError {
    StoreError::Backend(error.to_string())
}

fn encode<T: Serialize>(record: &T) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Backend(format!("encode {}: {e}", std::any::type_name::<T>())))
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(format!("decode {}: {e}", std::any::type_name::<T>())))
}

/// Decodes the `record` column of every row a grant query returns.
fn grant_rows(stmt: &mut rusqlite::CachedStatement<'_>, params: impl rusqlite::Params) -> Result<Vec<GrantRecord>, StoreError> {
    let rows = stmt.query_map(params, |r| r.get::<_, String>(0)).map_err(backend)?;
    rows.map(|row| decode(&row.map_err(backend)?)).collect()
}

fn alias_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AliasRecord> {
    Ok(AliasRecord { name: row.get(0)?, key_id: row.get(1)?, created_ms: row.get(2)?, updated_ms: row.get(3)? })
}

/// The scope in a row's columns `at` and `at + 1`.
fn scope_at(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Scope> {
    Ok(Scope { account: row.get(at)?, region: row.get(at + 1)? })
}

/// A key from its `record` and `revision` columns.
fn decode_key((text, revision): (String, i64)) -> Result<KeyRecord, StoreError> {
    let mut key: KeyRecord = decode(&text)?;
    key.revision = revision as u64;
    Ok(key)
}

/// Inserts a key at revision 0; false if its ID is taken.
fn insert_key_row(conn: &Connection, scope: &Scope, key: &KeyRecord) -> Result<bool, StoreError> {
    let (record, (deletion, rotation, expiry)) = (encode(key)?, due_dates(key));
    conn.prepare_cached(
        "INSERT INTO keys (account, region, key_id, revision, deletion_ms, rotation_ms, expiry_ms, record) VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, ?7)
         ON CONFLICT DO NOTHING",
    )
    .and_then(|mut stmt| stmt.execute(params![scope.account, scope.region, key.key_id, deletion, rotation, expiry, record]))
    .map(|n| n > 0)
    .map_err(backend)
}

/// False if the alias name is taken.
fn insert_alias_row(conn: &Connection, scope: &Scope, alias: &AliasRecord) -> Result<bool, StoreError> {
    conn.prepare_cached(
        "INSERT INTO aliases (account, region, name, key_id, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT DO NOTHING",
    )
    .and_then(|mut stmt| stmt.execute(params![scope.account, scope.region, alias.name, alias.key_id, alias.created_ms, alias.updated_ms]))
    .map(|n| n > 0)
    .map_err(backend)
}

/// Inserts a grant without any check; false if its ID is taken.
fn insert_grant_row(conn: &Connection, scope: &Scope, grant: &GrantRecord) -> Result<bool, StoreError> {
    let record = encode(grant)?;
    conn.prepare_cached(
        "INSERT INTO grants (account, region, key_id, grant_id, grantee_principal, retiring_principal, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![scope.account, scope.region, grant.key_id, grant.grant_id, grant.grantee_principal, grant.retiring_principal, record])
    })
    .map(|n| n > 0)
    .map_err(backend)
}

#[async_trait]
impl Store for SqliteStore {
    async fn get_key(&self, scope: &Scope, key_id: &str) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        let (scope, key_id) = (scope.clone(), key_id.to_owned());
        self.read(move |conn| {
            let row: Option<(String, i64)> = conn
                .prepare_cached("SELECT record, revision FROM keys WHERE account = ?1 AND region = ?2 AND key_id = ?3")
                .and_then(|mut stmt| stmt.query_row(params![scope.account, scope.region, key_id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
                .map_err(backend)?;
            Ok(row.map(decode_key).transpose()?.map(Arc::new))
        })
        .await
    }

    async fn insert_key(&self, scope: &Scope, key: &KeyRecord) -> Result<(), StoreError> {
        let (scope, key) = (scope.clone(), key.clone());
        self.write(move |conn| if insert_key_row(conn, &scope, &key)? { Ok(()) } else { Err(StoreError::Conflict) }).await
    }

    async fn update_key(&self, scope: &Scope, key: &KeyRecord) -> Result<(), StoreError> {
        let (scope, record, key_id) = (scope.clone(), encode(key)?, key.key_id.clone());
        let (deletion, rotation, expiry) = due_dates(key);
        let revision = key.revision as i64;
        self.write(move |conn| {
            let updated = conn
                .execute(
                    "UPDATE keys SET record = ?1, deletion_ms = ?2, rotation_ms = ?3, expiry_ms = ?4, revision = revision + 1
                     WHERE account = ?5 AND region = ?6 AND key_id = ?7 AND revision = ?8",
                    params![record, deletion, rotation, expiry, scope.account, scope.region, key_id, revision],
                )
                .map_err(backend)?;
            if updated == 0 {
                Err(StoreError::Conflict)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn list_keys(&self, scope: &Scope, after: Option<&str>, limit: usize) -> Result<Vec<KeyRecord>, StoreError> {
        let (scope, after) = (scope.clone(), after.unwrap_or("").to_owned());
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT record, revision FROM keys WHERE account = ?1 AND region = ?2 AND key_id > ?3 ORDER BY key_id LIMIT ?4")
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![scope.account, scope.region, after, limit as i64], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(backend)?;
            rows.map(|row| decode_key(row.map_err(backend)?)).collect()
        })
        .await
    }

    async fn delete_key(&self, scope: &Scope, key_id: &str) -> Result<bool, StoreError> {
        let (scope, key_id) = (scope.clone(), key_id.to_owned());
        self.write(move |conn| {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute("DELETE FROM aliases WHERE account = ?1 AND region = ?2 AND key_id = ?3", params![scope.account, scope.region, key_id])
                .map_err(backend)?;
            tx.execute("DELETE FROM grants WHERE account = ?1 AND region = ?2 AND key_id = ?3", params![scope.account, scope.region, key_id])
                .map_err(backend)?;
            let deleted = tx
                .execute("DELETE FROM keys WHERE account = ?1 AND region = ?2 AND key_id = ?3", params![scope.account, scope.region, key_id])
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn keys_due(&self, what: Due, now_ms: i64) -> Result<Vec<(Scope, String)>, StoreError> {
        let sql = format!("SELECT account, region, key_id FROM keys WHERE {column} IS NOT NULL AND {column} <= ?1", column = what.column());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
            let rows = stmt.query_map(params![now_ms], |r| Ok((Scope { account: r.get(0)?, region: r.get(1)? }, r.get(2)?))).map_err(backend)?;
            rows.map(|r| r.map_err(backend)).collect()
        })
        .await
    }

    async fn scan_keys(&self, after: Option<&(Scope, String)>, limit: usize) -> Result<Vec<(Scope, KeyRecord)>, StoreError> {
        let (scope, key_id) = after.cloned().unwrap_or_else(|| (Scope { account: String::new(), region: String::new() }, String::new()));
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT account, region, record, revision FROM keys WHERE (account, region, key_id) > (?1, ?2, ?3)
                     ORDER BY account, region, key_id LIMIT ?4",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![scope.account, scope.region, key_id, limit as i64], |r| Ok((scope_at(r, 0)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?)))
                .map_err(backend)?;
            rows.map(|row| {
                let (scope, record, revision) = row.map_err(backend)?;
                Ok((scope, decode_key((record, revision))?))
            })
            .collect()
        })
        .await
    }

    async fn reset(&self) -> Result<(), StoreError> {
        self.write(|conn| {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute_batch("DELETE FROM grants; DELETE FROM aliases; DELETE FROM keys;").map_err(backend)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn get_alias(&self, scope: &Scope, name: &str) -> Result<Option<AliasRecord>, StoreError> {
        let (scope, name) = (scope.clone(), name.to_owned());
        self.read(move |conn| {
            conn.prepare_cached("SELECT name, key_id, created_ms, updated_ms FROM aliases WHERE account = ?1 AND region = ?2 AND name = ?3")
                .and_then(|mut stmt| stmt.query_row(params![scope.account, scope.region, name], alias_row).optional())
                .map_err(backend)
        })
        .await
    }

    async fn insert_alias(&self, scope: &Scope, alias: &AliasRecord) -> Result<(), StoreError> {
        let (scope, alias) = (scope.clone(), alias.clone());
        self.write(move |conn| if insert_alias_row(conn, &scope, &alias)? { Ok(()) } else { Err(StoreError::Conflict) }).await
    }

    async fn retarget_alias(&self, scope: &Scope, name: &str, key_id: &str, updated_ms: i64) -> Result<bool, StoreError> {
        let (scope, name, key_id) = (scope.clone(), name.to_owned(), key_id.to_owned());
        self.write(move |conn| {
            conn.execute(
                "UPDATE aliases SET key_id = ?1, updated_ms = ?2 WHERE account = ?3 AND region = ?4 AND name = ?5",
                params![key_id, updated_ms, scope.account, scope.region, name],
            )
            .map(|n| n > 0)
            .map_err(backend)
        })
        .await
    }

    async fn delete_alias(&self, scope: &Scope, name: &str) -> Result<bool, StoreError> {
        let (scope, name) = (scope.clone(), name.to_owned());
        self.write(move |conn| {
            conn.execute("DELETE FROM aliases WHERE account = ?1 AND region = ?2 AND name = ?3", params![scope.account, scope.region, name])
                .map(|n| n > 0)
                .map_err(backend)
        })
        .await
    }

    async fn list_aliases(&self, scope: &Scope, key_id: Option<&str>, after: Option<&str>, limit: usize) -> Result<Vec<AliasRecord>, StoreError> {
        let (scope, key_id, after) = (scope.clone(), key_id.map(str::to_owned), after.unwrap_or("").to_owned());
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT name, key_id, created_ms, updated_ms FROM aliases
                     WHERE account = ?1 AND region = ?2 AND (?3 IS NULL OR key_id = ?3) AND name > ?4 ORDER BY name LIMIT ?5",
                )
                .map_err(backend)?;
            let rows = stmt.query_map(params![scope.account, scope.region, key_id, after, limit as i64], alias_row).map_err(backend)?;
            rows.map(|r| r.map_err(backend)).collect()
        })
        .await
    }

    async fn insert_grant(&self, scope: &Scope, grant: &GrantRecord, max_per_key: usize) -> Result<GrantInsert, StoreError> {
        let (scope, grant) = (scope.clone(), grant.clone());
        self.write(move |conn| {
            // IMMEDIATE takes the write lock before checking, so another process sharing the
            // database cannot add a grant between the checks and the insert.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            if let Some(name) = &grant.name {
                let mut stmt = tx
                    .prepare_cached("SELECT record FROM grants WHERE account = ?1 AND region = ?2 AND key_id = ?3 AND json_extract(record, '$.name') = ?4")
                    .map_err(backend)?;
                let named = grant_rows(&mut stmt, params![scope.account, scope.region, grant.key_id, name])?;
                if let Some(existing) = named.into_iter().find(|existing| existing.same_request(&grant)) {
                    return Ok(GrantInsert::Existing(Box::new(existing)));
                }
            }
            let count: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM grants WHERE account = ?1 AND region = ?2 AND key_id = ?3",
                    params![scope.account, scope.region, grant.key_id],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            if usize::try_from(count).map_or(true, |count| count >= max_per_key) {
                return Ok(GrantInsert::LimitReached);
            }
            if !insert_grant_row(&tx, &scope, &grant)? {
                return Err(StoreError::Conflict);
            }
            tx.commit().map_err(backend)?;
            Ok(GrantInsert::Inserted)
        })
        .await
    }

    async fn list_grants(
        &self,
        scope: &Scope,
        key_id: &str,
        filter: &GrantFilter<'_>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let (scope, key_id, after) = (scope.clone(), key_id.to_owned(), after.unwrap_or("").to_owned());
        let (grant_id, grantee) = (filter.grant_id.map(str::to_owned), filter.grantee_principal.map(str::to_owned));
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT record FROM grants
                     WHERE account = ?1 AND region = ?2 AND key_id = ?3 AND (?4 IS NULL OR grant_id = ?4)
                       AND (?5 IS NULL OR grantee_principal = ?5) AND grant_id > ?6
                     ORDER BY grant_id LIMIT ?7",
                )
                .map_err(backend)?;
            grant_rows(&mut stmt, params![scope.account, scope.region, key_id, grant_id, grantee, after, limit as i64])
        })
        .await
    }

    async fn list_retirable_grants(
        &self,
        scope: &Scope,
        retiring_principal: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let (scope, retiring_principal) = (scope.clone(), retiring_principal.to_owned());
        let (after_key, after_grant) = after.map_or((String::new(), String::new()), |(k, g)| (k.to_owned(), g.to_owned()));
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT record FROM grants
                     WHERE account = ?1 AND region = ?2 AND retiring_principal = ?3 AND (key_id, grant_id) > (?4, ?5)
                     ORDER BY key_id, grant_id LIMIT ?6",
                )
                .map_err(backend)?;
            grant_rows(&mut stmt, params![scope.account, scope.region, retiring_principal, after_key, after_grant, limit as i64])
        })
        .await
    }

    async fn delete_grant(&self, scope: &Scope, key_id: &str, grant_id: &str) -> Result<bool, StoreError> {
        let (scope, key_id, grant_id) = (scope.clone(), key_id.to_owned(), grant_id.to_owned());
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM grants WHERE account = ?1 AND region = ?2 AND key_id = ?3 AND grant_id = ?4",
                params![scope.account, scope.region, key_id, grant_id],
            )
            .map(|n| n > 0)
            .map_err(backend)
        })
        .await
    }

    async fn setting(&self, setting: Setting) -> Result<Option<String>, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached("SELECT value FROM settings WHERE name = ?1")
                .and_then(|mut stmt| stmt.query_row([setting.name()], |r| r.get(0)).optional())
                .map_err(backend)
        })
        .await
    }

    async fn swap_setting(&self, setting: Setting, expected: Option<&str>, value: Option<&str>) -> Result<bool, StoreError> {
        let (expected, value) = (expected.map(str::to_owned), value.map(str::to_owned));
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let current: Option<String> =
                tx.query_row("SELECT value FROM settings WHERE name = ?1", [setting.name()], |r| r.get(0)).optional().map_err(backend)?;
            if current != expected {
                return Ok(false);
            }
            match value {
                Some(value) => tx.execute("INSERT OR REPLACE INTO settings (name, value) VALUES (?1, ?2)", params![setting.name(), value]),
                None => tx.execute("DELETE FROM settings WHERE name = ?1", [setting.name()]),
            }
            .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn export(&self) -> Result<Vec<Exported>, StoreError> {
        run(self.reader.clone(), |conn| {
            // In WAL mode one read transaction sees one snapshot, whatever is written meanwhile.
            let tx = conn.transaction().map_err(backend)?;
            // Each query selects the record's columns, then the scope's.
            let mut records = Vec::new();
            let mut stmt = tx.prepare("SELECT record, revision, account, region FROM keys ORDER BY account, region, key_id").map_err(backend)?;
            for row in stmt.query_map([], |r| Ok((scope_at(r, 2)?, (r.get(0)?, r.get(1)?)))).map_err(backend)? {
                let (scope, key) = row.map_err(backend)?;
                records.push(Exported::Key { scope, record: Box::new(decode_key(key)?) });
            }
            let mut stmt =
                tx.prepare("SELECT name, key_id, created_ms, updated_ms, account, region FROM aliases ORDER BY account, region, name").map_err(backend)?;
            for row in stmt.query_map([], |r| Ok(Exported::Alias { scope: scope_at(r, 4)?, record: alias_row(r)? })).map_err(backend)? {
                records.push(row.map_err(backend)?);
            }
            let mut stmt = tx.prepare("SELECT record, account, region FROM grants ORDER BY account, region, key_id, grant_id").map_err(backend)?;
            for row in stmt.query_map([], |r| Ok((scope_at(r, 1)?, r.get::<_, String>(0)?))).map_err(backend)? {
                let (scope, text) = row.map_err(backend)?;
                records.push(Exported::Grant { scope, record: decode(&text)? });
            }
            Ok(records)
        })
        .await
    }

    async fn load(&self, records: Vec<Exported>) -> Result<(), StoreError> {
        self.write(move |conn| {
            // IMMEDIATE: the store cannot gain a record between the check and the commit.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            if tx.query_row(HOLDS_ANYTHING, [], |r| r.get::<_, bool>(0)).map_err(backend)? {
                return Err(StoreError::NotEmpty);
            }
            for record in &records {
                let inserted = match record {
                    Exported::Key { scope, record } => insert_key_row(&tx, scope, record)?,
                    Exported::Alias { scope, record } => insert_alias_row(&tx, scope, record)?,
                    Exported::Grant { scope, record } => insert_grant_row(&tx, scope, record)?,
                };
                if !inserted {
                    return Err(StoreError::Conflict);
                }
            }
            tx.commit().map_err(backend)
        })
        .await
    }
}
