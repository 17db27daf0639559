//! Policy documents: parsing (with `MalformedPolicyDocumentException` messages) and the
//! evaluation of one policy against one request.
//!
//! The grammar is IAM's ("IAM JSON policy element reference",
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html>) as KMS
//! uses it ("Key policies in AWS KMS",
//! <https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html>):
//! `Version` (`2012-10-17` or `2008-10-17`, optional), `Id` (optional), `Statement` (an object or a
//! non-empty array). Each statement has an optional `Sid` (unique in the policy), `Effect`
//! (`Allow`|`Deny`), one of `Principal`/`NotPrincipal` in a key policy and neither in an
//! identity policy, one of `Action`/`NotAction`, one of `Resource`/`NotResource` (KMS rejects
//! statements without an action or a resource since August 2025), and an optional `Condition`.
//!
//! Matching: actions case-insensitively with `*`/`?` wildcards; resources case-sensitively with
//! wildcards; principals exactly (IAM allows no wildcard inside a principal ARN; `"*"` alone means
//! everyone).

use super::conditions::{self, glob, glob_ignore_ascii_case, Condition};
use std::collections::{HashMap, HashSet};

/// Whether a document is a key policy (statements name principals) or an identity policy
/// (attached to a principal, statements name none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    Key,
    Identity,
}

/// A parsed policy document.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub id: Option<String>,
    statements: Vec<Statement>,
}

#[derive(Clone, Debug, PartialEq)]
struct Statement {
    /// Shared, so that a decision naming it costs no allocation.
    sid: Option<Sid>,
    effect: Effect,
    /// None in identity policies: the statement applies to the principal it is attached to.
    principals: Option<Negatable<Vec<PrincipalEntry>>>,
    actions: Negatable<Vec<String>>,
    resources: Negatable<Vec<String>>,
    conditions: Vec<Condition>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// `X` (the list must match) or `NotX` (the list must not match).
#[derive(Clone, Debug, PartialEq)]
struct Negatable<T> {
    negated: bool,
    list: T,
}

#[derive(Clone, Debug, PartialEq)]
enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}`.
    Anyone,
    /// An account ID or `arn:aws:iam::ACCOUNT:root`: the account, which delegates to its IAM
    /// policies (or the root user itself).
    Account(String),
    /// A user, role, assumed-role session or federated user ARN.
    Arn(String),
    /// `Service`, `Federated` or `CanonicalUser`: accepted, never matches a Trent caller.
    Other,
}

/// Who is calling. `role_arn` is set for assumed-role sessions
/// (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`), so that a policy naming the role
/// (`arn:aws:iam::ACCOUNT:role/ROLE`) applies to its sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalInfo {
    pub arn: String,
    pub account: String,
    pub role_arn: Option<String>,
}

impl PrincipalInfo {
    /// Whether the caller is an account's root user (not governed by identity policies).
    pub fn is_root(&self) -> bool {
        self.arn.ends_with(":root")
    }
}

/// What a policy is evaluated against.
pub struct RequestContext<'a> {
    /// The IAM action, `kms:Encrypt`.
    pub action: &'a str,
    pub principal: &'a PrincipalInfo,
    /// The key ARN, or `*` for actions on no key (CreateKey, ListKeys, …).
    pub resource: &'a str,
    /// Condition-key values, keys normalized with [`conditions::condition_key`] (lower case,
    /// except after `kms:EncryptionContext:`).
    pub values: &'a HashMap<String, Vec<String>>,
}

/// A statement ID (`Sid`).
pub type Sid = std::sync::Arc<str>;

/// The outcome of one policy for one request. `sid` names the deciding statement (for logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow { sid: Option<Sid> },
    Deny { sid: Option<Sid> },
    NoMatch,
}

/// Messages of `MalformedPolicyDocumentException`. Only the principal one is confirmed wording of
/// AWS KMS (widely quoted in public issues); the others follow its style.
pub(crate) const INVALID_JSON: &str = "The policy document is not valid JSON.";
pub(crate) const INVALID_PRINCIPAL: &str = "Policy contains a statement with one or more invalid principals.";
pub(crate) const INVALID_ACTION: &str = "Policy contains a statement with one or more invalid actions.";
pub(crate) const INVALID_RESOURCE: &str = "Policy contains a statement with one or more invalid resources.";
pub(crate) const INVALID_EFFECT: &str = "Policy contains a statement with an invalid effect.";
pub(crate) const INVALID_VERSION: &str = "Policy contains an invalid version.";
pub(crate) const INVALID_ELEMENT: &str = "Policy contains an invalid element.";
pub(crate) const NO_STATEMENT: &str = "Policy contains no statement.";
pub(crate) const NO_PRINCIPAL: &str = "Policy contains a statement with no principal.";
pub(crate) const UNEXPECTED_PRINCIPAL: &str = "Policy document should not specify a principal.";
pub(crate) const NO_ACTION: &str = "Policy contains a statement with no action.";
pub(crate) const NO_RESOURCE: &str = "Policy contains a statement with no resource.";
pub(crate) const DUPLICATE_SID: &str = "Statement IDs (SID) in a single policy must be unique.";

/// The IAM actions of KMS: the API operations, plus the three that are permissions but not
/// operations (ReEncrypt is authorized as `kms:ReEncryptFrom` on the source key and
/// `kms:ReEncryptTo` on the destination key; `kms:SynchronizeMultiRegionKey` is used by KMS
/// itself for multi-Region keys).
fn is_kms_action(name: &str) -> bool {
    const EXTRA: [&str; 3] = ["ReEncryptFrom", "ReEncryptTo", "SynchronizeMultiRegionKey"];
    trent_model::OperationName::ALL.iter().map(|op| op.as_str()).chain(EXTRA).any(|known| known.eq_ignore_ascii_case(name))
}

/// Parses and validates a policy document; the error is the `MalformedPolicyDocumentException`
/// message.
pub fn parse(document: &str, kind: PolicyKind) -> Result<Policy, String> {
    let value: serde_json::Value = serde_json::from_str(document).map_err(|_| INVALID_JSON)?;
    let top = value.as_object().ok_or(INVALID_JSON)?;
    let mut id = None;
    let mut statements = None;
    for (name, value) in top {
        match name.as_str() {
            "Version" => match value.as_str() {
                Some("2012-10-17" | "2008-10-17") => {}
                _ => return Err(INVALID_VERSION.into()),
            },
            "Id" => id = Some(value.as_str().ok_or(INVALID_ELEMENT)?.to_owned()),
            "Statement" => {
                let list = match value {
                    serde_json::Value::Array(list) => list.iter().collect::<Vec<_>>(),
                    object @ serde_json::Value::Object(_) => vec![object],
                    _ => return Err(NO_STATEMENT.into()),
                };
                statements = Some(list.into_iter().map(|s| parse_statement(s, kind)).collect::<Result<Vec<_>, _>>()?);
            }
            _ => return Err(INVALID_ELEMENT.into()),
        }
    }
    let statements = statements.filter(|s| !s.is_empty()).ok_or(NO_STATEMENT)?;
    let mut sids = HashSet::new();
    if statements.iter().filter_map(|s| s.sid.as_deref()).any(|sid| !sids.insert(sid)) {
        return Err(DUPLICATE_SID.into());
    }
    Ok(Policy { id, statements })
}

fn parse_statement(value: &serde_json::Value, kind: PolicyKind) -> Result<Statement, String> {
    let object = value.as_object().ok_or(INVALID_ELEMENT)?;
    let (mut sid, mut effect, mut principals, mut actions, mut resources, mut conditions) = (None, None, None, None, None, Vec::new());
    for (name, value) in object {
        match name.as_str() {
            "Sid" => sid = Some(Sid::from(value.as_str().ok_or(INVALID_ELEMENT)?)),
            "Effect" => {
                effect = Some(match value.as_str() {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    _ => return Err(INVALID_EFFECT.into()),
                })
            }
            "Principal" | "NotPrincipal" => {
                if kind == PolicyKind::Identity {
                    return Err(UNEXPECTED_PRINCIPAL.into());
                }
                if principals.is_some() {
                    return Err(INVALID_PRINCIPAL.into());
                }
                principals = Some(Negatable { negated: name == "NotPrincipal", list: parse_principals(value)? });
            }
            "Action" | "NotAction" => {
                if actions.is_some() {
                    return Err(INVALID_ACTION.into());
                }
                actions = Some(Negatable { negated: name == "NotAction", list: parse_actions(value)? });
            }
            "Resource" | "NotResource" => {
                if resources.is_some() {
                    return Err(INVALID_RESOURCE.into());
                }
                resources = Some(Negatable { negated: name == "NotResource", list: parse_resources(value)? });
            }
            "Condition" => conditions = conditions::parse_block(value)?,
            _ => return Err(INVALID_ELEMENT.into()),
        }
    }
    if kind == PolicyKind::Key && principals.is_none() {
        return Err(NO_PRINCIPAL.into());
    }
    Ok(Statement {
        sid,
        effect: effect.ok_or(INVALID_EFFECT)?,
        principals,
        actions: actions.ok_or(NO_ACTION)?,
        resources: resources.ok_or(NO_RESOURCE)?,
        conditions,
    })
}

/// A string or a non-empty array of strings.
fn string_list<'v>(value: &'v serde_json::Value, error: &str) -> Result<Vec<&'v str>, String> {
    let list = match value {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(items) => items.iter().map(serde_json::Value::as_str).collect::<Option<Vec<_>>>().ok_or(error)?,
        _ => return Err(error.into()),
    };
    if list.is_empty() {
        return Err(error.into());
    }
    Ok(list)
}

fn parse_principals(value: &serde_json::Value) -> Result<Vec<PrincipalEntry>, String> {
    if value.as_str() == Some("*") {
        return Ok(vec![PrincipalEntry::Anyone]);
    }
    let object = value.as_object().filter(|o| !o.is_empty()).ok_or(INVALID_PRINCIPAL)?;
    let mut entries = Vec::new();
    for (kind, ids) in object {
        for id in string_list(ids, INVALID_PRINCIPAL)? {
            entries.push(match kind.as_str() {
                "AWS" => parse_aws_principal(id).ok_or(INVALID_PRINCIPAL)?,
                "Service" | "Federated" | "CanonicalUser" if !id.is_empty() => PrincipalEntry::Other,
                _ => return Err(INVALID_PRINCIPAL.into()),
            });
        }
    }
    Ok(entries)
}

/// `*`, a 12-digit account ID, or an IAM/STS ARN of the account root, a user, a role, an
/// assumed-role session or a federated user. No wildcards inside ARNs.
fn parse_aws_principal(id: &str) -> Option<PrincipalEntry> {
    if id == "*" {
        return Some(PrincipalEntry::Anyone);
    }
    if is_account_id(id) {
        return Some(PrincipalEntry::Account(id.to_owned()));
    }
    let parts: Vec<&str> = id.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return None;
    };
    if *arn != "arn" || !partition.starts_with("aws") || !region.is_empty() || !is_account_id(account) || id.contains(['*', '?']) {
        return None;
    }
    let named = |prefix: &str, min_segments: usize| {
        resource.strip_prefix(prefix).is_some_and(|rest| rest.split('/').count() >= min_segments && rest.split('/').all(|s| !s.is_empty()))
    };
    match *service {
        "iam" if *resource == "root" => Some(PrincipalEntry::Account((*account).to_owned())),
        "iam" if named("user/", 1) || named("role/", 1) => Some(PrincipalEntry::Arn(id.to_owned())),
        "sts" if named("assumed-role/", 2) || named("federated-user/", 1) => Some(PrincipalEntry::Arn(id.to_owned())),
        _ => None,
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `*`, or `service:name` where the name may hold wildcards. A `kms:` name without wildcards must
/// be a KMS action.
fn parse_actions(value: &serde_json::Value) -> Result<Vec<String>, String> {
    let mut actions = Vec::new();
    for action in string_list(value, INVALID_ACTION)? {
        if action != "*" {
            let (service, name) = action.split_once(':').ok_or(INVALID_ACTION)?;
            let service_ok = !service.is_empty() && service.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            let wildcard = name.contains(['*', '?']);
            if !service_ok || name.is_empty() || (service.eq_ignore_ascii_case("kms") && !wildcard && !is_kms_action(name)) {
                return Err(INVALID_ACTION.into());
            }
        }
        actions.push(action.to_ascii_lowercase());
    }
    Ok(actions)
}

/// `*`, or an ARN (wildcards allowed).
fn parse_resources(value: &serde_json::Value) -> Result<Vec<String>, String> {
    let resources = string_list(value, INVALID_RESOURCE)?;
    if resources.iter().any(|r| *r != "*" && !(r.starts_with("arn:") && r.splitn(6, ':').count() == 6)) {
        return Err(INVALID_RESOURCE.into());
    }
    Ok(resources.into_iter().map(str::to_owned).collect())
}

/// How a statement's principal is compared with the caller.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PrincipalMode {
    /// The statement names the caller: `*`, its ARN, its role, or (the root user only) its
    /// account. A Deny naming an account applies to everyone in it.
    Direct,
    /// An Allow names the caller's account: the key policy delegates to the account's identity
    /// policies.
    Account,
}

impl Statement {
    fn applies(&self, request: &RequestContext, mode: PrincipalMode) -> bool {
        self.principal_matches(request.principal, mode)
            && self.actions.matches(|pattern| glob_ignore_ascii_case(pattern, request.action))
            && self.resources.matches(|pattern| glob(pattern, request.resource))
            && self.conditions.iter().all(|c| c.holds(request.values))
    }

    fn principal_matches(&self, caller: &PrincipalInfo, mode: PrincipalMode) -> bool {
        let Some(principals) = &self.principals else {
            return mode == PrincipalMode::Direct;
        };
        match mode {
            PrincipalMode::Direct => {
                let direct = |entry: &PrincipalEntry| match entry {
                    PrincipalEntry::Anyone => true,
                    PrincipalEntry::Account(account) => {
                        *account == caller.account && (caller.is_root() || (self.effect == Effect::Deny && !principals.negated))
                    }
                    PrincipalEntry::Arn(arn) => *arn == caller.arn || caller.role_arn.as_ref() == Some(arn),
                    PrincipalEntry::Other => false,
                };
                principals.matches(direct)
            }
            PrincipalMode::Account => {
                self.effect == Effect::Allow
                    && !principals.negated
                    && principals.list.iter().any(|e| matches!(e, PrincipalEntry::Account(account) if *account == caller.account))
            }
        }
    }
}

impl<T> Negatable<Vec<T>> {
    fn matches(&self, one: impl Fn(&T) -> bool) -> bool {
        self.list.iter().any(one) != self.negated
    }
}

impl Policy {
    /// The condition keys the policy's statements test (normalized with
    /// [`conditions::condition_key`]), so that callers gather only the values that matter.
    pub fn condition_keys(&self) -> impl Iterator<Item = &str> {
        self.statements.iter().flat_map(|s| &s.conditions).map(|c| c.key())
    }
}

/// Evaluates one policy: an applicable Deny statement wins, then an applicable Allow; otherwise
/// the policy says nothing. Principals are matched directly (see [`delegation`] for statements
/// that name the caller's account).
pub fn evaluate(policy: &Policy, request: &RequestContext) -> Decision {
    let applicable = |effect| policy.statements.iter().find(|s| s.effect == effect && s.applies(request, PrincipalMode::Direct));
    if let Some(s) = applicable(Effect::Deny) {
        return Decision::Deny { sid: s.sid.clone() };
    }
    if let Some(s) = applicable(Effect::Allow) {
        return Decision::Allow { sid: s.sid.clone() };
    }
    Decision::NoMatch
}

/// Whether a key policy allows the request for the caller's whole account (`{"AWS":
/// "arn:aws:iam::ACCOUNT:root"}` or `{"AWS": "ACCOUNT"}` — the default key policy's "Enable IAM
/// User Permissions" statement): then the caller's identity policies decide. Returns
/// `Allow { sid }` of that statement, or `NoMatch`. Deny statements are not considered here.
pub fn delegation(policy: &Policy, request: &RequestContext) -> Decision {
    match policy.statements.iter().find(|s| s.applies(request, PrincipalMode::Account)) {
        Some(s) => Decision::Allow { sid: s.sid.clone() },
        None => Decision::NoMatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn user(account: &str, name: &str) -> PrincipalInfo {
        PrincipalInfo { arn: format!("arn:aws:iam::{account}:user/{name}"), account: account.into(), role_arn: None }
    }

    const KEY: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn key_policy(statements: serde_json::Value) -> Policy {
        parse(&json!({"Version": "2012-10-17", "Statement": statements}).to_string(), PolicyKind::Key).unwrap_or_else(|e| panic!("{e}: {statements}"))
    }

    fn eval(policy: &Policy, caller: &PrincipalInfo, action: &str, resource: &str) -> Decision {
        let values = HashMap::new();
        evaluate(policy, &RequestContext { action, principal: caller, resource, values: &values })
    }

    fn allow(sid: &str) -> Decision {
        Decision::Allow { sid: Some(sid.into()) }
    }

    fn deny(sid: &str) -> Decision {
        Decision::Deny { sid: Some(sid.into()) }
    }

    #[test]
    fn actions_and_wildcards() {
        let alice = user("111122223333", "alice");
        for (pattern, action, expected) in [
            (json!("kms:Encrypt"), "kms:Encrypt", true),
            (json!("kms:Encrypt"), "kms:Decrypt", false),
            (json!("KMS:encrypt"), "kms:Encrypt", true),
            (json!("kms:*"), "kms:ScheduleKeyDeletion", true),
            (json!("*"), "kms:Sign", true),
            (json!("kms:Describe*"), "kms:DescribeKey", true),
            (json!("kms:Describe*"), "kms:DisableKey", false),
            (json!("kms:GenerateDataKey*"), "kms:GenerateDataKeyPairWithoutPlaintext", true),
            (json!("kms:ReEncrypt*"), "kms:ReEncryptFrom", true),
            (json!("kms:?ncrypt"), "kms:Encrypt", true),
            (json!(["kms:Sign", "kms:Verify"]), "kms:Verify", true),
            (json!("iam:*"), "kms:Encrypt", false),
            (json!(["s3:GetObject", "kms:Decrypt"]), "kms:Decrypt", true),
        ] {
            let policy = key_policy(json!({"Sid": "s", "Effect": "Allow", "Principal": "*", "Action": pattern, "Resource": "*"}));
            let expected = if expected { allow("s") } else { Decision::NoMatch };
            assert_eq!(eval(&policy, &alice, action, KEY), expected, "{pattern} vs {action}");
        }
    }

    #[test]
    fn resources_and_wildcards() {
        let alice = user("111122223333", "alice");
        for (pattern, resource, expected) in [
            (json!("*"), KEY, true),
            (json!("*"), "*", true),
            (json!(KEY), KEY, true),
            (json!("arn:aws:kms:*:111122223333:key/*"), KEY, true),
            (json!("arn:aws:kms:eu-west-1:444455556666:key/*"), KEY, false),
            (json!("arn:aws:kms:eu-west-1:111122223333:key/1234ABCD-*"), KEY, false),
            (json!(["arn:aws:kms:*:*:alias/*", "arn:aws:kms:*:*:key/1234abcd-*"]), KEY, true),
            (json!("arn:aws:kms:*:111122223333:key/*"), "*", false),
        ] {
            let policy = key_policy(json!({"Sid": "s", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": pattern}));
            let expected = if expected { allow("s") } else { Decision::NoMatch };
            assert_eq!(eval(&policy, &alice, "kms:Encrypt", resource), expected, "{pattern} vs {resource}");
        }
    }

    #[test]
    fn principals() {
        let role_session = PrincipalInfo {
            arn: "arn:aws:sts::111122223333:assumed-role/Admin/alice-session".into(),
            account: "111122223333".into(),
            role_arn: Some("arn:aws:iam::111122223333:role/Admin".into()),
        };
        let root = PrincipalInfo { arn: "arn:aws:iam::111122223333:root".into(), account: "111122223333".into(), role_arn: None };
        let alice = user("111122223333", "alice");
        let stranger = user("444455556666", "alice");
        for (principal, caller, expected) in [
            (json!("*"), &stranger, true),
            (json!({"AWS": "*"}), &alice, true),
            (json!({"AWS": "arn:aws:iam::111122223333:user/alice"}), &alice, true),
            (json!({"AWS": "arn:aws:iam::111122223333:user/alice"}), &stranger, false),
            (json!({"AWS": ["arn:aws:iam::111122223333:user/bob", "arn:aws:iam::111122223333:user/alice"]}), &alice, true),
            (json!({"AWS": "arn:aws:iam::111122223333:role/Admin"}), &role_session, true),
            (json!({"AWS": "arn:aws:sts::111122223333:assumed-role/Admin/alice-session"}), &role_session, true),
            (json!({"AWS": "arn:aws:sts::111122223333:assumed-role/Admin/other"}), &role_session, false),
            (json!({"AWS": "arn:aws:iam::111122223333:role/Admin"}), &alice, false),
            // The account (root) matches the root user directly; other users only by delegation.
            (json!({"AWS": "arn:aws:iam::111122223333:root"}), &root, true),
            (json!({"AWS": "111122223333"}), &root, true),
            (json!({"AWS": "arn:aws:iam::111122223333:root"}), &alice, false),
            (json!({"Service": "logs.amazonaws.com"}), &alice, false),
            (json!({"Service": ["logs.amazonaws.com"], "AWS": "arn:aws:iam::111122223333:user/alice"}), &alice, true),
        ] {
            let policy = key_policy(json!({"Sid": "s", "Effect": "Allow", "Principal": principal, "Action": "kms:*", "Resource": "*"}));
            let expected = if expected { allow("s") } else { Decision::NoMatch };
            assert_eq!(eval(&policy, caller, "kms:Encrypt", KEY), expected, "{principal} vs {}", caller.arn);
        }
    }

    #[test]
    fn account_delegation() {
        let alice = user("111122223333", "alice");
        let stranger = user("444455556666", "mallory");
        let values = HashMap::new();
        let policy = key_policy(json!([
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "Other account", "Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "kms:Decrypt", "Resource": "*"},
            {"Sid": "Not an account", "Effect": "Allow", "Principal": "*", "Action": "kms:Sign", "Resource": "*"},
        ]));
        let request = |caller, action| RequestContext { action, principal: caller, resource: KEY, values: &values };
        assert_eq!(delegation(&policy, &request(&alice, "kms:Encrypt")), allow("Enable IAM User Permissions"));
        assert_eq!(delegation(&policy, &request(&stranger, "kms:Decrypt")), allow("Other account"));
        assert_eq!(delegation(&policy, &request(&stranger, "kms:Encrypt")), Decision::NoMatch);
        // "*" is not a delegation to the account: it allows directly.
        assert_eq!(delegation(&policy, &request(&stranger, "kms:Sign")), Decision::NoMatch);
        assert_eq!(evaluate(&policy, &request(&stranger, "kms:Sign")), allow("Not an account"));
    }

    #[test]
    fn negated_elements() {
        let alice = user("111122223333", "alice");
        let bob = user("111122223333", "bob");
        let policy = key_policy(json!([
            {"Sid": "AllButDelete", "Effect": "Allow", "Principal": "*", "NotAction": ["kms:ScheduleKeyDeletion", "kms:Disable*"], "Resource": "*"},
            {"Sid": "OnlyAlice", "Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "Action": "kms:Decrypt", "Resource": "*"},
            {"Sid": "NotThatKey", "Effect": "Deny", "Principal": "*", "Action": "kms:Sign", "NotResource": "arn:aws:kms:*:*:key/1234abcd-*"},
        ]));
        assert_eq!(eval(&policy, &alice, "kms:Encrypt", KEY), allow("AllButDelete"));
        assert_eq!(eval(&policy, &alice, "kms:ScheduleKeyDeletion", KEY), Decision::NoMatch);
        assert_eq!(eval(&policy, &alice, "kms:DisableKeyRotation", KEY), Decision::NoMatch);
        assert_eq!(eval(&policy, &alice, "kms:Decrypt", KEY), allow("AllButDelete"));
        assert_eq!(eval(&policy, &bob, "kms:Decrypt", KEY), deny("OnlyAlice"));
        assert_eq!(eval(&policy, &bob, "kms:Sign", KEY), allow("AllButDelete"));
        assert_eq!(eval(&policy, &bob, "kms:Sign", "arn:aws:kms:eu-west-1:111122223333:key/other"), deny("NotThatKey"));
        // NotAction with another service's actions matches every KMS action.
        let policy = key_policy(json!({"Sid": "s", "Effect": "Allow", "Principal": "*", "NotAction": "iam:*", "Resource": "*"}));
        assert_eq!(eval(&policy, &alice, "kms:Encrypt", KEY), allow("s"));
    }

    #[test]
    fn explicit_deny_wins() {
        let alice = user("111122223333", "alice");
        let policy = key_policy(json!([
            {"Sid": "Allow", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
            {"Sid": "Deny", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "Action": "kms:Decrypt", "Resource": "*"},
        ]));
        assert_eq!(eval(&policy, &alice, "kms:Decrypt", KEY), deny("Deny"));
        assert_eq!(eval(&policy, &alice, "kms:Encrypt", KEY), allow("Allow"));
        assert_eq!(eval(&policy, &user("111122223333", "bob"), "kms:Decrypt", KEY), allow("Allow"));
        // A Deny naming the account applies to everyone in it.
        let policy = key_policy(json!([
            {"Sid": "Allow", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
            {"Sid": "DenyAccount", "Effect": "Deny", "Principal": {"AWS": "111122223333"}, "Action": "kms:Decrypt", "Resource": "*"},
        ]));
        assert_eq!(eval(&policy, &alice, "kms:Decrypt", KEY), deny("DenyAccount"));
        assert_eq!(eval(&policy, &user("444455556666", "x"), "kms:Decrypt", KEY), allow("Allow"));
    }

    #[test]
    fn conditions_gate_statements() {
        let alice = user("111122223333", "alice");
        let policy = key_policy(json!({
            "Sid": "s", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:EncryptionContext:Department": "IT", "kms:CallerAccount": "111122223333"},
                "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}
            }
        }));
        let context = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (conditions::condition_key(k), vec![v.to_string()])).collect::<HashMap<_, _>>();
        let all = context(&[("kms:EncryptionContext:Department", "IT"), ("kms:CallerAccount", "111122223333"), ("aws:SourceIp", "192.0.2.9")]);
        let wrong_ip = context(&[("kms:EncryptionContext:Department", "IT"), ("kms:CallerAccount", "111122223333"), ("aws:SourceIp", "198.51.100.1")]);
        let missing = context(&[("kms:CallerAccount", "111122223333"), ("aws:SourceIp", "10.1.2.3")]);
        for (values, expected) in [(&all, allow("s")), (&wrong_ip, Decision::NoMatch), (&missing, Decision::NoMatch)] {
            let request = RequestContext { action: "kms:Decrypt", principal: &alice, resource: KEY, values };
            assert_eq!(evaluate(&policy, &request), expected, "{values:?}");
        }
    }

    #[test]
    fn document_shapes() {
        // A single statement object, no Version, no Sid, an Id.
        let policy =
            parse(r#"{"Id": "key-default-1", "Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}}"#, PolicyKind::Key)
                .unwrap();
        assert_eq!(policy.id.as_deref(), Some("key-default-1"));
        assert_eq!(eval(&policy, &user("111122223333", "a"), "kms:Encrypt", KEY), Decision::Allow { sid: None });
        assert!(parse(r#"{"Version": "2008-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}"#, PolicyKind::Identity).is_ok());
        // The default key policy.
        let default = r#"{
            "Version": "2012-10-17", "Id": "key-default-1",
            "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]
        }"#;
        assert!(parse(default, PolicyKind::Key).is_ok());
    }

    #[test]
    fn malformed_documents() {
        let statement = |extra: serde_json::Value| {
            let mut s = json!({"Effect": "Allow", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*"});
            for (k, v) in extra.as_object().unwrap() {
                if v.is_null() {
                    s.as_object_mut().unwrap().remove(k);
                } else {
                    s[k] = v.clone();
                }
            }
            json!({"Version": "2012-10-17", "Statement": [s]}).to_string()
        };
        let key = PolicyKind::Key;
        for (document, kind, message) in [
            ("{not json".to_owned(), key, INVALID_JSON),
            ("[]".to_owned(), key, INVALID_JSON),
            (r#"{"Version": "2012-10-17"}"#.to_owned(), key, NO_STATEMENT),
            (r#"{"Statement": []}"#.to_owned(), key, NO_STATEMENT),
            (r#"{"Statement": "x"}"#.to_owned(), key, NO_STATEMENT),
            (r#"{"Version": "2020-01-01", "Statement": []}"#.to_owned(), key, INVALID_VERSION),
            (r#"{"Statement": [], "Extra": 1}"#.to_owned(), key, INVALID_ELEMENT),
            (r#"{"Statement": ["x"]}"#.to_owned(), key, INVALID_ELEMENT),
            (statement(json!({"Effect": "allow"})), key, INVALID_EFFECT),
            (statement(json!({"Effect": "Maybe"})), key, INVALID_EFFECT),
            (statement(json!({"Effect": null})), key, INVALID_EFFECT),
            (statement(json!({"Action": "kms:Foo"})), key, INVALID_ACTION),
            (statement(json!({"Action": ["kms:Encrypt", "kms:EncryptAll"]})), key, INVALID_ACTION),
            (statement(json!({"Action": "Encrypt"})), key, INVALID_ACTION),
            (statement(json!({"Action": []})), key, INVALID_ACTION),
            (statement(json!({"Action": 7})), key, INVALID_ACTION),
            (statement(json!({"Action": ":Encrypt"})), key, INVALID_ACTION),
            (statement(json!({"NotAction": "kms:Encrypt"})), key, INVALID_ACTION),
            (statement(json!({"Action": null})), key, NO_ACTION),
            (statement(json!({"Resource": null})), key, NO_RESOURCE),
            (statement(json!({"Resource": "key/1234"})), key, INVALID_RESOURCE),
            (statement(json!({"NotResource": "*"})), key, INVALID_RESOURCE),
            (statement(json!({"Principal": null})), key, NO_PRINCIPAL),
            (statement(json!({"NotPrincipal": "*"})), key, INVALID_PRINCIPAL),
            (statement(json!({"Principal": "alice"})), key, INVALID_PRINCIPAL),
            (statement(json!({"Principal": {}})), key, INVALID_PRINCIPAL),
            (statement(json!({"Principal": {"AWS": []}})), key, INVALID_PRINCIPAL),
            (statement(json!({"Principal": {"AWS": "1111"}})), key, INVALID_PRINCIPAL),
            (statement(json!({"Principal": {"AWS": "arn:aws:iam::111122223333:user/*"}})), key, INVALID_PRINCIPAL),
            (statement(json!({"Principal": {"AWS": "arn:aws:iam::111122223333:group/devs"}})), key, INVALID_PRINCIPAL),
            (statement(json!({"Principal": {"AWS": "arn:aws:iam::111122223333:user/"}})), key, INVALID_PRINCIPAL),
            (statement(json!({"Principal": {"AWS": "arn:aws:iam:eu-west-1:111122223333:root"}})), key, INVALID_PRINCIPAL),
            (statement(json!({"Principal": {"AWS": "arn:aws:sts::111122223333:assumed-role/Admin"}})), key, INVALID_PRINCIPAL),
            (statement(json!({"Principal": {"AWS": "AIDACKCEVSQ6C2EXAMPLE"}})), key, INVALID_PRINCIPAL),
            (statement(json!({"Principal": {"Human": "alice"}})), key, INVALID_PRINCIPAL),
            (statement(json!({"Principal": {"Service": ""}})), key, INVALID_PRINCIPAL),
            (statement(json!({})), PolicyKind::Identity, UNEXPECTED_PRINCIPAL),
            (statement(json!({"Condition": {"StringEqualz": {"k": "v"}}})), key, conditions::INVALID_CONDITION),
            (statement(json!({"Sid": 1})), key, INVALID_ELEMENT),
            (statement(json!({"Effects": "Allow"})), key, INVALID_ELEMENT),
        ] {
            assert_eq!(parse(&document, kind), Err(message.to_owned()), "{document}");
        }
        let twice = json!({"Statement": [
            {"Sid": "a", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
            {"Sid": "a", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"},
        ]});
        assert_eq!(parse(&twice.to_string(), key), Err(DUPLICATE_SID.to_owned()));
    }

    #[test]
    fn every_kms_operation_is_an_action() {
        for name in trent_model::OperationName::ALL.map(trent_model::OperationName::as_str) {
            let document = json!({"Statement": {"Effect": "Allow", "Action": format!("kms:{name}"), "Resource": "*"}});
            assert!(parse(&document.to_string(), PolicyKind::Identity).is_ok(), "{name}");
        }
    }
}
