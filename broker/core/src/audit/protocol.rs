//! The auditor's query protocol: the NATS service `switchyard-auditor` on
//! `<prefix>.auditor.{get,list,stats,events,body}`, its requests and its replies. A reply is
//! either `{"ok": ...}` or `{"err": {"status", "message"}}` (see [`Reply`]).
//!
//! No reply may exceed the NATS server's `max_payload`: list rows carry no bodies and their
//! long strings are cut ([`LIST_STRING_MAX`]), a page that would not fit is shortened (its
//! `next_cursor` goes on from the last row sent), and a record whose bodies would not fit
//! comes without them and with [`BodyParts`] saying how many `body` calls fetch each.

use super::record::Record;
use schemars::JsonSchema;
use schemas::Event;
use serde::{Deserialize, Serialize};

/// The service name in `$SRV.INFO`.
pub const SERVICE_NAME: &str = "switchyard-auditor";

/// The endpoints.
pub const ENDPOINTS: [&str; 5] = ["get", "list", "stats", "events", "body"];

/// The longest string of a list row (model names, errors); longer ones are cut, with `…`.
pub const LIST_STRING_MAX: usize = 256;

/// How many parts of each body a record left out (fetch them with `body`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct BodyParts {
    /// Parts of the request body (0: none left out).
    pub request: u32,
    /// Parts of the response body.
    pub response: u32,
}

/// The body of `body`: one part of a stored body.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BodyQuery {
    /// The job id.
    pub id: String,
    /// `request` or `response`.
    pub kind: String,
    /// Which part, from 0.
    pub part: u32,
}

/// The reply of `body`: a slice of the body's JSON text.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BodyPart {
    /// The text of this part; the parts concatenated are the body's JSON.
    pub data: String,
    /// How many parts there are.
    pub parts: u32,
}

/// `<prefix>.auditor.<endpoint>`.
pub fn subject(prefix: &str, endpoint: &str) -> String {
    format!("{prefix}.auditor.{endpoint}")
}

/// `<prefix>.auditor.p<partition>.<endpoint>`: the auditors of one partition of the log.
pub fn partition_subject(prefix: &str, partition: u32, endpoint: &str) -> String {
    format!("{prefix}.auditor.p{partition}.{endpoint}")
}

/// Where an auditor's service endpoints live: `<prefix>.auditor`, or of its partition
/// `<prefix>.auditor.p<partition>`.
pub fn group(prefix: &str, partition: Option<u32>) -> String {
    match partition {
        Some(k) => format!("{prefix}.auditor.p{k}"),
        None => format!("{prefix}.auditor"),
    }
}

/// A reply of the service.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reply<T> {
    /// The answer.
    Ok(T),
    /// What went wrong, with the HTTP status the ingress answers with.
    Err {
        /// HTTP status (404, 400, 500).
        status: u16,
        /// What is wrong and what to do next.
        message: String,
    },
}

/// The body of `get` and `events`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct IdQuery {
    /// The job id.
    pub id: String,
}

/// The reply of `events`: the timeline of a job.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Timeline {
    /// The job id.
    pub id: String,
    /// Where the job is.
    pub status: schemas::JobState,
    /// When it was received (the origin of the offsets).
    pub created_ms: u64,
    /// Events in time order.
    pub events: Vec<TimelineEvent>,
}

/// An event as stored, with its stream sequence.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StoredEvent {
    /// The `SY_EVENTS` stream sequence.
    pub seq: u64,
    /// The message as it came, when this version cannot read all of it (a newer `v`, an
    /// unknown kind): shown raw, never dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<serde_json::Value>,
    /// The event (its request body moved to the `bodies` tree).
    #[serde(flatten)]
    pub event: Event,
}

/// Largest page of [`list`].
pub const MAX_LIMIT: usize = 1000;
/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;

/// One event in a job's timeline. Timelines are in causal order (the step of each event in
/// the job's life), not clock order: events come from several processes whose clocks differ.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TimelineEvent {
    /// Milliseconds since the job was received, by the emitting process's clock.
    pub offset_ms: i64,
    /// How far this event's clock is behind the event before it in the story, when it is
    /// (clock skew between processes, shown rather than reordering the story).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skew_ms: Option<i64>,
    /// The event as stored (with its stream sequence).
    #[serde(flatten)]
    pub event: StoredEvent,
}

/// A job's full record.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FullRecord {
    /// The folded record.
    #[serde(flatten)]
    pub record: Record,
    /// The redacted request body, when stored.
    #[serde(default)]
    pub request: Option<serde_json::Value>,
    /// The redacted response (or error) body, when stored.
    #[serde(default)]
    pub response: Option<serde_json::Value>,
    /// Every event, in time order.
    pub events: Vec<TimelineEvent>,
    /// Bodies too large for one reply: how many `body` parts to fetch for each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<BodyParts>,
}

/// Filters of [`list`]; every one is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ListQuery {
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    pub status: Option<String>,
    /// The model as the client named it, or as the provider knows it, or `provider/model`.
    pub model: Option<String>,
    /// The provider.
    pub provider: Option<String>,
    /// The key id.
    pub key: Option<String>,
    /// `sync`, `stream`, `queued` or `batch`.
    pub mode: Option<String>,
    /// Words that must all appear (any case, any order) in the request's messages, the
    /// response text or the error message.
    pub q: Option<String>,
    /// Created at or after (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Created before (ms since the epoch).
    pub until_ms: Option<u64>,
    /// Page size (default 50, at most 1000).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of records, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ListPage {
    /// The records.
    pub data: Vec<Record>,
    /// Whether more match.
    pub has_more: bool,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// The window of [`stats`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct StatsQuery {
    /// From (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Until (ms since the epoch).
    pub until_ms: Option<u64>,
    /// With a step (ms, whole minutes), also the totals of each step of the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_ms: Option<u64>,
    /// With a step: also each step per `model`, `provider` or `key` (the busiest ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// With a group: the series of these names instead of the busiest (what a partitioned
    /// log's client asks each part for, once it knows the whole's busiest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
}

/// The busiest names of a group that get a series of their own.
pub const MAX_GROUPS: usize = 8;

/// One name's steps (`Stats::groups`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct GroupSeries {
    /// The model, provider or key.
    pub name: String,
    /// Its totals of each step, oldest first.
    pub points: Vec<Point>,
}

/// The totals of one step of a window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Point {
    /// The step's start (ms since the epoch).
    pub ts_ms: u64,
    /// Jobs.
    pub count: u64,
    /// Failed jobs.
    pub failures: u64,
    /// All tokens.
    pub total_tokens: u64,
    /// Cost in USD.
    pub cost_usd: f64,
    /// Jobs answered from the response cache.
    #[serde(default)]
    pub cache_hits: u64,
    /// Median duration of finished jobs.
    pub latency_p50_ms: Option<u64>,
    /// 95th percentile duration of finished jobs.
    pub latency_p95_ms: Option<u64>,
    /// Finished jobs per latency bucket ([`super::histogram`]), between auditors: what the
    /// answers of a partitioned log's auditors merge by (the client drops it).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub latency_histogram: std::collections::BTreeMap<u32, u64>,
}

/// Aggregates of one model, provider or key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Aggregate {
    /// The model, provider or key.
    pub name: String,
    /// Jobs.
    pub count: u64,
    /// Failed jobs.
    pub failures: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// All tokens.
    pub total_tokens: u64,
    /// Cost in USD, where known.
    pub cost_usd: f64,
    /// Jobs answered from the response cache.
    #[serde(default)]
    pub cache_hits: u64,
    /// Median duration of finished jobs.
    pub latency_p50_ms: Option<u64>,
    /// 95th percentile duration of finished jobs.
    pub latency_p95_ms: Option<u64>,
    /// Finished jobs per latency bucket ([`super::histogram`]), between auditors: what the
    /// answers of a partitioned log's auditors merge by (the client drops it).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub latency_histogram: std::collections::BTreeMap<u32, u64>,
}

/// Aggregates over a window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Stats {
    /// The window start.
    pub since_ms: u64,
    /// The window end.
    pub until_ms: u64,
    /// Every job in the window.
    pub total: Aggregate,
    /// Per model (as the client named it).
    pub models: Vec<Aggregate>,
    /// Per provider.
    pub providers: Vec<Aggregate>,
    /// Per key id.
    pub keys: Vec<Aggregate>,
    /// With `step_ms`: the totals of each step, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<Point>,
    /// With `step_ms` and `group`: the steps of the busiest names of that group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupSeries>,
}
