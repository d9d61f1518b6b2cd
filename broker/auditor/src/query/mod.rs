//! Queries over the store: one job's full record ([`get`]), its timeline ([`timeline`]), a
//! filtered page of records ([`list`]) and stats ([`stats`]).

mod list;
mod stats;
mod timeline;

pub use list::{cursor_after, cut, list, list_row};
pub use stats::stats;
pub use timeline::timeline;

use super::store::{BodyKind, Store};
use super::AuditorError;
use broker::audit::protocol::FullRecord;

/// The full record of `id`, or `None`.
pub fn get(store: &Store, id: &str) -> Result<Option<FullRecord>, AuditorError> {
    let Some(record) = store.record(id)? else {
        return Ok(None);
    };
    let events = timeline(store, id, record.created_ms)?;
    Ok(Some(FullRecord {
        request: store.body(id, BodyKind::Request)?,
        response: store.body(id, BodyKind::Response)?,
        record,
        events,
        parts: None,
    }))
}
