//! The HTTPS edge: routes, body limits and error shapes. Handlers only read the body, call
//! [`Webhook::review`] and write its bytes back; every decision lives in `admission`/`policy`.
//!
//! ```text
//! POST /validate, /mutate   AdmissionReview v1 in → AdmissionReview out (200; a denial is a 200 too)
//!                           unreadable review → 400, body over 8 MiB → 413, body not in time
//!                           → 408, no review slot free or review past its deadline → 503
//!                           (with Retry-After), all {"error": "..."}
//! GET  /healthz             200 "ok" while the process serves
//! GET  /readyz              200 once a certificate is loaded and the cluster view has synced;
//!                           503 before that and from the start of shutdown
//! GET  /metrics             Prometheus/OpenMetrics text
//! anything else             404 (unknown path) or 405 (wrong method), {"error": "..."}
//! ```
//!
//! With `--probe-listen`, a second, plain-HTTP listener serves only `/healthz`, `/readyz` and
//! `/metrics` (same handlers, same state), and 404 for everything else, `/validate` and `/mutate`
//! included: kubelet probes and Prometheus need no client certificate when `--client-ca` is set.
//!
//! [`tls`] holds the swappable serving certificate, [`reload`] the poll that rotates it,
//! [`policy_reload`] the poll that swaps the policy,
//! [`serve`](mod@serve) the accept loop, and `body` the bounded body read and its refusals.

mod body;
pub mod in_cluster_audit;
pub mod policy_reload;
pub mod reload;
pub mod serve;
pub mod tls;
pub mod webhook_drift;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, Version, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tokio::{sync::Semaphore, time::Instant};

pub use policy_reload::{PolicyReload, ViewOnReload, spawn_policy_reloader};
pub use reload::spawn_reloader;
pub use serve::{ServeOptions, serve, serve_with_probes};
pub use tls::{ClientCa, ReloadingCert, TlsError, spawn_client_ca_reloader};

use crate::admission::{Route, Webhook};

use body::{Refusal, read_body};

/// The largest AdmissionReview accepted: 8 MiB. A Secret near etcd's 1.5 MiB limit, sent as
/// `object` and `oldObject` with its last-applied annotation, stays far below it.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Bodies declared larger than this are refused without reading a byte. Smaller oversized
/// bodies are read to the end (and discarded) first, so an HTTP/1 client gets its 413 instead
/// of a connection reset while it is still sending.
const DRAIN_LIMIT: usize = 2 * MAX_BODY_BYTES;

/// Up to this size a review is evaluated inline on the reactor thread: decoding and evaluating
/// costs microseconds, less than a hop to the blocking pool. Above it (only huge Secrets),
/// decoding takes milliseconds, so it runs under `spawn_blocking` and never stalls the other
/// connections served by this worker. (`block_in_place` would also work on the multi-thread
/// runtime, but panics on a current-thread one, which in-process tests use.)
const INLINE_REVIEW_MAX: usize = 256 * 1024;

/// How long a client may take to send a body once its headers arrived. The apiserver gives up
/// on a webhook after at most 30 s, so a body slower than that is never legitimate. (The
/// review deadline, [`DEFAULT_REVIEW_TIMEOUT`], is normally shorter and applies first.)
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Default for `--max-concurrent-reviews`: reviews admitted at once (reading their body,
/// decoding, evaluating). Sized for 2 cores: a small review takes microseconds, so 16 slots
/// never queue the apiserver's 25 keep-alive connections for long, while 16 maximum-size
/// bodies bound the memory held by reviews to about 16 × 8 MiB plus decoding.
pub const DEFAULT_MAX_CONCURRENT_REVIEWS: usize = 16;

/// Default for `--review-timeout`: the time from a review's headers to its answer, covering the
/// wait for a slot, the body and the evaluation. Below the webhooks' `timeoutSeconds: 5`, so the
/// apiserver gets vaultgate's 503 (and its reason) rather than its own timeout.
pub const DEFAULT_REVIEW_TIMEOUT: Duration = Duration::from_secs(4);

const ROUTES: &str =
    "vaultgate serves POST /validate, POST /mutate, GET /healthz, GET /readyz and GET /metrics";

const PROBE_ROUTES: &str = "this is vaultgate's plain-HTTP probe port (--probe-listen): it serves \
     GET /healthz, GET /readyz and GET /metrics only; admission reviews (POST /validate, \
     POST /mutate) are served over TLS on the --listen port";

#[derive(Clone)]
struct AppState {
    webhook: Arc<Webhook>,
    cert: Option<Arc<ReloadingCert>>,
    shutting_down: Arc<AtomicBool>,
    /// One permit per review in flight (`--max-concurrent-reviews`).
    slots: Arc<Semaphore>,
    review_timeout: Duration,
}

/// The webhook's routes. `cert` is the served certificate (`None` in plain in-process tests,
/// where `/readyz` then reports 503: nothing is served over TLS). Default limits.
pub fn router(webhook: Arc<Webhook>, cert: Option<Arc<ReloadingCert>>) -> Router {
    admission_routes(app_state(
        webhook,
        cert,
        Arc::new(AtomicBool::new(false)),
        &ServeOptions::default(),
    ))
}

/// The state shared by the TLS port and the probe port: one webhook, one readiness. `/readyz`
/// fails once `shutting_down` is set; reviews are bounded by the limits of `opts`.
fn app_state(
    webhook: Arc<Webhook>,
    cert: Option<Arc<ReloadingCert>>,
    shutting_down: Arc<AtomicBool>,
    opts: &ServeOptions,
) -> AppState {
    AppState {
        webhook,
        cert,
        shutting_down,
        slots: Arc::new(Semaphore::new(opts.max_concurrent_reviews.max(1))),
        review_timeout: opts.review_timeout,
    }
}

/// Every route: served over TLS (`--listen`).
fn admission_routes(state: AppState) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// The plain-HTTP probe port (`--probe-listen`): `/healthz`, `/readyz` and `/metrics` with the
/// same handlers and state as the TLS port. `/validate` and `/mutate` are not routed here, so
/// they get the 404 fallback: an admission review is never read, let alone evaluated, without
/// TLS (and without the client certificate `--client-ca` requires). None of these handlers
/// reads a request body, so no body is ever buffered on this port.
fn probe_routes(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(probe_not_found)
        .method_not_allowed_fallback(probe_method_not_allowed)
        .with_state(state)
}

/// A one-line JSON error body: `{"error":"..."}`.
fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

async fn validate(
    State(state): State<AppState>,
    version: Version,
    headers: HeaderMap,
    body: Body,
) -> Response {
    review(state, Route::Validate, version, &headers, body).await
}

async fn mutate(
    State(state): State<AppState>,
    version: Version,
    headers: HeaderMap,
    body: Body,
) -> Response {
    review(state, Route::Mutate, version, &headers, body).await
}

async fn review(
    state: AppState,
    route: Route,
    version: Version,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    // One deadline for the whole review: waiting for a slot, reading the body, evaluating.
    let deadline = Instant::now() + state.review_timeout;
    // The slot is taken before the body is read, so at most `--max-concurrent-reviews` bodies
    // are in memory at once; it is released when the evaluation ends (inside the blocking task
    // for large reviews, even if the deadline answered first).
    let slot = match tokio::time::timeout_at(deadline, state.slots.clone().acquire_owned()).await {
        Ok(Ok(slot)) => slot,
        _ => return Refusal::Busy.respond(&state, version),
    };
    let body = match read_body(headers, body, deadline).await {
        Ok(body) => body,
        Err(refusal) => return refusal.respond(&state, version),
    };
    let webhook = state.webhook.clone();
    let result = if body.len() <= INLINE_REVIEW_MAX {
        let result = webhook.review(route, &body);
        drop(slot);
        result
    } else {
        let task = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            webhook.review(route, &body)
        });
        match tokio::time::timeout_at(deadline, task).await {
            Err(_) => return Refusal::Deadline.respond(&state, version),
            Ok(Ok(result)) => result,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "admission review task failed");
                return json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error while evaluating the review",
                );
            }
        }
    };
    match result {
        Ok(out) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            out,
        )
            .into_response(),
        Err(bad) => json_error(StatusCode::BAD_REQUEST, &bad.message),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.shutting_down.load(Ordering::Relaxed) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: shutting down\n",
        )
            .into_response()
    } else if state.cert.is_none() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no serving certificate\n",
        )
            .into_response()
    } else if !state.webhook.ready() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the cluster view has not synced\n",
        )
            .into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.webhook.metrics_text(std::time::SystemTime::now());
    let content_type =
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");
    ([(header::CONTENT_TYPE, content_type)], Bytes::from(text)).into_response()
}

async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, &format!("not found: {ROUTES}"))
}

async fn method_not_allowed() -> Response {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method not allowed: {ROUTES}"),
    )
}

async fn probe_not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, &format!("not found: {PROBE_ROUTES}"))
}

async fn probe_method_not_allowed() -> Response {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method not allowed: {PROBE_ROUTES}"),
    )
}

#[cfg(test)]
mod tests {
    //! The slot limit decided without timing: a slot held by the test is a review in flight.
    use std::sync::{Arc, atomic::AtomicBool};

    use axum::{body::Body, http::Request};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::{cluster::MemoryView, metrics::Metrics, policy::Policy};

    fn state() -> AppState {
        let policy = Policy::default();
        let view = MemoryView::from_policy(&policy);
        let webhook = Webhook::new(Arc::new(policy), Arc::new(view), Arc::new(Metrics::new()));
        let opts = ServeOptions {
            max_concurrent_reviews: 1,
            review_timeout: Duration::from_millis(50),
            ..ServeOptions::default()
        };
        app_state(
            Arc::new(webhook),
            None,
            Arc::new(AtomicBool::new(false)),
            &opts,
        )
    }

    fn review() -> Request<Body> {
        let body = serde_json::json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "uid-busy", "kind": { "group": "", "version": "v1", "kind": "Secret" },
                "name": "db", "namespace": "payments", "operation": "CREATE",
                "userInfo": { "username": "alice" }, "object": { "metadata": { "name": "db" } }
            }
        });
        Request::post("/validate")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request")
    }

    #[tokio::test]
    async fn a_review_that_finds_no_free_slot_before_its_deadline_gets_503_with_retry_after() {
        let state = state();
        let held = state.slots.clone().acquire_owned().await.expect("slot");
        let routes = admission_routes(state.clone());

        let busy = routes.clone().oneshot(review()).await.expect("answer");
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        let body = busy.into_body().collect().await.expect("body").to_bytes();
        let message = String::from_utf8_lossy(&body);
        assert!(message.contains("--max-concurrent-reviews"), "{message}");
        assert!(
            state
                .webhook
                .metrics()
                .encode()
                .contains(r#"reason="overloaded""#),
            "the refusal is counted"
        );

        drop(held);
        let served = routes.oneshot(review()).await.expect("answer");
        assert_eq!(
            served.status(),
            StatusCode::OK,
            "the freed slot serves again"
        );
    }
}
