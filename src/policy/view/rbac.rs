//! RBAC as the secret-write rules see it: each role reduced to the Secret-writing verbs it
//! grants (and, for an aggregated ClusterRole, its `matchLabels` selectors), each binding to its
//! role reference and subjects. Built once when an object enters a view, so a rule never walks
//! a role's rules again.

use std::{collections::BTreeMap, sync::Arc};

use super::intern;
use crate::policy::objects::{Binding, Role};

/// A Role or ClusterRole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    /// `Role` or `ClusterRole`.
    pub kind: &'static str,
    /// None for a ClusterRole.
    pub namespace: Option<Arc<str>>,
    pub name: Box<str>,
    /// Labels, for aggregation selectors.
    pub labels: BTreeMap<String, String>,
    /// Secret-writing verbs of its own rules (`create`, `update`, `patch`, `*`).
    pub secret_writes: Box<[Box<str>]>,
    /// `aggregationRule.clusterRoleSelectors[].matchLabels`; empty when not aggregated.
    pub aggregates: Box<[BTreeMap<String, String>]>,
    /// A selector used `matchExpressions`, which is not resolved (so membership is partial).
    pub unresolved_selector: bool,
}

impl RoleInfo {
    pub fn of(kind: &'static str, namespace: Option<&str>, name: &str, role: &Role) -> Self {
        let selectors = role
            .aggregation_rule
            .iter()
            .flat_map(|a| &a.cluster_role_selectors);
        Self {
            kind,
            namespace: namespace.map(intern),
            name: name.into(),
            labels: role.metadata.labels.clone().unwrap_or_default(),
            secret_writes: role
                .secret_write_verbs()
                .into_iter()
                .map(Box::from)
                .collect(),
            aggregates: selectors
                .clone()
                .filter(|s| !s.match_labels.is_empty())
                .map(|s| s.match_labels.clone())
                .collect(),
            unresolved_selector: selectors.clone().any(|s| !s.match_expressions.is_empty()),
        }
    }

    /// `Role ns/name` or `ClusterRole name`.
    pub fn label(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// Whether an aggregation selector of this role picks a ClusterRole with `labels`.
    pub fn aggregates_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.aggregates
            .iter()
            .any(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
    }
}

/// One subject of a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectInfo {
    /// `ServiceAccount`, `User` or `Group`.
    pub kind: Box<str>,
    pub name: Box<str>,
    /// The service account's namespace (a RoleBinding's own when omitted).
    pub namespace: Option<Arc<str>>,
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingInfo {
    /// `RoleBinding` or `ClusterRoleBinding`.
    pub kind: &'static str,
    /// None for a ClusterRoleBinding.
    pub namespace: Option<Arc<str>>,
    pub name: Box<str>,
    /// `Role` or `ClusterRole`.
    pub role_kind: Box<str>,
    pub role_name: Box<str>,
    pub subjects: Box<[SubjectInfo]>,
}

impl BindingInfo {
    pub fn of(kind: &'static str, namespace: Option<&str>, name: &str, b: &Binding) -> Self {
        Self {
            kind,
            namespace: namespace.map(intern),
            name: name.into(),
            role_kind: b.role_ref.kind.as_str().into(),
            role_name: b.role_ref.name.as_str().into(),
            subjects: b
                .subjects
                .iter()
                .map(|s| SubjectInfo {
                    kind: s.kind.as_str().into(),
                    name: s.name.as_str().into(),
                    namespace: s
                        .namespace
                        .as_deref()
                        .filter(|n| !n.is_empty())
                        .or(namespace)
                        .map(intern),
                })
                .collect(),
        }
    }

    /// `RoleBinding ns/name` or `ClusterRoleBinding name`.
    pub fn label(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// Whether this binding's `roleRef` is `kind` `name` (a Role only from its own namespace).
    pub fn refers_to(&self, kind: &str, namespace: Option<&str>, name: &str) -> bool {
        &*self.role_kind == kind
            && &*self.role_name == name
            && (kind == "ClusterRole" || self.namespace.as_deref() == namespace)
    }

    /// Whether the service account `namespace/name` is a subject.
    pub fn binds_service_account(&self, namespace: &str, name: &str) -> bool {
        self.subjects.iter().any(|s| {
            &*s.kind == "ServiceAccount"
                && &*s.name == name
                && s.namespace.as_deref() == Some(namespace)
        })
    }
}
