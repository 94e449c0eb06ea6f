//! Per-review metric handles, resolved once per label set. `Family::get_or_create` hashes the
//! labels (SipHash) and takes a read lock on every call, twice per review; the review label sets
//! are a small closed product (route × kind × operation × decision), so each one's counter and
//! histogram are looked up the first time it is seen and kept. The handles are the family's own
//! series (clones share the same atomics), so `/metrics` is unchanged.

use std::{sync::OnceLock, time::Duration};

use prometheus_client::metrics::{counter::Counter, histogram::Histogram};

use super::{Outcome, Route, log::Call};
use crate::{
    metrics::{Metrics, ReviewLabels},
    policy::{Operation, objects::Kind},
};

/// Every decision a review is counted under.
const DECISIONS: [Outcome; 4] = Outcome::ALL;
const ROUTES: usize = 2;
const KINDS: usize = Kind::ALL.len();
const OPERATIONS: usize = 4;

pub(super) struct Tally {
    slots: Box<[OnceLock<(Counter, Histogram)>]>,
}

impl Tally {
    pub fn new() -> Self {
        Self {
            slots: (0..ROUTES * KINDS * OPERATIONS * DECISIONS.len())
                .map(|_| OnceLock::new())
                .collect(),
        }
    }

    /// Counts one review and observes its duration.
    pub fn record(&self, metrics: &Metrics, call: Call, decision: Outcome, elapsed: Duration) {
        let labels = || ReviewLabels {
            route: call.route.as_str(),
            kind: call.kind.as_str(),
            operation: call.operation.as_str(),
            decision: decision.as_str(),
        };
        let seconds = elapsed.as_secs_f64();
        let Some(slot) = self.slots.get(slot(call, decision)) else {
            // Unreachable (the table has a slot for every call and outcome); correct, not cached.
            metrics.reviews.get_or_create(&labels()).inc();
            metrics.duration.get_or_create(&labels()).observe(seconds);
            return;
        };
        let (count, duration) = slot.get_or_init(|| {
            let labels = labels();
            (
                metrics.reviews.get_or_create(&labels).clone(),
                metrics.duration.get_or_create(&labels).clone(),
            )
        });
        count.inc();
        duration.observe(seconds);
    }
}

fn slot(call: Call, decision: Outcome) -> usize {
    let route = match call.route {
        Route::Validate => 0,
        Route::Mutate => 1,
    };
    let kind = match call.kind {
        Kind::Secret => 0,
        Kind::ExternalSecret => 1,
        Kind::ClusterExternalSecret => 2,
        Kind::PushSecret => 3,
        Kind::ClusterPushSecret => 4,
        Kind::SecretStore => 5,
        Kind::ClusterSecretStore => 6,
        Kind::Role => 7,
        Kind::ClusterRole => 8,
        Kind::RoleBinding => 9,
        Kind::ClusterRoleBinding => 10,
        Kind::Pod => 11,
        Kind::Deployment => 12,
        Kind::StatefulSet => 13,
        Kind::DaemonSet => 14,
        Kind::Job => 15,
        Kind::CronJob => 16,
        Kind::VaultProviderConfig => 17,
        Kind::VaultKvSecret => 18,
    };
    let operation = match call.operation {
        Operation::Create => 0,
        Operation::Update => 1,
        Operation::Delete => 2,
        Operation::Connect => 3,
    };
    let decision = match decision {
        Outcome::Allowed => 0,
        Outcome::Warned => 1,
        Outcome::Denied => 2,
        Outcome::Patched => 3,
    };
    ((route * KINDS + kind) * OPERATIONS + operation) * DECISIONS.len() + decision
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls() -> impl Iterator<Item = Call> {
        let operations = [
            Operation::Create,
            Operation::Update,
            Operation::Delete,
            Operation::Connect,
        ];
        [Route::Validate, Route::Mutate]
            .into_iter()
            .flat_map(move |route| {
                Kind::ALL.into_iter().flat_map(move |kind| {
                    operations.into_iter().map(move |operation| Call {
                        route,
                        kind,
                        operation,
                    })
                })
            })
    }

    #[test]
    fn every_label_set_has_its_own_slot() {
        let mut seen = std::collections::HashSet::new();
        for call in calls() {
            for decision in DECISIONS {
                let i = slot(call, decision);
                assert!(i < ROUTES * KINDS * OPERATIONS * DECISIONS.len());
                assert!(seen.insert(i), "two label sets share slot {i}");
            }
        }
        assert_eq!(seen.len(), ROUTES * KINDS * OPERATIONS * DECISIONS.len());
    }

    #[test]
    fn cached_handles_count_in_the_exported_family() {
        let metrics = Metrics::new();
        let tally = Tally::new();
        let call = calls().next().expect("a call");
        for _ in 0..3 {
            tally.record(&metrics, call, Outcome::Denied, Duration::from_micros(50));
        }
        tally.record(&metrics, call, Outcome::Warned, Duration::from_micros(50));
        let text = metrics.encode();
        assert!(
            text.contains(r#"vaultgate_admission_reviews_total{route="validate",kind="Secret",operation="CREATE",decision="denied"} 3"#),
            "{text}"
        );
        assert!(text.contains(r#"decision="warned"} 1"#), "{text}");
        assert!(
            text.contains(r#"vaultgate_admission_duration_seconds_count{route="validate",kind="Secret",operation="CREATE",decision="denied"} 3"#),
            "{text}"
        );
    }
}
