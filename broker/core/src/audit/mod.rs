//! The request log as every role sees it: the auditor's query protocol and its client, the
//! job record folded from events, redaction, and time windows. The store itself (sled) is the
//! `switchyard-auditor` crate's, so only the auditor role links it.
//!
//! - [`protocol`]: the NATS service's subjects, requests and replies
//! - [`client`]: asking the service
//! - [`record`]: the job record folded from events and the result
//! - [`redact`]: secrets never stored in clear
//! - [`window`]: time arguments (`1h`, RFC 3339)

pub mod client;
pub mod protocol;
pub mod record;
pub mod redact;
pub mod window;

pub use client::{AuditorClient, QueryError};
pub use protocol::{FullRecord, ListPage, ListQuery, Stats, StatsQuery, TimelineEvent};
pub use record::Record;

/// Largest request body carried on the `received` event (and so stored). Larger bodies are
/// left out, so that the event stays well under NATS's payload limit next to the job that
/// carries the same body.
pub const MAX_EVENT_BODY_BYTES: usize = 256 * 1024;
