//! One reconcile: read the Secret, ask [`plan`] for the next step, do it (Vault side in
//! `copy.rs`, Kubernetes writes and their Events in `transition.rs`), record failures.
//!
//! Each reconcile performs at most one state transition; the watch event of our own patch
//! triggers the next. Every write is guarded (Vault `cas=0`; Kubernetes `resourceVersion` in the
//! merge patch, uid + resourceVersion preconditions on delete), so a crash or a second replica
//! between any two steps is harmless: the next reconcile maps what it finds back onto a plan.
//! Failures leave the Secret untouched, emit `HandoverFailed` and requeue with exponential
//! backoff and jitter ([`error_policy`]).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use k8s_openapi::{api::core::v1::Secret, jiff::Timestamp};
use kube::{
    Client, Resource, ResourceExt,
    api::Api,
    core::PartialObjectMeta,
    runtime::{
        controller::Action,
        events::{Event, EventType, Recorder},
    },
};
use ring::rand::SecureRandom;
use serde_json::{Map, Value};

use super::{
    Config,
    copy::{self, Provenance},
    digest::DigestKey,
    metrics::HandoverMetrics,
    transition::{conclude, transition},
    vault::{Vault, VaultError},
};
use crate::policy::{
    Policy,
    handover::{Blocked, Plan, SecretFacts, Settings, State, plan},
};

/// Why a reconcile made no progress. Never carries a value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Blocked(#[from] Blocked),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

impl Error {
    pub fn metric_reason(&self) -> &'static str {
        match self {
            Self::Blocked(Blocked::Sealed) => "vault_sealed",
            Self::Blocked(Blocked::Uninitialized) => "vault_uninitialized",
            Self::Blocked(_) => "vault_read_back",
            Self::Vault(e) => e.metric_reason(),
            Self::Kube(kube::Error::Api(s)) if s.is_conflict() => "kube_conflict",
            Self::Kube(_) => "kube_error",
        }
    }
}

/// Shared state of every reconcile.
pub(super) struct Ctx {
    pub(super) client: Client,
    pub(super) policy: Arc<Policy>,
    pub(super) settings: Settings,
    pub(super) vault: Vault,
    pub(super) key: DigestKey,
    pub(super) recorder: Recorder,
    pub(super) metrics: Arc<HandoverMetrics>,
    pub(super) cluster: String,
    pub(super) actor: String,
    pub(super) mount: String,
    pub(super) retry_base: Duration,
    pub(super) retry_max: Duration,
    /// (uid, reason, detail) already reported, so a steady condition is told once.
    pub(super) reported: Mutex<HashSet<(String, &'static str, String)>>,
    /// Consecutive failures per uid, for the backoff.
    pub(super) failures: Mutex<HashMap<String, u32>>,
}

impl Ctx {
    pub(super) fn new(
        client: Client,
        cfg: &Config,
        vault: Vault,
        key: DigestKey,
        recorder: Recorder,
        metrics: Arc<HandoverMetrics>,
        actor: String,
    ) -> Self {
        Self {
            client,
            policy: cfg.policy.clone(),
            settings: cfg.settings.clone(),
            mount: cfg.vault.mount.trim_matches('/').to_owned(),
            vault,
            key,
            recorder,
            metrics,
            cluster: cfg.cluster_name.clone(),
            actor,
            retry_base: cfg.retry_base,
            retry_max: cfg.retry_max,
            reported: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    pub(super) async fn event(
        &self,
        secret: &Secret,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: "Handover".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &secret.object_ref(&())).await {
            tracing::warn!(namespace = %secret.namespace().unwrap_or_default(), name = %secret.name_any(), reason, error = %e, "cannot publish an Event");
        }
    }

    /// Reports a steady condition once per object and detail: a log line, an Event and, when
    /// `result` is given, a count in `vaultgate_handovers_total`.
    async fn report_once(
        &self,
        secret: &Secret,
        type_: EventType,
        reason: &'static str,
        note: String,
        result: Option<&'static str>,
    ) {
        let key = (secret.uid().unwrap_or_default(), reason, note.clone());
        let fresh = self
            .reported
            .lock()
            .map(|mut r| r.insert(key))
            .unwrap_or(true);
        if fresh {
            if let Some(result) = result {
                self.metrics.count(result);
            }
            tracing::info!(namespace = %secret.namespace().unwrap_or_default(), name = %secret.name_any(), reason, note = %note, "handover not started");
            self.event(secret, type_, reason, note).await;
        }
    }
}

fn now_rfc3339() -> String {
    Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The kube-runtime reconciler.
pub(super) async fn reconcile(
    meta: Arc<PartialObjectMeta<Secret>>,
    ctx: Arc<Ctx>,
) -> Result<Action, Error> {
    let (ns, name) = (meta.namespace().unwrap_or_default(), meta.name_any());
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    // The full object is read here, used, and dropped with this reconcile.
    let secret = match api.get_opt(&name).await {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(Action::await_change()),
        Err(e) => return fail(&ctx, &meta, None, e.into()).await,
    };
    match step(&ctx, &api, &secret).await {
        Ok(action) => {
            if let Ok(mut f) = ctx.failures.lock() {
                f.remove(&secret.uid().unwrap_or_default());
            }
            Ok(action)
        }
        Err(e) => fail(&ctx, &meta, Some(&secret), e).await,
    }
}

async fn fail(
    ctx: &Ctx,
    meta: &PartialObjectMeta<Secret>,
    secret: Option<&Secret>,
    e: Error,
) -> Result<Action, Error> {
    ctx.metrics.fail(e.metric_reason());
    tracing::warn!(
        namespace = %meta.namespace().unwrap_or_default(), name = %meta.name_any(), uid = %meta.uid().unwrap_or_default(),
        state = meta.labels().get(&*ctx.policy.reserved_key("handover-state")).map_or("pending", String::as_str),
        reason = e.metric_reason(), error = %e,
        "handover failed; the bootstrap Secret stays authoritative, retrying with backoff"
    );
    if let Some(secret) = secret {
        ctx.event(
            secret,
            EventType::Warning,
            "HandoverFailed",
            format!("{e}; the bootstrap Secret is unchanged and stays authoritative; retrying"),
        )
        .await;
    }
    Err(e)
}

/// Exponential backoff with ±20 % jitter: `base·2^(n-1)`, capped at `max`. `unit` ∈ [0, 1).
pub fn backoff(attempt: u32, base: Duration, max: Duration, unit: f64) -> Duration {
    let exp = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(max);
    exp.mul_f64(0.8 + 0.4 * unit.clamp(0.0, 1.0)).min(max)
}

fn random_unit() -> f64 {
    let mut b = [0u8; 4];
    match ring::rand::SystemRandom::new().fill(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

/// The kube-runtime error policy: requeue with backoff and jitter.
pub(super) fn error_policy(
    meta: Arc<PartialObjectMeta<Secret>>,
    _err: &Error,
    ctx: Arc<Ctx>,
) -> Action {
    let attempt = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(meta.uid().unwrap_or_default()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    Action::requeue(backoff(
        attempt,
        ctx.retry_base,
        ctx.retry_max,
        random_unit(),
    ))
}

async fn step(ctx: &Ctx, api: &Api<Secret>, secret: &Secret) -> Result<Action, Error> {
    let (empty, no_data) = (
        std::collections::BTreeMap::new(),
        std::collections::BTreeMap::new(),
    );
    let data = secret.data.as_ref().unwrap_or(&no_data);
    let binary: Vec<&str> = data
        .iter()
        .filter(|(_, v)| std::str::from_utf8(&v.0).is_err())
        .map(|(k, _)| k.as_str())
        .collect();
    let digest = ctx.key.of_secret(data);
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    let facts = SecretFacts {
        labels: secret.metadata.labels.as_ref().unwrap_or(&empty),
        annotations: secret.metadata.annotations.as_ref().unwrap_or(&empty),
        keys: &keys,
        binary_keys: &binary,
        digest: &digest,
        deleting: secret.metadata.deletion_timestamp.is_some(),
    };
    match plan(&facts, &ctx.policy, &ctx.settings) {
        Plan::NotBootstrap | Plan::Done { .. } => Ok(Action::await_change()),
        Plan::WithoutTarget => {
            let note = format!(
                "bootstrap Secret has no {} annotation: left alone (pending without target)",
                ctx.policy.key("handover-to")
            );
            ctx.report_once(
                secret,
                EventType::Normal,
                "HandoverPendingWithoutTarget",
                note,
                None,
            )
            .await;
            Ok(Action::await_change())
        }
        Plan::InvalidTarget { path, problems } => {
            let note = format!(
                "handover target {path:?} is not a valid Vault path: {}; nothing was written",
                problems.join("; ")
            );
            let result = Some("invalid_target");
            ctx.report_once(
                secret,
                EventType::Warning,
                "HandoverInvalidTarget",
                note,
                result,
            )
            .await;
            Ok(Action::await_change())
        }
        Plan::InvalidSource { problem } => {
            ctx.report_once(
                secret,
                EventType::Warning,
                "HandoverInvalidSource",
                format!("{problem}; nothing was written"),
                Some("invalid_source"),
            )
            .await;
            Ok(Action::await_change())
        }
        Plan::Copy { path, mode } => {
            let values: Map<String, Value> = data
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Value::String(String::from_utf8_lossy(&v.0).into_owned()),
                    )
                })
                .collect();
            let (at, uid, ns, name) = (
                now_rfc3339(),
                secret.uid().unwrap_or_default(),
                secret.namespace().unwrap_or_default(),
                secret.name_any(),
            );
            let provenance = Provenance {
                cluster: &ctx.cluster,
                namespace: &ns,
                name: &name,
                uid: &uid,
                at: &at,
                actor: &ctx.actor,
                digest: &digest,
            };
            let verdict = copy::copy(&ctx.vault, &ctx.key, &path, &values, &provenance).await?;
            drop(values);
            conclude(
                ctx,
                api,
                secret,
                State::Pending,
                &path,
                mode,
                &digest,
                &at,
                verdict,
            )
            .await
        }
        Plan::Verify { path, mode } => {
            let verdict = copy::verify(&ctx.vault, &ctx.key, &path, &digest).await?;
            conclude(
                ctx,
                api,
                secret,
                State::Copied,
                &path,
                mode,
                &digest,
                &now_rfc3339(),
                verdict,
            )
            .await
        }
        Plan::Retire(r) => {
            let path = facts
                .annotations
                .get(&*ctx.policy.reserved_key("handover-to"))
                .cloned()
                .unwrap_or_default();
            transition(ctx, api, secret, &r, None, &path, "consumed").await
        }
    }
}

#[cfg(test)]
mod sequencing;
#[cfg(test)]
mod tests;
