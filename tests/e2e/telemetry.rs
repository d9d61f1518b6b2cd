//! Telemetry end to end: OTLP traces (one trace per job across ingress, queue and worker),
//! `GET /metrics` in Prometheus text format, JSON logs with the job id.
//!
//! The trace and log tests run the `switchyard` binary as a subprocess: the tracing
//! subscriber is global to a process and this test binary runs many gateways.

mod otlp;
mod proc;
mod prom;

use crate::harness::*;
use crate::upstream::Upstream;
use otlp::{one, otlp_receiver, spans_of};
use proc::Proc;
use prom::{parse_prometheus, scrape, value};
use serde_json::Value;
use std::time::Duration;

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
    // The worker counts a job when it emits the final event, which may come just after the
    // client got its answer: scrape until the three jobs are counted.
    let jobs = |m: &_, outcome: &str, model: &str| {
        value(
            m,
            "switchyard_jobs_total",
            &[
                ("provider", "metered"),
                ("model", model),
                ("outcome", outcome),
            ],
        )
    };
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    let after = loop {
        let now = scrape(&gw).await;
        let done = jobs(&now, "completed", "gpt-test") - jobs(&before, "completed", "gpt-test")
            >= 2.0
            && jobs(&now, "failed", "error-404") - jobs(&before, "failed", "error-404") >= 1.0;
        if done || tokio::time::Instant::now() > until {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

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
        switchyard::Roles::INGRESS,
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
