//! Anthropic error bodies (`{"type":"error","error":{"type","message"}}`) as provider errors.

use crate::error::{ErrorKind, ProviderError};
use crate::providers::http::{excerpt, status_error};
use schemas::anthropic::{ErrorDetail, ErrorResponse};

/// The class an Anthropic error `type` (and message) names, when it refines the status.
fn hint(detail: &ErrorDetail) -> Option<ErrorKind> {
    let msg = detail.message.to_ascii_lowercase();
    if msg.contains("prompt is too long") || msg.contains("context window") {
        return Some(ErrorKind::ContextLength);
    }
    match detail.kind.as_str() {
        "overloaded_error" => Some(ErrorKind::Overloaded),
        "request_too_large" => Some(ErrorKind::TooLarge),
        _ => None,
    }
}

/// The class of an error type alone (for `error` events inside a 200 stream).
fn kind_of_type(kind: &str) -> ErrorKind {
    match kind {
        "overloaded_error" => ErrorKind::Overloaded,
        "rate_limit_error" => ErrorKind::RateLimited,
        "authentication_error" => ErrorKind::Auth,
        "permission_error" => ErrorKind::Permission,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::TooLarge,
        "invalid_request_error" => ErrorKind::BadRequest,
        "timeout_error" => ErrorKind::Timeout,
        _ => ErrorKind::Server,
    }
}

/// An upstream error answer: the error body's message and type refine the status.
pub fn from_response(
    provider: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> ProviderError {
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(e) => {
            let h = hint(&e.error);
            let message = format!("{} ({})", e.error.message, e.error.kind);
            status_error(provider, status, headers, message, h)
        }
        Err(_) => status_error(provider, status, headers, excerpt(body), None),
    }
}

/// An `error` event in the middle of a stream.
pub fn from_event(provider: &str, detail: &ErrorDetail) -> ProviderError {
    let kind = hint(detail).unwrap_or_else(|| kind_of_type(&detail.kind));
    ProviderError::new(
        kind,
        provider,
        format!(
            "upstream stream error: {} ({})",
            detail.message, detail.kind
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_too_long_is_context_length() {
        let body = br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#;
        let e = from_response("a", 400, &Default::default(), body);
        assert_eq!(e.kind, ErrorKind::ContextLength);
        assert!(e.message.contains("prompt is too long"), "{}", e.message);
    }

    #[test]
    fn stream_overloaded_event_is_retryable() {
        let d = ErrorDetail {
            kind: "overloaded_error".into(),
            message: "Overloaded".into(),
        };
        let e = from_event("a", &d);
        assert_eq!(e.kind, ErrorKind::Overloaded);
        assert!(e.retryable());
    }
}
