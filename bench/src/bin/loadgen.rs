//! `loadgen`: an open-loop, fixed-rate HTTP load generator for the Switchyard load test.
//!
//! Requests start on a fixed schedule (`--rate` per second) whether or not earlier ones have
//! finished, so a slow server cannot slow the load down (no coordinated omission). Each
//! request's latency is measured from its scheduled start to the last byte of the response
//! (`latency`), and from the moment it was actually sent (`service`). A response counts as
//! good only with status 200 and a body containing `--expect`. The summary goes to stdout as
//! text, or as one JSON object with `--json`; progress goes to stderr once a second.

use clap::Parser;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

const DEFAULT_BODY: &str =
    r#"{"model":"up/gpt-bench","messages":[{"role":"user","content":"Say hello."}]}"#;

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Open-loop fixed-rate load generator (POSTs one JSON body)"
)]
struct Args {
    /// The URL to POST to.
    #[arg(long)]
    url: String,
    /// Requests started per second.
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// Measured seconds.
    #[arg(long, default_value_t = 15.0)]
    duration: f64,
    /// Seconds of load before measuring (not counted).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// The request body (JSON).
    #[arg(long, default_value = DEFAULT_BODY)]
    body: String,
    /// A string every good response body contains.
    #[arg(long, default_value = "chat.completion")]
    expect: String,
    /// Requests allowed in flight at once; a request due while all are busy is counted as
    /// `skipped` (the server is overloaded at this rate).
    #[arg(long, default_value_t = 2048)]
    max_in_flight: usize,
    /// A name for this run in the output.
    #[arg(long, default_value = "run")]
    label: String,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// An `Authorization` header to send (the mock upstream wants `Bearer <its key>`).
    #[arg(long)]
    authorization: Option<String>,
    /// Another header, `name: value`; repeat for more (`cache-control: no-store`).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Replace `{n}` in the body with a number no other request of the run has (every
    /// request different: cache misses).
    #[arg(long)]
    unique: bool,
}

/// The next number of `--unique` bodies.
static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One finished request, in microseconds.
#[derive(Clone, Copy)]
struct Sample {
    latency_us: u64,
    service_us: u64,
    ok: bool,
}

/// What one phase (warm-up or measurement) collected.
struct Phase {
    samples: Vec<Sample>,
    skipped: u64,
    elapsed: Duration,
}

async fn one(client: &reqwest::Client, args: &Args, scheduled: Instant) -> Sample {
    let sent = Instant::now();
    let body = if args.unique {
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        args.body
            .replace("{n}", &format!("{n}-{}", std::process::id()))
    } else {
        args.body.clone()
    };
    let mut req = client
        .post(&args.url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(a) = &args.authorization {
        req = req.header("authorization", a);
    }
    for h in &args.headers {
        if let Some((k, v)) = h.split_once(':') {
            req = req.header(k.trim(), v.trim());
        }
    }
    let ok = match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            match resp.bytes().await {
                Ok(b) => {
                    status.as_u16() == 200
                        && b.windows(args.expect.len())
                            .any(|w| w == args.expect.as_bytes())
                }
                Err(_) => false,
            }
        }
        Err(_) => false,
    };
    let done = Instant::now();
    Sample {
        latency_us: done.duration_since(scheduled).as_micros() as u64,
        service_us: done.duration_since(sent).as_micros() as u64,
        ok,
    }
}

async fn phase(client: &reqwest::Client, args: &Arc<Args>, seconds: f64, name: &str) -> Phase {
    let total = (seconds * args.rate as f64).round() as u64;
    let interval = Duration::from_nanos(1_000_000_000 / args.rate.max(1));
    let samples = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let permits = Arc::new(Semaphore::new(args.max_in_flight));
    let mut skipped = 0u64;
    let start = Instant::now();
    let mut next_report = start + Duration::from_secs(1);
    for i in 0..total {
        let scheduled = start + interval * (i as u32);
        tokio::time::sleep_until(scheduled).await;
        if Instant::now() >= next_report {
            let done = samples.lock().map(|s| s.len()).unwrap_or(0);
            eprintln!(
                "  [{} {name}] {:>4.1}s  sent {i}  done {done}  skipped {skipped}",
                args.label,
                start.elapsed().as_secs_f64()
            );
            next_report += Duration::from_secs(1);
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let (client, args, samples) = (client.clone(), args.clone(), samples.clone());
        tokio::spawn(async move {
            let s = one(&client, &args, scheduled).await;
            if let Ok(mut v) = samples.lock() {
                v.push(s);
            }
            drop(permit);
        });
    }
    let all = args.max_in_flight as u32;
    let _ = tokio::time::timeout(Duration::from_secs(30), permits.acquire_many(all)).await;
    let elapsed = start.elapsed();
    let samples = samples.lock().map(|v| v.clone()).unwrap_or_default();
    Phase {
        samples,
        skipped,
        elapsed,
    }
}

/// The `q` quantile of sorted `v` (nearest rank).
fn quantile(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn summary(args: &Args, p: &Phase) -> serde_json::Value {
    let mut lat: Vec<u64> = p.samples.iter().map(|s| s.latency_us).collect();
    let mut svc: Vec<u64> = p.samples.iter().map(|s| s.service_us).collect();
    lat.sort_unstable();
    svc.sort_unstable();
    let ok = p.samples.iter().filter(|s| s.ok).count();
    serde_json::json!({
        "label": args.label,
        "url": args.url,
        "target_rate": args.rate,
        "requests": p.samples.len(),
        "ok": ok,
        "errors": p.samples.len() - ok,
        "skipped": p.skipped,
        "rps": ok as f64 / p.elapsed.as_secs_f64(),
        "p50_us": quantile(&lat, 0.50),
        "p90_us": quantile(&lat, 0.90),
        "p99_us": quantile(&lat, 0.99),
        "p999_us": quantile(&lat, 0.999),
        "max_us": lat.last().copied().unwrap_or(0),
        "service_p50_us": quantile(&svc, 0.50),
        "service_p99_us": quantile(&svc, 0.99),
    })
}

#[allow(clippy::print_stdout)]
#[tokio::main]
async fn main() -> Result<(), reqwest::Error> {
    let args = Arc::new(Args::parse());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.max_in_flight)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    if args.warmup > 0.0 {
        phase(&client, &args, args.warmup, "warm-up").await;
    }
    let p = phase(&client, &args, args.duration, "measure").await;
    let s = summary(&args, &p);
    if args.json {
        println!("{s}");
    } else {
        println!(
            "{}: {} requests ({} ok, {} errors, {} skipped) at {:.0} req/s; latency p50 {} us, p90 {} us, p99 {} us, p99.9 {} us, max {} us",
            args.label, s["requests"], s["ok"], s["errors"], s["skipped"],
            s["rps"].as_f64().unwrap_or(0.0), s["p50_us"], s["p90_us"], s["p99_us"], s["p999_us"], s["max_us"]
        );
    }
    Ok(())
}
