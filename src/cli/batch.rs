//! `switchyard batch submit|status|list|cancel|results`: the Batch API from the shell.

use super::table::{cell, print};
use super::Gateway;
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The endpoint a batch's lines call: `chat` or `embeddings`.
fn endpoint(e: &str) -> anyhow::Result<&'static str> {
    match e {
        "chat" | "/v1/chat/completions" => Ok("/v1/chat/completions"),
        "embeddings" | "/v1/embeddings" => Ok("/v1/embeddings"),
        other => bail!("--endpoint `{other}`: use chat or embeddings"),
    }
}

/// `batch submit FILE.jsonl`: uploads, starts, and with `wait` follows it to the end with a
/// progress bar, then writes the output (and error) file beside the input.
pub async fn submit(
    gw: &Gateway,
    file: &Path,
    ep: &str,
    wait: bool,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let url = endpoint(ep)?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("input.jsonl");
    let f = gw
        .post_file("/v1/files", &[("purpose", "batch")], name, bytes)
        .await?;
    let body = json!({"input_file_id": f["id"], "endpoint": url, "completion_window": "24h"});
    let b = gw.post("/v1/batches", &body).await?;
    let id = cell(&b["id"]);
    println!(
        "batch {id}: {} lines from {}",
        b["request_counts"]["total"],
        cell(&f["id"])
    );
    if !wait {
        println!("Follow it with `switchyard batch status {id}`; get its results with `switchyard batch results {id}`.");
        return Ok(());
    }
    let b = follow(gw, &id).await?;
    let out = out.unwrap_or_else(|| file.with_extension("out.jsonl"));
    save(gw, &b, &out).await
}

/// Polls a batch with a progress bar (done, failed, total, rate, ETA) until it ends.
async fn follow(gw: &Gateway, id: &str) -> anyhow::Result<Value> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} lines  {msg}  {per_sec}  ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    loop {
        let b = gw.get(&format!("/v1/batches/{id}"), &[]).await?;
        let c = &b["request_counts"];
        let (done, failed) = (
            c["completed"].as_u64().unwrap_or(0),
            c["failed"].as_u64().unwrap_or(0),
        );
        bar.set_length(c["total"].as_u64().unwrap_or(0));
        bar.set_position(done + failed);
        bar.set_message(format!("{failed} failed, {}", cell(&b["status"])));
        if matches!(
            b["status"].as_str(),
            Some("completed" | "failed" | "expired" | "cancelled")
        ) {
            bar.finish_and_clear();
            println!(
                "batch {id} {}: {done} answered, {failed} failed",
                cell(&b["status"])
            );
            return Ok(b);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Writes a finished batch's output file to `out` and its error file beside it.
async fn save(gw: &Gateway, b: &Value, out: &Path) -> anyhow::Result<()> {
    if let Some(f) = b["output_file_id"].as_str() {
        let bytes = gw.get_bytes(&format!("/v1/files/{f}/content")).await?;
        std::fs::write(out, bytes).with_context(|| format!("cannot write {}", out.display()))?;
        println!("wrote {}", out.display());
    }
    if let Some(f) = b["error_file_id"].as_str() {
        let path = out.with_extension("errors.jsonl");
        let bytes = gw.get_bytes(&format!("/v1/files/{f}/content")).await?;
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {} (the lines that failed)", path.display());
    }
    Ok(())
}

/// `batch status ID`.
pub async fn status(gw: &Gateway, id: &str) -> anyhow::Result<()> {
    let b = gw.get(&format!("/v1/batches/{id}"), &[]).await?;
    println!("{}", serde_json::to_string_pretty(&b)?);
    Ok(())
}

/// `batch list`.
pub async fn list(gw: &Gateway) -> anyhow::Result<()> {
    let page = gw.get("/v1/batches", &[("limit", "100".into())]).await?;
    let rows: Vec<Vec<String>> = page["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|b| {
                    let c = &b["request_counts"];
                    vec![
                        cell(&b["id"]),
                        cell(&b["status"]),
                        format!("{}/{} ({} failed)", c["completed"], c["total"], c["failed"]),
                        cell(&b["endpoint"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    print(&["ID", "STATUS", "DONE", "ENDPOINT"], &rows);
    Ok(())
}

/// `batch cancel ID`.
pub async fn cancel(gw: &Gateway, id: &str) -> anyhow::Result<()> {
    let b = gw
        .post(&format!("/v1/batches/{id}/cancel"), &json!({}))
        .await?;
    println!("batch {id}: {}", cell(&b["status"]));
    Ok(())
}

/// `batch results ID [--out FILE]`.
pub async fn results(gw: &Gateway, id: &str, out: Option<PathBuf>) -> anyhow::Result<()> {
    let b = gw.get(&format!("/v1/batches/{id}"), &[]).await?;
    if b["output_file_id"].is_null() && b["error_file_id"].is_null() {
        bail!(
            "batch {id} has no results yet ({}); wait with `switchyard batch status {id}`",
            cell(&b["status"])
        );
    }
    save(
        gw,
        &b,
        &out.unwrap_or_else(|| PathBuf::from(format!("{id}.out.jsonl"))),
    )
    .await
}
