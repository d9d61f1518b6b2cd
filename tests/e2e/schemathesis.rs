//! The gateway's own OpenAPI document (`GET /openapi.json`) drives schemathesis against a
//! running gateway (every role, with the auditor): generated valid and malformed requests,
//! unsupported methods, and stateful sequences get no 5xx and no answer whose content type
//! the document does not name (every error is JSON).

use crate::audit::gateway_with_auditor;
use crate::harness::*;
use serde_json::Value;
use std::process::Command;

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_undocumented_content_type() {
    let st = venv_bin("schemathesis");
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_with_auditor(&nats, dir.path(), "").await;
    let doc: Value = gw.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let url = gw.url("/openapi.json");
    let report = dir.path().join("schemathesis.xml");
    let config =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/schemathesis.toml");
    let args = vec![
        "--config-file".to_string(),
        config.display().to_string(),
        "run".to_string(),
        url,
        "--checks".into(),
        "not_a_server_error,content_type_conformance,unsupported_method,allow_header_conformance"
            .into(),
        "--max-examples".into(),
        "25".into(),
        "--seed".into(),
        "20261129".into(),
        "--request-timeout".into(),
        "20".into(),
        // One worker: with several, CPython 3.11 can crash compiling schemathesis's
        // generated code in two threads at once ("AST constructor recursion depth mismatch").
        "--workers".into(),
        "1".into(),
        "--no-color".into(),
        "--report".into(),
        "junit".into(),
        "--report-junit-path".into(),
        report.display().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || Command::new(st).args(args).output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases = summary
        .lines()
        .find(|l| l.contains(" generated, "))
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(cases.contains("passed"), "{summary}");
    crate::harness::report(&format!("schemathesis: {cases}"));
    gw.stop().await;
}
