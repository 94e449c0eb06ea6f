//! The in-cluster audit of `vaultgate serve` (`--audit-interval`, 2 s in the harness) against
//! the real kube-apiserver: Secrets the webhook never judged (written by the kube-system
//! service account `audit-seeder`, which the shipped `matchConditions` skip, as in
//! tests/e2e/audit.rs) -- a hand-made one, a reflector's copy, a materialized one and a
//! bootstrap one pending handover -- show up in their namespace's `PolicyReport` as `fail`
//! results for the violations only, a fix (deleting the hand-made Secret) is followed, and
//! `/metrics` carries the inventory. Nothing asserts how soon: each wait is a bounded poll. The PolicyReport CRD is the one
//! manifests/overlays/policy-reports ships, applied here (idempotent).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, PostParams};
use serde_json::{Value, json};

use crate::harness::*;

pub(crate) fn install_crd() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/manifests/overlays/policy-reports"
    );
    kubectl(&env().kubeconfig, &["apply", "-k", dir], None).expect_ok();
    kubectl(
        &env().kubeconfig,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/policyreports.wgpolicyk8s.io",
            "crd/clusterpolicyreports.wgpolicyk8s.io",
        ],
        None,
    )
    .expect_ok();
}

async fn unjudged(who: &Identity, obj: &Value) {
    let ns = obj["metadata"]["namespace"].as_str().expect("namespace");
    let secret: Secret = serde_json::from_value(obj.clone()).expect("a Secret");
    Api::<Secret>::namespaced(who.client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap_or_else(|e| panic!("creating a Secret in {ns}: {}", error_text(&e)));
}

/// The namespace's `vaultgate` PolicyReport once `done` holds for it (bounded poll).
pub(crate) async fn report_when(
    admin: &kube::Client,
    ns: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let api: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        ns,
        &ApiResource {
            group: "wgpolicyk8s.io".into(),
            version: "v1alpha2".into(),
            api_version: "wgpolicyk8s.io/v1alpha2".into(),
            kind: "PolicyReport".into(),
            plural: "policyreports".into(),
        },
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        if let Ok(Some(r)) = api.get_opt("vaultgate").await {
            last = serde_json::to_value(r).expect("json");
            if done(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("PolicyReport {ns}/vaultgate never showed {what} within 30 s; last seen:\n{last:#}");
}

fn failing(r: &Value) -> Vec<(String, String)> {
    r["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["result"] == "fail")
        .map(|x| {
            (
                x["rule"].as_str().unwrap_or("").to_owned(),
                x["resources"][0]["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The `(rule, name)` pairs of `r`'s `fail` results that name `name`.
fn failing_for(r: &Value, name: &str) -> Vec<String> {
    failing(r)
        .into_iter()
        .filter(|(_, n)| n == name)
        .map(|(rule, _)| rule)
        .collect()
}

#[tokio::test]
async fn the_in_cluster_audit_publishes_violations_as_a_policy_report_and_follows_a_fix() {
    let _guard = shared().await;
    install_crd();
    let admin = admin().await;
    let ns = namespace(&admin, "polr").await;
    ensure_namespace(&admin, "vault").await;
    let seeder = service_account(("kube-system", "audit-seeder")).await;

    // A bootstrap Secret decrypted from a SealedSecret, its handover pending (as in
    // tests/e2e/audit.rs); written first, so the pass that shows the Secrets below saw it too.
    let boot = unique("polr-boot");
    let sealed = create(&admin, &sealed_secret("vault", &boot, "password"))
        .await
        .unwrap_or_else(|e| panic!("creating SealedSecret vault/{boot}: {}", error_text(&e)));
    let mut bootstrap = secret("vault", &boot, &[("password", "bt")]);
    bootstrap["metadata"]["ownerReferences"] =
        owner_ref("bitnami.com/v1alpha1", "SealedSecret", &boot, &uid(&sealed));
    bootstrap["metadata"]["annotations"] =
        json!({format!("{P}handover-to"): format!("platform-data/postgres/{boot}")});
    unjudged(&seeder, &bootstrap).await;

    unjudged(&seeder, &secret(&ns, "hand-made", &[("password", "hm")])).await;
    // A copy a reflector made: the live view keeps the copy tools' markers.
    let mut copy = secret(&ns, "reflected", &[("password", "rf")]);
    copy["metadata"]["annotations"] =
        json!({"reflector.v1.k8s.emberstack.com/reflects": "shared/db"});
    unjudged(&seeder, &copy).await;
    let argo = service_account(ARGOCD).await;
    let es = create_admitted(
        &argo.client,
        &external_secret(&ns, "db", &format!("platform-data/postgres/{ns}")),
    )
    .await;
    let mut materialized = secret(&ns, "db", &[("password", "db")]);
    materialized["metadata"]["ownerReferences"] =
        owner_ref("external-secrets.io/v1", "ExternalSecret", "db", &uid(&es));
    materialized["metadata"]["labels"] = json!({"reconcile.external-secrets.io/managed": "true"});
    unjudged(&seeder, &materialized).await;

    let report = report_when(&admin, &ns, "the hand-made Secret and the copy", |r| {
        !failing_for(r, "hand-made").is_empty() && !failing_for(r, "reflected").is_empty()
    })
    .await;
    assert_eq!(
        failing_for(&report, "hand-made"),
        ["VG101"],
        "unmanaged\n{report:#}"
    );
    assert!(
        failing_for(&report, "reflected").contains(&"VG103".to_owned()),
        "a copy\n{report:#}"
    );
    assert!(
        failing(&report)
            .iter()
            .all(|(_, n)| n == "hand-made" || n == "reflected"),
        "the violations only: the materialized Secret has none\n{report:#}"
    );
    let result = report["results"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["resources"][0]["name"] == "hand-made"))
        .expect("the hand-made Secret's result");
    assert_eq!(result["policy"], "vaultgate");
    assert_eq!(result["severity"], "high");
    assert_eq!(result["resources"][0]["kind"], "Secret");
    assert_eq!(result["resources"][0]["namespace"], ns.as_str());
    assert_eq!(
        result["properties"]["producer"], "unknown",
        "no managedFields in the live view: no inferred producer"
    );
    assert_eq!(
        report["summary"]["fail"],
        failing(&report).len(),
        "{report:#}"
    );
    assert_eq!(
        report["metadata"]["annotations"]["vaultgate.io/results-omitted"],
        "0"
    );

    // Fix it: the hand-made Secret goes, the report follows (the view's change triggers a
    // pass; the interval would too).
    Api::<Secret>::namespaced(admin.clone(), &ns)
        .delete("hand-made", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("deleting {ns}/hand-made: {}", error_text(&e)));
    let fixed = report_when(&admin, &ns, "no hand-made result after the fix", |r| {
        failing_for(r, "hand-made").is_empty()
    })
    .await;
    assert!(
        !failing_for(&fixed, "reflected").is_empty(),
        "the copy is still reported\n{fixed:#}"
    );

    // The pass that showed the Secrets above had the bootstrap one, and has ended since: the
    // vault namespace's report holds no result for it.
    let vault = report_when(&admin, "vault", "a report", |_| true).await;
    assert!(
        vault["results"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|x| x["resources"][0]["name"] != boot.as_str()),
        "the bootstrap Secret pending handover violates nothing\n{vault:#}"
    );

    let metrics = reqwest::get(format!("{}/metrics", env().webhook_probe_url))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    assert_contains(
        &metrics,
        &[
            "vaultgate_inventory_secrets{class=\"materialized\",producer=\"eso\"}",
            "vaultgate_inventory_secrets{class=\"bootstrap\",producer=\"decrypter\"}",
            "vaultgate_inventory_secrets{class=\"unclassified\",producer=\"unknown\"}",
            "vaultgate_audit_violations{rule=\"VG103\"}",
            "vaultgate_vault_coverage_ratio ",
            "vaultgate_audit_last_run_timestamp_seconds ",
            "vaultgate_audit_duration_seconds ",
        ],
        "the in-cluster audit's metrics",
    );
}
