//! The gateway's client-facing errors, in the OpenAI error shape.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use schemas::openai::{ErrorBody, ErrorResponse};
use schemas::JobError;

/// Everything the ingress can answer with instead of a result.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request is malformed or misses a field.
    #[error("{message}")]
    BadRequest {
        /// What is wrong and how to fix it.
        message: String,
        /// The field at fault.
        param: Option<String>,
    },
    /// No provider serves the model.
    #[error("The model `{0}` does not exist or no configured provider serves it. List the available models with GET /v1/models, or add it to a provider's `models` in the config.")]
    ModelNotFound(String),
    /// No such job or record.
    #[error("{0}")]
    NotFound(String),
    /// The body is over the configured limit.
    #[error("The request body is larger than the limit of {0} bytes. Send a smaller body, or raise `server.max_body_bytes` in the config.")]
    PayloadTooLarge(usize),
    /// The client did not send the body within `server.body_read_timeout_ms`.
    #[error("The request body did not arrive within {0} ms. Send the whole body promptly (or raise `server.body_read_timeout_ms`).")]
    BodyTimeout(u64),
    /// The request conflicts with an earlier one (an idempotency key reused for another
    /// request).
    #[error("{0}")]
    Conflict(String),
    /// NATS (or another dependency) cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// The sync request outlived its deadline; the job goes on.
    #[error("The request did not finish within {timeout_ms} ms. The job goes on: fetch its result with GET /v1/jobs/{job_id}.")]
    Timeout {
        /// The job that keeps running.
        job_id: String,
        /// The deadline that passed.
        timeout_ms: u64,
    },
    /// The job failed upstream or in a worker.
    #[error("{}", .0.error.message)]
    Job(Box<JobError>),
    /// A refusal at the HTTP level: a method the route does not take, a media type or
    /// encoding it cannot read, a request hyper or the router could not parse.
    #[error("{message}")]
    Http {
        /// The status.
        status: StatusCode,
        /// What is wrong and what to do next.
        message: String,
    },
    /// No key, or a key that is unknown, revoked or expired.
    #[error("{0}")]
    Unauthorized(String),
    /// The key may not do this (an admin route, a model outside its list).
    #[error("{0}")]
    Forbidden(String),
    /// A key's requests- or tokens-per-minute limit, or its hard budget, is used up.
    #[error("{message}")]
    Limited {
        /// What ran out and when it comes back.
        message: String,
        /// `rate_limit_exceeded` or `budget_exceeded`.
        code: &'static str,
        /// Seconds until the window or period starts over.
        retry_after_s: u64,
    },
    /// A bug or an unexpected state.
    #[error("{0}")]
    Internal(String),
}

/// The OpenAI-style `code` of an HTTP-level status.
fn http_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "malformed_request",
        404 => "not_found",
        405 => "method_not_allowed",
        406 => "not_acceptable",
        408 => "request_timeout",
        411 => "length_required",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        431 => "request_header_fields_too_large",
        401..=499 => "invalid_request",
        _ => "internal_error",
    }
}

impl GatewayError {
    /// A 400 with a message and the field at fault.
    pub fn bad_request(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::BadRequest {
            message: message.into(),
            param: param.map(str::to_string),
        }
    }

    /// A 400 naming no field.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::bad_request(message, None)
    }

    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::ModelNotFound(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Job(e) => {
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::Http { status, .. } => *status,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Limited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A low-cardinality name of the error (the metrics label).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::ModelNotFound(_) => "model_not_found",
            Self::NotFound(_) => "not_found",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::BodyTimeout(_) => "body_timeout",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::Timeout { .. } => "timeout",
            Self::Job(_) => "upstream",
            Self::Http { .. } => "http",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::Limited { code, .. } => code,
            Self::Internal(_) => "internal",
        }
    }

    /// The OpenAI-shaped body.
    pub fn body(&self) -> ErrorBody {
        let message = self.to_string();
        match self {
            Self::BadRequest { param, .. } => ErrorBody {
                message,
                kind: "invalid_request_error".into(),
                param: param.clone(),
                code: None,
            },
            Self::ModelNotFound(_) => ErrorBody::new("invalid_request_error", message)
                .param("model")
                .code("model_not_found"),
            Self::NotFound(_) => ErrorBody::new("invalid_request_error", message).code("not_found"),
            Self::PayloadTooLarge(_) => {
                ErrorBody::new("invalid_request_error", message).code("payload_too_large")
            }
            Self::BodyTimeout(_) => {
                ErrorBody::new("invalid_request_error", message).code("request_timeout")
            }
            Self::Conflict(_) => {
                ErrorBody::new("invalid_request_error", message).code("idempotency_key_reused")
            }
            Self::Unavailable(_) => {
                ErrorBody::new("api_error", message).code("service_unavailable")
            }
            Self::Timeout { .. } => ErrorBody::new("timeout_error", message).code("timeout"),
            Self::Job(e) => e.error.clone(),
            Self::Http { status, .. } => {
                let kind = if status.is_server_error() {
                    "api_error"
                } else {
                    "invalid_request_error"
                };
                ErrorBody::new(kind, message).code(http_code(*status))
            }
            Self::Unauthorized(_) => {
                ErrorBody::new("invalid_request_error", message).code("invalid_api_key")
            }
            Self::Forbidden(_) => {
                ErrorBody::new("permission_error", message).code("permission_denied")
            }
            Self::Limited { code, .. } => {
                let kind = if *code == "budget_exceeded" {
                    "insufficient_quota"
                } else {
                    "rate_limit_error"
                };
                ErrorBody::new(kind, message).code(code)
            }
            Self::Internal(_) => ErrorBody::new("api_error", message).code("internal_error"),
        }
    }

    /// How long a client should wait before trying again (`Retry-After`, whole seconds):
    /// the upstream's advice on a job's error, else a second on any 429 or 503 the gateway
    /// answers (NATS unreachable, every target rate-limited or its circuit open).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Job(e) => e
                .retry_after_ms
                .map(|ms| ms.div_ceil(1000).max(1))
                .or_else(|| matches!(e.status, 429 | 503).then_some(1)),
            Self::Unavailable(_) => Some(1),
            Self::Limited { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        }
    }

    /// Adds `X-Switchyard-Job-Id` and `Retry-After` where this error carries them.
    pub fn decorate(&self, resp: &mut Response) {
        if let Some(id) = self.job_id().and_then(|j| HeaderValue::from_str(j).ok()) {
            resp.headers_mut().insert(crate::JOB_ID_HEADER, id);
        }
        if let Some(s) = self.retry_after_secs() {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(s));
        }
    }

    /// The job id to put in `X-Switchyard-Job-Id`, when the error names one.
    pub fn job_id(&self) -> Option<&str> {
        match self {
            Self::Timeout { job_id, .. } => Some(job_id),
            _ => None,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = ErrorResponse { error: self.body() };
        let mut resp = (status, axum::Json(body)).into_response();
        self.decorate(&mut resp);
        resp
    }
}

impl From<async_nats::Error> for GatewayError {
    fn from(e: async_nats::Error) -> Self {
        unavailable(e)
    }
}

/// A 503 for a NATS failure, with what to do next.
pub fn unavailable(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Unavailable(format!(
        "The message broker (NATS) is not reachable: {e}. The gateway retries by itself; try the request again shortly, and check that nats-server is running."
    ))
}
