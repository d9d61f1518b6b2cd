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

#[cfg(test)]
mod tests {
    use super::*;
    use broker::audit::protocol::ListQuery;

    /// A store as the previous version left it (sled; plain JSON records, one key per
    /// event, a streamed zstd body) opens with sled, is backfilled once, and answers lists,
    /// filters, stats and timelines.
    #[test]
    fn a_store_of_the_previous_version_opens_and_is_indexed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let records = db.open_tree("records").unwrap();
            let by_time = db.open_tree("by_time").unwrap();
            let events = db.open_tree("events").unwrap();
            let bodies = db.open_tree("bodies").unwrap();
            for i in 0..3u64 {
                let id = format!("old-{i}");
                let mut r = Record::new(&id, 1_000 + i);
                r.model = Some("mock/echo".into());
                if i == 1 {
                    r.status = schemas::JobState::Failed;
                }
                records
                    .insert(id.as_bytes(), serde_json::to_vec(&r).unwrap())
                    .unwrap();
                by_time
                    .insert(crate::store::time_key(r.created_ms, &id), &[])
                    .unwrap();
                let ev = broker::audit::protocol::StoredEvent {
                    seq: i + 1,
                    raw: None,
                    event: schemas::Event::new(&id, schemas::EventKind::Received, "n"),
                };
                let mut k = crate::store::job_prefix(&id);
                k.extend_from_slice(&(i + 1).to_be_bytes());
                events.insert(k, serde_json::to_vec(&ev).unwrap()).unwrap();
                let body = zstd::encode_all(&br#"{"messages":[]}"#[..], 3).unwrap();
                let mut k = crate::store::job_prefix(&id);
                k.extend_from_slice(b"request");
                bodies.insert(k, body).unwrap();
            }
            db.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(
            matches!(store.db, crate::kv::Db::Sled(_)),
            "opened with sled"
        );
        assert_eq!(backfill(&store).unwrap(), 3);
        assert_eq!(backfill(&store).unwrap(), 0, "once");
        let failed = ListQuery {
            status: Some("failed".into()),
            ..Default::default()
        };
        let page = crate::query::list(&store, &failed).unwrap();
        assert_eq!(page.data.len(), 1);
        assert_eq!(page.data[0].id, "old-1");
        assert_eq!(
            crate::query::list(&store, &ListQuery::default())
                .unwrap()
                .data
                .len(),
            3
        );
        let stats = crate::query::stats(
            &store,
            &broker::audit::protocol::StatsQuery {
                since_ms: Some(0),
                until_ms: Some(10_000),
                step_ms: None,
                group: None,
                names: None,
            },
            10_000,
        )
        .unwrap();
        assert_eq!((stats.total.count, stats.total.failures), (3, 1));
        let full = crate::query::get(&store, "old-2").unwrap().unwrap();
        assert_eq!(full.events.len(), 1);
        assert_eq!(full.request.unwrap()["messages"], serde_json::json!([]));
    }
}
