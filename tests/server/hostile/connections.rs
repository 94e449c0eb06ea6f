//! Connection-level attacks: slow and idle connections are closed; TLS garbage and plaintext
//! HTTP are dropped.

use super::*;

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
