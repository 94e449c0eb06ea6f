//! Vault path conventions (§5a.5): `platform-data/<datasource>/<consumer>` and
//! `platform-config/<datasource>/<instance>`, lowercase-hyphen segments, no environment names,
//! and which paths a namespace may read. Malformed spellings (`..`, `//`, `%2F`, upper case,
//! trailing `/`) are refused before any prefix logic so they cannot smuggle a path past it.

use super::Policy;

/// Checks path hygiene. Returns the problem, quoting what is wrong.
pub fn hygiene(path: &str) -> Option<String> {
    if path.is_empty() {
        return Some("the path is empty".into());
    }
    if path.starts_with('/') || path.ends_with('/') {
        return Some(format!("{path:?} has a leading or trailing '/'"));
    }
    if path.contains("//") {
        return Some(format!("{path:?} has an empty segment ('//')"));
    }
    if path.split('/').any(|s| s == "." || s == "..") {
        return Some(format!("{path:?} has a '.' or '..' segment"));
    }
    if path.contains('%') {
        return Some(format!("{path:?} is URL-encoded ('%')"));
    }
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Some(format!(
            "{path:?} has upper-case letters (paths are lowercase)"
        ));
    }
    if let Some(c) = path
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '/'))
    {
        return Some(format!(
            "{path:?} has the character {c:?} (only a-z, 0-9, '-' and '/')"
        ));
    }
    None
}

/// A lowercase-hyphen identifier: `^[a-z0-9]+(-[a-z0-9]+)*$`.
pub fn is_identifier(segment: &str) -> bool {
    !segment.is_empty()
        && segment.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// The environment a segment names. Only a whole segment counts: `dev-portal`, `load-test`
/// and `qa-tools` are namespaces (consumers) with a word in their name, not environments.
fn environment_word<'a>(segment: &'a str, policy: &Policy) -> Option<&'a str> {
    policy
        .vault
        .environment_words
        .iter()
        .any(|e| e.eq_ignore_ascii_case(segment))
        .then_some(segment)
}

/// Which convention a path falls under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix<'a> {
    /// A §5a.5 prefix (`platform-data`, `platform-config`): exactly three segments.
    Convention(&'a str),
    /// A configured extra prefix: lowercase-hyphen segments only.
    Extra(&'a str),
}

/// Every problem with a path a PushSecret wants to write. Empty means it conforms.
pub fn push_path_problems(path: &str, policy: &Policy) -> Vec<String> {
    if let Some(problem) = hygiene(path) {
        return vec![problem];
    }
    let segments: Vec<&str> = path.split('/').collect();
    let mut problems = Vec::new();
    match prefix_of(path, policy) {
        None => problems.push(format!(
            "{path:?} is outside the publication prefixes ({}/)",
            allowed_prefixes(policy).join("/, ")
        )),
        Some(Prefix::Convention(p)) if segments.len() != 3 => problems.push(format!(
            "{path:?} has {} segments; {p}/ paths are exactly {p}/<datasource>/<{}>",
            segments.len(),
            if p == "platform-config" {
                "instance"
            } else {
                "consumer"
            }
        )),
        Some(Prefix::Extra(p)) if segments.len() < 2 => problems.push(format!(
            "{path:?} names only the prefix {p}/; add the secret's own segments"
        )),
        Some(_) => {}
    }
    for seg in &segments[1..] {
        if !is_identifier(seg) {
            problems.push(format!(
                "segment {seg:?} is not lowercase words joined by single hyphens"
            ));
        } else if let Some(word) = environment_word(seg, policy) {
            problems.push(format!(
                "segment {seg:?} names the environment {word:?}; environments are separated by Vault namespaces, not paths (r5)"
            ));
        }
    }
    problems
}

/// The prefix a (hygienic) path falls under, if any.
pub fn prefix_of<'p>(path: &str, policy: &'p Policy) -> Option<Prefix<'p>> {
    let first = path.split('/').next()?;
    if let Some(p) = policy.vault.push_prefixes.iter().find(|p| *p == first) {
        return Some(Prefix::Convention(p));
    }
    policy
        .vault
        .extra_push_prefixes
        .iter()
        .find(|p| *p == first)
        .map(|p| Prefix::Extra(p.as_str()))
}

fn allowed_prefixes(policy: &Policy) -> Vec<&str> {
    policy
        .vault
        .push_prefixes
        .iter()
        .chain(&policy.vault.extra_push_prefixes)
        .map(String::as_str)
        .collect()
}

/// Who reads a path: the ExternalSecret's namespace and the consumer names it may read
/// `platform-data/<datasource>/<name>` under (§5a.5: the `<consumer>` segment names a service,
/// not necessarily a namespace). The consumers are the namespace, its configured aliases
/// (`namespaces.aliases`) and, unless `vault.readScope.strict`, the object's app labels
/// (`vault.readScope.consumerLabels`). Labels are trusted because only a GitOps controller
/// writes an ExternalSecret (VG209): they were reviewed in Git like the path itself.
#[derive(Debug, Clone, Default)]
pub struct ReadScope<'a> {
    /// None for a fan-out object (ClusterExternalSecret): shared configuration and global
    /// grants only.
    pub namespace: Option<&'a str>,
    consumers: Vec<&'a str>,
}

impl<'a> ReadScope<'a> {
    /// A fan-out object's scope.
    pub fn fan_out() -> Self {
        Self::default()
    }

    /// The scope of an object in `namespace` carrying `labels`.
    pub fn of(
        namespace: &'a str,
        labels: Option<&'a std::collections::BTreeMap<String, String>>,
        policy: &'a Policy,
    ) -> Self {
        let mut consumers = vec![namespace];
        consumers.extend(
            policy
                .namespaces
                .aliases
                .get(namespace)
                .into_iter()
                .flatten()
                .map(String::as_str),
        );
        if !policy.vault.read_scope.strict
            && let Some(labels) = labels
        {
            for key in &policy.vault.read_scope.consumer_labels {
                if let Some(v) = labels.get(key).filter(|v| is_identifier(v)) {
                    consumers.push(v);
                }
            }
        }
        consumers.dedup();
        Self {
            namespace: Some(namespace),
            consumers,
        }
    }

    /// The consumer segments this scope reads under `platform-data/<datasource>/`.
    pub fn consumers(&self) -> &[&'a str] {
        &self.consumers
    }
}

/// Whether `scope` may read `path`. Returns the reason when it may not.
pub fn read_denied(path: &str, scope: &ReadScope<'_>, policy: &Policy) -> Option<String> {
    if let Some(problem) = hygiene(path) {
        return Some(problem);
    }
    let namespace = scope.namespace;
    let segments: Vec<&str> = path.split('/').collect();
    match segments[0] {
        "platform-config" => return None,
        "platform-data" if segments.len() == 3 && scope.consumers.contains(&segments[2]) => {
            return None;
        }
        _ => {}
    }
    if let Some(ns) = namespace
        && policy
            .vault
            .read_grants
            .get(ns)
            .into_iter()
            .flatten()
            .any(|g| under(path, g))
    {
        return None;
    }
    if policy
        .vault
        .read_grants
        .get("*")
        .into_iter()
        .flatten()
        .any(|g| under(path, g))
    {
        return None;
    }
    Some(match (segments[0], namespace) {
        ("platform-data", Some(ns)) if segments.len() == 3 => format!(
            "{path:?} belongs to consumer {:?}; namespace {ns:?} reads platform-data/<datasource>/{}",
            segments[2],
            scope.consumers.join("|")
        ),
        ("platform-data", None) => format!(
            "{path:?} is namespace-scoped data; a fan-out object may read only platform-config/ and global grants"
        ),
        (_, Some(ns)) => format!("{path:?} is outside what namespace {ns:?} may read"),
        (_, None) => format!("{path:?} is outside what a fan-out object may read"),
    })
}

/// The namespaces a `platform-data/<ds>/...` or `platform-config/<ds>/...` path may be
/// published from, when the policy assigns `<ds>` (`vault.publishers`).
pub fn publishers_of<'p>(path: &str, policy: &'p Policy) -> Option<&'p [String]> {
    let mut segments = path.split('/');
    let prefix = segments.next()?;
    if !policy
        .vault
        .push_prefixes
        .iter()
        .chain(&policy.vault.extra_push_prefixes)
        .any(|p| p == prefix)
    {
        return None;
    }
    policy
        .vault
        .publishers
        .get(segments.next()?)
        .map(Vec::as_slice)
}

/// Whether a `find.path` stays inside what the namespace may read.
pub fn find_denied(path: &str, scope: &ReadScope<'_>, policy: &Policy) -> Option<String> {
    if let Some(problem) = hygiene(path) {
        return Some(problem);
    }
    let segments: Vec<&str> = path.split('/').collect();
    if segments[0] == "platform-config" && segments.len() >= 2 {
        return None;
    }
    read_denied(path, scope, policy).map(|_| {
        format!("find.path {path:?} would sync paths beyond this namespace's own (platform-data/<datasource>/<namespace>)")
    })
}

/// The words of a Secret key, lowercase: `STRIPE_API_KEY` → `[stripe, api, key]`,
/// `dbHost` → `[db, host]`, `tls.crt` → `[tls, crt]`.
pub fn key_words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_ascii_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        word.push(c.to_ascii_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The §5a.5.4 property a secret-bearing key maps to, by its last word (`DB_PASSWORD` →
/// `password`, `STRIPE_API_KEY` → `token`), when the policy allows that property.
pub fn property_for_key<'p>(key: &str, policy: &'p Policy) -> Option<&'p str> {
    let words = key_words(key);
    let property = match words.last()?.as_str() {
        "user" | "username" | "login" => "username",
        "password" | "pass" | "passwd" | "pwd" => "password",
        "host" | "hostname" => "host",
        "port" => "port",
        "token" | "key" | "apikey" | "secret" => "token",
        _ => return None,
    };
    policy
        .vault
        .properties
        .iter()
        .find(|p| *p == property)
        .map(String::as_str)
}

/// Words that, before `url`/`uri`, mark a URL that conventionally embeds or is a credential:
/// databases and brokers (`DATABASE_URL`, `CELERY_BROKER_URL`: user:password@host), incoming
/// webhooks (`SLACK_WEBHOOK_URL`: the URL is the bearer secret), error reporters' DSNs, and any
/// credential word (`password_url`). Such a URL is secret material, not configuration (Inv 8
/// allows non-sensitive configuration only); a Secret holding one is judged as any Secret.
const CREDENTIAL_URL_WORDS: [&str; 40] = [
    "database",
    "db",
    "postgres",
    "postgresql",
    "pg",
    "mysql",
    "mariadb",
    "redis",
    "mongo",
    "mongodb",
    "amqp",
    "amqps",
    "rabbitmq",
    "broker",
    "celery",
    "kafka",
    "nats",
    "elasticsearch",
    "elastic",
    "opensearch",
    "smtp",
    "mail",
    "ldap",
    "ftp",
    "sftp",
    "git",
    "webhook",
    "hook",
    "slack",
    "discord",
    "teams",
    "sentry",
    "dsn",
    "password",
    "passwd",
    "secret",
    "token",
    "key",
    "auth",
    "credentials",
];

/// The configuration property a key names when it holds non-sensitive endpoint data (§2.4
/// Inv 8, §5a.4.3: host, port, connection parameters), by its last word: `DB_HOST` → `host`,
/// `S3_ENDPOINT` → `endpoint`, `dbname` → `database`. `DATABASE_URL` and `REDIS_URL` are not
/// configuration (they conventionally carry the password), nor is anything credential-shaped.
pub fn config_property(key: &str) -> Option<&'static str> {
    let words = key_words(key);
    let (last, before) = words.split_last()?;
    let property = match last.as_str() {
        "host" | "hostname" => "host",
        "port" => "port",
        "url" | "uri" => "url",
        "endpoint" | "endpoints" => "endpoint",
        "address" | "addr" => "address",
        "database" | "dbname" => "database",
        "name" if before.last().is_some_and(|w| w == "db" || w == "database") => "database",
        "region" => "region",
        "bucket" => "bucket",
        _ => return None,
    };
    if property == "url"
        && before
            .iter()
            .any(|w| CREDENTIAL_URL_WORDS.contains(&w.as_str()))
    {
        return None;
    }
    Some(property)
}

/// Whether every key of a Secret is configuration ([`config_property`]) and there is at
/// least one: a config-only Secret holds no secret material (Inv 8).
pub fn config_only<'k>(mut keys: impl Iterator<Item = &'k str>) -> bool {
    let mut any = false;
    keys.all(|k| {
        any = true;
        config_property(k).is_some()
    }) && any
}

/// Whether `property` may be written under `prefix`: the §5a.5.4 set everywhere, plus the
/// configuration properties (`vault.configProperties`) under `platform-config/`.
pub fn property_allowed(prefix: &str, property: &str, policy: &Policy) -> bool {
    policy.vault.properties.iter().any(|p| p == property)
        || (prefix == "platform-config"
            && policy.vault.config_properties.iter().any(|p| p == property))
}

/// `path` equals `prefix` or lies below it, segment-wise.
fn under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests;
