//! `switchyard replay`: one request, or every failed request in a window, as new jobs.

use super::requests::Filters;
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

impl Window {
    fn filters(&self) -> Filters {
        Filters {
            status: Some("failed".into()),
            model: self.from_model.clone(),
            provider: self.from_provider.clone(),
            key: self.key.clone(),
            q: self.q.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
        }
    }
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

/// Replays every failed request matching `f` with a progress bar, then a summary line.
pub async fn failed(gw: &Gateway, w: &Window, o: &Override) -> anyhow::Result<()> {
    if w.since.is_none() {
        bail!("--failed needs --since (for example --since 1h) so that it never replays the whole log by accident");
    }
    let f = w.filters();
    let failed = gw.all_requests(&f.query()).await?;
    let bar = indicatif::ProgressBar::new(failed.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} replayed  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (mut ok, mut errors) = (0usize, Vec::new());
    for r in &failed {
        let id = r["id"].as_str().unwrap_or_default();
        match gw
            .post(&format!("/v1/requests/{id}/replay"), &o.body())
            .await
        {
            Ok(v) => {
                ok += 1;
                bar.suspend(|| println!("{id} -> {}", v["id"].as_str().unwrap_or("?")));
            }
            Err(e) => errors.push(format!("{id}: {e}")),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    for e in &errors {
        eprintln!("not replayed: {e}");
    }
    println!(
        "replayed {ok} of {} failed requests ({} errors)",
        failed.len(),
        errors.len()
    );
    if !errors.is_empty() {
        bail!("{} replays failed; see the messages above", errors.len());
    }
    Ok(())
}
