//! The request log as every role sees it: the auditor's query protocol and its client, the
//! job record folded from events, redaction, and time windows. The store itself (sled) is the
//! `switchyard-auditor` crate's, so only the auditor role links it.
//!
//! - [`protocol`]: the NATS service's subjects, requests and replies
//! - [`client`]: asking the service (one auditor, or one per partition of the log)
//! - [`merge`]: the answers of a partitioned log's auditors as one
//! - [`histogram`]: the latency histogram, mergeable
//! - [`record`]: the job record folded from events and the result
//! - [`redact`]: secrets never stored in clear
//! - [`window`]: time arguments (`1h`, RFC 3339)

pub mod client;
pub mod histogram;
pub mod merge;
pub mod protocol;
pub mod record;
pub mod redact;
pub mod window;

pub use client::{AuditorClient, QueryError};
pub use protocol::{FullRecord, ListPage, ListQuery, Stats, StatsQuery, TimelineEvent};
pub use record::Record;

/// The request-log cap of earlier versions (records that say a body was too large without
/// naming the limit were cut at this). Today every body the gateway accepts is logged: its
/// body limit already keeps the `received` event under NATS's `max_payload`.
pub const MAX_EVENT_BODY_BYTES: usize = 256 * 1024;
