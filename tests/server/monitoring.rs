//! The monitoring manifests against what the binaries export: every `vaultgate_*` name in the
//! Grafana dashboard's queries and in the PrometheusRule's expressions must be a series of the
//! webhook's `/metrics` (an in-process server over TLS, after allowed, denied and malformed
//! reviews, a rejected policy edit and a rejected certificate) or of the handover controller's
//! `/metrics` (its registry served in-process over plain HTTP), the one its `job` selector names.
//! The live cluster view's `vaultgate_context_*` series only appear under a real apiserver's
//! watches (and `vaultgate_webhook_conditions_*` only from reading the installed webhook
//! configurations), so those names are checked against the webhook's `Metrics` registry instead. A renamed metric, or a counter queried without `_total`, fails
//! here rather than as an empty panel or an alert that can never fire.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use std::time::Duration;

use common::tls::{TestServer, client, eventually, mint_localhost, sample};
use serde_json::{Value, json};
use vaultgate::{
    certs::write_atomic,
    controller::metrics::{self as handover_metrics, HandoverMetrics},
    metrics::{ConfigurationLabels, Metrics, ResourceLabels},
};

/// How long a rewritten file may take to be noticed (the test server polls every 100 ms).
const DEADLINE: Duration = Duration::from_secs(30);

const DASHBOARD: &str = include_str!("../../manifests/monitoring/grafana-dashboard.json");
const RULES: &str = include_str!("../../manifests/monitoring/prometheusrule.yaml");

const WEBHOOK_JOB: &str = r#"job="vaultgate""#;
const HANDOVER_JOB: &str = r#"job="vaultgate-handover""#;

/// A Secret CREATE: by alice (VG101, denied by the default policy) or by ESO with an
/// ExternalSecret owner (allowed).
fn secret_create(uid: &str, by_eso: bool) -> Vec<u8> {
    let (user, groups, metadata) = if by_eso {
        (
            "system:serviceaccount:external-secrets:external-secrets",
            json!(["system:serviceaccounts"]),
            json!({ "name": "db", "namespace": "payments", "ownerReferences": [
                { "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "x",
                  "uid": "u1", "controller": true }] }),
        )
    } else {
        (
            "alice",
            json!(["system:authenticated"]),
            json!({ "name": "db", "namespace": "payments" }),
        )
    };
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": { "group": "", "version": "v1", "kind": "Secret" },
            "resource": { "group": "", "version": "v1", "resource": "secrets" },
            "name": "db",
            "namespace": "payments",
            "operation": "CREATE",
            "userInfo": { "username": user, "groups": groups },
            "object": { "apiVersion": "v1", "kind": "Secret", "metadata": metadata,
                        "type": "Opaque", "data": { "password": "cGFzcw==" } },
            "dryRun": false
        }
    }))
    .expect("encode")
}

/// Every `expr` string anywhere in `value` (dashboard panel targets, nested rows included).
fn exprs_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => exprs_in(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exprs_in(v, out)),
        _ => {}
    }
}

/// The `vaultgate_*` identifiers of a PromQL expression, string literals skipped (so a label
/// value such as `job="vaultgate-handover"` is never taken for a name).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = expr.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c == '"' || c == '\'' || c == '`' {
            let mut escaped = false;
            for (_, d) in chars.by_ref() {
                match d {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    _ if d == c => break,
                    _ => {}
                }
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let mut end = start + c.len_utf8();
            while let Some(&(i, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' || d == ':' {
                    end = i + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let ident = &expr[start..end];
            if ident.starts_with("vaultgate_") {
                names.push(ident.to_owned());
            }
        } else if c.is_ascii_digit() {
            // A number such as 2.5e3: its letters are no identifier.
            while chars
                .peek()
                .is_some_and(|&(_, d)| d.is_ascii_alphanumeric() || d == '.')
            {
                chars.next();
            }
        }
    }
    names
}

/// `# TYPE name type` of an exposition: family name to type.
fn families(exposition: &str) -> BTreeMap<String, String> {
    exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| {
            let (name, kind) = rest.split_once(' ')?;
            Some((name.to_owned(), kind.trim().to_owned()))
        })
        .collect()
}

/// Whether series `name` is one the exposition's families produce: a gauge by its own name, a
/// counter as `<family>_total`, a histogram as `<family>_bucket`, `_sum` or `_count`.
fn exported(families: &BTreeMap<String, String>, name: &str) -> bool {
    let family_is = |family: &str, kinds: &[&str]| {
        families
            .get(family)
            .is_some_and(|kind| kinds.contains(&kind.as_str()))
    };
    if family_is(name, &["gauge", "unknown"]) {
        return true;
    }
    if let Some(family) = name.strip_suffix("_total")
        && family_is(family, &["counter"])
    {
        return true;
    }
    ["_bucket", "_sum", "_count"].iter().any(|suffix| {
        name.strip_suffix(suffix)
            .is_some_and(|family| family_is(family, &["histogram"]))
    })
}

/// (where, expression) of every query in the dashboard and every rule expression.
fn referenced_exprs() -> Vec<(String, String)> {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let mut out = Vec::new();
    let mut exprs = Vec::new();
    exprs_in(&dashboard["panels"], &mut exprs);
    out.extend(exprs.into_iter().map(|e| ("dashboard".to_owned(), e)));

    let rule: Value = serde_saphyr::from_str(RULES).expect("the PrometheusRule is YAML");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["kind"], "PrometheusRule");
    for group in rule["spec"]["groups"].as_array().expect("spec.groups") {
        for r in group["rules"].as_array().expect("rules") {
            let name = r["alert"].as_str().or(r["record"].as_str()).expect("named");
            let expr = r["expr"].as_str().expect("expr is a string");
            out.push((format!("alert {name}"), expr.to_owned()));
        }
    }
    out
}

#[test]
fn the_dashboard_is_importable_with_a_prometheus_datasource_variable() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("JSON");
    assert!(
        dashboard["schemaVersion"].as_u64().is_some(),
        "schemaVersion"
    );
    assert!(dashboard["title"].is_string() && dashboard["uid"].is_string());
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating");
    assert!(
        variables.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "a `datasource` variable of type prometheus"
    );
    let mut targets = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "panel {}",
            panel["title"]
        );
        for target in panel["targets"].as_array().expect("targets") {
            assert_eq!(
                target["datasource"]["uid"], "${datasource}",
                "{}",
                panel["title"]
            );
            assert!(target["expr"].is_string(), "{}", panel["title"]);
            targets += 1;
        }
    }
    assert!(targets > 20, "{targets} queries");
}

#[test]
fn the_name_extraction_sees_names_and_skips_label_values() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.99, sum by (le) (rate(vaultgate_admission_duration_seconds_bucket{job="vaultgate_x"}[5m]))) > 2.5e0"#
        ),
        ["vaultgate_admission_duration_seconds_bucket"]
    );
    assert_eq!(
        metric_names("time() - vaultgate_context_last_event_timestamp_seconds\n> 1"),
        ["vaultgate_context_last_event_timestamp_seconds"]
    );
}

#[tokio::test]
async fn every_metric_the_dashboard_and_the_alerts_query_is_exported() {
    // The webhook, serving `--policy FILE`: a denied and an allowed review, a malformed one, a
    // rejected policy edit and a rejected certificate (the events that create the series of the
    // reload and 4xx counters), then a scrape over TLS.
    let pki = mint_localhost("a.test");
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.yaml");
    write_atomic(&policy, b"mode: enforce\n", false).expect("write the policy");
    let server = TestServer::start_with_policy_file(&pki, &policy).await;
    let https = client(&[&pki.ca_cert_pem]);
    for (uid, by_eso, allowed) in [("uid-denied", false, false), ("uid-allowed", true, true)] {
        let review: Value = https
            .post(server.url("/validate"))
            .header("content-type", "application/json")
            .body(secret_create(uid, by_eso))
            .send()
            .await
            .expect("review")
            .json()
            .await
            .expect("an AdmissionReview");
        assert_eq!(review["response"]["allowed"], allowed, "{review}");
    }
    let malformed = https
        .post(server.url("/validate"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("malformed review");
    assert_eq!(malformed.status(), reqwest::StatusCode::BAD_REQUEST);
    write_atomic(&policy, b"mode: enforce\naproved: []\n", false).expect("write a bad policy");
    write_atomic(
        &server.cert_path,
        b"-----BEGIN CERTIFICATE-----\nnot base64!\n",
        false,
    )
    .expect("write a bad certificate");
    let counted = |text: &str| {
        sample(text, r#"vaultgate_policy_reloads_total{result="error"}"#).is_some()
            && sample(text, r#"vaultgate_tls_reloads_total{result="error"}"#).is_some()
    };
    assert!(
        eventually(DEADLINE, || async { counted(&server.metrics.encode()) }).await,
        "the rejected policy and certificate were never counted:\n{}",
        server.metrics.encode()
    );
    let webhook_text = https
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    server.stop().await;

    // The live view's families get series only from watches of a real apiserver (the e2e tier);
    // here their names are checked against the registry `Metrics` registers them in.
    let live = Metrics::new();
    let resource = ResourceLabels {
        resource: "secrets",
    };
    live.context_objects.get_or_create(&resource).set(1);
    live.context_synced.get_or_create(&resource).set(1);
    live.context_resyncs.get_or_create(&resource).inc();
    live.context_watch_errors.get_or_create(&resource).inc();
    live.context_last_event.get_or_create(&resource).set(1);
    // So does the webhook configuration check (tests/e2e/webhook_drift.rs).
    live.webhook_conditions_drift
        .get_or_create(&ConfigurationLabels {
            configuration: "mutating",
        })
        .set(0);
    live.webhook_conditions_checked
        .get_or_create(&ConfigurationLabels {
            configuration: "mutating",
        })
        .set(1);
    let live_text = live.encode();

    // The handover controller: its registry behind its own /metrics server, as `handover` serves it.
    let metrics = Arc::new(HandoverMetrics::new());
    metrics.count("copied");
    metrics.fail("vault_sealed");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(handover_metrics::serve(listener, metrics, async move {
        let _ = stopped.await;
    }));
    let handover_text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("scrape the handover controller")
        .text()
        .await
        .expect("text");
    let _ = stop.send(());
    serving.await.expect("join").expect("serve");

    let mut webhook = families(&webhook_text);
    for (name, kind) in families(&live_text) {
        let live_only = name.starts_with("vaultgate_context_")
            || name.starts_with("vaultgate_webhook_conditions_");
        if live_only && !webhook.contains_key(&name) {
            webhook.insert(name, kind);
        }
    }
    let handover = families(&handover_text);
    assert!(
        webhook.contains_key("vaultgate_admission_reviews"),
        "{webhook_text}"
    );
    assert!(
        handover.contains_key("vaultgate_bootstrap_secrets"),
        "{handover_text}"
    );

    let mut checked = BTreeSet::new();
    let mut missing = Vec::new();
    for (place, expr) in referenced_exprs() {
        let names = metric_names(&expr);
        if names.is_empty() {
            continue; // up{...}, absent(up{...}): Prometheus' own series
        }
        let (job, exported_by) = if expr.contains(HANDOVER_JOB) {
            ("handover", &handover)
        } else if expr.contains(WEBHOOK_JOB) {
            ("webhook", &webhook)
        } else {
            missing.push(format!("{place}: selects no job: {expr}"));
            continue;
        };
        for name in names {
            if !exported(exported_by, &name) {
                missing.push(format!(
                    "{place}: {name} is not exported by the {job}: {expr}"
                ));
            }
            checked.insert(name);
        }
    }
    assert!(
        missing.is_empty(),
        "{}\n\nwebhook families: {:?}\nhandover families: {:?}",
        missing.join("\n"),
        webhook.keys().collect::<Vec<_>>(),
        handover.keys().collect::<Vec<_>>()
    );
    // The extraction found the names it must: one per area of the brief.
    for name in [
        "vaultgate_admission_reviews_total",
        "vaultgate_admission_duration_seconds_bucket",
        "vaultgate_rule_findings_total",
        "vaultgate_break_glass_total",
        "vaultgate_tls_reloads_total",
        "vaultgate_policy_reloads_total",
        "vaultgate_context_synced",
        "vaultgate_webhook_conditions_drift",
        "vaultgate_webhook_conditions_checked",
        "vaultgate_exceptions",
        "vaultgate_bootstrap_secrets",
        "vaultgate_oldest_pending_handover_seconds",
        "vaultgate_handover_failures_total",
    ] {
        assert!(checked.contains(name), "{name} is queried nowhere");
    }
    // The latency alert's 2.5 s threshold lies inside the histogram's finite buckets, so
    // histogram_quantile can exceed it (above the top finite bucket it is clamped to that bound).
    assert!(
        webhook_text.contains(r#"_bucket{le="2.5","#),
        "no 2.5 s bucket:\n{webhook_text}"
    );
    assert!(
        webhook_text.contains(r#"_bucket{le="5.0","#),
        "no 5 s bucket:\n{webhook_text}"
    );
}
