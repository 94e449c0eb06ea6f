//! Typed views of the objects vaultgate governs. Only the fields rules read are decoded:
//! Secret values are never decoded (only their keys), so a 1 MB Secret costs a key scan, and
//! nothing secret is ever held in a `String` that could reach a log.
//!
//! This file holds the governed kinds, [`Object`] and the core Secret; the External Secrets
//! Operator kinds live in `eso` and are re-exported here.

mod eso;

use std::collections::BTreeMap;

pub use super::meta::Meta;
use serde::{Deserialize, Deserializer, de::IgnoredAny};
use serde_json::Value;

pub use eso::{
    ClusterExternalSecret, ClusterExternalSecretSpec, ClusterPushSecret, ClusterPushSecretSpec,
    EsData, EsDataFrom, ExternalSecret, ExternalSecretSpec, Find, FindName, GeneratorRef, PushData,
    PushMatch, PushRemoteRef, PushSecret, PushSecretSpec, PushSelector, PushSelectorSecret,
    RemoteRef, SourceRef, Store, StoreRef, StoreSpec, Target,
};

/// Treats an explicit `null` like an absent field (CRDs with preserved unknown fields keep nulls).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The kinds vaultgate governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Secret,
    ExternalSecret,
    ClusterExternalSecret,
    PushSecret,
    ClusterPushSecret,
    SecretStore,
    ClusterSecretStore,
}

impl Kind {
    /// Every governed kind.
    pub const ALL: [Kind; 7] = [
        Self::Secret,
        Self::ExternalSecret,
        Self::ClusterExternalSecret,
        Self::PushSecret,
        Self::ClusterPushSecret,
        Self::SecretStore,
        Self::ClusterSecretStore,
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
            _ => None,
        }
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

/// A core Secret with its value keys but never its values.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct SecretObject {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Meta,
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub data: BTreeMap<String, IgnoredAny>,
    #[serde(rename = "stringData", default, deserialize_with = "nullable")]
    pub string_data: BTreeMap<String, IgnoredAny>,
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

    /// True when the Secret carries no value at all (an inert tombstone).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty() && self.string_data.is_empty()
    }

    /// The value keys, from `data` and `stringData`.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.data
            .keys()
            .chain(self.string_data.keys())
            .map(String::as_str)
    }
}
