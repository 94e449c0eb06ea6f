//! Issue #16 on the real apiserver: the webhook configurations the Helm chart (charts/vaultgate)
//! renders, pointed at the harness's vaultgate, judge writes like manifests/base's do.
//!
//! `helm template` (the helm tests/tools/helm.sh builds, `VAULTGATE_E2E_HELM`) renders both
//! configurations with `certs.mode=existingSecret` and `certs.caBundle` = the harness's webhook CA,
//! so the caBundle is the chart's own; only `clientConfig.service` becomes the harness URL with
//! the same path, as run.sh does for manifests/base. They replace the base configurations of the
//! same names (release `vaultgate`) for the length of the test (exclusive lock), and run.sh's
//! files are put back afterwards, also on a panic. An extra exempt namespace in the chart's values
//! shows when the chart's configuration is the one in effect.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;

fn b64_bytes(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The chart's ValidatingWebhookConfiguration and MutatingWebhookConfiguration, exempting
/// `extra_exempt` too, with clientConfig rewritten to the harness's vaultgate.
fn chart_webhook_configurations(extra_exempt: &str) -> Vec<Value> {
    let helm = std::env::var("VAULTGATE_E2E_HELM").unwrap_or_else(|_| {
        panic!("VAULTGATE_E2E_HELM is not set: run the suite under bash tests/e2e/run.sh (it builds helm with tests/tools/helm.sh)")
    });
    let repo = env!("CARGO_MANIFEST_DIR");
    let ca = std::fs::read(&env().webhook_ca).expect("webhook CA");
    let out = std::process::Command::new(&helm)
        .args(["template", "vaultgate", &format!("{repo}/charts/vaultgate")])
        .args(["--namespace", "vaultgate-system"])
        .args(["--set", "image.repository=e2e.invalid/vaultgate", "--set", "mode=enforce"])
        .args(["--set", "certs.mode=existingSecret", "--set", "certs.existingSecret=vaultgate-tls"])
        .args(["--set-string", &format!("certs.caBundle={}", b64_bytes(&ca))])
        .args([
            "--set-json",
            &format!(r#"webhook.exemptNamespaces=["kube-system","kube-public","kube-node-lease","{extra_exempt}"]"#),
        ])
        .args(["--show-only", "templates/validatingwebhookconfiguration.yaml"])
        .args(["--show-only", "templates/mutatingwebhookconfiguration.yaml"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {helm}: {e}"));
    assert!(
        out.status.success(),
        "helm template failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&String::from_utf8_lossy(&out.stdout)).expect("rendered YAML");
    let mut configs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    assert_eq!(
        configs.len(),
        2,
        "expected two webhook configurations: {configs:#?}"
    );
    let bundle = b64_bytes(&ca);
    for config in &mut configs {
        assert_eq!(config["metadata"]["name"], "vaultgate", "{config:#}");
        for hook in config["webhooks"].as_array_mut().expect("webhooks") {
            let cc = &hook["clientConfig"];
            assert_eq!(
                cc["caBundle"],
                json!(bundle),
                "the chart's caBundle value: {cc}"
            );
            let path = cc["service"]["path"]
                .as_str()
                .expect("clientConfig.service.path")
                .to_owned();
            assert!(path == "/validate" || path == "/mutate", "{cc}");
            hook["clientConfig"] =
                json!({ "url": format!("{}{path}", env().webhook_url), "caBundle": bundle });
        }
    }
    configs
}

/// Puts run.sh's webhook configurations back (kubectl replace), on every exit of the test.
struct Restore;

impl Restore {
    fn now(&self) {
        let file = env().dir.join("manifests").join("webhooks.json");
        kubectl(
            &env().kubeconfig,
            &["replace", "-f", &file.to_string_lossy()],
            None,
        )
        .expect_ok();
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.now();
        }
    }
}

/// Polls until a dry-run Secret write by alice in `ns` succeeds (`admitted`) or fails.
async fn wait_for(alice: &Identity, ns: &str, admitted: bool, what: &str) {
    let secret = secret_yaml(ns, "helm-probe", &[("k", "v")]);
    let start = Instant::now();
    loop {
        let out = alice.kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(&secret));
        if out.success == admitted {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: after 60 s a write in {ns} is still {}:\n{}",
            if admitted { "denied" } else { "admitted" },
            out.stderr
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn the_helm_charts_webhook_configurations_deny_through_the_real_apiserver() {
    let _cluster = exclusive().await;
    let admin = admin().await;
    let alice = human("alice").await;
    let exempt = namespace(&admin, "helm-exempt").await;
    let governed = namespace(&admin, "helm-governed").await;

    // Under manifests/base, alice's unmanaged Secret is denied in both namespaces.
    wait_for(&alice, &exempt, false, "base configuration").await;

    let configs = chart_webhook_configurations(&exempt);
    let restore = Restore;
    let list = json!({ "apiVersion": "v1", "kind": "List", "items": configs });
    kubectl(
        &env().kubeconfig,
        &["replace", "-f", "-"],
        Some(&list.to_string()),
    )
    .expect_ok();

    // The chart's namespaceSelector (with the extra exempt namespace) is in effect...
    wait_for(&alice, &exempt, true, "chart configuration").await;
    // ...and its rules and matchConditions send alice's write in a governed namespace to vaultgate.
    let out = alice.kubectl(
        &["apply", "-f", "-"],
        Some(&secret_yaml(&governed, "db", &[("password", "v")])),
    );
    out.expect_failed();
    assert_contains(
        &out.stderr,
        &[
            &format!("admission webhook \"{SECRETS_VALIDATE}\" denied the request"),
            "VG101",
        ],
        "kubectl stderr through the chart's configuration",
    );

    // Back to run.sh's configurations before the lock is released.
    restore.now();
    wait_for(&alice, &exempt, false, "restored base configuration").await;
}
