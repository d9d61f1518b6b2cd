//! The `switchyard` command line.

mod cli;

use anyhow::Context;
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
    /// Where the managed nats-server and the auditor keep their data (`nats.data_dir`,
    /// default `.switchyard`).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The key the client verbs send (`requests`, `trace`, `replay`, `keys`); default the
    /// config's master key.
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_API_KEY",
        hide_env_values = true
    )]
    api_key: Option<String>,
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
    Serve {
        /// Leave a role out of this process, e.g. `--without auditor` when the auditor runs
        /// on its own (`switchyard auditor`); repeat for more.
        #[arg(long, value_name = "ROLE", value_parser = ["ingress", "worker", "auditor"])]
        without: Vec<String>,
    },
    /// Run only the HTTP ingress against a shared NATS.
    Ingress,
    /// Run only the workers against a shared NATS.
    Worker,
    /// Run only the auditor (request log and its NATS query service) against a shared NATS.
    Auditor,
    /// List the request log: `switchyard requests --status failed --since 1h`.
    Requests {
        #[command(flatten)]
        filters: cli::requests::Filters,
        /// At most this many rows.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print the JSON page instead of a table.
        #[arg(long)]
        json: bool,
        /// The gateway (default: http://<server.listen>).
        #[arg(long)]
        url: Option<String>,
    },
    /// Print a request's lifecycle as a timeline.
    Trace {
        /// The request (job) id.
        id: String,
        /// Print the full record as JSON.
        #[arg(long)]
        json: bool,
        /// The gateway (default: http://<server.listen>).
        #[arg(long)]
        url: Option<String>,
    },
    /// Resubmit a stored request as a new job, or every failed one in a window (--failed).
    Replay {
        /// The request (job) id; leave out with --failed.
        #[arg(required_unless_present = "failed", conflicts_with = "failed")]
        id: Option<String>,
        /// Replay every failed request matching the filters (needs --since).
        #[arg(long)]
        failed: bool,
        #[command(flatten)]
        window: cli::replay::Window,
        #[command(flatten)]
        over: cli::replay::Override,
        /// The gateway (default: http://<server.listen>).
        #[arg(long)]
        url: Option<String>,
    },
    /// Create, list, revoke and rotate virtual keys (needs the master key or an admin key).
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
        /// The gateway (default: http://<server.listen>).
        #[arg(long, global = true)]
        url: Option<String>,
    },
    /// Submit, follow, list, cancel and fetch batches (the Batch API).
    Batch {
        #[command(subcommand)]
        cmd: BatchCmd,
        /// The gateway (default: http://<server.listen>).
        #[arg(long, global = true)]
        url: Option<String>,
    },
    /// Check a deployment (NATS, JetStream, streams and their replicas, providers through
    /// the workers, clocks, the request log's auditors) and print what to fix; exits 1 when
    /// something must be fixed.
    Doctor,
    /// Print the effective config (secrets hidden) and exit.
    Config,
    /// Print the capability matrix (what each adapter does with each chat parameter).
    Capabilities {
        /// Write it to this file instead (docs/CAPABILITIES.md).
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Write the JSON Schema files of the wire types.
    Schemas {
        /// Output directory.
        #[arg(long, default_value = "schemas/json")]
        out: PathBuf,
    },
}

/// `switchyard keys ...`.
#[derive(Subcommand)]
enum KeysCmd {
    /// Create a key; its secret is printed once.
    Create {
        #[command(flatten)]
        spec: cli::keys::Spec,
        /// Print the JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// List the keys (never their secrets).
    List {
        /// Print the JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: it stops working on every ingress within a second.
    Revoke {
        /// The key id.
        id: String,
    },
    /// Give a key a new secret; the old one stops working.
    Rotate {
        /// The key id.
        id: String,
    },
}

/// `switchyard batch ...`.
#[derive(Subcommand)]
enum BatchCmd {
    /// Upload FILE.jsonl and start a batch; --wait follows it and writes the output file.
    Submit {
        /// The JSONL input file (custom_id, method, url, body per line).
        file: PathBuf,
        /// `chat` or `embeddings`.
        #[arg(long, default_value = "chat")]
        endpoint: String,
        /// Follow it to the end with a progress bar, then write its output.
        #[arg(long)]
        wait: bool,
        /// Where the output goes (default FILE.out.jsonl; errors beside it).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A batch's state and counts.
    Status {
        /// The batch id.
        id: String,
    },
    /// Your batches.
    List,
    /// Cancel a batch: its unfinished lines stop.
    Cancel {
        /// The batch id.
        id: String,
    },
    /// Write a finished batch's output (and error) file.
    Results {
        /// The batch id.
        id: String,
        /// Where (default <id>.out.jsonl).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The global options that locate the config and the key of the client verbs.
struct Opts {
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    api_key: Option<String>,
}

/// The config file and environment, completed and checked, with `--data-dir` applied.
fn load_config(cli: &Opts) -> anyhow::Result<broker::Config> {
    let mut cfg = switchyard::config::load(cli.config.as_deref())?;
    if let Some(dir) = &cli.data_dir {
        cfg.nats.data_dir = dir.clone();
    }
    Ok(cfg)
}

/// The gateway the client verbs talk to: `--url`, else the config's `server.listen`.
fn gateway(cli: &Opts, url: Option<String>) -> anyhow::Result<cli::Gateway> {
    let cfg = load_config(cli)?;
    let url = url.unwrap_or_else(|| cli::gateway::default_url(&cfg));
    let key = cli
        .api_key
        .clone()
        .or_else(|| cfg.auth.master_key.map(|k| k.expose().to_string()));
    Ok(cli::Gateway::new(&url, key))
}

/// mimalloc: the gateway allocates many short-lived buffers per request, where glibc's
/// malloc showed up as about a fifth of the CPU in the load test (bench/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[allow(clippy::print_stdout)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Cli {
        config,
        data_dir,
        api_key,
        log_format,
        cmd,
    } = Cli::parse();
    let cli = Opts {
        config,
        data_dir,
        api_key,
    };
    let format: LogFormat = log_format.parse().map_err(anyhow::Error::msg)?;
    let roles = match cmd {
        Cmd::Serve { without } => Roles::ALL.without(&without),
        Cmd::Ingress => Roles::INGRESS,
        Cmd::Worker => Roles::WORKER,
        Cmd::Auditor => Roles::AUDITOR,
        Cmd::Requests {
            filters,
            limit,
            json,
            url,
        } => {
            let gw = gateway(&cli, url)?;
            return cli::requests::run(&gw, &filters, limit, json).await;
        }
        Cmd::Trace { id, json, url } => {
            let gw = gateway(&cli, url)?;
            return cli::trace::run(&gw, &id, json).await;
        }
        Cmd::Replay {
            id,
            failed,
            window,
            over,
            url,
        } => {
            let gw = gateway(&cli, url)?;
            return match (failed, id) {
                (true, _) => cli::replay::failed(&gw, &window, &over).await,
                (false, Some(id)) => cli::replay::one(&gw, &id, &over).await,
                (false, None) => anyhow::bail!("name a request id, or pass --failed --since 1h"),
            };
        }
        Cmd::Keys { cmd, url } => {
            let gw = gateway(&cli, url)?;
            return match cmd {
                KeysCmd::Create { spec, json } => cli::keys::create(&gw, &spec, json).await,
                KeysCmd::List { json } => cli::keys::list(&gw, json).await,
                KeysCmd::Revoke { id } => cli::keys::revoke(&gw, &id).await,
                KeysCmd::Rotate { id } => cli::keys::rotate(&gw, &id).await,
            };
        }
        Cmd::Batch { cmd, url } => {
            let gw = gateway(&cli, url)?;
            return match cmd {
                BatchCmd::Submit {
                    file,
                    endpoint,
                    wait,
                    out,
                } => cli::batch::submit(&gw, &file, &endpoint, wait, out).await,
                BatchCmd::Status { id } => cli::batch::status(&gw, &id).await,
                BatchCmd::List => cli::batch::list(&gw).await,
                BatchCmd::Cancel { id } => cli::batch::cancel(&gw, &id).await,
                BatchCmd::Results { id, out } => cli::batch::results(&gw, &id, out).await,
            };
        }
        Cmd::Doctor => {
            broker::telemetry::init(None, format).map_err(anyhow::Error::msg)?;
            let cfg = load_config(&cli)?;
            let healthy = cli::doctor::run(cfg).await?;
            std::process::exit(if healthy { 0 } else { 1 });
        }
        Cmd::Config => {
            broker::telemetry::init(None, format).map_err(anyhow::Error::msg)?;
            let cfg = load_config(&cli)?;
            println!(
                "{}",
                toml::to_string_pretty(&broker::access::secrets::displayable(&cfg))
                    .context("cannot print the config")?
            );
            return Ok(());
        }
        Cmd::Capabilities { write } => {
            let doc = workers::capability::document();
            match write {
                Some(path) => {
                    std::fs::write(&path, doc)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    println!("wrote {}", path.display());
                }
                None => print!("{doc}"),
            }
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
    if !(roles.ingress || roles.worker || roles.auditor) {
        anyhow::bail!("`serve --without` left no role to run; leave out at most two of ingress, worker and auditor");
    }
    let cfg = load_config(&cli)?;
    let telemetry =
        broker::telemetry::init(Some(&cfg.telemetry), format).map_err(anyhow::Error::msg)?;
    if let Some(skew) = std::env::var("SWITCHYARD_TEST_CLOCK_SKEW_MS")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    {
        tracing::warn!(skew_ms = skew, "test hook: this process's clock is shifted (SWITCHYARD_TEST_CLOCK_SKEW_MS); unset it outside tests");
        schemas::skew_clock(skew);
    }
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
