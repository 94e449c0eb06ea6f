//! The through-the-apiserver benchmark client (tests/bench/apiserver.sh runs it under the e2e
//! harness): `dryRun=All` Secret creates with kube-rs, `--concurrency` closed-loop clients, the
//! targets (one namespace per admission configuration) interleaved in rounds so drift on this
//! shared machine hits every configuration alike. Client-side latency percentiles per target,
//! plus the apiserver's own admission histograms (sum/count deltas from `/metrics`).
//!
//! ```text
//! bench-apiserver-client --kubeconfig eso.kubeconfig --admin-kubeconfig admin.kubeconfig \
//!     --target baseline=bench-none --target vap=bench-vap --target vaultgate=bench-vaultgate@UID \
//!     [--owner-uid UID] [--n 2000] [--concurrency 4] [--rounds 8] [--warmup 100]
//! ```
//!
//! `@UID` sets the ownerReference uid for one target (the real ExternalSecret in that namespace);
//! `--owner-uid` is the default for the others (where nothing checks it).

use std::{collections::BTreeMap, time::Instant};

use hdrhistogram::Histogram;
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, Config,
    api::PostParams,
    config::{KubeConfigOptions, Kubeconfig},
};

struct Args {
    kubeconfig: String,
    admin_kubeconfig: Option<String>,
    /// (label, namespace, owner uid)
    targets: Vec<(String, String, String)>,
    owner_uid: String,
    name: String,
    n: usize,
    concurrency: usize,
    rounds: usize,
    warmup: usize,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        kubeconfig: String::new(),
        admin_kubeconfig: None,
        targets: Vec::new(),
        owner_uid: String::new(),
        name: "bench-db".into(),
        n: 2000,
        concurrency: 4,
        rounds: 8,
        warmup: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--kubeconfig" => a.kubeconfig = v,
            "--admin-kubeconfig" => a.admin_kubeconfig = Some(v),
            "--target" => {
                let (label, rest) = v
                    .split_once('=')
                    .ok_or("--target LABEL=NAMESPACE[@OWNER_UID]")?;
                let (ns, uid) = rest.split_once('@').unwrap_or((rest, ""));
                a.targets.push((label.into(), ns.into(), uid.into()));
            }
            "--owner-uid" => a.owner_uid = v,
            "--name" => a.name = v,
            "--n" => a.n = num(&v)?,
            "--concurrency" => a.concurrency = num(&v)?.max(1),
            "--rounds" => a.rounds = num(&v)?.max(1),
            "--warmup" => a.warmup = num(&v)?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.kubeconfig.is_empty() || a.targets.is_empty() {
        return Err(
            "--kubeconfig FILE and at least one --target LABEL=NAMESPACE are required".into(),
        );
    }
    Ok(a)
}

async fn client(path: &str) -> Result<Client, String> {
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| format!("{path}: {e}"))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    Client::try_from(config).map_err(|e| e.to_string())
}

/// The Secret ESO would materialize: owned by the ExternalSecret, ESO's managed label, 3 keys.
fn secret(namespace: &str, name: &str, owner_uid: &str) -> Secret {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"reconcile.external-secrets.io/managed": "true"},
            "ownerReferences": [{
                "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": name,
                "uid": owner_uid, "controller": true, "blockOwnerDeletion": true
            }]
        },
        "type": "Opaque",
        "data": {"username": "b3JkZXJzLWFwcA==", "password": "c2VjcmV0LXZhbHVlLTAxMjM0NTY3ODlhYmNkZWY=", "host": "ZGIucGF5bWVudHMuc3Zj"}
    }))
    .expect("secret")
}

#[derive(Default)]
struct Outcome {
    hist: Option<Histogram<u64>>,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Outcome {
    fn hist(&mut self) -> &mut Histogram<u64> {
        self.hist
            .get_or_insert_with(|| Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram"))
    }
}

/// `count` creates split over `concurrency` closed-loop tasks; latencies in µs.
async fn batch(
    api: &Api<Secret>,
    object: &Secret,
    count: usize,
    concurrency: usize,
) -> Vec<Result<u64, String>> {
    let per = count.div_ceil(concurrency);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (api, object) = (api.clone(), object.clone());
            tokio::spawn(async move {
                let params = PostParams {
                    dry_run: true,
                    field_manager: None,
                };
                let mut out = Vec::with_capacity(per);
                for _ in 0..per {
                    let started = Instant::now();
                    let result = api.create(&params, &object).await;
                    let us = started.elapsed().as_micros() as u64;
                    out.push(result.map(|_| us).map_err(|e| e.to_string()));
                }
                out
            })
        })
        .collect();
    let mut all = Vec::with_capacity(count);
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    all
}

/// `metric{labels} value` lines of the admission histograms' `_sum` and `_count` series.
async fn admission_metrics(client: &Client) -> BTreeMap<String, f64> {
    let request = axum::http::Request::get("/metrics")
        .body(Vec::new())
        .expect("request");
    let Ok(text) = client.request_text(request).await else {
        return BTreeMap::new();
    };
    text.lines()
        .filter(|l| {
            (l.starts_with("apiserver_admission_webhook_admission_duration_seconds")
                || (l.starts_with("apiserver_") && l.contains("policy_check_duration_seconds"))
                || l.starts_with("apiserver_admission_step_admission_duration_seconds"))
                && !l.contains("_summary")
                && (l.contains("_sum{") || l.contains("_count{") || l.contains("le=\"0.005\""))
        })
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-apiserver-client: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let client = match client(&args.kubeconfig).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench-apiserver-client: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let admin = match &args.admin_kubeconfig {
        Some(path) => client_or_none(path).await,
        None => None,
    };
    let targets: Vec<(String, Api<Secret>, Secret)> = args
        .targets
        .iter()
        .map(|(label, ns, uid)| {
            let uid = if uid.is_empty() { &args.owner_uid } else { uid };
            (
                label.clone(),
                Api::namespaced(client.clone(), ns),
                secret(ns, &args.name, uid),
            )
        })
        .collect();

    // Warm-up: connections, the apiserver's caches, webhook keep-alive pools.
    for (label, api, object) in &targets {
        let results = batch(api, object, args.warmup, args.concurrency).await;
        let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        eprintln!(
            "warm-up {label}: {} ok, {} errors{}",
            results.len() - errors.len(),
            errors.len(),
            errors
                .first()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
    }

    let before = match &admin {
        Some(c) => admission_metrics(c).await,
        None => BTreeMap::new(),
    };
    let mut outcomes: Vec<Outcome> = targets.iter().map(|_| Outcome::default()).collect();
    let per_round = args.n.div_ceil(args.rounds);
    let started = Instant::now();
    for round in 0..args.rounds {
        // Rotate the order each round, so no configuration always runs first.
        for k in 0..targets.len() {
            let i = (k + round) % targets.len();
            let (_, api, object) = &targets[i];
            for r in batch(api, object, per_round, args.concurrency).await {
                let o = &mut outcomes[i];
                match r {
                    Ok(us) => {
                        o.ok += 1;
                        let _ = o.hist().record(us.max(1));
                    }
                    Err(e) => {
                        o.errors += 1;
                        o.first_error.get_or_insert(e);
                    }
                }
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = match &admin {
        Some(c) => admission_metrics(c).await,
        None => BTreeMap::new(),
    };

    let baseline = outcomes
        .first()
        .and_then(|o| o.hist.as_ref())
        .map(|h| (h.value_at_quantile(0.5), h.value_at_quantile(0.99)));
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "# {} dryRun=All Secret creates per configuration, {} concurrent clients, {} interleaved rounds, {:.1} s",
        per_round * args.rounds,
        args.concurrency,
        args.rounds,
        elapsed
    );
    println!(
        "| configuration | namespace | ok | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | added p50 ms | added p99 ms |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for ((label, ns, _), o) in args.targets.iter().zip(&mut outcomes) {
        let (ok, errors) = (o.ok, o.errors);
        let h = o.hist().clone();
        let (p50, p99) = (h.value_at_quantile(0.5), h.value_at_quantile(0.99));
        let added = |v: u64, b: u64| format!("{:+.2}", (v as f64 - b as f64) / 1000.0);
        let (a50, a99) = baseline.map_or(("–".into(), "–".into()), |(b50, b99)| {
            (added(p50, b50), added(p99, b99))
        });
        println!(
            "| {label} | {ns} | {ok} | {errors} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {a50} | {a99} |",
            ms(p50),
            ms(h.value_at_quantile(0.9)),
            ms(p99),
            ms(h.value_at_quantile(0.999)),
            ms(h.max()),
        );
        if let Some(e) = &o.first_error {
            println!("  first error ({label}): {e}");
        }
    }
    if !after.is_empty() {
        println!(
            "\n# apiserver-side admission histograms over the measured window (delta of /metrics)"
        );
        println!("| series | calls | mean ms | share ≤ 5 ms |");
        println!("|---|---:|---:|---:|");
        for (series, sum_after) in after.iter().filter(|(s, _)| s.contains("_sum{")) {
            let count_series = series.replacen("_sum{", "_count{", 1);
            let calls = after.get(&count_series).copied().unwrap_or(0.0)
                - before.get(&count_series).copied().unwrap_or(0.0);
            if calls < 1.0 {
                continue;
            }
            let sum = sum_after - before.get(series).copied().unwrap_or(0.0);
            let le5 = series
                .replacen("_sum{", "_bucket{", 1)
                .replacen('}', ",le=\"0.005\"}", 1);
            let under = after.get(&le5).copied().unwrap_or(f64::NAN)
                - before.get(&le5).copied().unwrap_or(0.0);
            println!(
                "| `{series}` | {calls:.0} | {:.3} | {:.1} % |",
                sum / calls * 1000.0,
                under / calls * 100.0
            );
        }
    }
    std::process::ExitCode::SUCCESS
}

async fn client_or_none(path: &str) -> Option<Client> {
    match client(path).await {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("bench-apiserver-client: admin client: {e}; apiserver metrics skipped");
            None
        }
    }
}
