//! The cluster view without a cluster: approved stores from the policy (taken to be Vault, as
//! declared) plus the objects under evaluation, so `check` can judge cross-object rules
//! (PushSecret ↔ source Secret, two writers of one Secret, two namespaces claiming one path).

use std::{collections::BTreeMap, sync::Arc};

use super::{
    ClusterView, ExternalSecretInfo, OwnerRef, PushSecretInfo, SecretMeta, StoreInfo, intern,
};
use crate::policy::view::{BindingInfo, RoleInfo};
use crate::policy::{Policy, objects::Object};

/// An in-memory [`ClusterView`].
#[derive(Debug, Clone, Default)]
pub struct MemoryView {
    stores: BTreeMap<(String, String, String), StoreInfo>,
    secrets: BTreeMap<(String, String), Arc<SecretMeta>>,
    externals: Vec<Arc<ExternalSecretInfo>>,
    pushes: Vec<Arc<PushSecretInfo>>,
    /// Roles and ClusterRoles, and their bindings (see [`MemoryView::insert_rbac`]).
    roles: Vec<Arc<RoleInfo>>,
    bindings: Vec<Arc<BindingInfo>>,
}

impl MemoryView {
    /// A view holding only the policy's approved stores, declared as Vault providers.
    pub fn from_policy(policy: &Policy) -> Self {
        let mut view = Self::default();
        for s in &policy.stores.approved {
            view.stores.insert(
                (s.kind.clone(), String::new(), s.name.clone()),
                StoreInfo {
                    provider: Some(intern("vault")),
                },
            );
        }
        view
    }

    /// Adds an object as if it existed in `namespace` (the object's own namespace wins).
    pub fn insert(&mut self, object: &Object, namespace: Option<&str>) {
        let meta = object.metadata();
        let ns = meta
            .namespace
            .as_deref()
            .or(namespace)
            .unwrap_or("")
            .to_owned();
        let name = object.name().to_owned();
        match object {
            // Unlike the live view's, every label and annotation is kept: the view does not
            // know the policy's prefix, and `check` holds few Secrets.
            Object::Secret(s) => {
                let meta = SecretMeta::of_object(meta, s.type_.as_deref(), |_, _| true);
                self.secrets.insert((ns, name), Arc::new(meta));
            }
            Object::ExternalSecret(es) => self
                .externals
                .push(Arc::new(ExternalSecretInfo::of(&ns, &name, es))),
            Object::PushSecret(ps) => self
                .pushes
                .push(Arc::new(PushSecretInfo::of(&ns, &name, ps))),
            Object::SecretStore(st) | Object::ClusterSecretStore(st) => {
                let kind = object.kind().as_str().to_owned();
                let store_ns = if matches!(object, Object::SecretStore(_)) {
                    ns
                } else {
                    String::new()
                };
                self.stores
                    .insert((kind, store_ns, name), StoreInfo::of(st));
            }
            Object::Role(_)
            | Object::ClusterRole(_)
            | Object::RoleBinding(_)
            | Object::ClusterRoleBinding(_) => self.insert_rbac(object, &ns, &name),
            Object::ClusterExternalSecret(_)
            | Object::ClusterPushSecret(_)
            | Object::Workload(..)
            | Object::VaultProviderConfig(_)
            | Object::VaultKvSecret(_) => {}
        }
    }
}

impl MemoryView {
    /// Records a role or binding. Cluster-scoped kinds ignore `namespace` (`check` hands every
    /// object its default namespace).
    fn insert_rbac(&mut self, object: &Object, namespace: &str, name: &str) {
        let ns = Some(namespace).filter(|_| !object.kind().is_cluster_scoped());
        let kind = object.kind().as_str();
        match object {
            Object::Role(r) | Object::ClusterRole(r) => {
                self.roles.push(Arc::new(RoleInfo::of(kind, ns, name, r)))
            }
            Object::RoleBinding(b) | Object::ClusterRoleBinding(b) => self
                .bindings
                .push(Arc::new(BindingInfo::of(kind, ns, name, b))),
            _ => {}
        }
    }
}

impl MemoryView {
    /// Records the Secret a SealedSecret will write, so another writer of it is caught.
    pub fn insert_sealed_output(&mut self, namespace: &str, name: &str) {
        let owner = OwnerRef {
            api_version: intern("bitnami.com/v1alpha1"),
            kind: intern("SealedSecret"),
            name: name.into(),
            controller: true,
            uid: Box::default(),
        };
        let meta = self
            .secrets
            .entry((namespace.to_owned(), name.to_owned()))
            .or_default();
        let meta = Arc::make_mut(meta);
        meta.owners = meta.owners.iter().cloned().chain([owner]).collect();
    }
}

impl ClusterView for MemoryView {
    fn store(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<StoreInfo> {
        let ns = if kind == "SecretStore" {
            namespace.unwrap_or("")
        } else {
            ""
        };
        self.stores
            .get(&(kind.to_owned(), ns.to_owned(), name.to_owned()))
            .cloned()
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<SecretMeta>> {
        self.secrets
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    fn external_secrets_targeting(
        &self,
        namespace: &str,
        secret: &str,
    ) -> Vec<Arc<ExternalSecretInfo>> {
        self.externals
            .iter()
            .filter(|e| &*e.namespace == namespace && &*e.target == secret)
            .cloned()
            .collect()
    }

    fn push_secrets_from(&self, namespace: &str, secret: &str) -> Vec<Arc<PushSecretInfo>> {
        self.pushes
            .iter()
            .filter(|p| &*p.namespace == namespace && p.source.as_deref() == Some(secret))
            .cloned()
            .collect()
    }

    fn external_secret(&self, namespace: &str, name: &str) -> Option<Arc<ExternalSecretInfo>> {
        self.externals
            .iter()
            .find(|e| &*e.namespace == namespace && &*e.name == name)
            .cloned()
    }

    fn role(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Arc<RoleInfo>> {
        let ns = namespace.filter(|_| kind == "Role");
        self.roles
            .iter()
            .find(|r| r.kind == kind && r.namespace.as_deref() == ns && &*r.name == name)
            .cloned()
    }

    fn cluster_roles(&self) -> Vec<Arc<RoleInfo>> {
        self.roles
            .iter()
            .filter(|r| r.kind == "ClusterRole")
            .cloned()
            .collect()
    }

    fn bindings_to(
        &self,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Vec<Arc<BindingInfo>> {
        self.bindings
            .iter()
            .filter(|b| b.refers_to(kind, namespace, name))
            .cloned()
            .collect()
    }

    fn bindings_of_service_account(&self, namespace: &str, name: &str) -> Vec<Arc<BindingInfo>> {
        self.bindings
            .iter()
            .filter(|b| b.binds_service_account(namespace, name))
            .cloned()
            .collect()
    }

    fn path_publishers(&self, path: &str) -> Vec<Arc<PushSecretInfo>> {
        self.pushes
            .iter()
            .filter(|p| p.paths.iter().any(|q| &**q == path))
            .cloned()
            .collect()
    }
}
