//! Audit stamps kept (VG112): a stored stamp is never changed or dropped, and a bootstrap
//! Secret admitted through the webhooks carries every stamp the mutating webhook writes.
//!
//! The mutating webhook is not called for an UPDATE that leaves its keys as stored
//! (`mutate::scope`). This rule is what makes skipping it safe: whatever the apiserver skipped
//! or a later mutating webhook removed, a missing or altered stamp is denied here, where no
//! `matchConditions` applies (README "Mutation").

use super::{Write, target};
use crate::policy::{
    Violation,
    classify::Class,
    field::{self, Problems},
    mutate::{StampMap, stamps},
    rules,
};

/// A changed stored stamp is denied however the review arrives. `admitted`: the request passed
/// mutating admission with vaultgate's mutating webhook registered
/// ([`crate::policy::Evidence::after_mutation`]), so the stamps it writes (or puts back) must be
/// there: a dropped or missing one is denied too.
pub(super) fn stamp_integrity(write: Write<'_>, admitted: bool, out: &mut Vec<Violation>) {
    let Write {
        secret,
        review,
        writer,
        provenance,
        policy,
        old,
        ..
    } = write;
    let bootstrap = provenance.class == Some(Class::Bootstrap);
    let mut problems = Problems::default();
    for stamp in stamps(secret, review, provenance, None) {
        let key = policy.reserved_key(stamp.name);
        let (now, before, where_) = match stamp.map {
            StampMap::Label => (secret.label(&key), old.and_then(|o| o.label(&key)), "label"),
            StampMap::Annotation => (
                secret.annotation(&key),
                old.and_then(|o| o.annotation(&key)),
                "annotation",
            ),
        };
        let at = field::metadata(where_, &key);
        match (before, now) {
            (Some(b), Some(n)) if b != n => {
                problems.push(&at, format!("changes {where_} {key} from {b:?} to {n:?}"));
            }
            // Judged as sent (no mutating call before it), a drop is the sealed-secrets
            // controller rewriting its Secret from the template: /mutate puts the stamps back.
            (Some(b), None) if admitted => {
                problems.push(&at, format!("drops {where_} {key}={b:?}"));
            }
            // What the mutating webhook writes on every bootstrap write: the per-call stamps
            // always, the others when this request gives them a value.
            (None, None) if admitted && bootstrap && (stamp.per_call || stamp.value.is_some()) => {
                problems.push(&at, format!("lacks {where_} {key}"));
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        return;
    }
    out.push(
        Violation::new(
            &rules::STAMP_INTEGRITY,
            format!(
                "this {} by {:?} of Secret {:?} does not keep vaultgate's audit stamps: {}",
                review.operation.as_str(),
                writer.username,
                target(review),
                problems.join("; ")
            ),
            format!(
                "keep the {prefix} stamps exactly as stored (leave them out of the manifest and \
                 let server-side apply keep them); if a bootstrap Secret arrives without them, \
                 the mutating webhook was skipped: check that MutatingWebhookConfiguration \
                 vaultgate is installed with the matchConditions `vaultgate manifests` prints",
                prefix = policy.prefix
            ),
        )
        .at_opt(problems.field),
    );
}
