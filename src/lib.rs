//! vaultgate: an admission webhook (and handover controller) that makes Vault the single
//! runtime authority for Kubernetes secrets, enforcing RFC-SECOPS-0001.
//!
//! ```text
//!  kube-apiserver ──TLS──▶ server (axum over tokio-rustls)
//!                              │  POST /validate | /mutate
//!                              ▼
//!                         admission (AdmissionReview v1 ⇄ policy types, JSON Patch by diff)
//!                              │
//!                              ▼
//!  check CLI ───────────▶ policy (pure: classify provenance, evaluate rules, desired metadata)
//!                              ▲
//!                         cluster (implements policy::view::ClusterView: what the cluster holds)
//! ```
//!
//! Dependency direction: `server → admission → policy ← cli`; `policy` never does I/O, reads a
//! clock or talks to Kubernetes: time and the cluster view are passed in.

pub mod admission;
pub mod audit;
pub mod certs;
pub mod cli;
pub mod cluster;
pub mod controller;
pub mod digest;
pub mod metrics;
pub mod policy;
pub mod server;
pub mod telemetry;
