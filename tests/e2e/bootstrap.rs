//! Bootstrap Secrets (§5.2): the sealed-secrets controller (a kube-system service account the
//! webhooks' matchCondition deliberately still sends) decrypts a SealedSecret into a Secret.
//! Admitted in a bootstrap namespace and stamped by the mutating webhook, which proves the
//! real apiserver accepts vaultgate's JSONPatch; denied in an application namespace; and its
//! class label cannot be stripped by a developer afterwards.

use kube::Client;
use serde_json::Value;

use crate::harness::*;

const SEALED_CONTROLLER: &str = "system:serviceaccount:kube-system:sealed-secrets-controller";

/// Creates the SealedSecret that Git declares (its controller is not running here).
async fn sealed_secret(admin: &Client, ns: &str, name: &str) -> String {
    let obj = crate::harness::sealed_secret(ns, name, "unseal-key");
    uid(&create(admin, &obj)
        .await
        .unwrap_or_else(|e| panic!("creating SealedSecret {ns}/{name}: {}", error_text(&e))))
}

/// The Secret the sealed-secrets controller writes for SealedSecret `name`.
pub fn unsealed(ns: &str, name: &str, owner_uid: &str, handover_to: Option<&str>) -> Value {
    let mut s = secret(ns, name, &[("token", "unseal-key-value")]);
    s["metadata"]["ownerReferences"] =
        owner_ref("bitnami.com/v1alpha1", "SealedSecret", name, owner_uid);
    if let Some(path) = handover_to {
        s["metadata"]["annotations"] = serde_json::json!({format!("{P}handover-to"): path});
    }
    s
}

/// The stamps of docs/ARCHITECTURE.md §3 on a bootstrap Secret written by the sealed-secrets controller.
pub fn assert_bootstrap_stamps(obj: &Value, handover: bool) {
    let what = format!("bootstrap Secret {}", obj["metadata"]["name"]);
    assert_eq!(
        label(obj, &format!("{P}secret-class")),
        Some("bootstrap"),
        "{what}: class label\n{obj:#}"
    );
    assert_eq!(
        label(obj, &format!("{P}bootstrap-source")),
        Some("sealed-secrets"),
        "{what}: source label\n{obj:#}"
    );
    assert_eq!(
        label(obj, &format!("{P}handover-state")),
        handover.then_some("pending"),
        "{what}: handover-state is pending exactly when handover-to is declared\n{obj:#}"
    );
    let first_seen = annotation(obj, &format!("{P}first-seen"))
        .unwrap_or_else(|| panic!("{what}: no first-seen\n{obj:#}"));
    time::OffsetDateTime::parse(first_seen, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{what}: first-seen {first_seen:?} is not RFC 3339: {e}"));
    assert_eq!(
        annotation(obj, &format!("{P}created-by")),
        Some(SEALED_CONTROLLER),
        "{what}: created-by\n{obj:#}"
    );
    let admission_uid = annotation(obj, &format!("{P}admission-uid"))
        .unwrap_or_else(|| panic!("{what}: no admission-uid\n{obj:#}"));
    assert!(
        admission_uid.len() == 36 && admission_uid.matches('-').count() == 4,
        "{what}: admission-uid {admission_uid:?} is not the apiserver's request UID"
    );
}

#[tokio::test]
async fn sealed_secrets_controller_writes_a_bootstrap_secret_in_vault_and_it_is_stamped() {
    let _cluster = shared().await;
    let admin = admin().await;
    ensure_namespace(&admin, "vault").await;
    let controller = service_account(SEALED_SECRETS).await;
    let name = unique("vault-unseal");
    let owner = sealed_secret(&admin, "vault", &name).await;

    let created = create_admitted(
        &controller.client,
        &unsealed("vault", &name, &owner, Some("platform-data/vault/unseal")),
    )
    .await;
    let created = serde_json::to_value(created).unwrap();
    assert_bootstrap_stamps(&created, true);

    // Read back from the API server: what etcd holds, not just the admission response.
    let stored = get_secret(&admin, "vault", &name)
        .await
        .expect("bootstrap Secret stored");
    assert_bootstrap_stamps(&stored, true);
    assert_eq!(stored["metadata"]["labels"], created["metadata"]["labels"]);
    assert_eq!(
        stored["metadata"]["annotations"],
        created["metadata"]["annotations"]
    );
    assert_eq!(
        stored["data"]["token"],
        b64(&canary_value("unseal-key-value")),
        "the mutation never touches data"
    );
    assert_eq!(
        annotation(&stored, &format!("{P}handover-to")),
        Some("platform-data/vault/unseal")
    );

    // Without handover-to there is no handover-state.
    let plain = unique("vault-tls");
    let owner = sealed_secret(&admin, "vault", &plain).await;
    create_admitted(&controller.client, &unsealed("vault", &plain, &owner, None)).await;
    assert_bootstrap_stamps(
        &get_secret(&admin, "vault", &plain).await.expect("stored"),
        false,
    );
}

#[tokio::test]
async fn sealed_secrets_controller_rewriting_its_secret_keeps_the_stamps() {
    let _cluster = shared().await;
    let admin = admin().await;
    ensure_namespace(&admin, "vault").await;
    let controller = service_account(SEALED_SECRETS).await;
    let name = unique("vault-unseal");
    let owner = sealed_secret(&admin, "vault", &name).await;
    create_admitted(
        &controller.client,
        &unsealed("vault", &name, &owner, Some("platform-data/vault/unseal")),
    )
    .await;
    let before = get_secret(&admin, "vault", &name).await.expect("stored");

    // The controller rewrites the Secret from its template (an UPDATE without vaultgate's keys):
    // the mutating webhook puts the stamps back from the stored object, unchanged.
    let mut rewrite = unsealed("vault", &name, &owner, Some("platform-data/vault/unseal"));
    rewrite["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"].clone();
    replace(&controller.client, &rewrite)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the controller's rewrite should be admitted: {}",
                error_text(&e)
            )
        });
    let after = get_secret(&admin, "vault", &name).await.expect("stored");
    assert_bootstrap_stamps(&after, true);
    assert_eq!(
        after["metadata"]["labels"], before["metadata"]["labels"],
        "labels preserved"
    );
    assert_eq!(
        after["metadata"]["annotations"], before["metadata"]["annotations"],
        "first-seen etc. preserved"
    );
}

#[tokio::test]
async fn audit_stamps_the_decrypter_sends_are_replaced_by_the_computed_ones() {
    let _cluster = shared().await;
    let admin = admin().await;
    ensure_namespace(&admin, "vault").await;
    let controller = service_account(SEALED_SECRETS).await;
    let name = unique("vault-unseal");
    let owner = sealed_secret(&admin, "vault", &name).await;

    // The decrypter's template brings its own audit trail: who, when, which request.
    let (forged_time, forged_uid) = (
        "2020-01-01T00:00:00Z",
        "00000000-0000-4000-8000-000000000000",
    );
    let mut obj = unsealed("vault", &name, &owner, None);
    obj["metadata"]["annotations"] = serde_json::json!({
        format!("{P}created-by"): "system:serviceaccount:ci:deployer",
        format!("{P}first-seen"): forged_time,
        format!("{P}admission-uid"): forged_uid,
    });
    create_admitted(&controller.client, &obj).await;

    // Stored with the stamps vaultgate computed for the request, not the ones sent.
    let stored = get_secret(&admin, "vault", &name).await.expect("stored");
    assert_bootstrap_stamps(&stored, false);
    assert_ne!(
        annotation(&stored, &format!("{P}first-seen")),
        Some(forged_time),
        "{stored:#}"
    );
    assert_ne!(
        annotation(&stored, &format!("{P}admission-uid")),
        Some(forged_uid),
        "{stored:#}"
    );
}

#[tokio::test]
async fn a_bootstrap_secret_in_an_application_namespace_is_denied_vg106() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "payments").await;
    let controller = service_account(SEALED_SECRETS).await;
    let owner = sealed_secret(&admin, &ns, "vault-unseal").await;

    let obj = unsealed(&ns, "vault-unseal", &owner, None);
    let status = denied_eventually(
        || create(&controller.client, &obj),
        SECRETS_VALIDATE,
        &["VG106"],
        "bootstrap Secret outside the bootstrap namespaces",
    )
    .await;
    assert_contains(
        &status.message,
        &["VG106 bootstrap-namespace", &format!("{ns}/vault-unseal")],
        "VG106 denial",
    );
    assert!(get_secret(&admin, &ns, "vault-unseal").await.is_none());
}

#[tokio::test]
async fn stripping_the_class_label_as_a_developer_is_denied_and_the_stored_label_stays() {
    let _cluster = shared().await;
    let admin = admin().await;
    ensure_namespace(&admin, "vault").await;
    let controller = service_account(SEALED_SECRETS).await;
    let alice = human("alice").await;
    let name = unique("vault-unseal");
    let owner = sealed_secret(&admin, "vault", &name).await;
    create_admitted(&controller.client, &unsealed("vault", &name, &owner, None)).await;

    // The developer's view: `kubectl label ... key-` is a PATCH, i.e. an UPDATE admission.
    let out = alice.kubectl(
        &[
            "label",
            "secret",
            &name,
            "-n",
            "vault",
            &format!("{P}secret-class-"),
        ],
        None,
    );
    out.expect_failed();
    assert_contains(
        &out.stderr,
        &[
            &format!("admission webhook \"{SECRETS_VALIDATE}\" denied the request"),
            "VG101 unmanaged-secret",
            "VG108 class-label-change",
        ],
        "kubectl label stderr",
    );
    assert_eq!(rule_ids(&out.stderr), ["VG101", "VG108"], "{}", out.stderr);

    // And a full replace (PUT) without the label, through the API.
    let mut stripped = get_secret(&admin, "vault", &name).await.expect("stored");
    stripped["metadata"]["labels"]
        .as_object_mut()
        .expect("labels")
        .remove(&format!("{P}secret-class"));
    assert_denied(
        replace(&alice.client, &stripped).await,
        SECRETS_VALIDATE,
        &["VG101", "VG108"],
        "PUT without the class label",
    );

    let stored = get_secret(&admin, "vault", &name)
        .await
        .expect("still stored");
    assert_bootstrap_stamps(&stored, false);
}
