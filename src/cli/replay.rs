//! `switchyard replay`: one request, or every failed request in a window, as new jobs.

use super::Gateway;
use anyhow::bail;
use serde_json::{json, Value};

/// Which failed requests `--failed` replays.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Window {
    /// From: `1h`, `30m`, epoch ms or RFC 3339 (required with --failed).
    #[arg(long)]
    pub since: Option<String>,
    /// Until: same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
    /// Only requests that asked for this model.
    #[arg(long)]
    pub from_model: Option<String>,
    /// Only requests that ran on this provider.
    #[arg(long)]
    pub from_provider: Option<String>,
    /// Only requests of this key id.
    #[arg(long)]
    pub key: Option<String>,
    /// Only requests whose error contains this text.
    #[arg(long, short)]
    pub q: Option<String>,
}

/// What to replay on.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Override {
    /// Replay on this model instead.
    #[arg(long)]
    pub model: Option<String>,
    /// Replay on this provider (with the original's model).
    #[arg(long)]
    pub provider: Option<String>,
    /// Replay even where parts of the stored request were redacted (they go upstream as
    /// `[REDACTED]`).
    #[arg(long)]
    pub allow_redacted: bool,
}

impl Override {
    fn body(&self) -> Value {
        let mut b = json!({});
        if self.allow_redacted {
            b["allow_redacted"] = json!(true);
        }
        if let Some(m) = &self.model {
            b["model"] = json!(m);
        }
        if let Some(p) = &self.provider {
            b["provider"] = json!(p);
        }
        b
    }
}

/// Replays one request and prints the new job id.
pub async fn one(gw: &Gateway, id: &str, o: &Override) -> anyhow::Result<()> {
    let r = gw
        .post(&format!("/v1/requests/{id}/replay"), &o.body())
        .await?;
    println!("{id} -> {}", r["id"].as_str().unwrap_or("?"));
    Ok(())
}

/// Replays every failed request matching the window on the gateway (a bulk replay, audited
/// there), following its progress with a bar, then prints a summary line.
pub async fn failed(gw: &Gateway, w: &Window, o: &Override) -> anyhow::Result<()> {
    let Some(since) = &w.since else {
        bail!("--failed needs --since (for example --since 1h) so that it never replays the whole log by accident");
    };
    let mut filter = json!({"status": "failed", "since": since});
    for (k, v) in [
        ("until", &w.until),
        ("model", &w.from_model),
        ("provider", &w.from_provider),
        ("key", &w.key),
        ("q", &w.q),
    ] {
        if let Some(v) = v {
            filter[k] = json!(v);
        }
    }
    let mut body = o.body();
    body["filter"] = filter;
    let mut p = gw.post("/v1/requests/replay", &body).await?;
    let id = p["id"].as_str().unwrap_or_default().to_string();
    let total = p["total"].as_u64().unwrap_or(0);
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} replayed  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    while p["status"] != "completed" {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        p = gw.get(&format!("/v1/requests/replay/{id}"), &[]).await?;
        let done = p["replayed"].as_u64().unwrap_or(0) + p["errors"].as_u64().unwrap_or(0);
        bar.set_position(done);
        bar.set_message(format!("{} errors", p["errors"].as_u64().unwrap_or(0)));
    }
    bar.finish_and_clear();
    let errors = p["errors"].as_u64().unwrap_or(0);
    for e in p["error_samples"].as_array().into_iter().flatten() {
        eprintln!("not replayed: {}", e.as_str().unwrap_or_default());
    }
    println!(
        "replayed {} of {total} failed requests ({errors} errors); bulk replay {id}",
        p["replayed"].as_u64().unwrap_or(0)
    );
    if errors > 0 {
        bail!("{errors} replays failed; see the messages above");
    }
    Ok(())
}
