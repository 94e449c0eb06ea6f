//! The reconcile's sequencing at the API level: [`reconcile`] driven pass by pass over the
//! scripted apiserver of `controller::scripted` (each request asserted and answered in order) and
//! an in-memory Vault KV v2 on 127.0.0.1 (the real [`Vault`] client over HTTP: `Vault` is a
//! concrete client, not a trait, so its fake is at the HTTP port). Both append to one log, so
//! the order across Kubernetes and Vault is asserted: read the Secret, gate on health, create-only
//! write, provenance, read back, then the guarded patch, then the Event. Also the idempotent
//! passes that follow (nothing written), and a 409 on the patch (no state change, retried with
//! backoff; the next pass finds the value in Vault and writes no second version).
//!
//! No recorded request but the Vault write's body may hold a Secret value ([`assert_no_leak`]).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::State as AxumState,
    http::{Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    api::ObjectMeta,
    core::PartialObjectMetaExt as _,
    runtime::{controller::Action, events::Reporter},
};
use serde_json::{Map, Value, json};

use super::*;
use crate::controller::{
    Config,
    metrics::ResultLabels,
    scripted::{self, Call, Log, Step, client, done, status, step},
    vault::{VaultAuth, VaultConfig},
};

const CANARY: &str = "canary-5b0e-sequencing-only-in-the-vault-write";
const NS: &str = "vault";
const SECRET: &str = "/api/v1/namespaces/vault/secrets/db-root";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/vault/events";
const TARGET: &str = "platform-data/postgres/temporal";
const KV_DATA: &str = "/v1/secret/data/platform-data/postgres/temporal";
const KV_META: &str = "/v1/secret/metadata/platform-data/postgres/temporal";
const KEY: [u8; 32] = [7; 32];

// ------------------------------------------------------------------------------------------------
// An in-memory Vault: one KV v2 key with check-and-set and custom_metadata.

#[derive(Default)]
struct Kv {
    /// (version, data) of the latest version.
    latest: Option<(u64, Map<String, Value>)>,
    custom: Option<Map<String, Value>>,
    /// Versions created: a second one would be a double write.
    created: u64,
}

#[derive(Clone)]
struct FakeVault {
    kv: Arc<Mutex<Kv>>,
    log: Log,
}

fn vault_json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn vault_handler(
    AxumState(v): AxumState<FakeVault>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    v.log.lock().unwrap().push(Call {
        to: "vault",
        line: format!("{method} {uri}"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut kv = v.kv.lock().unwrap();
    match (method.as_str(), uri.path()) {
        ("GET", "/v1/sys/health") => vault_json(
            StatusCode::OK,
            json!({ "initialized": true, "sealed": false }),
        ),
        ("POST", KV_DATA) => {
            assert_eq!(sent["options"]["cas"], 0, "every write is create-only");
            if kv.latest.is_some() {
                return vault_json(
                    StatusCode::BAD_REQUEST,
                    json!({ "errors": ["check-and-set parameter did not match the current version"] }),
                );
            }
            let data = sent["data"].as_object().cloned().unwrap_or_default();
            kv.created += 1;
            kv.latest = Some((kv.created, data));
            vault_json(StatusCode::OK, json!({ "data": { "version": kv.created } }))
        }
        ("GET", KV_DATA) => match &kv.latest {
            None => vault_json(StatusCode::NOT_FOUND, json!({ "errors": [] })),
            Some((version, data)) => vault_json(
                StatusCode::OK,
                json!({ "data": { "data": data, "metadata": { "version": version, "deletion_time": "", "destroyed": false } } }),
            ),
        },
        ("GET", KV_META) => match (&kv.latest, &kv.custom) {
            (None, None) => vault_json(StatusCode::NOT_FOUND, json!({ "errors": [] })),
            (latest, custom) => vault_json(
                StatusCode::OK,
                json!({ "data": { "current_version": latest.as_ref().map_or(0, |l| l.0), "custom_metadata": custom } }),
            ),
        },
        ("POST", KV_META) => {
            kv.custom = sent["custom_metadata"].as_object().cloned();
            StatusCode::NO_CONTENT.into_response()
        }
        (m, p) => panic!("unexpected Vault call {m} {p}"),
    }
}

impl FakeVault {
    async fn start(log: Log) -> (Self, String) {
        let fake = Self {
            kv: Arc::default(),
            log,
        };
        let app = axum::Router::new()
            .fallback(vault_handler)
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (fake, addr)
    }

    fn created(&self) -> u64 {
        self.kv.lock().unwrap().created
    }
}

// ------------------------------------------------------------------------------------------------
// The world of one test: scripted apiserver + fake Vault + a Ctx as `Handover::prepare` builds it.

struct World {
    ctx: Arc<Ctx>,
    script: scripted::Script,
    log: Log,
    vault: FakeVault,
    _dir: tempfile::TempDir,
}

async fn world(steps: Vec<Step>) -> World {
    let log = Log::default();
    let (client, script) = client(steps, log.clone());
    let (vault, addr) = FakeVault::start(log.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "test-token").unwrap();
    let cfg = Config {
        policy: Arc::new(Policy::default()),
        settings: Settings::default(),
        namespace: "vaultgate-system".into(),
        watch_namespaces: vec![NS.into()],
        cluster_name: "test-cluster".into(),
        instance: "vaultgate-0".into(),
        vault: VaultConfig {
            addr: addr.clone(),
            ca_cert: None,
            namespace: None,
            mount: "secret".into(),
            auth: VaultAuth::TokenFile(token),
            timeout: Duration::from_secs(5),
        },
        lease: None,
        retry_base: Duration::from_millis(300),
        retry_max: Duration::from_secs(2),
    };
    let reporter = Reporter {
        controller: crate::controller::REPORTER.into(),
        instance: Some(cfg.instance.clone()),
    };
    let ctx = Ctx::new(
        client.clone(),
        &cfg,
        Vault::new(cfg.vault.clone()).unwrap(),
        DigestKey::from_bytes(&KEY).unwrap(),
        Recorder::new(client, reporter),
        Arc::new(HandoverMetrics::new()),
        "system:serviceaccount:vaultgate-system:vaultgate@vaultgate-0".into(),
    );
    World {
        ctx: Arc::new(ctx),
        script,
        log,
        vault,
        _dir: dir,
    }
}

impl World {
    /// One reconcile, as the Controller calls it: with the watch's metadata only.
    async fn pass(&self) -> Result<Action, Error> {
        let meta = ObjectMeta {
            name: Some("db-root".into()),
            namespace: Some(NS.into()),
            uid: Some("0b5c2a9e-0000-4000-8000-000000000001".into()),
            ..ObjectMeta::default()
        }
        .into_request_partial::<Secret>();
        reconcile(Arc::new(meta), self.ctx.clone()).await
    }

    /// The calls since the last `take`, as `"<to> <METHOD> <path>"`.
    fn take(&self) -> Vec<String> {
        let lines = scripted::lines(&self.log);
        let calls: Vec<Call> = self.log.lock().unwrap().drain(..).collect();
        assert_no_leak(&calls);
        lines
    }

    fn count(&self, result: &'static str) -> u64 {
        self.ctx
            .metrics
            .handovers
            .get_or_create(&ResultLabels { result })
            .get()
    }
}

// ------------------------------------------------------------------------------------------------
// Fixtures.

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The canary raw, base64-encoded (as a Secret's `data` carries it) or hex-encoded.
fn leaks(text: &str) -> bool {
    let hex: String = CANARY.bytes().map(|b| format!("{b:02x}")).collect();
    [CANARY, b64(CANARY).as_str(), hex.as_str()]
        .iter()
        .any(|needle| text.contains(needle))
}

/// Only the body of the Vault create-only write may carry the value (and it must: that is the
/// handover). Every other request, URL and body, Kubernetes and Vault alike, must not.
fn assert_no_leak(calls: &[Call]) {
    for c in calls {
        let is_write = c.to == "vault" && c.line == format!("POST {KV_DATA}");
        assert!(!leaks(&c.line), "a value in a request line: {}", c.line);
        assert_eq!(
            leaks(&c.body),
            is_write,
            "{} {}: the value must be in the Vault write's body and nowhere else",
            c.to,
            c.line
        );
    }
}

fn key(name: &str) -> String {
    Policy::default().key(name)
}

/// The bootstrap Secret as the apiserver returns it.
fn secret(rv: &str, state: Option<&str>, data: bool, stamp: Option<(&str, &str)>) -> Value {
    let mut labels =
        json!({ key("secret-class"): "bootstrap", key("bootstrap-source"): "sealed-secrets" });
    if let Some(s) = state {
        labels[key("handover-state")] = json!(s);
    }
    let mut annotations = json!({ key("handover-to"): TARGET });
    if let Some((version, digest)) = stamp {
        annotations[key("vault-version")] = json!(version);
        annotations[key("content-digest")] = json!(digest);
        annotations[key("handover-at")] = json!("2026-01-08T10:00:00Z");
    }
    let mut s = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": "db-root", "namespace": NS, "uid": "0b5c2a9e-0000-4000-8000-000000000001",
                      "resourceVersion": rv, "labels": labels, "annotations": annotations },
        "type": "Opaque",
    });
    if data {
        s["data"] = json!({ "username": b64("admin"), "password": b64(CANARY) });
    }
    s
}

/// The keyed digest the controller computes for [`secret`]'s data.
fn digest() -> String {
    let data = BTreeMap::from([
        (
            "username".to_owned(),
            k8s_openapi::ByteString(b"admin".to_vec()),
        ),
        (
            "password".to_owned(),
            k8s_openapi::ByteString(CANARY.as_bytes().to_vec()),
        ),
    ]);
    DigestKey::from_bytes(&KEY).unwrap().of_secret(&data)
}

fn event_answer() -> Value {
    json!({ "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": { "name": "db-root.1", "namespace": NS }, "eventTime": "2026-01-08T10:00:00.000000Z" })
}

/// The Event the controller publishes (events.k8s.io/v1), its body checked by `check`.
fn event(check: fn(&Value)) -> Step {
    Step {
        check,
        ..step("POST", EVENTS, 201, event_answer())
    }
}

fn regarding_db_root(sent: &Value) {
    assert_eq!(sent["regarding"]["kind"], "Secret");
    assert_eq!(sent["regarding"]["name"], "db-root");
    assert_eq!(sent["reportingController"], crate::controller::REPORTER);
}

// ------------------------------------------------------------------------------------------------
// The tests.

#[tokio::test]
async fn a_handover_reads_then_writes_vault_then_patches_then_reports_and_later_passes_write_nothing()
 {
    let w = world(vec![
        // Pass 1: pending → copied.
        step("GET", SECRET, 200, secret("10", None, true, None)),
        Step {
            check: |sent| {
                let meta = &sent["metadata"];
                assert_eq!(meta["resourceVersion"], "10", "guarded by what was read");
                assert_eq!(meta["labels"], json!({ key("handover-state"): "copied" }));
                assert_eq!(meta["annotations"][key("vault-version")], "1");
                assert_eq!(meta["annotations"][key("content-digest")], digest());
                assert!(meta["annotations"][key("handover-at")].is_string());
                assert!(sent.get("data").is_none(), "data is not touched on copy");
            },
            ..step(
                "PATCH",
                SECRET,
                200,
                secret("11", Some("copied"), true, Some(("1", &digest()))),
            )
        },
        event(|sent| {
            regarding_db_root(sent);
            assert_eq!(sent["reason"], "HandoverCopied");
            assert_eq!(sent["type"], "Normal");
            let note = sent["note"].as_str().unwrap();
            assert!(
                note.contains("secret/platform-data/postgres/temporal"),
                "{note}"
            );
            assert!(note.contains("version 1"), "{note}");
        }),
        // Pass 2: copied with our digest → consumed, data emptied (retire: inert) in that patch.
        step(
            "GET",
            SECRET,
            200,
            secret("11", Some("copied"), true, Some(("1", &digest()))),
        ),
        Step {
            check: |sent| {
                let meta = &sent["metadata"];
                assert_eq!(meta["resourceVersion"], "11");
                assert_eq!(meta["labels"], json!({ key("handover-state"): "consumed" }));
                assert_eq!(sent["data"], Value::Null, "inert: the data is emptied");
                assert!(sent.as_object().unwrap().contains_key("data"));
            },
            ..step(
                "PATCH",
                SECRET,
                200,
                secret("12", Some("consumed"), false, Some(("1", &digest()))),
            )
        },
        event(|sent| {
            regarding_db_root(sent);
            assert_eq!(sent["reason"], "HandoverConsumed");
        }),
        // Pass 3: consumed and retired → read, nothing else.
        step(
            "GET",
            SECRET,
            200,
            secret("12", Some("consumed"), false, Some(("1", &digest()))),
        ),
    ])
    .await;

    let action = w.pass().await.expect("pass 1");
    assert_eq!(action, Action::requeue(Duration::from_secs(60)));
    assert_eq!(
        w.take(),
        [
            format!("kube GET {SECRET}"),
            "vault GET /v1/sys/health".into(),
            format!("vault POST {KV_DATA}"),
            format!("vault GET {KV_META}"),
            format!("vault POST {KV_META}"),
            format!("vault GET {KV_DATA}"),
            format!("kube PATCH {SECRET}"),
            format!("kube POST {EVENTS}"),
        ]
    );
    let custom = w.vault.kv.lock().unwrap().custom.clone().unwrap();
    assert_eq!(custom["handover-content-digest"], json!(digest()));
    assert_eq!(custom["handover-source"], "vault/db-root");
    assert_eq!(w.count("copied"), 1);

    assert_eq!(w.pass().await.expect("pass 2"), Action::await_change());
    assert_eq!(
        w.take(),
        [
            format!("kube GET {SECRET}"),
            format!("kube PATCH {SECRET}"),
            format!("kube POST {EVENTS}"),
        ],
        "copied with our digest: no Vault call at all"
    );
    assert_eq!(w.count("consumed"), 1);

    assert_eq!(w.pass().await.expect("pass 3"), Action::await_change());
    assert_eq!(
        w.take(),
        [format!("kube GET {SECRET}")],
        "consumed: no Vault write, no patch, no Event"
    );
    assert_eq!(w.vault.created(), 1, "exactly one Vault version");
    done(&w.script);
}

#[tokio::test]
async fn a_conflict_on_the_patch_changes_nothing_and_the_next_pass_writes_no_second_version() {
    let w = world(vec![
        // Pass 1: Vault written, then the guarded patch loses to another writer.
        step("GET", SECRET, 200, secret("10", None, true, None)),
        Step {
            check: |sent| assert_eq!(sent["metadata"]["resourceVersion"], "10"),
            ..step("PATCH", SECRET, 409, status(409, "Conflict"))
        },
        event(|sent| {
            regarding_db_root(sent);
            assert_eq!(sent["reason"], "HandoverFailed");
            assert_eq!(sent["type"], "Warning");
            let note = sent["note"].as_str().unwrap();
            assert!(note.contains("stays authoritative"), "{note}");
        }),
        // Pass 2 (the requeue): the Secret moved on (rv 13) but is still pending.
        step("GET", SECRET, 200, secret("13", None, true, None)),
        Step {
            check: |sent| {
                let meta = &sent["metadata"];
                assert_eq!(meta["resourceVersion"], "13", "guarded by the fresh read");
                assert_eq!(meta["labels"], json!({ key("handover-state"): "copied" }));
                assert_eq!(meta["annotations"][key("vault-version")], "1");
            },
            ..step(
                "PATCH",
                SECRET,
                200,
                secret("14", Some("copied"), true, Some(("1", &digest()))),
            )
        },
        event(|sent| {
            assert_eq!(sent["reason"], "HandoverCopied");
            let note = sent["note"].as_str().unwrap();
            assert!(note.contains("already holds this value"), "{note}");
        }),
    ])
    .await;

    let err = w.pass().await.expect_err("the 409 fails the pass");
    assert_eq!(err.metric_reason(), "kube_conflict");
    assert_eq!(
        w.take(),
        [
            format!("kube GET {SECRET}"),
            "vault GET /v1/sys/health".into(),
            format!("vault POST {KV_DATA}"),
            format!("vault GET {KV_META}"),
            format!("vault POST {KV_META}"),
            format!("vault GET {KV_DATA}"),
            format!("kube PATCH {SECRET}"),
            format!("kube POST {EVENTS}"),
        ]
    );
    // What the Controller does with the error: a requeue with backoff, within the bounds.
    let meta = Arc::new(
        ObjectMeta {
            uid: Some("0b5c2a9e-0000-4000-8000-000000000001".into()),
            ..ObjectMeta::default()
        }
        .into_request_partial::<Secret>(),
    );
    let requeue = error_policy(meta, &err, w.ctx.clone());
    assert!(
        requeue != Action::await_change(),
        "a failure is retried: {requeue:?}"
    );
    assert_eq!(w.count("copied"), 0, "no transition was recorded");

    w.pass().await.expect("pass 2");
    assert_eq!(
        w.take(),
        [
            format!("kube GET {SECRET}"),
            "vault GET /v1/sys/health".into(),
            // Refused by check-and-set: the key has a version, nothing is written.
            format!("vault POST {KV_DATA}"),
            format!("vault GET {KV_DATA}"),
            // Provenance already carries our digest: read, not rewritten.
            format!("vault GET {KV_META}"),
            format!("kube PATCH {SECRET}"),
            format!("kube POST {EVENTS}"),
        ]
    );
    assert_eq!(w.vault.created(), 1, "no second Vault version");
    assert_eq!(w.count("already_copied"), 1);
    done(&w.script);
}
