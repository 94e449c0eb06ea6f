//! Which requests the apiserver sends to vaultgate at all: the webhooks' `matchConditions`
//! (CEL evaluated inside the apiserver), computed from the policy so the identities and keys in
//! them cannot drift from the ones the engine judges with (docs/ARCHITECTURE.md §3,
//! `vaultgate manifests`).
//!
//! Two conditions, both pure functions of the policy:
//! - [`exempt_condition`]: the exempt groups' service accounts are skipped, except the
//!   producers and copy controllers the engine judges wherever they run (`Writer::is_exempt`);
//! - [`stamp_condition`]: the mutating webhook is called for every CREATE and for an UPDATE
//!   that can need a stamp. An UPDATE is skipped only when the stored `secret-class` label says
//!   a class that gets no audit stamps and every key the mutation writes is exactly as stored
//!   in `oldObject`. It reads only values the validating webhook protects (a changed or dropped
//!   stamp is VG112, a forged class label VG104/VG108), never anything a client can add to
//!   skip the stamp: adding, changing or dropping one of those keys makes the call happen.

use super::super::{HANDOVER_OWNED, Policy, identity::UserPattern, secret::STAMPED};

/// One `matchConditions` entry of a webhook configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MatchCondition {
    pub name: String,
    pub expression: String,
}

/// The conditions of the mutating webhook (`secrets.mutate.…`), in order.
pub fn mutating_conditions(policy: &Policy) -> Vec<MatchCondition> {
    exempt_condition(policy)
        .into_iter()
        .chain([stamp_condition(policy)])
        .collect()
}

/// The conditions of the validating webhooks: only the exemption. Every write the mutating
/// webhook skips is still validated.
pub fn validating_conditions(policy: &Policy) -> Vec<MatchCondition> {
    exempt_condition(policy).into_iter().collect()
}

/// A CEL string literal (single quotes; `\` and `'` escaped).
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A user pattern (`*` = one `:`-free segment, possibly empty) as an anchored RE2 regex.
fn regex(pattern: &str) -> String {
    let mut out = String::from("^");
    for c in pattern.chars() {
        match c {
            '*' => out.push_str("[^:]*"),
            c if r"\.+?()|[]{}^$".contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('$');
    out
}

/// Whether `pattern` can match a service account of namespace `ns`. `*` never spans `:`, so
/// the pattern matches such a name exactly when it matches one made of `system`,
/// `serviceaccount`, `ns` and its own last segment (every `*` read as `x`): a pattern not
/// spelled with the `system:serviceaccount:` prefix (`*:*:kube-system:reflector`) is probed the
/// same way, or the identity would be skipped by the apiserver while the engine judges it.
fn may_match_service_account(pattern: &UserPattern, ns: &str) -> bool {
    let sa = pattern.as_str().rsplit(':').next().unwrap_or("");
    let probe = format!("system:serviceaccount:{ns}:{}", sa.replace('*', "x"));
    pattern.matches(&probe)
}

/// Skips the exempt groups' members inside the apiserver, except the identities the engine
/// judges whatever their group (producers and copiers). `None` without exempt groups.
pub fn exempt_condition(policy: &Policy) -> Option<MatchCondition> {
    let ids = &policy.identities;
    let judged: Vec<&UserPattern> = ids
        .eso
        .iter()
        .chain(ids.bootstrap_decrypters.iter().flat_map(|d| &d.users))
        .chain(ids.operators.iter().flat_map(|o| &o.users))
        .chain(&ids.handover)
        .chain(&ids.copiers)
        .collect();
    let mut clauses = Vec::new();
    for group in &ids.exempt_groups {
        let member = match group.strip_prefix("system:serviceaccounts:") {
            // Both facts, as `identity::group_fits`: a group claim alone can be minted (a client
            // certificate's O=, an OIDC claim); the username must be one of its accounts.
            Some(ns) => format!(
                "({} in request.userInfo.groups\n  && request.userInfo.username.matches({}))",
                quote(group),
                quote(&format!(
                    "^system:serviceaccount:{}:[^:]+$",
                    regex_literal(ns)
                ))
            ),
            None => format!("{} in request.userInfo.groups", quote(group)),
        };
        let mut kept: Vec<String> = Vec::new();
        for p in &judged {
            let fits = match group.strip_prefix("system:serviceaccounts:") {
                Some(ns) => may_match_service_account(p, ns),
                None => true,
            };
            if !fits {
                continue;
            }
            let clause = if p.as_str().contains('*') {
                format!(
                    "request.userInfo.username.matches({})",
                    quote(&regex(p.as_str()))
                )
            } else {
                format!("request.userInfo.username == {}", quote(p.as_str()))
            };
            if !kept.contains(&clause) {
                kept.push(clause);
            }
        }
        let mut clause = format!("!{member}");
        for k in kept {
            clause.push_str("\n|| ");
            clause.push_str(&k);
        }
        clauses.push(if ids.exempt_groups.len() > 1 {
            format!("({clause})")
        } else {
            clause
        });
    }
    if clauses.is_empty() {
        return None;
    }
    Some(MatchCondition {
        name: "skip-exempt-service-accounts".into(),
        expression: clauses.join("\n&& "),
    })
}

/// A literal as a regex (its metacharacters escaped).
fn regex_literal(s: &str) -> String {
    let r = regex(&s.replace('*', "\u{0}"));
    r[1..r.len() - 1].replace('\u{0}', "\\*")
}

/// The keys the mutation writes or puts back (`mutate::desired_metadata`): the audit stamps,
/// the handover controller's keys and the class label. Looked up in both maps: a key in the
/// wrong map changing is a change too.
fn mutated_keys(policy: &Policy) -> Vec<String> {
    let mut names: Vec<&str> = STAMPED.to_vec();
    names.extend(HANDOVER_OWNED);
    names.push("secret-class");
    names.sort_unstable();
    names.dedup();
    names.into_iter().map(|n| policy.key(n)).collect()
}

/// Calls the mutating webhook for every CREATE, for a decrypter's UPDATE, and for any other
/// UPDATE unless the stored class label is one that gets no stamps and no key the mutation
/// writes differs from `oldObject`.
///
/// Absent maps and keys read as `optional.none()` (CEL optionals, Kubernetes ≥ 1.29), so an
/// object without `metadata.labels` or `metadata.annotations` evaluates without error; a key
/// absent on both sides compares equal. A bootstrap Secret (or one whose class label is missing)
/// always goes to the mutating webhook: its stamps may be due late. Cost: two literal lists of
/// fixed length, each key one map lookup per side, so the estimated cost is constant.
pub fn stamp_condition(policy: &Policy) -> MatchCondition {
    let keys = mutated_keys(policy)
        .iter()
        .map(|k| quote(k))
        .collect::<Vec<_>>()
        .join(", ");
    let class = quote(&policy.key("secret-class"));
    let mut expression = format!(
        "request.operation != 'UPDATE'\n\
         || object.?metadata.?labels[?{class}].orValue('bootstrap') == 'bootstrap'\n\
         || [{keys}].exists(k,\n     \
              object.?metadata.?labels[?k] != oldObject.?metadata.?labels[?k]\n  \
           || object.?metadata.?annotations[?k] != oldObject.?metadata.?annotations[?k])"
    );
    expression.push_str(&decrypter_clause(policy));
    MatchCondition {
        name: "only-writes-that-can-need-a-stamp".into(),
        expression,
    }
}

/// The decrypters' UPDATEs always go to the mutating webhook (an authenticated fact): the
/// engine classes what they write as bootstrap whatever the stored class label says, so an
/// unstamped Secret stored before vaultgate, with a Git-declared class other than `bootstrap`,
/// gets its stamps late instead of a VG112 denial.
fn decrypter_clause(policy: &Policy) -> String {
    let users: Vec<&UserPattern> = policy
        .identities
        .bootstrap_decrypters
        .iter()
        .flat_map(|d| &d.users)
        .collect();
    let exact: Vec<String> = users
        .iter()
        .filter(|p| !p.as_str().contains('*'))
        .map(|p| quote(p.as_str()))
        .collect();
    let mut out = String::new();
    if !exact.is_empty() {
        out.push_str(&format!(
            "\n|| request.userInfo.username in [{}]",
            exact.join(", ")
        ));
    }
    for p in users.iter().filter(|p| p.as_str().contains('*')) {
        out.push_str(&format!(
            "\n|| request.userInfo.username.matches({})",
            quote(&regex(p.as_str()))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_policy() -> Policy {
        Policy::default()
    }

    #[test]
    fn the_sealed_secrets_controller_and_kube_system_copiers_are_still_sent() {
        let c = exempt_condition(&default_policy()).expect("kube-system is exempt by default");
        assert!(c.expression.starts_with(
            "!('system:serviceaccounts:kube-system' in request.userInfo.groups\n  && request.userInfo.username.matches('^system:serviceaccount:kube-system:[^:]+$'))"
        ), "{}", c.expression);
        assert!(c.expression.contains(
            "request.userInfo.username == 'system:serviceaccount:kube-system:sealed-secrets-controller'"
        ));
        assert!(
            c.expression.contains(
                "request.userInfo.username.matches('^system:serviceaccount:[^:]*:reflector$')"
            ),
            "{}",
            c.expression
        );
        // Producers of other namespaces are never in the kube-system group: not listed.
        assert!(!c.expression.contains("external-secrets:external-secrets'"));
    }

    #[test]
    fn no_exempt_groups_means_no_exemption_condition() {
        let mut p = default_policy();
        p.identities.exempt_groups.clear();
        assert_eq!(exempt_condition(&p), None);
        assert_eq!(mutating_conditions(&p).len(), 1);
        assert!(validating_conditions(&p).is_empty());
    }

    #[test]
    fn every_key_the_mutation_writes_is_compared_with_old_object() {
        let p = default_policy();
        let c = stamp_condition(&p);
        for name in STAMPED
            .iter()
            .chain(&HANDOVER_OWNED)
            .chain(&["secret-class"])
        {
            assert!(
                c.expression.contains(&quote(&p.key(name))),
                "{name} missing from {}",
                c.expression
            );
        }
        assert!(c.expression.starts_with("request.operation != 'UPDATE'"));
    }

    #[test]
    fn the_keys_follow_the_policy_prefix() {
        let mut p = default_policy();
        p.prefix = "example.org/".into();
        let c = stamp_condition(&p);
        assert!(c.expression.contains("'example.org/created-by'"));
        assert!(!c.expression.contains("platform.pnats.cloud"));
    }

    #[test]
    fn patterns_become_anchored_regexes_with_literals_escaped() {
        assert_eq!(
            regex("system:serviceaccount:*:a.b"),
            "^system:serviceaccount:[^:]*:a\\.b$"
        );
        assert_eq!(quote("it's \\"), "'it\\'s \\\\'");
    }

    #[test]
    fn a_pattern_for_another_namespace_is_not_an_exception() {
        let p = UserPattern::from("system:serviceaccount:flux-system:kustomize-controller");
        assert!(!may_match_service_account(&p, "kube-system"));
        let p = UserPattern::from("system:serviceaccount:*:kubed");
        assert!(may_match_service_account(&p, "kube-system"));
    }

    #[test]
    fn a_kube_system_copier_spelled_without_the_service_account_prefix_is_still_sent() {
        // The engine judges copiers wherever they run (`Writer::is_exempt`); a pattern that
        // globs the `system:serviceaccount` segments must keep them out of the skip too.
        for pattern in [
            "*:*:*:reflector",
            "system:*:kube-system:sealed-secrets-controller",
        ] {
            let p = UserPattern::from(pattern);
            assert!(may_match_service_account(&p, "kube-system"), "{pattern}");
        }
        let mut p = default_policy();
        p.identities.copiers = vec![UserPattern::from("*:*:*:reflector")];
        let c = exempt_condition(&p).expect("kube-system is exempt by default");
        assert!(
            c.expression
                .contains("request.userInfo.username.matches('^[^:]*:[^:]*:[^:]*:reflector$')"),
            "{}",
            c.expression
        );
        assert!(!may_match_service_account(
            &UserPattern::from("system:serviceaccount:*"),
            "kube-system"
        ));
    }

    #[test]
    fn a_decrypters_update_always_goes_to_the_mutating_webhook() {
        let mut policy = default_policy();
        policy.identities.bootstrap_decrypters[0]
            .users
            .push(UserPattern::from("system:serviceaccount:sops:*"));
        let e = stamp_condition(&policy).expression;
        assert!(
            e.contains("|| request.userInfo.username in ['system:serviceaccount:kube-system:sealed-secrets-controller', "),
            "{e}"
        );
        assert!(
            e.contains(
                "|| request.userInfo.username.matches('^system:serviceaccount:sops:[^:]*$')"
            ),
            "{e}"
        );
    }
}
