//! `check` output: one line per object (and the denial text under it), a summary line, or
//! the same as JSON for CI annotations.

use serde::Serialize;

use super::Document;
use crate::policy::{Decision, Object, Violation};

/// One object's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub file: String,
    pub document: usize,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<&'static str>,
    pub violations: Vec<Finding>,
    #[serde(skip)]
    pub message: String,
}

/// One rule finding in JSON output.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub slug: &'static str,
    pub rfc: &'static str,
    pub mode: &'static str,
    pub message: String,
    pub fix: String,
    /// The field the finding is about (`spec.data[0].remoteRef.key`), when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Finding {
    fn new(v: &Violation, mode: &'static str) -> Self {
        Self {
            rule: v.rule.id,
            slug: v.rule.slug,
            rfc: v.rule.rfc,
            mode,
            message: v.what.clone(),
            fix: v.fix.clone(),
            field: v.field.clone(),
        }
    }
}

/// All verdicts plus counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub results: Vec<Outcome>,
    pub allowed: usize,
    pub denied: usize,
    pub warned: usize,
    pub skipped: usize,
}

impl Report {
    pub fn push(&mut self, doc: &Document, object: &Object, decision: Decision) {
        let kind = object.kind().as_str();
        let name = object.name().to_owned();
        let allowed = decision.allowed();
        if !allowed {
            self.denied += 1;
        } else if !decision.warned.is_empty() {
            self.warned += 1;
        } else {
            self.allowed += 1;
        }
        let violations = decision
            .denied
            .iter()
            .map(|v| Finding::new(v, "enforce"))
            .chain(decision.warned.iter().map(|v| Finding::new(v, "warn")))
            .collect();
        let message = if allowed {
            decision
                .warned
                .iter()
                .map(|v| format!("  warning: {}\n", v.warning()))
                .collect()
        } else {
            decision
                .message(kind, doc.namespace.as_deref(), &name)
                .lines()
                .map(|l| format!("  {l}\n"))
                .collect()
        };
        self.results.push(Outcome {
            file: doc.file.clone(),
            document: doc.index,
            kind,
            namespace: doc.namespace.clone(),
            name,
            allowed,
            class: decision.class.map(|c| c.as_str()),
            violations,
            message,
        });
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        for r in &self.results {
            let verdict = if !r.allowed {
                "DENIED "
            } else if r.violations.is_empty() {
                "ALLOWED"
            } else {
                "WARNED "
            };
            let target = match &r.namespace {
                Some(ns) => format!("{ns}/{}", r.name),
                None => r.name.clone(),
            };
            out.push_str(&format!(
                "{verdict} {} {target} ({}#{})\n",
                r.kind, r.file, r.document
            ));
            out.push_str(&r.message);
        }
        out.push_str(&format!(
            "checked {} objects: {} allowed, {} denied, {} warned, {} not governed\n",
            self.results.len(),
            self.allowed,
            self.denied,
            self.warned,
            self.skipped
        ));
        out
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
