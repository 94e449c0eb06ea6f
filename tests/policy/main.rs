//! The policy tier: everything that judges writes in-process, one test binary. No network beyond
//! loopback (the bypass and false-positive suites also post every write to an in-process HTTPS
//! server, tests/support/mod.rs), no control plane; `cargo test --test policy` runs it.
//!
//! - `rules`: the rule table, every fixture through `Webhook::review`;
//! - `mutation`: the mutating webhook's patches;
//! - `live_context`: rules that need other objects, against loaded live tables;
//! - `properties`: proptest versions of the fuzz invariants;
//! - `readme`: the README rule table is rendered from the catalogue;
//! - `no_leak`: fixture canaries never reach logs, responses, errors or metrics at TRACE;
//! - `check_cli`: `vaultgate check` on manifests;
//! - `exceptions`: policy exceptions (scope, expiry, reporting) and `policy validate` on them;
//! - `suggest`: `vaultgate policy suggest` on a platform repository, and checking with its output;
//! - `bypass`: bypass attempts per rule family, each with an honest control;
//! - `false_positives`: writes that must stay allowed, each with a denial control.
//!
//! One binary, so process-wide state is shared: `no_leak` captures logs with a subscriber scoped
//! to its own thread (never a global one), and `support`'s HTTPS harness (one CA, one runtime, one
//! server per view) serves both the bypass and the false-positive suites.

#[path = "../common/mod.rs"]
mod common;
#[path = "../support/mod.rs"]
mod support;

mod bypass;
mod check_cli;
mod exceptions;
mod false_positives;
mod live_context;
mod mutation;
mod no_leak;
mod properties;
mod purity;
mod readme;
mod rules;
mod suggest;
