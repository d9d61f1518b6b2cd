//! `GET /v1/models`: configured models, and `?refresh=true` asking each provider's workers
//! over NATS for its live list.

use crate::harness::*;
use crate::upstream::Upstream;
use serde_json::Value;

fn ids(v: &Value) -> Vec<(String, String)> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_string(),
                m["owned_by"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn refresh_merges_the_live_models_of_each_provider() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let extra = format!(
        "{}\n[models.fast]\ntarget = \"up/gpt-test\"\n",
        up.provider_toml("up")
    );
    let gw = Gateway::start(&nats, &extra).await;

    let v: Value = gw.get("/v1/models").await.json().await.unwrap();
    let plain = ids(&v);
    assert!(plain.contains(&("fast".into(), "up".into())), "{v}");
    assert!(plain.contains(&("up/gpt-test".into(), "up".into())), "{v}");
    assert!(!plain.iter().any(|(id, _)| id == "up/gpt-live-only"), "{v}");
    assert!(up.requests().is_empty(), "no upstream call without refresh");

    // The worker subscribes right after start: wait until it answers.
    let mut v = Value::Null;
    for _ in 0..50 {
        let resp = gw.get("/v1/models?refresh=true").await;
        assert_eq!(resp.status(), 200);
        v = resp.json().await.unwrap();
        let waiting = v["errors"].as_array().unwrap().iter().any(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("No worker serves"))
        });
        if !waiting {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let live = ids(&v);
    assert!(
        live.contains(&("up/gpt-live-only".into(), "up".into())),
        "{v}"
    );
    assert!(
        live.contains(&("up/text-embedding-test".into(), "up".into())),
        "{v}"
    );
    assert_eq!(
        live.iter().filter(|(id, _)| id == "up/gpt-test").count(),
        1,
        "a configured model listed live is not repeated: {v}"
    );
    let seen = up.requests();
    assert_eq!(seen.len(), 1, "one worker answered");
    assert_eq!(seen[0].path, "/v1/models");
    assert_eq!(
        seen[0].headers.get("authorization").unwrap(),
        format!("Bearer {}", crate::upstream::openai::KEY).as_str()
    );
    // The built-in mock lists what it serves: no error blames it.
    let errors = v["errors"].as_array().unwrap();
    assert!(!errors.iter().any(|e| e["provider"] == "mock"), "{v}");
    assert!(
        live.contains(&("mock/echo".into(), "mock".into())),
        "the mock's live list: {v}"
    );
    assert!(!errors.iter().any(|e| e["provider"] == "up"), "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn refresh_without_workers_names_the_provider() {
    let nats = Nats::start().await;
    let up = Upstream::start().await;
    let gw = Gateway::start_roles(&nats, &up.provider_toml("up"), switchyard::Roles::INGRESS).await;
    let resp = gw.get("/v1/models?refresh=true").await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert!(
        ids(&v).contains(&("up/gpt-test".into(), "up".into())),
        "{v}"
    );
    let errors = v["errors"].as_array().unwrap();
    let e = errors
        .iter()
        .find(|e| e["provider"] == "up")
        .expect("up error");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("No worker serves provider `up`"),
        "{v}"
    );
    assert!(up.requests().is_empty());
    gw.stop().await;
}
