//! `check` output: one line per object (`file:line`, the denial or the missing context under
//! it), the files and documents listed as not Kubernetes objects, and a summary line; or the
//! same as JSON. SARIF, JUnit and GitHub annotations are rendered from the same report
//! (`sarif.rs`, `junit.rs`, `github.rs`).

use serde::Serialize;

use super::{Document, LoadError, listed::Listed, sealed::Sealed};
use crate::policy::{Decision, Object, Violation, exception::Excepted, view::Missing};

/// An object's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allowed,
    Warned,
    Denied,
    /// Nothing denied, but a rule needed an object that is not in the set.
    NotEvaluated,
}

/// Who writes the object when it is not `--as` (a SealedSecret's output: its decrypter).
#[derive(Debug, Clone, Serialize)]
pub struct WrittenBy {
    /// The decrypter's name in `identities.bootstrapDecrypters`.
    pub decrypter: String,
    pub user: String,
}

/// One object's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub file: String,
    pub document: usize,
    pub line: usize,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The namespace is `-n`'s: the manifest sets none.
    pub namespace_defaulted: bool,
    pub name: String,
    pub outcome: Verdict,
    /// True when allowed or warned (not when denied or not evaluated).
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<&'static str>,
    pub violations: Vec<Finding>,
    /// The rules the object is excepted from by the policy's exceptions: which exception, its
    /// ticket, reason and expiry (their findings have mode `excepted`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excepted: Vec<Excepted>,
    /// Objects the rules needed and the set does not hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Missing>,
    /// For the Secret a SealedSecret writes: the SealedSecret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed_secret: Option<Sealed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_by: Option<WrittenBy>,
    #[serde(skip)]
    pub message: String,
}

impl Outcome {
    /// Denied, or not evaluated: what makes a run fail (exit 1 or 3).
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Verdict::Denied | Verdict::NotEvaluated)
    }

    /// `Secret payments/db` (the Secret a SealedSecret writes for a SealedSecret).
    pub fn title(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
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
    pub not_evaluated: usize,
    /// Kubernetes objects of kinds vaultgate does not govern.
    pub skipped: usize,
    /// Files holding the objects (governed or not).
    pub files: usize,
    /// Files and documents that are not Kubernetes objects, with why and a hint.
    pub not_manifests: Vec<Listed>,
    /// Manifests that cannot be read (exit code 2); nothing is judged when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<LoadError>,
}

/// `1 object`, `2 objects`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Report {
    pub fn push(
        &mut self,
        doc: &Document,
        object: &Object,
        decision: Decision,
        written_by: Option<WrittenBy>,
    ) {
        let kind = object.kind().as_str();
        let name = object.name().to_owned();
        let outcome = if !decision.allowed() {
            self.denied += 1;
            Verdict::Denied
        } else if !decision.evaluated() {
            self.not_evaluated += 1;
            Verdict::NotEvaluated
        } else if !decision.warned.is_empty() {
            self.warned += 1;
            Verdict::Warned
        } else {
            self.allowed += 1;
            Verdict::Allowed
        };
        let excepted = |v: &Violation| decision.excepted.iter().any(|e| e.rule == v.rule.id);
        let violations = decision
            .denied
            .iter()
            .map(|v| Finding::new(v, "enforce"))
            .chain(
                decision
                    .warned
                    .iter()
                    .map(|v| Finding::new(v, if excepted(v) { "excepted" } else { "warn" })),
            )
            .collect();
        let mut message: String = if outcome == Verdict::Denied {
            decision
                .message(kind, doc.namespace.as_deref(), &name)
                .lines()
                .map(|l| format!("  {l}\n"))
                .collect()
        } else {
            decision
                .warnings()
                .iter()
                .map(|w| format!("  warning: {w}\n"))
                .collect()
        };
        for e in &decision.excepted {
            message.push_str(&format!(
                "  EXCEPTED {} by {} ({}) until {}: {}\n",
                e.rule,
                e.exception,
                e.ticket,
                e.expires.as_deref().unwrap_or("-"),
                e.reason
            ));
        }
        let label = if outcome == Verdict::Denied {
            "note: also not evaluated, missing"
        } else {
            "missing"
        };
        for m in &decision.missing {
            message.push_str(&format!("  {label}: {m}\n"));
        }
        self.results.push(Outcome {
            file: doc.file.clone(),
            document: doc.index,
            line: doc.line,
            kind,
            namespace: doc.namespace.clone(),
            namespace_defaulted: doc.namespace_defaulted,
            name,
            outcome,
            allowed: matches!(outcome, Verdict::Allowed | Verdict::Warned),
            class: decision.class.map(|c| c.as_str()),
            violations,
            excepted: decision.excepted,
            missing: decision.missing,
            sealed_secret: doc.sealed.clone(),
            written_by,
            message,
        });
    }

    /// Every object, the listed files and the summary.
    pub fn text(&self) -> String {
        self.text_with(false)
    }

    /// The denied and not-evaluated objects only, then the summary (`--quiet`).
    pub fn text_quiet(&self) -> String {
        self.text_with(true)
    }

    /// Objects that fail a run: denied, or not evaluated.
    pub fn failures(&self) -> impl Iterator<Item = &Outcome> {
        self.results.iter().filter(|r| r.failed())
    }

    /// `checked 3 objects in 1 file: 1 allowed, 1 denied, 0 warned, 1 not governed, 0 not
    /// evaluated`, and how many inputs were listed as not Kubernetes objects, when any were.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "checked {} in {}: {} allowed, {} denied, {} warned, {} not governed, {} not evaluated",
            plural(self.results.len() + self.skipped, "object", "objects"),
            plural(self.files, "file", "files"),
            self.allowed,
            self.denied,
            self.warned,
            self.skipped,
            self.not_evaluated,
        );
        if !self.not_manifests.is_empty() {
            out.push_str(&format!(
                "; {} listed as not Kubernetes objects",
                self.not_manifests.len()
            ));
        }
        out
    }

    fn text_with(&self, quiet: bool) -> String {
        let mut out = String::new();
        for r in self.results.iter().filter(|r| !quiet || r.failed()) {
            let verdict = match r.outcome {
                Verdict::Denied => "DENIED ",
                Verdict::NotEvaluated => "NOT EVALUATED",
                Verdict::Warned => "WARNED ",
                Verdict::Allowed => "ALLOWED",
            };
            let mut target = match &r.namespace {
                Some(ns) => format!("{ns}/{}", r.name),
                None => r.name.clone(),
            };
            if r.namespace_defaulted {
                target.push_str(" (namespace defaulted by -n)");
            }
            let what = match (&r.sealed_secret, &r.written_by) {
                (Some(s), by) => {
                    let by = by.as_ref().map_or(String::new(), |b| {
                        format!(", written by decrypter {} ({})", b.decrypter, b.user)
                    });
                    let scope = if s.scope == "strict" {
                        String::new()
                    } else {
                        format!(", scope {}", s.scope)
                    };
                    format!(
                        "SealedSecret {}/{} → {} {target}{by}{scope}",
                        s.namespace, s.name, r.kind
                    )
                }
                (None, _) => format!("{} {target}", r.kind),
            };
            out.push_str(&format!("{verdict} {what} ({}:{})\n", r.file, r.line));
            out.push_str(&r.message);
        }
        if !quiet && !self.not_manifests.is_empty() {
            out.push_str("not Kubernetes objects (listed, not checked):\n");
            for l in &self.not_manifests {
                out.push_str(&format!("SKIPPED {}\n", l.text()));
            }
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
