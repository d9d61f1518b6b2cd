//! The OTLP/HTTP trace exporter and the tracer behind the `tracing` spans.

use crate::config::TelemetryConfig;
use opentelemetry::trace::{
    Span as _, SpanKind, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{
    span_processor_with_async_runtime::BatchSpanProcessor, Sampler, SdkTracerProvider, Tracer,
};
use opentelemetry_sdk::Resource;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The instrumentation scope of every span.
pub const SCOPE: &str = "switchyard";

/// Where traces go: `telemetry.otlp_endpoint`, else `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
/// (used as is), else `OTEL_EXPORTER_OTLP_ENDPOINT`; `None` turns export off.
pub fn traces_url(cfg: &TelemetryConfig, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let nonempty = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if let Some(base) = nonempty(cfg.otlp_endpoint.clone()) {
        return Some(with_traces_path(&base));
    }
    if let Some(full) = nonempty(env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
        return Some(full);
    }
    nonempty(env("OTEL_EXPORTER_OTLP_ENDPOINT")).map(|b| with_traces_path(&b))
}

fn with_traces_path(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    }
}

/// A tracer provider exporting to `url` in batches on the Tokio runtime (call from inside
/// it). The sampler follows the caller's sampled flag and samples new traces at
/// `sample_ratio`.
pub fn provider(cfg: &TelemetryConfig, url: &str) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot build the OTLP exporter for {url}: {e}"))?;
    let processor =
        BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    let service = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| cfg.service_name.clone());
    let resource = Resource::builder()
        .with_service_name(service)
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            cfg.sample_ratio,
        ))))
        .with_resource(resource)
        .build())
}

/// The tracer of `provider` for the tracing layer.
pub fn tracer(provider: &SdkTracerProvider) -> Tracer {
    provider.tracer(SCOPE)
}

fn at_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// Records a finished span with explicit times (for intervals no code runs in, such as the
/// wait in the queue) as a child of `parent`, through the global tracer (a no-op when no
/// exporter is installed).
pub fn record_interval(
    parent: &Context,
    name: &'static str,
    start_ms: u64,
    end_ms: u64,
    attributes: Vec<KeyValue>,
) {
    if !parent.span().span_context().is_valid() {
        return;
    }
    let tracer = opentelemetry::global::tracer(SCOPE);
    let mut span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Internal)
        .with_start_time(at_ms(start_ms))
        .with_attributes(attributes)
        .start_with_context(&tracer, parent);
    span.end_with_timestamp(at_ms(end_ms.max(start_ms)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_from_config_then_env() {
        let mut cfg = TelemetryConfig::default();
        assert_eq!(traces_url(&cfg, |_| None), None);
        let env =
            |k: &str| (k == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://c:4318/".to_string());
        assert_eq!(
            traces_url(&cfg, env).as_deref(),
            Some("http://c:4318/v1/traces")
        );
        cfg.otlp_endpoint = Some("http://x:4318".into());
        assert_eq!(
            traces_url(&cfg, env).as_deref(),
            Some("http://x:4318/v1/traces")
        );
        cfg.otlp_endpoint = Some("http://x:4318/v1/traces".into());
        assert_eq!(
            traces_url(&cfg, |_| None).as_deref(),
            Some("http://x:4318/v1/traces")
        );
    }
}
