//! Grants, workloads and Crossplane objects the hidden-control-plane rules (VG501-VG503, VG405,
//! VG310) must leave alone, each beside the nearest write that is still denied.

use super::*;
use crate::bypass::hidden_control_planes::{binding, job, judge, kv, role, sa, view_of};

#[test]
fn the_eso_controller_role_bound_to_eso_is_allowed_and_the_same_role_bound_to_ci_is_not() {
    let cr = role(
        "ClusterRole",
        None,
        "external-secrets-controller",
        &[
            "get", "list", "watch", "create", "update", "delete", "patch",
        ],
    );
    let eso = binding(
        "ClusterRoleBinding",
        None,
        "external-secrets-controller",
        "ClusterRole",
        "external-secrets-controller",
        sa("external-secrets", "external-secrets"),
    );
    let view = view_of(&[
        (Kind::ClusterRole, cr.clone()),
        (Kind::ClusterRoleBinding, eso.clone()),
    ]);
    for (kind, o) in [
        (Kind::ClusterRole, cr.clone()),
        (Kind::ClusterRoleBinding, eso),
    ] {
        let w = Write {
            kind,
            operation: vaultgate::policy::Operation::Create,
            namespace: None,
            user: ARGOCD,
            object: o,
            old: None,
        };
        assert_allowed(&w.evaluate_in(&view), "ESO's own grant");
    }
    let ci = binding(
        "ClusterRoleBinding",
        None,
        "pipeline-secrets",
        "ClusterRole",
        "external-secrets-controller",
        sa("tekton-pipelines", "default"),
    );
    let view = view_of(&[(Kind::ClusterRole, cr)]);
    let w = Write {
        kind: Kind::ClusterRoleBinding,
        operation: vaultgate::policy::Operation::Create,
        namespace: None,
        user: ARGOCD,
        object: ci,
        old: None,
    };
    assert_denied_by(&w.evaluate_in(&view), "VG501", "the same role bound to CI");
}

#[test]
fn built_in_bindings_of_the_control_plane_are_allowed() {
    let admin = role("ClusterRole", None, "cluster-admin", &["*"]);
    let kcm = role(
        "ClusterRole",
        None,
        "system:kube-controller-manager",
        &["create", "update"],
    );
    let token = role(
        "ClusterRole",
        None,
        "system:controller:token-cleaner",
        &["create", "update", "patch"],
    );
    let view = view_of(&[
        (Kind::ClusterRole, admin),
        (Kind::ClusterRole, kcm),
        (Kind::ClusterRole, token),
    ]);
    for b in [
        binding(
            "ClusterRoleBinding",
            None,
            "cluster-admin",
            "ClusterRole",
            "cluster-admin",
            json!([{"kind": "Group", "name": "system:masters"}]),
        ),
        binding(
            "ClusterRoleBinding",
            None,
            "system:kube-controller-manager",
            "ClusterRole",
            "system:kube-controller-manager",
            json!([{"kind": "User", "name": "system:kube-controller-manager"}]),
        ),
        binding(
            "ClusterRoleBinding",
            None,
            "system:controller:token-cleaner",
            "ClusterRole",
            "system:controller:token-cleaner",
            sa("kube-system", "token-cleaner"),
        ),
    ] {
        let w = Write {
            kind: Kind::ClusterRoleBinding,
            operation: vaultgate::policy::Operation::Create,
            namespace: None,
            user: ARGOCD,
            object: b,
            old: None,
        };
        assert_allowed(&w.evaluate_in(&view), "a built-in binding");
    }
    // The name is no pass: a `system:` role bound to every service account is a grant.
    let all = binding(
        "ClusterRoleBinding",
        None,
        "system:oops",
        "ClusterRole",
        "cluster-admin",
        json!([{"kind": "Group", "name": "system:serviceaccounts"}]),
    );
    let w = Write {
        kind: Kind::ClusterRoleBinding,
        operation: vaultgate::policy::Operation::Create,
        namespace: None,
        user: ARGOCD,
        object: all,
        old: None,
    };
    assert_denied_by(
        &w.evaluate_in(&view),
        "VG501",
        "cluster-admin for every service account",
    );
}

#[test]
fn a_read_only_secret_role_and_a_config_map_job_are_allowed() {
    let reader = role(
        "Role",
        Some("payments"),
        "secret-reader",
        &["get", "list", "watch"],
    );
    let rb = binding(
        "RoleBinding",
        Some("payments"),
        "api",
        "Role",
        "secret-reader",
        sa("payments", "api"),
    );
    let view = view_of(&[(Kind::Role, reader), (Kind::RoleBinding, rb.clone())]);
    assert_allowed(&judge(Kind::RoleBinding, &rb, &view), "get-only");
    for script in [
        "kubectl get configmap app-config -n payments -o yaml",
        "kubectl get secret db -n payments -o jsonpath='{.data.password}' > /tmp/p",
        "echo 'run: kubectl create secret generic x'",
    ] {
        assert_allowed(
            &judge(Kind::Job, &job("payments", "print", "api", script), &view),
            script,
        );
    }
    // Nearest denial: the same Job creating the Secret it read.
    let d = judge(
        Kind::Job,
        &job(
            "payments",
            "print",
            "api",
            "kubectl create secret generic db2 --from-literal=password=x",
        ),
        &view,
    );
    assert_denied_by(&d, "VG503", "a script writer");
}

#[test]
fn a_declared_operators_own_controller_is_judged_at_write_time_but_a_job_borrowing_its_account_is_not()
 {
    // The operator's long-running controller, as its own service account: its Secrets are
    // judged when it writes them (VG503 does not apply to it).
    let script = "kubectl create secret tls web-tls --cert=/tmp/c --key=/tmp/k";
    let deployment = |sa: &str, script: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "cert-manager", "namespace": "cert-manager"},
               "spec": {"template": {"spec": {"serviceAccountName": sa, "containers": [
                   {"name": "c", "image": "quay.io/jetstack/cert-manager-controller",
                    "command": ["/bin/sh", "-c", script]}]}}}})
    };
    assert_allowed(
        &judge(
            Kind::Deployment,
            &deployment("cert-manager", script),
            &view_of(&[]),
        ),
        "a declared producer's own controller",
    );
    // Nearest denials: the same Deployment writing into another namespace (VG502 applies to
    // every script), a Helm hook Job reusing the producer's account (never exempt), and an
    // undeclared account.
    let cross = "kubectl create secret tls web-tls -n payments --cert=/tmp/c --key=/tmp/k";
    assert_denied_by(
        &judge(
            Kind::Deployment,
            &deployment("cert-manager", cross),
            &view_of(&[]),
        ),
        "VG502",
        "a producer's controller writing into another namespace",
    );
    let d = judge(
        Kind::Job,
        &job("cert-manager", "issue", "cert-manager", script),
        &view_of(&[]),
    );
    assert_eq!(
        denied(&d),
        ["VG503"],
        "a hook Job borrowing the producer's account"
    );
    assert!(
        d.denied[0].fix.contains("not that producer"),
        "{}",
        d.denied[0].fix
    );
    assert_denied_by(
        &judge(
            Kind::Job,
            &job("cert-manager", "issue", "installer", script),
            &view_of(&[]),
        ),
        "VG503",
        "an undeclared one",
    );
}

#[test]
fn impersonating_or_minting_tokens_for_undeclared_accounts_is_not_a_secret_write_grant() {
    // Impersonation limited to an undeclared user, and service-account impersonation through a
    // RoleBinding in a namespace with no declared identity: neither reaches a producer.
    let limited = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "as-alice"},
        "rules": [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"],
                   "resourceNames": ["alice"]}]});
    let crb = binding(
        "ClusterRoleBinding",
        None,
        "support-as-alice",
        "ClusterRole",
        "as-alice",
        sa("support", "helpdesk"),
    );
    assert_allowed(
        &judge(
            Kind::ClusterRoleBinding,
            &crb,
            &view_of(&[(Kind::ClusterRole, limited.clone())]),
        ),
        "impersonating an undeclared user",
    );
    let sa_imp = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "as-any-sa", "namespace": "payments"},
        "rules": [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}]});
    let rb = binding(
        "RoleBinding",
        Some("payments"),
        "debug",
        "Role",
        "as-any-sa",
        sa("payments", "debugger"),
    );
    assert_allowed(
        &judge(Kind::RoleBinding, &rb, &view_of(&[(Kind::Role, sa_imp)])),
        "impersonating service accounts where no producer lives",
    );
    // Nearest denial: the same limited impersonation, naming ESO's account.
    let mut eso = limited;
    eso["rules"][0]["resourceNames"] =
        json!(["system:serviceaccount:external-secrets:external-secrets"]);
    assert_denied_by(
        &judge(
            Kind::ClusterRoleBinding,
            &crb,
            &view_of(&[(Kind::ClusterRole, eso)]),
        ),
        "VG501",
        "impersonating ESO",
    );
}

#[test]
fn a_kv_secret_from_an_operator_secret_is_allowed() {
    let owned = secret(
        "temporal-postgres-app",
        "postgres",
        json!({"ownerReferences": [owner("postgresql.cnpg.io/v1", "Cluster")]}),
    );
    let view = view_of(&[(Kind::Secret, owned)]);
    let ok = kv(
        json!({"mount": "secret", "name": "platform-data/postgres/temporal",
        "dataJsonSecretRef": {"name": "temporal-postgres-app", "namespace": "postgres", "key": "credentials"}}),
    );
    assert_allowed(
        &judge(Kind::VaultKvSecret, &ok, &view),
        "an operator's Secret",
    );
    let mount = kv(
        json!({"mount": "platform-data", "name": "postgres/temporal",
        "dataJsonSecretRef": {"name": "temporal-postgres-app", "namespace": "postgres", "key": "credentials"}}),
    );
    assert_allowed(
        &judge(Kind::VaultKvSecret, &mount, &view),
        "the prefix as the mount",
    );
    let inline =
        kv(json!({"mount": "secret", "name": "platform-data/postgres/temporal", "dataJson": "{}"}));
    assert_denied_by(
        &judge(Kind::VaultKvSecret, &inline, &view),
        "VG310",
        "inline",
    );
}
