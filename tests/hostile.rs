//! The hostile-input corpus, against the real HTTPS server in-process (127.0.0.1:0, minted
//! certificates, the default policy). Every case must end in a well-formed 4xx, a well-formed
//! AdmissionReview (a denial is a 200), or — for transport-level garbage — the connection being
//! closed; never a 500, a panic or a hang. While each test runs, a loop of valid reviews on
//! fresh connections runs beside it and must never fail.
//!
//! Decisions documented here (and in README "Failure modes and guarantees"):
//! - `Content-Type` is not checked: the body is always parsed strictly as JSON, so a wrong or
//!   missing type is evaluated like `application/json` (refusing it would add no safety).
//! - A request without `Host` is served: routing uses the path only and the peer is
//!   authenticated by TLS (and, with `--client-ca`, by its certificate), never by `Host`.
//! - HTTP/1.0 is served, without keep-alive.
//! - A `Transfer-Encoding: chunked` body wins over a `Content-Length` (RFC 9112 §6.1); two
//!   conflicting lengths, or a non-chunked final coding, are a 400 and the connection closes.
//!
//! Waits are bounded (a hang fails the test); nothing asserts how fast anything happens.

mod common;

use std::{
    net::SocketAddr,
    sync::{
        Arc, Once,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::tls::{TestServer, client_builder, mint_localhost, rustls_client_config};
use rustls_pki_types::ServerName;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinHandle,
};
use vaultgate::{certs::MintedCerts, server::ServeOptions};

/// Header-read (and keep-alive idle) timeout of the servers under test: small, so slowloris
/// and idle reaping are observed quickly; the bounded waits below are many times longer.
const HEADER_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a raw connection may take to be answered or closed before the test calls it a hang.
const HANG: Duration = Duration::from_secs(20);

const ESO: &str = "system:serviceaccount:external-secrets:external-secrets";

// ------------------------------------------------------------------------------------------------
// Panic detection: any panic anywhere in this test process (server tasks included) is counted.

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
}

// ------------------------------------------------------------------------------------------------
// Reviews.

fn review(
    uid: &str,
    kind: (&str, &str, &str),
    operation: &str,
    user: &str,
    object: Value,
) -> Value {
    let (group, version, kind) = kind;
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": { "group": group, "version": version, "kind": kind },
            "resource": { "group": group, "version": version, "resource": "things" },
            "name": "db",
            "namespace": "payments",
            "operation": operation,
            "userInfo": { "username": user, "groups": ["system:authenticated"] },
            "object": object,
            "oldObject": null,
            "dryRun": false
        }
    })
}

fn secret_object() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": "db", "namespace": "payments" },
        "type": "Opaque", "data": { "password": "cGFzcw==" }
    })
}

fn human_secret(uid: &str) -> Value {
    review(
        uid,
        ("", "v1", "Secret"),
        "CREATE",
        "alice",
        secret_object(),
    )
}

/// A review ESO would send: allowed.
fn eso_secret(uid: &str) -> Value {
    let mut object = secret_object();
    object["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "db", "uid": "u1", "controller": true
    }]);
    review(uid, ("", "v1", "Secret"), "CREATE", ESO, object)
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("encode")
}

fn text_of(v: &Value) -> String {
    serde_json::to_string(v).expect("encode")
}

// ------------------------------------------------------------------------------------------------
// The harness: a server plus a loop of valid reviews that must never fail.

struct Harness {
    server: TestServer,
    pki: MintedCerts,
    client: reqwest::Client,
    stop: Arc<AtomicBool>,
    valid: JoinHandle<(usize, Vec<String>)>,
}

impl Harness {
    async fn start() -> Self {
        count_panics();
        let pki = mint_localhost("hostile.test");
        let opts = ServeOptions {
            header_read_timeout: HEADER_TIMEOUT,
            handshake_timeout: Duration::from_secs(1),
            ..ServeOptions::default()
        };
        let server = TestServer::start_with(&pki, opts).await;
        // HTTP/1.1 like the apiserver; a fresh connection (and handshake) per request, so no
        // request can race the server reaping an idle pooled connection.
        let loop_client = client_builder(&[&pki.ca_cert_pem])
            .http1_only()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let stop = Arc::new(AtomicBool::new(false));
        let url = server.url("/validate");
        let valid = tokio::spawn({
            let stop = stop.clone();
            async move {
                let (mut ok, mut failures) = (0usize, Vec::new());
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) || ok == 0 {
                    i += 1;
                    let uid = format!("valid-{i}");
                    let sent = loop_client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(bytes(&eso_secret(&uid)))
                        .send()
                        .await;
                    let outcome = match sent {
                        Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                            Ok(v)
                                if v["response"]["uid"] == uid.as_str()
                                    && v["response"]["allowed"] == true =>
                            {
                                Ok(())
                            }
                            Ok(v) => Err(format!("unexpected review {v}")),
                            Err(e) => Err(format!("unreadable body: {e}")),
                        },
                        Ok(r) => Err(format!("status {}", r.status())),
                        Err(e) => Err(format!("request failed: {e:?}")),
                    };
                    match outcome {
                        Ok(()) => ok += 1,
                        Err(e) => failures.push(e),
                    }
                    if failures.len() > 20 || i > 1_000_000 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                (ok, failures)
            }
        });
        let client = client_builder(&[&pki.ca_cert_pem])
            .http1_only()
            .build()
            .expect("client");
        Self {
            server,
            pki,
            client,
            stop,
            valid,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    async fn post(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.server.url(path)).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        tokio::time::timeout(HANG, request.send())
            .await
            .expect("no hang")
            .expect("request")
    }

    /// Stops the valid loop and asserts it never failed, then that nothing panicked.
    async fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        let (ok, failures) = tokio::time::timeout(HANG, self.valid)
            .await
            .expect("valid loop ends")
            .expect("valid loop");
        assert!(
            failures.is_empty(),
            "valid reviews failed during the hostile corpus: {failures:?}"
        );
        assert!(ok > 0, "the valid loop completed no review");
        assert_eq!(PANICS.load(Ordering::SeqCst), 0, "something panicked");
        // Still serving at the end, on a brand-new connection.
        let fresh = client_builder(&[&self.pki.ca_cert_pem])
            .build()
            .expect("client");
        let r = fresh
            .get(self.server.url("/healthz"))
            .send()
            .await
            .expect("healthz");
        assert_eq!(r.status(), 200);
        self.server.stop().await;
        eprintln!("hostile: {ok} valid reviews answered during the test");
    }
}

/// A one-line JSON error with a 4xx status; returns (status, message).
async fn expect_4xx(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    assert!((400..500).contains(&status), "expected a 4xx, got {status}");
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.expect("body");
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    let v: Value = serde_json::from_str(&text).expect("JSON error");
    (
        status,
        v["error"].as_str().expect("error string").to_owned(),
    )
}

/// A well-formed AdmissionReview response for `uid`; returns `response`.
async fn expect_review(response: reqwest::Response, uid: &str) -> Value {
    assert_eq!(response.status(), 200);
    let v: Value = response.json().await.expect("review JSON");
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    assert_eq!(v["response"]["uid"], uid);
    let allowed = v["response"]["allowed"]
        .as_bool()
        .expect("allowed is a bool");
    if !allowed {
        assert!(
            v["response"]["status"]["message"].is_string(),
            "a denial has a message: {v}"
        );
    }
    v["response"].clone()
}

// ------------------------------------------------------------------------------------------------
// Raw TLS connections, for what reqwest will not send.

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn tls_connect(addr: SocketAddr, ca: &str) -> Tls {
    let connector = tokio_rustls::TlsConnector::from(rustls_client_config(&[ca], &[b"http/1.1"]));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    tokio::time::timeout(HANG, connector.connect(name, tcp))
        .await
        .expect("no hang")
        .expect("handshake")
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// EOF or an error (reset, TLS EOF without close_notify): closed by the server.
    Closed,
    /// Still open after [`HANG`].
    Hung,
}

/// Reads until the server closes the connection (or [`HANG`] passes).
async fn read_to_close<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> (Vec<u8>, End) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (out, End::Hung),
            Ok(Ok(0)) | Ok(Err(_)) => return (out, End::Closed),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends raw bytes over a fresh TLS connection and reads everything until the server closes.
async fn raw_exchange(addr: SocketAddr, ca: &str, request: &[u8]) -> (Vec<RawResponse>, End) {
    let mut tls = tls_connect(addr, ca).await;
    tls.write_all(request).await.expect("write");
    tls.flush().await.expect("flush");
    let (bytes, end) = read_to_close(&mut tls).await;
    (parse_responses(&bytes), end)
}

#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses back-to-back HTTP/1.x responses (Content-Length or chunked bodies).
fn parse_responses(mut buf: &[u8]) -> Vec<RawResponse> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let head_end = find(buf, b"\r\n\r\n").unwrap_or_else(|| {
            panic!(
                "incomplete response head: {:?}",
                String::from_utf8_lossy(buf)
            )
        });
        let head = std::str::from_utf8(&buf[..head_end]).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("status line");
        assert!(
            status_line.starts_with("HTTP/1."),
            "not an HTTP/1 response: {status_line:?}"
        );
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let mut rest = &buf[head_end + 4..];
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let body = if let Some(len) = get("content-length") {
            let len: usize = len.parse().expect("content-length");
            let body = rest[..len].to_vec();
            rest = &rest[len..];
            body
        } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let line_end = find(rest, b"\r\n").expect("chunk size line");
                let size = usize::from_str_radix(
                    std::str::from_utf8(&rest[..line_end]).expect("hex").trim(),
                    16,
                )
                .expect("chunk size");
                rest = &rest[line_end + 2..];
                if size == 0 {
                    rest = &rest[2..];
                    break;
                }
                body.extend_from_slice(&rest[..size]);
                rest = &rest[size + 2..];
            }
            body
        } else {
            let body = rest.to_vec();
            rest = &[];
            body
        };
        out.push(RawResponse {
            status,
            headers,
            body,
        });
        buf = rest;
    }
    out
}

fn post_head(path: &str, version: &str, extra: &str) -> String {
    format!("POST {path} {version}\r\nHost: 127.0.0.1\r\n{extra}\r\n")
}

// ------------------------------------------------------------------------------------------------
// Malformed bodies.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_bodies_get_clean_400s() {
    let h = Harness::start().await;
    let valid = bytes(&human_secret("uid-malformed"));

    // Truncated at every structural depth: never a 500, always a one-line 400.
    for cut in [0, 1, valid.len() / 4, valid.len() / 2, valid.len() - 1] {
        let (status, message) = expect_4xx(
            h.post("/validate", Some("application/json"), valid[..cut].to_vec())
                .await,
        )
        .await;
        assert_eq!(status, 400, "cut at {cut}: {message}");
        assert!(message.contains("not an AdmissionReview"), "{message}");
    }
    for junk in [
        &b"null"[..],
        b"[]",
        b"42",
        b"\"review\"",
        b"{}",
        b"{\"apiVersion\":5}",
        b"\xef\xbb\xbf{}",
    ] {
        let (status, _) = expect_4xx(
            h.post("/mutate", Some("application/json"), junk.to_vec())
                .await,
        )
        .await;
        assert_eq!(status, 400, "{junk:?}");
    }

    // Invalid UTF-8: inside a string of the review, inside the object (a raw value), and as a
    // lone byte outside any string.
    let text = String::from_utf8(valid.clone()).unwrap();
    for (needle, replacement) in [
        ("uid-malformed", &b"uid-\xff\xfe"[..]),
        (
            "\"db\",\"namespace\":\"payments\"}",
            &b"\"d\xc3\x28\",\"namespace\":\"payments\"}"[..],
        ),
        ("cGFzcw==", &b"cGFz\xed\xa0\x80"[..]),
    ] {
        let at = text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} in {text}"));
        let mut body = valid[..at].to_vec();
        body.extend_from_slice(replacement);
        body.extend_from_slice(&valid[at + needle.len()..]);
        let (status, message) =
            expect_4xx(h.post("/validate", Some("application/json"), body).await).await;
        assert_eq!(status, 400, "{needle}: {message}");
    }
    let mut stray = valid.clone();
    stray.insert(1, 0xff);
    assert_eq!(
        expect_4xx(h.post("/validate", None, stray).await).await.0,
        400
    );

    // Duplicate keys. Where vaultgate reads a field, a duplicate is refused rather than
    // resolved (first-wins and last-wins parsers would disagree about what was reviewed).
    let dup_request = text.replacen(
        "\"request\":{",
        "\"request\":{\"uid\":\"first\",\"uid\":\"second\",",
        1,
    );
    assert_eq!(
        expect_4xx(h.post("/validate", None, dup_request.into_bytes()).await)
            .await
            .0,
        400
    );
    let dup_top = format!("{{\"request\":null,{}", &text[1..]);
    assert_eq!(
        expect_4xx(h.post("/validate", None, dup_top.into_bytes()).await)
            .await
            .0,
        400
    );
    let dup_object = text.replacen(
        "\"object\":{",
        "\"object\":{\"metadata\":{\"name\":\"other\"},",
        1,
    );
    let (status, message) =
        expect_4xx(h.post("/validate", None, dup_object.into_bytes()).await).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("request.object"), "{message}");
    let dup_owner = text_of(&eso_secret("uid-dup-kind"));
    let dup_owner = dup_owner.replacen(
        "\"kind\":\"ExternalSecret\"",
        "\"kind\":\"ExternalSecret\",\"kind\":\"Pod\"",
        1,
    );
    let r = h.post("/validate", None, dup_owner.into_bytes()).await;
    eprintln!("hostile: duplicate ownerReference kind -> {}", r.status());
    if r.status() == 200 {
        // Parsed last-wins inside ownerReferences: then the owner is a Pod, and ESO's Secret is
        // not materialized, so it must not be allowed.
        let response = expect_review(r, "uid-dup-kind").await;
        assert_eq!(response["allowed"], false, "{response}");
    } else {
        assert_eq!(expect_4xx(r).await.0, 400);
    }

    // Deep nesting. Past serde_json's recursion limit (128) in a decoded field: a clean 400.
    let deep = |depth: usize| format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    let store = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "uid-deep", "operation": "CREATE", "name": "s", "userInfo": { "username": "alice" },
            "kind": { "group": "external-secrets.io", "version": "v1", "kind": "ClusterSecretStore" },
            "object": { "metadata": { "name": "s" }, "spec": { "provider": { "vault": "PLACEHOLDER" } } }
        }
    });
    let store = text_of(&store).replacen("\"PLACEHOLDER\"", &deep(200), 1);
    let (status, message) = expect_4xx(h.post("/validate", None, store.into_bytes()).await).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("request.object"), "{message}");
    // In managedFields (fieldsV1 is a free-form JSON value), which no rule reads: skipped
    // unparsed by an iterative scanner, so even 1,000,000 levels cost no stack, and the review
    // gets its normal verdict (a human's Secret: denied).
    for depth in [1000, 1_000_000] {
        let mut managed = human_secret("uid-deep-mf");
        managed["request"]["object"]["metadata"]["managedFields"] =
            json!([{ "manager": "x", "fieldsType": "FieldsV1", "fieldsV1": {} }]);
        let managed = text_of(&managed).replacen(
            "\"fieldsV1\":{}",
            &format!("\"fieldsV1\":{}", deep(depth)),
            1,
        );
        let response = expect_review(
            h.post("/validate", None, managed.into_bytes()).await,
            "uid-deep-mf",
        )
        .await;
        assert_eq!(response["allowed"], false, "{response}");
    }
    // Deep nesting of the top level: refused at the first wrong token.
    assert_eq!(
        expect_4xx(
            h.post("/validate", None, "[".repeat(1_000_000).into_bytes())
                .await
        )
        .await
        .0,
        400
    );
    let open_only = format!("{{\"apiVersion\":{}", "{\"a\":".repeat(500_000));
    assert_eq!(
        expect_4xx(h.post("/validate", None, open_only.into_bytes()).await)
            .await
            .0,
        400
    );
    // In fields vaultgate skips without decoding (request.options, Secret values), nesting is
    // skipped iteratively: no stack is used, the review is evaluated as usual.
    for (field, path) in [
        ("options", &["request", "options"][..]),
        ("data value", &["request", "object", "data", "password"][..]),
    ] {
        let mut v = human_secret("uid-deep-skipped");
        let mut slot = &mut v;
        for p in path {
            slot = &mut slot[*p];
        }
        *slot = json!("PLACEHOLDER");
        let text = text_of(&v).replacen("\"PLACEHOLDER\"", &deep(100_000), 1);
        let r = h.post("/validate", None, text.into_bytes()).await;
        eprintln!("hostile: 100000-deep {field} -> {}", r.status());
        if r.status() == 200 {
            let response = expect_review(r, "uid-deep-skipped").await;
            assert_eq!(
                response["allowed"], false,
                "{field}: a human's Secret is still denied"
            );
        } else {
            assert_eq!(expect_4xx(r).await.0, 400, "{field}");
        }
    }

    // Content-Type is not checked: wrong, missing or odd types are parsed as JSON all the same.
    for content_type in [
        Some("text/plain"),
        None,
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=utf-16"),
    ] {
        let r = h
            .post("/validate", content_type, bytes(&human_secret("uid-ctype")))
            .await;
        let response = expect_review(r, "uid-ctype").await;
        assert_eq!(response["allowed"], false, "{content_type:?}");
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_kinds_and_missing_objects_are_refused_not_allowed() {
    let h = Harness::start().await;

    // Kinds vaultgate does not govern: a 400 (the apiserver then fails closed), on both routes.
    for (route, kind) in [
        ("/validate", ("", "v1", "ConfigMap")),
        ("/mutate", ("", "v1", "Pod")),
        ("/validate", ("external-secrets.io", "v1", "Secret")),
        ("/validate", ("", "v1", "secret")),
        ("/mutate", ("external-secrets.io", "v1", "externalsecret")),
        ("/validate", ("", "", "")),
    ] {
        let (status, message) = expect_4xx(
            h.post(
                route,
                None,
                bytes(&review(
                    "uid-kind",
                    kind,
                    "CREATE",
                    "alice",
                    secret_object(),
                )),
            )
            .await,
        )
        .await;
        assert_eq!(status, 400, "{kind:?}: {message}");
    }
    // An ExternalSecret on /mutate: only Secrets are mutated; it is allowed unchanged there and
    // judged on /validate.
    let es = json!({ "metadata": { "name": "db" }, "spec": { "secretStoreRef": { "kind": "SecretStore", "name": "x" } } });
    let es_review = review(
        "uid-es",
        ("external-secrets.io", "v1", "ExternalSecret"),
        "CREATE",
        "alice",
        es,
    );
    let mutated = expect_review(h.post("/mutate", None, bytes(&es_review)).await, "uid-es").await;
    assert_eq!(mutated["allowed"], true);
    assert!(mutated.get("patch").is_none(), "{mutated}");
    let validated =
        expect_review(h.post("/validate", None, bytes(&es_review)).await, "uid-es").await;
    assert_eq!(validated["allowed"], false);
    // A Secret body under an ExternalSecret kind (and vice versa) is decoded as the kind named.
    let mismatched = review(
        "uid-mismatch",
        ("external-secrets.io", "v1", "ExternalSecret"),
        "CREATE",
        "alice",
        secret_object(),
    );
    assert_eq!(
        expect_review(
            h.post("/validate", None, bytes(&mismatched)).await,
            "uid-mismatch"
        )
        .await["allowed"],
        false
    );

    // request.object null, absent or not an object, on CREATE and UPDATE: 400.
    for operation in ["CREATE", "UPDATE"] {
        for object in [
            Value::Null,
            json!("a string"),
            json!(12),
            json!(true),
            json!({ "metadata": [] }),
            json!({ "metadata": "x" }),
        ] {
            for route in ["/validate", "/mutate"] {
                let r = review(
                    "uid-null",
                    ("", "v1", "Secret"),
                    operation,
                    "alice",
                    object.clone(),
                );
                let (status, message) = expect_4xx(h.post(route, None, bytes(&r)).await).await;
                assert_eq!(status, 400, "{operation} {object}: {message}");
                assert!(message.contains("request.object"), "{message}");
            }
        }
        let mut absent = human_secret("uid-absent");
        absent["request"]["operation"] = json!(operation);
        absent["request"].as_object_mut().unwrap().remove("object");
        assert_eq!(
            expect_4xx(h.post("/validate", None, bytes(&absent)).await)
                .await
                .0,
            400
        );
    }
    // A JSON array where the object belongs: serde decodes a struct positionally from an array,
    // so `[]` reads as an empty Secret. A 400 or a well-formed denial are both acceptable; an
    // allow for a human writer is not.
    let array = review(
        "uid-array",
        ("", "v1", "Secret"),
        "CREATE",
        "alice",
        json!([]),
    );
    let r = h.post("/validate", None, bytes(&array)).await;
    eprintln!("hostile: request.object [] -> {}", r.status());
    if r.status() == 200 {
        assert_eq!(expect_review(r, "uid-array").await["allowed"], false);
    } else {
        assert_eq!(expect_4xx(r).await.0, 400);
    }
    // DELETE carries no object: allowed, nothing to evaluate.
    let delete = review(
        "uid-delete",
        ("", "v1", "Secret"),
        "DELETE",
        "alice",
        Value::Null,
    );
    assert_eq!(
        expect_review(
            h.post("/validate", None, bytes(&delete)).await,
            "uid-delete"
        )
        .await["allowed"],
        true
    );
    // Other malformed requests.
    let mut bad_op = human_secret("uid-op");
    bad_op["request"]["operation"] = json!("create");
    assert_eq!(
        expect_4xx(h.post("/validate", None, bytes(&bad_op)).await)
            .await
            .0,
        400
    );
    let mut no_uid = human_secret("uid-x");
    no_uid["request"].as_object_mut().unwrap().remove("uid");
    assert_eq!(
        expect_4xx(h.post("/validate", None, bytes(&no_uid)).await)
            .await
            .0,
        400
    );
    let mut uid_number = human_secret("uid-x");
    uid_number["request"]["uid"] = json!(7);
    assert_eq!(
        expect_4xx(h.post("/validate", None, bytes(&uid_number)).await)
            .await
            .0,
        400
    );
    let mut v1beta1 = human_secret("uid-v1beta1");
    v1beta1["apiVersion"] = json!("admission.k8s.io/v1beta1");
    assert_eq!(
        expect_4xx(h.post("/validate", None, bytes(&v1beta1)).await)
            .await
            .0,
        400
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_and_headers_are_refused() {
    let h = Harness::start().await;
    let limit = vaultgate::server::MAX_BODY_BYTES;

    // 8 MiB + 1 with a Content-Length: read to the end and discarded, then 413.
    let mut over = bytes(&human_secret("uid-over"));
    over.resize(limit + 1, b' ');
    let (status, message) =
        expect_4xx(h.post("/validate", Some("application/json"), over).await).await;
    assert_eq!(status, 413, "{message}");
    // Declared far larger than the limit: refused from the headers alone, connection closed.
    let head = post_head(
        "/validate",
        "HTTP/1.1",
        &format!("Content-Length: {}\r\n", 64 * limit),
    );
    let (responses, end) = raw_exchange(h.addr(), &h.pki.ca_cert_pem, head.as_bytes()).await;
    assert_eq!(end, End::Closed);
    assert_eq!(responses.len(), 1, "{responses:?}");
    assert_eq!(responses[0].status, 413);
    assert_eq!(responses[0].header("connection"), Some("close"));
    assert!(responses[0].json()["error"].is_string());

    // A 1 MiB header line, and 200 headers: refused (431) or closed, never buffered unbounded.
    for head in [
        post_head(
            "/validate",
            "HTTP/1.1",
            &format!("X-Big: {}\r\n", "a".repeat(1 << 20)),
        ),
        post_head(
            "/validate",
            "HTTP/1.1",
            &(0..200)
                .map(|i| format!("X-H{i}: v\r\n"))
                .collect::<String>(),
        ),
    ] {
        let mut tls = tls_connect(h.addr(), &h.pki.ca_cert_pem).await;
        // The server may close while we still write: a write error is an acceptable refusal.
        let _ = tls.write_all(head.as_bytes()).await;
        let (bytes, end) = read_to_close(&mut tls).await;
        assert_eq!(end, End::Closed);
        eprintln!(
            "hostile: oversized head -> {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
        );
        if !bytes.is_empty() {
            let responses = parse_responses(&bytes);
            assert!(
                responses.iter().all(|r| r.status == 431 || r.status == 400),
                "{responses:?}"
            );
        }
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_framing_attacks_get_400_or_one_consistent_answer() {
    let h = Harness::start().await;
    let ca = h.pki.ca_cert_pem.clone();
    let body = bytes(&eso_secret("uid-raw"));
    let len = body.len();

    // HTTP/1.0: served, then closed (no keep-alive).
    let mut request = post_head(
        "/validate",
        "HTTP/1.0",
        &format!("Content-Length: {len}\r\n"),
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let (responses, end) = raw_exchange(h.addr(), &ca, &request).await;
    assert_eq!(end, End::Closed, "HTTP/1.0 closes after the response");
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].json()["response"]["uid"], "uid-raw");

    // No Host header: served (Host plays no part in routing or authentication).
    let mut request =
        format!("POST /validate HTTP/1.1\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
            .into_bytes();
    request.extend_from_slice(&body);
    let (responses, end) = raw_exchange(h.addr(), &ca, &request).await;
    assert_eq!(end, End::Closed);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 200);
    assert_eq!(responses[0].json()["response"]["uid"], "uid-raw");

    // Pipelining: two reviews in one write, two answers in order.
    let mut request = Vec::new();
    for (uid, close) in [("uid-pipe-1", ""), ("uid-pipe-2", "Connection: close\r\n")] {
        let b = bytes(&eso_secret(uid));
        request.extend_from_slice(
            post_head(
                "/validate",
                "HTTP/1.1",
                &format!("Content-Length: {}\r\n{close}", b.len()),
            )
            .as_bytes(),
        );
        request.extend_from_slice(&b);
    }
    let (responses, _) = raw_exchange(h.addr(), &ca, &request).await;
    let uids: Vec<Value> = responses
        .iter()
        .map(|r| r.json()["response"]["uid"].clone())
        .collect();
    assert_eq!(uids, [json!("uid-pipe-1"), json!("uid-pipe-2")]);

    // Smuggling: Content-Length and Transfer-Encoding together. A chunked body holding a whole
    // review, behind a Content-Length of 4: if the length were honoured, the rest would be read
    // as a second request. Exactly one answer comes back: the chunked review's.
    let mut chunked = format!("{len:x}\r\n").into_bytes();
    chunked.extend_from_slice(&body);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    for headers in [
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 4\r\nConnection: close\r\n",
    ] {
        let mut request = post_head("/validate", "HTTP/1.1", headers).into_bytes();
        request.extend_from_slice(&chunked);
        let (responses, end) = raw_exchange(h.addr(), &ca, &request).await;
        assert_eq!(end, End::Closed);
        assert_eq!(
            responses.len(),
            1,
            "one answer for one request: {responses:?}"
        );
        eprintln!("hostile: {headers:?} -> {}", responses[0].status);
        // Transfer-Encoding wins (RFC 9112 §6.1): the chunked review is what gets answered.
        assert_eq!(responses[0].status, 200, "CL+TE");
        assert_eq!(responses[0].json()["response"]["uid"], "uid-raw");
    }
    // A request hidden in a Content-Length body is never answered on its own.
    let hidden = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut request = post_head(
        "/validate",
        "HTTP/1.1",
        &format!("Content-Length: {}\r\nConnection: close\r\n", hidden.len()),
    )
    .into_bytes();
    request.extend_from_slice(hidden.as_bytes());
    let (responses, _) = raw_exchange(h.addr(), &ca, &request).await;
    assert_eq!(responses.len(), 1, "{responses:?}");
    assert_eq!(responses[0].status, 400, "the body is not a review");

    // Framing the server cannot trust: 400 and the connection closed, nothing evaluated.
    for headers in [
        format!("Content-Length: {len}\r\nContent-Length: {}\r\n", len + 10),
        format!("Content-Length: {len}, {}\r\n", len + 10),
        "Content-Length: -1\r\n".to_owned(),
        "Content-Length: +10\r\n".to_owned(),
        "Content-Length: 0x10\r\n".to_owned(),
        "Transfer-Encoding: chunked, identity\r\n".to_owned(),
        "Transfer-Encoding: identity\r\n".to_owned(),
        "Transfer-Encoding: xchunked\r\n".to_owned(),
        format!("Content-Length : {len}\r\n"),
        format!("Content-Length:\t{len}\r\n X-Folded: yes\r\n"),
    ] {
        let mut request = post_head("/validate", "HTTP/1.1", &headers).into_bytes();
        request.extend_from_slice(&body);
        let (responses, end) = raw_exchange(h.addr(), &ca, &request).await;
        eprintln!(
            "hostile: {headers:?} -> {:?}",
            responses.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        assert_eq!(end, End::Closed, "{headers:?}");
        assert!(responses.len() <= 1, "{headers:?}: {responses:?}");
        if let Some(r) = responses.first() {
            assert_eq!(r.status, 400, "{headers:?}: {r:?}");
        }
    }
    // Transfer-Encoding is not HTTP/1.0.
    let mut request =
        post_head("/validate", "HTTP/1.0", "Transfer-Encoding: chunked\r\n").into_bytes();
    request.extend_from_slice(&chunked);
    let (responses, end) = raw_exchange(h.addr(), &ca, &request).await;
    assert_eq!(end, End::Closed);
    assert!(responses.iter().all(|r| r.status == 400), "{responses:?}");
    // A bad chunk size: the body is unreadable, answered with a 4xx or the connection closed.
    let mut request =
        post_head("/validate", "HTTP/1.1", "Transfer-Encoding: chunked\r\n").into_bytes();
    request.extend_from_slice(b"zz\r\nabc\r\n0\r\n\r\n");
    let (responses, end) = raw_exchange(h.addr(), &ca, &request).await;
    assert_eq!(end, End::Closed);
    assert!(
        responses.iter().all(|r| (400..500).contains(&r.status)),
        "{responses:?}"
    );
    // A method and a path the server does not serve.
    let (responses, _) = raw_exchange(
        h.addr(),
        &ca,
        b"BREW /validate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 405);
    let (responses, _) = raw_exchange(
        h.addr(),
        &ca,
        b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        responses.iter().all(|r| r.status == 404 || r.status == 400),
        "{responses:?}"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed() {
    let h = Harness::start().await;
    let ca = h.pki.ca_cert_pem.clone();

    // Slowloris: headers trickled one line every 100 ms, forever. The server closes the
    // connection once the header-read timeout passes; the trickle stops when a write fails
    // or the read side sees the close.
    let tls = tls_connect(h.addr(), &ca).await;
    let (mut read, mut write) = tokio::io::split(tls);
    write
        .write_all(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("write");
    let closed = Arc::new(AtomicBool::new(false));
    let trickle = tokio::spawn({
        let closed = closed.clone();
        async move {
            let mut sent = 0u32;
            while !closed.load(Ordering::SeqCst) && sent < 1000 {
                if write
                    .write_all(format!("X-Slow-{sent}: a\r\n").as_bytes())
                    .await
                    .is_err()
                    || write.flush().await.is_err()
                {
                    break;
                }
                sent += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            sent
        }
    });
    let (got, end) = read_to_close(&mut read).await;
    closed.store(true, Ordering::SeqCst);
    eprintln!(
        "hostile: slowloris -> {end:?} after {:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(end, End::Closed, "a slowloris connection was never closed");
    if !got.is_empty() {
        let responses = parse_responses(&got);
        assert!(
            responses.iter().all(|r| r.status == 408 || r.status == 400),
            "{responses:?}"
        );
    }
    let lines = trickle.await.expect("trickle");
    assert!(lines < 1000, "the trickle ran until its own limit");

    // Idle keep-alive: one review, then silence. The server reaps the connection.
    let body = bytes(&eso_secret("uid-idle"));
    let mut tls = tls_connect(h.addr(), &ca).await;
    let mut request = post_head(
        "/validate",
        "HTTP/1.1",
        &format!("Content-Length: {}\r\n", body.len()),
    )
    .into_bytes();
    request.extend_from_slice(&body);
    tls.write_all(&request).await.expect("write");
    let (got, end) = read_to_close(&mut tls).await;
    assert_eq!(
        end,
        End::Closed,
        "an idle keep-alive connection was never reaped"
    );
    let responses = parse_responses(&got);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 200);
    assert_ne!(
        responses[0].header("connection"),
        Some("close"),
        "kept alive until idle, not closed at once"
    );

    // A TLS session that never sends a request.
    let mut tls = tls_connect(h.addr(), &ca).await;
    assert_eq!(read_to_close(&mut tls).await.1, End::Closed);
    // A TCP connection that never starts the handshake (handshake timeout: 1 s here).
    let mut tcp = TcpStream::connect(h.addr()).await.expect("connect");
    assert_eq!(read_to_close(&mut tcp).await.1, End::Closed);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_garbage_and_plaintext_http_are_dropped() {
    let h = Harness::start().await;

    // Bytes that are not TLS at all.
    let mut garbage = Vec::with_capacity(16 * 1024);
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..16 * 1024 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage.push(x as u8);
    }
    // Plain HTTP on the TLS port; a TLS record header announcing a huge record; a ClientHello
    // cut short; an SSLv2-style hello; TLS 1.0 only.
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", garbage),
        (
            "plaintext HTTP",
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec(),
        ),
        ("plaintext review", {
            let b = bytes(&eso_secret("uid-plain"));
            let mut r = post_head(
                "/validate",
                "HTTP/1.1",
                &format!("Content-Length: {}\r\n", b.len()),
            )
            .into_bytes();
            r.extend_from_slice(&b);
            r
        }),
        (
            "oversized record",
            vec![0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00],
        ),
        (
            "truncated ClientHello",
            vec![
                0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c, 0x03, 0x03,
            ],
        ),
        (
            "SSLv2 hello",
            vec![
                0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10,
            ],
        ),
        ("alert", vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]),
    ];
    for (what, payload) in cases {
        let mut tcp = TcpStream::connect(h.addr()).await.expect("connect");
        let _ = tcp.write_all(&payload).await;
        let (bytes, end) = read_to_close(&mut tcp).await;
        assert_eq!(end, End::Closed, "{what}: never closed");
        let text = String::from_utf8_lossy(&bytes);
        eprintln!("hostile: {what} -> {} bytes back", bytes.len());
        assert!(
            !text.contains("HTTP/1.1 200") && !text.contains("uid-plain"),
            "{what}: answered in plaintext: {text}"
        );
    }

    // A client offering only TLS 1.0/1.1 is refused by rustls (TLS 1.2 is the floor).
    // rustls clients cannot speak TLS < 1.2, so send a hand-made TLS 1.0 ClientHello.
    let hello_tls10: Vec<u8> = {
        let mut body = vec![0x03, 0x01]; // client_version TLS 1.0
        body.extend_from_slice(&[0u8; 32]); // random
        body.push(0); // session id
        body.extend_from_slice(&[0x00, 0x02, 0x00, 0x2f]); // TLS_RSA_WITH_AES_128_CBC_SHA
        body.extend_from_slice(&[0x01, 0x00]); // null compression
        let mut hs = vec![0x01, 0x00, 0x00, body.len() as u8];
        hs.extend_from_slice(&body);
        let mut record = vec![0x16, 0x03, 0x01, 0x00, hs.len() as u8];
        record.extend_from_slice(&hs);
        record
    };
    let mut tcp = TcpStream::connect(h.addr()).await.expect("connect");
    tcp.write_all(&hello_tls10).await.expect("write");
    let (bytes, end) = read_to_close(&mut tcp).await;
    assert_eq!(end, End::Closed);
    // Either nothing or a TLS alert record (content type 21), never a ServerHello (22).
    assert!(
        bytes.first().is_none_or(|b| *b == 0x15),
        "TLS 1.0 got {:?}",
        &bytes[..bytes.len().min(8)]
    );

    // Many handshakes abandoned halfway, concurrently: the server keeps serving (the valid loop).
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let addr = h.addr();
        tasks.push(tokio::spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.expect("connect");
            let _ = tcp.write_all(&[0x16, 0x03, 0x01, 0x00, 0x40, 0x01]).await;
            read_to_close(&mut tcp).await.1
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), End::Closed);
    }
    h.finish().await;
}
