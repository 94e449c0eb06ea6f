//! mTLS (`--client-ca`): with a client CA configured, the server requires every client to present
//! a certificate chaining to it, and refuses the others at the TLS layer — before a byte of HTTP
//! is read. In-process server on 127.0.0.1:0, certificates minted with `vaultgate::certs`; waits
//! are bounded polls, never timing assertions.

use crate::common;

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use common::tls::{TestServer, eventually, mint_localhost};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use vaultgate::{
    certs::{CertAuthority, IssuedCert, MintedCerts},
    server::{ClientCa, ServeOptions, spawn_client_ca_reloader},
};

const APISERVER: &str = "system:kube-apiserver";

fn client_ca() -> CertAuthority {
    CertAuthority::generate(1).expect("client CA")
}

fn client_cert(ca: &CertAuthority) -> IssuedCert {
    ca.sign_client(APISERVER, &[], 1)
        .expect("client certificate")
}

/// Serves `pki`'s pair, requiring client certificates from the CA in `ca_file`.
async fn mtls_server(pki: &MintedCerts, ca_file: &Path) -> (TestServer, Arc<ClientCa>) {
    let ca = Arc::new(ClientCa::load(ca_file).expect("client CA loads"));
    let opts = ServeOptions {
        client_ca: Some(ca.clone()),
        ..ServeOptions::default()
    };
    (TestServer::start_with(pki, opts).await, ca)
}

/// A rustls client trusting the serving CA, presenting `identity` (cert chain PEM, key PEM).
fn client_config(
    server_ca: &str,
    identity: Option<(&str, &str)>,
    tls12_only: bool,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(server_ca.as_bytes()) {
        roots.add(cert.expect("PEM")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider);
    let builder = if tls12_only {
        builder
            .with_protocol_versions(&[&rustls::version::TLS12])
            .expect("TLS 1.2")
    } else {
        builder
            .with_safe_default_protocol_versions()
            .expect("versions")
    }
    .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("chain");
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// What happened to one request over a fresh TLS connection.
#[derive(Debug)]
enum Outcome {
    /// The handshake failed (the error text).
    Handshake(String),
    /// The handshake completed on the client side but the server refused the session: the
    /// first read failed (TLS 1.3 sends the client's certificate after the client considers
    /// the handshake done, so the server's alert arrives on the first read).
    Refused(String),
    /// An HTTP response arrived (the raw bytes).
    Served(String),
}

async fn exchange(addr: SocketAddr, config: Arc<ClientConfig>) -> Outcome {
    let connector = tokio_rustls::TlsConnector::from(config);
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let bounded = Duration::from_secs(20);
    let mut tls = match tokio::time::timeout(bounded, connector.connect(name, tcp))
        .await
        .expect("no hang")
    {
        Ok(tls) => tls,
        Err(e) => return Outcome::Handshake(format!("{e:?}")),
    };
    let body = serde_json::to_vec(&eso_review()).expect("encode");
    let mut request = format!(
        "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    if let Err(e) = tls.write_all(&request).await {
        return Outcome::Refused(format!("{e:?}"));
    }
    let mut out = Vec::new();
    match tokio::time::timeout(bounded, tls.read_to_end(&mut out))
        .await
        .expect("no hang")
    {
        Ok(_) if !out.is_empty() => Outcome::Served(String::from_utf8_lossy(&out).into_owned()),
        Ok(_) => Outcome::Refused("closed without a response".into()),
        Err(e) if out.is_empty() => Outcome::Refused(format!("{e:?}")),
        Err(_) => Outcome::Served(String::from_utf8_lossy(&out).into_owned()),
    }
}

fn eso_review() -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "uid-mtls",
            "kind": { "group": "", "version": "v1", "kind": "Secret" },
            "name": "db", "namespace": "payments", "operation": "CREATE",
            "userInfo": { "username": "system:serviceaccount:external-secrets:external-secrets" },
            "object": {
                "metadata": { "name": "db", "namespace": "payments", "ownerReferences": [{
                    "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "db", "uid": "u1", "controller": true
                }] },
                "data": { "password": "cGFzcw==" }
            }
        }
    })
}

/// The control case: a fresh client certificate from `ca` gets the review served.
async fn assert_served_with_a_certificate_of(
    ca: &CertAuthority,
    addr: SocketAddr,
    pki: &MintedCerts,
    tls12: bool,
) {
    let cert = client_cert(ca);
    let config = client_config(
        &pki.ca_cert_pem,
        Some((&cert.cert_pem, &cert.key_pem)),
        tls12,
    );
    assert_served(&exchange(addr, config).await);
}

#[track_caller]
fn assert_served(outcome: &Outcome) {
    match outcome {
        Outcome::Served(text) => {
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            assert!(
                text.contains("\"uid\":\"uid-mtls\"") && text.contains("\"allowed\":true"),
                "{text}"
            );
        }
        other => panic!("expected the review to be served, got {other:?}"),
    }
}

/// The alerts a certificate from the wrong CA gets: `UnknownCA` when no configured CA has the
/// issuer's name, `DecryptError` (bad signature) when one has the same name but another key —
/// minted CAs share their subject name.
const WRONG_CA: &str = "UnknownCA|DecryptError";

/// Refused by TLS: a failed handshake or a TLS alert (one of `alerts`, `|`-separated) on the
/// first read; never an HTTP answer.
#[track_caller]
fn assert_refused(outcome: &Outcome, alerts: &str) {
    match outcome {
        Outcome::Handshake(e) | Outcome::Refused(e) => {
            assert!(
                alerts.split('|').any(|a| e.contains(a)),
                "expected a {alerts} alert, got {e}"
            )
        }
        Outcome::Served(text) => panic!("served without a valid client certificate: {text}"),
    }
}

fn write_ca(dir: &Path, ca: &CertAuthority) -> std::path::PathBuf {
    let path = dir.join("client-ca.crt");
    vaultgate::certs::write_atomic(&path, ca.cert_pem().as_bytes(), false).expect("write CA");
    path
}

#[tokio::test]
async fn no_client_certificate_is_refused_at_the_tls_layer() {
    let pki = mint_localhost("mtls.test");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = client_ca();
    let (server, _) = mtls_server(&pki, &write_ca(dir.path(), &ca)).await;

    // TLS 1.3: the server answers the missing certificate with `certificate_required`.
    assert_refused(
        &exchange(server.addr, client_config(&pki.ca_cert_pem, None, false)).await,
        "CertificateRequired",
    );
    // TLS 1.2: the handshake itself fails.
    let tls12 = exchange(server.addr, client_config(&pki.ca_cert_pem, None, true)).await;
    assert!(
        matches!(tls12, Outcome::Handshake(_) | Outcome::Refused(_)),
        "{tls12:?}"
    );
    // An ordinary HTTPS client (reqwest, no identity) gets no response either.
    let plain = common::tls::client(&[&pki.ca_cert_pem]);
    assert!(
        plain.get(server.url("/healthz")).send().await.is_err(),
        "served /healthz without a client certificate"
    );
    // Control: with a certificate from the configured CA the same request is served.
    assert_served_with_a_certificate_of(&ca, server.addr, &pki, false).await;
    server.stop().await;
}

#[tokio::test]
async fn a_certificate_from_another_ca_or_without_client_auth_is_refused() {
    let pki = mint_localhost("mtls.test");
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, other) = (client_ca(), client_ca());
    let (server, _) = mtls_server(&pki, &write_ca(dir.path(), &ca)).await;

    let foreign = client_cert(&other);
    for tls12 in [false, true] {
        let outcome = exchange(
            server.addr,
            client_config(
                &pki.ca_cert_pem,
                Some((&foreign.cert_pem, &foreign.key_pem)),
                tls12,
            ),
        )
        .await;
        assert_refused(&outcome, WRONG_CA);
    }
    // The serving certificate's own CA is not the client CA: its server certificate is refused.
    assert_refused(
        &exchange(
            server.addr,
            client_config(&pki.ca_cert_pem, Some((&pki.cert_pem, &pki.key_pem)), false),
        )
        .await,
        "UnknownCA|DecryptError|UnsupportedCertificate",
    );
    // A certificate from the right CA but for serverAuth only (no clientAuth EKU).
    let server_only = ca
        .sign_server(&["localhost".to_owned()], &[], 1)
        .expect("server cert");
    let outcome = exchange(
        server.addr,
        client_config(
            &pki.ca_cert_pem,
            Some((&server_only.cert_pem, &server_only.key_pem)),
            false,
        ),
    )
    .await;
    assert!(
        matches!(outcome, Outcome::Handshake(_) | Outcome::Refused(_)),
        "serverAuth-only certificate was served: {outcome:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_valid_client_certificate_is_served_over_http1_and_h2() {
    let pki = mint_localhost("mtls.test");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = client_ca();
    let (server, _) = mtls_server(&pki, &write_ca(dir.path(), &ca)).await;
    for tls12 in [false, true] {
        assert_served_with_a_certificate_of(&ca, server.addr, &pki, tls12).await;
    }
    let cert = client_cert(&ca);
    // reqwest with an identity (ALPN h2): the apiserver forces HTTP/1.1, but h2 works the same.
    let identity =
        reqwest::Identity::from_pem(format!("{}{}", cert.cert_pem, cert.key_pem).as_bytes())
            .expect("identity");
    let client = common::tls::client_builder(&[&pki.ca_cert_pem])
        .identity(identity)
        .build()
        .expect("client");
    let response = client
        .post(server.url("/validate"))
        .json(&eso_review())
        .send()
        .await
        .expect("served");
    assert_eq!(response.status(), 200);
    let review: Value = response.json().await.expect("review");
    assert_eq!(review["response"]["allowed"], true);
    server.stop().await;
}

#[tokio::test]
async fn a_rotated_client_ca_is_picked_up_and_a_bad_one_keeps_the_last_good() {
    let pki = mint_localhost("mtls.test");
    let dir = tempfile::tempdir().expect("tempdir");
    let (old_ca, new_ca) = (client_ca(), client_ca());
    let ca_file = write_ca(dir.path(), &old_ca);
    let (server, holder) = mtls_server(&pki, &ca_file).await;
    let reloader = spawn_client_ca_reloader(holder, Duration::from_millis(100));
    let (old_cert, new_cert) = (client_cert(&old_ca), client_cert(&new_ca));
    let with =
        |c: &IssuedCert| client_config(&pki.ca_cert_pem, Some((&c.cert_pem, &c.key_pem)), false);
    assert_served(&exchange(server.addr, with(&old_cert)).await);
    assert_refused(&exchange(server.addr, with(&new_cert)).await, WRONG_CA);

    // Rollover with both CAs in the bundle: both clients are served.
    let both = format!("{}{}", old_ca.cert_pem(), new_ca.cert_pem());
    vaultgate::certs::write_atomic(&ca_file, both.as_bytes(), false).expect("write");
    let served = |c: IssuedCert| {
        let config = with(&c);
        async move {
            matches!(exchange(server.addr, config).await, Outcome::Served(t) if t.starts_with("HTTP/1.1 200"))
        }
    };
    assert!(
        eventually(Duration::from_secs(10), || served(client_cert(&new_ca))).await,
        "the new CA was never trusted"
    );
    assert_served(&exchange(server.addr, with(&old_cert)).await);

    // Only the new CA: the old client is refused from then on.
    write_ca(dir.path(), &new_ca);
    let old_refused = || {
        let config = with(&old_cert);
        async move { !matches!(exchange(server.addr, config).await, Outcome::Served(_)) }
    };
    assert!(
        eventually(Duration::from_secs(10), old_refused).await,
        "the old CA was never dropped"
    );
    assert_served(&exchange(server.addr, with(&new_cert)).await);

    // A broken bundle is rejected: the last good one stays in force (no lock-out, no opening).
    vaultgate::certs::write_atomic(
        &ca_file,
        b"-----BEGIN CERTIFICATE-----\nnot base64!\n",
        false,
    )
    .expect("write");
    tokio::time::sleep(Duration::from_millis(500)).await; // several poll periods; no assertion on time
    assert_served(&exchange(server.addr, with(&new_cert)).await);
    assert_refused(&exchange(server.addr, with(&old_cert)).await, WRONG_CA);
    reloader.abort();
    server.stop().await;
}

#[test]
fn a_client_ca_file_without_a_certificate_names_the_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.crt");
    std::fs::write(&empty, "# nothing\n").expect("write");
    let err = ClientCa::load(&empty).expect_err("no certificate");
    assert!(
        err.to_string().starts_with("--client-ca ")
            && err.to_string().contains("no PEM certificate"),
        "{err}"
    );
    let missing = ClientCa::load(dir.path().join("absent.crt")).expect_err("missing");
    assert!(missing.to_string().starts_with("--client-ca "), "{missing}");
    let pki = mint_localhost("mtls.test");
    let key = dir.path().join("key.pem");
    std::fs::write(&key, &pki.key_pem).expect("write");
    let err = ClientCa::load(&key).expect_err("a key is not a CA");
    assert!(
        !err.to_string().contains("PRIVATE KEY"),
        "never quotes the file: {err}"
    );
}

// ------------------------------------------------------------------------------------------------
// The plain-HTTP probe port (`--probe-listen`) next to an mTLS webhook port.

/// An mTLS server (client certificates from `ca`) with a plain-HTTP probe port.
async fn mtls_server_with_probes(
    pki: &MintedCerts,
    dir: &Path,
    ca: &CertAuthority,
    opts: ServeOptions,
) -> TestServer {
    let client_ca = Arc::new(ClientCa::load(write_ca(dir, ca)).expect("client CA loads"));
    let opts = ServeOptions {
        client_ca: Some(client_ca),
        ..opts
    };
    TestServer::start_with_probes(pki, opts).await
}

/// A plain HTTP/1.1 client: no TLS, no certificate (like the kubelet's httpGet probes).
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("plain client")
}

/// The `vaultgate_admission_reviews_total` samples in `server`'s metrics: reviews answered.
fn reviews_counted(server: &TestServer) -> Vec<String> {
    server
        .metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("vaultgate_admission_reviews_total{"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_probe_port_serves_readyz_and_metrics_without_a_certificate_while_tls_still_requires_one()
 {
    let pki = mint_localhost("mtls.test");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = client_ca();
    let server = mtls_server_with_probes(&pki, dir.path(), &ca, ServeOptions::default()).await;
    let plain = plain_client();

    for path in ["/healthz", "/readyz"] {
        let response = plain.get(server.probe_url(path)).send().await.expect(path);
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.expect("body").trim(), "ok", "{path}");
    }
    let metrics = plain
        .get(server.probe_url("/metrics"))
        .send()
        .await
        .expect("/metrics");
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .expect("content type")
            .starts_with("application/openmetrics-text"),
        "{:?}",
        metrics.headers()
    );
    let text = metrics.text().await.expect("metrics body");
    assert!(
        text.contains("vaultgate_break_glass_total") && text.ends_with("# EOF\n"),
        "{text}"
    );

    // The TLS port is unchanged: no client certificate, no HTTP.
    assert_refused(
        &exchange(server.addr, client_config(&pki.ca_cert_pem, None, false)).await,
        "CertificateRequired",
    );
    assert!(
        common::tls::client(&[&pki.ca_cert_pem])
            .get(server.url("/readyz"))
            .send()
            .await
            .is_err(),
        "the TLS port served /readyz without a client certificate"
    );
    // The probe port speaks no TLS at all: an HTTPS client cannot use it.
    let https_on_probe = format!(
        "https://127.0.0.1:{}/readyz",
        server.probe_addr.unwrap().port()
    );
    assert!(
        common::tls::client(&[&pki.ca_cert_pem])
            .get(https_on_probe)
            .send()
            .await
            .is_err()
    );

    // It stops with the server.
    let probe_addr = server.probe_addr.expect("probe port");
    server.stop().await;
    assert!(
        TcpStream::connect(probe_addr).await.is_err(),
        "the probe port still accepts after the server stopped"
    );
}

#[tokio::test]
async fn admission_reviews_on_the_probe_port_are_404_and_never_evaluated() {
    let pki = mint_localhost("mtls.test");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = client_ca();
    let server = mtls_server_with_probes(&pki, dir.path(), &ca, ServeOptions::default()).await;
    let plain = plain_client();

    for path in ["/validate", "/mutate"] {
        let response = plain
            .post(server.probe_url(path))
            .json(&eso_review())
            .send()
            .await
            .expect(path);
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.expect("JSON error");
        let message = body["error"].as_str().expect("error message");
        assert!(
            message.contains("--probe-listen") && message.contains("TLS on the --listen port"),
            "{message}"
        );
        // Not a 405 either: the route does not exist on this port, whatever the method.
        let get = plain.get(server.probe_url(path)).send().await.expect(path);
        assert_eq!(get.status(), 404, "GET {path}");
    }
    assert_eq!(
        reviews_counted(&server),
        Vec::<String>::new(),
        "a review sent to the probe port was evaluated"
    );

    // Control: the same review over mTLS is evaluated and counted.
    assert_served_with_a_certificate_of(&ca, server.addr, &pki, false).await;
    assert_eq!(
        reviews_counted(&server).len(),
        1,
        "{:?}",
        reviews_counted(&server)
    );
    server.stop().await;
}

#[tokio::test]
async fn readyz_on_the_probe_port_turns_503_at_the_start_of_shutdown() {
    let pki = mint_localhost("mtls.test");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = client_ca();
    let opts = ServeOptions {
        shutdown_delay: Duration::from_secs(60),
        ..ServeOptions::default()
    };
    let mut server = mtls_server_with_probes(&pki, dir.path(), &ca, opts).await;
    let plain = plain_client();
    let ready = plain
        .get(server.probe_url("/readyz"))
        .send()
        .await
        .expect("/readyz");
    assert_eq!(ready.status(), 200);

    server.begin_shutdown();
    let url = server.probe_url("/readyz");
    let unready = eventually(Duration::from_secs(10), || async {
        matches!(plain.get(&url).send().await, Ok(r) if r.status() == 503)
    })
    .await;
    assert!(
        unready,
        "/readyz on the probe port never failed after the shutdown signal"
    );
    let body = plain.get(&url).send().await.expect("/readyz");
    assert_eq!(
        body.text().await.expect("body"),
        "not ready: shutting down\n"
    );
    // Liveness is not readiness: the process still serves during the shutdown delay.
    let health = plain
        .get(server.probe_url("/healthz"))
        .send()
        .await
        .expect("/healthz");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn the_probe_port_closes_a_silent_connection_after_the_header_read_timeout() {
    let pki = mint_localhost("mtls.test");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = client_ca();
    let opts = ServeOptions {
        header_read_timeout: Duration::from_millis(500),
        ..ServeOptions::default()
    };
    let server = mtls_server_with_probes(&pki, dir.path(), &ca, opts).await;
    let mut tcp = TcpStream::connect(server.probe_addr.expect("probe port"))
        .await
        .expect("connect");
    // Half a request line, then nothing: the server must not wait for the rest forever.
    tcp.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127")
        .await
        .expect("write");
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut out)).await;
    assert!(
        closed.is_ok(),
        "the probe port kept a silent connection open"
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        !text.contains(" 200 "),
        "served an incomplete request: {text}"
    );
    server.stop().await;
}
