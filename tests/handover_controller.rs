//! The handover controller end to end, in-process, against a REAL etcd + kube-apiserver and a
//! REAL OpenBao, all started by this test on free loopback ports (`tests/handover/mod.rs`).
//! Needs `VAULTGATE_E2E_BIN` (the bin dir printed by `bash tests/e2e/tools/build.sh`); without
//! it the test FAILS with that instruction, it never skips.
//!
//! The controller runs as the real ServiceAccount `vaultgate-system/vaultgate` (TokenRequest)
//! with least-privilege Roles, logs in to OpenBao with the Kubernetes auth method (checked by
//! the real apiserver's TokenReview), and two replicas compete for the Lease. Scenarios: happy
//! path, crash-after-write idempotency, superseded, no target, invalid target, dry run, retire
//! modes, sealed Vault (no state change, HandoverFailed, then completes once unsealed),
//! re-run changes nothing, failover to the second replica, lease released on shutdown.

mod handover;

use std::{collections::BTreeMap, future::Future, sync::Arc, time::Duration};

use handover::{Bao, ControlPlane};
use k8s_openapi::{
    ByteString,
    api::{
        authentication::v1::{TokenRequest, TokenRequestSpec},
        coordination::v1::Lease,
        core::v1::{Namespace, Secret, ServiceAccount},
        events::v1::Event,
        rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject},
    },
};
use kube::{
    Client, ResourceExt,
    api::{Api, ListParams, ObjectMeta, PostParams},
};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::watch;
use vaultgate::{
    controller::{
        Config, Handover, LeaseSettings, lease,
        metrics::HandoverMetrics,
        vault::{VaultAuth, VaultConfig},
    },
    policy::{Policy, handover::Settings},
};

const NS: &str = "vault";
const PRODUCT: &str = "vaultgate-system";
const CANARY: &str = "canary-4d1e-never-in-logs";

/// True when `text` holds the canary raw, base64-encoded (as a Secret's `data` carries it) or
/// hex-encoded: a value can leak in any of the three.
fn leaks(text: &str) -> bool {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(CANARY);
    let hex: String = CANARY.bytes().map(|b| format!("{b:02x}")).collect();
    [CANARY, b64.as_str(), hex.as_str()]
        .iter()
        .any(|needle| text.contains(needle))
}

#[test]
fn the_leak_detector_finds_raw_base64_and_hex_canaries() {
    use base64::Engine as _;
    assert!(leaks(&format!("x {CANARY} y")));
    assert!(leaks(
        &base64::engine::general_purpose::STANDARD.encode(CANARY)
    ));
    assert!(leaks(
        &CANARY
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    assert!(!leaks("canary-4d1e"));
}
const TIMEOUT: Duration = Duration::from_secs(90);

fn meta(name: &str, ns: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: ns.map(Into::into),
        ..Default::default()
    }
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str], names: &[&str]) -> PolicyRule {
    let v = |x: &[&str]| x.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(v(groups)),
        resources: Some(v(resources)),
        verbs: v(verbs),
        resource_names: (!names.is_empty()).then(|| v(names)),
        ..Default::default()
    }
}

/// Namespaces, the controller's ServiceAccount and its least-privilege Roles; returns a token.
async fn install(admin: &Client) -> String {
    for ns in [NS, PRODUCT] {
        Api::<Namespace>::all(admin.clone())
            .create(
                &PostParams::default(),
                &Namespace {
                    metadata: meta(ns, None),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), PRODUCT);
    sas.create(
        &PostParams::default(),
        &ServiceAccount {
            metadata: meta("vaultgate", Some(PRODUCT)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let roles = [
        // Watched bootstrap namespace: read, advance, retire; Events.
        (
            NS,
            vec![
                rule(
                    &[""],
                    &["secrets"],
                    &["get", "list", "watch", "patch", "delete"],
                    &[],
                ),
                rule(&["events.k8s.io"], &["events"], &["create", "patch"], &[]),
            ],
        ),
        // Product namespace: the digest key (create once, then read only that one) and the Lease.
        (
            PRODUCT,
            vec![
                rule(&[""], &["secrets"], &["create"], &[]),
                rule(&[""], &["secrets"], &["get"], &["vaultgate-digest-key"]),
                rule(&["coordination.k8s.io"], &["leases"], &["create"], &[]),
                rule(
                    &["coordination.k8s.io"],
                    &["leases"],
                    &["get", "update"],
                    &["vaultgate-handover"],
                ),
            ],
        ),
    ];
    for (ns, rules) in roles {
        Api::<Role>::namespaced(admin.clone(), ns)
            .create(
                &PostParams::default(),
                &Role {
                    metadata: meta("vaultgate-handover", Some(ns)),
                    rules: Some(rules),
                },
            )
            .await
            .unwrap();
        let binding = RoleBinding {
            metadata: meta("vaultgate-handover", Some(ns)),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "Role".into(),
                name: "vaultgate-handover".into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: "vaultgate".into(),
                namespace: Some(PRODUCT.into()),
                ..Default::default()
            }]),
        };
        Api::<RoleBinding>::namespaced(admin.clone(), ns)
            .create(&PostParams::default(), &binding)
            .await
            .unwrap();
    }
    let tr = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let tr = sas
        .create_token_request("vaultgate", &PostParams::default(), &tr)
        .await
        .unwrap();
    tr.status.and_then(|s| s.token).expect("TokenRequest token")
}

/// OpenBao: Kubernetes auth against the real apiserver, a policy limited to platform-data/.
async fn configure_bao(bao: &Bao, cp: &ControlPlane) {
    let ca = std::fs::read_to_string(&cp.ca).unwrap();
    let calls = [
        ("sys/auth/kubernetes", json!({ "type": "kubernetes" })),
        (
            "auth/kubernetes/config",
            json!({ "kubernetes_host": cp.url, "kubernetes_ca_cert": ca, "token_reviewer_jwt": cp.admin_token }),
        ),
        // cas=0 makes the write create-only; "update" is still needed so that a write to an
        // existing key reaches the check-and-set test (and is refused by it) instead of a 403.
        (
            "sys/policies/acl/vaultgate-handover",
            json!({ "policy": r#"
path "secret/data/platform-data/*"     { capabilities = ["create", "update", "read"] }
path "secret/metadata/platform-data/*" { capabilities = ["create", "update", "read"] }
"# }),
        ),
        (
            "auth/kubernetes/role/vaultgate-handover",
            json!({
                "bound_service_account_names": ["vaultgate"],
                "bound_service_account_namespaces": [PRODUCT],
                "token_policies": ["vaultgate-handover"],
                "token_ttl": "10m",
            }),
        ),
    ];
    for (path, body) in calls {
        let (status, resp) = bao.raw(Method::POST, path, Some(body)).await;
        assert!(
            status == 200 || status == 204,
            "bao {path}: {status} {resp}"
        );
    }
}

fn config(bao: &Bao, jwt_file: &std::path::Path, instance: &str) -> Config {
    Config {
        policy: Arc::new(Policy::default()),
        settings: Settings::default(),
        namespace: PRODUCT.into(),
        watch_namespaces: vec![NS.into()],
        cluster_name: "handover-test".into(),
        instance: instance.into(),
        vault: VaultConfig {
            addr: bao.addr.clone(),
            ca_cert: None,
            namespace: None,
            mount: "secret".into(),
            auth: VaultAuth::Kubernetes {
                role: "vaultgate-handover".into(),
                mount: "kubernetes".into(),
                jwt_file: jwt_file.to_owned(),
            },
            timeout: Duration::from_secs(5),
        },
        lease: Some(LeaseSettings {
            name: "vaultgate-handover".into(),
            duration: Duration::from_secs(15),
            retry: Duration::from_secs(1),
        }),
        retry_base: Duration::from_millis(300),
        retry_max: Duration::from_secs(2),
    }
}

/// One in-process replica.
struct Replica {
    name: &'static str,
    metrics: Arc<HandoverMetrics>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn replica(client: Client, cfg: Config, name: &'static str) -> Replica {
    let handover = Handover::prepare(client, cfg).await.unwrap();
    let metrics = handover.metrics();
    let (stop, mut rx) = watch::channel(false);
    let task = tokio::spawn(handover.run(async move {
        let _ = rx.wait_for(|s| *s).await;
    }));
    Replica {
        name,
        metrics,
        stop,
        task,
    }
}

impl Replica {
    async fn shutdown(self) {
        self.stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("replica stops in time")
            .unwrap()
            .unwrap();
    }
}

async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn bootstrap(
    name: &str,
    target: Option<&str>,
    extra: &[(&str, &str)],
    data: &[(&str, &str)],
) -> Secret {
    let p = Policy::default();
    let mut annotations = BTreeMap::new();
    if let Some(t) = target {
        annotations.insert(p.key("handover-to"), t.to_owned());
    }
    for (k, v) in extra {
        annotations.insert(p.key(k), (*v).to_owned());
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NS.into()),
            // As the admission webhook stamps a decrypter's write: the controller hands over
            // only a bootstrap class that was earned (stamped `bootstrap-source`).
            labels: Some(BTreeMap::from([
                (p.key("secret-class"), "bootstrap".into()),
                (p.key("bootstrap-source"), "sealed-secrets".into()),
            ])),
            annotations: Some(annotations),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

fn state(s: &Secret) -> Option<String> {
    s.labels()
        .get("platform.pnats.cloud/handover-state")
        .cloned()
}

async fn wait_state(secrets: &Api<Secret>, name: &str, want: &str) -> Secret {
    eventually(&format!("{name} to reach {want}"), || async {
        secrets
            .get_opt(name)
            .await
            .unwrap()
            .filter(|s| state(s).as_deref() == Some(want))
    })
    .await
}

async fn events_of(events: &Api<Event>, name: &str) -> Vec<Event> {
    let list = events.list(&ListParams::default()).await.unwrap();
    list.items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect()
}

async fn wait_event(events: &Api<Event>, name: &str, reason: &str) -> Event {
    eventually(&format!("event {reason} on {name}"), || async {
        events_of(events, name)
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason))
    })
    .await
}

async fn vault_data(bao: &Bao, path: &str) -> (u16, Value) {
    bao.raw(Method::GET, &format!("secret/data/{path}"), None)
        .await
}

fn leader_of<'a>(replicas: &'a [&'a Replica]) -> Option<&'a Replica> {
    let leaders: Vec<&Replica> = replicas
        .iter()
        .copied()
        .filter(|r| r.metrics.leader.get() == 1)
        .collect();
    assert!(leaders.len() <= 1, "two replicas lead at once");
    leaders.first().copied()
}

/// Every log line of the process at TRACE level (ours and every dependency's), kept in memory.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn install() -> Self {
        let logs = Self::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        logs
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handover_controller_against_a_real_apiserver_and_openbao() {
    let logs = Logs::install();
    let bin = handover::e2e_bin_dir();
    let cp = ControlPlane::start(&bin);
    let bao = Bao::start();
    let admin = cp.client("admin", &cp.admin_token).await;
    let token = install(&admin).await;
    configure_bao(&bao, &cp).await;
    let jwt_file = cp.dir.path().join("vaultgate.jwt");
    std::fs::write(&jwt_file, &token).unwrap();
    let sa_client = cp.client("vaultgate", &token).await;

    let secrets: Api<Secret> = Api::namespaced(admin.clone(), NS);
    let events: Api<Event> = Api::namespaced(admin.clone(), NS);
    let pp = PostParams::default();

    // Two replicas; exactly one leads.
    let a = replica(
        sa_client.clone(),
        config(&bao, &jwt_file, "replica-a"),
        "replica-a",
    )
    .await;
    let b = replica(
        sa_client.clone(),
        config(&bao, &jwt_file, "replica-b"),
        "replica-b",
    )
    .await;
    let first = eventually("a leader", || async {
        leader_of(&[&a, &b]).map(|r| r.name)
    })
    .await;
    let lease = Api::<Lease>::namespaced(admin.clone(), PRODUCT)
        .get("vaultgate-handover")
        .await
        .unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some(first));
    let (leader, follower) = if first == a.name { (a, b) } else { (b, a) };

    // 1. Happy path: copied, verified, retired inert, consumed; provenance in Vault; Events.
    secrets
        .create(
            &pp,
            &bootstrap(
                "db-root",
                Some("platform-data/postgres/temporal"),
                &[],
                &[("username", "admin"), ("password", CANARY)],
            ),
        )
        .await
        .unwrap();
    let done = wait_state(&secrets, "db-root", "consumed").await;
    assert!(
        done.data.as_ref().is_none_or(BTreeMap::is_empty),
        "inert: data emptied"
    );
    let ann = done.annotations();
    assert_eq!(
        ann.get("platform.pnats.cloud/vault-version")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(
        ann.get("platform.pnats.cloud/content-digest")
            .map(String::len),
        Some(64)
    );
    assert!(ann.contains_key("platform.pnats.cloud/handover-at"));
    let (status, stored) = vault_data(&bao, "platform-data/postgres/temporal").await;
    assert_eq!(status, 200);
    assert_eq!(
        stored["data"]["data"],
        json!({ "username": "admin", "password": CANARY })
    );
    let (_, md) = bao
        .raw(
            Method::GET,
            "secret/metadata/platform-data/postgres/temporal",
            None,
        )
        .await;
    let custom = &md["data"]["custom_metadata"];
    assert_eq!(custom["handover-source"], "vault/db-root");
    assert_eq!(
        custom["handover-source-uid"].as_str(),
        done.uid().as_deref()
    );
    assert_eq!(custom["handover-source-cluster"], "handover-test");
    assert_eq!(
        custom["handover-content-digest"].as_str(),
        ann.get("platform.pnats.cloud/content-digest")
            .map(String::as_str)
    );
    assert!(
        custom["handover-actor"]
            .as_str()
            .unwrap()
            .starts_with("system:serviceaccount:vaultgate-system:vaultgate@"),
        "{custom}"
    );
    assert!(!leaks(&md.to_string()));
    wait_event(&events, "db-root", "HandoverCopied").await;
    let consumed = wait_event(&events, "db-root", "HandoverConsumed").await;
    assert_eq!(consumed.reporting_instance.as_deref(), Some(leader.name));
    for e in events_of(&events, "db-root").await {
        assert!(!leaks(&e.note.unwrap_or_default()));
    }
    let text = leader.metrics.encode();
    assert!(
        text.contains("vaultgate_handovers_total{result=\"copied\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("vaultgate_handovers_total{result=\"consumed\"}"),
        "{text}"
    );
    assert!(!leaks(&text));

    // 2. Crash after the Vault write, before the Secret patch: the same value is already there.
    let (status, _) = bao
        .raw(
            Method::POST,
            "secret/data/platform-data/postgres/billing",
            Some(json!({ "options": { "cas": 0 }, "data": { "password": CANARY } })),
        )
        .await;
    assert_eq!(status, 200);
    secrets
        .create(
            &pp,
            &bootstrap(
                "billing-root",
                Some("platform-data/postgres/billing"),
                &[],
                &[("password", CANARY)],
            ),
        )
        .await
        .unwrap();
    wait_state(&secrets, "billing-root", "consumed").await;
    let copied = wait_event(&events, "billing-root", "HandoverCopied").await;
    assert!(copied.note.unwrap().contains("already holds"));
    let (_, md) = bao
        .raw(
            Method::GET,
            "secret/metadata/platform-data/postgres/billing",
            None,
        )
        .await;
    assert_eq!(
        md["data"]["current_version"], 1,
        "exactly one Vault version"
    );
    assert_eq!(
        md["data"]["custom_metadata"]["handover-source"], "vault/billing-root",
        "provenance recorded on the idempotent path"
    );

    // 3. Vault already holds a different value: superseded, never overwritten, still retired.
    let (status, _) = bao
        .raw(
            Method::POST,
            "secret/data/platform-data/redis/temporal",
            Some(json!({ "data": { "password": "rotated-in-vault" } })),
        )
        .await;
    assert_eq!(status, 200);
    secrets
        .create(
            &pp,
            &bootstrap(
                "redis-root",
                Some("platform-data/redis/temporal"),
                &[],
                &[("password", CANARY)],
            ),
        )
        .await
        .unwrap();
    let sup = wait_state(&secrets, "redis-root", "superseded").await;
    assert!(sup.data.as_ref().is_none_or(BTreeMap::is_empty));
    let warning = wait_event(&events, "redis-root", "HandoverSuperseded").await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let (_, stored) = vault_data(&bao, "platform-data/redis/temporal").await;
    assert_eq!(stored["data"]["data"]["password"], "rotated-in-vault");
    assert_eq!(stored["data"]["metadata"]["version"], 1);

    // 4. No target: left alone, reported once. 5. Invalid target: Warning, nothing written.
    secrets
        .create(
            &pp,
            &bootstrap("unseal-keys", None, &[], &[("key", CANARY)]),
        )
        .await
        .unwrap();
    secrets
        .create(
            &pp,
            &bootstrap(
                "bad-target",
                Some("platform-data/postgres"),
                &[],
                &[("password", CANARY)],
            ),
        )
        .await
        .unwrap();
    wait_event(&events, "unseal-keys", "HandoverPendingWithoutTarget").await;
    let invalid = wait_event(&events, "bad-target", "HandoverInvalidTarget").await;
    assert_eq!(invalid.type_.as_deref(), Some("Warning"));
    assert_eq!(vault_data(&bao, "platform-data/postgres").await.0, 404);
    for name in ["unseal-keys", "bad-target"] {
        let s = secrets.get(name).await.unwrap();
        assert_eq!(state(&s), None, "{name} untouched");
        assert_eq!(s.data.unwrap().len(), 1, "{name} intact");
    }

    // 6. A dry-run create is never persisted, so it never triggers anything.
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    secrets
        .create(
            &dry,
            &bootstrap(
                "dry-run",
                Some("platform-data/postgres/dry"),
                &[],
                &[("password", CANARY)],
            ),
        )
        .await
        .unwrap();

    // 7. Retire modes: delete and retain.
    secrets
        .create(
            &pp,
            &bootstrap(
                "delete-me",
                Some("platform-data/postgres/deleted"),
                &[("handover-retire", "delete")],
                &[("password", CANARY)],
            ),
        )
        .await
        .unwrap();
    secrets
        .create(
            &pp,
            &bootstrap(
                "keep-me",
                Some("platform-data/postgres/kept"),
                &[("handover-retire", "retain")],
                &[("password", CANARY)],
            ),
        )
        .await
        .unwrap();
    eventually("delete-me to be deleted", || async {
        secrets
            .get_opt("delete-me")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(
        vault_data(&bao, "platform-data/postgres/deleted").await.0,
        200
    );
    let kept = wait_state(&secrets, "keep-me", "consumed").await;
    assert_eq!(kept.data.unwrap().len(), 1, "retain keeps the data");
    assert_eq!(
        vault_data(&bao, "platform-data/postgres/dry").await.0,
        404,
        "dry run triggered nothing"
    );

    // 8. Sealed Vault: no state change, Secret intact, HandoverFailed; unsealed → completes.
    bao.seal().await;
    secrets
        .create(
            &pp,
            &bootstrap(
                "sealed-db",
                Some("platform-data/postgres/sealed"),
                &[],
                &[("password", CANARY)],
            ),
        )
        .await
        .unwrap();
    let failed = wait_event(&events, "sealed-db", "HandoverFailed").await;
    assert!(
        failed
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("sealed"),
        "{failed:?}"
    );
    assert!(!leaks(&failed.note.unwrap_or_default()));
    let s = secrets.get("sealed-db").await.unwrap();
    assert_eq!(state(&s), None, "state did not advance");
    assert_eq!(s.data.unwrap().len(), 1, "Secret intact");
    assert!(
        leader
            .metrics
            .encode()
            .contains("vaultgate_handover_failures_total{reason=\"vault_sealed\"}")
    );
    bao.unseal().await;
    wait_state(&secrets, "sealed-db", "consumed").await;
    assert_eq!(
        vault_data(&bao, "platform-data/postgres/sealed").await.1["data"]["data"]["password"],
        CANARY
    );

    // Gauges (refreshed every 5 s).
    eventually("the bootstrap_secrets gauge", || async {
        let text = leader.metrics.encode();
        (text.contains("vaultgate_bootstrap_secrets{state=\"consumed\"} 4")
            && text.contains("vaultgate_bootstrap_secrets{state=\"superseded\"} 1")
            && text.contains("vaultgate_bootstrap_secrets{state=\"pending-without-target\"} 1"))
        .then_some(())
    })
    .await;
    assert_eq!(follower.metrics.leader.get(), 0);
    assert!(
        !follower.metrics.encode().contains("result=\"copied\""),
        "the follower never acted"
    );

    // 9. Failover and re-run: the leader shuts down (releasing the lease), the follower takes
    //    over, reconciles everything again, and changes nothing.
    let before: BTreeMap<String, Option<String>> = secrets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|s| (s.name_any(), s.resource_version()))
        .collect();
    leader.shutdown().await;
    let lease = Api::<Lease>::namespaced(admin.clone(), PRODUCT)
        .get("vaultgate-handover")
        .await
        .unwrap();
    assert_ne!(
        lease.spec.unwrap().holder_identity.as_deref(),
        Some(first),
        "lease released on shutdown"
    );
    eventually("the follower to lead", || async {
        (follower.metrics.leader.get() == 1).then_some(())
    })
    .await;
    secrets
        .create(
            &pp,
            &bootstrap(
                "after-failover",
                Some("platform-data/postgres/failover"),
                &[],
                &[("password", CANARY)],
            ),
        )
        .await
        .unwrap();
    wait_state(&secrets, "after-failover", "consumed").await;
    let ev = wait_event(&events, "after-failover", "HandoverConsumed").await;
    assert_eq!(ev.reporting_instance.as_deref(), Some(follower.name));
    let after: BTreeMap<String, Option<String>> = secrets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|s| s.name_any() != "after-failover")
        .map(|s| (s.name_any(), s.resource_version()))
        .collect();
    assert_eq!(before, after, "the second run changed no Secret");
    for path in [
        "postgres/temporal",
        "postgres/billing",
        "redis/temporal",
        "postgres/sealed",
    ] {
        let (_, md) = bao
            .raw(
                Method::GET,
                &format!("secret/metadata/platform-data/{path}"),
                None,
            )
            .await;
        assert_eq!(
            md["data"]["current_version"], 1,
            "{path}: exactly one Vault version"
        );
    }
    follower.shutdown().await;
    let lease = Api::<Lease>::namespaced(admin.clone(), PRODUCT)
        .get("vaultgate-handover")
        .await
        .unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity, None, "lease released");

    // 10. A leader that dies without releasing: the other replica takes over only after a whole
    //     lease duration without renewals, measured on its own clock.
    let leases: Api<Lease> = Api::namespaced(admin.clone(), PRODUCT);
    let elector = |identity: &str| {
        lease::Elector::new(
            leases.clone(),
            lease::LeaseConfig {
                name: "crash-test".into(),
                identity: identity.into(),
                duration: Duration::from_secs(2),
                retry: Duration::from_millis(200),
            },
        )
    };
    let (mut dead, mut heir) = (elector("dead"), elector("heir"));
    assert!(dead.try_acquire_or_renew().await.unwrap());
    assert!(dead.try_acquire_or_renew().await.unwrap(), "renewal");
    let started = std::time::Instant::now();
    assert!(
        !heir.try_acquire_or_renew().await.unwrap(),
        "held by a live leader"
    );
    while !heir.try_acquire_or_renew().await.unwrap() {
        assert!(started.elapsed() < TIMEOUT, "the heir never took over");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "took over before the lease expired"
    );
    assert!(
        !dead.try_acquire_or_renew().await.unwrap(),
        "the old leader lost it"
    );
    let taken = leases.get("crash-test").await.unwrap().spec.unwrap();
    assert_eq!(taken.holder_identity.as_deref(), Some("heir"));
    assert_eq!(taken.lease_transitions, Some(1));

    // No value in any log line, at trace level, from any crate; one line per transition.
    let text = logs.text();
    if let Some(path) = std::env::var_os("VAULTGATE_TEST_LOG") {
        std::fs::write(path, &text).unwrap();
    }
    assert!(
        text.matches("handover transition").count() >= 10,
        "transition log lines missing:\n{text}"
    );
    assert!(!leaks(&text), "a secret value reached the logs");
    assert!(
        !text.contains(&token),
        "the service-account token reached the logs"
    );
    drop(cp);
}
