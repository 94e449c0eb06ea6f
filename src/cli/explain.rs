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

/// One bundled example (src/cli/explain_examples.yaml): the rule, the identity that writes it,
/// the manifest (documents after the first judged with the others as the cluster's state, as
/// in `check`), and for an UPDATE the object as it was.
#[derive(Debug, serde::Deserialize)]
struct Example {
    rule: String,
    user: String,
    #[serde(default)]
    old: Option<String>,
    manifest: String,
}

/// The rules no single write shows offline, and why (`explain` says so instead of an example).
const NO_EXAMPLE: &[(&str, &str)] = &[(
    "VG109",
    "it compares keyed digests of values the live view holds in other namespaces, which only a running webhook with contentCopy.enabled has",
)];

fn examples() -> Vec<Example> {
    // Bundled and covered by the tests below: a parse error is a build defect, reported as no
    // examples rather than a panic.
    serde_saphyr::from_str(include_str!("explain_examples.yaml")).unwrap_or_default()
}

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

/// The denial the engine gives the rule's bundled example, as `check` prints it: the first
/// object of the example the rule denies.
fn example(rule: &Rule) -> Option<String> {
    let policy = Policy::default();
    examples()
        .into_iter()
        .filter(|e| e.rule == rule.id)
        .find_map(|ex| {
            let user = Identity::new(&ex.user, check::default_groups(&ex.user));
            let report = match &ex.old {
                None => check::evaluate_text("example.yaml", &ex.manifest, &user, &policy),
                Some(old) => check::evaluate_update_text(old, &ex.manifest, &user, &policy),
            }
            .ok()?;
            let outcome = report
                .results
                .iter()
                .find(|o| o.violations.iter().any(|v| v.rule == rule.id))?;
            let manifest: String = ex.manifest.lines().map(|l| format!("  {l}\n")).collect();
            let write = match &ex.old {
                None => format!("this manifest, applied by {}", ex.user),
                Some(old) => {
                    let before: String = old.lines().map(|l| format!("  {l}\n")).collect();
                    format!("this object\n{before}changed by {} to", ex.user)
                }
            };
            let judged = if outcome.allowed {
                "is admitted with warnings (the rule's default mode is warn)"
            } else {
                "is denied"
            };
            Some(format!(
                "Example: {write}:\n{manifest}{judged}:\n{}",
                outcome.message
            ))
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
        None => {
            let why = NO_EXAMPLE
                .iter()
                .find(|(id, _)| *id == rule.id)
                .map_or("it needs the cluster's state to show", |(_, why)| why);
            out.push_str(&format!(
                "No bundled example: {why}. Every denial names the rule as [{} {}] with its Why \
                 and a ready-to-apply Fix; `vaultgate check FILE` shows it for your manifests.\n",
                rule.id, rule.slug
            ));
        }
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
    fn every_rule_of_the_catalogue_has_an_example_its_rule_judges() {
        let mut failures = Vec::new();
        for rule in ALL {
            let skipped = NO_EXAMPLE.iter().any(|(id, _)| *id == rule.id);
            match example(rule) {
                Some(text) if !skipped => {
                    let tag = format!("[{} {}]", rule.id, rule.slug);
                    if !text.contains(&tag) {
                        failures.push(format!(
                            "{}: the judgement does not name {tag}:\n{text}",
                            rule.id
                        ));
                    }
                }
                Some(_) => failures.push(format!(
                    "{}: has an example but is listed in NO_EXAMPLE",
                    rule.id
                )),
                None if skipped => {}
                None => failures.push(format!("{}: no bundled example its rule judges", rule.id)),
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_bundled_example_names_a_catalogue_rule() {
        let examples = examples();
        assert!(
            examples.len() >= ALL.len() - NO_EXAMPLE.len(),
            "examples did not parse"
        );
        for ex in examples {
            assert!(
                Rule::lookup(&ex.rule).is_some(),
                "{}: not in the catalogue",
                ex.rule
            );
        }
    }

    #[test]
    fn explain_prints_why_fix_and_an_example_for_a_rule_an_update_breaks() {
        let text = explain(Rule::lookup("VG105").expect("VG105"));
        assert!(text.contains("Why: "), "{text}");
        assert!(text.contains("changed by alice to"), "{text}");
        assert!(text.contains("Fix"), "{text}");
    }

    #[test]
    fn a_typo_names_the_closest_rule() {
        assert_eq!(closest("VG1O1").id, "VG101");
        assert_eq!(closest("unmanaged-secrets").id, "VG101");
        assert_eq!(closest("refresh-intervall").id, "VG206");
    }
}
