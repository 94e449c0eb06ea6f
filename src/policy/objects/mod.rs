//! Typed views of the objects vaultgate governs. Only the fields rules read are decoded:
//! Secret values are never decoded (only their keys), so a 1 MB Secret costs a key scan, and
//! nothing secret is ever held in a `String` that could reach a log.
//!
//! This file holds the governed kinds, [`Object`] and the core Secret; the External Secrets
//! Operator kinds live in `eso`, RBAC in `rbac`, workloads in `workload` and Crossplane's Vault
//! provider in `crossplane`, all re-exported here.

mod crossplane;
mod eso;
mod rbac;
mod workload;

use std::collections::BTreeMap;

pub use super::meta::Meta;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

pub use eso::{
    ClusterExternalSecret, ClusterExternalSecretSpec, ClusterPushSecret, ClusterPushSecretSpec,
    EsData, EsDataFrom, ExternalSecret, ExternalSecretSpec, Find, FindName, GeneratorRef, PushData,
    PushMatch, PushRemoteRef, PushSecret, PushSecretSpec, PushSelector, PushSelectorSecret,
    RemoteRef, SourceRef, Store, StoreRef, StoreSpec, Target,
};

pub use crossplane::{
    Credentials, KvParameters, KvSpec, ProviderConfigSpec, SecretKeySelector, VaultKvSecret,
    VaultProviderConfig,
};
pub use rbac::{
    AggregationRule, Binding, LabelSelector, PolicyRule, Role, RoleRef, SECRET_WRITE_VERBS, Subject,
};
pub use workload::{Container, EnvVar, PodSpec, Workload, pod_spec_path};

/// Treats an explicit `null` like an absent field (CRDs with preserved unknown fields keep nulls).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A Secret value reduced to a keyed 64-bit fingerprint: enough to tell, within this process,
/// whether an UPDATE changed a value (metadata-only housekeeping), never enough to recover or
/// match the value elsewhere. The key is random per process and nothing exports the number.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ValueDigest(u64);

impl std::fmt::Debug for ValueDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValueDigest(..)")
    }
}

fn value_key() -> &'static std::hash::RandomState {
    static KEY: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    KEY.get_or_init(std::hash::RandomState::new)
}

impl<'de> Deserialize<'de> for ValueDigest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, IgnoredAny, Visitor};
        use std::hash::BuildHasher;
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ValueDigest;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Secret value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ValueDigest, E> {
                Ok(ValueDigest(value_key().hash_one(v.as_bytes())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ValueDigest, E> {
                Ok(ValueDigest(value_key().hash_one(0u8)))
            }
            fn visit_none<E: de::Error>(self) -> Result<ValueDigest, E> {
                self.visit_unit()
            }
            // Not a string: the apiserver refuses it anyway; it only has to decode.
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ValueDigest, E> {
                Ok(ValueDigest(value_key().hash_one((1u8, v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ValueDigest, E> {
                Ok(ValueDigest(value_key().hash_one((2u8, v))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ValueDigest, E> {
                Ok(ValueDigest(value_key().hash_one((3u8, v))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ValueDigest, E> {
                Ok(ValueDigest(value_key().hash_one((4u8, v.to_bits()))))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<ValueDigest, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ValueDigest(value_key().hash_one(5u8)))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut a: A) -> Result<ValueDigest, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ValueDigest(value_key().hash_one(6u8)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The kinds vaultgate governs. The first seven are what the base webhook registration sends;
/// the hidden-control-plane kinds (RBAC, workloads, Crossplane's Vault provider) reach the
/// webhook only through the opt-in registration (README "Hidden control planes"), and `check`
/// judges them in any set of manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Secret,
    ExternalSecret,
    ClusterExternalSecret,
    PushSecret,
    ClusterPushSecret,
    SecretStore,
    ClusterSecretStore,
    Role,
    ClusterRole,
    RoleBinding,
    ClusterRoleBinding,
    Pod,
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    /// ProviderConfig or ClusterProviderConfig of a Crossplane Vault provider.
    VaultProviderConfig,
    /// A Crossplane Vault KV resource (SecretV2, Secret) that writes a value into Vault.
    VaultKvSecret,
}

impl Kind {
    /// Every governed kind.
    pub const ALL: [Kind; 19] = [
        Self::Secret,
        Self::ExternalSecret,
        Self::ClusterExternalSecret,
        Self::PushSecret,
        Self::ClusterPushSecret,
        Self::SecretStore,
        Self::ClusterSecretStore,
        Self::Role,
        Self::ClusterRole,
        Self::RoleBinding,
        Self::ClusterRoleBinding,
        Self::Pod,
        Self::Deployment,
        Self::StatefulSet,
        Self::DaemonSet,
        Self::Job,
        Self::CronJob,
        Self::VaultProviderConfig,
        Self::VaultKvSecret,
    ];

    /// Resolves an API group + kind (any served version) to a governed kind.
    pub fn from_group_kind(group: &str, kind: &str) -> Option<Self> {
        match (group, kind) {
            ("", "Secret") => Some(Self::Secret),
            ("external-secrets.io", "ExternalSecret") => Some(Self::ExternalSecret),
            ("external-secrets.io", "ClusterExternalSecret") => Some(Self::ClusterExternalSecret),
            ("external-secrets.io", "PushSecret") => Some(Self::PushSecret),
            ("external-secrets.io", "ClusterPushSecret") => Some(Self::ClusterPushSecret),
            ("external-secrets.io", "SecretStore") => Some(Self::SecretStore),
            ("external-secrets.io", "ClusterSecretStore") => Some(Self::ClusterSecretStore),
            ("rbac.authorization.k8s.io", "Role") => Some(Self::Role),
            ("rbac.authorization.k8s.io", "ClusterRole") => Some(Self::ClusterRole),
            ("rbac.authorization.k8s.io", "RoleBinding") => Some(Self::RoleBinding),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding") => Some(Self::ClusterRoleBinding),
            ("", "Pod") => Some(Self::Pod),
            ("apps", "Deployment") => Some(Self::Deployment),
            ("apps", "StatefulSet") => Some(Self::StatefulSet),
            ("apps", "DaemonSet") => Some(Self::DaemonSet),
            ("batch", "Job") => Some(Self::Job),
            ("batch", "CronJob") => Some(Self::CronJob),
            (
                "vault.upbound.io" | "vault.m.upbound.io" | "vault.jet.crossplane.io",
                "ProviderConfig" | "ClusterProviderConfig",
            ) => Some(Self::VaultProviderConfig),
            ("kv.vault.upbound.io" | "kv.vault.m.upbound.io", "SecretV2" | "Secret")
            | (
                "generic.vault.upbound.io"
                | "generic.vault.m.upbound.io"
                | "generic.vault.jet.crossplane.io",
                "Secret",
            ) => Some(Self::VaultKvSecret),
            _ => None,
        }
    }

    /// The API group a kind is served under (for the Crossplane kinds, upbound's cluster-scoped
    /// group; the others resolve through [`Kind::from_group_kind`]).
    pub fn api_group(self) -> &'static str {
        match self {
            Self::Secret | Self::Pod => "",
            Self::ExternalSecret
            | Self::ClusterExternalSecret
            | Self::PushSecret
            | Self::ClusterPushSecret
            | Self::SecretStore
            | Self::ClusterSecretStore => "external-secrets.io",
            Self::Role | Self::ClusterRole | Self::RoleBinding | Self::ClusterRoleBinding => {
                "rbac.authorization.k8s.io"
            }
            Self::Deployment | Self::StatefulSet | Self::DaemonSet => "apps",
            Self::Job | Self::CronJob => "batch",
            Self::VaultProviderConfig => "vault.upbound.io",
            Self::VaultKvSecret => "kv.vault.upbound.io",
        }
    }

    /// Kinds without a namespace (for Crossplane, upbound's cluster-scoped spellings; the
    /// namespaced `.m.` variants carry `metadata.namespace`).
    pub fn is_cluster_scoped(self) -> bool {
        matches!(
            self,
            Self::ClusterExternalSecret
                | Self::ClusterPushSecret
                | Self::ClusterSecretStore
                | Self::ClusterRole
                | Self::ClusterRoleBinding
        )
    }

    /// A workload whose pod spec the script and service-account rules read.
    pub fn is_workload(self) -> bool {
        matches!(
            self,
            Self::Pod
                | Self::Deployment
                | Self::StatefulSet
                | Self::DaemonSet
                | Self::Job
                | Self::CronJob
        )
    }

    /// Resolves an `apiVersion` + `kind` pair as found in a manifest.
    pub fn from_api_version(api_version: &str, kind: &str) -> Option<Self> {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        Self::from_group_kind(group, kind)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "Secret",
            Self::ExternalSecret => "ExternalSecret",
            Self::ClusterExternalSecret => "ClusterExternalSecret",
            Self::PushSecret => "PushSecret",
            Self::ClusterPushSecret => "ClusterPushSecret",
            Self::SecretStore => "SecretStore",
            Self::ClusterSecretStore => "ClusterSecretStore",
            Self::Role => "Role",
            Self::ClusterRole => "ClusterRole",
            Self::RoleBinding => "RoleBinding",
            Self::ClusterRoleBinding => "ClusterRoleBinding",
            Self::Pod => "Pod",
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::Job => "Job",
            Self::CronJob => "CronJob",
            Self::VaultProviderConfig => "ProviderConfig",
            Self::VaultKvSecret => "SecretV2",
        }
    }

    pub fn is_secret(self) -> bool {
        self == Self::Secret
    }
}

/// A governed object.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Secret(SecretObject),
    ExternalSecret(ExternalSecret),
    ClusterExternalSecret(ClusterExternalSecret),
    PushSecret(PushSecret),
    ClusterPushSecret(ClusterPushSecret),
    SecretStore(Store),
    ClusterSecretStore(Store),
    Role(Role),
    ClusterRole(Role),
    RoleBinding(Binding),
    ClusterRoleBinding(Binding),
    /// Pod, Deployment, StatefulSet, DaemonSet, Job or CronJob (the kind says which).
    Workload(Kind, Workload),
    VaultProviderConfig(VaultProviderConfig),
    VaultKvSecret(VaultKvSecret),
}

impl Object {
    /// Decodes a JSON object of the given kind. Errors are infrastructure (HTTP 400), not policy.
    pub fn from_json(kind: Kind, json: &str) -> Result<Self, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(json);
        let object = Self::deserialize_kind(kind, &mut de)?;
        de.end()?;
        Ok(object)
    }

    /// Decodes an object of the given kind from any deserializer: the admission decoder calls
    /// this in the middle of the AdmissionReview, so the object is read in the same pass.
    pub fn deserialize_kind<'de, D: Deserializer<'de>>(kind: Kind, d: D) -> Result<Self, D::Error> {
        Ok(match kind {
            Kind::Secret => Self::Secret(Deserialize::deserialize(d)?),
            Kind::ExternalSecret => Self::ExternalSecret(Deserialize::deserialize(d)?),
            Kind::ClusterExternalSecret => {
                Self::ClusterExternalSecret(Deserialize::deserialize(d)?)
            }
            Kind::PushSecret => Self::PushSecret(Deserialize::deserialize(d)?),
            Kind::ClusterPushSecret => Self::ClusterPushSecret(Deserialize::deserialize(d)?),
            Kind::SecretStore => Self::SecretStore(Deserialize::deserialize(d)?),
            Kind::ClusterSecretStore => Self::ClusterSecretStore(Deserialize::deserialize(d)?),
            Kind::Role => Self::Role(Deserialize::deserialize(d)?),
            Kind::ClusterRole => Self::ClusterRole(Deserialize::deserialize(d)?),
            Kind::RoleBinding => Self::RoleBinding(Deserialize::deserialize(d)?),
            Kind::ClusterRoleBinding => Self::ClusterRoleBinding(Deserialize::deserialize(d)?),
            Kind::Pod
            | Kind::Deployment
            | Kind::StatefulSet
            | Kind::DaemonSet
            | Kind::Job
            | Kind::CronJob => Self::Workload(kind, Workload::deserialize_kind(kind, d)?),
            Kind::VaultProviderConfig => Self::VaultProviderConfig(Deserialize::deserialize(d)?),
            Kind::VaultKvSecret => Self::VaultKvSecret(Deserialize::deserialize(d)?),
        })
    }

    /// Decodes an already-parsed value (the `check` CLI reads YAML into values).
    pub fn from_value(kind: Kind, value: Value) -> Result<Self, serde_json::Error> {
        Self::deserialize_kind(kind, value)
    }

    pub fn kind(&self) -> Kind {
        match self {
            Self::Secret(_) => Kind::Secret,
            Self::ExternalSecret(_) => Kind::ExternalSecret,
            Self::ClusterExternalSecret(_) => Kind::ClusterExternalSecret,
            Self::PushSecret(_) => Kind::PushSecret,
            Self::ClusterPushSecret(_) => Kind::ClusterPushSecret,
            Self::SecretStore(_) => Kind::SecretStore,
            Self::ClusterSecretStore(_) => Kind::ClusterSecretStore,
            Self::Role(_) => Kind::Role,
            Self::ClusterRole(_) => Kind::ClusterRole,
            Self::RoleBinding(_) => Kind::RoleBinding,
            Self::ClusterRoleBinding(_) => Kind::ClusterRoleBinding,
            Self::Workload(kind, _) => *kind,
            Self::VaultProviderConfig(_) => Kind::VaultProviderConfig,
            Self::VaultKvSecret(_) => Kind::VaultKvSecret,
        }
    }

    pub fn metadata(&self) -> &Meta {
        match self {
            Self::Secret(o) => &o.metadata,
            Self::ExternalSecret(o) => &o.metadata,
            Self::ClusterExternalSecret(o) => &o.metadata,
            Self::PushSecret(o) => &o.metadata,
            Self::ClusterPushSecret(o) => &o.metadata,
            Self::SecretStore(o) | Self::ClusterSecretStore(o) => &o.metadata,
            Self::Role(o) | Self::ClusterRole(o) => &o.metadata,
            Self::RoleBinding(o) | Self::ClusterRoleBinding(o) => &o.metadata,
            Self::Workload(_, o) => &o.metadata,
            Self::VaultProviderConfig(o) => &o.metadata,
            Self::VaultKvSecret(o) => &o.metadata,
        }
    }

    /// `metadata.name`, falling back to `generateName` (a prefix) when the name is not set yet.
    pub fn name(&self) -> &str {
        let m = self.metadata();
        m.name
            .as_deref()
            .or(m.generate_name.as_deref())
            .unwrap_or("")
    }
}

/// A core Secret with its value keys and keyed fingerprints, never its values.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct SecretObject {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Meta,
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub data: BTreeMap<String, ValueDigest>,
    #[serde(rename = "stringData", default, deserialize_with = "nullable")]
    pub string_data: BTreeMap<String, ValueDigest>,
    /// An immutable Secret can no longer be refreshed: ESO could not propagate a rotation.
    #[serde(default)]
    pub immutable: Option<bool>,
}

impl SecretObject {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.metadata.labels.as_ref()?.get(key).map(String::as_str)
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()?
            .get(key)
            .map(String::as_str)
    }

    /// Owned by an ExternalSecret, or carrying ESO's managed label.
    pub fn is_materialized(&self) -> bool {
        super::view::materialized(
            self.metadata
                .owner_references
                .iter()
                .flatten()
                .map(|o| (o.api_version.as_str(), o.kind.as_str())),
            self.label(super::view::ESO_MANAGED_LABEL),
        )
    }

    /// Owned by a SealedSecret.
    pub fn is_sealed(&self) -> bool {
        self.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| super::view::is_owner(&o.api_version, &o.kind, super::view::SEALED_SECRET))
    }

    /// True when the Secret carries no value at all (an inert tombstone).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty() && self.string_data.is_empty()
    }

    /// Whether an UPDATE from `old` left the content alone: the same `type`, the same `data`
    /// (keys and values), no `stringData`, and `immutable` as it was (setting it would stop the
    /// producer from ever refreshing the value).
    pub fn same_content_as(&self, old: &SecretObject) -> bool {
        self.type_ == old.type_
            && self.data == old.data
            && self.string_data.is_empty()
            && self.immutable.unwrap_or(false) == old.immutable.unwrap_or(false)
    }

    /// The value keys, from `data` and `stringData`.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.data
            .keys()
            .chain(self.string_data.keys())
            .map(String::as_str)
    }
}
