//! Switchyard's wire types.
//!
//! Two families live here:
//! - [`openai`]: the OpenAI-compatible HTTP API (chat, embeddings, errors, models), typed
//!   with serde; every struct keeps unknown fields in an `extra` map so that they pass
//!   through the gateway untouched.
//! - [`anthropic`]: the Anthropic Messages API, for the `anthropic` adapter and the
//!   Anthropic-compatible front door.
//! - the NATS envelopes ([`Job`], [`JobResult`], [`StreamChunk`], [`Event`]) that the
//!   ingress, the workers and the auditor exchange. They carry a version field `v` and are
//!   also published as JSON Schema files under `schemas/json/` (see [`json_schemas`]), so a
//!   client in any language can subscribe to results on NATS.

pub mod admin;
pub mod anthropic;
pub mod batch;
pub mod chunk;
pub mod circuit;
pub mod control;
pub mod event;
pub mod job;
pub mod msgid;
pub mod openai;
pub mod result;
pub mod subjects;

pub use admin::AdminEvent;
pub use chunk::StreamChunk;
pub use circuit::{CircuitRecord, CircuitState};
pub use control::ModelsReply;
pub use event::{BodyOmitted, Event, EventDetail, EventKind, OmitReason};
pub use job::{BatchRef, CachePlan, Charge, Job, JobState, Mode, Operation, Target};
pub use result::{JobError, JobResult};
pub use subjects::Subjects;

/// The version of the NATS envelopes defined in this crate. Bumped on any incompatible change.
pub const WIRE_VERSION: u32 = 1;

/// A test hook's shift of this process's clock, in ms (see [`skew_clock`]).
static CLOCK_SKEW_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Milliseconds since the Unix epoch, the time unit of every envelope.
pub fn now_ms() -> u64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    ms.saturating_add_signed(CLOCK_SKEW_MS.load(std::sync::atomic::Ordering::Relaxed))
}

/// A test hook: shifts this process's [`now_ms`] by `ms` (negative: behind), as a machine
/// whose clock is off would be. The binary sets it from `SWITCHYARD_TEST_CLOCK_SKEW_MS`, so
/// tests can run processes whose clocks disagree.
pub fn skew_clock(ms: i64) {
    CLOCK_SKEW_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

/// The `$id` prefix of the published JSON Schemas (a URN: they are files of the repository,
/// not served anywhere).
pub const SCHEMA_BASE: &str = "urn:switchyard:schemas:";

/// The JSON Schema of every versioned envelope, by file name (`job.v1.json`, ...).
pub fn json_schemas() -> Vec<(String, serde_json::Value)> {
    fn one<T: schemars::JsonSchema>(name: &str) -> (String, serde_json::Value) {
        let schema = schemars::schema_for!(T);
        let file = format!("{name}.v{WIRE_VERSION}.json");
        let mut v = serde_json::to_value(schema).unwrap_or_default();
        // Each schema names itself and pins the envelope version it describes: a reader
        // that meets another `v` keeps the message raw instead of misreading it.
        v["$id"] = serde_json::Value::String(format!("{SCHEMA_BASE}{file}"));
        if let Some(props) = v["properties"].as_object_mut() {
            if let Some(ver) = props.get_mut("v") {
                ver["const"] = serde_json::Value::from(WIRE_VERSION);
            }
        }
        (file, v)
    }
    vec![
        one::<Job>("job"),
        one::<JobResult>("result"),
        one::<StreamChunk>("chunk"),
        one::<Event>("event"),
        one::<AdminEvent>("admin_event"),
        one::<batch::Batch>("batch"),
        one::<batch::OutputLine>("batch_output_line"),
    ]
}
