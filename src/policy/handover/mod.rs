//! Handover decisions (docs/ARCHITECTURE.md §4, RFC §5.4 and §5.7): from one bootstrap Secret's labels,
//! annotations and data *shape*, the policy, and what Vault was seen to hold, decide the next
//! step. Pure: no I/O, no clock, no key material. The controller passes in keyed digests and
//! timestamps. A value never enters this module.
//!
//! ```text
//!  (absent)|pending ─ Vault healthy ─ write cas=0 ─┬ created ┐ read back: digest = ours ─▶ copied ─ retire ─▶ consumed
//!                                                  └ exists ─┘ read back: digest ≠ ours ─▶ superseded (+ retire)
//!  any failure: the state does not advance, the Secret stays intact and authoritative; retry
//! ```
//!
//! Retirement (`<prefix>handover-retire`, default from the controller's flag) happens in the same
//! patch that writes the terminal state (`inert`: data emptied; `retain`: left as is), or, for
//! `delete`, right after it. So a crash between two steps always leaves a state this module maps
//! back onto the remaining step.

mod state;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use super::{Policy, paths};

pub use state::{Retire, Settings, State};

/// What the controller observed on one Secret: metadata and the shape of its data, never a value.
#[derive(Debug, Clone, Copy)]
pub struct SecretFacts<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
    /// The keys of `data` (they become the Vault properties at the target).
    pub keys: &'a [&'a str],
    /// Keys whose value is not UTF-8 (KV v2 stores strings, so these cannot be copied faithfully).
    pub binary_keys: &'a [&'a str],
    /// Keyed digest of the current data.
    pub digest: &'a str,
    /// The object has a deletionTimestamp.
    pub deleting: bool,
}

/// A transition that ends the handover: the terminal state plus the retirement of the Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retirement {
    pub from: State,
    pub to: State,
    pub mode: Retire,
}

/// The next step for one Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Not labelled `<prefix>secret-class=bootstrap` (the label-selected watch should prevent it),
    /// or the label was not earned: no `<prefix>bootstrap-source` stamp, which only the
    /// admission webhook sets, on a decrypter's write.
    NotBootstrap,
    /// A bootstrap Secret without `<prefix>handover-to`: left alone, reported once.
    WithoutTarget,
    /// The declared path breaks the Vault path conventions: a Warning, no action.
    InvalidTarget { path: String, problems: Vec<String> },
    /// The Secret cannot be handed over as it is (no data, binary values, unknown state or mode).
    InvalidSource { problem: String },
    /// `pending`: check Vault health, write create-only, read back.
    Copy { path: String, mode: Retire },
    /// `copied`, but the data no longer matches the recorded digest: ask Vault what it holds.
    Verify { path: String, mode: Retire },
    /// Write the terminal state and retire (or finish a retirement a crash interrupted).
    Retire(Retirement),
    /// Nothing left to do.
    Done { state: State },
}

/// Everything wrong with handing `keys` over to `path`, by the rule a PushSecret to that path
/// would break: the path conventions (VG303), the property names (VG304) and no secret
/// property under `platform-config/` (VG305, Inv 8). The admission webhook checks the
/// `handover-to` annotation with this, and the controller checks it again before a write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetProblems {
    pub path: Vec<String>,
    pub properties: Vec<String>,
    pub secret_in_config: Vec<String>,
}

impl TargetProblems {
    pub fn is_empty(&self) -> bool {
        self.path.is_empty() && self.properties.is_empty() && self.secret_in_config.is_empty()
    }

    /// Every problem, path first.
    pub fn all(&self) -> Vec<String> {
        self.path
            .iter()
            .chain(&self.properties)
            .chain(&self.secret_in_config)
            .cloned()
            .collect()
    }
}

/// The problems with a handover target, with the controller's extra prefixes allowed.
pub fn target_problems(
    path: &str,
    keys: &[&str],
    policy: &Policy,
    settings: &Settings,
) -> TargetProblems {
    let path_problems = if settings.extra_prefixes.is_empty() {
        paths::push_path_problems(path, policy)
    } else {
        let mut widened = policy.clone();
        widened
            .vault
            .extra_push_prefixes
            .extend(settings.extra_prefixes.iter().cloned());
        paths::push_path_problems(path, &widened)
    };
    let mut problems = TargetProblems {
        path: path_problems,
        ..TargetProblems::default()
    };
    if !problems.path.is_empty() {
        return problems;
    }
    let Some(paths::Prefix::Convention(prefix)) = paths::prefix_of(path, policy) else {
        return problems;
    };
    let allowed = policy.vault.properties.join(", ");
    for key in keys {
        if !policy.vault.properties.iter().any(|p| p == key) {
            problems.properties.push(format!(
                "key {key:?} would become property {key:?} under {path:?}; properties are {allowed}"
            ));
        } else if prefix == "platform-config"
            && policy.vault.secret_properties.iter().any(|p| p == key)
        {
            problems.secret_in_config.push(format!(
                "key {key:?} is a secret property and {path:?} is under platform-config/, which every namespace reads"
            ));
        }
    }
    problems
}

/// Decides the next step from what the Secret looks like now.
pub fn plan(facts: &SecretFacts<'_>, policy: &Policy, settings: &Settings) -> Plan {
    if facts
        .labels
        .get(&*policy.reserved_key("secret-class"))
        .map(String::as_str)
        != Some("bootstrap")
        || !facts
            .labels
            .contains_key(&*policy.reserved_key("bootstrap-source"))
    {
        return Plan::NotBootstrap;
    }
    let state = match State::parse(
        facts
            .labels
            .get(&*policy.reserved_key("handover-state"))
            .map(String::as_str),
    ) {
        Ok(state) => state,
        Err(problem) => return Plan::InvalidSource { problem },
    };
    let mode = match facts
        .annotations
        .get(&*policy.reserved_key("handover-retire"))
    {
        None => settings.default_retire,
        Some(m) => match m.parse::<Retire>() {
            Ok(mode) => mode,
            Err(e) => {
                return Plan::InvalidSource {
                    problem: format!("annotation {}: {e}", policy.key("handover-retire")),
                };
            }
        },
    };
    let target = facts.annotations.get(&*policy.reserved_key("handover-to"));
    match state {
        State::Consumed | State::Superseded => {
            let unretired = match mode {
                Retire::Inert => !facts.keys.is_empty(),
                Retire::Delete => !facts.deleting,
                Retire::Retain => false,
            };
            if unretired {
                Plan::Retire(Retirement {
                    from: state,
                    to: state,
                    mode,
                })
            } else {
                Plan::Done { state }
            }
        }
        State::Copied => {
            let recorded = facts
                .annotations
                .get(&*policy.reserved_key("content-digest"))
                .map(String::as_str);
            // Emptied data after `copied` can only be an interrupted retirement (the webhook lets
            // no one but the controller empty a bootstrap Secret).
            if recorded == Some(facts.digest) || facts.keys.is_empty() {
                return Plan::Retire(Retirement {
                    from: State::Copied,
                    to: State::Consumed,
                    mode,
                });
            }
            match target {
                Some(path) => Plan::Verify {
                    path: path.clone(),
                    mode,
                },
                None => Plan::InvalidSource {
                    problem: format!(
                        "state copied but the data changed and {} is gone",
                        policy.key("handover-to")
                    ),
                },
            }
        }
        State::Pending => {
            let Some(path) = target else {
                return Plan::WithoutTarget;
            };
            let problems = target_problems(path, facts.keys, policy, settings);
            if !problems.is_empty() {
                return Plan::InvalidTarget {
                    path: path.clone(),
                    problems: problems.all(),
                };
            }
            if facts.keys.is_empty() {
                return Plan::InvalidSource {
                    problem: "the Secret has no data to hand over".into(),
                };
            }
            if !facts.binary_keys.is_empty() {
                return Plan::InvalidSource {
                    problem: format!(
                        "keys {} are not UTF-8 text; Vault KV v2 stores strings (store them base64-encoded in Git)",
                        facts.binary_keys.join(", ")
                    ),
                };
            }
            Plan::Copy {
                path: path.clone(),
                mode,
            }
        }
    }
}

/// Vault's `sys/health` answer, reduced to what gates a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub initialized: bool,
    pub sealed: bool,
}

/// Why a handover could not make progress. The Secret stays authoritative; the controller retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    #[error("Vault is not initialized")]
    Uninitialized,
    #[error("Vault is sealed")]
    Sealed,
    #[error("Vault acknowledged the write but the read-back found no value")]
    ReadBackMissing,
    #[error(
        "the latest Vault version ({version}) is deleted or destroyed; undelete it or remove the key's metadata in Vault, then the handover resumes"
    )]
    LatestVersionDeleted { version: u64 },
}

/// Whether Vault may be written to at all. Checked before every write.
pub fn gate(health: Health) -> Result<(), Blocked> {
    match health {
        Health {
            initialized: false, ..
        } => Err(Blocked::Uninitialized),
        Health { sealed: true, .. } => Err(Blocked::Sealed),
        _ => Ok(()),
    }
}

/// Result of the create-only (`cas=0`) write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created {
        version: u64,
    },
    /// Refused by check-and-set: the key already has a version.
    AlreadyExists,
}

/// What Vault's latest version holds, as a keyed digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    Nothing,
    Deleted { version: u64 },
    Value { version: u64, digest: String },
}

/// The outcome of the Vault side of a handover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Vault's latest version is our value. `wrote` is false when it was already there (a
    /// previous attempt crashed after the write): the idempotent path.
    Copied {
        version: u64,
        wrote: bool,
    },
    /// Vault holds a different value: it is the authority, never overwrite.
    Superseded {
        version: u64,
    },
    Blocked(Blocked),
}

/// Decides from our digest, the write result (`None` when only verifying) and the read-back.
pub fn verdict(ours: &str, written: Option<Written>, held: &Held) -> Verdict {
    match held {
        Held::Value { version, digest } if digest == ours => Verdict::Copied {
            version: *version,
            wrote: matches!(written, Some(Written::Created { .. })),
        },
        // Someone else's value, or another writer raced ours after the create: Vault's latest
        // version is what consumers read, so Vault is the authority.
        Held::Value { version, .. } => Verdict::Superseded { version: *version },
        Held::Deleted { version } => {
            Verdict::Blocked(Blocked::LatestVersionDeleted { version: *version })
        }
        Held::Nothing => Verdict::Blocked(Blocked::ReadBackMissing),
    }
}

/// The state a verdict moves a `pending` (or re-verified `copied`) Secret to.
pub fn next_state(verdict: &Verdict, from: State) -> State {
    match verdict {
        Verdict::Copied { .. } if from == State::Pending => State::Copied,
        Verdict::Copied { .. } => State::Consumed,
        Verdict::Superseded { .. } => State::Superseded,
        Verdict::Blocked(_) => from,
    }
}

/// Provenance written onto the Secret with a state change.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    /// RFC 3339 time of the handover.
    pub at: &'a str,
    pub vault_version: u64,
    /// Keyed digest of the bootstrap data.
    pub digest: &'a str,
}

/// Labels and annotations (full keys) a transition to `to` sets.
pub fn transition_metadata(
    policy: &Policy,
    to: State,
    stamp: Option<&Stamp<'_>>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let labels = BTreeMap::from([(policy.key("handover-state"), to.as_str().to_owned())]);
    let mut annotations = BTreeMap::new();
    if let Some(s) = stamp {
        annotations.insert(policy.key("vault-version"), s.vault_version.to_string());
        annotations.insert(policy.key("handover-at"), s.at.to_owned());
        annotations.insert(policy.key("content-digest"), s.digest.to_owned());
    }
    (labels, annotations)
}

/// The `state` label value of the `vaultgate_bootstrap_secrets` gauge for one Secret's metadata.
pub fn gauge_state(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    policy: &Policy,
) -> &'static str {
    match State::parse(
        labels
            .get(&*policy.reserved_key("handover-state"))
            .map(String::as_str),
    ) {
        Ok(State::Pending) if !annotations.contains_key(&*policy.reserved_key("handover-to")) => {
            "pending-without-target"
        }
        Ok(state) => state.as_str(),
        Err(_) => "invalid",
    }
}
