//! `trent-party`: a threshold-custody party (see `trent::party`).

#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use trent::party::{self, PartySettings};
use trent::root_key::{Passphrases, RootKeyUri};

/// A threshold-custody party for Trent: it holds one share of each threshold key it helps keep,
/// under its own root key, and signs only what its own policy allows.
#[derive(Parser)]
#[command(name = "trent-party", version = trent::VERSION)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once, at start: the size of the larger variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Make this party's identity (once) and print its fingerprint, for Trent's [[custody.parties]].
    Enroll {
        #[arg(long, env = "TRENT_PARTY_DATA_DIR")]
        data_dir: PathBuf,
        /// The party's name, as keys' trent:custody tags and Trent's config name it.
        #[arg(long, env = "TRENT_PARTY_NAME")]
        name: String,
    },
    /// Dial Trent and serve it until stopped.
    Run {
        #[arg(long, env = "TRENT_PARTY_DATA_DIR")]
        data_dir: PathBuf,
        #[arg(long, env = "TRENT_PARTY_NAME")]
        name: String,
        /// Trent's party listener, HOST:PORT.
        #[arg(long, env = "TRENT_PARTY_TRENT")]
        trent: String,
        /// Trent's identity, as Trent prints it at start (sha256:…).
        #[arg(long, env = "TRENT_PARTY_TRENT_FINGERPRINT")]
        trent_fingerprint: String,
        /// The signing policy (TOML [[rules]] of keys, callers and max_per_minute).
        #[arg(long, env = "TRENT_PARTY_POLICY")]
        policy: PathBuf,
        /// This party's own root key, any provider Trent has [default: file:DATA_DIR/root.key].
        #[arg(long, env = "TRENT_PARTY_ROOT_KEY")]
        root_key: Option<RootKeyUri>,
        #[arg(long, env = "TRENT_ROOT_KEY_PASSPHRASE_FILE")]
        root_key_passphrase_file: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Enroll { data_dir, name } => party::enroll(&data_dir, &name).map(|fingerprint| println!("party {name}: identity {fingerprint}")),
        Command::Run { data_dir, name, trent, trent_fingerprint, policy, root_key, root_key_passphrase_file } => {
            let settings = PartySettings {
                data_dir,
                name,
                trent,
                trent_fingerprint,
                policy,
                root_key,
                passphrases: Passphrases { file: root_key_passphrase_file, new_file: None },
            };
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
                .and_then(|runtime| runtime.block_on(party::run(settings, shutdown())))
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("trent-party: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn shutdown() {
    let _ = tokio::signal::ctrl_c().await;
}
