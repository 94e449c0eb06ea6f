//! Who is writing: the authenticated `userInfo` mapped onto the roles the policy declares.
//! This is the most trusted provenance signal (docs/ARCHITECTURE.md §1.1), so it is decided first.

use serde::{Deserialize, Serialize};

use super::{Policy, Review, config::Operator};

/// The authenticated requester, from `request.userInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub username: String,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn new(username: impl Into<String>, groups: Vec<String>) -> Self {
        Self {
            username: username.into(),
            groups,
        }
    }
}

/// A username pattern from the policy, where `*` spans any characters except `:`. The position
/// of its first `*` is found once, when the policy is read: the pattern is tried against the
/// requester on every review, and most tries fail on the literal head.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "String", into = "String")]
pub struct UserPattern {
    text: String,
    /// Where the first `*` is; `None` for a plain username.
    star: Option<usize>,
}

impl UserPattern {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` matches. Cheap necessary conditions reject first: a plain username is an
    /// equality (a length check, then one `memcmp`); otherwise the literal head must be a prefix
    /// (one `memcmp`), the literal tail a suffix, and, since `*` never spans `:` and literals
    /// match themselves, both sides must have the same number of `:`. Only then does the
    /// backtracking matcher run.
    pub fn matches(&self, name: &str) -> bool {
        let Some(first) = self.star else {
            return self.text == name;
        };
        let (p, n) = (self.text.as_bytes(), name.as_bytes());
        if !n.starts_with(&p[..first]) {
            return false;
        }
        let tail = &p[p
            .iter()
            .rposition(|&c| c == b'*')
            .map_or(first, |last| last + 1)..];
        n.len() >= first + tail.len()
            && n.ends_with(tail)
            && colons(&p[first..]) == colons(&n[first..])
            && glob(&p[first..], &n[first..])
    }
}

impl From<String> for UserPattern {
    fn from(text: String) -> Self {
        let star = text.find('*');
        Self { text, star }
    }
}

impl From<&str> for UserPattern {
    fn from(text: &str) -> Self {
        text.to_owned().into()
    }
}

impl From<UserPattern> for String {
    fn from(pattern: UserPattern) -> Self {
        pattern.text
    }
}

impl std::fmt::Debug for UserPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.text, f)
    }
}

impl std::fmt::Display for UserPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn colons(s: &[u8]) -> usize {
    s.iter().filter(|&&b| b == b':').count()
}

/// The reference matcher: `*` consumes any run of non-`:` bytes, backtracking.
fn glob(p: &[u8], n: &[u8]) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some((b'*', rest)) => {
            let mut i = 0;
            loop {
                if glob(rest, &n[i..]) {
                    return true;
                }
                if i == n.len() || n[i] == b':' {
                    return false;
                }
                i += 1;
            }
        }
        Some((c, rest)) => n.first() == Some(c) && glob(rest, &n[1..]),
    }
}

/// Whether a group claim is one the username can really carry. A service-account namespace
/// group (`system:serviceaccounts:<ns>`) counts only for a service account of that namespace:
/// group names are claims an authenticator passes through (a client certificate's `O=`, an OIDC
/// `groups` claim), so `mallory` with `O=system:serviceaccounts:kube-system` is not kube-system.
/// The webhook configurations' `matchConditions` apply the same test (README "Exemptions").
pub fn group_fits(group: &str, username: &str) -> bool {
    match group.strip_prefix("system:serviceaccounts:") {
        Some(ns) => username
            .strip_prefix("system:serviceaccount:")
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(sa_ns, sa)| sa_ns == ns && !sa.is_empty() && !sa.contains(':')),
        None => true,
    }
}

fn any(patterns: &[UserPattern], name: &str) -> bool {
    patterns.iter().any(|p| p.matches(name))
}

/// The roles of one requester. A user may hold several (Argo CD is GitOps and a decrypter).
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub username: &'a str,
    pub eso: bool,
    /// Name of the bootstrap decrypter (`sealed-secrets`, `flux-sops`, `argocd`).
    pub decrypter: Option<&'a str>,
    pub operator: Option<&'a Operator>,
    pub handover: bool,
    pub gitops: bool,
    pub ci: bool,
    pub copier: bool,
    /// Writes Helm release storage.
    pub helm: bool,
    /// The control plane that fills service-account token Secrets.
    pub kubernetes: bool,
    /// A dashboard writing on a user's click (Argo CD's API server).
    pub dashboard: bool,
    exempt: bool,
}

impl<'a> Writer<'a> {
    pub fn of(user: &'a Identity, policy: &'a Policy) -> Self {
        let name = user.username.as_str();
        let ids = &policy.identities;
        Self {
            username: name,
            eso: any(&ids.eso, name),
            decrypter: ids
                .bootstrap_decrypters
                .iter()
                .find(|d| any(&d.users, name))
                .map(|d| d.name.as_str()),
            operator: ids.operators.iter().find(|o| any(&o.users, name)),
            handover: any(&ids.handover, name),
            gitops: any(&ids.gitops, name),
            ci: any(&ids.ci, name),
            copier: any(&ids.copiers, name),
            helm: any(&ids.helm, name),
            kubernetes: any(&ids.kubernetes, name),
            dashboard: any(&ids.dashboards, name),
            exempt: any(&ids.exempt_users, name)
                || user
                    .groups
                    .iter()
                    .any(|g| ids.exempt_groups.iter().any(|e| e == g) && group_fits(g, name)),
        }
    }

    /// Declared producers are always evaluated, even inside an exempt group: the sealed-secrets
    /// controller lives in kube-system, and its Secrets must still be classified and labelled.
    pub fn is_producer(&self) -> bool {
        self.eso || self.decrypter.is_some() || self.operator.is_some() || self.handover
    }

    /// Exempt identities are not evaluated, except producers and copy controllers, which are
    /// always judged wherever they run.
    pub fn is_exempt(&self) -> bool {
        self.exempt && !self.is_producer() && !self.copier
    }
}

/// The break-glass annotation's value, when the object carries `<prefix>break-glass:
/// "<ticket>: <reason>"` and the writer is allowed to use it: `Ok` when honoured, `Err` saying
/// why not when its ticket is not a plain ticket name (the ticket is written into the
/// `excepted` audit annotation, whose entries it must not be able to forge).
pub fn break_glass(
    review: &Review<'_>,
    writer: &Writer<'_>,
    policy: &Policy,
) -> Option<Result<String, &'static str>> {
    let annotations = review.object.metadata().annotations.as_ref()?;
    let value = annotations.get(&*policy.reserved_key("break-glass"))?;
    let (ticket, reason) = value.split_once(':')?;
    if ticket.trim().is_empty() || reason.trim().is_empty() {
        return None;
    }
    if !any(&policy.identities.break_glass, writer.username) {
        return None;
    }
    Some(if super::exception::is_token(ticket.trim()) {
        Ok(value.trim().to_owned())
    } else {
        Err(
            "its ticket (before the first ':') must be a name like INC-4711: letters, digits and . _ / # - only, at most 64",
        )
    })
}

/// The groups the apiserver gives an authenticated user: a service account's three
/// (`system:serviceaccounts`, `system:serviceaccounts:<ns>`, `system:authenticated`), or only
/// `system:authenticated`. What `check`, the audit and the RBAC rules assume for a username.
pub fn standard_groups(user: &str) -> Vec<String> {
    match user
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
    {
        Some((ns, _)) => vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
        None => vec!["system:authenticated".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, name: &str) -> bool {
        UserPattern::from(pattern).matches(name)
    }

    #[test]
    fn star_matches_within_one_segment() {
        assert!(matches(
            "system:serviceaccount:*:pipeline",
            "system:serviceaccount:build:pipeline"
        ));
        assert!(!matches(
            "system:serviceaccount:*:pipeline",
            "system:serviceaccount:a:b:pipeline"
        ));
        assert!(matches(
            "system:serviceaccount:argo:*",
            "system:serviceaccount:argo:runner"
        ));
        assert!(!matches(
            "system:serviceaccount:argo:*",
            "system:serviceaccount:argocd:x"
        ));
        assert!(matches("alice", "alice"));
        assert!(!matches("alice", "alice2"));
    }

    proptest::proptest! {
        /// The fast rejections never change a verdict of the reference matcher.
        #[test]
        fn fast_path_agrees_with_the_reference_matcher(
            pattern in "[ab:*]{0,8}",
            name in "[ab:]{0,8}",
        ) {
            proptest::prop_assert_eq!(
                matches(&pattern, &name),
                glob(pattern.as_bytes(), name.as_bytes())
            );
        }
    }

    #[test]
    fn sealed_secrets_controller_is_a_producer_despite_kube_system_group() {
        let p = Policy::default();
        let user = Identity::new(
            "system:serviceaccount:kube-system:sealed-secrets-controller",
            vec!["system:serviceaccounts:kube-system".into()],
        );
        let w = Writer::of(&user, &p);
        assert_eq!(w.decrypter, Some("sealed-secrets"));
        assert!(!w.is_exempt());
    }

    #[test]
    fn a_kube_system_group_claim_without_a_kube_system_username_is_not_exempt() {
        let p = Policy::default();
        for name in [
            "mallory",
            "system:serviceaccount:payments:default",
            "system:serviceaccount:kube-system",
            "system:serviceaccount:kube-system:a:b",
            "system:serviceaccount:kube-systemx:default",
        ] {
            let user = Identity::new(name, vec!["system:serviceaccounts:kube-system".into()]);
            assert!(!Writer::of(&user, &p).is_exempt(), "{name}");
        }
    }

    #[test]
    fn other_kube_system_accounts_are_exempt() {
        let p = Policy::default();
        let user = Identity::new(
            "system:serviceaccount:kube-system:replicaset-controller",
            vec!["system:serviceaccounts:kube-system".into()],
        );
        assert!(Writer::of(&user, &p).is_exempt());
    }
}
