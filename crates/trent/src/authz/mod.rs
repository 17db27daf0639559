//! Authorization: the IAM policy language as AWS KMS uses it, for key policies and identity
//! policies. Pure: no I/O, no store; the caller resolves the key, collects the policies and the
//! condition-key values, and turns a [`Denial`] into `AccessDeniedException`.
//!
//! [`policy`] parses documents and evaluates one policy; [`conditions`] holds the `Condition`
//! operators; [`authorize`] combines the key policy with the caller's identity policies as KMS
//! does ("Troubleshooting key access", the policy evaluation flow chart,
//! <https://docs.aws.amazon.com/kms/latest/developerguide/policy-evaluation.html>, and
//! "Allowing users in other accounts to use a KMS key",
//! <https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html>):
//!
//! 1. An explicit Deny in the key policy or in any identity policy wins.
//! 2. Same account (the key's account is the caller's): allowed when the key policy allows the
//!    caller directly (`"*"`, its user or role ARN, or — for the root user only — its account);
//!    or when the key policy allows the caller's account (`arn:aws:iam::ACCOUNT:root`, the default
//!    "Enable IAM User Permissions" statement) AND an identity policy allows. Identity policies
//!    alone never suffice: a key without such a statement ignores IAM.
//! 3. Another account: the key policy must allow the caller (directly, or by naming its account)
//!    AND an identity policy in the caller's account must allow.
//!
//! The root user is governed by no identity policy: for it, the identity side always allows (the
//! key policy still decides). Grants, service control policies and permission boundaries are not
//! part of this module.

pub mod conditions;
pub mod policy;

pub use conditions::condition_key;
pub use policy::{delegation, evaluate, parse, Decision, Policy, PolicyKind, PrincipalInfo, RequestContext, Sid};

/// An allowed request, with the statements that allowed it (for the server log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowed {
    /// The key policy statement that allowed the caller, directly or by delegation.
    pub key_policy_sid: Option<Sid>,
    /// The identity policy statement that allowed, when one was needed (delegation or another
    /// account) and the caller is not a root user.
    pub identity_policy_sid: Option<Sid>,
}

/// A refused request: why, and the statement that decided (the explicit Deny, or the key policy
/// statement that delegated to identity policies none of which allowed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub reason: DenialReason,
    pub sid: Option<Sid>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenialReason {
    ExplicitDenyInResourcePolicy,
    ExplicitDenyInIdentityPolicy,
    NoResourcePolicyAllows,
    NoIdentityPolicyAllows,
}

impl Denial {
    /// AWS's `AccessDeniedException` message, as KMS answers it, e.g.
    /// `User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Decrypt on
    /// resource: arn:aws:kms:…:key/… because no identity-based policy allows the kms:Decrypt action`.
    pub fn message(&self, request: &RequestContext) -> String {
        let (principal, action, resource) = (&request.principal.arn, request.action, request.resource);
        let why = match self.reason {
            DenialReason::ExplicitDenyInResourcePolicy => "with an explicit deny in a resource-based policy".to_owned(),
            DenialReason::ExplicitDenyInIdentityPolicy => "with an explicit deny in an identity-based policy".to_owned(),
            DenialReason::NoResourcePolicyAllows => format!("because no resource-based policy allows the {action} action"),
            DenialReason::NoIdentityPolicyAllows => format!("because no identity-based policy allows the {action} action"),
        };
        format!("User: {principal} is not authorized to perform: {action} on resource: {resource} {why}")
    }
}

/// Decides a request on a key from its key policy and the caller's identity policies (the rules
/// are in the module documentation). The key's account is read from `request.resource` (a key
/// ARN); a resource that is not an ARN counts as the caller's account.
pub fn authorize(key_policy: &Policy, identity_policies: &[Policy], request: &RequestContext) -> Result<Allowed, Denial> {
    let denial = |reason, sid| Err(Denial { reason, sid });
    let key_decision = evaluate(key_policy, request);
    if let Decision::Deny { sid } = key_decision {
        return denial(DenialReason::ExplicitDenyInResourcePolicy, sid);
    }
    // One pass over the identity policies: any Deny decides; otherwise the first Allow counts.
    let mut identity_allow = request.principal.is_root().then_some(None);
    for decision in identity_policies.iter().map(|p| evaluate(p, request)) {
        match decision {
            Decision::Deny { sid } => return denial(DenialReason::ExplicitDenyInIdentityPolicy, sid),
            Decision::Allow { sid } if identity_allow.is_none() => identity_allow = Some(sid),
            _ => {}
        }
    }
    let same_account = key_account(request.resource).is_none_or(|account| account == request.principal.account);

    if same_account {
        if let Decision::Allow { sid } = key_decision {
            return Ok(Allowed { key_policy_sid: sid, identity_policy_sid: None });
        }
    }
    let key_allow = match (key_decision, delegation(key_policy, request)) {
        (Decision::Allow { sid }, _) | (_, Decision::Allow { sid }) => sid,
        _ => return denial(DenialReason::NoResourcePolicyAllows, None),
    };
    match identity_allow {
        Some(identity_sid) => Ok(Allowed { key_policy_sid: key_allow, identity_policy_sid: identity_sid }),
        None => denial(DenialReason::NoIdentityPolicyAllows, key_allow),
    }
}

/// Decides a request that targets no key (CreateKey, ListKeys, …) from the caller's identity
/// policies alone: an explicit Deny wins, then an Allow; the root user is always allowed. Returns
/// the allowing statement's ID.
pub fn authorize_identity(identity_policies: &[Policy], request: &RequestContext) -> Result<Option<Sid>, Denial> {
    let mut allowed = None;
    for decision in identity_policies.iter().map(|p| evaluate(p, request)) {
        match decision {
            Decision::Deny { sid } => return Err(Denial { reason: DenialReason::ExplicitDenyInIdentityPolicy, sid }),
            Decision::Allow { sid } => allowed = allowed.or(Some(sid)),
            Decision::NoMatch => {}
        }
    }
    match allowed {
        Some(sid) => Ok(sid),
        None if request.principal.is_root() => Ok(None),
        None => Err(Denial { reason: DenialReason::NoIdentityPolicyAllows, sid: None }),
    }
}

/// The account of `arn:PARTITION:kms:REGION:ACCOUNT:key/ID`.
fn key_account(resource: &str) -> Option<&str> {
    let mut parts = resource.splitn(6, ':');
    let account = (parts.next() == Some("arn")).then(|| parts.nth(3)).flatten();
    account.filter(|_| parts.next().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    const KEY: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn user(account: &str, name: &str) -> PrincipalInfo {
        PrincipalInfo { arn: format!("arn:aws:iam::{account}:user/{name}"), account: account.into(), role_arn: None }
    }

    fn root(account: &str) -> PrincipalInfo {
        PrincipalInfo { arn: format!("arn:aws:iam::{account}:root"), account: account.into(), role_arn: None }
    }

    fn key_policy(statements: serde_json::Value) -> Policy {
        parse(&json!({"Version": "2012-10-17", "Statement": statements}).to_string(), PolicyKind::Key).unwrap()
    }

    fn identity(statements: serde_json::Value) -> Policy {
        parse(&json!({"Version": "2012-10-17", "Statement": statements}).to_string(), PolicyKind::Identity).unwrap()
    }

    fn check(key: &Policy, identities: &[Policy], caller: &PrincipalInfo, action: &str) -> Result<Allowed, Denial> {
        let values = HashMap::new();
        authorize(key, identities, &RequestContext { action, principal: caller, resource: KEY, values: &values })
    }

    fn allowed(key: &str, identity: Option<&str>) -> Result<Allowed, Denial> {
        Ok(Allowed { key_policy_sid: Some(key.into()), identity_policy_sid: identity.map(Into::into) })
    }

    fn denied(reason: DenialReason, sid: Option<&str>) -> Result<Allowed, Denial> {
        Err(Denial { reason, sid: sid.map(Into::into) })
    }

    fn default_key_policy(account: &str) -> serde_json::Value {
        json!({"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": "kms:*", "Resource": "*"})
    }

    #[test]
    fn same_account() {
        use DenialReason::*;
        let alice = user("111122223333", "alice");
        let default = key_policy(json!([default_key_policy("111122223333")]));
        let direct = key_policy(json!([
            {"Sid": "Alice", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "Action": "kms:Encrypt", "Resource": "*"},
        ]));
        let allow_encrypt =
            identity(json!({"Sid": "UseKeys", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "arn:aws:kms:*:111122223333:key/*"}));
        let deny_decrypt = identity(json!({"Sid": "NoDecrypt", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}));
        let other_service = identity(json!({"Sid": "S3", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}));
        for (i, (key, identities, caller, action, expected)) in [
            // Root delegation: the identity policy decides.
            (&default, vec![allow_encrypt.clone()], &alice, "kms:Encrypt", allowed("Enable IAM User Permissions", Some("UseKeys"))),
            (&default, vec![], &alice, "kms:Encrypt", denied(NoIdentityPolicyAllows, Some("Enable IAM User Permissions"))),
            (&default, vec![other_service.clone()], &alice, "kms:Encrypt", denied(NoIdentityPolicyAllows, Some("Enable IAM User Permissions"))),
            (&default, vec![allow_encrypt.clone()], &alice, "kms:Sign", denied(NoIdentityPolicyAllows, Some("Enable IAM User Permissions"))),
            (&default, vec![allow_encrypt.clone(), deny_decrypt.clone()], &alice, "kms:Decrypt", denied(ExplicitDenyInIdentityPolicy, Some("NoDecrypt"))),
            // The root user needs no identity policy, but the key policy must allow the account.
            (&default, vec![], &root("111122223333"), "kms:ScheduleKeyDeletion", allowed("Enable IAM User Permissions", None)),
            (&direct, vec![], &root("111122223333"), "kms:Encrypt", denied(NoResourcePolicyAllows, None)),
            // Direct allow in the key policy: no identity policy needed.
            (&direct, vec![], &alice, "kms:Encrypt", allowed("Alice", None)),
            (&direct, vec![deny_decrypt.clone()], &alice, "kms:Encrypt", allowed("Alice", None)),
            // Without root delegation, identity policies cannot allow.
            (&direct, vec![allow_encrypt.clone()], &alice, "kms:Decrypt", denied(NoResourcePolicyAllows, None)),
            (&direct, vec![allow_encrypt.clone()], &user("111122223333", "bob"), "kms:Encrypt", denied(NoResourcePolicyAllows, None)),
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(check(key, &identities, caller, action), expected, "row {i}");
        }
    }

    #[test]
    fn explicit_deny_anywhere_wins() {
        use DenialReason::*;
        let alice = user("111122223333", "alice");
        let key = key_policy(json!([
            default_key_policy("111122223333"),
            {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
            {"Sid": "NoDeletion", "Effect": "Deny", "Principal": "*", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
        ]));
        let admin = identity(json!({"Sid": "Admin", "Effect": "Allow", "Action": "*", "Resource": "*"}));
        let deny_sign = identity(json!({"Sid": "NoSign", "Effect": "Deny", "Action": "kms:Sign", "Resource": "*"}));
        assert_eq!(check(&key, std::slice::from_ref(&admin), &alice, "kms:ScheduleKeyDeletion"), denied(ExplicitDenyInResourcePolicy, Some("NoDeletion")));
        assert_eq!(check(&key, &[], &root("111122223333"), "kms:ScheduleKeyDeletion"), denied(ExplicitDenyInResourcePolicy, Some("NoDeletion")));
        assert_eq!(check(&key, &[admin.clone(), deny_sign.clone()], &alice, "kms:Sign"), denied(ExplicitDenyInIdentityPolicy, Some("NoSign")));
        assert_eq!(check(&key, &[deny_sign], &alice, "kms:Verify"), allowed("Everyone", None));
    }

    #[test]
    fn cross_account_needs_both() {
        use DenialReason::*;
        let mallory = user("444455556666", "mallory");
        let allow_decrypt = identity(json!({"Sid": "UseTheirKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY}));
        let names_account = key_policy(json!([
            default_key_policy("111122223333"),
            {"Sid": "External", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "kms:Decrypt", "Resource": "*"},
        ]));
        let names_user = key_policy(json!([
            {"Sid": "Mallory", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:user/mallory"}, "Action": "kms:Decrypt", "Resource": "*"},
        ]));
        let everyone = key_policy(json!([{"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}]));
        let own_only = key_policy(json!([default_key_policy("111122223333")]));
        for (i, (key, identities, caller, expected)) in [
            (&names_account, vec![allow_decrypt.clone()], &mallory, allowed("External", Some("UseTheirKey"))),
            (&names_account, vec![], &mallory, denied(NoIdentityPolicyAllows, Some("External"))),
            (&names_user, vec![allow_decrypt.clone()], &mallory, allowed("Mallory", Some("UseTheirKey"))),
            (&names_user, vec![], &mallory, denied(NoIdentityPolicyAllows, Some("Mallory"))),
            (&everyone, vec![allow_decrypt.clone()], &mallory, allowed("Everyone", Some("UseTheirKey"))),
            (&everyone, vec![], &mallory, denied(NoIdentityPolicyAllows, Some("Everyone"))),
            (&own_only, vec![allow_decrypt.clone()], &mallory, denied(NoResourcePolicyAllows, None)),
            // The other account's root user: its identity side always allows.
            (&names_account, vec![], &root("444455556666"), allowed("External", None)),
            (&own_only, vec![], &root("444455556666"), denied(NoResourcePolicyAllows, None)),
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(check(key, &identities, caller, "kms:Decrypt"), expected, "row {i}");
        }
    }

    #[test]
    fn requests_on_no_key_ask_identity_policies() {
        use DenialReason::*;
        let values = HashMap::new();
        let decide = |identities: &[Policy], caller: &PrincipalInfo| {
            authorize_identity(identities, &RequestContext { action: "kms:CreateKey", principal: caller, resource: "*", values: &values })
        };
        let alice = user("111122223333", "alice");
        let create = identity(json!({"Sid": "Create", "Effect": "Allow", "Action": "kms:Create*", "Resource": "*"}));
        let deny = identity(json!({"Sid": "NoCreate", "Effect": "Deny", "Action": "kms:CreateKey", "Resource": "*"}));
        assert_eq!(decide(std::slice::from_ref(&create), &alice), Ok(Some("Create".into())));
        assert_eq!(decide(&[], &alice), Err(Denial { reason: NoIdentityPolicyAllows, sid: None }));
        assert_eq!(decide(&[create, deny.clone()], &alice), Err(Denial { reason: ExplicitDenyInIdentityPolicy, sid: Some("NoCreate".into()) }));
        assert_eq!(decide(&[], &root("111122223333")), Ok(None));
        assert_eq!(decide(&[deny], &root("111122223333")), Err(Denial { reason: ExplicitDenyInIdentityPolicy, sid: Some("NoCreate".into()) }));
    }

    #[test]
    fn denial_messages() {
        let alice = user("111122223333", "alice");
        let values = HashMap::new();
        let request = RequestContext { action: "kms:Encrypt", principal: &alice, resource: KEY, values: &values };
        let prefix = format!("User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Encrypt on resource: {KEY} ");
        for (reason, suffix) in [
            (DenialReason::NoResourcePolicyAllows, "because no resource-based policy allows the kms:Encrypt action"),
            (DenialReason::NoIdentityPolicyAllows, "because no identity-based policy allows the kms:Encrypt action"),
            (DenialReason::ExplicitDenyInResourcePolicy, "with an explicit deny in a resource-based policy"),
            (DenialReason::ExplicitDenyInIdentityPolicy, "with an explicit deny in an identity-based policy"),
        ] {
            assert_eq!(Denial { reason, sid: None }.message(&request), format!("{prefix}{suffix}"));
        }
    }
}
