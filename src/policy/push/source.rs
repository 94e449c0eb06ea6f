//! VG307 on the publishing side: a PushSecret publishes only operator-generated Secrets, and
//! configuration (§2.4 Inv 8, §5a.4.3): endpoint data pushed to `platform-config/` is not
//! secret material, so its source need not be operator-stamped. The RFC's own example is a
//! Secret rendered from Git holding `host` and `port` (docs/rfc-digest.md §2, "Internal
//! configuration"). Materialized, bootstrap and service-account-token sources stay denied.

use crate::policy::{Policy, Violation, fix, objects::PushSecret, paths, rules, view::SecretMeta};

/// Every entry publishes a configuration key ([`paths::config_property`]) to `platform-config/`
/// under a property that is not secret (Inv 8).
fn publishes_only_configuration(ps: &PushSecret, policy: &Policy) -> bool {
    !ps.spec.data.is_empty()
        && ps.spec.data.iter().all(|d| {
            let m = &d.match_;
            let key_is_config = m
                .secret_key
                .as_deref()
                .is_some_and(|k| paths::config_property(k).is_some());
            let to_config = m.remote_ref.as_ref().is_some_and(|r| {
                r.remote_key
                    .as_deref()
                    .is_some_and(|k| k.starts_with("platform-config/"))
                    && r.property
                        .as_deref()
                        .is_some_and(|p| !policy.vault.secret_properties.iter().any(|s| s == p))
            });
            key_is_config && to_config
        })
}

/// VG307: only operator-generated Secrets are published; a bootstrap Secret, in any handover
/// state, reaches Vault once through the handover controller.
pub(super) fn push_source_rule(
    ps: &PushSecret,
    obj: &str,
    ns: &str,
    source: &str,
    meta: &SecretMeta,
    policy: &Policy,
    out: &mut Vec<Violation>,
) {
    let class = meta.label(&policy.reserved_key("secret-class"));
    let generic = "publish only Secrets an in-cluster operator generates; values that originate elsewhere are written to Vault directly";
    // The class label is the only operator signal trusted here: vaultgate stamps it when a
    // registered operator writes the Secret, and VG104 refuses it from anyone else. An owner
    // reference is not (any writer can add one), nor is a system `type`.
    let operator_class =
        class.is_some_and(|c| matches!(c, "internal" | "internal-config" | "derived"));
    let (problem, fix) = if meta.is_materialized() {
        ("is materialized from Vault by an ExternalSecret; pushing it back inverts the authority".to_owned(), generic.to_owned())
    } else if class == Some("bootstrap") || meta.is_sealed() {
        let state = meta
            .label(&policy.reserved_key("handover-state"))
            .map_or_else(
                || "handover not started".to_owned(),
                |s| format!("handover-state {s}"),
            );
        let update = ps.spec.update_policy.as_deref().unwrap_or("Replace");
        let every = match ps.spec.refresh_interval.as_deref() {
            Some(i) => format!("every refresh (refreshInterval {i})"),
            None => "every refresh (refreshInterval 1h, the default)".to_owned(),
        };
        let effect = if update == "IfNotExists" {
            format!(
                "with updatePolicy IfNotExists it would still write Vault from Kubernetes whenever the path is missing, checked {every}"
            )
        } else {
            format!("with updatePolicy {update} it would overwrite Vault {every}")
        };
        let to = meta.annotations.get(&policy.reserved_key("handover-to"));
        (
            format!(
                "is a bootstrap Secret ({state}); {effect}, keeping the copy in Git the authority"
            ),
            fix::bootstrap_handover(source, to, policy),
        )
    } else if operator_class {
        return;
    } else if meta.type_.as_deref() == Some("kubernetes.io/service-account-token") {
        ("is a service-account token".to_owned(), generic.to_owned())
    } else if publishes_only_configuration(ps, policy) {
        return;
    } else {
        (
            "is not operator-generated: it carries no secret-class internal, internal-config or derived, which vaultgate stamps when a registered operator writes it (a Secret the operator wrote before vaultgate gets it on its next write)"
                .to_owned(),
            generic.to_owned(),
        )
    };
    out.push(Violation::new(
        &rules::PUSH_SOURCE,
        format!(
            "{obj} (spec.selector.secret.name) publishes Secret \"{ns}/{source}\", which {problem}"
        ),
        fix,
    ).at("spec.selector.secret.name"));
}
