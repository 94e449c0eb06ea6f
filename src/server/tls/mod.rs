//! TLS for the server: the crypto provider, [`TlsError`], and reading and parsing a PEM
//! certificate/key pair. The reloading serving certificate lives in `serving`, the mTLS client
//! CA verifier in `client_ca`.
//!
//! Errors name the flag and the file to fix. They never quote file content: a key file that is
//! not valid PEM is described by category only, so no key material can reach a log.

mod client_ca;
mod serving;

use std::{
    io::Read,
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{InconsistentKeys, crypto::CryptoProvider, sign::CertifiedKey};
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer,
    pem::{self, PemObject},
};

pub use client_ca::{ClientCa, spawn_client_ca_reloader};
pub use serving::{Reload, ReloadingCert};

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

#[cfg(test)]
mod tests {
    use super::*;

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
