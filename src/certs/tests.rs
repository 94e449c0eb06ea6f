//! Tests of minting: a minted pair loads as a serving pair, a loaded CA signs more, and bad
//! names or lifetimes are refused with the flag to fix.

use std::path::Path;

use super::*;

fn localhost() -> MintedCerts {
    mint(
        "vaultgate",
        "vaultgate-system",
        &[IpAddr::from([127, 0, 0, 1])],
        &["localhost".into()],
        30,
    )
    .expect("mint")
}

#[test]
fn minted_pair_loads_as_a_serving_pair() {
    let m = localhost();
    let path = Path::new("tls.crt");
    crate::server::tls::parse_pair(
        path,
        m.cert_pem.as_bytes(),
        Path::new("tls.key"),
        m.key_pem.as_bytes(),
    )
    .expect("leaf and key match");
    assert!(m.key_pem.contains("BEGIN PRIVATE KEY"));
    assert!(
        !format!("{m:?}").contains("PRIVATE KEY"),
        "Debug hides keys"
    );
}

#[test]
fn an_existing_ca_signs_more_certificates() {
    let m = localhost();
    let ca = CertAuthority::from_pem(&m.ca_cert_pem, &m.ca_key_pem).expect("load CA");
    let client = mint_client(&ca, "alice", &["developers".into(), "payments".into()], 1)
        .expect("client cert");
    assert!(client.cert_pem.contains("BEGIN CERTIFICATE"));
    let other = localhost();
    let err = CertAuthority::from_pem(&m.ca_cert_pem, &other.ca_key_pem).expect_err("foreign key");
    assert!(err.to_string().contains("does not belong"), "{err}");
    assert!(matches!(
        mint_client(&ca, "bob", &["a".into(), "b".into(), "c".into()], 1),
        Err(MintError::TooManyGroups(3))
    ));
}

#[test]
fn names_and_days_are_checked() {
    assert!(matches!(
        mint("Web_Hook", "ns", &[], &[], 1),
        Err(MintError::InvalidLabel { .. })
    ));
    assert!(matches!(
        mint("hook", "-ns", &[], &[], 1),
        Err(MintError::InvalidLabel { .. })
    ));
    assert!(matches!(
        mint("hook", "ns", &[], &[], 0),
        Err(MintError::InvalidDays(0))
    ));
    assert!(matches!(
        mint("hook", "ns", &[], &["bad name".into()], 1),
        Err(MintError::InvalidDnsName { .. })
    ));
    let names = serving_dns_names("hook", "ns", &["hook.ns.svc".into(), "x.example".into()])
        .expect("names");
    assert_eq!(
        names,
        ["hook.ns.svc", "hook.ns.svc.cluster.local", "x.example"]
    );
}
