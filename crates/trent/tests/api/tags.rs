//! TagResource, UntagResource, ListResourceTags, and the tags given to CreateKey.
//! Every rejected request is also checked to have changed no tag.

use aws_sdk_kms::types::Tag;
use aws_sdk_kms::Client;

use crate::common::*;

#[tokio::test]
async fn tag_resource_adds_and_overwrites_and_untag_resource_removes() {
    let server = Server::start();
    let kms = server.client(REGION);
    let created = kms
        .create_key()
        .tags(tag("env", "dev"))
        .send()
        .await
        .expect("CreateKey");
    let id = created.key_metadata().expect("KeyMetadata").key_id();

    kms.tag_resource()
        .key_id(id)
        .tags(tag("team", "core"))
        .tags(tag("env", "prod"))
        .tags(tag("empty", ""))
        .send()
        .await
        .expect("TagResource");
    assert_eq!(
        tags_of(&kms, id).await,
        pairs(&[("empty", ""), ("env", "prod"), ("team", "core")])
    );

    kms.tag_resource()
        .key_id(key_arn(REGION, id))
        .tags(tag("by-arn", "yes"))
        .send()
        .await
        .expect("TagResource by ARN");
    kms.untag_resource()
        .key_id(id)
        .tag_keys("team")
        .tag_keys("never-set")
        .send()
        .await
        .expect("UntagResource");
    assert_eq!(
        tags_of(&kms, id).await,
        pairs(&[("by-arn", "yes"), ("empty", ""), ("env", "prod")])
    );
}

#[tokio::test]
async fn a_key_holds_at_most_50_tags() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;

    kms.tag_resource()
        .key_id(&id)
        .set_tags(Some(numbered("t", 50)))
        .send()
        .await
        .expect("50 tags");
    kms.tag_resource()
        .key_id(&id)
        .tags(tag("t-00", "changed"))
        .send()
        .await
        .expect("overwriting adds no tag");
    let message =
        assert_tag_rejected(&kms, &id, &id, vec![tag("one-more", "x")], "TagException").await;
    assert!(message.contains("Too many tags"), "{message}");

    kms.untag_resource()
        .key_id(&id)
        .tag_keys("t-01")
        .tag_keys("t-02")
        .send()
        .await
        .expect("UntagResource");
    let three = vec![tag("n1", "x"), tag("n2", "x"), tag("n3", "x")];
    let message = assert_tag_rejected(&kms, &id, &id, three, "TagException").await;
    assert!(
        message.contains("Too many tags"),
        "48 existing + 3 new: {message}"
    );
    kms.tag_resource()
        .key_id(&id)
        .tags(tag("n1", "x"))
        .tags(tag("n2", "x"))
        .send()
        .await
        .expect("48 + 2");
    assert_eq!(tags_of(&kms, &id).await.len(), 50);

    let other = create_key(&kms).await.key_id;
    let message =
        assert_tag_rejected(&kms, &other, &other, numbered("t", 51), "TagException").await;
    assert!(message.contains("Too many tags"), "{message}");
}

#[tokio::test]
async fn create_key_with_invalid_tags_creates_no_key() {
    let server = Server::start();
    let kms = server.client(REGION);
    let too_many = kms
        .create_key()
        .set_tags(Some(numbered("t", 51)))
        .send()
        .await;
    assert_code(too_many, "TagException");
    let reserved = kms.create_key().tags(tag("aws:owner", "me")).send().await;
    assert_code(reserved, "TagException");
    assert!(list_key_ids(&kms, None).await.is_empty());
}

#[tokio::test]
async fn invalid_tags_are_rejected_with_the_aws_errors() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    kms.tag_resource()
        .key_id(&id)
        .tags(tag("keep", "me"))
        .send()
        .await
        .expect("TagResource");

    let long_key = vec![tag(&"k".repeat(129), "v")];
    let message = assert_tag_rejected(&kms, &id, &id, long_key, "ValidationException").await;
    assert!(message.contains("'tags.1.member.tagKey'"), "{message}");
    assert!(
        message.contains("Member must have length less than or equal to 128"),
        "{message}"
    );

    let long_value = vec![tag("k", &"v".repeat(257))];
    let message = assert_tag_rejected(&kms, &id, &id, long_value, "ValidationException").await;
    assert!(message.contains("'tags.1.member.tagValue'"), "{message}");
    assert!(
        message.contains("Member must have length less than or equal to 256"),
        "{message}"
    );

    // A valid tag next to an invalid one is not applied either.
    let reserved = vec![tag("fine", "1"), tag("aws:owner", "me")];
    let message = assert_tag_rejected(&kms, &id, &id, reserved, "TagException").await;
    assert!(
        message.contains("Tags beginning with aws: are reserved"),
        "{message}"
    );

    let duplicate = vec![tag("dup", "1"), tag("dup", "2")];
    let message = assert_tag_rejected(&kms, &id, &id, duplicate, "TagException").await;
    assert!(message.contains("Duplicate tag keys"), "{message}");

    let longest = tag(&"k".repeat(128), &"v".repeat(256));
    kms.tag_resource()
        .key_id(&id)
        .tags(longest)
        .send()
        .await
        .expect("128-char key, 256-char value");
}

#[tokio::test]
async fn tag_resource_takes_a_key_id_or_key_arn_only() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    create_alias(&kms, "alias/tagged", &id).await;
    let tags = || vec![tag("x", "y")];

    // Management operations document key ID or key ARN only; a non-key ID is NotFound [facts].
    assert_tag_rejected(&kms, &id, "alias/tagged", tags(), "NotFoundException").await;
    let alias = alias_arn(REGION, "alias/tagged");
    assert_tag_rejected_in(
        &kms,
        &id,
        &alias,
        tags(),
        &["NotFoundException", "InvalidArnException"],
    )
    .await;
    let malformed = format!("arn:aws:kms:{REGION}:{ACCOUNT}:nonsense");
    assert_tag_rejected_in(
        &kms,
        &id,
        &malformed,
        tags(),
        &["InvalidArnException", "NotFoundException"],
    )
    .await;
    assert_tag_rejected(
        &kms,
        &id,
        &key_arn("us-east-1", &id),
        tags(),
        "NotFoundException",
    )
    .await;

    let expected = format!("Key '{}' does not exist", key_arn(REGION, MISSING_KEY));
    let message = assert_code(
        kms.tag_resource()
            .key_id(MISSING_KEY)
            .set_tags(Some(tags()))
            .send()
            .await,
        "NotFoundException",
    );
    assert_eq!(message, expected);
    assert_code(
        kms.untag_resource()
            .key_id(MISSING_KEY)
            .tag_keys("x")
            .send()
            .await,
        "NotFoundException",
    );
    assert_code(
        kms.list_resource_tags().key_id(MISSING_KEY).send().await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn tags_are_frozen_while_a_key_is_pending_deletion() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;

    kms.disable_key()
        .key_id(&id)
        .send()
        .await
        .expect("DisableKey");
    kms.tag_resource()
        .key_id(&id)
        .tags(tag("a", "1"))
        .send()
        .await
        .expect("a disabled key can be tagged");

    kms.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    assert_tag_rejected(
        &kms,
        &id,
        &id,
        vec![tag("b", "2")],
        "KMSInvalidStateException",
    )
    .await;
    assert_code(
        kms.untag_resource().key_id(&id).tag_keys("a").send().await,
        "KMSInvalidStateException",
    );
    assert_eq!(tags_of(&kms, &id).await, pairs(&[("a", "1")]));
}

#[tokio::test]
async fn list_resource_tags_pages_with_limit() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    let tags = numbered("t", 7);
    kms.tag_resource()
        .key_id(&id)
        .set_tags(Some(tags.clone()))
        .send()
        .await
        .expect("TagResource");

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut marker = None;
    loop {
        let page = kms
            .list_resource_tags()
            .key_id(&id)
            .limit(3)
            .set_marker(marker)
            .send()
            .await
            .expect("ListResourceTags");
        assert_page(
            page.tags().len(),
            Some(3),
            page.truncated(),
            page.next_marker(),
        );
        sizes.push(page.tags().len());
        seen.extend(page.tags().iter().map(|t| t.tag_key().to_owned()));
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    seen.sort();
    let expected: Vec<_> = tags.iter().map(|t| t.tag_key().to_owned()).collect();
    assert_eq!(seen, expected);

    // Limit above the documented 50: reject or clamp is not recorded for AWS, so only 0.
    assert_code(
        kms.list_resource_tags().key_id(&id).limit(0).send().await,
        "ValidationException",
    );
}

/// `n` tags `prefix-00`, `prefix-01`, … (sorted by key).
fn numbered(prefix: &str, n: usize) -> Vec<Tag> {
    (0..n)
        .map(|i| tag(&format!("{prefix}-{i:02}"), "v"))
        .collect()
}

/// Tags `target` and expects `code`; checks that the tags of `key_id` did not change.
async fn assert_tag_rejected(
    kms: &Client,
    key_id: &str,
    target: &str,
    tags: Vec<Tag>,
    code: &str,
) -> String {
    assert_tag_rejected_in(kms, key_id, target, tags, &[code]).await
}

async fn assert_tag_rejected_in(
    kms: &Client,
    key_id: &str,
    target: &str,
    tags: Vec<Tag>,
    codes: &[&str],
) -> String {
    let before = tags_of(kms, key_id).await;
    let result = kms
        .tag_resource()
        .key_id(target)
        .set_tags(Some(tags))
        .send()
        .await;
    let message = assert_code_in(result, codes);
    assert_eq!(
        tags_of(kms, key_id).await,
        before,
        "a rejected TagResource({target}) changed the tags"
    );
    message
}

#[tokio::test]
async fn concurrent_tag_resource_on_one_key_loses_no_update() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id().to_owned();
    let requests = (0..40).map(|i| {
        let kms = kms.clone();
        let id = id.clone();
        tokio::spawn(async move {
            kms.tag_resource()
                .key_id(id)
                .tags(tag(&format!("k{i:02}"), &format!("v{i}")))
                .send()
                .await
        })
    });
    for request in requests {
        request
            .await
            .expect("task")
            .expect("TagResource under concurrency");
    }
    let expected: Vec<(String, String)> = (0..40)
        .map(|i| (format!("k{i:02}"), format!("v{i}")))
        .collect();
    assert_eq!(tags_of(&kms, &id).await, expected);
}
