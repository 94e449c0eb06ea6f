//! Certificate rotation without a restart: a task that re-reads `--tls-cert`/`--tls-key` every
//! `--cert-reload-interval`, swaps in a changed pair once it parses and matches, and otherwise
//! keeps serving the last good pair.
//!
//! Polling and comparing bytes (cert-manager's approach) rather than watching inodes: Kubernetes
//! updates Secret volumes by swapping a `..data` symlink, which inode watches miss, and a poll
//! that finds a half-written pair simply retries on the next tick.

use std::{sync::Arc, time::Duration};

use tokio::{task::JoinHandle, time::MissedTickBehavior};

use super::tls::{Reload, ReloadingCert};
use crate::metrics::{Metrics, ReloadLabels};

/// Spawns the poll loop on the current runtime. It runs until the runtime stops or the
/// returned handle is aborted.
pub fn spawn_reloader(
    cert: Arc<ReloadingCert>,
    every: Duration,
    metrics: Arc<Metrics>,
) -> JoinHandle<()> {
    tokio::spawn(poll(cert, every, metrics))
}

/// Checks the files every `every` (the first check one period after start: the pair was just
/// loaded). File reads and parsing run on the blocking pool.
pub async fn poll(cert: Arc<ReloadingCert>, every: Duration, metrics: Arc<Metrics>) {
    let every = every.max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let holder = cert.clone();
        let outcome = match tokio::task::spawn_blocking(move || holder.reload()).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, "certificate reload task failed; will retry");
                continue;
            }
        };
        record(&cert, &metrics, outcome);
    }
}

/// Logs and counts one reload outcome.
fn record(cert: &ReloadingCert, metrics: &Metrics, outcome: Reload) {
    match outcome {
        Reload::Unchanged => {}
        Reload::Swapped => {
            metrics
                .tls_reloads
                .get_or_create(&ReloadLabels { result: "ok" })
                .inc();
            tracing::info!(
                cert = %cert.cert_path().display(),
                key = %cert.key_path().display(),
                "serving certificate reloaded; new connections use it"
            );
        }
        Reload::Rejected(error) => {
            metrics
                .tls_reloads
                .get_or_create(&ReloadLabels { result: "error" })
                .inc();
            tracing::warn!(%error, "certificate files changed but cannot be used; still serving the last good pair");
        }
        Reload::StillRejected => {
            tracing::debug!(
                "certificate files still hold the rejected pair; still serving the last good pair"
            );
        }
    }
}
