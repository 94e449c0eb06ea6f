//! `serve` compares the installed webhook configurations' `matchConditions` with the ones the
//! policy in effect generates (README "Mutation", "One hop in the steady state"), on the real
//! apiserver and with the shipped RBAC:
//!
//! - the harness's vaultgate reads the configurations run.sh installed from manifests/base,
//!   through the `get` on `resourceNames: [vaultgate]` of manifests/base/rbac.yaml: no drift;
//! - a vaultgate process of this test's own (start-webhook.sh, its own copy of the e2e policy,
//!   `VAULTGATE_WEBHOOK_CONFIGURATION` naming a pair of configurations of its own, inert: their
//!   namespaceSelector matches no namespace) first cannot read them (the shipped RBAC names only
//!   `vaultgate`): logged, no drift gauge but `checked` 0, still ready. Granted `get`, it reports no drift; its policy
//!   gains a producer in kube-system and, once reloaded, both configurations drift, with a warn
//!   line naming the webhook and the condition; the conditions `vaultgate manifests --policy`
//!   prints for the new policy are applied, and the periodic check reports no drift again.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use k8s_openapi::api::{
    admissionregistration::v1::{
        MatchCondition, MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
    },
    rbac::v1::{ClusterRole, ClusterRoleBinding},
};
use kube::{Api, api::PostParams};
use serde_json::{Value, json};

use crate::harness::*;

const DEADLINE: Duration = Duration::from_secs(60);
const SECRETS_MUTATE: &str = "secrets.mutate.vaultgate.platform.pnats.cloud";
/// The line the policy's operators list starts with in tests/e2e/policy.yaml.
const OPERATORS: &str = "  operators:\n";
/// A producer in kube-system: the exemption must now send its writes.
const NEW_OPERATOR: &str = "    - name: drift-e2e\n      \
                            users: [system:serviceaccount:kube-system:drift-e2e-operator]\n      \
                            class: internal\n";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The value of `vaultgate_webhook_conditions_drift{configuration="<c>"}`, if exported.
fn drift_gauge(metrics: &str, configuration: &str) -> Option<f64> {
    gauge(metrics, "drift", configuration)
}

/// The value of `vaultgate_webhook_conditions_<family>{configuration="<c>"}`, if exported.
fn gauge(metrics: &str, family: &str, configuration: &str) -> Option<f64> {
    let prefix =
        format!("vaultgate_webhook_conditions_{family}{{configuration=\"{configuration}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

async fn metrics_at(client: &reqwest::Client, base: &str) -> String {
    match client.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Polls `base`'s /metrics until both gauges read `want`.
async fn gauges_become(client: &reqwest::Client, base: &str, want: f64, log: &Path) {
    let until = Instant::now() + DEADLINE;
    loop {
        let text = metrics_at(client, base).await;
        let now = (
            drift_gauge(&text, "mutating"),
            drift_gauge(&text, "validating"),
        );
        if now == (Some(want), Some(want)) {
            return;
        }
        assert!(
            Instant::now() < until,
            "the drift gauges of {base} are {now:?}, not {want}; log {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The log lines of `log` holding every needle, once there is one (bounded poll).
async fn logged(log: &Path, needles: &[&str]) -> String {
    let until = Instant::now() + DEADLINE;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return line.to_owned();
        }
        assert!(
            Instant::now() < until,
            "no line of {} holds {needles:?}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// run.sh's configurations (manifests/base, clientConfig rewritten), renamed `name` and made
/// inert: no namespace carries the selector's label, so the apiserver never calls them.
fn inert_copies(name: &str) -> (MutatingWebhookConfiguration, ValidatingWebhookConfiguration) {
    let file = env().dir.join("manifests").join("webhooks.json");
    let list: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("run.sh's webhooks.json"))
            .expect("webhooks.json");
    let copy = |kind: &str| {
        let mut obj = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|o| o["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {}", file.display()))
            .clone();
        obj["metadata"] = json!({ "name": name });
        for hook in obj["webhooks"].as_array_mut().expect("webhooks") {
            hook["namespaceSelector"] =
                json!({ "matchLabels": { "vaultgate.e2e/never-selected": "true" } });
        }
        obj
    };
    (
        serde_json::from_value(copy("MutatingWebhookConfiguration")).expect("mutating"),
        serde_json::from_value(copy("ValidatingWebhookConfiguration")).expect("validating"),
    )
}

/// Deletes what the test created and stops its vaultgate, also when an assertion fails.
struct Cleanup {
    name: String,
    pidfile: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(text) = std::fs::read_to_string(&self.pidfile)
            && let Ok(pid) = text.trim().parse::<u32>()
            && alive(pid)
        {
            signal(pid, "TERM");
        }
        let kubeconfig = env().kubeconfig.clone();
        for kind in [
            "mutatingwebhookconfiguration",
            "validatingwebhookconfiguration",
            "clusterrolebinding",
            "clusterrole",
        ] {
            let _ = kubectl(
                &kubeconfig,
                &["delete", kind, &self.name, "--ignore-not-found"],
                None,
            );
        }
    }
}

/// The conditions `vaultgate manifests --policy FILE --format json` prints.
fn generated(policy: &Path) -> (Vec<MatchCondition>, Vec<MatchCondition>) {
    let out = Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["manifests", "--format", "json", "--policy"])
        .arg(policy)
        .output()
        .expect("run vaultgate manifests");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    (
        serde_json::from_value(v["mutating"].clone()).expect("mutating"),
        serde_json::from_value(v["validating"].clone()).expect("validating"),
    )
}

#[tokio::test]
async fn installed_match_conditions_that_drift_from_the_policy_are_reported_until_fixed() {
    let _cluster = shared().await;
    let admin = admin().await;
    let https = webhook_https_client(&[]);

    // The harness's vaultgate, with the shipped RBAC and configurations: read, and no drift.
    let harness_log = env().dir.join("logs").join("vaultgate.log");
    logged(
        &harness_log,
        &[
            "matchConditions match the policy in effect",
            r#""name":"vaultgate""#,
        ],
    )
    .await;
    gauges_become(&https, &env().webhook_url, 0.0, &harness_log).await;

    let name = unique("vaultgate-drift");
    let cleanup = Cleanup {
        name: name.clone(),
        pidfile: env().dir.join(format!("{name}.pid")),
    };
    let (mutating, validating) = inert_copies(&name);
    let mutating_api: Api<MutatingWebhookConfiguration> = Api::all(admin.clone());
    let validating_api: Api<ValidatingWebhookConfiguration> = Api::all(admin.clone());
    mutating_api
        .create(&PostParams::default(), &mutating)
        .await
        .expect("create the MutatingWebhookConfiguration");
    validating_api
        .create(&PostParams::default(), &validating)
        .await
        .expect("create the ValidatingWebhookConfiguration");

    // Its own vaultgate, on its own copy of the e2e policy, reading the configurations `name`.
    let policy = env().dir.join(format!("{name}-policy.yaml"));
    let original = std::fs::read_to_string(format!(
        "{}/tests/e2e/policy.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("tests/e2e/policy.yaml");
    assert!(
        original.contains(OPERATORS),
        "the e2e policy lists operators"
    );
    vaultgate::certs::write_atomic(&policy, original.as_bytes(), false).expect("policy copy");
    let port = free_port();
    let status = Command::new("bash")
        .arg(&env().webhook_start)
        .arg(&name)
        .arg(port.to_string())
        .arg(env().dir.join("webhook"))
        .env("VAULTGATE_E2E_SERVE_POLICY", &policy)
        .env("VAULTGATE_WEBHOOK_CONFIGURATION", &name)
        .status()
        .expect("run start-webhook.sh");
    assert!(status.success(), "start-webhook.sh {name} failed");
    let base = format!("https://127.0.0.1:{port}");
    let log = env().dir.join("logs").join(format!("vaultgate-{name}.log"));

    // The shipped RBAC grants `get` on `vaultgate` only: forbidden, logged, and still ready.
    let line = logged(
        &log,
        &["cannot read the webhook configuration", "forbidden", &name],
    )
    .await;
    assert!(line.contains("Grant `get` on it"), "{line}");
    wait_ready_at(&https, &base).await;
    let text = metrics_at(&https, &base).await;
    assert_eq!(drift_gauge(&text, "mutating"), None, "{text}");
    // ... but not taken for clean: unchecked (alert VaultgateWebhookConditionsUnchecked).
    assert_eq!(gauge(&text, "checked", "mutating"), Some(0.0), "{text}");
    assert_eq!(gauge(&text, "checked", "validating"), Some(0.0), "{text}");

    // Granted as manifests/base/rbac.yaml grants `vaultgate`: the shipped conditions match.
    let role: ClusterRole = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": { "name": name },
        "rules": [{
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
            "resourceNames": [name],
            "verbs": ["get"],
        }],
    }))
    .expect("ClusterRole");
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": { "name": name },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name },
        "subjects": [{ "kind": "ServiceAccount", "name": "vaultgate", "namespace": "vaultgate-system" }],
    }))
    .expect("ClusterRoleBinding");
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("create the ClusterRole");
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .expect("create the ClusterRoleBinding");
    gauges_become(&https, &base, 0.0, &log).await;
    let text = metrics_at(&https, &base).await;
    assert_eq!(gauge(&text, "checked", "mutating"), Some(1.0), "{text}");
    assert_eq!(gauge(&text, "checked", "validating"), Some(1.0), "{text}");

    // A producer in kube-system joins the policy; the installed exemption would skip it.
    let changed = original.replacen(OPERATORS, &format!("{OPERATORS}{NEW_OPERATOR}"), 1);
    vaultgate::certs::write_atomic(&policy, changed.as_bytes(), false).expect("policy edit");
    gauges_become(&https, &base, 1.0, &log).await;
    let line = logged(
        &log,
        &[
            "webhook matchConditions differ",
            &name,
            SECRETS_MUTATE,
            "skip-exempt-service-accounts",
            "vaultgate manifests --policy FILE",
        ],
    )
    .await;
    assert!(
        !line.contains("drift-e2e-operator"),
        "the line names conditions, not expressions: {line}"
    );

    // The fix the line names: the conditions generated for the new policy, applied.
    let (want_mutating, want_validating) = generated(&policy);
    let mut m = mutating_api.get(&name).await.expect("get mutating");
    for hook in m.webhooks.iter_mut().flatten() {
        hook.match_conditions = Some(want_mutating.clone());
    }
    mutating_api
        .replace(&name, &PostParams::default(), &m)
        .await
        .expect("replace mutating");
    let mut v = validating_api.get(&name).await.expect("get validating");
    for hook in v.webhooks.iter_mut().flatten() {
        hook.match_conditions = Some(want_validating.clone());
    }
    validating_api
        .replace(&name, &PostParams::default(), &v)
        .await
        .expect("replace validating");
    gauges_become(&https, &base, 0.0, &log).await;
    logged(&log, &["match the policy in effect again", &name]).await;

    drop(cleanup);
}
