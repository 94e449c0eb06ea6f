//! mTLS between the apiserver and vaultgate (issue #7 item 5). run.sh starts kube-apiserver with
//! an AdmissionConfiguration whose kubeconfig (user `"*"`) presents a client certificate of a
//! CA of its own (`webhook-client-ca`), and vaultgate with `--client-ca` for that CA. Every
//! other test passing already proves the apiserver authenticates; these prove that nothing
//! else gets in:
//!
//! - no client certificate: the TLS handshake is refused (an alert, never an HTTP status);
//! - a client certificate of another CA (a fresh one, and the CA of the cluster's human users,
//!   whose certificates the apiserver itself accepts): refused the same way;
//! - the probe certificate of the right CA gets HTTP, and a developer's kubectl write still
//!   gets vaultgate's verdict (denial and mutation) through the apiserver;
//! - the plain-HTTP `--probe-listen` port answers `/readyz` without a certificate (for the
//!   kubelet) and never serves a review.

use std::{net::Ipv4Addr, sync::Arc, time::Duration};

use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

/// How the connection ended: the HTTP bytes read, or the TLS/IO error.
enum Exchange {
    Http(String),
    Refused(std::io::Error),
}

/// A client identity: (chain, key) PEM.
type ClientIdentity = (String, String);

fn client_config(identity: Option<&ClientIdentity>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&env().webhook_ca).expect("webhook CA") {
        roots.add(cert.expect("webhook CA PEM")).expect("add root");
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots);
    Arc::new(match identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(chain.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .expect("client chain PEM"),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key PEM"),
            )
            .expect("client identity"),
    })
}

/// Connects to vaultgate's webhook port, sends `GET /readyz` and reads the answer.
async fn exchange(identity: Option<&ClientIdentity>) -> Exchange {
    let port: u16 = env()
        .webhook_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in VAULTGATE_E2E_WEBHOOK_URL");
    let tcp = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .expect("vaultgate's port accepts TCP");
    let connector = tokio_rustls::TlsConnector::from(client_config(identity));
    let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
    let run = async {
        // With TLS 1.3 the client finishes its handshake before the server has checked the
        // client certificate, so the refusal may only arrive with the first read.
        let mut tls = connector.connect(name, tcp).await?;
        tls.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        tls.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    match tokio::time::timeout(Duration::from_secs(10), run).await {
        Err(_) => panic!("vaultgate neither answered nor refused within 10 s"),
        Ok(Ok(answer)) => Exchange::Http(String::from_utf8_lossy(&answer).into_owned()),
        Ok(Err(e)) => Exchange::Refused(e),
    }
}

/// The refusal is a TLS alert from vaultgate, and no HTTP byte came back.
fn assert_refused_at_tls(result: Exchange, what: &str) -> String {
    let error = match result {
        Exchange::Http(answer) => panic!(
            "{what}: vaultgate answered over HTTP instead of refusing the handshake:\n{answer}"
        ),
        Exchange::Refused(e) => e,
    };
    let tls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("{what}: expected a TLS error, got an I/O error: {error:?}"));
    assert!(
        matches!(tls, rustls::Error::AlertReceived(_)),
        "{what}: expected vaultgate's TLS alert, got: {tls:?}"
    );
    format!("{tls}")
}

fn foreign_identity() -> ClientIdentity {
    let ca = vaultgate::certs::CertAuthority::generate(1).expect("a foreign CA");
    let leaf = ca
        .sign_client("system:kube-apiserver", &[], 1)
        .expect("a client certificate of the foreign CA");
    (leaf.cert_pem, leaf.key_pem)
}

fn pem_pair(cert: &std::path::Path, key: &std::path::Path) -> ClientIdentity {
    (
        std::fs::read_to_string(cert).expect("client certificate"),
        std::fs::read_to_string(key).expect("client key"),
    )
}

#[tokio::test]
async fn a_connection_without_a_client_certificate_is_refused_in_the_tls_handshake() {
    let _cluster = shared().await;
    let alert = assert_refused_at_tls(exchange(None).await, "no client certificate");
    println!("mtls: no client certificate -> {alert}");
    // The same port still serves a client that presents the probe certificate.
    let probe = pem_pair(&env().webhook_client_cert, &env().webhook_client_key);
    match exchange(Some(&probe)).await {
        Exchange::Http(answer) => assert!(
            answer.starts_with("HTTP/1.1 200"),
            "with the probe certificate /readyz should be 200:\n{answer}"
        ),
        Exchange::Refused(e) => panic!("the probe certificate was refused: {e:?}"),
    }
}

#[tokio::test]
async fn a_client_certificate_of_another_ca_is_refused_in_the_tls_handshake() {
    let _cluster = shared().await;
    let alert = assert_refused_at_tls(
        exchange(Some(&foreign_identity())).await,
        "a certificate of a fresh, unrelated CA",
    );
    println!("mtls: a certificate of an unrelated CA -> {alert}");
    // alice's certificate is valid for the apiserver (its client CA), not for vaultgate.
    let pki = env().dir.join("pki");
    let alice = pem_pair(&pki.join("alice.crt"), &pki.join("alice.key"));
    let alert = assert_refused_at_tls(
        exchange(Some(&alice)).await,
        "alice's certificate (the apiserver's client CA)",
    );
    println!("mtls: alice's certificate (the apiserver's user CA) -> {alert}");
}

#[tokio::test]
async fn writes_through_the_apiserver_still_get_vaultgates_verdict_over_mtls() {
    let _cluster = shared().await;
    let admin = admin().await;
    let ns = namespace(&admin, "mtls").await;
    let alice = human("alice").await;

    // Validating webhook: alice's kubectl apply is denied by vaultgate, with its text.
    let out = alice.kubectl(
        &["apply", "-f", "-"],
        Some(&secret_yaml(&ns, "db", &[("password", "mtls")])),
    );
    out.expect_failed();
    assert_contains(
        &out.stderr,
        &[
            &format!("admission webhook \"{SECRETS_VALIDATE}\" denied the request"),
            "VG101 unmanaged-secret",
        ],
        "alice's apply over mTLS",
    );
    assert_eq!(rule_ids(&out.stderr), ["VG101"], "{}", out.stderr);

    // Mutating webhook: an operator's Secret is admitted and stamped by vaultgate.
    let cnpg = service_account(CNPG).await;
    let stamped =
        create_admitted_dry_run(&cnpg.client, &secret(&ns, "app", &[("password", "op")])).await;
    let stamped = serde_json::to_value(stamped).expect("object to JSON");
    assert_eq!(
        label(&stamped, &format!("{P}secret-class")),
        Some("internal"),
        "the mutating webhook stamped the operator's Secret over mTLS"
    );
}

/// One plain-HTTP/1.1 request (no TLS, no certificate) to vaultgate's `--probe-listen` port;
/// the raw answer.
async fn probe_port(request: &str) -> String {
    let addr = env()
        .webhook_probe_url
        .strip_prefix("http://")
        .expect("VAULTGATE_E2E_WEBHOOK_PROBE_URL is http://ADDR:PORT")
        .to_owned();
    let run = async {
        let mut tcp = tokio::net::TcpStream::connect(&addr).await?;
        tcp.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&answer).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the probe port answered within 10 s")
        .unwrap_or_else(|e| panic!("the probe port {addr} refused a plain HTTP request: {e}"))
}

#[tokio::test]
async fn the_probe_port_answers_readyz_without_a_client_certificate_but_never_reviews() {
    let _cluster = shared().await;
    let ready =
        probe_port("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await;
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.ends_with("ok\n"),
        "the probe port's /readyz, without a certificate:\n{ready}"
    );
    // The TLS port of the same process still refuses the same certificate-less client.
    assert_refused_at_tls(
        exchange(None).await,
        "the TLS port without a client certificate",
    );
    // An admission review over plain HTTP is not served.
    let body = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#;
    let review = probe_port(&format!(
        "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
    .await;
    assert!(
        review.starts_with("HTTP/1.1 404"),
        "POST /validate on the probe port:\n{review}"
    );
    println!("mtls: probe port /readyz -> 200 without a certificate; POST /validate -> 404");
}
