//! Brings a store written by an earlier version up to date at start: records without index
//! entries and rollups (the store before they existed) get them, in batches, with progress
//! in the log. Their text is not indexed for search: `q` finds what arrives from now on.

use super::store::{unpack, Store};
use super::{index, kv, rollup, AuditorError};
use broker::audit::Record;

/// The `rollups` key that says the backfill is done.
const DONE: &[u8] = b"_backfilled_v2";

/// Backfills index entries and rollups when the store has records but was never backfilled.
/// Returns how many records were backfilled.
pub fn backfill(store: &Store) -> Result<usize, AuditorError> {
    if store.rollups.contains_key(DONE)? {
        return Ok(0);
    }
    if !store.index.is_empty()? || store.records.is_empty()? {
        store.rollups.insert(DONE, [])?;
        return Ok(0);
    }
    let total = store.records.approximate_len();
    tracing::info!(
        records = total,
        "auditor: indexing records of an earlier version"
    );
    let mut done = 0;
    let mut batch = kv::Batch::default();
    let mut deltas = rollup::Deltas::default();
    for item in store.records.iter() {
        let (_, v) = item?;
        let r: Record = unpack(&v)?;
        index::update(&mut batch, &store.index, None, Some(&r));
        deltas.change(None, Some(&r));
        done += 1;
        if done % 10_000 == 0 {
            std::mem::take(&mut deltas).write(&store.rollups, &mut batch)?;
            store.apply(std::mem::take(&mut batch))?;
            tracing::info!(
                done,
                total,
                "auditor: indexing records of an earlier version"
            );
        }
    }
    deltas.write(&store.rollups, &mut batch)?;
    store.apply(batch)?;
    store.rollups.insert(DONE, [])?;
    store.flush_blocking()?;
    Ok(done)
}
