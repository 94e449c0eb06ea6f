//! How a Vault call fails, in words an operator can act on: the operation, Vault's address or
//! HTTP status and Vault's own error strings (truncated), never a value or a token; and a
//! bounded reason for the handover's failure metric.

/// Why a Vault call failed. Messages carry the operation, the HTTP status and Vault's own error
/// strings (truncated): never a value or a token.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("Vault {op}: cannot reach {addr}: {source}")]
    Unreachable {
        op: &'static str,
        addr: String,
        source: reqwest::Error,
    },
    #[error("Vault {op}: permission denied (HTTP {status}): {errors}")]
    Denied {
        op: &'static str,
        status: u16,
        errors: String,
    },
    #[error("Vault {op}: HTTP {status}: {errors}")]
    Status {
        op: &'static str,
        status: u16,
        errors: String,
    },
    #[error("Vault {op}: unexpected response: {detail}")]
    Decode { op: &'static str, detail: String },
    #[error("Vault auth: {0}")]
    Auth(String),
    #[error("Vault client: {0}")]
    Config(String),
}

impl VaultError {
    /// A bounded label for the failure metric.
    pub fn metric_reason(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "vault_unreachable",
            Self::Denied { .. } | Self::Auth(_) => "vault_denied",
            Self::Status { .. } | Self::Decode { .. } => "vault_error",
            Self::Config(_) => "vault_config",
        }
    }
}
