//! The in-cluster audit of `vaultgate serve` (`--audit-interval`, 2 s in the harness) against
//! the real kube-apiserver: Secrets the webhook never judged (written by the kube-system
//! service account `audit-seeder`, which the shipped `matchConditions` skip, as in
//! tests/e2e/audit.rs) -- a hand-made one, a reflector's copy, a materialized one and a
//! bootstrap one pending handover -- show up in their namespace's `PolicyReport` as `fail`
//! results for the violations only, a fix (deleting the hand-made Secret) is followed, and
//! `/metrics` carries the inventory; ExternalSecrets and stores already stored are judged too
//! (cluster-scoped stores in the `ClusterPolicyReport`), and a Secret is a service-account token
//! only if the API stores it as one. Nothing asserts how soon: each wait is a bounded poll. The PolicyReport CRD is the one
//! manifests/overlays/policy-reports ships, applied here (idempotent).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, PostParams};
use serde_json::{Value, json};

use crate::harness::*;

/// Once per test process: `kubectl apply` is get-then-create, so two tests applying the same
/// CRDs at once race, and the slower one fails with AlreadyExists. Later callers wait here.
pub(crate) fn install_crd() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(apply_crd);
}

fn apply_crd() {
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

fn report_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "wgpolicyk8s.io".into(),
        version: "v1alpha2".into(),
        api_version: "wgpolicyk8s.io/v1alpha2".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// The namespace's `vaultgate` PolicyReport once `done` holds for it (bounded poll).
pub(crate) async fn report_when(
    admin: &kube::Client,
    ns: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let api = Api::namespaced_with(
        admin.clone(),
        ns,
        &report_resource("PolicyReport", "policyreports"),
    );
    poll_report(api, ns, what, done).await
}

/// The `vaultgate` ClusterPolicyReport once `done` holds for it (bounded poll).
async fn cluster_report_when(
    admin: &kube::Client,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let api = Api::all_with(
        admin.clone(),
        &report_resource("ClusterPolicyReport", "clusterpolicyreports"),
    );
    poll_report(api, "(cluster)", what, done).await
}

async fn poll_report(
    api: Api<DynamicObject>,
    ns: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
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

/// `(rule, name)` of `r`'s `fail` results.
fn failing(r: &Value) -> Vec<(String, String)> {
    failing_of(r, None)
}

/// `(rule, name)` of `r`'s `fail` results, those about a `kind` only if given.
fn failing_of(r: &Value, kind: Option<&str>) -> Vec<(String, String)> {
    r["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["result"] == "fail")
        .filter(|x| kind.is_none_or(|k| x["resources"][0]["kind"] == k))
        .map(|x| {
            (
                x["rule"].as_str().unwrap_or("").to_owned(),
                x["resources"][0]["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The rules of `r`'s `fail` results that name `name`.
fn failing_for(r: &Value, name: &str) -> Vec<String> {
    rules_for(failing(r), name)
}

/// The rules of `r`'s `fail` results about `kind` `name`.
fn failing_for_kind(r: &Value, kind: &str, name: &str) -> Vec<String> {
    rules_for(failing_of(r, Some(kind)), name)
}

fn rules_for(failing: Vec<(String, String)>, name: &str) -> Vec<String> {
    failing
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
    // Under Argo CD's field manager, as Argo CD applies: the in-cluster audit judges the
    // ExternalSecret too, and reads the manager as the (inferred) GitOps writer.
    let es = create_as_manager(
        &argo.client,
        &external_secret(&ns, "db", &format!("platform-data/postgres/{ns}")),
        "argocd-controller",
    )
    .await
    .unwrap_or_else(|e| panic!("Argo CD's ExternalSecret: {}", error_text(&e)));
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

#[tokio::test]
async fn the_in_cluster_audit_judges_stored_eso_objects_and_stores_and_only_real_token_secrets() {
    let _guard = shared().await;
    install_crd();
    let admin = admin().await;
    let ns = namespace(&admin, "polr-eso").await;
    let seeder = service_account(("kube-system", "audit-seeder")).await;
    let stored = |obj: Value, manager: &'static str| {
        let client = seeder.client.clone();
        async move {
            create_as_manager(&client, &obj, manager)
                .await
                .unwrap_or_else(|e| panic!("storing {obj}: {}", error_text(&e)))
        }
    };

    // Applied by hand, not by a GitOps controller: VG209 (the field manager is the hint).
    stored(
        external_secret(&ns, "by-hand", &format!("platform-data/postgres/{ns}")),
        "kubectl-client-side-apply",
    )
    .await;
    // Applied by Argo CD and conforming: no result.
    stored(
        external_secret(&ns, "by-argo", &format!("platform-data/postgres/{ns}")),
        "argocd-controller",
    )
    .await;
    let kubernetes = json!({"kubernetes": {"remoteNamespace": "shared",
        "auth": {"serviceAccount": {"name": "reader"}},
        "server": {"caProvider": {"type": "ConfigMap", "name": "kube-root-ca.crt", "key": "ca.crt"}}}});
    stored(
        json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
               "metadata": {"name": "local", "namespace": ns},
               "spec": {"provider": kubernetes.clone()}}),
        "argocd-controller",
    )
    .await;
    let cluster_store = unique("polr-kube");
    stored(
        json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
               "metadata": {"name": cluster_store},
               "spec": {"provider": kubernetes}}),
        "argocd-controller",
    )
    .await;
    // A token Secret as the API stores it (the token controller would fill it; none runs here),
    // and an Opaque Secret carrying the same annotation, which any writer may set.
    let mut token = secret(&ns, "builder-token", &[]);
    token["type"] = json!("kubernetes.io/service-account-token");
    token["metadata"]["annotations"] = json!({"kubernetes.io/service-account.name": "builder"});
    unjudged(&seeder, &token).await;
    let mut forged = secret(
        &ns,
        "forged-token",
        &[("token", "not-from-the-control-plane")],
    );
    forged["metadata"]["annotations"] = json!({"kubernetes.io/service-account.name": "builder"});
    unjudged(&seeder, &forged).await;
    // PushSecrets publishing a configuration key from each: only the real token is VG307's
    // "service-account token" (the PushSecret watch lists push-forged first).
    let push = |name: &str, source: &str| {
        json!({"apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
               "metadata": {"name": name, "namespace": ns},
               "spec": {"secretStoreRefs": [{"kind": "ClusterSecretStore", "name": "vault-backend"}],
                        "selector": {"secret": {"name": source}},
                        "data": [{"match": {"secretKey": "host", "remoteRef": {
                            "remoteKey": format!("platform-config/{ns}/db"), "property": "host"}}}]}})
    };
    stored(push("push-forged", "forged-token"), "argocd-controller").await;
    stored(push("push-token", "builder-token"), "argocd-controller").await;

    let report = report_when(&admin, &ns, "the ExternalSecret, store and Secrets", |r| {
        !failing_for_kind(r, "ExternalSecret", "by-hand").is_empty()
            && !failing_for_kind(r, "SecretStore", "local").is_empty()
            && !failing_for(r, "forged-token").is_empty()
            && failing_for_kind(r, "PushSecret", "push-token").contains(&"VG307".to_owned())
    })
    .await;
    assert!(
        !failing_for_kind(&report, "PushSecret", "push-forged").contains(&"VG307".to_owned()),
        "an Opaque source's configuration key may be published, whatever it is annotated\n{report:#}"
    );
    assert!(
        failing_for_kind(&report, "ExternalSecret", "by-hand").contains(&"VG209".to_owned()),
        "{report:#}"
    );
    assert!(
        failing_for_kind(&report, "SecretStore", "local").contains(&"VG401".to_owned()),
        "{report:#}"
    );
    assert_eq!(
        failing_for(&report, "forged-token"),
        ["VG101"],
        "the annotation makes no token\n{report:#}"
    );
    assert!(
        failing_for(&report, "builder-token").is_empty(),
        "a Secret the API stores as a token is the control plane's\n{report:#}"
    );
    assert!(
        failing_for(&report, "by-argo").is_empty(),
        "Argo CD's conforming ExternalSecret\n{report:#}"
    );
    let result = report["results"]
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|x| x["rule"] == "VG209" && x["resources"][0]["name"] == "by-hand")
        })
        .expect("the VG209 result");
    assert_eq!(
        result["resources"][0]["apiVersion"],
        "external-secrets.io/v1"
    );
    assert_eq!(
        (
            result["properties"]["inferred"].as_str(),
            result["properties"]["producerName"].as_str()
        ),
        (Some("true"), Some("kubectl-client-side-apply")),
        "a field manager is only a hint, labelled so\n{result:#}"
    );

    let cluster = cluster_report_when(&admin, "the Kubernetes-provider ClusterSecretStore", |r| {
        !failing_for_kind(r, "ClusterSecretStore", &cluster_store).is_empty()
    })
    .await;
    assert!(
        failing_for_kind(&cluster, "ClusterSecretStore", &cluster_store)
            .contains(&"VG401".to_owned()),
        "{cluster:#}"
    );
    assert!(
        cluster["metadata"].get("namespace").is_none(),
        "cluster-scoped\n{cluster:#}"
    );
    dynamic_api(&admin, "external-secrets.io/v1", "ClusterSecretStore", None)
        .delete(&cluster_store, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("deleting {cluster_store}: {}", error_text(&e)));
}
