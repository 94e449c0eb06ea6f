//! Command-line surface: `serve`, `check`, `audit`, `policy default|validate|suggest`, `certs`,
//! `rules`, `explain`. Each subcommand lives in its own module; this one only parses and dispatches.
//! Flags fall back to `VAULTGATE_*` env vars.

mod audit;
mod certs;
pub mod check;
mod escape;
mod explain;
mod handover;
mod listing;
mod manifests;
mod policy_cmd;
mod serve;
mod suggest;
mod walk;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// `audit --format html`'s page for a report and its notes, for tests that open it in a browser.
pub use audit::html::page as audit_html;
pub use check::CheckArgs;
pub use serve::ServeArgs;

/// `0.1.0 (abc1234 2026-12-06)`: the package version, the git commit and the build date
/// (build.rs), as `--version` prints it after the name.
pub const VERSION: &str = match option_env!("VAULTGATE_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

#[derive(Debug, Parser)]
#[command(
    name = "vaultgate",
    version = VERSION,
    about = "Vault-first admission webhook for Kubernetes secrets (RFC-SECOPS-0001)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTPS admission webhook (POST /validate, /mutate; GET /healthz, /readyz, /metrics).
    Serve(Box<ServeArgs>),
    /// Evaluate manifests offline with the same engine the webhook uses.
    Check(CheckArgs),
    /// Policy file helpers.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Mint a CA and a serving certificate for the webhook Service.
    Certs(certs::CertsArgs),
    /// Run the handover controller: copy declared bootstrap Secrets into Vault once, then retire them.
    Handover(Box<handover::HandoverArgs>),
    /// Judge every existing Secret, ExternalSecret, PushSecret and store of the current
    /// kubeconfig's cluster with the webhook's engine, as if its producer wrote it now.
    Audit(audit::AuditArgs),
    /// Print the webhooks' matchConditions computed from a policy: which requests the apiserver
    /// sends to vaultgate (the mutating webhook only for writes that can need a stamp).
    Manifests(manifests::ManifestsArgs),
    /// List the rule catalogue: id, default mode, slug, RFC section and what each rule stops.
    Rules {
        /// Print the README's Markdown table instead.
        #[arg(long)]
        markdown: bool,
    },
    /// Explain one rule (`VG101` or `unmanaged-secret`): why, the RFC section, what it stops,
    /// its default mode, the fix, and an example denial.
    Explain {
        /// A rule id or slug.
        rule: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the built-in default policy, with comments: the file users start from.
    Default,
    /// Validate a policy file and exit non-zero naming the first problem.
    Validate {
        /// The policy file to validate.
        file: PathBuf,
    },
    /// Print a commented policy that fits a repository (or, with --cluster, a cluster): the
    /// decrypter, operators and GitOps controllers deployed, bootstrap namespaces, the Vault
    /// store, read grants and aliases. Each entry says where it was seen.
    Suggest(suggest::SuggestArgs),
}

pub use crate::telemetry::LogFormat;

/// Logging flags shared by the long-running subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, env = "VAULTGATE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info`, `debug`, `vaultgate=trace,info`.
    #[arg(long, env = "VAULTGATE_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

impl LogArgs {
    /// Installs logging and builds the multi-threaded runtime a long-running subcommand needs.
    /// On failure the error is printed and the exit code returned: 2 for a bad flag, 1 otherwise.
    pub(crate) fn start_runtime(&self) -> Result<tokio::runtime::Runtime, ExitCode> {
        if let Err(e) = crate::telemetry::init(self.log_format, &self.log_level) {
            eprintln!("error: {e}");
            return Err(ExitCode::from(2));
        }
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                eprintln!("error: cannot start the async runtime: {e}");
                ExitCode::FAILURE
            })
    }
}

/// Parses the command line and runs the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Check(args) => check::run(args),
        Command::Policy { command } => policy_cmd::run(command),
        Command::Certs(args) => certs::run(args),
        Command::Handover(args) => handover::run(*args),
        Command::Audit(args) => audit::run(args),
        Command::Manifests(args) => manifests::run(args),
        Command::Rules { markdown } => {
            if markdown {
                print!("{}", crate::policy::rules::markdown_table());
            } else {
                print!("{}", explain::rules_table());
            }
            ExitCode::SUCCESS
        }
        Command::Explain { rule } => explain::run(&rule),
    }
}

/// The longest duration a flag takes: `now + d` must stay representable (an `Instant` past its
/// range panics, in a background task silently), and no timeout or interval needs more.
const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(8760 * 3600);

/// `10s`, `1m30s`, `500ms` (Go duration syntax) or a plain number of seconds; must be > 0 and
/// at most a year.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let parsed = match text.trim().parse::<u64>() {
        Ok(secs) => Some(std::time::Duration::from_secs(secs)),
        Err(_) => crate::policy::duration::parse_go_duration(text),
    };
    match parsed {
        Some(d) if d > MAX_DURATION => Err(format!(
            "{text:?} is too long: at most 8760h (a year); every flag that takes a duration is \
             a timeout or an interval added to the current time"
        )),
        Some(d) if !d.is_zero() => Ok(d),
        Some(_) => Err("must be greater than zero".into()),
        None => Err(format!("{text:?} is not a duration (try 10s, 500ms or 1m)")),
    }
}

/// Completes on SIGTERM (Kubernetes) or Ctrl-C, then logs `then` (what the process does next).
/// A handler that cannot be registered is logged and never fires: it must not stop the
/// process at once (the other signal still works).
pub(crate) async fn shutdown_signal(then: &'static str) {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the process");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C; only SIGTERM stops the process");
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received; {then}");
}
