//! Prometheus metrics (text exposition on `GET /metrics`). Labels carry kinds, operations,
//! decisions and rule ids only: never a name, a user or a value, so cardinality stays bounded
//! and nothing secret can leak through a label.

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Labels of one admission review outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    pub route: &'static str,
    pub kind: &'static str,
    pub operation: &'static str,
    pub decision: &'static str,
}

/// Labels of one rule finding.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub kind: &'static str,
    pub rule: &'static str,
    pub decision: &'static str,
}

/// Labels of a request rejected before policy evaluation (HTTP 4xx).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BadRequestLabels {
    pub reason: &'static str,
}

/// Labels of the policy's exceptions by state (`active`, `expiring`, `expired`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExceptionLabels {
    pub state: &'static str,
}

/// Labels of a certificate reload attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub result: &'static str,
}

/// Labels of the policy in effect: the SHA-256 of its file (`sha256:<hex>`), one series at a
/// time (the previous digest's series is removed on a reload).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub digest: String,
}

/// Labels of one watched resource of the live cluster view.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub resource: &'static str,
}

/// Labels of the in-cluster audit's Secret inventory: a class (or `unclassified`) and a bounded
/// producer category (`eso`, `decrypter`, `operator`, `kubernetes`, `stamped`, `gitops`,
/// `inferred`, `unknown`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InventoryLabels {
    pub class: &'static str,
    pub producer: &'static str,
}

/// Labels of the in-cluster audit's violations: a rule id.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuditRuleLabels {
    pub rule: &'static str,
}

/// Labels of the webhook configuration check: `mutating` or `validating`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConfigurationLabels {
    pub configuration: &'static str,
}

/// A gauge holding a float (a ratio, a timestamp, seconds).
pub type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Every metric the webhook exports, registered once at startup.
pub struct Metrics {
    registry: Registry,
    pub reviews: Family<ReviewLabels, Counter>,
    pub rules: Family<RuleLabels, Counter>,
    pub bad_requests: Family<BadRequestLabels, Counter>,
    pub break_glass: Counter,
    /// The policy's exceptions by state, set from the clock when `/metrics` is scraped.
    pub exceptions: Family<ExceptionLabels, Gauge>,
    pub duration: Family<ReviewLabels, Histogram>,
    pub tls_reloads: Family<ReloadLabels, Counter>,
    /// Policy file reloads, `result` `success` or `error`.
    pub policy_reloads: Family<ReloadLabels, Counter>,
    /// 1 for the digest of the policy reviews are judged with.
    pub policy_info: Family<PolicyLabels, Gauge>,
    /// Objects held per watched resource.
    pub context_objects: Family<ResourceLabels, Gauge>,
    /// 1 once the resource's first list is applied.
    pub context_synced: Family<ResourceLabels, Gauge>,
    /// Full relists applied (the first sync included).
    pub context_resyncs: Family<ResourceLabels, Counter>,
    /// Watch errors (each followed by a backoff and a retry).
    pub context_watch_errors: Family<ResourceLabels, Counter>,
    /// Unix time of the last event seen per resource: staleness is now minus this.
    pub context_last_event: Family<ResourceLabels, Gauge>,
    /// The in-cluster audit (`serve --audit-interval`): Secrets by class and producer.
    pub inventory_secrets: Family<InventoryLabels, Gauge>,
    /// Violations found by the last audit, per rule (excepted ones not counted).
    pub audit_violations: Family<AuditRuleLabels, Gauge>,
    /// Share of governed Secrets that trace to Vault or a declared producer (0 to 1).
    pub vault_coverage_ratio: FloatGauge,
    pub audit_last_run: FloatGauge,
    pub audit_duration: FloatGauge,
    /// 1 while the installed configuration's `matchConditions` differ from the ones the policy
    /// in effect generates (`server::webhook_drift`), 0 when they match or it is not installed.
    pub webhook_conditions_drift: Family<ConfigurationLabels, Gauge>,
    /// 1 when the last read found the configuration and compared its webhooks, 0 when it is
    /// missing, has no webhooks or cannot be read (`server::webhook_drift`).
    pub webhook_conditions_checked: Family<ConfigurationLabels, Gauge>,
}

/// Sub-millisecond resolution: a review costs tens of microseconds; the apiserver's own
/// webhook histogram starts at 5 ms, which would hide everything we care about. The top buckets
/// reach the apiserver's `timeoutSeconds` (5 s), so a p99 between 1 s and the timeout (the
/// latency alert's 2.5 s threshold) can be computed rather than clamped to 1 s.
const BUCKETS: [f64; 16] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 1.0, 2.5, 5.0,
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("vaultgate");
        let reviews = Family::<ReviewLabels, Counter>::default();
        let rules = Family::<RuleLabels, Counter>::default();
        let bad_requests = Family::<BadRequestLabels, Counter>::default();
        let break_glass = Counter::default();
        let tls_reloads = Family::<ReloadLabels, Counter>::default();
        let duration = Family::<ReviewLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(BUCKETS.iter().copied())
        });
        registry.register(
            "admission_reviews",
            "Admission reviews answered, by route, kind, operation and decision",
            reviews.clone(),
        );
        registry.register(
            "rule_findings",
            "Rule violations found, by kind, rule id and decision (denied, warned, excepted, break-glass)",
            rules.clone(),
        );
        registry.register(
            "bad_requests",
            "Requests refused before evaluation (malformed review, wrong kind, too large)",
            bad_requests.clone(),
        );
        registry.register(
            "break_glass",
            "Admissions allowed through a break-glass annotation",
            break_glass.clone(),
        );
        let exceptions = Family::<ExceptionLabels, Gauge>::default();
        registry.register(
            "exceptions",
            "Policy exceptions by state: active, expiring (within 7 days) or expired (computed on scrape)",
            exceptions.clone(),
        );
        registry.register(
            "admission_duration_seconds",
            "Time spent decoding, evaluating and encoding one review",
            duration.clone(),
        );
        registry.register(
            "tls_reloads",
            "Serving certificate reload attempts, by result",
            tls_reloads.clone(),
        );
        let policy_reloads = Family::<ReloadLabels, Counter>::default();
        let policy_info = Family::<PolicyLabels, Gauge>::default();
        registry.register(
            "policy_reloads",
            "Policy file changes, by result: success (now in effect) or error (rejected; the last good policy keeps serving)",
            policy_reloads.clone(),
        );
        registry.register(
            "policy_info",
            "1 for the SHA-256 digest of the policy file reviews are judged with",
            policy_info.clone(),
        );
        let context_objects = Family::<ResourceLabels, Gauge>::default();
        let context_synced = Family::<ResourceLabels, Gauge>::default();
        let context_resyncs = Family::<ResourceLabels, Counter>::default();
        let context_watch_errors = Family::<ResourceLabels, Counter>::default();
        let context_last_event = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "context_objects",
            "Objects held by the live cluster view, per resource",
            context_objects.clone(),
        );
        registry.register(
            "context_synced",
            "1 once the resource's initial list is applied",
            context_synced.clone(),
        );
        registry.register(
            "context_resyncs",
            "Full relists applied to the live cluster view",
            context_resyncs.clone(),
        );
        registry.register(
            "context_watch_errors",
            "Watch errors (retried with backoff)",
            context_watch_errors.clone(),
        );
        registry.register(
            "context_last_event_timestamp_seconds",
            "Unix time of the last watch event per resource",
            context_last_event.clone(),
        );
        let inventory_secrets = Family::<InventoryLabels, Gauge>::default();
        let audit_violations = Family::<AuditRuleLabels, Gauge>::default();
        let vault_coverage_ratio = FloatGauge::default();
        let audit_last_run = FloatGauge::default();
        let audit_duration = FloatGauge::default();
        registry.register(
            "inventory_secrets",
            "Secrets seen by the last in-cluster audit, by class and producer category",
            inventory_secrets.clone(),
        );
        registry.register(
            "audit_violations",
            "Violations found by the last in-cluster audit, by rule (excepted ones not counted)",
            audit_violations.clone(),
        );
        registry.register(
            "vault_coverage_ratio",
            "Share of governed Secrets that trace to Vault or a declared producer, last audit",
            vault_coverage_ratio.clone(),
        );
        registry.register(
            "audit_last_run_timestamp_seconds",
            "Unix time the last in-cluster audit finished",
            audit_last_run.clone(),
        );
        registry.register(
            "audit_duration_seconds",
            "Time the last in-cluster audit took (judging and publishing)",
            audit_duration.clone(),
        );
        let webhook_conditions_drift = Family::<ConfigurationLabels, Gauge>::default();
        registry.register(
            "webhook_conditions_drift",
            "1 while the installed webhook configuration's matchConditions differ from the ones the policy in effect generates (vaultgate manifests)",
            webhook_conditions_drift.clone(),
        );
        let webhook_conditions_checked = Family::<ConfigurationLabels, Gauge>::default();
        registry.register(
            "webhook_conditions_checked",
            "1 when the last read found the webhook configuration and compared its matchConditions with the policy, 0 when it is missing, has no webhooks or cannot be read",
            webhook_conditions_checked.clone(),
        );
        Self {
            registry,
            webhook_conditions_drift,
            webhook_conditions_checked,
            inventory_secrets,
            audit_violations,
            vault_coverage_ratio,
            audit_last_run,
            audit_duration,
            reviews,
            rules,
            bad_requests,
            break_glass,
            exceptions,
            duration,
            tls_reloads,
            policy_reloads,
            policy_info,
            context_objects,
            context_synced,
            context_resyncs,
            context_watch_errors,
            context_last_event,
        }
    }

    /// Records `digest` as the policy in effect, replacing the previous one's series.
    pub fn set_policy(&self, previous: Option<&str>, digest: &str) {
        if let Some(previous) = previous.filter(|p| *p != digest) {
            self.policy_info.remove(&PolicyLabels {
                digest: previous.to_owned(),
            });
        }
        self.policy_info
            .get_or_create(&PolicyLabels {
                digest: digest.to_owned(),
            })
            .set(1);
    }

    /// Renders the OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
