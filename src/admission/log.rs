//! The review log line: one event per review carrying every field, at a level chosen by the
//! outcome. Nothing from the object's values is ever a field.

use super::{Route, review::RequestIn};
use crate::policy::{Identity, Operation, objects::Kind};

/// What is being reviewed: the endpoint, the kind and the operation.
#[derive(Clone, Copy)]
pub(super) struct Call {
    pub route: Route,
    pub kind: Kind,
    pub operation: Operation,
}

/// What one review's log line says beyond the request itself, filled in as the review is decided.
#[derive(Default)]
pub(super) struct Trace {
    pub name: String,
    pub rules: String,
    pub class: &'static str,
}

impl Trace {
    /// One line per review, with every field at once. Denials, warnings and patches are logged at
    /// info: an operator acts on them. Plain allows — nearly every write in a steady cluster, e.g.
    /// ESO refreshing its Secrets — are logged at debug; the apiserver's audit log already records
    /// them with vaultgate's audit annotations, and `vaultgate_admission_reviews_total` counts them.
    /// Emitting one event (rather than a span whose fields are recorded late) keeps the cost of a
    /// disabled level to a cached callsite check.
    pub fn log(
        &self,
        Call {
            route,
            kind,
            operation,
        }: Call,
        req: &RequestIn<'_>,
        user: &Identity,
        decision: super::Outcome,
        elapsed: std::time::Duration,
    ) {
        macro_rules! review_event {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    route = route.as_str(),
                    uid = %req.uid,
                    kind = kind.as_str(),
                    namespace = req.namespace.as_deref().unwrap_or(""),
                    name = self.name.as_str(),
                    operation = operation.as_str(),
                    user = user.username.as_str(),
                    dry_run = req.dry_run.unwrap_or(false),
                    decision = decision.as_str(),
                    rules = self.rules.as_str(),
                    class = self.class,
                    duration_us = elapsed.as_micros() as u64,
                    "admission review"
                )
            };
        }
        if decision == super::Outcome::Allowed {
            review_event!(tracing::Level::DEBUG);
        } else {
            review_event!(tracing::Level::INFO);
        }
    }
}
