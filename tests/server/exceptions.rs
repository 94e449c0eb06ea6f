//! A policy exception over real HTTPS: the excepted denial comes back `allowed: true` with a
//! `warnings` entry naming the ticket and the expiry; an expired exception no longer excepts
//! (the server reads the clock per review); `/metrics` counts the exceptions by state.

use std::sync::Arc;

use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use vaultgate::{cluster::MemoryView, policy::Policy, server::ServeOptions};

use crate::common::tls::{TestServer, client, mint_localhost, sample};

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0).unwrap().format(&Rfc3339).unwrap()
}

/// alice's CREATE of a plain Secret `payments/<name>`: VG101 without an exception.
fn review(uid: &str, name: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": { "group": "", "version": "v1", "kind": "Secret" },
            "resource": { "group": "", "version": "v1", "resource": "secrets" },
            "name": name,
            "namespace": "payments",
            "operation": "CREATE",
            "userInfo": { "username": "alice", "groups": ["system:authenticated"] },
            "object": { "apiVersion": "v1", "kind": "Secret", "metadata": { "name": name, "namespace": "payments" }, "type": "Opaque", "data": { "password": "cGFzcw==" } },
            "oldObject": null,
            "dryRun": false
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn an_excepted_denial_is_allowed_with_a_warning_naming_the_ticket_and_expiry() {
    let until = rfc3339(OffsetDateTime::now_utc() + time::Duration::days(30));
    let lapsed = rfc3339(OffsetDateTime::now_utc() - time::Duration::hours(1));
    // `Policy::from_yaml` does not judge time (the loaders at the edge do), so the expired
    // entry can be served here as a file loaded before it expired would be.
    let policy = Policy::from_yaml(&format!(
        "exceptions:\n\
         \x20 - id: legacy-db\n    rules: [VG101]\n    namespace: payments\n    name: db\n    reason: legacy chart\n    ticket: PAY-123\n    expires: \"{until}\"\n\
         \x20 - id: old-cache\n    rules: [VG101]\n    namespace: payments\n    name: cache\n    reason: gone\n    ticket: PAY-9\n    expires: \"{lapsed}\"\n"
    ))
    .unwrap();
    let view = Arc::new(MemoryView::from_policy(&policy));
    let pki = mint_localhost("exceptions.test");
    let server = TestServer::start_with_view(&pki, ServeOptions::default(), policy, view).await;
    let client = client(&[&pki.ca_cert_pem]);
    let post = |name: &'static str| {
        let client = client.clone();
        let url = server.url("/validate");
        async move {
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .body(review(&format!("uid-{name}"), name))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.expect("review")["response"].clone()
        }
    };

    let excepted = post("db").await;
    assert_eq!(excepted["allowed"], true, "{excepted}");
    let warnings = excepted["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{excepted}");
    let warning = warnings[0].as_str().unwrap();
    assert!(
        warning.starts_with(&format!(
            "[VG101 unmanaged-secret] excepted by PAY-123 until {until} (exception legacy-db): "
        )),
        "{warning}"
    );
    assert_eq!(excepted["auditAnnotations"]["rules"], "VG101");

    // Expired: enforced again, and the denial says which exception lapsed.
    let denied = post("cache").await;
    assert_eq!(denied["allowed"], false, "{denied}");
    let message = denied["status"]["message"].as_str().unwrap();
    assert!(message.contains("[VG101 unmanaged-secret]"), "{message}");
    assert!(
        message.contains(&format!(
            "exception old-cache (PAY-9) for VG101 expired at {lapsed}"
        )),
        "{message}"
    );
    // Not covered at all: denied, no note.
    let other = post("other").await;
    assert_eq!(other["allowed"], false);

    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert_eq!(
        sample(&metrics, "vaultgate_exceptions{state=\"active\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "vaultgate_exceptions{state=\"expiring\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&metrics, "vaultgate_exceptions{state=\"expired\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "vaultgate_rule_findings_total{kind=\"Secret\",rule=\"VG101\",decision=\"excepted\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        !metrics.contains("legacy-db") && !metrics.contains("PAY-123"),
        "no names in metrics"
    );
    server.stop().await;
}
