//! The cluster audit (`vaultgate audit`): every existing Secret, ExternalSecret, PushSecret and
//! store judged by the webhook's engine ([`policy::evaluate`]) as if its producer wrote it now,
//! then summed up per namespace (classes, producers, Vault coverage, bootstrap handovers,
//! violations by rule).
//!
//! Pure: the objects come in as listed, cross-object lookups go to a [`ClusterView`] of the same
//! listing, so nothing here calls the API. Secrets are listed as metadata only: their values
//! are never read, so the rules that read value keys (VG111 by key name, configuration-only
//! Secrets) see none. Who the producer is: [`producer`].

pub mod exception_events;
pub mod policy_report;
mod producer;
pub mod stream;
mod summary;
#[cfg(test)]
mod tests;

use serde::Serialize;

pub use producer::{Producer, ProducerKind};
pub use summary::{Bootstrap, NamespaceSummary, RuleGroup, ready_snippet};

use crate::policy::{
    self, Mode, Operation, Policy, Review, Violation,
    classify::Class,
    exception::{Excepted, State, state_at},
    objects::{Object, SecretObject},
    view::{ClusterView, Recorder},
};
use std::time::SystemTime;

/// One `metadata.managedFields` entry, reduced to who and how (never the fields it owns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldManager {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// Written through a subresource (`status`, `scale`): a controller reporting, not the writer.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub subresource: bool,
}

/// An object as listed from the cluster.
#[derive(Debug, Clone)]
pub struct Listed {
    pub object: Object,
    pub managers: Vec<FieldManager>,
}

/// One violation, as the report carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub slug: &'static str,
    /// `enforce` or `warn`: what the webhook would do with this write today.
    pub mode: Mode,
    pub message: String,
    pub fix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Finding {
    fn of(v: &Violation, mode: Mode) -> Self {
        Self {
            rule: v.rule.id,
            slug: v.rule.slug,
            mode,
            message: v.what.clone(),
            fix: v.fix.clone(),
            field: v.field.clone(),
        }
    }
}

/// Where a bootstrap Secret's handover stands (the `handover-state` label; absent is pending).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handover {
    pub state: String,
    /// The declared Vault path (`handover-to`), if any.
    pub target: Option<String>,
}

/// One object's result.
#[derive(Debug, Clone, Serialize)]
pub struct Audited {
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub name: String,
    /// The provenance class the engine gives it (Secrets only); `None` is unclassified.
    pub class: Option<&'static str>,
    pub producer: Producer,
    pub violations: Vec<Finding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handover: Option<Handover>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub managers: Vec<FieldManager>,
    /// The rules a policy exception covers for it (their findings are among `violations`, as
    /// `warn`): by which exception, its ticket, reason and expiry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excepted: Vec<Excepted>,
    /// Exceptions that would cover a finding on it but have expired: the finding is reported.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lapsed: Vec<Excepted>,
    /// The ticket of a break-glass annotation the stored object carries. Claimed, not proven:
    /// the audit cannot know who wrote the object, so it never honours break-glass (its
    /// findings are reported as they are); who used it is in the apiserver audit log (the
    /// admission's `break-glass` audit annotation), README "Break-glass".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<String>,
}

impl Audited {
    /// `Kind/name`, as the summaries name an object.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// `namespace/Kind/name` (`-` for a cluster-scoped object).
    pub fn path(&self) -> String {
        format!(
            "{}/{}",
            self.namespace.as_deref().unwrap_or("-"),
            self.reference()
        )
    }
}

/// The whole audit.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub objects: Vec<Audited>,
    pub namespaces: Vec<NamespaceSummary>,
    /// Exempt namespaces whose objects were not judged, with how many there were.
    pub exempt: Vec<(String, usize)>,
    /// Namespaces below `enforce` with no violation: ready to enforce.
    pub ready: Vec<String>,
    /// Every exception of the policy, with its state at the audit's time and what it covers.
    pub exceptions: Vec<ExceptionCoverage>,
}

/// The ticket a stored object's break-glass annotation names (`<ticket>: <reason>`), or
/// `(malformed)` when it is not a plain ticket name: it is reported, never honoured.
fn claimed_break_glass(object: &Object, policy: &Policy) -> Option<String> {
    let value = object
        .metadata()
        .annotations
        .as_ref()?
        .get(&*policy.reserved_key("break-glass"))?;
    let ticket = value
        .split_once(':')
        .map_or(value.as_str(), |(t, _)| t)
        .trim();
    Some(if crate::policy::exception::is_token(ticket) {
        ticket.to_owned()
    } else {
        "(malformed)".to_owned()
    })
}

/// A policy exception as the audit sees it: where it stands and which objects it excepts now.
#[derive(Debug, Clone, Serialize)]
pub struct ExceptionCoverage {
    pub exception: String,
    pub rules: Vec<String>,
    pub ticket: String,
    pub reason: String,
    pub expires: String,
    /// `active`, `expiring` (within 7 days) or `expired`.
    pub state: &'static str,
    /// `namespace/Kind/name` of each object one of its rules is excepted on.
    pub covers: Vec<String>,
    /// `namespace/Kind/name` of each object it would cover had it not expired: still matching
    /// objects, whose findings are reported again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expired: Vec<String>,
}

fn exception_coverage(
    policy: &Policy,
    objects: &[Audited],
    now: SystemTime,
) -> Vec<ExceptionCoverage> {
    policy
        .exceptions
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let label = e.label(i);
            let expired = objects
                .iter()
                .filter(|o| o.lapsed.iter().any(|x| x.exception == label))
                .map(Audited::path)
                .collect();
            let covers = objects
                .iter()
                .filter(|o| o.excepted.iter().any(|x| x.exception == label))
                .map(Audited::path)
                .collect();
            ExceptionCoverage {
                state: e
                    .expires_at()
                    .map_or(State::Active, |t| state_at(t, now))
                    .as_str(),
                exception: label,
                rules: e.rules.clone(),
                ticket: e.ticket.clone(),
                reason: e.reason.clone(),
                expires: e.expires.clone(),
                covers,
                expired,
            }
        })
        .collect()
}

impl Report {
    pub fn violations(&self) -> usize {
        self.objects.iter().map(|o| o.violations.len()).sum()
    }
}

/// The policy the audit judges with: a namespace (or the cluster) in `off` is judged as `warn`,
/// so a rollout sees what enforcing would meet; a rule set to `off` stays off.
fn audit_policy(policy: &Policy) -> Policy {
    let mut p = policy.clone();
    let raise = |m: &mut Mode| {
        if *m == Mode::Off {
            *m = Mode::Warn
        }
    };
    raise(&mut p.mode);
    p.namespaces.modes.values_mut().for_each(raise);
    // Break-glass is honoured for an authenticated writer at admission only: a stored object's
    // annotation and stamps are not proof of who wrote it (README "Break-glass").
    p.identities.break_glass.clear();
    p
}

/// Judges existing objects one at a time: the audit's policy (see [`audit_policy`]), its exempt
/// namespaces and its time, set once per pass. Both the full [`audit`] and the streamed fold
/// ([`stream`]) judge through it, so they cannot differ.
pub struct Judge<'p> {
    judged: Policy,
    policy: &'p Policy,
    now: SystemTime,
}

impl<'p> Judge<'p> {
    pub fn new(policy: &'p Policy, now: SystemTime) -> Self {
        Self {
            judged: audit_policy(policy),
            policy,
            now,
        }
    }

    /// The policy as configured (modes before the audit raises `off` to `warn`).
    pub fn policy(&self) -> &Policy {
        self.policy
    }

    /// Objects of an exempt namespace are counted, not judged.
    pub fn exempt(&self, namespace: &str) -> bool {
        self.policy.namespaces.exempt.iter().any(|e| e == namespace)
    }

    /// One object's result, judged against `view` (which holds the same listing).
    pub fn judge(&self, listed: &Listed, view: &dyn ClusterView) -> Audited {
        audit_one(listed, &self.judged, view, self.now)
    }
}

/// Audits every listed object against `policy` at `now` (exceptions that have expired by then
/// no longer cover anything), with `view` holding the same listing.
pub fn audit(
    objects: &[Listed],
    policy: &Policy,
    view: &dyn ClusterView,
    now: SystemTime,
) -> Report {
    let judge = Judge::new(policy, now);
    let mut exempt = std::collections::BTreeMap::<String, usize>::new();
    let mut out = Vec::new();
    for listed in objects {
        let ns = listed.object.metadata().namespace.as_deref();
        if let Some(ns) = ns.filter(|ns| judge.exempt(ns)) {
            *exempt.entry(ns.to_owned()).or_default() += 1;
            continue;
        }
        out.push(judge.judge(listed, view));
    }
    out.sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
    let namespaces = summary::namespaces(&out, policy);
    let ready = namespaces
        .iter()
        .filter(|n| n.ready)
        .map(|n| n.namespace.clone())
        .collect();
    Report {
        exceptions: exception_coverage(policy, &out, now),
        objects: out,
        namespaces,
        exempt: exempt.into_iter().collect(),
        ready,
    }
}

fn audit_one(listed: &Listed, policy: &Policy, view: &dyn ClusterView, now: SystemTime) -> Audited {
    let object = &listed.object;
    let ns = object.metadata().namespace.as_deref();
    let name = object.name();
    let (producer, subject, handover) = match object {
        Object::Secret(secret) => {
            let ns = ns.unwrap_or("");
            let producer = producer::of_secret(secret, ns, &listed.managers, policy, view);
            let handover = handover(secret, policy);
            (
                producer,
                Object::Secret(as_produced(secret, policy)),
                handover,
            )
        }
        _ => (
            producer::of_object(&listed.managers, policy),
            object.clone(),
            None,
        ),
    };
    // Judged against the view as it was before this object was written (a Secret must not
    // see itself).
    let before = Recorder::new(view);
    let before = match object {
        Object::Secret(_) => before.hiding(ns.unwrap_or(""), name),
        _ => before,
    };
    let review = Review {
        uid: "vaultgate-audit",
        operation: Operation::Create,
        namespace: ns,
        name,
        user: &producer.identity,
        object: &subject,
        old: None,
        dry_run: true,
        now,
    };
    let decision = policy::evaluate(&review, policy, &before);
    let violations = decision
        .denied
        .iter()
        .map(|v| Finding::of(v, Mode::Enforce))
        .chain(decision.warned.iter().map(|v| Finding::of(v, Mode::Warn)))
        .collect();
    let class = decision.class.map(Class::as_str);
    Audited {
        kind: object.kind().as_str(),
        namespace: ns.map(str::to_owned),
        name: name.to_owned(),
        class,
        handover: handover.filter(|_| class == Some("bootstrap")),
        producer,
        violations,
        managers: listed.managers.clone(),
        excepted: decision.excepted,
        lapsed: decision.lapsed,
        break_glass: claimed_break_glass(object, policy),
    }
}

/// The Secret as its producer wrote it: without the keys only the handover controller writes
/// afterwards (its state is reported as [`Handover`], not judged as part of the write).
fn as_produced(secret: &SecretObject, policy: &Policy) -> SecretObject {
    let mut s = secret.clone();
    for name in policy::HANDOVER_OWNED {
        let key = policy.reserved_key(name);
        for map in [&mut s.metadata.labels, &mut s.metadata.annotations] {
            if let Some(m) = map.as_mut() {
                m.remove(&*key);
            }
        }
    }
    s
}

fn handover(secret: &SecretObject, policy: &Policy) -> Option<Handover> {
    Some(Handover {
        state: secret
            .label(&policy.reserved_key("handover-state"))
            .unwrap_or("pending")
            .to_owned(),
        target: secret
            .annotation(&policy.reserved_key("handover-to"))
            .map(str::to_owned),
    })
}
