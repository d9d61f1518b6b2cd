//! Relaying a job's chunks to the client as server-sent events, framed by a [`Framer`]:
//! OpenAI `chat.completion.chunk` frames ([`OpenAiFrames`]) or another API's events.
//!
//! The first chunk (or the result) is awaited before answering, so an upstream error that
//! happens before any output becomes a proper HTTP error instead of a broken stream.

use crate::error::GatewayError;
use crate::job::guards::Guards;
use crate::job::wait::Waiter;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use schemas::openai::{ChatChunk, ChatResponse, ErrorResponse};
use schemas::{JobResult, JobState, StreamChunk};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How relayed chunks are written for the client.
pub trait Framer: Send + 'static {
    /// The frames of one chunk; `data` is an OpenAI `chat.completion.chunk` object.
    fn chunk(&mut self, data: &str) -> Vec<Bytes>;
    /// The frames of an error that ends the stream.
    fn error(&mut self, e: &GatewayError) -> Vec<Bytes>;
    /// The closing frames once the job's result is in (after [`Framer::error`] on failure).
    fn end(&mut self, r: &JobResult) -> Vec<Bytes>;
}

/// OpenAI framing: each chunk as `data: <json>`, errors in the OpenAI error shape, then
/// `data: [DONE]`.
pub struct OpenAiFrames;

impl Framer for OpenAiFrames {
    fn chunk(&mut self, data: &str) -> Vec<Bytes> {
        vec![frame(data)]
    }
    fn error(&mut self, e: &GatewayError) -> Vec<Bytes> {
        vec![error_frame(e)]
    }
    fn end(&mut self, _r: &JobResult) -> Vec<Bytes> {
        vec![Bytes::from_static(b"data: [DONE]\n\n")]
    }
}

/// What [`relay`] did.
pub enum Relay {
    /// The stream answer, fed by a task.
    Streaming(Response),
    /// The result came before any chunk (typically an upstream error): answer it whole.
    Finished(Box<JobResult>),
}

/// Sends frames; false once the client is gone.
async fn send_all(tx: &mpsc::Sender<Bytes>, frames: Vec<Bytes>) -> bool {
    for f in frames {
        if tx.send(f).await.is_err() {
            return false;
        }
    }
    true
}

/// What the relay got next.
enum Next {
    Chunk(StreamChunk),
    Result(Box<JobResult>),
    /// Nothing for [`SILENCE`]: time to look for a stored result this ingress missed.
    Silence,
    Timeout,
}

/// How long a stream may be silent before the stored result is looked up: a result (and
/// chunks) published while this ingress was reconnecting (a NATS failover) never arrive.
const SILENCE: Duration = Duration::from_secs(2);

async fn next(w: &mut Waiter, deadline: Instant) -> Next {
    let Some(chunks) = w.chunks.as_mut() else {
        return Next::Timeout;
    };
    let quiet = (Instant::now() + SILENCE).min(deadline);
    loop {
        let got = tokio::time::timeout_at(quiet, async {
            tokio::select! {
                biased;
                Some(m) = chunks.next() => serde_json::from_slice::<StreamChunk>(&m.payload).ok().map(Next::Chunk),
                Some(m) = w.results.recv() => serde_json::from_slice::<JobResult>(&m).ok().map(|r| Next::Result(Box::new(r))),
                else => Some(Next::Timeout),
            }
        })
        .await;
        match got {
            Ok(Some(n)) => return n,
            Ok(None) => continue,
            Err(_) if quiet < deadline => return Next::Silence,
            Err(_) => return Next::Timeout,
        }
    }
}

fn frame(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

fn error_frame(e: &GatewayError) -> Bytes {
    let body = ErrorResponse { error: e.body() };
    frame(&serde_json::to_string(&body).unwrap_or_default())
}

/// A `text/event-stream` answer fed by `rx`.
pub fn sse_response(rx: mpsc::Receiver<Bytes>) -> Response {
    let stream = tokio_stream(rx).map(Ok::<_, std::convert::Infallible>);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// A channel's receiver as a stream (what tokio-stream's `ReceiverStream` does).
pub(crate) fn tokio_stream<T>(mut rx: mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Peeks the first chunk, then streams the rest from a task, framed by `framer`. `guards`
/// cancel the job if the client goes away before the end, and count it in flight meanwhile.
pub async fn relay<F: Framer>(
    st: AppState,
    id: String,
    mut w: Waiter,
    timeout_ms: u64,
    guards: Guards,
    framer: F,
) -> Result<Relay, GatewayError> {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    let first = loop {
        match next(&mut w, deadline).await {
            Next::Chunk(c) => break c,
            Next::Result(r) => {
                guards.disarm();
                return Ok(Relay::Finished(r));
            }
            Next::Silence => {
                if let Ok(Some(r)) = crate::job::wait::stored_result(&st, &id).await {
                    guards.disarm();
                    return Ok(Relay::Finished(Box::new(r)));
                }
            }
            Next::Timeout => {
                // The deadline passed, not the client: the job goes on and can be fetched.
                guards.disarm();
                return Err(GatewayError::Timeout {
                    job_id: id,
                    timeout_ms,
                });
            }
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let mut stream = Stream {
        st,
        id,
        w,
        tx,
        framer,
        deadline,
        timeout_ms,
        delivery: first.delivery,
        sent: 0,
        whole: ends_answer(first.data.get()),
    };
    tokio::spawn(async move {
        let client_there = stream.chunk(first.data.get()).await;
        stream.sent += 1;
        let result = match client_there {
            true => stream.forward().await,
            false => Err(false),
        };
        match result {
            Ok(r) => {
                guards.disarm();
                stream.finish(r).await;
            }
            // The stream ended early with the client still there (an error frame was
            // sent): nothing to cancel.
            Err(true) => guards.disarm(),
            // The client went away mid-stream: dropping the guards cancels its job.
            Err(false) => {}
        }
    });
    Ok(Relay::Streaming(sse_response(rx)))
}

/// One relayed stream after its first chunk.
struct Stream<F> {
    st: AppState,
    id: String,
    w: Waiter,
    tx: mpsc::Sender<Bytes>,
    framer: F,
    deadline: Instant,
    timeout_ms: u64,
    /// The delivery of the job whose chunks are relayed.
    delivery: u64,
    /// Chunks sent so far.
    sent: u64,
    /// The relayed chunks reached the end of an answer (a `finish_reason`): the client has
    /// it whole, whatever a redelivery of the job streams later.
    whole: bool,
}

/// Whether an OpenAI chunk ends an answer: it carries a `finish_reason`.
fn ends_answer(data: &str) -> bool {
    data.contains("\"finish_reason\":\"")
}

impl<F: Framer> Stream<F> {
    /// Sends a chunk's frames; false once the client is gone.
    async fn chunk(&mut self, data: &str) -> bool {
        let frames = self.framer.chunk(data);
        send_all(&self.tx, frames).await
    }

    /// Sends an error's frames; false once the client is gone.
    async fn error(&mut self, e: &GatewayError) -> bool {
        let frames = self.framer.error(e);
        send_all(&self.tx, frames).await
    }

    /// Relays chunks until the job's result arrives (`Ok`), or ends the stream with an
    /// error frame (`Err(true)`: the worker was replaced mid-stream, or the deadline passed)
    /// or because the client left (`Err(false)`).
    async fn forward(&mut self) -> Result<JobResult, bool> {
        loop {
            match next(&mut self.w, self.deadline).await {
                // A redelivery's chunks after the answer was relayed whole: the client has
                // it; wait for the (deduplicated) result.
                Next::Chunk(c) if c.delivery != self.delivery && self.whole => {}
                Next::Chunk(c) if c.delivery != self.delivery => {
                    let e = GatewayError::Internal(format!(
                        "The worker streaming this job stopped mid-way and the job was redelivered. Fetch the complete result with GET /v1/jobs/{}.",
                        self.id
                    ));
                    return Err(self.error(&e).await);
                }
                Next::Chunk(c) => {
                    self.whole |= ends_answer(c.data.get());
                    if !self.chunk(c.data.get()).await {
                        return Err(false);
                    }
                    self.sent += 1;
                }
                Next::Result(r) => return Ok(*r),
                Next::Silence => {
                    if let Ok(Some(r)) = crate::job::wait::stored_result(&self.st, &self.id).await {
                        return Ok(r);
                    }
                }
                Next::Timeout => {
                    let e = GatewayError::Timeout {
                        job_id: self.id.clone(),
                        timeout_ms: self.timeout_ms,
                    };
                    return Err(self.error(&e).await);
                }
            }
        }
    }

    /// Chunks published before the result may still be in flight on this connection: relays
    /// them (for a short grace) until the result's chunk count is reached.
    async fn late_chunks(&mut self, expected: u64) {
        let grace = Instant::now() + Duration::from_millis(200);
        while self.sent < expected {
            let Some(chunks) = self.w.chunks.as_mut() else {
                break;
            };
            match tokio::time::timeout_at(grace, chunks.next()).await {
                Ok(Some(m)) => {
                    if let Ok(c) = serde_json::from_slice::<StreamChunk>(&m.payload) {
                        self.chunk(c.data.get()).await;
                        self.sent += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// Ends the stream with the job's result: the late chunks, the error of a failed job,
    /// the closing frames, and `delivered`.
    async fn finish(mut self, r: JobResult) {
        let expected = r.chunks.unwrap_or(self.sent);
        self.late_chunks(expected).await;
        if r.status == JobState::Completed && self.sent < expected && !self.whole {
            // Chunks lost on the way (core NATS, during a failover): say so rather than end
            // a truncated answer as if it were whole.
            let e = GatewayError::Unavailable(format!(
                "The stream was interrupted: {} of its {expected} chunks were lost on the way (a NATS failover). The job completed; fetch the complete result with GET /v1/jobs/{}.",
                expected - self.sent,
                self.id
            ));
            self.error(&e).await;
        }
        if r.status != JobState::Completed {
            let e = GatewayError::Job(Box::new(
                r.error
                    .clone()
                    .unwrap_or_else(|| crate::job::missing_error(&r)),
            ));
            self.error(&e).await;
        }
        let frames = self.framer.end(&r);
        send_all(&self.tx, frames).await;
        crate::job::outcome::emit_delivered(&self.st, &r).await;
    }
}

/// A finished completion replayed as a stream: one chunk with the whole message (text and
/// tool calls), then `[DONE]`.
pub fn replay_completion(body: &str) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    if let Ok(resp) = serde_json::from_str::<ChatResponse>(body) {
        let chunk = ChatChunk::from_response(&resp);
        let data = serde_json::to_string(&chunk).unwrap_or_default();
        let _ = tx.try_send(frame(&data));
    }
    let _ = tx.try_send(Bytes::from_static(b"data: [DONE]\n\n"));
    sse_response(rx)
}
