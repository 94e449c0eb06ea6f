//! Ready-to-paste fixes quoted in denials: the ExternalSecret that replaces a hand-made Secret,
//! and the PushSecret → Vault → ExternalSecret pair that replaces a copy. Key names are shown
//! (they are not secret); values never are.

use std::fmt::Write;

use super::{Policy, paths::is_identifier};

/// Generating systems commonly found in a Secret's name, used to suggest a datasource segment.
const DATASOURCES: [&str; 12] = [
    "postgres",
    "postgresql",
    "mysql",
    "mariadb",
    "redis",
    "mongodb",
    "kafka",
    "rabbitmq",
    "minio",
    "s3",
    "elasticsearch",
    "nats",
];

/// Suggests the `<datasource>` segment from a Secret's name (`temporal-postgres-creds` → `postgres`).
pub fn datasource_hint(secret_name: &str) -> String {
    let words: Vec<&str> = secret_name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if let Some(ds) = words
        .iter()
        .find_map(|w| DATASOURCES.iter().find(|d| w.eq_ignore_ascii_case(d)))
    {
        return (*ds).to_owned();
    }
    words
        .first()
        .map(|w| w.to_ascii_lowercase())
        .filter(|w| is_identifier(w))
        .unwrap_or_else(|| "app".to_owned())
}

fn approved_store(policy: &Policy) -> (&str, &str) {
    policy
        .stores
        .approved
        .first()
        .map_or(("ClusterSecretStore", "vault-backend"), |s| {
            (s.kind.as_str(), s.name.as_str())
        })
}

/// The conforming path a namespace reads its own data from.
pub fn data_path(datasource: &str, namespace: &str) -> String {
    format!("platform-data/{datasource}/{namespace}")
}

/// An ExternalSecret that materializes `name` in `namespace` from Vault. Its Secret carries
/// `labels` through `target.template.metadata` (how Argo CD's repository and cluster Secrets
/// are made: the `argocd.argoproj.io/secret-type` label is what Argo CD looks for).
pub fn external_secret(
    name: &str,
    namespace: &str,
    keys: &[&str],
    labels: &[(&str, &str)],
    policy: &Policy,
) -> String {
    let ds = datasource_hint(name);
    let path = data_path(&ds, namespace);
    let (kind, store) = approved_store(policy);
    let mut out = format!(
        "put the value in Vault at {path} (datasource {ds:?} guessed from the name; use the generating system), \
         then commit this ExternalSecret to Git instead of the Secret:\n\
         \x20   apiVersion: external-secrets.io/v1\n\
         \x20   kind: ExternalSecret\n\
         \x20   metadata:\n\
         \x20     name: {name}\n\
         \x20     namespace: {namespace}\n\
         \x20   spec:\n\
         \x20     refreshInterval: 1h\n\
         \x20     secretStoreRef:\n\
         \x20       kind: {kind}\n\
         \x20       name: {store}\n\
         \x20     target:\n\
         \x20       name: {name}\n\
         \x20       creationPolicy: Owner"
    );
    if !labels.is_empty() {
        out.push_str(
            "\n        template:\n          engineVersion: v2\n          mergePolicy: Merge\n          metadata:\n            labels:",
        );
        for (k, v) in labels {
            let _ = write!(out, "\n              {k}: {v}");
        }
    }
    out.push_str("\n      data:");
    let keys: Vec<&str> = if keys.is_empty() {
        vec!["password"]
    } else {
        keys.to_vec()
    };
    for key in keys.iter().take(16) {
        let property = if policy.vault.properties.iter().any(|p| p == key) {
            key
        } else {
            "password"
        };
        let _ = write!(
            out,
            "\n      - secretKey: {key}\n        remoteRef:\n          key: {path}\n          property: {property}"
        );
    }
    out
}

/// The Vault route for a value another namespace needs.
pub fn distribute_through_vault(name: &str, namespace: &str, policy: &Policy) -> String {
    let ds = datasource_hint(name);
    let (kind, store) = approved_store(policy);
    format!(
        "publish the value from the namespace that generates it with a PushSecret (store {kind}/{store}, \
         remoteKey platform-data/{ds}/<consumer-namespace>) and read it here with an ExternalSecret \
         (remoteRef.key platform-data/{ds}/{namespace}); remove the copy annotations and labels"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_known_datasource_or_first_word() {
        assert_eq!(datasource_hint("temporal-postgres-creds"), "postgres");
        assert_eq!(datasource_hint("db-creds"), "db");
        assert_eq!(datasource_hint("__"), "app");
    }

    #[test]
    fn external_secret_fix_uses_the_approved_store_and_a_conforming_path() {
        let fix = external_secret(
            "db-creds",
            "payments",
            &["username", "api-key"],
            &[],
            &Policy::default(),
        );
        assert!(fix.contains("kind: ClusterSecretStore"));
        assert!(fix.contains("name: vault-backend"));
        assert!(fix.contains("key: platform-data/db/payments"));
        assert!(fix.contains("secretKey: api-key"));
        assert!(
            crate::policy::paths::push_path_problems(
                "platform-data/db/payments",
                &Policy::default()
            )
            .is_empty()
        );
    }
}
