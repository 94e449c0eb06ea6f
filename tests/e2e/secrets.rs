//! Who may write a Secret in a governed namespace: a developer with kubectl (no), ESO for its
//! own ExternalSecret (yes, and nobody else may edit it afterwards), a CI service account (no),
//! a developer claiming ESO's ownership (no, forged).

use crate::harness::*;
use serde_json::json;

#[tokio::test]
async fn kubectl_apply_of_a_plain_secret_by_a_developer_is_denied_with_the_external_secret_fix() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "payments").await;
    let alice = human("alice").await;

    let out = alice.kubectl(
        &["apply", "-f", "-"],
        Some(&secret_yaml(
            &ns,
            "db-creds",
            &[("username", "app"), ("password", "hunter2")],
        )),
    );
    out.expect_failed();
    let stderr = &out.stderr;
    assert_contains(
        stderr,
        &[
            &format!("admission webhook \"{SECRETS_VALIDATE}\" denied the request"),
            &format!("vaultgate denied Secret {ns}/db-creds: 1 violation of RFC-SECOPS-0001"),
            "VG101 unmanaged-secret",
            "is written by \"alice\", which is not an approved producer",
            "Why: ",
            "Fix: put each value in Vault at the path and property below",
            "replace <datasource> with the generating system",
            &format!("platform-data/<datasource>/{ns}"),
            "kind: ExternalSecret",
            "kind: ClusterSecretStore",
            "name: vault-backend",
        ],
        "kubectl stderr",
    );
    assert_eq!(rule_ids(stderr), ["VG101"], "{stderr}");
    assert!(
        !stderr.contains("hunter2") && !stderr.contains(&env().canary),
        "the denial must never quote a value:\n{stderr}"
    );
    assert!(
        get_secret(&admin, &ns, "db-creds").await.is_none(),
        "a denied Secret must not be stored"
    );
}

#[tokio::test]
async fn eso_creates_the_secret_of_its_external_secret() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "temporal").await;
    let argocd = service_account(ARGOCD).await;
    let eso = service_account(ESO).await;

    // Git (Argo CD) declares the ExternalSecret; ESO then writes the Secret it controls.
    let es = create_admitted(
        &argocd.client,
        &external_secret(
            &ns,
            "temporal-postgres",
            &format!("platform-data/postgres/{ns}"),
        ),
    )
    .await;
    let mut s = secret(&ns, "temporal-postgres", &[("password", "from-vault")]);
    s["metadata"]["ownerReferences"] = owner_ref(
        "external-secrets.io/v1",
        "ExternalSecret",
        "temporal-postgres",
        &uid(&es),
    );
    s["metadata"]["labels"] = serde_json::json!({"reconcile.external-secrets.io/managed": "true"});
    create_admitted(&eso.client, &s).await;

    let stored = get_secret(&admin, &ns, "temporal-postgres")
        .await
        .expect("ESO's Secret is stored");
    assert_eq!(
        stored["metadata"]["ownerReferences"][0]["uid"],
        uid(&es).as_str()
    );
    assert_eq!(
        stored["data"]["password"],
        b64(&canary_value("from-vault")),
        "vaultgate never touches data"
    );
    assert_eq!(
        label(&stored, &format!("{P}secret-class")),
        Some("materialized"),
        "the mutating webhook labels ESO's Secret with its class: {stored:#}"
    );

    // A developer "fixing" the materialized value by hand is refused: Vault is the authority.
    let alice = human("alice").await;
    let out = alice.kubectl(
        &[
            "patch",
            "secret",
            "temporal-postgres",
            "-n",
            &ns,
            "-p",
            &json!({"stringData": {"password": canary_value("hand-edited")}}).to_string(),
        ],
        None,
    );
    out.expect_failed();
    assert_contains(
        &out.stderr,
        &["VG105 materialized-edit", "\"alice\""],
        "kubectl patch stderr",
    );
    assert_eq!(rule_ids(&out.stderr), ["VG105"], "{}", out.stderr);
    let kept = get_secret(&admin, &ns, "temporal-postgres")
        .await
        .expect("still stored");
    assert_eq!(
        kept["data"]["password"],
        b64(&canary_value("from-vault")),
        "the materialized value is unchanged"
    );
}

#[tokio::test]
async fn ci_service_account_writing_a_secret_is_denied_vg102() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "payments").await;
    let ci = service_account(TEKTON).await;

    let status = assert_denied(
        create(
            &ci.client,
            &secret(&ns, "db-creds", &[("password", "from-pipeline")]),
        )
        .await,
        SECRETS_VALIDATE,
        &["VG102"],
        "Secret written by the Tekton pipeline-runner",
    );
    assert_contains(
        &status.message,
        &["VG102 ci-writer", &ci.username, "kind: ExternalSecret"],
        "VG102 denial",
    );
    assert!(get_secret(&admin, &ns, "db-creds").await.is_none());
}

#[tokio::test]
async fn a_developer_claiming_an_external_secret_owner_is_denied_as_forged() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "temporal").await;
    let argocd = service_account(ARGOCD).await;
    let alice = human("alice").await;

    // The owner is real (right name and uid): only ESO may claim it all the same.
    let es = create_admitted(
        &argocd.client,
        &external_secret(&ns, "db", &format!("platform-data/postgres/{ns}")),
    )
    .await;
    let mut s = secret(&ns, "db", &[("password", "hand-made")]);
    s["metadata"]["ownerReferences"] =
        owner_ref("external-secrets.io/v1", "ExternalSecret", "db", &uid(&es));
    s["metadata"]["labels"] = serde_json::json!({"reconcile.external-secrets.io/managed": "true"});
    let status = denied_eventually(
        || create(&alice.client, &s),
        SECRETS_VALIDATE,
        &["VG101", "VG104"],
        "alice forging ESO provenance",
    )
    .await;
    assert_contains(
        &status.message,
        &["VG104 forged-provenance", "ownerReference ExternalSecret"],
        "VG104 denial",
    );
    assert!(get_secret(&admin, &ns, "db").await.is_none());
}
