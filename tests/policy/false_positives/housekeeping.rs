//! Metadata-only housekeeping: a cluster admin or a developer removing a stuck finalizer, or
//! changing an unrelated label or annotation, on an existing Secret. `data`, `stringData`,
//! `type` and every `platform.pnats.cloud/` key stay as they were, so no value is written and no
//! provenance is claimed: allowed whatever produced the Secret. Changing a value, or adding a
//! copy marker or a forged owner in the same UPDATE, is still denied.

use super::*;

const P: &str = "platform.pnats.cloud/";

/// The Secrets the cluster already holds: (what, namespace, stored object).
fn existing() -> Vec<(&'static str, &'static str, Value)> {
    let finalizers = json!(["example.com/protect"]);
    let legacy = {
        let mut s = secret(
            "legacy-db",
            "payments",
            json!({ "labels": { "app.kubernetes.io/part-of": "legacy" } }),
        );
        s["metadata"]["finalizers"] = finalizers.clone();
        s
    };
    let materialized = {
        let mut meta = es_owner();
        meta["labels"] = json!({
            CLASS: "materialized",
            "reconcile.external-secrets.io/managed": "true",
            "app.kubernetes.io/part-of": "payments",
        });
        meta["annotations"] = json!({ "reconcile.external-secrets.io/data-hash": "4f1c2a" });
        meta["finalizers"] = finalizers.clone();
        secret("db", "payments", meta)
    };
    let bootstrap = {
        let mut meta = sealed_owner();
        meta["labels"] = json!({
            CLASS: "bootstrap",
            format!("{P}bootstrap-source"): "sealed-secrets",
            "app.kubernetes.io/part-of": "vault",
        });
        meta["annotations"] = json!({
            format!("{P}first-seen"): "2026-01-01T00:00:00Z",
            format!("{P}created-by"): SEALED,
            format!("{P}admission-uid"): "3d1f0b52-0000-4000-8000-000000000001",
        });
        meta["finalizers"] = finalizers;
        secret("unseal-keys", "vault", meta)
    };
    vec![
        ("an unmanaged legacy Secret", "payments", legacy),
        ("a Secret materialized by ESO", "payments", materialized),
        ("a bootstrap Secret", "vault", bootstrap),
    ]
}

/// An edit of the stored object.
type Edit = fn(&mut Value);

/// The housekeeping edits: (what, edit).
fn housekeeping() -> Vec<(&'static str, Edit)> {
    vec![
        ("removes the finalizers", |s| {
            s["metadata"]
                .as_object_mut()
                .expect("metadata")
                .remove("finalizers");
        }),
        ("changes an unrelated label", |s| {
            s["metadata"]["labels"]["app.kubernetes.io/part-of"] = json!("billing");
            s["metadata"]["labels"]["team"] = json!("payments");
        }),
        ("adds an unrelated annotation", |s| {
            s["metadata"]["annotations"]["example.com/last-audit"] = json!("2026-03-01");
        }),
    ]
}

fn updated(old: &Value, edit: Edit) -> Value {
    let mut new = old.clone();
    edit(&mut new);
    new
}

#[test]
fn metadata_only_housekeeping_by_an_admin_or_a_developer_is_allowed() {
    for user in [CLUSTER_ADMIN, HUMAN] {
        for (secret_what, ns, old) in existing() {
            for (edit_what, edit) in housekeeping() {
                let new = updated(&old, edit);
                let d = Write::update(Kind::Secret, ns, user, old.clone(), new).evaluate();
                assert!(
                    d.allowed(),
                    "{user} {edit_what} on {secret_what}: must be allowed, denied {}",
                    denied_rules(&d)
                );
            }
        }
    }
}

#[test]
fn housekeeping_that_also_changes_a_value_is_denied() {
    for user in [CLUSTER_ADMIN, HUMAN] {
        for (secret_what, ns, old) in existing() {
            for (edit_what, edit) in housekeeping() {
                // Same key, another value.
                let mut new = updated(&old, edit);
                new["data"]["password"] = json!("b3RoZXI=");
                let d = Write::update(Kind::Secret, ns, user, old.clone(), new).evaluate();
                assert!(
                    !d.allowed(),
                    "{user} {edit_what} and changes a value on {secret_what}: must be denied"
                );
                if secret_what.contains("materialized") {
                    assert_denied_by(&d, "VG105", &format!("{user} edits {secret_what}"));
                } else if secret_what.contains("legacy") {
                    assert_denied_by(&d, "VG101", &format!("{user} edits {secret_what}"));
                }
            }
        }
    }
}

#[test]
fn housekeeping_that_adds_a_copy_marker_is_denied() {
    for user in [CLUSTER_ADMIN, HUMAN] {
        for (secret_what, ns, old) in existing() {
            for (edit_what, edit) in housekeeping() {
                let mut new = updated(&old, edit);
                new["metadata"]["annotations"]["reflector.v1.k8s.emberstack.com/reflection-allowed"] =
                    json!("true");
                let d = Write::update(Kind::Secret, ns, user, old.clone(), new).evaluate();
                assert_denied_by(
                    &d,
                    "VG103",
                    &format!("{user} {edit_what} and allows reflection of {secret_what}"),
                );
            }
        }
    }
}

#[test]
fn housekeeping_that_adds_a_forged_eso_owner_is_denied() {
    for user in [CLUSTER_ADMIN, HUMAN] {
        for (secret_what, ns, old) in existing() {
            for (edit_what, edit) in housekeeping() {
                let mut new = updated(&old, edit);
                let forged = json!({
                    "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                    "name": "adopt", "uid": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "controller": false
                });
                match new["metadata"]["ownerReferences"].as_array_mut() {
                    Some(owners) => owners.push(forged),
                    None => new["metadata"]["ownerReferences"] = json!([forged]),
                }
                let d = Write::update(Kind::Secret, ns, user, old.clone(), new).evaluate();
                assert_denied_by(
                    &d,
                    "VG104",
                    &format!("{user} {edit_what} and adds an ESO owner to {secret_what}"),
                );
            }
        }
    }
}
