//! Rules for core Secrets: who may write them (VG101/VG102), copies (VG103), forged provenance
//! (VG104), edits of materialized Secrets (VG105), bootstrap scope and retirement (VG106,
//! VG107), class-label changes (VG108), Vault root material (VG111) and kept audit stamps (VG112).
//!
//! This file holds the entry point and the stamped key lists; the rules live by group in
//! `writers`, `copies` (with VG109), `provenance`, `bootstrap` and `root_material`.

mod bootstrap;
mod copies;
mod handover_target;
mod provenance;
mod root_material;
mod stamps;
mod writers;

use super::{
    Policy, Review, Violation,
    classify::Provenance,
    identity::Writer,
    objects::{Object, SecretObject},
};
use crate::policy::view::ClusterView;
use bootstrap::bootstrap;
use copies::content_copy;
use copies::copy_markers;
pub(crate) use copies::is_marker as is_copy_marker;
use handover_target::handover_target;
use provenance::{class_label_change, forged};
use root_material::{Found, root_material};
use stamps::stamp_integrity;
use writers::{authority_loop, writer_rules};

/// Keys stamped on bootstrap Secrets by the mutating webhook.
pub(crate) const STAMPED: [&str; 5] = [
    "bootstrap-source",
    "first-seen",
    "created-by",
    "admission-uid",
    "git-source",
];
/// Keys only the handover controller writes.
pub(crate) const HANDOVER_OWNED: [&str; 4] = [
    "handover-state",
    "handover-at",
    "vault-version",
    "content-digest",
];

fn old_secret<'a>(review: &Review<'a>) -> Option<&'a SecretObject> {
    match review.old {
        Some(Object::Secret(s)) => Some(s),
        _ => None,
    }
}

fn target(review: &Review<'_>) -> String {
    format!("{}/{}", review.namespace.unwrap_or(""), review.name)
}

/// What every Secret rule reads: the write under review, who makes it, where the Secret came
/// from, the policy and the cluster.
#[derive(Clone, Copy)]
struct Write<'a> {
    secret: &'a SecretObject,
    review: &'a Review<'a>,
    writer: &'a Writer<'a>,
    provenance: &'a Provenance<'a>,
    policy: &'a Policy,
    /// The Secret before an UPDATE.
    old: Option<&'a SecretObject>,
    view: &'a dyn ClusterView,
    /// An UPDATE that leaves the content and vaultgate's keys alone ([`is_housekeeping`]).
    housekeeping: bool,
    /// The Vault root material the Secret holds (VG111). The other rules' fixes never offer
    /// it a way into Vault or another namespace.
    root: &'a Found<'a>,
}

/// Whether an UPDATE is metadata-only housekeeping: `type`, `data` (values included, by keyed
/// fingerprint), `stringData` and every key under the policy prefix are as stored. A cluster
/// admin removing a finalizer must never wedge a namespace, and such a write moves no value,
/// so the writer and lifecycle rules (VG101, VG102, VG105-VG107, VG109, VG110) do not apply.
/// What it may still smuggle in is checked: new copy markers (VG103) and forged provenance
/// (VG104).
fn is_housekeeping(secret: &SecretObject, review: &Review<'_>, policy: &Policy) -> bool {
    let Some(old) = old_secret(review) else {
        return false;
    };
    fn owned<'m>(
        m: Option<&'m std::collections::BTreeMap<String, String>>,
        prefix: &str,
    ) -> Vec<(&'m String, &'m String)> {
        m.into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with(prefix))
            .collect()
    }
    let prefix = policy.prefix.as_str();
    review.operation == super::Operation::Update
        && secret.same_content_as(old)
        && owned(secret.metadata.labels.as_ref(), prefix)
            == owned(old.metadata.labels.as_ref(), prefix)
        && owned(secret.metadata.annotations.as_ref(), prefix)
            == owned(old.metadata.annotations.as_ref(), prefix)
}

/// Evaluates every Secret rule.
pub fn check(
    review: &Review<'_>,
    writer: &Writer<'_>,
    provenance: &Provenance<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    evidence: &super::Evidence,
    out: &mut Vec<Violation>,
) {
    // The Secret under review (the caller dispatches on the object's kind).
    let Object::Secret(secret) = review.object else {
        return;
    };
    let root = Found::of(secret, review.name, provenance.class);
    let write = Write {
        secret,
        review,
        writer,
        provenance,
        policy,
        old: old_secret(review),
        view,
        housekeeping: is_housekeeping(secret, review, policy),
        root: &root,
    };
    // A class, `system` included, only spares the writer rules: copy markers, forgery and the
    // bootstrap lifecycle are checked whatever produced the Secret.
    // VG111 spares housekeeping like the writer rules: removing a finalizer from a Secret that
    // predates vaultgate must not wedge its deletion.
    if !write.housekeeping {
        root_material(write, &root, out);
        writer_rules(write, out);
        authority_loop(write, out);
        // A handover would copy the root material into Vault KV: VG111 alone answers for it.
        if !root.any() {
            handover_target(write, out);
        }
        bootstrap(write, out);
        content_copy(write, evidence, out);
    }
    copy_markers(write, out);
    forged(write, out);
    stamp_integrity(write, evidence.after_mutation, out);
    class_label_change(write, out);
}
