//! Deletion timestamps (Kyverno CVE-2023-34091: objects being deleted were skipped).

use super::*;

#[test]
fn deletion_timestamp_never_skips_evaluation() {
    let dying = |mut object: Value| {
        object["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        object["metadata"]["finalizers"] = json!(["example.com/keep"]);
        object
    };
    // VG101 on CREATE and UPDATE (one that moves a value: an unchanged one is housekeeping).
    let plain = secret("db", "payments", json!({}));
    let rewrite = |mut object: Value| -> Value {
        object["data"]["password"] = json!("bmV3");
        object
    };
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
            dying(rewrite(plain)),
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
        dying(rewrite(materialized)),
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
            dying(rewrite(secret("db", "payments", json!({})))),
            old,
        );
        assert_eq!(
            respond(&hook, Route::Validate, &review)["allowed"],
            false,
            "{op}"
        );
    }
}
