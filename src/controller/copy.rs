//! The Vault side of one handover: health gate → create-only write (`cas=0`) → provenance
//! `custom_metadata` → read back → [`Verdict`](crate::policy::handover::Verdict). Kubernetes is
//! not touched here, so the whole sequence is testable against a bare OpenBao.
//!
//! Safety properties: nothing is written while Vault is sealed or uninitialized; an existing key
//! is never overwritten (check-and-set refuses it, and then neither data nor metadata is
//! touched unless Vault already holds exactly our value); provenance carries a keyed digest,
//! never a value.

use serde_json::{Map, Value};

use super::{
    digest::DigestKey,
    vault::{Current, Vault, VaultError},
};
use crate::policy::handover::{Held, Verdict, Written, gate, verdict};

/// `custom_metadata` key holding the keyed content digest.
pub const META_DIGEST: &str = "handover-content-digest";

/// Who handed what over, when: recorded in Vault's `custom_metadata` (never a value).
#[derive(Debug, Clone)]
pub struct Provenance<'a> {
    pub cluster: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    /// RFC 3339.
    pub at: &'a str,
    /// The Kubernetes identity of the controller (and its instance).
    pub actor: &'a str,
    /// Keyed digest of the bootstrap data.
    pub digest: &'a str,
}

impl Provenance<'_> {
    /// The `custom_metadata` entries (Vault allows at most 64 keys of ≤ 128 bytes, values ≤ 512).
    pub fn custom_metadata(&self) -> Map<String, Value> {
        let clip = |s: &str| -> Value {
            let mut end = s.len().min(512);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            Value::String(s[..end].to_owned())
        };
        let mut m = Map::new();
        m.insert(
            "handover-by".into(),
            clip(concat!("vaultgate ", env!("CARGO_PKG_VERSION"))),
        );
        m.insert("handover-source-cluster".into(), clip(self.cluster));
        m.insert(
            "handover-source".into(),
            clip(&format!("{}/{}", self.namespace, self.name)),
        );
        m.insert("handover-source-uid".into(), clip(self.uid));
        m.insert("handover-at".into(), clip(self.at));
        m.insert("handover-actor".into(), clip(self.actor));
        m.insert(META_DIGEST.into(), clip(self.digest));
        m
    }
}

fn held(key: &DigestKey, current: Current) -> Held {
    match current {
        Current::Nothing => Held::Nothing,
        Current::Deleted { version } => Held::Deleted { version },
        Current::Value { version, data } => Held::Value {
            version,
            digest: key.of_vault(&data),
        },
    }
}

/// Copies `data` to `path` exactly once. `Ok(Verdict::Blocked(_))` means no progress was made
/// (the Secret stays authoritative); `Err` means a call failed (same consequence).
pub async fn copy(
    vault: &Vault,
    key: &DigestKey,
    path: &str,
    data: &Map<String, Value>,
    provenance: &Provenance<'_>,
) -> Result<Verdict, VaultError> {
    if let Err(blocked) = gate(vault.health().await?) {
        return Ok(Verdict::Blocked(blocked));
    }
    let written = match vault.create(path, data).await? {
        Some(version) => {
            // Our create: the key is ours, so its provenance is recorded straight away.
            vault
                .merge_custom_metadata(path, &provenance.custom_metadata())
                .await?;
            Written::Created { version }
        }
        None => Written::AlreadyExists,
    };
    let outcome = verdict(
        provenance.digest,
        Some(written),
        &held(key, vault.read(path).await?),
    );
    if matches!(outcome, Verdict::Copied { wrote: false, .. }) {
        ensure_provenance(vault, path, provenance).await?;
    }
    Ok(outcome)
}

/// Re-reads what Vault holds for a `copied` Secret whose data changed since (no write).
pub async fn verify(
    vault: &Vault,
    key: &DigestKey,
    path: &str,
    ours: &str,
) -> Result<Verdict, VaultError> {
    Ok(verdict(ours, None, &held(key, vault.read(path).await?)))
}

/// Same value already in Vault (an earlier attempt crashed after the write, maybe before the
/// metadata): record provenance unless the key already carries our digest.
async fn ensure_provenance(
    vault: &Vault,
    path: &str,
    provenance: &Provenance<'_>,
) -> Result<(), VaultError> {
    let existing = vault.custom_metadata(path).await?.unwrap_or_default();
    if existing.get(META_DIGEST).and_then(Value::as_str) == Some(provenance.digest) {
        return Ok(());
    }
    vault
        .merge_custom_metadata(path, &provenance.custom_metadata())
        .await
}
