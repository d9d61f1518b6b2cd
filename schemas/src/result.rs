//! The result envelope: what a worker publishes on `sy.results.<job>`.

use crate::job::JobState;
use crate::openai::{ErrorBody, Usage};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A job's failure: the HTTP status the client gets and the OpenAI-shaped error body.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct JobError {
    /// HTTP status for the client.
    pub status: u16,
    /// The OpenAI-shaped error.
    pub error: ErrorBody,
    /// Whether trying again later could succeed.
    #[serde(default)]
    pub retryable: bool,
    /// The low-cardinality class of the failure (`rate_limited`, `context_length`, ...), for
    /// metrics and the request log; the `error.code` is the upstream's own where it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// How long the upstream (or the gateway) asked to wait before retrying, in ms; answered
    /// as `Retry-After`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// The final outcome of a job.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct JobResult {
    /// Envelope version ([`crate::WIRE_VERSION`]).
    pub v: u32,
    /// The job id.
    pub id: String,
    /// `completed`, `failed` or `cancelled`.
    pub status: JobState,
    /// The provider that answered (or last failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The model that answered, as the provider knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The model as the client named it (an alias, `provider/model` or a bare name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_model: Option<String>,
    /// The OpenAI-shaped response body (a chat completion or an embeddings list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub response: Option<Box<RawValue>>,
    /// The error, when the job failed or was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    /// Token usage, normalized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// How many upstream attempts were made.
    pub attempts: u32,
    /// The upstream's own request id of the answering attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_request_id: Option<String>,
    /// How long the answering attempt took, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_ms: Option<u64>,
    /// For streamed jobs: how many chunks were published on `sy.chunks.<job>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<u64>,
    /// When the job finished (ms since the epoch).
    pub finished_ms: u64,
    /// The node (worker process) that finished the job.
    pub node: String,
    /// The id (never the secret) of the key that submitted the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// What the job cost in USD, from the price table; absent when its model has no price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// `semantic-hit` when a worker answered from the cache by meaning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// The cosine similarity of a semantic hit's cached prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
}
