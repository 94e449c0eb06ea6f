//! Who wrote an existing object, decided from what the cluster holds: trusted signals first
//! (an ownerReference the view verifies, vaultgate's own admission stamps), then a field
//! manager from `metadata.managedFields` as an **inferred** hint. Managers are chosen by the
//! client (`kubectl --field-manager=…`, any API call's `fieldManager`), so an inferred producer
//! never earns a Secret a class: it is evaluated as the unknown writer it might be.

use serde::Serialize;

use super::FieldManager;
use crate::policy::{
    Identity, Policy,
    classify::Class,
    identity::UserPattern,
    objects::SecretObject,
    view::{self, ClusterView},
};

/// What kind of producer an object traces to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProducerKind {
    /// External Secrets, through an ExternalSecret owner that exists.
    Eso,
    /// A bootstrap decrypter: a SealedSecret owner that exists, or vaultgate's stamps.
    Decrypter,
    /// A registered operator, by the class label vaultgate stamped.
    Operator,
    /// Kubernetes itself (a service-account token shell).
    Kubernetes,
    /// vaultgate's `created-by` stamp names a writer that is none of the above.
    Stamped,
    /// A GitOps controller, inferred from a field manager (ESO objects and stores only).
    Gitops,
    /// Only a field manager names it.
    Manager,
    /// Nothing says who wrote it.
    Unknown,
}

/// The producer of an object and the identity its write is evaluated as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Producer {
    pub kind: ProducerKind,
    /// The producer's name: a decrypter or operator name, a username or a field manager.
    pub name: String,
    /// True when only a client-chosen hint (a field manager, a type annotation) says so.
    pub inferred: bool,
    /// The signal it was decided from, for a reader to check.
    pub signal: String,
    #[serde(skip)]
    pub identity: Identity,
}

impl Producer {
    /// The label the per-namespace counts group by.
    pub fn label(&self) -> String {
        match self.kind {
            ProducerKind::Unknown => "unknown".to_owned(),
            _ if self.inferred => format!("{} (inferred)", self.name),
            _ => self.name.clone(),
        }
    }
}

/// A username a pattern matches (`*` stands for one segment).
fn concrete(pattern: &UserPattern) -> String {
    pattern.as_str().replace('*', "audit")
}

fn identity(user: &str) -> Identity {
    Identity::new(user, crate::policy::identity::standard_groups(user))
}

fn producer(
    kind: ProducerKind,
    name: &str,
    user: &str,
    inferred: bool,
    signal: String,
) -> Producer {
    Producer {
        kind,
        name: name.to_owned(),
        inferred,
        signal,
        identity: identity(user),
    }
}

/// Whom no signal names: evaluated as a writer the policy does not know. The username cannot
/// match a policy pattern (it has a space), so a forged manager name never earns trust.
fn unknown(managers: &[FieldManager]) -> Producer {
    match writing_manager(managers) {
        Some(m) => Producer {
            kind: ProducerKind::Manager,
            name: m.manager.clone(),
            inferred: true,
            signal: format!("managedFields manager {} ({})", m.manager, m.operation),
            identity: Identity::new(format!("field manager {} (inferred)", m.manager), vec![]),
        },
        None => Producer {
            kind: ProducerKind::Unknown,
            name: "unknown".into(),
            inferred: false,
            signal: "no owner, stamp or field manager".into(),
            identity: Identity::new("unknown writer", vec![]),
        },
    }
}

/// The manager that wrote the object's content: the first entry on the main resource (a
/// `status` or `scale` subresource entry is a controller reporting, not the writer).
fn writing_manager(managers: &[FieldManager]) -> Option<&FieldManager> {
    managers.iter().find(|m| !m.subresource)
}

/// Field managers GitOps controllers use when they apply from Git.
const GITOPS_MANAGERS: [&str; 4] = [
    "argocd-controller",
    "argocd-application-controller",
    "kustomize-controller",
    "helm-controller",
];

/// The producer of an object that is not a Secret (ESO kinds and stores): only a GitOps
/// controller may write these (VG209), and nothing trusted records who did, so the field
/// manager is the only hint. A GitOps manager is evaluated as the policy's GitOps identity
/// (inferred); any other as the unknown writer it names, which VG209 reports.
pub fn of_object(managers: &[FieldManager], policy: &Policy) -> Producer {
    if let Some(m) = writing_manager(managers)
        && GITOPS_MANAGERS.contains(&m.manager.as_str())
        && let Some(user) = policy.identities.gitops.first()
    {
        return producer(
            ProducerKind::Gitops,
            &m.manager,
            &concrete(user),
            true,
            format!("managedFields manager {} ({})", m.manager, m.operation),
        );
    }
    unknown(managers)
}

/// The producer of an existing Secret, trusted signals first.
pub fn of_secret(
    secret: &SecretObject,
    namespace: &str,
    managers: &[FieldManager],
    policy: &Policy,
    view: &dyn ClusterView,
) -> Producer {
    let owners = secret.metadata.owner_references.iter().flatten();
    for o in owners {
        let verified = |kind: &str| view.owner_exists(namespace, kind, &o.name, &o.uid);
        if view::is_owner(&o.api_version, &o.kind, view::EXTERNAL_SECRET)
            && view.external_secret(namespace, &o.name).is_some()
            && verified("ExternalSecret") != Some(false)
            && let Some(user) = policy.identities.eso.first()
        {
            return producer(
                ProducerKind::Eso,
                "external-secrets",
                &concrete(user),
                false,
                format!("ownerReference ExternalSecret {}", o.name),
            );
        }
        if view::is_owner(&o.api_version, &o.kind, view::SEALED_SECRET)
            && verified("SealedSecret") == Some(true)
            && let Some((name, user)) = decrypter(policy, Some("sealed-secrets"))
        {
            return producer(
                ProducerKind::Decrypter,
                &name,
                &user,
                false,
                format!("ownerReference SealedSecret {}", o.name),
            );
        }
    }
    let key = |name: &str| policy.reserved_key(name).into_owned();
    // vaultgate's stamps: the validating webhook holds them to what it computed (VG104) since
    // it was installed.
    if let (Some(source), Some(by)) = (
        secret.label(&key("bootstrap-source")),
        secret.annotation(&key("created-by")),
    ) {
        let who = identity(by);
        let decrypter = crate::policy::identity::Writer::of(&who, policy).decrypter;
        let kind = match decrypter {
            Some(_) => ProducerKind::Decrypter,
            None => ProducerKind::Stamped,
        };
        return producer(
            kind,
            decrypter.unwrap_or(by),
            by,
            false,
            format!("vaultgate stamps bootstrap-source={source}, created-by"),
        );
    }
    if let Some(class) = secret.label(&key("secret-class")).and_then(Class::parse)
        && let Some(op) = policy.identities.operators.iter().find(|op| {
            op.class == class
                && (op.namespaces.is_empty() || op.namespaces.iter().any(|n| n == namespace))
                && (op.names.is_empty()
                    || op
                        .names
                        .iter()
                        .any(|n| Some(n.as_str()) == secret.metadata.name.as_deref()))
        })
        && let Some(user) = op.users.first()
    {
        return producer(
            ProducerKind::Operator,
            &op.name,
            &concrete(user),
            false,
            format!("vaultgate class label {}", class.as_str()),
        );
    }
    if secret.type_.as_deref() == Some("kubernetes.io/service-account-token")
        && let Some(user) = policy.identities.kubernetes.first()
    {
        return producer(
            ProducerKind::Kubernetes,
            "kubernetes",
            &concrete(user),
            true,
            "type kubernetes.io/service-account-token".into(),
        );
    }
    unknown(managers)
}

/// A decrypter's name and a username of it: the one named `preferred`, else the first.
fn decrypter(policy: &Policy, preferred: Option<&str>) -> Option<(String, String)> {
    let all = &policy.identities.bootstrap_decrypters;
    let d = all
        .iter()
        .find(|d| Some(d.name.as_str()) == preferred)
        .or_else(|| all.first())?;
    Some((d.name.clone(), concrete(d.users.first()?)))
}
