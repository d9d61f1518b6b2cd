//! `switchyard requests`: the request log as a table.

use super::table::{cell, cut, ms, print};
use super::Gateway;
use broker::audit::window::format_ms;

/// The filters of `switchyard requests` (query parameters of `GET /v1/requests`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filters {
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    #[arg(long)]
    pub status: Option<String>,
    /// Model (as requested, or `provider/model`).
    #[arg(long)]
    pub model: Option<String>,
    /// Provider.
    #[arg(long)]
    pub provider: Option<String>,
    /// Key id.
    #[arg(long)]
    pub key: Option<String>,
    /// Text in the error message.
    #[arg(long, short)]
    pub q: Option<String>,
    /// From: `1h`, `30m`, epoch ms or RFC 3339.
    #[arg(long)]
    pub since: Option<String>,
    /// Until: same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
}

impl Filters {
    /// As query parameters.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        [
            ("status", &self.status),
            ("model", &self.model),
            ("provider", &self.provider),
            ("key", &self.key),
            ("q", &self.q),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

/// Lists matching requests (at most `limit`), as a table or JSON.
pub async fn run(gw: &Gateway, f: &Filters, limit: usize, json: bool) -> anyhow::Result<()> {
    let mut q = f.query();
    q.push(("limit", limit.to_string()));
    let page = gw.get("/v1/requests", &q).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(());
    }
    let data = page["data"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = data
        .iter()
        .map(|r| {
            vec![
                cell(&r["id"]),
                r["created_ms"].as_u64().map(format_ms).unwrap_or_default(),
                cell(&r["status"]),
                cell(&r["model"]),
                cell(&r["provider"]),
                ms(&r["duration_ms"]),
                cell(&r["attempts"]),
                cut(r["error"].as_str().unwrap_or(""), 60),
            ]
        })
        .collect();
    print(
        &[
            "ID", "CREATED", "STATUS", "MODEL", "PROVIDER", "DURATION", "ATTEMPTS", "ERROR",
        ],
        &rows,
    );
    if page["has_more"].as_bool() == Some(true) {
        println!("(more: raise --limit or narrow the filters)");
    }
    Ok(())
}
