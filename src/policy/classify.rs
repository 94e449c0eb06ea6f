//! The provenance classifier: which class a Secret belongs to, from trusted signals only —
//! the writer's identity first, then owner references, and labels only as Git-declared intent
//! confirmed by an identity allowed to declare it (ARCHITECTURE §1).

use serde::{Deserialize, Serialize};

use super::{Operation, Policy, Review, identity::Writer, objects::SecretObject};
use crate::cluster::{ClusterView, group_of};

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
const SYSTEM_TYPES: [&str; 3] = [
    "kubernetes.io/service-account-token",
    "bootstrap.kubernetes.io/token",
    "helm.sh/release.v1",
];

pub(crate) fn has_owner(secret: &SecretObject, group: &str, kind: &str) -> bool {
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == kind && group_of(&o.api_version) == group)
}

/// Classifies a Secret write.
pub fn classify<'a>(
    secret: &SecretObject,
    review: &Review<'_>,
    writer: &Writer<'a>,
    policy: &Policy,
    view: &dyn ClusterView,
) -> Provenance<'a> {
    let none = Provenance {
        class: None,
        source: None,
    };
    if secret
        .type_
        .as_deref()
        .is_some_and(|t| SYSTEM_TYPES.contains(&t))
    {
        return Provenance {
            class: Some(Class::System),
            source: None,
        };
    }
    let declared = secret
        .label(&policy.key("secret-class"))
        .and_then(Class::parse);

    if writer.eso
        && (has_owner(secret, "external-secrets.io", "ExternalSecret")
            || secret.label("reconcile.external-secrets.io/managed") == Some("true"))
    {
        return Provenance {
            class: Some(Class::Materialized),
            source: None,
        };
    }
    if let Some(source) = writer.decrypter
        && (has_owner(secret, "bitnami.com", "SealedSecret") || declared == Some(Class::Bootstrap))
    {
        return Provenance {
            class: Some(Class::Bootstrap),
            source: Some(source),
        };
    }
    if writer.handover && review.operation == Operation::Update {
        // The handover controller only advances bootstrap Secrets it already watches.
        let old_class = review.old.and_then(|o| {
            o.metadata()
                .labels
                .as_ref()?
                .get(&policy.key("secret-class"))
                .cloned()
        });
        if old_class.as_deref() == Some("bootstrap") {
            return Provenance {
                class: Some(Class::Bootstrap),
                source: None,
            };
        }
    }
    if let Some(op) = writer.operator {
        let in_scope = op.namespaces.is_empty()
            || review
                .namespace
                .is_some_and(|ns| op.namespaces.iter().any(|n| n == ns));
        if in_scope {
            let class = declared
                .filter(|c| c.is_operator_class())
                .unwrap_or(op.class);
            return Provenance {
                class: Some(class),
                source: None,
            };
        }
    }
    let _ = view;
    none
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        cluster::MemoryView,
        policy::{Identity, objects::Object},
    };

    fn classify_as(
        user: &str,
        ns: &str,
        secret: serde_json::Value,
        policy: &Policy,
    ) -> Option<Class> {
        let object = Object::from_value(crate::policy::objects::Kind::Secret, secret).unwrap();
        let Object::Secret(s) = &object else {
            unreachable!()
        };
        let identity = Identity::new(user, vec![]);
        let review = Review {
            uid: "u",
            operation: Operation::Create,
            namespace: Some(ns),
            name: "s",
            user: &identity,
            object: &object,
            old: None,
            dry_run: false,
        };
        let writer = Writer::of(&identity, policy);
        classify(s, &review, &writer, policy, &MemoryView::default()).class
    }

    fn secret(
        labels: serde_json::Value,
        owners: serde_json::Value,
        type_: &str,
    ) -> serde_json::Value {
        serde_json::json!({"metadata": {"name": "s", "labels": labels, "ownerReferences": owners}, "type": type_})
    }

    const POSTGRES_OPERATOR: &str = "system:serviceaccount:postgres-operator:postgres-operator";

    fn with_operator() -> Policy {
        Policy::from_yaml(&format!(
            "identities:\n  operators:\n    - name: zalando\n      users: [\"{POSTGRES_OPERATOR}\"]\n      class: internal\n      namespaces: [postgres]\n"
        ))
        .unwrap()
    }

    #[test]
    fn operator_secrets_take_the_operator_class_or_its_declared_operator_class() {
        let p = with_operator();
        let empty = serde_json::json!({});
        assert_eq!(
            classify_as(
                POSTGRES_OPERATOR,
                "postgres",
                secret(empty.clone(), serde_json::json!([]), "Opaque"),
                &p
            ),
            Some(Class::Internal)
        );
        let config = serde_json::json!({"platform.pnats.cloud/secret-class": "internal-config"});
        assert_eq!(
            classify_as(
                POSTGRES_OPERATOR,
                "postgres",
                secret(config, serde_json::json!([]), "Opaque"),
                &p
            ),
            Some(Class::InternalConfig)
        );
        let claims_bootstrap =
            serde_json::json!({"platform.pnats.cloud/secret-class": "bootstrap"});
        assert_eq!(
            classify_as(
                POSTGRES_OPERATOR,
                "postgres",
                secret(claims_bootstrap, serde_json::json!([]), "Opaque"),
                &p
            ),
            Some(Class::Internal)
        );
    }

    #[test]
    fn operator_outside_its_namespaces_is_unclassified() {
        let p = with_operator();
        assert_eq!(
            classify_as(
                POSTGRES_OPERATOR,
                "payments",
                secret(serde_json::json!({}), serde_json::json!([]), "Opaque"),
                &p
            ),
            None
        );
    }

    #[test]
    fn eso_without_an_external_secret_owner_or_managed_label_is_unclassified() {
        let p = Policy::default();
        let eso = "system:serviceaccount:external-secrets:external-secrets";
        assert_eq!(
            classify_as(
                eso,
                "payments",
                secret(serde_json::json!({}), serde_json::json!([]), "Opaque"),
                &p
            ),
            None
        );
        let owner = serde_json::json!([{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "x", "uid": "1"}]);
        assert_eq!(
            classify_as(
                eso,
                "payments",
                secret(serde_json::json!({}), owner, "Opaque"),
                &p
            ),
            Some(Class::Materialized)
        );
    }

    #[test]
    fn a_decrypter_needs_a_sealed_owner_or_the_declared_bootstrap_label() {
        let p = Policy::default();
        let argo = "system:serviceaccount:argocd:argocd-application-controller";
        assert_eq!(
            classify_as(
                argo,
                "argocd",
                secret(serde_json::json!({}), serde_json::json!([]), "Opaque"),
                &p
            ),
            None
        );
        let declared = serde_json::json!({"platform.pnats.cloud/secret-class": "bootstrap"});
        assert_eq!(
            classify_as(
                argo,
                "argocd",
                secret(declared, serde_json::json!([]), "Opaque"),
                &p
            ),
            Some(Class::Bootstrap)
        );
    }

    #[test]
    fn kubernetes_own_secret_types_are_system() {
        let p = Policy::default();
        for t in SYSTEM_TYPES {
            assert_eq!(
                classify_as(
                    "alice",
                    "payments",
                    secret(serde_json::json!({}), serde_json::json!([]), t),
                    &p
                ),
                Some(Class::System)
            );
        }
    }
}
