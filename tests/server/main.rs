//! The server tier: the real HTTPS server in-process on 127.0.0.1:0 with minted certificates, one
//! test binary; `cargo test --test server` runs it. No control plane.
//!
//! - `https`: serving, routes, probes, certificate rotation;
//! - `mtls`: `--client-ca`, client certificates on every connection;
//! - `limits`: slots, deadlines, the memory bound;
//! - `hostile`: malformed input beside a valid-review loop (it counts panics process-wide, so a
//!   panic in any test of this binary fails it too);
//! - `exceptions`: a policy exception's warning, expiry and gauges over HTTPS;
//! - `certs_cli`: `vaultgate certs`, served by the in-process server;
//! - `policy_reload`: `--policy FILE` followed without a restart;
//! - `monitoring`: every metric the Grafana dashboard and the PrometheusRule query is exported.

#[path = "../common/mod.rs"]
mod common;

mod certs_cli;
mod exceptions;
mod hostile;
mod https;
mod limits;
mod monitoring;
mod mtls;
mod policy_reload;
