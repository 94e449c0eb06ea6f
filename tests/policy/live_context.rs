//! Rules that need the cluster's state, judged against the live view's tables loaded directly
//! (no apiserver): each rule with an accepted and a rejected case. The same tables back the
//! webhook in a cluster, where watches fill them.

use std::sync::Arc;

use serde_json::{Value, json};
use vaultgate::{
    cluster::{
        ExternalSecretInfo, LiveView, OwnerRef, PushSecretInfo, SecretMeta, StoreInfo,
        live::EsEntry,
    },
    policy::{Identity, Object, Operation, Policy, Review, evaluate, objects::Kind},
};

const ARGO: &str = "system:serviceaccount:argocd:argocd-application-controller";
const ESO: &str = "system:serviceaccount:external-secrets:external-secrets";
const SEALED: &str = "system:serviceaccount:kube-system:sealed-secrets-controller";
const P: &str = "platform.pnats.cloud/";

/// A synced live view holding the approved Vault store.
fn view() -> LiveView {
    let v = LiveView::default();
    let (secrets, externals, pushes) = v.tables();
    let (stores, cluster_stores, sealed) = v.store_tables();
    for t in [stores, cluster_stores] {
        t.init();
        t.init_done();
    }
    cluster_stores.apply(
        "",
        "vault-backend",
        StoreInfo {
            provider: Some("vault".into()),
        }
        .into(),
    );
    secrets.init();
    secrets.init_done();
    externals.init();
    externals.init_done();
    pushes.init();
    pushes.init_done();
    sealed.init();
    sealed.init_done();
    v
}

fn ids(
    user: &str,
    op: Operation,
    kind: Kind,
    ns: Option<&str>,
    object: Value,
    old: Option<Value>,
    view: &LiveView,
) -> Vec<&'static str> {
    let object = Object::from_value(kind, object).unwrap();
    let old = old.map(|o| Object::from_value(kind, o).unwrap());
    let identity = Identity::new(user, vec![]);
    let review = Review {
        uid: "uid-1",
        operation: op,
        namespace: ns,
        name: object.name(),
        user: &identity,
        object: &object,
        old: old.as_ref(),
        dry_run: false,
        now: std::time::SystemTime::UNIX_EPOCH,
    };
    evaluate(&review, &Policy::default(), view)
        .denied
        .iter()
        .map(|v| v.rule.id)
        .collect()
}

fn external_secret(ns: &str, name: &str, target: &str, key: &str, store: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": ns}, "spec": {
        "secretStoreRef": {"kind": "ClusterSecretStore", "name": store},
        "target": {"name": target},
        "data": [{"secretKey": "password", "remoteRef": {"key": key, "property": "password"}}]}})
}

fn push_secret(ns: &str, name: &str, source: &str, path: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": ns}, "spec": {
        "secretStoreRefs": [{"kind": "ClusterSecretStore", "name": "vault-backend"}],
        "selector": {"secret": {"name": source}},
        "data": [{"match": {"secretKey": "password", "remoteRef": {"remoteKey": path, "property": "password"}}}]}})
}

fn meta(labels: &[(&str, &str)], owners: Vec<OwnerRef>) -> SecretMeta {
    SecretMeta {
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        owners: owners.into(),
        ..Default::default()
    }
}

fn es_owner() -> OwnerRef {
    OwnerRef {
        api_version: "external-secrets.io/v1".into(),
        kind: "ExternalSecret".into(),
        name: "db".into(),
        controller: true,
        uid: Box::default(),
    }
}

#[test]
fn store_references_resolve_by_the_real_provider() {
    let v = view();
    let es = external_secret(
        "temporal",
        "db",
        "db",
        "platform-data/postgres/temporal",
        "vault-backend",
    );
    assert!(
        ids(
            ARGO,
            Operation::Create,
            Kind::ExternalSecret,
            Some("temporal"),
            es.clone(),
            None,
            &v
        )
        .is_empty()
    );
    v.store_tables().1.apply(
        "",
        "vault-backend",
        StoreInfo {
            provider: Some("kubernetes".into()),
        }
        .into(),
    );
    assert_eq!(
        ids(
            ARGO,
            Operation::Create,
            Kind::ExternalSecret,
            Some("temporal"),
            es,
            None,
            &v
        ),
        ["VG201"]
    );
}

#[test]
fn an_unknown_store_is_denied_in_a_live_cluster() {
    let v = view();
    v.store_tables().1.delete("", "vault-backend");
    let es = external_secret(
        "temporal",
        "db",
        "db",
        "platform-data/postgres/temporal",
        "vault-backend",
    );
    assert_eq!(
        ids(
            ARGO,
            Operation::Create,
            Kind::ExternalSecret,
            Some("temporal"),
            es,
            None,
            &v
        ),
        ["VG201"]
    );
}

fn materialized_secret(uid: &str) -> Value {
    json!({"metadata": {"name": "db", "namespace": "temporal", "ownerReferences": [
        {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "db", "uid": uid, "controller": true}]},
        "data": {"password": "eA=="}})
}

#[test]
fn owner_references_are_verified_against_the_real_owner_uid() {
    let v = view();
    v.tables().1.apply(
        "temporal",
        "db",
        EsEntry {
            info: Arc::new(ExternalSecretInfo {
                namespace: "temporal".into(),
                name: "db".into(),
                target: "db".into(),
                keys: Box::default(),
            }),
            uid: "real-uid".into(),
            held: None,
        },
    );
    assert!(
        ids(
            ESO,
            Operation::Create,
            Kind::Secret,
            Some("temporal"),
            materialized_secret("real-uid"),
            None,
            &v
        )
        .is_empty()
    );
    assert_eq!(
        ids(
            ESO,
            Operation::Create,
            Kind::Secret,
            Some("temporal"),
            materialized_secret("forged-uid"),
            None,
            &v
        ),
        ["VG104"]
    );
}

#[test]
fn an_external_secret_may_not_adopt_an_existing_unmanaged_secret() {
    let v = view();
    let es = external_secret(
        "temporal",
        "db",
        "db",
        "platform-data/postgres/temporal",
        "vault-backend",
    );
    v.tables().0.apply("temporal", "db", meta(&[], vec![]));
    assert_eq!(
        ids(
            ARGO,
            Operation::Create,
            Kind::ExternalSecret,
            Some("temporal"),
            es.clone(),
            None,
            &v
        ),
        ["VG205"]
    );
    v.tables().0.apply(
        "temporal",
        "db",
        meta(
            &[("reconcile.external-secrets.io/managed", "true")],
            vec![es_owner()],
        ),
    );
    assert!(
        ids(
            ARGO,
            Operation::Create,
            Kind::ExternalSecret,
            Some("temporal"),
            es,
            None,
            &v
        )
        .is_empty()
    );
}

/// A bootstrap Secret is retired by its handover, never adopted: an ExternalSecret writing it is
/// a second writer in every handover state (VG205 for an adopting creationPolicy, VG207 always),
/// and the denial points at the handed-over value in Vault.
#[test]
fn a_bootstrap_secret_in_any_handover_state_is_retired_not_adopted() {
    let v = view();
    let mut merge = external_secret(
        "vault",
        "unseal",
        "unseal",
        "platform-data/postgres/vault",
        "vault-backend",
    );
    merge["spec"]["target"]["creationPolicy"] = json!("Merge");
    let owner = external_secret(
        "vault",
        "unseal",
        "unseal",
        "platform-data/postgres/vault",
        "vault-backend",
    );
    let to = format!("{P}handover-to");
    for state in [None, Some("pending"), Some("copied"), Some("consumed")] {
        let mut labels = vec![(format!("{P}secret-class"), "bootstrap")];
        labels.extend(state.map(|s| (format!("{P}handover-state"), s)));
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let mut m = meta(&labels, vec![]);
        m.annotations = [(to.as_str(), "platform-data/postgres/vault")]
            .into_iter()
            .collect();
        v.tables().0.apply("vault", "unseal", m);
        let judge = |es: &Value| {
            let object = Object::from_value(Kind::ExternalSecret, es.clone()).unwrap();
            let identity = Identity::new(ARGO, vec![]);
            let review = Review {
                uid: "uid-1",
                operation: Operation::Create,
                namespace: Some("vault"),
                name: object.name(),
                user: &identity,
                object: &object,
                old: None,
                dry_run: false,
                now: std::time::SystemTime::UNIX_EPOCH,
            };
            evaluate(&review, &Policy::default(), &v)
        };
        let d = judge(&merge);
        let ids: Vec<&str> = d.denied.iter().map(|x| x.rule.id).collect();
        assert_eq!(ids, ["VG205", "VG207"], "Merge, state {state:?}");
        let text = d.message("ExternalSecret", Some("vault"), "unseal");
        assert!(
            text.contains("retired by the handover, not adopted")
                && text.contains("remoteRef.key: platform-data/postgres/vault")
                && text.contains("creationPolicy \"Merge\""),
            "{text}"
        );
        let ids: Vec<&str> = judge(&owner).denied.iter().map(|x| x.rule.id).collect();
        assert_eq!(ids, ["VG207"], "Owner, state {state:?}");
    }
    // The fix the denial names: read the handed-over path into a Secret of another name.
    let runtime = external_secret(
        "vault",
        "unseal-runtime",
        "unseal-runtime",
        "platform-data/postgres/vault",
        "vault-backend",
    );
    assert!(
        ids(
            ARGO,
            Operation::Create,
            Kind::ExternalSecret,
            Some("vault"),
            runtime,
            None,
            &v
        )
        .is_empty()
    );
}

#[test]
fn one_writer_per_secret() {
    let v = view();
    let es = external_secret(
        "temporal",
        "db-b",
        "db",
        "platform-data/postgres/temporal",
        "vault-backend",
    );
    assert!(
        ids(
            ARGO,
            Operation::Create,
            Kind::ExternalSecret,
            Some("temporal"),
            es.clone(),
            None,
            &v
        )
        .is_empty()
    );
    v.tables().1.apply(
        "temporal",
        "db-a",
        EsEntry {
            info: Arc::new(ExternalSecretInfo {
                namespace: "temporal".into(),
                name: "db-a".into(),
                target: "db".into(),
                keys: Box::default(),
            }),
            uid: "a".into(),
            held: None,
        },
    );
    assert_eq!(
        ids(
            ARGO,
            Operation::Create,
            Kind::ExternalSecret,
            Some("temporal"),
            es,
            None,
            &v
        ),
        ["VG207"]
    );
}

#[test]
fn an_authority_loop_is_denied_from_either_side() {
    let v = view();
    let path = "platform-data/github/argocd-apps";
    // ExternalSecret first, then the PushSecret of its target.
    v.tables().1.apply(
        "argocd-apps",
        "repo",
        EsEntry {
            info: Arc::new(ExternalSecretInfo {
                namespace: "argocd-apps".into(),
                name: "repo".into(),
                target: "repo".into(),
                keys: Box::new([path.into()]),
            }),
            uid: "a".into(),
            held: None,
        },
    );
    v.tables().0.apply(
        "argocd-apps",
        "repo",
        meta(&[(&format!("{P}secret-class"), "internal")], vec![]),
    );
    let ps = push_secret("argocd-apps", "repo-push", "repo", path);
    assert!(
        ids(
            ARGO,
            Operation::Create,
            Kind::PushSecret,
            Some("argocd-apps"),
            ps,
            None,
            &v
        )
        .contains(&"VG208")
    );
    // PushSecret first, then the ExternalSecret.
    let v = view();
    v.tables().2.apply(
        "argocd-apps",
        "repo-push",
        PushSecretInfo {
            namespace: "argocd-apps".into(),
            name: "repo-push".into(),
            source: Some("repo".into()),
            paths: Box::new([path.into()]),
        }
        .into(),
    );
    let es = external_secret("argocd-apps", "repo", "repo", path, "vault-backend");
    assert_eq!(
        ids(
            ARGO,
            Operation::Create,
            Kind::ExternalSecret,
            Some("argocd-apps"),
            es,
            None,
            &v
        ),
        ["VG208"]
    );
    let unrelated = external_secret("argocd-apps", "other", "other", path, "vault-backend");
    assert!(
        ids(
            ARGO,
            Operation::Create,
            Kind::ExternalSecret,
            Some("argocd-apps"),
            unrelated,
            None,
            &v
        )
        .is_empty()
    );
}

#[test]
fn one_namespace_per_vault_path() {
    let v = view();
    v.tables().0.apply(
        "sandbox",
        "creds",
        meta(&[(&format!("{P}secret-class"), "internal")], vec![]),
    );
    v.tables().0.apply(
        "postgres",
        "creds",
        meta(&[(&format!("{P}secret-class"), "internal")], vec![]),
    );
    v.tables().2.apply(
        "postgres",
        "temporal-to-vault",
        PushSecretInfo {
            namespace: "postgres".into(),
            name: "temporal-to-vault".into(),
            source: Some("creds".into()),
            paths: Box::new(["platform-data/postgres/temporal".into()]),
        }
        .into(),
    );
    let hijack = push_secret(
        "sandbox",
        "hijack",
        "creds",
        "platform-data/postgres/temporal",
    );
    assert_eq!(
        ids(
            ARGO,
            Operation::Create,
            Kind::PushSecret,
            Some("sandbox"),
            hijack,
            None,
            &v
        ),
        ["VG308"]
    );
    let owner_update = push_secret(
        "postgres",
        "temporal-to-vault",
        "creds",
        "platform-data/postgres/temporal",
    );
    assert!(
        ids(
            ARGO,
            Operation::Create,
            Kind::PushSecret,
            Some("postgres"),
            owner_update,
            None,
            &v
        )
        .is_empty()
    );
}

#[test]
fn a_push_secret_source_must_exist_and_be_operator_generated() {
    let v = view();
    let ps = || push_secret("postgres", "p", "creds", "platform-data/postgres/temporal");
    assert_eq!(
        ids(
            ARGO,
            Operation::Create,
            Kind::PushSecret,
            Some("postgres"),
            ps(),
            None,
            &v
        ),
        ["VG307"],
        "missing source"
    );
    let secrets = v.tables().0;
    secrets.apply("postgres", "creds", meta(&[], vec![]));
    assert_eq!(
        ids(
            ARGO,
            Operation::Create,
            Kind::PushSecret,
            Some("postgres"),
            ps(),
            None,
            &v
        ),
        ["VG307"],
        "hand-made source"
    );
    secrets.apply("postgres", "creds", meta(&[], vec![es_owner()]));
    assert_eq!(
        ids(
            ARGO,
            Operation::Create,
            Kind::PushSecret,
            Some("postgres"),
            ps(),
            None,
            &v
        ),
        ["VG307"],
        "materialized source"
    );
    secrets.apply(
        "postgres",
        "creds",
        SecretMeta {
            type_: Some("kubernetes.io/service-account-token".into()),
            ..Default::default()
        },
    );
    assert_eq!(
        ids(
            ARGO,
            Operation::Create,
            Kind::PushSecret,
            Some("postgres"),
            ps(),
            None,
            &v
        ),
        ["VG307"],
        "token source"
    );
    let operator = OwnerRef {
        api_version: "acid.zalan.do/v1".into(),
        kind: "postgresql".into(),
        name: "pg".into(),
        controller: true,
        uid: Box::default(),
    };
    // An owner reference proves nothing (anyone can add one): only the class vaultgate
    // stamps when a registered operator writes the Secret does.
    secrets.apply("postgres", "creds", meta(&[], vec![operator]));
    assert_eq!(
        ids(
            ARGO,
            Operation::Create,
            Kind::PushSecret,
            Some("postgres"),
            ps(),
            None,
            &v
        ),
        ["VG307"],
        "controller-owned but unstamped source"
    );
    secrets.apply(
        "postgres",
        "creds",
        meta(&[(&format!("{P}secret-class"), "internal")], vec![]),
    );
    assert!(
        ids(
            ARGO,
            Operation::Create,
            Kind::PushSecret,
            Some("postgres"),
            ps(),
            None,
            &v
        )
        .is_empty(),
        "internal class"
    );
}

#[test]
fn a_handed_over_bootstrap_secret_cannot_be_recreated() {
    let v = view();
    let sealed = json!({"metadata": {"name": "unseal", "namespace": "vault", "ownerReferences": [
        {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": "unseal", "uid": "s1", "controller": true}]},
        "data": {"key": "eA=="}});
    v.store_tables().2.apply("vault", "unseal", "s1".into());
    assert!(
        ids(
            SEALED,
            Operation::Create,
            Kind::Secret,
            Some("vault"),
            sealed.clone(),
            None,
            &v
        )
        .is_empty()
    );
    let mut m = meta(
        &[
            (&format!("{P}secret-class"), "bootstrap"),
            (&format!("{P}handover-state"), "consumed"),
        ],
        vec![],
    );
    m.annotations
        .insert(&format!("{P}handover-to"), "platform-config/vault/unseal");
    v.tables().0.apply("vault", "unseal", m);
    assert_eq!(
        ids(
            SEALED,
            Operation::Create,
            Kind::Secret,
            Some("vault"),
            sealed,
            None,
            &v
        ),
        ["VG107"]
    );
}

mod content_copy {
    use super::*;
    use vaultgate::{
        cluster::ClusterView,
        policy::{Evidence, evaluate_with},
    };

    const VALUE: &[u8] = b"s3cr3t-value-long-enough-to-count";

    fn policy() -> Policy {
        Policy::from_yaml("contentCopy:\n  enabled: true\n").unwrap()
    }

    fn es(ns: &str, name: &str, key: &str) -> EsEntry {
        EsEntry {
            info: Arc::new(ExternalSecretInfo {
                namespace: ns.into(),
                name: name.into(),
                target: name.into(),
                keys: Box::new([key.into()]),
            }),
            uid: format!("{ns}-{name}").into(),
            held: None,
        }
    }

    /// A view where namespace `a` holds VALUE in Secret `db`, materialized by ExternalSecret `db`
    /// from platform-data/postgres/a.
    fn view_with_value() -> LiveView {
        let v = LiveView::new(&policy(), false);
        for t in [v.store_tables().0, v.store_tables().1] {
            t.init();
            t.init_done();
        }
        let digest = v.digest_value(VALUE).expect("content-copy is on");
        let mut record = meta(
            &[("reconcile.external-secrets.io/managed", "true")],
            vec![es_owner()],
        );
        record.digests = Box::new([digest.into()]);
        v.tables().0.apply("a", "db", record);
        v.tables()
            .1
            .apply("a", "db", es("a", "db", "platform-data/postgres/shared"));
        v
    }

    fn judge(v: &LiveView, user: &str, object: Value) -> Vec<&'static str> {
        let policy = policy();
        let object = Object::from_value(Kind::Secret, object).unwrap();
        let identity = Identity::new(user, vec![]);
        let review = Review {
            uid: "u",
            operation: Operation::Create,
            namespace: Some("b"),
            name: "db",
            user: &identity,
            object: &object,
            old: None,
            dry_run: false,
            now: std::time::SystemTime::UNIX_EPOCH,
        };
        let evidence = Evidence {
            value_digests: vec![v.digest_value(VALUE).unwrap()],
            ..Evidence::default()
        };
        evaluate_with(&review, &policy, v, &evidence)
            .denied
            .iter()
            .map(|x| x.rule.id)
            .collect()
    }

    #[test]
    fn a_hand_copied_value_is_a_copy() {
        let v = view_with_value();
        let copy =
            json!({"metadata": {"name": "db", "namespace": "b"}, "data": {"password": "eA=="}});
        assert_eq!(judge(&v, "alice", copy), ["VG101", "VG109"]);
    }

    #[test]
    fn two_materializations_of_one_vault_path_are_not_copies() {
        let v = view_with_value();
        v.tables()
            .1
            .apply("b", "db", es("b", "db", "platform-data/postgres/shared"));
        let materialized = json!({"metadata": {"name": "db", "namespace": "b", "ownerReferences": [
            {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "db", "uid": "b-db", "controller": true}]}});
        assert!(judge(&v, ESO, materialized.clone()).is_empty());
        // The same value materialized from a different path is still a copy.
        v.tables()
            .1
            .apply("b", "db", es("b", "db", "platform-data/postgres/b"));
        assert_eq!(judge(&v, ESO, materialized), ["VG109"]);
    }

    #[test]
    fn short_values_and_disabled_detection_are_ignored() {
        let v = view_with_value();
        assert!(v.digest_value(b"5432").is_none(), "below minValueLength");
        let off = LiveView::new(&Policy::default(), false);
        assert!(off.digest_value(VALUE).is_none());
    }
}
