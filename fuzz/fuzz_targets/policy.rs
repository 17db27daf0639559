//! Policy documents (`trent::authz`): parsing as a key policy and as an identity policy, and the
//! evaluation of their statements and conditions against a request.
//!
//! Input: the policy document, a NUL byte, then the request: its action on the first line (for
//! example `kms:Decrypt`), then one `condition-key=value` line per condition-key value (a key given
//! twice has two values).

#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use trent::authz::{self, condition_key, PolicyKind, PrincipalInfo, RequestContext};

const KEY_ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// Callers of every kind the rules tell apart: a user and an assumed role of the key's account,
/// its root user, and a user of another account.
static CALLERS: LazyLock<[PrincipalInfo; 4]> = LazyLock::new(|| {
    let principal = |arn: &str, account: &str, role: Option<&str>| PrincipalInfo { arn: arn.into(), account: account.into(), role_arn: role.map(Into::into) };
    [
        principal("arn:aws:iam::111122223333:user/alice", "111122223333", None),
        principal("arn:aws:sts::111122223333:assumed-role/app/session", "111122223333", Some("arn:aws:iam::111122223333:role/app")),
        principal("arn:aws:iam::111122223333:root", "111122223333", None),
        principal("arn:aws:iam::444455556666:user/mallory", "444455556666", None),
    ]
});

fuzz_target!(|data: &[u8]| {
    let (document, request) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(document) = std::str::from_utf8(document) else { return };
    let request = String::from_utf8_lossy(request);
    let mut lines = request.lines();
    let action = lines.next().unwrap_or("kms:Encrypt");
    let mut values: HashMap<String, Vec<String>> = HashMap::new();
    for (key, value) in lines.filter_map(|line| line.split_once('=')) {
        values.entry(condition_key(key)).or_default().push(value.to_owned());
    }
    let key_policy = authz::parse(document, PolicyKind::Key);
    let identity_policies: Vec<_> = authz::parse(document, PolicyKind::Identity).into_iter().collect();
    if let Ok(policy) = &key_policy {
        let _ = policy.condition_keys().count();
    }
    for caller in CALLERS.iter() {
        for resource in [KEY_ARN, "*"] {
            let context = RequestContext { action, principal: caller, resource, values: &values };
            if let Ok(policy) = &key_policy {
                let _ = authz::evaluate(policy, &context);
                let _ = authz::delegation(policy, &context);
                if let Err(denial) = authz::authorize(policy, &identity_policies, &context) {
                    let _ = denial.message(&context);
                }
            }
            let _ = authz::authorize_identity(&identity_policies, &context);
        }
    }
});
