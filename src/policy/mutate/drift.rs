//! Whether the webhook configurations installed in a cluster still carry the `matchConditions`
//! the policy in effect generates ([`super::scope`]). A pure comparison, no I/O: `serve` reads
//! the configurations and reports what this returns (`server::webhook_drift`).
//!
//! Why it matters: the conditions are computed from the policy's identities and keys, so a
//! policy edit (a new producer in an exempt namespace, a new exempt group, a new bootstrap
//! decrypter) without re-applying `vaultgate manifests --policy FILE` leaves the apiserver
//! filtering with the old ones. A stale exemption skips writes the engine would judge (a silent
//! bypass); a stale stamp condition skips the mutating call where a stamp is due, and the
//! validating webhook then denies the write (VG112).
//!
//! Every webhook of a MutatingWebhookConfiguration is compared with
//! [`mutating_conditions`], every webhook of a ValidatingWebhookConfiguration (the opt-in
//! hidden-control-planes one included) with [`validating_conditions`], by condition name;
//! expressions are compared ignoring only leading and trailing whitespace (a YAML block scalar
//! may add a final newline).

use std::collections::BTreeMap;

use super::super::Policy;
use super::scope::{MatchCondition, mutating_conditions, validating_conditions};

/// Which kind of webhook configuration (also the metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Configuration {
    Mutating,
    Validating,
}

impl Configuration {
    /// `mutating` / `validating`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Mutating => "mutating",
            Self::Validating => "validating",
        }
    }

    /// The Kubernetes kind.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Mutating => "MutatingWebhookConfiguration",
            Self::Validating => "ValidatingWebhookConfiguration",
        }
    }

    /// The conditions `policy` generates for this configuration's webhooks.
    pub fn expected(self, policy: &Policy) -> Vec<MatchCondition> {
        match self {
            Self::Mutating => mutating_conditions(policy),
            Self::Validating => validating_conditions(policy),
        }
    }
}

/// One webhook of an installed configuration: its name and its `matchConditions` (empty when it
/// has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledWebhook {
    pub name: String,
    pub conditions: Vec<MatchCondition>,
}

/// One finding: the configuration is not installed, or one webhook's conditions differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// No configuration of that kind and name, or one without webhooks: either way the
    /// apiserver calls none, so nothing is compared.
    MissingConfiguration(Configuration),
    /// The webhook's conditions are not the ones the policy generates, by condition name:
    /// `missing` are generated but not installed, `extra` installed but not generated,
    /// `different` both, with another expression.
    Conditions {
        configuration: Configuration,
        webhook: String,
        missing: Vec<String>,
        extra: Vec<String>,
        different: Vec<String>,
    },
}

/// The findings for one configuration (`None`: not installed); empty when it has webhooks and
/// every one carries exactly the generated conditions. Order of conditions is not compared: the apiserver
/// ANDs them.
pub fn drift(
    policy: &Policy,
    configuration: Configuration,
    installed: Option<&[InstalledWebhook]>,
) -> Vec<Drift> {
    let Some(webhooks) = installed.filter(|w| !w.is_empty()) else {
        return vec![Drift::MissingConfiguration(configuration)];
    };
    let generated = configuration.expected(policy);
    let expected = by_name(&generated);
    webhooks
        .iter()
        .filter_map(|hook| {
            let have = by_name(&hook.conditions);
            let missing: Vec<String> = expected
                .keys()
                .filter(|n| !have.contains_key(*n))
                .map(|n| (*n).to_owned())
                .collect();
            let extra: Vec<String> = have
                .keys()
                .filter(|n| !expected.contains_key(*n))
                .map(|n| (*n).to_owned())
                .collect();
            let different: Vec<String> = expected
                .iter()
                .filter(|(n, e)| have.get(*n).is_some_and(|h| h != *e))
                .map(|(n, _)| (*n).to_owned())
                .collect();
            (!(missing.is_empty() && extra.is_empty() && different.is_empty())).then(|| {
                Drift::Conditions {
                    configuration,
                    webhook: hook.name.clone(),
                    missing,
                    extra,
                    different,
                }
            })
        })
        .collect()
}

/// Expressions by condition name, trimmed. A name given twice (the apiserver refuses that)
/// keeps its last expression.
fn by_name(conditions: &[MatchCondition]) -> BTreeMap<&str, &str> {
    conditions
        .iter()
        .map(|c| (c.name.as_str(), c.expression.trim()))
        .collect()
}

#[cfg(test)]
mod tests;
