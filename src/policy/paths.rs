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

/// Whether `namespace` may read `path` (None namespace: a fan-out object such as a
/// ClusterExternalSecret, which may read only shared configuration and global grants).
/// Returns the reason when it may not.
pub fn read_denied(path: &str, namespace: Option<&str>, policy: &Policy) -> Option<String> {
    if let Some(problem) = hygiene(path) {
        return Some(problem);
    }
    let segments: Vec<&str> = path.split('/').collect();
    match segments[0] {
        "platform-config" => return None,
        "platform-data" => {
            if let Some(ns) = namespace
                && segments.len() == 3
                && consumer_names(ns, policy).any(|c| c == segments[2])
            {
                return None;
            }
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
            "{path:?} belongs to consumer {:?}; namespace {ns:?} reads platform-data/<datasource>/{ns}",
            segments[2]
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
pub fn find_denied(path: &str, namespace: Option<&str>, policy: &Policy) -> Option<String> {
    if let Some(problem) = hygiene(path) {
        return Some(problem);
    }
    let segments: Vec<&str> = path.split('/').collect();
    if segments[0] == "platform-config" && segments.len() >= 2 {
        return None;
    }
    read_denied(path, namespace, policy).map(|_| {
        format!("find.path {path:?} would sync paths beyond this namespace's own (platform-data/<datasource>/<namespace>)")
    })
}

fn consumer_names<'a>(ns: &'a str, policy: &'a Policy) -> impl Iterator<Item = &'a str> {
    std::iter::once(ns).chain(
        policy
            .namespaces
            .aliases
            .get(ns)
            .into_iter()
            .flatten()
            .map(String::as_str),
    )
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
mod tests {
    use super::*;

    #[test]
    fn accepts_the_rfc_examples() {
        let p = Policy::default();
        for ok in [
            "platform-data/postgres/temporal",
            "platform-data/redis/temporal",
            "platform-config/postgres/platform-postgres",
        ] {
            assert!(push_path_problems(ok, &p).is_empty(), "{ok}");
        }
    }

    #[test]
    fn rejects_segments_that_are_environment_names() {
        let p = Policy::default();
        assert_eq!(
            push_path_problems("platform-data/postgres/prod", &p).len(),
            1
        );
        assert_eq!(
            push_path_problems("platform-data/staging/temporal", &p).len(),
            1
        );
    }

    #[test]
    fn a_listed_datasource_names_its_publishing_namespaces() {
        let p = Policy::from_yaml("vault:\n  publishers:\n    postgres: [postgres-operator]\n")
            .unwrap();
        let owners = publishers_of("platform-data/postgres/payments", &p).unwrap();
        assert_eq!(owners, ["postgres-operator"]);
        assert!(publishers_of("platform-config/postgres/main", &p).is_some());
        assert_eq!(publishers_of("platform-data/redis/payments", &p), None);
        assert_eq!(publishers_of("other/postgres/payments", &p), None);
        let extra = Policy::from_yaml(
            "vault:\n  extraPushPrefixes: [applications]\n  publishers:\n    postgres: [postgres-operator]\n",
        )
        .unwrap();
        assert!(publishers_of("applications/postgres/payments", &extra).is_some());
    }

    #[test]
    fn allows_consumer_names_that_contain_an_environment_word() {
        let p = Policy::default();
        for ns in ["dev-portal", "load-test", "qa-tools"] {
            let path = format!("platform-data/postgres/{ns}");
            assert!(push_path_problems(&path, &p).is_empty(), "{path}");
            assert_eq!(read_denied(&path, Some(ns), &p), None, "{path}");
        }
    }

    #[test]
    fn rejects_smuggling_spellings() {
        let p = Policy::default();
        for bad in [
            "platform-data/postgres/../billing",
            "platform-data//postgres/temporal",
            "platform-data/postgres/temporal/",
            "platform-data/postgres/temporal%2Fx",
            "Platform-Data/postgres/temporal",
            "/platform-data/postgres/temporal",
        ] {
            assert!(!push_path_problems(bad, &p).is_empty(), "{bad}");
            assert!(read_denied(bad, Some("temporal"), &p).is_some(), "{bad}");
        }
    }

    #[test]
    fn rejects_wrong_depth_and_foreign_prefix() {
        let p = Policy::default();
        assert!(!push_path_problems("platform-data/postgres", &p).is_empty());
        assert!(!push_path_problems("platform-data/postgres/a/b", &p).is_empty());
        assert!(!push_path_problems("applications/security/keycloak", &p).is_empty());
    }

    #[test]
    fn namespace_reads_its_own_data_and_shared_config() {
        let p = Policy::default();
        assert!(read_denied("platform-data/postgres/temporal", Some("temporal"), &p).is_none());
        assert!(
            read_denied(
                "platform-config/postgres/platform-postgres",
                Some("temporal"),
                &p
            )
            .is_none()
        );
        assert!(read_denied("platform-data/postgres/billing", Some("temporal"), &p).is_some());
        assert!(read_denied("platform-data/postgres/temporal", None, &p).is_some());
    }

    #[test]
    fn grants_and_aliases_extend_the_read_scope() {
        let mut p = Policy::default();
        p.namespaces
            .aliases
            .insert("temporal-system".into(), vec!["temporal".into()]);
        p.vault
            .read_grants
            .insert("payments".into(), vec!["applications/payments".into()]);
        assert!(
            read_denied(
                "platform-data/postgres/temporal",
                Some("temporal-system"),
                &p
            )
            .is_none()
        );
        assert!(read_denied("applications/payments/stripe", Some("payments"), &p).is_none());
        assert!(read_denied("applications/payments-evil/x", Some("payments"), &p).is_some());
    }
}
