//! `vaultgate audit` against the real kube-apiserver: Secrets written where vaultgate's
//! webhooks do not judge them, as they were before vaultgate was installed, are found and
//! judged by the binary through the kubeconfig, with class, producer and violations; and the
//! HTML report is one self-contained file, which headless Chromium renders (`audit_browser`).
//!
//! The Secrets are written by a kube-system service account: the shipped `matchConditions`
//! skip its writes inside the apiserver (the policy exempts its group too), so no webhook sees
//! them, exactly like Secrets that predate the webhook. The writer's field manager is chosen
//! per request, as any client can.

use std::process::Command;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use crate::harness::*;

/// Creates a Secret as `who` with the field manager `manager`; no webhook is called for it.
async fn unjudged(who: &Identity, obj: &Value, manager: &str) {
    let ns = obj["metadata"]["namespace"].as_str().expect("namespace");
    let secret: Secret = serde_json::from_value(obj.clone()).expect("a Secret");
    Api::<Secret>::namespaced(who.client.clone(), ns)
        .create(
            &PostParams {
                field_manager: Some(manager.into()),
                ..Default::default()
            },
            &secret,
        )
        .await
        .unwrap_or_else(|e| panic!("creating {}: {}", describe_secret(obj), error_text(&e)));
}

fn describe_secret(obj: &Value) -> String {
    format!(
        "Secret {}/{}",
        obj["metadata"]["namespace"].as_str().unwrap_or(""),
        obj["metadata"]["name"].as_str().unwrap_or("")
    )
}

fn audit(format: &str) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["audit", "--format", format, "--policy"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/e2e/policy.yaml"
        ))
        .env("KUBECONFIG", &env().kubeconfig)
        .output()
        .expect("run vaultgate audit");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn object<'a>(report: &'a Value, ns: &str, name: &str) -> &'a Value {
    report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| o["kind"] == "Secret" && o["namespace"] == ns && o["name"] == name)
        .unwrap_or_else(|| panic!("Secret {ns}/{name} not in the audit"))
}

fn rules(o: &Value) -> Vec<String> {
    o["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| v["rule"].as_str().expect("rule").to_owned())
        .collect()
}

#[tokio::test]
async fn audit_finds_and_judges_secrets_the_webhook_never_saw() {
    let _guard = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "audit").await;
    ensure_namespace(&admin, "vault").await;
    let seeder = service_account(("kube-system", "audit-seeder")).await;

    // A hand-made Secret, applied with kubectl's client-side apply.
    unjudged(
        &seeder,
        &secret(&ns, "hand-made", &[("password", "hm")]),
        "kubectl-client-side-apply",
    )
    .await;
    // A reflector copy.
    let mut copy = secret(&ns, "reflected", &[("password", "rf")]);
    copy["metadata"]["annotations"] =
        json!({"reflector.v1.k8s.emberstack.com/reflects": "shared/db"});
    unjudged(&seeder, &copy, "reflector").await;
    // A materialized Secret: its ExternalSecret exists (admitted, as Argo CD applies it).
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
    unjudged(&seeder, &materialized, "external-secrets").await;
    // A bootstrap Secret decrypted from a SealedSecret, its handover to Vault still pending.
    let boot = unique("audit-boot");
    let sealed = create(&admin, &sealed_secret("vault", &boot, "password"))
        .await
        .unwrap_or_else(|e| panic!("creating SealedSecret vault/{boot}: {}", error_text(&e)));
    let target = format!("platform-data/postgres/{boot}");
    let mut bootstrap = secret("vault", &boot, &[("password", "bt")]);
    bootstrap["metadata"]["ownerReferences"] =
        owner_ref("bitnami.com/v1alpha1", "SealedSecret", &boot, &uid(&sealed));
    bootstrap["metadata"]["annotations"] = json!({format!("{P}handover-to"): target});
    unjudged(&seeder, &bootstrap, "sealed-secrets-controller").await;

    let (code, out, err) = audit("json");
    assert_eq!(code, Some(1), "violations exit 1\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));

    let hand = object(&report, &ns, "hand-made");
    assert_eq!(hand["class"], Value::Null);
    assert_eq!(hand["producer"]["kind"], "manager");
    assert_eq!(hand["producer"]["name"], "kubectl-client-side-apply");
    assert_eq!(hand["producer"]["inferred"], true);
    assert_eq!(rules(hand), ["VG101"]);

    let reflected = object(&report, &ns, "reflected");
    assert_eq!(reflected["producer"]["inferred"], true);
    assert!(
        rules(reflected).contains(&"VG103".to_owned()),
        "{reflected}"
    );

    let db = object(&report, &ns, "db");
    assert_eq!(db["class"], "materialized");
    assert_eq!(db["producer"]["kind"], "eso");
    assert_eq!(db["producer"]["inferred"], false);
    assert_eq!(rules(db), Vec::<String>::new());

    let b = object(&report, "vault", &boot);
    assert_eq!(b["class"], "bootstrap");
    assert_eq!(b["producer"]["kind"], "decrypter");
    assert_eq!(b["producer"]["name"], "sealed-secrets");
    assert_eq!(b["handover"]["state"], "pending");
    assert_eq!(b["handover"]["target"], target.as_str());
    assert_eq!(rules(b), Vec::<String>::new());

    let summary = report["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .find(|n| n["namespace"] == ns.as_str())
        .expect("the test namespace is summed up");
    assert_eq!(summary["secrets"], 3);
    assert_eq!(summary["covered"], 1);
    assert_eq!(summary["materialized"], 1);
    assert_eq!(
        summary["violations"]["VG101"]["objects"]
            .as_array()
            .map(|a| a.contains(&json!("Secret/hand-made"))),
        Some(true),
        "{summary}"
    );

    // The HTML report of the same cluster: self-contained, one chart per namespace, the rows.
    let (code, html, err) = audit("html");
    assert_eq!(code, Some(1), "{err}");
    for banned in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "href='http",
        "<script",
        "@import",
        "url(",
    ] {
        assert!(
            !html.contains(banned),
            "the page fetches or runs something: {banned}"
        );
    }
    for n in report["namespaces"].as_array().expect("namespaces") {
        let name = n["namespace"].as_str().expect("namespace");
        let id = if name.is_empty() {
            "_cluster".to_owned()
        } else {
            name.to_owned()
        };
        assert!(
            html.contains(&format!("<svg id=\"coverage-{id}\"")),
            "no coverage chart for {id:?}"
        );
    }
    assert!(html.contains("<table id=\"violations\">"));
    assert!(
        html.lines().any(
            |l| l.starts_with("<tr class=\"violation\" data-rule=\"VG101\"")
                && l.contains(&format!("<td>{ns}</td><td>Secret/hand-made</td>"))
        ),
        "the hand-made Secret's VG101 row is in the table"
    );

    // The same page opened in headless Chromium: the charts and rows are in the DOM it built,
    // and it requested nothing.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let page = dir.path().join("audit.html");
    std::fs::write(&page, &html).expect("write the page");
    let loaded = crate::audit_browser::load(&page);
    let namespaces = report["namespaces"].as_array().expect("namespaces");
    crate::audit_browser::assert_rendered(
        &loaded,
        &crate::audit_browser::chart_ids(
            namespaces
                .iter()
                .map(|n| n["namespace"].as_str().expect("namespace")),
        ),
        html.matches("<tr class=\"violation\"").count(),
    );
    assert!(
        loaded
            .dom
            .contains(&format!("<td>{ns}</td><td>Secret/hand-made</td>")),
        "the hand-made Secret's row, in the browser"
    );
}
