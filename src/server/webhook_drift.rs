//! `serve`'s check that the installed webhook configurations still carry the `matchConditions`
//! the policy in effect generates (README "Mutation", "One hop in the steady state"). Live
//! cluster context only: the edge around the pure comparison [`drift`].
//!
//! It reads the MutatingWebhookConfiguration and the ValidatingWebhookConfiguration named
//! `--webhook-configuration` once the client exists, within a second of every policy reload, and
//! every `--webhook-check-interval`. Drift is a `warn` line per webhook (the condition names
//! that differ, never an expression, and the fix) and
//! `vaultgate_webhook_conditions_drift{configuration} 1`. A configuration that cannot be read
//! (forbidden, another API error) or is not installed is logged once per change of state, and
//! never touches admission or `/readyz`: with `failurePolicy: Fail` an unready webhook would
//! refuse every governed write. An unreadable configuration keeps its gauge at the last known
//! value; a missing one reads 0 (nothing installed can drift). Either reads 0 on
//! `vaultgate_webhook_conditions_checked{configuration}` (1 once read and compared), so a
//! deleted configuration or a denied read is not mistaken for a clean one. Until both are read
//! and found, they are read again every 30 s (the webhooks are registered after vaultgate serves).

use std::{sync::Arc, time::Duration};

use k8s_openapi::api::admissionregistration::v1 as adm;
use kube::{Api, Client};
use tokio::{task::JoinHandle, time::Instant};

use crate::{
    admission::Webhook,
    metrics::ConfigurationLabels,
    policy::{
        Policy,
        mutate::{
            drift::{Configuration, Drift, InstalledWebhook, drift},
            scope::MatchCondition,
        },
    },
};

/// How often the policy in effect is looked at (a pointer comparison, no I/O).
const POLICY_POLL: Duration = Duration::from_secs(1);

/// While a configuration is missing or unreadable it is read again this soon (or every
/// interval, if shorter): the webhooks are registered after the Deployment serves (README
/// "Install"), so the first read at start usually finds nothing yet.
const RETRY: Duration = Duration::from_secs(30);

/// What one read of a configuration found, as far as logging cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Clean,
    Drifted(Vec<Drift>),
    Missing,
    /// `forbidden` or `error`; the detail is logged but not compared, so a changing message
    /// does not repeat the line.
    Unreadable {
        reason: &'static str,
        detail: String,
    },
}

impl Observed {
    /// Whether a change from `previous` to `self` is worth a log line.
    pub fn changed_from(&self, previous: Option<&Self>) -> bool {
        match (previous, self) {
            (Some(Self::Unreadable { reason: a, .. }), Self::Unreadable { reason: b, .. }) => {
                a != b
            }
            (Some(p), s) => p != s,
            (None, _) => true,
        }
    }

    /// `vaultgate_webhook_conditions_checked`: 1 when the configuration was read and its
    /// webhooks compared, 0 when it is missing, has no webhooks or cannot be read.
    pub fn checked(&self) -> i64 {
        match self {
            Self::Clean | Self::Drifted(_) => 1,
            Self::Missing | Self::Unreadable { .. } => 0,
        }
    }

    /// The gauge's new value, `None` to keep it.
    pub fn gauge(&self) -> Option<i64> {
        match self {
            Self::Clean | Self::Missing => Some(0),
            Self::Drifted(_) => Some(1),
            Self::Unreadable { .. } => None,
        }
    }
}

/// Judges one read: the configuration's webhooks (`Ok(None)`: not installed) against `policy`.
pub fn observe(
    policy: &Policy,
    configuration: Configuration,
    read: Result<Option<Vec<InstalledWebhook>>, kube::Error>,
) -> Observed {
    match read {
        Err(kube::Error::Api(e)) if e.code == 403 => Observed::Unreadable {
            reason: "forbidden",
            detail: e.message.clone(),
        },
        Err(e) => Observed::Unreadable {
            reason: "error",
            detail: e.to_string(),
        },
        Ok(installed) => {
            let found = drift(policy, configuration, installed.as_deref());
            match found.first() {
                None => Observed::Clean,
                Some(Drift::MissingConfiguration(_)) => Observed::Missing,
                Some(_) => Observed::Drifted(found),
            }
        }
    }
}

/// The check's inputs.
pub struct WebhookCheck {
    /// The configurations' name (`--webhook-configuration`).
    pub name: String,
    /// `--webhook-check-interval` (non-zero).
    pub every: Duration,
}

/// Spawns the check on the current runtime; it runs until the runtime stops.
pub fn spawn(client: Client, webhook: Arc<Webhook>, check: WebhookCheck) -> JoinHandle<()> {
    tokio::spawn(run(client, webhook, check))
}

async fn run(client: Client, webhook: Arc<Webhook>, check: WebhookCheck) {
    let mutating: Api<adm::MutatingWebhookConfiguration> = Api::all(client.clone());
    let validating: Api<adm::ValidatingWebhookConfiguration> = Api::all(client);
    let mut ticks = tokio::time::interval(POLICY_POLL.min(check.every));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut checked: Option<Arc<Policy>> = None;
    let mut due = Instant::now();
    let mut last: [Option<Observed>; 2] = [None, None];
    loop {
        ticks.tick().await;
        let policy = webhook.engine().policy.clone();
        let reloaded = !checked.as_ref().is_some_and(|p| Arc::ptr_eq(p, &policy));
        if !reloaded && Instant::now() < due {
            continue;
        }
        let reads =
            [
                (
                    Configuration::Mutating,
                    mutating.get_opt(&check.name).await.map(|c| {
                        c.map(|c| installed(c.webhooks, |w| (w.name, w.match_conditions)))
                    }),
                ),
                (
                    Configuration::Validating,
                    validating.get_opt(&check.name).await.map(|c| {
                        c.map(|c| installed(c.webhooks, |w| (w.name, w.match_conditions)))
                    }),
                ),
            ];
        for ((configuration, read), last) in reads.into_iter().zip(&mut last) {
            let now = observe(&policy, configuration, read);
            // Before the drift gauge: a scrape that sees the new drift value sees this one too.
            webhook
                .metrics()
                .webhook_conditions_checked
                .get_or_create(&ConfigurationLabels {
                    configuration: configuration.label(),
                })
                .set(now.checked());
            if let Some(value) = now.gauge() {
                webhook
                    .metrics()
                    .webhook_conditions_drift
                    .get_or_create(&ConfigurationLabels {
                        configuration: configuration.label(),
                    })
                    .set(value);
            }
            if now.changed_from(last.as_ref()) {
                report(configuration, &check.name, &now, last.as_ref());
            }
            *last = Some(now);
        }
        let settled = last
            .iter()
            .all(|o| matches!(o, Some(Observed::Clean | Observed::Drifted(_))));
        due = Instant::now()
            + if settled {
                check.every
            } else {
                check.every.min(RETRY)
            };
        checked = Some(policy);
    }
}

/// A configuration's webhooks as the comparison reads them. `parts` takes a webhook of either
/// kind (mutating or validating: two types with the same two fields) apart.
fn installed<W>(
    webhooks: Option<Vec<W>>,
    parts: impl Fn(W) -> (String, Option<Vec<adm::MatchCondition>>),
) -> Vec<InstalledWebhook> {
    webhooks
        .unwrap_or_default()
        .into_iter()
        .map(|w| {
            let (name, conditions) = parts(w);
            InstalledWebhook {
                name,
                conditions: conditions
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| MatchCondition {
                        name: c.name,
                        expression: c.expression,
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The fix named in every drift line.
const FIX: &str = "regenerate them with `vaultgate manifests --policy FILE` (FILE: the policy \
                   vaultgate serves) and apply the output; with the Helm chart pass \
                   `vaultgate manifests --policy FILE --format helm` as values \
                   (webhook.matchConditions, webhook.mutateMatchConditions)";

/// One log line per webhook for a new state. A configuration not found at the first read is
/// `info` (the webhooks are registered after vaultgate serves); one that disappears is `warn`.
fn report(configuration: Configuration, name: &str, now: &Observed, before: Option<&Observed>) {
    let kind = configuration.kind();
    match now {
        Observed::Clean => {
            if matches!(before, Some(Observed::Drifted(_))) {
                tracing::info!(
                    configuration = kind,
                    name,
                    "the installed webhooks' matchConditions match the policy in effect again"
                );
            } else {
                tracing::info!(
                    configuration = kind,
                    name,
                    "the installed webhooks' matchConditions match the policy in effect"
                );
            }
        }
        Observed::Missing if before.is_none_or(|b| matches!(b, Observed::Unreadable { .. })) => {
            tracing::info!(
                configuration = kind,
                name,
                "webhook configuration not found (yet), or without webhooks: its matchConditions \
                 are compared with the policy once it is installed (under another name: pass \
                 --webhook-configuration)"
            )
        }
        Observed::Missing => tracing::warn!(
            configuration = kind,
            name,
            "webhook configuration deleted or left without webhooks: the apiserver no longer \
             calls these webhooks, and its matchConditions cannot be compared with the policy"
        ),
        Observed::Unreadable { reason, detail } => tracing::warn!(
            configuration = kind,
            name,
            reason,
            error = %detail,
            "cannot read the webhook configuration to compare its matchConditions with the \
             policy; admission is unaffected. Grant `get` on it (manifests/base/rbac.yaml), or \
             pass --webhook-configuration with its name"
        ),
        Observed::Drifted(found) => {
            for d in found {
                let Drift::Conditions {
                    webhook,
                    missing,
                    extra,
                    different,
                    ..
                } = d
                else {
                    continue;
                };
                tracing::warn!(
                    configuration = kind,
                    name,
                    webhook = %webhook,
                    missing = ?missing,
                    extra = ?extra,
                    different = ?different,
                    fix = FIX,
                    "webhook matchConditions differ from the ones the policy in effect \
                     generates: a stale exemption lets the apiserver skip writes vaultgate \
                     would judge, a stale stamp condition skips the mutating call and the write \
                     is denied (VG112)"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden() -> kube::Error {
        let mut status = kube::core::Status::failure("forbidden: cannot get", "Forbidden");
        status.code = 403;
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn a_forbidden_read_keeps_the_gauge_and_is_logged_once() {
        let p = Policy::default();
        let first = observe(&p, Configuration::Mutating, Err(forbidden()));
        assert_eq!(first.gauge(), None);
        assert!(matches!(
            first,
            Observed::Unreadable {
                reason: "forbidden",
                ..
            }
        ));
        assert!(first.changed_from(None));
        let again = Observed::Unreadable {
            reason: "forbidden",
            detail: "another message".into(),
        };
        assert!(!again.changed_from(Some(&first)));
        assert!(Observed::Missing.changed_from(Some(&first)));
    }

    #[test]
    fn only_a_configuration_read_and_compared_counts_as_checked() {
        // Deleted, emptied, renamed away from --webhook-configuration or forbidden by RBAC: the
        // drift gauge reads 0 or keeps its last value, so only this gauge can say so.
        let p = Policy::default();
        let compared = vec![InstalledWebhook {
            name: "w".into(),
            conditions: Configuration::Validating.expected(&p),
        }];
        let clean = observe(&p, Configuration::Validating, Ok(Some(compared)));
        assert_eq!((clean.clone(), clean.checked()), (Observed::Clean, 1));
        assert_eq!(Observed::Drifted(vec![]).checked(), 1);
        assert_eq!(
            observe(&p, Configuration::Validating, Ok(None)).checked(),
            0
        );
        assert_eq!(
            observe(&p, Configuration::Validating, Ok(Some(vec![]))).checked(),
            0
        );
        assert_eq!(
            observe(&p, Configuration::Mutating, Err(forbidden())).checked(),
            0
        );
    }

    #[test]
    fn a_missing_configuration_reads_zero_and_drift_one() {
        let p = Policy::default();
        let missing = observe(&p, Configuration::Validating, Ok(None));
        assert_eq!(
            (missing.clone(), missing.gauge()),
            (Observed::Missing, Some(0))
        );
        let bare = vec![InstalledWebhook {
            name: "w".into(),
            conditions: vec![],
        }];
        let drifted = observe(&p, Configuration::Validating, Ok(Some(bare)));
        assert_eq!(drifted.gauge(), Some(1));
        assert!(!drifted.changed_from(Some(&drifted.clone())));
    }
}
