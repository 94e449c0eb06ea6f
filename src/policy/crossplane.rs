//! Crossplane's Vault provider as a writer of Vault and a holder of Vault credentials:
//!
//! - VG405 `crossplane-vault-token`: a ProviderConfig whose credentials are a token from a
//!   Secret (or the provider's environment) keeps a long-lived Vault credential in Kubernetes,
//!   the same finding as VG402 for ESO stores (§7.5, §5a.7.2);
//! - VG310 `inline-vault-value`: a KV resource whose value comes from Git (an inline `dataJson`,
//!   or a `dataJsonSecretRef` to a Secret that is a plain manifest, a SealedSecret's output or
//!   ESO's copy) writes Git content into Vault, like a PushSecret of a Git value (§5.5);
//! - VG303 `vault-path` on the path a KV resource writes (`paths::push_path_problems`).
//!
//! Groups and fields: docs/ARCHITECTURE.md §10.5.

use super::{
    Policy, Review, Violation,
    objects::{KvParameters, VaultKvSecret, VaultProviderConfig},
    paths, rules,
    view::ClusterView,
};

/// VG405 for a ProviderConfig / ClusterProviderConfig.
pub fn check_provider_config(
    pc: &VaultProviderConfig,
    review: &Review<'_>,
    out: &mut Vec<Violation>,
) {
    let creds = &pc.spec.credentials;
    let Some(source) = creds.source.as_deref() else {
        return;
    };
    let obj = format!("ProviderConfig {}", review.name);
    let held = match source {
        "Secret" => match &creds.secret_ref {
            Some(r) => format!(
                "a token kept in Secret {}/{} (key {:?})",
                r.namespace.as_deref().unwrap_or("?"),
                r.name,
                r.key
            ),
            None => "a token kept in a Secret".to_owned(),
        },
        "Environment" => "a token from the provider pod's environment".to_owned(),
        // Kubernetes auth, an injected identity, a file (a Vault agent's sink) or none.
        _ => return,
    };
    out.push(
        Violation::new(
            &rules::CROSSPLANE_VAULT_TOKEN,
            format!("{obj} authenticates to Vault with spec.credentials.source {source}: {held}"),
            "use Vault's Kubernetes auth: spec.credentials.source: Kubernetes with spec.role set to a role scoped to what the provider manages (and spec.mount: kubernetes), then revoke the token; never give a provider the root token",
        )
        .at("spec.credentials.source"),
    );
}

/// The path a KV resource writes, without its mount: the configured prefix may be the mount
/// (`mount: platform-data`, `name: postgres/app`) or the first segment of the name.
fn written_path(p: &KvParameters, policy: &Policy) -> Option<String> {
    let rest = p.vault_path()?;
    let mount = p.mount.as_deref().map(|m| m.trim_matches('/'));
    match mount {
        Some(m) if paths::prefix_of(m, policy).is_some() => Some(format!("{m}/{rest}")),
        _ => Some(rest.to_owned()),
    }
}

/// VG310 and VG303 for a KV resource.
pub fn check_kv_secret(
    kv: &VaultKvSecret,
    review: &Review<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let kind = review.object.kind().as_str();
    let own = review.namespace.or(kv.metadata.namespace.as_deref());
    let obj = match own {
        Some(ns) => format!("{kind} {ns}/{}", review.name),
        None => format!("{kind} {}", review.name),
    };
    let fix = "let the value be generated where it lives: in Vault (a secrets engine or the handover of a bootstrap Secret, handover-to), or by an in-cluster operator whose Secret a PushSecret publishes; Git declares that the secret exists, never its value";
    for (at, p) in kv.spec.params() {
        if p.data_json.is_some() {
            out.push(
                Violation::new(
                    &rules::INLINE_VAULT_VALUE,
                    format!("{obj} writes an inline {at}.dataJson into Vault: a value from Git"),
                    fix,
                )
                .at(format!("{at}.dataJson")),
            );
        }
        if let Some(r) = &p.data_json_secret_ref {
            let ns = r.namespace.as_deref().or(own).unwrap_or("default");
            if let Some(why) = view.secret(ns, &r.name).and_then(|m| git_origin(&m)) {
                out.push(
                    Violation::new(
                        &rules::INLINE_VAULT_VALUE,
                        format!(
                            "{obj} writes Secret {ns}/{} into Vault ({at}.dataJsonSecretRef), and that Secret is {why}",
                            r.name
                        ),
                        fix,
                    )
                    .at(format!("{at}.dataJsonSecretRef")),
                );
            }
        }
        if let Some(path) = written_path(p, policy) {
            let problems = paths::push_path_problems(&path, policy);
            if !problems.is_empty() {
                out.push(
                    Violation::new(
                        &rules::VAULT_PATH,
                        format!("{obj} writes Vault path {path:?}: {}", problems.join("; ")),
                        "write platform-data/<datasource>/<consumer> for secrets or platform-config/<datasource>/<instance> for configuration",
                    )
                    .at(format!("{at}.name")),
                );
            }
        }
    }
}

/// Why a Secret's value came from Git or Vault rather than an operator, if it did.
fn git_origin(meta: &super::view::SecretMeta) -> Option<&'static str> {
    let owned_by = |kind| {
        meta.owners
            .iter()
            .any(|o| super::view::is_owner(&o.api_version, &o.kind, kind))
    };
    if owned_by(super::view::SEALED_SECRET) {
        Some(
            "a SealedSecret's output (a bootstrap value from Git: hand it over with handover-to instead)",
        )
    } else if owned_by(super::view::EXTERNAL_SECRET) {
        Some("materialized by ESO from Vault (the value would flow back up)")
    } else if meta.owners.is_empty() {
        Some("a plain manifest with no producer (a value from Git)")
    } else {
        None
    }
}
