//! The handover digest key: stable across restarts and replicas, 32 random bytes in the Secret
//! `vaultgate-digest-key` (data key `key`) in the product namespace, created once; a replica
//! that loses the create race reads the winner's key. The digests themselves are
//! [`crate::digest`]'s.

use std::collections::BTreeMap;

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{Api, api::PostParams};

pub use crate::digest::{DigestKey, hex};

/// Name of the Secret that holds the digest key.
pub const KEY_SECRET: &str = "vaultgate-digest-key";
const KEY_FIELD: &str = "key";

/// Loads the digest key from `<namespace>/vaultgate-digest-key`, creating it once if absent.
pub async fn load_or_create(api: &Api<Secret>) -> anyhow::Result<DigestKey> {
    use anyhow::Context as _;
    let read = |secret: Secret| -> anyhow::Result<DigestKey> {
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(KEY_FIELD))
            .with_context(|| format!("Secret {KEY_SECRET} has no data key {KEY_FIELD:?}"))?;
        DigestKey::from_bytes(&bytes.0).map_err(|e| anyhow::anyhow!("Secret {KEY_SECRET}: {e}"))
    };
    if let Some(existing) = api
        .get_opt(KEY_SECRET)
        .await
        .with_context(|| format!("reading Secret {KEY_SECRET}"))?
    {
        return read(existing);
    }
    let bytes = DigestKey::generate_bytes().map_err(anyhow::Error::msg)?;
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(KEY_SECRET.into()),
            labels: Some(BTreeMap::from([
                ("app.kubernetes.io/name".to_owned(), "vaultgate".to_owned()),
                ("app.kubernetes.io/component".to_owned(), "handover".to_owned()),
            ])),
            annotations: Some(BTreeMap::from([(
                "kubernetes.io/description".to_owned(),
                "HMAC key of the handover content digests; keep it: digests made with another key do not compare".to_owned(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(KEY_FIELD.to_owned(), ByteString(bytes))])),
        immutable: Some(true),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(created) => {
            tracing::info!(secret = KEY_SECRET, "created the handover digest key");
            read(created)
        }
        Err(kube::Error::Api(status)) if status.is_already_exists() => {
            read(api.get(KEY_SECRET).await.with_context(|| {
                format!("reading Secret {KEY_SECRET} after losing the create race")
            })?)
        }
        Err(e) => Err(e).with_context(|| format!("creating Secret {KEY_SECRET}")),
    }
}
