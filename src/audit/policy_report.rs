//! An audit as PolicyReports (`wgpolicyk8s.io/v1alpha2`): one `PolicyReport` named `vaultgate`
//! per audited namespace, one `ClusterPolicyReport` for cluster-scoped objects. Pure: the
//! in-cluster audit (`serve --audit-interval`) builds these and writes one only when its
//! [`content_digest`] changed.
//!
//! Results are the violations only: `fail` (the rule enforces), `warn`, and `skip` for a rule a
//! policy exception covers (its id, ticket, reason and expiry in `properties`; the finding it
//! covers is not repeated as `warn`). Allowed objects get no result. No timestamp is written,
//! so an unchanged audit yields an identical report. A report lists at most `cap` results; the
//! `summary` counts all of them and two annotations state the cap and how many were left out.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Audited, Finding, ProducerKind, Report};
use crate::policy::{Mode, exception::Excepted, rules::Rule};

pub const GROUP: &str = "wgpolicyk8s.io";
pub const VERSION: &str = "v1alpha2";
/// The name of every report vaultgate writes.
pub const NAME: &str = "vaultgate";
/// Results listed per report by default.
pub const DEFAULT_CAP: usize = 500;
/// Annotations stating the cap and how many results it left out.
pub const CAP_ANNOTATION: &str = "vaultgate.io/results-cap";
pub const OMITTED_ANNOTATION: &str = "vaultgate.io/results-omitted";

/// A bounded producer category, for metrics and report properties.
pub fn producer_category(kind: ProducerKind, inferred: bool) -> &'static str {
    match kind {
        ProducerKind::Eso => "eso",
        ProducerKind::Decrypter => "decrypter",
        ProducerKind::Operator => "operator",
        ProducerKind::Kubernetes => "kubernetes",
        ProducerKind::Stamped => "stamped",
        ProducerKind::Gitops => "gitops",
        ProducerKind::Manager if inferred => "inferred",
        ProducerKind::Manager | ProducerKind::Unknown => "unknown",
    }
}

pub(crate) fn api_version(kind: &str) -> &'static str {
    match kind {
        "Secret" => "v1",
        "PushSecret" | "ClusterPushSecret" => "external-secrets.io/v1alpha1",
        _ => "external-secrets.io/v1",
    }
}

fn category(rule: &str) -> String {
    match Rule::lookup(rule) {
        Some(r) => format!("RFC-SECOPS-0001 {}", r.rfc),
        None => "RFC-SECOPS-0001".to_owned(),
    }
}

fn resource(o: &Audited) -> Value {
    let mut r = json!({"apiVersion": api_version(o.kind), "kind": o.kind, "name": o.name});
    if let Some(ns) = &o.namespace {
        r["namespace"] = json!(ns);
    }
    r
}

fn properties(o: &Audited) -> Map<String, Value> {
    let mut p = Map::new();
    if let Some(class) = o.class {
        p.insert("class".into(), json!(class));
    }
    p.insert(
        "producer".into(),
        json!(producer_category(o.producer.kind, o.producer.inferred)),
    );
    p.insert("producerName".into(), json!(o.producer.name));
    p.insert("inferred".into(), json!(o.producer.inferred.to_string()));
    if let Some(ticket) = &o.break_glass {
        // Claimed by the stored object, never honoured by the audit (`Audited::break_glass`).
        p.insert("breakGlass".into(), json!(ticket));
    }
    p
}

fn result(o: &Audited, f: &Finding) -> Value {
    let (result, severity) = match f.mode {
        Mode::Enforce => ("fail", "high"),
        _ => ("warn", "medium"),
    };
    let mut props = properties(o);
    props.insert("slug".into(), json!(f.slug));
    if let Some(field) = &f.field {
        props.insert("field".into(), json!(field));
    }
    props.insert("fix".into(), json!(f.fix));
    json!({
        "policy": NAME, "rule": f.rule, "result": result, "severity": severity,
        "category": category(f.rule), "message": f.message, "source": NAME,
        "resources": [resource(o)], "properties": props,
    })
}

fn skipped(o: &Audited, e: &Excepted) -> Value {
    let mut props = properties(o);
    props.insert("exception".into(), json!(e.exception));
    props.insert("ticket".into(), json!(e.ticket));
    props.insert("reason".into(), json!(e.reason));
    if let Some(expires) = &e.expires {
        props.insert("expires".into(), json!(expires));
    }
    json!({
        "policy": NAME, "rule": e.rule, "result": "skip", "severity": "info",
        "category": category(e.rule),
        "message": format!("excepted by {} (ticket {}): {}", e.exception, e.ticket, e.reason),
        "source": NAME, "resources": [resource(o)], "properties": props,
    })
}

/// One report to write: its namespace (`None`: the ClusterPolicyReport) and the object.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub namespace: Option<String>,
    pub body: Value,
}

impl Built {
    pub fn kind(&self) -> &'static str {
        match self.namespace {
            Some(_) => "PolicyReport",
            None => "ClusterPolicyReport",
        }
    }
}

/// One report being filled, object by object: the `summary` counts every result, only the first
/// `cap` are kept. What the full audit ([`build`]) and the streamed one
/// ([`super::stream`]) both write through, so a report is the same either way.
#[derive(Debug)]
pub struct Accumulator {
    namespace: Option<String>,
    cap: usize,
    /// `fail`, `warn`, `skip` counted over all results.
    counts: [usize; 3],
    listed: Vec<Value>,
}

impl Accumulator {
    /// An empty report for `namespace` (`""`: the ClusterPolicyReport).
    pub fn new(namespace: &str, cap: usize) -> Self {
        Self {
            namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
            cap,
            counts: [0; 3],
            listed: Vec::new(),
        }
    }

    /// The namespace's key (`""`: the cluster report).
    pub fn key(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    fn push(&mut self, slot: usize, result: impl FnOnce() -> Value) {
        self.counts[slot] += 1;
        // Past the cap a result is counted, never built.
        if self.listed.len() < self.cap {
            self.listed.push(result());
        }
    }

    /// Adds one object's results: its violations (`fail`/`warn`) except those an exception
    /// covers, which come as `skip`.
    pub fn add(&mut self, o: &Audited) {
        for f in &o.violations {
            if !o.excepted.iter().any(|e| e.rule == f.rule) {
                let slot = if f.mode == Mode::Enforce { 0 } else { 1 };
                self.push(slot, || result(o, f));
            }
        }
        for e in &o.excepted {
            self.push(2, || skipped(o, e));
        }
    }

    pub fn finish(self) -> Built {
        let [fail, warn, skip] = self.counts;
        let summary = BTreeMap::from([
            ("pass", 0),
            ("fail", fail),
            ("warn", warn),
            ("error", 0),
            ("skip", skip),
        ]);
        let omitted = fail + warn + skip - self.listed.len();
        let mut metadata = json!({
            "name": NAME,
            "labels": {"app.kubernetes.io/managed-by": "vaultgate"},
            "annotations": {
                CAP_ANNOTATION: self.cap.to_string(),
                OMITTED_ANNOTATION: omitted.to_string(),
            },
        });
        if let Some(ns) = &self.namespace {
            metadata["namespace"] = json!(ns);
        }
        let body = json!({
            "apiVersion": format!("{GROUP}/{VERSION}"),
            "kind": if self.namespace.is_some() { "PolicyReport" } else { "ClusterPolicyReport" },
            "metadata": metadata,
            "summary": summary,
            "results": self.listed,
        });
        Built {
            namespace: self.namespace,
            body,
        }
    }
}

/// Every audited namespace's report (cluster-scoped objects: the ClusterPolicyReport), keyed by
/// namespace (`""` for the cluster one). A namespace with no violation gets an empty report.
pub fn build(audit: &Report, cap: usize) -> BTreeMap<String, Built> {
    let mut reports: BTreeMap<String, Accumulator> = audit
        .namespaces
        .iter()
        .map(|n| (n.namespace.clone(), Accumulator::new(&n.namespace, cap)))
        .collect();
    for o in &audit.objects {
        let ns = o.namespace.as_deref().unwrap_or_default();
        reports
            .entry(ns.to_owned())
            .or_insert_with(|| Accumulator::new(ns, cap))
            .add(o);
    }
    reports
        .into_iter()
        .map(|(ns, r)| (ns, r.finish()))
        .collect()
}

/// An empty report for `namespace`: what replaces one whose objects are all gone.
pub fn empty(namespace: &str, cap: usize) -> Built {
    Accumulator::new(namespace, cap).finish()
}

/// A digest of a report's content, to skip a write that would change nothing. The JSON is
/// streamed into the hasher, never built as a string: every pass digests every report.
pub fn content_digest(b: &Built) -> u64 {
    use std::hash::Hasher;
    struct Digest(std::collections::hash_map::DefaultHasher);
    impl std::io::Write for Digest {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.write(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut d = Digest(std::collections::hash_map::DefaultHasher::new());
    // Writing a `Value` into a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut d, &b.body);
    d.0.finish()
}
