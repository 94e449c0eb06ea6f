//! Cross-namespace copies (Inv 7): each copy tool, as its own service account, writing a Secret
//! with its own markers is denied with VG103; values go PushSecret -> Vault -> ExternalSecret.

use serde_json::{Value, json};

use crate::harness::*;

/// `sa` writes a registry Secret carrying `labels`/`annotations` into a fresh namespace.
async fn copy_is_denied(sa: (&str, &str), labels: Value, annotations: Value, marker: &str) {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "payments").await;
    let copier = service_account(sa).await;

    let mut s = secret(&ns, "registry", &[(".dockerconfigjson", "{\"auths\":{}}")]);
    s["metadata"]["labels"] = labels;
    s["metadata"]["annotations"] = annotations;
    let status = assert_denied(
        create(&copier.client, &s).await,
        SECRETS_VALIDATE,
        &["VG103"],
        &format!("copy by {}", copier.username),
    );
    assert_contains(
        &status.message,
        &[
            "VG103 copy-marker",
            &format!("Secret \"{ns}/registry\""),
            &copier.username,
            marker,
            "PushSecret",
        ],
        "VG103 denial",
    );
    assert!(
        get_secret(&admin, &ns, "registry").await.is_none(),
        "a denied copy must not be stored"
    );
}

#[tokio::test]
async fn reflector_copy_is_denied_vg103() {
    copy_is_denied(
        ("reflector", "reflector"),
        json!({}),
        json!({"reflector.v1.k8s.emberstack.com/reflects": "shared/registry"}),
        "reflector.v1.k8s.emberstack.com/reflects",
    )
    .await;
}

#[tokio::test]
async fn replicator_copy_is_denied_vg103() {
    copy_is_denied(
        ("replicator", "kubernetes-replicator"),
        json!({}),
        json!({"replicator.v1.mittwald.de/replicate-from": "shared/registry"}),
        "replicator.v1.mittwald.de/replicate-from",
    )
    .await;
}

#[tokio::test]
async fn kubed_copy_is_denied_vg103() {
    copy_is_denied(
        ("kubed", "kubed"),
        json!({"kubed.appscode.com/origin.name": "registry", "kubed.appscode.com/origin.namespace": "shared"}),
        json!({}),
        "kubed.appscode.com/origin.name",
    )
    .await;
}

#[tokio::test]
async fn kyverno_clone_is_denied_vg103() {
    copy_is_denied(
        ("kyverno", "kyverno-background-controller"),
        json!({"app.kubernetes.io/managed-by": "kyverno", "generate.kyverno.io/policy-name": "clone-registry"}),
        json!({}),
        "generate.kyverno.io/policy-name",
    )
    .await;
}
