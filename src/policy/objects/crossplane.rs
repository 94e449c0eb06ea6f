//! Typed views of Crossplane's Vault provider objects: the provider's credentials
//! ([`VaultProviderConfig`]) and the KV resources that write a value into Vault
//! ([`VaultKvSecret`]). Groups (docs/ARCHITECTURE.md §10.5): upbound `provider-vault`
//! (`vault.upbound.io` ProviderConfig; `kv.vault.upbound.io` SecretV2 and Secret;
//! `generic.vault.upbound.io` Secret; the namespaced `*.vault.m.upbound.io` /
//! `vault.m.upbound.io` variants with ClusterProviderConfig) and the older crossplane-contrib
//! `provider-jet-vault` (`vault.jet.crossplane.io` ProviderConfig,
//! `generic.vault.jet.crossplane.io` Secret). The value itself is never decoded: an inline
//! `dataJson` is recorded as present, nothing more.

use serde::{Deserialize, de::IgnoredAny};

use super::{Meta, nullable};

/// A ProviderConfig / ClusterProviderConfig of a Crossplane Vault provider.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct VaultProviderConfig {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: ProviderConfigSpec,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct ProviderConfigSpec {
    #[serde(default, deserialize_with = "nullable")]
    pub credentials: Credentials,
}

/// `spec.credentials`: `source` is `Secret`, `Environment`, `Filesystem`, `InjectedIdentity`,
/// `None`, or (upbound) `Kubernetes` for Vault's Kubernetes auth.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub secret_ref: Option<SecretKeySelector>,
}

/// A `{name, namespace, key}` reference to one key of a Secret.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct SecretKeySelector {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub key: String,
}

/// A KV resource writing a value to Vault (SecretV2, Secret).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct VaultKvSecret {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: KvSpec,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KvSpec {
    #[serde(default, deserialize_with = "nullable")]
    pub for_provider: KvParameters,
    #[serde(default, deserialize_with = "nullable")]
    pub init_provider: KvParameters,
}

/// `forProvider` / `initProvider` of a KV resource.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KvParameters {
    /// The value inline. Upbound's CRDs only define `dataJsonSecretRef` (the apiserver prunes
    /// an inline `dataJson` from their objects), but a manifest in Git still carries it, and
    /// other providers accept it. Presence only.
    #[serde(default)]
    pub data_json: Option<IgnoredAny>,
    #[serde(default)]
    pub data_json_secret_ref: Option<SecretKeySelector>,
    /// KV v2: mount + name.
    #[serde(default)]
    pub mount: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// KV v1 / generic: the full path.
    #[serde(default)]
    pub path: Option<String>,
}

impl KvParameters {
    /// The Vault path written, without the mount: `name` (KV v2) or `path` (KV v1 / generic)
    /// with its first segment (the mount) removed when `mount` is unset.
    pub fn vault_path(&self) -> Option<&str> {
        if let Some(name) = self.name.as_deref().filter(|n| !n.is_empty()) {
            return Some(name.trim_matches('/'));
        }
        let path = self.path.as_deref()?.trim_matches('/');
        Some(path.split_once('/').map_or(path, |(_, rest)| rest))
    }
}

impl KvSpec {
    /// Whichever of `forProvider` / `initProvider` names the value.
    pub fn params(&self) -> impl Iterator<Item = (&'static str, &KvParameters)> {
        [
            ("spec.forProvider", &self.for_provider),
            ("spec.initProvider", &self.init_provider),
        ]
        .into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_value_is_seen_but_never_kept() {
        let kv: VaultKvSecret = serde_json::from_value(serde_json::json!({
            "spec": {"forProvider": {"mount": "secret", "name": "platform-data/postgres/app",
                     "dataJson": "{\"password\":\"CANARY\"}"}}
        }))
        .unwrap();
        assert!(kv.spec.for_provider.data_json.is_some());
        assert!(!format!("{kv:?}").contains("CANARY"));
        assert_eq!(
            kv.spec.for_provider.vault_path(),
            Some("platform-data/postgres/app")
        );
        let v1 = KvParameters {
            path: Some("secret/platform-data/postgres/app".into()),
            ..KvParameters::default()
        };
        assert_eq!(v1.vault_path(), Some("platform-data/postgres/app"));
    }
}
