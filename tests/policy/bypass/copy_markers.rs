//! VG103 copy-marker: copy-tool markers in any case, as labels or annotations.

use super::*;

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
