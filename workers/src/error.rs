//! One typed error for every upstream failure, whatever the provider.

use http::StatusCode;
use schemas::openai::ErrorBody;
use schemas::JobError;
use std::time::Duration;

/// The low-cardinality class of a provider failure (also the metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// 400: the upstream rejected the request.
    BadRequest,
    /// 401: the key is missing or wrong.
    Auth,
    /// 403: the key may not do this.
    Permission,
    /// 404: no such model or deployment.
    NotFound,
    /// 408 or a local timeout.
    Timeout,
    /// 413: the request is too large.
    TooLarge,
    /// 429: rate limited.
    RateLimited,
    /// 5xx.
    Server,
    /// 529 or an `overloaded` error.
    Overloaded,
    /// The upstream refused the content.
    ContentFilter,
    /// The prompt is longer than the model's context.
    ContextLength,
    /// Connect or transport failure.
    Network,
    /// The upstream answered something we cannot decode.
    Decode,
    /// The adapter does not support the operation.
    Unsupported,
    /// The job was cancelled.
    Cancelled,
}

impl ErrorKind {
    /// Whether trying again (here or on another target) may succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            Self::Timeout
                | Self::RateLimited
                | Self::Server
                | Self::Overloaded
                | Self::Network
                | Self::Decode
        )
    }

    /// The HTTP status the client gets.
    pub fn status_code(self) -> StatusCode {
        let code = match self {
            Self::BadRequest | Self::ContentFilter | Self::ContextLength => 400,
            Self::Auth => 401,
            Self::Permission => 403,
            Self::NotFound => 404,
            Self::Timeout => 504,
            Self::TooLarge => 413,
            Self::RateLimited => 429,
            Self::Server | Self::Network | Self::Decode => 502,
            Self::Overloaded => 503,
            Self::Unsupported => 400,
            Self::Cancelled => 499,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY)
    }

    /// The snake_case label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Auth => "auth",
            Self::Permission => "permission",
            Self::NotFound => "not_found",
            Self::Timeout => "timeout",
            Self::TooLarge => "too_large",
            Self::RateLimited => "rate_limited",
            Self::Server => "server",
            Self::Overloaded => "overloaded",
            Self::ContentFilter => "content_filter",
            Self::ContextLength => "context_length",
            Self::Network => "network",
            Self::Decode => "decode",
            Self::Unsupported => "unsupported",
            Self::Cancelled => "cancelled",
        }
    }

    /// The OpenAI error `type`.
    fn openai_type(self) -> &'static str {
        match self {
            Self::BadRequest
            | Self::ContentFilter
            | Self::ContextLength
            | Self::TooLarge
            | Self::NotFound
            | Self::Unsupported => "invalid_request_error",
            Self::Auth => "authentication_error",
            Self::Permission => "permission_error",
            Self::RateLimited => "rate_limit_error",
            Self::Timeout => "timeout_error",
            Self::Cancelled => "cancelled",
            Self::Server | Self::Overloaded | Self::Network | Self::Decode => "api_error",
        }
    }

    /// The OpenAI error `code` a client gets for this class when the upstream named none of
    /// its own (OpenAI's documented codes where one fits).
    pub fn openai_code(self) -> Option<&'static str> {
        Some(match self {
            Self::BadRequest => return None,
            Self::Auth => "invalid_api_key",
            Self::Permission => "insufficient_permissions",
            Self::NotFound => "model_not_found",
            Self::Timeout => "timeout",
            Self::TooLarge => "request_too_large",
            Self::RateLimited => "rate_limit_exceeded",
            Self::Server => "server_error",
            Self::Overloaded => "server_overloaded",
            Self::ContentFilter => "content_filter",
            Self::ContextLength => "context_length_exceeded",
            Self::Network => "upstream_unreachable",
            Self::Decode => "upstream_invalid_response",
            Self::Unsupported => "unsupported_parameter",
            Self::Cancelled => "cancelled",
        })
    }

    /// The class of an upstream HTTP status.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 | 422 => Self::BadRequest,
            401 => Self::Auth,
            403 => Self::Permission,
            404 => Self::NotFound,
            408 => Self::Timeout,
            413 => Self::TooLarge,
            429 => Self::RateLimited,
            529 => Self::Overloaded,
            500..=599 => Self::Server,
            _ => Self::BadRequest,
        }
    }
}

/// A provider failure: what class, the upstream status, a message safe to show and log.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{provider}: {message}")]
pub struct ProviderError {
    /// The class.
    pub kind: ErrorKind,
    /// The provider name.
    pub provider: String,
    /// The upstream HTTP status, when there was one.
    pub upstream_status: Option<u16>,
    /// What went wrong (no secrets).
    pub message: String,
    /// The upstream's advised wait (`retry-after`).
    pub retry_after: Option<Duration>,
    /// The upstream's own error `code`, `param` and `type`, kept as they came when the
    /// upstream speaks OpenAI's error shape (clients key on `context_length_exceeded`, ...).
    pub upstream: Option<Box<UpstreamError>>,
}

/// The OpenAI-shaped fields of an upstream error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamError {
    /// `code` (a number is kept as its text).
    pub code: Option<String>,
    /// `param`.
    pub param: Option<String>,
    /// `type`.
    pub kind: Option<String>,
}

impl ProviderError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, provider: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            provider: provider.to_string(),
            upstream_status: None,
            message: message.into(),
            retry_after: None,
            upstream: None,
        }
    }

    /// With the upstream's own OpenAI-shaped `code`, `param` and `type`.
    pub fn upstream(mut self, e: UpstreamError) -> Self {
        self.upstream = Some(Box::new(e));
        self
    }

    /// With a `param` naming the request field at fault.
    pub fn param(mut self, param: &str) -> Self {
        self.upstream.get_or_insert_with(Default::default).param = Some(param.to_string());
        self
    }

    /// With the upstream status.
    pub fn status(mut self, status: u16) -> Self {
        self.upstream_status = Some(status);
        self
    }

    /// With `retry-after`.
    pub fn retry_after(mut self, d: Option<Duration>) -> Self {
        self.retry_after = d;
        self
    }

    /// Whether a retry may succeed.
    pub fn retryable(&self) -> bool {
        self.kind.retryable()
    }

    /// The HTTP status for the client.
    pub fn status_code(&self) -> StatusCode {
        self.kind.status_code()
    }

    /// The client-facing error of the job: the upstream's own `code`, `param` and `type` where
    /// it gave them in OpenAI's shape, else OpenAI's documented code for the class.
    pub fn to_job_error(&self) -> JobError {
        let up = self.upstream.as_deref().cloned().unwrap_or_default();
        let kind = up
            .kind
            .unwrap_or_else(|| self.kind.openai_type().to_string());
        let mut error = ErrorBody::new(&kind, self.to_string());
        error.code = up
            .code
            .or_else(|| self.kind.openai_code().map(str::to_string));
        // OpenAI names `messages` on a context overflow; clients key on code and param.
        error.param = up
            .param
            .or_else(|| (self.kind == ErrorKind::ContextLength).then(|| "messages".into()));
        JobError {
            status: self.status_code().as_u16(),
            error,
            retryable: self.retryable(),
            kind: Some(self.kind.as_str().to_string()),
            retry_after_ms: self.retry_after.map(|d| d.as_millis() as u64),
        }
    }
}
