//! NATS subject and stream names, derived from one configurable prefix (default `sy`).

use serde::{Deserialize, Serialize};

/// The partition of `token` of `n`, as nats-server's `partition(n, ...)` subject mapping
/// computes it: FNV-1a (32 bits) of the token, modulo `n`.
pub fn partition_of(token: &str, n: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in token.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % n.max(1)
}

/// Names of every subject, stream, consumer and bucket, derived from one prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subjects {
    prefix: String,
    /// The request log's partitions (`nats.log_partitions`; 1: not partitioned).
    #[serde(default = "one")]
    partitions: u32,
}

fn one() -> u32 {
    1
}

impl Default for Subjects {
    fn default() -> Self {
        Self::new("sy")
    }
}

impl Subjects {
    /// Names under `prefix` (for example `sy` gives `sy.jobs.<provider>`).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            partitions: 1,
        }
    }

    /// The same names with the request log cut into `n` partitions (at least 1).
    pub fn with_partitions(mut self, n: u32) -> Self {
        self.partitions = n.max(1);
        self
    }

    /// The request log's partitions (1: not partitioned).
    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// The partition of `job`'s events: what NATS's subject mapping `partition(n, 1)` gives
    /// for the job id (FNV-1a, 32 bits, modulo `n`), so a reader knows where the stream
    /// stored them.
    pub fn partition(&self, job: &str) -> u32 {
        partition_of(job, self.partitions)
    }

    /// The subject `job`'s events are stored under: `sy.events.<job>`, or with partitions
    /// `sy.events.<partition>.<job>` (the stream maps the one to the other).
    pub fn stored_events(&self, job: &str) -> String {
        if self.partitions > 1 {
            format!("{}.events.{}.{job}", self.prefix, self.partition(job))
        } else {
            self.events(job)
        }
    }

    /// `sy.events.<partition>.>`: the stored events of one partition.
    pub fn partition_events(&self, partition: u32) -> String {
        format!("{}.events.{partition}.>", self.prefix)
    }

    /// The prefix itself.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn upper(&self) -> String {
        self.prefix.to_uppercase().replace(['.', '-'], "_")
    }

    /// `sy.jobs.<provider>`: jobs waiting for a worker of that provider.
    pub fn jobs(&self, provider: &str) -> String {
        format!("{}.jobs.{provider}", self.prefix)
    }
    /// The subject of a provider's batch lines (their own lane and consumer).
    pub fn batch_jobs(&self, provider: &str) -> String {
        format!("{}.jobs.{provider}.batch", self.prefix)
    }
    /// The subject a job of `mode` waits on for `provider`.
    pub fn jobs_for(&self, provider: &str, mode: crate::Mode) -> String {
        if mode == crate::Mode::Batch {
            self.batch_jobs(provider)
        } else {
            self.jobs(provider)
        }
    }
    /// `sy.results.<job>`: the final result or error of a job.
    pub fn results(&self, job: &str) -> String {
        format!("{}.results.{job}", self.prefix)
    }
    /// `sy.resultsin.<job>`: where a worker publishes a result. `SY_RESULTS` stores it as
    /// `sy.results.<job>` and only then republishes it there, once (a duplicate is not stored,
    /// so not republished): a subscriber of `sy.results.*` sees each result once, even when
    /// a publish is retried through a NATS failover.
    pub fn results_intake(&self, job: &str) -> String {
        format!("{}.resultsin.{job}", self.prefix)
    }
    /// `sy.results.<ingress>.<job>`: a result delivered to the ingress waiting for it (core
    /// NATS, not stored; the stored copy is [`Self::results`]). `ingress` is a node name,
    /// made a subject token.
    pub fn reply(&self, ingress: &str, job: &str) -> String {
        format!("{}.results.{}.{job}", self.prefix, token(ingress))
    }
    /// `sy.results.<ingress>.*`: what an ingress subscribes to for the results it waits for.
    pub fn replies(&self, ingress: &str) -> String {
        self.reply(ingress, "*")
    }
    /// `sy.chunks.<job>`: streamed deltas (core NATS, not persisted).
    pub fn chunks(&self, job: &str) -> String {
        format!("{}.chunks.{job}", self.prefix)
    }
    /// `sy.events.<job>`: lifecycle events.
    pub fn events(&self, job: &str) -> String {
        format!("{}.events.{job}", self.prefix)
    }
    /// `sy.dead.<provider>`: jobs that exhausted their deliveries.
    pub fn dead(&self, provider: &str) -> String {
        format!("{}.dead.{provider}", self.prefix)
    }
    /// `sy.control.models.<provider>`: request-reply, a worker of the provider answers with its
    /// live model list ([`crate::ModelsReply`]).
    pub fn models(&self, provider: &str) -> String {
        format!("{}.control.models.{provider}", self.prefix)
    }
    /// The queue group of the models subjects, so one worker answers each request.
    pub fn models_queue(&self) -> String {
        format!("{}_models", self.prefix)
    }
    /// The jobs stream (`SY_JOBS`).
    pub fn jobs_stream(&self) -> String {
        format!("{}_JOBS", self.upper())
    }
    /// The results stream (`SY_RESULTS`).
    pub fn results_stream(&self) -> String {
        format!("{}_RESULTS", self.upper())
    }
    /// The events stream (`SY_EVENTS`).
    pub fn events_stream(&self) -> String {
        format!("{}_EVENTS", self.upper())
    }
    /// The dead-letter stream (`SY_DEAD`).
    pub fn dead_stream(&self) -> String {
        format!("{}_DEAD", self.upper())
    }
    /// The durable consumer shared by every worker of a provider.
    pub fn worker_consumer(&self, provider: &str) -> String {
        format!(
            "{}_worker_{}",
            self.prefix,
            provider.replace(['.', '*', '>'], "_")
        )
    }
    /// The KV bucket of cancelled job ids (watched by every worker).
    pub fn cancel_bucket(&self) -> String {
        format!("{}_cancel", self.prefix)
    }
    /// The KV bucket of circuit-breaker states, by provider.
    pub fn circuits_bucket(&self) -> String {
        format!("{}_circuits", self.prefix)
    }
    /// The JetStream advisory published when a job exhausts `max_deliver`.
    pub fn max_deliveries_advisory(&self) -> String {
        format!(
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.*",
            self.jobs_stream()
        )
    }
    /// The KV bucket mapping idempotency keys to job ids.
    pub fn idempotency_bucket(&self) -> String {
        format!("{}_idempotency", self.prefix)
    }
    /// The KV bucket of virtual keys (hashed) and the gateway's salt.
    pub fn keys_bucket(&self) -> String {
        format!("{}_keys", self.prefix)
    }
    /// The KV bucket of per-minute request and token counts, per key.
    pub fn rates_bucket(&self) -> String {
        format!("{}_rates", self.prefix)
    }
    /// The KV bucket of budget spend, per key and period.
    pub fn spend_bucket(&self) -> String {
        format!("{}_spend", self.prefix)
    }
    /// The subject of a cached prompt's embedding (`SY_CACHE_VECTORS`).
    pub fn cache_vectors(&self, job: &str) -> String {
        format!("{}.cachevec.{job}", self.prefix)
    }
    /// The stream of cached prompts' embeddings.
    pub fn cache_vectors_stream(&self) -> String {
        format!("{}_CACHE_VECTORS", self.upper())
    }
    /// The core subject of a batch's progress (its state as `GET /v1/batches/{id}` shows it,
    /// after every step).
    pub fn batch_progress(&self, batch: &str) -> String {
        format!("{}.batches.{batch}", self.prefix)
    }
    /// The KV bucket of batches.
    pub fn batches_bucket(&self) -> String {
        format!("{}_batches", self.prefix)
    }
    /// The subject of a finished batch line's output line: `ok` (an answer) or `err`.
    pub fn batch_results(&self, batch: &str, ok: bool) -> String {
        format!(
            "{}.batchresults.{batch}.{}",
            self.prefix,
            if ok { "ok" } else { "err" }
        )
    }
    /// The stream of batch lines' output lines.
    pub fn batch_results_stream(&self) -> String {
        format!("{}_BATCH_RESULTS", self.upper())
    }
    /// The object store of uploaded files.
    pub fn files_bucket(&self) -> String {
        format!("{}_files", self.prefix)
    }
    /// The KV bucket of the response cache.
    pub fn cache_bucket(&self) -> String {
        format!("{}_cache", self.prefix)
    }
    /// The KV bucket of every process's heartbeat.
    pub fn nodes_bucket(&self) -> String {
        format!("{}_nodes", self.prefix)
    }
    /// The KV bucket of bulk replays' progress.
    pub fn bulk_bucket(&self) -> String {
        format!("{}_bulk", self.prefix)
    }
    /// The subject of an admin action of kind `action` (`key.created`, ...).
    pub fn admin(&self, action: &str) -> String {
        format!("{}.admin.{action}", self.prefix)
    }
    /// The stream of admin actions.
    pub fn admin_stream(&self) -> String {
        format!("{}_ADMIN", self.prefix.to_uppercase())
    }
}

/// `name` as one subject token: the characters NATS gives a meaning (`.`, `*`, `>`) and
/// white space become `_`.
pub fn token(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '.' | '*' | '>' => '_',
            c if c.is_whitespace() => '_',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_fnv1a_of_the_job_id() {
        // FNV-1a 32 test vectors.
        assert_eq!(partition_of("", u32::MAX), 0x811c_9dc5);
        assert_eq!(partition_of("a", u32::MAX), 0xe40c_292c);
        assert_eq!(partition_of("foobar", u32::MAX), 0xbf9c_f968);
        let s = Subjects::new("sy").with_partitions(3);
        assert_eq!(s.partition("foobar"), 0xbf9c_f968 % 3);
        assert_eq!(
            s.stored_events("foobar"),
            format!("sy.events.{}.foobar", 0xbf9c_f968_u32 % 3)
        );
        assert_eq!(Subjects::new("sy").stored_events("j"), "sy.events.j");
        assert_eq!(s.partition_events(2), "sy.events.2.>");
    }

    #[test]
    fn names_follow_the_prefix() {
        let s = Subjects::new("acme");
        assert_eq!(s.jobs("openai"), "acme.jobs.openai");
        assert_eq!(s.results("j1"), "acme.results.j1");
        assert_eq!(s.jobs_stream(), "ACME_JOBS");
        assert_eq!(Subjects::default().events("x"), "sy.events.x");
        assert_eq!(s.models("groq"), "acme.control.models.groq");
    }
}
