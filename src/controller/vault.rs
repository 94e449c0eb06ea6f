//! A small typed client for the parts of the Vault (or OpenBao) HTTP API the handover uses:
//! `sys/health`, KV v2 create-only writes (`options.cas = 0`), reads of the latest version, and
//! `custom_metadata`. Authentication (token file or Kubernetes auth) lives in `auth.rs`; every
//! call retries once with a fresh token after a 403.
//!
//! Values travel only in request and response bodies: they are never logged, never put into an
//! error, and a token is never printed (`Debug` is redacted). TLS is rustls; `--vault-ca-cert`
//! pins the CA bundle (built-in roots are then off), otherwise the system roots are used.
//! Redirects are not followed, so a token never goes to another host.

use std::{fmt, path::PathBuf, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use super::auth::Token;
pub use super::auth::VaultAuth;

mod error;
pub use error::VaultError;

/// Where Vault is and how to talk to it.
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// Base address, e.g. `https://vault.vault.svc:8200`.
    pub addr: String,
    /// PEM bundle of the CA(s) that sign Vault's serving certificate.
    pub ca_cert: Option<PathBuf>,
    /// Enterprise/OpenBao namespace (`X-Vault-Namespace`).
    pub namespace: Option<String>,
    /// KV v2 mount, e.g. `secret`.
    pub mount: String,
    pub auth: VaultAuth,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl VaultConfig {
    /// Checks the flags without contacting Vault (errors name the flag).
    pub fn validate(&self) -> Result<(), VaultError> {
        let addr = self.addr.trim_end_matches('/');
        if !(addr.starts_with("https://") || addr.starts_with("http://"))
            || addr.contains(['?', '#'])
        {
            return Err(VaultError::Config(format!(
                "--vault-addr {addr:?} must be an http(s):// base URL"
            )));
        }
        if self.mount.trim_matches('/').is_empty() || self.mount.contains(['?', '#', '%', ' ']) {
            return Err(VaultError::Config(format!(
                "--vault-mount {:?} is not a mount path",
                self.mount
            )));
        }
        if let Some(ca) = &self.ca_cert
            && !ca.is_file()
        {
            return Err(VaultError::Config(format!(
                "--vault-ca-cert {}: no such file",
                ca.display()
            )));
        }
        Ok(())
    }
}

/// The latest version of a KV v2 key.
pub enum Current {
    Nothing,
    /// The latest version is soft-deleted or destroyed.
    Deleted {
        version: u64,
    },
    /// The latest version's data. Held only long enough to compute a digest.
    Value {
        version: u64,
        data: Map<String, Value>,
    },
}

impl fmt::Debug for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nothing => f.write_str("Nothing"),
            Self::Deleted { version } => write!(f, "Deleted {{ version: {version} }}"),
            Self::Value { version, data } => {
                write!(f, "Value {{ version: {version}, keys: {} }}", data.len())
            }
        }
    }
}

/// The client. Cheap to share behind an `Arc`.
pub struct Vault {
    pub(super) http: reqwest::Client,
    pub(super) cfg: VaultConfig,
    pub(super) token: Mutex<Option<Token>>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("addr", &self.cfg.addr)
            .field("mount", &self.cfg.mount)
            .finish_non_exhaustive()
    }
}

pub(super) fn errors_of(body: &Value) -> String {
    let joined = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|errs| {
            errs.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    let mut s = if joined.is_empty() {
        "(no error message)".to_owned()
    } else {
        joined
    };
    if s.len() > 300 {
        let mut cut = 300;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

impl Vault {
    /// Builds the HTTP client (reads the CA bundle now, so a bad `--vault-ca-cert` fails startup).
    pub fn new(cfg: VaultConfig) -> Result<Self, VaultError> {
        cfg.validate()?;
        let addr = cfg.addr.trim_end_matches('/').to_owned();
        let mut builder = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .use_rustls_tls();
        if let Some(path) = &cfg.ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                VaultError::Config(format!("--vault-ca-cert {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                VaultError::Config(format!("--vault-ca-cert {}: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(VaultError::Config(format!(
                    "--vault-ca-cert {}: no PEM certificate",
                    path.display()
                )));
            }
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| VaultError::Config(e.to_string()))?;
        Ok(Self {
            http,
            cfg: VaultConfig { addr, ..cfg },
            token: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &VaultConfig {
        &self.cfg
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}/v1/{path}", self.cfg.addr)
    }

    pub(super) fn unreachable(
        &self,
        op: &'static str,
    ) -> impl FnOnce(reqwest::Error) -> VaultError + '_ {
        move |source| VaultError::Unreachable {
            op,
            addr: self.cfg.addr.clone(),
            source: source.without_url(),
        }
    }

    pub(super) fn namespaced(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cfg.namespace {
            Some(ns) if !ns.is_empty() => req.header("X-Vault-Namespace", ns),
            _ => req,
        }
    }

    /// `GET /v1/sys/health` (unauthenticated), with every state answered as 200 + JSON.
    pub async fn health(&self) -> Result<crate::policy::handover::Health, VaultError> {
        const OP: &str = "health check";
        let url =
            self.url("sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200");
        let resp = self
            .namespaced(self.http.get(url))
            .send()
            .await
            .map_err(self.unreachable(OP))?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| VaultError::Decode {
            op: OP,
            detail: e.without_url().to_string(),
        })?;
        if !status.is_success() {
            return Err(VaultError::Status {
                op: OP,
                status: status.as_u16(),
                errors: errors_of(&body),
            });
        }
        let flag = |k: &str| {
            body.get(k)
                .and_then(Value::as_bool)
                .ok_or_else(|| VaultError::Decode {
                    op: OP,
                    detail: format!("no boolean {k:?}"),
                })
        };
        Ok(crate::policy::handover::Health {
            initialized: flag("initialized")?,
            sealed: flag("sealed")?,
        })
    }

    /// One authenticated call. A 403 drops the token and retries once with a fresh one (the
    /// token file may have been rotated, or the login lease revoked).
    async fn call(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), VaultError> {
        for attempt in 0..2 {
            let token = self.token().await?;
            let mut req = self
                .namespaced(self.http.request(method.clone(), self.url(path)))
                .header("X-Vault-Token", token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(self.unreachable(op))?;
            let status = resp.status();
            if status == StatusCode::FORBIDDEN && attempt == 0 {
                *self.token.lock().await = None;
                continue;
            }
            let bytes = resp.bytes().await.map_err(self.unreachable(op))?;
            let json = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            };
            if status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED {
                return Err(VaultError::Denied {
                    op,
                    status: status.as_u16(),
                    errors: errors_of(&json),
                });
            }
            return Ok((status, json));
        }
        unreachable!("the loop returns on its second attempt")
    }

    fn kv(&self, kind: &str, path: &str) -> String {
        format!("{}/{kind}/{path}", self.cfg.mount.trim_matches('/'))
    }

    /// Create-only write: `POST <mount>/data/<path>` with `options.cas = 0`.
    /// `Ok(None)` means check-and-set refused it: the key already has a version.
    pub async fn create(
        &self,
        path: &str,
        data: &Map<String, Value>,
    ) -> Result<Option<u64>, VaultError> {
        const OP: &str = "create-only write";
        let body = json!({ "options": { "cas": 0 }, "data": data });
        let (status, json) = self
            .call(OP, Method::POST, &self.kv("data", path), Some(&body))
            .await?;
        drop(body);
        if status.is_success() {
            let version = json.pointer("/data/version").and_then(Value::as_u64);
            return version.map(Some).ok_or(VaultError::Decode {
                op: OP,
                detail: "no data.version".into(),
            });
        }
        let errors = errors_of(&json);
        if status == StatusCode::BAD_REQUEST && errors.contains("check-and-set") {
            return Ok(None);
        }
        Err(VaultError::Status {
            op: OP,
            status: status.as_u16(),
            errors,
        })
    }

    /// Reads the latest version: `GET <mount>/data/<path>`.
    pub async fn read(&self, path: &str) -> Result<Current, VaultError> {
        const OP: &str = "read";
        let (status, json) = self
            .call(OP, Method::GET, &self.kv("data", path), None)
            .await?;
        let meta = json.pointer("/data/metadata");
        let version = meta.and_then(|m| m.get("version")).and_then(Value::as_u64);
        let deleted = meta.is_some_and(|m| {
            m.get("destroyed").and_then(Value::as_bool) == Some(true)
                || m.get("deletion_time")
                    .and_then(Value::as_str)
                    .is_some_and(|t| !t.is_empty())
        });
        match (status, version) {
            (StatusCode::NOT_FOUND, None) => Ok(Current::Nothing),
            (StatusCode::NOT_FOUND, Some(version)) => Ok(Current::Deleted { version }),
            (s, Some(version)) if s.is_success() && deleted => Ok(Current::Deleted { version }),
            (s, Some(version)) if s.is_success() => match json.pointer("/data/data") {
                Some(Value::Object(map)) => Ok(Current::Value {
                    version,
                    data: map.clone(),
                }),
                _ => Ok(Current::Deleted { version }),
            },
            (s, _) if s.is_success() => Err(VaultError::Decode {
                op: OP,
                detail: "no data.metadata.version".into(),
            }),
            (s, _) => Err(VaultError::Status {
                op: OP,
                status: s.as_u16(),
                errors: errors_of(&json),
            }),
        }
    }

    /// The key's `custom_metadata` (`None` when the key has no metadata at all).
    pub async fn custom_metadata(
        &self,
        path: &str,
    ) -> Result<Option<Map<String, Value>>, VaultError> {
        const OP: &str = "metadata read";
        let (status, json) = self
            .call(OP, Method::GET, &self.kv("metadata", path), None)
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(VaultError::Status {
                op: OP,
                status: status.as_u16(),
                errors: errors_of(&json),
            });
        }
        match json.pointer("/data/custom_metadata") {
            Some(Value::Object(map)) => Ok(Some(map.clone())),
            _ => Ok(Some(Map::new())),
        }
    }

    /// Merges `entries` into the key's `custom_metadata` (other keys are kept).
    pub async fn merge_custom_metadata(
        &self,
        path: &str,
        entries: &Map<String, Value>,
    ) -> Result<(), VaultError> {
        const OP: &str = "metadata write";
        let mut merged = self.custom_metadata(path).await?.unwrap_or_default();
        merged.extend(entries.iter().map(|(k, v)| (k.clone(), v.clone())));
        let body = json!({ "custom_metadata": merged });
        let (status, json) = self
            .call(OP, Method::POST, &self.kv("metadata", path), Some(&body))
            .await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(VaultError::Status {
                op: OP,
                status: status.as_u16(),
                errors: errors_of(&json),
            })
        }
    }
}
