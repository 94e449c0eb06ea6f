//! What the webhook says about exceptions beyond the review's answer: a warning log line when
//! an exception that is expiring (within 7 days) or expired still matches an object, at most
//! once per exception and state per hour so a busy object does not flood the log; and the
//! `vaultgate_exceptions{state}` gauge, computed from the policy and the clock on each scrape
//! (no exception names in labels).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use crate::{
    metrics::{ExceptionLabels, Metrics},
    policy::{
        Decision, Policy, Review,
        exception::{self, State},
    },
};

/// How often one exception's log line may repeat.
const EVERY: Duration = Duration::from_secs(3600);

/// When each (exception, state) was last logged. Bounded by the policy's exceptions.
#[derive(Default)]
pub struct Notices {
    last: Mutex<HashMap<(String, State), Instant>>,
}

impl Notices {
    /// Logs the decision's expiring and expired exceptions, rate-limited.
    pub fn report(&self, review: &Review<'_>, decision: &Decision) {
        let expiring = decision
            .excepted
            .iter()
            .filter(|e| e.state(review.now) == State::Expiring);
        for e in expiring.chain(&decision.lapsed) {
            let state = e.state(review.now);
            if !self.due(&e.exception, state) {
                continue;
            }
            tracing::warn!(
                exception = %e.exception,
                ticket = %e.ticket,
                expires = e.expires.as_deref().unwrap_or(""),
                rule = e.rule,
                state = state.as_str(),
                namespace = review.namespace.unwrap_or(""),
                name = review.name,
                "a policy exception that {} still matches an object: fix the object or renew the exception with a reviewed commit (logged at most hourly per exception)",
                if state == State::Expired {
                    "has expired"
                } else {
                    "is about to expire"
                },
            );
        }
    }

    fn due(&self, exception: &str, state: State) -> bool {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match last.get(&(exception.to_owned(), state)) {
            Some(at) if now.duration_since(*at) < EVERY => false,
            _ => {
                last.insert((exception.to_owned(), state), now);
                true
            }
        }
    }
}

/// Sets `vaultgate_exceptions{state}` to the number of the policy's exceptions in each state.
pub fn set_gauges(metrics: &Metrics, policy: &Policy, now: SystemTime) {
    let mut counts = [0i64; 3];
    for e in &policy.exceptions {
        let state = e
            .expires_at()
            .map_or(State::Expired, |t| exception::state_at(t, now));
        counts[State::ALL.iter().position(|s| *s == state).unwrap_or(2)] += 1;
    }
    for (state, n) in State::ALL.iter().zip(counts) {
        metrics
            .exceptions
            .get_or_create(&ExceptionLabels {
                state: state.as_str(),
            })
            .set(n);
    }
}
