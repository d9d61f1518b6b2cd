//! OpenAI-style error bodies (`{"error": {"message", "type", "code", ...}}`) as provider errors.
//!
//! Azure OpenAI uses the same envelope, adding `status` and an `innererror` whose code
//! (`ResponsibleAIPolicyViolation`) marks a content-filter refusal.

use crate::error::{ErrorKind, ProviderError, UpstreamError};
use crate::providers::http::{excerpt, status_error};
use serde::Deserialize;

/// `{"error": {...}}`.
#[derive(Deserialize)]
pub(crate) struct ErrEnvelope {
    pub error: ErrInner,
}

/// The inner error object.
#[derive(Deserialize)]
pub(crate) struct ErrInner {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub code: Option<serde_json::Value>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub param: Option<serde_json::Value>,
    #[serde(default)]
    pub innererror: Option<InnerError>,
}

/// Azure's `innererror`.
#[derive(Deserialize)]
pub(crate) struct InnerError {
    #[serde(default)]
    pub code: Option<String>,
}

/// A JSON value as text: a string as is, a number or other value as JSON; `null` as none.
fn text(v: &Option<serde_json::Value>) -> Option<String> {
    match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

impl ErrInner {
    /// The upstream's `code`, `param` and `type`, as they came.
    fn upstream(&self) -> UpstreamError {
        UpstreamError {
            code: text(&self.code),
            param: text(&self.param),
            kind: self.kind.clone().filter(|k| !k.is_empty()),
        }
    }

    /// The class the error's codes name, if they name one.
    fn hint(&self) -> Option<ErrorKind> {
        let code = self.code.as_ref().map(|c| {
            c.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| c.to_string())
        });
        let inner = self.innererror.as_ref().and_then(|i| i.code.as_deref());
        let hint = [code.as_deref(), inner, self.kind.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|c| match c {
                "context_length_exceeded" | "string_above_max_length" => {
                    Some(ErrorKind::ContextLength)
                }
                "content_filter" | "content_policy_violation" | "ResponsibleAIPolicyViolation" => {
                    Some(ErrorKind::ContentFilter)
                }
                "overloaded" | "overloaded_error" | "server_overloaded" => {
                    Some(ErrorKind::Overloaded)
                }
                _ => None,
            });
        hint
    }
}

/// An upstream error answer as a provider error.
pub(crate) fn from_body(
    provider: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> ProviderError {
    match serde_json::from_slice::<ErrEnvelope>(body) {
        Ok(e) => {
            let hint = e.error.hint();
            let upstream = e.error.upstream();
            status_error(provider, status, headers, e.error.message, hint).upstream(upstream)
        }
        Err(_) => status_error(provider, status, headers, excerpt(body), None),
    }
}

/// An error event inside a stream (after a 200), if `data` is one.
pub(crate) fn from_stream_event(provider: &str, data: &str) -> Option<ProviderError> {
    let e = serde_json::from_str::<ErrEnvelope>(data).ok()?;
    let kind = e.error.hint().unwrap_or(ErrorKind::Server);
    Some(
        ProviderError::new(
            kind,
            provider,
            format!("upstream stream error: {}", e.error.message),
        )
        .upstream(e.error.upstream()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_content_filter_body_is_content_filter() {
        let body = br#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"}}}}}"#;
        let e = from_body("az", 400, &Default::default(), body);
        assert_eq!(e.kind, ErrorKind::ContentFilter);
        assert!(!e.retryable());
        let body = br#"{"error":{"message":"x","code":null,"innererror":{"code":"ResponsibleAIPolicyViolation"}}}"#;
        assert_eq!(
            from_body("az", 400, &Default::default(), body).kind,
            ErrorKind::ContentFilter
        );
    }

    #[test]
    fn unparseable_body_keeps_the_status_class() {
        let e = from_body("p", 502, &Default::default(), b"<html>bad gateway</html>");
        assert_eq!(e.kind, ErrorKind::Server);
        assert!(e.message.contains("bad gateway"), "{}", e.message);
    }
}
