//! Vault authentication for [`Vault`]: a token file (re-read after a 403, so a rotated file
//! is picked up) or the Kubernetes auth method (`POST /v1/auth/<mount>/login` with the
//! projected service-account token; re-login at 80 % of the token TTL and after a 403).
//! Tokens are cached in memory only and never printed (`Debug` is redacted).

use std::{
    fmt,
    path::PathBuf,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use super::vault::{Vault, VaultError, errors_of};

/// How the controller authenticates to Vault.
#[derive(Debug, Clone)]
pub enum VaultAuth {
    /// A file holding a token (e.g. a Vault Agent sink); re-read after a 403.
    TokenFile(PathBuf),
    /// The Kubernetes auth method: `POST /v1/auth/<mount>/login` with the service-account JWT.
    Kubernetes {
        role: String,
        mount: String,
        jwt_file: PathBuf,
    },
}

/// A Vault token with its local expiry. `Debug` never shows it.
pub(super) struct Token {
    pub(super) value: String,
    pub(super) refresh_at: Option<Instant>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Vault {
    /// The cached token, or a fresh one (file read or login).
    pub(super) async fn token(&self) -> Result<String, VaultError> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref()
            && t.refresh_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(t.value.clone());
        }
        let fresh = match &self.cfg.auth {
            VaultAuth::TokenFile(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    VaultError::Auth(format!("--vault-token-file {}: {e}", path.display()))
                })?;
                let value = text.trim().to_owned();
                if value.is_empty() {
                    return Err(VaultError::Auth(format!(
                        "--vault-token-file {} is empty",
                        path.display()
                    )));
                }
                Token {
                    value,
                    refresh_at: None,
                }
            }
            VaultAuth::Kubernetes {
                role,
                mount,
                jwt_file,
            } => self.login(role, mount, jwt_file).await?,
        };
        let value = fresh.value.clone();
        *guard = Some(fresh);
        Ok(value)
    }

    async fn login(
        &self,
        role: &str,
        mount: &str,
        jwt_file: &PathBuf,
    ) -> Result<Token, VaultError> {
        const OP: &str = "kubernetes login";
        let jwt = tokio::fs::read_to_string(jwt_file).await.map_err(|e| {
            VaultError::Auth(format!("--vault-sa-token-file {}: {e}", jwt_file.display()))
        })?;
        let url = self.url(&format!("auth/{}/login", mount.trim_matches('/')));
        let resp = self
            .namespaced(self.http.post(url))
            .json(&json!({ "role": role, "jwt": jwt.trim() }))
            .send()
            .await
            .map_err(self.unreachable(OP))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(VaultError::Auth(format!(
                "login to auth/{mount} as role {role:?} failed (HTTP {}): {}",
                status.as_u16(),
                errors_of(&body)
            )));
        }
        let auth = body
            .get("auth")
            .ok_or_else(|| VaultError::Auth("login answer has no auth block".into()))?;
        let value = auth
            .get("client_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| VaultError::Auth("login answer has no client_token".into()))?
            .to_owned();
        let ttl = auth
            .get("lease_duration")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        // Re-login at 80% of the TTL; a zero TTL never expires.
        let refresh_at = (ttl > 0).then(|| Instant::now() + Duration::from_millis(ttl * 800));
        tracing::debug!(
            mount,
            role,
            ttl_s = ttl,
            "logged in to Vault with the Kubernetes auth method"
        );
        Ok(Token { value, refresh_at })
    }
}
