//! VG111: a Secret holding Vault (or OpenBao) root material — the root token, unseal or
//! recovery key shares, or the whole `operator init` output — is denied whoever writes it and
//! whatever its class (§7.2.1: the root of trust is kept offline; §7.5: no shared root
//! credential). That includes:
//!
//! - `bootstrap`: the digest's open point on "root and unseal material in K8s" (a Vault
//!   `vault-init` Secret holding the root token, copied by a Job) is settled on §7.2.1's side;
//!   key shares are not a bootstrap secret the handover should copy into Vault KV;
//! - `materialized`: ESO pulling `root_token` from Vault would mean the root token is kept in
//!   Vault KV, which §7.5 rules out as well (it is revoked after init);
//! - `system` and operators: only by key name, since their names are not chosen by hand.
//!
//! Recognition is in `vault_material`: by key name, and by a Secret name that says what it
//! holds (`vault-root-token`, `vault-unseal-keys`) when the keys are generic. A policy
//! silences the rule with `rules: {vault-root-material: warn|off}`; there is no annotation to
//! opt out (break-glass, honoured only for `identities.breakGlass`, turns it into a warning).

use super::{Write, target};
use crate::policy::{
    Violation,
    classify::Class,
    fix,
    objects::SecretObject,
    rules,
    vault_material::{VaultMaterial, classify_key, classify_name},
};

/// The root material a Secret holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Found<'a> {
    /// Keys named for root material, with what they hold.
    pub keys: Vec<(&'a str, VaultMaterial)>,
    /// What the Secret's name declares, when its keys are generic.
    pub by_name: Option<VaultMaterial>,
}

impl<'a> Found<'a> {
    /// What `secret` (named `name`, of `class`) holds. A `system` Secret is judged by its keys
    /// only; an empty Secret holds nothing.
    pub fn of(secret: &'a SecretObject, name: &str, class: Option<Class>) -> Self {
        let keys: Vec<(&str, VaultMaterial)> = secret
            .keys()
            .filter_map(|k| Some((k, classify_key(k)?)))
            .collect();
        let by_name = (keys.is_empty() && class != Some(Class::System) && !secret.is_empty())
            .then(|| classify_name(name))
            .flatten();
        Self { keys, by_name }
    }

    pub fn any(&self) -> bool {
        !self.keys.is_empty() || self.by_name.is_some()
    }

    /// Whether `key` is root material (every key is, for a Secret named for it).
    pub fn covers(&self, key: &str) -> bool {
        self.by_name.is_some() || self.keys.iter().any(|(k, _)| *k == key)
    }

    fn materials(&self) -> Vec<VaultMaterial> {
        let mut m: Vec<VaultMaterial> = self
            .keys
            .iter()
            .map(|(_, m)| *m)
            .chain(self.by_name)
            .collect();
        m.sort_unstable();
        m.dedup();
        m
    }
}

pub(super) fn root_material(write: Write<'_>, found: &Found<'_>, out: &mut Vec<Violation>) {
    if !found.any() {
        return;
    }
    let Write {
        review,
        writer,
        provenance,
        ..
    } = write;
    let class = provenance.class.map_or_else(
        || "unclassified".to_owned(),
        |c| format!("class {}", c.as_str()),
    );
    let (holds, at) = match found.by_name {
        Some(m) => (
            format!("is named for {} (its keys are generic)", m.as_str()),
            None,
        ),
        None => (
            format!(
                "holds {}",
                found
                    .keys
                    .iter()
                    .map(|(k, m)| format!("{} in key {k:?}", m.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            found.keys.first().map(|(k, _)| format!("data[{k:?}]")),
        ),
    };
    out.push(
        Violation::new(
            &rules::VAULT_ROOT_MATERIAL,
            format!(
                "Secret {:?} ({class}, written by {:?}) {holds}",
                target(review),
                writer.username
            ),
            fix::root_material(&found.materials()),
        )
        .at(at.unwrap_or_else(|| "metadata.name".to_owned())),
    );
}
