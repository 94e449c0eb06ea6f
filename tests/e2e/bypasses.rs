//! The bypasses of the adversarial review (#13), each proven through the real apiserver: a
//! Secret `type` that claims the system class, ExternalSecret templates that add values Vault
//! never held, a Secret both pushed to and pulled from Vault, a `system:serviceaccounts:kube-system`
//! group claim without a kube-system service account, and the false positives the fixes must not
//! introduce (certificate operators rotating their own webhook Secrets, a cluster admin's
//! metadata-only housekeeping).
//!
//! Every denial test also runs an allowed write of the same shape, so it cannot pass by denying
//! everything; the allow tests run a denied write of the same shape, so they cannot pass by
//! admitting everything. Humans write with kubectl (client certificate), service accounts with
//! their own TokenRequest token; impersonation (`kubectl --as`, by the system:masters admin) is
//! used only where the identity under test cannot be minted otherwise: a username that is no
//! real service account, carrying a group claim it does not own.

use std::time::{Duration, Instant};

use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use crate::harness::*;

/// Flux's helm-controller: a GitOps identity of the default policy, the writer of Helm release
/// storage.
const HELM_CONTROLLER: (&str, &str) = ("flux-system", "helm-controller");
/// The certificate operators the default policy registers for their own namespace only.
const ESO_CERT_CONTROLLER: (&str, &str) = ("external-secrets", "external-secrets-cert-controller");
const CERT_MANAGER_WEBHOOK: (&str, &str) = ("cert-manager", "cert-manager-webhook");

const SA_TOKEN: &str = "kubernetes.io/service-account-token";
const HELM_RELEASE: &str = "helm.sh/release.v1";
const BOOTSTRAP_TOKEN: &str = "bootstrap.kubernetes.io/token";
/// A copy tool's marker (reflector): a Secret carrying it is a cross-namespace copy.
const REFLECTOR_MARKER: &str = "reflector.v1.k8s.emberstack.com/reflection-allowed";

// ------------------------------------------------------------------ helpers

/// [`secret`] with another `type`.
fn typed_secret(ns: &str, name: &str, type_: &str, data: &[(&str, &str)]) -> Value {
    let mut s = secret(ns, name, data);
    s["type"] = json!(type_);
    s
}

/// Helm's release storage for release `release`, revision 1, as helm writes it: the name
/// `sh.helm.release.v1.<release>.v1`, labels `owner=helm` and friends, the single key `release`.
fn helm_release(ns: &str, release: &str) -> Value {
    let mut s = typed_secret(
        ns,
        &format!("sh.helm.release.v1.{release}.v1"),
        HELM_RELEASE,
        &[("release", "H4sIAAAAAAAA/helm-release-blob")],
    );
    s["metadata"]["labels"] =
        json!({"name": release, "owner": "helm", "status": "deployed", "version": "1"});
    s
}

/// An empty service-account token Secret: the shell anyone may create and the token controller
/// fills (no controller-manager runs here, so it stays empty).
fn sa_token_shell(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "type": SA_TOKEN,
           "metadata": {"name": name, "namespace": ns,
                        "annotations": {"kubernetes.io/service-account.name": "default"}}})
}

/// A ServiceAccount-token Secret that also carries a token value.
fn sa_token_with_value(ns: &str, name: &str) -> Value {
    let mut s = typed_secret(
        ns,
        name,
        SA_TOKEN,
        &[("token", "eyJhbGciOiJSUzI1NiJ9.forged")],
    );
    s["metadata"]["annotations"] = json!({"kubernetes.io/service-account.name": "default"});
    s
}

/// kubectl failed because vaultgate's `webhook` denied the write with exactly `ids`; the text
/// never quotes a value. Returns stderr.
fn kubectl_denied<'a>(out: &'a Kubectl, webhook: &str, ids: &[&str], what: &str) -> &'a str {
    out.expect_failed();
    let stderr = &out.stderr;
    assert_contains(
        stderr,
        &[&format!(
            "admission webhook \"{webhook}\" denied the request: vaultgate denied"
        )],
        what,
    );
    assert_eq!(rule_ids(stderr), ids, "{what}: wrong rules:\n{stderr}");
    assert!(
        !stderr.contains(&env().canary),
        "{what}: the denial must never quote a value"
    );
    stderr
}

/// `kubectl create -f -` of `obj` (JSON) with `kubeconfig` and `extra` flags (`--as`, ...).
fn kubectl_create(kubeconfig: &std::path::Path, extra: &[&str], obj: &Value) -> Kubectl {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["create", "-f", "-"]);
    kubectl(kubeconfig, &args, Some(&obj.to_string()))
}

/// The probe form of an ExternalSecret or PushSecret: one more violation (VG206,
/// `refreshInterval: 0s`) that holds whatever vaultgate's view says, so a probe that waits for
/// the view is never admitted by accident (as tests/e2e/live_context.rs does it).
fn with_sentinel(obj: &Value) -> Value {
    let mut probe = obj.clone();
    probe["spec"]["refreshInterval"] = json!("0s");
    probe
}

/// A Secret in a governed namespace that vaultgate never saw: written by a fresh kube-system
/// service account, whose requests the webhooks' matchConditions skip (a kube-system service
/// account carrying its own `system:serviceaccounts:kube-system` group), with `finalizers`.
/// This is how an unmanaged Secret that predates vaultgate (or was written by the control
/// plane) looks to it; the same seeding as live_context.rs's hand-made Secrets.
async fn seed_unmanaged(ns: &str, name: &str, finalizers: &[&str]) {
    let seeder = service_account(("kube-system", &unique("e2e-seeder"))).await;
    let mut s = secret(ns, name, &[("password", "predates-vaultgate")]);
    s["metadata"]["finalizers"] = json!(finalizers);
    create(&seeder.client, &s).await.unwrap_or_else(|e| {
        panic!(
            "the kube-system seeder writing {ns}/{name}: {}",
            error_text(&e)
        )
    });
    let stored = get_secret(&admin().await, ns, name)
        .await
        .expect("seeded Secret stored");
    assert!(
        label(&stored, &format!("{P}secret-class")).is_none(),
        "vaultgate never saw the seeder's write, so nothing classified it"
    );
}

fn data_of<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["data"][key].as_str()
}

// ------------------------------------------------------------------ 1. system class is earned

#[tokio::test]
async fn a_system_secret_type_does_not_make_a_developers_secret_a_system_secret() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "systype").await;
    let alice = human("alice").await;

    // Helm release storage, exactly as helm writes it, but by alice: no system class.
    let release = helm_release(&ns, "x");
    let out = alice.kubectl(&["create", "-f", "-"], Some(&release.to_string()));
    let stderr = kubectl_denied(&out, SECRETS_VALIDATE, &["VG101"], "alice's Helm release");
    assert_contains(
        stderr,
        &[
            "VG101 unmanaged-secret",
            &format!("Secret \"{ns}/sh.helm.release.v1.x.v1\""),
            "\"alice\"",
        ],
        "alice's Helm release",
    );

    // A service-account token Secret that brings its own token value.
    let token = sa_token_with_value(&ns, "default-token");
    let out = alice.kubectl(&["create", "-f", "-"], Some(&token.to_string()));
    kubectl_denied(
        &out,
        SECRETS_VALIDATE,
        &["VG101"],
        "alice's SA token with a value",
    );

    // A bootstrap token outside kube-system.
    let bootstrap = typed_secret(
        &ns,
        "bootstrap-token-abcdef",
        BOOTSTRAP_TOKEN,
        &[("token-id", "abcdef"), ("token-secret", "0123456789abcdef")],
    );
    let out = alice.kubectl(&["create", "-f", "-"], Some(&bootstrap.to_string()));
    kubectl_denied(
        &out,
        SECRETS_VALIDATE,
        &["VG101"],
        "alice's bootstrap token outside kube-system",
    );
    for name in [
        "sh.helm.release.v1.x.v1",
        "default-token",
        "bootstrap-token-abcdef",
    ] {
        assert!(
            get_secret(&admin, &ns, name).await.is_none(),
            "denied Secret {name} must not be stored"
        );
    }

    // Control: the empty shell the token controller fills is what anyone may create.
    let out = alice.kubectl(
        &["create", "-f", "-"],
        Some(&sa_token_shell(&ns, "default-token").to_string()),
    );
    out.expect_ok();
    assert!(
        rule_ids(&out.stderr).is_empty(),
        "no warning for the shell: {}",
        out.stderr
    );
    let stored = get_secret(&admin, &ns, "default-token")
        .await
        .expect("the SA-token shell is stored");
    assert_eq!(stored["type"], SA_TOKEN);
    assert!(
        label(&stored, &format!("{P}secret-class")).is_none(),
        "system Secrets are not stamped by the mutating webhook: {:?}",
        stored["metadata"]["labels"]
    );
}

#[tokio::test]
async fn system_class_secrets_are_still_checked_for_copy_markers_and_forged_class_labels() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "systype").await;
    let helm = service_account(HELM_CONTROLLER).await;
    let alice = human("alice").await;
    let forged_class = json!({format!("{P}secret-class"): "bootstrap"});

    // Control: Flux's helm-controller writing a real-shaped Helm release is admitted, as system.
    create_admitted(&helm.client, &helm_release(&ns, "podinfo")).await;
    let stored = get_secret(&admin, &ns, "sh.helm.release.v1.podinfo.v1")
        .await
        .expect("the Helm release is stored");
    assert!(
        label(&stored, &format!("{P}secret-class")).is_none(),
        "system Secrets are not stamped: {:?}",
        stored["metadata"]["labels"]
    );

    // The same writer and shape with a copy tool's marker: a copy, whatever the class. (As a
    // label: Helm's storage driver writes no annotations, so an annotated record is no record.)
    let mut copied = helm_release(&ns, "copied");
    copied["metadata"]["labels"][REFLECTOR_MARKER] = json!("true");
    let status = assert_denied(
        create(&helm.client, &copied).await,
        SECRETS_VALIDATE,
        &["VG103"],
        "helm-controller's Helm release with a reflector marker",
    );
    assert_contains(
        &status.message,
        &["VG103 copy-marker", REFLECTOR_MARKER],
        "VG103 denial",
    );

    // ... and with a forged class label (bootstrap, outside a bootstrap namespace: VG106 too).
    let mut forged = helm_release(&ns, "forged");
    forged["metadata"]["labels"][format!("{P}secret-class")] = json!("bootstrap");
    let status = assert_denied(
        create(&helm.client, &forged).await,
        SECRETS_VALIDATE,
        &["VG104", "VG106"],
        "helm-controller's Helm release with a forged class label",
    );
    assert_contains(
        &status.message,
        &[
            "VG104 forged-provenance",
            &format!("label {P}secret-class=bootstrap (this write classifies as system)"),
        ],
        "VG104 denial",
    );

    // The empty SA-token shell (system for anyone) with the same markers, by alice with kubectl.
    let mut shell = sa_token_shell(&ns, "shell-copied");
    shell["metadata"]["annotations"][REFLECTOR_MARKER] = json!("true");
    let out = alice.kubectl(&["create", "-f", "-"], Some(&shell.to_string()));
    let stderr = kubectl_denied(
        &out,
        SECRETS_VALIDATE,
        &["VG103"],
        "alice's SA-token shell with a reflector marker",
    );
    assert_contains(stderr, &[REFLECTOR_MARKER], "VG103 denial (shell)");
    let mut shell = sa_token_shell(&ns, "shell-forged");
    shell["metadata"]["labels"] = forged_class;
    let out = alice.kubectl(&["create", "-f", "-"], Some(&shell.to_string()));
    let stderr = kubectl_denied(
        &out,
        SECRETS_VALIDATE,
        &["VG104", "VG106"],
        "alice's SA-token shell with a forged class label",
    );
    assert_contains(
        stderr,
        &[&format!("label {P}secret-class=bootstrap")],
        "VG104 denial (shell)",
    );
    for name in [
        "sh.helm.release.v1.copied.v1",
        "sh.helm.release.v1.forged.v1",
        "shell-copied",
        "shell-forged",
    ] {
        assert!(
            get_secret(&admin, &ns, name).await.is_none(),
            "denied Secret {name} must not be stored"
        );
    }
}

// ------------------------------------------------------------------ 2. ExternalSecret templates

/// A conforming ExternalSecret (Argo CD's, vault-backend, its namespace's postgres path) that
/// fetches `username` and `password` and renders them through `template`.
fn templated_external_secret(ns: &str, name: &str, template: Value) -> Value {
    let path = format!("platform-data/postgres/{ns}");
    let mut es = external_secret(ns, name, &path);
    es["spec"]["data"] = json!([
        {"secretKey": "username", "remoteRef": {"key": path, "property": "username"}},
        {"secretKey": "password", "remoteRef": {"key": path, "property": "password"}}
    ]);
    es["spec"]["target"]["template"] = template;
    es
}

#[tokio::test]
async fn external_secret_templates_may_format_fetched_values_but_not_add_their_own() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "templates").await;
    let argocd = service_account(ARGOCD).await;
    let formatting = "postgres://{{ .username }}:{{ .password }}@db:5432/app";

    let cases = [
        (
            "from-configmap",
            json!({"engineVersion": "v2",
                   "templateFrom": [{"configMap": {"name": "app-connection", "items": [{"key": "url"}]}}]}),
            "templateFrom configMap",
        ),
        (
            "literal",
            json!({"engineVersion": "v2", "data": {"url": canary_value("postgres-literal")}}),
            "a literal template.data value",
        ),
        (
            "literal-beside-format",
            json!({"engineVersion": "v2",
                   "data": {"url": formatting, "api-key": canary_value("literal-key")}}),
            "a literal next to a formatting template",
        ),
    ];
    for (name, template, what) in cases {
        let status = assert_denied(
            create(
                &argocd.client,
                &templated_external_secret(&ns, name, template),
            )
            .await,
            ESO_VALIDATE,
            &["VG210"],
            what,
        );
        assert_contains(&status.message, &["VG210 template-source"], what);
        assert!(
            !status.message.contains(&env().canary),
            "{what}: the denial must never quote the literal"
        );
        assert!(
            get(
                &admin,
                "external-secrets.io/v1",
                "ExternalSecret",
                Some(&ns),
                name
            )
            .await
            .is_none(),
            "{what}: denied, so not stored"
        );
    }

    // Control: a template that only formats the fetched values.
    create_admitted(
        &argocd.client,
        &templated_external_secret(
            &ns,
            "formatted",
            json!({"engineVersion": "v2", "data": {"url": formatting}}),
        ),
    )
    .await;
    // The test CRD keeps spec free-form (x-kubernetes-preserve-unknown-fields): target.template
    // is stored as sent, i.e. vaultgate judged the template the apiserver really keeps.
    let stored = get(
        &admin,
        "external-secrets.io/v1",
        "ExternalSecret",
        Some(&ns),
        "formatted",
    )
    .await
    .expect("the formatting ExternalSecret is stored");
    assert_eq!(
        stored["spec"]["target"]["template"]["data"]["url"], formatting,
        "target.template survives the CRD schema: {:#}",
        stored["spec"]
    );
}

// ------------------------------------------------------------------ 4. pushed and pulled

/// An ExternalSecret `name` writing Secret `target` from `path`/`password` via vault-backend.
fn external_secret_to(ns: &str, name: &str, target: &str, path: &str) -> Value {
    let mut es = external_secret(ns, name, path);
    es["spec"]["target"]["name"] = json!(target);
    es
}

/// CloudNativePG (an `internal` operator in tests/e2e/policy.yaml) generates Secret `name`.
async fn operator_secret(cnpg: &Identity, ns: &str, name: &str) {
    create_admitted(
        &cnpg.client,
        &secret(ns, name, &[("username", "app"), ("password", "generated")]),
    )
    .await;
}

#[tokio::test]
async fn a_push_secret_source_may_not_become_an_external_secret_target_whatever_the_paths() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "pushpull").await;
    let argocd = service_account(ARGOCD).await;
    let cnpg = service_account(CNPG).await;

    // The operator's Secret S is published to Vault...
    operator_secret(&cnpg, &ns, "db").await;
    create_admitted(
        &argocd.client,
        &push_secret(
            &ns,
            "db-push",
            "db",
            &format!("platform-data/postgres/{ns}"),
            "password",
        ),
    )
    .await;
    // ...so an ExternalSecret writing S, even from ANOTHER path, makes it pulled and pushed.
    // (S exists and is not ESO's, so adopting it is VG205 on its own; until the view holds the
    // PushSecret that is the only rule, and the retry waits for VG208 from one denial to another.)
    let es = external_secret_to(&ns, "db", "db", &format!("platform-data/github/{ns}"));
    let status = denied_eventually(
        || create(&argocd.client, &es),
        ESO_VALIDATE,
        &["VG205", "VG208"],
        "ExternalSecret targeting a PushSecret's source",
    )
    .await;
    assert_contains(
        &status.message,
        &["VG208 authority-loop", "db-push", &format!("{ns}/db")],
        "VG208 denial (PushSecret first)",
    );
    assert!(
        get(
            &admin,
            "external-secrets.io/v1",
            "ExternalSecret",
            Some(&ns),
            "db"
        )
        .await
        .is_none()
    );

    // Control: the same ExternalSecret targeting another name.
    create_admitted(
        &argocd.client,
        &external_secret_to(
            &ns,
            "db",
            "db-pulled",
            &format!("platform-data/github/{ns}"),
        ),
    )
    .await;
}

#[tokio::test]
async fn an_external_secret_target_may_not_become_a_push_secret_source_whatever_the_paths() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "pushpull").await;
    let argocd = service_account(ARGOCD).await;
    let cnpg = service_account(CNPG).await;

    // The ExternalSecret first (its target does not exist yet: nothing to adopt)...
    create_admitted(
        &argocd.client,
        &external_secret_to(&ns, "db", "db", &format!("platform-data/github/{ns}")),
    )
    .await;
    operator_secret(&cnpg, &ns, "db").await;
    // ...then a PushSecret publishing that Secret to ANOTHER path. Until the view holds both
    // the ExternalSecret and the Secret, the real write could be admitted (or be VG307), so a
    // probe with a second violation waits for the view first.
    let ps = push_secret(
        &ns,
        "db-push",
        "db",
        &format!("platform-data/postgres/{ns}"),
        "password",
    );
    let probe = with_sentinel(&ps);
    denied_eventually(
        || create_dry_run(&argocd.client, &probe),
        ESO_VALIDATE,
        &["VG206", "VG208"],
        "probe: the view holds the ExternalSecret and the operator's Secret",
    )
    .await;
    let status = assert_denied(
        create(&argocd.client, &ps).await,
        ESO_VALIDATE,
        &["VG208"],
        "PushSecret publishing an ExternalSecret's target",
    );
    assert_contains(
        &status.message,
        &["VG208 authority-loop", &format!("{ns}/db")],
        "VG208 denial (ExternalSecret first)",
    );
    assert!(
        get(
            &admin,
            "external-secrets.io/v1alpha1",
            "PushSecret",
            Some(&ns),
            "db-push"
        )
        .await
        .is_none()
    );

    // Control: the same PushSecret publishing the operator's other Secret, which nothing pulls.
    operator_secret(&cnpg, &ns, "db-owner").await;
    create_admitted(
        &argocd.client,
        &push_secret(
            &ns,
            "db-push",
            "db-owner",
            &format!("platform-data/postgres/{ns}"),
            "password",
        ),
    )
    .await;
}

// ------------------------------------------------------------------ 9. group claims

/// Grants the e2e writer role (Secrets, ESO objects) to `users`, so that the apiserver's RBAC
/// lets their writes reach admission: vaultgate, not RBAC, is under test.
async fn grant_writer(users: &[&str]) {
    let bindings: Api<ClusterRoleBinding> = Api::all(admin().await);
    let subjects: Vec<Value> = users
        .iter()
        .map(|u| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": u}))
        .collect();
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": unique("e2e-writer-impersonated")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "e2e-writer"},
        "subjects": subjects
    }))
    .unwrap();
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .unwrap_or_else(|e| panic!("binding e2e-writer to {users:?}: {}", error_text(&e)));
}

/// `kubectl auth can-i create secrets` as the impersonated identity: RBAC caches settle fast,
/// but the binding must be in effect before a 403 can be read as vaultgate's.
fn wait_can_create_secrets(ns: &str, impersonation: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut args: Vec<&str> = impersonation.to_vec();
        args.extend(["auth", "can-i", "create", "secrets", "-n", ns]);
        let out = kubectl(&env().kubeconfig, &args, None);
        if out.stdout.trim() == "yes" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{impersonation:?} still may not create Secrets: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test]
async fn a_kube_system_group_claim_without_a_kube_system_service_account_exempts_nobody() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "claims").await;
    let admin_kc = env().kubeconfig.clone();
    let malformed = "system:serviceaccount:kube-system:a:b";
    grant_writer(&["mallory", malformed]).await;

    // mallory claims the kube-system service-account group (a client certificate's O= or an
    // OIDC claim would carry it the same way): vaultgate is still called, and denies.
    let mallory = [
        "--as=mallory",
        "--as-group=system:serviceaccounts:kube-system",
        "--as-group=system:authenticated",
    ];
    wait_can_create_secrets(&ns, &mallory);
    let out = kubectl_create(
        &admin_kc,
        &mallory,
        &secret(&ns, "claimed", &[("password", "by-mallory")]),
    );
    let stderr = kubectl_denied(
        &out,
        SECRETS_VALIDATE,
        &["VG101"],
        "mallory with the kube-system group",
    );
    assert_contains(
        stderr,
        &["VG101 unmanaged-secret", "\"mallory\""],
        "mallory's denial",
    );

    // A service-account-looking name that is no service account (two name segments).
    let fake_sa = [
        "--as=system:serviceaccount:kube-system:a:b",
        "--as-group=system:serviceaccounts:kube-system",
        "--as-group=system:authenticated",
    ];
    wait_can_create_secrets(&ns, &fake_sa);
    let out = kubectl_create(
        &admin_kc,
        &fake_sa,
        &secret(&ns, "claimed-ab", &[("password", "by-a-b")]),
    );
    let stderr = kubectl_denied(
        &out,
        SECRETS_VALIDATE,
        &["VG101"],
        "kube-system:a:b with the kube-system group",
    );
    assert_contains(stderr, &[&format!("\"{malformed}\"")], "a:b's denial");
    for name in ["claimed", "claimed-ab"] {
        assert!(get_secret(&admin, &ns, name).await.is_none());
    }

    // Control: a real kube-system service account with its own groups is exempt (the
    // apiserver's matchConditions skip it, so vaultgate neither denies nor stamps it).
    let gc = [
        "--as=system:serviceaccount:kube-system:generic-garbage-collector",
        "--as-group=system:serviceaccounts",
        "--as-group=system:serviceaccounts:kube-system",
        "--as-group=system:authenticated",
    ];
    let out = kubectl_create(
        &admin_kc,
        &gc,
        &secret(&ns, "by-gc", &[("password", "by-controller")]),
    );
    out.expect_ok();
    assert!(rule_ids(&out.stderr).is_empty(), "{}", out.stderr);
    let stored = get_secret(&admin, &ns, "by-gc")
        .await
        .expect("the exempt write is stored");
    assert!(
        label(&stored, &format!("{P}secret-class")).is_none(),
        "the mutating webhook was skipped too: {:?}",
        stored["metadata"]["labels"]
    );
}

// ------------------------------------------------------------------ 10. false positives

/// A TLS Secret as a certificate operator writes it.
fn tls_secret(ns: &str, name: &str, cert: &str) -> Value {
    typed_secret(
        ns,
        name,
        "kubernetes.io/tls",
        &[
            ("tls.crt", cert),
            ("tls.key", "ec-private-key"),
            ("ca.crt", "ca"),
        ],
    )
}

#[tokio::test]
async fn certificate_operators_write_and_rotate_their_own_webhook_secrets() {
    let _cluster = shared().await;
    let admin = admin().await;
    let cert_controller = service_account(ESO_CERT_CONTROLLER).await;
    let cm_webhook = service_account(CERT_MANAGER_WEBHOOK).await;
    let class = format!("{P}secret-class");

    // ESO's cert-controller creates the ESO webhook's serving certificate...
    let (eso_ns, eso_name) = ("external-secrets", "external-secrets-webhook");
    create_admitted(
        &cert_controller.client,
        &tls_secret(eso_ns, eso_name, "cert-generation-1"),
    )
    .await;
    let first = get_secret(&admin, eso_ns, eso_name).await.expect("stored");
    assert_eq!(
        label(&first, &class),
        Some("internal"),
        "{:?}",
        first["metadata"]["labels"]
    );

    // ...and rotates it: an UPDATE with a new tls.crt.
    let mut rotated = first.clone();
    rotated["data"]["tls.crt"] = json!(b64(&canary_value("cert-generation-2")));
    replace(&cert_controller.client, &rotated)
        .await
        .unwrap_or_else(|e| panic!("the cert-controller's rotation: {}", error_text(&e)));
    let after = get_secret(&admin, eso_ns, eso_name).await.expect("stored");
    assert!(
        data_of(&after, "tls.crt") == Some(b64(&canary_value("cert-generation-2")).as_str()),
        "the rotated certificate is stored"
    );
    assert_eq!(label(&after, &class), Some("internal"));

    // cert-manager's webhook creates its CA Secret.
    let (cm_ns, cm_name) = ("cert-manager", "cert-manager-webhook-ca");
    create_admitted(
        &cm_webhook.client,
        &tls_secret(cm_ns, cm_name, "webhook-ca"),
    )
    .await;
    let stored = get_secret(&admin, cm_ns, cm_name).await.expect("stored");
    assert_eq!(
        label(&stored, &class),
        Some("internal"),
        "{:?}",
        stored["metadata"]["labels"]
    );

    // Controls: the registrations are scoped to each operator's own namespace.
    let ns = namespace(&admin, "payments").await;
    for (who, name) in [
        (&cert_controller, "external-secrets-webhook"),
        (&cm_webhook, "cert-manager-webhook-ca"),
    ] {
        let status = assert_denied(
            create(&who.client, &tls_secret(&ns, name, "elsewhere")).await,
            SECRETS_VALIDATE,
            &["VG101"],
            &format!("{} outside its namespace", who.username),
        );
        assert_contains(
            &status.message,
            &[&who.username, "may write Secrets only in"],
            "VG101 (out of scope)",
        );
        assert!(get_secret(&admin, &ns, name).await.is_none());
    }
}

#[tokio::test]
async fn a_cluster_admin_may_label_or_unfinalize_an_unmanaged_secret_but_not_change_its_value() {
    let _cluster = shared().await;
    let admin = admin().await;
    let admin_kc = env().kubeconfig.clone();
    let ns = namespace(&admin, "housekeeping").await;
    let finalizer = "example.com/legacy-cleanup";
    seed_unmanaged(&ns, "legacy", &[finalizer]).await;
    let before = get_secret(&admin, &ns, "legacy").await.expect("seeded");

    // A label: metadata only, admitted.
    kubectl(
        &admin_kc,
        &["label", "secret", "legacy", "-n", &ns, "team=payments"],
        None,
    )
    .expect_ok();
    let labelled = get_secret(&admin, &ns, "legacy").await.expect("stored");
    assert_eq!(label(&labelled, "team"), Some("payments"));

    // The same admin changing a value: that is writing a Secret by hand, denied.
    let patch = json!({"data": {"password": b64(&canary_value("changed-by-admin"))}}).to_string();
    let out = kubectl(
        &admin_kc,
        &["patch", "secret", "legacy", "-n", &ns, "-p", &patch],
        None,
    );
    let stderr = kubectl_denied(
        &out,
        SECRETS_VALIDATE,
        &["VG101"],
        "the admin's value change",
    );
    assert_contains(
        stderr,
        &["VG101 unmanaged-secret", "\"e2e-admin\""],
        "the admin's value change",
    );
    let kept = get_secret(&admin, &ns, "legacy").await.expect("stored");
    assert!(
        data_of(&kept, "password") == data_of(&before, "password"),
        "the value is unchanged"
    );

    // A Secret stuck in deletion behind a finalizer whose controller is gone: the admin removes
    // the finalizer (an UPDATE vaultgate judges), and the Secret is finally deleted.
    kubectl(
        &admin_kc,
        &["delete", "secret", "legacy", "-n", &ns, "--wait=false"],
        None,
    )
    .expect_ok();
    let terminating = get_secret(&admin, &ns, "legacy")
        .await
        .expect("held by its finalizer");
    assert!(
        terminating["metadata"]["deletionTimestamp"].is_string(),
        "terminating: {:?}",
        terminating["metadata"]
    );
    kubectl(
        &admin_kc,
        &[
            "patch",
            "secret",
            "legacy",
            "-n",
            &ns,
            "--type=json",
            "-p",
            r#"[{"op": "remove", "path": "/metadata/finalizers"}]"#,
        ],
        None,
    )
    .expect_ok();
    assert!(
        get_secret(&admin, &ns, "legacy").await.is_none(),
        "without its finalizer the Secret is gone"
    );
}
