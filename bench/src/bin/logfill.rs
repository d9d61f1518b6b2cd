//! Fills a NATS JetStream with N synthetic jobs' lifecycle events and results, as ingresses
//! and workers publish them, for the request-log benchmark (`bench/logbench.sh`).
//!
//! Each job: `received` (with a realistic chat request body), `queued`, `dequeued`,
//! `attempt_started`, `first_token` for streams, then `completed` or (0.5 %) `attempt_failed`
//! and `failed`, `delivered`; and its result (the response body). Jobs are spread evenly over
//! the last `--days` days in time order (as a live gateway fills its log), across several
//! models, providers and keys, so filters have work.
//! Prints progress every second and the publish rate at the end.

#![allow(clippy::print_stdout)]

use clap::Parser;
use schemas::openai::Usage;
use schemas::{Event, EventDetail, EventKind, JobError, JobResult, JobState, Mode};
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// NATS URL.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Jobs to publish.
    #[arg(long, default_value_t = 100_000)]
    jobs: u64,
    /// Spread the jobs over this many days before now.
    #[arg(long, default_value_t = 30)]
    days: u64,
    /// Publishes in flight at once.
    #[arg(long, default_value_t = 2048)]
    window: usize,
    /// The generator's seed (the same seed, the same jobs; `logdict` trains on another).
    #[arg(long, default_value_t = 0x9e3779b97f4a7c15)]
    seed: u64,
    /// Subject prefix (`nats.prefix`).
    #[arg(long, default_value = "sy")]
    prefix: String,
    /// The request log's partitions (`nats.log_partitions`): the events stream stores each
    /// job's events under its partition.
    #[arg(long, default_value_t = 1)]
    partitions: u32,
}

const MODELS: &[(&str, &str, &str)] = &[
    ("gpt-4o", "openai", "gpt-4o"),
    ("gpt-4o-mini", "openai", "gpt-4o-mini"),
    ("claude", "anthropic", "claude-sonnet-4-5"),
    ("gemini", "gemini", "gemini-2.5-flash"),
    ("bedrock-claude", "bedrock", "anthropic.claude-3-5-sonnet"),
    ("mock/echo", "mock", "echo"),
];
const KEYS: &[&str] = &["key_team_a", "key_team_b", "key_batch", "key_dev", "key_ci"];
const WORDS: &[&str] = &[
    "invoice",
    "summarize",
    "customer",
    "refund",
    "translate",
    "weather",
    "contract",
    "paris",
    "schedule",
    "report",
    "quarterly",
    "python",
    "error",
    "database",
    "migration",
    "support",
];

/// A cheap deterministic generator (the same N jobs every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
    /// `words` words: half from the common list, half from a vocabulary of 20,000
    /// (`w<n>`, skewed towards low numbers), as real text has a long tail.
    fn text(&mut self, words: usize) -> String {
        (0..words)
            .map(|_| {
                if self.next().is_multiple_of(2) {
                    self.pick(WORDS).to_string()
                } else {
                    let r = self.next() % 20_000;
                    format!("w{}", r * r / 20_000)
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn event(job: &str, kind: EventKind, ts: u64, node: &str, detail: EventDetail) -> Event {
    let mut e = Event::new(job, kind, node).with(detail);
    e.ts_ms = ts;
    e
}

/// One job's messages: (subject, payload).
fn job_messages(
    prefix: &str,
    n: u64,
    rng: &mut Rng,
    now: u64,
    days: u64,
    jobs: u64,
) -> Vec<(String, Vec<u8>)> {
    let id = uuid::Uuid::now_v7().to_string();
    let (model, provider, pmodel) = *rng.pick(MODELS);
    let key = *rng.pick(KEYS);
    // In time order, as a live gateway fills its log: job n of N at n/N of the way through
    // the last `days` days, give or take a second.
    let span = (days * 86_400_000).max(1);
    let t0 = now - span + span * n / jobs.max(1) + rng.next() % 1000;
    let failed = n % 200 == 7;
    let stream = rng.next().is_multiple_of(3);
    let (pw, aw) = (
        40 + (rng.next() % 80) as usize,
        60 + (rng.next() % 200) as usize,
    );
    // `case<k>` is in the prompts of 4 jobs: the benchmark's rare search.
    let prompt = format!("case{} {}", n % (jobs / 4).max(1), rng.text(pw));
    let answer = rng.text(aw);
    let body = json!({"model": model, "stream": stream, "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": prompt}]});
    let d = |f: &dyn Fn(&mut EventDetail)| {
        let mut x = EventDetail::default();
        f(&mut x);
        x
    };
    let usage = Usage::new(60 + rng.next() % 400, 80 + rng.next() % 600);
    let mut evs = vec![
        event(
            &id,
            EventKind::Received,
            t0,
            "ingress-1",
            d(&|x| {
                x.model = Some(model.into());
                x.mode = Some(if stream { Mode::Stream } else { Mode::Sync });
                x.key_id = Some(key.into());
                x.body = Some(body.clone());
            }),
        ),
        event(
            &id,
            EventKind::Queued,
            t0 + 2,
            "ingress-1",
            d(&|x| {
                x.provider = Some(provider.into());
                x.model = Some(pmodel.into());
            }),
        ),
        event(
            &id,
            EventKind::Dequeued,
            t0 + 5,
            "worker-1",
            d(&|x| {
                x.delivery = Some(1);
                x.attempt = Some(0);
                x.provider = Some(provider.into());
            }),
        ),
        event(
            &id,
            EventKind::AttemptStarted,
            t0 + 6,
            "worker-1",
            d(&|x| {
                x.attempt = Some(1);
                x.provider = Some(provider.into());
                x.model = Some(pmodel.into());
            }),
        ),
    ];
    let took = 300 + rng.next() % 4000;
    if stream && !failed {
        evs.push(event(
            &id,
            EventKind::FirstToken,
            t0 + 80,
            "worker-1",
            d(&|x| {
                x.duration_ms = Some(74);
            }),
        ));
    }
    let result = if failed {
        evs.push(event(
            &id,
            EventKind::AttemptFailed,
            t0 + took,
            "worker-1",
            d(&|x| {
                x.attempt = Some(1);
                x.status = Some(500);
                x.error = Some("upstream answered 500: internal error, please retry".into());
                x.error_kind = Some("server".into());
                x.upstream_request_id = Some(format!("req_{n}"));
            }),
        ));
        evs.push(event(
            &id,
            EventKind::Failed,
            t0 + took + 1,
            "worker-1",
            d(&|x| {
                x.status = Some(500);
                x.error = Some("upstream answered 500: internal error, please retry".into());
                x.error_kind = Some("server".into());
            }),
        ));
        JobResult {
            v: schemas::WIRE_VERSION,
            id: id.clone(),
            status: JobState::Failed,
            provider: Some(provider.into()),
            model: Some(pmodel.into()),
            requested_model: Some(model.into()),
            response: None,
            error: Some(JobError {
                status: 500,
                error: schemas::openai::ErrorBody::new(
                    "api_error",
                    "upstream answered 500: internal error",
                ),
                retryable: true,
                kind: Some("server".into()),
                retry_after_ms: None,
            }),
            usage: None,
            attempts: 1,
            upstream_request_id: Some(format!("req_{n}")),
            attempt_ms: Some(took),
            chunks: None,
            finished_ms: t0 + took + 1,
            node: "worker-1".into(),
            key_id: Some(key.into()),
            cost_usd: None,
            cache: None,
            similarity: None,
        }
    } else {
        evs.push(event(
            &id,
            EventKind::Completed,
            t0 + took,
            "worker-1",
            d(&|x| {
                x.usage = Some(usage.clone());
                x.status = Some(200);
                x.upstream_request_id = Some(format!("req_{n}"));
            }),
        ));
        let resp = json!({"id": format!("chatcmpl-{n}"), "object": "chat.completion", "created": t0 / 1000,
            "model": pmodel, "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": answer}}], "usage": usage});
        JobResult {
            v: schemas::WIRE_VERSION,
            id: id.clone(),
            status: JobState::Completed,
            provider: Some(provider.into()),
            model: Some(pmodel.into()),
            requested_model: Some(model.into()),
            response: serde_json::value::to_raw_value(&resp).ok(),
            error: None,
            usage: Some(usage.clone()),
            attempts: 1,
            upstream_request_id: Some(format!("req_{n}")),
            attempt_ms: Some(took),
            chunks: stream.then_some(40),
            finished_ms: t0 + took,
            node: "worker-1".into(),
            key_id: Some(key.into()),
            cost_usd: None,
            cache: None,
            similarity: None,
        }
    };
    evs.push(event(
        &id,
        EventKind::Delivered,
        t0 + took + 3,
        "ingress-1",
        EventDetail::default(),
    ));
    let mut out: Vec<(String, Vec<u8>)> = evs
        .iter()
        .map(|e| {
            (
                format!("{prefix}.events.{id}"),
                serde_json::to_vec(e).unwrap_or_default(),
            )
        })
        .collect();
    out.push((
        format!("{prefix}.resultsin.{id}"),
        serde_json::to_vec(&result).unwrap_or_default(),
    ));
    out
}

#[tokio::main]
async fn main() -> Result<(), async_nats::Error> {
    let a = Args::parse();
    let client = async_nats::connect(&a.nats).await?;
    let cfg = broker::config::NatsConfig {
        prefix: a.prefix.clone(),
        log_partitions: Some(a.partitions),
        ..Default::default()
    };
    broker::nats::ensure_topology(client.clone(), &cfg).await?;
    let js = async_nats::jetstream::new(client);
    let mut rng = Rng(a.seed.max(1));
    let now = schemas::now_ms();
    let start = Instant::now();
    let mut last = Instant::now();
    let mut acks = futures::stream::FuturesUnordered::new();
    let (mut messages, mut bytes) = (0u64, 0u64);
    use futures::StreamExt;
    for n in 0..a.jobs {
        for (subject, payload) in job_messages(&a.prefix, n, &mut rng, now, a.days, a.jobs) {
            bytes += payload.len() as u64;
            messages += 1;
            acks.push(std::future::IntoFuture::into_future(
                js.publish(subject, payload.into()).await?,
            ));
            while acks.len() >= a.window {
                if let Some(r) = acks.next().await {
                    r?;
                }
            }
        }
        if last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            println!(
                "published {n} of {} jobs ({:.0} jobs/s)",
                a.jobs,
                n as f64 / start.elapsed().as_secs_f64()
            );
        }
    }
    while let Some(r) = acks.next().await {
        r?;
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "published {} jobs, {messages} messages, {:.1} MB in {s:.1} s ({:.0} jobs/s, {:.0} messages/s)",
        a.jobs,
        bytes as f64 / 1e6,
        a.jobs as f64 / s,
        messages as f64 / s
    );
    Ok(())
}
