//! Rules for SecretStore and ClusterSecretStore: no forbidden providers (VG401), no token auth
//! on Vault (VG402), no namespaced Vault stores in application namespaces (VG403), and the
//! approved name must be a Vault store (VG404).

use super::{
    Policy, Review, Violation,
    eso_common::{object_label, writer_rule},
    identity::Writer,
    objects::Store,
    rules,
};

pub fn check_store(
    store: &Store,
    review: &Review<'_>,
    writer: &Writer<'_>,
    policy: &Policy,
    out: &mut Vec<Violation>,
) {
    let kind = review.object.kind().as_str();
    let obj = object_label(review, kind);
    writer_rule(kind, review, writer, out);
    let providers: Vec<&str> = store.providers().collect();
    let forbidden: Vec<&str> = providers
        .iter()
        .copied()
        .filter(|p| {
            policy
                .stores
                .forbidden_providers
                .iter()
                .any(|f| f.eq_ignore_ascii_case(p))
        })
        .collect();
    if !forbidden.is_empty() {
        out.push(Violation::new(
            &rules::FORBIDDEN_PROVIDER,
            format!("{obj} uses the provider {}", forbidden.join(", ")),
            "read secrets from Vault through ClusterSecretStore/vault-backend; to share a value across namespaces, PushSecret it to Vault",
        ).at_opt(forbidden.first().map(|p| format!("spec.provider.{p}"))));
    }
    let vault = store.spec.provider.get("vault");
    // Only Kubernetes auth with the store's own service account is allowed: every other method
    // (token, AppRole, userpass, LDAP, JWT or cert from a Secret) keeps a long-lived Vault
    // credential in a Kubernetes Secret, and so does `kubernetes.secretRef` (a service-account
    // JWT copied into a Secret, which outlives the account's rotation).
    let static_methods: Vec<&str> = vault
        .and_then(|v| v.get("auth"))
        .and_then(serde_json::Value::as_object)
        .map(|auth| {
            auth.iter()
                .filter_map(|(m, v)| match m.as_str() {
                    "kubernetes" => v
                        .get("secretRef")
                        .filter(|r| !r.is_null())
                        .map(|_| "kubernetes.secretRef"),
                    other => Some(other),
                })
                .collect()
        })
        .unwrap_or_default();
    if !static_methods.is_empty() {
        let auth = "spec.provider.vault.auth";
        out.push(Violation::new(
            &rules::VAULT_ROOT_TOKEN,
            format!(
                "{obj} authenticates to Vault with {auth}.{} (a credential kept in a Kubernetes Secret)",
                static_methods.join(", auth.")
            ),
            "use auth.kubernetes {mountPath: kubernetes, role: external-secrets, serviceAccountRef: {name: external-secrets, namespace: external-secrets}}",
        ).at_opt(static_methods.first().map(|m| format!("{auth}.{m}"))));
    }
    let ns = review.namespace.unwrap_or("");
    if kind == "SecretStore"
        && vault.is_some()
        && !policy.namespaces.bootstrap.iter().any(|b| b == ns)
    {
        out.push(Violation::new(
            &rules::NAMESPACED_VAULT_STORE,
            format!("{obj} gives namespace {ns:?} its own Vault store"),
            "reference the platform ClusterSecretStore/vault-backend from your ExternalSecrets instead",
        ).at("spec.provider.vault"));
    }
    if policy
        .stores
        .approved
        .iter()
        .any(|s| s.kind == kind && s.name == review.name)
        && (vault.is_none() || providers.len() != 1)
    {
        out.push(
            Violation::new(
                &rules::APPROVED_STORE_NOT_VAULT,
                format!(
                    "{obj} is the approved store name but its provider is {}",
                    if providers.is_empty() {
                        "missing".to_owned()
                    } else {
                        providers.join(", ")
                    }
                ),
                "the approved store must have exactly one provider: vault",
            )
            .at("spec.provider"),
        );
    }
}
