//! `switchyard doctor`: checks a deployment from the outside, read-only, and says what to
//! fix. NATS reachable with the configured credentials, JetStream on, every stream, bucket
//! and consumer there with its replicas and a leader, each provider answering through a
//! worker, the nodes' clocks against the NATS server's, and the request log's auditors.

use async_nats::jetstream;
use broker::Config;
use futures::StreamExt;
use std::time::Duration;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

/// The checks' lines, in order.
#[derive(Default)]
struct Report {
    lines: Vec<(Level, String, Option<String>)>,
}

impl Report {
    fn ok(&mut self, what: impl Into<String>) {
        self.lines.push((Level::Ok, what.into(), None));
    }
    fn warn(&mut self, what: impl Into<String>, fix: impl Into<String>) {
        self.lines
            .push((Level::Warn, what.into(), Some(fix.into())));
    }
    fn fail(&mut self, what: impl Into<String>, fix: impl Into<String>) {
        self.lines
            .push((Level::Fail, what.into(), Some(fix.into())));
    }
    fn print(&self) {
        for (level, what, fix) in &self.lines {
            let tag = match level {
                Level::Ok => "ok  ",
                Level::Warn => "warn",
                Level::Fail => "FAIL",
            };
            println!("{tag}  {what}");
            if let Some(f) = fix {
                println!("      fix: {f}");
            }
        }
        let fails = self.count(Level::Fail);
        let warns = self.count(Level::Warn);
        println!(
            "\n{}",
            match (fails, warns) {
                (0, 0) => "healthy".to_string(),
                (0, w) => format!("healthy, {w} warning(s)"),
                (f, _) => format!("{f} problem(s) to fix"),
            }
        );
    }
    fn count(&self, level: Level) -> usize {
        self.lines.iter().filter(|l| l.0 == level).count()
    }
}

/// Clock skew past which a node is a problem (deadlines and durations cross nodes).
const SKEW_FAIL_MS: i64 = 2_000;
const SKEW_WARN_MS: i64 = 500;

/// Runs every check and prints the report; `Ok(false)` when something must be fixed.
pub async fn run(mut cfg: Config) -> anyhow::Result<bool> {
    let mut r = Report::default();
    let url = match &cfg.nats.url {
        Some(u) => u.clone(),
        None => {
            // `switchyard serve`'s managed server: its port and generated password.
            let pw = cfg.nats.data_dir.join("nats").join("password");
            if let Ok(p) = std::fs::read_to_string(&pw) {
                cfg.nats.user = Some(switchyard::managed_nats::USER.into());
                cfg.nats.password = Some(broker::config::Secret::new(p.trim()));
            }
            "nats://127.0.0.1:4222".into()
        }
    };
    let who = cfg.nats.user.clone().unwrap_or_else(|| "(no user)".into());
    let client = broker::nats::connect(&url, &cfg.nats, "switchyard-doctor").await;
    let connected = match &client {
        Ok(c) => {
            let until = tokio::time::Instant::now() + Duration::from_secs(5);
            while c.connection_state() != async_nats::connection::State::Connected
                && tokio::time::Instant::now() < until
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            c.connection_state() == async_nats::connection::State::Connected
        }
        Err(_) => false,
    };
    let Some(client) = client.ok().filter(|_| connected) else {
        r.fail(
            format!("NATS: cannot connect to {url} as {who}"),
            "check nats.url (SWITCHYARD_NATS_URL), the credentials (nats.user/password, credentials, token, nkey_seed, tls_*) and that nats-server runs",
        );
        r.print();
        return Ok(false);
    };
    let info = client.server_info();
    let cluster = info.cluster.clone().filter(|c| !c.is_empty());
    r.ok(format!(
        "NATS: connected to {} ({}, nats-server {}) as {who}{}",
        url,
        info.server_name,
        info.version,
        cluster
            .as_ref()
            .map(|c| format!(", cluster `{c}`"))
            .unwrap_or_default()
    ));
    if !info.jetstream {
        r.fail(
            format!("JetStream: not enabled on {}", info.server_name),
            "start nats-server with -js (or a jetstream block in its config)",
        );
        r.print();
        return Ok(false);
    }
    let js = jetstream::new(client.clone());
    match js.query_account().await {
        Ok(a) => r.ok(format!(
            "JetStream: on ({} streams, {} consumers in this account)",
            a.streams, a.consumers
        )),
        Err(e) => r.fail(
            format!("JetStream: the account does not answer ({e})"),
            "a cluster may still be electing its leader (wait and run doctor again); otherwise check the nats-server logs",
        ),
    }
    let replicas = broker::nats::replicas::effective(&client, cfg.nats.replicas);
    let plain = schemas::Subjects::new(&cfg.nats.prefix);
    let partitions = match cfg.nats.log_partitions {
        Some(n) => n,
        None => broker::nats::stored_partitions(&js, &plain).await,
    };
    let subjects = plain.with_partitions(partitions);
    topology(&mut r, &js, &subjects, replicas).await;
    providers(&mut r, &client, &js, &subjects, &cfg).await;
    clocks(&mut r, &js, &subjects).await;
    auditors(&mut r, &client, &js, &subjects).await;
    r.print();
    Ok(r.count(Level::Fail) == 0)
}

/// Every stream and bucket: there, with its replicas, a leader and current replicas.
async fn topology(r: &mut Report, js: &jetstream::Context, s: &schemas::Subjects, replicas: usize) {
    let mut names = vec![
        s.jobs_stream(),
        s.results_stream(),
        s.events_stream(),
        s.dead_stream(),
        s.admin_stream(),
        s.batch_results_stream(),
    ];
    for b in [
        s.idempotency_bucket(),
        s.cancel_bucket(),
        s.circuits_bucket(),
        s.keys_bucket(),
        s.rates_bucket(),
        s.spend_bucket(),
        s.bulk_bucket(),
        s.nodes_bucket(),
        s.batches_bucket(),
    ] {
        names.push(format!("KV_{b}"));
    }
    names.push(format!("OBJ_{}", s.files_bucket()));
    let (mut good, total) = (0, names.len());
    for name in names {
        let info = match js.get_stream(&name).await {
            Ok(mut st) => st.info().await.cloned(),
            Err(e) => {
                r.fail(
                    format!("stream {name}: missing ({e})"),
                    "start any role with this config (switchyard serve, ingress, worker or auditor) to create it",
                );
                continue;
            }
        };
        let Ok(info) = info else {
            r.fail(
                format!("stream {name}: no answer for its state"),
                "the stream may have no leader: check that a majority of its NATS nodes run",
            );
            continue;
        };
        let have = info.config.num_replicas;
        if have != replicas {
            r.fail(
                format!("stream {name}: {have} replica(s), expected {replicas}"),
                "start any role with this config to update it (or set nats.replicas to what the cluster has)",
            );
            continue;
        }
        if let Some(c) = &info.cluster {
            if c.leader.as_deref().unwrap_or("").is_empty() {
                r.fail(
                    format!("stream {name}: no leader"),
                    "a majority of its replicas' NATS nodes must run: restart the missing nodes",
                );
                continue;
            }
            let behind: Vec<String> = c
                .replicas
                .iter()
                .filter(|p| !p.current || p.offline)
                .map(|p| p.name.clone())
                .collect();
            if !behind.is_empty() {
                r.warn(
                    format!(
                        "stream {name}: replicas behind or offline on {}",
                        behind.join(", ")
                    ),
                    "restart those NATS nodes; the stream serves meanwhile from its leader",
                );
                continue;
            }
        }
        good += 1;
    }
    if good == total {
        r.ok(format!(
            "topology: {total} streams and buckets, each with {replicas} replica(s) and a leader"
        ));
    }
}

/// Each configured provider answers through a worker (its live model list).
async fn providers(
    r: &mut Report,
    client: &async_nats::Client,
    js: &jetstream::Context,
    s: &schemas::Subjects,
    cfg: &Config,
) {
    let registry = match workers::providers::Registry::from_config(cfg) {
        Ok(reg) => reg,
        Err(e) => {
            r.fail(
                format!("providers: invalid config ({e})"),
                "fix [providers] in the config",
            );
            return;
        }
    };
    let jobs = js.get_stream(s.jobs_stream()).await.ok();
    for name in registry.names() {
        let consumer = s.worker_consumer(name);
        let has_consumer = match &jobs {
            Some(st) => st
                .get_consumer::<jetstream::consumer::pull::Config>(&consumer)
                .await
                .is_ok(),
            None => false,
        };
        let asked = tokio::time::timeout(
            Duration::from_secs(10),
            client.request(s.models(name), Default::default()),
        )
        .await;
        match asked {
            Ok(Ok(m)) => match serde_json::from_slice::<schemas::ModelsReply>(&m.payload) {
                Ok(reply) => match reply.error {
                    Some(e) if e.code.as_deref() != Some("unsupported") => r.fail(
                        format!("provider {name}: {}", e.message),
                        "check the provider's API key and base_url in the workers' config",
                    ),
                    _ => r.ok(format!(
                        "provider {name}: a worker answers ({} models listed)",
                        reply.data.len()
                    )),
                },
                Err(e) => r.warn(format!("provider {name}: an unreadable answer ({e})"), "run workers of this version"),
            },
            _ => r.fail(
                format!(
                    "provider {name}: no worker answers{}",
                    if has_consumer { "" } else { " (and none has ever consumed its jobs)" }
                ),
                format!("start `switchyard worker` with the `{name}` provider configured (its jobs wait in the stream meanwhile)"),
            ),
        }
    }
}

/// The nodes' heartbeats: their clocks against the NATS server's, and which roles run.
async fn clocks(r: &mut Report, js: &jetstream::Context, s: &schemas::Subjects) {
    let Ok(kv) = js.get_key_value(s.nodes_bucket()).await else {
        return;
    };
    let Ok(mut keys) = kv.keys().await else {
        return;
    };
    let mut nodes = Vec::new();
    while let Some(Ok(k)) = keys.next().await {
        if let Ok(Some(e)) = kv.entry(&k).await {
            if let Ok(beat) = serde_json::from_slice::<broker::nats::heartbeat::NodeBeat>(&e.value)
            {
                let server_ms = (e.created.unix_timestamp_nanos() / 1_000_000) as i64;
                nodes.push((beat, server_ms));
            }
        }
    }
    let mut roles = std::collections::BTreeSet::new();
    let mut worst = 0i64;
    for (beat, server_ms) in &nodes {
        roles.extend(beat.roles.iter().cloned());
        // The node's clock when it wrote, less the server's when it stored (a heartbeat takes
        // a round trip at most to be stored).
        let off = beat.ts_ms as i64 - server_ms;
        worst = worst.max(off.abs());
        let what = format!(
            "node {}: its clock is {off} ms off the NATS server's",
            beat.node
        );
        let fix = "sync the machine's clock (chrony or systemd-timesyncd): deadlines and durations cross nodes";
        if off.abs() > SKEW_FAIL_MS {
            r.fail(what, fix);
        } else if off.abs() > SKEW_WARN_MS {
            r.warn(what, fix);
        }
    }
    r.ok(format!(
        "nodes: {} alive ({}), clocks within {worst} ms of the NATS server's",
        nodes.len(),
        roles.into_iter().collect::<Vec<_>>().join(", ")
    ));
}

/// The request log: auditors answering, and how far behind their consumers are.
async fn auditors(
    r: &mut Report,
    client: &async_nats::Client,
    js: &jetstream::Context,
    s: &schemas::Subjects,
) {
    // NATS services answer `$SRV.PING.<name>`: every auditor replies once.
    let inbox = client.new_inbox();
    let Ok(mut sub) = client.subscribe(inbox.clone()).await else {
        return;
    };
    let _ = client
        .publish_with_reply(
            format!("$SRV.PING.{}", broker::audit::protocol::SERVICE_NAME),
            inbox,
            Default::default(),
        )
        .await;
    let mut answered = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(700);
    while let Ok(Some(m)) = tokio::time::timeout_at(until, sub.next()).await {
        // The server's "no responders" status comes back empty.
        if !m.payload.is_empty() {
            answered += 1;
        }
    }
    if answered == 0 {
        r.fail(
            "request log: no auditor answers",
            "start `switchyard auditor` (or serve): events wait in SY_EVENTS meanwhile, but GET /v1/requests cannot answer",
        );
    }
    // A partitioned log answers only while every partition has an auditor.
    let n = s.partitions();
    if n > 1 && answered > 0 {
        let mut missing = Vec::new();
        for k in 0..n {
            let subject = broker::audit::protocol::partition_subject(s.prefix(), k, "stats");
            let asked = client.request(subject, b"{}".as_slice().into()).await;
            if asked.is_err() {
                missing.push(k);
            }
        }
        if missing.is_empty() {
            r.ok(format!("request log: all {n} partitions have an auditor"));
        } else {
            r.fail(
                format!("request log: partition(s) {missing:?} of {n} have no auditor answering"),
                format!("start `switchyard auditor` with `[auditor] partition = <k>` for each (and `[nats] log_partitions = {n}`); until then lists and stats fail, and those jobs' records cannot be read"),
            );
        }
    }
    let Ok(events) = js.get_stream(s.events_stream()).await else {
        return;
    };
    let mut consumers = events.consumers();
    let mut lag = Vec::new();
    while let Some(Ok(c)) = consumers.next().await {
        if c.name.ends_with("_events") {
            lag.push((c.name.clone(), c.num_pending + c.num_ack_pending as u64));
        }
    }
    for (name, pending) in &lag {
        if *pending > 10_000 {
            r.warn(
                format!("request log: consumer {name} is {pending} events behind"),
                "its auditor is slow or stopped: check it runs; it catches up by itself",
            );
        }
    }
    if answered > 0 {
        r.ok(format!(
            "request log: {answered} auditor(s) answer, {} consumer(s), at most {} events behind",
            lag.len(),
            lag.iter().map(|l| l.1).max().unwrap_or(0)
        ));
    }
}
