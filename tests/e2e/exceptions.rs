//! A policy exception as a developer sees it through kubectl (#19, README "Exceptions"): while
//! it lasts, alice's plain Secret covered by it is admitted with `Warning: [VG101 …] excepted by
//! <ticket> until <expires>`; a Secret it does not cover is still denied; from `expires` on the
//! same write is denied again, by the same vaultgate process (no restart), with a note naming
//! the lapsed exception. The gauge and the rate-limited log line are checked along the way.
//!
//! The in-cluster audit (every 2 s in the harness) follows: with the PolicyReport CRD installed,
//! a stored Secret covered by an exception without `users` is a `skip` result carrying the
//! exception's reason, ticket and expiry, and `fail` once it has expired; a Warning Event
//! (`ExceptionExpiring`, then `ExceptionExpired`) is published on it once per state, visible
//! with `kubectl get events`. The Secrets covered only for `users: [alice]` stay `fail` in the
//! report: the audit cannot tell who wrote a stored object.
//!
//! vaultgate is restarted with tests/e2e/policy.yaml plus two exceptions that end 40 s later
//! (start-webhook.sh honours `VAULTGATE_E2E_SERVE_POLICY`), and restarted as the harness started it
//! afterwards, also when an assertion fails. So this test takes the cluster lock exclusively.
//! The wait for the expiry is real time, polled with a write a second, bounded.

use std::time::{Duration, Instant, SystemTime};

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use serde_json::Value;

use crate::{
    harness::*,
    policy_reports::{install_crd, report_when},
};

const TICKET: &str = "E2E-19";
const ID: &str = "e2e-legacy-db";
/// The exception without `users`, which the audit can see covering a stored Secret.
const REPORT_ID: &str = "e2e-reported";
const REPORTED: &str = "reported-db";

/// The results about `name` in a PolicyReport: (rule, result, properties).
fn results_for(report: &Value, name: &str) -> Vec<(String, String, Value)> {
    report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["resources"][0]["name"] == name)
        .map(|r| {
            (
                r["rule"].as_str().unwrap_or("").to_owned(),
                r["result"].as_str().unwrap_or("").to_owned(),
                r["properties"].clone(),
            )
        })
        .collect()
}

fn has(report: &Value, name: &str, rule: &str, result: &str) -> bool {
    results_for(report, name)
        .iter()
        .any(|(r, x, _)| r == rule && x == result)
}

/// The notes of the Events with `reason` about `name` in `ns` once there is one (bounded poll),
/// read with `kubectl get events` as a user would.
async fn events_when(ns: &str, name: &str, reason: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = kubectl(
            &env().kubeconfig,
            &["get", "events", "-n", ns, "-o", "json"],
            None,
        );
        out.expect_ok();
        let list: Value = serde_json::from_str(&out.stdout).expect("events json");
        let notes: Vec<String> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["reason"] == reason && e["involvedObject"]["name"] == name)
            .map(|e| e["message"].as_str().unwrap_or("").to_owned())
            .collect();
        if !notes.is_empty() {
            return notes;
        }
        assert!(
            Instant::now() < deadline,
            "no {reason} Event about {ns}/{name} within 30 s:\n{}",
            out.stdout
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Stops the running vaultgate (SIGTERM, by PID) and starts it again, with `policy` when given.
fn restart(policy: Option<&std::path::Path>) {
    let pid = pid_in(&env().webhook_pidfile);
    signal(pid, "TERM");
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(pid) {
        if Instant::now() > deadline {
            signal(pid, "KILL");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut start = std::process::Command::new("bash");
    start.arg(&env().webhook_start);
    match policy {
        Some(p) => start.env("VAULTGATE_E2E_SERVE_POLICY", p),
        None => start.env_remove("VAULTGATE_E2E_SERVE_POLICY"),
    };
    let status = start.status().expect("run start-webhook.sh");
    assert!(status.success(), "{} failed", env().webhook_start.display());
}

/// Puts the harness's vaultgate back (its own policy): [`Restore::finish`] waits until it is
/// ready before the lock is released; on a failed assertion, drop restarts it without waiting.
struct Restore {
    done: bool,
}

impl Restore {
    async fn finish(mut self) {
        restart(None);
        wait_ready().await;
        self.done = true;
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if !self.done {
            restart(None);
        }
    }
}

async fn wait_ready() {
    wait_ready_at(&reqwest::Client::new(), &env().webhook_probe_url).await;
}

async fn metrics() -> String {
    reqwest::get(format!("{}/metrics", env().webhook_probe_url))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text")
}

fn gauge(metrics: &str, state: &str) -> Option<f64> {
    let series = format!("vaultgate_exceptions{{state=\"{state}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse().ok())
}

fn log_lines_about(id: &str, state: &str) -> usize {
    let log = std::fs::read_to_string(env().dir.join("logs/vaultgate.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains("still matches an object") && l.contains(id) && l.contains(state))
        .count()
}

#[tokio::test]
async fn an_exception_admits_with_a_kubectl_warning_until_it_expires_then_the_write_is_denied() {
    let _cluster = exclusive().await;
    install_crd();
    let admin = admin().await;
    let alice = human("alice").await;
    let ns = namespace(&admin, "legacy").await;

    let expires_at = (OffsetDateTime::now_utc() + time::Duration::seconds(40))
        .replace_nanosecond(0)
        .unwrap();
    let expires = expires_at.format(&Rfc3339).unwrap();
    let base = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/policy.yaml"),
    )
    .expect("read tests/e2e/policy.yaml");
    let policy = env()
        .dir
        .join(format!("{}.yaml", unique("policy-exceptions")));
    std::fs::write(
        &policy,
        format!(
            "{base}exceptions:\n  - id: {ID}\n    rules: [unmanaged-secret]\n    namespace: {ns}\n    kind: Secret\n    namePattern: \"db-*\"\n    users: [alice]\n    reason: the legacy chart renders it until {TICKET} moves it to Vault\n    ticket: {TICKET}\n    expires: \"{expires}\"\n  - id: {REPORT_ID}\n    rules: [VG101]\n    namespace: {ns}\n    kind: Secret\n    name: {REPORTED}\n    reason: reported while the chart is fixed\n    ticket: {TICKET}\n    expires: \"{expires}\"\n"
        ),
    )
    .expect("write the policy");
    let restore = Restore { done: false };
    restart(Some(&policy));
    wait_ready().await;

    // Covered: admitted, and kubectl prints the warning naming the ticket and the expiry.
    let name = unique("db");
    let out = alice.kubectl(
        &["apply", "-f", "-"],
        Some(&secret_yaml(&ns, &name, &[("password", "hunter2")])),
    );
    assert!(
        SystemTime::now() < SystemTime::from(expires_at),
        "the first write came after the expiry; the machine is too slow for a 40 s exception:\n{}",
        out.stderr
    );
    out.expect_ok();
    assert_contains(
        &out.stderr,
        &[&format!(
            "Warning: [VG101 unmanaged-secret] excepted by {TICKET} until {expires} (exception {ID}):"
        )],
        "kubectl warnings",
    );
    assert!(
        get_secret(&admin, &ns, &name).await.is_some(),
        "admitted and stored"
    );

    // Not covered: another name in the namespace, and the covered name written by someone else.
    let cache = alice.kubectl(
        &["apply", "-f", "-"],
        Some(&secret_yaml(
            &ns,
            &unique("cache"),
            &[("password", "hunter2")],
        )),
    );
    cache.expect_failed();
    assert_eq!(rule_ids(&cache.stderr), ["VG101"], "{}", cache.stderr);
    let bob = human("bob").await;
    let by_bob = bob.kubectl(
        &["apply", "-f", "-"],
        Some(&secret_yaml(&ns, &unique("db"), &[("password", "hunter2")])),
    );
    by_bob.expect_failed();

    // The audit's view: the Secret the exception without `users` covers is a `skip` with the
    // exception's reason, ticket and expiry; alice's are `fail` (who wrote a stored object is
    // not known to the audit, so `users: [alice]` covers nothing there).
    alice
        .kubectl(
            &["apply", "-f", "-"],
            Some(&secret_yaml(&ns, REPORTED, &[("password", "hunter2")])),
        )
        .expect_ok();
    let report = report_when(&admin, &ns, "the excepted Secret as skip", |r| {
        has(r, REPORTED, "VG101", "skip") && has(r, &name, "VG101", "fail")
    })
    .await;
    assert!(
        SystemTime::now() < SystemTime::from(expires_at),
        "the skip was seen after the expiry; the machine is too slow for a 40 s exception"
    );
    let skipped = results_for(&report, REPORTED);
    let (_, _, props) = skipped
        .iter()
        .find(|(rule, result, _)| rule == "VG101" && result == "skip")
        .expect("the skip");
    assert_eq!(props["exception"], REPORT_ID, "{report:#}");
    assert_eq!(props["ticket"], TICKET);
    assert_eq!(props["reason"], "reported while the chart is fixed");
    assert_eq!(props["expires"], expires.as_str());
    assert!(
        !has(&report, REPORTED, "VG101", "fail"),
        "excepted, so not also a fail: {report:#}"
    );
    // The exception is within 7 days of its expiry and matches the Secret: one Event on it.
    let expiring = events_when(&ns, REPORTED, "ExceptionExpiring").await;
    assert_eq!(expiring.len(), 1, "{expiring:?}");
    assert_contains(
        &expiring[0],
        &[&format!(
            "policy exception {REPORT_ID} (ticket {TICKET}) for VG101 expires at {expires}"
        )],
        "the Event's note",
    );

    // The gauge and the log line while it is about to expire (within 7 days).
    assert_eq!(gauge(&metrics().await, "expiring"), Some(2.0));
    assert_eq!(
        log_lines_about(ID, "expiring"),
        1,
        "logged once for the write above"
    );

    // The same write once a second until it is denied: never before the expiry, and within
    // 30 s after it, by the same process.
    let pid = pid_in(&env().webhook_pidfile);
    let deadline = SystemTime::from(expires_at) + Duration::from_secs(30);
    let denied = loop {
        let name = unique("db");
        let out = alice.kubectl(
            &["apply", "-f", "-"],
            Some(&secret_yaml(&ns, &name, &[("password", "hunter2")])),
        );
        let now = SystemTime::now();
        if !out.success {
            assert!(
                now >= SystemTime::from(expires_at),
                "denied before the exception expired:\n{}",
                out.stderr
            );
            break out;
        }
        assert!(out.stderr.contains("excepted by"), "{}", out.stderr);
        assert!(now < deadline, "still admitted 30 s after {expires}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(rule_ids(&denied.stderr), ["VG101"], "{}", denied.stderr);
    assert_contains(
        &denied.stderr,
        &[&format!(
            "Note: exception {ID} ({TICKET}) for VG101 expired at {expires}"
        )],
        "the denial after the expiry",
    );
    assert_eq!(pid, pid_in(&env().webhook_pidfile), "no restart in between");
    assert_eq!(gauge(&metrics().await, "expired"), Some(2.0));
    assert_eq!(
        log_lines_about(ID, "expired"),
        1,
        "the lapsed match is logged, once"
    );

    // The audit follows the clock: the stored Secret is a `fail` again, and one Event says the
    // exception expired while still matching it; the expiring one was not repeated.
    report_when(&admin, &ns, "the expired exception's Secret as fail", |r| {
        has(r, REPORTED, "VG101", "fail") && !has(r, REPORTED, "VG101", "skip")
    })
    .await;
    let expired = events_when(&ns, REPORTED, "ExceptionExpired").await;
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_contains(
        &expired[0],
        &[&format!("expired at {expires}")],
        "the Event's note",
    );
    assert_eq!(
        events_when(&ns, REPORTED, "ExceptionExpiring").await.len(),
        1,
        "once per state, not once per audit"
    );
    restore.finish().await;
}
