//! Rules for core Secrets: who may write them (VG101/VG102), copies (VG103), forged provenance
//! (VG104), edits of materialized Secrets (VG105), bootstrap scope and retirement (VG106,
//! VG107) and class-label changes (VG108).
//!
//! This file holds the entry point and the stamped key lists; the rules live by group in
//! `writers`, `copies` (with VG109), `provenance` and `bootstrap`.

mod bootstrap;
mod copies;
mod provenance;
mod writers;

use super::{
    Policy, Review, Violation,
    classify::{Class, Provenance},
    identity::Writer,
    objects::{Object, SecretObject},
};
use crate::cluster::ClusterView;
use bootstrap::bootstrap;
pub use copies::content_copy;
use copies::copy_markers;
use provenance::{class_label_change, forged};
use writers::writer_rules;

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
}

/// Evaluates every Secret rule.
pub fn check(
    secret: &SecretObject,
    review: &Review<'_>,
    writer: &Writer<'_>,
    provenance: &Provenance<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    if provenance.class == Some(Class::System) {
        return;
    }
    let write = Write {
        secret,
        review,
        writer,
        provenance,
        policy,
        old: old_secret(review),
        view,
    };
    writer_rules(write, out);
    copy_markers(write, out);
    forged(write, out);
    class_label_change(write, out);
    bootstrap(write, out);
}
