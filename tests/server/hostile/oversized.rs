//! Oversized bodies and headers are refused.

use super::*;

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
