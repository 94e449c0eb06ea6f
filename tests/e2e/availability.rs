//! Availability under change (issue #7 item 6), each with a steady load of Secret creates
//! through the real apiserver, counting every answer that is not vaultgate's own verdict:
//!
//! - certificate rotation: a leaf rotated under the same CA, then a CA rollover (caBundle with
//!   old + new CA, leaf signed by the new CA, old CA removed);
//! - a rolling restart of two vaultgate processes behind a round-robin TCP balancer.
//!
//! Both run dedicated vaultgate processes (started by run.sh's start-webhook.sh, so with the same
//! policy, identity, client CA and flags) and point the shared webhook configurations at them.
//! They hold the suite's lock exclusively, so no other test runs while the configurations point
//! elsewhere, and they put the configurations back (and wait until the harness's vaultgate
//! answers again) before they let go of it.
//!
//! Every step that changes what the apiserver talks to moves the webhooks to new balancer
//! listeners (a new URL): the apiserver's webhook client cache is keyed by the client config, so
//! the first connection accepted on a new listener proves it uses the new configuration, and
//! that connection's handshake is made against the certificate served at that moment.
//!
//! No timing is asserted: the figures (time to serve a new certificate, requests per phase) are
//! printed, and only eventual outcomes and failure counts are asserted.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use k8s_openapi::{
    ByteString,
    api::admissionregistration::v1::{
        MutatingWebhookConfiguration, ValidatingWebhookConfiguration, WebhookClientConfig,
    },
};
use kube::{
    Client,
    api::{Api, PostParams},
};
use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
};
use serde_json::Value;
use tokio::{net::TcpStream, sync::watch, task::JoinHandle};
use vaultgate::certs::{CertAuthority, IssuedCert};

use crate::harness::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn sha256_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn leaf_der(cert_pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .expect("leaf PEM")
        .to_vec()
}

// ------------------------------------------------------------------ balancer

/// A round-robin TCP balancer (TLS passes through untouched): each accepted connection goes to
/// the next backend that accepts a TCP connection; backends that refuse are skipped. Every
/// listener (`front`) counts its accepted connections.
struct Balancer {
    backends: Arc<Vec<SocketAddr>>,
    next: Arc<AtomicUsize>,
    skipped: Arc<AtomicU64>,
    forwarded: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// One balancer listener.
struct Front {
    port: u16,
    accepted: Arc<AtomicU64>,
}

impl Balancer {
    fn new(backends: Vec<SocketAddr>) -> Self {
        Self {
            backends: Arc::new(backends),
            next: Arc::new(AtomicUsize::new(0)),
            skipped: Arc::new(AtomicU64::new(0)),
            forwarded: Arc::new(AtomicU64::new(0)),
            stop: watch::channel(false).0,
            tasks: Vec::new(),
        }
    }

    async fn front(&mut self) -> Front {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("balancer listener");
        let port = listener.local_addr().expect("listener address").port();
        let accepted = Arc::new(AtomicU64::new(0));
        let (backends, next, skipped, forwarded, counter) = (
            self.backends.clone(),
            self.next.clone(),
            self.skipped.clone(),
            self.forwarded.clone(),
            accepted.clone(),
        );
        let stop = self.stop.subscribe();
        self.tasks.push(tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let (backends, next, skipped, forwarded, mut stop) = (
                    backends.clone(),
                    next.clone(),
                    skipped.clone(),
                    forwarded.clone(),
                    stop.clone(),
                );
                tokio::spawn(async move {
                    tokio::select! {
                        () = forward(inbound, &backends, &next, &skipped, &forwarded) => {}
                        _ = stop.wait_for(|s| *s) => {}
                    }
                });
            }
        }));
        Front { port, accepted }
    }
}

async fn forward(
    mut inbound: TcpStream,
    backends: &[SocketAddr],
    next: &AtomicUsize,
    skipped: &AtomicU64,
    forwarded: &AtomicU64,
) {
    let first = next.fetch_add(1, Ordering::Relaxed);
    for i in 0..backends.len() {
        let addr = backends[(first + i) % backends.len()];
        match tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await {
            Ok(Ok(mut outbound)) => {
                let _ = outbound.set_nodelay(true);
                let _ = inbound.set_nodelay(true);
                forwarded.fetch_add(1, Ordering::Relaxed);
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                return;
            }
            _ => {
                skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // No backend accepts: the client sees its connection closed (as from a real balancer).
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

// ------------------------------------------------------------------ vaultgate instances

/// A serving certificate directory laid out like a mounted Secret volume: `tls.crt` and
/// `tls.key` are symlinks through `..data`, which is swapped atomically (a rename), as the
/// kubelet does. A rotation therefore never shows a half-written pair.
struct CertVolume {
    dir: PathBuf,
    generation: u32,
}

impl CertVolume {
    fn new(dir: PathBuf, leaf: &IssuedCert) -> Self {
        std::fs::create_dir_all(&dir).expect("certificate volume");
        let mut volume = Self { dir, generation: 0 };
        volume.swap(leaf);
        for file in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(format!("..data/{file}"), volume.dir.join(file))
                .expect("tls symlink");
        }
        volume
    }

    /// Writes `leaf` into a new timestamp directory and points `..data` at it; returns when the
    /// rename is done (the moment the files change).
    fn swap(&mut self, leaf: &IssuedCert) -> Instant {
        self.generation += 1;
        let data = format!("..gen-{}", self.generation);
        let target = self.dir.join(&data);
        std::fs::create_dir(&target).expect("certificate generation dir");
        vaultgate::certs::write_atomic(&target.join("tls.crt"), leaf.cert_pem.as_bytes(), false)
            .expect("write tls.crt");
        vaultgate::certs::write_atomic(&target.join("tls.key"), leaf.key_pem.as_bytes(), true)
            .expect("write tls.key");
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&data, &tmp).expect("..data_tmp symlink");
        std::fs::rename(&tmp, self.dir.join("..data")).expect("swap ..data");
        Instant::now()
    }
}

/// A vaultgate process started by start-webhook.sh as `NAME PORT CERT_DIR`.
struct Instance {
    name: String,
    port: u16,
    cert_dir: PathBuf,
    shutdown_delay: &'static str,
}

impl Instance {
    fn start(name: &str, cert_dir: &Path, shutdown_delay: &'static str) -> Self {
        let instance = Self {
            name: unique(name),
            port: free_port(),
            cert_dir: cert_dir.to_owned(),
            shutdown_delay,
        };
        instance.launch();
        instance
    }

    fn launch(&self) {
        let status = Command::new("bash")
            .arg(&env().webhook_start)
            .arg(&self.name)
            .arg(self.port.to_string())
            .arg(&self.cert_dir)
            .env("VAULTGATE_SHUTDOWN_DELAY", self.shutdown_delay)
            .status()
            .expect("run start-webhook.sh");
        assert!(
            status.success(),
            "{} {} failed",
            env().webhook_start.display(),
            self.name
        );
    }

    fn pidfile(&self) -> PathBuf {
        env().dir.join(format!("{}.pid", self.name))
    }

    fn pid(&self) -> u32 {
        pid_in(&self.pidfile())
    }

    fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    fn base(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> PathBuf {
        env()
            .dir
            .join("logs")
            .join(format!("vaultgate-{}.log", self.name))
    }

    /// Its /metrics, also kept in the logs directory for run.sh's canary scan.
    async fn metrics(&self, client: &reqwest::Client) -> String {
        let text = client
            .get(format!("{}/metrics", self.base()))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("{} /metrics: {e}", self.name))
            .text()
            .await
            .expect("metrics body");
        let copy = env()
            .dir
            .join("logs")
            .join(format!("metrics-{}.txt", self.name));
        std::fs::write(copy, &text).expect("keep a copy of /metrics");
        text
    }

    /// SIGTERM, then waits (without blocking the runtime) until the process has drained and
    /// exited; returns how long that took.
    async fn stop(&self) -> Duration {
        let pid = self.pid();
        let sigterm = Instant::now();
        signal(pid, "TERM");
        while alive(pid) {
            assert!(
                sigterm.elapsed() < Duration::from_secs(30),
                "{} (pid {pid}) still running 30 s after SIGTERM (log {})",
                self.name,
                self.log().display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sigterm.elapsed()
    }

    fn wait_exit(&self, pid: u32) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while alive(pid) {
            assert!(
                Instant::now() < deadline,
                "{} (pid {pid}) still running 30 s after SIGTERM (log {})",
                self.name,
                self.log().display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let Ok(text) = std::fs::read_to_string(self.pidfile()) else {
            return;
        };
        let Ok(pid) = text.trim().parse::<u32>() else {
            return;
        };
        if alive(pid) {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if alive(pid) {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
        }
    }
}

/// The leaf certificate vaultgate at `port` presents in a fresh handshake (trusting `roots`,
/// presenting the probe client certificate).
async fn served_leaf(port: u16, roots: &[&str]) -> Result<Vec<u8>, String> {
    let mut store = RootCertStore::empty();
    for pem in roots {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            store
                .add(cert.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        }
    }
    let chain = CertificateDer::pem_file_iter(&env().webhook_client_cert)
        .expect("probe certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("probe certificate PEM");
    let key = PrivateKeyDer::from_pem_file(&env().webhook_client_key).expect("probe key PEM");
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(store)
            .with_client_auth_cert(chain, key)
            .expect("probe identity");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake = async {
        let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        connector
            .connect(ServerName::IpAddress(Ipv4Addr::LOCALHOST.into()), tcp)
            .await
    };
    let tls = tokio::time::timeout(Duration::from_secs(2), handshake)
        .await
        .map_err(|_| "handshake timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    tls.get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| leaf.to_vec())
        .ok_or_else(|| "no server certificate".to_owned())
}

/// Polls new handshakes until `want` is served (60 s at most); returns the time since `changed`.
async fn wait_served(port: u16, roots: &[&str], want: &[u8], changed: Instant) -> Duration {
    let deadline = changed + Duration::from_secs(60);
    loop {
        let served = served_leaf(port, roots).await;
        if served.as_deref() == Ok(want) {
            return changed.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate (sha256 {}) was not served 60 s after the files changed; last: {}",
            sha256_hex(want),
            match served {
                Ok(der) => format!("sha256 {}", sha256_hex(&der)),
                Err(e) => e,
            }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ------------------------------------------------------------------ webhook configurations

/// The shared webhook configurations, pointed elsewhere for one test and put back afterwards.
struct Webhooks {
    validating: Api<ValidatingWebhookConfiguration>,
    mutating: Api<MutatingWebhookConfiguration>,
    names: (String, String),
    original: (Vec<WebhookClientConfig>, Vec<WebhookClientConfig>),
    restored: bool,
}

fn config_names() -> (String, String) {
    let path = env().dir.join("manifests").join("webhooks.json");
    let list: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("webhooks.json")).unwrap();
    let name = |kind: &str| {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|o| o["kind"] == kind)
            .and_then(|o| o["metadata"]["name"].as_str())
            .unwrap_or_else(|| panic!("no {kind} in {}", path.display()))
            .to_owned()
    };
    (
        name("ValidatingWebhookConfiguration"),
        name("MutatingWebhookConfiguration"),
    )
}

/// `https://127.0.0.1:<port><path of the original URL>`
fn moved(original: &WebhookClientConfig, port: u16, ca_bundle: &[u8]) -> WebhookClientConfig {
    let url = original.url.as_deref().expect("the harness registers url:");
    let rest = url.strip_prefix("https://").expect("an https:// URL");
    let path = &rest[rest.find('/').expect("a path after the host")..];
    WebhookClientConfig {
        url: Some(format!("https://127.0.0.1:{port}{path}")),
        ca_bundle: Some(ByteString(ca_bundle.to_vec())),
        service: None,
    }
}

impl Webhooks {
    async fn take(admin: &Client) -> Self {
        let names = config_names();
        let validating: Api<ValidatingWebhookConfiguration> = Api::all(admin.clone());
        let mutating: Api<MutatingWebhookConfiguration> = Api::all(admin.clone());
        let v = validating.get(&names.0).await.expect("GET validating");
        let m = mutating.get(&names.1).await.expect("GET mutating");
        let original = (
            v.webhooks
                .unwrap_or_default()
                .into_iter()
                .map(|w| w.client_config)
                .collect(),
            m.webhooks
                .unwrap_or_default()
                .into_iter()
                .map(|w| w.client_config)
                .collect(),
        );
        Self {
            validating,
            mutating,
            names,
            original,
            restored: false,
        }
    }

    /// Points the validating webhooks at `validate_port`, the mutating one at `mutate_port`,
    /// trusting `ca_bundle`; `None` puts the original client configs back.
    async fn point(&self, target: Option<(u16, u16, &[u8])>) {
        let mut v = self.validating.get(&self.names.0).await.expect("GET");
        for (hook, original) in v.webhooks.iter_mut().flatten().zip(&self.original.0) {
            hook.client_config = match target {
                Some((port, _, ca)) => moved(original, port, ca),
                None => original.clone(),
            };
        }
        self.validating
            .replace(&self.names.0, &PostParams::default(), &v)
            .await
            .expect("update the validating webhook configuration");
        let mut m = self.mutating.get(&self.names.1).await.expect("GET");
        for (hook, original) in m.webhooks.iter_mut().flatten().zip(&self.original.1) {
            hook.client_config = match target {
                Some((_, port, ca)) => moved(original, port, ca),
                None => original.clone(),
            };
        }
        self.mutating
            .replace(&self.names.1, &PostParams::default(), &m)
            .await
            .expect("update the mutating webhook configuration");
    }

    /// Moves both configurations to a new pair of balancer listeners trusting `ca_bundle`, and
    /// waits until the apiserver has connected to both (the load drives the traffic).
    async fn move_to(&self, balancer: &mut Balancer, ca_bundle: &[u8], step: &str) {
        let (v, m) = (balancer.front().await, balancer.front().await);
        self.point(Some((v.port, m.port, ca_bundle))).await;
        let started = Instant::now();
        while v.accepted.load(Ordering::Relaxed) == 0 || m.accepted.load(Ordering::Relaxed) == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{step}: the apiserver did not connect to the new webhook URLs within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!(
            "availability: {step}: the apiserver uses the new configuration after {:.2} s",
            started.elapsed().as_secs_f64()
        );
    }

    /// Puts the original configurations back and waits until the harness's vaultgate answers
    /// both routes again, so the next test finds the suite exactly as run.sh set it up.
    async fn restore(mut self, load: &Load) {
        let client = webhook_https_client(&[]);
        let before = main_reviews(&client).await;
        self.point(None).await;
        let started = Instant::now();
        loop {
            let now = main_reviews(&client).await;
            if now.0 > before.0 && now.1 > before.1 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the harness's vaultgate got no reviews within 60 s of restoring the webhook \
                 configurations (load: {})",
                load.counts()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.restored = true;
    }
}

/// Reviews answered by the harness's vaultgate, per route (validate, mutate).
async fn main_reviews(client: &reqwest::Client) -> (f64, f64) {
    let text = client
        .get(format!("{}/metrics", env().webhook_url))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("the harness's vaultgate /metrics")
        .text()
        .await
        .expect("metrics body");
    reviews_by_route(&text)
}

impl Drop for Webhooks {
    fn drop(&mut self) {
        if !self.restored {
            // A failed assertion: put the configurations back as run.sh applied them.
            let _ = Command::new(&env().kubectl)
                .arg("--kubeconfig")
                .arg(&env().kubeconfig)
                .args(["apply", "-f"])
                .arg(env().dir.join("manifests").join("webhooks.json"))
                .status();
        }
    }
}

// ------------------------------------------------------------------ load

/// A steady load of server-side dry-run Secret creates in a governed namespace, alternating
/// alice (vaultgate denies: exactly VG101) and the CNPG operator (vaultgate admits and stamps
/// `secret-class: internal`). Anything else is a failure.
struct Load {
    stop: Arc<AtomicBool>,
    verdicts: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
    samples: Arc<Mutex<Vec<String>>>,
    workers: Vec<JoinHandle<()>>,
}

#[derive(Clone, Copy)]
struct Counts {
    verdicts: u64,
    failures: u64,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests, {} vaultgate verdicts, {} failures",
            self.verdicts + self.failures,
            self.verdicts,
            self.failures
        )
    }
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, earlier: Counts) -> Counts {
        Counts {
            verdicts: self.verdicts - earlier.verdicts,
            failures: self.failures - earlier.failures,
        }
    }
}

impl Load {
    async fn start(workers: usize) -> Self {
        let admin = admin().await;
        let ns = namespace(&admin, "load").await;
        let alice = human("alice").await;
        let cnpg = service_account(CNPG).await;
        let mut load = Self {
            stop: Arc::new(AtomicBool::new(false)),
            verdicts: Arc::new(AtomicU64::new(0)),
            failures: Arc::new(AtomicU64::new(0)),
            samples: Arc::new(Mutex::new(Vec::new())),
            workers: Vec::new(),
        };
        for worker in 0..workers {
            let (stop, verdicts, failures, samples) = (
                load.stop.clone(),
                load.verdicts.clone(),
                load.failures.clone(),
                load.samples.clone(),
            );
            let (alice, cnpg, ns) = (alice.client.clone(), cnpg.client.clone(), ns.clone());
            load.workers.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let name = format!("load-{worker}-{n}");
                    let admit = n.is_multiple_of(2);
                    let secret = secret(&ns, &name, &[("password", "load")]);
                    let result = if admit {
                        create_dry_run(&cnpg, &secret).await
                    } else {
                        create_dry_run(&alice, &secret).await
                    };
                    match judge(result, admit) {
                        Ok(()) => verdicts.fetch_add(1, Ordering::Relaxed),
                        Err(why) => {
                            let mut samples = samples.lock().unwrap();
                            if samples.len() < 10 {
                                samples.push(why);
                            }
                            failures.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }));
        }
        load
    }

    fn counts(&self) -> Counts {
        Counts {
            verdicts: self.verdicts.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    async fn stop(mut self) -> (Counts, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers.drain(..) {
            worker.await.expect("load worker");
        }
        (self.counts(), self.samples.lock().unwrap().clone())
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Ok when `result` is vaultgate's expected verdict; otherwise what came back instead (the
/// apiserver's error text: it never holds a value; an admitted object is never printed).
fn judge(result: kube::Result<kube::api::DynamicObject>, admit: bool) -> Result<(), String> {
    match (result, admit) {
        (Ok(obj), true) => {
            let class = obj
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(&format!("{P}secret-class")).cloned());
            if class.as_deref() == Some("internal") {
                Ok(())
            } else {
                Err(format!(
                    "the operator's Secret was admitted without vaultgate's stamp (class {class:?})"
                ))
            }
        }
        (Ok(_), false) => Err("alice's Secret was admitted".to_owned()),
        (Err(kube::Error::Api(s)), false)
            if s.code == 403
                && s.message.contains(&format!(
                    "admission webhook \"{SECRETS_VALIDATE}\" denied the request: vaultgate denied"
                ))
                && rule_ids(&s.message) == ["VG101"] =>
        {
            Ok(())
        }
        (Err(e), _) => Err(error_text(&e)),
    }
}

fn assert_no_failures(test: &str, phases: &[(&str, Counts)], total: Counts, samples: &[String]) {
    for (phase, counts) in phases {
        println!("availability: {test}: {phase}: {counts}");
    }
    println!("availability: {test}: total: {total}");
    assert_eq!(
        total.failures,
        0,
        "{test}: {} admissions failed (not vaultgate's verdict); first ones:\n{}",
        total.failures,
        samples.join("\n")
    );
    for (phase, counts) in phases {
        assert!(
            counts.verdicts > 0,
            "{test}: no request was answered during {phase}; the load did not cover it"
        );
    }
}

/// Waits `for_` with the load running and returns the counts of that window.
async fn soak(load: &Load, for_: Duration) -> Counts {
    let before = load.counts();
    tokio::time::sleep(for_).await;
    load.counts() - before
}

// ------------------------------------------------------------------ tests

// Multi-threaded: the balancer's relaying tasks must keep running while a thread blocks
// (an `Instance` drop waits for its process), or a draining vaultgate's GOAWAY never reaches the
// apiserver and its drain waits for connections nobody relays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_and_ca_rollover_under_load_fail_no_admission() {
    let _cluster = exclusive().await;
    let admin = admin().await;
    let dir = env().dir.join(unique("rotation"));
    let old_ca = CertAuthority::generate(1).expect("old CA");
    let new_ca = CertAuthority::generate(1).expect("new CA");
    let sign = |ca: &CertAuthority| {
        ca.sign_server(&["localhost".to_owned()], &[Ipv4Addr::LOCALHOST.into()], 1)
            .expect("serving certificate")
    };
    let first = sign(&old_ca);
    let mut volume = CertVolume::new(dir.join("certs"), &first);
    let instance = Instance::start("rotation", &volume.dir, "0s");
    let old_pem = old_ca.cert_pem().to_owned();
    let new_pem = new_ca.cert_pem().to_owned();
    let both_pem = format!("{new_pem}{old_pem}");
    wait_ready_at(
        &webhook_https_client(&[old_pem.as_bytes()]),
        &instance.base(),
    )
    .await;
    assert_eq!(
        served_leaf(instance.port, &[&old_pem]).await.as_deref(),
        Ok(leaf_der(&first.cert_pem).as_slice()),
        "the rotation instance serves its first certificate"
    );

    let mut balancer = Balancer::new(vec![instance.addr()]);
    let webhooks = Webhooks::take(&admin).await;
    let load = Load::start(2).await;
    webhooks
        .move_to(&mut balancer, old_pem.as_bytes(), "start (old CA)")
        .await;
    let mut phases = vec![("before rotation", soak(&load, Duration::from_secs(2)).await)];

    // 1. Leaf rotation under the same CA.
    let before = load.counts();
    let second = sign(&old_ca);
    let changed = volume.swap(&second);
    let took = wait_served(
        instance.port,
        &[&old_pem],
        &leaf_der(&second.cert_pem),
        changed,
    )
    .await;
    println!(
        "availability: rotation: leaf rotated (same CA): new certificate sha256 {} served {:.3} s \
         after the files changed",
        &sha256_hex(&leaf_der(&second.cert_pem))[..16],
        took.as_secs_f64()
    );
    // New connections (a new URL) handshake against the rotated leaf.
    webhooks
        .move_to(&mut balancer, old_pem.as_bytes(), "leaf rotated")
        .await;
    soak(&load, Duration::from_secs(2)).await;
    phases.push(("leaf rotation", load.counts() - before));

    // 2. CA rollover: bundle old + new, then the leaf of the new CA, then only the new CA.
    let before = load.counts();
    webhooks
        .move_to(&mut balancer, both_pem.as_bytes(), "caBundle old+new")
        .await;
    soak(&load, Duration::from_secs(1)).await;
    let third = sign(&new_ca);
    let changed = volume.swap(&third);
    let took = wait_served(
        instance.port,
        &[&both_pem],
        &leaf_der(&third.cert_pem),
        changed,
    )
    .await;
    println!(
        "availability: rotation: leaf of the new CA: sha256 {} served {:.3} s after the files \
         changed",
        &sha256_hex(&leaf_der(&third.cert_pem))[..16],
        took.as_secs_f64()
    );
    webhooks
        .move_to(
            &mut balancer,
            both_pem.as_bytes(),
            "new-CA leaf, caBundle old+new",
        )
        .await;
    soak(&load, Duration::from_secs(1)).await;
    webhooks
        .move_to(&mut balancer, new_pem.as_bytes(), "old CA removed")
        .await;
    soak(&load, Duration::from_secs(2)).await;
    phases.push(("CA rollover", load.counts() - before));

    let metrics = instance
        .metrics(&webhook_https_client(&[new_pem.as_bytes()]))
        .await;
    let reloads = metrics
        .lines()
        .find(|l| l.starts_with("vaultgate_tls_reloads_total{result=\"ok\"}"))
        .unwrap_or("vaultgate_tls_reloads_total{result=\"ok\"} (absent)")
        .to_owned();
    println!("availability: rotation: {reloads}");

    webhooks.restore(&load).await;
    let (total, samples) = load.stop().await;
    println!(
        "availability: rotation: balancer: {} connections forwarded",
        balancer.forwarded.load(Ordering::Relaxed)
    );
    drop(balancer);
    let took = instance.stop().await;
    println!(
        "availability: rotation: instance exited {:.2} s after SIGTERM",
        took.as_secs_f64()
    );
    assert_no_failures("certificate rotation", &phases, total, &samples);
}

/// Polls `/readyz` of the instance being stopped until the process is gone: when `/readyz` first
/// answered 503, when connections were first refused, and when the process had exited.
async fn watch_shutdown(
    client: &reqwest::Client,
    instance: &Instance,
    pid: u32,
) -> (f64, f64, f64) {
    let sigterm = Instant::now();
    let (mut not_ready, mut refused) = (None, None);
    let url = format!("{}/readyz", instance.base());
    while alive(pid) || refused.is_none() {
        match client.get(&url).send().await {
            Ok(r) if r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                not_ready.get_or_insert(sigterm.elapsed());
            }
            Ok(r) if r.status().is_success() => {}
            Ok(r) => panic!(
                "{} /readyz answered {} during shutdown",
                instance.name,
                r.status()
            ),
            Err(_) => {
                refused.get_or_insert(sigterm.elapsed());
            }
        }
        assert!(
            sigterm.elapsed() < Duration::from_secs(60),
            "{} did not stop within 60 s of SIGTERM",
            instance.name
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let not_ready = not_ready.unwrap_or_else(|| {
        panic!(
            "{}: /readyz never answered 503 between SIGTERM and the port closing: it stopped \
             accepting before it reported not ready",
            instance.name
        )
    });
    let refused = refused.expect("loop ends once refused");
    assert!(
        not_ready < refused,
        "{}: /readyz turned 503 at {not_ready:?}, after the port closed at {refused:?}",
        instance.name
    );
    (
        not_ready.as_secs_f64(),
        refused.as_secs_f64(),
        sigterm.elapsed().as_secs_f64(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_of_two_replicas_behind_a_balancer_fails_no_admission() {
    let _cluster = exclusive().await;
    let admin = admin().await;
    // The harness's certificates (read only), and a shutdown delay so that /readyz fails while
    // the port still serves, as in a Deployment behind a Service.
    let certs = env().dir.join("webhook");
    let replicas = [
        Instance::start("replica-a", &certs, "2s"),
        Instance::start("replica-b", &certs, "2s"),
    ];
    let client = webhook_https_client(&[]);
    // No connection reuse while watching a shutdown: each /readyz answer proves that the port
    // still accepted a new connection.
    let fresh = webhook_https_builder(&[])
        .pool_max_idle_per_host(0)
        .build()
        .expect("reqwest client");
    for replica in &replicas {
        wait_ready_at(&client, &replica.base()).await;
    }
    let ca = std::fs::read(&env().webhook_ca).expect("webhook CA");
    let mut balancer = Balancer::new(replicas.iter().map(Instance::addr).collect());
    let webhooks = Webhooks::take(&admin).await;
    let load = Load::start(2).await;
    webhooks
        .move_to(&mut balancer, &ca, "two replicas behind the balancer")
        .await;
    let mut phases = vec![(
        "both replicas serving",
        soak(&load, Duration::from_secs(2)).await,
    )];

    for replica in &replicas {
        let before = load.counts();
        let (validate, mutate) = reviews_by_route(&replica.metrics(&client).await);
        let pid = replica.pid();
        signal(pid, "TERM");
        let (not_ready, refused, exited) = watch_shutdown(&fresh, replica, pid).await;
        replica.wait_exit(pid);
        println!(
            "availability: rolling restart: {} (had answered {validate} validate + {mutate} \
             mutate reviews): /readyz 503 {not_ready:.2} s after SIGTERM, port closed \
             {refused:.2} s, process exited (drained) by {exited:.2} s",
            replica.name
        );
        replica.launch();
        let restarted = Instant::now();
        wait_ready_at(&client, &replica.base()).await;
        println!(
            "availability: rolling restart: {} ready {:.2} s after its restart",
            replica.name,
            restarted.elapsed().as_secs_f64()
        );
        soak(&load, Duration::from_secs(2)).await;
        phases.push((
            if replica.name.starts_with("replica-a") {
                "restart of replica a"
            } else {
                "restart of replica b"
            },
            load.counts() - before,
        ));
    }
    for replica in &replicas {
        let (validate, mutate) = reviews_by_route(&replica.metrics(&client).await);
        println!(
            "availability: rolling restart: {} answered {validate} validate + {mutate} mutate \
             reviews since its restart",
            replica.name
        );
    }

    webhooks.restore(&load).await;
    let (total, samples) = load.stop().await;
    println!(
        "availability: rolling restart: balancer: {} connections forwarded, {} connects to a \
         stopped replica skipped",
        balancer.forwarded.load(Ordering::Relaxed),
        balancer.skipped.load(Ordering::Relaxed)
    );
    drop(balancer);
    for replica in &replicas {
        let took = replica.stop().await;
        println!(
            "availability: rolling restart: {} exited {:.2} s after its final SIGTERM",
            replica.name,
            took.as_secs_f64()
        );
    }
    assert_no_failures("rolling restart", &phases, total, &samples);
}
