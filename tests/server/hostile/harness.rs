//! The harness: a server plus a loop of valid reviews that must never fail, and the checks
//! of a well-formed 4xx or AdmissionReview answer.

use super::*;

pub(super) struct Harness {
    server: TestServer,
    pub(super) pki: MintedCerts,
    client: reqwest::Client,
    stop: Arc<AtomicBool>,
    valid: JoinHandle<(usize, Vec<String>)>,
}

impl Harness {
    pub(super) async fn start() -> Self {
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

    pub(super) fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub(super) async fn post(
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
    pub(super) async fn finish(self) {
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
pub(super) async fn expect_4xx(response: reqwest::Response) -> (u16, String) {
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
pub(super) async fn expect_review(response: reqwest::Response, uid: &str) -> Value {
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
