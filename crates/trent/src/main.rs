use std::path::PathBuf;

// The request path allocates many small buffers (JSON, base64, headers), the pattern mimalloc is
// built for; see bench/README.md for what was measured.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use trent::Settings;

const USAGE: &str = "\
Usage: trent serve [--config FILE] [--listen ADDR] [--data-dir DIR] [--root-key-file FILE] [--store URL] [--test-admin]
       trent migrate --store URL     bring a PostgreSQL store's schema up to date (serve does it too)
       trent backup [--data-dir DIR | --store URL] --output FILE
                                     write all keys, aliases and grants of the store to FILE (- for
                                     stdout), key material still wrapped under the root key
       trent restore [--data-dir DIR | --store URL] --input FILE
                                     load a backup (- for stdin) into an empty store of either type;
                                     serve it with the root key file of the store backed up

  --config FILE          TOML configuration: accounts, users, roles, access keys (env TRENT_CONFIG);
                         without one, only the test/test credentials exist, on loopback addresses
  --listen ADDR          address to listen on (env TRENT_LISTEN, default 127.0.0.1:4599)
  --data-dir DIR         where the database and root key live (env TRENT_DATA_DIR, default ./trent-data)
  --root-key-file FILE   32-byte root key file (env TRENT_ROOT_KEY_FILE, default DIR/root.key, created on first start)
  --store URL            postgres://user:password@host:port/database to share one database between nodes
                         (env TRENT_STORE; needs --root-key-file); default: the embedded store in DIR
  --output FILE          backup: the file to write (mode 0600, replaced only once complete)
  --input FILE           restore: the backup to read
  --test-admin           for tests only: serve POST /_trent/clock/advance and POST /_trent/reset
                         (env TRENT_TEST_ADMIN=1); never in production

Log level: RUST_LOG (default info).";

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let (command, settings) = match parse_args(std::env::args().skip(1).collect()) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("trent: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match command {
        Command::Serve => runtime.block_on(trent::run(settings, shutdown_signal())),
        Command::Migrate => runtime.block_on(migrate(settings)),
        Command::Backup(output) => runtime.block_on(trent::backup::backup(settings, &output)),
        Command::Restore(input) => runtime.block_on(trent::backup::restore(settings, &input)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("trent: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

enum Command {
    Serve,
    Migrate,
    /// To the file named.
    Backup(String),
    /// From the file named.
    Restore(String),
}

async fn migrate(settings: Settings) -> Result<(), String> {
    let url = settings.store.ok_or("migrate needs --store URL (or TRENT_STORE)")?;
    let store = trent::store::PostgresStore::connect(&url).map_err(|e| format!("{e:?}"))?;
    let before = store.migrate(trent::store::POSTGRES_SCHEMA_VERSION).await.map_err(|e| format!("migration failed: {e:?}"))?;
    println!("schema version {before} -> {}", trent::store::POSTGRES_SCHEMA_VERSION);
    Ok(())
}

fn parse_args(args: Vec<String>) -> Result<(Command, Settings), String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut listen = env("TRENT_LISTEN");
    let mut data_dir = env("TRENT_DATA_DIR");
    let mut root_key_file = env("TRENT_ROOT_KEY_FILE");
    let mut config = env("TRENT_CONFIG");
    let mut store = env("TRENT_STORE");
    let mut test_admin = env("TRENT_TEST_ADMIN").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let (mut output, mut input) = (None, None);
    let mut args = args.into_iter();
    let name = match args.next() {
        Some(name) if ["serve", "migrate", "backup", "restore"].contains(&name.as_str()) => name,
        Some(help) if ["--help", "-h", "help"].contains(&help.as_str()) => return Err("Trent, a key management service that speaks the AWS KMS API.".into()),
        Some(other) => return Err(format!("unknown command '{other}'")),
        None => return Err("missing command".into()),
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--config" => config = Some(value()?),
            "--listen" => listen = Some(value()?),
            "--data-dir" => data_dir = Some(value()?),
            "--root-key-file" => root_key_file = Some(value()?),
            "--store" => store = Some(value()?),
            "--output" if name == "backup" => output = Some(value()?),
            "--input" if name == "restore" => input = Some(value()?),
            "--test-admin" => test_admin = true,
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    let command = match name.as_str() {
        "serve" => Command::Serve,
        "migrate" => Command::Migrate,
        "backup" => Command::Backup(output.ok_or("backup needs --output FILE")?),
        _ => Command::Restore(input.ok_or("restore needs --input FILE")?),
    };
    let listen = match listen {
        Some(listen) => Some(listen.parse().map_err(|e| format!("invalid listen address '{listen}': {e}"))?),
        None => None,
    };
    let settings = Settings {
        config: config.map(PathBuf::from),
        listen,
        data_dir: data_dir.map(PathBuf::from),
        root_key_file: root_key_file.map(PathBuf::from),
        test_admin,
        store,
    };
    Ok((command, settings))
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
