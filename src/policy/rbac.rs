//! VG501 `secret-write-grant`: a role that lets an undeclared identity write Secrets is a hidden
//! control plane (RFC-SECOPS-0001 §2.4 Inv 6, §5.8). A grant needs a role and a binding, so the
//! rule is judged on whichever of the two is under review, with the other from the view: a
//! binding looks up its role, a role looks up the bindings to it. Also the one definition of
//! "who may hold a Secret-write grant" ([`undeclared`]) and "where a service account may write
//! Secrets" ([`service_account_grants`]), which the workload rules reuse.
//!
//! A Secret-write grant is create/update/patch (or `*`) on `secrets`, or, for a role without
//! one, a path to the same writes that RBAC hands out under other names:
//!
//! - `impersonate` on users, groups or service accounts (core or `authentication.k8s.io`):
//!   the subject sends its writes *as* a producer, which vaultgate then trusts. Counted through
//!   a ClusterRoleBinding (any identity), or through a RoleBinding when a declared service
//!   account lives in that namespace (a RoleBinding reaches only its namespace's service
//!   accounts); with `resourceNames`, only when a name is a declared identity, `system:masters`
//!   or an exempt group. `uids` alone is not counted: impersonating a UID needs a user too;
//! - `bind` on roles/clusterroles together with create/update/patch on role bindings: the
//!   subject binds itself a role that writes Secrets; `escalate` on roles together with
//!   create/update/patch on roles or role bindings: it writes itself one;
//! - `create` on `serviceaccounts/token` (TokenRequest) where a declared service account can be
//!   named: any in the binding's scope when `resourceNames` is empty, else one of the names.
//!
//! Creating pods or workloads is not counted, though a subject that can create a pod can run it
//! as any service account of the namespace: that is everywhere, and README's "What a webhook
//! cannot stop" says so.
//!
//! Declared: the producers of `policy.identities` (ESO, decrypters, operators, the handover
//! controller), the GitOps controllers, Helm release storage writers, the Kubernetes control
//! plane identities and the exempt identities. Built-in bindings stay quiet because of *who*
//! they bind (kube-system service accounts, `system:kube-controller-manager`, and
//! `system:masters`, whose members bypass RBAC so a binding grants them nothing), not because
//! of a `system:` name, which anyone may give a role.

use std::sync::Arc;

use super::{
    Identity, Policy, Review, Violation,
    identity::{UserPattern, Writer},
    objects::{Binding, Role},
    rules,
    view::{BindingInfo, ClusterView, Missing, RoleInfo, SubjectInfo},
};

/// A Secret-write grant one identity holds through one binding.
pub struct Grant {
    /// The identity, as the apiserver names it (`system:serviceaccount:ns:sa`, a user, `group "g"`).
    pub who: String,
    /// `namespace "x"` or `every namespace`.
    pub scope: String,
    /// The namespace written, None for every namespace.
    pub namespace: Option<String>,
    /// Secret-write verbs granted directly; empty when the grant is indirect ([`Grant::how`]).
    pub verbs: Vec<String>,
    /// How an indirect grant writes Secrets (impersonation, bind/escalate, TokenRequest).
    pub how: Vec<String>,
    pub binding: String,
    pub role: String,
    /// Index of the subject in the binding.
    pub subject: usize,
}

impl Grant {
    /// `may create/patch Secrets`, or `may write Secrets indirectly (…)`.
    pub fn what(&self) -> String {
        if self.verbs.is_empty() {
            format!("may write Secrets indirectly ({})", self.how.join("; "))
        } else {
            format!("may {} Secrets", self.verbs.join("/"))
        }
    }
}

/// Whether the policy declares `user` a Secret writer (a producer, GitOps, Helm, the control
/// plane, or exempt).
fn declared(user: &Identity, policy: &Policy) -> bool {
    let w = Writer::of(user, policy);
    w.is_producer() || w.gitops || w.helm || w.kubernetes || w.is_exempt()
}

/// Every identity pattern the policy declares a Secret writer.
fn declared_patterns(policy: &Policy) -> impl Iterator<Item = &str> {
    let ids = &policy.identities;
    ids.eso
        .iter()
        .chain(ids.bootstrap_decrypters.iter().flat_map(|d| &d.users))
        .chain(ids.operators.iter().flat_map(|o| &o.users))
        .chain(&ids.handover)
        .chain(&ids.gitops)
        .chain(&ids.helm)
        .chain(&ids.kubernetes)
        .chain(&ids.exempt_users)
        .map(UserPattern::as_str)
}

/// A declared service account (its pattern) in namespace `ns` (any when None) named one of
/// `names` (any when empty).
fn declared_account(ns: Option<&str>, names: &[String], policy: &Policy) -> Option<String> {
    declared_patterns(policy).find_map(|p| {
        let (pns, pname) = p.strip_prefix("system:serviceaccount:")?.split_once(':')?;
        let ns_ok = ns.is_none_or(|ns| UserPattern::from(pns.to_owned()).matches(ns));
        let name_ok = names.is_empty()
            || names
                .iter()
                .any(|n| UserPattern::from(pname.to_owned()).matches(n));
        (ns_ok && name_ok).then(|| p.to_owned())
    })
}

/// Whom an `impersonate` grant lets the subject act as, when that reaches a declared identity.
/// `resources` and `names` are the grant's (`impersonate` on them, limited to those names).
fn impersonates(
    ns: Option<&str>,
    resources: &[String],
    names: &[String],
    policy: &Policy,
) -> Option<String> {
    let on = |r: &str| resources.iter().any(|i| i == r);
    // A RoleBinding grants only namespaced resources: service accounts of its namespace.
    let users = ns.is_none() && on("users");
    let groups = ns.is_none() && on("groups");
    if names.is_empty() {
        return if users || groups {
            Some("any user or group, producers included".to_owned())
        } else if on("serviceaccounts") {
            declared_account(ns, &[], policy)
                .map(|p| format!("any service account there, {p} included"))
        } else {
            None
        };
    }
    names.iter().find_map(|n| {
        let as_user = users && declared(&Identity::new(n, Vec::new()), policy);
        let as_group = groups
            && (n == "system:masters" || policy.identities.exempt_groups.iter().any(|g| g == n));
        if as_user || as_group {
            return Some(n.clone());
        }
        on("serviceaccounts")
            .then(|| declared_account(ns, std::slice::from_ref(n), policy))
            .flatten()
    })
}

/// The identity a subject names, unless the policy declares it as a Secret writer.
pub fn undeclared(subject: &SubjectInfo, policy: &Policy) -> Option<String> {
    let user = match &*subject.kind {
        "Group" => {
            let g = &*subject.name;
            // Members of system:masters bypass authorization: a binding adds nothing.
            if g == "system:masters" || policy.identities.exempt_groups.iter().any(|e| e == g) {
                return None;
            }
            return Some(format!("group {g:?}"));
        }
        "ServiceAccount" => {
            let ns = subject.namespace.as_deref().unwrap_or("");
            let user = format!("system:serviceaccount:{ns}:{}", subject.name);
            let groups = super::identity::standard_groups(&user);
            Identity::new(user, groups)
        }
        _ => Identity::new(
            &*subject.name,
            super::identity::standard_groups(&subject.name),
        ),
    };
    (!declared(&user, policy)).then(|| format!("{:?}", user.username))
}

/// The role with what its aggregated members grant added (its members are the ClusterRoles in
/// the view whose labels a selector matches).
pub fn effective(role: &RoleInfo, view: &dyn ClusterView) -> RoleInfo {
    let mut out = role.clone();
    if !role.aggregates.is_empty() {
        let mut verbs: Vec<Box<str>> = out.secret_writes.to_vec();
        for member in view.cluster_roles() {
            if member.name != role.name && role.aggregates_labels(&member.labels) {
                for v in member.secret_writes.iter() {
                    if !verbs.contains(v) {
                        verbs.push(v.clone());
                    }
                }
                out.escalation.merge(&member.escalation);
            }
        }
        out.secret_writes = verbs.into();
    }
    out
}

/// Every undeclared subject of `binding` that `role` (effective) lets write Secrets, directly or
/// through an escalation path.
fn grants(binding: &BindingInfo, label: &str, role: &RoleInfo, policy: &Policy) -> Vec<Grant> {
    let verbs: Vec<String> = role.secret_writes.iter().map(|v| v.to_string()).collect();
    let mut how = Vec::new();
    if verbs.is_empty() {
        let esc = &role.escalation;
        let ns = binding.namespace.as_deref();
        if let Some(who) = impersonates(ns, &esc.impersonate, &esc.impersonate_names, policy) {
            how.push(format!(
                "impersonate on {}: it can send its writes as {who}, and vaultgate trusts a producer's writes as that producer's",
                esc.impersonate.join("/")
            ));
        }
        how.extend(esc.paths());
        if let Some(names) = &esc.token
            && let Some(p) = declared_account(ns, names, policy)
        {
            how.push(format!(
                "create on serviceaccounts/token: it can request a token for {p}, a declared identity, and write as it"
            ));
        }
        if how.is_empty() {
            return Vec::new();
        }
    }
    let (scope, namespace) = match &binding.namespace {
        Some(ns) => (format!("namespace {ns:?}"), Some(ns.to_string())),
        None => ("every namespace".to_owned(), None),
    };
    binding
        .subjects
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            Some(Grant {
                who: undeclared(s, policy)?,
                scope: scope.clone(),
                namespace: namespace.clone(),
                verbs: verbs.clone(),
                how: how.clone(),
                binding: binding.label(),
                role: label.to_owned(),
                subject: i,
            })
        })
        .collect()
}

/// Where the service account `namespace/name` may write Secrets, when it is not declared.
pub fn service_account_grants(
    namespace: &str,
    name: &str,
    policy: &Policy,
    view: &dyn ClusterView,
) -> Vec<Grant> {
    let mut out = Vec::new();
    for b in view.bindings_of_service_account(namespace, name) {
        let Some(role) = view
            .role(&b.role_kind, b.namespace.as_deref(), &b.role_name)
            .or_else(|| default_cluster_role(&b).map(Arc::new))
        else {
            continue;
        };
        out.extend(
            grants(&b, &role.label(), &effective(&role, view), policy)
                .into_iter()
                .filter(|g| {
                    let s = &b.subjects[g.subject];
                    &*s.kind == "ServiceAccount"
                        && &*s.name == name
                        && s.namespace.as_deref() == Some(namespace)
                }),
        );
    }
    out
}

fn violation(g: &Grant, from: &str) -> Violation {
    let drop = if g.verbs.is_empty() {
        "drop impersonate, bind/escalate and serviceaccounts/token create (whichever it grants)"
    } else {
        "drop create/update/patch on secrets (get is enough to read)"
    };
    Violation::new(
        &rules::SECRET_WRITE_GRANT,
        format!(
            "{from}: {} {} in {} through {} ({}), and the policy does not declare it a producer",
            g.who,
            g.what(),
            g.scope,
            g.binding,
            g.role
        ),
        format!(
            "if {} is a producer RFC-SECOPS-0001 recognises, declare it in policy.identities (operators: [{{name, users: [{}], class}}]) so every Secret it writes is judged as that producer's; otherwise {drop} from {} or remove the subject from {}; a value another namespace needs goes PushSecret -> Vault -> ExternalSecret",
            g.who, g.who, g.role, g.binding
        ),
    )
}

/// The user-facing ClusterRoles every cluster has (Kubernetes RBAC "default roles"), with the
/// Secret-write verbs they grant: `cluster-admin` everything, `admin` and `edit` create, update
/// and patch (and delete) on secrets in the namespace they are bound in, `view` no Secret access.
/// A binding to one of them in Git is judged without the role in the set.
const DEFAULT_CLUSTER_ROLES: [(&str, &[&str]); 4] = [
    ("cluster-admin", &["*"]),
    ("admin", &["create", "update", "patch"]),
    ("edit", &["create", "update", "patch"]),
    ("view", &[]),
];

fn default_cluster_role(binding: &BindingInfo) -> Option<RoleInfo> {
    let (name, verbs) = DEFAULT_CLUSTER_ROLES.iter().find(|(n, _)| {
        binding.role_kind.as_ref() == "ClusterRole" && binding.role_name.as_ref() == *n
    })?;
    Some(RoleInfo {
        kind: "ClusterRole",
        namespace: None,
        name: (*name).into(),
        labels: Default::default(),
        secret_writes: verbs.iter().map(|v| Box::from(*v)).collect(),
        escalation: Default::default(),
        aggregates: Box::default(),
        unresolved_selector: false,
    })
}

/// A binding whose role is neither in the view nor a default ClusterRole: a view that holds a
/// cluster's RBAC would make that "no such role, no grant"; any other view (`check` on a set of
/// manifests) cannot judge it and says so in the decision's missing context.
fn missing_role(binding: &BindingInfo, view: &dyn ClusterView) {
    if view.knows_rbac() || view.is_live() {
        return;
    }
    view.note_missing(Missing {
        kind: binding.role_kind.to_string(),
        namespace: match binding.role_kind.as_ref() {
            "Role" => binding.namespace.as_deref().map(str::to_owned),
            _ => None,
        },
        name: binding.role_name.to_string(),
        field: Some("roleRef".into()),
        needed_for: format!(
            "{} {}",
            rules::SECRET_WRITE_GRANT.id,
            rules::SECRET_WRITE_GRANT.slug
        ),
    });
}

/// VG501 for a RoleBinding or ClusterRoleBinding under review.
pub fn check_binding(
    binding: &Binding,
    review: &Review<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let kind = review.object.kind();
    let ns = review
        .namespace
        .or(binding.metadata.namespace.as_deref())
        .filter(|_| !kind.is_cluster_scoped());
    let info = BindingInfo::of(kind.as_str(), ns, review.name, binding);
    let Some(role) = view
        .role(&info.role_kind, ns, &info.role_name)
        .or_else(|| default_cluster_role(&info).map(Arc::new))
    else {
        missing_role(&info, view);
        return;
    };
    for g in grants(&info, &role.label(), &effective(&role, view), policy) {
        let at = format!("subjects[{}]", g.subject);
        out.push(violation(&g, &info.label()).at(at));
    }
}

/// VG501 for a Role or ClusterRole under review: its bindings from the view (for a ClusterRole
/// that an aggregated ClusterRole picks up, that role's bindings too).
pub fn check_role(
    role: &Role,
    review: &Review<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let kind = review.object.kind();
    let ns = review
        .namespace
        .or(role.metadata.namespace.as_deref())
        .filter(|_| !kind.is_cluster_scoped());
    let info = RoleInfo::of(kind.as_str(), ns, review.name, role);
    let own = effective(&info, view);
    let mut targets: Vec<(Arc<RoleInfo>, RoleInfo)> = vec![(Arc::new(info.clone()), own)];
    if kind.as_str() == "ClusterRole"
        && (!info.secret_writes.is_empty() || !info.escalation.is_empty())
    {
        for aggregator in view.cluster_roles() {
            if aggregator.name != info.name && aggregator.aggregates_labels(&info.labels) {
                targets.push((aggregator, info.clone()));
            }
        }
    }
    for (target, grant) in targets {
        for b in view.bindings_to(target.kind, target.namespace.as_deref(), &target.name) {
            for g in grants(&b, &target.label(), &grant, policy) {
                out.push(violation(&g, &info.label()).at("rules"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(kind: &str, name: &str, ns: Option<&str>) -> SubjectInfo {
        SubjectInfo {
            kind: kind.into(),
            name: name.into(),
            namespace: ns.map(Arc::from),
        }
    }

    #[test]
    fn producers_control_plane_and_masters_are_declared_writers() {
        let p = Policy::default();
        for s in [
            subject(
                "ServiceAccount",
                "external-secrets",
                Some("external-secrets"),
            ),
            subject(
                "ServiceAccount",
                "namespace-controller",
                Some("kube-system"),
            ),
            subject("User", "system:kube-controller-manager", None),
            subject("Group", "system:masters", None),
            subject("ServiceAccount", "vaultgate", Some("vaultgate-system")),
        ] {
            assert_eq!(undeclared(&s, &p), None, "{s:?}");
        }
    }

    #[test]
    fn scripts_humans_and_broad_groups_are_undeclared_writers() {
        let p = Policy::default();
        assert_eq!(
            undeclared(
                &subject("ServiceAccount", "root-token-sync", Some("vault")),
                &p
            )
            .as_deref(),
            Some("\"system:serviceaccount:vault:root-token-sync\"")
        );
        assert!(undeclared(&subject("User", "alice", None), &p).is_some());
        assert!(undeclared(&subject("Group", "system:serviceaccounts", None), &p).is_some());
        // A kube-system name claimed from another namespace is not kube-system.
        assert!(
            undeclared(
                &subject("ServiceAccount", "kube-system", Some("payments")),
                &p
            )
            .is_some()
        );
    }
}
