//! The serving certificate: PEM files → a checked rustls [`CertifiedKey`], held by
//! [`ReloadingCert`], a [`ResolvesServerCert`] that hands every new handshake the current pair.
//! Swapping the pair never touches established sessions: each keeps the key it was built with.
//!
//! Errors name the flag and the file to fix. They never quote file content: a key file that is
//! not valid PEM is described by category only, so no key material can reach a log.
//!
//! With `--client-ca`, [`ClientCa`] is the rustls client-certificate verifier: every handshake
//! must present a certificate chaining to that CA (mTLS with the apiserver), checked by
//! rustls's `WebPkiClientVerifier` and swapped, like the serving pair, when the file changes.

use std::{
    fmt,
    io::Read,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError, RwLock},
};

use rustls::{
    DigitallySignedStruct, DistinguishedName, InconsistentKeys, RootCertStore, ServerConfig,
    SignatureScheme,
    client::danger::HandshakeSignatureValid,
    crypto::CryptoProvider,
    server::{
        ClientHello, ResolvesServerCert, WebPkiClientVerifier,
        danger::{ClientCertVerified, ClientCertVerifier},
    },
    sign::CertifiedKey,
};
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, UnixTime,
    pem::{self, PemObject},
};

/// A PEM bundle of a few certificates is a few KiB; anything past this is not a PEM file.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Why a certificate/key pair was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read (missing, permissions, a directory...).
    #[error("{flag} {}: cannot read the file: {error}", path.display())]
    Read {
        flag: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// A file is far larger than any PEM bundle.
    #[error("{flag} {}: the file is larger than 1 MiB, so it is not a PEM file", path.display())]
    TooLarge { flag: &'static str, path: PathBuf },
    /// The certificate file holds no `CERTIFICATE` block.
    #[error("--tls-cert {}: no PEM certificate found (expected a -----BEGIN CERTIFICATE----- block)", path.display())]
    NoCertificate { path: PathBuf },
    /// The certificate file is damaged PEM (for example half-written).
    #[error("--tls-cert {}: malformed PEM: {what}", path.display())]
    MalformedCertificate { path: PathBuf, what: &'static str },
    /// The first certificate is not a parseable X.509 certificate.
    #[error("--tls-cert {}: the first certificate cannot be parsed: {reason}", path.display())]
    BadCertificate { path: PathBuf, reason: String },
    /// The key file holds no usable private key block.
    #[error(
        "--tls-key {} must point to a PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC): {what}",
        path.display()
    )]
    NoKey { path: PathBuf, what: &'static str },
    /// The key parsed but rustls cannot sign with it.
    #[error("--tls-key {}: unsupported private key: {reason}", path.display())]
    UnusableKey { path: PathBuf, reason: String },
    /// The key is not the private half of the certificate's public key.
    #[error(
        "--tls-key does not match --tls-cert: {} is not the private key of the first certificate in {}",
        key.display(),
        cert.display()
    )]
    Mismatch { cert: PathBuf, key: PathBuf },
    /// The client CA file holds no usable CA certificate.
    #[error("--client-ca {}: {what}", path.display())]
    BadClientCa { path: PathBuf, what: String },
    /// The rustls configuration could not be built (a bug, not an input problem).
    #[error("cannot build the TLS configuration: {0}")]
    Config(rustls::Error),
}

/// The crypto provider used everywhere in the server: ring, passed explicitly so nothing
/// process-global is installed (tests run several servers and clients in one process).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a file of at most [`MAX_PEM_BYTES`].
fn read_capped(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let read_err = |error| TlsError::Read {
        flag,
        path: path.to_owned(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(TlsError::TooLarge {
            flag,
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

/// Names a PEM problem without quoting the input.
fn pem_problem(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => {
            "a section has no -----END line (file half-written?)"
        }
        pem::Error::IllegalSectionStart { .. } => "a -----BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a section holds invalid base64",
        pem::Error::NoItemsFound => "no matching PEM section found",
        pem::Error::SectionTooLarge => "a section is too large",
        _ => "the file is not valid PEM",
    }
}

/// Parses a certificate chain and its private key and checks that they belong together.
pub fn parse_pair(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::MalformedCertificate {
            path: cert_path.to_owned(),
            what: pem_problem(&e),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::NoKey {
        path: key_path.to_owned(),
        what: match e {
            pem::Error::NoItemsFound => {
                "no -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY) block found"
            }
            e => pem_problem(&e),
        },
    })?;
    let signing_key =
        provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::UnusableKey {
                path: key_path.to_owned(),
                reason: e.to_string(),
            })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // ring's keys always expose their public half, so `Unknown` cannot happen; were it
        // to, the handshake itself would still fail loudly rather than serve a wrong key.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::Mismatch {
                cert: cert_path.to_owned(),
                key: key_path.to_owned(),
            })
        }
        Err(e) => Err(TlsError::BadCertificate {
            path: cert_path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// Reads and checks the pair at `cert`/`key`: the startup check behind `--tls-cert`/`--tls-key`.
pub fn load_pair(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_pem = read_capped("--tls-cert", cert)?;
    let key_pem = read_capped("--tls-key", key)?;
    parse_pair(cert, &cert_pem, key, &key_pem)
}

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

    #[test]
    fn oversized_files_are_refused_without_reading_them_whole() {
        let err = load_pair(Path::new("/dev/zero"), Path::new("/dev/zero")).expect_err("not PEM");
        assert!(
            matches!(
                err,
                TlsError::TooLarge {
                    flag: "--tls-cert",
                    ..
                }
            ),
            "{err}"
        );
    }
}
