//! Issue #16 on the real apiserver: README "Install" runs as written, in order, and cannot lock
//! the cluster.
//!
//! The commands are read from README.md between `<!-- install:begin` and `<!-- install:end -->`
//! (so the docs and this test cannot drift) and run with `bash -euo pipefail` in a copy of
//! manifests/, as the admin, with the harness's kubectl first on PATH. The only change is the
//! `rollout status` timeout (5m -> 3s). There is no kubelet and no controller-manager here, so no
//! pod ever runs; the test stands in for them by writing the Deployment's status, and the
//! endpoint that answers is the harness's vaultgate, as in helm_chart.rs. Proven:
//! - without cert-manager the first apply fails on its kinds and no webhook is registered;
//! - with cert-manager's API but a Deployment that is not available, `rollout status` fails and
//!   the webhook configurations are still not applied;
//! - once the Deployment is available the last step registers them; pointed at the served
//!   endpoint, kubectl sees the denial.
//!
//! The configurations share run.sh's names (`vaultgate`): the test holds the lock exclusively,
//! removes run.sh's first (a fresh cluster has none) and puts them back on every exit, and
//! deletes what the install added.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;

const NS: &str = "vaultgate-system";
const STEP_LABEL: &str = "vaultgate.platform.pnats.cloud/install-step";

/// The shell block of README "Install", between the markers.
fn readme_install_commands() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let begin = readme
        .find("<!-- install:begin")
        .expect("README.md has no `<!-- install:begin` marker");
    let end = readme[begin..]
        .find("<!-- install:end -->")
        .map(|i| begin + i)
        .expect("README.md has no `<!-- install:end -->` after install:begin");
    let block = &readme[begin..end];
    let body = block
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.rsplit_once("```"))
        .map(|(body, _)| body)
        .expect("a ```sh block between the install markers");
    body.to_owned()
}

/// Runs the README's commands (timeout shortened) in `dir` as the admin.
fn run_install(dir: &Path, script: &str) -> Kubectl {
    let kubectl_dir = env().kubectl.parent().expect("kubectl directory");
    let path = format!(
        "{}:{}",
        kubectl_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("KUBECONFIG", &env().kubeconfig)
        .env("KUBECACHEDIR", env().dir.join("kube").join("cache"))
        .output()
        .expect("bash");
    Kubectl {
        args: "README install commands".into(),
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn get_json(args: &[&str]) -> Value {
    let out = kubectl(&env().kubeconfig, args, None);
    out.expect_ok();
    serde_json::from_str(&out.stdout).expect("kubectl -o json")
}

/// Both webhook configurations named `vaultgate`, as JSON.
fn webhook_configurations() -> Vec<Value> {
    [
        "validatingwebhookconfiguration",
        "mutatingwebhookconfiguration",
    ]
    .iter()
    .map(|kind| get_json(&["get", kind, "vaultgate", "-o", "json"]))
    .collect()
}

/// True once the install's configurations (clientConfig.service) exist. Before, there are none:
/// the test removes run.sh's first, as on a fresh cluster.
fn install_registered_webhooks() -> bool {
    [
        "validatingwebhookconfiguration",
        "mutatingwebhookconfiguration",
    ]
    .iter()
    .any(|kind| {
        let out =
            get_json_or_empty(&["get", kind, "vaultgate", "--ignore-not-found", "-o", "json"]);
        out["webhooks"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|h| h["clientConfig"].get("service").is_some())
    })
}

fn get_json_or_empty(args: &[&str]) -> Value {
    let out = kubectl(&env().kubeconfig, args, None);
    out.expect_ok();
    if out.stdout.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&out.stdout).expect("kubectl -o json")
    }
}

fn delete_webhook_configurations() {
    for kind in [
        "validatingwebhookconfiguration",
        "mutatingwebhookconfiguration",
    ] {
        kubectl(
            &env().kubeconfig,
            &["delete", kind, "vaultgate", "--ignore-not-found"],
            None,
        )
        .expect_ok();
    }
}

/// Puts run.sh's webhook configurations back and deletes what the install added (the namespace,
/// its ServiceAccount and RBAC are run.sh's own, applied from the same manifests/base).
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        // Deleted and applied again, exactly as run.sh left them (whatever the install changed).
        let file = env().dir.join("manifests").join("webhooks.json");
        for kind in [
            "validatingwebhookconfiguration",
            "mutatingwebhookconfiguration",
        ] {
            kubectl(
                &env().kubeconfig,
                &["delete", kind, "vaultgate", "--ignore-not-found"],
                None,
            );
        }
        kubectl(
            &env().kubeconfig,
            &["apply", "-f", &file.to_string_lossy()],
            None,
        );
        kubectl(
            &env().kubeconfig,
            &[
                "-n",
                NS,
                "delete",
                "deployment/vaultgate",
                "service/vaultgate",
                "poddisruptionbudget/vaultgate",
                "configmap/vaultgate-policy",
                "--ignore-not-found",
            ],
            None,
        );
        let crds = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/e2e/install/cert-manager-crds.yaml"
        );
        kubectl(
            &env().kubeconfig,
            &["delete", "-f", crds, "--ignore-not-found"],
            None,
        );
    }
}

/// Stands in for the kubelet and the deployment controller: both replicas updated and available.
fn mark_deployment_available() {
    mark_available(NS, "vaultgate");
}

fn mark_available(ns: &str, name: &str) {
    let dep = get_json(&["-n", ns, "get", "deployment", name, "-o", "json"]);
    let generation = dep["metadata"]["generation"].as_i64().expect("generation");
    let replicas = dep["spec"]["replicas"].as_i64().unwrap_or(1);
    let status = json!({ "status": {
        "observedGeneration": generation,
        "replicas": replicas, "updatedReplicas": replicas,
        "readyReplicas": replicas, "availableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ],
    }});
    kubectl(
        &env().kubeconfig,
        &[
            "-n",
            ns,
            "patch",
            "deployment",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ],
        None,
    )
    .expect_ok();
}

fn copy_manifests() -> PathBuf {
    let dir = env().dir.join(unique("install-docs"));
    std::fs::create_dir_all(&dir).expect("install dir");
    let status = Command::new("cp")
        .arg("-r")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/manifests"))
        .arg(&dir)
        .status()
        .expect("cp");
    assert!(status.success(), "copying manifests/ failed");
    dir
}

#[tokio::test]
async fn the_readme_install_registers_the_webhooks_only_once_the_deployment_is_available() {
    let _cluster = exclusive().await;
    let admin = admin().await;
    let alice = human("alice").await;
    let governed = namespace(&admin, "install-docs").await;
    let _cleanup = Cleanup;

    let commands = readme_install_commands();
    assert_eq!(
        commands.matches("--timeout=5m").count(),
        1,
        "README Install should wait with exactly one `rollout status --timeout=5m`:\n{commands}"
    );
    let script = commands.replace("--timeout=5m", "--timeout=3s");
    let dir = copy_manifests();
    // A fresh cluster has no vaultgate webhook configurations: run.sh's go for the test's length.
    delete_webhook_configurations();

    // 1. No cert-manager: the first apply fails on its kinds, before any webhook is registered.
    let out = run_install(&dir, &script);
    out.expect_failed();
    assert_contains(
        &out.stderr,
        &["cert-manager.io/v1", "ensure CRDs are installed first"],
        "the first step without cert-manager",
    );
    assert!(
        !install_registered_webhooks(),
        "webhooks registered although cert-manager is missing:\n{}",
        out.stderr
    );

    // 2. cert-manager's API exists, but no pod becomes available: rollout status fails and the
    //    last step is not reached.
    let crds = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/e2e/install/cert-manager-crds.yaml"
    );
    kubectl(&env().kubeconfig, &["apply", "-f", crds], None).expect_ok();
    kubectl(
        &env().kubeconfig,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "-f",
            crds,
        ],
        None,
    )
    .expect_ok();
    let out = run_install(&dir, &script);
    out.expect_failed();
    assert_contains(
        &out.stderr,
        &["timed out waiting"],
        "rollout status with no available pod",
    );
    let serving = get_json(&[
        "-n",
        NS,
        "get",
        "certificate",
        "vaultgate-serving",
        "-o",
        "json",
    ]);
    assert_eq!(
        serving["spec"]["secretName"], "vaultgate-tls",
        "{serving:#}"
    );
    let dep = get_json(&["-n", NS, "get", "deployment", "vaultgate", "-o", "json"]);
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/vaultgate:0.1.0",
        "the README overlay sets the image"
    );
    assert!(
        !install_registered_webhooks(),
        "webhooks registered while the Deployment is unavailable:\n{}",
        out.stderr
    );

    // 3. The Deployment is available: the whole sequence succeeds and registers the webhooks.
    mark_deployment_available();
    run_install(&dir, &script).expect_ok();
    let installed = webhook_configurations();
    for config in &installed {
        assert_eq!(label(config, STEP_LABEL), Some("webhooks"), "{config:#}");
        for hook in config["webhooks"].as_array().expect("webhooks") {
            assert_eq!(
                hook["clientConfig"]["service"]["name"], "vaultgate",
                "{hook:#}"
            );
        }
    }

    // The Service has no endpoints here, so a governed write fails closed: why registration waits.
    let out = alice.kubectl(
        &["apply", "--dry-run=server", "-f", "-"],
        Some(&secret_yaml(&governed, "db", &[("password", "v")])),
    );
    out.expect_failed();
    assert_contains(
        &out.stderr,
        &["failed calling webhook"],
        "a governed write with the webhooks registered and no endpoint",
    );

    // Pointed at the served endpoint (the harness's vaultgate; only clientConfig changes), the
    // installed configurations deny alice's unmanaged Secret through kubectl.
    let ca = std::fs::read(&env().webhook_ca).expect("webhook CA");
    let bundle = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(ca)
    };
    let mut items = installed;
    for config in &mut items {
        for hook in config["webhooks"].as_array_mut().expect("webhooks") {
            let path = hook["clientConfig"]["service"]["path"]
                .as_str()
                .expect("service.path")
                .to_owned();
            hook["clientConfig"] =
                json!({ "url": format!("{}{path}", env().webhook_url), "caBundle": bundle });
        }
    }
    let list = json!({ "apiVersion": "v1", "kind": "List", "items": items });
    kubectl(
        &env().kubeconfig,
        &["replace", "-f", "-"],
        Some(&list.to_string()),
    )
    .expect_ok();
    let start = Instant::now();
    let out = loop {
        let out = alice.kubectl(
            &["apply", "-f", "-"],
            Some(&secret_yaml(&governed, "db", &[("password", "v")])),
        );
        if out.stderr.contains("denied the request") || start.elapsed() > Duration::from_secs(60) {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    out.expect_failed();
    assert_contains(
        &out.stderr,
        &[
            &format!("admission webhook \"{SECRETS_VALIDATE}\" denied the request"),
            "VG101",
        ],
        "kubectl stderr through the installed configuration",
    );
}

// ------------------------------------------------------------------ Helm

const RELEASE: &str = "hookcheck";
const RELEASE_OBJECTS: &str = "hookcheck-vaultgate";

fn helm(ns: &str, args: &[&str]) -> Kubectl {
    let helm = std::env::var("VAULTGATE_E2E_HELM").unwrap_or_else(|_| {
        panic!("VAULTGATE_E2E_HELM is not set: run the suite under bash tests/e2e/run.sh")
    });
    let out = Command::new(&helm)
        .args(args)
        .args(["--namespace", ns])
        .env("KUBECONFIG", &env().kubeconfig)
        // The release record as a ConfigMap: the test namespace is governed, and the harness's
        // admin is not a declared Helm identity, so its release Secret would be denied (VG101).
        .env("HELM_DRIVER", "configmap")
        .env("HELM_CACHE_HOME", env().dir.join("helm").join("cache"))
        .env("HELM_CONFIG_HOME", env().dir.join("helm").join("config"))
        .env("HELM_DATA_HOME", env().dir.join("helm").join("data"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {helm}: {e}"));
    Kubectl {
        args: format!("helm {}", args.join(" ")),
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn release_webhooks_exist() -> bool {
    [
        "validatingwebhookconfiguration",
        "mutatingwebhookconfiguration",
    ]
    .iter()
    .any(|kind| kubectl(&env().kubeconfig, &["get", kind, RELEASE_OBJECTS], None).success)
}

/// Uninstalls the release and deletes its hook webhook configurations (hooks are not release
/// objects), on every exit.
struct HelmCleanup(String);

impl Drop for HelmCleanup {
    fn drop(&mut self) {
        for kind in [
            "validatingwebhookconfiguration",
            "mutatingwebhookconfiguration",
        ] {
            kubectl(
                &env().kubeconfig,
                &["delete", kind, RELEASE_OBJECTS, "--ignore-not-found"],
                None,
            );
        }
        helm(&self.0, &["uninstall", RELEASE, "--ignore-not-found"]);
    }
}

#[tokio::test]
async fn helm_install_wait_registers_the_webhook_hooks_only_once_the_deployment_is_available() {
    let _cluster = exclusive().await;
    let admin = admin().await;
    let ns = namespace(&admin, "helm-hooks").await;
    let _cleanup = HelmCleanup(ns.clone());
    let ca = std::fs::read(&env().webhook_ca).expect("webhook CA");
    let bundle = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(ca)
    };
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/vaultgate");
    let ca_value = format!("certs.caBundle={bundle}");
    let install = |verb: &'static str, timeout: &'static str| {
        let mut args = vec![verb, RELEASE, chart, "--wait", "--timeout", timeout];
        args.extend([
            "--set",
            "image.repository=e2e.invalid/vaultgate",
            "--set",
            "certs.mode=existingSecret",
            "--set",
            "certs.existingSecret=vaultgate-tls",
            "--set-string",
            &ca_value,
            // Should a hook outlive the test, it selects no namespace: nothing is locked.
            "--set-json",
            r#"webhook.extraNamespaceSelectorExpressions=[{"key":"vaultgate-e2e-never","operator":"Exists"}]"#,
        ]);
        helm(&ns, &args)
    };

    // No pod becomes available (no kubelet): the install fails at --timeout and the hooks that
    // register the webhooks never run.
    let out = install("install", "5s");
    out.expect_failed();
    assert!(
        !release_webhooks_exist(),
        "helm registered the webhooks although the Deployment is unavailable:\n{}",
        out.stderr
    );
    let dep = kubectl(
        &env().kubeconfig,
        &[
            "-n",
            &ns,
            "get",
            "deployment",
            RELEASE_OBJECTS,
            "-o",
            "json",
        ],
        None,
    );
    assert!(
        dep.success,
        "helm install created no Deployment:\n{}\n{}",
        out.stderr, dep.stderr
    );
    let dep: Value = serde_json::from_str(&dep.stdout).expect("Deployment JSON");
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "e2e.invalid/vaultgate:0.1.0"
    );

    // Once the Deployment is available, the upgrade's post-upgrade hooks register them.
    mark_available(&ns, RELEASE_OBJECTS);
    let out = install("upgrade", "60s");
    out.expect_ok();
    let config = get_json(&[
        "get",
        "validatingwebhookconfiguration",
        RELEASE_OBJECTS,
        "-o",
        "json",
    ]);
    assert_eq!(
        annotation(&config, "helm.sh/hook"),
        Some("post-install,post-upgrade"),
        "{config:#}"
    );
    assert!(release_webhooks_exist());
}
