//! RBAC as the secret-write rules see it: each role reduced to the Secret-writing verbs it
//! grants, the [`Escalation`] paths that let a subject write Secrets without them
//! (impersonation, bind/escalate with binding writes, TokenRequest), and for an aggregated
//! ClusterRole its `matchLabels` selectors; each binding to its role reference and subjects. Built once when an object enters a view, so a rule never walks
//! a role's rules again.

use std::{collections::BTreeMap, sync::Arc};

use super::intern;
use crate::policy::objects::{Binding, PolicyRule, Role};

/// What a role grants that lets its subject write Secrets without a Secret-write verb
/// (RFC-SECOPS-0001 §2.4 Inv 6, §5.8): acting as another identity, or granting itself more.
/// Creating pods or workloads is not counted (it is everywhere; README, "What a webhook cannot
/// stop").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Escalation {
    /// `impersonate` on `users`, `groups`, `serviceaccounts` or `uids` (core or
    /// `authentication.k8s.io`): the resources, and the resource names when limited.
    pub impersonate: Vec<String>,
    pub impersonate_names: Vec<String>,
    /// `bind` on `roles`/`clusterroles`: may bind roles holding what it lacks.
    pub bind: bool,
    /// `escalate` on `roles`/`clusterroles`: may write roles holding what it lacks.
    pub escalate: bool,
    /// create/update/patch on `rolebindings`/`clusterrolebindings`.
    pub write_bindings: bool,
    /// create/update/patch on `roles`/`clusterroles`.
    pub write_roles: bool,
    /// `create` on `serviceaccounts/token` (TokenRequest), with its resource names (empty: any
    /// service account in the binding's scope).
    pub token: Option<Vec<String>>,
}

impl Escalation {
    /// Adds what `other` grants (an aggregated ClusterRole's members).
    pub fn merge(&mut self, other: &Self) {
        for r in &other.impersonate {
            if !self.impersonate.contains(r) {
                self.impersonate.push(r.clone());
            }
        }
        self.impersonate_names
            .extend(other.impersonate_names.iter().cloned());
        self.bind |= other.bind;
        self.escalate |= other.escalate;
        self.write_bindings |= other.write_bindings;
        self.write_roles |= other.write_roles;
        if let Some(names) = &other.token {
            match &mut self.token {
                // Either side unlimited: unlimited.
                Some(mine) if mine.is_empty() || names.is_empty() => mine.clear(),
                Some(mine) => mine.extend(names.iter().cloned()),
                None => self.token = Some(names.clone()),
            }
        }
    }

    /// How bind/escalate let a subject write Secrets, one phrase per path. Impersonation and
    /// TokenRequest reach a producer or not depending on the binding's scope and the policy,
    /// so the caller (`rbac::grants`) judges them.
    pub fn paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.bind && self.write_bindings {
            out.push(
                "bind on roles with create/update/patch on role bindings: it can bind itself a role that writes Secrets"
                    .to_owned(),
            );
        }
        if self.escalate && (self.write_roles || self.write_bindings) {
            out.push(
                "escalate on roles with create/update/patch on roles or role bindings: it can write itself a role that writes Secrets"
                    .to_owned(),
            );
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.paths().is_empty() && self.token.is_none() && self.impersonate.is_empty()
    }
}

impl Escalation {
    /// What `rules` grant.
    pub fn of(rules: &[PolicyRule]) -> Self {
        const RBAC: &[&str] = &["rbac.authorization.k8s.io"];
        const WRITE: &[&str] = &["create", "update", "patch"];
        const ROLES: &[&str] = &["roles", "clusterroles"];
        const IDENTITIES: [&str; 4] = ["users", "groups", "serviceaccounts", "uids"];
        let mut into = Self::default();
        for r in rules {
            let identity_groups = &["", "authentication.k8s.io"];
            if r.grants(identity_groups, &IDENTITIES, &["impersonate"]) {
                for i in IDENTITIES {
                    if r.grants(identity_groups, &[i], &["impersonate"])
                        && !into.impersonate.iter().any(|x| x == i)
                    {
                        into.impersonate.push(i.to_owned());
                    }
                }
                into.impersonate_names
                    .extend(r.resource_names.iter().cloned());
            }
            into.bind |= r.grants(RBAC, ROLES, &["bind"]);
            into.escalate |= r.grants(RBAC, ROLES, &["escalate"]);
            into.write_roles |= r.grants(RBAC, ROLES, WRITE);
            into.write_bindings |= r.grants(RBAC, &["rolebindings", "clusterrolebindings"], WRITE);
            if r.grants(&[""], &["serviceaccounts/token"], &["create"]) {
                into.merge(&Self {
                    token: Some(r.resource_names.clone()),
                    ..Self::default()
                });
            }
        }
        into
    }
}

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
    /// What its own rules grant that writes Secrets indirectly.
    pub escalation: Escalation,
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
            escalation: Escalation::of(&role.rules),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect();
        PolicyRule {
            api_groups: s(groups),
            resources: s(resources),
            verbs: s(verbs),
            resource_names: Vec::new(),
        }
    }

    #[test]
    fn impersonation_binding_and_token_requests_are_escalations() {
        let esc = |rules: Vec<PolicyRule>| Escalation::of(&rules);
        let imp = esc(vec![rule(
            &["authentication.k8s.io"],
            &["serviceaccounts", "users"],
            &["impersonate"],
        )]);
        assert_eq!(imp.impersonate, ["users", "serviceaccounts"]);
        assert!(!imp.is_empty());
        // `bind` alone, or create on bindings alone, is no path; both together are.
        let rbac = "rbac.authorization.k8s.io";
        assert!(
            esc(vec![rule(&[rbac], &["clusterroles"], &["bind"])])
                .paths()
                .is_empty()
        );
        assert!(
            esc(vec![rule(&[rbac], &["rolebindings"], &["create"])])
                .paths()
                .is_empty()
        );
        assert_eq!(
            esc(vec![
                rule(&[rbac], &["clusterroles"], &["bind"]),
                rule(&[rbac], &["rolebindings"], &["create"]),
            ])
            .paths()
            .len(),
            1
        );
        let token = esc(vec![rule(&[""], &["serviceaccounts/token"], &["create"])]);
        assert_eq!(token.token, Some(Vec::new()));
        // Reading roles, creating pods, impersonating in another group: not counted.
        for r in [
            rule(&[rbac], &["roles", "rolebindings"], &["get", "list"]),
            rule(&[""], &["pods"], &["create"]),
            rule(&["apps"], &["serviceaccounts"], &["impersonate"]),
        ] {
            assert!(esc(vec![r]).is_empty());
        }
    }
}
