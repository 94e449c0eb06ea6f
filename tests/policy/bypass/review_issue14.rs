//! Adversarial review of issue #14 (whole-repo `check`, VG111, VG501-VG503, config-only
//! Secrets, `policy suggest`). Every test here FAILS on the commit it was written against: each
//! one is a reproduction of a finding, named in the comment above it, with the verdict the RFC
//! asks for (docs/rfc-digest.md). Each also carries a control that passes today, so a fix that
//! simply denies everything is caught.
//!
//! In-process cases go through the same dual harness as the rest of the bypass suite (the
//! HTTPS verdict must agree); the `check` and `policy suggest` cases run the real binary.

use super::hidden_control_planes::{binding, job, judge, messages, role, sa, view_of};
use super::*;
use std::{path::PathBuf, process::Command};

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("vaultgate-review14-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn vaultgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(args)
        .output()
        .expect("run vaultgate")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const CROSS_NS_WRITE: &str =
    "kubectl create secret generic t -n crossplane-system --from-literal=token=x";

// ---------------------------------------------------------------------------------------------
// Finding 1 (HIGH): the script reader misses ordinary shell forms, so VG502/VG503 (and VG111
// for a root token) are bypassed by wrapping the same write in a loop, a conditional, a
// subshell, a nested `sh -c`, `timeout`/`xargs`/`eval`, a global kubectl flag that takes a
// value (`--token`, `--server`), a dry-run written to a file and then applied, or a JSON
// heredoc. None of these is among the README's documented blind spots ("a manifest applied
// from a file, a script mounted from a ConfigMap, or another client"), and every one is how
// real bootstrap scripts are written. §2.4 Inv 6, §8.8: scripts must not act as control planes.
// ---------------------------------------------------------------------------------------------
#[test]
fn review14_script_reader_misses_common_shell_forms() {
    let forms = [
        format!("for ns in a b; do {CROSS_NS_WRITE}; done"),
        format!("if {CROSS_NS_WRITE}; then echo ok; fi"),
        format!("until {CROSS_NS_WRITE}; do sleep 1; done"),
        format!("({CROSS_NS_WRITE})"),
        format!("{{ {CROSS_NS_WRITE}; }}"),
        format!("! {CROSS_NS_WRITE}"),
        format!("sh -c '{CROSS_NS_WRITE}'"),
        format!("eval \"{CROSS_NS_WRITE}\""),
        format!("timeout 30 {CROSS_NS_WRITE}"),
        "echo crossplane-system | xargs -I{} kubectl create secret generic t -n {} --from-literal=token=x".to_owned(),
        "kubectl --token \"$T\" create secret generic t -n crossplane-system --from-literal=token=x".to_owned(),
        "kubectl --server https://kubernetes.default.svc create secret generic t -n crossplane-system --from-literal=token=x".to_owned(),
        format!("{CROSS_NS_WRITE} --dry-run=client -o yaml > /tmp/s.yaml && kubectl apply -f /tmp/s.yaml"),
        "cat <<EOF | kubectl apply -f -\n{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"t\",\"namespace\":\"crossplane-system\"},\"stringData\":{\"token\":\"x\"}}\nEOF".to_owned(),
    ];
    // Control: the plain line is caught today.
    let d = judge(
        Kind::Job,
        &job("apps", "mint", "mint", CROSS_NS_WRITE),
        &view_of(&[]),
    );
    assert!(denied(&d).contains(&"VG502") && denied(&d).contains(&"VG503"));

    let missed: Vec<&String> = forms
        .iter()
        .filter(|script| {
            let d = judge(
                Kind::Job,
                &job("apps", "mint", "mint", script),
                &view_of(&[]),
            );
            !(denied(&d).contains(&"VG502") && denied(&d).contains(&"VG503"))
        })
        .collect();
    assert!(
        missed.is_empty(),
        "cross-namespace Secret writes not seen: {missed:#?}"
    );
}

// Finding 1b (HIGH): the container's script is not found when the shell is started through a
// wrapper (`/usr/bin/env sh -c`, `tini -- sh -c`), or when a long option containing a `c`
// (`bash --norc -c`) comes before `-c`: `script_of` takes the word after `--norc` as the
// script. Same rules as above.
#[test]
fn review14_script_is_lost_behind_env_tini_or_a_long_option() {
    let with_command = |command: &[&str]| {
        let mut j = job("apps", "mint", "mint", CROSS_NS_WRITE);
        j["spec"]["template"]["spec"]["containers"][0]["command"] = json!(command);
        j
    };
    // Control.
    let d = judge(
        Kind::Job,
        &with_command(&["/bin/bash", "-c"]),
        &view_of(&[]),
    );
    assert!(denied(&d).contains(&"VG502"), "{:?}", denied(&d));
    for command in [
        &["/usr/bin/env", "sh", "-c"][..],
        &["/tini", "--", "/bin/sh", "-c"][..],
        &["dumb-init", "--", "sh", "-c"][..],
        &["bash", "--norc", "-c"][..],
    ] {
        let d = judge(Kind::Job, &with_command(command), &view_of(&[]));
        assert!(
            denied(&d).contains(&"VG502") && denied(&d).contains(&"VG503"),
            "{command:?}: {:?}",
            denied(&d)
        );
    }
}

// Finding 1c (HIGH, VG111): the same blind spot lets a script store the Vault root token in
// another namespace with no VG111 at all: a one-line `if ...; then ...; fi` (the usual
// "create if missing" idiom). §7.2.1/§7.5: the root token is never kept in Kubernetes.
#[test]
fn review14_root_token_stored_by_a_wrapped_kubectl_is_not_vg111() {
    let plain = "kubectl create secret generic vault-admin-token -n crossplane-system --from-literal=ROOT_TOKEN=\"$T\"";
    let d = judge(
        Kind::Job,
        &job("vault", "init", "init", plain),
        &view_of(&[]),
    );
    assert!(denied(&d).contains(&"VG111"), "control: {:?}", denied(&d));
    // Control: an `if` block with the write on its own line is seen.
    let block = format!(
        "if ! kubectl get secret vault-admin-token -n crossplane-system; then\n  {plain}\nfi"
    );
    let d = judge(
        Kind::Job,
        &job("vault", "init", "init", &block),
        &view_of(&[]),
    );
    assert!(denied(&d).contains(&"VG111"), "control: {:?}", denied(&d));
    // The same on one line, and in the `||` idiom, is not.
    let wrapped =
        format!("if ! kubectl get secret vault-admin-token -n crossplane-system; then {plain}; fi");
    let wrapped_one_line = format!(
        "kubectl get secret vault-admin-token -n crossplane-system || if true; then {plain}; fi"
    );
    for script in [wrapped.as_str(), wrapped_one_line.as_str()] {
        let d = judge(
            Kind::Job,
            &job("vault", "init", "init", script),
            &view_of(&[]),
        );
        assert!(denied(&d).contains(&"VG111"), "{script}: {:?}", denied(&d));
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 2 (HIGH): a workload whose service account is a declared producer skips VG111, VG502
// and VG503 entirely (`check_workload` returns early on `is_producer()`). Argo CD's
// application controller and Flux's kustomize-controller are decrypters by default, so a Helm
// hook Job in `argocd` that runs as `argocd-application-controller` can copy the Vault root
// token into crossplane-system with no finding. README: VG111 is denied "whoever writes it";
// §7.2.1, §2.4 Inv 6-7. Declaring the controller a producer is about the Secrets *it* writes,
// not a licence for arbitrary scripts reusing its service account.
// ---------------------------------------------------------------------------------------------
#[test]
fn review14_a_job_reusing_a_producer_service_account_escapes_vg111_vg502_vg503() {
    let script = "ROOT_TOKEN=$(kubectl get secret vault-init -n vault -o jsonpath='{.data.root_token}' | base64 -d)\nkubectl create secret generic vault-admin-token -n crossplane-system --from-literal=root_token=\"$ROOT_TOKEN\"";
    // Control: the same Job under its own service account is denied.
    let d = judge(
        Kind::Job,
        &job("argocd", "root-token-sync", "root-token-sync", script),
        &view_of(&[]),
    );
    assert!(denied(&d).contains(&"VG111"), "control: {:?}", denied(&d));
    for (ns, sa_name) in [
        ("argocd", "argocd-application-controller"),
        ("flux-system", "kustomize-controller"),
        ("external-secrets", "external-secrets"),
    ] {
        let d = judge(
            Kind::Job,
            &job(ns, "root-token-sync", sa_name, script),
            &view_of(&[]),
        );
        assert!(
            denied(&d).contains(&"VG111")
                && denied(&d).contains(&"VG502")
                && denied(&d).contains(&"VG503"),
            "{ns}/{sa_name}: {:?}",
            denied(&d)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 3 (HIGH): VG501 only counts create/update/patch on secrets. A grant of `impersonate`
// on serviceaccounts/users/groups lets the subject send its Secret writes *as* the ESO or
// decrypter identity, which vaultgate then trusts as a producer (classified materialized or
// bootstrap). `bind`/`escalate` on roles plus create on rolebindings lets it grant itself
// `edit`. Either is a Secret-write capability held by an undeclared identity (§2.4 Inv 6,
// §5.8; §7.5 least privilege). Not documented as a gap.
// ---------------------------------------------------------------------------------------------
#[test]
fn review14_impersonate_and_bind_grants_are_not_secret_write_grants() {
    let impersonator = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "impersonator"},
        "rules": [{"apiGroups": [""], "resources": ["serviceaccounts", "users", "groups"],
                   "verbs": ["impersonate"]}]});
    let crb = binding(
        "ClusterRoleBinding",
        None,
        "ci-impersonates",
        "ClusterRole",
        "impersonator",
        sa("ci-tools", "deployer"),
    );
    let view = view_of(&[
        (Kind::ClusterRole, impersonator.clone()),
        (Kind::ClusterRoleBinding, crb.clone()),
    ]);
    // Control: the same binding to a role with `create secrets` is VG501 today.
    let writer = role("ClusterRole", None, "writer", &["create"]);
    let crb_w = binding(
        "ClusterRoleBinding",
        None,
        "ci-writes",
        "ClusterRole",
        "writer",
        sa("ci-tools", "deployer"),
    );
    let d = judge(
        Kind::ClusterRoleBinding,
        &crb_w,
        &view_of(&[(Kind::ClusterRole, writer)]),
    );
    assert_eq!(denied(&d), ["VG501"], "control");

    let d = judge(Kind::ClusterRoleBinding, &crb, &view);
    assert!(
        denied(&d).contains(&"VG501"),
        "impersonate grant: {:?}",
        denied(&d)
    );
    let d = judge(Kind::ClusterRole, &impersonator, &view);
    assert!(
        denied(&d).contains(&"VG501"),
        "impersonate role: {:?}",
        denied(&d)
    );

    let binder = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "binder"},
        "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles", "roles"],
                   "verbs": ["bind", "escalate"]},
                  {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"],
                   "verbs": ["create"]}]});
    let rb = binding(
        "RoleBinding",
        Some("payments"),
        "ci-binds",
        "ClusterRole",
        "binder",
        sa("ci-tools", "deployer"),
    );
    let d = judge(
        Kind::RoleBinding,
        &rb,
        &view_of(&[(Kind::ClusterRole, binder)]),
    );
    assert!(
        denied(&d).contains(&"VG501"),
        "bind/escalate grant: {:?}",
        denied(&d)
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 4 (HIGH): `vaultgate policy suggest` turns an application namespace into a producer
// from a substring of an image name, and into a bootstrap namespace from a Deployment or a
// legacy SealedSecret there. An app Deployment running `ghcr.io/acme/external-secrets-exporter`
// makes its service account *the* ESO identity (replacing the real one) and `payments` a
// bootstrap namespace. Onboarding is `suggest > policy.yaml && check --policy policy.yaml`: with
// the suggestion, a copier Job under that service account and an application SealedSecret
// (Sealed-Secrets-first, rejected by §8.2; bootstrap scoped to minimal namespaces, §5.2) are
// all ALLOWED, where the default policy denies both.
// ---------------------------------------------------------------------------------------------
#[test]
fn review14_policy_suggest_declares_an_app_namespace_a_producer_by_image_substring() {
    let dir = scratch("suggest");
    std::fs::write(
        dir.join("app.yaml"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: eso-metrics, namespace: payments}
spec:
  template:
    spec:
      serviceAccountName: payments-sync
      containers:
      - name: x
        image: ghcr.io/acme/external-secrets-exporter:1.0
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: stripe, namespace: payments}
spec:
  encryptedData: {api_key: AgBxx}
---
apiVersion: batch/v1
kind: Job
metadata: {name: copy, namespace: payments}
spec:
  template:
    spec:
      serviceAccountName: payments-sync
      restartPolicy: Never
      containers:
      - name: c
        image: bitnami/kubectl
        command: ["/bin/sh", "-c"]
        args: ["kubectl get secret db -n postgres -o yaml | kubectl apply -n payments -f -"]
"#,
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    // Control: the default policy denies the SealedSecret (VG106) and the Job (VG503).
    let default = vaultgate(&["check", d]);
    assert_eq!(default.status.code(), Some(1), "{}", text(&default));

    let suggested = vaultgate(&["policy", "suggest", d]);
    assert!(suggested.status.success(), "{}", text(&suggested));
    let policy = String::from_utf8_lossy(&suggested.stdout).into_owned();
    let policy_file = dir.join("..").join(format!(
        "vaultgate-review14-policy-{}.yaml",
        std::process::id()
    ));
    std::fs::write(&policy_file, &policy).unwrap();
    let lines: Vec<&str> = policy
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("system:serviceaccount:payments:payments-sync")),
        "an app service account suggested as a producer:\n{policy}"
    );
    assert!(
        !lines.iter().any(|l| l.trim() == "- \"payments\""),
        "an app namespace suggested as a bootstrap namespace:\n{policy}"
    );
    let with = vaultgate(&["check", "--policy", policy_file.to_str().unwrap(), d]);
    assert_eq!(
        with.status.code(),
        Some(1),
        "the suggested policy allows what the default denies:\n{}",
        text(&with)
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 5 (MEDIUM): config-only classification lets secret URLs through from Git. Only
// `DATABASE_URL`-style words are excluded, so `SLACK_WEBHOOK_URL` (the URL *is* the bearer
// credential), `MONGO_URI`, `CELERY_BROKER_URL`, `ELASTICSEARCH_URL` (user:password@host) and even
// a key named `password_url` count as settings and a plain Secret with them applied by Argo CD
// passes VG101. Inv 8 allows non-sensitive configuration only; §2.4 Inv 5.
// ---------------------------------------------------------------------------------------------
#[test]
fn review14_config_only_lets_credential_urls_through_from_git() {
    let plain = |key: &str| {
        let mut s = secret("app-config", "payments", json!({}));
        s["data"] = json!({});
        s["stringData"] = json!({ key: "x" });
        s
    };
    // Control: a host/port Secret is allowed, a password is not.
    assert_allowed(
        &Write::create(Kind::Secret, "payments", ARGOCD, {
            let mut s = secret("app-config", "payments", json!({}));
            s["data"] = json!({});
            s["stringData"] = json!({"DB_HOST": "db", "DB_PORT": "5432"});
            s
        })
        .evaluate(),
        "config-only control",
    );
    assert_denied_by(
        &Write::create(Kind::Secret, "payments", ARGOCD, plain("DB_PASSWORD")).evaluate(),
        "VG101",
        "password control",
    );
    let allowed: Vec<&str> = [
        "SLACK_WEBHOOK_URL",
        "MONGO_URI",
        "CELERY_BROKER_URL",
        "ELASTICSEARCH_URL",
        "password_url",
    ]
    .into_iter()
    .filter(|k| {
        denied(&Write::create(Kind::Secret, "payments", ARGOCD, plain(k)).evaluate()).is_empty()
    })
    .collect();
    assert!(
        allowed.is_empty(),
        "credential-carrying keys judged configuration: {allowed:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 6 (MEDIUM): VG111 key recognition is inconsistent. Unseal keys are recognised with an
// encoding suffix (`unseal_keys_b64`) but the root token is not (`root_token_b64`,
// `vault_root_token_base64`); a doubled separator (`root__token`) or a dotfile key from
// `--from-file=.root_token` also slips by. §7.2.1, §7.5.
// ---------------------------------------------------------------------------------------------
#[test]
fn review14_vg111_misses_encoded_and_oddly_separated_root_token_keys() {
    let boot = |key: &str| {
        let mut s = secret(
            "vault-bootstrap",
            "vault",
            json!({"labels": {CLASS: "bootstrap"}}),
        );
        s["data"] = json!({ key: "eA==" });
        s
    };
    // Control.
    assert_denied_by(
        &Write::create(Kind::Secret, "vault", ARGOCD, boot("root_token")).evaluate(),
        "VG111",
        "root_token",
    );
    for key in [
        "root_token_b64",
        "vault_root_token_base64",
        "root__token",
        ".root_token",
    ] {
        assert_denied_by(
            &Write::create(Kind::Secret, "vault", ARGOCD, boot(key)).evaluate(),
            "VG111",
            key,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 7 (MEDIUM): `check` judges a SealedSecret without metadata.namespace in its
// *template's* namespace. sealed-secrets always writes the Secret into the SealedSecret's own
// namespace (the template's namespace is overwritten), i.e. where `-n`/kustomize/Argo CD puts
// it. A cluster-wide bootstrap SealedSecret whose template says `vault`, deployed into
// `payments`, is reported ALLOWED as `Secret vault/pg-admin`; the webhook later judges the real
// Secret in `payments` (VG106, §5.2). The CLI and the webhook disagree.
// ---------------------------------------------------------------------------------------------
#[test]
fn review14_check_places_a_sealed_secret_in_its_template_namespace() {
    let manifest = br#"apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: pg-admin
  annotations: {sealedsecrets.bitnami.com/cluster-wide: "true"}
spec:
  encryptedData: {password: AgBxx}
  template:
    metadata:
      namespace: vault
      labels: {platform.pnats.cloud/secret-class: bootstrap}
"#;
    let out = crate::check_cli::check_stdin(&["-n", "payments", "--format", "json"], manifest);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected VG106 for Secret payments/pg-admin: {report}"
    );
    assert!(report.contains("VG106"), "{report}");
}

// ---------------------------------------------------------------------------------------------
// Finding 8 (LOW-MEDIUM): VG502 only compares the namespace *written* with the workload's own.
// A Job that copies `postgres/db` into its own namespace, or that rewrites the namespace in the
// pipe (`sed`/`jq`), is a cross-namespace copy (§2.4 Inv 7, §8.10) but gets only VG503; in the
// sed case the reported target is even wrong (the workload's namespace).
// ---------------------------------------------------------------------------------------------
#[test]
fn review14_copies_into_the_own_namespace_or_through_sed_are_not_vg502() {
    for script in [
        "kubectl get secret db -n postgres -o yaml | kubectl apply -n apps -f -",
        "kubectl get secret db -n postgres -o yaml | sed 's/namespace: postgres/namespace: crossplane-system/' | kubectl apply -f -",
    ] {
        let d = judge(
            Kind::Job,
            &job("apps", "copy", "copy", script),
            &view_of(&[]),
        );
        assert!(denied(&d).contains(&"VG503"), "control: {:?}", denied(&d));
        assert!(
            denied(&d).contains(&"VG502"),
            "{script}: {:?}\n{}",
            denied(&d),
            messages(&d, "VG503").join("\n")
        );
    }
}
