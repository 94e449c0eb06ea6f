//! The handover controller (`vaultgate handover`, docs/ARCHITECTURE.md §4): copies each declared
//! bootstrap Secret into Vault KV v2 exactly once, verifies it, retires the Secret and leaves an
//! audit trail (Events, one log line per transition, Vault `custom_metadata`, metrics).
//!
//! ```text
//!  metadata watch (label secret-class=bootstrap, per namespace) ─▶ kube-runtime Controller
//!      │ (the cache holds metadata only: no Secret value is kept between reconciles)
//!      ▼
//!  reconcile: GET the Secret ─▶ policy::handover::plan ─▶ copy (Vault) ─▶ patch / delete ─▶ Event
//!      ▲                                                     │ failure: no state change,
//!  Lease (one active replica)                               ▼ HandoverFailed + backoff w/ jitter
//! ```
//!
//! Only persisted objects are ever seen, so `dryRun` admissions never trigger a handover.
//! The decisions live in [`crate::policy::handover`]; this module does the I/O.

mod auth;
pub mod copy;
pub mod digest;
pub mod lease;
pub mod metrics;
mod reconcile;
#[cfg(test)]
mod scripted;
mod transition;
pub mod vault;

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context as _;
use futures::StreamExt as _;
use k8s_openapi::api::{
    authentication::v1::SelfSubjectReview, coordination::v1::Lease, core::v1::Secret,
};
use kube::{
    Client,
    api::{Api, PostParams},
    core::PartialObjectMeta,
    runtime::{
        WatchStreamExt as _,
        controller::{self, Controller},
        events::{Recorder, Reporter},
        reflector, watcher,
    },
};
use tokio::sync::watch;

pub use reconcile::Error;

use self::{
    digest::DigestKey,
    metrics::HandoverMetrics,
    vault::{Vault, VaultConfig},
};
use crate::policy::{Policy, handover::Settings};

/// Everything `vaultgate handover` is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    pub policy: Arc<Policy>,
    pub settings: Settings,
    /// The product namespace: digest-key Secret and Lease live here.
    pub namespace: String,
    /// Namespaces to watch; empty means every namespace (needs a ClusterRole).
    pub watch_namespaces: Vec<String>,
    /// Recorded in Vault provenance.
    pub cluster_name: String,
    /// This replica (pod name): lease holder identity and Event reporting instance.
    pub instance: String,
    pub vault: VaultConfig,
    /// `None`: no leader election (a single replica, or tests).
    pub lease: Option<LeaseSettings>,
    pub retry_base: Duration,
    pub retry_max: Duration,
}

#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub name: String,
    pub duration: Duration,
    pub retry: Duration,
}

/// Events are reported as this controller.
pub const REPORTER: &str = "vaultgate-handover";

/// A prepared controller: key loaded, Vault client built, identity checked.
pub struct Handover {
    client: Client,
    cfg: Config,
    ctx: Arc<reconcile::Ctx>,
}

/// Asks the apiserver who we are (SelfSubjectReview); `None` if it cannot say.
async fn whoami(client: &Client) -> Option<String> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    match api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
    {
        Ok(review) => review.status?.user_info?.username,
        Err(e) => {
            tracing::warn!(error = %e, "SelfSubjectReview failed; cannot check the controller's identity");
            None
        }
    }
}

impl Handover {
    /// Loads (or creates) the digest key, builds the Vault client and checks the identity the
    /// webhook will see against `identities.handover`.
    pub async fn prepare(client: Client, cfg: Config) -> anyhow::Result<Self> {
        let vault = Vault::new(cfg.vault.clone())?;
        let key: DigestKey =
            digest::load_or_create(&Api::namespaced(client.clone(), &cfg.namespace))
                .await
                .with_context(|| format!("--namespace {}: digest key", cfg.namespace))?;
        let user = whoami(&client).await;
        match &user {
            Some(u) if cfg.policy.identities.handover.iter().any(|p| p.matches(u)) => {
                tracing::info!(user = %u, "running as the policy's handover identity");
            }
            Some(u) => tracing::warn!(
                user = %u,
                expected = ?cfg.policy.identities.handover,
                "this identity is not in the policy's identities.handover: the webhook will deny the controller's state changes"
            ),
            None => {}
        }
        let actor = format!("{}@{}", user.as_deref().unwrap_or("unknown"), cfg.instance);
        let reporter = Reporter {
            controller: REPORTER.into(),
            instance: Some(cfg.instance.clone()),
        };
        let ctx = Arc::new(reconcile::Ctx::new(
            client.clone(),
            &cfg,
            vault,
            key,
            Recorder::new(client.clone(), reporter),
            Arc::new(HandoverMetrics::new()),
            actor,
        ));
        Ok(Self { client, cfg, ctx })
    }

    pub fn metrics(&self) -> Arc<HandoverMetrics> {
        self.ctx.metrics.clone()
    }

    /// Runs until `shutdown` completes: elects, reconciles while leading, drains in-flight
    /// reconciles, then releases the lease.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            stop_tx.send_replace(true);
        });
        let (leader_tx, leader_rx) = watch::channel(self.cfg.lease.is_none());
        let (lease_stop_tx, lease_stop_rx) = watch::channel(false);
        let elector = self.cfg.lease.as_ref().map(|l| {
            let api: Api<Lease> = Api::namespaced(self.client.clone(), &self.cfg.namespace);
            let cfg = lease::LeaseConfig {
                name: l.name.clone(),
                identity: self.cfg.instance.clone(),
                duration: l.duration,
                retry: l.retry,
            };
            tokio::spawn(lease::run(
                lease::Elector::new(api, cfg),
                leader_tx,
                lease_stop_rx,
            ))
        });
        loop {
            let (mut leading, mut stopping) = (leader_rx.clone(), stop_rx.clone());
            tokio::select! {
                _ = leading.wait_for(|l| *l) => {}
                _ = stopping.wait_for(|s| *s) => {}
            }
            if *stop_rx.borrow() {
                break;
            }
            self.ctx.metrics.leader.set(1);
            tracing::info!(namespaces = ?self.cfg.watch_namespaces, "leading: reconciling bootstrap Secrets");
            self.lead(leader_rx.clone(), stop_rx.clone()).await;
            self.ctx.metrics.leader.set(0);
            tracing::info!("stopped reconciling (leadership lost or shutting down)");
        }
        lease_stop_tx.send_replace(true);
        if let Some(task) = elector {
            task.await.context("the lease task panicked")?;
        }
        Ok(())
    }

    /// One term of leadership: a Controller per watched namespace until leadership is lost or
    /// shutdown starts; in-flight reconciles finish first (graceful shutdown).
    async fn lead(&self, leader: watch::Receiver<bool>, stop: watch::Receiver<bool>) {
        let selector = format!("{}=bootstrap", self.cfg.policy.key("secret-class"));
        // `Api<PartialObjectMeta<_>>` makes metadata-only list/watch requests.
        let apis: Vec<Api<PartialObjectMeta<Secret>>> = if self.cfg.watch_namespaces.is_empty() {
            vec![Api::all(self.client.clone())]
        } else {
            self.cfg
                .watch_namespaces
                .iter()
                .map(|ns| Api::namespaced(self.client.clone(), ns))
                .collect()
        };
        let mut runs = Vec::new();
        let mut stores = Vec::new();
        for api in apis {
            let (reader, writer) = reflector::store::<PartialObjectMeta<Secret>>();
            let stream = reflector(
                writer,
                watcher(api, watcher::Config::default().labels(&selector)),
            )
            .default_backoff()
            .touched_objects();
            let (mut l, mut s) = (leader.clone(), stop.clone());
            let halt = async move {
                tokio::select! {
                    _ = l.wait_for(|v| !*v) => {}
                    _ = s.wait_for(|v| *v) => {}
                }
            };
            stores.push(reader.clone());
            let run = Controller::for_stream(stream, reader)
                .with_config(controller::Config::default().concurrency(4))
                .graceful_shutdown_on(halt)
                .run(
                    reconcile::reconcile,
                    reconcile::error_policy,
                    self.ctx.clone(),
                )
                .for_each(|res| async move {
                    if let Err(e) = res {
                        tracing::debug!(error = %e, "reconcile error (already reported)");
                    }
                });
            runs.push(run);
        }
        let (ctx, policy) = (self.ctx.clone(), self.cfg.policy.clone());
        let mut halt = stop.clone();
        let refresher = tokio::spawn(async move {
            loop {
                ctx.metrics.refresh(&stores, &policy);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = halt.wait_for(|v| *v) => break,
                }
            }
        });
        futures::future::join_all(runs).await;
        refresher.abort();
    }
}
