//! Switchyard on a 3-node nats-server cluster on loopback, built from the config files that
//! deploy/ ships (deploy/nats/nats-{1,2,3}.conf and auth.conf; only the ports, the routes'
//! hosts and the store directory are rewritten): roles wait for a cluster still electing
//! its JetStream leader, streams get three replicas by themselves, and (failover.rs) the
//! gateway loses nothing while nodes, workers and auditors die and come back.

use crate::harness::*;
use std::path::PathBuf;
use std::time::Duration;
use switchyard::Roles;

/// The role users' passwords (`<role>-pw-1234`), for nats-server's environment.
fn passwords() -> Vec<(String, String)> {
    ["INGRESS", "WORKER", "AUDITOR", "ADMIN"]
        .iter()
        .map(|r| {
            (
                format!("SWITCHYARD_NATS_{r}_PASSWORD"),
                format!("{}-pw-1234", r.to_lowercase()),
            )
        })
        .collect()
}

/// `[nats]` of a role's config: its user, and the cluster's three URLs.
pub fn role_nats(url: &str, user: &str) -> String {
    format!("[nats]\nurl = \"{url}\"\nuser = \"{user}\"\npassword = \"{user}-pw-1234\"\njetstream_wait_s = 60\n")
}

/// Three nats-server nodes of one cluster.
pub struct Cluster {
    /// Kept while the cluster runs (configs and stores).
    _dir: tempfile::TempDir,
    confs: Vec<PathBuf>,
    pub ports: Vec<u16>,
    nodes: Vec<Option<ConfNats>>,
}

impl Cluster {
    /// Writes the three nodes' configs from deploy/nats (nothing runs yet).
    pub fn configure() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let deploy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/nats");
        std::fs::copy(deploy.join("auth.conf"), dir.path().join("auth.conf")).unwrap();
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut confs = Vec::new();
        for i in 0..3 {
            let mut text =
                std::fs::read_to_string(deploy.join(format!("nats-{}.conf", i + 1))).unwrap();
            let store = dir.path().join(format!("store-{}", i + 1));
            for (from, to) in [
                (
                    "listen: 0.0.0.0:4222".to_string(),
                    format!("listen: 127.0.0.1:{}", ports[i]),
                ),
                (
                    "http: 0.0.0.0:8222".into(),
                    "# (no monitoring port in the test)".into(),
                ),
                (
                    "store_dir: /data".into(),
                    format!("store_dir: {:?}", store.display().to_string()),
                ),
                (
                    "listen: 0.0.0.0:6222".into(),
                    format!("listen: 127.0.0.1:{}", routes[i]),
                ),
            ] {
                assert!(
                    text.contains(&from),
                    "deploy/nats/nats-{}.conf has `{from}`",
                    i + 1
                );
                text = text.replace(&from, &to);
            }
            for (j, r) in routes.iter().enumerate() {
                let from = format!("nats-route://nats-{}:6222", j + 1);
                assert!(text.contains(&from), "a route to nats-{}", j + 1);
                text = text.replace(&from, &format!("nats-route://127.0.0.1:{r}"));
            }
            let conf = dir.path().join(format!("nats-{}.conf", i + 1));
            std::fs::write(&conf, text).unwrap();
            confs.push(conf);
        }
        Cluster {
            _dir: dir,
            confs,
            ports,
            nodes: vec![None, None, None],
        }
    }

    /// Starts node `i` (0-based) and waits until it accepts connections.
    pub async fn start(&mut self, i: usize) {
        self.nodes[i] = Some(nats_with_conf(&self.confs[i], self.ports[i], &passwords()).await);
    }

    /// SIGKILLs node `i`.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i] = None;
    }

    /// The URLs of all three nodes, as a role's `nats.url` lists them.
    pub fn url(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A CLI config file naming the three nodes, as NATS user `user`.
    pub fn write_cli_config(&self, user: &str) -> PathBuf {
        let path = self._dir.path().join(format!("cli-{user}.toml"));
        std::fs::write(&path, role_nats(&self.url(), user)).unwrap();
        path
    }

    /// Waits (at most `within`) until every stream, as node `via` sees it, has a leader and
    /// all its replicas current: the cluster healed from a node's restart.
    pub async fn healed(&self, via: usize, within: Duration) -> bool {
        use futures::StreamExt;
        let js = async_nats::jetstream::new(self.admin(via).await);
        let until = tokio::time::Instant::now() + within;
        loop {
            let mut whole = true;
            let mut names = js.stream_names();
            while let Some(name) = names.next().await {
                let Ok(name) = name else {
                    whole = false;
                    break;
                };
                let info = match js.get_stream(&name).await {
                    Ok(mut s) => s.info().await.map(|i| i.cluster.clone()).ok(),
                    Err(_) => None,
                };
                whole &= info.flatten().is_some_and(|c| {
                    c.leader.is_some() && c.replicas.iter().all(|p| p.current && !p.offline)
                });
            }
            if whole {
                return true;
            }
            if tokio::time::Instant::now() > until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// An admin client of node `i` only.
    pub async fn admin(&self, i: usize) -> async_nats::Client {
        async_nats::ConnectOptions::with_user_and_password("admin".into(), "admin-pw-1234".into())
            .connect(format!("nats://127.0.0.1:{}", self.ports[i]))
            .await
            .unwrap()
    }
}

/// The replicas of stream `name`, as node `i` reports them.
async fn replicas_of(c: &Cluster, i: usize, name: &str) -> usize {
    let js = async_nats::jetstream::new(c.admin(i).await);
    let mut s = js.get_stream(name).await.unwrap();
    s.info().await.unwrap().config.num_replicas
}

fn ingress_worker() -> Roles {
    Roles {
        worker: true,
        ..Roles::INGRESS
    }
}

#[tokio::test]
async fn roles_wait_for_a_forming_cluster_and_streams_follow_the_replicas() {
    let mut c = Cluster::configure();
    // One node of three: no JetStream leader can be elected yet.
    c.start(0).await;
    let url = c.url();
    let extra = role_nats(&url, "admin") + "replicas = 1\n";
    let starting =
        tokio::spawn(async move { Gateway::start_url(&url, &extra, ingress_worker()).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !starting.is_finished(),
        "the gateway waits for JetStream instead of exiting"
    );
    c.start(1).await;
    c.start(2).await;
    let gw = tokio::time::timeout(Duration::from_secs(90), starting)
        .await
        .expect("the gateway starts once the cluster has a leader")
        .unwrap();
    let r = gw
        .post("/v1/chat/completions", chat("mock/echo", "first"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(replicas_of(&c, 1, "SY_JOBS").await, 1, "as configured");
    gw.stop().await;
    // Started again without `replicas`: a cluster is detected, and the streams and buckets
    // made with one copy are brought to three.
    let gw = Gateway::start_url(&c.url(), &role_nats(&c.url(), "admin"), ingress_worker()).await;
    for s in [
        "SY_JOBS",
        "SY_RESULTS",
        "SY_EVENTS",
        "KV_sy_keys",
        "KV_sy_batches",
        "OBJ_sy_files",
    ] {
        assert_eq!(replicas_of(&c, 2, s).await, 3, "{s}");
    }
    // While the streams copy themselves to the new replicas the gateway may refuse with a
    // clear 503 for a moment (never anything else).
    let mut last = String::new();
    for _ in 0..60 {
        let r = gw
            .post("/v1/chat/completions", chat("mock/echo", "second"))
            .await;
        let status = r.status().as_u16();
        last = r.text().await.unwrap();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{last}");
        assert!(last.contains("service_unavailable"), "{last}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(last.contains("choices"), "{last}");
    // doctor sees three replicas with a leader each; with a node down, the replicas on it.
    let cfg = c.write_cli_config("admin");
    let doctor = move || {
        let out = std::process::Command::new(bin())
            .args(["doctor", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = tokio::task::spawn_blocking(doctor.clone()).await.unwrap();
    assert!(
        out.contains("ok    topology: 16 streams and buckets, each with 3 replica(s) and a leader"),
        "{out}"
    );
    c.kill(0);
    let mut out = String::new();
    for _ in 0..40 {
        out = tokio::task::spawn_blocking(doctor.clone()).await.unwrap();
        if out.contains("replicas behind or offline on nats-1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        out.contains("replicas behind or offline on nats-1"),
        "{out}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_result_reaches_only_the_ingress_that_waits_for_it() {
    let nats = Nats::start().await;
    let ingress = Roles::INGRESS;
    let a = Gateway::start_roles(&nats, "[server]\nnode = \"ingress-a\"\n", ingress).await;
    let b = Gateway::start_roles(&nats, "[server]\nnode = \"ingress-b\"\n", ingress).await;
    let w = Gateway::start_roles(&nats, "", Roles::WORKER).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut to_a = client.subscribe("sy.results.ingress-a.*").await.unwrap();
    let mut to_b = client.subscribe("sy.results.ingress-b.*").await.unwrap();
    let mut stored = client.subscribe("sy.results.*").await.unwrap();
    client.flush().await.unwrap();
    let mut sent = Vec::new();
    for i in 0..5 {
        let r = a
            .post(
                "/v1/chat/completions",
                chat("mock/echo", &format!("to a {i}")),
            )
            .await;
        assert_eq!(r.status(), 200);
        sent.push(job_id(&r));
    }
    // A queued job: nobody waits, its result is only stored.
    let q = a.post("/v1/jobs", chat("mock/echo", "queued")).await;
    let queued = job_id(&q);
    wait_job(&a, &queued, Duration::from_secs(10)).await;
    use futures::StreamExt;
    let mut got_a = Vec::new();
    while got_a.len() < sent.len() {
        let m = tokio::time::timeout(Duration::from_secs(5), to_a.next())
            .await
            .expect("ingress-a's results")
            .unwrap();
        got_a.push(m.subject.as_str().rsplit('.').next().unwrap().to_string());
    }
    assert_eq!(got_a, sent, "ingress-a received each of its results");
    let mut got_stored = std::collections::HashSet::new();
    while got_stored.len() < sent.len() + 1 {
        let m = tokio::time::timeout(Duration::from_secs(5), stored.next())
            .await
            .expect("stored results")
            .unwrap();
        got_stored.insert(m.subject.as_str().rsplit('.').next().unwrap().to_string());
    }
    assert!(got_stored.contains(&queued) && sent.iter().all(|j| got_stored.contains(j)));
    let stray = tokio::time::timeout(Duration::from_millis(500), to_b.next()).await;
    assert!(
        stray.is_err(),
        "ingress-b received a result it did not wait for"
    );
    let more_a = tokio::time::timeout(Duration::from_millis(300), to_a.next()).await;
    assert!(
        more_a.is_err(),
        "the queued job's result went to no ingress"
    );
    for g in [a, b, w] {
        g.stop().await;
    }
}
