//! Telemetry end to end: OTLP traces (one trace per job across ingress, queue and worker),
//! `GET /metrics` in Prometheus text format, JSON logs with the job id.
//!
//! The trace and log tests run the `switchyard` binary as a subprocess: the tracing
//! subscriber is global to a process and this test binary runs many gateways.

use crate::harness::*;
use crate::upstream::Upstream;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------- the binary as a subprocess

/// The `switchyard` binary running `serve` against a test NATS, killed on drop.
struct Proc {
    child: Child,
    addr: String,
    stderr: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Proc {
    async fn serve(nats: &Nats, extra_toml: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = dir.path().join("switchyard.toml");
        std::fs::write(
            &cfg,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\nrequest_timeout_ms = 10000\n[nats]\nurl = \"{}\"\n{extra_toml}",
                nats.url()
            ),
        )
        .unwrap();
        let stderr = dir.path().join("stderr.log");
        let mut cmd = Command::new(bin());
        cmd.arg("--config")
            .arg(&cfg)
            .args(args)
            .arg("serve")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let p = Proc {
            child,
            addr: format!("127.0.0.1:{port}"),
            stderr,
            _dir: dir,
        };
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = http.get(p.url("/ready")).send().await {
                if r.status().is_success() {
                    return p;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the gateway did not get ready: {}", p.logs());
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- an OTLP/HTTP receiver

/// One received span, flattened.
#[derive(Debug, Clone)]
struct GotSpan {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    kind: i32,
    attrs: HashMap<String, String>,
    service: String,
}

type Spans = Arc<Mutex<Vec<GotSpan>>>;

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

async fn otlp_receiver() -> (String, Spans) {
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
async fn spans_of(spans: &Spans, job: &str, names: &[&str]) -> Vec<GotSpan> {
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

fn one<'a>(spans: &'a [GotSpan], name: &str) -> &'a GotSpan {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one `{name}` span: {spans:#?}");
    found[0]
}

const SPAN_NAMES: &[&str] = &[
    "POST /v1/chat/completions",
    "queue wait",
    "process up",
    "attempt",
    "chat gpt-test",
];

#[tokio::test]
async fn otlp_receives_one_trace_per_job_with_genai_attributes() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let (endpoint, spans) = otlp_receiver().await;
    let gw = Proc::serve(
        &nats,
        &format!(
            "[telemetry]\notlp_endpoint = \"{endpoint}\"\nservice_name = \"sy-test\"\n{}",
            up.provider_toml("up")
        ),
        &[],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    )
    .await;
    let http = reqwest::Client::new();

    // 1. The client's trace is continued.
    let client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let r = http
        .post(gw.url("/v1/chat/completions"))
        .header("traceparent", format!("00-{client_trace}-{client_span}-01"))
        .json(&chat("up/gpt-test", "hello there"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", gw.logs());
    let id = job_id(&r);
    let got = spans_of(&spans, &id, SPAN_NAMES).await;
    for s in &got {
        assert_eq!(
            s.trace_id, client_trace,
            "every span in the client's trace: {s:?}"
        );
        assert_eq!(s.service, "sy-test");
    }
    let request = one(&got, "POST /v1/chat/completions");
    assert_eq!(
        request.parent_span_id, client_span,
        "the ingress span continues the client's"
    );
    assert_eq!(request.kind, 2, "server kind");
    assert_eq!(request.attrs["http.route"], "/v1/chat/completions");
    assert_eq!(request.attrs["http.response.status_code"], "200");
    let queue = one(&got, "queue wait");
    let job = one(&got, "process up");
    assert_eq!(job.kind, 5, "consumer kind");
    for child in [queue, job] {
        assert_eq!(
            child.parent_span_id, request.span_id,
            "{} is a child of the ingress span (via the job's traceparent)",
            child.name
        );
    }
    let attempt = one(&got, "attempt");
    assert_eq!(attempt.parent_span_id, job.span_id);
    let call = one(&got, "chat gpt-test");
    assert_eq!(call.parent_span_id, attempt.span_id);
    assert_eq!(call.kind, 3, "client kind");
    let a = &call.attrs;
    assert_eq!(a["gen_ai.operation.name"], "chat");
    assert_eq!(a["gen_ai.provider.name"], "up");
    assert_eq!(a["gen_ai.system"], "up");
    assert_eq!(a["gen_ai.request.model"], "gpt-test");
    assert_eq!(a["gen_ai.response.model"], "gpt-test");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        a["gen_ai.usage.input_tokens"],
        body["usage"]["prompt_tokens"].to_string()
    );
    assert_eq!(
        a["gen_ai.usage.output_tokens"],
        body["usage"]["completion_tokens"].to_string()
    );
    // The upstream got the traceparent of the upstream call span.
    let seen = up.requests();
    let tp = seen[0].headers["traceparent"].to_str().unwrap().to_string();
    assert_eq!(tp, format!("00-{client_trace}-{}-01", call.span_id));

    // 2. Without a client traceparent the ingress starts a trace of the job's own.
    let r = http
        .post(gw.url("/v1/chat/completions"))
        .json(&chat("up/gpt-test", "no trace"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id2 = job_id(&r);
    let got2 = spans_of(&spans, &id2, SPAN_NAMES).await;
    let trace2 = &one(&got2, "POST /v1/chat/completions").trace_id;
    assert_ne!(trace2, client_trace);
    assert_eq!(one(&got2, "POST /v1/chat/completions").parent_span_id, "");
    assert!(
        got2.iter().all(|s| &s.trace_id == trace2),
        "one trace: {got2:#?}"
    );
}

// ---------------------------------------------------------------- Prometheus text format

/// One sample line.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => v.parse().map_err(|_| format!("bad value `{v}`")),
    }
}

fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if name.is_empty() {
            return Err(format!("empty label name in `{s}`"));
        }
        if !valid_name(&name) || name.contains(':') {
            return Err(format!("bad label name `{name}`"));
        }
        if chars.next() != Some('=') || chars.next() != Some('"') {
            return Err(format!("label `{name}` lacks =\"...\""));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in `{s}`")),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => return Err(format!("unterminated label value in `{s}`")),
            }
        }
        if out.insert(name.clone(), value).is_some() {
            return Err(format!("label `{name}` repeated"));
        }
        match chars.next() {
            None => return Ok(out),
            Some(',') => {}
            Some(c) => return Err(format!("unexpected `{c}` after a label in `{s}`")),
        }
    }
}

/// A series' labels without `le`, in order.
type LabelPairs = Vec<(String, String)>;

/// A strict parser of the text exposition format 0.0.4: HELP/TYPE before samples, valid
/// names and labels, sample names matching their declared family, histogram buckets
/// cumulative with `+Inf` equal to `_count`.
fn parse_prometheus(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if !valid_name(name) {
                return Err(format!("bad metric name in `{line}`"));
            }
            match kw {
                "HELP" => {}
                "TYPE" => {
                    let t = parts.next().unwrap_or("");
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                        return Err(format!("bad type in `{line}`"));
                    }
                    if types.insert(name.to_string(), t.to_string()).is_some() {
                        return Err(format!("TYPE repeated for {name}"));
                    }
                }
                _ => {}
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| format!("no value in `{line}`"))?;
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => {
                let l = l
                    .strip_suffix('}')
                    .ok_or_else(|| format!("unclosed labels in `{line}`"))?;
                (n, parse_labels(l)?)
            }
            None => (series, BTreeMap::new()),
        };
        if !valid_name(name) {
            return Err(format!("bad metric name `{name}`"));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|b| types.get(*b).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        let t = types
            .get(family)
            .ok_or_else(|| format!("sample `{name}` before its TYPE"))?;
        if t == "counter" && !name.ends_with("_total") {
            return Err(format!("counter `{name}` does not end in _total"));
        }
        if name.ends_with("_bucket") && t == "histogram" && !labels.contains_key("le") {
            return Err(format!("bucket without le: `{line}`"));
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value: parse_value(value)?,
        });
    }
    // Histograms: cumulative buckets, +Inf == count.
    let mut buckets: BTreeMap<(String, LabelPairs), Vec<(f64, f64)>> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name.ends_with("_bucket")) {
        let mut key: Vec<_> = s.labels.clone().into_iter().collect();
        key.retain(|(k, _)| k != "le");
        let le = parse_value(&s.labels["le"])?;
        buckets
            .entry((s.name.trim_end_matches("_bucket").to_string(), key))
            .or_default()
            .push((le, s.value));
    }
    for ((fam, key), bs) in buckets {
        if bs.windows(2).any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1) {
            return Err(format!("{fam}{key:?}: buckets not increasing: {bs:?}"));
        }
        let inf = bs.last().filter(|b| b.0.is_infinite()).map(|b| b.1);
        let count = samples
            .iter()
            .find(|s| {
                s.name == format!("{fam}_count")
                    && s.labels.clone().into_iter().collect::<Vec<_>>() == key
            })
            .map(|s| s.value);
        if inf.is_none() || inf != count {
            return Err(format!(
                "{fam}{key:?}: +Inf bucket {inf:?} != count {count:?}"
            ));
        }
    }
    Ok(samples)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

async fn scrape(gw: &Gateway) -> Vec<Sample> {
    let r = gw.get("/metrics").await;
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = r.text().await.unwrap();
    parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn the_strict_parser_rejects_bad_exposition() {
    assert!(parse_prometheus("# TYPE a_total counter\na_total{x=\"1\"} 2\n").is_ok());
    for bad in [
        "a_total 1\n",
        "# TYPE a counter\na 1\n",
        "# TYPE a_total counter\na_total{x=1} 2\n",
        "# TYPE a_total counter\na_total{x=\"1\" 2\n",
        "# TYPE a_total counter\na_total two\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n",
    ] {
        assert!(parse_prometheus(bad).is_err(), "accepted: {bad}");
    }
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_move_after_requests() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let gw = Gateway::start(&nats, &up.provider_toml("metered")).await;
    let before = scrape(&gw).await;
    let route = ("route", "/v1/chat/completions");
    let labels = [
        route,
        ("status_class", "2xx"),
        ("model", "metered/gpt-test"),
        ("provider", "metered"),
    ];

    let r = gw
        .post("/v1/chat/completions", chat("metered/gpt-test", "count me"))
        .await;
    assert_eq!(r.status(), 200);
    let mut stream = chat("metered/gpt-test", "stream me");
    stream["stream"] = true.into();
    let r = gw.post("/v1/chat/completions", stream).await;
    assert_eq!(r.status(), 200);
    let _ = r.text().await.unwrap();
    let r = gw
        .post("/v1/chat/completions", chat("metered/error-404", "fail"))
        .await;
    assert_eq!(r.status(), 404);
    let after = scrape(&gw).await;

    let grew = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(grew("switchyard_http_requests_total", &labels), 2.0);
    // Other tests of this process share the registry: route-only series grow at least.
    assert!(
        grew(
            "switchyard_http_requests_total",
            &[("route", "/metrics"), ("status_class", "2xx")]
        ) >= 1.0,
        "the first scrape counted"
    );
    assert!(grew("switchyard_http_request_duration_seconds_count", &[route]) >= 3.0);
    let mp = [("provider", "metered"), ("model", "gpt-test")];
    assert_eq!(
        grew(
            "switchyard_attempts_total",
            &[mp[0], mp[1], ("outcome", "ok")]
        ),
        2.0
    );
    assert_eq!(grew("switchyard_upstream_duration_seconds_count", &mp), 2.0);
    assert!(
        grew(
            "switchyard_tokens_total",
            &[mp[0], mp[1], ("type", "prompt")]
        ) >= 4.0
    );
    assert!(
        grew(
            "switchyard_tokens_total",
            &[mp[0], mp[1], ("type", "completion")]
        ) >= 4.0
    );
    assert_eq!(grew("switchyard_queue_wait_seconds_count", &[mp[0]]), 3.0);
    assert_eq!(
        grew("switchyard_time_to_first_token_seconds_count", &mp),
        1.0
    );
    assert_eq!(
        grew(
            "switchyard_jobs_total",
            &[mp[0], mp[1], ("outcome", "completed")]
        ),
        2.0
    );
    // The upstream's 404: a failed attempt by error kind, a failed job, a 4xx request.
    let failed = [mp[0], ("model", "error-404")];
    assert_eq!(grew("switchyard_attempts_total", &failed), 1.0);
    assert_eq!(
        grew(
            "switchyard_attempts_total",
            &[failed[0], failed[1], ("outcome", "ok")]
        ),
        0.0
    );
    assert_eq!(
        grew(
            "switchyard_jobs_total",
            &[failed[0], failed[1], ("outcome", "failed")]
        ),
        1.0
    );
    assert_eq!(
        grew(
            "switchyard_http_requests_total",
            &[
                route,
                ("status_class", "4xx"),
                ("model", "metered/error-404")
            ]
        ),
        1.0
    );
    // JetStream consumer gauges, read on scrape (cached for a second).
    let mut after = after;
    for _ in 0..30 {
        if after
            .iter()
            .any(|s| s.name == "switchyard_consumer_pending" && s.labels["provider"] == "metered")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = scrape(&gw).await;
    }
    assert_eq!(
        value(
            &after,
            "switchyard_consumer_pending",
            &[("provider", "metered")]
        ),
        0.0
    );
    assert!(
        after
            .iter()
            .any(|s| s.name == "switchyard_consumer_pending" && s.labels["provider"] == "metered"),
        "the worker consumer of `metered` is reported"
    );
    assert_eq!(
        value(
            &after,
            "switchyard_consumer_ack_pending",
            &[("provider", "metered")]
        ),
        0.0
    );
    gw.stop().await;
}

// ---------------------------------------------------------------- JSON logs

#[tokio::test]
async fn json_logs_carry_the_job_id_and_no_secret() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let closed = free_port();
    let provider_secret = "sk-live-telemetry-SECRET-4242";
    let client_secret = "sk-client-SECRET-9999";
    let gw = Proc::serve(
        &nats,
        &format!(
            "{}[providers.down]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{closed}/v1\"\napi_key = \"{provider_secret}\"\nmodels = [\"gpt-down\"]\n",
            up.provider_toml("up")
        ),
        &["--log-format", "json"],
        &[("RUST_LOG", "debug,async_nats=warn,h2=info,hyper=info,hyper_util=info,reqwest=info,rustls=info")],
    )
    .await;
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for model in ["up/gpt-test", "down/gpt-down"] {
        let r = http
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(client_secret)
            .json(&chat(model, "log me"))
            .send()
            .await
            .unwrap();
        ids.push(job_id(&r));
    }
    // Wait for both jobs' final worker lines.
    let mut lines: Vec<Value> = Vec::new();
    for _ in 0..100 {
        lines = gw
            .logs()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        let finished = |id: &str| {
            lines
                .iter()
                .any(|l| l["job_id"] == id && l["message"] == "job finished")
        };
        if ids.iter().all(|id| finished(id)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = gw.logs();
    assert!(
        !logs.contains(provider_secret),
        "the provider key leaked:\n{logs}"
    );
    assert!(
        !logs.contains(client_secret),
        "the client key leaked:\n{logs}"
    );
    for id in &ids {
        let mine: Vec<&Value> = lines
            .iter()
            .filter(|l| l["job_id"] == id.as_str())
            .collect();
        for (span, message) in [("request", "request answered"), ("job", "job finished")] {
            assert!(
                mine.iter()
                    .any(|l| l["span"]["name"] == span && l["message"] == message),
                "a `{message}` line in the `{span}` span of {id}:\n{logs}"
            );
        }
    }
    // The failed job's attempt warning, nested in attempt/upstream spans, still names it.
    assert!(
        lines.iter().any(|l| l["job_id"] == ids[1].as_str()
            && l["message"] == "attempt failed"
            && l["level"] == "WARN"),
        "{logs}"
    );
    // Every line inside a job's spans names its job.
    let nested = ["request", "job", "attempt", "upstream"];
    let inside: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["span"]["name"]
                .as_str()
                .is_some_and(|n| nested.contains(&n))
        })
        .collect();
    assert!(inside.len() >= 4, "{logs}");
    for l in inside {
        assert!(
            l["job_id"].as_str().is_some_and(|j| !j.is_empty()),
            "a line inside a job span without its job id: {l}"
        );
    }
}

#[tokio::test]
async fn metrics_report_consumer_backlog_and_auditor_lag() {
    use async_nats::jetstream::consumer::pull;
    let nats = Nats::start().await;
    // An ingress without workers: jobs for `idle` wait in JetStream.
    let gw = Gateway::start_roles(
        &nats,
        "[providers.idle]\nkind = \"mock\"\n",
        switchyard::Roles {
            ingress: true,
            worker: false,
            managed_nats: false,
        },
    )
    .await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let jobs = js.get_stream("SY_JOBS").await.unwrap();
    jobs.create_consumer(pull::Config {
        durable_name: Some("sy_worker_idle".into()),
        filter_subject: "sy.jobs.idle".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let events = js.get_stream("SY_EVENTS").await.unwrap();
    events
        .create_consumer(pull::Config {
            durable_name: Some("sy_auditor_t1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    for i in 0..3 {
        let r = gw
            .post("/v1/jobs", chat("idle/echo", &format!("wait {i}")))
            .await;
        assert_eq!(r.status(), 202);
    }
    let mut samples = Vec::new();
    for _ in 0..30 {
        samples = scrape(&gw).await;
        let pending = value(
            &samples,
            "switchyard_consumer_pending",
            &[("provider", "idle")],
        );
        let lag = value(
            &samples,
            "switchyard_auditor_lag",
            &[("consumer", "sy_auditor_t1")],
        );
        if pending == 3.0 && lag >= 6.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        value(
            &samples,
            "switchyard_consumer_pending",
            &[("provider", "idle")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &samples,
            "switchyard_consumer_ack_pending",
            &[("provider", "idle")]
        ),
        0.0
    );
    // received + queued per job, nothing consumed by the auditor.
    let lag = value(
        &samples,
        "switchyard_auditor_lag",
        &[("consumer", "sy_auditor_t1")],
    );
    assert!(lag >= 6.0, "auditor lag {lag}");
    gw.stop().await;
}
