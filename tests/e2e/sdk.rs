//! The official OpenAI Python SDK works unmodified against the gateway.

use crate::harness::*;
use crate::upstream::{gemini, AnthropicUpstream, Upstream};
use std::process::Command;

/// Runs `tests/sdk/<script>` with the venv's python and `args`; its stdout, after asserting
/// it succeeded.
async fn run_sdk_script(script: &str, args: Vec<String>) -> String {
    let python = venv_bin("python");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(script);
    let out =
        tokio::task::spawn_blocking(move || Command::new(python).arg(script).args(args).output())
            .await
            .unwrap()
            .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "SDK checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn official_openai_python_sdk_works_unmodified() {
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "[models.fast]\ntarget = \"mock/echo\"\n").await;
    let stdout = run_sdk_script("openai_sdk.py", vec![gw.url("/v1")]).await;
    for check in ["chat", "job id header", "stream", "errors", "models"] {
        assert!(stdout.contains(&format!("ok {check}")), "{stdout}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn official_openai_python_sdk_works_with_a_virtual_key() {
    let nats = Nats::start().await;
    let master = crate::auth::MASTER;
    let gw = Gateway::start(
        &nats,
        &format!("[auth]\nmaster_key = \"{master}\"\n[models.fast]\ntarget = \"mock/echo\"\n"),
    )
    .await;
    let (_, key) = crate::auth::create_key(&gw, serde_json::json!({"name": "sdk"})).await;
    let stdout = run_sdk_script("openai_sdk.py", vec![gw.url("/v1"), key]).await;
    for check in ["auth", "chat", "stream", "errors", "models"] {
        assert!(stdout.contains(&format!("ok {check}")), "{stdout}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn official_openai_sdk_files_upload_read_list_and_delete() {
    let nats = Nats::start().await;
    let master = crate::auth::MASTER;
    let gw = Gateway::start(&nats, &format!("[auth]\nmaster_key = \"{master}\"\n")).await;
    let (_, key) = crate::auth::create_key(&gw, serde_json::json!({"name": "files"})).await;
    let (_, other) = crate::auth::create_key(&gw, serde_json::json!({"name": "other"})).await;
    let stdout = run_sdk_script("openai_files.py", vec![gw.url("/v1"), key, other]).await;
    for check in [
        "create",
        "retrieve and list",
        "content",
        "scope",
        "malformed lines",
        "delete",
    ] {
        assert!(stdout.contains(&format!("ok {check}")), "{stdout}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn official_openai_sdk_batches_run_to_completion_and_cancel() {
    let nats = Nats::start().await;
    let master = crate::auth::MASTER;
    let gw = Gateway::start(&nats, &format!("[auth]\nmaster_key = \"{master}\"\n")).await;
    let (_, key) = crate::auth::create_key(&gw, serde_json::json!({"name": "batches"})).await;
    let stdout = run_sdk_script("openai_batches.py", vec![gw.url("/v1"), key]).await;
    for check in ["completed", "output", "list", "cancel", "checks"] {
        assert!(stdout.contains(&format!("ok {check}")), "{stdout}");
    }
    gw.stop().await;
}

/// What used to break silently: `parse()` with a nested pydantic model (a `$ref` schema) and
/// a second tool-calling turn with reasoning on, the SDK's own message object sent back —
/// against Anthropic and Gemini 3 upstreams that check it as their APIs do.
#[tokio::test]
async fn official_openai_sdk_keeps_structured_output_and_signed_tool_turns() {
    let nats = Nats::start().await;
    let oai = Upstream::start().await;
    let claude = AnthropicUpstream::start().await;
    let gem = gemini::start().await;
    let cfg = format!(
        "{}{}{}",
        oai.provider_toml("up"),
        claude.provider_toml("claude"),
        gemini::provider_toml(&gem, "gem")
    );
    let gw = Gateway::start(&nats, &cfg).await;
    let models = [
        "up/gpt-test",
        "claude/claude-test",
        "gem/gemini-3-pro-preview",
    ];
    let mut args = vec![gw.url("/v1")];
    args.extend(models.iter().map(|m| m.to_string()));
    let stdout = run_sdk_script("openai_fidelity.py", args).await;
    for m in models {
        for check in ["parse", "tools"] {
            assert!(stdout.contains(&format!("ok {check} {m}")), "{stdout}");
        }
    }
    let thinking = claude
        .requests()
        .iter()
        .filter(|s| s.json()["thinking"]["type"] == "enabled")
        .count();
    assert!(
        thinking >= 2,
        "reasoning_effort reached Anthropic as thinking"
    );
    gw.stop().await;
}
