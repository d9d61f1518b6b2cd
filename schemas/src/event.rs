//! Lifecycle events on `sy.events.<job>`.

use crate::openai::Usage;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What happened to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The ingress accepted the HTTP request.
    Received,
    /// The caller's key was checked.
    Authenticated,
    /// The response came from the cache.
    CacheHit,
    /// The cache had no answer.
    CacheMiss,
    /// The job is in the jobs stream.
    Queued,
    /// A worker took the job.
    Dequeued,
    /// An upstream call began.
    AttemptStarted,
    /// An upstream call failed.
    AttemptFailed,
    /// The first streamed token arrived.
    FirstToken,
    /// The job finished with a response.
    Completed,
    /// The job finished with an error.
    Failed,
    /// The job was cancelled.
    Cancelled,
    /// The result reached the client.
    Delivered,
    /// The job exhausted its deliveries and went to the dead-letter subject.
    DeadLettered,
    /// The job was resubmitted as a new job.
    Replayed,
    /// A kind this version does not know (from a newer publisher): kept, never dropped;
    /// readers keep the whole message raw beside it.
    #[serde(other)]
    Unknown,
}

impl EventKind {
    /// Whether it ends its job (`completed`, `failed`, `cancelled`).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// The snake_case name, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Authenticated => "authenticated",
            Self::CacheHit => "cache_hit",
            Self::CacheMiss => "cache_miss",
            Self::Queued => "queued",
            Self::Dequeued => "dequeued",
            Self::AttemptStarted => "attempt_started",
            Self::AttemptFailed => "attempt_failed",
            Self::FirstToken => "first_token",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Delivered => "delivered",
            Self::DeadLettered => "dead_lettered",
            Self::Replayed => "replayed",
            Self::Unknown => "unknown",
        }
    }

    /// The job state this event leaves the job in, if it changes it.
    pub fn state(self) -> Option<crate::JobState> {
        use crate::JobState as S;
        match self {
            Self::Queued => Some(S::Queued),
            Self::Dequeued | Self::AttemptStarted | Self::AttemptFailed | Self::FirstToken => {
                Some(S::Running)
            }
            Self::Completed => Some(S::Completed),
            Self::Failed | Self::DeadLettered => Some(S::Failed),
            Self::Cancelled => Some(S::Cancelled),
            _ => None,
        }
    }
}

/// The fields that make an event debuggable; which are set depends on the kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct EventDetail {
    /// Provider of the attempt or result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Model of the attempt or result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// 1-based attempt number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// JetStream delivery count of the job message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<u64>,
    /// HTTP status (upstream for attempts, client-facing for results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Delay before the next attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
    /// Error message (never contains secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Low-cardinality error kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// Duration of the step this event closes (attempt, job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The upstream's own id of the request (`x-request-id`, Anthropic's `request-id`,
    /// Bedrock's `x-amzn-requestid`, Gemini's `responseId`), to quote to the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_request_id: Option<String>,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Cost in USD, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// On `cache_hit`: the tokens the cached answer saved (not spent again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_tokens: Option<u64>,
    /// On `cache_hit`: the cost the cached answer saved, USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_cost_usd: Option<f64>,
    /// On a semantic `cache_hit`: the cosine similarity of the cached prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
    /// Delivery mode (`sync`, `stream`, `queued`, `batch`) on `received`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<crate::Mode>,
    /// The key id on `received` / `authenticated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The original job of a replay, or the new job on `replayed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_job: Option<String>,
    /// The W3C traceparent of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The request body, already redacted, on `received` (absent when bodies are not
    /// audited). A JSON value, not raw, because the detail is flattened into the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// On `received`: the JSON paths of the body that were redacted before it was logged
    /// (`messages[0].content`), so a replay can say what the stored body is missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redacted: Vec<String>,
    /// On `received` without a `body`: why the request log has no copy of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_omitted: Option<BodyOmitted>,
}

/// Why a request body is not in the request log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BodyOmitted {
    /// `too_large` (over the log's cap) or `not_stored` (`auditor.store_bodies` is off).
    pub reason: OmitReason,
    /// The body's size in bytes.
    pub bytes: u64,
    /// The cap it was over, for `too_large`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// See [`BodyOmitted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OmitReason {
    /// Larger than the request log keeps.
    TooLarge,
    /// Bodies are not stored (`auditor.store_bodies = false`).
    NotStored,
}

/// One lifecycle event of a job.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// Envelope version ([`crate::WIRE_VERSION`]).
    pub v: u32,
    /// The job id.
    pub job: String,
    /// What happened.
    pub kind: EventKind,
    /// When (ms since the epoch).
    pub ts_ms: u64,
    /// The node (process) that saw it.
    pub node: String,
    /// Kind-specific fields.
    #[serde(flatten)]
    pub detail: EventDetail,
}

impl Event {
    /// An event of `kind` for `job`, stamped now.
    pub fn new(job: &str, kind: EventKind, node: &str) -> Self {
        Self {
            v: crate::WIRE_VERSION,
            job: job.to_string(),
            kind,
            ts_ms: crate::now_ms(),
            node: node.to_string(),
            detail: EventDetail::default(),
        }
    }

    /// The same event with `detail`.
    pub fn with(mut self, detail: EventDetail) -> Self {
        self.detail = detail;
        self
    }
}
