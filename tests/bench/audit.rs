//! The audit-engine benchmark (issue 15): `vaultgate audit`'s engine over a live-view-sized
//! listing, 100,000 Secrets (metadata only, as `audit` lists them) and 20,000 ExternalSecrets,
//! with the same mix as the context benchmark (`context.rs`): 60 % materialized by an
//! ExternalSecret that exists with the owner uid, 15 % operator-generated (`secret-class:
//! derived`), 5 % bootstrap with handover stamps, 20 % service-account tokens; 1,000 namespaces.
//!
//! It builds the view `serve` holds with its audit on (`LiveView::from_listing` with each
//! ExternalSecret also kept whole, [`Held`], with an `argocd-controller` field manager as Argo CD
//! leaves it), reports what keeping them whole costs (the same view built without), then times,
//! side by side in one run, three ways of auditing it:
//!
//! - **streamed** (the in-cluster audit): `audit::stream::fold` over the view's Secrets and the
//!   ExternalSecrets it keeps whole, a namespace at a time, each namespace's capped PolicyReport
//!   digested and dropped as it comes, as the in-cluster audit writes and forgets it;
//! - **full in-cluster** (the in-cluster audit before streaming; Secrets only, as it judged them
//!   then): the view's Secrets as one listing
//!   (`secrets_listing`), `audit::audit` over it, then every PolicyReport built at once
//!   (`policy_report::build`), all held until the pass ends;
//! - **CLI**: `audit::audit` over the whole listing (Secrets with their field managers, and the
//!   ExternalSecrets), the report `vaultgate audit` prints.
//!
//! Memory is counted by a counting global allocator (`stats_alloc`, in this binary only): bytes
//! allocated in the first pass, and the most bytes held at once, sampled where a pass holds the
//! most (after each namespace for the streamed pass, after judging and after building the
//! reports for the others); and by the peak resident memory a pass adds (VmHWM after it over
//! VmRSS before it, the high-water mark reset through `/proc/self/clear_refs`; the streamed
//! pass runs first, before the others grow the heap).
//!
//! ```text
//! cargo bench --bench audit                   # full size, 5 passes each
//! VG_AUDIT_SCALE=0.1 cargo bench --bench audit
//! ```
//!
//! `cargo test --all-targets` runs it at 1/100 scale as a smoke test; nothing is timed or asserted.

use std::{alloc::System, hint::black_box, time::Instant};

use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use vaultgate::{
    audit::{self, FieldManager, Judge, Listed, policy_report},
    cluster::{LiveView, live::Held},
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

/// The ExternalSecret that materializes Secret `target` (one of the 0..=11 mod 20 ones), and
/// its form the live view keeps for the in-cluster audit (from the object as the API serves it,
/// with Argo CD's field manager entry and ESO's status).
fn external_secret(target: usize, n_ns: usize) -> (Listed, Held) {
    let namespace = ns(target, n_ns);
    let value: Value = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": format!("app-{target}"), "namespace": namespace,
                     "uid": uid(target, 0x3b1f_6a52), "resourceVersion": "12345",
                     "managedFields": [
                        {"manager": "argocd-controller", "operation": "Apply",
                         "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:data": {}, "f:target": {}}}},
                        {"manager": "external-secrets", "operation": "Update", "subresource": "status",
                         "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:conditions": {}}}}]},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault-backend"},
            "target": {"name": format!("app-{target}"), "creationPolicy": "Owner"},
            "data": [{"secretKey": "password",
                      "remoteRef": {"key": format!("platform-data/db-{}/{namespace}", target % 7),
                                    "property": "password"}}]
        },
        "status": {"refreshTime": "2026-12-06T10:00:00Z", "syncedResourceVersion": "1-abc",
                   "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced"}]}
    });
    let held = Held::keep(&mut value.clone());
    let listed = Listed {
        object: Object::from_value(Kind::ExternalSecret, value).expect("an ExternalSecret"),
        managers: manager("argocd-controller"),
    };
    (listed, held)
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

/// What one way of auditing measured.
struct Measured {
    times: Vec<f64>,
    /// CPU time of the pass's thread (`/proc/thread-self/schedstat`): what the pass costs,
    /// whatever else the shared machine runs.
    cpu: Vec<f64>,
    allocated: usize,
    allocations: usize,
    /// The most bytes held at once (sampled), over what was held before the pass.
    peak_held: usize,
    rss_kib: u64,
    peak_kib: u64,
    /// What the pass found, to show the three did the same work.
    judged: usize,
    violations: usize,
    reports: usize,
}

fn held(region: &Region<'_, System>) -> usize {
    let c = region.change();
    c.bytes_allocated.saturating_sub(c.bytes_deallocated)
}

/// One pass's outcome: objects judged, violations, reports; `sample` is called where the pass
/// holds the most.
type Pass<'a> = dyn FnMut(&mut dyn FnMut()) -> (usize, usize, usize) + 'a;

fn measure(passes: usize, run: &mut Pass<'_>) -> Measured {
    let mut m = Measured {
        times: Vec::new(),
        cpu: Vec::new(),
        allocated: 0,
        allocations: 0,
        peak_held: 0,
        rss_kib: 0,
        peak_kib: 0,
        judged: 0,
        violations: 0,
        reports: 0,
    };
    for pass in 0..passes {
        let rss0 = proc_status_kib("VmRSS:");
        let peak_ok = reset_peak();
        let region = Region::new(GLOBAL);
        let mut peak = 0;
        let cpu0 = thread_cpu_seconds();
        let started = Instant::now();
        let (judged, violations, reports) = run(&mut || peak = peak.max(held(&region)));
        m.times.push(started.elapsed().as_secs_f64());
        m.cpu.push(thread_cpu_seconds() - cpu0);
        if pass == 0 {
            let stats = region.change();
            m.allocated = stats.bytes_allocated;
            m.allocations = stats.allocations + stats.reallocations;
            m.peak_held = peak;
            m.rss_kib = proc_status_kib("VmRSS:").saturating_sub(rss0);
            m.peak_kib = if peak_ok {
                proc_status_kib("VmHWM:").saturating_sub(rss0)
            } else {
                0
            };
            (m.judged, m.violations, m.reports) = (judged, violations, reports);
        }
    }
    m
}

/// Seconds this thread has run on a CPU (0 where the kernel does not say).
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

fn print(name: &str, m: &Measured) {
    let mut sorted = m.times.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "  {name}: median {:.3} s of {} [{}]",
        sorted[sorted.len() / 2],
        m.times.len(),
        m.times
            .iter()
            .map(|t| format!("{t:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "    CPU time: median {:.3} s [{}]",
        median(&m.cpu),
        m.cpu
            .iter()
            .map(|t| format!("{t:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "    first pass: {} allocations, {:.1} MiB allocated in all, at most {:.1} MiB held at once",
        m.allocations,
        mib(m.allocated),
        mib(m.peak_held)
    );
    println!(
        "    first pass: VmRSS +{:.1} MiB after, peak (VmHWM) +{:.1} MiB{}",
        m.rss_kib as f64 / 1024.0,
        m.peak_kib as f64 / 1024.0,
        if m.peak_kib == 0 {
            " (clear_refs refused or no growth)"
        } else {
            ""
        }
    );
    println!(
        "    {} objects judged, {} violations, {} reports",
        m.judged, m.violations, m.reports
    );
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
    let mut whole: Vec<Option<Held>> = vec![None; objects.len()];
    for i in 0..n_es {
        let (listed, h) = external_secret((i / 12) * 20 + i % 12, n_ns);
        objects.push(listed);
        whole.push(Some(h));
    }
    let listing_time = started.elapsed();
    let held_bytes: usize = whole.iter().flatten().map(Held::len).sum();

    // The same view without the ExternalSecrets kept whole: what `serve` holds with its audit
    // off, the baseline of what keeping them costs. Built once unmeasured first, so both
    // measured views find the namespace interner (`cluster::intern`) equally warm.
    drop(LiveView::from_listing(
        &policy,
        objects.iter().map(|l| (&l.object, None)),
        &[],
    ));
    let region = Region::new(GLOBAL);
    let plain = LiveView::from_listing(&policy, objects.iter().map(|l| (&l.object, None)), &[]);
    let plain_held = held(&region);
    drop(plain);

    let region = Region::new(GLOBAL);
    let started = Instant::now();
    let view = LiveView::from_listing(
        &policy,
        objects
            .iter()
            .zip(&whole)
            .map(|(l, h)| (&l.object, h.clone())),
        &[],
    );
    let view_time = started.elapsed();
    let view_stats = region.change();
    let cap = policy_report::DEFAULT_CAP;

    let streamed = measure(passes, &mut |sample: &mut dyn FnMut()| {
        let judge = Judge::new(&policy, std::time::SystemTime::now());
        let mut reports = 0;
        let totals = audit::stream::fold(&view, &view, &judge, cap, |built| {
            sample();
            black_box(policy_report::content_digest(&built));
            reports += 1;
            true
        });
        (totals.objects, totals.violation_count(), reports)
    });
    let full = measure(passes, &mut |sample: &mut dyn FnMut()| {
        let listing = view.secrets_listing();
        let report = audit::audit(&listing, &policy, &view, std::time::SystemTime::now());
        sample();
        let reports = policy_report::build(&report, cap);
        sample();
        for built in reports.values() {
            black_box(policy_report::content_digest(built));
        }
        (report.objects.len(), report.violations(), reports.len())
    });
    let cli = measure(passes, &mut |sample: &mut dyn FnMut()| {
        let report = audit::audit(&objects, &policy, &view, std::time::SystemTime::now());
        sample();
        (report.objects.len(), report.violations(), 0)
    });

    println!("audit-engine benchmark (scale {scale})");
    println!(
        "  listing: {n_secrets} Secrets (metadata), {n_es} ExternalSecrets, {n_ns} namespaces; built in {:.2} s",
        listing_time.as_secs_f64()
    );
    let view_held = view_stats
        .bytes_allocated
        .saturating_sub(view_stats.bytes_deallocated);
    println!(
        "  view (LiveView::from_listing, ExternalSecrets kept whole): {:.2} s, {:.1} MiB allocated, {:.1} MiB held",
        view_time.as_secs_f64(),
        mib(view_stats.bytes_allocated),
        mib(view_held)
    );
    // The kept JSON was allocated before the view (as the watch allocates it while decoding),
    // so it is added to the difference; each is behind an `Arc` (two counts).
    let kept = view_held.saturating_sub(plain_held) + held_bytes + n_es * 16;
    println!(
        "  the same view without them kept whole (audit off): {:.1} MiB held; kept whole: +{:.1} MiB ({:.1} MiB of JSON, {} B per ExternalSecret)",
        mib(plain_held),
        mib(kept),
        mib(held_bytes),
        held_bytes / n_es.max(1)
    );
    print(
        "streamed in-cluster pass (stream::fold, reports written as they come)",
        &streamed,
    );
    print(
        "full in-cluster pass, as before (secrets_listing + audit::audit + policy_report::build)",
        &full,
    );
    print("CLI report (audit::audit over the whole listing)", &cli);
    println!(
        "  streamed / full: time {:.2}x, CPU {:.2}x, peak held {:.4}x, VmHWM {:.4}x",
        median(&streamed.times) / median(&full.times),
        median(&streamed.cpu) / median(&full.cpu),
        streamed.peak_held as f64 / full.peak_held.max(1) as f64,
        streamed.peak_kib as f64 / full.peak_kib.max(1) as f64
    );
}

fn median(times: &[f64]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}
