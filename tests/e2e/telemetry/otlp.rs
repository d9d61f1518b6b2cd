//! A small OTLP/HTTP receiver: `POST /v1/traces` with protobuf bodies, spans flattened.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One received span, flattened.
#[derive(Debug, Clone)]
pub struct GotSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub name: String,
    pub kind: i32,
    pub attrs: HashMap<String, String>,
    pub service: String,
}

pub type Spans = Arc<Mutex<Vec<GotSpan>>>;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn any_text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

async fn receive(State(spans): State<Spans>, body: Bytes) -> Vec<u8> {
    let req = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf trace export");
    let mut out = spans.lock().unwrap();
    for rs in req.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
            .map(|a| any_text(&a.value))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                out.push(GotSpan {
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: hex(&s.parent_span_id),
                    name: s.name.clone(),
                    kind: s.kind,
                    attrs: s
                        .attributes
                        .iter()
                        .map(|a| (a.key.clone(), any_text(&a.value)))
                        .collect(),
                    service: service.clone(),
                });
            }
        }
    }
    ExportTraceServiceResponse::default().encode_to_vec()
}

pub async fn otlp_receiver() -> (String, Spans) {
    let spans: Spans = Arc::default();
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(spans.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), spans)
}

/// Waits until the spans of `job` include every name in `names`.
pub async fn spans_of(spans: &Spans, job: &str, names: &[&str]) -> Vec<GotSpan> {
    let mut got = Vec::new();
    for _ in 0..200 {
        got = spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.attrs.get("switchyard.job_id").map(String::as_str) == Some(job))
            .cloned()
            .collect::<Vec<_>>();
        if names.iter().all(|n| got.iter().any(|s| s.name == *n)) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "spans {names:?} of job {job} did not all arrive; got {:?}",
        got.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
}

pub fn one<'a>(spans: &'a [GotSpan], name: &str) -> &'a GotSpan {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one `{name}` span: {spans:#?}");
    found[0]
}
