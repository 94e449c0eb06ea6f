//! Which policy exceptions need a Kubernetes Event after an audit: one that is `expiring`
//! (within 7 days of its expiry) while it still covers objects, or `expired` while objects it
//! named still match (README "Exceptions"). Pure: the in-cluster audit publishes what [`due`]
//! returns (server::in_cluster_audit) and keeps the returned [`Sent`] for the next run, so each
//! exception gets one Event per state it enters, not one per audit or per request.
//!
//! An Event carries the exception's id, ticket, rule ids and expiry (all from the policy file)
//! and is about the objects it matches (their kind, namespace and name): never a value.

use std::collections::BTreeMap;

use super::{Audited, Report};
use crate::policy::exception::State;

/// Objects one Event is published on, at most: a wide exception must not flood the API.
pub const MAX_OBJECTS: usize = 10;

/// The state each exception was last reported in (its id or `exceptions[<i>]`).
pub type Sent = BTreeMap<String, State>;

/// An object an Event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regarding {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub name: String,
}

/// One exception to report, and the objects (at most [`MAX_OBJECTS`]) to report it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub exception: String,
    pub state: State,
    /// The Event's reason: `ExceptionExpiring` or `ExceptionExpired`.
    pub reason: &'static str,
    pub note: String,
    pub objects: Vec<Regarding>,
    /// How many objects it matches in all.
    pub matched: usize,
}

fn regarding(o: &Audited) -> Regarding {
    Regarding {
        api_version: super::policy_report::api_version(o.kind),
        kind: o.kind,
        namespace: o.namespace.clone(),
        name: o.name.clone(),
    }
}

/// The Events `report` calls for, given what was `sent` before, and what has been sent after
/// them. An exception back to `active` (renewed) or gone from the policy is forgotten, so it
/// is reported again if it nears its expiry again.
pub fn due(report: &Report, sent: &Sent) -> (Vec<Due>, Sent) {
    let mut out = Vec::new();
    let mut next = Sent::new();
    for e in &report.exceptions {
        let Some(state) = State::ALL.iter().copied().find(|s| s.as_str() == e.state) else {
            continue;
        };
        let matched: Vec<&Audited> = report
            .objects
            .iter()
            .filter(|o| {
                let list = match state {
                    State::Expired => &o.lapsed,
                    _ => &o.excepted,
                };
                list.iter().any(|x| x.exception == e.exception)
            })
            .collect();
        if state == State::Active || matched.is_empty() {
            continue;
        }
        next.insert(e.exception.clone(), state);
        if sent.get(&e.exception) == Some(&state) {
            continue;
        }
        let (reason, what) = match state {
            State::Expired => ("ExceptionExpired", "expired at"),
            _ => ("ExceptionExpiring", "expires at"),
        };
        out.push(Due {
            exception: e.exception.clone(),
            state,
            reason,
            note: format!(
                "policy exception {} (ticket {}) for {} {what} {} and matches {} object{}: fix the object or renew the exception with a reviewed commit to the policy",
                e.exception,
                e.ticket,
                e.rules.join(","),
                e.expires,
                matched.len(),
                if matched.len() == 1 { "" } else { "s" },
            ),
            objects: matched.iter().take(MAX_OBJECTS).map(|o| regarding(o)).collect(),
            matched: matched.len(),
        });
    }
    (out, next)
}
