//! The handover controller's Prometheus metrics, in their own registry (the webhook's
//! `crate::metrics` pattern), and a tiny plain-HTTP server for `GET /metrics` and `/healthz`.
//! Labels are results, states and failure reasons only: never a name, a path or a value.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, atomic::AtomicU64},
};

use axum::{Router, routing::get};
use k8s_openapi::{api::core::v1::Secret, jiff::Timestamp};
use kube::{core::PartialObjectMeta, runtime::reflector::Store};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use crate::policy::{Policy, handover::gauge_state};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

/// Every `state` value of `vaultgate_bootstrap_secrets` (all exported, zeros included).
pub const GAUGE_STATES: [&str; 6] = [
    "pending",
    "pending-without-target",
    "copied",
    "consumed",
    "superseded",
    "invalid",
];

/// Every handover metric.
pub struct HandoverMetrics {
    registry: Registry,
    /// `vaultgate_handovers_total{result}`: copied, already_copied, consumed, superseded, failed,
    /// invalid_target, invalid_source.
    pub handovers: Family<ResultLabels, Counter>,
    /// `vaultgate_handover_failures_total{reason}`.
    pub failures: Family<ReasonLabels, Counter>,
    /// `vaultgate_bootstrap_secrets{state}`.
    pub secrets: Family<StateLabels, Gauge>,
    /// `vaultgate_oldest_pending_handover_seconds`: age of the oldest Secret still pending or
    /// copied (with a target); 0 when none.
    pub oldest_pending: Gauge<f64, AtomicU64>,
    /// `vaultgate_handover_leader`: 1 while this replica holds the lease.
    pub leader: Gauge,
}

impl Default for HandoverMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl HandoverMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("vaultgate");
        let handovers = Family::<ResultLabels, Counter>::default();
        let failures = Family::<ReasonLabels, Counter>::default();
        let secrets = Family::<StateLabels, Gauge>::default();
        let oldest_pending = Gauge::<f64, AtomicU64>::default();
        let leader = Gauge::default();
        registry.register(
            "handovers",
            "Handover steps completed or failed, by result",
            handovers.clone(),
        );
        registry.register(
            "handover_failures",
            "Failed handover attempts, by reason",
            failures.clone(),
        );
        registry.register(
            "bootstrap_secrets",
            "Watched bootstrap Secrets, by handover state",
            secrets.clone(),
        );
        registry.register(
            "oldest_pending_handover_seconds",
            "Age of the oldest bootstrap Secret whose declared handover has not completed",
            oldest_pending.clone(),
        );
        registry.register(
            "handover_leader",
            "1 while this replica holds the handover lease",
            leader.clone(),
        );
        for state in GAUGE_STATES {
            secrets.get_or_create(&StateLabels { state }).set(0);
        }
        Self {
            registry,
            handovers,
            failures,
            secrets,
            oldest_pending,
            leader,
        }
    }

    pub fn count(&self, result: &'static str) {
        self.handovers.get_or_create(&ResultLabels { result }).inc();
    }

    pub fn fail(&self, reason: &'static str) {
        self.count("failed");
        self.failures.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// Recomputes the gauges from the controllers' metadata caches.
    pub fn refresh(&self, stores: &[Store<PartialObjectMeta<Secret>>], policy: &Policy) {
        let mut counts: BTreeMap<&'static str, i64> =
            GAUGE_STATES.iter().map(|s| (*s, 0)).collect();
        let now = Timestamp::now();
        let mut oldest = 0.0_f64;
        let empty = BTreeMap::new();
        for meta in stores.iter().flat_map(Store::state) {
            let labels = meta.metadata.labels.as_ref().unwrap_or(&empty);
            let annotations = meta.metadata.annotations.as_ref().unwrap_or(&empty);
            let state = gauge_state(labels, annotations, policy);
            *counts.entry(state).or_default() += 1;
            if matches!(state, "pending" | "copied")
                && let Some(created) = &meta.metadata.creation_timestamp
            {
                oldest = oldest.max(now.duration_since(created.0).as_secs_f64());
            }
        }
        for (state, n) in counts {
            self.secrets.get_or_create(&StateLabels { state }).set(n);
        }
        self.oldest_pending.set(oldest);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(2048);
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Serves `GET /metrics` and `GET /healthz` over plain HTTP until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<HandoverMetrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            "content-type",
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.encode(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the metrics listener (startup error names the flag).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("--metrics-listen {addr}: cannot bind: {e}"))
}
