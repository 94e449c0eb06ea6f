//! The audit folded as a stream, for the in-cluster audit (`serve --audit-interval`) over a
//! view of any size: objects are judged one at a time ([`Judge`], the same engine as
//! [`super::audit`]), a namespace at a time, and only bounded sums survive an object: the
//! inventory and violation counts for the metrics ([`Totals`]) and the namespace's PolicyReport,
//! which lists at most its cap of results ([`Accumulator`]). Each namespace's report is handed
//! to the caller as soon as the namespace is done, so a pass holds one namespace's objects and
//! one report at a time, never a result per object of the whole cluster (tests/bench/README.md
//! §5 measures both ways).

use std::{collections::BTreeMap, sync::Arc};

use super::{
    Audited, Judge, Listed, exception_events::Matches, policy_report::Accumulator,
    policy_report::Built,
};
use crate::policy::view::ClusterView;

/// Where the streamed audit reads objects from, a namespace at a time.
pub trait Source {
    /// The namespaces holding objects to audit (any order; the fold sorts them).
    fn namespaces(&self) -> Vec<Arc<str>>;
    /// Calls `f` with each object of `namespace`, in a stable order (by kind, then name).
    fn each_in(&self, namespace: &str, f: &mut dyn FnMut(Listed));
}

/// Secrets of one inventory cell: a class (or `unclassified`) and a producer category.
pub type Cell = (&'static str, &'static str);

/// The bounded sums of a pass: what the metrics show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Secrets by class and producer category.
    pub inventory: BTreeMap<Cell, usize>,
    /// Violations by rule, excepted ones not counted.
    pub violations: BTreeMap<&'static str, usize>,
    pub secrets: usize,
    /// Secrets that trace to Vault or a declared producer (see [`super::summary`]).
    pub covered: usize,
    /// Objects judged, of every kind.
    pub objects: usize,
    /// What each policy exception covers, for its Events ([`super::exception_events`]).
    pub exception_matches: Matches,
}

impl Totals {
    pub fn add(&mut self, o: &Audited) {
        self.objects += 1;
        self.exception_matches.add(o);
        for f in &o.violations {
            if !o.excepted.iter().any(|e| e.rule == f.rule) {
                *self.violations.entry(f.rule).or_default() += 1;
            }
        }
        if o.kind != "Secret" {
            return;
        }
        let producer =
            super::policy_report::producer_category(o.producer.kind, o.producer.inferred);
        *self
            .inventory
            .entry((o.class.unwrap_or("unclassified"), producer))
            .or_default() += 1;
        self.secrets += 1;
        if o.class.is_some() && !o.producer.inferred {
            self.covered += 1;
        }
    }

    /// Covered Secrets over all of them; 1 without Secrets (nothing is uncovered).
    pub fn coverage_ratio(&self) -> f64 {
        if self.secrets == 0 {
            1.0
        } else {
            self.covered as f64 / self.secrets as f64
        }
    }

    pub fn violation_count(&self) -> usize {
        self.violations.values().sum()
    }
}

/// Judges every object of `source` with `judge` against `view`, namespace by namespace (sorted;
/// exempt ones skipped), and hands each namespace's report (at most `cap` results) to `emit`
/// when the namespace is done. `emit` returns false to stop the pass early (its consumer went
/// away); the totals then cover what was judged.
pub fn fold(
    source: &dyn Source,
    view: &dyn ClusterView,
    judge: &Judge<'_>,
    cap: usize,
    mut emit: impl FnMut(Built) -> bool,
) -> Totals {
    let mut totals = Totals::default();
    let mut namespaces = source.namespaces();
    namespaces.sort_unstable();
    for ns in namespaces {
        if judge.exempt(&ns) {
            continue;
        }
        let mut report = Accumulator::new(&ns, cap);
        source.each_in(&ns, &mut |listed| {
            let audited = judge.judge(&listed, view);
            totals.add(&audited);
            report.add(&audited);
        });
        if !emit(report.finish()) {
            break;
        }
    }
    totals
}
