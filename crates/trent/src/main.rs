#![forbid(unsafe_code)]
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

// The request path allocates many small buffers (JSON, base64, headers), the pattern mimalloc is
// built for; see bench/README.md for what was measured.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use trent::root_key::{Passphrases, RootKeyUri};
use trent::Settings;

/// Trent, a key management service that speaks the AWS KMS API.
///
/// Log level: RUST_LOG (default info). Every flag can also be given by the environment variable
/// named in its help, and most in the config file.
#[derive(Parser)]
#[command(name = "trent", version = trent::VERSION)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the AWS KMS API.
    Serve(ServeArgs),
    /// Bring a PostgreSQL store's schema up to date (serve does it too).
    Migrate {
        /// postgres://user:password@host:port/database
        #[arg(long, env = "TRENT_STORE")]
        store: String,
    },
    /// Write all keys, aliases and grants of the store to a file, key material still wrapped under
    /// the root key.
    Backup {
        #[command(flatten)]
        store: StoreArgs,
        /// The file to write (mode 0600, replaced only once complete); - for standard output.
        #[arg(long)]
        output: String,
    },
    /// Load a backup into an empty store of either type; serve it with the root key file of the
    /// store backed up.
    Restore {
        #[command(flatten)]
        store: StoreArgs,
        /// The backup to read; - for standard input.
        #[arg(long)]
        input: String,
    },
    /// Check a config file without starting: its syntax, accounts, policies, store URL and seed
    /// keys (made in a throwaway store). Exit 0 with a summary, else 1 naming the problem.
    CheckConfig {
        /// The TOML configuration file.
        file: PathBuf,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Make, convert and rotate the root key (URIs: file:PATH, passphrase:PATH,
    /// pkcs11:PATH?module=LIB&token=LABEL&key=LABEL, kms:PATH?key=KEY&region=R&endpoint=URL).
    RootKey {
        #[command(subcommand)]
        command: RootKeyCommand,
    },
}

#[derive(Subcommand)]
enum RootKeyCommand {
    /// Make a new root key in the form URI names (its file must not exist).
    Init {
        #[arg(long)]
        to: RootKeyUri,
        /// For pkcs11: first make the HSM's AES key that seals the root key.
        #[arg(long)]
        create_hsm_key: bool,
        #[command(flatten)]
        passphrases: PassphraseArgs,
    },
    /// Write the same root key in another form (e.g. a plain file into PKCS#11), touching no
    /// store. The old form is left for you to destroy.
    Convert {
        #[arg(long)]
        from: RootKeyUri,
        #[arg(long)]
        to: RootKeyUri,
        #[command(flatten)]
        passphrases: PassphraseArgs,
    },
    /// Rotate the store to a new root key (made at --to if absent, else read from there: the way
    /// to resume an interrupted rotation), rewrapping every key while nodes keep serving.
    Rotate {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        to: RootKeyUri,
        /// Keys rewrapped between two notes of progress in the store.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Where the new key's passphrase comes from (after TRENT_NEW_ROOT_KEY_PASSPHRASE).
        #[arg(long, env = "TRENT_NEW_ROOT_KEY_PASSPHRASE_FILE")]
        new_root_key_passphrase_file: Option<PathBuf>,
    },
}

/// Where passphrases come from, after the environment (TRENT_ROOT_KEY_PASSPHRASE,
/// TRENT_NEW_ROOT_KEY_PASSPHRASE) and before a prompt on the terminal.
#[derive(Args)]
struct PassphraseArgs {
    /// The passphrase of the root key read.
    #[arg(long, env = "TRENT_ROOT_KEY_PASSPHRASE_FILE")]
    root_key_passphrase_file: Option<PathBuf>,
    /// The passphrase of the root key written.
    #[arg(long, env = "TRENT_NEW_ROOT_KEY_PASSPHRASE_FILE")]
    new_root_key_passphrase_file: Option<PathBuf>,
}

impl PassphraseArgs {
    fn passphrases(self) -> Passphrases {
        Passphrases { file: self.root_key_passphrase_file, new_file: self.new_root_key_passphrase_file }
    }
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of audit log files, given oldest first (PATH.2 PATH.1 PATH): exit 0 if
    /// intact, 1 naming the first line changed, removed or reordered.
    Verify {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Where the store is: shared by serve, backup and restore.
#[derive(Args)]
struct StoreArgs {
    /// TOML configuration: accounts, users, roles, access keys, audit log; without one, only the
    /// test/test credentials exist, on loopback addresses.
    #[arg(long, env = "TRENT_CONFIG")]
    config: Option<PathBuf>,
    /// Where the database and root key live [default: ./trent-data].
    #[arg(long, env = "TRENT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The root key: file:PATH, passphrase:PATH, pkcs11:PATH?module=LIB&token=LABEL&key=LABEL or
    /// kms:PATH?key=KEY&region=R&endpoint=URL [default: file:DATA_DIR/root.key, created on first start].
    #[arg(long, env = "TRENT_ROOT_KEY", conflicts_with = "root_key_file")]
    root_key: Option<RootKeyUri>,
    /// Short for --root-key file:PATH.
    #[arg(long, env = "TRENT_ROOT_KEY_FILE")]
    root_key_file: Option<PathBuf>,
    /// The root key's passphrase, for passphrase: (after TRENT_ROOT_KEY_PASSPHRASE; else asked on
    /// the terminal).
    #[arg(long, env = "TRENT_ROOT_KEY_PASSPHRASE_FILE")]
    root_key_passphrase_file: Option<PathBuf>,
    /// postgres://user:password@host:port/database to share one database between nodes (needs
    /// --root-key); TLS as libpq: ?sslmode=verify-full&sslrootcert=CA.pem [default: the
    /// embedded store in DATA_DIR].
    #[arg(long, env = "TRENT_STORE")]
    store: Option<String>,
}

/// A flag given twice (or by its environment variable and on the command line) takes the last.
#[derive(Args)]
#[command(args_override_self = true)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address of the KMS API [default: 127.0.0.1:4599].
    #[arg(long, env = "TRENT_LISTEN")]
    listen: Option<SocketAddr>,
    /// Address of the admin listener: /metrics, /health/live, /health/ready [default: 127.0.0.1:4598].
    #[arg(long, env = "TRENT_ADMIN_LISTEN")]
    admin_listen: Option<SocketAddr>,
    /// Where threshold-custody parties dial in (mutual TLS), as [custody] listen.
    #[arg(long, env = "TRENT_PARTY_LISTEN")]
    party_listen: Option<SocketAddr>,
    /// The audit log: one JSON line per request and background event; - for standard output.
    #[arg(long, env = "TRENT_AUDIT_LOG")]
    audit_log: Option<PathBuf>,
    /// Serve the KMS API over TLS with this certificate chain (PEM, leaf first); reloaded on SIGHUP.
    #[arg(long, env = "TRENT_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, env = "TRENT_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// For tests only: serve POST /_trent/clock/advance and POST /_trent/reset. Never in production.
    #[arg(long, env = "TRENT_TEST_ADMIN", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0, default_missing_value = "true")]
    test_admin: bool,
}

impl StoreArgs {
    fn settings(self) -> Settings {
        Settings {
            config: self.config,
            data_dir: self.data_dir,
            root_key: self.root_key.or(self.root_key_file.map(RootKeyUri::File)),
            passphrases: Passphrases { file: self.root_key_passphrase_file, new_file: None },
            store: self.store,
            ..Settings::default()
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("trent: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => {
            let settings = Settings {
                listen: args.listen,
                admin_listen: args.admin_listen,
                audit_log: args.audit_log,
                party_listen: args.party_listen,
                tls_cert: args.tls_cert,
                tls_key: args.tls_key,
                test_admin: args.test_admin,
                ..args.store.settings()
            };
            runtime.block_on(trent::run(settings, shutdown_signal()))
        }
        Command::Migrate { store } => runtime.block_on(migrate(store)),
        Command::Backup { store, output } => runtime.block_on(trent::backup::backup(store.settings(), &output)),
        Command::Restore { store, input } => runtime.block_on(trent::backup::restore(store.settings(), &input)),
        Command::CheckConfig { file } => runtime.block_on(trent::check_config::check(&file)).map(|summary| println!("{summary}")),
        Command::Audit { command: AuditCommand::Verify { files } } => trent::audit::verify_files(&files),
        Command::RootKey { command } => runtime.block_on(root_key(command)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("trent: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn migrate(url: String) -> Result<(), String> {
    let store = trent::store::PostgresStore::connect(&url).map_err(|e| format!("{e:?}"))?;
    let before = store.migrate(trent::store::POSTGRES_SCHEMA_VERSION).await.map_err(|e| format!("migration failed: {e:?}"))?;
    println!("schema version {before} -> {}", trent::store::POSTGRES_SCHEMA_VERSION);
    Ok(())
}

async fn root_key(command: RootKeyCommand) -> Result<(), String> {
    match command {
        RootKeyCommand::Init { to, create_hsm_key, passphrases } => {
            to.prepare(create_hsm_key)?;
            let key = trent_crypto::root::RootKey::generate().map_err(|e| format!("cannot generate a root key: {e:?}"))?;
            to.seal(&key, &passphrases.passphrases()).await?;
            println!("root key {} written to {}", key.id(), to.path().display());
        }
        RootKeyCommand::Convert { from, to, passphrases } => {
            let passphrases = passphrases.passphrases();
            let key = from.open(&passphrases).await?;
            to.seal(&key, &passphrases).await?;
            println!(
                "root key {} written to {}; {} is left as it was: destroy it once the new form works",
                key.id(),
                to.path().display(),
                from.path().display()
            );
        }
        RootKeyCommand::Rotate { store, to, batch, new_root_key_passphrase_file } => {
            let mut settings = store.settings();
            settings.passphrases.new_file = new_root_key_passphrase_file;
            let config = settings.load_config()?;
            let (data_dir, url) = settings.store_location(&config);
            // The default root key is the data directory's, which must exist by now.
            let from = trent::root_key::configured(settings.root_key.as_ref(), &config)?
                .unwrap_or_else(|| RootKeyUri::File(data_dir.join(trent::root_key::ROOT_KEY_FILE)));
            let from = from.open(&settings.passphrases).await?;
            let store = trent::open_store(url.as_deref(), &data_dir).await?;
            let mut progress = |line: String| {
                println!("{line}");
                use std::io::Write as _;
                std::io::stdout().flush().ok();
            };
            trent::root_key::rotate::rotate(store.as_ref(), from, &to, &settings.passphrases, batch.max(1), &mut progress).await?;
        }
    }
    Ok(())
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
