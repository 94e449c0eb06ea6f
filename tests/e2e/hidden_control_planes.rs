//! Issue #14 on the real apiserver: Vault root material in a Secret is denied through the base
//! webhooks (VG111), and the opt-in hidden-control-planes webhook of
//! `manifests/overlays/hidden-control-planes` — rendered from the overlay, pointed at the
//! harness's vaultgate and scoped to this test's namespace so no other test's Jobs or RBAC meet
//! it — denies a Job whose script copies a Secret into another namespace and a RoleBinding that
//! gives a developer Secret writes, and admits an honest Job.

use serde_json::{Value, json};

use crate::harness::*;

const HIDDEN: &str = "hidden-control-planes.validate.vaultgate.platform.pnats.cloud";

/// The overlay's extra webhook, with the harness's URL and CA, for `ns` only.
fn hidden_webhook_configuration(name: &str, ns: &str) -> Value {
    let repo = env!("CARGO_MANIFEST_DIR");
    let rendered = kubectl(
        &env().kubeconfig,
        &[
            "kustomize",
            &format!("{repo}/manifests/overlays/hidden-control-planes"),
        ],
        None,
    );
    rendered.expect_ok();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&rendered.stdout).expect("rendered YAML");
    let mut hook = docs
        .iter()
        .filter(|d| d["kind"] == "ValidatingWebhookConfiguration")
        .flat_map(|d| d["webhooks"].as_array().cloned().unwrap_or_default())
        .find(|w| w["name"] == HIDDEN)
        .unwrap_or_else(|| panic!("the overlay renders no {HIDDEN} webhook"));
    let ca = std::fs::read(&env().webhook_ca).expect("webhook CA");
    hook["clientConfig"] =
        json!({ "url": format!("{}/validate", env().webhook_url), "caBundle": b64_bytes(&ca) });
    hook["namespaceSelector"] = json!({ "matchLabels": { "kubernetes.io/metadata.name": ns } });
    // What the test asserts is the verdict; Fail makes an unreachable webhook visible too.
    hook["failurePolicy"] = json!("Fail");
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": { "name": name },
        "webhooks": [hook]
    })
}

fn b64_bytes(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn job(ns: &str, name: &str, script: &str) -> String {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": { "name": name, "namespace": ns },
        "spec": { "template": { "spec": {
            "restartPolicy": "Never",
            "containers": [{ "name": "c", "image": "bitnami/kubectl", "command": ["/bin/sh", "-c", script] }]
        } } }
    })
    .to_string()
}

#[tokio::test]
async fn a_secret_holding_the_vault_root_token_is_denied_whoever_writes_it() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "vault-root").await;
    let alice = human("alice").await;
    let out = alice.kubectl(
        &["apply", "-f", "-"],
        Some(&secret_yaml(
            &ns,
            "vault-init",
            &[("root_token", "s.canaryroot")],
        )),
    );
    out.expect_failed();
    assert_contains(
        &out.stderr,
        &[
            "VG111 vault-root-material",
            "revoke the root token",
            "Kubernetes auth",
        ],
        "kubectl stderr",
    );
    assert!(
        !out.stderr.contains("kind: ExternalSecret"),
        "no fix re-homes the root token:\n{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s.canaryroot"), "{}", out.stderr);
}

#[tokio::test]
async fn the_opt_in_webhook_denies_script_copiers_and_secret_write_grants() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "hidden").await;
    let config_name = unique("vaultgate-hidden-e2e");
    let config = hidden_webhook_configuration(&config_name, &ns);
    kubectl(
        &env().kubeconfig,
        &["apply", "-f", "-"],
        Some(&config.to_string()),
    )
    .expect_ok();

    // The apiserver picks a new configuration up asynchronously: retry until it judges.
    let copier = job(
        &ns,
        "copy-db",
        "kubectl get secret db -n postgres -o yaml | sed 's/namespace: postgres/namespace: other/' | kubectl apply -n other -f -",
    );
    let mut last = String::new();
    for _ in 0..60 {
        let out = kubectl(
            &env().kubeconfig,
            &["apply", "--dry-run=server", "-f", "-"],
            Some(&copier),
        );
        if !out.success {
            last = out.stderr;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_contains(
        &last,
        &["VG503 script-secret-writer", &format!("Job {ns}/copy-db")],
        "copier denial",
    );

    let honest = job(&ns, "migrate", "psql -f /migrations/001.sql");
    kubectl(
        &env().kubeconfig,
        &["apply", "--dry-run=server", "-f", "-"],
        Some(&honest),
    )
    .expect_ok();

    let grant = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": { "name": "alice-edit", "namespace": ns },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit" },
        "subjects": [{ "kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io" }]
    })
    .to_string();
    let out = kubectl(
        &env().kubeconfig,
        &["apply", "--dry-run=server", "-f", "-"],
        Some(&grant),
    );
    out.expect_failed();
    assert_contains(
        &out.stderr,
        &["VG501 secret-write-grant", "\"alice\"", "ClusterRole edit"],
        "grant denial",
    );

    kubectl(
        &env().kubeconfig,
        &["delete", "validatingwebhookconfiguration", &config_name],
        None,
    )
    .expect_ok();
}
