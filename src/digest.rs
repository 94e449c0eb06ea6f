//! The one keyed digester: HMAC-SHA256, hex-encoded, so a digest reveals nothing about a
//! low-entropy value (an unkeyed hash of a short password can be brute-forced). Two uses:
//! - the handover's content digests over a canonical encoding of a Secret's sorted (key, value)
//!   pairs, on a Secret annotation and in Vault's `custom_metadata`, with a key kept stable
//!   across restarts and replicas (`controller::digest::load_or_create`);
//! - the live view's per-value digests for content-copy detection (VG109), with a random key
//!   that never leaves this process, truncated to 128 bits (collision-safe for the purpose,
//!   half the memory).

use std::{collections::BTreeMap, fmt};

use k8s_openapi::ByteString;
use ring::{hmac, rand::SecureRandom};
use serde_json::{Map, Value};
const KEY_LEN: usize = 32;
/// Domain separation: a digest of this encoding can never equal one of another format.
const DOMAIN: &[u8] = b"vaultgate/content-digest/v1\n";
/// The same for one value's digest.
const VALUE_DOMAIN: &[u8] = b"vaultgate/value-digest/v1\n";

/// The HMAC key. `Debug` never shows it.
#[derive(Clone)]
pub struct DigestKey(hmac::Key);

impl fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DigestKey(<redacted>)")
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Type tag of a value in the canonical encoding: text (a Secret's bytes, a Vault string) or
/// another JSON value (its JSON text), so `"1"` and `1` differ.
const TEXT: u8 = 0;
const JSON: u8 = 1;

impl DigestKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < KEY_LEN {
            return Err(format!(
                "the digest key has {} bytes; at least {KEY_LEN} are needed",
                bytes.len()
            ));
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, bytes)))
    }

    /// A key of fresh random bytes that never leaves this process (`None` if the system random
    /// source fails).
    pub fn random() -> Option<Self> {
        Self::generate_bytes()
            .ok()
            .and_then(|bytes| Self::from_bytes(&bytes).ok())
    }

    /// One value's digest, truncated to 128 bits.
    pub fn of_value(&self, value: &[u8]) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(VALUE_DOMAIN);
        ctx.update(value);
        hex(&ctx.sign().as_ref()[..16])
    }

    /// A fresh random key (ring's system CSPRNG).
    pub fn generate_bytes() -> Result<Vec<u8>, String> {
        let mut key = vec![0u8; KEY_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| "the system random source failed".to_owned())?;
        Ok(key)
    }

    fn digest_pairs<'a>(&self, pairs: impl IntoIterator<Item = (&'a str, u8, &'a [u8])>) -> String {
        let mut sorted: Vec<(&str, u8, &[u8])> = pairs.into_iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(DOMAIN);
        ctx.update(&(sorted.len() as u64).to_be_bytes());
        for (key, tag, value) in sorted {
            ctx.update(&(key.len() as u64).to_be_bytes());
            ctx.update(key.as_bytes());
            ctx.update(&[tag]);
            ctx.update(&(value.len() as u64).to_be_bytes());
            ctx.update(value);
        }
        hex(ctx.sign().as_ref())
    }

    /// Digest of a Secret's `data`.
    pub fn of_secret(&self, data: &BTreeMap<String, ByteString>) -> String {
        self.digest_pairs(data.iter().map(|(k, v)| (k.as_str(), TEXT, v.0.as_slice())))
    }

    /// Digest of a KV v2 version's data. Strings digest like the same Secret bytes.
    pub fn of_vault(&self, data: &Map<String, Value>) -> String {
        let encoded: Vec<(&str, u8, Vec<u8>)> = data
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k.as_str(), TEXT, s.as_bytes().to_vec()),
                other => (k.as_str(), JSON, other.to_string().into_bytes()),
            })
            .collect();
        self.digest_pairs(encoded.iter().map(|(k, t, v)| (*k, *t, v.as_slice())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DigestKey {
        DigestKey::from_bytes(&[7u8; 32]).unwrap()
    }

    fn secret(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn secret_and_vault_forms_of_one_value_digest_alike() {
        let data = secret(&[("password", "hunter2"), ("username", "admin")]);
        let mut vault = Map::new();
        vault.insert("username".into(), Value::String("admin".into()));
        vault.insert("password".into(), Value::String("hunter2".into()));
        let d = key().of_secret(&data);
        assert_eq!(d, key().of_vault(&vault));
        assert_eq!(d.len(), 64);
        assert!(d.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!d.contains("hunter2"));
    }

    #[test]
    fn any_change_changes_the_digest() {
        let base = key().of_secret(&secret(&[("a", "1"), ("b", "2")]));
        for other in [
            secret(&[("a", "1"), ("b", "3")]),
            secret(&[("a", "1")]),
            secret(&[("a", "1"), ("b", "2"), ("c", "")]),
            secret(&[("a", "12"), ("b", "")]),
            secret(&[("ab", "1"), ("b", "2")]),
        ] {
            assert_ne!(base, key().of_secret(&other), "{other:?}");
        }
        let mut number = Map::new();
        number.insert("a".into(), Value::from(1));
        let mut text = Map::new();
        text.insert("a".into(), Value::String("1".into()));
        assert_ne!(key().of_vault(&number), key().of_vault(&text));
    }

    #[test]
    fn the_digest_depends_on_the_key() {
        let data = secret(&[("a", "1")]);
        assert_ne!(
            key().of_secret(&data),
            DigestKey::from_bytes(&[8u8; 32]).unwrap().of_secret(&data)
        );
    }

    #[test]
    fn short_keys_are_refused_and_debug_is_redacted() {
        assert!(DigestKey::from_bytes(&[1u8; 16]).is_err());
        assert_eq!(format!("{:?}", key()), "DigestKey(<redacted>)");
        assert_eq!(DigestKey::generate_bytes().unwrap().len(), 32);
    }

    #[test]
    fn a_value_digest_is_128_bits_keyed_and_distinct_from_a_content_digest() {
        let d = key().of_value(b"hunter2");
        assert_eq!(d.len(), 32);
        assert_ne!(
            d,
            DigestKey::from_bytes(&[8u8; 32])
                .unwrap()
                .of_value(b"hunter2")
        );
        assert_ne!(d, key().of_value(b"hunter3"));
        assert!(!key().of_secret(&secret(&[("", "hunter2")])).starts_with(&d));
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
