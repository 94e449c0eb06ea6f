//! `vaultgate policy suggest --cluster` against the real kube-apiserver: the decrypter deployed
//! in a namespace of this test's is found through the kubeconfig, the kinds the cluster does
//! not serve are named, and the output is a policy the loader accepts.

use serde_json::json;
use vaultgate::policy::Policy;

use crate::harness::{admin, create, env, namespace, shared};

#[tokio::test]
async fn suggest_lists_the_cluster_and_finds_the_deployed_decrypter() {
    let _guard = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "suggest").await;
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "sealed-secrets-controller", "namespace": ns },
        "spec": {
            "selector": { "matchLabels": { "app": "ss" } },
            "template": {
                "metadata": { "labels": { "app": "ss" } },
                "spec": {
                    "serviceAccountName": "unsealer",
                    "containers": [{ "name": "c", "image": "docker.io/bitnami/sealed-secrets-controller:0.27.1" }]
                }
            }
        }
    });
    create(&admin, &deployment)
        .await
        .expect("create the Deployment");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["policy", "suggest", "--cluster"])
        .env("KUBECONFIG", &env().kubeconfig)
        .output()
        .expect("run vaultgate");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let user = format!("system:serviceaccount:{ns}:unsealer");
    let policy = Policy::from_yaml(&text).expect("the suggestion is a valid policy");
    let decrypter = policy
        .identities
        .bootstrap_decrypters
        .iter()
        .find(|d| d.name == "sealed-secrets")
        .unwrap_or_else(|| panic!("no sealed-secrets decrypter:\n{text}"));
    assert!(
        decrypter.users.iter().any(|u| u.matches(&user)),
        "{user} not suggested:\n{text}"
    );
    assert!(
        text.contains(&format!(
            "cluster Deployment {ns}/sealed-secrets-controller"
        )),
        "the entry names where it was seen:\n{text}"
    );
    assert!(
        text.contains("applications.argoproj.io is not served by this cluster"),
        "a kind the cluster lacks is named, not an error:\n{text}"
    );
}
