//! Streams and buckets: created when missing, updated when their config changed.

use crate::config::NatsConfig;
use async_nats::jetstream::{self, kv, stream};
use schemas::Subjects;
use std::time::Duration;

/// Handles on the streams and buckets, shared by every role of a process.
#[derive(Clone)]
pub struct Topology {
    /// The copies each stream and bucket is made with (`nats.replicas`, or detected).
    pub replicas: usize,
    /// Subject and stream names.
    pub subjects: Subjects,
    /// The JetStream context.
    pub js: jetstream::Context,
    /// `SY_JOBS`.
    pub jobs: stream::Stream,
    /// `SY_RESULTS`.
    pub results: stream::Stream,
    /// `SY_EVENTS`.
    pub events: stream::Stream,
    /// `SY_DEAD`.
    pub dead: stream::Stream,
    /// Idempotency keys to job ids.
    pub idempotency: kv::Store,
    /// Cancelled job ids.
    pub cancel: kv::Store,
    /// Circuit-breaker states by provider.
    pub circuits: kv::Store,
    /// Virtual keys (hashed) and the salt.
    pub keys: kv::Store,
    /// Per-minute request and token counts, per key.
    pub rates: kv::Store,
    /// Budget spend, per key and period.
    pub spend: kv::Store,
    /// Bulk replays' progress.
    pub bulk: kv::Store,
    /// Every running process's heartbeat.
    pub nodes: kv::Store,
    /// The response cache (`sy_cache`, a TTL per entry); none when the server cannot keep
    /// TTLs per message (before nats-server 2.11).
    pub cache: Option<kv::Store>,
    /// `SY_CACHE_VECTORS`: embeddings of cached prompts, for every worker's semantic index.
    pub cache_vectors: Option<stream::Stream>,
    /// Batches (`sy_batches`): their state and progress.
    pub batches: kv::Store,
    /// `SY_BATCH_RESULTS`: each finished batch line's output line.
    pub batch_results: stream::Stream,
    /// Uploaded files (`sy_files`, the JetStream object store).
    pub files: async_nats::jetstream::object_store::ObjectStore,
    /// `SY_ADMIN`: admin actions (keys created, revoked, ...), kept a year.
    pub admin: stream::Stream,
}

/// How long admin actions stay in `SY_ADMIN`.
pub const ADMIN_MAX_AGE: Duration = Duration::from_secs(365 * 24 * 3600);

/// How long a spend counter lives without being written: past the longest budget period.
pub const SPEND_TTL: Duration = Duration::from_secs(40 * 24 * 3600);

/// How long a per-minute counter lives without being written.
pub const RATES_TTL: Duration = Duration::from_secs(180);

async fn bucket(
    js: &jetstream::Context,
    name: String,
    max_age: Duration,
    replicas: usize,
) -> Result<kv::Store, async_nats::Error> {
    match js.get_key_value(&name).await {
        Ok(kv) => {
            // A bucket made by an older version may lack its TTL (circuits had none).
            let stream = format!("KV_{name}");
            let mut s = js.get_stream(&stream).await?;
            let mut config = s.info().await?.config.clone();
            if config.max_age != max_age {
                tracing::info!(bucket = %name, max_age_s = max_age.as_secs(), "updating the bucket's TTL");
                config.max_age = max_age;
                js.update_stream(&config).await?;
            }
            super::replicas::align(js, &stream, replicas).await;
            Ok(kv)
        }
        Err(_) => Ok(js
            .create_key_value(kv::Config {
                bucket: name,
                max_age,
                storage: stream::StorageType::File,
                num_replicas: replicas,
                ..Default::default()
            })
            .await?),
    }
}

/// How long a circuit record lives in `sy_circuits` without being rewritten. An open
/// circuit is trusted only until its own `open_until_ms` anyway; the TTL keeps records of
/// targets nobody calls any more from piling up.
pub const CIRCUIT_TTL: Duration = Duration::from_secs(3600);

async fn upsert(
    js: &jetstream::Context,
    cfg: stream::Config,
) -> Result<stream::Stream, async_nats::Error> {
    match js.get_stream(&cfg.name).await {
        Ok(mut s) => {
            let current = s.info().await?.config.clone();
            let fixed = super::replicas::fixed_differences(&current, &cfg);
            if !fixed.is_empty() {
                tracing::warn!(stream = %cfg.name, differs = %fixed.join("; "), "the stream was made with settings that cannot change in place; it is used as it is. To change them, back up and delete the stream, then start again");
            }
            let changes = super::replicas::differences(&current, &cfg);
            if !changes.is_empty() {
                tracing::warn!(stream = %cfg.name, changes = %changes.join("; "), "the stream's settings differ from this config; updating");
                js.update_stream(&cfg).await?;
            }
            Ok(js.get_stream(&cfg.name).await?)
        }
        Err(_) => Ok(js.create_stream(cfg).await?),
    }
}

/// The response cache's bucket: entries expire by their own TTL (per-message TTLs, nats-server
/// 2.11 and later), and a week at most.
async fn cache_bucket(js: &jetstream::Context, name: String, replicas: usize) -> Option<kv::Store> {
    if let Ok(kv) = js.get_key_value(&name).await {
        super::replicas::align(js, &format!("KV_{name}"), replicas).await;
        return Some(kv);
    }
    let made = js
        .create_key_value(kv::Config {
            bucket: name,
            max_age: Duration::from_secs(7 * 24 * 3600),
            storage: stream::StorageType::File,
            num_replicas: replicas,
            limit_markers: Some(Duration::from_secs(60)),
            ..Default::default()
        })
        .await;
    match made {
        Ok(kv) => Some(kv),
        Err(e) => {
            tracing::warn!(error = %e, "cannot create the response cache's bucket (needs nats-server 2.11 or later); the cache is off");
            None
        }
    }
}

/// The object store of uploaded files.
async fn files_store(
    js: &jetstream::Context,
    name: String,
    replicas: usize,
) -> Result<async_nats::jetstream::object_store::ObjectStore, async_nats::Error> {
    if let Ok(s) = js.get_object_store(&name).await {
        super::replicas::align(js, &format!("OBJ_{name}"), replicas).await;
        return Ok(s);
    }
    Ok(js
        .create_object_store(async_nats::jetstream::object_store::Config {
            bucket: name,
            storage: stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
        .await?)
}

/// [`upsert`], boxed: `ensure_topology` awaits many of them, and its state machine would
/// otherwise outgrow a thread's stack in a debug build.
async fn boxed_upsert(
    js: &jetstream::Context,
    cfg: stream::Config,
) -> Result<stream::Stream, async_nats::Error> {
    Box::pin(upsert(js, cfg)).await
}

/// [`bucket`], boxed (see [`boxed_upsert`]).
async fn boxed_bucket(
    js: &jetstream::Context,
    name: String,
    max_age: Duration,
    replicas: usize,
) -> Result<kv::Store, async_nats::Error> {
    Box::pin(bucket(js, name, max_age, replicas)).await
}

/// The partitions `SY_EVENTS` stores events in (its subject transform's `partition(n, ...)`),
/// 1 when it has none or does not exist yet.
pub async fn stored_partitions(js: &jetstream::Context, subjects: &Subjects) -> u32 {
    let Ok(mut events) = js.get_stream(subjects.events_stream()).await else {
        return 1;
    };
    let Ok(info) = events.info().await else {
        return 1;
    };
    info.config
        .subject_transform
        .as_ref()
        .and_then(|t| partitions_of(&t.destination))
        .unwrap_or(1)
}

/// `n` of a subject transform's `{{partition(n,...)}}`.
fn partitions_of(destination: &str) -> Option<u32> {
    let rest = &destination[destination.find("partition(")? + "partition(".len()..];
    rest[..rest.find([',', ')'])?].trim().parse().ok()
}

/// Creates (or updates) every stream and bucket and returns their handles.
pub async fn ensure_topology(
    client: async_nats::Client,
    cfg: &NatsConfig,
) -> Result<Topology, async_nats::Error> {
    let replicas = super::replicas::effective(&client, cfg.replicas);
    let js = jetstream::new(client);
    let partitions = match cfg.log_partitions {
        Some(n) => n,
        None => Box::pin(stored_partitions(&js, &Subjects::new(&cfg.prefix))).await,
    };
    let subjects = Subjects::new(&cfg.prefix).with_partitions(partitions);
    let p = subjects.prefix();
    let jobs = boxed_upsert(
        &js,
        stream::Config {
            name: subjects.jobs_stream(),
            subjects: vec![format!("{p}.jobs.>")],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            num_replicas: replicas,
            duplicate_window: Duration::from_secs(120),
            allow_direct: true,
            ..Default::default()
        },
    )
    .await?;
    // Limits streams: results (the last per job), events and dead letters.
    let limits = |name: String, subject: String, max_age_s: u64, per_subject: i64| stream::Config {
        name,
        subjects: vec![subject],
        storage: stream::StorageType::File,
        num_replicas: replicas,
        max_age: Duration::from_secs(max_age_s),
        max_messages_per_subject: per_subject,
        duplicate_window: Duration::from_secs(120),
        allow_direct: true,
        ..Default::default()
    };
    // Results: published on `sy.resultsin.<job>`, stored as `sy.results.<job>` and
    // republished there once stored (see `Subjects::results_intake`).
    let results = boxed_upsert(
        &js,
        stream::Config {
            subject_transform: Some(stream::SubjectTransform {
                source: format!("{p}.resultsin.*"),
                destination: format!("{p}.results.{{{{wildcard(1)}}}}"),
            }),
            republish: Some(stream::Republish {
                source: format!("{p}.results.*"),
                destination: format!("{p}.results.{{{{wildcard(1)}}}}"),
                headers_only: false,
            }),
            ..limits(
                subjects.results_stream(),
                format!("{p}.resultsin.*"),
                cfg.results_max_age_s,
                1,
            )
        },
    )
    .await?;
    // With partitions, a job's events are stored under `sy.events.<partition>.<job>`: what
    // each auditor of a partitioned log consumes (`Subjects::partition`).
    let mut events_cfg = limits(
        subjects.events_stream(),
        format!("{p}.events.>"),
        cfg.events_max_age_s,
        -1,
    );
    if partitions > 1 {
        events_cfg.subject_transform = Some(stream::SubjectTransform {
            source: format!("{p}.events.*"),
            destination: format!(
                "{p}.events.{{{{partition({partitions},1)}}}}.{{{{wildcard(1)}}}}"
            ),
        });
    }
    let events = boxed_upsert(&js, events_cfg).await?;
    let dead = boxed_upsert(
        &js,
        limits(
            subjects.dead_stream(),
            format!("{p}.dead.>"),
            cfg.events_max_age_s,
            -1,
        ),
    )
    .await?;
    let day = Duration::from_secs(24 * 3600);
    let idempotency = boxed_bucket(&js, subjects.idempotency_bucket(), day, replicas).await?;
    let cancel = boxed_bucket(&js, subjects.cancel_bucket(), day, replicas).await?;
    let circuits = boxed_bucket(&js, subjects.circuits_bucket(), CIRCUIT_TTL, replicas).await?;
    let keys = boxed_bucket(&js, subjects.keys_bucket(), Duration::ZERO, replicas).await?;
    let rates = boxed_bucket(&js, subjects.rates_bucket(), RATES_TTL, replicas).await?;
    let spend = boxed_bucket(&js, subjects.spend_bucket(), SPEND_TTL, replicas).await?;
    let week = Duration::from_secs(7 * 24 * 3600);
    let bulk = boxed_bucket(&js, subjects.bulk_bucket(), week, replicas).await?;
    let nodes = boxed_bucket(
        &js,
        subjects.nodes_bucket(),
        super::heartbeat::TTL,
        replicas,
    )
    .await?;
    let admin = boxed_upsert(
        &js,
        stream::Config {
            name: subjects.admin_stream(),
            subjects: vec![format!("{p}.admin.>")],
            storage: stream::StorageType::File,
            num_replicas: replicas,
            max_age: ADMIN_MAX_AGE,
            allow_direct: true,
            ..Default::default()
        },
    )
    .await?;
    let cache = Box::pin(cache_bucket(&js, subjects.cache_bucket(), replicas)).await;
    let files = Box::pin(files_store(&js, subjects.files_bucket(), replicas)).await?;
    let batches = boxed_bucket(&js, subjects.batches_bucket(), Duration::ZERO, replicas).await?;
    let batch_results = boxed_upsert(
        &js,
        stream::Config {
            name: subjects.batch_results_stream(),
            subjects: vec![format!("{p}.batchresults.>")],
            storage: stream::StorageType::File,
            num_replicas: replicas,
            max_age: Duration::from_secs(30 * 24 * 3600),
            duplicate_window: Duration::from_secs(120),
            allow_direct: true,
            ..Default::default()
        },
    )
    .await?;
    let cache_vectors = boxed_upsert(
        &js,
        stream::Config {
            name: subjects.cache_vectors_stream(),
            subjects: vec![format!("{p}.cachevec.>")],
            storage: stream::StorageType::File,
            num_replicas: replicas,
            max_age: Duration::from_secs(7 * 24 * 3600),
            ..Default::default()
        },
    )
    .await
    .ok();
    Ok(Topology {
        replicas,
        subjects,
        js,
        jobs,
        results,
        events,
        dead,
        idempotency,
        cancel,
        circuits,
        keys,
        rates,
        spend,
        bulk,
        nodes,
        cache,
        cache_vectors,
        batches,
        batch_results,
        files,
        admin,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_partition_count_is_read_from_the_transform() {
        let d = "sy.events.{{partition(3,1)}}.{{wildcard(1)}}";
        assert_eq!(super::partitions_of(d), Some(3));
        assert_eq!(
            super::partitions_of("sy.events.{{ partition( 12 , 1) }}"),
            Some(12)
        );
        assert_eq!(super::partitions_of("sy.results.{{wildcard(1)}}"), None);
    }
}
