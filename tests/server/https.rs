//! The HTTPS edge over real TLS, in-process: a server on 127.0.0.1:0 with certificates minted by
//! `vaultgate::certs`, and clients that trust only the minted CA. Waits are bounded polls, never
//! timing assertions.

use crate::common;

use std::time::Duration;

use base64::Engine as _;
use common::tls::{
    TestServer, client, client_builder, eventually, leaf_der, mint_localhost, peer_leaf, raw_http1,
    sample, write_pair,
};
use http_body_util::Full;
use hyper::body::Bytes;
use reqwest::{StatusCode, Version};
use serde_json::{Value, json};
use vaultgate::server::{MAX_BODY_BYTES, ReloadingCert, ServeOptions};

const ESO: &str = "system:serviceaccount:external-secrets:external-secrets";
const SEALED_SECRETS: &str = "system:serviceaccount:kube-system:sealed-secrets-controller";

/// An AdmissionReview for the CREATE of a Secret.
fn secret_create(
    uid: &str,
    namespace: &str,
    user: &str,
    groups: &[&str],
    owner: Option<Value>,
    data: Value,
) -> Value {
    let mut metadata = json!({ "name": "db", "namespace": namespace });
    if let Some(owner) = owner {
        metadata["ownerReferences"] = json!([owner]);
    }
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": { "group": "", "version": "v1", "kind": "Secret" },
            "resource": { "group": "", "version": "v1", "resource": "secrets" },
            "requestKind": { "group": "", "version": "v1", "kind": "Secret" },
            "requestResource": { "group": "", "version": "v1", "resource": "secrets" },
            "name": "db",
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": { "username": user, "groups": groups },
            "object": { "apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque", "data": data },
            "oldObject": null,
            "dryRun": false,
            "options": { "apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions" }
        }
    })
}

fn human_secret(uid: &str) -> Value {
    secret_create(
        uid,
        "payments",
        "alice",
        &["system:authenticated"],
        None,
        json!({ "password": "cGFzcw==" }),
    )
}

fn eso_secret(uid: &str) -> Value {
    let owner = json!({ "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "x", "uid": "u1", "controller": true });
    secret_create(
        uid,
        "payments",
        ESO,
        &["system:serviceaccounts"],
        Some(owner),
        json!({ "password": "cGFzcw==" }),
    )
}

fn bytes(review: &Value) -> Vec<u8> {
    serde_json::to_vec(review).expect("encode")
}

async fn post(client: &reqwest::Client, url: String, body: Vec<u8>) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request")
}

/// Asserts a one-line JSON `{"error": "..."}` body with `status`; returns the message.
async fn expect_json_error(response: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.expect("body");
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    let value: Value = serde_json::from_str(&text).expect("JSON error body");
    value["error"].as_str().expect("an error string").to_owned()
}

#[tokio::test]
async fn validate_round_trip_over_tls_echoes_uid() {
    let pki = mint_localhost("a.test");
    let server = TestServer::start(&pki).await;
    let client = client(&[&pki.ca_cert_pem]);

    let denied = post(
        &client,
        server.url("/validate"),
        bytes(&human_secret("uid-human-1")),
    )
    .await;
    assert_eq!(denied.status(), StatusCode::OK);
    assert_eq!(denied.headers()["content-type"], "application/json");
    let review: Value = denied.json().await.expect("review");
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(review["kind"], "AdmissionReview");
    assert_eq!(review["response"]["uid"], "uid-human-1");
    assert_eq!(review["response"]["allowed"], false);
    let message = review["response"]["status"]["message"]
        .as_str()
        .expect("denial message");
    assert!(message.contains("VG101"), "{message}");

    let allowed = post(
        &client,
        server.url("/validate"),
        bytes(&eso_secret("uid-eso-1")),
    )
    .await;
    let review: Value = allowed.json().await.expect("review");
    assert_eq!(review["response"]["uid"], "uid-eso-1");
    assert_eq!(review["response"]["allowed"], true, "{review}");
    server.stop().await;
}

#[tokio::test]
async fn mutate_returns_base64_json_patch_that_applies() {
    let pki = mint_localhost("a.test");
    let server = TestServer::start(&pki).await;
    let owner = json!({ "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": "s", "uid": "u2", "controller": true });
    let data = json!({ "token": "c2VjcmV0" });
    let request = secret_create(
        "uid-sealed",
        "vault",
        SEALED_SECRETS,
        &["system:serviceaccounts:kube-system"],
        Some(owner),
        data.clone(),
    );

    let response = post(
        &client(&[&pki.ca_cert_pem]),
        server.url("/mutate"),
        bytes(&request),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let review: Value = response.json().await.expect("review");
    let out = &review["response"];
    assert_eq!(out["uid"], "uid-sealed");
    assert_eq!(out["allowed"], true);
    assert_eq!(out["patchType"], "JSONPatch");
    let encoded = out["patch"].as_str().expect("patch is a base64 string");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    let patch: json_patch::Patch = serde_json::from_slice(&decoded).expect("a JSON Patch");

    let mut object = request["request"]["object"].clone();
    json_patch::patch(&mut object, &patch).expect("the patch applies to the request object");
    assert_eq!(
        object["metadata"]["labels"]["platform.pnats.cloud/secret-class"], "bootstrap",
        "{object}"
    );
    assert_eq!(object["data"], data, "data is never touched");
    server.stop().await;
}

#[tokio::test]
async fn malformed_json_is_400_with_one_line_json_error() {
    let pki = mint_localhost("a.test");
    let server = TestServer::start(&pki).await;
    let response = post(
        &client(&[&pki.ca_cert_pem]),
        server.url("/validate"),
        b"{\"apiVersion\": ".to_vec(),
    )
    .await;
    let message = expect_json_error(response, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("not an AdmissionReview"), "{message}");
}

#[tokio::test]
async fn wrong_api_version_is_400() {
    let pki = mint_localhost("a.test");
    let server = TestServer::start(&pki).await;
    let mut review = human_secret("uid-v1beta1");
    review["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let response = post(
        &client(&[&pki.ca_cert_pem]),
        server.url("/validate"),
        bytes(&review),
    )
    .await;
    let message = expect_json_error(response, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("admission.k8s.io/v1"), "{message}");
}

#[tokio::test]
async fn missing_request_is_400() {
    let pki = mint_localhost("a.test");
    let server = TestServer::start(&pki).await;
    let review = json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview" });
    let response = post(
        &client(&[&pki.ca_cert_pem]),
        server.url("/mutate"),
        bytes(&review),
    )
    .await;
    let message = expect_json_error(response, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("no request"), "{message}");
}

#[tokio::test]
async fn undecodable_object_is_400() {
    let pki = mint_localhost("a.test");
    let server = TestServer::start(&pki).await;
    let mut review = human_secret("uid-bad-object");
    review["request"]["object"]["metadata"] = json!(5);
    let response = post(
        &client(&[&pki.ca_cert_pem]),
        server.url("/validate"),
        bytes(&review),
    )
    .await;
    let message = expect_json_error(response, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("request.object"), "{message}");
}

#[tokio::test]
async fn unknown_path_is_404() {
    let pki = mint_localhost("a.test");
    let server = TestServer::start(&pki).await;
    let client = client(&[&pki.ca_cert_pem]);
    let response = post(
        &client,
        server.url("/validate/extra"),
        bytes(&human_secret("uid-404")),
    )
    .await;
    expect_json_error(response, StatusCode::NOT_FOUND).await;
    let response = client.get(server.url("/")).send().await.expect("request");
    expect_json_error(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn get_on_validate_is_405() {
    let pki = mint_localhost("a.test");
    let server = TestServer::start(&pki).await;
    let response = client(&[&pki.ca_cert_pem])
        .get(server.url("/validate"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["allow"], "POST");
    expect_json_error(response, StatusCode::METHOD_NOT_ALLOWED).await;
}

/// A valid review padded with trailing JSON whitespace to exactly `len` bytes.
fn padded_review(len: usize) -> Vec<u8> {
    let mut body = bytes(&human_secret("uid-padded"));
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

#[tokio::test]
async fn body_over_8_mib_is_413() {
    let pki = mint_localhost("a.test");
    let server = TestServer::start(&pki).await;
    // HTTP/1.1: the 413 must reach a client that is still sending.
    let client = client_builder(&[&pki.ca_cert_pem])
        .http1_only()
        .build()
        .expect("client");

    let at_limit = post(
        &client,
        server.url("/validate"),
        padded_review(MAX_BODY_BYTES),
    )
    .await;
    assert_eq!(
        at_limit.status(),
        StatusCode::OK,
        "exactly 8 MiB is accepted"
    );
    let review: Value = at_limit.json().await.expect("review");
    assert_eq!(review["response"]["uid"], "uid-padded");

    let over = post(
        &client,
        server.url("/validate"),
        padded_review(MAX_BODY_BYTES + 1),
    )
    .await;
    let message = expect_json_error(over, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(message.contains("8 MiB"), "{message}");

    // Without a Content-Length (chunked), the limit holds all the same.
    let chunks = Chunks(
        vec![
            Bytes::from(vec![b' '; MAX_BODY_BYTES]),
            Bytes::from(vec![b' '; 1024]),
        ]
        .into(),
    );
    let chunked = client
        .post(server.url("/mutate"))
        .body(reqwest::Body::wrap(chunks))
        .send()
        .await
        .expect("request");
    expect_json_error(chunked, StatusCode::PAYLOAD_TOO_LARGE).await;

    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        sample(
            &metrics,
            r#"vaultgate_bad_requests_total{reason="too_large"}"#
        ) >= Some(2.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn five_megabyte_review_is_accepted() {
    let pki = mint_localhost("a.test");
    let server = TestServer::start(&pki).await;
    let big = "QUFB".repeat(5 * 1024 * 1024 / 4); // ~5 MB of base64
    let review = secret_create(
        "uid-big",
        "payments",
        "alice",
        &["system:authenticated"],
        None,
        json!({ "blob": big }),
    );
    let body = bytes(&review);
    assert!(body.len() > 5_000_000 && body.len() < MAX_BODY_BYTES);

    let response = post(&client(&[&pki.ca_cert_pem]), server.url("/validate"), body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let review: Value = response.json().await.expect("review");
    assert_eq!(review["response"]["uid"], "uid-big");
    assert_eq!(
        review["response"]["allowed"], false,
        "evaluated like any other review"
    );
    server.stop().await;
}

#[tokio::test]
async fn healthz_and_readyz_and_metrics() {
    let pki = mint_localhost("a.test");
    let server = TestServer::start(&pki).await;
    let client = client(&[&pki.ca_cert_pem]);

    let health = client
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.expect("body").trim(), "ok");
    let ready = client
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);

    post(
        &client,
        server.url("/validate"),
        bytes(&human_secret("uid-metrics")),
    )
    .await;
    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), StatusCode::OK);
    let content_type = metrics.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = metrics.text().await.expect("text");
    assert!(text.contains("vaultgate_admission_reviews_total"), "{text}");
    server.stop().await;
}

async fn get_on(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    path: &str,
) -> StatusCode {
    sender.ready().await.expect("the connection is still open");
    let request = hyper::Request::get(path)
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::new()))
        .expect("request");
    sender
        .send_request(request)
        .await
        .expect("response on the same connection")
        .status()
}

#[tokio::test]
async fn rotation_is_picked_up_without_dropping_keepalive_connection() {
    let (a, b) = (mint_localhost("a.test"), mint_localhost("b.test"));
    let (leaf_a, leaf_b) = (leaf_der(&a.cert_pem), leaf_der(&b.cert_pem));
    let cas = [a.ca_cert_pem.as_str(), b.ca_cert_pem.as_str()];
    // A header-read timeout well above the bounded wait below, so idleness can't close the connection.
    let opts = ServeOptions {
        header_read_timeout: Duration::from_secs(60),
        ..ServeOptions::default()
    };
    let server = TestServer::start_with(&a, opts).await;

    let (mut kept, kept_leaf) = raw_http1(server.addr, &cas).await;
    assert_eq!(kept_leaf, leaf_a);
    assert_eq!(get_on(&mut kept, "/healthz").await, StatusCode::OK);

    write_pair(&server.cert_path, &server.key_path, &b.cert_pem, &b.key_pem);
    let url = server.url("/healthz");
    let rotated = eventually(Duration::from_secs(10), || async {
        // A new client each time: a new connection, a new handshake.
        match client(&cas).get(&url).send().await {
            Ok(response) => peer_leaf(&response) == leaf_b,
            Err(_) => false,
        }
    })
    .await;
    assert!(rotated, "new connections never saw certificate B");

    // The connection opened before the rotation is still served, on its original session (A).
    assert_eq!(get_on(&mut kept, "/healthz").await, StatusCode::OK);
    assert_eq!(get_on(&mut kept, "/readyz").await, StatusCode::OK);
    let text = server.metrics.encode();
    assert_eq!(
        sample(&text, r#"vaultgate_tls_reloads_total{result="ok"}"#),
        Some(1.0),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_new_pair_keeps_the_old_one() {
    let (a, b) = (mint_localhost("a.test"), mint_localhost("b.test"));
    let leaf_a = leaf_der(&a.cert_pem);
    let cas = [a.ca_cert_pem.as_str(), b.ca_cert_pem.as_str()];
    let server = TestServer::start(&a).await;
    let errors = async || {
        let text = client(&cas)
            .get(server.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        sample(&text, r#"vaultgate_tls_reloads_total{result="error"}"#).unwrap_or(0.0)
    };

    // Garbage in the certificate file.
    vaultgate::certs::write_atomic(
        &server.cert_path,
        b"-----BEGIN CERTIFICATE-----\nnot base64!\n",
        false,
    )
    .expect("write");
    assert!(
        eventually(Duration::from_secs(10), || async { errors().await >= 1.0 }).await,
        "no reload error counted"
    );
    let response = client(&cas)
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("still serving");
    assert_eq!(peer_leaf(&response), leaf_a);

    // A valid certificate with someone else's key: half of a rotation, or a mistake.
    write_pair(&server.cert_path, &server.key_path, &b.cert_pem, &a.key_pem);
    assert!(
        eventually(Duration::from_secs(10), || async { errors().await >= 2.0 }).await,
        "mismatch not counted"
    );
    let response = client(&cas)
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("still serving");
    assert_eq!(peer_leaf(&response), leaf_a);
    assert_eq!(
        sample(
            &server.metrics.encode(),
            r#"vaultgate_tls_reloads_total{result="ok"}"#
        ),
        None
    );
    server.stop().await;
}

#[test]
fn startup_with_missing_cert_names_the_flag() {
    let pki = mint_localhost("a.test");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, other_key) = (
        dir.path().join("tls.crt"),
        dir.path().join("tls.key"),
        dir.path().join("other.key"),
    );
    write_pair(&cert, &key, &pki.cert_pem, &pki.key_pem);
    vaultgate::certs::write_atomic(&other_key, pki.ca_key_pem.as_bytes(), true).expect("write");

    let missing =
        ReloadingCert::load(dir.path().join("absent.crt"), &key).expect_err("missing cert");
    let text = missing.to_string();
    assert!(
        text.starts_with("--tls-cert ") && text.contains("absent.crt"),
        "{text}"
    );

    let not_a_cert = ReloadingCert::load(&key, &key).expect_err("a key is not a certificate");
    assert!(
        not_a_cert.to_string().contains("--tls-cert")
            && not_a_cert.to_string().contains("no PEM certificate found")
    );

    let not_a_key = ReloadingCert::load(&cert, &cert).expect_err("a certificate is not a key");
    assert!(
        not_a_key.to_string().starts_with("--tls-key ")
            && not_a_key.to_string().contains("PEM private key")
    );

    let mismatch =
        ReloadingCert::load(&cert, &other_key).expect_err("the CA key does not match the leaf");
    assert!(
        mismatch
            .to_string()
            .contains("--tls-key does not match --tls-cert"),
        "{mismatch}"
    );
    // Errors never quote key material.
    assert!(!mismatch.to_string().contains("PRIVATE KEY"));

    ReloadingCert::load(&cert, &key).expect("the right pair loads");
}

#[tokio::test]
async fn h2_is_negotiated_via_alpn() {
    let pki = mint_localhost("a.test");
    let server = TestServer::start(&pki).await;
    let client = client(&[&pki.ca_cert_pem]);
    let response = post(
        &client,
        server.url("/validate"),
        bytes(&eso_secret("uid-h2")),
    )
    .await;
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    let review: Value = response.json().await.expect("review");
    assert_eq!(review["response"]["uid"], "uid-h2");

    let h1 = client_builder(&[&pki.ca_cert_pem])
        .http1_only()
        .build()
        .expect("client");
    let response = h1
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(response.version(), Version::HTTP_11);
    server.stop().await;
}

/// A body of unknown length (sent chunked), yielding the given chunks.
struct Chunks(std::collections::VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(
            self.0
                .pop_front()
                .map(|chunk| Ok(hyper::body::Frame::data(chunk))),
        )
    }
}

#[tokio::test]
async fn readyz_fails_first_on_shutdown_while_requests_are_still_served() {
    let pki = mint_localhost("a.test");
    let opts = ServeOptions {
        shutdown_delay: Duration::from_secs(60),
        ..ServeOptions::default()
    };
    let mut server = TestServer::start_with(&pki, opts).await;
    let ready = client(&[&pki.ca_cert_pem])
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);

    server.begin_shutdown();
    let url = server.url("/readyz");
    let unready = eventually(Duration::from_secs(10), || async {
        let fresh = client(&[&pki.ca_cert_pem]);
        matches!(fresh.get(&url).send().await, Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE)
    })
    .await;
    assert!(unready, "/readyz never failed after the shutdown signal");
    // Still accepting and reviewing during the delay: new connections work.
    let fresh = client(&[&pki.ca_cert_pem]);
    let response = post(
        &fresh,
        server.url("/validate"),
        bytes(&eso_secret("uid-late")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}
