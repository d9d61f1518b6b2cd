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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 4 * 1024 * 1024,
            request_timeout_ms: 120_000,
            node: None,
            builtin_mock: true,
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
    /// Stream replicas (3 on a 3-node cluster).
    pub replicas: usize,
    /// How long results stay in `SY_RESULTS`.
    pub results_max_age_s: u64,
    /// How long events stay in `SY_EVENTS`.
    pub events_max_age_s: u64,
    /// Credentials file for NATS auth.
    pub credentials: Option<PathBuf>,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: None,
            data_dir: PathBuf::from(".switchyard"),
            server_bin: "nats-server".into(),
            prefix: "sy".into(),
            replicas: 1,
            results_max_age_s: 24 * 3600,
            events_max_age_s: 7 * 24 * 3600,
            credentials: None,
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
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 256,
            max_in_flight: 1024,
            ack_wait_ms: 30_000,
            max_deliver: 5,
        }
    }
}

/// `[auditor]`: the durable request log (see `broker::auditor`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditorConfig {
    /// Where the sled store lives (default: `<nats.data_dir>/auditor`).
    pub data_dir: Option<PathBuf>,
    /// The durable consumer names' stem: each auditor with its own name keeps a full copy.
    pub consumer: String,
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
}

impl Default for AuditorConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            consumer: "sy_auditor".into(),
            max_age_s: 7 * 24 * 3600,
            max_bytes: 0,
            retention_interval_s: 60,
            store_bodies: true,
            redact_paths: Vec::new(),
            batch: 1000,
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
    /// The adapter: `mock`, `openai`, ...
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
    /// Adapter-specific keys (`latency_ms`, `api_version`, `region`, ...).
    #[serde(flatten)]
    pub options: toml::Table,
}

/// `[models.<alias>]`: an alias for one target (`provider/model`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelAlias {
    /// The target, `provider/model`.
    #[serde(default)]
    pub target: Option<String>,
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
