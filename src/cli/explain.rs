//! `vaultgate rules` (the catalogue with each rule's default mode) and `vaultgate explain RULE`:
//! one rule's invariant, RFC section, what it stops, its default mode, and, for the rules with a
//! bundled example, the denial the engine gives that example (the fix included), computed now
//! by `check`'s engine rather than written down, so it cannot drift from the rule.

use std::process::ExitCode;

use super::check::{self, sarif::default_mode};
use crate::policy::{
    Identity, Policy,
    rules::{ALL, Rule},
};

/// One bundled example: the rule, the identity that applies it, and the manifest.
struct Example {
    rule: &'static str,
    user: &'static str,
    manifest: &'static str,
}

const ARGOCD: &str = "system:serviceaccount:argocd:argocd-application-controller";

/// Examples for the rules a single manifest shows; the rest need an UPDATE, a second object or
/// an opt-in policy, and `explain` says so.
const EXAMPLES: &[Example] = &[
    Example {
        rule: "VG101",
        user: "alice",
        manifest: "apiVersion: v1\nkind: Secret\nmetadata: {name: db-creds, namespace: payments}\nstringData: {password: example}\n",
    },
    Example {
        rule: "VG102",
        user: "system:serviceaccount:tekton-pipelines:tekton-pipelines-controller",
        manifest: "apiVersion: v1\nkind: Secret\nmetadata: {name: db-creds, namespace: payments}\nstringData: {password: example}\n",
    },
    Example {
        rule: "VG201",
        user: ARGOCD,
        manifest: "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: db, namespace: payments}\nspec:\n  refreshInterval: 1h\n  secretStoreRef: {kind: SecretStore, name: local}\n  target: {name: db}\n  data: [{secretKey: password, remoteRef: {key: platform-data/postgres/payments, property: password}}]\n",
    },
    Example {
        rule: "VG203",
        user: ARGOCD,
        manifest: concat!(
            "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: db, namespace: payments}\nspec:\n  refreshInterval: 1h\n  secretStoreRef: {kind: ClusterSecretStore, name: vault-backend}\n  target: {name: db}\n",
            "  data: [{secretKey: password, remoteRef: {key: platform-data/postgres/billing, property: password}}]\n"
        ),
    },
    Example {
        rule: "VG206",
        user: ARGOCD,
        manifest: "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: db, namespace: payments}\nspec:\n  refreshInterval: \"0\"\n  secretStoreRef: {kind: ClusterSecretStore, name: vault-backend}\n  target: {name: db}\n  data: [{secretKey: password, remoteRef: {key: platform-data/postgres/payments, property: password}}]\n",
    },
    Example {
        rule: "VG209",
        user: "alice",
        manifest: concat!(
            "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: db, namespace: payments}\nspec:\n  refreshInterval: 1h\n  secretStoreRef: {kind: ClusterSecretStore, name: vault-backend}\n  target: {name: db}\n",
            "  data: [{secretKey: password, remoteRef: {key: platform-data/postgres/payments, property: password}}]\n"
        ),
    },
    Example {
        rule: "VG401",
        user: ARGOCD,
        manifest: "apiVersion: external-secrets.io/v1\nkind: ClusterSecretStore\nmetadata: {name: cluster-secrets}\nspec:\n  provider:\n    kubernetes:\n      remoteNamespace: default\n      server: {caProvider: {type: ConfigMap, name: kube-root-ca.crt, key: ca.crt}}\n      auth: {serviceAccount: {name: reader}}\n",
    },
];

/// `vaultgate rules`: id, the default policy's mode, slug, RFC section, what it stops.
pub fn rules_table() -> String {
    let policy = Policy::default();
    let mut rules: Vec<&Rule> = ALL.to_vec();
    rules.sort_by_key(|r| r.id);
    let mut out = format!(
        "{:<5} {:<7} {:<24} {:<28} {}\n",
        "ID", "MODE", "SLUG", "RFC-SECOPS-0001", "WHAT IT STOPS"
    );
    for r in rules {
        out.push_str(&format!(
            "{} {:<7} {:<24} {:<28} {}\n",
            r.id,
            default_mode(r, &policy),
            r.slug,
            r.rfc,
            r.stops
        ));
    }
    out
}

/// Edit distance, for naming the closest id or slug to a mistyped one.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The rule whose id or slug is nearest to `key` (case-insensitive).
pub fn closest(key: &str) -> &'static Rule {
    let key = key.to_ascii_lowercase();
    ALL.iter()
        .copied()
        .min_by_key(|r| distance(&key, &r.id.to_ascii_lowercase()).min(distance(&key, r.slug)))
        .unwrap_or(ALL[0])
}

/// The denial the engine gives the rule's bundled example, as `check` prints it.
fn example(rule: &Rule) -> Option<String> {
    let ex = EXAMPLES.iter().find(|e| e.rule == rule.id)?;
    let policy = Policy::default();
    let user = Identity::new(ex.user, check::default_groups(ex.user));
    let report = check::evaluate_text("example.yaml", ex.manifest, &user, &policy).ok()?;
    let outcome = report.results.first()?;
    outcome
        .violations
        .iter()
        .any(|v| v.rule == rule.id)
        .then(|| {
            let manifest: String = ex.manifest.lines().map(|l| format!("  {l}\n")).collect();
            format!(
                "Example: this manifest, applied by {}:\n{manifest}is denied:\n{}",
                ex.user, outcome.message
            )
        })
}

/// The text `vaultgate explain` prints for a rule.
pub fn explain(rule: &Rule) -> String {
    let policy = Policy::default();
    let mut out = format!(
        "{} {}\nRFC-SECOPS-0001 {}\nDefault mode: {}\n\nWhy: {}.\nStops: {}.\n\n",
        rule.id,
        rule.slug,
        rule.rfc,
        default_mode(rule, &policy),
        rule.why,
        rule.stops
    );
    match example(rule) {
        Some(text) => out.push_str(&text),
        None => out.push_str(&format!(
            "No bundled example: this rule needs an UPDATE, another object or a policy setting to show. \
             Every denial names the rule as [{} {}] with its Why and a ready-to-apply Fix; \
             `vaultgate check FILE` shows it for your manifests.\n",
            rule.id, rule.slug
        )),
    }
    out
}

pub fn run(key: &str) -> ExitCode {
    let found = Rule::lookup(key)
        .or_else(|| Rule::lookup(&key.to_ascii_uppercase()))
        .or_else(|| Rule::lookup(&key.to_ascii_lowercase()));
    match found {
        Some(rule) => {
            print!("{}", explain(rule));
            ExitCode::SUCCESS
        }
        None => {
            let near = closest(key);
            eprintln!(
                "error: no rule {key:?}; the closest is {} {} (`vaultgate rules` lists them all)",
                near.id, near.slug
            );
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_example_is_denied_by_its_rule() {
        for ex in EXAMPLES {
            let rule = Rule::lookup(ex.rule).expect("a catalogue id");
            assert!(
                example(rule).is_some(),
                "{} example not denied by it",
                ex.rule
            );
        }
    }

    #[test]
    fn a_typo_names_the_closest_rule() {
        assert_eq!(closest("VG1O1").id, "VG101");
        assert_eq!(closest("unmanaged-secrets").id, "VG101");
        assert_eq!(closest("refresh-intervall").id, "VG206");
    }
}
