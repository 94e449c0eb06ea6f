//! VG201 non-vault-store / VG301 push-store: store references spelled differently; and
//! v1beta1 vs v1 spellings, where the version never changes the verdict.

use super::*;

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
