//! Ready-to-paste fixes quoted in denials: the ExternalSecret that replaces a hand-made Secret,
//! the PushSecret → Vault → ExternalSecret pair that replaces a copy, the handover that
//! replaces a bootstrap re-push, and what to do with Vault root material (which nothing in
//! Kubernetes replaces). Key names are shown (they are not secret); values never are.
//!
//! Every suggestion is itself allowed by the rules once its placeholders are filled in: keys
//! map to distinct properties (`mapping`), paths follow §5a.5, and a Secret holding Vault root
//! material is never given a way to reach Vault or another namespace (`vault_root`).

mod mapping;
mod vault_root;

use std::fmt::Write;

use super::Policy;
pub use mapping::map_keys;
pub use vault_root::{ROOT_MATERIAL_ELSEWHERE, root_material};

/// What a denial shows where the generating system cannot be read off the names: a guessed
/// word (the first word of `payments-api-secrets` is the consumer, not a datasource) would be
/// pasted as a wrong path as often as a right one, so the engineer fills it in (§5a.5.3 r3:
/// the datasource is the generating system).
pub const DATASOURCE_PLACEHOLDER: &str = "<datasource>";

/// Generating systems commonly found in Secret and key names.
const DATASOURCES: [&str; 30] = [
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
    "opensearch",
    "nats",
    "clickhouse",
    "cassandra",
    "etcd",
    "ldap",
    "keycloak",
    "smtp",
    "stripe",
    "github",
    "gitlab",
    "slack",
    "sendgrid",
    "twilio",
    "cloudflare",
    "datadog",
    "sentry",
    "openai",
    "harbor",
];

/// The generating system a name mentions (`temporal-postgres-creds` → `postgres`), if any.
pub fn datasource_hint(name: &str) -> Option<&'static str> {
    super::paths::key_words(name)
        .iter()
        .find_map(|w| DATASOURCES.iter().find(|d| *d == w).copied())
}

/// [`datasource_hint`] or the placeholder.
pub fn datasource_or_placeholder(name: &str) -> &'static str {
    datasource_hint(name).unwrap_or(DATASOURCE_PLACEHOLDER)
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

/// The conforming path a consumer reads its own data from.
pub fn data_path(datasource: &str, consumer: &str) -> String {
    format!("platform-data/{datasource}/{consumer}")
}

/// An ExternalSecret that materializes `name` in `namespace` from Vault. Its Secret carries
/// `labels` through `target.template.metadata` (how Argo CD's repository and cluster Secrets
/// are made: the `argocd.argoproj.io/secret-type` label is what Argo CD looks for). Each key
/// reads its own property ([`map_keys`]).
pub fn external_secret(
    name: &str,
    namespace: &str,
    keys: &[&str],
    labels: &[(&str, &str)],
    policy: &Policy,
) -> String {
    let mapping = map_keys(name, namespace, keys, policy);
    let (kind, store) = approved_store(policy);
    let mut out = format!(
        "put each value in Vault at the path and property below ({}), \
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
         \x20       creationPolicy: Owner",
        mapping.explain()
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
    for e in &mapping.entries {
        let _ = write!(
            out,
            "\n      - secretKey: {}\n        remoteRef:\n          key: {}\n          property: {}",
            e.secret_key, e.path, e.property
        );
    }
    if mapping.omitted > 0 {
        let _ = write!(
            out,
            "\n      # ...and {} more keys, one entry each, each to a property of its own",
            mapping.omitted
        );
    }
    out
}

/// The Vault route for a value another namespace needs.
pub fn distribute_through_vault(name: &str, namespace: &str, policy: &Policy) -> String {
    let ds = datasource_or_placeholder(name);
    let (kind, store) = approved_store(policy);
    format!(
        "publish the value from the namespace that generates it with a PushSecret (store {kind}/{store}, \
         remoteKey platform-data/{ds}/{namespace}) and read it here with an ExternalSecret \
         (remoteRef.key platform-data/{ds}/{namespace}); remove the copy annotations and labels"
    )
}

/// A bootstrap Secret that something keeps pushing to Vault (an authority loop, or a
/// PushSecret re-publishing it every refresh): the handover replaces the push. Renaming the
/// pulled copy would keep the re-push, so the fix never suggests it.
pub fn bootstrap_handover(secret: &str, handover_to: Option<&str>, policy: &Policy) -> String {
    let annotation = policy.key("handover-to");
    let declare = match handover_to {
        Some(path) => format!("keep its {annotation}: {path} annotation"),
        None => format!(
            "declare {annotation}: platform-data/<datasource>/<consumer> on it in Git (in the encrypted source)"
        ),
    };
    format!(
        "delete the PushSecret that publishes bootstrap Secret {secret:?}, {declare}, and let the handover controller copy it to Vault once and retire it; consumers then read that path with an ExternalSecret"
    )
}

#[cfg(test)]
mod tests;
