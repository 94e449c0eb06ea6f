//! `check -o github`: GitHub Actions workflow commands, which the runner turns into annotations
//! on the pull request's files: `::error file=F,line=L,title=VG101 unmanaged-secret::message`
//! for a denial, `::warning` for a warn-mode finding, `::notice` for context a rule could not
//! see, and `::error` at an unreadable manifest. The summary line follows as plain text.
//!
//! Escaping is the runner's (`@actions/core`'s `escapeData`/`escapeProperty`): `%`, CR and LF in
//! a message; those and `:` and `,` in a property value.

use super::{LoadError, Outcome, Report};
use crate::cli::escape::{github_data as escape_data, github_property as escape_property};

fn command(level: &str, file: &str, line: Option<usize>, title: &str, message: &str) -> String {
    let mut props = format!("file={}", escape_property(file));
    if let Some(line) = line {
        props.push_str(&format!(",line={line}"));
    }
    props.push_str(&format!(",title={}", escape_property(title)));
    format!("::{level} {props}::{}\n", escape_data(message))
}

fn object(r: &Outcome) -> String {
    let mut out = String::new();
    for v in &r.violations {
        let level = if v.mode == "enforce" {
            "error"
        } else {
            "warning"
        };
        out.push_str(&command(
            level,
            &r.file,
            Some(r.line),
            &format!("{} {}", v.rule, v.slug),
            &format!("{}: {}\nFix: {}", r.title(), v.message, v.fix),
        ));
    }
    for m in &r.missing {
        out.push_str(&command(
            "notice",
            &r.file,
            Some(r.line),
            "not evaluated",
            &format!(
                "{}: missing {m}; add it to the set, or accept with --allow-partial",
                r.title()
            ),
        ));
    }
    out
}

fn error(e: &LoadError) -> String {
    command(
        "error",
        &e.file,
        e.line,
        "unreadable manifest",
        &e.to_string(),
    )
}

/// The report as workflow commands, then the summary.
pub fn render(report: &Report) -> String {
    let mut out: String = report.errors.iter().map(error).collect();
    for r in &report.results {
        out.push_str(&object(r));
    }
    out.push_str(&report.summary());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_properties_are_escaped_as_the_runner_reads_them() {
        assert_eq!(escape_data("100%\r\nnext: a,b"), "100%25%0D%0Anext: a,b");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert_eq!(
            command("error", "a,b.yaml", Some(3), "VG101 x", "m"),
            "::error file=a%2Cb.yaml,line=3,title=VG101 x::m\n"
        );
    }
}
