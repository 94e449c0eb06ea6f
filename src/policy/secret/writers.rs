//! Who may write a Secret: unmanaged writers (VG101), CI identities (VG102) and edits of
//! Secrets materialized by External Secrets (VG105).

use super::{Write, target};
use crate::policy::{Violation, classify::has_owner, fix, rules};

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
    let old_materialized = old.is_some_and(|o| {
        has_owner(o, "external-secrets.io", "ExternalSecret")
            || o.label("reconcile.external-secrets.io/managed") == Some("true")
    });
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
    let keys: Vec<&str> = secret.keys().collect();
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
            fix::external_secret(review.name, ns, &keys, policy),
        ));
    } else {
        let detail = match writer.operator {
            Some(op) => format!(
                " (operator {:?} may write Secrets only in {})",
                op.name,
                op.namespaces.join(", ")
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
            fix::external_secret(review.name, ns, &keys, policy),
        ));
    }
}
