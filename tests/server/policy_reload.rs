//! `serve --policy FILE` follows the file without a restart, over real TLS: the rollout path of
//! the README ("Rolling out") from warn, to one namespace enforcing, to enforcing everywhere, and
//! a bad edit that changes nothing but a counter. The file is rewritten atomically, as the
//! kubelet updates a ConfigMap volume; waits are bounded polls, never timing assertions.

use crate::common;

use std::{path::Path, time::Duration};

use common::tls::{TestServer, client, eventually, mint_localhost, sample};
use serde_json::{Value, json};
use vaultgate::{certs::write_atomic, server::policy_reload::digest};

/// How long a rewritten file may take to be in effect (the test server polls every 100 ms).
const SWAP_DEADLINE: Duration = Duration::from_secs(30);

const WARN: &str = "mode: warn\n";
const PAYMENTS_ENFORCE: &str = "mode: warn\nnamespaces:\n  modes:\n    payments: enforce\n";
const ENFORCE: &str = "mode: enforce\n";
/// A typo: the field is named in the error, and nothing else changes.
const INVALID: &str = "mode: warn\naproved: []\n";

/// alice's `kubectl create secret` in `namespace`: VG101 whatever the mode, denied only where
/// it enforces.
fn developer_secret(uid: &str, namespace: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": { "group": "", "version": "v1", "kind": "Secret" },
            "resource": { "group": "", "version": "v1", "resource": "secrets" },
            "name": "db",
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": { "username": "alice", "groups": ["system:authenticated"] },
            "object": { "apiVersion": "v1", "kind": "Secret",
                        "metadata": { "name": "db", "namespace": namespace },
                        "type": "Opaque", "data": { "password": "cGFzcw==" } },
            "dryRun": false
        }
    }))
    .expect("encode")
}

/// What vaultgate answered: allowed or not, and its warnings.
struct Answer {
    allowed: bool,
    warnings: Vec<String>,
}

async fn review(client: &reqwest::Client, server: &TestServer, namespace: &str) -> Answer {
    let response = client
        .post(server.url("/validate"))
        .header("content-type", "application/json")
        .body(developer_secret("uid-reload", namespace))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let review: Value = response.json().await.expect("review");
    let out = &review["response"];
    Answer {
        allowed: out["allowed"].as_bool().expect("allowed"),
        warnings: out["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w.as_str().map(str::to_owned))
            .collect(),
    }
}

fn write_policy(path: &Path, text: &str) {
    write_atomic(path, text.as_bytes(), false).expect("write the policy file");
}

fn policy_in_effect(server: &TestServer, text: &str) -> bool {
    let series = format!(
        "vaultgate_policy_info{{digest=\"{}\"}}",
        digest(text.as_bytes())
    );
    sample(&server.metrics.encode(), &series) == Some(1.0)
}

fn reloads(server: &TestServer, result: &str) -> f64 {
    let series = format!("vaultgate_policy_reloads_total{{result=\"{result}\"}}");
    sample(&server.metrics.encode(), &series).unwrap_or(0.0)
}

#[tokio::test]
async fn a_policy_file_moves_from_warn_to_enforce_without_a_restart_and_a_bad_edit_keeps_the_last_good_one()
 {
    let pki = mint_localhost("a.test");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("policy.yaml");
    write_policy(&path, WARN);
    let server = TestServer::start_with_policy_file(&pki, &path).await;
    let client = client(&[&pki.ca_cert_pem]);

    // Installed in warn: admitted, and the developer sees why it would not be.
    let warned = review(&client, &server, "payments").await;
    assert!(warned.allowed, "warn mode admits");
    assert!(
        warned.warnings.iter().any(|w| w.contains("VG101")),
        "{:?}",
        warned.warnings
    );
    assert!(
        policy_in_effect(&server, WARN),
        "{}",
        server.metrics.encode()
    );

    // One namespace enforces; the others still only warn.
    write_policy(&path, PAYMENTS_ENFORCE);
    assert!(
        eventually(SWAP_DEADLINE, || async {
            !review(&client, &server, "payments").await.allowed
        })
        .await,
        "payments never started enforcing"
    );
    assert!(review(&client, &server, "billing").await.allowed);
    assert!(policy_in_effect(&server, PAYMENTS_ENFORCE));
    assert!(!policy_in_effect(&server, WARN), "one policy_info series");

    // Enforced everywhere.
    write_policy(&path, ENFORCE);
    assert!(
        eventually(SWAP_DEADLINE, || async {
            !review(&client, &server, "billing").await.allowed
        })
        .await,
        "billing never started enforcing"
    );
    assert_eq!(reloads(&server, "success"), 2.0);
    assert_eq!(reloads(&server, "error"), 0.0);

    // A bad edit is counted once and changes nothing: the last good policy keeps denying.
    write_policy(&path, INVALID);
    assert!(
        eventually(SWAP_DEADLINE, || async { reloads(&server, "error") >= 1.0 }).await,
        "the invalid file was never counted"
    );
    for namespace in ["payments", "billing"] {
        assert!(
            !review(&client, &server, namespace).await.allowed,
            "{namespace}: the last good policy (enforce) still judges"
        );
    }
    assert!(policy_in_effect(&server, ENFORCE));
    assert_eq!(reloads(&server, "success"), 2.0);
    assert_eq!(reloads(&server, "error"), 1.0, "counted once");
    server.stop().await;
}
