//! Shared by the fuzz targets: the identities every object is evaluated under, and the
//! invariants each target checks (the same ones `tests/policy/properties.rs` checks on stable).
#![allow(dead_code)]

#[path = "../../support/invariants.rs"]
mod invariants;

#[allow(unused_imports)] // each target uses a different subset
pub use invariants::{USERS, check_answer, webhook};
use serde_json::Value;

/// The mutation invariants ([`invariants::check_mutation`]), for a fuzz target.
pub fn check_mutation(namespace: &Value, user: &str, operation: &str, object: &Value, old: &Value) {
    invariants::check_mutation(namespace, user, operation, object, old);
}
