//! The audit report as one self-contained HTML file: inline CSS, one inline SVG coverage bar
//! per namespace (`svg#coverage-<namespace>`, `coverage-_cluster` for cluster-scoped objects),
//! the bootstrap table and the violation table (`table#violations`, one `tr.violation` per
//! finding). No script, no external stylesheet, font or image: it opens offline and can be
//! attached to a ticket.

use std::fmt::Write as _;

use crate::audit::{NamespaceSummary, Report};
use crate::cli::escape::html as escape;
use crate::policy::Mode;

pub fn mode(m: Mode) -> &'static str {
    match m {
        Mode::Off => "off",
        Mode::Warn => "warn",
        Mode::Enforce => "enforce",
    }
}

/// The element id of a namespace's coverage chart. Namespace names are DNS labels, so they are
/// valid in an id as they are.
pub fn coverage_id(namespace: &str) -> String {
    if namespace.is_empty() {
        "coverage-_cluster".to_owned()
    } else {
        format!("coverage-{}", escape(namespace))
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.enforce{color:#a40000}.warn{color:#8a5a00}.muted{color:#666}\
section.ns{border-top:1px solid #ddd;padding-top:.5em}";

/// One namespace's coverage bar: covered (green), materialized within it (darker), uncovered (red).
fn coverage_svg(ns: &NamespaceSummary) -> String {
    let width = 400.0;
    let (covered, materialized) = if ns.secrets == 0 {
        (0.0, 0.0)
    } else {
        (
            width * ns.covered as f64 / ns.secrets as f64,
            width * ns.materialized as f64 / ns.secrets as f64,
        )
    };
    let label = match ns.coverage_percent {
        Some(p) => format!("{p:.0}% Vault coverage ({} of {})", ns.covered, ns.secrets),
        None => "no Secrets".to_owned(),
    };
    format!(
        "<svg id=\"{id}\" class=\"coverage\" width=\"{w}\" height=\"34\" role=\"img\" aria-label=\"{l}\">\
<title>{l}</title>\
<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"16\" fill=\"{bg}\"/>\
<rect class=\"covered\" x=\"0\" y=\"0\" width=\"{covered:.1}\" height=\"16\" fill=\"#7cbf7c\"/>\
<rect class=\"materialized\" x=\"0\" y=\"0\" width=\"{materialized:.1}\" height=\"16\" fill=\"#2e7d32\"/>\
<text x=\"0\" y=\"30\" font-size=\"12\">{l}</text></svg>",
        id = coverage_id(&ns.namespace),
        w = width,
        l = escape(&label),
        bg = if ns.secrets == 0 { "#eee" } else { "#e57373" },
    )
}

fn counts(map: &std::collections::BTreeMap<String, usize>) -> String {
    map.iter()
        .map(|(k, n)| format!("{} {n}", escape(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn page(report: &Report, notes: &[String]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>vaultgate audit</title><style>{STYLE}</style></head><body>\n<h1>vaultgate audit</h1>\n<p>{} violations in {} objects judged. Coverage: Secrets that trace to Vault (materialized) or a declared producer, over all Secrets of the namespace. <em>(inferred)</em>: only a managedFields manager, which a client chooses, names the producer.</p>\n",
        report.violations(),
        report.objects.len()
    );
    for ns in &report.namespaces {
        let name = if ns.namespace.is_empty() {
            "cluster-scoped objects".to_owned()
        } else {
            escape(&ns.namespace)
        };
        let _ = writeln!(
            h,
            "<section class=\"ns\" data-namespace=\"{}\"><h2>{name} <span class=\"muted\">mode {}{}</span></h2>\n{}",
            escape(&ns.namespace),
            mode(ns.mode),
            if ns.ready { ", ready to enforce" } else { "" },
            coverage_svg(ns)
        );
        if ns.secrets > 0 {
            let _ = writeln!(
                h,
                "<p>Secrets by class: {}<br>Secrets by producer: {}</p>",
                counts(&ns.by_class),
                counts(&ns.by_producer)
            );
        }
        if !ns.bootstrap.is_empty() {
            h.push_str("<table class=\"bootstrap\"><tr><th>bootstrap Secret</th><th>handover</th><th>to</th></tr>\n");
            for b in &ns.bootstrap {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&b.name),
                    escape(&b.state),
                    escape(b.target.as_deref().unwrap_or("-"))
                );
            }
            h.push_str("</table>\n");
        }
        h.push_str("</section>\n");
    }
    h.push_str("<h2>Violations</h2>\n<table id=\"violations\"><tr><th>namespace</th><th>object</th><th>producer</th><th>rule</th><th>mode</th><th>what</th><th>fix</th></tr>\n");
    for o in &report.objects {
        for v in &o.violations {
            let _ = writeln!(
                h,
                "<tr class=\"violation\" data-rule=\"{rule}\"><td>{}</td><td>{}</td><td>{}</td><td>{rule} {}</td><td class=\"{m}\">{m}</td><td>{}</td><td><pre>{}</pre></td></tr>",
                escape(o.namespace.as_deref().unwrap_or("")),
                escape(&o.reference()),
                escape(&o.producer.label()),
                v.slug,
                escape(&v.message),
                escape(&v.fix),
                rule = v.rule,
                m = mode(v.mode),
            );
        }
    }
    h.push_str("</table>\n");
    for (ns, n) in &report.exempt {
        let _ = writeln!(
            h,
            "<p class=\"muted\">exempt namespace {}: {n} objects not judged</p>",
            escape(ns)
        );
    }
    for note in notes {
        let _ = writeln!(h, "<p class=\"muted\">note: {}</p>", escape(note));
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::{Listed, audit};
    use crate::cluster::MemoryView;
    use crate::policy::{Object, Policy, objects::Kind};

    fn report() -> Report {
        let policy = Policy::default();
        let secret = |ns: &str, name: &str| Listed {
            object: Object::from_value(
                Kind::Secret,
                json!({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": name, "namespace": ns}}),
            )
            .expect("a Secret"),
            managers: vec![],
        };
        let objects = vec![secret("payments", "db-creds"), secret("orders", "api-key")];
        let mut view = MemoryView::from_policy(&policy);
        for l in &objects {
            view.insert(&l.object, None);
        }
        audit(&objects, &policy, &view, std::time::SystemTime::now())
    }

    #[test]
    fn the_page_is_self_contained_with_a_chart_per_namespace_and_a_row_per_finding() {
        let page = page(&report(), &["a <note>".into()]);
        for banned in [
            "<script", "src=", "href=", "@import", "url(", "http://", "https://",
        ] {
            assert!(!page.contains(banned), "{banned} in the page");
        }
        assert!(page.contains("<svg id=\"coverage-payments\""));
        assert!(page.contains("<svg id=\"coverage-orders\""));
        assert_eq!(
            page.matches("<tr class=\"violation\" data-rule=\"VG101\"")
                .count(),
            2
        );
        assert!(page.contains("<td>payments</td><td>Secret/db-creds</td>"));
        assert!(page.contains("note: a &lt;note&gt;"), "text is escaped");
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
