//! A connection's socket, watched: the header-read deadline, and hyper's empty-bodied error
//! answers rewritten into the API's JSON error shape.
//!
//! The deadline is armed when the connection is accepted and whenever bytes arrive while
//! no request is in flight (the first byte of the next request's head); it is dropped once
//! the head has been handed to the service. A client that sends its head one byte a second
//! (slowloris) is cut off when it passes, however many bytes it has sent.
//!
//! hyper answers a request it cannot parse (400, 414 URI too long, 431 headers too large)
//! itself, with `content-length: 0`, and closes. The service never answers 4xx with an
//! empty body (see `crate::layers`), so such a head on its own is hyper's: it is replaced
//! with the same status and a JSON error body. The request line read so far decides the
//! shape (Anthropic's under `/v1/messages`).

use super::tracked::ConnState;
use crate::endpoint::Shape;
use crate::error::GatewayError;
use axum::http::StatusCode;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// Bytes of a head kept to know its path.
const PREFIX: usize = 1024;

/// A head being received.
struct HeadWatch {
    deadline: Pin<Box<Sleep>>,
    /// Requests started when it was armed: once more have, the head was parsed.
    started: u64,
    prefix: Vec<u8>,
}

/// A rewritten answer being written in place of hyper's.
struct Rewrite {
    bytes: Vec<u8>,
    written: usize,
    /// What hyper asked to write, reported as written once the rewrite is out.
    reported: usize,
}

/// The socket of one client connection.
pub struct ConnIo {
    inner: TcpStream,
    state: Arc<ConnState>,
    head_timeout: Duration,
    head: Option<HeadWatch>,
    rewrite: Option<Rewrite>,
}

impl ConnIo {
    /// Watches `inner`, whose requests `state` tracks; a head must arrive within
    /// `head_timeout`.
    pub fn new(inner: TcpStream, state: Arc<ConnState>, head_timeout: Duration) -> Self {
        let mut io = Self {
            inner,
            state,
            head_timeout,
            head: None,
            rewrite: None,
        };
        io.arm();
        io
    }

    fn arm(&mut self) {
        self.head = Some(HeadWatch {
            deadline: Box::pin(tokio::time::sleep(self.head_timeout)),
            started: self.state.started(),
            prefix: Vec::new(),
        });
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = &mut *self;
        if let Some(h) = &mut me.head {
            if me.state.busy() || me.state.started() != h.started {
                me.head = None;
            } else if h.deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request head did not arrive within server.header_read_timeout_ms",
                )));
            }
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut me.inner).poll_read(cx, buf))?;
        let got = &buf.filled()[before..];
        if !got.is_empty() && !me.state.busy() {
            if me.head.is_none() {
                me.arm();
            }
            if let Some(h) = &mut me.head {
                let room = PREFIX.saturating_sub(h.prefix.len());
                h.prefix.extend_from_slice(&got[..got.len().min(room)]);
                // Register the fresh deadline's waker.
                let _ = h.deadline.as_mut().poll(cx);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        if me.rewrite.is_none() {
            if let Some(status) = hyper_error(buf) {
                let prefix = me.head.as_ref().map(|h| h.prefix.as_slice()).unwrap_or(&[]);
                me.rewrite = Some(Rewrite {
                    bytes: json_answer(status, shape_of(prefix)),
                    written: 0,
                    reported: buf.len(),
                });
            }
        }
        let Some(r) = &mut me.rewrite else {
            return Pin::new(&mut me.inner).poll_write(cx, buf);
        };
        while r.written < r.bytes.len() {
            let n = ready!(Pin::new(&mut me.inner).poll_write(cx, &r.bytes[r.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            r.written += n;
        }
        Poll::Ready(Ok(r.reported.min(buf.len())))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The status of an answer hyper wrote itself: a whole 4xx head with `content-length: 0`
/// and nothing after it.
fn hyper_error(buf: &[u8]) -> Option<StatusCode> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != buf.len() {
        return None;
    }
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let code: u16 = status_line
        .strip_prefix("HTTP/1.")?
        .get(2..5)?
        .parse()
        .ok()?;
    let empty = lines.any(|l| l.eq_ignore_ascii_case("content-length: 0"));
    (empty && (400..500).contains(&code))
        .then(|| StatusCode::from_u16(code).ok())
        .flatten()
}

/// The API shape of a head's request line (`POST /v1/messages HTTP/1.1`).
fn shape_of(prefix: &[u8]) -> Shape {
    let line = prefix.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let path = line
        .split(|b| *b == b' ')
        .nth(1)
        .and_then(|p| std::str::from_utf8(p).ok())
        .unwrap_or("");
    Shape::of_path(path.split('?').next().unwrap_or(""))
}

/// A whole `connection: close` answer with `status` and a JSON error body in `shape`.
fn json_answer(status: StatusCode, shape: Shape) -> Vec<u8> {
    let message = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "The request headers are larger than the gateway accepts (at most 100 headers and about 400 KB). Send fewer or smaller headers.",
        StatusCode::URI_TOO_LONG => "The request URI is longer than the gateway accepts. Send a shorter URL; request parameters of POST routes go in the JSON body.",
        _ => "The request is not valid HTTP/1.1 (a malformed request line, method or header). Check what the client sends.",
    };
    let e = GatewayError::Http {
        status,
        message: message.to_string(),
    };
    let body = match shape {
        Shape::OpenAi => serde_json::to_vec(&schemas::openai::ErrorResponse { error: e.body() }),
        Shape::Anthropic => serde_json::to_vec(&crate::messages::error_body(&e)),
    }
    .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_empty_bodied_4xx_head_is_hyper_s() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sun, 29 Nov 2026 16:00:00 GMT\r\n\r\n";
        assert_eq!(
            hyper_error(hyper_431),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        let ours = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 99\r\n\r\n";
        assert_eq!(hyper_error(ours), None);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hyper_error(ok), None);
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nx";
        assert_eq!(hyper_error(with_body), None);
    }

    #[test]
    fn the_answer_speaks_the_api_of_the_path() {
        assert_eq!(
            shape_of(b"POST /v1/messages HTTP/1.1\r\nx"),
            Shape::Anthropic
        );
        assert_eq!(
            shape_of(b"POST /v1/messages?beta=1 HTTP/1.1"),
            Shape::Anthropic
        );
        assert_eq!(
            shape_of(b"POST /v1/chat/completions HTTP/1.1"),
            Shape::OpenAi
        );
        assert_eq!(shape_of(b"\x16\x03garbage"), Shape::OpenAi);
        let a = String::from_utf8(json_answer(StatusCode::BAD_REQUEST, Shape::OpenAi))
            .unwrap_or_default();
        assert!(
            a.starts_with("HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"),
            "{a}"
        );
        let body: serde_json::Value =
            serde_json::from_str(a.split("\r\n\r\n").nth(1).unwrap_or("")).unwrap_or_default();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "malformed_request");
    }
}
