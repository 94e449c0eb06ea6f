//! Exceptions: planned, reviewed exemptions from named rules for the few objects a team cannot
//! fix yet, which end by themselves (README "Exceptions"). They are granted only in the policy
//! file, which GitOps owns, so granting one is a reviewed commit: nothing on the object (no
//! label, no annotation) grants or widens one, and the writer it exempts cannot give it itself.
//!
//! A matching exception turns *its* rules' findings on the object into warnings that name the
//! exception, its ticket and its expiry; every other rule still applies. From `expires` on, the
//! rule applies again with no restart, because the review carries the time
//! ([`Review::now`](super::Review::now)).
//!
//! Loading has two steps. [`Policy::from_yaml`] checks what does not depend on time (rules,
//! scope, reason, ticket, the expiry's form). [`Policy::check_exception_times`] judges the
//! expiries against the *load time*, which the caller reads at the edge: an exception may end at
//! most `exceptionMaxLifetime` after the policy is loaded. A file validated when it is committed
//! therefore stays valid at every later load (each later load is closer to the expiry), until
//! the exception has expired; an expired exception is an error for `vaultgate policy validate`
//! (the gate on the commit) and only a warning when the webhook or `check` loads the file, so
//! a restart after an expiry never stops the webhook.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{
    Policy, Review, Violation, duration::parse_go_duration, identity::UserPattern, rules::Rule,
};

/// `exceptionMaxLifetime` by default: 90 days.
pub const DEFAULT_MAX_LIFETIME: &str = "90d";

/// An exception this close to its expiry is reported as `expiring` (metric, log line).
pub const EXPIRING_WITHIN: Duration = Duration::from_secs(7 * 24 * 3600);

/// The `exception` of a break-glass write in [`Excepted`].
pub const BREAK_GLASS: &str = "break-glass";

/// One exception in the policy file (`exceptions:`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Exception {
    /// How warnings, `check` and the audit name it; `exceptions[<index>]` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Rule ids or slugs it excepts (`VG101`, `unmanaged-secret`).
    pub rules: Vec<String>,
    /// The one namespace it applies in. Required unless `clusterWide: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Applies in every namespace and to cluster-scoped objects (no `namespace`).
    #[serde(default)]
    pub cluster_wide: bool,
    /// The object's kind (`Secret`, `ExternalSecret`, …); any governed kind when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The object's name as a pattern: `*` matches any run of characters (`db-*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_pattern: Option<String>,
    /// Writers it applies to (identity patterns, as in `identities`); anyone when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserPattern>,
    /// Why the object cannot be fixed yet.
    pub reason: String,
    /// The ticket that tracks the fix (`ABC-123`).
    pub ticket: String,
    /// RFC 3339 time it ends at (`2027-01-31T00:00:00Z`).
    pub expires: String,
    /// What the fields above mean, worked out once when the policy is loaded
    /// ([`Policy::from_yaml`]) rather than on every review.
    #[serde(skip)]
    pub(crate) resolved: Resolved,
}

/// An exception's expiry and rule ids as parsed at load. Empty for an exception not loaded
/// through [`Policy::from_yaml`], which then excepts nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Resolved {
    expires_at: Option<SystemTime>,
    rules: Vec<&'static str>,
}

/// Where an exception stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Active,
    /// Active, and ending within [`EXPIRING_WITHIN`].
    Expiring,
    Expired,
}

impl State {
    pub const ALL: [State; 3] = [Self::Active, Self::Expiring, Self::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expiring => "expiring",
            Self::Expired => "expired",
        }
    }
}

/// A rule a review was excepted from (or, in `Decision::lapsed`, would have been, had the
/// exception not expired): which exception, its ticket and expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Excepted {
    /// The rule id (`VG101`).
    pub rule: &'static str,
    /// The exception's `id`, `exceptions[<index>]`, or `break-glass`.
    pub exception: String,
    pub ticket: String,
    pub reason: String,
    /// As written in the policy; none for break-glass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(skip)]
    pub expires_at: Option<SystemTime>,
}

impl Excepted {
    fn of(rule: &Rule, index: usize, e: &Exception) -> Self {
        Self {
            rule: rule.id,
            exception: e.label(index),
            ticket: e.ticket.clone(),
            reason: e.reason.clone(),
            expires: Some(e.expires.clone()),
            expires_at: e.expires_at(),
        }
    }

    /// A break-glass write: `ticket` is the annotation's `<ticket>: <reason>` value.
    pub fn break_glass(rule: &Rule, annotation: &str) -> Self {
        let ticket = annotation.split_once(':').map_or(annotation, |(t, _)| t);
        Self {
            rule: rule.id,
            exception: BREAK_GLASS.to_owned(),
            ticket: ticket.trim().to_owned(),
            reason: BREAK_GLASS.to_owned(),
            expires: None,
            expires_at: None,
        }
    }

    /// The kubectl `Warning:` line for a violation this exception excepted: the exception, its
    /// ticket and expiry first (the apiserver truncates long warnings).
    pub fn warning(&self, v: &Violation) -> String {
        format!(
            "[{} {}] excepted by {} until {} (exception {}): {} ({})",
            v.rule.id,
            v.rule.slug,
            self.ticket,
            self.expires.as_deref().unwrap_or("?"),
            self.exception,
            v.what,
            v.rule.rfc
        )
    }

    pub fn is_break_glass(&self) -> bool {
        self.expires.is_none()
    }

    /// Where the exception stands at `now` (break-glass is always active).
    pub fn state(&self, now: SystemTime) -> State {
        self.expires_at.map_or(State::Active, |t| state_at(t, now))
    }
}

/// The state of an exception ending at `expires`, at `now`.
pub fn state_at(expires: SystemTime, now: SystemTime) -> State {
    match expires.duration_since(now) {
        Ok(left) if left.is_zero() => State::Expired,
        Ok(left) if left <= EXPIRING_WITHIN => State::Expiring,
        Ok(_) => State::Active,
        Err(_) => State::Expired,
    }
}

/// Parses an RFC 3339 time (`2027-01-31T00:00:00Z`).
pub fn parse_time(text: &str) -> Option<SystemTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .ok()
        .map(SystemTime::from)
}

/// Parses `exceptionMaxLifetime`: whole days (`90d`) or a Go duration (`2160h`).
pub fn parse_lifetime(text: &str) -> Option<Duration> {
    let t = text.trim();
    let d = match t.strip_suffix('d') {
        Some(days) if !days.is_empty() && days.bytes().all(|b| b.is_ascii_digit()) => {
            Duration::from_secs(days.parse::<u64>().ok()?.checked_mul(24 * 3600)?)
        }
        _ => parse_go_duration(t)?,
    };
    (!d.is_zero()).then_some(d)
}

impl Exception {
    /// Its `id`, else `exceptions[<index>]`.
    pub fn label(&self, index: usize) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| format!("exceptions[{index}]"))
    }

    /// Its expiry, parsed when the policy was loaded.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.resolved.expires_at
    }

    /// Parses `expires` and resolves `rules` (ids or slugs) to rule ids, once, at load.
    pub(crate) fn resolve(&mut self) {
        self.resolved = Resolved {
            expires_at: parse_time(&self.expires),
            rules: self
                .rules
                .iter()
                .filter_map(|r| Rule::lookup(r).map(|found| found.id))
                .collect(),
        };
    }

    /// Whether its scope covers the review: namespace, kind, name and writer. Only the
    /// review's own coordinates and the authenticated writer count, never the object's labels
    /// or annotations.
    fn covers(&self, review: &Review<'_>) -> bool {
        let namespace = self.cluster_wide
            || self
                .namespace
                .as_deref()
                .is_some_and(|ns| review.namespace == Some(ns));
        namespace
            && self
                .kind
                .as_deref()
                .is_none_or(|k| k == review.object.kind().as_str())
            && self.name.as_deref().is_none_or(|n| n == review.name)
            && self
                .name_pattern
                .as_deref()
                .is_none_or(|p| glob(p, review.name))
            && (self.users.is_empty()
                || self.users.iter().any(|u| u.matches(&review.user.username)))
    }

    fn excepts(&self, rule: &Rule) -> bool {
        self.resolved.rules.contains(&rule.id)
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The exceptions whose scope covers the review, whatever their rules and expiry.
pub(crate) fn in_scope<'p>(policy: &'p Policy, review: &Review<'_>) -> Vec<(usize, &'p Exception)> {
    policy
        .exceptions
        .iter()
        .enumerate()
        .filter(|(_, e)| e.covers(review))
        .collect()
}

/// What the exceptions in scope say about one finding of `rule` at `now`.
pub(crate) enum Found {
    /// Excepted by an unexpired exception.
    Active(Excepted),
    /// Only expired exceptions name the rule: it applies, and the decision says which.
    Lapsed(Excepted),
}

pub(crate) fn find(scoped: &[(usize, &Exception)], rule: &Rule, now: SystemTime) -> Option<Found> {
    let mut lapsed = None;
    for (i, e) in scoped.iter().filter(|(_, e)| e.excepts(rule)) {
        // Parsed at load; an exception not loaded from a file (built in code) excepts nothing.
        let Some(expires) = e.expires_at() else {
            continue;
        };
        if state_at(expires, now) == State::Expired {
            lapsed.get_or_insert_with(|| Excepted::of(rule, *i, e));
        } else {
            return Some(Found::Active(Excepted::of(rule, *i, e)));
        }
    }
    lapsed.map(Found::Lapsed)
}

mod load;

pub(crate) use load::validate;
pub use load::{Expired, is_token};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_pattern_star_matches_any_run_of_characters() {
        assert!(glob("db-*", "db-main"));
        assert!(glob("db-*", "db-"));
        assert!(!glob("db-*", "cache-db-main"));
        assert!(glob("*-db", "orders-db"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(glob("db", "db"));
        assert!(!glob("db", "db2"));
        assert!(glob("*", "anything"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn lifetimes_are_days_or_go_durations() {
        assert_eq!(
            parse_lifetime("90d"),
            Some(Duration::from_secs(90 * 86_400))
        );
        assert_eq!(
            parse_lifetime("720h"),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(parse_lifetime("0d"), None);
        assert_eq!(parse_lifetime("d"), None);
        assert_eq!(parse_lifetime("1.5d"), None);
    }

    #[test]
    fn the_state_turns_expiring_seven_days_before_and_expired_at_the_expiry() {
        let t = parse_time("2027-01-31T00:00:00Z").unwrap();
        assert_eq!(
            state_at(t, t - EXPIRING_WITHIN - Duration::from_secs(1)),
            State::Active
        );
        assert_eq!(state_at(t, t - EXPIRING_WITHIN), State::Expiring);
        assert_eq!(state_at(t, t - Duration::from_secs(1)), State::Expiring);
        assert_eq!(state_at(t, t), State::Expired);
        assert_eq!(state_at(t, t + Duration::from_secs(1)), State::Expired);
    }
}
