//! Raw TLS connections, for what reqwest will not send: connecting, reading to close, and
//! parsing back-to-back HTTP/1.x responses.

use super::*;

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

pub(super) async fn tls_connect(addr: SocketAddr, ca: &str) -> Tls {
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
pub(super) enum End {
    /// EOF or an error (reset, TLS EOF without close_notify): closed by the server.
    Closed,
    /// Still open after [`HANG`].
    Hung,
}

/// Reads until the server closes the connection (or [`HANG`] passes).
pub(super) async fn read_to_close<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
) -> (Vec<u8>, End) {
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
pub(super) async fn raw_exchange(
    addr: SocketAddr,
    ca: &str,
    request: &[u8],
) -> (Vec<RawResponse>, End) {
    let mut tls = tls_connect(addr, ca).await;
    tls.write_all(request).await.expect("write");
    tls.flush().await.expect("flush");
    let (bytes, end) = read_to_close(&mut tls).await;
    (parse_responses(&bytes), end)
}

#[derive(Debug)]
pub(super) struct RawResponse {
    pub(super) status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses back-to-back HTTP/1.x responses (Content-Length or chunked bodies).
pub(super) fn parse_responses(mut buf: &[u8]) -> Vec<RawResponse> {
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

pub(super) fn post_head(path: &str, version: &str, extra: &str) -> String {
    format!("POST {path} {version}\r\nHost: 127.0.0.1\r\n{extra}\r\n")
}
