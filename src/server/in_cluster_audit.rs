//! The in-cluster audit (`serve --audit-interval`): every interval, the audit engine
//! ([`crate::audit`]) runs over the Secrets the live view already watches ([`LiveView::
//! secrets_listing`]; no API call per object), its sums go to the metrics, and its results are
//! written as PolicyReports ([`policy_report`]) by server-side apply (field manager
//! `vaultgate`), each only when its content changed since vaultgate last wrote it.
//!
//! Events about expiring and expired exceptions that still match objects are published on
//! those objects, once per exception and state ([`exception_events`]).
//!
//! Reports are written only while the `wgpolicyk8s.io/v1alpha2` API is served: a missing CRD is
//! logged once and re-checked each interval (one discovery GET); the metrics work without it.

use std::{
    collections::HashMap,
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
        self, Report,
        exception_events::{self, Sent},
        policy_report::{self, Built},
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

/// Sets the audit's gauges from `report` (stale series from the previous run are dropped).
pub fn record(metrics: &Metrics, report: &Report) {
    metrics.inventory_secrets.clear();
    metrics.audit_violations.clear();
    let (mut secrets, mut covered) = (0usize, 0usize);
    for o in &report.objects {
        for f in &o.violations {
            if !o.excepted.iter().any(|e| e.rule == f.rule) {
                metrics
                    .audit_violations
                    .get_or_create(&AuditRuleLabels { rule: f.rule })
                    .inc();
            }
        }
        if o.kind != "Secret" {
            continue;
        }
        metrics
            .inventory_secrets
            .get_or_create(&InventoryLabels {
                class: o.class.unwrap_or("unclassified"),
                producer: policy_report::producer_category(o.producer.kind, o.producer.inferred),
            })
            .inc();
        secrets += 1;
        if o.class.is_some() && !o.producer.inferred {
            covered += 1;
        }
    }
    let ratio = if secrets == 0 {
        1.0
    } else {
        covered as f64 / secrets as f64
    };
    metrics.vault_coverage_ratio.set(ratio);
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

    async fn publish(&mut self, report: &Report) {
        if !self.crd_served().await {
            return;
        }
        let mut reports = policy_report::build(report, self.cap);
        // A namespace written before and absent now (its objects are gone): empty its report.
        for ns in self.written.keys() {
            if !reports.contains_key(ns) {
                reports.insert(ns.clone(), policy_report::empty(ns, self.cap));
            }
        }
        for (ns, built) in reports {
            let digest = policy_report::content_digest(&built);
            if self.written.get(&ns) == Some(&digest) {
                continue;
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
                    tracing::warn!(namespace = %ns, kind = built.kind(), error = %e, "cannot write the PolicyReport; retried next interval");
                }
            }
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
async fn publish_exception_events(recorder: &Recorder, report: &Report, sent: &mut Sent) {
    let (due, mut next) = exception_events::due(report, sent);
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

/// Runs the audit every `every` until the process ends (the first run once the view synced).
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
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !view.synced() {
                continue;
            }
            let started = Instant::now();
            let policy = webhook.engine().policy.clone();
            let judged_view = view.clone();
            let report = tokio::task::spawn_blocking(move || {
                let listing = judged_view.secrets_listing();
                audit::audit(&listing, &policy, &*judged_view, SystemTime::now())
            })
            .await;
            let Ok(report) = report else {
                tracing::error!("the in-cluster audit panicked; retried next interval");
                continue;
            };
            let metrics = webhook.metrics();
            record(metrics, &report);
            publisher.publish(&report).await;
            publish_exception_events(&recorder, &report, &mut sent).await;
            metrics.audit_duration.set(started.elapsed().as_secs_f64());
            metrics.audit_last_run.set(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
            );
            tracing::debug!(
                secrets = report.objects.len(),
                violations = report.violations(),
                "in-cluster audit done"
            );
        }
    });
}
