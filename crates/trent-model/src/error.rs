use crate::ErrorCode;
use std::borrow::Cow;

/// An AWS KMS error: a code from the model (or the protocol's common errors) and a message for the
/// client. Internal causes are logged where they are converted, never sent.
#[derive(Clone)]
pub struct KmsError(Box<Inner>);

#[derive(Clone)]
struct Inner {
    code: ErrorCode,
    message: Cow<'static, str>,
}

impl KmsError {
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> KmsError {
        KmsError(Box::new(Inner { code, message: message.into() }))
    }

    pub fn code(&self) -> ErrorCode {
        self.0.code
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl std::fmt::Debug for KmsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.code.as_str(), self.0.message)
    }
}

impl std::fmt::Display for KmsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for KmsError {}

/// `kms_error!(NotFoundException, "Key '{}' does not exist", arn)`
#[macro_export]
macro_rules! kms_error {
    ($code:ident) => {
        $crate::KmsError::new($crate::ErrorCode::$code, "")
    };
    ($code:ident, $($fmt:tt)+) => {
        $crate::KmsError::new($crate::ErrorCode::$code, format!($($fmt)+))
    };
}
