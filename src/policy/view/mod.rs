//! The port through which rules see beyond the object under review: [`ClusterView`] and the
//! records it hands out (store providers, Secret metadata, ExternalSecret targets, PushSecret
//! sources and Vault paths). It lives with the policy so the policy depends on nothing outside
//! it; `cluster` implements it (kube-runtime reflectors for a live cluster, an in-memory set for
//! `check` and `serve --dev`).

mod intern;
mod meta;
mod missing;
mod rbac;

use std::sync::Arc;

pub use intern::intern;
pub use meta::{
    ESO_MANAGED_LABEL, EXTERNAL_SECRET, OwnerRef, Pairs, SEALED_SECRET, SecretMeta, compact_meta,
    group_of, is_owner, kept_key, materialized,
};
pub use missing::Missing;
pub(crate) use missing::Recorder;
pub use rbac::{BindingInfo, RoleInfo, SubjectInfo};

use super::objects::{ExternalSecret, PushSecret, Store};

/// A store as resolved in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// The provider key of `spec.provider` (`vault`, `kubernetes`, ...), if exactly one is set.
    pub provider: Option<Arc<str>>,
}

impl StoreInfo {
    pub fn of(store: &Store) -> Self {
        let mut providers = store.providers();
        let provider = match (providers.next(), providers.next()) {
            (Some(p), None) => Some(intern(p)),
            _ => None,
        };
        Self { provider }
    }
}

/// An ExternalSecret as seen from the Secret it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalSecretInfo {
    pub namespace: Arc<str>,
    pub name: Box<str>,
    pub target: Box<str>,
    /// Vault keys it reads (`remoteRef.key`, `extract.key`).
    pub keys: Box<[Box<str>]>,
}

impl ExternalSecretInfo {
    pub fn of(namespace: &str, name: &str, es: &ExternalSecret) -> Self {
        Self {
            namespace: intern(namespace),
            name: name.into(),
            target: es.target_name().into(),
            keys: es.spec.vault_keys().map(Box::from).collect(),
        }
    }
}

/// A PushSecret as seen from its source and its Vault paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSecretInfo {
    pub namespace: Arc<str>,
    pub name: Box<str>,
    pub source: Option<Box<str>>,
    pub paths: Box<[Box<str>]>,
}

impl PushSecretInfo {
    pub fn of(namespace: &str, name: &str, ps: &PushSecret) -> Self {
        Self {
            namespace: intern(namespace),
            name: name.into(),
            source: ps.spec.source_name().map(Box::from),
            paths: ps.spec.remote_keys().map(Box::from).collect(),
        }
    }
}

/// Read-only lookups the rules need. Implementations must be cheap: they run per admission, so
/// a hit hands out `Arc`s to the stored records (a reference count, not a copy).
pub trait ClusterView: Send + Sync {
    /// True once every backing cache has synced (drives `/readyz`).
    fn synced(&self) -> bool {
        true
    }

    /// True when the view mirrors a live cluster, so absence means "does not exist" (an
    /// unknown store, a missing PushSecret source) rather than "not known here".
    fn is_live(&self) -> bool {
        false
    }

    /// Called by a rule, only when the view is not live, for an object it needed and did not
    /// find; [`crate::policy::evaluate`] collects these into `Decision::missing`. Views ignore it.
    fn note_missing(&self, _missing: Missing) {}

    /// Resolves a store reference. `None` means unknown.
    fn store(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<StoreInfo>;

    /// Metadata of an existing Secret.
    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<SecretMeta>>;

    /// ExternalSecrets in `namespace` whose target is `secret`.
    fn external_secrets_targeting(
        &self,
        namespace: &str,
        secret: &str,
    ) -> Vec<Arc<ExternalSecretInfo>>;

    /// PushSecrets in `namespace` whose source is `secret`.
    fn push_secrets_from(&self, namespace: &str, secret: &str) -> Vec<Arc<PushSecretInfo>>;

    /// PushSecrets (any namespace) that publish `path`.
    fn path_publishers(&self, path: &str) -> Vec<Arc<PushSecretInfo>>;

    /// An ExternalSecret by name.
    fn external_secret(&self, _namespace: &str, _name: &str) -> Option<Arc<ExternalSecretInfo>> {
        None
    }

    /// Keyed digest of a Secret value, when content-copy detection is on (None otherwise).
    fn digest_value(&self, _value: &[u8]) -> Option<String> {
        None
    }

    /// Secrets holding a value with this digest: (namespace, name, metadata).
    fn value_holders(&self, _digest: &str) -> Vec<(String, String, Arc<SecretMeta>)> {
        Vec::new()
    }

    /// Whether an owner `kind/name` with `uid` exists in `namespace`. `None` when the view
    /// cannot tell (no live cluster), which rules treat as "not verifiable", not as forged.
    fn owner_exists(&self, _namespace: &str, _kind: &str, _name: &str, _uid: &str) -> Option<bool> {
        None
    }

    /// True when the view holds every Role, ClusterRole and binding of the cluster, so a role
    /// it does not know does not exist. No view does yet: the live view watches no RBAC, and
    /// the memory view holds only the manifests under evaluation.
    fn knows_rbac(&self) -> bool {
        false
    }

    /// A Role (`namespace` set) or ClusterRole by name.
    fn role(&self, _kind: &str, _namespace: Option<&str>, _name: &str) -> Option<Arc<RoleInfo>> {
        None
    }

    /// Every ClusterRole, to resolve aggregation selectors.
    fn cluster_roles(&self) -> Vec<Arc<RoleInfo>> {
        Vec::new()
    }

    /// Bindings whose `roleRef` is this Role or ClusterRole.
    fn bindings_to(
        &self,
        _kind: &str,
        _namespace: Option<&str>,
        _name: &str,
    ) -> Vec<Arc<BindingInfo>> {
        Vec::new()
    }

    /// Bindings with the service account `namespace/name` as a subject.
    fn bindings_of_service_account(&self, _namespace: &str, _name: &str) -> Vec<Arc<BindingInfo>> {
        Vec::new()
    }
}
