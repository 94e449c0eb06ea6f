//! Vault root and unseal material recognised by name (docs/rfc-digest.md §7.2.1, §7.5): the key
//! names `vault operator init -format=json` / `bao operator init -format=json` print
//! (`root_token`, `unseal_keys_b64`, `unseal_keys_hex`, `recovery_keys_b64`, ...), the fields of
//! the `sys/init` API answer (`keys_base64`, `recovery_keys_base64`), Bank-Vaults' Kubernetes
//! Secret storage (`vault-root`, `vault-unseal-N`, `vault-recovery-N`), unsealer controllers
//! (`unsealKey1`...) and init output stored whole as a file (`cluster-keys.json`, the name the
//! Vault-on-Kubernetes tutorials use). Recognition is by name only; values are never read.
//! Shared by the Secret rule (VG111), the ExternalSecret rule (VG111) and the fix texts.
//!
//! False positives are kept low on purpose: `token`, `VAULT_TOKEN`, `root-ca.crt`, `keys`, a
//! bare `root` or `recovery-codes` are not Vault material; the counts in init output
//! (`unseal_shares`, `unseal_threshold`) are not either.

/// What a key (or a Secret named for it) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VaultMaterial {
    RootToken,
    UnsealKey,
    RecoveryKey,
    /// The whole `operator init` output: the root token and every key share.
    InitOutput,
}

impl VaultMaterial {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RootToken => "a Vault root token",
            Self::UnsealKey => "Vault unseal key material",
            Self::RecoveryKey => "Vault recovery key material",
            Self::InitOutput => "Vault init output (root token and key shares)",
        }
    }

    /// Whether the material includes a root token (init output does).
    pub fn has_root_token(self) -> bool {
        matches!(self, Self::RootToken | Self::InitOutput)
    }

    /// Whether the material includes unseal or recovery key shares.
    pub fn has_key_shares(self) -> bool {
        !matches!(self, Self::RootToken)
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
            '-' | '.' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        });
    }
    out
}

/// `init.json` → (`init`, true): `--from-file` keys carry the file's extension.
fn split_file_extension(key: &str) -> (&str, bool) {
    for ext in [".json", ".yaml", ".yml", ".txt"] {
        if key.len() > ext.len() && key.to_ascii_lowercase().ends_with(ext) {
            return (&key[..key.len() - ext.len()], true);
        }
    }
    (key, false)
}

/// `vault_root` → (`root`, true).
fn strip_vault_word(k: &str) -> (&str, bool) {
    for prefix in ["vault_", "openbao_", "bao_"] {
        if let Some(rest) = k.strip_prefix(prefix) {
            return (rest, true);
        }
    }
    (k, false)
}

/// `prefix` alone, numbered (`_1`, `1`) or in an encoding suffix (`s`, `s_b64`, `_hex`, ...).
fn numbered(k: &str, prefix: &str) -> bool {
    k.strip_prefix(prefix).is_some_and(|rest| {
        let digits = rest.trim_start_matches('_');
        rest.is_empty()
            || (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
            || matches!(
                rest,
                "s" | "s_b64" | "s_hex" | "s_base64" | "_b64" | "_hex" | "_base64"
            )
    })
}

/// The material a Secret key (or an ExternalSecret `secretKey` / `property`) holds, if any.
pub fn classify_key(key: &str) -> Option<VaultMaterial> {
    let (stem, file) = split_file_extension(key);
    // Separators collapsed and trimmed (`root__token`, `.root_token` from `--from-file`).
    let normalized = normalize(stem)
        .split('_')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    let (k, vault) = strip_vault_word(&normalized);
    // An encoding suffix does not change what the value is (`root_token_b64`).
    let unencoded = ["_b64", "_base64", "_hex", "_encoded"]
        .iter()
        .find_map(|suffix| k.strip_suffix(suffix))
        .unwrap_or(k);
    if matches!(unencoded, "root_token" | "initial_root_token") || (vault && unencoded == "root") {
        return Some(VaultMaterial::RootToken);
    }
    if numbered(k, "unseal_key") || k == "keys_base64" || (vault && numbered(k, "unseal")) {
        return Some(VaultMaterial::UnsealKey);
    }
    if numbered(k, "recovery_key") || (vault && numbered(k, "recovery")) {
        return Some(VaultMaterial::RecoveryKey);
    }
    let init_file = matches!(k, "cluster_keys" | "init_keys" | "init_output")
        || (vault && matches!(k, "init" | "keys"));
    if file && init_file {
        return Some(VaultMaterial::InitOutput);
    }
    None
}

/// The material a Secret's (or an ExternalSecret target's) *name* declares, whatever its keys
/// are called. Conservative: a Vault word (`vault`, `bao`, `openbao`) followed by `root` (then
/// `token` or nothing), `unseal` or `recovery` then `key(s)`, or `init` then
/// `keys`/`output`/`data`. `vault-init`, `vault-token`, `vault-keys`, `vault-root-ca`,
/// `vault-unseal` and `vault-unseal-transit-token` are not: the last two are as often the token
/// a transit auto-unseal seal stanza needs, which is what the VG111 fix recommends.
pub fn classify_name(name: &str) -> Option<VaultMaterial> {
    let words: Vec<String> = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let start = words
        .iter()
        .position(|w| matches!(w.as_str(), "vault" | "bao" | "openbao"))?;
    let rest = &words[start + 1..];
    let keys_follow = |i: usize| {
        rest.get(i + 1)
            .is_some_and(|w| matches!(w.as_str(), "key" | "keys"))
    };
    rest.iter().enumerate().find_map(|(i, w)| match w.as_str() {
        "root" if rest.get(i + 1).is_none_or(|n| n == "token") => Some(VaultMaterial::RootToken),
        "unseal" if keys_follow(i) => Some(VaultMaterial::UnsealKey),
        "recovery" if keys_follow(i) => Some(VaultMaterial::RecoveryKey),
        "init"
            if rest
                .get(i + 1)
                .is_some_and(|n| matches!(n.as_str(), "keys" | "output" | "data")) =>
        {
            Some(VaultMaterial::InitOutput)
        }
        _ => None,
    })
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
            "root_token.txt",
            "initial-root-token",
            "bao-root",
            "root_token_b64",
            "vault_root_token_base64",
            "root__token",
            ".root_token",
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
            "unsealKey3",
            "keys_base64",
            "openbao-unseal-2",
        ] {
            assert_eq!(classify_key(key), Some(VaultMaterial::UnsealKey), "{key}");
        }
        for key in [
            "recovery_keys_b64",
            "recovery_keys_base64",
            "vault-recovery-0",
        ] {
            assert_eq!(classify_key(key), Some(VaultMaterial::RecoveryKey), "{key}");
        }
        for key in ["cluster-keys.json", "vault-init.json", "init-keys.json"] {
            assert_eq!(classify_key(key), Some(VaultMaterial::InitOutput), "{key}");
        }
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
            "root",
            "recovery",
            "recovery-codes",
            "unseal_shares",
            "unseal_threshold",
            "recovery_keys_threshold",
            "init.json",
            "config.json",
            "ca.crt",
        ] {
            assert_eq!(classify_key(key), None, "{key}");
        }
    }

    #[test]
    fn a_name_declares_material_only_when_it_says_root_unseal_recovery_or_init_keys() {
        for (name, m) in [
            ("vault-root-token", VaultMaterial::RootToken),
            ("vault-root", VaultMaterial::RootToken),
            ("openbao-root-token", VaultMaterial::RootToken),
            ("vault-unseal-keys", VaultMaterial::UnsealKey),
            ("vault-recovery-keys", VaultMaterial::RecoveryKey),
            ("vault-init-keys", VaultMaterial::InitOutput),
        ] {
            assert_eq!(classify_name(name), Some(m), "{name}");
        }
        for name in [
            "vault-init",
            "vault-token",
            "vault-keys",
            "vault-root-ca",
            "vault-unseal",
            "vault-unseal-transit-token",
            "vault-unsealer-config",
            "root-token-sync",
            "db-creds",
            "vault-tls",
        ] {
            assert_eq!(classify_name(name), None, "{name}");
        }
    }
}
