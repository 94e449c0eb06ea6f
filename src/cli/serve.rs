//! `vaultgate serve`: wiring only. Checks the certificate pair and the policy before binding
//! (startup errors name the flag and exit 2), then runs the HTTPS webhook with certificate
//! rotation until SIGTERM or Ctrl-C, and drains in-flight requests.
//!
//! `--dev` runs without a cluster: 127.0.0.1:8443, a dev CA and serving certificate minted
//! once into `certs/dev/` (gitignored), and the built-in default policy.

use super::parse_duration;
use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::Duration,
};

use anyhow::Context as _;

use super::{LogArgs, policy_cmd};
use crate::{
    admission::Webhook,
    certs::{self, CA_CERT_FILE, CERT_FILE, KEY_FILE},
    cluster::{ClusterView, LiveView, MemoryView},
    metrics::Metrics,
    policy::config::DEFAULT_POLICY_YAML,
    server::{self, ClientCa, PolicyReload, ReloadingCert, ServeOptions, ViewOnReload},
};

/// Default `--cert-reload-interval`. The e2e rotation test measured 6.9–7.8 s from a file change
/// to the new certificate being served with the former 10 s; a poll reads two small files (three
/// with --client-ca) and compares bytes, so 2 s costs nothing and keeps rotation within 5 s.
pub const DEFAULT_CERT_RELOAD_INTERVAL: &str = "2s";

/// Default `--policy-reload-interval`: a poll reads one small file and compares bytes, and the
/// kubelet itself takes up to a minute or so to update a ConfigMap volume, so this adds little.
pub const DEFAULT_POLICY_RELOAD_INTERVAL: &str = "2s";

/// Where `--dev` keeps its certificates, relative to the working directory.
const DEV_CERT_DIR: &str = "certs/dev";

/// Which cluster view backs the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ContextKind {
    Live,
    Memory,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 0.0.0.0:8443; with --dev: 127.0.0.1:8443].
    #[arg(long, env = "VAULTGATE_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Serving certificate chain (PEM). Re-read every --cert-reload-interval.
    #[arg(
        long,
        env = "VAULTGATE_TLS_CERT",
        value_name = "FILE",
        required_unless_present = "dev",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// Private key of the serving certificate (PEM).
    #[arg(
        long,
        env = "VAULTGATE_TLS_KEY",
        value_name = "FILE",
        required_unless_present = "dev",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Policy file (YAML); the built-in default policy when absent. Re-read every
    /// --policy-reload-interval: a valid change applies without a restart, an invalid one is
    /// logged and counted and the last good policy keeps serving.
    #[arg(long, env = "VAULTGATE_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// How often the --policy file is checked for a change.
    #[arg(long, env = "VAULTGATE_POLICY_RELOAD_INTERVAL", value_name = "DURATION", default_value = DEFAULT_POLICY_RELOAD_INTERVAL, value_parser = parse_duration)]
    pub policy_reload_interval: Duration,
    /// Local development: 127.0.0.1, dev certificates minted into certs/dev/, no cluster.
    #[arg(long)]
    pub dev: bool,
    /// Where rules look up existing objects: `live` watches the cluster (in-cluster config or
    /// KUBECONFIG); `memory` uses only the policy's stores [default: live; with --dev: memory].
    #[arg(
        long,
        env = "VAULTGATE_CLUSTER_CONTEXT",
        value_enum,
        value_name = "KIND"
    )]
    pub cluster_context: Option<ContextKind>,
    /// Time a client has to send request headers (`10s`, `500ms`, or plain seconds).
    #[arg(long, env = "VAULTGATE_HEADER_READ_TIMEOUT", value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,
    /// How often the certificate files (and --client-ca) are checked for a rotation. A rotated
    /// certificate is served within one interval: the default keeps that under the 5 s target.
    #[arg(long, env = "VAULTGATE_CERT_RELOAD_INTERVAL", value_name = "DURATION", default_value = DEFAULT_CERT_RELOAD_INTERVAL, value_parser = parse_duration)]
    pub cert_reload_interval: Duration,
    /// On SIGTERM, how long to keep serving with /readyz failing before refusing connections,
    /// so the endpoint is removed first [default: 5s; with --dev: 0s].
    #[arg(long, env = "VAULTGATE_SHUTDOWN_DELAY", value_name = "DURATION", value_parser = parse_delay)]
    pub shutdown_delay: Option<Duration>,
    /// Require a client certificate signed by this CA (PEM bundle) on every connection: mTLS
    /// with the apiserver (AdmissionConfiguration kubeConfigFile). Re-read every
    /// --cert-reload-interval; a bad new bundle keeps the last good one.
    #[arg(long, env = "VAULTGATE_CLIENT_CA", value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// Also serve GET /healthz, /readyz and /metrics over plain HTTP on this address (ADDR:PORT),
    /// for kubelet probes and Prometheus, which present no client certificate under
    /// --client-ca. /validate and /mutate are 404 there: reviews are served over TLS only.
    #[arg(long, env = "VAULTGATE_PROBE_LISTEN", value_name = "ADDR:PORT", value_parser = parse_probe_listen)]
    pub probe_listen: Option<SocketAddr>,
    /// Reviews admitted at once (body read, decoding, evaluation); the others wait for a slot
    /// until --review-timeout, then get a 503. Bounds memory to about N × 8 MiB bodies.
    #[arg(long, env = "VAULTGATE_MAX_CONCURRENT_REVIEWS", value_name = "N", default_value_t = server::DEFAULT_MAX_CONCURRENT_REVIEWS, value_parser = parse_slots)]
    pub max_concurrent_reviews: usize,
    /// Deadline of one review from its headers to its answer (slot wait, body, evaluation);
    /// keep it below the webhooks' timeoutSeconds (5 s) so the apiserver gets vaultgate's 503.
    #[arg(long, env = "VAULTGATE_REVIEW_TIMEOUT", value_name = "DURATION", default_value = "4s", value_parser = parse_duration)]
    pub review_timeout: Duration,
    /// How often the in-cluster audit judges every watched Secret and updates its metrics and
    /// PolicyReports (written only when they change, only if the wgpolicyk8s.io CRD is
    /// installed); it also runs soon after the watched objects change, at most once per 5 s
    /// (longer if a pass is slow). `0` disables it. Live cluster context only.
    #[arg(long, env = "VAULTGATE_AUDIT_INTERVAL", value_name = "DURATION", default_value = "5m", value_parser = parse_delay)]
    pub audit_interval: Duration,
    /// Name of the MutatingWebhookConfiguration and ValidatingWebhookConfiguration whose
    /// `matchConditions` are compared with the ones the policy in effect generates (`vaultgate
    /// manifests`). Live cluster context only.
    #[arg(
        long,
        env = "VAULTGATE_WEBHOOK_CONFIGURATION",
        value_name = "NAME",
        default_value = "vaultgate",
        value_parser = parse_object_name
    )]
    pub webhook_configuration: String,
    /// How often that comparison runs; it also runs at start and after every policy reload.
    /// Drift is logged and exported as `vaultgate_webhook_conditions_drift`. `0` disables it.
    #[arg(long, env = "VAULTGATE_WEBHOOK_CHECK_INTERVAL", value_name = "DURATION", default_value = "5m", value_parser = parse_delay)]
    pub webhook_check_interval: Duration,
    #[command(flatten)]
    pub log: LogArgs,
}

/// A review slot count: 1 to 4096.
fn parse_slots(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=4096).contains(&n) => Ok(n),
        _ => Err(format!("{text:?} is not a number of slots from 1 to 4096")),
    }
}

/// `--probe-listen`: an IP address and a port (a host name would be ambiguous to bind).
fn parse_probe_listen(text: &str) -> Result<SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!("--probe-listen must be ADDR:PORT (an IP address and a port, e.g. 0.0.0.0:8081), got {text:?}")
    })
}

/// A cluster-scoped object's name (an RFC 1123 subdomain, as Kubernetes requires): any other
/// text could never be found, and must not reach a request path.
fn parse_object_name(text: &str) -> Result<String, String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if text.len() <= 253 && text.split('.').all(label_ok) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not a Kubernetes object name: lowercase letters, digits, '-' and '.', \
             starting and ending with a letter or digit, at most 253 characters"
        ))
    }
}

/// Like [`parse_duration`], but zero is allowed (`0` or `0s`: no delay).
fn parse_delay(text: &str) -> Result<Duration, String> {
    match text.trim() {
        "0" | "0s" => Ok(Duration::ZERO),
        _ => parse_duration(text),
    }
}

pub fn run(args: ServeArgs) -> ExitCode {
    let runtime = match args.log.start_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let started = match start(args).await {
            Ok(started) => started,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        };
        let Started {
            listener,
            probes,
            cert,
            webhook,
            opts,
        } = started;
        let served = server::serve_with_probes(
            listener,
            probes,
            cert,
            webhook,
            opts,
            super::shutdown_signal("finishing in-flight requests"),
        );
        match served.await {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Everything checked and bound, ready to serve.
struct Started {
    listener: tokio::net::TcpListener,
    /// The plain-HTTP probe listener (`--probe-listen`).
    probes: Option<tokio::net::TcpListener>,
    cert: Arc<ReloadingCert>,
    webhook: Arc<Webhook>,
    opts: ServeOptions,
}

async fn start(args: ServeArgs) -> anyhow::Result<Started> {
    let ServeArgs {
        listen,
        tls_cert,
        tls_key,
        policy,
        policy_reload_interval,
        dev,
        cluster_context,
        header_read_timeout,
        cert_reload_interval,
        shutdown_delay,
        client_ca,
        probe_listen,
        max_concurrent_reviews,
        review_timeout,
        audit_interval,
        webhook_configuration,
        webhook_check_interval,
        log: _,
    } = args;
    let (cert_path, key_path, dev_ca) = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => (cert, key, None),
        (None, None) if dev => {
            let dir = Path::new(DEV_CERT_DIR);
            ensure_dev_certs(dir)?;
            (
                dir.join(CERT_FILE),
                dir.join(KEY_FILE),
                Some(dir.join(CA_CERT_FILE)),
            )
        }
        _ => anyhow::bail!("--tls-cert and --tls-key must both be set (or use --dev)"),
    };
    let (policy, policy_file) = match policy {
        Some(path) => {
            let (policy, bytes) = policy_cmd::load_with_bytes(&path)?;
            (policy, Some((path, bytes)))
        }
        None => (policy_cmd::load_or_default(None)?, None),
    };
    let cert = Arc::new(ReloadingCert::load(&cert_path, &key_path)?);
    let client_ca = client_ca.map(ClientCa::load).transpose()?.map(Arc::new);
    let default_ip = if dev {
        Ipv4Addr::LOCALHOST
    } else {
        Ipv4Addr::UNSPECIFIED
    };
    let listen = listen.unwrap_or(SocketAddr::from((default_ip, 8443)));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("--listen {listen}: cannot bind"))?;
    let bound = listener.local_addr().unwrap_or(listen);
    let probes = match probe_listen {
        Some(addr) if addr == listen && addr.port() != 0 => anyhow::bail!(
            "--probe-listen {addr} is also the --listen address; give the probe port another port (e.g. {}:8081)",
            addr.ip()
        ),
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("--probe-listen {addr}: cannot bind"))?,
        ),
        None => None,
    };

    let metrics = Arc::new(Metrics::new());
    let context = cluster_context.unwrap_or(if dev {
        ContextKind::Memory
    } else {
        ContextKind::Live
    });
    let mut audit_with = None;
    let mut webhook_check = None;
    let view: Arc<dyn ClusterView> = match context {
        ContextKind::Memory => Arc::new(MemoryView::from_policy(&policy)),
        ContextKind::Live => {
            let client = kube::Client::try_default().await.map_err(|e| {
                anyhow::anyhow!(
                    "--cluster-context live: no usable Kubernetes configuration (in-cluster or KUBECONFIG): {e}; \
                     use --cluster-context memory to run without a cluster"
                )
            })?;
            tracing::info!("watching the cluster; /readyz turns ready once every watch has synced");
            let live = LiveView::spawn(
                client.clone(),
                &policy,
                metrics.clone(),
                !audit_interval.is_zero(),
            );
            if !webhook_check_interval.is_zero() {
                webhook_check = Some((client.clone(), webhook_configuration.clone()));
            }
            audit_with = Some((client, live.clone()));
            live
        }
    };
    let webhook =
        Arc::new(Webhook::new(Arc::new(policy), view, metrics.clone()).after_mutating_webhook());
    if let Some((client, name)) = webhook_check {
        tracing::info!(
            configuration = %name,
            every_s = webhook_check_interval.as_secs_f64(),
            "comparing the installed webhooks' matchConditions with the policy (at start, after every policy reload, periodically)"
        );
        server::webhook_drift::spawn(
            client,
            webhook.clone(),
            server::webhook_drift::WebhookCheck {
                name,
                every: webhook_check_interval,
            },
        );
    }
    if let Some((client, live)) = audit_with
        && !audit_interval.is_zero()
    {
        tracing::info!(
            every_s = audit_interval.as_secs_f64(),
            "in-cluster audit on: metrics and PolicyReports from the watched Secrets, ESO objects and stores"
        );
        server::in_cluster_audit::spawn(client, live, webhook.clone(), audit_interval);
    }
    match policy_file {
        Some((path, loaded)) => {
            tracing::info!(
                policy = %path.display(),
                digest = %server::policy_reload::digest(&loaded),
                reload_every_s = policy_reload_interval.as_secs_f64(),
                "policy loaded; the file is re-read on change"
            );
            server::spawn_policy_reloader(
                webhook.clone(),
                PolicyReload {
                    path,
                    every: policy_reload_interval,
                    view: match context {
                        ContextKind::Live => ViewOnReload::Live,
                        ContextKind::Memory => ViewOnReload::Memory,
                    },
                    loaded,
                },
            );
        }
        None => metrics.set_policy(
            None,
            &server::policy_reload::digest(DEFAULT_POLICY_YAML.as_bytes()),
        ),
    }
    server::spawn_reloader(cert.clone(), cert_reload_interval, metrics);
    if let Some(ca) = &client_ca {
        server::spawn_client_ca_reloader(ca.clone(), cert_reload_interval);
        tracing::info!(client_ca = %ca.path().display(), "client certificates required (mTLS)");
        if probes.is_none() {
            tracing::warn!(
                "--client-ca is set but --probe-listen is not: /healthz, /readyz and /metrics \
                 are only served over mTLS, so kubelet httpGet probes and Prometheus scrapes \
                 without a client certificate will fail; add --probe-listen 0.0.0.0:8081 and \
                 point the probes at it (see manifests/overlays/mtls)"
            );
        }
    }
    if let Some(probes) = &probes {
        let addr = probes.local_addr().ok();
        tracing::info!(
            probe_listen = %addr.map_or_else(|| "?".to_owned(), |a| a.to_string()),
            "serving GET /healthz, /readyz and /metrics over plain HTTP (no admission reviews)"
        );
    }

    tracing::info!(
        listen = %bound,
        cert = %cert_path.display(),
        reload_every_s = cert_reload_interval.as_secs_f64(),
        dev,
        "serving the admission webhook over HTTPS"
    );
    if let Some(ca) = dev_ca {
        let host = if bound.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            bound.ip().to_string()
        };
        let url_host = if bound.is_ipv6() {
            format!("[{host}]")
        } else {
            host
        };
        tracing::info!(
            "try: curl --cacert {} -H 'Content-Type: application/json' --data @tests/fixtures/admission/secret-create-by-human.json https://{url_host}:{}/validate",
            ca.display(),
            bound.port()
        );
    }
    Ok(Started {
        listener,
        probes,
        cert,
        webhook,
        opts: ServeOptions {
            header_read_timeout,
            shutdown_delay: shutdown_delay.unwrap_or(if dev {
                Duration::ZERO
            } else {
                Duration::from_secs(5)
            }),
            max_concurrent_reviews,
            review_timeout,
            client_ca,
            ..ServeOptions::default()
        },
    })
}

/// Mints the dev CA and serving certificate into `dir` unless `ca.crt`, `tls.crt` and `tls.key`
/// are all there already (they are reused across runs, so a trusted dev CA stays valid).
fn ensure_dev_certs(dir: &Path) -> anyhow::Result<()> {
    if [CA_CERT_FILE, CERT_FILE, KEY_FILE]
        .iter()
        .all(|f| dir.join(f).is_file())
    {
        return Ok(());
    }
    let minted = certs::mint(
        "vaultgate",
        "vaultgate-system",
        &[Ipv4Addr::LOCALHOST.into()],
        &["localhost".to_owned()],
        365,
    )
    .context("--dev: cannot mint development certificates")?;
    minted.write_to(dir, true).with_context(|| {
        format!(
            "--dev: cannot write development certificates into {}",
            dir.display()
        )
    })?;
    tracing::info!(dir = %dir.display(), "minted a development CA and serving certificate (localhost, 127.0.0.1)");
    Ok(())
}

#[cfg(test)]
mod tests;
