//! VG108 class-label-change: the class label changed, dropped or added on UPDATE.

use super::*;

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
