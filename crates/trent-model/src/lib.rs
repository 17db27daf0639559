//! The AWS KMS wire surface, generated from the vendored model (`model/service-2.json`) by
//! `build.rs`: request and response types, closed enums, validation with AWS's wording, the
//! `Operation` parser and the `ErrorCode` table. Hand-written here: the few runtime pieces the
//! generated code calls (`Cx`), `Blob`, `Timestamp` and `KmsError`.

#![forbid(unsafe_code)]

mod error;

pub use error::KmsError;
mod json;
pub use json::{Json, Members};

use std::collections::BTreeMap;
use zeroize::Zeroize;

#[allow(dead_code, clippy::all)]
mod generated {
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/kms.rs"));
}
pub use generated::*;

/// Base64 binary data. Never printed, since blobs carry plaintexts and keys; erased when dropped
/// unless made with [`Blob::public`].
#[derive(Clone, Default)]
pub struct Blob {
    bytes: Vec<u8>,
    /// Erased on drop. Erasing costs a volatile write per byte, so what is not secret (the model
    /// marks only its plaintext type `sensitive`) is left to the allocator.
    secret: bool,
}

impl Blob {
    /// Bytes that may be secret (plaintexts, private keys, shared secrets): erased when dropped.
    pub fn new(bytes: Vec<u8>) -> Blob {
        Blob { bytes, secret: true }
    }

    /// Bytes that are not secret (ciphertexts, signatures, MACs, public keys, import tokens).
    pub fn public(bytes: Vec<u8>) -> Blob {
        Blob { bytes, secret: false }
    }
}

impl std::ops::Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl From<Vec<u8>> for Blob {
    fn from(bytes: Vec<u8>) -> Blob {
        Blob::new(bytes)
    }
}

impl PartialEq for Blob {
    /// In constant time over the contents, so that comparing a secret (a MAC, a key) through `==`
    /// tells nothing by its timing; lengths are not secret.
    fn eq(&self, other: &Blob) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.bytes.as_slice(), other.bytes.as_slice()).into()
    }
}

impl Eq for Blob {}

impl Drop for Blob {
    fn drop(&mut self) {
        if self.secret {
            erase(&mut self.bytes);
        }
    }
}

/// Erases a secret buffer: its bytes, then any spare capacity. zeroize's `Vec` impl writes byte by
/// byte (volatile), which cost ~0.5 µs per KB of plaintext, per request; `zeroize_bytes` clears
/// with one `memset` behind an assembly barrier the compiler cannot remove it through.
pub fn erase(bytes: &mut Vec<u8>) {
    zeroize::zeroize_bytes(bytes);
    bytes.spare_capacity_mut().zeroize();
    bytes.clear();
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.bytes.len())
    }
}

impl serde::Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Base64 never needs JSON escaping, so it goes out as a raw JSON string: serializing it as a
        // string would look at every byte for escapes, which cost more than the rest of an Encrypt.
        let mut quoted = String::with_capacity(self.bytes.len() * 4 / 3 + 8);
        quoted.push('"');
        base64_simd::STANDARD.encode_append(&self.bytes, &mut quoted);
        quoted.push('"');
        let serialized = match serde_json::from_str::<&serde_json::value::RawValue>(&quoted) {
            Ok(raw) => raw.serialize(s),
            Err(e) => Err(serde::ser::Error::custom(e)),
        };
        if self.secret {
            erase(&mut quoted.into_bytes());
        }
        serialized
    }
}

/// A point in time, in milliseconds since the Unix epoch; on the wire, epoch seconds as a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp::at(std::time::SystemTime::now())
    }

    pub fn at(time: std::time::SystemTime) -> Timestamp {
        let since = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }

    pub fn plus_days(self, days: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(days.saturating_mul(86_400_000)))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            s.serialize_i64(self.0 / 1000)
        } else {
            s.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

/// A type that the generated code can read from a JSON value, checking the model's constraints.
pub trait FromJson: Sized {
    /// `Err` aborts the parse (SerializationException); `Ok(None)` means a constraint violation
    /// was recorded in `cx` and parsing goes on to collect the others, as AWS reports them all.
    fn from_json(value: &Json, path: &str, cx: &mut Cx) -> Result<Option<Self>, KmsError>;
}

/// Length and pattern constraints of one string shape of the model.
pub struct StringRule {
    pub min: Option<usize>,
    pub max: Option<usize>,
    pub pattern: Option<&'static str>,
    pub sensitive: bool,
    pub regex: std::sync::OnceLock<Option<regex_lite::Regex>>,
}

impl StringRule {
    fn matches(&self, text: &str) -> bool {
        let Some(pattern) = self.pattern else { return true };
        // The model's patterns are Java regexes; AWS matches them against the whole value.
        let regex = self.regex.get_or_init(|| {
            let anchored = format!("^(?:{})$", java_to_rust_regex(pattern));
            regex_lite::Regex::new(&anchored).ok()
        });
        regex.as_ref().is_none_or(|r| r.is_match(text))
    }
}

/// `\uXXXX` escapes in Java regexes are `\x{XXXX}` in Rust's.
fn java_to_rust_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(at) = rest.find("\\u") {
        out.push_str(&rest[..at]);
        let hex = rest.get(at + 2..at + 6).unwrap_or("");
        if hex.len() == 4 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            out.push_str(&format!("\\x{{{hex}}}"));
            rest = &rest[at + 6..];
        } else {
            out.push_str("\\u");
            rest = &rest[at + 2..];
        }
    }
    out.push_str(rest);
    out
}

/// A member of a structure as read from JSON: absent (or null), present and valid, or present and
/// invalid (`Present(None)`, the violation already recorded).
pub enum Member<T> {
    Absent,
    Present(Option<T>),
}
pub use Member::{Absent, Present};

impl<T> Member<T> {
    /// `None` when invalid; `Some(None)` when absent.
    pub fn optional(self) -> Option<Option<T>> {
        match self {
            Absent => Some(None),
            Present(value) => value.map(Some),
        }
    }
}

/// Parse context: collects constraint violations in AWS's wording.
#[derive(Default)]
pub struct Cx {
    violations: Vec<String>,
}

impl Cx {
    pub fn child(&self, path: &str, member: &str) -> String {
        if path.is_empty() {
            member.to_owned()
        } else {
            format!("{path}.{member}")
        }
    }

    fn violation(&mut self, value: Option<&str>, path: &str, constraint: &str) {
        let shown = match value {
            // Whole, as AWS echoes it (a 257-character tag value with all 257 characters).
            Some(v) => format!("Value '{v}' at"),
            None => "Value at".to_owned(),
        };
        self.violations.push(format!("{shown} '{path}' failed to satisfy constraint: {constraint}"));
    }

    fn length_violation(&mut self, value: Option<&str>, path: &str, len: usize, min: Option<usize>, max: Option<usize>) {
        if let Some(min) = min.filter(|&m| len < m) {
            self.violation(value, path, &format!("Member must have length greater than or equal to {min}"));
        } else if let Some(max) = max.filter(|&m| len > m) {
            self.violation(value, path, &format!("Member must have length less than or equal to {max}"));
        }
    }

    pub fn enum_violation(&mut self, path: &str, value: &str, allowed: &[&str]) {
        let set = format!("Member must satisfy enum value set: [{}]", allowed.join(", "));
        self.violation(Some(value), path, &set);
    }

    pub fn required<T>(&mut self, member: Member<T>, path: &str, name: &str) -> Option<T> {
        match member {
            Present(value) => value,
            Absent => {
                self.violations.push(null_violation(&self.child(path, name)));
                None
            }
        }
    }

    pub fn object<'v, 'a>(&mut self, value: &'v Json<'a>, path: &str) -> Result<&'v Members<'a>, KmsError> {
        value.as_object().ok_or_else(|| type_error(path, "structure"))
    }

    pub fn string<'v>(&mut self, value: &'v Json, path: &str) -> Result<&'v str, KmsError> {
        value.as_str().ok_or_else(|| type_error(path, "string"))
    }

    pub fn checked_string(&mut self, value: &Json, path: &str, rule: &StringRule) -> Result<Option<String>, KmsError> {
        let text = self.string(value, path)?;
        let shown = (!rule.sensitive).then_some(text);
        let before = self.violations.len();
        // AWS counts UTF-16 code units, as Java does.
        let len = text.encode_utf16().count();
        self.length_violation(shown, path, len, rule.min, rule.max);
        if self.violations.len() == before && !rule.matches(text) {
            let pattern = rule.pattern.unwrap_or_default();
            self.violation(shown, path, &format!("Member must satisfy regular expression pattern: {pattern}"));
        }
        Ok((self.violations.len() == before).then(|| text.to_owned()))
    }

    /// A base64 member; `sensitive` as the model marks its shape (then erased when dropped).
    pub fn blob(&mut self, value: &Json, path: &str, min: Option<usize>, max: Option<usize>, sensitive: bool) -> Result<Option<Blob>, KmsError> {
        let text = self.string(value, path)?;
        // base64-simd: the decode of a 4 KB plaintext was the largest item of an Encrypt's parse.
        let bytes = base64_simd::STANDARD
            .decode_to_vec(text)
            .map_err(|_| KmsError::new(ErrorCode::SerializationException, format!("Could not decode base64 value at '{path}'")))?;
        let before = self.violations.len();
        self.length_violation(None, path, bytes.len(), min, max);
        Ok((self.violations.len() == before).then(|| Blob { bytes, secret: sensitive }))
    }

    pub fn boolean(&mut self, value: &Json, path: &str) -> Result<bool, KmsError> {
        value.as_bool().ok_or_else(|| type_error(path, "boolean"))
    }

    pub fn timestamp(&mut self, value: &Json, path: &str) -> Result<Timestamp, KmsError> {
        let seconds = value.as_f64().filter(|s| s.is_finite() && s.abs() < 1e13).ok_or_else(|| type_error(path, "timestamp"))?;
        Ok(Timestamp((seconds * 1000.0).round() as i64))
    }

    pub fn integer<T: TryFrom<i64>>(&mut self, value: &Json, path: &str, min: Option<i64>, max: Option<i64>) -> Result<Option<T>, KmsError> {
        let number = value.as_i64().ok_or_else(|| type_error(path, "integer"))?;
        let shown = number.to_string();
        if let Some(min) = min.filter(|&m| number < m) {
            self.violation(Some(&shown), path, &format!("Member must have value greater than or equal to {min}"));
            return Ok(None);
        }
        if let Some(max) = max.filter(|&m| number > m) {
            self.violation(Some(&shown), path, &format!("Member must have value less than or equal to {max}"));
            return Ok(None);
        }
        T::try_from(number).map(Some).map_err(|_| type_error(path, "integer"))
    }

    pub fn list<T>(
        &mut self,
        value: &Json,
        path: &str,
        min: Option<usize>,
        max: Option<usize>,
        mut item: impl FnMut(&Json, String, &mut Cx) -> Result<Option<T>, KmsError>,
    ) -> Result<Option<Vec<T>>, KmsError> {
        let items = value.as_array().ok_or_else(|| type_error(path, "list"))?;
        let before = self.violations.len();
        let mut parsed = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            if let Some(p) = item(v, format!("{path}.{}.member", i + 1), self)? {
                parsed.push(p);
            }
        }
        self.length_violation(None, path, items.len(), min, max);
        Ok((self.violations.len() == before).then_some(parsed))
    }

    pub fn map<K: Ord, V>(
        &mut self,
        value: &Json,
        path: &str,
        mut entry: impl FnMut(&Json, &Json, &str, &mut Cx) -> Result<Option<(K, V)>, KmsError>,
    ) -> Result<Option<BTreeMap<K, V>>, KmsError> {
        let object = value.as_object().ok_or_else(|| type_error(path, "map"))?;
        let before = self.violations.len();
        let mut parsed = BTreeMap::new();
        for (k, v) in object.iter() {
            if let Some((k, v)) = entry(&Json::String(k.clone()), v, path, self)? {
                parsed.insert(k, v);
            }
        }
        Ok((self.violations.len() == before).then_some(parsed))
    }
}

fn type_error(path: &str, expected: &str) -> KmsError {
    let at = if path.is_empty() { "the request body".to_owned() } else { format!("'{path}'") };
    KmsError::new(ErrorCode::SerializationException, format!("Expected a {expected} at {at}"))
}

fn unknown_operation(name: &str) -> KmsError {
    KmsError::new(ErrorCode::UnknownOperationException, format!("Operation {name} is not known to TrentService"))
}

/// Deepest JSON nesting accepted; the deepest legal KMS request nests 4 levels.
const MAX_DEPTH: usize = 32;

/// Parses and validates one operation's input (`CreateKeyRequest`, …) from its JSON body, as
/// [`Operation::parse`] does: for requests Trent makes itself, such as the config file's seeded keys.
pub fn parse_input<T: FromJson>(body: &[u8]) -> Result<T, KmsError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    let value: Json =
        serde_json::from_slice(body).map_err(|e| KmsError::new(ErrorCode::SerializationException, format!("Request body is not valid JSON: {e}")))?;
    if value.depth() > MAX_DEPTH {
        return Err(KmsError::new(ErrorCode::SerializationException, "Request body nests too deeply"));
    }
    let mut cx = Cx::default();
    match T::from_json(&value, "", &mut cx)? {
        Some(input) if cx.violations.is_empty() => Ok(input),
        _ => Err(validation_error(&cx.violations)),
    }
}

fn null_violation(path: &str) -> String {
    format!("Value null at '{path}' failed to satisfy constraint: Member must not be null")
}

/// The ValidationException for a member that AWS requires although the model marks it optional
/// (`path` in the message's lower-camel form, e.g. `ciphertextBlob`).
pub fn missing_member(path: &str) -> KmsError {
    validation_error(&[null_violation(path)])
}

/// AWS's `N validation error(s) detected: …; …` message.
pub fn validation_error(violations: &[String]) -> KmsError {
    let n = violations.len();
    let plural = if n == 1 { "" } else { "s" };
    KmsError::new(ErrorCode::ValidationException, format!("{n} validation error{plural} detected: {}", violations.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(op: &str, body: &str) -> KmsError {
        Operation::parse(op, body.as_bytes()).expect_err("should fail")
    }

    #[test]
    fn every_operation_routes() {
        assert_eq!(OperationName::ALL.len(), 54);
        for name in OperationName::ALL.map(OperationName::as_str) {
            assert_eq!(OperationName::parse(name).map(OperationName::as_str), Some(name));
            let err = Operation::parse(name, b"{").expect_err("invalid JSON");
            assert_eq!(err.code(), ErrorCode::SerializationException, "{name}");
        }
        assert_eq!(parse_err("Nope", "{}").code(), ErrorCode::UnknownOperationException);
    }

    #[test]
    fn enum_violation_is_worded_as_aws() {
        let err = parse_err("CreateKey", r#"{"KeyUsage":"RANDOM"}"#);
        assert_eq!(err.code(), ErrorCode::ValidationException);
        assert_eq!(
            err.message(),
            "1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT]"
        );
        // As recorded from AWS (LocalStack's snapshot of test_invalid_generate_mac).
        let err = parse_err("GenerateMac", r#"{"KeyId":"k","Message":"bQ==","MacAlgorithm":"INVALID"}"#);
        assert_eq!(
            err.message(),
            "1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]"
        );
        // Trent's own values are accepted but not listed: the message is AWS's.
        assert!(KeySpec::parse("ECC_ED448").is_some());
        let err = parse_err("CreateKey", r#"{"KeySpec":"HMAC_random"}"#);
        assert_eq!(
            err.message(),
            "1 validation error detected: Value 'HMAC_random' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: \
             [RSA_2048, ECC_NIST_P384, ECC_NIST_P256, ECC_NIST_P521, HMAC_384, RSA_3072, ECC_SECG_P256K1, RSA_4096, SYMMETRIC_DEFAULT, HMAC_256, HMAC_224, HMAC_512, \
             SM2, ML_DSA_44, ML_DSA_65, ML_DSA_87, ECC_NIST_EDWARDS25519]"
        );
    }

    #[test]
    fn number_bounds_and_list_paths() {
        let err = parse_err("GenerateRandom", r#"{"NumberOfBytes":1025}"#);
        assert_eq!(
            err.message(),
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"
        );
        let long = "k".repeat(129);
        let err = parse_err("TagResource", &format!(r#"{{"KeyId":"x","Tags":[{{"TagKey":"{long}","TagValue":""}}]}}"#));
        assert_eq!(
            err.message(),
            format!("1 validation error detected: Value '{long}' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128")
        );
    }

    #[test]
    fn offending_values_are_echoed_whole() {
        let value = "v".repeat(257);
        let err = parse_err("TagResource", &format!(r#"{{"KeyId":"x","Tags":[{{"TagKey":"k","TagValue":"{value}"}}]}}"#));
        assert_eq!(
            err.message(),
            format!("1 validation error detected: Value '{value}' at 'tags.1.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256")
        );
    }

    #[test]
    fn sensitive_values_are_not_echoed() {
        let plaintext = base64_simd::STANDARD.encode_to_string(vec![7u8; 4097]);
        let err = parse_err("Encrypt", &format!(r#"{{"KeyId":"k","Plaintext":"{plaintext}"}}"#));
        assert_eq!(
            err.message(),
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"
        );
    }

    #[test]
    fn blobs_of_the_sensitive_shape_are_erased_others_are_not() {
        let Ok(Operation::ReEncrypt(input)) = Operation::parse("ReEncrypt", br#"{"CiphertextBlob":"AAEC","DestinationKeyId":"k"}"#) else {
            panic!("ReEncrypt parses")
        };
        assert!(!input.ciphertext_blob.as_ref().is_some_and(|blob| blob.secret), "a ciphertext is not secret");
        let Ok(Operation::Encrypt(input)) = Operation::parse("Encrypt", br#"{"KeyId":"k","Plaintext":"AAEC"}"#) else { panic!("Encrypt parses") };
        assert!(input.plaintext.secret, "a plaintext is");
        assert!(Blob::new(vec![1]).secret && !Blob::public(vec![1]).secret);
        assert_eq!(Blob::new(vec![1, 2]), Blob::public(vec![1, 2]), "equality is by content");
        assert_ne!(Blob::new(vec![1, 2]), Blob::new(vec![1, 3]));
        assert_ne!(Blob::new(vec![1, 2]), Blob::new(vec![1, 2, 0]), "lengths count");
        assert_eq!(format!("{:?}", Blob::new(b"secret".to_vec())), "Blob(6 bytes)", "never printed");
        let json = serde_json::to_string(&Blob::new(vec![0xfb, 0xff, 0x00])).expect("serializes");
        assert_eq!(json, r#""+/8A""#);
    }

    #[test]
    fn missing_required_and_several_errors() {
        let err = parse_err("TagResource", "{}");
        assert_eq!(
            err.message(),
            "2 validation errors detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null; Value null at 'tags' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn wrong_types_are_serialization_errors() {
        for body in [r#"{"KeyId":5}"#, r#"[]"#, r#"{"NumberOfBytes":"5"}"#, r#"{"NumberOfBytes":1e400}"#, r#"{"NumberOfBytes":99999999999999999999999}"#] {
            let op = if body.contains("Number") { "GenerateRandom" } else { "DescribeKey" };
            assert_eq!(parse_err(op, body).code(), ErrorCode::SerializationException, "{body}");
        }
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(parse_err("DescribeKey", &deep).code(), ErrorCode::SerializationException);
    }

    #[test]
    fn model_patterns_compile_and_match_whole_values() {
        let err = parse_err("CreateAlias", r#"{"AliasName":"alias/a b","TargetKeyId":"k"}"#);
        assert!(err.message().contains("Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"), "{}", err.message());
        assert!(Operation::parse("CreateAlias", br#"{"AliasName":"alias/ok","TargetKeyId":"k"}"#).is_ok());
        let marker = "\u{0100}";
        let err = parse_err("ListKeys", &format!(r#"{{"Marker":"{marker}"}}"#));
        assert!(err.message().contains("'marker'"), "{}", err.message());
        assert!(Operation::parse("ListKeys", br#"{"Marker":"abc def"}"#).is_ok());
        assert!(Operation::parse("GetKeyPolicy", br#"{"KeyId":"k","PolicyName":"default"}"#).is_ok());
        assert!(Operation::parse("GetKeyPolicy", br#"{"KeyId":"k","PolicyName":"de-fault"}"#).is_err());
    }

    #[test]
    fn fault_errors_are_500() {
        assert_eq!(ErrorCode::KMSInternalException.status(), 500);
        assert_eq!(ErrorCode::NotFoundException.status(), 400);
    }
}
