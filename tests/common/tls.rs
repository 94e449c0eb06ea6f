//! TLS test helpers: certificates minted with `vaultgate::certs` into a tempdir, an in-process
//! webhook server on 127.0.0.1:0 with a fast reload poll, and TLS clients that trust only the
//! given CAs (reqwest, and a raw hyper HTTP/1.1 connection pinned to one TLS session).
#![allow(dead_code)] // each test crate uses a different subset

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use http_body_util::Full;
use hyper::{body::Bytes, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};
use vaultgate::{
    admission::Webhook,
    certs::{self, MintedCerts},
    cluster::{ClusterView, MemoryView},
    metrics::Metrics,
    policy::Policy,
    server::{self, PolicyReload, ReloadingCert, ServeOptions, ViewOnReload},
};

/// How often test servers re-read their certificate files.
pub const RELOAD_EVERY: Duration = Duration::from_millis(100);

/// A CA and a serving certificate for localhost/127.0.0.1, plus `tag` as an extra DNS SAN so
/// two mints are easy to tell apart.
pub fn mint_localhost(tag: &str) -> MintedCerts {
    let extra = ["localhost".to_owned(), tag.to_owned()];
    certs::mint(
        "vaultgate",
        "vaultgate-system",
        &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
        &extra,
        1,
    )
    .expect("mint")
}

/// The DER of the first certificate in a PEM chain.
pub fn leaf_der(cert_pem: &str) -> Vec<u8> {
    CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .next()
        .expect("a certificate")
        .expect("PEM")
        .to_vec()
}

/// Replaces the pair on disk the way a careful writer does (each file atomically).
pub fn write_pair(cert_path: &Path, key_path: &Path, cert_pem: &str, key_pem: &str) {
    certs::write_atomic(cert_path, cert_pem.as_bytes(), false).expect("write cert");
    certs::write_atomic(key_path, key_pem.as_bytes(), true).expect("write key");
}

/// A webhook server running in-process on 127.0.0.1 with its own tempdir for the pair.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The plain-HTTP probe port (`--probe-listen`), when started with one.
    pub probe_addr: Option<SocketAddr>,
    pub metrics: Arc<Metrics>,
    pub webhook: Arc<Webhook>,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    _dir: Option<TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    reloader: JoinHandle<()>,
    /// The `--policy` poll, when started with a policy file.
    policy_reloader: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Writes `minted`'s serving pair into a fresh tempdir and serves it.
    pub async fn start(minted: &MintedCerts) -> Self {
        Self::start_with(minted, ServeOptions::default()).await
    }

    pub async fn start_with(minted: &MintedCerts, opts: ServeOptions) -> Self {
        Self::start_in_tempdir(minted, opts, false).await
    }

    /// [`start_with`](Self::start_with), plus a plain-HTTP probe port on 127.0.0.1
    /// (`--probe-listen`), at [`probe_url`](Self::probe_url).
    pub async fn start_with_probes(minted: &MintedCerts, opts: ServeOptions) -> Self {
        Self::start_in_tempdir(minted, opts, true).await
    }

    /// [`start_with`](Self::start_with), judging with `policy` and the cluster `view` instead of
    /// the default policy and its empty view (the bypass and false-positive suites serve the
    /// same engine inputs they evaluate in-process).
    pub async fn start_with_view(
        minted: &MintedCerts,
        opts: ServeOptions,
        policy: Policy,
        view: Arc<dyn ClusterView>,
    ) -> Self {
        Self::start_in_tempdir_judging(minted, opts, false, (policy, view)).await
    }

    /// Serves like `serve --policy FILE --cluster-context memory`: the policy read from
    /// `policy_file`, re-read every [`RELOAD_EVERY`], its memory view rebuilt on each change.
    pub async fn start_with_policy_file(minted: &MintedCerts, policy_file: &Path) -> Self {
        let loaded = std::fs::read(policy_file).expect("read the policy file");
        let policy = Policy::from_yaml(std::str::from_utf8(&loaded).expect("UTF-8 policy"))
            .expect("a valid policy to start with");
        let view = Arc::new(MemoryView::from_policy(&policy));
        let mut server =
            Self::start_in_tempdir_judging(minted, ServeOptions::default(), false, (policy, view))
                .await;
        server.policy_reloader = Some(server::spawn_policy_reloader(
            server.webhook.clone(),
            PolicyReload {
                path: policy_file.to_owned(),
                every: RELOAD_EVERY,
                view: ViewOnReload::Memory,
                loaded,
            },
        ));
        server
    }

    async fn start_in_tempdir(minted: &MintedCerts, opts: ServeOptions, probes: bool) -> Self {
        Self::start_in_tempdir_judging(minted, opts, probes, default_engine()).await
    }

    async fn start_in_tempdir_judging(
        minted: &MintedCerts,
        opts: ServeOptions,
        probes: bool,
        engine: (Policy, Arc<dyn ClusterView>),
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert_path = dir.path().join("tls.crt");
        let key_path = dir.path().join("tls.key");
        write_pair(&cert_path, &key_path, &minted.cert_pem, &minted.key_pem);
        let mut server = Self::serve_files(&cert_path, &key_path, opts, probes, engine).await;
        server._dir = Some(dir);
        server
    }

    /// Serves the pair at `cert_path`/`key_path` with the default policy and a 100 ms reload poll.
    pub async fn from_files(cert_path: &Path, key_path: &Path, opts: ServeOptions) -> Self {
        Self::serve_files(cert_path, key_path, opts, false, default_engine()).await
    }

    async fn serve_files(
        cert_path: &Path,
        key_path: &Path,
        opts: ServeOptions,
        probes: bool,
        (policy, view): (Policy, Arc<dyn ClusterView>),
    ) -> Self {
        let cert =
            Arc::new(ReloadingCert::load(cert_path, key_path).expect("load the serving pair"));
        let metrics = Arc::new(Metrics::new());
        let webhook = Arc::new(Webhook::new(Arc::new(policy), view, metrics.clone()));
        let served = webhook.clone();
        let reloader = server::spawn_reloader(cert.clone(), RELOAD_EVERY, metrics.clone());
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let probe_listener = if probes {
            let probes = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .expect("bind the probe port");
            Some(probes)
        } else {
            None
        };
        let probe_addr = probe_listener
            .as_ref()
            .map(|l| l.local_addr().expect("probe local addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.await;
            };
            server::serve_with_probes(listener, probe_listener, cert, served, opts, shutdown)
                .await
                .expect("serve");
        });
        Self {
            addr,
            probe_addr,
            metrics,
            webhook,
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            _dir: None,
            shutdown: Some(tx),
            server,
            reloader,
            policy_reloader: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    /// A plain `http://` URL on the probe port.
    pub fn probe_url(&self, path: &str) -> String {
        let probe = self.probe_addr.expect("started with a probe port");
        format!("http://127.0.0.1:{}{path}", probe.port())
    }

    /// Sends the shutdown signal without waiting for the server to finish.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Triggers graceful shutdown and waits for the accept loop to finish draining.
    pub async fn stop(mut self) {
        self.begin_shutdown();
        self.reloader.abort();
        if let Some(policy) = &self.policy_reloader {
            policy.abort();
        }
        let server = std::mem::replace(&mut self.server, tokio::spawn(async {}));
        tokio::time::timeout(Duration::from_secs(30), server)
            .await
            .expect("drained in time")
            .expect("server task");
    }
}

/// The default policy and the view `serve --dev` builds from it.
fn default_engine() -> (Policy, Arc<dyn ClusterView>) {
    let policy = Policy::default();
    let view = Arc::new(MemoryView::from_policy(&policy));
    (policy, view)
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
        self.reloader.abort();
        if let Some(policy) = &self.policy_reloader {
            policy.abort();
        }
    }
}

/// A reqwest builder trusting only `ca_pems`, with no proxy, TLS info recorded on responses,
/// and a generous overall timeout so a hang fails the test instead of stalling it.
pub fn client_builder(ca_pems: &[&str]) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .no_proxy()
        .tls_info(true)
        .timeout(Duration::from_secs(60));
    for pem in ca_pems {
        builder = builder
            .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).expect("CA PEM"));
    }
    builder
}

/// A reqwest client trusting only `ca_pems` (HTTP/1.1 or HTTP/2 as ALPN decides).
pub fn client(ca_pems: &[&str]) -> reqwest::Client {
    client_builder(ca_pems).build().expect("client")
}

/// The leaf certificate the server presented for this response.
pub fn peer_leaf(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("TLS info with a peer certificate")
        .to_vec()
}

/// A rustls client configuration trusting only `ca_pems`, offering `alpn`.
pub fn rustls_client_config(ca_pems: &[&str], alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for pem in ca_pems {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.expect("CA PEM")).expect("CA certificate");
        }
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// One HTTP/1.1 keep-alive connection over one TLS session: every request sent through the
/// returned [`SendRequest`] uses that session. Also returns the leaf certificate it was
/// handshaken with.
pub async fn raw_http1(addr: SocketAddr, ca_pems: &[&str]) -> (SendRequest<Full<Bytes>>, Vec<u8>) {
    let connector = tokio_rustls::TlsConnector::from(rustls_client_config(ca_pems, &[b"http/1.1"]));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("peer certificate")
        .to_vec();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("HTTP/1 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    (sender, leaf)
}

/// Polls `check` every 50 ms until it returns true or `deadline` passes; returns the last result.
pub async fn eventually<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of one sample line (`name{labels} value`) in a Prometheus text exposition.
pub fn sample(metrics_text: &str, series: &str) -> Option<f64> {
    metrics_text
        .lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|value| value.trim().parse().ok())
}
