use subtle::ConstantTimeEq;
/// Secret bytes: key material, data keys, plaintexts. Erased on drop, never printed, compared
/// only in constant time (no `PartialEq`).
#[derive(Clone)]
pub struct KeyMaterial(Vec<u8>);

impl Drop for KeyMaterial {
    fn drop(&mut self) {
        trent_model::erase(&mut self.0);
    }
}

impl KeyMaterial {
    pub fn new(bytes: Vec<u8>) -> KeyMaterial {
        KeyMaterial(bytes)
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Moves the bytes out, for handing to a response type that zeroizes them itself.
    pub fn into_vec(mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }

    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.ct_eq(other).into()
    }
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyMaterial(<{} bytes redacted>)", self.0.len())
    }
}
