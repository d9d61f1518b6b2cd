//! One upstream call: decode the job body, call the adapter within the target's timeouts,
//! and publish chunks for streamed jobs.

use super::{observe, Assembler, Shared};
use crate::error::{ErrorKind, ProviderError};
use crate::provider::{CallCtx, Provider};
use broker::config::Timeouts;
use futures::StreamExt;
use schemas::openai::{ChatRequest, EmbeddingsRequest, Usage};
use schemas::{EventDetail, EventKind, Job, Operation, StreamChunk, Target};
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A successful upstream call.
pub struct Done {
    /// The OpenAI-shaped response.
    pub response: Box<RawValue>,
    /// Token usage.
    pub usage: Option<Usage>,
    /// Chunks published, for streams.
    pub chunks: Option<u64>,
}

/// A failed upstream call; `streamed` when chunks already reached the client.
pub struct Failed {
    /// The error.
    pub err: ProviderError,
    /// Whether output was already published (no retry possible).
    pub streamed: bool,
    /// The upstream's own id of the request, when it gave one.
    pub upstream_request_id: Option<String>,
}

impl From<ProviderError> for Failed {
    fn from(err: ProviderError) -> Self {
        Self {
            err,
            streamed: false,
            upstream_request_id: None,
        }
    }
}

fn bad_body(provider: &str, e: serde_json::Error) -> ProviderError {
    ProviderError::new(
        ErrorKind::BadRequest,
        provider,
        format!("the job body does not decode: {e}"),
    )
}

fn raw<T: serde::Serialize>(provider: &str, v: &T) -> Result<Box<RawValue>, ProviderError> {
    serde_json::value::to_raw_value(v)
        .map_err(|e| ProviderError::new(ErrorKind::Decode, provider, e.to_string()))
}

fn timed_out(provider: &str, what: &str, d: Duration) -> ProviderError {
    ProviderError::new(
        ErrorKind::Timeout,
        provider,
        format!(
            "no {what} within {} ms (raise providers.{provider}.timeouts if the model is slow)",
            d.as_millis()
        ),
    )
}

/// Calls the adapter for the job's operation.
pub async fn call(
    shared: &Shared,
    adapter: Arc<dyn Provider>,
    job: &Job,
    target: &Target,
    delivery: u64,
    t: &Timeouts,
) -> Result<Done, Failed> {
    let total = Duration::from_millis(t.total_ms);
    let ctx = CallCtx {
        job_id: job.id.clone(),
        deadline: Some(Instant::now() + total),
        traceparent: broker::telemetry::propagation::current().or_else(|| job.traceparent.clone()),
    };
    let p = &target.provider;
    match job.op {
        Operation::Chat => {
            let mut req: ChatRequest =
                serde_json::from_str(job.body.get()).map_err(|e| bad_body(p, e))?;
            req.model = target.model.clone();
            if job.mode.streams() {
                return stream(shared, adapter, req, &ctx, job, delivery, t).await;
            }
            let resp =
                tokio::time::timeout(total, crate::capability::chat(adapter.as_ref(), req, &ctx))
                    .await
                    .map_err(|_| timed_out(p, "answer", total))??;
            Ok(Done {
                usage: resp.usage.clone(),
                response: raw(p, &resp)?,
                chunks: None,
            })
        }
        Operation::Embeddings => {
            let mut req: EmbeddingsRequest =
                serde_json::from_str(job.body.get()).map_err(|e| bad_body(p, e))?;
            req.model = target.model.clone();
            let resp = tokio::time::timeout(total, adapter.embed(req, &ctx))
                .await
                .map_err(|_| timed_out(p, "answer", total))??;
            let usage = Usage::new(resp.usage.prompt_tokens, 0);
            Ok(Done {
                usage: Some(usage),
                response: raw(p, &resp)?,
                chunks: None,
            })
        }
        Operation::CountTokens => {
            let mut req: ChatRequest =
                serde_json::from_str(job.body.get()).map_err(|e| bad_body(p, e))?;
            req.model = target.model.clone();
            let resp = tokio::time::timeout(total, adapter.count_tokens(req, &ctx))
                .await
                .map_err(|_| timed_out(p, "answer", total))??;
            Ok(Done {
                usage: None,
                response: raw(p, &resp)?,
                chunks: None,
            })
        }
    }
}

async fn stream(
    shared: &Shared,
    adapter: Arc<dyn Provider>,
    req: ChatRequest,
    ctx: &CallCtx,
    job: &Job,
    delivery: u64,
    t: &Timeouts,
) -> Result<Done, Failed> {
    let include_usage = req.include_usage();
    let (model, started) = (req.model.clone(), Instant::now());
    let provider = adapter.name().to_string();
    let first_byte = Duration::from_millis(t.first_byte_ms);
    let idle = Duration::from_millis(t.idle_ms);
    let end = tokio::time::Instant::now() + Duration::from_millis(t.total_ms);
    let mut s = tokio::time::timeout(
        first_byte,
        crate::capability::chat_stream(adapter.as_ref(), req, ctx),
    )
    .await
    .map_err(|_| timed_out(&provider, "first byte", first_byte))??;
    let subject = shared.topo.subjects.chunks(&job.id);
    let mut asm = Assembler::default();
    let mut seq: u64 = 0;
    let mut received = 0u64;
    loop {
        let wait = if received == 0 { first_byte } else { idle };
        let until = (tokio::time::Instant::now() + wait).min(end);
        let item = match tokio::time::timeout_at(until, s.next()).await {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(_) => {
                let what = if received == 0 {
                    "first chunk"
                } else {
                    "next chunk"
                };
                return Err(Failed {
                    err: timed_out(&provider, what, wait),
                    streamed: seq > 0,
                    upstream_request_id: None,
                });
            }
        };
        received += 1;
        let c = item.map_err(|err| Failed {
            err,
            streamed: seq > 0,
            upstream_request_id: None,
        })?;
        asm.push(&c);
        if c.choices.is_empty() && c.usage.is_some() && !include_usage {
            continue;
        }
        if seq == 0 {
            observe::first_token(&provider, &model, started.elapsed());
            shared
                .events
                .emit(
                    &job.id,
                    EventKind::FirstToken,
                    EventDetail {
                        provider: Some(provider.clone()),
                        // Time to first token, from the call's start.
                        duration_ms: Some(started.elapsed().as_millis() as u64),
                        key_id: job.key_id.clone(),
                        ..Default::default()
                    },
                )
                .await;
        }
        let env = StreamChunk {
            v: schemas::WIRE_VERSION,
            id: job.id.clone(),
            seq,
            delivery,
            data: raw(&provider, &c)?,
        };
        let payload = serde_json::to_vec(&env)
            .map_err(|e| ProviderError::new(ErrorKind::Decode, &provider, e.to_string()))?;
        if let Err(e) = shared.client.publish(subject.clone(), payload.into()).await {
            tracing::warn!(error = %e, "cannot publish a chunk");
        }
        seq += 1;
    }
    if !asm.finished {
        let err = ProviderError::new(
            ErrorKind::Network,
            &provider,
            "the upstream stream ended before the answer was complete",
        );
        return Err(Failed {
            err,
            streamed: seq > 0,
            upstream_request_id: None,
        });
    }
    let usage = asm.usage().cloned();
    let resp = asm.finish();
    Ok(Done {
        response: raw(&provider, &resp)?,
        usage,
        chunks: Some(seq),
    })
}
