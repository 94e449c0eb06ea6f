//! Typed views of the RBAC kinds (`rbac.authorization.k8s.io`): Role and ClusterRole share
//! [`Role`], RoleBinding and ClusterRoleBinding share [`Binding`]. Only what the secret-write
//! rules read is decoded: the rules' groups, resources, verbs and resource names, the
//! aggregation selectors' `matchLabels`, the role reference and the subjects.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Meta, nullable};

/// The verbs that change a Secret's content (`*` included). `delete` is not one: deleting a
/// Secret is not a second authority over its value.
pub const SECRET_WRITE_VERBS: [&str; 4] = ["create", "update", "patch", "*"];

/// A Role or ClusterRole.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    pub rules: Vec<PolicyRule>,
    /// Set on an aggregated ClusterRole: the controller fills `rules` from the ClusterRoles
    /// these selectors match.
    #[serde(default)]
    pub aggregation_rule: Option<AggregationRule>,
}

/// One rule of a role.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default, deserialize_with = "nullable")]
    pub api_groups: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub resources: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub verbs: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub resource_names: Vec<String>,
}

/// `aggregationRule`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregationRule {
    #[serde(default, deserialize_with = "nullable")]
    pub cluster_role_selectors: Vec<LabelSelector>,
}

/// A label selector: `matchLabels` is resolved; `matchExpressions` is only noticed.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default, deserialize_with = "nullable")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub match_expressions: Vec<serde::de::IgnoredAny>,
}

impl PolicyRule {
    /// The verbs of this rule that write Secrets: the rule must cover the core group (`""` or
    /// `*`) and the `secrets` resource (or `*`). `resourceNames` is not read: `create` cannot be
    /// limited by name, and a named update is still a second writer of that Secret.
    pub fn secret_write_verbs(&self) -> impl Iterator<Item = &str> {
        let core = self.api_groups.iter().any(|g| g.is_empty() || g == "*");
        let secrets = self
            .resources
            .iter()
            .any(|r| r == "*" || r.eq_ignore_ascii_case("secrets"));
        self.verbs
            .iter()
            .map(String::as_str)
            .filter(move |v| core && secrets && SECRET_WRITE_VERBS.contains(v))
    }
}

impl PolicyRule {
    /// Whether this rule grants one of `verbs` on one of `resources` in one of `groups`
    /// (`*` matching anything; resource names are not read).
    pub fn grants(&self, groups: &[&str], resources: &[&str], verbs: &[&str]) -> bool {
        self.api_groups
            .iter()
            .any(|g| g == "*" || groups.contains(&g.as_str()))
            && self
                .resources
                .iter()
                .any(|r| r == "*" || resources.iter().any(|x| r.eq_ignore_ascii_case(x)))
            && self
                .verbs
                .iter()
                .any(|v| v == "*" || verbs.contains(&v.as_str()))
    }
}

impl Role {
    /// Every secret-writing verb this role's own rules grant, deduplicated, in grant order.
    pub fn secret_write_verbs(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in self.rules.iter().flat_map(PolicyRule::secret_write_verbs) {
            if !out.iter().any(|o| o == v) {
                out.push(v.to_owned());
            }
        }
        out
    }
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    pub role_ref: RoleRef,
    #[serde(default, deserialize_with = "nullable")]
    pub subjects: Vec<Subject>,
}

/// `roleRef`: `Role` (in the binding's namespace) or `ClusterRole`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct RoleRef {
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

/// A binding subject: `ServiceAccount`, `User` or `Group`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Subject {
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
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
    fn only_core_group_secrets_with_a_write_verb_is_a_secret_write_grant() {
        let writes = |r: PolicyRule| {
            r.secret_write_verbs()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            writes(rule(&[""], &["secrets"], &["get", "create", "patch"])),
            ["create", "patch"]
        );
        assert_eq!(writes(rule(&["*"], &["*"], &["*"])), ["*"]);
        assert!(writes(rule(&[""], &["secrets"], &["get", "list", "watch"])).is_empty());
        assert!(writes(rule(&[""], &["configmaps"], &["create"])).is_empty());
        assert!(writes(rule(&["apps"], &["secrets"], &["create"])).is_empty());
    }
}
