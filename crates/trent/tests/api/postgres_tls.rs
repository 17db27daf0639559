//! PostgreSQL over TLS: the store URL's `sslmode` and `sslrootcert`, against the test PostgreSQL
//! that takes TLS connections only (`scripts/postgres start-tls`, which `scripts/test` starts:
//! `TRENT_TEST_POSTGRES_TLS` is its base URL, `TRENT_TEST_POSTGRES_TLS_CA` the CA its certificate
//! for 127.0.0.1 and localhost is signed by). Whatever `TRENT_TEST_STORE` says; run once.

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;
use crate::tls::TestCa;

/// The test PostgreSQL that takes TLS connections only.
struct TlsPostgres {
    /// `postgres://trent@127.0.0.1:PORT`
    base: String,
    ca: PathBuf,
}

impl TlsPostgres {
    /// None (the test is skipped) without one, as `new_database`; `scripts/postgres start-tls`
    /// starts one.
    fn get() -> Option<TlsPostgres> {
        Some(TlsPostgres {
            base: postgres_base("TRENT_TEST_POSTGRES_TLS")?,
            ca: PathBuf::from(postgres_base("TRENT_TEST_POSTGRES_TLS_CA")?),
        })
    }

    /// A new database: `postgres://trent@127.0.0.1:PORT/NAME`, to append `?sslmode=…` to.
    fn new_database(&self) -> String {
        new_database_on(&self.base, "?sslmode=require")
    }

    /// `sslmode=MODE&sslrootcert=` the test CA.
    fn verified(&self, mode: &str) -> String {
        format!("sslmode={mode}&sslrootcert={}", self.ca.display())
    }

    /// Runs `query` in `database` (a URL from `new_database`) with psql; its output.
    fn psql(&self, database: &str, query: &str) -> String {
        let output = Command::new("psql")
            .args(["--no-psqlrc", "--tuples-only", "--no-align", "--dbname"])
            .arg(format!("{database}?sslmode=require"))
            .args(["--command", query])
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

/// `trent serve --store URL` refusing to start: what it printed.
fn refused_store(url: &str) -> String {
    let key_dir = Server::new_root();
    std::fs::create_dir_all(&key_dir).expect("create the key dir");
    let args = shared_store_args(&key_dir, url);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, stderr) = refused_start(&args);
    std::fs::remove_dir_all(&key_dir).expect("remove the key dir");
    assert!(!status.success(), "{url}: {status}");
    stderr
}

#[tokio::test]
async fn nodes_on_postgres_over_tls_with_verify_full_share_their_keys() {
    let Some(pg) = TlsPostgres::get() else {
        return;
    };
    let database = pg.new_database();
    let cluster = Cluster::start_on(
        &format!("{database}?{}", pg.verified("verify-full")),
        2,
        false,
    );
    let [a, b] = <[_; 2]>::try_from(cluster.clients()).expect("two clients");
    let key = create_key(&a).await.key_id;
    let blob = encrypt(&a, &key, b"through TLS").await;
    assert_eq!(decrypt(&b, &blob).await, b"through TLS");
    assert_eq!(describe(&b, &key).await.key_id(), key);
    let through_b = encrypt(&b, &key, b"and back").await;
    assert_eq!(decrypt(&a, &through_b).await, b"and back");

    // Every connection the nodes hold is encrypted (the server would refuse any other, too).
    let name = database.rsplit('/').next().expect("a database name");
    let connections = pg.psql(
        &database,
        &format!(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'trent' AND a.datname = '{name}'"
        ),
    );
    let (encrypted, all) = connections.split_once('|').expect("two counts");
    assert!(all != "0", "no connection of Trent's: {connections}");
    assert_eq!(encrypted, all, "encrypted | all: {connections}");
}

#[tokio::test]
async fn require_encrypts_without_a_ca_and_disable_meets_a_server_that_wants_tls() {
    let Some(pg) = TlsPostgres::get() else {
        return;
    };
    let database = pg.new_database();
    let key_dir = Server::new_root();
    std::fs::create_dir_all(&key_dir).expect("create the key dir");
    let required = Server::start_node(&key_dir, &format!("{database}?sslmode=require"), &[]);
    // Without sslmode: libpq's default, prefer, which takes TLS when the server offers it.
    let preferred = Server::start_node(&key_dir, &database, &[]);
    let (a, b) = (required.client(REGION), preferred.client(REGION));
    let key = create_key(&a).await.key_id;
    let blob = encrypt(&a, &key, b"encrypted, unverified").await;
    assert_eq!(decrypt(&b, &blob).await, b"encrypted, unverified");

    // What worked above was TLS: without it this server lets no one in.
    let stderr = refused_store(&format!("{database}?sslmode=disable"));
    assert!(stderr.contains("no encryption"), "{stderr}");
    drop((required, preferred));
    std::fs::remove_dir_all(&key_dir).expect("remove the key dir");
}

#[tokio::test]
async fn a_wrong_ca_a_wrong_host_or_a_bad_parameter_is_refused_at_start() {
    let Some(pg) = TlsPostgres::get() else {
        return;
    };
    let database = pg.new_database();
    // With a password in the URL, which no message may show.
    let with_password = database.replacen("trent@", "trent:not-to-be-printed@", 1);

    let dir = Server::new_root();
    std::fs::create_dir_all(&dir).expect("create the test dir");
    let other = TestCa::new(&dir, "other").path("ca.pem");
    let stderr = refused_store(&format!(
        "{with_password}?sslmode=verify-full&sslrootcert={}",
        other.display()
    ));
    assert!(
        stderr.contains(&format!(
            "the PostgreSQL server's certificate is not signed by a CA of sslrootcert {}",
            other.display()
        )) && stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-to-be-printed"), "{stderr}");
    // verify-ca trusts that CA no more.
    let stderr = refused_store(&format!(
        "{database}?sslmode=verify-ca&sslrootcert={}",
        other.display()
    ));
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    std::fs::remove_dir_all(&dir).expect("remove the test dir");

    // A host name the certificate does not give (the server's address given apart): verify-full
    // refuses it, verify-ca checks the chain only.
    let misnamed = database.replacen("127.0.0.1", "db.invalid", 1);
    let stderr = refused_store(&format!(
        "{misnamed}?hostaddr=127.0.0.1&{}",
        pg.verified("verify-full")
    ));
    assert!(
        stderr.contains(
            "the PostgreSQL server's certificate is not for db.invalid (sslmode=verify-full)"
        ),
        "{stderr}"
    );
    let cluster = Cluster::start_on(
        &format!("{misnamed}?hostaddr=127.0.0.1&{}", pg.verified("verify-ca")),
        1,
        false,
    );
    create_key(&cluster.nodes[0].client(REGION)).await;

    for (query, expected) in [
        (
            "sslmode=verify_full".to_owned(),
            "sslmode 'verify_full' is not one of disable, prefer, require, verify-ca, verify-full",
        ),
        (
            "sslmode=verify-full".to_owned(),
            "sslmode=verify-ca and sslmode=verify-full need sslrootcert=FILE",
        ),
        (
            "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem".to_owned(),
            "sslrootcert /nonexistent/ca.pem: ",
        ),
    ] {
        let stderr = refused_store(&format!("{with_password}?{query}"));
        assert!(
            stderr.contains("invalid PostgreSQL URL: ") && stderr.contains(expected),
            "{query}: {stderr}"
        );
        assert!(!stderr.contains("not-to-be-printed"), "{stderr}");
    }
}
