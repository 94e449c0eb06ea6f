//! The accept loop: TCP → TLS (tokio-rustls, bounded handshake) → HTTP/1.1 or HTTP/2 (hyper-util)
//! → the axum [`router`](super::router). One task per connection, so a failed handshake or a
//! broken connection is logged at debug and touches nothing else. On shutdown `/readyz` fails
//! first (and serving goes on for `shutdown_delay` while the endpoint is removed); then it stops
//! accepting, asks every connection to finish its in-flight requests, and waits a bounded time.
//! The optional plain-HTTP probe listener (`--probe-listen`) is accepted in the same loop, skips
//! only the TLS step, and shares the HTTP limits, the readiness and the shutdown.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;

use super::{
    DEFAULT_MAX_CONCURRENT_REVIEWS, DEFAULT_REVIEW_TIMEOUT, admission_routes, app_state,
    probe_routes,
    tls::{ClientCa, ReloadingCert, TlsError},
};
use crate::admission::Webhook;

/// Connection-level limits.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Time a client has to send a request's headers (`--header-read-timeout`). With hyper this
    /// also bounds how long an idle HTTP/1.1 keep-alive connection waits for its next request.
    pub header_read_timeout: Duration,
    /// Time a client has to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// On shutdown, how long to keep accepting and serving with `/readyz` failing, so the
    /// endpoint is removed before connections are refused (`--shutdown-delay`).
    pub shutdown_delay: Duration,
    /// How long shutdown waits for in-flight connections before dropping them.
    pub drain_timeout: Duration,
    /// Reviews admitted at once (`--max-concurrent-reviews`); the rest wait for a slot until
    /// their deadline, then get a 503.
    pub max_concurrent_reviews: usize,
    /// Deadline of one review from its headers to its answer (`--review-timeout`).
    pub review_timeout: Duration,
    /// When set (`--client-ca`), every handshake must present a client certificate chaining to
    /// this CA; without one, or with another CA's, the TLS handshake fails.
    pub client_ca: Option<Arc<ClientCa>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            shutdown_delay: Duration::ZERO,
            drain_timeout: Duration::from_secs(20),
            max_concurrent_reviews: DEFAULT_MAX_CONCURRENT_REVIEWS,
            review_timeout: DEFAULT_REVIEW_TIMEOUT,
            client_ca: None,
        }
    }
}

/// One HTTP connection builder per protocol. The protocol is chosen from ALPN rather than by
/// sniffing the preface: HTTP/2 over TLS requires ALPN (RFC 9113 §3.2), and hyper-util's
/// preface sniffing has no timeout of its own, so a silent client could hold a connection open.
struct Protocols {
    h1: auto::Builder<TokioExecutor>,
    h2: auto::Builder<TokioExecutor>,
}

impl Protocols {
    fn new(opts: &ServeOptions) -> Self {
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
        Self {
            h1: builder.clone().http1_only(),
            h2: builder.http2_only(),
        }
    }
}

/// Serves HTTPS on `listener` until `shutdown` completes, then drains. Build errors only: once
/// the loop runs, failures are per connection and logged.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ReloadingCert>,
    webhook: Arc<Webhook>,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), TlsError> {
    serve_with_probes(listener, None, tls, webhook, opts, shutdown).await
}

/// [`serve`], plus, when `probes` is given (`--probe-listen`), plain HTTP on `probes` for
/// `/healthz`, `/readyz` and `/metrics` only (see [`probe_routes`]). Both listeners share this
/// accept loop: the same HTTP/1.1 limits (header-read timeout), the same state (so `/readyz`
/// fails on both at the start of shutdown), and they stop accepting and drain together. The
/// probe port speaks HTTP/1.1 only: kubelet probes and Prometheus scrapes are HTTP/1.1.
pub async fn serve_with_probes(
    listener: TcpListener,
    probes: Option<TcpListener>,
    tls: Arc<ReloadingCert>,
    webhook: Arc<Webhook>,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), TlsError> {
    let acceptor = TlsAcceptor::from(tls.server_config_with(opts.client_ca.clone())?);
    let shutting_down = Arc::new(AtomicBool::new(false));
    let state = app_state(webhook, Some(tls), shutting_down.clone(), &opts);
    let app = admission_routes(state.clone());
    let probe_app = probe_routes(state);
    let protocols = Arc::new(Protocols::new(&opts));
    let (drain_tx, drain_rx) = watch::channel(false);
    let connection = |tls: Option<TlsAcceptor>, app: &axum::Router, peer| Connection {
        tls,
        protocols: protocols.clone(),
        app: app.clone(),
        drain: drain_rx.clone(),
        handshake_timeout: opts.handshake_timeout,
        peer,
    };
    let mut connections = JoinSet::new();
    let mut stop_accepting_at = None;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown, if stop_accepting_at.is_none() => {
                shutting_down.store(true, Ordering::Relaxed);
                if opts.shutdown_delay.is_zero() {
                    break;
                }
                tracing::info!(
                    delay_s = opts.shutdown_delay.as_secs_f64(),
                    "shutting down: /readyz now fails; still serving while the endpoint is removed"
                );
                stop_accepting_at = Some(tokio::time::Instant::now() + opts.shutdown_delay);
            }
            () = sleep_until(stop_accepting_at) => break,
            Some(done) = connections.join_next() => {
                if let Err(e) = done {
                    tracing::warn!(error = %e, "a connection task ended abnormally");
                }
            }
            accepted = listener.accept() => {
                if let Some((tcp, peer)) = accepted_or_back_off(accepted, "--listen").await {
                    connections.spawn(connection(Some(acceptor.clone()), &app, peer).run(tcp));
                }
            }
            accepted = accept_on(probes.as_ref()) => {
                if let Some((tcp, peer)) = accepted_or_back_off(accepted, "--probe-listen").await {
                    connections.spawn(connection(None, &probe_app, peer).run(tcp));
                }
            }
        }
    }
    drop(listener);
    drop(probes);
    tracing::info!(
        connections = connections.len(),
        "stopped accepting; draining connections"
    );
    let _ = drain_tx.send(true);
    let drained = tokio::time::timeout(opts.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            remaining = connections.len(),
            timeout_s = opts.drain_timeout.as_secs(),
            "drain timeout reached; closing the remaining connections"
        );
        connections.abort_all();
    }
    Ok(())
}

/// Accepts on the probe listener; never completes without one.
async fn accept_on(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// The accepted connection, or `None` after a short back-off when accepting failed.
async fn accepted_or_back_off(
    accepted: io::Result<(TcpStream, SocketAddr)>,
    listener: &'static str,
) -> Option<(TcpStream, SocketAddr)> {
    match accepted {
        Ok(accepted) => Some(accepted),
        Err(e) => {
            // Typically EMFILE: back off briefly instead of spinning.
            tracing::warn!(listener, error = %e, "accept failed; retrying shortly");
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

/// Everything one connection task needs.
struct Connection {
    /// `None` on the plain-HTTP probe port.
    tls: Option<TlsAcceptor>,
    protocols: Arc<Protocols>,
    app: axum::Router,
    drain: watch::Receiver<bool>,
    handshake_timeout: Duration,
    peer: SocketAddr,
}

impl Connection {
    async fn run(self, tcp: TcpStream) {
        let peer = self.peer;
        // Responses are small and latency-bound; don't let Nagle hold them back.
        let _ = tcp.set_nodelay(true);
        let Some(acceptor) = self.tls.clone() else {
            return self.serve_http(tcp, false).await;
        };
        let stream = match tokio::time::timeout(self.handshake_timeout, acceptor.accept(tcp)).await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        };
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
        self.serve_http(stream, h2).await;
    }

    /// HTTP on an established stream (TLS, or plain TCP on the probe port) until it closes or
    /// the drain starts.
    async fn serve_http<S>(self, stream: S, h2: bool)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            protocols,
            app,
            mut drain,
            peer,
            tls,
            ..
        } = self;
        let builder = if h2 { &protocols.h2 } else { &protocols.h1 };
        let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
        tokio::pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => result,
            () = draining(&mut drain) => {
                // HTTP/1: finish the in-flight response, then close; HTTP/2: GOAWAY, finish streams.
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            let tls = tls.is_some();
            tracing::debug!(%peer, tls, h2, error = %e, "connection ended with an error");
        }
    }
}

/// Completes at `deadline`; never without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Completes once shutdown starts (or the server is gone).
async fn draining(drain: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here: it is not `Send`.
    let _ = drain.wait_for(|draining| *draining).await;
}
