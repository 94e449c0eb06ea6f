//! Micro-benchmarks of one admission review, in process: decode → classify → evaluate → encode,
//! through the public `Webhook::review(route, body)` (the exact call the HTTPS handler makes),
//! with the built-in policy and the in-memory cluster view (`serve --dev`'s).
//!
//! ```text
//! cargo bench --bench review                      # criterion: time per review, MB/s
//! cargo bench --bench review -- small             # one case
//! VG_BENCH_PROFILE=small:20000 target/release/deps/review-*   # plain loop, for callgrind/perf
//! ```
//!
//! Before criterion runs, a table of allocations per review is printed (a counting global
//! allocator, `stats_alloc`, wraps the system allocator in this binary only; its atomic counters
//! add a few ns per allocation to every timing below, equally for every case).
//! `cargo test --all-targets` runs every case once as a smoke test; nothing is timed or asserted.

use std::{
    alloc::System,
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};

use base64::Engine as _;
use criterion::{Criterion, Throughput};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use vaultgate::{
    admission::{Route, Webhook},
    cluster::{ClusterView, MemoryView},
    metrics::Metrics,
    policy::Policy,
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SMALL: &str = include_str!("reviews/secret-create-small.json");
const TLS_UPDATE: &str = include_str!("reviews/secret-update-tls.json");
const HUMAN: &str = include_str!("reviews/secret-create-human.json");
const EXTERNAL_SECRET: &str =
    include_str!("../fixtures/admission/externalsecret-create-valid.json");
const PUSH_SECRET: &str = include_str!("../fixtures/admission/pushsecret-create-valid.json");
const BOOTSTRAP: &str =
    include_str!("../fixtures/admission/secret-create-bootstrap-declared-by-flux.json");

/// One benchmark case: a name, the route, the body.
struct Case {
    name: &'static str,
    what: &'static str,
    route: Route,
    body: Vec<u8>,
}

/// The small CREATE with one key grown to `raw` bytes (base64 in the review): a Secret at the
/// 1 MiB data limit is a ~1.4 MB review.
fn big_secret(raw: usize) -> Vec<u8> {
    let mut doc: serde_json::Value = serde_json::from_str(SMALL).expect("small review");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..raw)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    doc["request"]["object"]["data"]["blob"] = base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .into();
    serde_json::to_vec(&doc).expect("encode")
}

fn cases() -> Vec<Case> {
    let c = |name, what, route, body: &str| Case {
        name,
        what,
        route,
        body: body.as_bytes().to_vec(),
    };
    vec![
        c(
            "small",
            "Secret CREATE by ESO (3 keys, allowed)",
            Route::Validate,
            SMALL,
        ),
        c(
            "tls-update",
            "TLS Secret UPDATE by cert-manager (allowed)",
            Route::Validate,
            TLS_UPDATE,
        ),
        c(
            "human-denied",
            "Secret CREATE by a human (denied, fix built)",
            Route::Validate,
            HUMAN,
        ),
        c(
            "externalsecret",
            "ExternalSecret CREATE by Argo CD",
            Route::Validate,
            EXTERNAL_SECRET,
        ),
        c(
            "pushsecret",
            "PushSecret CREATE by Argo CD",
            Route::Validate,
            PUSH_SECRET,
        ),
        Case {
            name: "1mb",
            what: "Secret CREATE at the 1 MiB data limit",
            route: Route::Validate,
            body: big_secret(1024 * 1024 - 200),
        },
        c(
            "mutate-bootstrap",
            "mutate: bootstrap Secret by Flux (JSON Patch)",
            Route::Mutate,
            BOOTSTRAP,
        ),
        c(
            "mutate-small",
            "mutate: the small ESO Secret (class label)",
            Route::Mutate,
            SMALL,
        ),
    ]
}

fn webhook() -> Webhook {
    let policy = Arc::new(Policy::default());
    let view: Arc<dyn ClusterView> = Arc::new(MemoryView::from_policy(&policy));
    Webhook::new(policy, view, Arc::new(Metrics::new()))
}

/// The verdict in a response, for the table (allowed / denied / patched).
fn verdict(out: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(out);
    if text.contains("\"patch\"") {
        "patched"
    } else if text.contains("\"allowed\":true") {
        "allowed"
    } else {
        "denied"
    }
}

/// Allocations and bytes for one review (after a warm-up call, so lazily built metric series
/// are not counted).
fn allocation_table(webhook: &Webhook, cases: &[Case]) {
    println!(
        "\n{:<18} {:>9} {:>9} {:>8} {:>12}  what",
        "case", "bytes in", "out", "verdict", "allocs (B)"
    );
    for case in cases {
        let out = webhook.review(case.route, &case.body).expect("review");
        let region = Region::new(GLOBAL);
        let again = webhook.review(case.route, &case.body).expect("review");
        let stats = region.change();
        black_box(again);
        println!(
            "{:<18} {:>9} {:>9} {:>8} {:>5} ({:>7})  {}",
            case.name,
            case.body.len(),
            out.len(),
            verdict(&out),
            stats.allocations + stats.reallocations,
            stats.bytes_allocated,
            case.what
        );
    }
    println!();
}

/// A subscriber like production's (`--log-format json`, level info), writing to a sink: what
/// logging costs as shipped. Allowed reviews log at debug, so for them this measures the disabled
/// callsite; the `human-denied` case pays for a full JSON "admission review" line.
fn production_subscriber() -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .finish()
}

fn bench(c: &mut Criterion, webhook: &Webhook, cases: &[Case]) {
    let mut group = c.benchmark_group("review");
    for case in cases {
        group.throughput(Throughput::Bytes(case.body.len() as u64));
        if case.body.len() > 256 * 1024 {
            group
                .sample_size(20)
                .measurement_time(Duration::from_secs(8));
        } else {
            group
                .sample_size(100)
                .measurement_time(Duration::from_secs(5));
        }
        group.bench_function(case.name, |b| {
            b.iter(|| {
                webhook
                    .review(case.route, black_box(&case.body))
                    .expect("review")
            })
        });
    }
    group.finish();

    // The two common cases and a denial with a production-like JSON log subscriber at info.
    let mut group = c.benchmark_group("review-logged");
    group
        .sample_size(100)
        .measurement_time(Duration::from_secs(5));
    for case in cases
        .iter()
        .filter(|c| matches!(c.name, "small" | "tls-update" | "human-denied"))
    {
        group.throughput(Throughput::Bytes(case.body.len() as u64));
        let subscriber = production_subscriber();
        tracing::subscriber::with_default(subscriber, || {
            group.bench_function(case.name, |b| {
                b.iter(|| {
                    webhook
                        .review(case.route, black_box(&case.body))
                        .expect("review")
                })
            });
        });
    }
    group.finish();
}

/// `VG_BENCH_PROFILE=case[:iterations][:logged][:cold]`: a plain loop over one case, for
/// profilers. With `cold`, 8 MiB of other memory is written between two reviews (as a server's
/// TLS, HTTP and neighbours would) and only the reviews are timed: the cost of a review that
/// finds the caches cold.
fn profile(spec: &str, webhook: &Webhook, cases: &[Case]) {
    let mut parts = spec.split(':');
    let name = parts.next().unwrap_or("small");
    let iterations: u32 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let flags: Vec<&str> = parts.collect();
    let logged = flags.contains(&"logged");
    let cold = flags.contains(&"cold");
    let case = cases
        .iter()
        .find(|c| c.name == name)
        .expect("VG_BENCH_PROFILE: unknown case");
    let mut other = vec![0u8; if cold { 8 << 20 } else { 0 }];
    let mut run = || {
        if !cold {
            let started = Instant::now();
            for _ in 0..iterations {
                black_box(
                    webhook
                        .review(case.route, black_box(&case.body))
                        .expect("review"),
                );
            }
            return started.elapsed();
        }
        let mut elapsed = Duration::ZERO;
        for i in 0..iterations {
            // One write per cache line: evicts the review's data (and, from the unified L2,
            // its code) as a server's TLS and HTTP work does between two reviews.
            other
                .iter_mut()
                .step_by(64)
                .for_each(|b| *b = b.wrapping_add(i as u8));
            black_box(&other);
            let started = Instant::now();
            black_box(
                webhook
                    .review(case.route, black_box(&case.body))
                    .expect("review"),
            );
            elapsed += started.elapsed();
        }
        elapsed
    };
    let elapsed = if logged {
        tracing::subscriber::with_default(production_subscriber(), &mut run)
    } else {
        run()
    };
    println!(
        "{name}: {iterations} reviews in {:.3} s, {:.2} µs/review{}",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / f64::from(iterations),
        match (logged, cold) {
            (true, true) => " (JSON log subscriber at info; caches cold)",
            (true, false) => " (JSON log subscriber at info)",
            (false, true) => " (caches cold)",
            (false, false) => "",
        }
    );
}

fn main() {
    let webhook = webhook();
    let cases = cases();
    if let Ok(spec) = std::env::var("VG_BENCH_PROFILE") {
        profile(&spec, &webhook, &cases);
        return;
    }
    allocation_table(&webhook, &cases);
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion, &webhook, &cases);
    criterion.final_summary();
}
