//! What the cluster already holds, as the rules need it: stores and their providers, Secret
//! metadata (never data), ExternalSecret targets, PushSecret sources and Vault paths.
//!
//! [`ClusterView`] is the only way rules see beyond the object under review. Without a cluster
//! (`serve --dev`, `check`) it is a [`MemoryView`] built from the policy and the objects being
//! evaluated; in a cluster it is backed by kube-runtime reflectors, so a lookup is an in-memory
//! read and never an API call on the admission hot path.

pub mod live;
mod memory;
pub mod table;

use std::collections::BTreeMap;

pub use live::LiveView;
pub use memory::MemoryView;

/// An owner reference, as much of it as provenance checks need.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub controller: bool,
}

/// A Secret's metadata: labels, annotations, owners and type. Never its values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretMeta {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub owners: Vec<OwnerRef>,
    pub type_: Option<String>,
}

impl SecretMeta {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// Owned by an ExternalSecret, or carrying ESO's managed label.
    pub fn is_materialized(&self) -> bool {
        self.owners.iter().any(|o| {
            o.kind == "ExternalSecret" && group_of(&o.api_version) == "external-secrets.io"
        }) || self.label("reconcile.external-secrets.io/managed") == Some("true")
    }

    /// Owned by a SealedSecret.
    pub fn is_sealed(&self) -> bool {
        self.owners
            .iter()
            .any(|o| o.kind == "SealedSecret" && group_of(&o.api_version) == "bitnami.com")
    }
}

/// The API group of an `apiVersion` (`""` for the core group).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// A store as resolved in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// The provider key of `spec.provider` (`vault`, `kubernetes`, ...), if exactly one is set.
    pub provider: Option<String>,
}

/// An ExternalSecret as seen from the Secret it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalSecretInfo {
    pub namespace: String,
    pub name: String,
    pub target: String,
    /// Vault keys it reads (`remoteRef.key`, `extract.key`).
    pub keys: Vec<String>,
}

/// A PushSecret as seen from its source and its Vault paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSecretInfo {
    pub namespace: String,
    pub name: String,
    pub source: Option<String>,
    pub paths: Vec<String>,
}

/// Read-only lookups the rules need. Implementations must be cheap: they run per admission.
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

    /// Resolves a store reference. `None` means unknown.
    fn store(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<StoreInfo>;

    /// Metadata of an existing Secret.
    fn secret(&self, namespace: &str, name: &str) -> Option<SecretMeta>;

    /// ExternalSecrets in `namespace` whose target is `secret`.
    fn external_secrets_targeting(&self, namespace: &str, secret: &str) -> Vec<ExternalSecretInfo>;

    /// PushSecrets in `namespace` whose source is `secret`.
    fn push_secrets_from(&self, namespace: &str, secret: &str) -> Vec<PushSecretInfo>;

    /// PushSecrets (any namespace) that publish `path`.
    fn path_publishers(&self, path: &str) -> Vec<PushSecretInfo>;

    /// An ExternalSecret by name.
    fn external_secret(&self, _namespace: &str, _name: &str) -> Option<ExternalSecretInfo> {
        None
    }

    /// Keyed digest of a Secret value, when content-copy detection is on (None otherwise).
    fn digest_value(&self, _value: &[u8]) -> Option<String> {
        None
    }

    /// Secrets holding a value with this digest: (namespace, name, metadata).
    fn value_holders(&self, _digest: &str) -> Vec<(String, String, SecretMeta)> {
        Vec::new()
    }

    /// Whether an owner `kind/name` with `uid` exists in `namespace`. `None` when the view
    /// cannot tell (no live cluster), which rules treat as "not verifiable", not as forged.
    fn owner_exists(&self, _namespace: &str, _kind: &str, _name: &str, _uid: &str) -> Option<bool> {
        None
    }
}
