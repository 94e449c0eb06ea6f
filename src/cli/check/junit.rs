//! `check -o junit`: JUnit XML for CI test reports (GitLab `artifacts:reports:junit`, Jenkins,
//! Azure DevOps, GitHub test-report actions). One `<testsuite>` per file, one `<testcase>` per
//! object (`Kind namespace/name`, classname the file): a denial is a `<failure>`, an object
//! not evaluated is `<skipped>` naming what was missing, and warnings go to `<system-out>`.
//! Unreadable manifests are `<error>` test cases of their file.

use super::{Outcome, Report, Verdict};
use crate::cli::escape::xml as escape;

/// One suite: a file, its objects and its unreadable documents.
struct Suite<'a> {
    file: &'a str,
    cases: Vec<&'a Outcome>,
    errors: Vec<String>,
}

fn suites(report: &Report) -> Vec<Suite<'_>> {
    let mut suites: Vec<Suite<'_>> = Vec::new();
    for r in &report.results {
        match suites.iter_mut().find(|s| s.file == r.file) {
            Some(s) => s.cases.push(r),
            None => suites.push(Suite {
                file: &r.file,
                cases: vec![r],
                errors: Vec::new(),
            }),
        }
    }
    for e in &report.errors {
        match suites.iter_mut().find(|s| s.file == e.file) {
            Some(s) => s.errors.push(e.to_string()),
            None => suites.push(Suite {
                file: &e.file,
                cases: Vec::new(),
                errors: vec![e.to_string()],
            }),
        }
    }
    suites
}

fn testcase(r: &Outcome) -> String {
    let name = escape(&r.title());
    let file = escape(&r.file);
    let mut out = format!(
        "    <testcase name=\"{name}\" classname=\"{file}\" file=\"{file}\" line=\"{}\"",
        r.line
    );
    let body = match r.outcome {
        Verdict::Denied => {
            let ids: Vec<String> = r
                .violations
                .iter()
                .filter(|v| v.mode == "enforce")
                .map(|v| format!("{} {}", v.rule, v.slug))
                .collect();
            format!(
                "      <failure message=\"denied: {}\" type=\"{}\">{}</failure>\n",
                escape(&ids.join(", ")),
                escape(ids.first().map_or("denied", String::as_str)),
                escape(&format!("{}:{}\n{}", r.file, r.line, r.message))
            )
        }
        Verdict::NotEvaluated => {
            let missing: Vec<String> = r.missing.iter().map(ToString::to_string).collect();
            format!(
                "      <skipped message=\"not evaluated: missing {}\"/>\n",
                escape(&missing.join("; "))
            )
        }
        Verdict::Warned => format!("      <system-out>{}</system-out>\n", escape(&r.message)),
        Verdict::Allowed => String::new(),
    };
    if body.is_empty() {
        out.push_str("/>\n");
    } else {
        out.push_str(">\n");
        out.push_str(&body);
        out.push_str("    </testcase>\n");
    }
    out
}

/// The report as a JUnit XML document.
pub fn render(report: &Report) -> String {
    let suites = suites(report);
    let errors = report.errors.len();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"vaultgate check\" tests=\"{}\" failures=\"{}\" errors=\"{errors}\" skipped=\"{}\">\n",
        report.results.len() + errors,
        report.denied,
        report.not_evaluated,
    ));
    for s in &suites {
        let failures = s
            .cases
            .iter()
            .filter(|r| r.outcome == Verdict::Denied)
            .count();
        let skipped = s
            .cases
            .iter()
            .filter(|r| r.outcome == Verdict::NotEvaluated)
            .count();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\" skipped=\"{skipped}\">\n",
            escape(s.file),
            s.cases.len() + s.errors.len(),
            s.errors.len(),
        ));
        for r in &s.cases {
            out.push_str(&testcase(r));
        }
        for (i, e) in s.errors.iter().enumerate() {
            out.push_str(&format!(
                "    <testcase name=\"unreadable manifest {}\" classname=\"{}\">\n      <error message=\"{}\" type=\"unreadable\"/>\n    </testcase>\n",
                i + 1,
                escape(s.file),
                escape(e)
            ));
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_control_characters_are_escaped() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{fffd}"
        );
    }
}
