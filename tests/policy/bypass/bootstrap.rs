//! VG106 bootstrap-namespace / VG107 bootstrap-handed-over / VG110 bootstrap-edit: who may
//! write a bootstrap Secret, where, and before and after its handover.

use super::*;

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
    // Writes that move a value (an unchanged UPDATE is housekeeping and allowed).
    let mut repopulated = consumed.clone();
    repopulated["data"] = json!({ "password": "YWdhaW4=" });
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
            repopulated.clone(),
        )
        .evaluate_in(&view),
        "VG107",
        "updated",
    );
    // Even while being deleted (deletionTimestamp set, finalizer pending).
    let mut deleting = consumed.clone();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    deleting["metadata"]["finalizers"] = json!(["example.com/hold"]);
    let mut deleting_repopulated = deleting.clone();
    deleting_repopulated["data"] = repopulated["data"].clone();
    assert_denied_by(
        &Write::update(
            Kind::Secret,
            "vault",
            SEALED,
            deleting.clone(),
            deleting_repopulated,
        )
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
            repopulated,
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
    rewritten["data"] = json!({ "password": "b3RoZXI=", "token": "dG9rZW4=" });
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
