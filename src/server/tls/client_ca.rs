//! The mTLS client CA (`--client-ca`): [`ClientCa`] is the rustls client-certificate verifier
//! every handshake must pass (mTLS with the apiserver), checked by rustls's
//! `WebPkiClientVerifier` and swapped, like the serving pair, when the file changes; plus its
//! polling reloader.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError, RwLock},
};

use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    server::{
        WebPkiClientVerifier,
        danger::{ClientCertVerified, ClientCertVerifier},
    },
};
use rustls_pki_types::{CertificateDer, UnixTime, pem::PemObject};

use super::{Reload, TlsError, pem_problem, provider, read_capped};

/// Builds the verifier for a client CA bundle: every certificate in the file is a trust anchor.
fn parse_client_ca(path: &Path, pem_bytes: &[u8]) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let bad = |what: String| TlsError::BadClientCa {
        path: path.to_owned(),
        what,
    };
    let certs = CertificateDer::pem_slice_iter(pem_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("malformed PEM: {}", pem_problem(&e))))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate found (expected the CA that signs the apiserver's client certificate)".into()));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| bad(format!("a certificate is not a usable CA: {e}")))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| bad(format!("cannot build a client verifier: {e}")))
}

/// The CA client certificates must chain to (`--client-ca`): a rustls [`ClientCertVerifier`]
/// that delegates to the verifier built from the file's current contents. [`ClientCa::reload`]
/// swaps in a changed bundle once it parses, and keeps the last good one otherwise, so a torn
/// write never opens the server (or locks the apiserver out). Handshakes already done keep
/// their session; new handshakes use the current bundle.
///
/// No CA names are sent as hints (`root_hint_subjects` is empty): clients then present their
/// configured certificate (Go's crypto/tls does so when the list is empty), and the hint list
/// cannot go stale across a swap.
pub struct ClientCa {
    path: PathBuf,
    current: RwLock<Arc<dyn ClientCertVerifier>>,
    files: Mutex<CaFiles>,
}

/// The bundle last served, and the content last rejected (bytes, or the read error).
struct CaFiles {
    good: Vec<u8>,
    rejected: Option<Result<Vec<u8>, String>>,
}

impl fmt::Debug for ClientCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCa")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ClientCa {
    /// Loads the bundle or fails naming `--client-ca`.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, TlsError> {
        let path = path.into();
        let bytes = read_capped("--client-ca", &path)?;
        let verifier = parse_client_ca(&path, &bytes)?;
        Ok(Self {
            path,
            current: RwLock::new(verifier),
            files: Mutex::new(CaFiles {
                good: bytes,
                rejected: None,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the file; swaps in the bundle if it changed and parses, otherwise keeps the
    /// last good one. Blocking (file read): call it from a blocking context.
    pub fn reload(&self) -> Reload {
        let read = read_capped("--client-ca", &self.path);
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let (seen, parsed) = match read {
            Ok(bytes) => {
                if bytes == files.good {
                    files.rejected = None;
                    return Reload::Unchanged;
                }
                if matches!(&files.rejected, Some(Ok(rejected)) if *rejected == bytes) {
                    return Reload::StillRejected;
                }
                let parsed = parse_client_ca(&self.path, &bytes);
                (Ok(bytes), parsed)
            }
            Err(e) => {
                let seen = Err(e.to_string());
                if files.rejected.as_ref() == Some(&seen) {
                    return Reload::StillRejected;
                }
                (seen, Err(e))
            }
        };
        match (parsed, seen) {
            (Ok(verifier), Ok(bytes)) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = verifier;
                files.good = bytes;
                files.rejected = None;
                Reload::Swapped
            }
            (Ok(_), Err(_)) => Reload::StillRejected, // unreachable: a read error never parses
            (Err(e), seen) => {
                files.rejected = Some(seen);
                Reload::Rejected(e)
            }
        }
    }
}

/// Polls `--client-ca` every `every` (the first check one period after start), like the serving
/// pair's reloader: a changed bundle is used by new handshakes once it parses; a bad one is
/// logged once and the last good bundle stays. Runs until the runtime stops or it is aborted.
pub fn spawn_client_ca_reloader(
    ca: Arc<ClientCa>,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = every.max(std::time::Duration::from_millis(10));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let holder = ca.clone();
            match tokio::task::spawn_blocking(move || holder.reload()).await {
                Ok(Reload::Swapped) => tracing::info!(
                    client_ca = %ca.path().display(),
                    "client CA reloaded; new connections are verified against it"
                ),
                Ok(Reload::Rejected(error)) => tracing::warn!(
                    %error,
                    "client CA file changed but cannot be used; still verifying against the last good bundle"
                ),
                Ok(Reload::Unchanged | Reload::StillRejected) => {}
                Err(e) => tracing::error!(error = %e, "client CA reload task failed; will retry"),
            }
        }
    })
}

impl ClientCertVerifier for ClientCa {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verifier()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.verifier().supported_verify_schemes()
    }
}
