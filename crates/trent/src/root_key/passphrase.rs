//! `passphrase:PATH`: the root key sealed (AES-256-GCM) under a key derived from a passphrase with
//! Argon2id; the parameters and salt are in the file.

use super::sealed::{Argon2Params, Seal, SealedFile};
use std::path::{Path, PathBuf};
use trent_crypto::root::RootKey;
use trent_crypto::symmetric::AeadKey;
use trent_crypto::KeyMaterial;
use zeroize::Zeroizing;

/// RFC 9106's second recommended choice (64 MiB, 3 passes), with one lane: a node has few cores.
const COST: Argon2Params = Argon2Params { memory_kib: 64 * 1024, passes: 3, lanes: 1 };
/// What a file may ask for: more would let a damaged file exhaust the machine.
const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
const MAX_PASSES: u32 = 64;
const MAX_LANES: u32 = 16;
const SALT_LEN: usize = 16;
const MIN_PASSPHRASE_LEN: usize = 8;

/// Where passphrases come from: the environment, a file, else a prompt on the terminal.
#[derive(Clone, Debug, Default)]
pub struct Passphrases {
    /// `--root-key-passphrase-file`: opens the root key (after `TRENT_ROOT_KEY_PASSPHRASE`).
    pub file: Option<PathBuf>,
    /// `--new-root-key-passphrase-file`: seals a new form (after `TRENT_NEW_ROOT_KEY_PASSPHRASE`).
    pub new_file: Option<PathBuf>,
}

impl Passphrases {
    fn current(&self, path: &Path) -> Result<Zeroizing<String>, String> {
        read("TRENT_ROOT_KEY_PASSPHRASE", self.file.as_deref(), &format!("Passphrase of root key {}: ", path.display()), false)
    }

    fn new_one(&self, path: &Path) -> Result<Zeroizing<String>, String> {
        let passphrase = read("TRENT_NEW_ROOT_KEY_PASSPHRASE", self.new_file.as_deref(), &format!("New passphrase for root key {}: ", path.display()), true)?;
        if passphrase.chars().count() < MIN_PASSPHRASE_LEN {
            return Err(format!("the new passphrase is too short: at least {MIN_PASSPHRASE_LEN} characters"));
        }
        Ok(passphrase)
    }
}

fn read(env: &str, file: Option<&Path>, prompt: &str, confirm: bool) -> Result<Zeroizing<String>, String> {
    if let Ok(passphrase) = std::env::var(env) {
        return Ok(Zeroizing::new(passphrase));
    }
    if let Some(file) = file {
        let text = Zeroizing::new(std::fs::read_to_string(file).map_err(|e| format!("cannot read passphrase file {}: {e}", file.display()))?);
        return Ok(Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned()));
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(format!("a passphrase is needed: set {env}, give a passphrase file, or run on a terminal to be asked"));
    }
    let passphrase = Zeroizing::new(rpassword::prompt_password(prompt).map_err(|e| format!("cannot read the passphrase: {e}"))?);
    if confirm {
        let again = Zeroizing::new(rpassword::prompt_password("Again: ").map_err(|e| format!("cannot read the passphrase: {e}"))?);
        if again != passphrase {
            return Err("the passphrases differ".into());
        }
    }
    Ok(passphrase)
}

pub fn open(path: &Path, passphrases: &Passphrases) -> Result<RootKey, String> {
    let file = SealedFile::read(path)?;
    let Seal::Passphrase { argon2id, salt, sealed } = &file.seal else {
        return Err(format!("{} is not sealed under a passphrase", path.display()));
    };
    if argon2id.memory_kib > MAX_MEMORY_KIB || argon2id.passes > MAX_PASSES || argon2id.lanes > MAX_LANES {
        return Err(format!("{}: Argon2id parameters {argon2id:?} are beyond what Trent accepts", path.display()));
    }
    let passphrase = passphrases.current(path)?;
    let key = derive(&passphrase, salt, *argon2id)?;
    let bytes = key
        .unwrap(sealed, &associated_data(&file.id, *argon2id, salt))
        .map_err(|_| format!("wrong passphrase for root key {} (or the file was altered)", path.display()))?;
    file.finish(bytes, path)
}

pub fn seal(path: &Path, root: &RootKey, passphrases: &Passphrases) -> Result<(), String> {
    let passphrase = passphrases.new_one(path)?;
    let salt = trent_crypto::random_bytes(SALT_LEN).map_err(|e| format!("{e:?}"))?.as_bytes().to_vec();
    let key = derive(&passphrase, &salt, COST)?;
    let sealed = key.wrap(root.bytes().as_bytes(), &associated_data(&root.id().to_string(), COST, &salt)).map_err(|e| format!("{e:?}"))?;
    SealedFile::new(root, Seal::Passphrase { argon2id: COST, salt, sealed }).write(path)
}

fn derive(passphrase: &str, salt: &[u8], cost: Argon2Params) -> Result<AeadKey, String> {
    let params = argon2::Params::new(cost.memory_kib, cost.passes, cost.lanes, Some(RootKey::LEN)).map_err(|e| format!("Argon2id parameters: {e}"))?;
    let mut derived = Zeroizing::new(vec![0u8; RootKey::LEN]);
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut derived)
        .map_err(|e| format!("Argon2id: {e}"))?;
    AeadKey::new(&KeyMaterial::new(derived.to_vec())).map_err(|e| format!("{e:?}"))
}

/// Binds the seal to the key's ID and to the derivation, so neither can be swapped in the file.
fn associated_data(id: &str, cost: Argon2Params, salt: &[u8]) -> Vec<u8> {
    let Argon2Params { memory_kib, passes, lanes } = cost;
    [format!("trent/root-key/passphrase/v1/{id}/{memory_kib}/{passes}/{lanes}/").as_bytes(), salt].concat()
}
