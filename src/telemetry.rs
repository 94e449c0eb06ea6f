//! Logging setup: an env-filter from `--log-level` and text or JSON lines on stderr.

use tracing_subscriber::{EnvFilter, fmt};

/// Log output format (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. Returns an error naming the flag when the filter is invalid.
pub fn init(format: LogFormat, level: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(level).map_err(|e| {
        anyhow::anyhow!(
            "--log-level {level:?} is not a valid filter (try info or vaultgate=debug,info): {e}"
        )
    })?;
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder
            .with_span_events(fmt::format::FmtSpan::NONE)
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("logging was already initialised: {e}"))
}
