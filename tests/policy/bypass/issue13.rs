//! The bypasses issue #13 lists for Secrets, stores and identities, one test per item, each
//! mapped to the rule that now stops it and each with an honest control. (The ExternalSecret
//! and PushSecret items are in `eso_templates`; the review's follow-ups in `review_findings`.)

use super::*;

const HELM: &str = "system:serviceaccount:flux-system:helm-controller";

fn typed(name: &str, type_: &str, meta: Value, data: Value) -> Value {
    let mut s = secret(name, "payments", meta);
    s["type"] = json!(type_);
    s["data"] = data;
    s
}

fn helm_record(extra_labels: Value) -> Value {
    let mut labels =
        json!({ "owner": "helm", "name": "api", "version": "1", "status": "deployed" });
    for (k, v) in extra_labels.as_object().into_iter().flatten() {
        labels[k] = v.clone();
    }
    typed(
        "sh.helm.release.v1.api.v1",
        "helm.sh/release.v1",
        json!({ "labels": labels }),
        json!({ "release": "SDRzSQ==" }),
    )
}

/// Item 1: the `system` class was granted on `type` alone, skipping every Secret rule.
#[test]
fn item1_vg101_a_system_type_alone_earns_no_class() {
    let sa = json!({ "annotations": { "kubernetes.io/service-account.name": "builder" } });
    for (what, object) in [
        ("helm type by a human", helm_record(json!({}))),
        (
            "token with a value",
            typed(
                "t",
                "kubernetes.io/service-account-token",
                sa.clone(),
                json!({ "token": "dA==" }),
            ),
        ),
        (
            "bootstrap token outside kube-system",
            typed(
                "bootstrap-token-abcdef",
                "bootstrap.kubernetes.io/token",
                json!({}),
                json!({ "token-id": "YQ==" }),
            ),
        ),
    ] {
        let d = Write::create(Kind::Secret, "payments", HUMAN, object).evaluate();
        assert_denied_by(&d, "VG101", what);
        assert_ne!(d.class, Some(Class::System), "{what}");
    }
    // Controls: Helm's own record from Helm's identity, and an empty token shell.
    let d = Write::create(Kind::Secret, "payments", HELM, helm_record(json!({}))).evaluate();
    assert_allowed(&d, "Helm's record");
    assert_eq!(d.class, Some(Class::System));
    let shell = typed("t", "kubernetes.io/service-account-token", sa, json!({}));
    assert_allowed(
        &Write::create(Kind::Secret, "payments", HUMAN, shell).evaluate(),
        "token shell",
    );
}

/// Item 1, continued: whatever the class, copy markers, forged markers and the bootstrap
/// namespace rule still run.
#[test]
fn item1_vg103_vg104_vg106_run_on_system_secrets() {
    let marked = helm_record(json!({}));
    let mut marked = marked;
    marked["metadata"]["annotations"] =
        json!({ "reflector.v1.k8s.emberstack.com/reflection-allowed": "true" });
    assert_denied_by(
        &Write::create(Kind::Secret, "payments", HELM, marked).evaluate(),
        "VG103",
        "copy marker on a system Secret",
    );
    let d = Write::create(
        Kind::Secret,
        "payments",
        HELM,
        helm_record(json!({ CLASS: "bootstrap" })),
    )
    .evaluate();
    assert_denied_by(&d, "VG104", "class label on a system Secret");
    assert_denied_by(
        &d,
        "VG106",
        "declared bootstrap outside a bootstrap namespace",
    );
}

/// Item 4 (Secret side): ESO writing a Secret a PushSecret publishes.
#[test]
fn item4_vg208_eso_may_not_materialize_a_push_source() {
    let push = json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": { "name": "pub", "namespace": "payments" },
        "spec": { "refreshInterval": "1h", "secretStoreRefs": [APPROVED()],
                  "selector": { "secret": { "name": "db" } },
                  "data": [{ "match": { "secretKey": "password", "remoteRef": { "remoteKey": "platform-data/postgres/payments", "property": "password" } } }] }
    });
    let view = view_with(&[(Kind::PushSecret, "payments", push)]);
    assert_denied_by(
        &Write::create(
            Kind::Secret,
            "payments",
            ESO,
            secret("db", "payments", es_owner()),
        )
        .evaluate_in(&view),
        "VG208",
        "materializing a pushed Secret",
    );
    assert_allowed(
        &Write::create(
            Kind::Secret,
            "payments",
            ESO,
            secret("other", "payments", es_owner()),
        )
        .evaluate_in(&view),
        "another Secret",
    );
}

/// Item 5: `handover-to` was never validated, so a token could be copied into the config
/// tree every namespace reads.
#[test]
fn item5_vg303_to_vg305_hold_for_handover_to() {
    let declared = |path: &str, data: Value| {
        let mut s = secret(
            "github",
            "vault",
            json!({ "ownerReferences": [owner("bitnami.com/v1alpha1", "SealedSecret")],
                    "annotations": { "platform.pnats.cloud/handover-to": path } }),
        );
        s["data"] = data;
        s
    };
    for (path, data, rule) in [
        (
            "platform-config/github/flux",
            json!({ "token": "dA==" }),
            "VG305",
        ),
        (
            "platform-data/github/flux",
            json!({ "api-key": "dA==" }),
            "VG304",
        ),
        (
            "platform-data/github/prod",
            json!({ "token": "dA==" }),
            "VG303",
        ),
        ("platform-data/github", json!({ "token": "dA==" }), "VG303"),
    ] {
        assert_denied_by(
            &Write::create(Kind::Secret, "vault", SEALED, declared(path, data)).evaluate(),
            rule,
            path,
        );
    }
    assert_allowed(
        &Write::create(
            Kind::Secret,
            "vault",
            SEALED,
            declared("platform-data/github/flux", json!({ "token": "dA==" })),
        )
        .evaluate(),
        "a secret to the data tree",
    );
}

/// Item 8: audit stamps sent by the client were kept (the patch only set absent keys). The
/// validating webhook refuses values vaultgate would not compute, even without the mutation.
#[test]
fn item8_vg104_vg112_forged_audit_stamps_on_create_and_update() {
    let p = "platform.pnats.cloud/";
    let sealed = |annotations: Value| {
        secret(
            "github",
            "vault",
            json!({ "ownerReferences": [owner("bitnami.com/v1alpha1", "SealedSecret")], "annotations": annotations }),
        )
    };
    let forged = sealed(json!({ format!("{p}created-by"): "alice" }));
    assert_denied_by(
        &Write::create(Kind::Secret, "vault", SEALED, forged).evaluate(),
        "VG104",
        "forged created-by",
    );
    let honest = sealed(json!({ format!("{p}created-by"): SEALED }));
    assert_allowed(
        &Write::create(Kind::Secret, "vault", SEALED, honest.clone()).evaluate(),
        "computed created-by",
    );
    // On UPDATE a stored stamp keeps its value, even for the decrypter.
    let rewritten = sealed(
        json!({ format!("{p}created-by"): "system:serviceaccount:argocd:argocd-application-controller" }),
    );
    assert_denied_by(
        &Write::update(Kind::Secret, "vault", SEALED, honest, rewritten).evaluate(),
        "VG112",
        "stamp changed on UPDATE",
    );
}

fn review_as(user: &str, groups: &[&str]) -> (String, Vec<u8>) {
    let uid = format!("group-claim-{user}");
    let body = serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": { "group": "", "version": "v1", "kind": "Secret" },
            "resource": { "group": "", "version": "v1", "resource": "secrets" },
            "name": "db", "namespace": "payments", "operation": "CREATE",
            "userInfo": { "username": user, "groups": groups },
            "object": secret("db", "payments", json!({})), "oldObject": null, "dryRun": false
        }
    }))
    .unwrap();
    (uid, body)
}

/// Item 9: the kube-system service accounts' group claim exempted any user carrying it.
#[test]
fn item9_vg101_a_kube_system_group_claim_exempts_only_kube_system_service_accounts() {
    let view = MemoryView::from_policy(&Policy::default());
    let group = "system:serviceaccounts:kube-system";
    for user in [
        "mallory",
        "system:serviceaccount:kube-system:a:b",
        "system:serviceaccount:payments:default",
    ] {
        let (uid, body) = review_as(user, &[group, "system:authenticated"]);
        let response = validate_over_https(&view, &uid, body);
        assert_eq!(response["allowed"], false, "{user}: {response}");
        assert_eq!(rule_ids(&response), ["VG101"], "{user}");
    }
    let (uid, body) = review_as(
        "system:serviceaccount:kube-system:generic-garbage-collector",
        &["system:serviceaccounts", group, "system:authenticated"],
    );
    let response = validate_over_https(&view, &uid, body);
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(response["auditAnnotations"]["exempt"], "identity");
}

/// Item 10: a service-account JWT kept in a Secret (`auth.kubernetes.secretRef`) passed VG402.
#[test]
fn item10_vg402_kubernetes_auth_from_a_stored_jwt() {
    let store = |kubernetes: Value| Write {
        kind: Kind::ClusterSecretStore,
        operation: Operation::Create,
        namespace: None,
        user: ARGOCD,
        object: json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
            "metadata": { "name": "vault-backend" },
            "spec": { "provider": { "vault": { "server": "https://vault:8200", "path": "secret", "version": "v2",
                      "auth": { "kubernetes": kubernetes } } } }
        }),
        old: None,
    };
    assert_denied_by(
        &store(json!({ "mountPath": "kubernetes", "role": "eso", "secretRef": { "name": "sa-jwt", "key": "token" } })).evaluate(),
        "VG402",
        "secretRef",
    );
    assert_allowed(
        &store(json!({ "mountPath": "kubernetes", "role": "eso", "serviceAccountRef": { "name": "external-secrets" } })).evaluate(),
        "serviceAccountRef",
    );
}
