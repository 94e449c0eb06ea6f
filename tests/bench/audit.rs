//! The audit-engine benchmark (issue 15): `vaultgate audit`'s engine over a live-view-sized
//! listing, 100,000 Secrets (metadata only, as `audit` lists them) and 20,000 ExternalSecrets,
//! with the same mix as the context benchmark (`context.rs`): 60 % materialized by an
//! ExternalSecret that exists with the owner uid, 15 % operator-generated (`secret-class:
//! derived`), 5 % bootstrap with handover stamps, 20 % service-account tokens; 1,000 namespaces.
//!
//! It builds the view the CLI builds (`LiveView::from_listing`), then times full passes of
//! `audit::audit` over it and reports what one pass allocates (a counting global allocator,
//! `stats_alloc`, in this binary only: total bytes allocated, bytes still held by the report
//! when the pass returns) and the peak resident memory it adds (VmHWM after a pass, over VmRSS
//! before it, with the high-water mark reset through `/proc/self/clear_refs`).
//!
//! ```text
//! cargo bench --bench audit                   # full size, 5 passes
//! VG_AUDIT_SCALE=0.1 cargo bench --bench audit
//! ```
//!
//! `cargo test --all-targets` runs it at 1/100 scale as a smoke test; nothing is timed or asserted.

use std::{alloc::System, hint::black_box, time::Instant};

use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use vaultgate::{
    audit::{self, FieldManager, Listed},
    cluster::LiveView,
    policy::{Object, Policy, objects::Kind},
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const PREFIX: &str = "platform.pnats.cloud/";

fn ns(i: usize, namespaces: usize) -> String {
    format!("team-{:04}", i % namespaces)
}

fn uid(i: usize, salt: u32) -> String {
    format!(
        "{salt:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        i & 0xffff,
        (i >> 4) & 0xfff,
        i & 0xfff,
        i
    )
}

fn manager(name: &str) -> Vec<FieldManager> {
    vec![FieldManager {
        manager: name.to_owned(),
        operation: "Update".to_owned(),
        subresource: false,
    }]
}

/// A Secret as `vaultgate audit` reads it from a metadata listing (cli/audit.rs `secret_object`).
fn secret(i: usize, n_ns: usize) -> Listed {
    let namespace = ns(i, n_ns);
    let mut meta = json!({
        "name": format!("app-{i}"), "namespace": namespace, "uid": uid(i, 0x5ec7_e700),
        "labels": {"app.kubernetes.io/name": format!("app-{i}")},
    });
    let mut ty = None;
    let who = match i % 20 {
        0..=11 => {
            meta["labels"]["reconcile.external-secrets.io/managed"] = json!("true");
            meta["labels"][format!("{PREFIX}secret-class")] = json!("materialized");
            meta["ownerReferences"] = json!([{
                "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "name": format!("app-{i}"), "uid": uid(i, 0x3b1f_6a52), "controller": true,
            }]);
            "external-secrets"
        }
        12..=14 => {
            meta["labels"][format!("{PREFIX}secret-class")] = json!("derived");
            "cert-manager-certificates"
        }
        15 => {
            meta["labels"][format!("{PREFIX}secret-class")] = json!("bootstrap");
            meta["labels"][format!("{PREFIX}bootstrap-source")] = json!("sealed-secrets");
            meta["labels"][format!("{PREFIX}handover-state")] = json!("consumed");
            meta["annotations"] = json!({
                format!("{PREFIX}first-seen"): "2026-05-01T10:00:00Z",
                format!("{PREFIX}created-by"):
                    "system:serviceaccount:kube-system:sealed-secrets-controller",
                format!("{PREFIX}handover-to"): format!("platform-data/boot/app-{i}"),
            });
            "sealed-secrets-controller"
        }
        _ => {
            meta["annotations"] = json!({"kubernetes.io/service-account.name": format!("sa-{i}")});
            ty = Some("kubernetes.io/service-account-token");
            "kube-controller-manager"
        }
    };
    let mut value = json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta});
    if let Some(ty) = ty {
        value["type"] = json!(ty);
    }
    Listed {
        object: Object::from_value(Kind::Secret, value).expect("a Secret"),
        managers: manager(who),
    }
}

/// The ExternalSecret that materializes Secret `target` (one of the 0..=11 mod 20 ones).
fn external_secret(target: usize, n_ns: usize) -> Listed {
    let namespace = ns(target, n_ns);
    let value: Value = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": format!("app-{target}"), "namespace": namespace,
                     "uid": uid(target, 0x3b1f_6a52)},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault-backend"},
            "target": {"name": format!("app-{target}"), "creationPolicy": "Owner"},
            "data": [{"secretKey": "password",
                      "remoteRef": {"key": format!("platform-data/db-{}/{namespace}", target % 7),
                                    "property": "password"}}]
        }
    });
    Listed {
        object: Object::from_value(Kind::ExternalSecret, value).expect("an ExternalSecret"),
        managers: manager("argocd-controller"),
    }
}

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0); false if the kernel refused.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let scale: f64 = std::env::var("VG_AUDIT_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if bench_mode { 1.0 } else { 0.01 });
    let n = |full: usize| ((full as f64 * scale) as usize).max(10);
    let (n_secrets, n_es, n_ns) = (n(100_000), n(20_000), n(1_000));
    let passes = if bench_mode { 5 } else { 1 };

    let policy = Policy::default();
    let started = Instant::now();
    let mut objects: Vec<Listed> = (0..n_secrets).map(|i| secret(i, n_ns)).collect();
    objects.extend((0..n_es).map(|i| external_secret((i / 12) * 20 + i % 12, n_ns)));
    let listing_time = started.elapsed();

    let region = Region::new(GLOBAL);
    let started = Instant::now();
    let view = LiveView::from_listing(&policy, objects.iter().map(|l| &l.object), &[]);
    let view_time = started.elapsed();
    let view_stats = region.change();

    let mut times = Vec::new();
    let mut last = None;
    let (mut allocated, mut held, mut allocations, mut peak_kib, mut rss_kib) = (0, 0, 0, 0, 0);
    for pass in 0..passes {
        drop(last.take());
        let rss0 = proc_status_kib("VmRSS:");
        let peak_ok = reset_peak();
        let region = Region::new(GLOBAL);
        let started = Instant::now();
        let report = audit::audit(&objects, &policy, &view, std::time::SystemTime::now());
        times.push(started.elapsed().as_secs_f64());
        let stats = region.change();
        if pass == 0 {
            allocated = stats.bytes_allocated;
            held = stats
                .bytes_allocated
                .saturating_sub(stats.bytes_deallocated);
            allocations = stats.allocations + stats.reallocations;
            rss_kib = proc_status_kib("VmRSS:").saturating_sub(rss0);
            peak_kib = if peak_ok {
                proc_status_kib("VmHWM:").saturating_sub(rss0)
            } else {
                0
            };
        }
        last = Some(black_box(report));
    }
    let report = last.expect("one pass");
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];

    println!("audit-engine benchmark (scale {scale})");
    println!(
        "  listing: {n_secrets} Secrets (metadata), {n_es} ExternalSecrets, {n_ns} namespaces; built in {:.2} s",
        listing_time.as_secs_f64()
    );
    println!(
        "  view (LiveView::from_listing): {:.2} s, {:.1} MiB allocated, {:.1} MiB held",
        view_time.as_secs_f64(),
        mib(view_stats.bytes_allocated),
        mib(view_stats
            .bytes_allocated
            .saturating_sub(view_stats.bytes_deallocated))
    );
    println!(
        "  full pass (audit::audit): median {median:.3} s of {passes} [{}]",
        times
            .iter()
            .map(|t| format!("{t:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "  first pass: {allocations} allocations, {:.1} MiB allocated in all, {:.1} MiB still held by the report",
        mib(allocated),
        mib(held)
    );
    println!(
        "  first pass: VmRSS +{:.1} MiB after, peak (VmHWM) +{:.1} MiB{}",
        rss_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0,
        if peak_kib == 0 {
            " (clear_refs refused or no growth)"
        } else {
            ""
        }
    );
    println!(
        "  report: {} objects judged, {} violations, {} namespaces",
        report.objects.len(),
        report.violations(),
        report.namespaces.len()
    );
    // Where the report's bytes go: the findings' text, per rule.
    let mut rules = std::collections::BTreeMap::<&str, (usize, usize)>::new();
    for v in report.objects.iter().flat_map(|o| &o.violations) {
        let e = rules.entry(v.rule).or_default();
        e.0 += 1;
        e.1 += v.message.len() + v.fix.len() + v.field.as_ref().map_or(0, String::len);
    }
    for (rule, (n, bytes)) in rules {
        println!(
            "  {rule}: {n} findings, {:.1} MiB of message, fix and field text",
            mib(bytes)
        );
    }
}
