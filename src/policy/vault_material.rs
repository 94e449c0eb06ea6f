//! Vault root and unseal material recognised by name (docs/rfc-digest.md §7.2.1, §7.5): the key
//! names `vault operator init` / `bao operator init` print and the ones common init sidecars and
//! charts store. Recognition is by key name only; values are never read. Shared by the Secret
//! rule (VG111), SealedSecret outputs in `check` and the workload-script rules.

/// What a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultMaterial {
    RootToken,
    UnsealKey,
    RecoveryKey,
}

impl VaultMaterial {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RootToken => "a Vault root token",
            Self::UnsealKey => "Vault unseal key material",
            Self::RecoveryKey => "Vault recovery key material",
        }
    }
}

/// Lowercase, with `-`, `.` and camelCase boundaries folded to `_` (`rootToken` → `root_token`).
fn normalize(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev_lower = false;
    for c in key.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(match c {
            '-' | '.' => '_',
            c => c.to_ascii_lowercase(),
        });
    }
    out
}

/// The material a Secret key (or a `--from-literal` / `--from-file` key) holds, if any.
pub fn classify_key(key: &str) -> Option<VaultMaterial> {
    let k = normalize(key);
    let k = k
        .strip_prefix("vault_")
        .or_else(|| k.strip_prefix("bao_"))
        .or_else(|| k.strip_prefix("openbao_"))
        .unwrap_or(&k);
    if matches!(k, "root_token" | "root" | "initial_root_token") {
        return Some(VaultMaterial::RootToken);
    }
    let numbered = |prefix: &str| {
        k.strip_prefix(prefix).is_some_and(|rest| {
            rest.is_empty()
                || rest
                    .trim_start_matches('_')
                    .chars()
                    .all(|c| c.is_ascii_digit())
                || matches!(rest, "s" | "s_b64" | "s_hex" | "s_base64" | "_b64" | "_hex")
        })
    };
    if numbered("unseal_key") || numbered("unseal") || matches!(k, "unseal_shares") {
        return Some(VaultMaterial::UnsealKey);
    }
    if numbered("recovery_key") {
        return Some(VaultMaterial::RecoveryKey);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_init_output_and_sidecar_key_names() {
        for key in [
            "root_token",
            "rootToken",
            "VAULT_ROOT_TOKEN",
            "vault-root",
            "root-token",
        ] {
            assert_eq!(classify_key(key), Some(VaultMaterial::RootToken), "{key}");
        }
        for key in [
            "unseal_keys_b64",
            "unseal_keys_hex",
            "unseal-key-1",
            "vault-unseal-0",
            "UNSEAL_KEY",
            "unsealKeys",
        ] {
            assert_eq!(classify_key(key), Some(VaultMaterial::UnsealKey), "{key}");
        }
        assert_eq!(
            classify_key("recovery_keys_b64"),
            Some(VaultMaterial::RecoveryKey)
        );
    }

    #[test]
    fn ordinary_credentials_are_not_vault_material() {
        for key in [
            "token",
            "password",
            "api_token",
            "VAULT_TOKEN",
            "vault-addr",
            "keys",
            "root-ca.crt",
            "rootca",
        ] {
            assert_eq!(classify_key(key), None, "{key}");
        }
    }
}
