//! The official OpenAI Python SDK works unmodified against the gateway.

use crate::harness::*;
use std::process::Command;

#[tokio::test]
async fn official_openai_python_sdk_works_unmodified() {
    let python = venv_bin("python");
    let nats = Nats::start().await;
    let gw = Gateway::start(&nats, "[models.fast]\ntarget = \"mock/echo\"\n").await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/openai_sdk.py");
    let base = gw.url("/v1");
    let out =
        tokio::task::spawn_blocking(move || Command::new(python).arg(script).arg(base).output())
            .await
            .unwrap()
            .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SDK checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for check in ["chat", "job id header", "stream", "errors", "models"] {
        assert!(stdout.contains(&format!("ok {check}")), "{stdout}");
    }
    gw.stop().await;
}
