//! The `switchyard` command line.

use anyhow::Context;
use broker::config::Config;
use broker::telemetry::LogFormat;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use switchyard::{start, Roles};

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "An open-source AI gateway on NATS JetStream"
)]
struct Cli {
    /// The TOML config file (every key can also come from SWITCHYARD_* env vars).
    #[arg(long, short, global = true, env = "SWITCHYARD_CONFIG")]
    config: Option<PathBuf>,
    /// Log format: `text` or `json`.
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every role in one process, with a managed nats-server when no nats.url is set.
    Serve,
    /// Run only the HTTP ingress against a shared NATS.
    Ingress,
    /// Run only the workers against a shared NATS.
    Worker,
    /// Print the effective config (secrets hidden) and exit.
    Config,
    /// Write the JSON Schema files of the wire types.
    Schemas {
        /// Output directory.
        #[arg(long, default_value = "schemas/json")]
        out: PathBuf,
    },
}

#[allow(clippy::print_stdout)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let format: LogFormat = cli.log_format.parse().map_err(anyhow::Error::msg)?;
    let roles = match cli.cmd {
        Cmd::Serve => Roles::ALL,
        Cmd::Ingress => Roles {
            ingress: true,
            worker: false,
            managed_nats: false,
        },
        Cmd::Worker => Roles {
            ingress: false,
            worker: true,
            managed_nats: false,
        },
        Cmd::Config => {
            broker::telemetry::init(None, format).map_err(anyhow::Error::msg)?;
            let cfg = Config::load(cli.config.as_deref())?;
            println!(
                "{}",
                toml::to_string_pretty(&cfg).context("cannot print the config")?
            );
            return Ok(());
        }
        Cmd::Schemas { out } => {
            broker::telemetry::init(None, format).map_err(anyhow::Error::msg)?;
            std::fs::create_dir_all(&out)?;
            for (name, schema) in schemas::json_schemas() {
                let path = out.join(&name);
                std::fs::write(&path, serde_json::to_string_pretty(&schema)? + "\n")?;
                println!("wrote {}", path.display());
            }
            return Ok(());
        }
    };
    let cfg = Config::load(cli.config.as_deref())?;
    let telemetry =
        broker::telemetry::init(Some(&cfg.telemetry), format).map_err(anyhow::Error::msg)?;
    let running = match start(cfg, roles).await {
        Ok(r) => r,
        Err(e) => {
            telemetry.shutdown().await;
            return Err(e);
        }
    };
    if let Some(addr) = running.http_addr {
        tracing::info!("Switchyard is up: try  curl http://{addr}/v1/chat/completions -H 'content-type: application/json' -d '{{\"model\":\"mock/echo\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}]}}'");
    }
    let token = running.shutdown_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: draining in-flight jobs");
        token.cancel();
    });
    running.wait().await;
    telemetry.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            return;
        }
    }
    let _ = ctrl_c.await;
}
