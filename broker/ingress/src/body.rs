//! Reading a request body: the size limit (413 with the real limit, checked against the
//! declared `Content-Length` before a byte is read), the body-read timeout (408), and
//! parsing JSON into typed requests with a 400 that names the field at fault.
//!
//! Compressed bodies (`Content-Encoding: gzip`, `deflate`, `br`, `zstd`) are decoded by a
//! layer before they get here (see [`crate::layers`]), so the limit counts decoded bytes
//! and a small compressed body cannot expand past it.

use crate::error::GatewayError;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use broker::config::ServerConfig;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Room a job envelope needs around the client's body (ids, route, trace context, ...).
pub const ENVELOPE_OVERHEAD: usize = 16 * 1024;

/// The largest body the ingress accepts: `server.max_body_bytes`, lowered to what a job can
/// carry when the NATS server's `max_payload` is smaller (with a warning saying how to
/// raise it).
pub fn limit(cfg: &ServerConfig, max_payload: usize) -> usize {
    let carried = max_payload.saturating_sub(ENVELOPE_OVERHEAD);
    if max_payload > 0 && carried < cfg.max_body_bytes {
        tracing::warn!(
            max_body_bytes = cfg.max_body_bytes,
            nats_max_payload = max_payload,
            limit = carried,
            "the NATS server's max_payload cannot carry server.max_body_bytes; bodies over the limit answer 413. Raise max_payload in nats-server's config (the managed server uses 8 MiB) or lower server.max_body_bytes"
        );
        return carried;
    }
    cfg.max_body_bytes
}

/// Reads the whole body within `limit` bytes and `timeout`: 413 past the limit (at once
/// when `Content-Length` says so), 408 when the client sends too slowly.
pub async fn read(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(GatewayError::PayloadTooLarge(limit));
    }
    let read = axum::body::to_bytes(body, limit);
    let out = tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| GatewayError::BodyTimeout(timeout.as_millis() as u64))?;
    out.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit");
        if too_large {
            GatewayError::PayloadTooLarge(limit)
        } else {
            GatewayError::invalid(format!(
                "Cannot read the request body: {e}. Send a complete body (if it is compressed, check its Content-Encoding)."
            ))
        }
    })
}

/// Parses a JSON body into `T`, with a 400 that names the field at fault.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, GatewayError> {
    if bytes.is_empty() {
        return Err(GatewayError::invalid(
            "The request body is empty. Send a JSON object such as {\"model\":\"mock/echo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}.",
        ));
    }
    // Every body of the API is an object; serde would also fill a struct from an array.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(GatewayError::invalid(
            "The request body must be a JSON object ({...}). Fix the body and send it again.",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v: T = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| describe(&e.path().to_string(), e.inner()))?;
    de.end().map_err(|e| describe(".", &e))?;
    Ok(v)
}

/// A 400 for a JSON error at `path` (`.` for the whole body).
fn describe(path: &str, e: &serde_json::Error) -> GatewayError {
    let what = if e.is_syntax() || e.is_eof() {
        "The request body is not valid JSON"
    } else {
        "The request body does not match the API"
    };
    let at = (path != ".").then(|| path.to_string());
    let missing = e
        .to_string()
        .split_once("missing field `")
        .and_then(|(_, r)| r.split_once('`'))
        .map(|(f, _)| f.to_string());
    let param = match (at, missing) {
        (Some(p), Some(f)) => Some(format!("{p}.{f}")),
        (None, Some(f)) => Some(f),
        (p, None) => p,
    };
    let field = param
        .as_deref()
        .map(|p| format!(" (at `{p}`)"))
        .unwrap_or_default();
    GatewayError::BadRequest {
        message: format!("{what}{field}: {e}. Fix the body and send it again."),
        param,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct T {
        model: String,
        messages: Vec<M>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct M {
        role: String,
    }

    fn param(body: &str) -> Option<String> {
        match parse::<T>(body.as_bytes()) {
            Err(GatewayError::BadRequest { param, .. }) => param,
            other => Some(format!("not a 400: {other:?}")),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(param(r#"{"messages":[]}"#).as_deref(), Some("model"));
        assert_eq!(
            param(r#"{"model":1,"messages":[]}"#).as_deref(),
            Some("model")
        );
        assert_eq!(
            param(r#"{"model":"m","messages":[{"role":2}]}"#).as_deref(),
            Some("messages[0].role")
        );
        assert_eq!(
            param(r#"{"model":"m","messages":[{}]}"#).as_deref(),
            Some("messages[0].role")
        );
        assert_eq!(param(r#"{"model":"m","messages":[]} x"#), None);
        assert!(
            matches!(
                parse::<T>(br#"["m", []]"#),
                Err(GatewayError::BadRequest { .. })
            ),
            "an array does not fill a struct"
        );
    }

    #[test]
    fn the_limit_leaves_room_for_the_envelope() {
        let cfg = ServerConfig::default();
        assert_eq!(limit(&cfg, 8 << 20), cfg.max_body_bytes);
        assert_eq!(limit(&cfg, 1 << 20), (1 << 20) - ENVELOPE_OVERHEAD);
    }
}
