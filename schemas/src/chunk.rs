//! The chunk envelope: one streamed delta on `sy.chunks.<job>`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// One streamed delta of a job, in order.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StreamChunk {
    /// Envelope version ([`crate::WIRE_VERSION`]).
    pub v: u32,
    /// The job id.
    pub id: String,
    /// 0-based sequence number; a gap means a lost chunk.
    pub seq: u64,
    /// The delivery attempt of the job that produced the chunk (restarts after a redelivery).
    #[serde(default)]
    pub delivery: u64,
    /// An OpenAI `chat.completion.chunk` object.
    #[schemars(with = "serde_json::Value")]
    pub data: Box<RawValue>,
}
