//! What the request log's store holds, tree by tree: the bytes of keys and values (what the
//! data takes before the storage engine's own overhead), and the files on disk, for
//! bench/README.md. Run it on a stopped auditor's `data_dir` (the store is locked while an
//! auditor runs): `logsize <dir>`.

#![allow(clippy::print_stdout)]

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: logsize <auditor data_dir>")?,
    );
    let store = auditor::Store::open(&dir)?;
    let jobs = store.len().max(1) as u64;
    println!("| tree | entries | key+value bytes | per job |");
    println!("|---|---:|---:|---:|");
    let mut meta = 0u64;
    for (name, tree) in [
        ("records", &store.records),
        ("timelines", &store.timelines),
        ("by_time", &store.by_time),
        ("index", &store.index),
        ("rollups", &store.rollups),
        ("bodies", &store.bodies),
    ] {
        let (mut n, mut bytes) = (0u64, 0u64);
        for kv in tree.iter() {
            let (k, v) = kv?;
            n += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        if name != "bodies" {
            meta += bytes;
        }
        println!("| {name} | {n} | {bytes} | {} |", bytes / jobs);
    }
    let search = store.search.size_on_disk();
    println!(
        "| full-text index (files) | | {search} | {} |",
        search / jobs
    );
    println!(
        "\n{jobs} jobs; records, events, indexes and rollups: {} B/job; on disk in all (the engine's files and the full-text index): {} B/job",
        meta / jobs,
        store.size_on_disk() / jobs
    );
    Ok(())
}
