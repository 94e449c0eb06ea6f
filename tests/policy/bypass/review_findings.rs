//! Bypasses and false positives found by the adversarial review of the #13 changes (a helper
//! attacking the engine as a namespace developer, a CI account, a chart author and Argo CD
//! syncing attacker-controlled Git would). Each was admitted (or denied) before its fix; each
//! test keeps an honest control.

use super::*;

const HELM: &str = "system:serviceaccount:flux-system:helm-controller";
const ARGOCD_SERVER: &str = "system:serviceaccount:argocd:argocd-server";

fn publish(source: &str, namespace: &str, remote_key: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": { "name": "pub", "namespace": namespace },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRefs": [APPROVED()],
            "selector": { "secret": { "name": source } },
            "data": [{ "match": { "secretKey": "password", "remoteRef": { "remoteKey": remote_key, "property": "password" } } }]
        }
    })
}

/// Was a bypass (VG307): any controller ownerReference made a Secret "operator-generated", and
/// adding one to a hand-made Secret is a metadata-only update anyone may make.
#[test]
fn vg307_a_controller_owner_does_not_make_a_hand_made_secret_publishable() {
    let owned = secret(
        "legacy",
        "payments",
        json!({ "ownerReferences": [{ "apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "1", "controller": true }] }),
    );
    let view = view_with(&[(Kind::Secret, "payments", owned)]);
    let push = publish("legacy", "payments", "platform-data/legacy/payments");
    assert_denied_by(
        &Write::create(Kind::PushSecret, "payments", ARGOCD, push.clone()).evaluate_in(&view),
        "VG307",
        "controller-owned hand-made Secret",
    );
    // Control: the class vaultgate stamps when a registered operator writes the Secret.
    let stamped = secret(
        "legacy",
        "payments",
        json!({ "labels": { CLASS: "derived" } }),
    );
    let view = view_with(&[(Kind::Secret, "payments", stamped)]);
    assert_allowed(
        &Write::create(Kind::PushSecret, "payments", ARGOCD, push).evaluate_in(&view),
        "operator-class source",
    );
}

/// Was a bypass (system class): Flux's helm-controller also applies every template of a
/// chart, so a chart Secret shaped like a release record earned `system` with any value.
#[test]
fn a_chart_secret_shaped_like_a_helm_release_record_is_not_system() {
    let record = |extra: Value| {
        let mut labels =
            json!({ "owner": "helm", "name": "evil", "version": "1", "status": "deployed" });
        for (k, v) in extra.as_object().into_iter().flatten() {
            labels[k] = v.clone();
        }
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": { "name": "sh.helm.release.v1.evil.v1", "namespace": "payments", "labels": labels },
            "type": "helm.sh/release.v1", "data": { "release": "SDRzSQ==" }
        })
    };
    let rendered = record(json!({ "helm.toolkit.fluxcd.io/name": "evil" }));
    let d = Write::create(Kind::Secret, "payments", HELM, rendered).evaluate();
    assert_denied_by(&d, "VG101", "chart template with Flux's render label");
    assert_ne!(d.class, Some(Class::System));
    let mut owned = record(json!({}));
    owned["metadata"]["ownerReferences"] = json!([{ "apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "2", "controller": true }]);
    assert_denied_by(
        &Write::create(Kind::Secret, "payments", HELM, owned).evaluate(),
        "VG101",
        "record with an owner",
    );
    // Control: the record as Helm's storage driver writes it.
    let d = Write::create(Kind::Secret, "payments", HELM, record(json!({}))).evaluate();
    assert_allowed(&d, "Helm's own release record");
    assert_eq!(d.class, Some(Class::System));
}

/// Was a bypass (VG104): owners were compared on kind and uid only, so an ExternalSecret owner
/// added under the core group and then re-grouped passed as "kept"; removals were never checked.
#[test]
fn vg104_an_owner_regrouped_or_removed_by_a_non_controller_is_forged() {
    let core = secret(
        "db",
        "payments",
        json!({ "ownerReferences": [owner("v1", "ExternalSecret")] }),
    );
    let regrouped = secret("db", "payments", es_owner());
    assert_denied_by(
        &Write::update(Kind::Secret, "payments", HUMAN, core, regrouped).evaluate(),
        "VG104",
        "re-grouped owner",
    );
    let materialized = secret(
        "db",
        "payments",
        json!({ "ownerReferences": [owner("external-secrets.io/v1", "ExternalSecret")], "labels": { "reconcile.external-secrets.io/managed": "true" } }),
    );
    let stripped = secret("db", "payments", json!({}));
    let d = Write::update(
        Kind::Secret,
        "payments",
        HUMAN,
        materialized.clone(),
        stripped.clone(),
    )
    .evaluate();
    assert_denied_by(&d, "VG104", "ESO owner and label stripped");
    // Control: ESO itself may let go of its Secret.
    assert!(
        !denied(&Write::update(Kind::Secret, "payments", ESO, materialized, stripped).evaluate())
            .contains(&"VG104"),
        "ESO changing its own markers"
    );
}

/// Was a false positive: Argo CD's API server keeps its session key and local accounts'
/// tokens in `argocd-secret`, which the dashboard rule denied.
#[test]
fn argocd_server_writes_its_own_state_but_not_repository_secrets() {
    let state = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": "argocd-secret", "namespace": "argocd" },
        "type": "Opaque", "data": { "server.secretkey": "a2V5", "accounts.ci.tokens": "W10=" }
    });
    assert_allowed(
        &Write::create(Kind::Secret, "argocd", ARGOCD_SERVER, state.clone()).evaluate(),
        "argocd-secret",
    );
    let mut repo = state;
    repo["metadata"]["name"] = json!("repo-github");
    repo["metadata"]["labels"] = json!({ "argocd.argoproj.io/secret-type": "repository" });
    let d = Write::create(Kind::Secret, "argocd", ARGOCD_SERVER, repo).evaluate();
    assert_denied_by(&d, "VG101", "repository added in the UI");
    assert!(
        d.denied[0].what.contains("dashboard"),
        "{}",
        d.denied[0].what
    );
}

/// Was a bypass (VG308): any namespace could publish to the path another namespace's
/// consumers read. `vault.publishers` binds a datasource to its producing namespaces.
#[test]
fn vg308_a_datasource_is_published_only_from_its_listed_namespaces() {
    let policy =
        Policy::from_yaml("vault:\n  publishers:\n    postgres: [postgres-operator]\n").unwrap();
    let mut view = MemoryView::from_policy(&policy);
    for ns in ["mallory", "postgres-operator"] {
        let source = secret("db", ns, json!({ "labels": { CLASS: "internal" } }));
        view.insert(&Object::from_value(Kind::Secret, source).unwrap(), Some(ns));
    }
    let ids = |ns: &str| {
        let object = Object::from_value(
            Kind::PushSecret,
            publish("db", ns, "platform-data/postgres/payments"),
        )
        .unwrap();
        let user = Identity::new(ARGOCD, groups(ARGOCD));
        let review = Review {
            uid: "publishers",
            operation: Operation::Create,
            namespace: Some(ns),
            name: "pub",
            user: &user,
            object: &object,
            old: None,
            dry_run: false,
            now: std::time::SystemTime::UNIX_EPOCH,
        };
        denied(&policy::evaluate(&review, &policy, &view))
    };
    assert_eq!(ids("mallory"), ["VG308"]);
    assert!(ids("postgres-operator").is_empty());
}

/// Was a bypass of the read scope: a VaultDynamicSecret generator reads whatever Vault path it
/// names, and generators are not admitted through vaultgate. None is allowed by default.
#[test]
fn vg202_no_generator_is_allowed_by_default() {
    let mut es = external_secret(APPROVED(), "platform-data/postgres/payments");
    es["spec"]["data"][0]["sourceRef"] = json!({ "generatorRef": { "apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "VaultDynamicSecret", "name": "db" } });
    let d = Write::create(Kind::ExternalSecret, "payments", ARGOCD, es).evaluate();
    assert_denied_by(&d, "VG202", "VaultDynamicSecret");
    // Control: the same ExternalSecret reading its own path.
    assert_allowed(
        &Write::create(
            Kind::ExternalSecret,
            "payments",
            ARGOCD,
            external_secret(APPROVED(), "platform-data/postgres/payments"),
        )
        .evaluate(),
        "remoteRef",
    );
}
