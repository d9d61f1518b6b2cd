//! `switchyard trace ID`: a job's lifecycle as a readable timeline.

use super::table::{cell, cut, ms, print};
use super::Gateway;
use broker::audit::window::format_ms;
use serde_json::Value;

fn status(e: &Value) -> String {
    match (&e["status"], e["error_kind"].as_str()) {
        (Value::Null, None) => "-".into(),
        (s, None) => cell(s),
        (s, Some(k)) => format!("{} {k}", cell(s)),
    }
}

/// Prints the record's summary and its timeline (or the whole record as JSON).
pub async fn run(gw: &Gateway, id: &str, json: bool) -> anyhow::Result<()> {
    let rec = gw.get(&format!("/v1/requests/{id}"), &[]).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rec)?);
        return Ok(());
    }
    println!("request   {}", cell(&rec["id"]));
    println!(
        "status    {}  (http {})",
        cell(&rec["status"]),
        cell(&rec["status_code"])
    );
    println!(
        "model     {}  -> {}/{}",
        cell(&rec["model"]),
        cell(&rec["provider"]),
        cell(&rec["provider_model"])
    );
    println!(
        "received  {}",
        rec["created_ms"]
            .as_u64()
            .map(format_ms)
            .unwrap_or_default()
    );
    println!(
        "timing    total {}  queue wait {}  attempts {}",
        ms(&rec["duration_ms"]),
        ms(&rec["queue_wait_ms"]),
        cell(&rec["attempts"])
    );
    if let Some(u) = rec.get("usage").filter(|u| !u.is_null()) {
        println!(
            "tokens    prompt {}  completion {}  total {}",
            cell(&u["prompt_tokens"]),
            cell(&u["completion_tokens"]),
            cell(&u["total_tokens"])
        );
    }
    if let Some(o) = rec["replay_of"].as_str() {
        println!("replay of {o}");
    }
    if let Some(a) = rec["replayed_as"].as_array().filter(|a| !a.is_empty()) {
        let ids: Vec<String> = a.iter().map(cell).collect();
        println!("replayed  {}", ids.join(", "));
    }
    println!();
    let rows: Vec<Vec<String>> = rec["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            vec![
                format!("+{}", ms(&e["offset_ms"])),
                cell(&e["kind"]),
                cell(&e["node"]),
                cell(&e["provider"]),
                status(e),
                cut(e["error"].as_str().unwrap_or(""), 70),
            ]
        })
        .collect();
    print(
        &["OFFSET", "KIND", "NODE", "PROVIDER", "STATUS", "ERROR"],
        &rows,
    );
    Ok(())
}
