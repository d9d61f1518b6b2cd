//! The job envelope: what the ingress publishes on `sy.jobs.<provider>`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Which API operation a job performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// `POST /v1/messages/count_tokens`: the body is a chat request, the response
    /// `{"input_tokens": N}`.
    CountTokens,
}

/// How the client waits for the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The HTTP request waits for the result.
    Sync,
    /// The HTTP request relays chunks as server-sent events.
    Stream,
    /// The client got `202` and a job id; it polls or subscribes.
    Queued,
    /// Part of a batch.
    Batch,
}

impl Mode {
    /// Whether the worker should stream from the upstream and publish chunks.
    pub fn streams(self) -> bool {
        matches!(self, Mode::Stream)
    }
}

/// Where a job is lifecycle-wise, as `GET /v1/jobs/{id}` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting in the stream for a worker.
    Queued,
    /// A worker is on it.
    Running,
    /// Finished with a response.
    Completed,
    /// Finished with an error.
    Failed,
    /// Cancelled by the client.
    Cancelled,
}

impl JobState {
    /// Whether the job has finished.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// One resolved destination of a job: a provider and the model name it knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Target {
    /// The configured provider name (`openai`, `mock`, ...).
    pub provider: String,
    /// The model name as that provider knows it.
    pub model: String,
}

impl Target {
    /// `provider/model`.
    pub fn qualified(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }
}

/// The job envelope.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Job {
    /// Envelope version ([`crate::WIRE_VERSION`]).
    pub v: u32,
    /// UUIDv7 job id.
    pub id: String,
    /// The API operation.
    pub op: Operation,
    /// How the client waits.
    pub mode: Mode,
    /// The model as the client named it (alias, `provider/model` or bare).
    pub model: String,
    /// Resolved targets, tried in order: the first is the primary, the rest fallbacks.
    pub route: Vec<Target>,
    /// The client's request body as sent (already validated by the ingress).
    #[schemars(with = "serde_json::Value")]
    pub body: Box<RawValue>,
    /// The id (never the secret) of the key that submitted the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// When the ingress accepted the job (ms since the epoch).
    pub created_ms: u64,
    /// When the client stops waiting (ms since the epoch); retries stop at this point.
    pub deadline_ms: u64,
    /// W3C `traceparent` of the request, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The client's `Idempotency-Key`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The job this one replays, if it is a replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    /// The node (process) that accepted the job.
    pub node: String,
    /// Index in `route` of the target this message is for (a fallback republishes the job
    /// with the next index).
    #[serde(default)]
    pub hop: u32,
    /// Upstream attempts already made on earlier targets.
    #[serde(default)]
    pub attempts: u32,
    /// What the worker that finishes the job settles against the key's limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge: Option<Charge>,
    /// Where the worker stores the answer in the response cache, when it is to be cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CachePlan>,
    /// The batch line this job runs, for a batch's job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchRef>,
    /// Where the ingress waiting for this job (sync or streaming) takes its result:
    /// `sy.results.<ingress>.<job>`, published besides the stored `sy.results.<job>`, so an
    /// ingress receives only the results it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

/// The batch line a job runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BatchRef {
    /// The batch (`batch_...`).
    pub id: String,
    /// The line's `custom_id`.
    pub custom_id: String,
}

/// Where a job's answer goes in the response cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CachePlan {
    /// The entry's key in the cache (`c.<key id>.<namespace>.<model>.<hash>`).
    pub key: String,
    /// How long it stays, seconds.
    pub ttl_s: u64,
    /// Semantic caching: the cosine similarity (0 to 1) from which a cached answer serves
    /// this prompt; the worker also indexes the prompt's embedding with the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semantic_threshold: Option<f32>,
    /// Whether the worker looks the prompt up by meaning (not after `Cache-Control:
    /// no-cache`, nor for a queued job).
    #[serde(default)]
    pub semantic_lookup: bool,
}

/// The limits a finished job settles: its tokens into the key's tokens-per-minute window,
/// and its cost into the key's budget in place of what the ingress reserved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Charge {
    /// The counter of the key's tokens-per-minute window (`tpm.<key>.<minute>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<String>,
    /// The counter of the key's budget period (`spend.<key>.<start>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<String>,
    /// What the ingress reserved on `spend`, in micro-USD.
    #[serde(default)]
    pub reserved_micro_usd: i64,
}
