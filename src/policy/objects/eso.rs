//! Typed views of the External Secrets Operator kinds (ExternalSecret, ClusterExternalSecret,
//! PushSecret, ClusterPushSecret, SecretStore, ClusterSecretStore) and their spec structs.
//!
//! ESO fields follow `external-secrets.io/v1` (ExternalSecret, stores) and `v1alpha1`
//! (PushSecret); `v1beta1` uses the same names for every field read here.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Meta, nullable};
use crate::policy::template::Template;

/// `secretStoreRef` / `storeRef`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreRef {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// Absent means `SecretStore` (ESO's default).
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub label_selector: Option<Value>,
}

impl StoreRef {
    pub fn kind_or_default(&self) -> &str {
        self.kind.as_deref().unwrap_or("SecretStore")
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorRef {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    #[serde(default)]
    pub store_ref: Option<StoreRef>,
    #[serde(default)]
    pub generator_ref: Option<GeneratorRef>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteRef {
    #[serde(default, deserialize_with = "nullable")]
    pub key: String,
    #[serde(default)]
    pub property: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EsData {
    #[serde(default, deserialize_with = "nullable")]
    pub secret_key: String,
    #[serde(default, deserialize_with = "nullable")]
    pub remote_ref: RemoteRef,
    #[serde(default)]
    pub source_ref: Option<SourceRef>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct FindName {
    #[serde(default)]
    pub regexp: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Find {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub name: Option<FindName>,
    #[serde(default)]
    pub tags: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EsDataFrom {
    #[serde(default)]
    pub extract: Option<RemoteRef>,
    #[serde(default)]
    pub find: Option<Find>,
    #[serde(default)]
    pub source_ref: Option<SourceRef>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub creation_policy: Option<String>,
    #[serde(default)]
    pub deletion_policy: Option<String>,
    /// `true` freezes the Secret: Kubernetes refuses every later write, rotations included.
    #[serde(default, deserialize_with = "nullable")]
    pub immutable: bool,
    #[serde(default)]
    pub template: Option<Template>,
    /// Fields not read here (`manifest`, ...), kept to catch case-changed spellings.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretSpec {
    #[serde(default)]
    pub secret_store_ref: Option<StoreRef>,
    #[serde(default, deserialize_with = "nullable")]
    pub target: Target,
    #[serde(default)]
    pub refresh_interval: Option<String>,
    #[serde(default)]
    pub refresh_policy: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub data: Vec<EsData>,
    #[serde(default, deserialize_with = "nullable")]
    pub data_from: Vec<EsDataFrom>,
}

impl ExternalSecretSpec {
    /// The Vault keys read by name: `data[].remoteRef.key` and `dataFrom[].extract.key`.
    pub fn vault_keys(&self) -> impl Iterator<Item = &str> {
        self.data.iter().map(|d| d.remote_ref.key.as_str()).chain(
            self.data_from
                .iter()
                .filter_map(|d| d.extract.as_ref().map(|e| e.key.as_str())),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct ExternalSecret {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: ExternalSecretSpec,
}

impl ExternalSecret {
    /// The Secret this ExternalSecret writes: `spec.target.name`, defaulting to its own name.
    pub fn target_name(&self) -> &str {
        self.spec
            .target
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .or(self.metadata.name.as_deref())
            .unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterExternalSecretSpec {
    #[serde(default, deserialize_with = "nullable")]
    pub external_secret_spec: ExternalSecretSpec,
    #[serde(default)]
    pub external_secret_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct ClusterExternalSecret {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: ClusterExternalSecretSpec,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct PushSelectorSecret {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub selector: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushSelector {
    #[serde(default)]
    pub secret: Option<PushSelectorSecret>,
    #[serde(default)]
    pub generator_ref: Option<GeneratorRef>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushRemoteRef {
    #[serde(default)]
    pub remote_key: Option<String>,
    #[serde(default)]
    pub property: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushMatch {
    #[serde(default)]
    pub secret_key: Option<String>,
    #[serde(default)]
    pub remote_ref: Option<PushRemoteRef>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct PushData {
    #[serde(rename = "match", default, deserialize_with = "nullable")]
    pub match_: PushMatch,
    #[serde(default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushSecretSpec {
    #[serde(default, deserialize_with = "nullable")]
    pub secret_store_refs: Vec<StoreRef>,
    #[serde(default)]
    pub selector: Option<PushSelector>,
    #[serde(default, deserialize_with = "nullable")]
    pub data: Vec<PushData>,
    #[serde(default, deserialize_with = "nullable")]
    pub data_to: Vec<Value>,
    #[serde(default)]
    pub refresh_interval: Option<String>,
    /// `Replace` (default: overwrite Vault every refresh) or `IfNotExists`.
    #[serde(default)]
    pub update_policy: Option<String>,
    #[serde(default)]
    pub template: Option<Template>,
}

impl PushSecretSpec {
    /// The named source Secret, when the selector names one.
    pub fn source_name(&self) -> Option<&str> {
        self.selector.as_ref()?.secret.as_ref()?.name.as_deref()
    }

    /// Every `remoteKey` this spec writes.
    pub fn remote_keys(&self) -> impl Iterator<Item = &str> {
        self.data
            .iter()
            .filter_map(|d| d.match_.remote_ref.as_ref()?.remote_key.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct PushSecret {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: PushSecretSpec,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPushSecretSpec {
    #[serde(default, deserialize_with = "nullable")]
    pub push_secret_spec: PushSecretSpec,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct ClusterPushSecret {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: ClusterPushSecretSpec,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct StoreSpec {
    /// Exactly one key names the provider (`vault`, `kubernetes`, ...).
    #[serde(default, deserialize_with = "nullable")]
    pub provider: Map<String, Value>,
}

/// A SecretStore or ClusterSecretStore.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Store {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: StoreSpec,
}

impl Store {
    /// The provider names configured (ESO requires exactly one).
    pub fn providers(&self) -> impl Iterator<Item = &str> {
        self.spec.provider.keys().map(String::as_str)
    }
}
