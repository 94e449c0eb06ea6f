//! Reviews that cannot be evaluated: HTTP 400 with a message that names a position and a
//! category, never the content, so a value from the request cannot reach a log or a client.

/// A review that cannot be evaluated. Answered with HTTP 400 and a one-line JSON error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BadReview {
    /// Metric label.
    pub reason: &'static str,
    pub message: String,
}

impl BadReview {
    pub(super) fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// Describes a JSON error by position and category only (serde's own message may quote input).
pub(super) fn describe(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "an I/O error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "a field of the wrong type or shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}
