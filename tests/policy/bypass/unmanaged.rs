//! VG101 unmanaged-secret / VG102 ci-writer: other ways to spell a hand-made Secret.

use super::*;

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
