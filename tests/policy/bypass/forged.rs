//! VG104 forged-provenance: owner references, ESO markers, class labels and stamped keys
//! claimed by a writer that does not own them.

use super::*;

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
