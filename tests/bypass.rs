//! Bypass attempts, each named after the rule it attacks: the spellings, markers and request
//! shapes an attacker (or a careless chart) would try to slip a write past RFC-SECOPS-0001.
//! Every test also runs a control — the honest version of the same write — so a test that
//! "passes" because everything is denied would be caught.
//!
//! Two gaps found this way (non-Kubernetes static Vault auth, other producers rewriting a pending
//! bootstrap Secret) are fixed (VG402, VG110); their tests are marked "Was a bypass".

use std::sync::Arc;

use serde_json::{Value, json};
use vaultgate::{
    admission::{Route, Webhook},
    cluster::MemoryView,
    metrics::Metrics,
    policy::{self, Class, Decision, Identity, Object, Operation, Policy, Review, objects::Kind},
};

const HUMAN: &str = "alice";
const CI: &str = "system:serviceaccount:tekton-pipelines:default";
const ESO: &str = "system:serviceaccount:external-secrets:external-secrets";
const SEALED: &str = "system:serviceaccount:kube-system:sealed-secrets-controller";
const ARGOCD: &str = "system:serviceaccount:argocd:argocd-application-controller";
const FLUX: &str = "system:serviceaccount:flux-system:kustomize-controller";
const CERT_MANAGER: &str = "system:serviceaccount:cert-manager:cert-manager";
const CLASS: &str = "platform.pnats.cloud/secret-class";

/// One write to evaluate.
struct Write<'a> {
    kind: Kind,
    operation: Operation,
    namespace: Option<&'a str>,
    user: &'a str,
    object: Value,
    old: Option<Value>,
}

impl<'a> Write<'a> {
    fn create(kind: Kind, namespace: &'a str, user: &'a str, object: Value) -> Self {
        Self {
            kind,
            operation: Operation::Create,
            namespace: Some(namespace),
            user,
            object,
            old: None,
        }
    }

    fn update(kind: Kind, namespace: &'a str, user: &'a str, old: Value, object: Value) -> Self {
        Self {
            kind,
            operation: Operation::Update,
            namespace: Some(namespace),
            user,
            object,
            old: Some(old),
        }
    }

    fn evaluate_in(&self, view: &MemoryView) -> Decision {
        let policy = Policy::default();
        let object = Object::from_value(self.kind, self.object.clone()).expect("object decodes");
        let old = self
            .old
            .clone()
            .map(|o| Object::from_value(self.kind, o).expect("old object decodes"));
        let user = Identity::new(self.user, groups(self.user));
        let review = Review {
            uid: "bypass",
            operation: self.operation,
            namespace: self.namespace,
            name: object.name(),
            user: &user,
            object: &object,
            old: old.as_ref(),
            dry_run: false,
        };
        policy::evaluate(&review, &policy, view)
    }

    fn evaluate(&self) -> Decision {
        self.evaluate_in(&MemoryView::from_policy(&Policy::default()))
    }
}

/// The groups the apiserver gives a user (service accounts get theirs).
fn groups(user: &str) -> Vec<String> {
    match user
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, _)) => vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
        None => vec!["system:authenticated".into()],
    }
}

fn denied(d: &Decision) -> Vec<&'static str> {
    d.denied.iter().map(|v| v.rule.id).collect()
}

#[track_caller]
fn assert_denied_by(d: &Decision, rule: &str, what: &str) {
    assert!(
        denied(d).contains(&rule),
        "{what}: expected {rule}, denied {:?} (class {:?})",
        denied(d),
        d.class
    );
}

#[track_caller]
fn assert_allowed(d: &Decision, what: &str) {
    assert!(
        d.allowed(),
        "{what}: control must be allowed, denied {:?}",
        d.denied.iter().map(|v| v.to_string()).collect::<Vec<_>>()
    );
}

fn secret(name: &str, namespace: &str, meta: Value) -> Value {
    let mut metadata = json!({ "name": name, "namespace": namespace });
    if let (Some(m), Some(extra)) = (metadata.as_object_mut(), meta.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    json!({ "apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque", "data": { "password": "cGFzcw==" } })
}

fn owner(api_version: &str, kind: &str) -> Value {
    json!({ "apiVersion": api_version, "kind": kind, "name": "db", "uid": "0b6c5f0e-1111-4222-8333-944445555666", "controller": true })
}

fn es_owner() -> Value {
    json!({ "ownerReferences": [owner("external-secrets.io/v1", "ExternalSecret")] })
}

fn sealed_owner() -> Value {
    json!({ "ownerReferences": [owner("bitnami.com/v1alpha1", "SealedSecret")] })
}

// ------------------------------------------------------------------------------------------------
// VG104 forged-provenance

#[test]
fn vg104_forged_eso_owner_reference_by_a_human_an_operator_or_gitops() {
    assert_allowed(
        &Write::create(
            Kind::Secret,
            "payments",
            ESO,
            secret("db", "payments", es_owner()),
        )
        .evaluate(),
        "ESO with its owner",
    );
    for api_version in [
        "external-secrets.io/v1",
        "external-secrets.io/v1beta1",
        "external-secrets.io/v1alpha1",
    ] {
        let meta = json!({ "ownerReferences": [owner(api_version, "ExternalSecret")] });
        for user in [HUMAN, CERT_MANAGER, ARGOCD, FLUX, CI] {
            let d = Write::create(
                Kind::Secret,
                "payments",
                user,
                secret("db", "payments", meta.clone()),
            )
            .evaluate();
            assert_denied_by(&d, "VG104", &format!("{user} forging {api_version}"));
            assert_ne!(d.class, Some(Class::Materialized), "{user}");
        }
    }
}

#[test]
fn vg104_forged_sealed_secret_owner_by_eso_or_an_operator() {
    assert_allowed(
        &Write::create(
            Kind::Secret,
            "vault",
            SEALED,
            secret("db", "vault", sealed_owner()),
        )
        .evaluate(),
        "the decrypter",
    );
    for user in [ESO, CERT_MANAGER, HUMAN] {
        let d = Write::create(
            Kind::Secret,
            "vault",
            user,
            secret("db", "vault", sealed_owner()),
        )
        .evaluate();
        assert_denied_by(&d, "VG104", user);
        assert_ne!(d.class, Some(Class::Bootstrap), "{user}");
    }
    // ESO adding a SealedSecret owner next to its own.
    let both = json!({ "ownerReferences": [owner("external-secrets.io/v1", "ExternalSecret"), owner("bitnami.com/v1alpha1", "SealedSecret")] });
    assert_denied_by(
        &Write::create(Kind::Secret, "vault", ESO, secret("db", "vault", both)).evaluate(),
        "VG104",
        "ESO + sealed owner",
    );
}

#[test]
fn vg104_owner_reference_spelled_differently_earns_no_class() {
    // A look-alike owner is not ESO's: it neither classifies the Secret as materialized nor
    // lets a non-ESO writer in. (The apiserver keeps group names case-sensitive.)
    for (api_version, kind) in [
        ("External-Secrets.io/v1", "ExternalSecret"),
        ("external-secrets.io.evil.example/v1", "ExternalSecret"),
        ("external-secrets.io/v1", "externalsecret"),
        ("external-secrets.io/v1", "ExternalSecret "),
        ("external-secrets.io", "ExternalSecret"),
        ("v1", "ExternalSecret"),
        ("еxternal-secrets.io/v1", "ExternalSecret"), // Cyrillic 'е'
    ] {
        let meta = json!({ "ownerReferences": [owner(api_version, kind)] });
        let by_eso = Write::create(
            Kind::Secret,
            "payments",
            ESO,
            secret("db", "payments", meta.clone()),
        )
        .evaluate();
        assert_denied_by(
            &by_eso,
            "VG101",
            &format!("ESO with owner {api_version} {kind:?} is not materialized"),
        );
        let by_human = Write::create(
            Kind::Secret,
            "payments",
            HUMAN,
            secret("db", "payments", meta.clone()),
        )
        .evaluate();
        assert!(!by_human.allowed(), "{api_version} {kind}");
        let by_operator = Write::create(
            Kind::Secret,
            "payments",
            CERT_MANAGER,
            secret("db", "payments", meta),
        )
        .evaluate();
        assert_eq!(
            by_operator.class,
            Some(Class::Derived),
            "{api_version} {kind}: stays the operator's class"
        );
    }
}

#[test]
fn vg104_eso_labels_and_annotations_set_by_anyone_but_eso() {
    assert_allowed(
        &Write::create(
            Kind::Secret,
            "payments",
            CERT_MANAGER,
            secret("tls", "payments", json!({})),
        )
        .evaluate(),
        "cert-manager",
    );
    let managed = json!({ "reconcile.external-secrets.io/managed": "true" });
    for (user, meta) in [
        (CERT_MANAGER, json!({ "labels": managed })),
        (CERT_MANAGER, json!({ "annotations": managed })),
        (
            CERT_MANAGER,
            json!({ "labels": { "reconcile.external-secrets.io/data-hash": "abc" } }),
        ),
        (HUMAN, json!({ "labels": managed })),
        (
            SEALED,
            json!({ "labels": managed, "ownerReferences": [owner("bitnami.com/v1alpha1", "SealedSecret")] }),
        ),
    ] {
        let d = Write::create(
            Kind::Secret,
            "payments",
            user,
            secret("tls", "payments", meta.clone()),
        )
        .evaluate();
        assert_denied_by(&d, "VG104", &format!("{user} {meta}"));
        assert_ne!(d.class, Some(Class::Materialized));
    }
    // Added on UPDATE by the operator that owns the Secret.
    let old = secret("tls", "payments", json!({ "labels": { CLASS: "derived" } }));
    let new = secret(
        "tls",
        "payments",
        json!({ "labels": { CLASS: "derived", "reconcile.external-secrets.io/managed": "true" } }),
    );
    assert_allowed(
        &Write::update(
            Kind::Secret,
            "payments",
            CERT_MANAGER,
            old.clone(),
            old.clone(),
        )
        .evaluate(),
        "no-op update",
    );
    assert_denied_by(
        &Write::update(Kind::Secret, "payments", CERT_MANAGER, old, new).evaluate(),
        "VG104",
        "managed label added on UPDATE",
    );
}

#[test]
fn vg104_class_label_claimed_by_the_wrong_writer() {
    for (user, ns, meta, what) in [
        (
            HUMAN,
            "payments",
            json!({ "labels": { CLASS: "materialized" } }),
            "human claims materialized",
        ),
        (
            HUMAN,
            "payments",
            json!({ "labels": { CLASS: "system" } }),
            "human claims system",
        ),
        (
            CERT_MANAGER,
            "vault",
            json!({ "labels": { CLASS: "bootstrap" } }),
            "operator claims bootstrap",
        ),
        (
            CERT_MANAGER,
            "payments",
            json!({ "labels": { CLASS: "materialized" } }),
            "operator claims materialized",
        ),
        (
            ESO,
            "payments",
            json!({ "labels": { CLASS: "internal" }, "ownerReferences": [owner("external-secrets.io/v1", "ExternalSecret")] }),
            "ESO claims internal",
        ),
        (
            SEALED,
            "vault",
            json!({ "labels": { CLASS: "derived" }, "ownerReferences": [owner("bitnami.com/v1alpha1", "SealedSecret")] }),
            "decrypter claims derived",
        ),
    ] {
        assert_denied_by(
            &Write::create(Kind::Secret, ns, user, secret("db", ns, meta)).evaluate(),
            "VG104",
            what,
        );
    }
}

#[test]
fn vg104_stamped_and_handover_keys_forged() {
    let p = "platform.pnats.cloud/";
    let sealed = |extra: Value| {
        let mut meta = sealed_owner();
        for (k, v) in extra.as_object().unwrap() {
            meta[k] = v.clone();
        }
        secret("db", "vault", meta)
    };
    assert_allowed(
        &Write::create(
            Kind::Secret,
            "vault",
            SEALED,
            sealed(json!({ "labels": { format!("{p}handover-state"): "pending" } })),
        )
        .evaluate(),
        "pending on create",
    );
    for extra in [
        json!({ "labels": { format!("{p}handover-state"): "consumed" } }),
        json!({ "labels": { format!("{p}handover-state"): "copied" } }),
        json!({ "annotations": { format!("{p}vault-version"): "3" } }),
        json!({ "annotations": { format!("{p}content-digest"): "abc" } }),
        json!({ "annotations": { format!("{p}handover-at"): "2026-01-01T00:00:00Z" } }),
    ] {
        assert_denied_by(
            &Write::create(Kind::Secret, "vault", SEALED, sealed(extra.clone())).evaluate(),
            "VG104",
            &extra.to_string(),
        );
    }
    for extra in [
        json!({ "labels": { format!("{p}bootstrap-source"): "sealed-secrets" } }),
        json!({ "annotations": { format!("{p}first-seen"): "2020-01-01T00:00:00Z" } }),
        json!({ "annotations": { format!("{p}handover-to"): "platform-data/x/y" } }),
    ] {
        assert_denied_by(
            &Write::create(
                Kind::Secret,
                "payments",
                CERT_MANAGER,
                secret("db", "payments", extra.clone()),
            )
            .evaluate(),
            "VG104",
            &extra.to_string(),
        );
    }
}

// ------------------------------------------------------------------------------------------------
// VG108 class-label-change

#[test]
fn vg108_class_label_changed_or_dropped_on_update_by_a_non_owner() {
    let materialized = |class: Option<&str>| {
        let mut meta = es_owner();
        if let Some(c) = class {
            meta["labels"] = json!({ CLASS: c });
        }
        secret("db", "payments", meta)
    };
    assert_allowed(
        &Write::update(
            Kind::Secret,
            "payments",
            ESO,
            materialized(Some("materialized")),
            materialized(Some("materialized")),
        )
        .evaluate(),
        "ESO refresh",
    );
    let d = Write::update(
        Kind::Secret,
        "payments",
        ESO,
        materialized(Some("materialized")),
        materialized(Some("internal")),
    )
    .evaluate();
    assert_denied_by(&d, "VG108", "ESO relabels");
    let d = Write::update(
        Kind::Secret,
        "payments",
        ESO,
        materialized(Some("materialized")),
        materialized(None),
    )
    .evaluate();
    assert_denied_by(&d, "VG108", "ESO drops the label");
    let derived = |class: Option<&str>| {
        secret(
            "tls",
            "payments",
            class.map_or(json!({}), |c| json!({ "labels": { CLASS: c } })),
        )
    };
    let d = Write::update(
        Kind::Secret,
        "payments",
        CERT_MANAGER,
        derived(Some("derived")),
        derived(Some("internal")),
    )
    .evaluate();
    assert_denied_by(&d, "VG108", "operator relabels");
    let d = Write::update(
        Kind::Secret,
        "payments",
        CERT_MANAGER,
        derived(Some("derived")),
        derived(None),
    )
    .evaluate();
    assert_denied_by(&d, "VG108", "operator drops the label");
}

#[test]
fn vg108_class_label_added_on_update_by_a_non_owner() {
    // No label before: adding one is judged as a claim (VG104) and by who may write at all.
    let plain = secret("db", "payments", json!({}));
    for (user, class) in [
        (HUMAN, "derived"),
        (HUMAN, "bootstrap"),
        (CERT_MANAGER, "materialized"),
        (CERT_MANAGER, "bootstrap"),
        (CI, "internal"),
    ] {
        let labelled = secret("db", "payments", json!({ "labels": { CLASS: class } }));
        let d = Write::update(Kind::Secret, "payments", user, plain.clone(), labelled).evaluate();
        assert!(!d.allowed(), "{user} adds {class}");
        if user == CERT_MANAGER {
            assert_denied_by(&d, "VG104", &format!("{user} adds {class}"));
        }
    }
    // A decrypter (Argo CD) labelling ESO's materialized Secret as bootstrap, in a bootstrap
    // namespace: still an edit of a materialized Secret.
    let old = secret("repo-creds", "argocd", es_owner());
    let mut new = old.clone();
    new["metadata"]["labels"] = json!({ CLASS: "bootstrap" });
    assert_denied_by(
        &Write::update(Kind::Secret, "argocd", ARGOCD, old, new).evaluate(),
        "VG105",
        "bootstrap label on a materialized Secret",
    );
}

// ------------------------------------------------------------------------------------------------
// VG103 copy-marker

#[test]
fn vg103_copier_markers_in_any_case_as_labels_or_annotations() {
    let materialized = |extra: Value| {
        let mut meta = es_owner();
        for (k, v) in extra.as_object().unwrap() {
            meta[k] = v.clone();
        }
        secret("db", "payments", meta)
    };
    assert_allowed(
        &Write::create(Kind::Secret, "payments", ESO, materialized(json!({}))).evaluate(),
        "no markers",
    );
    for extra in [
        json!({ "annotations": { "Reflector.V1.K8s.Emberstack.com/reflects": "default/db" } }),
        json!({ "labels": { "reflector.v1.k8s.emberstack.com/reflects": "default.db" } }),
        json!({ "labels": { "replicator.v1.mittwald.de/replicated-from": "default_db" } }),
        json!({ "annotations": { "REPLICATOR.V1.MITTWALD.DE/replicate-to": "x" } }),
        json!({ "annotations": { "KUBED.APPSCODE.COM/origin": "{}" } }),
        json!({ "labels": { "kubed.appscode.com/origin.namespace": "default" } }),
        json!({ "labels": { "app.kubernetes.io/managed-by": "KyVerno" } }),
        json!({ "labels": { "generate.kyverno.io/policy-name": "clone" } }),
        json!({ "annotations": { "Generate.Kyverno.io/clone-source": "" } }),
        json!({ "annotations": { "SealedSecrets.Bitnami.com/Cluster-Wide": "true" } }),
        json!({ "labels": { "sealedsecrets.bitnami.com/namespace-wide": "true" } }),
        json!({ "labels": { "clustersecret.io/created-by": "x" } }),
        json!({ "annotations": { "secretgen.carvel.dev/image-pull-secret": "" } }),
    ] {
        assert_denied_by(
            &Write::create(Kind::Secret, "payments", ESO, materialized(extra.clone())).evaluate(),
            "VG103",
            &extra.to_string(),
        );
    }
    // The copy controllers themselves, whatever their markers.
    for copier in [
        "system:serviceaccount:reflector:reflector",
        "system:serviceaccount:kyverno:kyverno-background-controller",
    ] {
        assert_denied_by(
            &Write::create(
                Kind::Secret,
                "payments",
                copier,
                secret("db", "payments", json!({})),
            )
            .evaluate(),
            "VG103",
            copier,
        );
    }
}

// ------------------------------------------------------------------------------------------------
// VG101 unmanaged-secret / VG102 ci-writer: other ways to spell a hand-made Secret

#[test]
fn vg101_generate_name_instead_of_name() {
    let object = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "generateName": "db-", "namespace": "payments" },
        "type": "Opaque", "data": { "password": "cGFzcw==" }
    });
    let d = Write::create(Kind::Secret, "payments", HUMAN, object.clone()).evaluate();
    assert_denied_by(&d, "VG101", "generateName");
    assert!(d.message("Secret", Some("payments"), "db-").contains("db-"));
    let d = Write::create(Kind::Secret, "payments", CI, object.clone()).evaluate();
    assert_denied_by(&d, "VG102", "generateName by CI");
    // Through the webhook, where the request carries no name (the apiserver generates it
    // after mutation): both routes, no allow and no patch for a human.
    let hook = webhook();
    let review = admission_review(
        ("", "v1", "Secret"),
        "CREATE",
        "payments",
        "",
        HUMAN,
        object,
        Value::Null,
    );
    assert_eq!(respond(&hook, Route::Validate, &review)["allowed"], false);
    let mutated = respond(&hook, Route::Mutate, &review);
    assert!(mutated.get("patch").is_none(), "{mutated}");
    // Control: the decrypter may use generateName in a bootstrap namespace.
    let mut sealed = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "generateName": "db-", "namespace": "vault", "ownerReferences": [owner("bitnami.com/v1alpha1", "SealedSecret")] },
        "data": {}
    });
    assert_allowed(
        &Write::create(Kind::Secret, "vault", SEALED, sealed.clone()).evaluate(),
        "decrypter generateName",
    );
    sealed["metadata"]["namespace"] = json!("payments");
    assert_denied_by(
        &Write::create(Kind::Secret, "payments", SEALED, sealed).evaluate(),
        "VG106",
        "generateName in payments",
    );
}

#[test]
fn vg101_secrets_through_string_data_only_or_no_data() {
    for object in [
        json!({ "metadata": { "name": "db" }, "stringData": { "password": "p" } }),
        json!({ "metadata": { "name": "db" }, "stringData": { "password": "p" }, "data": null }),
        json!({ "metadata": { "name": "db" } }),
        json!({ "metadata": { "name": "db" }, "type": "kubernetes.io/basic-auth", "stringData": { "username": "u", "password": "p" } }),
        json!({ "metadata": { "name": "db" }, "type": "kubernetes.io/dockerconfigjson", "stringData": { ".dockerconfigjson": "{}" } }),
    ] {
        assert_denied_by(
            &Write::create(Kind::Secret, "payments", HUMAN, object.clone()).evaluate(),
            "VG101",
            &object.to_string(),
        );
        assert_denied_by(
            &Write::create(Kind::Secret, "payments", CI, object.clone()).evaluate(),
            "VG102",
            &object.to_string(),
        );
    }
    // Type spelled like a system type but not one: not System.
    for type_ in [
        "Kubernetes.io/service-account-token",
        "kubernetes.io/service-account-token ",
        "helm.sh/release.v2",
    ] {
        let object =
            json!({ "metadata": { "name": "db" }, "type": type_, "stringData": { "token": "t" } });
        let d = Write::create(Kind::Secret, "payments", HUMAN, object).evaluate();
        assert_ne!(d.class, Some(Class::System), "{type_:?}");
        assert_denied_by(&d, "VG101", type_);
    }
}

// ------------------------------------------------------------------------------------------------
// VG106 bootstrap-namespace / VG107 bootstrap-handed-over

#[test]
fn vg106_bootstrap_secret_moved_into_an_application_namespace() {
    let declared = |ns: &str| {
        secret(
            "github-token",
            ns,
            json!({ "labels": { CLASS: "bootstrap" } }),
        )
    };
    assert_allowed(
        &Write::create(Kind::Secret, "flux-system", FLUX, declared("flux-system")).evaluate(),
        "flux in flux-system",
    );
    for ns in [
        "payments",
        "default",
        "vault-evil",
        "flux-system-x",
        "argocd2",
    ] {
        assert_denied_by(
            &Write::create(Kind::Secret, ns, FLUX, declared(ns)).evaluate(),
            "VG106",
            &format!("flux into {ns}"),
        );
        assert_denied_by(
            &Write::create(Kind::Secret, ns, ARGOCD, declared(ns)).evaluate(),
            "VG106",
            &format!("argocd into {ns}"),
        );
        assert_denied_by(
            &Write::create(Kind::Secret, ns, SEALED, secret("db", ns, sealed_owner())).evaluate(),
            "VG106",
            &format!("sealed into {ns}"),
        );
        assert!(
            !Write::create(Kind::Secret, ns, HUMAN, declared(ns))
                .evaluate()
                .allowed(),
            "human into {ns}"
        );
    }
}

fn view_with(objects: &[(Kind, &str, Value)]) -> MemoryView {
    let mut view = MemoryView::from_policy(&Policy::default());
    for (kind, ns, object) in objects {
        view.insert(
            &Object::from_value(*kind, object.clone()).expect("object"),
            Some(ns),
        );
    }
    view
}

#[test]
fn vg107_handed_over_bootstrap_secret_recreated_renamed_or_updated() {
    let p = "platform.pnats.cloud/";
    let consumed = {
        let mut meta = sealed_owner();
        meta["labels"] = json!({ CLASS: "bootstrap", format!("{p}handover-state"): "consumed" });
        meta["annotations"] = json!({ format!("{p}handover-to"): "platform-data/github/flux" });
        secret("db", "vault", meta)
    };
    let view = view_with(&[(Kind::Secret, "vault", consumed.clone())]);
    let again = secret("db", "vault", sealed_owner());
    assert_denied_by(
        &Write::create(Kind::Secret, "vault", SEALED, again.clone()).evaluate_in(&view),
        "VG107",
        "re-created",
    );
    assert_denied_by(
        &Write::update(
            Kind::Secret,
            "vault",
            SEALED,
            consumed.clone(),
            consumed.clone(),
        )
        .evaluate_in(&view),
        "VG107",
        "updated",
    );
    // Even while being deleted (deletionTimestamp set, finalizer pending).
    let mut deleting = consumed.clone();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    deleting["metadata"]["finalizers"] = json!(["example.com/hold"]);
    assert_denied_by(
        &Write::update(Kind::Secret, "vault", SEALED, deleting.clone(), deleting)
            .evaluate_in(&view),
        "VG107",
        "deleting",
    );
    // An operator writing into it is still a write of a handed-over secret.
    assert_denied_by(
        &Write::update(
            Kind::Secret,
            "vault",
            CERT_MANAGER,
            consumed.clone(),
            consumed,
        )
        .evaluate_in(&view),
        "VG107",
        "operator",
    );
    // Control: another name in the same namespace is a different bootstrap secret.
    assert_allowed(
        &Write::create(
            Kind::Secret,
            "vault",
            SEALED,
            secret("other", "vault", sealed_owner()),
        )
        .evaluate_in(&view),
        "other name",
    );
}

// ------------------------------------------------------------------------------------------------
// Deletion timestamps (Kyverno CVE-2023-34091: objects being deleted were skipped)

#[test]
fn deletion_timestamp_never_skips_evaluation() {
    let dying = |mut object: Value| {
        object["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        object["metadata"]["finalizers"] = json!(["example.com/keep"]);
        object
    };
    // VG101 on CREATE and UPDATE.
    let plain = secret("db", "payments", json!({}));
    assert_denied_by(
        &Write::create(Kind::Secret, "payments", HUMAN, dying(plain.clone())).evaluate(),
        "VG101",
        "create",
    );
    assert_denied_by(
        &Write::update(
            Kind::Secret,
            "payments",
            HUMAN,
            dying(plain.clone()),
            dying(plain),
        )
        .evaluate(),
        "VG101",
        "update",
    );
    // VG105: editing a materialized Secret while it is being deleted.
    let materialized = secret("db", "payments", es_owner());
    let d = Write::update(
        Kind::Secret,
        "payments",
        HUMAN,
        dying(materialized.clone()),
        dying(materialized),
    )
    .evaluate();
    assert_denied_by(&d, "VG105", "materialized edit");
    // VG209 / VG201 on an ExternalSecret being deleted.
    let es = external_secret(
        json!({ "kind": "SecretStore", "name": "k8s" }),
        "platform-data/postgres/payments",
    );
    let d = Write::update(
        Kind::ExternalSecret,
        "payments",
        HUMAN,
        dying(es.clone()),
        dying(es),
    )
    .evaluate();
    assert_denied_by(&d, "VG209", "ES by a human");
    assert_denied_by(&d, "VG201", "ES store");
    // And the webhook: same verdict with the timestamp on the wire, on CREATE and UPDATE.
    let hook = webhook();
    for (op, old) in [
        ("CREATE", Value::Null),
        ("UPDATE", dying(secret("db", "payments", json!({})))),
    ] {
        let review = admission_review(
            ("", "v1", "Secret"),
            op,
            "payments",
            "db",
            HUMAN,
            dying(secret("db", "payments", json!({}))),
            old,
        );
        assert_eq!(
            respond(&hook, Route::Validate, &review)["allowed"],
            false,
            "{op}"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// VG201 non-vault-store / VG301 push-store: store references spelled differently

fn external_secret(store_ref: Value, key: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": { "name": "db", "namespace": "payments" },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": store_ref,
            "target": { "name": "db" },
            "data": [{ "secretKey": "password", "remoteRef": { "key": key, "property": "password" } }]
        }
    })
}

fn push_secret(store_refs: Value, remote_key: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": { "name": "db", "namespace": "temporal" },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRefs": store_refs,
            "selector": { "secret": { "name": "temporal-db" } },
            "data": [{ "match": { "secretKey": "password", "remoteRef": { "remoteKey": remote_key, "property": "password" } } }]
        }
    })
}

#[allow(non_snake_case)]
fn APPROVED() -> Value {
    json!({ "kind": "ClusterSecretStore", "name": "vault-backend" })
}

fn odd_store_refs() -> Vec<Value> {
    vec![
        json!({ "kind": "clusterSecretStore", "name": "vault-backend" }),
        json!({ "kind": "clustersecretstore", "name": "vault-backend" }),
        json!({ "kind": "ClusterSecretStore ", "name": "vault-backend" }),
        json!({ "kind": " ClusterSecretStore", "name": "vault-backend" }),
        json!({ "kind": "ClusterSecretStore", "name": "Vault-Backend" }),
        json!({ "kind": "ClusterSecretStore", "name": "vault-backend " }),
        json!({ "kind": "ClusterSecretStore", "name": "vаult-backend" }), // Cyrillic 'а'
        json!({ "kind": "SecretStore", "name": "vault-backend" }),
        json!({ "name": "vault-backend" }),
        json!({ "kind": "ClusterSecretStore", "name": "" }),
        json!({ "kind": "Provider", "name": "vault-backend" }),
        json!({ "kind": "ClusterSecretStore", "name": "vault-backend", "labelSelector": { "matchLabels": { "a": "b" } } }),
    ]
}

#[test]
fn vg201_store_refs_in_unusual_casing_or_kinds() {
    let es = |store: Value| external_secret(store, "platform-data/postgres/payments");
    assert_allowed(
        &Write::create(Kind::ExternalSecret, "payments", ARGOCD, es(APPROVED())).evaluate(),
        "approved store",
    );
    for store in odd_store_refs() {
        assert_denied_by(
            &Write::create(Kind::ExternalSecret, "payments", ARGOCD, es(store.clone())).evaluate(),
            "VG201",
            &store.to_string(),
        );
        // The same reference smuggled into a per-entry or dataFrom sourceRef.
        let mut per_entry = es(APPROVED());
        per_entry["spec"]["data"][0]["sourceRef"] = json!({ "storeRef": store });
        assert_denied_by(
            &Write::create(Kind::ExternalSecret, "payments", ARGOCD, per_entry).evaluate(),
            "VG201",
            &format!("data[].sourceRef {store}"),
        );
        let mut data_from = es(APPROVED());
        data_from["spec"]["dataFrom"] = json!([{ "extract": { "key": "platform-data/postgres/payments" }, "sourceRef": { "storeRef": store } }]);
        assert_denied_by(
            &Write::create(Kind::ExternalSecret, "payments", ARGOCD, data_from).evaluate(),
            "VG201",
            &format!("dataFrom[].sourceRef {store}"),
        );
        // ClusterExternalSecret.
        let ces = json!({ "metadata": { "name": "c" }, "spec": { "externalSecretSpec": es(store.clone())["spec"].clone() } });
        let d = Write {
            kind: Kind::ClusterExternalSecret,
            operation: Operation::Create,
            namespace: None,
            user: ARGOCD,
            object: ces,
            old: None,
        }
        .evaluate();
        assert_denied_by(&d, "VG201", &format!("ClusterExternalSecret {store}"));
    }
    // No store at all: ESO would default to a SecretStore of the same name.
    let mut none = es(APPROVED());
    none["spec"]
        .as_object_mut()
        .unwrap()
        .remove("secretStoreRef");
    assert_denied_by(
        &Write::create(Kind::ExternalSecret, "payments", ARGOCD, none).evaluate(),
        "VG201",
        "no store",
    );
}

#[test]
fn vg301_push_store_refs_in_unusual_casing_or_kinds() {
    let source = secret(
        "temporal-db",
        "temporal",
        json!({ "labels": { CLASS: "internal" } }),
    );
    let view = view_with(&[(Kind::Secret, "temporal", source)]);
    let ps = |refs: Value| push_secret(refs, "platform-data/postgres/temporal");
    assert_allowed(
        &Write::create(
            Kind::PushSecret,
            "temporal",
            ARGOCD,
            ps(json!([APPROVED()])),
        )
        .evaluate_in(&view),
        "approved store",
    );
    for store in odd_store_refs() {
        let d = Write::create(Kind::PushSecret, "temporal", ARGOCD, ps(json!([store])))
            .evaluate_in(&view);
        assert_denied_by(&d, "VG301", &store.to_string());
        // One good reference does not launder a bad one next to it.
        let d = Write::create(
            Kind::PushSecret,
            "temporal",
            ARGOCD,
            ps(json!([APPROVED(), store])),
        )
        .evaluate_in(&view);
        assert_denied_by(&d, "VG301", &format!("approved + {store}"));
    }
    assert_denied_by(
        &Write::create(Kind::PushSecret, "temporal", ARGOCD, ps(json!([]))).evaluate_in(&view),
        "VG301",
        "no store",
    );
}

// ------------------------------------------------------------------------------------------------
// v1beta1 vs v1 spellings: the version never changes the verdict.

#[test]
fn vg209_and_vg201_decide_alike_for_every_served_version() {
    let hook = webhook();
    let bad_es = external_secret(
        json!({ "kind": "SecretStore", "name": "k8s" }),
        "platform-data/postgres/billing",
    );
    let mut verdicts = Vec::new();
    for version in ["v1", "v1beta1", "v1alpha1", "v2"] {
        let mut object = bad_es.clone();
        object["apiVersion"] = json!(format!("external-secrets.io/{version}"));
        let review = admission_review(
            ("external-secrets.io", version, "ExternalSecret"),
            "CREATE",
            "payments",
            "db",
            HUMAN,
            object,
            Value::Null,
        );
        let response = respond(&hook, Route::Validate, &review);
        assert_eq!(response["allowed"], false, "{version}");
        verdicts.push(rule_ids(&response));
    }
    assert!(verdicts.windows(2).all(|w| w[0] == w[1]), "{verdicts:?}");
    assert!(
        verdicts[0].iter().any(|r| r == "VG209")
            && verdicts[0].iter().any(|r| r == "VG201")
            && verdicts[0].iter().any(|r| r == "VG203"),
        "{verdicts:?}"
    );
    // PushSecret v1alpha1 vs v1.
    for version in ["v1alpha1", "v1"] {
        let review = admission_review(
            ("external-secrets.io", version, "PushSecret"),
            "CREATE",
            "temporal",
            "db",
            HUMAN,
            push_secret(json!([APPROVED()]), "platform-data/../billing"),
            Value::Null,
        );
        let response = respond(&hook, Route::Validate, &review);
        assert_eq!(response["allowed"], false);
        let ids = rule_ids(&response);
        assert!(
            ids.iter().any(|r| r == "VG209") && ids.iter().any(|r| r == "VG303"),
            "{version}: {ids:?}"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// VG303 vault-path / VG203 read-scope / VG204 unscoped-find: path spellings

fn smuggled_paths(consumer: &str, other: &str) -> Vec<String> {
    vec![
        format!("platform-data/postgres/{consumer}/../{other}"),
        format!("platform-data/postgres/../postgres/{other}"),
        format!("platform-data/postgres/./{consumer}"),
        format!("platform-data//postgres/{consumer}"),
        format!("platform-data/postgres//{consumer}"),
        format!("platform-data/postgres/{consumer}/"),
        format!("/platform-data/postgres/{consumer}"),
        format!("platform-data/postgres/{consumer}%2F..%2F{other}"),
        format!("platform-data%2Fpostgres%2F{consumer}"),
        format!("platform-data/postgres/{}", consumer.to_uppercase()),
        format!("Platform-Data/postgres/{consumer}"),
        format!("PLATFORM-DATA/POSTGRES/{}", consumer.to_uppercase()),
        format!("platform‐data/postgres/{consumer}"), // U+2010 hyphen
        format!("platform-dаta/postgres/{consumer}"), // Cyrillic 'а'
        format!("platform-data／postgres／{consumer}"), // fullwidth solidus
        format!("platform-data\\postgres\\{consumer}"),
        format!(" platform-data/postgres/{consumer}"),
        format!("platform-data/postgres/{consumer} "),
        format!("platform-data/postgres/{consumer}\u{0}"),
        format!("platform-data/postgres/{consumer}\t"),
        format!("platform-data/postgres/{consumer}?version=1"),
        format!("platform-data/postgres/{consumer}#x"),
        format!("platform-data/postgres/{consumer}\u{200b}"), // zero-width space
        format!("platform-data/postgres/{consumer}\u{301}"),  // combining accent
        format!("platform-data/postgres/{other}"),
        format!("platform-data/postgres/{consumer}-{other}"),
        format!("platform-data/postgres/{consumer}/extra"),
        "platform-data".to_owned(),
        "platform-data/postgres".to_owned(),
        String::new(),
    ]
}

#[test]
fn vg303_push_paths_with_dotdot_double_slash_trailing_slash_encoding_case_and_lookalikes() {
    let source = secret(
        "temporal-db",
        "temporal",
        json!({ "labels": { CLASS: "internal" } }),
    );
    let view = view_with(&[(Kind::Secret, "temporal", source)]);
    let ps = |key: &str| push_secret(json!([APPROVED()]), key);
    assert_allowed(
        &Write::create(
            Kind::PushSecret,
            "temporal",
            ARGOCD,
            ps("platform-data/postgres/temporal"),
        )
        .evaluate_in(&view),
        "control",
    );
    for path in smuggled_paths("temporal", "billing") {
        // A publisher names the consumer, so `platform-data/postgres/billing` (and the valid
        // `temporal-billing`) are well-formed publications; ownership is VG308's job.
        if path == "platform-data/postgres/billing"
            || path == "platform-data/postgres/temporal-billing"
        {
            continue;
        }
        let d = Write::create(Kind::PushSecret, "temporal", ARGOCD, ps(&path)).evaluate_in(&view);
        // An empty remoteKey is a missing mapping (VG302) before it is a bad path.
        assert_denied_by(
            &d,
            if path.is_empty() { "VG302" } else { "VG303" },
            &format!("{path:?}"),
        );
    }
}

#[test]
fn vg203_read_paths_with_dotdot_double_slash_trailing_slash_encoding_case_and_lookalikes() {
    let es = |key: &str| external_secret(APPROVED(), key);
    assert_allowed(
        &Write::create(
            Kind::ExternalSecret,
            "payments",
            ARGOCD,
            es("platform-data/postgres/payments"),
        )
        .evaluate(),
        "control",
    );
    assert_allowed(
        &Write::create(
            Kind::ExternalSecret,
            "payments",
            ARGOCD,
            es("platform-config/postgres/shared"),
        )
        .evaluate(),
        "config",
    );
    for path in smuggled_paths("payments", "billing") {
        let d = Write::create(Kind::ExternalSecret, "payments", ARGOCD, es(&path)).evaluate();
        assert_denied_by(&d, "VG203", &format!("{path:?}"));
        // dataFrom.extract reads the same way.
        let mut extract = es("platform-data/postgres/payments");
        extract["spec"]["dataFrom"] = json!([{ "extract": { "key": path } }]);
        assert_denied_by(
            &Write::create(Kind::ExternalSecret, "payments", ARGOCD, extract).evaluate(),
            "VG203",
            &format!("extract {path:?}"),
        );
    }
    // Config paths smuggled into data: platform-config/../platform-data/...
    for path in [
        "platform-config/../platform-data/postgres/billing",
        "platform-config/%2e%2e/platform-data/postgres/billing",
        "platform-config/x/../../platform-data/postgres/billing",
    ] {
        assert_denied_by(
            &Write::create(Kind::ExternalSecret, "payments", ARGOCD, es(path)).evaluate(),
            "VG203",
            path,
        );
    }
}

#[test]
fn vg204_find_paths_with_smuggling_spellings() {
    let find = |path: Option<&str>| {
        let mut es = external_secret(APPROVED(), "platform-data/postgres/payments");
        es["spec"]["dataFrom"] = json!([{ "find": { "path": path, "name": { "regexp": ".*" } } }]);
        es
    };
    assert_allowed(
        &Write::create(
            Kind::ExternalSecret,
            "payments",
            ARGOCD,
            find(Some("platform-data/postgres/payments")),
        )
        .evaluate(),
        "own path",
    );
    assert_denied_by(
        &Write::create(Kind::ExternalSecret, "payments", ARGOCD, find(None)).evaluate(),
        "VG204",
        "no path",
    );
    for path in smuggled_paths("payments", "billing").into_iter().chain([
        "platform-data/postgres".to_owned(),
        "platform-data/postgres/pay".to_owned(),
    ]) {
        let d =
            Write::create(Kind::ExternalSecret, "payments", ARGOCD, find(Some(&path))).evaluate();
        assert_denied_by(&d, "VG204", &format!("{path:?}"));
    }
}

// ------------------------------------------------------------------------------------------------
// VG402 vault-root-token: static Vault credentials other than a token

/// Was a bypass (fixed): VG402's invariant is "the Vault store authenticates with Kubernetes auth and a scoped
/// role, never a token", but only `auth.tokenSecretRef` is refused: a Vault store whose
/// credential is an AppRole secret-id, a userpass/LDAP password or a JWT kept in a Kubernetes
/// Secret is allowed — a long-lived Vault credential in a Kubernetes Secret all the same.
#[test]
fn vg402_vault_store_with_static_credentials_other_than_a_token() {
    let store = |auth: Value| {
        json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
            "metadata": { "name": "vault-backend" },
            "spec": { "provider": { "vault": { "server": "https://vault:8200", "path": "secret", "version": "v2", "auth": auth } } }
        })
    };
    let cluster = |auth: Value| Write {
        kind: Kind::ClusterSecretStore,
        operation: Operation::Create,
        namespace: None,
        user: ARGOCD,
        object: store(auth),
        old: None,
    };
    let kubernetes = json!({ "kubernetes": { "mountPath": "kubernetes", "role": "external-secrets", "serviceAccountRef": { "name": "external-secrets", "namespace": "external-secrets" } } });
    assert_allowed(&cluster(kubernetes).evaluate(), "kubernetes auth");
    assert_denied_by(
        &cluster(json!({ "tokenSecretRef": { "name": "vault-token", "key": "token" } })).evaluate(),
        "VG402",
        "token",
    );
    for auth in [
        json!({ "appRole": { "path": "approle", "roleId": "r", "secretRef": { "name": "approle", "key": "secret-id" } } }),
        json!({ "userPass": { "path": "userpass", "username": "eso", "secretRef": { "name": "vault-pass", "key": "password" } } }),
        json!({ "ldap": { "path": "ldap", "username": "eso", "secretRef": { "name": "ldap-pass", "key": "password" } } }),
        json!({ "jwt": { "path": "jwt", "role": "eso", "secretRef": { "name": "jwt", "key": "token" } } }),
        json!({ "cert": { "clientCert": { "name": "vault-cert", "key": "tls.crt" }, "secretRef": { "name": "vault-cert", "key": "tls.key" } } }),
    ] {
        assert_denied_by(
            &cluster(auth.clone()).evaluate(),
            "VG402",
            &auth.to_string(),
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Helpers for the webhook-level cases.

fn webhook() -> Webhook {
    let policy = Policy::default();
    let view = MemoryView::from_policy(&policy);
    Webhook::new(Arc::new(policy), Arc::new(view), Arc::new(Metrics::new()))
}

fn admission_review(
    kind: (&str, &str, &str),
    operation: &str,
    namespace: &str,
    name: &str,
    user: &str,
    object: Value,
    old: Value,
) -> Vec<u8> {
    let (group, version, kind) = kind;
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "bypass-uid",
            "kind": { "group": group, "version": version, "kind": kind },
            "name": name,
            "namespace": namespace,
            "operation": operation,
            "userInfo": { "username": user, "groups": groups(user) },
            "object": object,
            "oldObject": old,
            "dryRun": false
        }
    }))
    .expect("encode")
}

fn respond(hook: &Webhook, route: Route, body: &[u8]) -> Value {
    let out = hook
        .review(route, body)
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let v: Value = serde_json::from_slice(&out).expect("JSON");
    assert_eq!(v["response"]["uid"], "bypass-uid");
    v["response"].clone()
}

/// Rule ids named in a denial message, in order.
fn rule_ids(response: &Value) -> Vec<String> {
    let msg = response["status"]["message"].as_str().unwrap_or("");
    msg.lines()
        .filter_map(|l| l.strip_prefix('['))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

// ------------------------------------------------------------------------------------------------
// Who may write a bootstrap Secret before its handover

/// Was a bypass (fixed, VG110): a bootstrap Secret whose handover is still pending may be rewritten by any other
/// producer (here cert-manager, e.g. through a Certificate whose `secretName` is the bootstrap
/// Secret's name): no rule says "only the decrypter (or the handover controller) writes a
/// bootstrap Secret" the way VG105 does for materialized ones, and VG107 only covers handed-over
/// Secrets. The handover controller then copies the rewritten value into Vault as the authority.
#[test]
fn vg107_pending_bootstrap_secret_rewritten_by_another_producer() {
    let p = "platform.pnats.cloud/";
    let pending = {
        let mut meta = sealed_owner();
        meta["labels"] = json!({ CLASS: "bootstrap", format!("{p}handover-state"): "pending", format!("{p}bootstrap-source"): "sealed-secrets" });
        meta["annotations"] = json!({ format!("{p}handover-to"): "platform-data/github/flux" });
        secret("github-token", "vault", meta)
    };
    let view = view_with(&[(Kind::Secret, "vault", pending.clone())]);
    let mut rewritten = pending.clone();
    rewritten["data"] = json!({ "password": "b3RoZXI=", "tls.crt": "Y2VydA==", "tls.key": "a2V5" });
    // Control: the decrypter itself may rewrite it (a new sealed value from Git).
    assert_allowed(
        &Write::update(
            Kind::Secret,
            "vault",
            SEALED,
            pending.clone(),
            rewritten.clone(),
        )
        .evaluate_in(&view),
        "decrypter",
    );
    let d =
        Write::update(Kind::Secret, "vault", CERT_MANAGER, pending, rewritten).evaluate_in(&view);
    assert!(
        !d.allowed(),
        "cert-manager rewrote a pending bootstrap Secret: allowed with class {:?}",
        d.class
    );
}
