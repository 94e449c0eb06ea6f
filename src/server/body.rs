//! Reading a review's body within bounds, and the answer when that fails: at most
//! [`MAX_BODY_BYTES`] held in memory whatever `Content-Length` claims, a deadline for the
//! bytes to arrive, and for each way a body is refused its HTTP status, `{"error": ...}`
//! message, `vaultgate_bad_requests_total` reason and connection handling.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, Version, header},
    response::Response,
};
use http_body_util::BodyExt;
use tokio::time::Instant;

use super::{AppState, BODY_READ_TIMEOUT, DRAIN_LIMIT, MAX_BODY_BYTES, json_error};
use crate::metrics::BadRequestLabels;

/// Why a review was not answered.
pub(super) enum Refusal {
    TooLarge,
    TimedOut,
    Unreadable,
    /// Every review slot stayed taken until the deadline.
    Busy,
    /// The evaluation did not finish before the deadline.
    Deadline,
}

impl Refusal {
    pub(super) fn respond(self, state: &AppState, version: Version) -> Response {
        let (reason, status, message) = match self {
            Self::TooLarge => (
                "too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is larger than 8 MiB (8388608 bytes)".to_owned(),
            ),
            Self::TimedOut => (
                "body_timeout",
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} ms (--review-timeout)",
                    state.review_timeout.min(BODY_READ_TIMEOUT).as_millis()
                ),
            ),
            Self::Unreadable => (
                "unreadable_body",
                StatusCode::BAD_REQUEST,
                "the request body could not be read".to_owned(),
            ),
            Self::Busy => (
                "overloaded",
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "vaultgate is busy: no review slot (--max-concurrent-reviews) freed within {} ms; retry",
                    state.review_timeout.as_millis()
                ),
            ),
            Self::Deadline => (
                "review_timeout",
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the review did not finish within {} ms (--review-timeout); retry",
                    state.review_timeout.as_millis()
                ),
            ),
        };
        let retry = matches!(status, StatusCode::SERVICE_UNAVAILABLE);
        state
            .webhook
            .metrics()
            .bad_requests
            .get_or_create(&BadRequestLabels { reason })
            .inc();
        tracing::warn!(reason, "refused a request body");
        let mut response = json_error(status, &message);
        if retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        // The connection may hold unread bytes: don't reuse it (HTTP/2 has no such header).
        if version <= Version::HTTP_11 {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// Reads at most [`MAX_BODY_BYTES`] into memory (the limit is enforced frame by frame, whatever
/// `Content-Length` claims), before `deadline` and within [`BODY_READ_TIMEOUT`].
pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    deadline: Instant,
) -> Result<Vec<u8>, Refusal> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return Err(Refusal::TooLarge);
    }
    // Pre-size for the declared length, but never trust a header with more than 1 MiB up front.
    let capacity = declared.map_or(0, |n| n.min(1024 * 1024) as usize);
    let deadline = deadline.min(Instant::now() + BODY_READ_TIMEOUT);
    tokio::time::timeout_at(deadline, collect_limited(body, capacity))
        .await
        .map_err(|_| Refusal::TimedOut)?
}

async fn collect_limited(mut body: Body, capacity: usize) -> Result<Vec<u8>, Refusal> {
    let mut buf = Vec::with_capacity(capacity);
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| Refusal::Unreadable)?.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total <= MAX_BODY_BYTES {
            buf.extend_from_slice(&data);
        } else if total > DRAIN_LIMIT {
            break;
        } else if !buf.is_empty() {
            buf = Vec::new(); // over the limit: keep draining, stop holding memory
        }
    }
    if total > MAX_BODY_BYTES {
        Err(Refusal::TooLarge)
    } else {
        Ok(buf)
    }
}
