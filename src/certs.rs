//! Certificate minting with rcgen, for `vaultgate certs`, `serve --dev` and tests: an ECDSA P-256
//! CA, a serving certificate for `<service>.<namespace>.svc` signed by it, and client
//! certificates (CN = user, O = groups) as the apiserver's x509 authenticator reads them.
//! An existing CA can be loaded from PEM to sign more certificates with the same trust root.
//!
//! Private keys are PKCS#8 PEM. `Debug` output never includes them.

use std::{fmt, net::IpAddr};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use time::{Duration, OffsetDateTime};

/// Common name of the CAs minted here.
pub const CA_COMMON_NAME: &str = "vaultgate-ca";

/// The longest validity accepted, in days (10 years).
pub const MAX_DAYS: u32 = 3650;

/// Why minting failed.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// A service or namespace name that cannot appear in a DNS name.
    #[error(
        "{what} {value:?} is not a valid DNS label (lowercase letters, digits and '-', 1-63 characters)"
    )]
    InvalidLabel { what: &'static str, value: String },
    /// An extra DNS SAN that is not a DNS name.
    #[error("{value:?} is not a valid DNS name for a certificate")]
    InvalidDnsName { value: String },
    /// A validity of 0 days or more than [`MAX_DAYS`].
    #[error("validity must be between 1 and {MAX_DAYS} days, got {0}")]
    InvalidDays(u32),
    /// Too many groups for one client certificate.
    #[error("a client certificate carries at most 2 groups (O attributes), got {0}")]
    TooManyGroups(usize),
    /// The CA certificate or key PEM could not be used.
    #[error("the CA {what} cannot be used: {reason}")]
    BadCa { what: &'static str, reason: String },
    /// rcgen refused the parameters.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A CA plus a serving certificate, all PEM.
#[derive(Clone)]
pub struct MintedCerts {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for MintedCerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedCerts")
            .field("ca_cert_pem", &self.ca_cert_pem)
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// One issued certificate and its key, PEM.
#[derive(Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// A CA able to sign: freshly generated, or loaded from an existing certificate and key.
pub struct CertAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    key_pem: String,
}

impl fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertAuthority")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

fn check_days(days: u32) -> Result<(), MintError> {
    if (1..=MAX_DAYS).contains(&days) {
        Ok(())
    } else {
        Err(MintError::InvalidDays(days))
    }
}

/// Validity from five minutes ago (clock skew between machines) to `days` from now.
fn validity(params: &mut CertificateParams, days: u32) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + Duration::days(i64::from(days));
}

fn new_key() -> Result<KeyPair, MintError> {
    Ok(KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?)
}

impl CertAuthority {
    /// A new self-signed CA (CN `vaultgate-ca`, CA:TRUE with path length 0, keyCertSign).
    pub fn generate(days: u32) -> Result<Self, MintError> {
        check_days(days)?;
        let key = new_key()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, CA_COMMON_NAME);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, days);
        let cert = params.self_signed(&key)?;
        let key_pem = key.serialize_pem();
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads an existing CA from its certificate and private key PEM, checking that they match.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, MintError> {
        let bad = |what, reason: String| MintError::BadCa { what, reason };
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|_| bad("certificate", "no PEM certificate found".into()))?;
        let key_der = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|_| bad("key", "no PEM private key found".into()))?;
        // rustls checks that the key is the private half of the certificate's public key.
        rustls::sign::CertifiedKey::from_der(
            vec![der.clone()],
            key_der,
            &rustls::crypto::ring::default_provider(),
        )
        .map_err(|e| {
            bad(
                "key",
                format!("it does not belong to the CA certificate ({e})"),
            )
        })?;
        let key = KeyPair::from_pem(key_pem).map_err(|e| bad("key", e.to_string()))?;
        let issuer =
            Issuer::from_ca_cert_der(&der, key).map_err(|e| bad("certificate", e.to_string()))?;
        Ok(Self {
            issuer,
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A serving certificate (EKU serverAuth) for `dns_names` and `ips`, CN = the first DNS name.
    pub fn sign_server(
        &self,
        dns_names: &[String],
        ips: &[IpAddr],
        days: u32,
    ) -> Result<IssuedCert, MintError> {
        check_days(days)?;
        let mut params = CertificateParams::default();
        for name in dns_names {
            let invalid = || MintError::InvalidDnsName {
                value: name.clone(),
            };
            if !is_dns_name(name) {
                return Err(invalid());
            }
            let san = name.clone().try_into().map_err(|_| invalid())?;
            params.subject_alt_names.push(SanType::DnsName(san));
        }
        params
            .subject_alt_names
            .extend(ips.iter().copied().map(SanType::IpAddress));
        let mut dn = DistinguishedName::new();
        if let Some(first) = dns_names.first() {
            dn.push(DnType::CommonName, first.as_str());
        }
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, days);
        let key = new_key()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A client certificate (EKU clientAuth): CN = user name, O = groups (at most 2; rcgen
    /// writes one attribute per type, the second group uses the O OID as a custom type).
    pub fn sign_client(
        &self,
        common_name: &str,
        groups: &[String],
        days: u32,
    ) -> Result<IssuedCert, MintError> {
        check_days(days)?;
        if groups.len() > 2 {
            return Err(MintError::TooManyGroups(groups.len()));
        }
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        if let Some(first) = groups.first() {
            dn.push(DnType::OrganizationName, first.as_str());
        }
        if let Some(second) = groups.get(1) {
            dn.push(DnType::CustomDnType(vec![2, 5, 4, 10]), second.as_str());
        }
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, days);
        let key = new_key()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// True for an RFC 1123 label: what a Service or namespace name must be.
fn is_dns_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// True for a DNS name a certificate can carry: dot-separated labels of letters, digits and
/// '-', optionally starting with a `*.` wildcard, at most 253 characters.
fn is_dns_name(s: &str) -> bool {
    let rest = s.strip_prefix("*.").unwrap_or(s);
    s.len() <= 253
        && rest.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The DNS names the apiserver may use for the webhook Service, then `extra_dns` (deduplicated).
pub fn serving_dns_names(
    service: &str,
    namespace: &str,
    extra_dns: &[String],
) -> Result<Vec<String>, MintError> {
    for (what, value) in [("service name", service), ("namespace", namespace)] {
        if !is_dns_label(value) {
            return Err(MintError::InvalidLabel {
                what,
                value: value.to_owned(),
            });
        }
    }
    let mut names = vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ];
    for extra in extra_dns {
        if !is_dns_name(extra) {
            return Err(MintError::InvalidDnsName {
                value: extra.clone(),
            });
        }
        if !names.contains(extra) {
            names.push(extra.clone());
        }
    }
    Ok(names)
}

/// Mints a new CA (valid for 10 years, so the `caBundle` outlives leaf rotations) and
/// a serving certificate valid for `days`, with DNS SANs `<service>.<namespace>.svc`,
/// `<service>.<namespace>.svc.cluster.local`, `extra_dns` (add `localhost` here if wanted), and
/// IP SANs `ips`.
pub fn mint(
    service: &str,
    namespace: &str,
    ips: &[IpAddr],
    extra_dns: &[String],
    days: u32,
) -> Result<MintedCerts, MintError> {
    check_days(days)?;
    let names = serving_dns_names(service, namespace, extra_dns)?;
    let ca = CertAuthority::generate(MAX_DAYS)?;
    let leaf = ca.sign_server(&names, ips, days)?;
    Ok(MintedCerts {
        ca_cert_pem: ca.cert_pem,
        ca_key_pem: ca.key_pem,
        cert_pem: leaf.cert_pem,
        key_pem: leaf.key_pem,
    })
}

/// A client certificate for `common_name` in `groups`, signed by `ca`, valid for `days`.
pub fn mint_client(
    ca: &CertAuthority,
    common_name: &str,
    groups: &[String],
    days: u32,
) -> Result<IssuedCert, MintError> {
    ca.sign_client(common_name, groups, days)
}

mod files;
pub use files::{CA_CERT_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE, write_atomic};

#[cfg(test)]
mod tests;
