//! The configuration types. Every key has a default, so an empty file is a valid config.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[server]`: the HTTP ingress.
    pub server: ServerConfig,
    /// `[nats]`: the broker connection, or the managed local nats-server.
    pub nats: NatsConfig,
    /// `[worker]`: job execution.
    pub worker: WorkerConfig,
    /// `[providers.<name>]`.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// `[models.<alias>]`.
    pub models: BTreeMap<String, ModelAlias>,
    /// `[auditor]`: the request log.
    pub auditor: AuditorConfig,
    /// `[telemetry]`: OpenTelemetry traces.
    pub telemetry: TelemetryConfig,
    /// `[auth]`: the master key and how open the gateway is without one.
    pub auth: super::AuthConfig,
    /// `[prices."<model>"]`: token prices over the shipped table.
    pub prices: super::Prices,
    /// `[cache]`: the response cache.
    pub cache: super::CacheConfig,
    /// `[files]`: uploaded files (`/v1/files`).
    pub files: FilesConfig,
}

/// `[files]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// The largest file accepted, bytes (OpenAI's limit: 200 MB).
    pub max_bytes: usize,
    /// How long a batch may run before it expires, seconds: the `24h` completion window
    /// (shorter, for a gateway that wants batches done sooner).
    pub batch_window_s: u64,
    /// The most lines a second one batch sends to the workers, in small steps every 10 ms
    /// (interactive requests beside a batch wait behind a burst of its jobs, not behind a
    /// steady rate): 2,200 keeps a two-core machine's interactive p99 within a few
    /// milliseconds of its own (`bench/batchbench.sh`). Providers' own limits apply as well.
    pub batch_lines_per_s: u32,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            max_bytes: 200 * 1024 * 1024,
            batch_window_s: 24 * 3600,
            batch_lines_per_s: 2_200,
        }
    }
}

/// `[telemetry]`: where traces go. Without an endpoint (here or in
/// `OTEL_EXPORTER_OTLP_ENDPOINT`) no exporter runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP base URL of the collector, e.g. `http://localhost:4318` (traces go to
    /// `<endpoint>/v1/traces`). Absent: `OTEL_EXPORTER_OTLP_ENDPOINT`, else no export.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans (`OTEL_SERVICE_NAME` wins when set).
    pub service_name: String,
    /// Share of new traces sampled, 0.0 to 1.0; a client's sampled flag is honoured.
    pub sample_ratio: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "switchyard".into(),
            sample_ratio: 1.0,
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// How long a sync or streaming request waits for its job before answering 504.
    pub request_timeout_ms: u64,
    /// The name of this process in events (default: hostname and pid).
    pub node: Option<String>,
    /// Register the built-in `mock` provider when no provider is named `mock`.
    pub builtin_mock: bool,
    /// How long a client may take to send a request's headers (a new connection's first
    /// request, and each next one on a keep-alive connection) before it is closed.
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request's body before it gets a 408.
    pub body_read_timeout_ms: u64,
    /// How long a keep-alive connection may stay idle between requests before it is closed.
    pub idle_timeout_ms: u64,
    /// Client connections served at once; further ones wait in the listen backlog until one
    /// closes.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 4 * 1024 * 1024,
            request_timeout_ms: 120_000,
            node: None,
            builtin_mock: true,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            max_connections: 10_000,
        }
    }
}

/// `[nats]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConfig {
    /// NATS URL(s), comma-separated. Absent: `serve` starts a local nats-server.
    pub url: Option<String>,
    /// Where the managed nats-server keeps its JetStream store (and the auditor its data).
    pub data_dir: PathBuf,
    /// The nats-server binary for the managed server.
    pub server_bin: String,
    /// Subject prefix.
    pub prefix: String,
    /// Copies of each stream and bucket; absent: 1 on a single server, 3 on a cluster
    /// (detected from the server's INFO).
    pub replicas: Option<usize>,
    /// How long a role waits at start for JetStream to answer (a cluster electing its
    /// leader) before it gives up.
    pub jetstream_wait_s: u64,
    /// How long results stay in `SY_RESULTS`.
    pub results_max_age_s: u64,
    /// How long events stay in `SY_EVENTS`.
    pub events_max_age_s: u64,
    /// The request log's partitions: above 1, `SY_EVENTS` stores a job's events under
    /// `sy.events.<partition>.<job>` (NATS subject mapping), each auditor keeps the partition
    /// its `[auditor] partition` names, and queries fan out to one auditor per partition.
    /// Absent: what `SY_EVENTS` has at start (1 for a new one), so a process without it
    /// never undoes a partitioned log; set, the stream is made to match.
    pub log_partitions: Option<u32>,
    /// A NATS `.creds` file (user JWT and nkey seed, from `nsc`).
    pub credentials: Option<PathBuf>,
    /// A NATS user (with `password`). The managed server makes its own.
    pub user: Option<String>,
    /// The NATS user's password.
    pub password: Option<Secret>,
    /// A NATS token.
    pub token: Option<Secret>,
    /// A NATS nkey seed (`SU...`) of an nkey user.
    pub nkey_seed: Option<Secret>,
    /// Require TLS to NATS (implied by `tls_ca` and `tls_cert`; `tls://` URLs too).
    pub tls: bool,
    /// CA certificate (PEM) that signed the NATS servers' certificates.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for servers that verify clients (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub tls_key: Option<PathBuf>,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: None,
            data_dir: PathBuf::from(".switchyard"),
            server_bin: "nats-server".into(),
            prefix: "sy".into(),
            replicas: None,
            jetstream_wait_s: 300,
            results_max_age_s: 24 * 3600,
            events_max_age_s: 7 * 24 * 3600,
            log_partitions: None,
            credentials: None,
            user: None,
            password: None,
            token: None,
            nkey_seed: None,
            tls: false,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `[worker]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Jobs one worker process runs at once per provider.
    pub concurrency: usize,
    /// Cluster-wide cap of jobs in flight per provider (the consumer's `max_ack_pending`).
    pub max_in_flight: i64,
    /// How long a job may go without an ack before it is redelivered.
    pub ack_wait_ms: u64,
    /// Deliveries of one job before it is dead-lettered.
    pub max_deliver: i64,
    /// On shutdown, how long in-flight jobs may finish before they are handed back (nak).
    pub drain_timeout_ms: u64,
    /// Cluster-wide cap of batch lines in flight per provider (the batch lane's consumer).
    pub batch_max_in_flight: i64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 256,
            max_in_flight: 1024,
            ack_wait_ms: 30_000,
            max_deliver: 5,
            drain_timeout_ms: 30_000,
            batch_max_in_flight: 64,
        }
    }
}

/// `[auditor]`: the durable request log (see `broker::auditor`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditorConfig {
    /// Where the request log's store lives (default: `<nats.data_dir>/auditor`).
    pub data_dir: Option<PathBuf>,
    /// The durable consumer names' stem: each auditor with its own name keeps a full copy
    /// (of its partition, with one).
    pub consumer: String,
    /// With `nats.log_partitions` above 1: the partition this auditor keeps (0 to
    /// `log_partitions - 1`) and answers queries for; absent, it keeps every job (a full
    /// copy, answering unpartitioned queries).
    pub partition: Option<u32>,
    /// Records older than this are deleted (0 = keep forever).
    pub max_age_s: u64,
    /// Oldest records are deleted while the stored data is larger than this (0 = no limit).
    pub max_bytes: u64,
    /// How often retention runs.
    pub retention_interval_s: u64,
    /// Store request and response bodies (redacted); `false` stores none.
    pub store_bodies: bool,
    /// Extra JSON paths to redact in bodies, dotted (`metadata.user`, `messages.*.content`).
    pub redact_paths: Vec<String>,
    /// Messages fetched and written per batch.
    pub batch: usize,
    /// The memory budget of the store in MB: the engine's cache takes a third, the full-text
    /// index's writer an eighth (at least 15 MB).
    pub memory_mb: u64,
    /// The storage engine of a new store: `fjall` (default) or `sled` (an existing store
    /// keeps the engine it was made with).
    pub engine: StoreEngine,
    /// The share of the CPU the auditor's ingest may take, 0.05 to 1 (default: 1 when it
    /// runs alone, 0.25 inside `serve` beside the request path). A backlog waits in
    /// JetStream and drains when the load drops.
    pub cpu_share: Option<f64>,
}

/// `[auditor] engine`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreEngine {
    /// fjall, an LSM tree (the default).
    #[default]
    Fjall,
    /// sled, the engine of earlier versions.
    Sled,
}

impl Default for AuditorConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            consumer: "sy_auditor".into(),
            partition: None,
            max_age_s: 7 * 24 * 3600,
            max_bytes: 0,
            retention_interval_s: 60,
            store_bodies: true,
            redact_paths: Vec::new(),
            batch: 1000,
            memory_mb: 128,
            engine: StoreEngine::Fjall,
            cpu_share: None,
        }
    }
}

impl Config {
    /// The auditor's store directory.
    pub fn auditor_dir(&self) -> PathBuf {
        self.auditor
            .data_dir
            .clone()
            .unwrap_or_else(|| self.nats.data_dir.join("auditor"))
    }
}

/// `[providers.<name>]`: one upstream. Adapter-specific keys stay in `options`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderConfig {
    /// The adapter: `mock`, `openai`, ...; a section named after a kind may leave it out.
    #[serde(default)]
    pub kind: String,
    /// Base URL of the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The API key (use `${ENV_VAR}`); never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// Models this provider serves (used to resolve bare model names and for /v1/models).
    #[serde(default)]
    pub models: Vec<String>,
    /// Cluster-wide cap of this provider's jobs in flight (default `worker.max_in_flight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<i64>,
    /// Retries of retryable upstream errors.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Upstream timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// The circuit breaker.
    #[serde(default)]
    pub circuit: CircuitPolicy,
    /// Adapter-specific keys (`latency_ms`, `api_version`, `region`, ...).
    #[serde(flatten)]
    pub options: toml::Table,
}

/// `[providers.<name>.retry]`: exponential backoff with full jitter, bounded by the deadline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts on one target, the first included (1 = no retries).
    pub max_attempts: u32,
    /// The first backoff step.
    pub base_ms: u64,
    /// The largest backoff step.
    pub max_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_ms: 200,
            max_ms: 10_000,
        }
    }
}

/// `[providers.<name>.timeouts]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// TCP/TLS connect.
    pub connect_ms: u64,
    /// Until the first byte of the answer (streams: the first chunk).
    pub first_byte_ms: u64,
    /// Between two stream chunks.
    pub idle_ms: u64,
    /// One whole attempt.
    pub total_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect_ms: 10_000,
            first_byte_ms: 120_000,
            idle_ms: 60_000,
            total_ms: 600_000,
        }
    }
}

/// `[providers.<name>.circuit]`: opens on consecutive failures or a high error rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitPolicy {
    /// Consecutive failures that open the circuit.
    pub consecutive_failures: u32,
    /// Error rate (0–1) over the last `window` calls that opens the circuit.
    pub error_rate: f64,
    /// Calls the error rate is computed over.
    pub window: u32,
    /// Calls needed before the error rate counts.
    pub min_calls: u32,
    /// How long the circuit stays open before a half-open probe.
    pub open_ms: u64,
}

impl Default for CircuitPolicy {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            error_rate: 0.5,
            window: 20,
            min_calls: 10,
            open_ms: 30_000,
        }
    }
}

/// One weighted target of an alias.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedTarget {
    /// `provider/model`.
    pub target: String,
    /// Relative share of traffic.
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// `[models.<alias>]`: an alias for one target (`target`) or several weighted ones
/// (`targets`), with fallbacks tried in order when they fail.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelAlias {
    /// The target, `provider/model`.
    #[serde(default)]
    pub target: Option<String>,
    /// Weighted targets sharing the traffic (several keys, deployments or providers).
    #[serde(default)]
    pub targets: Vec<WeightedTarget>,
    /// Targets tried in order when the one before fails (fallbacks).
    #[serde(default)]
    pub fallbacks: Vec<String>,
}

/// A secret string: shown as `***` in Debug and never serialized in clear.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret, for the one place that sends it upstream.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}
