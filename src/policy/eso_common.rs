//! What every External Secrets Operator object is held to, whatever its kind: written by a
//! GitOps controller (VG209/VG102), stores from the approved list and of the Vault provider
//! (VG201), a refresh that picks up rotations (VG206), a template that only formats its input
//! (VG210/VG309). The per-kind rule modules (`eso`, `push`, `store`) call these, so a rule
//! reads, and fails, the same way on every kind.

use super::{
    Policy, Review, Violation, duration::parse_go_duration, identity::Writer, objects::StoreRef,
    rules, template::Findings,
};
use crate::policy::view::{ClusterView, Missing};

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
        None => {
            view.note_missing(Missing {
                kind: kind.into(),
                namespace: (kind == "SecretStore").then(|| namespace.unwrap_or_default().into()),
                name: r.name.clone(),
                field: None,
                needed_for:
                    "its provider, which must be vault (VG201 non-vault-store, VG301 push-store)"
                        .into(),
            });
            None
        }
        _ => None,
    }
}

/// VG206, shared with PushSecret: a refresh that is periodic, non-zero and bounded, so a
/// rotation in Vault reaches the Secret by itself (README rule table, VG206). `review` names
/// the object for the policy's refresh-policy exceptions.
pub(crate) fn refresh_rule(
    obj: &str,
    review: &Review<'_>,
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
    let periodic = format!(
        "remove spec.refreshPolicy (Periodic is the default) and set refreshInterval between 1m and {max_text}, e.g. 1h"
    );
    let (field, problem, fix) = match refresh_policy {
        None | Some("Periodic") => {
            let problem = match interval.map(|i| (i, parse_go_duration(i))) {
                None => None,
                Some((i, None)) => Some(format!("spec.refreshInterval {i:?} is not a duration")),
                Some((i, Some(d))) if d.is_zero() => Some(format!(
                    "spec.refreshInterval {i:?} fetches once and never picks up a rotation"
                )),
                Some((i, Some(d))) if d > max => Some(format!(
                    "spec.refreshInterval {i:?} is above the maximum {max_text}"
                )),
                Some(_) => None,
            };
            (
                "spec.refreshInterval",
                problem,
                format!("set refreshInterval between 1m and {max_text}, e.g. 1h"),
            )
        }
        Some(p @ ("Manual" | "OnChange")) => {
            // The one place the policy's externalSecrets.refreshPolicyExceptions is honoured.
            if policy
                .refresh_policy_exception(review.namespace, review.name)
                .is_some()
            {
                return;
            }
            let when = if p == "Manual" {
                "only when someone annotates it (force-sync)"
            } else {
                "only when the ExternalSecret itself changes"
            };
            (
                "spec.refreshPolicy",
                Some(format!(
                    "spec.refreshPolicy {p} syncs {when}, so a rotation in Vault never reaches the Secret by itself"
                )),
                format!(
                    "{periodic}; if rotations reach this Secret another way, list it in the policy with the reason: \
                     externalSecrets.refreshPolicyExceptions: [{{namespace: {}, name: {}, justification: \"...\"}}]",
                    review.namespace.unwrap_or("<namespace>"),
                    review.name
                ),
            )
        }
        Some("CreatedOnce") => (
            "spec.refreshPolicy",
            Some(
                "spec.refreshPolicy CreatedOnce fetches once and never picks up a rotation"
                    .to_owned(),
            ),
            periodic,
        ),
        Some(p) => (
            "spec.refreshPolicy",
            Some(format!(
                "spec.refreshPolicy {p:?} is not Periodic, so a rotation may never reach the Secret"
            )),
            periodic,
        ),
    };
    if let Some(p) = problem {
        out.push(Violation::new(&rules::REFRESH_INTERVAL, format!("{obj}: {p}"), fix).at(field));
    }
}

/// Which template a denial is about: an ExternalSecret's formats values fetched from Vault, a
/// PushSecret's formats its source Secret before publishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TemplateOf {
    ExternalSecret,
    PushSecret,
}

/// VG210 (ExternalSecret) / VG309 (PushSecret): one denial per kind of fix, each listing the
/// field paths it is about. The rule is in `template`'s header.
pub(crate) fn template_rule(
    obj: &str,
    of: TemplateOf,
    findings: Findings,
    namespace: Option<&str>,
    out: &mut Vec<Violation>,
) {
    let Findings {
        sources,
        values,
        types,
        spelling,
    } = findings;
    let ns = namespace.unwrap_or("<namespace>");
    let (rule, sources_fix, values_fix) = match of {
        TemplateOf::ExternalSecret => (
            &rules::TEMPLATE_SOURCE,
            format!(
                "remove the templateFrom configMap/secret entries: put the value in Vault (platform-data/<datasource>/{ns}, or platform-config/ for settings) and fetch it with spec.data[].remoteRef, then write the template inline in spec.target.template.data, referencing only fetched keys"
            ),
            "build each value only from fetched keys, e.g. dsn: \"postgres://{{ .username }}:{{ .password }}@{{ .host }}:5432/app\"; a value that is text or a constant belongs in Vault (a setting such as a URL under platform-config/): fetch it with spec.data[] {secretKey, remoteRef} and reference it as {{ .secretKey }}",
        ),
        TemplateOf::PushSecret => (
            &rules::PUSH_TEMPLATE,
            "remove the templateFrom configMap/secret entries: a PushSecret publishes only what its operator generated, so its template reads only the keys of spec.selector.secret.name".to_owned(),
            "reference only the source Secret's keys, e.g. password: \"{{ .password }}\", or drop spec.template; a value the operator did not generate is written to Vault directly, never published from Kubernetes",
        ),
    };
    if !spelling.is_empty() {
        out.push(Violation::new(
            rule,
            format!("{obj}: {}", spelling.join("; ")),
            "spell the field as the CRD does: the apiserver drops unknown fields, so ESO would render another template than the one reviewed",
        ).at_opt(spelling.field));
    }
    if !sources.is_empty() {
        out.push(
            Violation::new(
                rule,
                format!(
                    "{obj} takes its template from outside Vault: {}",
                    sources.join("; ")
                ),
                sources_fix,
            )
            .at_opt(sources.field),
        );
    }
    if !values.is_empty() {
        out.push(
            Violation::new(
                rule,
                format!(
                    "{obj} template adds values of its own: {}",
                    values.join("; ")
                ),
                values_fix,
            )
            .at_opt(values.field),
        );
    }
    if !types.is_empty() && of == TemplateOf::ExternalSecret {
        out.push(Violation::new(
            rule,
            format!(
                "{obj} {} is a Secret type Kubernetes or Helm writes itself; a template claiming it forges that Secret",
                types.join(", ")
            ),
            "leave template.type unset (Opaque) or use kubernetes.io/basic-auth, kubernetes.io/tls, kubernetes.io/dockerconfigjson or kubernetes.io/ssh-auth",
        ).at_opt(types.field));
    }
}

/// Which side of an authority loop (VG208) the object under review is on.
pub(crate) struct LoopSide {
    /// The field that names the Secret.
    field: &'static str,
    /// What this object does with the Secret, and what the other side does.
    does: &'static str,
    other_kind: &'static str,
    other_does: &'static str,
    fix: &'static str,
}

impl LoopSide {
    pub(crate) const PULLS: Self = Self {
        field: "spec.target.name",
        does: "writes Secret {secret} from",
        other_kind: "PushSecret",
        other_does: "publishes that same Secret to",
        fix: "a Secret is either a source (pushed) or a copy (pulled), never both: target a Secret of another name",
    };
    pub(crate) const PUSHES: Self = Self {
        field: "spec.selector.secret.name",
        does: "publishes Secret {secret} to",
        other_kind: "ExternalSecret",
        other_does: "writes that same Secret from",
        fix: "a Secret is either a source (pushed) or a copy (pulled), never both: publish the operator's own Secret instead",
    };
}

/// VG208: one Secret pulled from Vault by an ExternalSecret and pushed to Vault by a PushSecret
/// has two authorities, whatever the paths. `own` are this object's Vault paths, `others` the
/// other side's objects (name, paths); a shared path is named when there is one.
pub(crate) fn authority_loop(
    side: &LoopSide,
    obj: &str,
    ns: &str,
    secret: &str,
    own: &[&str],
    others: &[(&str, &[Box<str>])],
    out: &mut Vec<Violation>,
) {
    let Some((first, first_paths)) = others.first() else {
        return;
    };
    let does = side.does.replace("{secret}", &format!("\"{ns}/{secret}\""));
    let shared = others.iter().find_map(|(name, paths)| {
        let path = paths.iter().map(|p| &**p).find(|p| own.contains(p))?;
        Some((name, path))
    });
    let what = match shared {
        Some((name, path)) => format!(
            "{obj} ({}) {does} {path:?}, and {} {name:?} {} {path:?}",
            side.field, side.other_kind, side.other_does
        ),
        None => format!(
            "{obj} ({}) {does} Vault, and {} {first:?} {} Vault ({}): it would have two authorities",
            side.field,
            side.other_kind,
            side.other_does,
            first_paths.join(", ")
        ),
    };
    out.push(Violation::new(&rules::AUTHORITY_LOOP, what, side.fix).at(side.field));
}

#[cfg(test)]
mod tests;
