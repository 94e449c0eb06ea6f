//! Per-namespace sums of an audit: Secrets by class and by producer, Vault coverage, bootstrap
//! Secrets and their handover state, violations grouped by rule, and whether the namespace is
//! ready to move to `enforce`.
//!
//! **Coverage** is the share of a governed namespace's Secrets that trace to Vault
//! (materialized by ESO) or to a declared producer (a decrypter, a registered operator,
//! Kubernetes): the ones the engine classifies. An unclassified Secret is not covered, and
//! neither is one only a field manager names.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Audited;
use crate::policy::{Mode, Policy};

/// A bootstrap Secret and its handover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bootstrap {
    pub name: String,
    pub state: String,
    pub target: Option<String>,
}

/// The objects that violate one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleGroup {
    pub slug: &'static str,
    /// `Kind/name` of each violating object.
    pub objects: Vec<String>,
}

/// One namespace (`""`: cluster-scoped objects).
#[derive(Debug, Clone, Serialize)]
pub struct NamespaceSummary {
    pub namespace: String,
    /// The namespace's configured mode (`namespaces.modes`, else the global mode).
    pub mode: Mode,
    pub secrets: usize,
    pub by_class: BTreeMap<String, usize>,
    pub by_producer: BTreeMap<String, usize>,
    /// Secrets that trace to Vault or a declared producer.
    pub covered: usize,
    /// Of those, materialized from Vault.
    pub materialized: usize,
    /// `covered / secrets` in percent; `None` without Secrets.
    pub coverage_percent: Option<f64>,
    pub bootstrap: Vec<Bootstrap>,
    pub violations: BTreeMap<&'static str, RuleGroup>,
    /// Below `enforce`, with no violation: can move to `enforce`.
    pub ready: bool,
}

/// Sums `objects` (sorted by namespace) per namespace.
pub fn namespaces(objects: &[Audited], policy: &Policy) -> Vec<NamespaceSummary> {
    let mut out: BTreeMap<String, NamespaceSummary> = BTreeMap::new();
    for o in objects {
        let ns = o.namespace.clone().unwrap_or_default();
        let s = out.entry(ns.clone()).or_insert_with(|| NamespaceSummary {
            mode: policy
                .namespaces
                .modes
                .get(&ns)
                .copied()
                .unwrap_or(policy.mode),
            namespace: ns,
            secrets: 0,
            by_class: BTreeMap::new(),
            by_producer: BTreeMap::new(),
            covered: 0,
            materialized: 0,
            coverage_percent: None,
            bootstrap: Vec::new(),
            violations: BTreeMap::new(),
            ready: false,
        });
        for v in &o.violations {
            s.violations
                .entry(v.rule)
                .or_insert_with(|| RuleGroup {
                    slug: v.slug,
                    objects: Vec::new(),
                })
                .objects
                .push(o.reference());
        }
        if o.kind != "Secret" {
            continue;
        }
        s.secrets += 1;
        *s.by_class
            .entry(o.class.unwrap_or("unclassified").to_owned())
            .or_default() += 1;
        *s.by_producer.entry(o.producer.label()).or_default() += 1;
        if o.class.is_some() && !o.producer.inferred {
            s.covered += 1;
        }
        if o.class == Some("materialized") {
            s.materialized += 1;
        }
        if let Some(h) = &o.handover {
            s.bootstrap.push(Bootstrap {
                name: o.name.clone(),
                state: h.state.clone(),
                target: h.target.clone(),
            });
        }
    }
    out.into_values()
        .map(|mut s| {
            s.coverage_percent =
                (s.secrets > 0).then(|| 100.0 * s.covered as f64 / s.secrets as f64);
            for g in s.violations.values_mut() {
                g.objects.dedup();
            }
            s.ready = !s.namespace.is_empty() && s.mode < Mode::Enforce && s.violations.is_empty();
            s
        })
        .collect()
}

/// The `namespaces.modes` entries that move `ready` namespaces to `enforce`, as policy YAML.
pub fn ready_snippet(ready: &[String]) -> String {
    if ready.is_empty() {
        return "# no namespace below enforce is free of violations yet\n".to_owned();
    }
    let mut y = String::from("namespaces:\n  modes:\n");
    for ns in ready {
        y.push_str(&format!("    {ns}: enforce\n"));
    }
    y
}
