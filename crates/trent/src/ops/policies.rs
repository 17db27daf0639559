//! Key policies: PutKeyPolicy, GetKeyPolicy, ListKeyPolicies, and the checks CreateKey shares.

use super::authorize::{authorize_key, check_lockout, Conditions, KeyIdForms};
use super::{modify_key, require_not_pending, Caller, Ctx};
use crate::authz;
use trent_model::*;

/// AWS's service quota for a key policy document.
const MAX_POLICY_BYTES: usize = 32 * 1024;
/// A key has one policy, and this is its name.
const POLICY_NAME: &str = "default";

pub async fn put_key_policy(ctx: &Ctx, caller: &Caller, input: PutKeyPolicyRequest) -> Result<(), KmsError> {
    check_policy_name(input.policy_name.as_deref())?;
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "PutKeyPolicy", &Conditions::default()).await?;
    let policy = check_policy(caller, input.policy, &key.arn, input.bypass_policy_lockout_safety_check)?;
    let arn = key.arn.clone();
    modify_key(ctx, key, |key| {
        require_not_pending(&arn, key)?;
        key.policy.clone_from(&policy);
        Ok(())
    })
    .await?;
    Ok(())
}

pub async fn get_key_policy(ctx: &Ctx, caller: &Caller, input: GetKeyPolicyRequest) -> Result<GetKeyPolicyResponse, KmsError> {
    check_policy_name(input.policy_name.as_deref())?;
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "GetKeyPolicy", &Conditions::default()).await?;
    Ok(GetKeyPolicyResponse { policy: Some(key.record.policy.clone()), policy_name: Some(POLICY_NAME.to_owned()) })
}

pub async fn list_key_policies(ctx: &Ctx, caller: &Caller, input: ListKeyPoliciesRequest) -> Result<ListKeyPoliciesResponse, KmsError> {
    authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "ListKeyPolicies", &Conditions::default()).await?;
    Ok(ListKeyPoliciesResponse { policy_names: Some(vec![POLICY_NAME.to_owned()]), next_marker: None, truncated: Some(false) })
}

fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    match name {
        None | Some(POLICY_NAME) => Ok(()),
        Some(other) => Err(kms_error!(NotFoundException, "No such policy exists: {other}. The only key policy name is {POLICY_NAME}.")),
    }
}

/// Checks a new key policy for `key_arn` as AWS does: size, the policy language, and (unless
/// bypassed) that the caller could still change the policy afterwards.
pub fn check_policy(caller: &Caller, policy: String, key_arn: &str, bypass_lockout_check: Option<bool>) -> Result<String, KmsError> {
    if policy.len() > MAX_POLICY_BYTES {
        return Err(kms_error!(LimitExceededException, "Key policy exceeds the maximum size of 32 KB."));
    }
    let parsed = authz::parse(&policy, authz::PolicyKind::Key).map_err(|message| kms_error!(MalformedPolicyDocumentException, "{message}"))?;
    if bypass_lockout_check != Some(true) {
        check_lockout(caller, &parsed, key_arn)?;
    }
    Ok(policy)
}

/// The key policy AWS gives a key created without one: the account's root may do everything, so
/// the account's IAM policies decide.
pub fn default_policy(account: &str) -> String {
    format!(
        r#"{{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {{
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {{
      "AWS" : "arn:aws:iam::{account}:root"
    }},
    "Action" : "kms:*",
    "Resource" : "*"
  }} ]
}}"#
    )
}
