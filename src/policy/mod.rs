//! Pure decision logic shared by the webhook, `vaultgate check` and the handover controller.
//!
//! Input: a typed [`Review`] (operation, identity, object, old object), the [`Policy`], a
//! [`ClusterView`](view::ClusterView) of what the cluster already holds, and the time.
//! Output: a [`Decision`] — a value, never an error: every violated rule with its message and
//! fix, already sorted most fundamental first, plus the provenance class and the desired
//! metadata for the mutating webhook. Nothing here does I/O or reads a clock.

pub mod classify;
pub mod config;
mod crossplane;
pub mod duration;
mod eso;
mod eso_common;
pub mod exception;
mod field;
mod fix;
pub mod handover;
pub mod identity;
pub mod meta;
pub mod mutate;
pub mod objects;
pub mod paths;
mod push;
pub mod rbac;
pub mod rules;
mod secret;
mod store;
mod template;
pub mod vault_material;
pub mod view;
pub mod workload;

use std::{fmt, time::SystemTime};

use serde::{Deserialize, Serialize};

pub use classify::{Class, Provenance};
pub use config::{Policy, PolicyError};
pub use identity::Identity;
pub use objects::Object;
pub use rules::Rule;
pub(crate) use secret::HANDOVER_OWNED;
pub(crate) use secret::is_copy_marker;

use crate::policy::view::ClusterView;

/// How strictly a rule is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Off,
    Warn,
    Enforce,
}

/// The admission operation being reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
        }
    }
}

/// One request to decide on: the object (and the stored one on UPDATE) as typed values.
#[derive(Debug, Clone, Copy)]
pub struct Review<'a> {
    pub uid: &'a str,
    pub operation: Operation,
    /// Namespace of the request (None for cluster-scoped objects).
    pub namespace: Option<&'a str>,
    /// Name from the request, or `metadata.name`/`generateName` of the object.
    pub name: &'a str,
    pub user: &'a Identity,
    pub object: &'a Object,
    pub old: Option<&'a Object>,
    pub dry_run: bool,
    /// When the review is judged: the edge reads the clock (the webhook per request, `check`
    /// once per run) and tests inject it. Policy exceptions end by it (`policy::exception`).
    pub now: SystemTime,
}

/// One violated rule, written for the developer who ran `kubectl apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static Rule,
    /// What was wrong, quoting the offending value (one sentence).
    pub what: String,
    /// The fix, possibly a multi-line ready-to-paste snippet.
    pub fix: String,
    /// The field the violation is about, in kubectl's dotted form with indices
    /// (`spec.data[0].remoteRef.key`, `metadata.labels["app"]`): the first offending one when
    /// several are. None when it is about the whole object, e.g. who wrote it.
    pub field: Option<String>,
}

impl Violation {
    pub fn new(rule: &'static Rule, what: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            rule,
            what: what.into(),
            fix: fix.into(),
            field: None,
        }
    }

    /// Points the violation at `field`, a path as [`Violation::field`] describes.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// [`Violation::at`] when there is a field.
    pub(crate) fn at_opt(mut self, field: Option<String>) -> Self {
        self.field = field;
        self
    }

    /// One line for a kubectl `Warning:` (kept short: the apiserver truncates long warnings).
    pub fn warning(&self) -> String {
        format!(
            "[{} {}] {} ({})",
            self.rule.id, self.rule.slug, self.what, self.rule.rfc
        )
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{} {}] {}\n  Why: {} ({}).",
            self.rule.id, self.rule.slug, self.what, self.rule.why, self.rule.rfc
        )?;
        if !self.fix.is_empty() {
            write!(f, "\n  Fix: {}", self.fix)?;
        }
        Ok(())
    }
}

/// The verdict on one review.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Violations of rules in enforce mode: non-empty means denied.
    pub denied: Vec<Violation>,
    /// Violations of rules in warn mode, or excepted (by a policy exception or break-glass):
    /// allowed with warnings.
    pub warned: Vec<Violation>,
    /// The rules the review was excepted from, once per rule: by which exception (or
    /// break-glass), its ticket and expiry. Their violations are in `warned`.
    pub excepted: Vec<exception::Excepted>,
    /// Exceptions that cover the object and name a violated rule but have expired: the rule
    /// applied. For the denial's note and the webhook's log line.
    pub lapsed: Vec<exception::Excepted>,
    /// Provenance class of a Secret, when one was computed.
    pub class: Option<Class>,
    /// The break-glass ticket when one was honoured.
    pub break_glass: Option<String>,
    /// Why a break-glass annotation by an allowed writer was not honoured (the write was denied).
    pub break_glass_refused: Option<&'static str>,
    /// Why nothing was evaluated (exempt namespace or identity), for the audit trail.
    pub exempt: Option<Exemption>,
    /// Objects rules needed and a view without a cluster did not hold (a PushSecret's source,
    /// a store): those rules were not judged. Always empty against a live view.
    pub missing: Vec<view::Missing>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.denied.is_empty()
    }

    /// Whether every rule could be judged (nothing [`missing`](Self::missing)).
    pub fn evaluated(&self) -> bool {
        self.missing.is_empty()
    }

    /// The denial message a developer reads: every violated rule, most fundamental first.
    pub fn message(&self, kind: &str, namespace: Option<&str>, name: &str) -> String {
        let target = match namespace {
            Some(ns) => format!("{kind} {ns}/{name}"),
            None => format!("{kind} {name}"),
        };
        let n = self.denied.len();
        let mut out = format!(
            "vaultgate denied {target}: {n} violation{} of RFC-SECOPS-0001 (fix all in one go):",
            if n == 1 { "" } else { "s" }
        );
        for v in &self.denied {
            out.push('\n');
            out.push_str(&v.to_string());
        }
        if let Some(why) = self.break_glass_refused {
            out.push_str(&format!(
                "\nNote: the break-glass annotation was not honoured: {why}."
            ));
        }
        for e in &self.lapsed {
            out.push_str(&format!(
                "\nNote: exception {} ({}) for {} expired at {}; the rule applies again.",
                e.exception,
                e.ticket,
                e.rule,
                e.expires.as_deref().unwrap_or("?")
            ));
        }
        out
    }

    /// One kubectl `Warning:` line per warned violation; an excepted one names the exception,
    /// its ticket and expiry ([`exception::Excepted::warning`]).
    pub fn warnings(&self) -> Vec<String> {
        self.warned
            .iter()
            .map(|v| {
                match self
                    .excepted
                    .iter()
                    .find(|e| e.rule == v.rule.id && !e.is_break_glass())
                {
                    Some(e) => e.warning(v),
                    None => v.warning(),
                }
            })
            .collect()
    }

    /// Rule ids of every finding, denied first, comma-separated (audit annotation, log field).
    pub fn rule_ids(&self) -> String {
        let mut ids: Vec<&str> = self
            .denied
            .iter()
            .chain(&self.warned)
            .map(|v| v.rule.id)
            .collect();
        ids.dedup();
        ids.join(",")
    }
}

/// Facts about the object computed at the edge, where its values are in hand: keyed digests
/// of a Secret's values (never the values) for content-copy detection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    pub value_digests: Vec<String>,
    /// The request reached the validating webhook after the apiserver's mutating admission, with
    /// vaultgate's mutating webhook registered (`serve`'s validating route): a bootstrap Secret
    /// must carry the stamps it writes (VG112). `check` and the audit judge manifests and stored
    /// objects no mutating call has seen, so they leave it false.
    pub after_mutation: bool,
}

/// Why a review is not evaluated at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exemption {
    /// The namespace is on `namespaces.exempt`.
    Namespace,
    /// The writer is exempt (see [`identity::Writer::is_exempt`]).
    Identity,
}

impl Exemption {
    /// The audit annotation value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Namespace => "namespace",
            Self::Identity => "identity",
        }
    }
}

/// Why a review is not evaluated at all, if it is not. The one definition for the validating
/// and the mutating route.
pub fn exemption(
    review: &Review<'_>,
    writer: &identity::Writer<'_>,
    policy: &Policy,
) -> Option<Exemption> {
    if review
        .namespace
        .is_some_and(|ns| policy.namespaces.exempt.iter().any(|e| e == ns))
    {
        return Some(Exemption::Namespace);
    }
    writer.is_exempt().then_some(Exemption::Identity)
}

/// Evaluates one review against the policy. The single entry point for every caller.
pub fn evaluate(review: &Review<'_>, policy: &Policy, view: &dyn ClusterView) -> Decision {
    evaluate_with(review, policy, view, &Evidence::default())
}

/// [`evaluate`] with edge-computed evidence.
pub fn evaluate_with(
    review: &Review<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    evidence: &Evidence,
) -> Decision {
    let mut decision = Decision::default();
    if !matches!(review.operation, Operation::Create | Operation::Update) {
        return decision;
    }
    let writer = identity::Writer::of(review.user, policy);
    if let Some(why) = exemption(review, &writer, policy) {
        decision.exempt = Some(why);
        return decision;
    }

    // Without a live cluster, rules report what they needed and did not find.
    let recorder = view::Recorder::new(view);
    let view: &dyn ClusterView = if view.is_live() { view } else { &recorder };
    let mut found = Vec::new();
    match review.object {
        Object::Secret(secret) => {
            let provenance = classify::classify(secret, review, &writer, policy, view);
            decision.class = provenance.class;
            secret::check(
                review,
                &writer,
                &provenance,
                policy,
                view,
                evidence,
                &mut found,
            );
        }
        Object::ExternalSecret(es) => {
            eso::check_external_secret(es, review, &writer, policy, view, &mut found)
        }
        Object::ClusterExternalSecret(ces) => {
            eso::check_cluster_external_secret(ces, review, &writer, policy, view, &mut found)
        }
        Object::PushSecret(ps) => {
            push::check_push_secret(ps, review, &writer, policy, view, &mut found)
        }
        Object::ClusterPushSecret(cps) => {
            push::check_cluster_push_secret(cps, review, &writer, policy, view, &mut found)
        }
        Object::SecretStore(s) | Object::ClusterSecretStore(s) => {
            store::check_store(s, review, &writer, policy, &mut found)
        }
        Object::Role(r) | Object::ClusterRole(r) => {
            rbac::check_role(r, review, policy, view, &mut found)
        }
        Object::RoleBinding(b) | Object::ClusterRoleBinding(b) => {
            rbac::check_binding(b, review, policy, view, &mut found)
        }
        Object::Workload(_, w) => workload::check_workload(w, review, policy, view, &mut found),
        Object::VaultProviderConfig(pc) => {
            crossplane::check_provider_config(pc, review, &mut found)
        }
        Object::VaultKvSecret(kv) => {
            crossplane::check_kv_secret(kv, review, policy, view, &mut found)
        }
    }
    found.sort_by_key(|v| v.rule.order);
    found.dedup();
    decision.missing = recorder.into_missing();

    let (break_glass, break_glass_refused) = match identity::break_glass(review, &writer, policy) {
        Some(Ok(ticket)) => (Some(ticket), None),
        Some(Err(why)) => (None, Some(why)),
        None => (None, None),
    };
    let scoped = if found.is_empty() {
        Vec::new()
    } else {
        exception::in_scope(policy, review)
    };
    for v in found {
        let mode = rules::effective_mode(v.rule, review.namespace, policy);
        if mode == Mode::Off {
            continue;
        }
        match exception::find(&scoped, v.rule, review.now) {
            Some(exception::Found::Active(e)) => {
                note(&mut decision.excepted, e);
                decision.warned.push(v);
                continue;
            }
            Some(exception::Found::Lapsed(e)) => note(&mut decision.lapsed, e),
            None => {}
        }
        match (mode, &break_glass) {
            (Mode::Enforce, Some(ticket)) => {
                note(
                    &mut decision.excepted,
                    exception::Excepted::break_glass(v.rule, ticket),
                );
                decision.warned.push(v);
            }
            (Mode::Enforce, None) => decision.denied.push(v),
            _ => decision.warned.push(v),
        }
    }
    if decision.excepted.iter().any(|e| e.is_break_glass()) {
        decision.break_glass = break_glass;
    }
    if !decision.denied.is_empty() {
        decision.break_glass_refused = break_glass_refused;
    }
    decision
}

/// Records an exception once per rule.
fn note(list: &mut Vec<exception::Excepted>, e: exception::Excepted) {
    if !list.iter().any(|x| x.rule == e.rule) {
        list.push(e);
    }
}
