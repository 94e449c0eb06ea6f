//! The cluster view as it was before an existing object was written: the object itself is
//! hidden, so "written now by its producer" is judged as that write, not as a second write
//! over itself (a handed-over bootstrap Secret would otherwise read as its own re-population).

use std::sync::Arc;

use crate::policy::view::{
    BindingInfo, ClusterView, ExternalSecretInfo, Missing, PushSecretInfo, RoleInfo, SecretMeta,
    StoreInfo,
};

/// `inner` without the Secret `namespace/name`.
pub struct Unwritten<'a> {
    pub inner: &'a dyn ClusterView,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl ClusterView for Unwritten<'_> {
    fn synced(&self) -> bool {
        self.inner.synced()
    }

    fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    fn note_missing(&self, missing: Missing) {
        self.inner.note_missing(missing)
    }

    fn store(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<StoreInfo> {
        self.inner.store(kind, namespace, name)
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<SecretMeta>> {
        if (namespace, name) == (self.namespace, self.name) {
            return None;
        }
        self.inner.secret(namespace, name)
    }

    fn external_secrets_targeting(
        &self,
        namespace: &str,
        secret: &str,
    ) -> Vec<Arc<ExternalSecretInfo>> {
        self.inner.external_secrets_targeting(namespace, secret)
    }

    fn push_secrets_from(&self, namespace: &str, secret: &str) -> Vec<Arc<PushSecretInfo>> {
        self.inner.push_secrets_from(namespace, secret)
    }

    fn path_publishers(&self, path: &str) -> Vec<Arc<PushSecretInfo>> {
        self.inner.path_publishers(path)
    }

    fn external_secret(&self, namespace: &str, name: &str) -> Option<Arc<ExternalSecretInfo>> {
        self.inner.external_secret(namespace, name)
    }

    fn digest_value(&self, value: &[u8]) -> Option<String> {
        self.inner.digest_value(value)
    }

    fn value_holders(&self, digest: &str) -> Vec<(String, String, Arc<SecretMeta>)> {
        self.inner.value_holders(digest)
    }

    fn owner_exists(&self, namespace: &str, kind: &str, name: &str, uid: &str) -> Option<bool> {
        self.inner.owner_exists(namespace, kind, name, uid)
    }

    fn knows_rbac(&self) -> bool {
        self.inner.knows_rbac()
    }

    fn role(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Arc<RoleInfo>> {
        self.inner.role(kind, namespace, name)
    }

    fn cluster_roles(&self) -> Vec<Arc<RoleInfo>> {
        self.inner.cluster_roles()
    }

    fn bindings_to(
        &self,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Vec<Arc<BindingInfo>> {
        self.inner.bindings_to(kind, namespace, name)
    }

    fn bindings_of_service_account(&self, namespace: &str, name: &str) -> Vec<Arc<BindingInfo>> {
        self.inner.bindings_of_service_account(namespace, name)
    }
}
