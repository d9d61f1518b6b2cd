//! W3C `traceparent` in and out: from the client's header to the job, and from the job to
//! the worker's spans.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const TRACEPARENT: &str = "traceparent";

/// The remote context of a `traceparent` value (an empty context when absent or invalid).
pub fn extract(traceparent: Option<&str>) -> Context {
    let Some(tp) = traceparent else {
        return Context::new();
    };
    let carrier = HashMap::from([(TRACEPARENT.to_string(), tp.to_string())]);
    TraceContextPropagator::new().extract(&carrier)
}

/// Whether `tp` is a valid W3C `traceparent`.
pub fn is_valid(tp: &str) -> bool {
    extract(Some(tp)).span().span_context().is_valid()
}

/// The `traceparent` of a span context, when valid.
pub fn format(sc: &SpanContext) -> Option<String> {
    if !sc.is_valid() {
        return None;
    }
    let cx = Context::new().with_remote_span_context(sc.clone());
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// The `traceparent` of a tracing span, when OpenTelemetry is on and the span is recorded.
pub fn of_span(span: &tracing::Span) -> Option<String> {
    format(&span.context().span().span_context().clone())
}

/// The `traceparent` of the current tracing span, when there is one.
pub fn current() -> Option<String> {
    of_span(&tracing::Span::current())
}

/// A new root `traceparent` (sampled) with random ids, for when no tracer runs.
pub fn new_root() -> String {
    let trace: u128 = rand::random::<u128>().max(1);
    let span: u64 = rand::random::<u64>().max(1);
    format!("00-{trace:032x}-{span:016x}-01")
}

/// The `traceparent` a new job carries: the current span's (the ingress request span, a
/// child of the client's trace when it sent one); without a tracer, the client's valid
/// header; else a fresh trace.
pub fn for_job(client: Option<&str>) -> String {
    if let Some(tp) = current() {
        return tp;
    }
    match client {
        Some(tp) if is_valid(tp) => tp.to_string(),
        _ => new_root(),
    }
}

/// Makes the remote context of `traceparent` the parent of `span` (a no-op without a
/// tracer or without a valid value). Call before the span is first entered.
pub fn set_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let cx = extract(traceparent);
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_traceparent() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(is_valid(tp));
        let cx = extract(Some(tp));
        assert_eq!(
            format(&cx.span().span_context().clone()).as_deref(),
            Some(tp)
        );
        assert!(!is_valid(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ));
        assert!(!is_valid("garbage"));
        let root = new_root();
        assert!(is_valid(&root), "{root}");
        assert_ne!(new_root(), root);
    }

    #[test]
    fn without_a_tracer_jobs_keep_the_client_trace_or_start_one() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(for_job(Some(tp)), tp);
        let fresh = for_job(Some("nonsense"));
        assert!(is_valid(&fresh));
        assert_ne!(fresh, tp);
    }
}
