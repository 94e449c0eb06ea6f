//! End-to-end suite against a real kube-apiserver + etcd, a real OpenBao dev server and
//! vaultgate serving on the host, registered with the webhook configurations rendered from
//! `manifests/base`. Writers are real identities: client certificates for humans, TokenRequest
//! tokens for service accounts. Where the developer's view matters the test runs kubectl and
//! asserts on the text it prints.
//!
//! Run it with `bash tests/e2e/run.sh` (see tests/e2e/README.md). Without the harness's
//! environment every test fails with a message saying so; none is ever skipped.
//!
//! Each test works in namespaces of its own (`<prefix>-<hex>`); the bootstrap namespace `vault`
//! and the warn-mode namespace `legacy-payments` are shared, with unique object names.

mod audit;
mod audit_browser;
mod availability;
mod bootstrap;
mod bypasses;
mod copiers;
mod eso;
mod exceptions;
mod fail_closed;
mod harness;
mod helm_chart;
mod hidden_control_planes;
mod install_docs;
mod live_context;
mod modes;
mod mtls;
mod mutate_scope;
mod openbao;
mod policy_reload;
mod policy_reports;
mod secrets;
mod suggest;
mod webhook_drift;
