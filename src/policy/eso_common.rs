//! What every External Secrets Operator object is held to, whatever its kind: written by a
//! GitOps controller (VG209/VG102), stores from the approved list and of the Vault provider
//! (VG201), a refresh that picks up rotations (VG206). The per-kind rule modules (`eso`, `push`,
//! `store`) call these, so a rule reads, and fails, the same way on every kind.

use super::{
    Policy, Review, Violation, duration::parse_go_duration, identity::Writer, objects::StoreRef,
    rules,
};
use crate::cluster::ClusterView;

/// How a denial names the object under review: `Kind "ns/name"`, or `Kind "name"` when
/// cluster-scoped.
pub(crate) fn object_label(review: &Review<'_>, kind: &str) -> String {
    match review.namespace {
        Some(ns) => format!("{kind} \"{ns}/{}\"", review.name),
        None => format!("{kind} {:?}", review.name),
    }
}

/// The writer must be GitOps (or ESO fanning out a cluster object); a CI identity gets the more
/// specific CI rule.
pub(crate) fn writer_rule(
    kind: &str,
    review: &Review<'_>,
    writer: &Writer<'_>,
    out: &mut Vec<Violation>,
) {
    if writer.gitops || writer.eso {
        return;
    }
    let obj = object_label(review, kind);
    let fix = "commit the manifest to the Git repository your Argo CD Application or Flux Kustomization syncs, and let the GitOps controller apply it";
    if writer.ci {
        out.push(Violation::new(
            &rules::CI_WRITER,
            format!("{obj} is written by the CI identity {:?}", writer.username),
            fix,
        ));
    } else {
        out.push(Violation::new(
            &rules::GITOPS_WRITER,
            format!(
                "{obj} is written by {:?}, not by a GitOps controller",
                writer.username
            ),
            fix,
        ));
    }
}

/// Checks one store reference against the approved stores, then against what the cluster says
/// its provider is. Returns the problem.
pub(crate) fn store_problem(
    r: &StoreRef,
    namespace: Option<&str>,
    policy: &Policy,
    view: &dyn ClusterView,
) -> Option<String> {
    let approved = policy
        .stores
        .approved
        .iter()
        .map(|s| format!("{}/{}", s.kind, s.name))
        .collect::<Vec<_>>()
        .join(", ");
    if r.label_selector.is_some() {
        return Some(format!("a labelSelector store reference (only {approved})"));
    }
    let kind = r.kind_or_default();
    if !policy
        .stores
        .approved
        .iter()
        .any(|s| s.kind == kind && s.name == r.name)
    {
        let hint = if policy
            .stores
            .approved
            .iter()
            .any(|s| s.kind.eq_ignore_ascii_case(kind) && s.name.eq_ignore_ascii_case(&r.name))
        {
            " (kind and name are case-sensitive)"
        } else if r.kind.is_none() {
            " (kind defaults to SecretStore)"
        } else {
            ""
        };
        return Some(format!(
            "store {kind}/{:?}{hint}; the approved store is {approved}",
            r.name
        ));
    }
    match view.store(kind, namespace, &r.name) {
        Some(info) if info.provider.as_deref() != Some("vault") => Some(format!(
            "store {kind}/{:?} resolves to provider {:?}, not vault",
            r.name,
            info.provider.as_deref().unwrap_or("none")
        )),
        None if view.is_live() => Some(format!(
            "store {kind}/{:?} does not exist in this cluster",
            r.name
        )),
        _ => None,
    }
}

/// VG206, shared with PushSecret.
pub(crate) fn refresh_rule(
    obj: &str,
    interval: Option<&str>,
    refresh_policy: Option<&str>,
    generated: bool,
    policy: &Policy,
    out: &mut Vec<Violation>,
) {
    if generated {
        return;
    }
    let max = policy.max_refresh_interval().unwrap_or_default();
    let max_text = &policy.external_secrets.max_refresh_interval;
    let problem = if refresh_policy == Some("CreatedOnce") {
        Some("refreshPolicy CreatedOnce never picks up a rotation".to_owned())
    } else {
        match interval.map(|i| (i, parse_go_duration(i))) {
            None => None,
            Some((i, None)) => Some(format!("refreshInterval {i:?} is not a duration")),
            Some((i, Some(d))) if d.is_zero() => Some(format!(
                "refreshInterval {i:?} fetches once and never picks up a rotation"
            )),
            Some((i, Some(d))) if d > max => Some(format!(
                "refreshInterval {i:?} is above the maximum {max_text}"
            )),
            Some(_) => None,
        }
    };
    if let Some(p) = problem {
        out.push(Violation::new(
            &rules::REFRESH_INTERVAL,
            format!("{obj}: {p}"),
            format!("set refreshInterval between 1m and {max_text}, e.g. 1h"),
        ));
    }
}
