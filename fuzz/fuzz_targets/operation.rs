//! `Operation::parse`: a request body read as the AWS JSON 1.1 protocol and the model's
//! constraints, for any operation name.
//!
//! Input: the operation name (what follows `TrentService.` in `X-Amz-Target`), a newline, the body.

#![no_main]

use libfuzzer_sys::fuzz_target;
use trent_model::Operation;

fuzz_target!(|data: &[u8]| {
    let (name, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    if let Err(error) = Operation::parse(&String::from_utf8_lossy(name), body) {
        // Whatever the body, a parse fails as the client's fault, never as the server's.
        assert_eq!(error.code().status(), 400, "{:?}: {}", error.code(), error.message());
    }
});
