//! The serving certificate: [`ReloadingCert`] holds the current checked pair and is the
//! [`ResolvesServerCert`] that hands every new handshake that pair; [`ReloadingCert::reload`]
//! swaps in changed files once they are good. Swapping never touches established sessions:
//! each keeps the key it was built with.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError, RwLock},
};

use rustls::{
    ServerConfig,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

use super::{ClientCa, TlsError, parse_pair, provider, read_capped};

/// What one reload attempt did.
#[derive(Debug)]
pub enum Reload {
    /// The files hold the pair already served.
    Unchanged,
    /// A new pair was loaded; new handshakes use it.
    Swapped,
    /// The files changed but are unusable; the last good pair is still served.
    Rejected(TlsError),
    /// The files still hold the pair last rejected (already reported once).
    StillRejected,
}

/// What the files held at the last attempt, to tell "changed" from "same as before".
#[derive(PartialEq, Eq)]
enum Seen {
    Bytes { cert: Vec<u8>, key: Vec<u8> },
    Unreadable(String),
}

impl Seen {
    fn holds(&self, cert: &[u8], key: &[u8]) -> bool {
        matches!(self, Self::Bytes { cert: c, key: k } if c == cert && k == key)
    }
}

struct Files {
    good: Seen,
    rejected: Option<Seen>,
}

/// The served certificate, swappable at runtime. Implements [`ResolvesServerCert`].
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    files: Mutex<Files>,
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Loads the pair or fails naming the flag: the server never starts without a good pair.
    pub fn load(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Result<Self, TlsError> {
        let (cert_path, key_path) = (cert.into(), key.into());
        let cert = read_capped("--tls-cert", &cert_path)?;
        let key = read_capped("--tls-key", &key_path)?;
        let certified = parse_pair(&cert_path, &cert, &key_path, &key)?;
        Ok(Self {
            cert_path,
            key_path,
            current: RwLock::new(certified),
            files: Mutex::new(Files {
                good: Seen::Bytes { cert, key },
                rejected: None,
            }),
        })
    }

    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// The pair new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-reads both files; swaps in the pair if it changed and is good, otherwise keeps the last
    /// good one. Blocking (file reads): call it from a blocking context.
    pub fn reload(&self) -> Reload {
        let read = read_capped("--tls-cert", &self.cert_path)
            .and_then(|cert| Ok((cert, read_capped("--tls-key", &self.key_path)?)));
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let (seen, parsed) = match read {
            Ok((cert, key)) => {
                if files.good.holds(&cert, &key) {
                    files.rejected = None;
                    return Reload::Unchanged;
                }
                if files
                    .rejected
                    .as_ref()
                    .is_some_and(|r| r.holds(&cert, &key))
                {
                    return Reload::StillRejected;
                }
                let parsed = parse_pair(&self.cert_path, &cert, &self.key_path, &key);
                (Seen::Bytes { cert, key }, parsed)
            }
            Err(e) => {
                let seen = Seen::Unreadable(e.to_string());
                if files.rejected.as_ref() == Some(&seen) {
                    return Reload::StillRejected;
                }
                (seen, Err(e))
            }
        };
        match parsed {
            Ok(certified) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = certified;
                files.good = seen;
                files.rejected = None;
                Reload::Swapped
            }
            Err(e) => {
                files.rejected = Some(seen);
                Reload::Rejected(e)
            }
        }
    }

    /// A rustls server configuration resolving through this holder: TLS 1.2 and 1.3 (rustls's
    /// safe defaults, AEAD suites with forward secrecy only), ALPN `h2` then `http/1.1`.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, TlsError> {
        self.server_config_with(None)
    }

    /// [`server_config`](Self::server_config), requiring a client certificate that chains to
    /// `client_ca` when one is given (the handshake fails without one).
    pub fn server_config_with(
        self: &Arc<Self>,
        client_ca: Option<Arc<ClientCa>>,
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?;
        let builder = match client_ca {
            Some(ca) => builder.with_client_cert_verifier(ca),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_reports_each_distinct_problem_once_and_recovers() {
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let a = crate::certs::mint("a", "ns", &[ip], &[], 1).expect("mint");
        let b = crate::certs::mint("b", "ns", &[ip], &[], 1).expect("mint");
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let write = |c: &str, k: &str| {
            crate::certs::write_atomic(&cert, c.as_bytes(), false).expect("write");
            crate::certs::write_atomic(&key, k.as_bytes(), true).expect("write");
        };
        write(&a.cert_pem, &a.key_pem);
        let holder = ReloadingCert::load(&cert, &key).expect("load");
        let served = |h: &ReloadingCert| h.current().end_entity_cert().expect("leaf").to_vec();
        let leaf_a = served(&holder);
        assert!(matches!(holder.reload(), Reload::Unchanged));

        write(&b.cert_pem, &a.key_pem); // torn rotation: new cert, old key
        assert!(matches!(
            holder.reload(),
            Reload::Rejected(TlsError::Mismatch { .. })
        ));
        assert!(matches!(holder.reload(), Reload::StillRejected));
        assert_eq!(served(&holder), leaf_a);

        std::fs::remove_file(&key).expect("remove");
        assert!(matches!(
            holder.reload(),
            Reload::Rejected(TlsError::Read { .. })
        ));
        assert!(matches!(holder.reload(), Reload::StillRejected));

        write(&b.cert_pem, &b.key_pem);
        assert!(matches!(holder.reload(), Reload::Swapped));
        assert_ne!(served(&holder), leaf_a);
        assert!(matches!(holder.reload(), Reload::Unchanged));
    }
}
