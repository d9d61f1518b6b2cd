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
    /// `[telemetry]`: OpenTelemetry traces.
    pub telemetry: TelemetryConfig,
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
