//! SigV4 verification (`trent::sigv4`): the `Authorization` header, the credential scope, the
//! dates, the canonical request (path, query, signed headers) and the signature, of any request.
//!
//! Input: the server's clock in seconds since the epoch on a line of its own, then an HTTP/1.1
//! request as sent (request line, header lines, a blank line, the body; lines end in CRLF).
//! Header lines that HTTP itself would refuse are left out, as the server's HTTP layer would
//! refuse them before SigV4 sees the request.

#![no_main]

use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use libfuzzer_sys::fuzz_target;
use trent::config::{Identities, Principal, PrincipalKind, Secret};
use trent_model::ErrorCode;

/// The identities the seeds were signed with: `test`/`test` (a server without a config file) and
/// a role's temporary credentials with their session token.
static IDENTITIES: LazyLock<Identities> = LazyLock::new(|| {
    let mut identities = Identities::loopback_default();
    let role = Arc::new(Principal::new("111122223333", PrincipalKind::Role, "app", &[]));
    identities.insert("ASIAFUZZROLE", Secret::new("fuzz-role-secret"), Some(Secret::new("fuzz-session-token")), role);
    identities
});

fuzz_target!(|data: &[u8]| {
    let Some(at) = data.iter().position(|&b| b == b'\n') else { return };
    let Some(now) = std::str::from_utf8(&data[..at]).ok().and_then(|s| s.trim().parse::<u32>().ok()) else { return };
    let Some((parts, body)) = request(&data[at + 1..]) else { return };
    let now = UNIX_EPOCH + Duration::from_secs(u64::from(now));
    let _ = trent::sigv4::claimed_access_key(&parts.headers);
    if let Err(error) = trent::sigv4::verify(&parts, body, &IDENTITIES, now) {
        use ErrorCode::*;
        let refusals = [MissingAuthenticationTokenException, IncompleteSignatureException, InvalidSignatureException, UnrecognizedClientException];
        assert!(refusals.contains(&error.code()), "{:?}: {}", error.code(), error.message());
        assert_eq!(error.code().status(), 400);
    }
    // The clock at its extremes goes through the skew check without overflowing.
    let _ = trent::sigv4::verify(&parts, body, &IDENTITIES, SystemTime::UNIX_EPOCH);
});

/// The request head and body, or None when the request line is not one HTTP would take.
fn request(text: &[u8]) -> Option<(Parts, &[u8])> {
    let head_end = text.windows(4).position(|w| w == b"\r\n\r\n");
    let (head, body) = match head_end {
        Some(at) => (&text[..at], &text[at + 4..]),
        None => (text, &[][..]),
    };
    let mut lines = head.split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let mut request_line = lines.next()?.split(|&b| b == b' ');
    let (method, uri) = (request_line.next()?, request_line.next()?);
    let mut builder = http::Request::builder().method(method).uri(uri);
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let value = line[colon + 1..].trim_ascii();
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(value)) {
            builder = builder.header(name, value);
        }
    }
    let (parts, ()) = builder.body(()).ok()?.into_parts();
    Some((parts, body))
}
