//! The floor: the transport limit vaultgate cannot beat. The same stack as `vaultgate serve`
//! (the rustls `ServerConfig` from [`ReloadingCert::server_config`], tokio-rustls with the same
//! handshake timeout and TCP_NODELAY, hyper-util's connection builder with the same HTTP/1.1
//! settings chosen by ALPN, axum routing, the same 8 MiB frame-by-frame body limit and 30 s body
//! timeout), but the handler answers every POST /validate or /mutate with an allowed
//! AdmissionReview: no policy, no metrics, no logging. `--answer` says how much of the request
//! it reads first, so the load test can show where between "transport only" and "a webhook
//! that decodes the review" vaultgate's cost lies:
//!
//! - `fixed` (the floor proper): does not look at the body; one constant answer.
//! - `uid`: scans the whole body as JSON, borrows `request.uid` and echoes it — the least any
//!   correct webhook must do (the apiserver rejects an answer whose uid does not match).
//! - `kube`: what a webhook written with kube-rs's admission types does before any policy:
//!   decode `AdmissionReview<DynamicObject>`, answer `AdmissionResponse::from(&request)`.
//!
//! `vaultgate::server::serve` cannot be reused as is (its router always evaluates through a
//! `Webhook`), so the accept loop below mirrors src/server/serve.rs line for line, minus
//! shutdown draining (the floor is killed by the benchmark script).
//!
//! ```text
//! cargo run --release --example bench-floor -- --listen 127.0.0.1:9443 --tls-cert tls.crt --tls-key tls.key [--answer fixed|uid|kube]
//! ```

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http_body_util::BodyExt;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use kube::core::{
    DynamicObject,
    admission::{AdmissionRequest, AdmissionResponse, AdmissionReview},
};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use vaultgate::server::{MAX_BODY_BYTES, ReloadingCert, ServeOptions};

/// What vaultgate answers for an allowed review, minus the echoed uid and audit annotations.
const ALLOWED: &[u8] = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"00000000-0000-0000-0000-000000000000","allowed":true}}"#;

/// As in src/server/mod.rs.
const DRAIN_LIMIT: usize = 2 * MAX_BODY_BYTES;
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

struct Args {
    listen: SocketAddr,
    cert: String,
    key: String,
    answer: Answer,
}

/// How much of the request the floor reads before answering (see the module header).
#[derive(Clone, Copy)]
enum Answer {
    Fixed,
    Uid,
    Kube,
}

fn args() -> Result<Args, String> {
    let mut listen = None;
    let (mut cert, mut key) = (None, None);
    let mut answer = Answer::Fixed;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = Some(value()?.parse().map_err(|e| format!("--listen: {e}"))?),
            "--tls-cert" => cert = Some(value()?),
            "--tls-key" => key = Some(value()?),
            "--answer" => {
                answer = match value()?.as_str() {
                    "fixed" => Answer::Fixed,
                    "uid" => Answer::Uid,
                    "kube" => Answer::Kube,
                    other => {
                        return Err(format!("--answer must be fixed, uid or kube, not {other}"));
                    }
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        listen: listen.ok_or("--listen ADDR is required")?,
        cert: cert.ok_or("--tls-cert FILE is required")?,
        key: key.ok_or("--tls-key FILE is required")?,
        answer,
    })
}

fn main() -> std::process::ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bench-floor: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // The same runtime as `vaultgate serve`: multi-thread, one worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let cert = Arc::new(ReloadingCert::load(&args.cert, &args.key).expect("certificate pair"));
        let listener = TcpListener::bind(args.listen).await.expect("bind");
        eprintln!(
            "bench-floor: serving on {}",
            listener.local_addr().expect("addr")
        );
        serve(listener, cert, args.answer).await;
    });
    std::process::ExitCode::SUCCESS
}

/// src/server/serve.rs `Protocols::new`, HTTP/1.1 half (the apiserver forces ALPN http/1.1).
fn protocols(opts: &ServeOptions) -> (auto::Builder<TokioExecutor>, auto::Builder<TokioExecutor>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    (builder.clone().http1_only(), builder.http2_only())
}

async fn serve(listener: TcpListener, cert: Arc<ReloadingCert>, answer: Answer) {
    let opts = ServeOptions::default();
    let acceptor = TlsAcceptor::from(cert.server_config().expect("server config"));
    let (h1, h2) = protocols(&opts);
    let protocols = Arc::new((h1, h2));
    let handler = move |headers: HeaderMap, body: Body| respond(answer, headers, body);
    let app = Router::new()
        .route("/validate", post(handler))
        .route("/mutate", post(handler))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok\n" }));
    loop {
        let (tcp, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let protocols = protocols.clone();
        let app = app.clone();
        let handshake_timeout = opts.handshake_timeout;
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(Ok(stream)) =
                tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await
            else {
                return;
            };
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            let builder = if h2 { &protocols.1 } else { &protocols.0 };
            let _ = builder
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                .await;
        });
    }
}

/// Reads the body exactly as vaultgate does (declared-length check, frame-by-frame limit,
/// timeout), then answers as `--answer` says.
async fn respond(answer: Answer, headers: HeaderMap, body: Body) -> Response {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let capacity = declared.map_or(0, |n| n.min(1024 * 1024) as usize);
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, async move {
        let mut body = body;
        let mut buf: Vec<u8> = Vec::with_capacity(capacity);
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(|_| ())?.into_data() else {
                continue;
            };
            if buf.len() + data.len() > MAX_BODY_BYTES {
                return Err(());
            }
            buf.extend_from_slice(&data);
        }
        Ok(buf)
    })
    .await;
    match read {
        Ok(Ok(body)) => match answer {
            Answer::Fixed => {
                std::hint::black_box(&body);
                json(Bytes::from_static(ALLOWED))
            }
            Answer::Uid => match serde_json::from_slice::<UidOnly>(&body) {
                Ok(review) => json(
                    serde_json::to_vec(&serde_json::json!({
                        "apiVersion": "admission.k8s.io/v1",
                        "kind": "AdmissionReview",
                        "response": {"uid": review.request.uid, "allowed": true},
                    }))
                    .expect("a JSON value serializes"),
                ),
                Err(_) => StatusCode::BAD_REQUEST.into_response(),
            },
            Answer::Kube => {
                let request = serde_json::from_slice::<AdmissionReview<DynamicObject>>(&body)
                    .ok()
                    .and_then(|review| {
                        TryInto::<AdmissionRequest<DynamicObject>>::try_into(review).ok()
                    });
                match request {
                    Some(request) => json(
                        serde_json::to_vec(&AdmissionResponse::from(&request).into_review())
                            .expect("an AdmissionReview serializes"),
                    ),
                    None => StatusCode::BAD_REQUEST.into_response(),
                }
            }
        },
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// `--answer uid`: only `request.uid` is kept (borrowed); serde skips every other field.
#[derive(Deserialize)]
struct UidOnly<'a> {
    #[serde(borrow)]
    request: UidRequest<'a>,
}

#[derive(Deserialize)]
struct UidRequest<'a> {
    uid: &'a str,
}

fn json(body: impl Into<Bytes>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.into(),
    )
        .into_response()
}
