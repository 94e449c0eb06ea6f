//! Who may write a Secret: unmanaged writers (VG101), CI identities (VG102), edits of
//! Secrets materialized by External Secrets (VG105), and ESO materializing a Secret that a
//! PushSecret publishes (VG208).
//!
//! A config-only Secret (every key is endpoint data: host, port, url, ...) applied by a GitOps
//! controller is not an unmanaged secret: it holds no secret material (§2.4 Inv 8, §5a.4.3:
//! configuration is not a security boundary), and the RFC's own internal-configuration example
//! is such a Secret rendered from Git because a PushSecret cannot read a ConfigMap
//! (docs/rfc-digest.md §2, "Internal configuration"). Humans, CI and dashboards writing one
//! are still hidden control planes (Inv 6).

use super::{Write, target};
use crate::policy::{Violation, classify::Class, fix, objects::SecretObject, paths, rules};

/// The Argo CD label that makes a Secret a repository, cluster or credential template.
const ARGOCD_SECRET_TYPE: &str = "argocd.argoproj.io/secret-type";

pub(super) fn writer_rules(write: Write<'_>, out: &mut Vec<Violation>) {
    let Write {
        secret,
        review,
        writer,
        provenance,
        policy,
        old,
        ..
    } = write;
    let ns = review.namespace.unwrap_or("default");
    let old_materialized = old.is_some_and(SecretObject::is_materialized);
    if old_materialized && !writer.eso {
        out.push(Violation::new(
            &rules::MATERIALIZED_EDIT,
            format!(
                "Secret {:?} is materialized by External Secrets from Vault, and {:?} edited it",
                target(review),
                writer.username
            ),
            "change the value in Vault (ESO refreshes the Secret within its refreshInterval), or change the ExternalSecret in Git",
        ));
        return;
    }
    if provenance.class.is_some() {
        return;
    }
    if writer.gitops && !write.root.any() && paths::config_only(secret.keys()) {
        return;
    }
    // Root material (VG111) is deleted, never given an ExternalSecret: only the other keys are.
    let keys: Vec<&str> = secret.keys().filter(|k| !write.root.covers(k)).collect();
    let argocd_type = secret.label(ARGOCD_SECRET_TYPE);
    let labels: Vec<(&str, &str)> = argocd_type
        .map(|t| (ARGOCD_SECRET_TYPE, t))
        .into_iter()
        .collect();
    let fix = if write.root.any() && keys.is_empty() {
        fix::ROOT_MATERIAL_ELSEWHERE.to_owned()
    } else {
        fix::external_secret(review.name, ns, &keys, &labels, policy)
    };
    if writer.copier {
        // Reported once, with the markers, by `copy_markers`.
    } else if writer.ci {
        out.push(Violation::new(
            &rules::CI_WRITER,
            format!(
                "Secret {:?} is written by the CI identity {:?}",
                target(review),
                writer.username
            ),
            fix.clone(),
        ));
    } else if writer.dashboard {
        out.push(Violation::new(
            &rules::UNMANAGED_SECRET,
            format!(
                "Secret {:?} is written by the dashboard {:?} on a user's click: a dashboard acting as a control plane for secrets (Inv 6){}",
                target(review),
                writer.username,
                if argocd_type.is_some() { ", e.g. a repository added in the Argo CD UI or CLI" } else { "" }
            ),
            fix,
        ));
    } else {
        let detail = match writer.operator {
            Some(op) => format!(
                " (operator {:?} may write Secrets only in {}{})",
                op.name,
                if op.namespaces.is_empty() {
                    "any namespace".to_owned()
                } else {
                    op.namespaces.join(", ")
                },
                if op.names.is_empty() {
                    String::new()
                } else {
                    format!(", named {}", op.names.join(", "))
                }
            ),
            None if writer.decrypter.is_some() => format!(
                " (a decrypter's Secret needs a SealedSecret owner or the Git-declared label {}=bootstrap)",
                policy.key("secret-class")
            ),
            None => String::new(),
        };
        out.push(Violation::new(
            &rules::UNMANAGED_SECRET,
            format!(
                "Secret {:?} is written by {:?}, which is not an approved producer (no ExternalSecret owner, not a declared bootstrap secret, not a registered operator){detail}",
                target(review),
                writer.username
            ),
            fix,
        ));
    }
}

/// VG208 from the Secret's side: ESO writing a Secret that a PushSecret publishes would make
/// the Secret both a copy pulled from Vault and a source pushed to it. When the Secret was a
/// bootstrap Secret (ESO merging into a SealedSecret's output, the OBS `argocd-private-repo`
/// loop) the fix is the handover: a rename would keep the PushSecret re-pushing it.
pub(super) fn authority_loop(write: Write<'_>, out: &mut Vec<Violation>) {
    let Write {
        review,
        provenance,
        view,
        policy,
        old,
        ..
    } = write;
    if provenance.class != Some(Class::Materialized) {
        return;
    }
    let ns = review.namespace.unwrap_or("default");
    let pushes = view.push_secrets_from(ns, review.name);
    let Some(push) = pushes.first() else { return };
    let class_key = policy.reserved_key("secret-class");
    let to_key = policy.reserved_key("handover-to");
    let bootstrap = old.filter(|o| o.label(&class_key) == Some("bootstrap") || o.is_sealed());
    let fix = match bootstrap {
        Some(o) => fix::bootstrap_handover(review.name, o.annotation(&to_key), policy),
        None => "a Secret is either a source (pushed) or a copy (pulled), never both: give the ExternalSecret its own target.name, or publish the operator's own Secret".to_owned(),
    };
    out.push(Violation::new(
        &rules::AUTHORITY_LOOP,
        format!(
            "External Secrets writes Secret {:?}, which PushSecret {:?} publishes to Vault",
            target(review),
            push.name
        ),
        fix,
    ));
}
