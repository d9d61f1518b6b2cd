//! `switchyard keys create|list|revoke|rotate`: virtual keys through the admin API (with the
//! master key: `SWITCHYARD_MASTER_KEY` or `[auth] master_key`, or `--api-key`).

use super::table::{cell, print};
use super::Gateway;
use anyhow::Context;
use serde_json::{json, Map, Value};

/// What `keys create` sets.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Spec {
    /// Who or what the key is for.
    #[arg(long)]
    pub name: String,
    /// Models (or aliases) it may use, comma-separated; `mock/*` matches a prefix. Default all.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Requests per minute.
    #[arg(long)]
    pub rpm: Option<u64>,
    /// Tokens per minute.
    #[arg(long)]
    pub tpm: Option<u64>,
    /// Hard budget in USD per period.
    #[arg(long)]
    pub budget_usd: Option<f64>,
    /// Soft budget in USD per period (crossing it is logged and audited).
    #[arg(long)]
    pub soft_budget_usd: Option<f64>,
    /// `day`, `week` or `month` (default).
    #[arg(long)]
    pub budget_period: Option<String>,
    /// Stops working after this long (`30d`, `12h`).
    #[arg(long)]
    pub expires_in: Option<String>,
    /// Reaches everything the master key reaches.
    #[arg(long)]
    pub admin: bool,
    /// A label, `name=value`; repeat for more.
    #[arg(long = "metadata", value_name = "NAME=VALUE")]
    pub metadata: Vec<String>,
}

impl Spec {
    fn body(&self) -> anyhow::Result<Value> {
        let mut o = Map::new();
        o.insert("name".into(), json!(self.name));
        if !self.models.is_empty() {
            o.insert("models".into(), json!(self.models));
        }
        for (k, v) in [("rpm", self.rpm), ("tpm", self.tpm)] {
            if let Some(v) = v {
                o.insert(k.into(), json!(v));
            }
        }
        for (k, v) in [
            ("budget_usd", self.budget_usd),
            ("soft_budget_usd", self.soft_budget_usd),
        ] {
            if let Some(v) = v {
                o.insert(k.into(), json!(v));
            }
        }
        if let Some(p) = &self.budget_period {
            o.insert("budget_period".into(), json!(p));
        }
        if let Some(age) = &self.expires_in {
            let now = schemas::now_ms();
            // An age parses as "that long ago": the same span ahead is when the key expires.
            let ago = broker::audit::window::parse_time(age, now)
                .map_err(|e| anyhow::anyhow!("--expires-in: {e}"))?;
            o.insert("expires_at".into(), json!((now + (now - ago)) / 1000));
        }
        if self.admin {
            o.insert("admin".into(), json!(true));
        }
        let mut meta = Map::new();
        for m in &self.metadata {
            let (k, v) = m
                .split_once('=')
                .with_context(|| format!("--metadata `{m}`: write NAME=VALUE"))?;
            meta.insert(k.into(), json!(v));
        }
        if !meta.is_empty() {
            o.insert("metadata".into(), Value::Object(meta));
        }
        Ok(Value::Object(o))
    }
}

/// `keys create`: prints the secret once.
pub async fn create(gw: &Gateway, spec: &Spec, json_out: bool) -> anyhow::Result<()> {
    let v = gw.post("/admin/keys", &spec.body()?).await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("created key {} ({})", cell(&v["id"]), cell(&v["name"]));
    println!("{}", cell(&v["key"]));
    println!("Keep it now: it is not shown again. Use it as `Authorization: Bearer <key>`.");
    Ok(())
}

/// `keys list`.
pub async fn list(gw: &Gateway, json_out: bool) -> anyhow::Result<()> {
    let v = gw.get("/admin/keys", &[]).await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = v["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|k| {
                    let state = if !k["revoked_at"].is_null() {
                        "revoked"
                    } else {
                        "active"
                    };
                    vec![
                        cell(&k["id"]),
                        cell(&k["name"]),
                        state.into(),
                        cell(&k["prefix"]),
                        limits(k),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    print(&["ID", "NAME", "STATE", "SECRET", "LIMITS"], &rows);
    Ok(())
}

fn limits(k: &Value) -> String {
    let mut parts = Vec::new();
    if k["admin"] == json!(true) {
        parts.push("admin".to_string());
    }
    for f in ["rpm", "tpm"] {
        if let Some(n) = k[f].as_u64() {
            parts.push(format!("{f} {n}"));
        }
    }
    if let Some(b) = k["budget_usd"].as_f64() {
        parts.push(format!(
            "${b}/{}",
            k["budget_period"].as_str().unwrap_or("month")
        ));
    }
    if let Some(m) = k["models"].as_array().filter(|m| !m.is_empty()) {
        let names: Vec<String> = m.iter().map(cell).collect();
        parts.push(format!("models {}", names.join(",")));
    }
    parts.join(", ")
}

/// `keys revoke ID`.
pub async fn revoke(gw: &Gateway, id: &str) -> anyhow::Result<()> {
    let v = gw.delete(&format!("/admin/keys/{id}")).await?;
    println!("revoked key {} ({})", cell(&v["id"]), cell(&v["name"]));
    Ok(())
}

/// `keys rotate ID`: prints the new secret once.
pub async fn rotate(gw: &Gateway, id: &str) -> anyhow::Result<()> {
    let v = gw
        .post(&format!("/admin/keys/{id}/rotate"), &json!({}))
        .await?;
    println!(
        "rotated key {}; the old secret no longer works",
        cell(&v["id"])
    );
    println!("{}", cell(&v["key"]));
    println!("Keep it now: it is not shown again.");
    Ok(())
}
