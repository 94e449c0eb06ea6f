//! A small open-loop load generator for AdmissionReview servers, shaped like the apiserver's
//! webhook client: HTTP/1.1 keep-alive over TLS 1.3 (ALPN http/1.1), one request in flight per
//! connection, N connections.
//!
//! * Fixed rate (`--rate R`): a pacing thread releases request slots at their intended times
//!   (`thread::sleep`, ~60 µs precision, unlike tokio's 1 ms timer wheel) into a queue that the N
//!   connections drain. Latency is measured from the **intended** send time, so a stalled server
//!   is charged for every request it delayed (coordinated-omission correction, as in wrk2).
//!   The service time (from the actual send, including a connect when there is one) is reported
//!   too. Slots still queued 10 s after the window closes are dropped and counted.
//! * Max throughput (`--rate 0`): each connection sends back to back (closed loop).
//! * Handshake storm (`--new-conn`): every request opens a new TCP + TLS 1.3 connection (full
//!   handshake, no resumption, as Go's apiserver client does), sends one request, and closes.
//!
//! With `--pid`, the server process is sampled over the measured window: utime+stime from
//! `/proc/PID/stat` (CPU-ms per request), VmHWM (reset through `/proc/PID/clear_refs` when the
//! window opens) and VmRSS from `/proc/PID/status`. One JSON line goes to stdout.
//!
//! ```text
//! bench-loadgen --addr 127.0.0.1:8443 --ca ca.crt --body review.json [--path /validate]
//!               [--conns 16] [--rate 2000 | --rate 0] [--duration 10] [--warmup 2]
//!               [--new-conn] [--threads 1] [--pid PID] [--clk-tck 100] [--label TEXT]
//! ```

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::{Request, body::Bytes, client::conn::http1};
use hyper_util::rt::TokioIo;
use rustls::{
    ClientConfig, RootCertStore,
    client::Resumption,
    pki_types::{CertificateDer, ServerName, pem::PemObject},
};
use tokio::{
    net::TcpStream,
    sync::{Mutex, mpsc},
};
use tokio_rustls::TlsConnector;

#[derive(Clone)]
struct Args {
    addr: SocketAddr,
    ca: String,
    body: String,
    path: String,
    conns: usize,
    rate: u64,
    duration: Duration,
    warmup: Duration,
    new_conn: bool,
    threads: usize,
    pid: Option<u32>,
    clk_tck: u64,
    label: String,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:8443".parse().map_err(|e| format!("{e}"))?,
        ca: String::new(),
        body: String::new(),
        path: "/validate".into(),
        conns: 16,
        rate: 0,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
        new_conn: false,
        threads: 1,
        pid: None,
        clk_tck: 100,
        label: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--new-conn" {
            a.new_conn = true;
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        let secs = |v: &str| {
            v.parse::<f64>()
                .map(Duration::from_secs_f64)
                .map_err(|e| format!("{flag}: {e}"))
        };
        match flag.as_str() {
            "--addr" => a.addr = v.parse().map_err(|e| format!("--addr: {e}"))?,
            "--ca" => a.ca = v,
            "--body" => a.body = v,
            "--path" => a.path = v,
            "--conns" => a.conns = num(&v)?.max(1) as usize,
            "--rate" => a.rate = num(&v)?,
            "--duration" => a.duration = secs(&v)?,
            "--warmup" => a.warmup = secs(&v)?,
            "--threads" => a.threads = num(&v)?.max(1) as usize,
            "--pid" => a.pid = Some(num(&v)? as u32),
            "--clk-tck" => a.clk_tck = num(&v)?.max(1),
            "--label" => a.label = v,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.ca.is_empty() || a.body.is_empty() {
        return Err("--ca FILE and --body FILE are required".into());
    }
    Ok(a)
}

fn main() -> std::process::ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench-loadgen: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(line) => {
            println!("{line}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Everything the workers share.
struct Shared {
    args: Args,
    tls: TlsConnector,
    name: ServerName<'static>,
    body: Bytes,
    window_start: Instant,
    end: Instant,
    ok: AtomicU64,
    not_allowed: AtomicU64,
    errors: AtomicU64,
    connects: AtomicU64,
    dropped: AtomicU64,
}

/// Per-worker results, merged at the end.
struct Tally {
    latency: Histogram<u64>,
    service: Histogram<u64>,
    done_in_window: u64,
}

impl Tally {
    fn new() -> Self {
        let h = || Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
        Self {
            latency: h(),
            service: h(),
            done_in_window: 0,
        }
    }
}

fn client_config(ca: &str, resumption: bool) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| format!("--ca {ca}: {e}"))? {
        roots
            .add(cert.map_err(|e| format!("--ca {ca}: {e}"))?)
            .map_err(|e| format!("--ca {ca}: {e}"))?;
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if !resumption {
        config.resumption = Resumption::disabled();
    }
    Ok(Arc::new(config))
}

async fn run(args: Args) -> Result<String, String> {
    let body =
        Bytes::from(std::fs::read(&args.body).map_err(|e| format!("--body {}: {e}", args.body))?);
    let config = client_config(&args.ca, !args.new_conn)?;
    let start = Instant::now() + Duration::from_millis(200);
    let shared = Arc::new(Shared {
        tls: TlsConnector::from(config),
        name: ServerName::IpAddress(args.addr.ip().into()),
        body,
        window_start: start + args.warmup,
        end: start + args.warmup + args.duration,
        ok: AtomicU64::new(0),
        not_allowed: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        connects: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        args: args.clone(),
    });

    // Paced slots (fixed rate) or none (closed loop).
    let queue = if args.rate > 0 {
        let (tx, rx) = mpsc::unbounded_channel::<Instant>();
        let (rate, end) = (args.rate, shared.end);
        std::thread::spawn(move || pace(tx, start, end, rate));
        Some(Arc::new(Mutex::new(rx)))
    } else {
        None
    };

    let sampler = tokio::spawn(sample_window_start(args.pid, shared.window_start));
    let mut workers = Vec::new();
    for _ in 0..args.conns {
        workers.push(tokio::spawn(worker(shared.clone(), queue.clone(), start)));
    }
    let mut tally = Tally::new();
    for w in workers {
        let t = w.await.map_err(|e| e.to_string())?;
        tally.latency.add(&t.latency).map_err(|e| e.to_string())?;
        tally.service.add(&t.service).map_err(|e| e.to_string())?;
        tally.done_in_window += t.done_in_window;
    }
    let finished = Instant::now();
    let before = sampler.await.map_err(|e| e.to_string())?;
    let after = args.pid.map(proc_sample);
    let window = finished
        .saturating_duration_since(shared.window_start)
        .as_secs_f64()
        .max(args.duration.as_secs_f64());
    let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    let mut out = serde_json::json!({
        "label": args.label,
        "mode": if args.new_conn { "storm" } else if args.rate > 0 { "fixed" } else { "max" },
        "target_rate": args.rate,
        "conns": args.conns,
        "body_bytes": shared.body.len(),
        "duration_s": window,
        "requests": tally.done_in_window,
        "rps": tally.done_in_window as f64 / window,
        "ok": shared.ok.load(Ordering::Relaxed),
        "not_allowed": shared.not_allowed.load(Ordering::Relaxed),
        "errors": shared.errors.load(Ordering::Relaxed),
        "connects": shared.connects.load(Ordering::Relaxed),
        "dropped": shared.dropped.load(Ordering::Relaxed),
        "p50_ms": q(&tally.latency, 0.50),
        "p90_ms": q(&tally.latency, 0.90),
        "p99_ms": q(&tally.latency, 0.99),
        "p999_ms": q(&tally.latency, 0.999),
        "max_ms": tally.latency.max() as f64 / 1000.0,
        "svc_p50_ms": q(&tally.service, 0.50),
        "svc_p99_ms": q(&tally.service, 0.99),
    });
    if let (Some(Some(b)), Some(Some(a))) = (before, after) {
        let cpu_ms = (a.ticks.saturating_sub(b.ticks)) as f64 * 1000.0 / args.clk_tck as f64;
        out["server_cpu_ms"] = cpu_ms.into();
        out["cpu_ms_per_req"] = (cpu_ms / tally.done_in_window.max(1) as f64).into();
        out["server_cores"] = (cpu_ms / 1000.0 / window).into();
        out["peak_rss_kib"] = a.hwm_kib.into();
        out["rss_after_kib"] = a.rss_kib.into();
        out["rss_before_kib"] = b.rss_kib.into();
    }
    Ok(out.to_string())
}

/// Releases one slot per 1/rate second from `start` until `end`. Slots due in the past are
/// released at once, in a batch, each still carrying its own intended time.
fn pace(tx: mpsc::UnboundedSender<Instant>, start: Instant, end: Instant, rate: u64) {
    let step = Duration::from_secs_f64(1.0 / rate as f64);
    let mut n: u32 = 0;
    loop {
        let due = start + step * n;
        if due >= end {
            return;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if tx.send(due).is_err() {
            return;
        }
        n += 1;
    }
}

#[derive(Clone, Copy)]
struct ProcSample {
    ticks: u64,
    rss_kib: u64,
    hwm_kib: u64,
}

/// utime + stime (all threads) and VmRSS/VmHWM of a process.
fn proc_sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        ticks,
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    })
}

/// At the start of the measured window: resets the peak RSS and samples the server.
async fn sample_window_start(pid: Option<u32>, at: Instant) -> Option<Option<ProcSample>> {
    let pid = pid?;
    tokio::time::sleep_until(at.into()).await;
    // "5" resets VmHWM to the current RSS (proc(5), clear_refs).
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    Some(proc_sample(pid))
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(shared: &Shared) -> Result<Sender, String> {
    let tcp = TcpStream::connect(shared.args.addr)
        .await
        .map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let tls = shared
        .tls
        .connect(shared.name.clone(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (sender, conn) = http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    shared.connects.fetch_add(1, Ordering::Relaxed);
    Ok(sender)
}

/// One request on `sender`; true when the server answered 200 with `"allowed":true`.
async fn send(shared: &Shared, sender: &mut Sender) -> Result<bool, String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let req = Request::post(shared.args.path.as_str())
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(Full::new(shared.body.clone()))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    Ok(bytes.windows(15).any(|w| w == b"\"allowed\":true,")
        || bytes.windows(15).any(|w| w == b"\"allowed\":true}"))
}

async fn worker(
    shared: Arc<Shared>,
    queue: Option<Arc<Mutex<mpsc::UnboundedReceiver<Instant>>>>,
    start: Instant,
) -> Tally {
    let mut tally = Tally::new();
    let mut sender: Option<Sender> = None;
    tokio::time::sleep_until(start.into()).await;
    loop {
        let intended = match &queue {
            Some(q) => match q.lock().await.recv().await {
                Some(t) => t,
                None => break,
            },
            None => {
                let now = Instant::now();
                if now >= shared.end {
                    break;
                }
                now
            }
        };
        if Instant::now() > shared.end + Duration::from_secs(10) {
            // The server fell far behind a fixed rate: stop instead of draining the backlog.
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let began = Instant::now();
        if shared.args.new_conn || sender.is_none() {
            sender = None;
            match connect(&shared).await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    if shared.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("bench-loadgen: connect: {e}");
                    }
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        let result = send(&shared, s).await;
        let done = Instant::now();
        match result {
            Ok(allowed) => {
                shared.ok.fetch_add(1, Ordering::Relaxed);
                if !allowed {
                    shared.not_allowed.fetch_add(1, Ordering::Relaxed);
                }
                if intended >= shared.window_start && intended < shared.end {
                    let us = |d: Duration| (d.as_micros() as u64).max(1);
                    let _ = tally
                        .latency
                        .record(us(done.saturating_duration_since(intended)));
                    let _ = tally
                        .service
                        .record(us(done.saturating_duration_since(began)));
                    tally.done_in_window += 1;
                }
            }
            Err(e) => {
                if shared.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("bench-loadgen: request: {e}");
                }
                sender = None;
            }
        }
        if shared.args.new_conn {
            sender = None;
        }
    }
    tally
}
