//! Times the request log's queries the way a dashboard makes them, against a running
//! gateway whose auditor has ingested `logfill`'s jobs: each query `--runs` times, its
//! median and worst, in a table for bench/README.md.

#![allow(clippy::print_stdout)]

use clap::Parser;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// The gateway.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Runs per query.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Pages to walk for the deep-paging figure.
    #[arg(long, default_value_t = 20)]
    pages: usize,
}

async fn time(http: &reqwest::Client, url: &str, runs: usize) -> (f64, f64, u16, usize) {
    let mut ms = Vec::with_capacity(runs);
    let (mut status, mut size) = (0, 0);
    for _ in 0..runs {
        let t = Instant::now();
        match http.get(url).send().await {
            Ok(r) => {
                status = r.status().as_u16();
                size = r.bytes().await.map(|b| b.len()).unwrap_or(0);
            }
            Err(_) => status = 0,
        }
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    (ms[ms.len() / 2], ms[ms.len() - 1], status, size)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let http = reqwest::Client::new();
    let base = a.url.trim_end_matches('/');
    let first: serde_json::Value = http
        .get(format!("{base}/v1/requests?limit=1"))
        .send()
        .await?
        .json()
        .await?;
    let id = first["data"][0]["id"]
        .as_str()
        .unwrap_or("none")
        .to_string();
    let queries: Vec<(&str, String)> = vec![
        ("list, first page", "/v1/requests?limit=50".into()),
        (
            "status=failed",
            "/v1/requests?limit=50&status=failed".into(),
        ),
        ("model=gpt-4o", "/v1/requests?limit=50&model=gpt-4o".into()),
        (
            "provider=anthropic",
            "/v1/requests?limit=50&provider=anthropic".into(),
        ),
        ("key=key_ci", "/v1/requests?limit=50&key=key_ci".into()),
        (
            "status+model+key",
            "/v1/requests?limit=50&status=failed&model=claude&key=key_dev".into(),
        ),
        ("since=24h", "/v1/requests?limit=50&since=24h".into()),
        (
            "status+model+key+since=7d",
            "/v1/requests?limit=50&status=completed&model=gemini&key=key_ci&since=7d".into(),
        ),
        ("mode=stream", "/v1/requests?limit=50&mode=stream".into()),
        ("q=<error text>", "/v1/requests?limit=50&q=internal".into()),
        (
            "q=<word in 4 prompts>",
            "/v1/requests?limit=50&q=case7".into(),
        ),
        ("q=<common word>", "/v1/requests?limit=50&q=refund".into()),
        (
            "q=<two words>+status=completed",
            "/v1/requests?limit=50&q=invoice%20paris&status=completed".into(),
        ),
        ("stats 24h", "/v1/requests/stats?since=24h".into()),
        ("stats 30d", "/v1/requests/stats?since=30d".into()),
        ("one record", format!("/v1/requests/{id}")),
        ("one timeline", format!("/v1/requests/{id}/events")),
    ];
    println!("| query | median ms | worst ms | status | bytes |");
    println!("|---|---|---|---|---|");
    for (name, path) in &queries {
        let (p50, max, status, size) = time(&http, &format!("{base}{path}"), a.runs).await;
        println!("| {name} | {p50:.1} | {max:.1} | {status} | {size} |");
    }
    // Deep paging: the time of page 1 and of page N, walking cursors.
    let mut cursor: Option<String> = None;
    let mut first_ms = 0.0;
    let mut last_ms = 0.0;
    for page in 0..a.pages {
        let mut url = format!("{base}/v1/requests?limit=50");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let t = Instant::now();
        let v: serde_json::Value = http.get(&url).send().await?.json().await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if page == 0 {
            first_ms = ms;
        }
        last_ms = ms;
        cursor = v["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    println!(
        "| page 1 / page {} (cursor) | {first_ms:.1} / {last_ms:.1} | | | |",
        a.pages
    );
    Ok(())
}
