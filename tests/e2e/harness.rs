//! What every e2e test shares: the environment `tests/e2e/run.sh` exports, API clients for
//! real identities (client certificates for humans, TokenRequest tokens for service accounts),
//! kubectl as a developer runs it, object builders and assertions on the denial text.
//!
//! Missing harness variables are a test failure, never a skip.

use std::{
    collections::hash_map::RandomState,
    fmt::Debug,
    hash::{BuildHasher, Hasher},
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::{Namespace, ServiceAccount},
};
use kube::{
    Client, Config,
    api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    core::Status,
};
use serde_json::{Value, json};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The three webhooks of manifests/base, by the name kubectl quotes in a denial.
pub const SECRETS_VALIDATE: &str = "secrets.validate.vaultgate.platform.pnats.cloud";
pub const ESO_VALIDATE: &str = "eso.validate.vaultgate.platform.pnats.cloud";
pub const SECRETS_MUTATE: &str = "secrets.mutate.vaultgate.platform.pnats.cloud";

/// vaultgate's label/annotation prefix (the default policy's).
pub const P: &str = "platform.pnats.cloud/";

/// Service accounts the default policy knows, as (namespace, name).
pub const ESO: (&str, &str) = ("external-secrets", "external-secrets");
pub const ARGOCD: (&str, &str) = ("argocd", "argocd-application-controller");
pub const SEALED_SECRETS: (&str, &str) = ("kube-system", "sealed-secrets-controller");
pub const TEKTON: (&str, &str) = ("tekton-pipelines", "pipeline-runner");
/// Registered as an `internal` operator in tests/e2e/policy.yaml.
pub const CNPG: (&str, &str) = ("cnpg-system", "cnpg-manager");

/// The Vault store the harness installs (as Argo CD) before the suite runs.
pub const VAULT_STORE: &str = "vault-backend";

/// What run.sh exports.
pub struct Env {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    pub vault_addr: String,
    pub vault_token: String,
    pub webhook_url: String,
    pub webhook_ca: PathBuf,
    pub webhook_pidfile: PathBuf,
    pub webhook_start: PathBuf,
    /// mTLS: the probe client certificate of the CA vaultgate's `--client-ca` trusts.
    pub webhook_client_cert: PathBuf,
    pub webhook_client_key: PathBuf,
    /// `http://127.0.0.1:PORT`: vaultgate's plain-HTTP `--probe-listen` port.
    pub webhook_probe_url: String,
    /// Every Secret value the suite writes starts with it ([`canary_value`]); run.sh scans the
    /// logs, events and /metrics for it after the run.
    pub canary: String,
    /// The policy file vaultgate serves with (a copy of tests/e2e/policy.yaml), re-read on
    /// change: a test that rewrites it holds the lock exclusively and puts it back.
    pub policy: PathBuf,
}

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set. The e2e suite needs the live control plane its harness starts: \
             run `bash tests/e2e/run.sh` (it builds etcd, kube-apiserver, kubectl and OpenBao, starts \
             them with vaultgate and exports {name} and the other VAULTGATE_E2E_* variables)"
        ),
    }
}

fn path_var(name: &str) -> PathBuf {
    let p = PathBuf::from(var(name));
    assert!(
        p.exists(),
        "{name}={} does not exist; is the harness (tests/e2e/run.sh) still running?",
        p.display()
    );
    p
}

pub fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| Env {
        dir: path_var("VAULTGATE_E2E_DIR"),
        kubeconfig: path_var("KUBECONFIG"),
        kubectl: path_var("VAULTGATE_E2E_KUBECTL"),
        vault_addr: var("VAULT_ADDR"),
        vault_token: var("VAULT_TOKEN"),
        webhook_url: var("VAULTGATE_E2E_WEBHOOK_URL"),
        webhook_ca: path_var("VAULTGATE_E2E_WEBHOOK_CA"),
        webhook_pidfile: path_var("VAULTGATE_E2E_WEBHOOK_PIDFILE"),
        webhook_start: path_var("VAULTGATE_E2E_WEBHOOK_START"),
        webhook_client_cert: path_var("VAULTGATE_E2E_WEBHOOK_CLIENT_CERT"),
        webhook_client_key: path_var("VAULTGATE_E2E_WEBHOOK_CLIENT_KEY"),
        webhook_probe_url: var("VAULTGATE_E2E_WEBHOOK_PROBE_URL"),
        policy: path_var("VAULTGATE_E2E_POLICY"),
        canary: {
            let c = var("VAULTGATE_E2E_CANARY");
            assert!(
                c.len() >= 8,
                "VAULTGATE_E2E_CANARY={c:?} is too short to be distinctive"
            );
            c
        },
    })
}

// ------------------------------------------------------------------ isolation

/// Tests take this shared; the one test that stops vaultgate takes it exclusively, so no other
/// test sees the webhook down.
static CLUSTER: RwLock<()> = RwLock::const_new(());

pub async fn shared() -> RwLockReadGuard<'static, ()> {
    CLUSTER.read().await
}

pub async fn exclusive() -> RwLockWriteGuard<'static, ()> {
    CLUSTER.write().await
}

// ------------------------------------------------------------------ names

/// `prefix-<10 hex>`: unique per call and per run.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    // Hex digits only: no accidental environment word (prod, test, ...) in a Vault path.
    format!("{prefix}-{:010x}", h.finish() & 0xff_ffff_ffff)
}

// ------------------------------------------------------------------ clients and identities

pub async fn client_from(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig)
        .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", kubeconfig.display()));
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("kubeconfig {}: {e}", kubeconfig.display()));
    Client::try_from(config).expect("kube client")
}

/// The harness admin (static token, system:masters). Sets up; never the writer under test
/// unless a test says so.
pub async fn admin() -> Client {
    client_from(&env().kubeconfig).await
}

/// A real identity: its username as the apiserver sees it, a kubeconfig for kubectl and a client.
pub struct Identity {
    pub username: String,
    pub kubeconfig: PathBuf,
    pub client: Client,
}

impl Identity {
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Kubectl {
        kubectl(&self.kubeconfig, args, stdin)
    }
}

/// A human with a CA-signed client certificate (alice, bob: O=developers; ci-robot: O=ci).
pub async fn human(name: &str) -> Identity {
    let kubeconfig = env().dir.join("kube").join(format!("{name}.kubeconfig"));
    assert!(
        kubeconfig.exists(),
        "no kubeconfig for {name} at {}: run.sh mints alice, bob and ci-robot",
        kubeconfig.display()
    );
    Identity {
        username: name.to_owned(),
        client: client_from(&kubeconfig).await,
        kubeconfig,
    }
}

/// A service account with a real bound token from the TokenRequest API (not impersonation):
/// the namespace and the ServiceAccount are created if missing.
pub async fn service_account((ns, name): (&str, &str)) -> Identity {
    let admin = admin().await;
    ensure_namespace(&admin, ns).await;
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), ns);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}})).unwrap();
    match sas.create(&PostParams::default(), &sa).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.is_already_exists() => {}
        Err(e) => panic!("creating ServiceAccount {ns}/{name}: {e}"),
    }
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let token = sas
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("TokenRequest for {ns}/{name}: {e}"))
        .status
        .and_then(|s| s.token)
        .unwrap_or_else(|| panic!("TokenRequest for {ns}/{name} returned no token"));
    let admin_kc = std::fs::read_to_string(&env().kubeconfig).expect("admin kubeconfig");
    let server = admin_kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("server in admin kubeconfig");
    let ca = admin_kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority: "))
        .expect("certificate-authority in admin kubeconfig");
    let username = format!("system:serviceaccount:{ns}:{name}");
    let kubeconfig = env()
        .dir
        .join("kube")
        .join(format!("{}.kubeconfig", unique(&format!("sa-{ns}-{name}"))));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n  - name: e2e\n    cluster:\n      server: {server}\n      certificate-authority: {ca}\n\
         users:\n  - name: {name}\n    user:\n      token: {token}\ncontexts:\n  - name: e2e\n    context: {{cluster: e2e, user: {name}}}\n\
         current-context: e2e\n"
    );
    std::fs::write(&kubeconfig, text).expect("write service-account kubeconfig");
    Identity {
        username,
        client: client_from(&kubeconfig).await,
        kubeconfig,
    }
}

// ------------------------------------------------------------------ namespaces

pub async fn ensure_namespace(admin: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(admin.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.is_already_exists() => {}
        Err(e) => panic!("creating namespace {name}: {e}"),
    }
}

/// A fresh namespace `prefix-<hex>` for one test (there is no namespace controller to delete it).
pub async fn namespace(admin: &Client, prefix: &str) -> String {
    let name = unique(prefix);
    ensure_namespace(admin, &name).await;
    name
}

// ------------------------------------------------------------------ dynamic objects

/// (plural, namespaced) of every kind the suite writes.
fn resource(api_version: &str, kind: &str) -> (ApiResource, bool) {
    let (plural, namespaced) = match kind {
        "Secret" => ("secrets", true),
        "ExternalSecret" => ("externalsecrets", true),
        "ClusterExternalSecret" => ("clusterexternalsecrets", false),
        "SecretStore" => ("secretstores", true),
        "ClusterSecretStore" => ("clustersecretstores", false),
        "PushSecret" => ("pushsecrets", true),
        "ClusterPushSecret" => ("clusterpushsecrets", false),
        "SealedSecret" => ("sealedsecrets", true),
        "Deployment" => ("deployments", true),
        other => panic!("the e2e harness does not know the kind {other}"),
    };
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    (
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural),
        namespaced,
    )
}

pub fn dynamic_api(
    client: &Client,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    let (ar, namespaced) = resource(api_version, kind);
    match (namespaced, namespace) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
        (false, _) => Api::all_with(client.clone(), &ar),
        (true, None) => panic!("{kind} is namespaced: give a namespace"),
    }
}

fn api_for(client: &Client, obj: &Value) -> Api<DynamicObject> {
    let api_version = obj["apiVersion"].as_str().expect("apiVersion");
    let kind = obj["kind"].as_str().expect("kind");
    dynamic_api(
        client,
        api_version,
        kind,
        obj["metadata"]["namespace"].as_str(),
    )
}

fn describe(obj: &Value) -> String {
    let ns = obj["metadata"]["namespace"]
        .as_str()
        .map(|n| format!("{n}/"))
        .unwrap_or_default();
    format!(
        "{} {ns}{}",
        obj["kind"].as_str().unwrap_or("?"),
        obj["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// POST the object as `client`'s identity.
pub async fn create(client: &Client, obj: &Value) -> kube::Result<DynamicObject> {
    let dynamic: DynamicObject =
        serde_json::from_value(obj.clone()).expect("object is a valid Kubernetes object");
    api_for(client, obj)
        .create(&PostParams::default(), &dynamic)
        .await
}

/// POST the object as `client`'s identity, recorded under field manager `manager` (as
/// `kubectl --field-manager` or a GitOps controller sets it).
pub async fn create_as_manager(
    client: &Client,
    obj: &Value,
    manager: &str,
) -> kube::Result<DynamicObject> {
    let dynamic: DynamicObject =
        serde_json::from_value(obj.clone()).expect("object is a valid Kubernetes object");
    let params = PostParams {
        field_manager: Some(manager.to_owned()),
        ..PostParams::default()
    };
    api_for(client, obj).create(&params, &dynamic).await
}

/// POST with `?dryRun=All`.
pub async fn create_dry_run(client: &Client, obj: &Value) -> kube::Result<DynamicObject> {
    let dynamic: DynamicObject =
        serde_json::from_value(obj.clone()).expect("object is a valid Kubernetes object");
    api_for(client, obj)
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &dynamic,
        )
        .await
}

/// PUT (replace) the object as `client`'s identity.
pub async fn replace(client: &Client, obj: &Value) -> kube::Result<DynamicObject> {
    let dynamic: DynamicObject =
        serde_json::from_value(obj.clone()).expect("object is a valid Kubernetes object");
    let name = obj["metadata"]["name"].as_str().expect("metadata.name");
    api_for(client, obj)
        .replace(name, &PostParams::default(), &dynamic)
        .await
}

/// Creates an object that must be admitted. vaultgate judges against a watch-fed view of the
/// cluster, so an object that depends on one created just before (an owner, a store, a source
/// Secret) may need a moment: retry denials for up to 15 s, then fail with the last one.
pub async fn create_admitted(client: &Client, obj: &Value) -> DynamicObject {
    admitted(client, obj, false).await
}

/// [`create_admitted`] with `?dryRun=All`: returns the object as it would have been stored.
pub async fn create_admitted_dry_run(client: &Client, obj: &Value) -> DynamicObject {
    admitted(client, obj, true).await
}

async fn admitted(client: &Client, obj: &Value, dry_run: bool) -> DynamicObject {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let result = if dry_run {
            create_dry_run(client, obj).await
        } else {
            create(client, obj).await
        };
        match result {
            Ok(created) => return created,
            Err(kube::Error::Api(s))
                if s.code == 403
                    && s.message.contains("vaultgate denied")
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!(
                "{} should have been admitted, got: {}",
                describe(obj),
                error_text(&e)
            ),
        }
    }
}

/// GET as admin; `None` on 404.
pub async fn get(
    admin: &Client,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> Option<Value> {
    match dynamic_api(admin, api_version, kind, namespace)
        .get(name)
        .await
    {
        Ok(o) => Some(serde_json::to_value(o).expect("object to JSON")),
        Err(kube::Error::Api(s)) if s.is_not_found() => None,
        Err(e) => panic!("GET {kind} {namespace:?}/{name}: {e}"),
    }
}

pub async fn get_secret(admin: &Client, ns: &str, name: &str) -> Option<Value> {
    get(admin, "v1", "Secret", Some(ns), name).await
}

pub fn uid(obj: &DynamicObject) -> String {
    obj.metadata.uid.clone().expect("created object has a uid")
}

// ------------------------------------------------------------------ builders

pub fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `value` as the suite writes it: behind the run's canary, so that tests/e2e/canary_scan.py
/// finds it (raw, base64 or hex) wherever vaultgate, the apiserver or a controller might leak
/// it. Keep `value` short: with the canary it must stay below policy.yaml's 40-byte
/// `minValueLength`, or equal values in two tests would look like a content copy (VG109).
pub fn canary_value(value: &str) -> String {
    format!("{}{value}", env().canary)
}

/// An Opaque Secret with `data`: each value is [`canary_value`]`(v)`, base64-encoded here.
pub fn secret(ns: &str, name: &str, data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(b64(&canary_value(v)))))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
           "metadata": {"name": name, "namespace": ns}, "data": data})
}

/// The same Secret as a YAML manifest, the way a developer writes it for `kubectl apply`
/// (`stringData`, each value [`canary_value`]`(v)`).
pub fn secret_yaml(ns: &str, name: &str, string_data: &[(&str, &str)]) -> String {
    let mut y = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\ntype: Opaque\nstringData:\n"
    );
    for (k, v) in string_data {
        y.push_str(&format!("  {k}: {:?}\n", canary_value(v)));
    }
    y
}

pub fn owner_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> Value {
    json!([{"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}])
}

/// A SealedSecret from Git with one encrypted `key` (no controller runs here: it is the owner a
/// decrypted bootstrap Secret names).
pub fn sealed_secret(ns: &str, name: &str, key: &str) -> Value {
    json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"encryptedData": {key: "AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq"}}
    })
}

/// A conforming ExternalSecret: the approved Vault ClusterSecretStore, one explicit key.
pub fn external_secret(ns: &str, name: &str, key: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": VAULT_STORE},
            "target": {"name": name, "creationPolicy": "Owner"},
            "data": [{"secretKey": "password", "remoteRef": {"key": key, "property": "password"}}]
        }
    })
}

/// A conforming PushSecret: `source` key `password` to `remote_key`/`property` in the Vault store.
pub fn push_secret(ns: &str, name: &str, source: &str, remote_key: &str, property: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRefs": [{"kind": "ClusterSecretStore", "name": VAULT_STORE}],
            "selector": {"secret": {"name": source}},
            "data": [{"match": {"secretKey": property, "remoteRef": {"remoteKey": remote_key, "property": property}}}]
        }
    })
}

// ------------------------------------------------------------------ denials

/// The human-readable text of a client error (the apiserver's Status message for API errors).
pub fn error_text(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other => other.to_string(),
    }
}

/// Rule ids of a vaultgate denial or warning text, in order: lines that start with `[VGnnn`.
pub fn rule_ids(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start_matches("Warning: ").strip_prefix('['))
        .filter(|l| l.starts_with("VG"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Asserts the write was refused by vaultgate's `webhook` with exactly `ids`; returns the Status.
pub fn assert_denied<T: Debug>(
    result: kube::Result<T>,
    webhook: &str,
    ids: &[&str],
    what: &str,
) -> Box<Status> {
    let status = match result {
        Ok(o) => panic!(
            "{what}: expected a denial by {webhook} with {ids:?}, but the write was admitted: {o:?}"
        ),
        Err(kube::Error::Api(s)) => s,
        Err(e) => panic!("{what}: expected a denial by {webhook}, got a client error: {e}"),
    };
    let msg = &status.message;
    assert_eq!(
        status.code, 403,
        "{what}: expected HTTP 403 from the admission denial, got {}: {msg}",
        status.code
    );
    assert!(
        msg.contains(&format!(
            "admission webhook \"{webhook}\" denied the request: vaultgate denied"
        )),
        "{what}: not a denial by {webhook}:\n{msg}"
    );
    assert_eq!(
        rule_ids(msg),
        ids,
        "{what}: wrong rules in the denial:\n{msg}"
    );
    status
}

/// [`assert_denied`] for a write that depends on objects created just before (an owner, a
/// source Secret): vaultgate's watch-fed view may lag for a moment, so a denial with other rules
/// is retried for up to 15 s. Being admitted is never retried: that fails at once.
pub async fn denied_eventually<T, F, Fut>(
    mut write: F,
    webhook: &str,
    ids: &[&str],
    what: &str,
) -> Box<Status>
where
    T: Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = kube::Result<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let result = write().await;
        let settled = match &result {
            Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("vaultgate denied") => {
                rule_ids(&s.message) == ids
            }
            _ => true,
        };
        if settled || Instant::now() > deadline {
            return assert_denied(result, webhook, ids, what);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub fn assert_contains(haystack: &str, needles: &[&str], what: &str) {
    for n in needles {
        assert!(
            haystack.contains(n),
            "{what}: missing {n:?} in:\n{haystack}"
        );
    }
}

// ------------------------------------------------------------------ kubectl

/// One kubectl run: exit status and both streams.
#[derive(Debug)]
pub struct Kubectl {
    pub args: String,
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Kubectl {
    pub fn expect_ok(&self) -> &Self {
        assert!(
            self.success,
            "kubectl {} failed:\n{}",
            self.args, self.stderr
        );
        self
    }

    pub fn expect_failed(&self) -> &Self {
        assert!(
            !self.success,
            "kubectl {} should have failed; stdout:\n{}\nstderr:\n{}",
            self.args, self.stdout, self.stderr
        );
        self
    }
}

/// Runs the harness's kubectl with `kubeconfig`, feeding `stdin` if given.
pub fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Kubectl {
    let mut child = Command::new(&env().kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("KUBECACHEDIR", env().dir.join("kube").join("cache"))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", env().kubectl.display()));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write kubectl stdin");
    }
    let out = child.wait_with_output().expect("kubectl output");
    Kubectl {
        args: args.join(" "),
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Labels/annotations of an object read back as JSON.
pub fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["metadata"]["labels"][key].as_str()
}

pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["metadata"]["annotations"][key].as_str()
}

// ------------------------------------------------------------------ vaultgate processes (mTLS)

/// A reqwest client for vaultgate's TLS port (`/readyz`, `/metrics`): trusts `roots` (PEM; the
/// harness's webhook CA when empty) and presents the probe client certificate (vaultgate runs
/// with `--client-ca`).
pub fn webhook_https_client(roots: &[&[u8]]) -> reqwest::Client {
    webhook_https_builder(roots)
        .build()
        .expect("reqwest client")
}

/// [`webhook_https_client`]'s builder, to change more settings.
pub fn webhook_https_builder(roots: &[&[u8]]) -> reqwest::ClientBuilder {
    let default_root = std::fs::read(&env().webhook_ca).expect("webhook CA");
    let roots: Vec<&[u8]> = if roots.is_empty() {
        vec![&default_root]
    } else {
        roots.to_vec()
    };
    let mut identity = std::fs::read(&env().webhook_client_cert).expect("probe client cert");
    identity.extend(std::fs::read(&env().webhook_client_key).expect("probe client key"));
    let mut builder = reqwest::Client::builder()
        .identity(reqwest::Identity::from_pem(&identity).expect("probe client identity PEM"))
        .timeout(Duration::from_secs(2));
    for root in roots {
        for cert in reqwest::Certificate::from_pem_bundle(root).expect("CA PEM") {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
}

/// The PID in `pidfile` (written by start-webhook.sh).
pub fn pid_in(pidfile: &Path) -> u32 {
    let text = std::fs::read_to_string(pidfile)
        .unwrap_or_else(|e| panic!("pidfile {}: {e}", pidfile.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("pidfile {} holds {text:?}: {e}", pidfile.display()))
}

/// Running, i.e. neither gone nor a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.chars().next()))
        .flatten()
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// `kill -SIG pid`, by PID only.
pub fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {pid} failed");
}

/// Polls `GET {base}/readyz` until 200 (60 s at most).
pub async fn wait_ready_at(client: &reqwest::Client, base: &str) {
    let url = format!("{base}/readyz");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => return,
            other if Instant::now() > deadline => {
                panic!("vaultgate not ready after 60 s ({url}): {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// `vaultgate_admission_reviews_total` summed per route (`validate`, `mutate`) from a /metrics text.
pub fn reviews_by_route(metrics: &str) -> (f64, f64) {
    let (mut validate, mut mutate) = (0.0, 0.0);
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("vaultgate_admission_reviews_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let value: f64 = value.trim().parse().unwrap_or(0.0);
        if labels.contains("route=\"validate\"") {
            validate += value;
        } else if labels.contains("route=\"mutate\"") {
            mutate += value;
        }
    }
    (validate, mutate)
}
