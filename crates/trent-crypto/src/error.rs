use trent_model::{kms_error, KmsError};

/// What can go wrong in cryptography. Deliberately coarse: a failed decryption says nothing about
/// which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoError {
    /// Authentication failed or the blob is malformed.
    Decrypt,
    /// The key material has the wrong length or form for its algorithm.
    InvalidKey,
    /// The system random number generator failed.
    Random,
    /// A peer public key (DeriveSharedSecret) that does not parse or is on another curve.
    InvalidPeerKey,
    /// This family does not implement the requested spec or algorithm.
    Unsupported,
}

impl From<CryptoError> for KmsError {
    fn from(error: CryptoError) -> KmsError {
        match error {
            CryptoError::Decrypt => kms_error!(InvalidCiphertextException),
            CryptoError::InvalidPeerKey => {
                kms_error!(ValidationException, "The public key is not a valid DER-encoded SubjectPublicKeyInfo for the key's curve.")
            }
            CryptoError::Unsupported => kms_error!(UnsupportedOperationException, "Trent does not support this key spec or algorithm."),
            CryptoError::InvalidKey | CryptoError::Random => {
                kms_error!(KMSInternalException, "The request could not be completed due to an internal error.")
            }
        }
    }
}

impl From<trent_aws_lc_ffi::InvalidKey> for CryptoError {
    fn from(_: trent_aws_lc_ffi::InvalidKey) -> CryptoError {
        CryptoError::InvalidKey
    }
}
