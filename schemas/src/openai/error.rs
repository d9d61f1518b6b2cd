//! The OpenAI error shape: `{"error":{"message","type","param","code"}}`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The body of an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// What went wrong and what to do next.
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `rate_limit_error`, `api_error`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The request parameter at fault.
    #[serde(default)]
    pub param: Option<String>,
    /// A machine-readable code (`model_not_found`, ...).
    #[serde(default)]
    pub code: Option<String>,
}

impl ErrorBody {
    /// An error body.
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind: kind.to_string(),
            param: None,
            code: None,
        }
    }

    /// With a `code`.
    pub fn code(mut self, code: &str) -> Self {
        self.code = Some(code.to_string());
        self
    }

    /// With a `param`.
    pub fn param(mut self, param: &str) -> Self {
        self.param = Some(param.to_string());
        self
    }
}

/// The envelope `{"error": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}
