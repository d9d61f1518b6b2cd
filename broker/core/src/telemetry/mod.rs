//! Observability: logs, OpenTelemetry traces and Prometheus metrics.
//!
//! [`init`] installs the process-wide `tracing` subscriber: text or JSON logs on stderr and,
//! when an OTLP endpoint is configured, a layer turning spans into OpenTelemetry spans
//! exported over OTLP/HTTP. Without an endpoint no exporter runs; spans cost what
//! `tracing` spans cost. [`metrics`] is the in-process Prometheus registry.

pub mod fields;
pub mod logs;
pub mod metrics;
pub mod otel;
pub mod propagation;
pub mod registry;

use crate::config::TelemetryConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines with the span context.
    Text,
    /// One JSON object per line with the job id ([`logs::JsonLines`]).
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "log format `{other}` is unknown; use `text` or `json`"
            )),
        }
    }
}

/// What [`init`] installed; call [`Telemetry::shutdown`] before exiting to flush spans.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    /// Where traces go, when exported.
    pub traces_url: Option<String>,
}

impl Telemetry {
    /// Flushes and stops the exporter (waits at most a few seconds).
    pub async fn shutdown(self) {
        let Some(p) = self.provider else { return };
        let flush = tokio::task::spawn_blocking(move || p.shutdown());
        match tokio::time::timeout(std::time::Duration::from_secs(5), flush).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "cannot flush the last spans"),
            _ => tracing::warn!("the OTLP exporter did not stop within 5 s; spans may be lost"),
        }
    }
}

/// Whether text logs are coloured: only on a terminal, and never with `NO_COLOR` set.
fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Installs logs (filtered by `RUST_LOG`, default `info`) and, with `cfg` naming an
/// endpoint (or `OTEL_EXPORTER_OTLP_ENDPOINT` set), the OTLP trace exporter; `None`
/// installs logs only. Call once, inside the Tokio runtime.
pub fn init(cfg: Option<&TelemetryConfig>, format: LogFormat) -> Result<Telemetry, String> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,async_nats=warn"));
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .fmt_fields(fields::JsonSpanFields)
            .event_format(logs::JsonLines)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(colour())
            .fmt_fields(fields::TextFields)
            .boxed(),
    };
    let url = cfg.and_then(|c| otel::traces_url(c, |k| std::env::var(k).ok()));
    let (otel_layer, provider) = match (cfg, &url) {
        (Some(cfg), Some(u)) => {
            let provider = otel::provider(cfg, u)?;
            opentelemetry::global::set_tracer_provider(provider.clone());
            let layer = tracing_opentelemetry::layer()
                .with_tracer(otel::tracer(&provider))
                .with_tracked_inactivity(false)
                .with_threads(false);
            (Some(layer), Some(provider))
        }
        _ => (None, None),
    };
    tracing_subscriber::registry()
        .with(fmt)
        .with(otel_layer)
        .with(filter)
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))?;
    if let Some(u) = &url {
        tracing::info!(endpoint = %u, "exporting traces over OTLP/HTTP");
    }
    Ok(Telemetry {
        provider,
        traces_url: url,
    })
}
