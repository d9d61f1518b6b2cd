//! The Anthropic error shape: `{"type":"error","error":{"type","message"}}`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An error answer (also the data of a stream's `error` event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorResponse {
    /// `error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The error.
    pub error: ErrorDetail,
}

impl ErrorResponse {
    /// An error of `kind` (`invalid_request_error`, `overloaded_error`, ...).
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        Self {
            kind: "error".into(),
            error: ErrorDetail {
                kind: kind.to_string(),
                message: message.into(),
            },
        }
    }
}

/// The error's type and message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    /// `invalid_request_error`, `authentication_error`, `permission_error`,
    /// `not_found_error`, `request_too_large`, `rate_limit_error`, `api_error`,
    /// `overloaded_error`, `timeout_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What went wrong.
    #[serde(default)]
    pub message: String,
}

/// The Anthropic error type for an HTTP status.
pub fn error_type_for_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        503 | 529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}
