//! The audit report as text (per namespace) and as Markdown, and the `--ready` answer.
//! Everything printed is metadata: names, classes, producers, rule ids and messages (which
//! never quote a Secret value: the engine never holds one).

use crate::cli::escape::markdown_cell as cell;
use std::fmt::Write as _;

use super::html::mode;
use crate::audit::{NamespaceSummary, Report, ready_snippet};

/// `N` plus a plural noun.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

fn title(ns: &NamespaceSummary) -> String {
    if ns.namespace.is_empty() {
        "cluster-scoped objects".to_owned()
    } else {
        format!("namespace {} (mode {})", ns.namespace, mode(ns.mode))
    }
}

fn coverage(ns: &NamespaceSummary) -> String {
    match ns.coverage_percent {
        Some(p) => format!(
            "{p:.0}% ({} of {} trace to Vault or a declared producer; {} materialized)",
            ns.covered,
            count(ns.secrets, "Secret"),
            ns.materialized
        ),
        None => "n/a (no Secrets)".to_owned(),
    }
}

fn pairs(map: &std::collections::BTreeMap<String, usize>) -> String {
    map.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

const INFERRED: &str = "\"(inferred)\": only a managedFields manager names the producer. Managers are chosen by the client and can be forged, so an inferred producer never makes a Secret covered.";

pub fn text(report: &Report, notes: &[String]) -> String {
    let mut out = String::new();
    for ns in &report.namespaces {
        let _ = writeln!(out, "== {}", title(ns));
        if ns.secrets > 0 {
            let _ = writeln!(out, "  Secrets by class:    {}", pairs(&ns.by_class));
            let _ = writeln!(out, "  Secrets by producer: {}", pairs(&ns.by_producer));
            let _ = writeln!(out, "  Vault coverage:      {}", coverage(ns));
        }
        for b in &ns.bootstrap {
            let _ = writeln!(
                out,
                "  bootstrap {}: handover {}{}",
                b.name,
                b.state,
                b.target.as_deref().map_or_else(
                    || " (no handover-to declared)".to_owned(),
                    |t| format!(" -> {t}")
                )
            );
        }
        if ns.violations.is_empty() {
            let _ = writeln!(
                out,
                "  no violations{}",
                if ns.ready { " (ready to enforce)" } else { "" }
            );
        }
        for (rule, group) in &ns.violations {
            let _ = writeln!(
                out,
                "  {rule} {} ({}): {}",
                group.slug,
                group.objects.len(),
                group.objects.join(", ")
            );
        }
        out.push('\n');
    }
    for (ns, n) in &report.exempt {
        let _ = writeln!(
            out,
            "exempt namespace {ns}: {} not judged",
            count(*n, "object")
        );
    }
    for e in &report.exceptions {
        let _ = writeln!(
            out,
            "exception {} ({}) for {}: {} until {}, covers {}{}{}",
            e.exception,
            e.ticket,
            e.rules.join(", "),
            e.state,
            e.expires,
            count(e.covers.len(), "object"),
            if e.covers.is_empty() {
                String::new()
            } else {
                format!(": {}", e.covers.join(", "))
            },
            if e.expired.is_empty() {
                String::new()
            } else {
                format!("; expired but still matches {}", e.expired.join(", "))
            }
        );
    }
    for o in report.objects.iter().filter(|o| o.break_glass.is_some()) {
        let _ = writeln!(
            out,
            "break-glass annotation on {} (ticket {}): reported with its findings, never honoured by the audit; who wrote it is in the apiserver audit log",
            o.path(),
            o.break_glass.as_deref().unwrap_or("")
        );
    }
    for note in notes {
        let _ = writeln!(out, "note: {note}");
    }
    let _ = writeln!(
        out,
        "{} in {} of {} judged; `--format json` has each message and fix.\n{INFERRED}",
        count(report.violations(), "violation"),
        count(
            report
                .objects
                .iter()
                .filter(|o| !o.violations.is_empty())
                .count(),
            "object"
        ),
        report.objects.len()
    );
    out
}

pub fn markdown(report: &Report, notes: &[String]) -> String {
    let mut out = String::from("# vaultgate audit\n\n");
    out.push_str("| namespace | mode | Secrets | coverage | by class | by producer | violations |\n|---|---|---|---|---|---|---|\n");
    for ns in &report.namespaces {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            cell(if ns.namespace.is_empty() {
                "(cluster)"
            } else {
                &ns.namespace
            }),
            mode(ns.mode),
            ns.secrets,
            ns.coverage_percent
                .map_or_else(|| "n/a".to_owned(), |p| format!("{p:.0}%")),
            cell(&pairs(&ns.by_class)),
            cell(&pairs(&ns.by_producer)),
            ns.violations
                .values()
                .map(|g| g.objects.len())
                .sum::<usize>()
        );
    }
    let bootstrap: Vec<_> = report
        .namespaces
        .iter()
        .flat_map(|ns| ns.bootstrap.iter().map(move |b| (ns, b)))
        .collect();
    if !bootstrap.is_empty() {
        out.push_str(
            "\n## Bootstrap Secrets\n\n| namespace | Secret | handover | to |\n|---|---|---|---|\n",
        );
        for (ns, b) in bootstrap {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&ns.namespace),
                cell(&b.name),
                cell(&b.state),
                cell(b.target.as_deref().unwrap_or("-"))
            );
        }
    }
    out.push_str("\n## Violations\n\n| namespace | object | producer | rule | mode | what |\n|---|---|---|---|---|---|\n");
    for o in &report.objects {
        for v in &o.violations {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} {} | {} | {} |",
                cell(o.namespace.as_deref().unwrap_or("")),
                cell(&o.reference()),
                cell(&o.producer.label()),
                v.rule,
                v.slug,
                mode(v.mode),
                cell(&v.message)
            );
        }
    }
    for note in notes {
        let _ = writeln!(out, "\n> note: {}", cell(note));
    }
    let _ = writeln!(out, "\n{INFERRED}");
    out
}

/// `--ready`: the namespaces that can move to `enforce`, and the snippet that does it.
pub fn ready(report: &Report) -> String {
    let mut out = String::new();
    if !report.ready.is_empty() {
        let _ = writeln!(
            out,
            "# {} below enforce with no violation: {}",
            count(report.ready.len(), "namespace"),
            report.ready.join(", ")
        );
    }
    out.push_str(&ready_snippet(&report.ready));
    out
}
