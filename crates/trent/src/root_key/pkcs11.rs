//! `pkcs11:PATH?module=LIB&token=LABEL&key=LABEL[&pin-file=FILE]`: the root key sealed (AES-256-GCM)
//! by a non-extractable AES key inside an HSM, which opens it once at start. The user PIN comes
//! from `TRENT_PKCS11_PIN` or the `pin-file`.

use super::sealed::{Seal, SealedFile};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use std::path::{Path, PathBuf};
use trent_crypto::root::RootKey;
use trent_crypto::KeyMaterial;
use zeroize::Zeroizing;

const PIN_ENV: &str = "TRENT_PKCS11_PIN";
const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// The sealed root key.
    pub path: PathBuf,
    /// The PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so.
    module: PathBuf,
    /// The token's label.
    token: String,
    /// The label of the AES key that seals the root key.
    key: String,
    pin_file: Option<PathBuf>,
}

impl Pkcs11Uri {
    pub fn new(path: PathBuf, parameters: &[(String, String)]) -> Result<Pkcs11Uri, String> {
        let (mut module, mut token, mut key, mut pin_file) = (None, None, None, None);
        for (name, value) in parameters {
            let slot = match name.as_str() {
                "module" => &mut module,
                "token" => &mut token,
                "key" => &mut key,
                "pin-file" => &mut pin_file,
                other => return Err(format!("pkcs11: unknown parameter {other:?} (module, token, key, pin-file)")),
            };
            *slot = Some(value.clone());
        }
        let required = |value: Option<String>, name: &str| value.ok_or_else(|| format!("pkcs11: the {name}= parameter is required"));
        Ok(Pkcs11Uri {
            path,
            module: PathBuf::from(required(module, "module")?),
            token: required(token, "token")?,
            key: required(key, "key")?,
            pin_file: pin_file.map(PathBuf::from),
        })
    }
}

/// A logged-in session on the token the URI names.
fn session(uri: &Pkcs11Uri) -> Result<Session, String> {
    let fail = |what: &str, e: cryptoki::error::Error| format!("PKCS#11 ({}): {what}: {e}", uri.module.display());
    let pkcs11 = Pkcs11::new(&uri.module).map_err(|e| fail("cannot load the module", e))?;
    pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).map_err(|e| fail("cannot initialise", e))?;
    let slots = pkcs11.get_slots_with_token().map_err(|e| fail("cannot list the slots", e))?;
    let slot = slots
        .into_iter()
        .find(|slot| pkcs11.get_token_info(*slot).is_ok_and(|info| info.label().trim_end() == uri.token))
        .ok_or_else(|| format!("PKCS#11 ({}): no token labelled {:?}", uri.module.display(), uri.token))?;
    let session = pkcs11.open_rw_session(slot).map_err(|e| fail("cannot open a session", e))?;
    let pin = pin(uri)?;
    session.login(UserType::User, Some(&AuthPin::new(pin.as_str().into()))).map_err(|e| match e {
        cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::PinIncorrect, _) => format!("PKCS#11: wrong PIN for token {:?}", uri.token),
        e => fail("cannot log in", e),
    })?;
    Ok(session)
}

fn pin(uri: &Pkcs11Uri) -> Result<Zeroizing<String>, String> {
    if let Ok(pin) = std::env::var(PIN_ENV) {
        return Ok(Zeroizing::new(pin));
    }
    let file = uri.pin_file.as_deref().ok_or_else(|| format!("PKCS#11: the token's PIN is needed: set {PIN_ENV} or add pin-file=FILE to the URI"))?;
    let text = Zeroizing::new(std::fs::read_to_string(file).map_err(|e| format!("cannot read PIN file {}: {e}", file.display()))?);
    Ok(Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned()))
}

fn wrapping_key(session: &Session, uri: &Pkcs11Uri) -> Result<Option<ObjectHandle>, String> {
    let template = [Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Label(uri.key.as_bytes().to_vec())];
    let found = session.find_objects(&template).map_err(|e| format!("PKCS#11: cannot search token {:?}: {e}", uri.token))?;
    match found.as_slice() {
        [] => Ok(None),
        [key] => Ok(Some(*key)),
        _ => Err(format!("PKCS#11: token {:?} holds several keys labelled {:?}", uri.token, uri.key)),
    }
}

/// `trent root-key init --create-hsm-key`: a 256-bit AES key that never leaves the HSM.
pub fn create_wrapping_key(uri: &Pkcs11Uri) -> Result<(), String> {
    let session = session(uri)?;
    if wrapping_key(&session, uri)?.is_some() {
        return Err(format!("PKCS#11: token {:?} already holds a key labelled {:?}", uri.token, uri.key));
    }
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Label(uri.key.as_bytes().to_vec()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ];
    session.generate_key(&Mechanism::AesKeyGen, &template).map_err(|e| format!("PKCS#11: cannot create key {:?}: {e}", uri.key))?;
    Ok(())
}

pub fn seal(uri: &Pkcs11Uri, root: &RootKey) -> Result<(), String> {
    let session = session(uri)?;
    let key = wrapping_key(&session, uri)?.ok_or_else(|| no_key(uri))?;
    let mut iv = trent_crypto::random_bytes(IV_LEN).map_err(|e| format!("{e:?}"))?.as_bytes().to_vec();
    let aad = associated_data(&root.id().to_string());
    let params = GcmParams::new(&mut iv, &aad, TAG_BITS.into()).map_err(|e| format!("PKCS#11: {e}"))?;
    let sealed = session.encrypt(&Mechanism::AesGcm(params), key, root.bytes().as_bytes()).map_err(|e| format!("PKCS#11: cannot seal the root key: {e}"))?;
    SealedFile::new(root, Seal::Pkcs11 { token: uri.token.clone(), key: uri.key.clone(), iv, sealed }).write(&uri.path)
}

pub fn open(uri: &Pkcs11Uri) -> Result<RootKey, String> {
    let file = SealedFile::read(&uri.path)?;
    let Seal::Pkcs11 { iv, sealed, .. } = &file.seal else {
        return Err(format!("{} is not sealed by a PKCS#11 key", uri.path.display()));
    };
    let session = session(uri)?;
    let key = wrapping_key(&session, uri)?.ok_or_else(|| no_key(uri))?;
    let mut iv = iv.clone();
    let aad = associated_data(&file.id);
    let params = GcmParams::new(&mut iv, &aad, TAG_BITS.into()).map_err(|e| format!("PKCS#11: {e}"))?;
    let bytes = session
        .decrypt(&Mechanism::AesGcm(params), key, sealed)
        .map_err(|e| format!("PKCS#11: key {:?} does not open {} ({e})", uri.key, uri.path.display()))?;
    file.finish(KeyMaterial::new(bytes), Path::new(&uri.path))
}

fn no_key(uri: &Pkcs11Uri) -> String {
    format!("PKCS#11: token {:?} holds no key labelled {:?} (trent root-key init --create-hsm-key makes one)", uri.token, uri.key)
}

fn associated_data(id: &str) -> Vec<u8> {
    format!("trent/root-key/pkcs11/v1/{id}").into_bytes()
}
