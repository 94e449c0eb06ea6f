//! VG205 adoption: ESO must create the Secret it owns, and a bootstrap Secret is retired by its
//! handover, not adopted. The bootstrap-target helpers are shared with VG207 and VG208.

use crate::policy::{
    Policy, Violation, fix,
    objects::ExternalSecretSpec,
    rules,
    view::{ClusterView, SecretMeta},
};

const ADOPTING: [&str; 4] = ["Merge", "CreateOrMerge", "Orphan", "None"];

/// The target when it is a bootstrap Secret, in any handover state: a second writer of it is
/// denied whatever the state (README, "Handover controller": it copies the value once).
pub(super) fn bootstrap_target(
    view: &dyn ClusterView,
    ns: &str,
    name: &str,
    policy: &Policy,
) -> Option<std::sync::Arc<SecretMeta>> {
    view.secret(ns, name)
        .filter(|m| m.label(&policy.reserved_key("secret-class")) == Some("bootstrap"))
}

/// "a bootstrap Secret (handover-state copied)".
pub(super) fn bootstrap_text(meta: &SecretMeta, policy: &Policy) -> String {
    match meta.label(&policy.reserved_key("handover-state")) {
        Some(state) => format!("a bootstrap Secret (handover-state {state})"),
        None => "a bootstrap Secret (handover not started)".to_owned(),
    }
}

/// The way to a bootstrap value once Vault holds it: the handover copies it to its
/// `handover-to` path once, and consumers read that path into a Secret of their own. When a
/// PushSecret also publishes the bootstrap Secret, deleting it comes first: reading the value
/// elsewhere while the PushSecret stays would keep Kubernetes overwriting Vault every refresh.
pub(super) fn bootstrap_fix(
    target: &str,
    meta: &SecretMeta,
    policy: &Policy,
    view: &dyn ClusterView,
    ns: &str,
) -> String {
    let annotation = policy.key("handover-to");
    let to = meta.annotations.get(&annotation);
    if !view.push_secrets_from(ns, target).is_empty() {
        return fix::bootstrap_handover(target, to, policy);
    }
    let key = match to {
        Some(path) => format!("remoteRef.key: {path}"),
        None => format!("remoteRef.key set to the path you declare in its {annotation} annotation"),
    };
    format!(
        "a bootstrap Secret is retired by the handover, not adopted: read the handed-over value from Vault with an ExternalSecret whose target.name is a Secret of another name (e.g. {target}-runtime) and {key}; the handover controller copies the bootstrap Secret to that path once ({annotation} annotation)"
    )
}

pub(super) fn adoption_rule(
    obj: &str,
    spec: &ExternalSecretSpec,
    ns: Option<&str>,
    target: &str,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let fix = "use creationPolicy: Owner (the default) and let ESO create the Secret; delete a hand-made Secret of that name first";
    let boot = ns.and_then(|ns| Some((ns, bootstrap_target(view, ns, target, policy)?)));
    if let Some(cp) = spec
        .target
        .creation_policy
        .as_deref()
        .filter(|c| ADOPTING.contains(c))
    {
        let at = "spec.target.creationPolicy";
        out.push(match boot {
            Some((ns, meta)) => Violation::new(
                &rules::ADOPTION_LAUNDERING,
                format!(
                    "{obj} uses {at} {cp:?} onto Secret \"{ns}/{target}\", {}, which ESO would adopt as a second writer",
                    bootstrap_text(&meta, policy)
                ),
                bootstrap_fix(target, &meta, policy, view, ns),
            ),
            None => Violation::new(
                &rules::ADOPTION_LAUNDERING,
                format!("{obj} uses {at} {cp:?}, which adopts or leaves behind a Secret ESO does not own"),
                fix,
            ),
        }.at(at));
        return;
    }
    // ESO adopts an existing Secret of the target name whatever the creationPolicy (it patches
    // its managed label onto it), so an unmanaged Secret already there would be laundered.
    // Bootstrap and sealed targets are the single-writer rule's (their producer is known).
    let Some(ns) = ns else { return };
    if let Some(existing) = view.secret(ns, target) {
        let class = existing.label(&policy.reserved_key("secret-class"));
        let bootstrap = class == Some("bootstrap") || existing.is_sealed();
        if !existing.is_materialized() && !bootstrap {
            out.push(Violation::new(
                &rules::ADOPTION_LAUNDERING,
                format!("{obj} targets Secret \"{ns}/{target}\", which already exists and was not made by External Secrets; ESO would adopt it"),
                fix,
            ).at("spec.target.name"));
        }
    }
}
