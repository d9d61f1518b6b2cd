//! The dashboard in a real browser (headless Chromium driven by Playwright): log in, see a
//! request appear live, filter and search, its waterfall, replay it on another model, the
//! other pages, bulk replay, CSRF, and a virtual key's narrower view. Screenshots go to
//! `target/ui-screenshots/`.

use crate::auth::{create_key, send, MASTER};
use crate::harness::*;
use std::process::Command;

/// The Chromium the tests drive: `SWITCHYARD_CHROMIUM`, else Debian's.
fn chromium() -> String {
    std::env::var("SWITCHYARD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

#[tokio::test]
async fn the_dashboard_in_a_browser() {
    let nats = Nats::start().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[auth]\nmaster_key = \"{MASTER}\"\n[models.fast]\ntarget = \"mock/echo\"\n[auditor]\ndata_dir = \"{}\"\n",
        dir.path().display()
    );
    let gw = Gateway::start_roles(&nats, &extra, crate::audit::ALL_WITH_AUDITOR).await;
    let (_, vkey) = create_key(&gw, serde_json::json!({"name": "browser-app"})).await;
    let vword = format!("own{}", uuid::Uuid::now_v7().simple());
    let r = send(
        &gw,
        reqwest::Method::POST,
        "/v1/chat/completions",
        Some(&vkey),
        Some(chat("mock/echo", &vword)),
    )
    .await;
    assert_eq!(r.status(), 200);
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/dashboard.py");
    let args = vec![
        gw.url(""),
        MASTER.to_string(),
        vkey,
        vword,
        shots.display().to_string(),
        chromium(),
    ];
    let python = venv_bin("python");
    let out =
        tokio::task::spawn_blocking(move || Command::new(python).arg(script).args(args).output())
            .await
            .unwrap()
            .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "browser checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for check in [
        "login",
        "live",
        "filter and search",
        "waterfall",
        "replay",
        "overview",
        "providers",
        "keys",
        "cache",
        "bulk replay",
        "csrf",
        "scopes",
        "no script errors",
    ] {
        assert!(stdout.contains(&format!("ok {check}")), "{stdout}");
    }
    for page in [
        "requests",
        "request",
        "replay",
        "overview",
        "providers",
        "keys",
        "cache",
        "virtual-key",
    ] {
        assert!(
            shots.join(format!("{page}.png")).is_file(),
            "no screenshot of {page}"
        );
    }
    gw.stop().await;
}
