//! The cluster view without a cluster: approved stores from the policy (taken to be Vault, as
//! declared) plus the objects under evaluation, so `check` can judge cross-object rules
//! (PushSecret ↔ source Secret, two writers of one Secret, two namespaces claiming one path).

use std::collections::BTreeMap;

use super::{ClusterView, ExternalSecretInfo, OwnerRef, PushSecretInfo, SecretMeta, StoreInfo};
use crate::policy::{Policy, objects::Object};

/// An in-memory [`ClusterView`].
#[derive(Debug, Clone, Default)]
pub struct MemoryView {
    stores: BTreeMap<(String, String, String), StoreInfo>,
    secrets: BTreeMap<(String, String), SecretMeta>,
    externals: Vec<ExternalSecretInfo>,
    pushes: Vec<PushSecretInfo>,
}

impl MemoryView {
    /// A view holding only the policy's approved stores, declared as Vault providers.
    pub fn from_policy(policy: &Policy) -> Self {
        let mut view = Self::default();
        for s in &policy.stores.approved {
            view.stores.insert(
                (s.kind.clone(), String::new(), s.name.clone()),
                StoreInfo {
                    provider: Some("vault".into()),
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
            Object::Secret(s) => {
                let owners = s
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .map(|o| OwnerRef {
                        api_version: o.api_version.clone(),
                        kind: o.kind.clone(),
                        name: o.name.clone(),
                        uid: o.uid.clone(),
                        controller: o.controller == Some(true),
                    })
                    .collect();
                self.secrets.insert(
                    (ns, name),
                    SecretMeta {
                        labels: meta.labels.clone().unwrap_or_default(),
                        annotations: meta.annotations.clone().unwrap_or_default(),
                        owners,
                        type_: s.type_.clone(),
                    },
                );
            }
            Object::ExternalSecret(es) => {
                let keys = es
                    .spec
                    .data
                    .iter()
                    .map(|d| d.remote_ref.key.clone())
                    .chain(
                        es.spec
                            .data_from
                            .iter()
                            .filter_map(|d| d.extract.as_ref().map(|e| e.key.clone())),
                    )
                    .collect();
                self.externals.push(ExternalSecretInfo {
                    namespace: ns,
                    name,
                    target: es.target_name().to_owned(),
                    keys,
                });
            }
            Object::PushSecret(ps) => self.pushes.push(PushSecretInfo {
                namespace: ns,
                name,
                source: ps.spec.source_name().map(str::to_owned),
                paths: ps.spec.remote_keys().map(str::to_owned).collect(),
            }),
            Object::SecretStore(st) | Object::ClusterSecretStore(st) => {
                let kind = object.kind().as_str().to_owned();
                let store_ns = if matches!(object, Object::SecretStore(_)) {
                    ns
                } else {
                    String::new()
                };
                let mut providers = st.providers();
                let provider = match (providers.next(), providers.next()) {
                    (Some(p), None) => Some(p.to_owned()),
                    _ => None,
                };
                self.stores
                    .insert((kind, store_ns, name), StoreInfo { provider });
            }
            Object::ClusterExternalSecret(_) | Object::ClusterPushSecret(_) => {}
        }
    }
}

impl MemoryView {
    /// Records the Secret a SealedSecret will write, so another writer of it is caught.
    pub fn insert_sealed_output(&mut self, namespace: &str, name: &str) {
        let owner = OwnerRef {
            api_version: "bitnami.com/v1alpha1".into(),
            kind: "SealedSecret".into(),
            name: name.into(),
            uid: String::new(),
            controller: true,
        };
        self.secrets
            .entry((namespace.to_owned(), name.to_owned()))
            .or_default()
            .owners
            .push(owner);
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

    fn secret(&self, namespace: &str, name: &str) -> Option<SecretMeta> {
        self.secrets
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    fn external_secrets_targeting(&self, namespace: &str, secret: &str) -> Vec<ExternalSecretInfo> {
        self.externals
            .iter()
            .filter(|e| e.namespace == namespace && e.target == secret)
            .cloned()
            .collect()
    }

    fn push_secrets_from(&self, namespace: &str, secret: &str) -> Vec<PushSecretInfo> {
        self.pushes
            .iter()
            .filter(|p| p.namespace == namespace && p.source.as_deref() == Some(secret))
            .cloned()
            .collect()
    }

    fn external_secret(&self, namespace: &str, name: &str) -> Option<ExternalSecretInfo> {
        self.externals
            .iter()
            .find(|e| e.namespace == namespace && e.name == name)
            .cloned()
    }

    fn path_publishers(&self, path: &str) -> Vec<PushSecretInfo> {
        self.pushes
            .iter()
            .filter(|p| p.paths.iter().any(|q| q == path))
            .cloned()
            .collect()
    }
}
