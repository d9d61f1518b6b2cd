//! The deploy files' NATS users, one per role (deploy/nats/auth.conf, included as it ships):
//! an ingress, a worker and an auditor each connect as their own user and the gateway does
//! its whole job (sync, stream, queued, cancel, models, the request log, keys); a client
//! without a password, or a role reaching past its subjects, is refused.

use crate::harness::{chat, free_port, nats_with_conf, ConfNats, Gateway};
use serde_json::Value;
use std::time::Duration;
use switchyard::Roles;

const MASTER: &str = "sy-master-test-key-0123456789";

/// nats-server with JetStream and deploy/nats/auth.conf; the role passwords are `<role>-pw-1234`.
async fn server(dir: &std::path::Path, port: u16) -> ConfNats {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nats/auth.conf");
    std::fs::copy(shipped, dir.join("auth.conf")).unwrap();
    let conf = dir.join("node.conf");
    std::fs::write(
        &conf,
        format!(
            "listen: 127.0.0.1:{port}\nmax_payload: 8MB\njetstream {{\n  store_dir: {:?}\n}}\ninclude ./auth.conf\n",
            dir.join("js").display().to_string()
        ),
    )
    .unwrap();
    let env: Vec<(String, String)> = ["INGRESS", "WORKER", "AUDITOR", "ADMIN"]
        .iter()
        .map(|role| {
            (
                format!("SWITCHYARD_NATS_{role}_PASSWORD"),
                format!("{}-pw-1234", role.to_lowercase()),
            )
        })
        .collect();
    nats_with_conf(&conf, port, &env).await
}

fn role_toml(role: &str, dir: &std::path::Path) -> String {
    format!(
        "[nats]\nuser = \"{role}\"\npassword = \"{role}-pw-1234\"\n[auth]\nmaster_key = \"{MASTER}\"\n[auditor]\ndata_dir = \"{}\"\n",
        dir.join("auditor").display()
    )
}

fn only(ingress: bool, worker: bool, auditor: bool) -> Roles {
    Roles {
        ingress,
        worker,
        auditor,
        managed_nats: false,
    }
}

#[tokio::test]
async fn each_role_runs_as_its_own_nats_user_and_no_further() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = server(dir.path(), port).await;
    let url = format!("nats://127.0.0.1:{port}");
    let nats = crate::harness::Nats {
        child: None,
        port,
        dir: tempfile::tempdir().unwrap(),
    };

    let auditor = Gateway::start_roles(
        &nats,
        &role_toml("auditor", dir.path()),
        only(false, false, true),
    )
    .await;
    let worker = Gateway::start_roles(
        &nats,
        &role_toml("worker", dir.path()),
        only(false, true, false),
    )
    .await;
    let gw = Gateway::start_roles(
        &nats,
        &role_toml("ingress", dir.path()),
        only(true, false, false),
    )
    .await;
    let http = &gw.http;

    // Sync, streaming, queued, models, cancel.
    let r = http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER)
        .json(&chat("mock/echo", "as roles"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let mut body = chat("mock/echo", "streamed");
    body["stream"] = true.into();
    let text = http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER)
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("[DONE]"), "{text}");
    let r = http
        .post(gw.url("/v1/jobs"))
        .bearer_auth(MASTER)
        .json(&chat("mock/echo", "queued"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let job = crate::harness::job_id(&r);
    let models: Value = http
        .get(gw.url("/v1/models"))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        models["data"].as_array().is_some_and(|d| !d.is_empty()),
        "{models}"
    );
    let r = http
        .post(gw.url("/v1/jobs"))
        .bearer_auth(MASTER)
        .json(&chat("mock/slow-5000ms", "cancel me"))
        .send()
        .await
        .unwrap();
    let slow = crate::harness::job_id(&r);
    let r = http
        .post(gw.url(&format!("/v1/jobs/{slow}/cancel")))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    // Keys and their limits, the request log through the auditor.
    let r = http
        .post(gw.url("/admin/keys"))
        .bearer_auth(MASTER)
        .json(&serde_json::json!({"name": "k", "rpm": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let key = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&chat("mock/echo", "keyed"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut found = false;
    for _ in 0..100 {
        let r = http
            .get(gw.url(&format!("/v1/requests/{job}")))
            .bearer_auth(MASTER)
            .send()
            .await
            .unwrap();
        if r.status() == 200 && r.text().await.unwrap().contains("\"completed\"") {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found, "the auditor stored the queued job's record");

    // No password, no entry; a role past its subjects is refused.
    let anon = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(&url)
        .await;
    assert!(anon.is_err(), "a client without credentials got in");
    let as_auditor = async_nats::ConnectOptions::with_user_and_password(
        "auditor".into(),
        "auditor-pw-1234".into(),
    )
    .connect(&url)
    .await
    .unwrap();
    let js = async_nats::jetstream::new(as_auditor);
    let injected = async {
        js.publish("sy.jobs.mock", "{}".into()).await?.await?;
        Ok::<_, async_nats::Error>(())
    };
    let injected = tokio::time::timeout(Duration::from_secs(3), injected).await;
    assert!(
        !matches!(injected, Ok(Ok(()))),
        "the auditor's user injected a job"
    );
    let as_worker = async_nats::ConnectOptions::with_user_and_password(
        "worker".into(),
        "worker-pw-1234".into(),
    )
    .connect(&url)
    .await
    .unwrap();
    let kv = async_nats::jetstream::new(as_worker)
        .get_key_value("sy_keys")
        .await
        .unwrap();
    let forged = tokio::time::timeout(
        Duration::from_secs(3),
        kv.put("k.000000000000", "{}".into()),
    )
    .await;
    assert!(
        !matches!(forged, Ok(Ok(_))),
        "the worker's user wrote a key record"
    );

    gw.stop().await;
    worker.stop().await;
    auditor.stop().await;
}

/// The deploy files open a listener beyond loopback only with a master key from a secret,
/// and give every Switchyard process a NATS user.
#[test]
fn deploy_files_pair_every_open_listener_with_a_master_key_from_a_secret() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |p: &str| std::fs::read_to_string(format!("{root}/deploy/{p}")).unwrap();
    let compose = read("compose.yaml");
    // Each service block: a listener on 0.0.0.0 comes with the master key from deploy/.env.
    let mut blocks: Vec<String> = Vec::new();
    for line in compose.lines() {
        let service =
            line.starts_with("  ") && line.as_bytes().get(2).is_some_and(u8::is_ascii_alphabetic);
        if service || blocks.is_empty() {
            blocks.push(String::new());
        }
        if let Some(b) = blocks.last_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    let open: Vec<&String> = blocks
        .iter()
        .filter(|b| b.contains("SWITCHYARD_SERVER_LISTEN: 0.0.0.0"))
        .collect();
    assert_eq!(open.len(), 2, "two ingresses listen on 0.0.0.0");
    for block in open {
        assert!(
            block.contains("SWITCHYARD_MASTER_KEY: ${SWITCHYARD_MASTER_KEY:?"),
            "{block}"
        );
        assert!(block.contains("SWITCHYARD_NATS_USER: ingress"), "{block}");
    }
    assert_eq!(compose.matches("SWITCHYARD_NATS_USER: worker").count(), 3);
    assert_eq!(
        compose
            .matches("./nats/auth.conf:/etc/nats/auth.conf")
            .count(),
        3
    );
    for n in 1..=3 {
        assert!(read(&format!("nats/nats-{n}.conf")).contains("include ./auth.conf"));
    }
    let ingress = read("k8s/ingress.yaml");
    let cm = read("k8s/configmap.yaml");
    assert!(cm.contains("0.0.0.0:8080"));
    assert!(
        ingress.contains(
            "name: SWITCHYARD_MASTER_KEY\n              valueFrom:\n                secretKeyRef:"
        ),
        "{ingress}"
    );
    let key_block = ingress.split("name: SWITCHYARD_MASTER_KEY").nth(1).unwrap();
    let key_block = &key_block[..key_block.find("- name:").unwrap_or(key_block.len())];
    assert!(
        !key_block.contains("optional: true"),
        "the master key may not be optional"
    );
    let env = read("systemd/switchyard.env.example");
    assert!(env.contains("SWITCHYARD_MASTER_KEY"));
}
