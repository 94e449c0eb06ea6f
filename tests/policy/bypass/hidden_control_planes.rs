//! Hidden control planes (#14 part 3): Secret-write grants (VG501), cross-namespace copier
//! workloads (VG502), script Secret writers with Vault init output (VG503), Crossplane's Vault
//! provider with a token (VG405) and values from Git (VG310). The rules that need a role or a
//! binding are judged against a view holding the rest of the set, in-process and over HTTPS.

use super::*;

pub(crate) fn view_of(objects: &[(Kind, Value)]) -> MemoryView {
    let mut view = MemoryView::from_policy(&Policy::default());
    for (kind, o) in objects {
        let object = Object::from_value(*kind, o.clone()).expect("fixture object decodes");
        view.insert(&object, o["metadata"]["namespace"].as_str());
    }
    view
}

pub(crate) fn judge(kind: Kind, object: &Value, view: &MemoryView) -> Decision {
    let write = Write {
        kind,
        operation: Operation::Create,
        namespace: object["metadata"]["namespace"].as_str(),
        user: ARGOCD,
        object: object.clone(),
        old: None,
    };
    write.evaluate_in(view)
}

pub(crate) fn messages(d: &Decision, rule: &str) -> Vec<String> {
    d.denied
        .iter()
        .filter(|v| v.rule.id == rule)
        .map(|v| format!("{}\nFix: {}", v.what, v.fix))
        .collect()
}

pub(crate) fn role(kind: &str, ns: Option<&str>, name: &str, verbs: &[&str]) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
           "metadata": {"name": name, "namespace": ns},
           "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": verbs}]})
}

pub(crate) fn binding(
    kind: &str,
    ns: Option<&str>,
    name: &str,
    role_kind: &str,
    role: &str,
    subjects: Value,
) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
           "metadata": {"name": name, "namespace": ns},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
           "subjects": subjects})
}

pub(crate) fn sa(ns: &str, name: &str) -> Value {
    json!([{"kind": "ServiceAccount", "name": name, "namespace": ns}])
}

pub(crate) fn job(ns: &str, name: &str, sa: &str, script: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": name, "namespace": ns,
                        "annotations": {"helm.sh/hook": "post-install,post-upgrade"}},
           "spec": {"template": {"spec": {"serviceAccountName": sa, "restartPolicy": "Never",
                    "containers": [{"name": "sync", "image": "bitnami/kubectl",
                                    "command": ["/bin/sh", "-ec"], "args": [script]}]}}}})
}

const COPY_ROOT_TOKEN: &str = "ROOT_TOKEN=$(kubectl get secret vault-init -n vault -o jsonpath='{.data.root_token}' | base64 -d)\nkubectl create secret generic vault-admin-token -n crossplane-system \\\n  --from-literal=token=\"$ROOT_TOKEN\" --dry-run=client -o yaml | kubectl apply -f -\n";

fn copier_set() -> Vec<(Kind, Value)> {
    vec![
        (
            Kind::Role,
            role(
                "Role",
                Some("crossplane-system"),
                "secret-writer",
                &["get", "create", "patch"],
            ),
        ),
        (
            Kind::RoleBinding,
            binding(
                "RoleBinding",
                Some("crossplane-system"),
                "root-token-sync",
                "Role",
                "secret-writer",
                sa("vault", "root-token-sync"),
            ),
        ),
    ]
}

#[test]
fn a_hook_job_copying_the_root_token_across_namespaces_is_denied_with_its_grant() {
    let view = view_of(&copier_set());
    let d = judge(
        Kind::Job,
        &job(
            "vault",
            "root-token-sync",
            "root-token-sync",
            COPY_ROOT_TOKEN,
        ),
        &view,
    );
    assert_eq!(denied(&d), ["VG111", "VG503", "VG502", "VG502"], "{d:?}");
    let vg111 = messages(&d, "VG111").join("\n");
    assert!(
        vg111.contains("revoke the root token")
            && vg111.contains("Secret crossplane-system/vault-admin-token"),
        "{vg111}"
    );
    let vg502 = messages(&d, "VG502").join("\n");
    for needle in [
        "Job vault/root-token-sync (Helm hook post-install,post-upgrade)",
        "service account vault/root-token-sync",
        "namespace \"crossplane-system\"",
        "RoleBinding crossplane-system/root-token-sync",
        "Secret crossplane-system/vault-admin-token",
        "script line 2",
        "see VG111",
    ] {
        assert!(vg502.contains(needle), "missing {needle:?} in {vg502}");
    }
    let vg503 = messages(&d, "VG503").join("\n");
    assert!(
        vg503.contains("a Vault root token read by the script"),
        "{vg503}"
    );
    // Never a suggestion to move the root token anywhere, through Vault included.
    assert!(
        !vg503.contains("PushSecret") && !vg502.contains("PushSecret"),
        "{vg502}\n{vg503}"
    );

    // The grant itself, judged on the binding and on the role.
    let rb = &copier_set()[1].1;
    let d = judge(Kind::RoleBinding, rb, &view);
    assert_eq!(denied(&d), ["VG501"]);
    let m = messages(&d, "VG501").join("\n");
    for needle in [
        "\"system:serviceaccount:vault:root-token-sync\"",
        "create/patch Secrets in namespace \"crossplane-system\"",
        "RoleBinding crossplane-system/root-token-sync",
        "policy.identities",
    ] {
        assert!(m.contains(needle), "missing {needle:?} in {m}");
    }
    let d = judge(Kind::Role, &copier_set()[0].1, &view);
    assert_eq!(denied(&d), ["VG501"]);

    // Control: the same hook reading a ConfigMap, with no grant.
    let reader = job(
        "vault",
        "root-token-sync",
        "root-token-sync",
        "kubectl get configmap vault-config -n vault -o yaml",
    );
    assert_allowed(
        &judge(Kind::Job, &reader, &view_of(&[])),
        "reading a ConfigMap",
    );
}

#[test]
fn other_spellings_of_a_cross_namespace_write_are_denied() {
    for script in [
        "kubectl --namespace=crossplane-system create secret generic t --from-literal=token=x",
        "kubectl -ncrossplane-system create secret generic t --from-literal=token=x",
        "NS=crossplane-system; kubectl create secret generic t -n $NS --from-literal=token=x",
        "kubectl get secret vault-init -n vault -o yaml | kubectl apply -n crossplane-system -f -",
        "cat <<EOF | kubectl apply -f -\napiVersion: v1\nkind: Secret\nmetadata:\n  name: t\n  namespace: crossplane-system\nstringData:\n  token: x\nEOF",
        "curl -sk -X POST -d @s.json https://kubernetes.default.svc/api/v1/namespaces/crossplane-system/secrets",
        "kubectl patch secret/t -n crossplane-system -p '{\"stringData\":{\"token\":\"x\"}}'",
    ] {
        let d = judge(
            Kind::Job,
            &job("argocd", "mint", "mint", script),
            &view_of(&[]),
        );
        assert!(
            denied(&d).contains(&"VG502") && denied(&d).contains(&"VG503"),
            "{script}: {:?}",
            denied(&d)
        );
    }
    // Control: the same write into the Job's own namespace is a script writer, not a copier.
    let d = judge(
        Kind::Job,
        &job(
            "argocd",
            "mint",
            "mint",
            "kubectl create secret generic t --from-literal=token=x",
        ),
        &view_of(&[]),
    );
    assert_eq!(denied(&d), ["VG503"]);
}

#[test]
fn a_vault_init_sidecar_storing_root_and_unseal_keys_is_denied() {
    let sts = |script: &str| {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "vault", "namespace": "vault"},
               "spec": {"template": {"spec": {"serviceAccountName": "vault", "containers": [
                   {"name": "vault", "image": "hashicorp/vault"},
                   {"name": "init", "image": "hashicorp/vault", "command": ["/bin/sh", "-c", script]}]}}}})
    };
    let script = "vault operator init -format=json > /tmp/init.json\nkubectl create secret generic vault-init --from-literal=root_token=\"$(jq -r .root_token /tmp/init.json)\" --from-file=unseal_keys_b64=/tmp/unseal";
    let d = judge(Kind::StatefulSet, &sts(script), &view_of(&[]));
    assert_eq!(denied(&d), ["VG111", "VG503"]);
    let m = messages(&d, "VG111").join("\n") + &messages(&d, "VG503").join("\n");
    for needle in [
        "StatefulSet vault/vault writes Secret vault/vault-init",
        "the output of vault operator init (line 1)",
        "a Vault root token (key \"root_token\")",
        "Vault unseal key material (key \"unseal_keys_b64\")",
        "auto-unseal",
        "revoke the root token",
        "Kubernetes auth",
    ] {
        assert!(m.contains(needle), "missing {needle:?} in {m}");
    }
    assert_eq!(
        d.denied[0].field.as_deref(),
        Some("spec.template.spec.containers[1]")
    );
    // Control: the server alone, with auto-unseal and no init sidecar.
    assert_allowed(
        &judge(
            Kind::StatefulSet,
            &sts("vault server -config=/vault/config"),
            &view_of(&[]),
        ),
        "vault server",
    );
}

#[test]
fn a_cron_job_bound_cluster_wide_to_write_secrets_is_a_copier_and_its_grant_a_finding() {
    let set = vec![
        (
            Kind::ClusterRole,
            role("ClusterRole", None, "token-writer", &["create", "update"]),
        ),
        (
            Kind::ClusterRoleBinding,
            binding(
                "ClusterRoleBinding",
                None,
                "argocd-token-mint",
                "ClusterRole",
                "token-writer",
                sa("argocd", "argocd-token-mint"),
            ),
        ),
    ];
    let view = view_of(&set);
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "argocd-token-mint", "namespace": "argocd"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {"serviceAccountName": "argocd-token-mint",
            "containers": [{"name": "mint", "env": [{"name": "TARGET_NS", "value": "crossplane-system"}],
                "command": ["/bin/bash", "-c"], "args": ["TOKEN=$(argocd account generate-token)\nkubectl create secret generic argocd-admin-token -n \"$TARGET_NS\" --from-literal=token=\"$TOKEN\""]}]}}}}}});
    let d = judge(Kind::CronJob, &cron, &view);
    assert_eq!(denied(&d), ["VG503", "VG502", "VG502"]);
    let m = messages(&d, "VG502").join("\n");
    assert!(
        m.contains("Secrets in every namespace")
            && m.contains("ClusterRoleBinding argocd-token-mint (ClusterRole token-writer)"),
        "{m}"
    );
    assert!(
        m.contains("Secret crossplane-system/argocd-admin-token"),
        "{m}"
    );
    let crb = Write {
        kind: Kind::ClusterRoleBinding,
        operation: Operation::Create,
        namespace: None,
        user: ARGOCD,
        object: set[1].1.clone(),
        old: None,
    };
    let d = crb.evaluate_in(&view);
    assert_eq!(denied(&d), ["VG501"]);
    assert_eq!(d.denied[0].field.as_deref(), Some("subjects[0]"));
}

#[test]
fn a_script_writing_a_sealed_bootstrap_secret_names_the_second_writer() {
    let mut view = view_of(&[]);
    view.insert_sealed_output("external-secrets", "vault-token-bootstrap");
    let seed = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "seed", "namespace": "external-secrets"},
        "spec": {"template": {"spec": {"containers": [{"name": "seed",
            "command": ["kubectl", "create", "secret", "generic", "vault-token-bootstrap", "--from-literal=token=x"]}]}}}});
    let d = judge(Kind::Job, &seed, &view);
    assert_eq!(denied(&d), ["VG503"]);
    let m = messages(&d, "VG503").join("\n");
    assert!(
        m.contains("also written by SealedSecret external-secrets/vault-token-bootstrap")
            && m.contains("VG207"),
        "{m}"
    );
    assert!(
        m.contains("policy.identities.operators") && m.contains("PushSecret"),
        "{m}"
    );
}

#[test]
fn an_aggregated_cluster_role_grants_what_its_members_grant() {
    let mut aggregator = role("ClusterRole", None, "platform-edit", &[]);
    aggregator["rules"] = json!([]);
    aggregator["aggregationRule"] =
        json!({"clusterRoleSelectors": [{"matchLabels": {"platform/aggregate-to-edit": "true"}}]});
    let mut member = role("ClusterRole", None, "secret-edit", &["patch"]);
    member["metadata"]["labels"] = json!({"platform/aggregate-to-edit": "true"});
    let rb = binding(
        "RoleBinding",
        Some("payments"),
        "alice-edit",
        "ClusterRole",
        "platform-edit",
        json!([{"kind": "User", "name": "alice"}]),
    );
    let view = view_of(&[
        (Kind::ClusterRole, aggregator),
        (Kind::ClusterRole, member.clone()),
        (Kind::RoleBinding, rb.clone()),
    ]);
    let d = judge(Kind::RoleBinding, &rb, &view);
    assert_eq!(denied(&d), ["VG501"]);
    assert!(
        messages(&d, "VG501")[0].contains("\"alice\" may patch Secrets in namespace \"payments\"")
    );
    let member_review = Write {
        kind: Kind::ClusterRole,
        operation: Operation::Create,
        namespace: None,
        user: ARGOCD,
        object: member,
        old: None,
    };
    assert_eq!(denied(&member_review.evaluate_in(&view)), ["VG501"]);
}

#[test]
fn a_binding_to_a_role_outside_the_set_is_not_evaluated_but_a_default_role_is_judged() {
    let custom = binding(
        "RoleBinding",
        Some("payments"),
        "alice-writer",
        "ClusterRole",
        "secret-writer",
        json!([{"kind": "User", "name": "alice"}]),
    );
    let d = judge(Kind::RoleBinding, &custom, &view_of(&[]));
    assert!(d.denied.is_empty(), "{d:?}");
    assert_eq!(
        d.missing.len(),
        1,
        "the unknown role is said, not assumed: {d:?}"
    );
    assert_eq!(
        (d.missing[0].kind.as_str(), d.missing[0].name.as_str()),
        ("ClusterRole", "secret-writer")
    );
    // Kubernetes' own `edit` is known without being in the set: it writes Secrets.
    let edit = binding(
        "RoleBinding",
        Some("payments"),
        "alice-edit",
        "ClusterRole",
        "edit",
        json!([{"kind": "User", "name": "alice"}]),
    );
    assert_eq!(
        denied(&judge(Kind::RoleBinding, &edit, &view_of(&[]))),
        ["VG501"]
    );
    let view = binding(
        "RoleBinding",
        Some("payments"),
        "alice-view",
        "ClusterRole",
        "view",
        json!([{"kind": "User", "name": "alice"}]),
    );
    let d = judge(Kind::RoleBinding, &view, &view_of(&[]));
    assert!(d.denied.is_empty() && d.missing.is_empty(), "{d:?}");
}

fn provider_config(credentials: Value) -> Value {
    json!({"apiVersion": "vault.upbound.io/v1beta1", "kind": "ProviderConfig", "metadata": {"name": "vault-admin"},
           "spec": {"address": "http://vault.vault.svc:8200", "credentials": credentials}})
}

#[test]
fn a_crossplane_provider_config_with_a_token_is_denied_and_kubernetes_auth_allowed() {
    let token = provider_config(
        json!({"source": "Secret", "secretRef": {"name": "vault-admin-token", "namespace": "crossplane-system", "key": "token"}}),
    );
    let d = judge(Kind::VaultProviderConfig, &token, &view_of(&[]));
    assert_eq!(denied(&d), ["VG405"]);
    let m = messages(&d, "VG405").join("\n");
    assert!(
        m.contains("Secret crossplane-system/vault-admin-token")
            && m.contains("source: Kubernetes"),
        "{m}"
    );
    let env = provider_config(json!({"source": "Environment"}));
    assert_eq!(
        denied(&judge(Kind::VaultProviderConfig, &env, &view_of(&[]))),
        ["VG405"]
    );
    let k8s = provider_config(json!({"source": "Kubernetes"}));
    assert_allowed(
        &judge(Kind::VaultProviderConfig, &k8s, &view_of(&[])),
        "Kubernetes auth",
    );
}

pub(crate) fn kv(for_provider: Value) -> Value {
    json!({"apiVersion": "kv.vault.upbound.io/v1alpha1", "kind": "SecretV2", "metadata": {"name": "temporal-db"},
           "spec": {"forProvider": for_provider, "providerConfigRef": {"name": "vault-k8s"}}})
}

#[test]
fn a_crossplane_kv_value_from_git_is_denied() {
    let inline = kv(
        json!({"mount": "secret", "name": "platform-data/postgres/temporal", "dataJson": "{\"password\":\"CANARY\"}"}),
    );
    let d = judge(Kind::VaultKvSecret, &inline, &view_of(&[]));
    assert_eq!(denied(&d), ["VG310"]);
    assert!(
        !format!("{d:?}").contains("CANARY"),
        "the value never reaches a decision"
    );
    assert!(messages(&d, "VG310")[0].contains("handover-to"));

    let from = |name: &str| {
        kv(
            json!({"mount": "secret", "name": "platform-data/postgres/temporal",
        "dataJsonSecretRef": {"name": name, "namespace": "postgres", "key": "credentials"}}),
        )
    };
    let plain = secret("git-creds", "postgres", json!({}));
    let mut view = view_of(&[(Kind::Secret, plain)]);
    view.insert_sealed_output("postgres", "sealed-creds");
    for name in ["git-creds", "sealed-creds"] {
        assert_eq!(
            denied(&judge(Kind::VaultKvSecret, &from(name), &view)),
            ["VG310"],
            "{name}"
        );
    }
    let bad_path = kv(
        json!({"mount": "secret", "name": "apps/prod/temporal", "dataJsonSecretRef": {"name": "x", "namespace": "postgres", "key": "k"}}),
    );
    assert_eq!(
        denied(&judge(Kind::VaultKvSecret, &bad_path, &view)),
        ["VG303"]
    );
}

#[test]
fn check_judges_the_hidden_control_plane_fixtures_as_a_set() {
    let dir = |d: &str| {
        format!(
            "{}/tests/fixtures/manifests/{d}",
            env!("CARGO_MANIFEST_DIR")
        )
    };
    let run = |d: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vaultgate"))
            .args(["check", &dir(d)])
            .output()
            .expect("run vaultgate check")
    };
    let out = run("hidden-control-planes");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for id in ["VG501", "VG502", "VG503", "VG405", "VG310"] {
        assert!(text.contains(&format!("[{id} ")), "{id} missing:\n{text}");
    }
    assert!(
        !text.contains("CANARY"),
        "an inline value never reaches the report"
    );
    let allowed = run("hidden-control-planes-allowed");
    assert_eq!(
        allowed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&allowed.stdout)
    );
}

#[test]
fn a_token_request_for_a_producer_account_is_a_secret_write_grant() {
    let minter = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "token-minter", "namespace": "external-secrets"},
        "rules": [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}]});
    let rb = binding(
        "RoleBinding",
        Some("external-secrets"),
        "ci-mints",
        "Role",
        "token-minter",
        sa("ci-tools", "deployer"),
    );
    let d = judge(
        Kind::RoleBinding,
        &rb,
        &view_of(&[(Kind::Role, minter.clone())]),
    );
    assert_eq!(denied(&d), ["VG501"], "{d:?}");
    let m = messages(&d, "VG501").join("\n");
    assert!(
        m.contains("serviceaccounts/token")
            && m.contains("system:serviceaccount:external-secrets:external-secrets"),
        "{m}"
    );
    // Control: the same Role in a namespace where no declared identity lives is not a path.
    let mut elsewhere = minter;
    elsewhere["metadata"]["namespace"] = json!("payments");
    let mut rb_elsewhere = rb;
    rb_elsewhere["metadata"]["namespace"] = json!("payments");
    assert_allowed(
        &judge(
            Kind::RoleBinding,
            &rb_elsewhere,
            &view_of(&[(Kind::Role, elsewhere)]),
        ),
        "token requests where no producer lives",
    );
}

#[test]
fn a_write_to_a_namespace_known_only_at_run_time_is_vg503_saying_so() {
    let d = judge(
        Kind::Job,
        &job(
            "apps",
            "mint",
            "mint",
            "for ns in $(kubectl get ns -o name); do kubectl create secret generic t -n \"${ns#namespace/}\" --from-literal=token=x; done",
        ),
        &view_of(&[]),
    );
    assert_eq!(denied(&d), ["VG503"], "{d:?}");
    let m = messages(&d, "VG503").join("\n");
    assert!(m.contains("only known at run time"), "{m}");
}
