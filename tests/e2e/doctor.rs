//! `switchyard doctor` on a healthy deployment (every check ok, exit 0) and on a broken one
//! (a stream deleted, a worker whose clock is 5 s off, no auditor, no NATS at all): each
//! problem named with its fix, exit 1.

use crate::harness::*;
use std::time::Duration;
use switchyard::Roles;

pub(crate) fn doctor(cfg: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(bin())
        .args(["doctor", "--config"])
        .arg(cfg)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn cli_config(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let cfg = dir.join("doctor.toml");
    std::fs::write(&cfg, format!("[nats]\nurl = \"{url}\"\n")).unwrap();
    cfg
}

#[tokio::test]
async fn doctor_finds_a_healthy_deployment_healthy() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[auditor]\ndata_dir = {:?}\n",
        dir.path().join("auditor").display().to_string()
    );
    let all = Roles {
        managed_nats: false,
        ..Roles::ALL
    };
    let gw = Gateway::start_roles(&nats, &extra, all).await;
    let cfg = cli_config(dir.path(), &nats.url());
    let (ok, out) = tokio::task::spawn_blocking(move || doctor(&cfg))
        .await
        .unwrap();
    assert!(ok, "{out}");
    for line in [
        "ok    NATS: connected",
        "ok    JetStream: on",
        "ok    topology: 16 streams and buckets, each with 1 replica(s) and a leader",
        "ok    provider mock: a worker answers",
        "ok    nodes: 1 alive (auditor, ingress, worker)",
        "ok    request log: 1 auditor(s) answer",
        "\nhealthy",
    ] {
        assert!(out.contains(line), "`{line}` in:\n{out}");
    }
    assert!(!out.contains("FAIL"), "{out}");
    gw.stop().await;
}

#[tokio::test]
async fn doctor_names_each_problem_of_a_broken_deployment_and_its_fix() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    // An ingress only, a worker whose clock runs 5 s ahead, no auditor.
    let ingress = Roles::INGRESS;
    let gw = Gateway::start_roles(&nats, "", ingress).await;
    let wcfg = dir.path().join("w.toml");
    std::fs::write(
        &wcfg,
        format!(
            "[server]\nnode = \"skewed\"\n[nats]\nurl = \"{}\"\n",
            nats.url()
        ),
    )
    .unwrap();
    let mut worker = std::process::Command::new(bin())
        .args(["worker", "--config"])
        .arg(&wcfg)
        .env("SWITCHYARD_TEST_CLOCK_SKEW_MS", "5000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    workers_up(&nats, 1).await;
    // Its heartbeat is written at start, then every 5 s.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    js.delete_stream("SY_DEAD").await.unwrap();
    let cfg = cli_config(dir.path(), &nats.url());
    let (ok, out) = tokio::task::spawn_blocking(move || doctor(&cfg))
        .await
        .unwrap();
    let _ = worker.kill();
    let _ = worker.wait();
    assert!(!ok, "doctor exits 1 when something must be fixed:\n{out}");
    let off: i64 = out
        .lines()
        .find_map(|l| l.strip_prefix("FAIL  node skewed: its clock is "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the skewed node named in:\n{out}"));
    assert!((4_500..5_500).contains(&off), "{off} ms off");
    for line in [
        "FAIL  stream SY_DEAD: missing",
        "fix: start any role with this config",
        "fix: sync the machine's clock",
        "FAIL  request log: no auditor answers",
        "fix: start `switchyard auditor`",
        "ok    provider mock: a worker answers",
        "3 problem(s) to fix",
    ] {
        assert!(out.contains(line), "`{line}` in:\n{out}");
    }
    gw.stop().await;
    // No NATS at all.
    let cfg = cli_config(dir.path(), &format!("nats://127.0.0.1:{}", free_port()));
    let (ok, out) = tokio::task::spawn_blocking(move || doctor(&cfg))
        .await
        .unwrap();
    assert!(!ok);
    assert!(
        out.contains("FAIL  NATS: cannot connect") && out.contains("fix: check nats.url"),
        "{out}"
    );
}
