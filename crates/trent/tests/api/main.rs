//! Integration tests: the real `trent` binary, started on 127.0.0.1:0 with a fresh data directory per
//! test, driven through the real `aws-sdk-kms` client and, for protocol details, through raw HTTP.
//!
//! Expected behaviour comes from AWS KMS itself (the service model and the responses recorded
//! against AWS that `shared/aws-kms-facts.md` collects), not from Trent's implementation.

// Test code: a failed setup step should stop the test loudly (the workspace denies these in
// production code, where a request must get an AWS error instead).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod access;
mod aliases;
mod asymmetric;
mod audit;
mod auth;
mod backup;
mod cluster;
mod custody;
mod dry_run;
mod encryption;
mod import;
mod keys;
mod mac;
mod managed_keys;
mod multi_region;
mod mutation;
mod persistence;
mod postgres_tls;
mod protocol;
mod root_key;
mod rotation;
mod seed;
mod tags;
mod tls;
