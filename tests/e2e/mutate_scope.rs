//! One webhook hop in the steady state (`policy::mutate::scope`): the mutating webhook's
//! matchConditions, generated from the policy, keep a stamped Secret's UPDATE away from
//! /mutate while /validate still judges it; a CREATE is still stamped. And skipping the mutating
//! call never lets a stamp go missing or be forged: with the MutatingWebhookConfiguration
//! removed (every call skipped), the validating webhook denies a bootstrap Secret without its
//! stamps and an UPDATE that drops or changes a stored one (VG112).
//!
//! Both tests take the cluster lock exclusively: the first counts vaultgate's reviews, the
//! second removes the mutating webhook for a moment.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bootstrap::unsealed;
use crate::harness::*;

async fn reviews() -> (f64, f64) {
    let text = reqwest::get(format!("{}/metrics", env().webhook_probe_url))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    reviews_by_route(&text)
}

/// The Secret as stored, ready to be written back (server-set fields kept: replace needs
/// resourceVersion).
fn edited(stored: &Value, f: impl FnOnce(&mut Value)) -> Value {
    let mut s = stored.clone();
    if let Some(meta) = s["metadata"].as_object_mut() {
        meta.remove("managedFields");
    }
    f(&mut s);
    s
}

#[tokio::test]
async fn an_eso_refresh_of_a_stamped_secret_is_validated_without_a_mutating_call() {
    let _cluster = exclusive().await;
    let admin = admin().await;
    let ns = namespace(&admin, "scope").await;
    let argocd = service_account(ARGOCD).await;
    let eso = service_account(ESO).await;
    let es = create_admitted(
        &argocd.client,
        &external_secret(&ns, "db", &format!("platform-data/postgres/{ns}")),
    )
    .await;
    let mut s = secret(&ns, "db", &[("password", "from-vault")]);
    s["metadata"]["ownerReferences"] =
        owner_ref("external-secrets.io/v1", "ExternalSecret", "db", &uid(&es));
    s["metadata"]["labels"] = json!({"reconcile.external-secrets.io/managed": "true"});

    // CREATE goes through /mutate: the class label is stamped.
    let (v0, m0) = reviews().await;
    create_admitted(&eso.client, &s).await;
    let (v1, m1) = reviews().await;
    assert!(m1 > m0, "the CREATE was not sent to /mutate ({m0} -> {m1})");
    assert!(v1 > v0, "the CREATE was not validated ({v0} -> {v1})");
    let stored = get_secret(&admin, &ns, "db").await.expect("stored");
    assert_eq!(
        label(&stored, &format!("{P}secret-class")),
        Some("materialized"),
        "the CREATE was not stamped:\n{stored:#}"
    );

    // ESO's refresh: new data, vaultgate's keys as stored. Validated, never mutated.
    let refresh = edited(&stored, |s| {
        s["data"] = json!({"password": b64("rotated-in-vault")});
    });
    let (v2, m2) = reviews().await;
    replace(&eso.client, &refresh)
        .await
        .unwrap_or_else(|e| panic!("ESO's refresh was refused: {}", error_text(&e)));
    let (v3, m3) = reviews().await;
    assert_eq!(
        m3, m2,
        "the stamped UPDATE was sent to /mutate; the matchCondition should skip it"
    );
    assert!(
        v3 > v2,
        "the stamped UPDATE was not validated ({v2} -> {v3})"
    );

    // A refresh that drops the class label goes to /mutate, which puts it back.
    let stored = get_secret(&admin, &ns, "db").await.expect("stored");
    let dropped = edited(&stored, |s| {
        s["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove(&format!("{P}secret-class"));
    });
    let (_, m4) = reviews().await;
    replace(&eso.client, &dropped)
        .await
        .unwrap_or_else(|e| panic!("ESO's write was refused: {}", error_text(&e)));
    let (_, m5) = reviews().await;
    assert!(
        m5 > m4,
        "an UPDATE dropping the class label skipped /mutate"
    );
    let stored = get_secret(&admin, &ns, "db").await.expect("stored");
    assert_eq!(
        label(&stored, &format!("{P}secret-class")),
        Some("materialized")
    );
}

/// Removes the MutatingWebhookConfiguration for the test and puts it back on drop (also when an
/// assertion fails).
struct NoMutatingWebhook {
    saved: String,
}

impl NoMutatingWebhook {
    fn remove() -> Self {
        let kc = &env().kubeconfig;
        let got = kubectl(
            kc,
            &[
                "get",
                "mutatingwebhookconfiguration",
                "vaultgate",
                "-o",
                "json",
            ],
            None,
        );
        got.expect_ok();
        let mut obj: Value = serde_json::from_str(&got.stdout).expect("webhook configuration json");
        for k in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "managedFields",
            "generation",
        ] {
            obj["metadata"].as_object_mut().unwrap().remove(k);
        }
        kubectl(
            kc,
            &["delete", "mutatingwebhookconfiguration", "vaultgate"],
            None,
        )
        .expect_ok();
        Self {
            saved: obj.to_string(),
        }
    }
}

impl Drop for NoMutatingWebhook {
    fn drop(&mut self) {
        let out = kubectl(&env().kubeconfig, &["create", "-f", "-"], Some(&self.saved));
        if !out.success {
            eprintln!(
                "could not restore the MutatingWebhookConfiguration: {}",
                out.stderr
            );
        }
    }
}

#[tokio::test]
async fn skipping_the_mutating_call_never_lets_a_missing_or_forged_stamp_through() {
    let _cluster = exclusive().await;
    let admin = admin().await;
    ensure_namespace(&admin, "vault").await;
    let controller = service_account(SEALED_SECRETS).await;

    // A bootstrap Secret stamped normally, while the mutating webhook is registered.
    let name = unique("scope-unseal");
    let sealed = sealed_secret("vault", &name, "token");
    let owner = uid(&create(&admin, &sealed).await.expect("SealedSecret"));
    create_admitted(&controller.client, &unsealed("vault", &name, &owner, None)).await;
    let stored = get_secret(&admin, "vault", &name).await.expect("stored");
    let created_by = format!("{P}created-by");
    assert!(
        annotation(&stored, &created_by).is_some(),
        "not stamped:\n{stored:#}"
    );

    let _gone = NoMutatingWebhook::remove();
    // The apiserver drops the webhook from its view within moments; a fresh bootstrap CREATE
    // then reaches /validate unstamped.
    let fresh = unique("scope-unseal");
    let fresh_owner = uid(&create(&admin, &sealed_secret("vault", &fresh, "token"))
        .await
        .expect("SealedSecret"));
    let unstamped = unsealed("vault", &fresh, &fresh_owner, None);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        match create(&controller.client, &unstamped).await {
            Err(kube::Error::Api(s)) if s.code == 403 => break s,
            Err(e) => panic!("unexpected error: {}", error_text(&e)),
            Ok(_) if Instant::now() < deadline => {
                // Admitted through a still-cached mutating webhook: try again with a new name.
                let _ = kubectl(
                    &env().kubeconfig,
                    &["delete", "secret", "-n", "vault", &fresh],
                    None,
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Ok(o) => panic!("an unstamped bootstrap CREATE was admitted: {o:?}"),
        }
    };
    assert_eq!(rule_ids(&status.message), ["VG112"], "{}", status.message);
    assert_contains(
        &status.message,
        &[SECRETS_VALIDATE, &format!("lacks annotation {created_by}")],
        "unstamped CREATE",
    );

    // An UPDATE forging a stored stamp, and one dropping it: denied by /validate alone.
    let forged = edited(&stored, |s| {
        s["metadata"]["annotations"][&created_by] =
            json!("system:serviceaccount:vault:someone-else");
    });
    let status = assert_denied(
        replace(&controller.client, &forged).await,
        SECRETS_VALIDATE,
        &["VG112"],
        "forged created-by",
    );
    assert_contains(
        &status.message,
        &[&format!("changes annotation {created_by}")],
        "forged",
    );
    let dropped = edited(&stored, |s| {
        s["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove(&created_by);
    });
    let status = assert_denied(
        replace(&controller.client, &dropped).await,
        SECRETS_VALIDATE,
        &["VG112"],
        "dropped created-by",
    );
    assert_contains(
        &status.message,
        &[&format!("drops annotation {created_by}")],
        "dropped",
    );
}

#[tokio::test]
async fn a_decrypters_update_of_a_secret_stored_unstamped_with_another_class_is_stamped_not_denied()
{
    let _cluster = shared().await;
    let admin = admin().await;
    ensure_namespace(&admin, "vault").await;
    let controller = service_account(SEALED_SECRETS).await;
    // kube-system service accounts are skipped by the shipped matchConditions: this Secret is
    // stored as one written before vaultgate was installed, with a Git-declared class label
    // other than `bootstrap` and no stamps.
    let seeder = service_account(("kube-system", "scope-seeder")).await;
    let name = unique("scope-legacy");
    let owner = uid(&create(&admin, &sealed_secret("vault", &name, "token"))
        .await
        .expect("SealedSecret"));
    let mut legacy = unsealed("vault", &name, &owner, None);
    legacy["metadata"]["labels"] = json!({format!("{P}secret-class"): "derived"});
    create(&seeder.client, &legacy)
        .await
        .unwrap_or_else(|e| panic!("storing vault/{name} unjudged: {}", error_text(&e)));
    let stored = get_secret(&admin, "vault", &name).await.expect("stored");
    let created_by = format!("{P}created-by");
    assert!(annotation(&stored, &created_by).is_none(), "{stored:#}");

    // The decrypter's renewal goes to /mutate (its identity is in the condition), which stamps
    // it late, and /validate admits it.
    let renewed = edited(&stored, |s| {
        s["data"]["token"] = json!("cm90YXRlZA==");
    });
    replace(&controller.client, &renewed)
        .await
        .unwrap_or_else(|e| panic!("the decrypter's UPDATE was refused: {}", error_text(&e)));
    let after = get_secret(&admin, "vault", &name).await.expect("stored");
    assert_eq!(
        annotation(&after, &created_by),
        Some("system:serviceaccount:kube-system:sealed-secrets-controller"),
        "not stamped late:\n{after:#}"
    );
}
