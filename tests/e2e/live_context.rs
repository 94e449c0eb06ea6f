//! The rules that need the cluster's state, against vaultgate's LIVE view (watched, indexed
//! tables of stores, ExternalSecrets, PushSecrets, SealedSecrets and Secrets, src/cluster/live.rs)
//! filled by a real apiserver: the e2e counterparts of tests/policy/live_context.rs, one behaviour each.
//!
//! The view lags a write by a moment. A write whose verdict depends on an object created just
//! before is retried for at most 15 s until that verdict appears, and only ever from one denial
//! to another: where the object not yet being visible would *admit* the write, the test first
//! waits with a probe that carries a second, unrelated violation (`refreshInterval: 0s`, VG206),
//! so the probe is denied either way and nothing is admitted by accident. Probes are dry runs.
//!
//! Policy (tests/e2e/policy.yaml): ClusterSecretStore/vault-secondary is a second approved store
//! (only the store test touches it), VG404 warns, and content-copy detection is on for values of
//! 40 bytes or more.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use k8s_openapi::api::{core::v1::Secret, rbac::v1::ClusterRoleBinding};
use kube::{
    Client,
    api::{
        Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams,
        PostParams,
    },
    core::Status,
};
use serde_json::{Value, json};

use crate::{bootstrap::unsealed, harness::*};

/// Listed as `warn` in tests/e2e/policy.yaml.
const WARN_NAMESPACE: &str = "legacy-payments";
/// The second approved store of tests/e2e/policy.yaml; only this module uses it.
const SECONDARY_STORE: &str = "vault-secondary";
/// The handover controller's identity in the default policy (`identities.handover`).
const HANDOVER: (&str, &str) = ("vaultgate-system", "vaultgate");
/// How long a verdict that depends on a just-written object may take to appear.
const LAG: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------ verdicts through the lag

/// Retries `write` while vaultgate denies it with other rules than `ids`, or with a message
/// lacking one of `needles` (the view has not caught up yet), for at most 15 s. An admission,
/// or any other error, is final at once: a denial is never retried into an admission.
async fn denied_with<T, F, Fut>(
    mut write: F,
    webhook: &str,
    ids: &[&str],
    needles: &[&str],
    what: &str,
) -> Box<Status>
where
    T: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = kube::Result<T>>,
{
    let deadline = Instant::now() + LAG;
    loop {
        let result = write().await;
        let pending = match &result {
            Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("vaultgate denied") => {
                rule_ids(&s.message) != ids || needles.iter().any(|n| !s.message.contains(n))
            }
            _ => false,
        };
        if !pending || Instant::now() > deadline {
            let status = assert_denied(result, webhook, ids, what);
            assert_contains(&status.message, needles, what);
            return status;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Creates an object that must be admitted once its owner ExternalSecret is in the view: a
/// denial that includes VG104 (the owner's uid not seen yet) is retried for at most 15 s; any
/// other denial fails at once.
async fn admitted_once_owner_is_seen(client: &Client, obj: &Value, what: &str) -> DynamicObject {
    let deadline = Instant::now() + LAG;
    loop {
        match create(client, obj).await {
            Ok(created) => return created,
            Err(kube::Error::Api(s))
                if s.code == 403
                    && rule_ids(&s.message).iter().any(|id| id == "VG104")
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("{what}: should have been admitted, got: {}", error_text(&e)),
        }
    }
}

/// The probe form of an ExternalSecret or PushSecret: the same object with one more violation
/// (VG206, `refreshInterval: 0s`) that holds whatever the view says, so it is never admitted.
fn with_sentinel(obj: &Value) -> Value {
    let mut probe = obj.clone();
    probe["spec"]["refreshInterval"] = json!("0s");
    probe
}

// ------------------------------------------------------------------ builders

/// An ExternalSecret `name` in `ns` writing Secret `target` from `key`/`property` through `store`.
fn external_secret_to(
    ns: &str,
    name: &str,
    target: &str,
    key: &str,
    property: &str,
    store: &str,
) -> Value {
    let mut es = external_secret(ns, name, key);
    es["spec"]["secretStoreRef"]["name"] = json!(store);
    es["spec"]["target"]["name"] = json!(target);
    es["spec"]["data"][0] =
        json!({"secretKey": property, "remoteRef": {"key": key, "property": property}});
    es
}

/// A Secret as ESO writes it for ExternalSecret `owner` (uid `owner_uid`).
fn materialized(
    ns: &str,
    name: &str,
    owner: &str,
    owner_uid: &str,
    data: &[(&str, &str)],
) -> Value {
    let mut s = secret(ns, name, data);
    s["metadata"]["ownerReferences"] =
        owner_ref("external-secrets.io/v1", "ExternalSecret", owner, owner_uid);
    s["metadata"]["labels"] = json!({"reconcile.external-secrets.io/managed": "true"});
    s
}

/// CloudNativePG (an `internal` operator in tests/e2e/policy.yaml) generates Secret `name`.
async fn operator_secret(cnpg: &Identity, ns: &str, name: &str) {
    create_admitted(
        &cnpg.client,
        &secret(ns, name, &[("username", "app"), ("password", "generated")]),
    )
    .await;
}

/// A Secret nobody approved, stored in a governed namespace without vaultgate seeing it: written
/// by a fresh kube-system service account, whose requests the webhooks' matchConditions skip
/// (exempt group `system:serviceaccounts:kube-system`). The state ESO adoption would launder.
async fn hand_made_secret(ns: &str, name: &str) {
    let seeder = service_account(("kube-system", &unique("e2e-seeder"))).await;
    create(
        &seeder.client,
        &secret(ns, name, &[("password", "typed-by-hand")]),
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "the kube-system seeder writing {ns}/{name}: {}",
            error_text(&e)
        )
    });
    let stored = get_secret(&admin().await, ns, name)
        .await
        .expect("seeded Secret stored");
    assert!(
        stored["metadata"]["labels"]
            .get(format!("{P}secret-class"))
            .is_none(),
        "vaultgate never saw the seeder's write, so nothing classified it: {stored:#}"
    );
}

fn store_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("external-secrets.io", "v1", "ClusterSecretStore"),
        "clustersecretstores",
    )
}

fn cluster_store(name: &str, provider: Value) -> Value {
    json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
           "metadata": {"name": name}, "spec": {"provider": provider}})
}

// ------------------------------------------------------------------ 1. readiness

/// A second `vaultgate serve` on a free port; killed (by its own PID) when dropped.
struct SecondVaultgate {
    child: Child,
    base: String,
    log: PathBuf,
}

impl SecondVaultgate {
    fn start(kubeconfig: &Path, name: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let webhook = env().dir.join("webhook");
        let log = env().dir.join("logs").join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("second vaultgate log");
        let err = out.try_clone().expect("log handle");
        let child = Command::new(env!("CARGO_BIN_EXE_vaultgate"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--tls-cert")
            .arg(webhook.join("tls.crt"))
            .arg("--tls-key")
            .arg(webhook.join("tls.key"))
            .arg("--policy")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/policy.yaml"))
            .args([
                "--log-format",
                "json",
                "--log-level",
                "vaultgate=debug,info",
            ])
            .env("KUBECONFIG", kubeconfig)
            .env("VAULTGATE_SHUTDOWN_DELAY", "0s")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start a second vaultgate");
        Self {
            child,
            base: format!("https://127.0.0.1:{port}"),
            log,
        }
    }

    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "the second vaultgate exited ({status}); its log {}:\n{}",
                self.log.display(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            )),
            _ => None,
        }
    }
}

impl Drop for SecondVaultgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn https_client() -> reqwest::Client {
    let ca = std::fs::read(&env().webhook_ca).expect("webhook CA");
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("webhook CA PEM"))
        .timeout(Duration::from_secs(2))
        .build()
        .expect("reqwest client")
}

/// GET `url`: (status, body), or None when nothing answers.
async fn fetch(client: &reqwest::Client, url: &str) -> Option<(u16, String)> {
    let r = client.get(url).send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.text().await.unwrap_or_default()))
}

/// `vaultgate_<family>{resource="<r>"} <value>` samples of an OpenMetrics text, by resource.
fn samples(metrics: &str, family: &str) -> Vec<(String, f64)> {
    let prefix = format!("vaultgate_{family}{{");
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (labels, value) = rest.split_once("} ")?;
            let resource = labels
                .split(',')
                .find_map(|kv| kv.strip_prefix("resource=\""))?
                .trim_end_matches('"');
            Some((resource.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// The resources the live view watches (src/cluster/live.rs), as its metrics label them.
const WATCHED: [&str; 6] = [
    "clustersecretstores",
    "externalsecrets",
    "pushsecrets",
    "sealedsecrets",
    "secrets",
    "secretstores",
];

/// A fresh identity the apiserver authenticates and RBAC knows nothing about: a client
/// certificate (CN only, no groups) signed by the harness's client CA, and its kubeconfig.
///
/// Not a ServiceAccount: run.sh binds the group `system:serviceaccounts` (which every SA token
/// carries) to ClusterRole e2e-writer, and that grants every verb on Secrets, external-secrets.io
/// and SealedSecrets, i.e. everything vaultgate watches. RBAC only adds, so no ServiceAccount in
/// this cluster can lack those permissions.
fn identity_without_rbac(user: &str) -> PathBuf {
    let pki = env().dir.join("pki");
    let kube = env().dir.join("kube");
    let (key, csr, crt) = (
        kube.join(format!("{user}.key")),
        kube.join(format!("{user}.csr")),
        kube.join(format!("{user}.crt")),
    );
    let openssl = |cmd: &mut Command| {
        let out = cmd.output().expect("run openssl");
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let cnf = pki.join("openssl.cnf");
    openssl(
        Command::new("openssl")
            .args(["req", "-new", "-config"])
            .arg(&cnf)
            .args([
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                &format!("/CN={user}"),
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&csr),
    );
    openssl(
        Command::new("openssl")
            .args(["x509", "-req", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(pki.join("client-ca.crt"))
            .arg("-CAkey")
            .arg(pki.join("client-ca.key"))
            .args([
                "-set_serial",
                &format!("0x{}", &unique("s")[2..]),
                "-days",
                "1",
                "-extfile",
            ])
            .arg(&cnf)
            .args(["-extensions", "client", "-out"])
            .arg(&crt),
    );
    let _ = std::fs::remove_file(&csr);
    let admin_kc = std::fs::read_to_string(&env().kubeconfig).expect("admin kubeconfig");
    let field = |name: &str| {
        admin_kc
            .lines()
            .find_map(|l| l.trim().strip_prefix(name).map(str::to_owned))
            .unwrap_or_else(|| panic!("{name} in the admin kubeconfig"))
    };
    let (server, ca) = (field("server: "), field("certificate-authority: "));
    let kubeconfig = kube.join(format!("{user}.kubeconfig"));
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n  - name: e2e\n    cluster:\n      server: {server}\n      certificate-authority: {ca}\n\
             users:\n  - name: {user}\n    user:\n      client-certificate: {}\n      client-key: {}\n\
             contexts:\n  - name: e2e\n    context: {{cluster: e2e, user: {user}}}\ncurrent-context: e2e\n",
            crt.display(),
            key.display()
        ),
    )
    .expect("write kubeconfig");
    kubeconfig
}

#[tokio::test]
async fn readiness_flips_only_after_every_watch_has_synced() {
    let _cluster = shared().await;
    let admin = admin().await;
    let user = unique("e2e-no-rbac");
    let kubeconfig = identity_without_rbac(&user);
    let whoami = kubectl(
        &kubeconfig,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
        None,
    );
    assert_eq!(
        whoami.expect_ok().stdout,
        user,
        "the apiserver authenticates the fresh identity"
    );
    let can_list = kubectl(
        &kubeconfig,
        &["auth", "can-i", "list", "secrets", "--all-namespaces"],
        None,
    );
    assert_eq!(
        can_list.stdout.trim(),
        "no",
        "the fresh identity has no RBAC: {can_list:?}"
    );
    kubectl(
        &env().kubeconfig,
        &["get", "clusterrole", "vaultgate-webhook", "-o", "name"],
        None,
    )
    .expect_ok();

    let mut vg = SecondVaultgate::start(&kubeconfig, &format!("vaultgate-{user}"));
    let http = https_client();
    let readyz = format!("{}/readyz", vg.base);
    let metrics = format!("{}/metrics", vg.base);

    // It serves (TLS, /healthz) but is not ready: every watch's initial list is forbidden.
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        if let Some(msg) = vg.exited() {
            panic!("{msg}");
        }
        if let Some(answer) = fetch(&http, &readyz).await {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "the second vaultgate never answered on {readyz}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let observed = Instant::now();
    let mut polls = vec![first];
    while observed.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A poll lost to a loaded machine (2 s client timeout) proves nothing either way.
        polls.extend(fetch(&http, &readyz).await);
    }
    assert!(
        polls.len() >= 5,
        "only {} /readyz answers in 3 s",
        polls.len()
    );
    for (status, body) in &polls {
        assert_eq!(
            *status,
            503,
            "/readyz must fail while no watch can list (polled {} times): {body}",
            polls.len()
        );
        assert_contains(
            body,
            &["not ready: the cluster view has not synced"],
            "/readyz body",
        );
    }
    let (status, healthz) = fetch(&http, &format!("{}/healthz", vg.base))
        .await
        .expect("/healthz");
    assert_eq!(
        (status, healthz.trim()),
        (200, "ok"),
        "alive while not ready"
    );
    let (_, text) = fetch(&http, &metrics).await.expect("/metrics");
    let synced = samples(&text, "context_synced");
    assert!(
        synced.iter().all(|(_, v)| *v == 0.0),
        "nothing may count as synced yet:\n{synced:?}"
    );
    let errors = samples(&text, "context_watch_errors_total");
    for resource in WATCHED {
        assert!(
            errors.iter().any(|(r, v)| r == resource && *v >= 1.0),
            "the forbidden {resource} watch is counted as a watch error: {errors:?}"
        );
    }

    // Grant exactly the shipped webhook role: every watch syncs, and only then is it ready.
    let bindings: Api<ClusterRoleBinding> = Api::all(admin.clone());
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "vaultgate-webhook"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
    }))
    .unwrap();
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .expect("create the ClusterRoleBinding");
    let bound = Instant::now();
    loop {
        if let Some(msg) = vg.exited() {
            panic!("{msg}");
        }
        match fetch(&http, &readyz).await {
            Some((200, body)) => {
                assert_eq!(body.trim(), "ok");
                break;
            }
            other => assert!(
                bound.elapsed() < Duration::from_secs(60),
                "/readyz not 200 within 60 s of the binding (watches back off up to 30 s): {other:?}; log {}",
                vg.log.display()
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = bound.elapsed();
    let (_, text) = fetch(&http, &metrics).await.expect("/metrics");
    let synced = samples(&text, "context_synced");
    for resource in WATCHED {
        assert!(
            synced.iter().any(|(r, v)| r == resource && *v == 1.0),
            "ready, so vaultgate_context_synced{{resource=\"{resource}\"}} is 1: {synced:?}"
        );
    }
    eprintln!(
        "readiness: 503 for {} polls over 3 s without RBAC; 200 {:.1}s after the binding",
        polls.len(),
        took.as_secs_f64()
    );
    drop(vg);
    let _ = bindings.delete(&user, &DeleteParams::default()).await;
}

// ------------------------------------------------------------------ 2. store provider

#[tokio::test]
async fn a_store_recreated_with_another_provider_changes_the_verdict() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "store-swap").await;
    let argocd = service_account(ARGOCD).await;
    let stores: Api<DynamicObject> = Api::all_with(argocd.client.clone(), &store_resource());
    let key = format!("platform-data/postgres/{ns}");
    let es = |name: &str| external_secret_to(&ns, name, name, &key, "password", SECONDARY_STORE);

    // vault-secondary, a Vault store like vault-backend: an ExternalSecret through it is admitted.
    let backend = get(
        &admin,
        "external-secrets.io/v1",
        "ClusterSecretStore",
        None,
        VAULT_STORE,
    )
    .await
    .expect("run.sh installs vault-backend");
    let vault_provider = backend["spec"]["provider"].clone();
    create_admitted(
        &argocd.client,
        &cluster_store(SECONDARY_STORE, vault_provider.clone()),
    )
    .await;
    create_admitted(&argocd.client, &es("first")).await;

    // Deleted: the view forgets it (a probe that is denied either way waits for that).
    stores
        .delete(SECONDARY_STORE, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("deleting {SECONDARY_STORE}: {}", error_text(&e)));
    let probe = with_sentinel(&es("probe"));
    denied_with(
        || create_dry_run(&argocd.client, &probe),
        ESO_VALIDATE,
        &["VG201", "VG206"],
        &[&format!(
            "store ClusterSecretStore/\"{SECONDARY_STORE}\" does not exist in this cluster"
        )],
        "ExternalSecret through the deleted store",
    )
    .await;

    // Re-created under the approved name with the aws provider: VG404 only warns (policy.yaml).
    let aws = cluster_store(
        SECONDARY_STORE,
        json!({"aws": {"service": "SecretsManager", "region": "eu-central-1"}}),
    );
    let out = argocd.kubectl(&["create", "-f", "-"], Some(&aws.to_string()));
    out.expect_ok();
    assert_contains(
        &out.stderr,
        &[
            "Warning: [VG404 approved-store-not-vault]",
            &format!("ClusterSecretStore \"{SECONDARY_STORE}\""),
            "aws",
        ],
        "kubectl create of the aws store",
    );
    assert_eq!(rule_ids(&out.stderr), ["VG404"], "{}", out.stderr);

    // Within seconds the view resolves the name to aws, and a reference to it is VG201.
    let second = es("second");
    let status = denied_with(
        || create(&argocd.client, &second),
        ESO_VALIDATE,
        &["VG201"],
        &["resolves to provider \"aws\", not vault"],
        "ExternalSecret through the aws store",
    )
    .await;
    assert_contains(
        &status.message,
        &["VG201 non-vault-store", SECONDARY_STORE],
        "VG201 denial",
    );
    assert!(
        get(
            &admin,
            "external-secrets.io/v1",
            "ExternalSecret",
            Some(&ns),
            "second"
        )
        .await
        .is_none()
    );

    // The Vault provider restored (an UPDATE, as a Git revert syncs it): admitted again.
    let mut restored = get(
        &admin,
        "external-secrets.io/v1",
        "ClusterSecretStore",
        None,
        SECONDARY_STORE,
    )
    .await
    .expect("the aws store is stored");
    restored["spec"]["provider"] = vault_provider;
    replace(&argocd.client, &restored)
        .await
        .unwrap_or_else(|e| panic!("restoring the vault provider: {}", error_text(&e)));
    create_admitted(&argocd.client, &es("second")).await;
}

// ------------------------------------------------------------------ 3. owner uid

#[tokio::test]
async fn a_forged_external_secret_owner_reference_is_denied() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "forged").await;
    let argocd = service_account(ARGOCD).await;
    let eso = service_account(ESO).await;
    let es = create_admitted(
        &argocd.client,
        &external_secret(&ns, "db", &format!("platform-data/postgres/{ns}")),
    )
    .await;
    let real = uid(&es);

    // Once the view holds the ExternalSecret (its real uid admits a dry run)...
    create_admitted_dry_run(
        &eso.client,
        &materialized(&ns, "db", "db", &real, &[("password", "from-vault")]),
    )
    .await;
    // ...the same owner with another uid is a forgery: no such object.
    let forged_uid = "0b5e55ed-0000-4000-8000-000000000000";
    let status = assert_denied(
        create(
            &eso.client,
            &materialized(&ns, "db", "db", forged_uid, &[("password", "from-vault")]),
        )
        .await,
        SECRETS_VALIDATE,
        &["VG104"],
        "ESO's Secret claiming an ExternalSecret owner with a wrong uid",
    );
    assert_contains(
        &status.message,
        &[
            "VG104 forged-provenance",
            &format!(
                "ownerReference ExternalSecret \"db\" uid \"{forged_uid}\" matches no such object"
            ),
        ],
        "VG104 denial",
    );
    assert!(get_secret(&admin, &ns, "db").await.is_none());

    // With the real uid it is ESO's Secret.
    create(
        &eso.client,
        &materialized(&ns, "db", "db", &real, &[("password", "from-vault")]),
    )
    .await
    .unwrap_or_else(|e| panic!("ESO's Secret with the real owner uid: {}", error_text(&e)));
    let stored = get_secret(&admin, &ns, "db").await.expect("stored");
    assert_eq!(
        label(&stored, &format!("{P}secret-class")),
        Some("materialized"),
        "{stored:#}"
    );
}

// ------------------------------------------------------------------ 4. adoption

#[tokio::test]
async fn an_external_secret_may_not_launder_an_existing_secret() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "launder").await;
    let argocd = service_account(ARGOCD).await;
    hand_made_secret(&ns, "db").await;

    let es = external_secret(&ns, "db", &format!("platform-data/postgres/{ns}"));
    let probe = with_sentinel(&es);
    denied_with(
        || create_dry_run(&argocd.client, &probe),
        ESO_VALIDATE,
        &["VG205", "VG206"],
        &[],
        "probe: the view holds the hand-made Secret",
    )
    .await;
    let status = assert_denied(
        create(&argocd.client, &es).await,
        ESO_VALIDATE,
        &["VG205"],
        "ExternalSecret targeting a hand-made Secret",
    );
    assert_contains(
        &status.message,
        &[
            "VG205 adoption-laundering",
            &format!(
                "targets Secret \"{ns}/db\", which already exists and was not made by External Secrets; ESO would adopt it"
            ),
        ],
        "VG205 denial",
    );

    // Adopting explicitly is the same laundering, whatever the target.
    let mut merge = external_secret(&ns, "db-merge", &format!("platform-data/postgres/{ns}"));
    merge["spec"]["target"]["creationPolicy"] = json!("Merge");
    let status = assert_denied(
        create(&argocd.client, &merge).await,
        ESO_VALIDATE,
        &["VG205"],
        "creationPolicy Merge",
    );
    assert_contains(
        &status.message,
        &["creationPolicy \"Merge\""],
        "VG205 denial (Merge)",
    );
    for name in ["db", "db-merge"] {
        assert!(
            get(
                &admin,
                "external-secrets.io/v1",
                "ExternalSecret",
                Some(&ns),
                name
            )
            .await
            .is_none()
        );
    }
}

// ------------------------------------------------------------------ 5. single writer

#[tokio::test]
async fn two_external_secrets_may_not_write_one_secret() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "writers").await;
    let argocd = service_account(ARGOCD).await;
    let key = format!("platform-data/postgres/{ns}");
    create_admitted(
        &argocd.client,
        &external_secret_to(&ns, "db-a", "db", &key, "password", VAULT_STORE),
    )
    .await;

    let b = external_secret_to(&ns, "db-b", "db", &key, "username", VAULT_STORE);
    let probe = with_sentinel(&b);
    denied_with(
        || create_dry_run(&argocd.client, &probe),
        ESO_VALIDATE,
        &["VG206", "VG207"],
        &[],
        "probe: the view holds ExternalSecret db-a",
    )
    .await;
    let status = assert_denied(
        create(&argocd.client, &b).await,
        ESO_VALIDATE,
        &["VG207"],
        "second writer of Secret db",
    );
    assert_contains(
        &status.message,
        &[
            "VG207 single-writer",
            &format!(
                "targets Secret \"{ns}/db\", which is already written by ExternalSecret \"db-a\""
            ),
        ],
        "VG207 denial",
    );
}

// ------------------------------------------------------------------ 6. authority loop

#[tokio::test]
async fn a_secret_pushed_and_pulled_through_one_path_is_an_authority_loop() {
    let _cluster = shared().await;
    let admin = admin().await;
    let argocd = service_account(ARGOCD).await;
    let cnpg = service_account(CNPG).await;

    // The PushSecret first: the operator's Secret goes to Vault...
    let ns = namespace(&admin, "loop").await;
    let path = format!("platform-data/github/{ns}");
    operator_secret(&cnpg, &ns, "repo").await;
    create_admitted(
        &argocd.client,
        &push_secret(&ns, "repo-push", "repo", &path, "password"),
    )
    .await;
    // ...and an ExternalSecret writing that same Secret back from that same path closes the loop.
    // (ESO would also adopt the operator's Secret, which is VG205 on its own.)
    let es = external_secret_to(&ns, "repo", "repo", &path, "password", VAULT_STORE);
    let status = denied_with(
        || create(&argocd.client, &es),
        ESO_VALIDATE,
        &["VG205", "VG208"],
        &[],
        "ExternalSecret pulling what is pushed",
    )
    .await;
    assert_contains(
        &status.message,
        &[
            "VG208 authority-loop",
            &format!(
                "writes Secret \"{ns}/repo\" from \"{path}\", and PushSecret \"repo-push\" publishes that same Secret to \"{path}\""
            ),
        ],
        "VG208 denial (PushSecret first)",
    );

    // The ExternalSecret first (before the Secret exists, so nothing to adopt), then the PushSecret.
    let ns = namespace(&admin, "loop").await;
    let path = format!("platform-data/github/{ns}");
    create_admitted(
        &argocd.client,
        &external_secret_to(&ns, "repo", "repo", &path, "password", VAULT_STORE),
    )
    .await;
    operator_secret(&cnpg, &ns, "repo").await;
    let ps = push_secret(&ns, "repo-push", "repo", &path, "password");
    let probe = with_sentinel(&ps);
    denied_with(
        || create_dry_run(&argocd.client, &probe),
        ESO_VALIDATE,
        &["VG206", "VG208"],
        &[],
        "probe: the view holds the ExternalSecret and the operator's Secret",
    )
    .await;
    let status = assert_denied(
        create(&argocd.client, &ps).await,
        ESO_VALIDATE,
        &["VG208"],
        "PushSecret publishing what is pulled",
    );
    assert_contains(
        &status.message,
        &[
            "VG208 authority-loop",
            &format!(
                "publishes Secret \"{ns}/repo\" to \"{path}\", and ExternalSecret \"repo\" writes that same Secret from \"{path}\""
            ),
        ],
        "VG208 denial (ExternalSecret first)",
    );
    assert!(
        get(
            &admin,
            "external-secrets.io/v1alpha1",
            "PushSecret",
            Some(&ns),
            "repo-push"
        )
        .await
        .is_none()
    );
}

// ------------------------------------------------------------------ 7. path ownership

#[tokio::test]
async fn one_namespace_owns_each_vault_path() {
    let _cluster = shared().await;
    let admin = admin().await;
    let argocd = service_account(ARGOCD).await;
    let cnpg = service_account(CNPG).await;
    let path = format!("platform-data/postgres/{}", unique("temporal"));

    let owner = namespace(&admin, "paths").await;
    operator_secret(&cnpg, &owner, "creds").await;
    create_admitted(
        &argocd.client,
        &push_secret(&owner, "to-vault", "creds", &path, "password"),
    )
    .await;

    let other = namespace(&admin, "paths").await;
    operator_secret(&cnpg, &other, "creds").await;
    let hijack = push_secret(&other, "hijack", "creds", &path, "password");
    let probe = with_sentinel(&hijack);
    denied_with(
        || create_dry_run(&argocd.client, &probe),
        ESO_VALIDATE,
        &["VG206", "VG308"],
        &[],
        "probe: the view holds the first PushSecret and the second source",
    )
    .await;
    let status = assert_denied(
        create(&argocd.client, &hijack).await,
        ESO_VALIDATE,
        &["VG308"],
        "second namespace publishing one path",
    );
    assert_contains(
        &status.message,
        &[
            "VG308 path-ownership",
            &format!("\"{path}\" is published by PushSecret \"{owner}/to-vault\""),
        ],
        "VG308 denial",
    );

    // The owning namespace may publish its path again (another key, another PushSecret).
    create_admitted(
        &argocd.client,
        &push_secret(&owner, "to-vault-user", "creds", &path, "username"),
    )
    .await;
}

// ------------------------------------------------------------------ 8. push source

#[tokio::test]
async fn a_push_secret_source_must_exist_and_be_operator_made() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "push-src").await;
    let argocd = service_account(ARGOCD).await;
    let eso = service_account(ESO).await;
    let to = |source: &str| {
        push_secret(
            &ns,
            &format!("{source}-push"),
            source,
            &format!("platform-data/postgres/{}", unique("temporal")),
            "password",
        )
    };

    // Nothing of that name.
    let status = assert_denied(
        create(&argocd.client, &to("missing")).await,
        ESO_VALIDATE,
        &["VG307"],
        "missing source",
    );
    assert_contains(
        &status.message,
        &[
            "VG307 push-source",
            &format!("Secret \"{ns}/missing\", which does not exist"),
        ],
        "VG307 (missing)",
    );

    // A Secret ESO materialized from Vault: pushing it back inverts the authority.
    let es = create_admitted(
        &argocd.client,
        &external_secret(&ns, "db", &format!("platform-data/postgres/{ns}")),
    )
    .await;
    admitted_once_owner_is_seen(
        &eso.client,
        &materialized(&ns, "db", "db", &uid(&es), &[("password", "from-vault")]),
        "ESO's Secret",
    )
    .await;
    // (The Secret is an ExternalSecret's target, so publishing it is also an authority loop.)
    let ps = to("db");
    denied_with(
        || create(&argocd.client, &ps),
        ESO_VALIDATE,
        &["VG208", "VG307"],
        &["is materialized from Vault by an ExternalSecret; pushing it back inverts the authority"],
        "materialized source",
    )
    .await;

    // A hand-made Secret (stored without vaultgate) is not operator-generated either.
    hand_made_secret(&ns, "typed").await;
    let ps = to("typed");
    denied_with(
        || create(&argocd.client, &ps),
        ESO_VALIDATE,
        &["VG307"],
        &["is not operator-generated"],
        "hand-made source",
    )
    .await;
    for name in ["missing-push", "db-push", "typed-push"] {
        assert!(
            get(
                &admin,
                "external-secrets.io/v1alpha1",
                "PushSecret",
                Some(&ns),
                name
            )
            .await
            .is_none()
        );
    }
}

// ------------------------------------------------------------------ 9. handed-over bootstrap

#[tokio::test]
async fn a_handed_over_bootstrap_secret_cannot_be_repopulated() {
    let _cluster = shared().await;
    let admin = admin().await;
    ensure_namespace(&admin, "vault").await;
    let controller = service_account(SEALED_SECRETS).await;
    let handover = service_account(HANDOVER).await;
    let name = unique("vault-unseal");
    // Under platform-data/: the unseal key is a secret property, and handover-to is held to the
    // push-path rules (VG303-VG305) at admission.
    let destination = format!("platform-data/vault/{name}");

    // Git's SealedSecret, decrypted by its controller into a declared bootstrap Secret.
    let sealed = sealed_secret("vault", &name, "unseal-key");
    let owner = uid(&create(&admin, &sealed)
        .await
        .unwrap_or_else(|e| panic!("SealedSecret: {}", error_text(&e))));
    let template = unsealed("vault", &name, &owner, Some(&destination));
    create_admitted(&controller.client, &template).await;
    let pending = get_secret(&admin, "vault", &name).await.expect("stored");
    assert_eq!(
        label(&pending, &format!("{P}handover-state")),
        Some("pending"),
        "{pending:#}"
    );

    // The handover controller's retirement, as it writes it: consumed, data emptied (inert).
    let secrets: Api<Secret> = Api::namespaced(handover.client.clone(), "vault");
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let patch = json!({
        "metadata": {
            "resourceVersion": pending["metadata"]["resourceVersion"],
            "labels": {format!("{P}handover-state"): "consumed"},
            "annotations": {format!("{P}vault-version"): "1", format!("{P}handover-at"): now,
                            format!("{P}content-digest"): "9f2c6e1a4b7d0c3e5f8a1b2c3d4e5f60"}
        },
        "data": null
    });
    secrets
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the handover controller retiring {name}: {}",
                error_text(&e)
            )
        });
    let consumed = get_secret(&admin, "vault", &name)
        .await
        .expect("kept as a tombstone");
    assert_eq!(
        label(&consumed, &format!("{P}handover-state")),
        Some("consumed"),
        "{consumed:#}"
    );
    assert!(
        consumed["data"].as_object().is_none_or(|d| d.is_empty()),
        "data emptied: {consumed:#}"
    );

    // The SealedSecret is still in Git, so its controller writes the value again: refused.
    let mut repopulate = template.clone();
    repopulate["metadata"]["resourceVersion"] = consumed["metadata"]["resourceVersion"].clone();
    let status = assert_denied(
        replace(&controller.client, &repopulate).await,
        SECRETS_VALIDATE,
        &["VG107"],
        "the sealed-secrets controller re-populating a consumed bootstrap Secret",
    );
    assert_contains(
        &status.message,
        &[
            "VG107 bootstrap-handed-over",
            &format!("bootstrap Secret \"vault/{name}\" was handed over (state consumed)"),
            &format!("the value now lives in Vault at {destination}"),
            "remove the encrypted source (SealedSecret or SOPS file) from Git",
        ],
        "VG107 denial",
    );
    let kept = get_secret(&admin, "vault", &name)
        .await
        .expect("still stored");
    assert!(
        kept["data"].as_object().is_none_or(|d| d.is_empty()),
        "still empty: {kept:#}"
    );
}

// ------------------------------------------------------------------ 10. content copy

/// A value of at least 40 bytes (policy.yaml's minValueLength), unique to this run.
fn long_value(prefix: &str) -> String {
    let v = format!("{}-{}", unique(prefix), "k7Qm2xW9pL4vR8sT1nB6yH3j");
    assert!(
        v.len() >= 40,
        "{v:?} is shorter than contentCopy.minValueLength"
    );
    v
}

#[tokio::test]
async fn content_copy_is_caught_and_materialized_copies_are_not() {
    let _cluster = shared().await;
    let admin = admin().await;
    ensure_namespace(&admin, WARN_NAMESPACE).await;
    let alice = human("alice").await;

    // alice's hand-made Secret in the warn namespace: admitted, with a warning.
    let name = unique("api-key");
    let value = long_value("copied");
    let out = alice.kubectl(
        &["apply", "-f", "-"],
        Some(&secret_yaml(WARN_NAMESPACE, &name, &[("api-key", &value)])),
    );
    out.expect_ok();
    assert_contains(
        &out.stderr,
        &["Warning: [VG101 unmanaged-secret]"],
        "warn-mode apply",
    );

    // ...copied by hand into an enforcing namespace: kubectl get | rewrite | kubectl apply.
    let ns = namespace(&admin, "copies").await;
    let got = alice.kubectl(
        &["get", "secret", "-n", WARN_NAMESPACE, &name, "-o", "json"],
        None,
    );
    let mut copy: Value =
        serde_json::from_str(&got.expect_ok().stdout).expect("kubectl get -o json");
    let meta = copy["metadata"].as_object_mut().expect("metadata");
    meta.insert("namespace".into(), json!(ns));
    for field in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "managedFields",
    ] {
        meta.remove(field);
    }
    let copy = copy.to_string();
    let deadline = Instant::now() + LAG;
    let denied = loop {
        let out = alice.kubectl(&["apply", "-n", &ns, "-f", "-"], Some(&copy));
        assert!(
            !out.success,
            "the hand copy was admitted:\n{}\n{}",
            out.stdout, out.stderr
        );
        if out.stderr.contains("VG109") || Instant::now() > deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_contains(
        &denied.stderr,
        &[
            &format!("admission webhook \"{SECRETS_VALIDATE}\" denied the request"),
            "VG101 unmanaged-secret",
            "VG109 content-copy",
            &format!(
                "holds a value already held by Secret {WARN_NAMESPACE}/{name} in another namespace"
            ),
        ],
        "kubectl apply of the copy",
    );
    assert_eq!(
        rule_ids(&denied.stderr),
        ["VG101", "VG109"],
        "{}",
        denied.stderr
    );
    assert!(
        !denied.stderr.contains(&value),
        "a denial never quotes the value"
    );
    assert!(get_secret(&admin, &ns, &name).await.is_none());

    // Two namespaces materializing one Vault path hold one value: that is Vault distributing it.
    let argocd = service_account(ARGOCD).await;
    let eso = service_account(ESO).await;
    let shared_path = "platform-config/postgres/platform-postgres";
    let host = long_value("pg-host");
    let mut holders = Vec::new();
    for _ in 0..2 {
        let ns = namespace(&admin, "copies").await;
        let es = create_admitted(
            &argocd.client,
            &external_secret_to(&ns, "pg", "pg", shared_path, "host", VAULT_STORE),
        )
        .await;
        admitted_once_owner_is_seen(
            &eso.client,
            &materialized(&ns, "pg", "pg", &uid(&es), &[("host", &host)]),
            "materialized copy",
        )
        .await;
        if holders.is_empty() {
            // The view now digests the first one: the same value by hand elsewhere is a copy.
            let scratch = namespace(&admin, "copies").await;
            let probe = secret(&scratch, "pg", &[("host", &host)]);
            denied_eventually(
                || create_dry_run(&alice.client, &probe),
                SECRETS_VALIDATE,
                &["VG101", "VG109"],
                "probe: the view holds the first materialized value",
            )
            .await;
        }
        holders.push(ns);
    }
    for ns in &holders {
        let stored = get_secret(&admin, ns, "pg")
            .await
            .expect("materialized Secret stored");
        assert_eq!(
            label(&stored, &format!("{P}secret-class")),
            Some("materialized"),
            "{stored:#}"
        );
    }

    // The same value materialized from another path is still a copy.
    let ns = namespace(&admin, "copies").await;
    let es = create_admitted(
        &argocd.client,
        &external_secret_to(
            &ns,
            "pg",
            "pg",
            &format!("platform-data/postgres/{ns}"),
            "host",
            VAULT_STORE,
        ),
    )
    .await;
    let elsewhere = materialized(&ns, "pg", "pg", &uid(&es), &[("host", &host)]);
    let status = denied_eventually(
        || create(&eso.client, &elsewhere),
        SECRETS_VALIDATE,
        &["VG109"],
        "the value materialized from another Vault path",
    )
    .await;
    assert_contains(
        &status.message,
        &["VG109 content-copy", &format!("{}/pg", holders[0])],
        "VG109 denial",
    );
}
