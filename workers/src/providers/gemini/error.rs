//! Gemini error bodies (`{"error":{"code","message","status","details"}}`) -> [`ProviderError`].

use crate::error::{ErrorKind, ProviderError};
use crate::providers::http::{excerpt, status_error};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// The error envelope.
#[derive(Debug, Deserialize)]
pub struct ErrEnvelope {
    /// The error.
    pub error: ErrInner,
}

/// A Google RPC status.
#[derive(Debug, Deserialize)]
pub struct ErrInner {
    /// The HTTP status.
    #[serde(default)]
    pub code: Option<u16>,
    /// What went wrong.
    #[serde(default)]
    pub message: String,
    /// `INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, `UNAVAILABLE`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// `google.rpc.RetryInfo`, `google.rpc.ErrorInfo`, ...
    #[serde(default)]
    pub details: Vec<Value>,
}

impl ErrInner {
    /// The class the status and message refine (the HTTP status decides the rest).
    fn hint(&self) -> Option<ErrorKind> {
        let msg = self.message.to_ascii_lowercase();
        let reason = self
            .details
            .iter()
            .find_map(|d| d.get("reason").and_then(Value::as_str))
            .unwrap_or("");
        if msg.contains("exceeds the maximum number of tokens")
            || msg.contains("input token count")
            || msg.contains("context length")
        {
            return Some(ErrorKind::ContextLength);
        }
        if reason == "API_KEY_INVALID" || self.status.as_deref() == Some("UNAUTHENTICATED") {
            return Some(ErrorKind::Auth);
        }
        if msg.contains("overloaded") {
            return Some(ErrorKind::Overloaded);
        }
        match self.status.as_deref() {
            Some("RESOURCE_EXHAUSTED") => Some(ErrorKind::RateLimited),
            Some("PERMISSION_DENIED") => Some(ErrorKind::Permission),
            _ => None,
        }
    }

    /// `RetryInfo.retryDelay` (`"1s"`, `"0.5s"`).
    fn retry_delay(&self) -> Option<Duration> {
        self.details.iter().find_map(|d| {
            let s = d.get("retryDelay")?.as_str()?.strip_suffix('s')?;
            let secs: f64 = s.parse().ok()?;
            Some(Duration::from_millis((secs.max(0.0) * 1000.0) as u64))
        })
    }

    /// The class of an error met inside a stream (no HTTP status of its own).
    pub fn into_stream_error(self, provider: &str) -> ProviderError {
        let kind = self.hint().unwrap_or_else(|| match self.status.as_deref() {
            Some("INVALID_ARGUMENT") | Some("FAILED_PRECONDITION") => ErrorKind::BadRequest,
            Some("NOT_FOUND") => ErrorKind::NotFound,
            Some("DEADLINE_EXCEEDED") => ErrorKind::Timeout,
            _ => self
                .code
                .map(ErrorKind::from_status)
                .unwrap_or(ErrorKind::Server),
        });
        let retry = self.retry_delay();
        ProviderError::new(
            kind,
            provider,
            format!("upstream stream error: {}", self.message),
        )
        .retry_after(retry)
    }
}

/// An HTTP error answer.
pub fn from_response(
    provider: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> ProviderError {
    match serde_json::from_slice::<ErrEnvelope>(body) {
        Ok(e) => {
            let label = e.error.status.clone().unwrap_or_default();
            let message = if label.is_empty() {
                e.error.message.clone()
            } else {
                format!("{label}: {}", e.error.message)
            };
            let mut err = status_error(provider, status, headers, message, e.error.hint());
            if err.retry_after.is_none() {
                err.retry_after = e.error.retry_delay();
            }
            err
        }
        Err(_) => status_error(provider, status, headers, excerpt(body), None),
    }
}
