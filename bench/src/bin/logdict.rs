//! Trains the zstd dictionary the request log compresses its values with
//! (`broker/auditor/dict/`) from the records and timelines of a filled store, so it learns
//! their structure (field names, event kinds), not any workload's prompts:
//! `logdict <auditor data_dir> <out.zdict>`. The released one was trained on 20,000 jobs of
//! `logfill --seed 1` (the benchmark uses the default seed). A dictionary is never changed once released:
//! stored values name the one they were compressed with, so a new one is added beside it
//! (see `broker/auditor/src/store.rs`).

#![allow(clippy::print_stdout)]

use std::path::PathBuf;

/// Samples per tree.
const SAMPLES: usize = 20_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: logdict <auditor data_dir> <out.zdict>";
    let dir = PathBuf::from(args.next().ok_or(usage)?);
    let out = PathBuf::from(args.next().ok_or(usage)?);
    let store = auditor::Store::open(&dir)?;
    let mut samples: Vec<Vec<u8>> = Vec::new();
    for kv in store.records.iter().take(SAMPLES) {
        let (k, _) = kv?;
        let id = String::from_utf8_lossy(&k).into_owned();
        if let Some(r) = store.record(&id)? {
            samples.push(serde_json::to_vec(&r)?);
        }
        samples.push(serde_json::to_vec(&store.events_of(&id)?)?);
    }
    let dict = zstd::dict::from_samples(&samples, 32 * 1024)?;
    std::fs::write(&out, &dict)?;
    println!(
        "{} samples -> {} ({} bytes)",
        samples.len(),
        out.display(),
        dict.len()
    );
    Ok(())
}
