//! Loading exceptions: the checks that do not depend on time (with `Policy::from_yaml`), and the
//! expiries judged against the load time the caller passes (`Policy::check_exception_times`).
//! Every error names the field (`exceptions[<i>].<field>`).

use std::time::SystemTime;

use super::parse_lifetime;
use crate::policy::{Policy, PolicyError, objects::Kind, rules::Rule};

/// Checks of the exceptions that do not depend on time, with `Policy::from_yaml`.
pub(crate) fn validate(policy: &Policy) -> Result<(), PolicyError> {
    let field = |field: String, message: &str| PolicyError::Field {
        field,
        message: message.to_owned(),
    };
    parse_lifetime(&policy.exception_max_lifetime).ok_or_else(|| {
        field(
            "exceptionMaxLifetime".into(),
            "must be a positive number of days like 90d, or a duration like 720h",
        )
    })?;
    let mut ids = std::collections::BTreeSet::new();
    for (i, e) in policy.exceptions.iter().enumerate() {
        let at = |name: &str| format!("exceptions[{i}].{name}");
        if let Some(id) = &e.id
            && (!is_token(id) || !ids.insert(id.as_str()))
        {
            return Err(field(
                at("id"),
                "must be unique and a name like legacy-db (letters, digits and . _ / # : - only, at most 64): it is written into audit annotations, reports and Events",
            ));
        }
        if e.rules.is_empty() {
            return Err(field(at("rules"), "must name at least one rule"));
        }
        for (j, r) in e.rules.iter().enumerate() {
            if Rule::lookup(r).is_none() {
                return Err(field(
                    format!("exceptions[{i}].rules[{j}]"),
                    "unknown rule: use an id like VG101 or a slug like unmanaged-secret (see README)",
                ));
            }
        }
        match (&e.namespace, e.cluster_wide) {
            (None, false) => {
                return Err(field(
                    at("namespace"),
                    "an exception applies in one namespace: set namespace, or clusterWide: true for a wider scope",
                ));
            }
            (Some(_), true) => {
                return Err(field(
                    at("clusterWide"),
                    "clusterWide: true applies in every namespace; remove it or the namespace",
                ));
            }
            (Some(ns), false) if ns.trim().is_empty() || ns.contains('*') => {
                return Err(field(
                    at("namespace"),
                    "must be one namespace's name, not empty or a pattern (clusterWide: true is the wider scope)",
                ));
            }
            _ => {}
        }
        if let Some(kind) = &e.kind
            && !Kind::ALL.iter().any(|k| k.as_str() == kind)
        {
            return Err(field(
                at("kind"),
                "must be a kind vaultgate governs (Secret, ExternalSecret, PushSecret, SecretStore, …)",
            ));
        }
        if e.name.is_some() && e.name_pattern.is_some() {
            return Err(field(
                at("namePattern"),
                "set name or namePattern, not both",
            ));
        }
        if e.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(field(at("name"), "must not be empty"));
        }
        if e.name_pattern
            .as_deref()
            .is_some_and(|n| n.trim().is_empty())
        {
            return Err(field(at("namePattern"), "must not be empty"));
        }
        if e.reason.trim().is_empty() {
            return Err(field(
                at("reason"),
                "must say why the object cannot be fixed yet",
            ));
        }
        if !is_token(&e.ticket) {
            return Err(field(
                at("ticket"),
                "must name the ticket that tracks the fix, like PAY-123 (letters, digits and . _ / # : - only, at most 64)",
            ));
        }
        if super::parse_time(&e.expires).is_none() {
            return Err(field(
                at("expires"),
                "must be an RFC 3339 time like 2027-01-31T00:00:00Z",
            ));
        }
    }
    Ok(())
}

/// Whether `text` may name an exception or a ticket: it is written between the separators of
/// the `excepted` audit annotation (`VG101=<exception>(<ticket>),…`), into PolicyReports and
/// Events, so it must not be able to forge another entry (no `,` `=` `(` `)`, no spaces).
pub fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/#:-".contains(&b))
}

/// An exception found expired when the policy was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub field: String,
    pub exception: String,
    pub expires: String,
}

impl Policy {
    /// Judges the exceptions' expiries against `loaded_at` (read by the caller at the edge):
    /// an error names the first one ending more than `exceptionMaxLifetime` after it; the ones
    /// already expired are returned (an error for `policy validate`, a warning elsewhere).
    pub fn check_exception_times(
        &self,
        loaded_at: SystemTime,
    ) -> Result<Vec<Expired>, PolicyError> {
        let max = parse_lifetime(&self.exception_max_lifetime).unwrap_or_default();
        let mut expired = Vec::new();
        for (i, e) in self.exceptions.iter().enumerate() {
            let Some(expires) = e.expires_at() else {
                continue;
            };
            let field = format!("exceptions[{i}].expires");
            match expires.duration_since(loaded_at) {
                Ok(left) if left > max => {
                    return Err(PolicyError::Field {
                        field,
                        message: format!(
                            "{} is {} days after the policy was loaded; an exception may last at most exceptionMaxLifetime ({}) from the load, so renew it closer to the date with a reviewed commit",
                            e.expires,
                            left.as_secs() / 86_400,
                            self.exception_max_lifetime
                        ),
                    });
                }
                Ok(left) if !left.is_zero() => {}
                _ => expired.push(Expired {
                    field,
                    exception: e.label(i),
                    expires: e.expires.clone(),
                }),
            }
        }
        Ok(expired)
    }
}
