//! AWS managed keys: the key an AWS service uses for an account when no other is named, behind a
//! predefined alias `alias/aws/<service>`. As on AWS, ListAliases lists the predefined aliases
//! from the start (without a key), and the first request naming one makes the account's key in
//! that region: a symmetric key with `KeyManager` AWS, rotated every year, under AWS's policy for
//! such keys, which allows only using it and reading it — so disabling, deleting, re-policying,
//! tagging or rotating it on demand is refused as on AWS, by that policy (AccessDeniedException).

use super::keys::new_material_id;
use super::rotation::DEFAULT_PERIOD_DAYS;
use super::{wrap_material, Ctx};
use crate::store::{AliasRecord, KeyRecord, Material, RotationSchedule, Scope, StoreError};
use trent_model::*;

/// The predefined aliases AWS lists in every account and region, in name order.
pub const PREDEFINED_ALIASES: [&str; 14] = [
    "alias/aws/acm",
    "alias/aws/dynamodb",
    "alias/aws/ebs",
    "alias/aws/elasticfilesystem",
    "alias/aws/es",
    "alias/aws/glue",
    "alias/aws/kinesisvideo",
    "alias/aws/lambda",
    "alias/aws/rds",
    "alias/aws/redshift",
    "alias/aws/s3",
    "alias/aws/secretsmanager",
    "alias/aws/ssm",
    "alias/aws/xray",
];

pub fn is_predefined(alias: &str) -> bool {
    PREDEFINED_ALIASES.binary_search(&alias).is_ok()
}

/// The alias `alias` (predefined) of the account's AWS managed key in `scope`, making the key on
/// first use. The key ID is derived from the scope and alias, so nodes racing to make the same key
/// make one: the loser's insert conflicts and it takes the winner's.
pub async fn alias_on_first_use(ctx: &Ctx, scope: &Scope, alias: &str) -> Result<AliasRecord, KmsError> {
    let key_id = key_id_of(scope, alias);
    let now = ctx.clock.now();
    match ctx.store.insert_key(scope, &new_key(ctx, scope, alias, &key_id, now)?).await {
        Ok(()) | Err(StoreError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    let record = AliasRecord { name: alias.to_owned(), key_id, created_ms: now.0, updated_ms: now.0 };
    match ctx.store.insert_alias(scope, &record).await {
        Ok(()) => Ok(record),
        Err(StoreError::Conflict) => ctx.store.get_alias(scope, alias).await?.ok_or_else(|| kms_error!(ConflictException, "Try again.")),
        Err(e) => Err(e.into()),
    }
}

fn key_id_of(scope: &Scope, alias: &str) -> String {
    let name = ["trent/aws-managed-key/", &scope.account, "/", &scope.region, "/", alias].concat();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

fn new_key(ctx: &Ctx, scope: &Scope, alias: &str, key_id: &str, now: Timestamp) -> Result<KeyRecord, KmsError> {
    let service = alias.trim_start_matches("alias/aws/");
    let material_id = new_material_id()?;
    let material = trent_crypto::random_bytes(trent_crypto::symmetric::KEY_LEN)?;
    let wrapped = wrap_material(ctx, scope, key_id, &material_id, &material)?;
    Ok(KeyRecord {
        key_id: key_id.to_owned(),
        revision: 0,
        created_ms: now.0,
        description: format!("Default key that protects my {service} resources when no other key is defined"),
        key_spec: KeySpec::SymmetricDefault,
        key_usage: KeyUsageType::EncryptDecrypt,
        origin: OriginType::AwsKms,
        state: KeyState::Enabled,
        deletion: None,
        policy: policy(&scope.account, service),
        tags: Vec::new(),
        materials: vec![Material { id: material_id, wrapped, created_ms: now.0, rotation: None, description: None }],
        rotation: Some(RotationSchedule { period_days: DEFAULT_PERIOD_DAYS, next_ms: now.plus_days(i64::from(DEFAULT_PERIOD_DAYS)).0 }),
        on_demand_rotations: 0,
        import: None,
        multi_region: None,
        last_use: None,
        tracking_start_ms: Some(now.0),
        custody: None,
        aws_managed: true,
    })
}

/// AWS's policy for an AWS managed key: principals of the account may use it for encryption and
/// read it; nobody may manage it. AWS's first statement also requires `kms:ViaService` (the request
/// came through the service); Trent has no services in front of it, so the applications that would
/// call through them call directly, and that condition is left out.
fn policy(account: &str, service: &str) -> String {
    format!(
        r#"{{
  "Version" : "2012-10-17",
  "Id" : "auto-{service}-1",
  "Statement" : [ {{
    "Sid" : "Allow access through {service} for all principals in the account that are authorized to use {service}",
    "Effect" : "Allow",
    "Principal" : {{
      "AWS" : "*"
    }},
    "Action" : [ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey" ],
    "Resource" : "*",
    "Condition" : {{
      "StringEquals" : {{
        "kms:CallerAccount" : "{account}"
      }}
    }}
  }}, {{
    "Sid" : "Allow direct access to key metadata to the account",
    "Effect" : "Allow",
    "Principal" : {{
      "AWS" : "arn:aws:iam::{account}:root"
    }},
    "Action" : [ "kms:Describe*", "kms:Get*", "kms:List*" ],
    "Resource" : "*"
  }} ]
}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_aliases_are_in_name_order_for_the_binary_search() {
        assert!(PREDEFINED_ALIASES.is_sorted());
        assert!(is_predefined("alias/aws/s3") && !is_predefined("alias/aws/kms"));
    }

    #[test]
    fn the_policy_is_json_and_names_the_account() {
        let policy: serde_json::Value = serde_json::from_str(&policy("111122223333", "s3")).unwrap();
        assert_eq!(policy["Statement"][0]["Condition"]["StringEquals"]["kms:CallerAccount"], "111122223333");
    }
}
