//! The in-cluster audit (`serve --audit-interval`): every interval, and sooner when the live
//! view changed (at most once per [`change_gap`]; see [`next_run`]), the audit engine
//! ([`crate::audit`]) runs over what the live view already watches (no API call per object):
//! Secrets, and the ESO objects and stores it keeps whole while the audit is on
//! (`cluster/live/listing.rs`). It is folded as a stream ([`audit::stream`]): objects are judged a namespace at a
//! time and only bounded sums are kept, the counts for the metrics and each namespace's capped
//! report, which is handed over as soon as its namespace is done and written as a PolicyReport
//! ([`policy_report`]) by server-side apply (field manager `vaultgate`), only when its content
//! changed since vaultgate last wrote it.
//!
//! Events about expiring and expired exceptions that still match objects are published on
//! those objects, once per exception and state ([`exception_events`]).
//!
//! Reports are written only while the `wgpolicyk8s.io/v1alpha2` API is served: a missing CRD is
//! logged once and re-checked each pass (one discovery GET); the metrics work without it.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::{
    Client,
    api::{Api, ApiResource, DynamicObject, Patch, PatchParams},
    runtime::events::{Event, EventType, Recorder, Reporter},
};

use crate::{
    admission::Webhook,
    audit::{
        Judge,
        exception_events::{self, Matches, Sent},
        policy_report::{self, Built},
        stream::{self, Totals},
    },
    cluster::{ClusterView, LiveView},
    metrics::{AuditRuleLabels, InventoryLabels, Metrics},
};

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: policy_report::GROUP.into(),
        version: policy_report::VERSION.into(),
        api_version: format!("{}/{}", policy_report::GROUP, policy_report::VERSION),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// Sets the audit's gauges from a pass's `totals` (stale series from the previous run are
/// dropped).
pub fn record(metrics: &Metrics, totals: &Totals) {
    metrics.inventory_secrets.clear();
    metrics.audit_violations.clear();
    for (&rule, &n) in &totals.violations {
        metrics
            .audit_violations
            .get_or_create(&AuditRuleLabels { rule })
            .set(n as i64);
    }
    for (&(class, producer), &n) in &totals.inventory {
        metrics
            .inventory_secrets
            .get_or_create(&InventoryLabels { class, producer })
            .set(n as i64);
    }
    metrics.vault_coverage_ratio.set(totals.coverage_ratio());
}

/// The least time between two passes a change may trigger: [`MIN_CHANGE_GAP`], or ten times the
/// last pass, so passes run on change take at most a tenth of a core however busy the cluster.
pub fn change_gap(last_pass: Duration) -> Duration {
    MIN_CHANGE_GAP.max(last_pass.saturating_mul(10))
}

/// See [`change_gap`].
pub const MIN_CHANGE_GAP: Duration = Duration::from_secs(5);

/// When the next pass starts, the last one having ended at `last_end`: `every` later, or, if the
/// view changed since the last pass started, `gap` later when that is sooner. Any number of
/// changes within the gap make one pass.
pub fn next_run(last_end: Instant, changed: bool, every: Duration, gap: Duration) -> Instant {
    last_end + if changed { gap.min(every) } else { every }
}

/// What was last written, per namespace (`""`: the cluster report).
struct Publisher {
    client: Client,
    /// Whether the PolicyReport API is served (`None`: not checked yet).
    crd: Option<bool>,
    missing_logged: bool,
    written: HashMap<String, u64>,
    cap: usize,
}

impl Publisher {
    async fn crd_served(&mut self) -> bool {
        if self.crd != Some(true) {
            let served = self
                .client
                .list_api_group_resources(&format!(
                    "{}/{}",
                    policy_report::GROUP,
                    policy_report::VERSION
                ))
                .await
                .is_ok_and(|l| l.resources.iter().any(|r| r.name == "policyreports"));
            if !served && !self.missing_logged {
                tracing::warn!(
                    "the PolicyReport CRD (wgpolicyk8s.io/v1alpha2) is not installed: the \
                     in-cluster audit updates its metrics only; install it (manifests/overlays/\
                     policy-reports, Kyverno or Policy Reporter) to get PolicyReports"
                );
                self.missing_logged = true;
            }
            if served && self.crd != Some(true) {
                tracing::info!("the PolicyReport CRD is served: writing PolicyReports");
            }
            self.crd = Some(served);
        }
        self.crd == Some(true)
    }

    /// Writes one namespace's report unless it is what vaultgate last wrote there.
    async fn write(&mut self, built: Built) {
        let ns = built.namespace.clone().unwrap_or_default();
        let digest = policy_report::content_digest(&built);
        if self.written.get(&ns) == Some(&digest) {
            return;
        }
        match self.apply(&built).await {
            Ok(()) => {
                tracing::debug!(namespace = %ns, kind = built.kind(), "PolicyReport written");
                self.written.insert(ns, digest);
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {
                // The namespace is gone, or the CRD: check the API again next time.
                self.written.remove(&ns);
                self.crd = None;
            }
            Err(e) => {
                tracing::warn!(namespace = %ns, kind = built.kind(), error = %e, "cannot write the PolicyReport; retried next pass");
            }
        }
    }

    /// Empties the reports written before whose namespaces the pass no longer audited (their
    /// objects are gone).
    async fn empty_the_rest(&mut self, seen: &HashSet<String>) {
        let gone: Vec<String> = self
            .written
            .keys()
            .filter(|ns| !seen.contains(*ns))
            .cloned()
            .collect();
        for ns in gone {
            self.write(policy_report::empty(&ns, self.cap)).await;
        }
    }

    async fn apply(&self, built: &Built) -> kube::Result<()> {
        let api: Api<DynamicObject> = match &built.namespace {
            Some(ns) => Api::namespaced_with(
                self.client.clone(),
                ns,
                &resource("PolicyReport", "policyreports"),
            ),
            None => Api::all_with(
                self.client.clone(),
                &resource("ClusterPolicyReport", "clusterpolicyreports"),
            ),
        };
        api.patch(
            policy_report::NAME,
            &PatchParams::apply("vaultgate").force(),
            &Patch::Apply(&built.body),
        )
        .await
        .map(drop)
    }
}

/// Publishes the Events the audit calls for about expiring and expired exceptions still
/// matching objects ([`exception_events::due`]): on each matched object (at most
/// [`exception_events::MAX_OBJECTS`]), once per exception and state. One that could not be
/// published on any object is tried again after the next audit.
async fn publish_exception_events(
    recorder: &Recorder,
    judged: &Judged,
    matches: &Matches,
    sent: &mut Sent,
) {
    let (due, mut next) = exception_events::due(&judged.policy, judged.now, matches, sent);
    for d in due {
        tracing::warn!(
            exception = %d.exception,
            state = d.state.as_str(),
            matched = d.matched,
            "{}",
            d.note
        );
        let event = Event {
            type_: EventType::Warning,
            reason: d.reason.into(),
            note: Some(d.note.clone()),
            action: "Audit".into(),
            secondary: None,
        };
        let mut published = false;
        for o in &d.objects {
            let reference = ObjectReference {
                api_version: Some(o.api_version.into()),
                kind: Some(o.kind.into()),
                namespace: o.namespace.clone(),
                name: Some(o.name.clone()),
                ..ObjectReference::default()
            };
            match recorder.publish(&event, &reference).await {
                Ok(()) => published = true,
                Err(e) => tracing::warn!(
                    exception = %d.exception,
                    namespace = o.namespace.as_deref().unwrap_or(""),
                    name = %o.name,
                    error = %e,
                    "cannot publish the exception's Event"
                ),
            }
        }
        if !published {
            next.remove(&d.exception);
        }
    }
    *sent = next;
}

/// The policy and the time a pass judged with: its exception Events are decided with the same.
struct Judged {
    policy: Arc<crate::policy::Policy>,
    now: SystemTime,
}

/// One pass: the streamed audit on a blocking thread, each namespace's report written as it
/// comes (a channel of two: the fold waits for the writes, so reports never pile up).
async fn pass(
    view: &Arc<LiveView>,
    webhook: &Webhook,
    publisher: &mut Publisher,
) -> Option<(Totals, Judged)> {
    let writing = publisher.crd_served().await;
    let judged_with = Judged {
        policy: webhook.engine().policy.clone(),
        now: SystemTime::now(),
    };
    let (policy, now) = (judged_with.policy.clone(), judged_with.now);
    let judged = view.clone();
    let cap = publisher.cap;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Built>(2);
    let fold = tokio::task::spawn_blocking(move || {
        let judge = Judge::new(&policy, now);
        stream::fold(&*judged, &*judged, &judge, cap, |built| {
            !writing || tx.blocking_send(built).is_ok()
        })
    });
    let mut seen = HashSet::new();
    while let Some(built) = rx.recv().await {
        seen.insert(built.namespace.clone().unwrap_or_default());
        publisher.write(built).await;
    }
    let totals = fold.await.ok()?;
    if writing {
        publisher.empty_the_rest(&seen).await;
    }
    Some((totals, judged_with))
}

/// Runs the audit until the process ends: once the view has synced, then every `every`, and
/// sooner after the view changed (see [`next_run`]).
pub fn spawn(client: Client, view: Arc<LiveView>, webhook: Arc<Webhook>, every: Duration) {
    tokio::spawn(async move {
        let mut publisher = Publisher {
            client: client.clone(),
            crd: None,
            missing_logged: false,
            written: HashMap::new(),
            cap: policy_report::DEFAULT_CAP,
        };
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "vaultgate".into(),
                instance: std::env::var("HOSTNAME").ok(),
            },
        );
        let mut sent = Sent::new();
        // The first pass as soon as the view has synced (its sync is a change).
        let mut last_end: Option<Instant> = None;
        let mut changed = true;
        let mut gap = MIN_CHANGE_GAP;
        loop {
            let at = last_end.map_or_else(Instant::now, |t| next_run(t, changed, every, gap));
            tokio::select! {
                () = tokio::time::sleep_until(at.into()) => {}
                () = view.changed(), if !changed => {
                    changed = true;
                    continue;
                }
            }
            changed = false;
            if !view.synced() {
                last_end = Some(Instant::now());
                continue;
            }
            let started = Instant::now();
            let Some((totals, judged)) = pass(&view, &webhook, &mut publisher).await else {
                tracing::error!("the in-cluster audit panicked; retried next interval");
                last_end = Some(Instant::now());
                continue;
            };
            let took = started.elapsed();
            let metrics = webhook.metrics();
            record(metrics, &totals);
            publish_exception_events(&recorder, &judged, &totals.exception_matches, &mut sent)
                .await;
            metrics.audit_duration.set(took.as_secs_f64());
            metrics.audit_last_run.set(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
            );
            tracing::debug!(
                objects = totals.objects,
                violations = totals.violation_count(),
                "in-cluster audit done"
            );
            gap = change_gap(took);
            last_end = Some(Instant::now());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_secs(300);

    #[test]
    fn without_a_change_the_next_pass_waits_the_interval() {
        let end = Instant::now();
        assert_eq!(next_run(end, false, EVERY, MIN_CHANGE_GAP), end + EVERY);
    }

    #[test]
    fn a_change_brings_the_next_pass_forward_to_the_gap() {
        let end = Instant::now();
        assert_eq!(
            next_run(end, true, EVERY, MIN_CHANGE_GAP),
            end + MIN_CHANGE_GAP
        );
    }

    #[test]
    fn a_change_never_delays_a_pass_past_a_short_interval() {
        let end = Instant::now();
        let every = Duration::from_secs(2);
        assert_eq!(next_run(end, true, every, MIN_CHANGE_GAP), end + every);
    }

    #[test]
    fn a_slow_pass_widens_the_gap_so_passes_on_change_stay_a_tenth_of_the_time() {
        assert_eq!(change_gap(Duration::from_millis(100)), MIN_CHANGE_GAP);
        assert_eq!(change_gap(Duration::from_secs(2)), Duration::from_secs(20));
    }
}
