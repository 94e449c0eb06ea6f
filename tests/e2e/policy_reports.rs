//! The in-cluster audit of `vaultgate serve` (`--audit-interval`, 2 s in the harness) against
//! the real kube-apiserver: Secrets the webhook never judged (written by the kube-system
//! service account `audit-seeder`, which the shipped `matchConditions` skip, as in
//! tests/e2e/audit.rs) show up in the namespace's `PolicyReport` as `fail` results for the
//! violations only, a fix (deleting the hand-made Secret) empties it within an interval or
//! two, and `/metrics` carries the inventory. The PolicyReport CRD is the one
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

#[tokio::test]
async fn the_in_cluster_audit_publishes_violations_as_a_policy_report_and_follows_a_fix() {
    let _guard = shared().await;
    install_crd();
    let admin = admin().await;
    let ns = namespace(&admin, "polr").await;
    let seeder = service_account(("kube-system", "audit-seeder")).await;

    unjudged(&seeder, &secret(&ns, "hand-made", &[("password", "hm")])).await;
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

    let report = report_when(&admin, &ns, "the hand-made Secret's VG101", |r| {
        !failing(r).is_empty()
    })
    .await;
    assert_eq!(
        failing(&report),
        [("VG101".to_owned(), "hand-made".to_owned())],
        "the violation only: the materialized Secret has none\n{report:#}"
    );
    let result = &report["results"][0];
    assert_eq!(result["policy"], "vaultgate");
    assert_eq!(result["severity"], "high");
    assert_eq!(result["resources"][0]["kind"], "Secret");
    assert_eq!(result["resources"][0]["namespace"], ns.as_str());
    assert_eq!(
        result["properties"]["producer"], "unknown",
        "no managedFields in the live view: no inferred producer"
    );
    assert_eq!(report["summary"]["fail"], 1);
    assert_eq!(
        report["metadata"]["annotations"]["vaultgate.io/results-omitted"],
        "0"
    );

    // Fix it: the hand-made Secret goes, the report follows.
    Api::<Secret>::namespaced(admin.clone(), &ns)
        .delete("hand-made", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("deleting {ns}/hand-made: {}", error_text(&e)));
    let fixed = report_when(&admin, &ns, "no fail result after the fix", |r| {
        failing(r).is_empty()
    })
    .await;
    assert_eq!(fixed["summary"]["fail"], 0, "{fixed:#}");

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
            "vaultgate_vault_coverage_ratio ",
            "vaultgate_audit_last_run_timestamp_seconds ",
            "vaultgate_audit_duration_seconds ",
        ],
        "the in-cluster audit's metrics",
    );
}
