//! The handover tier: the controller and its Vault client against REAL services, one test binary
//! behind the `e2e` feature (`[[test]] handover`, `required-features = ["e2e"]`), so a plain
//! `cargo test` never builds it nor needs a control plane. It runs under tests/run.sh (`cargo
//! test --all-targets --features e2e` inside tests/e2e/run.sh), or by hand:
//!
//! ```sh
//! cargo test --features e2e --test handover   # binaries from VAULTGATE_E2E_BIN, or tools/build.sh
//! ```
//!
//! - `openbao`: the Vault side against a real OpenBao dev server (one per test);
//! - `controller`: the controller against a real etcd + kube-apiserver and OpenBao, shared by
//!   all its tests, each scenario in namespaces of its own;
//! - `control_plane`: starts those processes with tests/e2e/control-plane.sh, the launcher
//!   tests/e2e/run.sh uses too (one directory per launch under target/tmp/handover/), and stops
//!   them with its `down` on drop.
//!
//! Missing binaries fail the tests with the fix; nothing is ever skipped.

mod control_plane;
mod controller;
mod openbao;
