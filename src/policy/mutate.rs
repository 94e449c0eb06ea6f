//! The mutating webhook's decision: the metadata a Secret should carry (ARCHITECTURE §3). Only
//! labels and annotations are ever touched, never `data`/`stringData`. Keys are set only when
//! absent, so running the mutation on its own output changes nothing (an empty patch).

use std::collections::BTreeMap;

use super::{
    Operation, Policy, Review,
    classify::{Class, Provenance},
    objects::{Object, SecretObject},
    secret::{HANDOVER_OWNED, STAMPED},
};

/// Desired labels and annotations (complete maps, existing entries included).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DesiredMeta {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Where the manifest came from in Git, from the GitOps controller's own tracking markers.
fn git_source(secret: &SecretObject) -> Option<String> {
    if let Some(id) = secret.annotation("argocd.argoproj.io/tracking-id") {
        return Some(format!("argocd:{id}"));
    }
    if let (Some(ns), Some(name)) = (
        secret.label("kustomize.toolkit.fluxcd.io/namespace"),
        secret.label("kustomize.toolkit.fluxcd.io/name"),
    ) {
        return Some(format!("flux:{ns}/{name}"));
    }
    secret
        .label("app.kubernetes.io/instance")
        .filter(|_| secret.label("argocd.argoproj.io/instance").is_none())
        .map(|i| format!("argocd:{i}"))
}

/// Computes the metadata a classified Secret should carry. `None`: nothing to add.
/// `now` is an RFC 3339 timestamp supplied by the caller (policy code reads no clock).
pub fn desired_metadata(
    secret: &SecretObject,
    review: &Review<'_>,
    provenance: &Provenance<'_>,
    policy: &Policy,
    now: &str,
) -> Option<DesiredMeta> {
    let class = provenance.class.filter(|c| *c != Class::System)?;
    let mut d = DesiredMeta {
        labels: secret.metadata.labels.clone().unwrap_or_default(),
        annotations: secret.metadata.annotations.clone().unwrap_or_default(),
    };
    let before = d.clone();

    if review.operation == Operation::Update
        && let Some(Object::Secret(old)) = review.old
    {
        preserve(&mut d, old, policy);
    }
    let set = |map: &mut BTreeMap<String, String>, name: &str, value: &str| {
        map.entry(policy.key(name))
            .or_insert_with(|| value.to_owned());
    };
    set(&mut d.labels, "secret-class", class.as_str());
    if class == Class::Bootstrap {
        if let Some(source) = provenance.source {
            set(&mut d.labels, "bootstrap-source", source);
        }
        if d.annotations.contains_key(&policy.key("handover-to")) {
            set(&mut d.labels, "handover-state", "pending");
        }
        set(&mut d.annotations, "first-seen", now);
        set(&mut d.annotations, "created-by", &review.user.username);
        set(&mut d.annotations, "admission-uid", review.uid);
        if let Some(src) = git_source(secret) {
            set(&mut d.annotations, "git-source", &src);
        }
    }
    (d != before).then_some(d)
}

/// Re-adds the keys vaultgate stamped earlier that a legitimate writer's UPDATE dropped (the
/// sealed-secrets controller, for one, rewrites the Secret from its template).
fn preserve(d: &mut DesiredMeta, old: &SecretObject, policy: &Policy) {
    let labels = ["secret-class", "bootstrap-source", "handover-state"];
    for name in labels {
        let key = policy.key(name);
        if let Some(v) = old.label(&key) {
            d.labels.entry(key).or_insert_with(|| v.to_owned());
        }
    }
    for name in STAMPED.iter().chain(HANDOVER_OWNED.iter()) {
        let key = policy.key(name);
        if let Some(v) = old.annotation(&key) {
            d.annotations.entry(key).or_insert_with(|| v.to_owned());
        }
    }
}
