//! Which Vault path and property each key of a hand-made Secret moves to, for the
//! ExternalSecret a denial suggests. Two keys never share a property: a key whose property is
//! taken goes to a path of its own, so `STRIPE_API_KEY` and `DATABASE_URL` no longer both read
//! `password` of one path (they would materialize the same value twice).
//!
//! Paths follow §5a.5: `platform-data/<datasource>/<consumer>` with the Secret's namespace as
//! the consumer, or `platform-config/<datasource>/<instance>` when every key is configuration
//! (Inv 8). The datasource is a generating system named in the key or the Secret's name, or an
//! explicit placeholder (see `DATASOURCE_PLACEHOLDER`).

use super::{DATASOURCE_PLACEHOLDER, datasource_hint};
use crate::policy::{Policy, paths};

/// At most this many entries are written out; the rest are counted.
const MAX_ENTRIES: usize = 16;
/// The instance segment of a suggested `platform-config/` path: the instance serving the
/// settings (`platform-postgres`), which nothing in a consumer's Secret names.
pub const INSTANCE_PLACEHOLDER: &str = "<instance>";

/// One key's place in Vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub secret_key: &'a str,
    pub path: String,
    pub property: String,
    /// The key names no standard property, so it is stored whole under a free one.
    pub fallback: bool,
}

/// Every key's place, distinct `(path, property)` pairs.
#[derive(Debug, Clone, Default)]
pub struct Mapping<'a> {
    pub entries: Vec<Entry<'a>>,
    /// Keys beyond [`MAX_ENTRIES`], not written out.
    pub omitted: usize,
    /// Every key is configuration: the paths are under `platform-config/`.
    pub config: bool,
}

impl Mapping<'_> {
    /// One sentence on where the paths and properties come from, for the fix text.
    pub fn explain(&self) -> String {
        let mut parts =
            vec!["write them with `vault kv put -mount=secret <path> <property>=...`".to_owned()];
        let datasources: Vec<&str> = self
            .entries
            .iter()
            .filter_map(|e| e.path.split('/').nth(1))
            .collect();
        if datasources.iter().any(|d| d.starts_with('<')) {
            parts.push(format!(
                "replace {DATASOURCE_PLACEHOLDER} with the generating system (postgres, redis, stripe, ...): nothing in the names says which, and a guessed word is as often the consumer's own name"
            ));
        }
        if datasources.iter().any(|d| d.starts_with("<datasource-")) {
            parts.push("keys that would share a property go to separate paths".to_owned());
        }
        if let Some(d) = datasources.iter().find(|d| !d.starts_with('<')) {
            parts.push(format!("datasource {d:?} is read from the names"));
        }
        if self.config {
            parts.push(format!(
                "every key is configuration, so the values go under platform-config/ (§5a.4.3), with {INSTANCE_PLACEHOLDER} the instance that serves them, e.g. platform-postgres"
            ));
        }
        let fallbacks: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.fallback)
            .map(|e| format!("{} as {}", e.secret_key, e.property))
            .collect();
        if !fallbacks.is_empty() {
            parts.push(format!(
                "keys that name no standard property are stored whole ({}); a connection URL is better stored as its parts and rebuilt with target.template",
                fallbacks.join(", ")
            ));
        }
        parts.join("; ")
    }
}

/// Maps `keys` of the Secret `name` read by `consumer` (its namespace).
pub fn map_keys<'a>(name: &str, consumer: &str, keys: &[&'a str], policy: &Policy) -> Mapping<'a> {
    let keys: &[&'a str] = if keys.is_empty() { &["password"] } else { keys };
    let config = paths::config_only(keys.iter().copied());
    let secret_ds = datasource_hint(name);
    let mut mapping = Mapping {
        omitted: keys.len().saturating_sub(MAX_ENTRIES),
        config,
        ..Mapping::default()
    };
    let fallbacks: Vec<&str> = ["token", "password"]
        .into_iter()
        .filter(|p| policy.vault.properties.iter().any(|a| a == p))
        .collect();
    let mut splits = 1;
    for key in keys.iter().copied().take(MAX_ENTRIES) {
        let ds = datasource_hint(key)
            .or(secret_ds)
            .unwrap_or(DATASOURCE_PLACEHOLDER)
            .to_owned();
        let named = if config {
            paths::config_property(key)
        } else {
            paths::property_for_key(key, policy)
        };
        let candidates: Vec<&str> = match named {
            Some(p) => vec![p],
            None => fallbacks.clone(),
        };
        let path_of = |ds: &str| {
            if config {
                format!("platform-config/{ds}/{INSTANCE_PLACEHOLDER}")
            } else {
                super::data_path(ds, consumer)
            }
        };
        let taken = |path: &str, p: &str| {
            mapping
                .entries
                .iter()
                .any(|e| e.path == path && e.property == p)
        };
        let path = path_of(&ds);
        let (path, property) = match candidates.iter().find(|p| !taken(&path, p)) {
            Some(p) => (path, (*p).to_owned()),
            None => {
                splits += 1;
                let split = path_of(&format!("<datasource-{splits}>"));
                let p = candidates.first().copied().unwrap_or("password");
                (split, p.to_owned())
            }
        };
        mapping.entries.push(Entry {
            secret_key: key,
            path,
            property,
            fallback: named.is_none(),
        });
    }
    mapping
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(m: &Mapping<'_>) -> Vec<(String, String)> {
        m.entries
            .iter()
            .map(|e| (e.path.clone(), e.property.clone()))
            .collect()
    }

    #[test]
    fn two_keys_never_share_a_property_of_one_path() {
        let p = Policy::default();
        for keys in [
            &["STRIPE_API_KEY", "DATABASE_URL"][..],
            &["password", "DB_PASSWORD", "ADMIN_PASSWORD"],
            &["a", "b", "c", "d"],
            &["api-token", "github-token", "GITHUB_TOKEN"],
        ] {
            let m = map_keys("payments-api-secrets", "payments", keys, &p);
            let mut all = pairs(&m);
            let n = all.len();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), n, "{keys:?}: {:?}", m.entries);
        }
    }

    #[test]
    fn a_named_system_is_the_datasource_and_the_consumer_is_the_namespace() {
        let p = Policy::default();
        let m = map_keys(
            "payments-api-secrets",
            "payments",
            &["STRIPE_API_KEY", "DATABASE_URL"],
            &p,
        );
        assert_eq!(m.entries[0].path, "platform-data/stripe/payments");
        assert_eq!(m.entries[0].property, "token");
        assert_eq!(m.entries[1].path, "platform-data/<datasource>/payments");
        assert!(m.entries[1].fallback);
        let m = map_keys(
            "temporal-postgres-creds",
            "temporal",
            &["username", "password"],
            &p,
        );
        assert_eq!(
            pairs(&m),
            [
                (
                    "platform-data/postgres/temporal".to_owned(),
                    "username".to_owned()
                ),
                (
                    "platform-data/postgres/temporal".to_owned(),
                    "password".to_owned()
                )
            ]
        );
    }

    #[test]
    fn configuration_keys_go_under_platform_config() {
        let m = map_keys(
            "db-endpoint",
            "payments",
            &["host", "port", "url"],
            &Policy::default(),
        );
        assert!(m.config);
        assert!(
            m.entries
                .iter()
                .all(|e| e.path.starts_with("platform-config/"))
        );
        assert_eq!(m.entries[2].property, "url");
    }
}
