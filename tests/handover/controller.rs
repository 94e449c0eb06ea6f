//! The handover controller end to end, in-process, against a REAL etcd + kube-apiserver and a
//! REAL OpenBao, started once for all these tests on free loopback ports by
//! tests/e2e/control-plane.sh (`control_plane`, see [`env`]). Missing binaries FAIL the tests
//! with the fix; they never skip.
//!
//! The controller runs as a real ServiceAccount (TokenRequest) with least-privilege Roles and
//! logs in to OpenBao with the Kubernetes auth method (checked by the real apiserver's
//! TokenReview). One test per scenario, each in namespaces of its own ([`Scenario`]: a watched
//! bootstrap namespace `ho-<name>` and the controller's `ho-<name>-system` with its Lease), so
//! they run in parallel over the shared processes: happy path, crash-after-write idempotency,
//! superseded, no target, invalid target, dry run, the two retire modes, sealed Vault (on an
//! OpenBao of its own: no state change, HandoverFailed, then completes once unsealed), the state
//! gauges, failover with a re-run that changes nothing and the lease released on shutdown, and a
//! leader that dies without releasing. Every test ends by checking the whole process's TRACE
//! logs (every crate's) for the canary and its token ([`Scenario::finish`]).

use std::{
    collections::BTreeMap,
    future::Future,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock, Weak},
    time::Duration,
};

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

use crate::control_plane::{Bao, ControlPlane};

const CANARY: &str = "canary-4d1e-never-in-logs";
const TIMEOUT: Duration = Duration::from_secs(90);
const LEASE: &str = "vaultgate-handover";

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

// ------------------------------------------------------------------------------------------------
// The shared processes.

/// etcd + kube-apiserver and an OpenBao with Kubernetes auth against that apiserver, from one
/// launch: `control-plane.sh down --kill` stops them (by PID, the apiserver before etcd) once both
/// handles are dropped.
struct Env {
    bao: Bao,
    cp: ControlPlane,
}

/// The processes every test of this module shares. Each `#[tokio::test]` has a runtime of its
/// own, so only processes are shared (no client, no task): they start on first use and are killed
/// when the last running test drops its handle (a static is never dropped, so it holds only a
/// `Weak`). With `--test-threads=1` they restart per test, which costs time, not correctness.
fn env() -> Arc<Env> {
    static SHARED: Mutex<Weak<Env>> = Mutex::new(Weak::new());
    let mut shared = SHARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(env) = shared.upgrade() {
        return env;
    }
    let (cp, bao) = ControlPlane::start_with_bao();
    // Blocking in a test's runtime is fine here: this thread has nothing else to drive.
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(configure_bao_auth(&bao, &cp));
        })
        .join()
        .unwrap();
    });
    let env = Arc::new(Env { bao, cp });
    *shared = Arc::downgrade(&env);
    env
}

/// OpenBao: Kubernetes auth against the real apiserver, a policy limited to platform-data/.
/// Each scenario adds a role bound to its own ServiceAccount ([`bao_role`]).
async fn configure_bao_auth(bao: &Bao, cp: &ControlPlane) {
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
    ];
    for (path, body) in calls {
        bao_ok(bao, path, body).await;
    }
}

/// The OpenBao role the controller of `product` logs in with.
async fn bao_role(bao: &Bao, product: &str) {
    let body = json!({
        "bound_service_account_names": ["vaultgate"],
        "bound_service_account_namespaces": [product],
        "token_policies": ["vaultgate-handover"],
        "token_ttl": "10m",
    });
    bao_ok(bao, &format!("auth/kubernetes/role/{product}"), body).await;
}

async fn bao_ok(bao: &Bao, path: &str, body: Value) {
    let (status, resp) = bao.raw(Method::POST, path, Some(body)).await;
    assert!(
        status == 200 || status == 204,
        "bao {path}: {status} {resp}"
    );
}

// ------------------------------------------------------------------------------------------------
// Logs.

/// Every log line of the process at TRACE level (ours and every dependency's), kept in memory.
/// One global subscriber for the whole binary, installed by the first scenario.
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
    fn get() -> &'static Self {
        static LOGS: OnceLock<Logs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Self::default();
            let writer = logs.clone();
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .init();
            logs
        })
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

// ------------------------------------------------------------------------------------------------
// One scenario's world.

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

/// A scenario's namespaces, the controller's ServiceAccount there with its least-privilege Roles,
/// its OpenBao role, and clients; over the shared [`Env`] or, for the sealed-Vault scenario, an
/// OpenBao of its own.
struct Scenario {
    env: Arc<Env>,
    own_bao: Option<Bao>,
    /// The watched bootstrap namespace.
    ns: String,
    /// The controller's namespace (digest key, Lease).
    product: String,
    admin: Client,
    token: String,
    jwt_file: PathBuf,
    sa: Client,
    secrets: Api<Secret>,
    events: Api<Event>,
}

impl Scenario {
    async fn new(name: &str) -> Self {
        Self::start(name, false).await
    }

    /// With an OpenBao of its own, for a scenario that seals it.
    async fn with_own_bao(name: &str) -> Self {
        Self::start(name, true).await
    }

    async fn start(name: &str, own_bao: bool) -> Self {
        Logs::get();
        let env = env();
        let (ns, product) = (format!("ho-{name}"), format!("ho-{name}-system"));
        let admin = env.cp.client("admin", &env.cp.admin_token).await;
        let token = install(&admin, &ns, &product).await;
        let own_bao = if own_bao {
            let bao = Bao::start();
            configure_bao_auth(&bao, &env.cp).await;
            Some(bao)
        } else {
            None
        };
        let jwt_file = env.cp.dir.join(format!("{product}.jwt"));
        std::fs::write(&jwt_file, &token).unwrap();
        let sa = env.cp.client(&product, &token).await;
        let secrets = Api::namespaced(admin.clone(), &ns);
        let events = Api::namespaced(admin.clone(), &ns);
        let scenario = Self {
            env,
            own_bao,
            ns,
            product,
            admin,
            token,
            jwt_file,
            sa,
            secrets,
            events,
        };
        bao_role(scenario.bao(), &scenario.product).await;
        scenario
    }

    fn bao(&self) -> &Bao {
        self.own_bao.as_ref().unwrap_or(&self.env.bao)
    }

    fn config(&self, instance: &str) -> Config {
        Config {
            policy: Arc::new(Policy::default()),
            settings: Settings::default(),
            namespace: self.product.clone(),
            watch_namespaces: vec![self.ns.clone()],
            cluster_name: "handover-test".into(),
            instance: instance.into(),
            vault: VaultConfig {
                addr: self.bao().addr.clone(),
                ca_cert: None,
                namespace: None,
                mount: "secret".into(),
                auth: VaultAuth::Kubernetes {
                    role: self.product.clone(),
                    mount: "kubernetes".into(),
                    jwt_file: self.jwt_file.clone(),
                },
                timeout: Duration::from_secs(5),
            },
            lease: Some(LeaseSettings {
                name: LEASE.into(),
                duration: Duration::from_secs(15),
                retry: Duration::from_secs(1),
            }),
            retry_base: Duration::from_millis(300),
            retry_max: Duration::from_secs(2),
        }
    }

    /// One replica, running; it leads once it holds the Lease.
    async fn replica(&self, name: &'static str) -> Replica {
        let handover = Handover::prepare(self.sa.clone(), self.config(name))
            .await
            .unwrap();
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

    /// One replica that leads.
    async fn leader(&self) -> Replica {
        let r = self.replica("replica-a").await;
        eventually("the replica to lead", || async {
            (r.metrics.leader.get() == 1).then_some(())
        })
        .await;
        r
    }

    fn leases(&self) -> Api<Lease> {
        Api::namespaced(self.admin.clone(), &self.product)
    }

    async fn lease_holder(&self) -> Option<String> {
        self.leases()
            .get(LEASE)
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
    }

    /// A bootstrap Secret in the watched namespace, as a decrypter's write reaches the cluster.
    fn bootstrap(
        &self,
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
                namespace: Some(self.ns.clone()),
                // As the admission webhook stamps a decrypter's write: the controller hands
                // over only a bootstrap class that was earned (stamped `bootstrap-source`).
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

    async fn create(&self, secret: &Secret) {
        self.secrets
            .create(&PostParams::default(), secret)
            .await
            .unwrap();
    }

    async fn wait_state(&self, name: &str, want: &str) -> Secret {
        eventually(&format!("{name} to reach {want}"), || async {
            self.secrets
                .get_opt(name)
                .await
                .unwrap()
                .filter(|s| state(s).as_deref() == Some(want))
        })
        .await
    }

    async fn events_of(&self, name: &str) -> Vec<Event> {
        let list = self.events.list(&ListParams::default()).await.unwrap();
        list.items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .collect()
    }

    async fn wait_event(&self, name: &str, reason: &str) -> Event {
        eventually(&format!("event {reason} on {name}"), || async {
            self.events_of(name)
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some(reason))
        })
        .await
    }

    async fn vault_data(&self, path: &str) -> (u16, Value) {
        self.bao()
            .raw(Method::GET, &format!("secret/data/{path}"), None)
            .await
    }

    async fn vault_metadata(&self, path: &str) -> Value {
        self.bao()
            .raw(Method::GET, &format!("secret/metadata/{path}"), None)
            .await
            .1
    }

    /// A value written to Vault directly, as a person or another producer would.
    async fn vault_write(&self, path: &str, body: Value) {
        let (status, resp) = self
            .bao()
            .raw(Method::POST, &format!("secret/data/{path}"), Some(body))
            .await;
        assert_eq!(status, 200, "{resp}");
    }

    /// No value in any log line of the process so far, at trace level, from any crate, nor this
    /// scenario's service-account token; at least `transitions` transition lines for its
    /// namespace (one line per transition).
    fn finish(self, transitions: usize) {
        let text = Logs::get().text();
        if let Some(path) = std::env::var_os("VAULTGATE_TEST_LOG") {
            std::fs::write(path, &text).unwrap();
        }
        let ours = text
            .lines()
            .filter(|l| l.contains("handover transition") && l.contains(&self.ns))
            .count();
        assert!(
            ours >= transitions,
            "{ours} transition log lines for {}, expected at least {transitions}",
            self.ns
        );
        assert!(!leaks(&text), "a secret value reached the logs");
        assert!(
            !text.contains(&self.token),
            "the service-account token reached the logs"
        );
    }
}

/// Namespaces, the controller's ServiceAccount and its least-privilege Roles; returns a token.
async fn install(admin: &Client, ns: &str, product: &str) -> String {
    for name in [ns, product] {
        Api::<Namespace>::all(admin.clone())
            .create(
                &PostParams::default(),
                &Namespace {
                    metadata: meta(name, None),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), product);
    sas.create(
        &PostParams::default(),
        &ServiceAccount {
            metadata: meta("vaultgate", Some(product)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let roles = [
        // Watched bootstrap namespace: read, advance, retire; Events.
        (
            ns,
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
            product,
            vec![
                rule(&[""], &["secrets"], &["create"], &[]),
                rule(&[""], &["secrets"], &["get"], &["vaultgate-digest-key"]),
                rule(&["coordination.k8s.io"], &["leases"], &["create"], &[]),
                rule(
                    &["coordination.k8s.io"],
                    &["leases"],
                    &["get", "update"],
                    &[LEASE],
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
                namespace: Some(product.into()),
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

/// One in-process replica.
struct Replica {
    name: &'static str,
    metrics: Arc<HandoverMetrics>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
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

fn state(s: &Secret) -> Option<String> {
    s.labels()
        .get("platform.pnats.cloud/handover-state")
        .cloned()
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

// ------------------------------------------------------------------------------------------------
// Scenarios.

/// Copied, verified, retired inert, consumed; provenance in Vault; Events; metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_copies_verifies_and_retires() {
    let t = Scenario::new("happy").await;
    let leader = t.leader().await;
    t.create(&t.bootstrap(
        "db-root",
        Some("platform-data/postgres/temporal"),
        &[],
        &[("username", "admin"), ("password", CANARY)],
    ))
    .await;
    let done = t.wait_state("db-root", "consumed").await;
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
    let (status, stored) = t.vault_data("platform-data/postgres/temporal").await;
    assert_eq!(status, 200);
    assert_eq!(
        stored["data"]["data"],
        json!({ "username": "admin", "password": CANARY })
    );
    let md = t.vault_metadata("platform-data/postgres/temporal").await;
    let custom = &md["data"]["custom_metadata"];
    assert_eq!(custom["handover-source"], format!("{}/db-root", t.ns));
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
            .starts_with(&format!("system:serviceaccount:{}:vaultgate@", t.product)),
        "{custom}"
    );
    assert!(!leaks(&md.to_string()));
    t.wait_event("db-root", "HandoverCopied").await;
    let consumed = t.wait_event("db-root", "HandoverConsumed").await;
    assert_eq!(consumed.reporting_instance.as_deref(), Some(leader.name));
    for e in t.events_of("db-root").await {
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
    leader.shutdown().await;
    t.finish(2);
}

/// A crash after the Vault write, before the Secret patch: the same value is already there, so
/// the Secret is consumed without a second Vault version, and provenance is still recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_vault_write_is_idempotent() {
    let t = Scenario::new("crash").await;
    let leader = t.leader().await;
    t.vault_write(
        "platform-data/postgres/billing",
        json!({ "options": { "cas": 0 }, "data": { "password": CANARY } }),
    )
    .await;
    t.create(&t.bootstrap(
        "billing-root",
        Some("platform-data/postgres/billing"),
        &[],
        &[("password", CANARY)],
    ))
    .await;
    t.wait_state("billing-root", "consumed").await;
    let copied = t.wait_event("billing-root", "HandoverCopied").await;
    assert!(copied.note.unwrap().contains("already holds"));
    let md = t.vault_metadata("platform-data/postgres/billing").await;
    assert_eq!(
        md["data"]["current_version"], 1,
        "exactly one Vault version"
    );
    assert_eq!(
        md["data"]["custom_metadata"]["handover-source"],
        format!("{}/billing-root", t.ns),
        "provenance recorded on the idempotent path"
    );
    leader.shutdown().await;
    t.finish(1);
}

/// Vault already holds a different value: superseded, never overwritten, still retired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_value_in_vault_is_superseded_never_overwritten() {
    let t = Scenario::new("superseded").await;
    let leader = t.leader().await;
    t.vault_write(
        "platform-data/redis/temporal",
        json!({ "data": { "password": "rotated-in-vault" } }),
    )
    .await;
    t.create(&t.bootstrap(
        "redis-root",
        Some("platform-data/redis/temporal"),
        &[],
        &[("password", CANARY)],
    ))
    .await;
    let sup = t.wait_state("redis-root", "superseded").await;
    assert!(sup.data.as_ref().is_none_or(BTreeMap::is_empty));
    let warning = t.wait_event("redis-root", "HandoverSuperseded").await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let (_, stored) = t.vault_data("platform-data/redis/temporal").await;
    assert_eq!(stored["data"]["data"]["password"], "rotated-in-vault");
    assert_eq!(stored["data"]["metadata"]["version"], 1);
    leader.shutdown().await;
    t.finish(1);
}

/// No target: left alone, reported once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_target_is_left_alone_and_reported() {
    let t = Scenario::new("no-target").await;
    let leader = t.leader().await;
    t.create(&t.bootstrap("unseal-keys", None, &[], &[("key", CANARY)]))
        .await;
    t.wait_event("unseal-keys", "HandoverPendingWithoutTarget")
        .await;
    let s = t.secrets.get("unseal-keys").await.unwrap();
    assert_eq!(state(&s), None, "unseal-keys untouched");
    assert_eq!(s.data.unwrap().len(), 1, "unseal-keys intact");
    leader.shutdown().await;
    t.finish(0);
}

/// An invalid target: a Warning, nothing written, the Secret untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_target_warns_and_writes_nothing() {
    let t = Scenario::new("bad-target").await;
    let leader = t.leader().await;
    t.create(&t.bootstrap(
        "bad-target",
        Some("platform-data/postgres"),
        &[],
        &[("password", CANARY)],
    ))
    .await;
    let invalid = t.wait_event("bad-target", "HandoverInvalidTarget").await;
    assert_eq!(invalid.type_.as_deref(), Some("Warning"));
    assert_eq!(t.vault_data("platform-data/postgres").await.0, 404);
    let s = t.secrets.get("bad-target").await.unwrap();
    assert_eq!(state(&s), None, "bad-target untouched");
    assert_eq!(s.data.unwrap().len(), 1, "bad-target intact");
    leader.shutdown().await;
    t.finish(0);
}

/// A dry-run create is never persisted, so it never triggers anything: once a later real Secret
/// has been handed over, the dry run's target is still empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_create_triggers_nothing() {
    let t = Scenario::new("dry-run").await;
    let leader = t.leader().await;
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    t.secrets
        .create(
            &dry,
            &t.bootstrap(
                "dry-run",
                Some("platform-data/postgres/dry"),
                &[],
                &[("password", CANARY)],
            ),
        )
        .await
        .unwrap();
    t.create(&t.bootstrap(
        "after-dry-run",
        Some("platform-data/postgres/after-dry"),
        &[],
        &[("password", CANARY)],
    ))
    .await;
    t.wait_state("after-dry-run", "consumed").await;
    assert_eq!(
        t.vault_data("platform-data/postgres/dry").await.0,
        404,
        "dry run triggered nothing"
    );
    assert!(t.secrets.get_opt("dry-run").await.unwrap().is_none());
    leader.shutdown().await;
    t.finish(1);
}

/// Retire mode `delete`: the Secret is deleted once Vault holds the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retire_delete_deletes_the_secret() {
    let t = Scenario::new("delete").await;
    let leader = t.leader().await;
    t.create(&t.bootstrap(
        "delete-me",
        Some("platform-data/postgres/deleted"),
        &[("handover-retire", "delete")],
        &[("password", CANARY)],
    ))
    .await;
    eventually("delete-me to be deleted", || async {
        t.secrets
            .get_opt("delete-me")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(t.vault_data("platform-data/postgres/deleted").await.0, 200);
    leader.shutdown().await;
    t.finish(1);
}

/// Retire mode `retain`: consumed, and the data is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retire_retain_keeps_the_data() {
    let t = Scenario::new("retain").await;
    let leader = t.leader().await;
    t.create(&t.bootstrap(
        "keep-me",
        Some("platform-data/postgres/kept"),
        &[("handover-retire", "retain")],
        &[("password", CANARY)],
    ))
    .await;
    let kept = t.wait_state("keep-me", "consumed").await;
    assert_eq!(kept.data.unwrap().len(), 1, "retain keeps the data");
    assert_eq!(t.vault_data("platform-data/postgres/kept").await.0, 200);
    leader.shutdown().await;
    t.finish(1);
}

/// Sealed Vault: no state change, Secret intact, HandoverFailed; once unsealed it completes. On an
/// OpenBao of its own, so sealing it does not fail the scenarios running beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_vault_changes_nothing_then_completes_once_unsealed() {
    let t = Scenario::with_own_bao("sealed").await;
    let leader = t.leader().await;
    t.bao().seal().await;
    t.create(&t.bootstrap(
        "sealed-db",
        Some("platform-data/postgres/sealed"),
        &[],
        &[("password", CANARY)],
    ))
    .await;
    let failed = t.wait_event("sealed-db", "HandoverFailed").await;
    assert!(
        failed
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("sealed"),
        "{failed:?}"
    );
    assert!(!leaks(&failed.note.unwrap_or_default()));
    let s = t.secrets.get("sealed-db").await.unwrap();
    assert_eq!(state(&s), None, "state did not advance");
    assert_eq!(s.data.unwrap().len(), 1, "Secret intact");
    assert!(
        leader
            .metrics
            .encode()
            .contains("vaultgate_handover_failures_total{reason=\"vault_sealed\"}")
    );
    t.bao().unseal().await;
    t.wait_state("sealed-db", "consumed").await;
    assert_eq!(
        t.vault_data("platform-data/postgres/sealed").await.1["data"]["data"]["password"],
        CANARY
    );
    leader.shutdown().await;
    t.finish(1);
}

/// The `vaultgate_bootstrap_secrets{state}` gauges (refreshed every 5 s) count each state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_gauges_count_each_state() {
    let t = Scenario::new("gauges").await;
    let leader = t.leader().await;
    t.vault_write(
        "platform-data/gauges/superseded",
        json!({ "data": { "password": "rotated-in-vault" } }),
    )
    .await;
    for (name, target) in [
        ("consumed-1", Some("platform-data/gauges/one")),
        ("consumed-2", Some("platform-data/gauges/two")),
        ("superseded", Some("platform-data/gauges/superseded")),
        ("no-target", None),
    ] {
        t.create(&t.bootstrap(name, target, &[], &[("password", CANARY)]))
            .await;
    }
    eventually("the bootstrap_secrets gauge", || async {
        let text = leader.metrics.encode();
        (text.contains("vaultgate_bootstrap_secrets{state=\"consumed\"} 2")
            && text.contains("vaultgate_bootstrap_secrets{state=\"superseded\"} 1")
            && text.contains("vaultgate_bootstrap_secrets{state=\"pending-without-target\"} 1"))
        .then_some(())
    })
    .await;
    leader.shutdown().await;
    t.finish(3);
}

/// Two replicas: exactly one leads and the follower never acts. Failover and re-run: the leader
/// shuts down (releasing the lease), the follower takes over, reconciles everything again and
/// changes nothing, then hands over a new Secret itself; its shutdown releases the lease too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_re_runs_without_changes_and_releases_the_lease() {
    let t = Scenario::new("failover").await;
    let a = t.replica("replica-a").await;
    let b = t.replica("replica-b").await;
    let first = eventually("a leader", || async {
        leader_of(&[&a, &b]).map(|r| r.name)
    })
    .await;
    assert_eq!(t.lease_holder().await.as_deref(), Some(first));
    let (leader, follower) = if first == a.name { (a, b) } else { (b, a) };

    // A world for the follower to re-run over: consumed, superseded, pending without target.
    t.vault_write(
        "platform-data/failover/superseded",
        json!({ "data": { "password": "rotated-in-vault" } }),
    )
    .await;
    for (name, target) in [
        ("consumed", Some("platform-data/failover/consumed")),
        ("superseded", Some("platform-data/failover/superseded")),
        ("no-target", None),
    ] {
        t.create(&t.bootstrap(name, target, &[], &[("password", CANARY)]))
            .await;
    }
    t.wait_state("consumed", "consumed").await;
    t.wait_state("superseded", "superseded").await;
    t.wait_event("no-target", "HandoverPendingWithoutTarget")
        .await;
    assert_eq!(follower.metrics.leader.get(), 0);
    assert!(
        !follower.metrics.encode().contains("result=\"copied\""),
        "the follower never acted"
    );

    let before: BTreeMap<String, Option<String>> = t
        .secrets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|s| (s.name_any(), s.resource_version()))
        .collect();
    leader.shutdown().await;
    assert_ne!(
        t.lease_holder().await.as_deref(),
        Some(first),
        "lease released on shutdown"
    );
    eventually("the follower to lead", || async {
        (follower.metrics.leader.get() == 1).then_some(())
    })
    .await;
    t.create(&t.bootstrap(
        "after-failover",
        Some("platform-data/failover/after"),
        &[],
        &[("password", CANARY)],
    ))
    .await;
    t.wait_state("after-failover", "consumed").await;
    let ev = t.wait_event("after-failover", "HandoverConsumed").await;
    assert_eq!(ev.reporting_instance.as_deref(), Some(follower.name));
    let after: BTreeMap<String, Option<String>> = t
        .secrets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|s| s.name_any() != "after-failover")
        .map(|s| (s.name_any(), s.resource_version()))
        .collect();
    assert_eq!(before, after, "the second run changed no Secret");
    for path in ["failover/consumed", "failover/superseded"] {
        let md = t.vault_metadata(&format!("platform-data/{path}")).await;
        assert_eq!(
            md["data"]["current_version"], 1,
            "{path}: exactly one Vault version"
        );
    }
    follower.shutdown().await;
    assert_eq!(t.lease_holder().await, None, "lease released");
    t.finish(3);
}

/// A leader that dies without releasing: the other replica takes over only after a whole lease
/// duration without renewals, measured on its own clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_leader_is_replaced_only_after_the_lease_expires() {
    let t = Scenario::new("lease").await;
    let leases = t.leases();
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
    t.finish(0);
}
