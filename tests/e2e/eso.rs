//! External Secrets objects through the real API, written by the GitOps controller (Argo CD's
//! service account) unless a test says otherwise: good ones are stored, each bad one is denied
//! by the eso webhook with its rule id. One rule family per test.

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn conforming_external_secrets_are_created_by_gitops() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "temporal").await;
    let argocd = service_account(ARGOCD).await;

    // Own data and shared configuration.
    let mut es = external_secret(
        &ns,
        "temporal-postgres",
        &format!("platform-data/postgres/{ns}"),
    );
    es["spec"]["data"]
        .as_array_mut()
        .unwrap()
        .push(json!({"secretKey": "host", "remoteRef": {"key": "platform-config/postgres/platform-postgres", "property": "host"}}));
    create_admitted(&argocd.client, &es).await;
    assert!(
        get(
            &admin,
            "external-secrets.io/v1",
            "ExternalSecret",
            Some(&ns),
            "temporal-postgres"
        )
        .await
        .is_some()
    );

    // The deprecated v1beta1 version is judged the same way.
    let mut beta = external_secret(&ns, "temporal-redis", &format!("platform-data/redis/{ns}"));
    beta["apiVersion"] = json!("external-secrets.io/v1beta1");
    create_admitted(&argocd.client, &beta).await;

    // A ClusterExternalSecret may read shared configuration only.
    let mut ces_spec = external_secret(
        "x",
        "postgres-config",
        "platform-config/postgres/platform-postgres",
    )["spec"]
        .clone();
    ces_spec["data"][0]["remoteRef"]["property"] = json!("host");
    ces_spec["data"][0]["secretKey"] = json!("host");
    let name = unique("postgres-config");
    let ces = json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret", "metadata": {"name": name},
                     "spec": {"externalSecretName": "postgres-config", "namespaceSelectors": [{"matchLabels": {"team": "a"}}],
                              "externalSecretSpec": ces_spec}});
    create_admitted(&argocd.client, &ces).await;
}

#[tokio::test]
async fn external_secret_reading_a_non_approved_store_is_denied_vg201() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "temporal").await;
    let argocd = service_account(ARGOCD).await;

    let mut es = external_secret(
        &ns,
        "temporal-postgres",
        &format!("platform-data/postgres/{ns}"),
    );
    es["spec"]["secretStoreRef"] = json!({"kind": "SecretStore", "name": VAULT_STORE});
    let status = assert_denied(
        create(&argocd.client, &es).await,
        ESO_VALIDATE,
        &["VG201"],
        "namespaced SecretStore reference",
    );
    assert_contains(
        &status.message,
        &["VG201 non-vault-store", "ClusterSecretStore"],
        "VG201 denial",
    );

    // The per-entry sourceRef.storeRef is checked too.
    let mut es = external_secret(
        &ns,
        "temporal-postgres",
        &format!("platform-data/postgres/{ns}"),
    );
    es["spec"]["data"][0]["sourceRef"] =
        json!({"storeRef": {"kind": "ClusterSecretStore", "name": "k8s-copy"}});
    assert_denied(
        create(&argocd.client, &es).await,
        ESO_VALIDATE,
        &["VG201"],
        "per-entry store reference",
    );
    assert!(
        get(
            &admin,
            "external-secrets.io/v1",
            "ExternalSecret",
            Some(&ns),
            "temporal-postgres"
        )
        .await
        .is_none()
    );
}

#[tokio::test]
async fn external_secret_reading_another_namespaces_vault_path_is_denied_vg203() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "temporal").await;
    let argocd = service_account(ARGOCD).await;

    let es = external_secret(&ns, "billing-db", "platform-data/postgres/billing");
    let status = assert_denied(
        create(&argocd.client, &es).await,
        ESO_VALIDATE,
        &["VG203"],
        "foreign Vault path",
    );
    assert_contains(
        &status.message,
        &[
            "VG203 read-scope",
            "platform-data/postgres/billing",
            &format!("platform-data/<datasource>/{ns}"),
        ],
        "VG203 denial",
    );

    let es = external_secret(
        &ns,
        "billing-db",
        &format!("platform-data/postgres/{ns}/../billing"),
    );
    assert_denied(
        create(&argocd.client, &es).await,
        ESO_VALIDATE,
        &["VG203"],
        "'..' in the Vault path",
    );
}

#[tokio::test]
async fn external_secret_with_a_zero_or_too_long_refresh_interval_is_denied_vg206() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "temporal").await;
    let argocd = service_account(ARGOCD).await;

    for interval in ["0s", "24h"] {
        let mut es = external_secret(
            &ns,
            "temporal-postgres",
            &format!("platform-data/postgres/{ns}"),
        );
        es["spec"]["refreshInterval"] = json!(interval);
        let status = assert_denied(
            create(&argocd.client, &es).await,
            ESO_VALIDATE,
            &["VG206"],
            &format!("refreshInterval {interval}"),
        );
        assert_contains(
            &status.message,
            &["VG206 refresh-interval", interval],
            "VG206 denial",
        );
    }
}

#[tokio::test]
async fn external_secret_applied_by_a_developer_is_denied_vg209() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "temporal").await;
    let alice = human("alice").await;

    let es = external_secret(
        &ns,
        "temporal-postgres",
        &format!("platform-data/postgres/{ns}"),
    );
    let out = alice.kubectl(&["apply", "-f", "-"], Some(&es.to_string()));
    out.expect_failed();
    assert_contains(
        &out.stderr,
        &[
            &format!("admission webhook \"{ESO_VALIDATE}\" denied the request"),
            "VG209 gitops-writer",
            "\"alice\"",
        ],
        "kubectl stderr",
    );
    assert_eq!(rule_ids(&out.stderr), ["VG209"], "{}", out.stderr);
}

/// The operator-generated Secret a PushSecret publishes (CloudNativePG is registered as an
/// `internal` producer in tests/e2e/policy.yaml).
async fn operator_secret(ns: &str, name: &str) {
    let cnpg = service_account(CNPG).await;
    create_admitted(
        &cnpg.client,
        &secret(ns, name, &[("username", "app"), ("password", "generated")]),
    )
    .await;
}

#[tokio::test]
async fn conforming_push_secret_publishes_an_operator_secret() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "postgres").await;
    let argocd = service_account(ARGOCD).await;
    operator_secret(&ns, "app-credentials").await;
    let stored = get_secret(&admin, &ns, "app-credentials")
        .await
        .expect("operator Secret stored");
    assert_eq!(
        label(&stored, &format!("{P}secret-class")),
        Some("internal"),
        "{stored:#}"
    );

    // A consumer segment of its own: no other PushSecret publishes this path (VG308).
    let consumer = unique("temporal");
    let ps = push_secret(
        &ns,
        "to-vault",
        "app-credentials",
        &format!("platform-data/postgres/{consumer}"),
        "password",
    );
    create_admitted(&argocd.client, &ps).await;
    assert!(
        get(
            &admin,
            "external-secrets.io/v1alpha1",
            "PushSecret",
            Some(&ns),
            "to-vault"
        )
        .await
        .is_some()
    );
}

#[tokio::test]
async fn push_secret_with_an_environment_in_the_vault_path_is_denied_vg303() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "postgres").await;
    let argocd = service_account(ARGOCD).await;
    operator_secret(&ns, "app-credentials").await;

    // An environment is a whole path segment: `prod` where the consumer belongs.
    let path = "platform-data/postgres/prod";
    let ps = push_secret(&ns, "to-vault", "app-credentials", path, "password");
    let status = denied_eventually(
        || create(&argocd.client, &ps),
        ESO_VALIDATE,
        &["VG303"],
        "environment in the path",
    )
    .await;
    assert_contains(
        &status.message,
        &["VG303 vault-path", path, "\"prod\""],
        "VG303 denial",
    );

    // Control: a consumer whose name merely contains the word (`<name>-prod`, like `dev-portal`)
    // is a consumer, not an environment.
    let path = format!("platform-data/postgres/{}-prod", unique("temporal"));
    create_admitted(
        &argocd.client,
        &push_secret(&ns, "to-vault", "app-credentials", &path, "password"),
    )
    .await;
}

#[tokio::test]
async fn push_secret_without_explicit_mappings_is_denied_vg302() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "postgres").await;
    let argocd = service_account(ARGOCD).await;
    operator_secret(&ns, "app-credentials").await;
    let path = format!("platform-data/postgres/{}", unique("temporal"));

    let mut ps = push_secret(&ns, "to-vault", "app-credentials", &path, "password");
    ps["spec"]["dataTo"] = json!([{"storeRef": {"kind": "ClusterSecretStore", "name": VAULT_STORE}, "match": {"regexp": ".*"}}]);
    let status = denied_eventually(
        || create(&argocd.client, &ps),
        ESO_VALIDATE,
        &["VG302"],
        "dataTo",
    )
    .await;
    assert_contains(
        &status.message,
        &["VG302 explicit-mapping", "dataTo"],
        "VG302 denial",
    );

    let mut ps = push_secret(&ns, "to-vault", "app-credentials", &path, "password");
    ps["spec"]["selector"] = json!({"secret": {"selector": {"matchLabels": {"app": "db"}}}});
    denied_eventually(
        || create(&argocd.client, &ps),
        ESO_VALIDATE,
        &["VG302"],
        "label-selected source",
    )
    .await;
}

#[tokio::test]
async fn push_secret_to_a_non_approved_store_is_denied_vg301() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "postgres").await;
    let argocd = service_account(ARGOCD).await;
    operator_secret(&ns, "app-credentials").await;

    let mut ps = push_secret(
        &ns,
        "to-vault",
        "app-credentials",
        &format!("platform-data/postgres/{}", unique("temporal")),
        "password",
    );
    ps["spec"]["secretStoreRefs"] = json!([{"kind": "SecretStore", "name": VAULT_STORE}]);
    let status = denied_eventually(
        || create(&argocd.client, &ps),
        ESO_VALIDATE,
        &["VG301"],
        "PushSecret to a SecretStore",
    )
    .await;
    assert_contains(&status.message, &["VG301 push-store"], "VG301 denial");
}

#[tokio::test]
async fn stores_vault_backend_is_kept_and_kubernetes_or_token_auth_stores_are_denied() {
    let _cluster = shared().await;
    let admin = admin().await;
    let argocd = service_account(ARGOCD).await;

    // The harness installed vault-backend as Argo CD; re-syncing it is an admitted UPDATE.
    let mut store = get(
        &admin,
        "external-secrets.io/v1",
        "ClusterSecretStore",
        None,
        VAULT_STORE,
    )
    .await
    .expect("run.sh installs ClusterSecretStore vault-backend");
    replace(&argocd.client, &store)
        .await
        .unwrap_or_else(|e| panic!("re-applying vault-backend: {}", error_text(&e)));

    // Switching it to a root token is not.
    store = get(
        &admin,
        "external-secrets.io/v1",
        "ClusterSecretStore",
        None,
        VAULT_STORE,
    )
    .await
    .unwrap();
    store["spec"]["provider"]["vault"]["auth"] = json!({"tokenSecretRef": {"name": "vault-init", "namespace": "vault", "key": "root_token"}});
    let status = assert_denied(
        replace(&argocd.client, &store).await,
        ESO_VALIDATE,
        &["VG402"],
        "vault-backend with tokenSecretRef",
    );
    assert_contains(&status.message, &["VG402 vault-root-token"], "VG402 denial");
    let kept = get(
        &admin,
        "external-secrets.io/v1",
        "ClusterSecretStore",
        None,
        VAULT_STORE,
    )
    .await
    .unwrap();
    assert!(
        kept["spec"]["provider"]["vault"]["auth"]["kubernetes"].is_object(),
        "vault-backend unchanged: {kept:#}"
    );

    // A Kubernetes-provider store would make Kubernetes an authority again.
    let name = unique("k8s-copy");
    let k8s = json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": name},
                     "spec": {"provider": {"kubernetes": {"remoteNamespace": "shared",
                              "auth": {"serviceAccount": {"name": "reader"}},
                              "server": {"caProvider": {"type": "ConfigMap", "name": "kube-root-ca.crt", "key": "ca.crt"}}}}}});
    let status = assert_denied(
        create(&argocd.client, &k8s).await,
        ESO_VALIDATE,
        &["VG401"],
        "kubernetes provider",
    );
    assert_contains(
        &status.message,
        &["VG401 forbidden-provider", "kubernetes"],
        "VG401 denial",
    );
    assert!(
        get(
            &admin,
            "external-secrets.io/v1",
            "ClusterSecretStore",
            None,
            &name
        )
        .await
        .is_none()
    );
}
