//! AWS Signature Version 4 verification: who sent a request, proven by an HMAC over it.
//!
//! The steps are AWS's ("Create a signed AWS API request",
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>): rebuild the
//! canonical request from the method, path, query, the headers the client says it signed and the
//! SHA-256 of the body; hash it into the string to sign; derive the signing key from the secret,
//! date, region and service; compare the HMAC with the one sent, in constant time.
//!
//! Errors, their order and their wording follow what AWS's JSON services answer (recorded by
//! dynalite, a DynamoDB emulator, for the same front end KMS uses): a malformed `Authorization`
//! header is `IncompleteSignatureException`, a wrong scope, date or signature `InvalidSignatureException`,
//! an unknown access key or session token `UnrecognizedClientException`. Messages never contain a
//! secret or a session token.
//!
//! Only the `Authorization` header form is accepted; presigned (query-string) requests are not,
//! since no SDK presigns KMS calls.

use crate::config::{Identities, Principal};
use aws_lc_rs::{digest, hmac};
use hyper::header::{HeaderMap, HeaderName, AUTHORIZATION, DATE};
use hyper::http::request::Parts;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use trent_model::{kms_error, KmsError};
use zeroize::Zeroizing;

/// The service name in the credential scope of KMS requests.
pub const SERVICE: &str = "kms";
/// How far the request's date may be from the server's clock, either way.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const TERMINATOR: &str = "aws4_request";
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
     Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

// Looked up by `HeaderName` rather than by `&str`, which `HeaderMap` parses on every lookup.
const AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");
const SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");

/// A request whose signature was verified: the principal it comes from and the region of its
/// credential scope (the region it addresses).
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub principal: Arc<Principal>,
    pub region: String,
}

/// Verifies the SigV4 signature of a KMS request at `now`.
pub fn verify(parts: &Parts, body: &[u8], identities: &Identities, now: SystemTime) -> Result<Authenticated, KmsError> {
    verify_for_service(parts, body, identities, now, SERVICE)
}

/// [`verify`] for another service name in the credential scope (AWS's test suite uses `service`).
pub fn verify_for_service(parts: &Parts, body: &[u8], identities: &Identities, now: SystemTime, service: &str) -> Result<Authenticated, KmsError> {
    let authorization = Authorization::parse(&parts.headers, parts.uri.query())?;
    let (timestamp, amz_date) = request_time(&parts.headers)?;
    check_skew(timestamp, now)?;
    if !ascii_pieces(authorization.signed_headers, b";").any(|name| name.eq_ignore_ascii_case("host")) {
        return Err(kms_error!(InvalidSignatureException, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."));
    }
    if authorization.algorithm != ALGORITHM {
        return Err(kms_error!(IncompleteSignatureException, "Unsupported AWS 'algorithm': '{}' (only {ALGORITHM} for now). ", authorization.algorithm));
    }
    let scope = Scope::parse(authorization.credential, &amz_date, service)?;
    if let Some(name) = unsigned_amz_header(&parts.headers, authorization.signed_headers) {
        return Err(kms_error!(IncompleteSignatureException, "'{name}' must be a 'SignedHeader' in the AWS Authorization."));
    }

    let Some(credential) = identities.get(scope.access_key_id) else {
        return Err(kms_error!(UnrecognizedClientException, "{INVALID_TOKEN}"));
    };

    let payload_hash = payload_hash(&parts.headers, body)?;
    let canonical = canonical_request(parts, authorization.signed_headers, payload_hash.as_str());
    let string_to_sign = string_to_sign(&amz_date, scope.credential_scope, canonical.as_bytes());
    let derive = || signing_key(credential.secret.expose(), scope.date, scope.region, scope.service);
    // Compared as the tag's 32 bytes, in constant time (`hmac::verify`); a signature that is not
    // 64 lower-case hex digits matches nothing, as on AWS.
    let sent = parse_hex_tag(authorization.signature);
    let signed = credential
        .signing_keys
        .with_key(scope.credential_scope, derive, |key| sent.is_some_and(|sent| hmac::verify(key, string_to_sign.as_bytes(), &sent).is_ok()));
    if !signed {
        tracing::debug!(
            access_key_id = scope.access_key_id,
            canonical_request = %redact_token(&canonical),
            string_to_sign,
            "signature mismatch"
        );
        return Err(kms_error!(InvalidSignatureException, "{SIGNATURE_MISMATCH}"));
    }

    // After the signature, as AWS does: the token is checked for equality, signed or not.
    let sent_token = parts.headers.get(SECURITY_TOKEN).map(|v| v.as_bytes());
    let token_ok = match (&credential.session_token, sent_token) {
        (Some(expected), Some(sent)) => expected.ct_eq(sent),
        (None, None) => true,
        _ => false,
    };
    if !token_ok {
        return Err(kms_error!(UnrecognizedClientException, "{INVALID_TOKEN}"));
    }
    Ok(Authenticated { principal: credential.principal.clone(), region: scope.region.to_owned() })
}

/// The access key ID a request claims to be signed with (from its `Authorization` header), for the
/// audit log of requests whose signature is refused as well. At most 128 characters, as an ID is.
pub fn claimed_access_key(headers: &HeaderMap) -> Option<String> {
    let authorization = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (_, credential) = authorization.split_once("Credential=")?;
    let id = credential.split(['/', ',', ' ']).next()?;
    (!id.is_empty() && id.len() <= 128).then(|| id.to_owned())
}

/// The first `x-amz-*` header of the request that its signature does not cover, if any. Among them
/// are `x-amz-target`, which names the operation (unsigned, a DescribeKey could be resent as
/// DisableKey), `x-amz-date` and `x-amz-security-token`. SDKs sign every one they send.
fn unsigned_amz_header<'h>(headers: &'h HeaderMap, signed_headers: &str) -> Option<&'h str> {
    let signed = |name: &str| ascii_pieces(signed_headers, b";").any(|signed| signed.eq_ignore_ascii_case(name));
    headers.keys().map(HeaderName::as_str).find(|name| name.starts_with("x-amz-") && !signed(name))
}

/// The three parameters of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
struct Authorization<'a> {
    algorithm: &'a str,
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

impl<'a> Authorization<'a> {
    fn parse(headers: &'a HeaderMap, query: Option<&str>) -> Result<Authorization<'a>, KmsError> {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let header = values.next().map(|v| v.to_str().unwrap_or(""));
        let presigned = query.is_some_and(|q| q.split('&').any(|p| p.starts_with("X-Amz-Algorithm=") || p.starts_with("X-Amz-Signature=")));
        let Some(header) = header.filter(|h| h.trim_start().starts_with("AWS4-")) else {
            if presigned {
                return Err(kms_error!(
                    IncompleteSignatureException,
                    "Presigned requests (X-Amz-Signature in the query string) are not supported; sign the Authorization header."
                ));
            }
            return Err(kms_error!(MissingAuthenticationTokenException, "Request is missing Authentication Token"));
        };
        if values.next().is_some() {
            return Err(kms_error!(IncompleteSignatureException, "Found more than one Authorization header."));
        }
        if presigned {
            return Err(kms_error!(InvalidSignatureException, "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."));
        }
        let header = header.trim();
        let (algorithm, rest) = header.split_once(' ').unwrap_or((header, ""));
        let (mut credential, mut signed_headers, mut signature) = ("", "", "");
        // AWS splits on commas and spaces alike: `Credential= AKID/…` is reported as `'AKID/…' not a
        // valid key=value pair`.
        for pair in ascii_pieces(rest, b", ").filter(|p| !p.is_empty()) {
            let Some((name, value)) = pair.split_once('=') else {
                return Err(kms_error!(
                    IncompleteSignatureException,
                    "'{pair}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."
                ));
            };
            match name {
                "Credential" => credential = value,
                "SignedHeaders" => signed_headers = value,
                "Signature" => signature = value,
                _ => {}
            }
        }
        let mut missing = String::new();
        for (name, value) in [("Credential", credential), ("Signature", signature), ("SignedHeaders", signed_headers)] {
            if value.is_empty() {
                missing += &format!("Authorization header requires '{name}' parameter. ");
            }
        }
        if !headers.contains_key(AMZ_DATE) && !headers.contains_key(DATE) {
            missing += "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ";
        }
        if !missing.is_empty() {
            return Err(kms_error!(IncompleteSignatureException, "{missing}Authorization={header}"));
        }
        Ok(Authorization { algorithm, credential, signed_headers, signature })
    }
}

/// `AKID/YYYYMMDD/region/service/aws4_request`.
struct Scope<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    /// The credential scope proper, without the access key: `YYYYMMDD/region/service/aws4_request`.
    credential_scope: &'a str,
}

impl<'a> Scope<'a> {
    fn parse(credential: &'a str, amz_date: &str, service: &str) -> Result<Scope<'a>, KmsError> {
        let credential = credential.trim_end_matches('/');
        let mut elements = ascii_pieces(credential, b"/");
        let (Some(access_key_id), Some(date), Some(region), Some(scope_service), Some(terminator), None) =
            (elements.next(), elements.next(), elements.next(), elements.next(), elements.next(), elements.next())
        else {
            return Err(kms_error!(
                IncompleteSignatureException,
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
            ));
        };
        let mut problems = String::new();
        if !is_region(region) {
            problems += &format!("Credential should be scoped to a valid region, not '{region}'. ");
        }
        if scope_service != service {
            problems += &format!("Credential should be scoped to correct service: '{service}'. ");
        }
        if terminator != TERMINATOR {
            problems += &format!("Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'. ");
        }
        let http_date = &amz_date[..8];
        if date != http_date {
            problems += &format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{http_date}', from '{amz_date}'."
            );
        }
        if !problems.is_empty() {
            return Err(kms_error!(InvalidSignatureException, "{}", problems.trim_end()));
        }
        let credential_scope = &credential[access_key_id.len() + 1..];
        Ok(Scope { access_key_id, date, region, service: scope_service, credential_scope })
    }
}

/// The shape of an AWS region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`, `us-isob-east-1`):
/// any such name is served, since keys are kept per region.
pub fn is_region(region: &str) -> bool {
    let Some((area, rest)) = region.split_once('-') else { return false };
    let Some((middle, number)) = rest.rsplit_once('-') else { return false };
    region.len() <= 32
        && area.len() == 2
        && area.bytes().all(|b| b.is_ascii_lowercase())
        && middle.split('-').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The request time from `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`) or else `Date` (RFC 7231 IMF-fixdate),
/// in seconds since the epoch and in the basic ISO 8601 form the string to sign uses: an
/// `X-Amz-Date` as sent, since that is what the client signed.
fn request_time(headers: &HeaderMap) -> Result<(i64, Cow<'_, str>), KmsError> {
    let parsed = match headers.get(AMZ_DATE) {
        Some(value) => {
            let value = String::from_utf8_lossy(value.as_bytes());
            parse_amz_date(&value).map(|seconds| (seconds, value.clone())).ok_or(value)
        }
        None => {
            // `Authorization::parse` made sure that one of the two is present.
            let value = headers.get(DATE).map(|v| String::from_utf8_lossy(v.as_bytes())).unwrap_or_default();
            parse_http_date(&value).map(|seconds| (seconds, Cow::Owned(format_amz_date(seconds)))).ok_or(value)
        }
    };
    parsed.map_err(|value| {
        kms_error!(IncompleteSignatureException, "Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601")
    })
}

fn check_skew(timestamp: i64, now: SystemTime) -> Result<(), KmsError> {
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    };
    let skew = MAX_SKEW.as_secs() as i64;
    if timestamp < now - skew {
        return Err(kms_error!(
            InvalidSignatureException,
            "Signature expired: {} is now earlier than {} ({} - 15 min.)",
            format_amz_date(timestamp),
            format_amz_date(now - skew),
            format_amz_date(now)
        ));
    }
    if timestamp > now + skew {
        return Err(kms_error!(
            InvalidSignatureException,
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            format_amz_date(timestamp),
            format_amz_date(now + skew),
            format_amz_date(now)
        ));
    }
    Ok(())
}

/// The hex SHA-256 of the body. A client may also send it as `x-amz-content-sha256` (S3's habit);
/// it must then match. `UNSIGNED-PAYLOAD` is not honoured: a KMS body is the whole request, so it
/// is always part of the signature.
fn payload_hash(headers: &HeaderMap, body: &[u8]) -> Result<Hex, KmsError> {
    let hash = Hex::of(digest::digest(&digest::SHA256, body).as_ref());
    match headers.get(CONTENT_SHA256).map(|v| v.as_bytes()) {
        Some(sent) if sent != b"UNSIGNED-PAYLOAD" && !sent.eq_ignore_ascii_case(hash.as_str().as_bytes()) => {
            Err(kms_error!(InvalidSignatureException, "The provided 'x-amz-content-sha256' header does not match what was computed."))
        }
        _ => Ok(hash),
    }
}

/// The canonical request:
/// `METHOD \n URI \n QUERY \n name:value \n … \n \n signed;headers \n payload-hash`.
fn canonical_request(parts: &Parts, signed_headers: &str, payload_hash: &str) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(parts.method.as_str());
    out.push('\n');
    out.push_str(&canonical_uri(parts.uri.path()));
    out.push('\n');
    out.push_str(&canonical_query(parts.uri.query().unwrap_or("")));
    out.push('\n');
    for name in ascii_pieces(signed_headers, b";") {
        match name.bytes().any(|b| b.is_ascii_uppercase()) {
            true => out.push_str(&name.to_ascii_lowercase()),
            false => out.push_str(name),
        }
        out.push(':');
        // Looked up as written: `HeaderMap` matches names regardless of case, without allocating.
        let mut values = parts.headers.get_all(name).iter().peekable();
        if values.peek().is_none() && name.eq_ignore_ascii_case("host") {
            // HTTP/2 carries the host as the `:authority` pseudo-header, which lands in the URI.
            out.push_str(parts.uri.authority().map_or("", |a| a.as_str()));
        }
        // A signed header that is absent is signed with an empty value (AWS does the same: a
        // client that signed it absent still verifies; one whose header was dropped does not).
        let mut first = true;
        for value in values {
            if !first {
                out.push(',');
            }
            first = false;
            match std::str::from_utf8(value.as_bytes()) {
                Ok(text) => push_trimmed(&mut out, text),
                Err(_) => push_trimmed(&mut out, &String::from_utf8_lossy(value.as_bytes())),
            }
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// A header value with leading and trailing whitespace removed and runs of spaces folded to one.
fn push_trimmed(out: &mut String, value: &str) {
    let value = value.trim_matches([' ', '\t']);
    if !value.as_bytes().windows(2).any(|pair| pair == b"  ") {
        out.push_str(value);
        return;
    }
    let mut previous_space = false;
    for c in value.chars() {
        if c == ' ' && previous_space {
            continue;
        }
        previous_space = c == ' ';
        out.push(c);
    }
}

/// The canonical URI of the path as received: normalized (RFC 3986 dot segments removed, empty
/// segments dropped) and URI-encoded once more. The client encoded the path once to send it and
/// once more to sign it (every service but S3 double-encodes), so encoding what arrived gives
/// what the client signed: `%3D` on the wire is `%253D` in the canonical request.
fn canonical_uri(path: &str) -> Cow<'_, str> {
    // What every SDK sends to KMS.
    if path == "/" {
        return Cow::Borrowed(path);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    let mut out = String::with_capacity(path.len() + 8);
    for segment in &segments {
        out.push('/');
        uri_encode(&mut out, segment.as_bytes());
    }
    let ends_with_slash = ["/", "/.", "/.."].iter().any(|end| path.ends_with(end));
    if out.is_empty() || (ends_with_slash && !out.ends_with('/')) {
        out.push('/');
    }
    Cow::Owned(out)
}

/// The canonical query string: each name and value decoded and then strictly URI-encoded, the
/// pairs sorted by name and then value, `name=value` joined by `&`.
fn canonical_query(query: &str) -> Cow<'_, str> {
    if query.is_empty() {
        return Cow::Borrowed(query);
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let mut encoded_name = String::new();
            let mut encoded_value = String::new();
            uri_encode(&mut encoded_name, &percent_decode(name));
            uri_encode(&mut encoded_value, &percent_decode(value));
            (encoded_name, encoded_value)
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&name);
        out.push('=');
        out.push_str(&value);
    }
    Cow::Owned(out)
}

/// AWS's URI encoding: every byte but the unreserved `A-Z a-z 0-9 - _ . ~` as `%XX`, upper-case hex.
fn uri_encode(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// `%XX` sequences decoded; anything else, including a malformed `%`, kept as it is.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    let hash = Hex::of(digest::digest(&digest::SHA256, canonical_request).as_ref());
    [ALGORITHM, amz_date, scope, hash.as_str()].join("\n")
}

/// The signing keys one access key has derived, by credential scope.
/// Deriving one takes four HMACs — more than checking the request itself — and a client signs with
/// the same scope all day, so each is derived once.
#[derive(Debug, Default)]
pub struct SigningKeys {
    by_scope: std::sync::RwLock<std::collections::HashMap<String, hmac::Key>>,
}

/// Scopes kept per access key: a day's regions, a few days of clock skew.
const MAX_SIGNING_KEYS: usize = 64;

impl SigningKeys {
    /// `check` with the key of `credential_scope`, derived first if need be. The key is used where
    /// it is kept, under the read lock: every request of an access key needs it, and handing out a
    /// shared handle instead would write to one reference count from every core.
    fn with_key<T>(&self, credential_scope: &str, derive: impl FnOnce() -> hmac::Key, check: impl FnOnce(&hmac::Key) -> T) -> T {
        if let Ok(keys) = self.by_scope.read() {
            if let Some(key) = keys.get(credential_scope) {
                return check(key);
            }
        }
        let key = derive();
        let checked = check(&key);
        if let Ok(mut keys) = self.by_scope.write() {
            if keys.len() >= MAX_SIGNING_KEYS {
                keys.clear();
            }
            keys.insert(credential_scope.to_owned(), key);
        }
        checked
    }
}

/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret.len()));
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let mut key = hmac::Key::new(hmac::HMAC_SHA256, &k_secret);
    for data in [date, region, service, TERMINATOR] {
        let tag = Zeroizing::new(hmac::sign(&key, data.as_bytes()).as_ref().to_vec());
        key = hmac::Key::new(hmac::HMAC_SHA256, &tag);
    }
    key
}

/// The pieces of `text` between any of the ASCII `separators`, found by a plain byte scan: on
/// strings this short, `str::split` spent more setting up its searcher for each piece than
/// searching (it showed in profiles of every request).
fn ascii_pieces<'t>(text: &'t str, separators: &'static [u8]) -> impl Iterator<Item = &'t str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.bytes().position(|b| separators.contains(&b)) {
            Some(at) => {
                rest = current.get(at + 1..);
                current.get(..at)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// An HMAC-SHA256 tag from its 64 lower-case hex digits.
fn parse_hex_tag(text: &str) -> Option<[u8; 32]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut tag = [0u8; 32];
    for (byte, pair) in tag.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(tag)
}

/// A SHA-256 digest in lower-case hex, kept on the stack.
struct Hex([u8; 64]);

impl Hex {
    fn of(digest: &[u8]) -> Hex {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [b'0'; 64];
        for (pair, &b) in hex.chunks_exact_mut(2).zip(digest) {
            pair.copy_from_slice(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]);
        }
        Hex(hex)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The canonical request for the debug log, with the session token's value left out.
fn redact_token(canonical: &str) -> String {
    canonical
        .split('\n')
        .map(|line| if line.starts_with("x-amz-security-token:") { "x-amz-security-token:<redacted>" } else { line })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `20150830T123600Z` → seconds since the epoch.
fn parse_amz_date(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = value.get(range)?;
        digits.bytes().all(|d| d.is_ascii_digit()).then(|| digits.parse().ok()).flatten()
    };
    civil_to_epoch(number(0..4)?, number(4..6)?, number(6..8)?, number(9..11)?, number(11..13)?, number(13..15)?)
}

/// `Sun, 30 Aug 2015 12:36:00 GMT` (IMF-fixdate, the only form HTTP/1.1 clients send) → seconds.
fn parse_http_date(value: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [_weekday, day, month, year, time, "GMT"] = fields[..] else {
        return None;
    };
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let time: Vec<&str> = time.split(':').collect();
    let [hour, minute, second] = time[..] else {
        return None;
    };
    let number = |s: &str| -> Option<i64> { s.bytes().all(|d| d.is_ascii_digit()).then(|| s.parse().ok()).flatten() };
    civil_to_epoch(number(year)?, month, number(day)?, number(hour)?, number(minute)?, number(second)?)
}

fn civil_to_epoch(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> Option<i64> {
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(crate::clock::epoch_days(year, month, day)? * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Seconds since the epoch → `20150830T123600Z` (empty beyond the years ±9999, which match no
/// request's date).
fn format_amz_date(seconds: i64) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::from_unix_timestamp(seconds).ok().and_then(|t| t.format(format).ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PrincipalKind, Secret};
    use trent_model::ErrorCode;

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    /// 2015-08-30T12:36:00Z, the time of every request in AWS's test suite.
    const SUITE_TIME: u64 = 1_440_938_160;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn identities(secret: &str, token: Option<&str>) -> Identities {
        let mut identities = Identities::default();
        let principal = Arc::new(Principal::new("111122223333", PrincipalKind::User, "alice", &[]));
        identities.insert(AKID, Secret::new(secret), token.map(Secret::new), principal);
        identities
    }

    /// A request in the test suite's text form: request line, `Name:value` lines, blank line, body.
    fn parse_request(text: &str) -> (Parts, Vec<u8>) {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let mut request_line = lines.next().expect("request line").split(' ');
        let mut builder = hyper::Request::builder().method(request_line.next().expect("method")).uri(request_line.next().expect("path"));
        for line in lines {
            let (name, value) = line.split_once(':').expect("Name:value");
            builder = builder.header(name, value);
        }
        let (parts, ()) = builder.body(()).expect("valid request").into_parts();
        (parts, body.as_bytes().to_vec())
    }

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn suite_verify(text: &str, token: Option<&str>) -> Result<Authenticated, KmsError> {
        let (parts, body) = parse_request(text);
        verify_for_service(&parts, &body, &identities(SECRET, token), at(SUITE_TIME), "service")
    }

    fn code(result: Result<Authenticated, KmsError>) -> (ErrorCode, String) {
        match result {
            Ok(ok) => panic!("expected an error, verified {ok:?}"),
            Err(e) => (e.code(), e.message().to_owned()),
        }
    }

    // The signed requests (`header-signed-request.txt`) and, where given, canonical requests of
    // AWS's SigV4 test suite (aws-c-auth `tests/aws-signing-test-suite/v4`, Apache-2.0), as
    // vendored by the aws-sigv4 crate.
    const GET_VANILLA: &str = "GET / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n\n";
    const GET_VANILLA_QUERY_ORDER_KEY_CASE: &str = "GET /?Param2=value2&Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500\n\n";
    const GET_VANILLA_EMPTY_QUERY_KEY: &str = "GET /?Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb\n\n";
    const GET_HEADER_VALUE_TRIM: &str = "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1: value1\nMy-Header2: \"a   b   c\"\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736\n\n";
    const GET_HEADER_KEY_DUPLICATE: &str = "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value2\nMy-Header1:value2\nMy-Header1:value1\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea\n\n";
    const GET_VANILLA_WITH_SESSION_TOKEN: &str = "GET / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Security-Token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8\n\n";
    const SESSION_TOKEN: &str = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
    const POST_X_WWW_FORM_URLENCODED: &str = "POST / HTTP/1.1\nContent-Type:application/x-www-form-urlencoded\nHost:example.amazonaws.com\nContent-Length:13\nX-Amz-Date:20150830T123600Z\nx-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b\n\nParam1=value1";
    const POST_X_WWW_FORM_URLENCODED_CANONICAL: &str = "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\nx-amz-date:20150830T123600Z\n\ncontent-length;content-type;host;x-amz-content-sha256;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e";
    const POST_X_WWW_FORM_URLENCODED_PARAMETERS: &str = "POST / HTTP/1.1\nContent-Type:application/x-www-form-urlencoded; charset=utf-8\nHost:example.amazonaws.com\nContent-Length:13\nX-Amz-Date:20150830T123600Z\nx-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, Signature=328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422\n\nParam1=value1";
    const POST_STS_HEADER_AFTER: &str = "POST / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b\n\n";

    #[test]
    fn aws_test_suite_requests_verify() {
        for (name, request) in [
            ("get-vanilla", GET_VANILLA),
            ("get-vanilla-query-order-key-case", GET_VANILLA_QUERY_ORDER_KEY_CASE),
            ("get-vanilla-empty-query-key", GET_VANILLA_EMPTY_QUERY_KEY),
            ("get-header-value-trim", GET_HEADER_VALUE_TRIM),
            ("get-header-key-duplicate", GET_HEADER_KEY_DUPLICATE),
            ("post-x-www-form-urlencoded", POST_X_WWW_FORM_URLENCODED),
            ("post-x-www-form-urlencoded-parameters", POST_X_WWW_FORM_URLENCODED_PARAMETERS),
            ("post-sts-header-after", POST_STS_HEADER_AFTER),
        ] {
            let verified = suite_verify(request, None).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(verified.region, "us-east-1");
            assert_eq!(verified.principal.arn, "arn:aws:iam::111122223333:user/alice");
        }
        let verified = suite_verify(GET_VANILLA_WITH_SESSION_TOKEN, Some(SESSION_TOKEN)).expect("verifies");
        assert_eq!(verified.principal.arn, "arn:aws:iam::111122223333:user/alice");
    }

    #[test]
    fn aws_test_suite_canonical_requests() {
        let (parts, body) = parse_request(POST_X_WWW_FORM_URLENCODED);
        let hash = payload_hash(&parts.headers, &body).expect("hash");
        assert_eq!(
            canonical_request(&parts, "content-length;content-type;host;x-amz-content-sha256;x-amz-date", hash.as_str()),
            POST_X_WWW_FORM_URLENCODED_CANONICAL
        );
        let (parts, body) = parse_request(GET_HEADER_VALUE_TRIM);
        let hash = payload_hash(&parts.headers, &body).expect("hash");
        assert_eq!(
            canonical_request(&parts, "host;my-header1;my-header2;x-amz-date", hash.as_str()),
            "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // The string to sign of get-vanilla (`header-string-to-sign.txt`).
        let (parts, _) = parse_request(GET_VANILLA);
        let canonical = canonical_request(&parts, "host;x-amz-date", EMPTY_SHA256);
        assert_eq!(
            string_to_sign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", canonical.as_bytes()),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
    }

    #[test]
    fn canonical_uri_and_query() {
        // double-encode-path and double-url-encode of the suite: the wire path is encoded again.
        assert_eq!(canonical_uri("/test/@connections/JBDvjfGEIAMCERw%3D"), "/test/%40connections/JBDvjfGEIAMCERw%253D");
        assert_eq!(
            canonical_uri("/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-west-2%3A892717189312%3Afunction%3Amy-rusty-fun/invocations"),
            "/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-west-2%253A892717189312%253Afunction%253Amy-rusty-fun/invocations"
        );
        // get-slashes-normalized, get-relative-relative-normalized, get-slash-dot-slash-normalized.
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(canonical_uri("/example1/example2/../.."), "/");
        assert_eq!(canonical_uri("/./"), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/a/./b/../c"), "/a/c");
        assert_eq!(canonical_query(""), "");
        assert_eq!(canonical_query("Param2=value2&Param1=value1"), "Param1=value1&Param2=value2");
        assert_eq!(canonical_query("b=2&a=2&a=1&c"), "a=1&a=2&b=2&c=");
        // get-vanilla-utf8-query (sent encoded) and get-vanilla-query-unreserved.
        assert_eq!(canonical_query("%E1%88%B4=bar"), "%E1%88%B4=bar");
        assert_eq!(
            canonical_query(
                "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
            ),
            "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        );
        assert_eq!(canonical_query("a=b%20c&d=e+f&g=%zz"), "a=b%20c&d=e%2Bf&g=%25zz");
    }

    #[test]
    fn signature_must_be_the_tag_in_lower_case_hex() {
        let signature = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        for sent in [signature.to_uppercase(), signature[..62].to_owned(), format!("{signature}00"), signature.replace('5', "g")] {
            let request = GET_VANILLA.replace(signature, &sent);
            assert_eq!(code(suite_verify(&request, None)), (ErrorCode::InvalidSignatureException, SIGNATURE_MISMATCH.to_owned()), "{sent}");
        }
        assert_eq!(parse_hex_tag("00ff").map(|_| ()), None);
        assert_eq!(parse_hex_tag(&"0f".repeat(32)), Some([0x0f; 32]));
    }

    #[test]
    fn ascii_pieces_split_like_str_split() {
        for text in ["", ";", "a", "host;x-amz-date", ";a;;b;", "AKID/20150830/us-east-1/service/aws4_request"] {
            assert_eq!(ascii_pieces(text, b";").collect::<Vec<_>>(), text.split(';').collect::<Vec<_>>(), "{text}");
            assert_eq!(ascii_pieces(text, b"/").collect::<Vec<_>>(), text.split('/').collect::<Vec<_>>(), "{text}");
        }
        assert_eq!(ascii_pieces("a, b,c  d", b", ").collect::<Vec<_>>(), ["a", "", "b", "c", "", "d"]);
    }

    #[test]
    fn suite_requests_fail_when_changed() {
        assert_eq!(code(suite_verify(&GET_VANILLA.replace("Host:example", "Host:exemple"), None)).0, ErrorCode::InvalidSignatureException);
        let wrong_secret =
            verify_for_service(&parse_request(GET_VANILLA).0, b"", &identities("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", None), at(SUITE_TIME), "service");
        assert_eq!(code(wrong_secret), (ErrorCode::InvalidSignatureException, SIGNATURE_MISMATCH.to_owned()));
        // The body is signed through its hash.
        let tampered = POST_X_WWW_FORM_URLENCODED.replace("Param1=value1", "Param1=value2");
        let (kind, message) = code(suite_verify(&tampered, None));
        assert_eq!(kind, ErrorCode::InvalidSignatureException);
        assert_eq!(message, "The provided 'x-amz-content-sha256' header does not match what was computed.");
        // The session token: missing, wrong, or sent for a credential without one.
        let no_token = GET_VANILLA_WITH_SESSION_TOKEN.replace("X-Amz-Security-Token:", "X-Other:");
        assert_eq!(code(suite_verify(&no_token, Some(SESSION_TOKEN))).0, ErrorCode::InvalidSignatureException);
        assert_eq!(code(suite_verify(GET_VANILLA, Some(SESSION_TOKEN))), (ErrorCode::UnrecognizedClientException, INVALID_TOKEN.to_owned()));
        assert_eq!(code(suite_verify(GET_VANILLA_WITH_SESSION_TOKEN, Some("other"))).0, ErrorCode::UnrecognizedClientException);
        assert_eq!(code(suite_verify(GET_VANILLA_WITH_SESSION_TOKEN, None)).0, ErrorCode::UnrecognizedClientException);
        // The test suite's service name is not KMS's.
        let (parts, body) = parse_request(GET_VANILLA);
        let (kind, message) = code(verify(&parts, &body, &identities(SECRET, None), at(SUITE_TIME)));
        assert_eq!(kind, ErrorCode::InvalidSignatureException);
        assert_eq!(message, "Credential should be scoped to correct service: 'kms'.");
    }

    #[test]
    fn malformed_authorization() {
        let check = |request: &str, expected_code: ErrorCode, expected_message: &str| {
            let (kind, message) = code(suite_verify(request, None));
            assert_eq!(kind, expected_code, "{message}");
            assert!(message.starts_with(expected_message), "{message}\n  expected: {expected_message}");
        };
        let without_auth = "GET / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n\n";
        check(without_auth, ErrorCode::MissingAuthenticationTokenException, "Request is missing Authentication Token");
        check(&without_auth.replace("\n\n", "\nAuthorization:Bearer abc\n\n"), ErrorCode::MissingAuthenticationTokenException, "Request");
        let (parts, _) = parse_request("GET /?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab HTTP/1.1\nHost:h\n\n");
        let (kind, _) = code(verify(&parts, b"", &identities(SECRET, None), at(SUITE_TIME)));
        assert_eq!(kind, ErrorCode::IncompleteSignatureException);

        let auth = |value: &str| format!("GET / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:{value}\n\n");
        check(
            &auth("AWS4-HMAC-SHA256 Credential= AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host, Signature=ab"),
            ErrorCode::IncompleteSignatureException,
            "'AKIDEXAMPLE/20150830/us-east-1/service/aws4_request' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 Credential= AKIDEXAMPLE",
        );
        check(
            &auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"),
            ErrorCode::IncompleteSignatureException,
            "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=",
        );
        check(
            "GET / HTTP/1.1\nHost:h\nAuthorization:AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=ab\n\n",
            ErrorCode::IncompleteSignatureException,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=",
        );
        check(
            "GET / HTTP/1.1\nHost:h\nX-Amz-Date:2015-08-30T12:36:00Z\nAuthorization:AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=ab\n\n",
            ErrorCode::IncompleteSignatureException,
            "Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'.",
        );
        check(
            &auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=x-amz-date, Signature=ab"),
            ErrorCode::InvalidSignatureException,
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        );
        check(
            &auth("AWS4-HMAC-SHA512 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host, Signature=ab"),
            ErrorCode::IncompleteSignatureException,
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now).",
        );
        check(
            &auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/aws4_request, SignedHeaders=host, Signature=ab"),
            ErrorCode::IncompleteSignatureException,
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE/20150830/us-east-1/aws4_request'",
        );
        check(
            &auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/Moon/s3/aws4_requests, SignedHeaders=host, Signature=ab"),
            ErrorCode::InvalidSignatureException,
            "Credential should be scoped to a valid region, not 'Moon'. Credential should be scoped to correct service: 'service'. \
             Credential should be scoped with a valid terminator: 'aws4_request', not 'aws4_requests'. \
             Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20150831' != '20150830', from '20150830T123600Z'.",
        );
        check(
            &auth("AWS4-HMAC-SHA256 Credential=AKIDOTHER/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab"),
            ErrorCode::UnrecognizedClientException,
            INVALID_TOKEN,
        );
        check(
            &auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab"),
            ErrorCode::InvalidSignatureException,
            SIGNATURE_MISMATCH,
        );
    }

    #[test]
    fn clock_skew() {
        let (parts, body) = parse_request(GET_VANILLA);
        let ids = identities(SECRET, None);
        assert!(verify_for_service(&parts, &body, &ids, at(SUITE_TIME + 900), "service").is_ok());
        assert!(verify_for_service(&parts, &body, &ids, at(SUITE_TIME - 900), "service").is_ok());
        let (kind, message) = code(verify_for_service(&parts, &body, &ids, at(SUITE_TIME + 901), "service"));
        assert_eq!(kind, ErrorCode::InvalidSignatureException);
        assert_eq!(message, "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T125101Z - 15 min.)");
        let (kind, message) = code(verify_for_service(&parts, &body, &ids, at(SUITE_TIME - 3600), "service"));
        assert_eq!(kind, ErrorCode::InvalidSignatureException);
        assert_eq!(message, "Signature not yet current: 20150830T123600Z is still later than 20150830T115100Z (20150830T113600Z + 15 min.)");
    }

    #[test]
    fn dates() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(SUITE_TIME as i64));
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"), Some(SUITE_TIME as i64));
        assert_eq!(format_amz_date(SUITE_TIME as i64), "20150830T123600Z");
        assert_eq!(format_amz_date(0), "19700101T000000Z");
        assert_eq!(parse_amz_date("20240229T235959Z").map(format_amz_date).as_deref(), Some("20240229T235959Z"));
        for bad in ["20230229T000000Z", "20150830T123600", "2015083OT123600Z", "20151330T000000Z", "20150830T243600Z", "+0150830T123600Z"] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 UTC"), None);
        // A `Date` header is read when `X-Amz-Date` is absent; this request signed an
        // `x-amz-date` header that is now missing, so it gets as far as the signature.
        let request = GET_VANILLA.replace("X-Amz-Date:20150830T123600Z", "Date:Sun, 30 Aug 2015 12:36:00 GMT");
        assert_eq!(code(suite_verify(&request, None)).0, ErrorCode::InvalidSignatureException);
    }

    /// Every `x-amz-*` header must be signed: unsigned, one could be changed in transit (an
    /// `X-Amz-Target` added to a request signed as DescribeKey would make it DisableKey).
    #[test]
    fn unsigned_amz_headers_are_refused() {
        let check = |request: &str, token: Option<&str>, name: &str| {
            let (kind, message) = code(suite_verify(request, token));
            assert_eq!(kind, ErrorCode::IncompleteSignatureException, "{name}: {message}");
            assert_eq!(message, format!("'{name}' must be a 'SignedHeader' in the AWS Authorization."));
        };
        let with = |request: &str, header: &str| request.replacen("\nAuthorization:", &format!("\n{header}\nAuthorization:"), 1);
        check(&with(GET_VANILLA, "X-Amz-Target:TrentService.DisableKey"), None, "x-amz-target");
        check(&with(GET_VANILLA, "x-amz-user-agent:a client"), None, "x-amz-user-agent");
        check(&GET_VANILLA.replace("SignedHeaders=host;x-amz-date", "SignedHeaders=host"), None, "x-amz-date");
        let token_unsigned = GET_VANILLA_WITH_SESSION_TOKEN.replace(";x-amz-security-token", "");
        check(&token_unsigned, Some(SESSION_TOKEN), "x-amz-security-token");
        // Signed, any x-amz-* header is fine: these requests verify as they are.
        suite_verify(GET_VANILLA_WITH_SESSION_TOKEN, Some(SESSION_TOKEN)).expect("the token is signed");
        suite_verify(POST_X_WWW_FORM_URLENCODED, None).expect("x-amz-content-sha256 is signed");
    }

    /// A request dated by `Date` alone: its ISO form goes into the string to sign. The canonical
    /// request is written out by hand and signed with aws-sigv4's key derivation and HMAC.
    #[test]
    fn date_header_instead_of_x_amz_date() {
        let canonical = "GET\n/\n\ndate:Sun, 30 Aug 2015 12:36:00 GMT\nhost:example.amazonaws.com\n\ndate;host\n".to_owned() + EMPTY_SHA256;
        let canonical_hash = Hex::of(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref());
        let to_sign = format!("AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n{}", canonical_hash.as_str());
        let key = aws_sigv4::sign::v4::generate_signing_key(SECRET, at(SUITE_TIME), "us-east-1", "service");
        let signature = aws_sigv4::sign::v4::calculate_signature(key, to_sign.as_bytes());
        let request = format!(
            "GET / HTTP/1.1\nHost:example.amazonaws.com\nDate:Sun, 30 Aug 2015 12:36:00 GMT\n\
             Authorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=date;host, Signature={signature}\n\n"
        );
        assert_eq!(suite_verify(&request, None).expect("verifies").region, "us-east-1");
        assert_eq!(code(suite_verify(&request.replace("12:36:00 GMT", "12:36:01 GMT"), None)).0, ErrorCode::InvalidSignatureException);
    }

    /// Odd `Authorization` headers are errors, never panics.
    #[test]
    fn odd_authorization_headers() {
        for value in [
            "AWS4-",
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 ",
            "AWS4-HMAC-SHA256 ,,, ,",
            "AWS4-HMAC-SHA256 =",
            "AWS4-HMAC-SHA256 Credential=////, SignedHeaders=;, Signature=",
            "AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;host;, Signature=x",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\u{e9}\u{e9}\u{e9}\u{e9}/us-east-1/service/aws4_request, SignedHeaders=host, Signature=x",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015/us-east-1/service/aws4_request, SignedHeaders=HOST;X-AMZ-DATE;bad name, Signature=x",
        ] {
            let mut request = hyper::Request::builder().uri("/?%%&=&==").header("host", "h").header("x-amz-date", "20150830T123600Z");
            if let Ok(value) = hyper::header::HeaderValue::from_str(value) {
                request = request.header("authorization", value);
            }
            let (parts, ()) = request.body(()).expect("valid request").into_parts();
            assert!(verify_for_service(&parts, b"", &identities(SECRET, None), at(SUITE_TIME), "service").is_err(), "{value}");
        }
    }

    #[test]
    fn regions() {
        for region in ["us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1", "cn-north-1", "us-isob-east-1", "il-central-1"] {
            assert!(is_region(region), "{region}");
        }
        for region in ["", "us", "us-east", "US-EAST-1", "us-east-1a", "us--1", "useast-1", "local", "us east-1"] {
            assert!(!is_region(region), "{region}");
        }
    }

    /// Requests signed by AWS's own Rust signer (the one `aws-sdk-kms` uses) for KMS.
    mod real_client {
        use super::*;
        use aws_credential_types::Credentials;
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        use aws_sigv4::sign::v4;

        const BODY: &[u8] = br#"{"KeyId":"alias/demo","Plaintext":"aGVsbG8="}"#;

        fn signed(secret: &str, token: Option<&str>, region: &str, time: SystemTime, body: &[u8]) -> (Parts, Vec<u8>) {
            let mut request = hyper::Request::builder()
                .method("POST")
                .uri("http://127.0.0.1:4599/")
                .header("host", "127.0.0.1:4599")
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amz-target", "TrentService.Encrypt")
                .header("content-length", body.len().to_string())
                .body(())
                .expect("valid request");
            let identity = Credentials::new("AKIAKMSCLIENT", secret, token.map(str::to_owned), None, "test").into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(region)
                .name("kms")
                .time(time)
                .settings(SigningSettings::default())
                .build()
                .expect("signing params")
                .into();
            let headers: Vec<(String, String)> = request.headers().iter().map(|(n, v)| (n.to_string(), v.to_str().expect("ASCII header").to_owned())).collect();
            let signable =
                SignableRequest::new("POST", "http://127.0.0.1:4599/", headers.iter().map(|(n, v)| (n.as_str(), v.as_str())), SignableBody::Bytes(body))
                    .expect("signable");
            let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
            instructions.apply_to_request_http1x(&mut request);
            let (mut parts, ()) = request.into_parts();
            // What a server sees: the path, not the absolute URI.
            parts.uri = "/".parse().expect("URI");
            (parts, body.to_vec())
        }

        fn kms_identities(secret: &str, token: Option<&str>) -> Identities {
            let mut identities = Identities::default();
            let principal = Arc::new(Principal::new("111122223333", PrincipalKind::Role, "app", &[]));
            identities.insert("AKIAKMSCLIENT", Secret::new(secret), token.map(Secret::new), principal);
            identities
        }

        fn now() -> SystemTime {
            SystemTime::now()
        }

        #[test]
        fn verifies_and_reports_the_region() {
            let (parts, body) = signed("kms-secret", None, "eu-west-1", now(), BODY);
            let verified = verify(&parts, &body, &kms_identities("kms-secret", None), now()).expect("verifies");
            assert_eq!(verified.region, "eu-west-1");
            assert_eq!(verified.principal.arn, "arn:aws:iam::111122223333:role/app");
            let (parts, body) = signed("kms-secret", Some("session"), "ap-southeast-2", now(), b"");
            let verified = verify(&parts, &body, &kms_identities("kms-secret", Some("session")), now()).expect("verifies");
            assert_eq!(verified.region, "ap-southeast-2");
        }

        #[test]
        fn cached_signing_keys_are_per_scope() {
            let ids = kms_identities("kms-secret", None);
            let yesterday = now() - Duration::from_secs(86_400);
            for (region, time) in [("eu-west-1", now()), ("us-east-1", now()), ("eu-west-1", now()), ("eu-west-1", yesterday)] {
                let (parts, body) = signed("kms-secret", None, region, time, BODY);
                assert_eq!(verify(&parts, &body, &ids, time).expect("verifies").region, region);
                // The key derived for this scope does not accept another secret's signature.
                let (parts, body) = signed("other-secret", None, region, time, BODY);
                assert_eq!(code(verify(&parts, &body, &ids, time)).0, ErrorCode::InvalidSignatureException);
            }
        }

        #[test]
        fn tampered_requests_fail() {
            let ids = kms_identities("kms-secret", None);
            let (parts, _) = signed("kms-secret", None, "eu-west-1", now(), BODY);
            let tampered = br#"{"KeyId":"alias/other","Plaintext":"aGVsbG8="}"#;
            assert_eq!(code(verify(&parts, tampered, &ids, now())), (ErrorCode::InvalidSignatureException, SIGNATURE_MISMATCH.to_owned()));

            let (parts, body) = signed("wrong-secret", None, "eu-west-1", now(), BODY);
            assert_eq!(code(verify(&parts, &body, &ids, now())).0, ErrorCode::InvalidSignatureException);

            let old = now() - Duration::from_secs(20 * 60);
            let (parts, body) = signed("kms-secret", None, "eu-west-1", old, BODY);
            let (kind, message) = code(verify(&parts, &body, &ids, now()));
            assert_eq!(kind, ErrorCode::InvalidSignatureException);
            assert!(message.starts_with("Signature expired: "), "{message}");

            // x-amz-target is signed: dropping or changing it fails.
            let (mut parts, body) = signed("kms-secret", None, "eu-west-1", now(), BODY);
            assert!(parts.headers.get("authorization").expect("signed").to_str().expect("ASCII").contains("x-amz-target"));
            parts.headers.remove("x-amz-target");
            assert_eq!(code(verify(&parts, &body, &ids, now())).0, ErrorCode::InvalidSignatureException);
            let (mut parts, body) = signed("kms-secret", None, "eu-west-1", now(), BODY);
            parts.headers.insert("x-amz-target", "TrentService.Decrypt".parse().expect("header value"));
            assert_eq!(code(verify(&parts, &body, &ids, now())).0, ErrorCode::InvalidSignatureException);

            // Another region in the scope than the one signed for.
            let (mut parts, body) = signed("kms-secret", None, "eu-west-1", now(), BODY);
            let authorization = parts.headers.get("authorization").expect("signed").to_str().expect("ASCII").replace("/eu-west-1/", "/us-east-1/");
            parts.headers.insert("authorization", authorization.parse().expect("header value"));
            assert_eq!(code(verify(&parts, &body, &ids, now())), (ErrorCode::InvalidSignatureException, SIGNATURE_MISMATCH.to_owned()));

            // Signed for another service.
            let (parts, body) = signed("kms-secret", None, "eu-west-1", now(), BODY);
            assert_eq!(code(verify_for_service(&parts, &body, &ids, now(), "s3")).0, ErrorCode::InvalidSignatureException);

            // Unknown access key; missing or wrong session token.
            assert_eq!(code(verify(&parts, &body, &Identities::default(), now())), (ErrorCode::UnrecognizedClientException, INVALID_TOKEN.to_owned()));
            let with_token = kms_identities("kms-secret", Some("session"));
            assert_eq!(code(verify(&parts, &body, &with_token, now())).0, ErrorCode::UnrecognizedClientException);
            let (parts, body) = signed("kms-secret", Some("other-session"), "eu-west-1", now(), BODY);
            let (kind, message) = code(verify(&parts, &body, &with_token, now()));
            assert_eq!(kind, ErrorCode::UnrecognizedClientException);
            assert!(!message.contains("session"), "{message}");
        }
    }
}
