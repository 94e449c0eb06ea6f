//! The through-the-apiserver benchmark client (tests/bench/apiserver.sh runs it under the e2e
//! harness), as ESO's service account, `--concurrency` closed-loop clients per target, the
//! targets (one namespace per admission configuration) interleaved in rounds so drift on this
//! shared machine hits every configuration alike. Two kinds of target:
//!
//! - `--target`: `dryRun=All` creates of the Secret an ExternalSecret would materialize;
//! - `--update`: ESO's refresh of a Secret it already materialized: client `i` holds the stored
//!   Secret `<--update-name>-<i>` and replaces it again and again with one data value changed,
//!   every other field (vaultgate's labels and annotations included) as last returned, the way
//!   ESO writes back the object from its cache. Real writes, so resourceVersion moves on.
//!
//! Client-side latency percentiles per target (each kind against the first target of its kind,
//! the no-policy baseline), plus the apiserver's own admission histograms (sum/count deltas from
//! `/metrics`). Exits non-zero when any request failed: a denied write measures another path.
//!
//! ```text
//! bench-apiserver-client --kubeconfig eso.kubeconfig --admin-kubeconfig admin.kubeconfig \
//!     --target baseline=bench-none --target vap=bench-vap --target vaultgate=bench-vaultgate@UID \
//!     --update baseline=bench-none --update vaultgate=bench-vaultgate [--update-name bench-upd] \
//!     [--owner-uid UID] [--n 2000] [--concurrency 4] [--rounds 8] [--warmup 100]
//! ```
//!
//! `@UID` sets the ownerReference uid for one create target (the real ExternalSecret in that
//! namespace); `--owner-uid` is the default for the others (where nothing checks it).

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

use hdrhistogram::Histogram;
use k8s_openapi::{ByteString, api::core::v1::Secret};
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
    /// (label, namespace)
    updates: Vec<(String, String)>,
    update_name: String,
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
        updates: Vec::new(),
        update_name: "bench-upd".into(),
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
            "--update" => {
                let (label, ns) = v.split_once('=').ok_or("--update LABEL=NAMESPACE")?;
                a.updates.push((label.into(), ns.into()));
            }
            "--update-name" => a.update_name = v,
            "--owner-uid" => a.owner_uid = v,
            "--name" => a.name = v,
            "--n" => a.n = num(&v)?,
            "--concurrency" => a.concurrency = num(&v)?.max(1),
            "--rounds" => a.rounds = num(&v)?.max(1),
            "--warmup" => a.warmup = num(&v)?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.kubeconfig.is_empty() || (a.targets.is_empty() && a.updates.is_empty()) {
        return Err(
            "--kubeconfig FILE and at least one --target or --update LABEL=NAMESPACE are required"
                .into(),
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

/// What one target writes.
enum Op {
    /// `dryRun=All` creates of this object.
    Create(Box<Secret>),
    /// Real updates: client `i` carries stored Secret `i` forward, resourceVersion included.
    Update(Vec<Secret>),
}

struct Target {
    label: String,
    namespace: String,
    api: Api<Secret>,
    op: Op,
    outcome: Outcome,
}

/// Makes every refresh a real change of one data value (an unchanged object is a no-op write).
static REFRESH: AtomicU64 = AtomicU64::new(0);

/// ESO's refresh of `stored`: the value of `password` changes, nothing else; `managedFields` is
/// left for the apiserver to keep.
fn refreshed(stored: &Secret) -> Secret {
    let mut s = stored.clone();
    s.metadata.managed_fields = None;
    let n = REFRESH.fetch_add(1, Ordering::Relaxed);
    s.data.get_or_insert_with(Default::default).insert(
        "password".into(),
        ByteString(format!("rotated-in-vault-{n:020}").into_bytes()),
    );
    s
}

/// `count` writes split over `concurrency` closed-loop tasks (creates) or over the stored
/// Secrets, one task each (updates); latencies in µs.
async fn batch(
    api: &Api<Secret>,
    op: &mut Op,
    count: usize,
    concurrency: usize,
) -> Vec<Result<u64, String>> {
    let mut all = Vec::with_capacity(count);
    match op {
        Op::Create(object) => {
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
            for t in tasks {
                all.extend(t.await.unwrap_or_default());
            }
        }
        Op::Update(stored) => {
            let per = count.div_ceil(stored.len().max(1));
            let tasks: Vec<_> = std::mem::take(stored)
                .into_iter()
                .map(|mut current| {
                    let api = api.clone();
                    tokio::spawn(async move {
                        let name = current.metadata.name.clone().unwrap_or_default();
                        let mut out = Vec::with_capacity(per);
                        for _ in 0..per {
                            let next = refreshed(&current);
                            let started = Instant::now();
                            let result = api.replace(&name, &PostParams::default(), &next).await;
                            let us = started.elapsed().as_micros() as u64;
                            out.push(
                                result
                                    .map(|written| {
                                        current = written;
                                        us
                                    })
                                    .map_err(|e| e.to_string()),
                            );
                        }
                        (current, out)
                    })
                })
                .collect();
            for t in tasks {
                if let Ok((current, out)) = t.await {
                    stored.push(current);
                    all.extend(out);
                }
            }
        }
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
    match run().await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "bench-apiserver-client: some requests failed (see the tables): these figures measure another path"
            );
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("bench-apiserver-client: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Runs the benchmark and prints the report; `Ok(false)` when any request failed.
async fn run() -> Result<bool, String> {
    let args = parse()?;
    let client = client(&args.kubeconfig).await?;
    let admin = match &args.admin_kubeconfig {
        Some(path) => client_or_none(path).await,
        None => None,
    };
    let mut targets: Vec<Target> = Vec::new();
    for (label, ns, uid) in &args.targets {
        let uid = if uid.is_empty() { &args.owner_uid } else { uid };
        targets.push(Target {
            label: label.clone(),
            namespace: ns.clone(),
            api: Api::namespaced(client.clone(), ns),
            op: Op::Create(Box::new(secret(ns, &args.name, uid))),
            outcome: Outcome::default(),
        });
    }
    for (label, ns) in &args.updates {
        let api: Api<Secret> = Api::namespaced(client.clone(), ns);
        let mut stored = Vec::with_capacity(args.concurrency);
        for i in 0..args.concurrency {
            let name = format!("{}-{i}", args.update_name);
            stored.push(
                api.get(&name)
                    .await
                    .map_err(|e| format!("--update {label}: the stored Secret {ns}/{name}: {e}"))?,
            );
        }
        targets.push(Target {
            label: label.clone(),
            namespace: ns.clone(),
            api,
            op: Op::Update(stored),
            outcome: Outcome::default(),
        });
    }

    // Warm-up: connections, the apiserver's caches, webhook keep-alive pools.
    for t in &mut targets {
        let results = batch(&t.api, &mut t.op, args.warmup, args.concurrency).await;
        let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        eprintln!(
            "warm-up {}: {} ok, {} errors{}",
            t.label,
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
    let per_round = args.n.div_ceil(args.rounds);
    let started = Instant::now();
    let count = targets.len();
    for round in 0..args.rounds {
        // Rotate the order each round, so no configuration always runs first.
        for k in 0..count {
            let t = &mut targets[(k + round) % count];
            for r in batch(&t.api, &mut t.op, per_round, args.concurrency).await {
                let o = &mut t.outcome;
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

    println!(
        "# {} concurrent clients, {} interleaved rounds over every target below, {:.1} s",
        args.concurrency, args.rounds, elapsed
    );
    let (creates, updates): (Vec<_>, Vec<_>) = targets
        .iter_mut()
        .partition(|t| matches!(t.op, Op::Create(_)));
    for (title, group) in [
        ("dryRun=All Secret creates", creates),
        (
            "Secret updates by ESO's identity (real writes, one data value changed, vaultgate's keys as stored)",
            updates,
        ),
    ] {
        if !group.is_empty() {
            print_table(title, group);
        }
    }
    if !after.is_empty() {
        print_admission_metrics(&before, &after);
    }
    Ok(targets.iter().all(|t| t.outcome.errors == 0))
}

/// One table per kind of write; "added" is over the group's first target (the baseline).
fn print_table(title: &str, group: Vec<&mut Target>) {
    let ms = |us: u64| us as f64 / 1000.0;
    let mut baseline = None;
    println!(
        "\n## {} {title} per configuration\n",
        group[0].outcome.ok + group[0].outcome.errors
    );
    println!(
        "| configuration | namespace | ok | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | added p50 ms | added p99 ms |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for t in group {
        let o = &mut t.outcome;
        let (ok, errors) = (o.ok, o.errors);
        let h = o.hist().clone();
        let (p50, p99) = (h.value_at_quantile(0.5), h.value_at_quantile(0.99));
        let (b50, b99) = *baseline.get_or_insert((p50, p99));
        let added = |v: u64, b: u64| format!("{:+.2}", (v as f64 - b as f64) / 1000.0);
        println!(
            "| {} | {} | {ok} | {errors} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
            t.label,
            t.namespace,
            ms(p50),
            ms(h.value_at_quantile(0.9)),
            ms(p99),
            ms(h.value_at_quantile(0.999)),
            ms(h.max()),
            added(p50, b50),
            added(p99, b99),
        );
        if let Some(e) = &o.first_error {
            println!("  first error ({}): {e}", t.label);
        }
    }
}

fn print_admission_metrics(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) {
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
        let under =
            after.get(&le5).copied().unwrap_or(f64::NAN) - before.get(&le5).copied().unwrap_or(0.0);
        println!(
            "| `{series}` | {calls:.0} | {:.3} | {:.1} % |",
            sum / calls * 1000.0,
            under / calls * 100.0
        );
    }
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
