//! Which policy exceptions need a Kubernetes Event after an audit: one that is `expiring`
//! (within 7 days of its expiry) while it still covers objects, or `expired` while objects it
//! named still match (README "Exceptions"). Pure: the in-cluster audit publishes what [`due`]
//! returns (server::in_cluster_audit), from the [`Matches`] its streamed pass
//! folded, and keeps the returned [`Sent`] for the next run, so each
//! exception gets one Event per state it enters, not one per audit or per request.
//!
//! An Event carries the exception's id, ticket, rule ids and expiry (all from the policy file)
//! and is about the objects it matches (their kind, namespace and name): never a value.

use std::{collections::BTreeMap, time::SystemTime};

use super::Audited;
use crate::policy::{
    Policy,
    exception::{State, state_at},
};

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

/// The objects each exception covers (`excepted`) or would cover had it not expired (`lapsed`),
/// folded object by object so a streamed audit holds no result per object: all are counted, at
/// most [`MAX_OBJECTS`] per exception are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matches {
    covered: BTreeMap<String, (usize, Vec<Regarding>)>,
    lapsed: BTreeMap<String, (usize, Vec<Regarding>)>,
}

impl Matches {
    /// The matches of every object of a full audit.
    pub fn of(objects: &[Audited]) -> Self {
        let mut m = Self::default();
        for o in objects {
            m.add(o);
        }
        m
    }

    pub fn add(&mut self, o: &Audited) {
        fn note(into: &mut BTreeMap<String, (usize, Vec<Regarding>)>, o: &Audited, ids: Vec<&str>) {
            for id in ids {
                let (count, kept) = into.entry(id.to_owned()).or_default();
                *count += 1;
                if kept.len() < MAX_OBJECTS {
                    kept.push(regarding(o));
                }
            }
        }
        // An object excepted on two rules by one exception is one object it matches.
        fn ids(list: &[crate::policy::exception::Excepted]) -> Vec<&str> {
            let mut ids: Vec<&str> = Vec::new();
            for x in list {
                if !ids.contains(&x.exception.as_str()) {
                    ids.push(x.exception.as_str());
                }
            }
            ids
        }
        note(&mut self.covered, o, ids(&o.excepted));
        note(&mut self.lapsed, o, ids(&o.lapsed));
    }
}

/// The Events the exceptions of `policy` call for at `now`, given the objects they match and
/// what was `sent` before, and what has been sent after them. An exception back to `active`
/// (renewed) or gone from the policy is forgotten, so it is reported again if it nears its
/// expiry again.
pub fn due(policy: &Policy, now: SystemTime, matches: &Matches, sent: &Sent) -> (Vec<Due>, Sent) {
    let mut out = Vec::new();
    let mut next = Sent::new();
    for (i, e) in policy.exceptions.iter().enumerate() {
        let label = e.label(i);
        let state = e.expires_at().map_or(State::Active, |t| state_at(t, now));
        let found = match state {
            State::Expired => matches.lapsed.get(&label),
            _ => matches.covered.get(&label),
        };
        let Some((matched, objects)) = found.filter(|(n, _)| *n > 0) else {
            continue;
        };
        if state == State::Active {
            continue;
        }
        next.insert(label.clone(), state);
        if sent.get(&label) == Some(&state) {
            continue;
        }
        let (reason, what) = match state {
            State::Expired => ("ExceptionExpired", "expired at"),
            _ => ("ExceptionExpiring", "expires at"),
        };
        out.push(Due {
            note: format!(
                "policy exception {label} (ticket {}) for {} {what} {} and matches {matched} object{}: fix the object or renew the exception with a reviewed commit to the policy",
                e.ticket,
                e.rules.join(","),
                e.expires,
                if *matched == 1 { "" } else { "s" },
            ),
            exception: label,
            state,
            reason,
            objects: objects.clone(),
            matched: *matched,
        });
    }
    (out, next)
}
