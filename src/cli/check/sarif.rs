//! `check -o sarif`: the report as one SARIF 2.1.0 run, for code-scanning uploads
//! (`github/codeql-action/upload-sarif`, GitLab, Azure DevOps). The rules are the whole
//! catalogue with the RFC section each enforces; each finding is a result at the object's
//! `file:line`, with the field it is about as a logical location. A denial is `error`, a
//! warn-mode finding `warning`, and context a rule could not see `note`. Unreadable manifests
//! are tool execution notifications, and the invocation is then unsuccessful.

use serde_json::{Value, json};

use super::{LoadError, Outcome, Report, Verdict};
use crate::policy::{
    Policy,
    rules::{self, ALL, Rule},
};

/// The SARIF 2.1.0 schema the output declares (OASIS, errata 01).
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The published RFC-SECOPS-0001, the standard every rule cites (docs/rfc-digest.md
/// "Sources"). vaultgate has no published home page of its own to point at.
pub const INFORMATION_URI: &str = "https://rfc.pnats.cloud/docs/platform/secret-ops/";

/// Rules in id order, the order `ruleIndex` counts in.
fn catalogue() -> Vec<&'static Rule> {
    let mut rules: Vec<&'static Rule> = ALL.to_vec();
    rules.sort_by_key(|r| r.id);
    rules
}

/// The mode a rule runs in under the policy, when nothing overrides it per namespace.
pub fn default_mode(rule: &Rule, policy: &Policy) -> &'static str {
    match rules::effective_mode(rule, None, policy) {
        crate::policy::Mode::Enforce => "enforce",
        crate::policy::Mode::Warn => "warn",
        crate::policy::Mode::Off => "off",
    }
}

/// The resource family a rule id belongs to (CONTRIBUTING.md "Adding a rule").
pub fn family(rule: &Rule) -> &'static str {
    match rule.id.get(..3) {
        Some("VG1") => "secret",
        Some("VG2") => "external-secret",
        Some("VG3") => "push-secret",
        Some("VG4") => "secret-store",
        Some("VG5") => "hidden-control-plane",
        _ => "other",
    }
}

fn descriptor(rule: &Rule, policy: &Policy) -> Value {
    let level = match default_mode(rule, policy) {
        "enforce" => "error",
        "warn" => "warning",
        _ => "none",
    };
    json!({
        "id": rule.id,
        "name": rule.slug,
        "shortDescription": { "text": rule.why },
        "fullDescription": { "text": format!("Stops {}.", rule.stops) },
        "help": {
            "text": format!(
                "RFC-SECOPS-0001 {}. {}. Stops {}. Run `vaultgate explain {}` for the fix.",
                rule.rfc, rule.why, rule.stops, rule.id
            ),
            "markdown": format!(
                "**RFC-SECOPS-0001 {}**\n\n{}.\n\nStops: {}.\n\n`vaultgate explain {}` shows the fix.",
                rule.rfc, rule.why, rule.stops, rule.id
            ),
        },
        "defaultConfiguration": { "level": level },
        "properties": {
            "tags": ["security", "RFC-SECOPS-0001", family(rule), rule.slug],
            "rfc": rule.rfc,
        },
    })
}

/// A relative path as given, as a URI reference: characters a URI cannot hold are
/// percent-encoded (`<stdin>` becomes `%3Cstdin%3E`, a backslash `%5C`).
pub fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn location(r: &Outcome, field: Option<&str>) -> Value {
    let object = r.title();
    let mut logical =
        vec![json!({ "name": r.name, "fullyQualifiedName": object, "kind": "object" })];
    if let Some(field) = field {
        logical.push(json!({
            "name": field,
            "fullyQualifiedName": format!("{object}:{field}"),
            "kind": "member",
        }));
    }
    json!({
        "physicalLocation": {
            "artifactLocation": { "uri": uri(&r.file) },
            "region": { "startLine": r.line.max(1) },
        },
        "logicalLocations": logical,
    })
}

fn result(
    rule: Option<&'static Rule>,
    index: &dyn Fn(&Rule) -> Option<usize>,
    level: &str,
    message: String,
    r: &Outcome,
    field: Option<&str>,
) -> Value {
    let mut out = json!({
        "level": level,
        "message": { "text": message },
        "locations": [location(r, field)],
        "properties": {
            "object": r.title(),
            "kind": r.kind,
            "outcome": r.outcome,
        },
    });
    if let Some(field) = field {
        out["properties"]["field"] = json!(field);
    }
    if let Some(rule) = rule {
        out["ruleId"] = json!(rule.id);
        if let Some(i) = index(rule) {
            out["ruleIndex"] = json!(i);
        }
    }
    out
}

fn results(report: &Report, index: &dyn Fn(&Rule) -> Option<usize>) -> Vec<Value> {
    let mut out = Vec::new();
    for r in &report.results {
        for v in &r.violations {
            let level = if v.mode == "enforce" {
                "error"
            } else {
                "warning"
            };
            let message = format!("[{} {}] {}\nFix: {}", v.rule, v.slug, v.message, v.fix);
            let rule = rules::Rule::lookup(v.rule);
            out.push(result(rule, index, level, message, r, v.field.as_deref()));
        }
        if r.outcome == Verdict::NotEvaluated || !r.missing.is_empty() {
            for m in &r.missing {
                // `needed_for` starts with the rule that needed it: `VG307 push-source (...)`.
                let rule = m
                    .needed_for
                    .split_whitespace()
                    .next()
                    .and_then(Rule::lookup);
                let message = format!(
                    "{} not evaluated: missing {m}; add it to the set, or accept with --allow-partial",
                    r.title()
                );
                out.push(result(rule, index, "note", message, r, m.field.as_deref()));
            }
        }
    }
    out
}

fn notification(e: &LoadError) -> Value {
    let mut region = json!({ "startLine": e.line.unwrap_or(1).max(1) });
    if let Some(column) = e.column {
        region["startColumn"] = json!(column.max(1));
    }
    json!({
        "level": "error",
        "message": { "text": e.to_string() },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": uri(&e.file) },
                "region": region,
            },
        }],
    })
}

/// The report as a SARIF 2.1.0 log, pretty-printed.
pub fn render(report: &Report, policy: &Policy) -> String {
    let rules = catalogue();
    let index = |rule: &Rule| rules.iter().position(|r| r.id == rule.id);
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "vaultgate",
                    "version": crate::cli::VERSION,
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": INFORMATION_URI,
                    "rules": rules.iter().map(|r| descriptor(r, policy)).collect::<Vec<_>>(),
                },
            },
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": report.errors.iter().map(notification).collect::<Vec<_>>(),
            }],
            "results": results(report, &index),
            "properties": {
                "allowed": report.allowed,
                "denied": report.denied,
                "warned": report.warned,
                "notEvaluated": report.not_evaluated,
                "notGoverned": report.skipped,
                "files": report.files,
            },
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(uri("apps/billing/db.yaml"), "apps/billing/db.yaml");
        assert_eq!(uri("<stdin>"), "%3Cstdin%3E");
        assert_eq!(uri("a b/c%.yaml"), "a%20b/c%25.yaml");
    }

    #[test]
    fn every_rule_has_a_family() {
        assert!(ALL.iter().all(|r| family(r) != "other"), "a new id family");
    }
}
