//! HTTP framing attacks (conflicting lengths, chunked tricks, pipelining, odd versions) get a
//! 400 or one consistent answer.

use super::*;

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
