//! Shared HTTP plumbing for adapters: the client, status-to-error mapping, `retry-after`.

use crate::error::{ErrorKind, ProviderError};
use std::time::Duration;

/// A pooled rustls client with the connect timeout set.
pub fn client(connect_timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Parses `retry-after` (seconds or an HTTP date) and `retry-after-ms`.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        return Some(Duration::from_millis(ms.max(0.0) as u64));
    }
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return Some(Duration::from_millis((secs.max(0.0) * 1000.0) as u64));
    }
    None
}

/// A transport error as a provider error.
pub fn transport_error(provider: &str, e: &reqwest::Error) -> ProviderError {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_decode() || e.is_body() {
        ErrorKind::Decode
    } else {
        ErrorKind::Network
    };
    // reqwest's Display never includes headers, so no key can leak here.
    let mut msg = e.to_string();
    if let Some(src) = std::error::Error::source(e) {
        msg.push_str(&format!(": {src}"));
    }
    ProviderError::new(kind, provider, msg)
}

/// An upstream error answer as a provider error. `message` is what the adapter found in the
/// provider's error body; `hint` refines the class (`context_length`, `content_filter`,
/// `overloaded`) from the provider's error code.
pub fn status_error(
    provider: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    message: String,
    hint: Option<ErrorKind>,
) -> ProviderError {
    let kind = hint.unwrap_or_else(|| ErrorKind::from_status(status));
    ProviderError::new(
        kind,
        provider,
        format!("upstream answered {status}: {message}"),
    )
    .status(status)
    .retry_after(retry_after(headers))
}

/// A short, printable excerpt of a body for error messages.
pub fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    if s.len() > 300 {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s.to_string()
    }
}

/// How an adapter turns an upstream error answer (status, headers, body) into its error.
pub type ErrorMapper = fn(&str, u16, &reqwest::header::HeaderMap, &[u8]) -> ProviderError;

/// Sends `rb`; a non-2xx answer is read whole and mapped by the adapter's `error`.
pub async fn send(
    provider: &str,
    rb: reqwest::RequestBuilder,
    error: ErrorMapper,
) -> Result<reqwest::Response, ProviderError> {
    let resp = rb.send().await.map_err(|e| transport_error(provider, &e))?;
    note_headers(resp.headers());
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_default();
    Err(error(provider, status, &headers, &body))
}

/// Reads a JSON answer, with a decode error that quotes the start of the body.
pub async fn json<T: serde::de::DeserializeOwned>(
    provider: &str,
    resp: reqwest::Response,
) -> Result<T, ProviderError> {
    let body = resp
        .bytes()
        .await
        .map_err(|e| transport_error(provider, &e))?;
    serde_json::from_slice(&body).map_err(|e| {
        ProviderError::new(
            ErrorKind::Decode,
            provider,
            format!(
                "cannot decode the upstream answer: {e}; body: {}",
                excerpt(&body)
            ),
        )
    })
}

/// Checks that a base URL is absolute (HTTP or HTTPS) and trims its trailing `/`.
pub fn check_base_url(raw: &str) -> Result<String, String> {
    let base = raw.trim().trim_end_matches('/').to_string();
    if !base.starts_with("http://") && !base.starts_with("https://") {
        return Err(format!(
            "base_url: `{base}` must start with http:// or https://"
        ));
    }
    Ok(base)
}

/// The provider's `base_url` (else `default`), checked by [`check_base_url`].
pub fn base_url(cfg: &broker::config::ProviderConfig, default: &str) -> Result<String, String> {
    check_base_url(cfg.base_url.as_deref().unwrap_or(default))
}

/// What the worker learns of one upstream call besides its answer.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// The upstream's own request id.
    pub request_id: Option<String>,
}

tokio::task_local! {
    static SEEN: std::sync::Arc<std::sync::Mutex<Seen>>;
}

/// The headers that carry a provider's request id, in order of preference.
const REQUEST_ID_HEADERS: &[&str] = &[
    "x-request-id",
    "request-id",
    "x-amzn-requestid",
    "apim-request-id",
    "x-ms-request-id",
];

/// Notes the upstream request id of a response (inside [`observed`]; a no-op elsewhere).
pub fn note_headers(h: &reqwest::header::HeaderMap) {
    let id = REQUEST_ID_HEADERS
        .iter()
        .find_map(|k| h.get(*k).and_then(|v| v.to_str().ok()));
    if let Some(id) = id {
        note_request_id(id);
    }
}

/// Notes an upstream request id found in a body (Gemini's `responseId`).
pub fn note_request_id(id: &str) {
    let _ = SEEN.try_with(|s| {
        if let Ok(mut s) = s.lock() {
            s.request_id
                .get_or_insert_with(|| id.chars().take(200).collect());
        }
    });
}

/// Runs one upstream call, collecting what [`note_headers`] and [`note_request_id`] saw.
pub async fn observed<F: std::future::Future>(f: F) -> (F::Output, Seen) {
    let slot = std::sync::Arc::new(std::sync::Mutex::new(Seen::default()));
    let out = SEEN.scope(slot.clone(), f).await;
    let seen = slot.lock().map(|s| s.clone()).unwrap_or_default();
    (out, seen)
}
