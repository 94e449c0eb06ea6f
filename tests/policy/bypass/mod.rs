//! Bypass attempts, each named after the rule it attacks: the spellings, markers and request
//! shapes an attacker (or a careless chart) would try to slip a write past RFC-SECOPS-0001.
//! Every test also runs a control — the honest version of the same write — so a test that
//! "passes" because everything is denied would be caught.
//!
//! Two gaps found this way (non-Kubernetes static Vault auth, other producers rewriting a pending
//! bootstrap Secret) are fixed (VG402, VG110); their tests are marked "Was a bypass".
//!
//! Every write is judged twice: in-process, and as an AdmissionReview over HTTPS by a real
//! vaultgate server with the same policy and view; the two verdicts must agree (see
//! tests/support/mod.rs). Allows that must hold live in tests/policy/false_positives/.
//!
//! One module per attacked rule family; the shared writes, helpers, constants and the HTTPS
//! harness are in tests/support/mod.rs, shared with the false-positive suite.

mod bootstrap;
mod check_vs_webhook;
mod class_label;
mod copy_markers;
mod deletion;
mod eso_templates;
mod forged;
pub(crate) mod hidden_control_planes;
mod issue13;
mod paths;
mod review_findings;
mod review_issue14;
mod stores;
mod unmanaged;
mod vault_auth;
mod vault_root;

// The attack modules `use super::*`: the shared helpers, and every import this file had before
// the helpers moved (so a module written against it keeps compiling).
#[allow(unused_imports)]
use {
    crate::support::*,
    serde_json::{Value, json},
    std::sync::Arc,
    vaultgate::{
        admission::{Route, Webhook},
        cluster::MemoryView,
        metrics::Metrics,
        policy::{
            self, Class, Decision, Identity, Object, Operation, Policy, Review, objects::Kind,
        },
    },
};
