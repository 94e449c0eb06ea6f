//! The audit's HTML report opened in a real browser: headless Chromium (Debian's package, found
//! or installed by `tests/tools/chromium.sh`; tests/e2e/run.sh exports its path as
//! `VAULTGATE_E2E_CHROMIUM`) loads the page from a `file://` URL and dumps the DOM it built. The
//! DOM must hold one coverage chart with its bars per namespace and one violation row per
//! finding, and Chromium's network log must show no request made for the page. A control page
//! with an external image proves the network check sees a request when there is one.
//!
//! The report is built in memory, the way `vaultgate audit` builds it over a listing (a fixed
//! set of objects, so the page and its screenshot are the same on every run);
//! `audit::audit_finds_and_judges_secrets_the_webhook_never_saw` opens the binary's page of the
//! live cluster with the same helpers. `VAULTGATE_UPDATE_SCREENSHOT=1` rewrites
//! docs/audit-report.png from this test's screenshot (1200×900).

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use serde_json::{Value, json};
use vaultgate::{
    audit::{self, FieldManager, Listed, Report},
    cluster::LiveView,
    policy::{Object, Policy, objects::Kind},
};

/// The Chromium binary: `VAULTGATE_E2E_CHROMIUM`, else what tests/tools/chromium.sh finds or
/// installs. Panics naming what is missing; never skips.
pub fn chromium() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os("VAULTGATE_E2E_CHROMIUM") {
            return PathBuf::from(p);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/chromium.sh");
        let out = Command::new("bash")
            .arg(script)
            .output()
            .unwrap_or_else(|e| panic!("running {script}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "no headless Chromium: {script} failed\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
    })
}

/// What Chromium made of a page: the serialized DOM, and every URL it requested for the page
/// (from its network log: URL_REQUEST_START_JOB events whose network isolation key is the
/// `file://` page's; the browser's own background requests have other keys).
pub struct Loaded {
    pub dom: String,
    pub page_requests: Vec<String>,
}

fn flags(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

/// Loads `page` (a file) in headless Chromium with `--dump-dom` and a network log.
pub fn load(page: &Path) -> Loaded {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let netlog = dir.path().join("netlog.json");
    let out = Command::new(chromium())
        .args(flags(&dir.path().join("profile")))
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", chromium().display()));
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium --dump-dom {} failed ({})\n{}",
        page.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let log: Value = serde_json::from_str(
        &std::fs::read_to_string(&netlog)
            .unwrap_or_else(|e| panic!("chromium wrote no network log {}: {e}", netlog.display())),
    )
    .unwrap_or_else(|e| panic!("chromium's network log is not JSON: {e}"));
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].clone();
    assert!(start_job.is_number(), "the network log names its events");
    let page_requests = log["events"]
        .as_array()
        .expect("network log events")
        .iter()
        .filter(|e| e["type"] == start_job)
        .filter(|e| {
            e["params"]["network_isolation_key"]
                .as_str()
                .is_some_and(|k| k.starts_with("file://"))
        })
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_owned))
        .collect();
    Loaded { dom, page_requests }
}

/// Takes a `width`×`height` screenshot of `page` into `png`.
pub fn screenshot(page: &Path, png: &Path, width: u32, height: u32) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = Command::new(chromium())
        .args(flags(&dir.path().join("profile")))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg("--hide-scrollbars")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", chromium().display()));
    let bytes = std::fs::read(png).unwrap_or_default();
    assert!(
        out.status.success() && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
        "chromium --screenshot wrote no PNG ({}, {} bytes)\n{}",
        out.status,
        bytes.len(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The part of `dom` from `start` to the next `end` after it, if `start` is there.
pub fn element<'a>(dom: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = dom.find(start)?;
    let len = dom[from..].find(end)? + end.len();
    Some(&dom[from..from + len])
}

/// Asserts the DOM holds, for each `(namespace id, secrets)`, the coverage chart with its
/// background and bars, and `rows` violation rows in `table#violations`; and that neither the
/// DOM nor the page's requests name an http(s) URL.
pub fn assert_rendered(loaded: &Loaded, charts: &[String], rows: usize) {
    let dom = &loaded.dom;
    for id in charts {
        let svg = element(dom, &format!("<svg id=\"coverage-{id}\""), "</svg>")
            .unwrap_or_else(|| panic!("no svg#coverage-{id} in the DOM Chromium built"));
        for bar in ["<rect class=\"covered\"", "<rect class=\"materialized\""] {
            assert!(svg.contains(bar), "svg#coverage-{id} has no {bar}: {svg}");
        }
        assert!(svg.contains("Vault coverage") || svg.contains("no Secrets"));
    }
    let table = element(dom, "<table id=\"violations\">", "</table>")
        .expect("table#violations in the DOM Chromium built");
    assert!(
        table.contains("<tbody>"),
        "the table went through the HTML parser"
    );
    assert_eq!(
        table.matches("<tr class=\"violation\"").count(),
        rows,
        "one tr.violation per finding"
    );
    for scheme in ["http://", "https://"] {
        assert!(!dom.contains(scheme), "the DOM names an {scheme} URL");
    }
    assert_eq!(
        loaded.page_requests,
        Vec::<String>::new(),
        "the page made network requests"
    );
}

/// The ids of a report's coverage charts, as the page names them.
pub fn chart_ids<'a>(namespaces: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    namespaces
        .into_iter()
        .map(|n| {
            if n.is_empty() {
                "_cluster".to_owned()
            } else {
                n.to_owned()
            }
        })
        .collect()
}

const P: &str = "platform.pnats.cloud/";

fn listed(kind: Kind, value: Value, manager: &str) -> Listed {
    Listed {
        object: Object::from_value(kind, value).expect("a valid object"),
        managers: vec![FieldManager {
            manager: manager.into(),
            operation: "Update".into(),
            subresource: false,
        }],
    }
}

fn secret(ns: &str, name: &str, meta: Value) -> Value {
    let mut m = json!({"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}")});
    if let (Some(m), Value::Object(extra)) = (m.as_object_mut(), meta) {
        m.extend(extra);
    }
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": m})
}

fn external_secret(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": ns, "uid": format!("es-{ns}-{name}")},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault-backend"},
            "target": {"name": name, "creationPolicy": "Owner"},
            "data": [{"secretKey": "password",
                      "remoteRef": {"key": format!("platform-data/postgres/{ns}"), "property": "password"}}]
        }
    })
}

fn materialized(ns: &str, name: &str) -> [Listed; 2] {
    [
        listed(
            Kind::ExternalSecret,
            external_secret(ns, name),
            "argocd-controller",
        ),
        listed(
            Kind::Secret,
            secret(
                ns,
                name,
                json!({
                    "labels": {"reconcile.external-secrets.io/managed": "true"},
                    "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                                         "name": name, "uid": format!("es-{ns}-{name}"), "controller": true}]
                }),
            ),
            "external-secrets",
        ),
    ]
}

/// A small cluster with something of each kind: materialized, hand-made, copied, bootstrap,
/// a kubectl-written ClusterSecretStore.
fn report() -> Report {
    let policy = Policy::default();
    let mut objects: Vec<Listed> = Vec::new();
    objects.extend(materialized("payments", "db"));
    objects.extend(materialized("payments", "stripe"));
    objects.push(listed(
        Kind::Secret,
        secret("payments", "hand-made", json!({})),
        "kubectl-client-side-apply",
    ));
    objects.extend(materialized("orders", "db"));
    objects.push(listed(
        Kind::Secret,
        secret(
            "orders",
            "reflected",
            json!({"annotations": {"reflector.v1.k8s.emberstack.com/reflects": "shared/db"}}),
        ),
        "reflector",
    ));
    objects.push(listed(
        Kind::Secret,
        secret(
            "vault",
            "pg-root",
            json!({
                "labels": {format!("{P}secret-class"): "bootstrap", format!("{P}bootstrap-source"): "sealed-secrets"},
                "annotations": {
                    format!("{P}handover-to"): "platform-data/postgres/vault",
                    format!("{P}created-by"): "system:serviceaccount:kube-system:sealed-secrets-controller",
                    format!("{P}first-seen"): "2026-01-01T00:00:00Z",
                    format!("{P}admission-uid"): "a-uid",
                }
            }),
        ),
        "sealed-secrets-controller",
    ));
    objects.push(listed(
        Kind::ClusterSecretStore,
        json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
            "metadata": {"name": "aws", "uid": "css-aws"},
            "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "eu-west-1"}}}
        }),
        "kubectl-client-side-apply",
    ));
    let view = LiveView::from_listing(&policy, objects.iter().map(|l| (&l.object, None)), &[]);
    audit::audit(&objects, &policy, &view, std::time::SystemTime::now())
}

#[test]
fn the_audit_page_renders_in_chromium_with_a_chart_per_namespace_and_a_row_per_finding() {
    let report = report();
    assert!(report.namespaces.len() >= 3 && report.violations() >= 3);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let page = dir.path().join("audit.html");
    let notes = ["sealedsecrets.bitnami.com is not served by this cluster".to_owned()];
    std::fs::write(&page, vaultgate::cli::audit_html(&report, &notes)).expect("write the page");

    let loaded = load(&page);
    assert_rendered(
        &loaded,
        &chart_ids(report.namespaces.iter().map(|n| n.namespace.as_str())),
        report.violations(),
    );
    // A finding's row, as the browser shows it.
    assert!(
        loaded
            .dom
            .contains("<td>payments</td><td>Secret/hand-made</td>"),
        "the hand-made Secret's row"
    );

    // The control: the same check sees a page that fetches something.
    let control = dir.path().join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><html><body><img src=\"http://example.invalid/x.png\"></body></html>",
    )
    .expect("write the control page");
    assert_eq!(
        load(&control).page_requests,
        ["http://example.invalid/x.png"],
        "the network log shows a page's request"
    );

    let png = dir.path().join("audit-report.png");
    screenshot(&page, &png, 1200, 900);
    if std::env::var_os("VAULTGATE_UPDATE_SCREENSHOT").is_some() {
        let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/audit-report.png");
        std::fs::copy(&png, docs).unwrap_or_else(|e| panic!("writing {docs}: {e}"));
    }
}
