//! Bedrock errors -> [`ProviderError`].
//!
//! The error type comes from the `x-amzn-errortype` header (`ThrottlingException:http://...`)
//! or the body's `__type`; the body carries `message` (or `Message`). Inside a stream an
//! exception is a message with `:message-type: exception` and `:exception-type`.

use crate::error::{ErrorKind, ProviderError};
use crate::providers::http::{excerpt, status_error};
use serde_json::Value;

/// The short exception name: `ThrottlingException` from `ThrottlingException:http://...`
/// or `com.amazon.coral.service#ThrottlingException`.
fn short_type(raw: &str) -> &str {
    let t = raw.split(':').next().unwrap_or(raw);
    t.rsplit('#').next().unwrap_or(t)
}

/// The class an exception type (and message) implies, if it decides one.
fn hint(kind: &str, message: &str) -> Option<ErrorKind> {
    let msg = message.to_ascii_lowercase();
    let too_long = [
        "too long",
        "too many tokens",
        "context length",
        "context window",
        "maximum context",
    ];
    match kind.to_ascii_lowercase().as_str() {
        "validationexception" if too_long.iter().any(|p| msg.contains(p)) => {
            Some(ErrorKind::ContextLength)
        }
        "throttlingexception" | "servicequotaexceededexception" => Some(ErrorKind::RateLimited),
        "unrecognizedclientexception"
        | "invalidsignatureexception"
        | "expiredtokenexception"
        | "incompletesignatureexception"
        | "missingauthenticationtokenexception" => Some(ErrorKind::Auth),
        "accessdeniedexception" => Some(ErrorKind::Permission),
        "resourcenotfoundexception" => Some(ErrorKind::NotFound),
        "modeltimeoutexception" => Some(ErrorKind::Timeout),
        "modelnotreadyexception" => Some(ErrorKind::Overloaded),
        "serviceunavailableexception" if msg.contains("overloaded") => Some(ErrorKind::Overloaded),
        _ => None,
    }
}

fn message_of(body: &Value) -> Option<String> {
    body.get("message")
        .or_else(|| body.get("Message"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// An HTTP error answer.
pub fn from_response(
    provider: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> ProviderError {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let raw_type = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            json.get("__type")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    let kind = short_type(&raw_type);
    let message = message_of(&json).unwrap_or_else(|| excerpt(body));
    let shown = if kind.is_empty() {
        message.clone()
    } else {
        format!("{kind}: {message}")
    };
    status_error(provider, status, headers, shown, hint(kind, &message))
}

/// An exception message met inside the event stream.
pub fn from_exception(provider: &str, exception_type: &str, payload: &[u8]) -> ProviderError {
    let json: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let message = message_of(&json).unwrap_or_else(|| excerpt(payload));
    let kind = hint(exception_type, &message).unwrap_or(match exception_type {
        "validationException" => ErrorKind::BadRequest,
        _ => ErrorKind::Server,
    });
    ProviderError::new(
        kind,
        provider,
        format!("upstream stream error: {exception_type}: {message}"),
    )
}
