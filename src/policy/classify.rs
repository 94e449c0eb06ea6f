//! The provenance classifier: which class a Secret belongs to, from trusted signals only —
//! the writer's identity first, then owner references, and labels only as Git-declared intent
//! confirmed by an identity allowed to declare it (ARCHITECTURE §1).

use serde::{Deserialize, Serialize};

use super::{identity::Writer, objects::SecretObject, Operation, Policy, Review};
use crate::cluster::{group_of, ClusterView};

/// Secret classes (label `<prefix>secret-class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    Materialized,
    Bootstrap,
    Derived,
    Internal,
    InternalConfig,
    System,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Materialized => "materialized",
            Self::Bootstrap => "bootstrap",
            Self::Derived => "derived",
            Self::Internal => "internal",
            Self::InternalConfig => "internal-config",
            Self::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "materialized" => Self::Materialized,
            "bootstrap" => Self::Bootstrap,
            "derived" => Self::Derived,
            "internal" => Self::Internal,
            "internal-config" => Self::InternalConfig,
            "system" => Self::System,
            _ => return None,
        })
    }

    /// Classes an in-cluster operator produces (and may publish to Vault).
    pub fn is_operator_class(self) -> bool {
        matches!(self, Self::Derived | Self::Internal | Self::InternalConfig)
    }
}

/// The classifier's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provenance<'a> {
    /// `None`: unclassified, i.e. not from any approved producer.
    pub class: Option<Class>,
    /// For bootstrap Secrets: the decrypter's name (the `bootstrap-source` label).
    pub source: Option<&'a str>,
}

/// Secret types Kubernetes itself writes and populates; they are not copies of anything.
const SYSTEM_TYPES: [&str; 3] = ["kubernetes.io/service-account-token", "bootstrap.kubernetes.io/token", "helm.sh/release.v1"];

pub(crate) fn has_owner(secret: &SecretObject, group: &str, kind: &str) -> bool {
    secret.metadata.owner_references.iter().flatten().any(|o| o.kind == kind && group_of(&o.api_version) == group)
}

/// Classifies a Secret write.
pub fn classify<'a>(
    secret: &SecretObject,
    review: &Review<'_>,
    writer: &Writer<'a>,
    policy: &Policy,
    view: &dyn ClusterView,
) -> Provenance<'a> {
    let none = Provenance { class: None, source: None };
    if secret.type_.as_deref().is_some_and(|t| SYSTEM_TYPES.contains(&t)) {
        return Provenance { class: Some(Class::System), source: None };
    }
    let declared = secret.label(&policy.key("secret-class")).and_then(Class::parse);

    if writer.eso && (has_owner(secret, "external-secrets.io", "ExternalSecret") || secret.label("reconcile.external-secrets.io/managed") == Some("true")) {
        return Provenance { class: Some(Class::Materialized), source: None };
    }
    if let Some(source) = writer.decrypter {
        if has_owner(secret, "bitnami.com", "SealedSecret") || declared == Some(Class::Bootstrap) {
            return Provenance { class: Some(Class::Bootstrap), source: Some(source) };
        }
    }
    if writer.handover && review.operation == Operation::Update {
        // The handover controller only advances bootstrap Secrets it already watches.
        let old_class = review.old.and_then(|o| o.metadata().labels.as_ref()?.get(&policy.key("secret-class")).cloned());
        if old_class.as_deref() == Some("bootstrap") {
            return Provenance { class: Some(Class::Bootstrap), source: None };
        }
    }
    if let Some(op) = writer.operator {
        let in_scope = op.namespaces.is_empty() || review.namespace.is_some_and(|ns| op.namespaces.iter().any(|n| n == ns));
        if in_scope {
            let class = declared.filter(|c| c.is_operator_class()).unwrap_or(op.class);
            return Provenance { class: Some(class), source: None };
        }
    }
    let _ = view;
    none
}
