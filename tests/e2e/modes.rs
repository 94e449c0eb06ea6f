//! Warn mode and server-side dry runs, as a developer sees them with kubectl.

use crate::{
    bootstrap::{assert_bootstrap_stamps, unsealed},
    harness::*,
};

/// Listed as `warn` in tests/e2e/policy.yaml.
const WARN_NAMESPACE: &str = "legacy-payments";

#[tokio::test]
async fn a_warn_mode_namespace_admits_a_plain_secret_and_kubectl_prints_the_warning() {
    let _cluster = shared().await;
    let admin = admin().await;
    ensure_namespace(&admin, WARN_NAMESPACE).await;
    let alice = human("alice").await;
    let name = unique("db-creds");

    let out = alice.kubectl(
        &["apply", "-f", "-"],
        Some(&secret_yaml(
            WARN_NAMESPACE,
            &name,
            &[("password", "hunter2")],
        )),
    );
    out.expect_ok();
    assert_contains(
        &out.stderr,
        &[
            "Warning: [VG101 unmanaged-secret]",
            &format!("Secret \"{WARN_NAMESPACE}/{name}\""),
            "\"alice\"",
        ],
        "kubectl warnings",
    );
    assert_eq!(rule_ids(&out.stderr), ["VG101"], "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!("secret/{name} created")),
        "{}",
        out.stdout
    );
    assert!(
        get_secret(&admin, WARN_NAMESPACE, &name).await.is_some(),
        "warn mode admits the Secret"
    );

    // The same write in an enforcing namespace is refused: the mode really is per namespace.
    let ns = namespace(&admin, "payments").await;
    alice
        .kubectl(
            &["apply", "-f", "-"],
            Some(&secret_yaml(&ns, &name, &[("password", "hunter2")])),
        )
        .expect_failed();
}

#[tokio::test]
async fn server_dry_run_is_denied_exactly_like_the_real_request() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "payments").await;
    let alice = human("alice").await;
    let manifest = secret_yaml(&ns, "db-creds", &[("password", "hunter2")]);

    let dry = alice.kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(&manifest));
    dry.expect_failed();
    let real = alice.kubectl(&["apply", "-f", "-"], Some(&manifest));
    real.expect_failed();
    assert_contains(
        &dry.stderr,
        &["VG101 unmanaged-secret", "kind: ExternalSecret"],
        "dry-run stderr",
    );
    assert_eq!(
        dry.stderr, real.stderr,
        "a dry run must be judged (and worded) exactly like the real request"
    );
    assert!(get_secret(&admin, &ns, "db-creds").await.is_none());
}

#[tokio::test]
async fn server_dry_run_of_an_admitted_bootstrap_secret_stores_nothing() {
    let _cluster = shared().await;
    let admin = admin().await;
    ensure_namespace(&admin, "vault").await;
    let controller = service_account(SEALED_SECRETS).await;
    let name = unique("vault-unseal");
    let sealed = sealed_secret("vault", &name, "unseal-key");
    let owner = uid(&create(&admin, &sealed).await.expect("SealedSecret"));
    let obj = unsealed("vault", &name, &owner, Some("platform-data/vault/unseal"));

    // Through the API (kube-rs)...
    let answered = create_admitted_dry_run(&controller.client, &obj).await;
    // The mutation ran (the dry-run answer carries the stamps)...
    assert_bootstrap_stamps(&serde_json::to_value(answered).unwrap(), true);
    // ...and the same with kubectl as the controller, the way a GitOps diff would preview it.
    let out = controller.kubectl(
        &["apply", "--dry-run=server", "-o", "json", "-f", "-"],
        Some(&obj.to_string()),
    );
    out.expect_ok();
    let previewed: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("kubectl -o json printed no object ({e}):\n{}", out.stdout));
    assert_bootstrap_stamps(&previewed, true);
    // ...and nothing was stored.
    assert!(
        get_secret(&admin, "vault", &name).await.is_none(),
        "a dry run must leave nothing behind"
    );
}
