//! `vaultgate handover`: wiring only. Validates flags and the policy, connects to Kubernetes
//! (in-cluster or `KUBECONFIG`), loads the digest key, then runs the leader-elected handover
//! controller and the metrics endpoint until SIGTERM or Ctrl-C (in-flight reconciles finish,
//! then the lease is released). Startup errors name the flag and exit 2.

use super::parse_duration;
use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context as _;

use super::{LogArgs, policy_cmd};
use crate::{
    controller::{
        self, Handover, LeaseSettings,
        vault::{VaultAuth, VaultConfig},
    },
    policy::handover::{Retire, Settings},
};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("vault_auth").required(true).args(["vault_token_file", "vault_auth_role"])))]
pub struct HandoverArgs {
    /// Policy file (YAML): label prefix, handover identity, Vault path conventions.
    #[arg(long, env = "VAULTGATE_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The product namespace: holds the digest-key Secret and the Lease.
    #[arg(long, env = "VAULTGATE_NAMESPACE", default_value = "vaultgate-system")]
    pub namespace: String,
    /// Namespace to watch (repeatable or comma-separated) [default: the policy's bootstrap namespaces].
    #[arg(
        long = "watch-namespace",
        env = "VAULTGATE_WATCH_NAMESPACES",
        value_delimiter = ',',
        conflicts_with = "all_namespaces"
    )]
    pub watch_namespaces: Vec<String>,
    /// Watch every namespace (needs a ClusterRole instead of per-namespace Roles).
    #[arg(long)]
    pub all_namespaces: bool,
    /// This cluster's name, recorded in Vault provenance metadata.
    #[arg(long, env = "VAULTGATE_CLUSTER_NAME")]
    pub cluster_name: String,
    /// This replica's name (lease holder, Event reporting instance) [default: $POD_NAME or the hostname].
    #[arg(long, env = "POD_NAME")]
    pub instance: Option<String>,
    /// Vault address, e.g. https://vault.vault.svc:8200.
    #[arg(long, env = "VAULT_ADDR")]
    pub vault_addr: String,
    /// PEM CA bundle for Vault's serving certificate (system roots when absent).
    #[arg(long, env = "VAULT_CACERT", value_name = "FILE")]
    pub vault_ca_cert: Option<PathBuf>,
    /// Vault namespace (X-Vault-Namespace header).
    #[arg(long, env = "VAULT_NAMESPACE")]
    pub vault_namespace: Option<String>,
    /// KV v2 mount path.
    #[arg(long, env = "VAULTGATE_VAULT_MOUNT", default_value = "secret")]
    pub vault_mount: String,
    /// Authenticate with the token in this file (re-read after a 403).
    #[arg(
        long,
        env = "VAULTGATE_VAULT_TOKEN_FILE",
        value_name = "FILE",
        conflicts_with = "vault_auth_role"
    )]
    pub vault_token_file: Option<PathBuf>,
    /// Authenticate with the Kubernetes auth method as this role.
    #[arg(long, env = "VAULTGATE_VAULT_AUTH_ROLE")]
    pub vault_auth_role: Option<String>,
    /// Mount path of the Kubernetes auth method.
    #[arg(long, env = "VAULTGATE_VAULT_AUTH_MOUNT", default_value = "kubernetes")]
    pub vault_auth_mount: String,
    /// Service-account token presented to the Kubernetes auth method.
    #[arg(
        long,
        env = "VAULTGATE_VAULT_SA_TOKEN_FILE",
        value_name = "FILE",
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    )]
    pub vault_sa_token_file: PathBuf,
    /// Timeout of one Vault request.
    #[arg(long, env = "VAULTGATE_VAULT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub vault_timeout: Duration,
    /// Retirement when a Secret has no handover-retire annotation: inert, delete or retain.
    #[arg(long, env = "VAULTGATE_RETIRE", default_value = "inert", value_parser = parse_retire)]
    pub retire: Retire,
    /// Extra Vault path prefix a handover target may use (repeatable), beyond the policy's push prefixes.
    #[arg(
        long = "handover-prefix",
        env = "VAULTGATE_HANDOVER_PREFIXES",
        value_delimiter = ','
    )]
    pub handover_prefixes: Vec<String>,
    /// Name of the coordination.k8s.io Lease in --namespace.
    #[arg(
        long,
        env = "VAULTGATE_LEASE_NAME",
        default_value = "vaultgate-handover"
    )]
    pub lease_name: String,
    /// Lease duration: how long a dead leader blocks a successor.
    #[arg(long, env = "VAULTGATE_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How often the lease is renewed or retried.
    #[arg(long, env = "VAULTGATE_LEASE_RETRY", default_value = "2s", value_parser = parse_duration)]
    pub lease_retry: Duration,
    /// Act without a lease (exactly one replica must run).
    #[arg(long)]
    pub no_leader_election: bool,
    /// First retry delay after a failure (doubles per attempt, ±20 % jitter).
    #[arg(long, env = "VAULTGATE_RETRY_BASE", default_value = "2s", value_parser = parse_duration)]
    pub retry_base: Duration,
    /// Longest retry delay.
    #[arg(long, env = "VAULTGATE_RETRY_MAX", default_value = "5m", value_parser = parse_duration)]
    pub retry_max: Duration,
    /// Plain-HTTP listener for GET /metrics and /healthz.
    #[arg(
        long,
        env = "VAULTGATE_METRICS_LISTEN",
        default_value = "127.0.0.1:9090"
    )]
    pub metrics_listen: SocketAddr,
    #[command(flatten)]
    pub log: LogArgs,
}

fn parse_retire(text: &str) -> Result<Retire, String> {
    text.parse()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "vaultgate-handover".into())
}

/// Resolves the flags into a controller configuration (no I/O but reading the policy).
pub fn config(args: &HandoverArgs) -> anyhow::Result<controller::Config> {
    let policy = policy_cmd::load_or_default(args.policy.as_deref())?;
    if args.lease_retry >= args.lease_duration {
        anyhow::bail!(
            "--lease-retry ({:?}) must be shorter than --lease-duration ({:?})",
            args.lease_retry,
            args.lease_duration
        );
    }
    let auth = match (&args.vault_token_file, &args.vault_auth_role) {
        (Some(file), None) => VaultAuth::TokenFile(file.clone()),
        (None, Some(role)) => VaultAuth::Kubernetes {
            role: role.clone(),
            mount: args.vault_auth_mount.clone(),
            jwt_file: args.vault_sa_token_file.clone(),
        },
        _ => anyhow::bail!("give exactly one of --vault-token-file and --vault-auth-role"),
    };
    let watch_namespaces = if args.all_namespaces {
        Vec::new()
    } else if args.watch_namespaces.is_empty() {
        policy.namespaces.bootstrap.clone()
    } else {
        args.watch_namespaces.clone()
    };
    if !args.all_namespaces && watch_namespaces.is_empty() {
        anyhow::bail!(
            "no namespace to watch: set --watch-namespace, --all-namespaces, or namespaces.bootstrap in the policy"
        );
    }
    let vault = VaultConfig {
        addr: args.vault_addr.clone(),
        ca_cert: args.vault_ca_cert.clone(),
        namespace: args.vault_namespace.clone(),
        mount: args.vault_mount.clone(),
        auth,
        timeout: args.vault_timeout,
    };
    vault.validate()?;
    Ok(controller::Config {
        settings: Settings {
            default_retire: args.retire,
            extra_prefixes: args.handover_prefixes.clone(),
        },
        policy: Arc::new(policy),
        namespace: args.namespace.clone(),
        watch_namespaces,
        cluster_name: args.cluster_name.clone(),
        instance: args.instance.clone().unwrap_or_else(hostname),
        vault,
        lease: (!args.no_leader_election).then(|| LeaseSettings {
            name: args.lease_name.clone(),
            duration: args.lease_duration,
            retry: args.lease_retry,
        }),
        retry_base: args.retry_base,
        retry_max: args.retry_max,
    })
}

pub fn run(args: HandoverArgs) -> ExitCode {
    let runtime = match args.log.start_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let (handover, listener) = match start(&args).await {
            Ok(started) => started,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let metrics = tokio::spawn(controller::metrics::serve(listener, handover.metrics(), {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        }));
        let result = handover
            .run(async move {
                super::shutdown_signal("finishing in-flight reconciles, then releasing the lease")
                    .await;
                stop_tx.send_replace(true);
            })
            .await;
        let _ = metrics.await;
        match result {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn start(args: &HandoverArgs) -> anyhow::Result<(Handover, tokio::net::TcpListener)> {
    let cfg = config(args)?;
    let listener = controller::metrics::bind(args.metrics_listen).await?;
    let client = kube::Client::try_default()
        .await
        .context("cannot configure the Kubernetes client (in-cluster or KUBECONFIG)")?;
    tracing::info!(
        vault = %cfg.vault.addr, mount = %cfg.vault.mount, cluster = %cfg.cluster_name, instance = %cfg.instance,
        retire = %cfg.settings.default_retire, metrics = %args.metrics_listen,
        "starting the handover controller"
    );
    Ok((Handover::prepare(client, cfg).await?, listener))
}
