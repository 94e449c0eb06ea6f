//! What to do with Vault root material found in Kubernetes (VG111, RFC §7.2.1, §7.5). Nothing
//! replaces it in the cluster: there is no ExternalSecret, PushSecret or Vault path to suggest,
//! because the root token must not exist anywhere once Vault is initialized and the key shares
//! belong offline. Consumers that used the root token authenticate with Kubernetes auth.

use crate::policy::vault_material::VaultMaterial;

/// The fix other rules show for an object that also holds root material: their usual
/// suggestion (an ExternalSecret, a PushSecret to Vault) would distribute it.
pub const ROOT_MATERIAL_ELSEWHERE: &str = "remove the Vault root material first (see VG111): it is deleted, not moved to Vault or to another namespace";

/// The VG111 fix for the materials found, root token first.
pub fn root_material(found: &[VaultMaterial]) -> String {
    let root = found.iter().any(|m| m.has_root_token());
    let shares = found.iter().any(|m| m.has_key_shares());
    let mut steps = vec!["delete this object and remove its source from Git".to_owned()];
    if root {
        steps.push(
            "revoke the root token (`vault token revoke <token>`, `bao token revoke <token>`); when an administrator needs root again (break-glass), generate one with `vault operator generate-root` from the key-share holders and revoke it afterwards; never keep a copy of it anywhere, not in a Secret, not in Vault KV, not pulled by an ExternalSecret".to_owned(),
        );
        steps.push(
            "give each consumer that used it Kubernetes auth instead: a role per service account (`vault write auth/kubernetes/role/<name> bound_service_account_names=<sa> bound_service_account_namespaces=<ns> policies=<policy>`), so no token is stored in a Secret".to_owned(),
        );
    }
    if shares {
        steps.push(
            "keep unseal and recovery key shares offline, one PGP-encrypted share per operator (`vault operator rekey -init -key-shares=5 -key-threshold=3 -pgp-keys=...` issues new ones and voids the exposed set), or replace them with auto-unseal (a `seal \"transit\"` or cloud KMS stanza)".to_owned(),
        );
    }
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("({}) {s}", i + 1))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shapes a suggestion to store or pull the root token would take.
    const DISTRIBUTION: [&str; 8] = [
        "kind: ExternalSecret",
        "kind: PushSecret",
        "remoteRef",
        "remoteKey",
        "platform-data/",
        "platform-config/",
        "kv put",
        "handover-to",
    ];

    #[test]
    fn the_fix_never_stores_or_pulls_the_root_token() {
        for found in [
            &[VaultMaterial::RootToken][..],
            &[VaultMaterial::UnsealKey],
            &[VaultMaterial::RecoveryKey],
            &[VaultMaterial::InitOutput],
            &[VaultMaterial::RootToken, VaultMaterial::UnsealKey],
        ] {
            for text in [root_material(found), ROOT_MATERIAL_ELSEWHERE.to_owned()] {
                for shape in DISTRIBUTION {
                    assert!(!text.contains(shape), "{found:?}: {shape:?} in {text}");
                }
            }
        }
    }

    #[test]
    fn the_fix_names_revocation_kubernetes_auth_and_offline_shares_for_what_was_found() {
        let root = root_material(&[VaultMaterial::RootToken]);
        assert!(root.contains("token revoke") && root.contains("generate-root"));
        assert!(root.contains("auth/kubernetes/role"));
        assert!(!root.contains("auto-unseal"));
        let shares = root_material(&[VaultMaterial::UnsealKey]);
        assert!(shares.contains("offline") && shares.contains("auto-unseal"));
        assert!(!shares.contains("token revoke"));
        let init = root_material(&[VaultMaterial::InitOutput]);
        assert!(init.contains("token revoke") && init.contains("auto-unseal"));
    }
}
