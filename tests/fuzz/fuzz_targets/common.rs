//! Shared by the fuzz targets: the identities every object is evaluated under, and the
//! invariants each target checks (the same ones `tests/policy/properties.rs` checks on stable).
#![allow(dead_code)]

#[path = "../../support/invariants.rs"]
mod invariants;

#[allow(unused_imports)] // each target uses a different subset
pub use invariants::{check_answer, webhook};
use serde_json::Value;

/// A human, CI, every producer role of the default policy, a copier and an exempt identity.
pub const USERS: &[&str] = &[
    "alice",
    "system:serviceaccount:tekton-pipelines:default",
    "system:serviceaccount:external-secrets:external-secrets",
    "system:serviceaccount:kube-system:sealed-secrets-controller",
    "system:serviceaccount:argocd:argocd-application-controller",
    "system:serviceaccount:flux-system:kustomize-controller",
    "system:serviceaccount:cert-manager:cert-manager",
    "system:serviceaccount:vaultgate-system:vaultgate",
    "system:serviceaccount:reflector:reflector",
    "system:serviceaccount:kube-system:replicaset-controller",
];

/// The mutation invariants ([`invariants::check_mutation`]), for a fuzz target.
pub fn check_mutation(namespace: &Value, user: &str, operation: &str, object: &Value, old: &Value) {
    invariants::check_mutation(namespace, user, operation, object, old);
}
